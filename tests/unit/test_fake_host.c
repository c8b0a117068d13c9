/*
 * The fake host the codec tests play (<rpcload/fake_host.h>, kit/fake_host.c), against a tiny
 * codec written here: what it records, and that each rule it checks
 * reports a plugin that breaks it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rpcload/fake_host.h>
#include <rpcload/plugin.h>

static rl_fake_host fh;

/* ---- A tiny codec: each request writes its step's text; a read of "d"
 * ends the oldest request, "r" hands its response over first. How it
 * misbehaves is up to the test. ---- */

static struct {
  int done_in_submit; /* request_done from inside session_submit */
  int done_twice;     /* request_done twice for one request */
  int respond_always; /* request_response without asking */
} bad;

struct session {
  const rl_host *host;
  rl_conn *conn;
  rl_request *q[8];
  int n;
};

static const char *step_text(const struct session *s, rl_request *req) {
  return s->host->request_step(req);
}

static int codec_submit(void *session, rl_request *req) {
  struct session *s = session;
  const char *text = step_text(s, req);
  int rc = s->host->conn_write(s->conn, text, strlen(text));
  if (rc != 0)
    return rc;
  if (bad.done_in_submit) {
    rl_result r = {"T", "N", 0, NULL};
    s->host->request_done(req, &r);
    return 0;
  }
  s->q[s->n++] = req;
  return 0;
}

/* The oldest request, out of the queue. */
static rl_request *pop(struct session *s) {
  rl_request *req = s->q[0];
  s->n--;
  for (int i = 0; i < s->n; i++)
    s->q[i] = s->q[i + 1];
  return req;
}

static void end_first(struct session *s, int respond) {
  rl_request *req = pop(s);
  if (respond && (bad.respond_always || s->host->request_wants_response(req))) {
    rl_kv h[] = {{"x-a", "1"}};
    rl_response resp = {.struct_size = sizeof resp,
                        .status = 200,
                        .headers = h,
                        .n_headers = 1,
                        .body = (const uint8_t *)"ok",
                        .body_len = 2};
    s->host->request_response(req, &resp);
  }
  rl_result r = {"T", step_text(s, req), 2, NULL};
  s->host->request_done(req, &r);
  if (bad.done_twice)
    s->host->request_done(req, &r);
}

static int codec_on_read(void *session, const uint8_t *data, size_t len) {
  struct session *s = session;
  for (size_t i = 0; i < len && s->n > 0; i++)
    end_first(s, data[i] == 'r');
  return 0;
}

static int codec_new(const rl_host *host, rl_conn *conn,
                     const rl_conn_info *info, void **session) {
  (void)info;
  struct session *s = calloc(1, sizeof *s);
  assert_non_null(s);
  s->host = host;
  s->conn = conn;
  *session = s;
  return 0;
}

static void codec_del(void *session, int err, const char *reason) {
  struct session *s = session;
  (void)err;
  while (s->n > 0) {
    rl_request *req = pop(s);
    rl_result r = {"T", step_text(s, req), 0, reason};
    s->host->request_done(req, &r);
  }
  free(s);
}

static const rl_plugin codec = {.session_submit = codec_submit};

/* ---- The fixture: a session, and violations caught ---- */

static char caught[512];
static jmp_buf back;

/* Jumps back to the test, out of the plugin's call. */
static void catch_violation(const char *what) {
  snprintf(caught, sizeof caught, "%s", what);
  longjmp(back, 1);
}

static rl_conn conn;
static void *session;

static int setup(void **state) {
  (void)state;
  memset(&bad, 0, sizeof bad);
  caught[0] = '\0';
  rl_fake_host_init(&fh);
  fh.on_violation = catch_violation;
  memset(&conn, 0, sizeof conn);
  rl_conn_info info = {sizeof info, NULL, "h", 1, 0};
  assert_int_equal(codec_new(&fh.host, &conn, &info, &session), 0);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  if (session != NULL)
    codec_del(session, RL_ERR_CANCELLED, "over");
  session = NULL;
  rl_fake_conn_free(&conn);
  rl_fake_host_free(&fh);
  return 0;
}

/* Runs `call` expecting the fake host to catch a broken rule whose text
 * contains `want`. */
#define EXPECT_VIOLATION(call, want)                                           \
  do {                                                                         \
    if (setjmp(back) == 0) {                                                   \
      call;                                                                    \
      fail_msg("no violation caught");                                         \
    }                                                                          \
    if (strstr(caught, (want)) == NULL)                                        \
      fail_msg("caught '%s', wanted '%s'", caught, (want));                    \
  } while (0)

/* ---- What it records ---- */

static void test_records(void **state) {
  (void)state;
  fh.wants_response = 1;
  assert_int_equal(rl_fake_submit(&fh, &codec, session, "one"), 0);
  assert_int_equal(rl_fake_submit(&fh, &codec, session, "two"), 0);
  assert_string_equal(conn.out, "onetwo");
  assert_int_equal(conn.written, 6);
  assert_non_null(rl_fake_live(&fh, 2));
  assert_int_equal(rl_fake_request_id(rl_fake_live(&fh, 2)), 2);
  assert_int_equal(codec_on_read(session, (const uint8_t *)"dr", 2), 0);
  assert_int_equal(fh.n_events, 2);
  assert_string_equal(fh.events[0].name, "one");
  assert_int_equal(fh.events[1].req_id, 2);
  assert_int_equal(fh.events[1].bytes, 2);
  assert_ptr_equal(rl_fake_event_of(&fh, 2), &fh.events[1]);
  assert_null(rl_fake_event_of(&fh, 3));
  assert_int_equal(fh.asked, 1);
  assert_int_equal(fh.n_responses, 1);
  const rl_fake_response *r = rl_fake_last_response(&fh);
  assert_ptr_equal(r, rl_fake_response_of(&fh, 2));
  assert_true(r->got);
  assert_false(rl_fake_response_of(&fh, 1)->got);
  assert_string_equal(r->headers, "x-a: 1\n");
  assert_string_equal(r->body, "ok");
  assert_true(r->json_null);
  rl_fake_host_check_idle(&fh);

  size_t len = 0;
  char *out = rl_fake_conn_take(&conn, &len);
  assert_int_equal(len, 6);
  free(out);
  assert_null(conn.out);
  conn.fail_writes = 1;
  assert_int_equal(rl_fake_submit(&fh, &codec, session, "x"), RL_ERR_CLOSED);
  assert_int_equal(fh.n_accepted, 2); /* refused: not live */
  rl_fake_host_forget_events(&fh);
  assert_int_equal(fh.n_events, 0);
  assert_int_equal(fh.next_id, 3); /* ids go on */
}

/* Expansions draw on the request's user and seq; the previous one is
 * spoiled by the next. */
static void test_templates(void **state) {
  (void)state;
  rl_template *t = NULL;
  char err[128];
  const char *text = "u{{user_id}}s{{seq}}";
  assert_int_equal(
      fh.host.template_new(text, strlen(text), &t, err, sizeof err), 0);
  assert_int_equal(rl_fake_submit(&fh, &codec, session, "a"), 0);
  fh.user_id = 7;
  fh.user_seq = 41;
  assert_int_equal(rl_fake_submit(&fh, &codec, session, "b"), 0);
  size_t len = 0;
  const char *x = fh.host.template_expand(t, rl_fake_live(&fh, 1), &len);
  assert_int_equal(len, 4);
  assert_memory_equal(x, "u1s1", 4);
  const char *y = fh.host.template_expand(t, rl_fake_live(&fh, 2), &len);
  assert_memory_equal(y, "u7s41", 5);
  fh.expand_override = "over";
  y = fh.host.template_expand(t, rl_fake_live(&fh, 2), &len);
  assert_memory_equal(y, "over", 4);
  fh.fail_expand = 1;
  assert_null(fh.host.template_expand(t, rl_fake_live(&fh, 2), &len));
  fh.host.template_del(t);
  fh.host.log(RL_LOG_INFO, "a log line %d", 1);
  assert_int_equal(fh.n_logs, 1);
}

/* ---- The rules ---- */

static void test_done_in_submit(void **state) {
  (void)state;
  bad.done_in_submit = 1;
  EXPECT_VIOLATION(rl_fake_submit(&fh, &codec, session, "a"),
                   "request_done from inside session_submit");
  fh.in_submit = 0; /* (the jump left it set) */
}

static void test_done_twice(void **state) {
  (void)state;
  bad.done_twice = 1;
  assert_int_equal(rl_fake_submit(&fh, &codec, session, "a"), 0);
  /* The second request_done names a request already freed: caught as
   * not live, never read. */
  EXPECT_VIOLATION(codec_on_read(session, (const uint8_t *)"d", 1),
                   "request_done for a request that is not live");
  assert_int_equal(fh.n_events, 1);
}

static void test_response_not_asked(void **state) {
  (void)state;
  bad.respond_always = 1;
  assert_int_equal(rl_fake_submit(&fh, &codec, session, "a"), 0);
  EXPECT_VIOLATION(codec_on_read(session, (const uint8_t *)"r", 1),
                   "did not ask for");
  /* The host never said yes: the plugin must not hand it over. */
  assert_int_equal(fh.asked, 0);
}

static void test_not_idle(void **state) {
  (void)state;
  assert_int_equal(rl_fake_submit(&fh, &codec, session, "a"), 0);
  EXPECT_VIOLATION(rl_fake_host_check_idle(&fh), "1 requests accepted, 0");
}

/* ---- ABI 1.5: user state and moved requests ---- */

static int states_freed;
static void free_state(void *p) {
  states_freed++;
  free(p);
}

static void test_user_slots_and_moves(void **state) {
  (void)state;
  states_freed = 0;
  fh.user_id = 5;
  assert_int_equal(rl_fake_submit(&fh, &codec, session, "a"), 0);
  rl_request *req = rl_fake_live(&fh, 1);
  rl_user_slot *s = fh.host.request_user_slot(req, "k");
  assert_non_null(s);
  assert_null(s->state);
  s->state = malloc(4);
  s->del = free_state;
  assert_ptr_equal(fh.host.request_user_slot(req, "k"), s);
  assert_ptr_not_equal(fh.host.request_user_slot(req, "other"), s);
  /* Moved: the session is done with it; the host holds it until a new
   * session takes it. */
  pop(session);
  fh.host.request_move(req, "a redirect");
  assert_int_equal(fh.n_moves, 1);
  assert_string_equal(fh.move_reason, "a redirect");
  assert_null(rl_fake_live(&fh, 1));
  EXPECT_VIOLATION(rl_fake_host_check_idle(&fh),
                   "1 moved requests never resubmitted");
  assert_int_equal(rl_fake_resubmit(&fh, &codec, session), 0);
  assert_int_equal(rl_fake_resubmit(&fh, &codec, session), RL_ERR_NOTFOUND);
  assert_non_null(rl_fake_live(&fh, 1));
  assert_string_equal(conn.out, "aa");
  assert_int_equal(codec_on_read(session, (const uint8_t *)"d", 1), 0);
  rl_fake_host_check_idle(&fh);
  /* The user stops: its states go; one stored later goes at the end. */
  rl_fake_user_stop(&fh, 4);
  assert_int_equal(states_freed, 0);
  rl_fake_user_stop(&fh, 5);
  assert_int_equal(states_freed, 1);
  assert_null(s->state);
  s->state = malloc(4);
  s->del = free_state;
  rl_fake_host_free(&fh);
  assert_int_equal(states_freed, 2);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_records),
      T(test_templates),
      T(test_done_in_submit),
      T(test_done_twice),
      T(test_not_idle),
      T(test_response_not_asked),
      T(test_user_slots_and_moves),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

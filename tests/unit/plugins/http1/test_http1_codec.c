/*
 * Unit test of the http1 codec plugin, through the plugin ABI only, with no
 * sockets: the test loads http1.so with rpcload's loader, plays the host
 * with tests/unit/fake_host (conn_write appends to a buffer; each request
 * is reported exactly once, never from inside session_submit, and freed
 * there; ABI 1.2's response hand-over is checked and kept), and feeds
 * response bytes by hand.
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

#include "engine/plugin_loader.h"
#include "unit/codec_test.h"

/* The host, and the response it was handed last. */
static rl_fake_host fh;

static const rl_fake_response *last(void) {
  const rl_fake_response *r = rl_fake_last_response(&fh);
  assert_non_null(r);
  return r;
}

/* A contract the plugin broke fails the test at once. */
static void violation(const char *what) { fail_msg("fake host: %s", what); }

/* The same services from a host of ABI 1.1: its table ends before the
 * response members, so the plugin must not look for them. */
static rl_host old_host;

/* ---- Loading the plugin -------------------------------------------------- */

static rl__plugin_set plugins;
static const rl_plugin *P;

/* Loaded through rpcload's own loader, so the plugin under test also
 * passes its checks (entry symbol, ABI, size, required members). */
static int group_setup(void **state) {
  (void)state;
  if (rl_codec_test_load(&fh, &plugins, RL_TEST_PLUGIN_DIR "/http1.so",
                         violation, &P) != 0)
    return -1;
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  rl_codec_test_unload(&fh, &plugins);
  return 0;
}

/* ---- Per-test fixture ------------------------------------------------------ */

#define MAX_STEPS 8

struct fx {
  rl_conn conn;
  void *session; /* NULL once deleted */
  void *steps[MAX_STEPS];
  int n_steps;
};

static int fx_setup(void **state) {
  rl_fake_host_init(&fh);
  fh.on_violation = violation;
  struct fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  rl_conn_info info = {sizeof info, NULL, "example.com", 80, 0};
  assert_int_equal(P->session_new(&fh.host, &f->conn, &info, &f->session), 0);
  assert_non_null(f->session);
  *state = f;
  return 0;
}

/* Deletes the session (if the test did not), then checks the invariant of
 * every case: each accepted request was reported exactly once. */
static int fx_teardown(void **state) {
  struct fx *f = *state;
  if (f->session != NULL)
    P->session_del(f->session, RL_ERR_CANCELLED, "test over");
  /* Each accepted request reported once; every response followed by its
   * done. */
  rl_fake_host_check_idle(&fh);
  if (!fh.wants_response)
    assert_int_equal(fh.n_responses, 0);
  for (int i = 0; i < f->n_steps; i++)
    P->step_del(f->steps[i]);
  rl_fake_conn_free(&f->conn);
  free(f);
  return 0;
}

static rl_step_spec base_spec(void) {
  rl_step_spec s;
  memset(&s, 0, sizeof s);
  s.struct_size = sizeof s;
  s.url = "http://example.com/";
  s.scheme = "http";
  s.host = "example.com";
  s.port = 80;
  s.path = "/";
  return s;
}

/* Compiles spec; the fixture owns the step. */
static void *add_step(struct fx *f, const rl_step_spec *spec) {
  char err[256] = "";
  void *st = NULL;
  int rc = P->step_new(&fh.host, spec, &st, err, sizeof err);
  if (rc != 0)
    fail_msg("step_new failed: %d %s", rc, err);
  assert_non_null(st);
  assert_true(f->n_steps < MAX_STEPS);
  f->steps[f->n_steps++] = st;
  return st;
}

static void *add_get_step(struct fx *f) {
  rl_step_spec spec = base_spec();
  return add_step(f, &spec);
}

/* Submits a new request for step; returns the plugin's code. */
static int submit(struct fx *f, void *step) {
  return rl_fake_submit(&fh, P, f->session, step);
}

static int feed_n(struct fx *f, const char *data, size_t len) {
  return P->session_on_read(f->session, (const uint8_t *)data, len);
}

static int feed(struct fx *f, const char *data) {
  return feed_n(f, data, strlen(data));
}

/* Feeds data one byte per read; returns the first non-zero code. */
static int feed_bytewise(struct fx *f, const char *data) {
  size_t n = strlen(data);
  for (size_t i = 0; i < n; i++) {
    int rc = feed_n(f, data + i, 1);
    if (rc != 0)
      return rc;
  }
  return 0;
}

static void del(struct fx *f, int err, const char *reason) {
  P->session_del(f->session, err, reason);
  f->session = NULL;
}

static void assert_success(int i, const char *type, const char *name,
                           uint64_t bytes) {
  assert_true(i < fh.n_events);
  const rl_fake_event *e = &fh.events[i];
  if (e->failed)
    fail_msg("event %d failed: %s", i, e->error);
  assert_string_equal(e->type, type);
  assert_string_equal(e->name, name);
  assert_int_equal(e->bytes, bytes);
}

static void assert_failure(int i, const char *type, const char *name,
                           const char *error) {
  assert_true(i < fh.n_events);
  const rl_fake_event *e = &fh.events[i];
  assert_true(e->failed);
  assert_string_equal(e->type, type);
  assert_string_equal(e->name, name);
  assert_string_equal(e->error, error);
}

/* The request bytes the plugin sends for spec. */
static void assert_request(struct fx *f, const rl_step_spec *spec,
                           const char *want) {
  void *st = add_step(f, spec);
  size_t before = f->conn.out_len;
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(f->conn.out_len - before, strlen(want));
  assert_memory_equal(f->conn.out + before, want, strlen(want));
  /* Complete it so the session takes the next one. */
  assert_int_equal(feed(f, "HTTP/1.1 204 No Content\r\n\r\n"), 0);
}

/* ---- Descriptor ------------------------------------------------------------ */

static void test_descriptor(void **state) {
  (void)state;
  assert_int_equal(RL_ABI_VERSION_MAJOR(P->abi_version), RL_ABI_MAJOR);
  assert_true(P->struct_size >= RL_PLUGIN_MIN_SIZE);
  assert_string_equal(P->name, "http1");
  assert_string_equal(P->version, "0.1.0");
  assert_int_equal(P->kind, RL_PLUGIN_CODEC);
  assert_string_equal(P->schemes[0].name, "http");
  assert_int_equal(P->schemes[0].default_port, 80);
  assert_int_equal(P->schemes[0].tls, 0);
  assert_string_equal(P->schemes[1].name, "https");
  assert_int_equal(P->schemes[1].default_port, 443);
  assert_int_equal(P->schemes[1].tls, 1);
  assert_null(P->schemes[2].name);
  assert_string_equal(P->alpn[0], "http/1.1");
  assert_null(P->alpn[1]);
  assert_null(P->session_max_concurrent);
  assert_non_null(P->step_new);
  assert_non_null(P->step_del);
  assert_non_null(P->session_new);
  assert_non_null(P->session_submit);
  assert_non_null(P->session_on_read);
  assert_non_null(P->session_del);
  assert_non_null(P->step_describe);
}

/* The host reports its own failures (connection refused) under the step's
 * default type and name: they must match what the plugin reports. */
static void test_step_describe(void **state) {
  struct fx *f = *state;
  const char *type = NULL, *name = NULL;
  rl_step_spec s = base_spec();
  s.path = "/blog?id=7";
  P->step_describe(add_step(f, &s), &type, &name);
  assert_string_equal(type, "GET");
  assert_string_equal(name, "/blog?id=7");
  s.name = "/blog?id=[id]";
  s.body = (const uint8_t *)"x";
  s.body_len = 1;
  P->step_describe(add_step(f, &s), &type, &name);
  assert_string_equal(type, "POST");
  assert_string_equal(name, "/blog?id=[id]");
}

/* ---- Request bytes --------------------------------------------------------- */

static void test_request_get(void **state) {
  struct fx *f = *state;
  rl_step_spec s = base_spec();
  s.path = "/search?q=a&page=2";
  assert_request(f, &s,
                 "GET /search?q=a&page=2 HTTP/1.1\r\n"
                 "Host: example.com\r\n"
                 "User-Agent: rpcload/0.1\r\n"
                 "\r\n");
  assert_success(0, "GET", "/search?q=a&page=2", 0);
}

static void test_request_post(void **state) {
  struct fx *f = *state;
  /* A body and no method: POST with its length. */
  rl_step_spec s = base_spec();
  s.path = "/api";
  s.body = (const uint8_t *)"{\"a\":1}";
  s.body_len = 7;
  assert_request(f, &s,
                 "POST /api HTTP/1.1\r\n"
                 "Host: example.com\r\n"
                 "User-Agent: rpcload/0.1\r\n"
                 "Content-Length: 7\r\n"
                 "\r\n"
                 "{\"a\":1}");
  assert_success(0, "POST", "/api", 0);

  /* PUT with no body still says its length is 0. */
  s = base_spec();
  s.method = "PUT";
  s.name = "put it";
  assert_request(f, &s,
                 "PUT / HTTP/1.1\r\n"
                 "Host: example.com\r\n"
                 "User-Agent: rpcload/0.1\r\n"
                 "Content-Length: 0\r\n"
                 "\r\n");
  assert_success(1, "PUT", "put it", 0);

  /* An empty body (-d '') is still a body: POST, length 0. */
  s = base_spec();
  s.body = (const uint8_t *)"";
  s.body_len = 0;
  assert_request(f, &s,
                 "POST / HTTP/1.1\r\n"
                 "Host: example.com\r\n"
                 "User-Agent: rpcload/0.1\r\n"
                 "Content-Length: 0\r\n"
                 "\r\n");

  /* DELETE without a body has no length. */
  s = base_spec();
  s.method = "DELETE";
  s.path = "/x/1";
  assert_request(f, &s,
                 "DELETE /x/1 HTTP/1.1\r\n"
                 "Host: example.com\r\n"
                 "User-Agent: rpcload/0.1\r\n"
                 "\r\n");
  assert_success(3, "DELETE", "/x/1", 0);
}

static void test_request_json_body_type(void **state) {
  struct fx *f = *state;
  /* A scenario's JSON body (ABI 1.3 body_type) says what it is ... */
  rl_step_spec s = base_spec();
  s.body = (const uint8_t *)"{}";
  s.body_len = 2;
  s.body_type = "application/json";
  assert_request(f, &s,
                 "POST / HTTP/1.1\r\n"
                 "Host: example.com\r\n"
                 "User-Agent: rpcload/0.1\r\n"
                 "Content-Type: application/json\r\n"
                 "Content-Length: 2\r\n"
                 "\r\n"
                 "{}");
  /* ... unless the user's own header says else. */
  static const rl_kv ct[] = {{"content-type", "text/x-mine"}};
  s.headers = ct;
  s.n_headers = 1;
  assert_request(f, &s,
                 "POST / HTTP/1.1\r\n"
                 "Host: example.com\r\n"
                 "User-Agent: rpcload/0.1\r\n"
                 "content-type: text/x-mine\r\n"
                 "Content-Length: 2\r\n"
                 "\r\n"
                 "{}");
  /* A host older than ABI 1.3: its spec ends before body_type. */
  s = base_spec();
  s.struct_size = (uint32_t)offsetof(rl_step_spec, body_type);
  s.body = (const uint8_t *)"{}";
  s.body_len = 2;
  s.body_type = "application/json";
  assert_request(f, &s,
                 "POST / HTTP/1.1\r\n"
                 "Host: example.com\r\n"
                 "User-Agent: rpcload/0.1\r\n"
                 "Content-Length: 2\r\n"
                 "\r\n"
                 "{}");
}

static void test_request_headers(void **state) {
  struct fx *f = *state;
  /* User headers keep their order; one named like a default (any case)
   * replaces it; a raw "Name: value" line (value NULL) is split. */
  rl_kv hs[] = {
      {"user-agent", "custom/2"},
      {"X-A", "1"},
      {"X-B:   two words  ", NULL},
      {"HOST", "other.example"},
      {"X-A", " again"},
  };
  rl_step_spec s = base_spec();
  s.headers = hs;
  s.n_headers = sizeof hs / sizeof hs[0];
  assert_request(f, &s,
                 "GET / HTTP/1.1\r\n"
                 "user-agent: custom/2\r\n"
                 "X-A: 1\r\n"
                 "X-B: two words\r\n"
                 "HOST: other.example\r\n"
                 "X-A: again\r\n"
                 "\r\n");

  /* An empty value for a default header removes ours; a user length
   * replaces ours. */
  rl_kv hs2[] = {
      {"User-Agent", ""},
      {"Content-Length", "3"},
      {"X-Empty", ""},
  };
  s = base_spec();
  s.headers = hs2;
  s.n_headers = 3;
  s.body = (const uint8_t *)"abc";
  s.body_len = 3;
  assert_request(f, &s,
                 "POST / HTTP/1.1\r\n"
                 "Host: example.com\r\n"
                 "Content-Length: 3\r\n"
                 "X-Empty: \r\n"
                 "\r\n"
                 "abc");
}

static void test_request_host_port(void **state) {
  struct fx *f = *state;
  rl_step_spec s = base_spec();
  s.port = 8080;
  assert_request(f, &s,
                 "GET / HTTP/1.1\r\n"
                 "Host: example.com:8080\r\n"
                 "User-Agent: rpcload/0.1\r\n"
                 "\r\n");

  s = base_spec();
  s.scheme = "https";
  s.tls = 1;
  s.port = 443;
  assert_request(f, &s,
                 "GET / HTTP/1.1\r\n"
                 "Host: example.com\r\n"
                 "User-Agent: rpcload/0.1\r\n"
                 "\r\n");

  /* Port 80 is not the default of https. */
  s.port = 80;
  assert_request(f, &s,
                 "GET / HTTP/1.1\r\n"
                 "Host: example.com:80\r\n"
                 "User-Agent: rpcload/0.1\r\n"
                 "\r\n");

  /* An IPv6 literal gets its brackets back. */
  s = base_spec();
  s.host = "::1";
  s.port = 8080;
  assert_request(f, &s,
                 "GET / HTTP/1.1\r\n"
                 "Host: [::1]:8080\r\n"
                 "User-Agent: rpcload/0.1\r\n"
                 "\r\n");
}

/* ---- Bad step specs ------------------------------------------------------- */

static void expect_rejected(const rl_step_spec *spec, const char *want) {
  char err[256];
  void *st = NULL;
  memset(err, 'x', sizeof err);
  int rc = P->step_new(&fh.host, spec, &st, err, sizeof err);
  assert_int_equal(rc, RL_ERR_INVAL);
  assert_null(st);
  assert_string_equal(err, want);
}

static void test_bad_specs(void **state) {
  (void)state;
  rl_step_spec s;

  rl_kv no_colon[] = {{"X-Foo bar", NULL}};
  s = base_spec();
  s.headers = no_colon;
  s.n_headers = 1;
  expect_rejected(&s, "header 'X-Foo bar' has no ':'");

  rl_kv crlf_value[] = {{"X-A", "1\r\nX-Injected: 2"}};
  s.headers = crlf_value;
  expect_rejected(&s, "header 'X-A' contains CR or LF");

  rl_kv crlf_raw[] = {{"X-A: 1\nX-B: 2", NULL}};
  s.headers = crlf_raw;
  expect_rejected(&s, "header 'X-A' contains CR or LF");

  rl_kv bad_name[] = {{"X A", "1"}};
  s.headers = bad_name;
  expect_rejected(&s, "header name 'X A' is not a valid HTTP token");

  rl_kv empty_name[] = {{": v", NULL}};
  s.headers = empty_name;
  expect_rejected(&s, "header ': v' has an empty name");

  rl_kv ctl_value[] = {{"X-A", "a\001b"}};
  s.headers = ctl_value;
  expect_rejected(&s, "header 'X-A' value contains a control character");

  s = base_spec();
  s.method = "GET\r\nX: y";
  expect_rejected(&s, "method 'GET\\r\\nX: y' contains CR or LF");

  s.method = "GE T";
  expect_rejected(&s, "method 'GE T' is not a valid HTTP token");

  s.method = "";
  expect_rejected(&s, "method is empty");

  s = base_spec();
  s.path = "/a b";
  expect_rejected(&s, "path '/a b' contains a space or control character "
                      "(percent-encode it)");

  s = base_spec();
  s.host = "";
  expect_rejected(&s, "no host given");

  rl_kv opts[] = {{"call", "x"}};
  s = base_spec();
  s.options = opts;
  s.n_options = 1;
  expect_rejected(&s, "option 'call' is not known to http1 (it takes "
                      "cookies, allow_redirects, max_redirects)");

  /* A tiny err buffer is cut, never overrun. */
  char small[8];
  void *st = NULL;
  s = base_spec();
  s.headers = no_colon;
  s.n_headers = 1;
  assert_int_equal(P->step_new(&fh.host, &s, &st, small, sizeof small),
                   RL_ERR_INVAL);
  assert_string_equal(small, "header ");
  assert_int_equal(P->step_new(&fh.host, &s, &st, NULL, 0), RL_ERR_INVAL);
  assert_null(st);
}

/* ---- Responses -------------------------------------------------------------- */

#define RESP_OK_HELLO "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"

static void test_content_length_one_read(void **state) {
  struct fx *f = *state;
  void *st = add_get_step(f);
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(fh.n_events, 0);
  assert_int_equal(feed(f, RESP_OK_HELLO), 0);
  assert_int_equal(fh.n_events, 1);
  assert_success(0, "GET", "/", 5);
  assert_int_equal(f->conn.close_requested, 0);
}

static void test_content_length_bytewise(void **state) {
  struct fx *f = *state;
  void *st = add_get_step(f);
  assert_int_equal(submit(f, st), 0);
  /* Not complete until the very last byte. */
  const char *r = RESP_OK_HELLO;
  size_t n = strlen(r);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(fh.n_events, 0);
    assert_int_equal(feed_n(f, r + i, 1), 0);
  }
  assert_int_equal(fh.n_events, 1);
  assert_success(0, "GET", "/", 5);
  assert_int_equal(f->conn.close_requested, 0);
}

#define RESP_CHUNKED                                                           \
  "HTTP/1.1 200 OK\r\n"                                                        \
  "Transfer-Encoding: chunked\r\n"                                             \
  "\r\n"                                                                       \
  "5\r\nhello\r\n"                                                             \
  "6;ext=1\r\n world\r\n"                                                      \
  "1A\r\nabcdefghijklmnopqrstuvwxyz\r\n"                                       \
  "0\r\n"                                                                      \
  "X-Trailer: t\r\n"                                                           \
  "\r\n"

/* Every split of the chunked response into two reads, then one byte per
 * read: the size lines, the data, the CRLFs and the trailer all get cut. */
static void test_chunked_splits(void **state) {
  struct fx *f = *state;
  void *st = add_get_step(f);
  const char *r = RESP_CHUNKED;
  size_t n = strlen(r);
  int events = 0;
  for (size_t cut = 1; cut < n; cut++) {
    assert_int_equal(submit(f, st), 0);
    assert_int_equal(feed_n(f, r, cut), 0);
    assert_int_equal(fh.n_events, events);
    assert_int_equal(feed_n(f, r + cut, n - cut), 0);
    assert_int_equal(fh.n_events, events + 1);
    assert_success(events, "GET", "/", 37);
    /* Keep the event table small: the invariant is what matters. */
    rl_fake_host_forget_events(&fh);
  }
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed_bytewise(f, r), 0);
  assert_int_equal(fh.n_events, 1);
  assert_success(0, "GET", "/", 37);
  assert_int_equal(f->conn.close_requested, 0);
}

static void test_404(void **state) {
  struct fx *f = *state;
  rl_step_spec s = base_spec();
  s.path = "/missing?id=7";
  s.name = "/missing?id=[id]";
  void *st = add_step(f, &s);
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, "HTTP/1.1 404 Not Found\r\n"
                           "Content-Length: 9\r\n\r\nnot found"),
                   0);
  assert_int_equal(fh.n_events, 1);
  assert_failure(0, "GET", "/missing?id=[id]", "HTTP 404 Not Found");
  assert_int_equal(fh.events[0].bytes, 9);
  assert_int_equal(f->conn.close_requested, 0);

  /* The server's own phrase, even split across reads. */
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed_bytewise(f, "HTTP/1.1 404 Nothing Here\r\n"
                                    "Content-Length: 0\r\n\r\n"),
                   0);
  assert_failure(1, "GET", "/missing?id=[id]", "HTTP 404 Nothing Here");

  /* No phrase: the standard one. */
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, "HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n"), 0);
  assert_failure(2, "GET", "/missing?id=[id]", "HTTP 404 Not Found");

  /* No phrase and no standard one: just the code. */
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, "HTTP/1.1 499 \r\nContent-Length: 0\r\n\r\n"), 0);
  assert_failure(3, "GET", "/missing?id=[id]", "HTTP 499");
}

static void test_500(void **state) {
  struct fx *f = *state;
  rl_step_spec s = base_spec();
  s.method = "POST";
  s.path = "/boom";
  s.body = (const uint8_t *)"x";
  s.body_len = 1;
  void *st = add_step(f, &s);
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, "HTTP/1.1 500 Internal Server Error\r\n"
                           "Content-Length: 4\r\n\r\noops"),
                   0);
  assert_int_equal(fh.n_events, 1);
  assert_failure(0, "POST", "/boom", "HTTP 500 Internal Server Error");
  assert_int_equal(fh.events[0].bytes, 4);

  /* 400 is the first failing code. */
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, "HTTP/1.1 400 Bad Request\r\n"
                           "Content-Length: 0\r\n\r\n"),
                   0);
  assert_failure(1, "POST", "/boom", "HTTP 400 Bad Request");

  /* 3xx is not a failure (as in Locust), when not followed. */
  rl_kv no_follow[] = {{"allow_redirects", "false"}};
  s.options = no_follow;
  s.n_options = 1;
  st = add_step(f, &s);
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, "HTTP/1.1 302 Found\r\nLocation: /\r\n"
                           "Content-Length: 0\r\n\r\n"),
                   0);
  assert_success(2, "POST", "/boom", 0);
}

static void test_head(void **state) {
  struct fx *f = *state;
  rl_step_spec s = base_spec();
  s.method = "HEAD";
  void *head = add_step(f, &s);
  void *get = add_get_step(f);
  assert_int_equal(submit(f, head), 0);
  assert_string_equal(f->conn.out, "HEAD / HTTP/1.1\r\n"
                                   "Host: example.com\r\n"
                                   "User-Agent: rpcload/0.1\r\n\r\n");
  /* Content-Length announces the GET body; none follows a HEAD. */
  assert_int_equal(feed(f, "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"),
                   0);
  assert_int_equal(fh.n_events, 1);
  assert_success(0, "HEAD", "/", 0);
  /* The parser is not waiting for 1234 bytes: the next response parses. */
  assert_int_equal(submit(f, get), 0);
  assert_int_equal(feed(f, RESP_OK_HELLO), 0);
  assert_int_equal(fh.n_events, 2);
  assert_success(1, "GET", "/", 5);
}

static void test_100_continue(void **state) {
  struct fx *f = *state;
  void *st = add_get_step(f);
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, "HTTP/1.1 100 Continue\r\n\r\n"), 0);
  assert_int_equal(fh.n_events, 0);
  assert_int_equal(feed(f, "HTTP/1.1 201 Created\r\n"
                           "Content-Length: 2\r\n\r\nok"),
                   0);
  assert_int_equal(fh.n_events, 1);
  assert_success(0, "GET", "/", 2);

  /* Interim and final in one read, and a 103 too. */
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, "HTTP/1.1 100 Continue\r\n\r\n"
                           "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
                           "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"),
                   0);
  assert_int_equal(fh.n_events, 2);
  assert_success(1, "GET", "/", 3);
  assert_int_equal(f->conn.close_requested, 0);
}

static void test_connection_close(void **state) {
  struct fx *f = *state;
  void *st = add_get_step(f);
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, "HTTP/1.1 200 OK\r\nConnection: close\r\n"
                           "Content-Length: 5\r\n\r\nhello"),
                   0);
  assert_int_equal(fh.n_events, 1);
  assert_success(0, "GET", "/", 5);
  assert_int_equal(f->conn.close_requested, 1);
  /* The session takes nothing more; nothing is reported for the refusal. */
  size_t out = f->conn.out_len;
  assert_int_not_equal(submit(f, st), 0);
  assert_int_equal(f->conn.out_len, out);
  /* The host then deletes the session: nothing left to report. */
  del(f, RL_ERR_CLOSED, "connection closed");
  assert_int_equal(fh.n_events, 1);
}

static void test_http10_close(void **state) {
  struct fx *f = *state;
  void *st = add_get_step(f);
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"),
                   0);
  assert_success(0, "GET", "/", 2);
  assert_int_equal(f->conn.close_requested, 1);
}

static void test_http10_until_eof(void **state) {
  struct fx *f = *state;
  void *st = add_get_step(f);
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, "HTTP/1.0 200 OK\r\nServer: old\r\n\r\nabc"), 0);
  assert_int_equal(feed(f, "defg"), 0);
  /* No length: only the close tells the body is over. */
  assert_int_equal(fh.n_events, 0);
  del(f, RL_ERR_CLOSED, "connection closed by peer");
  assert_int_equal(fh.n_events, 1);
  assert_success(0, "GET", "/", 7);
  /* The connection is already going: no close request from session_del. */
  assert_int_equal(f->conn.close_requested, 0);
}

static void test_404_until_eof(void **state) {
  struct fx *f = *state;
  void *st = add_get_step(f);
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, "HTTP/1.1 404 Not Found\r\nConnection: close\r\n"
                           "\r\nno"),
                   0);
  assert_int_equal(fh.n_events, 0);
  del(f, RL_ERR_CLOSED, "connection closed by peer");
  assert_int_equal(fh.n_events, 1);
  assert_failure(0, "GET", "/", "HTTP 404 Not Found");
  assert_int_equal(fh.events[0].bytes, 2);
}

static void test_closed_mid_response(void **state) {
  struct fx *f = *state;
  void *st = add_get_step(f);
  assert_int_equal(submit(f, st), 0);
  /* Five bytes announced, two came: a close cannot complete that. */
  assert_int_equal(feed(f, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhe"),
                   0);
  del(f, RL_ERR_CLOSED, "connection closed by peer");
  assert_int_equal(fh.n_events, 1);
  assert_failure(0, "GET", "/", "connection closed by peer");
}

static void test_closed_before_response(void **state) {
  struct fx *f = *state;
  void *st = add_get_step(f);
  assert_int_equal(submit(f, st), 0);
  del(f, RL_ERR_CLOSED, NULL); /* no reason: the code's text */
  assert_int_equal(fh.n_events, 1);
  assert_failure(0, "GET", "/", "connection closed");
}

static void test_del_io_error(void **state) {
  struct fx *f = *state;
  void *st = add_get_step(f);
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, "HTTP/1.0 200 OK\r\n\r\npartial"), 0);
  /* Even a body read until close does not complete on an error. */
  del(f, RL_ERR_IO, "connection reset by peer");
  assert_int_equal(fh.n_events, 1);
  assert_failure(0, "GET", "/", "connection reset by peer");
}

static void test_del_timeout_no_reason(void **state) {
  struct fx *f = *state;
  void *st = add_get_step(f);
  assert_int_equal(submit(f, st), 0);
  del(f, RL_ERR_TIMEOUT, NULL);
  assert_int_equal(fh.n_events, 1);
  assert_failure(0, "GET", "/", "timed out");
}

static void test_del_idle(void **state) {
  struct fx *f = *state;
  void *st = add_get_step(f);
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, RESP_OK_HELLO), 0);
  del(f, RL_ERR_IO, "connection reset by peer");
  assert_int_equal(fh.n_events, 1); /* nothing in flight: nothing more */
}

static void test_busy(void **state) {
  struct fx *f = *state;
  void *st = add_get_step(f);
  assert_int_equal(submit(f, st), 0);
  size_t out = f->conn.out_len;
  assert_int_equal(submit(f, st), RL_ERR_BUSY);
  assert_int_equal(fh.n_events, 0);
  assert_int_equal(f->conn.out_len, out); /* nothing written for it */
  assert_int_equal(feed(f, RESP_OK_HELLO), 0);
  assert_int_equal(fh.n_events, 1);
  assert_int_equal(fh.events[0].req_id, 1);
}

static void test_write_failure(void **state) {
  struct fx *f = *state;
  void *st = add_get_step(f);
  f->conn.fail_writes = 1;
  assert_int_equal(submit(f, st), RL_ERR_CLOSED);
  assert_int_equal(fh.n_events, 0);
  /* The refused request is not held: the next one is accepted. */
  f->conn.fail_writes = 0;
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, RESP_OK_HELLO), 0);
  assert_int_equal(fh.n_events, 1);
}

static void test_garbage(void **state) {
  struct fx *f = *state;
  void *st = add_get_step(f);
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, "SSH-2.0-OpenSSH_9.2\r\n"), RL_ERR_PROTO);
  /* The request fails at once, naming the parser's complaint. */
  assert_int_equal(fh.n_events, 1);
  assert_true(fh.events[0].failed);
  assert_non_null(strstr(fh.events[0].error, "invalid HTTP response: "));
  /* The host closes: session_del must not report it again. */
  del(f, RL_ERR_PROTO, "protocol error");
  assert_int_equal(fh.n_events, 1);
}

static void test_bad_chunk(void **state) {
  struct fx *f = *state;
  void *st = add_get_step(f);
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                           "\r\nzz\r\n"),
                   RL_ERR_PROTO);
  assert_int_equal(fh.n_events, 1);
  assert_true(fh.events[0].failed);
  del(f, RL_ERR_PROTO, "protocol error");
  assert_int_equal(fh.n_events, 1);
}

static void test_unsolicited(void **state) {
  struct fx *f = *state;
  /* Even bytes the parser alone would skip (a stray empty line). */
  assert_int_equal(feed(f, "\r\n"), RL_ERR_PROTO);
  assert_int_equal(feed(f, RESP_OK_HELLO), RL_ERR_PROTO);
  assert_int_equal(fh.n_events, 0);
  del(f, RL_ERR_PROTO, "protocol error");
  assert_int_equal(fh.n_events, 0);
}

static void test_extra_response(void **state) {
  struct fx *f = *state;
  void *st = add_get_step(f);
  assert_int_equal(submit(f, st), 0);
  /* One request, two responses in one read: the first completes it, the
   * second is unsolicited. */
  assert_int_equal(feed(f, RESP_OK_HELLO RESP_OK_HELLO), RL_ERR_PROTO);
  assert_int_equal(fh.n_events, 1);
  assert_success(0, "GET", "/", 5);
}

static void test_keep_alive(void **state) {
  struct fx *f = *state;
  rl_step_spec s = base_spec();
  s.path = "/one";
  void *one = add_step(f, &s);
  s.path = "/two";
  void *two = add_step(f, &s);
  assert_int_equal(submit(f, one), 0);
  assert_int_equal(feed(f, RESP_OK_HELLO), 0);
  assert_int_equal(submit(f, two), 0);
  assert_int_equal(feed(f,
                        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "3\r\nabc\r\n0\r\n\r\n"),
                   0);
  assert_int_equal(fh.n_events, 2);
  assert_success(0, "GET", "/one", 5);
  assert_int_equal(fh.events[0].req_id, 1);
  assert_success(1, "GET", "/two", 3);
  assert_int_equal(fh.events[1].req_id, 2);
  assert_int_equal(f->conn.close_requested, 0);
  assert_string_equal(f->conn.out, "GET /one HTTP/1.1\r\n"
                                   "Host: example.com\r\n"
                                   "User-Agent: rpcload/0.1\r\n\r\n"
                                   "GET /two HTTP/1.1\r\n"
                                   "Host: example.com\r\n"
                                   "User-Agent: rpcload/0.1\r\n\r\n");
}

static void test_no_content(void **state) {
  struct fx *f = *state;
  void *st = add_get_step(f);
  /* 204 and 304 never have a body, with or without a length. */
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, "HTTP/1.1 204 No Content\r\n\r\n"), 0);
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, "HTTP/1.1 304 Not Modified\r\n\r\n"), 0);
  assert_int_equal(fh.n_events, 2);
  assert_success(0, "GET", "/", 0);
  assert_success(1, "GET", "/", 0);
}

static void test_switching_protocols(void **state) {
  struct fx *f = *state;
  void *st = add_get_step(f);
  assert_int_equal(submit(f, st), 0);
  /* We never ask for an upgrade: a 101 ends request and connection. */
  static const char r[] = "HTTP/1.1 101 Switching Protocols\r\n"
                          "Upgrade: h2c\r\nConnection: Upgrade\r\n\r\n"
                          "\x00\x00\x12\x04";
  int rc = feed_n(f, r, sizeof r - 1);
  (void)rc; /* 0 or PROTO: either way the host closes */
  assert_int_equal(fh.n_events, 1);
  assert_failure(0, "GET", "/", "HTTP 101 Switching Protocols");
  assert_int_equal(f->conn.close_requested, 1);
}

/* ---- Templates ------------------------------------------------------------ */

/* Templates in the path, header values and body are expanded per request
 * (the request id stands for the user id here); Content-Length follows
 * the expanded body. */
static void test_templated_request(void **state) {
  struct fx *f = *state;
  rl_kv hs[] = {{"Authorization", "Bearer u{{user_id}}"}, {"X-C", "c"}};
  rl_step_spec s = base_spec();
  s.path = "/users/{{user_id}}?q={{random_int 5 5}}";
  s.name = "/users/[id]";
  s.headers = hs;
  s.n_headers = 2;
  s.body = (const uint8_t *)"{\"id\":{{user_id}}}";
  s.body_len = strlen((const char *)s.body);
  void *st = add_step(f, &s);
  const char *type = NULL, *name = NULL;
  P->step_describe(st, &type, &name);
  assert_string_equal(type, "POST");
  assert_string_equal(name, "/users/[id]");
  for (int id = 1; id <= 12; id++) {
    char want[512];
    size_t before = f->conn.out_len;
    assert_int_equal(submit(f, st), 0);
    snprintf(want, sizeof want,
             "POST /users/%d?q=5 HTTP/1.1\r\n"
             "Host: example.com\r\n"
             "User-Agent: rpcload/0.1\r\n"
             "Authorization: Bearer u%d\r\n"
             "X-C: c\r\n"
             "Content-Length: %d\r\n"
             "\r\n"
             "{\"id\":%d}",
             id, id, id < 10 ? 8 : 9, id);
    assert_string_equal(f->conn.out + before, want);
    assert_int_equal(feed(f, "HTTP/1.1 204 No Content\r\n\r\n"), 0);
    assert_success(0, "POST", "/users/[id]", 0);
    /* Keep the event table small: the invariant is what matters. */
    rl_fake_host_forget_events(&fh);
  }
  /* No name given: the stats name is the unexpanded path. */
  s = base_spec();
  s.path = "/p/{{user_id}}";
  P->step_describe(add_step(f, &s), &type, &name);
  assert_string_equal(name, "/p/{{user_id}}");
}

/* Only the templated parts change; a template that expands to nothing is
 * fine, braces without a template are text, and a body template with the
 * user's own Content-Length keeps the user's. */
static void test_templated_parts(void **state) {
  struct fx *f = *state;
  rl_step_spec s = base_spec();
  s.path = "/a{{random_string 0}}";
  assert_request(f, &s,
                 "GET /a HTTP/1.1\r\n"
                 "Host: example.com\r\n"
                 "User-Agent: rpcload/0.1\r\n"
                 "\r\n");
  rl_kv host[] = {{"Host", "h{{user_id}}.example"}};
  s = base_spec();
  s.headers = host;
  s.n_headers = 1;
  s.body = (const uint8_t *)"{\"a\":{\"b\":1}}";
  s.body_len = 13;
  assert_request(f, &s,
                 "POST / HTTP/1.1\r\n"
                 "User-Agent: rpcload/0.1\r\n"
                 "Host: h2.example\r\n"
                 "Content-Length: 13\r\n"
                 "\r\n"
                 "{\"a\":{\"b\":1}}");
  s = base_spec();
  s.method = "PUT";
  s.body = (const uint8_t *)"{{random_string 0}}";
  s.body_len = strlen((const char *)s.body);
  assert_request(f, &s,
                 "PUT / HTTP/1.1\r\n"
                 "Host: example.com\r\n"
                 "User-Agent: rpcload/0.1\r\n"
                 "Content-Length: 0\r\n"
                 "\r\n");
  rl_kv cl[] = {{"Content-Length", "2"}};
  s = base_spec();
  s.headers = cl;
  s.n_headers = 1;
  s.body = (const uint8_t *)"{{seq}}";
  s.body_len = 7;
  assert_request(f, &s,
                 "POST / HTTP/1.1\r\n"
                 "Host: example.com\r\n"
                 "User-Agent: rpcload/0.1\r\n"
                 "Content-Length: 2\r\n"
                 "\r\n"
                 "1");
}

/* An expansion the request line cannot carry as it is (a captured value
 * with a blank, a control, UTF-8) is percent-encoded in the path; in a
 * header value a CR or LF would smuggle a header in: that request is
 * refused, nothing written. */
static void test_templated_unsafe_values(void **state) {
  struct fx *f = *state;
  rl_step_spec s = base_spec();
  s.path = "/s?q={{seq}}&x=1";
  void *path = add_step(f, &s);
  rl_kv hs[] = {{"X-Token", "{{seq}}"}};
  s = base_spec();
  s.headers = hs;
  s.n_headers = 1;
  void *hdr = add_step(f, &s);

  /* (The override is the whole path's expansion.) */
  fh.expand_override = "/s?q=a b\x01\xc3\xa9%20/?&x=1";
  size_t before = f->conn.out_len;
  assert_int_equal(submit(f, path), 0);
  assert_string_equal(f->conn.out + before,
                      "GET /s?q=a%20b%01%C3%A9%20/?&x=1 HTTP/1.1\r\n"
                      "Host: example.com\r\n"
                      "User-Agent: rpcload/0.1\r\n"
                      "\r\n");
  assert_int_equal(feed(f, "HTTP/1.1 204 No Content\r\n\r\n"), 0);

  fh.expand_override = "1\r\nX-Injected: 2";
  fh.n_logs = 0;
  before = f->conn.out_len;
  assert_int_equal(submit(f, hdr), RL_ERR_INVAL);
  assert_int_equal(submit(f, hdr), RL_ERR_INVAL);
  assert_int_equal(f->conn.out_len, before);
  assert_int_equal(fh.n_logs, 1); /* said once, not per request */
  fh.expand_override = "tab\tand blank ok";
  assert_int_equal(submit(f, hdr), 0);
  assert_non_null(
      strstr(f->conn.out + before, "\r\nX-Token: tab\tand blank ok\r\n"));
  assert_int_equal(feed(f, "HTTP/1.1 204 No Content\r\n\r\n"), 0);
  assert_int_equal(fh.n_events, 2);
}

static void test_templated_bad_specs(void **state) {
  (void)state;
  rl_step_spec s = base_spec();
  s.path = "/a/{{nope}}";
  expect_rejected(&s, "path: unknown template name 'nope' at column 4 "
                      "(known: user_id, seq, uuid, timestamp, timestamp_ms, "
                      "random_int A B, random_string N)");
  /* Blanks inside {{...}} are the template's; outside they are not. */
  s.path = "/a b/{{random_int 1 9}}";
  expect_rejected(&s, "path '/a b/{{random_int 1 9}}' contains a space or "
                      "control character (percent-encode it)");
  rl_kv hs[] = {{"X-A", "{{user_id"}};
  s = base_spec();
  s.headers = hs;
  s.n_headers = 1;
  expect_rejected(&s, "header 'X-A': '{{' at column 1 has no closing '}}'");
  s = base_spec();
  s.body = (const uint8_t *)"{{uuid}} {{x}}";
  s.body_len = strlen((const char *)s.body);
  expect_rejected(&s, "body: unknown template name 'x' at column 10 "
                      "(known: user_id, seq, uuid, timestamp, timestamp_ms, "
                      "random_int A B, random_string N)");
}

/* ---- Responses handed over (ABI 1.2) --------------------------------------- */

/* The host wants the response: status, header fields as sent (trailers
 * after them, trailing blanks gone), the de-chunked body; no JSON. Also
 * fed a byte per read, which cuts every name and value. */
static void test_response_handed_over(void **state) {
  struct fx *f = *state;
  fh.wants_response = 1;
  void *st = add_get_step(f);
  static const char resp[] = "HTTP/1.1 200 OK\r\n"
                             "Content-Type: text/plain \r\n"
                             "X-Empty:\r\n"
                             "x-id:  42\r\n"
                             "Transfer-Encoding: chunked\r\n"
                             "\r\n"
                             "5\r\nhello\r\n"
                             "6;ext=1\r\n world\r\n"
                             "0\r\n"
                             "X-Trailer: t\r\n"
                             "\r\n";
  static const char want_headers[] = "Content-Type: text/plain\n"
                                     "X-Empty: \n"
                                     "x-id: 42\n"
                                     "Transfer-Encoding: chunked\n"
                                     "X-Trailer: t\n";
  for (int bytewise = 0; bytewise < 2; bytewise++) {
    assert_int_equal(submit(f, st), 0);
    assert_int_equal(bytewise ? feed_bytewise(f, resp) : feed(f, resp), 0);
    assert_int_equal(fh.n_events, bytewise + 1);
    assert_success(bytewise, "GET", "/", 11);
    assert_int_equal(fh.n_responses, bytewise + 1);
    assert_int_equal(fh.last_response_id, bytewise + 1);
    assert_int_equal(last()->status, 200);
    assert_int_equal(last()->n_headers, 5);
    assert_string_equal(last()->headers, want_headers);
    assert_int_equal(last()->body_len, 11);
    assert_string_equal(last()->body, "hello world");
    assert_true(last()->json_null);
  }
  assert_int_equal(fh.asked, 2);
}

/* ABI 1.8: the parts the host reads. Without RL_RESPONSE_HEADERS no field
 * is handed over (the fake host refuses any), without RL_RESPONSE_BODY no
 * payload; the status always; the request's own outcome is the same. */
static void test_response_parts_only_what_the_host_reads(void **state) {
  struct fx *f = *state;
  fh.wants_response = 1;
  void *st = add_get_step(f);
  static const char resp[] = "HTTP/1.1 200 OK\r\n"
                             "Content-Type: text/plain\r\n"
                             "Content-Length: 5\r\n"
                             "\r\n"
                             "hello";
  fh.response_parts = RL_RESPONSE_STATUS | RL_RESPONSE_BODY;
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, resp), 0);
  assert_success(0, "GET", "/", 5);
  assert_int_equal(last()->status, 200);
  assert_int_equal(last()->n_headers, 0);
  assert_string_equal(last()->headers, "");
  assert_string_equal(last()->body, "hello");
  fh.response_parts = RL_RESPONSE_STATUS;
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, resp), 0);
  assert_success(1, "GET", "/", 5);
  assert_int_equal(last()->status, 200);
  assert_int_equal(last()->n_headers, 0);
  assert_int_equal(last()->body_len, 0);
  /* Asked for all again: the fields are back. */
  fh.response_parts = RL_RESPONSE_ALL;
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, resp), 0);
  assert_int_equal(last()->n_headers, 2);
  assert_string_equal(last()->headers,
                      "Content-Type: text/plain\nContent-Length: 5\n");
  assert_string_equal(last()->body, "hello");
  assert_int_equal(fh.n_responses, 3);
  assert_int_equal(fh.asked, 3);
}

/* A failing status is handed over too (a scenario may expect a 404); a
 * 1xx is not the response; an empty body is NULL. */
static void test_response_error_status(void **state) {
  struct fx *f = *state;
  fh.wants_response = 1;
  void *st = add_get_step(f);
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, "HTTP/1.1 404 Not Found\r\n"
                           "Content-Length: 9\r\n\r\nnot found"),
                   0);
  assert_failure(0, "GET", "/", "HTTP 404 Not Found");
  assert_int_equal(last()->status, 404);
  assert_string_equal(last()->headers, "Content-Length: 9\n");
  assert_string_equal(last()->body, "not found");

  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, "HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n"
                           "HTTP/1.1 201 Created\r\nLocation: /x/7\r\n"
                           "Content-Length: 0\r\n\r\n"),
                   0);
  assert_success(1, "GET", "/", 0);
  assert_int_equal(fh.n_responses, 2);
  assert_int_equal(last()->status, 201);
  assert_string_equal(last()->headers, "Location: /x/7\nContent-Length: 0\n");
  assert_true(last()->body_null);
  assert_int_equal(last()->body_len, 0);
}

/* A body read until the close is handed over when the close ends it; a
 * response cut short, or no response at all, is not. */
static void test_response_until_eof_and_cut(void **state) {
  struct fx *f = *state;
  fh.wants_response = 1;
  void *st = add_get_step(f);
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, "HTTP/1.0 200 OK\r\nServer: old\r\n\r\nabc"), 0);
  assert_int_equal(feed(f, "defg"), 0);
  assert_int_equal(fh.n_responses, 0);
  del(f, RL_ERR_CLOSED, "connection closed by peer");
  assert_int_equal(fh.n_responses, 1);
  assert_string_equal(last()->body, "abcdefg");
  assert_string_equal(last()->headers, "Server: old\n");
  assert_success(0, "GET", "/", 7);
}

static void test_response_not_on_errors(void **state) {
  struct fx *f = *state;
  fh.wants_response = 1;
  void *st = add_get_step(f);
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhe"),
                   0);
  del(f, RL_ERR_CLOSED, "connection closed by peer");
  assert_failure(0, "GET", "/", "connection closed by peer");
  assert_int_equal(fh.n_responses, 0);

  struct fx g = {0};
  rl_conn_info info = {sizeof info, NULL, "example.com", 80, 0};
  assert_int_equal(P->session_new(&fh.host, &g.conn, &info, &g.session), 0);
  f->session = g.session;
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, "SSH-2.0-OpenSSH_9.2\r\n"), RL_ERR_PROTO);
  del(f, RL_ERR_PROTO, "protocol error");
  assert_int_equal(fh.n_responses, 0);
  rl_fake_conn_free(&g.conn);
}

/* When the host does not look, nothing is handed over, whatever comes;
 * the question is asked once per request. */
static void test_response_not_wanted(void **state) {
  struct fx *f = *state;
  void *st = add_get_step(f);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(submit(f, st), 0);
    assert_int_equal(feed(f, RESP_CHUNKED), 0);
  }
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, "HTTP/1.1 500 Oops\r\nContent-Length: 1\r\n\r\nx"),
                   0);
  assert_int_equal(fh.n_events, 4);
  assert_int_equal(fh.asked, 4);
  assert_int_equal(fh.n_responses, 0);
  /* The answer is per request: the next one may want it. */
  fh.wants_response = 1;
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, RESP_OK_HELLO), 0);
  assert_int_equal(fh.n_responses, 1);
  assert_string_equal(last()->body, "hello");
}

/* A host of ABI 1.1 has no response members: the plugin never asks. */
static void test_response_old_host(void **state) {
  struct fx *f = *state;
  old_host = fh.host;
  old_host.struct_size = (uint32_t)offsetof(rl_host, request_wants_response);
  old_host.request_wants_response = NULL;
  old_host.request_response = NULL;
  P->session_del(f->session, RL_ERR_CANCELLED, "replaced");
  rl_conn_info info = {sizeof info, NULL, "example.com", 80, 0};
  assert_int_equal(P->session_new(&old_host, &f->conn, &info, &f->session), 0);
  fh.wants_response = 1;
  void *st = add_get_step(f);
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, RESP_OK_HELLO), 0);
  assert_success(0, "GET", "/", 5);
  assert_int_equal(fh.asked, 0);
  assert_int_equal(fh.n_responses, 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)

/* ---- Cookies (the user's jar, lib/http_session) ------------------------------ */

/* What the plugin wrote since the last call, as a string (static). */
static const char *sent(struct fx *f) {
  static char text[4096];
  size_t len = 0;
  char *out = rl_fake_conn_take(&f->conn, &len);
  snprintf(text, sizeof text, "%.*s", (int)len, out != NULL ? out : "");
  free(out);
  return text;
}

static void *get_step(struct fx *f, const char *path, const rl_kv *options,
                      size_t n_options) {
  rl_step_spec s = base_spec();
  s.path = path;
  s.options = options;
  s.n_options = n_options;
  return add_step(f, &s);
}

#define UA "User-Agent: rpcload/0.1\r\n"
#define OK_EMPTY "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"

static void test_cookies_kept_per_user(void **state) {
  struct fx *f = *state;
  void *login = get_step(f, "/account/login", NULL, 0);
  void *shop = get_step(f, "/shop", NULL, 0);
  void *acct = get_step(f, "/account/x", NULL, 0);
  fh.user_id = 1;
  assert_int_equal(submit(f, login), 0);
  assert_string_equal(sent(f), "GET /account/login HTTP/1.1\r\n"
                               "Host: example.com\r\n" UA "\r\n");
  /* Set-Cookie split over reads, one per field; the default path of the
   * second is /account. */
  assert_int_equal(feed_bytewise(f, "HTTP/1.1 200 OK\r\n"
                                    "Set-Cookie: sid=abc; Path=/\r\n"
                                    "set-cookie:lang=en \r\n"
                                    "Set-Cookie: s=1; Secure; Path=/\r\n"
                                    "Content-Length: 0\r\n\r\n"),
                   0);
  assert_success(0, "GET", "/account/login", 0);
  /* The matching ones go in a Cookie line before the blank line; the
   * Secure one not over plain HTTP. */
  assert_int_equal(submit(f, shop), 0);
  assert_string_equal(sent(f),
                      "GET /shop HTTP/1.1\r\n"
                      "Host: example.com\r\n" UA "Cookie: sid=abc\r\n\r\n");
  assert_int_equal(feed(f, OK_EMPTY), 0);
  assert_int_equal(submit(f, acct), 0);
  assert_string_equal(sent(f), "GET /account/x HTTP/1.1\r\n"
                               "Host: example.com\r\n" UA
                               "Cookie: lang=en; sid=abc\r\n\r\n");
  /* Max-Age=0 removes one. */
  assert_int_equal(feed(f, "HTTP/1.1 200 OK\r\nSet-Cookie: sid=x; Max-Age=0; "
                           "Path=/\r\nContent-Length: 0\r\n\r\n"),
                   0);
  /* Another user has a jar of its own. */
  fh.user_id = 2;
  assert_int_equal(submit(f, acct), 0);
  assert_string_equal(sent(f), "GET /account/x HTTP/1.1\r\n"
                               "Host: example.com\r\n" UA "\r\n");
  assert_int_equal(feed(f, OK_EMPTY), 0);
  fh.user_id = 1;
  assert_int_equal(submit(f, acct), 0);
  assert_string_equal(sent(f),
                      "GET /account/x HTTP/1.1\r\n"
                      "Host: example.com\r\n" UA "Cookie: lang=en\r\n\r\n");
  assert_int_equal(feed(f, OK_EMPTY), 0);
  /* The user stops: its jar goes with it. */
  int freed = fh.states_freed;
  rl_fake_user_stop(&fh, 1);
  assert_int_equal(fh.states_freed, freed + 1);
  assert_int_equal(submit(f, acct), 0);
  assert_string_equal(sent(f), "GET /account/x HTTP/1.1\r\n"
                               "Host: example.com\r\n" UA "\r\n");
  assert_int_equal(feed(f, OK_EMPTY), 0);
}

static void test_cookies_not_from_1xx_or_trailers(void **state) {
  struct fx *f = *state;
  void *st = get_step(f, "/", NULL, 0);
  fh.user_id = 3;
  assert_int_equal(submit(f, st), 0);
  (void)sent(f);
  assert_int_equal(feed(f, "HTTP/1.1 103 Early Hints\r\n"
                           "Set-Cookie: early=1\r\n\r\n"
                           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                           "Trailer: Set-Cookie\r\n\r\n"
                           "2\r\nok\r\n0\r\nSet-Cookie: late=1\r\n\r\n"),
                   0);
  assert_success(0, "GET", "/", 2);
  assert_int_equal(submit(f, st), 0);
  assert_string_equal(sent(f),
                      "GET / HTTP/1.1\r\nHost: example.com\r\n" UA "\r\n");
  assert_int_equal(feed(f, OK_EMPTY), 0);
}

static void test_cookies_off_and_the_steps_own(void **state) {
  struct fx *f = *state;
  rl_kv off[] = {{"cookies", "off"}};
  void *no_jar = get_step(f, "/", off, 1);
  rl_kv own[] = {{"cookies", "{\"t\":\"u{{user_id}}\",\"sid\":\"mine\"}"}};
  void *with_own = get_step(f, "/", own, 1);
  rl_step_spec s = base_spec();
  rl_kv hdr[] = {{"Cookie", "hand=made"}};
  s.headers = hdr;
  s.n_headers = 1;
  void *by_hand = add_step(f, &s);
  void *plain = get_step(f, "/", NULL, 0);
  fh.user_id = 4;
  /* Jar off: Set-Cookie is not kept, nothing is sent. */
  assert_int_equal(submit(f, no_jar), 0);
  (void)sent(f);
  assert_int_equal(
      feed(f,
           "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nContent-Length: 0\r\n\r\n"),
      0);
  assert_int_equal(submit(f, plain), 0);
  assert_string_equal(sent(f),
                      "GET / HTTP/1.1\r\nHost: example.com\r\n" UA "\r\n");
  assert_int_equal(feed(f, "HTTP/1.1 200 OK\r\nSet-Cookie: sid=jar\r\n"
                           "Set-Cookie: b=2\r\nContent-Length: 0\r\n\r\n"),
                   0);
  /* The step's own (templated) go first and replace the jar's of their
   * name for this request. */
  assert_int_equal(submit(f, with_own), 0);
  assert_string_equal(sent(f), "GET / HTTP/1.1\r\nHost: example.com\r\n" UA
                               "Cookie: t=u4; sid=mine; b=2\r\n\r\n");
  assert_int_equal(feed(f, OK_EMPTY), 0);
  /* A Cookie header of the user's wins over both (as in requests). */
  assert_int_equal(submit(f, by_hand), 0);
  assert_string_equal(sent(f), "GET / HTTP/1.1\r\nHost: example.com\r\n" UA
                               "Cookie: hand=made\r\n\r\n");
  assert_int_equal(feed(f, OK_EMPTY), 0);
  /* The jar kept sid=jar: the step's value was for one request. */
  assert_int_equal(submit(f, plain), 0);
  assert_string_equal(sent(f), "GET / HTTP/1.1\r\nHost: example.com\r\n" UA
                               "Cookie: sid=jar; b=2\r\n\r\n");
  assert_int_equal(feed(f, OK_EMPTY), 0);
}

static void test_cookie_options_refused(void **state) {
  (void)state;
  rl_step_spec s = base_spec();
  rl_kv bad_switch[] = {{"cookies", "maybe"}};
  s.options = bad_switch;
  s.n_options = 1;
  expect_rejected(&s, "option 'cookies' takes on, off or a JSON object of "
                      "names and values, got 'maybe'");
  rl_kv bad_json[] = {{"cookies", "{\"a\":1}"}};
  s.options = bad_json;
  expect_rejected(&s, "cookie 'a' needs a text value");
  rl_kv bad_name[] = {{"cookies", "{\"a b\":\"1\"}"}};
  s.options = bad_name;
  expect_rejected(&s, "cookie name 'a b' is not a valid token");
  rl_kv bad_value[] = {{"cookies", "{\"a\":\"1;b=2\"}"}};
  s.options = bad_value;
  expect_rejected(&s, "cookie 'a' has a ';' or a control character in its "
                      "value");
  rl_kv bad_follow[] = {{"allow_redirects", "sometimes"}};
  s.options = bad_follow;
  expect_rejected(&s, "option 'allow_redirects' takes true or false, got "
                      "'sometimes'");
  rl_kv bad_max[] = {{"max_redirects", "-1"}};
  s.options = bad_max;
  expect_rejected(&s, "option 'max_redirects' takes 0 to 1000, got '-1'");
}

/* ---- Redirects --------------------------------------------------------------- */

static void test_redirect_followed_on_the_connection(void **state) {
  struct fx *f = *state;
  rl_step_spec s = base_spec();
  s.method = "POST";
  s.path = "/shop/form";
  s.body = (const uint8_t *)"{\"a\":1}";
  s.body_len = 7;
  s.body_type = "application/json";
  rl_kv h[] = {{"X-Trace", "t1"}};
  s.headers = h;
  s.n_headers = 1;
  void *st = add_step(f, &s);
  fh.user_id = 5;
  fh.wants_response = 1;
  assert_int_equal(submit(f, st), 0);
  (void)sent(f);
  /* 302: a GET without the body and what described it; the 3xx's cookie
   * goes along; a relative Location resolves on the request's path. */
  assert_int_equal(feed(f, "HTTP/1.1 302 Found\r\nLocation: done?x=1\r\n"
                           "Set-Cookie: flash=1; Path=/\r\n"
                           "Content-Length: 5\r\n\r\nmoved"),
                   0);
  assert_int_equal(fh.n_events, 0);
  assert_string_equal(sent(f), "GET /shop/done?x=1 HTTP/1.1\r\n"
                               "Host: example.com\r\n" UA "X-Trace: t1\r\n"
                               "Cookie: flash=1\r\n\r\n");
  /* 307 keeps the method, the body and its type. */
  assert_int_equal(feed(f, "HTTP/1.1 307 Temporary Redirect\r\n"
                           "Location: http://example.com/final\r\n"
                           "Content-Length: 0\r\n\r\n"),
                   0);
  assert_string_equal(sent(f), "GET /final HTTP/1.1\r\n"
                               "Host: example.com\r\n" UA "X-Trace: t1\r\n"
                               "Cookie: flash=1\r\n\r\n");
  assert_int_equal(fh.n_events, 0);
  /* The last response decides, under the step's type and name, with its
   * own bytes; it is the one handed over. */
  assert_int_equal(feed(f, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
                   0);
  assert_int_equal(fh.n_events, 1);
  assert_success(0, "POST", "/shop/form", 2);
  assert_int_equal(last()->status, 200);
  assert_string_equal(last()->body, "ok");
  assert_int_equal(fh.n_responses, 1);

  /* The next request starts afresh, with the step's own bytes. */
  assert_int_equal(submit(f, st), 0);
  assert_true(strncmp(sent(f), "POST /shop/form HTTP/1.1\r\n", 26) == 0);
  assert_int_equal(feed(f, "HTTP/1.1 308 Permanent Redirect\r\n"
                           "Location: /keep\r\nContent-Length: 0\r\n\r\n"),
                   0);
  assert_string_equal(sent(f), "POST /keep HTTP/1.1\r\n"
                               "Host: example.com\r\n" UA
                               "Content-Type: application/json\r\n"
                               "X-Trace: t1\r\nCookie: flash=1\r\n"
                               "Content-Length: 7\r\n\r\n{\"a\":1}");
  assert_int_equal(
      feed(f, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"), 0);
  assert_failure(1, "POST", "/shop/form", "HTTP 404 Not Found");
  assert_int_equal(last()->status, 404);
}

static void test_redirect_limits(void **state) {
  struct fx *f = *state;
  rl_kv two[] = {{"max_redirects", "2"}};
  void *st = get_step(f, "/a", two, 1);
  fh.user_id = 6;
  fh.wants_response = 1;
  const char *again = "HTTP/1.1 301 Moved\r\nLocation: /a\r\n"
                      "Content-Length: 0\r\n\r\n";
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, again), 0);
  assert_int_equal(feed(f, again), 0);
  assert_int_equal(fh.n_events, 0);
  /* The third: requests' words; nothing handed over (no response). */
  assert_int_equal(feed(f, again), 0);
  assert_failure(0, "GET", "/a", "Exceeded 2 redirects.");
  assert_int_equal(fh.n_responses, 0);

  /* Another origin is not followed, and says which. */
  void *plain = get_step(f, "/a", NULL, 0);
  assert_int_equal(submit(f, plain), 0);
  assert_int_equal(feed(f, "HTTP/1.1 302 Found\r\n"
                           "Location: https://sso.example.com/login?x=1\r\n"
                           "Content-Length: 0\r\n\r\n"),
                   0);
  assert_failure(1, "GET", "/a",
                 "HTTP 302 redirect to https://sso.example.com: another "
                 "origin, not followed");
  /* A Location that is no http URL neither. */
  assert_int_equal(submit(f, plain), 0);
  assert_int_equal(feed(f, "HTTP/1.1 302 Found\r\nLocation: ftp://x/\r\n"
                           "Content-Length: 0\r\n\r\n"),
                   0);
  assert_failure(2, "GET", "/a",
                 "HTTP 302 redirect with a Location that is not an http or "
                 "https URL");
  /* A 3xx without a Location, or with an empty one, or a 304: the
   * response itself. */
  assert_int_equal(submit(f, plain), 0);
  assert_int_equal(feed(f, "HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n"),
                   0);
  assert_success(3, "GET", "/a", 0);
  assert_int_equal(submit(f, plain), 0);
  assert_int_equal(
      feed(f, "HTTP/1.1 302 Found\r\nLocation: \r\nContent-Length: 0\r\n\r\n"),
      0);
  assert_success(4, "GET", "/a", 0);
  assert_int_equal(submit(f, plain), 0);
  assert_int_equal(feed(f, "HTTP/1.1 304 Not Modified\r\nLocation: /b\r\n\r\n"),
                   0);
  assert_success(5, "GET", "/a", 0);
  assert_int_equal(last()->status, 304);
}

static void test_redirect_not_followed(void **state) {
  struct fx *f = *state;
  rl_kv no[] = {{"allow_redirects", "false"}};
  void *off = get_step(f, "/a", no, 1);
  rl_step_spec s = base_spec();
  s.method = "HEAD";
  void *head = add_step(f, &s);
  rl_kv yes[] = {{"allow_redirects", "true"}};
  s.options = yes;
  s.n_options = 1;
  void *head_follow = add_step(f, &s);
  fh.user_id = 7;
  const char *moved = "HTTP/1.1 302 Found\r\nLocation: /b\r\n"
                      "Content-Length: 3\r\n\r\n";
  assert_int_equal(submit(f, off), 0);
  (void)sent(f);
  assert_int_equal(feed(f, "HTTP/1.1 302 Found\r\nLocation: /b\r\n"
                           "Content-Length: 3\r\n\r\nabc"),
                   0);
  assert_success(0, "GET", "/a", 3);
  /* HEAD does not follow unless asked (requests' Session.head); asked,
   * it stays HEAD. */
  assert_int_equal(submit(f, head), 0);
  (void)sent(f);
  assert_int_equal(feed(f, moved), 0);
  assert_success(1, "HEAD", "/", 0);
  assert_int_equal(submit(f, head_follow), 0);
  (void)sent(f);
  assert_int_equal(feed(f, moved), 0);
  assert_string_equal(sent(f),
                      "HEAD /b HTTP/1.1\r\nHost: example.com\r\n" UA "\r\n");
  assert_int_equal(feed(f, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"), 0);
  assert_success(2, "HEAD", "/", 0);
}

static void test_redirect_moves_when_the_server_closes(void **state) {
  struct fx *f = *state;
  rl_step_spec s = base_spec();
  s.method = "PUT";
  s.path = "/x/{{user_id}}";
  s.body = (const uint8_t *)"b{{seq}}";
  s.body_len = 8;
  void *st = add_step(f, &s);
  fh.user_id = 8;
  fh.user_seq = 3;
  fh.wants_response = 1;
  assert_int_equal(submit(f, st), 0);
  assert_string_equal(sent(f), "PUT /x/8 HTTP/1.1\r\nHost: example.com\r\n" UA
                               "Content-Length: 2\r\n\r\nb3");
  /* A 307 on a closing connection: the request moves to a new one. */
  assert_int_equal(feed(f, "HTTP/1.1 307 Temporary Redirect\r\n"
                           "Location: y\r\nConnection: close\r\n"
                           "Set-Cookie: k=v\r\nContent-Length: 0\r\n\r\n"),
                   0);
  assert_int_equal(fh.n_events, 0);
  assert_int_equal(fh.n_moves, 1);
  assert_true(f->conn.close_requested > 0);
  assert_string_equal(sent(f), "");
  del(f, RL_ERR_CLOSED, "connection closed");
  /* The host sends it on over a new connection: the next hop goes. */
  rl_conn_info info = {sizeof info, NULL, "example.com", 80, 0};
  assert_int_equal(P->session_new(&fh.host, &f->conn, &info, &f->session), 0);
  assert_int_equal(rl_fake_resubmit(&fh, P, f->session), 0);
  assert_string_equal(sent(f), "PUT /x/y HTTP/1.1\r\nHost: example.com\r\n" UA
                               "Cookie: k=v\r\nContent-Length: 2\r\n\r\nb3");
  /* An HTTP/1.0 server closes after every response: it moves again. */
  assert_int_equal(feed(f, "HTTP/1.0 301 Moved\r\nLocation: /z\r\n"
                           "Content-Length: 0\r\n\r\n"),
                   0);
  assert_int_equal(fh.n_moves, 2);
  del(f, RL_ERR_CLOSED, "connection closed");
  assert_int_equal(P->session_new(&fh.host, &f->conn, &info, &f->session), 0);
  assert_int_equal(rl_fake_resubmit(&fh, P, f->session), 0);
  /* 301 keeps PUT, without the body (requests drops it for all but 307
   * and 308); PUT says its length. k=v's path is /x (the default: the
   * directory of /x/8): not /z's. */
  assert_string_equal(sent(f), "PUT /z HTTP/1.1\r\nHost: example.com\r\n" UA
                               "Content-Length: 0\r\n\r\n");
  assert_int_equal(
      feed(f, "HTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\n!"), 0);
  assert_success(0, "PUT", "/x/{{user_id}}", 1);
  assert_int_equal(last()->status, 201);
  /* The user's next request (another number) starts afresh. */
  fh.user_seq = 4;
  assert_int_equal(submit(f, st), 0);
  assert_string_equal(sent(f), "PUT /x/8 HTTP/1.1\r\nHost: example.com\r\n" UA
                               "Content-Length: 2\r\nCookie: k=v\r\n\r\nb4");
  assert_int_equal(feed(f, OK_EMPTY), 0);
}

static void test_redirect_user_gone_midway(void **state) {
  struct fx *f = *state;
  void *st = get_step(f, "/a", NULL, 0);
  fh.user_id = 9;
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, "HTTP/1.1 302 Found\r\nLocation: /b\r\n"
                           "Content-Length: 0\r\n\r\n"),
                   0);
  (void)sent(f);
  /* Its user stopped (the jar and the chain went): the request is still
   * held and ends once, with the response that comes. */
  rl_fake_user_stop(&fh, 9);
  assert_int_equal(feed(f, "HTTP/1.1 302 Found\r\nLocation: /c\r\n"
                           "Content-Length: 0\r\n\r\n"),
                   0);
  assert_success(0, "GET", "/a", 0);
  assert_string_equal(sent(f), "");
  /* Cut while following: reported once, with the reason. */
  fh.user_id = 10;
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, "HTTP/1.1 302 Found\r\nLocation: /b\r\n"
                           "Content-Length: 0\r\n\r\n"),
                   0);
  del(f, RL_ERR_CANCELLED, "stopped");
  assert_failure(1, "GET", "/a", "stopped");
}

/* ---- A request's own header fields (ABI 1.7) -------------------------------- */

/* They replace the step's field of the same name (any case) and follow
 * the step's others, before the blank line and the body; a request
 * without them sends the step's bytes; a redirect's next hop keeps them. */
static void test_own_headers(void **state) {
  struct fx *f = *state;
  rl_kv step_h[] = {{"X-Step", "1"}, {"x-token", "old"}};
  rl_step_spec s = base_spec();
  s.method = "POST";
  s.headers = step_h;
  s.n_headers = 2;
  s.body = (const uint8_t *)"abc";
  s.body_len = 3;
  void *st = add_step(f, &s);
  rl_kv own[] = {{"X-Token", "new"}, {"Authorization", "Bearer t-1"}};
  fh.headers = own;
  fh.n_headers = 2;
  fh.user_id = 3;
  assert_int_equal(submit(f, st), 0);
  assert_string_equal(sent(f), "POST / HTTP/1.1\r\n"
                               "Host: example.com\r\n" UA "X-Step: 1\r\n"
                               "Content-Length: 3\r\n"
                               "X-Token: new\r\n"
                               "Authorization: Bearer t-1\r\n"
                               "\r\nabc");
  /* A 307 keeps the method, the body and the request's fields. */
  assert_int_equal(feed(f, "HTTP/1.1 307 Temporary Redirect\r\n"
                           "Location: /b\r\nContent-Length: 0\r\n\r\n"),
                   0);
  assert_string_equal(sent(f), "POST /b HTTP/1.1\r\n"
                               "Host: example.com\r\n" UA "X-Step: 1\r\n"
                               "X-Token: new\r\n"
                               "Authorization: Bearer t-1\r\n"
                               "Content-Length: 3\r\n\r\nabc");
  assert_int_equal(feed(f, OK_EMPTY), 0);
  assert_success(0, "POST", "/", 0);

  fh.headers = NULL;
  fh.n_headers = 0;
  assert_int_equal(submit(f, st), 0);
  assert_string_equal(sent(f),
                      "POST / HTTP/1.1\r\n"
                      "Host: example.com\r\n" UA "X-Step: 1\r\nx-token: old\r\n"
                      "Content-Length: 3\r\n\r\nabc");
  assert_int_equal(feed(f, OK_EMPTY), 0);
}

/* A name that is not a token, a value with CR or LF, or a field the
 * body sets: the request is refused with the reason, nothing written. */
static void test_own_headers_refused(void **state) {
  struct fx *f = *state;
  void *st = add_get_step(f);
  rl_kv bad_name[] = {{"X Bad", "1"}};
  rl_kv bad_value[] = {{"X-Ok", "a\r\nInjected: 1"}};
  rl_kv length[] = {{"content-length", "9"}};
  const struct {
    rl_kv *h;
    const char *why;
  } cases[] = {
      {bad_name, "header name \"X Bad\" is not a token"},
      {bad_value, "header X-Ok: its value holds a control character"},
      {length, "header content-length is set from the body"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    fh.headers = cases[i].h;
    fh.n_headers = 1;
    int refused = fh.n_refused;
    assert_int_equal(submit(f, st), RL_ERR_INVAL);
    assert_int_equal(fh.n_refused, refused + 1);
    if (strstr(fh.refused, cases[i].why) == NULL)
      fail_msg("refused with '%s', want '%s'", fh.refused, cases[i].why);
    assert_int_equal(f->conn.out_len, 0);
  }
  fh.headers = NULL;
  fh.n_headers = 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_descriptor),
      T(test_step_describe),
      T(test_request_get),
      T(test_request_post),
      T(test_request_json_body_type),
      T(test_request_headers),
      T(test_request_host_port),
      cmocka_unit_test(test_bad_specs),
      T(test_content_length_one_read),
      T(test_content_length_bytewise),
      T(test_chunked_splits),
      T(test_404),
      T(test_500),
      T(test_head),
      T(test_100_continue),
      T(test_connection_close),
      T(test_http10_close),
      T(test_http10_until_eof),
      T(test_404_until_eof),
      T(test_closed_mid_response),
      T(test_closed_before_response),
      T(test_del_io_error),
      T(test_del_timeout_no_reason),
      T(test_del_idle),
      T(test_busy),
      T(test_write_failure),
      T(test_garbage),
      T(test_bad_chunk),
      T(test_unsolicited),
      T(test_extra_response),
      T(test_keep_alive),
      T(test_no_content),
      T(test_switching_protocols),
      T(test_templated_request),
      T(test_templated_parts),
      T(test_templated_unsafe_values),
      cmocka_unit_test(test_templated_bad_specs),
      T(test_response_handed_over),
      T(test_response_parts_only_what_the_host_reads),
      T(test_response_error_status),
      T(test_response_until_eof_and_cut),
      T(test_response_not_on_errors),
      T(test_response_not_wanted),
      T(test_response_old_host),
      T(test_cookies_kept_per_user),
      T(test_cookies_not_from_1xx_or_trailers),
      T(test_cookies_off_and_the_steps_own),
      cmocka_unit_test(test_cookie_options_refused),
      T(test_redirect_followed_on_the_connection),
      T(test_redirect_limits),
      T(test_redirect_not_followed),
      T(test_redirect_moves_when_the_server_closes),
      T(test_redirect_user_gone_midway),
      T(test_own_headers),
      T(test_own_headers_refused),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/*
 * Unit test of the redis example plugin (examples/plugins/redis), through
 * the plugin ABI only, with no sockets: the test loads redis.so with
 * rpcload's loader, plays the host with tests/unit/fake_host (conn_write
 * appends to a buffer; each request is reported exactly once, never from
 * inside session_submit, and freed there; template_expand frees, after
 * scribbling over, its previous result on every call, so a plugin that
 * keeps an expansion past the next expand reads freed memory), and feeds
 * reply bytes by hand.
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

static rl_fake_host fh;

/* A contract the plugin broke fails the test at once. */
static void violation(const char *what) { fail_msg("fake host: %s", what); }

/* ---- Loading the plugin -------------------------------------------------- */

static rl__plugin_set plugins;
static const rl_plugin *P;

/* Loaded through rpcload's own loader, so the plugin under test also
 * passes its checks (entry symbol, ABI, size, required members). */
static int group_setup(void **state) {
  (void)state;
  if (rl_codec_test_load(&fh, &plugins, RL_TEST_PLUGIN_DIR "/redis.so",
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
  uint64_t user_id, seq; /* given to the next request */
};

static int fx_setup(void **state) {
  rl_fake_host_init(&fh);
  fh.on_violation = violation;
  struct fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  f->user_id = 1;
  rl_conn_info info = {sizeof info, NULL, "127.0.0.1", 6379, 0};
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
  rl_fake_host_check_idle(&fh);
  for (int i = 0; i < f->n_steps; i++)
    P->step_del(f->steps[i]);
  rl_fake_conn_free(&f->conn);
  free(f);
  return 0;
}

static rl_step_spec base_spec(const rl_kv *opts, size_t n_opts) {
  rl_step_spec s;
  memset(&s, 0, sizeof s);
  s.struct_size = sizeof s;
  s.url = "redis://127.0.0.1:6379";
  s.scheme = "redis";
  s.host = "127.0.0.1";
  s.port = 6379;
  s.path = "/";
  s.options = opts;
  s.n_options = n_opts;
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

/* A step for --call `call` (and --name `name` unless NULL). */
static void *add_call(struct fx *f, const char *call, const char *name) {
  rl_kv opt = {"call", call};
  rl_step_spec s = base_spec(&opt, 1);
  s.name = name;
  return add_step(f, &s);
}

/* Submits a new request for step, for the fixture's user and its next
 * seq; returns the plugin's code. */
static int submit(struct fx *f, void *step) {
  fh.user_id = f->user_id;
  fh.user_seq = ++f->seq;
  return rl_fake_submit(&fh, P, f->session, step);
}

static int feed_n(struct fx *f, const char *data, size_t len) {
  return P->session_on_read(f->session, (const uint8_t *)data, len);
}

static int feed(struct fx *f, const char *data) {
  return feed_n(f, data, strlen(data));
}

/* Feeds len bytes one byte per read; returns the first non-zero code. */
static int feed_bytewise(struct fx *f, const char *data, size_t len) {
  for (size_t i = 0; i < len; i++) {
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

/* Forgets the events seen so far (all reported), to keep the table small
 * in loops: the invariant is what matters. */
static void reset_events(void) {
  assert_int_equal(fh.n_events, fh.n_accepted);
  rl_fake_host_forget_events(&fh);
}

static void assert_success(int i, const char *name, uint64_t bytes) {
  assert_true(i < fh.n_events);
  const rl_fake_event *e = &fh.events[i];
  if (e->failed)
    fail_msg("event %d failed: %s", i, e->error);
  assert_string_equal(e->type, "redis");
  assert_string_equal(e->name, name);
  assert_int_equal(e->bytes, bytes);
}

static void assert_failure(int i, const char *name, const char *error) {
  assert_true(i < fh.n_events);
  const rl_fake_event *e = &fh.events[i];
  assert_true(e->failed);
  assert_string_equal(e->type, "redis");
  assert_string_equal(e->name, name);
  assert_string_equal(e->error, error);
}

/* Submits one request for step and checks the bytes it sent. */
static void assert_sends(struct fx *f, void *step, const char *want,
                         size_t want_len) {
  size_t before = f->conn.out_len;
  assert_int_equal(submit(f, step), 0);
  assert_int_equal(f->conn.out_len - before, want_len);
  assert_memory_equal(f->conn.out + before, want, want_len);
}

#define SENDS(f, step, lit) assert_sends((f), (step), (lit), sizeof(lit) - 1)

/* ---- Descriptor ------------------------------------------------------------ */

static void test_descriptor(void **state) {
  (void)state;
  assert_int_equal(RL_ABI_VERSION_MAJOR(P->abi_version), RL_ABI_MAJOR);
  assert_true(P->struct_size >= RL_PLUGIN_MIN_SIZE);
  assert_string_equal(P->name, "redis");
  assert_string_equal(P->version, "0.1.0");
  assert_non_null(P->summary);
  assert_int_equal(P->kind, RL_PLUGIN_CODEC);
  assert_string_equal(P->schemes[0].name, "redis");
  assert_int_equal(P->schemes[0].default_port, 6379);
  assert_int_equal(P->schemes[0].tls, 0);
  assert_string_equal(P->schemes[1].name, "rediss");
  assert_int_equal(P->schemes[1].default_port, 6379);
  assert_int_equal(P->schemes[1].tls, 1);
  assert_null(P->schemes[2].name);
  assert_null(P->alpn);
  assert_non_null(P->step_new);
  assert_non_null(P->step_del);
  assert_non_null(P->session_new);
  assert_non_null(P->session_submit);
  assert_non_null(P->session_on_read);
  assert_non_null(P->session_del);
  assert_non_null(P->step_describe);
  assert_non_null(P->session_max_concurrent);
}

static void test_max_concurrent(void **state) {
  struct fx *f = *state;
  assert_int_equal(P->session_max_concurrent(f->session), 64);
}

/* The host reports its own failures (connection refused) under the step's
 * default type and name: they must match what the plugin reports. */
static void test_step_describe(void **state) {
  struct fx *f = *state;
  const char *type = NULL, *name = NULL;
  void *get = add_call(f, "get key:{{random_int 1 1000}}", NULL);
  P->step_describe(get, &type, &name);
  assert_string_equal(type, "redis");
  assert_string_equal(name, "GET");
  void *named = add_call(f, "SET k v", "set k");
  P->step_describe(named, &type, &name);
  assert_string_equal(type, "redis");
  assert_string_equal(name, "set k");
  /* An empty --name is no name. */
  void *empty = add_call(f, "hGetAll h", "");
  P->step_describe(empty, &type, &name);
  assert_string_equal(name, "HGETALL");

  /* And the events carry the same. */
  assert_int_equal(submit(f, get), 0);
  assert_int_equal(submit(f, named), 0);
  assert_int_equal(feed(f, "$-1\r\n+OK\r\n"), 0);
  assert_success(0, "GET", 5);
  assert_success(1, "set k", 5);
}

/* ---- Command encoding ------------------------------------------------------ */

static void test_encode_constant(void **state) {
  struct fx *f = *state;
  void *st = add_call(f, "GET key:1", NULL);
  SENDS(f, st, "*2\r\n$3\r\nGET\r\n$5\r\nkey:1\r\n");
  /* The same bytes every time. */
  SENDS(f, st, "*2\r\n$3\r\nGET\r\n$5\r\nkey:1\r\n");

  /* Blanks of any kind and number separate; the verb is sent as written. */
  st = add_call(f, "  ping\t ", NULL);
  SENDS(f, st, "*1\r\n$4\r\nping\r\n");

  st = add_call(f, "MSET a 1 b 22 c 333", NULL);
  SENDS(f, st,
        "*7\r\n$4\r\nMSET\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n"
        "$2\r\n22\r\n$1\r\nc\r\n$3\r\n333\r\n");
}

static void test_encode_templated(void **state) {
  struct fx *f = *state;
  void *st = add_call(f, "SET user:{{user_id}} v{{seq}}", NULL);
  f->user_id = 7;
  SENDS(f, st, "*3\r\n$3\r\nSET\r\n$6\r\nuser:7\r\n$2\r\nv1\r\n");
  f->seq = 41;
  f->user_id = 1234;
  SENDS(f, st, "*3\r\n$3\r\nSET\r\n$9\r\nuser:1234\r\n$3\r\nv42\r\n");

  /* Two templated arguments side by side: each is copied out before the
   * next expansion (the host frees the previous one). */
  st = add_call(f, "HSET h:{{user_id}} {{seq}} {{user_id}}-{{seq}}", NULL);
  f->user_id = 5;
  f->seq = 99;
  SENDS(f, st, "*4\r\n$4\r\nHSET\r\n$3\r\nh:5\r\n$3\r\n100\r\n$5\r\n5-100\r\n");

  /* Blanks inside {{...}} belong to the template; the value is in range
   * and its length header matches. */
  st = add_call(f, "GET key:{{random_int 1 1000}}", NULL);
  for (int i = 0; i < 50; i++) {
    size_t before = f->conn.out_len;
    assert_int_equal(submit(f, st), 0);
    const char *o = f->conn.out + before;
    unsigned len = 0, n = 0;
    int used = 0;
    assert_int_equal(
        sscanf(o, "*2\r\n$3\r\nGET\r\n$%u\r\nkey:%u\r\n%n", &len, &n, &used),
        2);
    assert_int_equal(used, f->conn.out_len - before);
    assert_true(n >= 1 && n <= 1000);
    assert_int_equal(len, 4 + snprintf(NULL, 0, "%u", n));
  }
  /* An expansion that expands to nothing is an empty argument. */
  st = add_call(f, "ECHO {{random_string 0}}", NULL);
  SENDS(f, st, "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n");

  /* A big expansion. */
  st = add_call(f, "SET k {{random_string 100000}}", NULL);
  size_t before = f->conn.out_len;
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(f->conn.out_len - before,
                   strlen("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000\r\n") +
                       100000 + 2);
}

static void test_encode_quoted(void **state) {
  struct fx *f = *state;
  void *st = add_call(f, "SET k 'a b'", NULL);
  SENDS(f, st, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\na b\r\n");

  st = add_call(f, "SET \"key with  blanks\" \"say \\\"hi\\\"\"", NULL);
  SENDS(f, st,
        "*3\r\n$3\r\nSET\r\n$16\r\nkey with  blanks\r\n"
        "$8\r\nsay \"hi\"\r\n");

  /* redis-cli's escapes: \n \r \t \xHH in double quotes, \' in single. */
  st = add_call(f, "ECHO \"a\\tb\\r\\n\\x41\\x00z\" 'it\\'s' '\\n'", NULL);
  SENDS(f, st,
        "*4\r\n$4\r\nECHO\r\n$8\r\na\tb\r\nA\0z\r\n$4\r\nit's\r\n"
        "$2\r\n\\n\r\n");

  /* Empty quoted arguments are arguments. */
  st = add_call(f, "SET \"\" ''", NULL);
  SENDS(f, st, "*3\r\n$3\r\nSET\r\n$0\r\n\r\n$0\r\n\r\n");

  /* A quote opened inside a word; a template inside quotes. */
  st = add_call(f, "SET key\"a b\" 'v {{user_id}} w'", NULL);
  f->user_id = 3;
  SENDS(f, st, "*3\r\n$3\r\nSET\r\n$6\r\nkeya b\r\n$5\r\nv 3 w\r\n");

  /* Outside quotes a backslash is just a byte. */
  st = add_call(f, "GET a\\b", NULL);
  SENDS(f, st, "*2\r\n$3\r\nGET\r\n$3\r\na\\b\r\n");
}

static void test_expand_failure(void **state) {
  struct fx *f = *state;
  void *st = add_call(f, "GET k{{seq}}", NULL);
  fh.fail_expand = 1;
  size_t out = f->conn.out_len;
  assert_int_equal(submit(f, st), RL_ERR_NOMEM);
  assert_int_equal(f->conn.out_len, out); /* nothing half-written */
  fh.fail_expand = 0;
  /* The refused request is not held: the next reply is the next one's. */
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, "$1\r\nx\r\n"), 0);
  assert_int_equal(fh.n_events, 1);
  assert_int_equal(fh.events[0].req_id, 2);
}

/* ---- Bad step specs ------------------------------------------------------- */

static void expect_rejected_rc(const rl_host *host, const rl_step_spec *spec,
                               int want_rc, const char *want) {
  char err[256];
  void *st = NULL;
  memset(err, 'x', sizeof err);
  int rc = P->step_new(host, spec, &st, err, sizeof err);
  assert_int_equal(rc, want_rc);
  assert_null(st);
  assert_string_equal(err, want);
}

static void expect_rejected(const rl_step_spec *spec, const char *want) {
  expect_rejected_rc(&fh.host, spec, RL_ERR_INVAL, want);
}

static void expect_call_rejected(const char *call, const char *want) {
  rl_kv opt = {"call", call};
  rl_step_spec s = base_spec(&opt, 1);
  expect_rejected(&s, want);
}

static void test_bad_specs(void **state) {
  (void)state;
  rl_kv get = {"call", "GET k"};
  rl_step_spec s;

  s = base_spec(NULL, 0);
  expect_rejected(&s, "needs --call with a command, e.g. --call "
                      "'GET key:{{random_int 1 1000}}'");

  rl_kv unknown[] = {{"call", "GET k"}, {"dbs", "2"}};
  s = base_spec(unknown, 2);
  expect_rejected(&s, "option 'dbs' is not known to redis (it takes --call, "
                      "-O db=N, -O password=P, -O username=U)");
  rl_kv bad_db[] = {{"call", "GET k"}, {"db", "two"}};
  s = base_spec(bad_db, 2);
  expect_rejected(&s, "-O db='two': not a database number");
  rl_kv user_only[] = {{"call", "GET k"}, {"username", "app"}};
  s = base_spec(user_only, 2);
  expect_rejected(&s, "-O username= needs -O password= too");

  rl_kv twice[] = {{"call", "GET k"}, {"call", "GET j"}};
  s = base_spec(twice, 2);
  expect_rejected(&s, "--call given twice (one command per step)");

  s = base_spec(&get, 1);
  s.method = "POST";
  expect_rejected(&s, "-X (method) makes no sense for Redis: put the command "
                      "in --call");

  rl_kv hdr = {"X-A", "1"};
  s = base_spec(&get, 1);
  s.headers = &hdr;
  s.n_headers = 1;
  expect_rejected(&s, "-H (headers) makes no sense for Redis");

  s = base_spec(&get, 1);
  s.body = (const uint8_t *)"";
  s.body_len = 0;
  expect_rejected(&s, "-d (body) makes no sense for Redis: put the value in "
                      "--call");

  s = base_spec(&get, 1);
  s.path = "/x";
  expect_rejected(&s, "the URL path '/x' is not a database number: use "
                      "redis://HOST:PORT/N or -O db=N");
  rl_kv db3[] = {{"call", "GET k"}, {"db", "3"}};
  s = base_spec(db3, 2);
  s.path = "/2";
  expect_rejected(&s, "the URL selects database 2, -O db=3");

  expect_call_rejected("", "--call is empty: give a command, e.g. --call "
                           "'GET key:1'");
  expect_call_rejected(" \t ", "--call is empty: give a command, e.g. --call "
                               "'GET key:1'");
  expect_call_rejected("SET k 'a b",
                       "--call has an unbalanced ' (opened at column 7)");
  expect_call_rejected("SET k \"a b",
                       "--call has an unbalanced \" (opened at column 7)");
  expect_call_rejected("SET k \"a\\\"",
                       "--call has an unbalanced \" (opened at column 7)");
  expect_call_rejected("SET k 'a'b", "--call: the quote closed at column 9 "
                                     "must be followed by a blank");
  expect_call_rejected(
      "GET key:{{nope}}",
      "--call argument 2 'key:{{nope}}': unknown template name 'nope' at "
      "column 9 (known: user_id, seq, uuid, timestamp, timestamp_ms, "
      "random_int A B, random_string N)");
  expect_call_rejected("GET key:{{random_int 1",
                       "--call argument 2 'key:{{random_int 1': '{{' at "
                       "column 9 has no closing '}}'");
  expect_call_rejected("GET {{random_int 9 1}}",
                       "--call argument 2 '{{random_int 9 1}}': random_int "
                       "at column 5 needs two integers A <= B");
  {
    /* A 1.5 host has no template_new_at: columns count in the argument. */
    rl_host h15 = fh.host;
    h15.struct_size = (uint32_t)offsetof(rl_host, conn_step);
    rl_kv opt = {"call", "GET {{random_int 9 1}}"};
    rl_step_spec s15 = base_spec(&opt, 1);
    expect_rejected_rc(&h15, &s15, RL_ERR_INVAL,
                       "--call argument 2 '{{random_int 9 1}}': random_int "
                       "at column 1 needs two integers A <= B");
  }

  /* A host from before ABI 1.1 has no templates to offer. */
  rl_host old = fh.host;
  old.abi_version = (RL_ABI_MAJOR << 16) | 0;
  old.struct_size = (uint32_t)offsetof(rl_host, template_new);
  s = base_spec(&get, 1);
  expect_rejected_rc(&old, &s, RL_ERR_ABI,
                     "needs rpcload with plugin ABI 1.1 or newer (request "
                     "templates); this one offers 1.0");

  /* A tiny err buffer is cut, never overrun; none at all is fine. */
  char small[8];
  void *st = NULL;
  s = base_spec(NULL, 0);
  assert_int_equal(P->step_new(&fh.host, &s, &st, small, sizeof small),
                   RL_ERR_INVAL);
  assert_string_equal(small, "needs -");
  assert_int_equal(P->step_new(&fh.host, &s, &st, NULL, 0), RL_ERR_INVAL);
  assert_null(st);
}

/* ---- Replies ------------------------------------------------------------- */

struct reply {
  const char *bytes;
  size_t len;
  const char *error; /* NULL: success */
};

#define R(lit, error)                                                          \
  { (lit), sizeof(lit) - 1, (error) }

/* One of each kind, with the edges of each. */
static const struct reply every_kind[] = {
    R("+OK\r\n", NULL),
    R("+\r\n", NULL),
    /* The arguments Redis echoes are cut: one error text per command. */
    R("-ERR unknown command 'FOO', with args beginning with: 'key:17' \r\n",
      "ERR unknown command 'FOO'"),
    R("-ERR unknown subcommand 'x'. Try CONFIG HELP.\r\n",
      "ERR unknown subcommand 'x'. Try CONFIG HELP."),
    R("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
      "WRONGTYPE Operation against a key holding the wrong kind of value"),
    R(":0\r\n", NULL),
    R(":-9223372036854775808\r\n", NULL),
    R(":9223372036854775807\r\n", NULL),
    R("$5\r\nhello\r\n", NULL),
    R("$0\r\n\r\n", NULL),
    R("$-1\r\n", NULL),
    /* A bulk is counted, not scanned: CRLF, '$' and NUL inside are data. */
    R("$8\r\n\r\n$1\r\n\0*\r\n", NULL),
    R("*-1\r\n", NULL),
    R("*0\r\n", NULL),
    R("*3\r\n$3\r\nfoo\r\n$-1\r\n:42\r\n", NULL),
    /* Nested, with null and empty members and an error inside (one command
     * of an EXEC failing does not fail the EXEC). */
    R("*4\r\n*2\r\n*1\r\n*0\r\n$-1\r\n*-1\r\n-ERR inner\r\n"
      "*2\r\n+a\r\n*1\r\n:1\r\n",
      NULL),
};

#define N_KINDS (sizeof every_kind / sizeof every_kind[0])

static void assert_reply_event(int i, const struct reply *r) {
  if (r->error != NULL)
    assert_failure(i, "GET", r->error);
  else
    assert_success(i, "GET", r->len);
  assert_int_equal(fh.events[i].bytes, r->len);
}

/* Each reply, cut into two reads at every byte: nothing completes before
 * its last byte, and then exactly one request does. */
static void test_every_kind_split(void **state) {
  struct fx *f = *state;
  void *st = add_call(f, "GET k", NULL);
  for (size_t k = 0; k < N_KINDS; k++) {
    const struct reply *r = &every_kind[k];
    for (size_t cut = 0; cut <= r->len; cut++) {
      assert_int_equal(submit(f, st), 0);
      assert_int_equal(feed_n(f, r->bytes, cut), 0);
      assert_int_equal(fh.n_events, cut == r->len ? 1 : 0);
      assert_int_equal(feed_n(f, r->bytes + cut, r->len - cut), 0);
      assert_int_equal(fh.n_events, 1);
      assert_reply_event(0, r);
      reset_events();
    }
    /* One byte per read. */
    assert_int_equal(submit(f, st), 0);
    for (size_t i = 0; i < r->len; i++) {
      assert_int_equal(fh.n_events, 0);
      assert_int_equal(feed_n(f, r->bytes + i, 1), 0);
    }
    assert_int_equal(fh.n_events, 1);
    assert_reply_event(0, r);
    reset_events();
  }
}

/* All the kinds pipelined back to back, cut into two reads at every byte
 * of the whole stream, then one byte per read: replies end their own
 * requests, in order, wherever the reads fall. */
static void test_every_kind_pipelined(void **state) {
  struct fx *f = *state;
  void *st = add_call(f, "GET k", NULL);
  char all[1024];
  size_t len = 0, ends[N_KINDS];
  for (size_t k = 0; k < N_KINDS; k++) {
    assert_true(len + every_kind[k].len <= sizeof all);
    memcpy(all + len, every_kind[k].bytes, every_kind[k].len);
    len += every_kind[k].len;
    ends[k] = len;
  }
  for (size_t cut = 0; cut <= len; cut++) {
    for (size_t k = 0; k < N_KINDS; k++)
      assert_int_equal(submit(f, st), 0);
    int first = fh.next_id - (int)N_KINDS + 1;
    assert_int_equal(feed_n(f, all, cut), 0);
    size_t done = 0;
    while (done < N_KINDS && ends[done] <= cut)
      done++;
    assert_int_equal(fh.n_events, done);
    assert_int_equal(feed_n(f, all + cut, len - cut), 0);
    assert_int_equal(fh.n_events, N_KINDS);
    for (size_t k = 0; k < N_KINDS; k++) {
      assert_int_equal(fh.events[k].req_id, first + (int)k);
      assert_reply_event((int)k, &every_kind[k]);
    }
    reset_events();
  }
  for (size_t k = 0; k < N_KINDS; k++)
    assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed_bytewise(f, all, len), 0);
  assert_int_equal(fh.n_events, N_KINDS);
  for (size_t k = 0; k < N_KINDS; k++)
    assert_reply_event((int)k, &every_kind[k]);
}

static void test_deep_nesting(void **state) {
  struct fx *f = *state;
  void *st = add_call(f, "EVAL x 0", NULL);
  /* 10,000 levels of one-element arrays around one integer: the parser
   * counts what it owes, it keeps no stack. */
  enum { DEPTH = 10000 };
  char *r = malloc(DEPTH * 4 + 8);
  assert_non_null(r);
  size_t len = 0;
  for (int i = 0; i < DEPTH; i++) {
    // NOLINTNEXTLINE(bugprone-not-null-terminated-result): bytes, no string
    memcpy(r + len, "*1\r\n", 4);
    len += 4;
  }
  // NOLINTNEXTLINE(bugprone-not-null-terminated-result): bytes, no string
  memcpy(r + len, ":1\r\n", 4);
  len += 4;
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed_n(f, r, len - 1), 0);
  assert_int_equal(fh.n_events, 0);
  assert_int_equal(feed_n(f, r + len - 1, 1), 0);
  assert_int_equal(fh.n_events, 1);
  assert_success(0, "EVAL", len);
  free(r);
}

static void test_large_bulk(void **state) {
  struct fx *f = *state;
  void *st = add_call(f, "GET big", NULL);
  enum { SIZE = 1 << 20 };
  const char *head = "$1048576\r\n";
  size_t len = strlen(head) + SIZE + 2;
  char *r = malloc(len);
  assert_non_null(r);
  // NOLINTNEXTLINE(bugprone-not-null-terminated-result): bytes, no string
  memcpy(r, head, strlen(head));
  /* The payload looks like RESP: it must be skipped, not parsed. */
  for (size_t i = 0; i < SIZE; i++)
    r[strlen(head) + i] = "-ERR\r\n*$:+"[i % 10];
  // NOLINTNEXTLINE(bugprone-not-null-terminated-result): bytes, no string
  memcpy(r + len - 2, "\r\n", 2);

  /* In pieces of odd sizes, then in one read. */
  static const size_t sizes[] = {1, 7, 4096, 65536, 3, 100000};
  assert_int_equal(submit(f, st), 0);
  size_t off = 0;
  for (size_t i = 0; off < len; i++) {
    size_t n = sizes[i % (sizeof sizes / sizeof sizes[0])];
    if (n > len - off)
      n = len - off;
    assert_int_equal(fh.n_events, 0);
    assert_int_equal(feed_n(f, r + off, n), 0);
    off += n;
  }
  assert_int_equal(fh.n_events, 1);
  assert_success(0, "GET", len);

  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed_n(f, r, len), 0);
  assert_int_equal(fh.n_events, 2);
  assert_success(1, "GET", len);
  free(r);
}

static void test_error_reply(void **state) {
  struct fx *f = *state;
  void *st = add_call(f, "INCR notanumber", NULL);
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, "-ERR value is not an integer or out of range\r\n"),
                   0);
  assert_int_equal(fh.n_events, 1);
  assert_failure(0, "INCR", "ERR value is not an integer or out of range");
  assert_int_equal(fh.events[0].bytes,
                   strlen("-ERR value is not an integer or out of range\r\n"));

  /* The session goes on after an error reply. */
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, ":2\r\n"), 0);
  assert_success(1, "INCR", 4);

  /* A long message is cut at 200 bytes; an empty one still says why. */
  char r[600];
  memset(r, 'e', sizeof r);
  r[0] = '-';
  // NOLINTNEXTLINE(bugprone-not-null-terminated-result): bytes, no string
  memcpy(r + sizeof r - 2, "\r\n", 2);
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed_bytewise(f, r, sizeof r), 0);
  assert_int_equal(fh.n_events, 3);
  assert_true(fh.events[2].failed);
  assert_int_equal(strlen(fh.events[2].error), 200);
  assert_int_equal(fh.events[2].bytes, sizeof r);
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, "-\r\n"), 0);
  assert_failure(3, "INCR", "empty Redis error reply");
}

static void test_pipelined_fifo(void **state) {
  struct fx *f = *state;
  void *set = add_call(f, "SET k v", NULL);
  void *get = add_call(f, "GET k", "get it");
  void *incr = add_call(f, "INCR k", NULL);
  assert_int_equal(submit(f, set), 0);
  assert_int_equal(submit(f, get), 0);
  assert_int_equal(submit(f, incr), 0);
  assert_string_equal(f->conn.out, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"
                                   "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
                                   "*2\r\n$4\r\nINCR\r\n$1\r\nk\r\n");
  assert_int_equal(fh.n_events, 0);
  assert_int_equal(
      feed(f, "+OK\r\n$1\r\nv\r\n-ERR value is not an integer or out of "
              "range\r\n"),
      0);
  assert_int_equal(fh.n_events, 3);
  assert_success(0, "SET", 5);
  assert_int_equal(fh.events[0].req_id, 1);
  assert_success(1, "get it", 7);
  assert_int_equal(fh.events[1].req_id, 2);
  assert_failure(2, "INCR", "ERR value is not an integer or out of range");
  assert_int_equal(fh.events[2].req_id, 3);
  assert_int_equal(f->conn.close_requested, 0);
}

static void test_busy(void **state) {
  struct fx *f = *state;
  void *st = add_call(f, "PING", NULL);
  for (int i = 0; i < 64; i++)
    assert_int_equal(submit(f, st), 0);
  size_t out = f->conn.out_len;
  assert_int_equal(submit(f, st), RL_ERR_BUSY);
  assert_int_equal(f->conn.out_len, out); /* nothing written for it */
  assert_int_equal(feed(f, "+PONG\r\n"), 0);
  assert_int_equal(fh.n_events, 1);
  assert_int_equal(fh.events[0].req_id, 1);
  /* Room again; the ring wraps and keeps its order. */
  assert_int_equal(submit(f, st), 0);
  for (int i = 0; i < 64; i++)
    assert_int_equal(feed(f, "+PONG\r\n"), 0);
  assert_int_equal(fh.n_events, 65);
  for (int i = 0; i < 64; i++)
    assert_int_equal(fh.events[i].req_id, i + 1);
  assert_int_equal(fh.events[64].req_id, 66); /* 65 was refused */
}

static void test_write_failure(void **state) {
  struct fx *f = *state;
  void *st = add_call(f, "GET k{{seq}}", NULL);
  void *cst = add_call(f, "GET k", NULL);
  f->conn.fail_writes = 1;
  assert_int_equal(submit(f, st), RL_ERR_CLOSED);
  assert_int_equal(submit(f, cst), RL_ERR_CLOSED);
  assert_int_equal(fh.n_events, 0);
  /* The refused requests are not held. */
  f->conn.fail_writes = 0;
  assert_int_equal(submit(f, cst), 0);
  assert_int_equal(feed(f, "$-1\r\n"), 0);
  assert_int_equal(fh.n_events, 1);
  assert_int_equal(fh.events[0].req_id, 3);
}

/* ---- The end of a session -------------------------------------------------- */

static void test_del_in_flight(void **state) {
  struct fx *f = *state;
  void *a = add_call(f, "GET a", NULL);
  void *b = add_call(f, "SET b 1", NULL);
  assert_int_equal(submit(f, a), 0);
  assert_int_equal(submit(f, b), 0);
  assert_int_equal(submit(f, a), 0);
  /* Half of the first reply arrived: a close cannot complete it. */
  assert_int_equal(feed(f, "$5\r\nhel"), 0);
  del(f, RL_ERR_IO, "connection reset by peer");
  assert_int_equal(fh.n_events, 3);
  assert_failure(0, "GET", "connection reset by peer");
  assert_failure(1, "SET", "connection reset by peer");
  assert_failure(2, "GET", "connection reset by peer");
  for (int i = 0; i < 3; i++)
    assert_int_equal(fh.events[i].req_id, i + 1);
}

static void test_del_no_reason(void **state) {
  struct fx *f = *state;
  void *st = add_call(f, "GET a", NULL);
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(submit(f, st), 0);
  del(f, RL_ERR_CLOSED, NULL);
  assert_int_equal(fh.n_events, 2);
  assert_failure(0, "GET", "connection closed");
  assert_failure(1, "GET", "connection closed");
}

static void test_del_timeout_empty_reason(void **state) {
  struct fx *f = *state;
  void *st = add_call(f, "GET a", NULL);
  assert_int_equal(submit(f, st), 0);
  del(f, RL_ERR_TIMEOUT, "");
  assert_int_equal(fh.n_events, 1);
  assert_failure(0, "GET", "timed out");
}

static void test_del_idle(void **state) {
  struct fx *f = *state;
  void *st = add_call(f, "GET a", NULL);
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, "$-1\r\n"), 0);
  del(f, RL_ERR_CLOSED, "connection closed by peer");
  assert_int_equal(fh.n_events, 1); /* nothing in flight: nothing more */
}

/* ---- Protocol errors ------------------------------------------------------- */

/* After a protocol error the request whose reply broke fails with a text
 * starting `want`, the session refuses more bytes, and session_del fails
 * the others with the host's reason. */
static void expect_garbage(const char *bytes, size_t len, const char *want) {
  struct fx f;
  memset(&f, 0, sizeof f);
  rl_fake_host_init(&fh);
  fh.on_violation = violation;
  rl_conn_info info = {sizeof info, NULL, "127.0.0.1", 6379, 0};
  assert_int_equal(P->session_new(&fh.host, &f.conn, &info, &f.session), 0);
  void *st = add_call(&f, "GET k", NULL);
  assert_int_equal(submit(&f, st), 0);
  assert_int_equal(submit(&f, st), 0);
  int rc = 0;
  for (size_t i = 0; i < len && rc == 0; i++) /* bytewise: same verdict */
    rc = feed_n(&f, bytes + i, 1);
  assert_int_equal(rc, RL_ERR_PROTO);
  assert_int_equal(fh.n_events, 1);
  assert_true(fh.events[0].failed);
  if (strncmp(fh.events[0].error, want, strlen(want)) != 0)
    fail_msg("error '%s' does not start with '%s'", fh.events[0].error, want);
  assert_int_equal(feed(&f, "+OK\r\n"), RL_ERR_PROTO);
  assert_int_equal(submit(&f, st), RL_ERR_CLOSED);
  del(&f, RL_ERR_PROTO, "protocol error");
  assert_int_equal(fh.n_events, 2);
  assert_failure(1, "GET", "protocol error");
  assert_int_equal(fh.n_events, fh.n_accepted);
  P->step_del(st);
  rl_fake_conn_free(&f.conn);
}

#define GARBAGE(lit, want) expect_garbage((lit), sizeof(lit) - 1, (want))

static void test_garbage(void **state) {
  (void)state;
  GARBAGE("HTTP/1.1 200 OK\r\n",
          "invalid RESP reply: unexpected byte 'H' where a reply type "
          "(+ - : $ *) was expected");
  GARBAGE("\x16\x03\x01", "invalid RESP reply: unexpected byte 0x16 where");
  /* RESP3 types are not RESP2. */
  GARBAGE("%1\r\n", "invalid RESP reply: unexpected byte '%'");
  GARBAGE("_\r\n", "invalid RESP reply: unexpected byte '_'");
  GARBAGE("*2\r\n:1\r\n#t\r\n", "invalid RESP reply: unexpected byte '#'");
  GARBAGE("$abc\r\n", "invalid RESP reply: bad number after '$'");
  GARBAGE("$\r\n", "invalid RESP reply: bad number after '$'");
  GARBAGE(":12a\r\n", "invalid RESP reply: bad number after ':'");
  GARBAGE(":-\r\n", "invalid RESP reply: bad number after ':'");
  GARBAGE(":1-2\r\n", "invalid RESP reply: bad number after ':'");
  GARBAGE("$-2\r\n", "invalid RESP reply: negative length after '$'");
  GARBAGE("*-5\r\n", "invalid RESP reply: negative length after '*'");
  GARBAGE("$99999999999999999999\r\n",
          "invalid RESP reply: length after '$' too large");
  GARBAGE("$3\r\nabcd\r\n",
          "invalid RESP reply: bulk string not followed by CRLF");
  GARBAGE("$3\r\nabc\rX",
          "invalid RESP reply: bulk string not followed by CRLF");
  GARBAGE("+OK\rX", "invalid RESP reply: CR not followed by LF");
  GARBAGE("*2\r\n+a\rb", "invalid RESP reply: CR not followed by LF");
}

static void test_unsolicited(void **state) {
  struct fx *f = *state;
  assert_int_equal(feed(f, "+OK\r\n"), RL_ERR_PROTO);
  assert_int_equal(fh.n_events, 0);
  /* Reported with a reason of its own (ABI 1.6), not dropped. */
  assert_string_equal(f->conn.failed,
                      "a reply nobody asked for (no command in flight): the "
                      "connection is out of step");
  del(f, RL_ERR_PROTO, "protocol error");
  assert_int_equal(fh.n_events, 0);
}

/* A new session for a step with -O password / -O username / -O db (the
 * connection set up with it: conn_step). */
static void preface_session(struct fx *f, const rl_kv *opts, size_t n) {
  P->session_del(f->session, RL_ERR_CANCELLED, "again");
  f->session = NULL;
  rl_step_spec s = base_spec(opts, n);
  f->conn.step = add_step(f, &s);
  rl_conn_info info = {sizeof info, NULL, "127.0.0.1", 6379, 0};
  assert_int_equal(P->session_new(&fh.host, &f->conn, &info, &f->session), 0);
}

/* ABI 1.6: AUTH then SELECT go first; no command before their replies. */
static void test_preface_auth_and_select(void **state) {
  struct fx *f = *state;
  rl_kv opts[] = {
      {"call", "GET k"}, {"username", "app"}, {"password", "pw"}, {"db", "2"}};
  preface_session(f, opts, 4);
  size_t len = 0;
  char *out = rl_fake_conn_take(&f->conn, &len);
  assert_non_null(out);
  assert_string_equal(out, "*3\r\n$4\r\nAUTH\r\n$3\r\napp\r\n$2\r\npw\r\n"
                           "*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n");
  free(out);
  assert_false(P->session_ready(f->session));
  assert_int_equal(feed_bytewise(f, "+OK\r\n", 5), 0);
  assert_false(P->session_ready(f->session)); /* SELECT's still owed */
  assert_int_equal(feed(f, "+OK\r\n"), 0);
  assert_true(P->session_ready(f->session));
  assert_string_equal(f->conn.failed, "");
  assert_int_equal(fh.n_events, 0);
  /* Steps with other settings do not share the connection. */
  rl_kv other[] = {{"call", "GET k"}, {"db", "3"}};
  rl_step_spec s = base_spec(other, 2);
  void *st3 = add_step(f, &s);
  assert_string_not_equal(P->step_conn_key(f->conn.step),
                          P->step_conn_key(st3));
  assert_int_equal(submit(f, f->conn.step), 0);
  assert_int_equal(feed(f, "$1\r\nv\r\n"), 0);
  assert_success(0, "GET", 7);
}

/* ABI 1.6: a refused AUTH fails the connection with Redis's words. */
static void test_preface_refused(void **state) {
  struct fx *f = *state;
  rl_kv opts[] = {{"call", "GET k"}, {"password", "wrong"}};
  preface_session(f, opts, 2);
  assert_int_equal(feed(f, "-WRONGPASS invalid username-password pair\r\n"), 0);
  assert_string_equal(f->conn.failed,
                      "AUTH failed: WRONGPASS invalid username-password pair");
  assert_int_equal(fh.n_events, 0);
}

/* ABI 1.2: replies handed over for expect/capture, when wanted. */
static void test_responses_handed_over(void **state) {
  struct fx *f = *state;
  void *st = add_call(f, "GET k", NULL);
  fh.wants_response = 1;
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed_bytewise(f, "$5\r\nhello\r\n", 11), 0);
  const rl_fake_response *r = rl_fake_response_of(&fh, 1);
  assert_true(r->got);
  assert_int_equal(r->status, -1);
  assert_string_equal(r->body, "hello");
  assert_string_equal(r->json, "\"hello\"");
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, "*3\r\n:1\r\n$-1\r\n*1\r\n+a\"b\r\n"), 0);
  r = rl_fake_response_of(&fh, 2);
  assert_true(r->got);
  assert_string_equal(r->json, "[1,null,[\"a\\\"b\"]]");
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, ":42\r\n"), 0);
  assert_string_equal(rl_fake_response_of(&fh, 3)->body, "42");
  fh.wants_response = 0;
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, "+OK\r\n"), 0);
  assert_false(rl_fake_response_of(&fh, 4)->got);
  assert_int_equal(fh.n_events, 4);
}

static void test_extra_reply(void **state) {
  struct fx *f = *state;
  void *st = add_call(f, "GET k", NULL);
  assert_int_equal(submit(f, st), 0);
  /* One request, two replies in one read: the first completes it, the
   * second is unsolicited. */
  assert_int_equal(feed(f, "$1\r\nv\r\n+OK\r\n"), RL_ERR_PROTO);
  assert_int_equal(fh.n_events, 1);
  assert_success(0, "GET", 7);
  /* The session is out of step: it takes nothing more. */
  assert_int_equal(submit(f, st), RL_ERR_CLOSED);
}

static void test_stray_crlf(void **state) {
  struct fx *f = *state;
  void *st = add_call(f, "GET k", NULL);
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(feed(f, "$1\r\nv\r\n"), 0);
  assert_int_equal(feed(f, "\r\n"), RL_ERR_PROTO);
  assert_int_equal(fh.n_events, 1);
  assert_success(0, "GET", 7);
}

#define T(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_descriptor),
      T(test_max_concurrent),
      T(test_step_describe),
      T(test_encode_constant),
      T(test_encode_templated),
      T(test_encode_quoted),
      T(test_expand_failure),
      cmocka_unit_test(test_bad_specs),
      T(test_every_kind_split),
      T(test_every_kind_pipelined),
      T(test_deep_nesting),
      T(test_large_bulk),
      T(test_error_reply),
      T(test_pipelined_fifo),
      T(test_busy),
      T(test_write_failure),
      T(test_del_in_flight),
      T(test_del_no_reason),
      T(test_del_timeout_empty_reason),
      T(test_del_idle),
      cmocka_unit_test(test_garbage),
      T(test_unsolicited),
      T(test_preface_auth_and_select),
      T(test_preface_refused),
      T(test_responses_handed_over),
      T(test_extra_reply),
      T(test_stray_crlf),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

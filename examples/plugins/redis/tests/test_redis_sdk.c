/*
 * The redis plugin unit-tested the way an author outside the rpcload tree
 * tests a codec: with the test host installed with the SDK
 * (<rpcload/fake_host.h>, librpcload-testhost.a), no sockets, no cmocka,
 * the plugin's source compiled into the test. What it shows: session_new
 * uses the step the connection was set up with (AUTH and SELECT first),
 * requests wait for the preface's replies, a refused AUTH fails the
 * connection with Redis's words, and a submit refuses with its own text.
 *
 *   cc -std=c11 test_redis_sdk.c ../redis.c \
 *      $(pkg-config --cflags rpcload-plugin) \
 *      $(pkg-config --variable=testhost_libs rpcload-plugin) -o test_redis_sdk
 *   ./test_redis_sdk        # exit 0 and "ok" when every check holds
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rpcload/fake_host.h>
#include <rpcload/plugin.h>

static int failures;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      failures++;                                                              \
    }                                                                          \
  } while (0)

/* A broken ABI rule (two request_done for one request...) is a failure. */
static void violation(const char *what) {
  fprintf(stderr, "fake host: %s\n", what);
  exit(1);
}

/* A step for --call `call` with the options `opts` (n of them). */
static void *make_step(rl_fake_host *fh, const char *call, const rl_kv *opts,
                       size_t n) {
  rl_kv all[4] = {{"call", call}};
  for (size_t i = 0; i < n && i < 3; i++)
    all[i + 1] = opts[i];
  rl_step_spec spec = {.struct_size = sizeof spec,
                       .url = "redis://127.0.0.1:6379",
                       .scheme = "redis",
                       .host = "127.0.0.1",
                       .port = 6379,
                       .path = "/",
                       .options = all,
                       .n_options = n + 1};
  char err[256] = "";
  void *step = NULL;
  if (rl_plugin_entry()->step_new(&fh->host, &spec, &step, err, sizeof err)) {
    fprintf(stderr, "step_new: %s\n", err);
    exit(1);
  }
  return step;
}

static int feed(void *session, const char *bytes) {
  return rl_plugin_entry()->session_on_read(session, (const uint8_t *)bytes,
                                            strlen(bytes));
}

int main(void) {
  const rl_plugin *p = rl_plugin_entry();
  static rl_fake_host fh;
  rl_fake_host_init(&fh);
  fh.on_violation = violation;
  rl_conn_info info = {sizeof info, NULL, "127.0.0.1", 6379, 0};

  /* The connection is set up with a step that wants AUTH and SELECT 2. */
  const rl_kv opts[] = {{"password", "s3cret"}, {"db", "2"}};
  void *step = make_step(&fh, "GET user:{{user_id}}", opts, 2);
  rl_conn conn = {0};
  conn.step = step; /* what host->conn_step(conn) answers */
  void *session = NULL;
  CHECK(p->session_new(&fh.host, &conn, &info, &session) == 0);
  size_t len = 0;
  char *out = rl_fake_conn_take(&conn, &len);
  CHECK(out && strcmp(out, "*2\r\n$4\r\nAUTH\r\n$6\r\ns3cret\r\n"
                           "*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n") == 0);
  free(out);
  CHECK(!p->session_ready(session)); /* the host holds requests back */
  CHECK(feed(session, "+OK\r\n+OK\r\n") == 0);
  CHECK(p->session_ready(session));

  /* A request, its reply, one event. */
  fh.user_id = 7;
  CHECK(rl_fake_submit(&fh, p, session, step) == 0);
  out = rl_fake_conn_take(&conn, &len);
  CHECK(out && strcmp(out, "*2\r\n$3\r\nGET\r\n$6\r\nuser:7\r\n") == 0);
  free(out);
  CHECK(feed(session, "$2\r\nhi\r\n") == 0);
  CHECK(fh.n_events == 1 && !fh.events[0].failed);

  /* A submit that cannot expand its arguments refuses with its text. */
  fh.fail_expand = 1;
  CHECK(rl_fake_submit(&fh, p, session, step) < 0);
  CHECK(strstr(fh.refused, "could not be expanded") != NULL);
  fh.fail_expand = 0;
  p->session_del(session, RL_ERR_CANCELLED, "test over");
  rl_fake_host_check_idle(&fh);

  /* A refused AUTH fails the connection with Redis's message. */
  rl_conn conn2 = {0};
  conn2.step = step;
  CHECK(p->session_new(&fh.host, &conn2, &info, &session) == 0);
  CHECK(feed(session, "-WRONGPASS invalid username-password pair\r\n") == 0);
  CHECK(strcmp(conn2.failed,
               "AUTH failed: WRONGPASS invalid username-password pair") == 0);
  p->session_del(session, RL_ERR_PROTO, conn2.failed);

  p->step_del(step);
  rl_fake_conn_free(&conn);
  rl_fake_conn_free(&conn2);
  rl_fake_host_free(&fh);
  if (failures) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  puts("ok");
  return 0;
}

/*
 * Unit test of the gRPC plugin's streaming calls, through the plugin ABI
 * only and without sockets: grpc.so loaded with rpcload's loader, the
 * host played by tests/unit/fake_host (ABI 1.4: request_event recorded,
 * timers run on its fake clock), and a real nghttp2 server session on the
 * other side of a memory pipe that the test steers message by message.
 * The service is tests/data/interop_test.proto's grpc.testing.TestService.
 *
 * What is checked: one request_done per call and a [send]/[recv] event per
 * message, their times (gaps on the fake clock), the count and duration
 * that end a call (the client resets a server stream and it succeeds), a
 * server error mid-stream, the host's timeout, the receive limit, the
 * interval between a client's messages, ping-pong, flow control (a server
 * that does not read holds the client's messages back, nothing queues),
 * templates per message, binary input, the JSON a stream hands over for
 * checks, the options a method's shape refuses, the shape a step
 * tells the host (ABI 1.9 step_streams), and a stream's replies handed to
 * their owner as they come, held and read on (ABI 1.10).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include <cmocka.h>

#include <rpcload/fake_host.h>
#include <rpcload/plugin.h>

#include "engine/plugin_loader.h"
#include "grpc/grpc_wire.h"
#include "unit/codec_test.h"

#if NGHTTP2_VERSION_NUM >= 0x013c00
typedef nghttp2_ssize srv_ssize;
typedef nghttp2_data_provider2 srv_data_provider;
#define SRV_MEM_SEND nghttp2_session_mem_send2
#define SRV_MEM_RECV nghttp2_session_mem_recv2
#define SRV_SUBMIT_RESPONSE nghttp2_submit_response2
#else
typedef ssize_t srv_ssize;
typedef nghttp2_data_provider srv_data_provider;
#define SRV_MEM_SEND nghttp2_session_mem_send
#define SRV_MEM_RECV nghttp2_session_mem_recv
#define SRV_SUBMIT_RESPONSE nghttp2_submit_response
#endif

#define MS 1000000ull
#define OUT_METHOD "/grpc.testing.TestService/StreamingOutputCall"
#define IN_METHOD "/grpc.testing.TestService/StreamingInputCall"
#define DUPLEX_METHOD "/grpc.testing.TestService/FullDuplexCall"

static rl_fake_host fh;
static rl__plugin_set plugins;
static const rl_plugin *P;

static void violation(const char *what) { fail_msg("fake host: %s", what); }

static int group_setup(void **state) {
  (void)state;
  return rl_codec_test_load(&fh, &plugins, RL_TEST_PLUGIN_DIR "/grpc.so",
                            violation, &P);
}

static int group_teardown(void **state) {
  (void)state;
  rl_codec_test_unload(&fh, &plugins);
  return 0;
}

/* ---- Steps ------------------------------------------------------------------ */

/* A step calling `call` with body `body` (NULL: none) and the options
 * given as "key=value" strings, NULL-ended. `binary_len` > 0: the body is
 * that many bytes and the option binary is set. Returns the plugin's code;
 * the step in *out, the error in err. */
static int make_step(const char *call, const char *body, size_t binary_len,
                     uint64_t timeout_ns, void **out, char *err, size_t errlen,
                     ...) {
  rl_kv opts[16];
  char keys[16][64];
  size_t n = 0;
  opts[n++] = (rl_kv){"call", call};
  opts[n++] = (rl_kv){"proto", RL_TEST_INTEROP_PROTO};
  opts[n++] = (rl_kv){"import_path", RL_TEST_DATA_DIR};
  if (binary_len > 0)
    opts[n++] = (rl_kv){"binary", "1"};
  va_list ap;
  va_start(ap, errlen);
  const char *kv;
  /* clang-tidy 14 misreads va_start (see plugins/lib/http_text.c). */
  // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
  while ((kv = va_arg(ap, const char *)) != NULL && n < 16) {
    const char *eq = strchr(kv, '=');
    assert_non_null(eq);
    snprintf(keys[n], sizeof keys[n], "%.*s", (int)(eq - kv), kv);
    opts[n] = (rl_kv){keys[n], eq + 1};
    n++;
  }
  va_end(ap);
  rl_step_spec s;
  memset(&s, 0, sizeof s);
  s.struct_size = sizeof s;
  s.url = "grpc://example.com:50051";
  s.scheme = "grpc";
  s.host = "example.com";
  s.port = 50051;
  s.path = "/";
  if (body != NULL) {
    s.body = (const uint8_t *)body;
    s.body_len = binary_len > 0 ? binary_len : strlen(body);
  }
  s.options = opts;
  s.n_options = n;
  s.timeout_ns = timeout_ns;
  err[0] = '\0';
  return P->step_new(&fh.host, &s, out, err, errlen);
}

/* A step that must compile. */
#define STEP(call, body, ...)                                                  \
  step_ok(call, body, 0, __VA_ARGS__, (const char *)NULL)

static void *step_ok(const char *call, const char *body, size_t binary_len,
                     ...) {
  const char *kv[8];
  size_t n = 0;
  va_list ap;
  va_start(ap, binary_len);
  const char *k;
  while ((k = va_arg(ap, const char *)) != NULL && n < 7)
    kv[n++] = k;
  va_end(ap);
  kv[n] = NULL;
  void *step = NULL;
  char err[1024];
  int rc = make_step(call, body, binary_len, 0, &step, err, sizeof err, kv[0],
                     n > 1 ? kv[1] : NULL, n > 2 ? kv[2] : NULL,
                     n > 3 ? kv[3] : NULL, n > 4 ? kv[4] : NULL,
                     n > 5 ? kv[5] : NULL, n > 6 ? kv[6] : NULL, NULL);
  if (rc != 0)
    fail_msg("step_new: %s", err);
  return step;
}

/* ---- The server ------------------------------------------------------------- */

#define MAX_SRV 16
#define SRV_OUT (1 << 20)

struct sstream {
  int32_t id;
  char path[64];
  /* What came: request messages (their payload bytes, in order). */
  uint8_t in[8192];
  size_t in_len;
  uint8_t prefix[5];
  size_t prefix_got, msg_need;
  int in_msgs;
  int end_stream; /* the client ended its side */
  int rst;        /* the client reset the stream */
  uint32_t rst_code;
  /* What goes: framed messages queued by the test, then trailers. */
  uint8_t *out;
  size_t out_len, out_off;
  int started, deferred, ending;
  char status[8], message[64];
};

struct server {
  nghttp2_session *ng;
  struct sstream st[MAX_SRV];
  int n;
  int hold_window; /* do not give flow-control window back */
};

static struct sstream *srv_find(struct server *sv, int32_t id) {
  for (int i = 0; i < sv->n; i++)
    if (sv->st[i].id == id)
      return &sv->st[i];
  return NULL;
}

#define NV(name, value)                                                        \
  {                                                                            \
    (uint8_t *)(name), (uint8_t *)(value), sizeof(name) - 1,                   \
        sizeof(value) - 1, NGHTTP2_NV_FLAG_NONE                                \
  }

static srv_ssize srv_read(nghttp2_session *ng, int32_t id, uint8_t *buf,
                          size_t length, uint32_t *flags,
                          nghttp2_data_source *src, void *user_data) {
  struct sstream *ss = src->ptr;
  (void)user_data;
  size_t n = ss->out_len - ss->out_off;
  if (n > length)
    n = length;
  memcpy(buf, ss->out + ss->out_off, n);
  ss->out_off += n;
  if (ss->out_off == ss->out_len) {
    if (ss->ending) {
      *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
      nghttp2_nv tr[2] = {{(uint8_t *)"grpc-status", (uint8_t *)ss->status, 11,
                           strlen(ss->status), NGHTTP2_NV_FLAG_NONE},
                          {(uint8_t *)"grpc-message", (uint8_t *)ss->message,
                           12, strlen(ss->message), NGHTTP2_NV_FLAG_NONE}};
      assert_int_equal(nghttp2_submit_trailer(ng, id, tr, 2), 0);
    } else if (n == 0) {
      ss->deferred = 1;
      return NGHTTP2_ERR_DEFERRED;
    }
  }
  return (srv_ssize)n;
}

/* The response headers, once. */
static void srv_start(struct server *sv, struct sstream *ss) {
  if (ss->started)
    return;
  ss->started = 1;
  if (ss->out == NULL)
    ss->out = malloc(SRV_OUT);
  assert_non_null(ss->out);
  srv_data_provider prd;
  memset(&prd, 0, sizeof prd);
  prd.source.ptr = ss;
  prd.read_callback = srv_read;
  nghttp2_nv nva[] = {NV(":status", "200"),
                      NV("content-type", "application/grpc")};
  assert_int_equal(SRV_SUBMIT_RESPONSE(sv->ng, ss->id, nva, 2, &prd), 0);
}

static void srv_resume(struct server *sv, struct sstream *ss) {
  if (ss->deferred) {
    ss->deferred = 0;
    assert_int_equal(nghttp2_session_resume_data(sv->ng, ss->id), 0);
  }
}

/* A StreamingOutputCallResponse{payload{body: n bytes of 'x'}} queued. */
static void srv_msg(struct server *sv, struct sstream *ss, size_t n) {
  srv_start(sv, ss);
  uint8_t wire[4096];
  assert_true(n < 4000);
  /* payload (1) { body (2) } */
  size_t inner = 1 + (n < 128 ? 1 : 2) + n;
  size_t o = 0;
  wire[o++] = 0x0a;
  wire[o++] = (uint8_t)inner; /* inner < 128 in these tests, or: */
  if (inner >= 128) {
    wire[o - 1] = (uint8_t)(inner | 0x80);
    wire[o++] = (uint8_t)(inner >> 7);
  }
  wire[o++] = 0x12;
  if (n < 128) {
    wire[o++] = (uint8_t)n;
  } else {
    wire[o++] = (uint8_t)(n | 0x80);
    wire[o++] = (uint8_t)(n >> 7);
  }
  memset(wire + o, 'x', n);
  o += n;
  assert_true(ss->out_len + o + 5 < SRV_OUT);
  uint8_t *p = ss->out + ss->out_len;
  p[0] = 0;
  p[1] = (uint8_t)(o >> 24);
  p[2] = (uint8_t)(o >> 16);
  p[3] = (uint8_t)(o >> 8);
  p[4] = (uint8_t)o;
  memcpy(p + 5, wire, o);
  ss->out_len += o + 5;
  srv_resume(sv, ss);
}

/* Raw bytes as one framed message (for messages that do not decode). */
static void srv_raw(struct server *sv, struct sstream *ss, const uint8_t *b,
                    size_t n) {
  srv_start(sv, ss);
  uint8_t *p = ss->out + ss->out_len;
  p[0] = 0;
  p[1] = (uint8_t)(n >> 24);
  p[2] = (uint8_t)(n >> 16);
  p[3] = (uint8_t)(n >> 8);
  p[4] = (uint8_t)n;
  memcpy(p + 5, b, n);
  ss->out_len += n + 5;
  srv_resume(sv, ss);
}

/* Trailers with grpc-status `code` after what is queued. */
static void srv_end(struct server *sv, struct sstream *ss, int code,
                    const char *message) {
  srv_start(sv, ss);
  snprintf(ss->status, sizeof ss->status, "%d", code);
  snprintf(ss->message, sizeof ss->message, "%s", message);
  ss->ending = 1;
  srv_resume(sv, ss);
}

static int srv_on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame,
                                void *user_data) {
  struct server *sv = user_data;
  (void)ng;
  if (frame->hd.type != NGHTTP2_HEADERS ||
      frame->headers.cat != NGHTTP2_HCAT_REQUEST)
    return 0;
  assert_true(sv->n < MAX_SRV);
  struct sstream *ss = &sv->st[sv->n++];
  memset(ss, 0, sizeof *ss);
  ss->id = frame->hd.stream_id;
  return 0;
}

static int srv_on_header(nghttp2_session *ng, const nghttp2_frame *frame,
                         const uint8_t *name, size_t namelen,
                         const uint8_t *value, size_t valuelen, uint8_t flags,
                         void *user_data) {
  struct server *sv = user_data;
  (void)ng;
  (void)flags;
  struct sstream *ss = srv_find(sv, frame->hd.stream_id);
  if (ss != NULL && namelen == 5 && memcmp(name, ":path", 5) == 0)
    snprintf(ss->path, sizeof ss->path, "%.*s", (int)valuelen, value);
  return 0;
}

/* Request DATA: gRPC frames counted, their payloads kept in order. */
static int srv_on_data(nghttp2_session *ng, uint8_t flags, int32_t id,
                       const uint8_t *data, size_t len, void *user_data) {
  struct server *sv = user_data;
  (void)ng;
  (void)flags;
  struct sstream *ss = srv_find(sv, id);
  if (ss == NULL)
    return 0;
  for (size_t i = 0; i < len; i++) {
    if (ss->prefix_got < 5) {
      ss->prefix[ss->prefix_got++] = data[i];
      if (ss->prefix_got == 5) {
        ss->msg_need = (size_t)ss->prefix[1] << 24 |
                       (size_t)ss->prefix[2] << 16 |
                       (size_t)ss->prefix[3] << 8 | ss->prefix[4];
        if (ss->msg_need == 0) {
          ss->in_msgs++;
          ss->prefix_got = 0;
        }
      }
      continue;
    }
    if (ss->in_len < sizeof ss->in)
      ss->in[ss->in_len++] = data[i];
    if (--ss->msg_need == 0) {
      ss->in_msgs++;
      ss->prefix_got = 0;
    }
  }
  return 0;
}

static int srv_on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame,
                             void *user_data) {
  struct server *sv = user_data;
  (void)ng;
  struct sstream *ss = srv_find(sv, frame->hd.stream_id);
  if (ss == NULL)
    return 0;
  if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
    ss->end_stream = 1;
  if (frame->hd.type == NGHTTP2_RST_STREAM) {
    ss->rst = 1;
    ss->rst_code = frame->rst_stream.error_code;
  }
  return 0;
}

/* ---- Per-test fixture ---------------------------------------------------- */

struct fx {
  rl_conn conn;
  void *session;
  struct server sv;
  void *steps[4];
};

static int fx_setup_window(void **state, int32_t window) {
  rl_fake_host_init(&fh);
  fh.on_violation = violation;
  fh.now_ns = 1000 * MS;
  struct fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  rl_conn_info info = {sizeof info, "h2", "example.com", 50051, 0};
  assert_int_equal(P->session_new(&fh.host, &f->conn, &info, &f->session), 0);
  nghttp2_session_callbacks *cbs;
  nghttp2_option *opt;
  assert_int_equal(nghttp2_session_callbacks_new(&cbs), 0);
  assert_int_equal(nghttp2_option_new(&opt), 0);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs,
                                                          srv_on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, srv_on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, srv_on_data);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, srv_on_frame_recv);
  if (window > 0) /* a server that gives window back only when told */
    nghttp2_option_set_no_auto_window_update(opt, 1);
  assert_int_equal(nghttp2_session_server_new2(&f->sv.ng, cbs, &f->sv, opt), 0);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
  nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100},
                                 {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE,
                                  window > 0 ? (uint32_t)window : 65535u}};
  assert_int_equal(nghttp2_submit_settings(f->sv.ng, NGHTTP2_FLAG_NONE, iv, 2),
                   0);
  *state = f;
  return 0;
}

static int fx_setup(void **state) { return fx_setup_window(state, 0); }

/* A server whose windows are 4000 bytes and stay shut until it reads. */
static int fx_setup_slow(void **state) { return fx_setup_window(state, 4000); }

static int fx_teardown(void **state) {
  struct fx *f = *state;
  if (f->session != NULL)
    P->session_del(f->session, RL_ERR_CANCELLED, "test over");
  rl_fake_host_check_idle(&fh);
  /* Every timer a call started is gone with it. */
  assert_int_equal(rl_fake_timers_next(&fh), 0);
  for (size_t i = 0; i < 4; i++)
    if (f->steps[i] != NULL)
      P->step_del(f->steps[i]);
  for (int i = 0; i < f->sv.n; i++)
    free(f->sv.st[i].out);
  nghttp2_session_del(f->sv.ng);
  rl_fake_conn_free(&f->conn);
  free(f);
  return 0;
}

/* Moves bytes both ways until neither side has more to say. */
static void pump(struct fx *f) {
  for (int rounds = 0; rounds < 100000; rounds++) {
    int progress = 0;
    if (f->conn.out_len > 0) {
      size_t n = 0;
      char *in = rl_fake_conn_take(&f->conn, &n);
      assert_int_equal(SRV_MEM_RECV(f->sv.ng, (const uint8_t *)in, n),
                       (srv_ssize)n);
      free(in);
      progress = 1;
    }
    for (;;) {
      const uint8_t *data;
      srv_ssize n = SRV_MEM_SEND(f->sv.ng, &data);
      assert_true(n >= 0);
      if (n == 0)
        break;
      if (f->session != NULL)
        assert_int_equal(P->session_on_read(f->session, data, (size_t)n), 0);
      progress = 1;
    }
    if (!progress)
      return;
  }
  fail_msg("pump never settled");
}

/* The clock moves to `at` ms past the start, firing timers due, then the
 * bytes they made go across. */
static void at_ms(struct fx *f, uint64_t at) {
  rl_fake_timers_run(&fh, 1000 * MS + at * MS);
  pump(f);
}

static struct sstream *stream_n(struct fx *f, int i) {
  assert_true(i < f->sv.n);
  return &f->sv.st[i];
}

static const rl_fake_msg *msg_n(const char *name, int k) {
  for (int i = 0, seen = 0; i < fh.n_msgs; i++)
    if (strcmp(fh.msgs[i].name, name) == 0 && seen++ == k)
      return &fh.msgs[i];
  fail_msg("no event %d of %s", k, name);
  return NULL;
}

/* ---- Server streaming ------------------------------------------------------ */

/* Three messages, then OK: one call event, a [recv] per message timed from
 * the one before (the first from the call's start), bytes added up. */
static void test_server_stream_events(void **state) {
  struct fx *f = *state;
  f->steps[0] = STEP("StreamingOutputCall", "{}", "stream_call_count=9");
  assert_int_equal(rl_fake_submit(&fh, P, f->session, f->steps[0]), 0);
  pump(f);
  struct sstream *ss = stream_n(f, 0);
  assert_string_equal(ss->path, OUT_METHOD);
  assert_true(ss->end_stream); /* one request message, and the end */
  assert_int_equal(ss->in_msgs, 1);
  at_ms(f, 10);
  srv_msg(&f->sv, ss, 10);
  pump(f);
  at_ms(f, 30);
  srv_msg(&f->sv, ss, 20);
  pump(f);
  at_ms(f, 60);
  srv_msg(&f->sv, ss, 30);
  srv_end(&f->sv, ss, 0, "");
  pump(f);
  const char *recv = OUT_METHOD " [recv]";
  assert_int_equal(rl_fake_msgs_of(&fh, 1, recv), 3);
  assert_int_equal(rl_fake_msgs_of(&fh, 1, OUT_METHOD " [send]"), 0);
  assert_int_equal(msg_n(recv, 0)->since_ns, 0);
  assert_int_equal(msg_n(recv, 1)->since_ns, 1010 * MS);
  assert_int_equal(msg_n(recv, 2)->since_ns, 1030 * MS);
  assert_int_equal(msg_n(recv, 2)->at_ns, 1060 * MS);
  assert_int_equal(msg_n(recv, 0)->bytes, 14); /* payload{body: 10} */
  const rl_fake_event *e = rl_fake_event_of(&fh, 1);
  assert_non_null(e);
  assert_false(e->failed);
  assert_string_equal(e->name, OUT_METHOD);
  assert_int_equal(e->bytes, 14 + 24 + 34);
}

/* ABI 1.10: an owner that takes each reply as it comes gets its JSON at
 * once, in order, while the call goes on; one that holds enough makes
 * the plugin stop acknowledging the stream's data (the server's window
 * for it shrinks by what it sent and stays so) until session_read_more
 * gives the window back. */
static void test_server_stream_messages_as_they_come(void **state) {
  struct fx *f = *state;
  fh.wants_messages = 1;
  f->steps[0] = STEP("StreamingOutputCall", "{}", NULL);
  assert_int_equal(rl_fake_submit(&fh, P, f->session, f->steps[0]), 0);
  pump(f);
  struct sstream *ss = stream_n(f, 0);
  srv_msg(&f->sv, ss, 1);
  pump(f);
  assert_int_equal(fh.n_messages, 1);
  assert_string_equal(fh.messages[0].json, "{\"payload\":{\"body\":\"eA==\"}}");
  assert_null(rl_fake_event_of(&fh, 1)); /* the call goes on */
  /* The owner holds: after the next message, the stream's data is no
   * longer acknowledged. */
  fh.hold_messages = 1;
  srv_msg(&f->sv, ss, 2);
  pump(f);
  assert_int_equal(fh.n_messages, 2);
  int32_t open =
      nghttp2_session_get_stream_remote_window_size(f->sv.ng, ss->id);
  /* 624 KB: past half the window, where an acknowledged stream would
   * have had a WINDOW_UPDATE. */
  for (int i = 0; i < 160; i++)
    srv_msg(&f->sv, ss, 3900);
  pump(f);
  assert_int_equal(fh.n_messages, 162); /* within the window: still handed */
  assert_int_equal(fh.n_held, 161);
  int32_t held =
      nghttp2_session_get_stream_remote_window_size(f->sv.ng, ss->id);
  assert_true(held <= open - 160 * 3900);
  /* Read on: the window comes back. */
  fh.hold_messages = 0;
  P->session_read_more(f->session, rl_fake_live(&fh, 1));
  pump(f);
  assert_true(nghttp2_session_get_stream_remote_window_size(f->sv.ng, ss->id) >=
              open);
  srv_end(&f->sv, ss, 0, "");
  pump(f);
  const rl_fake_event *e = rl_fake_event_of(&fh, 1);
  assert_non_null(e);
  assert_false(e->failed);
  assert_int_equal(fh.n_messages, 162);
  assert_true(fh.messages[3].seq < e->seq);
}

/* --stream-call-count on a server stream: after that many messages the
 * client resets the stream (CANCEL), and the call succeeds. */
static void test_server_stream_count(void **state) {
  struct fx *f = *state;
  f->steps[0] = STEP("StreamingOutputCall", "{}", "stream_call_count=2");
  assert_int_equal(rl_fake_submit(&fh, P, f->session, f->steps[0]), 0);
  pump(f);
  struct sstream *ss = stream_n(f, 0);
  for (int i = 0; i < 5; i++)
    srv_msg(&f->sv, ss, 5);
  pump(f);
  assert_int_equal(rl_fake_msgs_of(&fh, 1, OUT_METHOD " [recv]"), 2);
  const rl_fake_event *e = rl_fake_event_of(&fh, 1);
  assert_non_null(e);
  assert_false(e->failed);
  assert_true(ss->rst);
  assert_int_equal(ss->rst_code, NGHTTP2_CANCEL);
}

/* --stream-call-duration on a server stream: the client ends it when the
 * time is up, a success; the timer goes with the call. */
static void test_server_stream_duration(void **state) {
  struct fx *f = *state;
  f->steps[0] = STEP("StreamingOutputCall", "{}", "stream_call_duration=250ms");
  fh.wants_response = 1;
  assert_int_equal(rl_fake_submit(&fh, P, f->session, f->steps[0]), 0);
  pump(f);
  struct sstream *ss = stream_n(f, 0);
  srv_msg(&f->sv, ss, 5);
  pump(f);
  at_ms(f, 100);
  srv_msg(&f->sv, ss, 6);
  pump(f);
  assert_null(rl_fake_event_of(&fh, 1));
  at_ms(f, 249);
  assert_null(rl_fake_event_of(&fh, 1));
  at_ms(f, 250);
  const rl_fake_event *e = rl_fake_event_of(&fh, 1);
  assert_non_null(e);
  assert_false(e->failed);
  assert_true(ss->rst);
  /* For checks: the count, the last message and the messages kept. */
  const rl_fake_response *r = rl_fake_response_of(&fh, 1);
  assert_true(r->got);
  assert_int_equal(r->status, 0);
  assert_string_equal(
      r->json, "{\"count\":2,\"last\":{\"payload\":{\"body\":\"eHh4eHh4\"}"
               "},\"messages\":[{\"payload\":{\"body\":\"eHh4eHg=\"}},"
               "{\"payload\":{\"body\":\"eHh4eHh4\"}}]}");
}

/* A server error after two messages fails the call with the server's
 * status; the messages still count. */
static void test_server_stream_error_mid_stream(void **state) {
  struct fx *f = *state;
  f->steps[0] = STEP("StreamingOutputCall", "{}", "stream_call_count=10");
  fh.wants_response = 1;
  assert_int_equal(rl_fake_submit(&fh, P, f->session, f->steps[0]), 0);
  pump(f);
  struct sstream *ss = stream_n(f, 0);
  srv_msg(&f->sv, ss, 5);
  srv_msg(&f->sv, ss, 5);
  srv_end(&f->sv, ss, 14, "draining");
  pump(f);
  const rl_fake_event *e = rl_fake_event_of(&fh, 1);
  assert_non_null(e);
  assert_string_equal(e->error, "UNAVAILABLE: draining");
  assert_int_equal(rl_fake_msgs_of(&fh, 1, OUT_METHOD " [recv]"), 2);
  const rl_fake_response *r = rl_fake_response_of(&fh, 1);
  assert_int_equal(r->status, 14);
  assert_non_null(strstr(r->json, "\"count\":2"));
  assert_false(ss->rst);
}

/* The host's --timeout resets the stream: DEADLINE_EXCEEDED, and the
 * call's timers go with it. */
static void test_stream_timeout_resets(void **state) {
  struct fx *f = *state;
  f->steps[0] = STEP("StreamingInputCall", "{}", "stream_interval=1s",
                     "stream_call_count=100");
  assert_int_equal(rl_fake_submit(&fh, P, f->session, f->steps[0]), 0);
  pump(f);
  assert_int_equal(rl_fake_timers_next(&fh), 2000 * MS);
  rl_request *held = rl_fake_live(&fh, 1);
  assert_non_null(held);
  assert_int_equal(P->session_cancel(f->session, held, "timed out"), 0);
  pump(f);
  assert_string_equal(rl_fake_event_of(&fh, 1)->error,
                      "DEADLINE_EXCEEDED: Deadline Exceeded");
  assert_true(stream_n(f, 0)->rst);
  assert_int_equal(rl_fake_timers_next(&fh), 0);
}

/* A message over --max-recv-message-size ends a stream at once. */
static void test_server_stream_receive_limit(void **state) {
  struct fx *f = *state;
  f->steps[0] = STEP("StreamingOutputCall", "{}", "max_recv_message_size=100B");
  assert_int_equal(rl_fake_submit(&fh, P, f->session, f->steps[0]), 0);
  pump(f);
  struct sstream *ss = stream_n(f, 0);
  srv_msg(&f->sv, ss, 50);
  srv_msg(&f->sv, ss, 200);
  pump(f);
  const rl_fake_event *e = rl_fake_event_of(&fh, 1);
  assert_non_null(e);
  assert_string_equal(e->error, "RESOURCE_EXHAUSTED: response message over "
                                "100 bytes (--max-recv-message-size)");
  assert_int_equal(rl_fake_msgs_of(&fh, 1, OUT_METHOD " [recv]"), 1);
  assert_true(ss->rst);
}

/* A message that does not decode ends the stream with its reason. */
static void test_server_stream_broken_message(void **state) {
  struct fx *f = *state;
  f->steps[0] = STEP("StreamingOutputCall", "{}", "stream_call_count=5");
  assert_int_equal(rl_fake_submit(&fh, P, f->session, f->steps[0]), 0);
  pump(f);
  static const uint8_t bad[] = {0xff, 0xff, 0xff};
  srv_raw(&f->sv, stream_n(f, 0), bad, sizeof bad);
  pump(f);
  assert_non_null(strstr(rl_fake_event_of(&fh, 1)->error,
                         "INTERNAL: the response does not decode as "
                         "grpc.testing.StreamingOutputCallResponse"));
  assert_true(stream_n(f, 0)->rst);
}

/* ---- Client streaming ------------------------------------------------------ */

/* A JSON array: its messages in order, then the client's end; a [send]
 * per message; the one response decides. */
static void test_client_stream_array(void **state) {
  struct fx *f = *state;
  f->steps[0] = STEP("StreamingInputCall",
                     "[{\"payload\":{\"body\":\"YQ==\"}},"
                     "{\"payload\":{\"body\":\"YmI=\"}},"
                     "{\"payload\":{\"body\":\"Y2Nj\"}}]",
                     "max_send_message_size=1KiB");
  assert_int_equal(rl_fake_submit(&fh, P, f->session, f->steps[0]), 0);
  pump(f);
  struct sstream *ss = stream_n(f, 0);
  assert_string_equal(ss->path, IN_METHOD);
  assert_int_equal(ss->in_msgs, 3);
  assert_true(ss->end_stream);
  /* Each a StreamingInputCallRequest{payload{body}}. */
  assert_memory_equal(ss->in,
                      "\x0a\x03\x12\x01"
                      "a"
                      "\x0a\x04\x12\x02"
                      "bb"
                      "\x0a\x05\x12\x03"
                      "ccc",
                      4 + 1 + 4 + 2 + 4 + 3);
  assert_int_equal(rl_fake_msgs_of(&fh, 1, IN_METHOD " [send]"), 3);
  assert_int_equal(msg_n(IN_METHOD " [send]", 0)->since_ns, 0);
  assert_null(rl_fake_event_of(&fh, 1));
  srv_raw(&f->sv, ss, (const uint8_t *)"\x08\x06", 2); /* size 6 */
  srv_end(&f->sv, ss, 0, "");
  pump(f);
  assert_false(rl_fake_event_of(&fh, 1)->failed);
  assert_int_equal(rl_fake_msgs_of(&fh, 1, IN_METHOD " [recv]"), 0);
}

/* --stream-interval with --stream-call-count: the messages go out one
 * interval apart (timers on the fake clock), cycling through the list. */
static void test_client_stream_interval_and_count(void **state) {
  struct fx *f = *state;
  f->steps[0] = STEP("StreamingInputCall",
                     "[{\"payload\":{\"body\":\"YQ==\"}},"
                     "{\"payload\":{\"body\":\"Yg==\"}}]",
                     "stream_interval=100ms", "stream_call_count=3");
  assert_int_equal(rl_fake_submit(&fh, P, f->session, f->steps[0]), 0);
  pump(f);
  struct sstream *ss = stream_n(f, 0);
  assert_int_equal(ss->in_msgs, 1);
  at_ms(f, 99);
  assert_int_equal(ss->in_msgs, 1);
  at_ms(f, 100);
  assert_int_equal(ss->in_msgs, 2);
  assert_false(ss->end_stream);
  at_ms(f, 200);
  assert_int_equal(ss->in_msgs, 3);
  assert_true(ss->end_stream);
  /* a, b, then a again. */
  assert_memory_equal(ss->in + 10,
                      "\x0a\x03\x12\x01"
                      "a",
                      5);
  const char *send = IN_METHOD " [send]";
  assert_int_equal(msg_n(send, 1)->since_ns, 1000 * MS);
  assert_int_equal(msg_n(send, 2)->since_ns, 1100 * MS);
  assert_int_equal(rl_fake_timers_next(&fh), 0); /* no timer after the last */
  srv_raw(&f->sv, ss, (const uint8_t *)"\x08\x03", 2);
  srv_end(&f->sv, ss, 0, "");
  pump(f);
  assert_false(rl_fake_event_of(&fh, 1)->failed);
}

/* --stream-call-duration on a client's stream: no new message after it,
 * the client's side closes, the server's answer ends the call. */
static void test_client_stream_duration(void **state) {
  struct fx *f = *state;
  f->steps[0] = STEP("StreamingInputCall", "{\"payload\":{\"body\":\"YQ==\"}}",
                     "stream_interval=100ms", "stream_call_duration=250ms");
  assert_int_equal(rl_fake_submit(&fh, P, f->session, f->steps[0]), 0);
  pump(f);
  struct sstream *ss = stream_n(f, 0);
  at_ms(f, 240);
  assert_int_equal(ss->in_msgs, 3);
  assert_false(ss->end_stream);
  at_ms(f, 250);
  assert_int_equal(ss->in_msgs, 3);
  assert_true(ss->end_stream);
  assert_false(ss->rst);
  assert_int_equal(rl_fake_timers_next(&fh), 0);
  srv_raw(&f->sv, ss, (const uint8_t *)"\x08\x03", 2);
  srv_end(&f->sv, ss, 0, "");
  pump(f);
  assert_false(rl_fake_event_of(&fh, 1)->failed);
}

/* Templates are expanded per message. */
static void test_client_stream_templates_per_message(void **state) {
  struct fx *f = *state;
  f->steps[0] =
      STEP("FullDuplexCall",
           "[{\"response_status\":{\"message\":\"{{random_string 8}}\"}}]",
           "stream_call_count=3");
  assert_int_equal(rl_fake_submit(&fh, P, f->session, f->steps[0]), 0);
  pump(f);
  struct sstream *ss = stream_n(f, 0);
  assert_int_equal(ss->in_msgs, 3);
  /* response_status (7) { message (2): 8 random characters } each. */
  assert_int_equal(ss->in_len, 3 * 12);
  assert_memory_equal(ss->in, "\x3a\x0a\x12\x08", 4);
  assert_memory_not_equal(ss->in + 4, ss->in + 16, 8);
  assert_memory_not_equal(ss->in + 16, ss->in + 28, 8);
  srv_end(&f->sv, ss, 0, "");
  pump(f);
}

/* Flow control: a server that does not read holds the client back; the
 * client makes each message only when it may go, so nothing queues; once
 * the server reads, the rest goes. */
static void test_client_stream_flow_control(void **state) {
  struct fx *f = *state;
  /* 100 messages of about 1 kB; windows of 4000 bytes. */
  char body[1500], b64[1361];
  memset(b64, 'A', 1360); /* 1020 bytes of base64 */
  b64[1360] = '\0';
  snprintf(body, sizeof body, "{\"payload\":{\"body\":\"%s\"}}", b64);
  f->steps[0] = STEP("StreamingInputCall", body, "stream_call_count=100");
  pump(f); /* the server's SETTINGS: its windows */
  uint64_t before = f->conn.written;
  assert_int_equal(rl_fake_submit(&fh, P, f->session, f->steps[0]), 0);
  pump(f);
  struct sstream *ss = stream_n(f, 0);
  /* The window lets four messages through, and the client made a fifth
   * at most (the one it is sending). */
  assert_true(f->conn.written - before < 4000 + 500);
  assert_true(ss->in_msgs >= 3 && ss->in_msgs <= 4);
  int sends = rl_fake_msgs_of(&fh, 1, IN_METHOD " [send]");
  assert_true(sends >= 3 && sends <= 4);
  /* The server reads: the window reopens, the rest goes. */
  for (int round = 0; round < 200 && !ss->end_stream; round++) {
    assert_int_equal(nghttp2_session_consume(f->sv.ng, ss->id, 4000), 0);
    pump(f);
  }
  assert_true(ss->end_stream);
  assert_int_equal(ss->in_msgs, 100);
  assert_int_equal(rl_fake_msgs_of(&fh, 1, IN_METHOD " [send]"), 100);
  srv_raw(&f->sv, ss, (const uint8_t *)"\x08\x01", 2);
  srv_end(&f->sv, ss, 0, "");
  pump(f);
  assert_false(rl_fake_event_of(&fh, 1)->failed);
}

/* ---- Bidirectional --------------------------------------------------------- */

/* Ping-pong: each message after the reply to the one before. */
static void test_bidi_ping_pong(void **state) {
  struct fx *f = *state;
  f->steps[0] = STEP("FullDuplexCall", "{}", "stream_ping_pong=true",
                     "stream_call_count=3");
  assert_int_equal(rl_fake_submit(&fh, P, f->session, f->steps[0]), 0);
  pump(f);
  struct sstream *ss = stream_n(f, 0);
  assert_string_equal(ss->path, DUPLEX_METHOD);
  for (int i = 1; i <= 3; i++) {
    assert_int_equal(ss->in_msgs, i);
    at_ms(f, (uint64_t)i * 10);
    srv_msg(&f->sv, ss, 3);
    pump(f);
  }
  assert_int_equal(ss->in_msgs, 3);
  assert_true(ss->end_stream);
  srv_end(&f->sv, ss, 0, "");
  pump(f);
  assert_false(rl_fake_event_of(&fh, 1)->failed);
  assert_int_equal(rl_fake_msgs_of(&fh, 1, DUPLEX_METHOD " [send]"), 3);
  assert_int_equal(rl_fake_msgs_of(&fh, 1, DUPLEX_METHOD " [recv]"), 3);
  /* A [recv] is the round trip from its [send]. */
  const rl_fake_msg *r1 = msg_n(DUPLEX_METHOD " [recv]", 1);
  assert_int_equal(r1->at_ns - r1->since_ns, 10 * MS);
}

/* ---- Input and refusals ------------------------------------------------------ */

/* -b: count-prefixed serialized messages, sent as they are. */
static void test_binary_input(void **state) {
  struct fx *f = *state;
  static const char two[] = "\x05\x0a\x03\x12\x01"
                            "a"
                            "\x06\x0a\x04\x12\x02"
                            "bb";
  f->steps[0] = step_ok("StreamingInputCall", two, sizeof two - 1, NULL);
  assert_int_equal(rl_fake_submit(&fh, P, f->session, f->steps[0]), 0);
  pump(f);
  struct sstream *ss = stream_n(f, 0);
  assert_int_equal(ss->in_msgs, 2);
  assert_memory_equal(ss->in,
                      "\x0a\x03\x12\x01"
                      "a"
                      "\x0a\x04\x12\x02"
                      "bb",
                      11);
  srv_end(&f->sv, ss, 0, "");
  pump(f);
}

/* What a method's shape cannot take is refused, naming it. */
static void test_refusals(void **state) {
  (void)state;
  void *st = NULL;
  char err[1024];
  assert_int_equal(make_step("UnaryCall", "{}", 0, 0, &st, err, sizeof err,
                             "stream_interval=1s", NULL),
                   RL_ERR_INVAL);
  assert_string_equal(err, "--stream-interval is for streaming methods; "
                           "grpc.testing.TestService.UnaryCall is unary");
  assert_int_equal(make_step("StreamingInputCall", "{}", 0, 0, &st, err,
                             sizeof err, "stream_ping_pong=true", NULL),
                   RL_ERR_INVAL);
  assert_non_null(strstr(err, "--stream-ping-pong waits for each reply"));
  assert_int_equal(make_step("StreamingOutputCall", "{}", 0, 0, &st, err,
                             sizeof err, "stream_interval=1s", NULL),
                   RL_ERR_INVAL);
  assert_non_null(strstr(err, "streams from the server only"));
  assert_int_equal(make_step("FullDuplexCall", "{}", 0, 10000 * MS, &st, err,
                             sizeof err, "stream_call_duration=1m", NULL),
                   RL_ERR_INVAL);
  assert_non_null(strstr(err, "raise --timeout"));
  assert_int_equal(make_step("FullDuplexCall", "{}", 0, 0, &st, err, sizeof err,
                             "stream_interval=soon", NULL),
                   RL_ERR_INVAL);
  assert_non_null(strstr(err, "--stream-interval 'soon'"));
  assert_int_equal(make_step("FullDuplexCall", "{}", 0, 0, &st, err, sizeof err,
                             "max_recv_message_size=65MiB", NULL),
                   RL_ERR_INVAL);
  assert_non_null(strstr(err, "to 64 MiB"));
  assert_int_equal(make_step("StreamingInputCall",
                             "{\"payload\":{\"body\":\"AAAAAAAAAAAAAAAA\"}}", 0,
                             0, &st, err, sizeof err,
                             "max_send_message_size=10", NULL),
                   RL_ERR_INVAL);
  assert_string_equal(err, "-d is 16 bytes, over the send limit of 10 bytes "
                           "(--max-send-message-size)");
  assert_int_equal(
      make_step("StreamingInputCall", "[]", 0, 0, &st, err, sizeof err, NULL),
      RL_ERR_INVAL);
  assert_non_null(strstr(err, "non-empty JSON array"));
  assert_int_equal(make_step("StreamingInputCall", "\x0a\x7f", 2, 0, &st, err,
                             sizeof err, NULL),
                   RL_ERR_INVAL);
  assert_non_null(strstr(err, "the binary input is neither"));
}

/* ABI 1.9: step_streams says each method's shape, as its step has it. */
static void test_step_streams(void **state) {
  (void)state;
  static const struct {
    const char *call;
    uint32_t streams;
  } cases[] = {
      {"UnaryCall", 0},
      {"StreamingOutputCall", RL_STEP_STREAMS_SERVER},
      {"StreamingInputCall", RL_STEP_STREAMS_CLIENT},
      {"FullDuplexCall", RL_STEP_STREAMS_CLIENT | RL_STEP_STREAMS_SERVER},
  };
  assert_non_null(P->step_streams);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    void *st = NULL;
    char err[1024];
    assert_int_equal(
        make_step(cases[i].call, "{}", 0, 0, &st, err, sizeof err, NULL), 0);
    assert_int_equal(P->step_streams(st), cases[i].streams);
    P->step_del(st);
  }
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)
  const struct CMUnitTest tests[] = {
      T(test_server_stream_events),
      T(test_server_stream_messages_as_they_come),
      T(test_server_stream_count),
      T(test_server_stream_duration),
      T(test_server_stream_error_mid_stream),
      T(test_stream_timeout_resets),
      T(test_server_stream_receive_limit),
      T(test_server_stream_broken_message),
      T(test_client_stream_array),
      T(test_client_stream_interval_and_count),
      T(test_client_stream_duration),
      T(test_client_stream_templates_per_message),
      cmocka_unit_test_setup_teardown(test_client_stream_flow_control,
                                      fx_setup_slow, fx_teardown),
      T(test_bidi_ping_pong),
      T(test_binary_input),
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_step_streams),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

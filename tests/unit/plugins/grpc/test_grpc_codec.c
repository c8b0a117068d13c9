/*
 * Unit test of the gRPC codec plugin's response hand-over (ABI 1.2),
 * through the plugin ABI only, with no sockets: the test loads grpc.so
 * with rpcload's loader, plays the host, and puts a real nghttp2 server
 * session on the other side of a memory pipe (pump() moves bytes both ways
 * until neither side has more to say). Steps call locust.hello's SayHello
 * from examples/hello/hello.proto (protoc runs in step_new, as for
 * --proto).
 *
 * The server answers by the request's name field:
 *   ok        200, metadata x-md, "Hello ok", trailers grpc-status 0
 *   gzip      the same, the message gzipped (grpc-encoding: gzip)
 *   big       a 40000-byte message, which spans DATA frames
 *   notfound  trailers-only: grpc-status 5, grpc-message percent-encoded
 *   http503   HTTP 503, no grpc-status
 *   bad       a message that does not decode, grpc-status 0
 *   reset     RST_STREAM(INTERNAL_ERROR)
 *   hold      nothing
 *
 * The host is tests/unit/fake_host: its request_wants_response answers
 * fh.wants_response and counts the questions; request_response keeps what
 * it was given per request id and checks it comes at most once, right
 * before that request's request_done.
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

/* nghttp2 1.60 renamed the ssize_t API; Debian 12 ships 1.52. */
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

static rl_fake_host fh;

/* A contract the plugin broke fails the test at once. */
static void violation(const char *what) { fail_msg("fake host: %s", what); }

/* Request id's request_done. */
static const rl_fake_event *ev(int id) {
  const rl_fake_event *e = rl_fake_event_of(&fh, id);
  assert_non_null(e);
  return e;
}

/* ---- The plugin and its steps (one per answer the server gives) ---------- */

static rl__plugin_set plugins;
static const rl_plugin *P;

enum mode { OK, GZIP, BIG, NOTFOUND, HTTP503, BAD, RESET, HOLD, N_MODES };
static const char *const mode_name[N_MODES] = {
    "ok", "gzip", "big", "notfound", "http503", "bad", "reset", "hold"};
static void *steps[N_MODES];

#define BIG_LEN 40000

static int group_setup(void **state) {
  (void)state;
  char err[1024];
  if (rl_codec_test_load(&fh, &plugins, RL_TEST_PLUGIN_DIR "/grpc.so",
                         violation, &P) != 0)
    return -1;
  for (int m = 0; m < N_MODES; m++) {
    char body[64];
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", mode_name[m]);
    rl_kv opts[] = {{"call", "SayHello"}, {"proto", RL_TEST_HELLO_PROTO}};
    rl_step_spec s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    s.url = "grpc://example.com:50051";
    s.scheme = "grpc";
    s.host = "example.com";
    s.port = 50051;
    s.path = "/";
    s.body = (const uint8_t *)body;
    s.body_len = strlen(body);
    s.options = opts;
    s.n_options = 2;
    err[0] = '\0';
    if (P->step_new(&fh.host, &s, &steps[m], err, sizeof err) != 0) {
      fprintf(stderr, "step_new: %s\n", err);
      return -1;
    }
  }
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  for (int m = 0; m < N_MODES; m++)
    if (steps[m] != NULL)
      P->step_del(steps[m]);
  rl_codec_test_unload(&fh, &plugins);
  return 0;
}

/* ---- The nghttp2 server ---------------------------------------------------- */

#define MAX_SRV 32

struct srv_stream {
  int32_t id;
  uint8_t req[256]; /* the request body's first bytes */
  size_t req_len;
  uint8_t *resp; /* the framed response message being sent; owned */
  size_t resp_len, resp_off;
  int trailers; /* grpc-status 0 after the message */
  /* Its regular header fields, "name: value\n" each (cut to fit). */
  char headers[512];
};

struct server {
  nghttp2_session *ng;
  struct srv_stream st[MAX_SRV];
  int n;
};

static struct srv_stream *srv_find(struct server *sv, int32_t id) {
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
  struct srv_stream *ss = src->ptr;
  (void)user_data;
  size_t n = ss->resp_len - ss->resp_off;
  if (n > length)
    n = length;
  memcpy(buf, ss->resp + ss->resp_off, n);
  ss->resp_off += n;
  if (ss->resp_off == ss->resp_len) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (ss->trailers) {
      const nghttp2_nv tr[] = {NV("grpc-status", "0"), NV("grpc-message", "")};
      assert_int_equal(nghttp2_submit_trailer(ng, id, tr, 2), 0);
      *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    }
  }
  return (srv_ssize)n;
}

/* A HelloResponse{message} on the wire: field 1, length-delimited. */
static size_t hello_response(uint8_t *out, const char *text, size_t len) {
  size_t o = 0;
  out[o++] = 0x0a;
  size_t v = len;
  while (v >= 0x80) {
    out[o++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  out[o++] = (uint8_t)v;
  memcpy(out + o, text, len);
  return o + len;
}

/* The request's name field (the server knows HelloRequest's shape). */
static void request_name(const struct srv_stream *ss, char *out, size_t cap) {
  out[0] = '\0';
  if (ss->req_len < 7 || ss->req[5] != 0x0a)
    return;
  size_t n = ss->req[6];
  if (n >= cap || 7 + n > ss->req_len)
    return;
  memcpy(out, ss->req + 7, n);
  out[n] = '\0';
}

static void srv_answer(struct server *sv, struct srv_stream *ss) {
  char name[64];
  request_name(ss, name, sizeof name);
  static uint8_t msg[BIG_LEN + 16];
  size_t len;
  srv_data_provider prd;
  memset(&prd, 0, sizeof prd);
  prd.source.ptr = ss;
  prd.read_callback = srv_read;
  if (strcmp(name, "ok") == 0 || strcmp(name, "gzip") == 0 ||
      strcmp(name, "big") == 0 || strcmp(name, "bad") == 0) {
    int gzip = strcmp(name, "gzip") == 0;
    if (strcmp(name, "big") == 0) {
      static char big[BIG_LEN];
      memset(big, 'b', sizeof big);
      len = hello_response(msg, big, sizeof big);
    } else if (strcmp(name, "bad") == 0) {
      static const uint8_t bad[] = {0xff, 0xff, 0xff};
      memcpy(msg, bad, sizeof bad);
      len = sizeof bad;
    } else {
      char text[80];
      snprintf(text, sizeof text, "Hello %s", name);
      len = hello_response(msg, text, strlen(text));
    }
    assert_int_equal(grpc_frame_build(msg, len, gzip, &ss->resp, &ss->resp_len),
                     0);
    ss->trailers = 1;
    nghttp2_nv plain[] = {NV(":status", "200"),
                          NV("content-type", "application/grpc"),
                          NV("x-md", "v")};
    nghttp2_nv zipped[] = {NV(":status", "200"),
                           NV("content-type", "application/grpc"),
                           NV("grpc-encoding", "gzip")};
    assert_int_equal(
        SRV_SUBMIT_RESPONSE(sv->ng, ss->id, gzip ? zipped : plain, 3, &prd), 0);
  } else if (strcmp(name, "notfound") == 0) {
    nghttp2_nv nva[] = {
        NV(":status", "200"), NV("content-type", "application/grpc"),
        NV("grpc-status", "5"), NV("grpc-message", "no%20such%20user")};
    assert_int_equal(SRV_SUBMIT_RESPONSE(sv->ng, ss->id, nva, 4, NULL), 0);
  } else if (strcmp(name, "http503") == 0) {
    nghttp2_nv nva[] = {NV(":status", "503")};
    assert_int_equal(SRV_SUBMIT_RESPONSE(sv->ng, ss->id, nva, 1, NULL), 0);
  } else if (strcmp(name, "reset") == 0) {
    assert_int_equal(nghttp2_submit_rst_stream(sv->ng, NGHTTP2_FLAG_NONE,
                                               ss->id, NGHTTP2_INTERNAL_ERROR),
                     0);
  }
}

static int srv_on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame,
                                void *user_data) {
  struct server *sv = user_data;
  (void)ng;
  if (frame->hd.type != NGHTTP2_HEADERS ||
      frame->headers.cat != NGHTTP2_HCAT_REQUEST)
    return 0;
  assert_true(sv->n < MAX_SRV);
  struct srv_stream *ss = &sv->st[sv->n++];
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
  struct srv_stream *ss = srv_find(sv, frame->hd.stream_id);
  if (ss == NULL || (namelen > 0 && name[0] == ':'))
    return 0;
  size_t used = strlen(ss->headers);
  snprintf(ss->headers + used, sizeof ss->headers - used, "%.*s: %.*s\n",
           (int)namelen, (const char *)name, (int)valuelen,
           (const char *)value);
  return 0;
}

static int srv_on_data(nghttp2_session *ng, uint8_t flags, int32_t id,
                       const uint8_t *data, size_t len, void *user_data) {
  struct server *sv = user_data;
  (void)ng;
  (void)flags;
  struct srv_stream *ss = srv_find(sv, id);
  if (ss != NULL) {
    size_t n = sizeof ss->req - ss->req_len;
    if (n > len)
      n = len;
    memcpy(ss->req + ss->req_len, data, n);
    ss->req_len += n;
  }
  return 0;
}

static int srv_on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame,
                             void *user_data) {
  struct server *sv = user_data;
  (void)ng;
  if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
    struct srv_stream *ss = srv_find(sv, frame->hd.stream_id);
    if (ss != NULL)
      srv_answer(sv, ss);
  }
  return 0;
}

/* ---- Per-test fixture ------------------------------------------------------ */

struct fx {
  rl_conn conn;
  void *session;
  struct server sv;
  size_t chunk; /* feed the plugin at most this many bytes per read; 0: all */
};

static int fx_setup(void **state) {
  rl_fake_host_init(&fh);
  fh.on_violation = violation;
  struct fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  rl_conn_info info = {sizeof info, "h2", "example.com", 50051, 0};
  assert_int_equal(P->session_new(&fh.host, &f->conn, &info, &f->session), 0);
  nghttp2_session_callbacks *cbs;
  assert_int_equal(nghttp2_session_callbacks_new(&cbs), 0);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs,
                                                          srv_on_begin_headers);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, srv_on_data);
  nghttp2_session_callbacks_set_on_header_callback(cbs, srv_on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, srv_on_frame_recv);
  assert_int_equal(nghttp2_session_server_new(&f->sv.ng, cbs, &f->sv), 0);
  nghttp2_session_callbacks_del(cbs);
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100}};
  assert_int_equal(nghttp2_submit_settings(f->sv.ng, NGHTTP2_FLAG_NONE, iv, 1),
                   0);
  *state = f;
  return 0;
}

static int fx_teardown(void **state) {
  struct fx *f = *state;
  if (f->session != NULL)
    P->session_del(f->session, RL_ERR_CANCELLED, "test over");
  rl_fake_host_check_idle(&fh);
  for (int i = 0; i < fh.n_events; i++)
    assert_string_equal(fh.events[i].type, "grpc");
  for (int i = 0; i < f->sv.n; i++)
    free(f->sv.st[i].resp);
  nghttp2_session_del(f->sv.ng);
  rl_fake_conn_free(&f->conn);
  free(f);
  return 0;
}

static int submit(struct fx *f, enum mode m) {
  return rl_fake_submit(&fh, P, f->session, steps[m]);
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
      size_t step = f->chunk ? f->chunk : (size_t)n;
      for (size_t off = 0; off < (size_t)n; off += step) {
        size_t k = (size_t)n - off < step ? (size_t)n - off : step;
        assert_int_equal(P->session_on_read(f->session, data + off, k), 0);
      }
      progress = 1;
    }
    if (!progress)
      return;
  }
  fail_msg("pump never settled");
}

/* ---- Tests ----------------------------------------------------------------- */

/* An OK call: status 0, the metadata (headers, then trailers; no
 * pseudo-headers), the message's wire bytes and its proto3 JSON. */
static void test_ok(void **state) {
  struct fx *f = *state;
  fh.wants_response = 1;
  assert_int_equal(submit(f, OK), 0);
  pump(f);
  assert_non_null(rl_fake_event_of(&fh, 1));
  assert_false(ev(1)->failed);
  const rl_fake_response *r = rl_fake_response_of(&fh, 1);
  assert_true(r->got);
  assert_int_equal(r->status, 0);
  assert_string_equal(r->headers, "content-type: application/grpc\n"
                                  "x-md: v\n"
                                  "grpc-status: 0\n"
                                  "grpc-message: \n");
  assert_int_equal(r->body_len, 10);
  assert_memory_equal(r->body, "\x0a\x08Hello ok", 10);
  assert_false(r->json_null);
  assert_string_equal(r->json, "{\"message\":\"Hello ok\"}");
  assert_int_equal(fh.asked, 1);
}

/* ABI 1.8: only the parts the host reads: the status always; the
 * message (and its JSON, which costs the decoding) only with the body. */
static void test_parts_only_what_the_host_reads(void **state) {
  struct fx *f = *state;
  fh.wants_response = 1;
  fh.response_parts = RL_RESPONSE_STATUS | RL_RESPONSE_BODY;
  assert_int_equal(submit(f, OK), 0);
  pump(f);
  const rl_fake_response *r = rl_fake_response_of(&fh, 1);
  assert_int_equal(r->status, 0);
  assert_int_equal(r->n_headers, 0);
  assert_int_equal(r->body_len, 10);
  assert_string_equal(r->json, "{\"message\":\"Hello ok\"}");
  fh.response_parts = RL_RESPONSE_STATUS;
  assert_int_equal(submit(f, OK), 0);
  pump(f);
  r = rl_fake_response_of(&fh, 2);
  assert_true(r->got);
  assert_int_equal(r->status, 0);
  assert_int_equal(r->n_headers, 0);
  assert_int_equal(r->body_len, 0);
  assert_true(r->json_null);
  assert_false(ev(2)->failed);
}

/* A gzipped message is handed over inflated; one that spans DATA frames
 * (and reads split at every byte) whole. */
static void test_gzip_and_split(void **state) {
  struct fx *f = *state;
  fh.wants_response = 1;
  assert_int_equal(submit(f, GZIP), 0);
  pump(f);
  const rl_fake_response *r = rl_fake_response_of(&fh, 1);
  assert_int_equal(r->status, 0);
  assert_int_equal(r->body_len, 12);
  assert_memory_equal(r->body, "\x0a\x0aHello gzip", 12);
  assert_string_equal(r->json, "{\"message\":\"Hello gzip\"}");
  assert_non_null(strstr(r->headers, "grpc-encoding: gzip\n"));

  f->chunk = 7;
  assert_int_equal(submit(f, BIG), 0);
  pump(f);
  r = rl_fake_response_of(&fh, 2);
  assert_false(ev(2)->failed);
  assert_int_equal(r->status, 0);
  assert_int_equal(r->body_len, BIG_LEN + 4); /* tag, 3-byte length */
  assert_memory_equal(r->body,
                      "\x0a\xc0\xb8\x02"
                      "bbbb",
                      8);
  assert_true(strncmp(r->json, "{\"message\":\"bbbb", 16) == 0);
}

/* A call that fails with a gRPC status still hands its response over with
 * that status, so that a scenario may expect it: the server's own, or the
 * one derived from the HTTP status, or the one a broken response means. */
static void test_not_ok(void **state) {
  struct fx *f = *state;
  fh.wants_response = 1;
  assert_int_equal(submit(f, NOTFOUND), 0);
  assert_int_equal(submit(f, HTTP503), 0);
  assert_int_equal(submit(f, BAD), 0);
  pump(f);
  assert_int_equal(fh.n_responses, 3);

  assert_string_equal(ev(1)->error, "NOT_FOUND: no such user");
  const rl_fake_response *r = rl_fake_response_of(&fh, 1);
  assert_int_equal(r->status, 5);
  assert_string_equal(r->headers, "content-type: application/grpc\n"
                                  "grpc-status: 5\n"
                                  "grpc-message: no%20such%20user\n");
  assert_int_equal(r->body_len, 0);
  assert_true(r->json_null);

  assert_string_equal(ev(2)->error, "UNAVAILABLE: HTTP status 503");
  assert_int_equal(rl_fake_response_of(&fh, 2)->status, 14);
  assert_string_equal(rl_fake_response_of(&fh, 2)->headers, "");

  assert_non_null(strstr(ev(3)->error, "INTERNAL: the response does not "
                                       "decode"));
  assert_int_equal(rl_fake_response_of(&fh, 3)->status, 13);
  assert_true(rl_fake_response_of(&fh, 3)->json_null);
}

/* No response, no hand-over: a reset stream, a call cut by the host's
 * timeout, one ended with the connection. */
static void test_no_response(void **state) {
  struct fx *f = *state;
  fh.wants_response = 1;
  assert_int_equal(submit(f, RESET), 0);
  assert_int_equal(submit(f, HOLD), 0);
  assert_int_equal(submit(f, HOLD), 0);
  pump(f);
  assert_non_null(rl_fake_event_of(&fh, 1));
  assert_true(ev(1)->failed);
  rl_request *held = rl_fake_live(&fh, 2);
  assert_non_null(held);
  assert_int_equal(P->session_cancel(f->session, held, "timed out"), 0);
  assert_string_equal(ev(2)->error, "DEADLINE_EXCEEDED: Deadline Exceeded");
  P->session_del(f->session, RL_ERR_CLOSED, "connection closed");
  f->session = NULL;
  assert_non_null(rl_fake_event_of(&fh, 3));
  assert_int_equal(fh.n_responses, 0);
  assert_int_equal(fh.asked, 3);
}

/* When the host does not look, nothing is collected or handed over; it is
 * asked once per call. */
static void test_not_wanted(void **state) {
  struct fx *f = *state;
  assert_int_equal(submit(f, OK), 0);
  assert_int_equal(submit(f, NOTFOUND), 0);
  assert_int_equal(submit(f, BIG), 0);
  pump(f);
  assert_int_equal(fh.n_events, 3);
  assert_false(ev(1)->failed);
  assert_int_equal(ev(3)->bytes, BIG_LEN + 4);
  assert_int_equal(fh.asked, 3);
  assert_int_equal(fh.n_responses, 0);
}

/* A call's own metadata (ABI 1.7 request headers): lowered, after the
 * step's fields, one named like a step's replacing it; a call without
 * them sends the step's; a bad one is refused with the reason. */
static void test_own_metadata(void **state) {
  struct fx *f = *state;
  rl_kv own[] = {{"Authorization", "Bearer t-1"}, {"x-Trace", "7"}};
  fh.headers = own;
  fh.n_headers = 2;
  assert_int_equal(submit(f, OK), 0);
  pump(f);
  assert_false(ev(1)->failed);
  const char *h = f->sv.st[0].headers;
  const char *a = strstr(h, "authorization: Bearer t-1\n");
  assert_non_null(a);
  assert_non_null(strstr(a, "x-trace: 7\n"));
  assert_non_null(strstr(h, "content-type: application/grpc\n"));
  /* te's value replaced: the server sees ours (one te field only). */
  rl_kv te[] = {{"TE", "trailers"}, {"user-agent", "mine/1"}};
  fh.headers = te;
  assert_int_equal(submit(f, OK), 0);
  pump(f);
  assert_false(ev(2)->failed);
  h = f->sv.st[1].headers;
  assert_non_null(strstr(h, "user-agent: mine/1\n"));
  assert_null(strstr(h, "rpcload/")); /* the step's user agent replaced */
  assert_ptr_equal(strstr(h, "te: "), strstr(h, "te: trailers"));

  fh.headers = NULL;
  fh.n_headers = 0;
  assert_int_equal(submit(f, OK), 0);
  pump(f);
  assert_null(strstr(f->sv.st[2].headers, "authorization"));

  rl_kv bad[] = {{"bad name", "1"}};
  fh.headers = bad;
  fh.n_headers = 1;
  assert_int_equal(submit(f, OK), RL_ERR_INVAL);
  assert_non_null(
      strstr(fh.refused, "header name \"bad name\" is not a token"));
  fh.headers = NULL;
  fh.n_headers = 0;
  pump(f);
  assert_int_equal(f->sv.n, 3);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)
  const struct CMUnitTest tests[] = {
      T(test_ok),
      T(test_parts_only_what_the_host_reads),
      T(test_gzip_and_split),
      T(test_not_ok),
      T(test_no_response),
      T(test_not_wanted),
      T(test_own_metadata),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

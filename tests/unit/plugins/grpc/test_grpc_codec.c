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
 * The host's request_wants_response answers R.wants and counts the
 * questions; request_response keeps what it was given per request id and
 * checks it comes at most once, right before that request's request_done.
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

#include <rpcload/plugin.h>

#include "engine/plugin_loader.h"
#include "engine/template.h"
#include "grpc/grpc_wire.h"

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

struct rl_request {
  void *step;
  int id;
};

struct rl_conn {
  uint8_t *out; /* what the plugin wrote and the server has not read */
  size_t out_len;
};

/* ---- The test host ------------------------------------------------------ */

#define MAX_REQ 32

struct event {
  int done;
  int failed;
  char error[256];
  uint64_t bytes;
};

/* What request_response was given for one request. */
struct resp {
  int got;
  int status;
  char headers[1024]; /* "name: value\n" each, in order */
  size_t body_len;
  uint8_t body[64]; /* its first bytes */
  char json[256];   /* "" when NULL */
  int json_null;
};

static struct {
  struct event ev[MAX_REQ + 1]; /* by request id */
  struct resp resp[MAX_REQ + 1];
  rl_request *live[MAX_REQ];
  int n_accepted, n_done, n_retries;
  int in_submit;
  int wants, asked, n_resp;
  const rl_request *pending; /* handed over, its request_done not yet */
} H;

static void forget_live(rl_request *req) {
  int found = 0;
  for (int i = 0; i < MAX_REQ; i++) {
    if (H.live[i] == req) {
      H.live[i] = NULL;
      found = 1;
    }
  }
  assert_true(found);
}

static void *host_request_step(const rl_request *req) { return req->step; }

static void host_request_done(rl_request *req, const rl_result *r) {
  assert_false(H.in_submit);
  if (H.pending != NULL) {
    assert_ptr_equal(H.pending, req);
    H.pending = NULL;
  }
  forget_live(req);
  assert_string_equal(r->type, "grpc");
  struct event *e = &H.ev[req->id];
  e->done = 1;
  e->failed = r->error != NULL;
  snprintf(e->error, sizeof e->error, "%s", r->error ? r->error : "");
  e->bytes = r->response_bytes;
  H.n_done++;
  free(req);
}

static void host_request_retry(rl_request *req, const char *reason) {
  (void)reason;
  assert_null(H.pending);
  forget_live(req);
  H.n_retries++;
  free(req);
}

static void host_conn_drain(rl_conn *conn) { (void)conn; }

static int host_request_wants_response(const rl_request *req) {
  assert_non_null(req);
  H.asked++;
  return H.wants;
}

static void host_request_response(rl_request *req, const rl_response *resp) {
  int live = 0;
  assert_false(H.in_submit);
  for (int i = 0; i < MAX_REQ; i++)
    live |= H.live[i] == req;
  assert_true(live);
  assert_null(H.pending);
  assert_true(resp->struct_size >= sizeof(rl_response));
  struct resp *r = &H.resp[req->id];
  assert_false(r->got);
  H.pending = req;
  H.n_resp++;
  r->got = 1;
  r->status = resp->status;
  r->headers[0] = '\0';
  for (size_t i = 0; i < resp->n_headers; i++) {
    size_t len = strlen(r->headers);
    snprintf(r->headers + len, sizeof r->headers - len, "%s: %s\n",
             resp->headers[i].key, resp->headers[i].value);
  }
  r->body_len = resp->body_len;
  if (resp->body_len > 0) {
    assert_non_null(resp->body);
    memcpy(r->body, resp->body,
           resp->body_len < sizeof r->body ? resp->body_len : sizeof r->body);
  }
  r->json_null = resp->json == NULL;
  snprintf(r->json, sizeof r->json, "%s", resp->json ? resp->json : "");
}

static int host_conn_write(rl_conn *conn, const void *data, size_t len) {
  uint8_t *p = realloc(conn->out, conn->out_len + len);
  assert_non_null(p);
  memcpy(p + conn->out_len, data, len);
  conn->out = p;
  conn->out_len += len;
  return 0;
}

static void host_conn_close(rl_conn *conn) { (void)conn; }

static uint64_t host_now_ns(void) { return 0; }

static void host_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void host_log(int level, const char *fmt, ...) {
  va_list ap;
  (void)level;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

static struct {
  char *buf;
  size_t cap;
  uint64_t rng;
} T;

static int host_template_new(const char *text, size_t len, rl_template **out,
                             char *err, size_t errlen) {
  return rl__template_new(text, len, out, err, errlen);
}

static const char *host_template_expand(const rl_template *t, rl_request *req,
                                        size_t *len) {
  rl__template_ctx ctx = {
      .user_id = (uint64_t)req->id, .seq = 1, .rng = &T.rng};
  *len = 0;
  if (rl__template_expand(t, &ctx, &T.buf, len, &T.cap))
    return NULL;
  return T.buf ? T.buf : "";
}

static uint64_t host_request_user_id(const rl_request *req) {
  return (uint64_t)req->id;
}

static const rl_host test_host = {
    .abi_version = RL_ABI_VERSION,
    .struct_size = sizeof(rl_host),
    .request_step = host_request_step,
    .request_done = host_request_done,
    .conn_write = host_conn_write,
    .conn_close = host_conn_close,
    .now_ns = host_now_ns,
    .log = host_log,
    .template_new = host_template_new,
    .template_del = rl__template_del,
    .template_is_constant = rl__template_is_constant,
    .template_expand = host_template_expand,
    .request_user_id = host_request_user_id,
    .request_retry = host_request_retry,
    .conn_drain = host_conn_drain,
    .request_wants_response = host_request_wants_response,
    .request_response = host_request_response,
};

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
  rl__plugin *p;
  rl__plugin_set_init(&plugins);
  if (rl__plugin_set_load(&plugins, RL_TEST_PLUGIN_DIR "/grpc.so", &p, err,
                          sizeof err) != 0) {
    fprintf(stderr, "%s\n", err);
    return -1;
  }
  P = &p->desc;
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
    if (P->step_new(&test_host, &s, &steps[m], err, sizeof err) != 0) {
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
  rl__plugin_set_free(&plugins);
  free(T.buf);
  T.buf = NULL;
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
      memcpy(msg, "\xff\xff\xff", 3);
      len = 3;
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
  int next_id;
  size_t chunk; /* feed the plugin at most this many bytes per read; 0: all */
};

static int fx_setup(void **state) {
  memset(&H, 0, sizeof H);
  struct fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  rl_conn_info info = {sizeof info, "h2", "example.com", 50051, 0};
  assert_int_equal(P->session_new(&test_host, &f->conn, &info, &f->session), 0);
  nghttp2_session_callbacks *cbs;
  assert_int_equal(nghttp2_session_callbacks_new(&cbs), 0);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs,
                                                          srv_on_begin_headers);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, srv_on_data);
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
  assert_int_equal(H.n_done + H.n_retries, H.n_accepted);
  for (int i = 0; i < MAX_REQ; i++)
    assert_null(H.live[i]);
  assert_null(H.pending);
  for (int i = 0; i < f->sv.n; i++)
    free(f->sv.st[i].resp);
  nghttp2_session_del(f->sv.ng);
  free(f->conn.out);
  free(f);
  return 0;
}

static int submit(struct fx *f, enum mode m) {
  rl_request *req = malloc(sizeof *req);
  assert_non_null(req);
  req->step = steps[m];
  req->id = ++f->next_id;
  assert_true(req->id <= MAX_REQ);
  int slot = -1;
  for (int i = 0; i < MAX_REQ && slot < 0; i++)
    if (H.live[i] == NULL)
      slot = i;
  assert_true(slot >= 0);
  H.live[slot] = req;
  H.in_submit = 1;
  int rc = P->session_submit(f->session, req);
  H.in_submit = 0;
  if (rc == 0) {
    H.n_accepted++;
  } else {
    H.live[slot] = NULL;
    free(req);
  }
  return rc;
}

/* Moves bytes both ways until neither side has more to say. */
static void pump(struct fx *f) {
  for (int rounds = 0; rounds < 100000; rounds++) {
    int progress = 0;
    if (f->conn.out_len > 0) {
      uint8_t *in = f->conn.out;
      size_t n = f->conn.out_len;
      f->conn.out = NULL;
      f->conn.out_len = 0;
      assert_int_equal(SRV_MEM_RECV(f->sv.ng, in, n), (srv_ssize)n);
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
  H.wants = 1;
  assert_int_equal(submit(f, OK), 0);
  pump(f);
  assert_true(H.ev[1].done);
  assert_false(H.ev[1].failed);
  struct resp *r = &H.resp[1];
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
  assert_int_equal(H.asked, 1);
}

/* A gzipped message is handed over inflated; one that spans DATA frames
 * (and reads split at every byte) whole. */
static void test_gzip_and_split(void **state) {
  struct fx *f = *state;
  H.wants = 1;
  assert_int_equal(submit(f, GZIP), 0);
  pump(f);
  struct resp *r = &H.resp[1];
  assert_int_equal(r->status, 0);
  assert_int_equal(r->body_len, 12);
  assert_memory_equal(r->body, "\x0a\x0aHello gzip", 12);
  assert_string_equal(r->json, "{\"message\":\"Hello gzip\"}");
  assert_non_null(strstr(r->headers, "grpc-encoding: gzip\n"));

  f->chunk = 7;
  assert_int_equal(submit(f, BIG), 0);
  pump(f);
  r = &H.resp[2];
  assert_false(H.ev[2].failed);
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
  H.wants = 1;
  assert_int_equal(submit(f, NOTFOUND), 0);
  assert_int_equal(submit(f, HTTP503), 0);
  assert_int_equal(submit(f, BAD), 0);
  pump(f);
  assert_int_equal(H.n_resp, 3);

  assert_string_equal(H.ev[1].error, "NOT_FOUND: no such user");
  struct resp *r = &H.resp[1];
  assert_int_equal(r->status, 5);
  assert_string_equal(r->headers, "content-type: application/grpc\n"
                                  "grpc-status: 5\n"
                                  "grpc-message: no%20such%20user\n");
  assert_int_equal(r->body_len, 0);
  assert_true(r->json_null);

  assert_string_equal(H.ev[2].error, "UNAVAILABLE: HTTP status 503");
  assert_int_equal(H.resp[2].status, 14);
  assert_string_equal(H.resp[2].headers, "");

  assert_non_null(strstr(H.ev[3].error, "INTERNAL: the response does not "
                                        "decode"));
  assert_int_equal(H.resp[3].status, 13);
  assert_true(H.resp[3].json_null);
}

/* No response, no hand-over: a reset stream, a call cut by the host's
 * timeout, one ended with the connection. */
static void test_no_response(void **state) {
  struct fx *f = *state;
  H.wants = 1;
  assert_int_equal(submit(f, RESET), 0);
  assert_int_equal(submit(f, HOLD), 0);
  assert_int_equal(submit(f, HOLD), 0);
  pump(f);
  assert_true(H.ev[1].done);
  assert_true(H.ev[1].failed);
  rl_request *held = NULL;
  for (int i = 0; i < MAX_REQ; i++)
    if (H.live[i] != NULL && H.live[i]->id == 2)
      held = H.live[i];
  assert_non_null(held);
  assert_int_equal(P->session_cancel(f->session, held, "timed out"), 0);
  assert_string_equal(H.ev[2].error, "DEADLINE_EXCEEDED: Deadline Exceeded");
  P->session_del(f->session, RL_ERR_CLOSED, "connection closed");
  f->session = NULL;
  assert_true(H.ev[3].done);
  assert_int_equal(H.n_resp, 0);
  assert_int_equal(H.asked, 3);
}

/* When the host does not look, nothing is collected or handed over; it is
 * asked once per call. */
static void test_not_wanted(void **state) {
  struct fx *f = *state;
  assert_int_equal(submit(f, OK), 0);
  assert_int_equal(submit(f, NOTFOUND), 0);
  assert_int_equal(submit(f, BIG), 0);
  pump(f);
  assert_int_equal(H.n_done, 3);
  assert_false(H.ev[1].failed);
  assert_int_equal(H.ev[3].bytes, BIG_LEN + 4);
  assert_int_equal(H.asked, 3);
  assert_int_equal(H.n_resp, 0);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)
  const struct CMUnitTest tests[] = {
      T(test_ok),          T(test_gzip_and_split), T(test_not_ok),
      T(test_no_response), T(test_not_wanted),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

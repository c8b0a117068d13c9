/*
 * Unit test of the http2 codec plugin, through the plugin ABI only, with no
 * sockets: the test loads http2.so with rpcload's loader, plays the host
 * (conn_write appends
 * to a buffer, request_done / request_retry / conn_drain keep books), and
 * puts a real nghttp2 *server* session on the other side of that memory
 * pipe: what the plugin writes is fed to the server, what the server sends
 * is fed back to the plugin (pump()), until neither has anything to say.
 *
 * The server answers by path:
 *   /hello      200, "hello world\n"
 *   /missing    404, no body
 *   /error      500
 *   /big        200, 10 MiB generated as it is sent
 *   /upload     200 once the whole request body arrived, body "got"
 *   /early      200 at once, before the request body arrives
 *   /early-rst  like /early, then RST_STREAM(NO_ERROR) (RFC 9113 8.1)
 *   /refuse     RST_STREAM(REFUSED_STREAM)
 *   /refuse-once  RST_STREAM(REFUSED_STREAM) the first time, then as any
 *               other path (200, "hello world\n")
 *   /rst-odd    RST_STREAM with an unregistered code 0x1f
 *   /badlen     200 with content-length 5 and 12 bytes of body
 *   /info       103 Early Hints, then 200 "hello world\n"
 *   /trailers   200 "hello world\n" then trailers
 *   /meta       201 with x-id and content-type, "hello world\n", trailers
 *   /hold       nothing until the test says (srv_respond)
 *   /login      200, set-cookie sid=abc (Path=/) and lang=en
 *   /go/P       302 to /P        /go307/P   307 to /P
 *   /go-cookie/P  302 to /P with set-cookie flash=1
 *   /go-bye/P   302 to /P, then GOAWAY naming this stream the last
 *   /go-other   302 to https://other.example/x
 *   /loop       301 to /loop
 *
 * The host is tests/unit/fake_host, as in the http1 test: requests are
 * heap objects freed when the plugin reports them, so touching one
 * afterwards shows under valgrind or ASan, and the host checks that each is
 * reported once, never from inside session_submit(). It also plays ABI
 * 1.2's response hand-over: request_wants_response answers
 * fh.wants_response and counts the questions, and request_response keeps
 * what it was given, checking that it comes at most once per request,
 * right before that request's request_done.
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
#include "unit/codec_test.h"

/* nghttp2 1.60 renamed the ssize_t API and deprecated the old names;
 * Debian 12 ships 1.52. The server below uses these. */
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

/* ---- Loading the plugin -------------------------------------------------- */

static rl__plugin_set plugins;
static const rl_plugin *P;

/* Loaded through rpcload's own loader, so the plugin under test also
 * passes its checks (entry symbol, ABI, size, required members). */
static int group_setup(void **state) {
  (void)state;
  if (rl_codec_test_load(&fh, &plugins, RL_TEST_PLUGIN_DIR "/http2.so",
                         violation, &P) != 0)
    return -1;
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  rl_codec_test_unload(&fh, &plugins);
  return 0;
}

/* ---- The nghttp2 server on the other side -------------------------------- */

#define MAX_SRV_STREAMS 64
#define BIG_LEN ((uint64_t)10 * 1024 * 1024)

/* One request as the server saw it. */
struct srv_stream {
  int32_t id;
  char method[16];
  char scheme[16];
  char authority[128];
  char path[256];
  char headers[1024]; /* regular fields, "name: value\n" each, in order */
  uint64_t body_bytes;
  char body[64]; /* the body's first bytes */
  int ended;     /* END_STREAM from the client came */
  int responded; /* a response was submitted */
  int closed;
  uint32_t close_code;
  /* The response body being sent. */
  const char *resp_body; /* NULL: generated 'x' bytes */
  uint64_t resp_left;
  int trailers; /* send trailers after the body */
};

struct server {
  nghttp2_session *ng;
  struct srv_stream streams[MAX_SRV_STREAMS];
  int n;
  int settings_acked; /* the client acknowledged our SETTINGS */
};

static struct srv_stream *srv_find(struct server *sv, int32_t id) {
  for (int i = 0; i < sv->n; i++)
    if (sv->streams[i].id == id)
      return &sv->streams[i];
  return NULL;
}

/* How many streams the server has seen for path (the current one too). */
static int srv_count(const struct server *sv, const char *path) {
  int n = 0;
  for (int i = 0; i < sv->n; i++)
    if (strcmp(sv->streams[i].path, path) == 0)
      n++;
  return n;
}

static void append(char *dst, size_t cap, const uint8_t *s, size_t n) {
  size_t len = strlen(dst);
  if (len + n + 1 > cap)
    n = cap - len - 1;
  memcpy(dst + len, s, n);
  dst[len + n] = '\0';
}

static void copy_field(char *dst, size_t cap, const uint8_t *s, size_t n) {
  dst[0] = '\0';
  append(dst, cap, s, n);
}

static const char HELLO[] = "hello world\n";

static srv_ssize srv_read_body(nghttp2_session *ng, int32_t stream_id,
                               uint8_t *buf, size_t length,
                               uint32_t *data_flags,
                               nghttp2_data_source *source, void *user_data) {
  struct srv_stream *ss = source->ptr;
  (void)user_data;
  size_t n = ss->resp_left < length ? (size_t)ss->resp_left : length;
  if (ss->resp_body != NULL) {
    size_t total = strlen(ss->resp_body);
    memcpy(buf, ss->resp_body + (total - ss->resp_left), n);
  } else {
    memset(buf, 'x', n);
  }
  ss->resp_left -= n;
  if (ss->resp_left == 0) {
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    if (ss->trailers) {
      const nghttp2_nv tr[] = {
          {(uint8_t *)"x-checksum", (uint8_t *)"42", 10, 2,
           NGHTTP2_NV_FLAG_NONE},
      };
      assert_int_equal(nghttp2_submit_trailer(ng, stream_id, tr, 1), 0);
      *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    }
  }
  return (srv_ssize)n;
}

#define NV(name, value)                                                        \
  {                                                                            \
    (uint8_t *)(name), (uint8_t *)(value), sizeof(name) - 1, strlen(value),    \
        NGHTTP2_NV_FLAG_NONE                                                   \
  }

/* Sends a response on stream ss: status, an optional content-length and a
 * body of body_len bytes (from body, or generated). */
static void srv_respond_full(struct server *sv, struct srv_stream *ss,
                             const char *status, const char *content_length,
                             const char *body, uint64_t body_len) {
  nghttp2_nv nva[2] = {NV(":status", status), NV("content-length", "")};
  size_t n = 1;
  if (content_length != NULL) {
    nva[1].value = (uint8_t *)content_length;
    nva[1].valuelen = strlen(content_length);
    n = 2;
  }
  ss->resp_body = body;
  ss->resp_left = body_len;
  ss->responded = 1;
  srv_data_provider prd;
  memset(&prd, 0, sizeof prd);
  prd.source.ptr = ss;
  prd.read_callback = srv_read_body;
  assert_int_equal(
      SRV_SUBMIT_RESPONSE(sv->ng, ss->id, nva, n,
                          body_len > 0 || ss->trailers ? &prd : NULL),
      0);
}

/* A response of header fields alone (a redirect, cookies). */
static void srv_respond_fields(struct server *sv, struct srv_stream *ss,
                               const nghttp2_nv *nva, size_t n) {
  ss->responded = 1;
  assert_int_equal(SRV_SUBMIT_RESPONSE(sv->ng, ss->id, nva, n, NULL), 0);
}

/* The redirect paths: 1 when ss's is one (answered). */
static int srv_redirect(struct server *sv, struct srv_stream *ss) {
  static const struct {
    const char *prefix, *status;
    int cookie, bye;
  } go[] = {{"/go/", "302", 0, 0},
            {"/go307/", "307", 0, 0},
            {"/go-cookie/", "302", 1, 0},
            {"/go-bye/", "302", 0, 1}};
  char to[256];
  for (size_t i = 0; i < sizeof go / sizeof go[0]; i++) {
    size_t n = strlen(go[i].prefix);
    if (strncmp(ss->path, go[i].prefix, n) != 0)
      continue;
    snprintf(to, sizeof to, "/%s", ss->path + n);
    nghttp2_nv nva[] = {NV(":status", go[i].status), NV("location", to),
                        NV("set-cookie", "flash=1; Path=/")};
    srv_respond_fields(sv, ss, nva, go[i].cookie ? 3 : 2);
    if (go[i].bye)
      assert_int_equal(nghttp2_submit_goaway(sv->ng, NGHTTP2_FLAG_NONE, ss->id,
                                             NGHTTP2_NO_ERROR, NULL, 0),
                       0);
    return 1;
  }
  if (strcmp(ss->path, "/go-other") == 0) {
    nghttp2_nv nva[] = {NV(":status", "302"),
                        NV("location", "https://other.example/x")};
    srv_respond_fields(sv, ss, nva, 2);
    return 1;
  }
  if (strcmp(ss->path, "/loop") == 0) {
    nghttp2_nv nva[] = {NV(":status", "301"), NV("location", "/loop")};
    srv_respond_fields(sv, ss, nva, 2);
    return 1;
  }
  return 0;
}

/* The server's answer to a request, by path (see the top of the file). */
static void srv_answer(struct server *sv, struct srv_stream *ss) {
  char len[32];
  if (ss->responded)
    return;
  if (strcmp(ss->path, "/hold") == 0 || srv_redirect(sv, ss))
    return;
  if (strcmp(ss->path, "/login") == 0) {
    nghttp2_nv nva[] = {NV(":status", "200"),
                        NV("set-cookie", "sid=abc; Path=/"),
                        NV("set-cookie", "lang=en")};
    srv_respond_fields(sv, ss, nva, 3);
    return;
  }
  if (strcmp(ss->path, "/missing") == 0) {
    srv_respond_full(sv, ss, "404", NULL, NULL, 0);
  } else if (strcmp(ss->path, "/error") == 0) {
    srv_respond_full(sv, ss, "500", NULL, NULL, 0);
  } else if (strcmp(ss->path, "/big") == 0) {
    snprintf(len, sizeof len, "%llu", (unsigned long long)BIG_LEN);
    srv_respond_full(sv, ss, "200", len, NULL, BIG_LEN);
  } else if (strcmp(ss->path, "/upload") == 0) {
    srv_respond_full(sv, ss, "200", NULL, "got", 3);
  } else if (strcmp(ss->path, "/refuse") == 0 ||
             (strcmp(ss->path, "/refuse-once") == 0 &&
              srv_count(sv, "/refuse-once") == 1)) {
    ss->responded = 1;
    assert_int_equal(nghttp2_submit_rst_stream(sv->ng, NGHTTP2_FLAG_NONE,
                                               ss->id, NGHTTP2_REFUSED_STREAM),
                     0);
  } else if (strcmp(ss->path, "/rst-odd") == 0) {
    ss->responded = 1;
    assert_int_equal(
        nghttp2_submit_rst_stream(sv->ng, NGHTTP2_FLAG_NONE, ss->id, 0x1f), 0);
  } else if (strcmp(ss->path, "/badlen") == 0) {
    srv_respond_full(sv, ss, "200", "5", HELLO, strlen(HELLO));
  } else if (strcmp(ss->path, "/info") == 0) {
    nghttp2_nv info[] = {NV(":status", "103"), NV("link", "</a.css>")};
    assert_int_equal(nghttp2_submit_headers(sv->ng, NGHTTP2_FLAG_NONE, ss->id,
                                            NULL, info, 2, NULL),
                     0);
    srv_respond_full(sv, ss, "200", NULL, HELLO, strlen(HELLO));
  } else if (strcmp(ss->path, "/meta") == 0) {
    nghttp2_nv nva[] = {NV(":status", "201"), NV("x-id", "42"),
                        NV("content-type", "text/plain")};
    ss->trailers = 1;
    ss->resp_body = HELLO;
    ss->resp_left = strlen(HELLO);
    ss->responded = 1;
    srv_data_provider prd;
    memset(&prd, 0, sizeof prd);
    prd.source.ptr = ss;
    prd.read_callback = srv_read_body;
    assert_int_equal(SRV_SUBMIT_RESPONSE(sv->ng, ss->id, nva, 3, &prd), 0);
  } else if (strcmp(ss->path, "/trailers") == 0) {
    ss->trailers = 1;
    srv_respond_full(sv, ss, "200", NULL, HELLO, strlen(HELLO));
  } else if (strcmp(ss->method, "HEAD") == 0) {
    /* A HEAD response announces a length and sends no body. */
    srv_respond_full(sv, ss, "200", "100", NULL, 0);
  } else {
    srv_respond_full(sv, ss, "200", NULL, HELLO, strlen(HELLO));
  }
}

static int srv_on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame,
                                void *user_data) {
  struct server *sv = user_data;
  if (frame->hd.type != NGHTTP2_HEADERS ||
      frame->headers.cat != NGHTTP2_HCAT_REQUEST)
    return 0;
  assert_true(sv->n < MAX_SRV_STREAMS);
  struct srv_stream *ss = &sv->streams[sv->n++];
  memset(ss, 0, sizeof *ss);
  ss->id = frame->hd.stream_id;
  (void)ng;
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
  if (ss == NULL)
    return 0;
  if (namelen == 7 && memcmp(name, ":method", 7) == 0)
    copy_field(ss->method, sizeof ss->method, value, valuelen);
  else if (namelen == 7 && memcmp(name, ":scheme", 7) == 0)
    copy_field(ss->scheme, sizeof ss->scheme, value, valuelen);
  else if (namelen == 10 && memcmp(name, ":authority", 10) == 0)
    copy_field(ss->authority, sizeof ss->authority, value, valuelen);
  else if (namelen == 5 && memcmp(name, ":path", 5) == 0)
    copy_field(ss->path, sizeof ss->path, value, valuelen);
  else {
    append(ss->headers, sizeof ss->headers, name, namelen);
    append(ss->headers, sizeof ss->headers, (const uint8_t *)": ", 2);
    append(ss->headers, sizeof ss->headers, value, valuelen);
    append(ss->headers, sizeof ss->headers, (const uint8_t *)"\n", 1);
  }
  return 0;
}

static int srv_on_data(nghttp2_session *ng, uint8_t flags, int32_t stream_id,
                       const uint8_t *data, size_t len, void *user_data) {
  struct server *sv = user_data;
  (void)ng;
  (void)flags;
  struct srv_stream *ss = srv_find(sv, stream_id);
  if (ss != NULL) {
    ss->body_bytes += len;
    append(ss->body, sizeof ss->body, data, len);
  }
  return 0;
}

static int srv_on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame,
                             void *user_data) {
  struct server *sv = user_data;
  (void)ng;
  if (frame->hd.type == NGHTTP2_SETTINGS &&
      (frame->hd.flags & NGHTTP2_FLAG_ACK))
    sv->settings_acked++;
  if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
    return 0;
  struct srv_stream *ss = srv_find(sv, frame->hd.stream_id);
  if (ss == NULL)
    return 0;
  if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
    ss->ended = 1;
  /* Most paths answer the whole request; /early answers its headers. */
  if (ss->ended || (frame->hd.type == NGHTTP2_HEADERS &&
                    strncmp(ss->path, "/early", 6) == 0))
    srv_answer(sv, ss);
  return 0;
}

static int srv_on_frame_send(nghttp2_session *ng, const nghttp2_frame *frame,
                             void *user_data) {
  struct server *sv = user_data;
  if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
    return 0;
  struct srv_stream *ss = srv_find(sv, frame->hd.stream_id);
  /* The response went out whole: "stop sending, that is all I need"
   * (RFC 9113 8.1). */
  if (ss != NULL && strcmp(ss->path, "/early-rst") == 0)
    assert_int_equal(nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, ss->id,
                                               NGHTTP2_NO_ERROR),
                     0);
  return 0;
}

static int srv_on_close(nghttp2_session *ng, int32_t stream_id,
                        uint32_t error_code, void *user_data) {
  struct server *sv = user_data;
  (void)ng;
  struct srv_stream *ss = srv_find(sv, stream_id);
  if (ss != NULL) {
    ss->closed = 1;
    ss->close_code = error_code;
  }
  return 0;
}

/* Starts the server with these SETTINGS (its connection preface). */
static void srv_start(struct server *sv, const nghttp2_settings_entry *iv,
                      size_t niv) {
  nghttp2_session_callbacks *cbs;
  assert_int_equal(nghttp2_session_callbacks_new(&cbs), 0);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs,
                                                          srv_on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, srv_on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, srv_on_data);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, srv_on_frame_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, srv_on_close);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, srv_on_frame_send);
  assert_int_equal(nghttp2_session_server_new(&sv->ng, cbs, sv), 0);
  nghttp2_session_callbacks_del(cbs);
  assert_int_equal(nghttp2_submit_settings(sv->ng, NGHTTP2_FLAG_NONE, iv, niv),
                   0);
}

/* ---- Per-test fixture ------------------------------------------------------ */

#define MAX_STEPS 8

struct fx {
  rl_conn conn;
  void *session; /* NULL once deleted */
  void *steps[MAX_STEPS];
  int n_steps;
  struct server sv;
  size_t chunk; /* feed the plugin at most this many bytes per read; 0: all */
};

static int fx_setup(void **state) {
  rl_fake_host_init(&fh);
  fh.on_violation = violation;
  struct fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  rl_conn_info info = {sizeof info, "h2", "example.com", 80, 0};
  assert_int_equal(P->session_new(&fh.host, &f->conn, &info, &f->session), 0);
  assert_non_null(f->session);
  *state = f;
  return 0;
}

/* Deletes the session (if the test did not), then checks the invariant of
 * every case: each accepted request was reported (or handed back) exactly
 * once. */
static int fx_teardown(void **state) {
  struct fx *f = *state;
  if (f->session != NULL)
    P->session_del(f->session, RL_ERR_CANCELLED, "test over");
  /* Each accepted request reported or handed back once; every response
   * followed by its done. */
  rl_fake_host_check_idle(&fh);
  for (int i = 0; i < f->n_steps; i++)
    P->step_del(f->steps[i]);
  if (f->sv.ng != NULL)
    nghttp2_session_del(f->sv.ng);
  rl_fake_conn_free(&f->conn);
  free(f);
  return 0;
}

/* The default server: 100 streams, the protocol's windows. */
static void srv_default(struct fx *f) {
  if (f->sv.ng == NULL) {
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100}};
    srv_start(&f->sv, iv, 1);
  }
}

/* Feeds bytes from the server to the plugin, f->chunk at a time; returns
 * the first non-zero code. */
static int to_plugin(struct fx *f, const uint8_t *data, size_t len) {
  size_t step = f->chunk ? f->chunk : len;
  for (size_t off = 0; off < len; off += step) {
    size_t n = len - off < step ? len - off : step;
    int rc = P->session_on_read(f->session, data + off, n);
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* Moves bytes both ways until neither side has more to say. Returns the
 * plugin's first non-zero on_read code, or 0. */
static int pump(struct fx *f) {
  srv_default(f);
  for (int rounds = 0; rounds < 1000000; rounds++) {
    int progress = 0;
    if (f->conn.out_len > 0) {
      size_t n = 0;
      char *in = rl_fake_conn_take(&f->conn, &n);
      srv_ssize r = SRV_MEM_RECV(f->sv.ng, (const uint8_t *)in, n);
      free(in);
      assert_int_equal(r, (srv_ssize)n);
      progress = 1;
    }
    for (;;) {
      const uint8_t *data;
      srv_ssize n = SRV_MEM_SEND(f->sv.ng, &data);
      assert_true(n >= 0);
      if (n == 0)
        break;
      /* The plugin may write while reading: mem_send's buffer stays ours
       * until the next server call, which comes after. */
      int rc = to_plugin(f, data, (size_t)n);
      if (rc != 0)
        return rc;
      progress = 1;
    }
    if (!progress)
      return 0;
  }
  fail_msg("pump never settled");
  return -1;
}

static rl_step_spec base_spec(const char *path) {
  rl_step_spec s;
  memset(&s, 0, sizeof s);
  s.struct_size = sizeof s;
  s.url = "http://example.com/";
  s.scheme = "http";
  s.host = "example.com";
  s.port = 80;
  s.path = path;
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

static void *get_step(struct fx *f, const char *path) {
  rl_step_spec spec = base_spec(path);
  return add_step(f, &spec);
}

/* Submits a new request for step; returns the plugin's code. */
static int submit(struct fx *f, void *step) {
  return rl_fake_submit(&fh, P, f->session, step);
}

static void del(struct fx *f, int err, const char *reason) {
  P->session_del(f->session, err, reason);
  f->session = NULL;
}

static const rl_fake_event *event_of(int req_id) {
  const rl_fake_event *e = rl_fake_event_of(&fh, req_id);
  if (e == NULL)
    fail_msg("no event for request %d", req_id);
  return e;
}

static void assert_success(int req_id, const char *type, const char *name,
                           uint64_t bytes) {
  const rl_fake_event *e = event_of(req_id);
  if (e->failed)
    fail_msg("request %d failed: %s", req_id, e->error);
  assert_string_equal(e->type, type);
  assert_string_equal(e->name, name);
  assert_int_equal(e->bytes, bytes);
}

static void assert_failure(int req_id, const char *error) {
  const rl_fake_event *e = event_of(req_id);
  assert_true(e->failed);
  assert_string_equal(e->error, error);
}

static uint32_t max_concurrent(struct fx *f) {
  return P->session_max_concurrent(f->session);
}

/* ---- Descriptor and steps ---------------------------------------------------- */

static void test_descriptor(void **state) {
  (void)state;
  assert_int_equal(RL_ABI_VERSION_MAJOR(P->abi_version), RL_ABI_MAJOR);
  assert_true(P->struct_size >= RL_PLUGIN_MIN_SIZE);
  assert_string_equal(P->name, "http2");
  assert_string_equal(P->version, "0.1.0");
  assert_int_equal(P->kind, RL_PLUGIN_CODEC);
  assert_string_equal(P->schemes[0].name, "http");
  assert_int_equal(P->schemes[0].default_port, 80);
  assert_int_equal(P->schemes[0].tls, 0);
  assert_string_equal(P->schemes[1].name, "https");
  assert_int_equal(P->schemes[1].default_port, 443);
  assert_int_equal(P->schemes[1].tls, 1);
  assert_null(P->schemes[2].name);
  assert_string_equal(P->alpn[0], "h2");
  assert_null(P->alpn[1]);
  assert_non_null(P->session_max_concurrent);
  assert_non_null(P->step_new);
  assert_non_null(P->step_del);
  assert_non_null(P->session_new);
  assert_non_null(P->session_submit);
  assert_non_null(P->session_on_read);
  assert_non_null(P->session_del);
  assert_non_null(P->step_describe);
}

static void test_step_describe(void **state) {
  struct fx *f = *state;
  const char *type = NULL, *name = NULL;
  rl_step_spec s = base_spec("/blog?id=7");
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

  /* The -H rule is http1's (lib/http_text.h): CR and LF named as such. */
  rl_kv crlf_value[] = {{"X-A", "1\r\nX-Injected: 2"}};
  s = base_spec("/");
  s.headers = crlf_value;
  s.n_headers = 1;
  expect_rejected(&s, "header 'X-A' contains CR or LF");
  rl_kv ctl_value[] = {{"X-A", "a\001b"}};
  s.headers = ctl_value;
  expect_rejected(&s, "header 'X-A' value contains a control character");

  rl_kv bad_name[] = {{"X A", "1"}};
  s.headers = bad_name;
  expect_rejected(&s, "header name 'X A' is not a valid HTTP token");

  rl_kv pseudo[] = {{":path", "/x"}};
  s.headers = pseudo;
  expect_rejected(&s, "header name ':path' is not a valid HTTP token");

  rl_kv no_colon[] = {{"X-Foo bar", NULL}};
  s.headers = no_colon;
  expect_rejected(&s, "header 'X-Foo bar' has no ':'");

  s = base_spec("/");
  s.method = "GE T";
  expect_rejected(&s, "method 'GE T' is not a valid HTTP token");
  s.method = "";
  expect_rejected(&s, "method '' is not a valid HTTP token");
  s.method = "CONNECT";
  expect_rejected(&s, "method CONNECT is not supported over HTTP/2");

  s = base_spec("/a b");
  expect_rejected(&s, "path '/a b' contains a space or control character "
                      "(percent-encode it)");

  s = base_spec("/");
  s.host = "";
  expect_rejected(&s, "no host given");

  rl_kv opts[] = {{"call", "x"}};
  s = base_spec("/");
  s.options = opts;
  s.n_options = 1;
  expect_rejected(&s, "option 'call' is not known to http2 (it takes "
                      "cookies, allow_redirects, max_redirects)");

  s = base_spec("/");
  s.body = (const uint8_t *)"a={{nope}}";
  s.body_len = 10;
  expect_rejected(&s, "body: unknown template name 'nope' at column 3 "
                      "(known: user_id, seq, uuid, timestamp, timestamp_ms, "
                      "random_int A B, random_string N)");
}

/* The request as the server decoded it: pseudo-headers from the step,
 * names lower-cased, Host as :authority, connection-specific headers
 * dropped without an error, user-agent and content-length added. */
static void test_request_headers(void **state) {
  struct fx *f = *state;
  rl_kv hs[] = {
      {"X-A", "1"},
      {"Host", "other.example"},
      {"Connection", "close"},
      {"Keep-Alive", "timeout=5"},
      {"Transfer-Encoding", "chunked"},
      {"Upgrade", "h2c"},
      {"Proxy-Connection", "keep-alive"},
      {"TE", "gzip"},
      {"X-B:   two words  ", NULL},
      {"Accept", "*/*"},
  };
  rl_step_spec s = base_spec("/api?q=1");
  s.headers = hs;
  s.n_headers = sizeof hs / sizeof hs[0];
  s.body = (const uint8_t *)"{\"a\":1}";
  s.body_len = 7;
  assert_int_equal(submit(f, add_step(f, &s)), 0);
  assert_int_equal(pump(f), 0);
  assert_int_equal(f->sv.n, 1);
  struct srv_stream *ss = &f->sv.streams[0];
  assert_string_equal(ss->method, "POST");
  assert_string_equal(ss->scheme, "http");
  assert_string_equal(ss->authority, "other.example");
  assert_string_equal(ss->path, "/api?q=1");
  assert_string_equal(ss->headers, "user-agent: rpcload/0.1\n"
                                   "x-a: 1\n"
                                   "x-b: two words\n"
                                   "accept: */*\n"
                                   "content-length: 7\n");
  assert_int_equal(ss->body_bytes, 7);
  assert_true(ss->ended);
  assert_success(1, "POST", "/api?q=1", strlen(HELLO));
}

static void test_request_defaults(void **state) {
  struct fx *f = *state;
  /* A user agent of one's own; "TE: trailers" is allowed in HTTP/2. */
  rl_kv hs[] = {{"User-Agent", "custom/2"}, {"te", "trailers"}};
  rl_step_spec s = base_spec("/");
  s.headers = hs;
  s.n_headers = 2;
  s.port = 8080;
  assert_int_equal(submit(f, add_step(f, &s)), 0);

  /* An empty Host keeps the URL's :authority (HTTP/2 needs one); an
   * empty User-Agent removes ours; PUT without a body still says its
   * length is 0. */
  rl_kv hs2[] = {{"Host", ""}, {"User-Agent", ""}};
  s = base_spec("/put");
  s.headers = hs2;
  s.n_headers = 2;
  s.method = "PUT";
  assert_int_equal(submit(f, add_step(f, &s)), 0);

  /* https on 443 needs no port; an IPv6 literal gets its brackets. */
  s = base_spec("/");
  s.scheme = "https";
  s.tls = 1;
  s.port = 443;
  assert_int_equal(submit(f, add_step(f, &s)), 0);
  s = base_spec("/");
  s.host = "::1";
  s.port = 8080;
  assert_int_equal(submit(f, add_step(f, &s)), 0);
  /* An empty body (-d '') is still a POST of length 0, with no DATA. */
  s = base_spec("/empty");
  s.body = (const uint8_t *)"";
  assert_int_equal(submit(f, add_step(f, &s)), 0);

  assert_int_equal(pump(f), 0);
  assert_int_equal(f->sv.n, 5);
  struct srv_stream *ss = f->sv.streams;
  assert_string_equal(ss[0].authority, "example.com:8080");
  assert_string_equal(ss[0].headers, "user-agent: custom/2\nte: trailers\n");
  assert_string_equal(ss[1].method, "PUT");
  assert_string_equal(ss[1].authority, "example.com");
  assert_string_equal(ss[1].headers, "content-length: 0\n");
  assert_string_equal(ss[2].scheme, "https");
  assert_string_equal(ss[2].authority, "example.com");
  assert_string_equal(ss[3].authority, "[::1]:8080");
  assert_string_equal(ss[4].method, "POST");
  assert_string_equal(ss[4].headers,
                      "user-agent: rpcload/0.1\ncontent-length: 0\n");
  assert_int_equal(ss[4].body_bytes, 0);
  assert_true(ss[4].ended);
  assert_int_equal(fh.n_events, 5);
  for (int i = 1; i <= 5; i++)
    if (event_of(i)->failed)
      fail_msg("request %d failed: %s", i, event_of(i)->error);
}

/* A scenario's JSON body (ABI 1.3 body_type) is labelled so, unless the
 * user's own content-type says else; a pre-1.3 host's spec has no label. */
static void test_json_body_type(void **state) {
  struct fx *f = *state;
  rl_step_spec s = base_spec("/j");
  s.body = (const uint8_t *)"{}";
  s.body_len = 2;
  s.body_type = "application/json";
  assert_int_equal(submit(f, add_step(f, &s)), 0);
  static const rl_kv ct[] = {{"content-type", "text/x-mine"}};
  s.headers = ct;
  s.n_headers = 1;
  assert_int_equal(submit(f, add_step(f, &s)), 0);
  s = base_spec("/old");
  s.struct_size = (uint32_t)offsetof(rl_step_spec, body_type);
  s.body = (const uint8_t *)"{}";
  s.body_len = 2;
  s.body_type = "application/json";
  assert_int_equal(submit(f, add_step(f, &s)), 0);
  assert_int_equal(pump(f), 0);
  assert_int_equal(f->sv.n, 3);
  struct srv_stream *ss = f->sv.streams;
  assert_string_equal(ss[0].headers, "user-agent: rpcload/0.1\n"
                                     "content-type: application/json\n"
                                     "content-length: 2\n");
  assert_string_equal(ss[1].headers, "user-agent: rpcload/0.1\n"
                                     "content-type: text/x-mine\n"
                                     "content-length: 2\n");
  assert_string_equal(ss[2].headers,
                      "user-agent: rpcload/0.1\ncontent-length: 2\n");
}

/* A body with templates is expanded per request, with its own
 * content-length; a body without is sent as it is. */
static void test_templated_body(void **state) {
  struct fx *f = *state;
  rl_step_spec s = base_spec("/upload");
  s.body = (const uint8_t *)"id={{user_id}}&x=1";
  s.body_len = strlen((const char *)s.body);
  void *tpl = add_step(f, &s);
  for (int i = 0; i < 10; i++)
    assert_int_equal(submit(f, tpl), 0);
  s.body = (const uint8_t *)"{\"a\":{\"b\":1}}"; /* braces, no template */
  s.body_len = strlen((const char *)s.body);
  assert_int_equal(submit(f, add_step(f, &s)), 0);
  s.body = (const uint8_t *)"{{random_string 0}}"; /* expands to nothing */
  s.body_len = strlen((const char *)s.body);
  assert_int_equal(submit(f, add_step(f, &s)), 0);
  /* More header fields than the plugin copies on its stack. */
  rl_kv many[40];
  for (size_t i = 0; i < 40; i++)
    many[i] = (rl_kv){"x-h", "v"};
  s.body = (const uint8_t *)"{{seq}}";
  s.body_len = strlen((const char *)s.body);
  s.headers = many;
  s.n_headers = 40;
  assert_int_equal(submit(f, add_step(f, &s)), 0);
  assert_int_equal(pump(f), 0);
  assert_int_equal(f->sv.n, 13);
  assert_string_equal(f->sv.streams[12].body, "1");
  assert_true(strstr(f->sv.streams[12].headers, "x-h: v\ncontent-length: 1\n"));
  for (int i = 0; i < 10; i++) {
    char want[32], cl[64];
    snprintf(want, sizeof want, "id=%d&x=1", i + 1);
    snprintf(cl, sizeof cl, "user-agent: rpcload/0.1\ncontent-length: %zu\n",
             strlen(want));
    assert_string_equal(f->sv.streams[i].body, want);
    assert_string_equal(f->sv.streams[i].headers, cl);
    assert_success(i + 1, "POST", "/upload", 3);
  }
  assert_string_equal(f->sv.streams[10].body, "{\"a\":{\"b\":1}}");
  assert_string_equal(f->sv.streams[11].body, "");
  assert_int_equal(f->sv.streams[11].body_bytes, 0);
  assert_true(f->sv.streams[11].ended);
  assert_true(strstr(f->sv.streams[11].headers, "content-length: 0\n"));
  assert_int_equal(fh.n_events, 13);
}

/* ---- The connection ------------------------------------------------------------ */

/* The preface and SETTINGS go both ways: the server sees our windows (a
 * 1 MiB stream window, a connection window raised above the protocol's
 * 64 KiB), no push, and our acknowledgement of its SETTINGS; the server's
 * stream limit becomes ours only once its SETTINGS arrive. */
static void test_settings_exchange(void **state) {
  struct fx *f = *state;
  /* The preface is out before any request. */
  assert_true(f->conn.out_len > 24);
  assert_memory_equal(f->conn.out, NGHTTP2_CLIENT_MAGIC, 24);
  /* Before the server spoke: capped, not nghttp2's "unlimited". */
  assert_int_equal(max_concurrent(f), 100);

  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 7},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 32768},
  };
  srv_start(&f->sv, iv, 2);
  assert_int_equal(pump(f), 0);
  nghttp2_session *sv = f->sv.ng;
  assert_int_equal(nghttp2_session_get_remote_settings(
                       sv, NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE),
                   1u << 20);
  assert_int_equal(
      nghttp2_session_get_remote_settings(sv, NGHTTP2_SETTINGS_ENABLE_PUSH), 0);
  assert_true(nghttp2_session_get_remote_window_size(sv) >= (1 << 24) - 1);
  assert_int_equal(f->sv.settings_acked, 1);
  assert_int_equal(max_concurrent(f), 7);

  /* A later SETTINGS changes the limit; above 100 is the server's right. */
  nghttp2_settings_entry more[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1000}};
  assert_int_equal(nghttp2_submit_settings(sv, NGHTTP2_FLAG_NONE, more, 1), 0);
  assert_int_equal(pump(f), 0);
  assert_int_equal(max_concurrent(f), 1000);
  assert_int_equal(f->sv.settings_acked, 2);
}

static void test_get_200(void **state) {
  struct fx *f = *state;
  void *st = get_step(f, "/hello");
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(fh.n_events, 0);
  assert_int_equal(pump(f), 0);
  assert_int_equal(fh.n_events, 1);
  assert_success(1, "GET", "/hello", strlen(HELLO));
  /* The connection carries the next one too. */
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(pump(f), 0);
  assert_success(2, "GET", "/hello", strlen(HELLO));
  assert_int_equal(f->conn.close_requested, 0);
  assert_int_equal(fh.drains, 0);
}

/* Every frame split at every byte: the server's output reaches the
 * plugin one byte per read. */
static void test_get_bytewise(void **state) {
  struct fx *f = *state;
  f->chunk = 1;
  assert_int_equal(submit(f, get_step(f, "/trailers")), 0);
  assert_int_equal(submit(f, get_step(f, "/info")), 0);
  assert_int_equal(pump(f), 0);
  assert_int_equal(fh.n_events, 2);
  /* Trailers and a 103 before the response are not the response. */
  assert_success(1, "GET", "/trailers", strlen(HELLO));
  assert_success(2, "GET", "/info", strlen(HELLO));
}

static void test_404_and_500(void **state) {
  struct fx *f = *state;
  assert_int_equal(submit(f, get_step(f, "/missing")), 0);
  assert_int_equal(submit(f, get_step(f, "/error")), 0);
  assert_int_equal(pump(f), 0);
  assert_int_equal(fh.n_events, 2);
  assert_failure(1, "HTTP 404 Not Found");
  assert_failure(2, "HTTP 500 Internal Server Error");
  assert_string_equal(event_of(1)->type, "GET");
  assert_string_equal(event_of(1)->name, "/missing");
}

static void test_head(void **state) {
  struct fx *f = *state;
  rl_step_spec s = base_spec("/");
  s.method = "HEAD";
  assert_int_equal(submit(f, add_step(f, &s)), 0);
  assert_int_equal(pump(f), 0);
  assert_success(1, "HEAD", "/", 0);
}

/* 1 MiB of request body against a server whose stream window is 4 KiB:
 * nghttp2 sends only what the windows allow, and the rest as the server's
 * WINDOW_UPDATEs come back. */
static void test_post_1mb_flow_control(void **state) {
  struct fx *f = *state;
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 4096},
  };
  srv_start(&f->sv, iv, 2);
  assert_int_equal(pump(f), 0); /* settings exchanged */

  size_t len = 1u << 20;
  uint8_t *body = malloc(len);
  assert_non_null(body);
  memset(body, 'b', len);
  rl_step_spec s = base_spec("/upload");
  s.body = body;
  s.body_len = len;
  void *st = add_step(f, &s);
  free(body); /* the step keeps its own copy */

  uint64_t before = f->conn.written;
  assert_int_equal(submit(f, st), 0);
  /* Flow control: headers and at most one window of DATA went out. */
  assert_true(f->conn.written - before < 4096 + 1024);
  assert_int_equal(fh.n_events, 0);
  assert_int_equal(pump(f), 0);
  assert_int_equal(f->sv.n, 1);
  assert_int_equal(f->sv.streams[0].body_bytes, len);
  assert_true(f->sv.streams[0].ended);
  assert_true(strstr(f->sv.streams[0].headers, "content-length: 1048576\n"));
  assert_success(1, "POST", "/upload", 3);
}

/* 10 MiB back, fed in odd-sized reads: our windows (1 MiB per stream,
 * 16 MiB for the connection) are acknowledged as the data is read. */
static void test_10mb_response(void **state) {
  struct fx *f = *state;
  f->chunk = 1377;
  assert_int_equal(submit(f, get_step(f, "/big")), 0);
  assert_int_equal(pump(f), 0);
  assert_int_equal(fh.n_events, 1);
  assert_success(1, "GET", "/big", BIG_LEN);
  /* Two at once share the connection window. */
  f->chunk = 0;
  assert_int_equal(submit(f, get_step(f, "/big")), 0);
  assert_int_equal(submit(f, get_step(f, "/big")), 0);
  assert_int_equal(pump(f), 0);
  assert_success(2, "GET", "/big", BIG_LEN);
  assert_success(3, "GET", "/big", BIG_LEN);
}

/* The server takes one stream at a time: the plugin says so, refuses a
 * second request while one is open, and takes it once the first ends. */
static void test_max_concurrent_1(void **state) {
  struct fx *f = *state;
  nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1}};
  srv_start(&f->sv, iv, 1);
  assert_int_equal(max_concurrent(f), 100);
  assert_int_equal(pump(f), 0);
  assert_int_equal(max_concurrent(f), 1);

  void *hold = get_step(f, "/hold");
  void *hello = get_step(f, "/hello");
  assert_int_equal(submit(f, hold), 0);
  size_t out = f->conn.out_len;
  assert_int_equal(submit(f, hello), RL_ERR_BUSY);
  assert_int_equal(f->conn.out_len, out); /* nothing written for it */
  assert_int_equal(pump(f), 0);
  assert_int_equal(fh.n_events, 0);

  struct srv_stream *ss = &f->sv.streams[0];
  srv_respond_full(&f->sv, ss, "200", NULL, HELLO, strlen(HELLO));
  assert_int_equal(pump(f), 0);
  assert_success(1, "GET", "/hold", strlen(HELLO));
  assert_int_equal(submit(f, hello), 0);
  assert_int_equal(pump(f), 0);
  assert_success(3, "GET", "/hello", strlen(HELLO));
}

static void test_rst_stream(void **state) {
  struct fx *f = *state;
  assert_int_equal(submit(f, get_step(f, "/refuse")), 0);
  assert_int_equal(submit(f, get_step(f, "/rst-odd")), 0);
  assert_int_equal(submit(f, get_step(f, "/hello")), 0);
  assert_int_equal(pump(f), 0);
  assert_int_equal(fh.n_events, 3);
  /* Refused streams were never processed (RFC 9113 8.7): sent again
   * three times, then the request fails once, naming the refusal. */
  assert_int_equal(srv_count(&f->sv, "/refuse"), 4);
  assert_failure(1, "RST_STREAM: REFUSED_STREAM (again after 3 retries)");
  assert_failure(2, "RST_STREAM: 0x1f");
  /* A reset stream does not disturb its neighbours. */
  assert_success(3, "GET", "/hello", strlen(HELLO));
  assert_int_equal(fh.n_retries, 0);
}

/* The host's timeout on one stream of a busy connection: only that stream
 * is reset (RST_STREAM CANCEL), its request ends at once with the host's
 * reason, and the connection and its other streams go on. */
static void test_cancel_one_stream(void **state) {
  struct fx *f = *state;
  assert_non_null(P->session_cancel);
  assert_int_equal(submit(f, get_step(f, "/hold")), 0);
  assert_int_equal(submit(f, get_step(f, "/hello")), 0);
  assert_int_equal(pump(f), 0);
  assert_int_equal(fh.n_events, 1);
  assert_success(2, "GET", "/hello", strlen(HELLO));
  rl_request *held = rl_fake_live(&fh, 1);
  assert_non_null(held);
  assert_int_equal(P->session_cancel(f->session, held, "timed out after 1s"),
                   0);
  assert_int_equal(fh.n_events, 2);
  assert_failure(1, "timed out after 1s");
  assert_int_equal(pump(f), 0);
  struct srv_stream *ss = srv_find(&f->sv, 1);
  assert_non_null(ss);
  assert_true(ss->closed);
  assert_int_equal(ss->close_code, NGHTTP2_CANCEL);
  assert_int_equal(f->conn.close_requested, 0);
  assert_int_equal(submit(f, get_step(f, "/hello")), 0);
  assert_int_equal(pump(f), 0);
  assert_success(3, "GET", "/hello", strlen(HELLO));
}

/* A content-length the body does not match: nghttp2 resets the stream. */
static void test_invalid_response(void **state) {
  struct fx *f = *state;
  assert_int_equal(submit(f, get_step(f, "/badlen")), 0);
  assert_int_equal(pump(f), 0);
  assert_int_equal(fh.n_events, 1);
  assert_failure(1, "HTTP/2 stream error: PROTOCOL_ERROR");
}

/* The server answers before it read the request body (and, the second
 * time, resets the rest with NO_ERROR): the request ends once, when its
 * response is whole, and the connection goes on. */
static void test_early_response(void **state) {
  struct fx *f = *state;
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1024},
  };
  srv_start(&f->sv, iv, 2);
  assert_int_equal(pump(f), 0);
  size_t len = 100000;
  uint8_t *body = calloc(1, len);
  assert_non_null(body);
  rl_step_spec s = base_spec("/early");
  s.body = body;
  s.body_len = len;
  void *early = add_step(f, &s);
  s.path = "/early-rst";
  void *early_rst = add_step(f, &s);
  free(body);

  assert_int_equal(submit(f, early), 0);
  assert_int_equal(pump(f), 0);
  assert_int_equal(fh.n_events, 1);
  assert_success(1, "POST", "/early", strlen(HELLO));
  assert_int_equal(f->sv.streams[0].body_bytes, len); /* still all sent */

  assert_int_equal(submit(f, early_rst), 0);
  assert_int_equal(pump(f), 0);
  assert_int_equal(fh.n_events, 2);
  assert_success(2, "POST", "/early-rst", strlen(HELLO));
  assert_true(f->sv.streams[1].body_bytes < len);

  assert_int_equal(submit(f, get_step(f, "/hello")), 0);
  assert_int_equal(pump(f), 0);
  assert_success(3, "GET", "/hello", strlen(HELLO));
}

/* ---- GOAWAY ---------------------------------------------------------------------- */

/* Three streams in flight; the server says GOAWAY with last stream 1 and
 * answers stream 1: the plugin drains the connection first, hands back
 * the two streams the server never processed, and completes the one it
 * did. */
static void test_goaway_mid_flight(void **state) {
  struct fx *f = *state;
  void *hold = get_step(f, "/hold");
  for (int i = 0; i < 3; i++)
    assert_int_equal(submit(f, hold), 0);
  assert_int_equal(pump(f), 0);
  assert_int_equal(f->sv.n, 3);

  assert_int_equal(nghttp2_submit_goaway(f->sv.ng, NGHTTP2_FLAG_NONE, 1,
                                         NGHTTP2_NO_ERROR, NULL, 0),
                   0);
  srv_respond_full(&f->sv, &f->sv.streams[0], "200", NULL, HELLO,
                   strlen(HELLO));
  assert_int_equal(pump(f), 0);

  assert_int_equal(fh.drains, 1);
  assert_int_equal(fh.n_retries, 2);
  for (int i = 0; i < 2; i++) {
    assert_true(fh.retries[i].req_id == 2 || fh.retries[i].req_id == 3);
    assert_string_equal(fh.retries[i].reason, "GOAWAY: NO_ERROR");
    assert_true(fh.first_drain_seq < fh.retries[i].seq); /* drain first */
  }
  assert_int_not_equal(fh.retries[0].req_id, fh.retries[1].req_id);
  assert_int_equal(fh.n_events, 1);
  assert_success(1, "GET", "/hold", strlen(HELLO));
  /* No new stream on a connection going away. */
  assert_int_equal(submit(f, hold), RL_ERR_CLOSED);
  del(f, RL_ERR_CLOSED, "connection closed");
  assert_int_equal(fh.n_events, 1);
}

/* A graceful shutdown: GOAWAY(2^31-1) first, then the real last stream. */
static void test_goaway_two_step(void **state) {
  struct fx *f = *state;
  void *hold = get_step(f, "/hold");
  assert_int_equal(submit(f, hold), 0);
  assert_int_equal(submit(f, hold), 0);
  assert_int_equal(pump(f), 0);
  assert_int_equal(nghttp2_submit_shutdown_notice(f->sv.ng), 0);
  assert_int_equal(pump(f), 0);
  assert_true(fh.drains >= 1);
  assert_int_equal(fh.n_retries, 0); /* every stream may still be served */
  assert_int_equal(nghttp2_submit_goaway(f->sv.ng, NGHTTP2_FLAG_NONE, 1,
                                         NGHTTP2_NO_ERROR, NULL, 0),
                   0);
  assert_int_equal(pump(f), 0);
  assert_int_equal(fh.n_retries, 1);
  assert_int_equal(fh.retries[0].req_id, 2);
  srv_respond_full(&f->sv, &f->sv.streams[0], "404", NULL, NULL, 0);
  assert_int_equal(pump(f), 0);
  assert_failure(1, "HTTP 404 Not Found");
}

/* GOAWAY with an error, covering both streams, then the server closes:
 * they fail in session_del with the GOAWAY's code. */
static void test_goaway_error_then_close(void **state) {
  struct fx *f = *state;
  void *hold = get_step(f, "/hold");
  assert_int_equal(submit(f, hold), 0);
  assert_int_equal(submit(f, hold), 0);
  assert_int_equal(pump(f), 0);
  assert_int_equal(nghttp2_submit_goaway(f->sv.ng, NGHTTP2_FLAG_NONE, 3,
                                         NGHTTP2_ENHANCE_YOUR_CALM, NULL, 0),
                   0);
  assert_int_equal(pump(f), 0);
  assert_int_equal(fh.drains, 1);
  assert_int_equal(fh.n_retries, 0);
  assert_int_equal(fh.n_events, 0);
  del(f, RL_ERR_CLOSED, "connection closed by server");
  assert_int_equal(fh.n_events, 2);
  assert_failure(1, "GOAWAY: ENHANCE_YOUR_CALM");
  assert_failure(2, "GOAWAY: ENHANCE_YOUR_CALM");
}

/* ---- The end of a session ---------------------------------------------------------- */

static void test_del_with_open_streams(void **state) {
  struct fx *f = *state;
  void *hold = get_step(f, "/hold");
  for (int i = 0; i < 3; i++)
    assert_int_equal(submit(f, hold), 0);
  assert_int_equal(submit(f, get_step(f, "/hello")), 0);
  assert_int_equal(pump(f), 0);
  assert_int_equal(fh.n_events, 1);
  del(f, RL_ERR_TIMEOUT, "timed out after 1s");
  assert_int_equal(fh.n_events, 4);
  for (int i = 1; i <= 3; i++)
    assert_failure(i, "timed out after 1s");
  assert_success(4, "GET", "/hello", strlen(HELLO));
}

static void test_del_no_reason(void **state) {
  struct fx *f = *state;
  /* Not even sent yet: the server never spoke. */
  assert_int_equal(submit(f, get_step(f, "/hold")), 0);
  del(f, RL_ERR_IO, NULL);
  assert_int_equal(fh.n_events, 1);
  assert_failure(1, "I/O error");
}

static void test_garbage(void **state) {
  struct fx *f = *state;
  assert_int_equal(submit(f, get_step(f, "/hello")), 0);
  static const char junk[] = "SSH-2.0-OpenSSH_9.2\r\n";
  int rc =
      P->session_on_read(f->session, (const uint8_t *)junk, sizeof junk - 1);
  assert_int_equal(rc, RL_ERR_PROTO);
  /* The request fails at once, naming what went wrong. */
  assert_int_equal(fh.n_events, 1);
  assert_true(fh.events[0].failed);
  assert_non_null(strstr(fh.events[0].error, "HTTP/2"));
  /* The host closes: session_del reports nothing twice. */
  del(f, RL_ERR_PROTO, "protocol error");
  assert_int_equal(fh.n_events, 1);
}

/* A connection error after a good start: DATA on stream 0. */
static void test_connection_error(void **state) {
  struct fx *f = *state;
  assert_int_equal(pump(f), 0);
  assert_int_equal(submit(f, get_step(f, "/hold")), 0);
  assert_int_equal(pump(f), 0);
  static const uint8_t bad[] = {0, 0, 1, NGHTTP2_DATA, 0, 0, 0, 0, 0, 'x'};
  assert_int_equal(P->session_on_read(f->session, bad, sizeof bad),
                   RL_ERR_PROTO);
  assert_int_equal(fh.n_events, 1);
  assert_non_null(strstr(fh.events[0].error, "PROTOCOL_ERROR"));
  /* Bytes after the error are refused too. */
  assert_int_equal(P->session_on_read(f->session, bad, sizeof bad),
                   RL_ERR_PROTO);
  del(f, RL_ERR_PROTO, "protocol error");
  assert_int_equal(fh.n_events, 1);
}

static void test_write_failure(void **state) {
  struct fx *f = *state;
  f->conn.fail_writes = 1;
  assert_int_equal(submit(f, get_step(f, "/hello")), RL_ERR_CLOSED);
  assert_int_equal(fh.n_events, 0);
  del(f, RL_ERR_CLOSED, "connection closed");
  assert_int_equal(fh.n_events, 0);
}

/* ---- Templates in the path and header values --------------------------------- */

/* :path, :authority (from Host) and header values with templates are
 * expanded per request, beside a templated body with its content-length;
 * the stats name stays the unexpanded path. */
static void test_templated_path_and_headers(void **state) {
  struct fx *f = *state;
  rl_kv hs[] = {{"X-Token", "t{{user_id}}"},
                {"Host", "h{{user_id}}.example"},
                {"X-C", "c"}};
  rl_step_spec s = base_spec("/u/{{user_id}}?x={{random_int 3 3}}");
  s.headers = hs;
  s.n_headers = 3;
  void *get = add_step(f, &s);
  const char *type = NULL, *name = NULL;
  P->step_describe(get, &type, &name);
  assert_string_equal(name, "/u/{{user_id}}?x={{random_int 3 3}}");
  s.body = (const uint8_t *)"id={{user_id}}";
  s.body_len = strlen((const char *)s.body);
  void *post = add_step(f, &s);
  for (int i = 0; i < 4; i++)
    assert_int_equal(submit(f, i < 2 ? get : post), 0);
  /* More header fields than the plugin copies on its stack. */
  rl_kv many[40];
  for (size_t i = 0; i < 40; i++)
    many[i] = (rl_kv){"x-h", "v"};
  many[39] = (rl_kv){"x-last", "{{user_id}}"};
  s = base_spec("/many/{{user_id}}");
  s.headers = many;
  s.n_headers = 40;
  assert_int_equal(submit(f, add_step(f, &s)), 0);
  assert_int_equal(pump(f), 0);
  assert_int_equal(f->sv.n, 5);
  for (int i = 0; i < 4; i++) {
    struct srv_stream *ss = &f->sv.streams[i];
    char want[128];
    snprintf(want, sizeof want, "/u/%d?x=3", i + 1);
    assert_string_equal(ss->path, want);
    snprintf(want, sizeof want, "h%d.example", i + 1);
    assert_string_equal(ss->authority, want);
    if (i < 2) {
      snprintf(want, sizeof want,
               "user-agent: rpcload/0.1\nx-token: t%d\n"
               "x-c: c\n",
               i + 1);
      assert_string_equal(ss->method, "GET");
    } else {
      snprintf(want, sizeof want,
               "user-agent: rpcload/0.1\nx-token: t%d\n"
               "x-c: c\ncontent-length: 4\n",
               i + 1);
      assert_string_equal(ss->method, "POST");
      char body[16];
      snprintf(body, sizeof body, "id=%d", i + 1);
      assert_string_equal(ss->body, body);
    }
    assert_string_equal(ss->headers, want);
  }
  assert_string_equal(f->sv.streams[4].path, "/many/5");
  assert_non_null(strstr(f->sv.streams[4].headers, "x-h: v\nx-last: 5\n"));
  assert_int_equal(fh.n_events, 5);
  for (int i = 1; i <= 5; i++)
    if (event_of(i)->failed)
      fail_msg("request %d failed: %s", i, event_of(i)->error);
}

/* An expansion :path cannot carry as it is (a captured value with a
 * blank, a control, UTF-8) is percent-encoded; one a header value cannot
 * hold (CR, LF) refuses the request, said once in the log. */
static void test_templated_unsafe_values(void **state) {
  struct fx *f = *state;
  void *path = get_step(f, "/s?q={{seq}}&x=1");
  rl_kv hs[] = {{"x-token", "{{seq}}"}};
  rl_step_spec s = base_spec("/");
  s.headers = hs;
  s.n_headers = 1;
  void *hdr = add_step(f, &s);
  /* (The override is the whole path's expansion.) */
  fh.expand_override = "/s?q=a b\x01\xc3\xa9%20/?&x=1";
  assert_int_equal(submit(f, path), 0);
  assert_int_equal(pump(f), 0);
  assert_string_equal(f->sv.streams[0].path, "/s?q=a%20b%01%C3%A9%20/?&x=1");
  fh.expand_override = "1\r\nx-injected: 2";
  fh.n_logs = 0;
  assert_int_equal(submit(f, hdr), RL_ERR_INVAL);
  assert_int_equal(submit(f, hdr), RL_ERR_INVAL);
  assert_int_equal(fh.n_logs, 1);
  fh.expand_override = "tab\tand blank ok";
  assert_int_equal(submit(f, hdr), 0);
  assert_int_equal(pump(f), 0);
  assert_int_equal(f->sv.n, 2);
  assert_string_equal(f->sv.streams[1].headers,
                      "user-agent: rpcload/0.1\nx-token: tab\tand blank ok\n");
  assert_int_equal(fh.n_events, 2);
}

static void test_templated_bad_specs(void **state) {
  (void)state;
  rl_step_spec s = base_spec("/a/{{nope}}");
  expect_rejected(&s, "path: unknown template name 'nope' at column 4 "
                      "(known: user_id, seq, uuid, timestamp, timestamp_ms, "
                      "random_int A B, random_string N)");
  s = base_spec("/a b/{{random_int 1 9}}");
  expect_rejected(&s, "path '/a b/{{random_int 1 9}}' contains a space or "
                      "control character (percent-encode it)");
  rl_kv hs[] = {{"X-A", "{{user_id"}};
  s = base_spec("/");
  s.headers = hs;
  s.n_headers = 1;
  expect_rejected(&s, "header 'X-A': '{{' at column 1 has no closing '}}'");
}

/* ---- Responses handed over (ABI 1.2) ------------------------------------------ */

/* The host wants the responses: :status, header fields (lower case, no
 * pseudo-headers; trailers after them; a 1xx's left out), the DATA
 * payload; no JSON. An error status too; a reset stream has none. */
static void test_response_handed_over(void **state) {
  struct fx *f = *state;
  fh.wants_response = 1;
  assert_int_equal(submit(f, get_step(f, "/meta")), 0);
  assert_int_equal(submit(f, get_step(f, "/info")), 0);
  assert_int_equal(submit(f, get_step(f, "/missing")), 0);
  assert_int_equal(submit(f, get_step(f, "/refuse")), 0);
  assert_int_equal(pump(f), 0);
  assert_int_equal(fh.n_events, 4);
  assert_int_equal(fh.asked, 4);
  assert_int_equal(fh.n_responses, 3);
  const rl_fake_response *r = rl_fake_response_of(&fh, 1);
  assert_true(r->got);
  assert_int_equal(r->status, 201);
  assert_string_equal(r->headers,
                      "x-id: 42\ncontent-type: text/plain\nx-checksum: 42\n");
  assert_string_equal(r->body, HELLO);
  assert_int_equal(r->body_len, strlen(HELLO));
  assert_true(r->json_null);
  assert_success(1, "GET", "/meta", strlen(HELLO));
  r = rl_fake_response_of(&fh, 2);
  assert_int_equal(r->status, 200);
  assert_string_equal(r->headers, "");
  assert_string_equal(r->body, HELLO);
  r = rl_fake_response_of(&fh, 3);
  assert_int_equal(r->status, 404);
  assert_true(r->body_null);
  assert_int_equal(r->body_len, 0);
  assert_failure(3, "HTTP 404 Not Found");
  assert_false(rl_fake_response_of(&fh, 4)->got);
  assert_failure(4, "RST_STREAM: REFUSED_STREAM (again after 3 retries)");
}

/* A stream refused once (a server whose SETTINGS lowered its limit after
 * we sent more) is sent again on the same connection: one request, one
 * success, its response handed over once, no retry through the host. */
static void test_refused_once_retried(void **state) {
  struct fx *f = *state;
  fh.wants_response = 1;
  assert_int_equal(submit(f, get_step(f, "/refuse-once")), 0);
  assert_int_equal(submit(f, get_step(f, "/hello")), 0);
  assert_int_equal(pump(f), 0);
  assert_int_equal(srv_count(&f->sv, "/refuse-once"), 2);
  assert_int_equal(fh.n_events, 2);
  assert_int_equal(fh.asked, 2);
  assert_success(1, "GET", "/refuse-once", strlen(HELLO));
  assert_int_equal(rl_fake_response_of(&fh, 1)->status, 200);
  assert_string_equal(rl_fake_response_of(&fh, 1)->body, HELLO);
  assert_success(2, "GET", "/hello", strlen(HELLO));
  assert_int_equal(fh.n_retries, 0);
}

/* ABI 1.8: only the parts the host reads; the fake host refuses a field
 * or a payload it was not asked for. */
static void test_response_parts_only_what_the_host_reads(void **state) {
  struct fx *f = *state;
  fh.wants_response = 1;
  fh.response_parts = RL_RESPONSE_STATUS | RL_RESPONSE_BODY;
  assert_int_equal(submit(f, get_step(f, "/meta")), 0);
  assert_int_equal(pump(f), 0);
  const rl_fake_response *r = rl_fake_response_of(&fh, 1);
  assert_int_equal(r->status, 201);
  assert_int_equal(r->n_headers, 0);
  assert_string_equal(r->body, HELLO);
  assert_success(1, "GET", "/meta", strlen(HELLO));
  fh.response_parts = RL_RESPONSE_STATUS;
  assert_int_equal(submit(f, get_step(f, "/meta")), 0);
  assert_int_equal(pump(f), 0);
  r = rl_fake_response_of(&fh, 2);
  assert_int_equal(r->status, 201);
  assert_int_equal(r->n_headers, 0);
  assert_int_equal(r->body_len, 0);
  assert_success(2, "GET", "/meta", strlen(HELLO));
  assert_int_equal(fh.asked, 2);
}

/* The same, every frame split at every byte. */
static void test_response_bytewise(void **state) {
  struct fx *f = *state;
  fh.wants_response = 1;
  f->chunk = 1;
  assert_int_equal(submit(f, get_step(f, "/meta")), 0);
  assert_int_equal(submit(f, get_step(f, "/trailers")), 0);
  assert_int_equal(pump(f), 0);
  assert_int_equal(fh.n_responses, 2);
  assert_string_equal(rl_fake_response_of(&fh, 1)->headers,
                      "x-id: 42\ncontent-type: text/plain\nx-checksum: 42\n");
  assert_string_equal(rl_fake_response_of(&fh, 1)->body, HELLO);
  assert_string_equal(rl_fake_response_of(&fh, 2)->headers, "x-checksum: 42\n");
  assert_string_equal(rl_fake_response_of(&fh, 2)->body, HELLO);
}

/* A large body: counted whole, handed over up to the plugin's limit
 * (more than the host keeps, so it sees the body was cut). */
static void test_response_big_body(void **state) {
  struct fx *f = *state;
  fh.wants_response = 1;
  assert_int_equal(submit(f, get_step(f, "/big")), 0);
  assert_int_equal(pump(f), 0);
  assert_success(1, "GET", "/big", BIG_LEN);
  assert_int_equal(rl_fake_response_of(&fh, 1)->body_len, (size_t)8 << 20);
  assert_true(rl_fake_response_of(&fh, 1)->body_len < BIG_LEN);
  assert_string_equal(rl_fake_response_of(&fh, 1)->headers,
                      "content-length: 10485760\n");
}

/* When the host does not look, nothing is handed over; it is asked once
 * per request, and the answer holds for that request only. */
static void test_response_not_wanted(void **state) {
  struct fx *f = *state;
  assert_int_equal(submit(f, get_step(f, "/meta")), 0);
  assert_int_equal(submit(f, get_step(f, "/missing")), 0);
  fh.wants_response = 1;
  assert_int_equal(submit(f, get_step(f, "/hello")), 0);
  fh.wants_response = 0;
  assert_int_equal(submit(f, get_step(f, "/trailers")), 0);
  assert_int_equal(pump(f), 0);
  assert_int_equal(fh.n_events, 4);
  assert_int_equal(fh.asked, 4);
  assert_int_equal(fh.n_responses, 1);
  assert_true(rl_fake_response_of(&fh, 3)->got);
  assert_string_equal(rl_fake_response_of(&fh, 3)->body, HELLO);
}

/* No response, no hand-over: streams handed back after a GOAWAY, cut by
 * the host's timeout, or ended with the connection. */
static void test_response_not_without_one(void **state) {
  struct fx *f = *state;
  fh.wants_response = 1;
  void *hold = get_step(f, "/hold");
  for (int i = 0; i < 4; i++)
    assert_int_equal(submit(f, hold), 0);
  assert_int_equal(pump(f), 0);
  rl_request *first = rl_fake_live(&fh, 1);
  assert_non_null(first);
  assert_int_equal(P->session_cancel(f->session, first, "timed out after 1s"),
                   0);
  assert_int_equal(nghttp2_submit_goaway(f->sv.ng, NGHTTP2_FLAG_NONE, 3,
                                         NGHTTP2_NO_ERROR, NULL, 0),
                   0);
  assert_int_equal(pump(f), 0);
  assert_int_equal(fh.n_retries, 2); /* streams 5 and 7 */
  del(f, RL_ERR_CLOSED, "connection closed by peer");
  assert_int_equal(fh.n_events, 2); /* 1 cut, 3 ended with the connection */
  assert_int_equal(fh.n_responses, 0);
}

/* A host of ABI 1.1 has no response members: the plugin never asks. */
static void test_response_old_host(void **state) {
  struct fx *f = *state;
  static rl_host old_host;
  old_host = fh.host;
  old_host.struct_size = (uint32_t)offsetof(rl_host, request_wants_response);
  old_host.request_wants_response = NULL;
  old_host.request_response = NULL;
  P->session_del(f->session, RL_ERR_CANCELLED, "replaced");
  rl_conn_info info = {sizeof info, "h2", "example.com", 80, 0};
  rl_fake_conn_free(&f->conn);
  assert_int_equal(P->session_new(&old_host, &f->conn, &info, &f->session), 0);
  fh.wants_response = 1;
  assert_int_equal(submit(f, get_step(f, "/meta")), 0);
  assert_int_equal(pump(f), 0);
  assert_success(1, "GET", "/meta", strlen(HELLO));
  assert_int_equal(fh.asked, 0);
  assert_int_equal(fh.n_responses, 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)

/* ---- Cookies and redirects (lib/http_session) ------------------------------ */

static void test_cookies(void **state) {
  struct fx *f = *state;
  void *login = get_step(f, "/login");
  void *hello = get_step(f, "/hello");
  fh.user_id = 1;
  assert_int_equal(submit(f, login), 0);
  assert_int_equal(pump(f), 0);
  assert_success(1, "GET", "/login", 0);
  assert_int_equal(submit(f, hello), 0);
  assert_int_equal(pump(f), 0);
  assert_success(2, "GET", "/hello", strlen(HELLO));
  assert_string_equal(f->sv.streams[1].headers, "user-agent: rpcload/0.1\n"
                                                "cookie: sid=abc; lang=en\n");
  /* Another user: a jar of its own. */
  fh.user_id = 2;
  assert_int_equal(submit(f, hello), 0);
  assert_int_equal(pump(f), 0);
  assert_string_equal(f->sv.streams[2].headers, "user-agent: rpcload/0.1\n");
  /* The step's own cookies, templated, go first; jar off keeps none. */
  rl_step_spec s = base_spec("/login");
  rl_kv own[] = {{"cookies", "off"}, {"cookies", "{\"u\":\"{{user_id}}\"}"}};
  s.options = own;
  s.n_options = 2;
  void *no_jar = add_step(f, &s);
  assert_int_equal(submit(f, no_jar), 0);
  assert_int_equal(pump(f), 0);
  assert_string_equal(f->sv.streams[3].headers,
                      "user-agent: rpcload/0.1\ncookie: u=2\n");
  assert_int_equal(submit(f, hello), 0);
  assert_int_equal(pump(f), 0);
  assert_string_equal(f->sv.streams[4].headers, "user-agent: rpcload/0.1\n");
}

static void test_redirects(void **state) {
  struct fx *f = *state;
  fh.user_id = 3;
  fh.wants_response = 1;
  rl_step_spec s = base_spec("/go307/upload");
  s.method = "POST";
  s.body = (const uint8_t *)"abc";
  s.body_len = 3;
  void *post307 = add_step(f, &s);
  s.path = "/go/hello";
  void *post302 = add_step(f, &s);
  void *cookie = get_step(f, "/go-cookie/hello");
  /* 307 keeps the method and the body; the last response decides, under
   * the step's name, with its bytes, and is the one handed over. */
  assert_int_equal(submit(f, post307), 0);
  assert_int_equal(pump(f), 0);
  assert_int_equal(fh.n_events, 1);
  assert_success(1, "POST", "/go307/upload", 3);
  assert_int_equal(f->sv.n, 2);
  assert_string_equal(f->sv.streams[1].method, "POST");
  assert_string_equal(f->sv.streams[1].path, "/upload");
  assert_string_equal(f->sv.streams[1].body, "abc");
  assert_string_equal(f->sv.streams[1].headers, "user-agent: rpcload/0.1\n"
                                                "content-length: 3\n");
  assert_int_equal(rl_fake_response_of(&fh, 1)->status, 200);
  assert_string_equal(rl_fake_response_of(&fh, 1)->body, "got");
  /* 302 turns POST into GET, without the body; the 3xx's cookie goes
   * along. */
  assert_int_equal(submit(f, post302), 0);
  assert_int_equal(pump(f), 0);
  assert_success(2, "POST", "/go/hello", strlen(HELLO));
  assert_string_equal(f->sv.streams[3].method, "GET");
  assert_string_equal(f->sv.streams[3].path, "/hello");
  assert_int_equal(f->sv.streams[3].body_bytes, 0);
  assert_string_equal(f->sv.streams[3].headers, "user-agent: rpcload/0.1\n");
  assert_int_equal(submit(f, cookie), 0);
  assert_int_equal(pump(f), 0);
  assert_success(3, "GET", "/go-cookie/hello", strlen(HELLO));
  assert_string_equal(f->sv.streams[5].headers, "user-agent: rpcload/0.1\n"
                                                "cookie: flash=1\n");
  assert_int_equal(f->sv.n, 6);
}

/* A request's own fields (ABI 1.7): lowered, one named like a step's
 * field replaces it (host: :authority), connection-specific ones dropped
 * as the step's are, the rest after the step's; a redirect's next hop
 * keeps them; a request without them sends the step's list. */
static void test_own_headers(void **state) {
  struct fx *f = *state;
  fh.user_id = 3;
  rl_kv step_h[] = {{"X-Step", "1"}, {"X-Token", "old"}};
  rl_step_spec s = base_spec("/go307/upload");
  s.method = "POST";
  s.headers = step_h;
  s.n_headers = 2;
  s.body = (const uint8_t *)"abc";
  s.body_len = 3;
  void *st = add_step(f, &s);
  rl_kv own[] = {{"x-TOKEN", "new"},
                 {"Authorization", "Bearer t-1"},
                 {"Connection", "close"},
                 {"Host", "vhost.example"}};
  fh.headers = own;
  fh.n_headers = 4;
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(pump(f), 0);
  assert_success(1, "POST", "/go307/upload", 3);
  assert_int_equal(f->sv.n, 2);
  for (int i = 0; i < 2; i++) {
    struct srv_stream *ss = &f->sv.streams[i];
    assert_string_equal(ss->authority, "vhost.example");
    assert_string_equal(ss->body, "abc");
  }
  assert_string_equal(f->sv.streams[0].headers, "user-agent: rpcload/0.1\n"
                                                "x-step: 1\n"
                                                "x-token: new\n"
                                                "content-length: 3\n"
                                                "authorization: Bearer t-1\n");
  assert_string_equal(f->sv.streams[1].path, "/upload");
  assert_string_equal(f->sv.streams[1].headers, "user-agent: rpcload/0.1\n"
                                                "x-step: 1\n"
                                                "x-token: new\n"
                                                "authorization: Bearer t-1\n"
                                                "content-length: 3\n");
  fh.headers = NULL;
  fh.n_headers = 0;
  assert_int_equal(submit(f, get_step(f, "/hello")), 0);
  assert_int_equal(pump(f), 0);
  assert_string_equal(f->sv.streams[2].headers, "user-agent: rpcload/0.1\n");

  /* A bad field: refused with the reason, no stream. */
  rl_kv bad[] = {{"X-Ok", "a\nb"}};
  fh.headers = bad;
  fh.n_headers = 1;
  assert_int_equal(submit(f, st), RL_ERR_INVAL);
  assert_non_null(strstr(fh.refused, "header X-Ok: its value holds"));
  assert_int_equal(pump(f), 0);
  assert_int_equal(f->sv.n, 3);
  fh.headers = NULL;
  fh.n_headers = 0;
}

static void test_redirects_refused(void **state) {
  struct fx *f = *state;
  fh.user_id = 4;
  fh.wants_response = 1;
  rl_step_spec s = base_spec("/loop");
  rl_kv two[] = {{"max_redirects", "2"}};
  s.options = two;
  s.n_options = 1;
  void *loop = add_step(f, &s);
  void *other = get_step(f, "/go-other");
  rl_kv no[] = {{"allow_redirects", "false"}};
  s = base_spec("/go/hello");
  s.options = no;
  s.n_options = 1;
  void *off = add_step(f, &s);
  assert_int_equal(submit(f, loop), 0);
  assert_int_equal(pump(f), 0);
  assert_failure(1, "Exceeded 2 redirects.");
  assert_int_equal(f->sv.n, 3);
  assert_false(rl_fake_response_of(&fh, 1)->got);
  assert_int_equal(submit(f, other), 0);
  assert_int_equal(pump(f), 0);
  assert_failure(2, "HTTP 302 redirect to https://other.example: another "
                    "origin, not followed");
  assert_int_equal(submit(f, off), 0);
  assert_int_equal(pump(f), 0);
  assert_success(3, "GET", "/go/hello", 0);
  assert_int_equal(rl_fake_response_of(&fh, 3)->status, 302);
  assert_int_equal(f->sv.n, 5);
}

static void test_redirect_templated(void **state) {
  struct fx *f = *state;
  fh.user_id = 5;
  rl_step_spec s = base_spec("/go/hello?u={{user_id}}");
  rl_kv h[] = {{"x-u", "{{user_id}}"}};
  s.headers = h;
  s.n_headers = 1;
  void *st = add_step(f, &s);
  assert_int_equal(submit(f, st), 0);
  assert_int_equal(pump(f), 0);
  assert_success(1, "GET", "/go/hello?u={{user_id}}", strlen(HELLO));
  assert_string_equal(f->sv.streams[0].path, "/go/hello?u=5");
  assert_string_equal(f->sv.streams[1].path, "/hello?u=5");
  assert_string_equal(f->sv.streams[1].headers, "user-agent: rpcload/0.1\n"
                                                "x-u: 5\n");
}

static void test_redirect_moves_after_goaway(void **state) {
  struct fx *f = *state;
  fh.user_id = 6;
  void *bye = get_step(f, "/go-bye/hello");
  assert_int_equal(submit(f, bye), 0);
  assert_int_equal(pump(f), 0);
  /* The connection takes no new stream: the request moves. */
  assert_int_equal(fh.n_events, 0);
  assert_int_equal(fh.n_moves, 1);
  del(f, RL_ERR_CLOSED, "connection closed");
  nghttp2_session_del(f->sv.ng);
  memset(&f->sv, 0, sizeof f->sv);
  rl_fake_conn_free(&f->conn);
  rl_conn_info info = {sizeof info, "h2", "example.com", 80, 0};
  assert_int_equal(P->session_new(&fh.host, &f->conn, &info, &f->session), 0);
  assert_int_equal(rl_fake_resubmit(&fh, P, f->session), 0);
  assert_int_equal(pump(f), 0);
  assert_success(1, "GET", "/go-bye/hello", strlen(HELLO));
  assert_int_equal(f->sv.n, 1);
  assert_string_equal(f->sv.streams[0].path, "/hello");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_descriptor),
      T(test_step_describe),
      cmocka_unit_test(test_bad_specs),
      T(test_request_headers),
      T(test_request_defaults),
      T(test_own_headers),
      T(test_json_body_type),
      T(test_templated_body),
      T(test_settings_exchange),
      T(test_get_200),
      T(test_get_bytewise),
      T(test_404_and_500),
      T(test_head),
      T(test_post_1mb_flow_control),
      T(test_10mb_response),
      T(test_max_concurrent_1),
      T(test_rst_stream),
      T(test_cancel_one_stream),
      T(test_invalid_response),
      T(test_early_response),
      T(test_goaway_mid_flight),
      T(test_goaway_two_step),
      T(test_goaway_error_then_close),
      T(test_del_with_open_streams),
      T(test_del_no_reason),
      T(test_garbage),
      T(test_connection_error),
      T(test_write_failure),
      T(test_templated_path_and_headers),
      T(test_templated_unsafe_values),
      cmocka_unit_test(test_templated_bad_specs),
      T(test_response_handed_over),
      T(test_response_parts_only_what_the_host_reads),
      T(test_response_bytewise),
      T(test_response_big_body),
      T(test_response_not_wanted),
      T(test_response_not_without_one),
      T(test_response_old_host),
      T(test_cookies),
      T(test_redirects),
      T(test_redirects_refused),
      T(test_refused_once_retried),
      T(test_redirect_templated),
      T(test_redirect_moves_after_goaway),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

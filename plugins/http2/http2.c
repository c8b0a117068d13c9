/*
 * http2: the HTTP/2 codec plugin, on nghttp2 through h2session.
 *
 * A step is compiled once into the request's header list (nghttp2_nv
 * pointing into one block of strings the step owns, marked NO_COPY so
 * nghttp2 does not copy them per request) and its body; submitting a
 * request is one nghttp2 submit and a write of what nghttp2 serialised.
 * A path, header value or body with {{...}} templates (ABI 1.1) is
 * expanded per request instead (the body with its own content-length).
 * A session is one connection carrying as many concurrent streams as the
 * server's SETTINGS_MAX_CONCURRENT_STREAMS allows; the core asks
 * session_max_concurrent again whenever requests wait, so a server that
 * changes its limit is followed.
 *
 * Outcomes: the response's :status (>= 400 fails with "HTTP 404 Not
 * Found"; HTTP/2 has no reason phrase, so the standard one is used), a
 * reset from the server ("RST_STREAM: CANCEL"), a broken response
 * ("HTTP/2 stream error: PROTOCOL_ERROR"), or the connection's end. A
 * GOAWAY drains the connection (conn_drain) and hands the streams the
 * server never processed back to the host (request_retry), which sends
 * them again on a new connection. A stream reset with REFUSED_STREAM
 * was not processed either (RFC 9113 section 8.7; a server whose SETTINGS
 * lowered its stream limit after we sent more): the request is sent again
 * on this connection, up to HTTP2_REFUSED_RETRIES times, then fails with
 * "RST_STREAM: REFUSED_STREAM (again after 3 retries)". It stays one
 * request: the refusals are neither counted nor failed, and its time
 * counts from its first send.
 *
 * Cookies and redirects (lib/http_session, on the user's state, ABI 1.5),
 * as Locust's HttpUser has them: a response's set-cookie fields go into
 * the user's jar, and a request sends the jar's cookies that match in a
 * cookie field. A 3xx with a Location of the same origin is followed on
 * this connection by a new stream, submitted once nghttp2's callbacks are
 * over (on_end runs inside h2_session_recv); the request stays in flight,
 * reported once, under its step's type and name, with the last response.
 * When the connection takes no more streams (GOAWAY), the request moves
 * to a new connection (host->request_move) and goes on from there.
 *
 * Responses for scenario checks (ABI 1.2): when the host says at submit
 * that it will look at a request's response, the stream collects the
 * header fields (trailers after them) and the DATA payload and hands them
 * over with request_response() just before request_done(); other streams
 * collect nothing.
 *
 * Everything except rl_plugin_entry() is static; the module is built with
 * hidden visibility.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rpcload/plugin.h>

#include "lib/buf.h"
#include "lib/h2codec.h"
#include "lib/h2session.h"
#include "lib/http_session.h"
#include "lib/http_text.h"
#include "lib/resp_acc.h"
#include "lib/tpl.h"

#define HTTP2_USER_AGENT "rpcload/0.1"
/* Streams offered before the server's SETTINGS say how many it takes:
 * its limit is usually 100 or more, and nghttp2 holds back what is over
 * the real one. */
#define HTTP2_STREAMS_BEFORE_SETTINGS 100u
/* How often one request is sent again after a REFUSED_STREAM before it
 * fails: the server said it never processed it (RFC 9113 section 8.7),
 * e.g. streams sent before its SETTINGS lowered the limit; a server that
 * keeps refusing is no race, and the user hears of it. */
#define HTTP2_REFUSED_RETRIES 3u

static const rl_scheme http2_schemes[] = {
    {"http", 80, 0},
    {"https", 443, 1},
    {NULL, 0, 0},
};

static const char *const http2_alpn[] = {"h2", NULL};

/* The standard reason phrase of an HTTP status code (RFC 9110 section 15
 * and the registered extensions), or NULL. HTTP/2 carries none. */
static const char *status_phrase(int code) {
  static const struct {
    short code;
    const char *text;
  } phrases[] = {
      {100, "Continue"},
      {101, "Switching Protocols"},
      {102, "Processing"},
      {103, "Early Hints"},
      {200, "OK"},
      {201, "Created"},
      {202, "Accepted"},
      {203, "Non-Authoritative Information"},
      {204, "No Content"},
      {205, "Reset Content"},
      {206, "Partial Content"},
      {207, "Multi-Status"},
      {208, "Already Reported"},
      {226, "IM Used"},
      {300, "Multiple Choices"},
      {301, "Moved Permanently"},
      {302, "Found"},
      {303, "See Other"},
      {304, "Not Modified"},
      {305, "Use Proxy"},
      {307, "Temporary Redirect"},
      {308, "Permanent Redirect"},
      {400, "Bad Request"},
      {401, "Unauthorized"},
      {402, "Payment Required"},
      {403, "Forbidden"},
      {404, "Not Found"},
      {405, "Method Not Allowed"},
      {406, "Not Acceptable"},
      {407, "Proxy Authentication Required"},
      {408, "Request Timeout"},
      {409, "Conflict"},
      {410, "Gone"},
      {411, "Length Required"},
      {412, "Precondition Failed"},
      {413, "Content Too Large"},
      {414, "URI Too Long"},
      {415, "Unsupported Media Type"},
      {416, "Range Not Satisfiable"},
      {417, "Expectation Failed"},
      {421, "Misdirected Request"},
      {422, "Unprocessable Content"},
      {423, "Locked"},
      {424, "Failed Dependency"},
      {425, "Too Early"},
      {426, "Upgrade Required"},
      {428, "Precondition Required"},
      {429, "Too Many Requests"},
      {431, "Request Header Fields Too Large"},
      {451, "Unavailable For Legal Reasons"},
      {500, "Internal Server Error"},
      {501, "Not Implemented"},
      {502, "Bad Gateway"},
      {503, "Service Unavailable"},
      {504, "Gateway Timeout"},
      {505, "HTTP Version Not Supported"},
      {506, "Variant Also Negotiates"},
      {507, "Insufficient Storage"},
      {508, "Loop Detected"},
      {510, "Not Extended"},
      {511, "Network Authentication Required"},
  };
  for (size_t i = 0; i < sizeof phrases / sizeof phrases[0]; i++)
    if (phrases[i].code == code)
      return phrases[i].text;
  return NULL;
}

/* "REFUSED_STREAM", or "0x1f" for a code RFC 9113 does not name; buf is
 * the caller's, at least 16 bytes. */
static const char *error_code_text(uint32_t code, char *buf, size_t len) {
  const char *name = h2_error_name(code);
  if (name != NULL)
    return name;
  snprintf(buf, len, "0x%x", (unsigned)code);
  return buf;
}

/* ---- Steps --------------------------------------------------------------- */

/* A header field whose value has {{...}}: nva[index] is replaced per
 * request by the expansion. */
struct tpl_field {
  size_t index;
  rl_template *tpl; /* owned */
  int path;         /* :path: percent-encoded where it must be */
};

/* A compiled step. Owns every member but host; freed by
 * http2_step_del(). */
struct http2_step {
  const rl_host *host; /* borrowed (lives until fini): frees templates */
  nghttp2_nv *nva;     /* the request's header list, pseudo-headers first */
  size_t nvlen;
  char *strings; /* every name and value nva points at */
  uint8_t *body; /* the request body, or NULL */
  size_t body_len;
  rl_template *body_tpl;    /* the body when it has {{...}}, else NULL */
  struct tpl_field *fields; /* templated header values (:path too) */
  size_t n_fields;
  size_t cl_index;         /* our content-length in nva, or nvlen if none */
  char *type;              /* stats type: the method */
  char *name;              /* stats name: --name, else path and query */
  char *path;              /* :path (its text when templated) */
  int path_tpl;            /* :path is expanded per request */
  atomic_int warned;       /* a bad expansion was logged once */
  rl__http_sess_step sess; /* cookies and redirects */
  int active;              /* sess needs the user's state */
};

/* Connection-specific headers HTTP/2 forbids (RFC 9113 8.2.2). They make
 * sense for an HTTP/1.1 command line the user may reuse, so they are
 * dropped, not refused. TE survives only as "trailers". */
static int is_dropped_header(const rl__http_hdr *h) {
  if (rl__http_name_is(h->name, h->name_len, "te"))
    return !(h->value_len == 8 && rl__http_name_is(h->value, 8, "trailers"));
  return rl__http_name_is(h->name, h->name_len, "connection") ||
         rl__http_name_is(h->name, h->name_len, "keep-alive") ||
         rl__http_name_is(h->name, h->name_len, "proxy-connection") ||
         rl__http_name_is(h->name, h->name_len, "transfer-encoding") ||
         rl__http_name_is(h->name, h->name_len, "upgrade");
}

static void http2_step_del(void *step) {
  struct http2_step *st = step;
  if (st == NULL)
    return;
  if (st->body_tpl != NULL)
    st->host->template_del(st->body_tpl);
  for (size_t i = 0; i < st->n_fields; i++)
    st->host->template_del(st->fields[i].tpl);
  free(st->fields);
  free(st->nva);
  free(st->strings);
  free(st->body);
  free(st->type);
  free(st->name);
  free(st->path);
  rl__http_sess_step_free(st->host, &st->sess);
  free(st);
}

/*
 * Checks everything but the headers. Returns 0, or RL_ERR_INVAL with a
 * message in err. Borrows spec.
 */
static int check_spec(const rl_step_spec *spec, const char *method,
                      const char *path, char *err, size_t errlen) {
  char shown[RL__HTTP_SHOW_BUF_LEN];
  size_t method_len = strlen(method);

  if (!rl__http_is_token(method, method_len)) {
    rl__http_set_err(err, errlen, "method '%s' is not a valid HTTP token",
                     rl__http_show(method, method_len, shown));
    return RL_ERR_INVAL;
  }
  /* CONNECT has another shape in HTTP/2 (no :scheme or :path, RFC 9113
   * 8.5); a load test has no tunnel to open. */
  if (strcmp(method, "CONNECT") == 0) {
    rl__http_set_err(err, errlen,
                     "method CONNECT is not supported over HTTP/2");
    return RL_ERR_INVAL;
  }
  return rl__http_check_target(spec, path, err, errlen);
}

/*
 * The header list under construction: names and values are appended to one
 * string block and recorded as offsets, since the block moves while it
 * grows; http2_step_new() turns them into pointers at the end.
 */
struct field {
  size_t name_off, name_len, value_off, value_len;
  rl_template *tpl; /* the value's template, or NULL; owned */
  int path;         /* the value is :path */
};

struct nv_builder {
  rl__buf s; /* the string block */
  struct field *f;
  size_t n, fcap;
  int oom; /* set on allocation failure: appends stop, checked once */
};

/* Appends n bytes to the string block, lower-casing them if asked;
 * returns their offset. */
static size_t nvb_str(struct nv_builder *b, const char *s, size_t n,
                      int lower) {
  size_t off = b->s.len;
  if (b->oom || rl__buf_reserve(&b->s, n + 1) != 0) {
    b->oom = 1;
    return 0;
  }
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (lower)
      c = (char)rl__http_ascii_lower((unsigned char)c);
    b->s.p[b->s.len + i] = c;
  }
  b->s.len += n;
  b->s.p[b->s.len++] = '\0'; /* NUL-terminated, for debugging and tests */
  return off;
}

/* Appends one field; the name is lower-cased (HTTP/2 requires it). */
static void nvb_add(struct nv_builder *b, const char *name, size_t name_len,
                    const char *value, size_t value_len) {
  if (b->oom)
    return;
  if (b->n == b->fcap) {
    size_t cap = b->fcap ? b->fcap * 2 : 16;
    struct field *f = realloc(b->f, cap * sizeof *f);
    if (f == NULL) {
      b->oom = 1;
      return;
    }
    b->f = f;
    b->fcap = cap;
  }
  struct field *f = &b->f[b->n];
  f->name_len = name_len;
  f->name_off = nvb_str(b, name, name_len, 1);
  f->value_len = value_len;
  f->value_off = nvb_str(b, value, value_len, 0);
  f->tpl = NULL;
  f->path = 0;
  if (!b->oom)
    b->n++;
}

/* Appends a field whose value is expanded per request; the builder owns
 * tpl from here (freed with it, even when this fails). The template's
 * text stands in the list until then. */
static void nvb_add_tpl(const rl_host *host, struct nv_builder *b,
                        const char *name, size_t name_len, const char *value,
                        size_t value_len, rl_template *tpl, int path) {
  size_t n = b->n;
  nvb_add(b, name, name_len, value, value_len);
  if (b->n == n) {
    host->template_del(tpl);
    return;
  }
  b->f[n].tpl = tpl;
  b->f[n].path = path;
}

/* Frees the builder's templates. */
static void nvb_free_tpls(const rl_host *host, struct nv_builder *b) {
  for (size_t i = 0; i < b->n; i++)
    if (b->f[i].tpl != NULL)
      host->template_del(b->f[i].tpl);
}

static void nvb_add_str(struct nv_builder *b, const char *name,
                        const char *value) {
  nvb_add(b, name, strlen(name), value, strlen(value));
}

/* Appends :authority: the user's Host header if given, else host[:port]
 * with an IPv6 literal's brackets put back. An empty Host cannot remove it
 * as it removes HTTP/1.1's Host: HTTP/2 servers refuse a request with
 * neither (RFC 9113 8.3.1), so the URL's authority stays. */
static void add_authority(struct nv_builder *b, const rl_step_spec *spec,
                          const rl__http_hdr *user_host) {
  if (user_host != NULL && user_host->value_len > 0) {
    nvb_add(b, ":authority", 10, user_host->value, user_host->value_len);
    return;
  }
  rl__buf auth = {0};
  rl__http_add_authority(&auth, http2_schemes, spec);
  if (auth.oom)
    b->oom = 1;
  else
    nvb_add(b, ":authority", 10, auth.p, auth.len);
  rl__buf_free(&auth);
}

/*
 * Checks the spec as check_spec() does, with a path that may hold
 * templates: then only its constant part must be free of spaces and
 * controls (an expansion is percent-encoded where it must be). Compiles
 * the path into pt->path_tpl (NULL when constant). Returns 0 or an
 * RL_ERR_* code with err set.
 */
static int check_path(const rl_host *host, const rl_step_spec *spec,
                      rl__http_parts *pt, char *err, size_t errlen) {
  const char *path = pt->path;
  if (!rl__tpl_available(host) || !rl__tpl_has_open(path, strlen(path)))
    return check_spec(spec, pt->method, path, err, errlen);
  int rc = rl__tpl_compile(host, path, strlen(path), "path", &pt->path_tpl, err,
                           errlen);
  if (rc != 0)
    return rc;
  char *skeleton = NULL;
  rc = rl__http_path_skeleton(path, &skeleton, err, errlen);
  if (rc == 0)
    rc = check_spec(spec, pt->method, skeleton, err, errlen);
  free(skeleton);
  return rc;
}

/* Compiles the header values that hold templates: pt->value_tpl is an
 * array of n (NULL entries: constant), or NULL when none does. Returns 0
 * or an RL_ERR_* code with err set. */
static int compile_values(const rl_host *host, rl__http_parts *pt, char *err,
                          size_t errlen) {
  char shown[RL__HTTP_SHOW_BUF_LEN], what[RL__HTTP_SHOW_BUF_LEN + 16];
  if (!rl__tpl_available(host))
    return 0;
  for (size_t i = 0; i < pt->n; i++) {
    const rl__http_hdr *h = &pt->hs[i];
    if (!rl__tpl_has_open(h->value, h->value_len))
      continue;
    if (pt->value_tpl == NULL &&
        (pt->value_tpl = calloc(pt->n, sizeof(rl_template *))) == NULL) {
      rl__http_set_err(err, errlen, "out of memory");
      return RL_ERR_NOMEM;
    }
    snprintf(what, sizeof what, "header '%s'",
             rl__http_show(h->name, h->name_len, shown));
    int rc = rl__tpl_compile(host, h->value, h->value_len, what,
                             &pt->value_tpl[i], err, errlen);
    if (rc != 0)
      return rc;
  }
  return 0;
}

/*
 * Reads spec into *pt: the method and the path checked and the path's
 * template compiled, then the body's, then the user's headers parsed and
 * their values' templates. Returns 0, or an RL_ERR_* code with err
 * set and nothing left to free.
 */
static int read_parts(const rl_host *host, const rl_step_spec *spec,
                      rl__http_parts *pt, char *err, size_t errlen) {
  rl__http_parts_init(pt, spec);
  int rc = check_path(host, spec, pt, err, errlen);
  if (rc == 0 && pt->has_body && spec->body_len > 0 && rl__tpl_available(host))
    rc = rl__tpl_compile(host, (const char *)spec->body, spec->body_len, "body",
                         &pt->body_tpl, err, errlen);
  if (rc == 0)
    rc = rl__http_parse_headers(spec, &pt->hs, err, errlen);
  pt->n = spec->n_headers;
  if (rc == 0)
    rc = compile_values(host, pt, err, errlen);
  if (rc != 0)
    rl__http_parts_free(host, pt);
  return rc;
}

/* The pseudo-header fields, first (RFC 9113 8.3): :method, :scheme,
 * :authority (the user's Host, templated or not, else the URL's), :path. */
static void add_pseudo_headers(const rl_host *host, const rl_step_spec *spec,
                               struct nv_builder *b, rl__http_parts *pt) {
  nvb_add_str(b, ":method", pt->method);
  nvb_add_str(b, ":scheme", pt->scheme);
  const rl__http_hdr *user_host = rl__http_find_header(pt->hs, pt->n, "host");
  rl_template *host_tpl =
      user_host != NULL
          ? rl__http_parts_take_value(pt, (size_t)(user_host - pt->hs))
          : NULL;
  if (host_tpl != NULL)
    nvb_add_tpl(host, b, ":authority", 10, user_host->value,
                user_host->value_len, host_tpl, 0);
  else
    add_authority(b, spec, user_host);
  if (pt->path_tpl != NULL)
    nvb_add_tpl(host, b, ":path", 5, pt->path, strlen(pt->path), pt->path_tpl,
                1);
  else
    nvb_add_str(b, ":path", pt->path);
  pt->path_tpl = NULL; /* the builder owns it */
}

/* user-agent unless the user gives one, then the user's headers in order,
 * but Host (it became :authority), the connection-specific ones, and the
 * empty ones that remove ours. */
static void add_headers(const rl_host *host, const rl_step_spec *spec,
                        struct nv_builder *b, rl__http_parts *pt) {
  if (rl__http_find_header(pt->hs, pt->n, "user-agent") == NULL)
    nvb_add_str(b, "user-agent", HTTP2_USER_AGENT);
  /* A scenario's JSON body says so, unless the user's headers say else. */
  const char *body_type = rl__http_body_type(spec);
  if (body_type && rl__http_find_header(pt->hs, pt->n, "content-type") == NULL)
    nvb_add_str(b, "content-type", body_type);
  for (size_t i = 0; i < pt->n; i++) {
    const rl__http_hdr *h = &pt->hs[i];
    rl_template *t = rl__http_parts_take_value(pt, i);
    if (rl__http_name_is(h->name, h->name_len, "host") ||
        is_dropped_header(h) ||
        (h->value_len == 0 && rl__http_is_default_header(h))) {
      /* "-H 'User-Agent:'" removes ours and sends nothing. */
      if (t != NULL)
        host->template_del(t);
      continue;
    }
    if (t != NULL)
      nvb_add_tpl(host, b, h->name, h->name_len, h->value, h->value_len, t, 0);
    else
      nvb_add(b, h->name, h->name_len, h->value, h->value_len);
  }
}

/* content-length when the request says one (as http1 does, so both
 * plugins send the same request) and the user gives none. Returns its
 * index in the list, or (size_t)-1. */
static size_t add_length(const rl_step_spec *spec, struct nv_builder *b,
                         const rl__http_parts *pt) {
  if (!rl__http_wants_length(pt->method, pt->has_body) ||
      rl__http_find_header(pt->hs, pt->n, "content-length") != NULL)
    return (size_t)-1;
  char cl[32];
  size_t index = b->n;
  snprintf(cl, sizeof cl, "%zu", pt->has_body ? spec->body_len : (size_t)0);
  nvb_add_str(b, "content-length", cl);
  return index;
}

/*
 * Makes the step from the header list built (its strings and templates
 * move into the step, *b is emptied), the body (copied unless templated:
 * pt->body_tpl moves too) and the names. Returns the step, or NULL when
 * out of memory (then everything is freed, b's templates included).
 */
static struct http2_step *step_from(const rl_host *host,
                                    const rl_step_spec *spec,
                                    rl__http_parts *pt, struct nv_builder *b,
                                    size_t cl_index) {
  struct http2_step *st = calloc(1, sizeof *st);
  size_t n_fields = 0;
  if (st != NULL) {
    st->host = host;
    st->body_tpl = pt->body_tpl; /* the step owns it from here */
    pt->body_tpl = NULL;
  }
  int copy_body =
      pt->has_body && spec->body_len > 0 && st != NULL && st->body_tpl == NULL;
  if (st != NULL && !b->oom) {
    st->nva = calloc(b->n, sizeof *st->nva);
    for (size_t i = 0; i < b->n; i++)
      n_fields += b->f[i].tpl != NULL;
    if (n_fields > 0)
      st->fields = calloc(n_fields, sizeof *st->fields);
    st->type = rl__http_dup_str(pt->method);
    st->name = rl__http_dup_str(
        spec->name != NULL && spec->name[0] != '\0' ? spec->name : pt->path);
    /* A templated body is expanded per request: no copy to keep. */
    if (copy_body && (st->body = malloc(spec->body_len)) != NULL) {
      memcpy(st->body, spec->body, spec->body_len);
      st->body_len = spec->body_len;
    }
  }
  if (st == NULL || b->oom || st->nva == NULL || st->type == NULL ||
      st->name == NULL || (n_fields > 0 && st->fields == NULL) ||
      (copy_body && st->body == NULL)) {
    http2_step_del(st);
    nvb_free_tpls(host, b);
    rl__buf_free(&b->s);
    free(b->f);
    return NULL;
  }
  /* The strings live as long as the step, which outlives every session:
   * nghttp2 may keep pointers to them instead of copying (NO_COPY), and
   * HPACK still indexes them, so repeated requests cost a few bytes. */
  st->strings = b->s.p;
  st->nvlen = b->n;
  st->cl_index = cl_index < b->n ? cl_index : b->n;
  for (size_t i = 0; i < b->n; i++) {
    const struct field *f = &b->f[i];
    st->nva[i].name = (uint8_t *)(b->s.p + f->name_off);
    st->nva[i].namelen = f->name_len;
    st->nva[i].value = (uint8_t *)(b->s.p + f->value_off);
    st->nva[i].valuelen = f->value_len;
    st->nva[i].flags =
        NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE;
    if (f->tpl != NULL && st->n_fields < n_fields) /* (always) */
      st->fields[st->n_fields++] =
          (struct tpl_field){.index = i, .tpl = f->tpl, .path = f->path};
  }
  free(b->f);
  memset(b, 0, sizeof *b);
  return st;
}

/*
 * Compiles spec into a step: the header list and body are built here once,
 * so the hot path only hands them to nghttp2. Borrows host and spec (only
 * during the call); on success the plugin owns *step until
 * http2_step_del(). On failure *step is untouched and err holds one line.
 */
static int http2_step_new(const rl_host *host, const rl_step_spec *spec,
                          void **step, char *err, size_t errlen) {
  if (host == NULL || spec == NULL || step == NULL) {
    rl__http_set_err(err, errlen, "no step spec given");
    return RL_ERR_INVAL;
  }
  int rc = rl__http_check_spec_size(spec, err, errlen);
  rl__http_parts pt;
  if (rc == 0)
    rc = read_parts(host, spec, &pt, err, errlen);
  if (rc != 0)
    return rc;

  rl__http_sess_step sess;
  char *authority = rl__http_authority_sent(spec, &pt, http2_schemes, 0);
  rc = rl__http_sess_step_init(&sess, host, spec, pt.method, authority, "http2",
                               err, errlen);
  free(authority);
  if (rc != 0) {
    rl__http_parts_free(host, &pt);
    return rc;
  }
  int path_tpl = pt.path_tpl != NULL;
  char *path = rl__http_dup_str(pt.path);

  struct nv_builder b = {0};
  add_pseudo_headers(host, spec, &b, &pt);
  add_headers(host, spec, &b, &pt);
  size_t cl_index = add_length(spec, &b, &pt);
  struct http2_step *st = step_from(host, spec, &pt, &b, cl_index);
  rl__http_parts_free(host, &pt);
  if (st == NULL || path == NULL) {
    http2_step_del(st);
    rl__http_sess_step_free(host, &sess);
    free(path);
    rl__http_set_err(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  st->sess = sess;
  st->active = rl__http_sess_active(&st->sess);
  st->path = path;
  st->path_tpl = path_tpl;
  *step = st;
  return 0;
}

/* The stats type and name the step reports: the host uses them for
 * failures it reports itself. Both strings belong to the step. */
static void http2_step_describe(void *step, const char **type,
                                const char **name) {
  const struct http2_step *st = step;
  *type = st->type;
  *name = st->name;
}

/* ---- Sessions ------------------------------------------------------------ */

/* A request whose stream ended in a redirect to follow, or was refused
 * (REFUSED_STREAM) and goes again: its next stream is submitted once
 * nghttp2's callbacks are over. */
struct follow {
  rl_request *req;
  struct http2_step *st;
  rl__resp_acc *acc; /* owned: the next stream collects into it */
  /* 0: a redirect's next hop; n: the request's own stream, sent again
   * for the n-th time after a refusal. */
  uint32_t refused;
};

/* One connection. Owned by the plugin from session_new to session_del. */
struct http2_session {
  rl__h2codec c; /* first: the h2session's session_data */
  /* While cancelling one stream: why (borrowed for that moment). */
  const char *cancel_reason;
  /* Expanded header values of the request being submitted. */
  rl__buf scratch;
  rl__buf ck; /* a request's cookie value */
  rl__buf hx; /* the request's own field names, lower case (ABI 1.7) */
  /* Redirects to follow (run_follows), n of them; owned. */
  struct follow *follows;
  size_t n_follows, cap_follows;
};

/* Per-request state: the h2session stream area, valid until on_end. */
struct http2_stream {
  struct http2_session *s;
  rl_request *req;             /* owned by the host */
  const struct http2_step *st; /* req's step, borrowed while req lives */
  uint64_t bytes;              /* DATA payload received */
  int status;                  /* the final response's :status */
  /* The response collected for the host, when it wants it (asked once,
   * at submit); NULL: nothing is collected. Owned. */
  rl__resp_acc *acc;
  uint32_t hop;     /* 0: the request's own stream; n: after n redirects */
  int chained;      /* the user's chain holds req's redirects */
  int has_location; /* the response's Location is in the user's state */
  uint32_t refused; /* how many of req's earlier streams were refused */
};

/* Reports req of step st (`error` NULL is success, borrowed for the
 * call), ending the redirect chain it had. After this req is gone. */
static void report(struct http2_session *s, rl_request *req,
                   const struct http2_step *st, uint64_t bytes, int chained,
                   const char *error) {
  rl_result r;
  r.type = st->type;
  r.name = st->name;
  r.response_bytes = bytes;
  r.error = error;
  if (chained)
    rl__http_chain_end(s->c.host, req);
  s->c.host->request_done(req, &r);
}

/* Reports the request; `error` NULL is success, borrowed for the call.
 * After this the request (and the stream area) is gone. */
static void finish(struct http2_stream *ps, const char *error) {
  rl__resp_acc_put(&ps->s->c.free_accs, ps->acc);
  ps->acc = NULL;
  report(ps->s, ps->req, ps->st, ps->bytes, ps->chained, error);
}

/* The target of the stream's request as sent: cookies match it, a
 * Location resolves against it. */
static const char *current_target(const struct http2_stream *ps) {
  const rl_host *host = ps->s->c.host;
  if (ps->hop > 0) {
    const rl__http_chain *c = rl__http_chain_of(host, ps->req);
    if (c != NULL && c->target.p != NULL)
      return c->target.p;
  } else if (ps->st->path_tpl) {
    const rl__http_user *u = rl__http_user_of(host, ps->req, 0);
    if (u != NULL && u->target.p != NULL && !u->target.oom)
      return u->target.p;
  }
  return ps->st->path;
}

/* A response field of the user's session: set-cookie into the jar, a
 * location kept for the stream's end. */
static void watch_field(struct http2_stream *ps, const uint8_t *name,
                        size_t name_len, const uint8_t *value,
                        size_t value_len) {
  const rl_host *host = ps->s->c.host;
  if (name_len == 10 && memcmp(name, "set-cookie", 10) == 0) {
    rl__http_sess_set_cookie(host, ps->req, &ps->st->sess, current_target(ps),
                             (const char *)value, value_len);
  } else if (name_len == 8 && memcmp(name, "location", 8) == 0 &&
             ps->st->sess.follow && value_len <= RL__HTTP_MAX_LOCATION) {
    rl__http_user *u = rl__http_user_of(host, ps->req, 1);
    if (u == NULL)
      return;
    rl__buf_reset(&u->location);
    rl__buf_add(&u->location, value, value_len);
    rl__buf_add(&u->location, "", 1);
    ps->has_location = !u->location.oom;
  }
}

static void h2cb_headers_end(void *stream_data, enum h2_block block,
                             int status) {
  struct http2_stream *ps = stream_data;
  if (block == H2_BLOCK_RESPONSE)
    ps->status = status;
}

/* Header fields matter only to a stream that collects its response:
 * the final response's and the trailers, pseudo-headers left out. */
static void h2cb_header(void *stream_data, enum h2_block block,
                        const uint8_t *name, size_t name_len,
                        const uint8_t *value, size_t value_len) {
  struct http2_stream *ps = stream_data;
  if (ps->st->active && block == H2_BLOCK_RESPONSE)
    watch_field(ps, name, name_len, value, value_len);
  if (ps->acc == NULL || block == H2_BLOCK_INFORMATIONAL ||
      (name_len > 0 && name[0] == ':'))
    return;
  rl__resp_acc_header(ps->acc, name, name_len, value, value_len);
}

static void h2cb_data(void *stream_data, const uint8_t *data, size_t len) {
  struct http2_stream *ps = stream_data;
  ps->bytes += len;
  if (ps->acc != NULL)
    rl__resp_acc_data(ps->acc, data, len);
}

/* Starts the user's chain for the stream's request from what its step
 * sends (a step without templates: its header list and body). */
static rl__http_chain *record_step(struct http2_stream *ps) {
  const struct http2_step *st = ps->st;
  rl__http_chain *c = rl__http_chain_start(ps->s->c.host, ps->req, st->type);
  if (c == NULL)
    return NULL;
  for (size_t i = 0; i < st->nvlen; i++) {
    const nghttp2_nv *nv = &st->nva[i];
    if (nv->namelen > 0 && nv->name[0] == ':' &&
        !(nv->namelen == 10 && memcmp(nv->name, ":authority", 10) == 0))
      continue;
    rl__http_chain_field(c, (const char *)nv->name, nv->namelen,
                         (const char *)nv->value, nv->valuelen);
  }
  if (st->body != NULL)
    rl__http_chain_body(c, st->body, st->body_len);
  return c->fields.oom || c->body.oom ? NULL : c;
}

/* Queues the stream's request to follow its redirect (run_follows), its
 * collector with it. 0, or RL_ERR_NOMEM. */
static int queue_follow(struct http2_stream *ps) {
  struct http2_session *s = ps->s;
  if (s->n_follows == s->cap_follows) {
    size_t cap = s->cap_follows ? s->cap_follows * 2 : 4;
    struct follow *f = realloc(s->follows, cap * sizeof *f);
    if (f == NULL)
      return RL_ERR_NOMEM;
    s->follows = f;
    s->cap_follows = cap;
  }
  if (ps->acc != NULL)
    rl__resp_acc_clear(ps->acc); /* the next response replaces this one */
  s->follows[s->n_follows++] = (struct follow){
      .req = ps->req, .st = (struct http2_step *)ps->st, .acc = ps->acc};
  ps->acc = NULL;
  return 0;
}

/* A stream the server refused (REFUSED_STREAM: never processed): its
 * request is queued to go again on this connection (run_follows), where
 * nghttp2 holds it until the server's limit lets it start. It stays one
 * request to the host: nothing is reported, and its time still counts
 * from its first submit. 1 when queued, 0 when it fails instead (a
 * redirect's later hop, retries used up, no memory). */
static int queue_refused(struct http2_stream *ps) {
  if (ps->hop > 0 || ps->refused >= HTTP2_REFUSED_RETRIES)
    return 0;
  if (queue_follow(ps) != 0)
    return 0;
  ps->s->follows[ps->s->n_follows - 1].refused = ps->refused + 1;
  return 1;
}

/* A complete response that is a redirect to follow (a Location, a step
 * that follows): 1 when the request goes on or failed, 0 when this
 * response is its outcome after all. */
static int redirect(struct http2_stream *ps) {
  const rl_host *host = ps->s->c.host;
  char err[RL__HTTP_SHOW_BUF_LEN + 128];
  rl__http_chain *c = rl__http_chain_of(host, ps->req);
  if (c == NULL && ps->hop == 0) {
    if ((c = record_step(ps)) == NULL) {
      finish(ps, "out of memory following a redirect");
      return 1;
    }
    ps->chained = 1;
  }
  const rl__http_user *u = rl__http_user_of(host, ps->req, 0);
  if (c == NULL || u == NULL) /* its user stopped meanwhile */
    return 0;
  int next = rl__http_sess_redirect(
      host, ps->req, &ps->st->sess, ps->status, c->method.p, current_target(ps),
      u->location.p, u->location.len - 1, &c, err, sizeof err);
  if (next == RL__HTTP_DONE)
    return 0;
  if (next == RL__HTTP_FAIL)
    finish(ps, err);
  else if (queue_follow(ps) != 0)
    finish(ps, "out of memory following a redirect");
  return 1;
}

/* The one place a request ends: exactly once per accepted request, as
 * h2session promises one on_end per stream. */
static void h2cb_end(void *stream_data, enum h2_end how, uint32_t code) {
  struct http2_stream *ps = stream_data;
  char error[160], num[16];
  switch (how) {
  case H2_END_COMPLETE:
    if (ps->has_location && ps->st->active && ps->st->sess.follow &&
        rl__http_is_redirect(ps->status) && redirect(ps))
      return;
    if (ps->acc != NULL)
      rl__resp_acc_hand_over(ps->s->c.host, ps->req, ps->acc, ps->status);
    if (ps->status >= 400) {
      const char *phrase = status_phrase(ps->status);
      snprintf(error, sizeof error, "HTTP %d%s%s", ps->status,
               phrase ? " " : "", phrase ? phrase : "");
      finish(ps, error);
    } else {
      finish(ps, NULL);
    }
    return;
  case H2_END_RESET:
    if (code == NGHTTP2_REFUSED_STREAM && queue_refused(ps))
      return;
    if (code == NGHTTP2_REFUSED_STREAM && ps->refused > 0)
      snprintf(error, sizeof error,
               "RST_STREAM: REFUSED_STREAM (again after %u retries)",
               (unsigned)ps->refused);
    else
      snprintf(error, sizeof error, "RST_STREAM: %s",
               error_code_text(code, num, sizeof num));
    finish(ps, error);
    return;
  case H2_END_ERROR:
    if (code == NGHTTP2_NO_ERROR)
      snprintf(error, sizeof error, "HTTP/2 stream closed before the response");
    else
      snprintf(error, sizeof error, "HTTP/2 stream error: %s",
               error_code_text(code, num, sizeof num));
    finish(ps, error);
    return;
  case H2_END_UNPROCESSED:
    snprintf(error, sizeof error, "GOAWAY: %s",
             error_code_text(code, num, sizeof num));
    /* The server never saw it: send it again on a new connection (the
     * GOAWAY callback already drained this one); a redirect's next hop
     * goes on from where it was. */
    if (ps->hop > 0 && ps->st->active) {
      rl__http_chain *c = rl__http_chain_of(ps->s->c.host, ps->req);
      if (c != NULL) {
        c->moved = 1;
        rl__resp_acc_put(&ps->s->c.free_accs, ps->acc);
        ps->acc = NULL;
        ps->s->c.host->request_move(ps->req, error);
        return;
      }
    }
    if (ps->s->c.has_retry) {
      rl__resp_acc_put(&ps->s->c.free_accs, ps->acc);
      ps->acc = NULL;
      ps->s->c.host->request_retry(ps->req, error);
    } else
      finish(ps, error);
    return;
  case H2_END_CANCELLED:
    finish(ps,
           ps->s->cancel_reason != NULL ? ps->s->cancel_reason : "cancelled");
    return;
  case H2_END_ABORTED:
  default:
    finish(ps, ps->s->c.abort_reason != NULL ? ps->s->c.abort_reason
                                             : rl_strerror(RL_ERR_CLOSED));
    return;
  }
}

static const h2_callbacks http2_h2_callbacks = {
    .write = rl__h2codec_write,
    .on_header = h2cb_header,
    .on_headers_end = h2cb_headers_end,
    .on_data = h2cb_data,
    .on_end = h2cb_end,
    .on_goaway = rl__h2codec_goaway,
};

/*
 * A new connection (TCP connected, TLS and ALPN "h2" done, or h2c by prior
 * knowledge). Borrows host and conn (both outlive the session) and info
 * (only during the call); the plugin owns *session until
 * http2_session_del(). Writes the connection preface and our SETTINGS.
 */
static int http2_session_new(const rl_host *host, rl_conn *conn,
                             const rl_conn_info *info, void **session) {
  struct http2_session *s = calloc(1, sizeof *s);
  if (s == NULL)
    return RL_ERR_NOMEM;
  int rc = rl__h2codec_start(&s->c, host, conn, info, &http2_h2_callbacks,
                             sizeof(struct http2_stream));
  if (rc != 0) {
    free(s);
    return rc;
  }
  *session = s;
  return 0;
}

/* How many requests the session takes at once: the server's
 * SETTINGS_MAX_CONCURRENT_STREAMS, or at most 100 before it is known. */
static uint32_t http2_session_max_concurrent(void *session) {
  struct http2_session *s = session;
  return h2_session_max_concurrent(s->c.h2, HTTP2_STREAMS_BEFORE_SETTINGS);
}

/* Header lists up to this long are copied on the stack for a templated
 * request; longer ones on the heap. */
#define HTTP2_NV_STACK 32

/*
 * Expands the templated header values for req into s->scratch, back to
 * back (each copied before the next expansion reuses the host's buffer);
 * off/len (st->n_fields each) say where each one is. A :path is
 * percent-encoded where it must be. Returns 0, RL_ERR_NOMEM, or
 * RL_ERR_INVAL when a value expanded to a control character (logged once
 * per step).
 */
static int expand_fields(struct http2_session *s, struct http2_step *st,
                         rl_request *req, size_t *off, size_t *len) {
  rl__buf_reset(&s->scratch);
  for (size_t i = 0; i < st->n_fields; i++) {
    size_t n = 0;
    const char *text = s->c.host->template_expand(st->fields[i].tpl, req, &n);
    if (text == NULL)
      return RL_ERR_NOMEM;
    if (!st->fields[i].path && rl__http_bad_value(text, n)) {
      if (atomic_exchange(&st->warned, 1) == 0)
        s->c.host->log(RL_LOG_WARN,
                       "http2: a header value of %s %s expanded to a control "
                       "character (CR, LF...): such requests are refused",
                       st->type, st->name);
      return RL_ERR_INVAL;
    }
    off[i] = s->scratch.len;
    if (st->fields[i].path)
      rl__http_add_path(&s->scratch, text, n);
    else
      rl__buf_add(&s->scratch, text, n);
    if (s->scratch.oom)
      return RL_ERR_NOMEM;
    len[i] = s->scratch.len - off[i];
  }
  return 0;
}

/* The expanded :path of a templated step (in s->scratch after
 * expand_fields), kept in the user's state for the response; returns the
 * target the request goes to. */
static const char *keep_target(struct http2_session *s,
                               const struct http2_step *st, rl_request *req,
                               const size_t *off, const size_t *len) {
  for (size_t i = 0; st->path_tpl && st->active && i < st->n_fields; i++) {
    if (!st->fields[i].path)
      continue;
    rl__http_user *u = rl__http_user_of(s->c.host, req, 1);
    if (u == NULL)
      break;
    rl__buf_reset(&u->target);
    rl__buf_add(&u->target, s->scratch.p + off[i], len[i]);
    rl__buf_add(&u->target, "", 1);
    if (!u->target.oom)
      return u->target.p;
  }
  return st->path;
}

/* The cookie value for req's first stream into s->ck: the count of
 * cookies (0: none goes), or an RL_ERR_* code. */
static int first_cookies(struct http2_session *s, const struct http2_step *st,
                         rl_request *req, const char *target) {
  if (!st->active && st->sess.n_cookies == 0)
    return 0;
  rl__buf_reset(&s->ck);
  return rl__http_sess_cookies(s->c.host, req, &st->sess, target, 0, &s->ck);
}

/* Starts the user's chain for req from the header list as sent (the
 * pseudo-headers but :authority left out) and its body: templated values
 * are gone once the request is submitted. 1 when it did, 0 when not
 * needed, -1 when out of memory. */
static int record_sent(struct http2_session *s, const struct http2_step *st,
                       rl_request *req, const nghttp2_nv *nva, size_t nvlen,
                       const uint8_t *body, size_t body_len) {
  if (!st->active || !st->sess.follow)
    return 0;
  rl__http_chain *c = rl__http_chain_start(s->c.host, req, st->type);
  if (c == NULL)
    return -1;
  for (size_t i = 0; i < nvlen; i++) {
    const nghttp2_nv *nv = &nva[i];
    if (nv->namelen > 0 && nv->name[0] == ':' &&
        !(nv->namelen == 10 && memcmp(nv->name, ":authority", 10) == 0))
      continue;
    rl__http_chain_field(c, (const char *)nv->name, nv->namelen,
                         (const char *)nv->value, nv->valuelen);
  }
  if (body != NULL)
    rl__http_chain_body(c, body, body_len);
  if (c->fields.oom || c->body.oom) {
    rl__http_chain_end(s->c.host, req);
    return -1;
  }
  return 1;
}

/*
 * Puts the request's own fields (ABI 1.7, checked) into nva (*nvlen
 * fields, room for n more): one named like a step's field replaces its
 * value (host: :authority's), a connection-specific one is dropped (as
 * the step's are), any other is appended. Names are lowered
 * into s->hx, reserved first so that they do not move; nghttp2 copies
 * them (and the values) during the submit. 0 or RL_ERR_NOMEM.
 */
static int put_extra(struct http2_session *s, const rl_kv *h, size_t n,
                     nghttp2_nv *nva, size_t *nvlen) {
  size_t total = 0;
  for (size_t i = 0; i < n; i++)
    total += strlen(h[i].key);
  rl__buf_reset(&s->hx);
  if (rl__buf_reserve(&s->hx, total + 1) != 0)
    return RL_ERR_NOMEM;
  for (size_t i = 0; i < n; i++) {
    size_t klen = strlen(h[i].key);
    rl__http_hdr hdr = {.name = h[i].key,
                        .name_len = klen,
                        .value = h[i].value,
                        .value_len = strlen(h[i].value)};
    if (is_dropped_header(&hdr))
      continue; /* as the step's own: connection-specific */
    uint8_t *name = (uint8_t *)s->hx.p + s->hx.len;
    for (size_t k = 0; k < klen; k++)
      name[k] = (uint8_t)rl__http_ascii_lower((unsigned char)h[i].key[k]);
    s->hx.len += klen;
    const char *want = klen == 4 && memcmp(name, "host", 4) == 0
                           ? ":authority"
                           : (const char *)name;
    size_t want_len = want == (const char *)name ? klen : 10;
    size_t j = 0;
    while (j < *nvlen && !(nva[j].namelen == want_len &&
                           memcmp(nva[j].name, want, want_len) == 0))
      j++;
    nghttp2_nv nv = {name, (uint8_t *)h[i].value, klen, strlen(h[i].value),
                     NGHTTP2_NV_FLAG_NONE};
    if (j < *nvlen) {
      nva[j].value = nv.value;
      nva[j].valuelen = nv.valuelen;
      nva[j].flags &= (uint8_t)~NGHTTP2_NV_FLAG_NO_COPY_VALUE;
    } else {
      nva[(*nvlen)++] = nv;
    }
  }
  return 0;
}

/*
 * Submits a request whose header list is not the step's as it stands:
 * templated parts (the header values, :path too, expanded into the
 * session's scratch buffer; the body expanded into a buffer the stream
 * owns until sent, with its own content-length), or a cookie field added
 * (the user's jar, the step's own cookies). nghttp2 copies what is not
 * marked NO_COPY during the submit, so the copies need not outlive it.
 * `cookies`: s->ck holds the cookie value already (n > 0), 0: not yet
 * (templated: the target is known once :path is expanded). Borrows
 * everything.
 */
static int submit_copy(struct http2_session *s, struct http2_step *st,
                       rl_request *req, struct http2_stream *init,
                       int cookies) {
  /* Zeroed: the analyser cannot see expand_fields fill every one. */
  size_t field_off[HTTP2_NV_STACK] = {0}, field_len[HTTP2_NV_STACK] = {0};
  size_t *off = field_off, *flen = field_len;
  nghttp2_nv stack_nva[HTTP2_NV_STACK];
  nghttp2_nv *nva = stack_nva;
  uint8_t *copy = NULL;
  size_t len = 0;
  int rc = 0;
  const int templated_body = st->body_tpl != NULL;
  size_t n_extra;
  const rl_kv *extra = rl__http_extra(s->c.host, req, &n_extra);
  if (n_extra > 0) {
    char why[192];
    if (rl__http_check_extra(extra, n_extra, why, sizeof why) != 0) {
      s->c.host->request_refuse(req, why);
      return RL_ERR_INVAL;
    }
  }
  if (st->nvlen + 1 + n_extra > HTTP2_NV_STACK) {
    nva = malloc((st->nvlen + 1 + n_extra) * sizeof *nva);
    off = calloc(st->nvlen, sizeof *off);
    flen = calloc(st->nvlen, sizeof *flen);
    if (nva == NULL || off == NULL || flen == NULL)
      rc = RL_ERR_NOMEM;
  }
  if (rc == 0 && templated_body) {
    const char *text = s->c.host->template_expand(st->body_tpl, req, &len);
    if (text == NULL) {
      rc = RL_ERR_NOMEM;
    } else if (len > 0) {
      copy = malloc(len);
      if (copy == NULL)
        rc = RL_ERR_NOMEM;
      else
        memcpy(copy, text, len);
    }
  }
  if (rc == 0)
    rc = expand_fields(s, st, req, off, flen);
  if (rc == 0 && !cookies)
    cookies = first_cookies(s, st, req, keep_target(s, st, req, off, flen));
  if (cookies < 0)
    rc = cookies;
  size_t nvlen = st->nvlen;
  if (rc == 0) {
    memcpy(nva, st->nva, st->nvlen * sizeof *nva);
    for (size_t i = 0; i < st->n_fields; i++) {
      nghttp2_nv *nv = &nva[st->fields[i].index];
      nv->value = (uint8_t *)s->scratch.p + off[i];
      nv->valuelen = flen[i];
      nv->flags = NGHTTP2_NV_FLAG_NO_COPY_NAME; /* the value is copied */
    }
    char cl[32];
    if (templated_body && st->cl_index < st->nvlen) {
      snprintf(cl, sizeof cl, "%zu", len);
      nva[st->cl_index].value = (uint8_t *)cl;
      nva[st->cl_index].valuelen = strlen(cl);
      nva[st->cl_index].flags = NGHTTP2_NV_FLAG_NO_COPY_NAME; /* copy cl */
    }
    if (n_extra > 0)
      rc = put_extra(s, extra, n_extra, nva, &nvlen);
    h2_body body = {.data = st->body, .len = st->body_len};
    if (templated_body)
      body = (h2_body){.data = copy,
                       .len = len,
                       .release = rl__h2codec_free_body,
                       .release_arg = copy};
    /* A redirect's next hop sends what this one does, templates as they
     * came out now. */
    if (rc == 0 && (st->n_fields > 0 || templated_body || n_extra > 0) &&
        (init->chained =
             record_sent(s, st, req, nva, nvlen, body.data, body.len)) < 0) {
      init->chained = 0;
      rc = RL_ERR_NOMEM;
    }
    if (rc == 0 && cookies > 0)
      nva[nvlen++] = (nghttp2_nv){(uint8_t *)"cookie", (uint8_t *)s->ck.p, 6,
                                  s->ck.len, NGHTTP2_NV_FLAG_NO_COPY_NAME};
    if (rc == 0)
      rc = h2_session_submit(s->c.h2, nva, nvlen,
                             body.len > 0 || body.data != NULL ? &body : NULL,
                             init, NULL);
    if (rc != 0 && init->chained)
      rl__http_chain_end(s->c.host, req);
  }
  if (nva != stack_nva) {
    free(nva);
    free(off);
    free(flen);
  }
  /* A refused submit leaves the body ours; an empty one was never
   * handed over (no DATA), so it is ours too. */
  if (rc != 0 || len == 0)
    free(copy);
  return rc;
}

/* Submits the next hop of req's redirect chain as a new stream: the
 * first hop's fields, the chain's method and target, this hop's cookies
 * and length, the body when it goes along. `init` is the stream's area,
 * its collector the caller's unless this succeeds. */
static int submit_hop(struct http2_session *s, struct http2_step *st,
                      rl_request *req, const rl__http_chain *c,
                      struct http2_stream *init) {
  int rc = rl__h2codec_admit(&s->c, HTTP2_STREAMS_BEFORE_SETTINGS);
  if (rc != 0)
    return rc;
  rl__buf_reset(&s->ck);
  int cookies = rl__http_sess_cookies(s->c.host, req, &st->sess, c->target.p,
                                      c->hops, &s->ck);
  if (cookies < 0)
    return cookies;
  size_t cap = c->n_fields + 6;
  nghttp2_nv stack_nva[HTTP2_NV_STACK];
  nghttp2_nv *nva =
      cap <= HTTP2_NV_STACK ? stack_nva : malloc(cap * sizeof *nva);
  if (nva == NULL)
    return RL_ERR_NOMEM;
#define NV(n, v, vl)                                                           \
  ((nghttp2_nv){(uint8_t *)(n), (uint8_t *)(v), strlen(n), (vl), 0})
  const char *authority = st->sess.authority ? st->sess.authority : "";
  size_t n = 4, off = 0;
  nva[0] = NV(":method", c->method.p, strlen(c->method.p));
  nva[1] = NV(":scheme", st->sess.scheme, strlen(st->sess.scheme));
  nva[2] = NV(":authority", authority, strlen(authority));
  nva[3] = NV(":path", c->target.p, strlen(c->target.p));
  for (size_t i = 0; i < c->n_fields; i++) {
    const char *name, *value;
    rl__http_chain_next_field(c, &off, &name, &value);
    if (strcmp(name, ":authority") == 0)
      nva[2] = NV(":authority", value, strlen(value));
    else
      nva[n++] = NV(name, value, strlen(value));
  }
  if (cookies > 0)
    nva[n++] = NV("cookie", s->ck.p, s->ck.len);
  char cl[32];
  if (rl__http_wants_length(c->method.p, c->has_body)) {
    snprintf(cl, sizeof cl, "%zu", c->body.len);
    nva[n++] = NV("content-length", cl, strlen(cl));
  }
#undef NV
  uint8_t *copy = NULL;
  h2_body body = {0};
  if (c->has_body && c->body.len > 0) {
    if ((copy = malloc(c->body.len)) == NULL) {
      rc = RL_ERR_NOMEM;
    } else {
      memcpy(copy, c->body.p, c->body.len);
      body = (h2_body){.data = copy,
                       .len = c->body.len,
                       .release = rl__h2codec_free_body,
                       .release_arg = copy};
    }
  }
  init->hop = c->hops;
  init->chained = 1;
  if (rc == 0)
    rc = h2_session_submit(s->c.h2, nva, n, copy != NULL ? &body : NULL, init,
                           NULL);
  if (rc != 0)
    free(copy);
  if (nva != stack_nva)
    free(nva);
  if (rc == 0)
    rc = rl__h2codec_submitted(&s->c, 0, NULL);
  return rc;
}

static int submit_fresh(struct http2_session *s, struct http2_step *st,
                        rl_request *req, struct http2_stream *init);

/* Sends again a request whose stream was refused (f, its collector
 * taken): on this connection, past the admission check, since nghttp2
 * itself holds a stream over the server's limit until one ends; where
 * this connection takes no more streams (GOAWAY), on a new one
 * (request_retry); else it fails naming the refusal. */
static void run_refused(struct http2_session *s, const struct follow *f) {
  struct http2_stream init = {
      .s = s, .req = f->req, .st = f->st, .acc = f->acc, .refused = f->refused};
  int rc = submit_fresh(s, f->st, f->req, &init);
  if (rl__h2codec_submitted(&s->c, rc, init.acc) == 0)
    return; /* the stream owns the collector now */
  if (rc == RL_ERR_CLOSED && s->c.has_retry) {
    s->c.host->request_retry(f->req, "RST_STREAM: REFUSED_STREAM");
    return;
  }
  char err[128];
  snprintf(err, sizeof err,
           "RST_STREAM: REFUSED_STREAM (cannot send it again: %s)",
           rl_strerror(rc));
  report(s, f->req, f->st, 0, 0, err);
}

/*
 * Sends on the redirects queued while nghttp2's callbacks ran: each as a
 * new stream here; where this connection takes no more (GOAWAY, stream
 * ids spent), the request moves to a new connection; any other failure
 * ends it.
 */
static void run_follows(struct http2_session *s) {
  for (size_t i = 0; i < s->n_follows; i++) {
    struct follow f = s->follows[i];
    char err[96];
    if (f.refused > 0) {
      run_refused(s, &f);
      continue;
    }
    rl__http_chain *c = rl__http_chain_of(s->c.host, f.req);
    int rc = RL_ERR_NOTFOUND;
    if (c != NULL) {
      struct http2_stream init = {
          .s = s, .req = f.req, .st = f.st, .acc = f.acc};
      if ((rc = submit_hop(s, f.st, f.req, c, &init)) == 0)
        continue; /* the stream owns the collector now */
    }
    rl__resp_acc_put(&s->c.free_accs, f.acc);
    if (c != NULL && (rc == RL_ERR_CLOSED || rc == RL_ERR_BUSY)) {
      c->moved = 1;
      s->c.host->request_move(f.req, "the connection took no more streams "
                                     "while following a redirect");
      continue;
    }
    snprintf(err, sizeof err, "cannot send the redirected request: %s",
             c != NULL ? rl_strerror(rc) : "its user stopped");
    report(s, f.req, f.st, 0, c != NULL, err);
  }
  s->n_follows = 0;
}

/*
 * Starts req as a new stream and writes what can go now. On 0 the session
 * holds req (owned by the host) until it calls request_done() or
 * request_retry() once, from session_on_read() or session_del(), never
 * from here. On error nothing is kept and nothing will be reported:
 * RL_ERR_BUSY at the server's stream limit, RL_ERR_CLOSED once the
 * connection is going away, RL_ERR_INVAL when a header value expanded to
 * something HTTP/2 cannot carry.
 */
static int http2_session_submit(void *session, rl_request *req) {
  struct http2_session *s = session;
  int rc = rl__h2codec_admit(&s->c, HTTP2_STREAMS_BEFORE_SETTINGS);
  if (rc != 0)
    return rc;
  struct http2_step *st = s->c.host->request_step(req);
  if (st == NULL)
    return RL_ERR_INVAL;

  struct http2_stream init = {.s = s, .req = req, .st = st};
  /* Asked once per request: only then does the stream collect. */
  if ((rc = rl__h2codec_collector(&s->c, req, &init.acc)) != 0)
    return rc;
  rc = submit_fresh(s, st, req, &init);
  return rl__h2codec_submitted(&s->c, rc, init.acc);
}

/* Submits req's stream (init its area, with its collector) as
 * http2_session_submit does, after the admission check and the
 * collector: a request that moved here after a redirect goes on with its
 * next hop, any other starts afresh. 0 or an RL_ERR_* code. */
static int submit_fresh(struct http2_session *s, struct http2_step *st,
                        rl_request *req, struct http2_stream *init) {
  int rc;
  /* A request that moved here after a redirect goes on with its next
   * hop; any other starts afresh. */
  rl__http_chain *c = st->active ? rl__http_chain_of(s->c.host, req) : NULL;
  if (c != NULL && c->moved) {
    c->moved = 0;
    rc = submit_hop(s, st, req, c, init);
    if (rc != 0)
      c->moved = 1;
    return rc;
  }
  if (c != NULL)
    rl__http_chain_end(s->c.host, req);
  size_t n_extra;
  (void)rl__http_extra(s->c.host, req, &n_extra);
  if (st->body_tpl != NULL || st->n_fields > 0 || n_extra > 0) {
    rc = submit_copy(s, st, req, init, 0);
  } else if ((rc = first_cookies(s, st, req, st->path)) > 0) {
    rc = submit_copy(s, st, req, init, rc);
  } else if (rc == 0) {
    /* The body belongs to the step, which outlives the session: no
     * release needed. */
    h2_body body = {.data = st->body, .len = st->body_len};
    rc = h2_session_submit(s->c.h2, st->nva, st->nvlen,
                           st->body != NULL ? &body : NULL, init, NULL);
  }
  return rc;
}

/*
 * Bytes from the server (borrowed for the call): responses end here, with
 * request_done() or request_retry(). On a connection error every request
 * still held fails here with the precise reason, then RL_ERR_PROTO tells
 * the host to close.
 */
static int http2_session_on_read(void *session, const uint8_t *data,
                                 size_t len) {
  struct http2_session *s = session;
  int rc = rl__h2codec_read(&s->c, data, len);
  /* Redirects to follow, once nghttp2's callbacks are over. A broken
   * connection ended every stream; one that waits here ends too. */
  if (rc == 0)
    run_follows(s);
  else
    for (size_t i = 0; i < s->n_follows; i++) {
      rl__resp_acc_put(&s->c.free_accs, s->follows[i].acc);
      report(s, s->follows[i].req, s->follows[i].st, 0,
             s->follows[i].refused == 0, rl_strerror(rc));
    }
  s->n_follows = 0;
  return rc;
}

static int stream_is(void *area, void *arg) {
  return ((struct http2_stream *)area)->req == arg;
}

/*
 * The host gives up on one request (its timeout): reset its stream alone,
 * so the connection and its other streams go on. Reports the request with
 * `reason` (borrowed for the call) before returning 0; RL_ERR_INVAL when
 * the session does not hold it.
 */
static int http2_session_cancel(void *session, rl_request *req,
                                const char *reason) {
  struct http2_session *s = session;
  void *area = h2_session_find(s->c.h2, stream_is, req);
  if (area == NULL)
    return RL_ERR_INVAL;
  s->cancel_reason = reason;
  int rc = h2_session_cancel(s->c.h2, area);
  s->cancel_reason = NULL;
  /* The request is reported whatever the write did; a failed write shows
   * up on the connection next. */
  (void)rc;
  return 0;
}

/*
 * The connection is over. Every request still held fails, exactly once,
 * with `reason` (borrowed for the call), or with the GOAWAY's code when
 * the server sent one with an error and then closed. Then frees the
 * session.
 */
static void http2_session_del(void *session, int err, const char *reason) {
  struct http2_session *s = session;
  if (s == NULL)
    return;
  char why[64], num[16];
  uint32_t code;
  if (rl__h2codec_goaway_error(&s->c, err, &code)) {
    snprintf(why, sizeof why, "GOAWAY: %s",
             error_code_text(code, num, sizeof num));
    rl__h2codec_end(&s->c, why);
  } else {
    rl__h2codec_end(
        &s->c, reason != NULL && reason[0] != '\0' ? reason : rl_strerror(err));
  }
  /* A redirect whose outcome came out as the session ended: no
   * connection to follow it on. */
  for (size_t i = 0; i < s->n_follows; i++) {
    if (s->follows[i].acc != NULL)
      rl__resp_acc_free(s->follows[i].acc);
    free(s->follows[i].acc);
    report(s, s->follows[i].req, s->follows[i].st, 0,
           s->follows[i].refused == 0,
           reason != NULL && reason[0] != '\0' ? reason : rl_strerror(err));
  }
  free(s->follows);
  rl__buf_free(&s->scratch);
  rl__buf_free(&s->hx);
  rl__buf_free(&s->ck);
  free(s);
}

/* A scenario's http: steps (ABI 1.3): "[METHOD ]path-or-URL". */
static const char *const http2_step_keys[] = {"http", "https", NULL};

/* Their own keys: Locust's per-request cookies= and allow_redirects=. */
static const rl_option_decl http2_step_options[] = {
    {"cookies", RL_OPTION_MAP,
     "cookies this request sends besides the user's (name: value)"},
    {"allow_redirects", RL_OPTION_TEXT,
     "true or false: follow redirects (default true, false for HEAD)"},
    {NULL, 0, NULL},
};

static const rl_plugin http2_plugin = {
    .abi_version = RL_ABI_VERSION,
    .struct_size = sizeof(rl_plugin),
    .name = "http2",
    .version = "0.1.0",
    .summary = "HTTP/2 over TCP (h2c, prior knowledge) or TLS (ALPN h2), "
               "concurrent streams per connection",
    .schemes = http2_schemes,
    .alpn = http2_alpn,
    .kind = RL_PLUGIN_CODEC,
    .init = NULL,
    .fini = NULL,
    .step_new = http2_step_new,
    .step_del = http2_step_del,
    .session_new = http2_session_new,
    .session_submit = http2_session_submit,
    .session_on_read = http2_session_on_read,
    .session_del = http2_session_del,
    .session_max_concurrent = http2_session_max_concurrent,
    .session_cancel = http2_session_cancel,
    .step_describe = http2_step_describe,
    .step_keys = http2_step_keys,
    .step_value = RL_STEP_VALUE_REQUEST,
    .step_options = http2_step_options,
};

/* The one exported symbol. The descriptor is static and never freed. */
RL_EXPORT const rl_plugin *rl_plugin_entry(void);

RL_EXPORT const rl_plugin *rl_plugin_entry(void) { return &http2_plugin; }

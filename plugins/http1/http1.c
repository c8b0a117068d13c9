/*
 * http1: the HTTP/1.1 codec plugin.
 *
 * A step is compiled once into the exact request bytes (request line,
 * headers, body), so submitting a request is a single conn_write(). A
 * session is one connection with one request in flight at a time (no
 * pipelining: a slow response would stall every request queued behind it,
 * which skews latency the way a load tester must not). Responses are parsed
 * with libhttp-parser, which keeps its own state between reads, so a
 * response may arrive split at any byte.
 *
 * Everything except rl_plugin_entry() is static; the module is built with
 * hidden visibility.
 */
#include <rpcload/plugin.h>

#include <http_parser.h>

#include "http_text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HTTP1_USER_AGENT "rpcload/0.1"
/* Longest reason phrase kept for an error text; longer ones are cut, so
 * that one chatty server cannot make every error row unreadable. */
#define HTTP1_REASON_MAX 96
/* Longest piece of user input quoted back in an error message. */

static const rl_scheme http1_schemes[] = {
    {"http", 80, 0},
    {"https", 443, 1},
    {NULL, 0, 0},
};

static const char *const http1_alpn[] = {"http/1.1", NULL};

static int has_crlf(const char *s, size_t n) {
  return memchr(s, '\r', n) != NULL || memchr(s, '\n', n) != NULL;
}

/* A growable byte buffer; on allocation failure it sets oom and ignores
 * further appends, so builders check once at the end. Owns p. */
struct buf {
  char *p;
  size_t len, cap;
  int oom;
};

static void buf_add(struct buf *b, const void *data, size_t n) {
  if (b->oom || n == 0)
    return;
  if (n > b->cap - b->len) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < n) {
      if (cap > ((size_t)-1) / 2) {
        b->oom = 1;
        return;
      }
      cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (p == NULL) {
      b->oom = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, data, n);
  b->len += n;
}

static void buf_str(struct buf *b, const char *s) { buf_add(b, s, strlen(s)); }

/* ---- Steps --------------------------------------------------------------- */

/* A compiled step. Owns every member; freed by http1_step_del(). */
struct http1_step {
  char *bytes; /* the whole request, sent as is for every request */
  size_t len;
  char *type; /* stats type: the method */
  char *name; /* stats name: --name, else path and query */
  int head;   /* HEAD: the response has headers but never a body */
};

/* One user header, split and trimmed; points into the step spec. */
struct hdr {
  const char *name;
  size_t name_len;
  const char *value;
  size_t value_len;
};

/* The headers rpcload adds itself; a user header with one of these names
 * replaces ours (and an empty value just removes ours, as curl does). */
static int is_default_header(const struct hdr *h) {
  return rl__http_name_is(h->name, h->name_len, "Host") ||
         rl__http_name_is(h->name, h->name_len, "User-Agent") ||
         rl__http_name_is(h->name, h->name_len, "Content-Length");
}

static int user_has(const struct hdr *hs, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (rl__http_name_is(hs[i].name, hs[i].name_len, name))
      return 1;
  return 0;
}

/*
 * Splits and checks one user header. kv->value NULL means kv->key is the
 * raw "Name: value" line as the user typed it; otherwise key is the name.
 * Fills *h with pointers into kv's strings (borrowed: valid while the spec
 * is). Returns 0, or RL_ERR_INVAL with a message in err.
 */
static int parse_header(const rl_kv *kv, struct hdr *h, char *err,
                        size_t errlen) {
  char shown[RL__HTTP_SHOW_BUF_LEN];
  const char *key = kv->key ? kv->key : "";
  const char *value;
  size_t key_len = strlen(key);

  if (kv->value == NULL) {
    const char *colon = strchr(key, ':');
    if (colon == NULL) {
      rl__http_set_err(err, errlen, "header '%s' has no ':'",
                       rl__http_show(key, key_len, shown));
      return RL_ERR_INVAL;
    }
    h->name = key;
    h->name_len = (size_t)(colon - key);
    value = colon + 1;
  } else {
    h->name = key;
    h->name_len = key_len;
    value = kv->value;
  }

  /* Leading and trailing whitespace is not part of a field value. */
  size_t value_len = strlen(value);
  while (value_len > 0 && rl__http_is_ows(*value)) {
    value++;
    value_len--;
  }
  while (value_len > 0 && rl__http_is_ows(value[value_len - 1]))
    value_len--;
  h->value = value;
  h->value_len = value_len;

  /* CR or LF would let the header end early and smuggle another one in. */
  if (has_crlf(h->name, h->name_len) || has_crlf(h->value, h->value_len)) {
    rl__http_set_err(err, errlen, "header '%s' contains CR or LF",
                     rl__http_show(h->name, h->name_len, shown));
    return RL_ERR_INVAL;
  }
  if (h->name_len == 0) {
    rl__http_set_err(err, errlen, "header '%s' has an empty name",
                     rl__http_show(key, key_len, shown));
    return RL_ERR_INVAL;
  }
  if (!rl__http_is_token(h->name, h->name_len)) {
    rl__http_set_err(err, errlen, "header name '%s' is not a valid HTTP token",
                     rl__http_show(h->name, h->name_len, shown));
    return RL_ERR_INVAL;
  }
  for (size_t i = 0; i < h->value_len; i++) {
    unsigned char c = (unsigned char)h->value[i];
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      rl__http_set_err(err, errlen,
                       "header '%s' value contains a control character",
                       rl__http_show(h->name, h->name_len, shown));
      return RL_ERR_INVAL;
    }
  }
  return 0;
}

/* The default port of spec's scheme, so Host carries a port only when the
 * URL needed one. */
static uint16_t scheme_default_port(const rl_step_spec *spec) {
  if (spec->scheme != NULL) {
    for (const rl_scheme *s = http1_schemes; s->name != NULL; s++)
      if (strcmp(s->name, spec->scheme) == 0)
        return s->default_port;
  }
  return spec->tls ? 443 : 80;
}

static void http1_step_del(void *step) {
  struct http1_step *st = step;
  if (st == NULL)
    return;
  free(st->bytes);
  free(st->type);
  free(st->name);
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

  if (method_len == 0) {
    rl__http_set_err(err, errlen, "method is empty");
    return RL_ERR_INVAL;
  }
  if (has_crlf(method, method_len)) {
    rl__http_set_err(err, errlen, "method '%s' contains CR or LF",
                     rl__http_show(method, method_len, shown));
    return RL_ERR_INVAL;
  }
  if (!rl__http_is_token(method, method_len)) {
    rl__http_set_err(err, errlen, "method '%s' is not a valid HTTP token",
                     rl__http_show(method, method_len, shown));
    return RL_ERR_INVAL;
  }
  return rl__http_check_target(spec, path, "http1", err, errlen);
}

/* Appends "Host: <host>[:port]\r\n"; an IPv6 literal gets its brackets
 * back (the spec gives it without). */
static void add_host_header(struct buf *b, const rl_step_spec *spec) {
  int v6 = strchr(spec->host, ':') != NULL;
  buf_str(b, "Host: ");
  if (v6)
    buf_str(b, "[");
  buf_str(b, spec->host);
  if (v6)
    buf_str(b, "]");
  if (spec->port != 0 && spec->port != scheme_default_port(spec)) {
    char port[8];
    snprintf(port, sizeof port, ":%u", (unsigned)spec->port);
    buf_str(b, port);
  }
  buf_str(b, "\r\n");
}

/*
 * Compiles spec into a step: the request bytes are built here once, so the
 * hot path only copies them. Borrows host and spec (only during the call);
 * on success the plugin owns *step until http1_step_del(). On failure
 * *step is untouched and err holds one line.
 */
static int http1_step_new(const rl_host *host, const rl_step_spec *spec,
                          void **step, char *err, size_t errlen) {
  (void)host;
  if (spec == NULL || step == NULL) {
    rl__http_set_err(err, errlen, "no step spec given");
    return RL_ERR_INVAL;
  }
  /* We read members up to `name`; an older, shorter spec cannot serve. */
  if (spec->struct_size < offsetof(rl_step_spec, name) + sizeof(spec->name)) {
    rl__http_set_err(err, errlen, "step spec too short (%u bytes)",
                     (unsigned)spec->struct_size);
    return RL_ERR_ABI;
  }

  int has_body = spec->body != NULL;
  const char *method =
      spec->method != NULL ? spec->method : (has_body ? "POST" : "GET");
  const char *path =
      spec->path != NULL && spec->path[0] != '\0' ? spec->path : "/";
  int rc = check_spec(spec, method, path, err, errlen);
  if (rc != 0)
    return rc;

  struct hdr *hs = NULL;
  if (spec->n_headers > 0) {
    if (spec->headers == NULL) {
      rl__http_set_err(err, errlen, "%zu headers announced but none given",
                       spec->n_headers);
      return RL_ERR_INVAL;
    }
    hs = calloc(spec->n_headers, sizeof *hs);
    if (hs == NULL) {
      rl__http_set_err(err, errlen, "out of memory");
      return RL_ERR_NOMEM;
    }
  }
  for (size_t i = 0; i < spec->n_headers; i++) {
    rc = parse_header(&spec->headers[i], &hs[i], err, errlen);
    if (rc != 0) {
      free(hs);
      return rc;
    }
  }

  /* A POST/PUT/PATCH without a body still says "0" (RFC 9110 8.6), or some
   * servers answer 411 Length Required. */
  int wants_length = has_body || strcmp(method, "POST") == 0 ||
                     strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0;
  size_t n = spec->n_headers;
  struct buf b = {0};

  buf_str(&b, method);
  buf_str(&b, " ");
  buf_str(&b, path);
  buf_str(&b, " HTTP/1.1\r\n");
  if (!user_has(hs, n, "Host"))
    add_host_header(&b, spec);
  if (!user_has(hs, n, "User-Agent"))
    buf_str(&b, "User-Agent: " HTTP1_USER_AGENT "\r\n");
  for (size_t i = 0; i < n; i++) {
    if (hs[i].value_len == 0 && is_default_header(&hs[i]))
      continue; /* "-H 'User-Agent:'" removes ours and sends nothing */
    buf_add(&b, hs[i].name, hs[i].name_len);
    buf_str(&b, ": ");
    buf_add(&b, hs[i].value, hs[i].value_len);
    buf_str(&b, "\r\n");
  }
  /* A user's Transfer-Encoding frames the body itself; sending a length
   * beside it is forbidden (RFC 9112 6.2). */
  if (wants_length && !user_has(hs, n, "Content-Length") &&
      !user_has(hs, n, "Transfer-Encoding")) {
    char cl[48];
    snprintf(cl, sizeof cl, "Content-Length: %zu\r\n",
             has_body ? spec->body_len : (size_t)0);
    buf_str(&b, cl);
  }
  buf_str(&b, "\r\n");
  if (has_body)
    buf_add(&b, spec->body, spec->body_len);
  free(hs);

  struct http1_step *st = calloc(1, sizeof *st);
  if (st != NULL) {
    st->bytes = b.p;
    st->len = b.len;
    st->type = rl__http_dup_str(method);
    st->name = rl__http_dup_str(
        spec->name != NULL && spec->name[0] != '\0' ? spec->name : path);
    st->head = strcmp(method, "HEAD") == 0;
  }
  if (st == NULL || b.oom || st->type == NULL || st->name == NULL) {
    if (st != NULL)
      http1_step_del(st);
    else
      free(b.p);
    rl__http_set_err(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  *step = st;
  return 0;
}

/* ---- Sessions ------------------------------------------------------------ */

/* One connection. Owned by the plugin from session_new to session_del. */
struct http1_session {
  const rl_host *host;               /* borrowed: lives until fini */
  rl_conn *conn;                     /* borrowed: valid until session_del */
  rl_request *req;                   /* in flight, or NULL; owned by the host */
  const struct http1_step *step;     /* req's step, borrowed while req lives */
  http_parser parser;                /* keeps state across reads */
  uint64_t body_bytes;               /* body bytes of the current response */
  char reason[HTTP1_REASON_MAX + 1]; /* reason phrase, possibly cut */
  size_t reason_len;
  int closing;  /* no more requests: the response ended the connection */
  int deleting; /* inside session_del: the connection is already going */
};

/*
 * Reports the request in flight and forgets it. `error` NULL is success;
 * it is borrowed for the call only. req is cleared BEFORE request_done,
 * because after that call the host may have freed it.
 */
static void finish(struct http1_session *s, const char *error) {
  rl_request *req = s->req;
  const struct http1_step *st = s->step;
  rl_result r;

  s->req = NULL;
  s->step = NULL;
  r.type = st->type;
  r.name = st->name;
  r.response_bytes = s->body_bytes;
  r.error = error;
  s->host->request_done(req, &r);
}

/* Asks the host to close the connection after the current callback, unless
 * it is already closing (session_del). */
static void request_close(struct http1_session *s) {
  s->closing = 1;
  if (!s->deleting)
    s->host->conn_close(s->conn);
}

/*
 * Parser callbacks. p->data is the session; `at` is borrowed for the call.
 * A non-zero return (other than 1 from on_headers_complete) makes
 * http_parser_execute() stop with an HPE_CB_* error.
 */

static int on_message_begin(http_parser *p) {
  struct http1_session *s = p->data;
  /* A response nobody asked for: the connection is out of step with us. */
  if (s->req == NULL)
    return -1;
  s->body_bytes = 0;
  s->reason_len = 0;
  return 0;
}

static int on_status(http_parser *p, const char *at, size_t len) {
  struct http1_session *s = p->data;
  /* The phrase may come in pieces when a read splits the status line. */
  size_t room = HTTP1_REASON_MAX - s->reason_len;
  size_t n = len < room ? len : room;
  memcpy(s->reason + s->reason_len, at, n);
  s->reason_len += n;
  return 0;
}

static int on_headers_complete(http_parser *p) {
  struct http1_session *s = p->data;
  /* The parser cannot know the request was HEAD; 1 tells it that this
   * response has no body whatever Content-Length says. */
  return s->step->head ? 1 : 0;
}

static int on_body(http_parser *p, const char *at, size_t len) {
  struct http1_session *s = p->data;
  (void)at;
  s->body_bytes += len;
  return 0;
}

static int on_message_complete(http_parser *p) {
  struct http1_session *s = p->data;
  unsigned code = p->status_code;
  /* Interim responses (100 Continue, 103 Early Hints) precede the real
   * one; 101 is different: we never ask to switch protocols, so it ends
   * the request (as a failure) and the connection. */
  if (code >= 100 && code < 200 && code != 101)
    return 0;

  int keep_alive = http_should_keep_alive(p) && code != 101;
  if (code >= 400 || code == 101) {
    char error[HTTP1_REASON_MAX + 32];
    const char *reason = s->reason;
    s->reason[s->reason_len] = '\0';
    if (s->reason_len == 0) {
      reason = http_status_str((enum http_status)code);
      if (strcmp(reason, "<unknown>") == 0)
        reason = "";
    }
    snprintf(error, sizeof error, "HTTP %u%s%s", code, reason[0] ? " " : "",
             reason);
    finish(s, error);
  } else {
    finish(s, NULL);
  }
  if (!keep_alive)
    request_close(s);
  return 0;
}

static const http_parser_settings http1_parser_settings = {
    .on_message_begin = on_message_begin,
    .on_status = on_status,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/*
 * A new connection. Borrows host and conn (both outlive the session) and
 * info (only during the call); the plugin owns *session until
 * http1_session_del(). Nothing is sent until a request comes.
 */
static int http1_session_new(const rl_host *host, rl_conn *conn,
                             const rl_conn_info *info, void **session) {
  (void)info;
  struct http1_session *s = calloc(1, sizeof *s);
  if (s == NULL)
    return RL_ERR_NOMEM;
  s->host = host;
  s->conn = conn;
  http_parser_init(&s->parser, HTTP_RESPONSE);
  s->parser.data = s;
  *session = s;
  return 0;
}

/*
 * Sends req's pre-built bytes. On 0 the session holds req (owned by the
 * host) until it calls request_done() once, from session_on_read() or
 * session_del(). On error nothing is kept and nothing will be reported.
 */
static int http1_session_submit(void *session, rl_request *req) {
  struct http1_session *s = session;
  if (s->req != NULL)
    return RL_ERR_BUSY;
  if (s->closing)
    return RL_ERR_CLOSED;
  const struct http1_step *st = s->host->request_step(req);
  if (st == NULL)
    return RL_ERR_INVAL;
  int rc = s->host->conn_write(s->conn, st->bytes, st->len);
  if (rc != 0)
    return rc;
  s->req = req;
  s->step = st;
  return 0;
}

/*
 * Feeds received bytes (borrowed for the call) to the parser, which calls
 * request_done() from on_message_complete(). Returns 0 or RL_ERR_PROTO.
 */
static int http1_session_on_read(void *session, const uint8_t *data,
                                 size_t len) {
  struct http1_session *s = session;
  if (len == 0)
    return 0;
  if (s->req == NULL)
    return RL_ERR_PROTO; /* unsolicited bytes: nothing to match them to */

  size_t n = http_parser_execute(&s->parser, &http1_parser_settings,
                                 (const char *)data, len);
  enum http_errno e = HTTP_PARSER_ERRNO(&s->parser);
  if (e != HPE_OK) {
    /* Fail the request here, where we still know what went wrong; the
     * host's session_del() then finds nothing in flight. */
    if (s->req != NULL) {
      char error[160];
      snprintf(error, sizeof error, "invalid HTTP response: %s",
               http_errno_description(e));
      finish(s, error);
    }
    return RL_ERR_PROTO;
  }
  /* The parser stops early only after an upgrade (101): the rest of the
   * bytes are another protocol, which we do not speak. */
  if (n != len)
    return RL_ERR_PROTO;
  return 0;
}

/*
 * The connection is over. Reports the request in flight, if any, exactly
 * once: a peer close (RL_ERR_CLOSED) may be the end of a response that had
 * no length, anything else fails it with `reason` (borrowed for the call).
 * Then frees the session.
 */
static void http1_session_del(void *session, int err, const char *reason) {
  struct http1_session *s = session;
  if (s == NULL)
    return;
  s->deleting = 1;
  /* Zero bytes tell the parser about EOF: it completes a body read until
   * close, and does nothing (no callback) for a response cut short. */
  if (s->req != NULL && err == RL_ERR_CLOSED)
    http_parser_execute(&s->parser, &http1_parser_settings, NULL, 0);
  if (s->req != NULL)
    finish(s, reason != NULL && reason[0] != '\0' ? reason : rl_strerror(err));
  free(s);
}

/* The stats type and name the step reports: the host uses them for
 * failures it reports itself. Both strings belong to the step. */
static void http1_step_describe(void *step, const char **type,
                                const char **name) {
  const struct http1_step *st = step;
  *type = st->type;
  *name = st->name;
}

static const rl_plugin http1_plugin = {
    .abi_version = RL_ABI_VERSION,
    .struct_size = sizeof(rl_plugin),
    .name = "http1",
    .version = "0.1.0",
    .summary = "HTTP/1.1 over TCP or TLS, one request at a time per connection",
    .schemes = http1_schemes,
    .alpn = http1_alpn,
    .kind = RL_PLUGIN_CODEC,
    .init = NULL,
    .fini = NULL,
    .step_new = http1_step_new,
    .step_del = http1_step_del,
    .session_new = http1_session_new,
    .session_submit = http1_session_submit,
    .session_on_read = http1_session_on_read,
    .session_del = http1_session_del,
    .session_max_concurrent = NULL,
    .step_describe = http1_step_describe,
};

/* The one exported symbol. The descriptor is static and never freed. */
RL_EXPORT const rl_plugin *rl_plugin_entry(void);

RL_EXPORT const rl_plugin *rl_plugin_entry(void) { return &http1_plugin; }

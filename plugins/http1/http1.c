/*
 * http1: the HTTP/1.1 codec plugin.
 *
 * A step is compiled once into the exact request bytes (request line,
 * headers, body), so submitting a request is a single conn_write(). When
 * the path, a header value or the body holds {{...}} templates (ABI 1.1),
 * the step is instead a list of segments, constant bytes and templates,
 * assembled per request (with a Content-Length that follows the expanded
 * body); a step without templates keeps the single pre-built block.
 *
 * A session is one connection with one request in flight at a time (no
 * pipelining: a slow response would stall every request queued behind it,
 * which skews latency the way a load tester must not). Responses are parsed
 * with libhttp-parser, which keeps its own state between reads, so a
 * response may arrive split at any byte.
 *
 * Cookies and redirects (lib/http_session, on the user's state, ABI 1.5),
 * as Locust's HttpUser has them: Set-Cookie fields go into the user's jar
 * as the headers arrive, and a request sends the jar's cookies that match
 * in a Cookie line written between its headers and the blank line (so the
 * pre-built bytes stay as they are). A 3xx with a Location of the same
 * origin is followed on this connection when it stays open: the next hop
 * is written from the parser's callback and the request stays in flight,
 * reported once, under its step's type and name, with the last response;
 * when the server closes after the 3xx, the request moves to a new
 * connection (host->request_move) and its next hop is sent from there.
 * The header fields are only looked at (Set-Cookie, Location) when the
 * step keeps cookies or follows redirects.
 *
 * A request's own header fields (ABI 1.7, host->request_headers: a Lua or
 * C user's send) are merged into a copy of its bytes at submit, replacing
 * the step's fields of the same names; a request without them (every
 * scenario step's) is sent from the step's bytes as before.
 *
 * Responses for scenario checks (ABI 1.2): when the host says at submit
 * that it will look at a request's response, the session collects the
 * header fields and the de-chunked body and hands them over with
 * request_response() just before request_done(). Otherwise the parser runs
 * with callbacks that collect nothing, so the hot path does no extra work.
 *
 * Everything except rl_plugin_entry() is static; the module is built with
 * hidden visibility.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>

#include <rpcload/plugin.h>

#include "lib/buf.h"
#include "lib/http_session.h"
#include "lib/http_text.h"
#include "lib/resp_acc.h"
#include "lib/tpl.h"

#define HTTP1_USER_AGENT "rpcload/0.1"
/* Longest reason phrase kept for an error text; longer ones are cut, so
 * that one chatty server cannot make every error row unreadable. */
#define HTTP1_REASON_MAX 96

static const rl_scheme http1_schemes[] = {
    {"http", 80, 0},
    {"https", 443, 1},
    {NULL, 0, 0},
};

static const char *const http1_alpn[] = {"http/1.1", NULL};

/* ---- Steps --------------------------------------------------------------- */

/* A piece of a templated request. */
enum seg_kind {
  SEG_TEXT,   /* constant bytes: bytes[off, off + len) */
  SEG_PATH,   /* the path template, percent-encoded where it must be */
  SEG_VALUE,  /* a header value template */
  SEG_LENGTH, /* the expanded body's length, in decimal */
  SEG_BODY    /* the expanded body */
};

struct seg {
  enum seg_kind kind;
  size_t off, len;  /* SEG_TEXT */
  rl_template *tpl; /* SEG_PATH, SEG_VALUE; owned */
};

/* A compiled step. Owns every member but host; freed by
 * http1_step_del(). */
struct http1_step {
  const rl_host *host; /* borrowed (lives until fini): frees templates */
  /* The whole request, sent as is for every request; with segments, the
   * constant bytes they point into. */
  char *bytes;
  size_t len;
  struct seg *segs; /* NULL: nothing to expand, send `bytes` */
  size_t n_segs;
  rl_template *body_tpl; /* the body when it has {{...}}, else NULL */
  char *type;            /* stats type: the method */
  char *name;            /* stats name: --name, else path and query */
  char *path;            /* the request target (its text when templated) */
  int path_tpl;          /* the target is expanded per request */
  int head;              /* HEAD: the response has headers but never a body */
  atomic_int warned;     /* a bad expansion was logged once */
  /* Where the blank line ending the headers starts in `bytes` (a step
   * without segments): a Cookie line goes there. */
  size_t head_len;
  rl__http_sess_step sess; /* cookies and redirects */
  int active;              /* sess needs the user's state */
};

static void http1_step_del(void *step) {
  struct http1_step *st = step;
  if (st == NULL)
    return;
  for (size_t i = 0; i < st->n_segs; i++)
    if (st->segs[i].tpl != NULL)
      st->host->template_del(st->segs[i].tpl);
  free(st->segs);
  if (st->body_tpl != NULL)
    st->host->template_del(st->body_tpl);
  free(st->bytes);
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

  if (method_len == 0) {
    rl__http_set_err(err, errlen, "method is empty");
    return RL_ERR_INVAL;
  }
  if (rl__http_has_crlf(method, method_len)) {
    rl__http_set_err(err, errlen, "method '%s' contains CR or LF",
                     rl__http_show(method, method_len, shown));
    return RL_ERR_INVAL;
  }
  if (!rl__http_is_token(method, method_len)) {
    rl__http_set_err(err, errlen, "method '%s' is not a valid HTTP token",
                     rl__http_show(method, method_len, shown));
    return RL_ERR_INVAL;
  }
  return rl__http_check_target(spec, path, err, errlen);
}

/* ---- Templates ----------------------------------------------------------- */

/* The request under construction: constant bytes in `b`, and, once
 * something is templated, the segments (SEG_TEXT ones point into b). */
struct req_builder {
  rl__buf b;
  struct seg *segs;
  size_t n, cap;
  size_t text_start; /* where the constant bytes not yet in a segment begin */
  int oom;
};

static int rb_push(struct req_builder *rb, struct seg sg) {
  if (rb->n == rb->cap) {
    size_t cap = rb->cap ? rb->cap * 2 : 8;
    struct seg *p = realloc(rb->segs, cap * sizeof *p);
    if (p == NULL)
      return RL_ERR_NOMEM;
    rb->segs = p;
    rb->cap = cap;
  }
  rb->segs[rb->n++] = sg;
  return 0;
}

/* Closes the constant bytes so far into a SEG_TEXT. */
static void rb_close_text(struct req_builder *rb) {
  if (rb->b.len > rb->text_start &&
      rb_push(rb, (struct seg){.kind = SEG_TEXT,
                               .off = rb->text_start,
                               .len = rb->b.len - rb->text_start}) != 0)
    rb->oom = 1;
  rb->text_start = rb->b.len;
}

/* Appends a segment expanded per request; the builder owns tpl from here
 * (freed with the segments, even when this fails). */
static void rb_seg(const rl_host *host, struct req_builder *rb,
                   enum seg_kind kind, rl_template *tpl) {
  rb_close_text(rb);
  if (rb_push(rb, (struct seg){.kind = kind, .tpl = tpl}) != 0) {
    rb->oom = 1;
    if (tpl != NULL)
      host->template_del(tpl);
  }
}

static void rb_free(const rl_host *host, struct req_builder *rb) {
  for (size_t i = 0; i < rb->n; i++)
    if (rb->segs[i].tpl != NULL)
      host->template_del(rb->segs[i].tpl);
  free(rb->segs);
  free(rb->b.p);
}

/* Compiles the templates of the path, the header values and the body into
 * pt. Returns 0 or an RL_ERR_* code with err set (what was compiled stays
 * in pt, for rl__http_parts_free). */
static int compile_templates(const rl_host *host, const rl_step_spec *spec,
                             rl__http_parts *pt, char *err, size_t errlen) {
  char shown[RL__HTTP_SHOW_BUF_LEN], what[RL__HTTP_SHOW_BUF_LEN + 16];
  int rc = rl__tpl_compile(host, pt->path, strlen(pt->path), "path",
                           &pt->path_tpl, err, errlen);
  if (rc == 0 && pt->n > 0) {
    pt->value_tpl = calloc(pt->n, sizeof(rl_template *));
    if (pt->value_tpl == NULL) {
      rl__http_set_err(err, errlen, "out of memory");
      rc = RL_ERR_NOMEM;
    }
  }
  for (size_t i = 0; rc == 0 && i < pt->n; i++) {
    const rl__http_hdr *h = &pt->hs[i];
    snprintf(what, sizeof what, "header '%s'",
             rl__http_show(h->name, h->name_len, shown));
    rc = rl__tpl_compile(host, h->value, h->value_len, what, &pt->value_tpl[i],
                         err, errlen);
  }
  if (rc == 0 && spec->body != NULL && spec->body_len > 0)
    rc = rl__tpl_compile(host, (const char *)spec->body, spec->body_len, "body",
                         &pt->body_tpl, err, errlen);
  return rc;
}

/*
 * Checks a templated path: its constant part must have no space or
 * control character; then the rest of the spec as check_spec() does.
 * Returns 0, or RL_ERR_INVAL / RL_ERR_NOMEM with err set.
 */
static int check_spec_templated(const rl_step_spec *spec, const char *method,
                                const char *path, char *err, size_t errlen) {
  char *skeleton = NULL;
  int rc = rl__http_path_skeleton(path, &skeleton, err, errlen);
  if (rc == 0)
    rc = check_spec(spec, method, skeleton, err, errlen);
  free(skeleton);
  return rc;
}

/*
 * Reads spec into *pt: the method and the path checked, the user's
 * headers parsed, the templates compiled when the host offers them. Returns 0, or an RL_ERR_* code with err set and nothing left to
 * free.
 */
static int read_parts(const rl_host *host, const rl_step_spec *spec,
                      rl__http_parts *pt, char *err, size_t errlen) {
  rl__http_parts_init(pt, spec);
  int templates = rl__tpl_available(host);
  int rc;
  if (templates && strstr(pt->path, "{{") != NULL)
    rc = check_spec_templated(spec, pt->method, pt->path, err, errlen);
  else
    rc = check_spec(spec, pt->method, pt->path, err, errlen);
  if (rc == 0)
    rc = rl__http_parse_headers(spec, &pt->hs, err, errlen);
  pt->n = spec->n_headers;
  if (rc == 0 && templates)
    rc = compile_templates(host, spec, pt, err, errlen);
  if (rc != 0)
    rl__http_parts_free(host, pt);
  return rc;
}

/* Appends "METHOD path HTTP/1.1\r\n"; a templated path is a segment. */
static void add_request_line(const rl_host *host, struct req_builder *rb,
                             rl__http_parts *pt) {
  rl__buf_str(&rb->b, pt->method);
  rl__buf_str(&rb->b, " ");
  if (pt->path_tpl != NULL)
    rb_seg(host, rb, SEG_PATH, pt->path_tpl);
  else
    rl__buf_str(&rb->b, pt->path);
  pt->path_tpl = NULL; /* the builder owns it */
  rl__buf_str(&rb->b, " HTTP/1.1\r\n");
}

/* Appends Host and User-Agent unless the user gives them, then the user's
 * headers in order (templated values as segments). */
static void add_headers(const rl_host *host, const rl_step_spec *spec,
                        struct req_builder *rb, rl__http_parts *pt) {
  rl__buf *b = &rb->b;
  if (rl__http_find_header(pt->hs, pt->n, "Host") == NULL) {
    rl__buf_str(b, "Host: ");
    rl__http_add_authority(b, http1_schemes, spec);
    rl__buf_str(b, "\r\n");
  }
  if (rl__http_find_header(pt->hs, pt->n, "User-Agent") == NULL)
    rl__buf_str(b, "User-Agent: " HTTP1_USER_AGENT "\r\n");
  /* A scenario's JSON body says so, unless the user's headers say else. */
  const char *body_type = rl__http_body_type(spec);
  if (body_type &&
      rl__http_find_header(pt->hs, pt->n, "Content-Type") == NULL) {
    rl__buf_str(b, "Content-Type: ");
    rl__buf_str(b, body_type);
    rl__buf_str(b, "\r\n");
  }
  for (size_t i = 0; i < pt->n; i++) {
    const rl__http_hdr *h = &pt->hs[i];
    rl_template *t = rl__http_parts_take_value(pt, i);
    if (h->value_len == 0 && rl__http_is_default_header(h)) {
      /* "-H 'User-Agent:'" removes ours and sends nothing. */
      if (t != NULL)
        host->template_del(t);
      continue;
    }
    rl__buf_add(b, h->name, h->name_len);
    rl__buf_str(b, ": ");
    if (t != NULL)
      rb_seg(host, rb, SEG_VALUE, t);
    else
      rl__buf_add(b, h->value, h->value_len);
    rl__buf_str(b, "\r\n");
  }
}

/* Appends Content-Length when the request needs one and the user's
 * headers do not frame the body, the blank line, and the body (a
 * templated body and its length as segments). */
static void add_body(const rl_host *host, const rl_step_spec *spec,
                     struct req_builder *rb, const rl__http_parts *pt) {
  rl__buf *b = &rb->b;
  /* A user's Transfer-Encoding frames the body itself; sending a length
   * beside it is forbidden (RFC 9112 6.2). */
  if (rl__http_wants_length(pt->method, pt->has_body) &&
      rl__http_find_header(pt->hs, pt->n, "Content-Length") == NULL &&
      rl__http_find_header(pt->hs, pt->n, "Transfer-Encoding") == NULL) {
    if (pt->body_tpl != NULL) {
      rl__buf_str(b, "Content-Length: ");
      rb_seg(host, rb, SEG_LENGTH, NULL);
      rl__buf_str(b, "\r\n");
    } else {
      char cl[48];
      snprintf(cl, sizeof cl, "Content-Length: %zu\r\n",
               pt->has_body ? spec->body_len : (size_t)0);
      rl__buf_str(b, cl);
    }
  }
  rl__buf_str(b, "\r\n");
  if (pt->body_tpl != NULL)
    rb_seg(host, rb, SEG_BODY, NULL);
  else if (pt->has_body)
    rl__buf_add(b, spec->body, spec->body_len);
  if (rb->n > 0)
    rb_close_text(rb);
}

/* Where the blank line that ends the header block of a request (len
 * bytes) starts: a Cookie line is written there. */
static size_t head_end(const char *req, size_t len) {
  for (size_t i = 0; i + 3 < len; i++)
    if (memcmp(req + i, "\r\n\r\n", 4) == 0)
      return i + 2;
  return len;
}

/*
 * Compiles spec into a step: the request bytes are built here once, so the
 * hot path only copies them (or, with templates, the segments to assemble
 * them from). Borrows host and spec (only during the call); on success the
 * plugin owns *step until http1_step_del(). On failure *step is untouched
 * and err holds one line.
 */
static int http1_step_new(const rl_host *host, const rl_step_spec *spec,
                          void **step, char *err, size_t errlen) {
  if (spec == NULL || step == NULL) {
    rl__http_set_err(err, errlen, "no step spec given");
    return RL_ERR_INVAL;
  }
  int rc = rl__http_check_spec_size(spec, err, errlen);
  rl__http_parts pt;
  if (rc == 0)
    rc = read_parts(host, spec, &pt, err, errlen);
  if (rc != 0)
    return rc;

  struct http1_step *st = calloc(1, sizeof *st);
  if (st == NULL) {
    rl__http_parts_free(host, &pt);
    rl__http_set_err(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  st->host = host;
  /* An empty Host is sent as such: no origin to keep cookies for. */
  char *authority = rl__http_authority_sent(spec, &pt, http1_schemes, 1);
  rc = rl__http_sess_step_init(&st->sess, host, spec, pt.method, authority,
                               "http1", err, errlen);
  free(authority);
  if (rc != 0) {
    rl__http_parts_free(host, &pt);
    free(st);
    return rc;
  }
  st->active = rl__http_sess_active(&st->sess);
  st->path_tpl = pt.path_tpl != NULL;

  struct req_builder rb = {0};
  add_request_line(host, &rb, &pt);
  add_headers(host, spec, &rb, &pt);
  add_body(host, spec, &rb, &pt);

  st->body_tpl = pt.body_tpl; /* the step owns it from here */
  pt.body_tpl = NULL;
  st->type = rl__http_dup_str(pt.method);
  st->name = rl__http_dup_str(
      spec->name != NULL && spec->name[0] != '\0' ? spec->name : pt.path);
  st->path = rl__http_dup_str(pt.path);
  st->head = strcmp(pt.method, "HEAD") == 0;
  rl__http_parts_free(host, &pt);
  if (rb.b.oom || rb.oom || st->type == NULL || st->name == NULL ||
      st->path == NULL) {
    http1_step_del(st);
    rb_free(host, &rb);
    rl__http_set_err(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  st->bytes = rb.b.p;
  st->len = rb.b.len;
  st->segs = rb.segs;
  st->n_segs = rb.n;
  if (st->segs == NULL)
    st->head_len = head_end(st->bytes, st->len);
  *step = st;
  return 0;
}

/* ---- Sessions ------------------------------------------------------------ */

/* Where the header callbacks are in a header field. */
enum hdr_state { HDR_NONE, HDR_NAME, HDR_VALUE };

/* Longest field name looked at ("set-cookie"), and the most of a value
 * kept for it: a Location or a Set-Cookie longer than this is ignored. */
#define HTTP1_WATCH_NAME 16
#define HTTP1_WATCH_VALUE (RL__HTTP_MAX_LOCATION + 8)

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
  int closing;       /* no more requests: the response ended the connection */
  int deleting;      /* inside session_del: the connection is already going */
  int has_responses; /* the host takes responses (ABI 1.2) */
  /* The host looks at the current request's response (asked once, at
   * submit): the parser then runs with the collecting callbacks. */
  int want;
  /* The response collected when `want`: header fields (trailers after),
   * appended to acc.hdr piece by piece as the parser finds them, and the
   * de-chunked body. Memory is kept from request to request. */
  rl__resp_acc acc;
  enum hdr_state hdr_state;
  size_t value_start; /* where the value being collected begins in hdr */
  /* A templated request being assembled, and its expanded body; a
   * redirect's next hop is written in `out` too. */
  rl__buf out, tmp;
  /* The request's own header fields (ABI 1.7) are merged into a copy of
   * its bytes in `hx`, then swapped into `out`; out_merged says `out`
   * holds the request sent (for a redirect's first hop). */
  rl__buf hx;
  int out_merged;

  /* The user's session (cookies, redirects): */
  uint32_t hop;    /* req's hop: 0 its own request, n after n redirects */
  int chained;     /* the user's chain holds req's redirects */
  int watching;    /* the step's fields are looked at (st->active) */
  int in_trailers; /* past the headers: trailers are not looked at */
  /* The field looked at: its name so far, lower case (longer than the
   * buffer: none of ours), whether it is one of ours, and its value. */
  char wname[HTTP1_WATCH_NAME];
  size_t wname_len;
  enum hdr_state wstate;
  int wkeep;
  rl__buf wvalue;
  rl__buf location; /* the response's Location, NUL-terminated */
  int has_location;
  rl__buf ck; /* a request's Cookie value */
};

/* The target of req's current hop: cookies match it, a Location resolves
 * against it. */
static const char *current_target(const struct http1_session *s) {
  const struct http1_step *st = s->step;
  if (s->hop > 0) {
    rl__http_chain *c = rl__http_chain_of(s->host, s->req);
    if (c != NULL && c->target.p != NULL)
      return c->target.p;
  } else if (st->path_tpl) {
    rl__http_user *u = rl__http_user_of(s->host, s->req, 0);
    if (u != NULL && u->target.p != NULL && !u->target.oom)
      return u->target.p;
  }
  return st->path;
}

/* The field looked at ends: a Set-Cookie goes into the jar, a Location is
 * kept for the end of the response. */
static void watch_end(struct http1_session *s) {
  if (!s->wkeep) { /* most fields: nothing was kept */
    s->wstate = HDR_NONE;
    s->wname_len = 0;
    return;
  }
  if (s->wstate != HDR_NONE && !s->wvalue.oom) {
    const char *v = s->wvalue.p != NULL ? s->wvalue.p : "";
    size_t n = s->wvalue.len;
    while (n > 0 && rl__http_is_ows(v[n - 1]))
      n--;
    if (s->wname[0] == 's') {
      rl__http_sess_set_cookie(s->host, s->req, &s->step->sess,
                               current_target(s), v, n);
    } else {
      rl__buf_reset(&s->location);
      rl__buf_add(&s->location, v, n);
      rl__buf_add(&s->location, "", 1);
      s->has_location = !s->location.oom;
    }
  }
  s->wstate = HDR_NONE;
  s->wname_len = 0;
  s->wkeep = 0;
  rl__buf_reset(&s->wvalue);
}

/* Are the fields of this response ours to look at: the final response's
 * headers (1xx ones and trailers are not), for a step that keeps cookies
 * or follows redirects? */
static int watched(const struct http1_session *s) {
  unsigned code = s->parser.status_code;
  return s->watching && !s->in_trailers && !(code >= 100 && code < 200);
}

static void watch_name(struct http1_session *s, const char *at, size_t len) {
  if (s->wstate != HDR_NAME) {
    watch_end(s);
    s->wstate = HDR_NAME;
  }
  /* Only names as long as "set-cookie" are kept, lower-cased with 0x20:
   * the two names watched are letters and '-', which no other token
   * character becomes (this runs for every field of every response). */
  size_t room = sizeof s->wname - 1;
  if (s->wname_len == 0 && len > 0 && (at[0] | 0x20) != 's' &&
      (at[0] | 0x20) != 'l') {
    s->wname_len = room + len; /* neither Set-Cookie nor Location */
    return;
  }
  for (size_t i = 0; i < len && s->wname_len < room; i++)
    s->wname[s->wname_len++] = (char)(at[i] | 0x20);
  if (s->wname_len == room)
    s->wname_len += len; /* too long to be one of them */
}

static void watch_value(struct http1_session *s, const char *at, size_t len) {
  if (s->wstate == HDR_NAME) {
    size_t n = s->wname_len;
    s->wname[n < sizeof s->wname ? n : sizeof s->wname - 1] = '\0';
    s->wkeep = (n == 10 && memcmp(s->wname, "set-cookie", 10) == 0) ||
               (n == 8 && memcmp(s->wname, "location", 8) == 0);
    s->wstate = HDR_VALUE;
  }
  if (!s->wkeep)
    return;
  if (s->wvalue.len + len > HTTP1_WATCH_VALUE)
    s->wvalue.oom = 1; /* too long to follow or keep: ignored */
  else
    rl__buf_add(&s->wvalue, at, len);
}

/* Ends the header field being collected, if any: its value loses its
 * trailing whitespace (not part of it, RFC 9110 5.5; the parser already
 * skips the leading one) and gets its NUL. */
static void end_field(struct http1_session *s) {
  rl__buf *hdr = &s->acc.hdr;
  if (s->hdr_state == HDR_NAME) {
    rl__buf_add(hdr, "\0", 2); /* a name alone: an empty value */
  } else if (s->hdr_state == HDR_VALUE) {
    while (!hdr->oom && hdr->len > s->value_start &&
           rl__http_is_ows(hdr->p[hdr->len - 1]))
      hdr->len--;
    rl__buf_add(hdr, "", 1);
  }
  s->hdr_state = HDR_NONE;
}

/* Hands the collected response to the host, just before request_done;
 * only when it asked (s->want). What does not fit in memory is left out
 * (the headers) or cut (the body). */
static void hand_over(struct http1_session *s, unsigned status) {
  end_field(s);
  rl__resp_acc_hand_over(s->host, s->req, &s->acc, (int)status);
  rl__resp_acc_clear(&s->acc);
}

/*
 * Reports the request in flight and forgets it. `error` NULL is success;
 * it is borrowed for the call only. req is cleared BEFORE request_done,
 * because after that call the host may have freed it.
 */
static void finish(struct http1_session *s, const char *error) {
  rl_request *req = s->req;
  const struct http1_step *st = s->step;
  rl_result r;

  if (s->chained)
    rl__http_chain_end(s->host, req);
  s->chained = 0;
  s->hop = 0;
  s->req = NULL;
  s->step = NULL;
  s->want = 0;
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
  s->in_trailers = 0;
  s->has_location = 0;
  s->wstate = HDR_NONE;
  s->wname_len = 0;
  s->wkeep = 0;
  rl__buf_reset(&s->wvalue);
  if (s->want) {
    /* Also after a 1xx: only the final response is handed over. */
    rl__resp_acc_clear(&s->acc);
    s->hdr_state = HDR_NONE;
  }
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
  if (watched(s))
    watch_end(s);
  /* What comes after the body are trailers (or the next 1xx's fields,
   * which on_message_begin looks at afresh). */
  s->in_trailers = 1;
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

/* The collecting callbacks, used only while s->want. A name or a value
 * may come in pieces (a read splits it); a value always follows its
 * name, even an empty one. Trailers come the same way after the body. */

static int on_header_field(http_parser *p, const char *at, size_t len) {
  struct http1_session *s = p->data;
  if (watched(s))
    watch_name(s, at, len);
  if (!s->want || !(s->acc.parts & RL_RESPONSE_HEADERS))
    return 0;
  if (s->hdr_state != HDR_NAME) {
    end_field(s);
    s->acc.n_hdr++;
    s->hdr_state = HDR_NAME;
  }
  rl__buf_add(&s->acc.hdr, at, len);
  return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len) {
  struct http1_session *s = p->data;
  if (watched(s))
    watch_value(s, at, len);
  if (!s->want || !(s->acc.parts & RL_RESPONSE_HEADERS))
    return 0;
  if (s->hdr_state == HDR_NAME) {
    rl__buf_add(&s->acc.hdr, "", 1);
    s->value_start = s->acc.hdr.len;
    s->hdr_state = HDR_VALUE;
  }
  rl__buf_add(&s->acc.hdr, at, len);
  return 0;
}

static int on_headers_complete_collect(http_parser *p) {
  struct http1_session *s = p->data;
  if (s->want)
    end_field(s);
  return on_headers_complete(p);
}

static int on_body_collect(http_parser *p, const char *at, size_t len) {
  struct http1_session *s = p->data;
  s->body_bytes += len;
  if (s->want)
    rl__resp_acc_data(&s->acc, (const uint8_t *)at, len);
  return 0;
}

/* ---- Redirects ----------------------------------------------------------- */

/* The request target of a request line "METHOD target HTTP/1.1". */
static void line_target(const char *req, size_t len, const char **t,
                        size_t *n) {
  const char *sp = memchr(req, ' ', len);
  const char *from = sp != NULL ? sp + 1 : req + len;
  const char *to = memchr(from, ' ', (size_t)(req + len - from));
  *t = from;
  *n = to != NULL ? (size_t)(to - from) : 0;
}

/* Starts the user's chain for req from the request its first hop sent
 * (the step's bytes, or the ones assembled for it): its header lines,
 * and its body. NULL when out of memory. */
static rl__http_chain *record_first_hop(struct http1_session *s,
                                        const struct http1_step *st,
                                        rl_request *req) {
  rl__http_chain *c = rl__http_chain_start(s->host, req, st->type);
  if (c == NULL)
    return NULL;
  int in_out = st->segs != NULL || s->out_merged;
  const char *src = in_out ? s->out.p : st->bytes;
  size_t len = in_out ? s->out.len : st->len;
  size_t end = head_end(src, len);
  const char *line = memchr(src, '\n', end);
  line = line != NULL ? line + 1 : src + end;
  while (line < src + end) {
    const char *eol = memchr(line, '\r', (size_t)(src + end - line));
    if (eol == NULL)
      break;
    const char *colon = memchr(line, ':', (size_t)(eol - line));
    if (colon != NULL) {
      const char *v = colon + 1;
      while (v < eol && rl__http_is_ows(*v))
        v++;
      rl__http_chain_field(c, line, (size_t)(colon - line), v,
                           (size_t)(eol - v));
    }
    line = eol + 2;
  }
  if (st->body_tpl != NULL && s->tmp.len > 0)
    rl__http_chain_body(c, s->tmp.p, s->tmp.len);
  else if (st->body_tpl == NULL && len > end + 2)
    rl__http_chain_body(c, src + end + 2, len - end - 2);
  return c->fields.oom || c->body.oom ? NULL : c;
}

/* Writes the chain's next hop on this connection: its request line, the
 * first hop's fields, the Cookie line of this hop and its length. */
static int write_hop(struct http1_session *s, const struct http1_step *st,
                     rl_request *req, const rl__http_chain *c) {
  rl__buf *b = &s->out;
  rl__buf_reset(b);
  rl__buf_str(b, c->method.p);
  rl__buf_str(b, " ");
  rl__buf_str(b, c->target.p);
  rl__buf_str(b, " HTTP/1.1\r\n");
  int has_te = 0;
  size_t off = 0;
  for (size_t i = 0; i < c->n_fields; i++) {
    const char *name, *value;
    rl__http_chain_next_field(c, &off, &name, &value);
    has_te |= rl__http_name_is(name, strlen(name), "transfer-encoding");
    rl__buf_str(b, name);
    rl__buf_str(b, ": ");
    rl__buf_str(b, value);
    rl__buf_str(b, "\r\n");
  }
  rl__buf_reset(&s->ck);
  int n = rl__http_sess_cookies(s->host, req, &st->sess, c->target.p, c->hops,
                                &s->ck);
  if (n < 0)
    return n;
  if (n > 0) {
    rl__buf_str(b, "Cookie: ");
    rl__buf_add(b, s->ck.p, s->ck.len);
    rl__buf_str(b, "\r\n");
  }
  if (!has_te && rl__http_wants_length(c->method.p, c->has_body)) {
    char cl[48];
    snprintf(cl, sizeof cl, "Content-Length: %zu\r\n", c->body.len);
    rl__buf_str(b, cl);
  }
  rl__buf_str(b, "\r\n");
  rl__buf_add(b, c->body.p, c->body.len);
  if (b->oom)
    return RL_ERR_NOMEM;
  return s->host->conn_write(s->conn, b->p, b->len);
}

/*
 * The final response of a hop was a redirect (a Location, a step that
 * follows): 1 when the request went on (its next hop written here, or
 * the request moved to a new connection because this one closes, or it
 * failed), 0 when this response is its outcome after all.
 */
static int follow(struct http1_session *s, int code, int keep_alive) {
  const struct http1_step *st = s->step;
  rl_request *req = s->req;
  char err[RL__HTTP_SHOW_BUF_LEN + 128];
  const char *method = st->type;
  if (s->hop == 0) {
    if (record_first_hop(s, st, req) == NULL) {
      finish(s, "out of memory following a redirect");
      return 1;
    }
    s->chained = 1;
  } else {
    const rl__http_chain *c = rl__http_chain_of(s->host, req);
    if (c == NULL) /* its user stopped meanwhile: nothing to follow */
      return 0;
    method = c->method.p;
  }
  rl__http_chain *c = NULL;
  int next = rl__http_sess_redirect(s->host, req, &st->sess, code, method,
                                    current_target(s), s->location.p,
                                    s->location.len - 1, &c, err, sizeof err);
  if (next == RL__HTTP_DONE)
    return 0;
  if (next == RL__HTTP_FAIL) {
    finish(s, err);
    return 1;
  }
  if (keep_alive && !s->closing) {
    int rc = write_hop(s, st, req, c);
    if (rc != 0) {
      snprintf(err, sizeof err, "cannot send the redirected request: %s",
               rl_strerror(rc));
      finish(s, err);
      return 1;
    }
    s->hop = c->hops;
    return 1;
  }
  /* The server closes the connection: the next hop goes on a new one. */
  c->moved = 1;
  s->req = NULL;
  s->step = NULL;
  s->want = 0;
  s->chained = 0;
  s->hop = 0;
  request_close(s);
  s->host->request_move(req, "the server closed the connection after a "
                             "redirect, and it could not be followed");
  return 1;
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
  if (s->watching && s->has_location && s->step->sess.follow &&
      rl__http_is_redirect((int)code) && follow(s, (int)code, keep_alive)) {
    if (!keep_alive && s->req == NULL && !s->closing)
      request_close(s);
    return 0;
  }
  if (s->want)
    hand_over(s, code);
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

/* The same, looking at the header fields: collecting the response for
 * the host (s->want), or Set-Cookie and Location for the user's session
 * (s->watching), or both. */
static const http_parser_settings http1_parser_settings_collect = {
    .on_message_begin = on_message_begin,
    .on_status = on_status,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete_collect,
    .on_body = on_body_collect,
    .on_message_complete = on_message_complete,
};

/* The same, collecting the status and the body but no header field: for
 * a host that reads no fields of this response (ABI 1.8 parts), the
 * parser makes no call per field. */
static const http_parser_settings http1_parser_settings_body = {
    .on_message_begin = on_message_begin,
    .on_status = on_status,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body_collect,
    .on_message_complete = on_message_complete,
};

/* Feeds bytes (NULL, 0: the end of the connection) to the parser, with
 * the callbacks the request in flight needs. */
static size_t parse(struct http1_session *s, const char *data, size_t len) {
  const http_parser_settings *cb = &http1_parser_settings;
  if (s->watching || (s->want && (s->acc.parts & RL_RESPONSE_HEADERS)))
    cb = &http1_parser_settings_collect;
  else if (s->want)
    cb = &http1_parser_settings_body;
  return http_parser_execute(&s->parser, cb, data, len);
}

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
  s->has_responses = RL_HOST_HAS_RESPONSES(host) &&
                     host->request_wants_response != NULL &&
                     host->request_response != NULL;
  http_parser_init(&s->parser, HTTP_RESPONSE);
  s->parser.data = s;
  *session = s;
  return 0;
}

/*
 * Assembles a templated request for req into s->out: the body first (its
 * length goes in the headers), copied before the next expansion reuses the
 * host's buffer. Returns 0, RL_ERR_NOMEM, or RL_ERR_INVAL when a header
 * value expanded to a control character (logged once per step).
 */
static int assemble(struct http1_session *s, struct http1_step *st,
                    rl_request *req) {
  const rl_host *h = s->host;
  size_t len = 0;
  const char *text;
  rl__buf_reset(&s->out);
  rl__buf_reset(&s->tmp);
  if (st->body_tpl != NULL) {
    text = h->template_expand(st->body_tpl, req, &len);
    if (text == NULL)
      return RL_ERR_NOMEM;
    rl__buf_add(&s->tmp, text, len);
  }
  for (size_t i = 0; i < st->n_segs; i++) {
    const struct seg *sg = &st->segs[i];
    char num[32];
    switch (sg->kind) {
    case SEG_TEXT:
      rl__buf_add(&s->out, st->bytes + sg->off, sg->len);
      break;
    case SEG_PATH:
    case SEG_VALUE:
      text = h->template_expand(sg->tpl, req, &len);
      if (text == NULL)
        return RL_ERR_NOMEM;
      if (sg->kind == SEG_PATH) {
        rl__http_add_path(&s->out, text, len);
        break;
      }
      if (rl__http_bad_value(text, len)) {
        if (atomic_exchange(&st->warned, 1) == 0)
          h->log(RL_LOG_WARN,
                 "http1: a header value of %s %s expanded to a control "
                 "character (CR, LF...): such requests are refused",
                 st->type, st->name);
        return RL_ERR_INVAL;
      }
      rl__buf_add(&s->out, text, len);
      break;
    case SEG_LENGTH:
      snprintf(num, sizeof num, "%zu", s->tmp.len);
      rl__buf_str(&s->out, num);
      break;
    case SEG_BODY:
    default:
      rl__buf_add(&s->out, s->tmp.p, s->tmp.len);
      break;
    }
  }
  return s->out.oom || s->tmp.oom ? RL_ERR_NOMEM : 0;
}

/*
 * The request's own header fields (ABI 1.7) merged into its bytes (len,
 * the header block ending at head): the request line, the step's fields
 * but those the request replaces, the request's, then the blank line and
 * the body; into s->out (swapped from s->hx, since data may be s->out).
 * 0, RL_ERR_INVAL (refused with the reason) or RL_ERR_NOMEM.
 */
static int merge_extra(struct http1_session *s, rl_request *req, const rl_kv *h,
                       size_t n, const char **data, size_t *len, size_t *head) {
  char why[192];
  if (rl__http_check_extra(h, n, why, sizeof why) != 0) {
    s->host->request_refuse(req, why);
    return RL_ERR_INVAL;
  }
  const char *src = *data, *end = src + *head;
  rl__buf *b = &s->hx;
  rl__buf_reset(b);
  const char *line = memchr(src, '\n', *head);
  line = line != NULL ? line + 1 : end;
  rl__buf_add(b, src, (size_t)(line - src));
  while (line < end) {
    const char *eol = memchr(line, '\n', (size_t)(end - line));
    eol = eol != NULL ? eol + 1 : end;
    const char *colon = memchr(line, ':', (size_t)(eol - line));
    if (colon == NULL ||
        !rl__http_extra_has(h, n, line, (size_t)(colon - line)))
      rl__buf_add(b, line, (size_t)(eol - line));
    line = eol;
  }
  for (size_t i = 0; i < n; i++) {
    rl__buf_str(b, h[i].key);
    rl__buf_str(b, ": ");
    rl__buf_str(b, h[i].value);
    rl__buf_str(b, "\r\n");
  }
  size_t new_head = b->len;
  rl__buf_add(b, end, *len - *head);
  if (b->oom)
    return RL_ERR_NOMEM;
  rl__buf tmp = s->out;
  s->out = s->hx;
  s->hx = tmp;
  s->out_merged = 1;
  *data = s->out.p;
  *len = s->out.len;
  *head = new_head;
  return 0;
}

/*
 * Writes req's own request (its first hop): the step's bytes, or the ones
 * assembled for it, with a Cookie line before the blank line when the
 * step's or the user's cookies go. A templated target is kept in the
 * user's state for the response (cookies' default path, a Location).
 */
static int send_first(struct http1_session *s, struct http1_step *st,
                      rl_request *req) {
  const char *data = st->bytes;
  size_t len = st->len, head = st->head_len;
  int rc;
  s->out_merged = 0;
  if (st->segs != NULL) {
    if ((rc = assemble(s, st, req)) != 0)
      return rc;
    data = s->out.p;
    len = s->out.len;
    head = head_end(data, len);
  }
  size_t n_extra;
  const rl_kv *extra = rl__http_extra(s->host, req, &n_extra);
  if (n_extra > 0 &&
      (rc = merge_extra(s, req, extra, n_extra, &data, &len, &head)) != 0)
    return rc;
  const char *target = st->path;
  if (st->path_tpl && st->active) {
    size_t n;
    rl__http_user *u = rl__http_user_of(s->host, req, 1);
    line_target(data, len, &target, &n);
    if (u != NULL) {
      rl__buf_reset(&u->target);
      rl__buf_add(&u->target, target, n);
      rl__buf_add(&u->target, "", 1);
    }
    target = u != NULL && !u->target.oom ? u->target.p : st->path;
  }
  int n = 0;
  if (st->active || st->sess.n_cookies > 0) {
    rl__buf_reset(&s->ck);
    if ((n = rl__http_sess_cookies(s->host, req, &st->sess, target, 0,
                                   &s->ck)) < 0)
      return n;
  }
  if (n == 0)
    return s->host->conn_write(s->conn, data, len);
  /* The host copies each write and sends them together. */
  if ((rc = s->host->conn_write(s->conn, data, head)) == 0 &&
      (rc = s->host->conn_write(s->conn, "Cookie: ", 8)) == 0 &&
      (rc = s->host->conn_write(s->conn, s->ck.p, s->ck.len)) == 0 &&
      (rc = s->host->conn_write(s->conn, "\r\n", 2)) == 0)
    rc = s->host->conn_write(s->conn, data + head, len - head);
  return rc;
}

/*
 * Sends req's pre-built bytes (or, for a templated step, the bytes
 * assembled for it). On 0 the session holds req (owned by the host) until
 * it calls request_done() once, from session_on_read() or session_del().
 * On error nothing is kept and nothing will be reported.
 */
static int http1_session_submit(void *session, rl_request *req) {
  struct http1_session *s = session;
  if (s->req != NULL)
    return RL_ERR_BUSY;
  if (s->closing)
    return RL_ERR_CLOSED;
  struct http1_step *st = s->host->request_step(req);
  if (st == NULL)
    return RL_ERR_INVAL;
  /* A request that moved here after a redirect goes on with its next
   * hop; any other starts afresh. */
  rl__http_chain *c = st->active ? rl__http_chain_of(s->host, req) : NULL;
  int rc;
  if (c != NULL && c->moved) {
    c->moved = 0;
    rc = write_hop(s, st, req, c);
  } else {
    if (c != NULL)
      rl__http_chain_end(s->host, req);
    c = NULL;
    rc = send_first(s, st, req);
  }
  if (rc != 0)
    return rc;
  s->req = req;
  s->step = st;
  s->hop = c != NULL ? c->hops : 0;
  s->chained = c != NULL;
  s->watching = st->active;
  /* Asked once per request; the parser's callbacks follow the answer:
   * the parts the host reads (ABI 1.8), header fields only when asked. */
  s->acc.parts = s->has_responses ? rl__resp_parts(s->host, req) : 0;
  s->want = s->acc.parts != 0;
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

  size_t n = parse(s, (const char *)data, len);
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
    parse(s, NULL, 0);
  if (s->req != NULL)
    finish(s, reason != NULL && reason[0] != '\0' ? reason : rl_strerror(err));
  rl__resp_acc_free(&s->acc);
  free(s->out.p);
  free(s->hx.p);
  free(s->tmp.p);
  free(s->wvalue.p);
  free(s->location.p);
  free(s->ck.p);
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

/* A scenario's http: steps (ABI 1.3): "[METHOD ]path-or-URL". */
static const char *const http1_step_keys[] = {"http", "https", NULL};

/* Their own keys: Locust's per-request cookies= and allow_redirects=. */
static const rl_option_decl http1_step_options[] = {
    {"cookies", RL_OPTION_MAP,
     "cookies this request sends besides the user's (name: value)"},
    {"allow_redirects", RL_OPTION_TEXT,
     "true or false: follow redirects (default true, false for HEAD)"},
    {NULL, 0, NULL},
};

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
    .step_keys = http1_step_keys,
    .step_value = RL_STEP_VALUE_REQUEST,
    .step_options = http1_step_options,
};

/* The one exported symbol. The descriptor is static and never freed. */
RL_EXPORT const rl_plugin *rl_plugin_entry(void);

RL_EXPORT const rl_plugin *rl_plugin_entry(void) { return &http1_plugin; }

#include "http_redirect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rpcload/plugin.h>

#include "http_text.h"

int rl__http_is_redirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 ||
         status == 308;
}

const char *rl__http_redirect_method(int status, const char *method) {
  /* RFC 9110 15.4.4, and what browsers do with 302 despite the
   * standard; 301 turns POST only (requests' issue 1704). */
  if ((status == 303 || status == 302) && strcmp(method, "HEAD") != 0)
    return "GET";
  if (status == 301 && strcmp(method, "POST") == 0)
    return "GET";
  return method;
}

int rl__http_redirect_keeps_body(int status) {
  return status == 307 || status == 308;
}

static int is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Case-insensitive: n bytes of a against the C string b. */
static int same_text(const char *a, size_t n, const char *b) {
  return strlen(b) == n && rl__http_name_is(a, n, b);
}

static uint16_t default_port(const char *scheme, size_t n) {
  return same_text(scheme, n, "https") ? 443 : 80;
}

/* An authority "host[:port]" ("[v6]:port"), userinfo dropped: host
 * without brackets and the port (the scheme's when absent). -1 when it
 * is not one. */
static int split_authority(const char *a, size_t n, const char *scheme,
                           size_t scheme_len, const char **host,
                           size_t *host_len, uint16_t *port) {
  const char *at = NULL;
  for (size_t i = 0; i < n; i++)
    if (a[i] == '@')
      at = a + i;
  if (at != NULL) {
    n -= (size_t)(at + 1 - a);
    a = at + 1;
  }
  const char *colon = NULL;
  if (n > 0 && a[0] == '[') {
    const char *close = memchr(a, ']', n);
    if (close == NULL)
      return -1;
    *host = a + 1;
    *host_len = (size_t)(close - a - 1);
    if (close + 1 < a + n) {
      if (close[1] != ':')
        return -1;
      colon = close + 1;
    }
  } else {
    colon = memchr(a, ':', n);
    *host = a;
    *host_len = colon != NULL ? (size_t)(colon - a) : n;
  }
  if (*host_len == 0)
    return -1;
  *port = default_port(scheme, scheme_len);
  if (colon != NULL && colon + 1 < a + n) {
    unsigned long p = 0;
    for (const char *c = colon + 1; c < a + n; c++) {
      if (!is_digit(*c) || (p = p * 10 + (unsigned long)(*c - '0')) > 65535)
        return -1;
    }
    if (p == 0)
      return -1;
    *port = (uint16_t)p;
  }
  return 0;
}

/* Case-insensitive (ASCII): a (an bytes) and b (bn bytes). */
static int same_counted(const char *a, size_t an, const char *b, size_t bn) {
  if (an != bn)
    return 0;
  for (size_t i = 0; i < an; i++)
    if (rl__http_ascii_lower((unsigned char)a[i]) !=
        rl__http_ascii_lower((unsigned char)b[i]))
      return 0;
  return 1;
}

/* Is host:port (of the Location) the request's origin: its URL's, or the
 * authority it sent? */
static int same_origin(const rl__http_base *b, const char *host,
                       size_t host_len, uint16_t port) {
  if (port == b->port && same_text(host, host_len, b->host))
    return 1;
  if (b->authority == NULL)
    return 0;
  const char *h;
  size_t hl;
  uint16_t p;
  if (split_authority(b->authority, strlen(b->authority), b->scheme,
                      strlen(b->scheme), &h, &hl, &p) != 0)
    return 0;
  return p == port && same_counted(h, hl, host, host_len);
}

/*
 * RFC 3986 5.2.4 on n bytes of a path (no query), appended to out. The
 * input is copied first: segments are moved from it to the output one at
 * a time.
 */
static void remove_dots(const char *path, size_t n, rl__buf *out) {
  size_t start = out->len;
  size_t i = 0;
  while (i < n) {
    const char *in = path + i;
    size_t left = n - i;
    if (left >= 3 && memcmp(in, "../", 3) == 0) {
      i += 3;
    } else if ((left >= 2 && memcmp(in, "./", 2) == 0) ||
               (left >= 3 && memcmp(in, "/./", 3) == 0)) {
      i += 2; /* "./" goes; "/./" becomes "/" */
    } else if (left == 2 && memcmp(in, "/.", 2) == 0) {
      rl__buf_str(out, "/");
      i += 2;
    } else if ((left >= 4 && memcmp(in, "/../", 4) == 0) ||
               (left == 3 && memcmp(in, "/..", 3) == 0)) {
      /* Up one: the output loses its last segment. */
      while (out->len > start && out->p[out->len - 1] != '/')
        out->len--;
      if (out->len > start)
        out->len--;
      if (left == 3) /* "/.." ends the path: it becomes "/" */
        rl__buf_str(out, "/");
      i += 3;
    } else if ((left == 1 && in[0] == '.') ||
               (left == 2 && memcmp(in, "..", 2) == 0)) {
      i += left;
    } else {
      size_t k = in[0] == '/' ? 1 : 0;
      while (k < left && in[k] != '/')
        k++;
      rl__buf_add(out, in, k);
      i += k;
    }
  }
  if (out->len == start)
    rl__buf_str(out, "/");
}

/* Appends the next request's target: `path` (n bytes; its dot segments
 * removed) and `query` (q bytes, with its '?'), percent-encoded where a
 * request target needs it. */
static int add_target(const char *path, size_t n, const char *query, size_t q,
                      rl__buf *out) {
  rl__buf tmp = {0};
  remove_dots(path, n, &tmp);
  rl__buf_add(&tmp, query, q);
  if (tmp.oom) {
    rl__buf_free(&tmp);
    return RL_ERR_NOMEM;
  }
  rl__http_add_path(out, tmp.p, tmp.len);
  rl__buf_free(&tmp);
  return out->oom ? RL_ERR_NOMEM : RL__LOCATION_SAME;
}

static int bad(rl__buf *out, const char *why) {
  rl__buf_str(out, why);
  return out->oom ? RL_ERR_NOMEM : RL__LOCATION_BAD;
}

int rl__http_resolve_location(const char *loc, size_t len,
                              const rl__http_base *base, rl__buf *out) {
  while (len > 0 && rl__http_is_ows(*loc)) {
    loc++;
    len--;
  }
  while (len > 0 && rl__http_is_ows(loc[len - 1]))
    len--;
  if (len == 0)
    return RL__LOCATION_NONE;
  if (len > RL__HTTP_MAX_LOCATION)
    return bad(out, "a Location longer than 8192 bytes");
  const char *hash = memchr(loc, '#', len);
  if (hash != NULL)
    len = (size_t)(hash - loc);
  if (rl__http_has_crlf(loc, len))
    return bad(out, "a Location with CR or LF");

  /* A scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" */
  const char *scheme = base->scheme;
  size_t scheme_len = strlen(base->scheme), i = 0;
  if (len > 0 && is_alpha(loc[0])) {
    i = 1;
    while (i < len && (is_alpha(loc[i]) || is_digit(loc[i]) || loc[i] == '+' ||
                       loc[i] == '-' || loc[i] == '.'))
      i++;
    if (i < len && loc[i] == ':') {
      if (!same_text(loc, i, "http") && !same_text(loc, i, "https"))
        return bad(out, "a Location that is not an http or https URL");
      scheme = loc;
      scheme_len = i;
      loc += i + 1;
      len -= i + 1;
      if (len < 2 || loc[0] != '/' || loc[1] != '/')
        return bad(out, "a Location URL without a host");
    }
  }

  const char *query = memchr(loc, '?', len);
  size_t path_end = query != NULL ? (size_t)(query - loc) : len;
  size_t q = len - path_end;

  if (len >= 2 && loc[0] == '/' && loc[1] == '/') {
    /* An authority: the origin may change. */
    size_t a = 2;
    while (a < path_end && loc[a] != '/')
      a++;
    const char *host;
    size_t host_len;
    uint16_t port;
    if (split_authority(loc + 2, a - 2, scheme, scheme_len, &host, &host_len,
                        &port) != 0)
      return bad(out, "a Location with a bad host or port");
    int same_scheme = same_text(scheme, scheme_len, base->scheme);
    if (!same_scheme || !same_origin(base, host, host_len, port)) {
      char shown[RL__HTTP_SHOW_BUF_LEN];
      int v6 = memchr(host, ':', host_len) != NULL;
      for (size_t k = 0; k < scheme_len; k++) {
        char c = (char)rl__http_ascii_lower((unsigned char)scheme[k]);
        rl__buf_add(out, &c, 1);
      }
      rl__buf_str(out, v6 ? "://[" : "://");
      rl__buf_str(out, rl__http_show(host, host_len, shown));
      rl__buf_str(out, v6 ? "]" : "");
      if (port != default_port(scheme, scheme_len)) {
        char p[8];
        snprintf(p, sizeof p, ":%u", (unsigned)port);
        rl__buf_str(out, p);
      }
      return out->oom ? RL_ERR_NOMEM : RL__LOCATION_OTHER;
    }
    if (a == path_end)
      return add_target("/", 1, loc + path_end, q, out);
    return add_target(loc + a, path_end - a, loc + path_end, q, out);
  }

  /* A reference on the request's own target. */
  const char *bp =
      base->path != NULL && base->path[0] == '/' ? base->path : "/";
  size_t bn = strcspn(bp, "?#");
  if (path_end > 0 && loc[0] == '/')
    return add_target(loc, path_end, loc + path_end, q, out);
  if (path_end == 0 && q == 0) /* "#f" alone: the same target */
    return add_target(bp, bn, bp + bn, strcspn(bp + bn, "#"), out);
  if (path_end == 0) /* "?q": the same path, another query */
    return add_target(bp, bn, loc + path_end, q, out);
  /* Merged onto the request path's directory (5.2.3). */
  size_t dir = bn;
  while (dir > 0 && bp[dir - 1] != '/')
    dir--;
  rl__buf merged = {0};
  rl__buf_add(&merged, bp, dir);
  rl__buf_add(&merged, loc, path_end);
  if (merged.oom) {
    rl__buf_free(&merged);
    return RL_ERR_NOMEM;
  }
  int rc = add_target(merged.p, merged.len, loc + path_end, q, out);
  rl__buf_free(&merged);
  return rc;
}

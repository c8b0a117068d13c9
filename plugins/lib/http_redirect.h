/*
 * http_redirect: what following an HTTP redirect means, as Locust's
 * HttpUser does it (python-requests' Session.resolve_redirects): which
 * responses are redirects, which method and body the next request has,
 * and where the Location header points, resolved against the request it
 * answers (RFC 3986 5.2, dot segments removed, the fragment dropped,
 * percent-encoded where a request target needs it).
 *
 * A redirect is followed on the user's connection to the same origin
 * (scheme, host, port) only: the core opens a user's connections at
 * start-up, for the endpoints its steps name, and resolves no name during
 * the run. A Location of another origin is reported as such, for the
 * plugin to fail the request with it.
 *
 * Part of plugins/lib (hidden in each plugin). No state.
 */
#ifndef RL_HTTP_REDIRECT_H
#define RL_HTTP_REDIRECT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* python-requests' DEFAULT_REDIRECT_LIMIT: 30 redirects followed, the
 * 31st fails ("Exceeded 30 redirects."). */
#define RL__HTTP_MAX_REDIRECTS 30
/* A Location longer than this is not followed (it would not fit a
 * request line most servers accept). */
#define RL__HTTP_MAX_LOCATION 8192

/* 301, 302, 303, 307, 308 (requests' REDIRECT_STATI): with a Location,
 * a redirect. */
int rl__http_is_redirect(int status);

/* The method of the request that follows `status` to `method`
 * (requests' rebuild_method): 303 and 302 make anything but HEAD a GET,
 * 301 makes POST a GET; 307 and 308 keep it. Returns `method` or "GET"
 * (static strings or the caller's). */
const char *rl__http_redirect_method(int status, const char *method);

/* Whether the body (and its Content-Length, Content-Type and
 * Transfer-Encoding) goes along: 307 and 308 only. */
int rl__http_redirect_keeps_body(int status);

/* The request a Location answers. Strings are borrowed. */
typedef struct rl__http_base {
  const char *scheme; /* "http" or "https" */
  const char *host;   /* the URL's host, no brackets */
  uint16_t port;
  const char *authority; /* the Host header (:authority) sent, or NULL */
  const char *path;      /* the request target: path and query */
} rl__http_base;

enum rl__http_location {
  RL__LOCATION_SAME = 0,  /* same origin: `out` holds the new target */
  RL__LOCATION_OTHER = 1, /* another origin: `out` holds it (scheme://h:p) */
  RL__LOCATION_BAD = 2,   /* not a URL to follow: `out` holds why */
  RL__LOCATION_NONE = 3,  /* empty: no redirect (requests stops there) */
};

/*
 * Resolves `len` bytes of a Location field value (borrowed) against the
 * request it answers. Appends to `out` the path and query of the next
 * request (SAME), the other origin as "scheme://host[:port]" (OTHER), or
 * the reason (BAD). Returns an enum rl__http_location, or RL_ERR_NOMEM.
 * The origin is the same when the scheme is and the host and port are
 * the URL's, or the authority the request sent in Host (a test reaching
 * a virtual host by address follows the redirects that name it).
 */
int rl__http_resolve_location(const char *loc, size_t len,
                              const rl__http_base *base, rl__buf *out);

#endif /* RL_HTTP_REDIRECT_H */

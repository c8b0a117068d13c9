/*
 * cookie: one simulated user's cookie jar, RFC 6265 as a load test needs
 * it (Locust's HttpUser keeps one per user in its requests.Session): the
 * Set-Cookie syntax (5.2) with Expires dates (5.1.1) and Max-Age, domain
 * and path matching (5.1.3, 5.1.4), the storage model (5.3: a cookie
 * replaces the one of the same name, domain and path; an expired one is
 * removed) and the Cookie header (5.4: longer paths first, then older).
 *
 * Left out on purpose: the public suffix list (a Domain of "com" is
 * accepted; only this user's own requests can see it), SameSite and
 * HttpOnly (no browsing context, no scripts: requests ignores them too).
 * Secure cookies are stored whatever the scheme and sent only over TLS,
 * as RFC 6265 and python-requests do.
 *
 * Memory is bounded per jar, since a load test holds one per user: at most
 * RL__COOKIE_MAX cookies and RL__COOKIE_JAR_MAX_BYTES of names, values,
 * domains and paths; a new cookie that does not fit evicts the expired,
 * then the oldest (`evicted` counts them, so the owner can say so).
 * Cookies bigger than RL__COOKIE_MAX_SIZE (name and value) are ignored.
 *
 * Times are Unix seconds, given by the caller (the plugins pass the wall
 * clock; tests pass what they like). Part of plugins/lib (hidden in each
 * plugin); one thread owns a jar.
 */
#ifndef RL_COOKIE_H
#define RL_COOKIE_H

#include <stddef.h>
#include <stdint.h>

#include <rpcload/plugin.h>

#include "buf.h"

/* Cookies one jar holds (RFC 6265 6.1 asks at least 50 per domain). */
#define RL__COOKIE_MAX 50
/* Bytes of one cookie's name and value; a bigger one is ignored (RFC
 * 6265 6.1's least, RFC 6265bis's most). */
#define RL__COOKIE_MAX_SIZE 4096
/* An attribute value longer than this is ignored (RFC 6265bis 5.6). */
#define RL__COOKIE_MAX_ATTR 1024
/* Bytes of names, values, domains and paths one jar holds: also the
 * bound of the Cookie header it makes (servers refuse much longer lines:
 * nginx's default is 8 KiB a line). */
#define RL__COOKIE_JAR_MAX_BYTES 16384

/* Expiry of a cookie without Expires or Max-Age (a session cookie). */
#define RL__COOKIE_SESSION INT64_MAX

/* Where a request goes, as cookies see it. */
typedef struct rl__cookie_url {
  const char *host; /* the URL's host: a name or an address, no brackets,
                       no port (any case) */
  const char *path; /* path, with or without a query ("/" when empty) */
  int secure;       /* over TLS (https) */
} rl__cookie_url;

typedef struct rl__cookie {
  char *name; /* one allocation: name\0value\0domain\0path\0 */
  char *value;
  char *domain; /* lower case */
  char *path;
  size_t size;     /* bytes of that allocation */
  int64_t expires; /* Unix seconds; RL__COOKIE_SESSION: none */
  uint64_t created;
  uint8_t host_only; /* no Domain attribute: this host only */
  uint8_t secure;
} rl__cookie;

typedef struct rl__cookie_jar {
  rl__cookie *c; /* n of them, cap allocated; in no particular order */
  size_t n, cap;
  size_t bytes;          /* sum of their sizes */
  uint64_t next_created; /* creation order (RFC 6265 5.4, ties by age) */
  uint64_t evicted;      /* cookies dropped to stay within the limits */
} rl__cookie_jar;

/* What rl__cookie_jar_set did with a Set-Cookie. */
enum rl__cookie_outcome {
  RL__COOKIE_STORED = 0,  /* a new cookie, or one replaced */
  RL__COOKIE_REMOVED = 1, /* it had expired: the same cookie was removed */
  RL__COOKIE_IGNORED = 2, /* not a cookie this request may set (why says) */
};

/* An empty jar (also: a zeroed one is empty). */
void rl__cookie_jar_init(rl__cookie_jar *j);

/* Frees what the jar holds; it is then empty. */
void rl__cookie_jar_free(rl__cookie_jar *j);

/*
 * One Set-Cookie field value (`len` bytes of `text`, borrowed) received
 * for a request to `u` at `now`. Returns an enum rl__cookie_outcome, with
 * *why (if not NULL) a static text for IGNORED, or RL_ERR_NOMEM (the jar
 * is unchanged).
 */
int rl__cookie_jar_set(rl__cookie_jar *j, const char *text, size_t len,
                       const rl__cookie_url *u, int64_t now, const char **why);

/*
 * Appends to `out` the Cookie header value for a request to `u` at `now`
 * ("a=1; b=2"): first the `n_extra` cookies of `extra` (a step's own, sent
 * as given: they replace the jar's of the same name for this request),
 * then the jar's that match, longer paths first, then older ones. `j` may
 * be NULL (no jar). Expired cookies are removed on the way. Returns how
 * many cookies were written (0: nothing appended).
 */
size_t rl__cookie_header(rl__cookie_jar *j, const rl__cookie_url *u,
                         int64_t now, const rl_kv *extra, size_t n_extra,
                         rl__buf *out);

/* The cookie named `name` a request to `u` would send at `now`, or NULL
 * (borrowed: valid until the jar changes). */
const rl__cookie *rl__cookie_jar_find(const rl__cookie_jar *j, const char *name,
                                      const rl__cookie_url *u, int64_t now);

/* RFC 6265 5.1.1: a cookie-date ("Wed, 21 Oct 2015 07:28:00 GMT" and the
 * older forms) as Unix seconds in *out. 0, or -1 when it is not one. */
int rl__cookie_parse_date(const char *s, size_t n, int64_t *out);

/* RFC 6265 5.1.3: does `host` domain-match `domain` (both any case)? */
int rl__cookie_domain_match(const char *host, const char *domain);

/* RFC 6265 5.1.4: does the request path (a query ignored) path-match
 * `cookie_path`? */
int rl__cookie_path_match(const char *path, const char *cookie_path);

#endif /* RL_COOKIE_H */

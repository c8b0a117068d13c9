/* Splitting a target URL: scheme://host[:port][/path?query]. */
#ifndef RL_URL_H
#define RL_URL_H

#include <stddef.h>
#include <stdint.h>

typedef struct rl__url {
  char *scheme;  /* lower-cased; NULL when the target has no "scheme://" */
  char *host;    /* without IPv6 brackets */
  uint16_t port; /* 0 when absent */
  char *path;    /* path and query; "/" when absent */
} rl__url;

/*
 * Parses `text` into `out` (fields heap-allocated, freed by rl__url_free).
 * Accepts "host:port" without a scheme (for protocols addressed that way).
 * Returns 0, or RL_ERR_INVAL with a reason in err; on error `out` holds
 * nothing to free.
 */
int rl__url_parse(const char *text, rl__url *out, char *err, size_t errlen);

void rl__url_free(rl__url *u);

/*
 * The target a host given for a run means (Locust's host, typed in the
 * web UI's form): `host` itself when it has a path or query, or no
 * "scheme://" ("host:port"); otherwise, an origin, it takes the path and
 * query of `current` (the run's target): "http://b:2" for
 * "http://a:1/x?y" is "http://b:2/x?y". An origin's trailing slashes go.
 * Returns a new string (the caller frees it), NULL when out of memory.
 */
char *rl__url_rebase(const char *current, const char *host);

#endif /* RL_URL_H */

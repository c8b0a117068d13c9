/*
 * http_session: what Locust's HttpUser keeps per simulated user in its
 * requests.Session, for the http1 and http2 plugins: a cookie jar
 * (lib/cookie) and the redirect a request is following (lib/http_redirect),
 * and the step options that steer them.
 *
 * The state lives in the user's slot (ABI 1.5 request_user_slot, key
 * RL__HTTP_USER_KEY), shared by both plugins and freed by the host when
 * the user stops; a host without the slot service gets neither cookies
 * nor redirects (the step says so once). Nothing here keeps a user's
 * address across callbacks: each call fetches it for its request.
 *
 * Step options (spec->options, the scenario's own keys and -O):
 *   cookies=on|off            the user's jar for this step (default on);
 *   cookies={"name":"value"}  cookies this step sends besides (a scenario's
 *                             `cookies:` mapping; values may be templates);
 *   allow_redirects=true|false  follow redirects (default true, but false
 *                             for HEAD, as requests' Session.head);
 *   max_redirects=N           at most N redirects (default 30).
 *
 * Part of plugins/lib (hidden in each plugin). One thread owns a user's
 * state; a step is read-only once made.
 */
#ifndef RL_HTTP_SESSION_H
#define RL_HTTP_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include <rpcload/plugin.h>

#include "buf.h"
#include "cookie.h"
#include "http_redirect.h"

/* The user slot both HTTP plugins share; the version names the layout of
 * rl__http_user, so plugins of another build never share a mismatched
 * one. */
#define RL__HTTP_USER_KEY "rpcload.http.v1"

/* Highest max_redirects taken. */
#define RL__HTTP_MAX_REDIRECTS_LIMIT 1000

/* What a step asks of the user's session. */
typedef struct rl__http_sess_step {
  int jar;                /* keep and send the user's cookies */
  int follow;             /* follow redirects */
  uint32_t max_redirects; /* followed at most; one more fails */
  /* The step's own headers give Cookie: the request sends that one, not
   * the jar's (requests: an explicit Cookie header wins); redirects drop
   * it and send the jar's. */
  int user_cookie;
  int usable; /* the host offers user slots (ABI 1.5) */
  /* The origin, for cookies and Locations. */
  char *host; /* the URL's host, lower case, no brackets */
  char *scheme;
  uint16_t port;
  int tls;
  char *authority; /* Host / :authority the step sends; NULL: templated */
  /* The step's own cookies (`cookies:` mapping): names, and values as
   * text or, with {{...}}, templates. */
  size_t n_cookies;
  char **cookie_names;
  char **cookie_values;
  rl_template **cookie_tpls; /* NULL entries: constant */
} rl__http_sess_step;

/*
 * Reads the session options of spec (and refuses any other, naming
 * `plugin` and what it takes), with `method` the step's and `authority`
 * the Host it sends (NULL: templated). 0, or an RL_ERR_* code with err
 * set and nothing kept. Borrows everything; the caller frees *s with
 * rl__http_sess_step_free.
 */
int rl__http_sess_step_init(rl__http_sess_step *s, const rl_host *host,
                            const rl_step_spec *spec, const char *method,
                            const char *authority, const char *plugin,
                            char *err, size_t errlen);

void rl__http_sess_step_free(const rl_host *host, rl__http_sess_step *s);

/* Does the step need the user's state at all (cookies or redirects)? */
int rl__http_sess_active(const rl__http_sess_step *s);

/* The redirect a user's request is following. */
typedef struct rl__http_chain {
  /* The request it belongs to (NULL: none), by address and number: a user
   * reuses its request object. */
  const rl_request *req;
  uint64_t seq;
  uint32_t hops;  /* redirects followed so far */
  int moved;      /* waiting for a new connection (request_move) */
  rl__buf method; /* the next hop's, NUL-terminated */
  rl__buf target; /* its path and query, NUL-terminated */
  /* The header fields it sends, "name\0value\0" each, n_fields of them:
   * what the first hop sent but Cookie and Content-Length, which each hop
   * makes afresh. */
  rl__buf fields;
  size_t n_fields;
  rl__buf body;
  int has_body;
} rl__http_chain;

/* What one simulated user keeps (in its RL__HTTP_USER_KEY slot). */
typedef struct rl__http_user {
  rl__cookie_jar jar;
  rl__http_chain chain;
  /* The request target its request in flight was sent with, when the
   * step's path is templated (cookies' default path, a Location's base). */
  rl__buf target;
  /* The Location of its request's last response (HTTP/2, where the
   * stream has no room for it), NUL-terminated. */
  rl__buf location;
} rl__http_user;

/* req's user's state; made when `make` and missing. NULL: the host has no
 * slots, out of memory, or (not make) none yet. */
rl__http_user *rl__http_user_of(const rl_host *host, rl_request *req, int make);

/* The chain req follows (0 hops: the first request), or NULL. */
rl__http_chain *rl__http_chain_of(const rl_host *host, rl_request *req);

/*
 * Appends the Cookie header value for req to `out` (nothing when no cookie
 * goes): the step's own cookies (expanded for req) and, with the jar on,
 * the user's that match `target` (path and query). `hop` 0 is the step's
 * own request, where a user's Cookie header wins over both. Returns the
 * count of cookies, or RL_ERR_NOMEM, or RL_ERR_INVAL when a templated
 * value expanded to something a cookie cannot hold (';' or a control
 * character: logged once).
 */
int rl__http_sess_cookies(const rl_host *host, rl_request *req,
                          const rl__http_sess_step *s, const char *target,
                          uint32_t hop, rl__buf *out);

/* A Set-Cookie field value (borrowed) that came for req's request to
 * `target`: into the user's jar, when the step keeps one. */
void rl__http_sess_set_cookie(const rl_host *host, rl_request *req,
                              const rl__http_sess_step *s, const char *target,
                              const char *text, size_t len);

/* What rl__http_sess_redirect decided. */
enum rl__http_next {
  RL__HTTP_DONE = 0,   /* this response is the request's outcome */
  RL__HTTP_FOLLOW = 1, /* the chain holds the next hop: send it */
  RL__HTTP_FAIL = 2,   /* the request fails with `err` */
};

/*
 * A response of `status` with Location `loc` (loc_len bytes, NULL: none)
 * to req's current hop (`method`, `target`): whether and where to go on.
 * On FOLLOW the user's chain (*chain) describes the next hop; when hops
 * were 0, the caller must have started it (rl__http_chain_start and its
 * fields) before this call. On FAIL, err holds why. A chain that ends
 * (DONE, FAIL) is the caller's to clear with rl__http_chain_end.
 */
int rl__http_sess_redirect(const rl_host *host, rl_request *req,
                           const rl__http_sess_step *s, int status,
                           const char *method, const char *target,
                           const char *loc, size_t loc_len,
                           rl__http_chain **chain, char *err, size_t errlen);

/* Starts req's chain from its first hop, sent with `method`: the caller
 * adds the fields and body it sent. Returns the chain, or NULL. */
rl__http_chain *rl__http_chain_start(const rl_host *host, rl_request *req,
                                     const char *method);

/* One header field the first hop sent (a Cookie or Content-Length is
 * skipped: each hop makes its own). */
void rl__http_chain_field(rl__http_chain *c, const char *name, size_t name_len,
                          const char *value, size_t value_len);

/* The first hop's body (borrowed; copied). */
void rl__http_chain_body(rl__http_chain *c, const void *data, size_t len);

/* The chain of req is over (its request ends): forgotten, memory kept. */
void rl__http_chain_end(const rl_host *host, rl_request *req);

/* The i-th field of the chain: name and value, NUL-terminated. Walk with
 * *off starting at 0. */
void rl__http_chain_next_field(const rl__http_chain *c, size_t *off,
                               const char **name, const char **value);

#endif /* RL_HTTP_SESSION_H */

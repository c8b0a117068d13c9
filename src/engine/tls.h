/*
 * TLS for core-owned connections (OpenSSL): one client context per target,
 * shared by the worker threads (SSL_CTX is safe to share once configured).
 * Verification is on unless the user says --insecure; SNI and the host name
 * check use the target's host, or --cname's name; ALPN offers the plugin's
 * protocols.
 */
#ifndef RL_TLS_H
#define RL_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

typedef struct rl__tls_options {
  int insecure;       /* skip certificate verification */
  const char *cacert; /* PEM bundle of trusted CAs, or NULL for system CAs */
  const char *cert;   /* client certificate (PEM), or NULL */
  const char *key;    /* client key (PEM), or NULL (then taken from cert) */
  /* --cname: the name sent (SNI) and verified instead of the target's
   * host, or NULL. */
  const char *server_name;
} rl__tls_options;

/*
 * A new client context. `alpn` is a NULL-terminated list or NULL. Returns
 * NULL with a reason in err (unreadable CA file, key not matching the
 * certificate...). The caller owns the context (SSL_CTX_free).
 */
SSL_CTX *rl__tls_ctx_new(const rl__tls_options *o, const char *const *alpn,
                         char *err, size_t errlen);

/*
 * A new connection object on `fd` for `host` (SNI unless an IP literal,
 * and the name verified against the certificate unless insecure), resuming
 * `resume` when not NULL. NULL on failure. The caller owns the SSL.
 */
SSL *rl__tls_new(SSL_CTX *ctx, int fd, const char *host, int verify,
                 SSL_SESSION *resume);

/*
 * Why a TLS call failed, for the error report: the certificate check's
 * reason when verification (on: not --insecure) failed, else OpenSSL's
 * error queue (cleared).
 * Writes into buf and returns it.
 */
const char *rl__tls_error_text(SSL *ssl, int ssl_error, char *buf, size_t len);

#endif /* RL_TLS_H */

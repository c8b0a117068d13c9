#include "engine/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

static void queue_error(char *err, size_t errlen, const char *what,
                        const char *file) {
  unsigned long e = ERR_get_error();
  char reason[256] = "unknown reason";
  if (e)
    ERR_error_string_n(e, reason, sizeof reason);
  ERR_clear_error();
  snprintf(err, errlen, "%s %s: %s", what, file, reason);
}

SSL_CTX *rl__tls_ctx_new(const rl__tls_options *o, const char *const *alpn,
                         char *err, size_t errlen) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) {
    snprintf(err, errlen, "cannot create a TLS context");
    return NULL;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  /* Small idle buffers matter with thousands of connections. */
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS |
                            SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT);
  if (o->insecure) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (o->cacert) {
      if (SSL_CTX_load_verify_locations(ctx, o->cacert, NULL) != 1) {
        queue_error(err, errlen, "cannot load CA certificates from", o->cacert);
        goto fail;
      }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      snprintf(err, errlen, "cannot load the system's CA certificates");
      goto fail;
    }
  }
  if (o->cert) {
    if (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1) {
      queue_error(err, errlen, "cannot load client certificate", o->cert);
      goto fail;
    }
    const char *key = o->key ? o->key : o->cert;
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
      queue_error(err, errlen, "cannot load client key", key);
      goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
      snprintf(err, errlen, "client key %s does not match certificate %s", key,
               o->cert);
      goto fail;
    }
  } else if (o->key) {
    snprintf(err, errlen, "--key needs --cert");
    goto fail;
  }
  if (alpn && alpn[0]) {
    /* Wire format: each protocol id prefixed by its length. */
    unsigned char wire[256];
    size_t n = 0;
    for (const char *const *a = alpn; *a; a++) {
      size_t l = strlen(*a);
      if (l == 0 || l > 255 || n + 1 + l > sizeof wire) {
        snprintf(err, errlen, "bad ALPN protocol list");
        goto fail;
      }
      wire[n++] = (unsigned char)l;
      memcpy(wire + n, *a, l);
      n += l;
    }
    if (SSL_CTX_set_alpn_protos(ctx, wire, (unsigned)n) != 0) {
      snprintf(err, errlen, "cannot set ALPN protocols");
      goto fail;
    }
  }
  return ctx;
fail:
  SSL_CTX_free(ctx);
  return NULL;
}

static int is_ip_literal(const char *host) {
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, host, buf) == 1 ||
         inet_pton(AF_INET6, host, buf) == 1;
}

SSL *rl__tls_new(SSL_CTX *ctx, int fd, const char *host, int verify,
                 SSL_SESSION *resume) {
  SSL *ssl = SSL_new(ctx);
  if (!ssl)
    return NULL;
  if (SSL_set_fd(ssl, fd) != 1)
    goto fail;
  int ip = is_ip_literal(host);
  /* RFC 6066: SNI carries names only, never address literals. */
  if (!ip && SSL_set_tlsext_host_name(ssl, host) != 1)
    goto fail;
  if (verify) {
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host)
                : X509_VERIFY_PARAM_set1_host(param, host, 0);
    if (ok != 1)
      goto fail;
  }
  if (resume)
    SSL_set_session(ssl, resume);
  SSL_set_connect_state(ssl);
  return ssl;
fail:
  SSL_free(ssl);
  return NULL;
}

const char *rl__tls_error_text(SSL *ssl, int ssl_error, char *buf, size_t len) {
  /* Without verification (--insecure) the check still runs and keeps its
   * verdict, but the handshake went on regardless: a later failure (a
   * response cut short) is not the certificate's. */
  long v = ssl && (SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER)
               ? SSL_get_verify_result(ssl)
               : X509_V_OK;
  unsigned long e = ERR_peek_error();
  if (v != X509_V_OK) {
    snprintf(buf, len, "certificate verify failed: %s",
             X509_verify_cert_error_string(v));
  } else if (e) {
    char reason[200];
    ERR_error_string_n(e, reason, sizeof reason);
    /* "error:0A000086:SSL routines::certificate verify failed": keep the
     * readable tail. */
    const char *tail = strrchr(reason, ':');
    snprintf(buf, len, "%s", tail && tail[1] ? tail + 1 : reason);
  } else if (ssl_error == SSL_ERROR_SYSCALL) {
    snprintf(buf, len, "%s",
             errno ? strerror(errno) : "connection closed during TLS");
    /* "connection reset by peer", as the plain connections say it: one
     * error row for both. */
    if (errno && len > 0 && buf[0] >= 'A' && buf[0] <= 'Z')
      buf[0] = (char)(buf[0] - 'A' + 'a');
  } else if (ssl_error == SSL_ERROR_ZERO_RETURN) {
    snprintf(buf, len, "TLS connection closed by server");
  } else {
    snprintf(buf, len, "TLS error %d", ssl_error);
  }
  ERR_clear_error();
  return buf;
}

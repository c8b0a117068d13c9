#include "engine/probe.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "base/clock.h"
#include "engine/target.h"

/* "Connection refused" -> "connection refused", as conn.c words it. */
static void errno_text(int e, char *buf, size_t len) {
  snprintf(buf, len, "%s", strerror(e));
  if (buf[0] >= 'A' && buf[0] <= 'Z' && !(buf[1] >= 'A' && buf[1] <= 'Z'))
    buf[0] = (char)(buf[0] - 'A' + 'a');
}

/* Waits for `events` on fd until `deadline`: 1 ready, 0 timed out. */
static int wait_fd(int fd, short events, uint64_t deadline) {
  for (;;) {
    uint64_t now = rl__now_ns();
    if (now >= deadline)
      return 0;
    uint64_t ms = (deadline - now) / RL__NS_PER_MS + 1;
    struct pollfd p = {.fd = fd, .events = events};
    int n = poll(&p, 1, ms > INT_MAX ? INT_MAX : (int)ms);
    if (n > 0)
      return 1;
    if (n < 0 && errno != EINTR)
      return 1; /* the next call says what is wrong */
  }
}

/* The connect timeout covers TCP and TLS, as in conn.c (10 s unset). */
static uint64_t limit_ns(const rl__target *t) {
  return t->connect_timeout_ns ? t->connect_timeout_ns : 10 * RL__NS_PER_SEC;
}

static int timed_out(const rl__target *t, const char *what, char *err,
                     size_t errlen) {
  snprintf(err, errlen, "%s timed out after %gs", what,
           (double)limit_ns(t) / 1e9);
  return RL_ERR_TIMEOUT;
}

static int tcp_connect(const rl__target *t, int fd, uint64_t deadline,
                       char *err, size_t errlen) {
  char why[128];
  if (connect(fd, (const struct sockaddr *)&t->addr, t->addrlen) == 0)
    return 0;
  if (errno != EINPROGRESS) {
    errno_text(errno, why, sizeof why);
    snprintf(err, errlen, "%s", why);
    return RL_ERR_CONNECT;
  }
  if (!wait_fd(fd, POLLOUT, deadline))
    return timed_out(t, "connect", err, errlen);
  int e = 0;
  socklen_t len = sizeof e;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
    e = errno;
  if (e) {
    errno_text(e, why, sizeof why);
    snprintf(err, errlen, "%s", why);
    return RL_ERR_CONNECT;
  }
  return 0;
}

/* The handshake, then the protocol the server agreed to by ALPN. */
static int tls_handshake(const rl__target *t, int fd, uint64_t deadline,
                         char *err, size_t errlen) {
  /* The name the run's connections verify (conn.c connected()): --cname's
   * when given, so the probe never refuses what the run would accept. */
  SSL *ssl = rl__tls_new(t->ssl_ctx, fd, t->tls_name ? t->tls_name : t->host,
                         t->verify, NULL);
  if (!ssl) {
    snprintf(err, errlen, "cannot start TLS");
    return RL_ERR_TLS;
  }
  int rc = 0;
  for (;;) {
    ERR_clear_error();
    int r = SSL_do_handshake(ssl);
    if (r == 1)
      break;
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      if (!wait_fd(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) {
        rc = timed_out(t, "TLS handshake", err, errlen);
        goto out;
      }
      continue;
    }
    char text[256];
    long v = SSL_get_verify_result(ssl);
    int mismatch = v == X509_V_ERR_HOSTNAME_MISMATCH ||
                   v == X509_V_ERR_IP_ADDRESS_MISMATCH;
    snprintf(err, errlen, "TLS handshake failed: %s%s",
             rl__tls_error_text(ssl, e, text, sizeof text),
             mismatch ? " (--cname NAME verifies a name the certificate "
                        "carries; --insecure skips the check)"
             : v != X509_V_OK ? " (--cacert FILE trusts its CA; --insecure "
                                "skips the check)"
                              : "");
    rc = RL_ERR_TLS;
    goto out;
  }
  const unsigned char *alpn = NULL;
  unsigned alpn_len = 0;
  char agreed[256] = "";
  SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
  if (alpn_len) {
    memcpy(agreed, alpn, alpn_len);
    agreed[alpn_len] = 0;
  }
  if (!rl__target_variant_for_alpn(t, alpn_len ? agreed : NULL)) {
    const rl_plugin *p = &t->v[0].plugin->desc;
    /* conn.c's words for the same refusal during a run. */
    snprintf(err, errlen,
             "server agreed to no protocol %s speaks (ALPN: %s; offered: %s)",
             p->name, alpn_len ? agreed : "none",
             p->alpn && p->alpn[0] ? p->alpn[0] : "none");
    rc = RL_ERR_TLS;
  }
  /* A polite close: our close_notify, not waiting for the server's. */
  if (rc == 0)
    (void)SSL_shutdown(ssl);
out:
  SSL_free(ssl);
  ERR_clear_error();
  return rc;
}

int rl__target_probe(const rl__target *t, char *err, size_t errlen) {
  if (t->plugin->desc.kind == RL_PLUGIN_TRANSPORT)
    return 0;
  int fd =
      socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    char why[128];
    errno_text(errno, why, sizeof why);
    snprintf(err, errlen, "cannot open a socket: %s", why);
    return RL_ERR_IO;
  }
  /* From a source address, as the run's connections will be (the probe
   * takes a turn of the rotation). */
  if (t->sources &&
      rl__sources_bind(t->sources, fd, t->addr.ss_family, err, errlen)) {
    close(fd);
    return RL_ERR_IO;
  }
  uint64_t deadline = rl__now_ns() + limit_ns(t);
  int rc = tcp_connect(t, fd, deadline, err, errlen);
  if (rc == 0 && t->tls && t->ssl_ctx)
    rc = tls_handshake(t, fd, deadline, err, errlen);
  close(fd);
  return rc;
}

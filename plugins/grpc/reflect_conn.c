/*
 * reflect_conn: the blocking connection server reflection runs on: a
 * socket with one deadline, TLS over memory BIOs, HTTP/2 through
 * lib/h2session, one unary gRPC call at a time (see reflect_conn.h).
 */
#include "reflect_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <rpcload/plugin.h>

#include "lib/buf.h"
#include "lib/grpc_status.h"
#include "lib/h2session.h"

/* ---- Small helpers --------------------------------------------------------- */

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void rl__rconn_text(char *dst, size_t len, const uint8_t *src, size_t n) {
  size_t o = 0;
  for (size_t i = 0; i < n && o + 1 < len; i++) {
    if (src[i] == 0)
      continue; /* would end the string; the rest is sanitize_line's */
    dst[o++] = (char)src[i];
  }
  dst[o] = '\0';
}

/* ---- Errors and the socket ------------------------------------------------ */

/* Makes s one printable line in place: control characters become spaces
 * and bytes that are not well-formed UTF-8 become '?'. Error messages quote
 * what the server sent (names, grpc-message), and a hostile or broken
 * server must not be able to put newlines, terminal escapes or invalid
 * UTF-8 into them. */
static void sanitize_line(char *s) {
  unsigned char *p = (unsigned char *)s;
  while (*p) {
    unsigned c = *p;
    if (c < 0x20 || c == 0x7f) {
      *p++ = ' ';
      continue;
    }
    if (c < 0x80) {
      p++;
      continue;
    }
    /* The sequence length a lead byte announces, and the range its first
     * continuation byte must fall in (no overlongs, no surrogates, nothing
     * above U+10FFFF). */
    size_t n = 0;
    unsigned lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
      n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 3;
      lo = c == 0xe0 ? 0xa0 : 0x80;
      hi = c == 0xed ? 0x9f : 0xbf;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 4;
      lo = c == 0xf0 ? 0x90 : 0x80;
      hi = c == 0xf4 ? 0x8f : 0xbf;
    }
    int ok = n > 0 && p[1] >= lo && p[1] <= hi;
    for (size_t i = 2; ok && i < n; i++)
      ok = p[i] >= 0x80 && p[i] <= 0xbf;
    if (!ok) {
      *p++ = '?';
      continue;
    }
    p += n;
  }
}

/* Records the first error: formats err and keeps code. Returns the first
 * error's code, so `return rl__rconn_fail(...)` is right even when a deeper layer
 * already failed. */
int rl__rconn_fail(rl__rconn *c, int code, const char *fmt, ...) {
  if (c->rc != 0)
    return c->rc;
  c->rc = code;
  if (c->errlen > 0) {
    va_list ap;
    va_start(ap, fmt);
    /* clang-tidy 14 misreads va_start here (see plugins/lib/http_text.c);
     * the list is initialised on the line above. */
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
    vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
    sanitize_line(c->err);
  }
  return code;
}

/* The deadline as the user gave it: "10 s", "0.5 s". */
static void timeout_text(const rl__rconn *c, char *buf, size_t len) {
  if (c->timeout_ns % 1000000000ull == 0)
    snprintf(buf, len, "%llu s",
             (unsigned long long)(c->timeout_ns / 1000000000ull));
  else
    snprintf(buf, len, "%g s", (double)c->timeout_ns / 1e9);
}

static int fail_timeout(rl__rconn *c, const char *doing) {
  char t[48];
  timeout_text(c, t, sizeof t);
  return rl__rconn_fail(c, RL_ERR_TIMEOUT,
                        "reflection: timed out after %s %s %s", t, doing,
                        c->where);
}

/* Waits until the socket is ready for `events` or the deadline passes.
 * `doing` completes the timeout message ("connecting to"). */
static int wait_fd(rl__rconn *c, short events, const char *doing) {
  for (;;) {
    uint64_t now = now_ns();
    if (now >= c->deadline)
      return fail_timeout(c, doing);
    uint64_t ms = (c->deadline - now) / 1000000 + 1; /* round up */
    struct pollfd pfd = {.fd = c->fd, .events = events, .revents = 0};
    int n = poll(&pfd, 1, ms > INT_MAX ? INT_MAX : (int)ms);
    if (n > 0)
      return 0; /* ready, or an error the next call will report */
    if (n < 0 && errno != EINTR)
      return rl__rconn_fail(c, RL_ERR_IO, "reflection: poll failed: %s",
                            strerror(errno));
  }
}

/* The peer closed or reset the connection under us: a plain-text client
 * talking to a TLS server sees this (the server gives up on our bytes). */
static int fail_closed(rl__rconn *c, int errnum) {
  return rl__rconn_fail(
      c, RL_ERR_CLOSED, "reflection: %s closed the connection: %s%s", c->where,
      strerror(errnum), c->o->tls ? "" : " (does it want TLS?)");
}

static int sock_send_all(rl__rconn *c, const uint8_t *d, size_t n) {
  while (n > 0) {
    ssize_t w = send(c->fd, d, n, MSG_NOSIGNAL);
    if (w > 0) {
      d += w;
      n -= (size_t)w;
      continue;
    }
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0 && (errno == EPIPE || errno == ECONNRESET))
      return fail_closed(c, errno);
    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
      return rl__rconn_fail(c, RL_ERR_IO, "reflection: cannot send to %s: %s",
                            c->where, strerror(errno));
    int rc = wait_fd(c, POLLOUT, "sending to"); /* full: the deadline rules */
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* Reads what is there (waiting for something): *got bytes, 0 at EOF. */
static int sock_recv_some(rl__rconn *c, uint8_t *buf, size_t cap, size_t *got,
                          const char *doing) {
  for (;;) {
    ssize_t r = recv(c->fd, buf, cap, 0);
    if (r >= 0) {
      *got = (size_t)r;
      return 0;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      int rc = wait_fd(c, POLLIN, doing);
      if (rc != 0)
        return rc;
    } else if (errno == ECONNRESET) {
      return fail_closed(c, errno);
    } else if (errno != EINTR) {
      return rl__rconn_fail(c, RL_ERR_IO, "reflection: cannot read from %s: %s",
                            c->where, strerror(errno));
    }
  }
}

/* Tries each address of host:port in turn until one accepts. */
static int rf_connect(rl__rconn *c) {
  const rl__reflect_options *o = c->o;
  char port[8];
  snprintf(port, sizeof port, "%u", (unsigned)o->port);
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  struct addrinfo *res = NULL;
  int g = getaddrinfo(o->host, port, &hints, &res);
  if (g != 0)
    return rl__rconn_fail(c, RL_ERR_CONNECT,
                          "reflection: cannot resolve %s: %s", o->host,
                          g == EAI_SYSTEM ? strerror(errno) : gai_strerror(g));
  int last = ECONNREFUSED;
  for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0) {
      last = errno;
      continue;
    }
    /* Non-blocking, so that poll() bounds every wait; close-on-exec, so
     * that nothing the process starts (protoc) inherits it. */
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
      last = errno;
      close(fd);
      continue;
    }
    /* Each request is a few small writes answered at once: Nagle would
     * hold them for the server's delayed ACK. */
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    int r = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (r != 0 && errno == EINPROGRESS) {
      if (wait_fd(c, POLLOUT, "connecting to") != 0)
        break; /* the deadline is for everything: no next address */
      int soerr = 0;
      socklen_t sl = sizeof soerr;
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
        soerr = errno;
      r = soerr == 0 ? 0 : -1;
      errno = soerr;
    }
    if (r == 0) {
      freeaddrinfo(res);
      return 0;
    }
    last = errno;
    close(fd);
    c->fd = -1;
  }
  freeaddrinfo(res);
  return rl__rconn_fail(c, RL_ERR_CONNECT,
                        "reflection: cannot connect to %s: %s", c->where,
                        strerror(last));
}

/* ---- TLS ----------------------------------------------------------------------- */

/* Why a TLS call failed: the certificate check's reason when verification
 * failed, else the tail of OpenSSL's error ("certificate verify failed"
 * out of "error:0A000086:SSL routines::certificate verify failed"). */
static void tls_reason(rl__rconn *c, char *buf, size_t len) {
  long v = c->ssl != NULL ? SSL_get_verify_result(c->ssl) : X509_V_OK;
  unsigned long e = ERR_peek_error();
  if (v != X509_V_OK) {
    snprintf(buf, len, "certificate verify failed: %s",
             X509_verify_cert_error_string(v));
  } else if (e != 0) {
    char reason[200];
    ERR_error_string_n(e, reason, sizeof reason);
    const char *tail = strrchr(reason, ':');
    snprintf(buf, len, "%s", tail != NULL && tail[1] ? tail + 1 : reason);
  } else {
    snprintf(buf, len, "unknown TLS error");
  }
  ERR_clear_error();
}

/* Sends what OpenSSL wrote into the memory BIO. */
static int tls_flush(rl__rconn *c) {
  uint8_t buf[16384];
  while (BIO_ctrl_pending(c->wbio) > 0) {
    int n = BIO_read(c->wbio, buf, sizeof buf);
    if (n <= 0)
      break;
    int rc = sock_send_all(c, buf, (size_t)n);
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* Reads from the socket into OpenSSL's read BIO. *eof: the peer closed. */
static int tls_fill(rl__rconn *c, int *eof, const char *doing) {
  uint8_t buf[16384];
  size_t got = 0;
  int rc = sock_recv_some(c, buf, sizeof buf, &got, doing);
  if (rc != 0)
    return rc;
  *eof = got == 0;
  if (got > 0 && BIO_write(c->rbio, buf, (int)got) != (int)got)
    return rl__rconn_fail(c, RL_ERR_NOMEM, "reflection: out of memory");
  return 0;
}

static int is_ip_literal(const char *host) {
  unsigned char a[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

/* Loads CAs, the client certificate and ALPN into a new context. */
static int tls_ctx(rl__rconn *c) {
  const rl__reflect_options *o = c->o;
  char why[256];
  c->ctx = SSL_CTX_new(TLS_client_method());
  if (c->ctx == NULL)
    return rl__rconn_fail(c, RL_ERR_TLS,
                          "reflection: cannot create a TLS context");
  SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
  if (o->insecure) {
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
  } else {
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    if (o->cacert != NULL) {
      if (SSL_CTX_load_verify_locations(c->ctx, o->cacert, NULL) != 1) {
        tls_reason(c, why, sizeof why);
        return rl__rconn_fail(
            c, RL_ERR_TLS,
            "reflection: cannot load CA certificates from %s: %s", o->cacert,
            why);
      }
    } else if (SSL_CTX_set_default_verify_paths(c->ctx) != 1) {
      ERR_clear_error();
      return rl__rconn_fail(
          c, RL_ERR_TLS,
          "reflection: cannot load the system's CA certificates");
    }
  }
  if (o->cert != NULL) {
    const char *key = o->key != NULL ? o->key : o->cert;
    if (SSL_CTX_use_certificate_chain_file(c->ctx, o->cert) != 1) {
      tls_reason(c, why, sizeof why);
      return rl__rconn_fail(c, RL_ERR_TLS,
                            "reflection: cannot load client certificate %s: %s",
                            o->cert, why);
    }
    if (SSL_CTX_use_PrivateKey_file(c->ctx, key, SSL_FILETYPE_PEM) != 1) {
      tls_reason(c, why, sizeof why);
      return rl__rconn_fail(
          c, RL_ERR_TLS, "reflection: cannot load client key %s: %s", key, why);
    }
    if (SSL_CTX_check_private_key(c->ctx) != 1) {
      ERR_clear_error();
      return rl__rconn_fail(
          c, RL_ERR_TLS,
          "reflection: client key %s does not match certificate %s", key,
          o->cert);
    }
  }
  /* gRPC is HTTP/2 only: offer nothing else. */
  static const unsigned char alpn[] = {2, 'h', '2'};
  if (SSL_CTX_set_alpn_protos(c->ctx, alpn, sizeof alpn) != 0)
    return rl__rconn_fail(c, RL_ERR_TLS, "reflection: cannot set ALPN");
  return 0;
}

/* What a handshake failure most likely means, for the two reasons whose
 * OpenSSL text does not say it. */
static const char *tls_hint(const char *why) {
  if (strstr(why, "wrong version number") != NULL)
    return " (does the server speak plain text?)";
  if (strstr(why, "no application protocol") != NULL)
    return " (the server does not offer HTTP/2, which gRPC needs)";
  return "";
}

static int tls_handshake(rl__rconn *c) {
  const rl__reflect_options *o = c->o;
  char why[256];
  int rc = tls_ctx(c);
  if (rc != 0)
    return rc;
  c->ssl = SSL_new(c->ctx);
  BIO *rbio = BIO_new(BIO_s_mem());
  BIO *wbio = BIO_new(BIO_s_mem());
  if (c->ssl == NULL || rbio == NULL || wbio == NULL) {
    BIO_free(rbio);
    BIO_free(wbio);
    return rl__rconn_fail(c, RL_ERR_NOMEM, "reflection: out of memory");
  }
  /* An empty read BIO means "wait for more", not end of file. */
  BIO_set_mem_eof_return(rbio, -1);
  SSL_set_bio(c->ssl, rbio, wbio); /* the SSL owns them now */
  c->rbio = rbio;
  c->wbio = wbio;
  /* --cname names the server instead of the host. */
  const char *name = o->server_name != NULL ? o->server_name : o->host;
  int ip = is_ip_literal(name);
  /* RFC 6066: SNI carries names only, never address literals. */
  if (!ip && SSL_set_tlsext_host_name(c->ssl, name) != 1)
    return rl__rconn_fail(c, RL_ERR_TLS, "reflection: cannot set SNI %s", name);
  if (!o->insecure) {
    X509_VERIFY_PARAM *param = SSL_get0_param(c->ssl);
    int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name)
                : X509_VERIFY_PARAM_set1_host(param, name, 0);
    if (ok != 1)
      return rl__rconn_fail(c, RL_ERR_TLS,
                            "reflection: cannot verify host name %s", name);
  }
  SSL_set_connect_state(c->ssl);
  for (;;) {
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, r);
    /* OpenSSL's reason first, before anything else touches its queue. */
    if (e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ)
      tls_reason(c, why, sizeof why);
    /* Our flight, or our alert when it failed. */
    rc = tls_flush(c);
    if (rc != 0)
      return rc;
    if (e == SSL_ERROR_NONE)
      break;
    if (e != SSL_ERROR_WANT_READ)
      return rl__rconn_fail(c, RL_ERR_TLS,
                            "reflection: TLS handshake with %s failed: %s%s",
                            c->where, why, tls_hint(why));
    int eof = 0;
    rc = tls_fill(c, &eof, "during the TLS handshake with");
    if (rc != 0)
      return rc;
    if (eof)
      return rl__rconn_fail(
          c, RL_ERR_TLS,
          "reflection: TLS handshake with %s failed: the server "
          "closed the connection",
          c->where);
  }
  const unsigned char *proto = NULL;
  unsigned plen = 0;
  SSL_get0_alpn_selected(c->ssl, &proto, &plen);
  if (plen != 2 || memcmp(proto, "h2", 2) != 0) {
    char chosen[64] = "";
    if (plen > 0)
      rl__rconn_text(chosen, sizeof chosen, proto, plen);
    return rl__rconn_fail(
        c, RL_ERR_TLS,
        "reflection: %s does not offer HTTP/2 over TLS, which gRPC "
        "needs (ALPN: h2 asked, %s%s%s)",
        c->where, plen > 0 ? "the server chose '" : "none chosen", chosen,
        plen > 0 ? "'" : "");
  }
  return 0;
}

/* ---- Bytes over the connection ------------------------------------------------- */

static int conn_write(rl__rconn *c, const uint8_t *d, size_t n) {
  if (c->ssl == NULL)
    return sock_send_all(c, d, n);
  while (n > 0) {
    ERR_clear_error();
    int w = SSL_write(c->ssl, d, n > INT_MAX ? INT_MAX : (int)n);
    if (w <= 0) {
      char why[256];
      tls_reason(c, why, sizeof why);
      return rl__rconn_fail(c, RL_ERR_TLS, "reflection: TLS error with %s: %s",
                            c->where, why);
    }
    d += w;
    n -= (size_t)w;
  }
  return tls_flush(c);
}

/* Reads some application bytes: *got > 0, or 0 when the peer closed. */
static int conn_read(rl__rconn *c, uint8_t *buf, size_t cap, size_t *got) {
  static const char doing[] = "waiting for an answer from";
  if (c->ssl == NULL)
    return sock_recv_some(c, buf, cap, got, doing);
  for (;;) {
    ERR_clear_error();
    int r = SSL_read(c->ssl, buf, cap > INT_MAX ? INT_MAX : (int)cap);
    int e = r > 0 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, r);
    char why[256] = "";
    if (e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ &&
        e != SSL_ERROR_ZERO_RETURN)
      tls_reason(c, why, sizeof why);
    /* Reading may write (a TLS 1.3 key update answer). */
    int rc = tls_flush(c);
    if (rc != 0)
      return rc;
    if (e == SSL_ERROR_NONE) {
      *got = (size_t)r;
      return 0;
    }
    if (e == SSL_ERROR_ZERO_RETURN) {
      *got = 0;
      return 0;
    }
    if (e != SSL_ERROR_WANT_READ)
      return rl__rconn_fail(c, RL_ERR_TLS, "reflection: TLS error with %s: %s",
                            c->where, why);
    int eof = 0;
    rc = tls_fill(c, &eof, doing);
    if (rc != 0)
      return rc;
    if (eof) {
      *got = 0;
      return 0;
    }
  }
}

/* ---- HTTP/2 and gRPC calls -------------------------------------------------------- */

/* The stream area holds a pointer to the connection's rl__rcall. */
static rl__rcall *call_of(void *area) {
  rl__rcall *call;
  memcpy(&call, area, sizeof(rl__rcall *));
  return call;
}

static int h2_write_cb(void *session_data, const uint8_t *data, size_t len) {
  return conn_write(session_data, data, len);
}

static int name_is(const uint8_t *name, size_t n, const char *lit) {
  return n == strlen(lit) && memcmp(name, lit, n) == 0;
}

static void h2_header_cb(void *area, enum h2_block block, const uint8_t *name,
                         size_t name_len, const uint8_t *value,
                         size_t value_len) {
  rl__rcall *call = call_of(area);
  if (block == H2_BLOCK_INFORMATIONAL)
    return;
  /* grpc-status and grpc-message come in the trailers, or in the one
   * header block of a trailers-only response. */
  if (name_is(name, name_len, "grpc-status")) {
    long v = 0;
    int ok = value_len > 0 && value_len <= 4;
    for (size_t i = 0; ok && i < value_len; i++) {
      if (value[i] < '0' || value[i] > '9')
        ok = 0;
      else
        v = v * 10 + (value[i] - '0');
    }
    call->grpc_status = ok ? v : -2;
  } else if (name_is(name, name_len, "grpc-message")) {
    rl__grpc_message_decode(value, value_len, call->grpc_message,
                            sizeof call->grpc_message);
  } else if (block == H2_BLOCK_RESPONSE &&
             name_is(name, name_len, "content-type")) {
    static const char ct[] = "application/grpc";
    size_t n = sizeof ct - 1;
    call->grpc_content = value_len >= n && memcmp(value, ct, n) == 0 &&
                         (value_len == n || value[n] == '+' || value[n] == ';');
  }
}

static void h2_headers_end_cb(void *area, enum h2_block block, int status) {
  if (block == H2_BLOCK_RESPONSE)
    call_of(area)->status = status;
}

static void h2_data_cb(void *area, const uint8_t *data, size_t len) {
  rl__rcall *call = call_of(area);
  if (call->body_too_big)
    return;
  if (len > RL__RCONN_MAX_BODY - call->body.len ||
      rl__buf_add(&call->body, data, len))
    call->body_too_big = 1; /* reported once the stream ends */
}

static void h2_end_cb(void *area, enum h2_end how, uint32_t error_code) {
  rl__rcall *call = call_of(area);
  call->ended = 1;
  call->how = how;
  call->code = error_code;
}

static void call_reset(rl__rcall *call) {
  rl__buf_free(&call->body);
  memset(call, 0, sizeof *call);
  call->grpc_status = -1;
}

/* Lowercases and checks the metadata names, once per fetch. */
static int md_prepare(rl__rconn *c) {
  const rl__reflect_options *o = c->o;
  if (o->n_metadata == 0)
    return 0;
  c->md_names = calloc(o->n_metadata, sizeof *c->md_names);
  if (c->md_names == NULL)
    return rl__rconn_fail(c, RL_ERR_NOMEM, "reflection: out of memory");
  for (size_t i = 0; i < o->n_metadata; i++) {
    const char *k = o->metadata[i].key;
    const char *v = o->metadata[i].value != NULL ? o->metadata[i].value : "";
    if (k == NULL)
      return rl__rconn_fail(c, RL_ERR_INVAL,
                            "reflection: a metadata entry has no name");
    char *n = strdup(k);
    if (n == NULL)
      return rl__rconn_fail(c, RL_ERR_NOMEM, "reflection: out of memory");
    for (char *p = n; *p; p++)
      if (*p >= 'A' && *p <= 'Z')
        *p = (char)(*p - 'A' + 'a');
    c->md_names[i] = n;
    /* Pseudo-headers are ours to set; other bad names would make the
     * server reset the stream with a less telling error. */
    if (n[0] == ':' ||
        !nghttp2_check_header_name((const uint8_t *)n, strlen(n)))
      return rl__rconn_fail(c, RL_ERR_INVAL,
                            "reflection: bad metadata name '%s'", k);
    if (!nghttp2_check_header_value((const uint8_t *)v, strlen(v)))
      return rl__rconn_fail(c, RL_ERR_INVAL,
                            "reflection: bad metadata value for '%s'", k);
  }
  return 0;
}

static void body_free(void *p) { free(p); }

static nghttp2_nv nv(const char *name, const char *value) {
  nghttp2_nv h = {(uint8_t *)(uintptr_t)name, (uint8_t *)(uintptr_t)value,
                  strlen(name), strlen(value), NGHTTP2_NV_FLAG_NONE};
  return h;
}

/*
 * One gRPC call: `msg` (len bytes, borrowed) framed and sent on a new
 * stream to `path`, which is then read until it ends. The outcome is in
 * c->call (reset first). Returns 0 when the stream ended by itself
 * (whatever its status), else the error (connection-level: the session
 * is then finished).
 */
int rl__rconn_call(rl__rconn *c, const char *path, const uint8_t *msg,
                   size_t len) {
  const rl__reflect_options *o = c->o;
  call_reset(&c->call);
  /* gRPC framing: no compression, 4-byte big-endian length. */
  uint8_t *frame = malloc(5 + len);
  if (frame == NULL)
    return rl__rconn_fail(c, RL_ERR_NOMEM, "reflection: out of memory");
  frame[0] = 0;
  frame[1] = (uint8_t)(len >> 24);
  frame[2] = (uint8_t)(len >> 16);
  frame[3] = (uint8_t)(len >> 8);
  frame[4] = (uint8_t)len;
  memcpy(frame + 5, msg, len);

  size_t nvlen = 6 + o->n_metadata;
  nghttp2_nv *nva = calloc(nvlen, sizeof *nva);
  if (nva == NULL) {
    free(frame);
    return rl__rconn_fail(c, RL_ERR_NOMEM, "reflection: out of memory");
  }
  nva[0] = nv(":method", "POST");
  nva[1] = nv(":scheme", o->tls ? "https" : "http");
  nva[2] = nv(":path", path);
  nva[3] = nv(":authority", c->authority);
  nva[4] = nv("content-type", "application/grpc");
  nva[5] = nv("te", "trailers");
  for (size_t i = 0; i < o->n_metadata; i++)
    nva[6 + i] = nv(c->md_names[i],
                    o->metadata[i].value != NULL ? o->metadata[i].value : "");

  h2_body body = {.data = frame,
                  .len = 5 + len,
                  .release = body_free,
                  .release_arg = frame};
  rl__rcall *cp = &c->call;
  int rc = h2_session_submit(c->h2, nva, nvlen, &body, &cp, NULL);
  free(nva); /* nghttp2 copied the header fields */
  if (rc != 0) {
    free(frame); /* a refused submit leaves the body with us */
    uint32_t code = 0;
    if (h2_session_goaway(c->h2, &code)) {
      const char *name = h2_error_name(code);
      return rl__rconn_fail(
          c, RL_ERR_CLOSED,
          "reflection: %s is closing the connection (GOAWAY %s)", c->where,
          name != NULL ? name : "with an unknown code");
    }
    return rl__rconn_fail(c, rc, "reflection: cannot start a call on %s: %s",
                          c->where, rl_strerror(rc));
  }

  uint8_t buf[16384];
  while (!c->call.ended) {
    size_t got = 0;
    rc = conn_read(c, buf, sizeof buf, &got);
    if (rc == 0 && got == 0) {
      uint32_t code = 0;
      if (h2_session_goaway(c->h2, &code)) {
        const char *name = h2_error_name(code);
        rc = rl__rconn_fail(c, RL_ERR_CLOSED,
                            "reflection: %s closed the connection (GOAWAY %s)",
                            c->where,
                            name != NULL ? name : "with an unknown code");
      } else {
        rc = rl__rconn_fail(
            c, RL_ERR_CLOSED,
            "reflection: %s closed the connection before answering%s", c->where,
            o->tls ? "" : " (does it want TLS?)");
      }
    }
    if (rc == 0) {
      rc = h2_session_recv(c->h2, buf, got);
      if (rc != 0)
        rc =
            rl__rconn_fail(c, rc == RL_ERR_NOMEM ? RL_ERR_NOMEM : RL_ERR_PROTO,
                           "reflection: HTTP/2 error with %s: %s (is it a gRPC "
                           "server%s?)",
                           c->where, h2_session_error(c->h2),
                           o->tls ? "" : ", or does it want TLS");
    }
    if (rc != 0) {
      /* The session is done for: end our stream now, while c->call is
       * still what the stream area points to. */
      h2_session_abort(c->h2);
      return rc;
    }
  }
  return 0;
}

/* Checks how the call ended, its HTTP and gRPC status. Returns 0 when it
 * succeeded; RL_ERR_UNSUPPORTED (err not written) when the server says
 * UNIMPLEMENTED, so the caller may try v1alpha; else the error. */
int rl__rconn_check(rl__rconn *c) {
  const rl__rcall *call = &c->call;
  const char *code = h2_error_name(call->code);
  switch (call->how) {
  case H2_END_COMPLETE:
    break;
  case H2_END_RESET:
    return rl__rconn_fail(c, RL_ERR_PROTO, "reflection: %s reset the call (%s)",
                          c->where, code != NULL ? code : "unknown code");
  case H2_END_UNPROCESSED:
    return rl__rconn_fail(
        c, RL_ERR_CLOSED,
        "reflection: %s refused the call: it is shutting down "
        "(GOAWAY)",
        c->where);
  default:
    return rl__rconn_fail(c, RL_ERR_PROTO,
                          "reflection: the call to %s failed (%s)", c->where,
                          code != NULL ? code : "HTTP/2 error");
  }
  if (call->grpc_status == -1) {
    /* No gRPC status: not a gRPC server, or a proxy answered. gRPC maps
     * HTTP 404 to UNIMPLEMENTED. */
    if (call->status == 404)
      return RL_ERR_UNSUPPORTED;
    if (call->status != 200)
      return rl__rconn_fail(c, RL_ERR_PROTO,
                            "reflection: %s answered HTTP status %d, not gRPC",
                            c->where, call->status);
    return rl__rconn_fail(
        c, RL_ERR_PROTO,
        "reflection: %s answered without a grpc-status (is it a gRPC "
        "server?)",
        c->where);
  }
  if (call->grpc_status == -2)
    return rl__rconn_fail(c, RL_ERR_PROTO,
                          "reflection: %s sent a malformed grpc-status",
                          c->where);
  if (call->grpc_status == GRPC_UNIMPLEMENTED)
    return RL_ERR_UNSUPPORTED;
  if (call->grpc_status != GRPC_OK) {
    const char *name = rl__grpc_status_name((int)call->grpc_status);
    char num[24];
    snprintf(num, sizeof num, "%ld", call->grpc_status);
    return rl__rconn_fail(c, RL_ERR_PROTO, "reflection: server error %s: %s",
                          name != NULL ? name : num,
                          call->grpc_message[0] ? call->grpc_message
                                                : "(no message)");
  }
  if (call->status != 200 || !call->grpc_content)
    return rl__rconn_fail(
        c, RL_ERR_PROTO,
        "reflection: %s answered HTTP status %d without a gRPC "
        "content-type",
        c->where, call->status);
  if (call->body_too_big)
    return rl__rconn_fail(c, RL_ERR_PROTO,
                          "reflection: %s sent a response over %u MiB",
                          c->where, RL__RCONN_MAX_BODY >> 20);
  return 0;
}

/* ---- Opening and closing --------------------------------------------------- */

void rl__rconn_init(rl__rconn *c, const rl__reflect_options *o, char *err,
                    size_t errlen) {
  memset(c, 0, sizeof *c);
  c->o = o;
  c->fd = -1;
  c->err = err;
  c->errlen = errlen;
  c->timeout_ns = o->timeout_ns ? o->timeout_ns : RL_REFLECT_DEFAULT_TIMEOUT_NS;
  uint64_t now = now_ns();
  c->deadline =
      c->timeout_ns > UINT64_MAX - now ? UINT64_MAX : now + c->timeout_ns;
  call_reset(&c->call);
  int v6 = strchr(o->host, ':') != NULL;
  snprintf(c->where, sizeof c->where, v6 ? "[%s]:%u" : "%s:%u", o->host,
           (unsigned)o->port);
  snprintf(c->authority, sizeof c->authority, "%s",
           o->authority != NULL ? o->authority : c->where);
}

int rl__rconn_open(rl__rconn *c) {
  int rc = md_prepare(c);
  if (rc == 0)
    rc = rf_connect(c);
  if (rc == 0 && c->o->tls)
    rc = tls_handshake(c);
  if (rc != 0)
    return rc;
  h2_callbacks cb = {.write = h2_write_cb,
                     .on_header = h2_header_cb,
                     .on_headers_end = h2_headers_end_cb,
                     .on_data = h2_data_cb,
                     .on_end = h2_end_cb};
  h2_config cfg = {.stream_data_size = sizeof(rl__rcall *)};
  rc = h2_session_new(&cb, c, &cfg, &c->h2);
  if (rc != 0)
    return rl__rconn_fail(c, rc,
                          "reflection: cannot start an HTTP/2 session: %s",
                          rl_strerror(rc));
  rc = h2_session_flush(c->h2);
  if (rc != 0)
    return rl__rconn_fail(c, rc, "reflection: cannot send to %s: %s", c->where,
                          rl_strerror(rc));
  return 0;
}

void rl__rconn_close(rl__rconn *c) {
  /* The session first: deleting it may release a request body and report
   * a stream into c->call. */
  h2_session_del(c->h2);
  c->h2 = NULL;
  call_reset(&c->call);
  SSL_free(c->ssl);
  SSL_CTX_free(c->ctx);
  c->ssl = NULL;
  c->ctx = NULL;
  ERR_clear_error(); /* leave no stale errors for the caller's next TLS */
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
  for (size_t i = 0; i < c->o->n_metadata && c->md_names != NULL; i++)
    free(c->md_names[i]);
  free(c->md_names);
  c->md_names = NULL;
}

/*
 * reflect_conn: the blocking connection server reflection runs on
 * (reflect.c holds the reflection protocol itself).
 *
 * What it owns, bottom up:
 *   - a socket, non-blocking, with poll() for every wait, so that one
 *     deadline bounds connect (each address in turn), the TLS handshake
 *     and every read and write;
 *   - TLS over memory BIOs, with ALPN "h2" required: OpenSSL never touches
 *     the socket, so every byte goes through send(MSG_NOSIGNAL)/recv and a
 *     closed peer cannot raise SIGPIPE in a program that did not ignore it
 *     (the CLI does, a test tool need not);
 *   - HTTP/2 through lib/h2session: its write callback sends on the
 *     connection, what the socket reads goes to h2_session_recv();
 *   - one unary gRPC call at a time: one message out with END_STREAM
 *     (headers, the user's metadata), read until the server ends the
 *     stream; the call's HTTP and gRPC status, grpc-message and body are
 *     kept in c->call for the caller to read.
 *
 * Errors: the first failure writes err, made one printable line, and is
 * remembered (c->rc); everything above just returns it, so an error found
 * deep inside a callback (a write timing out inside h2_session_recv) is
 * the one the user reads, not a vaguer one from the layer that noticed
 * later. The protocol layer records its own failures the same way
 * (rl__rconn_fail). Messages start with "reflection: ".
 *
 * Start-up work only (step_new, the main thread, where blocking is
 * allowed); one thread owns a connection.
 */
#ifndef RL_REFLECT_CONN_H
#define RL_REFLECT_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "lib/buf.h"
#include "lib/h2session.h"
#include "reflect.h"

/* What one gRPC call got back. */
typedef struct rl__rcall {
  int status;       /* :status of the response */
  long grpc_status; /* -1: none came; -2: not a number */
  char grpc_message[256];
  int grpc_content; /* content-type is application/grpc[+...|;...] */
  rl__buf body;     /* the DATA payload: gRPC framed messages */
  int body_too_big; /* it went over RL__RCONN_MAX_BODY: the rest dropped */
  int ended;        /* on_end came */
  enum h2_end how;
  uint32_t code;
} rl__rcall;

/* The largest response body of one call: a bound against a broken or
 * hostile server (real ones stay far below). */
#define RL__RCONN_MAX_BODY (64u << 20)

typedef struct rl__rconn {
  const rl__reflect_options *o; /* borrowed for the connection's life */
  char where[300];              /* "host:port" for messages */
  char authority[300];          /* :authority */
  uint64_t timeout_ns;
  uint64_t deadline; /* CLOCK_MONOTONIC ns */
  int fd;
  SSL_CTX *ctx;
  SSL *ssl;  /* owns rbio and wbio */
  BIO *rbio; /* what the socket read, for OpenSSL */
  BIO *wbio; /* what OpenSSL wrote, for the socket */
  h2_session *h2;
  char **md_names; /* the metadata names, lowercased */
  rl__rcall call;  /* the call in flight (one at a time) */
  char *err;
  size_t errlen;
  int rc; /* the first error, 0 until one came */
} rl__rconn;

/*
 * Sets c up for `o` (borrowed until rl__rconn_close): names for messages,
 * the deadline (o->timeout_ns from now, or RL_REFLECT_DEFAULT_TIMEOUT_NS),
 * nothing opened yet. err (errlen bytes, the caller's) receives the first
 * failure. Cannot fail; rl__rconn_close is due in any case.
 */
void rl__rconn_init(rl__rconn *c, const rl__reflect_options *o, char *err,
                    size_t errlen);

/*
 * Checks the metadata names and values, connects, does the TLS handshake
 * (when o->tls) and starts HTTP/2 (the preface and SETTINGS sent). Returns
 * 0 or the first error's RL_ERR_* code (recorded in err).
 */
int rl__rconn_open(rl__rconn *c);

/*
 * One gRPC call: `msg` (len bytes, borrowed) framed and sent on a new
 * stream to `path` with the metadata, then read until the stream ends.
 * The outcome is in c->call (reset first). Returns 0 when the stream ended
 * by itself (whatever its status), else the error (connection-level: the
 * session is then finished).
 */
int rl__rconn_call(rl__rconn *c, const char *path, const uint8_t *msg,
                   size_t len);

/*
 * Checks how c->call ended, its HTTP and gRPC status. Returns 0 when it
 * succeeded; RL_ERR_UNSUPPORTED (err not written) when the server said
 * UNIMPLEMENTED, or HTTP 404 without a gRPC status, so the caller may try
 * another service; else the error (recorded).
 */
int rl__rconn_check(rl__rconn *c);

/* Records the first error: formats err (one printable line) and keeps
 * `code`. Returns the first error's code, so `return rl__rconn_fail(...)`
 * is right even when a deeper layer already failed. */
int rl__rconn_fail(rl__rconn *c, int code, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Copies n bytes of server text into dst (len bytes) as a C string, NULs
 * dropped. rl__rconn_fail makes what it quotes printable. */
void rl__rconn_text(char *dst, size_t len, const uint8_t *src, size_t n);

/* Ends the session (a call still open is ended first), closes TLS and the
 * socket, and frees what c holds; c is then done. */
void rl__rconn_close(rl__rconn *c);

#endif /* RL_REFLECT_CONN_H */

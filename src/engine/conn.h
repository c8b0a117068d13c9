/*
 * A connection owned by the core, carrying requests for a codec plugin's
 * session: non-blocking connect with a timeout, TLS (SNI, ALPN,
 * verification), buffered writes, reads fed to the session, a per-request
 * timeout, and reconnection on the next request after the server closed.
 *
 * Requests wait in the connection's queue until a session exists and has
 * room (max_concurrent); the wait counts in their response time. A request
 * always ends in exactly one request event: from the plugin once the
 * session accepted it, from the core otherwise (connect refused, TLS
 * failed, cut at stop).
 *
 * A connection attempt that fails (refused, timed out, TLS failed, or
 * closed before the server completed a single request on it) makes the
 * next wait: the target's backoff (engine/backoff.h). Requests submitted
 * meanwhile queue for the next attempt, so a dead server costs a user one
 * failure per attempt, not a flood of instant ones. A plain connection
 * that fails that way after connecting says "(does it want TLS?)".
 *
 * One worker thread owns a connection; nothing here locks.
 */
#ifndef RL_CONN_H
#define RL_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>
#include <openssl/ssl.h>

#include <rpcload/plugin.h>

#include "engine/backoff.h"

struct rl__target;
struct rl__variant;

enum rl__conn_state {
  RL__CONN_CLOSED = 0,
  RL__CONN_CONNECTING,
  RL__CONN_HANDSHAKE,
  RL__CONN_OPEN,
};

struct rl_conn {
  rl_loop *loop; /* its worker thread's (engine/loop.h) */
  const struct rl__target *t;
  const struct rl__variant *v; /* the plugin carrying this connection: the
                                  target's first, or ALPN's pick over TLS */
  int fd;
  uint8_t state;         /* enum rl__conn_state */
  uint8_t events;        /* libev mask the io watcher has now */
  uint8_t close_later;   /* the plugin asked for a close */
  uint8_t was_open;      /* reached OPEN since the last connect */
  uint8_t draining;      /* no new requests; close once none is in flight */
  uint8_t flush_pending; /* on the worker's flush list */
  uint8_t asked;         /* the session took a request since the connect */
  uint8_t done_any;      /* ...and ended one: the server answers */
  uint8_t in_read;       /* inside the session's on_read */
  uint8_t ended_in_read; /* ...which ended a request (counts if it works) */
  uint8_t preface;       /* the session is not ready: its preface awaits a
                            reply (ABI 1.6 session_ready) */
  char *fail_reason;     /* owned: the plugin's conn_fail, to act on */
  rl_conn *next_flush;
  uint32_t max_concurrent;
  uint32_t inflight;             /* accepted by the session, not yet done */
  rl_request *in_head, *in_tail; /* those, oldest first (their deadlines) */
  /* Of those, how many have a timeout of their own (timeout_ns): while
   * any has, the oldest is not always the first to time out. */
  uint32_t own_timeouts;
  uint64_t unlinked; /* how many left the list: a cancel ended one */
  ev_io io;
  ev_timer timer; /* connect timeout, then request timeout */
  SSL *ssl;
  SSL_SESSION *resume;         /* last TLS session, to resume on reconnect */
  void *session;               /* the plugin's, between session_new and _del */
  rl_request *q_head, *q_tail; /* waiting for the session */
  uint8_t *wbuf;
  size_t wlen, woff, wcap;
  rl__backoff backoff; /* failed attempts in a row */
  uint64_t attempt_ns; /* when the last connect attempt started */
  uint64_t retry_ns;   /* no attempt before this (monotonic ns) */
  uint64_t rng;        /* the backoff's jitter */
};

/* Initialises an idle connection in caller-owned memory; connects on the
 * first submit. `loop` and `t` must outlive it. */
void rl__conn_init(rl_conn *c, rl_loop *loop, const struct rl__target *t);

/* Queues a request (connecting first if needed). Never fails: a request
 * that cannot be carried ends in a failure event. */
void rl__conn_submit(rl_conn *c, rl_request *req);

/*
 * Closes now. In-flight requests end through the plugin's session_del with
 * `err` and `reason`; queued ones fail with `reason` (the core reports
 * them). After this the connection is idle and may be reused or freed.
 */
void rl__conn_shutdown(rl_conn *c, int err, const char *reason);

/* Writes what the connections on the loop's flush list hold (requests
 * submitted while the ready users ran), one send each. */
void rl__conn_flush_scheduled(rl_loop *loop);

/* Frees the write buffer when nothing waits in it (a connection whose
 * user waits long between tasks need not hold one: at 100k keep-alive
 * users it is 256 bytes each); the next write allocates it again. The
 * connection stays as it is otherwise. */
void rl__conn_trim(rl_conn *c);

/* Frees buffers and the saved TLS session; the connection must be idle. */
void rl__conn_free(rl_conn *c);

/* A request the session accepted has ended: off the connection's books
 * (host->request_done calls this before ending the request). */
void rl__conn_request_ended(rl_request *req);

/* ABI services (host->conn_write, conn_close, conn_drain, request_retry),
 * see plugin.h. */
int rl__conn_write(rl_conn *c, const void *data, size_t len);
void rl__conn_close_later(rl_conn *c);
void rl__conn_drain(rl_conn *c);
/* host->conn_fail (ABI 1.6): closes with the plugin's `reason` (copied)
 * once the current callback returns; see plugin.h. */
void rl__conn_fail_later(rl_conn *c, const char *reason);
void rl__conn_retry(rl_request *req, const char *reason);
/* host->request_move (ABI 1.5): as rl__conn_retry, but no retry. The
 * session parsed an answer (a redirect), so the connection's end is no
 * failed attempt either, also when the move comes from inside
 * session_del: no backoff before the new connection. */
void rl__conn_move(rl_request *req, const char *reason);

/* A request's owner took the messages it held (ABI 1.10): the plugin's
 * session_read_more, when a session holds req; then what it queued goes
 * out. Outside the plugin's callbacks (the user's turn). */
void rl__conn_read_more(rl_request *req);

/* Its owner gives up on req while a session holds it (a Lua task that
 * stopped iterating a stream): the plugin's session_cancel ends it with
 * `reason` (its request_done comes before this returns). Returns 0, or
 * RL_ERR_INVAL when no session holds req or the plugin cannot cancel one
 * request (it then ends as it would have). Outside the plugin's
 * callbacks. */
int rl__conn_cancel(rl_request *req, const char *reason);

#endif /* RL_CONN_H */

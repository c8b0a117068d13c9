/*
 * h2codec: a codec plugin's connection on h2session, the part the http2
 * and grpc plugins share. It owns: the host's connection and services,
 * the HTTP/2 session, which optional host members there are
 * (request_retry and conn_drain; responses), the response collectors kept
 * for reuse, and the session's life around the plugin's requests: the
 * start (preface and SETTINGS), room for one more request, the collector a
 * request asks for, the GOAWAY drain, bytes read (a broken connection ends
 * every stream with its reason), and the end. What a request carries and
 * what its outcome says stay the plugin's.
 *
 * A plugin's session struct starts with its rl__h2codec, which is the
 * h2session's session_data: rl__h2codec_write and rl__h2codec_goaway are
 * the plugin's write and on_goaway callbacks. Part of plugins/lib (hidden
 * in each plugin); one thread owns a session.
 */
#ifndef RL_H2CODEC_H
#define RL_H2CODEC_H

#include <stddef.h>
#include <stdint.h>

#include <rpcload/plugin.h>

#include "h2session.h"
#include "resp_acc.h"

typedef struct rl__h2codec {
  const rl_host *host; /* borrowed: lives until fini */
  rl_conn *conn;       /* borrowed: valid until the session ends */
  h2_session *h2;      /* owned */
  int has_retry;       /* the host offers request_retry and conn_drain */
  int has_responses;   /* the host takes responses (ABI 1.2) */
  /* While ending every stream at once (a connection error, the end): the
   * error text they fail with; borrowed for that moment. */
  const char *abort_reason;
  int plain;               /* no TLS under the connection */
  int read_ok;             /* some bytes from the server made sense */
  char hint[320];          /* abort_reason with the plain-text hint */
  rl__resp_acc *free_accs; /* collectors to reuse; owned */
  /* Set by the plugin before rl__h2codec_start: 1 makes the session
   * acknowledge DATA itself (h2_config.manual_window), so that a stream
   * can be paused (h2_session_pause: gRPC's replies an owner holds, ABI
   * 1.10); it costs a consume call per DATA chunk (~100 instructions a
   * unary gRPC call, callgrind), so HTTP/2 leaves it 0. */
  int manual_window;
} rl__h2codec;

/*
 * Starts c on host's connection conn (both borrowed, they outlive it; info
 * is session_new's, read during the call): an HTTP/2 session with `cb`
 * (write and on_goaway should be this file's; c is the session_data) and
 * stream areas of stream_size bytes, its preface and SETTINGS written.
 * Returns 0, or an RL_ERR_* code with nothing kept.
 */
int rl__h2codec_start(rl__h2codec *c, const rl_host *host, rl_conn *conn,
                      const rl_conn_info *info, const h2_callbacks *cb,
                      size_t stream_size);

/* h2session's write callback: the bytes go to host->conn_write. */
int rl__h2codec_write(void *session_data, const uint8_t *data, size_t len);

/* h2session's on_goaway callback: the server starts no new stream, so the
 * host stops handing requests over (conn_drain) before the ones the
 * server never processed come back (request_retry). */
void rl__h2codec_goaway(void *session_data, uint32_t error_code,
                        int32_t last_stream_id);

/* Whether one more request may start: 0, RL_ERR_CLOSED once the
 * connection is going away, RL_ERR_BUSY at the server's stream limit (up
 * to cap_before_settings until its SETTINGS came). */
int rl__h2codec_admit(const rl__h2codec *c, uint32_t cap_before_settings);

/* Asks the host, once per request, which parts of req's response it
 * will read (rl__resp_parts): *acc is then a collector of those parts
 * (the caller's until the stream ends or rl__h2codec_submitted takes it
 * back), else NULL. 0 or RL_ERR_NOMEM. */
int rl__h2codec_collector(rl__h2codec *c, rl_request *req, rl__resp_acc **acc);

/* After a submit that returned rc: refused, the collector comes back (the
 * stream never was); accepted, a connection whose last stream id is spent
 * is drained. Returns rc. */
int rl__h2codec_submitted(rl__h2codec *c, int rc, rl__resp_acc *acc);

/* Bytes from the server (borrowed). On a connection error every stream
 * still open ends here with the precise reason, and RL_ERR_PROTO tells the
 * host to close. When the server's very first bytes on a plain connection
 * are not HTTP/2, the reason asks "(does it want TLS?)", as the core and
 * the reflection client do. */
int rl__h2codec_read(rl__h2codec *c, const uint8_t *data, size_t len);

/* 1 when the connection closed (err RL_ERR_CLOSED) after a GOAWAY with an
 * error code, which goes to *code: the reason the streams fail with. */
int rl__h2codec_goaway_error(const rl__h2codec *c, int err, uint32_t *code);

/* Ends c: every stream still open ends with `reason` (borrowed for the
 * call), the session and the collectors are freed. */
void rl__h2codec_end(rl__h2codec *c, const char *reason);

/* A body's release (h2_body.release) for one malloc'd by the plugin. */
void rl__h2codec_free_body(void *body);

#endif /* RL_H2CODEC_H */

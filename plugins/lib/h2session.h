/*
 * h2session: an HTTP/2 client session over memory, for codec plugins.
 *
 * It wraps one nghttp2 client session and does no I/O: bytes the server
 * sent go in with h2_session_recv(), and every byte nghttp2 wants to send
 * leaves through the write callback (the plugin passes it on with
 * host->conn_write). The http2 plugin is built on it, and the gRPC plugin
 * and its reflection client reuse it (gRPC is HTTP/2 plus message framing
 * and trailers), so it knows nothing of steps or stats: it carries
 * requests as a header list and a body, and reports per stream what came
 * back.
 *
 * Per stream, in order: header fields (on_header) and the end of each
 * header block (on_headers_end) for informational 1xx responses, the
 * response and trailers; DATA payload (on_data); then exactly one on_end.
 * on_end comes as soon as the outcome is known: when the server ends its
 * side (END_STREAM), even if the request body is still being sent; when the
 * stream is reset; when a GOAWAY says the server never processed it; or
 * when the session is deleted. After on_end returns, no callback names
 * that stream again.
 *
 * Header field values reach the owner as the server sent them, blanks at
 * their ends included (RFC 9113 forbids those and nghttp2 would reset the
 * stream; servers send them, e.g. in a grpc-message).
 *
 * Flow control is nghttp2's: request bodies are sent as the server's
 * windows allow (a streamed body is pulled from its owner only then, so
 * a server that reads slowly holds the owner back, not a queue here), and
 * received DATA is acknowledged (WINDOW_UPDATE) as it is read. The session
 * announces its windows in its first SETTINGS.
 *
 * Re-entrancy: the on_* callbacks are made from h2_session_recv(),
 * h2_session_abort() and h2_session_del() only, never from
 * h2_session_submit() (the codec ABI forbids a request event from inside
 * session_submit): an outcome that nghttp2 decides while a submit is
 * sending is held and reported by the next h2_session_recv() or
 * h2_session_del(). write and a body's release may come from any call
 * that sends.
 *
 * One thread owns a session; nothing here locks. Errors are RL_ERR_* codes.
 */
#ifndef RL_H2SESSION_H
#define RL_H2SESSION_H

#include <stddef.h>
#include <stdint.h>

#include <nghttp2/nghttp2.h>

typedef struct h2_session h2_session;

/* Which header block a header field belongs to. */
enum h2_block {
  H2_BLOCK_INFORMATIONAL = 1, /* a 1xx response (100 Continue, 103) */
  H2_BLOCK_RESPONSE = 2,      /* the final response's headers */
  H2_BLOCK_TRAILERS = 3       /* header fields after the body */
};

/* How a stream ended, for its owner. */
enum h2_end {
  /* The server ended its side (END_STREAM): the response is whole. */
  H2_END_COMPLETE = 0,
  /* The server reset the stream (RST_STREAM); error_code is its code. */
  H2_END_RESET,
  /* The stream closed before the response ended without a reset from the
   * server: nghttp2 reset it because the response broke the protocol
   * (error_code says how, e.g. PROTOCOL_ERROR). */
  H2_END_ERROR,
  /* A GOAWAY's last stream id is below this stream's: the server never
   * processed it, so it is safe to send again. error_code is the
   * GOAWAY's. */
  H2_END_UNPROCESSED,
  /* The session ended (h2_session_del or h2_session_abort) with the stream
   * open; error_code is 0. */
  H2_END_ABORTED,
  /* The owner cancelled it (h2_session_cancel): RST_STREAM(CANCEL) went to
   * the server; error_code is CANCEL. */
  H2_END_CANCELLED
};

/*
 * What the session tells its owner. `session_data` is the pointer given to
 * h2_session_new(); `stream_data` is the stream's own area (see
 * h2_config.stream_data_size), valid until on_end returns. Every pointer
 * argument is borrowed for the call only. Members other than write and
 * on_end may be NULL.
 */
typedef struct h2_callbacks {
  /* Bytes to send, in order. Returns 0 or a negative RL_ERR_* code (the
   * connection is gone). */
  int (*write)(void *session_data, const uint8_t *data, size_t len);
  /* One header field. Pseudo-header fields (":status") come first. */
  void (*on_header)(void *stream_data, enum h2_block block, const uint8_t *name,
                    size_t name_len, const uint8_t *value, size_t value_len);
  /* A header block ended; `status` is its :status (0 for trailers). */
  void (*on_headers_end)(void *stream_data, enum h2_block block, int status);
  /* DATA payload (padding excluded). */
  void (*on_data)(void *stream_data, const uint8_t *data, size_t len);
  /* The stream's outcome: exactly once per stream h2_session_submit()
   * accepted. */
  void (*on_end)(void *stream_data, enum h2_end how, uint32_t error_code);
  /* The server sent GOAWAY: no new stream may start on this session.
   * Called before the on_end(H2_END_UNPROCESSED) of the streams above
   * last_stream_id, so the owner can stop submitting first. May come
   * twice (a graceful shutdown announces, then names the last stream). */
  void (*on_goaway)(void *session_data, uint32_t error_code,
                    int32_t last_stream_id);
  /* A streamed request body's next bytes (h2_body.stream): copies at most
   * `len` into `buf` and returns how many, setting *eof with the last of
   * them (or alone) when the body is over. 0 without eof: nothing is
   * ready, the stream waits for h2_session_resume(). Called whenever
   * flow control lets the stream send, from any h2_session_* call that
   * sends, h2_session_submit() included; never after the stream's on_end.
   * Required for a streamed body. */
  size_t (*on_send)(void *stream_data, uint8_t *buf, size_t len, int *eof);
  /* A submit failed after the stream's area was made and maybe used by
   * on_send: the owner frees what the area holds. No on_end follows. */
  void (*on_drop)(void *stream_data);
} h2_callbacks;

/* Session settings; zero members take the defaults shown. */
typedef struct h2_config {
  /* SETTINGS_INITIAL_WINDOW_SIZE announced: how much of each response
   * body the server may send before we acknowledge it. Default 1 MiB. */
  uint32_t stream_window;
  /* The connection's receive window, raised at once with a
   * WINDOW_UPDATE (the protocol starts it at 64 KiB, which would throttle
   * every large or concurrent response). Default 16 MiB. */
  uint32_t conn_window;
  /* Bytes of per-stream owner data the session keeps for each stream
   * (the `stream_data` area). */
  size_t stream_data_size;
  /* 1: received DATA is acknowledged by the session itself as it is read
   * (nghttp2's no_auto_window_update with a consume per chunk), so that
   * h2_session_pause can hold one stream's back. */
  int manual_window;
} h2_config;

/* A request body. `data` is borrowed until the session is done sending
 * it, which may be after on_end (a server may answer before reading the
 * whole body): then `release(release_arg)` is called, if set, once, from
 * any h2_session_* call including h2_session_del(). NULL or len 0: no
 * body (END_STREAM goes with the headers). */
typedef struct h2_body {
  const uint8_t *data;
  size_t len;
  void (*release)(void *release_arg);
  void *release_arg;
  /* 1: no fixed bytes (data, len and release unused): the owner's on_send
   * gives them as it has them and as flow control lets them go (a gRPC
   * stream's messages), until it says eof. */
  int stream;
} h2_body;

/*
 * Creates a session and queues the client preface, our SETTINGS (no server
 * push, the stream window) and the connection WINDOW_UPDATE; call
 * h2_session_flush() to send them. `cb` is copied; `session_data` is
 * borrowed and must outlive the session; `config` is read during the call
 * (NULL: defaults). On 0 the caller owns *out until h2_session_del().
 * Returns 0 or RL_ERR_NOMEM / RL_ERR_INVAL.
 */
int h2_session_new(const h2_callbacks *cb, void *session_data,
                   const h2_config *config, h2_session **out);

/*
 * Starts a request: `nva` (copied, except what its flags mark NO_COPY,
 * which must then outlive the session) and `body`, sent as fast as flow
 * control allows, and writes what can be sent now. `stream_init`
 * (stream_data_size bytes, or NULL for zeroes) is copied into the new
 * stream's area, which is then what callbacks receive; *stream_data (if
 * not NULL) gets its address. On 0 the session owes exactly one on_end
 * for it, never from inside this call. On error nothing is kept and no
 * callback will name the request: RL_ERR_CLOSED (GOAWAY received, no
 * stream ids left, or the write failed), RL_ERR_NOMEM, RL_ERR_PROTO.
 */
int h2_session_submit(h2_session *s, const nghttp2_nv *nva, size_t nvlen,
                      const h2_body *body, const void *stream_init,
                      void **stream_data);

/*
 * Feeds bytes the server sent (borrowed for the call), then writes what
 * nghttp2 has to send in reply (SETTINGS and PING acknowledgements,
 * WINDOW_UPDATE, more request body). Callbacks run from here. Returns 0,
 * or RL_ERR_PROTO when the connection failed (the server broke the
 * protocol, or we closed it with a GOAWAY: h2_session_error() says why;
 * streams still open are reported by h2_session_abort/_del), or
 * RL_ERR_NOMEM, or the write callback's error.
 */
int h2_session_recv(h2_session *s, const uint8_t *data, size_t len);

/* Writes whatever nghttp2 has queued. Returns 0 or an RL_ERR_* code. */
int h2_session_flush(h2_session *s);

/* How many streams the server lets us open at once: its
 * SETTINGS_MAX_CONCURRENT_STREAMS once its SETTINGS arrived; before that,
 * at most `cap_before_settings`, since the protocol's default is
 * unlimited and a flood of streams could be refused. */
uint32_t h2_session_max_concurrent(const h2_session *s,
                                   uint32_t cap_before_settings);

/*
 * A session made with manual_window: pause 1 stops acknowledging the
 * DATA of the stream whose area is `area` from the chunk being read on
 * (the connection's window is still given back, so other streams go
 * on): the server may send at most the stream's window more. Pause 0
 * acknowledges what was held and sends the WINDOW_UPDATE (outside a
 * recv). Returns 0, or RL_ERR_INVAL for a stream that has ended or a
 * session without manual_window.
 */
int h2_session_pause(h2_session *s, void *area, int pause);

/* 1 once the server's first SETTINGS frame arrived. */
int h2_session_settings_known(const h2_session *s);

/* Streams accepted whose on_end has not come yet. */
size_t h2_session_active(const h2_session *s);

/* 1 when no new stream can start: a GOAWAY came (its code in *error_code
 * if not NULL), stream ids ran out, or the connection failed. */
int h2_session_closing(const h2_session *s, uint32_t *error_code);

/* 1 once the server sent GOAWAY; its code goes to *error_code. */
int h2_session_goaway(const h2_session *s, uint32_t *error_code);

/* Why the connection failed (after h2_session_recv returned an error), as
 * one line owned by the session; "" when it did not. */
const char *h2_session_error(const h2_session *s);

/* The stream area (as given to callbacks) of the first owned stream for
 * which match(area, arg) returns non-zero, or NULL. A linear walk: for
 * rare events such as a timeout. */
void *h2_session_find(h2_session *s, int (*match)(void *area, void *arg),
                      void *arg);

/*
 * Cancels one owned stream: RST_STREAM(CANCEL) is queued (and written with
 * what else is pending) and on_end(H2_END_CANCELLED) is called before this
 * returns, unless inside a submit (then held, as always). Returns 0, or
 * RL_ERR_INVAL when `area` is no stream the owner still waits for.
 */
int h2_session_cancel(h2_session *s, void *area);

/* Sends a PING (keepalive): written now, unless inside h2_session_recv's
 * callbacks. Returns 0 or an RL_ERR_* code. */
int h2_session_ping(h2_session *s);

/* 1 when every PING sent has been acknowledged. */
int h2_session_ping_acked(const h2_session *s);

/* A streamed body that waits (its on_send had nothing) has bytes again:
 * nghttp2 asks on_send once flow control allows, and what can go is
 * written now (inside h2_session_recv's callbacks: when it returns).
 * Returns 0, or RL_ERR_INVAL when `area` is no stream the owner still
 * waits for. */
int h2_session_resume(h2_session *s, void *area);

/* Ends every stream still owned with on_end(H2_END_ABORTED) (after first
 * reporting outcomes held back during a submit), leaving the session
 * usable only for h2_session_del(). */
void h2_session_abort(h2_session *s);

/* h2_session_abort(), then frees the session. NULL is fine. */
void h2_session_del(h2_session *s);

/* The name of an HTTP/2 error code ("REFUSED_STREAM"), or NULL when the
 * code is not one RFC 9113 defines. A static string. */
const char *h2_error_name(uint32_t code);

#endif /* RL_H2SESSION_H */

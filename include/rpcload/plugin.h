/*
 * rpcload plugin ABI: the one header a protocol plugin includes.
 *
 * A plugin is a shared object that exports one symbol, rl_plugin_entry(),
 * returning a descriptor (struct rl_plugin). The host dlopen()s the file,
 * calls the entry point, and refuses the plugin, naming the file and both
 * versions, when the descriptor's ABI major version differs from the host's
 * or the descriptor is shorter than the host needs.
 *
 * Compatibility policy (see docs/plugins.md):
 *   - RL_ABI_MAJOR changes when an existing member changes meaning, type or
 *     position. Plugins must be rebuilt.
 *   - RL_ABI_MINOR changes when members are appended at the end of a struct.
 *     Every versioned struct starts with its size, so an old plugin keeps
 *     working with a newer host (the host reads only what the plugin's size
 *     covers) and a new plugin can tell what an older host offers.
 *   - A NULL optional callback means "not implemented".
 *
 * Threading: the host runs one event loop per worker thread. Every session
 * callback for a given connection is called on that connection's worker
 * thread, never concurrently, and never re-entrantly from inside another
 * callback of the same session. Plugins must not block (no sleeping, no
 * blocking I/O, no waiting on locks held by other threads) inside session
 * callbacks. step_new/step_del and init/fini run on the main thread before
 * load starts / after it ends, and may block. One exception: a host typed
 * in the web UI for a new test is compiled then, while the load goes on,
 * so init (for a plugin not used yet) and step_new may also run on a web
 * server thread during the load, one call at a time; step_del still runs
 * after the load only. Keep what a step needs in the step.
 *
 * Errors: functions return 0 on success or a negative RL_ERR_* code. A
 * function that fails never causes its callbacks to be called for the failed
 * operation (a refused submit never produces a request event).
 */
#ifndef RPCLOAD_PLUGIN_H
#define RPCLOAD_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RL_ABI_MAJOR 1
#define RL_ABI_MINOR 10
#define RL_ABI_VERSION ((uint32_t)((RL_ABI_MAJOR << 16) | RL_ABI_MINOR))
#define RL_ABI_VERSION_MAJOR(v) ((uint32_t)(v) >> 16)
#define RL_ABI_VERSION_MINOR(v) ((uint32_t)(v)&0xffffu)

/* Name of the symbol the loader looks up. */
#define RL_PLUGIN_ENTRY_SYMBOL "rl_plugin_entry"

#if defined(__GNUC__) || defined(__clang__)
#define RL_EXPORT __attribute__((visibility("default")))
#else
#define RL_EXPORT
#endif

/* ---- Error codes ------------------------------------------------------- */

/* X(NAME, value, text): the one list of error codes. */
#define RL_ERRNO_MAP(X)                                                        \
  X(OK, 0, "success")                                                          \
  X(INVAL, -1, "invalid argument")                                             \
  X(NOMEM, -2, "out of memory")                                                \
  X(PROTO, -3, "protocol error")                                               \
  X(CLOSED, -4, "connection closed")                                           \
  X(CONNECT, -5, "connection failed")                                          \
  X(TIMEOUT, -6, "timed out")                                                  \
  X(TLS, -7, "TLS error")                                                      \
  X(IO, -8, "I/O error")                                                       \
  X(BUSY, -9, "no capacity for another request")                               \
  X(CANCELLED, -10, "cancelled")                                               \
  X(UNSUPPORTED, -11, "not supported")                                         \
  X(ABI, -12, "plugin ABI mismatch")                                           \
  X(NOTFOUND, -13, "not found")

enum rl_error {
#define RL__ERR_ENUM(name, value, text) RL_ERR_##name = (value),
  RL_ERRNO_MAP(RL__ERR_ENUM)
#undef RL__ERR_ENUM
};

/* Text for an RL_ERR_* code; a static string, never NULL. */
static inline const char *rl_strerror(int err) {
  switch (err) {
#define RL__ERR_TEXT(name, value, text)                                        \
  case (value):                                                                \
    return text;
    RL_ERRNO_MAP(RL__ERR_TEXT)
#undef RL__ERR_TEXT
  default:
    return "unknown error";
  }
}

/* Symbolic name ("TIMEOUT") for an RL_ERR_* code; a static string. */
static inline const char *rl_err_name(int err) {
  switch (err) {
#define RL__ERR_NAME(name, value, text)                                        \
  case (value):                                                                \
    return #name;
    RL_ERRNO_MAP(RL__ERR_NAME)
#undef RL__ERR_NAME
  default:
    return "UNKNOWN";
  }
}

/* ---- Opaque handles ---------------------------------------------------- */

/* A connection owned by the host (socket, TLS, buffers, timers). */
typedef struct rl_conn rl_conn;
/* One request in flight, owned by the host from start to request_done(). */
typedef struct rl_request rl_request;
/* A compiled request template (ABI 1.1), owned by whoever made it. */
typedef struct rl_template rl_template;
/* A worker thread's event loop, lent to transport plugins (ABI 1.1). */
typedef struct rl_loop rl_loop;
/* Watchers on a worker loop (ABI 1.1), owned by the plugin that started
 * them until it stops them. */
typedef struct rl_io rl_io;
typedef struct rl_timer rl_timer;
typedef struct rl_async rl_async;

/* Events for io watchers. */
#define RL_IO_READ 1
#define RL_IO_WRITE 2

/* ---- What a plugin reports: the request event --------------------------- */

/*
 * The outcome of one request. Passed to host->request_done(); the host copies
 * what it keeps during the call, so every pointer only needs to live until
 * request_done() returns.
 */
/* A key and a value (header fields, options). */
typedef struct rl_kv {
  const char *key;
  const char *value;
} rl_kv;

/*
 * What came back for a request, for checks on it (a scenario's `expect`
 * and `capture`, ABI 1.2). A plugin hands it to host->request_response()
 * just before request_done(), and only when host->request_wants_response()
 * says so: collecting bodies costs, and most requests are never looked at.
 * Everything is borrowed for the call.
 */
typedef struct rl_response {
  uint32_t struct_size; /* sizeof(rl_response) in the plugin */
  /* The protocol's status: the HTTP status code; for gRPC the status code
   * (0 OK ... 16); -1 when the protocol has none. */
  int status;
  /* Response header fields (HTTP/2 and gRPC: names lower case; trailers
   * after the headers), or NULL. */
  const rl_kv *headers;
  size_t n_headers;
  /* The payload (decoded: no chunking, no compression), or NULL. */
  const uint8_t *body;
  size_t body_len;
  /* The payload as JSON text when the plugin decoded it into JSON itself
   * (gRPC: the response message in proto3 JSON), else NULL: the host then
   * parses `body` when a JSON path asks for it. NUL-terminated. */
  const char *json;
} rl_response;

/*
 * A user's state slot (ABI 1.5, host->request_user_slot): what a plugin
 * keeps for one simulated user. The host owns the slot; the plugin owns
 * `state` until the host hands it to `del`.
 */
typedef struct rl_user_slot {
  void *state;              /* the plugin's; NULL until it stores one */
  void (*del)(void *state); /* frees `state`: set together with it */
} rl_user_slot;

typedef struct rl_result {
  const char *type; /* stats type, e.g. "GET", "grpc", "redis"; required */
  const char *name; /* stats name (grouping key); required */
  /* The size of the response, for the stats' average size (Locust's
   * avg_content_length, len(response.content)): what the protocol's user
   * gets back. HTTP: the body, after de-chunking; gRPC: the messages,
   * decompressed, without their 5-byte prefixes. A protocol with no
   * header/body split (Redis, memcached): the whole reply as it came,
   * its framing included, since the framing is the reply. Never a
   * connection preface or another request's bytes; 0 when nothing came
   * back. */
  uint64_t response_bytes;
  const char *error; /* NULL on success, else why it failed */
} rl_result;

enum rl_log_level {
  RL_LOG_ERROR = 0,
  RL_LOG_WARN = 1,
  RL_LOG_INFO = 2,
  RL_LOG_DEBUG = 3
};

/*
 * Services the host offers a plugin. The host owns this table; its address
 * stays valid from init() until fini(). Check struct_size before using a
 * member appended after ABI 1.0.
 */
typedef struct rl_host {
  uint32_t abi_version; /* RL_ABI_VERSION of the host */
  uint32_t struct_size; /* sizeof(rl_host) in the host */

  /* The plugin's step object (from step_new) this request runs. */
  void *(*request_step)(const rl_request *req);

  /*
   * Fires THE request event: exactly once per request the plugin accepted
   * in session_submit(). After it returns, `req` is gone: the plugin must
   * not touch it again. The host measures the response time itself.
   */
  void (*request_done)(rl_request *req, const rl_result *result);

  /*
   * Queues bytes to send on the connection. The host copies `data`; it is
   * written as soon as the socket allows, in order. Returns 0 or
   * RL_ERR_NOMEM / RL_ERR_CLOSED.
   */
  int (*conn_write)(rl_conn *conn, const void *data, size_t len);

  /*
   * Asks the host to close the connection once the current callback
   * returns (e.g. after "Connection: close"). The host then calls
   * session_del(); requests the host had not yet handed to the session are
   * retried on a new connection.
   */
  void (*conn_close)(rl_conn *conn);

  /* Monotonic clock in nanoseconds. */
  uint64_t (*now_ns)(void);

  /* printf-style log line to rpcload's log (stderr, "rpcload: " prefix). */
  void (*log)(int level, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
      __attribute__((format(printf, 2, 3)))
#endif
      ;

  /* ---- ABI 1.1 ---------------------------------------------------------
   * Request templates: text with {{...}} expressions (user_id, seq, uuid,
   * timestamp, timestamp_ms, random_int A B, random_string N) expanded per
   * request. Compile in step_new, expand in session_submit. */

  /*
   * Compiles `len` bytes of `text`. Returns 0 and *out (the plugin owns it
   * until template_del), or RL_ERR_INVAL with a reason naming the column in
   * err, or RL_ERR_NOMEM.
   */
  int (*template_new)(const char *text, size_t len, rl_template **out,
                      char *err, size_t errlen);
  /* Frees a template; NULL is fine. */
  void (*template_del)(rl_template *t);
  /* 1 when the text has no {{...}}: expansion is then the text itself. */
  int (*template_is_constant)(const rl_template *t);
  /*
   * Expands for `req` (its user's id, request number and random state).
   * The result (not NUL-terminated, *len bytes) lives in a buffer of the
   * calling thread until that thread's next template_expand. NULL on
   * allocation failure.
   */
  const char *(*template_expand)(const rl_template *t, rl_request *req,
                                 size_t *len);

  /* ---- ABI 1.1: the worker loop, for transport plugins ------------------
   * All of these are called on the loop's own thread (async_send excepted)
   * and their callbacks run there. A watcher belongs to the plugin from
   * start until stop; stopping frees it, also from inside its callback. */

  /* Watches `fd` for `events` (RL_IO_READ | RL_IO_WRITE); cb gets the
   * events that fired. NULL on allocation failure. */
  rl_io *(*io_start)(rl_loop *loop, int fd, int events,
                     void (*cb)(rl_io *io, int events, void *arg), void *arg);
  /* Changes the events watched. */
  void (*io_set)(rl_io *io, int events);
  void (*io_stop)(rl_io *io);

  /* Calls cb once after `after_ns`. NULL on allocation failure. */
  rl_timer *(*timer_start)(rl_loop *loop, uint64_t after_ns,
                           void (*cb)(rl_timer *t, void *arg), void *arg);
  /* Stops a timer that has not fired. Once its callback has returned the
   * timer is gone; stopping it from inside its own callback is allowed and
   * does nothing. */
  void (*timer_stop)(rl_timer *t);

  /* A wakeup other threads may send (e.g. a client library's own threads
   * handing back completions): cb runs on the loop's thread. */
  rl_async *(*async_new)(rl_loop *loop, void (*cb)(rl_async *a, void *arg),
                         void *arg);
  /* Thread-safe; wakeups sent before cb ran may merge into one call. */
  void (*async_send)(rl_async *a);
  void (*async_del)(rl_async *a);

  /* The id (1-based) of the user a request belongs to, so a transport can
   * keep per-user state (Locust: one client per user). */
  uint64_t (*request_user_id)(const rl_request *req);

  /*
   * Hands a request the session accepted back to the host, unanswered, to
   * be sent again on a new connection (HTTP/2 GOAWAY: streams above the
   * last stream id were never processed). Counts as the request's end for
   * the session: it must not report it afterwards. It also drains the
   * connection (as conn_drain), since a request is only handed back when
   * this connection cannot carry it. The host retries a request once; a
   * second hand-back fails it with `reason` and " (again after one
   * retry)".
   */
  void (*request_retry)(rl_request *req, const char *reason);

  /*
   * The connection takes no new requests (GOAWAY received, or the server
   * said it will close): the host stops handing requests to the session
   * and closes the connection, calling session_del(RL_ERR_CLOSED), once
   * the session holds none. New requests go to a new connection.
   */
  void (*conn_drain)(rl_conn *conn);

  /* ---- ABI 1.2: responses, for scenario checks --------------------------
   * 1 when the host will look at `req`'s response: collect it and hand it
   * over with request_response() before request_done(). 0: don't bother.
   * From ABI 1.8, request_response_parts (below) says which parts. */
  int (*request_wants_response)(const rl_request *req);
  /* What came back for `req` (borrowed for the call; the host copies what
   * it keeps). At most once per request, just before request_done(req);
   * not called when no response arrived (connection error, reset). */
  void (*request_response)(rl_request *req, const rl_response *resp);

  /* ---- ABI 1.4: requests that go on (streams) and a codec's timers ----- */

  /*
   * Records one event of a request still in flight, without ending it: a
   * message of a gRPC stream, under its own stats row (`result`'s type and
   * name, e.g. "grpc", "/pkg.Svc/Chat [recv]"), failed when result->error
   * is set. Its time is now minus `since_ns` (a host->now_ns() reading,
   * e.g. the previous message's); since_ns 0 counts from the request's
   * start, as its response time does. Any number of times from the
   * submit that accepted the request (also from inside session_submit: it
   * only records) until its request_done, never after. The result is
   * borrowed for the call. The request's own event is still
   * request_done's, exactly once.
   */
  void (*request_event)(rl_request *req, const rl_result *result,
                        uint64_t since_ns);
  /* The worker loop `conn` runs on, for a codec plugin's timers
   * (timer_start: a stream's message interval, keepalive pings). Valid as
   * long as the connection is. */
  rl_loop *(*conn_loop)(rl_conn *conn);

  /* ---- ABI 1.5: state per user, and requests that move ------------------ */

  /*
   * The slot named `key` of req's user, made on first use: what a plugin
   * keeps for a simulated user rather than for a connection (Locust gives
   * each user one HTTP session, whose cookie jar outlives connections; and
   * with --connections, users share connections). slot->state starts
   * NULL; a plugin that stores a state sets slot->del with it. The host
   * calls del(state) on the user's worker thread when the user stops (and
   * again, for a state stored after that, when the user is freed), so a
   * plugin fetches the slot anew in each callback instead of keeping the
   * state's address. Plugins naming the same key share the slot and must
   * agree on what it holds (rpcload's http1 and http2 share
   * "rpcload.http.v1"): name keys after the plugin. The slot is the
   * host's; NULL when out of memory. On req's worker thread only.
   */
  rl_user_slot *(*request_user_slot)(rl_request *req, const char *key);
  /*
   * Moves a request the session holds to a new connection to the same
   * endpoint, because its next part cannot go on this one (an HTTP
   * redirect answered with "Connection: close"). As request_retry: the
   * session is done with it, the connection drains, and the host submits
   * the same request again once a new connection is up (the plugin knows
   * it by what it stored for the user); but it is no retry and is not
   * counted as one: the plugin bounds how often a request moves. A
   * request that cannot move (the run is being cut) fails with `reason`.
   */
  void (*request_move)(rl_request *req, const char *reason);
  /*
   * The request's number among its user's requests (1, 2, ...: what
   * {{seq}} expands to). A user reuses one request object, so with the
   * slot this tells the request a plugin stored state for (a moved one)
   * from the user's next.
   */
  uint64_t (*request_seq)(const rl_request *req);

  /* ---- ABI 1.6: connections set up per step, and refusals with reasons -- */

  /*
   * The step object (from step_new) whose settings `conn` was set up
   * with, for session_new: per-connection settings (AUTH, a database,
   * a pipeline depth) live in the step, not in process-wide globals. A
   * connection carries only steps whose step_conn_key (see rl_plugin)
   * is equal, so any of them would give the same settings. Borrowed: it
   * lives until step_del, after every session. On conn's worker thread.
   */
  void *(*conn_step)(const rl_conn *conn);
  /*
   * The connection failed for the plugin's own reason (copied): a preface
   * the server refused ("AUTH failed: WRONGPASS ..."), bytes nobody asked
   * for. Once the current callback returns, the host closes it, calling
   * session_del(RL_ERR_PROTO, reason); requests still waiting for the
   * session fail with `reason` too (not re-sent), and the next connection
   * waits out the backoff like any failed attempt. A session_on_read that
   * calls it may return its negative code: the reason given here is the
   * one shown.
   */
  void (*conn_fail)(rl_conn *conn, const char *reason);
  /*
   * From inside session_submit or transport_submit, just before it
   * returns a negative code: the request fails with `reason` (copied)
   * instead of the host's generic "NAME refused the request: CODE".
   * Name the problem, not the plugin ("key longer than 250 bytes after
   * expansion"): the stats type already says which protocol it is.
   * Ignored at any other time.
   */
  void (*request_refuse)(rl_request *req, const char *reason);

  /* ---- ABI 1.6: templates a plugin encodes once ------------------------ */

  /*
   * template_new for text that starts at 1-based column `column` of what
   * the user wrote (a --call argument at column 5): the error's column
   * points into the user's whole argument, not into the piece. 0 counts
   * as 1.
   */
  int (*template_new_at)(const char *text, size_t len, size_t column,
                         rl_template **out, char *err, size_t errlen);
  /*
   * The text `t` was compiled from, NUL-terminated (*len its length when
   * len is not NULL), owned by t. For a constant template
   * (template_is_constant) it is the expansion, known in step_new with no
   * request: encode it there once.
   */
  const char *(*template_text)(const rl_template *t, size_t *len);

  /* ---- ABI 1.7: header fields a request adds to its step's ------------- */

  /*
   * The extra header fields (gRPC: metadata) this one request sends
   * besides its step's, in order, with *n their count (0 and NULL: none;
   * most requests have none). A class written in C (or Lua) gives them
   * per send (rl_send_opts.headers in <rpcload/user.h>); a scenario's
   * steps never do. Each key is a field name (not checked: a plugin
   * refuses a request whose name is not a token or whose value holds a
   * control character, with host->request_refuse), each value its text.
   * A field of the same name (ASCII case-insensitive) as one of the
   * step's replaces it. Borrowed until request_done (or request_retry,
   * request_move: the re-sent request has them again); on the request's
   * worker thread. A plugin that ignores them keeps working: the request
   * goes without them.
   */
  const rl_kv *(*request_headers)(const rl_request *req, size_t *n);

  /* ---- ABI 1.8: which parts of a response the host will read ----------- */

  /*
   * Finer than request_wants_response: the RL_RESPONSE_* bits of what the
   * host will read of `req`'s response; 0: nothing (as wants_response's
   * 0). A plugin that calls it collects only those parts before handing
   * the response over with request_response: without
   * RL_RESPONSE_HEADERS, no header fields (headers NULL, n_headers 0: a
   * class's done sees the status and the body, never the fields, so
   * copying them for it was wasted); without RL_RESPONSE_BODY, no
   * payload (nor its JSON). The status is always handed over. Asked once
   * per request, where wants_response would be; a plugin that still asks
   * request_wants_response gets 1 for any part, and collects all (it
   * keeps working, at its old cost).
   */
  unsigned (*request_response_parts)(const rl_request *req);

  /* ---- ABI 1.10: a stream's messages to the request's owner as they come */

  /*
   * 1 when the owner of `req` takes its response messages one by one,
   * while the call goes on (a Lua task iterating a gRPC server stream's
   * replies: u.grpc:stream), each handed over with request_message as it
   * arrives; 0 (most requests): don't. Asked once, at the submit.
   */
  int (*request_wants_messages)(const rl_request *req);
  /*
   * One response message of `req`, still in flight, to its owner: `json`
   * (len bytes, NUL-terminated, borrowed for the call) the message in the
   * protocol's JSON (gRPC: proto3's). Called in the messages' order,
   * before request_done. Returns 0, or 1 when the owner holds enough
   * messages it has not taken yet: the plugin then stops acknowledging
   * the call's data (HTTP/2: no WINDOW_UPDATE for the stream), so the
   * server sends at most a window more, until the host calls the
   * descriptor's session_read_more for `req`. Messages that arrive while
   * the plugin holds are still handed over (they are within the window).
   */
  int (*request_message)(rl_request *req, const char *json, size_t len);
} rl_host;

/* The parts request_response_parts (ABI 1.8) names. */
#define RL_RESPONSE_STATUS 1u
#define RL_RESPONSE_HEADERS 2u
#define RL_RESPONSE_BODY 4u
#define RL_RESPONSE_ALL                                                        \
  (RL_RESPONSE_STATUS | RL_RESPONSE_HEADERS | RL_RESPONSE_BODY)

/* True when `host` (an rl_host *) has member `m`, e.g.
 * RL_HOST_HAS(host, template_expand): members appended in a later minor
 * are missing from an older host's table. */
#define RL_HOST_HAS(host, m)                                                   \
  ((host)->struct_size >= offsetof(rl_host, m) + sizeof((host)->m))
#define RL_HOST_HAS_TEMPLATES(host) RL_HOST_HAS(host, template_expand)
#define RL_HOST_HAS_LOOP(host) RL_HOST_HAS(host, request_user_id)
#define RL_HOST_HAS_RESPONSES(host) RL_HOST_HAS(host, request_response)
#define RL_HOST_HAS_STREAMS(host) RL_HOST_HAS(host, conn_loop)
#define RL_HOST_HAS_USER_STATE(host) RL_HOST_HAS(host, request_seq)
#define RL_HOST_HAS_CONN_STEP(host) RL_HOST_HAS(host, request_refuse)
#define RL_HOST_HAS_TEMPLATE_TEXT(host) RL_HOST_HAS(host, template_text)
#define RL_HOST_HAS_REQUEST_HEADERS(host) RL_HOST_HAS(host, request_headers)
#define RL_HOST_HAS_RESPONSE_PARTS(host)                                       \
  RL_HOST_HAS(host, request_response_parts)
#define RL_HOST_HAS_MESSAGES(host) RL_HOST_HAS(host, request_message)

/* ---- What a plugin is given: a step ------------------------------------ */

/*
 * One request as configured by the user (command line or scenario step),
 * with the target already split by the host. Everything here lives only
 * during step_new(): copy what you keep.
 */
typedef struct rl_step_spec {
  uint32_t struct_size; /* sizeof(rl_step_spec) in the host */
  const char *url;      /* target as the user wrote it */
  const char *scheme;   /* lower case, e.g. "https" */
  const char *host;     /* name or address literal, no brackets */
  uint16_t port;
  int tls;              /* 1 if the connection uses TLS */
  const char *path;     /* path and query, "/" when the URL has none */
  const char *method;   /* -X, or NULL when not given */
  const rl_kv *headers; /* -H, in order given, split: key is the name and
                           value the value with surrounding blanks trimmed */
  size_t n_headers;
  const uint8_t *body; /* -d, or NULL */
  size_t body_len;
  const char *name;     /* --name, or NULL */
  const rl_kv *options; /* plugin-specific options, or NULL: --call X
                           arrives as ("call", X), -O k=v as ("k", v);
                           refuse those you do not know */
  size_t n_options;

  /* ---- ABI 1.2: what the run asks of every request, for protocols that
   * carry it themselves (gRPC sends the timeout as grpc-timeout) or that
   * must reach the server before the run starts (gRPC reflection). Read
   * them only when struct_size covers them. ---- */
  uint64_t timeout_ns;         /* --timeout; 0: none */
  uint64_t connect_timeout_ns; /* --connect-timeout */
  const char *tls_cacert;      /* --cacert FILE, or NULL: system CAs */
  const char *tls_cert;        /* --cert FILE, or NULL */
  const char *tls_key;         /* --key FILE, or NULL: the key is in cert */
  int tls_insecure;            /* --insecure: do not verify the server */
  /* 1: the step is made only to be listed (`rpcload --list`), never run:
   * step_new must not insist on what only a run needs (gRPC's --call). */
  int list_only;

  /* ---- ABI 1.3: read only when struct_size covers it. ---- */
  /* The media type of the body when a scenario gave it as JSON (`json:`,
   * `data:` as a mapping): "application/json"; NULL otherwise. A protocol
   * that labels bodies (HTTP's content-type) labels it so, unless a header
   * the user gave does. */
  const char *body_type;

  /* ---- ABI 1.4: read only when struct_size covers it. ---- */
  /* --cname: the name TLS sends (SNI) and checks the server's certificate
   * against, instead of `host`; NULL: the host. For a plugin that makes
   * its own TLS connection (gRPC reflection before the run). */
  const char *tls_server_name;
} rl_step_spec;

/* What a transport plugin is told about its target (ABI 1.1). */
typedef struct rl_transport_info {
  uint32_t struct_size;
  const char *host; /* as in the step spec */
  uint16_t port;
  int tls;
  const void *addr; /* resolved address (struct sockaddr *) */
  uint32_t addrlen;
  uint64_t connect_timeout_ns; /* the user's --connect-timeout */
  uint64_t request_timeout_ns; /* the user's --timeout */
} rl_transport_info;

/* What the host knows about an established connection. */
typedef struct rl_conn_info {
  uint32_t struct_size;
  const char *alpn; /* protocol negotiated by TLS ALPN, or NULL */
  const char *host; /* as in the step spec */
  uint16_t port;
  int tls;
} rl_conn_info;

/* A URL scheme a plugin serves. Arrays end with a {NULL, 0, 0} member. */
typedef struct rl_scheme {
  const char *name;      /* "http" */
  uint16_t default_port; /* 80; 0: the URL must give a port */
  uint8_t tls;           /* 1 if the scheme implies TLS */
} rl_scheme;

/* ---- ABI 1.3: what a plugin tells the scenario compiler ---------------- */

/* How a scenario step's value is read: `http: GET /items`,
 * `grpc: pkg.Svc/Method`, `redis: GET k`. */
enum rl_step_value {
  /* The value is the call, as `--call`: it arrives as the option
   * ("call", value). */
  RL_STEP_VALUE_CALL = 0,
  /* "[METHOD ]path" or "[METHOD ]URL": the method as `-X`; a path goes
   * onto the step's host, a whole URL replaces it (HTTP). */
  RL_STEP_VALUE_REQUEST = 1,
};

/* What a step option given as its own YAML key holds. */
enum rl_option_kind {
  RL_OPTION_TEXT = 0, /* a scalar, as written (templates are the plugin's) */
  RL_OPTION_FILE,     /* a file name, relative to the scenario's folder */
  RL_OPTION_FILES,    /* one file name or a list: an option per file */
  RL_OPTION_MAP,      /* a mapping: one option holding it as JSON text */
};

/* A plugin option a scenario step may give as a YAML key of its own
 * (`proto: hello.proto`); it arrives in step_new as the option (key,
 * value). Arrays end with a {NULL, 0, NULL} member. */
typedef struct rl_option_decl {
  const char *key;     /* the YAML key, and the option's name */
  uint32_t kind;       /* enum rl_option_kind */
  const char *summary; /* one line, for error messages and listings */
} rl_option_decl;

enum rl_plugin_kind {
  /* The host owns sockets and TLS; the plugin turns requests into bytes
   * and bytes into completions through the session callbacks. */
  RL_PLUGIN_CODEC = 1,
  /* The plugin does its own I/O on the worker's loop, with the host's
   * io/timer/async services (ABI 1.1): for datagram protocols, or a client
   * library that owns its sockets. */
  RL_PLUGIN_TRANSPORT = 2
};

/*
 * The descriptor. It only ever grows at its end. Members marked required
 * must be set; the rest may be NULL.
 */
typedef struct rl_plugin {
  uint32_t abi_version;     /* required: RL_ABI_VERSION */
  uint32_t struct_size;     /* required: sizeof(rl_plugin) */
  const char *name;         /* required: short name, e.g. "http1" */
  const char *version;      /* required: the plugin's own version */
  const char *summary;      /* one line for `rpcload --plugins` */
  const rl_scheme *schemes; /* required: URL schemes served */
  const char *const *alpn;  /* TLS ALPN ids offered, NULL-terminated */
  uint32_t kind;            /* required: enum rl_plugin_kind */

  /* Process-wide set-up, before the plugin's first step_new() and on the
   * same thread (see Threading above). The host table outlives the
   * plugin's use of it. */
  int (*init)(const rl_host *host);
  /* Process-wide tear-down, after every step and session is gone. */
  void (*fini)(void);

  /*
   * Required. Compiles a request spec into the plugin's step object
   * (pre-encoded bytes, parsed options). On failure returns a negative code
   * and writes a one-line reason into err (NUL-terminated, at most errlen
   * bytes); the host shows it as "NAME: reason", so leave your name out. The plugin owns *step until step_del().
   */
  int (*step_new)(const rl_host *host, const rl_step_spec *spec, void **step,
                  char *err, size_t errlen);
  /* Required. Frees a step object. Called after every session and
   * transport that ran it is gone, so sessions may point into the step
   * (header strings, bodies) without copying. */
  void (*step_del)(void *step);

  /*
   * Required (codec). Called on the worker thread once the connection is
   * established (TCP connected and TLS handshake done). The plugin owns
   * *session until session_del(). `conn` stays valid until session_del().
   * It may queue bytes (a preface) with host->conn_write(); with ABI 1.6
   * host->conn_step(conn) tells which step's settings to use, and
   * session_ready holds requests back until the preface is answered.
   */
  int (*session_new)(const rl_host *host, rl_conn *conn,
                     const rl_conn_info *info, void **session);

  /*
   * Required (codec). Hands a request to the session. On 0 the session owns
   * the duty to call host->request_done(req) exactly once, later (never
   * from inside session_submit). On a negative code nothing is called for
   * req and the host reports the failure.
   */
  int (*session_submit)(void *session, rl_request *req);

  /*
   * Required (codec). Bytes received. `data` lives only during the call.
   * Returns 0, or a negative code for a fatal protocol error: the host then
   * closes the connection and calls session_del() with that code. The
   * plugin may end requests (request_done) before returning the error,
   * e.g. to fail the one whose response could not be parsed with a precise
   * text.
   */
  int (*session_on_read)(void *session, const uint8_t *data, size_t len);

  /*
   * Required (codec). The connection is over: closed by the peer (err ==
   * RL_ERR_CLOSED), failed (RL_ERR_IO, RL_ERR_TIMEOUT, RL_ERR_TLS,
   * RL_ERR_PROTO), asked for with conn_close(), or cut because the run is
   * stopping (RL_ERR_CANCELLED). The plugin must call request_done() once
   * for every request it still holds (completing it if the close ends its
   * response, failing it with `reason` otherwise), then free the session.
   * `reason` is a human-readable text living only during the call.
   */
  void (*session_del)(void *session, int err, const char *reason);

  /* Optional: how many requests the session takes at once (NULL: 1). The
   * host asks again whenever it has requests waiting, so the answer may
   * change (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS). */
  uint32_t (*session_max_concurrent)(void *session);

  /*
   * Required. The stats type and name this step reports by default. The
   * host uses them for failures it reports itself, for requests that never
   * reached a session (connection refused, TLS handshake failed). The
   * strings belong to the step and live until step_del().
   */
  void (*step_describe)(void *step, const char **type, const char **name);

  /* ---- ABI 1.1: the transport shape (required when kind is TRANSPORT) ---
   * Threading: transport_new, transport_submit, transport_del and every
   * watcher callback of a transport run on that transport's worker thread,
   * never concurrently with each other. Each worker thread has its own
   * transport; they share only the step (read-only). */

  /*
   * Called on each worker thread before its users start, once per step the
   * thread runs. The plugin owns *transport until transport_del(); `loop`
   * lives as long. It may start watchers on the loop.
   */
  int (*transport_new)(const rl_host *host, rl_loop *loop, void *step,
                       const rl_transport_info *info, void **transport);
  /*
   * Starts a request. Same contract as session_submit: on 0, exactly one
   * request_done(req) later (never from inside this call); on a negative
   * code, none, and the host reports the failure. The plugin owns its
   * timeouts (the info's request_timeout_ns is the user's wish).
   */
  int (*transport_submit)(void *transport, rl_request *req);
  /*
   * The worker is ending (err RL_ERR_CANCELLED, reason "stopped"): call
   * request_done() once for each request still held, stop every watcher,
   * free the transport.
   */
  void (*transport_del)(void *transport, int err, const char *reason);

  /* ---- ABI 1.1: per-request cancel (optional, codec) --------------------- */

  /*
   * The host gives up on one request the session holds (its --timeout ran
   * out) while others on the connection go on: end it now, e.g. HTTP/2
   * RST_STREAM, calling request_done(req) with `reason` as the error before
   * returning 0 (the one host call during which request_done is expected).
   * RL_ERR_INVAL if the session does not hold it. NULL: the host closes the
   * whole connection instead (right for HTTP/1.1, where nothing else is in
   * flight).
   */
  int (*session_cancel)(void *session, rl_request *req, const char *reason);

  /* ---- ABI 1.2: listing (optional) --------------------------------------- */

  /*
   * `rpcload --list`: prints what the step's target offers, for people
   * (gRPC: the services and methods with their message types), to `out`
   * (borrowed; the host's stdout). Returns 0 or a negative code. NULL: the
   * plugin has nothing to list.
   */
  int (*step_list)(void *step, FILE *out);

  /* ---- ABI 1.3: scenario steps and status names (optional) ----------------
   * The core knows no protocol: a scenario step's key picks the plugin
   * that declares it, and the plugin says how the step is read. */

  /* The keys a scenario step names this protocol with ("http", "https";
   * "grpc", "grpcs"), NULL-terminated. NULL: the names of its schemes.
   * When several loaded plugins declare a key, a step goes to the one the
   * command line's --plugin names if it declares it, else to the first
   * found. */
  const char *const *step_keys;
  /* enum rl_step_value: how a step's value is read (default: the call). */
  uint32_t step_value;
  /* Options a step may give as YAML keys of their own, beyond the keys
   * every step has (name, host, headers, body, json, data, options,
   * timeout, expect, capture). NULL: none. */
  const rl_option_decl *step_options;
  /* Names of the statuses a response carries (rl_response.status), indexed
   * by status code: gRPC's "OK" .. "UNAUTHENTICATED". Scenario
   * expectations accept them (`grpc_status: NOT_FOUND`) and error texts
   * show them. NULL: statuses are numbers (HTTP). */
  const char *const *status_names;
  uint32_t n_status_names;

  /* ---- ABI 1.4 (optional) ---------------------------------------------- */

  /* Written before the reason of a failure the host reports itself for
   * this plugin's requests, those no session took (connection refused,
   * TLS handshake failed, connect timeout): gRPC's "UNAVAILABLE: ", so
   * they read, and group, as a gRPC client shows them. NULL: the reason
   * alone. */
  const char *host_error_prefix;

  /* ---- ABI 1.6 (optional) ---------------------------------------------- */

  /*
   * 1 when the session takes requests; 0 while a connection preface it
   * sent in session_new (AUTH, SELECT, a protocol greeting) awaits its
   * reply. The host hands no request to a session that is not ready and
   * asks again after each of its callbacks (session_on_read, typically);
   * a preface not answered within the --connect-timeout fails the
   * connection ("connection preface timed out after Ns"). A refused
   * preface is host->conn_fail(). NULL: always ready.
   */
  int (*session_ready)(void *session);
  /*
   * The per-connection settings of a step, as text ("db=2 user=app"):
   * steps going to the same endpoint share a user's connection only when
   * their keys are equal (strcmp; NULL equals NULL), so a connection
   * never carries a step its preface was not made for. The string
   * belongs to the step. NULL member: every step to an endpoint shares.
   */
  const char *(*step_conn_key)(void *step);
  /* Process-wide tear-down, as fini but told the host (the table init
   * had), e.g. to log what the plugin counted. Called instead of fini
   * when set. */
  void (*fini_host)(const rl_host *host);

  /* ---- ABI 1.9 (optional) ---------------------------------------------- */

  /*
   * Which ways a call of this step streams messages: RL_STEP_STREAMS_CLIENT
   * (the client sends a stream of them), RL_STEP_STREAMS_SERVER (the server
   * answers with a stream), both, or 0 (one message each way, or no
   * messages at all). gRPC: the method's client_streaming and
   * server_streaming flags, however step_new learnt the method (a .proto, a
   * descriptor set, the server's reflection). The host asks it on the main
   * thread after step_new, when what a call sends or gets back depends on
   * it (a Lua task's u.grpc:call: a list to send, replies to iterate).
   * NULL: 0.
   */
  uint32_t (*step_streams)(void *step);

  /* ---- ABI 1.10 (optional, codec) --------------------------------------- */

  /*
   * The owner of `req` took the messages host->request_message had it
   * hold (it returned 1): read the call on (HTTP/2: acknowledge the data
   * held back, WINDOW_UPDATE). On the connection's worker thread, outside
   * the session's callbacks. No effect when the session does not hold
   * `req`'s data (or no longer holds `req`). NULL: the plugin never holds
   * (it ignores request_message's 1 and reads on).
   */
  void (*session_read_more)(void *session, rl_request *req);
} rl_plugin;

/* step_streams' bits (ABI 1.9). */
#define RL_STEP_STREAMS_CLIENT 1u
#define RL_STEP_STREAMS_SERVER 2u

/* The function every plugin exports under RL_PLUGIN_ENTRY_SYMBOL. */
typedef const rl_plugin *(*rl_plugin_entry_fn)(void);

/* Its prototype: a plugin defines it, with RL_EXPORT, returning a pointer
 * to a descriptor that lives as long as the plugin is loaded. */
RL_EXPORT const rl_plugin *rl_plugin_entry(void);

/* Size of the ABI 1.0 descriptor: the least a host of major 1 accepts. */
#define RL_PLUGIN_MIN_SIZE                                                     \
  (offsetof(rl_plugin, step_describe) + sizeof(((rl_plugin *)0)->step_describe))

#ifdef __cplusplus
}
#endif

#endif /* RPCLOAD_PLUGIN_H */

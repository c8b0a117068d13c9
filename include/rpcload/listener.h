/*
 * rpcload listener ABI: the one header a listener plugin includes.
 *
 * A listener hears a run's events, with Locust's names and meaning:
 * init, test_start, test_stop, spawning_complete, request, user_error,
 * quitting, a per-second report (the batched fast path) and custom
 * messages. It is a shared object that exports one symbol,
 * rl_listener_entry(), returning a descriptor (struct rl_listener).
 * `rpcload --listener FILE.so` dlopen()s it, calls the entry point, and
 * refuses it, naming the file and both versions, when the symbol is
 * missing, the descriptor's ABI major differs from the host's, or the
 * descriptor is shorter than the host needs (docs/listeners.md).
 *
 * Compatibility policy, as for protocol plugins (rpcload/plugin.h):
 *   - RL_LISTENER_ABI_MAJOR changes when an existing member changes
 *     meaning, type or position: listeners must be rebuilt.
 *   - RL_LISTENER_ABI_MINOR changes when members are appended at the end
 *     of a struct. Every versioned struct starts with its size; the host
 *     reads only what a listener's size covers.
 *   - A NULL callback means "not interested": a listener with no
 *     on_request costs the worker threads nothing.
 *
 * Threads:
 *   - on_request, thread_new and thread_del run on the worker threads (one
 *     event loop each, many users). Each worker thread gets its own
 *     context from thread_new, so a listener needs no lock on the hot
 *     path: keep per-thread state there. They must not block (no blocking
 *     I/O, no waiting on a lock another thread holds for long).
 *   - Every other callback runs on the main thread, one at a time, and may
 *     block briefly (it holds up the spawner and the reports, not the
 *     load).
 *
 * Ownership: everything the host hands a callback (events, strings,
 * options) is borrowed for the call; copy what you keep. The listener
 * owns its state from init until fini and each thread context from
 * thread_new until thread_del.
 */
#ifndef RPCLOAD_LISTENER_H
#define RPCLOAD_LISTENER_H

#include <stddef.h>
#include <stdint.h>

#include <rpcload/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RL_LISTENER_ABI_MAJOR 1
#define RL_LISTENER_ABI_MINOR 1
#define RL_LISTENER_ABI_VERSION                                                \
  ((uint32_t)((RL_LISTENER_ABI_MAJOR << 16) | RL_LISTENER_ABI_MINOR))

/* Name of the symbol the loader looks up. */
#define RL_LISTENER_ENTRY_SYMBOL "rl_listener_entry"

/* ---- The events' arguments ---------------------------------------------- */

/*
 * One finished request (Locust's `request` event). Borrowed for the call.
 * Listeners hear exactly the requests the stats count: not those cut at a
 * stop, nor those --warmup / --skip-first leave out. A stream's messages
 * (gRPC streams' [send]/[recv] rows) are requests of their own here, as
 * they are rows of their own in the stats.
 */
typedef struct rl_request_event {
  uint32_t struct_size; /* sizeof(rl_request_event) in the host */
  const char *type;     /* e.g. "GET", "grpc" (request_type) */
  const char *name;     /* the stats name (name) */
  uint64_t response_time_ns;
  uint64_t response_length; /* response bytes */
  /* NULL on success, else why it failed (exception), as the stats will
   * record it unless a listener changes it (see on_request). */
  const char *error;
  uint64_t user_id; /* 1-based id of the user who sent it */
  /* The request's context (Locust's `context`): the user's class (the
   * scenario's user class name; "User" on the quick command line) and
   * the worker thread it ran on (0-based). */
  const char *user_class;
  uint32_t worker;
  /* Monotonic (host now_ns) time the response time counts from. */
  uint64_t start_ns;

  /* ---- ABI 1.1: the response, for a listener that asks for it ------- */
  /* Set only when some listener's descriptor has wants_response (then
   * every protocol plugin hands its responses over, which costs a copy a
   * response) and a response came back: has_response 1. The protocol's
   * status (HTTP status; gRPC status code; -1 none), the payload (HTTP
   * body, gRPC message as JSON when the plugin gives it, else its bytes;
   * cut at 4 MiB: body_cut 1), and the header fields as `n_headers`
   * pairs "name\0value\0" one after another in `headers` (HTTP/2 and
   * gRPC names lower case; trailers after headers). All borrowed for the
   * call. A request event of a stream's message carries none. */
  int has_response;
  int status;
  const char *body;
  size_t body_len;
  int body_cut;
  const char *headers;
  size_t n_headers;
} rl_request_event;

/* A user's error (Locust's `user_error`): a failed step that ended its
 * task or the user (a scenario's `on_failure`), as an exception in a
 * Locust task does. Borrowed for the call. */
typedef struct rl_user_error {
  uint32_t struct_size;
  uint64_t user_id;
  const char *user_class;
  const char *type; /* the failed request's type and name */
  const char *name;
  const char *error; /* its error text */
} rl_user_error;

/* One row of the per-second report: what the second added to a (type,
 * name) entry of the run's merged stats. */
typedef struct rl_report_row {
  const char *type;
  const char *name;
  uint64_t num_requests;
  uint64_t num_failures;
  uint64_t total_response_time_ns;
  uint64_t response_bytes;
} rl_report_row;

/* The per-second report (the batched fast path, on the main thread): the
 * rows whose entries changed since the last report, and the run's state.
 * Borrowed for the call. */
typedef struct rl_report {
  uint32_t struct_size;
  double unix_time;    /* when it was taken */
  uint32_t user_count; /* users the run has now */
  const rl_report_row *rows;
  size_t n_rows;
} rl_report;

/* ---- What the host offers a listener ------------------------------------ */

/* A custom message handler (Locust's register_message): `data` (`len`
 * bytes) is borrowed for the call. */
typedef void (*rl_message_fn)(void *arg, const char *type, const void *data,
                              size_t len);

/*
 * Services of the host. It owns this table; its address stays valid from
 * init until fini. Main thread only, except log and now_ns (any thread).
 */
typedef struct rl_listener_host {
  uint32_t abi_version; /* RL_LISTENER_ABI_VERSION of the host */
  uint32_t struct_size; /* sizeof(rl_listener_host) in the host */
  /* Monotonic clock in nanoseconds (the one rl_request_event uses). */
  uint64_t (*now_ns)(void);
  /* printf-style line to rpcload's log (stderr, "rpcload: " prefix). */
  void (*log)(int level, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
      __attribute__((format(printf, 2, 3)))
#endif
      ;
  /*
   * Custom messages (Locust's register_message / send_message). In one
   * process, send_message calls every handler registered for `type`, in
   * the order registered, before it returns, and returns how many ran,
   * or RL_ERR_NOTFOUND when none is registered for `type`. In a cluster
   * (--master, --worker: docs/cluster.md) it queues the message for the
   * wire and returns 0 (a master's goes to every worker, a worker's to
   * its master), and handlers get what the other side sent: there `data`
   * must be one msgpack value (anything else is logged and dropped
   * before the wire). `type` is copied. Main thread only (from init or a
   * main-thread event); `host` is the table the listener was handed.
   * register_message returns 0, RL_ERR_INVAL (no type or fn) or
   * RL_ERR_NOMEM.
   */
  int (*register_message)(const struct rl_listener_host *host, const char *type,
                          rl_message_fn fn, void *arg);
  int (*send_message)(const struct rl_listener_host *host, const char *type,
                      const void *data, size_t len);
} rl_listener_host;

/* ---- The descriptor ------------------------------------------------------ */

/*
 * The descriptor. It only ever grows at its end. Members marked required
 * must be set; every callback may be NULL ("not interested").
 */
typedef struct rl_listener {
  uint32_t abi_version; /* required: RL_LISTENER_ABI_VERSION */
  uint32_t struct_size; /* required: sizeof(rl_listener) */
  const char *name;     /* required: short name, for messages */
  const char *version;  /* required: the listener's own version */
  const char *summary;  /* one line */

  /*
   * Locust's `init`: once, on the main thread, after rpcload has read its
   * options and loaded the plan, before any test starts. `options` are the
   * --listener-opt k=v given after this --listener, in order (borrowed:
   * copy what you keep); refuse those you do not know. Returns 0 and its
   * state in *state (owned by the listener until fini), or a negative
   * RL_ERR_* with a one-line reason in err (at most errlen bytes): rpcload
   * then stops with exit status 2 before any load.
   */
  int (*init)(const rl_listener_host *host, const rl_kv *options,
              size_t n_options, void **state, char *err, size_t errlen);
  /* After quitting: frees the state. Every thread context is gone. */
  void (*fini)(void *state);

  /* A test starts (Locust's test_start): before its first user. A steered
   * run (the web UI) has one per start from ready or stopped. */
  void (*test_start)(void *state);
  /* The spawner has reached the user count asked for (Locust's
   * spawning_complete), `user_count` users. */
  void (*spawning_complete)(void *state, uint32_t user_count);
  /* A test is over (Locust's test_stop): every user has stopped and every
   * request event of the test has been delivered. */
  void (*test_stop)(void *state);
  /* rpcload is ending (Locust's quitting): after the last test_stop,
   * before fini. The reports are not written yet. */
  void (*quitting)(void *state);

  /*
   * Worker thread, once per worker thread before its first request event:
   * the thread's own context for on_request (NULL is allowed), owned by
   * the listener until thread_del. `worker` is the 0-based thread index.
   */
  void *(*thread_new)(void *state, uint32_t worker);
  /* Worker thread, after its last request event, when the run ends (in a
   * plain run before its test_stop; in a steered run, whose threads
   * outlive its tests, after the last test_stop), always before
   * quitting: frees the context (flush batched writes here). */
  void (*thread_del)(void *state, void *thread_ctx);

  /*
   * Worker thread: Locust's `request` event, once per request the stats
   * count, before the stats record it, with the thread's context. Returns
   * NULL to leave the outcome as it is, or a text to make the request a
   * failure with that error (Locust's pattern of failing a success):
   * the stats then count it failed under that text, and listeners after
   * this one see it so. The text must live until this listener's next
   * call on the same thread (a per-thread buffer does). Never blocks.
   */
  const char *(*on_request)(void *thread_ctx, const rl_request_event *ev);

  /* Main thread: a user's error (Locust's user_error), delivered within a
   * second of it (it happens on a worker thread; it is queued). */
  void (*user_error)(void *state, const rl_user_error *e);

  /* Main thread, once a second while a test runs and once after its last
   * request: what the second added to the run's stats (the fast path: no
   * per-request call). */
  void (*report)(void *state, const rl_report *rep);

  /* ---- ABI 1.1 ---------------------------------------------------------- */
  /* 1: on_request's events carry the response (rl_request_event's
   * has_response...): the plugins then collect every response for it. */
  int wants_response;
} rl_listener;

/* The function every listener exports under RL_LISTENER_ENTRY_SYMBOL. */
typedef const rl_listener *(*rl_listener_entry_fn)(void);

/* Its prototype: a listener defines it, with RL_EXPORT, returning a
 * pointer to a descriptor that lives as long as the listener is loaded. */
RL_EXPORT const rl_listener *rl_listener_entry(void);

/* Size of the ABI 1.0 descriptor: the least a host of major 1 accepts. */
#define RL_LISTENER_MIN_SIZE                                                   \
  (offsetof(rl_listener, report) + sizeof(((rl_listener *)0)->report))

#ifdef __cplusplus
}
#endif

#endif /* RPCLOAD_LISTENER_H */

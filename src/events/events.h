/*
 * The run's event table: listener plugins (include/rpcload/listener.h)
 * loaded, checked and called with Locust's events. One table per run,
 * made by its owner (the CLI, later the library's environment) and handed
 * to the runner (rl__run_config.events), which fires the main-thread
 * events, and through it to each worker, which gets a thread's view
 * (rl__events_thread) for the request event.
 *
 * The hot path: a worker whose table has no on_request listener gets no
 * thread view (NULL), and the request path tests that one pointer.
 */
#ifndef RL_EVENTS_EVENTS_H
#define RL_EVENTS_EVENTS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <rpcload/listener.h>

#include "stats/stats.h"

typedef struct rl__listener {
  char *path; /* owned: the file, or a label for one added in memory */
  void *dl;   /* dlopen handle; NULL for one added in memory */
  /* A copy of the descriptor, zero-filled past the listener's
   * struct_size, so members an older minor lacks read as NULL. */
  rl_listener desc;
  rl_kv *options; /* --listener-opt, owned (keys and values) */
  size_t n_options;
  void *state; /* from desc.init */
  int inited;
} rl__listener;

/* A message handler (register_message). */
typedef struct rl__message_handler {
  char *type; /* owned */
  rl_message_fn fn;
  void *arg;
} rl__message_handler;

/* What one report row was at the last report (to tell what a second
 * added). */
typedef struct rl__events_seen {
  char *type, *name; /* owned */
  uint64_t requests, failures, total_ns, bytes;
} rl__events_seen;

typedef struct rl__queued_error rl__queued_error;

/* A custom message queued between the cluster's thread and the main
 * thread (rl__events_post / rl__events_take_sent). */
typedef struct rl__events_msg {
  struct rl__events_msg *next;
  char *type, *node_id; /* owned; node_id "" when none */
  void *data;           /* owned: one msgpack value */
  size_t len;
} rl__events_msg;

typedef struct rl__events {
  /* First: the host table listeners get, so a callback's host pointer
   * leads back to its table. */
  rl_listener_host host;
  rl__listener **items;
  size_t n;
  int any_request;  /* some listener has on_request */
  int any_response; /* ... and wants its responses (ABI 1.1) */
  int any_report;   /* some listener has report */
  int any_user_error;
  rl__message_handler *handlers;
  size_t nhandlers;
  /* A cluster node (rl__events_set_remote): send_message queues for the
   * wire instead of delivering here. Under `lock`, with the queues. */
  int remote;
  /* Called (under `lock`) when a message is queued for the wire, so the
   * cluster's loop, which blocks until its next deadline, sends it now
   * (rl__events_set_wake); NULL: none. */
  void (*wake)(void *arg);
  void *wake_arg;
  rl__events_msg *sent, *sent_tail;         /* for the wire */
  rl__events_msg *received, *received_tail; /* for the handlers */
  /* While rl__events_deliver_messages calls handlers: the sender's node
   * id ("" for the master), for handlers that ask (a script's). */
  const char *delivering_node;
  /* A master's live workers' node ids, oldest first (rl__events_set_nodes;
   * Locust's runner.clients), under `lock`. */
  char **nodes;
  size_t nnodes;
  /* user_error, queued by workers for the main thread. */
  pthread_mutex_t lock;
  rl__queued_error *errors, *errors_tail;
  /* The report: entries as they were (main), and the rows of the next
   * report (filled under the stats lock, delivered after it). */
  rl__events_seen *seen;
  size_t nseen, seencap;
  rl_report_row *rows;
  size_t nrows, rowcap;
  double report_time;
} rl__events;

/* A worker thread's view: each listener's context for this thread. */
typedef struct rl__events_thread {
  rl__events *ev;
  uint32_t worker;
  void **ctx; /* one per listener */
} rl__events_thread;

/* An empty table. */
void rl__events_init(rl__events *ev);

/* fini for every listener initialised, then unloads them and frees the
 * table. Every thread view must be gone. */
void rl__events_free(rl__events *ev);

/*
 * Loads the listener at `path` (dlopen: a path, as the user gave it).
 * Refuses, naming the file and both versions where they apply: a file
 * that cannot be loaded, a missing rl_listener_entry, an entry returning
 * NULL, another ABI major, a descriptor shorter than ABI 1.0's, a missing
 * name or version. Returns 0 and the listener (owned by the table) in
 * *out, or a negative code with the reason in err.
 */
int rl__events_load(rl__events *ev, const char *path, rl__listener **out,
                    char *err, size_t errlen);

/* The same for a descriptor in memory (a test's, or one linked in):
 * checked as a loaded one is; what it points to is borrowed and must
 * outlive the table. `label` (copied) names it in messages. */
int rl__events_add(rl__events *ev, const rl_listener *desc, const char *label,
                   rl__listener **out, char *err, size_t errlen);

/* Adds "KEY=VALUE" (split at the first '=', copied) to `l`'s options.
 * RL_ERR_INVAL with a reason when there is no '=' or no key. */
int rl__listener_add_option(rl__listener *l, const char *kv, char *err,
                            size_t errlen);

/* Main thread: Locust's init, every listener in load order. On a refusal
 * returns its code with "NAME (FILE): reason" in err; those initialised
 * are finished by rl__events_free. */
int rl__events_start(rl__events *ev, char *err, size_t errlen);

/* Main thread: the other events, every listener in load order. */
void rl__events_test_start(rl__events *ev);
void rl__events_spawning_complete(rl__events *ev, uint32_t users);
void rl__events_test_stop(rl__events *ev);
void rl__events_quitting(rl__events *ev);

/* Worker thread, before its first request: its view, or NULL when no
 * listener hears requests (or out of memory, said in the log): the
 * request path then calls nothing. */
rl__events_thread *rl__events_thread_new(rl__events *ev, uint32_t worker);

/* Worker thread, after its last request: thread_del for each listener,
 * then the view is freed. NULL is fine. */
void rl__events_thread_del(rl__events_thread *th);

/* Worker thread: the request event. `e->error` is the outcome so far;
 * returns the outcome the listeners leave (NULL: success), borrowed from
 * `e` or from the listener that failed it, valid until this thread's next
 * request event. */
const char *rl__events_request(rl__events_thread *th, rl_request_event *e);

/* Worker thread: queues a user_error for the main thread (a lock, but
 * only on this rare path and only when some listener hears it). */
void rl__events_user_error(rl__events *ev, const rl_user_error *e);

/*
 * Custom messages in a cluster (docs/cluster.md). The data is one msgpack
 * value: what Locust's send_message carries, so it crosses the wire as it
 * is. Any thread:
 *   rl__events_set_remote(ev, 1): from now send_message (a listener's, a
 *     script's) queues the message for the wire (0: local again);
 *   rl__events_send: the same with a node id ("" or NULL: the master's to
 *     every worker; a worker's always go to its master); RL_ERR_NOMEM or 0;
 *     local delivery (not remote) returns send_message's codes;
 *   rl__events_take_sent: the queue for the wire, oldest first (the
 *     caller frees each with rl__events_msg_del);
 *   rl__events_post: a message from the wire (copied), for
 *     rl__events_deliver_messages on the main thread. 0 or RL_ERR_NOMEM.
 * rl__events_deliver_messages (main thread): each queued message to its
 * type's handlers; a type nobody registered is logged as Locust logs it.
 */
void rl__events_set_remote(rl__events *ev, int on);
/* Any thread: `wake(arg)` is called each time rl__events_send queues a
 * message for the wire (under the table's lock: it must not block or
 * call back here; NULL: none). The cluster's loop sets it to its socket's
 * wake-up and clears it before that socket goes. */
void rl__events_set_wake(rl__events *ev, void (*wake)(void *arg), void *arg);
int rl__events_send(rl__events *ev, const char *type, const void *data,
                    size_t len, const char *node_id);
rl__events_msg *rl__events_take_sent(rl__events *ev);
void rl__events_msg_del(rl__events_msg *m);
int rl__events_post(rl__events *ev, const char *type, const void *data,
                    size_t len, const char *node_id);
void rl__events_deliver_messages(rl__events *ev);
/* A master's live workers (copied; replaces the list). 0 or
 * RL_ERR_NOMEM (the old list kept). rl__events_nodes copies it out: the
 * count, and *out a NULL-terminated array the caller frees with
 * rl__events_nodes_free (NULL with 0 on allocation failure). */
int rl__events_set_nodes(rl__events *ev, const char *const *ids, size_t n);
size_t rl__events_nodes(rl__events *ev, char ***out);
void rl__events_nodes_free(char **ids);

/* Main thread: delivers the queued user errors. */
void rl__events_deliver_errors(rl__events *ev);

/* Main thread, under the stats lock (rl__runner_with_stats): notes what
 * each entry of `stats` (the run's merged stats) added since the last
 * call, for rl__events_report. A reset (counts going down) counts from
 * zero. */
void rl__events_snapshot(rl__events *ev, rl__stats *stats);

/* Main thread, after the lock: the report of the last snapshot, with
 * `users` the run's user count. Nothing when no row changed. */
void rl__events_report(rl__events *ev, uint32_t users);

#endif /* RL_EVENTS_EVENTS_H */

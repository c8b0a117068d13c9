/*
 * User classes written in C (part of librpcload's API; <rpcload/rpcload.h>
 * includes this header and adds a class to an environment with
 * rl_env_add_user_class). A class is Locust's User subclass with @task
 * methods: what a scenario cannot say (a branch on a response, a loop until
 * a condition, state kept across tasks) is written here, and everything
 * else (spawning, weights and fixed counts, waits, the request event, stats,
 * listeners, stopping) is the run's, as for a scenario's classes.
 * docs/cusers.md is the guide, with an example.
 *
 * Requests are declared up front, as scenario steps (docs/scenarios.md),
 * each a YAML mapping in a string:
 *     "{http: GET /cart, name: cart}"
 *     "{grpc: hello.Greeter/SayHello, data: {name: x}}"
 *     "{http: POST /login, json: {user: 'u{{user_id}}'}, expect: {status: 200},
 *       capture: {token: $.token}}"
 * They are compiled once, when the class is added, by the scenario compiler
 * (the same keys, templates, expect and capture, the same hosts: a step
 * without a host goes to the class's host, else to the environment's
 * target), so sending one costs what a scenario's step costs. A task sends
 * them by index. In their templates, a name that is not a template function
 * ({{user_id}}, {{seq}}, {{random_int A B}}...) is a user variable: set by
 * the class's code (rl_user_set_var) or by a request's capture, expanded
 * when the request is written; unset, it expands to nothing. `on_failure`
 * and `stop_user` are refused: the task decides what a failure does.
 * `runtime_host: true` (API 1.7; C classes' requests only): the request
 * has no host of its own and is sent only with rl_send_opts.host (a
 * send without one: RL_ERR_INVAL); at load it is compiled against no
 * endpoint, for its checks and its stats row's name, and nobody connects
 * for it.
 *
 * Threads: every callback of a class runs on the worker thread of its user,
 * which owns the user, and the rl_user_* functions are called there, from
 * those callbacks; a callback must not block. A task starts requests with
 * rl_user_send and ends with rl_user_task_done, from the task function or
 * from any later done callback: the task is over once it has called
 * rl_user_task_done and every request it sent has finished (its done
 * called). Then the user waits its wait time and picks its next task.
 * on_start and on_stop end the same way.
 *
 * Stopping (the run's end, users lowered, Ctrl-C) is as for a scenario's
 * users: a user between tasks stops at once (through on_stop); one in a
 * task finishes it within --stop-timeout, then it is cut. A cut user's
 * requests in flight are cancelled (counted apart, as any request cut at a
 * stop) and no callback of its class is called again but free_data, which
 * every stopped user's data (rl_user_data) goes to, cut or not.
 */
#ifndef RPCLOAD_USER_H
#define RPCLOAD_USER_H

#include <stddef.h>
#include <stdint.h>

#include <rpcload/plugin.h> /* rl_kv */

#ifdef __cplusplus
extern "C" {
#endif

/* A simulated user of a C class, owned by the run; valid during the
 * callbacks of its class. */
typedef struct rl_user rl_user;

/* A task, on_start or on_stop: `arg` is the class's. */
typedef void (*rl_task_fn)(rl_user *u, void *arg);

typedef struct rl_task {
  const char *name; /* for --list and ratios; NULL: "task N" */
  double weight;    /* > 0 (0: 1) */
  rl_task_fn fn;    /* required */
} rl_task;

typedef struct rl_user_class {
  uint32_t struct_size; /* sizeof(rl_user_class) */
  const char *name;     /* required, unique in the environment */
  double weight;        /* 0: 1 */
  uint32_t fixed_count; /* > 0: exactly this many users, before weights */
  const char *host;     /* NULL: the environment's target */
  /* The wait between tasks: Locust's spelling ("between(1, 2)",
   * "constant(1.5)" or "1.5", "constant_pacing(2)",
   * "constant_throughput(10)"; also schedule(S), exponential(MEAN),
   * sequence(S1, S2, ...)), or a scenario's ("{between: [1, 2]}",
   * "between:1,2"). NULL: none. */
  const char *wait_time;
  /* The requests, NULL-terminated scenario step texts (see above); NULL:
   * none. */
  const char *const *requests;
  const rl_task *tasks; /* at least one */
  size_t n_tasks;
  rl_task_fn on_start, on_stop; /* NULL: none; end with rl_user_task_done */
  void *arg;                    /* passed to every callback */
  /* Frees a user's data (rl_user_set_data) once the user has stopped
   * (after on_stop, or cut), on its worker thread; not called for NULL
   * data. NULL: the class frees it itself. */
  void (*free_data)(void *data, void *arg);
  /* ---- API 1.3: read only when struct_size covers them ---- */
  /* Tags per task (Locust's @tag), for --tags and --exclude-tags: NULL,
   * or n_tasks entries, each NULL (untagged) or a NULL-terminated list
   * of non-empty tags. With --tags, a task none of whose tags is given is
   * left out (untagged ones too); with --exclude-tags, one with any of
   * those is; a class left with no task is not spawned (as a scenario's).
   * Borrowed until rl_env_free. */
  const char *const *const *task_tags;
  /* What the class is written in, for --list and warnings ("Lua,
   * shop.lua"), copied; NULL: C. A class with one set has requests the
   * host language generated, not the class's own: --list shows its
   * tasks (names, weights, tags) but not its requests. */
  const char *written_in;
} rl_user_class;

/* What a sent request came to: borrowed for the done call (copy what
 * outlives it). */
typedef struct rl_send_result {
  uint32_t struct_size;
  const char *error;         /* NULL: success (after expect) */
  int status;                /* the protocol's status; -1: none */
  uint64_t response_time_ns; /* as the stats count it */
  uint64_t response_length;  /* the stats' response length */
  const char *type, *name;   /* the stats row it counts in */
  /* The response's payload (HTTP: the body, gRPC: the message as JSON),
   * cut at 4 MiB; "" and 0 when nothing came back. */
  const char *body;
  size_t body_len;
} rl_send_result;

typedef void (*rl_done_fn)(rl_user *u, const rl_send_result *res, void *arg);

/* A run adds at most this many targets for rl_send_opts.host (API 1.7):
 * (request, host) pairs no class declared, failed ones included. */
#define RL_USER_MAX_RUNTIME_TARGETS 1000

/* A user has at most this many requests in flight at once. */
#define RL_USER_MAX_INFLIGHT 256

/*
 * From a callback of u's class: sends the class's request number `request`
 * (0-based, in `requests` order). `done(u, res, arg)` (required) is called
 * once on the same thread when it has finished and been counted, never from
 * within rl_user_send. Several may be in flight at once: to one endpoint
 * they share the user's connection (HTTP/1.1 one after another, HTTP/2 and
 * gRPC side by side), to others each goes at once. The requests a task
 * sends from its function's first call count their response times from
 * the task's start (the open model's intended start); later ones, and
 * on_start's and on_stop's, from their own send.
 * Returns 0; RL_ERR_INVAL: no such request, or `done` is NULL;
 * RL_ERR_CLOSED: the task (or on_start, on_stop) has ended;
 * RL_ERR_CANCELLED: the user is stopping and its class has an on_stop
 * (end the task: on_stop comes next); RL_ERR_BUSY: RL_USER_MAX_INFLIGHT
 * in flight; RL_ERR_NOMEM. On an error `done` is not called.
 */
int rl_user_send(rl_user *u, size_t request, rl_done_fn done, void *arg);

/* From a callback of u's class: the task (or on_start, on_stop) is over
 * once the requests it sent have finished. Again in the same task: no
 * effect. */
void rl_user_task_done(rl_user *u);

/* The user's 1-based id, unique in the run. */
uint64_t rl_user_id(const rl_user *u);

/*
 * The user's variables: those its requests' templates name ({{token}})
 * and their captures fill, and any other name, for the class's own use.
 * set copies both strings (value NULL: unset); 0, RL_ERR_INVAL (NULL or
 * empty name) or RL_ERR_NOMEM. get returns the value (borrowed until the
 * next set of that name or capture into it) or NULL when unset.
 */
int rl_user_set_var(rl_user *u, const char *name, const char *value);
const char *rl_user_get_var(const rl_user *u, const char *name);

/* A pointer the user keeps for its class (NULL at its start; the class
 * owns what it points to). */
void *rl_user_data(const rl_user *u);
void rl_user_set_data(rl_user *u, void *data);

/* ---- API 1.1: per-send options, outcomes decided by the class, sleeps ----
 * Appended for classes whose requests are dynamic (Lua users, issue #23:
 * src/script/): one declared request with {{var}} templates serves any
 * path and body, but its stats row and its success are the send's. */

/* How one send differs from its declared request. Borrowed for the call:
 * what is kept is copied. */
typedef struct rl_send_opts {
  uint32_t struct_size; /* sizeof(rl_send_opts) */
  /* The stats name it counts under (Locust's name=); NULL: the request's
   * (its `name`, else the plugin's: the path, the method). Rows of its
   * own a stream's messages count in ("/pkg.Svc/M [recv]") take it as
   * their prefix too ("NAME [recv]"), as a request's `name` does. */
  const char *name;
  /* Nonzero: Locust's catch_response. The request is not counted when it
   * ends but when its done callback returns, with the outcome the class
   * gave in done (rl_user_decide; none: the protocol's), its response
   * time still taken when it ended. */
  int decide;
  /* ---- API 1.2: read only when struct_size covers them ---- */
  /* Header fields (gRPC: metadata) this send adds to its request's, in
   * order: a field named like one of the request's (ASCII
   * case-insensitive) replaces it. Copied at the send. A name that is not
   * an HTTP token or a value with CR, LF or NUL fails the request (the
   * plugin refuses it, counted with the reason); a plugin that knows no
   * headers (ABI < 1.7) sends it without them. NULL/0: none. */
  const rl_kv *headers;
  size_t n_headers;
  /* ---- API 1.4: read only when struct_size covers it ---- */
  /* This send's request timeout (as --timeout, counted from when its
   * connection's session takes it): past it, the request fails with
   * "timed out after ...s", whatever --timeout says. 0: --timeout's.
   * Requests a transport plugin carries (its own I/O) keep the plugin's
   * timeout. */
  uint64_t timeout_ns;
  /* ---- API 1.5: read only when struct_size covers it ---- */
  /* Nonzero: the send's end is no request event: neither the listeners
   * nor the stats hear of it (a raw client's call, which Locust's
   * interceptor-style wrappers time and report themselves: the class
   * reports it with rl_user_fire_request, as it sees it). Its done is
   * called as for any send. */
  int no_event;
  /* ---- API 1.6: read only when struct_size covers it ---- */
  /* Non-NULL: the response's messages as they come, while the send goes
   * on (a gRPC server or bidi stream's replies, each as proto3 JSON):
   * on_message(u, json, len, arg) once per message, in order, on the
   * user's thread, from the user's turn (never from inside a plugin's
   * callback), before the send's done; `json` is borrowed for the call.
   * The send's `arg` names it to rl_user_hold_messages and
   * rl_user_cancel. A protocol with no messages (or a plugin of ABI <
   * 1.10) calls it never. */
  void (*on_message)(rl_user *u, const char *json, size_t len, void *arg);
  /* ---- API 1.7: read only when struct_size covers it ---- */
  /* The host this send goes to in place of its request's own: "h:p"
   * (the request's protocol's scheme), or with a scheme
   * ("http://h:p"). Copied. The request is compiled again for that host
   * while the run goes (resolving it, the plugin's step_new) off the
   * worker thread: the send waits meanwhile (its done comes as for any
   * send; the thread's other users run on), and the same (class,
   * request, host) is compiled once per run, for every thread. A host
   * that does not resolve, or that the plugin refuses, fails the send
   * (its done gets the reason, counted as any failure, named as the
   * request's row), and every later send to it. At most 1,000 hosts x
   * requests per run (RL_USER_MAX_RUNTIME_TARGETS): past it,
   * RL_ERR_BUSY. Not for a transport
   * plugin's requests (they fail with the reason). NULL: the
   * request's own host. */
  const char *host;
} rl_send_opts;

/*
 * rl_user_send with options (NULL: none, as rl_user_send). Same returns,
 * and RL_ERR_INVAL when opts->struct_size is too small to hold `name`,
 * or a header has a NULL or empty key or a NULL value, or `host` is
 * empty; RL_ERR_BUSY also when `host` would add a run-time target past
 * the run's cap (RL_USER_MAX_RUNTIME_TARGETS).
 */
int rl_user_send_opts(rl_user *u, size_t request, const rl_send_opts *opts,
                      rl_done_fn done, void *arg);

/*
 * From the done callback of a send made with `decide`, given its `res`:
 * the outcome it is counted with. error NULL: a success (whatever the
 * protocol said); else a failure with this text (copied). Returns 0;
 * RL_ERR_INVAL: `res` is not a deciding send's being handed to done now
 * (it was counted already).
 */
int rl_user_decide(rl_user *u, const rl_send_result *res, const char *error);

/* Which phase the user is in (a class whose tasks share one function
 * tells them apart): RL_USER_ON_START, RL_USER_TASK (*task: its index
 * in the class's tasks; task may be NULL) or RL_USER_ON_STOP. */
enum { RL_USER_ON_START = 0, RL_USER_TASK = 1, RL_USER_ON_STOP = 2 };
int rl_user_phase(const rl_user *u, size_t *task);

typedef void (*rl_woke_fn)(rl_user *u, void *arg);

/*
 * From a callback of u's class: calls woke(u, arg) on the user's thread
 * after `seconds` (>= 0), on the loop's timer: the thread never blocks.
 * The phase is not over while a sleep runs. One at a time per user.
 * Returns 0; RL_ERR_INVAL: seconds < 0 or not a number, or woke NULL;
 * RL_ERR_BUSY: a sleep already runs; RL_ERR_CLOSED and RL_ERR_CANCELLED
 * as rl_user_send. A user cut while asleep is not woken.
 */
int rl_user_sleep(rl_user *u, double seconds, rl_woke_fn woke, void *arg);

/* ---- API 1.2: a class's own errors as Locust's user_error ----
 * An exception out of a Locust task fires the user_error event and is
 * counted in the Exceptions tab; a C class (or a Lua task, src/script/)
 * says the same with this. */

/*
 * From a callback of u's class: its current phase (a task, on_start,
 * on_stop) failed with `error` (copied; say where: "shop.lua:12:
 * attempt to index a nil value"). Fires the listeners' user_error event
 * (rpcload/listener.h) with the user's id and class, type "task" and, as
 * name, the phase's: the task's name ("task N" without one), "on_start"
 * or "on_stop"; it is delivered on the main thread. The phase goes on
 * until the class ends it (rl_user_task_done). Returns 0; RL_ERR_INVAL: u
 * or error NULL.
 */
int rl_user_report_error(rl_user *u, const char *error);

/* ---- API 1.3: Locust's wait_time method and StopUser ---- */

/*
 * From a callback of u's task (before the task is over): the wait after
 * this task is `seconds`, instead of what the class's wait_time gives
 * (Locust's wait_time as a method: a class that computes its wait per
 * task calls this from each task, e.g. at its end). Only the closed
 * model waits (an arrival rate starts tasks as arrivals come). Again in
 * the same task: the last one counts. Returns 0; RL_ERR_INVAL: seconds
 * < 0 or not a number; RL_ERR_CLOSED: u is not in a task (on_start,
 * on_stop) or has stopped.
 */
int rl_user_wait_next(rl_user *u, double seconds);

/*
 * From a callback of u's class: Locust's StopUser. Once the current phase
 * is over (end it with rl_user_task_done), the user stops: through
 * on_stop from a task or on_start, at once from on_stop; as a scenario
 * step's on_failure: stop_user. Returns 0; RL_ERR_CLOSED: u has
 * stopped.
 */
int rl_user_stop(rl_user *u);

/* ---- API 1.5: Locust's events.request.fire ----
 * A class that times something itself (a call through its own client, a
 * step of several requests, Locust's interceptor-style wrappers) reports
 * it as a request, with the same event and stats as the run's own. */

/* A request the class reports (borrowed for the call). */
typedef struct rl_fired_request {
  uint32_t struct_size; /* sizeof(rl_fired_request) */
  /* Its stats row: Locust's request_type and name (both required). */
  const char *type;
  const char *name;
  uint64_t response_time_ns;
  uint64_t response_length; /* bytes */
  /* NULL: a success; else its failure's text (Locust's exception). */
  const char *error;
} rl_fired_request;

/*
 * From a callback of u's class: a request that ended now, `r` as the
 * class measured it. The request event of the user's thread, as for a
 * request sent: the listeners hear it (one may fail it), then the
 * thread's stats count it (the run's rows, CSV, web UI, reports), unless
 * the warm-up or --skip-first leave it out. Nothing is sent and the phase
 * is not held. Returns 0; RL_ERR_INVAL: u or r NULL, r->struct_size too
 * small, or a NULL or empty type or name; RL_ERR_CLOSED: the user has
 * stopped or the run is cutting its users (not counted, as a request cut
 * at a stop).
 */
int rl_user_fire_request(rl_user *u, const rl_fired_request *r);

/* ---- API 1.6: a stream's messages as they come (rl_send_opts.on_message)
 * The send is named by its done's `arg`: the in-flight send of u whose
 * arg it is (the first, when several share one). */

/*
 * From a callback of u's class: hold 1: the class has enough of the
 * send's messages it has not used yet; the plugin stops reading the call
 * after the message in hand (HTTP/2 flow control: the server sends at
 * most the stream's window more, which still comes to on_message). hold
 * 0: read on. Returns 0; RL_ERR_INVAL: no such send in flight.
 */
int rl_user_hold_messages(rl_user *u, void *arg, int hold);

/*
 * From a callback of u's class: ends the send now, before the server
 * does (HTTP/2: RST_STREAM CANCEL), with `reason` (copied) as its error;
 * its done follows as for any end (a deciding send may count it a
 * success: a stream the task chose to leave). Returns 0; RL_ERR_INVAL:
 * no such send in flight, or no connection's session holds it yet (it
 * then ends as it would have); RL_ERR_UNSUPPORTED: its plugin cannot
 * cancel one request.
 */
int rl_user_cancel(rl_user *u, void *arg, const char *reason);

#ifdef __cplusplus
}
#endif

#endif /* RPCLOAD_USER_H */

/*
 * Lua users (issue #23; docs/lua.md): a script's rl.user{...} classes run
 * as C user classes (<rpcload/user.h>), one LuaJIT state per worker
 * thread, one coroutine per running phase of a user.
 *
 * script.c loads the script on the main thread to learn its classes and
 * registers each with rl_env_add_user_class (rl_env_add_script, public);
 * runtime.c is what runs on the worker threads: the thread's state, made
 * lazily when its first Lua user starts, and the phases, which resume
 * coroutines; lib.c is the rl library both load (rl.user, the waits,
 * rl.log, rl.sleep, rl.fail, JSON); calls.c u.grpc:call and u:request;
 * taskset.c rl.taskset and sequential classes (Locust's TaskSet and
 * SequentialTaskSet), a driver per phase of a class that has them.
 *
 * Dynamic requests on declared ones: a C class declares its requests up
 * front, a Lua task makes them up as it goes. Each class declares
 * (declare.c), per HTTP method, three generic requests whose path and body
 * are templates of two user variables ({{_rl_path}}, {{_rl_body}}; no
 * body, a body, a JSON body), to its host and to each of its `hosts`; one
 * per gRPC method its `grpc` table lists (the message {{_rl_msg}}); per
 * protocol of `protocols`, one per word count ({{_rl_w1}} ...). A request
 * call sets the variables and sends the matching one with
 * rl_user_send_opts (its stats name: name= or the path; decide: the
 * response's r:failure() counts; headers), so a Lua request costs what a
 * C class's does.
 *
 * May call: <rpcload/rpcload.h> and api/env.h (the environment owns the
 * script), base/ for the log; LuaJIT, jansson.
 */
#ifndef RL_SCRIPT_SCRIPT_H
#define RL_SCRIPT_SCRIPT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#include <rpcload/rpcload.h>

#include "script/safety.h"

/* The requests each class declares: for method m (RL__SCRIPT_METHODS
 * order), m * 3 + RL__SCRIPT_PLAIN / _BODY / _JSON. */
enum { RL__SCRIPT_PLAIN = 0, RL__SCRIPT_BODY, RL__SCRIPT_JSON };
#define RL__SCRIPT_N_METHODS 6
extern const char *const rl__script_methods[RL__SCRIPT_N_METHODS];

struct rl__script;

/* One class of the script, as added to the environment. */
typedef struct rl__script_class {
  rl_user_class c; /* c.arg points here */
  struct rl__script *script;
  size_t index; /* in script->classes */
  char *name, *host, *wait;
  rl_task *tasks;
  char **task_names;
  /* Per task its tags, NULL-ended (NULL: none): c.task_tags. */
  char ***task_tags;
  int has_on_start, has_on_stop;
  /* wait = function(u) ... end (and no --wait): asked after each task. */
  int wait_fn;
  /* What it declares (declare.c): its requests, NULL-ended, and the
   * lookups' tables: the hosts of `hosts`, the grpc methods, the
   * protocols (with their hosts, NULL: the class's). */
  const char **requests;
  size_t n_requests;
  char **hosts, **grpc_methods, **protocols, **protocol_hosts;
  size_t n_hosts, n_grpc, n_protocols;
  /* Per gRPC method: its shape (RL__SCRIPT_GRPC_* bits, known from its
   * proto) and its request (one per method and host). */
  int *grpc_kinds;
  size_t *grpc_first;
  /* grpc.host (NULL: the class's) and grpc.hosts, the others a call may
   * name (opts.host): the methods' requests again per host, grpc_block
   * after the ones before. */
  char *grpc_host, **grpc_hosts;
  size_t n_grpc_hosts, grpc_block;
  /* No grpc table: its methods are the proto objects' the script made,
   * with no host of their own (a call gives host=; declare.c). */
  int grpc_runtime;
  size_t protocols_base;
  int http_default; /* the HTTP requests to its host come first */
  /* sequential = true (Locust's SequentialTaskSet as a class); driven:
   * sequential or a task is an rl.taskset, so its phases go through
   * taskset.c's driver. */
  int sequential, driven;
  int set_stops;    /* a set among its tasks has an on_stop (in it or below) */
  size_t max_words; /* per protocol, requests of 1..max_words words */
  /* Per protocol: its first request, and 1 when its plugin is a transport
   * (its own I/O, as udp): one request whose body is the payload. */
  size_t *protocol_first;
  unsigned char *protocol_payload;
} rl__script_class;

/* A worker thread's Lua state (runtime.c). */
typedef struct rl__script_state rl__script_state;

/* A Lua error message seen, with how often (printed once). */
typedef struct rl__script_err {
  char *text;
  unsigned long count;
  struct rl__script_err *next;
} rl__script_err;

typedef struct rl__script {
  char *path;
  char *written_in; /* "Lua, PATH": the classes' written_in (--list) */
  rl__script_class *classes;
  size_t n_classes;
  rl__script_limits limits; /* --lua-memory, --lua-timeslice (safety.h) */
  pthread_mutex_t lock;     /* states and errs */
  rl__script_state *states;
  rl__script_err *errs;
  struct rl__script_feed *feeds; /* rl.csv's files (feed.c) */
  /* The state that loaded the script (main thread), kept open when the
   * script has an rl.shape (shape.c) or main-thread rl.events listeners
   * (events.c), else NULL once the classes are
   * added; its guard here, as the state keeps the guard's address. */
  lua_State *main_L;
  rl__script_guard main_guard;
  int shape_ref;             /* rl.shape in main_L's registry */
  double shape_default_rate; /* -r: when rl.shape returns no rate */
  /* The environment it was added to: its plugins (declare.c: is a
   * protocol a transport's), its facts (events.c: rl.events.init). */
  rl_env *env;
  /* --tags, --exclude-tags (the environment's options: borrowed), which
   * taskset.c applies inside task sets and sequential classes. */
  const char *const *tags, *const *exclude_tags;
  size_t n_tags, n_exclude_tags;
} rl__script;

/* Opens the rl library in L (lib.c): the global `rl` and
 * require "rpcload". */
void rl__script_open_lib(lua_State *L);

/* helpers.c: rl.uuid, rl.random_int, rl.random_string into the table at
 * rl_table. */
void rl__script_open_helpers(lua_State *L, int rl_table);

/* Loads and runs the script's chunk in L: 0, or -1 with
 * "FILE:LINE: message" on L's stack top. */
int rl__script_run_file(lua_State *L, const char *path);

/* Pushes the tasks of the class table at `idx` onto L's stack as one
 * array of {fn, weight, name} in the order both the main thread and the
 * workers see them: the list part first, then integer keys (weights) in
 * order, then string keys (names) in order. Returns the count, or -1 with
 * the reason on the stack top (instead of the array). */
int rl__script_tasks(lua_State *L, int idx);

/* The class marker rl.user puts in a class table. */
extern const char rl__script_class_key[];

/* runtime.c: the phase functions the classes are added with. */
void rl__script_phase(rl_user *u, void *arg);
void rl__script_free_user(void *data, void *arg);
/* Frees the states (after the run's users are gone). */
void rl__script_states_free(rl__script *s);

/* A Lua error in a user's phase: printed once per distinct text, counted
 * (any thread). */
void rl__script_error_seen(rl__script *s, const char *text);

/*
 * opts.c: a request call's `headers = {name = value, ...}` option (the
 * table at idx) as rl_kv fields, in name order (a Lua table has none):
 * *out in a userdata left on the stack, the strings the table's (or
 * pushed on the stack), all alive until the caller pops them; rl_user_send
 * copies them. Names are strings; values strings or numbers, anything else
 * an error naming `what` and the field. *n 0 for an empty table.
 */
void rl__script_headers(lua_State *L, int idx, const char *what,
                        const rl_kv **out, size_t *n);

/*
 * declare.c: the requests of the class table at idx (script.h's top and
 * declare.c's say which), into k->requests and its lookup tables; 0, or
 * -1 with the reason in why. has_target: the run has a host (--host), so
 * a class without one still has HTTP requests to its host. Main thread,
 * at load. _free frees them.
 */
/* The messages a client or bidi stream's call sends at most. */
#define RL__SCRIPT_MAX_MESSAGES 100000
enum { RL__SCRIPT_GRPC_SERVER = 1, RL__SCRIPT_GRPC_CLIENT = 2 };
/* u:request's words: a class declares RL__SCRIPT_WORDS word counts per
 * protocol, or its max_words = N (at most RL__SCRIPT_WORDS_LIMIT: the
 * requests and their templates grow as N * N / 2). */
#define RL__SCRIPT_WORDS 16
#define RL__SCRIPT_WORDS_LIMIT 256
int rl__script_declare(lua_State *L, int idx, rl__script *s,
                       rl__script_class *k, int has_target, char *why,
                       size_t whylen);
void rl__script_declared_free(rl__script_class *k);
/* After the environment compiled k (rl_env_add_user_class): each gRPC
 * method's shape as the grpc plugin's step has it (plugin ABI 1.9
 * step_streams: from a .proto, a descriptor set or reflection alike).
 * A method whose shape differs from the one declared (unary when the
 * class names a protoset or relies on reflection) gets its requests
 * declared again and its kind set; *changed is then set: the caller
 * compiles the classes again (rl__api_env_replan). 0, or -1 out of
 * memory. Main thread, at load. */
int rl__script_grpc_shapes(rl__script *s, rl__script_class *k, int *changed);
/* The first HTTP request (GET, no body) to the declared host `url`
 * starts with (one of k->hosts, or the class's own host), *path the rest
 * of url; -1 when none is. */
long rl__script_host_request(const rl__script_class *k, const char *url,
                             const char **path);
/* The index (in k->grpc_methods) of a declared gRPC method, named in
 * full or by "Method", "Service/Method", "pkg.Service.Method" (-1: none,
 * -2: several); the request of a declared protocol with that many words
 * (-1 when not declared). */
long rl__script_grpc_method(const rl__script_class *k, const char *method);
/* The block of a call's host (nil: 0, the grpc table's host; then its
 * hosts, 1...); -1 when not declared. */
long rl__script_grpc_host_block(const rl__script_class *k, const char *host);
long rl__script_protocol_request(const rl__script_class *k,
                                 const char *protocol, size_t words);
/* The request of a declared transport plugin's protocol (its payload the
 * body {{_rl_body}}); -1 when it is not one. */
long rl__script_payload_request(const rl__script_class *k,
                                const char *protocol);
/* Pushes the list's items joined by ", " ("none" when empty). */
void rl__script_list_text(lua_State *L, char **list, size_t n);

/*
 * runtime.c, for calls.c: the class of the user whose coroutine L is (a
 * Lua error naming `what` otherwise), and a send of its request `req`
 * after setting the n_vars user variables vars[2i] = vars[2i + 1]: yields
 * to the loop, the response comes back as the call's result (a Lua error
 * naming `what` when it cannot be sent). name and headers as
 * rl_send_opts's, borrowed for the call.
 */
rl__script_class *rl__script_running_class(lua_State *L, const char *what);
int rl__script_send(lua_State *L, const char *what, size_t req,
                    const char *name, const rl_kv *headers, size_t n_headers,
                    const char *const *vars, size_t n_vars);
/* The same with the send's own request timeout (0: --timeout's). */
int rl__script_send_timed(lua_State *L, const char *what, size_t req,
                          const char *name, const rl_kv *headers,
                          size_t n_headers, const char *const *vars,
                          size_t n_vars, uint64_t timeout_ns);
/* opts.c: the request timeout of the options table at idx (`timeout =
 * seconds`, a number > 0 and at most a day): 0 when not given; anything
 * else a Lua error naming `what`. */
uint64_t rl__script_timeout(lua_State *L, int idx, const char *what);
/* Read by rl__script_timeout with the timeout: the options said event =
 * false, so the next send on this thread is no request event
 * (rl_send_opts.no_event). rl__script_send_timed takes it (and clears
 * it); each resume clears it too, so an error between the two (the
 * resume's end) leaves nothing for a later send. */
extern _Thread_local int rl__script_next_no_event;
/* The same way, set by a call just before its rl__script_send_timed: the
 * host (on the caller's Lua stack) the send goes to in place of its
 * request's own, a host the class did not declare (rl_send_opts.host:
 * a target added while the run goes); NULL: none. */
extern _Thread_local const char *rl__script_next_host;
/* The same way: the send's response is a unary or client stream gRPC
 * call's (its reply's fields read on it: r.message); 0: not. A thread
 * local, not a call to runtime.c: that would cost each gRPC call a
 * lookup of its user. */
extern _Thread_local int rl__script_next_message;

/* runtime.c, for model.c: the rl_user of the user whose coroutine L is
 * (a Lua error naming `what` otherwise); ends L's phase now with no Lua
 * error counted (as rl.fail's end), never returning. */
rl_user *rl__script_running_user(lua_State *L, const char *what);
int rl__script_end_quietly(lua_State *L);

/*
 * model.c: Locust's user model beyond tasks and waits. u:interrupt() and
 * rl.stop_user() (C functions); ask_wait calls class k's wait function
 * (wait = function(u) ... end) with the user's table (u_ref, in L's
 * registry) after a task, under the guard g, and gives its seconds to
 * rl_user_wait_next: an error or a bad value is a counted Lua error of
 * "Class.wait" and the class's default wait applies.
 */
int rl__script_lua_interrupt(lua_State *L);
int rl__script_lua_stop_user(lua_State *L);
void rl__script_ask_wait(lua_State *L, rl__script_guard *g, rl__script_class *k,
                         int u_ref, rl_user *cu);

/*
 * feed.c: rl.csv. bind records in L's registry the script L runs (each
 * state, after rl__script_open_lib), which rl.csv finds its files with;
 * feeds_free frees them (after the states are closed).
 */
void rl__script_bind(lua_State *L, rl__script *s);
/* The script bound to L (NULL: none). */
rl__script *rl__script_bound(lua_State *L);
int rl__script_lua_csv(lua_State *L);
void rl__script_feeds_free(rl__script *s);
/* helpers.c: a draw of this thread's generator. */
uint64_t rl__script_random(void);

/*
 * shape.c: the script's rl.shape, after its classes loaded in L (main
 * thread): none, or with --web, 0 and nothing kept; a function, 0 with L
 * kept as s->main_L (closed by the script's free) and the run's shape_fn
 * set on env's options; anything else, or with -u/--stages/--rate, -1
 * with the reason in why.
 */
int rl__script_shape_setup(rl_env *env, rl__script *s, lua_State *L, char *why,
                           size_t whylen);

/*
 * events.c: rl.events into the table at rl_table (every state); after the
 * classes loaded in L (main thread), the listeners the script added there
 * hooked to env: test_start, spawning_complete, test_stop and quitting
 * keep L as s->main_L and are called there, request through
 * rl_env_on_request in each worker thread's state. 0, or -1 with the
 * reason in why.
 */
void rl__script_open_events(lua_State *L, int rl_table);

/* cluster.c: rl.cluster (register, send, role) into the table at
 * rl_table, and the conversion of a custom message's data. */
struct msgpack_packer;
void rl__script_open_cluster(lua_State *L, int rl_table);
/* The Lua value at idx as one msgpack value into pk: 0, or -1 with a
 * reason naming where in the value (data.users[2].name) in err. */
int rl__script_pack_value(lua_State *L, int idx, struct msgpack_packer *pk,
                          char *err, size_t errlen);
/* Pushes the one msgpack value in data (len 0: nil): 0, or -1 with the
 * reason in err and nothing pushed (bytes that are no single msgpack
 * value, cut short, too deep, a map key nil). */
int rl__script_push_value(lua_State *L, const void *data, size_t len, char *err,
                          size_t errlen);
int rl__script_events_setup(rl_env *env, rl__script *s, lua_State *L, char *why,
                            size_t whylen);
/* fire.c: rl.events.request:fire (after rl.events) and rl.time. */
void rl__script_open_fire(lua_State *L, int rl_table);
/* runtime.c: a Lua thread of this worker thread's state for listeners
 * (its guard in *g), or NULL when the thread has none (no Lua user ran
 * here) or its script failed to load. */
lua_State *rl__script_thread_listener(rl__script *s, rl__script_guard **g);

/*
 * taskset.c: rl.taskset into the table at rl_table, with the driver and
 * u:interrupt in L's registry (every state). push_driver pushes the
 * function a driven class's phases run as: driver(u, phase (0 on_start, 1
 * a task, 2 on_stop), the engine's pick (1-based), the class table, its
 * tasks array); push_interrupt the u:interrupt every user gets.
 * is_taskset: whether the value at idx is an rl.taskset{...} table.
 */
extern const char rl__script_taskset_key[];
void rl__script_open_tasksets(lua_State *L, int rl_table);
void rl__script_push_driver(lua_State *L);
void rl__script_push_interrupt(lua_State *L);
int rl__script_is_taskset(lua_State *L, int idx);
/* The tags the engine filters a class's task entry at idx ({set, weight,
 * name, tags}, an rl.taskset's) by: those of the tasks --tags and
 * --exclude-tags leave in it (a task's tags: its own and the entries'
 * above it), else those of all its tasks, so that the engine keeps the
 * entry exactly when a task is left in it (Locust drops an empty set).
 * *out: a NULL-ended list the caller frees (NULL: no tags); -1 when out
 * of memory. */
int rl__script_entry_tags(lua_State *L, int idx, char ***out);
/* runtime.c, for the driver: the running task has no wait after it
 * (u:interrupt's reschedule); the name errors of the running phase give
 * (a string: "Set.task" under the class's name; nil: the engine's). */
int rl__script_lua_skip_wait(lua_State *L);
int rl__script_lua_set_where(lua_State *L);

/*
 * grpcproto.c: rl.grpc (rl.grpc.proto) into the table at rl_table; is_proto
 * whether the value at idx is a proto object; proto_of pushes the object
 * of `file` (relative to the script) and returns 0, or -1 with nothing
 * pushed when it cannot be read.
 */
extern const char rl__script_proto_key[];
void rl__script_open_grpc(lua_State *L, int rl_table);
int rl__script_is_proto(lua_State *L, int idx);
int rl__script_proto_of(lua_State *L, const char *script, const char *file);
/* runtime.c, for calls.c: the next response of the running user is a
 * server or bidi stream's (r:messages() gives its replies). */
void rl__script_reply_is_stream(lua_State *L);
/* runtime.c, for calls.c: u.grpc:stream's send, as rl__script_send_timed
 * but returning at once with the call's object (its r:messages() an
 * iterator over the replies as they come, r:close()); one open per user. */
int rl__script_open_stream(lua_State *L, const char *what, size_t req,
                           const char *name, const rl_kv *headers,
                           size_t n_headers, const char *const *vars,
                           size_t n_vars, uint64_t timeout_ns);

/* calls.c: u.grpc (pushed, one table every user of a state shares) and
 * u:request (a C function). */
void rl__script_make_grpc(lua_State *L);
int rl__script_lua_request(lua_State *L);

#endif /* RL_SCRIPT_SCRIPT_H */

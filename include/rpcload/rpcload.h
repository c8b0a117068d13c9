/*
 * rpcload as a library (librpcload; pkg-config rpcload): the one header an
 * embedding program includes. The rpcload command is built on this header
 * alone (cli/), so anything the command does, an embedder can.
 *
 * An environment (rl_env, Locust's Environment) holds a run: the options
 * (what the command line takes, by the same names), the plan (the quick
 * command line's one request, a scenario file, or user classes written in
 * C), listeners, the web UI and the reports. It runs in one of two ways:
 *
 *   - rl_env_exec(): the whole run on the calling thread, as the rpcload
 *     command does it (Ctrl-C stops, a second Ctrl-C cuts, the reports
 *     the options ask for are written at the end). Returns the command's
 *     exit status.
 *   - Steered (Locust's runner): rl_env_start() starts users on a thread of
 *     the library's own; rl_env_wait(), rl_env_stop(), rl_env_quit() and
 *     rl_env_stats() are called from any thread. The library installs no
 *     signal handler in this mode: the embedding program owns its signals.
 *
 * Versioning, as for the plugin ABI (rpcload/plugin.h): RL_API_MAJOR
 * changes when a function or struct member changes meaning or type;
 * RL_API_MINOR when one is added. Structs a caller fills start with their
 * size, so an older caller's shorter struct still reads right.
 * rl_api_version() is the library's version, to compare with the header's.
 *
 * Errors: functions return 0 or a negative RL_ERR_* code (rpcload/plugin.h)
 * and, when they take an rl_error_info, fill it with the code and a one-line
 * reason that names what was wrong and where ("-u: expected a number, got
 * 'x'", "shop.yaml:12:5: unknown key 'tsks'").
 *
 * Ownership is stated at each function: "owned" is the caller's to free
 * with the function named; "borrowed" stays the library's and is valid
 * for as long as said.
 */
#ifndef RPCLOAD_RPCLOAD_H
#define RPCLOAD_RPCLOAD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <rpcload/listener.h>
#include <rpcload/plugin.h>
#include <rpcload/user.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RL_API_MAJOR 1
#define RL_API_MINOR 7
#define RL_API_VERSION ((uint32_t)((RL_API_MAJOR << 16) | RL_API_MINOR))

/* The library's API version (RL_API_VERSION it was built with). A program
 * built with another major must not use it. */
uint32_t rl_api_version(void);

/* The library's release ("0.4.0"); static. */
const char *rl_version(void);

/* An error's code (RL_ERR_*) and reason. */
typedef struct rl_error_info {
  int code;
  /* 1: the options themselves are wrong (unknown, malformed, conflicting:
   * a usage error, where the command points at --help); 0: what they name
   * is (a file, a plugin, a target). */
  int usage;
  char text[1024];
} rl_error_info;

/* ---- Options ------------------------------------------------------------ */

/*
 * The options of a run, by the command line's long names (docs/cli.md,
 * `rpcload --help`): "users", "spawn-rate", "run-time", "rate", "proto",
 * "call", "data", "header" (repeatable), "csv", "html", "json-file"...
 * `_` and `-` are the same in a name. The operand (the target URL or
 * host:port) is "target". Values are checked when the environment is
 * made (rl_env_new), with the command line's messages.
 */
typedef struct rl_options rl_options;

/* An empty option set (owned: rl_options_free). NULL when out of memory. */
rl_options *rl_options_new(void);
void rl_options_free(rl_options *o);

/*
 * Adds one option: `value` NULL for a flag ("headless"); a repeatable
 * option accumulates, any other keeps its last value. Both strings are
 * copied. Returns 0, or RL_ERR_INVAL when `name` is no option (the reason
 * in err, with the nearest name), or RL_ERR_NOMEM.
 */
int rl_options_set(rl_options *o, const char *name, const char *value,
                   rl_error_info *err);

/*
 * Adds command-line arguments as the rpcload command reads them (options
 * and operands, short or long; argv[0] is not among them). Copied. The
 * rpcload command passes its own argv here, after its config file's and
 * the environment's options (cli/config.c). Returns 0 or RL_ERR_NOMEM.
 */
int rl_options_add_args(rl_options *o, int argc, char *const *argv);

/* The long options (without dashes) and whether each takes a value
 * (has_value 1) or not (0), for a caller that reads options from
 * elsewhere (a config file, environment variables). `fn` is called once
 * per option, in --help's order. */
void rl_options_each(void (*fn)(const char *name, int has_value, int short_name,
                                void *arg),
                     void *arg);

/* ---- The environment ---------------------------------------------------- */

typedef struct rl_env rl_env;

/* What the options ask of rpcload (rl_env_command). */
typedef enum rl_command {
  RL_CMD_RUN = 0,   /* a load test */
  RL_CMD_HELP,      /* --help: the caller prints its help */
  RL_CMD_VERSION,   /* --version */
  RL_CMD_PLUGINS,   /* --plugins: list the plugins */
  RL_CMD_LIST,      /* --list: a service's methods, a scenario's tasks;
                       --print-locustfile: Locust classes for them */
  RL_CMD_TASK_RATIO /* --show-task-ratio */
} rl_command;

/*
 * Makes an environment from options (borrowed for the call): parses and
 * checks them, loads the plugins, the listeners (--listener) and the
 * scenario (-f) or the target, so that every configuration error is told
 * here, before any load. Returns 0 and *out (owned: rl_env_free), or a
 * negative RL_ERR_* with the reason in err (exit status 2 for a command).
 * With --help or --version nothing else is checked.
 */
int rl_env_new(const rl_options *o, rl_env **out, rl_error_info *err);

/* Shorthands: a scenario file with nothing else, or the quick command
 * line's target and request (`call` NULL: a plain GET for a URL).
 * NULL on error, with the reason in err. */
rl_env *rl_env_new_from_scenario(const char *path, rl_error_info *err);

/* What the options asked for. */
rl_command rl_env_command(const rl_env *env);

/*
 * Does what the options ask (any rl_command but HELP), on the calling
 * thread, printing as the rpcload command does (the console report on
 * stdout, warnings and errors on stderr), and returns the command's exit
 * status: 0 all good; 1 requests failed (--exit-code-on-error) or none
 * finished or --max-dropped was exceeded; 2 a usage, configuration or
 * start-up error; 3 a report could not be written. For a run: SIGINT and
 * SIGTERM stop it (a second one cuts what is in flight) and every report
 * is still written. Once per environment; not with rl_env_start.
 */
int rl_env_exec(rl_env *env);

/*
 * Steered use. rl_env_start starts (or changes to) `users` users at
 * `spawn_rate` a second: the first call starts the run on the library's
 * threads and returns at once. 0, or a negative RL_ERR_* with the reason
 * in err (the threads could not start, RL_ERR_CLOSED after rl_env_quit).
 */
int rl_env_start(rl_env *env, uint32_t users, double spawn_rate,
                 rl_error_info *err);

/*
 * Waits until the test has ended by itself (--run-time, -n, a load shape's
 * end) or was stopped or quit, at most `timeout_s` (< 0: no limit).
 * Returns 0 when it has ended, RL_ERR_TIMEOUT when it still runs.
 */
int rl_env_wait(rl_env *env, double timeout_s);

/*
 * Stops every user and returns when the figures are final (every user
 * stopped, cut after --stop-timeout, and every thread's stats merged):
 * a snapshot taken afterwards is the test's last word. The run can start
 * again (rl_env_start). 0, or RL_ERR_CLOSED when it is not running.
 */
int rl_env_stop(rl_env *env);

/*
 * Ends the run: stops the users, fires test_stop and quitting, stops the
 * web UI, and writes the reports the options ask for (--csv, --html,
 * --json-file). Returns once that is done: 0, or RL_ERR_IO when a report
 * could not be written (said on stderr). The stats stay readable.
 */
int rl_env_quit(rl_env *env);

/* The exit status rl_env_exec would return for the run so far (after
 * rl_env_quit: the run's verdict). */
int rl_env_exit_status(const rl_env *env);

/* Frees the environment (quitting first if it runs). NULL is fine. */
void rl_env_free(rl_env *env);

/* ---- User classes written in C ----------------------------------------- */

/*
 * Classes whose tasks are C functions: rpcload/user.h (rl_user_class,
 * rl_user_send, rl_user_task_done, the user's variables and data).
 *
 * Adds a class before the run starts, compiled at once with those added
 * before (and -f's classes, which it joins): the error names the class,
 * the request's index and the scenario compiler's reason. Without -f the
 * options' target is the classes' host (their requests without a host go
 * there) and is not itself requested: the C classes are the run. `cls` and
 * what it points to are borrowed until rl_env_free (a new host typed in
 * the web UI compiles them again); each class's `arg` for as long as the
 * run goes. 0, or RL_ERR_INVAL / RL_ERR_NOMEM with the reason in err, or
 * RL_ERR_BUSY once the run has started.
 */
int rl_env_add_user_class(rl_env *env, const rl_user_class *cls,
                          rl_error_info *err);

/*
 * Lua users (API 1.1; src/script/, docs/lua.md): loads the Lua script at
 * `path` (NULL: the options' -s/--script; none given: nothing to do, 0)
 * on the calling thread, and adds every user class it declares (an
 * rl.user{...} assigned to a global, named after it) as
 * rl_env_add_user_class does. Each worker thread loads the script again
 * into a Lua state of its own when its first Lua user starts. The
 * environment owns what this loads until rl_env_free. 0, or RL_ERR_INVAL
 * with "FILE:LINE: message" (a syntax or load error, a malformed class)
 * in err, or RL_ERR_NOMEM, or rl_env_add_user_class's errors.
 */
int rl_env_add_script(rl_env *env, const char *path, rl_error_info *err);

/* ---- Events: listeners on an environment -------------------------------- */

/*
 * Adds a listener (rpcload/listener.h's descriptor, borrowed: it must
 * outlive the environment; `options` are copied) as --listener adds a
 * plugin's, before the run starts. Its callbacks run as documented there:
 * on_request on the worker threads, the others on the run's main thread.
 * Returns 0, or RL_ERR_ABI / RL_ERR_INVAL (the reason in err), or
 * RL_ERR_BUSY once the run has started.
 */
int rl_env_add_listener(rl_env *env, const rl_listener *desc,
                        const rl_kv *options, size_t n_options,
                        rl_error_info *err);

/* Locust's `request` event as one function: `fn(ctx, ev)` on the worker
 * threads, lock-free; it may return an error text to fail the request
 * (see rl_listener.on_request). Before the run starts. */
typedef const char *(*rl_request_fn)(void *ctx, const rl_request_event *ev);
int rl_env_on_request(rl_env *env, rl_request_fn fn, void *ctx,
                      rl_error_info *err);

/* ---- Custom messages (API 1.5) ----------------------------------------- */

/*
 * Locust's register_message / send_message (docs/cluster.md). The data is
 * the bytes of one msgpack value: what the cluster's wire carries as it
 * is (Locust's data is any msgpack value), so nothing is converted twice
 * and any value Locust sends is readable; build it with msgpack-c
 * (msgpack_pack_*) and read it with msgpack_unpack_next.
 *
 * rl_env_register_message: `fn(arg, type, data, len)` for each message of
 * `type` (copied), on the run's main thread, data borrowed for the call
 * (len 0: no data). Any time before rl_env_free. 0, or RL_ERR_INVAL (no
 * type or fn), RL_ERR_NOMEM.
 *
 * rl_env_send_message: from the run's main thread (a handler, a
 * listener's main-thread callback) or before the run. In one process it
 * calls this environment's handlers of `type` at once (as Locust's
 * LocalRunner) and returns how many ran, RL_ERR_NOTFOUND when none did
 * (logged as Locust logs it). On a --master or --worker it queues the
 * message for the wire and returns 0: a master's goes to the worker
 * `node_id` names, or to each live worker when it is NULL; a worker's to
 * its master (node_id unused). Data that is not one msgpack value is
 * RL_ERR_INVAL with the reason in err (err may be NULL).
 *
 * rl_env_message_node: inside a handler, the sender's node id (a
 * worker's, or the master's frame's); else NULL. Borrowed for the call.
 */
int rl_env_register_message(rl_env *env, const char *type, rl_message_fn fn,
                            void *arg, rl_error_info *err);
int rl_env_send_message(rl_env *env, const char *type, const void *data,
                        size_t len, const char *node_id, rl_error_info *err);
const char *rl_env_message_node(const rl_env *env);

/* ---- The web UI ---------------------------------------------------------- */

/*
 * Serves Locust's web UI and HTTP API for this environment on host:port
 * (port 0: the kernel picks; rl_env_web_ui_port says which), from now
 * until rl_env_quit. The run waits for the page's Start when nothing
 * started it. 0, or a negative RL_ERR_* with the reason in err.
 */
int rl_env_web_ui(rl_env *env, const char *host, int port, rl_error_info *err);
int rl_env_web_ui_port(const rl_env *env); /* -1: none */

/* ---- Stats snapshots ---------------------------------------------------- */

typedef struct rl_stats rl_stats;
typedef struct rl_stats_entry rl_stats_entry;

/*
 * A copy of the run's stats now (any thread; merged from every worker
 * within the last second, final after rl_env_stop or rl_env_quit). Owned:
 * rl_stats_free. NULL when out of memory or before any run.
 */
rl_stats *rl_env_stats(rl_env *env);
void rl_stats_free(rl_stats *s);

/* The Aggregated row; borrowed from `s`. */
const rl_stats_entry *rl_stats_total(const rl_stats *s);
/* The (type, name) rows in Locust's order; borrowed from `s`. */
size_t rl_stats_count(const rl_stats *s);
const rl_stats_entry *rl_stats_at(const rl_stats *s, size_t i);
/* Calls fn for each row until it returns non-zero (returned). */
int rl_stats_foreach(const rl_stats *s,
                     int (*fn)(const rl_stats_entry *e, void *arg), void *arg);

/* A row's figures, Locust's: times in milliseconds. Strings borrowed from
 * the snapshot. */
const char *rl_entry_type(const rl_stats_entry *e); /* "Aggregated": "" */
const char *rl_entry_name(const rl_stats_entry *e);
uint64_t rl_entry_num_requests(const rl_stats_entry *e);
uint64_t rl_entry_num_failures(const rl_stats_entry *e);
double rl_entry_avg_ms(const rl_stats_entry *e);
double rl_entry_min_ms(const rl_stats_entry *e);
double rl_entry_max_ms(const rl_stats_entry *e);
double rl_entry_median_ms(const rl_stats_entry *e);
/* Locust's get_response_time_percentile: `q` in 0..1 (0.95). */
double rl_entry_percentile_ms(const rl_stats_entry *e, double q);
double rl_entry_avg_content_length(const rl_stats_entry *e);
/* Over the run (Locust's total_rps / total_fail_per_sec). */
double rl_entry_rps(const rl_stats_entry *e);
double rl_entry_fail_per_s(const rl_stats_entry *e);

/* The failures, Locust's failures table: borrowed strings. */
size_t rl_stats_error_count(const rl_stats *s);
int rl_stats_error_at(const rl_stats *s, size_t i, const char **type,
                      const char **name, const char **error,
                      uint64_t *occurrences);

/* The history, a row a second (the --csv history's Aggregated rows). */
typedef struct rl_history_row {
  double unix_time;
  uint32_t users;
  double rps, fail_per_s;
  double p50_ms, p95_ms, avg_ms;
  uint64_t num_requests, num_failures; /* so far */
} rl_history_row;
size_t rl_stats_history_count(const rl_stats *s);
int rl_stats_history_at(const rl_stats *s, size_t i, rl_history_row *out);

/* The users running now, and the run's state as Locust names it
 * ("ready", "spawning", "running", "stopping", "stopped", "quitting"). */
uint32_t rl_env_user_count(const rl_env *env);
const char *rl_env_state(const rl_env *env);

#ifdef __cplusplus
}
#endif

#endif /* RPCLOAD_RPCLOAD_H */

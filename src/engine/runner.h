/*
 * The run: worker threads, spawning users at the spawn rate, the run-time
 * limit, signals (first Ctrl-C/SIGTERM stops, the second cuts), and a
 * periodic report callback. Runs on the main thread's own libev loop; the
 * workers' loops run on their threads.
 */
#ifndef RL_RUNNER_H
#define RL_RUNNER_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

#include <ev.h>

#include <rpcload/plugin.h>

#include "engine/budget.h"
#include "engine/lag.h"
#include "engine/profile.h"
#include "engine/wait.h"
#include "events/events.h"
#include "stats/history.h"
#include "stats/hub.h"
#include "stats/stats.h"

struct rl__target;
struct rl__worker;
struct rl__runner;

typedef struct rl__run_config {
  uint32_t users;           /* peak concurrent users */
  double spawn_rate;        /* users started per second, > 0 */
  uint64_t run_time_ns;     /* 0: until a signal */
  uint32_t threads;         /* worker threads, >= 1 */
  rl__wait wait;            /* between tasks */
  uint64_t stop_timeout_ns; /* grace for in-flight tasks at the end */
  uint64_t seed;            /* for waits (and later, task choices) */
  double report_interval_s; /* 0: no periodic report */
  uint32_t connections;     /* 0: one per user; else shared, N in all */
  int full_history; /* history rows per entry too (--csv-full-history) */
  /* Distinct error texts kept per (type, name); the rest share one row.
   * 0: RL__STATS_MAX_ERROR_ROWS; UINT32_MAX: no cap. */
  uint32_t max_error_rows;
  /* What users run (a scenario's classes); NULL: one class with one task
   * of one request, the target given to rl__runner_run. */
  const struct rl__plan *plan;
  /* Steered from outside (the web UI): no users until rl__runner_control
   * asks for them (unless autostart), the run-time limit counts from the
   * first start, and the run ends only by signal, rl__runner_control's
   * quit, or autoquit_s after a stop. */
  int steered;
  int autostart;     /* steered: start cfg->users at once */
  double autoquit_s; /* steered: end this long after a stop; < 0: never */
  /* Left out of the stats: requests first recorded in the run's first
   * warmup_ns (--warmup), and its first skip_first requests
   * (--skip-first). The reports' rates count from the warm-up's end. */
  uint64_t warmup_ns;
  uint64_t skip_first;
  /* The open model (--rate, --rate-stages): iterations start on this
   * schedule (engine/arrival.h), whatever the server's speed, each run by
   * one of `users` pooled users (--max-inflight; all started at once) or
   * dropped when every one is busy. NULL: the closed model. */
  const rl__profile *rate;
  int arrivals;            /* enum rl__arrivals_kind */
  int latency_uncorrected; /* --latency uncorrected: tables from the send */
  /* Arrivals that may wait for a busy pool (--max-queue; engine/loop.h):
   * past it they are dropped. */
  uint32_t max_queue;
  /* --arrival-slack: how late an arrival may start so that several share
   * a wake-up of the loop (0: each at the arrival timer's first
   * millisecond tick after it is due; engine/worker.c, pump_arrivals). */
  uint64_t arrival_slack_ns;

  /* --stages: the user count over time (the closed model); the spawner
   * follows it in place of users/spawn_rate. NULL: none. */
  const rl__profile *user_stages;
  /* A load shape computed as the run goes (Locust's LoadTestShape.tick; a
   * Lua script's rl.shape): the runner's thread calls shape_fn(shape_arg,
   * t, &users, &spawn_rate) at the start and once a second after, t the
   * seconds since the start; 0 asks for users at spawn_rate (a new ramp
   * when either changed), 1 ends the run. Takes the place of
   * users/spawn_rate and user_stages (not steered runs). NULL: none. */
  int (*shape_fn)(void *arg, double t, uint32_t *users, double *spawn_rate);
  void *shape_arg;
  /* -n/--iterations: the run stops once this many tasks have ended
   * (none is started past it). 0: no limit. */
  uint64_t iterations;
  /* --print-responses: the first this many responses of each step are
   * printed on stderr as they arrive (status, headers, body or message);
   * 0: none, and plugins collect no response for it. */
  uint32_t print_responses;
  /* Listeners (events/events.h), started (rl__events_start) by the
   * caller: the runner fires test_start, spawning_complete, test_stop and
   * the per-second report, the workers the request event. NULL: none. */
  struct rl__events *events;
  /* 1: the runner leaves SIGINT and SIGTERM alone (an embedding program,
   * the library's steered runs, owns its signals); the run ends by
   * rl__runner_control's quit, its limits, or a stop. */
  int no_signals;
} rl__run_config;

/* The run's state, as Locust's web UI shows it. */
enum rl__run_state {
  RL__STATE_READY = 0, /* steered, not started yet */
  RL__STATE_SPAWNING,  /* changing the user count at the spawn rate */
  RL__STATE_RUNNING,   /* at the asked user count */
  RL__STATE_STOPPING,  /* steered: users stopping, last stats merging */
  RL__STATE_STOPPED,   /* steered: users stopped and every figure final;
                          may start again */
  RL__STATE_ENDING     /* the run is ending (workers stopping) */
};

/* What another thread may ask of a running run (rl__runner_control). */
typedef struct rl__runner_ctl {
  int swarm; /* 1: change the user count to users at spawn_rate */
  uint32_t users;
  double spawn_rate;
  /* swarm, a new test (from ready or stopped): what its users run (a new
   * host's plan); it passes to the runner, which frees it. NULL: the
   * current plan. A new plan asked while a test runs is dropped. */
  struct rl__plan *plan;
  /* swarm: this test stops run_time_ns after this swarm (0: it runs until
   * stopped); without has_run_time a new test takes cfg->run_time_ns and
   * a running one keeps its limit. */
  int has_run_time;
  uint64_t run_time_ns;
  int stop;  /* 1: stop every user (steered: the run goes on) */
  int reset; /* 1: clear the stats and the history */
  int quit;  /* 1: end the run, as a signal would */
} rl__runner_ctl;

/* A hook on the main thread (see rl__runner_hooks). */
typedef void (*rl__report_fn)(struct rl__runner *r, void *arg);

/* What the caller wants to hear of the run; every member may be NULL.
 * All are called on the main thread, without the stats lock held. */
typedef struct rl__runner_hooks {
  /* Every cfg->report_interval_s while users run or stop (the console
   * table): not while a steered run is ready or stopped. */
  rl__report_fn report;
  /* Once, when the workers have started and rl__runner_control may be
   * used (start a web UI here). */
  rl__report_fn started;
  /* Every second, right after the history row was added (CSV files). */
  rl__report_fn second;
  /* Once, when the run is over and the workers have ended, before the
   * runner's loop goes (stop a web UI here). */
  rl__report_fn ended;
  void *arg;
} rl__runner_hooks;

/* A plan a new test replaced, kept until the run ends (plugins delete
 * steps after the load only). */
typedef struct rl__retired_plan {
  struct rl__plan *plan;
  struct rl__retired_plan *next;
} rl__retired_plan;

typedef struct rl__runner {
  const rl__run_config *cfg;
  const rl_host *host;
  /* What users run: cfg->plan, own_plan, or test_plan. The main thread
   * changes it between tests, under plan_lock; other threads read it with
   * rl__runner_with_plan. target is its first step's. */
  const struct rl__target *target;
  const struct rl__plan *plan;
  struct rl__plan *own_plan;
  struct rl__plan *test_plan; /* a new test's (rl__runner_ctl.plan), owned */
  rl__retired_plan *retired;  /* older test plans, owned (main) */
  pthread_mutex_t plan_lock;
  unsigned test_gen; /* tests started (main; workers follow) */
  int test_on;       /* listeners: test_start told, test_stop not yet (main) */
  uint64_t run_time_ns; /* the current test's limit; 0: none (main) */
  /* The run's merged stats and its history, a row per second: read them
   * with rl__runner_with_stats while the run goes; after it, directly,
   * until rl__runner_free. */
  rl__stats_hub hub;
  uint64_t start_ns;
  uint64_t end_ns;
  struct rl__worker *workers;
  uint32_t nworkers;
  uint32_t spawned; /* users the workers were told to have (main) */
  /* Users run elsewhere on this run's behalf (a cluster master's workers:
   * cluster/master.c sets it), counted in rl__runner_users_running so the
   * reports and the history show them. 0 otherwise. */
  _Atomic uint32_t remote_users;
  /* The users running when the run's stop began (main): the last history
   * row's and the reports' user count. */
  uint32_t users_at_stop;
  /* The current ramp: from swarm_from users to swarm_to at swarm_rate,
   * started at swarm_t0_ns (main thread). */
  uint32_t swarm_from, swarm_to;
  double swarm_rate;
  uint64_t swarm_t0_ns;
  _Atomic int state; /* enum rl__run_state; written by main, read by any */
  /* A steered stop: asked (any thread, under state_lock) and done (main,
   * under state_lock, once every worker's users have stopped and its
   * stats are merged); waiters sleep on state_cond. */
  pthread_mutex_t state_lock;
  pthread_cond_t state_cond;
  uint64_t stops_asked, stops_done;
  atomic_uint workers_stopped; /* workers done with the current stop */
  int swarm_pending;           /* a start asked while stopping */
  uint32_t pending_users;
  double pending_rate;
  struct rl__plan *pending_plan; /* owned */
  int pending_has_run_time;
  uint64_t pending_run_time_ns;
  /* Requests from other threads, applied on the main loop. */
  pthread_mutex_t ctl_lock;
  rl__runner_ctl ctl;
  ev_async ctl_async;
  ev_timer autoquit_timer;
  _Atomic uint64_t skipped; /* requests --skip-first has taken (workers) */
  int stopping;             /* a stop was sent */
  int signals;              /* signals received */
  uint64_t cut_requests;
  /* Client lag (engine/lag.h), every worker's summed: while the run goes
   * rl__runner_client_lag reads it; after it, here. lag_said is what the
   * per-second check has already told (main). */
  rl__lag lag;
  rl__lag lag_said;
  /* A run (or a steered test) stopped while its users were still being
   * spawned: it reached ramp_reached of the ramp_wanted users it was
   * going to, at ramp_rate a second, in ramp_ns (main; ramp_short 0
   * when every user was spawned). */
  int ramp_short;
  uint32_t ramp_reached, ramp_wanted;
  double ramp_rate;
  uint64_t ramp_ns;
  rl__runner_hooks hooks;
  /* -n (engine/budget.h): the last iteration's end wakes iter_async. */
  rl__budget budget;
  ev_async iter_async;
  /* --stages: the spawner's clock and the stage it is in (main). */
  ev_timer shape_timer;
  uint64_t shape_t0_ns;
  size_t shape_stage;
  /* shape_fn: the last ramp it asked (main; doubles: no padding) */
  double shape_users, shape_rate;
  /* main loop */
  struct ev_loop *loop;
  ev_async done_async;
  atomic_uint finished_workers;
  ev_timer spawn_timer, run_timer, report_timer, history_timer;
  ev_signal sigint_watcher, sigterm_watcher;
  /* After the loop: SIGINT/SIGTERM held (noted and ignored) until
   * rl__runner_free puts back what the caller had. */
  int signals_held;
  struct sigaction saved_sigint, saved_sigterm;
} rl__runner;

/*
 * Runs the load until the run time ends or a signal stops it, merging into
 * `stats` (caller-owned, must be empty, must outlive `r`). Plugins get
 * `host` (borrowed: the plugin set's). `cfg` and `target` must outlive the
 * call; `hooks` (may be NULL) is copied. Returns 0, or a negative code
 * when threads could not be started. On return every worker has ended and
 * `r` holds the run's figures (r->hub: stats and history) until
 * rl__runner_free(r), which the caller calls in every case.
 *
 * Signals: while the loop runs, the first SIGINT/SIGTERM stops the run and
 * the next ones cut what is still in flight. From the loop's end until
 * rl__runner_free they are held: the first is noted in one line on stderr,
 * all are ignored, so the caller's final reports are written whole (a
 * write to a pipe is restarted, not failed). rl__runner_free puts back
 * the dispositions the caller had.
 */
int rl__runner_run(rl__runner *r, const rl__run_config *cfg,
                   const rl_host *host, const struct rl__target *target,
                   rl__stats *stats, const rl__runner_hooks *hooks);

/* Frees what the run left for its reports (the history) and puts back
 * the caller's SIGINT/SIGTERM dispositions. */
void rl__runner_free(rl__runner *r);

/*
 * Any thread: calls `fn(stats, history, arg)` with the run's merged
 * stats, under the one lock the workers' merges take. Format into memory
 * in `fn` and write after it returns: a slow writer must not hold up the
 * workers.
 */
void rl__runner_with_stats(rl__runner *r, rl__stats_reader fn, void *arg);

/*
 * Any thread, while rl__runner_run runs (e.g. from the web UI's server
 * thread): asks the main loop for what `c` says (copied; c->plan passes
 * to the runner, which frees it). Several requests before the loop wakes
 * are merged: the last swarm wins, and its plan, or the last plan asked
 * (an earlier one is freed). The run must have
 * started (r->loop set); requests after its end are ignored.
 */
void rl__runner_control(rl__runner *r, const rl__runner_ctl *c);

/*
 * Any thread, while rl__runner_run runs: calls `fn(plan, arg)` with the
 * plan users run now (a new test may bring another), which stays valid
 * during the call only. Do not call the runner from `fn`.
 */
void rl__runner_with_plan(rl__runner *r,
                          void (*fn)(const struct rl__plan *plan, void *arg),
                          void *arg);

/*
 * Any thread, while rl__runner_run runs: a steered run's stop (as
 * rl__runner_control's stop) that returns once it is over, so that the
 * figures anyone reads afterwards are final: every user stopped (cut after
 * --stop-timeout) and every worker's last stats merged. Waits at most
 * `timeout_s`. Returns 0 when stopped, RL_ERR_TIMEOUT when still stopping
 * then, RL_ERR_CLOSED when the run ended meanwhile.
 */
int rl__runner_stop_wait(rl__runner *r, double timeout_s);

/*
 * Any thread: clears the run's stats and history now (a read right after
 * sees nothing from before), and has every worker drop what it recorded
 * before the reset at once (nothing recorded after it is lost).
 */
void rl__runner_reset(rl__runner *r);

/* Any thread while the run goes: the users running now, every worker's
 * summed (a user that stopped itself is not counted, as in Locust's
 * user_count; one retiring after its task still is). */
uint32_t rl__runner_users_running(const rl__runner *r);

/* The main thread, while the run goes: the grace in-flight tasks get at
 * every later stop, instead of cfg->stop_timeout_ns (a cluster worker
 * takes its master's stop_timeout from spawn, as Locust's worker does). */
void rl__runner_set_stop_timeout(rl__runner *r, uint64_t ns);

/* Main thread, or after the run: what the load shape asks for now (the
 * users of --stages, or the arrival rate of the open model, per second),
 * and whether there is one (0: a plain closed run). */
int rl__runner_target(const rl__runner *r, double *value);

/* Where the load shape is (rl__runner_shape_progress). */
typedef struct rl__shape_progress {
  int rate;          /* 1: arrivals per second (the open model); 0: users */
  double target;     /* what it asks for now */
  size_t stage;      /* 1-based; n_stages + 1 once past the last */
  size_t n_stages;   /* 0: a constant rate */
  double elapsed_s;  /* since the shape started */
  double duration_s; /* its length; 0: endless (a constant, or a loop) */
} rl__shape_progress;

/* Any thread, while the run goes (a snapshot: the web UI's): the load
 * shape's progress into *out. 0 when the run has no shape. */
int rl__runner_shape_progress(const rl__runner *r, rl__shape_progress *out);

/* The state's name as Locust's API spells it ("ready", "spawning",
 * "running", "stopping", "stopped"; "quitting" while the run ends). */
const char *rl__run_state_name(int state);

/* Main thread: the client lag of the run so far (every worker's loop
 * summed; engine/lag.h). After rl__runner_run, r->lag holds the total. */
void rl__runner_client_lag(const rl__runner *r, rl__lag *out);

/* Whole seconds since the run (the process's load, idle time included)
 * started. Rates do not divide by it: they use the history's span
 * (rl__history_window, rl__history_covered_s). */
uint64_t rl__runner_elapsed_sec(const rl__runner *r);

/* After the run: the seconds its stats cover, from the end of --warmup
 * (its start without one) to its end: what the reports' rates divide
 * by. */
double rl__runner_counted_s(const rl__runner *r);

#endif /* RL_RUNNER_H */

/*
 * A worker thread: one libev loop (engine/loop.h) running a share of the
 * users. It records into its own stats without locks and merges them into
 * the run's (stats/hub.h) once a second and at the end: the only lock a
 * worker takes, and never per request.
 *
 * The main thread steers it through set_users/command (an atomic and an
 * ev_async); everything else in here belongs to the worker thread. The
 * worker knows nothing of the runner: what it needs of the run comes in
 * its config, and it says it has ended through the config's hook.
 */
#ifndef RL_ENGINE_WORKER_H
#define RL_ENGINE_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include <rpcload/plugin.h>

#include "engine/arrival.h"
#include "engine/budget.h"
#include "engine/conn.h"
#include "engine/lag.h"
#include "engine/loop.h"
#include "stats/hub.h"

struct rl__plan;
struct rl__target;
struct rl__user;
struct rl__worker;

enum rl__worker_cmd {
  RL__CMD_RUN = 0,
  RL__CMD_STOP, /* stop spawning; users end after their task (stop-timeout) */
  RL__CMD_CUT,  /* end now: cancel what is in flight */
};

/* What a worker needs of the run; copied by rl__worker_start, the
 * pointers borrowed for the worker's life. */
typedef struct rl__worker_config {
  int index;                   /* 0-based */
  uint32_t nworkers;           /* users are dealt round-robin over them */
  const rl_host *host;         /* handed to plugins */
  const struct rl__plan *plan; /* what users run */
  uint64_t seed;
  uint64_t start_ns; /* the run's start (per-second stats) */
  /* --warmup's end (monotonic; 0: none), --skip-first N and the run's
   * count of requests taken so far (shared by the workers). */
  uint64_t warmup_end_ns;
  uint64_t skip_first;
  _Atomic uint64_t *skipped;
  uint64_t stop_timeout_ns; /* grace for in-flight tasks at a stop */
  /* --connections: this thread's shared connections, to `pool_target`;
   * 0: each user has its own. */
  uint32_t npool;
  const struct rl__target *pool_target;
  rl__stats_hub *hub; /* the run's stats, merged into once a second */
  /* The open model (--rate; NULL: the closed model): the run's arrival
   * rate over time, this thread taking its share (engine/arrival.h) with
   * its users as the pool that runs them; how they are spaced, and which
   * latency the tables show (engine/loop.h). */
  const rl__profile *rate;
  int arrivals;
  int latency_uncorrected;
  uint32_t print_responses;  /* rl__run_config's */
  uint32_t queue_cap;        /* this thread's share of --max-queue */
  uint64_t arrival_slack_ns; /* rl__run_config's */
  rl__budget *budget;        /* -n, or NULL */
  struct rl__events *events; /* listeners, or NULL (events/events.h) */
  /* Worker thread: the worker has ended (its last stats are merged). */
  void (*finished)(void *arg);
  /* Worker thread: every user of a stop (rl__worker_stop_users) has
   * stopped and the worker's stats are merged. */
  void (*users_stopped)(void *arg);
  void *finished_arg; /* for both */
} rl__worker_config;

typedef struct rl__worker {
  rl__worker_config cfg;
  rl_loop loop; /* what the users and connections see */
  pthread_t thread;
  int thread_started;
  ev_async wake;
  ev_prepare prepare;
  ev_idle idle;
  ev_timer flush_timer;
  ev_timer stop_timer;
  rl_conn *pool; /* --connections: this thread's shared connections */
  uint32_t npool;
  struct rl__user **users; /* every user spawned here */
  size_t nusers, cap;
  atomic_uint want_users; /* written by main */
  /* loop.live_users as of the last loop turn, for other threads: a user
   * that stops itself (a step's stop_user, an empty data file) leaves the
   * count, as it leaves Locust's user_count. */
  atomic_uint users_live;
  atomic_int command;   /* written by main */
  atomic_uint stop_gen; /* written by main: a stop of every user */
  /* A new test (rl__worker_new_test): what it runs, written by main. */
  _Atomic(const struct rl__plan *) next_plan;
  _Atomic(const struct rl__target *) next_pool_target;
  atomic_uint test_gen;      /* written by main */
  unsigned test_seen;        /* the test set up here */
  unsigned stop_seen;        /* the last stop_gen acted on */
  int users_stopping;        /* such a stop is under way */
  ev_timer users_stop_timer; /* its --stop-timeout: then users are cut */
  int finished;
  uint32_t active_users; /* not stopped and not retiring */
  unsigned stats_epoch;  /* the hub's epoch at the last merge */
  uint64_t cut_merged;   /* loop.cut_requests already in the hub */
  rl__lag_meter lag;     /* this thread's client lag (engine/lag.h) */
  /* The open model: this thread's schedule, on from the test's start
   * (arrivals_t0, monotonic, written by main) until a stop; the timer
   * ticks on the millisecond after the next arrival, and only its ticks
   * start arrivals (pump_arrivals). */
  rl__arrivals arr;
  int arr_on;
  uint64_t arr_t0;
  _Atomic uint64_t arrivals_t0;
  ev_timer arrival_timer;

  /* The grace for in-flight tasks at a stop: cfg.stop_timeout_ns, or what
   * rl__worker_set_stop_timeout said since (a cluster master's). */
  _Atomic uint64_t stop_timeout_ns;
} rl__worker;

/* Sets up the worker with `cfg` (copied) and starts its thread. 0 or an
 * error; on error rl__worker_join still frees what was set up. */
int rl__worker_start(rl__worker *w, const rl__worker_config *cfg);

/* Waits for the thread to end and frees the worker's users, loop, stats. */
void rl__worker_join(rl__worker *w);

/* Any thread: the users running on this worker now (see users_live). */
uint32_t rl__worker_users_live(const rl__worker *w);

/* Main thread: the number of users this worker should have. */
void rl__worker_set_users(rl__worker *w, uint32_t n);

/* Main thread, the open model: the test's arrivals count from `t0_ns`
 * (monotonic; the same for every worker so their shares interleave).
 * Call before the rl__worker_set_users that starts the test. */
void rl__worker_arrivals_from(rl__worker *w, uint64_t t0_ns);

/* Main thread: stop or cut. */
void rl__worker_command(rl__worker *w, enum rl__worker_cmd cmd);

/*
 * Main thread: stop every user (a steered run's stop; the worker stays for
 * the next start). Users between tasks stop now, users in a task finish it
 * within the stop timeout and are then cut; with no stop timeout they are
 * cut at once. When none is left the worker merges its stats and calls
 * cfg.users_stopped. A later rl__worker_set_users spawns anew.
 */
void rl__worker_stop_users(rl__worker *w);

/*
 * Main thread: a new test starts, from ready or stopped (every user here
 * has stopped). The worker drops its stopped users, so that user ids and
 * classes are dealt afresh, and restarts its transports; when `plan` is
 * another than its own, it also closes its shared connections and sets
 * them up again to `pool_target` (both borrowed: they must outlive the
 * worker). `gen` numbers the test (the worker sets up each once). Call
 * before rl__worker_set_users.
 */
void rl__worker_new_test(rl__worker *w, const struct rl__plan *plan,
                         const struct rl__target *pool_target, unsigned gen);

/* Any thread: the worker looks at the hub's epoch now: stats it recorded
 * before a reset are dropped at once rather than at its next merge. */
void rl__worker_wake(rl__worker *w);

/* Any thread: the grace in-flight tasks get at the next stop (a cluster
 * worker takes its master's stop_timeout, as Locust's does). */
void rl__worker_set_stop_timeout(rl__worker *w, uint64_t ns);

/* Any thread, while the worker exists: the client lag its loop has seen
 * (engine/lag.h). */
void rl__worker_lag(const rl__worker *w, rl__lag *out);

/* Requests cut at the stop (not in the stats); after rl__worker_join. */
uint64_t rl__worker_cut_requests(const rl__worker *w);

#endif /* RL_ENGINE_WORKER_H */

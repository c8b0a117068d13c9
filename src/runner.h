/*
 * The run: worker threads, spawning users at the spawn rate, the run-time
 * limit, signals (first Ctrl-C/SIGTERM stops, the second cuts), and a
 * periodic report callback. Runs on the main thread's own libev loop; the
 * workers' loops run on their threads.
 */
#ifndef RL_RUNNER_H
#define RL_RUNNER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <ev.h>

#include "history.h"
#include "stats.h"
#include "wait.h"

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
} rl__run_config;

/* Called on the main thread every report interval while the run goes. */
typedef void (*rl__report_fn)(struct rl__runner *r, void *arg);

typedef struct rl__runner {
  const rl__run_config *cfg;
  const struct rl__target *target;
  rl__stats *stats;     /* the run's merged stats; guard with `lock` */
  rl__history history;  /* a row per second; guard with `lock`; the caller
                           frees it (rl__history_free) after the run */
  pthread_mutex_t lock; /* held by workers merging, by reporters reading */
  uint64_t start_ns;
  uint64_t end_ns;
  struct rl__worker *workers;
  uint32_t nworkers;
  uint32_t spawned;  /* users asked for so far (main thread) */
  int stopping;      /* a stop was sent */
  int signals;       /* signals received */
  uint64_t cut_requests;
  rl__report_fn report;
  void *report_arg;
  /* main loop */
  struct ev_loop *loop;
  ev_async done_async;
  atomic_uint finished_workers;
  ev_timer spawn_timer, run_timer, report_timer, history_timer;
  ev_signal sigint_watcher, sigterm_watcher;
} rl__runner;

/*
 * Runs the load until the run time ends or a signal stops it, merging into
 * `stats` (caller-owned, must be empty). `cfg` and `target` must outlive
 * the call. `report` (may be NULL) is called every cfg->report_interval_s.
 * Returns 0, or a negative code when threads could not be started. On
 * return every worker has ended and `r` holds the run's figures.
 */
int rl__runner_run(rl__runner *r, const rl__run_config *cfg,
                   const struct rl__target *target, rl__stats *stats,
                   rl__report_fn report, void *report_arg);

/* Worker thread: this worker has ended (wakes the main loop). */
void rl__runner_worker_finished(rl__runner *r);

/* Seconds since the run started (for "current" rates). */
uint64_t rl__runner_elapsed_sec(const rl__runner *r);

#endif /* RL_RUNNER_H */

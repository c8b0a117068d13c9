/*
 * The run's stats as threads share them: the merged stats and the
 * history behind one lock. Worker threads record into stats of their own
 * without locks and merge them here once a second (rl__stats_hub_merge);
 * readers (console, CSV, web API, Prometheus) look at the merged figures
 * inside a callback that holds the lock (rl__stats_hub_read), formatting
 * into memory and writing after it returns, so a slow reader never holds
 * up a merge. Nothing else takes the lock.
 *
 * A reset (rl__stats_hub_reset) clears both and bumps an epoch: a worker
 * whose figures were recorded before it drops them at its next merge.
 *
 * The hub also keeps the history's span (history.h): when the figures
 * start and stop covering time (rl__stats_hub_cover), and how far every
 * worker has merged (each merge says up to when), so that rates divide by
 * the time the figures cover and current rates read only whole, merged
 * seconds.
 */
#ifndef RL_STATS_HUB_H
#define RL_STATS_HUB_H

#include <pthread.h>
#include <stdint.h>

#include "stats/history.h"
#include "stats/stats.h"

typedef struct rl__stats_hub {
  pthread_mutex_t lock;
  rl__stats *stats;    /* borrowed: the caller's, outlives the hub */
  rl__history history; /* owned */
  unsigned epoch;      /* bumped by every reset */
  /* Requests in flight when users were cut at a stop: ended, but neither
   * successes nor the server's failures, so not in `stats`. */
  uint64_t cut_requests;
  /* Distinct error texts per entry (rl__stats_set_max_error_rows), for
   * the merged stats and every worker's own; read-only once workers run. */
  size_t max_error_rows;
  int cap_warned; /* the cap's warning was given */
  /* Per worker: every request it ended before this is merged (monotonic
   * ns; UINT64_MAX once it has ended). The least is history.span's
   * merged_ns. */
  uint64_t *merged_ns;
  uint32_t nworkers;
  /* The load shape's target, copied into each row (history.h); < 0: no
   * shape. Written by the thread that ticks. */
  double target;
} rl__stats_hub;

/* Sets up a hub over `stats` (borrowed, empty); `full_history` keeps
 * per-entry history rows (--csv-full-history). */
void rl__stats_hub_init(rl__stats_hub *hub, rl__stats *stats, int full_history);

/* The cap on distinct error texts per entry (0: none), for the merged
 * stats now and for workers that read hub->max_error_rows when they set
 * up their own. Call before the workers start. */
void rl__stats_hub_set_max_error_rows(rl__stats_hub *hub, size_t n);

/*
 * The run has started at `start_ns` (monotonic; `start_unix` on the wall
 * clock) with `nworkers` workers merging: second 0 of the per-second
 * counters, and merge progress kept per worker from now on. Call before
 * the workers start. 0 or RL_ERR_NOMEM (then merges tell no progress and
 * readers take now).
 */
int rl__stats_hub_start(rl__stats_hub *hub, uint64_t start_ns,
                        double start_unix, uint32_t nworkers);

/*
 * The figures start (`on` 1: a test starts at `now_ns`; a start while
 * covering starts afresh) or stop (`on` 0: the test stopped at `now_ns`;
 * nothing when not covering) covering time.
 */
void rl__stats_hub_cover(rl__stats_hub *hub, int on, uint64_t now_ns);

/* Frees the history and the lock (the stats stay the caller's). */
void rl__stats_hub_free(rl__stats_hub *hub);

/*
 * A worker's merge: adds `local` (the thread's own stats) and `cut` (its
 * requests cut since the last merge) to the run's unless a reset came
 * since `*epoch` (then both are dropped), clears `local`, and sets *epoch
 * to the hub's. `worker` (0-based) says that it has merged every request
 * it ended before `through_ns` (rl__now_ns taken before the merge;
 * UINT64_MAX: its last merge). The first time an entry's error texts go
 * past the cap, a warning says so (once per run). Returns 0 or
 * RL_ERR_NOMEM.
 */
int rl__stats_hub_merge(rl__stats_hub *hub, rl__stats *local, uint64_t cut,
                        unsigned *epoch, uint32_t worker, uint64_t through_ns);

/* The hub's epoch now (under the lock): a worker that sees it change has
 * recorded its local stats before a reset. */
unsigned rl__stats_hub_epoch(rl__stats_hub *hub);

/* The run's cut requests so far (under the lock). */
uint64_t rl__stats_hub_cut(rl__stats_hub *hub);

/* Clears the merged stats, the cut count and the history, and bumps the
 * epoch. The figures cover from now on while a test runs, nothing while
 * none does. */
void rl__stats_hub_reset(rl__stats_hub *hub);

/*
 * Adds a history row at `now_ns` (after rl__stats_hub_start). Once a
 * second (`final` 0), half a second after a whole run second, when every
 * worker has merged it: the row tells the figures as of that second's
 * start. After a stop (`final` 1, every worker's stats merged): the figures
 * as they are now. A second that already has a row gets none. 0 or
 * RL_ERR_NOMEM.
 */
int rl__stats_hub_tick(rl__stats_hub *hub, uint64_t now_ns, uint32_t users,
                       int final);

/* What a reader sees, with the lock held: read only, and briefly. */
typedef void (*rl__stats_reader)(rl__stats *stats, const rl__history *history,
                                 void *arg);

/* Calls `fn(stats, history, arg)` with the lock held. */
void rl__stats_hub_read(rl__stats_hub *hub, rl__stats_reader fn, void *arg);

#endif /* RL_STATS_HUB_H */

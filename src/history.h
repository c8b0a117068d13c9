/*
 * The run's history: one row per second with the Aggregated figures, for
 * reporters (CSV history, charts). Percentiles in a row are over the last
 * RL__HISTORY_WINDOW seconds, as Locust's "current" ones are: workers add
 * each response time to the second it was merged in, and a row merges the
 * window's per-second histograms, so nothing is ever subtracted.
 *
 * Owned by the runner and guarded by its stats lock.
 */
#ifndef RL_HISTORY_H
#define RL_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "histogram.h"
#include "stats.h"

#define RL__HISTORY_WINDOW 10

typedef struct rl__history_row {
  uint64_t unix_time; /* wall clock, seconds */
  uint64_t elapsed_s; /* since the run started */
  uint32_t users;
  uint64_t requests, failures; /* totals so far */
  double current_rps, current_fps;
  /* over the window; 0 when it saw no request */
  uint64_t p50_ns, p66_ns, p75_ns, p80_ns, p90_ns, p95_ns, p98_ns, p99_ns,
      p999_ns, p9999_ns, p100_ns;
  /* totals so far */
  uint64_t avg_ns, min_ns, max_ns;
  double avg_bytes;
} rl__history_row;

typedef struct rl__history {
  rl__history_row *rows;
  size_t n, cap;
  rl__histogram second;                     /* being filled now */
  rl__histogram window[RL__HISTORY_WINDOW]; /* the last full seconds */
  size_t next;                              /* ring position */
} rl__history;

void rl__history_init(rl__history *h);
void rl__history_free(rl__history *h);

/* Workers: add the response times of one entry's delta to this second. */
int rl__history_add_times(rl__history *h, const rl__histogram *delta);

/*
 * Closes the current second: appends a row from `s` (the run's stats) and
 * the window. Returns 0 or RL_ERR_NOMEM.
 */
int rl__history_tick(rl__history *h, const rl__stats *s, uint64_t unix_time,
                     uint64_t elapsed_s, uint32_t users);

#endif /* RL_HISTORY_H */

/*
 * The run's history: one row per second with the Aggregated figures, for
 * reporters (CSV history, charts). Percentiles in a row are over the last
 * RL__HISTORY_WINDOW seconds, as Locust's "current" ones are: workers add
 * each response time to the second it was merged in, and a row merges the
 * window's per-second histograms, so nothing is ever subtracted.
 *
 * Per-entry figures (for `--csv-full-history`): after
 * rl__history_track_entries(), rl__history_add_entry() also keeps each
 * (type, name)'s response times per second, and every tick refreshes
 * `entry_rows`: one row per entry of the run's stats, in the stats' order,
 * with the same figures as the Aggregated row. Only the latest second's
 * entry rows are kept (the Aggregated rows are kept for the whole run). An
 * entry's seconds are stored sparsely (one (bucket, count) pair per
 * non-empty histogram bucket), so many entries cost little memory; without
 * tracking nothing per entry is allocated. Each entry also keeps its window
 * merged, updated per tick by adding the new second and subtracting the one
 * that leaves, so a tick costs one linear pass per entry.
 *
 * Owned by the runner and guarded by its stats lock.
 */
#ifndef RL_HISTORY_H
#define RL_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "stats/histogram.h"
#include "stats/stats.h"

#define RL__HISTORY_WINDOW 10

/* The percentiles of a row, in the order of its p*_ns members:
 * 50 66 75 80 90 95 98 99 99.9 99.99 100 (Locust's PERCENTILES_TO_REPORT). */
#define RL__HISTORY_NPCT 11
extern const double rl__history_percents[RL__HISTORY_NPCT];

typedef struct rl__history_row {
  uint64_t unix_time; /* wall clock, seconds */
  uint64_t elapsed_s; /* since the run started */
  uint32_t users;
  uint64_t requests, failures; /* totals of requests ended by elapsed_s */
  double covered_s;            /* the time those totals cover (see span) */
  double current_rps, current_fps;
  /* over the window; 0 when it saw no request */
  uint64_t p50_ns, p66_ns, p75_ns, p80_ns, p90_ns, p95_ns, p98_ns, p99_ns,
      p999_ns, p9999_ns, p100_ns;
  /* totals so far */
  uint64_t avg_ns, min_ns, max_ns;
  uint64_t median_ns; /* of every response time so far */
  uint64_t total_ns;  /* sum of every response time so far */
  double avg_bytes;
  /* The load shape's target when the row was taken (users of --stages,
   * arrivals/s of the open model); < 0: no shape. The open model's
   * iterations so far: due, and dropped for want of an idle user. */
  double target;
  uint64_t scheduled, dropped;
} rl__history_row;

/* One entry's figures at the latest tick (per-entry tracking only). */
typedef struct rl__history_entry_row {
  const char *type; /* owned by the history, valid until rl__history_free */
  const char *name;
  rl__history_row row; /* unix_time, elapsed_s, users: as the tick's row */
} rl__history_entry_row;

struct rl__history_entry; /* history.c */

/*
 * The time the run's figures cover, kept by the hub (stats/hub.h) and read
 * by reporters with the figures. Monotonic nanoseconds (rl__now_ns); all
 * 0 in a history no hub keeps (the tests'): then rates run from second 0
 * to the row's second, as if nothing ever idled.
 *  - run_start_ns: second 0 of the per-second counters;
 *  - from_ns: when the figures start, the test's start or the latest reset
 *    (0: they cover nothing yet, as before a web UI's first start);
 *  - to_ns: when they stop growing, the stop (0: not stopped);
 *  - merged_ns: every request that ended before it is in the figures (the
 *    workers merge once a second each; 0: not known, take now).
 * Final rates divide by to - from (or now - from), so idle time before a
 * start, after a stop or before a reset does not count; current rates use
 * only whole seconds in [from, min(now, to, merged)).
 */
typedef struct rl__history_span {
  uint64_t run_start_ns;
  double run_start_unix; /* the same instant on the wall clock, s */
  uint64_t from_ns, to_ns, merged_ns;
} rl__history_span;

typedef struct rl__history {
  rl__history_row *rows;
  size_t n, cap;
  rl__histogram second;                     /* being filled now */
  rl__histogram window[RL__HISTORY_WINDOW]; /* the last full seconds */
  size_t next;                              /* ring position */

  /* per-entry tracking; all empty unless rl__history_track_entries() */
  int track_entries;
  struct rl__history_entry **entries; /* sorted by (name, type) */
  size_t nentries, entries_cap;
  rl__history_entry_row *entry_rows; /* the latest tick's, stats order */
  size_t n_entry_rows, entry_rows_cap;
  void *scratch; /* tick's work area */
  size_t scratch_cap;

  rl__history_span span; /* kept by the hub; kept by a reset */
} rl__history;

void rl__history_init(rl__history *h);
void rl__history_free(rl__history *h);

/* Drops every row and every second's times ("reset stats"), keeping
 * whether entries are tracked and the span (rl__history_free + init would
 * forget them). */
void rl__history_reset(rl__history *h);

/* The whole seconds a current rate may average at `now_ns` (see the span
 * above and rl__stats_window): {0, 0} when the figures cover nothing. */
rl__stats_window rl__history_window(const rl__history *h, uint64_t now_ns);

/* The seconds the figures cover at `now_ns`: from the start or the latest
 * reset to the stop, or to now while they grow. 0 when they cover
 * nothing. */
double rl__history_covered_s(const rl__history *h, uint64_t now_ns);

/* The wall-clock time (Unix s) the figures start from; 0 when they cover
 * nothing or no hub keeps the span. */
double rl__history_from_unix(const rl__history *h);

/*
 * All RL__HISTORY_NPCT percentiles of `h` in one pass over its buckets;
 * out[i] equals rl__histogram_percentile(h, rl__history_percents[i]).
 */
void rl__history_percentiles(const rl__histogram *h,
                             uint64_t out[RL__HISTORY_NPCT]);

/* Keeps per-entry figures from now on (see above). Call after
 * rl__history_init and before the first add, so no second is missed. */
void rl__history_track_entries(rl__history *h);

/* Workers: add the response times of one entry's delta to this second. */
int rl__history_add_times(rl__history *h, const rl__histogram *delta);

/*
 * Workers: the same for a whole delta entry: its histogram goes into this
 * second's Aggregated times (as rl__history_add_times) and, when tracking
 * entries, into (delta->type, delta->name)'s second (strings copied on
 * first use). Returns 0 or RL_ERR_NOMEM.
 */
int rl__history_add_entry(rl__history *h, const rl__stats_entry *delta);

/*
 * Closes the current second: appends a row from `s` (the run's stats) and
 * the window, and when tracking entries refreshes `entry_rows` (one per
 * entry of `s`, in rl__stats_entries order). The row tells the figures as
 * of the start of run second `elapsed_s`: requests and failures that ended
 * before it (rl__stats_entry_requests_before), current rates over the
 * whole seconds before it (within the span), covered_s up to it. `s` is
 * not const only because listing its entries refreshes its sorted view; no
 * figure changes. Returns 0 or RL_ERR_NOMEM (the Aggregated row is
 * appended whenever its array could grow; entry rows may then be missing
 * or stale).
 */
int rl__history_tick(rl__history *h, rl__stats *s, uint64_t unix_time,
                     uint64_t elapsed_s, uint32_t users);

/* The same for the last row after a stop, every worker's stats merged:
 * its totals are every request so far, some of which may have ended in
 * second `elapsed_s` itself (the second the stop fell in, or the one
 * after the last row's). */
int rl__history_tick_final(rl__history *h, rl__stats *s, uint64_t unix_time,
                           uint64_t elapsed_s, uint32_t users);

#endif /* RL_HISTORY_H */

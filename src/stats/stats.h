/*
 * Request statistics: entries grouped by (type, name), an error table
 * grouped by (type, name, error text), and an aggregated total.
 *
 * One rl__stats has one owner thread at a time and takes no lock. The engine
 * gives each worker thread its own rl__stats to record into (the hot path:
 * rl__stats_record), and periodically merges it into a run-wide rl__stats
 * under a lock held by the engine, off the hot path (rl__stats_merge, then
 * rl__stats_clear on the worker's copy).
 *
 * Time: response times are nanoseconds. `sec` arguments are whole seconds
 * since the run started (monotonic), used for the per-second counters behind
 * "current" requests/s and failures/s.
 */
#ifndef RL_STATS_H
#define RL_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "stats/histogram.h"

/* Seconds of per-second counters kept per entry (ring); must exceed the
 * current-rate window. */
#define RL__STATS_RING 16
/* The "current" rate is averaged over this many completed seconds. */
#define RL__STATS_CURRENT_WINDOW 10
/* Distinct error texts kept per (type, name) entry unless told otherwise
 * (rl__stats_set_max_error_rows); past it they share one row. */
#define RL__STATS_MAX_ERROR_ROWS 100

typedef struct rl__stats_entry {
  char *type; /* owned */
  char *name; /* owned */
  uint64_t num_requests;
  uint64_t num_failures;
  uint64_t total_ns;  /* sum of response times */
  uint64_t bytes;     /* sum of response sizes */
  rl__histogram hist; /* every response time; min/max live here too */
  /* The open model's other view of the same responses (rl__stats_record_alt:
   * from the send when `hist` counts from the intended start, or the
   * other way round; empty in the closed model), and its sum. */
  rl__histogram hist_alt;
  uint64_t total_alt_ns;

  /* per-second counters: slot = sec % RL__STATS_RING, valid when
   * ring_sec[slot] == sec */
  uint64_t ring_sec[RL__STATS_RING];
  uint64_t ring_reqs[RL__STATS_RING];
  uint64_t ring_fails[RL__STATS_RING];
} rl__stats_entry;

typedef struct rl__stats_error {
  char *type;  /* owned */
  char *name;  /* owned */
  char *error; /* owned; for the `other` row, "(N other errors)" with N its
                  occurrences, as of the last rl__stats_errors */
  int other;   /* 1: the row grouping the texts past the entry's cap */
  uint64_t occurrences;
  uint64_t first_sec; /* run second of the first occurrence */
  uint64_t last_sec;  /* run second of the latest occurrence */
} rl__stats_error;

/* An exception a user's code raised (Locust's exceptions table: a Lua or
 * C user class's error, rl_user_report_error), counted by its message and
 * where it was raised (`traceback`: "Class.task"). */
typedef struct rl__stats_exception {
  char *msg;       /* owned */
  char *traceback; /* owned */
  uint64_t count;
} rl__stats_exception;

/* Distinct exceptions kept; past it they count in one "(N other
 * exceptions)" row. */
#define RL__STATS_MAX_EXCEPTIONS 100

typedef struct rl__stats rl__stats;

/* A new empty table, keeping RL__STATS_MAX_ERROR_ROWS error texts per
 * entry; NULL on allocation failure. Caller owns it. */
rl__stats *rl__stats_new(void);

/*
 * Caps the distinct error texts kept per (type, name) entry at `n` (0: no
 * cap). Past it, a new text is not stored: its occurrences count in the
 * entry's one `other` row, so memory and every report's error table stay
 * bounded however many texts a server makes up (a uuid in each message).
 * Set it before recording; rows already kept stay.
 */
void rl__stats_set_max_error_rows(rl__stats *s, size_t n);

/*
 * The first entry whose texts went past the cap (its `other` row exists)
 * since the table was made or cleared, or NULL: for a warning, once.
 */
const rl__stats_entry *rl__stats_capped(const rl__stats *s);

/*
 * The open model's other view of the response just recorded into `e`
 * (rl__stats_record): its time measured the other way (see hist_alt).
 * 0 or RL_ERR_NOMEM.
 */
int rl__stats_record_alt(rl__stats_entry *e, uint64_t rt_ns);

/* The open model's iterations (engine/arrival.h): `scheduled` more came
 * due, of which `dropped` found every user busy and were not run. Table
 * wide; merged and cleared with the rest. */
void rl__stats_count_iterations(rl__stats *s, uint64_t scheduled,
                                uint64_t dropped);
void rl__stats_iterations(const rl__stats *s, uint64_t *scheduled,
                          uint64_t *dropped);

/* Counts `count` more of the exception (msg, traceback), both copied. 0
 * or RL_ERR_NOMEM. */
int rl__stats_record_exception(rl__stats *s, const char *msg,
                               const char *traceback, uint64_t count);

/* The exceptions in the order first seen (the grouped rest last); *out
 * points into `s`, valid until it changes. */
size_t rl__stats_exceptions(const rl__stats *s,
                            const rl__stats_exception **out);

/* Frees the table, its entries and errors. NULL is fine. */
void rl__stats_del(rl__stats *s);

/*
 * The entry for (type, name), created empty on first use (copies both
 * strings). The pointer stays valid until rl__stats_del() (entries are never
 * freed or moved by clear/merge), so a caller may cache it. NULL on
 * allocation failure.
 */
rl__stats_entry *rl__stats_entry_get(rl__stats *s, const char *type,
                                     const char *name);

/*
 * Records one finished request into entry `e` of `s` (e must come from
 * rl__stats_entry_get on the same `s`). `error` NULL means success; else the
 * text is copied into the error table on first occurrence (or counted in
 * the entry's `other` row once it has its cap of texts). Does not update
 * the aggregated total (the merge does). Returns 0 or RL_ERR_NOMEM (the
 * counters are still updated; only the histogram or error row may be lost).
 */
int rl__stats_record(rl__stats *s, rl__stats_entry *e, uint64_t rt_ns,
                     uint64_t bytes, const char *error, uint64_t sec);

/*
 * Counts `occurrences` more of `error` on entry `e` of `s` (from
 * rl__stats_entry_get on `s`), last seen in run second `sec`, without
 * touching the entry's request counts: errors read from another node's
 * report (cluster/msg.c), whose counts come apart. 0 or RL_ERR_NOMEM.
 */
int rl__stats_count_error(rl__stats *s, rl__stats_entry *e, const char *error,
                          uint64_t occurrences, uint64_t sec);

/*
 * Adds everything in `src` into `dst`: entries matched by (type, name) and
 * created as needed, errors matched by (type, name, error) under dst's cap
 * (src's `other` row goes into dst's), the per-second
 * rings second by second; each src entry is also added into dst's total.
 * Returns 0 or RL_ERR_NOMEM.
 */
int rl__stats_merge(rl__stats *dst, const rl__stats *src);

/* Zeroes all counts and histograms and drops the errors; keeps entries
 * (so cached entry pointers stay valid). Used on a worker's delta after a
 * merge and for "reset stats". */
void rl__stats_clear(rl__stats *s);

/* The aggregated total (type "", name "Aggregated"); never NULL. */
const rl__stats_entry *rl__stats_total(const rl__stats *s);

/*
 * The entries sorted by (name, type), as Locust orders its tables. Returns
 * the count; *out points to an array owned by `s`, valid until the next
 * call that changes `s`. Entries with no request are included.
 */
size_t rl__stats_entries(rl__stats *s, const rl__stats_entry ***out);

/* The errors sorted by occurrences, most first; same ownership rules.
 * Refreshes each `other` row's text to its count. */
size_t rl__stats_errors(rl__stats *s, const rl__stats_error ***out);

/*
 * The seconds a "current" rate may average: run seconds in [from_sec,
 * end_sec), each complete (no request of it still to come) and covered by
 * the figures (not before a start or a reset). The rate averages the last
 * RL__STATS_CURRENT_WINDOW of them, fewer when fewer are there, and is 0
 * when there is none: Locust shows 0 for a moment after a start or a
 * reset, then the truth, instead of dividing by idle seconds.
 * rl__history_window() makes one from the run's clock.
 */
typedef struct rl__stats_window {
  uint64_t from_sec; /* the first second the figures cover whole */
  uint64_t end_sec;  /* the first second not complete (or not merged) yet */
} rl__stats_window;

/* Requests/s and failures/s over the window's seconds (see above). */
double rl__stats_entry_current_rps(const rl__stats_entry *e,
                                   rl__stats_window w);
double rl__stats_entry_current_fps(const rl__stats_entry *e,
                                   rl__stats_window w);

/* The entry's requests and failures that ended before run second
 * `end_sec` began: the totals minus the seconds from `end_sec` on, read
 * from the per-second counters (those seconds are always recent enough to
 * be there). With end_sec beyond every recorded second, the totals. */
uint64_t rl__stats_entry_requests_before(const rl__stats_entry *e,
                                         uint64_t end_sec);
uint64_t rl__stats_entry_failures_before(const rl__stats_entry *e,
                                         uint64_t end_sec);

/* Derived figures in nanoseconds (0 when there is no request). */
uint64_t rl__stats_entry_avg_ns(const rl__stats_entry *e);
uint64_t rl__stats_entry_min_ns(const rl__stats_entry *e);
uint64_t rl__stats_entry_max_ns(const rl__stats_entry *e);

#endif /* RL_STATS_H */

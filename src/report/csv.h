/*
 * Locust-compatible CSV files (`--csv PREFIX`), written while the run goes:
 *
 *   PREFIX_stats.csv          one row per entry and the Aggregated row;
 *                             rewritten every second (PREFIX_stats.csv.tmp
 *                             renamed over it: report/file.h), so a reader,
 *                             a kill -9 or a full disk never leaves half a
 *                             file
 *   PREFIX_stats_history.csv  appended every second: the Aggregated row,
 *                             and with full history one row per entry first
 *                             (Locust's --csv-full-history). A second's rows
 *                             go in one write(2), so after a kill -9 the
 *                             file ends with a whole second (Linux copies a
 *                             write into the file page by page and a kill
 *                             can only stop it between two pages: the one
 *                             exception is a kill in that instant, inside
 *                             the write of a row that crosses a 4 KiB
 *                             boundary). A write that fails (a full disk)
 *                             is cut back to the last whole row, and the
 *                             rows are written whole when there is room
 *                             again (kept in memory up to 4 MiB, then
 *                             dropped: the close reports it)
 *   PREFIX_failures.csv       the error table, rewritten like _stats.csv
 *   PREFIX_exceptions.csv     header only (rpcload has no user code that
 *                             could raise)
 *
 * Headers, column order, row order and number formats are Locust 2.x's
 * (locust/stats.py, StatsCSVFileWriter), bytes as Python's csv module writes
 * them: CRLF line ends, a field quoted only when it holds a comma, a double
 * quote, CR or LF, quotes doubled. Figures:
 *  - times are ms; average, min, max, Total Average... are written as Python
 *    prints the float (repr: shortest text that reads back the same
 *    double, e.g. "0.523417", "150.0"); a min or max of 0 (no request) is
 *    "0", as Locust's `or 0` gives;
 *  - median and percentiles go through Locust's rounding of response times
 *    (whole ms under 100 ms, then to 10, 100, 1000 ms: 2 significant
 *    digits); percentiles are then written as integers and "N/A" for an
 *    entry without requests; the median as Locust types it (an integer
 *    under 100 ms, else a float like "150.0"), clamped to [min, max];
 *    rpcload takes both from its 3-digit histogram (the JSON report has the
 *    unrounded values);
 *  - Requests/s, Failures/s in _stats.csv: totals over the time the
 *    figures cover so far (the latest history row's covered_s; at
 *    rl__report_csv_close, the covered duration: not the idle time of a
 *    web UI before a start, after a stop or before a reset);
 *    in _stats_history.csv: the current rates, "%f" as Locust writes them,
 *    over whole seconds only (history.h), with the totals as of the row's
 *    second;
 *  - history percentiles are the current ones (last RL__HISTORY_WINDOW
 *    seconds), for the Aggregated row too. *rpcload*: Locust writes the
 *    Aggregated row's percentiles since the start unless full history is
 *    on, which its own docstring ("the *current* stats") calls a slip;
 *  - failures: "Method,Name,Error,Occurrences,First Seen,Last Seen" (the
 *    reports issue's header; Locust 2.12 stops at Occurrences), most
 *    frequent first; First/Last Seen are Unix seconds like the history's
 *    Timestamp (the run's start is taken from the first history row, or is
 *    the time of rl__report_csv_open before there is one).
 *
 * Threads: one writer is used by one thread at a time (the runner's main
 * thread). rl__report_csv_tick only formats into memory and does no I/O, so it can
 * run under the stats lock; rl__report_csv_write does the I/O and must run without
 * the lock.
 */
#ifndef RL_REPORT_CSV_H
#define RL_REPORT_CSV_H

#include <stddef.h>
#include <stdint.h>

#include "stats/history.h"
#include "stats/stats.h"

typedef struct rl__report_csv rl__report_csv;

/* The header lines, CRLF included (for tests and the web UI's downloads). */
extern const char rl__report_csv_stats_header[];
extern const char rl__report_csv_history_header[];
extern const char rl__report_csv_failures_header[];
extern const char rl__report_csv_exceptions_header[];

/*
 * Creates the four files with their header lines (truncating any old ones)
 * and keeps the history file open. `flags` (RL__REPORT_CSV_*; 0, or 1 for
 * the full history as before) are what it writes beyond Locust's files.
 * RL__REPORT_CSV_FULL_HISTORY adds the per-entry history
 * rows; they need per-entry figures in the history, so the runner must also
 * call rl__history_track_entries(). On success *out is the writer (free it
 * with rl__report_csv_close); on failure returns RL_ERR_IO or RL_ERR_NOMEM with a
 * reason naming the file in `err`, and *out is NULL.
 */
/* The history's per-entry rows (--csv-full-history). */
#define RL__REPORT_CSV_FULL_HISTORY 1
/* A load shape ran (--stages, --rate...): every history row ends with
 * rpcload's own columns "Target,Iterations Due,Iterations Dropped" (the
 * shape's target then, the open model's arrivals so far; empty where they
 * do not apply), after Locust's, so readers of Locust's columns by name
 * or position are not disturbed. */
#define RL__REPORT_CSV_SHAPE 2
/* --csv-decimals: the median and percentile columns (both files) in ms
 * with the histogram's full precision, written like the other times
 * ("0.523417"), instead of Locust's rounding to integers: for dashboards
 * of sub-millisecond services. Without it the bytes are Locust's. */
#define RL__REPORT_CSV_DECIMALS 4

int rl__report_csv_open(const char *prefix, int flags, rl__report_csv **out,
                        char *err, size_t errlen);

/*
 * Formats, in memory only, the history rows `h` gained since the last call
 * (with full history, the entry rows of its latest tick come before its
 * Aggregated row; older rows get their Aggregated row only) and the new
 * contents of _stats.csv and _failures.csv from `s`. Call under the stats
 * lock, after rl__history_tick. `s` is not const only because listing its
 * entries refreshes its sorted view. Returns 0 or RL_ERR_NOMEM (this
 * second's text is then dropped). NULL `w` does nothing.
 */
int rl__report_csv_tick(rl__report_csv *w, rl__stats *s, const rl__history *h);

/*
 * Writes what the last ticks formatted: appends the history rows, replaces
 * _stats.csv and _failures.csv. Call without the stats lock. Returns 0;
 * RL_ERR_IO with the reason in `err` when a write fails after the previous
 * call succeeded (while writes keep failing, later calls return 0
 * quietly, so a caller can log every non-zero result and a full disk is
 * reported once); RL__REPORT_CSV_RECOVERED, with a line saying so in
 * `err`, at the first call that writes everything again. A failed
 * _stats.csv or _failures.csv keeps its last good content until a later
 * write works; failed history rows are kept and written whole later (see
 * above). NULL `w` does nothing.
 */
#define RL__REPORT_CSV_RECOVERED 1
int rl__report_csv_write(rl__report_csv *w, char *err, size_t errlen);

/*
 * Completes the files after the run (call once every worker has ended):
 * the history rows not written yet, then _stats.csv and _failures.csv with
 * requests/s over `duration_s`, as Locust's final figures; the history is
 * fsync'ed. Closes and frees `w` whatever happens. Returns 0, or RL_ERR_IO
 * / RL_ERR_NOMEM with the reason in `err` when these writes fail or history
 * rows were lost during the run. NULL `w` returns 0.
 */
int rl__report_csv_close(rl__report_csv *w, rl__stats *s, const rl__history *h,
                         double duration_s, char *err, size_t errlen);

/*
 * In memory, for the web UI's downloads (/stats/requests/csv and the
 * others): the whole text of a file, header line included, as the files
 * above hold it. Call under the stats lock (they only format). On success
 * *out is the text (NUL-terminated; the caller frees it) and *len its
 * length; on failure they return RL_ERR_NOMEM and *out is NULL.
 *  - stats: requests/s and failures/s over `elapsed_s`;
 *  - failures: First/Last Seen as `start_unix` + the error's run second;
 *  - history: the header, then every second's Aggregated row; when `h`
 *    tracks entries, the latest second's entry rows come before its
 *    Aggregated row (older seconds' entry rows are not kept).
 */
int rl__report_csv_stats_text(rl__stats *s, double elapsed_s, char **out,
                              size_t *len);
/* _exceptions.csv's text: Locust's Count,Message,Traceback,Nodes rows
 * (caller owns *out; free). Under the stats lock. 0 or RL_ERR_NOMEM. */
int rl__report_csv_exceptions_text(const rl__stats *s, char **out, size_t *len);
int rl__report_csv_failures_text(rl__stats *s, uint64_t start_unix, char **out,
                                 size_t *len);
int rl__report_csv_history_text(const rl__history *h, char **out, size_t *len);

/*
 * Python's repr() of a float, as Locust's csv rows carry: the shortest
 * decimal that reads back the same double, with ".0" on whole numbers and
 * exponent form below 1e-4 and from 1e16. Exposed for the tests.
 */
void rl__report_csv_py_float(double v, char *buf, size_t len);

#endif /* RL_REPORT_CSV_H */

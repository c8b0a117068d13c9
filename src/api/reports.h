/* The reports of a run: the console table while it goes, Locust's CSV
 * files every second (--csv), and at the end the final console report,
 * the CSV files completed, the JSON (--json, --json-file) and the HTML
 * report (--html). */
#ifndef RL_API_REPORTS_H
#define RL_API_REPORTS_H

#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "api/options.h"
#include "engine/runner.h"
#include "report/csv.h"
#include "stats/stats.h"

typedef struct rl__api_reports {
  const rl__api_options *o; /* borrowed: outlives the reports */
  const char *plugin;       /* the target's plugin name, borrowed */
  FILE *console; /* stdout, or stderr when --json owns stdout; NULL: none */
  rl__report_csv *csv;        /* --csv, or NULL; owned until the finish */
  struct timespec wall_start; /* wall clock when the run was started */
} rl__api_reports;

/*
 * Before the run: picks the console, checks that --json-file and --html
 * can be written (report/file.h: their folder takes a file), opens the
 * CSV files (--csv) and takes the wall-clock start. `o` and `plugin` are
 * borrowed. Returns 0, or a negative RL_ERR_* with the reason (naming the
 * option and the path) in err when a report could not be written; nothing
 * is then left open.
 */
int rl__api_reports_open(rl__api_reports *rep, const rl__api_options *o,
                         const char *plugin, char *err, size_t errlen);

/* The runner's `report` hook: the stats table on the console. */
void rl__api_reports_progress(rl__runner *r, rl__api_reports *rep);

/* The runner's `second` hook: the CSV files, when --csv. */
void rl__api_reports_second(rl__runner *r, rl__api_reports *rep);

/*
 * After the run (every worker has ended): the final console report, then
 * the CSV files completed and closed, the JSON and the HTML report. Each
 * failure is printed on stderr and the others are still written. Returns
 * 0, or EXIT_FAILURE when any report could not be written (rpcload then
 * exits 3).
 */
int rl__api_reports_finish(rl__api_reports *rep, rl__runner *r,
                           rl__stats *stats);

#endif /* RL_API_REPORTS_H */

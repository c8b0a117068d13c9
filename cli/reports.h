/* The reports of a run: the console table while it goes, Locust's CSV
 * files every second (--csv), and at the end the final console report,
 * the CSV files completed, the JSON (--json, --json-file) and the HTML
 * report (--html). */
#ifndef RL_CLI_REPORTS_H
#define RL_CLI_REPORTS_H

#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "engine/runner.h"
#include "options.h"
#include "report/csv.h"
#include "stats/stats.h"

typedef struct cli_reports {
  const cli_options *o;       /* borrowed: outlives the reports */
  const char *plugin;         /* the target's plugin name, borrowed */
  FILE *console;              /* stdout, or stderr when --json owns stdout */
  rl__report_csv *csv;        /* --csv, or NULL; owned until the finish */
  struct timespec wall_start; /* wall clock when the run was started */
} cli_reports;

/*
 * Before the run: picks the console, checks that --json-file and --html
 * can be written (report/file.h: their folder takes a file), opens the
 * CSV files (--csv) and takes the wall-clock start. `o` and `plugin` are
 * borrowed. Returns 0, or a negative RL_ERR_* with the reason (naming the
 * option and the path) in err when a report could not be written; nothing
 * is then left open.
 */
int cli_reports_open(cli_reports *rep, const cli_options *o, const char *plugin,
                     char *err, size_t errlen);

/* The runner's `report` hook: the stats table on the console. */
void cli_reports_progress(rl__runner *r, cli_reports *rep);

/* The runner's `second` hook: the CSV files, when --csv. */
void cli_reports_second(rl__runner *r, cli_reports *rep);

/*
 * After the run (every worker has ended): the final console report, then
 * the CSV files completed and closed, the JSON and the HTML report. Each
 * failure is printed on stderr and the others are still written. Returns
 * 0, or EXIT_FAILURE when any report could not be written (rpcload then
 * exits 3).
 */
int cli_reports_finish(cli_reports *rep, rl__runner *r, rl__stats *stats);

#endif /* RL_CLI_REPORTS_H */

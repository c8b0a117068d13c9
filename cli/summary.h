/* What the run itself has to say at its end, after the reports: users it
 * did not get to spawn, the client's own lag. */
#ifndef RL_CLI_SUMMARY_H
#define RL_CLI_SUMMARY_H

#include "engine/runner.h"
#include "options.h"

/* Writes those lines to stderr (nothing when there is nothing to say).
 * `r` has run (rl__runner_run returned) and is not freed yet. */
void cli_summary_print(const rl__runner *r, const cli_options *o);

#endif /* RL_CLI_SUMMARY_H */

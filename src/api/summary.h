/* What the run itself has to say at its end, after the reports: users it
 * did not get to spawn, the client's own lag. */
#ifndef RL_API_SUMMARY_H
#define RL_API_SUMMARY_H

#include "api/options.h"
#include "engine/runner.h"

/* Writes those lines to stderr (nothing when there is nothing to say).
 * `r` has run (rl__runner_run returned) and is not freed yet. */
void rl__api_summary_print(const rl__runner *r, const rl__api_options *o);

#endif /* RL_API_SUMMARY_H */

/* Start-up reachability of what the run connects to (engine/probe.h). */
#ifndef RL_API_REACH_H
#define RL_API_REACH_H

#include "api/options.h"
#include "engine/plan.h"
#include "engine/target.h"

/*
 * Connects once to the command line's `target`, or to every endpoint of a
 * scenario's `plan` (the other NULL). Returns 0 to go on, or 2 (a
 * configuration error) after naming the target that cannot be reached and
 * why; with --allow-unreachable each such target is a warning and the run
 * goes on (a target that comes up later).
 */
int rl__api_reach_check(const rl__api_options *o, const rl__target *target,
                        const rl__plan *plan, char *why, size_t whylen);

#endif /* RL_API_REACH_H */

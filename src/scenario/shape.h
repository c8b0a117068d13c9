/*
 * A scenario's `shape:` (the load over time, issue #15), as the command
 * line's --stages, --rate, --rate-stages give it:
 *
 *   shape: {stages: "1m:100,5m:100,1m:0", loop: true}        users over time
 *   shape: {stages: [{duration: 1m, users: 100, spawn_rate: 10}, ...]}
 *   shape: {rate: 500, arrivals: poisson, max_inflight: 200}  the open model
 *   shape: {rate_stages: [{duration: 1m, rate: 1000}, ...], max_queue: 0}
 *   shape: {step: {users: 10, every: 30s, steps: 5}}          built-in: +10
 *          users every 30 s, 5 times (spawn_rate: the ramp's, else at once)
 *   shape: {spike: {base: 10, peak: 200, after: 1m, for: 30s, then: 1m}}
 *          built-in: base users, a jump to peak held `for`, back to base
 *          held `then`
 *
 * The command line's own shape options win over the file's (cli/shape.c).
 */
#ifndef RL_SCENARIO_SHAPE_H
#define RL_SCENARIO_SHAPE_H

#include <yaml.h>

#include "scenario/scenario.h"
#include "scenario/yaml.h"

/* Parses `shape:` node `n` into *out (its profile owned by out: free with
 * rl__scn_shape_free). 0 or RL_ERR_INVAL with the position in c's error. */
int rl__scn_parse_shape(rl__scn_ctx *c, const yaml_node_t *n,
                        rl__scn_shape *out);

void rl__scn_shape_free(rl__scn_shape *s);

#endif /* RL_SCENARIO_SHAPE_H */

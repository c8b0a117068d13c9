/*
 * A step's `expect:` and `capture:` read into the engine's rl__expect and
 * rl__capture (engine/checks.h): what decides whether a response counts
 * as a success, and the values carried from it into later steps.
 */
#ifndef RL_SCENARIO_EXPECT_H
#define RL_SCENARIO_EXPECT_H

#include <yaml.h>

#include "scenario/scenario.h"
#include "scenario/vars.h"
#include "scenario/yaml.h"

/* The mapping `n` into st->expect (strings, regexes, paths and values it
 * holds are the step's, freed with the scenario) and st->expect_pos.
 * Expected values that may be templates (body_contains, the string
 * operand of json equals/contains) are checked against `v`, the
 * variables set before the step. */
int rl__scn_parse_expect(rl__scn_ctx *c, const yaml_node_t *n, rl__scn_step *st,
                         const rl__scn_vars *v);

/* The mapping `n` (variable: source) into st->captures (the step's); then
 * the captured names join `v`, for the steps after this one. */
int rl__scn_parse_captures(rl__scn_ctx *c, const yaml_node_t *n,
                           rl__scn_step *st, rl__scn_vars *v);

#endif /* RL_SCENARIO_EXPECT_H */

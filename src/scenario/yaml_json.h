/*
 * YAML as JSON text, for the JSON a step sends (`json:`, and `data:` given
 * as a mapping or list) and the values expect.json compares with.
 */
#ifndef RL_SCENARIO_YAML_JSON_H
#define RL_SCENARIO_YAML_JSON_H

#include <yaml.h>

#include "scenario/vars.h"
#include "scenario/yaml.h"

/*
 * Node `n` as JSON text in *out (caller owns). Unquoted scalars that read
 * as JSON numbers, true/false or null keep that type, as written; quoted
 * ones are strings. Strings (keys too) are checked as templates against
 * `v` (NULL: not templates). With `template_numbers` (json:, whose JSON
 * has no schema to say a field's type), a string that is exactly one
 * template of a numeric function ({{random_int 1 100}}) is a number; in
 * any case one tagged !!int or !!float is, and !!str keeps a string.
 * Aliases count: past a depth or a number of nodes visited (c->work) the
 * conversion fails with the node's position.
 */
int rl__scn_json_text(rl__scn_ctx *c, const yaml_node_t *n,
                      const rl__scn_vars *v, int template_numbers, char **out);

#endif /* RL_SCENARIO_YAML_JSON_H */

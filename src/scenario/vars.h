/*
 * The user variables in scope while a scenario is read, and the check of
 * the {{...}} templates that use them: a template may call a builtin
 * function (engine/template.h) or name a variable that an earlier step
 * (or on_start) captures.
 */
#ifndef RL_SCENARIO_VARS_H
#define RL_SCENARIO_VARS_H

#include <stddef.h>

#include <yaml.h>

#include "scenario/yaml.h"

/* A growable set of variable names (borrowed from the captures). Starts
 * zeroed; `names` is freed with free(). */
typedef struct rl__scn_vars {
  const char **names;
  size_t n, cap;
} rl__scn_vars;

/* The template functions' names, NULL-terminated: no variable may take
 * one. */
extern const char *const rl__scn_builtins[];

/* At most this many distinct variable names in a file: each user holds a
 * slot for every one of them. */
#define RL__SCN_MAX_VARS 1024

/* 1 when `name` is in `v`. */
int rl__scn_vars_has(const rl__scn_vars *v, const char *name);

/* Adds `name` (borrowed) to `v` unless it is there. 0, or RL_ERR_NOMEM. */
int rl__scn_vars_push(rl__scn_ctx *c, rl__scn_vars *v, const char *name);

/* `to` (overwritten, not freed) becomes a copy of `from`. 0, or
 * RL_ERR_NOMEM. */
int rl__scn_vars_copy(rl__scn_ctx *c, const rl__scn_vars *from,
                      rl__scn_vars *to);

/* 1 when the `len` bytes at `s` are a name: letters, digits and _, not
 * starting with a digit. */
int rl__scn_is_ident(const char *s, size_t len);

/* Checks the {{...}} in `text`, the value of scalar `n`: each a builtin
 * function with the right arguments, or a variable in `v`; an error
 * names the expression's position. NULL `v`: `text` is not a template. */
int rl__scn_check_template(rl__scn_ctx *c, const yaml_node_t *n,
                           const char *text, const rl__scn_vars *v);

#endif /* RL_SCENARIO_VARS_H */

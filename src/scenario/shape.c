/* A scenario's `shape:`: see scenario/shape.h for its syntax. Stages come
 * as the command line's text ("1m:100,...", parsed by engine/profile.c)
 * or as a list of mappings; the built-in shapes are made into stages. */
#include "scenario/shape.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rpcload/plugin.h>

#include "engine/arrival.h"

/* The most stages a list (or a built-in shape) makes. */
#define MAX_STAGES 10000

static const char *const shape_keys[] = {
    "stages", "rate_stages",  "rate",      "loop",     "step",
    "spike",  "max_inflight", "max_queue", "arrivals", NULL};

/* Appends a stage to s->profile. */
static int add_stage(rl__scn_ctx *c, rl__scn_shape *s, uint64_t dur_ns,
                     double target, double rate, rl__scn_pos pos) {
  rl__profile *p = &s->profile;
  if (p->n >= MAX_STAGES)
    return rl__scn_errat(c, pos, "more than %d stages", MAX_STAGES);
  if (dur_ns == 0)
    return rl__scn_errat(c, pos, "a stage's duration must be more than 0");
  rl__stage *grown = realloc(p->stages, (p->n + 1) * sizeof *grown);
  if (!grown)
    return RL_ERR_NOMEM;
  p->stages = grown;
  p->stages[p->n++] =
      (rl__stage){.dur_ns = dur_ns, .target = target, .rate = rate};
  return 0;
}

/* "1m:100,5m:100" as --stages/--rate-stages take it. */
static int stages_text(rl__scn_ctx *c, const yaml_node_t *n, const char *key,
                       int users, rl__scn_shape *s) {
  const char *text;
  int rc = rl__scn_scalar_text(c, n, key, &text);
  if (rc)
    return rc;
  char why[200];
  rl__profile_free(&s->profile);
  if (rl__profile_parse(text, 0, users, &s->profile, why, sizeof why))
    return rl__scn_errat(c, rl__scn_npos(n), "'%s': %s", key, why);
  return 0;
}

static const char *const user_stage_keys[] = {"duration", "users", "spawn_rate",
                                              NULL};
static const char *const rate_stage_keys[] = {"duration", "rate", NULL};

/* One stage of a list: {duration: 1m, users: 100[, spawn_rate: 10]} or
 * {duration: 1m, rate: 1000}. */
static int stage_item(rl__scn_ctx *c, const yaml_node_t *m, int users,
                      rl__scn_shape *s) {
  const char *what =
      users ? "a stage (duration:, users:)" : "a stage (duration:, rate:)";
  if (m->type != YAML_MAPPING_NODE)
    return rl__scn_type_err(c, m, what, users ? "stages" : "rate_stages");
  int rc = rl__scn_check_map(c, m, "a stage",
                             users ? user_stage_keys : rate_stage_keys, NULL);
  if (rc)
    return rc;
  const char *value_key = users ? "users" : "rate";
  yaml_node_t *d = rl__scn_get(c, m, "duration", NULL);
  yaml_node_t *v = rl__scn_get(c, m, value_key, NULL);
  if (!d || !v)
    return rl__scn_errat(c, rl__scn_npos(m),
                         "a stage needs 'duration' and '%s'", value_key);
  uint64_t dur;
  double target, rate = 0;
  if ((rc = rl__scn_get_duration(c, d, "duration", &dur)) ||
      (rc = rl__scn_get_num(c, v, value_key, &target)))
    return rc;
  if (target < 0)
    return rl__scn_errat(c, rl__scn_npos(v), "'%s' must be 0 or more",
                         value_key);
  yaml_node_t *r = users ? rl__scn_get(c, m, "spawn_rate", NULL) : NULL;
  if (r) {
    if ((rc = rl__scn_get_num(c, r, "spawn_rate", &rate)))
      return rc;
    if (!(rate > 0))
      return rl__scn_errat(c, rl__scn_npos(r),
                           "'spawn_rate' must be more than 0");
  }
  return add_stage(c, s, dur, target, rate, rl__scn_npos(m));
}

static int stages(rl__scn_ctx *c, const yaml_node_t *n, const char *key,
                  int users, rl__scn_shape *s) {
  s->kind = users ? RL__SCN_SHAPE_USERS : RL__SCN_SHAPE_RATE;
  if (n->type == YAML_SCALAR_NODE)
    return stages_text(c, n, key, users, s);
  if (n->type != YAML_SEQUENCE_NODE)
    return rl__scn_type_err(c, n, "a list of stages or \"1m:100,5m:100\"", key);
  for (yaml_node_item_t *it = n->data.sequence.items.start;
       it < n->data.sequence.items.top; it++) {
    int rc = stage_item(c, rl__scn_node_at(c, *it), users, s);
    if (rc)
      return rc;
  }
  if (!s->profile.n)
    return rl__scn_errat(c, rl__scn_npos(n), "'%s' has no stage", key);
  return 0;
}

/* A required positive duration or number of a built-in shape. */
static int member_duration(rl__scn_ctx *c, const yaml_node_t *m,
                           const char *key, uint64_t *out) {
  yaml_node_t *v = rl__scn_get(c, m, key, NULL);
  if (!v)
    return rl__scn_errat(c, rl__scn_npos(m), "missing '%s'", key);
  int rc = rl__scn_get_duration(c, v, key, out);
  if (!rc && *out == 0)
    return rl__scn_errat(c, rl__scn_npos(v), "'%s' must be more than 0", key);
  return rc;
}

static int member_number(rl__scn_ctx *c, const yaml_node_t *m, const char *key,
                         int required, double *out) {
  yaml_node_t *v = rl__scn_get(c, m, key, NULL);
  if (!v) {
    if (required)
      return rl__scn_errat(c, rl__scn_npos(m), "missing '%s'", key);
    return 0;
  }
  int rc = rl__scn_get_num(c, v, key, out);
  if (!rc && *out < 0)
    return rl__scn_errat(c, rl__scn_npos(v), "'%s' must be 0 or more", key);
  return rc;
}

static const char *const step_keys[] = {"users", "every", "steps", "spawn_rate",
                                        NULL};

/* Locust's step load: `users` more every `every`, `steps` times, each
 * step's users started at `spawn_rate` (default: at once). */
static int step_shape(rl__scn_ctx *c, const yaml_node_t *m, rl__scn_shape *s) {
  if (m->type != YAML_MAPPING_NODE)
    return rl__scn_type_err(c, m, "a mapping (users:, every:, steps:)", "step");
  int rc = rl__scn_check_map(c, m, "step", step_keys, NULL);
  double users = 0, rate = 0;
  uint64_t every = 0;
  long long steps = 0;
  yaml_node_t *n_steps = rl__scn_get(c, m, "steps", NULL);
  if (rc || (rc = member_number(c, m, "users", 1, &users)) ||
      (rc = member_duration(c, m, "every", &every)) ||
      (rc = member_number(c, m, "spawn_rate", 0, &rate)))
    return rc;
  if (!n_steps)
    return rl__scn_errat(c, rl__scn_npos(m), "missing 'steps'");
  if ((rc = rl__scn_get_int(c, n_steps, "steps", 1, MAX_STAGES, &steps)))
    return rc;
  s->kind = RL__SCN_SHAPE_USERS;
  for (long long i = 1; i <= steps && !rc; i++)
    rc = add_stage(c, s, every, users * (double)i,
                   rate > 0 ? rate : users / 0.001, rl__scn_npos(m));
  return rc;
}

static const char *const spike_keys[] = {"base", "peak", "after",
                                         "for",  "then", NULL};

/* A spike: `base` users for `after`, `peak` for `for` (reached at once),
 * `base` again for `then`. */
static int spike_shape(rl__scn_ctx *c, const yaml_node_t *m, rl__scn_shape *s) {
  if (m->type != YAML_MAPPING_NODE)
    return rl__scn_type_err(c, m, "a mapping (base:, peak:, after:, for:)",
                            "spike");
  int rc = rl__scn_check_map(c, m, "spike", spike_keys, NULL);
  double base = 0, peak = 0;
  uint64_t after = 0, hold = 0, then = 0;
  if (rc || (rc = member_number(c, m, "base", 0, &base)) ||
      (rc = member_number(c, m, "peak", 1, &peak)) ||
      (rc = member_duration(c, m, "after", &after)) ||
      (rc = member_duration(c, m, "for", &hold)))
    return rc;
  if (rl__scn_get(c, m, "then", NULL) &&
      (rc = member_duration(c, m, "then", &then)))
    return rc;
  s->kind = RL__SCN_SHAPE_USERS;
  s->profile.start = base;
  /* A jump at once: a stage with its own (very high) spawn rate. */
  double jump = fabs(peak - base) / 0.001 + 1;
  rl__scn_pos pos = rl__scn_npos(m);
  if ((rc = add_stage(c, s, after, base, jump, pos)) ||
      (rc = add_stage(c, s, hold, peak, jump, pos)))
    return rc;
  return then ? add_stage(c, s, then, base, jump, pos) : 0;
}

/* The open model's own settings, with `rate:` or `rate_stages:` only. */
static int open_settings(rl__scn_ctx *c, const yaml_node_t *n,
                         rl__scn_shape *s) {
  yaml_node_t *v;
  int rc = 0;
  int open = s->kind == RL__SCN_SHAPE_RATE;
  static const char *const keys[] = {"max_inflight", "max_queue", "arrivals"};
  for (size_t i = 0; i < 3; i++)
    if (!open && (v = rl__scn_get(c, n, keys[i], NULL)))
      return rl__scn_errat(c, rl__scn_npos(v),
                           "'%s' is the open model's: give 'rate' or "
                           "'rate_stages' too",
                           keys[i]);
  if ((v = rl__scn_get(c, n, "max_inflight", NULL)) &&
      (rc = rl__scn_get_int(c, v, "max_inflight", 1, 10000000,
                            &s->max_inflight)))
    return rc;
  if ((v = rl__scn_get(c, n, "max_queue", NULL)) &&
      (rc = rl__scn_get_int(c, v, "max_queue", 0, 10000000, &s->max_queue)))
    return rc;
  if ((v = rl__scn_get(c, n, "arrivals", NULL))) {
    const char *text;
    if ((rc = rl__scn_scalar_text(c, v, "arrivals", &text)))
      return rc;
    if (rl__arrivals_parse(text, &s->arrivals))
      return rl__scn_errat(c, rl__scn_npos(v),
                           "'arrivals' is even or poisson, not '%s'", text);
  }
  return 0;
}

int rl__scn_parse_shape(rl__scn_ctx *c, const yaml_node_t *n,
                        rl__scn_shape *s) {
  *s = (rl__scn_shape){.arrivals = -1, .max_inflight = -1, .max_queue = -1};
  s->pos = rl__scn_npos(n);
  if (n->type != YAML_MAPPING_NODE)
    return rl__scn_type_err(
        c, n, "a mapping (stages:, rate:, rate_stages:, step: or spike:)",
        "shape");
  int rc = rl__scn_check_map(c, n, "shape", shape_keys, NULL);
  if (rc)
    return rc;
  static const char *const kinds[] = {"stages", "rate_stages", "rate", "step",
                                      "spike"};
  const char *given = NULL;
  yaml_node_t *v = NULL;
  for (size_t i = 0; i < 5; i++) {
    yaml_node_t *k = rl__scn_get(c, n, kinds[i], NULL);
    if (!k)
      continue;
    if (given)
      return rl__scn_errat(c, rl__scn_npos(k),
                           "'%s' and '%s' in one shape: give one", given,
                           kinds[i]);
    given = kinds[i];
    v = k;
  }
  if (!given)
    return rl__scn_errat(c, s->pos,
                         "a shape needs one of stages, rate_stages, rate, "
                         "step or spike");
  if (strcmp(given, "stages") == 0)
    rc = stages(c, v, "stages", 1, s);
  else if (strcmp(given, "rate_stages") == 0)
    rc = stages(c, v, "rate_stages", 0, s);
  else if (strcmp(given, "step") == 0)
    rc = step_shape(c, v, s);
  else if (strcmp(given, "spike") == 0)
    rc = spike_shape(c, v, s);
  else {
    double rate;
    if (!(rc = rl__scn_get_num(c, v, "rate", &rate)) && !(rate > 0))
      rc = rl__scn_errat(c, rl__scn_npos(v), "'rate' must be more than 0");
    if (!rc) {
      s->kind = RL__SCN_SHAPE_RATE;
      s->rate_constant = 1;
      rl__profile_constant(&s->profile, rate);
    }
  }
  if (rc == RL_ERR_NOMEM)
    return rl__scn_errat(c, s->pos, "out of memory");
  if (rc)
    return rc;
  if ((v = rl__scn_get(c, n, "loop", NULL))) {
    if (s->rate_constant)
      return rl__scn_errat(c, rl__scn_npos(v),
                           "'loop' repeats stages: a constant 'rate' has "
                           "none");
    if ((rc = rl__scn_get_bool(c, v, "loop", &s->profile.loop)))
      return rc;
  }
  return open_settings(c, n, s);
}

void rl__scn_shape_free(rl__scn_shape *s) {
  rl__profile_free(&s->profile);
  s->kind = RL__SCN_SHAPE_NONE;
}

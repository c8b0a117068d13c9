/*
 * A plan: what users run, compiled for the run. The quick command line is
 * a plan of one user class with one task of one step (its target); a
 * scenario file (scenario.h) becomes a plan of its user classes, tasks and
 * steps, each step compiled into a target of its protocol's plugin.
 *
 * Built on the main thread before the run, read-only afterwards: every
 * worker shares it without locks.
 */
#ifndef RL_PLAN_H
#define RL_PLAN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "engine/plugin_loader.h"
#include "engine/target.h"
#include "engine/wait.h"
#include "scenario/scenario.h"

typedef struct rl__plan_step {
  rl__target *target;      /* owned unless the plan is a quick one */
  const rl__scn_step *src; /* its scenario step (expect, capture), or
                                  NULL on the quick command line */
  size_t endpoint;         /* which of the user's connections */
  size_t *capture_vars;    /* per src capture: the variable index */
  int checks;              /* has expect or capture: wants responses */
} rl__plan_step;

typedef struct rl__plan_task {
  const char *name; /* NULL: "task N" */
  double weight;
  rl__plan_step *steps;
  size_t n_steps;
} rl__plan_task;

typedef struct rl__plan_class {
  const char *name;
  double weight;
  int has_fixed;
  uint64_t fixed;
  rl__wait wait;
  rl__plan_step *on_start, *on_stop;
  size_t n_on_start, n_on_stop;
  rl__plan_task *tasks;
  size_t n_tasks;
  double *cum_weight; /* tasks' cumulative weights */
  double total_weight;
  int sequential;
  int checks; /* any step checks responses */
} rl__plan_class;

typedef struct rl__plan {
  rl__plan_class *classes;
  size_t n_classes;
  size_t n_endpoints; /* connections a user holds */
  /* Per endpoint, the first step target going there: its connections are
   * set up with it (borrowed from the steps). */
  struct rl__target **endpoint_targets;
  char **vars; /* variable names (scenario captures) */
  size_t n_vars;
  uint16_t *assign; /* user (0-based spawn order) -> class */
  size_t n_assign;
  size_t n_fixed_users; /* the first users, of fixed_count classes */
  int has_on_stop;
  int owns_targets;
} rl__plan;

/* Options of a scenario's compilation, from the command line. */
typedef struct rl__plan_options {
  const rl__target_options *base; /* TLS, timeouts, --http2, plugin opts */
  const char *host;               /* the command line's target, or NULL */
  const char *const *tags;        /* --tags: keep tasks with one of them */
  size_t n_tags;
  const char *const *exclude_tags; /* --exclude-tags */
  size_t n_exclude_tags;
  uint32_t users;               /* -u: how many class assignments */
  const rl__wait *default_wait; /* --wait, for classes without one */
  int wait_given;               /* --wait given: it wins over the file */
} rl__plan_options;

/*
 * The quick command line's plan: one class, one task, one step running
 * `target` (borrowed: it must outlive the plan) with `wait`. Returns NULL
 * when out of memory. Free with rl__plan_free.
 */
rl__plan *rl__plan_single(rl__target *target, const rl__wait *wait);

/*
 * Compiles a scenario (borrowed; it must outlive the plan) with plugins
 * from `plugins`. Every error names file:line:col. Returns 0 and *out
 * (caller owns), or a negative code with the reason in err.
 */
int rl__plan_from_scenario(rl__plugin_set *plugins, const rl__scenario *scn,
                           const rl__plan_options *o, rl__plan **out, char *err,
                           size_t errlen);

void rl__plan_free(rl__plan *p);

/* The class of the user with 0-based spawn index `i`. */
const rl__plan_class *rl__plan_class_of(const rl__plan *p, uint64_t i);

/* The first step's target (the run's "main" target, for transports and
 * shared connections on the quick command line). */
rl__target *rl__plan_first_target(const rl__plan *p);

/* `rpcload -f F --list`: classes, weights or fixed counts, tasks with
 * weights and tags. */
void rl__plan_print_list(const rl__plan *p, const rl__scenario *scn, FILE *out);

/* `--show-task-ratio`: each class's share of users and each task's share
 * within its class and of all tasks. */
void rl__plan_print_ratios(const rl__plan *p, FILE *out);

#endif /* RL_PLAN_H */

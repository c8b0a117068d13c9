/*
 * A plan: what users run, compiled for the run. The quick command line is
 * a plan of one user class with one task of one step (its target); a
 * scenario file becomes a plan of its user classes, tasks and steps, each
 * step compiled into a target of its protocol's plugin (scenario/compile.h
 * builds it with the functions below).
 *
 * Built on the main thread before the run, read-only afterwards: every
 * worker shares it without locks.
 */
#ifndef RL_PLAN_H
#define RL_PLAN_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <rpcload/user.h>

#include "engine/checks.h"
#include "engine/plugin_loader.h"
#include "engine/target.h"
#include "engine/template.h"
#include "engine/wait.h"

/* At most this many endpoints in a plan: each user holds a connection
 * (an rl_conn) to every one. */
#define RL__PLAN_MAX_ENDPOINTS 1024

/* Repeats nest at most this deep (each user keeps a counter per level). */
#define RL__PLAN_MAX_REPEAT_DEPTH 8

/* What a step of a plan does. A task's steps are one flat list: a repeat
 * is its REPEAT step, the steps it repeats, and its END step. */
enum rl__step_kind {
  RL__STEP_REQUEST = 0, /* a request to its target */
  RL__STEP_SLEEP,       /* wait sleep_ns, then the next step */
  RL__STEP_REPEAT,      /* the steps up to `jump` (its END) `count` times */
  RL__STEP_END,         /* back to `jump` (its REPEAT) while it counts */
};

/* What a user does when a step fails (or, for STOP_USER_ALWAYS, after the
 * step whatever its outcome). Ordered: the larger wins. */
enum rl__on_failure {
  RL__ON_FAILURE_CONTINUE = 0, /* the next step (a task's default) */
  RL__ON_FAILURE_STOP_TASK,    /* the rest of the steps are skipped */
  RL__ON_FAILURE_STOP_USER,    /* the user stops, through on_stop */
  RL__ON_FAILURE_END_USER,     /* the user stops without on_stop (on_start's
                                  default: Locust's exception in on_start) */
};

typedef struct rl__plan_step {
  uint8_t kind;       /* enum rl__step_kind */
  uint8_t on_failure; /* enum rl__on_failure */
  uint8_t stop_user;  /* after the step, the user stops (Locust's StopUser) */
  uint64_t sleep_ns;  /* SLEEP */
  uint32_t count;     /* REPEAT: how many times (>= 1) */
  uint32_t jump;      /* REPEAT: its END's index; END: its REPEAT's */
  rl__target *target; /* REQUEST; owned unless the plan is a quick
                                  one */
  rl__step_checks checks;      /* expect and captures (borrowed), if any */
  int has_checks;              /* has expect or capture: wants responses */
  size_t endpoint;             /* which of the user's connections */
  size_t *capture_vars;        /* owned: checks.capture_vars */
  rl_template *contains;       /* owned: checks.contains */
  rl_template **json_operands; /* owned, n_json: checks.json_operands */
  size_t n_json_operands;
  const void *origin; /* what it was compiled from (a scenario step),
                             for listings; NULL on the quick command line */
  /* --print-responses: how many of its responses were printed, by every
   * thread (a relaxed counter, like a feeder's: workers write it). */
  atomic_uint printed;
  /* A C class's request of no host of its own (runtime_host: true): sent
   * only with rl_send_opts.host; its target (no endpoint) names its row. */
  uint8_t runtime_only;
} rl__plan_step;

typedef struct rl__plan_task {
  const char *name;   /* NULL: "task N" */
  const void *origin; /* what it was compiled from (a scenario task) */
  double weight;
  rl__plan_step *steps;
  size_t n_steps;
  rl_task_fn fn; /* a class written in C: the task, in place of steps */
  /* Its index in its class as declared (--tags may leave some out):
   * what rl_user_phase tells a C class. */
  uint32_t index;
} rl__plan_task;

struct rl__user_driver;

/* What a class written in C (include/rpcload/user.h; compiled by
 * scenario/cclass.c) has in place of steps: its callbacks, which its
 * users run through `driver` (engine/cuser.c; engine/user.h says how),
 * and the requests they send by index, compiled as steps. */
typedef struct rl__plan_cclass {
  const struct rl__user_driver *driver;
  rl_task_fn on_start, on_stop; /* NULL: none */
  void (*free_data)(void *data, void *arg);
  void *arg; /* borrowed: the embedder's, passed to every callback */
  rl__plan_step *requests; /* owned, as a task's steps */
  size_t n_requests;
} rl__plan_cclass;

typedef struct rl__plan_class {
  const char *name;
  const void *origin; /* what it was compiled from (a scenario's class),
                         for listings */
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
  int checks;         /* its users keep responses: a step checks them, or the
                 class is written in C (its callbacks see them) */
  rl__plan_cclass *c; /* owned; NULL: a class of steps */
  /* The data file its users take rows from ({{data.x}}), or NULL
   * (borrowed; its counter is the one thing of a plan workers write). */
  struct rl__feeder *feeder;
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
  /* What the plan's steps borrow beyond the scenario (a C class's parsed
   * requests), freed with it by keep_del; NULL: nothing. */
  void *keep;
  void (*keep_del)(void *keep);
  /* Users per class told from outside (a cluster worker, Locust's
   * user_classes_count: rl__plan_deal_counts): when set, it deals users in
   * place of `assign`. Swapped while workers read it, so atomic; earlier
   * deals are kept (a worker thread may still hold one) until
   * rl__plan_del. NULL: `assign`. */
  struct rl__plan_deal *_Atomic deal;
  struct rl__plan_deal *old_deals;
  /* The targets its C classes' requests add while it runs (a host not
   * declared: rl_send_opts.host; engine/rtarget.h), owned, freed first
   * by rl__plan_del through rt_del, which whoever attached it sets
   * (rl__rtargets_del): the table is built from the plan, so the plan
   * calls nothing of it by name; NULL: none may be added. */
  struct rl__rtargets *rt;
  void (*rt_del)(struct rl__rtargets *rt);
} rl__plan;

/* A deal of users to classes: user i (spawn place) is of class cls[i]. */
typedef struct rl__plan_deal {
  struct rl__plan_deal *next; /* the plan's older deals */
  uint64_t n;
  uint16_t cls[];
} rl__plan_deal;

/*
 * The quick command line's plan: one class, one task, one step running
 * `target` (borrowed: it must outlive the plan) with `wait`. Returns NULL
 * when out of memory. Free with rl__plan_del.
 */
rl__plan *rl__plan_single(rl__target *target, const rl__wait *wait);

void rl__plan_del(rl__plan *p);

/* Frees what step s holds (its target too when `owns`), not s itself. */
void rl__plan_step_free(rl__plan_step *s, int owns);

/* Whether targets a and b are one endpoint (plugin, host, port, TLS and
 * the plugin's connection key): a user's one connection carries both. */
int rl__plan_same_endpoint(const rl__target *a, const rl__target *b);

/* The class of the user with 0-based spawn index `i`. */
const rl__plan_class *rl__plan_class_of(const rl__plan *p, uint64_t i);

/*
 * Building a plan (scenario/compile.c): the index of t's endpoint in the
 * plan (same plugin, host, port and TLS share one), adding it with t as
 * the target its connections are set up with when new. 0 or RL_ERR_NOMEM.
 */
int rl__plan_endpoint(rl__plan *p, rl__target *t, size_t *out);

/* The index of the user variable `name` (copied), added when new. 0 or
 * RL_ERR_NOMEM. */
int rl__plan_var(rl__plan *p, const char *name, size_t *out);

/* Deals the first `users` users (at least 1024) to the plan's classes as
 * Locust does (locust/dispatch.py): the classes in name order, the
 * fixed_count ones first by smooth weighted round-robin over their counts
 * until each has its count, then the weighted ones by smooth weighted
 * round-robin over their weights, each normalised to round(2 * v / min).
 * 0 or RL_ERR_NOMEM. */
int rl__plan_assign_classes(rl__plan *p, uint32_t users);

/*
 * How many of the first `users` users (in spawn order, as
 * rl__plan_class_of deals them) each class has: counts[c] for every
 * c < p->n_classes (the caller's array). Workers keep the users running
 * exactly that deal, so with `users` running these are their classes.
 */
void rl__plan_class_counts(const rl__plan *p, uint64_t users, uint64_t *counts);

/*
 * Deals exactly counts[c] users to each class c < p->n_classes (a Locust
 * master's user_classes_count for this worker): from now on the first
 * sum(counts) users are of those classes, interleaved. The users running
 * keep their classes as far as the new counts allow: *kept (may be NULL)
 * is how many of the first users keep theirs, so a caller with more users
 * running than that lowers to *kept first, then raises to the sum. Called
 * by the thread that owns the plan while workers read it. 0, RL_ERR_INVAL
 * (no user at all, or more than 2^32-1) or RL_ERR_NOMEM.
 */
int rl__plan_deal_counts(rl__plan *p, const uint64_t *counts, uint64_t *kept);

/* A task's share of its class's task runs: its weight over the class's,
 * or 1/n for a sequential class. */
double rl__plan_task_share(const rl__plan_class *k, size_t task);

/* A task's name for listings: its own, or "task N" (1-based). */
void rl__plan_task_label(const rl__plan_class *k, size_t task, char *buf,
                         size_t len);

/* When every class has a fixed count, how many users they make in all
 * (Locust spawns no more); 0 when some class is weighted. */
uint64_t rl__plan_fixed_only_users(const rl__plan *p);

/* The first step's target (the run's "main" target, for transports and
 * shared connections on the quick command line). */
rl__target *rl__plan_first_target(const rl__plan *p);

/* `--show-task-ratio`: each class's share of users and each task's share
 * within its class and of all tasks. */
void rl__plan_print_ratios(const rl__plan *p, FILE *out);

#endif /* RL_PLAN_H */

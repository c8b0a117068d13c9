/*
 * User classes written in C into a plan (scenario/cclass.h): each class
 * checked, then described as a scenario's class (a scenario of their own,
 * not read from a file: names copied, tasks without steps, the requests
 * parsed as steps), compiled together with the -f scenario's classes by
 * the scenario compiler, and the callbacks put into the plan's classes.
 * The plan owns that scenario (plan->keep): its compiled steps borrow the
 * parsed requests' expectations and captures.
 *
 * May call: scenario/ (parsing, compiling), engine/ (plan, cuser's
 * driver), base/.
 */
#include "scenario/cclass.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rpcload/plugin.h>

#include "engine/cuser.h"
#include "engine/rtarget.h"

/* What errors call the scenario the C classes make up, when no request or
 * class is at fault ("...: no step makes a request"). */
#define C_SOURCE "the C user classes"

/* How errors name class i: by its name, or by its index without one. */
static void class_name(const rl_user_class *k, size_t i, char *buf,
                       size_t len) {
  if (k->name && *k->name)
    snprintf(buf, len, "user class '%s'", k->name);
  else
    snprintf(buf, len, "user class #%zu", i);
}

/* A weight of a class or task: 0 (meaning 1) or more. */
static int weight_of(double w, double *out) {
  if (!isfinite(w) || w < 0)
    return -1;
  *out = w > 0 ? w : 1;
  return 0;
}

/* Class i, copied up to its struct_size into *k (the members a caller
 * built against an older header lacks read as 0), and checked on its own
 * and against the classes before it and the scenario's. */
static int check_class(const rl_user_class *const *classes, size_t i,
                       const rl__scn *scn, rl_user_class *k, char *err,
                       size_t errlen) {
  const rl_user_class *in = classes[i];
  char who[160];
  memset(k, 0, sizeof *k);
  if (!in) {
    snprintf(err, errlen, "user class #%zu is NULL", i);
    return RL_ERR_INVAL;
  }
  /* API 1.2's class ends at free_data; task_tags (1.3) reads as NULL
   * from a caller built against that header. */
  size_t least = offsetof(rl_user_class, task_tags);
  if (in->struct_size < least) {
    snprintf(err, errlen,
             "user class #%zu: struct_size %u is less than rl_user_class's "
             "%zu (set it to sizeof(rl_user_class))",
             i, in->struct_size, sizeof *k);
    return RL_ERR_INVAL;
  }
  memcpy(k, in, in->struct_size < sizeof *k ? in->struct_size : sizeof *k);
  class_name(k, i, who, sizeof who);
  if (!k->name || !*k->name) {
    snprintf(err, errlen, "%s has no name", who);
    return RL_ERR_INVAL;
  }
  for (size_t j = 0; j < i; j++)
    if (classes[j]->name && strcmp(classes[j]->name, k->name) == 0) {
      snprintf(err, errlen,
               "%s: the name of user class #%zu too: names must "
               "be unique",
               who, j);
      return RL_ERR_INVAL;
    }
  for (size_t j = 0; scn && j < scn->n_users; j++)
    if (strcmp(scn->users[j].name, k->name) == 0) {
      snprintf(err, errlen,
               "%s: %s:%d:%d has a class of that name: names "
               "must be unique",
               who, scn->file, scn->users[j].name_pos.line,
               scn->users[j].name_pos.col);
      return RL_ERR_INVAL;
    }
  double w;
  if (weight_of(k->weight, &w)) {
    snprintf(err, errlen, "%s: weight must be 0 (meaning 1) or more, got %g",
             who, k->weight);
    return RL_ERR_INVAL;
  }
  if (!k->tasks || !k->n_tasks) {
    snprintf(err, errlen, "%s has no task (tasks, n_tasks)", who);
    return RL_ERR_INVAL;
  }
  for (size_t t = 0; t < k->n_tasks; t++) {
    if (!k->tasks[t].fn) {
      snprintf(err, errlen, "%s: tasks[%zu] has no fn", who, t);
      return RL_ERR_INVAL;
    }
    if (weight_of(k->tasks[t].weight, &w)) {
      snprintf(err, errlen,
               "%s: tasks[%zu]'s weight must be 0 (meaning 1) or more, got %g",
               who, t, k->tasks[t].weight);
      return RL_ERR_INVAL;
    }
    for (size_t g = 0; k->task_tags && k->task_tags[t] && k->task_tags[t][g];
         g++)
      if (!k->task_tags[t][g][0]) {
        snprintf(err, errlen, "%s: task_tags[%zu][%zu] is empty", who, t, g);
        return RL_ERR_INVAL;
      }
  }
  return 0;
}

/* Task t's tags (rl_user_class.task_tags) copied into st. */
static int copy_tags(const rl_user_class *k, size_t t, rl__scn_task *st) {
  const char *const *tags = k->task_tags ? k->task_tags[t] : NULL;
  size_t n = 0;
  while (tags && tags[n])
    n++;
  if (!n)
    return 0;
  if (!(st->tags = calloc(n, sizeof *st->tags)))
    return -1;
  for (; st->n_tags < n; st->n_tags++)
    if (!(st->tags[st->n_tags] = strdup(tags[st->n_tags])))
      return -1;
  return 0;
}

/* Class k (checked) as the scenario's class *u, which owns what it holds
 * (cs: the scenario, for the requests' protocols and variables). */
static int describe(rl__scn *cs, const rl_user_class *k, rl__scn_user *u,
                    char *err, size_t errlen) {
  u->c_class = 1;
  if (!(u->name = strdup(k->name)) ||
      (k->host && !(u->host = strdup(k->host))) ||
      (k->written_in && !(u->written_in = strdup(k->written_in))))
    goto oom;
  (void)weight_of(k->weight, &u->weight);
  u->has_fixed_count = k->fixed_count > 0;
  u->fixed_count = k->fixed_count;
  if (k->wait_time) {
    char label[192];
    snprintf(label, sizeof label, "%s.wait_time", k->name);
    int rc =
        rl__scn_parse_wait_text(k->wait_time, label, &u->wait, err, errlen);
    if (rc)
      return rc;
    u->has_wait = 1;
  }
  if (!(u->tasks = calloc(k->n_tasks, sizeof *u->tasks)))
    goto oom;
  for (; u->n_tasks < k->n_tasks; u->n_tasks++) {
    const rl_task *t = &k->tasks[u->n_tasks];
    rl__scn_task *st = &u->tasks[u->n_tasks];
    (void)weight_of(t->weight, &st->weight);
    if ((t->name && !(st->name = strdup(t->name))) ||
        copy_tags(k, u->n_tasks, st)) {
      u->n_tasks++; /* what it holds is freed with the rest */
      goto oom;
    }
  }
  size_t n = 0;
  while (k->requests && k->requests[n])
    n++;
  if (n && !(u->requests = calloc(n, sizeof *u->requests)))
    goto oom;
  for (size_t i = 0; i < n; i++) {
    char label[192];
    rl__scn_request_label(k->name, i, label, sizeof label);
    /* Counted first: what a failed parse holds is freed with the rest. */
    u->n_requests = i + 1;
    int rc = rl__scn_parse_request(cs, k->requests[i], label, &u->requests[i],
                                   err, errlen);
    if (rc)
      return rc;
  }
  return 0;
oom:
  snprintf(err, errlen, "out of memory");
  return RL_ERR_NOMEM;
}

/* The callbacks of C class k into its plan class pc (compiled from
 * scenario class u). */
static void give_callbacks(rl__plan *p, rl__plan_class *pc,
                           const rl__scn_user *u, const rl_user_class *k) {
  pc->c->driver = &rl__cuser_driver;
  pc->c->on_start = k->on_start;
  pc->c->on_stop = k->on_stop;
  pc->c->free_data = k->free_data;
  pc->c->arg = k->arg;
  /* --tags may have left some tasks out: each plan task knows its own. */
  for (size_t t = 0; t < pc->n_tasks; t++) {
    const rl__scn_task *st = pc->tasks[t].origin;
    pc->tasks[t].fn = k->tasks[st - u->tasks].fn;
  }
  p->has_on_stop |= k->on_stop != NULL;
}

static void keep_del(void *keep) { rl__scn_del(keep); }

/* What the plan's run-time targets are compiled with (engine/rtarget.h):
 * the command line's options as at load (what they point to is the
 * environment's, which outlives the plan), the host they named copied. */
typedef struct rt_ctx {
  rl__plugin_set *plugins;
  const rl__scn *cs; /* the plan's keep */
  const rl__plan *plan;
  rl__scn_compile_options po;
  char *host;
} rt_ctx;

static void rt_ctx_del(void *arg) {
  rt_ctx *x = arg;
  free(x->host);
  free(x);
}

static int rt_build(void *arg, const rl__plan_class *pc, size_t request,
                    const char *host, rl__plan_step *out, char *err,
                    size_t errlen) {
  const rt_ctx *x = arg;
  char why[768];
  int rc = rl__scn_compile_request(x->plugins, x->cs, &x->po, x->plan, pc,
                                   request, host, out, why, sizeof why);
  if (rc)
    snprintf(err, errlen, "host '%s' (added at run time): %s", host, why);
  return rc;
}

/* The plan's table of run-time targets. 0 or RL_ERR_NOMEM. */
static int add_rtargets(rl__plugin_set *plugins, rl__plan *p, const rl__scn *cs,
                        const rl__scn_compile_options *po) {
  rt_ctx *x = calloc(1, sizeof *x);
  if (!x || (po->host && !(x->host = strdup(po->host)))) {
    free(x);
    return RL_ERR_NOMEM;
  }
  x->plugins = plugins;
  x->cs = cs;
  x->plan = p;
  x->po = *po;
  x->po.host = x->host;
  p->rt = rl__rtargets_new(0, rt_build, x, rt_ctx_del);
  p->rt_del = rl__rtargets_del;
  return p->rt ? 0 : RL_ERR_NOMEM;
}

int rl__cclass_plan(rl__plugin_set *plugins, const rl__scn *scn,
                    const rl_user_class *const *classes, size_t n,
                    const rl__scn_compile_options *po, rl__plan **out,
                    char *err, size_t errlen) {
  *out = NULL;
  if (n && !classes) {
    snprintf(err, errlen, "no user classes (NULL)");
    return RL_ERR_INVAL;
  }
  if (!scn && !n) {
    snprintf(err, errlen, "no user class: give a scenario or a C class");
    return RL_ERR_INVAL;
  }
  rl__scn *cs = calloc(1, sizeof *cs);
  if (!cs || !(cs->file = strdup(C_SOURCE)) ||
      !(cs->users = calloc(n ? n : 1, sizeof *cs->users))) {
    rl__scn_del(cs);
    snprintf(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  int rc = 0;
  for (size_t i = 0; i < n && !rc; i++) {
    rl_user_class k;
    if (!(rc = check_class(classes, i, scn, &k, err, errlen))) {
      cs->n_users++; /* so that rl__scn_del frees what is described */
      rc = describe(cs, &k, &cs->users[i], err, errlen);
    }
  }
  rl__plan *p = NULL;
  const rl__scn *scns[2];
  size_t ns = 0;
  if (scn)
    scns[ns++] = scn;
  if (n)
    scns[ns++] = cs;
  if (!rc)
    rc = rl__scn_compile_many(plugins, scns, ns, po, &p, err, errlen);
  if (rc) {
    rl__scn_del(cs);
    return rc;
  }
  for (size_t c = 0; c < p->n_classes; c++) {
    rl__plan_class *pc = &p->classes[c];
    if (!pc->c)
      continue;
    const rl__scn_user *u = pc->origin;
    give_callbacks(p, pc, u, classes[u - cs->users]);
  }
  p->keep = cs;
  p->keep_del = keep_del;
  if (n && !po->list_only && add_rtargets(plugins, p, cs, po)) {
    rl__plan_del(p);
    snprintf(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  *out = p;
  return 0;
}

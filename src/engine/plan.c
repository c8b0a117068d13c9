#include "engine/plan.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include <rpcload/plugin.h>

#include "base/log.h"
#include "engine/template.h"

/* Users assigned a class in advance; beyond, the weighted part repeats. */
#define PLAN_MIN_ASSIGN 1024

static void free_steps(rl__plan_step *s, size_t n, int owns) {
  for (size_t i = 0; i < n; i++) {
    if (owns)
      rl__target_del(s[i].target);
    free(s[i].capture_vars);
  }
  free(s);
}

void rl__plan_del(rl__plan *p) {
  if (!p)
    return;
  for (size_t c = 0; c < p->n_classes; c++) {
    rl__plan_class *k = &p->classes[c];
    free_steps(k->on_start, k->n_on_start, p->owns_targets);
    free_steps(k->on_stop, k->n_on_stop, p->owns_targets);
    for (size_t t = 0; t < k->n_tasks; t++)
      free_steps(k->tasks[t].steps, k->tasks[t].n_steps, p->owns_targets);
    free(k->tasks);
    free(k->cum_weight);
  }
  free(p->classes);
  for (size_t i = 0; i < p->n_vars; i++)
    free(p->vars[i]);
  free(p->vars);
  free(p->assign);
  free(p->endpoint_targets);
  free(p);
}

int rl__plan_var(rl__plan *p, const char *name, size_t *out) {
  for (size_t i = 0; i < p->n_vars; i++)
    if (strcmp(p->vars[i], name) == 0) {
      *out = i;
      return 0;
    }
  char **v = realloc(p->vars, (p->n_vars + 1) * sizeof *v);
  if (!v)
    return RL_ERR_NOMEM;
  p->vars = v;
  if (!(v[p->n_vars] = strdup(name)))
    return RL_ERR_NOMEM;
  *out = p->n_vars++;
  return 0;
}

/* Users to classes: fixed_count classes first, in file order, then the
 * weighted classes by smooth weighted round-robin, so that every prefix
 * of the users is as close to the weights as whole users allow. */
int rl__plan_assign_classes(rl__plan *p, uint32_t users) {
  size_t n = users > PLAN_MIN_ASSIGN ? users : PLAN_MIN_ASSIGN;
  p->assign = calloc(n, sizeof *p->assign);
  double *cur = calloc(p->n_classes, sizeof *cur);
  if (!p->assign || !cur) {
    free(cur);
    return RL_ERR_NOMEM;
  }
  size_t i = 0;
  for (size_t c = 0; c < p->n_classes; c++)
    for (uint64_t f = 0;
         p->classes[c].has_fixed && f < p->classes[c].fixed && i < n; f++)
      p->assign[i++] = (uint16_t)c;
  p->n_fixed_users = i;
  double total = 0;
  for (size_t c = 0; c < p->n_classes; c++)
    if (!p->classes[c].has_fixed)
      total += p->classes[c].weight;
  size_t last = p->n_classes - 1;
  for (; i < n; i++) {
    if (total <= 0) {
      p->assign[i] = (uint16_t)last; /* only fixed classes: the rest idle */
      continue;
    }
    size_t best = (size_t)-1;
    for (size_t c = 0; c < p->n_classes; c++) {
      if (p->classes[c].has_fixed)
        continue;
      cur[c] += p->classes[c].weight;
      if (best == (size_t)-1 || cur[c] > cur[best])
        best = c;
    }
    cur[best] -= total;
    p->assign[i] = (uint16_t)best;
  }
  p->n_assign = n;
  free(cur);
  return 0;
}

/* Same plugin, host, port and TLS: one connection may carry both. */
static int same_endpoint(const rl__target *a, const rl__target *b) {
  return a->plugin == b->plugin && a->port == b->port && a->tls == b->tls &&
         strcmp(a->host ? a->host : "", b->host ? b->host : "") == 0;
}

int rl__plan_endpoint(rl__plan *p, rl__target *t, size_t *out) {
  for (size_t i = 0; i < p->n_endpoints; i++)
    if (same_endpoint(p->endpoint_targets[i], t)) {
      *out = i;
      return 0;
    }
  rl__target **e =
      realloc(p->endpoint_targets, (p->n_endpoints + 1) * sizeof(rl__target *));
  if (!e)
    return RL_ERR_NOMEM;
  p->endpoint_targets = e;
  e[p->n_endpoints] = t;
  *out = p->n_endpoints++;
  return 0;
}

rl__plan *rl__plan_single(rl__target *target, const rl__wait *wait) {
  rl__plan *p = calloc(1, sizeof *p);
  if (!p)
    return NULL;
  p->classes = calloc(1, sizeof *p->classes);
  rl__plan_class *k = p->classes;
  if (k) {
    k->tasks = calloc(1, sizeof *k->tasks);
    k->cum_weight = calloc(1, sizeof *k->cum_weight);
  }
  if (k && k->tasks)
    k->tasks->steps = calloc(1, sizeof *k->tasks->steps);
  if (!k || !k->tasks || !k->cum_weight || !k->tasks->steps) {
    if (k) {
      if (k->tasks)
        free(k->tasks->steps);
      free(k->tasks);
      free(k->cum_weight);
    }
    free(p->classes);
    free(p);
    return NULL;
  }
  p->n_classes = 1;
  k->name = "User";
  k->weight = 1;
  k->wait = *wait;
  k->n_tasks = 1;
  k->tasks->weight = 1;
  k->tasks->n_steps = 1;
  k->tasks->steps->target = target;
  if (rl__plan_endpoint(p, target, &k->tasks->steps->endpoint)) {
    rl__plan_del(p);
    return NULL;
  }
  k->cum_weight[0] = 1;
  k->total_weight = 1;
  return p;
}

const rl__plan_class *rl__plan_class_of(const rl__plan *p, uint64_t i) {
  if (p->n_classes == 1 || !p->assign)
    return &p->classes[0];
  if (i >= p->n_assign) {
    size_t weighted = p->n_assign - p->n_fixed_users;
    i = weighted ? p->n_fixed_users + (i - p->n_fixed_users) % weighted
                 : p->n_assign - 1;
  }
  return &p->classes[p->assign[i]];
}

void rl__plan_class_counts(const rl__plan *p, uint64_t users,
                           uint64_t *counts) {
  memset(counts, 0, p->n_classes * sizeof *counts);
  if (p->n_classes == 1 || !p->assign) {
    counts[0] = users;
    return;
  }
  uint64_t dealt = users < p->n_assign ? users : p->n_assign;
  for (uint64_t i = 0; i < dealt; i++)
    counts[p->assign[i]]++;
  if (users <= p->n_assign)
    return;
  /* Beyond the dealt users the weighted part repeats (rl__plan_class_of):
   * whole rounds of it, then the start of one more. */
  uint64_t rest = users - p->n_assign;
  size_t weighted = p->n_assign - p->n_fixed_users;
  if (!weighted) {
    counts[p->assign[p->n_assign - 1]] += rest;
    return;
  }
  uint64_t rounds = rest / weighted, part = rest % weighted;
  for (size_t i = 0; i < weighted; i++)
    counts[p->assign[p->n_fixed_users + i]] += rounds + (i < part);
}

double rl__plan_task_share(const rl__plan_class *k, size_t task) {
  if (k->sequential)
    return 1.0 / (double)k->n_tasks;
  return k->total_weight > 0 ? k->tasks[task].weight / k->total_weight : 0;
}

void rl__plan_task_label(const rl__plan_class *k, size_t task, char *buf,
                         size_t len) {
  if (k->tasks[task].name)
    snprintf(buf, len, "%s", k->tasks[task].name);
  else
    snprintf(buf, len, "task %zu", task + 1);
}

rl__target *rl__plan_first_target(const rl__plan *p) {
  for (size_t c = 0; c < p->n_classes; c++) {
    const rl__plan_class *k = &p->classes[c];
    if (k->n_on_start)
      return k->on_start[0].target;
    if (k->n_tasks)
      return k->tasks[0].steps[0].target;
  }
  return NULL;
}

void rl__plan_print_ratios(const rl__plan *p, FILE *out) {
  double wsum = 0;
  uint64_t fixed = 0;
  for (size_t c = 0; c < p->n_classes; c++) {
    if (p->classes[c].has_fixed)
      fixed += p->classes[c].fixed;
    else
      wsum += p->classes[c].weight;
  }
  fprintf(out, "Ratio per user class and task (of the weighted users%s):\n",
          fixed ? "; fixed_count classes apart" : "");
  for (size_t c = 0; c < p->n_classes; c++) {
    const rl__plan_class *k = &p->classes[c];
    double share = k->has_fixed ? 0 : wsum > 0 ? k->weight / wsum : 0;
    if (k->has_fixed)
      fprintf(out, " %s: fixed_count %llu\n", k->name,
              (unsigned long long)k->fixed);
    else
      fprintf(out, " %5.1f%% %s\n", share * 100, k->name);
    for (size_t t = 0; t < k->n_tasks; t++) {
      double in_class = rl__plan_task_share(k, t);
      char label[64];
      rl__plan_task_label(k, t, label, sizeof label);
      if (k->has_fixed)
        fprintf(out, "        %5.1f%% %s\n", in_class * 100, label);
      else
        fprintf(out, "        %5.1f%% %s (%.1f%% of all)\n", in_class * 100,
                label, in_class * share * 100);
    }
  }
}

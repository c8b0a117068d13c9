#include "engine/plan.h"

#include <libgen.h>
#include <math.h>
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

void rl__plan_step_free(rl__plan_step *s, int owns) {
  if (owns)
    rl__target_del(s->target);
  free(s->capture_vars);
  rl__template_del(s->contains);
  for (size_t j = 0; j < s->n_json_operands; j++)
    rl__template_del(s->json_operands[j]);
  free(s->json_operands);
}

static void free_steps(rl__plan_step *s, size_t n, int owns) {
  for (size_t i = 0; i < n; i++)
    rl__plan_step_free(&s[i], owns);
  free(s);
}

void rl__plan_del(rl__plan *p) {
  if (!p)
    return;
  /* First: its helper may still be building from what `keep` holds. */
  if (p->rt_del)
    p->rt_del(p->rt);
  for (size_t c = 0; c < p->n_classes; c++) {
    rl__plan_class *k = &p->classes[c];
    free_steps(k->on_start, k->n_on_start, p->owns_targets);
    free_steps(k->on_stop, k->n_on_stop, p->owns_targets);
    for (size_t t = 0; t < k->n_tasks; t++)
      free_steps(k->tasks[t].steps, k->tasks[t].n_steps, p->owns_targets);
    free(k->tasks);
    free(k->cum_weight);
    if (k->c)
      free_steps(k->c->requests, k->c->n_requests, p->owns_targets);
    free(k->c);
  }
  free(p->classes);
  for (size_t i = 0; i < p->n_vars; i++)
    free(p->vars[i]);
  free(p->vars);
  free(p->assign);
  rl__plan_deal *d = atomic_load(&p->deal);
  free(d);
  for (rl__plan_deal *o = p->old_deals; o;) {
    rl__plan_deal *next = o->next;
    free(o);
    o = next;
  }
  free(p->endpoint_targets);
  if (p->keep_del)
    p->keep_del(p->keep);
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

/*
 * Locust's smooth weighted round-robin (locust/dispatch.py, _user_gen,
 * over the roundrobin package's `smooth`): the classes in name order, each
 * value (a weight or a fixed count) normalised to round(2 * v / min v)
 * with Python's rounding (halves to even), and at each turn every class
 * gains its value and the first with the most is picked and pays the
 * total. Dealing users in this order gives what Locust gives at every
 * user count: at 3 users of Web:3, Buyer:1 and a fixed Admin, one each.
 */
typedef struct swrr {
  size_t n;
  size_t *cls;   /* class index, in name order */
  double *value; /* normalised */
  double *cur;
  double total;
} swrr;

typedef struct named {
  const char *name;
  size_t cls;
} named;

static int named_cmp(const void *a, const void *b) {
  return strcmp(((const named *)a)->name, ((const named *)b)->name);
}

/* Sorts the n class indexes in `idx` by the classes' names (unique).
 * 0 or RL_ERR_NOMEM. */
static int sort_by_name(const rl__plan *p, size_t *idx, size_t n) {
  named *v = malloc((n ? n : 1) * sizeof *v);
  if (!v)
    return RL_ERR_NOMEM;
  for (size_t i = 0; i < n; i++)
    v[i] = (named){p->classes[idx[i]].name, idx[i]};
  qsort(v, n, sizeof *v, named_cmp);
  for (size_t i = 0; i < n; i++)
    idx[i] = v[i].cls;
  free(v);
  return 0;
}

/* The round-robin over the classes with (fixed) or without a fixed count
 * and a value > 0. 0 or RL_ERR_NOMEM; free with swrr_free. */
static int swrr_init(swrr *g, const rl__plan *p, int fixed) {
  memset(g, 0, sizeof *g);
  size_t room = p->n_classes ? p->n_classes : 1;
  g->cls = calloc(room, sizeof *g->cls);
  g->value = calloc(room, sizeof *g->value);
  g->cur = calloc(room, sizeof *g->cur);
  if (!g->cls || !g->value || !g->cur)
    return RL_ERR_NOMEM;
  double min = 0;
  for (size_t c = 0; c < p->n_classes; c++) {
    const rl__plan_class *k = &p->classes[c];
    double v = fixed ? (double)k->fixed : k->weight;
    if (!k->has_fixed != !fixed || !(v > 0))
      continue;
    g->cls[g->n++] = c;
    if (min == 0 || v < min)
      min = v;
  }
  if (sort_by_name(p, g->cls, g->n))
    return RL_ERR_NOMEM;
  for (size_t i = 0; i < g->n; i++) {
    const rl__plan_class *k = &p->classes[g->cls[i]];
    /* rint rounds halves to even, as Python's round. */
    g->value[i] = rint(2 * (fixed ? (double)k->fixed : k->weight) / min);
    g->total += g->value[i];
  }
  return 0;
}

static void swrr_free(swrr *g) {
  free(g->cls);
  free(g->value);
  free(g->cur);
}

/* The next class; (size_t)-1 when there is none. */
static size_t swrr_next(swrr *g) {
  if (!g->n)
    return (size_t)-1;
  size_t best = 0;
  for (size_t i = 0; i < g->n; i++) {
    g->cur[i] += g->value[i];
    if (g->cur[i] > g->cur[best])
      best = i;
  }
  g->cur[best] -= g->total;
  return g->cls[best];
}

/* Users to classes as Locust deals them: the fixed_count classes first,
 * by their own round-robin until each has its count, then the weighted
 * classes by theirs, so every prefix of the users is Locust's at that
 * user count. */
int rl__plan_assign_classes(rl__plan *p, uint32_t users) {
  size_t n = users > PLAN_MIN_ASSIGN ? users : PLAN_MIN_ASSIGN;
  swrr fixed, weighted;
  int rc = swrr_init(&fixed, p, 1);
  if (!rc)
    rc = swrr_init(&weighted, p, 0);
  else
    memset(&weighted, 0, sizeof weighted);
  /* Past the prefix the weighted part repeats (rl__plan_class_of): make it
   * whole periods of the round-robin when that is cheap, so the repeat is
   * exactly what Locust would go on dealing. */
  uint64_t total_fixed = 0;
  for (size_t c = 0; c < p->n_classes; c++)
    total_fixed += p->classes[c].has_fixed ? p->classes[c].fixed : 0;
  if (!rc && weighted.total > 0 && weighted.total <= 65536 && total_fixed < n) {
    size_t period = (size_t)weighted.total, rest = n - (size_t)total_fixed;
    n = (size_t)total_fixed + (rest + period - 1) / period * period;
  }
  if (!rc && !(p->assign = calloc(n, sizeof *p->assign)))
    rc = RL_ERR_NOMEM;
  uint64_t *have =
      rc ? NULL : calloc(p->n_classes ? p->n_classes : 1, sizeof *have);
  if (!rc && !have)
    rc = RL_ERR_NOMEM;
  size_t i = 0;
  for (uint64_t dealt = 0; !rc && i < n && dealt < total_fixed;) {
    size_t c = swrr_next(&fixed);
    if (have[c] < p->classes[c].fixed) {
      have[c]++;
      dealt++;
      p->assign[i++] = (uint16_t)c;
    }
  }
  if (!rc)
    p->n_fixed_users = i;
  for (; !rc && i < n; i++) {
    size_t c = swrr_next(&weighted);
    /* Only fixed classes: Locust spawns no more users; the CLI keeps the
     * count to the fixed total, and users beyond it (the web UI may ask)
     * take the last class. */
    p->assign[i] = (uint16_t)(c == (size_t)-1 ? p->n_classes - 1 : c);
  }
  if (!rc)
    p->n_assign = n;
  free(have);
  swrr_free(&fixed);
  swrr_free(&weighted);
  return rc;
}

uint64_t rl__plan_fixed_only_users(const rl__plan *p) {
  uint64_t total = 0;
  for (size_t c = 0; c < p->n_classes; c++) {
    if (!p->classes[c].has_fixed && p->classes[c].weight > 0)
      return 0;
    total += p->classes[c].has_fixed ? p->classes[c].fixed : 0;
  }
  return total;
}

/* The plugin's per-connection settings of t's step (ABI 1.6), or "". */
static const char *conn_key(const rl__target *t) {
  const char *(*key)(void *) = t->plugin ? t->plugin->desc.step_conn_key : NULL;
  const char *k = key ? key(t->step) : NULL;
  return k ? k : "";
}

/* Same plugin, host, port and TLS, and the same connection settings the
 * plugin's steps ask for: one connection may carry both. */
int rl__plan_same_endpoint(const rl__target *a, const rl__target *b) {
  return a->plugin == b->plugin && a->port == b->port && a->tls == b->tls &&
         strcmp(a->host ? a->host : "", b->host ? b->host : "") == 0 &&
         strcmp(conn_key(a), conn_key(b)) == 0;
}

int rl__plan_endpoint(rl__plan *p, rl__target *t, size_t *out) {
  for (size_t i = 0; i < p->n_endpoints; i++)
    if (rl__plan_same_endpoint(p->endpoint_targets[i], t)) {
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
  const rl__plan_deal *d = atomic_load(&p->deal);
  if (d)
    return &p->classes[d->cls[i % d->n]];
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
  const rl__plan_deal *d = atomic_load(&p->deal);
  if (d) {
    for (uint64_t i = 0; i < users; i++)
      counts[d->cls[i % d->n]]++;
    return;
  }
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

int rl__plan_deal_counts(rl__plan *p, const uint64_t *counts, uint64_t *kept) {
  uint64_t total = 0;
  for (size_t c = 0; c < p->n_classes; c++) {
    if (counts[c] > UINT32_MAX - total)
      return RL_ERR_INVAL;
    total += counts[c];
  }
  if (kept)
    *kept = 0;
  if (total == 0)
    return RL_ERR_INVAL;
  rl__plan_deal *d = malloc(sizeof(*d) + total * sizeof(d->cls[0]));
  uint64_t *left = calloc(p->n_classes, sizeof(*left));
  int64_t *cur = calloc(p->n_classes, sizeof(*cur));
  if (!d || !left || !cur) {
    free(d);
    free(left);
    free(cur);
    return RL_ERR_NOMEM;
  }
  memcpy(left, counts, p->n_classes * sizeof(*left));
  d->n = total;
  /* The users running keep their places while their class has room. */
  uint64_t i = 0;
  for (; i < total; i++) {
    size_t c = (size_t)(rl__plan_class_of(p, i) - p->classes);
    if (left[c] == 0)
      break;
    d->cls[i] = (uint16_t)c;
    left[c]--;
  }
  if (kept)
    *kept = i;
  /* The rest by smooth weighted round-robin over what each class still
   * needs (its weight): over `rest` rounds each class is picked exactly
   * its weight's times, interleaved, so a partial ramp holds every class. */
  uint64_t rest = total - i;
  for (; i < total; i++) {
    size_t best = p->n_classes;
    for (size_t c = 0; c < p->n_classes; c++) {
      if (!left[c])
        continue;
      cur[c] += (int64_t)left[c];
      if (best == p->n_classes || cur[c] > cur[best])
        best = c;
    }
    cur[best] -= (int64_t)rest;
    d->cls[i] = (uint16_t)best;
  }
  free(left);
  free(cur);
  rl__plan_deal *old = atomic_exchange(&p->deal, d);
  if (old) {
    old->next = p->old_deals;
    p->old_deals = old;
  }
  return 0;
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

static rl__target *first_request(const rl__plan_step *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i].kind == RL__STEP_REQUEST && !s[i].runtime_only)
      return s[i].target;
  return NULL;
}

rl__target *rl__plan_first_target(const rl__plan *p) {
  for (size_t c = 0; c < p->n_classes; c++) {
    const rl__plan_class *k = &p->classes[c];
    rl__target *t = first_request(k->on_start, k->n_on_start);
    for (size_t i = 0; !t && i < k->n_tasks; i++)
      t = first_request(k->tasks[i].steps, k->tasks[i].n_steps);
    if (!t)
      t = first_request(k->on_stop, k->n_on_stop);
    if (!t && k->c)
      t = first_request(k->c->requests, k->c->n_requests);
    if (t)
      return t;
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

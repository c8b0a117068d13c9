/*
 * Stats snapshots (rl_env_stats): a copy of the run's merged stats and
 * history, taken under the runner's lock in one pass and read afterwards
 * without it, so a caller that reads slowly (Python, a printer) never
 * holds up the workers' merges.
 */
#include <stdlib.h>
#include <string.h>

#include "api/env.h"
#include "base/clock.h"
#include "stats/history.h"

struct rl_stats_entry {
  const rl__stats_entry *e; /* in the snapshot's table */
  double duration_s;        /* what its rates divide by */
};

struct rl_stats {
  rl__stats *stats; /* owned copy */
  rl_stats_entry total;
  rl_stats_entry *rows; /* owned, Locust's order */
  size_t n_rows;
  const rl__stats_error **errors; /* the copy's */
  size_t n_errors;
  rl__history_row *history; /* owned copy of the Aggregated rows */
  size_t n_history;
  double duration_s;
  int failed; /* out of memory while copying */
};

static void copy_reader(rl__stats *stats, const rl__history *history,
                        void *arg) {
  rl_stats *s = arg;
  if (rl__stats_merge(s->stats, stats))
    s->failed = 1;
  s->duration_s = rl__history_covered_s(history, rl__now_ns());
  if (history->n) {
    s->history = malloc(history->n * sizeof *s->history);
    if (!s->history) {
      s->failed = 1;
      return;
    }
    memcpy(s->history, history->rows, history->n * sizeof *s->history);
    s->n_history = history->n;
  }
}

rl_stats *rl_env_stats(rl_env *env) {
  if (!env->runner_used || !env->stats)
    return NULL;
  rl_stats *s = calloc(1, sizeof *s);
  if (!s || !(s->stats = rl__stats_new())) {
    free(s);
    return NULL;
  }
  rl__stats_set_max_error_rows(s->stats, 0); /* keep every row it has */
  pthread_mutex_lock(&env->lock);
  int running = env->phase == RL__API_RUNNING;
  pthread_mutex_unlock(&env->lock);
  /* While the run goes, under its lock; afterwards its hub is still
   * there and nobody writes it. */
  if (running && env->thread_on)
    rl__runner_with_stats(&env->runner, copy_reader, s);
  else
    rl__stats_hub_read(&env->runner.hub, copy_reader, s);
  const rl__stats_entry **entries;
  s->n_rows = rl__stats_entries(s->stats, &entries);
  s->rows = calloc(s->n_rows ? s->n_rows : 1, sizeof *s->rows);
  if (s->failed || !s->rows) {
    rl_stats_free(s);
    return NULL;
  }
  for (size_t i = 0; i < s->n_rows; i++)
    s->rows[i] = (rl_stats_entry){entries[i], s->duration_s};
  s->total = (rl_stats_entry){rl__stats_total(s->stats), s->duration_s};
  s->n_errors = rl__stats_errors(s->stats, &s->errors);
  return s;
}

void rl_stats_free(rl_stats *s) {
  if (!s)
    return;
  rl__stats_del(s->stats);
  free(s->rows);
  free(s->history);
  free(s);
}

const rl_stats_entry *rl_stats_total(const rl_stats *s) { return &s->total; }

size_t rl_stats_count(const rl_stats *s) { return s->n_rows; }

const rl_stats_entry *rl_stats_at(const rl_stats *s, size_t i) {
  return i < s->n_rows ? &s->rows[i] : NULL;
}

int rl_stats_foreach(const rl_stats *s,
                     int (*fn)(const rl_stats_entry *e, void *arg), void *arg) {
  for (size_t i = 0; i < s->n_rows; i++) {
    int rc = fn(&s->rows[i], arg);
    if (rc)
      return rc;
  }
  return 0;
}

static double ms(uint64_t ns) { return (double)ns / 1e6; }

const char *rl_entry_type(const rl_stats_entry *e) { return e->e->type; }
const char *rl_entry_name(const rl_stats_entry *e) { return e->e->name; }
uint64_t rl_entry_num_requests(const rl_stats_entry *e) {
  return e->e->num_requests;
}
uint64_t rl_entry_num_failures(const rl_stats_entry *e) {
  return e->e->num_failures;
}
double rl_entry_avg_ms(const rl_stats_entry *e) {
  return e->e->num_requests ? ms(e->e->total_ns) / (double)e->e->num_requests
                            : 0;
}
double rl_entry_min_ms(const rl_stats_entry *e) {
  return ms(rl__stats_entry_min_ns(e->e));
}
double rl_entry_max_ms(const rl_stats_entry *e) {
  return ms(rl__stats_entry_max_ns(e->e));
}
double rl_entry_median_ms(const rl_stats_entry *e) {
  return ms(rl__histogram_percentile(&e->e->hist, 50));
}
double rl_entry_percentile_ms(const rl_stats_entry *e, double q) {
  if (q < 0)
    q = 0;
  if (q > 1)
    q = 1;
  return ms(rl__histogram_percentile(&e->e->hist, q * 100));
}
double rl_entry_avg_content_length(const rl_stats_entry *e) {
  return e->e->num_requests ? (double)e->e->bytes / (double)e->e->num_requests
                            : 0;
}
double rl_entry_rps(const rl_stats_entry *e) {
  return e->duration_s > 0 ? (double)e->e->num_requests / e->duration_s : 0;
}
double rl_entry_fail_per_s(const rl_stats_entry *e) {
  return e->duration_s > 0 ? (double)e->e->num_failures / e->duration_s : 0;
}

size_t rl_stats_error_count(const rl_stats *s) { return s->n_errors; }

int rl_stats_error_at(const rl_stats *s, size_t i, const char **type,
                      const char **name, const char **error,
                      uint64_t *occurrences) {
  if (i >= s->n_errors)
    return RL_ERR_INVAL;
  const rl__stats_error *x = s->errors[i];
  if (type)
    *type = x->type;
  if (name)
    *name = x->name;
  if (error)
    *error = x->error;
  if (occurrences)
    *occurrences = x->occurrences;
  return 0;
}

size_t rl_stats_history_count(const rl_stats *s) { return s->n_history; }

int rl_stats_history_at(const rl_stats *s, size_t i, rl_history_row *out) {
  if (i >= s->n_history)
    return RL_ERR_INVAL;
  const rl__history_row *r = &s->history[i];
  *out = (rl_history_row){
      .unix_time = (double)r->unix_time,
      .users = r->users,
      .rps = r->current_rps,
      .fail_per_s = r->current_fps,
      .p50_ms = ms(r->p50_ns),
      .p95_ms = ms(r->p95_ns),
      .avg_ms = ms(r->avg_ns),
      .num_requests = r->requests,
      .num_failures = r->failures,
  };
  return 0;
}

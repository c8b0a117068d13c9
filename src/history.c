#include "history.h"

#include <stdlib.h>
#include <string.h>

#include <rpcload/plugin.h>

void rl__history_init(rl__history *h) {
  memset(h, 0, sizeof *h);
  rl__histogram_init(&h->second);
  for (size_t i = 0; i < RL__HISTORY_WINDOW; i++)
    rl__histogram_init(&h->window[i]);
}

void rl__history_free(rl__history *h) {
  free(h->rows);
  rl__histogram_free(&h->second);
  for (size_t i = 0; i < RL__HISTORY_WINDOW; i++)
    rl__histogram_free(&h->window[i]);
  memset(h, 0, sizeof *h);
}

int rl__history_add_times(rl__history *h, const rl__histogram *delta) {
  return rl__histogram_merge(&h->second, delta);
}

int rl__history_tick(rl__history *h, const rl__stats *s, uint64_t unix_time,
                     uint64_t elapsed_s, uint32_t users) {
  /* The finished second replaces the oldest in the window; swapping the
   * structs keeps every chunk allocated for reuse. */
  rl__histogram oldest = h->window[h->next];
  h->window[h->next] = h->second;
  h->second = oldest;
  rl__histogram_reset(&h->second);
  h->next = (h->next + 1) % RL__HISTORY_WINDOW;

  if (h->n == h->cap) {
    size_t cap = h->cap ? h->cap * 2 : 64;
    rl__history_row *rows = realloc(h->rows, cap * sizeof *rows);
    if (!rows)
      return RL_ERR_NOMEM;
    h->rows = rows;
    h->cap = cap;
  }
  rl__histogram window;
  rl__histogram_init(&window);
  int rc = 0;
  for (size_t i = 0; i < RL__HISTORY_WINDOW && rc == 0; i++)
    rc = rl__histogram_merge(&window, &h->window[i]);

  const rl__stats_entry *t = rl__stats_total(s);
  rl__history_row *r = &h->rows[h->n++];
  memset(r, 0, sizeof *r);
  r->unix_time = unix_time;
  r->elapsed_s = elapsed_s;
  r->users = users;
  r->requests = t->num_requests;
  r->failures = t->num_failures;
  r->current_rps = rl__stats_entry_current_rps(t, elapsed_s);
  r->current_fps = rl__stats_entry_current_fps(t, elapsed_s);
  r->avg_ns = rl__stats_entry_avg_ns(t);
  r->min_ns = rl__stats_entry_min_ns(t);
  r->max_ns = rl__stats_entry_max_ns(t);
  r->avg_bytes = t->num_requests ? (double)t->bytes / (double)t->num_requests
                                 : 0;
  if (window.count) {
    r->p50_ns = rl__histogram_percentile(&window, 50);
    r->p66_ns = rl__histogram_percentile(&window, 66);
    r->p75_ns = rl__histogram_percentile(&window, 75);
    r->p80_ns = rl__histogram_percentile(&window, 80);
    r->p90_ns = rl__histogram_percentile(&window, 90);
    r->p95_ns = rl__histogram_percentile(&window, 95);
    r->p98_ns = rl__histogram_percentile(&window, 98);
    r->p99_ns = rl__histogram_percentile(&window, 99);
    r->p999_ns = rl__histogram_percentile(&window, 99.9);
    r->p9999_ns = rl__histogram_percentile(&window, 99.99);
    r->p100_ns = rl__histogram_percentile(&window, 100);
  }
  rl__histogram_free(&window);
  return rc;
}

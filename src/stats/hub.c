#include "stats/hub.h"

#include <stdio.h>

#include <rpcload/plugin.h>

#include "base/log.h"

void rl__stats_hub_init(rl__stats_hub *hub, rl__stats *stats,
                        int full_history) {
  pthread_mutex_init(&hub->lock, NULL);
  hub->stats = stats;
  hub->epoch = 0;
  hub->cut_requests = 0;
  hub->max_error_rows = RL__STATS_MAX_ERROR_ROWS;
  hub->cap_warned = 0;

  rl__history_init(&hub->history);
  if (full_history)
    rl__history_track_entries(&hub->history);
}

void rl__stats_hub_set_max_error_rows(rl__stats_hub *hub, size_t n) {
  hub->max_error_rows = n;
  rl__stats_set_max_error_rows(hub->stats, n);
}

void rl__stats_hub_free(rl__stats_hub *hub) {
  rl__history_free(&hub->history);
  pthread_mutex_destroy(&hub->lock);
}

int rl__stats_hub_merge(rl__stats_hub *hub, rl__stats *local, uint64_t cut,
                        unsigned *epoch) {
  const rl__stats_entry **entries;
  size_t n = rl__stats_entries(local, &entries);
  int rc = 0;
  char capped[512] = "";
  pthread_mutex_lock(&hub->lock);
  if (*epoch == hub->epoch) {
    rc = rl__stats_merge(hub->stats, local);
    hub->cut_requests += cut;
    for (size_t i = 0; i < n; i++)
      rc |= rl__history_add_entry(&hub->history, entries[i]);
    const rl__stats_entry *c = rl__stats_capped(hub->stats);
    if (c && !hub->cap_warned) {
      hub->cap_warned = 1;
      snprintf(capped, sizeof capped, "%s%s%s", c->type, *c->type ? " " : "",
               c->name);
    }
  }
  *epoch = hub->epoch;
  pthread_mutex_unlock(&hub->lock);
  rl__stats_clear(local);
  if (capped[0])
    rl__log(RL__LOG_WARN,
            "%s: more than %zu distinct error texts; the others are counted "
            "in one row, \"(N other errors)\" (--max-error-rows sets the "
            "cap)",
            capped, hub->max_error_rows);
  return rc ? RL_ERR_NOMEM : 0;
}

unsigned rl__stats_hub_epoch(rl__stats_hub *hub) {
  pthread_mutex_lock(&hub->lock);
  unsigned e = hub->epoch;
  pthread_mutex_unlock(&hub->lock);
  return e;
}

uint64_t rl__stats_hub_cut(rl__stats_hub *hub) {
  pthread_mutex_lock(&hub->lock);
  uint64_t n = hub->cut_requests;
  pthread_mutex_unlock(&hub->lock);
  return n;
}

void rl__stats_hub_reset(rl__stats_hub *hub) {
  pthread_mutex_lock(&hub->lock);
  hub->epoch++;
  hub->cut_requests = 0;
  rl__stats_clear(hub->stats);
  rl__history_reset(&hub->history);
  pthread_mutex_unlock(&hub->lock);
}

int rl__stats_hub_tick(rl__stats_hub *hub, uint64_t unix_time,
                       uint64_t elapsed_s, uint32_t users) {
  pthread_mutex_lock(&hub->lock);
  int rc =
      rl__history_tick(&hub->history, hub->stats, unix_time, elapsed_s, users);
  pthread_mutex_unlock(&hub->lock);
  return rc ? RL_ERR_NOMEM : 0;
}

void rl__stats_hub_read(rl__stats_hub *hub, rl__stats_reader fn, void *arg) {
  pthread_mutex_lock(&hub->lock);
  fn(hub->stats, &hub->history, arg);
  pthread_mutex_unlock(&hub->lock);
}

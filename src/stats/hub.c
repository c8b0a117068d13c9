#include "stats/hub.h"

#include <stdio.h>
#include <stdlib.h>

#include <rpcload/plugin.h>

#include "base/clock.h"
#include "base/log.h"

void rl__stats_hub_init(rl__stats_hub *hub, rl__stats *stats,
                        int full_history) {
  pthread_mutex_init(&hub->lock, NULL);
  hub->stats = stats;
  hub->epoch = 0;
  hub->cut_requests = 0;
  hub->max_error_rows = RL__STATS_MAX_ERROR_ROWS;
  hub->cap_warned = 0;
  hub->merged_ns = NULL;
  hub->nworkers = 0;
  hub->target = -1;

  rl__history_init(&hub->history);
  if (full_history)
    rl__history_track_entries(&hub->history);
}

void rl__stats_hub_set_max_error_rows(rl__stats_hub *hub, size_t n) {
  hub->max_error_rows = n;
  rl__stats_set_max_error_rows(hub->stats, n);
}

int rl__stats_hub_start(rl__stats_hub *hub, uint64_t start_ns,
                        double start_unix, uint32_t nworkers) {
  pthread_mutex_lock(&hub->lock);
  rl__history_span *sp = &hub->history.span;
  sp->run_start_ns = start_ns;
  sp->run_start_unix = start_unix;
  sp->merged_ns = 0;
  free(hub->merged_ns);
  hub->nworkers = 0;
  hub->target = -1;
  hub->merged_ns = calloc(nworkers ? nworkers : 1, sizeof *hub->merged_ns);
  int rc = RL_ERR_NOMEM;
  if (hub->merged_ns) {
    hub->nworkers = nworkers;
    for (uint32_t i = 0; i < nworkers; i++)
      hub->merged_ns[i] = start_ns;
    sp->merged_ns = start_ns;
    rc = 0;
  }
  pthread_mutex_unlock(&hub->lock);
  return rc;
}

void rl__stats_hub_cover(rl__stats_hub *hub, int on, uint64_t now_ns) {
  pthread_mutex_lock(&hub->lock);
  rl__history_span *sp = &hub->history.span;
  if (on) {
    sp->from_ns = now_ns;
    sp->to_ns = 0;
  } else if (sp->from_ns && !sp->to_ns) {
    sp->to_ns = now_ns > sp->from_ns ? now_ns : sp->from_ns;
  }
  pthread_mutex_unlock(&hub->lock);
}

void rl__stats_hub_free(rl__stats_hub *hub) {
  free(hub->merged_ns);
  hub->merged_ns = NULL;
  hub->nworkers = 0;
  hub->target = -1;
  rl__history_free(&hub->history);
  pthread_mutex_destroy(&hub->lock);
}

/* The least of the workers' merge points: every request that ended
 * before it is in. Under the lock. */
static void update_merged(rl__stats_hub *hub, uint32_t worker,
                          uint64_t through_ns) {
  if (worker >= hub->nworkers)
    return;
  if (through_ns > hub->merged_ns[worker])
    hub->merged_ns[worker] = through_ns;
  uint64_t least = UINT64_MAX;
  for (uint32_t i = 0; i < hub->nworkers; i++)
    if (hub->merged_ns[i] < least)
      least = hub->merged_ns[i];
  hub->history.span.merged_ns = least;
}

int rl__stats_hub_merge(rl__stats_hub *hub, rl__stats *local, uint64_t cut,
                        unsigned *epoch, uint32_t worker, uint64_t through_ns) {
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
  /* Dropped or merged, what it recorded before through_ns is dealt with. */
  update_merged(hub, worker, through_ns);
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
  uint64_t now = rl__now_ns();
  pthread_mutex_lock(&hub->lock);
  hub->epoch++;
  hub->cut_requests = 0;
  rl__stats_clear(hub->stats);
  rl__history_reset(&hub->history);
  rl__history_span *sp = &hub->history.span;
  if (sp->from_ns && !sp->to_ns)
    sp->from_ns = now; /* running: the figures start again now */
  else
    sp->from_ns = sp->to_ns = 0; /* stopped: they cover nothing */
  pthread_mutex_unlock(&hub->lock);
}

int rl__stats_hub_tick(rl__stats_hub *hub, uint64_t now_ns, uint32_t users,
                       int final) {
  const uint64_t ns = 1000000000ull;
  pthread_mutex_lock(&hub->lock);
  rl__history *h = &hub->history;
  uint64_t start = h->span.run_start_ns;
  uint64_t elapsed_ns = now_ns > start ? now_ns - start : 0;
  /* A regular tick comes half a second after its second began (workers
   * merge on whole seconds): a quarter second either way still names it.
   * The final row takes the second the stop fell in, or the one after
   * the last row's, so seconds follow one another. */
  uint64_t last = h->n ? h->rows[h->n - 1].elapsed_s : 0;
  uint64_t sec = elapsed_ns >= ns / 4 ? (elapsed_ns - ns / 4) / ns : 0;
  if (final) {
    sec = elapsed_ns / ns;
    if (h->n && sec <= last)
      sec = last + 1;
  }
  int rc = 0;
  if (final || h->n == 0 || sec > last) {
    /* The wall clock of the second the row tells of, so that timestamps
     * go up with it. */
    uint64_t wall = (uint64_t)(h->span.run_start_unix + (double)sec);
    rc = final ? rl__history_tick_final(h, hub->stats, wall, sec, users)
               : rl__history_tick(h, hub->stats, wall, sec, users);
    if (h->n) {
      rl__history_row *row = &h->rows[h->n - 1];
      row->target = hub->target;
      rl__stats_iterations(hub->stats, &row->scheduled, &row->dropped);
    }
  }
  pthread_mutex_unlock(&hub->lock);
  return rc ? RL_ERR_NOMEM : 0;
}

void rl__stats_hub_read(rl__stats_hub *hub, rl__stats_reader fn, void *arg) {
  pthread_mutex_lock(&hub->lock);
  fn(hub->stats, &hub->history, arg);
  pthread_mutex_unlock(&hub->lock);
}

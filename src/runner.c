#include "runner.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <rpcload/plugin.h>

#include "clock.h"
#include "log.h"
#include "spawn.h"
#include "worker.h"

static void stop_run(rl__runner *r) {
  if (r->stopping)
    return;
  r->stopping = 1;
  ev_timer_stop(r->loop, &r->spawn_timer);
  ev_timer_stop(r->loop, &r->run_timer);
  for (uint32_t i = 0; i < r->nworkers; i++)
    rl__worker_command(&r->workers[i], RL__CMD_STOP);
}

static void cut_run(rl__runner *r) {
  stop_run(r);
  for (uint32_t i = 0; i < r->nworkers; i++)
    rl__worker_command(&r->workers[i], RL__CMD_CUT);
}

static void spawn_tick(rl__runner *r) {
  double elapsed = (double)(rl__now_ns() - r->start_ns) / 1e9;
  uint32_t due = rl__spawn_due(r->cfg->users, r->cfg->spawn_rate, elapsed);
  if (due != r->spawned) {
    r->spawned = due;
    uint32_t n = r->nworkers;
    for (uint32_t k = 0; k < n; k++)
      rl__worker_set_users(&r->workers[k], rl__spawn_share(due, k, n));
  }
  if (due >= r->cfg->users) {
    ev_timer_stop(r->loop, &r->spawn_timer);
    rl__log(RL__LOG_INFO, "all users spawned: %u total users", due);
  }
}

static void spawn_cb(struct ev_loop *loop, ev_timer *t, int revents) {
  (void)loop;
  (void)revents;
  spawn_tick(t->data);
}

static void run_timer_cb(struct ev_loop *loop, ev_timer *t, int revents) {
  (void)loop;
  (void)revents;
  rl__runner *r = t->data;
  rl__log(RL__LOG_INFO, "run time limit reached, stopping");
  stop_run(r);
}

static void report_cb(struct ev_loop *loop, ev_timer *t, int revents) {
  (void)loop;
  (void)revents;
  rl__runner *r = t->data;
  if (r->report && !r->stopping)
    r->report(r, r->report_arg);
}

static void history_cb(struct ev_loop *loop, ev_timer *t, int revents) {
  (void)loop;
  (void)revents;
  rl__runner *r = t->data;
  pthread_mutex_lock(&r->lock);
  if (rl__history_tick(&r->history, r->stats, rl__unix_time(),
                       rl__runner_elapsed_sec(r), r->spawned))
    rl__log(RL__LOG_WARN, "out of memory recording the history");
  pthread_mutex_unlock(&r->lock);
}

static void signal_cb(struct ev_loop *loop, ev_signal *s, int revents) {
  (void)loop;
  (void)revents;
  rl__runner *r = s->data;
  if (r->signals++ == 0) {
    rl__log(RL__LOG_INFO,
            r->cfg->stop_timeout_ns
                ? "stopping: in-flight tasks get up to the stop timeout "
                  "(signal again to end at once)"
                : "stopping");
    stop_run(r);
  } else {
    rl__log(RL__LOG_INFO, "ending at once");
    cut_run(r);
  }
}

static void done_cb(struct ev_loop *loop, ev_async *a, int revents) {
  (void)revents;
  rl__runner *r = a->data;
  if (atomic_load(&r->finished_workers) == r->nworkers)
    ev_break(loop, EVBREAK_ALL);
}

void rl__runner_worker_finished(rl__runner *r) {
  atomic_fetch_add(&r->finished_workers, 1);
  ev_async_send(r->loop, &r->done_async);
}

uint64_t rl__runner_elapsed_sec(const rl__runner *r) {
  return (rl__now_ns() - r->start_ns) / RL__NS_PER_SEC;
}

int rl__runner_run(rl__runner *r, const rl__run_config *cfg,
                   const struct rl__target *target, rl__stats *stats,
                   rl__report_fn report, void *report_arg) {
  memset(r, 0, sizeof *r);
  r->cfg = cfg;
  r->target = target;
  r->stats = stats;
  r->report = report;
  r->report_arg = report_arg;
  r->nworkers = cfg->threads ? cfg->threads : 1;
  pthread_mutex_init(&r->lock, NULL);
  rl__history_init(&r->history);
  atomic_init(&r->finished_workers, 0);
  /* Our own loop, not libev's default: the default loop would also reap
   * children (SIGCHLD) behind the caller's back. */
  r->loop = ev_loop_new(EVFLAG_AUTO);
  r->workers = calloc(r->nworkers, sizeof *r->workers);
  if (!r->loop || !r->workers) {
    free(r->workers);
    if (r->loop)
      ev_loop_destroy(r->loop);
    pthread_mutex_destroy(&r->lock);
    return RL_ERR_NOMEM;
  }
  ev_async_init(&r->done_async, done_cb);
  r->done_async.data = r;
  ev_async_start(r->loop, &r->done_async);

  /* Signals go to the main thread only: workers start with them blocked. */
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  r->start_ns = rl__now_ns();
  int rc = 0;
  uint32_t started = 0;
  for (; started < r->nworkers; started++)
    if ((rc = rl__worker_start(&r->workers[started], r, (int)started)))
      break;
  pthread_sigmask(SIG_SETMASK, &old, NULL);

  if (rc == 0) {
    ev_signal_init(&r->sigint_watcher, signal_cb, SIGINT);
    r->sigint_watcher.data = r;
    ev_signal_start(r->loop, &r->sigint_watcher);
    ev_signal_init(&r->sigterm_watcher, signal_cb, SIGTERM);
    r->sigterm_watcher.data = r;
    ev_signal_start(r->loop, &r->sigterm_watcher);

    double interval = 1.0 / cfg->spawn_rate;
    interval = interval < 0.01 ? 0.01 : interval > 1.0 ? 1.0 : interval;
    ev_timer_init(&r->spawn_timer, spawn_cb, interval, interval);
    r->spawn_timer.data = r;
    ev_timer_start(r->loop, &r->spawn_timer);
    rl__log(RL__LOG_INFO, "ramping to %u users at a rate of %.2f per second",
            cfg->users, cfg->spawn_rate);
    spawn_tick(r);
    if (cfg->run_time_ns) {
      ev_timer_init(&r->run_timer, run_timer_cb,
                    (double)cfg->run_time_ns / 1e9, 0.);
      r->run_timer.data = r;
      ev_timer_start(r->loop, &r->run_timer);
    }
    ev_timer_init(&r->history_timer, history_cb, 1.0, 1.0);
    r->history_timer.data = r;
    ev_timer_start(r->loop, &r->history_timer);
    if (report && cfg->report_interval_s > 0) {
      ev_timer_init(&r->report_timer, report_cb, cfg->report_interval_s,
                    cfg->report_interval_s);
      r->report_timer.data = r;
      ev_timer_start(r->loop, &r->report_timer);
    }
    ev_run(r->loop, 0);
  } else {
    rl__log(RL__LOG_ERROR, "cannot start worker thread %u", started);
    for (uint32_t i = 0; i < started; i++)
      rl__worker_command(&r->workers[i], RL__CMD_CUT);
  }
  r->end_ns = rl__now_ns();
  for (uint32_t i = 0; i < r->nworkers; i++) {
    rl__worker_join(&r->workers[i]);
    r->cut_requests += r->workers[i].cut_requests;
  }
  ev_timer_stop(r->loop, &r->spawn_timer);
  ev_timer_stop(r->loop, &r->run_timer);
  ev_timer_stop(r->loop, &r->report_timer);
  ev_timer_stop(r->loop, &r->history_timer);
  ev_signal_stop(r->loop, &r->sigint_watcher);
  ev_signal_stop(r->loop, &r->sigterm_watcher);
  ev_async_stop(r->loop, &r->done_async);
  ev_loop_destroy(r->loop);
  r->loop = NULL;
  free(r->workers);
  r->workers = NULL;
  pthread_mutex_destroy(&r->lock);
  return rc;
}

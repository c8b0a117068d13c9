/* A cluster worker on Locust's wire (worker.h). */
#include "cluster/worker.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <rpcload/plugin.h>

#include "base/clock.h"
#include "base/log.h"
#include "cluster/custom.h"
#include "cluster/msg.h"
#include "cluster/wire.h"

/* Locust's worker states (runners.py: STATE_INIT is "ready"). */
#define ST_READY "ready"
#define ST_SPAWNING "spawning"
#define ST_RUNNING "running"
#define ST_STOPPED "stopped"

/* How long past its stop timeout a worker waits for its users to stop
 * before it sends its last stats anyway (the master waits this and a
 * margin: cluster/master.c's WORKER_STOP_SLACK_S). */
#define STOP_SLACK_S 30.0

/* Locust's CONNECT_TIMEOUT: client_ready again after this long unanswered. */
#define CONNECT_RETRY_S 5.0

typedef struct worker {
  const rl__cluster_worker_cfg *cfg;
  rl__wire *wire;
  char *node_id;
  rl__msg_out out;
  int acked;         /* the master answered our client_ready */
  int exact;         /* it is an rpcload master: send exact histograms */
  const char *state; /* ST_* */
  double last_spawn; /* the newest spawn's timestamp (Locust discards
                         older ones) */
  uint64_t *counts;  /* users per plan class, as last told */
  uint64_t users;    /* their sum */
  rl__stats *delta;  /* what the next stats message sends */
  rl__stats *sent;   /* everything sent: the run's own reports at the end */
  double since_unix; /* when the delta began */
  double cpu_wall, cpu_used, cpu_percent;
  int host_warned;
  rl__plan *plan;     /* what the users run now: cfg->plan, or the plan of the
                     master's host (the runner's once passed to it) */
  char *host;         /* the host that plan was compiled for; NULL: cfg's */
  double master_beat; /* when the master's last heartbeat came; 0: it
                         sends none (Locust 2.12.1's master) */
  double stop_timeout_s; /* cfg's, or the master's from spawn */
  double beat_at;        /* when this worker last beat (monotonic s) */
} worker;

static double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double mono_now(void) { return (double)rl__now_ns() / 1e9; }

static void sleep_ms(long ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) && errno == EINTR)
    ;
}

/* Sends the frame in w->out (built just before, `rc` its result). */
static void send_out(worker *w, int rc, const char *type) {
  if (rc != 0) {
    rl__log(RL__LOG_ERROR, "cluster: cannot build a %s message: %s", type,
            rl_strerror(rc));
    return;
  }
  rc = rl__wire_send(w->wire, NULL, w->out.sb.data, w->out.sb.size);
  if (rc != 0)
    rl__log(RL__LOG_WARN, "cluster: cannot send %s to the master: %s", type,
            rl_strerror(rc));
}

/* ---- stats ---------------------------------------------------------------- */

/* Under the hub's lock: everything the hub holds moves into the delta,
 * and the hub is left empty, so nothing is sent twice or lost (workers
 * merge under the same lock). */
static void take_cb(rl__stats *stats, const rl__history *history, void *arg) {
  (void)history;
  worker *w = arg;
  if (rl__stats_merge(w->delta, stats) != 0)
    rl__log(RL__LOG_ERROR, "cluster: out of memory taking the stats");
  rl__stats_clear(stats);
}

/* The class counts of the users running now (for stats and
 * spawning_complete): the plan's deal of that many. */
static void fill_report(worker *w, rl__msg_report *rep,
                        rl__msg_class_count *cls, uint64_t *counts) {
  const rl__plan *p = w->plan;
  uint64_t running = rl__runner_users_running(w->cfg->runner);
  rl__plan_class_counts(p, running, counts);
  rep->user_count = (int64_t)running;
  rep->cls = cls;
  rep->ncls = 0;
  for (size_t c = 0; c < p->n_classes; c++) {
    if (counts[c] == 0 && (w->counts == NULL || w->counts[c] == 0))
      continue;
    /* The builder only reads the name. */
    cls[rep->ncls].name = (char *)p->classes[c].name;
    cls[rep->ncls].count = (int64_t)counts[c];
    rep->ncls++;
  }
}

static void send_stats(worker *w) {
  const rl__plan *p = w->plan;
  rl__runner_with_stats(w->cfg->runner, take_cb, w);
  double now = wall_now();
  /* Run seconds count from the runner's start (monotonic). */
  double run_start_unix =
      now - (double)(rl__now_ns() - w->cfg->runner->start_ns) / 1e9;
  rl__msg_class_count *cls = calloc(p->n_classes + 1, sizeof(*cls));
  uint64_t *counts = calloc(p->n_classes + 1, sizeof(*counts));
  if (cls == NULL || counts == NULL) {
    free(cls);
    free(counts);
    rl__log(RL__LOG_ERROR, "cluster: out of memory for a stats message");
    return;
  }
  rl__msg_report rep;
  fill_report(w, &rep, cls, counts);
  int rc = rl__msg_stats(&w->out, w->delta, run_start_unix, w->since_unix, now,
                         w->exact, &rep, w->node_id);
  free(cls);
  free(counts);
  send_out(w, rc, "stats");
  if (rl__stats_merge(w->sent, w->delta) != 0)
    rl__log(RL__LOG_WARN, "cluster: out of memory: this worker's own final "
                          "report will miss some requests");
  rl__stats_clear(w->delta);
  w->since_unix = now;
}

/* Under the hub's lock: what was sent goes back into the run's stats, so
 * the worker's own final reports (--csv, --json...) hold every request it
 * made. */
static void restore_cb(rl__stats *stats, const rl__history *history,
                       void *arg) {
  (void)history;
  worker *w = arg;
  if (rl__stats_merge(stats, w->sent) != 0)
    rl__log(RL__LOG_WARN, "cluster: out of memory restoring the stats");
}

/* ---- heartbeats ----------------------------------------------------------- */

static uint64_t rss_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long long size = 0, rss = 0;
  if (f == NULL)
    return 0;
  if (fscanf(f, "%llu %llu", &size, &rss) != 2)
    rss = 0;
  fclose(f);
  long page = sysconf(_SC_PAGESIZE);
  return (uint64_t)rss * (uint64_t)(page > 0 ? page : 4096);
}

/* The process's CPU use since the last heartbeat, in percent of one core
 * (Locust's psutil cpu_percent). */
static void measure_cpu(worker *w) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0)
    return;
  double used = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
  double now = mono_now();
  if (w->cpu_wall > 0 && now > w->cpu_wall)
    w->cpu_percent = 100.0 * (used - w->cpu_used) / (now - w->cpu_wall);
  w->cpu_wall = now;
  w->cpu_used = used;
}

static void send_heartbeat(worker *w) {
  w->beat_at = mono_now();
  measure_cpu(w);
  send_out(w,
           rl__msg_heartbeat_rpcload(&w->out, w->state, w->cpu_percent,
                                     rss_bytes(), RL__LOCUST_PROTOCOL,
                                     w->node_id),
           "heartbeat");
}

/* A heartbeat when one is due, while this thread waits on the run (a
 * spawn's users, a stop): a master takes a worker silent for its
 * liveness (3 s) for lost and deals its users to the others, and at
 * 100k users a spawn step or a stop can take that long. */
static void beat_if_due(worker *w) {
  if (mono_now() - w->beat_at >= w->cfg->heartbeat_interval_s)
    send_heartbeat(w);
}

/* ---- steering the run ----------------------------------------------------- */

/* Asks the runner for `users` users at once and waits (bounded) until it
 * has them: Locust's worker spawns a spawn message's users without delay. */
static void set_users(worker *w, uint64_t users, double wait_s,
                      rl__plan *new_plan) {
  rl__runner_ctl c = {.swarm = 1,
                      .users = (uint32_t)users,
                      .spawn_rate = 1e9,
                      .plan = new_plan};
  rl__runner_control(w->cfg->runner, &c);
  double end = mono_now() + wait_s;
  while (rl__runner_users_running(w->cfg->runner) != users &&
         mono_now() < end) {
    beat_if_due(w);
    sleep_ms(5);
  }
}

/* The plan's class named `name`, or -1. */
static long class_index(const rl__plan *p, const char *name) {
  for (size_t c = 0; c < p->n_classes; c++)
    if (p->classes[c].name && strcmp(p->classes[c].name, name) == 0)
      return (long)c;
  return -1;
}

/* A class the master asked for that this worker's plan lacks: said here
 * and to the master, as Locust's worker reports a user's error. */
static void unknown_class(worker *w, const char *name) {
  const rl__plan *p = w->plan;
  char have[512] = "";
  size_t n = 0;
  for (size_t c = 0; c < p->n_classes && n + 1 < sizeof(have); c++) {
    int k = snprintf(have + n, sizeof(have) - n, "%s%s", c ? ", " : "",
                     p->classes[c].name ? p->classes[c].name : "?");
    if (k < 0)
      break;
    n += (size_t)k;
  }
  char text[1024];
  snprintf(text, sizeof(text),
           "the master asked for users of class '%s', which this worker's "
           "scenario does not have (it has: %s)",
           name, have);
  rl__log(RL__LOG_ERROR, "cluster: %s", text);
  send_out(w, rl__msg_exception(&w->out, text, "", w->node_id), "exception");
}

/* The plan for the master's `host` when a new test starts on it (the
 * runner takes a new plan only then); NULL to keep the current one, said
 * once when that is not the master's host. */
static rl__plan *plan_for_host(worker *w, const char *host) {
  int st = atomic_load(&w->cfg->runner->state);
  int new_test =
      w->users == 0 && (st == RL__STATE_READY || st == RL__STATE_STOPPED);
  const char *why = NULL;
  char err[512] = "";
  rl__plan *plan = NULL;
  if (w->cfg->compile == NULL)
    why = "this worker cannot change its host";
  else if (!new_test)
    why = "a test is running: it applies from the next test";
  else if (w->cfg->compile(w->cfg->compile_arg, host, &plan, err,
                           sizeof(err)) != 0)
    why = err;
  if (why != NULL && !w->host_warned) {
    w->host_warned = 1;
    rl__log(RL__LOG_WARN, "cluster: the master's host %s is not applied: %s",
            host, why);
  }
  return why == NULL ? plan : NULL;
}

static void on_spawn(worker *w, const rl__msg *m) {
  char err[512] = "";
  rl__msg_spawn job;
  /* Locust's worker says "spawning" before it looks at the job. */
  send_out(w, rl__msg_nil(&w->out, "spawning", w->node_id), "spawning");
  if (rl__msg_read_spawn(m, &job, err, sizeof(err)) != 0) {
    rl__log(RL__LOG_ERROR, "cluster: dropped a spawn message: %s", err);
    return;
  }
  if (job.timestamp <= w->last_spawn) {
    rl__log(RL__LOG_INFO, "cluster: discarded a spawn message with an older "
                          "or equal timestamp than the previous one");
    rl__msg_spawn_free(&job);
    return;
  }
  w->last_spawn = job.timestamp;
  rl__plan *new_plan = NULL;
  char *host = job.host; /* ours now: kept as the plan's host if used */
  job.host = NULL;
  if (host != NULL && (w->host == NULL || strcmp(w->host, host) != 0))
    new_plan = plan_for_host(w, host);
  rl__plan *p = new_plan ? new_plan : w->plan;
  uint64_t *counts = calloc(p->n_classes, sizeof(*counts));
  if (counts == NULL) {
    rl__msg_spawn_free(&job);
    rl__plan_del(new_plan);
    free(host);
    rl__log(RL__LOG_ERROR, "cluster: out of memory for a spawn");
    return;
  }
  uint64_t total = 0, kept = 0;
  for (size_t i = 0; i < job.ncls; i++) {
    long c = class_index(p, job.cls[i].name);
    if (c < 0) {
      if (job.cls[i].count > 0)
        unknown_class(w, job.cls[i].name);
      continue;
    }
    counts[c] += (uint64_t)job.cls[i].count;
    total += (uint64_t)job.cls[i].count;
  }
  /* Locust's worker takes the master's stop_timeout; nil (a Locust master
   * without --stop-timeout) keeps this worker's own. */
  if (job.stop_timeout > 1e6) {
    rl__log(RL__LOG_WARN,
            "cluster: ignored the master's stop timeout %g s: over 1e6 s",
            job.stop_timeout);
  } else if (job.stop_timeout >= 0 && job.stop_timeout != w->stop_timeout_s) {
    rl__log(RL__LOG_INFO,
            "cluster: the master's stop timeout, %.3g s, replaces this "
            "worker's %.3g s",
            job.stop_timeout, w->stop_timeout_s);
    w->stop_timeout_s = job.stop_timeout;
    rl__runner_set_stop_timeout(w->cfg->runner,
                                (uint64_t)(job.stop_timeout * 1e9));
  }
  rl__msg_spawn_free(&job);
  if (total == 0 || total > UINT32_MAX ||
      rl__plan_deal_counts(p, counts, &kept) != 0) {
    if (total > 0)
      rl__log(RL__LOG_ERROR, "cluster: cannot deal %llu users to classes",
              (unsigned long long)total);
    /* No user of the new host's plan runs: it is not passed on. */
    rl__plan_del(new_plan);
    new_plan = NULL;
    p = w->plan;
    if (total > 0) {
      free(counts);
      free(host);
      return;
    }
  }
  w->state = ST_SPAWNING;
  double wait_s = w->stop_timeout_s + 5;
  if (total == 0) {
    set_users(w, 0, wait_s, NULL);
  } else {
    /* Users past the ones whose class holds go first; new ones take the
     * new deal's places. A new host's plan goes with the test's start
     * (the runner owns it from there). */
    if (kept < w->users)
      set_users(w, kept, wait_s, NULL);
    set_users(w, total, 5, new_plan);
    if (new_plan != NULL) {
      w->plan = new_plan;
      free(w->host);
      w->host = host;
      host = NULL;
      rl__log(RL__LOG_INFO,
              "cluster: this test's users go to %s, the "
              "master's host",
              w->host);
    }
  }
  free(host);
  free(w->counts);
  w->counts = counts;
  w->users = total;
  w->state = ST_RUNNING;
  rl__msg_class_count *cls = calloc(p->n_classes + 1, sizeof(*cls));
  uint64_t *now_counts = calloc(p->n_classes + 1, sizeof(*now_counts));
  if (cls != NULL && now_counts != NULL) {
    rl__msg_report rep;
    fill_report(w, &rep, cls, now_counts);
    send_out(w,
             rl__msg_spawning_complete(&w->out, rep.cls, rep.ncls, w->node_id),
             "spawning_complete");
  }
  free(cls);
  free(now_counts);
}

/* A stop waited for on its own thread, so that the worker's keeps
 * beating meanwhile. */
typedef struct stopper {
  rl__runner *runner;
  double timeout_s;
  int rc;
  atomic_int done;
} stopper;

static void *stopper_main(void *arg) {
  stopper *st = arg;
  st->rc = rl__runner_stop_wait(st->runner, st->timeout_s);
  atomic_store(&st->done, 1);
  return NULL;
}

/* The runner's stop, heartbeats sent every second until it is done (as
 * Locust's worker keeps beating): a master waits for a worker's last
 * stats while it beats, so a stop that takes long under load (100k
 * users) still reaches the master's reports. The state they say stays
 * what it was: Locust 2.12.1's master counts a "stopping" worker out of
 * its ready ones, and once the others quit it would end before this
 * one's last stats came. */
static int stop_beating(worker *w, double timeout_s) {
  stopper st = {.runner = w->cfg->runner, .timeout_s = timeout_s};
  atomic_init(&st.done, 0);
  pthread_t t;
  if (pthread_create(&t, NULL, stopper_main, &st) != 0)
    return rl__runner_stop_wait(w->cfg->runner, timeout_s);
  /* Bounded by the stop's own timeout (the thread returns then). */
  while (!atomic_load(&st.done)) {
    beat_if_due(w);
    sleep_ms(20);
  }
  pthread_join(t, NULL);
  return st.rc;
}

/* Every user stopped (cut after the stop timeout), their last stats sent. */
static void stop_users(worker *w) {
  if (w->users > 0 || rl__runner_users_running(w->cfg->runner) > 0) {
    int rc = stop_beating(w, w->stop_timeout_s + STOP_SLACK_S);
    if (rc != 0 && rc != RL_ERR_CLOSED)
      rl__log(RL__LOG_WARN, "cluster: the users did not stop in time");
  }
  w->users = 0;
  w->last_spawn = 0;
  send_stats(w);
}

/* The run's custom messages wake this socket's waits (or none). */
static void wake_on_send(worker *w, rl__wire *wire) {
  if (w->cfg->runner->cfg->events)
    rl__events_set_wake(w->cfg->runner->cfg->events,
                        wire ? rl__wire_wake_cb : NULL, wire);
}

static int reconnect(worker *w) {
  wake_on_send(w, NULL);
  rl__wire_del(w->wire, 0);
  w->wire = NULL;
  char err[512] = "";
  if (rl__wire_connect_curve(w->cfg->master_host, w->cfg->master_port,
                             w->node_id, w->cfg->key, &w->wire, err,
                             sizeof(err)) != 0) {
    rl__log(RL__LOG_ERROR, "cluster: %s", err);
    return -1;
  }
  wake_on_send(w, w->wire);
  w->acked = 0;
  send_out(w, rl__msg_client_ready(&w->out, RL__LOCUST_PROTOCOL, w->node_id),
           "client_ready");
  return 0;
}

/* One frame from the master. Returns 1 on quit. */
static int on_frame(worker *w, const void *frame, size_t len) {
  rl__msg m;
  char err[512] = "";
  if (rl__msg_decode(frame, len, &m, err, sizeof(err)) != 0) {
    rl__log(RL__LOG_ERROR,
            "cluster: dropped a malformed message from the "
            "master: %s",
            err);
    return 0;
  }
  int quit = 0;
  if (strcmp(m.type, "ack") == 0) {
    int64_t index = -1;
    if (rl__msg_read_ack(&m, &index, err, sizeof(err)) != 0) {
      rl__log(RL__LOG_ERROR, "cluster: %s", err);
    } else {
      if (!w->acked)
        rl__log(RL__LOG_INFO,
                "cluster: joined the master at %s:%d as %s (index %lld)%s",
                w->cfg->master_host, w->cfg->master_port, w->node_id,
                (long long)index,
                rl__msg_ack_is_rpcload(&m) ? ", an rpcload master" : "");
      w->acked = 1;
      w->exact = rl__msg_ack_is_rpcload(&m);
      /* An rpcload master beats from now on: its silence counts from the
       * ack, even if it dies before its first heartbeat. */
      if (w->exact && w->master_beat == 0)
        w->master_beat = mono_now();
    }
  } else if (strcmp(m.type, "heartbeat") == 0) {
    w->master_beat = mono_now();
  } else if (strcmp(m.type, "spawn") == 0) {
    on_spawn(w, &m);
  } else if (strcmp(m.type, "stop") == 0) {
    stop_users(w);
    send_out(w, rl__msg_nil(&w->out, "client_stopped", w->node_id),
             "client_stopped");
    w->state = ST_READY;
    send_out(w, rl__msg_client_ready(&w->out, RL__LOCUST_PROTOCOL, w->node_id),
             "client_ready");
  } else if (strcmp(m.type, "quit") == 0) {
    rl__log(RL__LOG_INFO, "cluster: the master said quit, shutting down");
    quit = 1;
  } else if (strcmp(m.type, "reconnect") == 0) {
    rl__log(RL__LOG_WARN, "cluster: the master asked for a reconnect");
    if (reconnect(w) != 0)
      quit = -1;
  } else {
    /* A custom message: its handlers run on the run's main thread. */
    rl__cluster_custom_post(w->cfg->runner, &m);
  }
  rl__msg_free(&m);
  return quit;
}

static int worker_loop(worker *w) {
  const rl__cluster_worker_cfg *cfg = w->cfg;
  double t0 = mono_now();
  double next_beat = t0, next_report = t0 + cfg->report_interval_s;
  double next_ready = t0 + CONNECT_RETRY_S;
  int retries = 0;
  send_out(w, rl__msg_client_ready(&w->out, RL__LOCUST_PROTOCOL, w->node_id),
           "client_ready");
  for (;;) {
    if (cfg->quit_flag != NULL && *cfg->quit_flag) {
      rl__log(RL__LOG_INFO, "cluster: quitting on a signal");
      return 1;
    }
    double now = mono_now();
    if (!w->acked && now >= next_ready) {
      retries++;
      if (now - t0 >= cfg->connect_timeout_s) {
        rl__log(RL__LOG_ERROR,
                "cluster: no master answered at %s:%d within %.0f s "
                "(--master-host, --master-port)",
                cfg->master_host, cfg->master_port, now - t0);
        return -1;
      }
      rl__log(retries < 3 ? RL__LOG_INFO : RL__LOG_WARN,
              "cluster: failed to connect to master %s:%d, retry %d",
              cfg->master_host, cfg->master_port, retries);
      send_out(w,
               rl__msg_client_ready(&w->out, RL__LOCUST_PROTOCOL, w->node_id),
               "client_ready");
      next_ready = now + CONNECT_RETRY_S;
    }
    if (w->master_beat > 0 && now - w->master_beat > cfg->master_timeout_s) {
      rl__log(RL__LOG_ERROR,
              "cluster: the master at %s:%d has sent no heartbeat for %.0f s "
              "(--master-heartbeat-timeout): stopping the users and exiting",
              cfg->master_host, cfg->master_port, now - w->master_beat);
      stop_users(w);
      return -1;
    }
    /* A master that sends no heartbeats (Locust 2.12.1's) still answers
     * ZeroMQ's: its connection closed and not back (rl__wire_lost_s). */
    double lost = w->acked ? rl__wire_lost_s(w->wire) : 0;
    if (lost > cfg->master_timeout_s) {
      rl__log(RL__LOG_ERROR,
              "cluster: lost the connection to the master at %s:%d %.0f s "
              "ago and it did not come back (killed, or cut off: ZeroMQ's "
              "heartbeats went unanswered; --master-heartbeat-timeout): "
              "stopping the users and exiting",
              cfg->master_host, cfg->master_port, lost);
      stop_users(w);
      return -1;
    }
    if (now >= next_beat) {
      send_heartbeat(w);
      next_beat = now + cfg->heartbeat_interval_s;
    }
    if (now >= next_report) {
      if (w->acked)
        send_stats(w);
      next_report = now + cfg->report_interval_s;
    }
    double next = next_beat < next_report ? next_beat : next_report;
    if (!w->acked && next_ready < next)
      next = next_ready;
    double wait = (next - mono_now()) * 1000;
    /* Until the next deadline (a heartbeat at least every second): a
     * signal or a custom message sent wakes the wait (rl__wire_wake).
     * Rounded up: a wait cut short would only poll again at once. */
    int timeout_ms = wait <= 0 ? 0 : wait > 60000 ? 60000 : (int)ceil(wait);
    /* What handlers and scripts sent since: out before we wait. */
    if (w->acked)
      rl__cluster_custom_flush(cfg->runner, w->wire, &w->out, w->node_id, NULL,
                               0);
    void *frame = NULL;
    size_t len = 0;
    int rc = rl__wire_recv(w->wire, timeout_ms, NULL, &frame, &len);
    if (rc == 0) {
      int q = on_frame(w, frame, len);
      free(frame);
      if (q != 0)
        return q;
    } else if (rc == RL_ERR_IO) {
      rl__log(RL__LOG_ERROR, "cluster: the socket to the master failed");
      return -1;
    }
  }
}

int rl__cluster_worker_run(const rl__cluster_worker_cfg *cfg) {
  worker w = {.cfg = cfg,
              .state = ST_READY,
              .plan = cfg->plan,
              .stop_timeout_s = cfg->stop_timeout_s};
  char err[512] = "";
  rl__msg_out_init(&w.out);
  w.node_id = rl__wire_node_id_new();
  w.delta = rl__stats_new();
  w.sent = rl__stats_new();
  if (w.node_id == NULL || w.delta == NULL || w.sent == NULL) {
    rl__log(RL__LOG_ERROR, "cluster: out of memory");
    free(w.node_id);
    rl__stats_del(w.delta);
    rl__stats_del(w.sent);
    rl__msg_out_free(&w.out);
    return 1;
  }
  rl__stats_set_max_error_rows(w.delta, 0);
  rl__stats_set_max_error_rows(w.sent, 0);
  w.since_unix = wall_now();
  int status = 1;
  if (rl__wire_connect_curve(cfg->master_host, cfg->master_port, w.node_id,
                             cfg->key, &w.wire, err, sizeof(err)) != 0) {
    rl__log(RL__LOG_ERROR, "cluster: %s", err);
  } else {
    /* From now on send_message goes to the master (custom.h). */
    if (cfg->runner->cfg->events)
      rl__events_set_remote(cfg->runner->cfg->events, 1);
    wake_on_send(&w, w.wire);
    int q = worker_loop(&w);
    wake_on_send(&w, NULL);
    if (cfg->runner->cfg->events)
      rl__events_set_remote(cfg->runner->cfg->events, 0);
    /* A quit, from the master or a signal: users stopped, the last
     * stats sent, then quit (Locust's on_quitting). */
    if (q > 0 && w.acked) {
      stop_users(&w);
      send_out(&w, rl__msg_nil(&w.out, "quit", w.node_id), "quit");
    }
    status = q > 0 ? 0 : 1;
    const rl__stats_entry *t = rl__stats_total(w.sent);
    rl__log(RL__LOG_INFO,
            "cluster: sent the master %llu requests, %llu failed, in all",
            (unsigned long long)t->num_requests,
            (unsigned long long)t->num_failures);
    rl__runner_with_stats(cfg->runner, restore_cb, &w);
  }
  /* A second to let the last frames leave. */
  rl__wire_del(w.wire, 1000);
  free(w.counts);
  free(w.host);
  free(w.node_id);
  rl__stats_del(w.delta);
  rl__stats_del(w.sent);
  rl__msg_out_free(&w.out);
  return status;
}

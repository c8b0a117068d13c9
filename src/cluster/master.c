/* A cluster master on Locust's wire (master.h). */
#include "cluster/master.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rpcload/plugin.h>

#include "base/clock.h"
#include "base/log.h"
#include "cluster/custom.h"
#include "cluster/msg.h"
#include "cluster/wire.h"

/* How long past the stop timeout the master waits for a worker's last
 * stats while the worker still beats: a worker waits its users' stop up
 * to its stop timeout and 30 s (worker.c's STOP_SLACK_S), beating all the
 * while, then sends them; 5 s more for them to arrive. A worker that
 * stops beating goes missing (liveness) and is not waited for. */
#define WORKER_STOP_SLACK_S 35.0

/* Locust's limit: more workers than this is refused here. */
#define MAX_WORKERS 4096

typedef struct node {
  char *id;
  int index;        /* in the order they came (Locust's worker index) */
  int ready;        /* said client_ready, not quit */
  int quit;         /* said quit (or client_stopped at the end) */
  int host_index;   /* workers before it on its host (Locust's sort key) */
  uint64_t *counts; /* users per plan class last sent */
  char state[16];
  int beats;     /* heartbeats it may still miss (Locust's liveness) */
  int missing;   /* silent past its liveness: its users given to others */
  int rpcload;   /* an rpcload worker: it wants the master's heartbeats */
  int64_t users; /* the users it says it runs (stats, spawning_complete) */
  double cpu;    /* its last heartbeat's CPU percent */
  int stopping;  /* told to stop, its client_stopped not in yet */
} node;

typedef struct master {
  const rl__cluster_master_cfg *cfg;
  rl__wire *wire;
  rl__msg_out out;
  node *nodes;
  size_t n;
  int next_index;
  uint64_t dispatched; /* users dealt so far in this ramp */
  int running;         /* the test started: stats and spawns count */
  double next_beat;    /* the next liveness tick (monotonic s) */
  /* The ramp (Locust's dispatcher): from ramp_from users dealt to want,
   * per_step users every step_s seconds from ramp_t0. */
  uint64_t want, ramp_from, steps;
  double per_step, step_s, ramp_t0, next_step;
  const char *host; /* sent in spawn: cfg->host or host_owned */
  char *host_owned; /* the web UI's host, owned */
  double published; /* when the workers were last shown (monotonic s) */
  int changed;      /* the workers changed since they were last shown */
} master;

static double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double mono_now(void) { return (double)rl__now_ns() / 1e9; }

static void send_to(master *m, const char *to, int rc, const char *type) {
  if (rc != 0) {
    rl__log(RL__LOG_ERROR, "cluster: cannot build a %s message", type);
    return;
  }
  rc = rl__wire_send(m->wire, to, m->out.sb.data, m->out.sb.size);
  if (rc != 0)
    rl__log(RL__LOG_WARN, "cluster: cannot send %s to worker %s: %s", type, to,
            rl_strerror(rc));
}

static node *find(master *m, const char *id) {
  for (size_t i = 0; i < m->n; i++)
    if (strcmp(m->nodes[i].id, id) == 0)
      return &m->nodes[i];
  return NULL;
}

static int live(const node *nd) {
  return nd->ready && !nd->quit && !nd->missing;
}

static size_t ready_count(const master *m) {
  size_t k = 0;
  for (size_t i = 0; i < m->n; i++)
    k += live(&m->nodes[i]);
  return k;
}

/* Locust's version check (MasterRunner.client_listener): an empty one is
 * "pre 2.0" to Locust; Debian's Locust sends it, so here a warning. */
static void check_version(const char *id, const char *v) {
  if (strcmp(v, RL__LOCUST_PROTOCOL) == 0)
    return;
  if (*v == '\0')
    rl__log(RL__LOG_WARN,
            "cluster: worker %s says no version (Debian's Locust does): "
            "taken as Locust %s",
            id, RL__LOCUST_PROTOCOL);
  else if (strncmp(v, RL__LOCUST_PROTOCOL, 4) != 0)
    rl__log(RL__LOG_WARN,
            "cluster: a worker (%s) running a different version (%s) "
            "connected, master version is %s",
            id, v, RL__LOCUST_PROTOCOL);
}

static void on_client_ready(master *m, const rl__msg *msg) {
  char err[256] = "";
  char *version = NULL;
  if (rl__msg_read_client_ready(msg, &version, err, sizeof(err)) != 0) {
    rl__log(RL__LOG_ERROR, "cluster: worker %s: %s", msg->node_id, err);
    return;
  }
  check_version(msg->node_id, version);
  free(version);
  node *nd = find(m, msg->node_id);
  if (nd == NULL) {
    if (m->n >= MAX_WORKERS) {
      rl__log(RL__LOG_ERROR, "cluster: more than %d workers: %s refused",
              MAX_WORKERS, msg->node_id);
      return;
    }
    node *nodes = realloc(m->nodes, (m->n + 1) * sizeof(*nodes));
    const rl__plan *p = m->cfg->plan;
    uint64_t *counts = calloc(p->n_classes, sizeof(*counts));
    char *id = strdup(msg->node_id);
    if (nodes == NULL || counts == NULL || id == NULL) {
      if (nodes != NULL)
        m->nodes = nodes;
      free(counts);
      free(id);
      rl__log(RL__LOG_ERROR, "cluster: out of memory for a worker");
      return;
    }
    m->nodes = nodes;
    nd = &m->nodes[m->n++];
    memset(nd, 0, sizeof(*nd));
    nd->id = id;
    nd->counts = counts;
    nd->index = m->next_index++;
  }
  nd->ready = 1;
  nd->quit = 0;
  nd->missing = 0;
  nd->beats = m->cfg->heartbeat_liveness;
  snprintf(nd->state, sizeof(nd->state), "ready");
  send_to(m, nd->id,
          rl__msg_ack_rpcload(&m->out, nd->index, m->cfg->version, nd->id),
          "ack");
  rl__log(RL__LOG_INFO,
          "cluster: worker %s (index %d) reported as ready. %zu workers "
          "connected.",
          nd->id, nd->index, ready_count(m));
  if (m->running)
    m->dispatched = 0; /* a new worker: the users are dealt again */
}

/* Under the hub's lock: a worker's report into the run's stats. */
typedef struct merge_arg {
  const rl__msg *msg;
  double run_start_unix;
  int rc;
  char err[256];
} merge_arg;

static void merge_cb(rl__stats *stats, const rl__history *history, void *arg) {
  (void)history;
  merge_arg *a = arg;
  a->rc = rl__msg_read_stats(a->msg, stats, a->run_start_unix, NULL, a->err,
                             sizeof(a->err));
}

/* The users the live workers say they run: the run's user count. */
static void count_users(master *m) {
  uint64_t n = 0;
  for (size_t i = 0; i < m->n; i++)
    if (live(&m->nodes[i]) && m->nodes[i].users > 0)
      n += (uint64_t)m->nodes[i].users;
  atomic_store(&m->cfg->runner->remote_users,
               (uint32_t)(n > UINT32_MAX ? UINT32_MAX : n));
}

static void on_stats(master *m, const rl__msg *msg) {
  node *nd = find(m, msg->node_id);
  const msgpack_object *uc = rl__msg_get(&msg->data, "user_count");
  if (nd != NULL && uc != NULL && uc->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
    nd->users = (int64_t)uc->via.u64;
  else if (nd != NULL && uc != NULL &&
           uc->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
    nd->users = 0;
  count_users(m);
  merge_arg a = {.msg = msg};
  a.run_start_unix =
      wall_now() - (double)(rl__now_ns() - m->cfg->runner->start_ns) / 1e9;
  rl__runner_with_stats(m->cfg->runner, merge_cb, &a);
  if (a.rc != 0)
    rl__log(RL__LOG_ERROR, "cluster: dropped stats from %s: %s", msg->node_id,
            a.err);
}

static void on_frame(master *m, const char *from, const void *frame,
                     size_t len) {
  rl__msg msg;
  char err[256] = "";
  if (rl__msg_decode(frame, len, &msg, err, sizeof(err)) != 0) {
    rl__log(RL__LOG_ERROR, "cluster: dropped a malformed message from %s: %s",
            from, err);
    return;
  }
  m->changed = 1; /* the web UI's list may show something new */
  /* Locust takes the sender from the message; ZeroMQ's identity is the
   * same for a Locust or an rpcload worker. */
  node *nd = find(m, msg.node_id);
  if (strcmp(msg.type, "client_ready") == 0) {
    on_client_ready(m, &msg);
  } else if (strcmp(msg.type, "stats") == 0) {
    on_stats(m, &msg);
  } else if (nd == NULL) {
    rl__log(RL__LOG_WARN, "cluster: %s message from an unknown worker %s",
            msg.type, msg.node_id);
  } else if (strcmp(msg.type, "heartbeat") == 0) {
    char *st = NULL;
    double cpu = 0;
    if (rl__msg_read_heartbeat(&msg, &st, &cpu, err, sizeof(err)) == 0) {
      snprintf(nd->state, sizeof(nd->state), "%s", st);
      free(st);
      nd->cpu = cpu;
      nd->beats = m->cfg->heartbeat_liveness;
      nd->rpcload = rl__msg_is_rpcload(&msg);
      if (nd->missing && nd->ready && !nd->quit) {
        nd->missing = 0;
        rl__log(RL__LOG_INFO,
                "cluster: worker %s self-healed with a heartbeat: it gets "
                "users again",
                nd->id);
        if (m->running)
          m->dispatched = 0;
      }
    } else {
      rl__log(RL__LOG_ERROR, "cluster: worker %s: %s", nd->id, err);
    }
  } else if (strcmp(msg.type, "spawning") == 0) {
    snprintf(nd->state, sizeof(nd->state), "spawning");
  } else if (strcmp(msg.type, "spawning_complete") == 0) {
    snprintf(nd->state, sizeof(nd->state), "running");
    rl__msg_report rep;
    if (rl__msg_read_spawning_complete(&msg, &rep, err, sizeof(err)) == 0) {
      nd->users = rep.user_count;
      rl__msg_report_free(&rep);
      count_users(m);
    }
  } else if (strcmp(msg.type, "client_stopped") == 0) {
    /* Its last stats came before (Locust's worker sends them first). */
    snprintf(nd->state, sizeof(nd->state), "stopped");
    nd->stopping = 0;
    nd->users = 0;
    count_users(m);
  } else if (strcmp(msg.type, "quit") == 0) {
    nd->quit = 1;
    nd->ready = 0;
    count_users(m);
    rl__log(RL__LOG_INFO, "cluster: worker %s (index %d) quit", nd->id,
            nd->index);
  } else if (strcmp(msg.type, "exception") == 0) {
    char *text = NULL, *tb = NULL;
    if (rl__msg_read_exception(&msg, &text, &tb, err, sizeof(err)) == 0) {
      rl__log(RL__LOG_ERROR, "cluster: worker %s: %s", nd->id, text);
      free(text);
      free(tb);
    }
  } else {
    /* A custom message: its handlers run on the run's main thread. */
    rl__cluster_custom_post(m->cfg->runner, &msg);
  }
  rl__msg_free(&msg);
}

/* ---- dispatch ------------------------------------------------------------- */

/* Locust's order: by how many workers came before on the same host, then
 * by id, so users start evenly across hosts. */
static int node_order(const void *a, const void *b) {
  const node *x = *(const node *const *)a, *y = *(const node *const *)b;
  if (x->host_index != y->host_index)
    return x->host_index < y->host_index ? -1 : 1;
  return strcmp(x->id, y->id);
}

static size_t host_len(const char *id) {
  const char *us = strchr(id, '_');
  return us ? (size_t)(us - id) : strlen(id);
}

/* The first `users` users, dealt to classes as one process deals them,
 * then to the ready workers round-robin in Locust's order; a spawn to
 * every ready worker. */
static void dispatch(master *m, uint64_t users) {
  const rl__plan *p = m->cfg->plan;
  size_t nw = ready_count(m);
  if (nw == 0)
    return;
  node **order = calloc(nw, sizeof(node *));
  if (order == NULL)
    return;
  size_t k = 0;
  for (size_t i = 0; i < m->n; i++) {
    node *nd = &m->nodes[i];
    if (!live(nd))
      continue;
    nd->host_index = 0;
    for (size_t j = 0; j < m->n; j++) {
      const node *o = &m->nodes[j];
      if (j != i && live(o) && host_len(o->id) == host_len(nd->id) &&
          strncmp(o->id, nd->id, host_len(nd->id)) == 0 &&
          strcmp(o->id, nd->id) < 0)
        nd->host_index++;
    }
    memset(nd->counts, 0, p->n_classes * sizeof(*nd->counts));
    order[k++] = nd;
  }
  qsort(order, nw, sizeof(node *), node_order);
  for (uint64_t u = 0; u < users; u++) {
    size_t c = (size_t)(rl__plan_class_of(p, u) - p->classes);
    order[u % nw]->counts[c]++;
  }
  rl__msg_class_count *cls = calloc(p->n_classes, sizeof(*cls));
  if (cls != NULL) {
    for (size_t i = 0; i < nw; i++) {
      for (size_t c = 0; c < p->n_classes; c++) {
        cls[c].name = (char *)p->classes[c].name;
        cls[c].count = (int64_t)order[i]->counts[c];
      }
      rl__msg_spawn job = {.timestamp = wall_now(),
                           .cls = cls,
                           .ncls = p->n_classes,
                           .host = (char *)m->host,
                           .stop_timeout = m->cfg->stop_timeout_told
                                               ? m->cfg->stop_timeout_s
                                               : -1};
      send_to(m, order[i]->id, rl__msg_spawn_build(&m->out, &job, order[i]->id),
              "spawn");
    }
  }
  free(cls);
  free(order);
  m->dispatched = users;
}

/* Once a second, as Locust's heartbeat_worker: a worker that has missed
 * its liveness of heartbeats is missing, and its users go to the others
 * (dealt again); an rpcload worker gets the master's heartbeat. */
static void liveness_tick(master *m) {
  double now = mono_now();
  if (now < m->next_beat)
    return;
  m->next_beat = now + 1;
  for (size_t i = 0; i < m->n; i++) {
    node *nd = &m->nodes[i];
    if (!live(nd))
      continue;
    if (nd->rpcload)
      send_to(m, nd->id, rl__msg_nil(&m->out, "heartbeat", nd->id),
              "heartbeat");
    if (--nd->beats >= 0)
      continue;
    nd->missing = 1;
    m->changed = 1;
    count_users(m);
    rl__log(RL__LOG_WARN,
            "cluster: worker %s failed to send heartbeat, setting state to "
            "missing%s",
            nd->id, m->running ? ": its users go to the others" : "");
    if (m->running)
      m->dispatched = 0;
  }
}

/* Custom messages (custom.h): the live workers told to the run's
 * handlers (Locust's runner.clients), what they sent put on the wire. */
static void custom_flush(master *m) {
  rl__events *ev = m->cfg->runner->cfg->events;
  if (!ev)
    return;
  const char **ids = malloc((m->n ? m->n : 1) * sizeof *ids);
  if (!ids)
    return;
  size_t k = 0;
  for (size_t i = 0; i < m->n; i++)
    if (live(&m->nodes[i]))
      ids[k++] = m->nodes[i].id;
  rl__events_set_nodes(ev, ids, k);
  rl__cluster_custom_flush(m->cfg->runner, m->wire, &m->out, NULL, ids, k);
  free(ids);
}

/* The workers as the web UI shows them (Locust's list: the missing
 * too), when they changed, at most 4 times a second unless `now` (a
 * stop's end: its answer shows them stopped). */
static void publish(master *m, int now) {
  if (m->cfg->steer == NULL ||
      (!now && (!m->changed || mono_now() - m->published < 0.25)))
    return;
  m->published = mono_now();
  m->changed = 0;
  rl__web_worker *w = m->n ? calloc(m->n, sizeof(*w)) : NULL;
  if (m->n && w == NULL)
    return;
  size_t k = 0;
  for (size_t i = 0; i < m->n; i++) {
    const node *nd = &m->nodes[i];
    if (!nd->ready || nd->quit)
      continue;
    snprintf(w[k].id, sizeof(w[k].id), "%s", nd->id);
    snprintf(w[k].state, sizeof(w[k].state), "%s",
             nd->missing ? "missing" : nd->state);
    w[k].users = nd->users > 0 && !nd->missing ? nd->users : 0;
    w[k].cpu = nd->cpu;
    k++;
  }
  rl__cluster_steer_publish(m->cfg->steer, w, k);
  free(w);
}

/* The sooner of two deadlines (monotonic s; 0: none). */
static double sooner(double a, double b) {
  return a <= 0 ? b : b <= 0 ? a : a < b ? a : b;
}

/* Frames handled in one pump at most before the caller looks again (a
 * flood of stats must not hold off the ramp or a stop). */
#define PUMP_MAX_FRAMES 256

/*
 * One turn of the master's loop: what is due done (the liveness tick,
 * custom messages to send, the workers for the web UI), then a wait until
 * a frame comes, a wake-up (rl__wire_wake: the web UI asked, a handler
 * sent a message, a signal) or the sooner of `until` (monotonic s; 0:
 * none) and the next liveness tick, then the frames there are. The caller
 * looks at its own conditions after each turn. Event-driven: an idle
 * master wakes about once a second, not ten times (#17's idle cost).
 */
static void pump(master *m, double until) {
  liveness_tick(m);
  custom_flush(m);
  publish(m, 0);
  double next = sooner(until, m->next_beat);
  if (m->cfg->steer != NULL && m->changed)
    next = sooner(next, m->published + 0.25);
  double left_ms = (next - mono_now()) * 1000;
  /* Rounded up: a wait cut short of its deadline would only come back
   * to wait again at once (the old loop spun so for its last < 1 ms). */
  int timeout = left_ms <= 0 ? 0 : left_ms > 60000 ? 60000 : (int)ceil(left_ms);
  for (int i = 0; i < PUMP_MAX_FRAMES; i++) {
    char *from = NULL;
    void *frame = NULL;
    size_t len = 0;
    int rc = rl__wire_recv(m->wire, i == 0 ? timeout : 0, &from, &frame, &len);
    if (rc == 0)
      on_frame(m, from, frame, len);
    free(from);
    free(frame);
    if (rc == RL_ERR_TIMEOUT || rc == RL_ERR_IO)
      break;
  }
}

static int quitting(const master *m) {
  return m->cfg->quit_flag && *m->cfg->quit_flag;
}

/* The ramp's next step, when one is due and a worker can take it (0:
 * none). */
static double ramp_deadline(const master *m) {
  return m->dispatched != m->want && ready_count(m) > 0 ? m->next_step : 0;
}

static int wait_for_workers(master *m) {
  const rl__cluster_master_cfg *cfg = m->cfg;
  double t0 = mono_now(), said = t0;
  while (ready_count(m) < (size_t)cfg->expect_workers) {
    if (quitting(m))
      return -1;
    double now = mono_now();
    if (cfg->expect_max_wait_s > 0 && now - t0 >= cfg->expect_max_wait_s) {
      rl__log(RL__LOG_ERROR,
              "cluster: %zu of the %d workers expected came within %.0f s "
              "(--expect-workers-max-wait)",
              ready_count(m), cfg->expect_workers, cfg->expect_max_wait_s);
      return -1;
    }
    if (now - said >= 1) {
      said = now;
      rl__log(RL__LOG_INFO,
              "cluster: waiting for workers to be ready, %zu of "
              "%d connected",
              ready_count(m), cfg->expect_workers);
    }
    pump(m, sooner(cfg->expect_max_wait_s > 0 ? t0 + cfg->expect_max_wait_s : 0,
                   said + 1));
  }
  return 0;
}

/* A new ramp from the users dealt now to `users` at `rate` a second:
 * Locust's dispatcher, floor(rate) users (at least 1) per step, a step
 * every step/rate seconds. */
static void ramp_begin(master *m, uint64_t users, double rate) {
  m->ramp_from = m->dispatched;
  m->want = users;
  m->per_step = floor(rate) < 1 ? 1 : floor(rate);
  m->step_s = m->per_step / rate;
  m->ramp_t0 = mono_now();
  m->next_step = m->ramp_t0;
  m->steps = 0;
}

/* The ramp's next step when due (or the users dealt again when a worker
 * came or went: dispatched was set to 0). */
static void ramp_tick(master *m) {
  double now = mono_now();
  if (now < m->next_step || m->dispatched == m->want || ready_count(m) == 0)
    return;
  m->steps++;
  double moved = m->per_step * (double)m->steps;
  uint64_t users;
  if (m->want >= m->ramp_from)
    users = (double)m->ramp_from + moved >= (double)m->want
                ? m->want
                : m->ramp_from + (uint64_t)moved;
  else
    users = moved >= (double)(m->ramp_from - m->want)
                ? m->want
                : m->ramp_from - (uint64_t)moved;
  dispatch(m, users);
  m->next_step = m->ramp_t0 + m->step_s * (double)m->steps;
}

/* A new test on the run (history, rates, reports; its own users stay 0),
 * returned once the run has taken it: the new test clears the stats, so
 * the workers' first reports, read by the next pump, must come after it
 * (the run's loop takes it within milliseconds; 2 s at most here).
 * Returns 0 when taken, -1 when the run did not say so in time. */
static int begin_test(master *m) {
  custom_flush(m); /* test_start's listeners see the workers */
  rl__runner_ctl start = {.swarm = 1, .users = 0, .spawn_rate = 1};
  rl__runner_control(m->cfg->runner, &start);
  m->running = 1;
  for (int i = 0; i < 200; i++) {
    int st = atomic_load(&m->cfg->runner->state);
    if (st == RL__STATE_SPAWNING || st == RL__STATE_RUNNING ||
        st == RL__STATE_ENDING)
      return 0;
    struct timespec ms10 = {0, 10000000L};
    nanosleep(&ms10, NULL);
  }
  rl__log(RL__LOG_WARN, "cluster: the run did not take the new test in 2 s: "
                        "the workers' first reports may be cleared");
  return -1;
}

static int run(master *m) {
  const rl__cluster_master_cfg *cfg = m->cfg;
  if (wait_for_workers(m) != 0)
    return 2;
  begin_test(m);
  double t0 = mono_now();
  ramp_begin(m, cfg->users, cfg->spawn_rate);
  rl__log(RL__LOG_INFO,
          "cluster: ramping to %u users at a rate of %.2f per "
          "second over %zu workers",
          cfg->users, cfg->spawn_rate, ready_count(m));
  for (;;) {
    double now = mono_now();
    if (quitting(m) || (cfg->run_time_s > 0 && now - t0 >= cfg->run_time_s))
      break;
    if (ready_count(m) == 0) {
      rl__log(RL__LOG_INFO, "cluster: the last worker quit or went missing, "
                            "stopping test");
      break;
    }
    ramp_tick(m);
    pump(m, sooner(cfg->run_time_s > 0 ? t0 + cfg->run_time_s : 0,
                   ramp_deadline(m)));
  }
  return 0;
}

/* The web UI's stop: every worker told to stop; once each has said
 * client_stopped (after its last stats), gone missing, or the stop
 * timeout and WORKER_STOP_SLACK_S have passed, the run stops, so
 * "stopped" means final figures. */
static void stop_test(master *m) {
  for (size_t i = 0; i < m->n; i++) {
    node *nd = &m->nodes[i];
    nd->stopping = live(nd);
    if (nd->stopping)
      send_to(m, nd->id, rl__msg_nil(&m->out, "stop", nd->id), "stop");
  }
  double end = mono_now() + m->cfg->stop_timeout_s + WORKER_STOP_SLACK_S;
  for (;;) {
    size_t left = 0;
    for (size_t i = 0; i < m->n; i++)
      left += m->nodes[i].stopping && live(&m->nodes[i]);
    if (left == 0)
      break;
    if (mono_now() >= end || quitting(m)) {
      rl__log(RL__LOG_WARN,
              "cluster: %zu workers did not stop in time: their last "
              "stats are missing",
              left);
      break;
    }
    pump(m, end);
  }
  m->want = m->dispatched = 0;
  m->running = 0;
  if (rl__runner_stop_wait(m->cfg->runner, 5) != 0)
    rl__log(RL__LOG_WARN, "cluster: the run did not say stopped in 5 s");
}

/* A swarm from the web UI: a new test when none runs, and a new ramp. */
static void start_swarm(master *m, uint32_t users, double rate, char *host) {
  if (host != NULL) {
    free(m->host_owned);
    m->host_owned = host;
    m->host = host;
  }
  if (!m->running) {
    begin_test(m);
  }
  if (ready_count(m) == 0)
    rl__log(RL__LOG_WARN, "cluster: no worker is connected yet: their users "
                          "are dealt as they come");
  rl__log(RL__LOG_INFO,
          "cluster: ramping to %u users at a rate of %.2f per second over "
          "%zu workers",
          users, rate, ready_count(m));
  ramp_begin(m, users, rate);
}

/* With the web UI: tests as it asks, until a signal (or the run time
 * after the first swarm). */
static int run_web(master *m) {
  const rl__cluster_master_cfg *cfg = m->cfg;
  uint64_t stops_done = 0;
  double t0 = 0, quit_at = 0; /* quit_at: --autoquit's time, 0: none */
  for (;;) {
    if (quitting(m))
      break;
    if (quit_at > 0 && mono_now() >= quit_at) {
      rl__log(RL__LOG_INFO, "cluster: --autoquit time reached, quitting");
      break;
    }
    if (cfg->run_time_s > 0 && t0 > 0 && mono_now() - t0 >= cfg->run_time_s) {
      if (!cfg->autoquit)
        break;
      /* As Locust: the run time stops the test; --autoquit ends the
       * master later. A new swarm runs another -t. */
      rl__log(RL__LOG_INFO, "cluster: run time reached, stopping the test");
      if (m->running)
        stop_test(m);
      publish(m, 1);
      t0 = 0;
      quit_at = mono_now() + cfg->autoquit_s;
    }
    uint32_t users = 0;
    double rate = 1;
    char *host = NULL;
    uint64_t asked = rl__cluster_steer_stops_asked(cfg->steer);
    if (asked > stops_done) {
      if (m->running)
        stop_test(m);
      stops_done = asked;
      publish(m, 1);
      rl__cluster_steer_stop_done(cfg->steer, asked);
      if (cfg->autoquit) { /* as after -t: a new swarm, a new -t */
        quit_at = mono_now() + cfg->autoquit_s;
        t0 = 0;
      }
    }
    if (rl__cluster_steer_take_swarm(cfg->steer, &users, &rate, &host)) {
      start_swarm(m, users, rate, host);
      quit_at = 0;
      if (t0 == 0)
        t0 = mono_now();
    }
    if (m->running)
      ramp_tick(m);
    double until = sooner(
        quit_at, cfg->run_time_s > 0 && t0 > 0 ? t0 + cfg->run_time_s : 0);
    pump(m, m->running ? sooner(until, ramp_deadline(m)) : until);
  }
  if (m->running)
    stop_test(m);
  rl__cluster_steer_close(cfg->steer);
  return 0;
}

/* Every worker told to quit; their last stats and quit awaited while
 * they beat (an rpcload worker stops its users first, beating; Locust's
 * master waits its 0.5 s and more), bounded by the stop timeout and
 * WORKER_STOP_SLACK_S: a worker that stops beating is missing and not
 * waited for. */
static void quit_workers(master *m) {
  size_t told = 0;
  for (size_t i = 0; i < m->n; i++) {
    node *nd = &m->nodes[i];
    nd->stopping = live(nd);
    if (!nd->stopping)
      continue;
    told++;
    send_to(m, nd->id, rl__msg_nil(&m->out, "quit", nd->id), "quit");
  }
  double end = mono_now() + m->cfg->stop_timeout_s + WORKER_STOP_SLACK_S;
  while (ready_count(m) > 0 && mono_now() < end)
    pump(m, end);
  size_t late = 0;
  for (size_t i = 0; i < m->n; i++)
    late += m->nodes[i].stopping && !m->nodes[i].quit;
  if (late > 0)
    rl__log(RL__LOG_WARN,
            "cluster: %zu of %zu workers did not quit in time (silent, or "
            "still stopping after %.0f s): their last stats are missing",
            late, told, m->cfg->stop_timeout_s + WORKER_STOP_SLACK_S);
  /* Stats a worker sent with its quit are in; a little more for any
   * still on the way. */
  for (double tail = mono_now() + 0.2; mono_now() < tail;)
    pump(m, tail);
}

int rl__cluster_master_run(const rl__cluster_master_cfg *cfg) {
  master m = {.cfg = cfg, .host = cfg->host};
  char err[512] = "";
  rl__msg_out_init(&m.out);
  int status = 2;
  /* The wire warns when a master without a key binds beyond loopback. */
  if (rl__wire_bind_curve(cfg->bind_host, cfg->bind_port, cfg->key, &m.wire,
                          err, sizeof(err)) != 0) {
    rl__log(RL__LOG_ERROR, "cluster: %s", err);
  } else {
    rl__log(RL__LOG_INFO, "cluster: master on %s:%d, expecting %d workers",
            cfg->bind_host, rl__wire_port(m.wire), cfg->expect_workers);
    if (cfg->bound)
      cfg->bound(rl__wire_port(m.wire), cfg->bound_arg);
    /* From now on send_message goes to the workers (custom.h). */
    rl__events *ev = cfg->runner->cfg->events;
    if (ev)
      rl__events_set_remote(ev, 1);
    /* The loop blocks until its next deadline: what other threads ask
     * (a custom message sent, the web UI's swarm or stop) wakes it. */
    if (ev)
      rl__events_set_wake(ev, rl__wire_wake_cb, m.wire);
    if (cfg->steer)
      rl__cluster_steer_set_wake(cfg->steer, rl__wire_wake_cb, m.wire);
    status = cfg->steer ? run_web(&m) : run(&m);
    if (ev)
      rl__events_set_remote(ev, 0);
    quit_workers(&m);
    if (ev)
      rl__events_set_wake(ev, NULL, NULL);
    if (cfg->steer)
      rl__cluster_steer_set_wake(cfg->steer, NULL, NULL);
  }
  rl__wire_del(m.wire, 1000);
  for (size_t i = 0; i < m.n; i++) {
    free(m.nodes[i].id);
    free(m.nodes[i].counts);
  }
  free(m.nodes);
  free(m.host_owned);
  if (cfg->steer)
    rl__cluster_steer_close(cfg->steer);
  rl__msg_out_free(&m.out);
  return status;
}

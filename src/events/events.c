/* Firing the events: main-thread ones in load order, the request event
 * on worker threads through each thread's own contexts. */
#include "events/events.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"

struct rl__queued_error {
  rl__queued_error *next;
  uint64_t user_id;
  char *user_class, *type, *name, *error; /* owned */
};

static void host_log(int level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  rl__vlog(level, fmt, ap);
  va_end(ap);
}

/* The table a listener's host pointer belongs to: the host is its first
 * member. */
static rl__events *table_of(const rl_listener_host *host) {
  return (rl__events *)(void *)host;
}

static int host_register_message(const rl_listener_host *host, const char *type,
                                 rl_message_fn fn, void *arg) {
  if (!host || !type || !fn)
    return RL_ERR_INVAL;
  rl__events *ev = table_of(host);
  rl__message_handler *h =
      realloc(ev->handlers, (ev->nhandlers + 1) * sizeof *h);
  if (!h)
    return RL_ERR_NOMEM;
  ev->handlers = h;
  char *copy = strdup(type);
  if (!copy)
    return RL_ERR_NOMEM;
  h[ev->nhandlers++] =
      (rl__message_handler){.type = copy, .fn = fn, .arg = arg};
  return 0;
}

/* Locust's LocalRunner delivers a message to its own handlers at once;
 * so do we, until the cluster carries them. */
static int host_send_message(const rl_listener_host *host, const char *type,
                             const void *data, size_t len) {
  if (!host || !type)
    return RL_ERR_INVAL;
  rl__events *ev = table_of(host);
  pthread_mutex_lock(&ev->lock);
  int remote = ev->remote;
  pthread_mutex_unlock(&ev->lock);
  if (remote) /* a cluster node: the wire carries it (messages.c) */
    return rl__events_send(ev, type, data, len, NULL);
  int ran = 0;
  for (size_t i = 0; i < ev->nhandlers; i++) {
    if (strcmp(ev->handlers[i].type, type) != 0)
      continue;
    ev->handlers[i].fn(ev->handlers[i].arg, type, data, len);
    ran++;
  }
  if (!ran)
    rl__log(RL__LOG_WARN, "unknown message type '%s': no handler registered",
            type);
  return ran ? ran : RL_ERR_NOTFOUND;
}

void rl__events_init(rl__events *ev) {
  memset(ev, 0, sizeof *ev);
  ev->host = (rl_listener_host){.abi_version = RL_LISTENER_ABI_VERSION,
                                .struct_size = sizeof(rl_listener_host),
                                .now_ns = rl__now_ns,
                                .log = host_log,
                                .register_message = host_register_message,
                                .send_message = host_send_message};
  pthread_mutex_init(&ev->lock, NULL);
}

/* ---- main thread -------------------------------------------------------- */

void rl__events_test_start(rl__events *ev) {
  for (size_t i = 0; i < ev->n; i++)
    if (ev->items[i]->inited && ev->items[i]->desc.test_start)
      ev->items[i]->desc.test_start(ev->items[i]->state);
}

void rl__events_spawning_complete(rl__events *ev, uint32_t users) {
  for (size_t i = 0; i < ev->n; i++)
    if (ev->items[i]->inited && ev->items[i]->desc.spawning_complete)
      ev->items[i]->desc.spawning_complete(ev->items[i]->state, users);
}

void rl__events_test_stop(rl__events *ev) {
  rl__events_deliver_errors(ev);
  for (size_t i = 0; i < ev->n; i++)
    if (ev->items[i]->inited && ev->items[i]->desc.test_stop)
      ev->items[i]->desc.test_stop(ev->items[i]->state);
}

void rl__events_quitting(rl__events *ev) {
  rl__events_deliver_errors(ev);
  for (size_t i = 0; i < ev->n; i++)
    if (ev->items[i]->inited && ev->items[i]->desc.quitting)
      ev->items[i]->desc.quitting(ev->items[i]->state);
}

/* ---- worker threads: the request event ---------------------------------- */

rl__events_thread *rl__events_thread_new(rl__events *ev, uint32_t worker) {
  if (!ev || !ev->any_request)
    return NULL;
  rl__events_thread *th = calloc(1, sizeof *th);
  void **ctx = calloc(ev->n, sizeof *ctx);
  if (!th || !ctx) {
    free(th);
    free(ctx);
    rl__log(RL__LOG_ERROR,
            "out of memory: worker %u reports no request to listeners", worker);
    return NULL;
  }
  *th = (rl__events_thread){.ev = ev, .worker = worker, .ctx = ctx};
  for (size_t i = 0; i < ev->n; i++) {
    rl__listener *l = ev->items[i];
    if (l->inited && l->desc.thread_new)
      ctx[i] = l->desc.thread_new(l->state, worker);
  }
  return th;
}

void rl__events_thread_del(rl__events_thread *th) {
  if (!th)
    return;
  for (size_t i = 0; i < th->ev->n; i++) {
    rl__listener *l = th->ev->items[i];
    if (l->inited && l->desc.thread_del)
      l->desc.thread_del(l->state, th->ctx[i]);
  }
  free(th->ctx);
  free(th);
}

const char *rl__events_request(rl__events_thread *th, rl_request_event *e) {
  rl__events *ev = th->ev;
  e->struct_size = sizeof *e;
  e->worker = th->worker;
  for (size_t i = 0; i < ev->n; i++) {
    rl__listener *l = ev->items[i];
    if (!l->desc.on_request || !l->inited)
      continue;
    const char *failed = l->desc.on_request(th->ctx[i], e);
    if (failed)
      e->error = failed;
  }
  return e->error;
}

static char *dup_or_empty(const char *s) { return strdup(s ? s : ""); }

void rl__events_user_error(rl__events *ev, const rl_user_error *e) {
  if (!ev || !ev->any_user_error)
    return;
  rl__queued_error *q = calloc(1, sizeof *q);
  if (!q)
    return;
  q->user_id = e->user_id;
  q->user_class = dup_or_empty(e->user_class);
  q->type = dup_or_empty(e->type);
  q->name = dup_or_empty(e->name);
  q->error = dup_or_empty(e->error);
  pthread_mutex_lock(&ev->lock);
  if (ev->errors_tail)
    ev->errors_tail->next = q;
  else
    ev->errors = q;
  ev->errors_tail = q;
  pthread_mutex_unlock(&ev->lock);
}

void rl__events_deliver_errors(rl__events *ev) {
  pthread_mutex_lock(&ev->lock);
  rl__queued_error *q = ev->errors;
  ev->errors = ev->errors_tail = NULL;
  pthread_mutex_unlock(&ev->lock);
  while (q) {
    rl__queued_error *next = q->next;
    if (q->user_class && q->type && q->name && q->error) {
      rl_user_error e = {.struct_size = sizeof e,
                         .user_id = q->user_id,
                         .user_class = q->user_class,
                         .type = q->type,
                         .name = q->name,
                         .error = q->error};
      for (size_t i = 0; i < ev->n; i++)
        if (ev->items[i]->inited && ev->items[i]->desc.user_error)
          ev->items[i]->desc.user_error(ev->items[i]->state, &e);
    }
    free(q->user_class);
    free(q->type);
    free(q->name);
    free(q->error);
    free(q);
    q = next;
  }
}

/* ---- the per-second report ---------------------------------------------- */

static rl__events_seen *seen_of(rl__events *ev, const rl__stats_entry *e) {
  for (size_t i = 0; i < ev->nseen; i++)
    if (strcmp(ev->seen[i].name, e->name) == 0 &&
        strcmp(ev->seen[i].type, e->type) == 0)
      return &ev->seen[i];
  if (ev->nseen == ev->seencap) {
    size_t cap = ev->seencap ? ev->seencap * 2 : 16;
    rl__events_seen *s = realloc(ev->seen, cap * sizeof *s);
    if (!s)
      return NULL;
    ev->seen = s;
    ev->seencap = cap;
  }
  char *type = strdup(e->type), *name = strdup(e->name);
  if (!type || !name) {
    free(type);
    free(name);
    return NULL;
  }
  rl__events_seen *s = &ev->seen[ev->nseen++];
  *s = (rl__events_seen){.type = type, .name = name};
  return s;
}

/* What grew since `was`; a count that went down was reset: all of it. */
static uint64_t added(uint64_t now, uint64_t was) {
  return now >= was ? now - was : now;
}

void rl__events_snapshot(rl__events *ev, rl__stats *stats) {
  ev->nrows = 0;
  if (!ev->any_report)
    return;
  const rl__stats_entry **entries;
  size_t n = rl__stats_entries(stats, &entries);
  if (n > ev->rowcap) {
    rl_report_row *rows = realloc(ev->rows, n * sizeof *rows);
    if (!rows)
      return;
    ev->rows = rows;
    ev->rowcap = n;
  }
  for (size_t i = 0; i < n; i++) {
    const rl__stats_entry *e = entries[i];
    rl__events_seen *s = seen_of(ev, e);
    if (!s)
      continue;
    int reset = e->num_requests < s->requests;
    rl_report_row row = {
        .type = s->type,
        .name = s->name,
        .num_requests = added(e->num_requests, reset ? 0 : s->requests),
        .num_failures = added(e->num_failures, reset ? 0 : s->failures),
        .total_response_time_ns = added(e->total_ns, reset ? 0 : s->total_ns),
        .response_bytes = added(e->bytes, reset ? 0 : s->bytes)};
    s->requests = e->num_requests;
    s->failures = e->num_failures;
    s->total_ns = e->total_ns;
    s->bytes = e->bytes;
    if (row.num_requests)
      ev->rows[ev->nrows++] = row;
  }
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ev->report_time = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void rl__events_report(rl__events *ev, uint32_t users) {
  rl__events_deliver_errors(ev);
  if (!ev->nrows)
    return;
  rl_report rep = {.struct_size = sizeof rep,
                   .unix_time = ev->report_time,
                   .user_count = users,
                   .rows = ev->rows,
                   .n_rows = ev->nrows};
  for (size_t i = 0; i < ev->n; i++)
    if (ev->items[i]->inited && ev->items[i]->desc.report)
      ev->items[i]->desc.report(ev->items[i]->state, &rep);
  ev->nrows = 0;
}

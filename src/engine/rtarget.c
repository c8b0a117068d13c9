/*
 * Run-time targets (engine/rtarget.h): the table shared by the worker
 * threads and its helper thread, and what each worker thread keeps (a
 * cache read without a lock, the requests waiting, a wake-up).
 *
 * May call: plan, target, loop_services, base/.
 */
#include "engine/rtarget.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rpcload/plugin.h>

#include "base/log.h"
#include "engine/loop_services.h"
#include "engine/target.h"

/* A thread's cache has room for twice the cap (open addressing stays
 * short), in a power of two. */
static size_t cache_size(size_t cap) {
  size_t n = 16;
  while (n < 2 * cap)
    n *= 2;
  return n;
}

typedef struct rl__rt_thread {
  rl__rtargets *table;
  rl_loop *loop;
  rl_async *wake; /* the helper's signal that something settled */
  rl__rt_wait *head;
  rl__rtarget **cache; /* cache_size(cap) slots, NULL: empty */
  size_t mask;
  struct rl__rt_thread *next; /* the table's threads, to wake */
} rl__rt_thread;

struct rl__rtargets {
  pthread_mutex_t mu;
  pthread_cond_t cond;
  rl__rtarget **all; /* cap of them; n used */
  size_t n, cap;
  size_t n_conns; /* endpoints among the built ones */
  rl__rtarget *queue_head, *queue_tail;
  rl__rt_thread *threads;
  pthread_t helper;
  int helper_on, quit;
  rl__rt_build_fn build;
  void *ctx;
  void (*ctx_del)(void *ctx);
};

static uint64_t key_hash(const rl__plan_class *cls, size_t request,
                         const char *host) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (const unsigned char *c = (const unsigned char *)host; *c; c++)
    h = (h ^ *c) * 1099511628211ull;
  h ^= (uint64_t)request * 0x9e3779b97f4a7c15ull;
  h ^= (uint64_t)(uintptr_t)cls >> 4;
  return h ^ (h >> 29);
}

static int same_key(const rl__rtarget *e, uint64_t h, const rl__plan_class *cls,
                    size_t request, const char *host) {
  return e->hash == h && e->cls == cls && e->request == request &&
         strcmp(e->host, host) == 0;
}

rl__rtargets *rl__rtargets_new(size_t cap, rl__rt_build_fn build, void *ctx,
                               void (*ctx_del)(void *ctx)) {
  rl__rtargets *t = calloc(1, sizeof *t);
  if (t)
    t->all = calloc(cap ? cap : RL__RT_MAX_TARGETS, sizeof(rl__rtarget *));
  if (!t || !t->all) {
    free(t);
    if (ctx_del)
      ctx_del(ctx);
    return NULL;
  }
  t->cap = cap ? cap : RL__RT_MAX_TARGETS;
  pthread_mutex_init(&t->mu, NULL);
  pthread_cond_init(&t->cond, NULL);
  t->build = build;
  t->ctx = ctx;
  t->ctx_del = ctx_del;
  return t;
}

size_t rl__rtargets_count(rl__rtargets *t) {
  pthread_mutex_lock(&t->mu);
  size_t n = t->n;
  pthread_mutex_unlock(&t->mu);
  return n;
}

size_t rl__rtargets_cap(const rl__rtargets *t) { return t->cap; }

/* Under t->mu: the connection slot of a target just built: an earlier
 * one's to the same endpoint, else a new one. */
static size_t conn_slot(rl__rtargets *t, const rl__rtarget *e) {
  for (size_t i = 0; i < t->n; i++) {
    const rl__rtarget *o = t->all[i];
    if (o != e &&
        atomic_load_explicit(&o->state, memory_order_relaxed) == RL__RT_READY &&
        rl__plan_same_endpoint(o->step.target, e->step.target))
      return o->conn;
  }
  return t->n_conns++;
}

/* The helper thread: builds what is queued, one at a time (a build may
 * block), then wakes every thread that asked for one. */
static void *helper_main(void *arg) {
  rl__rtargets *t = arg;
  pthread_mutex_lock(&t->mu);
  for (;;) {
    while (!t->quit && !t->queue_head)
      pthread_cond_wait(&t->cond, &t->mu);
    if (t->quit)
      break;
    rl__rtarget *e = t->queue_head;
    t->queue_head = e->next_build;
    if (!t->queue_head)
      t->queue_tail = NULL;
    pthread_mutex_unlock(&t->mu);
    char err[768] = "";
    rl__plan_step step = {0};
    int rc =
        t->build(t->ctx, e->cls, e->request, e->host, &step, err, sizeof err);
    if (!rc && step.target &&
        step.target->plugin->desc.kind == RL_PLUGIN_TRANSPORT) {
      /* A transport plugin's state is made per thread before the load
       * (engine/worker.c): none would carry it. */
      snprintf(err, sizeof err,
               "%s: a transport plugin's target cannot be added while the "
               "run goes",
               e->host);
      rl__plan_step_free(&step, 1);
      rc = RL_ERR_UNSUPPORTED;
    }
    pthread_mutex_lock(&t->mu);
    if (rc) {
      e->error = strdup(*err ? err : rl_strerror(rc));
      atomic_store_explicit(&e->state, RL__RT_FAILED, memory_order_release);
    } else {
      e->step = step;
      e->conn = conn_slot(t, e);
      atomic_store_explicit(&e->state, RL__RT_READY, memory_order_release);
    }
    for (rl__rt_thread *th = t->threads; th; th = th->next)
      rl__async_send(th->wake);
  }
  pthread_mutex_unlock(&t->mu);
  return NULL;
}

void rl__rtargets_del(rl__rtargets *t) {
  if (!t)
    return;
  pthread_mutex_lock(&t->mu);
  t->quit = 1;
  pthread_cond_signal(&t->cond);
  pthread_mutex_unlock(&t->mu);
  if (t->helper_on)
    pthread_join(t->helper, NULL);
  for (size_t i = 0; i < t->n; i++) {
    rl__rtarget *e = t->all[i];
    if (atomic_load(&e->state) == RL__RT_READY)
      rl__plan_step_free(&e->step, 1);
    free(e->error);
    free(e->host);
    free(e);
  }
  free(t->all);
  if (t->ctx_del)
    t->ctx_del(t->ctx);
  pthread_cond_destroy(&t->cond);
  pthread_mutex_destroy(&t->mu);
  free(t);
}

/* ---- a worker thread's side ------------------------------------------------ */

/* The helper woke this thread: the waits whose target settled go on. */
static void woken(rl_async *a, void *arg) {
  (void)a;
  rl__rt_thread *th = arg;
  /* Unhooked first: ready may add (another send) or cancel waits. */
  rl__rt_wait *settled = NULL, *w = th->head;
  while (w) {
    rl__rt_wait *next = w->next;
    if (atomic_load_explicit(&w->entry->state, memory_order_acquire) !=
        RL__RT_BUILDING) {
      rl__rt_wait_cancel(th->loop, w);
      w->next = settled;
      settled = w;
    }
    w = next;
  }
  /* Oldest first, as they were asked. */
  rl__rt_wait *order = NULL;
  while (settled) {
    rl__rt_wait *next = settled->next;
    settled->next = order;
    order = settled;
    settled = next;
  }
  while (order) {
    rl__rt_wait *next = order->next;
    order->next = order->prev = NULL;
    order->ready(order);
    order = next;
  }
}

/* The thread's part for `table`, made (and hooked to the table) the first
 * time; NULL when out of memory. */
static rl__rt_thread *thread_of(rl_loop *loop, rl__rtargets *table) {
  rl__rt_thread *th = loop->rt;
  if (th && th->table == table)
    return th;
  if (th)
    rl__rt_thread_del(loop); /* another plan's: a new test */
  th = calloc(1, sizeof *th);
  if (!th)
    return NULL;
  size_t n = cache_size(table->cap);
  th->cache = calloc(n, sizeof(rl__rtarget *));
  th->wake = th->cache ? rl__async_new(loop, woken, th) : NULL;
  if (!th->wake) {
    free(th->cache);
    free(th);
    return NULL;
  }
  th->mask = n - 1;
  th->table = table;
  th->loop = loop;
  pthread_mutex_lock(&table->mu);
  th->next = table->threads;
  table->threads = th;
  pthread_mutex_unlock(&table->mu);
  loop->rt = th;
  return th;
}

static void cache_put(rl__rt_thread *th, rl__rtarget *e) {
  size_t i = (size_t)e->hash & th->mask;
  while (th->cache[i])
    i = (i + 1) & th->mask;
  th->cache[i] = e;
}

int rl__rt_get(rl_loop *loop, rl__rtargets *table, const rl__plan_class *cls,
               size_t request, const char *host, rl__rtarget **out) {
  rl__rt_thread *th = thread_of(loop, table);
  if (!th)
    return RL_ERR_NOMEM;
  uint64_t h = key_hash(cls, request, host);
  /* This thread's cache: no lock once a target is known here. */
  for (size_t i = (size_t)h & th->mask; th->cache[i]; i = (i + 1) & th->mask)
    if (same_key(th->cache[i], h, cls, request, host)) {
      *out = th->cache[i];
      return 0;
    }
  int rc = 0;
  rl__rtarget *e = NULL;
  pthread_mutex_lock(&table->mu);
  for (size_t i = 0; i < table->n && !e; i++)
    if (same_key(table->all[i], h, cls, request, host))
      e = table->all[i];
  if (!e && table->n >= table->cap) {
    rc = RL_ERR_BUSY;
  } else if (!e) {
    e = calloc(1, sizeof *e);
    if (!e || !(e->host = strdup(host))) {
      free(e);
      e = NULL;
      rc = RL_ERR_NOMEM;
    } else {
      e->cls = cls;
      e->request = request;
      e->hash = h;
      table->all[table->n++] = e;
      if (table->queue_tail)
        table->queue_tail->next_build = e;
      else
        table->queue_head = e;
      table->queue_tail = e;
      if (!table->helper_on) {
        if (pthread_create(&table->helper, NULL, helper_main, table) == 0) {
          table->helper_on = 1;
        } else {
          /* No helper: it fails here, as a build would. */
          table->queue_head = table->queue_tail = NULL;
          e->error = strdup("no thread to build the target");
          atomic_store_explicit(&e->state, RL__RT_FAILED, memory_order_release);
        }
      }
      pthread_cond_signal(&table->cond);
    }
  }
  pthread_mutex_unlock(&table->mu);
  if (rc)
    return rc;
  cache_put(th, e);
  *out = e;
  return 0;
}

void rl__rt_wait_add(rl_loop *loop, rl__rt_wait *w) {
  rl__rt_thread *th = loop->rt;
  w->prev = NULL;
  w->next = th->head;
  if (th->head)
    th->head->prev = w;
  th->head = w;
  /* Settled between rl__rt_get and here (its wake-up came first): the
   * loop's next turn of the async finds it. */
  if (atomic_load_explicit(&w->entry->state, memory_order_acquire) !=
      RL__RT_BUILDING)
    rl__async_send(th->wake);
}

void rl__rt_wait_cancel(rl_loop *loop, rl__rt_wait *w) {
  rl__rt_thread *th = loop->rt;
  if (w->prev)
    w->prev->next = w->next;
  else if (th->head == w)
    th->head = w->next;
  if (w->next)
    w->next->prev = w->prev;
  w->prev = w->next = NULL;
}

void rl__rt_thread_del(rl_loop *loop) {
  rl__rt_thread *th = loop->rt;
  if (!th)
    return;
  if (th->head)
    rl__log(RL__LOG_ERROR,
            "thread %d: requests still wait for run-time "
            "targets as the thread leaves them",
            loop->index);
  rl__rtargets *t = th->table;
  pthread_mutex_lock(&t->mu);
  for (rl__rt_thread **p = &t->threads; *p; p = &(*p)->next)
    if (*p == th) {
      *p = th->next;
      break;
    }
  pthread_mutex_unlock(&t->mu);
  rl__async_del(th->wake);
  free(th->cache);
  free(th);
  loop->rt = NULL;
}

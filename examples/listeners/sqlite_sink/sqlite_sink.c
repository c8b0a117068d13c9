/*
 * sqlite_sink: every request into a SQLite file, one row each.
 *
 *   rpcload --listener ./sqlite_sink.so --listener-opt file=run.db URL
 *   sqlite3 run.db 'SELECT name, count(*), avg(response_time_ms)
 *                   FROM requests GROUP BY name'
 *
 * The table (created if missing; rows are appended):
 *   requests(time REAL,             -- unix seconds the request started
 *            type TEXT, name TEXT,  -- the stats' grouping
 *            response_time_ms REAL, response_length INTEGER,
 *            error TEXT,            -- NULL on success
 *            user_id INTEGER, user_class TEXT, worker INTEGER)
 *
 * The worker threads never touch the database: each appends its requests
 * to a buffer of its own (no lock) and, when a request ends in a new
 * second, hands the full buffer to a writer thread (one short lock a
 * second per thread). The writer inserts everything handed over in one
 * transaction a second. The rest is handed over when the thread ends, and
 * fini waits for the writer, so the file is complete when rpcload exits.
 */
/* clock_gettime, pthread_condattr_setclock: POSIX, not plain C11. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rpcload/listener.h>

#define NS_PER_SEC 1000000000ull
#define NO_TEXT UINT32_MAX

/* One request; its strings are offsets into its batch's text. */
typedef struct rec {
  uint64_t start_ns, rt_ns, len, user_id;
  uint32_t type, name, user_class, error;
  uint32_t worker;
} rec;

/* A thread's requests of (about) one second. */
typedef struct batch {
  struct batch *next;
  rec *recs;
  size_t n, cap;
  char *text;
  size_t tlen, tcap;
  /* The last strings added, reused while requests repeat them (the
   * common case: one endpoint, one class). */
  uint32_t last_type, last_name, last_class;
} batch;

typedef struct sink {
  const rl_listener_host *host;
  sqlite3 *db;
  sqlite3_stmt *insert;
  /* Monotonic and unix time at init: a request's start in unix time. */
  uint64_t mono0_ns;
  double unix0;
  pthread_t writer;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  batch *queue, *queue_tail; /* handed over, oldest first */
  int stop;
  int failed; /* told of a write error already */
  uint64_t rows, dropped;
} sink;

typedef struct thread_ctx {
  sink *s;
  batch *cur;
  uint64_t sec; /* the second cur's requests ended in */
  int oom;      /* out of memory: told once, requests dropped */
} thread_ctx;

/* ---- the writer thread --------------------------------------------------- */

static void batch_del(batch *b) {
  if (!b)
    return;
  free(b->recs);
  free(b->text);
  free(b);
}

static const char *text_at(const batch *b, uint32_t off) {
  return off == NO_TEXT ? NULL : b->text + off;
}

static int write_batch(sink *s, const batch *b) {
  sqlite3_stmt *st = s->insert;
  for (size_t i = 0; i < b->n; i++) {
    const rec *r = &b->recs[i];
    double t = s->unix0 + ((double)r->start_ns - (double)s->mono0_ns) / 1e9;
    const char *error = text_at(b, r->error);
    sqlite3_bind_double(st, 1, t);
    sqlite3_bind_text(st, 2, text_at(b, r->type), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, text_at(b, r->name), -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 4, (double)r->rt_ns / 1e6);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)r->len);
    if (error)
      sqlite3_bind_text(st, 6, error, -1, SQLITE_STATIC);
    else
      sqlite3_bind_null(st, 6);
    sqlite3_bind_int64(st, 7, (sqlite3_int64)r->user_id);
    sqlite3_bind_text(st, 8, text_at(b, r->user_class), -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 9, (int)r->worker);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
      return rc;
  }
  return SQLITE_OK;
}

/* One transaction for everything handed over since the last. */
static void write_all(sink *s, batch *list) {
  if (!list)
    return;
  uint64_t n = 0;
  for (batch *b = list; b; b = b->next)
    n += b->n;
  int rc = sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL);
  for (batch *b = list; b && rc == SQLITE_OK; b = b->next)
    rc = write_batch(s, b);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
  if (rc == SQLITE_OK) {
    s->rows += n;
  } else {
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    s->dropped += n;
    if (!s->failed++)
      s->host->log(RL_LOG_ERROR, "sqlite_sink: cannot write: %s",
                   sqlite3_errmsg(s->db));
  }
  while (list) {
    batch *next = list->next;
    batch_del(list);
    list = next;
  }
}

static void *writer_main(void *arg) {
  sink *s = arg;
  struct timespec due;
  clock_gettime(CLOCK_MONOTONIC, &due);
  for (;;) {
    due.tv_sec += 1;
    pthread_mutex_lock(&s->lock);
    while (!s->stop &&
           pthread_cond_timedwait(&s->cond, &s->lock, &due) != ETIMEDOUT)
      ;
    batch *list = s->queue;
    s->queue = s->queue_tail = NULL;
    int stop = s->stop;
    pthread_mutex_unlock(&s->lock);
    write_all(s, list);
    if (stop)
      return NULL;
  }
}

/* ---- the worker threads -------------------------------------------------- */

/* Hands `b` to the writer. */
static void hand_over(sink *s, batch *b) {
  pthread_mutex_lock(&s->lock);
  if (s->queue_tail)
    s->queue_tail->next = b;
  else
    s->queue = b;
  s->queue_tail = b;
  pthread_mutex_unlock(&s->lock);
}

static batch *batch_new(void) {
  batch *b = calloc(1, sizeof *b);
  if (b)
    b->last_type = b->last_name = b->last_class = NO_TEXT;
  return b;
}

/* Appends `text` to b's text; NO_TEXT for NULL or out of memory. */
static uint32_t add_text(batch *b, const char *text, uint32_t *last) {
  if (!text)
    return NO_TEXT;
  if (last && *last != NO_TEXT && strcmp(b->text + *last, text) == 0)
    return *last;
  size_t len = strlen(text) + 1;
  if (b->tlen + len > b->tcap) {
    size_t cap = b->tcap ? b->tcap * 2 : 4096;
    while (cap < b->tlen + len)
      cap *= 2;
    char *t = realloc(b->text, cap);
    if (!t)
      return NO_TEXT;
    b->text = t;
    b->tcap = cap;
  }
  uint32_t off = (uint32_t)b->tlen;
  memcpy(b->text + off, text, len);
  b->tlen += len;
  if (last)
    *last = off;
  return off;
}

static const char *sink_request(void *ctx, const rl_request_event *e) {
  thread_ctx *t = ctx;
  if (!t)
    return NULL;
  /* The second it ended in, from its own figures: no clock read. */
  uint64_t sec = (e->start_ns + e->response_time_ns) / NS_PER_SEC;
  if (t->cur && t->cur->n && sec != t->sec) {
    hand_over(t->s, t->cur);
    t->cur = NULL;
  }
  t->sec = sec;
  if (!t->cur && !(t->cur = batch_new()))
    goto oom;
  batch *b = t->cur;
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 1024;
    rec *r = realloc(b->recs, cap * sizeof *r);
    if (!r)
      goto oom;
    b->recs = r;
    b->cap = cap;
  }
  rec r = {.start_ns = e->start_ns,
           .rt_ns = e->response_time_ns,
           .len = e->response_length,
           .user_id = e->user_id,
           .worker = e->worker};
  r.type = add_text(b, e->type, &b->last_type);
  r.name = add_text(b, e->name, &b->last_name);
  r.user_class = add_text(b, e->user_class, &b->last_class);
  r.error = add_text(b, e->error, NULL);
  if (r.type == NO_TEXT || r.name == NO_TEXT || r.user_class == NO_TEXT ||
      (e->error && r.error == NO_TEXT))
    goto oom;
  b->recs[b->n++] = r;
  return NULL;
oom:
  if (!t->oom++)
    t->s->host->log(RL_LOG_ERROR,
                    "sqlite_sink: out of memory: requests are dropped");
  return NULL;
}

static void *sink_thread_new(void *state, uint32_t worker) {
  (void)worker;
  thread_ctx *t = calloc(1, sizeof *t);
  if (!t) {
    ((sink *)state)
        ->host->log(RL_LOG_ERROR,
                    "sqlite_sink: out of memory: worker %u's "
                    "requests are not written",
                    worker);
    return NULL;
  }
  t->s = state;
  return t;
}

static void sink_thread_del(void *state, void *ctx) {
  (void)state;
  thread_ctx *t = ctx;
  if (!t)
    return;
  if (t->cur && t->cur->n)
    hand_over(t->s, t->cur);
  else
    batch_del(t->cur);
  free(t);
}

/* ---- init and fini ------------------------------------------------------- */

static void sink_close(sink *s) {
  sqlite3_finalize(s->insert);
  sqlite3_close(s->db);
  pthread_mutex_destroy(&s->lock);
  pthread_cond_destroy(&s->cond);
  free(s);
}

static int sink_init(const rl_listener_host *host, const rl_kv *options,
                     size_t n_options, void **state, char *err, size_t errlen) {
  const char *file = NULL;
  for (size_t i = 0; i < n_options; i++) {
    if (strcmp(options[i].key, "file") != 0) {
      snprintf(err, errlen, "unknown option '%s' (file=PATH)", options[i].key);
      return RL_ERR_INVAL;
    }
    file = options[i].value;
  }
  if (!file || !*file) {
    snprintf(err, errlen, "option file=PATH is required");
    return RL_ERR_INVAL;
  }
  sink *s = calloc(1, sizeof *s);
  if (!s)
    return RL_ERR_NOMEM;
  s->host = host;
  pthread_mutex_init(&s->lock, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&s->cond, &ca);
  pthread_condattr_destroy(&ca);
  static const char schema[] =
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
      "CREATE TABLE IF NOT EXISTS requests(time REAL, type TEXT, name TEXT,"
      " response_time_ms REAL, response_length INTEGER, error TEXT,"
      " user_id INTEGER, user_class TEXT, worker INTEGER)";
  if (sqlite3_open(file, &s->db) != SQLITE_OK ||
      sqlite3_exec(s->db, schema, NULL, NULL, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(s->db,
                         "INSERT INTO requests VALUES(?,?,?,?,?,?,?,?,?)", -1,
                         &s->insert, NULL) != SQLITE_OK) {
    snprintf(err, errlen, "%s: %s", file,
             s->db ? sqlite3_errmsg(s->db) : "cannot open");
    sink_close(s);
    return RL_ERR_IO;
  }
  struct timespec wall;
  clock_gettime(CLOCK_REALTIME, &wall);
  s->mono0_ns = host->now_ns();
  s->unix0 = (double)wall.tv_sec + (double)wall.tv_nsec / 1e9;
  if (pthread_create(&s->writer, NULL, writer_main, s) != 0) {
    snprintf(err, errlen, "cannot start the writer thread");
    sink_close(s);
    return RL_ERR_NOMEM;
  }
  *state = s;
  return 0;
}

/* Every thread context is gone (the listener ABI's order): what they
 * handed over is the last; the writer writes it and ends. */
static void sink_fini(void *state) {
  sink *s = state;
  pthread_mutex_lock(&s->lock);
  s->stop = 1;
  pthread_cond_signal(&s->cond);
  pthread_mutex_unlock(&s->lock);
  pthread_join(s->writer, NULL);
  if (s->dropped)
    s->host->log(RL_LOG_WARN, "sqlite_sink: %llu request(s) not written",
                 (unsigned long long)s->dropped);
  sink_close(s);
}

static const rl_listener desc = {
    .abi_version = RL_LISTENER_ABI_VERSION,
    .struct_size = sizeof(rl_listener),
    .name = "sqlite_sink",
    .version = "1.0",
    .summary = "every request into a SQLite file (file=PATH)",
    .init = sink_init,
    .fini = sink_fini,
    .thread_new = sink_thread_new,
    .thread_del = sink_thread_del,
    .on_request = sink_request,
};

RL_EXPORT const rl_listener *rl_listener_entry(void) { return &desc; }

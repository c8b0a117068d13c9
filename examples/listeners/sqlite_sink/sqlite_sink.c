/*
 * sqlite_sink: every request into a SQLite file, one row each.
 *
 *   rpcload --listener ./sqlite_sink.so --listener-opt file=run.db URL
 *   sqlite3 run.db 'SELECT name, count(*), avg(response_time_ms)
 *                   FROM requests GROUP BY name'
 *
 * What to query (created if missing; rows are appended): the view
 *   requests(time REAL,             -- unix seconds the request started
 *            type TEXT, name TEXT,  -- the stats' grouping
 *            response_time_ms REAL, response_length INTEGER,
 *            error TEXT,            -- NULL on success
 *            user_id INTEGER, user_class TEXT, worker INTEGER)
 * over two tables: request_rows, one narrow row of integers per request
 * (time_us, key, response_time_ns, response_length, error, user_id,
 * worker), and request_keys(id, type, name, user_class), one row per
 * combination. Narrow rows and inserts of ROWS_PER_INSERT rows a statement
 * are what keep the sink near 0.4 us of CPU a request (9 text and real
 * columns, a row a statement: 0.9 us; bench/README.md).
 *
 * The worker threads never touch the database: each appends its requests
 * to a buffer of its own (no lock) and, when a request ends in a new
 * second, hands the full buffer to a writer thread (one short lock a
 * second per thread). The writer inserts everything handed over in one
 * transaction a second. The rest is handed over when the thread ends, and
 * fini waits for the writer, so the file is complete when rpcload exits.
 */
/* clock_gettime, pthread_condattr_setclock: POSIX, not plain C11. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L // NOLINT(bugprone-reserved-identifier)
#endif

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
#define ROWS_PER_INSERT 32
#define COLUMNS 7

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
  sqlite3_stmt *insert_many; /* ROWS_PER_INSERT rows */
  sqlite3_stmt *insert_one;
  sqlite3_stmt *add_key, *find_key;
  /* The key of the last row written, by its batch's string offsets
   * (a batch reuses an offset while a string repeats). */
  const void *key_batch;
  uint32_t key_type, key_name, key_class;
  sqlite3_int64 key_id;
  /* Monotonic and unix time at init: a request's start in unix time. */
  uint64_t mono0_ns;
  sqlite3_int64 unix0_us;
  pthread_t writer;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  batch *queue, *queue_tail; /* handed over, oldest first */
  int stop;
  int failed; /* told of a write error already */
  uint64_t rows, dropped;
  double writer_cpu_s; /* the writer thread's CPU time, once it ended */
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

/* The request_keys id of (type, name, user_class), added when new. */
static int key_of(sink *s, const batch *b, const rec *r, sqlite3_int64 *id) {
  if (s->key_batch == b && s->key_type == r->type && s->key_name == r->name &&
      s->key_class == r->user_class) {
    *id = s->key_id;
    return SQLITE_OK;
  }
  sqlite3_stmt *find = s->find_key;
  for (int i = 0; i < 3; i++)
    sqlite3_bind_text(find, i + 1,
                      text_at(b, i == 0   ? r->type
                                 : i == 1 ? r->name
                                          : r->user_class),
                      -1, SQLITE_STATIC);
  int rc = sqlite3_step(find);
  if (rc == SQLITE_ROW) {
    *id = sqlite3_column_int64(find, 0);
    rc = SQLITE_OK;
  } else if (rc == SQLITE_DONE) {
    sqlite3_stmt *add = s->add_key;
    for (int i = 0; i < 3; i++)
      sqlite3_bind_text(add, i + 1,
                        text_at(b, i == 0   ? r->type
                                   : i == 1 ? r->name
                                            : r->user_class),
                        -1, SQLITE_STATIC);
    rc = sqlite3_step(add);
    sqlite3_reset(add);
    rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    *id = sqlite3_last_insert_rowid(s->db);
  }
  sqlite3_reset(find);
  if (rc == SQLITE_OK) {
    s->key_batch = b;
    s->key_type = r->type;
    s->key_name = r->name;
    s->key_class = r->user_class;
    s->key_id = *id;
  }
  return rc;
}

/* Binds `r` as row `row` (0-based) of `st`. */
static int bind_row(sink *s, sqlite3_stmt *st, int row, const batch *b,
                    const rec *r) {
  sqlite3_int64 key = 0;
  int rc = key_of(s, b, r, &key);
  if (rc != SQLITE_OK)
    return rc;
  int c = row * COLUMNS;
  /* Microseconds since the epoch: exact in an integer, to the microsecond
   * (the monotonic clock's offset to the wall clock is taken once). */
  sqlite3_int64 t =
      s->unix0_us +
      ((sqlite3_int64)r->start_ns - (sqlite3_int64)s->mono0_ns) / 1000;
  const char *error = text_at(b, r->error);
  sqlite3_bind_int64(st, c + 1, t);
  sqlite3_bind_int64(st, c + 2, key);
  sqlite3_bind_int64(st, c + 3, (sqlite3_int64)r->rt_ns);
  sqlite3_bind_int64(st, c + 4, (sqlite3_int64)r->len);
  if (error)
    sqlite3_bind_text(st, c + 5, error, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(st, c + 5);
  sqlite3_bind_int64(st, c + 6, (sqlite3_int64)r->user_id);
  sqlite3_bind_int(st, c + 7, (int)r->worker);
  return SQLITE_OK;
}

static int step(sqlite3_stmt *st) {
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* The batch's rows, ROWS_PER_INSERT a statement, the rest one by one. */
static int write_batch(sink *s, const batch *b) {
  size_t i = 0;
  int rc = SQLITE_OK;
  for (; i + ROWS_PER_INSERT <= b->n && rc == SQLITE_OK; i += ROWS_PER_INSERT) {
    for (int k = 0; k < ROWS_PER_INSERT && rc == SQLITE_OK; k++)
      rc = bind_row(s, s->insert_many, k, b, &b->recs[i + (size_t)k]);
    if (rc == SQLITE_OK)
      rc = step(s->insert_many);
  }
  for (; i < b->n && rc == SQLITE_OK; i++) {
    rc = bind_row(s, s->insert_one, 0, b, &b->recs[i]);
    if (rc == SQLITE_OK)
      rc = step(s->insert_one);
  }
  return rc;
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
  s->key_batch = NULL; /* the batches go: their offsets mean nothing now */
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
    if (stop) {
      /* What the writing cost, for fini's line (bench/listeners.sh). */
      struct timespec cpu;
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
      s->writer_cpu_s = (double)cpu.tv_sec + (double)cpu.tv_nsec / 1e9;
      return NULL;
    }
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
  sqlite3_finalize(s->insert_many);
  sqlite3_finalize(s->insert_one);
  sqlite3_finalize(s->add_key);
  sqlite3_finalize(s->find_key);
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
      /* 64 KiB pages (a new file only): fewer page splits a row, about
       * 15% less CPU than the default 4 KiB. */
      "PRAGMA page_size=65536; PRAGMA journal_mode=WAL;"
      "PRAGMA synchronous=NORMAL;"
      "CREATE TABLE IF NOT EXISTS request_keys(id INTEGER PRIMARY KEY,"
      " type TEXT, name TEXT, user_class TEXT, UNIQUE(type, name, user_class));"
      "CREATE TABLE IF NOT EXISTS request_rows(time_us INTEGER, key INTEGER,"
      " response_time_ns INTEGER, response_length INTEGER, error TEXT,"
      " user_id INTEGER, worker INTEGER);"
      "CREATE VIEW IF NOT EXISTS requests AS SELECT r.time_us / 1e6 AS time,"
      " k.type AS type, k.name AS name,"
      " r.response_time_ns / 1e6 AS response_time_ms,"
      " r.response_length AS response_length, r.error AS error,"
      " r.user_id AS user_id, k.user_class AS user_class, r.worker AS worker"
      " FROM request_rows r JOIN request_keys k ON k.id = r.key";
  char many[ROWS_PER_INSERT * 16 + 64];
  size_t len =
      (size_t)snprintf(many, sizeof many, "INSERT INTO request_rows VALUES");
  for (int k = 0; k < ROWS_PER_INSERT && len < sizeof many; k++)
    len += (size_t)snprintf(many + len, sizeof many - len, "%s(?,?,?,?,?,?,?)",
                            k ? "," : "");
  /* NOMUTEX: one thread at a time uses the connection (init, then the
   * writer, then fini), so SQLite need not lock it on every call (in its
   * default serialized mode each bind takes a mutex: about a tenth of the
   * sink's cost). */
  if (sqlite3_open_v2(file, &s->db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                          SQLITE_OPEN_NOMUTEX,
                      NULL) != SQLITE_OK ||
      sqlite3_exec(s->db, schema, NULL, NULL, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(s->db, many, -1, &s->insert_many, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(s->db,
                         "INSERT INTO request_rows VALUES(?,?,?,?,?,?,?)", -1,
                         &s->insert_one, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(s->db,
                         "INSERT INTO request_keys(type, name, user_class)"
                         " VALUES(?,?,?)",
                         -1, &s->add_key, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(s->db,
                         "SELECT id FROM request_keys WHERE type = ? AND"
                         " name = ? AND user_class = ?",
                         -1, &s->find_key, NULL) != SQLITE_OK) {
    snprintf(err, errlen, "%s: %s", file,
             s->db ? sqlite3_errmsg(s->db) : "cannot open");
    sink_close(s);
    return RL_ERR_IO;
  }
  struct timespec wall;
  clock_gettime(CLOCK_REALTIME, &wall);
  s->mono0_ns = host->now_ns();
  s->unix0_us = (sqlite3_int64)wall.tv_sec * 1000000 + wall.tv_nsec / 1000;
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
  s->host->log(
      RL_LOG_INFO,
      "sqlite_sink: %llu row(s) written (writer thread: %.3f s of CPU, "
      "%.2f us a row)",
      (unsigned long long)s->rows, s->writer_cpu_s,
      s->rows ? s->writer_cpu_s * 1e6 / (double)s->rows : 0.0);
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

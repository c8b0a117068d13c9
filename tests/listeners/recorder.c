/*
 * A listener for the tests: it writes every event it hears, one line each,
 * to the file its option file=PATH names (tests/integration/
 * test_listeners.py reads it back). Lines go out under one lock in the
 * order the events reached it, so the file shows their order across
 * threads:
 *
 *   init OPTIONS            test_start             spawning_complete N
 *   message TYPE DATA       thread_new W           thread_del W REQUESTS
 *   request W TYPE NAME RT_NS LEN USER CLASS ERROR|-
 *   user_error USER CLASS TYPE NAME ERROR          report ROWS REQUESTS FAILS
 *   test_stop               quitting               fini
 *
 * Option fail=NAME: requests named NAME fail with "recorder failed NAME";
 * note=TEXT is only written back (in the init line).
 * The same file, built with a RECORDER_* definition, is each broken
 * listener the loader must refuse (tests/unit/events/test_listener_loader.c).
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rpcload/listener.h>

typedef struct recorder {
  FILE *out;
  pthread_mutex_t lock;
  char fail_name[256];
  char fail_text[300];
  const rl_listener_host *host;
} recorder;

typedef struct thread_ctx {
  recorder *r;
  uint32_t worker;
  uint64_t requests;
} thread_ctx;

__attribute__((format(printf, 2, 3))) static void line(recorder *r,
                                                       const char *fmt, ...) {
  char text[1024];
  va_list ap;
  va_start(ap, fmt);
  /* The analyzer loses va_start on some of this file's variants. */
  // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  pthread_mutex_lock(&r->lock);
  fprintf(r->out, "%s\n", text);
  fflush(r->out);
  pthread_mutex_unlock(&r->lock);
}

static void on_message(void *arg, const char *type, const void *data,
                       size_t len) {
  line(arg, "message %s %.*s", type, (int)len, (const char *)data);
}

static int rec_init(const rl_listener_host *host, const rl_kv *options,
                    size_t n_options, void **state, char *err, size_t errlen) {
  const char *file = NULL, *fail = NULL;
  for (size_t i = 0; i < n_options; i++) {
    if (strcmp(options[i].key, "file") == 0) {
      file = options[i].value;
    } else if (strcmp(options[i].key, "fail") == 0) {
      fail = options[i].value;
    } else if (strcmp(options[i].key, "note") != 0) {
      snprintf(err, errlen,
               "unknown option '%s' (file=PATH, fail=NAME, note=TEXT)",
               options[i].key);
      return RL_ERR_INVAL;
    }
  }
  if (!file) {
    snprintf(err, errlen, "option file=PATH is required");
    return RL_ERR_INVAL;
  }
  recorder *r = calloc(1, sizeof *r);
  if (!r)
    return RL_ERR_NOMEM;
  if (!(r->out = fopen(file, "w"))) {
    snprintf(err, errlen, "cannot write %s", file);
    free(r);
    return RL_ERR_IO;
  }
  pthread_mutex_init(&r->lock, NULL);
  r->host = host;
  if (fail) {
    snprintf(r->fail_name, sizeof r->fail_name, "%s", fail);
    snprintf(r->fail_text, sizeof r->fail_text, "recorder failed %s", fail);
  }
  char opts[512] = "";
  for (size_t i = 0; i < n_options; i++) {
    size_t n = strlen(opts);
    snprintf(opts + n, sizeof opts - n, "%s%s=%s", i ? "," : "", options[i].key,
             options[i].value);
  }
  line(r, "init %s", opts);
  host->register_message(host, "ping", on_message, r);
  *state = r;
  return 0;
}

static void rec_fini(void *state) {
  recorder *r = state;
  line(r, "fini");
  fclose(r->out);
  pthread_mutex_destroy(&r->lock);
  free(r);
}

static void rec_test_start(void *state) {
  recorder *r = state;
  line(r, "test_start");
  /* A custom message, delivered locally before send_message returns. */
  r->host->send_message(r->host, "ping", "hello", 5);
}

static void rec_spawning_complete(void *state, uint32_t users) {
  line(state, "spawning_complete %u", users);
}

static void rec_test_stop(void *state) { line(state, "test_stop"); }

static void rec_quitting(void *state) { line(state, "quitting"); }

static void *rec_thread_new(void *state, uint32_t worker) {
  thread_ctx *t = calloc(1, sizeof *t);
  if (!t)
    return NULL;
  t->r = state;
  t->worker = worker;
  line(state, "thread_new %u", worker);
  return t;
}

static void rec_thread_del(void *state, void *ctx) {
  thread_ctx *t = ctx;
  if (!t)
    return;
  line(state, "thread_del %u %llu", t->worker, (unsigned long long)t->requests);
  free(t);
}

static const char *rec_request(void *ctx, const rl_request_event *e) {
  thread_ctx *t = ctx;
  if (!t)
    return NULL;
  t->requests++;
  line(t->r, "request %u %s %s %llu %llu %llu %s %s", e->worker, e->type,
       e->name, (unsigned long long)e->response_time_ns,
       (unsigned long long)e->response_length, (unsigned long long)e->user_id,
       e->user_class, e->error ? e->error : "-");
  if (t->r->fail_name[0] && strcmp(e->name, t->r->fail_name) == 0)
    return t->r->fail_text;
  return NULL;
}

static void rec_user_error(void *state, const rl_user_error *e) {
  line(state, "user_error %llu %s %s %s %s", (unsigned long long)e->user_id,
       e->user_class, e->type, e->name, e->error);
}

static void rec_report(void *state, const rl_report *rep) {
  uint64_t reqs = 0, fails = 0;
  for (size_t i = 0; i < rep->n_rows; i++) {
    reqs += rep->rows[i].num_requests;
    fails += rep->rows[i].num_failures;
  }
  line(state, "report %zu %llu %llu", rep->n_rows, (unsigned long long)reqs,
       (unsigned long long)fails);
}

static const rl_listener desc = {
#ifdef RECORDER_WRONG_MAJOR
    .abi_version = ((RL_LISTENER_ABI_MAJOR + 1) << 16) | 0,
#else
    .abi_version = RL_LISTENER_ABI_VERSION,
#endif
#ifdef RECORDER_SHORT
    .struct_size = offsetof(rl_listener, thread_new),
#else
    .struct_size = sizeof(rl_listener),
#endif
#ifndef RECORDER_NO_NAME
    .name = "recorder",
#endif
    .version = "1.0",
    .summary = "writes every event to a file, for the tests",
    .init = rec_init,
    .fini = rec_fini,
    .test_start = rec_test_start,
    .spawning_complete = rec_spawning_complete,
    .test_stop = rec_test_stop,
    .quitting = rec_quitting,
    .thread_new = rec_thread_new,
    .thread_del = rec_thread_del,
    .on_request = rec_request,
    .user_error = rec_user_error,
    .report = rec_report,
};

#ifndef RECORDER_NO_ENTRY
RL_EXPORT const rl_listener *rl_listener_entry(void) {
#ifdef RECORDER_NULL_ENTRY
  return desc.name ? NULL : &desc; /* NULL, with desc used */
#else
  return &desc;
#endif
}
#else
/* Exported under another name: the loader must not find it. */
RL_EXPORT const rl_listener *not_the_entry(void) { return &desc; }
#endif

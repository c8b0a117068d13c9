/* The web UI's API answers (see web/api.h for the contract). */
#include "web/api.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <rpcload/plugin.h>

#include "base/clock.h"
#include "base/units.h"
#include "base/url.h"
#include "engine/plan.h"
#include "engine/worker.h"
#include "report/csv.h"
#include "report/html.h"
#include "report/json.h"
#include "report/prometheus.h"

extern const char rl__uplot_version[]; /* cmake/report_html_assets.cmake */

#define TYPE_JSON "application/json"
#define TYPE_TEXT "text/plain; charset=utf-8"

/* ---- the API's own state ------------------------------------------------ */

int rl__web_api_init(rl__web_api *api, const rl__web_api_options *cfg) {
  memset(api, 0, sizeof *api);
  api->r = cfg->r;
  api->users = cfg->users;
  api->spawn_rate = cfg->spawn_rate;
  api->auth = cfg->auth;
  api->compile = cfg->compile;
  api->compile_arg = cfg->compile_arg;
  api->remote = cfg->remote;
  api->target = strdup(cfg->target ? cfg->target : "");
  api->plugin = cfg->plugin ? strdup(cfg->plugin) : NULL;
  if (!api->target || (cfg->plugin && !api->plugin)) {
    free(api->target);
    free(api->plugin);
    return RL_ERR_NOMEM;
  }
  pthread_mutex_init(&api->lock, NULL);
  pthread_mutex_init(&api->swarm_lock, NULL);
  return 0;
}

void rl__web_api_free(rl__web_api *api) {
  pthread_mutex_destroy(&api->lock);
  pthread_mutex_destroy(&api->swarm_lock);
  free(api->target);
  free(api->plugin);
  api->target = api->plugin = NULL;
}

/* The target and spawn rate now (another thread's /swarm may change
 * them): a copy of the target, NULL when out of memory. */
static char *current(rl__web_api *api, double *spawn_rate) {
  pthread_mutex_lock(&api->lock);
  char *t = strdup(api->target);
  if (spawn_rate)
    *spawn_rate = api->spawn_rate;
  pthread_mutex_unlock(&api->lock);
  return t;
}

/* ---- answers ------------------------------------------------------------- */

static void set(rl__web_answer *a, unsigned status, const char *type,
                char *body, size_t len) {
  memset(a, 0, sizeof *a);
  a->status = body ? status : 500;
  a->type = body ? type : TYPE_TEXT;
  a->body = body;
  a->len = body ? len : 0;
}

static void set_text(rl__web_answer *a, unsigned status, const char *text) {
  char *body = strdup(text);
  set(a, status, TYPE_TEXT, body, body ? strlen(body) : 0);
}

/* Serialises and frees `j` (NULL: out of memory). */
static void set_json(rl__web_answer *a, unsigned status, json_t *j,
                     size_t flags) {
  char *text = j ? json_dumps(j, flags) : NULL;
  json_decref(j);
  set(a, status, TYPE_JSON, text, text ? strlen(text) : 0);
}

/* {"success": ok, "message": msg[, "host": host]}, as Locust's. */
static void set_result(rl__web_answer *a, unsigned status, int ok,
                       const char *msg, const char *host) {
  json_t *j = json_pack("{s:b, s:s}", "success", ok, "message", msg);
  if (j && host)
    json_object_set_new(j, "host", json_string(host));
  set_json(a, status, j, JSON_COMPACT);
}

static void name_download(rl__web_answer *a, const char *prefix,
                          const char *ext) {
  snprintf(a->filename, sizeof a->filename, "%s_%llu.%s", prefix,
           (unsigned long long)rl__unix_time(), ext);
}

/* ---- reading the run ----------------------------------------------------- */

/* Users asked for now: the sum of what the workers were told (atomics;
 * the runner's own count belongs to its thread). */
/* Locust's user_count: the users running (a user that stopped itself has
 * left; while spawning, those started so far). */
static uint32_t user_count(const rl__runner *r) {
  return rl__runner_users_running(r);
}

/* The stats' span, for reports that rate over a duration: from the test's
 * start or the latest reset to its stop, or to now while it runs (the
 * hub keeps it: stats/history.h), so idle time in web mode, before or
 * after a test, does not count. Under the stats lock. */
static void stats_span(const rl__history *h, double *start_unix,
                       double *duration_s) {
  double from = rl__history_from_unix(h);
  *start_unix = from > 0 ? from : (double)rl__unix_time();
  *duration_s = rl__history_covered_s(h, rl__now_ns());
}

/* A memstream's text; on failure (rc != 0 or the stream's own) NULL. */
typedef struct membuf {
  char *p;
  size_t len;
  FILE *f;
} membuf;

static int membuf_open(membuf *m) {
  m->p = NULL;
  m->len = 0;
  m->f = open_memstream(&m->p, &m->len);
  return m->f ? 0 : RL_ERR_NOMEM;
}

static void set_membuf(rl__web_answer *a, membuf *m, int rc, const char *type) {
  if (fclose(m->f) != 0 && rc == 0)
    rc = RL_ERR_NOMEM;
  if (rc != 0) {
    free(m->p);
    m->p = NULL;
  }
  set(a, 200, type, m->p, m->len);
}

/* ---- the stats ----------------------------------------------------------- */

/* Readers of the run's stats, called under its lock (rl__runner_with_stats):
 * each formats into memory; the answer is written after the lock is gone. */
struct metrics_read {
  FILE *f;
  rl__report_prometheus_info *info;
  int rc;
};

/* Current rates over whole, merged seconds since the test's start or the
 * latest reset (rl__history_window). */
static void read_metrics(rl__stats *s, const rl__history *h, void *arg) {
  struct metrics_read *rd = arg;
  rd->info->window = rl__history_window(h, rl__now_ns());
  rd->rc = rl__report_prometheus_write(rd->f, s, rd->info);
}

struct requests_read {
  const char *state;
  uint32_t users;
  json_t *j, *p99;
  uint64_t scheduled, dropped; /* the open model's iterations */
};

static void read_requests(rl__stats *s, const rl__history *h, void *arg) {
  struct requests_read *rd = arg;
  rd->j = rl__report_json_stats_requests(
      s, h, rl__history_window(h, rl__now_ns()), rd->state, rd->users);
  /* The charts also draw the current p99, which Locust's shape lacks: an
   * extra key where Locust puts the percentiles it is set to chart. */
  const rl__history_row *last = h->n ? &h->rows[h->n - 1] : NULL;
  rd->p99 = last ? json_real((double)last->p99_ns / 1e6) : json_null();
  rl__stats_iterations(s, &rd->scheduled, &rd->dropped);
}

/* rpcload's own keys for a load shape (issue #15): where it is, and the
 * open model's iterations. */
static void add_shape(rl__runner *r, const struct requests_read *rd,
                      json_t *j) {
  rl__shape_progress sp;
  if (!j || !rl__runner_shape_progress(r, &sp))
    return;
  json_object_set_new(j, "shape",
                      json_pack("{s:s, s:f, s:I, s:I, s:f, s:f}", "kind",
                                sp.rate ? "rate" : "users", "target", sp.target,
                                "stage", (json_int_t)sp.stage, "stages",
                                (json_int_t)sp.n_stages, "elapsed",
                                sp.elapsed_s, "duration", sp.duration_s));
  if (sp.rate)
    json_object_set_new(j, "iterations",
                        json_pack("{s:I, s:I}", "scheduled",
                                  (json_int_t)rd->scheduled, "dropped",
                                  (json_int_t)rd->dropped));
}

/* A master's workers, as Locust's master lists them in /stats/requests. */
static void add_workers(rl__web_api *api, json_t *j) {
  if (!j || !api->remote)
    return;
  enum { MAX_SHOWN = 4096 };
  rl__web_worker *w = calloc(MAX_SHOWN, sizeof *w);
  json_t *arr = json_array();
  size_t n = w ? api->remote->workers(api->remote->arg, w, MAX_SHOWN) : 0;
  for (size_t i = 0; arr && i < n && i < MAX_SHOWN; i++)
    json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:f}", "id", w[i].id,
                                         "state", w[i].state, "user_count",
                                         (json_int_t)w[i].users, "cpu_usage",
                                         w[i].cpu));
  /* Locust's worker_count: the workers not missing. */
  size_t live = 0;
  for (size_t i = 0; w && i < n && i < MAX_SHOWN; i++)
    live += strcmp(w[i].state, "missing") != 0;
  free(w);
  json_object_set_new(j, "workers", arr ? arr : json_array());
  json_object_set_new(j, "worker_count", json_integer((json_int_t)live));
}

struct html_read {
  FILE *f;
  rl__report_html_info *info;
  int rc;
};

static void read_html(rl__stats *s, const rl__history *h, void *arg) {
  struct html_read *rd = arg;
  stats_span(h, &rd->info->start_unix_s, &rd->info->duration_s);
  rd->info->end_unix_s = rd->info->start_unix_s + rd->info->duration_s;
  rd->rc = rl__report_html_write(rd->f, rd->info, s, h);
}

struct json_read {
  rl__report_json_info *run;
  json_t *j;
};

static void read_json(rl__stats *s, const rl__history *h, void *arg) {
  struct json_read *rd = arg;
  stats_span(h, &rd->run->start_time, &rd->run->duration_s);
  rd->j = rl__report_json(s, h, rd->run);
}

struct csv_read {
  enum rl__web_csv kind;
  char *text;
  size_t len;
  int rc;
};

static void read_csv(rl__stats *s, const rl__history *h, void *arg) {
  struct csv_read *rd = arg;
  double start, span;
  stats_span(h, &start, &span);
  if (rd->kind == RL__WEB_CSV_STATS)
    rd->rc = rl__report_csv_stats_text(s, span, &rd->text, &rd->len);
  else if (rd->kind == RL__WEB_CSV_HISTORY)
    rd->rc = rl__report_csv_history_text(h, &rd->text, &rd->len);
  else if (rd->kind == RL__WEB_CSV_EXCEPTIONS)
    rd->rc = rl__report_csv_exceptions_text(s, &rd->text, &rd->len);
  else
    rd->rc =
        rl__report_csv_failures_text(s, (uint64_t)start, &rd->text, &rd->len);
}

void rl__web_api_metrics(rl__web_api *api, rl__web_answer *a) {
  rl__runner *r = api->r;
  membuf m;
  if (membuf_open(&m)) {
    set(a, 500, NULL, NULL, 0);
    return;
  }
  rl__report_prometheus_info info = {
      .users = user_count(r),
      .state = atomic_load(&r->state),
  };
  struct metrics_read rd = {.f = m.f, .info = &info};
  rl__runner_with_stats(r, read_metrics, &rd);
  set_membuf(a, &m, rd.rc, RL__REPORT_PROMETHEUS_CONTENT_TYPE);
}

/* ---- user classes -------------------------------------------------------- */

/* Users per class (the plan's deal of `users`, which the workers keep
 * running), by class name; two classes of one name count together. */
static json_t *class_counts(const rl__plan *p, uint32_t users) {
  uint64_t *counts = calloc(p->n_classes, sizeof *counts);
  json_t *j = counts ? json_object() : NULL;
  if (j)
    rl__plan_class_counts(p, users, counts);
  for (size_t c = 0; j && c < p->n_classes; c++) {
    json_t *had = json_object_get(j, p->classes[c].name);
    uint64_t n = counts[c] + (had ? (uint64_t)json_integer_value(had) : 0);
    if (json_object_set_new(j, p->classes[c].name,
                            json_integer((json_int_t)n))) {
      json_decref(j);
      j = NULL;
    }
  }
  free(counts);
  return j;
}

struct classes_read {
  uint32_t users;
  json_t *counts;
};

static void read_classes(const rl__plan *p, void *arg) {
  struct classes_read *rd = arg;
  rd->counts = class_counts(p, rd->users);
}

/* Locust's get_ratio (locust/user/inspectuser.py): per class its share of
 * the users running and its tasks' shares, within the class
 * (`total` 0) or of all task runs (`total` 1). A task named twice
 * counts once with the sum of its shares, as Locust's. */
static json_t *ratios(const rl__plan *p, const json_t *counts, int total) {
  double sum = 0;
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)counts, key, v) {
    sum += (double)json_integer_value(v);
  }
  if (sum <= 0)
    sum = 1; /* Locust's "or 1": nobody running, every share 0 */
  json_t *j = json_object();
  for (size_t c = 0; j && c < p->n_classes; c++) {
    const rl__plan_class *k = &p->classes[c];
    double share =
        (double)json_integer_value(json_object_get(counts, k->name)) / sum;
    json_t *tasks = json_object();
    for (size_t t = 0; tasks && t < k->n_tasks; t++) {
      char label[128];
      rl__plan_task_label(k, t, label, sizeof label);
      double r = rl__plan_task_share(k, t) * (total ? share : 1.0);
      json_t *had = json_object_get(tasks, label);
      if (had)
        r += json_number_value(json_object_get(had, "ratio"));
      json_object_set_new(tasks, label, json_pack("{s:f}", "ratio", r));
    }
    json_t *cls =
        tasks ? json_pack("{s:f, s:o}", "ratio", share, "tasks", tasks) : NULL;
    if (!cls || json_object_set_new(j, k->name, cls)) {
      json_decref(j);
      j = NULL;
    }
  }
  return j;
}

struct tasks_read {
  uint32_t users;
  json_t *j;
};

static void read_tasks(const rl__plan *p, void *arg) {
  struct tasks_read *rd = arg;
  json_t *counts = class_counts(p, rd->users);
  rd->j = counts ? json_pack("{s:o?, s:o?}", "per_class", ratios(p, counts, 0),
                             "total", ratios(p, counts, 1))
                 : NULL;
  json_decref(counts);
}

void rl__web_api_tasks(rl__web_api *api, rl__web_answer *a) {
  struct tasks_read rd = {.users = user_count(api->r)};
  rl__runner_with_plan(api->r, read_tasks, &rd);
  set_json(a, 200, rd.j, JSON_COMPACT);
}

void rl__web_api_stats_requests(rl__web_api *api, rl__web_answer *a) {
  rl__runner *r = api->r;
  const char *state = rl__run_state_name(atomic_load(&r->state));
  uint32_t users = user_count(r);
  struct requests_read rd = {.state = state, .users = users};
  rl__runner_with_stats(r, read_requests, &rd);
  json_t *j = rd.j, *p99 = rd.p99;
  /* Requests in flight when users were cut at a stop: not in the stats
   * (neither successes nor the server's failures), counted here. */
  if (j)
    json_object_set_new(j, "cut_requests",
                        json_integer((json_int_t)rl__stats_hub_cut(&r->hub)));
  add_shape(r, &rd, j);
  add_workers(api, j);
  /* The users per class (Locust's runner.user_classes_count), for the
   * page's header. */
  struct classes_read cr = {.users = users};
  rl__runner_with_plan(r, read_classes, &cr);
  if (j && cr.counts)
    json_object_set_new(j, "user_classes_count", cr.counts);
  else
    json_decref(cr.counts);
  json_t *cur =
      j ? json_object_get(j, "current_response_time_percentiles") : NULL;
  if (cur)
    json_object_set_new(cur, "response_time_percentile_0.99", p99);
  else
    json_decref(p99);
  set_json(a, 200, j, JSON_COMPACT | JSON_REAL_PRECISION(15));
}

void rl__web_api_report_html(rl__web_api *api, int download,
                             rl__web_answer *a) {
  rl__runner *r = api->r;
  membuf m;
  if (membuf_open(&m)) {
    set(a, 500, NULL, NULL, 0);
    return;
  }
  double rate;
  char *target = current(api, &rate);
  rl__report_html_info info = {
      .target = target ? target : "",
      .plugin = api->plugin,
      .users = user_count(r),
      .spawn_rate = rate,
      .run_time_ns = r->cfg->run_time_ns,
  };
  struct html_read rd = {.f = m.f, .info = &info};
  rl__runner_with_stats(r, read_html, &rd);
  free(target);
  set_membuf(a, &m, target ? rd.rc : RL_ERR_NOMEM, "text/html; charset=utf-8");
  if (download && a->body)
    name_download(a, "rpcload_report", "html");
}

void rl__web_api_report_json(rl__web_api *api, rl__web_answer *a) {
  rl__runner *r = api->r;
  rl__report_json_info run = {.users = api->users, .user_count = user_count(r)};
  run.cut_requests = rl__stats_hub_cut(&r->hub);
  struct json_read rd = {.run = &run};
  rl__runner_with_stats(r, read_json, &rd);
  set_json(a, 200, rd.j, RL__REPORT_JSON_DUMP_FLAGS);
}

/* Locust's CSV texts come from report/csv.c's in-memory formatters. */
void rl__web_api_csv(rl__web_api *api, enum rl__web_csv kind,
                     rl__web_answer *a) {
  static const char *const prefixes[] = {"requests", "requests_full_history",
                                         "failures", "exceptions"};
  rl__runner *r = api->r;
  char *text = NULL;
  size_t len = 0;
  int rc = 0;
  if (kind == RL__WEB_CSV_HISTORY && !r->cfg->full_history) {
    /* Locust's answer: the full history is kept with the option only. */
    set_text(a, 404,
             "Error: Server was not started with option to generate full "
             "history.");
    return;
  }
  struct csv_read rd = {.kind = kind};
  rl__runner_with_stats(r, read_csv, &rd);
  text = rd.text;
  len = rd.len;
  rc = rd.rc;
  if (rc != 0) {
    free(text);
    text = NULL;
  }
  set(a, 200, "text/csv; charset=utf-8", text, len);
  if (text)
    name_download(a, prefixes[kind], "csv");
}

/* ---- the page's settings ------------------------------------------------- */

void rl__web_api_config(rl__web_api *api, rl__web_answer *a) {
  const rl__run_config *cfg = api->r->cfg;
  double rate;
  char *target = current(api, &rate);
  json_t *j =
      target ? json_pack("{s:s, s:s?, s:I, s:f, s:s, s:s, s:b, s:b}", "host",
                         target, "plugin", api->plugin, "users",
                         (json_int_t)api->users, "spawn_rate", rate, "version",
                         RL_VERSION, "uplot_version", rl__uplot_version, "auth",
                         api->auth, "full_history", cfg->full_history)
             : NULL;
  free(target);
  if (j && cfg->run_time_ns)
    json_object_set_new(j, "run_time_s",
                        json_real((double)cfg->run_time_ns / 1e9));
  else if (j)
    json_object_set_new(j, "run_time_s", json_null());
  set_json(a, 200, j, JSON_COMPACT);
}

/* Locust's /exceptions: {"exceptions": [{"count", "msg", "traceback",
 * "nodes"}]}, from the run's exceptions table (a user class's code). */
static void read_exceptions(rl__stats *s, const rl__history *h, void *arg) {
  (void)h;
  json_t *list = json_array();
  const rl__stats_exception *x;
  size_t n = rl__stats_exceptions(s, &x);
  for (size_t i = 0; list && i < n; i++)
    if (json_array_append_new(
            list, json_pack("{s:I, s:s, s:s, s:s}", "count",
                            (json_int_t)x[i].count, "msg", x[i].msg,
                            "traceback", x[i].traceback, "nodes", "local"))) {
      json_decref(list);
      list = NULL;
    }
  *(json_t **)arg = list;
}

void rl__web_api_exceptions(rl__web_api *api, rl__web_answer *a) {
  json_t *list = NULL;
  rl__runner_with_stats(api->r, read_exceptions, &list);
  set_json(a, 200, list ? json_pack("{s:o}", "exceptions", list) : NULL,
           JSON_COMPACT);
}

/* ---- changing the run ---------------------------------------------------- */

/* Whether two targets are one: equal up to trailing slashes. */
static int same_target(const char *a, const char *b) {
  size_t na = strlen(a), nb = strlen(b);
  while (na > 0 && a[na - 1] == '/')
    na--;
  while (nb > 0 && b[nb - 1] == '/')
    nb--;
  return na == nb && strncmp(a, b, na) == 0;
}

void rl__web_api_refuse(rl__web_api *api, unsigned status, const char *msg,
                        rl__web_answer *a) {
  char *target = current(api, NULL);
  set_result(a, status, 0, msg, target ? target : "");
  free(target);
}

/* Locust's message for a run_time it cannot read. */
#define RUN_TIME_FORMATS                                                       \
  "Valid run_time formats are : 20, 20s, 3m, 2h, 1h20m, 3h30m10s, etc."

/* The form's numbers; 0, or the refusal is in `a`. */
static int swarm_numbers(rl__web_api *api, const char *user_count_s,
                         const char *spawn_rate_s, const char *run_time,
                         rl__runner_ctl *ctl, rl__web_answer *a) {
  char *end;
  errno = 0;
  long long users = strtoll(user_count_s, &end, 10);
  if (!user_count_s[0] || *end || errno || users < 0 || users > 10000000) {
    rl__web_api_refuse(
        api, 400, "user_count must be a whole number from 0 to 10000000", a);
    return -1;
  }
  errno = 0;
  double rate = strtod(spawn_rate_s, &end);
  if (!spawn_rate_s[0] || *end || errno || !isfinite(rate) || rate <= 0) {
    rl__web_api_refuse(api, 400, "spawn_rate must be a number > 0", a);
    return -1;
  }
  if (run_time[0] && rl__parse_duration(run_time, &ctl->run_time_ns)) {
    rl__web_api_refuse(api, 400, RUN_TIME_FORMATS, a);
    return -1;
  }
  ctl->swarm = 1;
  ctl->users = (uint32_t)users;
  ctl->spawn_rate = rate;
  ctl->has_run_time = run_time[0] != 0;
  return 0;
}

/* How many bytes of `s` a refusal quotes, at most `max`: never ending
 * inside a UTF-8 character, which the answer's JSON would refuse. */
static int quote_len(const char *s, size_t max) {
  size_t n = strnlen(s, max);
  while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
    n--;
  return (int)n;
}

/* A new host's plan for ctl (the target `want` means), under swarm_lock;
 * 0, or the refusal is in `a`. */
static int swarm_compile(rl__web_api *api, const char *want,
                         rl__runner_ctl *ctl, rl__web_answer *a) {
  char msg[1024];
  int state = atomic_load(&api->r->state);
  if (state != RL__STATE_READY && state != RL__STATE_STOPPED &&
      state != RL__STATE_STOPPING) {
    snprintf(msg, sizeof msg,
             "the host changes at a new test: stop this one first, then "
             "start with host %.*s",
             quote_len(want, 400), want);
    rl__web_api_refuse(api, 409, msg, a);
    return -1;
  }
  if (!api->compile) {
    snprintf(msg, sizeof msg,
             "this rpcload cannot change its target; start another for "
             "%.*s",
             quote_len(want, 400), want);
    rl__web_api_refuse(api, 400, msg, a);
    return -1;
  }
  char err[768] = "";
  if (api->compile(api->compile_arg, want, &ctl->plan, err, sizeof err)) {
    snprintf(msg, sizeof msg, "host %.*s: %s", quote_len(want, 200), want,
             err[0] ? err : "cannot be compiled");
    rl__web_api_refuse(api, 400, msg, a);
    return -1;
  }
  return 0;
}

void rl__web_api_swarm(rl__web_api *api, const char *user_count_s,
                       const char *spawn_rate_s, const char *host,
                       const char *run_time, rl__web_answer *a) {
  rl__runner_ctl ctl = {0};
  if (swarm_numbers(api, user_count_s ? user_count_s : "",
                    spawn_rate_s ? spawn_rate_s : "", run_time ? run_time : "",
                    &ctl, a))
    return;
  /* The answers quote the host, and JSON holds only UTF-8 text (jansson,
   * which writes them, is the judge). */
  json_t *text = host && host[0] ? json_string(host) : NULL;
  if (host && host[0] && !text) {
    rl__web_api_refuse(api, 400, "host is not a URL: not UTF-8 text", a);
    return;
  }
  json_decref(text);
  if (atomic_load(&api->r->state) == RL__STATE_ENDING) {
    rl__web_api_refuse(api, 409, "the run is ending", a);
    return;
  }
  /* One swarm at a time: a new host is compiled, asked of the runner and
   * remembered as the target in one go. */
  pthread_mutex_lock(&api->swarm_lock);
  char *target = current(api, NULL);
  char *want = target && host && host[0] ? rl__url_rebase(target, host) : NULL;
  if (!target || (host && host[0] && !want)) {
    pthread_mutex_unlock(&api->swarm_lock);
    free(target);
    set(a, 500, NULL, NULL, 0);
    return;
  }
  if (api->remote) {
    /* A master: its workers compile the host (spawn's host) and the
     * master ramps; its own run starts with the ramp. */
    api->remote->swarm(api->remote->arg, ctl.users, ctl.spawn_rate, want);
    if (want && !same_target(want, target)) {
      pthread_mutex_lock(&api->lock);
      free(api->target);
      api->target = want;
      want = NULL;
      pthread_mutex_unlock(&api->lock);
    }
    pthread_mutex_lock(&api->lock);
    api->spawn_rate = ctl.spawn_rate;
    json_t *j = json_pack("{s:b, s:s, s:s}", "success", 1, "message",
                          "Swarming started", "host", api->target);
    pthread_mutex_unlock(&api->lock);
    pthread_mutex_unlock(&api->swarm_lock);
    set_json(a, 200, j, JSON_COMPACT);
    free(target);
    free(want);
    return;
  }
  if (want && !same_target(want, target) && swarm_compile(api, want, &ctl, a)) {
    pthread_mutex_unlock(&api->swarm_lock);
    free(target);
    free(want);
    return;
  }
  rl__runner_control(api->r, &ctl); /* the plan passes to the runner */
  pthread_mutex_lock(&api->lock);
  api->spawn_rate = ctl.spawn_rate;
  if (ctl.plan) {
    free(api->target);
    api->target = want;
    want = NULL;
  }
  const char *shown = ctl.plan ? api->target : target;
  json_t *j = json_pack("{s:b, s:s, s:s}", "success", 1, "message",
                        "Swarming started", "host", shown);
  pthread_mutex_unlock(&api->lock);
  pthread_mutex_unlock(&api->swarm_lock);
  if (j && ctl.has_run_time) /* Locust's answer says it, in seconds */
    json_object_set_new(
        j, "run_time",
        ctl.run_time_ns % RL__NS_PER_SEC
            ? json_real((double)ctl.run_time_ns / 1e9)
            : json_integer((json_int_t)(ctl.run_time_ns / RL__NS_PER_SEC)));
  set_json(a, 200, j, JSON_COMPACT);
  free(target);
  free(want);
}

/* Locust's stop is synchronous, and so is ours: the answer comes once
 * every user has stopped and every worker's last stats are merged, so a
 * caller that reads the stats next reads final figures (docs/architecture.md, "Stopping").
 * Bounded by --stop-timeout plus a few seconds; past that the answer says
 * the test is still stopping. */
#define STOP_WAIT_SLACK_S 5.0

void rl__web_api_stop(rl__web_api *api, rl__web_answer *a) {
  double wait = (double)api->r->cfg->stop_timeout_ns / 1e9 + STOP_WAIT_SLACK_S;
  /* A master: the workers stop, their last stats come, then its run; it
   * waits for a worker that still beats up to the stop timeout and 35 s
   * (cluster/master.c's WORKER_STOP_SLACK_S), so the answer waits that
   * long too (it comes as soon as the master is done). */
  int rc = api->remote ? api->remote->stop(api->remote->arg, wait + 35)
                       : rl__runner_stop_wait(api->r, wait);
  if (rc == RL_ERR_TIMEOUT)
    set_result(a, 200, 1, "Test stopping", NULL);
  else
    set_result(a, 200, 1, "Test stopped", NULL);
}

void rl__web_api_reset(rl__web_api *api, rl__web_answer *a) {
  rl__runner_ctl ctl = {.reset = 1};
  rl__runner_control(api->r, &ctl);
  set_text(a, 200, "ok");
}

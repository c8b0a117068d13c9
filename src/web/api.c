/* The web UI's API answers (see web_api.h for the contract). */
#include "web/api.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <rpcload/plugin.h>

#include "base/clock.h"
#include "engine/worker.h"
#include "report/csv.h"
#include "report/html.h"
#include "report/json.h"
#include "report/prometheus.h"

extern const char rl__uplot_version[]; /* cmake/report_html_assets.cmake */

#define TYPE_JSON "application/json"
#define TYPE_TEXT "text/plain; charset=utf-8"

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
static uint32_t user_count(const rl__runner *r) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < r->nworkers; i++)
    n += atomic_load(&r->workers[i].want_users);
  return n;
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
};

static void read_requests(rl__stats *s, const rl__history *h, void *arg) {
  struct requests_read *rd = arg;
  rd->j = rl__report_json_stats_requests(
      s, h, rl__history_window(h, rl__now_ns()), rd->state, rd->users);
  /* The charts also draw the current p99, which Locust's shape lacks: an
   * extra key where Locust puts the percentiles it is set to chart. */
  const rl__history_row *last = h->n ? &h->rows[h->n - 1] : NULL;
  rd->p99 = last ? json_real((double)last->p99_ns / 1e6) : json_null();
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
  rl__report_html_info info = {
      .target = api->target,
      .plugin = api->plugin,
      .users = user_count(r),
      .spawn_rate = api->spawn_rate,
      .run_time_ns = r->cfg->run_time_ns,
  };
  struct html_read rd = {.f = m.f, .info = &info};
  rl__runner_with_stats(r, read_html, &rd);
  set_membuf(a, &m, rd.rc, "text/html; charset=utf-8");
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

/* Locust's CSV texts come from src/report_csv.c's in-memory formatters. */
void rl__web_api_csv(rl__web_api *api, enum rl__web_csv kind,
                     rl__web_answer *a) {
  static const char *const prefixes[] = {"requests", "requests_full_history",
                                         "failures", "exceptions"};
  rl__runner *r = api->r;
  char *text = NULL;
  size_t len = 0;
  int rc = 0;
  if (kind == RL__WEB_CSV_EXCEPTIONS) {
    /* rpcload runs no user code that could raise: the header alone. */
    text = strdup(rl__report_csv_exceptions_header);
    len = text ? strlen(text) : 0;
  } else {
    struct csv_read rd = {.kind = kind};
    rl__runner_with_stats(r, read_csv, &rd);
    text = rd.text;
    len = rd.len;
    rc = rd.rc;
  }
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
  uint64_t run_time_ns = api->r->cfg->run_time_ns;
  json_t *j = json_pack(
      "{s:s, s:s?, s:I, s:f, s:s, s:s, s:b, s:o?}", "host", api->target,
      "plugin", api->plugin, "users", (json_int_t)api->users, "spawn_rate",
      api->spawn_rate, "version", RL_VERSION, "uplot_version",
      rl__uplot_version, "auth", api->auth, "run_time_s",
      run_time_ns ? json_real((double)run_time_ns / 1e9) : NULL);
  set_json(a, 200, j, JSON_COMPACT);
}

void rl__web_api_exceptions(rl__web_api *api, rl__web_answer *a) {
  (void)api;
  set_json(a, 200, json_pack("{s:[]}", "exceptions"), JSON_COMPACT);
}

/* ---- changing the run ---------------------------------------------------- */

/* Whether `host` names `target`: empty, or equal up to trailing slashes. */
static int same_host(const char *target, const char *host) {
  size_t t = strlen(target), h = strlen(host);
  while (t > 0 && target[t - 1] == '/')
    t--;
  while (h > 0 && host[h - 1] == '/')
    h--;
  return h == 0 || (t == h && strncmp(target, host, t) == 0);
}

void rl__web_api_refuse(rl__web_api *api, unsigned status, const char *msg,
                        rl__web_answer *a) {
  set_result(a, status, 0, msg, api->target);
}

void rl__web_api_swarm(rl__web_api *api, const char *user_count_s,
                       const char *spawn_rate_s, const char *host,
                       const char *run_time, rl__web_answer *a) {
  user_count_s = user_count_s ? user_count_s : "";
  spawn_rate_s = spawn_rate_s ? spawn_rate_s : "";
  host = host ? host : "";
  char *end;
  errno = 0;
  long long users = strtoll(user_count_s, &end, 10);
  if (!user_count_s[0] || *end || errno || users < 0 || users > 10000000) {
    rl__web_api_refuse(
        api, 400, "user_count must be a whole number from 0 to 10000000", a);
    return;
  }
  errno = 0;
  double rate = strtod(spawn_rate_s, &end);
  if (!spawn_rate_s[0] || *end || errno || !isfinite(rate) || rate <= 0) {
    rl__web_api_refuse(api, 400, "spawn_rate must be a number > 0", a);
    return;
  }
  if (!same_host(api->target, host)) {
    char msg[640];
    snprintf(msg, sizeof msg,
             "rpcload load-tests the target it was started with (%.200s); "
             "start another rpcload for %.200s",
             api->target, host);
    rl__web_api_refuse(api, 400, msg, a);
    return;
  }
  if (run_time && run_time[0]) {
    rl__web_api_refuse(api, 400,
                       "run_time from the web UI is not supported: give "
                       "-t/--run-time on the command line",
                       a);
    return;
  }
  if (atomic_load(&api->r->state) == RL__STATE_ENDING) {
    rl__web_api_refuse(api, 409, "the run is ending", a);
    return;
  }
  rl__runner_ctl ctl = {
      .swarm = 1, .users = (uint32_t)users, .spawn_rate = rate};
  rl__runner_control(api->r, &ctl);
  api->spawn_rate = rate;
  set_result(a, 200, 1, "Swarming started", api->target);
}

/* Locust's stop is synchronous, and so is ours: the answer comes once
 * every user has stopped and every worker's last stats are merged, so a
 * caller that reads the stats next reads final figures (docs/web.md).
 * Bounded by --stop-timeout plus a few seconds; past that the answer says
 * the test is still stopping. */
#define STOP_WAIT_SLACK_S 5.0

void rl__web_api_stop(rl__web_api *api, rl__web_answer *a) {
  double wait = (double)api->r->cfg->stop_timeout_ns / 1e9 + STOP_WAIT_SLACK_S;
  int rc = rl__runner_stop_wait(api->r, wait);
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

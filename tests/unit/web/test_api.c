/*
 * The web UI's API answers (src/web_api.c) against a runner built by hand
 * (stats, history, two workers' user counts; no threads, no loop): Locust's
 * JSON shapes, /swarm's validation and what it asks of the runner, /stop
 * and /stats/reset, the downloads. The HTTP side is
 * tests/integration/test_web_ui.py's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include <cmocka.h>

#include <rpcload/plugin.h>

#include "base/clock.h"
#include "engine/plan.h"
#include "engine/runner.h"
#include "engine/worker.h"
#include "report/csv.h"
#include "stats/history.h"
#include "stats/stats.h"
#include "web/api.h"

#define MS 1000000ull

typedef struct fixture {
  rl__run_config cfg;
  rl__runner r;
  rl__worker workers[2];
  rl__web_api api;
  /* The compile hook's calls: the last target asked, and what it says. */
  char compiled[256];
  int compile_calls;
  int compile_fails;
} fixture;

/* A plan of two classes: Web (weight 1: tasks browse 3, an unnamed 1)
 * and Admin (fixed_count 1: task audit). */
static rl__plan *two_classes(void) {
  rl__plan *p = calloc(1, sizeof *p);
  assert_non_null(p);
  p->classes = calloc(2, sizeof *p->classes);
  assert_non_null(p->classes);
  p->n_classes = 2;
  rl__plan_class *web = &p->classes[0], *admin = &p->classes[1];
  web->name = "Web";
  web->weight = 1;
  web->tasks = calloc(2, sizeof *web->tasks);
  assert_non_null(web->tasks);
  web->n_tasks = 2;
  web->tasks[0].name = "browse";
  web->tasks[0].weight = 3;
  web->tasks[1].weight = 1;
  web->total_weight = 4;
  admin->name = "Admin";
  admin->has_fixed = 1;
  admin->fixed = 1;
  admin->tasks = calloc(1, sizeof *admin->tasks);
  assert_non_null(admin->tasks);
  admin->n_tasks = 1;
  admin->tasks[0].name = "audit";
  admin->tasks[0].weight = 1;
  admin->total_weight = 1;
  assert_int_equal(rl__plan_assign_classes(p, 5), 0);
  return p;
}

/* The CLI's compile hook, played: a new plan for any target, or a
 * start-up-like error. */
static int compile_stub(void *arg, const char *target, rl__plan **plan,
                        char *err, size_t errlen) {
  fixture *f = arg;
  f->compile_calls++;
  snprintf(f->compiled, sizeof f->compiled, "%s", target);
  if (f->compile_fails) {
    snprintf(err, errlen, "cannot resolve 'nowhere.invalid'");
    return RL_ERR_INVAL;
  }
  *plan = two_classes();
  return 0;
}

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  assert_non_null(f);
  f->cfg.users = 5;
  f->cfg.spawn_rate = 2;
  rl__runner *r = &f->r;
  r->cfg = &f->cfg;
  rl__stats *stats = rl__stats_new();
  assert_non_null(stats);
  rl__stats_hub_init(&r->hub, stats, 0);
  pthread_mutex_init(&r->ctl_lock, NULL);
  pthread_mutex_init(&r->state_lock, NULL);
  pthread_mutex_init(&r->plan_lock, NULL);
  pthread_cond_init(&r->state_cond, NULL);
  atomic_init(&r->state, RL__STATE_RUNNING);
  r->own_plan = two_classes();
  r->plan = r->own_plan;
  r->start_ns = rl__now_ns();
  /* Users running on the workers: 3 + 4. */
  atomic_init(&f->workers[0].users_live, 3);
  atomic_init(&f->workers[1].users_live, 4);
  r->workers = f->workers;
  r->nworkers = 2;
  /* Some requests, merged as a worker would, and two history seconds. */
  rl__stats *local = rl__stats_new();
  rl__stats_entry *e = rl__stats_entry_get(local, "GET", "/hello");
  for (int i = 1; i <= 100; i++)
    rl__stats_record(local, e, (uint64_t)i * MS, 12,
                     i % 10 ? NULL : "HTTP 500 <oops>", 0);
  rl__history_add_times(&r->hub.history, &e->hist);
  rl__stats_merge(stats, local);
  rl__stats_del(local);
  uint64_t now = rl__unix_time();
  rl__history_tick(&r->hub.history, stats, now - 1, 1, 7);
  rl__history_tick(&r->hub.history, stats, now, 2, 7);
  rl__web_api_options api = {.r = r,
                             .target = "http://127.0.0.1:8080/hello",
                             .plugin = "http1",
                             .users = 5,
                             .spawn_rate = 2,
                             .compile = compile_stub,
                             .compile_arg = f};
  assert_int_equal(rl__web_api_init(&f->api, &api), 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  rl__stats *stats = f->r.hub.stats;
  rl__stats_hub_free(&f->r.hub);
  rl__stats_del(stats);
  rl__web_api_free(&f->api);
  rl__plan_del(f->r.own_plan);
  rl__plan_del(f->r.ctl.plan);
  pthread_mutex_destroy(&f->r.plan_lock);
  pthread_mutex_destroy(&f->r.ctl_lock);
  pthread_mutex_destroy(&f->r.state_lock);
  pthread_cond_destroy(&f->r.state_cond);
  free(f);
  return 0;
}

/* The answer's body as JSON (the answer is freed). */
static json_t *answer_json(rl__web_answer *a, unsigned status) {
  assert_non_null(a->body);
  assert_int_equal(a->status, status);
  assert_string_equal(a->type, "application/json");
  json_error_t err;
  json_t *j = json_loadb(a->body, a->len, 0, &err);
  if (!j)
    fail_msg("not JSON (%s): %.*s", err.text, (int)a->len, a->body);
  free(a->body);
  return j;
}

static void test_stats_requests(void **state) {
  fixture *f = *state;
  rl__web_answer a;
  rl__web_api_stats_requests(&f->api, &a);
  json_t *j = answer_json(&a, 200);
  assert_string_equal(json_string_value(json_object_get(j, "state")),
                      "running");
  assert_int_equal(json_integer_value(json_object_get(j, "user_count")), 7);
  json_t *stats = json_object_get(j, "stats");
  assert_int_equal(json_array_size(stats), 2);
  json_t *row = json_array_get(stats, 0);
  assert_string_equal(json_string_value(json_object_get(row, "name")),
                      "/hello");
  assert_int_equal(json_integer_value(json_object_get(row, "num_requests")),
                   100);
  assert_int_equal(json_integer_value(json_object_get(row, "num_failures")),
                   10);
  assert_string_equal(
      json_string_value(json_object_get(json_array_get(stats, 1), "name")),
      "Aggregated");
  /* Locust's errors are HTML-escaped. */
  json_t *err = json_array_get(json_object_get(j, "errors"), 0);
  assert_string_equal(json_string_value(json_object_get(err, "error")),
                      "HTTP 500 &lt;oops&gt;");
  /* The current percentiles, p99 included for the charts. */
  json_t *cur = json_object_get(j, "current_response_time_percentiles");
  assert_true(
      json_is_number(json_object_get(cur, "response_time_percentile_0.5")));
  json_t *p99 = json_object_get(cur, "response_time_percentile_0.99");
  assert_true(json_is_number(p99));
  assert_true(json_number_value(p99) >= 98 && json_number_value(p99) <= 100);
  json_decref(j);
}

/* Posts the form; returns the runner's pending request and clears it. */
static rl__runner_ctl swarm(fixture *f, const char *users, const char *rate,
                            const char *host, const char *run_time,
                            unsigned status, const char *message_part) {
  rl__web_answer a;
  rl__web_api_swarm(&f->api, users, rate, host, run_time, &a);
  json_t *j = answer_json(&a, status);
  assert_int_equal(json_is_true(json_object_get(j, "success")), status == 200);
  const char *msg = json_string_value(json_object_get(j, "message"));
  if (!strstr(msg, message_part))
    fail_msg("message '%s' lacks '%s'", msg, message_part);
  assert_string_equal(json_string_value(json_object_get(j, "host")),
                      f->api.target);
  /* Locust's answer says the run time it took. */
  if (status == 200 && run_time && run_time[0])
    assert_true(json_is_number(json_object_get(j, "run_time")));
  else
    assert_null(json_object_get(j, "run_time"));
  json_decref(j);
  rl__runner_ctl ctl = f->r.ctl;
  memset(&f->r.ctl, 0, sizeof f->r.ctl);
  return ctl;
}

static void test_swarm(void **state) {
  fixture *f = *state;
  rl__runner_ctl c = swarm(f, "12", "2.5", "", NULL, 200, "Swarming started");
  assert_int_equal(c.swarm, 1);
  assert_int_equal(c.users, 12);
  assert_true(c.spawn_rate == 2.5);
  assert_true(f->api.spawn_rate == 2.5);
  /* The same host, up to trailing slashes; 0 users; an empty run_time. */
  c = swarm(f, "0", "1", "http://127.0.0.1:8080/hello/", "", 200, "started");
  assert_int_equal(c.swarm, 1);
  assert_int_equal(c.users, 0);

  static const struct {
    const char *users, *rate, *host, *run_time, *why;
  } bad[] = {
      {NULL, "1", NULL, NULL, "user_count"},
      {"", "1", NULL, NULL, "user_count"},
      {"x", "1", NULL, NULL, "user_count"},
      {"-1", "1", NULL, NULL, "user_count"},
      {"1.5", "1", NULL, NULL, "user_count"},
      {"10000001", "1", NULL, NULL, "user_count"},
      {"1", NULL, NULL, NULL, "spawn_rate"},
      {"1", "0", NULL, NULL, "spawn_rate"},
      {"1", "-2", NULL, NULL, "spawn_rate"},
      {"1", "inf", NULL, NULL, "spawn_rate"},
      {"1", "nan", NULL, NULL, "spawn_rate"},
      {"1", "1x", NULL, NULL, "spawn_rate"},
      {"1", "1", NULL, "30x", "Valid run_time formats are"},
      {"1", "1", NULL, "-5", "Valid run_time formats are"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    c = swarm(f, bad[i].users, bad[i].rate, bad[i].host, bad[i].run_time, 400,
              bad[i].why);
    assert_int_equal(c.swarm, 0);
  }
  /* Locust's run_time: this test stops that long after the swarm. */
  c = swarm(f, "3", "1", NULL, "1h20m", 200, "started");
  assert_int_equal(c.has_run_time, 1);
  assert_true(c.run_time_ns == 4800ull * 1000000000ull);
  c = swarm(f, "3", "1", NULL, "20", 200, "started");
  assert_true(c.run_time_ns == 20ull * 1000000000ull);
  c = swarm(f, "3", "1", NULL, "", 200, "started");
  assert_int_equal(c.has_run_time, 0);
  assert_int_equal(f->compile_calls, 0);
  /* Nothing more while the run ends. */
  atomic_store(&f->r.state, RL__STATE_ENDING);
  c = swarm(f, "3", "1", NULL, NULL, 409, "ending");
  assert_int_equal(c.swarm, 0);
}

/* A host at /swarm: the same target (an origin keeps the path) changes
 * nothing; another is compiled by the hook and rides with the swarm, from
 * ready or stopped only; a compile error is the answer. */
static void test_swarm_host(void **state) {
  fixture *f = *state;
  /* While a test runs, another host is refused before compiling. */
  rl__runner_ctl c =
      swarm(f, "2", "1", "http://other:9", NULL, 409, "stop this one first");
  assert_int_equal(c.swarm, 0);
  assert_int_equal(f->compile_calls, 0);
  /* The run's own origin is its host: nothing to compile. */
  c = swarm(f, "2", "1", "http://127.0.0.1:8080", NULL, 200, "started");
  assert_int_equal(c.swarm, 1);
  assert_null(c.plan);
  assert_int_equal(f->compile_calls, 0);

  atomic_store(&f->r.state, RL__STATE_STOPPED);
  f->compile_fails = 1;
  c = swarm(f, "2", "1", "http://nowhere.invalid:1", NULL, 400,
            "host http://nowhere.invalid:1/hello: cannot resolve");
  assert_int_equal(c.swarm, 0);
  assert_string_equal(f->compiled, "http://nowhere.invalid:1/hello");
  assert_string_equal(f->api.target, "http://127.0.0.1:8080/hello");
  f->compile_fails = 0;
  c = swarm(f, "4", "2", "http://127.0.0.2:9090/", "30s", 200, "started");
  assert_int_equal(f->compile_calls, 2);
  assert_string_equal(f->compiled, "http://127.0.0.2:9090/hello");
  assert_string_equal(f->api.target, "http://127.0.0.2:9090/hello");
  assert_int_equal(c.swarm, 1);
  assert_int_equal(c.users, 4);
  assert_non_null(c.plan);
  assert_int_equal(c.plan->n_classes, 2);
  rl__plan_del(c.plan);
  /* A whole URL is the target. */
  c = swarm(f, "1", "1", "http://127.0.0.2:9090/other?x=1", NULL, 200,
            "started");
  assert_string_equal(f->api.target, "http://127.0.0.2:9090/other?x=1");
  rl__plan_del(c.plan);
  /* Without a hook the target cannot change. */
  f->api.compile = NULL;
  c = swarm(f, "1", "1", "http://elsewhere/", NULL, 400,
            "cannot change its target");
  assert_int_equal(c.swarm, 0);
}

/* A host that is not UTF-8 text, or is cut in the middle of a character
 * when the answer quotes it, still gets an answer that says why (found by
 * tests/fuzz/fuzz_web_swarm: the JSON could not hold it, and the answer
 * was an empty 500). */
static void test_swarm_host_not_text(void **state) {
  fixture *f = *state;
  atomic_store(&f->r.state, RL__STATE_STOPPED);
  rl__runner_ctl c = swarm(f, "2", "1",
                           "http://ex\x9f\x9f"
                           "ample.com",
                           NULL, 400, "not UTF-8");
  assert_int_equal(c.swarm, 0);
  assert_int_equal(f->compile_calls, 0);
  /* 250 two-byte characters: a quote cut at a byte count ends inside one. */
  char host[600] = "http://";
  for (int i = 0; i < 250; i++)
    strcat(host, "\xc3\xa9");
  atomic_store(&f->r.state, RL__STATE_RUNNING);
  c = swarm(f, "2", "1", host, NULL, 409, "stop this one first");
  assert_int_equal(c.swarm, 0);
  atomic_store(&f->r.state, RL__STATE_STOPPED);
  f->compile_fails = 1;
  c = swarm(f, "2", "1", host, NULL, 400, "cannot resolve");
  assert_int_equal(c.swarm, 0);
  f->compile_fails = 0;
}

/* Users per class (the plan's deal of the 7 users) and Locust's /tasks. */
static void test_classes_and_tasks(void **state) {
  fixture *f = *state;
  rl__web_answer a;
  rl__web_api_stats_requests(&f->api, &a);
  json_t *j = answer_json(&a, 200);
  json_t *want = json_pack("{s:i, s:i}", "Web", 6, "Admin", 1);
  assert_true(json_equal(json_object_get(j, "user_classes_count"), want));
  json_decref(want);
  json_decref(j);

  rl__web_api_tasks(&f->api, &a);
  j = answer_json(&a, 200);
  want = json_pack(
      "{s:{s:{s:f, s:{s:{s:f}, s:{s:f}}}, s:{s:f, s:{s:{s:f}}}},"
      " s:{s:{s:f, s:{s:{s:f}, s:{s:f}}}, s:{s:f, s:{s:{s:f}}}}}",
      "per_class", "Web", "ratio", 6.0 / 7, "tasks", "browse", "ratio", 0.75,
      "task 2", "ratio", 0.25, "Admin", "ratio", 1.0 / 7, "tasks", "audit",
      "ratio", 1.0, "total", "Web", "ratio", 6.0 / 7, "tasks", "browse",
      "ratio", 0.75 * (6.0 / 7), "task 2", "ratio", 0.25 * (6.0 / 7), "Admin",
      "ratio", 1.0 / 7, "tasks", "audit", "ratio", 1.0 / 7);
  assert_non_null(want);
  char *got = json_dumps(j, JSON_SORT_KEYS);
  char *exp = json_dumps(want, JSON_SORT_KEYS);
  assert_string_equal(got, exp);
  free(got);
  free(exp);
  json_decref(want);
  json_decref(j);

  /* Nobody running: every class's share is 0, as Locust's ("or 1"). */
  atomic_store(&f->workers[0].users_live, 0);
  atomic_store(&f->workers[1].users_live, 0);
  rl__web_api_tasks(&f->api, &a);
  j = answer_json(&a, 200);
  json_t *web = json_object_get(json_object_get(j, "total"), "Web");
  assert_true(json_number_value(json_object_get(web, "ratio")) == 0);
  json_t *browse = json_object_get(
      json_object_get(json_object_get(json_object_get(j, "per_class"), "Web"),
                      "tasks"),
      "browse");
  assert_true(json_number_value(json_object_get(browse, "ratio")) == 0.75);
  json_decref(j);
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Plays the runner's main loop for a stop: once the stop is asked, the
 * users "stop" (after a while) and the runner says stopped. */
static void *finish_stop_later(void *arg) {
  rl__runner *r = arg;
  for (int i = 0; i < 2000; i++) {
    pthread_mutex_lock(&r->ctl_lock);
    int asked = r->ctl.stop;
    pthread_mutex_unlock(&r->ctl_lock);
    if (asked)
      break;
    sleep_ms(1);
  }
  sleep_ms(50);
  pthread_mutex_lock(&r->state_lock);
  r->stops_done = r->stops_asked;
  atomic_store(&r->state, RL__STATE_STOPPED);
  pthread_cond_broadcast(&r->state_cond);
  pthread_mutex_unlock(&r->state_lock);
  return NULL;
}

static void test_stop_and_reset(void **state) {
  fixture *f = *state;
  rl__web_answer a;
  /* /stop answers once the run says stopped, not before. */
  pthread_t runner;
  assert_int_equal(pthread_create(&runner, NULL, finish_stop_later, &f->r), 0);
  rl__web_api_stop(&f->api, &a);
  assert_int_equal(atomic_load(&f->r.state), RL__STATE_STOPPED);
  pthread_join(runner, NULL);
  json_t *j = answer_json(&a, 200);
  json_t *want =
      json_pack("{s:b, s:s}", "success", 1, "message", "Test stopped");
  assert_true(json_equal(j, want));
  json_decref(want);
  json_decref(j);
  assert_int_equal(f->r.ctl.stop, 1);
  assert_int_equal(f->r.ctl.reset, 0);
  /* A reset is done before the answer: the stats are empty at once. */
  assert_int_equal(rl__stats_total(f->r.hub.stats)->num_requests, 100);
  rl__web_api_reset(&f->api, &a);
  assert_int_equal(a.status, 200);
  assert_int_equal(a.len, 2);
  assert_memory_equal(a.body, "ok", 2);
  free(a.body);
  assert_int_equal(rl__stats_total(f->r.hub.stats)->num_requests, 0);
  assert_int_equal(f->r.hub.history.n, 0);
}

static void test_metrics(void **state) {
  fixture *f = *state;
  rl__web_answer a;
  rl__web_api_metrics(&f->api, &a);
  assert_int_equal(a.status, 200);
  assert_string_equal(a.type, "text/plain; version=0.0.4; charset=utf-8");
  assert_non_null(strstr(a.body, "\nrpcload_users 7\n"));
  assert_non_null(strstr(
      a.body, "rpcload_requests_total{method=\"GET\",name=\"/hello\"} 100\n"));
  assert_non_null(strstr(a.body, "rpcload_state{state=\"running\"} 1\n"));
  assert_int_equal(a.filename[0], 0);
  free(a.body);
}

static void test_config_and_exceptions(void **state) {
  fixture *f = *state;
  rl__web_answer a;
  rl__web_api_config(&f->api, &a);
  json_t *j = answer_json(&a, 200);
  assert_string_equal(json_string_value(json_object_get(j, "host")),
                      f->api.target);
  assert_int_equal(json_integer_value(json_object_get(j, "users")), 5);
  assert_true(json_number_value(json_object_get(j, "spawn_rate")) == 2);
  assert_true(json_is_false(json_object_get(j, "auth")));
  assert_true(json_is_null(json_object_get(j, "run_time_s"))); /* no -t */
  assert_true(json_is_false(json_object_get(j, "full_history")));
  assert_string_equal(json_string_value(json_object_get(j, "version")),
                      RL_VERSION);
  json_decref(j);
  rl__web_api_exceptions(&f->api, &a);
  j = answer_json(&a, 200);
  json_t *want = json_pack("{s:[]}", "exceptions");
  assert_true(json_equal(j, want));
  json_decref(want);
  json_decref(j);
  /* A user class's exception: Locust's shape, counted, and the CSV row. */
  assert_int_equal(rl__stats_record_exception(f->r.hub.stats, "t.lua:4: boom",
                                              "Shop.pay", 2),
                   0);
  assert_int_equal(rl__stats_record_exception(f->r.hub.stats, "t.lua:4: boom",
                                              "Shop.pay", 1),
                   0);
  rl__web_api_exceptions(&f->api, &a);
  j = answer_json(&a, 200);
  want =
      json_pack("{s:[{s:i, s:s, s:s, s:s}]}", "exceptions", "count", 3, "msg",
                "t.lua:4: boom", "traceback", "Shop.pay", "nodes", "local");
  assert_true(json_equal(j, want));
  json_decref(want);
  json_decref(j);
  rl__web_api_csv(&f->api, RL__WEB_CSV_EXCEPTIONS, &a);
  assert_int_equal(a.status, 200);
  assert_string_equal(a.body, "Count,Message,Traceback,Nodes\r\n"
                              "3,t.lua:4: boom,Shop.pay,local\r\n");
  free(a.body);
}

static void test_reports(void **state) {
  fixture *f = *state;
  rl__web_answer a;
  rl__web_api_report_json(&f->api, &a);
  json_t *j = answer_json(&a, 200);
  assert_int_equal(json_integer_value(json_object_get(
                       json_object_get(j, "total"), "num_requests")),
                   100);
  assert_int_equal(json_array_size(json_object_get(j, "history")), 2);
  json_decref(j);

  rl__web_api_report_html(&f->api, 0, &a);
  assert_int_equal(a.status, 200);
  assert_string_equal(a.type, "text/html; charset=utf-8");
  assert_non_null(strstr(a.body, "id=\"rl-data\""));
  assert_int_equal(a.filename[0], 0);
  free(a.body);
  rl__web_api_report_html(&f->api, 1, &a);
  assert_int_equal(strncmp(a.filename, "rpcload_report_", 15), 0);
  assert_non_null(strstr(a.filename, ".html"));
  free(a.body);
}

static void test_csv(void **state) {
  fixture *f = *state;
  rl__web_answer a;
  rl__web_api_csv(&f->api, RL__WEB_CSV_EXCEPTIONS, &a);
  assert_int_equal(a.status, 200);
  assert_string_equal(a.body, rl__report_csv_exceptions_header);
  assert_int_equal(strncmp(a.filename, "exceptions_", 11), 0);
  free(a.body);
  static const struct {
    enum rl__web_csv kind;
    const char *header, *prefix;
  } files[] = {
      {RL__WEB_CSV_STATS, rl__report_csv_stats_header, "requests_"},
      {RL__WEB_CSV_HISTORY, rl__report_csv_history_header,
       "requests_full_history_"},
      {RL__WEB_CSV_FAILURES, rl__report_csv_failures_header, "failures_"},
  };
  /* The full history exists with --csv-full-history only (Locust's 404). */
  rl__web_api_csv(&f->api, RL__WEB_CSV_HISTORY, &a);
  assert_int_equal(a.status, 404);
  assert_string_equal(a.body, "Error: Server was not started with option to "
                              "generate full history.");
  assert_int_equal(a.filename[0], 0);
  free(a.body);
  f->cfg.full_history = 1;
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    rl__web_api_csv(&f->api, files[i].kind, &a);
    if (a.status == 501) { /* report_csv without in-memory texts */
      free(a.body);
      continue;
    }
    assert_int_equal(a.status, 200);
    assert_string_equal(a.type, "text/csv; charset=utf-8");
    assert_int_equal(strncmp(a.body, files[i].header, strlen(files[i].header)),
                     0);
    assert_int_equal(
        strncmp(a.filename, files[i].prefix, strlen(files[i].prefix)), 0);
    free(a.body);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_stats_requests, setup, teardown),
      cmocka_unit_test_setup_teardown(test_swarm, setup, teardown),
      cmocka_unit_test_setup_teardown(test_swarm_host, setup, teardown),
      cmocka_unit_test_setup_teardown(test_swarm_host_not_text, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_classes_and_tasks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stop_and_reset, setup, teardown),
      cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
      cmocka_unit_test_setup_teardown(test_config_and_exceptions, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_reports, setup, teardown),
      cmocka_unit_test_setup_teardown(test_csv, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

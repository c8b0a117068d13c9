/*
 * Fuzz target: the web UI's POST /swarm (Locust's form: user_count,
 * spawn_rate, host, run_time), from the form body to the answer:
 * rl__web_api_swarm's number and run-time parsing (rl__parse_duration),
 * the host rebased on the run's target (rl__url_rebase), compared with it,
 * and compiled (here: rl__url_parse, as the CLI's hook starts with), and
 * the JSON answer. The runner is built by hand as tests/unit/web/test_api.c
 * does, in the state the input's first byte picks (ready, running,
 * stopped).
 *
 * The input after that byte is the form body
 * (application/x-www-form-urlencoded). libmicrohttpd decodes it in
 * rpcload (web/ui.c); this harness decodes it the same way ('+', %XX,
 * fields past ui.c's 512 bytes refused), so that seeds are real forms.
 *
 * Checked beyond "no crash": every answer is a JSON object with
 * "success" and "message", status 200 exactly when it succeeded, and a
 * success asked the runner for the users and rate of the form.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <rpcload/plugin.h>

#include "base/clock.h"
#include "base/url.h"
#include "engine/plan.h"
#include "engine/runner.h"
#include "engine/worker.h"
#include "stats/stats.h"
#include "web/api.h"

#define FIELD_MAX 512 /* web/ui.c's */

static rl__run_config cfg;
static rl__runner runner;
static rl__worker workers[1];
static rl__web_api api;

static rl__plan *small_plan(void) {
  rl__plan *p = calloc(1, sizeof *p);
  if (p == NULL)
    return NULL;
  p->classes = calloc(1, sizeof *p->classes);
  if (p->classes == NULL) {
    free(p);
    return NULL;
  }
  p->n_classes = 1;
  p->classes[0].name = "Fuzz";
  p->classes[0].weight = 1;
  return p;
}

/* The CLI's hook, played: the target must be a URL. */
static int compile(void *arg, const char *target, rl__plan **plan, char *err,
                   size_t errlen) {
  (void)arg;
  rl__url u;
  int rc = rl__url_parse(target, &u, err, errlen);
  if (rc != 0)
    return rc;
  rl__url_free(&u);
  *plan = small_plan();
  return *plan ? 0 : RL_ERR_NOMEM;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  cfg.users = 5;
  cfg.spawn_rate = 2;
  runner.cfg = &cfg;
  rl__stats *stats = rl__stats_new();
  if (stats == NULL)
    abort();
  rl__stats_hub_init(&runner.hub, stats, 0);
  pthread_mutex_init(&runner.ctl_lock, NULL);
  pthread_mutex_init(&runner.state_lock, NULL);
  pthread_mutex_init(&runner.plan_lock, NULL);
  pthread_cond_init(&runner.state_cond, NULL);
  atomic_init(&runner.state, RL__STATE_READY);
  runner.own_plan = small_plan();
  runner.plan = runner.own_plan;
  runner.start_ns = rl__now_ns();
  atomic_init(&workers[0].want_users, 0);
  runner.workers = workers;
  runner.nworkers = 1;
  return 0;
}

static int hex(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Decodes `n` bytes of a form component into out (FIELD_MAX bytes);
 * -1 when it does not fit. */
static int decode(const char *s, size_t n, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '+') {
      c = ' ';
    } else if (c == '%' && i + 2 < n && hex(s[i + 1]) >= 0 &&
               hex(s[i + 2]) >= 0) {
      c = (char)(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    }
    if (o + 1 >= FIELD_MAX)
      return -1;
    out[o++] = c;
  }
  out[o] = '\0';
  return 0;
}

typedef struct form {
  char user_count[FIELD_MAX], spawn_rate[FIELD_MAX], host[FIELD_MAX],
      run_time[FIELD_MAX];
  int too_long;
} form;

static void parse_form(const char *body, size_t len, form *f) {
  const char *p = body, *end = body + len;
  while (p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *stop = amp ? amp : end;
    const char *eq = memchr(p, '=', (size_t)(stop - p));
    char key[FIELD_MAX];
    const char *kend = eq ? eq : stop;
    if (decode(p, (size_t)(kend - p), key) == 0) {
      char *field = strcmp(key, "user_count") == 0   ? f->user_count
                    : strcmp(key, "spawn_rate") == 0 ? f->spawn_rate
                    : strcmp(key, "host") == 0       ? f->host
                    : strcmp(key, "run_time") == 0   ? f->run_time
                                                     : NULL;
      if (field != NULL && eq != NULL &&
          decode(eq + 1, (size_t)(stop - eq - 1), field) != 0)
        f->too_long = 1;
    }
    p = stop + 1;
  }
}

static void check_answer(const rl__web_answer *a, const form *f) {
  if (a->body == NULL)
    abort();
  json_error_t jerr;
  json_t *j = json_loadb(a->body, a->len, 0, &jerr);
  if (j == NULL || !json_is_object(j))
    abort();
  json_t *ok = json_object_get(j, "success");
  if (!json_is_boolean(ok) || !json_is_string(json_object_get(j, "message")))
    abort();
  if ((a->status == 200) != json_is_true(ok))
    abort();
  if (a->status != 200 && a->status != 400 && a->status != 409)
    abort();
  if (a->status == 200) {
    /* What the form asked is what the runner was asked. */
    rl__runner_ctl *c = &runner.ctl;
    if (!c->swarm || (double)c->users != strtod(f->user_count, NULL) ||
        !(c->spawn_rate > 0) || !isfinite(c->spawn_rate))
      abort();
  }
  json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  static const int states[] = {RL__STATE_READY, RL__STATE_RUNNING,
                               RL__STATE_STOPPED};
  atomic_store(&runner.state, states[data[0] % 3]);
  form *f = calloc(1, sizeof *f);
  if (f == NULL)
    return 0;
  /* A fresh API: a swarm's new host would stay the target otherwise. */
  rl__web_api_options o = {.r = &runner,
                           .target = "http://127.0.0.1:8080/hello?x=1",
                           .plugin = "http1",
                           .users = 5,
                           .spawn_rate = 2,
                           .compile = compile};
  if (rl__web_api_init(&api, &o) != 0)
    abort();
  parse_form((const char *)data + 1, size - 1, f);
  rl__web_answer a;
  memset(&a, 0, sizeof a);
  if (f->too_long) {
    rl__web_api_refuse(&api, 400, "a form field is too long", &a);
  } else {
    rl__web_api_swarm(&api, f->user_count, f->spawn_rate, f->host, f->run_time,
                      &a);
  }
  check_answer(&a, f);
  free(a.body);
  /* The runner takes what was asked; the next input starts afresh. */
  rl__plan_del(runner.ctl.plan);
  memset(&runner.ctl, 0, sizeof runner.ctl);
  rl__web_api_free(&api);
  free(f);
  return 0;
}

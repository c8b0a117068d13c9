/*
 * cuser_run: runs two user classes written in C (include/rpcload/user.h)
 * against an nginx started by the test (tests/integration/test_cusers.py,
 * servers.py's locations /hello and /missing), through the engine's own
 * runner, and prints what happened as one JSON object on stdout:
 *
 *   cuser_run BASE_URL [--seconds S] [--users N] [--threads T] [--rate R]
 *             [--stop-timeout S] [--no-wait]
 *
 * Shopper (weight 3) branches on a status and carries values from one
 * request to the next: its task "shop" GETs /hello?page=login (capturing
 * the word after "hello" from the body), and only when that says 200,
 * GETs /hello?page=cart&w={{word}}&n={{visit}} with `visit` set by the
 * code from a counter kept in the user's data; its task "lost" GETs
 * /missing?page=login (nginx: 404) and sends the cart only on a 200 (never).
 * Pair (weight 1) sends /hello?page=a and /hello?page=b at once and ends
 * its task when both are done. With --rate R the open model runs them.
 * At the end, tasks get --stop-timeout (5 s) to finish; 0 cuts them.
 * --no-wait: no wait between tasks (users always have requests in flight).
 *
 * The JSON: "rows" (each stats row's type, name, requests, failures),
 * "cut" (requests cut at the stop), and "seen" (what the callbacks counted:
 * done calls per request, which branch each login took, users started and
 * their data freed), for the test to hold against the stats and nginx's
 * access log. Exit status: 0 ran, 1 the run or a check here failed (on
 * stderr), 2 bad usage.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rpcload/user.h>

#include "base/clock.h"
#include "engine/host.h"
#include "engine/plan.h"
#include "engine/plugin_loader.h"
#include "engine/profile.h"
#include "engine/runner.h"
#include "scenario/cclass.h"
#include "stats/stats.h"

/* What the callbacks saw, from every worker thread. */
static struct {
  atomic_ulong login_ok, login_other, cart_sent, missing_404, missing_other;
  atomic_ulong done_login, done_cart, done_missing, done_a, done_b;
  atomic_ulong pair_tasks, users_started, data_freed, send_errors;
  atomic_ulong bad_word; /* a cart sent without the captured word */
} seen;

/* ---- Shopper -------------------------------------------------------------- */

enum { LOGIN, CART, MISSING };

static const char *const shopper_requests[] = {
    [LOGIN] = "{http: 'GET /hello?page=login&u={{user_id}}', name: login, "
              "capture: {word: 'regex:hello (\\w+)'}}",
    [CART] = "{http: 'GET /hello?page=cart&w={{word}}&n={{visit}}', "
             "name: cart}",
    [MISSING] = "{http: 'GET /missing?page=login', name: login-missing}",
    NULL};

typedef struct shopper {
  unsigned visits;
} shopper;

static void send_or_end(rl_user *u, size_t request, rl_done_fn done) {
  int rc = rl_user_send(u, request, done, NULL);
  if (rc) {
    /* Refused (the user stops: on_stop is none here, so never): the task
     * ends without it. */
    atomic_fetch_add(&seen.send_errors, 1);
    rl_user_task_done(u);
  }
}

static void shopper_start(rl_user *u, void *arg) {
  (void)arg;
  shopper *s = calloc(1, sizeof *s);
  rl_user_set_data(u, s);
  atomic_fetch_add(&seen.users_started, 1);
  rl_user_task_done(u);
}

static void cart_done(rl_user *u, const rl_send_result *res, void *arg) {
  (void)arg;
  atomic_fetch_add(&seen.done_cart, 1);
  (void)res;
  rl_user_task_done(u);
}

static void login_done(rl_user *u, const rl_send_result *res, void *arg) {
  (void)arg;
  atomic_fetch_add(&seen.done_login, 1);
  if (res->status != 200) {
    atomic_fetch_add(&seen.login_other, 1);
    rl_user_task_done(u);
    return;
  }
  atomic_fetch_add(&seen.login_ok, 1);
  const char *word = rl_user_get_var(u, "word");
  if (!word || strcmp(word, "world") != 0)
    atomic_fetch_add(&seen.bad_word, 1);
  shopper *s = rl_user_data(u);
  char n[32];
  snprintf(n, sizeof n, "%u", ++s->visits);
  rl_user_set_var(u, "visit", n);
  atomic_fetch_add(&seen.cart_sent, 1);
  send_or_end(u, CART, cart_done);
}

static void shop_task(rl_user *u, void *arg) {
  (void)arg;
  send_or_end(u, LOGIN, login_done);
}

static void missing_done(rl_user *u, const rl_send_result *res, void *arg) {
  (void)arg;
  atomic_fetch_add(&seen.done_missing, 1);
  if (res->status == 200) {
    atomic_fetch_add(&seen.missing_other, 1);
    atomic_fetch_add(&seen.cart_sent, 1);
    send_or_end(u, CART, cart_done);
    return;
  }
  if (res->status == 404 && res->error)
    atomic_fetch_add(&seen.missing_404, 1);
  rl_user_task_done(u);
}

static void lost_task(rl_user *u, void *arg) {
  (void)arg;
  send_or_end(u, MISSING, missing_done);
}

/* Either class's user data, once the user has stopped. */
static void free_data(void *data, void *arg) {
  (void)arg;
  free(data);
  atomic_fetch_add(&seen.data_freed, 1);
}

static const rl_task shopper_tasks[] = {
    {.name = "shop", .weight = 3, .fn = shop_task},
    {.name = "lost", .weight = 1, .fn = lost_task},
};

/* ---- Pair ----------------------------------------------------------------- */

static const char *const pair_requests[] = {
    "{http: 'GET /hello?page=a', name: a}",
    "{http: 'GET /hello?page=b', name: b}", NULL};

/* What a Pair user's task has in flight (its data). */
typedef struct pair {
  int pending;
} pair;

static void pair_done(rl_user *u, const rl_send_result *res, void *arg) {
  atomic_fetch_add(arg ? &seen.done_b : &seen.done_a, 1);
  (void)res;
  pair *p = rl_user_data(u);
  if (--p->pending == 0)
    rl_user_task_done(u);
}

static void pair_task(rl_user *u, void *arg) {
  (void)arg;
  pair *p = rl_user_data(u);
  if (!p) {
    p = calloc(1, sizeof *p);
    rl_user_set_data(u, p);
  }
  atomic_fetch_add(&seen.pair_tasks, 1);
  p->pending = 0;
  /* Both at once: each done counts one down, the last ends the task. */
  if (rl_user_send(u, 0, pair_done, NULL) == 0)
    p->pending++;
  if (rl_user_send(u, 1, pair_done, &seen) == 0)
    p->pending++;
  if (!p->pending) {
    atomic_fetch_add(&seen.send_errors, 1);
    rl_user_task_done(u);
  }
}

static const rl_task pair_tasks[] = {{.name = "both", .fn = pair_task}};

/* ---- the run --------------------------------------------------------------- */

static int usage(void) {
  fprintf(stderr, "usage: cuser_run BASE_URL [--seconds S] [--users N] "
                  "[--threads T] [--rate R] [--stop-timeout S] [--no-wait]\n");
  return 2;
}

static void print_json(rl__stats *stats, uint64_t cut) {
  const rl__stats_entry **all;
  size_t n = rl__stats_entries(stats, &all);
  printf("{\"rows\": [");
  for (size_t i = 0; i < n; i++)
    printf("%s{\"type\": \"%s\", \"name\": \"%s\", \"requests\": %llu, "
           "\"failures\": %llu}",
           i ? ", " : "", all[i]->type, all[i]->name,
           (unsigned long long)all[i]->num_requests,
           (unsigned long long)all[i]->num_failures);
  printf("], \"cut\": %llu, \"seen\": {", (unsigned long long)cut);
#define SEEN(name, last)                                                       \
  printf("\"" #name "\": %lu%s", atomic_load(&seen.name), (last) ? "" : ", ")
  SEEN(login_ok, 0);
  SEEN(login_other, 0);
  SEEN(cart_sent, 0);
  SEEN(missing_404, 0);
  SEEN(missing_other, 0);
  SEEN(done_login, 0);
  SEEN(done_cart, 0);
  SEEN(done_missing, 0);
  SEEN(done_a, 0);
  SEEN(done_b, 0);
  SEEN(pair_tasks, 0);
  SEEN(users_started, 0);
  SEEN(data_freed, 0);
  SEEN(send_errors, 0);
  SEEN(bad_word, 1);
#undef SEEN
  printf("}}\n");
}

int main(int argc, char **argv) {
  if (argc < 2)
    return usage();
  const char *base_url = argv[1];
  double seconds = 2, rate = 0, stop_timeout = 5;
  int no_wait_given = 0;
  unsigned users = 8, threads = 2;
  for (int i = 2; i < argc; i++) {
    if (strcmp(argv[i], "--no-wait") == 0) {
      no_wait_given = 1;
      continue;
    }
    if (i + 1 >= argc)
      return usage();
    if (strcmp(argv[i], "--seconds") == 0)
      seconds = atof(argv[++i]);
    else if (strcmp(argv[i], "--users") == 0)
      users = (unsigned)atoi(argv[++i]);
    else if (strcmp(argv[i], "--threads") == 0)
      threads = (unsigned)atoi(argv[++i]);
    else if (strcmp(argv[i], "--rate") == 0)
      rate = atof(argv[++i]);
    else if (strcmp(argv[i], "--stop-timeout") == 0)
      stop_timeout = atof(argv[++i]);
    else
      return usage();
  }
  if (!(seconds > 0) || !users || !threads || !(stop_timeout >= 0))
    return usage();

  rl__plugin_set plugins;
  rl__plugin_set_init(&plugins, rl__host());
  const char *dir = getenv("RPCLOAD_PLUGIN_DIR");
  if (dir && rl__plugin_set_add_dir(&plugins, dir)) {
    fprintf(stderr, "cuser_run: out of memory\n");
    return 1;
  }
  /* Every plugin of the build, as the command line loads them for -f. */
  rl__plugin_set_scan(&plugins, NULL, NULL);
  rl_user_class shopper_class = {.struct_size = sizeof shopper_class,
                                 .name = "Shopper",
                                 .weight = 3,
                                 .wait_time = "constant(0.02)",
                                 .requests = shopper_requests,
                                 .tasks = shopper_tasks,
                                 .n_tasks = 2,
                                 .on_start = shopper_start,
                                 .free_data = free_data};
  rl_user_class pair_class = {.struct_size = sizeof pair_class,
                              .name = "Pair",
                              .weight = 1,
                              .wait_time = "between(0.01, 0.03)",
                              .requests = pair_requests,
                              .tasks = pair_tasks,
                              .n_tasks = 1,
                              .free_data = free_data};
  if (no_wait_given)
    shopper_class.wait_time = pair_class.wait_time = NULL;
  const rl_user_class *classes[] = {&shopper_class, &pair_class};
  rl__target_options base = {0};
  rl__wait no_wait = {0};
  rl__scn_compile_options po = {.base = &base,
                                .host = base_url,
                                .users = users,
                                .default_wait = &no_wait};
  rl__plan *plan = NULL;
  char err[1024];
  if (rl__cclass_plan(&plugins, NULL, classes, 2, &po, &plan, err,
                      sizeof err)) {
    fprintf(stderr, "cuser_run: %s\n", err);
    rl__plugin_set_free(&plugins);
    return 1;
  }
  rl__profile profile = {0};
  rl__run_config cfg = {.users = users,
                        .spawn_rate = users * 10.0,
                        .run_time_ns = (uint64_t)(seconds * 1e9),
                        .threads = threads,
                        /* By default tasks in flight at the end finish:
                         * nothing cut, so nginx's log and the stats
                         * agree. 0: they are cut. */
                        .stop_timeout_ns = (uint64_t)(stop_timeout * 1e9),
                        .seed = 1,
                        .plan = plan};
  if (rate > 0) {
    /* The open model: arrivals drawn over the classes by weight, run by a
     * pool of `users`. */
    rl__profile_constant(&profile, rate);
    cfg.rate = &profile;
    cfg.spawn_rate = users;
    cfg.max_queue = users;
  }
  rl__stats *stats = rl__stats_new();
  rl__runner runner;
  int rc = stats
               ? rl__runner_run(&runner, &cfg, plugins.host, NULL, stats, NULL)
               : RL_ERR_NOMEM;
  if (rc == 0)
    print_json(stats, runner.cut_requests);
  else
    fprintf(stderr, "cuser_run: the run did not start (%d)\n", rc);
  if (stats)
    rl__runner_free(&runner);
  rl__stats_del(stats);
  rl__profile_free(&profile);
  rl__plan_del(plan);
  rl__plugin_set_free(&plugins);
  return rc ? 1 : 0;
}

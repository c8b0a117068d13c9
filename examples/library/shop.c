/*
 * A user class written in C, run through librpcload (docs/cusers.md,
 * docs/library.md): what a scenario cannot say. Each "browse" task logs
 * in and, only when the login answered 200, fetches a cart whose URL
 * carries the user's visit count (a variable the code sets); each "lost"
 * task asks for a page that does not exist and goes no further.
 *
 *   cc shop.c $(pkg-config --cflags --libs rpcload) -o shop
 *   ./shop http://127.0.0.1:8080 4 2        # URL, users, seconds
 *
 * Prints the stats rows and what the callbacks counted; exits 1 when they
 * disagree.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rpcload/rpcload.h>

enum { LOGIN, CART, LOST };

static const char *const requests[] = {
    [LOGIN] = "{http: GET /hello, name: login}",
    [CART] = "{http: 'GET /hello?cart={{visit}}', name: cart}",
    [LOST] = "{http: GET /no-such-page, name: lost}",
    NULL,
};

/* What the callbacks saw, across worker threads. */
static atomic_ullong logins_ok, carts, lost_404;

static void cart_done(rl_user *u, const rl_send_result *res, void *arg) {
  (void)arg;
  if (!res->error)
    atomic_fetch_add(&carts, 1);
  rl_user_task_done(u);
}

static void login_done(rl_user *u, const rl_send_result *res, void *arg) {
  (void)arg;
  if (res->status != 200) { /* no login, no cart */
    rl_user_task_done(u);
    return;
  }
  atomic_fetch_add(&logins_ok, 1);
  /* Per-user state: the visit count, kept in the user's data. */
  unsigned long *visits = rl_user_data(u);
  if (!visits) {
    visits = calloc(1, sizeof *visits);
    rl_user_set_data(u, visits);
  }
  char n[32];
  snprintf(n, sizeof n, "%lu", visits ? ++*visits : 0);
  rl_user_set_var(u, "visit", n);
  if (rl_user_send(u, CART, cart_done, NULL))
    rl_user_task_done(u);
}

static void browse(rl_user *u, void *arg) {
  (void)arg;
  if (rl_user_send(u, LOGIN, login_done, NULL))
    rl_user_task_done(u);
}

static void lost_done(rl_user *u, const rl_send_result *res, void *arg) {
  (void)arg;
  if (res->status == 404 && res->error)
    atomic_fetch_add(&lost_404, 1);
  rl_user_task_done(u);
}

static void lost(rl_user *u, void *arg) {
  (void)arg;
  if (rl_user_send(u, LOST, lost_done, NULL))
    rl_user_task_done(u);
}

static void free_visits(void *data, void *arg) {
  (void)arg;
  free(data);
}

static const rl_task tasks[] = {
    {.name = "browse", .weight = 3, .fn = browse},
    {.name = "lost", .weight = 1, .fn = lost},
};

static int print_row(const rl_stats_entry *e, void *arg) {
  (void)arg;
  printf("row %s requests=%llu failures=%llu\n", rl_entry_name(e),
         (unsigned long long)rl_entry_num_requests(e),
         (unsigned long long)rl_entry_num_failures(e));
  return 0;
}

static uint64_t requests_of(const rl_stats *s, const char *name) {
  for (size_t i = 0; i < rl_stats_count(s); i++) {
    const rl_stats_entry *e = rl_stats_at(s, i);
    if (strcmp(rl_entry_name(e), name) == 0)
      return rl_entry_num_requests(e);
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s URL [USERS [SECONDS]]\n", argv[0]);
    return 2;
  }
  unsigned users = argc > 2 ? (unsigned)atoi(argv[2]) : 4;
  double seconds = argc > 3 ? atof(argv[3]) : 2;
  rl_user_class shopper = {
      .struct_size = sizeof shopper,
      .name = "Shopper",
      .requests = requests,
      .tasks = tasks,
      .n_tasks = sizeof tasks / sizeof tasks[0],
      .wait_time = "constant(0.01)",
      .free_data = free_visits,
  };
  rl_error_info err = {0};
  rl_options *o = rl_options_new();
  rl_env *env = NULL;
  if (!o || rl_options_set(o, "target", argv[1], &err) ||
      rl_options_set(o, "stop-timeout", "5s", &err) ||
      rl_env_new(o, &env, &err) || rl_env_add_user_class(env, &shopper, &err) ||
      rl_env_start(env, users, 100, &err)) {
    fprintf(stderr, "shop: %s\n", err.text);
    rl_options_free(o);
    rl_env_free(env);
    return 2;
  }
  rl_options_free(o);
  rl_env_wait(env, seconds);
  rl_env_stop(env); /* every task finishes: the figures are final */
  rl_stats *s = rl_env_stats(env);
  int ok = 0;
  if (s) {
    rl_stats_foreach(s, print_row, NULL);
    printf("callbacks logins_ok=%llu carts=%llu lost_404=%llu\n",
           (unsigned long long)atomic_load(&logins_ok),
           (unsigned long long)atomic_load(&carts),
           (unsigned long long)atomic_load(&lost_404));
    ok = requests_of(s, "cart") == atomic_load(&carts) &&
         requests_of(s, "login") == atomic_load(&logins_ok) &&
         requests_of(s, "lost") == atomic_load(&lost_404);
    rl_stats_free(s);
  }
  rl_env_quit(env);
  rl_env_free(env);
  return ok ? 0 : 1;
}

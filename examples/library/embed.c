/*
 * Embedding rpcload (docs/library.md): a program that runs a load test
 * through librpcload, steered as a Locust script steers its runner, and
 * reads the stats itself.
 *
 *   cc embed.c $(pkg-config --cflags --libs rpcload) -o embed
 *   ./embed http://127.0.0.1:8080/hello 10 3
 *
 * Starts USERS users (default 10) against the URL, lets them run SECONDS
 * (default 3), stops them, and prints each stats row and the 95th
 * percentile; it also counts every request on the worker threads with a
 * request listener and checks that the count equals the stats'.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <rpcload/rpcload.h>

/* Called on the worker threads, once per request the stats count. */
static const char *count_request(void *ctx, const rl_request_event *ev) {
  (void)ev;
  atomic_fetch_add_explicit((atomic_ullong *)ctx, 1, memory_order_relaxed);
  return NULL; /* the outcome stays as it is */
}

static int print_row(const rl_stats_entry *e, void *arg) {
  (void)arg;
  printf("row %s %s requests=%llu failures=%llu median_ms=%.2f\n",
         rl_entry_type(e), rl_entry_name(e),
         (unsigned long long)rl_entry_num_requests(e),
         (unsigned long long)rl_entry_num_failures(e), rl_entry_median_ms(e));
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s URL [USERS [SECONDS]]\n", argv[0]);
    return 2;
  }
  if (rl_api_version() >> 16 != RL_API_MAJOR) {
    fprintf(stderr, "librpcload API %u.%u, built for %d.%d\n",
            rl_api_version() >> 16, rl_api_version() & 0xffff, RL_API_MAJOR,
            RL_API_MINOR);
    return 2;
  }
  unsigned users = argc > 2 ? (unsigned)atoi(argv[2]) : 10;
  double seconds = argc > 3 ? atof(argv[3]) : 3;

  rl_error_info err = {0};
  rl_options *o = rl_options_new();
  rl_env *env = NULL;
  if (!o || rl_options_set(o, "target", argv[1], &err) ||
      rl_options_set(o, "threads", "2", &err) ||
      /* Requests in flight at the stop finish and count (else cut). */
      rl_options_set(o, "stop-timeout", "5s", &err) ||
      rl_env_new(o, &env, &err)) {
    fprintf(stderr, "embed: %s\n", err.text);
    rl_options_free(o);
    return 2;
  }
  rl_options_free(o);

  atomic_ullong seen = 0;
  if (rl_env_on_request(env, count_request, &seen, &err) ||
      rl_env_start(env, users, 100, &err)) {
    fprintf(stderr, "embed: %s\n", err.text);
    rl_env_free(env);
    return 2;
  }
  /* No --run-time: the test runs until stopped; wait() times out. */
  if (rl_env_wait(env, seconds) != RL_ERR_TIMEOUT)
    fprintf(stderr, "embed: the test ended early\n");
  printf("state %s users %u\n", rl_env_state(env), rl_env_user_count(env));
  rl_env_stop(env); /* every figure final from here */

  rl_stats *s = rl_env_stats(env);
  if (!s) {
    fprintf(stderr, "embed: no stats\n");
    rl_env_free(env);
    return 1;
  }
  rl_stats_foreach(s, print_row, NULL);
  const rl_stats_entry *t = rl_stats_total(s);
  printf("total requests=%llu failures=%llu p95_ms=%.2f rps=%.1f\n",
         (unsigned long long)rl_entry_num_requests(t),
         (unsigned long long)rl_entry_num_failures(t),
         rl_entry_percentile_ms(t, 0.95), rl_entry_rps(t));
  printf("listener requests=%llu\n", (unsigned long long)atomic_load(&seen));
  int same = atomic_load(&seen) == rl_entry_num_requests(t);
  rl_stats_free(s);
  rl_env_quit(env);
  rl_env_free(env);
  return same ? 0 : 1;
}

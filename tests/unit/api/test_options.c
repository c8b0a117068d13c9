/* api/options.c: the default worker threads follow the CPU affinity mask,
 * options from ghz and k6 get rpcload's equivalent (api/habits.c), and the
 * cluster's host and port options name what is wrong (api/cluster.c). */
#define _GNU_SOURCE /* sched_setaffinity */
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api/habits.h"
#include "api/options.h"

/* Parses the NULL-ended argv; returns what rl__api_options_parse did, its
 * error in err. */
static int parse(rl__api_options *o, char *err, size_t errlen, ...) {
  static char store[16][64];
  char *argv[17];
  int argc = 0;
  va_list ap;
  va_start(ap, errlen);
  for (const char *a; argc < 16 && (a = va_arg(ap, const char *));) {
    snprintf(store[argc], sizeof store[argc], "%s", a);
    argv[argc] = store[argc];
    argc++;
  }
  va_end(ap);
  argv[argc] = NULL;
  err[0] = 0;
  return rl__api_options_parse(o, argc, argv, err, errlen);
}

static void test_threads_follow_the_affinity_mask(void **state) {
  (void)state;
  cpu_set_t old, one;
  assert_int_equal(sched_getaffinity(0, sizeof old, &old), 0);
  rl__api_options o;
  char err[512];
  assert_int_equal(parse(&o, err, sizeof err, "rpcload", "-u", "50", NULL), 0);
  assert_int_equal(o.run.threads, CPU_COUNT(&old));
  rl__api_options_free(&o);
  /* As under taskset -c N: one CPU allowed, one worker thread. */
  int cpu = -1;
  for (int i = 0; i < CPU_SETSIZE && cpu < 0; i++)
    if (CPU_ISSET(i, &old))
      cpu = i;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  assert_int_equal(sched_setaffinity(0, sizeof one, &one), 0);
  int rc = parse(&o, err, sizeof err, "rpcload", "-u", "50", NULL);
  uint32_t threads = o.run.threads;
  rl__api_options_free(&o);
  assert_int_equal(sched_setaffinity(0, sizeof old, &old), 0);
  assert_int_equal(rc, 0);
  assert_int_equal(threads, 1);
}

static void test_ghz_and_k6_habits_get_a_pointer(void **state) {
  (void)state;
  static const struct {
    const char *opt, *value, *says;
  } cases[] = {
      {"-c", "10",
       "unknown option '-c': ghz's -c (concurrent workers) is "
       "rpcload's -u N"},
      {"-c10", NULL, "unknown option '-c': ghz's -c"},
      {"--concurrency", "10", "ghz's --concurrency is rpcload's -u/--users"},
      {"-z", "10s",
       "unknown option '-z': ghz's -z (how long to run) is "
       "rpcload's -t/--run-time"},
      {"-x", "1m", "ghz's -x (the longest a run may take) is rpcload's -t"},
      {"--duration", "30s", "k6's and ghz's --duration is rpcload's -t"},
      {"--vus", "10", "unknown option '--vus': k6's --vus is rpcload's -u"},
      {"--rps=200", NULL,
       "unknown option '--rps': ghz's --rps N is rpcload's --rate N"},
      {"--total", "100",
       "ghz's --total/-n (a number of requests) is rpcload's "
       "-n/--iterations N"},
      {"-R", "100", "wrk2's -R N is rpcload's --rate N"},
      {"--format", "json", "ghz's --format: rpcload writes --json"},
      {"--skipTLS", NULL, "ghz's --skipTLS is rpcload's --insecure"},
      {"-O", "json",
       "invalid --option 'json': expected KEY=VALUE, an option "
       "for the protocol plugin (ghz's -O is an output format"},
      {"--nonsense", NULL, "unknown option '--nonsense'"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    rl__api_options o;
    char err[512];
    int rc = cases[i].value
                 ? parse(&o, err, sizeof err, "rpcload", cases[i].opt,
                         cases[i].value, "127.0.0.1:1", NULL)
                 : parse(&o, err, sizeof err, "rpcload", cases[i].opt,
                         "127.0.0.1:1", NULL);
    rl__api_options_free(&o);
    assert_int_equal(rc, RL_ERR_INVAL);
    if (!strstr(err, cases[i].says))
      fail_msg("%s: '%s' does not say '%s'", cases[i].opt, err, cases[i].says);
  }
  /* Not a habit: no pointer. */
  assert_null(rl__api_habit_hint("--nonsense"));
  assert_non_null(rl__api_habit_hint("--rps=5"));
}

/* Every host and port option of the cluster refuses the same bad values in
 * the same words, naming the option and the value. */
static void test_cluster_hosts_and_ports_say_what_is_wrong(void **state) {
  (void)state;
  static const struct {
    const char *role, *opt, *value, *says;
  } cases[] = {
      {"--worker", "--master-port", "0",
       "invalid --master-port '0': expected 1 to 65535"},
      {"--worker", "--master-port", "65536",
       "invalid --master-port '65536': expected 1 to 65535"},
      {"--worker", "--master-port", "55x",
       "invalid --master-port '55x': expected 1 to 65535"},
      {"--master", "--master-bind-port", "0",
       "invalid --master-bind-port '0': expected 1 to 65535"},
      {"--master", "--master-bind-port", "-1",
       "invalid --master-bind-port '-1': expected 1 to 65535"},
      {"--worker", "--master-host", "", "--master-host: empty host"},
      {"--master", "--master-bind-host", "", "--master-bind-host: empty host"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    rl__api_options o;
    char err[512];
    int rc = parse(&o, err, sizeof err, "rpcload", cases[i].role, cases[i].opt,
                   cases[i].value, "127.0.0.1:1", NULL);
    rl__api_options_free(&o);
    assert_int_equal(rc, RL_ERR_INVAL);
    if (strcmp(err, cases[i].says) != 0)
      fail_msg("%s '%s': '%s', not '%s'", cases[i].opt, cases[i].value, err,
               cases[i].says);
  }
  /* The edges of the range are ports. */
  static const char *const good[][3] = {
      {"--worker", "--master-port", "1"},
      {"--worker", "--master-port", "65535"},
      {"--master", "--master-bind-port", "65535"},
  };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    rl__api_options o;
    char err[512];
    int rc = parse(&o, err, sizeof err, "rpcload", good[i][0], good[i][1],
                   good[i][2], "127.0.0.1:1", NULL);
    rl__api_options_free(&o);
    if (rc != 0)
      fail_msg("%s %s: %s", good[i][1], good[i][2], err);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_threads_follow_the_affinity_mask),
      cmocka_unit_test(test_ghz_and_k6_habits_get_a_pointer),
      cmocka_unit_test(test_cluster_hosts_and_ports_say_what_is_wrong),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

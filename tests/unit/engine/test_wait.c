/* Wait strategies: Locust's, exactly as locust/user/wait_time.py computes
 * them, and wrk2's schedule. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <rpcload/plugin.h>

#include "engine/wait.h"

#define S 1000000000ull

static rl__wait parse_ok(const char *spec) {
  rl__wait w;
  char err[256] = "";
  int rc = rl__wait_parse(spec, &w, err, sizeof err);
  if (rc)
    fail_msg("'%s' refused: %s", spec, err);
  return w;
}

static void test_constant(void **state) {
  (void)state;
  rl__wait w = parse_ok("constant:1.5");
  uint64_t rng = 1;
  rl__wait_state st = {0};
  assert_int_equal(rl__wait_task_start(&w, &st, 10 * S, 0), 10 * S);
  assert_int_equal(rl__wait_after_task(&w, &st, 13 * S, &rng), 1500000000ull);
  /* From the send, whether the timer started it or not. */
  assert_int_equal(rl__wait_task_start(&w, &st, 15 * S, 1), 15 * S);
  w = parse_ok("none");
  assert_int_equal(rl__wait_after_task(&w, &st, 20 * S, &rng), 0);
}

static void test_between_is_uniform_in_range(void **state) {
  (void)state;
  rl__wait w = parse_ok("between:0.5,2");
  uint64_t rng = 42, min = UINT64_MAX, max = 0;
  rl__wait_state st = {0};
  double sum = 0;
  const int n = 100000;
  for (int i = 0; i < n; i++) {
    uint64_t v = rl__wait_after_task(&w, &st, 0, &rng);
    assert_true(v >= S / 2 && v <= 2 * S);
    min = v < min ? v : min;
    max = v > max ? v : max;
    sum += (double)v;
  }
  /* Uniform on [0.5, 2]: mean 1.25 s, and both ends are reached. */
  assert_true(sum / n > 1.24e9 && sum / n < 1.26e9);
  assert_true(min < S / 2 + S / 100);
  assert_true(max > 2 * S - S / 100);
  /* The same seed gives the same waits (--seed). */
  uint64_t a = 7, b = 7;
  for (int i = 0; i < 100; i++)
    assert_int_equal(rl__wait_after_task(&w, &st, 0, &a),
                     rl__wait_after_task(&w, &st, 0, &b));
}

/* One task of the user: starts at `start` (`waited`: by its timer), ends at
 * `end`. Returns the wait after it; *from is where its first response
 * time counts from. */
static uint64_t task(const rl__wait *w, rl__wait_state *st, uint64_t start,
                     int waited, uint64_t end, uint64_t *from) {
  uint64_t rng = 1;
  *from = rl__wait_task_start(w, st, start, waited);
  return rl__wait_after_task(w, st, end, &rng);
}

static void test_pacing_is_locusts(void **state) {
  (void)state;
  rl__wait w = parse_ok("pacing:2");
  rl__wait_state st = {0};
  uint64_t from;
  /* The user's first task, 10 to 10.5 s: the whole period after it, as
   * Locust 2.12's first call of wait_time_func. */
  assert_int_equal(task(&w, &st, 10 * S, 0, 10 * S + S / 2, &from), 2 * S);
  assert_int_equal(from, 10 * S);
  /* Its timer fires 1 ms late (at 12.501 s) and the task ends at 13 s:
   * it took 0.5 s counted from when it was due, 12.5 s, as Locust counts
   * it, so the pace does not drift with the timer's slack. */
  assert_int_equal(task(&w, &st, 12 * S + S / 2 + S / 1000, 1, 13 * S, &from),
                   3 * S / 2);
  assert_int_equal(from, 12 * S + S / 2 + S / 1000); /* from the send */
  /* The next, due at 14.5 s, takes 5 s: no wait after it... */
  assert_int_equal(task(&w, &st, 14 * S + S / 2, 1, 19 * S, &from), 0);
  /* ...and the one after starts at once, counting from its send, with the
   * pace afresh from there: 19.1 to 21, not a backlog of missed tasks. */
  assert_int_equal(task(&w, &st, 19 * S, 0, 19 * S + S / 10, &from),
                   2 * S - S / 10);
  assert_int_equal(from, 19 * S);
  assert_int_equal(task(&w, &st, 21 * S, 1, 21 * S + S / 10, &from),
                   2 * S - S / 10);
}

static void test_throughput_is_pacing_of_inverse(void **state) {
  (void)state;
  rl__wait w = parse_ok("throughput:4");
  rl__wait_state st = {0};
  uint64_t from;
  assert_int_equal(w.kind, RL__WAIT_PACING);
  assert_int_equal(w.a_ns, S / 4);
  /* The first wait is the whole period, then what is left of it. */
  assert_int_equal(task(&w, &st, 0, 0, S / 10, &from), S / 4);
  /* Due at 0.35 s, it takes 0.15 s: 0.1 s left. */
  assert_int_equal(task(&w, &st, S / 10 + S / 4, 1, S / 2, &from), S / 10);
  /* Tasks of 1.5 s each: every one starts at once when the last ends, and
   * counts from its send (Locust's 1.5 s each, not 1.5, 2.75, 4...). */
  for (uint64_t t = S; t < 10 * S; t += 3 * S / 2) {
    assert_int_equal(task(&w, &st, t, 0, t + 3 * S / 2, &from), 0);
    assert_int_equal(from, t);
  }
}

static void test_schedule_is_wrk2s(void **state) {
  (void)state;
  rl__wait w = parse_ok("schedule:1");
  rl__wait_state st = {0};
  uint64_t from;
  assert_int_equal(w.kind, RL__WAIT_SCHEDULE);
  /* Due at 0, 1, 2, ...: the first task takes 3.5 s. */
  assert_int_equal(task(&w, &st, 0, 0, 7 * S / 2, &from), 0);
  assert_int_equal(from, 0);
  /* The tasks due at 1, 2 and 3 s go at once, each counting from when it
   * was due (latency from the intended start, wrk2's correction). */
  assert_int_equal(task(&w, &st, 7 * S / 2, 0, 7 * S / 2 + S / 100, &from), 0);
  assert_int_equal(from, 1 * S);
  assert_int_equal(
      task(&w, &st, 7 * S / 2 + S / 100, 0, 7 * S / 2 + S / 50, &from), 0);
  assert_int_equal(from, 2 * S);
  /* Caught up: the one due at 3 s ends at 3.6 s and 4 s is waited for. */
  assert_int_equal(task(&w, &st, 7 * S / 2 + S / 50, 0, 36 * S / 10, &from),
                   4 * S / 10);
  assert_int_equal(from, 3 * S);
  /* Started by its timer a little late: from the send (the timer's slack
   * is the client's). */
  assert_int_equal(task(&w, &st, 4 * S + S / 1000, 1, 4 * S + S / 10, &from),
                   9 * S / 10);
  assert_int_equal(from, 4 * S + S / 1000);
}

static void test_exponential_has_its_mean(void **state) {
  (void)state;
  rl__wait w = parse_ok("exponential:2");
  rl__wait_state st = {0};
  uint64_t rng = 9;
  double sum = 0;
  size_t over_mean = 0;
  const int n = 200000;
  for (int i = 0; i < n; i++) {
    uint64_t v = rl__wait_after_task(&w, &st, 0, &rng);
    sum += (double)v;
    over_mean += v > 2 * S;
  }
  /* Mean 2 s; P(X > mean) = 1/e for an exponential. */
  assert_true(sum / n > 1.98e9 && sum / n < 2.02e9);
  assert_true(fabs((double)over_mean / n - exp(-1.0)) < 0.01);
}

static void test_sequence_walks_its_list_and_loops(void **state) {
  (void)state;
  rl__wait w = parse_ok("sequence:1,0.5,0,2");
  rl__wait_state st = {0};
  uint64_t rng = 1;
  const uint64_t want[] = {S, S / 2, 0, 2 * S, S, S / 2};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    assert_int_equal(rl__wait_after_task(&w, &st, 0, &rng), want[i]);
  /* Another user starts at the beginning of the list. */
  rl__wait_state other = {0};
  assert_int_equal(rl__wait_after_task(&w, &other, 0, &rng), S);
  /* As long as a sequence may be, and one more refused. */
  char spec[256] = "sequence:1";
  for (int i = 1; i < RL__WAIT_SEQUENCE_MAX; i++)
    strcat(spec, ",1");
  w = parse_ok(spec);
  assert_int_equal(w.n, RL__WAIT_SEQUENCE_MAX);
  strcat(spec, ",1");
  char err[256] = "";
  assert_int_equal(rl__wait_parse(spec, &w, err, sizeof err), RL_ERR_INVAL);
  assert_non_null(strstr(err, "at most 32"));
}

static void test_bad_specs(void **state) {
  (void)state;
  const char *bad[] = {"",
                       "constant",
                       "constant:",
                       "constant:x",
                       "constant:-1",
                       "between:2,1",
                       "between:1",
                       "between:a,b",
                       "throughput:0",
                       "pacing:0",
                       "sometimes:1",
                       "none:1",
                       "schedule:0",
                       "schedule:",
                       "exponential:0",
                       "exponential:x",
                       "sequence:",
                       "sequence:1,,2",
                       "sequence:1,a"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    rl__wait w;
    char err[256] = "";
    assert_int_equal(rl__wait_parse(bad[i], &w, err, sizeof err), RL_ERR_INVAL);
    assert_true(strlen(err) > 10); /* a reason for the person who typed it */
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_constant),
      cmocka_unit_test(test_between_is_uniform_in_range),
      cmocka_unit_test(test_pacing_is_locusts),
      cmocka_unit_test(test_throughput_is_pacing_of_inverse),
      cmocka_unit_test(test_schedule_is_wrk2s),
      cmocka_unit_test(test_exponential_has_its_mean),
      cmocka_unit_test(test_sequence_walks_its_list_and_loops),
      cmocka_unit_test(test_bad_specs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

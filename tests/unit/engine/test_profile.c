/* engine/profile.c: stages of users or rates over time. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <rpcload/plugin.h>

#include "engine/profile.h"

#define S 1000000000ull

static void near(double got, double want) {
  if (fabs(got - want) > 1e-6 * (fabs(want) > 1 ? fabs(want) : 1))
    fail_msg("got %.9f, want %.9f", got, want);
}

static void test_parse(void **state) {
  (void)state;
  rl__profile p;
  char err[256];
  assert_int_equal(
      rl__profile_parse("1m:100,5m:100,1m:0", 0, 0, &p, err, sizeof err), 0);
  assert_int_equal(p.n, 3);
  assert_int_equal(p.stages[0].dur_ns, 60 * S);
  near(p.stages[1].target, 100);
  assert_int_equal(rl__profile_duration(&p), 420 * S);
  rl__profile_free(&p);
  /* Users may give a stage's spawn rate. */
  assert_int_equal(rl__profile_parse("30s:50:10", 0, 1, &p, err, sizeof err),
                   0);
  near(p.stages[0].rate, 10);
  rl__profile_free(&p);
  static const struct {
    const char *text;
    int with_rate;
    const char *why;
  } bad[] = {
      {"", 0, "no stages"},
      {"1m", 0, "stage 1: expected DURATION:RATE"},
      {"1m:10:5", 0, "stage 1: expected DURATION:RATE"},
      {"1m:10,xs:5", 0, "stage 2: 'xs' is not a duration"},
      {"0s:5", 0, "stage 1: '0s' is not a duration above 0"},
      {"1m:-3", 0, "stage 1: '-3' is not a number 0 or more"},
      {"1m:abc", 1, "'abc' is not a number"},
      {"1m:10:0", 1, "spawn rate '0' is not a number above 0"},
      {"1m:10:1:2", 1, "stage 1: expected DURATION:USERS[:SPAWN_RATE]"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = 0;
    assert_int_equal(rl__profile_parse(bad[i].text, 0, bad[i].with_rate, &p,
                                       err, sizeof err),
                     RL_ERR_INVAL);
    if (!strstr(err, bad[i].why))
      fail_msg("'%s': '%s' lacks '%s'", bad[i].text, err, bad[i].why);
    assert_null(p.stages);
  }
}

static void test_value_ramps_and_holds(void **state) {
  (void)state;
  rl__profile p;
  char err[256];
  assert_int_equal(
      rl__profile_parse("10s:100,10s:100,10s:0", 0, 0, &p, err, sizeof err), 0);
  near(rl__profile_value(&p, 0), 0);
  near(rl__profile_value(&p, 5 * S), 50);
  near(rl__profile_value(&p, 10 * S), 100);
  near(rl__profile_value(&p, 15 * S), 100);
  near(rl__profile_value(&p, 25 * S), 50);
  near(rl__profile_value(&p, 100 * S), 0); /* past the end: the last target */
  uint64_t at;
  assert_int_equal(rl__profile_stage_at(&p, 15 * S, &at), 1);
  assert_int_equal(at, 10 * S);
  assert_int_equal(rl__profile_stage_at(&p, 31 * S, &at), 3);
  /* Looping: the second cycle repeats the first. */
  p.loop = 1;
  assert_int_equal(rl__profile_duration(&p), 0);
  near(rl__profile_value(&p, 35 * S), 50);
  assert_int_equal(rl__profile_stage_at(&p, 45 * S, &at), 1);
  assert_int_equal(at, 40 * S);
  rl__profile_free(&p);
  /* A stage with its own spawn rate reaches the target and holds. */
  assert_int_equal(rl__profile_parse("30s:50:10", 20, 1, &p, err, sizeof err),
                   0);
  near(rl__profile_value(&p, 1 * S), 30);
  near(rl__profile_value(&p, 3 * S), 50);
  near(rl__profile_value(&p, 20 * S), 50);
  rl__profile_free(&p);
}

static void test_integral_and_when(void **state) {
  (void)state;
  rl__profile p;
  /* A constant rate: k arrivals take k / rate seconds. */
  rl__profile_constant(&p, 2000);
  near(rl__profile_integral(&p, S), 2000);
  assert_int_equal(rl__profile_when(&p, 1), 500000);
  assert_int_equal(rl__profile_when(&p, 2000), S);
  assert_int_equal(rl__profile_duration(&p), 0);
  rl__profile_constant(&p, 0);
  assert_int_equal(rl__profile_when(&p, 1), UINT64_MAX);
  /* A ramp from 0 to 100/s over 10 s: 500 arrivals by its end, and the
   * integral and its inverse agree everywhere. */
  char err[256];
  assert_int_equal(
      rl__profile_parse("10s:100,10s:100,5s:0", 0, 0, &p, err, sizeof err), 0);
  near(rl__profile_integral(&p, 10 * S), 500);
  near(rl__profile_integral(&p, 20 * S), 1500);
  near(rl__profile_integral(&p, 25 * S), 1750);
  near(rl__profile_integral(&p, 30 * S), 1750); /* held at 0 after */
  for (double x = 0.5; x < 1750; x += 37.25) {
    uint64_t t = rl__profile_when(&p, x);
    near(rl__profile_integral(&p, t), x);
  }
  assert_int_equal(rl__profile_when(&p, 1751), UINT64_MAX);
  /* Looping: the area repeats, so does the schedule. */
  p.loop = 1;
  near(rl__profile_integral(&p, 50 * S), 3500);
  uint64_t t = rl__profile_when(&p, 1750 + 500);
  near((double)t / S, 35);
  rl__profile_free(&p);
  /* From a start rate: --rate 100 then --rate-stages 10s:300. */
  assert_int_equal(rl__profile_parse("10s:300", 100, 0, &p, err, sizeof err),
                   0);
  near(rl__profile_integral(&p, 10 * S), 2000);
  near(rl__profile_value(&p, 5 * S), 200);
  near(rl__profile_integral(&p, 11 * S), 2300);
  rl__profile_free(&p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse),
      cmocka_unit_test(test_value_ramps_and_holds),
      cmocka_unit_test(test_integral_and_when),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * A load profile: a value that changes over the run in stages, each a
 * linear ramp from where the last one ended to its target over its
 * duration (k6's stages, Locust's LoadTestShape for user counts). The
 * value is a user count (`--stages`, run by the spawner) or an arrival rate
 * in iterations per second (`--rate-stages`, run by the arrival schedule);
 * a constant `--rate R` is a profile of one endless stage.
 *
 *   "1m:100,5m:100,1m:0"   ramp to 100 in 1 minute, hold 5, down to 0
 *   "30s:50:10"            to 50 at a spawn rate of 10/s, then hold what is
 *                          left of the 30 s (users only: a stage's own rate)
 *
 * A looping profile starts over when its stages are done. Read-only once
 * made: worker threads share it.
 */
#ifndef RL_ENGINE_PROFILE_H
#define RL_ENGINE_PROFILE_H

#include <stddef.h>
#include <stdint.h>

typedef struct rl__stage {
  uint64_t dur_ns; /* > 0 */
  double target;   /* the value at the stage's end (>= 0) */
  double rate;     /* users: spawn rate given by the stage, or 0: derived
                      from the ramp (|target - previous| / duration) */
} rl__stage;

typedef struct rl__profile {
  double start; /* the value before the first stage */
  rl__stage *stages;
  size_t n;
  int loop; /* start over after the last stage */
} rl__profile;

/*
 * Parses "DUR:TARGET[:RATE],..." (DUR as --run-time takes it: 30s, 5m,
 * 1h30m; TARGET a number >= 0; RATE, for user stages only, a number > 0)
 * into `p` (its stages owned by p: rl__profile_free). `start` is the value
 * before the first stage; `with_rate` allows the third field. Returns 0,
 * or RL_ERR_INVAL with the reason naming the stage in err.
 */
int rl__profile_parse(const char *text, double start, int with_rate,
                      rl__profile *p, char *err, size_t errlen);

/* A profile of one endless stage holding `value`. */
void rl__profile_constant(rl__profile *p, double value);

void rl__profile_free(rl__profile *p);

/* The stages' total length; 0 for a profile that never ends (a constant,
 * or a loop). */
uint64_t rl__profile_duration(const rl__profile *p);

/* The value at `t_ns` into the run (after the last stage: its target). */
double rl__profile_value(const rl__profile *p, uint64_t t_ns);

/*
 * The value's integral from 0 to `t_ns`, in value x seconds: for a rate
 * profile, the arrivals due by then.
 */
double rl__profile_integral(const rl__profile *p, uint64_t t_ns);

/*
 * The first time at which the integral reaches `x` (>= 0), in ns; or
 * UINT64_MAX when it never does (the rate stays 0 from some point on).
 * The k-th arrival of an evenly spaced schedule is due at
 * rl__profile_when(p, k + phase).
 */
uint64_t rl__profile_when(const rl__profile *p, double x);

/* Which stage `t_ns` falls in (0-based; n when past the last one, for a
 * profile that does not loop), and where it starts. */
size_t rl__profile_stage_at(const rl__profile *p, uint64_t t_ns,
                            uint64_t *stage_start_ns);

#endif /* RL_ENGINE_PROFILE_H */

/*
 * The open model's schedule: when iterations are due, independent of how
 * fast the server answers (wrk2's -R, k6's arrival-rate executors). The
 * run's total rate is a profile (engine/profile.h); each of the n worker
 * threads takes its share of one schedule for the whole run, so the
 * arrivals of all threads together are spaced as one:
 *
 *   even     arrival j of the run is due when the rate's integral reaches
 *            j + 1/2; thread k takes j = k, k + n, k + 2n...
 *   poisson  each thread draws its own exponential gaps, n times as long
 *            (in arrivals of the whole run): n independent Poisson
 *            streams of rate R/n make one of rate R.
 *
 * Times are ns since the run's start: the *intended* start of each
 * iteration, from which its response times count (no coordinated
 * omission). A worker asks for what is due at each tick of its arrival
 * timer and starts all of it, so spacing below a millisecond holds
 * without one timer per arrival. One thread owns one schedule; nothing
 * here locks.
 */
#ifndef RL_ENGINE_ARRIVAL_H
#define RL_ENGINE_ARRIVAL_H

#include <stdint.h>

#include "engine/profile.h"

enum rl__arrivals_kind {
  RL__ARRIVALS_EVEN = 0,
  RL__ARRIVALS_POISSON,
};

typedef struct rl__arrivals {
  const rl__profile *rate; /* borrowed: the run's total, per second */
  uint32_t k, n;           /* this thread of n */
  int kind;                /* enum rl__arrivals_kind */
  uint64_t rng;            /* poisson's draws */
  uint64_t next_j;         /* even: the next arrival of the run that is ours */
  double next_x;           /* the next arrival's place in the integral */
  uint64_t next_ns;        /* ...and its time; UINT64_MAX: none will come */
} rl__arrivals;

/* Thread k of n's share of `rate`'s schedule (borrowed: it must outlive
 * `a`), drawn from `seed` for poisson. */
void rl__arrivals_init(rl__arrivals *a, const rl__profile *rate, uint32_t k,
                       uint32_t n, int kind, uint64_t seed);

/* The intended time of the next arrival (ns since the run's start), or
 * UINT64_MAX when the rate has dropped to 0 for good. */
static inline uint64_t rl__arrivals_next(const rl__arrivals *a) {
  return a->next_ns;
}

/* The next arrival has been taken (started or dropped): move to the one
 * after it. */
void rl__arrivals_pop(rl__arrivals *a);

/*
 * Parses "even" or "poisson" (--arrivals) into *kind. 0, or RL_ERR_INVAL.
 */
int rl__arrivals_parse(const char *text, int *kind);

#endif /* RL_ENGINE_ARRIVAL_H */

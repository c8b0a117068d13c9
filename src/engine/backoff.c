#include "engine/backoff.h"

#include <string.h>

#include "base/clock.h"
#include "base/rng.h"

const rl__backoff_policy rl__backoff_grpc = {
    .name = "gRPC's connection backoff",
    .initial_ns = RL__NS_PER_SEC,
    .multiplier = 1.6,
    .max_ns = 120 * RL__NS_PER_SEC,
    .jitter = 0.2,
};

const rl__backoff_policy rl__backoff_short = {
    .name = "a short connection backoff",
    .initial_ns = 100 * RL__NS_PER_MS,
    .multiplier = 2.0,
    .max_ns = 2 * RL__NS_PER_SEC,
    .jitter = 0.2,
};

const rl__backoff_policy *rl__backoff_for_scheme(const char *scheme) {
  if (scheme && (strcmp(scheme, "grpc") == 0 || strcmp(scheme, "grpcs") == 0))
    return &rl__backoff_grpc;
  return &rl__backoff_short;
}

uint64_t rl__backoff_failed(const rl__backoff_policy *p, rl__backoff *b,
                            uint64_t attempt_ns, uint64_t *rng) {
  uint64_t wait;
  if (b->failures == 0) {
    /* ConnectWithBackoff: the first deadline is INITIAL_BACKOFF, whole. */
    b->current_ns = p->initial_ns;
    wait = p->initial_ns;
  } else {
    double next = (double)b->current_ns * p->multiplier;
    b->current_ns =
        next >= (double)p->max_ns ? p->max_ns : (uint64_t)(next + 0.5);
    /* UniformRandom(-JITTER * backoff, JITTER * backoff) */
    double spread = (rl__rng_double(rng) * 2.0 - 1.0) * p->jitter;
    wait = (uint64_t)((double)b->current_ns * (1.0 + spread));
  }
  if (b->failures < UINT32_MAX)
    b->failures++;
  return attempt_ns + wait;
}

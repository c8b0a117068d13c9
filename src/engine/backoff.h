/*
 * Backoff between connection attempts, so that a dead server gives a
 * readable error count instead of a flood of instant failures. A policy
 * says how long to wait; a state (one per connection) counts the attempts
 * that failed in a row.
 *
 * gRPC's connection-backoff rules (grpc/doc/connection-backoff.md) for
 * grpc:// and grpcs://: the next attempt is due 1 s after the failed one
 * started, then each wait 1.6 times the last, at most 120 s, each spread
 * by +-20% (all but the first). Every other scheme: the same rule, short
 * and capped (0.1 s, doubling, at most 2 s), since a load test's users
 * wait for their connection. A connection that works resets it.
 */
#ifndef RL_ENGINE_BACKOFF_H
#define RL_ENGINE_BACKOFF_H

#include <stdint.h>

typedef struct rl__backoff_policy {
  const char *name; /* for messages: "gRPC's connection backoff" */
  uint64_t initial_ns;
  double multiplier;
  uint64_t max_ns;
  double jitter; /* each wait but the first within +-jitter of itself */
} rl__backoff_policy;

extern const rl__backoff_policy rl__backoff_grpc;
extern const rl__backoff_policy rl__backoff_short;

/* The policy for a URL scheme ("grpc", "grpcs": gRPC's; anything else,
 * NULL included: the short one). The result is static. */
const rl__backoff_policy *rl__backoff_for_scheme(const char *scheme);

/* One connection's attempts (zeroed: none failed). */
typedef struct rl__backoff {
  uint32_t failures;   /* attempts failed in a row */
  uint64_t current_ns; /* the last wait, before its jitter */
} rl__backoff;

/*
 * An attempt that started at `attempt_ns` has failed: returns when the
 * next may start (monotonic ns; it may already be past). `rng` is a
 * generator for the jitter (base/rng.h).
 */
uint64_t rl__backoff_failed(const rl__backoff_policy *p, rl__backoff *b,
                            uint64_t attempt_ns, uint64_t *rng);

/* An attempt worked: the next failure waits the initial time again. */
static inline void rl__backoff_reset(rl__backoff *b) {
  b->failures = 0;
  b->current_ns = 0;
}

#endif /* RL_ENGINE_BACKOFF_H */

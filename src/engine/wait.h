/*
 * Wait strategies between tasks, as Locust defines them:
 *   constant(S)             wait S
 *   between(A, B)           wait uniformly in [A, B]
 *   constant_pacing(S)      wait max(0, S - time the task took): a task
 *                           starts at most once every S
 *   constant_throughput(N)  constant_pacing(1/N)
 * Pacing counts from the task's start. rpcload keeps that start on a
 * schedule (previous scheduled start + S), so a task that overruns makes the
 * next one late, and its response time counts the lateness (no coordinated
 * omission).
 */
#ifndef RL_WAIT_H
#define RL_WAIT_H

#include <stddef.h>
#include <stdint.h>

enum rl__wait_kind {
  RL__WAIT_NONE = 0,
  RL__WAIT_CONSTANT,
  RL__WAIT_BETWEEN,
  RL__WAIT_PACING, /* constant_pacing and constant_throughput */
};

typedef struct rl__wait {
  enum rl__wait_kind kind;
  uint64_t a_ns; /* constant, between's min, pacing period */
  uint64_t b_ns; /* between's max */
} rl__wait;

/*
 * Parses "constant:S", "between:MIN,MAX", "throughput:N" (tasks/s),
 * "pacing:S" or "none". Returns 0, or RL_ERR_INVAL with a reason in err.
 */
int rl__wait_parse(const char *spec, rl__wait *out, char *err, size_t errlen);

/* True when the strategy schedules task starts (pacing/throughput). */
static inline int rl__wait_is_paced(const rl__wait *w) {
  return w->kind == RL__WAIT_PACING;
}

/*
 * The wait after a task, in ns. For pacing, `task_start_ns` is the task's
 * scheduled start and `now_ns` the time it ended. `rng` is the user's.
 */
uint64_t rl__wait_next(const rl__wait *w, uint64_t task_start_ns,
                       uint64_t now_ns, uint64_t *rng);

#endif /* RL_WAIT_H */

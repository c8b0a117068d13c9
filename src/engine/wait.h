/*
 * Wait strategies between tasks. Locust's four keep Locust's meaning
 * exactly (locust/user/wait_time.py): a closed model, where the next task
 * starts after the wait Locust would compute and every response time
 * counts from its request's send:
 *   constant(S)             wait S
 *   between(A, B)           wait uniformly in [A, B]
 *   constant_pacing(S)      wait max(0, S - time the task took): a task
 *                           starts at most once every S. After a task that
 *                           overran, the next starts at once and the
 *                           schedule starts afresh from there: no backlog
 *                           of missed tasks is made up.
 *   constant_throughput(N)  constant_pacing(1/N)
 * The time a task took counts from when it was due (the end of the wait
 * before it), as Locust's does, so a late timer does not drift the pace.
 * After a user's first task the pacing waits the whole S, as Locust 2.12
 * (Debian's) does: its wait_time_func has no task time to subtract on its
 * first call. Later Locust releases count the first task's time as well.
 *
 * One more, not Locust's: schedule(S), wrk2's model for one user. Task k
 * is due at the first task's start + k*S whatever happens; a task that
 * starts late because an earlier one overran counts its first request's
 * response time from when it was due (no coordinated omission), and the
 * missed tasks run back to back until the user has caught up. Open-model
 * load (arrivals that do not wait for any user) is the arrival-rate
 * executor's, not a wait's.
 *
 * And two custom waits a Locust user would write as a function:
 *   exponential(M)          a random wait with mean M (an exponential
 *                           distribution: think times of independent
 *                           users)
 *   sequence(S1, S2, ...)   S1, then S2, ..., then S1 again: each user
 *                           walks the list from its start
 */
#ifndef RL_WAIT_H
#define RL_WAIT_H

#include <stddef.h>
#include <stdint.h>

enum rl__wait_kind {
  RL__WAIT_NONE = 0,
  RL__WAIT_CONSTANT,
  RL__WAIT_BETWEEN,
  RL__WAIT_PACING,   /* constant_pacing and constant_throughput */
  RL__WAIT_SCHEDULE, /* wrk2's fixed schedule, per user */
  RL__WAIT_EXPONENTIAL,
  RL__WAIT_SEQUENCE,
};

/* A sequence's length at most: the list lives in the wait, which plans
 * and options copy by value. */
#define RL__WAIT_SEQUENCE_MAX 32

typedef struct rl__wait {
  enum rl__wait_kind kind;
  uint64_t a_ns; /* constant, between's min, the pacing/schedule period,
                    the exponential's mean */
  uint64_t b_ns; /* between's max */
  uint32_t n;    /* sequence: how many of seq_ns */
  uint64_t seq_ns[RL__WAIT_SEQUENCE_MAX];
} rl__wait;

/* What a wait keeps of one user between tasks (in the user, zeroed at
 * its start). */
typedef struct rl__wait_state {
  uint64_t due_ns; /* when the current (or next) task is due to start */
  uint8_t started; /* a task has started */
  uint8_t paced;   /* pacing: a wait has been computed (Locust's first
                      call waits the whole period) */
  uint32_t next;   /* sequence: the index of the next wait */
} rl__wait_state;

/*
 * Parses "constant:S", "between:MIN,MAX", "throughput:N" (tasks/s),
 * "pacing:S", "schedule:S", "exponential:MEAN", "sequence:S1,S2,..." or
 * "none". Returns 0, or RL_ERR_INVAL with a reason in err.
 */
int rl__wait_parse(const char *spec, rl__wait *out, char *err, size_t errlen);

/*
 * A user starts a task at `now_ns`: `waited` when its wait timer has just
 * fired, else it starts at once (first task, no wait, or a task that
 * overran its pacing). Returns the time the task's first request counts
 * its response time from: `now_ns` (the send), but for a schedule that has
 * fallen behind, when the task was due.
 */
uint64_t rl__wait_task_start(const rl__wait *w, rl__wait_state *st,
                             uint64_t now_ns, int waited);

/*
 * The user's task ended at `now_ns`: the wait before the next one, in ns
 * (0: start it at once). `rng` is the user's generator.
 */
uint64_t rl__wait_after_task(const rl__wait *w, rl__wait_state *st,
                             uint64_t now_ns, uint64_t *rng);

#endif /* RL_WAIT_H */

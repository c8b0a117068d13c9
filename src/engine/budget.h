/*
 * -n/--iterations N: the run's iterations (a task, or the quick command
 * line's one request), shared by every worker thread. A user takes one
 * before it starts a task (rl__budget_take) and says when the task has
 * ended (rl__budget_done); the N-th to end calls `all_done`, from that
 * worker's thread, and the runner stops the run then. None is taken past
 * N, so exactly N tasks run whatever the number of threads. The runner
 * owns it; workers borrow it.
 */
#ifndef RL_ENGINE_BUDGET_H
#define RL_ENGINE_BUDGET_H

#include <stdatomic.h>
#include <stdint.h>

typedef struct rl__budget {
  _Atomic int64_t left;   /* not taken yet */
  _Atomic uint64_t ended; /* taken and ended */
  uint64_t total;         /* N */
  void (*all_done)(void *arg);
  void *arg;
} rl__budget;

static inline void rl__budget_init(rl__budget *b, uint64_t total,
                                   void (*all_done)(void *arg), void *arg) {
  atomic_init(&b->left, (int64_t)total);
  atomic_init(&b->ended, 0);
  b->total = total;
  b->all_done = all_done;
  b->arg = arg;
}

/* 1: an iteration is the caller's to run; 0: all N are taken. */
static inline int rl__budget_take(rl__budget *b) {
  if (atomic_load_explicit(&b->left, memory_order_relaxed) <= 0)
    return 0;
  return atomic_fetch_sub(&b->left, 1) > 0;
}

/* An iteration taken is not run after all (an arrival dropped): back. */
static inline void rl__budget_give_back(rl__budget *b) {
  atomic_fetch_add(&b->left, 1);
}

/* An iteration taken has ended (finished, failed or stopped short). */
static inline void rl__budget_done(rl__budget *b) {
  if (atomic_fetch_add(&b->ended, 1) + 1 == b->total && b->all_done)
    b->all_done(b->arg);
}

#endif /* RL_ENGINE_BUDGET_H */

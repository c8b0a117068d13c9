/*
 * A simulated user: a state machine driven by completions and timers, not a
 * thread. It runs a task (for the quick command line: the one request),
 * waits per the wait strategy, and repeats until its worker stops it.
 * Each user owns its connection (Locust's semantics: one client per user)
 * unless --connections makes the users of a thread share a pool, and owns
 * the one request it can have in flight, so the hot path allocates nothing.
 */
#ifndef RL_USER_H
#define RL_USER_H

#include <stdint.h>

#include <ev.h>

#include "conn.h"
#include "request.h"
#include "response.h"

struct rl__worker;

enum rl__user_state {
  RL__USER_READY = 0, /* queued on its worker to act */
  RL__USER_WAITING,   /* wait timer running */
  RL__USER_RUNNING,   /* a request in flight */
  RL__USER_STOPPED,
};

typedef struct rl__user {
  struct rl__worker *w;
  uint64_t id;       /* 1-based, unique across the run */
  uint8_t state;     /* enum rl__user_state */
  uint8_t step_done; /* on resume: a step just ended (else: start a task) */
  uint8_t queued;    /* on the worker's ready list */
  uint8_t started;   /* has run a task */
  uint8_t retiring;  /* stop once the current task ends (users lowered) */
  uint64_t task_start_ns; /* scheduled start of the current task */
  uint64_t seq;           /* requests started ({{seq}} of the current one) */
  uint64_t rng;
  ev_timer timer;
  rl_conn *conn; /* &own, or a connection of the worker's shared pool */
  rl_conn own;
  struct rl_request req;
  struct rl__user *next_ready;
  /* The last response, when this user's steps check responses (scenario
   * expect/capture); NULL otherwise, and plugins collect nothing. */
  rl__response *resp;
} rl__user;

/* A new user on worker `w`, queued to start its first task. Caller (the
 * worker) owns it; NULL on allocation failure. */
rl__user *rl__user_new(struct rl__worker *w, uint64_t id);

/* Acts on the user's state: next task, wait, or stop. Worker thread only. */
void rl__user_resume(rl__user *u);

/*
 * Stops the user. With `cut`, its in-flight request is cancelled (the event
 * is discarded by the worker, which is cutting); otherwise it must be
 * between tasks. Idempotent.
 */
void rl__user_stop(rl__user *u, int cut);

/*
 * Stops the user as Locust does when the user count is lowered: at once
 * when it is between tasks, else once its task ends. Worker thread only.
 */
void rl__user_retire(rl__user *u);

/* Frees a stopped user. */
void rl__user_free(rl__user *u);

#endif /* RL_USER_H */

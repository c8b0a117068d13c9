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

#include "engine/conn.h"
#include "engine/loop.h"
#include "engine/request.h"
#include "engine/response.h"
#include "engine/template.h"
#include "engine/user_state.h"
#include "engine/wait.h"

enum rl__user_state {
  RL__USER_READY = 0, /* queued on its worker to act */
  RL__USER_WAITING,   /* wait timer running */
  RL__USER_RUNNING,   /* a request in flight */
  RL__USER_STOPPED,
  RL__USER_SLEEPING, /* in a task, on a sleep step's timer */
  RL__USER_IDLE,     /* open model: between iterations, on the loop's idle
                        list for the next arrival */
};

struct rl__plan_class;
struct rl__plan_step;

/* Which of its class's step lists a user is in. */
enum rl__user_phase {
  RL__PHASE_START = 0, /* on_start */
  RL__PHASE_TASK,      /* a task */
  RL__PHASE_STOP,      /* on_stop, then it stops */
};

typedef struct rl__user {
  rl_loop *loop;                    /* its worker thread's */
  const struct rl__plan_class *cls; /* what it runs (the plan's) */
  uint8_t phase;                    /* enum rl__user_phase */
  uint8_t step_outcome;   /* what the step that just ended asks for next:
                           enum rl__on_failure (0: the next step) */
  uint8_t first_in_task;  /* the task has started no request nor sleep */
  uint8_t loop_depth;     /* repeats entered */
  uint32_t loop_i[8];     /* each repeat's counter ({{i}}: the innermost);
                            RL__PLAN_MAX_REPEAT_DEPTH */
  uint8_t has_row;        /* has taken its first row of the data file */
  const char *const *row; /* its row of its class's data file, or NULL */
  uint32_t task;          /* index in cls->tasks */
  uint32_t step;          /* index in the phase's steps */
  uint32_t next_seq_task; /* sequential classes: the next task */
  uint64_t id;            /* 1-based, unique across the run */
  uint8_t state;          /* enum rl__user_state */
  uint8_t step_done;   /* on resume: a step just ended (else: start a task) */
  uint8_t queued;      /* on the loop's ready list */
  uint8_t retiring;    /* stop once the current task ends (users lowered) */
  uint8_t started;     /* has started a task (a later one takes a new row) */
  uint8_t budgeted;    /* its task took one of -n's iterations */
  rl__wait_state wait; /* its class's wait's memory (pacing, schedule) */
  uint64_t seq;        /* requests started ({{seq}} of the current one) */
  uint64_t rng;
  ev_timer timer;
  rl_conn *conn; /* &own, or a connection of the thread's shared pool */
  rl_conn own;   /* endpoint 0's connection */
  rl_conn *more; /* endpoints 1.. of a scenario (plan->n_endpoints - 1) */
  char **vars;   /* the scenario's variables (captures), or NULL */
  struct rl_request req;
  struct rl__user *next_ready;
  /* The open model: the loop's idle list, the intended start of the
   * iteration it was handed, and when its first request was sent. */
  struct rl__user *idle_prev, *idle_next;
  uint64_t arrival_ns;
  uint64_t sent_ns;
  /* The last response, when this user's steps check responses (scenario
   * expect/capture) or responses are printed (--print-responses); NULL
   * otherwise, and plugins collect nothing. */
  rl__response *resp;
  /* What plugins keep for this user (ABI 1.5 request_user_slot): their
   * states go to their del when it stops, the slots when it is freed. */
  rl__user_slot *slots;
} rl__user;

/* A new user of class `cls` (of loop->plan) on `loop`, queued to start
 * (on_start, then its first task). Its first endpoint's connection is
 * `shared` (borrowed: a --connections pool's) or, when NULL, its own.
 * Caller (the worker) owns it; NULL on allocation failure. */
rl__user *rl__user_new(rl_loop *loop, uint64_t id,
                       const struct rl__plan_class *cls, rl_conn *shared);

/* Whether the plugin should hand over the response of the user's current
 * request: its class checks responses, or the step's first responses are
 * still to be printed (--print-responses). */
int rl__user_wants_response(const rl__user *u);

/* Acts on the user's state: next task, wait, or stop. Worker thread only. */
void rl__user_resume(rl__user *u);

/*
 * Stops the user. With `cut`, its in-flight request is cancelled (the event
 * is discarded by the worker, which is cutting); otherwise it must be
 * between tasks. Idempotent.
 */
void rl__user_stop(rl__user *u, int cut);

/*
 * Ends the user's life between tasks: its class's on_stop steps first,
 * when it has some and the run is not being cut; else it stops now.
 * Worker thread only.
 */
void rl__user_end(rl__user *u);

/*
 * Stops the user as Locust does when the user count is lowered: at once
 * when it is between tasks, else once its task ends. Worker thread only.
 */
void rl__user_retire(rl__user *u);

/*
 * The open model: hands the loop's most recently idle user the arrival
 * due at `intended_ns` (monotonic): it starts a task now, whose first
 * response time counts from then. With every user busy the arrival
 * waits on the loop's queue for the next user to come free. Returns 0,
 * or -1 when the queue is full too (the arrival is dropped: the caller
 * counts it). Worker thread only.
 */
int rl__user_arrive(rl_loop *loop, uint64_t intended_ns);

/* Frees a stopped user. */
void rl__user_del(rl__user *u);

/* What the user's templates expand with (its id, request number, random
 * generator and variables, borrowed from it), into *out. */
void rl__user_template_ctx(rl__user *u, rl__template_ctx *out);

#endif /* RL_USER_H */

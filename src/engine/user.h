/*
 * A simulated user: a state machine driven by completions and timers, not a
 * thread. It runs a task (for the quick command line: the one request),
 * waits per the wait strategy, and repeats until its worker stops it.
 * Each user owns its connection (Locust's semantics: one client per user)
 * unless --connections makes the users of a thread share a pool, and owns
 * the one request it can have in flight, so the hot path allocates nothing.
 * A class written in C runs its phases as code through its driver
 * (rl__user_driver below, engine/cuser.c), with as many requests in
 * flight as its tasks send; waits, task choice and stops stay here.
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
struct rl_user;

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
  uint8_t step_done; /* on resume: a step just ended (else: start a task) */
  uint8_t queued;    /* on the loop's ready list */
  uint8_t retiring;  /* stop once the current task ends (users lowered) */
  uint8_t started;   /* has started a task (a later one takes a new row) */
  uint8_t budgeted;  /* its task took one of -n's iterations */
  /* A C class's rl_user_wait_next: next_wait_ns after this task instead
   * of its class's wait; rl_user_stop: stop once this phase is over. */
  uint8_t has_next_wait, stop_after;
  uint64_t next_wait_ns;
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
  /* The open model: the loop's idle list, and the intended start of the
   * iteration it was handed. */
  struct rl__user *idle_prev, *idle_next;
  uint64_t arrival_ns;
  /* The last response, when this user's steps check responses (scenario
   * expect/capture) or responses are printed (--print-responses); NULL
   * otherwise, and plugins collect nothing. */
  rl__response *resp;
  /* What plugins keep for this user (ABI 1.5 request_user_slot): their
   * states go to their del when it stops, the slots when it is freed. */
  rl__user_slot *slots;
  /* A user of a class written in C: what its driver keeps (engine/cuser.c:
   * its requests in flight, its data), or NULL. */
  struct rl_user *c;
  /* Connections to run-time targets (engine/rtarget.h: one per endpoint,
   * rl__rtarget.conn), each made the first time the user sends there;
   * NULL until then. */
  rl_conn **rt_conns;
  size_t n_rt_conns;
} rl__user;

/*
 * How the users of a class written in C run their phases (on_start, each
 * task, on_stop): code, not steps (engine/cuser.c's rl__cuser_driver,
 * named by the class: rl__plan_cclass.driver). The rest of the state
 * machine stays here: the wait and the next task, stopping, retiring, the
 * open model's arrivals. user.c calls the driver; the driver starts
 * requests (rl__user_start_request), counts them (rl__user_record), wakes
 * its user when one ends (rl__user_wake) and says when a phase is over
 * (rl__user_phase_over).
 */
typedef struct rl__user_driver {
  /* A new user: what it keeps in u->c. 0 or RL_ERR_NOMEM. */
  int (*init)(rl__user *u);
  /* The user enters u->phase (for a task, u->task is chosen): run it. */
  void (*begin)(rl__user *u);
  /* The user acts after rl__user_wake (its requests that ended). */
  void (*resume)(rl__user *u);
  /* The user has stopped (cut or not): none of its class's callbacks
   * runs again. Its requests still in flight end later, cut. */
  void (*stop)(rl__user *u);
  /* The user is freed (it stopped, and nothing of it is in flight). */
  void (*del)(rl__user *u);
} rl__user_driver;

/* A new user of class `cls` (of loop->plan) on `loop`, queued to start
 * (on_start, then its first task). Its first endpoint's connection is
 * `shared` (borrowed: a --connections pool's) or, when NULL, its own.
 * Caller (the worker) owns it; NULL on allocation failure. */
rl__user *rl__user_new(rl_loop *loop, uint64_t id,
                       const struct rl__plan_class *cls, rl_conn *shared);

/* Whether the plugin should hand over the response of `req`, a user's
 * request: its class keeps responses, or its step's first responses are
 * still to be printed (--print-responses). */
int rl__user_wants_response(const rl_request *req);
/* Which parts of it (RL_RESPONSE_*, plugin ABI 1.8; 0 when not wanted):
 * the header fields only for whoever reads them (the step's checks, the
 * listeners' on_request, --print-responses); a class written in C or
 * Lua gets the status and the body in its done (rl_send_result), never
 * the fields, so its sends do not ask for them. */
unsigned rl__user_response_parts(const rl_request *req);

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

/* What the templates of the user's request `req` expand with (the user's
 * id, random generator and variables, borrowed from it, and req's number;
 * req NULL: the user's last), into *out. */
void rl__user_template_ctx(rl__user *u, const rl_request *req,
                           rl__template_ctx *out);

/* ---- for drivers (rl__user_driver) -------------------------------------- */

/*
 * rl__user_start_request for a run-time target's step `s` (not the
 * plan's: engine/rtarget.h), on the user's run-time connection number
 * `conn` (made on first use; out of memory: req fails). Codec plugins
 * only. Worker thread only.
 */
void rl__user_start_request_rt(rl__user *u, rl_request *req,
                               const struct rl__plan_step *s, size_t conn,
                               uint64_t start_ns, rl__response *resp);

/*
 * Ends `req` at once as a failure with `reason` (borrowed), as if it
 * had run plan step `s` from `start_ns` and no session took it (typed and
 * named as the step's target): a request that could not be sent; `resp`
 * (NULL: none) is cleared, as nothing came back. req->end is called
 * before this returns. Worker thread only.
 */
void rl__user_fail_request(rl__user *u, rl_request *req,
                           const struct rl__plan_step *s, uint64_t start_ns,
                           rl__response *resp, const char *reason);

/*
 * Starts `req` (the user's: req->user is u, req->end its owner's) running
 * plan step `s` of u's class, its response time counted from `start_ns`,
 * its response kept in `resp` (NULL: none). On the step's endpoint's
 * connection, or its transport. Never fails: failures end the request
 * (req->end may be called before this returns). Worker thread only.
 */
void rl__user_start_request(rl__user *u, rl_request *req,
                            const struct rl__plan_step *s, uint64_t start_ns,
                            rl__response *resp);

/* What rl__user_record made of a request. */
typedef struct rl__user_outcome {
  int cut; /* cut at a stop: counted apart, and nothing else done */
  /* Its outcome after the step's checks and the listeners (NULL:
   * success): the plugin's text, or the caller's `why`; valid while both
   * are. */
  const char *error;
  uint64_t rt_ns; /* its response time, as the stats count it */
  int stop_task;  /* a capture found nothing */
} rl__user_outcome;

/*
 * The request event of `req`, u's request that ended with `res` (the
 * plugin's, borrowed; NULL: none): cut at a stop (counted apart), or the
 * step's checks on req->resp, the listeners, --print-responses and the
 * thread's stats, as for every step. `why` (whylen bytes) holds a check's
 * failure. Call it from req->end. Worker thread only.
 */
void rl__user_record(rl__user *u, rl_request *req, const rl_result *res,
                     char *why, size_t whylen, rl__user_outcome *out);

/* rl__user_record for a request that ended at `end_ns` (monotonic), when
 * it is counted later (a C class's send that decides its outcome). */
void rl__user_record_at(rl__user *u, rl_request *req, const rl_result *res,
                        uint64_t end_ns, char *why, size_t whylen,
                        rl__user_outcome *out);

/*
 * A request the user's class reports itself (Locust's
 * events.request.fire; rl_user_fire_request): `type` and `name` its
 * stats row (borrowed for the call), `rt_ns` long, `bytes` of response,
 * `error` NULL for a success. Heard by the listeners (whose verdict may
 * fail it) and recorded into the thread's stats as any request's end,
 * through the run's gate (warm-up, --skip-first). Returns 0, or -1 when
 * the run cuts or the user has stopped (nothing recorded). Worker thread
 * only.
 */
int rl__user_fire(rl__user *u, const char *type, const char *name,
                  uint64_t rt_ns, uint64_t bytes, const char *error);

/* Queues a driver's user to act (its driver's resume) once the current
 * callback is done. */
void rl__user_wake(rl__user *u);

/* A driver's user has ended its phase: the wait and its next task, or
 * on_stop, or its stop, as after a task's last step. */
void rl__user_phase_over(rl__user *u);

#endif /* RL_USER_H */

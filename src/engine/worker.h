/*
 * A worker thread: one libev loop running a share of the users. It records
 * into its own stats without locks and merges them into the run's stats
 * once a second (and at the end) under the runner's lock: the only lock a
 * worker takes, and never per request.
 *
 * The main thread steers it through set_users/command (an atomic and an
 * ev_async); everything else in here belongs to the worker thread.
 */
#ifndef RL_WORKER_H
#define RL_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "engine/conn.h"
#include "engine/loop_services.h"
#include "stats/stats.h"

struct rl__runner;
struct rl__user;

enum rl__worker_cmd {
  RL__CMD_RUN = 0,
  RL__CMD_STOP, /* stop spawning; users end after their task (stop-timeout) */
  RL__CMD_CUT,  /* end now: cancel what is in flight */
};

typedef struct rl__worker {
  int index;
  struct rl__runner *runner;
  struct ev_loop *loop;
  pthread_t thread;
  int thread_started;
  rl__stats *stats; /* this thread's, merged into the runner's */
  uint8_t *rbuf;    /* read buffer shared by the thread's connections */
  size_t rbuf_size;
  ev_async wake;
  ev_prepare prepare;
  ev_idle idle;
  ev_timer flush_timer;
  ev_timer stop_timer;
  rl_conn *pool;       /* --connections: this thread's shared connections */
  rl_conn *flush_head; /* connections with output to send this round */
  uint32_t npool;
  struct rl__user **users; /* every user spawned here */
  size_t nusers, cap;
  struct rl__user *ready_head, *ready_tail;
  atomic_uint want_users; /* written by main */
  atomic_int command;     /* written by main */
  int stopping, cutting, finished;
  uint32_t live_users;   /* not stopped (retiring ones included) */
  uint32_t active_users; /* not stopped and not retiring */
  unsigned stats_epoch;  /* the runner's reset_epoch at the last flush */
  uint64_t cut_requests; /* in flight when cut; not in the stats */
  rl_loop loop_handle;   /* what transport plugins see of `loop` */
  /* Transport plugins' per-thread states, one per plan target of a
   * transport plugin (the quick command line has at most one). */
  struct rl__worker_transport {
    const struct rl__target *target;
    void *state;       /* NULL when transport_new failed */
    const char *error; /* why, then */
  } * transports;
  size_t ntransports;
} rl__worker;

/* Sets up worker `index` of `r` and starts its thread. 0 or an error. */
int rl__worker_start(rl__worker *w, struct rl__runner *r, int index);

/* Waits for the thread to end and frees the worker's users, loop, stats. */
void rl__worker_join(rl__worker *w);

/* Main thread: the number of users this worker should have. */
void rl__worker_set_users(rl__worker *w, uint32_t n);

/* Main thread: stop or cut. */
void rl__worker_command(rl__worker *w, enum rl__worker_cmd cmd);

/* Worker thread: start a request on the target's transport plugin, or on
 * `conn` for a codec plugin. Never fails: failures become events. */
void rl__worker_submit(rl__worker *w, rl_conn *conn, rl_request *req);

/* Worker thread: queue a user to act once the current callback is done. */
void rl__worker_enqueue(rl__worker *w, struct rl__user *u);

/* Worker thread: let queued users act. Users queued while this runs wait
 * for the next call, so a user that fails at once cannot starve the loop. */
void rl__worker_run_ready(rl__worker *w);

#endif /* RL_WORKER_H */

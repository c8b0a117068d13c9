/*
 * A worker thread's loop as the parts that run on it see it: the users
 * (engine/user.c), the connections (engine/conn.c) and the transport
 * plugins' watchers (engine/loop_services.c). It is the ABI's opaque
 * rl_loop, and what breaks the old worker <-> user <-> conn circle: those
 * parts read and queue things here, and only the worker (engine/worker.c),
 * which owns the loop, drives it. One thread; nothing here locks.
 *
 * After every callback that may have ended requests or made users ready
 * (socket I/O, a plugin's timer or async), the part that ran it calls
 * loop->after_event(loop): the worker lets the queued users act then, so
 * the core never calls back into a plugin from inside one of its own
 * callbacks.
 */
#ifndef RL_ENGINE_LOOP_H
#define RL_ENGINE_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include <rpcload/plugin.h>

#include "base/buf.h"
#include "engine/request.h"
#include "stats/stats.h"

struct rl__plan;
struct rl__target;
struct rl__user;
struct rl__budget;
struct rl__rt_thread;

/* A transport plugin's per-thread state, one per plan target of a
 * transport plugin (the quick command line has at most one). */
typedef struct rl__loop_transport {
  const struct rl__target *target;
  void *state;       /* NULL when transport_new failed */
  const char *error; /* why, then */
} rl__loop_transport;

struct rl_loop {
  struct ev_loop *ev;
  const rl_host *host; /* the services table plugins are handed */
  int index;           /* the worker thread's, 0-based */
  /* What users run (read-only, shared by every thread) and the run's
   * seed (each user's generator derives from it). */
  const struct rl__plan *plan;
  uint64_t seed;
  /* Request events land here: this thread's own stats, no lock; the
   * per-second slot counts from the run's start. */
  rl__stats *stats;
  uint64_t start_ns;
  /* What the run leaves out of the stats (--warmup, --skip-first). */
  rl__request_gate gate;
  /* The run is ending: users stop after their task (stopping), or at once
   * with what they have in flight cut (cutting: their events are counted
   * in cut_requests, not in the stats). */
  int stopping, cutting;
  uint64_t cut_requests;
  uint32_t live_users; /* users here not stopped yet (retiring included) */
  /* The open model (--rate): users between iterations wait on this list
   * (one list a class of the plan, doubly linked through
   * rl__user.idle_prev/idle_next) for the worker to hand them the next
   * arrival, instead of on their class's wait. Each arrival is for a
   * class drawn by the classes' weights (arrival_rng), so the classes'
   * shares of iterations are the plan's whichever users are free.
   * latency_uncorrected: the stats' tables show the time from the send,
   * the other view (rl__stats_record_alt) from the intended start. */
  int open;
  int latency_uncorrected;
  /* --print-responses: the first this many responses of each step are
   * printed on stderr (engine/user.c); 0: none, and nothing collected. */
  uint32_t print_responses;
  struct rl__user **idle_heads; /* plan->n_classes of them */
  size_t n_idle_heads;
  uint32_t idle;
  uint64_t arrival_rng;
  /* Arrivals that found every user busy, oldest first: their intended
   * starts (a ring of queue_cap, queued from queue_head). The next user
   * to come free takes the oldest, so their response times count the
   * wait (wrk2's correction); one that finds the ring full is dropped. */
  uint64_t *queue;
  uint32_t queue_cap, queue_head, queued;
  /* Listeners: this thread's view for the request event, or NULL when
   * none hears requests (the request path's one test); the run's table
   * for user_error (NULL: none). */
  struct rl__events_thread *events;
  struct rl__events *events_table;
  /* A listener wants the request event's response: every user keeps its
   * responses (user.c) and plugins hand them over. */
  int events_response;
  /* -n/--iterations: the run's (borrowed from the runner), or NULL. */
  struct rl__budget *budget;
  /* Users queued to act once the current callback is done (user.c
   * queues, the worker runs them). */
  struct rl__user *ready_head, *ready_tail;
  /* Connections with output to send this round (conn.c). */
  rl_conn *flush_head;
  /* The read buffer every connection on this thread reads into. */
  uint8_t *rbuf;
  size_t rbuf_size;
  /* Template expansions for plugins land here, one at a time. */
  rl__buf scratch;
  rl__loop_transport *transports;
  size_t ntransports;
  /* The run-time targets' cache and waits on this thread (engine/
   * rtarget.c), or NULL until a request names an undeclared host. */
  struct rl__rt_thread *rt;
  /* Set by the owner: let the ready users act (see above). */
  void (*after_event)(rl_loop *loop);
  void *owner; /* the worker, for after_event */
};

#endif /* RL_ENGINE_LOOP_H */

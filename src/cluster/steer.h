/*
 * What a master's web UI asks of the master (swarm, stop) and what it
 * shows of the workers, between the web server's threads and the
 * master's loop (master.c). The web UI calls rl__cluster_steer_remote's
 * functions; the master takes the asks in its loop and publishes its
 * workers. Everything here is under the steer's own lock, never held
 * while the master sends or the web UI writes.
 */
#ifndef RL_CLUSTER_STEER_H
#define RL_CLUSTER_STEER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "web/api.h"

typedef struct rl__cluster_steer {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  /* the latest swarm asked, not yet taken by the master */
  int swarm;
  uint32_t users;
  double rate;
  char *host;              /* owned; NULL: the workers' own */
  uint64_t stops_asked;    /* stops asked by the web UI */
  uint64_t stops_done;     /* stops the master finished (workers' stats in) */
  int closed;              /* the master is gone: no stop will finish */
  rl__web_worker *workers; /* the master's last snapshot, owned */
  size_t n_workers;
  rl__web_remote remote; /* what the web UI calls, arg = this steer */
  /* Called under the lock when the web UI asks something, so the
   * master's loop (which blocks until its next deadline) takes it now;
   * NULL: none (rl__cluster_steer_set_wake). */
  void (*wake)(void *arg);
  void *wake_arg;
} rl__cluster_steer;

/* Sets up an embedded steer; its remote is ready for the web UI. */
void rl__cluster_steer_init(rl__cluster_steer *s);

/* Frees what init and the master made; no web UI may call it after. */
void rl__cluster_steer_free(rl__cluster_steer *s);

/* The master's side. Takes the pending swarm: 1 and its numbers (host
 * passes to the caller, who frees it), or 0. */
int rl__cluster_steer_take_swarm(rl__cluster_steer *s, uint32_t *users,
                                 double *rate, char **host);

/* The stops asked so far (the master compares with what it has done). */
uint64_t rl__cluster_steer_stops_asked(rl__cluster_steer *s);

/* The master finished the stops up to `upto`: their waiters return. */
void rl__cluster_steer_stop_done(rl__cluster_steer *s, uint64_t upto);

/* The master publishes its workers (copied). */
void rl__cluster_steer_publish(rl__cluster_steer *s, const rl__web_worker *w,
                               size_t n);

/* The master's side: `wake(arg)` on each swarm or stop asked from now
 * (it must not block; NULL: none). Cleared before what arg points to
 * goes. */
void rl__cluster_steer_set_wake(rl__cluster_steer *s, void (*wake)(void *arg),
                                void *arg);

/* The master's loop has ended: waiting stops return at once. */
void rl__cluster_steer_close(rl__cluster_steer *s);

#endif /* RL_CLUSTER_STEER_H */

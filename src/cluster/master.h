/*
 * A cluster master (--master, headless): runs no users; binds Locust's
 * ROUTER socket, waits for --expect-workers workers (rpcload's or
 * Locust's), tells them what to run as Locust's MasterRunner and
 * UsersDispatcher do (locust/runners.py, dispatch.py, 2.12.1), and merges
 * their stats into the run's (so every reporter of a single process reads
 * them):
 *
 *   client_ready  ->  ack (index, and the "rpcload" key: send exact
 *                     histograms)
 *   the ramp      ->  spawn to every worker each time the users due at the
 *                     spawn rate change (at most every second, as Locust):
 *                     the users dealt to classes as one process would deal
 *                     them (the plan's deal: fixed counts first, weights),
 *                     then to the workers, sorted by id, round-robin, so
 *                     each worker's share is even and fixed counts hold
 *                     across the cluster
 *   stats         ->  merged into the run's stats (exact from rpcload
 *                     workers, Locust's rounded times from Locust's)
 *   the run time  ->  quit to every worker, then their last stats (bounded)
 *   liveness      ->  a worker silent for more than heartbeat_liveness
 *                     seconds is missing: its users are dealt to the others
 *                     (it gets users again when it beats again); an rpcload
 *                     worker (its heartbeats say so) gets a heartbeat back
 *                     every second, so it notices a master gone
 *
 * A Locust worker's version is checked as Locust's master checks it (an
 * empty one, which Debian's Locust sends, is taken with a warning here). A
 * malformed or unknown message is logged and dropped.
 */
#ifndef RL_CLUSTER_MASTER_H
#define RL_CLUSTER_MASTER_H

#include <stdint.h>

#include "cluster/curve.h"
#include "cluster/steer.h"
#include "engine/plan.h"
#include "engine/runner.h"

typedef struct rl__cluster_master_cfg {
  const char *bind_host;    /* --master-bind-host, Locust's default "*" */
  int bind_port;            /* --master-bind-port, 5557; 0: any */
  int expect_workers;       /* start once this many are ready */
  double expect_max_wait_s; /* give up waiting after this long; 0: never */
  uint32_t users;           /* -u */
  double spawn_rate;        /* -r */
  double run_time_s;        /* -t; 0: until a signal */
  double stop_timeout_s;    /* bounds the wait at a stop and the end */
  int stop_timeout_told;    /* 1: sent in spawn; 0: nil (as below) */
  const char *host;         /* sent in spawn (NULL: the workers' own) */
  /* The steered run whose stats the workers' merge into (started by the
   * caller; its own users stay 0) and the plan whose classes are dealt. */
  rl__runner *runner;
  const rl__plan *plan;
  volatile int *quit_flag; /* set by the caller's signal handler */
  const char *version;     /* ours, in the ack */
  /* Heartbeats a worker may miss before it is missing (Locust's
   * HEARTBEAT_LIVENESS, 3; --heartbeat-liveness). */
  int heartbeat_liveness;
  /* --cluster-key: CURVE with this key (borrowed), only its workers
   * admitted; NULL: the plain wire Locust speaks. */
  const rl__curve_key *key;
  /* Called once the socket is bound, with the port it got (bind_port 0:
   * the kernel's pick), so local workers can be told (--processes); NULL:
   * nothing. On the caller's thread, before any worker is waited for. */
  void (*bound)(int port, void *arg);
  void *bound_arg;
  /* --web: the web UI steers (borrowed): no test until its swarm, each
   * swarm a ramp over the workers, each stop the workers stopped and
   * their last stats merged before the run says stopped; users,
   * spawn_rate and expect_workers are then unused and run_time_s counts
   * from the first swarm. NULL: headless, as above. */
  rl__cluster_steer *steer;
  /* stop_timeout_told: the workers apply stop_timeout_s, as Locust's
   * apply their master's; 0 sends nil, as Locust's master without
   * --stop-timeout does, and rpcload workers keep their own. */
  /* --autoquit with --web (Locust's meaning): autoquit set, the master
   * quits autoquit_s seconds after a test ends (a stop from the web UI, or
   * -t, which then stops the test instead of quitting at once); a new
   * swarm meanwhile cancels it. autoquit 0: a stop leaves the web UI up
   * and -t quits at once. */
  int autoquit;
  double autoquit_s;
} rl__cluster_master_cfg;

/*
 * Runs the master until the run time ends, a signal, or no workers. 0
 * after a run (the workers told to quit and their last stats in), 2 when
 * the socket cannot be bound or the workers did not come (the reason
 * logged).
 */
int rl__cluster_master_run(const rl__cluster_master_cfg *cfg);

#endif /* RL_CLUSTER_MASTER_H */

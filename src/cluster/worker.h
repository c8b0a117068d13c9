/*
 * A cluster worker (--worker): joins a master (Locust's or rpcload's) on
 * its wire, runs the users it is told, per class, on a steered run, and
 * reports back, as Locust's WorkerRunner does (locust/runners.py, 2.12.1):
 *
 *   client_ready (our version)  ->  ack (index)
 *   spawn (user_classes_count)  ->  spawning, the users, spawning_complete
 *   every report interval (3 s) ->  stats: the requests since the last
 *   every heartbeat interval    ->  heartbeat (state, CPU %, memory)
 *   stop                        ->  users stopped, last stats, client_stopped,
 *                                   client_ready again
 *   quit (or SIGINT / SIGTERM)  ->  users stopped, last stats, quit; return
 *   reconnect                   ->  a new socket, client_ready
 *   an rpcload master's heartbeats stop for master_timeout_s
 *                               ->  users stopped, exit 1
 *
 * The master's host (spawn's "host") is the users' host from the next
 * test on (cfg->compile). A class name the plan lacks is an error naming it, logged and sent to
 * the master as Locust sends a user's error (`exception`); the other
 * classes run. A malformed or unknown message is logged and dropped.
 *
 * The run itself belongs to the caller (api/): it is started (steered)
 * before, and quit after, rl__cluster_worker_run.
 */
#ifndef RL_CLUSTER_WORKER_H
#define RL_CLUSTER_WORKER_H

#include <stdint.h>

#include "cluster/curve.h"
#include "engine/plan.h"
#include "engine/runner.h"

typedef struct rl__cluster_worker_cfg {
  const char *master_host;     /* --master-host, default 127.0.0.1 */
  int master_port;             /* --master-port, default 5557 */
  double report_interval_s;    /* --worker-report-interval, Locust's 3 s */
  double heartbeat_interval_s; /* Locust's 1 s */
  /* No ack from a master for this long: give up (Locust: 60 retries of 5 s
   * in 2.12.1; an exit, not a hang). */
  double connect_timeout_s;
  /* The steered run (started by the caller, rl__runner_control works) and
   * the plan its users run (this thread deals users to its classes). */
  rl__runner *runner;
  rl__plan *plan;
  /* Compiles the plan for the host a master's spawn names (Locust's
   * --host), used at a new test: 0 and a new plan (passed to the runner
   * with the test's start), or an RL_ERR_* with the reason in err. NULL:
   * the master's host is not applied. */
  int (*compile)(void *arg, const char *host, rl__plan **plan, char *err,
                 size_t errlen);
  void *compile_arg;
  /* The run's stop timeout when the master gives none (seconds). */
  double stop_timeout_s;
  /* A master that sends heartbeats (an rpcload master) and then goes
   * silent this long is gone: the users stop and the worker exits 1. */
  double master_timeout_s;
  /* --cluster-key: CURVE with this key (borrowed), or NULL: the plain
   * wire Locust speaks. */
  const rl__curve_key *key;
  /* Set by a signal handler of the caller: quit as the master's quit. */
  volatile int *quit_flag;
} rl__cluster_worker_cfg;

/*
 * Runs the worker until the master's quit, a signal (cfg->quit_flag) or
 * no master within cfg->connect_timeout_s. The run's stats are taken from
 * the runner's hub as they are sent (the hub holds only what is not sent
 * yet). Returns 0 after a quit, 1 when no master answered or the socket
 * failed (the reason logged, naming the address).
 */
int rl__cluster_worker_run(const rl__cluster_worker_cfg *cfg);

#endif /* RL_CLUSTER_WORKER_H */

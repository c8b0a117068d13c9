/*
 * Distributed runs from the command line (issue #17): the options that
 * make this process a cluster worker (--worker) or master (--master), and
 * the runs that follow (src/cluster/ does the talking; this file sets up
 * the steered run it steers or the reports it feeds).
 */
#ifndef RL_API_CLUSTER_H
#define RL_API_CLUSTER_H

#include <stddef.h>

struct rl__api_options;
struct rl_env;

/* getopt codes of the cluster's long options (options.c's table). */
enum {
  RL__API_OPT_WORKER = 0x2100,
  RL__API_OPT_MASTER_HOST,
  RL__API_OPT_MASTER_PORT,
  RL__API_OPT_WORKER_REPORT_INTERVAL,
  RL__API_OPT_MASTER,
  RL__API_OPT_EXPECT_WORKERS,
  RL__API_OPT_EXPECT_WORKERS_MAX_WAIT,
  RL__API_OPT_MASTER_BIND_HOST,
  RL__API_OPT_MASTER_BIND_PORT,
  RL__API_OPT_HEARTBEAT_LIVENESS,
  RL__API_OPT_MASTER_HEARTBEAT_TIMEOUT,
  RL__API_OPT_PROCESSES,
};

typedef struct rl__api_cluster {
  int worker;               /* --worker */
  const char *master_host;  /* --master-host, default 127.0.0.1 */
  int master_port;          /* --master-port, default 5557 */
  double report_interval_s; /* --worker-report-interval, default 3 */
  int host_given, port_given;
  double master_timeout_s;  /* --master-heartbeat-timeout, default 60 */
  int heartbeat_liveness;   /* --heartbeat-liveness, default 3 */
  int master;               /* --master */
  int expect_workers;       /* --expect-workers, default 1 */
  double expect_max_wait_s; /* --expect-workers-max-wait; 0: forever */
  const char *bind_host;    /* --master-bind-host, default "*" */
  int bind_port;            /* --master-bind-port, default 5557 */
  int master_opts_given;    /* one of the four above */
  /* --processes N: this process the master of N forked local workers
   * (api/processes.c); 0: not. */
  int processes;
  /* Not options: set by api/processes.c for the master's run (its
   * rl__cluster_master_cfg.bound hook). */
  void (*bound)(int port, void *arg);
  void *bound_arg;

  /* --stop-timeout given: a master tells its workers (spawn's
   * stop_timeout); without it Locust's None (nil), and they keep theirs. */
  int stop_timeout_given;
} rl__api_cluster;

/* Defaults (before the command line). */
void rl__api_cluster_defaults(rl__api_cluster *c);

/* One cluster option into o->cluster: 0, 1 when `c` is none of them, or
 * RL_ERR_INVAL with the reason in err. */
int rl__api_cluster_parse(struct rl__api_options *o, int c, const char *arg,
                          char *err, size_t errlen);

/* After every option: a role's options without the role, both roles,
 * and what a role cannot have (--web: a worker's master serves the page;
 * the master's web UI is not done yet). 0 or RL_ERR_INVAL with the reason
 * in err. */
int rl__api_cluster_check(const struct rl__api_options *o, char *err,
                          size_t errlen);

/* rl_env_exec for --worker: the steered run started, the worker talking
 * to its master until it quits, the run quit. Returns the exit status: 0
 * after the master's quit (or a signal's), 1 when no master answered or
 * the connection failed, 2 when the run could not start. */
int rl__api_worker_exec(struct rl_env *env);

/* rl_env_exec for --master (headless): a run with no users of its own
 * whose stats are the workers', the workers told what to run, the reports
 * written at the end. Returns the exit status as rl_env_exec's (2 also
 * when the port cannot be bound or too few workers came). */
int rl__api_master_exec(struct rl_env *env);

/* rl_env_exec for --processes N (api/processes.c): N workers forked
 * before anything else starts (no thread, no ZeroMQ context yet), each
 * told the port once this process, their master on 127.0.0.1, has bound
 * it; the run is the master's, its reports this process's. Returns the
 * master's exit status (2 also when a worker could not be made). */
int rl__api_processes_exec(struct rl_env *env);

#endif /* RL_API_CLUSTER_H */

/*
 * `rpcload --worker` (issue #17): the options that make this process a
 * cluster worker and the run that follows (src/cluster/worker.h does the
 * talking; this file sets up the steered run it steers).
 */
#ifndef RL_API_WORKER_H
#define RL_API_WORKER_H

#include <stddef.h>

struct rl__api_options;
struct rl_env;

/* getopt codes of the worker's long options (options.c's table). */
enum {
  RL__API_OPT_WORKER = 0x2100,
  RL__API_OPT_MASTER_HOST,
  RL__API_OPT_MASTER_PORT,
  RL__API_OPT_WORKER_REPORT_INTERVAL,
};

typedef struct rl__api_worker {
  int on;                   /* --worker */
  const char *master_host;  /* --master-host, default 127.0.0.1 */
  int master_port;          /* --master-port, default 5557 */
  double report_interval_s; /* --worker-report-interval, default 3 */
  int host_given, port_given;
} rl__api_worker;

/* Defaults (before the command line). */
void rl__api_worker_defaults(rl__api_worker *w);

/* One worker option into o->worker: 0, 1 when `c` is none of them, or
 * RL_ERR_INVAL with the reason in err. */
int rl__api_worker_parse(struct rl__api_options *o, int c, const char *arg,
                         char *err, size_t errlen);

/* After every option: --master-host/--master-port without --worker, and
 * what a worker cannot have (--web: its master serves the page). 0 or
 * RL_ERR_INVAL with the reason in err. */
int rl__api_worker_check(const struct rl__api_options *o, char *err,
                         size_t errlen);

/* rl_env_exec for --worker: the steered run started, the worker talking
 * to its master until it quits, the run quit. Returns the exit status: 0
 * after the master's quit (or a signal's), 1 when no master answered or
 * the connection failed, 2 when the run could not start. */
int rl__api_worker_exec(struct rl_env *env);

#endif /* RL_API_WORKER_H */

/* `rpcload --worker`: its options and its run (worker.h). */
#include "api/worker.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "api/env.h"
#include "api/options.h"
#include "base/log.h"
#include "base/units.h"
#include "cluster/wire.h"
#include "cluster/worker.h"

void rl__api_worker_defaults(rl__api_worker *w) {
  memset(w, 0, sizeof(*w));
  w->master_host = "127.0.0.1";
  w->master_port = RL__WIRE_DEFAULT_PORT;
  w->report_interval_s = 3.0; /* Locust's WORKER_REPORT_INTERVAL */
}

int rl__api_worker_parse(rl__api_options *o, int c, const char *arg, char *err,
                         size_t errlen) {
  rl__api_worker *w = &o->worker;
  long long v;
  double d;
  switch (c) {
  case RL__API_OPT_WORKER:
    w->on = 1;
    return 0;
  case RL__API_OPT_MASTER_HOST:
    if (!*arg) {
      snprintf(err, errlen, "--master-host: empty host");
      return RL_ERR_INVAL;
    }
    w->master_host = arg;
    w->host_given = 1;
    return 0;
  case RL__API_OPT_MASTER_PORT:
    if (rl__parse_int(arg, 1, 65535, &v)) {
      snprintf(err, errlen, "invalid --master-port '%s': expected 1 to 65535",
               arg);
      return RL_ERR_INVAL;
    }
    w->master_port = (int)v;
    w->port_given = 1;
    return 0;
  case RL__API_OPT_WORKER_REPORT_INTERVAL:
    if (rl__parse_number(arg, &d) || d < 0.1 || d > 3600) {
      snprintf(err, errlen,
               "invalid --worker-report-interval '%s': expected seconds from "
               "0.1 to 3600",
               arg);
      return RL_ERR_INVAL;
    }
    w->report_interval_s = d;
    return 0;
  default:
    return 1;
  }
}

int rl__api_worker_check(const rl__api_options *o, char *err, size_t errlen) {
  const rl__api_worker *w = &o->worker;
  if (!w->on) {
    if (w->host_given || w->port_given) {
      snprintf(err, errlen,
               "--master-host and --master-port are for a "
               "worker: add --worker");
      return RL_ERR_INVAL;
    }
    return 0;
  }
  if (o->web) {
    snprintf(err, errlen,
             "--worker with --web: a worker's master serves the "
             "web UI");
    return RL_ERR_INVAL;
  }
  if (!o->scenario && !o->script) {
    snprintf(err, errlen,
             "--worker needs a scenario (-f FILE) or a script (-s FILE.lua): "
             "its master asks for users by class name");
    return RL_ERR_INVAL;
  }
  return 0;
}

static volatile int quit_flag;

static void on_signal(int sig) {
  (void)sig;
  quit_flag = 1;
}

int rl__api_worker_exec(rl_env *env) {
  rl_error_info err = {0};
  if (!env->plan) {
    rl__log(RL__LOG_ERROR, "--worker: no user classes to run");
    return RL__API_EXIT_USAGE;
  }
  if (rl__api_steered_begin(env, &err) != 0) {
    rl__log(RL__LOG_ERROR, "%s", err.text);
    return RL__API_EXIT_USAGE;
  }
  /* The worker's own table would show only what is not sent yet: its
   * master has the figures. */
  quit_flag = 0;
  struct sigaction sa, old_int, old_term;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  const rl__api_worker *w = &env->o.worker;
  rl__cluster_worker_cfg cfg = {
      .master_host = w->master_host,
      .master_port = w->master_port,
      .report_interval_s = w->report_interval_s,
      .heartbeat_interval_s = 1.0,
      .connect_timeout_s = 60,
      .runner = &env->runner,
      .plan = env->plan,
      .stop_timeout_s = (double)env->o.run.stop_timeout_ns / 1e9,
      .quit_flag = &quit_flag,
      .key = env->o.cluster_key_given ? &env->o.cluster_key : NULL,
  };
  int status = rl__cluster_worker_run(&cfg);
  rl_env_quit(env);
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  if (status == 0 && env->reports_failed)
    status = RL__API_EXIT_REPORT;
  return status;
}

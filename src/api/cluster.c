/* `rpcload --worker` and `--master`: their options and runs (cluster.h). */
#include "api/cluster.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "api/env.h"
#include "api/options.h"
#include "api/summary.h"
#include "api/web.h"
#include "base/log.h"
#include "base/units.h"
#include "cluster/master.h"
#include "cluster/steer.h"
#include "cluster/wire.h"
#include "cluster/worker.h"

void rl__api_cluster_defaults(rl__api_cluster *w) {
  memset(w, 0, sizeof(*w));
  w->master_host = "127.0.0.1";
  w->master_port = RL__WIRE_DEFAULT_PORT;
  w->report_interval_s = 3.0; /* Locust's WORKER_REPORT_INTERVAL */
  w->expect_workers = 1;
  w->heartbeat_liveness = 3; /* Locust's HEARTBEAT_LIVENESS */
  w->master_timeout_s = 60;  /* later Locusts' MASTER_HEARTBEAT_TIMEOUT */
  w->bind_host = "*";        /* Locust's default: every interface */
  w->bind_port = RL__WIRE_DEFAULT_PORT;
}

/* A cluster port (--master-port, --master-bind-port): 1 to 65535, as ZeroMQ
 * connects to or binds it; 0 (the kernel's pick) would leave the other side
 * nothing to dial. On a bad value, the error names the option and the value. */
static int parse_port(const char *opt, const char *arg, int *port, char *err,
                      size_t errlen) {
  long long v;
  if (rl__parse_int(arg, 1, 65535, &v)) {
    snprintf(err, errlen, "invalid %s '%s': expected 1 to 65535", opt, arg);
    return RL_ERR_INVAL;
  }
  *port = (int)v;
  return 0;
}

/* A cluster host (--master-host, --master-bind-host): any non-empty text,
 * which ZeroMQ resolves when it connects or binds; `*host` is arg itself,
 * not a copy, as the options keep argv's other strings. */
static int parse_host(const char *opt, const char *arg, const char **host,
                      char *err, size_t errlen) {
  if (!*arg) {
    snprintf(err, errlen, "%s: empty host", opt);
    return RL_ERR_INVAL;
  }
  *host = arg;
  return 0;
}

int rl__api_cluster_parse(rl__api_options *o, int c, const char *arg, char *err,
                          size_t errlen) {
  rl__api_cluster *w = &o->cluster;
  long long v;
  double d;
  switch (c) {
  case RL__API_OPT_WORKER:
    w->worker = 1;
    return 0;
  case RL__API_OPT_MASTER:
    w->master = 1;
    return 0;
  case RL__API_OPT_HEARTBEAT_LIVENESS:
    if (rl__parse_int(arg, 1, 3600, &v)) {
      snprintf(err, errlen,
               "invalid --heartbeat-liveness '%s': expected heartbeats from 1 "
               "to 3600",
               arg);
      return RL_ERR_INVAL;
    }
    w->heartbeat_liveness = (int)v;
    w->master_opts_given = 1;
    return 0;
  case RL__API_OPT_MASTER_HEARTBEAT_TIMEOUT:
    if (rl__parse_number(arg, &d) || d < 1 || d > 86400) {
      snprintf(err, errlen,
               "invalid --master-heartbeat-timeout '%s': expected seconds "
               "from 1 to 86400",
               arg);
      return RL_ERR_INVAL;
    }
    w->master_timeout_s = d;
    w->host_given = 1;
    return 0;
  case RL__API_OPT_EXPECT_WORKERS:
    if (rl__parse_int(arg, 1, 100000, &v)) {
      snprintf(err, errlen,
               "invalid --expect-workers '%s': expected a whole number >= 1",
               arg);
      return RL_ERR_INVAL;
    }
    w->expect_workers = (int)v;
    w->master_opts_given = 1;
    return 0;
  case RL__API_OPT_EXPECT_WORKERS_MAX_WAIT:
    if (rl__parse_number(arg, &d) || d < 0) {
      snprintf(err, errlen,
               "invalid --expect-workers-max-wait '%s': expected seconds >= 0 "
               "(0: wait for ever)",
               arg);
      return RL_ERR_INVAL;
    }
    w->expect_max_wait_s = d;
    w->master_opts_given = 1;
    return 0;
  case RL__API_OPT_MASTER_BIND_HOST:
    if (parse_host("--master-bind-host", arg, &w->bind_host, err, errlen))
      return RL_ERR_INVAL;
    w->master_opts_given = 1;
    return 0;
  case RL__API_OPT_MASTER_BIND_PORT:
    if (parse_port("--master-bind-port", arg, &w->bind_port, err, errlen))
      return RL_ERR_INVAL;
    w->master_opts_given = 1;
    return 0;
  case RL__API_OPT_MASTER_HOST:
    if (parse_host("--master-host", arg, &w->master_host, err, errlen))
      return RL_ERR_INVAL;
    w->host_given = 1;
    return 0;
  case RL__API_OPT_MASTER_PORT:
    if (parse_port("--master-port", arg, &w->master_port, err, errlen))
      return RL_ERR_INVAL;
    w->port_given = 1;
    return 0;
  case RL__API_OPT_PROCESSES:
    if (rl__parse_int(arg, 1, 1024, &v)) {
      snprintf(err, errlen,
               "invalid --processes '%s': expected 1 to 1024 worker processes",
               arg);
      return RL_ERR_INVAL;
    }
    w->processes = (int)v;
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

int rl__api_cluster_check(const rl__api_options *o, char *err, size_t errlen) {
  const rl__api_cluster *w = &o->cluster;
  if (w->worker && w->master) {
    snprintf(err, errlen, "--worker and --master: give one");
    return RL_ERR_INVAL;
  }
  if (!w->worker && (w->host_given || w->port_given)) {
    snprintf(err, errlen,
             "--master-host, --master-port and --master-heartbeat-timeout are "
             "for a worker: add --worker");
    return RL_ERR_INVAL;
  }
  if (!w->master && w->master_opts_given) {
    snprintf(err, errlen,
             "--expect-workers, --expect-workers-max-wait, --master-bind-host, "
             "--master-bind-port and --heartbeat-liveness are for a master: "
             "add --master");
    return RL_ERR_INVAL;
  }
  if (w->processes && (w->worker || w->master || w->master_opts_given)) {
    snprintf(err, errlen,
             "--processes makes this process the master of local workers: "
             "without --master, --worker and the master's options");
    return RL_ERR_INVAL;
  }
  if (w->processes && !o->scenario && !o->script) {
    snprintf(err, errlen,
             "--processes needs a scenario (-f FILE) or a script (-s "
             "FILE.lua): its workers are dealt users by class name");
    return RL_ERR_INVAL;
  }
  if (!w->worker && !w->master)
    return 0;
  if (o->web && w->worker) {
    snprintf(err, errlen,
             "--worker with --web: a worker's master serves the web UI");
    return RL_ERR_INVAL;
  }
  if (!o->scenario && !o->script) {
    snprintf(err, errlen,
             "%s needs a scenario (-f FILE) or a script (-s FILE.lua): "
             "users are asked for by class name",
             w->worker ? "--worker" : "--master");
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
  const rl__api_cluster *w = &env->o.cluster;
  rl__cluster_worker_cfg cfg = {
      .master_host = w->master_host,
      .master_port = w->master_port,
      .report_interval_s = w->report_interval_s,
      .heartbeat_interval_s = 1.0,
      /* One bound for "no master": none answering client_ready, or an
         rpcload master's heartbeats stopped. */
      .connect_timeout_s = w->master_timeout_s,
      .compile = rl__api_web_compile,
      .compile_arg = &env->web,
      .master_timeout_s = w->master_timeout_s,
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

int rl__api_master_exec(rl_env *env) {
  rl_error_info err = {0};
  rl__api_options *o = &env->o;
  if (!env->plan) {
    rl__log(RL__LOG_ERROR, "--master: no user classes to deal");
    return RL__API_EXIT_USAGE;
  }
  /* The master's run has no users and no run time of its own: the
   * workers' users are its figures, and the master ends the test. Its
   * console table and reports go on as a single process's. */
  uint64_t run_time_ns = o->run.run_time_ns;
  o->run.run_time_ns = 0;
  /* --web: the web UI (started with the run) steers the master. */
  rl__cluster_steer steer;
  rl__cluster_steer_init(&steer);
  int web = o->web;
  int autostart = o->run.autostart;
  double autoquit_s = o->run.autoquit_s; /* the steered run has none */
  env->web_remote = web ? &steer.remote : NULL;
  if (rl__api_steered_begin(env, &err) != 0) {
    rl__log(RL__LOG_ERROR, "%s", err.text);
    rl__cluster_steer_free(&steer);
    return RL__API_EXIT_USAGE;
  }
  if (web && autostart) /* --autostart: the form's swarm, at once */
    steer.remote.swarm(&steer, o->run.users, o->run.spawn_rate, NULL);
  quit_flag = 0;
  struct sigaction sa, old_int, old_term;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  const rl__api_cluster *c = &o->cluster;
  rl__cluster_master_cfg cfg = {
      .bind_host = c->bind_host,
      .bind_port = c->bind_port,
      .expect_workers = c->expect_workers,
      .expect_max_wait_s = c->expect_max_wait_s,
      .users = o->run.users,
      .spawn_rate = o->run.spawn_rate,
      .run_time_s = (double)run_time_ns / 1e9,
      .stop_timeout_s = (double)o->run.stop_timeout_ns / 1e9,
      .stop_timeout_told = c->stop_timeout_given,
      .host = o->host,
      .runner = &env->runner,
      .plan = env->plan,
      .quit_flag = &quit_flag,
      .key = env->o.cluster_key_given ? &env->o.cluster_key : NULL,
      .version = RL_VERSION,
      .heartbeat_liveness = c->heartbeat_liveness,
      .bound = c->bound,
      .bound_arg = c->bound_arg,
      .steer = web ? &steer : NULL,
      .autoquit = web && autoquit_s >= 0,
      .autoquit_s = autoquit_s,
  };
  int status = rl__cluster_master_run(&cfg);
  /* The test's end: the last history row, with every worker's stats. */
  rl__runner_stop_wait(&env->runner, 5);
  rl_env_quit(env); /* the web UI stops with the run */
  env->web_remote = NULL;
  rl__cluster_steer_free(&steer);
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  rl__api_summary_print(&env->runner, o);
  return status ? status : env->status;
}

/* A run from start to end on the caller's thread (rl_env_exec: what the
 * rpcload command does), and what steered runs share with it: the
 * start-up checks, the runner's hooks, the end's reports and verdict. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "api/cluster.h"
#include "api/env.h"
#include "api/reach.h"
#include "api/shape.h"
#include "api/summary.h"
#include "base/log.h"

/* One user holds one socket: take the hard limit, and say when even that
 * is too low. */
static void raise_fd_limit(uint32_t users) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (rl.rlim_cur != RLIM_INFINITY && (uint64_t)users + 64 > rl.rlim_cur)
    rl__log(RL__LOG_WARN,
            "%u users need about %u open files but the limit is %llu: raise "
            "it (ulimit -n) or some connections will fail",
            users, users + 64, (unsigned long long)rl.rlim_cur);
}

int rl__api_env_prepare(rl_env *env, char *why, size_t whylen) {
  rl__api_options *o = &env->o;
  char err[1024] = "";
  /* A peer closing mid-write must be an error code, not a dead process. */
  signal(SIGPIPE, SIG_IGN);
  /* With C classes the target is their host, and the plan the run. */
  int status = rl__api_reach_check(o, env->plan ? NULL : env->target, env->plan,
                                   why, whylen);
  if (status)
    return status;
  /* A master's users are its workers': it holds none of their sockets. */
  raise_fd_limit(o->cluster.master ? 0 : o->run.users);
  /* Locust's init: the options are read and the plan is made. */
  if (env->events.n) {
    if (rl__events_start(&env->events, err, sizeof err)) {
      fprintf(stderr, "rpcload: error: %s\n", err);
      snprintf(why, whylen, "%s", err);
      return RL__API_EXIT_USAGE;
    }
    o->run.events = &env->events;
  }
  if (!(env->stats = rl__stats_new())) {
    fprintf(stderr, "rpcload: error: out of memory\n");
    snprintf(why, whylen, "out of memory");
    return RL__API_EXIT_USAGE;
  }
  const char *plugin =
      env->target ? env->target->plugin->desc.name : "scenario";
  env->web = (rl__api_web){.o = o,
                           .plugin = plugin,
                           .plugins = &env->plugins,
                           .scn = env->scn,
                           .po = env->po,
                           .cclasses = env->cclasses,
                           .n_cclasses = env->n_cclasses,
                           .remote = env->web_remote};
  if (rl__api_reports_open(&env->reports, o, plugin, err, sizeof err)) {
    fprintf(stderr, "rpcload: error: %s\n", err);
    snprintf(why, whylen, "%s", err);
    return RL__API_EXIT_USAGE;
  }
  env->reports_open = 1;
  return 0;
}

/* The console table and the CSV files while the run goes. */
static void report_progress(rl__runner *r, void *arg) {
  rl__api_reports_progress(r, &((rl_env *)arg)->reports);
}

static void report_second(rl__runner *r, void *arg) {
  rl__api_reports_second(r, &((rl_env *)arg)->reports);
}

/* The web UI and --prometheus-port: up once the workers are, down once
 * they have ended. A steered run's caller waits for `started`. */
static void run_started(rl__runner *r, void *arg) {
  rl_env *env = arg;
  if (rl__api_web_wanted(&env->o))
    rl__api_web_started(r, &env->web);
  pthread_mutex_lock(&env->lock);
  env->started_ok = 1;
  pthread_cond_broadcast(&env->cond);
  pthread_mutex_unlock(&env->lock);
}

static void run_ended(rl__runner *r, void *arg) {
  rl__api_web_ended(r, &((rl_env *)arg)->web);
}

void rl__api_hooks(rl_env *env, rl__runner_hooks *hooks, int console) {
  *hooks = (rl__runner_hooks){.report = console ? report_progress : NULL,
                              .second = report_second,
                              .started = run_started,
                              .ended = run_ended,
                              .arg = env};
}

/* The exit status of a run that was set up, most telling first: rpcload
 * could not run it as asked (the threads, a port the web UI could not
 * listen on), then a report lost, then the run's own verdict. */
static int run_status(rl_env *env, int ran) {
  const rl__api_options *o = &env->o;
  const rl__runner *r = &env->runner;
  if (!ran)
    return RL__API_EXIT_USAGE;
  if (env->reports_failed)
    return RL__API_EXIT_REPORT;
  const rl__stats_entry *total = rl__stats_total(env->stats);
  /* --max-dropped: said whatever else is wrong with the run. */
  uint64_t scheduled, dropped;
  rl__stats_iterations(env->stats, &scheduled, &dropped);
  int over = rl__api_shape_dropped_over(o, dropped);
  if (total->num_requests == 0 && r->cut_requests) {
    /* A wedged service must not pass a CI job: whatever
     * --exit-code-on-error says about failures, nothing was measured. */
    rl__log(RL__LOG_ERROR,
            "no request finished: %llu were sent and cut at the stop, the "
            "server answered none (--stop-timeout waits longer for answers)",
            (unsigned long long)r->cut_requests);
    return EXIT_FAILURE;
  }
  if (over)
    return EXIT_FAILURE;
  if (total->num_failures)
    return o->exit_code_on_error;
  return 0;
}

void rl__api_env_finish(rl_env *env, int started) {
  if (env->o.run.events)
    rl__events_quitting(env->o.run.events);
  if (env->reports_open) {
    env->reports_failed =
        rl__api_reports_finish(&env->reports, &env->runner, env->stats) != 0;
    env->reports_open = 0;
  }
  env->status = run_status(env, started && !env->web.failed);
}

int rl_env_exec(rl_env *env) {
  switch (env->cmd) {
  case RL_CMD_HELP:
    return RL__API_EXIT_USAGE; /* the caller's to print */
  case RL_CMD_VERSION:
    printf("rpcload %s (plugin ABI %d.%d, library API %d.%d)\n", RL_VERSION,
           RL_ABI_MAJOR, RL_ABI_MINOR, RL_API_MAJOR, RL_API_MINOR);
    return 0;
  case RL_CMD_PLUGINS:
    return rl__api_list_plugins(env);
  case RL_CMD_LIST: {
    if (env->o.print_locustfile)
      return rl__api_print_locustfile(env);
    int st = rl__api_list(env);
    if (!st && env->plan && env->o.show_task_ratio)
      st = rl__api_task_ratio(env);
    return st;
  }
  case RL_CMD_TASK_RATIO:
    return rl__api_task_ratio(env);
  case RL_CMD_RUN:
    break;
  }
  if (env->o.cluster.processes && !env->runner_used &&
      env->phase == RL__API_SET_UP)
    return env->status = rl__api_processes_exec(env);
  if (env->o.cluster.worker && !env->runner_used &&
      env->phase == RL__API_SET_UP)
    return env->status = rl__api_worker_exec(env);
  if (env->o.cluster.master && !env->runner_used &&
      env->phase == RL__API_SET_UP)
    return env->status = rl__api_master_exec(env);
  if (env->runner_used || env->phase != RL__API_SET_UP) {
    rl__log(RL__LOG_ERROR, "rl_env_exec: this environment has run already");
    return RL__API_EXIT_USAGE;
  }
  char why[1024] = "";
  int status = rl__api_env_prepare(env, why, sizeof why);
  if (status) {
    env->phase = RL__API_FAILED;
    return env->status = status;
  }
  rl__runner_hooks hooks;
  rl__api_hooks(env, &hooks, 1);
  if (!rl__api_web_wanted(&env->o))
    hooks.started = hooks.ended = NULL;
  env->phase = RL__API_RUNNING;
  env->runner_used = 1;
  int started =
      rl__runner_run(&env->runner, &env->o.run, env->plugins.host,
                     env->plan ? NULL : env->target, env->stats, &hooks) == 0;
  if (!started)
    fprintf(stderr, "rpcload: error: cannot start the worker threads\n");
  rl__api_env_finish(env, started);
  rl__api_summary_print(&env->runner, &env->o);
  env->phase = RL__API_ENDED;
  return env->status;
}

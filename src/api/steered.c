/*
 * Steered runs (Locust's runner used from a script): the run goes on a
 * thread of the library's own, steered like the web UI steers one
 * (rl__runner_control), and callers start, wait, stop and quit from any
 * thread. The run thread only runs the runner; what comes after it (the
 * reports, the verdict) is done by rl_env_quit's caller, so a slow report
 * never holds a lock the run needs.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/env.h"
#include "base/log.h"

static void sleep_ms(long ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) && errno == EINTR)
    ;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *run_thread(void *arg) {
  rl_env *env = arg;
  rl__runner_hooks hooks;
  /* A cluster master's live table is its workers' figures, as a single
   * process prints them (console set by rl__api_steered_begin). */
  rl__api_hooks(env, &hooks, env->o.cluster.master);
  int rc = rl__runner_run(&env->runner, &env->o.run, env->plugins.host,
                          env->plan ? NULL : env->target, env->stats, &hooks);
  pthread_mutex_lock(&env->lock);
  env->phase = rc == 0 ? RL__API_ENDED : RL__API_FAILED;
  pthread_cond_broadcast(&env->cond);
  pthread_mutex_unlock(&env->lock);
  return NULL;
}

/* The run going, steered and waiting for a start: 0, or an RL_ERR_*. */
int rl__api_steered_begin(rl_env *env, rl_error_info *err) {
  if (env->cmd != RL_CMD_RUN)
    return rl__api_fail(err, RL_ERR_INVAL,
                        "the options ask for a listing, not a run");
  pthread_mutex_lock(&env->lock);
  int phase = env->phase;
  pthread_mutex_unlock(&env->lock);
  if (phase == RL__API_RUNNING)
    return 0;
  if (phase != RL__API_SET_UP || env->runner_used)
    return rl__api_fail(err, RL_ERR_CLOSED, "the run has ended (rl_env_quit)");
  char why[1024] = "";
  if (rl__api_env_prepare(env, why, sizeof why)) {
    env->phase = RL__API_FAILED;
    env->status = RL__API_EXIT_USAGE;
    return rl__api_fail(err, RL_ERR_INVAL,
                        *why ? why
                             : "the run could not be set up (see stderr)");
  }
  /* A script reads its figures (rl_env_stats): no console table, live
   * or final, unlike rl_env_exec. A cluster master (api/cluster.c) keeps
   * rl_env_exec's console (reports.c's choice). */
  if (!env->o.cluster.master)
    env->reports.console = NULL;
  rl__run_config *c = &env->o.run;
  c->steered = 1;
  c->autostart = 0;
  c->autoquit_s = -1;
  c->no_signals = 1;
  env->runner_used = 1;
  env->phase = RL__API_RUNNING;
  if (pthread_create(&env->thread, NULL, run_thread, env)) {
    env->phase = RL__API_FAILED;
    env->status = RL__API_EXIT_USAGE;
    return rl__api_fail(err, RL_ERR_NOMEM, "cannot start the run's thread");
  }
  env->thread_on = 1;
  /* The runner's started hook: the workers are up and take controls. */
  pthread_mutex_lock(&env->lock);
  while (!env->started_ok && env->phase == RL__API_RUNNING)
    pthread_cond_wait(&env->cond, &env->lock);
  int ok = env->started_ok && env->phase == RL__API_RUNNING;
  pthread_mutex_unlock(&env->lock);
  if (!ok)
    return rl__api_fail(err, RL_ERR_NOMEM, "cannot start the worker threads");
  return 0;
}

int rl_env_start(rl_env *env, uint32_t users, double spawn_rate,
                 rl_error_info *err) {
  if (spawn_rate <= 0)
    return rl__api_fail(err, RL_ERR_INVAL, "the spawn rate must be above 0");
  int rc = rl__api_steered_begin(env, err);
  if (rc)
    return rc;
  rl__runner_ctl c = {.swarm = 1, .users = users, .spawn_rate = spawn_rate};
  rl__runner_control(&env->runner, &c);
  /* Returns once the run has taken it: a wait right after sees this test,
   * not the one before (bounded: the loop answers within milliseconds). */
  for (int i = 0; i < 2000; i++) {
    int st = atomic_load(&env->runner.state);
    if (st == RL__STATE_SPAWNING || st == RL__STATE_RUNNING ||
        st == RL__STATE_ENDING)
      break;
    sleep_ms(1);
  }
  return 0;
}

/* The test is over: stopped (by itself or asked), or the run ended. */
static int test_over(rl_env *env) {
  pthread_mutex_lock(&env->lock);
  int phase = env->phase;
  pthread_mutex_unlock(&env->lock);
  if (phase != RL__API_RUNNING)
    return 1;
  int st = atomic_load(&env->runner.state);
  return st == RL__STATE_STOPPED || st == RL__STATE_ENDING ||
         st == RL__STATE_READY;
}

int rl_env_wait(rl_env *env, double timeout_s) {
  double end = now_s() + timeout_s;
  /* Polled every 5 ms: a wait is for a test's end, seconds away. */
  while (!test_over(env)) {
    if (timeout_s >= 0 && now_s() >= end)
      return RL_ERR_TIMEOUT;
    sleep_ms(5);
  }
  return 0;
}

int rl_env_stop(rl_env *env) {
  pthread_mutex_lock(&env->lock);
  int phase = env->phase;
  pthread_mutex_unlock(&env->lock);
  if (phase != RL__API_RUNNING || !env->thread_on)
    return RL_ERR_CLOSED;
  /* --stop-timeout bounds the users' stop; past it they are cut. */
  double limit = (double)env->o.run.stop_timeout_ns / 1e9 + 30;
  return rl__runner_stop_wait(&env->runner, limit);
}

int rl_env_quit(rl_env *env) {
  if (!env->thread_on) {
    /* Never started (or exec ran): nothing runs; say so once. */
    return env->runner_used ? 0 : RL_ERR_CLOSED;
  }
  rl__runner_ctl q = {.quit = 1};
  pthread_mutex_lock(&env->lock);
  int running = env->phase == RL__API_RUNNING;
  pthread_mutex_unlock(&env->lock);
  if (running)
    rl__runner_control(&env->runner, &q);
  pthread_join(env->thread, NULL);
  env->thread_on = 0;
  int started = env->phase == RL__API_ENDED;
  rl__api_env_finish(env, started);
  return env->reports_failed ? RL_ERR_IO : 0;
}

int rl_env_web_ui(rl_env *env, const char *host, int port, rl_error_info *err) {
  if (port < 0 || port > 65535)
    return rl__api_fail(err, RL_ERR_INVAL,
                        "the web UI's port must be 0..65535");
  if (env->web.ui)
    return rl__api_fail(err, RL_ERR_BUSY, "the web UI is already served");
  char *h = strdup(host ? host : "127.0.0.1");
  if (!h)
    return rl__api_fail(err, RL_ERR_NOMEM, "out of memory");
  free(env->web_host);
  env->web_host = h;
  env->o.web = 1;
  env->o.web_host = h;
  env->o.web_port = port;
  int was_running = env->phase == RL__API_RUNNING;
  int rc = rl__api_steered_begin(env, err);
  if (rc)
    return rc;
  if (was_running) /* the started hook has passed: serve from here */
    rl__api_web_started(&env->runner, &env->web);
  if (!env->web.ui)
    return rl__api_fail(err, RL_ERR_IO,
                        "the web UI could not start (the reason is on stderr)");
  return 0;
}

int rl_env_web_ui_port(const rl_env *env) {
  return env->web.ui ? (int)rl__web_ui_port(env->web.ui) : -1;
}

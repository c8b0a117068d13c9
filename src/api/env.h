/*
 * The environment behind <rpcload/rpcload.h>'s rl_env: what a run is made
 * of (options, plugins, listeners, the plan) and the run itself, driven
 * either on the caller's thread (rl_env_exec, api/exec.c) or steered on a
 * thread of the library's own (rl_env_start..., api/steered.c).
 *
 * Threads: an environment is made, set up and freed by one thread (the
 * owner). While a steered run goes, rl_env_start/wait/stop/stats/quit may
 * come from any thread: what they share with the run thread is guarded by
 * `lock`; the run's own figures by the runner's locks.
 */
#ifndef RL_API_ENV_H
#define RL_API_ENV_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <rpcload/rpcload.h>

#include "api/options.h"
#include "api/reports.h"
#include "api/web.h"
#include "engine/plan.h"
#include "engine/plugin_loader.h"
#include "engine/runner.h"
#include "engine/target.h"
#include "events/events.h"
#include "scenario/compile.h"
#include "scenario/scenario.h"
#include "stats/stats.h"

/* Exit statuses (rl_env_exec): see rpcload.h. */
#define RL__API_EXIT_USAGE 2
#define RL__API_EXIT_REPORT 3

/* Where a run is. */
enum rl__api_phase {
  RL__API_SET_UP = 0, /* made; nothing started */
  RL__API_RUNNING,    /* the runner runs (exec, or the steered thread) */
  RL__API_ENDED,      /* the runner returned; reports written */
  RL__API_FAILED      /* it could not start */
};

struct rl_env {
  rl__api_options o;
  char **argv; /* owned, NULL-terminated: o points into it */
  int argc;
  rl_command cmd;
  rl__plugin_set plugins;
  rl__events events;
  rl__target *target;           /* the quick command line's, owned; or NULL */
  rl__scn *scn;                 /* -f, owned; or NULL */
  rl__plan *plan;               /* -f's (or C classes'), owned; or NULL */
  rl__scn_compile_options po;   /* what a new host is compiled with */
  const char *option_flags[64]; /* po.option_flags points here */
  char *web_host;               /* rl_env_web_ui's, owned */
  struct rl__api_fn *fns;       /* rl_env_on_request's, owned (api/env.c) */
  /* rl_env_add_user_class's, in order; the array owned, the classes
   * borrowed. */
  const rl_user_class **cclasses;
  size_t n_cclasses;
  /* rl_env_add_script's (src/script/, above this module): what it loaded,
   * freed with script_free once the run's users are gone. */
  void *script;
  void (*script_free)(void *script);
  rl__stats *stats;
  /* The run (api/exec.c, api/steered.c). */
  rl__runner runner;
  int runner_used; /* rl__runner_run was called: rl__runner_free due */
  rl__api_reports reports;
  rl__api_web web;
  /* --master --web: what its web UI steers (api/cluster.c), borrowed;
   * NULL otherwise. */
  const rl__web_remote *web_remote;
  int reports_open;
  int reports_failed;
  int status; /* the exit status once ended */
  /* Steered: the run's thread, and what it and callers share. */
  pthread_mutex_t lock;
  pthread_cond_t cond;
  pthread_t thread;
  int thread_on;  /* the thread was created (join due) */
  int phase;      /* enum rl__api_phase, under lock */
  int started_ok; /* the runner's started hook came */
};

/*
 * Before any run (exec or steered): the start-up checks and what every run
 * needs (reachability, the open-files limit, the listeners' init, the
 * stats, the reports opened). Returns 0, or an exit status with the reason
 * said on stderr.
 */
int rl__api_env_prepare(rl_env *env, char *why, size_t whylen);

/* Fills `err` (NULL: nothing) with `code`, not a usage error, and the
 * reason `text` (copied); returns `code`: every API function's refusal. */
int rl__api_fail(rl_error_info *err, int code, const char *text);

/* After the runner returned: quitting, the reports, the verdict (sets
 * env->status). */
void rl__api_env_finish(rl_env *env, int started);

/* The listings (api/listing.c): --plugins, --list, --show-task-ratio.
 * Each prints on stdout and returns an exit status. */
int rl__api_list_plugins(rl_env *env);
int rl__api_list(rl_env *env);
int rl__api_task_ratio(rl_env *env);

/* --print-locustfile (api/locustfile.c): Locust User classes for the
 * plan's classes (the command line's one class without a plan), for a
 * Locust master; on stdout. Returns an exit status. */
int rl__api_print_locustfile(rl_env *env);

/* A steered run started on the library's thread, waiting for a start
 * (rl__runner_control works once it returns 0); an RL_ERR_* with the
 * reason in err otherwise (api/steered.c). */
int rl__api_steered_begin(rl_env *env, rl_error_info *err);

/* The runner's hooks, shared by exec and steered runs (api/exec.c). */
void rl__api_hooks(rl_env *env, rl__runner_hooks *hooks, int console);

/*
 * Compiles the C classes added so far again (rl_env_add_user_class did
 * it for each add), after their request texts changed: a Lua class learns
 * a gRPC method's shape from the plugin's compiled step (a descriptor set
 * or reflection) and declares that method's request again (script/
 * declare.c). Returns 0, or an RL_ERR_* with the reason in err; the old
 * plan stays on failure.
 */
int rl__api_env_replan(rl_env *env, rl_error_info *err);

/*
 * The plugin's step_streams (ABI 1.9) of C class `cls`'s request number
 * `request` as the plan compiled it: RL_STEP_STREAMS_* bits into
 * *streams. Returns 0, or RL_ERR_NOTFOUND when the plan has no such
 * class (--tags left it out) or request. Main thread, before the run.
 */
int rl__api_request_streams(const rl_env *env, const char *cls, size_t request,
                            uint32_t *streams);

#endif /* RL_API_ENV_H */

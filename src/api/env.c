/* An environment's making and unmaking (rl_env_new, rl_env_free) and its
 * small queries: everything a run is set up from, before it runs. */
#include "api/env.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/options_set.h"
#include "api/shape.h"
#include "base/clock.h"
#include "base/log.h"
#include "engine/host.h"
#include "scenario/cclass.h"

/* getopt keeps its place in globals: one parse at a time. */
static pthread_mutex_t parse_lock = PTHREAD_MUTEX_INITIALIZER;

uint32_t rl_api_version(void) { return RL_API_VERSION; }

const char *rl_version(void) { return RL_VERSION; }

int rl__api_fail(rl_error_info *err, int code, const char *text) {
  if (err) {
    err->code = code;
    err->usage = 0;
    snprintf(err->text, sizeof err->text, "%s", text);
  }
  return code;
}

static void list_refused(const char *path, const char *reason, void *arg) {
  (void)path;
  (void)arg;
  rl__log(RL__LOG_WARN, "%s", reason);
}

/* How the command line spelled a plugin option, for a scenario's "applies
 * to no step" (options.c's parse_grpc makes these keys; --no-cookies and
 * --no-redirects the last two, with these values). */
static const char *option_flag(const rl_kv *kv) {
  static const char *const flags[][3] = {
      {"proto", NULL, "--proto"},
      {"protoset", NULL, "--protoset"},
      {"import_path", NULL, "-I"},
      {"metadata", NULL, "-m"},
      {"authority", NULL, "--authority"},
      {"compress", NULL, "--compress"},
      {"cookies", "off", "--no-cookies"},
      {"allow_redirects", "false", "--no-redirects"},
  };
  for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
    if (strcmp(flags[i][0], kv->key) == 0 &&
        (!flags[i][1] || strcmp(flags[i][1], kv->value) == 0))
      return flags[i][2];
  return NULL; /* -O KEY=VALUE */
}

/* What a scenario's or a C class's steps are compiled with: the command
 * line's target, request options, tags, users and wait. */
static void set_compile_options(rl_env *env) {
  rl__api_options *o = &env->o;
  for (size_t i = 0; i < o->n_plugin_options && i < 64; i++)
    env->option_flags[i] = option_flag(&o->plugin_options[i]);
  env->po = (rl__scn_compile_options){
      .base = &o->target,
      .host = o->target.url,
      .tags = o->tags,
      .n_tags = o->n_tags,
      .exclude_tags = o->exclude_tags,
      .n_exclude_tags = o->n_exclude_tags,
      .users = o->run.users,
      .default_wait = &o->run.wait,
      .wait_given = o->wait_given,
      .list_only = o->list || o->show_task_ratio || o->print_locustfile,
      .option_flags = o->n_plugin_options <= 64 ? env->option_flags : NULL,
  };
}

/* -f FILE: the scenario, its settings under the command line's options,
 * compiled into a plan. 0 or RL_ERR_INVAL with the reason in err. */
static int load_scenario(rl_env *env, char *err, size_t errlen) {
  rl__api_options *o = &env->o;
  if (rl__scn_load(o->scenario, &env->scn, err, errlen))
    return RL_ERR_INVAL;
  const rl__scn_settings *st = &env->scn->settings;
  if (!o->users_given && st->has_users)
    o->run.users = (uint32_t)st->users;
  if (!o->rate_given && st->has_spawn_rate)
    o->run.spawn_rate = st->spawn_rate;
  if (!o->time_given && st->has_run_time) {
    o->run.run_time_ns = st->run_time_ns;
    o->time_given = 1; /* by the file: a shape's stages do not set it */
  }
  char why[768];
  if (rl__api_shape_from_scenario(o, &env->scn->shape, why, sizeof why)) {
    snprintf(err, errlen, "%s: %s", o->scenario, why);
    return RL_ERR_INVAL;
  }
  /* The threads for the file's user count (the options check saw -u's,
   * or one user without it). */
  if (!o->threads_given && !o->web)
    o->run.threads = o->run.users < o->cpus ? o->run.users : o->cpus;
  rl__plugin_set_scan(&env->plugins, list_refused, NULL);
  set_compile_options(env);
  if (rl__scn_compile(&env->plugins, env->scn, &env->po, &env->plan, err,
                      errlen))
    return RL_ERR_INVAL;
  /* Only fixed_count classes: Locust starts no user past their total. */
  uint64_t fixed = rl__plan_fixed_only_users(env->plan);
  if (fixed && o->run.users > fixed) {
    rl__log(RL__LOG_WARN,
            "every user class has a fixed_count: %llu users in all, not %u",
            (unsigned long long)fixed, o->run.users);
    o->run.users = (uint32_t)fixed;
  }
  /* A scenario with on_stop steps needs time for them at the end. */
  if (env->plan->has_on_stop && o->run.stop_timeout_ns == 0)
    o->run.stop_timeout_ns = 10 * RL__NS_PER_SEC;
  env->o.run.plan = env->plan;
  return 0;
}

/* --listener: each file loaded and checked, its --listener-opt given. */
static int load_listeners(rl_env *env, char *err, size_t errlen) {
  const rl__api_options *o = &env->o;
  for (size_t i = 0; i < o->n_listeners; i++) {
    rl__listener *l;
    if (rl__events_load(&env->events, o->listeners[i].path, &l, err, errlen))
      return RL_ERR_INVAL;
    for (size_t k = 0; k < o->listeners[i].n_options; k++)
      if (rl__listener_add_option(l, o->listeners[i].options[k], err, errlen))
        return RL_ERR_INVAL;
  }
  return 0;
}

/* What the options ask for, and everything it needs loaded. */
static int set_up(rl_env *env, char *err, size_t errlen) {
  rl__api_options *o = &env->o;
  if (o->help || o->version) {
    env->cmd = o->help ? RL_CMD_HELP : RL_CMD_VERSION;
    return 0;
  }
  for (size_t i = 0; i < o->n_plugin_dirs; i++)
    rl__plugin_set_add_dir(&env->plugins, o->plugin_dirs[i]);
  if (o->list_plugins) {
    env->cmd = RL_CMD_PLUGINS;
    return 0;
  }
  /* Refused listeners stop us before anything else is read. */
  if (load_listeners(env, err, errlen))
    return RL_ERR_INVAL;
  env->cmd = o->list || o->print_locustfile ? RL_CMD_LIST
             : o->show_task_ratio           ? RL_CMD_TASK_RATIO
                                            : RL_CMD_RUN;
  if (o->scenario)
    return load_scenario(env, err, errlen);
  /* -s alone: the script's classes come with rl_env_add_script. */
  if (o->script)
    return 0;
  /* --print-locustfile alone: the command line's one class needs no
   * target (api/locustfile.c). */
  if (o->print_locustfile)
    return 0;
  return rl__target_new(&env->plugins, &o->target, &env->target, err, errlen)
             ? RL_ERR_INVAL
             : 0;
}

int rl_env_new(const rl_options *opts, rl_env **out, rl_error_info *err) {
  *out = NULL;
  rl_env *env = calloc(1, sizeof *env);
  if (!env || rl__options_argv(opts, &env->argc, &env->argv)) {
    free(env);
    return rl__api_fail(err, RL_ERR_NOMEM, "out of memory");
  }
  rl__plugin_set_init(&env->plugins, rl__host());
  rl__events_init(&env->events);
  pthread_mutex_init(&env->lock, NULL);
  pthread_cond_init(&env->cond, NULL);
  env->status = 0;
  char why[1024] = "";
  pthread_mutex_lock(&parse_lock);
  int rc =
      rl__api_options_parse(&env->o, env->argc, env->argv, why, sizeof why);
  pthread_mutex_unlock(&parse_lock);
  if (!rc && !env->o.help && !env->o.version)
    rc = rl__api_options_check(&env->o, why, sizeof why);
  int usage = rc != 0 && rc != RL_ERR_NOMEM;
  if (!rc)
    rc = set_up(env, why, sizeof why);
  if (rc) {
    rl_env_free(env);
    rl__api_fail(err, rc, why);
    if (err)
      err->usage = usage;
    return rc;
  }
  *out = env;
  return 0;
}

rl_env *rl_env_new_from_scenario(const char *path, rl_error_info *err) {
  rl_options *o = rl_options_new();
  rl_env *env = NULL;
  if (!o) {
    rl__api_fail(err, RL_ERR_NOMEM, "out of memory");
    return NULL;
  }
  if (rl_options_set(o, "scenario", path, err) == 0)
    rl_env_new(o, &env, err);
  rl_options_free(o);
  return env;
}

rl_command rl_env_command(const rl_env *env) { return env->cmd; }

int rl_env_exit_status(const rl_env *env) { return env->status; }

int rl_env_add_listener(rl_env *env, const rl_listener *desc,
                        const rl_kv *options, size_t n_options,
                        rl_error_info *err) {
  if (env->runner_used || env->phase != RL__API_SET_UP)
    return rl__api_fail(err, RL_ERR_BUSY,
                        "listeners are added before the run starts");
  rl__listener *l;
  char why[1024];
  int rc = rl__events_add(&env->events, desc,
                          desc && desc->name ? desc->name : "listener", &l, why,
                          sizeof why);
  if (rc)
    return rl__api_fail(err, rc, why);
  for (size_t i = 0; i < n_options; i++) {
    char kv[1024];
    snprintf(kv, sizeof kv, "%s=%s", options[i].key, options[i].value);
    if ((rc = rl__listener_add_option(l, kv, why, sizeof why)))
      return rl__api_fail(err, rc, why);
  }
  return 0;
}

/* rl_env_on_request: a listener of one function. The function and its
 * context are the listener's state (kept by the environment, which frees
 * them: such a listener has no init or fini); thread_new hands the state
 * on as each thread's context. */
typedef struct rl__api_fn {
  rl_request_fn fn;
  void *ctx;
  struct rl__api_fn *next;
} rl__api_fn;

static void *fn_thread_new(void *state, uint32_t worker) {
  (void)worker;
  return state;
}

static const char *fn_on_request(void *thread_ctx, const rl_request_event *ev) {
  const rl__api_fn *f = thread_ctx;
  return f->fn(f->ctx, ev);
}

static const rl_listener fn_listener = {
    .abi_version = RL_LISTENER_ABI_VERSION,
    .struct_size = sizeof(rl_listener),
    .name = "on_request",
    .version = RL_VERSION,
    .summary = "rl_env_on_request's function",
    .thread_new = fn_thread_new,
    .on_request = fn_on_request,
};

int rl_env_on_request(rl_env *env, rl_request_fn fn, void *ctx,
                      rl_error_info *err) {
  if (!fn)
    return rl__api_fail(err, RL_ERR_INVAL, "rl_env_on_request: no function");
  if (env->runner_used || env->phase != RL__API_SET_UP)
    return rl__api_fail(err, RL_ERR_BUSY,
                        "listeners are added before the run starts");
  rl__api_fn *f = malloc(sizeof *f);
  if (!f)
    return rl__api_fail(err, RL_ERR_NOMEM, "out of memory");
  *f = (rl__api_fn){.fn = fn, .ctx = ctx, .next = env->fns};
  env->fns = f;
  rl__listener *l;
  char why[1024];
  int rc = rl__events_add(&env->events, &fn_listener, "rl_env_on_request", &l,
                          why, sizeof why);
  if (rc)
    return rl__api_fail(err, rc, why);
  l->state = f;
  return 0;
}

/* The plan of the scenario's classes and the first n C classes, in place
 * of the environment's; 0, or the compiler's reason (the old plan stays). */
static int plan_classes(rl_env *env, size_t n, rl_error_info *err) {
  rl__plan *plan = NULL;
  char why[1024];
  int rc = rl__cclass_plan(&env->plugins, env->scn, env->cclasses, n, &env->po,
                           &plan, why, sizeof why);
  if (rc)
    return rl__api_fail(err, rc, why);
  rl__plan_del(env->plan);
  env->plan = plan;
  env->o.run.plan = plan;
  if (plan->has_on_stop && env->o.run.stop_timeout_ns == 0)
    env->o.run.stop_timeout_ns = 10 * RL__NS_PER_SEC;
  return 0;
}

int rl_env_add_user_class(rl_env *env, const rl_user_class *cls,
                          rl_error_info *err) {
  if (!cls)
    return rl__api_fail(err, RL_ERR_INVAL, "rl_env_add_user_class: no class");
  if (env->runner_used || env->phase != RL__API_SET_UP)
    return rl__api_fail(err, RL_ERR_BUSY,
                        "user classes are added before the run starts");
  if (env->cmd != RL_CMD_RUN && env->cmd != RL_CMD_LIST &&
      env->cmd != RL_CMD_TASK_RATIO)
    return rl__api_fail(
        err, RL_ERR_INVAL,
        "the options ask for no run (--help, --version, --plugins)");
  /* An array of pointers to classes: its element is a pointer. */
  typedef const rl_user_class *class_ref;
  class_ref *all =
      realloc(env->cclasses, (env->n_cclasses + 1) * sizeof(class_ref));
  if (!all)
    return rl__api_fail(err, RL_ERR_NOMEM, "out of memory");
  env->cclasses = all;
  all[env->n_cclasses] = cls;
  if (!env->scn)
    set_compile_options(env);
  rl__plugin_set_scan(&env->plugins, list_refused, NULL);
  /* Every class so far in one plan (with -f's): this one's errors now. */
  int rc = plan_classes(env, env->n_cclasses + 1, err);
  if (rc == 0)
    env->n_cclasses++;
  return rc;
}

int rl__api_env_replan(rl_env *env, rl_error_info *err) {
  if (env->runner_used || env->phase != RL__API_SET_UP)
    return rl__api_fail(err, RL_ERR_BUSY,
                        "user classes are compiled before the run starts");
  return plan_classes(env, env->n_cclasses, err);
}

int rl__api_request_streams(const rl_env *env, const char *cls, size_t request,
                            uint32_t *streams) {
  *streams = 0;
  const rl__plan *plan = env->plan;
  for (size_t i = 0; plan && i < plan->n_classes; i++) {
    const rl__plan_class *c = &plan->classes[i];
    if (!c->c || strcmp(c->name, cls) != 0)
      continue;
    if (request >= c->c->n_requests || !c->c->requests[request].target)
      return RL_ERR_NOTFOUND;
    const rl__target *t = c->c->requests[request].target;
    if (t->plugin && t->plugin->desc.step_streams)
      *streams = t->plugin->desc.step_streams(t->step);
    return 0;
  }
  return RL_ERR_NOTFOUND;
}

uint32_t rl_env_user_count(const rl_env *env) {
  if (!env->runner_used)
    return 0;
  return rl__runner_users_running(&env->runner);
}

const char *rl_env_state(const rl_env *env) {
  if (!env->runner_used)
    return "ready";
  return rl__run_state_name(atomic_load(&env->runner.state));
}

void rl_env_free(rl_env *env) {
  if (!env)
    return;
  if (env->thread_on)
    rl_env_quit(env);
  if (env->runner_used)
    rl__runner_free(&env->runner);
  /* After the runner: its users (and their Lua coroutines) are gone. */
  if (env->script_free)
    env->script_free(env->script);
  rl__stats_del(env->stats);
  rl__target_del(env->target);
  rl__plan_del(env->plan);
  rl__scn_del(env->scn);
  rl__plugin_set_free(&env->plugins);
  rl__events_free(&env->events); /* after the plugins: nothing runs any more */
  rl__api_options_free(&env->o);
  rl__options_argv_free(env->argv);
  free(env->web_host);
  free(env->cclasses);
  while (env->fns) {
    rl__api_fn *next = env->fns->next;
    free(env->fns);
    env->fns = next;
  }
  pthread_mutex_destroy(&env->lock);
  pthread_cond_destroy(&env->cond);
  free(env);
}

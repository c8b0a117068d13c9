/* What rpcload lists instead of running: --plugins, --list and
 * --show-task-ratio (rl_env_exec). */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "api/env.h"
#include "scenario/compile.h"

static void list_refused(const char *path, const char *reason, void *arg) {
  (void)path;
  (void)arg;
  fprintf(stderr, "rpcload: warning: %s\n", reason);
}

/* How a scenario writes a step of the plugin (ABI 1.3): its keys, how
 * their value reads, and its own keys. */
static void print_step_keys(const rl__plugin *p) {
  static const char *const kinds[] = {"value", "file", "files", "mapping"};
  const char *const *keys = p->desc.step_keys;
  printf("             scenario steps:");
  for (size_t j = 0;; j++) {
    const char *k = keys              ? keys[j]
                    : p->desc.schemes ? p->desc.schemes[j].name
                                      : NULL;
    if (!k)
      break;
    printf("%s %s:", j ? "," : "", k);
  }
  printf(" %s", p->desc.step_value == RL_STEP_VALUE_REQUEST
                    ? "'[METHOD] path or URL'"
                    : "the call");
  const rl_option_decl *o = p->desc.step_options;
  for (size_t j = 0; o && o[j].key; j++)
    printf("%s %s (%s)", j ? "," : "; own keys:", o[j].key,
           o[j].kind <= RL_OPTION_MAP ? kinds[o[j].kind] : "value");
  printf("\n");
}

/* --plugins: the plugins in the search path, and the one --plugin names
 * (which may live anywhere: ./x.so). */
int rl__api_list_plugins(rl_env *env) {
  rl__plugin_set *set = &env->plugins;
  const char *named = env->o.target.plugin;
  if (named) {
    rl__plugin *p;
    char err[1024];
    if (rl__plugin_set_load(set, named, &p, err, sizeof err)) {
      fprintf(stderr, "rpcload: error: %s\n", err);
      return RL__API_EXIT_USAGE;
    }
  }
  rl__plugin_set_scan(set, list_refused, NULL);
  printf("%-12s %-10s %-6s %-24s %s\n", "NAME", "VERSION", "ABI", "SCHEMES",
         "PATH");
  for (size_t i = 0; i < set->n; i++) {
    const rl__plugin *p = set->items[i];
    char schemes[128] = "", abi[16];
    for (const rl_scheme *s = p->desc.schemes; s && s->name; s++) {
      size_t len = strlen(schemes);
      snprintf(schemes + len, sizeof schemes - len, "%s%s", len ? "," : "",
               s->name);
    }
    snprintf(abi, sizeof abi, "%u.%u",
             RL_ABI_VERSION_MAJOR(p->desc.abi_version),
             RL_ABI_VERSION_MINOR(p->desc.abi_version));
    printf("%-12s %-10s %-6s %-24s %s\n", p->desc.name, p->desc.version, abi,
           schemes, p->path);
    if (p->desc.summary)
      printf("             %s\n", p->desc.summary);
    print_step_keys(p);
  }
  if (set->n == 0) {
    fprintf(stderr, "rpcload: no plugins found in:");
    for (size_t i = 0; i < set->ndirs; i++)
      fprintf(stderr, " %s", set->dirs[i]);
    fprintf(stderr, "\n");
    return RL__API_EXIT_USAGE;
  }
  return 0;
}

/* --list: a scenario's classes and tasks, or what the target's plugin can
 * tell of it (a gRPC service's methods). */
int rl__api_list(rl_env *env) {
  if (env->plan) {
    rl__scn_print_list(env->plan, stdout);
    return 0;
  }
  const rl_plugin *d = &env->target->plugin->desc;
  if (d->struct_size < offsetof(rl_plugin, step_list) + sizeof d->step_list ||
      !d->step_list) {
    fprintf(stderr,
            "rpcload: error: plugin %s has nothing to list (--list lists a "
            "gRPC service's methods, or with -f a scenario's classes and "
            "tasks)\n",
            d->name);
    return RL__API_EXIT_USAGE;
  }
  int rc = d->step_list(env->target->step, stdout);
  fflush(stdout);
  if (rc) {
    /* Nothing to list is a configuration error, as for a run (exit 2). */
    fprintf(stderr, "rpcload: error: %s: %s\n", d->name, rl_strerror(rc));
    return RL__API_EXIT_USAGE;
  }
  return 0;
}

/* --show-task-ratio: the classes' and tasks' shares, as a run has them
 * (without -f: the command line's one class and task). */
int rl__api_task_ratio(rl_env *env) {
  if (env->plan) {
    rl__plan_print_ratios(env->plan, stdout);
    return 0;
  }
  rl__plan *plan = rl__plan_single(env->target, &env->o.run.wait);
  if (!plan) {
    fprintf(stderr, "rpcload: error: out of memory\n");
    return RL__API_EXIT_USAGE;
  }
  rl__plan_print_ratios(plan, stdout);
  rl__plan_del(plan);
  return 0;
}

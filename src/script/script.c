/*
 * rl_env_add_script: the script loaded once on the calling (main) thread
 * to learn its classes, each added to the environment as a C user class
 * (script.h says how its requests are declared). The worker threads load
 * it again (runtime.c); this state is closed once the classes are added.
 */
#include "script/script.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lualib.h>

#include "api/env.h"

const char *const rl__script_methods[RL__SCRIPT_N_METHODS] = {
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"};

static void script_del(void *p) {
  rl__script *s = p;
  if (!s)
    return;
  rl__script_states_free(s);
  if (s->main_L) /* before the feeds: a state may hold their rows */
    lua_close(s->main_L);
  rl__script_feeds_free(s);
  if (s->errs) {
    /* Locust's user_error count, by text, once the run is over. */
    fprintf(stderr, "Lua errors in tasks (the user went on each time):\n");
    for (rl__script_err *e = s->errs; e; e = e->next)
      fprintf(stderr, "  %lu x %s\n", e->count, e->text);
  }
  for (rl__script_err *e = s->errs, *next; e; e = next) {
    next = e->next;
    free(e->text);
    free(e);
  }
  for (size_t i = 0; i < s->n_classes; i++) {
    rl__script_class *k = &s->classes[i];
    for (size_t t = 0; t < k->c.n_tasks; t++) {
      free(k->task_names[t]);
      for (size_t g = 0; k->task_tags && k->task_tags[t] && k->task_tags[t][g];
           g++)
        free(k->task_tags[t][g]);
      if (k->task_tags)
        free(k->task_tags[t]);
    }
    free(k->task_names);
    free(k->task_tags);
    free(k->tasks);
    free(k->name);
    free(k->host);
    free(k->wait);
    rl__script_declared_free(k);
  }
  free(s->classes);
  free(s->path);
  free(s->written_in);
  pthread_mutex_destroy(&s->lock);
  free(s);
}

/* An optional string field of the class table at idx: a copy, or NULL.
 * A number is written as Lua would (wait = 1.5). */
static int opt_text(lua_State *L, int idx, const char *key, char **out,
                    char *why, size_t whylen) {
  *out = NULL;
  lua_getfield(L, idx, key);
  int t = lua_type(L, -1);
  if (t == LUA_TSTRING || t == LUA_TNUMBER) {
    *out = strdup(lua_tostring(L, -1));
  } else if (t != LUA_TNIL) {
    snprintf(why, whylen, "%s: a string, not a %s", key, luaL_typename(L, -1));
    lua_pop(L, 1);
    return -1;
  }
  lua_pop(L, 1);
  return 0;
}

static int opt_number(lua_State *L, int idx, const char *key, double *out,
                      char *why, size_t whylen) {
  lua_getfield(L, idx, key);
  int t = lua_type(L, -1);
  if (t == LUA_TNUMBER && lua_tonumber(L, -1) >= 0) {
    *out = lua_tonumber(L, -1);
  } else if (t != LUA_TNIL) {
    snprintf(why, whylen, "%s: a number >= 0", key);
    lua_pop(L, 1);
    return -1;
  }
  lua_pop(L, 1);
  return 0;
}

static int opt_fn(lua_State *L, int idx, const char *key, int *has, char *why,
                  size_t whylen) {
  lua_getfield(L, idx, key);
  int t = lua_type(L, -1);
  lua_pop(L, 1);
  *has = t == LUA_TFUNCTION;
  if (t != LUA_TFUNCTION && t != LUA_TNIL) {
    snprintf(why, whylen, "%s: a function", key);
    return -1;
  }
  return 0;
}

/* The class table at the stack top, global `name`, into k. */
/* Task i's tags (the list at the stack top, or nil) into k, NULL-ended;
 * -1 when out of memory. */
static int read_tags(lua_State *L, rl__script_class *k, int i) {
  if (lua_type(L, -1) != LUA_TTABLE)
    return 0;
  size_t n = lua_objlen(L, -1);
  if (!(k->task_tags[i] = calloc(n + 1, sizeof *k->task_tags[i])))
    return -1;
  for (size_t g = 0; g < n; g++) {
    lua_rawgeti(L, -1, (int)g + 1);
    k->task_tags[i][g] = strdup(lua_tostring(L, -1)); /* lib.c checked */
    lua_pop(L, 1);
    if (!k->task_tags[i][g])
      return -1;
  }
  return 0;
}

/* The class's wait: a text (Locust's spelling, user.h's wait_time), or a
 * function asked after each task (Locust's wait_time method), which
 * --wait overrides as it does a text. */
static int read_wait(lua_State *L, int idx, rl__script_class *k, int wait_given,
                     char *why, size_t whylen) {
  lua_getfield(L, idx, "wait");
  int fn = lua_type(L, -1) == LUA_TFUNCTION;
  lua_pop(L, 1);
  if (fn) {
    k->wait_fn = !wait_given;
    return 0;
  }
  if (opt_text(L, idx, "wait", &k->wait, why, whylen)) {
    snprintf(why, whylen,
             "wait: rl.between(a, b), rl.constant(s), ..., a text such as "
             "\"between(1, 2)\", or a function(u) returning seconds");
    return -1;
  }
  return 0;
}

/* sequential = true: Locust's SequentialTaskSet as the class (its tasks
 * in order, looping; taskset.c). */
static int read_sequential(lua_State *L, int idx, rl__script_class *k,
                           char *why, size_t whylen) {
  lua_getfield(L, idx, "sequential");
  int t = lua_type(L, -1);
  k->sequential = t == LUA_TBOOLEAN && lua_toboolean(L, -1);
  k->driven = k->sequential;
  lua_pop(L, 1);
  if (t != LUA_TBOOLEAN && t != LUA_TNIL) {
    snprintf(why, whylen, "sequential: true or false");
    return -1;
  }
  return 0;
}

static int read_class(lua_State *L, rl__script *s, rl__script_class *k,
                      const char *name, int has_target, int wait_given,
                      char *why, size_t whylen) {
  int idx = lua_gettop(L);
  double weight = 0, fixed = 0;
  k->script = s;
  k->name = strdup(name);
  if (opt_number(L, idx, "weight", &weight, why, whylen) ||
      opt_number(L, idx, "fixed_count", &fixed, why, whylen) ||
      opt_text(L, idx, "host", &k->host, why, whylen) ||
      read_wait(L, idx, k, wait_given, why, whylen) ||
      opt_fn(L, idx, "on_start", &k->has_on_start, why, whylen) ||
      opt_fn(L, idx, "on_stop", &k->has_on_stop, why, whylen) ||
      read_sequential(L, idx, k, why, whylen))
    return -1;
  /* Before the tasks: a refused declaration leaves nothing of theirs
   * that k->c does not count yet (script_del frees by it). */
  if (rl__script_declare(L, idx, s, k, has_target, why, whylen))
    return -1;
  int n = rl__script_tasks(L, idx);
  if (n < 0) {
    snprintf(why, whylen, "%s", lua_tostring(L, -1));
    lua_pop(L, 1);
    return -1;
  }
  k->tasks = calloc((size_t)n, sizeof *k->tasks);
  k->task_names = calloc((size_t)n, sizeof *k->task_names);
  k->task_tags = calloc((size_t)n, sizeof *k->task_tags);
  if (!k->name || !k->tasks || !k->task_names || !k->task_tags) {
    lua_pop(L, 1);
    snprintf(why, whylen, "out of memory");
    return -1;
  }
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, -1, i + 1);
    int entry = lua_gettop(L);
    int set = 0;
    lua_rawgeti(L, -1, 2);
    lua_rawgeti(L, -2, 3);
    k->task_names[i] = strdup(lua_tostring(L, -1));
    k->tasks[i] = (rl_task){.name = k->task_names[i],
                            .weight = lua_tonumber(L, -2),
                            .fn = rl__script_phase};
    lua_rawgeti(L, -3, 1);
    if (lua_type(L, -1) == LUA_TTABLE) { /* an rl.taskset (taskset.c) */
      k->driven = set = 1;
      lua_getfield(L, -1, rl__script_taskset_key);
      lua_getfield(L, -1, "stops");
      k->set_stops |= lua_toboolean(L, -1);
      lua_pop(L, 2);
    }
    lua_pop(L, 1);
    lua_rawgeti(L, -3, 4);
    /* A set's tags for the engine are its tasks' (taskset.c applies
     * --tags inside it, and in a sequential class's order). */
    int oom = (set ? rl__script_entry_tags(L, entry, &k->task_tags[i])
                   : read_tags(L, k, i)) ||
              !k->task_names[i];
    lua_pop(L, 4);
    if (oom) {
      /* k->c.n_tasks is what script_del frees by: all of them. */
      k->c.n_tasks = (size_t)n;
      lua_pop(L, 1);
      snprintf(why, whylen, "out of memory");
      return -1;
    }
  }
  lua_pop(L, 1);
  k->c = (rl_user_class){
      .struct_size = sizeof k->c,
      .name = k->name,
      .weight = weight,
      .fixed_count = (uint32_t)fixed,
      .host = k->host,
      .wait_time = k->wait,
      .requests = k->requests,
      .tasks = k->tasks,
      .n_tasks = (size_t)n,
      .on_start = k->has_on_start ? rl__script_phase : NULL,
      /* A user's on_stop also ends the sets it is in (their on_stop). */
      .on_stop = k->has_on_stop || k->set_stops ? rl__script_phase : NULL,
      .arg = k,
      .free_data = rl__script_free_user,
      .task_tags = (const char *const *const *)k->task_tags,
      .written_in = s->written_in,
  };
  return 0;
}

static int by_text(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The globals holding classes, sorted (the order the workers see too). */
static int class_names(lua_State *L, const char ***out, size_t *n) {
  size_t cap = 0;
  *out = NULL;
  *n = 0;
  lua_pushnil(L);
  while (lua_next(L, LUA_GLOBALSINDEX)) {
    if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TTABLE) {
      lua_getfield(L, -1, rl__script_class_key);
      int is = lua_toboolean(L, -1);
      lua_pop(L, 1);
      if (is) {
        if (*n == cap) {
          cap = cap ? cap * 2 : 8;
          const char **more = realloc(*out, cap * sizeof *more);
          if (!more) {
            lua_pop(L, 2);
            return -1;
          }
          *out = more;
        }
        (*out)[(*n)++] = lua_tostring(L, -2); /* anchored in _G */
      }
    }
    lua_pop(L, 1);
  }
  if (*n)
    qsort(*out, *n, sizeof **out, by_text);
  return 0;
}

static int tagged(char **tags, const char *const *among, size_t n) {
  for (size_t g = 0; tags && tags[g]; g++)
    for (size_t j = 0; j < n; j++)
      if (strcmp(tags[g], among[j]) == 0)
        return 1;
  return 0;
}

/* Whether --tags / --exclude-tags leave class k a task (Locust's rules,
 * as the scenario compiler applies them). */
static int has_selected_task(const rl__api_options *o,
                             const rl__script_class *k) {
  for (size_t t = 0; t < k->c.n_tasks; t++)
    if ((!o->n_tags || tagged(k->task_tags[t], o->tags, o->n_tags)) &&
        !tagged(k->task_tags[t], o->exclude_tags, o->n_exclude_tags))
      return 1;
  return 0;
}

static int load_classes(rl_env *env, rl__script *s, lua_State *L,
                        rl_error_info *err) {
  char why[1024];
  if (rl__script_run_file(L, s->path)) {
    snprintf(why, sizeof why, "%s", lua_tostring(L, -1));
    return rl__api_fail(err, RL_ERR_INVAL, why);
  }
  const char **names;
  size_t n;
  if (class_names(L, &names, &n))
    return rl__api_fail(err, RL_ERR_NOMEM, "out of memory");
  if (n == 0) {
    free(names);
    snprintf(why, sizeof why,
             "%s: no user class (assign rl.user{...} to a global: "
             "WebUser = rl.user{tasks = {...}})",
             s->path);
    return rl__api_fail(err, RL_ERR_INVAL, why);
  }
  if (!(s->classes = calloc(n, sizeof *s->classes))) {
    free(names);
    return rl__api_fail(err, RL_ERR_NOMEM, "out of memory");
  }
  int rc = 0;
  for (size_t i = 0; i < n && !rc; i++) {
    rl__script_class *k = &s->classes[i];
    k->index = i;
    s->n_classes = i + 1;
    lua_getglobal(L, names[i]);
    char what[512] = "";
    if (read_class(L, s, k, names[i], env->o.target.url != NULL,
                   env->o.wait_given, what, sizeof what)) {
      snprintf(why, sizeof why, "%s: class %s: %s", s->path, names[i], what);
      rc = rl__api_fail(err, RL_ERR_INVAL, why);
    }
    lua_pop(L, 1);
  }
  free(names);
  /* Each add compiles the classes so far, and a plan of none is refused:
   * the classes --tags leaves a task go first (the others then only
   * warn that they are not spawned). */
  for (int pass = 1; pass >= 0; pass--)
    for (size_t i = 0; i < s->n_classes && !rc; i++)
      if (has_selected_task(&env->o, &s->classes[i]) == pass)
        rc = rl_env_add_user_class(env, &s->classes[i].c, err);
  /* The gRPC methods' shapes as the plugin compiled them (a protoset or
   * reflection says them only there): a method declared with another
   * is declared again, and the classes compiled once more. Only for a
   * run: --list makes its steps without a method. */
  int changed = 0;
  for (size_t i = 0; i < s->n_classes && !rc && env->cmd == RL_CMD_RUN; i++)
    if (rl__script_grpc_shapes(s, &s->classes[i], &changed))
      rc = rl__api_fail(err, RL_ERR_NOMEM, "out of memory");
  if (!rc && changed)
    rc = rl__api_env_replan(env, err);
  return rc;
}

int rl_env_add_script(rl_env *env, const char *path, rl_error_info *err) {
  if (!env)
    return rl__api_fail(err, RL_ERR_INVAL, "rl_env_add_script: no environment");
  if (!path)
    path = env->o.script;
  if (!path || (env->cmd != RL_CMD_RUN && env->cmd != RL_CMD_LIST &&
                env->cmd != RL_CMD_TASK_RATIO))
    return 0;
  if (env->script)
    return rl__api_fail(err, RL_ERR_INVAL, "one Lua script per environment");
  rl__script_limits limits;
  char why[512];
  if (rl__script_limits_read(&limits, env->o.lua_memory, env->o.lua_timeslice,
                             why, sizeof why))
    return rl__api_fail(err, RL_ERR_INVAL, why);
  rl__script *s = calloc(1, sizeof *s);
  if (s)
    s->env = env; /* its plugins (declare.c), its facts (events.c) */
  /* Its guard outlives L: in s, which closes a kept L (script_del). */
  lua_State *L = s ? rl__script_guard_open(&s->main_guard, &limits) : NULL;
  size_t lang_len = strlen(path) + 8;
  if (!s || !L || !(s->path = strdup(path)) ||
      !(s->written_in = malloc(lang_len))) {
    if (L)
      lua_close(L); /* first: its allocator's guard lives in s */
    if (s)
      free(s->path);
    free(s);
    return rl__api_fail(err, RL_ERR_NOMEM, "out of memory");
  }
  snprintf(s->written_in, lang_len, "Lua, %s", path);
  s->limits = limits;
  s->tags = env->o.tags;
  s->n_tags = env->o.n_tags;
  s->exclude_tags = env->o.exclude_tags;
  s->n_exclude_tags = env->o.n_exclude_tags;
  pthread_mutex_init(&s->lock, NULL);
  rl__script_open_lib(L);
  rl__script_bind(L, s);
  /* The environment's from here: the classes added before a failing one
   * stay borrowed by it until rl_env_free. */
  env->script = s;
  env->script_free = script_del;
  int rc = load_classes(env, s, L, err);
  if (rc == 0 && env->cmd == RL_CMD_RUN &&
      (rl__script_shape_setup(env, s, L, why, sizeof why) ||
       rl__script_events_setup(env, s, L, why, sizeof why)))
    rc = rl__api_fail(err, RL_ERR_INVAL, why);
  if (!s->main_L)
    lua_close(L);
  return rc;
}

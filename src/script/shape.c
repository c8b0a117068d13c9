/*
 * rl.shape(t): Locust's LoadTestShape.tick in a script. The state that
 * loaded the script on the main thread stays open for it (script.c), and
 * the runner calls the function there once a second (rl__run_config's
 * shape_fn), on its own thread: the workers' states never see it.
 */
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>

#include "api/env.h"
#include "base/log.h"
#include "script/script.h"

/* The runner's shape_fn: 0 with what rl.shape returned, 1 to end the run
 * (it returned nil, or failed: said once, naming the script). */
static int shape_call(void *arg, double t, uint32_t *users, double *rate) {
  rl__script *s = arg;
  lua_State *L = s->main_L;
  int top = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, s->shape_ref);
  lua_pushnumber(L, t);
  rl__script_guard_arm(&s->main_guard, L);
  int rc = lua_pcall(L, 1, 2, 0);
  rl__script_guard_disarm(&s->main_guard, L);
  char msg[900];
  if (rc != 0) {
    rl__log(RL__LOG_ERROR, "%s: rl.shape: %s (the test ends)", s->path,
            rl__script_guard_error(&s->main_guard, NULL, rc,
                                   lua_tostring(L, -1), msg, sizeof msg));
    lua_settop(L, top);
    return 1;
  }
  int stop = 1;
  if (lua_isnil(L, -2)) {
    /* Locust's tick returning None: the test is over. */
  } else if (lua_type(L, -2) != LUA_TNUMBER || !(lua_tonumber(L, -2) >= 0) ||
             lua_tonumber(L, -2) > UINT32_MAX) {
    rl__log(RL__LOG_ERROR,
            "%s: rl.shape(%.1f) returned %s for the users, not a number >= 0 "
            "(the test ends)",
            s->path, t, luaL_typename(L, -2));
  } else if (!lua_isnil(L, -1) &&
             (lua_type(L, -1) != LUA_TNUMBER || !(lua_tonumber(L, -1) > 0))) {
    rl__log(RL__LOG_ERROR,
            "%s: rl.shape(%.1f) returned %s for the spawn rate, not a number "
            "> 0 (the test ends)",
            s->path, t, luaL_typename(L, -1));
  } else {
    *users = (uint32_t)llround(lua_tonumber(L, -2));
    *rate = lua_isnil(L, -1) ? s->shape_default_rate : lua_tonumber(L, -1);
    stop = 0;
  }
  lua_settop(L, top);
  return stop;
}

int rl__script_shape_setup(rl_env *env, rl__script *s, lua_State *L, char *why,
                           size_t whylen) {
  lua_getglobal(L, "rl");
  lua_getfield(L, -1, "shape");
  lua_remove(L, -2);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return 0;
  }
  if (!lua_isfunction(L, -1)) {
    snprintf(why, whylen,
             "%s: rl.shape: a function (t) returning users, "
             "spawn_rate or nil, not a %s",
             s->path, luaL_typename(L, -1));
    lua_pop(L, 1);
    return -1;
  }
  rl__api_options *o = &env->o;
  if (o->web) {
    /* A steered run's users come from the page's Start. */
    rl__log(RL__LOG_WARN,
            "%s: rl.shape is not used with --web (the page sets the users)",
            s->path);
    lua_pop(L, 1);
    return 0;
  }
  if (o->users_given || o->shape.stages_given || o->shape.rate_given) {
    snprintf(why, whylen,
             "%s: rl.shape gives the users over time: leave out -u, "
             "--stages and --rate (-r is its rate when it returns none)",
             s->path);
    lua_pop(L, 1);
    return -1;
  }
  s->shape_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  s->shape_default_rate = o->run.spawn_rate;
  s->main_L = L;
  o->run.shape_fn = shape_call;
  o->run.shape_arg = s;
  /* The function may ask for any count: a thread per core, as for a
   * scenario's users, unless --threads says otherwise. */
  if (!o->threads_given)
    o->run.threads = o->cpus;
  return 0;
}

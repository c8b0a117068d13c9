/*
 * rl.events (Locust's events) in a script: each event a table whose list
 * part holds its listeners, added with ev:add_listener(fn) wherever the
 * script runs (every state loads it). Which state's listeners are called:
 *   - test_start, spawning_complete, test_stop, quitting: the main
 *     thread's (the loading state, kept open for them), through a listener
 *     descriptor on the environment (as rl_env_on_request adds one);
 *   - request: each worker thread's own state's (the same function, loaded
 *     once per thread), through rl_env_on_request: a Lua call per request
 *     on the thread that made it. A text returned fails the request.
 * A listener's Lua error is said (once per text, as a task's) and the run
 * goes on.
 */
#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#include "api/env.h"
#include "base/log.h"
#include "script/script.h"

static const char events_key[] = "rpcload.events";

static const char *const main_events[] = {"test_start", "spawning_complete",
                                          "test_stop", "quitting"};
#define N_MAIN_EVENTS (sizeof main_events / sizeof *main_events)

static int l_add_listener(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  if (lua_type(L, 2) != LUA_TFUNCTION)
    return luaL_error(L, "add_listener: a function, not a %s",
                      luaL_typename(L, 2));
  lua_pushvalue(L, 2);
  lua_rawseti(L, 1, (int)lua_objlen(L, 1) + 1);
  return 0;
}

void rl__script_open_events(lua_State *L, int rl_table) {
  lua_newtable(L); /* the events' metatable */
  lua_newtable(L);
  lua_pushcfunction(L, l_add_listener);
  lua_setfield(L, -2, "add_listener");
  lua_setfield(L, -2, "__index");
  lua_newtable(L); /* rl.events */
  static const char *const all[] = {"test_start", "spawning_complete",
                                    "test_stop", "quitting", "request"};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
    lua_newtable(L);
    lua_pushvalue(L, -3);
    lua_setmetatable(L, -2);
    lua_setfield(L, -2, all[i]);
  }
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, events_key); /* whatever rl becomes */
  lua_setfield(L, rl_table, "events");
  lua_pop(L, 1);
}

/* Pushes the listeners' table of event `name` in L; its count. */
static int listeners(lua_State *L, const char *name) {
  lua_getfield(L, LUA_REGISTRYINDEX, events_key);
  lua_getfield(L, -1, name);
  lua_remove(L, -2);
  return lua_istable(L, -1) ? (int)lua_objlen(L, -1) : 0;
}

/* Calls listener i of the table at the top of L with the nargs values
 * below it (kept), one result; 0, or -1 with the error said. */
static int call_one(rl__script *s, lua_State *L, rl__script_guard *g,
                    const char *event, int i, int nargs) {
  int tbl = lua_gettop(L);
  lua_rawgeti(L, tbl, i);
  for (int a = 0; a < nargs; a++)
    lua_pushvalue(L, tbl - nargs + a);
  rl__script_guard_arm(g, L);
  int rc = lua_pcall(L, nargs, 1, 0);
  rl__script_guard_disarm(g, L);
  if (rc == 0)
    return 0;
  char msg[900], text[1100];
  snprintf(text, sizeof text, "rl.events.%s listener %d: %s", event, i,
           rl__script_guard_error(g, NULL, rc, lua_tostring(L, -1), msg,
                                  sizeof msg));
  lua_pop(L, 1);
  rl__script_error_seen(s, text);
  return -1;
}

/* A main-thread event: its listeners in the loading state, in order. */
static void fire_main(rl__script *s, const char *event, int nargs) {
  lua_State *L = s->main_L;
  int base = lua_gettop(L) - nargs;
  int n = listeners(L, event);
  for (int i = 1; i <= n; i++)
    if (call_one(s, L, &s->main_guard, event, i, nargs) == 0)
      lua_pop(L, 1);
  lua_settop(L, base);
}

static void ev_test_start(void *state) { fire_main(state, "test_start", 0); }
static void ev_test_stop(void *state) { fire_main(state, "test_stop", 0); }
static void ev_quitting(void *state) { fire_main(state, "quitting", 0); }
static void ev_spawning_complete(void *state, uint32_t users) {
  rl__script *s = state;
  lua_pushnumber(s->main_L, users);
  fire_main(s, "spawning_complete", 1);
}

static const rl_listener main_listener = {
    .abi_version = RL_LISTENER_ABI_VERSION,
    .struct_size = sizeof(rl_listener),
    .name = "lua",
    .version = RL_VERSION,
    .summary = "a Lua script's rl.events listeners",
    .test_start = ev_test_start,
    .spawning_complete = ev_spawning_complete,
    .test_stop = ev_test_stop,
    .quitting = ev_quitting,
};

/* The request event on a worker thread: this thread's state's listeners
 * with Locust's arguments as one table; the first text one returns fails
 * the request (kept until the thread's next call, as on_request asks). */
static const char *on_request(void *ctx, const rl_request_event *ev) {
  static _Thread_local char failed[512];
  rl__script *s = ctx;
  rl__script_guard *g;
  lua_State *L = rl__script_thread_listener(s, &g);
  if (!L)
    return NULL; /* no Lua user on this thread: no listener either */
  int base = lua_gettop(L);
  lua_createtable(L, 0, 8);
  lua_pushstring(L, ev->type);
  lua_setfield(L, -2, "request_type");
  lua_pushstring(L, ev->name);
  lua_setfield(L, -2, "name");
  lua_pushnumber(L, (double)ev->response_time_ns / 1e6);
  lua_setfield(L, -2, "response_time"); /* ms, as Locust's */
  lua_pushnumber(L, (double)ev->response_length);
  lua_setfield(L, -2, "response_length");
  if (ev->error) {
    lua_pushstring(L, ev->error);
    lua_setfield(L, -2, "exception");
  }
  lua_pushnumber(L, (double)ev->user_id);
  lua_setfield(L, -2, "user_id");
  if (ev->user_class) {
    lua_pushstring(L, ev->user_class);
    lua_setfield(L, -2, "user_class");
  }
  lua_pushnumber(L, ev->worker);
  lua_setfield(L, -2, "worker");
  const char *verdict = NULL;
  int n = listeners(L, "request");
  for (int i = 1; i <= n; i++) {
    if (call_one(s, L, g, "request", i, 1))
      continue;
    if (!verdict && lua_type(L, -1) == LUA_TSTRING) {
      snprintf(failed, sizeof failed, "%s", lua_tostring(L, -1));
      verdict = failed;
    }
    lua_pop(L, 1);
  }
  lua_settop(L, base);
  return verdict;
}

/* How many listeners event `name` has in L. */
static int count(lua_State *L, const char *name) {
  int n = listeners(L, name);
  lua_pop(L, 1);
  return n;
}

int rl__script_events_setup(rl_env *env, rl__script *s, lua_State *L, char *why,
                            size_t whylen) {
  int any_main = 0;
  for (size_t i = 0; i < N_MAIN_EVENTS; i++)
    any_main |= count(L, main_events[i]) > 0;
  rl_error_info err = {0};
  if (any_main) {
    rl__listener *l;
    if (rl__events_add(&env->events, &main_listener, s->path, &l, why, whylen))
      return -1;
    l->state = s; /* no init: the script is its state */
    s->main_L = L;
  }
  if (count(L, "request") > 0 && rl_env_on_request(env, on_request, s, &err)) {
    snprintf(why, whylen, "%s", err.text);
    return -1;
  }
  return 0;
}

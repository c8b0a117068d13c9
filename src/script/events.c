/*
 * rl.events (Locust's events) in a script: each event a table whose list
 * part holds its listeners, added with ev:add_listener(fn) wherever the
 * script runs (every state loads it). Which state's listeners are called:
 *   - init, test_start, spawning_complete, user_error, report, test_stop,
 *     quitting: the main thread's (the loading state, kept open for
 *     them), through a listener descriptor on the environment (as
 *     rl_env_on_request adds one) that has only the callbacks of the
 *     events the script listens to (a report costs the runner a snapshot
 *     a second only when someone hears it);
 *   - request: each worker thread's own state's (the same function, loaded
 *     once per thread), through rl_env_on_request: a Lua call per request
 *     on the thread that made it. A text returned fails the request.
 * A listener's Lua error is said (once per text, as a task's) and the run
 * goes on; but an init listener's error stops the start (exit 2), as a
 * listener plugin's init refusing does.
 */
#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#include "api/env.h"
#include "base/log.h"
#include "script/script.h"

static const char events_key[] = "rpcload.events";

/* The main-thread events, each with the callback of main_listener that
 * delivers it (dropped from the descriptor when it has no listener). */
enum {
  EV_INIT,
  EV_TEST_START,
  EV_SPAWNING_COMPLETE,
  EV_USER_ERROR,
  EV_REPORT,
  EV_TEST_STOP,
  EV_QUITTING,
  N_MAIN_EVENTS
};
static const char *const main_events[N_MAIN_EVENTS] = {
    "init",   "test_start", "spawning_complete", "user_error",
    "report", "test_stop",  "quitting"};

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
  for (size_t i = 0; i <= N_MAIN_EVENTS; i++) {
    lua_newtable(L);
    lua_pushvalue(L, -3);
    lua_setmetatable(L, -2);
    lua_setfield(L, -2, i < N_MAIN_EVENTS ? main_events[i] : "request");
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
 * below it (kept), one result; 0, or -1 with the error said (counted), or
 * with refused non-NULL, written there instead. */
static int call_one(rl__script *s, lua_State *L, rl__script_guard *g,
                    const char *event, int i, int nargs, char *refused,
                    size_t refusedlen) {
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
  if (refused)
    snprintf(refused, refusedlen, "%s", text);
  else
    rl__script_error_seen(s, text);
  return -1;
}

/* A main-thread event: its listeners in the loading state, in order. */
static void fire_main(rl__script *s, const char *event, int nargs) {
  lua_State *L = s->main_L;
  int base = lua_gettop(L) - nargs;
  int n = listeners(L, event);
  for (int i = 1; i <= n; i++)
    if (call_one(s, L, &s->main_guard, event, i, nargs, NULL, 0) == 0)
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

/* A list of the script's class names. */
static void push_classes(lua_State *L, const rl__script *s) {
  lua_createtable(L, (int)s->n_classes, 0);
  for (size_t i = 0; i < s->n_classes; i++) {
    lua_pushstring(L, s->classes[i].name);
    lua_rawseti(L, -2, (int)i + 1);
  }
}

/* Locust's init, with the environment's facts as one table; the first
 * listener's error refuses the start. *state is the script: set when the
 * listener was added (rl__script_events_setup), kept as the state. */
static int main_init(const rl_listener_host *host, const rl_kv *options,
                     size_t n_options, void **state, char *err, size_t errlen) {
  (void)host, (void)options, (void)n_options;
  rl__script *s = *state;
  const rl__api_options *o = &s->env->o;
  lua_State *L = s->main_L;
  int base = lua_gettop(L);
  lua_createtable(L, 0, 8);
  if (o->host) {
    lua_pushstring(L, o->host);
    lua_setfield(L, -2, "host");
  }
  lua_pushnumber(L, o->run.users);
  lua_setfield(L, -2, "users");
  lua_pushnumber(L, o->run.spawn_rate);
  lua_setfield(L, -2, "spawn_rate");
  lua_pushnumber(L, (double)o->run.run_time_ns / 1e9);
  lua_setfield(L, -2, "run_time"); /* s; 0: until stopped */
  lua_pushnumber(L, o->run.threads);
  lua_setfield(L, -2, "threads");
  lua_pushboolean(L, o->web);
  lua_setfield(L, -2, "web");
  lua_pushstring(L, s->path);
  lua_setfield(L, -2, "script");
  push_classes(L, s);
  lua_setfield(L, -2, "user_classes");
  int n = listeners(L, "init");
  int rc = 0;
  for (int i = 1; i <= n && !rc; i++) {
    rc = call_one(s, L, &s->main_guard, "init", i, 1, err, errlen);
    if (!rc)
      lua_pop(L, 1);
  }
  lua_settop(L, base);
  return rc ? RL_ERR_INVAL : 0;
}

/* Locust's user_error: type "task" for a Lua error (name: the task, or
 * on_start/on_stop), else a C class's failed step (its request's type
 * and name). */
static void main_user_error(void *state, const rl_user_error *e) {
  rl__script *s = state;
  lua_State *L = s->main_L;
  lua_createtable(L, 0, 5);
  lua_pushnumber(L, (double)e->user_id);
  lua_setfield(L, -2, "user_id");
  lua_pushstring(L, e->user_class);
  lua_setfield(L, -2, "user_class");
  lua_pushstring(L, e->type);
  lua_setfield(L, -2, "type");
  lua_pushstring(L, e->name);
  lua_setfield(L, -2, "task");
  lua_pushstring(L, e->error);
  lua_setfield(L, -2, "message");
  fire_main(s, "user_error", 1);
}

/* The per-second report: what the second added, per (type, name), with
 * Locust's stats names. */
static void main_report(void *state, const rl_report *rep) {
  rl__script *s = state;
  lua_State *L = s->main_L;
  lua_createtable(L, 0, 3);
  lua_pushnumber(L, rep->unix_time);
  lua_setfield(L, -2, "time");
  lua_pushnumber(L, rep->user_count);
  lua_setfield(L, -2, "user_count");
  lua_createtable(L, (int)rep->n_rows, 0);
  for (size_t i = 0; i < rep->n_rows; i++) {
    const rl_report_row *r = &rep->rows[i];
    lua_createtable(L, 0, 6);
    lua_pushstring(L, r->type);
    lua_setfield(L, -2, "type");
    lua_pushstring(L, r->name);
    lua_setfield(L, -2, "name");
    lua_pushnumber(L, (double)r->num_requests);
    lua_setfield(L, -2, "num_requests");
    lua_pushnumber(L, (double)r->num_failures);
    lua_setfield(L, -2, "num_failures");
    lua_pushnumber(L, (double)r->total_response_time_ns / 1e6);
    lua_setfield(L, -2, "total_response_time"); /* ms */
    lua_pushnumber(L, (double)r->response_bytes);
    lua_setfield(L, -2, "total_content_length");
    lua_rawseti(L, -2, (int)i + 1);
  }
  lua_setfield(L, -2, "rows");
  fire_main(s, "report", 1);
}

static const rl_listener main_listener = {
    .abi_version = RL_LISTENER_ABI_VERSION,
    .struct_size = sizeof(rl_listener),
    .name = "lua",
    .version = RL_VERSION,
    .summary = "a Lua script's rl.events listeners",
    .init = main_init,
    .test_start = ev_test_start,
    .spawning_complete = ev_spawning_complete,
    .test_stop = ev_test_stop,
    .quitting = ev_quitting,
    .user_error = main_user_error,
    .report = main_report,
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
    if (call_one(s, L, g, "request", i, 1, NULL, 0))
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
  int heard[N_MAIN_EVENTS], any_main = 0;
  for (size_t i = 0; i < N_MAIN_EVENTS; i++)
    any_main |= heard[i] = count(L, main_events[i]) > 0;
  rl_error_info err = {0};
  if (any_main) {
    /* Only the callbacks of the events heard (the table copies it). */
    rl_listener d = main_listener;
    d.init = heard[EV_INIT] ? d.init : NULL;
    d.test_start = heard[EV_TEST_START] ? d.test_start : NULL;
    d.spawning_complete =
        heard[EV_SPAWNING_COMPLETE] ? d.spawning_complete : NULL;
    d.user_error = heard[EV_USER_ERROR] ? d.user_error : NULL;
    d.report = heard[EV_REPORT] ? d.report : NULL;
    d.test_stop = heard[EV_TEST_STOP] ? d.test_stop : NULL;
    d.quitting = heard[EV_QUITTING] ? d.quitting : NULL;
    rl__listener *l;
    if (rl__events_add(&env->events, &d, s->path, &l, why, whylen))
      return -1;
    l->state = s; /* the script is its state (main_init keeps it) */
    s->main_L = L;
  }
  if (count(L, "request") > 0 && rl_env_on_request(env, on_request, s, &err)) {
    snprintf(why, whylen, "%s", err.text);
    return -1;
  }
  return 0;
}

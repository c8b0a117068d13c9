/*
 * rl.events.request:fire{...} (Locust's events.request.fire) and rl.time()
 * (Python's time.time(), to time what is fired). A task that measures
 * something itself (its own client wrapping calls, a block of work, a
 * step of several requests) reports it as a request: rl_user_fire_request
 * (<rpcload/user.h> API 1.5), so it takes the engine's path for a
 * request's end on the user's thread: the request listeners (C, and the
 * script's own rl.events.request ones), then the thread's stats, and so
 * the CSV, the web UI and the reports.
 */
#include <lauxlib.h>
#include <math.h>
#include <time.h>

#include "script/script.h"

/* A fire under way on this thread: a request listener that fires would
 * hear its own event again, endlessly; refused instead. */
static _Thread_local int tls_firing;

/* Field `key` of the table at idx, a number >= 0 (absent: 0), or a Lua
 * error naming it. */
static double number_field(lua_State *L, int idx, const char *key) {
  lua_getfield(L, idx, key);
  double v = 0;
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TNUMBER)
      luaL_error(L, "rl.events.request:fire: %s: a number, not a %s", key,
                 luaL_typename(L, -1));
    v = lua_tonumber(L, -1);
    if (!(v >= 0) || isinf(v))
      luaL_error(L, "rl.events.request:fire: %s: %f is not a number >= 0", key,
                 v);
  }
  lua_pop(L, 1);
  return v;
}

/* Field `key` of the table at idx, a non-empty string, or a Lua error. */
static const char *text_field(lua_State *L, int idx, const char *key) {
  lua_getfield(L, idx, key);
  if (lua_type(L, -1) != LUA_TSTRING || lua_objlen(L, -1) == 0)
    luaL_error(L,
               "rl.events.request:fire: %s: a non-empty string is "
               "required",
               key);
  const char *s = lua_tostring(L, -1);
  lua_pop(L, 1); /* still anchored by the table */
  return s;
}

/* rl.events.request:fire{request_type=, name=, response_time= (ms),
 * response_length=, exception=}: Locust's keyword arguments as a table.
 * exception nil or false: a success; else its text (a string, or what
 * tostring makes of it: an error value caught with pcall). */
static int l_fire(lua_State *L) {
  int t = lua_gettop(L); /* ev:fire{...} and ev.fire{...} alike */
  if (t < 1 || lua_type(L, t) != LUA_TTABLE)
    return luaL_error(L, "rl.events.request:fire: a table of Locust's "
                         "arguments, {request_type=, name=, response_time=, "
                         "...}");
  if (tls_firing)
    return luaL_error(L, "rl.events.request:fire: from a request listener "
                         "(it would hear its own event): not allowed");
  rl_user *u = rl__script_running_user(L, "rl.events.request:fire");
  rl_fired_request r = {.struct_size = sizeof r};
  r.type = text_field(L, t, "request_type");
  r.name = text_field(L, t, "name");
  r.response_time_ns = (uint64_t)(number_field(L, t, "response_time") * 1e6);
  r.response_length = (uint64_t)number_field(L, t, "response_length");
  lua_getfield(L, t, "exception");
  if (!lua_isnil(L, -1) &&
      !(lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1))) {
    if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER) {
      lua_getglobal(L, "tostring");
      lua_insert(L, -2);
      lua_call(L, 1, 1);
    }
    r.error = lua_tostring(L, -1);
    if (!r.error || !*r.error)
      r.error = "failed";
  }
  tls_firing = 1;
  int rc = rl_user_fire_request(u, &r);
  tls_firing = 0;
  lua_pop(L, 1);
  /* RL_ERR_CLOSED: the run is cutting its users; not counted, as their
   * requests cut at a stop are not. */
  (void)rc;
  return 0;
}

/* rl.time(): seconds since the epoch (time.time()); a double holds them
 * to about a microsecond. */
static int l_time(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  lua_pushnumber(L, (double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
  return 1;
}

void rl__script_open_fire(lua_State *L, int rl_table) {
  lua_pushcfunction(L, l_time);
  lua_setfield(L, rl_table, "time");
  lua_getfield(L, rl_table, "events");
  lua_getfield(L, -1, "request");
  lua_pushcfunction(L, l_fire);
  lua_setfield(L, -2, "fire");
  lua_pop(L, 2);
}

/*
 * Locust's user model beyond tasks and waits (script.h, docs/lua.md): a
 * custom wait (wait = function(u) ... end, Locust's wait_time method),
 * u:interrupt() (Locust's interrupt: here the task ends now) and
 * rl.stop_user() (Locust's StopUser: the user stops through on_stop).
 * All of it on the user's worker thread, on rpcload/user.h's API 1.3.
 */
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>

#include "script/safety.h"
#include "script/script.h"

/* u:interrupt()'s end: the task ends here, not counted as an error
 * (taskset.c's u:interrupt first leaves the innermost task set, if the
 * user is in one, as Locust's interrupt() does). */
int rl__script_lua_interrupt(lua_State *L) {
  (void)rl__script_running_user(L, "u:interrupt");
  return rl__script_end_quietly(L);
}

/* rl.stop_user(): the phase ends here and the user stops, through
 * on_stop (from on_stop: it just ends). */
int rl__script_lua_stop_user(lua_State *L) {
  rl_user *cu = rl__script_running_user(L, "rl.stop_user");
  (void)rl_user_stop(cu);
  return rl__script_end_quietly(L);
}

/* A wait function's failure: counted as a Lua error of Class.wait, and
 * the user's user_error (the class's default wait applies). */
static void wait_failed(rl__script_class *k, rl_user *cu, const char *msg) {
  char text[1200];
  snprintf(text, sizeof text, "%s.wait: %s", k->name, msg);
  rl__script_error_seen(k->script, text);
  rl_user_report_error(cu, text);
}

void rl__script_ask_wait(lua_State *L, rl__script_guard *g, rl__script_class *k,
                         int u_ref, rl_user *cu) {
  int top = lua_gettop(L);
  lua_getglobal(L, k->name);
  if (lua_type(L, -1) == LUA_TTABLE)
    lua_getfield(L, -1, "wait");
  if (lua_type(L, -1) != LUA_TFUNCTION) {
    /* The thread's state checked the class at load: a script changed its
     * own global since. */
    lua_settop(L, top);
    wait_failed(k, cu, "no longer a function (the class's wait was changed)");
    return;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, u_ref);
  /* Script code: watched and capped as a task is (safety.h). It runs
   * outside any coroutine, so a request or rl.sleep in it is an error
   * saying so (they need a task). */
  rl__script_guard_arm(g, L);
  int rc = lua_pcall(L, 1, 1, 0);
  rl__script_guard_disarm(g, L);
  if (rc != 0) {
    char msg[900];
    wait_failed(k, cu,
                rl__script_guard_error(g, NULL, rc, lua_tostring(L, -1), msg,
                                       sizeof msg));
  } else if (lua_type(L, -1) != LUA_TNUMBER || !(lua_tonumber(L, -1) >= 0) ||
             !isfinite(lua_tonumber(L, -1)) || lua_tonumber(L, -1) > 1e9) {
    char msg[200];
    snprintf(msg, sizeof msg,
             "returned %s%s: a wait function returns the seconds to wait "
             "(a number >= 0)",
             lua_type(L, -1) == LUA_TNUMBER ? lua_tostring(L, -1) : "a ",
             lua_type(L, -1) == LUA_TNUMBER ? "" : luaL_typename(L, -1));
    wait_failed(k, cu, msg);
  } else {
    (void)rl_user_wait_next(cu, lua_tonumber(L, -1));
  }
  lua_settop(L, top);
}

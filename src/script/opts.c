/*
 * A Lua request call's per-request options that need more than a field
 * read: the headers table (issue #23, round two), the timeout (checked
 * seconds), event = false (no request event: the task fires its own). runtime.c's and calls.c's request calls use them; what the
 * fields mean is <rpcload/user.h>'s rl_send_opts.
 */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>

#include "script/script.h"

static int kv_cmp(const void *a, const void *b) {
  return strcmp(((const rl_kv *)a)->key, ((const rl_kv *)b)->key);
}

void rl__script_headers(lua_State *L, int idx, const char *what,
                        const rl_kv **out, size_t *n) {
  *out = NULL;
  *n = 0;
  if (idx < 0 && idx > LUA_REGISTRYINDEX) /* LuaJIT has no lua_absindex */
    idx = lua_gettop(L) + idx + 1;
  if (!lua_istable(L, idx))
    luaL_error(L, "%s: headers= is a %s: give a table {name = value, ...}",
               what, luaL_typename(L, idx));
  size_t count = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) != LUA_TSTRING)
      luaL_error(L, "%s: headers=: a key is a %s: header names are strings",
                 what, luaL_typename(L, -2));
    int t = lua_type(L, -1);
    if (t != LUA_TSTRING && t != LUA_TNUMBER)
      luaL_error(L, "%s: headers=: %s is a %s: give a string", what,
                 lua_tostring(L, -2), luaL_typename(L, -1));
    lua_pop(L, 1);
    count++;
  }
  if (count == 0)
    return;
  /* Numbers are turned into strings in their own stack slots, not in
   * the table (lua_tolstring on a key would break lua_next). */
  luaL_checkstack(L, (int)count + 4, what);
  rl_kv *kv = lua_newuserdata(L, count * sizeof *kv);
  int ud = lua_gettop(L);
  size_t i = 0;
  lua_pushnil(L);
  while (lua_next(L, idx) && i < count) {
    kv[i].key = lua_tostring(L, -2);
    if (lua_type(L, -1) == LUA_TNUMBER) {
      lua_pushvalue(L, -1);
      kv[i].value = lua_tostring(L, -1);
      lua_insert(L, ud); /* kept below the userdata till the caller pops */
      ud++;
    } else {
      kv[i].value = lua_tostring(L, -1);
    }
    lua_pop(L, 1);
    i++;
  }
  qsort(kv, i, sizeof *kv, kv_cmp);
  *out = kv;
  *n = i;
}

_Thread_local int rl__script_next_no_event;
_Thread_local const char *rl__script_next_host;
_Thread_local int rl__script_next_message;

uint64_t rl__script_timeout(lua_State *L, int idx, const char *what) {
  /* event = false (API 1.5 no_event): read here, where every request
   * call reads its options first, for the send that follows. */
  lua_getfield(L, idx, "event");
  if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TBOOLEAN)
    luaL_error(L,
               "%s: event= is a %s: give false (no request event: "
               "the task fires its own) or true",
               what, luaL_typename(L, -1));
  rl__script_next_no_event =
      lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1);
  lua_pop(L, 1);
  lua_getfield(L, idx, "timeout");
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return 0;
  }
  double sec = lua_tonumber(L, -1);
  /* A day: past it the run's own end comes first; NaN fails both. */
  if (lua_type(L, -1) != LUA_TNUMBER || !(sec > 0 && sec <= 86400))
    luaL_error(L,
               "%s: timeout= is %s: give the seconds it may take (a number > "
               "0, at most 86400)",
               what,
               lua_type(L, -1) == LUA_TNUMBER ? lua_tostring(L, -1)
                                              : luaL_typename(L, -1));
  lua_pop(L, 1);
  uint64_t ns = (uint64_t)(sec * 1e9);
  return ns ? ns : 1;
}

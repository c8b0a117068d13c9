/*
 * Locust's TaskSet and SequentialTaskSet in Lua (docs/lua.md, script.h):
 * rl.taskset{tasks = {...}, on_start =, on_stop =, sequential =}, usable
 * as a task of a class or of another set, and a sequential class
 * (rl.user{sequential = true, ...}).
 *
 * The engine still runs one task at a time and waits between them (the
 * user's wait, as Locust's TaskSet.wait_time defaults to the user's): a
 * class with a set or sequential tasks ("driven") runs each phase through
 * a driver that keeps, per user, the stack of the sets it is in. A task
 * picked while the user is inside a set is replaced by the innermost
 * set's next task (weighted at random, or the next in order); entering a
 * set runs its on_start and then its first task, in the same phase, as
 * Locust's TaskSet.run does. u:interrupt(reschedule) pops the innermost
 * set (its on_stop runs) and ends the task; with reschedule (the
 * default, as Locust's) the next task starts without a wait. The user's
 * on_stop first runs the on_stop of every set it is in, innermost first.
 *
 * The driver and rl.taskset are Lua (below): the set's on_start, on_stop
 * and tasks make requests that yield, and only Lua frames may be between
 * a coroutine's resume and a yield (LuaJIT has no lua_callk). Every state
 * loads it (rl__script_open_tasksets, from lib.c), the main thread's for
 * rl.taskset at load.
 */
#include <lauxlib.h>
#include <stdint.h>

#include "script/script.h"

const char rl__script_taskset_key[] = "__rl_taskset";

/* The registry's key of this state's driver and u:interrupt. */
static const char driver_key = 0, interrupt_key = 0;

static const char prelude[] =
    "local rnd, norm, skip_wait, quiet, set_where, KEY = ...\n"
    "-- The sets each user is in, innermost last (weak: a user's table\n"
    "-- goes when the user does).\n"
    "local stacks = setmetatable({}, {__mode = 'k'})\n"
    "local class_defs = setmetatable({}, {__mode = 'k'})\n"
    "local floor, type = math.floor, type\n"
    "-- stops: the set or one inside it has an on_stop (script.c: the\n"
    "-- class then needs its on_stop phase).\n"
    "local function def_of(arr, seq, on_stop)\n"
    "  local d = {tasks = arr, seq = seq, total = 0, reps = {},\n"
    "             stops = on_stop ~= nil}\n"
    "  for i = 1, #arr do\n"
    "    local sub = type(arr[i][1]) == 'table' and arr[i][1][KEY]\n"
    "    d.stops = d.stops or (sub and sub.stops) or false\n"
    "    d.total = d.total + arr[i][2]\n"
    "    local r = floor(arr[i][2] + 0.5)\n"
    "    d.reps[i] = r < 1 and 1 or r\n"
    "  end\n"
    "  return d\n"
    "end\n"
    "local function taskset(t)\n"
    "  if type(t) ~= 'table' then\n"
    "    error('rl.taskset: give a table {tasks = {...}, on_start =, '\n"
    "          .. 'on_stop =, sequential =, name =}', 2)\n"
    "  end\n"
    "  for _, k in ipairs {'on_start', 'on_stop'} do\n"
    "    if t[k] ~= nil and type(t[k]) ~= 'function' then\n"
    "      error('rl.taskset: ' .. k .. ': a function', 2)\n"
    "    end\n"
    "  end\n"
    "  if t.sequential ~= nil and type(t.sequential) ~= 'boolean' then\n"
    "    error('rl.taskset: sequential: true or false', 2)\n"
    "  end\n"
    "  if t.name ~= nil and type(t.name) ~= 'string' then\n"
    "    error('rl.taskset: name: a string', 2)\n"
    "  end\n"
    "  local arr, why = norm(t)\n"
    "  if not arr then error('rl.taskset: ' .. why, 2) end\n"
    "  for i = 1, #arr do\n"
    "    if arr[i][4] then\n"
    "      error('rl.taskset: ' .. arr[i][3] .. ': tags only on a '\n"
    "            .. 'class\\'s own tasks (tag the set there)', 2)\n"
    "    end\n"
    "  end\n"
    "  rawset(t, KEY, def_of(arr, t.sequential == true, t.on_stop))\n"
    "  return t\n"
    "end\n"
    "local function next_entry(f)\n"
    "  local d = f.def\n"
    "  local tasks = d.tasks\n"
    "  if d.seq then\n"
    "    local e = tasks[f.i]\n"
    "    f.n = f.n + 1\n"
    "    if f.n >= d.reps[f.i] then f.n = 0; f.i = f.i % #tasks + 1 end\n"
    "    return e\n"
    "  end\n"
    "  local r = rnd() * d.total\n"
    "  for i = 1, #tasks do\n"
    "    r = r - tasks[i][2]\n"
    "    if r < 0 then return tasks[i] end\n"
    "  end\n"
    "  return tasks[#tasks]\n"
    "end\n"
    "local function stack_of(u, cls, arr)\n"
    "  local st = stacks[u]\n"
    "  if not st then\n"
    "    st = {}\n"
    "    stacks[u] = st\n"
    "    if cls.sequential then\n"
    "      local d = class_defs[arr]\n"
    "      if not d then d = def_of(arr, true); class_defs[arr] = d end\n"
    "      st[1] = {def = d, i = 1, n = 0, base = true, path = ''}\n"
    "    end\n"
    "  end\n"
    "  return st\n"
    "end\n"
    "-- phase 0 on_start, 1 a task (pick: the engine's, 1-based), 2 on_stop\n"
    "local function driver(u, phase, pick, cls, arr)\n"
    "  local st = stack_of(u, cls, arr)\n"
    "  if phase == 0 then\n"
    "    local f = cls.on_start\n"
    "    if f then return f(u) end\n"
    "    return\n"
    "  elseif phase == 2 then\n"
    "    for i = #st, 1, -1 do\n"
    "      local f = st[i]\n"
    "      if not f.base then\n"
    "        st[i] = nil\n"
    "        if f.started and f.set.on_stop then\n"
    "          set_where(f.path .. '.on_stop')\n"
    "          f.set.on_stop(u)\n"
    "        end\n"
    "      end\n"
    "    end\n"
    "    set_where(nil)\n"
    "    local f = cls.on_stop\n"
    "    if f then return f(u) end\n"
    "    return\n"
    "  end\n"
    "  local top = st[#st]\n"
    "  local e = top and next_entry(top) or arr[pick]\n"
    "  local path = top and top.path or ''\n"
    "  path = path == '' and e[3] or path .. '.' .. e[3]\n"
    "  while type(e[1]) == 'table' do\n"
    "    local set = e[1]\n"
    "    local f = {def = set[KEY], set = set, i = 1, n = 0, path = path}\n"
    "    st[#st + 1] = f\n"
    "    if set.on_start then\n"
    "      set_where(path .. '.on_start')\n"
    "      set.on_start(u)\n"
    "    end\n"
    "    f.started = true\n"
    "    e = next_entry(f)\n"
    "    path = path .. '.' .. e[3]\n"
    "  end\n"
    "  set_where(path)\n"
    "  return e[1](u)\n"
    "end\n"
    "-- u:interrupt(reschedule): out of the innermost set (Locust's\n"
    "-- TaskSet.interrupt); out of none, the task just ends.\n"
    "local function interrupt(u, reschedule)\n"
    "  local st = type(u) == 'table' and stacks[u]\n"
    "  local f = st and st[#st]\n"
    "  if f and not f.base then\n"
    "    st[#st] = nil\n"
    "    if f.started and f.set.on_stop then\n"
    "      set_where(f.path .. '.on_stop')\n"
    "      f.set.on_stop(u)\n"
    "    end\n"
    "    if reschedule ~= false then skip_wait() end\n"
    "  end\n"
    "  return quiet()\n"
    "end\n"
    "return taskset, driver, interrupt\n";

/* A draw in [0, 1) of this thread's generator (helpers.c). */
static int l_rnd(lua_State *L) {
  lua_pushnumber(L, (lua_Number)(rl__script_random() >> 11) * 0x1.0p-53);
  return 1;
}

/* norm(t): t's tasks as rl__script_tasks reads them (an array of {fn,
 * weight, name, tags}), or nil and the reason. */
static int l_norm(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  if (rl__script_tasks(L, 1) < 0) {
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
  return 1;
}

void rl__script_open_tasksets(lua_State *L, int rl_table) {
  if (luaL_loadbuffer(L, prelude, sizeof prelude - 1, "=rl.taskset") != 0)
    lua_error(L); /* our own text: a bug, said at the first load */
  lua_pushcfunction(L, l_rnd);
  lua_pushcfunction(L, l_norm);
  lua_pushcfunction(L, rl__script_lua_skip_wait);
  lua_pushcfunction(L, rl__script_lua_interrupt);
  lua_pushcfunction(L, rl__script_lua_set_where);
  lua_pushstring(L, rl__script_taskset_key);
  lua_call(L, 6, 3);
  lua_pushlightuserdata(L, (void *)&interrupt_key);
  lua_insert(L, -2);
  lua_rawset(L, LUA_REGISTRYINDEX);
  lua_pushlightuserdata(L, (void *)&driver_key);
  lua_insert(L, -2);
  lua_rawset(L, LUA_REGISTRYINDEX);
  lua_setfield(L, rl_table, "taskset");
}

void rl__script_push_driver(lua_State *L) {
  lua_pushlightuserdata(L, (void *)&driver_key);
  lua_rawget(L, LUA_REGISTRYINDEX);
}

void rl__script_push_interrupt(lua_State *L) {
  lua_pushlightuserdata(L, (void *)&interrupt_key);
  lua_rawget(L, LUA_REGISTRYINDEX);
}

int rl__script_is_taskset(lua_State *L, int idx) {
  if (lua_type(L, idx) != LUA_TTABLE)
    return 0;
  lua_getfield(L, idx, rl__script_taskset_key);
  int is = lua_type(L, -1) == LUA_TTABLE;
  lua_pop(L, 1);
  return is;
}

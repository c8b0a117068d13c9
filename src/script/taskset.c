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
#include <stdlib.h>
#include <string.h>

#include "script/script.h"

const char rl__script_taskset_key[] = "__rl_taskset";

/* The registry's keys of this state's driver, u:interrupt and the tags
 * of a class's set entry (rl__script_entry_tags). */
static const char driver_key = 0, interrupt_key = 0, tags_key = 0;

static const char prelude[] =
    "local rnd, norm, skip_wait, quiet, set_where, KEY, filters, QUIET = ...\n"
    "-- The sets each user is in, innermost last (weak: a user's table\n"
    "-- goes when the user does).\n"
    "local stacks = setmetatable({}, {__mode = 'k'})\n"
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
    "  rawset(t, KEY, def_of(arr, t.sequential == true, t.on_stop))\n"
    "  return t\n"
    "end\n"
    "-- --tags / --exclude-tags (T, E: sets, nil when not given), as\n"
    "-- Locust's filter_tasks_by_tags: a task's tags are its own and those\n"
    "-- of the entries above it (@tag on a TaskSet tags its tasks); an\n"
    "-- entry that is a set stays when a task is left in it. The leaves'\n"
    "-- tags go into all (every leaf) and kept (the leaves left).\n"
    "local T, E, filtered\n"
    "local function union(inh, tags)\n"
    "  if not tags then return inh end\n"
    "  local t = {}\n"
    "  for g in pairs(inh) do t[g] = true end\n"
    "  for _, g in ipairs(tags) do t[g] = true end\n"
    "  return t\n"
    "end\n"
    "local function passes(eff)\n"
    "  if T then\n"
    "    local any = false\n"
    "    for g in pairs(eff) do if T[g] then any = true; break end end\n"
    "    if not any then return false end\n"
    "  end\n"
    "  if E then for g in pairs(eff) do if E[g] then return false end end end\n"
    "  return true\n"
    "end\n"
    "local prune\n"
    "-- An entry {fn or set, weight, name, tags} as the filter leaves it\n"
    "-- (a set's: with def, its tasks left), or nil.\n"
    "local function prune_entry(e, inh, all, kept)\n"
    "  local eff = union(inh, e[4])\n"
    "  if type(e[1]) == 'table' then\n"
    "    local sd = e[1][KEY]\n"
    "    local d = prune(sd.tasks, sd.seq, eff, all, kept)\n"
    "    return d and {e[1], e[2], e[3], def = d}\n"
    "  end\n"
    "  for g in pairs(eff) do all[g] = true end\n"
    "  if not passes(eff) then return nil end\n"
    "  for g in pairs(eff) do kept[g] = true end\n"
    "  return e\n"
    "end\n"
    "function prune(arr, seq, inh, all, kept)\n"
    "  local out = {}\n"
    "  for i = 1, #arr do\n"
    "    out[#out + 1] = prune_entry(arr[i], inh, all, kept)\n"
    "  end\n"
    "  return #out > 0 and def_of(out, seq) or nil\n"
    "end\n"
    "local function set_filters()\n"
    "  if not filtered then T, E = filters(); filtered = true end\n"
    "end\n"
    "-- Per class (its tasks' array): by[i], class entry i as the filter\n"
    "-- leaves it (nil: dropped, the engine does not pick it), and a\n"
    "-- sequential class's base, its entries left in order.\n"
    "local class_defs = setmetatable({}, {__mode = 'k'})\n"
    "local function class_def(cls, arr)\n"
    "  local c = class_defs[arr]\n"
    "  if c then return c end\n"
    "  set_filters()\n"
    "  c = {by = {}}\n"
    "  local left = {}\n"
    "  for i = 1, #arr do\n"
    "    c.by[i] = prune_entry(arr[i], {}, {}, {})\n"
    "    left[#left + 1] = c.by[i]\n"
    "  end\n"
    "  if cls.sequential and #left > 0 then c.base = def_of(left, true) end\n"
    "  class_defs[arr] = c\n"
    "  return c\n"
    "end\n"
    "-- The tags the engine filters a class's set entry e by (script.c):\n"
    "-- those of the tasks the filter leaves in it, else of all its tasks,\n"
    "-- so that the engine keeps it exactly when a task is left in it.\n"
    "local function entry_tags(e)\n"
    "  set_filters()\n"
    "  local all, kept = {}, {}\n"
    "  local left = prune_entry(e, {}, all, kept)\n"
    "  local out = {}\n"
    "  for g in pairs(left and kept or all) do out[#out + 1] = g end\n"
    "  table.sort(out)\n"
    "  return out\n"
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
    "    local base = class_def(cls, arr).base\n"
    "    if base then\n"
    "      st[1] = {def = base, i = 1, n = 0, base = true, path = ''}\n"
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
    "    -- Each set's on_stop, innermost first: u:interrupt() (or\n"
    "    -- rl.stop_user) in one ends that one, not the user's stop.\n"
    "    st.stopping = true\n"
    "    for i = #st, 1, -1 do\n"
    "      local f = st[i]\n"
    "      if not f.base then\n"
    "        st[i] = nil\n"
    "        if f.started and f.set.on_stop then\n"
    "          set_where(f.path .. '.on_stop')\n"
    "          local ok, err = pcall(f.set.on_stop, u)\n"
    "          if not ok and err ~= QUIET then error(err, 0) end\n"
    "        end\n"
    "      end\n"
    "    end\n"
    "    set_where(nil)\n"
    "    local f = cls.on_stop\n"
    "    if f then return f(u) end\n"
    "    return\n"
    "  end\n"
    "  local top = st[#st]\n"
    "  local e = top and next_entry(top) or class_def(cls, arr).by[pick]\n"
    "  if not e then error('rl.taskset: task ' .. pick .. ' left out by '\n"
    "                     .. 'the tags was picked (a bug)') end\n"
    "  local path = top and top.path or ''\n"
    "  path = path == '' and e[3] or path .. '.' .. e[3]\n"
    "  while type(e[1]) == 'table' do\n"
    "    local set = e[1]\n"
    "    local f = {def = e.def, set = set, i = 1, n = 0, path = path}\n"
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
    "  local f = st and not st.stopping and st[#st]\n"
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
    "return taskset, driver, interrupt, entry_tags\n";

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

/* A list of n texts as a set {text = true}, or nil when n is 0. */
static void push_set(lua_State *L, const char *const *texts, size_t n) {
  if (!n) {
    lua_pushnil(L);
    return;
  }
  lua_createtable(L, 0, (int)n);
  for (size_t i = 0; i < n; i++) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, texts[i]);
  }
}

/* filters(): --tags and --exclude-tags as two sets (nil: not given),
 * from the script bound to the state (asked when a class first runs or
 * is added: the main thread's state is bound after the library opens). */
static int l_filters(lua_State *L) {
  const rl__script *s = rl__script_bound(L);
  push_set(L, s ? s->tags : NULL, s ? s->n_tags : 0);
  push_set(L, s ? s->exclude_tags : NULL, s ? s->n_exclude_tags : 0);
  return 2;
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
  lua_pushcfunction(L, l_filters);
  /* The value u:interrupt() and rl.stop_user() end a phase with, which
   * the driver tells from an error when a set's on_stop ends so. */
  lua_pushcfunction(L, rl__script_end_quietly);
  if (lua_pcall(L, 0, 0, 0) == 0)
    lua_pushnil(L); /* not reached: it always raises */
  lua_call(L, 8, 4);
  lua_pushlightuserdata(L, (void *)&tags_key);
  lua_insert(L, -2);
  lua_rawset(L, LUA_REGISTRYINDEX);
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

int rl__script_entry_tags(lua_State *L, int idx, char ***out) {
  *out = NULL;
  lua_pushlightuserdata(L, (void *)&tags_key);
  lua_rawget(L, LUA_REGISTRYINDEX);
  lua_pushvalue(L, idx);
  if (lua_pcall(L, 1, 1, 0) != 0) {
    lua_pop(L, 1);
    return -1;
  }
  size_t n = lua_objlen(L, -1);
  int rc = 0;
  if (n && !(*out = calloc(n + 1, sizeof **out)))
    rc = -1;
  for (size_t g = 0; g < n && !rc; g++) {
    lua_rawgeti(L, -1, (int)g + 1);
    if (!((*out)[g] = strdup(lua_tostring(L, -1))))
      rc = -1;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return rc;
}

/*
 * The rl library a script sees (script.h): rl.user, Locust's four waits,
 * rl.log, JSON both ways; rl.sleep and rl.fail are runtime.c's (they act
 * on the running user). Loaded into the main thread's state and into each
 * worker's, the same.
 */
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <lualib.h>

#include "script/safety.h"
#include "script/script.h"

const char rl__script_class_key[] = "__rl_user_class";

int rl__script_lua_sleep(lua_State *L);
int rl__script_lua_fail(lua_State *L);

/* rl.user{...}: marks the table a user class (the global it is assigned
 * to names it). */
static int l_user(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_pushboolean(L, 1);
  lua_setfield(L, 1, rl__script_class_key);
  lua_settop(L, 1);
  return 1;
}

/* The waits: Locust's spelling, as user.h's wait_time reads it. */
static int wait_text(lua_State *L, const char *fn, int nargs) {
  char text[128];
  if (nargs == 2)
    snprintf(text, sizeof text, "%s(%.17g, %.17g)", fn, luaL_checknumber(L, 1),
             luaL_checknumber(L, 2));
  else
    snprintf(text, sizeof text, "%s(%.17g)", fn, luaL_checknumber(L, 1));
  lua_pushstring(L, text);
  return 1;
}

static int l_between(lua_State *L) { return wait_text(L, "between", 2); }
static int l_constant(lua_State *L) { return wait_text(L, "constant", 1); }
static int l_pacing(lua_State *L) { return wait_text(L, "constant_pacing", 1); }
static int l_throughput(lua_State *L) {
  return wait_text(L, "constant_throughput", 1);
}

/* rl.log(...): the values as print shows them, tab-separated, one line
 * on stderr in one write (threads do not interleave). */
static int l_log(lua_State *L) {
  int n = lua_gettop(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, "[lua] ");
  for (int i = 1; i <= n; i++) {
    lua_getglobal(L, "tostring");
    lua_pushvalue(L, i);
    lua_call(L, 1, 1);
    if (i > 1)
      luaL_addchar(&b, '\t');
    luaL_addvalue(&b);
  }
  luaL_addchar(&b, '\n');
  luaL_pushresult(&b);
  size_t len;
  const char *s = lua_tostring(L, -1);
  len = lua_objlen(L, -1);
  fwrite(s, 1, len, stderr);
  return 0;
}

/* ---- JSON ---------------------------------------------------------------- */

/* A Lua value as JSON (new reference), or NULL with a reason in why: a
 * table with keys 1..n only is an array, another an object (string keys). */
static json_t *to_json(lua_State *L, int idx, int depth, char *why,
                       size_t whylen) {
  if (depth > 64) {
    snprintf(why, whylen, "nested more than 64 deep (a cycle?)");
    return NULL;
  }
  switch (lua_type(L, idx)) {
  case LUA_TNIL:
    return json_null();
  case LUA_TBOOLEAN:
    return json_boolean(lua_toboolean(L, idx));
  case LUA_TNUMBER: {
    double d = lua_tonumber(L, idx);
    if (d == (double)(json_int_t)d && d > -9e15 && d < 9e15)
      return json_integer((json_int_t)d);
    return json_real(d);
  }
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    return json_stringn(s, n);
  }
  case LUA_TTABLE:
    break;
  default:
    snprintf(why, whylen, "a %s has no JSON form", luaL_typename(L, idx));
    return NULL;
  }
  if (idx < 0)
    idx = lua_gettop(L) + idx + 1;
  size_t n = lua_objlen(L, idx), keys = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    keys++;
    lua_pop(L, 1);
  }
  if (n > 0 && keys == n) {
    json_t *a = json_array();
    for (size_t i = 1; a && i <= n; i++) {
      lua_rawgeti(L, idx, (int)i);
      json_t *v = to_json(L, -1, depth + 1, why, whylen);
      lua_pop(L, 1);
      if (!v || json_array_append_new(a, v)) {
        json_decref(a);
        return NULL;
      }
    }
    return a;
  }
  json_t *o = json_object();
  lua_pushnil(L);
  while (o && lua_next(L, idx)) {
    if (lua_type(L, -2) != LUA_TSTRING) {
      snprintf(why, whylen, "an object's key is a %s, not a string",
               luaL_typename(L, -2));
      lua_pop(L, 2);
      json_decref(o);
      return NULL;
    }
    json_t *v = to_json(L, -1, depth + 1, why, whylen);
    if (!v || json_object_set_new(o, lua_tostring(L, -2), v)) {
      lua_pop(L, 2);
      json_decref(o);
      return NULL;
    }
    lua_pop(L, 1);
  }
  return o;
}

/* Pushes the Lua value of j (null: nil). */
static void from_json(lua_State *L, const json_t *j) {
  switch (json_typeof(j)) {
  case JSON_OBJECT: {
    lua_createtable(L, 0, (int)json_object_size(j));
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)j, k, v) {
      from_json(L, v);
      lua_setfield(L, -2, k);
    }
    return;
  }
  case JSON_ARRAY: {
    lua_createtable(L, (int)json_array_size(j), 0);
    for (size_t i = 0; i < json_array_size(j); i++) {
      from_json(L, json_array_get(j, i));
      lua_rawseti(L, -2, (int)i + 1);
    }
    return;
  }
  case JSON_STRING:
    lua_pushlstring(L, json_string_value(j), json_string_length(j));
    return;
  case JSON_INTEGER:
    lua_pushnumber(L, (lua_Number)json_integer_value(j));
    return;
  case JSON_REAL:
    lua_pushnumber(L, json_real_value(j));
    return;
  case JSON_TRUE:
  case JSON_FALSE:
    lua_pushboolean(L, json_is_true(j));
    return;
  default:
    lua_pushnil(L);
  }
}

/* rl.json_encode(v): the JSON text; a value with no JSON form is an
 * error naming why. */
static int l_json_encode(lua_State *L) {
  char why[128] = "out of memory";
  json_t *j = to_json(L, 1, 0, why, sizeof why);
  if (!j)
    return luaL_error(L, "rl.json_encode: %s", why);
  char *text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
  json_decref(j);
  if (!text)
    return luaL_error(L, "rl.json_encode: out of memory");
  lua_pushstring(L, text);
  free(text);
  return 1;
}

/* rl.json_decode(text): the value; bad JSON is an error with its line and
 * column. */
static int l_json_decode(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  json_error_t e;
  json_t *j = json_loadb(s, n, JSON_DECODE_ANY, &e);
  if (!j)
    return luaL_error(L, "rl.json_decode: %d:%d: %s", e.line, e.column, e.text);
  from_json(L, j);
  json_decref(j);
  return 1;
}

static const luaL_Reg lib[] = {
    {"user", l_user},
    {"between", l_between},
    {"constant", l_constant},
    {"constant_pacing", l_pacing},
    {"constant_throughput", l_throughput},
    {"log", l_log},
    {"sleep", rl__script_lua_sleep},
    {"fail", rl__script_lua_fail},
    {"stop_user", rl__script_lua_stop_user},
    {"csv", rl__script_lua_csv},
    {"json_encode", l_json_encode},
    {"json_decode", l_json_decode},
    {NULL, NULL},
};

static int preload(lua_State *L) {
  lua_getglobal(L, "rl");
  return 1;
}

void rl__script_open_lib(lua_State *L) {
  luaL_openlibs(L);
  lua_newtable(L);
  luaL_register(L, NULL, lib);
  rl__script_open_helpers(L, lua_gettop(L));  /* helpers.c */
  rl__script_open_events(L, lua_gettop(L));   /* events.c */
  rl__script_open_fire(L, lua_gettop(L));     /* fire.c */
  rl__script_open_cluster(L, lua_gettop(L));  /* cluster.c */
  rl__script_open_tasksets(L, lua_gettop(L)); /* taskset.c */
  rl__script_open_grpc(L, lua_gettop(L));     /* grpcproto.c */
  lua_setglobal(L, "rl");
  /* require "rpcload" gives the same table. */
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "preload");
  lua_pushcfunction(L, preload);
  lua_setfield(L, -2, "rpcload");
  lua_pop(L, 2);
}

int rl__script_run_file(lua_State *L, const char *path) {
  if (luaL_loadfile(L, path) != 0)
    return -1;
  /* The top level is the script's code: watched and capped (safety.h). */
  rl__script_guard *g = rl__script_guard_of(L);
  rl__script_guard_arm(g, L);
  int rc = lua_pcall(L, 0, 0, 0);
  rl__script_guard_disarm(g, L);
  if (rc != 0) {
    char text[1024];
    lua_pushstring(L, rl__script_guard_error(g, NULL, rc, lua_tostring(L, -1),
                                             text, sizeof text));
    lua_replace(L, -2);
    return -1;
  }
  return 0;
}

/* One task into the array at the stack top: {fn, weight, name, tags}
 * (tags_idx: its list of tags, checked; 0: none). */
static int add_task(lua_State *L, int arr, int *n, int fn_idx, double weight,
                    const char *name, int tags_idx) {
  lua_createtable(L, 4, 0);
  lua_pushvalue(L, fn_idx);
  lua_rawseti(L, -2, 1);
  lua_pushnumber(L, weight);
  lua_rawseti(L, -2, 2);
  if (name)
    lua_pushstring(L, name);
  else
    lua_pushfstring(L, "task %d", *n + 1);
  lua_rawseti(L, -2, 3);
  if (tags_idx) {
    lua_pushvalue(L, tags_idx);
    lua_rawseti(L, -2, 4);
  }
  lua_rawseti(L, arr, ++*n);
  return 0;
}

/* A task's tags = {"a", "b"} at v: a list of non-empty strings, at most
 * 64 (nil: none); 0, or -1 with the reason pushed. */
static int check_tags(lua_State *L, int v) {
  if (lua_isnil(L, v))
    return 0;
  size_t len = lua_type(L, v) == LUA_TTABLE ? lua_objlen(L, v) : 0;
  int ok = lua_type(L, v) == LUA_TTABLE && len <= 64;
  for (size_t i = 1; ok && i <= len; i++) {
    lua_rawgeti(L, v, (int)i);
    ok = lua_type(L, -1) == LUA_TSTRING && lua_objlen(L, -1) > 0;
    lua_pop(L, 1);
  }
  if (ok)
    return 0;
  lua_pushstring(L, "tags: a list of non-empty strings (at most 64)");
  return -1;
}

/* A task: a function or an rl.taskset{...} (its own name= when the
 * entry has none). */
static int is_task(lua_State *L, int v) {
  return lua_type(L, v) == LUA_TFUNCTION || rl__script_is_taskset(L, v);
}

static const char *set_name(lua_State *L, int v, const char *name) {
  if (name || lua_type(L, v) != LUA_TTABLE)
    return name;
  lua_getfield(L, v, "name");
  const char *own = lua_tostring(L, -1); /* anchored in the set */
  lua_pop(L, 1);
  return own;
}

/* A list entry: a task, or {task, weight[, name=]}. */
static int list_entry(lua_State *L, int arr, int *n, int v, const char *name) {
  if (is_task(L, v))
    return add_task(L, arr, n, v, 1, set_name(L, v, name), 0);
  if (lua_type(L, v) == LUA_TTABLE) {
    lua_rawgeti(L, v, 1);
    lua_rawgeti(L, v, 2);
    lua_getfield(L, v, "name");
    lua_getfield(L, v, "tags");
    int top = lua_gettop(L);
    int ok = is_task(L, top - 3) &&
             (lua_isnil(L, top - 2) || lua_type(L, top - 2) == LUA_TNUMBER);
    double w = lua_isnil(L, top - 2) ? 1 : lua_tonumber(L, top - 2);
    const char *own = lua_tostring(L, top - 1);
    if (ok && w > 0) {
      if (check_tags(L, top))
        return -1; /* the reason on top: the caller resets the stack */
      add_task(L, arr, n, top - 3, w, own ? own : set_name(L, top - 3, name),
               lua_isnil(L, top) ? 0 : top);
      lua_pop(L, 4);
      return 0;
    }
    lua_pop(L, 4);
  }
  lua_pushfstring(L,
                  "a task is a function, an rl.taskset{...} or {function, "
                  "weight, name=, tags=} (got a %s%s)",
                  luaL_typename(L, v),
                  lua_type(L, v) == LUA_TTABLE ? " without those" : "");
  return -1;
}

/* The reason at the stack top in the tasks table's slot t, and nothing
 * above it. */
static int fail_at(lua_State *L, int t) {
  lua_replace(L, t);
  lua_settop(L, t);
  return -1;
}

static int by_number(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static int by_text(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int rl__script_tasks(lua_State *L, int idx) {
  if (idx < 0)
    idx = lua_gettop(L) + idx + 1;
  lua_getfield(L, idx, "tasks");
  if (lua_type(L, -1) != LUA_TTABLE) {
    lua_pushstring(L, "tasks: a table of functions is required");
    return fail_at(L, lua_gettop(L) - 1);
  }
  int t = lua_gettop(L);
  lua_newtable(L);
  int arr = t + 1, n = 0;
  /* The keys: a list 1..len is a list of tasks of weight 1; other integer
   * keys are weights ({[3] = f}); string keys name tasks. */
  size_t len = lua_objlen(L, t), keys = 0, nnum = 0, nstr = 0;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    keys++;
    if (lua_type(L, -2) == LUA_TNUMBER)
      nnum++;
    else if (lua_type(L, -2) == LUA_TSTRING)
      nstr++;
    lua_pop(L, 1);
  }
  int list = len > 0 && nnum == len;
  double nums[256];
  const char *strs[256];
  size_t an = 0, as = 0;
  if (keys > 256) {
    lua_pushstring(L, "tasks: more than 256");
    return fail_at(L, t);
  }
  lua_pushnil(L);
  while (lua_next(L, t)) {
    if (lua_type(L, -2) == LUA_TNUMBER && !list)
      nums[an++] = lua_tonumber(L, -2);
    else if (lua_type(L, -2) == LUA_TSTRING)
      strs[as++] = lua_tostring(L, -2); /* anchored by the table */
    else if (lua_type(L, -2) != LUA_TNUMBER) {
      lua_pushstring(L, "tasks: keys are weights (numbers) or names");
      return fail_at(L, t);
    }
    lua_pop(L, 1);
  }
  (void)nstr;
  for (size_t i = 1; list && i <= len; i++) {
    lua_rawgeti(L, t, (int)i);
    if (list_entry(L, arr, &n, lua_gettop(L), NULL)) {
      lua_pushfstring(L, "tasks[%d]: %s", (int)i, lua_tostring(L, -1));
      return fail_at(L, t);
    }
    lua_pop(L, 1);
  }
  qsort(nums, an, sizeof *nums, by_number);
  for (size_t i = 0; i < an; i++) {
    lua_pushnumber(L, nums[i]);
    lua_rawget(L, t);
    if (!is_task(L, -1) || !(nums[i] > 0)) {
      lua_pushfstring(L, "tasks[%f]: a weight > 0 for a function", nums[i]);
      return fail_at(L, t);
    }
    add_task(L, arr, &n, lua_gettop(L), nums[i],
             set_name(L, lua_gettop(L), NULL), 0);
    lua_pop(L, 1);
  }
  qsort(strs, as, sizeof *strs, by_text);
  for (size_t i = 0; i < as; i++) {
    lua_getfield(L, t, strs[i]);
    if (list_entry(L, arr, &n, lua_gettop(L), strs[i])) {
      lua_pushfstring(L, "tasks.%s: %s", strs[i], lua_tostring(L, -1));
      return fail_at(L, t);
    }
    lua_pop(L, 1);
  }
  if (n == 0) {
    lua_pushstring(L, "tasks: at least one task is required");
    return fail_at(L, t);
  }
  lua_replace(L, t); /* the array where the tasks table was */
  return n;
}

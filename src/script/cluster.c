/*
 * rl.cluster: Locust's custom messages (runners.py register_message /
 * send_message) from a script, and the Lua <-> msgpack conversion their
 * data takes. Handlers run in the script's main state (the one its
 * rl.events listeners run in), on the run's main thread, with (data,
 * node_id); so register and send are for that state: an rl.events.init or
 * test_start listener, as Locust's custom_messages.py does it.
 *
 * Lua -> msgpack: nil, booleans, strings (str), numbers (an integral
 * number within +-2^53 as an integer, else a double), tables: a table
 * whose keys are exactly 1..n an array (an empty table an empty array, as
 * Python's lists are the common data), else a map with string or number
 * keys. Anything else (a function, userdata, a key of another kind, more
 * than RL__MSG_MAX_DEPTH levels, a cycle) is an error naming where.
 * msgpack -> Lua: the reverse; bin as a string, integers beyond 2^53 as
 * the nearest double, an extension value as nil (later Locusts' dates).
 */
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <msgpack.h>

#include "api/env.h"
#include "cluster/msg.h"
#include "script/script.h"

static int pack_at(lua_State *L, int idx, msgpack_packer *pk, int depth,
                   char *where, size_t wherelen, char *err, size_t errlen);

/* Whether the table at idx is an array: keys exactly 1..n. */
static int is_array(lua_State *L, int idx, size_t *n) {
  size_t count = 0;
  int array = 1;
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    count++;
    lua_Number k;
    if (lua_type(L, -2) != LUA_TNUMBER || (k = lua_tonumber(L, -2)) < 1 ||
        k != floor(k))
      array = 0;
    lua_pop(L, 1);
  }
  *n = count;
  return array && lua_objlen(L, idx) == count;
}

static void pack_number(msgpack_packer *pk, lua_Number v) {
  if (v == floor(v) && fabs(v) <= 9007199254740992.0)
    msgpack_pack_int64(pk, (int64_t)v);
  else
    msgpack_pack_double(pk, v);
}

static int pack_at(lua_State *L, int idx, msgpack_packer *pk, int depth,
                   char *where, size_t wherelen, char *err, size_t errlen) {
  switch (lua_type(L, idx)) {
  case LUA_TNIL:
    msgpack_pack_nil(pk);
    return 0;
  case LUA_TBOOLEAN:
    if (lua_toboolean(L, idx))
      msgpack_pack_true(pk);
    else
      msgpack_pack_false(pk);
    return 0;
  case LUA_TNUMBER:
    pack_number(pk, lua_tonumber(L, idx));
    return 0;
  case LUA_TSTRING: {
    size_t n;
    const char *p = lua_tolstring(L, idx, &n);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, p, n);
    return 0;
  }
  case LUA_TTABLE:
    break;
  default:
    snprintf(err, errlen,
             "%s: a %s cannot be sent (nil, boolean, number, "
             "string or table)",
             where, luaL_typename(L, idx));
    return -1;
  }
  if (depth >= RL__MSG_MAX_DEPTH) {
    snprintf(err, errlen, "%s: nested more than %d deep (or a cycle)", where,
             RL__MSG_MAX_DEPTH);
    return -1;
  }
  if (!lua_checkstack(L, 4)) {
    snprintf(err, errlen, "%s: out of Lua stack", where);
    return -1;
  }
  size_t n, wlen = strlen(where);
  if (is_array(L, idx, &n)) {
    msgpack_pack_array(pk, n);
    for (size_t i = 1; i <= n; i++) {
      lua_rawgeti(L, idx, (int)i);
      snprintf(where + wlen, wherelen - wlen, "[%zu]", i);
      int rc = pack_at(L, lua_gettop(L), pk, depth + 1, where, wherelen, err,
                       errlen);
      lua_pop(L, 1);
      if (rc)
        return rc;
    }
    where[wlen] = '\0';
    return 0;
  }
  msgpack_pack_map(pk, n);
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    int kt = lua_type(L, -2);
    if (kt == LUA_TSTRING) {
      size_t kn;
      const char *k = lua_tolstring(L, -2, &kn);
      msgpack_pack_str(pk, kn);
      msgpack_pack_str_body(pk, k, kn);
      snprintf(where + wlen, wherelen - wlen, ".%s", k);
    } else if (kt == LUA_TNUMBER) {
      pack_number(pk, lua_tonumber(L, -2));
      snprintf(where + wlen, wherelen - wlen, "[%.17g]", lua_tonumber(L, -2));
    } else {
      snprintf(err, errlen, "%s: a %s key cannot be sent (string or number)",
               where, luaL_typename(L, -2));
      lua_pop(L, 2);
      return -1;
    }
    int rc =
        pack_at(L, lua_gettop(L), pk, depth + 1, where, wherelen, err, errlen);
    lua_pop(L, 1);
    if (rc) {
      lua_pop(L, 1);
      return rc;
    }
  }
  where[wlen] = '\0';
  return 0;
}

int rl__script_pack_value(lua_State *L, int idx, msgpack_packer *pk, char *err,
                          size_t errlen) {
  char where[256] = "data";
  if (idx < 0)
    idx = lua_gettop(L) + idx + 1;
  return pack_at(L, idx, pk, 0, where, sizeof where, err, errlen);
}

static int push_object(lua_State *L, const msgpack_object *o, char *err,
                       size_t errlen) {
  if (!lua_checkstack(L, 3)) {
    snprintf(err, errlen, "out of Lua stack");
    return -1;
  }
  switch (o->type) {
  case MSGPACK_OBJECT_NIL:
  case MSGPACK_OBJECT_EXT:
    lua_pushnil(L);
    return 0;
  case MSGPACK_OBJECT_BOOLEAN:
    lua_pushboolean(L, o->via.boolean);
    return 0;
  case MSGPACK_OBJECT_POSITIVE_INTEGER:
    lua_pushnumber(L, (lua_Number)o->via.u64);
    return 0;
  case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    lua_pushnumber(L, (lua_Number)o->via.i64);
    return 0;
  case MSGPACK_OBJECT_FLOAT32:
  case MSGPACK_OBJECT_FLOAT64:
    lua_pushnumber(L, o->via.f64);
    return 0;
  case MSGPACK_OBJECT_STR:
    lua_pushlstring(L, o->via.str.ptr, o->via.str.size);
    return 0;
  case MSGPACK_OBJECT_BIN:
    lua_pushlstring(L, o->via.bin.ptr, o->via.bin.size);
    return 0;
  case MSGPACK_OBJECT_ARRAY:
    lua_createtable(L, (int)o->via.array.size, 0);
    for (uint32_t i = 0; i < o->via.array.size; i++) {
      if (push_object(L, &o->via.array.ptr[i], err, errlen))
        return -1;
      lua_rawseti(L, -2, (int)i + 1);
    }
    return 0;
  case MSGPACK_OBJECT_MAP:
    lua_createtable(L, 0, (int)o->via.map.size);
    for (uint32_t i = 0; i < o->via.map.size; i++) {
      if (push_object(L, &o->via.map.ptr[i].key, err, errlen))
        return -1;
      if (lua_isnil(L, -1)) {
        snprintf(err, errlen, "a map key is nil or an extension value");
        return -1;
      }
      if (push_object(L, &o->via.map.ptr[i].val, err, errlen))
        return -1;
      lua_rawset(L, -3);
    }
    return 0;
  }
  snprintf(err, errlen, "a msgpack value of an unknown kind");
  return -1;
}

int rl__script_push_value(lua_State *L, const void *data, size_t len, char *err,
                          size_t errlen) {
  if (len == 0) { /* no data at all: nil, as a message without data */
    lua_pushnil(L);
    return 0;
  }
  if (rl__msg_value_check(data, len, err, errlen) != 0)
    return -1;
  msgpack_unpacked up;
  msgpack_unpacked_init(&up);
  size_t off = 0;
  int rc = -1;
  int top = lua_gettop(L);
  if (msgpack_unpack_next(&up, data, len, &off) != MSGPACK_UNPACK_SUCCESS)
    snprintf(err, errlen, "not msgpack (or out of memory)");
  else
    rc = push_object(L, &up.data, err, errlen);
  msgpack_unpacked_destroy(&up);
  if (rc)
    lua_settop(L, top);
  return rc;
}

/* ---- rl.cluster --------------------------------------------------------- */

static const char handlers_key[] = "rpcload.cluster.handlers";

/* A handler's link from the event table back to its Lua function: a full
 * userdata kept in the registry (freed with the state). */
typedef struct handler {
  rl__script *s;
  int ref; /* the function in the main state's registry */
} handler;

static void on_message(void *arg, const char *type, const void *data,
                       size_t len) {
  handler *h = arg;
  rl__script *s = h->s;
  lua_State *L = s->main_L;
  if (!L)
    return;
  int base = lua_gettop(L);
  char err[512], text[900];
  lua_rawgeti(L, LUA_REGISTRYINDEX, h->ref);
  if (rl__script_push_value(L, data, len, err, sizeof err) != 0) {
    snprintf(text, sizeof text, "rl.cluster message '%s': bad data: %s", type,
             err);
    rl__script_error_seen(s, text);
    lua_settop(L, base);
    return;
  }
  const char *node = s->env->events.delivering_node;
  lua_pushstring(L, node ? node : "");
  rl__script_guard_arm(&s->main_guard, L);
  int rc = lua_pcall(L, 2, 0, 0);
  rl__script_guard_disarm(&s->main_guard, L);
  if (rc != 0) {
    char msg[600];
    snprintf(text, sizeof text, "rl.cluster handler of '%s': %s", type,
             rl__script_guard_error(&s->main_guard, NULL, rc,
                                    lua_tostring(L, -1), msg, sizeof msg));
    rl__script_error_seen(s, text);
  }
  lua_settop(L, base);
}

/* The script, when L is its main state; else a Lua error saying where. */
static rl__script *main_script(lua_State *L, const char *fn) {
  rl__script *s = rl__script_bound(L);
  if (!s || !s->env || s->main_L != L)
    luaL_error(L,
               "rl.cluster.%s: call it in an rl.events listener (init, "
               "test_start: the script's main state), as Locust's "
               "custom_messages.py does",
               fn);
  return s;
}

static int l_register(lua_State *L) {
  const char *type = luaL_checkstring(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  rl__script *s = main_script(L, "register");
  handler *h = lua_newuserdata(L, sizeof *h);
  lua_pushvalue(L, 2);
  h->s = s;
  h->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_getfield(L, LUA_REGISTRYINDEX, handlers_key);
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, handlers_key);
  }
  lua_pushvalue(L, -2);
  lua_rawseti(L, -2, (int)lua_objlen(L, -2) + 1);
  lua_pop(L, 2);
  rl__events *ev = &s->env->events;
  if (ev->host.register_message(&ev->host, type, on_message, h) != 0)
    return luaL_error(L, "rl.cluster.register: out of memory");
  return 0;
}

static int l_send(lua_State *L) {
  const char *type = luaL_checkstring(L, 1);
  const char *node = luaL_optstring(L, 3, NULL);
  rl__script *s = main_script(L, "send");
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  char err[400];
  lua_settop(L, 3);
  if (rl__script_pack_value(L, 2, &pk, err, sizeof err) != 0) {
    msgpack_sbuffer_destroy(&sb);
    return luaL_error(L, "rl.cluster.send('%s'): %s", type, err);
  }
  int rc = rl__events_send(&s->env->events, type, sb.data, sb.size, node);
  msgpack_sbuffer_destroy(&sb);
  if (rc == RL_ERR_NOMEM)
    return luaL_error(L, "rl.cluster.send: out of memory");
  lua_pushboolean(L, rc >= 0);
  return 1;
}

static int l_role(lua_State *L) {
  rl__script *s = rl__script_bound(L);
  const char *role = "local";
  if (s && s->env)
    role = s->env->o.cluster.worker   ? "worker"
           : s->env->o.cluster.master ? "master"
                                      : "local";
  lua_pushstring(L, role);
  return 1;
}

/* A master's live workers' node ids, oldest first (Locust's
 * runner.clients); an empty list elsewhere. */
static int l_workers(lua_State *L) {
  rl__script *s = rl__script_bound(L);
  char **ids = NULL;
  size_t n = s && s->env ? rl__events_nodes(&s->env->events, &ids) : 0;
  lua_createtable(L, (int)n, 0);
  for (size_t i = 0; i < n; i++) {
    lua_pushstring(L, ids[i]);
    lua_rawseti(L, -2, (int)i + 1);
  }
  rl__events_nodes_free(ids);
  return 1;
}

void rl__script_open_cluster(lua_State *L, int rl_table) {
  static const luaL_Reg fns[] = {{"register", l_register},
                                 {"send", l_send},
                                 {"role", l_role},
                                 {"workers", l_workers},
                                 {0, 0}};
  lua_newtable(L);
  luaL_register(L, NULL, fns);
  lua_setfield(L, rl_table, "cluster");
}

/*
 * rl.csv(file, {cycle =, order =, format =}) (docs/lua.md): the rows of a
 * CSV file (with a header) or of a JSON lines file (an object a line, its
 * values kept as Lua types) handed out to users, Locust's common pattern
 * of a queue of test accounts. The file is read once per script
 * (engine/feeder.h), when the main thread's load first calls rl.csv for
 * it, and every thread's state shares that feeder: in order, one atomic
 * counter across all threads (each row goes to one user before any row
 * goes twice); random, a draw from the thread's generator; per_user, user
 * N's row N for its whole life. Each thread's state makes a row's Lua
 * table once and hands the same table to its users.
 *
 * The feeders live in the script (rl__script.feeds, under feeds_lock
 * while they are found or added: not the script's lock, which a worker
 * holds while its state runs the script's top level) and are freed with
 * it, after the states.
 */
#include <lauxlib.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/feeder.h"
#include "script/script.h"

/* One file's feeder, shared by every state of the script. */
struct rl__script_feed {
  char *key; /* the path, then "|random" / "|once": one per way of use */
  rl__feeder *f;
  struct rl__script_feed *next;
};

static const char script_key = 0; /* registry: the rl__script of L */
static pthread_mutex_t feeds_lock = PTHREAD_MUTEX_INITIALIZER;

void rl__script_bind(lua_State *L, rl__script *s) {
  lua_pushlightuserdata(L, (void *)&script_key);
  lua_pushlightuserdata(L, s);
  lua_rawset(L, LUA_REGISTRYINDEX);
}

rl__script *rl__script_bound(lua_State *L) {
  lua_pushlightuserdata(L, (void *)&script_key);
  lua_rawget(L, LUA_REGISTRYINDEX);
  rl__script *s = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return s;
}

void rl__script_feeds_free(rl__script *s) {
  for (struct rl__script_feed *d = s->feeds, *next; d; d = next) {
    next = d->next;
    rl__feeder_del(d->f);
    free(d->key);
    free(d);
  }
  s->feeds = NULL;
}

/* The feeder of `path` used this way, loaded on first use (any thread,
 * under feeds_lock); NULL with the reason in why. */
static rl__feeder *feeder_for(rl__script *s, const char *path, int order,
                              int cycle, int jsonl, char *why, size_t whylen) {
  size_t keylen = strlen(path) + 32;
  char *key = malloc(keylen);
  if (!key) {
    snprintf(why, whylen, "out of memory");
    return NULL;
  }
  snprintf(key, keylen, "%s|%d|%s|%s", path, order, cycle ? "cycle" : "once",
           jsonl ? "jsonl" : "csv");
  pthread_mutex_lock(&feeds_lock);
  struct rl__script_feed *d = s->feeds;
  while (d && strcmp(d->key, key) != 0)
    d = d->next;
  if (!d) {
    rl__feeder *f = NULL;
    char err[512];
    int rc = rl__feeder_load(path, path, jsonl, &f, err, sizeof err);
    if (rc) {
      snprintf(why, whylen, "%s: %s", path,
               rc == RL_ERR_NOMEM ? "out of memory" : err);
    } else if (f->n_rows == 0) {
      snprintf(why, whylen, "%s: no rows (a header line, then one row a line)",
               path); /* (a JSON lines file with none is refused above) */
      rl__feeder_del(f);
    } else if (!(d = calloc(1, sizeof *d))) {
      snprintf(why, whylen, "out of memory");
      rl__feeder_del(f);
    } else {
      f->order = order;
      f->cycle = cycle;
      d->f = f;
      d->key = key;
      key = NULL;
      d->next = s->feeds;
      s->feeds = d;
    }
  }
  pthread_mutex_unlock(&feeds_lock);
  free(key);
  return d ? d->f : NULL;
}

/* A relative file: relative to the script's folder (as its grpc proto). */
static void push_path(lua_State *L, const char *script, const char *file) {
  const char *slash = strrchr(script, '/');
  if (file[0] == '/' || !slash) {
    lua_pushstring(L, file);
    return;
  }
  lua_pushlstring(L, script, (size_t)(slash - script) + 1);
  lua_pushstring(L, file);
  lua_concat(L, 2);
}

/* feed:next(): the next row as a table {column = value}, the thread's
 * one table per row (shared by its users: read it, do not change it).
 * None left (cycle = false): the user stops, as rl.stop_user(). */
static int l_next(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  rl_user *cu = rl__script_running_user(L, "feed:next");
  lua_getfield(L, 1, "_feeder");
  rl__feeder *f = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (!f)
    return luaL_error(L, "feed:next: not a feed of rl.csv (call it as "
                         "feed:next())");
  uint64_t rng = rl__script_random();
  const char *const *row = rl__feeder_draw(f, rl_user_id(cu), &rng, 1, NULL);
  if (!row) {
    (void)rl_user_stop(cu);
    return rl__script_end_quietly(L);
  }
  size_t index = (size_t)(row - (const char *const *)f->cells) / f->n_columns;
  lua_getfield(L, 1, "_rows");
  lua_rawgeti(L, -1, (int)index + 1);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_createtable(L, 0, (int)f->n_columns);
    const unsigned char *kinds =
        f->kinds ? f->kinds + index * f->n_columns : NULL;
    for (size_t c = 0; c < f->n_columns; c++) {
      if (kinds && kinds[c] == RL__FEEDER_NULL)
        continue; /* JSON null: nil, as rl.json_decode gives */
      if (kinds && kinds[c] == RL__FEEDER_JSON) {
        lua_getglobal(L, "rl"); /* a number, boolean or table, decoded */
        lua_getfield(L, -1, "json_decode");
        lua_pushstring(L, row[c]);
        lua_call(L, 1, 1);
        lua_replace(L, -2);
      } else {
        lua_pushstring(L, row[c]);
      }
      lua_setfield(L, -2, f->columns[c]);
    }
    lua_pushvalue(L, -1);
    lua_rawseti(L, -3, (int)index + 1);
  }
  return 1;
}

/* Option `key` of the table at 2, one of the texts in `names` (the
 * index, or `dflt` when not given); anything else a Lua error. */
static int opt_choice(lua_State *L, const char *key, const char *const names[],
                      int n, int dflt) {
  lua_getfield(L, 2, key);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return dflt;
  }
  const char *v = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
  for (int i = 0; i < n; i++)
    if (strcmp(v, names[i]) == 0) {
      lua_pop(L, 1);
      return i;
    }
  return luaL_error(L, "rl.csv: %s = %s: give %s or %s%s%s", key,
                    lua_type(L, -1) == LUA_TSTRING ? v : luaL_typename(L, -1),
                    names[0], names[1], n > 2 ? " or " : "",
                    n > 2 ? names[2] : "");
}

/* rl.csv(file, {cycle = true, order = "sequential", format = "csv"}): a
 * feed. (random = true: order = "random".) */
int rl__script_lua_csv(lua_State *L) {
  const char *file = luaL_checkstring(L, 1);
  static const char *const orders[] = {"sequential", "random", "per_user"};
  static const char *const formats[] = {"csv", "jsonl"};
  size_t flen = strlen(file);
  int cycle = 1, order = RL__FEEDER_SEQUENTIAL;
  int jsonl = flen > 6 && strcmp(file + flen - 6, ".jsonl") == 0;
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_getfield(L, 2, "cycle");
    if (!lua_isnil(L, -1))
      cycle = lua_toboolean(L, -1);
    lua_getfield(L, 2, "random");
    if (lua_toboolean(L, -1))
      order = RL__FEEDER_RANDOM;
    lua_pop(L, 2);
    order = opt_choice(L, "order", orders, 3, order);
    jsonl = opt_choice(L, "format", formats, 2, jsonl);
  }
  rl__script *s = rl__script_bound(L);
  if (!s)
    return luaL_error(L, "rl.csv: only in a script run by rpcload -s");
  push_path(L, s->path, file);
  char why[600];
  rl__feeder *f =
      feeder_for(s, lua_tostring(L, -1), order, cycle, jsonl, why, sizeof why);
  if (!f)
    return luaL_error(L, "rl.csv: %s", why);
  lua_createtable(L, 0, 5);
  lua_pushlightuserdata(L, f);
  lua_setfield(L, -2, "_feeder");
  lua_newtable(L);
  lua_setfield(L, -2, "_rows");
  lua_pushnumber(L, (lua_Number)f->n_rows);
  lua_setfield(L, -2, "size");
  lua_createtable(L, (int)f->n_columns, 0);
  for (size_t c = 0; c < f->n_columns; c++) {
    lua_pushstring(L, f->columns[c]);
    lua_rawseti(L, -2, (int)c + 1);
  }
  lua_setfield(L, -2, "columns");
  lua_pushcfunction(L, l_next);
  lua_setfield(L, -2, "next");
  return 1;
}

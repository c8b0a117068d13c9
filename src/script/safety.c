/*
 * The watchdog and the memory cap of Lua states (safety.h says what and
 * why).
 */
#include "script/safety.h"

#include <ctype.h>
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <luajit.h>

#include "base/units.h"

/* The guard armed on this thread now: a state runs on one thread at a
 * time, and the hook has no other way to its guard that is as cheap. */
static _Thread_local rl__script_guard *tls_armed;

/* The registry key of a guarded state's guard (a light userdata). */
static const char guard_key = 0;

/* ---- the limits ------------------------------------------------------------ */

/* "64MiB", "512KiB", "1GiB", "10MB", "1048576" (bytes), "0". */
static int parse_size(const char *text, size_t *out) {
  char *end;
  if (!text || !isdigit((unsigned char)*text))
    return -1;
  double v = strtod(text, &end);
  static const struct {
    const char *unit;
    double mult;
  } units[] = {{"", 1},
               {"B", 1},
               {"KiB", 1024.},
               {"MiB", 1048576.},
               {"GiB", 1073741824.},
               {"KB", 1e3},
               {"kB", 1e3},
               {"MB", 1e6},
               {"GB", 1e9}};
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
    if (strcmp(end, units[i].unit) == 0) {
      double b = v * units[i].mult;
      if (!(b >= 0) || b > 1e15)
        return -1;
      *out = (size_t)b;
      return 0;
    }
  return -1;
}

int rl__script_limits_read(rl__script_limits *l, const char *memory,
                           const char *timeslice, char *why, size_t whylen) {
  l->memory = RL__SCRIPT_DEFAULT_MEMORY;
  l->timeslice_ns = RL__SCRIPT_DEFAULT_TIMESLICE_NS;
  if (memory && parse_size(memory, &l->memory)) {
    snprintf(why, whylen,
             "--lua-memory '%s': expected a size such as 64MiB, 512KiB, "
             "1GiB or a count of bytes (0: no cap)",
             memory);
    return -1;
  }
  if (memory && l->memory && l->memory < ((size_t)1 << 20)) {
    snprintf(why, whylen,
             "--lua-memory '%s': at least 1MiB (a state with the rl library "
             "loaded takes a few hundred KiB), or 0 for no cap",
             memory);
    return -1;
  }
  if (timeslice && rl__parse_duration(timeslice, &l->timeslice_ns)) {
    snprintf(why, whylen,
             "--lua-timeslice '%s': expected a duration such as 500ms, 2s "
             "or 0.5 (0: no watchdog)",
             timeslice);
    return -1;
  }
  return 0;
}

/* ---- the allocator -------------------------------------------------------- */

static void *guard_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  rl__script_guard *g = ud;
  size_t old = ptr ? osize : 0;
  if (nsize == 0) {
    free(ptr);
    g->used -= old;
    return NULL;
  }
  /* Refused only while the script's code runs (armed): the host's own
   * allocations between runs are outside any protected call, where a
   * refusal would be LuaJIT's panic. */
  if (nsize > old && g->depth > 0 && g->limits.memory &&
      g->used - old + nsize > g->limits.memory) {
    g->tripped = RL__GUARD_MEMORY;
    return NULL;
  }
  void *p = realloc(ptr, nsize);
  if (p)
    g->used = g->used - old + nsize;
  return p;
}

/* ---- the hook --------------------------------------------------------------- */

static uint64_t cpu_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* "FILE:LINE" of the innermost Lua function on L's stack, or "". An
 * allocation refused inside the VM's own instructions (a table growing)
 * leaves no current line: then the function's, said so. */
static void lua_where(lua_State *L, char *out, size_t len) {
  lua_Debug d;
  out[0] = 0;
  for (int level = 0; level < 64 && lua_getstack(L, level, &d); level++) {
    if (!lua_getinfo(L, "Sl", &d) || strcmp(d.what, "C") == 0)
      continue;
    if (d.currentline > 0)
      snprintf(out, len, "%s:%d", d.short_src, d.currentline);
    else
      snprintf(out, len, "%s:%d (in the function defined there)", d.short_src,
               d.linedefined);
    return;
  }
}

static size_t state_bytes(const rl__script_guard *g, lua_State *L) {
  if (g->custom)
    return g->used;
  return (size_t)lua_gc(L, LUA_GCCOUNT, 0) * 1024 +
         (size_t)lua_gc(L, LUA_GCCOUNTB, 0);
}

static void hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  rl__script_guard *g = tls_armed;
  if (!g || g->depth == 0)
    return;
  char where[300];
  if (g->limits.timeslice_ns && !g->start_ns) {
    g->start_ns = cpu_ns(); /* the run's first hook (safety.h) */
  } else if (g->limits.timeslice_ns) {
    uint64_t ran = cpu_ns() - g->start_ns;
    if (ran > g->limits.timeslice_ns) {
      g->tripped = RL__GUARD_TIME;
      lua_where(L, where, sizeof where);
      /* lua_pushfstring knows no precision: the text made here. */
      char text[512];
      snprintf(text, sizeof text,
               "%s: ran %.0f ms of CPU without yielding (an endless "
               "loop?): stopped by the watchdog (--lua-timeslice %gms)",
               where, (double)ran / 1e6, (double)g->limits.timeslice_ns / 1e6);
      lua_pushstring(L, text);
      lua_error(L);
    }
  }
  if (!g->custom && g->limits.memory && state_bytes(g, L) > g->limits.memory) {
    g->tripped = RL__GUARD_MEMORY;
    lua_where(L, where, sizeof where);
    luaL_error(L, "%s: not enough memory", where);
  }
}

/* ---- the guard ---------------------------------------------------------------- */

lua_State *rl__script_guard_open(rl__script_guard *g,
                                 const rl__script_limits *l) {
  memset(g, 0, sizeof *g);
  g->limits = *l;
  lua_State *L = lua_newstate(guard_alloc, g);
  g->custom = L != NULL;
  if (!L && !(L = luaL_newstate()))
    return NULL;
  lua_pushlightuserdata(L, (void *)&guard_key);
  lua_pushlightuserdata(L, g);
  lua_rawset(L, LUA_REGISTRYINDEX);
  if (l->timeslice_ns || (!g->custom && l->memory))
    lua_sethook(L, hook, LUA_MASKCOUNT, RL__SCRIPT_HOOK_COUNT);
  return L;
}

rl__script_guard *rl__script_guard_of(lua_State *L) {
  lua_pushlightuserdata(L, (void *)&guard_key);
  lua_rawget(L, LUA_REGISTRYINDEX);
  rl__script_guard *g = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return g;
}

void rl__script_guard_arm(rl__script_guard *g, lua_State *L) {
  if (!g)
    return;
  if (!g->jit_set) {
    /* Traces never call hooks: with a hook, the interpreter only. Here,
     * not at the state's making: opening the jit library turns it on. */
    g->jit_set = 1;
    if (lua_gethook(L))
      luaJIT_setmode(L, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
  }
  if (g->depth++ == 0) {
    /* Here, not at disarm: the run that left the garbage may still hold
     * it then (its dead coroutine is let go after). */
    if (g->limits.memory && state_bytes(g, L) > g->limits.memory / 4 * 3)
      lua_gc(L, LUA_GCCOLLECT, 0);
    g->tripped = RL__GUARD_OK;
    g->start_ns = 0; /* read at the first hook (safety.h) */
    g->outer = tls_armed;
    tls_armed = g;
  }
}

void rl__script_guard_disarm(rl__script_guard *g, lua_State *L) {
  if (!g || g->depth == 0 || --g->depth > 0)
    return;
  (void)L;
  tls_armed = g->outer;
  g->outer = NULL;
}

const char *rl__script_guard_error(rl__script_guard *g, lua_State *co, int rc,
                                   const char *msg, char *out, size_t len) {
  if (!msg)
    msg = "(an error that is not a string)";
  if (!g || g->tripped != RL__GUARD_MEMORY ||
      (rc != LUA_ERRMEM && !strstr(msg, "not enough memory"))) {
    snprintf(out, len, "%s", msg);
    return out;
  }
  char where[300] = "";
  if (co && rc == LUA_ERRMEM)
    lua_where(co, where, sizeof where);
  else if (rc != LUA_ERRMEM) {
    /* The hook's message starts with its own FILE:LINE. */
    const char *colon = strstr(msg, ": not enough memory");
    snprintf(where, sizeof where, "%.*s", colon ? (int)(colon - msg) : 0, msg);
  }
  snprintf(out, len,
           "%s%sout of memory: the Lua state reached its cap (--lua-memory "
           "%.1f MiB; the thread's users share it)",
           where, where[0] ? ": " : "", (double)g->limits.memory / 1048576.);
  return out;
}

/*
 * The rl library's data helpers (docs/lua.md): rl.uuid(), rl.random_int,
 * rl.random_string. Each thread draws from its own generator (base/rng.h,
 * splitmix64), seeded from the kernel the first time: no lock, no state
 * shared between threads' Lua states. Not for anything secret.
 */
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>

#include "base/rng.h"
#include "script/script.h"

static _Thread_local uint64_t tls_rng;
static _Thread_local int tls_seeded;

static uint64_t draw(void) {
  if (!tls_seeded) {
    if (getrandom(&tls_rng, sizeof tls_rng, 0) != (ssize_t)sizeof tls_rng) {
      /* No entropy to be had: the clock and the thread's address. */
      struct timespec t;
      clock_gettime(CLOCK_MONOTONIC, &t);
      tls_rng = (uint64_t)t.tv_nsec ^ ((uint64_t)t.tv_sec << 32) ^
                (uint64_t)(uintptr_t)&tls_rng;
    }
    tls_seeded = 1;
  }
  return rl__rng_next(&tls_rng);
}

uint64_t rl__script_random(void) { return draw(); }

/* rl.uuid(): a random (version 4) UUID, "xxxxxxxx-xxxx-4xxx-yxxx-...". */
static int l_uuid(lua_State *L) {
  uint64_t hi = draw(), lo = draw();
  hi = (hi & ~0xf000ull) | 0x4000ull;       /* version 4 */
  lo = (lo & ~(3ull << 62)) | (2ull << 62); /* variant 10 */
  char text[37];
  snprintf(text, sizeof text, "%08llx-%04llx-%04llx-%04llx-%012llx",
           (unsigned long long)(hi >> 32),
           (unsigned long long)((hi >> 16) & 0xffff),
           (unsigned long long)(hi & 0xffff), (unsigned long long)(lo >> 48),
           (unsigned long long)(lo & 0xffffffffffffull));
  lua_pushstring(L, text);
  return 1;
}

/* rl.random_int(a, b): a whole number in [a, b], both included. */
static int l_random_int(lua_State *L) {
  double a = luaL_checknumber(L, 1), b = luaL_checknumber(L, 2);
  if (a != floor(a) || b != floor(b) || a > b || b - a >= 9007199254740992.0)
    return luaL_error(L,
                      "rl.random_int(%f, %f): two whole numbers, the first "
                      "not above the second",
                      a, b);
  uint64_t span = (uint64_t)(b - a) + 1;
  lua_pushnumber(L, a + (double)(draw() % span));
  return 1;
}

/* rl.random_string(n): n letters and digits. */
static int l_random_string(lua_State *L) {
  static const char abc[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  double n = luaL_checknumber(L, 1);
  if (n != floor(n) || n < 0 || n > 16 * 1048576.)
    return luaL_error(L, "rl.random_string(%f): a length from 0 to 16 MiB", n);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (size_t i = 0; i < (size_t)n; i++)
    luaL_addchar(&b, abc[draw() % (sizeof abc - 1)]);
  luaL_pushresult(&b);
  return 1;
}

void rl__script_open_helpers(lua_State *L, int rl_table) {
  static const luaL_Reg fns[] = {{"uuid", l_uuid},
                                 {"random_int", l_random_int},
                                 {"random_string", l_random_string}};
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    lua_pushcfunction(L, fns[i].func);
    lua_setfield(L, rl_table, fns[i].name);
  }
}

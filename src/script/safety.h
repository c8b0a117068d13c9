/*
 * Safety of Lua users (issue #23; docs/lua.md "Safety"): a per-state
 * watchdog for code that never yields, and a memory cap per state.
 *
 * A guard belongs to one Lua state, made by rl__script_guard_open; it is
 * armed while Lua code of the script runs (the top level at load, a
 * phase's coroutine between two yields) and disarmed between, so the
 * host's own pushes (a response table, a user's table) never fail: only
 * the script's code is stopped, with a Lua error, never the process.
 *
 * - Watchdog (--lua-timeslice, default 500ms, 0: none): a count hook every
 *   RL__SCRIPT_HOOK_COUNT instructions reads the thread's CPU clock and
 *   raises "FILE:LINE: ran N ms of CPU without yielding ..." once a run
 *   has had its timeslice, counted from the run's first hook, not from
 *   the arm: reading that clock is a system call (~200 ns here), and most
 *   runs (a task up to its request) yield before any hook, so a Lua
 *   request no longer pays two of them; a run is then stopped up to
 *   RL__SCRIPT_HOOK_COUNT instructions later than its timeslice (and C
 *   calls before its first hook, a string.rep, go uncounted), against
 *   500 ms. LuaJIT never calls hooks from compiled traces,
 *   so a guarded state runs its code in LuaJIT's interpreter (the JIT
 *   engine off); --lua-timeslice 0 gives the JIT back and no watchdog.
 * - Memory (--lua-memory SIZE, default 1GiB, 0: none): the state's
 *   allocator counts its bytes (Debian's LuaJIT 2.1 on x86-64 accepts a
 *   custom allocator in lua_newstate) and refuses an allocation past the
 *   cap while armed: LuaJIT raises "not enough memory", which the guard
 *   words with the cap and the Lua line. Where lua_newstate refuses a
 *   custom allocator (a 64-bit LuaJIT without GC64), the state is made
 *   with luaL_newstate and the hook (or each arm) checks
 *   collectgarbage("count") instead.
 *
 * May call: LuaJIT, base/ (units). Entered by runtime.c and lib.c/
 * script.c (the loads).
 */
#ifndef RL_SCRIPT_SAFETY_H
#define RL_SCRIPT_SAFETY_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

/* What the command line asked (rl__api_options' lua_memory and
 * lua_timeslice), read once by rl_env_add_script. */
typedef struct rl__script_limits {
  size_t memory;         /* bytes per state; 0: no cap */
  uint64_t timeslice_ns; /* CPU per run; 0: no watchdog */
} rl__script_limits;

#define RL__SCRIPT_DEFAULT_MEMORY ((size_t)1 << 30)
#define RL__SCRIPT_DEFAULT_TIMESLICE_NS 500000000ull
#define RL__SCRIPT_HOOK_COUNT 10000

/* Reads the limits from their texts (NULL: the default): 0, or -1 with
 * "--lua-memory 'x': ..." in why. */
int rl__script_limits_read(rl__script_limits *l, const char *memory,
                           const char *timeslice, char *why, size_t whylen);

enum { RL__GUARD_OK = 0, RL__GUARD_TIME, RL__GUARD_MEMORY };

typedef struct rl__script_guard {
  rl__script_limits limits;
  size_t used;       /* bytes the state holds (custom allocator only) */
  int custom;        /* 1: our allocator counts; 0: collectgarbage count */
  int depth;         /* arms not yet disarmed */
  uint64_t start_ns; /* CPU clock at the run's first hook; 0: none yet */
  int tripped;       /* RL__GUARD_*: what stopped the last armed run */
  int jit_set;       /* the JIT engine was turned off for the hook */
  struct rl__script_guard *outer; /* the thread's guard armed before */
} rl__script_guard;

/* A new Lua state guarded by g (which must outlive it; its address is
 * kept by the state), or NULL when out of memory. The caller closes it
 * with lua_close. */
lua_State *rl__script_guard_open(rl__script_guard *g,
                                 const rl__script_limits *l);

/* The guard of a state made by rl__script_guard_open, or NULL. */
rl__script_guard *rl__script_guard_of(lua_State *L);

/* Around each run of the script's code on this thread (nestable): arm
 * starts the timeslice and the cap (the first arm turns LuaJIT's JIT off
 * when the state has a hook, after its libraries are open), and first
 * collects L's garbage when it holds more than 3/4 of the cap (LuaJIT
 * collects at twice its last live size, which could be past the cap);
 * disarm ends them. */
void rl__script_guard_arm(rl__script_guard *g, lua_State *L);
void rl__script_guard_disarm(rl__script_guard *g, lua_State *L);

/* The text of an error out of an armed run (rc: lua_pcall's or
 * lua_resume's; msg: the error value's text, or NULL): msg, or for an
 * allocation the cap refused, "FILE:LINE: out of memory: ..." naming the
 * cap, the line taken from co's stack (co: the coroutine that failed, or
 * NULL). Returns out. */
const char *rl__script_guard_error(rl__script_guard *g, lua_State *co, int rc,
                                   const char *msg, char *out, size_t len);

#endif /* RL_SCRIPT_SAFETY_H */

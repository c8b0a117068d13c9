/*
 * Client lag: the time a worker thread's loop could not act when it
 * should have, so that whatever happened meanwhile (an answer arriving, a
 * task falling due) waited for the client, not for the server. k6 reports
 * dropped iterations for the same reason: a response time measured then
 * holds the client's own delay, and saying so beats charging it silently
 * to the server.
 *
 * A meter on a loop sees two kinds of stall, each counted once it lasts
 * RL__LAG_MIN_NS or more:
 *   - a long turn: from when the loop's poll returned to when the loop is
 *     about to poll again, every callback of that round ran (a blocking
 *     plugin, too many users on one thread, a machine out of CPU);
 *   - an oversleep: the poll returned later than it had to. A heartbeat
 *     timer bounds how long it may sleep, so a thread that was not run
 *     (stopped, starved of CPU, a paused VM) shows as the time past it.
 * Two clock reads per loop turn, nothing per request; the counters are
 * written by the loop's thread only and read by any (relaxed atomics).
 */
#ifndef RL_ENGINE_LAG_H
#define RL_ENGINE_LAG_H

#include <stdatomic.h>
#include <stdint.h>

#include <ev.h>

/* A stall shorter than this is the loop's ordinary business. */
#define RL__LAG_MIN_NS (10 * 1000000ull)

/* What a meter (or a run, summed over its threads) saw. */
typedef struct rl__lag {
  uint64_t stalls;   /* stalls of RL__LAG_MIN_NS or more */
  uint64_t total_ns; /* their time, added up */
  uint64_t max_ns;   /* the longest */
} rl__lag;

typedef struct rl__lag_meter {
  struct ev_loop *ev;
  ev_check check;     /* the poll returned: a turn starts */
  ev_prepare prepare; /* the turn's callbacks are done: it ends */
  ev_timer beat;      /* bounds a poll's sleep */
  uint64_t turn_start_ns, poll_from_ns, beat_due_ns;
  _Atomic uint64_t stalls, total_ns, max_ns;
} rl__lag_meter;

/* Starts measuring `ev` (the caller's loop, on its thread). The meter
 * lives in caller-owned memory until rl__lag_meter_stop. */
void rl__lag_meter_start(rl__lag_meter *m, struct ev_loop *ev);

/* Stops its watchers (the loop's thread); the counts stay readable. */
void rl__lag_meter_stop(rl__lag_meter *m);

/* Any thread: what the meter has seen so far. */
void rl__lag_meter_read(const rl__lag_meter *m, rl__lag *out);

/* Adds `b` to `a` (a run's threads summed). */
void rl__lag_add(rl__lag *a, const rl__lag *b);

#endif /* RL_ENGINE_LAG_H */

/* Clocks: one monotonic nanosecond clock for every response time. */
#ifndef RL_CLOCK_H
#define RL_CLOCK_H

#include <stdint.h>

#define RL__NS_PER_SEC 1000000000ull
#define RL__NS_PER_MS 1000000ull

/* Monotonic time in nanoseconds (CLOCK_MONOTONIC, so NTP steps never
 * bend a response time). */
uint64_t rl__now_ns(void);

/* Wall-clock Unix time in seconds, for timestamps shown to people. */
uint64_t rl__unix_time(void);

#endif /* RL_CLOCK_H */

#include "base/clock.h"

#include <time.h>

uint64_t rl__now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * RL__NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

uint64_t rl__unix_time(void) { return (uint64_t)time(NULL); }

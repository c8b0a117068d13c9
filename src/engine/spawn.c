#include "engine/spawn.h"

#include <math.h>

uint32_t rl__spawn_due(uint32_t users, double spawn_rate, double elapsed_s) {
  if (elapsed_s < 0)
    elapsed_s = 0;
  /* The epsilon keeps 0.1 s * 10/s from landing on 0.9999... users. */
  double due = 1.0 + floor(spawn_rate * elapsed_s + 1e-9);
  return due >= users ? users : (uint32_t)due;
}

uint32_t rl__spawn_share(uint32_t due, uint32_t k, uint32_t n) {
  return due > k ? (due - k + n - 1) / n : 0;
}

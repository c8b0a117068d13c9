/* A small fast PRNG (splitmix64) for wait times and task choices: 8 bytes
 * of state, so every user can own one and no thread shares it. Not for
 * anything secret. */
#ifndef RL_RNG_H
#define RL_RNG_H

#include <stdint.h>

static inline uint64_t rl__rng_next(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static inline double rl__rng_double(uint64_t *state) {
  return (double)(rl__rng_next(state) >> 11) * (1.0 / 9007199254740992.0);
}

#endif /* RL_RNG_H */

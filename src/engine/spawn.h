/*
 * The spawn schedule (Locust's): the first user at once, then one every
 * 1/spawn_rate seconds up to the user count; users dealt to worker threads
 * round-robin, so thread k of n holds users k, k+n, k+2n...
 */
#ifndef RL_SPAWN_H
#define RL_SPAWN_H

#include <stdint.h>

/* Users that should exist `elapsed_s` seconds into the run. */
uint32_t rl__spawn_due(uint32_t users, double spawn_rate, double elapsed_s);

/* Of `due` users dealt round-robin over `n` threads, how many thread `k`
 * (0-based) holds. */
uint32_t rl__spawn_share(uint32_t due, uint32_t k, uint32_t n);

#endif /* RL_SPAWN_H */

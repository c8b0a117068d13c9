/*
 * A user's state slots (ABI 1.5 host->request_user_slot): what plugins
 * keep per simulated user (the HTTP plugins' cookie jar), by key, in a
 * short list the user owns. Slots are made on first use and live as long
 * as the user; the states in them are the plugins', handed back to their
 * `del` when the user stops and when it is freed. One worker thread owns
 * a user's slots; nothing here locks.
 */
#ifndef RL_ENGINE_USER_STATE_H
#define RL_ENGINE_USER_STATE_H

#include <rpcload/plugin.h>

typedef struct rl__user_slot {
  rl_user_slot pub; /* first: what plugins see */
  struct rl__user_slot *next;
  char key[]; /* NUL-terminated */
} rl__user_slot;

/* The slot named `key` in *list, appended when missing (owned by the
 * list). NULL when out of memory. */
rl_user_slot *rl__user_slot_get(rl__user_slot **list, const char *key);

/* Hands every state in `list` to its del (the user stopped); the slots
 * stay, empty, for a plugin that still asks. */
void rl__user_slots_release(rl__user_slot *list);

/* Releases, then frees every slot; *list is then empty. */
void rl__user_slots_free(rl__user_slot **list);

#endif /* RL_ENGINE_USER_STATE_H */

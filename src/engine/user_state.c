#include "engine/user_state.h"

#include <stdlib.h>
#include <string.h>

rl_user_slot *rl__user_slot_get(rl__user_slot **list, const char *key) {
  rl__user_slot **at = list;
  for (; *at != NULL; at = &(*at)->next)
    if (strcmp((*at)->key, key) == 0)
      return &(*at)->pub;
  size_t n = strlen(key) + 1;
  rl__user_slot *s = calloc(1, sizeof *s + n);
  if (s == NULL)
    return NULL;
  memcpy(s->key, key, n);
  *at = s;
  return &s->pub;
}

void rl__user_slots_release(rl__user_slot *list) {
  for (; list != NULL; list = list->next) {
    rl_user_slot *p = &list->pub;
    void *state = p->state;
    void (*del)(void *) = p->del;
    /* Emptied first: a del that asks for the slot finds it empty. */
    p->state = NULL;
    p->del = NULL;
    if (state != NULL && del != NULL)
      del(state);
  }
}

void rl__user_slots_free(rl__user_slot **list) {
  rl__user_slots_release(*list);
  while (*list != NULL) {
    rl__user_slot *next = (*list)->next;
    free(*list);
    *list = next;
  }
}

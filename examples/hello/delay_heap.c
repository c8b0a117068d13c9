/*
 * The bounded timer heap of delay_heap.h: a binary min-heap on due_ns where
 * every item knows its index, so that a call the client cancelled leaves
 * the heap at once (O(log n)) instead of holding its slot until it is due.
 */
#include "delay_heap.h"

#include <stdlib.h>

int hs_delay_heap_init(hs_delay_heap *h, size_t cap) {
  h->len = 0;
  h->cap = cap;
  h->items = calloc(cap ? cap : 1, sizeof(hs_delay_item *));
  return h->items ? 0 : -1;
}

void hs_delay_heap_free(hs_delay_heap *h) {
  free(h->items);
  h->items = NULL;
  h->len = h->cap = 0;
}

static void place(hs_delay_heap *h, size_t i, hs_delay_item *it) {
  h->items[i] = it;
  it->idx = i;
}

/* Moves the item at i up while it is due before its parent. */
static void sift_up(hs_delay_heap *h, size_t i) {
  hs_delay_item *it = h->items[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (h->items[parent]->due_ns <= it->due_ns)
      break;
    place(h, i, h->items[parent]);
    i = parent;
  }
  place(h, i, it);
}

/* Moves the item at i down while a child is due before it. */
static void sift_down(hs_delay_heap *h, size_t i) {
  hs_delay_item *it = h->items[i];
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= h->len)
      break;
    if (child + 1 < h->len &&
        h->items[child + 1]->due_ns < h->items[child]->due_ns)
      child++;
    if (it->due_ns <= h->items[child]->due_ns)
      break;
    place(h, i, h->items[child]);
    i = child;
  }
  place(h, i, it);
}

int hs_delay_heap_push(hs_delay_heap *h, hs_delay_item *it) {
  if (h->len >= h->cap)
    return -1;
  place(h, h->len, it);
  h->len++;
  sift_up(h, h->len - 1);
  return 0;
}

hs_delay_item *hs_delay_heap_top(const hs_delay_heap *h) {
  return h->len ? h->items[0] : NULL;
}

void hs_delay_heap_remove(hs_delay_heap *h, hs_delay_item *it) {
  size_t i = it->idx;
  hs_delay_item *last = h->items[h->len - 1];
  h->len--;
  it->idx = HS_DELAY_NONE;
  if (i == h->len)
    return; /* it was the last one: nothing to refill */
  /* The last item fills the hole, then goes up or down to its place. */
  place(h, i, last);
  if (i > 0 && h->items[(i - 1) / 2]->due_ns > last->due_ns)
    sift_up(h, i);
  else
    sift_down(h, i);
}

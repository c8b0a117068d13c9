/*
 * A bounded min-heap of timers, ordered by due time: the delayed answers
 * (x-delay-ms) and the stream intervals (SayHelloStream's interval_ms) of
 * one worker thread.
 *
 * Why a heap of our own: grpc C core has no alarm in its public C API
 * (grpc::Alarm is C++ over internals), and sleeping in a worker would stall
 * every other call on its queue. So a worker keeps its timers here and
 * passes the earliest due time as the deadline of
 * grpc_completion_queue_next(): the queue wakes it when a call event or the
 * first timer is due, whichever comes first.
 *
 * Items are embedded in their owners (a call); the heap stores
 * pointers and owns nothing. Not thread-safe: one heap per worker.
 */
#ifndef HS_DELAY_HEAP_H
#define HS_DELAY_HEAP_H

#include <stddef.h>
#include <stdint.h>

/* idx of an item that is in no heap */
#define HS_DELAY_NONE ((size_t)-1)

typedef struct hs_delay_item {
  int64_t due_ns; /* on hs_now_ns()'s clock */
  size_t idx;     /* position in the heap, HS_DELAY_NONE when out */
  /* What is due: called once the item has left the heap (a delayed
   * answer goes out, a stream's next message). */
  void (*fire)(struct hs_delay_item *it);
} hs_delay_item;

typedef struct hs_delay_heap {
  hs_delay_item **items; /* owned array of borrowed pointers */
  size_t len;
  size_t cap; /* the bound: push fails beyond it */
} hs_delay_heap;

/* Initialises an empty heap that holds at most cap items (the array is
 * allocated up front so that a push never allocates). Returns 0 or -1
 * (out of memory). */
int hs_delay_heap_init(hs_delay_heap *h, size_t cap);

/* Frees the array (not the items, which the heap never owned). */
void hs_delay_heap_free(hs_delay_heap *h);

/* Adds it (not in any heap). Returns 0, or -1 when the heap is full. */
int hs_delay_heap_push(hs_delay_heap *h, hs_delay_item *it);

/* The earliest item, or NULL when empty. It stays in the heap. */
hs_delay_item *hs_delay_heap_top(const hs_delay_heap *h);

/* Takes it out of the heap (it must be in h); it.idx becomes HS_DELAY_NONE. */
void hs_delay_heap_remove(hs_delay_heap *h, hs_delay_item *it);

#endif

/*
 * Log-linear latency histogram; the layout is described in histogram.h.
 *
 * Bucket arithmetic: for a value v >= 2048 whose highest set bit is b, the
 * chunk is c = b - 10 and the bucket width 2^c, so v >> c lies in
 * [1024, 2048) and its low ten bits pick the bucket. Values below 2048 fit
 * the same formula with c = 0 once v is ORed with 2047 before counting
 * leading zeros, which is why chunk 0 has 2048 one-nanosecond buckets and
 * the record path needs no branch to tell the two cases apart.
 *
 * The top bucket (the last one of the last chunk) also holds every clamped
 * value, so its range reaches UINT64_MAX: bucket_range() and foreach() say
 * so, and a percentile that lands there reports the recorded max.
 */
#include "stats/histogram.h"

#include <stdlib.h>
#include <string.h>

#include <rpcload/plugin.h>

#define SUB_COUNT ((uint64_t)1 << RL__HIST_SUB_BITS)
#define CHUNK0_COUNT (2 * SUB_COUNT)
/* First value that no longer fits a regular bucket. */
#define LIMIT ((uint64_t)1 << RL__HIST_MAX_BITS)

static size_t chunk_len(unsigned c) {
  return c == 0 ? CHUNK0_COUNT : SUB_COUNT;
}

static unsigned chunk_of(uint64_t v) {
  return (unsigned)(63 - RL__HIST_SUB_BITS -
                    __builtin_clzll(v | (CHUNK0_COUNT - 1)));
}

static size_t index_in_chunk(uint64_t v, unsigned c) {
  return (size_t)((v >> c) - ((uint64_t)(c != 0) << RL__HIST_SUB_BITS));
}

static uint64_t bucket_lo(unsigned c, size_t i) {
  return c == 0 ? (uint64_t)i : (SUB_COUNT + i) << c;
}

static uint64_t bucket_hi(unsigned c, size_t i) {
  if (c == RL__HIST_CHUNKS - 1 && i == SUB_COUNT - 1)
    return UINT64_MAX;
  return bucket_lo(c, i) + ((uint64_t)1 << c) - 1;
}

void rl__histogram_init(rl__histogram *h) {
  memset(h, 0, sizeof(*h));
  h->min = UINT64_MAX;
}

void rl__histogram_free(rl__histogram *h) {
  for (unsigned c = 0; c < RL__HIST_CHUNKS; c++) {
    free(h->chunk[c]);
    h->chunk[c] = NULL;
  }
  h->count = 0;
  h->min = UINT64_MAX;
  h->max = 0;
}

void rl__histogram_reset(rl__histogram *h) {
  for (unsigned c = 0; c < RL__HIST_CHUNKS; c++)
    if (h->chunk[c] != NULL)
      memset(h->chunk[c], 0, chunk_len(c) * sizeof(uint64_t));
  h->count = 0;
  h->min = UINT64_MAX;
  h->max = 0;
}

/* Out of line and cold: it runs a few dozen times per histogram's life,
 * and keeping it apart keeps the record path a handful of instructions. */
__attribute__((noinline, cold)) static uint64_t *chunk_alloc(rl__histogram *h,
                                                             unsigned c) {
  h->chunk[c] = calloc(chunk_len(c), sizeof(uint64_t));
  return h->chunk[c];
}

int rl__histogram_record(rl__histogram *h, uint64_t value_ns) {
  uint64_t v = value_ns < LIMIT ? value_ns : LIMIT - 1;
  unsigned c = chunk_of(v);
  uint64_t *counts = h->chunk[c];

  if (__builtin_expect(counts == NULL, 0)) {
    counts = chunk_alloc(h, c);
    if (counts == NULL)
      return RL_ERR_NOMEM;
  }
  counts[index_in_chunk(v, c)]++;
  h->count++;
  /* min/max keep the unclamped value so that p100 is exact even above the
   * range. */
  if (value_ns < h->min)
    h->min = value_ns;
  if (value_ns > h->max)
    h->max = value_ns;
  return 0;
}

int rl__histogram_record_n(rl__histogram *h, uint64_t value_ns, uint64_t n) {
  if (n == 0)
    return 0;
  uint64_t v = value_ns < LIMIT ? value_ns : LIMIT - 1;
  unsigned c = chunk_of(v);
  uint64_t *counts = h->chunk[c];
  if (counts == NULL) {
    counts = chunk_alloc(h, c);
    if (counts == NULL)
      return RL_ERR_NOMEM;
  }
  counts[index_in_chunk(v, c)] += n;
  h->count += n;
  if (value_ns < h->min)
    h->min = value_ns;
  if (value_ns > h->max)
    h->max = value_ns;
  return 0;
}

int rl__histogram_merge(rl__histogram *dst, const rl__histogram *src) {
  /* Allocate first so that a failure leaves dst as it was, not half
   * merged. */
  for (unsigned c = 0; c < RL__HIST_CHUNKS; c++)
    if (src->chunk[c] != NULL && dst->chunk[c] == NULL &&
        chunk_alloc(dst, c) == NULL)
      return RL_ERR_NOMEM;

  for (unsigned c = 0; c < RL__HIST_CHUNKS; c++) {
    const uint64_t *from = src->chunk[c];
    uint64_t *to = dst->chunk[c];
    if (from == NULL)
      continue;
    for (size_t i = 0, n = chunk_len(c); i < n; i++)
      to[i] += from[i];
  }
  dst->count += src->count;
  if (src->min < dst->min)
    dst->min = src->min;
  if (src->max > dst->max)
    dst->max = src->max;
  return 0;
}

static uint64_t clamp(uint64_t v, uint64_t lo, uint64_t hi) {
  return v < lo ? lo : v > hi ? hi : v;
}

uint64_t rl__histogram_percentile(const rl__histogram *h, double percent) {
  if (h->count == 0)
    return 0;
  if (!(percent > 0.0)) /* also catches NaN */
    return h->min;
  if (percent >= 100.0)
    return h->max;

  /* Multiplying before dividing keeps rank exact for the usual inputs
   * (99.9 * 1000 / 100 is 999; 99.9 / 100 * 1000 is 999.0000000000001). */
  double want = percent * (double)h->count / 100.0;
  uint64_t rank = (uint64_t)want;
  if ((double)rank < want)
    rank++;
  if (rank == 0)
    rank = 1;
  if (rank > h->count)
    rank = h->count;

  uint64_t seen = 0;
  for (unsigned c = 0; c < RL__HIST_CHUNKS; c++) {
    const uint64_t *counts = h->chunk[c];
    if (counts == NULL)
      continue;
    for (size_t i = 0, n = chunk_len(c); i < n; i++) {
      seen += counts[i];
      if (seen >= rank)
        return clamp(bucket_hi(c, i), h->min, h->max);
    }
  }
  return h->max; /* unreachable while count matches the counters */
}

void rl__histogram_bucket_range(uint64_t value_ns, uint64_t *lo, uint64_t *hi) {
  uint64_t v = value_ns < LIMIT ? value_ns : LIMIT - 1;
  unsigned c = chunk_of(v);
  size_t i = index_in_chunk(v, c);
  *lo = bucket_lo(c, i);
  *hi = bucket_hi(c, i);
}

int rl__histogram_foreach(const rl__histogram *h,
                          int (*cb)(uint64_t lo, uint64_t hi, uint64_t count,
                                    void *arg),
                          void *arg) {
  for (unsigned c = 0; c < RL__HIST_CHUNKS; c++) {
    const uint64_t *counts = h->chunk[c];
    if (counts == NULL)
      continue;
    for (size_t i = 0, n = chunk_len(c); i < n; i++) {
      if (counts[i] == 0)
        continue;
      int rc = cb(bucket_lo(c, i), bucket_hi(c, i), counts[i], arg);
      if (rc != 0)
        return rc;
    }
  }
  return 0;
}

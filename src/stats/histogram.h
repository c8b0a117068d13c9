/*
 * Log-linear latency histogram (the HDR histogram layout, written for
 * rpcload): values are nanoseconds, kept to 3 significant digits (every
 * recorded value lands in a bucket whose width is at most 1/1024 of its
 * lower bound), from 0 ns to 2^43 ns (about 2.4 hours; larger values are
 * clamped to the top bucket and still counted).
 *
 * Layout: values below 2048 ns have one bucket per nanosecond; above that,
 * each power-of-two range [2^k, 2^(k+1)) is split into 1024 equal buckets.
 * Each range's counters (a "chunk") are allocated on first use, so a
 * histogram of loopback latencies costs a few chunks of 8 KiB, not the whole
 * range.
 *
 * Merging adds counters bucket by bucket, so merge(a, b) is exactly the
 * histogram of the union of a's and b's values: per-thread histograms merged
 * off the hot path give the same percentiles as one shared histogram.
 *
 * Not thread-safe: one owner at a time.
 */
#ifndef RL_HISTOGRAM_H
#define RL_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>

#define RL__HIST_SUB_BITS 10 /* 1024 buckets per power of two */
#define RL__HIST_MAX_BITS 43 /* values up to 2^43 ns */
/* chunk 0 holds [0, 2048); chunk c >= 1 holds [2^(c+10), 2^(c+11)) */
#define RL__HIST_CHUNKS (RL__HIST_MAX_BITS - RL__HIST_SUB_BITS)

typedef struct rl__histogram {
  uint64_t count; /* values recorded */
  uint64_t min;   /* smallest value recorded (UINT64_MAX when empty) */
  uint64_t max;   /* largest value recorded (0 when empty) */
  uint64_t *chunk[RL__HIST_CHUNKS]; /* lazily allocated counters */
} rl__histogram;

/* Initialises an empty histogram in caller-owned memory; allocates nothing. */
void rl__histogram_init(rl__histogram *h);

/* Frees the chunks; `h` itself stays the caller's. Safe on an empty one. */
void rl__histogram_free(rl__histogram *h);

/* Zeroes every counter and min/max, keeping chunks for reuse. */
void rl__histogram_reset(rl__histogram *h);

/*
 * Records one value. Returns 0, or RL_ERR_NOMEM when a chunk could not be
 * allocated (the value is then not recorded).
 */
int rl__histogram_record(rl__histogram *h, uint64_t value_ns);

/*
 * Records `n` values equal to `value_ns` at once (a histogram read back
 * bucket by bucket: cluster/msg.c). 0, or RL_ERR_NOMEM (nothing recorded).
 */
int rl__histogram_record_n(rl__histogram *h, uint64_t value_ns, uint64_t n);

/* Adds every count of `src` into `dst`. Returns 0 or RL_ERR_NOMEM. */
int rl__histogram_merge(rl__histogram *dst, const rl__histogram *src);

/*
 * The value below or at which `percent` (0..100) of the recorded values lie:
 * the upper edge of the bucket holding the ceil(percent/100 * count)-th
 * smallest value, clamped to [min, max] (so never above the largest value
 * recorded). 0 for an empty histogram.
 */
uint64_t rl__histogram_percentile(const rl__histogram *h, double percent);

/* Lowest and highest value that share the bucket of `value_ns`. */
void rl__histogram_bucket_range(uint64_t value_ns, uint64_t *lo, uint64_t *hi);

/*
 * Visits the non-empty buckets in increasing order: cb(lo, hi, count, arg)
 * with the bucket's inclusive value range. Stops early when cb returns
 * non-zero and returns that value; 0 otherwise.
 */
int rl__histogram_foreach(const rl__histogram *h,
                          int (*cb)(uint64_t lo, uint64_t hi, uint64_t count,
                                    void *arg),
                          void *arg);

#endif /* RL_HISTOGRAM_H */

/*
 * Unit tests for the log-linear histogram (src/histogram.c).
 *
 * Percentiles are checked against an exact sort of the same data, with the
 * rank computed in integers here so that the test does not share the
 * implementation's floating-point arithmetic.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rpcload/plugin.h>

#include "stats/histogram.h"

#define LIMIT ((uint64_t)1 << RL__HIST_MAX_BITS)
/* The top bucket, which also takes every clamped value. */
#define TOP_LO (LIMIT - ((uint64_t)1 << (RL__HIST_CHUNKS - 1)))
#define NBUCKETS (2048 + (RL__HIST_CHUNKS - 1) * 1024)

/* ---- allocation faults -----------------------------------------------------
 * The core calls the C allocator directly, so the test program replaces
 * malloc/calloc/realloc/free (glibc supports this) and can make one chosen
 * allocation fail. AddressSanitizer owns the allocator in its builds, so the
 * fault tests are skipped there, and under a valgrind that intercepts it. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RL_TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define RL_TEST_ASAN 1
#endif
#if defined(__GLIBC__) && !defined(RL_TEST_ASAN)
#define RL_TEST_FAULTS 1
/* glibc's own allocator under its exported internal names. */
/* NOLINTBEGIN(bugprone-reserved-identifier) */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void __libc_free(void *p);
/* NOLINTEND(bugprone-reserved-identifier) */

static long fault_countdown = -1; /* allocations left before the failure */
static bool fault_hit;

static bool fault_now(void) {
  if (fault_countdown < 0)
    return false;
  if (fault_countdown-- > 0)
    return false;
  fault_hit = true;
  return true;
}

void *malloc(size_t size) { return fault_now() ? NULL : __libc_malloc(size); }
void *calloc(size_t n, size_t size) {
  return fault_now() ? NULL : __libc_calloc(n, size);
}
void *realloc(void *p, size_t size) {
  return fault_now() ? NULL : __libc_realloc(p, size);
}
void free(void *p) { __libc_free(p); }

/* Makes the nth allocation from now (0 = the next one) fail. */
static void fault_arm(long nth) {
  fault_hit = false;
  fault_countdown = nth;
}

/* Disarms; true if the armed failure happened. */
static bool fault_disarm(void) {
  fault_countdown = -1;
  return fault_hit;
}

/* Valgrind replaces the allocator of the program too, unless run with
 * --soname-synonyms=somalloc=nouserintercepts; then nothing can fail. */
static bool faults_work(void) {
  void *(*volatile alloc)(size_t) = malloc;
  fault_arm(0);
  void *p = alloc(16);
  bool hit = fault_disarm();
  free(p);
  return hit && p == NULL;
}
#endif

/* ---- helpers ------------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rng_next(void) { /* splitmix64 */
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

static double rng_unit(void) { /* [0, 1) */
  return (double)(rng_next() >> 11) / 9007199254740992.0;
}

static uint64_t uniform(uint64_t lo, uint64_t hi) { /* [lo, hi] */
  return lo + rng_next() % (hi - lo + 1);
}

static uint64_t log_uniform(double lo, double hi) {
  return (uint64_t)exp(log(lo) + rng_unit() * (log(hi) - log(lo)));
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Percentiles in thousandths of a percent, so ranks are exact integers. */
static const uint64_t percent_milli[] = {
    0,     1,     100,   1000,  10000, 25000, 50000, 66000, 75000,
    80000, 90000, 95000, 98000, 99000, 99900, 99990, 99999, 100000};

/* The value the percentile should approximate: the rank-th smallest with
 * rank = ceil(p/100 * n), at least 1. */
static uint64_t exact_percentile(const uint64_t *sorted, size_t n,
                                 uint64_t milli) {
  uint64_t rank = (milli * n + 100000 - 1) / 100000;
  if (rank == 0)
    rank = 1;
  return sorted[rank - 1];
}

static void record_all(rl__histogram *h, const uint64_t *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    assert_int_equal(rl__histogram_record(h, v[i]), 0);
}

/* Checks every listed percentile of `h` (which holds exactly v[0..n)): never
 * below the exact value, never above max, within 1/1024 of it, and exact for
 * p0, p100 and values below 2048. Values in the top bucket (clamped or not)
 * only promise the bounds. */
static void check_percentiles(const rl__histogram *h, uint64_t *v, size_t n) {
  qsort(v, n, sizeof(*v), cmp_u64);
  assert_int_equal(h->count, n);
  assert_int_equal(h->min, v[0]);
  assert_int_equal(h->max, v[n - 1]);
  for (size_t i = 0; i < sizeof(percent_milli) / sizeof(*percent_milli); i++) {
    uint64_t want = exact_percentile(v, n, percent_milli[i]);
    uint64_t got =
        rl__histogram_percentile(h, (double)percent_milli[i] / 1000.0);
    assert_true(got >= want);
    assert_true(got <= h->max);
    if (percent_milli[i] == 0)
      assert_int_equal(got, v[0]);
    if (percent_milli[i] == 100000)
      assert_int_equal(got, v[n - 1]);
    if (want < 2048)
      assert_int_equal(got, want);
    else if (want < TOP_LO)
      assert_true((got - want) * 1024 <= want);
    else
      assert_int_equal(got, h->max);
  }
}

typedef struct bucket {
  uint64_t lo, hi, count;
} bucket;

typedef struct bucket_list {
  bucket *b;
  size_t n;
} bucket_list;

static int collect(uint64_t lo, uint64_t hi, uint64_t count, void *arg) {
  bucket_list *l = arg;
  l->b[l->n++] = (bucket){lo, hi, count};
  return 0;
}

static bucket_list buckets_of(const rl__histogram *h) {
  bucket_list l = {calloc(NBUCKETS, sizeof(bucket)), 0};
  assert_non_null(l.b);
  assert_int_equal(rl__histogram_foreach(h, collect, &l), 0);
  return l;
}

/* ---- tests --------------------------------------------------------------- */

static void test_empty(void **state) {
  (void)state;
  rl__histogram h;
  rl__histogram_init(&h);
  assert_int_equal(h.count, 0);
  assert_int_equal(h.min, UINT64_MAX);
  assert_int_equal(h.max, 0);
  for (unsigned c = 0; c < RL__HIST_CHUNKS; c++)
    assert_null(h.chunk[c]);
  assert_int_equal(rl__histogram_percentile(&h, 0), 0);
  assert_int_equal(rl__histogram_percentile(&h, 50), 0);
  assert_int_equal(rl__histogram_percentile(&h, 100), 0);
  bucket_list l = buckets_of(&h);
  assert_int_equal(l.n, 0);
  free(l.b);
  rl__histogram_reset(&h);
  rl__histogram_free(&h);
  rl__histogram_free(&h);
}

/* Below 2048 ns every nanosecond is its own bucket: percentiles are exact. */
static void test_small_values_exact(void **state) {
  (void)state;
  rl__histogram h;
  rl__histogram_init(&h);
  for (uint64_t v = 1; v <= 1000; v++)
    assert_int_equal(rl__histogram_record(&h, v), 0);
  assert_int_equal(rl__histogram_percentile(&h, 0), 1);
  assert_int_equal(rl__histogram_percentile(&h, 50), 500);
  assert_int_equal(rl__histogram_percentile(&h, 66), 660);
  assert_int_equal(rl__histogram_percentile(&h, 99.9), 999);
  assert_int_equal(rl__histogram_percentile(&h, 99.95), 1000);
  assert_int_equal(rl__histogram_percentile(&h, 100), 1000);
  assert_int_equal(rl__histogram_percentile(&h, 0.05), 1);
  assert_int_equal(rl__histogram_percentile(&h, 0.1), 1);
  assert_int_equal(rl__histogram_percentile(&h, 0.11), 2);
  /* only chunk 0 was needed */
  assert_non_null(h.chunk[0]);
  for (unsigned c = 1; c < RL__HIST_CHUNKS; c++)
    assert_null(h.chunk[c]);
  rl__histogram_free(&h);

  rl__histogram_init(&h);
  assert_int_equal(rl__histogram_record(&h, 0), 0);
  assert_int_equal(h.min, 0);
  assert_int_equal(rl__histogram_percentile(&h, 50), 0);
  rl__histogram_free(&h);
}

/* A single value: every percentile is that value, however wide its bucket. */
static void test_single_value(void **state) {
  (void)state;
  const uint64_t values[] = {7, 2048, 123456789, LIMIT - 1, LIMIT, UINT64_MAX};
  for (size_t i = 0; i < sizeof(values) / sizeof(*values); i++) {
    rl__histogram h;
    rl__histogram_init(&h);
    assert_int_equal(rl__histogram_record(&h, values[i]), 0);
    assert_int_equal(rl__histogram_percentile(&h, 0), values[i]);
    assert_int_equal(rl__histogram_percentile(&h, 50), values[i]);
    assert_int_equal(rl__histogram_percentile(&h, 99.99), values[i]);
    assert_int_equal(rl__histogram_percentile(&h, 100), values[i]);
    rl__histogram_free(&h);
  }
}

static void check_range(uint64_t v) {
  uint64_t lo, hi;
  rl__histogram_bucket_range(v, &lo, &hi);
  assert_true(lo <= v);
  assert_true(v <= hi);
  if (v < 2048) {
    assert_int_equal(lo, v);
    assert_int_equal(hi, v);
  } else if (lo < TOP_LO) {
    uint64_t width = hi - lo + 1;
    assert_int_equal(width & (width - 1), 0); /* a power of two */
    assert_true(width * 1024 <= lo);          /* 3 significant digits */
    assert_int_equal(lo % width, 0);
  } else {
    assert_int_equal(lo, TOP_LO);
    assert_int_equal(hi, UINT64_MAX);
  }
  /* every value of the range maps to the same range */
  uint64_t lo2, hi2;
  rl__histogram_bucket_range(lo, &lo2, &hi2);
  assert_int_equal(lo2, lo);
  assert_int_equal(hi2, hi);
  rl__histogram_bucket_range(hi, &lo2, &hi2);
  assert_int_equal(lo2, lo);
  assert_int_equal(hi2, hi);
}

static void test_bucket_range_invariants(void **state) {
  (void)state;
  for (unsigned b = 0; b < 64; b++) {
    uint64_t p = (uint64_t)1 << b;
    check_range(p - 1);
    check_range(p);
    check_range(p + 1);
  }
  check_range(0);
  check_range(UINT64_MAX);
  rng_state = 1;
  for (int i = 0; i < 100000; i++) {
    check_range(rng_next() >> (rng_next() % 64));
  }

  /* The buckets tile [0, UINT64_MAX] without gap or overlap. */
  uint64_t v = 0, lo, hi;
  size_t n = 0;
  for (;;) {
    rl__histogram_bucket_range(v, &lo, &hi);
    assert_int_equal(lo, v);
    n++;
    if (hi == UINT64_MAX)
      break;
    v = hi + 1;
  }
  assert_int_equal(n, NBUCKETS);
}

typedef uint64_t (*gen_fn)(void);

static uint64_t gen_uniform_small(void) { return uniform(0, 5000); }
static uint64_t gen_uniform_ms(void) { return uniform(1000000, 2000000); }
static uint64_t gen_log_uniform(void) { return log_uniform(1e3, 1e10); }
static uint64_t gen_bimodal(void) {
  return rng_next() % 100 < 95 ? uniform(200000, 300000)
                               : uniform(1000000000, 3000000000);
}
static uint64_t gen_heavy_tail(void) { /* Pareto-like, alpha = 1.2 */
  return (uint64_t)(50000.0 / pow(1.0 - rng_unit(), 1.0 / 1.2));
}
static uint64_t gen_constant(void) { return 4242424; }

static void test_percentiles_vs_sort(void **state) {
  (void)state;
  const gen_fn gens[] = {gen_uniform_small, gen_uniform_ms, gen_log_uniform,
                         gen_bimodal,       gen_heavy_tail, gen_constant};
  const size_t sizes[] = {1, 2, 3, 10, 999, 100000};
  uint64_t *v = malloc(100000 * sizeof(*v));
  assert_non_null(v);
  rng_state = 42;
  for (size_t g = 0; g < sizeof(gens) / sizeof(*gens); g++) {
    for (size_t z = 0; z < sizeof(sizes) / sizeof(*sizes); z++) {
      size_t n = sizes[z];
      rl__histogram h;
      rl__histogram_init(&h);
      for (size_t i = 0; i < n; i++)
        v[i] = gens[g]();
      record_all(&h, v, n);
      check_percentiles(&h, v, n);
      rl__histogram_free(&h);
    }
  }
  free(v);
}

/* Values above 2^43 are clamped into the top bucket yet counted, and min,
 * max and p100 keep their true values. */
static void test_values_above_range(void **state) {
  (void)state;
  size_t n = 20000;
  uint64_t *v = malloc(n * sizeof(*v));
  assert_non_null(v);
  rng_state = 7;
  for (size_t i = 0; i < n; i++)
    v[i] = i % 10 == 0 ? LIMIT + (rng_next() >> 4) : log_uniform(1e3, 1e9);
  v[n - 1] = UINT64_MAX;
  v[n - 2] = LIMIT;
  v[n - 3] = LIMIT - 1;

  rl__histogram h;
  rl__histogram_init(&h);
  record_all(&h, v, n);
  assert_non_null(h.chunk[RL__HIST_CHUNKS - 1]);
  assert_int_equal(rl__histogram_percentile(&h, 100), UINT64_MAX);
  assert_int_equal(rl__histogram_percentile(&h, 95), UINT64_MAX);
  check_percentiles(&h, v, n);

  bucket_list l = buckets_of(&h);
  assert_true(l.n > 0);
  assert_int_equal(l.b[l.n - 1].lo, TOP_LO);
  assert_int_equal(l.b[l.n - 1].hi, UINT64_MAX);
  assert_int_equal(l.b[l.n - 1].count, n / 10 + 3); /* + the last three */
  free(l.b);
  rl__histogram_free(&h);
  free(v);
}

static void check_same(const rl__histogram *a, const rl__histogram *b) {
  assert_int_equal(a->count, b->count);
  assert_int_equal(a->min, b->min);
  assert_int_equal(a->max, b->max);
  bucket_list la = buckets_of(a), lb = buckets_of(b);
  assert_int_equal(la.n, lb.n);
  assert_memory_equal(la.b, lb.b, la.n * sizeof(bucket));
  free(la.b);
  free(lb.b);
  for (int p = 0; p <= 1000; p++)
    assert_int_equal(rl__histogram_percentile(a, p / 10.0),
                     rl__histogram_percentile(b, p / 10.0));
  assert_int_equal(rl__histogram_percentile(a, 99.999),
                   rl__histogram_percentile(b, 99.999));
}

static void test_merge_equals_union(void **state) {
  (void)state;
  rl__histogram a, b, u, empty;
  rl__histogram_init(&a);
  rl__histogram_init(&b);
  rl__histogram_init(&u);
  rl__histogram_init(&empty);
  rng_state = 99;
  /* a and b cover partly different chunks, so the merge must allocate */
  for (int i = 0; i < 50000; i++) {
    uint64_t x = log_uniform(1e3, 1e7), y = log_uniform(1e5, 1e10);
    if (i % 1000 == 0)
      y = LIMIT + rng_next() % 1000;
    assert_int_equal(rl__histogram_record(&a, x), 0);
    assert_int_equal(rl__histogram_record(&b, y), 0);
    assert_int_equal(rl__histogram_record(&u, x), 0);
    assert_int_equal(rl__histogram_record(&u, y), 0);
  }
  assert_int_equal(rl__histogram_merge(&a, &b), 0);
  check_same(&a, &u);

  /* merging into an empty one copies; merging an empty one changes nothing */
  assert_int_equal(rl__histogram_merge(&empty, &u), 0);
  check_same(&empty, &u);
  rl__histogram_free(&b);
  rl__histogram_init(&b);
  assert_int_equal(rl__histogram_merge(&a, &b), 0);
  check_same(&a, &u);

  rl__histogram_free(&a);
  rl__histogram_free(&b);
  rl__histogram_free(&u);
  rl__histogram_free(&empty);
}

typedef struct visit {
  uint64_t sum, prev_hi, visits;
  bool any;
  int stop_after;
} visit;

static int visit_cb(uint64_t lo, uint64_t hi, uint64_t count, void *arg) {
  visit *w = arg;
  assert_true(lo <= hi);
  assert_true(count > 0);
  if (w->any)
    assert_true(lo > w->prev_hi); /* increasing, no overlap */
  w->any = true;
  w->prev_hi = hi;
  w->sum += count;
  w->visits++;
  return w->stop_after != 0 && (int)w->visits == w->stop_after ? 7 : 0;
}

static void test_foreach(void **state) {
  (void)state;
  rl__histogram h;
  rl__histogram_init(&h);
  rng_state = 5;
  for (int i = 0; i < 30000; i++)
    assert_int_equal(rl__histogram_record(&h, log_uniform(1, 1e12)), 0);
  assert_int_equal(rl__histogram_record(&h, UINT64_MAX), 0);

  visit w = {0};
  assert_int_equal(rl__histogram_foreach(&h, visit_cb, &w), 0);
  assert_int_equal(w.sum, h.count);
  assert_int_equal(w.prev_hi, UINT64_MAX);

  /* each visited bucket holds exactly the values recorded in its range */
  rl__histogram one;
  rl__histogram_init(&one);
  assert_int_equal(rl__histogram_record(&one, 3000), 0);
  assert_int_equal(rl__histogram_record(&one, 3001), 0);
  assert_int_equal(rl__histogram_record(&one, 3003), 0);
  bucket_list l = buckets_of(&one); /* [2048, 4096) has 2 ns buckets */
  assert_int_equal(l.n, 2);
  assert_int_equal(l.b[0].lo, 3000);
  assert_int_equal(l.b[0].hi, 3001);
  assert_int_equal(l.b[0].count, 2);
  assert_int_equal(l.b[1].lo, 3002);
  assert_int_equal(l.b[1].hi, 3003);
  assert_int_equal(l.b[1].count, 1);
  free(l.b);
  rl__histogram_free(&one);

  visit early = {.stop_after = 3};
  assert_int_equal(rl__histogram_foreach(&h, visit_cb, &early), 7);
  assert_int_equal(early.visits, 3);
  rl__histogram_free(&h);
}

static void test_reset_keeps_chunks(void **state) {
  (void)state;
  rl__histogram h;
  rl__histogram_init(&h);
  const uint64_t values[] = {10, 5000, 1000000, 1000000000};
  record_all(&h, values, 4);
  uint64_t *chunks[RL__HIST_CHUNKS];
  memcpy(chunks, h.chunk, sizeof(chunks));

  rl__histogram_reset(&h);
  assert_int_equal(h.count, 0);
  assert_int_equal(h.min, UINT64_MAX);
  assert_int_equal(h.max, 0);
  assert_memory_equal(chunks, h.chunk, sizeof(chunks));
  assert_int_equal(rl__histogram_percentile(&h, 50), 0);
  visit w = {0};
  assert_int_equal(rl__histogram_foreach(&h, visit_cb, &w), 0);
  assert_int_equal(w.visits, 0);

  assert_int_equal(rl__histogram_record(&h, 777), 0);
  assert_int_equal(rl__histogram_percentile(&h, 50), 777);
  assert_int_equal(h.count, 1);
  rl__histogram_free(&h);
}

/* record_n(v, n) is n record(v)s: the cluster reads histograms back so. */
static void test_record_n(void **state) {
  (void)state;
  rl__histogram a, b;
  rl__histogram_init(&a);
  rl__histogram_init(&b);
  const uint64_t values[] = {3, 5000, 123456789, (uint64_t)1 << 45};
  for (size_t i = 0; i < 4; i++) {
    assert_int_equal(rl__histogram_record_n(&a, values[i], i + 1), 0);
    for (size_t k = 0; k <= i; k++)
      assert_int_equal(rl__histogram_record(&b, values[i]), 0);
  }
  assert_int_equal(rl__histogram_record_n(&a, 77, 0), 0);
  assert_int_equal(a.count, b.count);
  assert_int_equal(a.min, b.min);
  assert_int_equal(a.max, b.max);
  for (double p = 0; p <= 100; p += 2.5)
    assert_int_equal(rl__histogram_percentile(&a, p),
                     rl__histogram_percentile(&b, p));
  rl__histogram_free(&a);
  rl__histogram_free(&b);
}

static void test_out_of_memory(void **state) {
  (void)state;
#ifdef RL_TEST_FAULTS
  if (!faults_work())
    skip();
  rl__histogram h;
  rl__histogram_init(&h);
  fault_arm(0);
  assert_int_equal(rl__histogram_record(&h, 123456), RL_ERR_NOMEM);
  assert_true(fault_disarm());
  assert_int_equal(h.count, 0);
  assert_int_equal(h.min, UINT64_MAX);
  assert_int_equal(h.max, 0);
  assert_int_equal(rl__histogram_percentile(&h, 50), 0);
  assert_int_equal(rl__histogram_record(&h, 123456), 0);
  assert_int_equal(h.count, 1);

  /* A merge that cannot allocate every chunk leaves dst untouched. */
  rl__histogram src, copy;
  rl__histogram_init(&src);
  rl__histogram_init(&copy);
  const uint64_t values[] = {1, 5000, 123456, 10000000, 1000000000};
  record_all(&src, values, 5);
  record_all(&copy, (const uint64_t[]){123456}, 1);
  for (long nth = 0;; nth++) {
    fault_arm(nth);
    int rc = rl__histogram_merge(&h, &src);
    bool hit = fault_disarm();
    if (!hit) {
      assert_int_equal(rc, 0);
      break;
    }
    assert_int_equal(rc, RL_ERR_NOMEM);
    assert_int_equal(h.count, 1);
    assert_int_equal(h.min, 123456);
    assert_int_equal(h.max, 123456);
    assert_int_equal(rl__histogram_percentile(&h, 0), 123456);
    bucket_list la = buckets_of(&h), lb = buckets_of(&copy);
    assert_int_equal(la.n, 1);
    assert_memory_equal(la.b, lb.b, sizeof(bucket));
    free(la.b);
    free(lb.b);
  }
  assert_int_equal(rl__histogram_merge(&copy, &src), 0);
  check_same(&h, &copy);
  rl__histogram_free(&src);
  rl__histogram_free(&copy);
  rl__histogram_free(&h);
#else
  skip();
#endif
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_empty),
      cmocka_unit_test(test_small_values_exact),
      cmocka_unit_test(test_single_value),
      cmocka_unit_test(test_bucket_range_invariants),
      cmocka_unit_test(test_percentiles_vs_sort),
      cmocka_unit_test(test_values_above_range),
      cmocka_unit_test(test_merge_equals_union),
      cmocka_unit_test(test_foreach),
      cmocka_unit_test(test_reset_keeps_chunks),
      cmocka_unit_test(test_record_n),
      cmocka_unit_test(test_out_of_memory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Unit tests for the stats engine (src/stats.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rpcload/plugin.h>

#include "stats/histogram.h"
#include "stats/stats.h"

/* ---- allocation faults -----------------------------------------------------
 * The core calls the C allocator directly, so the test program replaces
 * malloc/calloc/realloc/free (glibc supports this), can make one chosen
 * allocation fail, and counts live blocks to catch leaks on error paths
 * without valgrind. AddressSanitizer owns the allocator in its builds, and
 * valgrind replaces it unless run with
 * --soname-synonyms=somalloc=nouserintercepts: the fault test skips there. */
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
static long live_blocks;

static bool fault_now(void) {
  if (fault_countdown < 0)
    return false;
  if (fault_countdown-- > 0)
    return false;
  fault_hit = true;
  return true;
}

void *malloc(size_t size) {
  void *p = fault_now() ? NULL : __libc_malloc(size);
  live_blocks += p != NULL;
  return p;
}

void *calloc(size_t n, size_t size) {
  void *p = fault_now() ? NULL : __libc_calloc(n, size);
  live_blocks += p != NULL;
  return p;
}

void *realloc(void *old, size_t size) {
  void *p = fault_now() ? NULL : __libc_realloc(old, size);
  live_blocks += old == NULL && p != NULL;
  return p;
}

void free(void *p) {
  live_blocks -= p != NULL;
  __libc_free(p);
}

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

/* Every second from 0 up to `end_sec` (excluded): the window of a run that
 * never idled, read when `end_sec` has just begun. */
static rl__stats_window upto(uint64_t end_sec) {
  return (rl__stats_window){0, end_sec};
}

static rl__stats *new_stats(void) {
  rl__stats *s = rl__stats_new();
  assert_non_null(s);
  return s;
}

static rl__stats_entry *get(rl__stats *s, const char *type, const char *name) {
  rl__stats_entry *e = rl__stats_entry_get(s, type, name);
  assert_non_null(e);
  return e;
}

static void record(rl__stats *s, rl__stats_entry *e, uint64_t rt_ns,
                   uint64_t bytes, const char *error, uint64_t sec) {
  assert_int_equal(rl__stats_record(s, e, rt_ns, bytes, error, sec), 0);
}

static const rl__stats_error *find_error(rl__stats *s, const char *type,
                                         const char *name, const char *error) {
  const rl__stats_error **errs;
  size_t n = rl__stats_errors(s, &errs);
  for (size_t i = 0; i < n; i++)
    if (strcmp(errs[i]->type, type) == 0 && strcmp(errs[i]->name, name) == 0 &&
        strcmp(errs[i]->error, error) == 0)
      return errs[i];
  return NULL;
}

static void assert_ring_zero(const rl__stats_entry *e) {
  for (int i = 0; i < RL__STATS_RING; i++) {
    assert_int_equal(e->ring_sec[i], 0);
    assert_int_equal(e->ring_reqs[i], 0);
    assert_int_equal(e->ring_fails[i], 0);
  }
}

static void assert_entry_empty(const rl__stats_entry *e) {
  assert_int_equal(e->num_requests, 0);
  assert_int_equal(e->num_failures, 0);
  assert_int_equal(e->total_ns, 0);
  assert_int_equal(e->bytes, 0);
  assert_int_equal(e->hist.count, 0);
  assert_int_equal(rl__stats_entry_avg_ns(e), 0);
  assert_int_equal(rl__stats_entry_min_ns(e), 0);
  assert_int_equal(rl__stats_entry_max_ns(e), 0);
  assert_ring_zero(e);
}

/* ---- tests --------------------------------------------------------------- */

static void test_new_is_empty(void **state) {
  (void)state;
  rl__stats *s = new_stats();
  const rl__stats_entry *t = rl__stats_total(s);
  assert_string_equal(t->type, "");
  assert_string_equal(t->name, "Aggregated");
  assert_entry_empty(t);
  assert_true(rl__stats_entry_current_rps(t, upto(5)) == 0.0);
  const rl__stats_entry **entries;
  const rl__stats_error **errors;
  assert_int_equal(rl__stats_entries(s, &entries), 0);
  assert_int_equal(rl__stats_errors(s, &errors), 0);
  rl__stats_del(s);
  rl__stats_del(NULL);
}

/* Entries are found by (type, name), copy their keys, and never move. */
static void test_entry_get(void **state) {
  (void)state;
  rl__stats *s = new_stats();
  char type[8] = "GET", name[16] = "/a";
  rl__stats_entry *a = get(s, type, name);
  assert_ptr_equal(get(s, "GET", "/a"), a);
  assert_ptr_not_equal(get(s, "POST", "/a"), a);
  assert_ptr_not_equal(get(s, "GET", "/b"), a);
  /* the key boundary is part of the key */
  assert_ptr_not_equal(get(s, "ab", "c"), get(s, "a", "bc"));
  strcpy(type, "PUT");
  strcpy(name, "/changed");
  assert_string_equal(a->type, "GET");
  assert_string_equal(a->name, "/a");
  assert_entry_empty(a);
  assert_null(rl__stats_entry_get(s, NULL, "/a"));
  assert_null(rl__stats_entry_get(s, "GET", NULL));

  /* grow the table well past its first sizes */
  rl__stats_entry *many[1000];
  char buf[32];
  for (int i = 0; i < 1000; i++) {
    snprintf(buf, sizeof(buf), "/item/%d", i);
    many[i] = get(s, "GET", buf);
  }
  assert_ptr_equal(get(s, "GET", "/a"), a);
  for (int i = 0; i < 1000; i++) {
    snprintf(buf, sizeof(buf), "/item/%d", i);
    assert_ptr_equal(get(s, "GET", buf), many[i]);
    assert_string_equal(many[i]->name, buf);
  }
  const rl__stats_entry **entries;
  assert_int_equal(rl__stats_entries(s, &entries), 1000 + 5);
  rl__stats_del(s);
}

static void test_record_counts(void **state) {
  (void)state;
  rl__stats *s = new_stats();
  rl__stats_entry *e = get(s, "GET", "/a");
  record(s, e, 1000, 10, NULL, 0);
  record(s, e, 3000, 20, NULL, 0);
  record(s, e, 2000, 30, "HTTP 500", 1);
  record(s, e, 6000, 0, "connection refused", 2);
  assert_int_equal(e->num_requests, 4);
  assert_int_equal(e->num_failures, 2);
  assert_int_equal(e->total_ns, 12000);
  assert_int_equal(e->bytes, 60);
  assert_int_equal(e->hist.count, 4);
  assert_int_equal(rl__stats_entry_avg_ns(e), 3000);
  assert_int_equal(rl__stats_entry_min_ns(e), 1000);
  assert_int_equal(rl__stats_entry_max_ns(e), 6000);
  assert_int_equal(rl__histogram_percentile(&e->hist, 50), 2000);
  /* recording never touches the aggregated row: the merge builds it */
  assert_entry_empty(rl__stats_total(s));
  rl__stats_del(s);
}

/* Errors are grouped by (type, name, text), counted, and keep their first
 * and last second. */
static void test_errors_grouped(void **state) {
  (void)state;
  rl__stats *s = new_stats();
  rl__stats_entry *a = get(s, "GET", "/a");
  rl__stats_entry *b = get(s, "GET", "/b");
  rl__stats_entry *pa = get(s, "POST", "/a");
  char text[32] = "HTTP 500";
  record(s, a, 1, 0, text, 3);
  strcpy(text, "HTTP 503"); /* the row keeps its own copy */
  record(s, a, 1, 0, "HTTP 500", 7);
  record(s, a, 1, 0, "HTTP 500", 5);
  record(s, a, 1, 0, "timeout", 4);
  record(s, b, 1, 0, "HTTP 500", 6);
  record(s, pa, 1, 0, "HTTP 500", 6);
  record(s, a, 1, 0, NULL, 8);

  const rl__stats_error **errs;
  assert_int_equal(rl__stats_errors(s, &errs), 4);
  const rl__stats_error *r = find_error(s, "GET", "/a", "HTTP 500");
  assert_non_null(r);
  assert_int_equal(r->occurrences, 3);
  assert_int_equal(r->first_sec, 3);
  assert_int_equal(r->last_sec, 7);
  r = find_error(s, "GET", "/a", "timeout");
  assert_non_null(r);
  assert_int_equal(r->occurrences, 1);
  assert_int_equal(r->first_sec, 4);
  assert_int_equal(r->last_sec, 4);
  assert_null(find_error(s, "GET", "/a", "HTTP 503"));
  assert_int_equal(find_error(s, "GET", "/b", "HTTP 500")->occurrences, 1);
  assert_int_equal(find_error(s, "POST", "/a", "HTTP 500")->occurrences, 1);
  assert_int_equal(a->num_failures, 4);
  assert_int_equal(a->num_requests, 5);
  rl__stats_del(s);
}

/* Past its cap of distinct texts, an entry's new texts share one row:
 * "(N other errors)" with N its occurrences; kept texts still count in
 * their own rows, other entries have their own cap. */
static void test_error_cap(void **state) {
  (void)state;
  rl__stats *s = new_stats();
  rl__stats_set_max_error_rows(s, 3);
  rl__stats_entry *a = get(s, "GET", "/a");
  rl__stats_entry *b = get(s, "GET", "/b");
  char text[32];
  for (int i = 0; i < 10; i++) {
    snprintf(text, sizeof text, "e%d", i);
    record(s, a, 1, 0, text, (uint64_t)i);
  }
  record(s, a, 1, 0, "e1", 20); /* kept: its own row */
  record(s, a, 1, 0, "e9", 21); /* grouped */
  record(s, b, 1, 0, "x", 1);
  assert_ptr_equal(rl__stats_capped(s), a);

  const rl__stats_error **errs;
  assert_int_equal(rl__stats_errors(s, &errs), 5);
  assert_int_equal(find_error(s, "GET", "/a", "e1")->occurrences, 2);
  assert_null(find_error(s, "GET", "/a", "e3"));
  const rl__stats_error *o = find_error(s, "GET", "/a", "(8 other errors)");
  assert_non_null(o);
  assert_true(o->other);
  assert_int_equal(o->occurrences, 8);
  assert_int_equal(o->first_sec, 3);
  assert_int_equal(o->last_sec, 21);
  assert_false(find_error(s, "GET", "/b", "x")->other);
  assert_int_equal(a->num_failures, 12);

  /* A text that reads like the row is a text like any other. */
  rl__stats_entry *c = get(s, "GET", "/c");
  record(s, c, 1, 0, "(8 other errors)", 1);
  assert_false(find_error(s, "GET", "/c", "(8 other errors)")->other);

  /* A clear forgets the rows and the cap's state. */
  rl__stats_clear(s);
  assert_null(rl__stats_capped(s));
  record(s, a, 1, 0, "e7", 30);
  assert_int_equal(rl__stats_errors(s, &errs), 1);
  assert_false(errs[0]->other);
  rl__stats_del(s);
}

/* Merging under the destination's cap: texts past it go to its `other`
 * row, and a source's `other` row adds to it. 100k distinct texts keep
 * cap + 1 rows. */
static void test_error_cap_merge(void **state) {
  (void)state;
  rl__stats *w1 = new_stats(), *w2 = new_stats(), *g = new_stats();
  rl__stats_set_max_error_rows(w1, 2);
  rl__stats_set_max_error_rows(g, 3);
  rl__stats_entry *e1 = get(w1, "GET", "/a");
  rl__stats_entry *e2 = get(w2, "GET", "/a");
  record(w1, e1, 1, 0, "a", 1);
  record(w1, e1, 1, 0, "b", 1);
  record(w1, e1, 1, 0, "c", 2); /* w1's other */
  record(w1, e1, 1, 0, "d", 3); /* w1's other */
  record(w2, e2, 1, 0, "b", 1);
  record(w2, e2, 1, 0, "x", 4);
  record(w2, e2, 1, 0, "y", 5);
  assert_int_equal(rl__stats_merge(g, w1), 0);
  assert_int_equal(rl__stats_merge(g, w2), 0);
  const rl__stats_error **errs;
  assert_int_equal(rl__stats_errors(g, &errs), 4);
  assert_int_equal(find_error(g, "GET", "/a", "b")->occurrences, 2);
  /* a, b, then x; y and w1's two grouped ones are the other three */
  assert_non_null(find_error(g, "GET", "/a", "x"));
  const rl__stats_error *o = find_error(g, "GET", "/a", "(3 other errors)");
  assert_non_null(o);
  assert_int_equal(o->first_sec, 2);
  assert_int_equal(o->last_sec, 5);
  assert_int_equal(rl__stats_total(g)->num_failures, 7);

  rl__stats_set_max_error_rows(w2, 100);
  rl__stats_clear(w2);
  char text[48];
  for (int i = 0; i < 100000; i++) {
    snprintf(text, sizeof text, "HTTP 500 id-%08d", i);
    record(w2, e2, 1, 0, text, 9);
  }
  assert_int_equal(rl__stats_errors(w2, &errs), 101);
  assert_non_null(find_error(w2, "GET", "/a", "(99900 other errors)"));
  rl__stats_del(w1);
  rl__stats_del(w2);
  rl__stats_del(g);
}

/* Entries by (name, type); errors by occurrences, ties by (name, type,
 * error). */
static void test_sorted_order(void **state) {
  (void)state;
  rl__stats *s = new_stats();
  static const char *const keys[][2] = {
      {"POST", "/b"}, {"GET", "/b"},    {"GET", "/a"},
      {"GET", "/c"},  {"DELETE", "/a"}, {"GET", "/B"},
  };
  for (size_t i = 0; i < 6; i++)
    get(s, keys[i][0], keys[i][1]);
  static const char *const want[][2] = {
      {"GET", "/B"}, {"DELETE", "/a"}, {"GET", "/a"},
      {"GET", "/b"}, {"POST", "/b"},   {"GET", "/c"},
  };
  const rl__stats_entry **entries;
  assert_int_equal(rl__stats_entries(s, &entries), 6);
  for (size_t i = 0; i < 6; i++) {
    assert_string_equal(entries[i]->type, want[i][0]);
    assert_string_equal(entries[i]->name, want[i][1]);
  }

  rl__stats_entry *gb = get(s, "GET", "/b"), *pb = get(s, "POST", "/b");
  rl__stats_entry *ga = get(s, "GET", "/a");
  record(s, pb, 1, 0, "z", 0);
  record(s, gb, 1, 0, "z", 0);
  record(s, gb, 1, 0, "y", 0);
  record(s, ga, 1, 0, "x", 0);
  for (int i = 0; i < 3; i++)
    record(s, pb, 1, 0, "rare?", 0);
  const rl__stats_error **errs;
  assert_int_equal(rl__stats_errors(s, &errs), 5);
  static const char *const want_err[][3] = {
      {"POST", "/b", "rare?"}, {"GET", "/a", "x"},  {"GET", "/b", "y"},
      {"GET", "/b", "z"},      {"POST", "/b", "z"},
  };
  for (size_t i = 0; i < 5; i++) {
    assert_string_equal(errs[i]->type, want_err[i][0]);
    assert_string_equal(errs[i]->name, want_err[i][1]);
    assert_string_equal(errs[i]->error, want_err[i][2]);
  }
  assert_int_equal(errs[0]->occurrences, 3);
  rl__stats_del(s);
}

/* A window starting after second 0 (a start or a reset) averages only
 * its own whole seconds; the counts before a second come from the rings. */
static void test_window_and_counts_before(void **state) {
  (void)state;
  rl__stats *s = new_stats();
  rl__stats_entry *e = get(s, "GET", "/w");
  for (uint64_t sec = 0; sec < 10; sec++)
    for (uint64_t i = 0; i <= sec; i++)
      record(s, e, 1, 0, i == 0 ? "boom" : NULL, sec);
  rl__stats_window w = {5, 8};
  assert_true(rl__stats_entry_current_rps(e, w) == (6 + 7 + 8) / 3.0);
  assert_true(rl__stats_entry_current_fps(e, w) == 1.0);
  w = (rl__stats_window){8, 8}; /* nothing whole yet: 0, not a guess */
  assert_true(rl__stats_entry_current_rps(e, w) == 0.0);
  w = (rl__stats_window){9, 5};
  assert_true(rl__stats_entry_current_rps(e, w) == 0.0);
  w = (rl__stats_window){0, 10}; /* the last ten */
  assert_true(rl__stats_entry_current_rps(e, w) == 55 / 10.0);
  assert_int_equal(rl__stats_entry_requests_before(e, 5), 1 + 2 + 3 + 4 + 5);
  assert_int_equal(rl__stats_entry_failures_before(e, 5), 5);
  assert_int_equal(rl__stats_entry_requests_before(e, 0), 0);
  assert_int_equal(rl__stats_entry_requests_before(e, 100), 55);
  assert_int_equal(rl__stats_entry_failures_before(e, 100), 10);
  rl__stats_del(s);
}

/* Two workers' deltas merged twice into a run-wide table: per-entry sums,
 * the aggregated row, the union histograms and the error rows. */
static void test_merge(void **state) {
  (void)state;
  rl__stats *g = new_stats(), *w1 = new_stats(), *w2 = new_stats();
  rl__histogram all_a, all;
  rl__histogram_init(&all_a);
  rl__histogram_init(&all);

  rl__stats_entry *a1 = get(w1, "GET", "/a"), *b1 = get(w1, "GET", "/b");
  rl__stats_entry *a2 = get(w2, "GET", "/a"), *c2 = get(w2, "grpc", "/S/M");
  uint64_t sum_ns = 0;
  for (uint64_t i = 0; i < 1000; i++) {
    uint64_t x = 1000 + i * 997, y = 50000 + i * 31337, z = 7 + i * i * 13;
    record(w1, a1, x, 1, i % 10 == 0 ? "HTTP 500" : NULL, i / 100);
    record(w1, b1, y, 2, NULL, i / 100);
    record(w2, a2, z, 3, i % 25 == 0 ? "HTTP 500" : NULL, i / 200);
    record(w2, c2, x + y, 4, i % 50 == 0 ? "UNAVAILABLE" : NULL, 3);
    assert_int_equal(rl__histogram_record(&all_a, x), 0);
    assert_int_equal(rl__histogram_record(&all_a, z), 0);
    assert_int_equal(rl__histogram_record(&all, x), 0);
    assert_int_equal(rl__histogram_record(&all, y), 0);
    assert_int_equal(rl__histogram_record(&all, z), 0);
    assert_int_equal(rl__histogram_record(&all, x + y), 0);
    sum_ns += x + y + z + x + y;
  }
  assert_int_equal(rl__stats_merge(g, w1), 0);
  assert_int_equal(rl__stats_merge(g, w2), 0);

  rl__stats_entry *ga = get(g, "GET", "/a");
  assert_int_equal(ga->num_requests, 2000);
  assert_int_equal(ga->num_failures, 100 + 40);
  assert_int_equal(ga->bytes, 1000 * 1 + 1000 * 3);
  assert_int_equal(ga->total_ns, a1->total_ns + a2->total_ns);
  assert_int_equal(ga->hist.count, 2000);
  assert_int_equal(rl__stats_entry_min_ns(ga), all_a.min);
  assert_int_equal(rl__stats_entry_max_ns(ga), all_a.max);
  for (int p = 0; p <= 100; p++)
    assert_int_equal(rl__histogram_percentile(&ga->hist, p),
                     rl__histogram_percentile(&all_a, p));
  assert_int_equal(get(g, "GET", "/b")->num_requests, 1000);
  assert_int_equal(get(g, "grpc", "/S/M")->num_failures, 20);

  const rl__stats_entry *t = rl__stats_total(g);
  assert_string_equal(t->type, "");
  assert_string_equal(t->name, "Aggregated");
  assert_int_equal(t->num_requests, 4000);
  assert_int_equal(t->num_failures, 100 + 40 + 20);
  assert_int_equal(t->bytes, 1000 * (1 + 2 + 3 + 4));
  assert_int_equal(t->total_ns, sum_ns);
  assert_int_equal(t->hist.count, 4000);
  for (int p = 0; p <= 1000; p++)
    assert_int_equal(rl__histogram_percentile(&t->hist, p / 10.0),
                     rl__histogram_percentile(&all, p / 10.0));
  const rl__stats_entry **entries;
  assert_int_equal(rl__stats_entries(g, &entries), 3); /* no total in it */

  const rl__stats_error *r = find_error(g, "GET", "/a", "HTTP 500");
  assert_non_null(r);
  assert_int_equal(r->occurrences, 140);
  assert_int_equal(r->first_sec, 0);
  assert_int_equal(r->last_sec, 9);
  assert_int_equal(find_error(g, "grpc", "/S/M", "UNAVAILABLE")->occurrences,
                   20);
  const rl__stats_error **errs;
  assert_int_equal(rl__stats_errors(g, &errs), 2);

  /* the workers' next deltas add up; src totals are never read */
  rl__stats_clear(w1);
  rl__stats_clear(w2);
  record(w1, a1, 5, 0, "HTTP 500", 20);
  record(w1, b1, 5, 0, NULL, 20);
  assert_int_equal(rl__stats_merge(g, w1), 0);
  assert_int_equal(rl__stats_merge(g, w2), 0);
  assert_int_equal(ga->num_requests, 2001);
  assert_int_equal(t->num_requests, 4002);
  assert_int_equal(t->num_failures, 161);
  assert_int_equal(r->occurrences, 141);
  assert_int_equal(r->last_sec, 20);
  assert_int_equal(rl__stats_entry_min_ns(t), 5);

  /* merging a merged table into an empty one rebuilds the same total */
  rl__stats *g2 = new_stats();
  assert_int_equal(rl__stats_merge(g2, g), 0);
  const rl__stats_entry *t2 = rl__stats_total(g2);
  assert_int_equal(t2->num_requests, t->num_requests);
  assert_int_equal(t2->num_failures, t->num_failures);
  assert_int_equal(t2->total_ns, t->total_ns);
  assert_int_equal(t2->hist.count, t->hist.count);
  assert_int_equal(rl__histogram_percentile(&t2->hist, 99),
                   rl__histogram_percentile(&t->hist, 99));

  rl__stats_del(g2);
  rl__histogram_free(&all_a);
  rl__histogram_free(&all);
  rl__stats_del(g);
  rl__stats_del(w1);
  rl__stats_del(w2);
}

/* Second s gets s+1 requests, one of them failed, for s in 0..19. */
static void test_current_rate(void **state) {
  (void)state;
  rl__stats *s = new_stats();
  rl__stats_entry *e = get(s, "GET", "/a");
  for (uint64_t sec = 0; sec < 20; sec++) {
    for (uint64_t i = 0; i <= sec; i++)
      record(s, e, 1000, 0, i == 0 ? "boom" : NULL, sec);
    if (sec != 5)
      continue;
    assert_true(rl__stats_entry_current_rps(e, upto(0)) == 0.0);
    assert_true(rl__stats_entry_current_fps(e, upto(0)) == 0.0);
    /* at the start, the window is the seconds elapsed */
    assert_true(rl__stats_entry_current_rps(e, upto(1)) == 1.0);
    assert_true(rl__stats_entry_current_rps(e, upto(5)) ==
                (1 + 2 + 3 + 4 + 5) / 5.0);
    assert_true(rl__stats_entry_current_fps(e, upto(5)) == 1.0);
    assert_true(rl__stats_entry_current_rps(e, upto(6)) ==
                (1 + 2 + 3 + 4 + 5 + 6) / 6.0);
  }
  /* seconds 10..19 hold 11..20 requests; second 20 is not over */
  assert_true(rl__stats_entry_current_rps(e, upto(20)) == 155 / 10.0);
  assert_true(rl__stats_entry_current_fps(e, upto(20)) == 1.0);
  /* seconds 15..24: only 15..19 were recorded */
  assert_true(rl__stats_entry_current_rps(e, upto(25)) ==
              (16 + 17 + 18 + 19 + 20) / 10.0);
  assert_true(rl__stats_entry_current_fps(e, upto(25)) == 0.5);
  /* seconds 0..3 were overwritten by 16..19 (a 16-slot ring) */
  assert_true(rl__stats_entry_current_rps(e, upto(4)) == 0.0);
  assert_true(rl__stats_entry_current_rps(e, upto(40)) == 0.0);

  /* a late event for a second the ring has moved past is counted, but
   * does not wipe the newer second */
  record(s, e, 1000, 0, NULL, 3);
  assert_int_equal(e->num_requests, 211);
  assert_int_equal(e->ring_sec[3], 19);
  assert_int_equal(e->ring_reqs[3], 20);
  rl__stats_del(s);
}

/* The merge adds ring counts second by second; an older second in the
 * destination's slot is replaced, a newer one is kept. */
static void test_merge_rings(void **state) {
  (void)state;
  rl__stats *g = new_stats(), *w1 = new_stats(), *w2 = new_stats();
  rl__stats_entry *e1 = get(w1, "GET", "/a"), *e2 = get(w2, "GET", "/a");
  for (int i = 0; i < 2; i++)
    record(w1, e1, 1, 0, NULL, 3);
  for (int i = 0; i < 3; i++)
    record(w2, e2, 1, 0, i == 0 ? "x" : NULL, 3);
  record(w2, e2, 1, 0, NULL, 4);
  assert_int_equal(rl__stats_merge(g, w1), 0);
  assert_int_equal(rl__stats_merge(g, w2), 0);
  rl__stats_entry *ge = get(g, "GET", "/a");
  assert_int_equal(ge->ring_sec[3], 3);
  assert_int_equal(ge->ring_reqs[3], 5);
  assert_int_equal(ge->ring_fails[3], 1);
  assert_int_equal(ge->ring_sec[4], 4);
  assert_int_equal(ge->ring_reqs[4], 1);
  assert_true(rl__stats_entry_current_rps(ge, upto(5)) == 6 / 5.0);
  assert_true(rl__stats_entry_current_fps(ge, upto(5)) == 1 / 5.0);
  const rl__stats_entry *t = rl__stats_total(g);
  assert_int_equal(t->ring_reqs[3], 5);
  assert_true(rl__stats_entry_current_rps(t, upto(5)) == 6 / 5.0);

  /* second 19 shares slot 3 with second 3 and replaces it */
  rl__stats_clear(w1);
  for (int i = 0; i < 7; i++)
    record(w1, e1, 1, 0, NULL, 19);
  assert_int_equal(rl__stats_merge(g, w1), 0);
  assert_int_equal(ge->ring_sec[3], 19);
  assert_int_equal(ge->ring_reqs[3], 7);
  assert_int_equal(ge->ring_fails[3], 0);
  assert_int_equal(t->ring_sec[3], 19);
  assert_int_equal(t->ring_reqs[3], 7);
  assert_true(rl__stats_entry_current_rps(ge, upto(20)) == 7 / 10.0);

  /* a stale second 3 arriving now is dropped from the ring only */
  rl__stats_clear(w2);
  record(w2, e2, 1, 0, NULL, 3);
  assert_int_equal(rl__stats_merge(g, w2), 0);
  assert_int_equal(ge->ring_sec[3], 19);
  assert_int_equal(ge->ring_reqs[3], 7);
  assert_int_equal(ge->num_requests, 2 + 4 + 7 + 1);
  rl__stats_del(g);
  rl__stats_del(w1);
  rl__stats_del(w2);
}

static void test_clear_keeps_entries(void **state) {
  (void)state;
  rl__stats *w = new_stats(), *g = new_stats();
  rl__stats_entry *a = get(w, "GET", "/a"), *b = get(w, "POST", "/b");
  for (uint64_t i = 0; i < 100; i++) {
    record(w, a, 1000 + i * 1000000, 5, i % 2 ? "err" : NULL, i);
    record(w, b, 50, 5, NULL, i);
  }
  assert_int_equal(rl__stats_merge(g, w), 0);
  rl__stats_clear(w);
  rl__stats_clear(g);

  assert_ptr_equal(get(w, "GET", "/a"), a);
  assert_ptr_equal(get(w, "POST", "/b"), b);
  assert_entry_empty(a);
  assert_entry_empty(b);
  assert_entry_empty(rl__stats_total(g));
  assert_entry_empty(get(g, "GET", "/a"));
  const rl__stats_entry **entries;
  const rl__stats_error **errs;
  assert_int_equal(rl__stats_entries(w, &entries), 2);
  assert_int_equal(rl__stats_entries(g, &entries), 2);
  assert_int_equal(rl__stats_errors(w, &errs), 0);
  assert_int_equal(rl__stats_errors(g, &errs), 0);
  assert_true(rl__stats_entry_current_rps(a, upto(50)) == 0.0);

  /* the cached pointers keep working, errors start over */
  record(w, a, 777, 1, "err", 200);
  record(w, a, 779, 1, "err", 201);
  assert_int_equal(a->num_requests, 2);
  assert_int_equal(rl__stats_entry_min_ns(a), 777);
  assert_int_equal(rl__stats_errors(w, &errs), 1);
  assert_int_equal(errs[0]->occurrences, 2);
  assert_int_equal(errs[0]->first_sec, 200);
  assert_int_equal(rl__stats_merge(g, w), 0);
  assert_int_equal(rl__stats_total(g)->num_requests, 2);
  assert_true(rl__stats_entry_current_rps(rl__stats_total(g), upto(202)) ==
              2 / 10.0);
  rl__stats_del(w);
  rl__stats_del(g);
}

#ifdef RL_TEST_FAULTS
static const char *const oom_names[] = {
    "/0", "/1", "/2", "/3", "/4", "/5", "/6", "/7", "/8", "/9",
    "/a", "/b", "/c", "/d", "/e", "/f", "/g", "/h", "/i", "/j",
    "/k", "/l", "/m", "/n", "/o", "/p", "/q", "/r", "/s", "/t",
};
#define OOM_NAMES (sizeof(oom_names) / sizeof(*oom_names))
static const char *const oom_errors[] = {"e0", "e1", "e2", "e3", "e4"};

/* Everything a worker and the engine do, with the nth allocation failing:
 * each call either succeeds or says RL_ERR_NOMEM, and the tables stay
 * consistent and leak nothing. Returns whether the failure happened. */
static bool oom_run(long nth) {
  long blocks = live_blocks;
  uint64_t recorded = 0, failed = 0;
  bool any_nomem = false;
  rl__stats *w = NULL, *g = NULL;

  fault_arm(nth);
  w = rl__stats_new();
  g = rl__stats_new();
  if (g != NULL)
    rl__stats_set_max_error_rows(g, 2);
  if (w != NULL && g != NULL) {
    for (size_t i = 0; i < 3 * OOM_NAMES; i++) {
      rl__stats_entry *e =
          rl__stats_entry_get(w, "GET", oom_names[i % OOM_NAMES]);
      if (e == NULL)
        continue;
      /* three texts per name: past g's cap of two at the merge */
      const char *err = i % 3 == 0 ? oom_errors[(i / OOM_NAMES) % 5] : NULL;
      int rc = rl__stats_record(w, e, 1000 + (i << 20), 1, err, i / 10);
      assert_true(rc == 0 || rc == RL_ERR_NOMEM);
      any_nomem |= rc != 0;
      recorded++;
      failed += err != NULL;
    }
  }
  int merged = g != NULL && w != NULL ? rl__stats_merge(g, w) : -1;
  bool hit = fault_disarm();

  if (w != NULL) {
    /* every created entry is still found; counters never went missing */
    const rl__stats_entry **entries;
    size_t n = rl__stats_entries(w, &entries);
    uint64_t reqs = 0, fails = 0, hist = 0;
    for (size_t i = 0; i < n; i++) {
      assert_ptr_equal(
          rl__stats_entry_get(w, entries[i]->type, entries[i]->name),
          entries[i]);
      if (i > 0)
        assert_true(strcmp(entries[i - 1]->name, entries[i]->name) < 0);
      reqs += entries[i]->num_requests;
      fails += entries[i]->num_failures;
      hist += entries[i]->hist.count;
    }
    assert_int_equal(reqs, recorded);
    assert_int_equal(fails, failed);
    const rl__stats_error **errs;
    size_t ne = rl__stats_errors(w, &errs);
    uint64_t occ = 0;
    for (size_t i = 0; i < ne; i++)
      occ += errs[i]->occurrences;
    /* only a histogram value or an error row may be lost */
    if (!any_nomem) {
      assert_int_equal(occ, failed);
      assert_int_equal(hist, recorded);
    } else {
      assert_true(occ <= failed);
      assert_true(hist <= recorded);
    }

    if (merged == 0) {
      assert_int_equal(rl__stats_total(g)->num_requests, recorded);
      assert_int_equal(rl__stats_total(g)->num_failures, failed);
      const rl__stats_entry **gentries;
      assert_int_equal(rl__stats_entries(g, &gentries), n);
      assert_int_equal(rl__stats_errors(g, &errs), ne);
    } else if (merged == RL_ERR_NOMEM) {
      assert_true(rl__stats_total(g)->num_requests <= recorded);
    } else {
      assert_int_equal(merged, -1);
    }
    if (!hit) {
      assert_int_equal(recorded, 3 * OOM_NAMES);
      assert_int_equal(n, OOM_NAMES);
      assert_int_equal(merged, 0);
    }
    /* and the tables are usable again once memory is back */
    rl__stats_entry *e = rl__stats_entry_get(w, "GET", "/after");
    assert_non_null(e);
    assert_int_equal(rl__stats_record(w, e, 1, 1, "late", 99), 0);
    rl__stats_clear(w);
  }
  rl__stats_del(w);
  rl__stats_del(g);
  assert_int_equal(live_blocks, blocks);
  return hit;
}
#endif

static void test_out_of_memory(void **state) {
  (void)state;
#ifdef RL_TEST_FAULTS
  if (!faults_work())
    skip();
  long nth = 0;
  while (oom_run(nth))
    nth++;
  /* enough allocations to have failed each kind: tables, lists, nodes,
   * strings, chunks */
  assert_true(nth > 50);
#else
  skip();
#endif
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_new_is_empty),
      cmocka_unit_test(test_entry_get),
      cmocka_unit_test(test_record_counts),
      cmocka_unit_test(test_errors_grouped),
      cmocka_unit_test(test_error_cap),
      cmocka_unit_test(test_error_cap_merge),
      cmocka_unit_test(test_sorted_order),
      cmocka_unit_test(test_merge),
      cmocka_unit_test(test_current_rate),
      cmocka_unit_test(test_window_and_counts_before),
      cmocka_unit_test(test_merge_rings),
      cmocka_unit_test(test_clear_keeps_entries),
      cmocka_unit_test(test_out_of_memory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

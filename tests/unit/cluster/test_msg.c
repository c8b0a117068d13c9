/*
 * Unit tests for Locust's cluster messages (src/cluster/msg.c): Locust's
 * rounding of response times, round trips of every message we build,
 * stats with the exact histogram (percentiles equal bucket by bucket) and
 * in Locust's rounded shape, frames a real Locust sent
 * (tests/fuzz/cluster_msg/, tests/fuzz/capture_locust_frames.py) read as
 * Locust meant them, and malformed frames refused with a reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rpcload/plugin.h>

#include "cluster/msg.h"

#define MS 1000000ull

static void decode_ok(const rl__msg_out *o, rl__msg *m, const char *type,
                      const char *node) {
  char err[256] = "";
  int rc = rl__msg_decode(o->sb.data, o->sb.size, m, err, sizeof(err));
  if (rc != 0)
    fail_msg("decode: %s", err);
  assert_string_equal(m->type, type);
  assert_string_equal(m->node_id, node);
}

static void test_round_ms(void **state) {
  (void)state;
  /* Python: round(x) under 100, round(x, -1) under 1000, -2 under 10000,
   * -3 above; halves to even. */
  assert_int_equal(rl__msg_round_ms(0), 0);
  assert_int_equal(rl__msg_round_ms(4.0), 4);
  assert_int_equal(rl__msg_round_ms(12.5), 12);
  assert_int_equal(rl__msg_round_ms(13.5), 14);
  assert_int_equal(rl__msg_round_ms(99.6), 100);
  assert_int_equal(rl__msg_round_ms(145.0), 140);
  assert_int_equal(rl__msg_round_ms(147.0), 150);
  assert_int_equal(rl__msg_round_ms(155.0), 160);
  assert_int_equal(rl__msg_round_ms(3432.0), 3400);
  assert_int_equal(rl__msg_round_ms(58760.0), 59000);
}

static void test_round_trips(void **state) {
  (void)state;
  rl__msg_out o;
  rl__msg m;
  char err[256];
  rl__msg_out_init(&o);

  assert_int_equal(rl__msg_client_ready(&o, "2.12.1", "w1"), 0);
  decode_ok(&o, &m, "client_ready", "w1");
  char *version = NULL;
  assert_int_equal(rl__msg_read_client_ready(&m, &version, err, sizeof(err)),
                   0);
  assert_string_equal(version, "2.12.1");
  free(version);
  rl__msg_free(&m);

  assert_int_equal(rl__msg_ack(&o, 7, "w1"), 0);
  decode_ok(&o, &m, "ack", "w1");
  int64_t index = 0;
  assert_int_equal(rl__msg_read_ack(&m, &index, err, sizeof(err)), 0);
  assert_int_equal(index, 7);
  assert_false(rl__msg_ack_is_rpcload(&m));
  rl__msg_free(&m);

  assert_int_equal(rl__msg_ack_rpcload(&o, 3, "0.9.0", "w1"), 0);
  decode_ok(&o, &m, "ack", "w1");
  assert_int_equal(rl__msg_read_ack(&m, &index, err, sizeof(err)), 0);
  assert_int_equal(index, 3);
  assert_true(rl__msg_ack_is_rpcload(&m));
  rl__msg_free(&m);

  assert_int_equal(rl__msg_heartbeat(&o, "running", 12.5, 1 << 20, "w2"), 0);
  decode_ok(&o, &m, "heartbeat", "w2");
  char *st = NULL;
  double cpu = 0;
  assert_int_equal(rl__msg_read_heartbeat(&m, &st, &cpu, err, sizeof(err)), 0);
  assert_string_equal(st, "running");
  assert_true(cpu == 12.5);
  assert_false(rl__msg_is_rpcload(&m));
  free(st);
  rl__msg_free(&m);

  assert_int_equal(
      rl__msg_heartbeat_rpcload(&o, "ready", 1.0, 5, "0.9.0", "w2"), 0);
  decode_ok(&o, &m, "heartbeat", "w2");
  assert_int_equal(rl__msg_read_heartbeat(&m, &st, &cpu, err, sizeof(err)), 0);
  assert_string_equal(st, "ready");
  assert_true(rl__msg_is_rpcload(&m));
  free(st);
  rl__msg_free(&m);

  assert_int_equal(rl__msg_exception(&o, "boom", "Shop.browse", "w2"), 0);
  decode_ok(&o, &m, "exception", "w2");
  char *msg = NULL, *tb = NULL;
  assert_int_equal(rl__msg_read_exception(&m, &msg, &tb, err, sizeof(err)), 0);
  assert_string_equal(msg, "boom");
  assert_string_equal(tb, "Shop.browse");
  free(msg);
  free(tb);
  rl__msg_free(&m);

  rl__msg_class_count cls[2] = {{"Shopper", 7}, {"Admin", 1}};
  rl__msg_spawn job = {.timestamp = 1700000000.25,
                       .cls = cls,
                       .ncls = 2,
                       .host = "http://127.0.0.1:8080",
                       .stop_timeout = 2.5};
  assert_int_equal(rl__msg_spawn_build(&o, &job, "w3"), 0);
  decode_ok(&o, &m, "spawn", "w3");
  rl__msg_spawn got;
  assert_int_equal(rl__msg_read_spawn(&m, &got, err, sizeof(err)), 0);
  assert_true(got.timestamp == 1700000000.25);
  assert_int_equal(got.ncls, 2);
  assert_string_equal(got.cls[0].name, "Shopper");
  assert_int_equal(got.cls[0].count, 7);
  assert_string_equal(got.cls[1].name, "Admin");
  assert_int_equal(got.cls[1].count, 1);
  assert_string_equal(got.host, "http://127.0.0.1:8080");
  assert_true(got.stop_timeout == 2.5);
  rl__msg_spawn_free(&got);
  rl__msg_free(&m);

  assert_int_equal(rl__msg_spawning_complete(&o, cls, 2, "w3"), 0);
  decode_ok(&o, &m, "spawning_complete", "w3");
  rl__msg_report rep;
  assert_int_equal(rl__msg_read_spawning_complete(&m, &rep, err, sizeof(err)),
                   0);
  assert_int_equal(rep.user_count, 8);
  assert_int_equal(rep.ncls, 2);
  assert_string_equal(rep.cls[1].name, "Admin");
  rl__msg_report_free(&rep);
  rl__msg_free(&m);

  const char *nils[] = {"spawning", "stop", "client_stopped", "quit",
                        "reconnect"};
  for (size_t i = 0; i < sizeof(nils) / sizeof(nils[0]); i++) {
    assert_int_equal(rl__msg_nil(&o, nils[i], "w4"), 0);
    decode_ok(&o, &m, nils[i], "w4");
    assert_int_equal(m.data.type, MSGPACK_OBJECT_NIL);
    rl__msg_free(&m);
  }

  /* A custom message: any msgpack value as data. */
  rl__msg_begin(&o, "my_custom");
  msgpack_pack_array(&o.pk, 2);
  msgpack_pack_int(&o.pk, -3);
  rl__msg_pack_str(&o.pk, "x");
  assert_int_equal(rl__msg_end(&o, "master"), 0);
  decode_ok(&o, &m, "my_custom", "master");
  assert_int_equal(m.data.type, MSGPACK_OBJECT_ARRAY);
  assert_int_equal(m.data.via.array.size, 2);
  assert_int_equal(m.data.via.array.ptr[0].via.i64, -3);
  rl__msg_free(&m);

  rl__msg_out_free(&o);
}

/* A delta as a worker has one: recorded per thread, merged (so its total
 * is there). Times in ns. */
static rl__stats *make_delta(void) {
  rl__stats *w = rl__stats_new(), *delta = rl__stats_new();
  assert_non_null(w);
  assert_non_null(delta);
  rl__stats_entry *a = rl__stats_entry_get(w, "GET", "/a");
  rl__stats_entry *b = rl__stats_entry_get(w, "grpc", "hello.Greeter/Hi");
  for (uint64_t i = 1; i <= 1000; i++) {
    assert_int_equal(
        rl__stats_record(w, a, i * 37123 + 1000, 100, NULL, 3 + i % 3), 0);
    if (i % 10 == 0)
      assert_int_equal(rl__stats_record(w, b, i * 1234567, 5,
                                        i % 20 ? "UNAVAILABLE: down" : NULL, 4),
                       0);
  }
  rl__stats_record(w, a, 4 * MS, 0, "HTTP 500", 5);
  rl__stats_entry_get(w, "GET", "/never"); /* no request: left out */
  assert_int_equal(rl__stats_merge(delta, w), 0);
  rl__stats_del(w);
  return delta;
}

static const rl__stats_entry *find(rl__stats *s, const char *type,
                                   const char *name) {
  const rl__stats_entry **e = NULL;
  size_t n = rl__stats_entries(s, &e);
  for (size_t i = 0; i < n; i++)
    if (strcmp(e[i]->type, type) == 0 && strcmp(e[i]->name, name) == 0)
      return e[i];
  return NULL;
}

typedef struct bucket_list {
  uint64_t v[4096][2];
  size_t n;
} bucket_list;

static int collect(uint64_t lo, uint64_t hi, uint64_t count, void *arg) {
  (void)hi;
  bucket_list *l = arg;
  if (l->n < 4096) {
    l->v[l->n][0] = lo;
    l->v[l->n][1] = count;
  }
  l->n++;
  return 0;
}

static void assert_same_hist(const rl__histogram *x, const rl__histogram *y) {
  bucket_list *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
  assert_non_null(a);
  assert_non_null(b);
  rl__histogram_foreach(x, collect, a);
  rl__histogram_foreach(y, collect, b);
  assert_int_equal(a->n, b->n);
  assert_memory_equal(a->v, b->v, sizeof(a->v[0]) * (a->n < 4096 ? a->n : 0));
  assert_int_equal(x->min, y->min);
  assert_int_equal(x->max, y->max);
  const double ps[] = {0, 1, 50, 66, 90, 99, 99.9, 100};
  for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++)
    assert_int_equal(rl__histogram_percentile(x, ps[i]),
                     rl__histogram_percentile(y, ps[i]));
  free(a);
  free(b);
}

static void test_stats_exact(void **state) {
  (void)state;
  rl__stats *delta = make_delta();
  rl__msg_out o;
  rl__msg m;
  char err[256] = "";
  rl__msg_out_init(&o);
  rl__msg_class_count cls[1] = {{"Shopper", 4}};
  rl__msg_report rep = {.user_count = 4, .cls = cls, .ncls = 1};
  assert_int_equal(rl__msg_stats(&o, delta, 1700000000.0, 1700000003.0,
                                 1700000006.0, 1, &rep, "w1"),
                   0);
  decode_ok(&o, &m, "stats", "w1");
  assert_int_equal(rl__msg_get(&m.data, "stats")->via.array.size, 2);

  /* Read twice into one table: a master merging two workers. */
  rl__stats *master = rl__stats_new();
  rl__msg_report got;
  for (int i = 0; i < 2; i++) {
    int rc =
        rl__msg_read_stats(&m, master, 1700000000.0, &got, err, sizeof(err));
    if (rc != 0)
      fail_msg("read_stats: %s", err);
    assert_int_equal(got.user_count, 4);
    assert_int_equal(got.ncls, 1);
    assert_string_equal(got.cls[0].name, "Shopper");
    rl__msg_report_free(&got);
  }
  /* Two copies of the delta, merged here, are the reference. */
  rl__stats *ref = rl__stats_new();
  assert_int_equal(rl__stats_merge(ref, delta), 0);
  assert_int_equal(rl__stats_merge(ref, delta), 0);
  const char *keys[][2] = {{"GET", "/a"}, {"grpc", "hello.Greeter/Hi"}};
  for (size_t i = 0; i < 2; i++) {
    const rl__stats_entry *x = find(ref, keys[i][0], keys[i][1]);
    const rl__stats_entry *y = find(master, keys[i][0], keys[i][1]);
    assert_non_null(x);
    assert_non_null(y);
    assert_int_equal(x->num_requests, y->num_requests);
    assert_int_equal(x->num_failures, y->num_failures);
    assert_int_equal(x->total_ns, y->total_ns);
    assert_int_equal(x->bytes, y->bytes);
    assert_same_hist(&x->hist, &y->hist);
    /* The per-second counters went through Unix seconds and back. */
    for (uint64_t s = 0; s < 8; s++)
      assert_int_equal(rl__stats_entry_requests_before(x, s),
                       rl__stats_entry_requests_before(y, s));
  }
  assert_null(find(master, "GET", "/never"));
  assert_int_equal(rl__stats_total(master)->num_requests,
                   rl__stats_total(ref)->num_requests);
  assert_same_hist(&rl__stats_total(master)->hist, &rl__stats_total(ref)->hist);
  const rl__stats_error **ex = NULL, **ey = NULL;
  size_t nx = rl__stats_errors(ref, &ex), ny = rl__stats_errors(master, &ey);
  assert_int_equal(nx, 2);
  assert_int_equal(nx, ny);
  for (size_t i = 0; i < nx; i++) {
    assert_string_equal(ex[i]->error, ey[i]->error);
    assert_string_equal(ex[i]->name, ey[i]->name);
    assert_int_equal(ex[i]->occurrences, ey[i]->occurrences);
  }
  rl__stats_del(ref);
  rl__stats_del(master);
  rl__msg_free(&m);
  rl__msg_out_free(&o);
  rl__stats_del(delta);
}

/* Without the exact key, what a Locust master reads: times in ms, rounded
 * as Locust rounds them. */
static void test_stats_locust_shape(void **state) {
  (void)state;
  rl__stats *w = rl__stats_new(), *delta = rl__stats_new();
  rl__stats_entry *e = rl__stats_entry_get(w, "GET", "/x");
  const uint64_t times[] = {4 * MS, 147 * MS, 3432 * MS, 3432 * MS};
  for (size_t i = 0; i < 4; i++)
    rl__stats_record(w, e, times[i], 10, NULL, 2);
  rl__stats_merge(delta, w);
  rl__msg_out o;
  rl__msg m;
  rl__msg_out_init(&o);
  assert_int_equal(
      rl__msg_stats(&o, delta, 1000.5, 1001.0, 1003.0, 0, NULL, "w"), 0);
  decode_ok(&o, &m, "stats", "w");
  const msgpack_object *entry =
      &rl__msg_get(&m.data, "stats")->via.array.ptr[0];
  assert_null(rl__msg_get(entry, "rpcload"));
  const msgpack_object *rt = rl__msg_get(entry, "response_times");
  assert_int_equal(rt->via.map.size, 3);
  const int64_t want[][2] = {{4, 1}, {150, 1}, {3400, 2}};
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(rt->via.map.ptr[i].key.via.i64, want[i][0]);
    assert_int_equal(rt->via.map.ptr[i].val.via.u64, want[i][1]);
  }
  assert_true(rl__msg_get(entry, "total_response_time")->via.f64 ==
              4 + 147 + 3432 * 2);
  assert_true(rl__msg_get(entry, "min_response_time")->via.f64 == 4);
  assert_true(rl__msg_get(entry, "max_response_time")->via.f64 == 3432);
  const msgpack_object *ps = rl__msg_get(entry, "num_reqs_per_sec");
  assert_int_equal(ps->via.map.size, 1);
  assert_int_equal(ps->via.map.ptr[0].key.via.i64, 1002); /* 1000.5 + 2 */
  assert_int_equal(ps->via.map.ptr[0].val.via.u64, 4);
  rl__msg_free(&m);
  rl__msg_out_free(&o);
  rl__stats_del(w);
  rl__stats_del(delta);
}

static void *slurp(const char *name, size_t *len) {
  char path[1024];
  snprintf(path, sizeof(path), "%s/%s", RL_TEST_CLUSTER_FRAMES, name);
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    fail_msg("cannot open %s", path);
  char *buf = malloc(65536);
  assert_non_null(buf);
  *len = fread(buf, 1, 65536, f);
  fclose(f);
  return buf;
}

static void decode_file(const char *name, rl__msg *m, const char *type) {
  size_t len;
  void *buf = slurp(name, &len);
  char err[256] = "";
  int rc = rl__msg_decode(buf, len, m, err, sizeof(err));
  free(buf);
  if (rc != 0)
    fail_msg("%s: %s", name, err);
  assert_string_equal(m->type, type);
}

/* What a real Locust 2.12.1 sent (capture_locust_frames.py: a worker whose
 * task fires 4.0, 147.0, 3432.0 ms and a failing 12.5 ms, 10 bytes each). */
static void test_locust_frames(void **state) {
  (void)state;
  rl__msg m;
  char err[256] = "";

  decode_file("locust_worker_client_ready", &m, "client_ready");
  char *version = NULL;
  /* Debian's Locust knows no version of its own: it says "". */
  assert_int_equal(rl__msg_read_client_ready(&m, &version, err, sizeof(err)),
                   0);
  assert_string_equal(version, "");
  free(version);
  assert_non_null(strchr(m.node_id, '_'));
  rl__msg_free(&m);

  decode_file("locust_worker_heartbeat", &m, "heartbeat");
  char *st = NULL;
  double cpu = -1;
  assert_int_equal(rl__msg_read_heartbeat(&m, &st, &cpu, err, sizeof(err)), 0);
  assert_string_equal(st, "running");
  assert_true(cpu >= 0);
  free(st);
  rl__msg_free(&m);

  decode_file("locust_worker_spawning_complete", &m, "spawning_complete");
  rl__msg_report rep;
  assert_int_equal(rl__msg_read_spawning_complete(&m, &rep, err, sizeof(err)),
                   0);
  assert_int_equal(rep.user_count, 2);
  assert_int_equal(rep.ncls, 1);
  assert_string_equal(rep.cls[0].name, "Stub");
  rl__msg_report_free(&rep);
  rl__msg_free(&m);

  const char *nils[][2] = {{"locust_worker_spawning", "spawning"},
                           {"locust_worker_client_stopped", "client_stopped"},
                           {"locust_worker_quit", "quit"},
                           {"locust_master_quit", "quit"}};
  for (size_t i = 0; i < 4; i++) {
    decode_file(nils[i][0], &m, nils[i][1]);
    assert_int_equal(m.data.type, MSGPACK_OBJECT_NIL);
    rl__msg_free(&m);
  }

  decode_file("locust_master_ack", &m, "ack");
  int64_t index = -5;
  assert_int_equal(rl__msg_read_ack(&m, &index, err, sizeof(err)), 0);
  assert_int_equal(index, 0);
  rl__msg_free(&m);

  decode_file("locust_master_spawn", &m, "spawn");
  rl__msg_spawn job;
  assert_int_equal(rl__msg_read_spawn(&m, &job, err, sizeof(err)), 0);
  assert_true(job.timestamp > 1.6e9);
  assert_int_equal(job.ncls, 1);
  assert_string_equal(job.cls[0].name, "Stub");
  assert_int_equal(job.cls[0].count, 3);
  assert_null(job.host);             /* nil: the worker's own */
  assert_true(job.stop_timeout < 0); /* nil */
  rl__msg_spawn_free(&job);
  rl__msg_free(&m);

  decode_file("locust_worker_stats", &m, "stats");
  rl__stats *s = rl__stats_new();
  /* The run began before the first of its seconds. */
  double start = rl__msg_get(&rl__msg_get(&m.data, "stats")->via.array.ptr[0],
                             "start_time")
                     ->via.f64 -
                 1;
  if (rl__msg_read_stats(&m, s, start, &rep, err, sizeof(err)) != 0)
    fail_msg("read_stats: %s", err);
  assert_int_equal(rep.user_count, 2);
  rl__msg_report_free(&rep);
  const rl__stats_entry *e = find(s, "GET", "/x");
  assert_non_null(e);
  uint64_t n = e->num_requests;
  assert_true(n > 0 && n % 4 == 0);
  assert_int_equal(e->num_failures, n / 4);
  assert_int_equal(e->bytes, 10 * n);
  assert_int_equal(e->total_ns,
                   (4000 + 147000 + 3432000 + 12500) * MS / 1000 * (n / 4));
  /* Locust's rounded times: 4, 12 (12.5 to even), 150, 3400 ms; min and
   * max exact. */
  assert_int_equal(e->hist.count, n);
  assert_int_equal(e->hist.min, 4 * MS);
  assert_int_equal(e->hist.max, 3432 * MS);
  uint64_t lo, hi;
  uint64_t p50 = rl__histogram_percentile(&e->hist, 50);
  rl__histogram_bucket_range(12 * MS, &lo, &hi);
  assert_true(p50 >= lo && p50 <= hi);
  uint64_t p75 = rl__histogram_percentile(&e->hist, 75);
  rl__histogram_bucket_range(150 * MS, &lo, &hi);
  assert_true(p75 >= lo && p75 <= hi);
  assert_int_equal(rl__stats_entry_requests_before(e, UINT64_MAX), n);
  const rl__stats_error **errs = NULL;
  assert_int_equal(rl__stats_errors(s, &errs), 1);
  assert_string_equal(errs[0]->error, "RuntimeError('boom')");
  assert_int_equal(errs[0]->occurrences, n / 4);
  assert_int_equal(rl__stats_total(s)->num_requests, n);
  rl__stats_del(s);
  rl__msg_free(&m);
}

/* Our error key is Locust's for a plain text (sha256 of method.name and
 * the text's repr's repr). */
static void test_error_key_is_locusts(void **state) {
  (void)state;
  rl__stats *w = rl__stats_new(), *delta = rl__stats_new();
  rl__stats_entry *e = rl__stats_entry_get(w, "GET", "/x");
  rl__stats_record(w, e, MS, 0, "boom", 1);
  rl__stats_merge(delta, w);
  rl__msg_out o;
  rl__msg m;
  rl__msg_out_init(&o);
  assert_int_equal(rl__msg_stats(&o, delta, 0, 0, 1, 0, NULL, "w"), 0);
  decode_ok(&o, &m, "stats", "w");
  const msgpack_object *errors = rl__msg_get(&m.data, "errors");
  assert_int_equal(errors->via.map.size, 1);
  /* Locust's own: StatsError.create_key("GET", "/x", "boom"). */
  const char *want =
      "69e2508416f13dd034e2e5fe155d7a3ce6b296967f856ece48dbc99e2e4e24df";
  char key[65] = "";
  assert_int_equal(errors->via.map.ptr[0].key.via.str.size, 64);
  memcpy(key, errors->via.map.ptr[0].key.via.str.ptr, 64);
  assert_string_equal(key, want);
  rl__msg_free(&m);
  rl__msg_out_free(&o);
  rl__stats_del(w);
  rl__stats_del(delta);
}

static void test_malformed(void **state) {
  (void)state;
  static const struct {
    const char *what;
    const char *bytes;
    size_t len;
  } bad[] = {
      {"empty", "", 0},
      {"never used byte", "\xc1", 1},
      {"not an array", "\x01", 1},
      {"two items", "\x92\xa1x\xc0", 4},
      {"type no string", "\x93\x01\xc0\xa1w", 5},
      {"node no string", "\x93\xa1x\xc0\x01", 5},
      {"cut short", "\x93\xa4stat", 6},
      {"array32 of 4 billion", "\xdd\xff\xff\xff\xff", 5},
      {"map32 of 4 billion", "\x93\xa1x\xdf\xff\xff\xff\xff\xa1w", 10},
      {"str32 past the end", "\x93\xa1x\xdb\x00\x01\x00\x00\xa1w", 10},
      {"trailing bytes", "\x93\xa1x\xc0\xa1w\x00", 7},
      {"NUL in type", "\x93\xa2x\x00\xc0\xa1w", 7},
      {"bin8 cut", "\x93\xa1x\xc4\x09\xa1w", 7},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    rl__msg m;
    char err[256] = "";
    int rc = rl__msg_decode(bad[i].bytes, bad[i].len, &m, err, sizeof(err));
    if (rc != RL_ERR_PROTO)
      fail_msg("%s: got %d", bad[i].what, rc);
    assert_true(err[0] != '\0');
  }

  /* 1000 nested arrays: refused by depth, not by a stack overflow. */
  char deep[1100];
  deep[0] = '\x93';
  deep[1] = '\xa1';
  deep[2] = 'x';
  for (size_t i = 3; i < 1003; i++)
    deep[i] = '\x91';
  deep[1003] = '\xc0';
  deep[1004] = '\xa1';
  deep[1005] = 'w';
  rl__msg m;
  char err[256] = "";
  assert_int_equal(rl__msg_decode(deep, 1006, &m, err, sizeof(err)),
                   RL_ERR_PROTO);
  assert_non_null(strstr(err, "deep"));

  /* Every cut of a real frame is refused cleanly. */
  size_t len;
  char *frame = slurp("locust_worker_stats", &len);
  for (size_t cut = 0; cut < len; cut++)
    assert_int_equal(rl__msg_decode(frame, cut, &m, err, sizeof(err)),
                     RL_ERR_PROTO);
  free(frame);

  /* Well-formed frames with data of the wrong shape: refused by the
   * readers, naming what, and nothing merged. */
  rl__msg_out o;
  rl__msg_out_init(&o);
  rl__stats *s = rl__stats_new();
  rl__msg_report rep;
  const char *shapes[] = {"stats_not_list", "entry_no_name", "rt_bad_key",
                          "bad_count", "error_bad"};
  for (size_t i = 0; i < 5; i++) {
    rl__msg_begin(&o, "stats");
    msgpack_packer *pk = &o.pk;
    msgpack_pack_map(pk, 2);
    rl__msg_pack_str(pk, "stats");
    if (i == 0) {
      msgpack_pack_int(pk, 3);
    } else {
      msgpack_pack_array(pk, 1);
      msgpack_pack_map(pk, 5);
      rl__msg_pack_str(pk, "name");
      if (i == 1)
        msgpack_pack_int(pk, 1);
      else
        rl__msg_pack_str(pk, "/x");
      rl__msg_pack_str(pk, "method");
      rl__msg_pack_str(pk, "GET");
      rl__msg_pack_str(pk, "num_requests");
      if (i == 3)
        msgpack_pack_int(pk, -1);
      else
        msgpack_pack_int(pk, 1);
      rl__msg_pack_str(pk, "num_failures");
      msgpack_pack_int(pk, 0);
      rl__msg_pack_str(pk, "response_times");
      msgpack_pack_map(pk, 1);
      if (i == 2)
        rl__msg_pack_str(pk, "12");
      else
        msgpack_pack_int(pk, 12);
      msgpack_pack_int(pk, 1);
    }
    rl__msg_pack_str(pk, "errors");
    msgpack_pack_map(pk, i == 4 ? 1 : 0);
    if (i == 4) {
      rl__msg_pack_str(pk, "k");
      msgpack_pack_map(pk, 1);
      rl__msg_pack_str(pk, "name");
      rl__msg_pack_str(pk, "/x");
    }
    assert_int_equal(rl__msg_end(&o, "w"), 0);
    decode_ok(&o, &m, "stats", "w");
    err[0] = '\0';
    int rc = rl__msg_read_stats(&m, s, 0, &rep, err, sizeof(err));
    if (rc != RL_ERR_PROTO)
      fail_msg("%s: got %d", shapes[i], rc);
    assert_true(strncmp(err, "stats:", 6) == 0);
    rl__msg_free(&m);
  }
  const rl__stats_entry **entries = NULL;
  assert_int_equal(rl__stats_entries(s, &entries), 0);
  rl__stats_del(s);

  rl__msg_begin(&o, "spawn");
  msgpack_pack_map(&o.pk, 1);
  rl__msg_pack_str(&o.pk, "timestamp");
  msgpack_pack_double(&o.pk, 1.0);
  rl__msg_end(&o, "w");
  decode_ok(&o, &m, "spawn", "w");
  rl__msg_spawn job;
  assert_int_equal(rl__msg_read_spawn(&m, &job, err, sizeof(err)),
                   RL_ERR_PROTO);
  assert_non_null(strstr(err, "user_classes_count"));
  rl__msg_free(&m);
  rl__msg_out_free(&o);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_ms),
      cmocka_unit_test(test_round_trips),
      cmocka_unit_test(test_stats_exact),
      cmocka_unit_test(test_stats_locust_shape),
      cmocka_unit_test(test_locust_frames),
      cmocka_unit_test(test_error_key_is_locusts),
      cmocka_unit_test(test_malformed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

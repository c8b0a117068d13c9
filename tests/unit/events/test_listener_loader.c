/*
 * The listener loader and the event table: broken listeners (the
 * recorder built in variants by tests/listeners/) are refused with a
 * message naming the file and what is wrong; a good one is initialised
 * with its options; the request event lets a listener fail a request;
 * messages are delivered locally; the report tells what a second added.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "events/events.h"

#define LISTENER(name) RL_TEST_LISTENER_DIR "/" name ".so"

static void refused(const char *path, int expect_rc, const char *const *words) {
  rl__events ev;
  rl__listener *l = NULL;
  char err[1024] = "";
  rl__events_init(&ev);
  int rc = rl__events_load(&ev, path, &l, err, sizeof err);
  assert_int_equal(rc, expect_rc);
  assert_null(l);
  assert_int_equal(ev.n, 0);
  assert_non_null(strstr(err, path)); /* names the file */
  for (; *words; words++)
    if (!strstr(err, *words))
      fail_msg("'%s' missing from: %s", *words, err);
  rl__events_free(&ev);
}

static void test_wrong_major(void **state) {
  (void)state;
  char want[32];
  snprintf(want, sizeof want, "ABI %d.%d", RL_LISTENER_ABI_MAJOR,
           RL_LISTENER_ABI_MINOR);
  char theirs[32];
  snprintf(theirs, sizeof theirs, "ABI %d.0", RL_LISTENER_ABI_MAJOR + 1);
  const char *words[] = {"listener ABI", want, theirs, "rebuild", NULL};
  refused(LISTENER("recorder_wrong_major"), RL_ERR_ABI, words);
}

static void test_short_descriptor(void **state) {
  (void)state;
  const char *words[] = {"descriptor is", "needs at least", NULL};
  refused(LISTENER("recorder_short"), RL_ERR_ABI, words);
}

static void test_missing_symbol(void **state) {
  (void)state;
  const char *words[] = {"not an rpcload listener", "rl_listener_entry", NULL};
  refused(LISTENER("recorder_no_entry"), RL_ERR_ABI, words);
}

static void test_null_entry(void **state) {
  (void)state;
  const char *words[] = {"returned NULL", NULL};
  refused(LISTENER("recorder_null_entry"), RL_ERR_ABI, words);
}

static void test_missing_name(void **state) {
  (void)state;
  const char *words[] = {"required", "'name'", NULL};
  refused(LISTENER("recorder_no_name"), RL_ERR_ABI, words);
}

static void test_no_such_file(void **state) {
  (void)state;
  const char *words[] = {"cannot load listener", NULL};
  refused(LISTENER("no_such_listener"), RL_ERR_NOTFOUND, words);
}

/* A protocol plugin is no listener: it lacks the entry symbol. */
static void test_protocol_plugin_refused(void **state) {
  (void)state;
  const char *words[] = {"not an rpcload listener", NULL};
  refused(RL_TEST_PLUGIN_DIR "/http1.so", RL_ERR_ABI, words);
}

static void test_options(void **state) {
  (void)state;
  rl__events ev;
  rl__listener *l = NULL;
  char err[512] = "";
  rl__events_init(&ev);
  assert_int_equal(
      rl__events_load(&ev, LISTENER("recorder_good"), &l, err, sizeof err), 0);
  assert_string_equal(l->desc.name, "recorder");
  assert_true(ev.any_request && ev.any_report && ev.any_user_error);
  assert_int_equal(rl__listener_add_option(l, "novalue", err, sizeof err),
                   RL_ERR_INVAL);
  assert_non_null(strstr(err, "KEY=VALUE"));
  assert_int_equal(rl__listener_add_option(l, "=x", err, sizeof err),
                   RL_ERR_INVAL);
  /* The recorder refuses an option it does not know: init says so with
   * the listener's name and file. */
  assert_int_equal(rl__listener_add_option(l, "bogus=1", err, sizeof err), 0);
  assert_int_not_equal(rl__events_start(&ev, err, sizeof err), 0);
  assert_non_null(strstr(err, "recorder"));
  assert_non_null(strstr(err, "unknown option 'bogus'"));
  assert_non_null(strstr(err, LISTENER("recorder_good")));
  rl__events_free(&ev);
}

/* ---- the table with listeners in memory --------------------------------- */

typedef struct seen {
  int thread_new, thread_del, requests, messages, reports;
  uint64_t report_requests, report_failures;
  char last_error[128];
} seen;

static seen g;

static int m_init(const rl_listener_host *host, const rl_kv *o, size_t n,
                  void **state, char *err, size_t errlen) {
  (void)host;
  (void)o;
  (void)n;
  (void)err;
  (void)errlen;
  *state = &g;
  return 0;
}

static void *m_thread_new(void *state, uint32_t worker) {
  ((seen *)state)->thread_new++;
  return (void *)(uintptr_t)(worker + 100);
}

static void m_thread_del(void *state, void *ctx) {
  assert_int_equal((uintptr_t)ctx, 103); /* its own thread's context */
  ((seen *)state)->thread_del++;
}

/* Fails what is named /slow; records what the previous listener left. */
static const char *failer(void *ctx, const rl_request_event *e) {
  assert_int_equal((uintptr_t)ctx, 103);
  g.requests++;
  return strcmp(e->name, "/slow") == 0 ? "too slow" : NULL;
}

static const char *watcher(void *ctx, const rl_request_event *e) {
  (void)ctx;
  snprintf(g.last_error, sizeof g.last_error, "%s", e->error ? e->error : "-");
  return NULL;
}

static void m_report(void *state, const rl_report *rep) {
  seen *s = state;
  s->reports++;
  s->report_requests = s->report_failures = 0;
  for (size_t i = 0; i < rep->n_rows; i++) {
    s->report_requests += rep->rows[i].num_requests;
    s->report_failures += rep->rows[i].num_failures;
  }
}

static void on_msg(void *arg, const char *type, const void *data, size_t len) {
  (void)type;
  assert_int_equal(len, 2);
  assert_memory_equal(data, "hi", 2);
  ((seen *)arg)->messages++;
}

static void test_request_and_messages(void **state) {
  (void)state;
  memset(&g, 0, sizeof g);
  rl_listener a = {.abi_version = RL_LISTENER_ABI_VERSION,
                   .struct_size = sizeof a,
                   .name = "failer",
                   .version = "1",
                   .init = m_init,
                   .thread_new = m_thread_new,
                   .thread_del = m_thread_del,
                   .on_request = failer,
                   .report = m_report};
  rl_listener b = {.abi_version = RL_LISTENER_ABI_VERSION,
                   .struct_size = sizeof b,
                   .name = "watcher",
                   .version = "1",
                   .on_request = watcher};
  rl__events ev;
  rl__listener *l;
  char err[256];
  rl__events_init(&ev);
  /* No listener: no thread view, nothing on the request path. */
  assert_null(rl__events_thread_new(&ev, 0));
  assert_int_equal(rl__events_add(&ev, &a, "failer", &l, err, sizeof err), 0);
  assert_int_equal(rl__events_add(&ev, &b, "watcher", &l, err, sizeof err), 0);
  assert_int_equal(rl__events_start(&ev, err, sizeof err), 0);
  rl__events_thread *th = rl__events_thread_new(&ev, 3);
  assert_non_null(th);
  assert_int_equal(g.thread_new, 1);
  rl_request_event e = {.type = "GET", .name = "/fast", .error = NULL};
  assert_null(rl__events_request(th, &e));
  assert_string_equal(g.last_error, "-");
  rl_request_event slow = {.type = "GET", .name = "/slow"};
  assert_string_equal(rl__events_request(th, &slow), "too slow");
  /* The listener after it sees the request failed. */
  assert_string_equal(g.last_error, "too slow");
  /* A failure stays one (a listener's NULL changes nothing). */
  rl_request_event bad = {.type = "GET", .name = "/fast", .error = "500"};
  assert_string_equal(rl__events_request(th, &bad), "500");
  assert_int_equal(g.requests, 3);
  rl__events_thread_del(th);
  assert_int_equal(g.thread_del, 1);

  /* Messages: delivered locally, before send_message returns. */
  const rl_listener_host *h = &ev.host;
  assert_int_equal(h->send_message(h, "greet", "hi", 2), RL_ERR_NOTFOUND);
  assert_int_equal(h->register_message(h, "greet", on_msg, &g), 0);
  assert_int_equal(h->register_message(h, "greet", on_msg, &g), 0);
  assert_int_equal(h->send_message(h, "greet", "hi", 2), 2);
  assert_int_equal(g.messages, 2);

  /* The report: what each snapshot added; a reset counts afresh. */
  rl__stats *stats = rl__stats_new();
  rl__stats_entry *en = rl__stats_entry_get(stats, "GET", "/x");
  for (int i = 0; i < 5; i++)
    rl__stats_record(stats, en, 1000, 10, i == 0 ? "boom" : NULL, 0);
  rl__events_snapshot(&ev, stats);
  rl__events_report(&ev, 1);
  assert_int_equal(g.reports, 1);
  assert_int_equal(g.report_requests, 5);
  assert_int_equal(g.report_failures, 1);
  rl__events_snapshot(&ev, stats); /* nothing new: no report */
  rl__events_report(&ev, 1);
  assert_int_equal(g.reports, 1);
  rl__stats_record(stats, en, 1000, 10, NULL, 1);
  rl__stats_record(stats, en, 1000, 10, NULL, 1);
  rl__events_snapshot(&ev, stats);
  rl__events_report(&ev, 1);
  assert_int_equal(g.reports, 2);
  assert_int_equal(g.report_requests, 2);
  rl__stats_clear(stats);
  rl__stats_record(stats, en, 1000, 10, NULL, 2);
  rl__events_snapshot(&ev, stats);
  rl__events_report(&ev, 1);
  assert_int_equal(g.reports, 3);
  assert_int_equal(g.report_requests, 1);
  rl__stats_del(stats);
  rl__events_free(&ev);
}

/* user_error: queued from any thread, delivered on the main thread's
 * next call; a table with no listener of it queues nothing. */
static int errors_seen;
static void m_user_error(void *state, const rl_user_error *e) {
  (void)state;
  assert_string_equal(e->error, "HTTP 500");
  assert_string_equal(e->user_class, "Shopper");
  assert_int_equal(e->user_id, 7);
  errors_seen++;
}

static void test_user_error(void **state) {
  (void)state;
  rl_listener a = {.abi_version = RL_LISTENER_ABI_VERSION,
                   .struct_size = sizeof a,
                   .name = "errs",
                   .version = "1",
                   .user_error = m_user_error};
  rl__events ev;
  rl__listener *l;
  char err[256];
  rl__events_init(&ev);
  assert_int_equal(rl__events_add(&ev, &a, "errs", &l, err, sizeof err), 0);
  assert_int_equal(rl__events_start(&ev, err, sizeof err), 0);
  rl_user_error e = {.struct_size = sizeof e,
                     .user_id = 7,
                     .user_class = "Shopper",
                     .type = "GET",
                     .name = "/cart",
                     .error = "HTTP 500"};
  rl__events_user_error(&ev, &e);
  rl__events_user_error(&ev, &e);
  assert_int_equal(errors_seen, 0);
  rl__events_deliver_errors(&ev);
  assert_int_equal(errors_seen, 2);
  rl__events_user_error(&ev, &e); /* freed unheard by rl__events_free */
  rl__events_free(&ev);
  assert_int_equal(errors_seen, 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_wrong_major),
      cmocka_unit_test(test_short_descriptor),
      cmocka_unit_test(test_missing_symbol),
      cmocka_unit_test(test_null_entry),
      cmocka_unit_test(test_missing_name),
      cmocka_unit_test(test_no_such_file),
      cmocka_unit_test(test_protocol_plugin_refused),
      cmocka_unit_test(test_options),
      cmocka_unit_test(test_request_and_messages),
      cmocka_unit_test(test_user_error),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

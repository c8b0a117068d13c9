/*
 * engine/rtarget: the table of targets added while a run goes. A fake
 * builder (no plugin: a hand-made target of a codec) counts its calls,
 * fails for the host "bad", and can be held, so a test sees a build in
 * progress; each thread's loop is driven by hand, every wait bounded.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ev.h>

#include <cmocka.h>

#include <rpcload/plugin.h>

#include "base/clock.h"
#include "engine/loop.h"
#include "engine/plan.h"
#include "engine/rtarget.h"
#include "engine/target.h"

#define WAIT_NS (5 * RL__NS_PER_SEC)

static rl__plugin codec = {.desc = {.kind = RL_PLUGIN_CODEC}};

typedef struct builder {
  atomic_int builds;
  atomic_int hold; /* nonzero: builds wait until it is cleared */
  atomic_int freed;
} builder;

static int fake_build(void *ctx, const rl__plan_class *cls, size_t request,
                      const char *host, rl__plan_step *out, char *err,
                      size_t errlen) {
  (void)cls;
  (void)request;
  builder *b = ctx;
  atomic_fetch_add(&b->builds, 1);
  uint64_t until = rl__now_ns() + WAIT_NS;
  while (atomic_load(&b->hold) && rl__now_ns() < until) {
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
  }
  if (strcmp(host, "bad") == 0) {
    snprintf(err, errlen, "cannot resolve host 'bad'");
    return RL_ERR_INVAL;
  }
  rl__target *t = calloc(1, sizeof *t);
  if (!t || !(t->host = strdup(host))) {
    free(t);
    return RL_ERR_NOMEM;
  }
  /* "h:port": hosts differing after a '#' are one endpoint. */
  char *hash = strchr(t->host, '#');
  if (hash)
    *hash = '\0';
  t->plugin = &codec;
  t->port = 80;
  *out = (rl__plan_step){.kind = RL__STEP_REQUEST, .target = t};
  return 0;
}

static void ctx_gone(void *ctx) { atomic_store(&((builder *)ctx)->freed, 1); }

static void no_event(rl_loop *loop) { (void)loop; }

static void loop_init(rl_loop *lp) {
  memset(lp, 0, sizeof *lp);
  lp->ev = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
  assert_non_null(lp->ev);
  lp->after_event = no_event;
}

static void loop_free(rl_loop *lp) {
  rl__rt_thread_del(lp);
  ev_loop_destroy(lp->ev);
}

typedef struct waiter {
  rl__rt_wait w;
  int called;
} waiter;

static void on_ready(rl__rt_wait *w) { ((waiter *)(void *)w)->called++; }

/* Runs lp until *flag is set (bounded). */
static void run_until(rl_loop *lp, const int *flag) {
  uint64_t until = rl__now_ns() + WAIT_NS;
  while (!*flag && rl__now_ns() < until) {
    ev_run(lp->ev, EVRUN_NOWAIT);
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
  }
  assert_true(*flag);
}

/* Two classes: only their addresses are keys. */
static rl__plan_class cls_a, cls_b;

static void test_a_target_is_built_once_and_wakes_its_waiter(void **state) {
  (void)state;
  builder b = {0};
  rl__rtargets *t = rl__rtargets_new(0, fake_build, &b, ctx_gone);
  assert_non_null(t);
  assert_int_equal(rl__rtargets_cap(t), RL_USER_MAX_RUNTIME_TARGETS);
  rl_loop lp;
  loop_init(&lp);
  atomic_store(&b.hold, 1);
  rl__rtarget *e = NULL, *again = NULL;
  assert_int_equal(rl__rt_get(&lp, t, &cls_a, 2, "h:1", &e), 0);
  assert_int_equal(atomic_load(&e->state), RL__RT_BUILDING);
  waiter w = {.w = {.entry = e, .ready = on_ready}};
  rl__rt_wait_add(&lp, &w.w);
  /* Asked again while it builds: the same one, not a second build. */
  assert_int_equal(rl__rt_get(&lp, t, &cls_a, 2, "h:1", &again), 0);
  assert_ptr_equal(again, e);
  ev_run(lp.ev, EVRUN_NOWAIT);
  assert_int_equal(w.called, 0); /* still building */
  atomic_store(&b.hold, 0);
  run_until(&lp, &w.called);
  assert_int_equal(w.called, 1);
  assert_int_equal(atomic_load(&e->state), RL__RT_READY);
  assert_string_equal(e->step.target->host, "h:1");
  assert_int_equal(e->conn, 0);
  /* Another request or class is another target. */
  rl__rtarget *other = NULL, *third = NULL;
  assert_int_equal(rl__rt_get(&lp, t, &cls_a, 3, "h:1", &other), 0);
  assert_int_equal(rl__rt_get(&lp, t, &cls_b, 2, "h:1", &third), 0);
  assert_ptr_not_equal(other, e);
  assert_ptr_not_equal(third, e);
  assert_ptr_not_equal(third, other);
  assert_int_equal(rl__rtargets_count(t), 3);
  waiter w3 = {.w = {.entry = third, .ready = on_ready}};
  rl__rt_wait_add(&lp, &w3.w);
  run_until(&lp, &w3.called); /* built in order: `other` first */
  assert_int_equal(atomic_load(&b.builds), 3);
  loop_free(&lp);
  rl__rtargets_del(t);
  assert_int_equal(atomic_load(&b.freed), 1);
}

static void test_one_endpoint_shares_a_connection(void **state) {
  (void)state;
  builder b = {0};
  rl__rtargets *t = rl__rtargets_new(0, fake_build, &b, ctx_gone);
  rl_loop lp;
  loop_init(&lp);
  const char *hosts[3] = {"h:1#a", "h:2", "h:1#b"};
  rl__rtarget *e[3];
  for (int i = 0; i < 3; i++) {
    assert_int_equal(rl__rt_get(&lp, t, &cls_a, 0, hosts[i], &e[i]), 0);
    waiter w = {.w = {.entry = e[i], .ready = on_ready}};
    rl__rt_wait_add(&lp, &w.w);
    run_until(&lp, &w.called);
  }
  assert_int_equal(e[0]->conn, 0);
  assert_int_equal(e[1]->conn, 1);
  assert_int_equal(e[2]->conn, 0); /* h:1 again */
  loop_free(&lp);
  rl__rtargets_del(t);
}

static void test_a_failed_build_keeps_its_reason(void **state) {
  (void)state;
  builder b = {0};
  rl__rtargets *t = rl__rtargets_new(0, fake_build, &b, ctx_gone);
  rl_loop lp;
  loop_init(&lp);
  rl__rtarget *e = NULL;
  assert_int_equal(rl__rt_get(&lp, t, &cls_a, 0, "bad", &e), 0);
  waiter w = {.w = {.entry = e, .ready = on_ready}};
  rl__rt_wait_add(&lp, &w.w);
  run_until(&lp, &w.called);
  assert_int_equal(atomic_load(&e->state), RL__RT_FAILED);
  assert_string_equal(e->error, "cannot resolve host 'bad'");
  /* Failed for the run: asked again, no new build. */
  rl__rtarget *again = NULL;
  assert_int_equal(rl__rt_get(&lp, t, &cls_a, 0, "bad", &again), 0);
  assert_ptr_equal(again, e);
  loop_free(&lp);
  rl__rtargets_del(t);
  assert_int_equal(atomic_load(&b.builds), 1);
}

static void test_past_the_cap_busy(void **state) {
  (void)state;
  builder b = {0};
  rl__rtargets *t = rl__rtargets_new(3, fake_build, &b, ctx_gone);
  rl_loop lp;
  loop_init(&lp);
  rl__rtarget *e = NULL;
  const char *hosts[3] = {"a:1", "bad", "c:1"};
  for (int i = 0; i < 3; i++)
    assert_int_equal(rl__rt_get(&lp, t, &cls_a, 0, hosts[i], &e), 0);
  assert_int_equal(rl__rt_get(&lp, t, &cls_a, 0, "d:1", &e), RL_ERR_BUSY);
  assert_int_equal(rl__rt_get(&lp, t, &cls_a, 1, "a:1", &e), RL_ERR_BUSY);
  /* The ones it has are still found. */
  assert_int_equal(rl__rt_get(&lp, t, &cls_a, 0, "c:1", &e), 0);
  assert_int_equal(rl__rtargets_count(t), 3);
  loop_free(&lp);
  rl__rtargets_del(t); /* with builds still queued */
}

/* A second thread with its own loop asks for the same target as the
 * first while it builds. */
typedef struct other_thread {
  rl__rtargets *t;
  rl__rtarget *e;
  int rc, called;
} other_thread;

static void *other_main(void *arg) {
  other_thread *o = arg;
  rl_loop lp;
  memset(&lp, 0, sizeof lp);
  lp.ev = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
  lp.after_event = no_event;
  o->rc = rl__rt_get(&lp, o->t, &cls_a, 0, "h:9", &o->e);
  waiter w = {.w = {.entry = o->e, .ready = on_ready}};
  if (!o->rc) {
    rl__rt_wait_add(&lp, &w.w);
    uint64_t until = rl__now_ns() + WAIT_NS;
    while (!w.called && rl__now_ns() < until) {
      ev_run(lp.ev, EVRUN_NOWAIT);
      struct timespec ms = {0, 1000000};
      nanosleep(&ms, NULL);
    }
  }
  o->called = w.called;
  rl__rt_thread_del(&lp);
  ev_loop_destroy(lp.ev);
  return NULL;
}

static void test_two_threads_at_once_build_one(void **state) {
  (void)state;
  builder b = {0};
  rl__rtargets *t = rl__rtargets_new(0, fake_build, &b, ctx_gone);
  rl_loop lp;
  loop_init(&lp);
  atomic_store(&b.hold, 1);
  rl__rtarget *e = NULL;
  assert_int_equal(rl__rt_get(&lp, t, &cls_a, 0, "h:9", &e), 0);
  waiter w = {.w = {.entry = e, .ready = on_ready}};
  rl__rt_wait_add(&lp, &w.w);
  other_thread o = {.t = t};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, other_main, &o), 0);
  /* Let the other thread ask while the build is held. */
  uint64_t until = rl__now_ns() + WAIT_NS;
  while (!o.e && rl__now_ns() < until) {
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
  }
  atomic_store(&b.hold, 0);
  run_until(&lp, &w.called);
  pthread_join(th, NULL);
  assert_int_equal(o.rc, 0);
  assert_ptr_equal(o.e, e);
  assert_int_equal(o.called, 1); /* both threads woken */
  assert_int_equal(atomic_load(&b.builds), 1);
  loop_free(&lp);
  rl__rtargets_del(t);
}

static void test_a_cancelled_wait_is_not_called(void **state) {
  (void)state;
  builder b = {0};
  rl__rtargets *t = rl__rtargets_new(0, fake_build, &b, ctx_gone);
  rl_loop lp;
  loop_init(&lp);
  atomic_store(&b.hold, 1);
  rl__rtarget *e = NULL;
  assert_int_equal(rl__rt_get(&lp, t, &cls_a, 0, "h:1", &e), 0);
  waiter gone = {.w = {.entry = e, .ready = on_ready}};
  waiter kept = {.w = {.entry = e, .ready = on_ready}};
  rl__rt_wait_add(&lp, &gone.w);
  rl__rt_wait_add(&lp, &kept.w);
  rl__rt_wait_cancel(&lp, &gone.w);
  atomic_store(&b.hold, 0);
  run_until(&lp, &kept.called);
  assert_int_equal(gone.called, 0);
  loop_free(&lp);
  rl__rtargets_del(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_a_target_is_built_once_and_wakes_its_waiter),
      cmocka_unit_test(test_one_endpoint_shares_a_connection),
      cmocka_unit_test(test_a_failed_build_keeps_its_reason),
      cmocka_unit_test(test_past_the_cap_busy),
      cmocka_unit_test(test_two_threads_at_once_build_one),
      cmocka_unit_test(test_a_cancelled_wait_is_not_called),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

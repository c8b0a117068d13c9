#include "engine/lag.h"

#include "base/clock.h"

/* How long a poll may sleep at most: the bound an oversleep is measured
 * against. Ten wake-ups a second per thread cost nothing; a stall shorter
 * than this but longer than RL__LAG_MIN_NS while sleeping is only seen
 * when a heartbeat or an event was due in it. */
#define BEAT_NS (100 * 1000000ull)

static void record(rl__lag_meter *m, uint64_t ns) {
  if (ns < RL__LAG_MIN_NS)
    return;
  atomic_fetch_add_explicit(&m->stalls, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&m->total_ns, ns, memory_order_relaxed);
  if (ns > atomic_load_explicit(&m->max_ns, memory_order_relaxed))
    atomic_store_explicit(&m->max_ns, ns, memory_order_relaxed);
}

static void arm_beat(rl__lag_meter *m, uint64_t now) {
  /* libev's own due time is ev_now + BEAT_NS, ev_now being at most now:
   * ours is never earlier than libev's, so a poll that returns by ours is
   * on time. */
  m->beat_due_ns = now + BEAT_NS;
  ev_timer_set(&m->beat, (double)BEAT_NS / 1e9, 0.);
  ev_timer_start(m->ev, &m->beat);
}

static void check_cb(struct ev_loop *loop, ev_check *w, int revents) {
  (void)loop;
  (void)revents;
  rl__lag_meter *m = w->data;
  uint64_t now = rl__now_ns();
  /* The poll began at poll_from and had to return by the heartbeat's due
   * time at the latest (at once, if that had passed). */
  uint64_t by =
      m->beat_due_ns > m->poll_from_ns ? m->beat_due_ns : m->poll_from_ns;
  if (m->poll_from_ns && now > by)
    record(m, now - by);
  m->turn_start_ns = now;
}

static void prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents) {
  (void)loop;
  (void)revents;
  rl__lag_meter *m = w->data;
  uint64_t now = rl__now_ns();
  if (m->turn_start_ns)
    record(m, now - m->turn_start_ns);
  m->poll_from_ns = now;
}

static void beat_cb(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop;
  (void)revents;
  arm_beat(w->data, rl__now_ns());
}

void rl__lag_meter_start(rl__lag_meter *m, struct ev_loop *ev) {
  m->ev = ev;
  m->turn_start_ns = m->poll_from_ns = 0;
  atomic_init(&m->stalls, 0);
  atomic_init(&m->total_ns, 0);
  atomic_init(&m->max_ns, 0);
  /* The check first of all after a poll, the prepare last of all before
   * one, so the turn holds every other callback. */
  ev_check_init(&m->check, check_cb);
  m->check.data = m;
  ev_set_priority(&m->check, EV_MAXPRI);
  ev_check_start(ev, &m->check);
  ev_prepare_init(&m->prepare, prepare_cb);
  m->prepare.data = m;
  ev_set_priority(&m->prepare, EV_MINPRI);
  ev_prepare_start(ev, &m->prepare);
  ev_init(&m->beat, beat_cb);
  m->beat.data = m;
  arm_beat(m, rl__now_ns());
}

void rl__lag_meter_stop(rl__lag_meter *m) {
  if (!m->ev)
    return;
  ev_check_stop(m->ev, &m->check);
  ev_prepare_stop(m->ev, &m->prepare);
  ev_timer_stop(m->ev, &m->beat);
}

void rl__lag_meter_read(const rl__lag_meter *m, rl__lag *out) {
  out->stalls = atomic_load_explicit(&m->stalls, memory_order_relaxed);
  out->total_ns = atomic_load_explicit(&m->total_ns, memory_order_relaxed);
  out->max_ns = atomic_load_explicit(&m->max_ns, memory_order_relaxed);
}

void rl__lag_add(rl__lag *a, const rl__lag *b) {
  a->stalls += b->stalls;
  a->total_ns += b->total_ns;
  if (b->max_ns > a->max_ns)
    a->max_ns = b->max_ns;
}

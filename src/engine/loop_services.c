#include "engine/loop_services.h"

#include <stdlib.h>

#include <ev.h>

#include "engine/loop.h"

struct rl_io {
  ev_io watcher;
  rl_loop *loop;
  void (*cb)(rl_io *io, int events, void *arg);
  void *arg;
};

struct rl_timer {
  ev_timer watcher;
  rl_loop *loop;
  void (*cb)(rl_timer *t, void *arg);
  void *arg;
  int firing; /* inside cb: stopping then must not free */
};

struct rl_async {
  ev_async watcher;
  rl_loop *loop;
  void (*cb)(rl_async *a, void *arg);
  void *arg;
};

static int to_ev(int events) {
  return ((events & RL_IO_READ) ? EV_READ : 0) |
         ((events & RL_IO_WRITE) ? EV_WRITE : 0);
}

static void io_cb(struct ev_loop *ev, ev_io *watcher, int revents) {
  (void)ev;
  rl_io *io = watcher->data;
  /* The callback may stop (free) the watcher: keep what we need. */
  rl_loop *loop = io->loop;
  io->cb(io,
         ((revents & EV_READ) ? RL_IO_READ : 0) |
             ((revents & EV_WRITE) ? RL_IO_WRITE : 0),
         io->arg);
  loop->after_event(loop);
}

rl_io *rl__io_start(rl_loop *loop, int fd, int events,
                    void (*cb)(rl_io *io, int events, void *arg), void *arg) {
  rl_io *io = malloc(sizeof *io);
  if (!io)
    return NULL;
  io->loop = loop;
  io->cb = cb;
  io->arg = arg;
  ev_io_init(&io->watcher, io_cb, fd, to_ev(events));
  io->watcher.data = io;
  if (events)
    ev_io_start(io->loop->ev, &io->watcher);
  return io;
}

void rl__io_set(rl_io *io, int events) {
  ev_io_stop(io->loop->ev, &io->watcher);
  ev_io_set(&io->watcher, io->watcher.fd, to_ev(events));
  if (events)
    ev_io_start(io->loop->ev, &io->watcher);
}

void rl__io_stop(rl_io *io) {
  if (!io)
    return;
  ev_io_stop(io->loop->ev, &io->watcher);
  free(io);
}

static void timer_cb(struct ev_loop *ev, ev_timer *watcher, int revents) {
  (void)ev;
  (void)revents;
  rl_timer *t = watcher->data;
  rl_loop *loop = t->loop;
  /* A fired timer is gone: libev has stopped it and we free it after the
   * plugin's callback. A plugin that stops it from inside the callback
   * (a shared "finish" path) is harmless: timer_stop sees `firing`. */
  t->firing = 1;
  t->cb(t, t->arg);
  free(t);
  loop->after_event(loop);
}

rl_timer *rl__timer_start(rl_loop *loop, uint64_t after_ns,
                          void (*cb)(rl_timer *t, void *arg), void *arg) {
  rl_timer *t = malloc(sizeof *t);
  if (!t)
    return NULL;
  t->loop = loop;
  t->cb = cb;
  t->arg = arg;
  t->firing = 0;
  ev_timer_init(&t->watcher, timer_cb, (double)after_ns / 1e9, 0.);
  t->watcher.data = t;
  ev_timer_start(t->loop->ev, &t->watcher);
  return t;
}

void rl__timer_stop(rl_timer *t) {
  if (!t || t->firing)
    return;
  ev_timer_stop(t->loop->ev, &t->watcher);
  free(t);
}

static void async_cb(struct ev_loop *ev, ev_async *watcher, int revents) {
  (void)ev;
  (void)revents;
  rl_async *a = watcher->data;
  rl_loop *loop = a->loop;
  a->cb(a, a->arg);
  loop->after_event(loop);
}

rl_async *rl__async_new(rl_loop *loop, void (*cb)(rl_async *a, void *arg),
                        void *arg) {
  rl_async *a = malloc(sizeof *a);
  if (!a)
    return NULL;
  a->loop = loop;
  a->cb = cb;
  a->arg = arg;
  ev_async_init(&a->watcher, async_cb);
  a->watcher.data = a;
  ev_async_start(a->loop->ev, &a->watcher);
  return a;
}

void rl__async_send(rl_async *a) { ev_async_send(a->loop->ev, &a->watcher); }

void rl__async_del(rl_async *a) {
  if (!a)
    return;
  ev_async_stop(a->loop->ev, &a->watcher);
  free(a);
}

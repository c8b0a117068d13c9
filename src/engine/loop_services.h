/*
 * The worker loop lent to transport plugins through the ABI (rl_io,
 * rl_timer, rl_async on an rl_loop, engine/loop.h): thin wrappers over
 * libev watchers that also let the loop's queued users act after each
 * plugin callback (loop->after_event), exactly as core-owned connections
 * do.
 */
#ifndef RL_ENGINE_LOOP_SERVICES_H
#define RL_ENGINE_LOOP_SERVICES_H

#include <rpcload/plugin.h>

rl_io *rl__io_start(rl_loop *loop, int fd, int events,
                    void (*cb)(rl_io *io, int events, void *arg), void *arg);
void rl__io_set(rl_io *io, int events);
void rl__io_stop(rl_io *io);
rl_timer *rl__timer_start(rl_loop *loop, uint64_t after_ns,
                          void (*cb)(rl_timer *t, void *arg), void *arg);
void rl__timer_stop(rl_timer *t);
rl_async *rl__async_new(rl_loop *loop, void (*cb)(rl_async *a, void *arg),
                        void *arg);
void rl__async_send(rl_async *a);
void rl__async_del(rl_async *a);

#endif /* RL_ENGINE_LOOP_SERVICES_H */

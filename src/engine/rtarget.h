/*
 * Run-time targets: a request of a C class (a Lua task, src/script/) sent
 * to a host nobody declared before the run (rl_send_opts.host, user.h API
 * 1.7). A target is normally built on the main thread before the load
 * (engine/target.h: the plugin's step_new may block, resolving the host,
 * reading a .proto), then read-only. One added while the run goes is built
 * the same way, off the worker threads: the table's helper thread runs
 * the builder (the layer that compiled the plan: scenario/cclass.c), while
 * the task that asked waits and the other users of its thread keep
 * running. Once built, the target is published to every thread (a state
 * stored with release order, read with acquire: no lock on the path of a
 * request to a target already built) and kept until the table is freed
 * with its plan, after every worker thread is done with it.
 *
 * Bounded: at most the table's cap of targets (RL__RT_MAX_TARGETS by
 * default) per plan, a host that failed to build (it does not resolve)
 * counting too; the same (class, request, host) asked for twice, by any
 * threads at once, builds one.
 *
 * Threads: rl__rtargets_new/_del on the thread that owns the plan; the
 * rest on a worker thread, for its loop.
 */
#ifndef RL_ENGINE_RTARGET_H
#define RL_ENGINE_RTARGET_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <rpcload/user.h>

#include "engine/loop.h"
#include "engine/plan.h"

/* The default cap of run-time targets per plan: user.h's. */
#define RL__RT_MAX_TARGETS RL_USER_MAX_RUNTIME_TARGETS

typedef struct rl__rtargets rl__rtargets;

/*
 * Builds request `request` of class `cls` to `host` into *out (a REQUEST
 * step: its target, and what else the plan's steps own; endpoint left 0),
 * or returns a negative code with the reason in err. Runs on the table's
 * helper thread and may block.
 */
typedef int (*rl__rt_build_fn)(void *ctx, const rl__plan_class *cls,
                               size_t request, const char *host,
                               rl__plan_step *out, char *err, size_t errlen);

enum rl__rt_state { RL__RT_BUILDING = 0, RL__RT_READY, RL__RT_FAILED };

/* One run-time target, owned by its table. */
typedef struct rl__rtarget {
  atomic_int state;   /* enum rl__rt_state: release-stored once settled */
  rl__plan_step step; /* READY: the request to send */
  char *error;        /* FAILED: why (the builder's reason) */
  size_t conn;        /* READY: which of a user's run-time connections
                           carries it (one per endpoint: rl__plan's rule) */
  const rl__plan_class *cls; /* the key: class, request, host */
  size_t request;
  char *host;
  uint64_t hash;
  struct rl__rtarget *next_build; /* the helper's queue */
} rl__rtarget;

/*
 * A new, empty table of at most `cap` targets (0: RL__RT_MAX_TARGETS)
 * built by `build` with `ctx`, which the table owns from here (even when
 * this fails): ctx_del(ctx) when it is freed (NULL: nothing to free).
 * NULL when out of memory. No thread is started until a target is asked
 * for.
 */
rl__rtargets *rl__rtargets_new(size_t cap, rl__rt_build_fn build, void *ctx,
                               void (*ctx_del)(void *ctx));

/* Waits for a build under way, stops the helper thread, frees every
 * target (their steps: plugins' step_del) and ctx. Every worker thread
 * must be done with the table (rl__rt_thread_del). NULL is fine. */
void rl__rtargets_del(rl__rtargets *t);

/* How many targets the table holds (building, built or failed). */
size_t rl__rtargets_count(rl__rtargets *t);

/* The table's cap. */
size_t rl__rtargets_cap(const rl__rtargets *t);

/* A request waiting for its target, embedded in its sender (cuser.c). */
typedef struct rl__rt_wait {
  struct rl__rt_wait *prev, *next; /* the thread's waiting list */
  rl__rtarget *entry;
  /* Called on the loop's thread once entry is READY or FAILED (the wait
   * is off the list by then). */
  void (*ready)(struct rl__rt_wait *w);
} rl__rt_wait;

/*
 * On loop's thread: the target of class cls's request `request` to
 * `host` (copied), in `table`: the one known, else a new one queued for
 * the helper to build. Returns 0 and *out (its state may be any; the
 * pointer stays valid until the table is freed); RL_ERR_BUSY: the table
 * has its cap of targets and this is not one of them; RL_ERR_NOMEM.
 */
int rl__rt_get(rl_loop *loop, rl__rtargets *table, const rl__plan_class *cls,
               size_t request, const char *host, rl__rtarget **out);

/* On loop's thread: w (w->entry BUILDING, w->ready set) waits; ready is
 * called from the loop once the entry has settled. */
void rl__rt_wait_add(rl_loop *loop, rl__rt_wait *w);

/* On loop's thread: w waits no more (its sender stopped); not called. */
void rl__rt_wait_cancel(rl_loop *loop, rl__rt_wait *w);

/* What loop's thread keeps for the run-time targets (its cache, its
 * wake-up): freed, and the thread unhooked from its table, which will
 * not wake it again. No wait may be left. Nothing kept: no effect. */
void rl__rt_thread_del(rl_loop *loop);

#endif /* RL_ENGINE_RTARGET_H */

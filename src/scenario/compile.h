/*
 * A scenario (scenario.h) compiled into the plan users run (engine/plan.h),
 * and the listing of one (`rpcload -f F --list`).
 */
#ifndef RL_SCENARIO_COMPILE_H
#define RL_SCENARIO_COMPILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "engine/plan.h"
#include "engine/plugin_loader.h"
#include "engine/target.h"
#include "engine/wait.h"
#include "scenario/scenario.h"

/* Options of a scenario's compilation, from the command line. */
typedef struct rl__scn_compile_options {
  const rl__target_options *base; /* TLS, timeouts, --http2, plugin opts */
  const char *host;               /* the command line's target, or NULL */
  const char *const *tags;        /* --tags: keep tasks with one of them */
  size_t n_tags;
  const char *const *exclude_tags; /* --exclude-tags */
  size_t n_exclude_tags;
  uint32_t users;               /* -u: how many class assignments */
  const rl__wait *default_wait; /* --wait, for classes without one */
  int wait_given;               /* --wait given: it wins over the file */
  /* Only to list the plan (--list, --show-task-ratio): steps are checked
   * against their plugins, but no target is made (no host is needed, none
   * is resolved) and the plan cannot run. */
  int list_only;
  /* base->options (the command line's plugin options: -m, --proto,
   * --no-cookies...)
   * apply to the steps whose plugin declares them as its own keys; per
   * option, how to name it in an error when no step does ("-m",
   * "--proto"); NULL: "-O KEY". base->headers (-H) go to every step. */
  const char *const *option_flags;
} rl__scn_compile_options;

/*
 * Compiles a scenario (borrowed; it must outlive the plan) with plugins
 * from `plugins`. Every error names file:line:col. Returns 0 and *out
 * (caller owns), or a negative code with the reason in err.
 */
int rl__scn_compile(rl__plugin_set *plugins, const rl__scn *scn,
                    const rl__scn_compile_options *o, rl__plan **out, char *err,
                    size_t errlen);

/*
 * The same for several scenarios at once, into one plan: their classes in
 * the order given (names unique across them), sharing endpoints and
 * variables. Classes written in C come this way (scenario/cclass.c), their
 * requests' errors named "CLASS.requests[i]". Errors that belong to no
 * step name scns[0]'s file. Each scenario must outlive the plan.
 */
int rl__scn_compile_many(rl__plugin_set *plugins, const rl__scn *const *scns,
                         size_t n, const rl__scn_compile_options *o,
                         rl__plan **out, char *err, size_t errlen);

/*
 * A run-time target (engine/rtarget.h): request `request` of the C class
 * `pc` (of `plan`, compiled from `scn` with `o`, all still there) compiled
 * again, as at load, but to `host` ("h:p", "http://h:p") in place of the
 * request's own. Into *out (the caller's: rl__plan_step_free(out, 1));
 * the plan is only read. May block (the plugin's step_new, the host's
 * resolution): on any thread but a worker's. 0, or a negative code with
 * the reason (naming the request) in err.
 */
int rl__scn_compile_request(rl__plugin_set *plugins, const rl__scn *scn,
                            const rl__scn_compile_options *o,
                            const rl__plan *plan, const rl__plan_class *pc,
                            size_t request, const char *host,
                            rl__plan_step *out, char *err, size_t errlen);

/* `rpcload -f F --list`: classes, weights or fixed counts, tasks with
 * weights and tags (of a plan compiled from a scenario, which must still
 * be there). */
void rl__scn_print_list(const rl__plan *p, FILE *out);

#endif /* RL_SCENARIO_COMPILE_H */

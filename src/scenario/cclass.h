/*
 * User classes written in C (include/rpcload/user.h) compiled into a plan
 * (engine/plan.h), beside a scenario's classes or alone: each class's
 * requests are read as scenario steps (scenario.h rl__scn_parse_request)
 * and compiled as any step is (scenario/compile.h: templates, expect,
 * capture, hosts, endpoints, the command line's request options); its
 * callbacks go into the plan for engine/cuser.c to run.
 */
#ifndef RL_SCENARIO_CCLASS_H
#define RL_SCENARIO_CCLASS_H

#include <stddef.h>

#include <rpcload/user.h>

#include "engine/plan.h"
#include "engine/plugin_loader.h"
#include "scenario/compile.h"
#include "scenario/scenario.h"

/*
 * One plan of the scenario's classes (`scn`; NULL: none) followed by the
 * `n` C classes, with the plugins loaded in `plugins` (scanned first, as
 * for rl__scn_compile: a step's protocol key finds its plugin among
 * them) and the command line's
 * options `po` (po->host: the target a request without a host goes to, as
 * a scenario step without one; po->base: TLS, timeouts, -H, plugin
 * options; tags, users, the default wait), as rl__scn_compile does.
 *
 * Ownership: `plugins` and `scn` are borrowed and must outlive the plan
 * (its targets and checks point into them). `classes` are borrowed for the
 * call only: the plan keeps its own copies of what it needs (names, task
 * names and weights, the wait, the requests parsed and compiled; through
 * plan->keep) and the callbacks as values; each class's `arg` is the
 * embedder's, borrowed for as long as the plan runs (it is passed to every
 * callback, and to free_data). `po` is borrowed for the call.
 *
 * Checks every class first: a struct_size at least this header's
 * rl_user_class, a name, unique among them and the scenario's, tasks
 * with a function each, weights of 0 (meaning 1) or more, the wait, and
 * each request; the error names the class (by name, or by its index when
 * it has none), the request's index ("Shop.requests[1]:1:7: unknown
 * protocol 'htp'") and the scenario compiler's reason. Returns 0 and *out
 * (the caller's: rl__plan_del), or RL_ERR_INVAL / RL_ERR_NOMEM with the
 * reason in err and *out NULL.
 */
int rl__cclass_plan(rl__plugin_set *plugins, const rl__scn *scn,
                    const rl_user_class *const *classes, size_t n,
                    const rl__scn_compile_options *po, rl__plan **out,
                    char *err, size_t errlen);

#endif /* RL_SCENARIO_CCLASS_H */

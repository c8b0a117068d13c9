/*
 * A scenario step's expect and capture, applied to the response a plugin
 * handed over (response.h): Locust's catch_response, and values carried
 * from one request to the next in the user's variables.
 *
 * Worker thread; nothing here keeps state.
 */
#ifndef RL_CHECKS_H
#define RL_CHECKS_H

#include <stddef.h>
#include <stdint.h>

#include "engine/plan.h"
#include "engine/response.h"

/*
 * The outcome of step `ps` whose plugin reported `plugin_error` (NULL:
 * success; borrowed) after `rt_ns`, with the response in `resp` (may be
 * NULL or empty). An expected status (HTTP or gRPC) decides success by
 * itself, overriding the plugin's verdict on the status; the other
 * expectations can only turn a success into a failure. Then each capture
 * stores its value in vars[ps->capture_vars[i]] (the user's; the old value
 * is freed); a capture that finds nothing, or a failed request, fails and
 * sets *stop_task. Returns the request's error text: NULL, plugin_error,
 * or a text written into buf (len bytes).
 */
const char *rl__checks_apply(const rl__plan_step *ps, const rl__response *resp,
                             const char *plugin_error, uint64_t rt_ns,
                             char **vars, char *buf, size_t len,
                             int *stop_task);

#endif /* RL_CHECKS_H */

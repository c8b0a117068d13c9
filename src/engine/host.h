/*
 * The services table (rl_host) the core hands to every plugin: the
 * request event, connection writes, templates, the loop's watchers.
 *
 * The table is passed in, not looked up: whoever loads plugins gives it to
 * the plugin set (rl__plugin_set_init), and the set, targets, connections
 * and workers hand on that one pointer. So a test can run the engine under
 * a host of its own, and the conformance kit can wrap this one.
 */
#ifndef RL_ENGINE_HOST_H
#define RL_ENGINE_HOST_H

#include <rpcload/plugin.h>

/* The core's table; static storage, valid for the whole process. */
const rl_host *rl__host(void);

#endif /* RL_ENGINE_HOST_H */

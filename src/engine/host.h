/* The services table (rl_host) the core hands to every plugin. */
#ifndef RL_HOST_H
#define RL_HOST_H

#include <rpcload/plugin.h>

/* The process-wide host table; static storage, valid for the whole run. */
const rl_host *rl__host(void);

/* Frees the calling thread's template buffer; call before a thread that
 * ran plugins ends. */
void rl__host_thread_exit(void);

#endif /* RL_HOST_H */

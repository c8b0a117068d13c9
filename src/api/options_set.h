/* rl_options (<rpcload/rpcload.h>): options gathered by name or as
 * arguments, turned into the argv the option parser reads (api/options.c),
 * so the library and the command line check options one way. */
#ifndef RL_API_OPTIONS_SET_H
#define RL_API_OPTIONS_SET_H

#include <rpcload/rpcload.h>

/* The argv for rl__api_options_parse: "rpcload", the options in the order
 * given, then "--" and the "target" operands when any were set by name.
 * *argv (NULL-terminated) and its strings are new copies, owned by the
 * caller (rl__options_argv_free). 0 or RL_ERR_NOMEM. */
int rl__options_argv(const rl_options *o, int *argc, char ***argv);
void rl__options_argv_free(char **argv);

#endif /* RL_API_OPTIONS_SET_H */

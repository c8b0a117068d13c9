/* The --help text of the rpcload executable. */
#ifndef RL_CLI_HELP_H
#define RL_CLI_HELP_H

#include <stdio.h>

/* Writes the --help text to `out`. */
void cli_print_help(FILE *out);

#endif /* RL_CLI_HELP_H */

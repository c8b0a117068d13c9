/*
 * Options from a config file and the environment, as Locust takes them
 * (locust.conf, LOCUST_* variables), folded into the command line before
 * getopt sees it.
 *
 * Config file: `--config FILE` (or `--config=FILE`), else $RPCLOAD_CONFIG,
 * else `rpcload.conf` in the current directory when it exists. One option
 * a line, `key = value`, the key a long option without its dashes
 * (`users = 10`, `spawn-rate = 5`, `run_time = 1m`: `_` and `-` are the
 * same); a flag takes true/false/yes/no/on/off/1/0 (`headless = true`;
 * false leaves it out). Blank lines and lines starting with `#` or `;` are
 * ignored; ` #` after an unquoted value starts a comment. A value in
 * matching '...' or "..." is taken as written between them (keeps #,
 * leading and trailing blanks). A repeatable option (header) is given once
 * per line.
 *
 * Environment: RPCLOAD_<OPTION>, the long option upper-cased with `-` as
 * `_` (RPCLOAD_USERS=10, RPCLOAD_SPAWN_RATE=5, RPCLOAD_HEADLESS=true).
 * Variables that name no option are ignored (RPCLOAD_PLUGIN_PATH and the
 * test harness's variables are not options).
 *
 * Precedence, Locust's: config file < environment < command line. The new
 * argv is argv[0], the file's options, the environment's, then the user's
 * own arguments, so for an option that keeps its last value the command
 * line wins. A repeatable option (-H) accumulates from all three.
 */
#ifndef RL_CLI_CONFIG_H
#define RL_CLI_CONFIG_H

#include <getopt.h>
#include <stddef.h>

/* The default config file, looked for in the current directory. */
#define CLI_CONFIG_DEFAULT "rpcload.conf"

/*
 * Builds the effective argv from `argc`/`argv` (borrowed), the config file
 * and the environment. `known` is the getopt_long table (ending with a
 * zeroed entry): it names the options a file or variable may set, says
 * which take a value, and (through `val`) which short options do, so that
 * `--config` is found only where it is an option (not as -d's value or
 * after `--`). `--config FILE` is removed from the result: getopt need not
 * know it.
 *
 * On success returns 0 with *out_argc and *out_argv: a NULL-terminated
 * array of strings, all newly allocated (caller owns; cli_config_free);
 * options parsed from it may point into it, so keep it as long as them.
 * On failure returns RL_ERR_INVAL with a one-line reason in err
 * ("rpcload.conf:3: unknown option 'userz' (did you mean 'users'?)",
 * "RPCLOAD_HEADLESS: expected true or false, got 'maybe'"), or
 * RL_ERR_NOMEM; *out_argv is then NULL.
 */
int cli_config_argv(int argc, char **argv, const struct option *known,
                    int *out_argc, char ***out_argv, char *err, size_t errlen);

/* Frees what cli_config_argv returned; NULL is fine. */
void cli_config_free(char **argv);

#endif /* RL_CLI_CONFIG_H */

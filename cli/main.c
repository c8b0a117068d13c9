/*
 * rpcload: the command line on the library (<rpcload/rpcload.h>, nothing
 * else of the core). It folds rpcload.conf and RPCLOAD_* variables into
 * the arguments (cli/config.c), prints --help (cli/help.c), and hands the
 * rest to an environment, whose exec is the run, its reports and its exit
 * status; anything this file does, an embedding program can.
 *
 * Exit statuses scripts can tell apart (--help, README,
 * docs/reliability.md): 0 all good; 1 requests failed (--exit-code-on-error
 * N sets it) or none finished; 2 usage, configuration or start-up error; 3
 * a report could not be written.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rpcload/rpcload.h>

#include "config.h"
#include "help.h"

#define EXIT_USAGE 2

/* The library's options as a getopt table, for cli/config.c. */
typedef struct option_table {
  struct option *items;
  size_t n, cap;
  int failed;
} option_table;

static void add_option(const char *name, int has_value, int short_name,
                       void *arg) {
  option_table *t = arg;
  if (t->n + 1 >= t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 64;
    struct option *items = realloc(t->items, cap * sizeof *items);
    if (!items) {
      t->failed = 1;
      return;
    }
    t->items = items;
    t->cap = cap;
  }
  t->items[t->n++] = (struct option){
      name, has_value ? required_argument : no_argument, NULL, short_name};
  t->items[t->n] = (struct option){0};
}

int main(int argc, char **argv) {
  option_table known = {0};
  rl_options_each(add_option, &known);
  if (known.failed || !known.items) {
    fprintf(stderr, "rpcload: error: out of memory\n");
    free(known.items);
    return EXIT_USAGE;
  }
  /* rpcload.conf (or --config) and RPCLOAD_* first, the command line last:
   * an option keeps its last value, so the command line wins. */
  int cargc = 0;
  char **cargv = NULL;
  char err[1024] = "";
  int status = EXIT_USAGE;
  rl_options *opts = NULL;
  rl_env *env = NULL;
  rl_error_info e = {0};
  if (cli_config_argv(argc, argv, known.items, &cargc, &cargv, err,
                      sizeof err)) {
    fprintf(stderr, "rpcload: error: %s\nTry 'rpcload --help' for more.\n",
            err);
    goto out;
  }
  if (!(opts = rl_options_new()) ||
      rl_options_add_args(opts, cargc - 1, cargv + 1)) {
    fprintf(stderr, "rpcload: error: out of memory\n");
    goto out;
  }
  if (rl_env_new(opts, &env, &e)) {
    fprintf(stderr, "rpcload: error: %s\n%s", e.text,
            e.usage ? "Try 'rpcload --help' for more.\n" : "");
    goto out;
  }
  /* -s FILE.lua: the script's user classes (none given: nothing). */
  if (rl_env_command(env) != RL_CMD_HELP && rl_env_add_script(env, NULL, &e)) {
    fprintf(stderr, "rpcload: error: %s\n", e.text);
    goto out;
  }
  if (rl_env_command(env) == RL_CMD_HELP) {
    cli_print_help(stdout);
    status = 0;
    goto out;
  }
  status = rl_env_exec(env);
out:
  rl_env_free(env);
  rl_options_free(opts);
  cli_config_free(cargv);
  free(known.items);
  return status;
}

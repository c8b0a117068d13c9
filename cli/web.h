/* The CLI's side of the web UI and --prometheus-port: starts the servers
 * when the run has started and stops them when it has ended (the runner's
 * `started` and `ended` hooks, on the main thread). */
#ifndef RL_CLI_WEB_H
#define RL_CLI_WEB_H

#include "engine/plugin_loader.h"
#include "engine/runner.h"
#include "options.h"
#include "scenario/compile.h"
#include "scenario/scenario.h"
#include "web/ui.h"

typedef struct cli_web {
  const cli_options *o; /* borrowed: outlives the run */
  const char *plugin;   /* the target's plugin name, borrowed */
  /* What a new host is compiled with (the web UI's form, at a new test),
   * as at start-up: the plugins, and with -f the scenario and its compile
   * options (po.host is the new host then). All borrowed. */
  rl__plugin_set *plugins;
  const rl__scn *scn; /* NULL: the quick command line, o->target */
  rl__scn_compile_options po;
  rl__web_ui *ui;      /* --web; owned, NULL when off */
  rl__web_ui *metrics; /* --prometheus-port; owned, NULL when off */
  int failed;          /* a server could not start: the run was ended */
} cli_web;

/* Whether the options ask for a server at all. */
int cli_web_wanted(const cli_options *o);

/* `started` hook: starts what the options ask for and prints where. On
 * failure it logs why, sets w->failed and ends the run. */
void cli_web_started(rl__runner *r, cli_web *w);

/* `ended` hook: stops and frees both servers. */
void cli_web_ended(rl__runner *r, cli_web *w);

#endif /* RL_CLI_WEB_H */

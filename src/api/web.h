/* The CLI's side of the web UI and --prometheus-port: starts the servers
 * when the run has started and stops them when it has ended (the runner's
 * `started` and `ended` hooks, on the main thread). */
#ifndef RL_API_WEB_H
#define RL_API_WEB_H

#include "api/options.h"
#include "engine/plugin_loader.h"
#include "engine/runner.h"
#include "scenario/compile.h"
#include "scenario/scenario.h"
#include "web/ui.h"

typedef struct rl__api_web {
  const rl__api_options *o; /* borrowed: outlives the run */
  const char *plugin;       /* the target's plugin name, borrowed */
  /* What a new host is compiled with (the web UI's form, at a new test),
   * as at start-up: the plugins, and with -f the scenario and its compile
   * options (po.host is the new host then). All borrowed. */
  rl__plugin_set *plugins;
  const rl__scn *scn; /* NULL: the quick command line, o->target */
  rl__scn_compile_options po;
  /* C user classes (rl_env_add_user_class), compiled with the scenario
   * for a new host; borrowed. */
  const rl_user_class *const *cclasses;
  size_t n_cclasses;
  /* A cluster master's steering for its web UI (borrowed); NULL: this
   * process runs the users. */
  const rl__web_remote *remote;
  rl__web_ui *ui;      /* --web; owned, NULL when off */
  rl__web_ui *metrics; /* --prometheus-port; owned, NULL when off */
  int failed;          /* a server could not start: the run was ended */
} rl__api_web;

/* Whether the options ask for a server at all. */
int rl__api_web_wanted(const rl__api_options *o);

/* What a run's users run against a new host (`target`: a web form's, a
 * cluster master's): compiled as at start-up from the options, scenario
 * or C classes `arg` (an rl__api_web) holds. 0 and a new plan in *plan
 * (the caller's), or an RL_ERR_* with the reason in err. */
struct rl__plan;
int rl__api_web_compile(void *arg, const char *target, struct rl__plan **plan,
                        char *err, size_t errlen);

/* `started` hook: starts what the options ask for and prints where. On
 * failure it logs why, sets w->failed and ends the run. */
void rl__api_web_started(rl__runner *r, rl__api_web *w);

/* `ended` hook: stops and frees both servers. */
void rl__api_web_ended(rl__runner *r, rl__api_web *w);

#endif /* RL_API_WEB_H */

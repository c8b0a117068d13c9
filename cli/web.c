#include "web.h"

#include <stdio.h>

#include "base/log.h"

int cli_web_wanted(const cli_options *o) {
  return o->web || o->prometheus_port >= 0;
}

static rl__web_ui *start_one(rl__runner *r, cli_web *w, const char *host,
                             int port, const char *login, int metrics_only) {
  const cli_options *o = w->o;
  rl__web_ui_config cfg = {
      .host = host,
      .port = (uint16_t)port,
      .login = login,
      .metrics_only = metrics_only,
      .target = o->target.url,
      .plugin = w->plugin,
      .users = o->run.users,
      .spawn_rate = o->run.spawn_rate,
  };
  rl__web_ui *ui = NULL;
  char err[512];
  if (rl__web_ui_start(&cfg, r, &ui, err, sizeof err)) {
    rl__log(RL__LOG_ERROR, "%s", err);
    w->failed = 1;
    rl__runner_ctl quit = {.quit = 1};
    rl__runner_control(r, &quit);
    return NULL;
  }
  if (!rl__web_ui_is_loopback(ui))
    rl__log(RL__LOG_WARN,
            "%s listens on %s, which other machines may reach: anyone who "
            "can reach it %s",
            metrics_only ? "--prometheus-port" : "the web UI",
            rl__web_ui_authority(ui),
            metrics_only ? "can read the stats"
            : login      ? "and has the --web-login password can start load"
                         : "can start load (--web-login asks for a password)");
  return ui;
}

void cli_web_started(rl__runner *r, cli_web *w) {
  const cli_options *o = w->o;
  if (o->web) {
    w->ui = start_one(r, w, o->web_host, o->web_port, o->web_login, 0);
    if (!w->ui)
      return;
    /* stderr: stdout carries the reports (and --json). */
    fprintf(stderr, "rpcload: web UI on http://%s\n",
            rl__web_ui_authority(w->ui));
  }
  if (o->prometheus_port >= 0) {
    /* In web mode the Prometheus port asks for the web UI's login too. */
    w->metrics = start_one(r, w, o->prometheus_host, o->prometheus_port,
                           o->web ? o->web_login : NULL, 1);
    if (!w->metrics)
      return;
    fprintf(stderr, "rpcload: Prometheus metrics on http://%s/metrics\n",
            rl__web_ui_authority(w->metrics));
  }
  fflush(stderr);
}

void cli_web_ended(rl__runner *r, cli_web *w) {
  (void)r;
  rl__web_ui_stop(w->ui);
  rl__web_ui_stop(w->metrics);
  w->ui = w->metrics = NULL;
}

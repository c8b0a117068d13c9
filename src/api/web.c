#include "api/web.h"

#include <stdio.h>

#include <rpcload/plugin.h>

#include "base/log.h"
#include "engine/plan.h"
#include "engine/target.h"
#include "scenario/cclass.h"

int rl__api_web_wanted(const rl__api_options *o) {
  return o->web || o->prometheus_port >= 0;
}

/* A new test's target (a host typed in the web UI): compiled from the
 * stored options as at start-up, with the same errors. Web server thread;
 * the API calls it once at a time. */
int rl__api_web_compile(void *arg, const char *target, rl__plan **plan,
                        char *err, size_t errlen) {
  rl__api_web *w = arg;
  const rl__api_options *o = w->o;
  if (w->n_cclasses) {
    rl__scn_compile_options po = w->po;
    po.host = target;
    return rl__cclass_plan(w->plugins, w->scn, w->cclasses, w->n_cclasses, &po,
                           plan, err, errlen);
  }
  if (w->scn) {
    rl__scn_compile_options po = w->po;
    po.host = target;
    return rl__scn_compile(w->plugins, w->scn, &po, plan, err, errlen);
  }
  rl__target_options to = o->target;
  to.url = target;
  rl__target *t = NULL;
  int rc = rl__target_new(w->plugins, &to, &t, err, errlen);
  if (rc)
    return rc;
  rl__plan *p = rl__plan_single(t, &o->run.wait);
  if (!p) {
    rl__target_del(t);
    snprintf(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  p->owns_targets = 1; /* the plan is the target's only owner */
  *plan = p;
  return 0;
}

static rl__web_ui *start_one(rl__runner *r, rl__api_web *w, const char *host,
                             int port, const char *login, int metrics_only) {
  const rl__api_options *o = w->o;
  rl__web_ui_config cfg = {
      .host = host,
      .port = (uint16_t)port,
      .login = login,
      .metrics_only = metrics_only,
      .target = o->target.url,
      .plugin = w->plugin,
      .users = o->run.users,
      .spawn_rate = o->run.spawn_rate,
      .compile = w->plugins ? rl__api_web_compile : NULL,
      .compile_arg = w,
      .remote = w->remote,
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

void rl__api_web_started(rl__runner *r, rl__api_web *w) {
  const rl__api_options *o = w->o;
  if (o->web && !w->ui) {
    w->ui = start_one(r, w, o->web_host, o->web_port, o->web_login, 0);
    if (!w->ui)
      return;
    /* stderr: stdout carries the reports (and --json). */
    fprintf(stderr, "rpcload: web UI on http://%s\n",
            rl__web_ui_authority(w->ui));
  }
  if (o->prometheus_port >= 0 && !w->metrics) {
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

void rl__api_web_ended(rl__runner *r, rl__api_web *w) {
  (void)r;
  rl__web_ui_stop(w->ui);
  rl__web_ui_stop(w->metrics);
  w->ui = w->metrics = NULL;
}

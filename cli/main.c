/* rpcload: wires options, plugins, the run and the reports together. */
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "base/clock.h"
#include "base/log.h"
#include "config.h"
#include "engine/host.h"
#include "engine/plan.h"
#include "engine/plugin_loader.h"
#include "engine/runner.h"
#include "engine/target.h"
#include "events/events.h"
#include "help.h"
#include "options.h"
#include "reach.h"
#include "reports.h"
#include "scenario/compile.h"
#include "scenario/scenario.h"
#include "stats/stats.h"
#include "summary.h"
#include "web.h"

/* Exit statuses scripts can tell apart (--help, README, docs/reliability.md):
 * 0 all good; 1 requests failed (--exit-code-on-error N sets it) or none
 * finished; 2 usage, configuration or start-up error; 3 a report could not
 * be written. */
#define EXIT_USAGE 2
#define EXIT_REPORT 3

static void usage_error(const char *msg) {
  fprintf(stderr, "rpcload: error: %s\nTry 'rpcload --help' for more.\n", msg);
}

/* What the hooks need; lives on main's stack for the run. */
typedef struct cli_run {
  cli_reports reports; /* console, --csv (cli/reports.c) */
  cli_web web;         /* --web, --prometheus-port (cli/web.c) */
} cli_run;

/* The console table and the CSV files while the run goes (cli/reports.c). */
static void report_progress(rl__runner *r, void *arg) {
  cli_reports_progress(r, &((cli_run *)arg)->reports);
}

static void report_second(rl__runner *r, void *arg) {
  cli_reports_second(r, &((cli_run *)arg)->reports);
}

/* The web UI and --prometheus-port: up once the workers are, down once
 * they have ended (cli/web.c). */
static void web_started(rl__runner *r, void *arg) {
  cli_web_started(r, &((cli_run *)arg)->web);
}

static void web_ended(rl__runner *r, void *arg) {
  cli_web_ended(r, &((cli_run *)arg)->web);
}

static void list_refused(const char *path, const char *reason, void *arg) {
  (void)path;
  (void)arg;
  fprintf(stderr, "rpcload: warning: %s\n", reason);
}

/* How a scenario writes a step of the plugin (ABI 1.3): its keys, how
 * their value reads, and its own keys. */
static void print_step_keys(const rl__plugin *p) {
  static const char *const kinds[] = {"value", "file", "files", "mapping"};
  const char *const *keys = p->desc.step_keys;
  printf("             scenario steps:");
  for (size_t j = 0;; j++) {
    const char *k = keys              ? keys[j]
                    : p->desc.schemes ? p->desc.schemes[j].name
                                      : NULL;
    if (!k)
      break;
    printf("%s %s:", j ? "," : "", k);
  }
  printf(" %s", p->desc.step_value == RL_STEP_VALUE_REQUEST
                    ? "'[METHOD] path or URL'"
                    : "the call");
  const rl_option_decl *o = p->desc.step_options;
  for (size_t j = 0; o && o[j].key; j++)
    printf("%s %s (%s)", j ? "," : "; own keys:", o[j].key,
           o[j].kind <= RL_OPTION_MAP ? kinds[o[j].kind] : "value");
  printf("\n");
}

/* --plugins: the plugins in the search path, and the one --plugin names
 * (`named`, NULL: none), which may live anywhere (./x.so). */
static int list_plugins(rl__plugin_set *set, const char *named) {
  if (named) {
    rl__plugin *p;
    char err[1024];
    if (rl__plugin_set_load(set, named, &p, err, sizeof err)) {
      fprintf(stderr, "rpcload: error: %s\n", err);
      return EXIT_USAGE;
    }
  }
  rl__plugin_set_scan(set, list_refused, NULL);
  printf("%-12s %-10s %-6s %-24s %s\n", "NAME", "VERSION", "ABI", "SCHEMES",
         "PATH");
  for (size_t i = 0; i < set->n; i++) {
    const rl__plugin *p = set->items[i];
    char schemes[128] = "", abi[16];
    for (const rl_scheme *s = p->desc.schemes; s && s->name; s++) {
      size_t len = strlen(schemes);
      snprintf(schemes + len, sizeof schemes - len, "%s%s", len ? "," : "",
               s->name);
    }
    snprintf(abi, sizeof abi, "%u.%u",
             RL_ABI_VERSION_MAJOR(p->desc.abi_version),
             RL_ABI_VERSION_MINOR(p->desc.abi_version));
    printf("%-12s %-10s %-6s %-24s %s\n", p->desc.name, p->desc.version, abi,
           schemes, p->path);
    if (p->desc.summary)
      printf("             %s\n", p->desc.summary);
    print_step_keys(p);
  }
  if (set->n == 0) {
    fprintf(stderr, "rpcload: no plugins found in:");
    for (size_t i = 0; i < set->ndirs; i++)
      fprintf(stderr, " %s", set->dirs[i]);
    fprintf(stderr, "\n");
    return EXIT_USAGE;
  }
  return 0;
}

/* rpcload --list: what the target's plugin can tell of it. */
static int list_target(rl__target *t) {
  const rl_plugin *d = &t->plugin->desc;
  if (d->struct_size < offsetof(rl_plugin, step_list) + sizeof d->step_list ||
      !d->step_list) {
    fprintf(stderr,
            "rpcload: error: plugin %s has nothing to list (--list lists a "
            "gRPC service's methods, or with -f a scenario's classes and "
            "tasks)\n",
            d->name);
    return EXIT_USAGE;
  }
  int rc = d->step_list(t->step, stdout);
  fflush(stdout);
  if (rc) {
    /* Nothing to list is a configuration error, as for a run (exit 2). */
    fprintf(stderr, "rpcload: error: %s: %s\n", d->name, rl_strerror(rc));
    return EXIT_USAGE;
  }
  return 0;
}

/* rpcload --show-task-ratio without -f: the command line's one class and
 * task, as a run would have them. */
static int print_single_ratio(const cli_options *o, rl__target *t) {
  rl__plan *plan = rl__plan_single(t, &o->run.wait);
  if (!plan) {
    fprintf(stderr, "rpcload: error: out of memory\n");
    return EXIT_USAGE;
  }
  rl__plan_print_ratios(plan, stdout);
  rl__plan_del(plan);
  return 0;
}

/* How the command line spelled a plugin option, for a scenario's "applies
 * to no step" (options.c's parse_grpc makes these keys; --no-cookies and
 * --no-redirects the last two, with these values). */
static const char *option_flag(const rl_kv *kv) {
  static const char *const flags[][3] = {
      {"proto", NULL, "--proto"},
      {"protoset", NULL, "--protoset"},
      {"import_path", NULL, "-I"},
      {"metadata", NULL, "-m"},
      {"authority", NULL, "--authority"},
      {"compress", NULL, "--compress"},
      {"cookies", "off", "--no-cookies"},
      {"allow_redirects", "false", "--no-redirects"},
  };
  for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
    if (strcmp(flags[i][0], kv->key) == 0 &&
        (!flags[i][1] || strcmp(flags[i][1], kv->value) == 0))
      return flags[i][2];
  return NULL; /* -O KEY=VALUE */
}

/* -f FILE: the scenario, its settings under the command line's options,
 * compiled into a plan. Returns 0 or an exit status. */
static int load_scenario(cli_options *o, rl__plugin_set *plugins, rl__scn **scn,
                         rl__plan **plan, rl__scn_compile_options *out_po) {
  char err[1024] = "";
  if (rl__scn_load(o->scenario, scn, err, sizeof err)) {
    fprintf(stderr, "rpcload: error: %s\n", err);
    return EXIT_USAGE;
  }
  const rl__scn_settings *st = &(*scn)->settings;
  if (!o->users_given && st->has_users)
    o->run.users = (uint32_t)st->users;
  if (!o->rate_given && st->has_spawn_rate)
    o->run.spawn_rate = st->spawn_rate;
  if (!o->time_given && st->has_run_time) {
    o->run.run_time_ns = st->run_time_ns;
    o->time_given = 1; /* by the file: a shape's stages do not set it */
  }
  if (cli_shape_from_scenario(o, &(*scn)->shape, err, sizeof err)) {
    fprintf(stderr, "rpcload: error: %s: %s\n", o->scenario, err);
    return EXIT_USAGE;
  }
  /* The threads for the file's user count (cli_options_check saw -u's,
   * or one user without it). */
  if (!o->threads_given && !o->web)
    o->run.threads = o->run.users < o->cpus ? o->run.users : o->cpus;
  rl__plugin_set_scan(plugins, list_refused, NULL);
  const char *flags[64] = {NULL};
  for (size_t i = 0; i < o->n_plugin_options && i < 64; i++)
    flags[i] = option_flag(&o->plugin_options[i]);
  rl__scn_compile_options po = {
      .base = &o->target,
      .host = o->target.url,
      .tags = o->tags,
      .n_tags = o->n_tags,
      .exclude_tags = o->exclude_tags,
      .n_exclude_tags = o->n_exclude_tags,
      .users = o->run.users,
      .default_wait = &o->run.wait,
      .wait_given = o->wait_given,
      .list_only = o->list || o->show_task_ratio,
      .option_flags = o->n_plugin_options <= 64 ? flags : NULL,
  };
  if (rl__scn_compile(plugins, *scn, &po, plan, err, sizeof err)) {
    fprintf(stderr, "rpcload: error: %s\n", err);
    return EXIT_USAGE;
  }
  *out_po = po; /* a new host in the web UI compiles with these */
  /* Only fixed_count classes: Locust starts no user past their total. */
  uint64_t fixed = rl__plan_fixed_only_users(*plan);
  if (fixed && o->run.users > fixed) {
    rl__log(RL__LOG_WARN,
            "every user class has a fixed_count: %llu users in all, not %u",
            (unsigned long long)fixed, o->run.users);
    o->run.users = (uint32_t)fixed;
  }
  /* A scenario with on_stop steps needs time for them at the end. */
  if ((*plan)->has_on_stop && o->run.stop_timeout_ns == 0)
    o->run.stop_timeout_ns = 10 * RL__NS_PER_SEC;
  return 0;
}

/* --listener: each file loaded and checked, its --listener-opt given.
 * Returns 0 or an exit status, the reason said. */
static int load_listeners(const cli_options *o, rl__events *events) {
  char err[1024];
  for (size_t i = 0; i < o->n_listeners; i++) {
    rl__listener *l;
    if (rl__events_load(events, o->listeners[i].path, &l, err, sizeof err)) {
      fprintf(stderr, "rpcload: error: %s\n", err);
      return EXIT_USAGE;
    }
    for (size_t k = 0; k < o->listeners[i].n_options; k++)
      if (rl__listener_add_option(l, o->listeners[i].options[k], err,
                                  sizeof err)) {
        fprintf(stderr, "rpcload: error: %s\n", err);
        return EXIT_USAGE;
      }
  }
  return 0;
}

/* One user holds one socket: take the hard limit, and say when even that
 * is too low. */
static void raise_fd_limit(uint32_t users) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (rl.rlim_cur != RLIM_INFINITY && (uint64_t)users + 64 > rl.rlim_cur)
    rl__log(RL__LOG_WARN,
            "%u users need about %u open files but the limit is %llu: raise "
            "it (ulimit -n) or some connections will fail",
            users, users + 64, (unsigned long long)rl.rlim_cur);
}

/* The exit status of a run that was set up (see EXIT_*), most telling
 * first: rpcload could not run it as asked (the threads, a port the web UI
 * could not listen on), then a report lost (the verdict could not be
 * recorded), then the run's own verdict. */
static int run_status(const cli_options *o, const rl__runner *r,
                      rl__stats *stats, int ran, int reports_failed) {
  if (!ran)
    return EXIT_USAGE;
  if (reports_failed)
    return EXIT_REPORT;
  const rl__stats_entry *total = rl__stats_total(stats);
  /* --max-dropped: said whatever else is wrong with the run. */
  uint64_t scheduled, dropped;
  rl__stats_iterations(stats, &scheduled, &dropped);
  int over = cli_shape_dropped_over(o, dropped);
  if (total->num_requests == 0 && r->cut_requests) {
    /* A wedged service must not pass a CI job: whatever
     * --exit-code-on-error says about failures, nothing was measured. */
    rl__log(RL__LOG_ERROR,
            "no request finished: %llu were sent and cut at the stop, the "
            "server answered none (--stop-timeout waits longer for answers)",
            (unsigned long long)r->cut_requests);
    return EXIT_FAILURE;
  }
  if (over)
    return EXIT_FAILURE;
  if (total->num_failures)
    return o->exit_code_on_error;
  return 0;
}

int main(int argc, char **argv) {
  cli_options o;
  char err[1024] = "";
  int status = 0;
  rl__plugin_set plugins;
  rl__plugin_set_init(&plugins, rl__host());
  rl__events events;
  rl__events_init(&events);
  rl__target *target = NULL;
  rl__stats *stats = NULL;
  rl__scn *scn = NULL;
  rl__plan *plan = NULL;
  rl__scn_compile_options po = {0};
  int cargc = 0;
  char **cargv = NULL;

  /* rpcload.conf (or --config) and RPCLOAD_* first, the command line last:
   * getopt keeps the last value of an option, so the command line wins. */
  memset(&o, 0, sizeof o);
  if (cli_config_argv(argc, argv, cli_long_options(), &cargc, &cargv, err,
                      sizeof err)) {
    usage_error(err);
    status = EXIT_USAGE;
    goto out;
  }
  if (cli_options_parse(&o, cargc, cargv, err, sizeof err) ||
      cli_options_check(&o, err, sizeof err)) {
    usage_error(err);
    status = EXIT_USAGE;
    goto out;
  }
  if (o.help) {
    cli_print_help(stdout);
    goto out;
  }
  if (o.version) {
    printf("rpcload %s (plugin ABI %d.%d)\n", RL_VERSION, RL_ABI_MAJOR,
           RL_ABI_MINOR);
    goto out;
  }
  for (size_t i = 0; i < o.n_plugin_dirs; i++)
    rl__plugin_set_add_dir(&plugins, o.plugin_dirs[i]);
  if (o.list_plugins) {
    status = list_plugins(&plugins, o.target.plugin);
    goto out;
  }
  /* Refused listeners stop us before anything else is read. */
  if ((status = load_listeners(&o, &events)))
    goto out;
  if (o.scenario) {
    if ((status = load_scenario(&o, &plugins, &scn, &plan, &po)))
      goto out;
    if (o.list || o.show_task_ratio) {
      if (o.list)
        rl__scn_print_list(plan, stdout);
      if (o.show_task_ratio)
        rl__plan_print_ratios(plan, stdout);
      goto out;
    }
    o.run.plan = plan;
  } else {
    if (rl__target_new(&plugins, &o.target, &target, err, sizeof err)) {
      fprintf(stderr, "rpcload: error: %s\n", err);
      status = EXIT_USAGE;
      goto out;
    }
    if (o.list) {
      status = list_target(target);
      goto out;
    }
    if (o.show_task_ratio) {
      status = print_single_ratio(&o, target);
      goto out;
    }
  }
  /* A peer closing mid-write must be an error code, not a dead process. */
  signal(SIGPIPE, SIG_IGN);
  if ((status = cli_reach_check(&o, target, plan)))
    goto out;
  raise_fd_limit(o.run.users);
  /* Locust's init: the options are read and the plan is made. */
  if (events.n) {
    if (rl__events_start(&events, err, sizeof err)) {
      fprintf(stderr, "rpcload: error: %s\n", err);
      status = EXIT_USAGE;
      goto out;
    }
    o.run.events = &events;
  }
  if (!(stats = rl__stats_new())) {
    fprintf(stderr, "rpcload: error: out of memory\n");
    status = EXIT_USAGE;
    goto out;
  }
  const char *plugin = target ? target->plugin->desc.name : "scenario";
  cli_run run = {.web = {.o = &o,
                         .plugin = plugin,
                         .plugins = &plugins,
                         .scn = scn,
                         .po = po}};
  if (cli_reports_open(&run.reports, &o, plugin, err, sizeof err)) {
    fprintf(stderr, "rpcload: error: %s\n", err);
    status = EXIT_USAGE;
    goto out;
  }
  rl__runner runner;
  rl__runner_hooks hooks = {
      .report = report_progress, .second = report_second, .arg = &run};
  if (cli_web_wanted(&o)) {
    hooks.started = web_started;
    hooks.ended = web_ended;
  }
  int started =
      rl__runner_run(&runner, &o.run, plugins.host, target, stats, &hooks) == 0;
  if (!started)
    fprintf(stderr, "rpcload: error: cannot start the worker threads\n");
  if (o.run.events)
    rl__events_quitting(o.run.events);
  int reports_failed = cli_reports_finish(&run.reports, &runner, stats) != 0;
  status = run_status(&o, &runner, stats, started && !run.web.failed,
                      reports_failed);
  cli_summary_print(&runner, &o);
  rl__runner_free(&runner);
out:
  rl__stats_del(stats);
  rl__target_del(target);
  rl__plan_del(plan);
  rl__scn_del(scn);
  rl__plugin_set_free(&plugins);
  rl__events_free(&events); /* after the plugins: nothing runs any more */
  cli_options_free(&o);
  cli_config_free(cargv);
  return status;
}

/* What the parsed options mean together: the target and the mode (a run,
 * a scenario, a listing) from the operands, the checks across options, and
 * the settings derived from them. Parsing is options.c's. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api/options.h"
#include "base/clock.h"
#include "base/log.h"

/* The target options' lists and default scheme, from the options given. */
static void build_target(rl__api_options *o) {
  /* "host:port" with gRPC's options (or --call alone, asking the server
   * by reflection) is a gRPC target, as in grpcurl and ghz. */
  for (size_t i = 0; i < o->n_plugin_options; i++)
    if (strcmp(o->plugin_options[i].key, "call") == 0)
      o->grpc_given |= 2;
  if (o->grpc_given && !o->target.plugin)
    o->target.default_scheme = "grpc";
  o->target.headers = o->headers;
  o->target.n_headers = o->n_headers;
  o->target.options = o->plugin_options;
  o->target.n_options = o->n_plugin_options;
}

static int too_many(const rl__api_options *o, const char *what, char *err,
                    size_t errlen) {
  snprintf(err, errlen, "one %s expected, got '%s' and '%s'", what, o->args[0],
           o->args[1]);
  return RL_ERR_INVAL;
}

/* A request option with -f that no step could take: why, or NULL. The
 * others apply to the steps (scenario/compile.c: -H to every step, a
 * plugin's options to the steps whose plugin declares them). */
static const char *refused_with_scenario(const rl__api_options *o) {
  if (o->method_given)
    return "-X: with -f the method is in each step (http: POST /path)";
  if (o->data_given)
    return "-d: with -f each step gives its own payload (body:, json: or "
           "data:)";
  if (o->name_given)
    return "--name: with -f each step gives its own (name:)";
  for (size_t i = 0; i < o->n_plugin_options; i++) {
    if (strcmp(o->plugin_options[i].key, "call") == 0)
      return "--call: with -f each step names its call (grpc: Method, "
             "redis: 'GET key')";
    if (strcmp(o->plugin_options[i].key, "data_file") == 0)
      return "-D: with -f each step gives its message (data:), or rows "
             "come from a data file (data: {file: ...})";
  }
  return NULL;
}

/* ghz talks TLS to host:port unless told --insecure (plain text there);
 * rpcload only with grpcs://. A TLS option with a bare host:port is
 * someone who wants TLS: say how to ask for it. */
static int tls_needs_scheme(const rl__api_options *o, char *err,
                            size_t errlen) {
  const rl__tls_options *tls = &o->target.tls;
  const char *url = o->target.url;
  if (!url || strstr(url, "://") || !o->target.default_scheme ||
      strcmp(o->target.default_scheme, "grpc") != 0)
    return 0;
  const char *opt = tls->cacert     ? "--cacert"
                    : tls->insecure ? "--insecure"
                    : tls->cert     ? "--cert"
                    : tls->key      ? "--key"
                                    : NULL;
  if (!opt)
    return 0;
  snprintf(err, errlen,
           "%s is for TLS, and %s without a scheme is plain-text gRPC: write "
           "grpcs://%s for TLS (rpcload's --insecure means TLS without "
           "checking the certificate; ghz's means plain text, rpcload's "
           "grpc://)",
           opt, url, url);
  return RL_ERR_INVAL;
}

/* -f: the file holds the requests; a target on the command line is the
 * host every step without its own goes to. */
static int scenario_target(rl__api_options *o, char *err, size_t errlen) {
  if (o->n_args > 1)
    return too_many(o, "target", err, errlen);
  const char *why = refused_with_scenario(o);
  if (why) {
    snprintf(err, errlen, "%s", why);
    return RL_ERR_INVAL;
  }
  o->target.url = o->n_args > 0 ? o->args[0] : NULL;
  o->target.default_scheme = NULL;
  if (o->http2)
    o->target.plugin = "http2";
  return 0;
}

/* --list or --show-task-ratio without -f: the command line's one step,
 * made only to be listed, so no target is needed (the plugin is handed no
 * host). --list asks the plugin what it can list (a gRPC service). */
static int list_target(rl__api_options *o, char *err, size_t errlen) {
  o->target.list_only = 1;
  if (o->n_args > 1)
    return too_many(o, "target", err, errlen);
  o->target.url = o->n_args > 0 ? o->args[0] : NULL;
  if (o->http2 && !o->target.plugin)
    o->target.plugin = "http2";
  if (!o->target.url && !o->grpc_given && !o->target.plugin) {
    if (o->list)
      snprintf(err, errlen,
               "--list lists a gRPC service: give --proto FILE, --protoset "
               "FILE, or a server that offers reflection");
    else
      snprintf(err, errlen,
               "--show-task-ratio without -f shows the command line's one "
               "request: give its URL, or --plugin NAME (gRPC: --proto and "
               "--call)");
    return RL_ERR_INVAL;
  }
  if (!o->target.default_scheme && !o->target.plugin)
    o->target.default_scheme = "grpc";
  return tls_needs_scheme(o, err, errlen);
}

/* The quick command line: exactly one URL. */
static int url_target(rl__api_options *o, char *err, size_t errlen) {
  if (o->n_args < 1) {
    snprintf(err, errlen, "no target URL given (e.g. http://127.0.0.1:8080/)");
    return RL_ERR_INVAL;
  }
  if (o->n_args > 1)
    return too_many(o, "target URL", err, errlen);
  o->target.url = o->args[0];
  int rc = tls_needs_scheme(o, err, errlen);
  if (rc)
    return rc;
  /* gRPC's options with an HTTP URL: say what the scheme means, before the
   * HTTP plugin refuses an option it never heard of. */
  const char *u = o->target.url;
  int http = strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0;
  if (http && (o->grpc_given & 1) && !o->target.plugin) {
    const char *rest = strstr(u, "://") + 3;
    snprintf(err, errlen,
             "%s is an HTTP target, and --proto, --protoset, -I, -m, -D... "
             "are gRPC's: give grpc://%.*s (h2c), grpcs://%.*s (TLS), or "
             "just %.*s",
             u, (int)strcspn(rest, "/"), rest, (int)strcspn(rest, "/"), rest,
             (int)strcspn(rest, "/"), rest);
    return RL_ERR_INVAL;
  }
  return 0;
}

/* Options that contradict each other or the mode. */
static int check_conflicts(rl__api_options *o, char *err, size_t errlen) {
  if (o->scenario && o->run.connections) {
    snprintf(err, errlen,
             "--connections applies to the command line's one request, not "
             "to a scenario (each user holds its own connections)");
    return RL_ERR_INVAL;
  }
  if (o->run.warmup_ns && o->run.run_time_ns &&
      o->run.warmup_ns >= o->run.run_time_ns) {
    snprintf(err, errlen,
             "--warmup is not shorter than --run-time: no request would "
             "count");
    return RL_ERR_INVAL;
  }
  if (!o->scenario && o->grpc_given && (o->no_cookies || o->no_redirects)) {
    snprintf(err, errlen,
             "--no-cookies and --no-redirects are for HTTP "
             "targets, and this one is gRPC");
    return RL_ERR_INVAL;
  }
  if (o->http2) {
    if (o->target.plugin && strcmp(o->target.plugin, "http2") != 0) {
      snprintf(err, errlen, "--http2 and --plugin %s contradict each other",
               o->target.plugin);
      return RL_ERR_INVAL;
    }
    /* h2c with prior knowledge, or h2 agreed by ALPN: never HTTP/1.1. */
    o->target.plugin = "http2";
    o->target.alpn_required = 1;
  }
  return 0;
}

/* The run's settings that follow from the others. */
static void derive_run(rl__api_options *o) {
  if (!o->seed_given)
    o->run.seed = rl__now_ns() ^ ((uint64_t)getpid() << 32);
  /* The web UI is opt-in, so that `rpcload -u ... URL` loads at once as
   * wrk and ghz do; --headless overrides every web option, as Locust's. */
  o->web = o->web && !o->headless;
  if (o->web) {
    o->run.steered = 1;
    if (!o->web_host)
      o->web_host = "127.0.0.1";
  } else {
    o->run.autostart = 0;
    o->run.autoquit_s = -1;
  }
  /* More threads than users would only idle (the web UI may ask for more
   * users than -u: keep every core there). */
  if (!o->web && !o->threads_given && o->run.threads > o->run.users)
    o->run.threads = o->run.users;
  /* A user has one request in flight: connections past the users would
   * never carry one, and a million of them cost hundreds of MB. The web UI
   * may ask for more users than -u later: there the pool stays as asked. */
  if (!o->web && o->run.connections > o->run.users) {
    rl__log(RL__LOG_WARN,
            "--connections %u is more than %u user%s can use (one request "
            "in flight each): %u connections",
            o->run.connections, o->run.users, o->run.users == 1 ? "" : "s",
            o->run.users);
    o->run.connections = o->run.users;
  }
  /* Every thread needs at least one of the shared connections. */
  if (o->run.connections && o->run.threads > o->run.connections)
    o->run.threads = o->run.connections;
  if (o->only_summary)
    o->run.report_interval_s = 0;
}

int rl__api_options_check(rl__api_options *o, char *err, size_t errlen) {
  if (o->help || o->version || o->list_plugins)
    return 0; /* no run to check */
  /* --host URL (Locust's) is the target operand. */
  if (o->host) {
    if (o->n_args > 0) {
      snprintf(err, errlen, "--host %s and the target '%s': give one", o->host,
               o->args[0]);
      return RL_ERR_INVAL;
    }
    o->host_slot = o->host;
    o->args = &o->host_slot;
    o->n_args = 1;
  }
  build_target(o);
  if (o->print_locustfile && (o->list || o->show_task_ratio)) {
    snprintf(err, errlen, "--print-locustfile and %s: give one",
             o->list ? "--list" : "--show-task-ratio");
    return RL_ERR_INVAL;
  }
  if (o->scenario || o->script) {
    if (scenario_target(o, err, errlen))
      return RL_ERR_INVAL;
    if (o->list || o->show_task_ratio || o->print_locustfile)
      return 0; /* the plan is printed, not run */
  } else if (o->print_locustfile) {
    /* The command line's one class, "User": no target needed. */
    return o->n_args > 1 ? too_many(o, "target", err, errlen) : 0;
  } else if (o->list || o->show_task_ratio) {
    return list_target(o, err, errlen);
  } else if (url_target(o, err, errlen)) {
    return RL_ERR_INVAL;
  }
  if (check_conflicts(o, err, errlen) || rl__api_shape_check(o, err, errlen) ||
      rl__api_cluster_check(o, err, errlen))
    return RL_ERR_INVAL;
  if (o->cluster_key_given && !o->cluster.worker && !o->cluster.master &&
      !o->cluster.processes) {
    snprintf(err, errlen,
             "--cluster-key is for a cluster's nodes: add --master or "
             "--worker");
    return RL_ERR_INVAL;
  }
  derive_run(o);
  return 0;
}

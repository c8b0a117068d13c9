/* Command-line options of the rpcload executable, parsed into the core's
 * configuration structs (options.c), then checked and completed
 * (options_check.c). */
#ifndef RL_API_OPTIONS_H
#define RL_API_OPTIONS_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>

#include "api/cluster.h"
#include "api/shape.h"
#include "cluster/curve.h"
#include "engine/runner.h"
#include "engine/target.h"

/* --listener FILE with the --listener-opt K=V given after it. */
typedef struct rl__api_listener {
  const char *path;     /* argv's */
  const char **options; /* owned array of argv strings */
  size_t n_options;
} rl__api_listener;

typedef struct rl__api_options {
  rl__run_config run;
  rl__api_shape shape;     /* --rate, --stages, -n... (shape.h) */
  rl__api_cluster cluster; /* --worker, --master... (cluster.h) */
  /* --cluster-key (cluster/curve.h): CURVE on the cluster's socket, read
   * when parsed; cluster_key_given 0: none (Locust's plain wire). */
  rl__curve_key cluster_key;
  int cluster_key_given;
  rl__target_options target;
  rl_kv *headers; /* owned; values point into argv */
  size_t n_headers;
  char *body;            /* owned when read from @file, else NULL */
  rl_kv *plugin_options; /* --call, -O; owned array, strings in argv */
  size_t n_plugin_options;
  /* --no-cookies, --no-redirects given: each is a plugin option in
   * plugin_options (cookies=off, allow_redirects=false). */
  uint8_t no_cookies, no_redirects;
  const char **plugin_dirs; /* owned array of argv strings */
  size_t n_plugin_dirs;
  rl__api_listener *listeners; /* --listener, in order; owned array */
  size_t n_listeners;
  int help, version, list_plugins;
  int only_summary, headless, http2;
  int binary_given; /* -b: the body is serialized protobuf from stdin */
  int exit_code_on_error;
  int seed_given;
  int list;                          /* --list */
  const char *scenario;              /* -f FILE */
  const char *script;                /* -s FILE.lua (src/script/ loads it) */
  const char **tags, **exclude_tags; /* owned arrays of argv strings */
  size_t n_tags, n_exclude_tags;
  int show_task_ratio;
  int print_locustfile; /* --print-locustfile (api/locustfile.c) */
  /* --source-address's addresses; target.sources points here when given
   * (so the options must not move once parsed). */
  rl__sources sources;
  /* --lua-memory SIZE, --lua-timeslice DURATION: as typed, read (and
   * refused when bad) by rl_env_add_script, src/script/safety.c. */
  const char *lua_memory, *lua_timeslice;
  int users_given, rate_given, time_given, wait_given, threads_given;
  uint32_t cpus; /* the threads a run may use (before fewer users cut it) */
  int allow_unreachable;  /* --allow-unreachable: warn, not stop, at start */
  int grpc_given;         /* 1: a gRPC option (--proto...); 2: --call */
  const char *html_path;  /* --html FILE, or NULL */
  const char *csv_prefix; /* --csv PREFIX, or NULL */
  int csv_decimals;       /* --csv-decimals: unrounded percentiles */
  int json;               /* --json: the final stats as JSON on stdout */
  const char *json_path;  /* --json-file FILE, or NULL */
  /* The web UI and Prometheus (cli/web.c). --web-host, --web-port,
   * --web-login, --autostart and --autoquit imply --web; --headless wins
   * (rl__api_options_check). */
  int web;                     /* --web: steered by the web UI */
  const char *web_host;        /* --web-host, default 127.0.0.1 */
  int web_port;                /* --web-port, default 8089; 0: any */
  const char *web_login;       /* --web-login user:pass, or NULL */
  const char *prometheus_host; /* --prometheus-port [HOST:]PORT; NULL: */
  int prometheus_port;         /*   127.0.0.1; port -1: none, 0: any */
  char *prometheus_arg;        /* owned copy of HOST for prometheus_host */
  char *host;      /* --host URL (Locust's), or NULL: the operand instead */
  char *host_slot; /* args points here when --host is the target */
  char **args;     /* the operands after the options: argv's, borrowed */
  int n_args;
  int method_given, name_given, data_given; /* -X, --name, -d */
  int data_raw; /* the data came with --data-raw: "{{" written untemplated */
} rl__api_options;

/*
 * Parses argv into `o` (zeroed and defaulted first): each option's value
 * alone, nothing across options. argv is reordered (operands last) and
 * edited in place; `o` points into it, so it must outlive `o`. Returns 0,
 * or RL_ERR_INVAL with a one-line reason in err (a usage error: exit 2;
 * RL_ERR_NOMEM when out of memory). `o` must be freed with
 * rl__api_options_free either way.
 */
int rl__api_options_parse(rl__api_options *o, int argc, char **argv, char *err,
                          size_t errlen);

/*
 * After rl__api_options_parse: takes the target from the operands, checks
 * the options against each other and the mode (-f, --list), and derives
 * the run's settings (o->target, o->run). Returns 0, or RL_ERR_INVAL with
 * a one-line reason in err (a usage error: exit 2). Nothing to do with
 * --help, --version or --plugins.
 */
int rl__api_options_check(rl__api_options *o, char *err, size_t errlen);

void rl__api_options_free(rl__api_options *o);

/* getopt's table of long options (for the config file's names). */
const struct option *rl__api_long_options(void);

#endif /* RL_API_OPTIONS_H */

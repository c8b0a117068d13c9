#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/units.h"

enum {
  OPT_THREADS = 256,
  OPT_WAIT,
  OPT_NAME,
  OPT_INSECURE,
  OPT_CACERT,
  OPT_CERT,
  OPT_KEY,
  OPT_CONNECT_TIMEOUT,
  OPT_TIMEOUT,
  OPT_ONLY_SUMMARY,
  OPT_HEADLESS,
  OPT_STOP_TIMEOUT,
  OPT_EXIT_CODE,
  OPT_PLUGINS,
  OPT_PLUGIN,
  OPT_PLUGIN_DIR,
  OPT_SEED,
  OPT_CALL,
  OPT_HTTP2,
  OPT_CONNECTIONS,
  OPT_PROTO,
  OPT_PROTOSET,
  OPT_AUTHORITY,
  OPT_COMPRESS,
  OPT_LIST,
  OPT_TAGS,
  OPT_EXCLUDE_TAGS,
  OPT_SHOW_TASK_RATIO,
  OPT_HTML,
  OPT_WEB,
  OPT_WEB_HOST,
  OPT_WEB_PORT,
  OPT_WEB_LOGIN,
  OPT_AUTOSTART,
  OPT_AUTOQUIT,
  OPT_PROMETHEUS_PORT,
  OPT_CSV,
  OPT_CSV_FULL_HISTORY,
  OPT_JSON,
  OPT_JSON_FILE,
};

static const struct option long_options[] = {
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {"users", required_argument, NULL, 'u'},
    {"spawn-rate", required_argument, NULL, 'r'},
    {"run-time", required_argument, NULL, 't'},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"wait", required_argument, NULL, OPT_WAIT},
    {"method", required_argument, NULL, 'X'},
    {"header", required_argument, NULL, 'H'},
    {"data", required_argument, NULL, 'd'},
    {"name", required_argument, NULL, OPT_NAME},
    {"insecure", no_argument, NULL, OPT_INSECURE},
    {"cacert", required_argument, NULL, OPT_CACERT},
    {"cert", required_argument, NULL, OPT_CERT},
    {"key", required_argument, NULL, OPT_KEY},
    {"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"only-summary", no_argument, NULL, OPT_ONLY_SUMMARY},
    {"headless", no_argument, NULL, OPT_HEADLESS},
    {"stop-timeout", required_argument, NULL, OPT_STOP_TIMEOUT},
    {"exit-code-on-error", required_argument, NULL, OPT_EXIT_CODE},
    {"plugins", no_argument, NULL, OPT_PLUGINS},
    {"plugin", required_argument, NULL, OPT_PLUGIN},
    {"plugin-dir", required_argument, NULL, OPT_PLUGIN_DIR},
    {"seed", required_argument, NULL, OPT_SEED},
    {"call", required_argument, NULL, OPT_CALL},
    {"http2", no_argument, NULL, OPT_HTTP2},
    {"connections", required_argument, NULL, OPT_CONNECTIONS},
    {"option", required_argument, NULL, 'O'},
    {"proto", required_argument, NULL, OPT_PROTO},
    {"import-path", required_argument, NULL, 'I'},
    {"protoset", required_argument, NULL, OPT_PROTOSET},
    {"metadata", required_argument, NULL, 'm'},
    {"authority", required_argument, NULL, OPT_AUTHORITY},
    {"compress", required_argument, NULL, OPT_COMPRESS},
    {"data-file", required_argument, NULL, 'D'},
    {"list", no_argument, NULL, OPT_LIST},
    {"scenario", required_argument, NULL, 'f'},
    {"tags", required_argument, NULL, OPT_TAGS},
    {"exclude-tags", required_argument, NULL, OPT_EXCLUDE_TAGS},
    {"show-task-ratio", no_argument, NULL, OPT_SHOW_TASK_RATIO},
    {"html", required_argument, NULL, OPT_HTML},
    {"web", no_argument, NULL, OPT_WEB},
    {"web-host", required_argument, NULL, OPT_WEB_HOST},
    {"web-port", required_argument, NULL, OPT_WEB_PORT},
    {"web-login", required_argument, NULL, OPT_WEB_LOGIN},
    {"autostart", no_argument, NULL, OPT_AUTOSTART},
    {"autoquit", required_argument, NULL, OPT_AUTOQUIT},
    {"prometheus-port", required_argument, NULL, OPT_PROMETHEUS_PORT},
    {"csv", required_argument, NULL, OPT_CSV},
    {"csv-full-history", no_argument, NULL, OPT_CSV_FULL_HISTORY},
    {"json", no_argument, NULL, OPT_JSON},
    {"json-file", required_argument, NULL, OPT_JSON_FILE},
    {NULL, 0, NULL, 0},
};

static int read_file(const char *path, char **out, size_t *len, char *err,
                     size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "cannot read -d @%s: %s", path, strerror(errno));
    return RL_ERR_INVAL;
  }
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (n < cap)
      break;
    char *bigger = realloc(buf, cap * 2);
    if (!bigger) {
      free(buf);
      buf = NULL;
      break;
    }
    buf = bigger;
    cap *= 2;
  }
  int bad = ferror(f);
  fclose(f);
  if (!buf || bad) {
    free(buf);
    snprintf(err, errlen, "cannot read -d @%s", path);
    return RL_ERR_INVAL;
  }
  *out = buf;
  *len = n;
  return 0;
}

static int add_header(cli_options *o, char *arg, char *err, size_t errlen) {
  char *colon = strchr(arg, ':');
  if (!colon || colon == arg) {
    snprintf(err, errlen, "header '%s' must look like 'Name: value'", arg);
    return RL_ERR_INVAL;
  }
  rl_kv *h = realloc(o->headers, (o->n_headers + 1) * sizeof *h);
  if (!h) {
    snprintf(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  o->headers = h;
  /* argv is ours to edit: split "Name: value" in place. */
  char *name_end = colon;
  while (name_end > arg && (name_end[-1] == ' ' || name_end[-1] == '\t'))
    name_end--;
  *name_end = 0;
  char *value = colon + 1;
  while (*value == ' ' || *value == '\t')
    value++;
  h[o->n_headers].key = arg;
  h[o->n_headers].value = value;
  o->n_headers++;
  return 0;
}

/* --tags a,b (repeatable): appends each comma-separated tag. */
static int add_tags(const char ***list, size_t *n, char *arg) {
  char *save = NULL;
  for (char *t = strtok_r(arg, ", ", &save); t;
       t = strtok_r(NULL, ", ", &save)) {
    const char **l = realloc(*list, (*n + 1) * sizeof *l);
    if (!l)
      return RL_ERR_NOMEM;
    *list = l;
    l[(*n)++] = t;
  }
  return 0;
}

static int add_plugin_option(cli_options *o, const char *key, const char *value,
                             char *err, size_t errlen) {
  rl_kv *kv =
      realloc(o->plugin_options, (o->n_plugin_options + 1) * sizeof(rl_kv));
  if (!kv) {
    snprintf(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  o->plugin_options = kv;
  kv[o->n_plugin_options].key = key;
  kv[o->n_plugin_options].value = value;
  o->n_plugin_options++;
  return 0;
}

static int bad_value(const char *opt, const char *value, const char *expect,
                     char *err, size_t errlen) {
  snprintf(err, errlen, "invalid %s '%s': %s", opt, value, expect);
  return RL_ERR_INVAL;
}

/* --prometheus-port [HOST:]PORT; an IPv6 HOST in brackets ([::1]:9646). */
static int parse_host_port(cli_options *o, const char *arg, char *err,
                           size_t errlen) {
  const char *colon = strrchr(arg, ':');
  const char *port = colon ? colon + 1 : arg;
  long long v;
  if (rl__parse_int(port, 0, 65535, &v))
    return bad_value("--prometheus-port", arg,
                     "expected [HOST:]PORT with PORT 0 to 65535", err, errlen);
  o->prometheus_port = (int)v;
  free(o->prometheus_arg);
  o->prometheus_arg = NULL;
  o->prometheus_host = NULL;
  if (colon) {
    const char *h = arg;
    size_t n = (size_t)(colon - arg);
    if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
      h++;
      n -= 2;
    }
    if (n == 0)
      return bad_value("--prometheus-port", arg, "empty HOST", err, errlen);
    o->prometheus_arg = malloc(n + 1);
    if (!o->prometheus_arg) {
      snprintf(err, errlen, "out of memory");
      return RL_ERR_NOMEM;
    }
    memcpy(o->prometheus_arg, h, n);
    o->prometheus_arg[n] = 0;
    o->prometheus_host = o->prometheus_arg;
  }
  return 0;
}

int cli_options_parse(cli_options *o, int argc, char **argv, char *err,
                      size_t errlen) {
  memset(o, 0, sizeof *o);
  o->run.users = 1;
  o->run.spawn_rate = 1;
  o->run.report_interval_s = 2.0;
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  o->run.threads = cores > 0 ? (uint32_t)cores : 1;
  o->target.connect_timeout_ns = 10 * RL__NS_PER_SEC;
  o->target.request_timeout_ns = 60 * RL__NS_PER_SEC;
  o->exit_code_on_error = 1;
  int threads_given = 0;
  o->web_port = 8089;
  o->prometheus_port = -1;
  o->run.autoquit_s = -1;
  int web_implied = 0;

  opterr = 0;
  optind = 1;
  int c;
  long long v;
  double d;
  uint64_t ns;
  while ((c = getopt_long(argc, argv, ":hVu:r:t:X:H:d:O:I:m:D:f:", long_options,
                          NULL)) != -1) {
    switch (c) {
    case 'h':
      o->help = 1;
      break;
    case 'V':
      o->version = 1;
      break;
    case 'u':
      o->users_given = 1;
      if (rl__parse_int(optarg, 1, 10000000, &v))
        return bad_value("--users", optarg, "expected a whole number >= 1", err,
                         errlen);
      o->run.users = (uint32_t)v;
      break;
    case 'r':
      o->rate_given = 1;
      if (rl__parse_number(optarg, &d) || d <= 0)
        return bad_value("--spawn-rate", optarg,
                         "expected users per second > 0, e.g. 10 or 0.5", err,
                         errlen);
      o->run.spawn_rate = d;
      break;
    case 't':
      o->time_given = 1;
      if (rl__parse_duration(optarg, &ns) || ns == 0)
        return bad_value("--run-time", optarg,
                         "expected a duration such as 30s, 5m, 1h30m or 90",
                         err, errlen);
      o->run.run_time_ns = ns;
      break;
    case OPT_THREADS:
      if (rl__parse_int(optarg, 1, 1024, &v))
        return bad_value("--threads", optarg, "expected 1 to 1024", err,
                         errlen);
      o->run.threads = (uint32_t)v;
      threads_given = 1;
      break;
    case OPT_WAIT: {
      o->wait_given = 1;
      char why[256];
      if (rl__wait_parse(optarg, &o->run.wait, why, sizeof why)) {
        snprintf(err, errlen, "%s", why);
        return RL_ERR_INVAL;
      }
      break;
    }
    case 'X':
      o->target.method = optarg;
      break;
    case 'H':
      if (add_header(o, optarg, err, errlen))
        return RL_ERR_INVAL;
      break;
    case 'd':
      free(o->body);
      o->body = NULL;
      if (optarg[0] == '@') {
        size_t len;
        if (read_file(optarg + 1, &o->body, &len, err, errlen))
          return RL_ERR_INVAL;
        o->target.body = (const uint8_t *)o->body;
        o->target.body_len = len;
      } else {
        o->target.body = (const uint8_t *)optarg;
        o->target.body_len = strlen(optarg);
      }
      break;
    case OPT_NAME:
      o->target.name = optarg;
      break;
    case OPT_INSECURE:
      o->target.tls.insecure = 1;
      break;
    case OPT_CACERT:
      o->target.tls.cacert = optarg;
      break;
    case OPT_CERT:
      o->target.tls.cert = optarg;
      break;
    case OPT_KEY:
      o->target.tls.key = optarg;
      break;
    case OPT_CONNECT_TIMEOUT:
      if (rl__parse_duration(optarg, &ns) || ns == 0)
        return bad_value("--connect-timeout", optarg, "expected seconds > 0",
                         err, errlen);
      o->target.connect_timeout_ns = ns;
      break;
    case OPT_TIMEOUT:
      if (rl__parse_duration(optarg, &ns) || ns == 0)
        return bad_value("--timeout", optarg, "expected seconds > 0", err,
                         errlen);
      o->target.request_timeout_ns = ns;
      break;
    case OPT_ONLY_SUMMARY:
      o->only_summary = 1;
      break;
    case OPT_HEADLESS:
      o->headless = 1;
      break;
    case OPT_STOP_TIMEOUT:
      if (rl__parse_duration(optarg, &ns))
        return bad_value("--stop-timeout", optarg, "expected seconds >= 0", err,
                         errlen);
      o->run.stop_timeout_ns = ns;
      break;
    case OPT_EXIT_CODE:
      if (rl__parse_int(optarg, 0, 255, &v))
        return bad_value("--exit-code-on-error", optarg, "expected 0 to 255",
                         err, errlen);
      o->exit_code_on_error = (int)v;
      break;
    case OPT_PLUGINS:
      o->list_plugins = 1;
      break;
    case OPT_PLUGIN:
      o->target.plugin = optarg;
      break;
    case OPT_PLUGIN_DIR: {
      const char **dirs =
          realloc(o->plugin_dirs, (o->n_plugin_dirs + 1) * sizeof *dirs);
      if (!dirs) {
        snprintf(err, errlen, "out of memory");
        return RL_ERR_NOMEM;
      }
      o->plugin_dirs = dirs;
      dirs[o->n_plugin_dirs++] = optarg;
      break;
    }
    case OPT_SEED:
      if (rl__parse_int(optarg, 0, INT64_MAX, &v))
        return bad_value("--seed", optarg, "expected a whole number >= 0", err,
                         errlen);
      o->run.seed = (uint64_t)v;
      o->seed_given = 1;
      break;
    case OPT_HTTP2:
      o->http2 = 1;
      break;
    case OPT_CONNECTIONS:
      if (rl__parse_int(optarg, 1, 1000000, &v))
        return bad_value("--connections", optarg,
                         "expected a whole number >= 1", err, errlen);
      o->run.connections = (uint32_t)v;
      break;
    case OPT_CALL:
      if (add_plugin_option(o, "call", optarg, err, errlen))
        return RL_ERR_NOMEM;
      break;
    case 'O': {
      char *eq = strchr(optarg, '=');
      if (!eq || eq == optarg)
        return bad_value("--option", optarg, "expected KEY=VALUE", err, errlen);
      *eq = 0; /* argv is ours to edit */
      if (add_plugin_option(o, optarg, eq + 1, err, errlen))
        return RL_ERR_NOMEM;
      break;
    }
    case OPT_PROTO:
    case 'I':
    case OPT_PROTOSET:
    case 'm':
    case OPT_AUTHORITY:
    case OPT_COMPRESS:
    case 'D': {
      /* gRPC's options reach the plugin as its own options; they also
       * make a target without a scheme mean grpc://. */
      const char *key = c == OPT_PROTO       ? "proto"
                        : c == 'I'           ? "import_path"
                        : c == OPT_PROTOSET  ? "protoset"
                        : c == 'm'           ? "metadata"
                        : c == OPT_AUTHORITY ? "authority"
                        : c == OPT_COMPRESS  ? "compress"
                                             : "data_file";
      if (add_plugin_option(o, key, optarg, err, errlen))
        return RL_ERR_NOMEM;
      o->grpc_given = 1;
      break;
    }
    case OPT_LIST:
      o->list = 1;
      break;
    case 'f':
      o->scenario = optarg;
      break;
    case OPT_TAGS:
    case OPT_EXCLUDE_TAGS:
      if (add_tags(c == OPT_TAGS ? &o->tags : &o->exclude_tags,
                   c == OPT_TAGS ? &o->n_tags : &o->n_exclude_tags, optarg))
        return RL_ERR_NOMEM;
      break;
    case OPT_SHOW_TASK_RATIO:
      o->show_task_ratio = 1;
      break;
    case OPT_HTML:
      o->html_path = optarg;
      break;
    case OPT_CSV:
      o->csv_prefix = optarg;
      break;
    case OPT_CSV_FULL_HISTORY:
      o->run.full_history = 1;
      break;
    case OPT_JSON:
      o->json = 1;
      break;
    case OPT_JSON_FILE:
      o->json_path = optarg;
      break;
    case OPT_WEB:
      o->web = 1;
      break;
    case OPT_WEB_HOST:
      o->web_host = optarg;
      web_implied = 1;
      break;
    case OPT_WEB_PORT:
      if (rl__parse_int(optarg, 0, 65535, &v))
        return bad_value("--web-port", optarg, "expected 0 to 65535", err,
                         errlen);
      o->web_port = (int)v;
      web_implied = 1;
      break;
    case OPT_WEB_LOGIN:
      if (!strchr(optarg, ':') || optarg[0] == ':')
        return bad_value("--web-login", optarg, "expected user:password", err,
                         errlen);
      o->web_login = optarg;
      web_implied = 1;
      break;
    case OPT_AUTOSTART:
      o->run.autostart = 1;
      web_implied = 1;
      break;
    case OPT_AUTOQUIT:
      if (rl__parse_duration(optarg, &ns))
        return bad_value("--autoquit", optarg,
                         "expected seconds >= 0, e.g. 10 or 1m", err, errlen);
      o->run.autoquit_s = (double)ns / 1e9;
      web_implied = 1;
      break;
    case OPT_PROMETHEUS_PORT:
      if (parse_host_port(o, optarg, err, errlen))
        return RL_ERR_INVAL;
      break;
    case ':':
      snprintf(err, errlen, "option '%s' needs a value", argv[optind - 1]);
      return RL_ERR_INVAL;
    default:
      snprintf(err, errlen, "unknown option '%s'", argv[optind - 1]);
      return RL_ERR_INVAL;
    }
  }
  if (o->help || o->version || o->list_plugins)
    return 0;
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
  if (o->scenario) {
    /* The file holds the requests; a target on the command line is the
     * host every step without its own goes to. */
    if (argc - optind > 1) {
      snprintf(err, errlen, "one target expected, got '%s' and '%s'",
               argv[optind], argv[optind + 1]);
      return RL_ERR_INVAL;
    }
    o->target.url = optind < argc ? argv[optind] : NULL;
    o->target.default_scheme = NULL;
    if (o->http2)
      o->target.plugin = "http2";
    if (o->list || o->show_task_ratio)
      return 0;
  } else if (o->list) {
    o->target.list_only = 1;
    if (argc - optind > 1) {
      snprintf(err, errlen, "one target expected, got '%s' and '%s'",
               argv[optind], argv[optind + 1]);
      return RL_ERR_INVAL;
    }
    o->target.url = optind < argc ? argv[optind] : NULL;
    if (!o->target.url && !(o->grpc_given & 1)) {
      snprintf(err, errlen,
               "--list lists a gRPC service: give --proto FILE, --protoset "
               "FILE, or a server that offers reflection");
      return RL_ERR_INVAL;
    }
    if (!o->target.default_scheme && !o->target.plugin)
      o->target.default_scheme = "grpc";
    return 0;
  }
  if (!o->scenario && optind >= argc) {
    snprintf(err, errlen, "no target URL given (e.g. http://127.0.0.1:8080/)");
    return RL_ERR_INVAL;
  }
  if (!o->scenario && argc - optind > 1) {
    snprintf(err, errlen, "one target URL expected, got '%s' and '%s'",
             argv[optind], argv[optind + 1]);
    return RL_ERR_INVAL;
  }
  if (!o->scenario)
    o->target.url = argv[optind];
  if (o->scenario && o->run.connections) {
    snprintf(err, errlen,
             "--connections applies to the command line's one request, not "
             "to a scenario (each user holds its own connections)");
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
  if (!o->seed_given)
    o->run.seed = rl__now_ns() ^ ((uint64_t)getpid() << 32);
  /* The web UI is opt-in, so that `rpcload -u ... URL` loads at once as
   * wrk and ghz do; --headless overrides every web option, as Locust's. */
  o->web = (o->web || web_implied) && !o->headless;
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
  if (!o->web && !threads_given && o->run.threads > o->run.users)
    o->run.threads = o->run.users;
  /* Every thread needs at least one of the shared connections. */
  if (o->run.connections && o->run.threads > o->run.connections)
    o->run.threads = o->run.connections;
  if (o->only_summary)
    o->run.report_interval_s = 0;
  return 0;
}

const struct option *cli_long_options(void) { return long_options; }

void cli_options_free(cli_options *o) {
  free(o->tags);
  free(o->exclude_tags);
  free(o->headers);
  free(o->body);
  free(o->plugin_dirs);
  free(o->plugin_options);
  free(o->prometheus_arg);
  memset(o, 0, sizeof *o);
}

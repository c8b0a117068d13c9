/* The command line read into rl__api_options: getopt's table and one parser per
 * group of options, as --help groups them. What the options mean together
 * (the target, the mode, the derived settings) is options_check.c's. */
/* glibc's feature macro (reserved, and meant to be set here) for
 * sched_getaffinity and CPU_COUNT. */
#define _GNU_SOURCE // NOLINT(bugprone-reserved-identifier)
#include "api/options.h"

#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/habits.h"
#include "base/clock.h"
#include "base/units.h"

enum {
  OPT_THREADS = 256,
  OPT_WAIT,
  OPT_NAME,
  OPT_DATA_RAW,
  OPT_INSECURE,
  OPT_CACERT,
  OPT_CERT,
  OPT_KEY,
  OPT_CONNECT_TIMEOUT,
  OPT_SOURCE_ADDRESS,
  OPT_CLUSTER_KEY,
  OPT_TIMEOUT,
  OPT_ONLY_SUMMARY,
  OPT_HEADLESS,
  OPT_STOP_TIMEOUT,
  OPT_EXIT_CODE,
  OPT_PLUGINS,
  OPT_PLUGIN,
  OPT_PLUGIN_DIR,
  OPT_LISTENER,
  OPT_LISTENER_OPT,
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
  OPT_PRINT_LOCUSTFILE,
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
  OPT_HOST,
  OPT_MAX_ERROR_ROWS,
  OPT_ALLOW_UNREACHABLE,
  OPT_STREAM_INTERVAL,
  OPT_STREAM_CALL_DURATION,
  OPT_STREAM_CALL_COUNT,
  OPT_STREAM_PING_PONG,
  OPT_MAX_RECV,
  OPT_MAX_SEND,
  OPT_KEEPALIVE,
  OPT_MAX_CONN_AGE,
  OPT_CNAME,
  OPT_WARMUP,
  OPT_SKIP_FIRST,
  OPT_NO_COOKIES,
  OPT_NO_REDIRECTS,
  OPT_PRINT_RESPONSES,
  OPT_CSV_DECIMALS,
  OPT_LUA_MEMORY,
  OPT_LUA_TIMESLICE,
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
    {"data-raw", required_argument, NULL, OPT_DATA_RAW},
    {"name", required_argument, NULL, OPT_NAME},
    {"insecure", no_argument, NULL, OPT_INSECURE},
    {"cacert", required_argument, NULL, OPT_CACERT},
    {"cert", required_argument, NULL, OPT_CERT},
    {"key", required_argument, NULL, OPT_KEY},
    {"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
    {"source-address", required_argument, NULL, OPT_SOURCE_ADDRESS},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"only-summary", no_argument, NULL, OPT_ONLY_SUMMARY},
    {"headless", no_argument, NULL, OPT_HEADLESS},
    {"stop-timeout", required_argument, NULL, OPT_STOP_TIMEOUT},
    {"exit-code-on-error", required_argument, NULL, OPT_EXIT_CODE},
    {"plugins", no_argument, NULL, OPT_PLUGINS},
    {"plugin", required_argument, NULL, OPT_PLUGIN},
    {"plugin-dir", required_argument, NULL, OPT_PLUGIN_DIR},
    {"listener", required_argument, NULL, OPT_LISTENER},
    {"listener-opt", required_argument, NULL, OPT_LISTENER_OPT},
    {"seed", required_argument, NULL, OPT_SEED},
    {"call", required_argument, NULL, OPT_CALL},
    {"http2", no_argument, NULL, OPT_HTTP2},
    {"no-cookies", no_argument, NULL, OPT_NO_COOKIES},
    {"no-redirects", no_argument, NULL, OPT_NO_REDIRECTS},
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
    {"script", required_argument, NULL, 's'},
    {"lua-memory", required_argument, NULL, OPT_LUA_MEMORY},
    {"lua-timeslice", required_argument, NULL, OPT_LUA_TIMESLICE},
    {"tags", required_argument, NULL, OPT_TAGS},
    {"exclude-tags", required_argument, NULL, OPT_EXCLUDE_TAGS},
    {"show-task-ratio", no_argument, NULL, OPT_SHOW_TASK_RATIO},
    {"print-locustfile", no_argument, NULL, OPT_PRINT_LOCUSTFILE},
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
    {"csv-decimals", no_argument, NULL, OPT_CSV_DECIMALS},
    {"print-responses", required_argument, NULL, OPT_PRINT_RESPONSES},
    {"verbose", no_argument, NULL, 'v'},
    {"json", no_argument, NULL, OPT_JSON},
    {"json-file", required_argument, NULL, OPT_JSON_FILE},
    {"host", required_argument, NULL, OPT_HOST},
    {"max-error-rows", required_argument, NULL, OPT_MAX_ERROR_ROWS},
    {"allow-unreachable", no_argument, NULL, OPT_ALLOW_UNREACHABLE},
    {"stream-interval", required_argument, NULL, OPT_STREAM_INTERVAL},
    {"stream-call-duration", required_argument, NULL, OPT_STREAM_CALL_DURATION},
    {"stream-call-count", required_argument, NULL, OPT_STREAM_CALL_COUNT},
    {"stream-ping-pong", no_argument, NULL, OPT_STREAM_PING_PONG},
    {"max-recv-message-size", required_argument, NULL, OPT_MAX_RECV},
    {"max-send-message-size", required_argument, NULL, OPT_MAX_SEND},
    {"metadata-file", required_argument, NULL, 'M'},
    {"binary", no_argument, NULL, 'b'},
    {"binary-file", required_argument, NULL, 'B'},
    {"keepalive", required_argument, NULL, OPT_KEEPALIVE},
    {"max-connection-age", required_argument, NULL, OPT_MAX_CONN_AGE},
    {"cname", required_argument, NULL, OPT_CNAME},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"skip-first", required_argument, NULL, OPT_SKIP_FIRST},
    {"rate", required_argument, NULL, RL__API_OPT_RATE},
    {"rate-stages", required_argument, NULL, RL__API_OPT_RATE_STAGES},
    {"arrivals", required_argument, NULL, RL__API_OPT_ARRIVALS},
    {"max-inflight", required_argument, NULL, RL__API_OPT_MAX_INFLIGHT},
    {"max-dropped", required_argument, NULL, RL__API_OPT_MAX_DROPPED},
    {"max-queue", required_argument, NULL, RL__API_OPT_MAX_QUEUE},
    {"arrival-slack", required_argument, NULL, RL__API_OPT_ARRIVAL_SLACK},
    {"latency", required_argument, NULL, RL__API_OPT_LATENCY},
    {"stages", required_argument, NULL, RL__API_OPT_STAGES},
    {"iterations", required_argument, NULL, 'n'},
    {"worker", no_argument, NULL, RL__API_OPT_WORKER},
    {"master-host", required_argument, NULL, RL__API_OPT_MASTER_HOST},
    {"master-port", required_argument, NULL, RL__API_OPT_MASTER_PORT},
    {"cluster-key", required_argument, NULL, OPT_CLUSTER_KEY},
    {"processes", required_argument, NULL, RL__API_OPT_PROCESSES},
    {"worker-report-interval", required_argument, NULL,
     RL__API_OPT_WORKER_REPORT_INTERVAL},
    {"master", no_argument, NULL, RL__API_OPT_MASTER},
    {"expect-workers", required_argument, NULL, RL__API_OPT_EXPECT_WORKERS},
    {"expect-workers-max-wait", required_argument, NULL,
     RL__API_OPT_EXPECT_WORKERS_MAX_WAIT},
    {"master-bind-host", required_argument, NULL, RL__API_OPT_MASTER_BIND_HOST},
    {"master-bind-port", required_argument, NULL, RL__API_OPT_MASTER_BIND_PORT},
    {"heartbeat-liveness", required_argument, NULL,
     RL__API_OPT_HEARTBEAT_LIVENESS},
    {"master-heartbeat-timeout", required_argument, NULL,
     RL__API_OPT_MASTER_HEARTBEAT_TIMEOUT},
    {NULL, 0, NULL, 0},
};

/* Reads FILE ("-": stdin) whole for `what` (-d @FILE, -b). */
static int read_file(const char *path, const char *what, char **out,
                     size_t *len, char *err, size_t errlen) {
  int is_stdin = strcmp(path, "-") == 0;
  FILE *f = is_stdin ? stdin : fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "cannot read %s: %s", what, strerror(errno));
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
  if (!is_stdin)
    fclose(f);
  if (!buf || bad) {
    free(buf);
    snprintf(err, errlen, "cannot read %s", what);
    return RL_ERR_INVAL;
  }
  *out = buf;
  *len = n;
  return 0;
}

static int add_header(rl__api_options *o, char *arg, char *err, size_t errlen) {
  /* Locust's -H is its --host: here -H is a header. */
  if (strncmp(arg, "http://", 7) == 0 || strncmp(arg, "https://", 8) == 0 ||
      strncmp(arg, "grpc://", 7) == 0 || strncmp(arg, "grpcs://", 8) == 0) {
    snprintf(err, errlen,
             "-H is a request header ('Name: value'), not Locust's -H: did "
             "you mean --host %s? (or give the URL as the last argument)",
             arg);
    return RL_ERR_INVAL;
  }
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

static int add_plugin_option(rl__api_options *o, const char *key,
                             const char *value, char *err, size_t errlen) {
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

/* --no-cookies, --no-redirects: the HTTP plugins' option `key`, for the
 * command line's request, or for every http step of a scenario that does
 * not say (scenario/compile.c passes plugin options on); once each. */
static int add_http_flag(rl__api_options *o, uint8_t *given, const char *key,
                         const char *value, char *err, size_t errlen) {
  if (*given)
    return 0;
  *given = 1;
  return add_plugin_option(o, key, value, err, errlen);
}

static int bad_value(const char *opt, const char *value, const char *expect,
                     char *err, size_t errlen) {
  snprintf(err, errlen, "invalid %s '%s': %s", opt, value, expect);
  return RL_ERR_INVAL;
}

/* --prometheus-port [HOST:]PORT; an IPv6 HOST in brackets ([::1]:9646). */
static int parse_host_port(rl__api_options *o, const char *arg, char *err,
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

/* A group's parser returns this for an option of another group. */
#define NOT_MINE 1

/* -u, -r, -t, --threads, --wait, --connections, --stop-timeout, --seed,
 * --allow-unreachable, --warmup, --skip-first */
static int parse_load(rl__api_options *o, int c, char *arg, char *err,
                      size_t errlen) {
  long long v;
  double d;
  uint64_t ns;
  switch (c) {
  case 'u':
    o->users_given = 1;
    if (rl__parse_int(arg, 1, 10000000, &v))
      return bad_value("--users", arg, "expected a whole number >= 1", err,
                       errlen);
    o->run.users = (uint32_t)v;
    return 0;
  case 'r':
    o->rate_given = 1;
    if (rl__parse_number(arg, &d) || d <= 0)
      return bad_value("--spawn-rate", arg,
                       "expected users per second > 0, e.g. 10 or 0.5", err,
                       errlen);
    o->run.spawn_rate = d;
    return 0;
  case 't':
    o->time_given = 1;
    if (rl__parse_duration(arg, &ns) || ns == 0)
      return bad_value("--run-time", arg,
                       "expected a duration such as 30s, 5m, 1h30m or 90", err,
                       errlen);
    o->run.run_time_ns = ns;
    return 0;
  case OPT_THREADS:
    if (rl__parse_int(arg, 1, 1024, &v))
      return bad_value("--threads", arg, "expected 1 to 1024", err, errlen);
    o->run.threads = (uint32_t)v;
    o->threads_given = 1;
    return 0;
  case OPT_WAIT: {
    o->wait_given = 1;
    char why[256];
    if (rl__wait_parse(arg, &o->run.wait, why, sizeof why)) {
      snprintf(err, errlen, "%s", why);
      return RL_ERR_INVAL;
    }
    return 0;
  }
  case OPT_CONNECTIONS:
    if (rl__parse_int(arg, 1, 1000000, &v))
      return bad_value("--connections", arg, "expected a whole number >= 1",
                       err, errlen);
    o->run.connections = (uint32_t)v;
    return 0;
  case OPT_STOP_TIMEOUT:
    if (rl__parse_duration(arg, &ns))
      return bad_value("--stop-timeout", arg, "expected seconds >= 0", err,
                       errlen);
    o->run.stop_timeout_ns = ns;
    o->cluster.stop_timeout_given = 1;
    return 0;
  case OPT_ALLOW_UNREACHABLE:
    o->allow_unreachable = 1;
    return 0;
  case OPT_WARMUP:
    if (rl__parse_duration(arg, &ns))
      return bad_value("--warmup", arg,
                       "expected a duration such as 10s, 1m or 0.5", err,
                       errlen);
    o->run.warmup_ns = ns;
    return 0;
  case OPT_SKIP_FIRST:
    if (rl__parse_int(arg, 0, INT64_MAX, &v))
      return bad_value("--skip-first", arg, "expected a whole number >= 0", err,
                       errlen);
    o->run.skip_first = (uint64_t)v;
    return 0;
  case OPT_SEED:
    if (rl__parse_int(arg, 0, INT64_MAX, &v))
      return bad_value("--seed", arg, "expected a whole number >= 0", err,
                       errlen);
    o->run.seed = (uint64_t)v;
    o->seed_given = 1;
    return 0;
  default:
    return NOT_MINE;
  }
}

/* `len` bytes of s with each "{{" written {{"{{"}}, the template for a
 * literal "{{": the plugins' templates then give back s exactly. NULL when
 * out of memory; the caller frees. */
static char *untemplated(const char *s, size_t len, size_t *out_len) {
  static const char lit[] = "{{\"{{\"}}";
  size_t n = 0;
  for (size_t i = 0; i + 1 < len; i++)
    if (s[i] == '{' && s[i + 1] == '{')
      n++, i++;
  char *out = malloc(len + n * (sizeof lit - 3) + 1);
  if (!out)
    return NULL;
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    if (i + 1 < len && s[i] == '{' && s[i + 1] == '{') {
      memcpy(out + o, lit, sizeof lit - 1);
      o += sizeof lit - 1;
      i++;
    } else {
      out[o++] = s[i];
    }
  }
  out[o] = 0;
  *out_len = o;
  return out;
}

/* -d DATA and --data-raw DATA: text, or @FILE (@- stdin) read whole. -d is
 * templated by the plugin ({{...}}); --data-raw is sent as it is. */
static int parse_data(rl__api_options *o, int raw, char *arg, char *err,
                      size_t errlen) {
  const char *opt = raw ? "--data-raw" : "--data";
  if (o->binary_given)
    return bad_value(opt, arg, "give -d or -b, not both", err, errlen);
  if (o->data_given && o->data_raw != raw)
    return bad_value(opt, arg, "give -d or --data-raw, not both", err, errlen);
  o->data_given = 1;
  o->data_raw = raw;
  free(o->body);
  o->body = NULL;
  const char *text = arg;
  size_t len = strlen(arg);
  char *file = NULL;
  if (arg[0] == '@') {
    char what[64];
    snprintf(what, sizeof what, "%s @%.40s", raw ? "--data-raw" : "-d",
             arg + 1);
    if (read_file(arg + 1, what, &file, &len, err, errlen))
      return RL_ERR_INVAL;
    text = file;
  }
  if (raw) {
    o->body = untemplated(text, len, &len);
    free(file);
    if (!o->body) {
      snprintf(err, errlen, "out of memory");
      return RL_ERR_NOMEM;
    }
    text = o->body;
  } else {
    o->body = file;
  }
  o->target.body = (const uint8_t *)text;
  o->target.body_len = len;
  return 0;
}

/* -X, -H, -d, --name, --call, -O, the timeouts, --http2, --no-cookies,
 * --no-redirects and TLS */
static int parse_request(rl__api_options *o, int c, char *arg, char *err,
                         size_t errlen) {
  uint64_t ns;
  switch (c) {
  case 'X':
    o->target.method = arg;
    o->method_given = 1;
    return 0;
  case 'H':
    if (add_header(o, arg, err, errlen))
      return RL_ERR_INVAL;
    return 0;
  case 'd':
  case OPT_DATA_RAW:
    return parse_data(o, c == OPT_DATA_RAW, arg, err, errlen);
  case OPT_NAME:
    o->target.name = arg;
    o->name_given = 1;
    return 0;
  case OPT_HOST:
    o->host = arg;
    return 0;
  case OPT_CALL:
    if (add_plugin_option(o, "call", arg, err, errlen))
      return RL_ERR_NOMEM;
    return 0;
  case 'O': {
    char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
      return bad_value("--option", arg,
                       "expected KEY=VALUE, an option for the protocol plugin "
                       "(ghz's -O is an output format: rpcload writes --json, "
                       "--json-file FILE, --csv PREFIX, --html FILE)",
                       err, errlen);
    *eq = 0; /* argv is ours to edit */
    if (add_plugin_option(o, arg, eq + 1, err, errlen))
      return RL_ERR_NOMEM;
    return 0;
  }
  case OPT_CONNECT_TIMEOUT:
    if (rl__parse_duration(arg, &ns) || ns == 0)
      return bad_value("--connect-timeout", arg, "expected seconds > 0", err,
                       errlen);
    o->target.connect_timeout_ns = ns;
    return 0;
  case OPT_SOURCE_ADDRESS: /* the last one given counts */
    rl__sources_free(&o->sources);
    o->target.sources = NULL;
    if (rl__sources_parse(&o->sources, arg, err, errlen))
      return RL_ERR_INVAL;
    o->target.sources = &o->sources;
    return 0;
  case OPT_TIMEOUT:
    if (rl__parse_duration(arg, &ns) || ns == 0)
      return bad_value("--timeout", arg, "expected seconds > 0", err, errlen);
    o->target.request_timeout_ns = ns;
    return 0;
  case OPT_HTTP2:
    o->http2 = 1;
    return 0;
  case OPT_NO_COOKIES:
    return add_http_flag(o, &o->no_cookies, "cookies", "off", err, errlen);
  case OPT_NO_REDIRECTS:
    return add_http_flag(o, &o->no_redirects, "allow_redirects", "false", err,
                         errlen);
  case OPT_INSECURE:
    o->target.tls.insecure = 1;
    return 0;
  case OPT_CACERT:
    o->target.tls.cacert = arg;
    return 0;
  case OPT_CERT:
    o->target.tls.cert = arg;
    return 0;
  case OPT_KEY:
    o->target.tls.key = arg;
    return 0;
  case OPT_CNAME:
    o->target.tls.server_name = arg;
    return 0;
  default:
    return NOT_MINE;
  }
}

/* -b: serialized messages from stdin, as the body, for the plugin's
 * "binary" option. */
static int binary_stdin(rl__api_options *o, char *err, size_t errlen) {
  if (o->target.body || o->binary_given)
    return bad_value("--binary", "-", "give -d or -b, not both", err, errlen);
  size_t len;
  free(o->body);
  o->body = NULL;
  if (read_file("-", "-b (stdin)", &o->body, &len, err, errlen))
    return RL_ERR_INVAL;
  o->target.body = (const uint8_t *)o->body;
  o->target.body_len = len;
  o->binary_given = 1;
  return add_plugin_option(o, "binary", "1", err, errlen);
}

/* --proto, -I, --protoset, -m, -M, --authority, --compress, -D, -b, -B, the
 * stream options, the message size limits, --keepalive and
 * --max-connection-age: gRPC's options reach the plugin as its own
 * options, which check them; they also make a target without a scheme
 * mean grpc:// (rl__api_options_check). */
static int parse_grpc(rl__api_options *o, int c, char *arg, char *err,
                      size_t errlen) {
  const char *key = c == OPT_PROTO                  ? "proto"
                    : c == 'I'                      ? "import_path"
                    : c == OPT_PROTOSET             ? "protoset"
                    : c == 'm'                      ? "metadata"
                    : c == 'M'                      ? "metadata_file"
                    : c == OPT_AUTHORITY            ? "authority"
                    : c == OPT_COMPRESS             ? "compress"
                    : c == 'D' || c == 'B'          ? "data_file"
                    : c == OPT_STREAM_INTERVAL      ? "stream_interval"
                    : c == OPT_STREAM_CALL_DURATION ? "stream_call_duration"
                    : c == OPT_STREAM_CALL_COUNT    ? "stream_call_count"
                    : c == OPT_STREAM_PING_PONG     ? "stream_ping_pong"
                    : c == OPT_MAX_RECV             ? "max_recv_message_size"
                    : c == OPT_MAX_SEND             ? "max_send_message_size"
                    : c == OPT_KEEPALIVE            ? "keepalive"
                    : c == OPT_MAX_CONN_AGE         ? "max_connection_age"
                                                    : NULL;
  if (c == 'b') {
    o->grpc_given = 1;
    return binary_stdin(o, err, errlen);
  }
  if (!key)
    return NOT_MINE;
  if (c == OPT_STREAM_PING_PONG)
    arg = "true";
  if (add_plugin_option(o, key, arg, err, errlen) ||
      (c == 'B' && add_plugin_option(o, "binary", "1", err, errlen)))
    return RL_ERR_NOMEM;
  o->grpc_given = 1;
  return 0;
}

/* -f, -s, --tags, --exclude-tags, --list, --show-task-ratio,
 * --print-locustfile */
static int parse_scenario(rl__api_options *o, int c, char *arg, char *err,
                          size_t errlen) {
  (void)err;
  (void)errlen;
  switch (c) {
  case 'f':
    o->scenario = arg;
    return 0;
  case 's':
    o->script = arg;
    return 0;
  case OPT_LUA_MEMORY: /* read with the script (src/script/safety.c) */
    o->lua_memory = arg;
    return 0;
  case OPT_LUA_TIMESLICE:
    o->lua_timeslice = arg;
    return 0;
  case OPT_TAGS:
    if (add_tags(&o->tags, &o->n_tags, arg))
      return RL_ERR_NOMEM;
    return 0;
  case OPT_EXCLUDE_TAGS:
    if (add_tags(&o->exclude_tags, &o->n_exclude_tags, arg))
      return RL_ERR_NOMEM;
    return 0;
  case OPT_LIST:
    o->list = 1;
    return 0;
  case OPT_SHOW_TASK_RATIO:
    o->show_task_ratio = 1;
    return 0;
  case OPT_PRINT_LOCUSTFILE:
    o->print_locustfile = 1;
    return 0;
  default:
    return NOT_MINE;
  }
}

/* --only-summary, --headless, --exit-code-on-error and the report files */
static int parse_output(rl__api_options *o, int c, char *arg, char *err,
                        size_t errlen) {
  long long v;
  switch (c) {
  case OPT_ONLY_SUMMARY:
    o->only_summary = 1;
    return 0;
  case OPT_HEADLESS:
    o->headless = 1;
    return 0;
  case OPT_EXIT_CODE:
    if (rl__parse_int(arg, 0, 255, &v))
      return bad_value("--exit-code-on-error", arg, "expected 0 to 255", err,
                       errlen);
    o->exit_code_on_error = (int)v;
    return 0;
  case OPT_HTML:
    o->html_path = arg;
    return 0;
  case OPT_CSV:
    o->csv_prefix = arg;
    return 0;
  case OPT_CSV_FULL_HISTORY:
    o->run.full_history = 1;
    return 0;
  case OPT_CSV_DECIMALS:
    o->csv_decimals = 1;
    return 0;
  case OPT_PRINT_RESPONSES:
    if (rl__parse_int(arg, 0, 1000000, &v))
      return bad_value("--print-responses", arg, "expected 0 to 1000000", err,
                       errlen);
    o->run.print_responses = (uint32_t)v;
    return 0;
  case 'v': /* the first response of each step: what a test's author
               looks at first */
    if (o->run.print_responses < 1)
      o->run.print_responses = 1;
    return 0;
  case OPT_JSON:
    o->json = 1;
    return 0;
  case OPT_JSON_FILE:
    o->json_path = arg;
    return 0;
  case OPT_MAX_ERROR_ROWS:
    if (rl__parse_int(arg, 0, 10000000, &v))
      return bad_value("--max-error-rows", arg,
                       "expected 0 (no cap) to 10000000", err, errlen);
    o->run.max_error_rows = v ? (uint32_t)v : UINT32_MAX;
    return 0;
  default:
    return NOT_MINE;
  }
}

/* --web and the options that imply it (--headless still wins, in
 * rl__api_options_check), --prometheus-port */
static int parse_web(rl__api_options *o, int c, char *arg, char *err,
                     size_t errlen) {
  long long v;
  uint64_t ns;
  switch (c) {
  case OPT_WEB:
    o->web = 1;
    return 0;
  case OPT_WEB_HOST:
    o->web_host = arg;
    o->web = 1;
    return 0;
  case OPT_WEB_PORT:
    if (rl__parse_int(arg, 0, 65535, &v))
      return bad_value("--web-port", arg, "expected 0 to 65535", err, errlen);
    o->web_port = (int)v;
    o->web = 1;
    return 0;
  case OPT_WEB_LOGIN:
    if (!strchr(arg, ':') || arg[0] == ':')
      return bad_value("--web-login", arg, "expected user:password", err,
                       errlen);
    o->web_login = arg;
    o->web = 1;
    return 0;
  case OPT_AUTOSTART:
    o->run.autostart = 1;
    o->web = 1;
    return 0;
  case OPT_AUTOQUIT:
    if (rl__parse_duration(arg, &ns))
      return bad_value("--autoquit", arg,
                       "expected seconds >= 0, e.g. 10 or 1m", err, errlen);
    o->run.autoquit_s = (double)ns / 1e9;
    o->web = 1;
    return 0;
  case OPT_PROMETHEUS_PORT:
    if (parse_host_port(o, arg, err, errlen))
      return RL_ERR_INVAL;
    return 0;
  default:
    return NOT_MINE;
  }
}

/* --listener FILE (repeatable) and --listener-opt K=V for the --listener
 * before it. */
static int parse_listener(rl__api_options *o, int c, char *arg, char *err,
                          size_t errlen) {
  if (c == OPT_LISTENER) {
    rl__api_listener *l =
        realloc(o->listeners, (o->n_listeners + 1) * sizeof *l);
    if (!l) {
      snprintf(err, errlen, "out of memory");
      return RL_ERR_NOMEM;
    }
    o->listeners = l;
    l[o->n_listeners++] = (rl__api_listener){.path = arg};
    return 0;
  }
  if (!o->n_listeners) {
    snprintf(err, errlen,
             "--listener-opt %s: give it after the --listener it is for", arg);
    return RL_ERR_INVAL;
  }
  rl__api_listener *l = &o->listeners[o->n_listeners - 1];
  const char **opts = realloc(l->options, (l->n_options + 1) * sizeof *opts);
  if (!opts) {
    snprintf(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  l->options = opts;
  opts[l->n_options++] = arg;
  return 0;
}

/* -h, -V, --plugins, --plugin, --plugin-dir */
static int parse_program(rl__api_options *o, int c, char *arg, char *err,
                         size_t errlen) {
  switch (c) {
  case 'h':
    o->help = 1;
    return 0;
  case 'V':
    o->version = 1;
    return 0;
  case OPT_PLUGINS:
    o->list_plugins = 1;
    return 0;
  case OPT_PLUGIN:
    o->target.plugin = arg;
    return 0;
  case OPT_PLUGIN_DIR: {
    const char **dirs =
        realloc(o->plugin_dirs, (o->n_plugin_dirs + 1) * sizeof *dirs);
    if (!dirs) {
      snprintf(err, errlen, "out of memory");
      return RL_ERR_NOMEM;
    }
    o->plugin_dirs = dirs;
    dirs[o->n_plugin_dirs++] = arg;
    return 0;
  }
  case OPT_LISTENER:
  case OPT_LISTENER_OPT:
    return parse_listener(o, c, arg, err, errlen);
  default:
    return NOT_MINE;
  }
}

typedef int (*parse_group_fn)(rl__api_options *o, int c, char *arg, char *err,
                              size_t errlen);

/* -n, --rate, --stages... (shape.c) */
static int parse_shape(rl__api_options *o, int c, char *arg, char *err,
                       size_t errlen) {
  return rl__api_shape_parse(o, c, arg, err, errlen);
}

/* --worker, --master... (cluster.c); --cluster-key (cluster/curve.c: the
 * key, or a file, read now so a bad one stops us before any load). */
static int parse_cluster(rl__api_options *o, int c, char *arg, char *err,
                         size_t errlen) {
  if (c == OPT_CLUSTER_KEY) {
    int rc = rl__curve_key_read(arg, &o->cluster_key, err, errlen);
    o->cluster_key_given = rc == 0;
    return rc;
  }
  return rl__api_cluster_parse(o, c, arg, err, errlen);
}

static const parse_group_fn parse_groups[] = {
    parse_load, parse_request, parse_grpc,  parse_scenario, parse_output,
    parse_web,  parse_program, parse_shape, parse_cluster,
};

/* The CPUs this process may run on: its affinity mask (taskset, cgroup
 * cpusets), else the cores online. More worker threads than that would
 * only take turns on the same CPUs. */
static uint32_t usable_cpus(void) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
    return (uint32_t)CPU_COUNT(&set);
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  return cores > 0 ? (uint32_t)cores : 1;
}

/* Defaults before the command line: what an option leaves alone keeps. */
static void set_defaults(rl__api_options *o) {
  memset(o, 0, sizeof *o);
  o->run.users = 1;
  o->run.spawn_rate = 1;
  o->run.report_interval_s = 2.0;
  o->run.threads = o->cpus = usable_cpus();
  o->target.connect_timeout_ns = 10 * RL__NS_PER_SEC;
  o->target.request_timeout_ns = 60 * RL__NS_PER_SEC;
  o->exit_code_on_error = 1;
  o->web_port = 8089;
  o->prometheus_port = -1;
  o->run.autoquit_s = -1;
  o->shape.max_dropped = -1;
  o->shape.max_queue = -1;
  rl__api_cluster_defaults(&o->cluster);
}

int rl__api_options_parse(rl__api_options *o, int argc, char **argv, char *err,
                          size_t errlen) {
  set_defaults(o);
  opterr = 0;
  /* 0, not 1: glibc then also forgets where it was inside a group of
   * short options ("-c10") that an earlier parse stopped in. */
  optind = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":hVvu:r:t:X:H:d:O:I:m:M:D:bB:f:s:n:",
                          long_options, NULL)) != -1) {
    if (c == ':') {
      snprintf(err, errlen, "option '%s' needs a value", argv[optind - 1]);
      return RL_ERR_INVAL;
    }
    int rc = NOT_MINE;
    for (size_t i = 0;
         rc == NOT_MINE && i < sizeof parse_groups / sizeof *parse_groups; i++)
      rc = parse_groups[i](o, c, optarg, err, errlen);
    if (rc == NOT_MINE) {
      /* A short option inside a group ("-c10") is optopt; a long one is
       * the argument getopt just passed. */
      char shortopt[3] = {'-', (char)optopt, 0};
      const char *what = c == '?' && optopt ? shortopt : argv[optind - 1];
      const char *hint = rl__api_habit_hint(what);
      snprintf(err, errlen, "unknown option '%.*s'%s%s",
               (int)strcspn(what, "="), what, hint ? ": " : "",
               hint ? hint : "");
      return RL_ERR_INVAL;
    }
    if (rc)
      return rc;
  }
  o->args = argv + optind;
  o->n_args = argc - optind;
  return 0;
}

const struct option *rl__api_long_options(void) { return long_options; }

void rl__api_options_free(rl__api_options *o) {
  free(o->tags);
  free(o->exclude_tags);
  free(o->headers);
  free(o->body);
  free(o->plugin_dirs);
  for (size_t i = 0; i < o->n_listeners; i++)
    free(o->listeners[i].options);
  free(o->listeners);
  free(o->plugin_options);
  free(o->prometheus_arg);
  rl__api_shape_free(&o->shape);
  rl__sources_free(&o->sources);
  memset(o, 0, sizeof *o);
}

/*
 * rpcload-conformance: checks that a plugin keeps the ABI's contract, by
 * running it through the real core against a real server.
 *
 *   rpcload-conformance --plugin ./myproto.so --url myproto://127.0.0.1:7000
 *                       [-X M] [-H 'K: V'] [-d DATA] [--call C] [-O k=v]
 *                       [--error-url U | --error-call C | --error-data D |
 *                        --error-option k=v] [--timeout S]
 *                       [--users N] [--seconds S] [--stall-ms MS]
 *                       [--only RUN,...]
 *
 * How: kit/wrap.c stands between the core and the plugin (kit.h): it
 * keeps books on every request, times every callback and injects faults
 * into a codec's reads. Then the runs go through the ordinary runner: a
 * load run; faults a real network brings (every reply split at every
 * byte, the server closing mid-reply, replies 20-100 ms late, replies
 * withheld until the request timeout ends them; a codec that pipelines
 * gets a run where users share one connection); error replies the real
 * server gives to a request the author names (--error-*), interleaved
 * with ordinary ones; a run cut at the stop with requests in flight; and
 * a run against a port where nothing listens.
 *
 * Exit status: 0 when every check passed, 1 when one failed, 2 for bad
 * arguments, a plugin that does not load, a step it refuses (step_new), or
 * an error request that goes to another server than --url.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rpcload/plugin.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/units.h"
#include "base/url.h"
#include "engine/plan.h"
#include "engine/plugin_loader.h"
#include "engine/runner.h"
#include "engine/target.h"
#include "kit.h"
#include "stats/histogram.h"
#include "stats/stats.h"

/* ---- reporting ----------------------------------------------------------- */

static int passed, failed;

static void check(int ok, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void check(int ok, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("%s  ", ok ? "PASS" : "FAIL");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  fflush(stdout);
  if (ok)
    passed++;
  else
    failed++;
}

/* Prints and clears the violations seen since the last call; 1 if none. */
static int no_violations(void) {
  pthread_mutex_lock(&kit.lock);
  uint64_t n = kit.violations;
  for (uint64_t i = 0; i < n && i < KIT_MAX_VIOLATIONS_SHOWN; i++)
    printf("      violation: %s\n", kit.shown[i]);
  if (n > KIT_MAX_VIOLATIONS_SHOWN)
    printf("      ... and %llu more\n",
           (unsigned long long)(n - KIT_MAX_VIOLATIONS_SHOWN));
  kit.violations = 0;
  pthread_mutex_unlock(&kit.lock);
  return n == 0;
}

static void check_descriptor(const rl__plugin *p) {
  const rl_plugin *d = &p->desc;
  check(RL_ABI_VERSION_MAJOR(d->abi_version) == RL_ABI_MAJOR,
        "descriptor: ABI %u.%u, host speaks %d.%d",
        RL_ABI_VERSION_MAJOR(d->abi_version),
        RL_ABI_VERSION_MINOR(d->abi_version), RL_ABI_MAJOR, RL_ABI_MINOR);
  check(d->struct_size >= RL_PLUGIN_MIN_SIZE,
        "descriptor: %u bytes, at least ABI 1.0's %zu", d->struct_size,
        (size_t)RL_PLUGIN_MIN_SIZE);
  int name_ok = d->name && d->name[0];
  for (const char *c = d->name; name_ok && *c; c++)
    name_ok = (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              *c == '_' || *c == '-';
  check(name_ok, "descriptor: name '%s' is short lower-case [a-z0-9_-]",
        d->name ? d->name : "(null)");
  check(d->version && d->version[0], "descriptor: version '%s'",
        d->version ? d->version : "(null)");
  int schemes = 0, schemes_ok = d->schemes != NULL;
  for (const rl_scheme *s = d->schemes; s && s->name; s++, schemes++)
    for (const char *c = s->name; *c; c++)
      if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '+' ||
            *c == '-' || *c == '.'))
        schemes_ok = 0;
  check(schemes_ok && schemes > 0,
        "descriptor: %d URL scheme(s), lower-case, list ends with {NULL}",
        schemes);
  int alpn_ok = 1;
  for (const char *const *a = d->alpn; a && *a; a++)
    if (!(*a)[0] || strlen(*a) > 255)
      alpn_ok = 0;
  check(alpn_ok, "descriptor: ALPN ids non-empty and under 256 bytes");
  check(d->kind == RL_PLUGIN_CODEC || d->kind == RL_PLUGIN_TRANSPORT,
        "descriptor: kind %s",
        d->kind == RL_PLUGIN_CODEC       ? "codec"
        : d->kind == RL_PLUGIN_TRANSPORT ? "transport"
                                         : "unknown");
}

/* ---- runs ---------------------------------------------------------------- */

typedef struct run_result {
  uint64_t requests, failures, cut;
  uint64_t fastest_ns;       /* the shortest response time recorded */
  uint64_t timeout_failures; /* failures whose text says they timed out */
  char top_error[256];
} run_result;

/* What the run's stats say, into `out`. */
static void read_stats(rl__stats *stats, const rl__runner *r, run_result *out) {
  const rl__stats_entry *t = rl__stats_total(stats);
  out->requests = t->num_requests;
  out->failures = t->num_failures;
  out->fastest_ns = t->num_requests ? t->hist.min : 0;
  out->cut = r->cut_requests;
  const rl__stats_error **errors;
  size_t n = rl__stats_errors(stats, &errors);
  if (n)
    snprintf(out->top_error, sizeof out->top_error, "%s %s: %s",
             errors[0]->type, errors[0]->name, errors[0]->error);
  for (size_t i = 0; i < n; i++)
    if (!errors[i]->other && kit_says_timeout(errors[i]->error))
      out->timeout_failures += errors[i]->occurrences;
}

/*
 * The plan of the error run: each user's task is the ordinary request,
 * then the error request, on the same connection. NULL with a reason in
 * err when out of memory or when the error request goes elsewhere.
 */
static rl__plan *error_plan(rl__target *ok, rl__target *bad,
                            const rl__run_config *cfg, char *err,
                            size_t errlen) {
  rl__plan *p = rl__plan_single(ok, &cfg->wait);
  rl__plan_step *steps = p ? calloc(2, sizeof *steps) : NULL;
  if (!steps) {
    rl__plan_del(p);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  rl__plan_task *task = &p->classes[0].tasks[0];
  steps[0] = task->steps[0];
  steps[1].kind = RL__STEP_REQUEST;
  steps[1].target = bad;
  free(task->steps);
  task->steps = steps;
  task->n_steps = 2;
  if (rl__plan_endpoint(p, bad, &steps[1].endpoint)) {
    rl__plan_del(p);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  if (p->n_endpoints != 1) {
    rl__plan_del(p);
    snprintf(err, errlen,
             "the error request must go to the same server as --url (the "
             "same scheme, host and port, and connection settings), so "
             "that one connection carries both");
    return NULL;
  }
  return p;
}

/* What a run runs: the target, and with an error request its target and
 * the plan alternating the two. */
typedef struct run_setup {
  rl__target *target, *bad_target;
  rl__plan *plan;
} run_setup;

static void setup_free(run_setup *s) {
  rl__plan_del(s->plan);
  rl__target_del(s->bad_target);
  rl__target_del(s->target);
  memset(s, 0, sizeof *s);
}

/* Makes `s` for `topts` and `bad` (NULL: none). 0, or -2 when a step is
 * refused or the error request goes elsewhere (printed as the setup's
 * failure). */
static int setup_new(rl__plugin_set *plugins, const rl__target_options *topts,
                     const rl__target_options *bad, const rl__run_config *cfg,
                     run_setup *s) {
  char err[1024];
  memset(s, 0, sizeof *s);
  if (rl__target_new(plugins, topts, &s->target, err, sizeof err)) {
    printf("FAIL  setup: the step was refused: %s\n", err);
    return -2;
  }
  if (!bad)
    return 0;
  if (rl__target_new(plugins, bad, &s->bad_target, err, sizeof err)) {
    printf("FAIL  setup: the error request's step was refused: %s\n", err);
    setup_free(s);
    return -2;
  }
  s->plan = error_plan(s->target, s->bad_target, cfg, err, sizeof err);
  if (!s->plan) {
    printf("FAIL  setup: %s\n", err);
    setup_free(s);
    return -2;
  }
  return 0;
}

/*
 * One run through the ordinary runner. `bad` (NULL: none) is the error
 * request, interleaved with `topts`'s. Returns 0, -2 when a step is
 * refused (printed as the setup's failure), or the runner's error.
 */
static int run(rl__plugin_set *plugins, const rl__target_options *topts,
               const rl__target_options *bad, const rl__run_config *cfg,
               run_result *out) {
  run_setup setup;
  memset(out, 0, sizeof *out);
  if (setup_new(plugins, topts, bad, cfg, &setup))
    return -2;
  rl__target *target = setup.target, *bad_target = setup.bad_target;
  rl__run_config c = *cfg;
  if (bad) {
    pthread_mutex_lock(&kit.lock);
    kit.n_error_steps = 0;
    for (size_t i = 0; i < bad_target->nv && i < KIT_MAX_ERROR_STEPS; i++)
      kit.error_steps[kit.n_error_steps++] = bad_target->v[i].step;
    pthread_mutex_unlock(&kit.lock);
    c.plan = setup.plan;
  }
  rl__stats *stats = rl__stats_new();
  rl__runner r;
  int rc = stats ? rl__runner_run(&r, &c, kit_host_table(), target, stats, NULL)
                 : -1;
  if (rc == 0)
    read_stats(stats, &r, out);
  if (stats)
    rl__runner_free(&r);
  pthread_mutex_lock(&kit.lock);
  kit.n_error_steps = 0;
  pthread_mutex_unlock(&kit.lock);
  rl__stats_del(stats);
  setup_free(&setup);
  return rc;
}

/* A loopback port where nothing listens: bound, never listening, held open
 * for the run so nobody else takes it. Returns the fd (caller closes). */
static int closed_port(int family, uint16_t *port) {
  int fd = socket(family, SOCK_STREAM, 0);
  if (fd < 0)
    return -1;
  struct sockaddr_storage ss;
  socklen_t len;
  memset(&ss, 0, sizeof ss);
  if (family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    a->sin6_addr = in6addr_loopback;
    len = sizeof *a;
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof *a;
  }
  if (bind(fd, (struct sockaddr *)&ss, len) != 0 ||
      getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
    close(fd);
    return -1;
  }
  *port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                   : ((struct sockaddr_in *)&ss)->sin_port);
  return fd;
}

/* ---- the verdicts' common parts ------------------------------------------ */

/* The failures a run may have and still read like the load run: none when
 * the load run had none; else at most twice its share (a --call the
 * server fails on purpose fails everywhere). */
static uint64_t failures_allowed(const run_result *load, uint64_t requests) {
  if (!load->failures || !load->requests)
    return 0;
  double share = (double)load->failures / (double)load->requests;
  return (uint64_t)ceil(2 * share * (double)requests);
}

/* Every request counted once: the kit's books (accepted and reported,
 * refused) against the core's stats (ok + failed + cut). Requests handed
 * back to the host may end in the core instead. Appends the figures. */
static int adds_up(const run_result *res, char *buf, size_t len) {
  uint64_t sent = kit.n.reported + kit.n.refused;
  uint64_t counted = res->requests + res->cut;
  int ok = counted >= sent && counted <= sent + kit.n.handed_back;
  snprintf(buf, len, "%llu sent = %llu ok + %llu failed + %llu cut%s",
           (unsigned long long)sent,
           (unsigned long long)(res->requests - res->failures),
           (unsigned long long)res->failures, (unsigned long long)res->cut,
           ok ? "" : " (the stats do not match what the plugin reported)");
  return ok;
}

static void note_failures(const run_result *res, uint64_t allowed,
                          uint64_t excused, const char *what) {
  if (res->failures > allowed + excused)
    printf("      %s failed where the load run did not: %s\n", what,
           res->top_error);
}

/* ---- the fault runs (codecs) --------------------------------------------- */

/* Replies 20-100 ms late: every request still completes, and the stats
 * see the delay. */
static int delay_run(rl__plugin_set *plugins, const rl__target_options *topts,
                     const rl__run_config *cfg, const run_result *load) {
  run_result res;
  kit_run_begin(FAULT_DELAY);
  int rc = run(plugins, topts, NULL, cfg, &res);
  kit_run_end();
  if (rc == -2)
    return rc;
  int clean = no_violations();
  uint64_t allowed = failures_allowed(load, res.requests);
  uint64_t overtaken = kit.n.overtaken;
  uint64_t min_ns = (uint64_t)KIT_DELAY_MIN_MS * 1000000u;
  /* A reply the server's close overtook failed at once: no delay in it. */
  int slow = overtaken || res.fastest_ns >= min_ns;
  char sums[256];
  int sums_ok = adds_up(&res, sums, sizeof sums);
  note_failures(&res, allowed, overtaken, "delayed replies");
  if (!slow)
    printf("      the fastest response (%.1f ms) is under the %d ms "
           "injected: a request ended before its reply came\n",
           (double)res.fastest_ns / 1e6, KIT_DELAY_MIN_MS);
  char extra[96] = "";
  if (overtaken)
    snprintf(extra, sizeof extra, " (%llu overtaken by the server's close)",
             (unsigned long long)overtaken);
  check(rc == 0 && clean && res.requests > 0 &&
            res.failures <= allowed + overtaken && slow && sums_ok,
        "delayed replies: %llu read(s) held back %d-%d ms: %llu request(s), "
        "%llu failed%s, fastest %.1f ms; %s",
        (unsigned long long)kit.n.delayed, KIT_DELAY_MIN_MS, KIT_DELAY_MAX_MS,
        (unsigned long long)res.requests, (unsigned long long)res.failures,
        extra, (double)res.fastest_ns / 1e6, sums);
  return 0;
}

/* Replies withheld until the host's request timeout ends them: they fail
 * saying so, are counted, and new requests succeed. */
static int timeout_run(rl__plugin_set *plugins, const rl__target_options *topts,
                       const rl__run_config *cfg, double timeout_s) {
  rl__target_options t = *topts;
  t.request_timeout_ns = (uint64_t)(timeout_s * 1e9);
  /* At least four timeouts long: requests after the first timeout need
   * the time to succeed. */
  rl__run_config tcfg = *cfg;
  if (tcfg.run_time_ns < 4 * t.request_timeout_ns)
    tcfg.run_time_ns = 4 * t.request_timeout_ns;
  run_result res;
  kit_run_begin(FAULT_TIMEOUT);
  int rc = run(plugins, &t, NULL, &tcfg, &res);
  kit_run_end();
  if (rc == -2)
    return rc;
  int clean = no_violations();
  const kit_counts *n = &kit.n;
  char sums[256];
  int sums_ok = adds_up(&res, sums, sizeof sums);
  if (!n->withheld)
    printf("      no connection answered two requests: nothing was "
           "withheld\n");
  else if (!n->timed_out)
    printf("      no request ended by its timeout (session_cancel, or "
           "session_del with RL_ERR_TIMEOUT)\n");
  else if (!n->ok_after_timeout)
    printf("      no request succeeded after the first timeout\n");
  int counted = res.timeout_failures >= n->timed_out;
  if (!counted)
    printf("      the stats count %llu timed-out failure(s), the plugin "
           "reported %llu\n",
           (unsigned long long)res.timeout_failures,
           (unsigned long long)n->timed_out);
  check(rc == 0 && clean && n->withheld && n->timed_out &&
            n->timeout_failed == n->timed_out && n->ok_after_timeout &&
            counted && sums_ok,
        "timeouts: replies withheld on %llu connection(s), %gs request "
        "timeout: %llu request(s) ended by it, %llu failed saying so (%s), "
        "%llu ok after; %s",
        (unsigned long long)n->withheld, timeout_s,
        (unsigned long long)n->timed_out, (unsigned long long)n->timeout_failed,
        n->timeout_text[0] ? n->timeout_text : "none",
        (unsigned long long)n->ok_after_timeout, sums);
  return 0;
}

/* Error replies from the real server, interleaved with ordinary requests
 * on the same connections. */
static int error_run(rl__plugin_set *plugins, const rl__target_options *topts,
                     const rl__target_options *bad, const rl__run_config *cfg,
                     const run_result *load) {
  run_result res;
  kit_run_begin(FAULT_ERRORS);
  int rc = run(plugins, topts, bad, cfg, &res);
  kit_run_end();
  if (rc == -2)
    return rc;
  int clean = no_violations();
  const kit_counts *n = &kit.n;
  char sums[256];
  int sums_ok = adds_up(&res, sums, sizeof sums);
  uint64_t ok_requests =
      res.requests > n->error_requests ? res.requests - n->error_requests : 0;
  uint64_t ok_failures =
      res.failures > n->error_failed ? res.failures - n->error_failed : 0;
  uint64_t allowed = failures_allowed(load, ok_requests);
  if (ok_failures > allowed)
    printf("      %llu ordinary request(s) failed beside the error ones\n",
           (unsigned long long)ok_failures);
  if (n->error_failed && !n->ok_after_error)
    printf("      no ordinary request succeeded on a connection after an "
           "error reply on it: does the plugin give up the connection?\n");
  check(rc == 0 && clean && n->error_requests &&
            n->error_failed == n->error_requests && n->ok_after_error &&
            ok_failures <= allowed && sums_ok,
        "error replies: %llu error request(s), %llu failed with a text "
        "(%s), %llu ok after one on its connection; %s",
        (unsigned long long)n->error_requests,
        (unsigned long long)n->error_failed,
        n->error_text[0] ? n->error_text : "none",
        (unsigned long long)n->ok_after_error, sums);
  return 0;
}

/* ---- options ------------------------------------------------------------- */

static void usage(FILE *out) {
  fputs("Usage: rpcload-conformance --plugin PLUGIN --url URL [OPTIONS]\n"
        "\n"
        "Checks that a protocol plugin keeps rpcload's plugin contract, by\n"
        "running it through the real core against a real server at URL:\n"
        "the descriptor's fields; exactly one request event per request the\n"
        "plugin accepted, none after a refused submit, none from inside\n"
        "submit; every held request reported when a session or transport is\n"
        "deleted (also when the run is cut with requests in flight); faults\n"
        "injected into a codec's reads: replies split at every byte, a\n"
        "server closing mid-reply, replies 20-100 ms late (every request\n"
        "still completes, the response times include the delay), replies\n"
        "withheld until the request timeout (those fail saying they timed\n"
        "out, are counted, and later requests succeed), and users sharing\n"
        "one connection when the codec pipelines; error replies (with an\n"
        "--error-* option below: each fails with a text, and its connection\n"
        "goes on serving); failures on a port where nothing listens; no\n"
        "callback blocking the worker thread (its CPU time, or its wall time\n"
        "when it slept). Run it under valgrind to check teardown leaks\n"
        "nothing.\n"
        "\n"
        "  --plugin NAME|PATH   the plugin to check\n"
        "  --url URL            a real server speaking the plugin's protocol\n"
        "  -X, -H, -d, --name, --call, -O KEY=VALUE, --insecure, --cacert F\n"
        "                       the request, as for rpcload\n"
        "  --error-url URL      a request the server answers with an error,\n"
        "  --error-call CALL    alternated with the one above: it is that\n"
        "  --error-data DATA    request with this URL (same server; another\n"
        "  --error-option K=V   path, e.g. one nginx answers 404), --call\n"
        "                       (Redis: NOSUCHCMD), -d, or -O (replacing\n"
        "                       the -O of that key; gRPC: metadata=...).\n"
        "                       Without one, the error run is skipped\n"
        "  --timeout S          request timeout of the timeout run (default\n"
        "                       0.25; the other runs use 2)\n"
        "  --users N            users in the load run (default 20)\n"
        "  --seconds S          length of the load run (default 3); the other\n"
        "                       runs take 1 s each, or S when shorter (the\n"
        "                       timeout run at least four timeouts)\n"
        "  --stall-ms MS        longest a callback may take (default 50)\n"
        "  --threads N          worker threads (default 2)\n"
        "  --connections N      users share N connections, as rpcload's\n"
        "                       --connections: for multiplexing plugins\n"
        "  --only RUN,...       the load run and only these: split, close,\n"
        "                       pipelining, delay, timeout, error, cut,\n"
        "                       unreachable (\"load\": none), to work on one\n"
        "                       failing check\n"
        "\n"
        "Prints PASS/FAIL per check (SKIP for a run it was given nothing\n"
        "for) and 'N passed, M failed'. Exit status 0 when all passed, 1\n"
        "when a check failed, 2 for bad arguments, a plugin that does not\n"
        "load, a step the plugin refuses, or an error request that goes to\n"
        "another server than --url.\n",
        out);
}

/* The runs --only may name, in the order they run. */
static const char *const run_names[] = {"split", "close",       "pipelining",
                                        "delay", "timeout",     "error",
                                        "cut",   "unreachable", NULL};

/* Bit i: run_names[i] is wanted ("load", which always runs, sets none).
 * -1 on a name not in the list. */
static int parse_only(const char *list, unsigned *mask) {
  *mask = 0;
  const char *p = list;
  while (*p) {
    size_t len = strcspn(p, ",");
    int found = len == 4 && strncmp(p, "load", 4) == 0;
    for (int i = 0; run_names[i]; i++)
      if (strlen(run_names[i]) == len && strncmp(run_names[i], p, len) == 0) {
        *mask |= 1u << i;
        found = 1;
      }
    if (!found) {
      fprintf(stderr,
              "rpcload-conformance: --only: no run named '%.*s' (runs: "
              "load, split, close, pipelining, delay, timeout, error, cut, "
              "unreachable)\n",
              (int)len, p);
      return -1;
    }
    p += len;
    if (*p == ',')
      p++;
  }
  return 0;
}

static unsigned only_mask = ~0u;

static int wanted(const char *name) {
  for (int i = 0; run_names[i]; i++)
    if (strcmp(run_names[i], name) == 0)
      return (int)((only_mask >> i) & 1u);
  return 0;
}

/* Adds or replaces option `key` in `opts` (n of cap). 0, or -1 when full. */
static int set_option(rl_kv *opts, size_t *n, size_t cap, const char *key,
                      const char *value) {
  for (size_t i = 0; i < *n; i++)
    if (strcmp(opts[i].key, key) == 0) {
      opts[i].value = value;
      return 0;
    }
  if (*n == cap)
    return -1;
  opts[(*n)++] = (rl_kv){key, value};
  return 0;
}

#define MAX_KV 32

int main(int argc, char **argv) {
  enum {
    OPT_ERROR_URL = 256,
    OPT_ERROR_CALL,
    OPT_ERROR_DATA,
    OPT_ERROR_OPTION,
    OPT_TIMEOUT,
    OPT_ONLY,
  };
  static const struct option opts[] = {
      {"plugin", required_argument, NULL, 'p'},
      {"url", required_argument, NULL, 'u'},
      {"method", required_argument, NULL, 'X'},
      {"header", required_argument, NULL, 'H'},
      {"data", required_argument, NULL, 'd'},
      {"name", required_argument, NULL, 'n'},
      {"call", required_argument, NULL, 'c'},
      {"option", required_argument, NULL, 'O'},
      {"insecure", no_argument, NULL, 'k'},
      {"cacert", required_argument, NULL, 'C'},
      {"users", required_argument, NULL, 'U'},
      {"seconds", required_argument, NULL, 'S'},
      {"stall-ms", required_argument, NULL, 'M'},
      {"threads", required_argument, NULL, 'T'},
      {"connections", required_argument, NULL, 'N'},
      {"error-url", required_argument, NULL, OPT_ERROR_URL},
      {"error-call", required_argument, NULL, OPT_ERROR_CALL},
      {"error-data", required_argument, NULL, OPT_ERROR_DATA},
      {"error-option", required_argument, NULL, OPT_ERROR_OPTION},
      {"timeout", required_argument, NULL, OPT_TIMEOUT},
      {"only", required_argument, NULL, OPT_ONLY},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *plugin_arg = NULL;
  rl__target_options topts;
  memset(&topts, 0, sizeof topts);
  topts.connect_timeout_ns = 2 * RL__NS_PER_SEC;
  topts.request_timeout_ns = 2 * RL__NS_PER_SEC;
  rl_kv headers[MAX_KV], options[MAX_KV], error_options[MAX_KV];
  size_t nh = 0, no = 0, neo = 0;
  const char *error_url = NULL, *error_data = NULL;
  int error_given = 0;
  long long users = 20, threads = 2, connections = 0;
  double seconds = 3, stall_ms = 50, timeout_s = 0.25;
  int c;
  while ((c = getopt_long(argc, argv, "X:H:d:O:h", opts, NULL)) != -1) {
    char *eq;
    switch (c) {
    case 'p':
      plugin_arg = optarg;
      break;
    case 'u':
      topts.url = optarg;
      break;
    case 'X':
      topts.method = optarg;
      break;
    case 'H':
      eq = strchr(optarg, ':');
      if (!eq || nh == MAX_KV) {
        fprintf(stderr, "rpcload-conformance: bad header '%s'\n", optarg);
        return 2;
      }
      *eq++ = 0;
      while (*eq == ' ')
        eq++;
      headers[nh++] = (rl_kv){optarg, eq};
      break;
    case 'd':
      topts.body = (const uint8_t *)optarg;
      topts.body_len = strlen(optarg);
      break;
    case 'n':
      topts.name = optarg;
      break;
    case 'c':
    case 'O':
    case OPT_ERROR_CALL:
    case OPT_ERROR_OPTION: {
      int for_error = c == OPT_ERROR_CALL || c == OPT_ERROR_OPTION;
      rl_kv *set = for_error ? error_options : options;
      size_t *n = for_error ? &neo : &no;
      const char *key = "call", *value = optarg;
      if (c == 'O' || c == OPT_ERROR_OPTION) {
        if (!(eq = strchr(optarg, '='))) {
          fprintf(stderr, "rpcload-conformance: %s wants KEY=VALUE\n",
                  c == 'O' ? "-O" : "--error-option");
          return 2;
        }
        *eq = 0;
        key = optarg;
        value = eq + 1;
      }
      /* -O may repeat a key (gRPC's metadata); --error-option replaces. */
      int full = for_error ? set_option(set, n, MAX_KV, key, value) != 0
                           : *n == MAX_KV;
      if (full) {
        fprintf(stderr, "rpcload-conformance: too many options\n");
        return 2;
      }
      if (!for_error)
        set[(*n)++] = (rl_kv){key, value};
      error_given |= for_error;
      break;
    }
    case OPT_ERROR_URL:
      error_url = optarg;
      error_given = 1;
      break;
    case OPT_ERROR_DATA:
      error_data = optarg;
      error_given = 1;
      break;
    case 'k':
      topts.tls.insecure = 1;
      break;
    case 'C':
      topts.tls.cacert = optarg;
      break;
    case 'U':
      if (rl__parse_int(optarg, 1, 10000, &users))
        goto bad;
      break;
    case 'T':
      if (rl__parse_int(optarg, 1, 64, &threads))
        goto bad;
      break;
    case 'S':
      if (rl__parse_number(optarg, &seconds) || seconds <= 0)
        goto bad;
      break;
    case 'N':
      if (rl__parse_int(optarg, 1, 10000, &connections))
        goto bad;
      break;
    case 'M':
      if (rl__parse_number(optarg, &stall_ms) || stall_ms <= 0)
        goto bad;
      break;
    case OPT_TIMEOUT:
      if (rl__parse_number(optarg, &timeout_s) || timeout_s <= 0 ||
          timeout_s > 60) {
        fprintf(stderr,
                "rpcload-conformance: --timeout '%s': seconds, more than 0 "
                "and at most 60\n",
                optarg);
        return 2;
      }
      break;
    case OPT_ONLY:
      if (parse_only(optarg, &only_mask))
        return 2;
      break;
    case 'h':
      usage(stdout);
      return 0;
    default:
      goto bad;
    }
  }
  if (!plugin_arg || !topts.url || optind != argc)
    goto bad;
  topts.plugin = plugin_arg;
  topts.headers = headers;
  topts.n_headers = nh;
  topts.options = options;
  topts.n_options = no;
  /* The error request: the request above with what --error-* replaced. */
  rl_kv merged[2 * MAX_KV];
  size_t nm = 0;
  for (size_t i = 0; i < no; i++)
    merged[nm++] = options[i];
  for (size_t i = 0; i < neo; i++)
    (void)set_option(merged, &nm, sizeof merged / sizeof merged[0],
                     error_options[i].key, error_options[i].value);
  rl__target_options etopts = topts;
  if (error_url)
    etopts.url = error_url;
  if (error_data) {
    etopts.body = (const uint8_t *)error_data;
    etopts.body_len = strlen(error_data);
  }
  etopts.options = merged;
  etopts.n_options = nm;
  kit.stall_limit_ns = (uint64_t)(stall_ms * 1e6);
  signal(SIGPIPE, SIG_IGN);
  rl__log_set_level(RL__LOG_WARN); /* the runs' progress lines are noise here */

  rl__plugin_set plugins;
  rl__plugin_set_init(&plugins, kit_host_table());
  rl__plugin *p;
  char err[1024];
  if (rl__plugin_set_load(&plugins, plugin_arg, &p, err, sizeof err)) {
    printf("FAIL  load: %s\n0 passed, 1 failed\n", err);
    rl__plugin_set_free(&plugins);
    return 2;
  }
  printf("rpcload-conformance: %s %s (%s) from %s\n", p->desc.name,
         p->desc.version,
         p->desc.kind == RL_PLUGIN_CODEC ? "codec" : "transport", p->path);
  check(1, "load: the loader accepted the plugin (entry symbol, ABI, size, "
           "required members)");
  check_descriptor(p);
  kit_wrap(p);

  /* 1. Load: every request ends in exactly one event. */
  rl__run_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.users = (uint32_t)users;
  cfg.spawn_rate = 1e6;
  cfg.threads = (uint32_t)threads;
  cfg.connections = (uint32_t)connections;
  if (cfg.connections && cfg.threads > cfg.connections)
    cfg.threads = cfg.connections;
  cfg.run_time_ns = (uint64_t)(seconds * 1e9);
  cfg.stop_timeout_ns = 3 * RL__NS_PER_SEC;
  cfg.seed = 1;
  run_result load, res;
  memset(&res, 0, sizeof res);
  if (error_given && wanted("error")) {
    /* A wrong error request is a usage error: say so before any run. */
    run_setup setup;
    if (setup_new(&plugins, &topts, &etopts, &cfg, &setup))
      goto refused;
    setup_free(&setup);
  }
  kit_run_begin(FAULT_NONE);
  int rc = run(&plugins, &topts, NULL, &cfg, &load);
  if (rc == -2) /* step_new refused: nothing to check, as --help says */
    goto refused;
  int clean = no_violations();
  check(rc == 0 && clean && load.requests > 0,
        "load: %llu users for %gs: %llu request(s), %llu failed, %llu cut; "
        "exactly one event each",
        users, seconds, (unsigned long long)load.requests,
        (unsigned long long)load.failures, (unsigned long long)load.cut);
  if (load.failures == load.requests && load.requests)
    printf("      note: every request failed (%s): is --url a server of this "
           "protocol?\n",
           load.top_error);

  /* The other runs: a second each, or --seconds when shorter. */
  rl__run_config fcfg = cfg;
  fcfg.run_time_ns =
      cfg.run_time_ns < RL__NS_PER_SEC ? cfg.run_time_ns : RL__NS_PER_SEC;

  /* 2. Faults (codecs: they sit between the core's socket and the
   * plugin). */
  if (kit_orig.kind == RL_PLUGIN_CODEC && wanted("split")) {
    kit_run_begin(FAULT_SPLIT);
    rc = run(&plugins, &topts, NULL, &fcfg, &res);
    kit_run_end();
    clean = no_violations();
    /* A reply in pieces must read as it does whole: failures where the
     * load run had none mean the plugin lost its place between reads. */
    int same = load.failures > 0 || res.failures == 0;
    check(rc == 0 && clean && res.requests > 0 && same,
          "replies split at every byte: %llu request(s), %llu failed%s%s%s",
          (unsigned long long)res.requests, (unsigned long long)res.failures,
          same ? "" : " (none failed whole: ", same ? "" : res.top_error,
          same ? "" : ")");
  }
  if (kit_orig.kind == RL_PLUGIN_CODEC && wanted("close")) {
    kit_run_begin(FAULT_CLOSE);
    rc = run(&plugins, &topts, NULL, &fcfg, &res);
    kit_run_end();
    clean = no_violations();
    check(rc == 0 && clean && res.requests > 0,
          "server closes mid-reply: %llu reply(ies) cut, %llu request(s), "
          "%llu failed; exactly one event each",
          (unsigned long long)kit.n.cut_replies,
          (unsigned long long)res.requests, (unsigned long long)res.failures);
  }
  if (kit_orig.kind == RL_PLUGIN_CODEC && kit_orig.session_max_concurrent &&
      wanted("pipelining")) {
    /* Pipelining: users share one connection, so the session holds as
     * many requests as it says it takes. */
    rl__run_config pcfg = fcfg;
    pcfg.connections = 1;
    pcfg.threads = 1;
    kit_run_begin(FAULT_NONE);
    rc = run(&plugins, &topts, NULL, &pcfg, &res);
    clean = no_violations();
    int same = load.failures > 0 || res.failures == 0;
    check(rc == 0 && clean && res.requests > 0 && same,
          "pipelining: %llu users on one connection: %llu request(s), %llu "
          "failed%s%s%s",
          users, (unsigned long long)res.requests,
          (unsigned long long)res.failures,
          same ? "" : " (none failed alone: ", same ? "" : res.top_error,
          same ? "" : ")");
  }
  if (kit_orig.kind == RL_PLUGIN_CODEC && wanted("delay") &&
      delay_run(&plugins, &topts, &fcfg, &load) == -2)
    goto refused;
  if (kit_orig.kind == RL_PLUGIN_CODEC && wanted("timeout") &&
      timeout_run(&plugins, &topts, &fcfg, timeout_s) == -2)
    goto refused;

  /* 3. Error replies from the real server, where the author named a
   * request it refuses. */
  if (wanted("error")) {
    if (!error_given)
      printf("SKIP  error replies: give --error-url, --error-call, "
             "--error-data or --error-option (a request the server "
             "answers with an error)\n");
    else if (error_run(&plugins, &topts, &etopts, &fcfg, &load) == -2)
      goto refused;
  }

  /* 4. Cut with requests in flight: held requests must be reported by
   * session_del/transport_del, and nothing may leak (run under valgrind). */
  if (wanted("cut")) {
    rl__run_config ccfg = fcfg;
    ccfg.stop_timeout_ns = 0;
    kit_run_begin(FAULT_NONE);
    rc = run(&plugins, &topts, NULL, &ccfg, &res);
    clean = no_violations();
    check(rc == 0 && clean,
          "cut at the stop: %llu request(s) in flight cut, each reported once",
          (unsigned long long)res.cut);
  }

  /* 5. Nothing listening: failures, named like the plugin's requests. */
  rl__url u;
  if (wanted("unreachable") &&
      rl__url_parse(topts.url, &u, err, sizeof err) == 0) {
    uint16_t port = 0;
    int fd = closed_port(strchr(u.host, ':') ? AF_INET6 : AF_INET, &port);
    char url[2048];
    int is_v6 = strchr(u.host, ':') != NULL;
    snprintf(url, sizeof url, "%s%s%s%s%s:%u%s", u.scheme ? u.scheme : "",
             u.scheme ? "://" : "", is_v6 ? "[" : "", u.host, is_v6 ? "]" : "",
             port, u.path);
    rl__target_options closed = topts;
    closed.url = url;
    closed.connect_timeout_ns = closed.request_timeout_ns = RL__NS_PER_SEC / 2;
    rl__run_config ucfg = fcfg;
    ucfg.users = 2;
    ucfg.stop_timeout_ns = RL__NS_PER_SEC;
    kit_run_begin(FAULT_NONE);
    rc = fd >= 0 ? run(&plugins, &closed, NULL, &ucfg, &res) : -1;
    clean = no_violations();
    check(rc == 0 && clean && res.requests > 0 && res.failures == res.requests,
          "nothing listening: %llu request(s), all failed (%s)",
          (unsigned long long)res.requests, res.top_error);
    if (fd >= 0)
      close(fd);
    rl__url_free(&u);
  }

  /* 6. The stall detector's verdict over all runs. */
  if (kit.stalls)
    printf("      stall: %s (%llu callback(s) over the limit)\n",
           kit.stall_shown, (unsigned long long)kit.stalls);
  check(kit.stalls == 0,
        "no blocking: longest plugin callback %.2f ms of worker time (%s), "
        "limit %g ms",
        (double)kit.longest_ns / 1e6, kit.longest_in ? kit.longest_in : "none",
        stall_ms);

  printf("%d passed, %d failed\n", passed, failed);
  rl__plugin_set_free(&plugins);
  free(kit.slots);
  return failed ? 1 : 0;
refused:
  printf("%d passed, %d failed\n", passed, failed + 1);
  rl__plugin_set_free(&plugins);
  free(kit.slots);
  return 2;
bad:
  usage(stderr);
  return 2;
}

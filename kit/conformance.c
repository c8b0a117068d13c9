/*
 * rpcload-conformance: checks that a plugin keeps the ABI's contract, by
 * running it through the real core against a real server.
 *
 *   rpcload-conformance --plugin ./myproto.so --url myproto://127.0.0.1:7000
 *                       [-X M] [-H 'K: V'] [-d DATA] [--call C] [-O k=v]
 *                       [--users N] [--seconds S] [--stall-ms MS]
 *
 * How: the descriptor loaded by the core is a copy the kit may edit, so
 * every plugin callback is replaced by a wrapper that times it and keeps
 * books, and the plugin is handed a copy of the host table whose
 * request_done checks each event before passing it on. Then the runs go
 * through the ordinary runner: a load run; faults a real network brings
 * (every reply split at every byte, the server closing mid-reply; a codec
 * that pipelines gets a run where users share one connection); a run cut
 * at the stop with requests in flight; and a run against a port where
 * nothing listens. Faults are injected between the core and the plugin
 * (its session is wrapped), so any server of the protocol will do.
 *
 * The stall check counts the worker thread's CPU time in a callback, so a
 * busy machine (the thread preempted mid-callback) does not fail a correct
 * plugin; a callback that sleeps or blocks (a voluntary context switch)
 * longer than the limit is caught by its wall time.
 *
 * Books are kept per rl_request object. The core reuses a user's request
 * object for its next request, so the state is reset at every submit: a
 * second event for one submit, an event after a refused submit, an event
 * from inside submit, or a session/transport deleted while still holding a
 * request it never reported is a violation.
 *
 * Exit status: 0 when every check passed, 1 when one failed, 2 for bad
 * arguments, a plugin that does not load, or a step it refuses (step_new).
 */
/* RUSAGE_THREAD (Linux): the worker thread's own context switches. */
#define _GNU_SOURCE // NOLINT(bugprone-reserved-identifier): glibc asks for it
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <rpcload/plugin.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/units.h"
#include "base/url.h"
#include "engine/host.h"
#include "engine/plugin_loader.h"
#include "engine/request.h"
#include "engine/runner.h"
#include "engine/target.h"
#include "stats/stats.h"

/* ---- the books ----------------------------------------------------------- */

enum req_state { REQ_IDLE = 0, REQ_IN_SUBMIT, REQ_ACCEPTED, REQ_REFUSED };

typedef struct book {
  const rl_request *req;
  void *owner; /* session or transport that accepted it */
  enum req_state state;
  /* A submit of this object failed and no event has claimed it since: the
   * object is reused, so an event for the refused request may arrive after
   * the next one was accepted and reported. */
  int refused_unclaimed;
} book;

#define MAX_VIOLATIONS_SHOWN 8

static struct {
  pthread_mutex_t lock;
  book *slots; /* open addressing on the request pointer */
  size_t cap, used;
  uint64_t accepted, events, refused;
  uint64_t violations;
  char shown[MAX_VIOLATIONS_SHOWN][256];
  /* stall detector */
  uint64_t stall_limit_ns;
  uint64_t longest_ns;
  const char *longest_in;
  uint64_t stalls;
  /* The fault the current run injects (enum fault); set between runs. */
  int fault;
  uint64_t connections;  /* sessions made, for FAULT_CLOSE's every other */
  uint64_t cut_replies;  /* replies FAULT_CLOSE cut */
  char stall_shown[256]; /* the first stall, shown under its own check */
} kit = {.lock = PTHREAD_MUTEX_INITIALIZER};

enum fault {
  FAULT_NONE = 0,
  FAULT_SPLIT, /* every read handed to the plugin one byte at a time */
  FAULT_CLOSE, /* every other connection closed in the middle of its first
                  reply (half of its first read handed over) */
};

static rl_plugin orig; /* the plugin's own callbacks */
static rl_host kit_host;

static void violation(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static void violation(const char *fmt, ...) {
  /* Called with kit.lock held. */
  if (kit.violations < MAX_VIOLATIONS_SHOWN) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(kit.shown[kit.violations], sizeof kit.shown[0], fmt, ap);
    va_end(ap);
  }
  kit.violations++;
}

static size_t slot_of(const rl_request *req) {
  uintptr_t h = (uintptr_t)req;
  h ^= h >> 17;
  h *= 0x9e3779b97f4a7c15ull;
  return (size_t)(h & (kit.cap - 1));
}

/* The book of `req`, created when missing. Lock held. */
static book *book_of(const rl_request *req) {
  if ((kit.used + 1) * 2 > kit.cap) {
    size_t cap = kit.cap ? kit.cap * 2 : 1024;
    book *old = kit.slots;
    size_t oldcap = kit.cap;
    kit.slots = calloc(cap, sizeof(book));
    if (!kit.slots) {
      fprintf(stderr, "rpcload-conformance: out of memory\n");
      exit(2);
    }
    kit.cap = cap;
    kit.used = 0;
    for (size_t i = 0; i < oldcap; i++)
      if (old[i].req) {
        size_t s = slot_of(old[i].req);
        while (kit.slots[s].req)
          s = (s + 1) & (cap - 1);
        kit.slots[s] = old[i];
        kit.used++;
      }
    free(old);
  }
  size_t s = slot_of(req);
  while (kit.slots[s].req && kit.slots[s].req != req)
    s = (s + 1) & (kit.cap - 1);
  if (!kit.slots[s].req) {
    kit.slots[s].req = req;
    kit.used++;
  }
  return &kit.slots[s];
}

/* When a callback started: wall and thread CPU clocks, and the thread's
 * voluntary context switches (it slept or blocked). */
typedef struct stamp {
  uint64_t wall_ns, cpu_ns;
  long blocks;
} stamp;

static stamp stamp_now(void) {
  stamp s = {.wall_ns = rl__now_ns()};
  struct timespec ts;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0)
    s.cpu_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
  struct rusage ru;
  if (getrusage(RUSAGE_THREAD, &ru) == 0)
    s.blocks = ru.ru_nvcsw;
  return s;
}

/*
 * Times one plugin callback. Its CPU time on the worker thread is what
 * counts: on a busy machine the thread may be preempted mid-callback,
 * which costs wall time the plugin did not spend. A callback that slept or
 * blocked (a voluntary switch) counts by its wall time, since that is how
 * long the loop stood still.
 */
static void timed(const char *name, stamp start) {
  stamp end = stamp_now();
  uint64_t cpu = end.cpu_ns - start.cpu_ns;
  uint64_t wall = end.wall_ns - start.wall_ns;
  int blocked = end.blocks > start.blocks;
  uint64_t took = blocked && wall > cpu ? wall : cpu;
  if (took <= kit.stall_limit_ns && took <= kit.longest_ns)
    return;
  pthread_mutex_lock(&kit.lock);
  if (took > kit.longest_ns) {
    kit.longest_ns = took;
    kit.longest_in = name;
  }
  if (took > kit.stall_limit_ns) {
    /* A check of its own (the last one), not the run's contract. */
    if (kit.stalls++ == 0)
      snprintf(kit.stall_shown, sizeof kit.stall_shown,
               blocked && wall > cpu
                   ? "%s blocked the worker thread for %.1f ms (limit %.0f "
                     "ms)"
                   : "%s used %.1f ms of the worker thread's CPU (limit %.0f "
                     "ms)",
               name, (double)took / 1e6, (double)kit.stall_limit_ns / 1e6);
  }
  pthread_mutex_unlock(&kit.lock);
}

/* Every request `owner` accepted must be reported when it is deleted. */
static void check_owner_empty(void *owner, const char *what) {
  pthread_mutex_lock(&kit.lock);
  uint64_t left = 0;
  for (size_t i = 0; i < kit.cap; i++)
    if (kit.slots[i].req && kit.slots[i].owner == owner &&
        kit.slots[i].state == REQ_ACCEPTED) {
      kit.slots[i].state = REQ_IDLE;
      kit.slots[i].owner = NULL;
      left++;
    }
  if (left)
    violation("%s returned with %llu accepted request(s) never reported", what,
              (unsigned long long)left);
  pthread_mutex_unlock(&kit.lock);
}

/* ---- the host table the plugin sees -------------------------------------- */

static void kit_request_done(rl_request *req, const rl_result *res) {
  pthread_mutex_lock(&kit.lock);
  book *b = book_of(req);
  kit.events++;
  switch (b->state) {
  case REQ_ACCEPTED:
    break;
  case REQ_IN_SUBMIT:
    violation("request_done called from inside submit");
    break;
  case REQ_REFUSED:
    violation("request_done for a request whose submit had failed");
    break;
  case REQ_IDLE:
    if (b->refused_unclaimed)
      violation("request_done for a request whose submit had failed");
    else
      violation("request_done twice for one request, or for a request the "
                "plugin never accepted");
    b->refused_unclaimed = 0;
    break;
  }
  if (!res || !res->type || !res->type[0] || !res->name || !res->name[0])
    violation("request_done with an empty type or name");
  int ok = b->state == REQ_ACCEPTED || b->state == REQ_IN_SUBMIT;
  b->state = REQ_IDLE;
  b->owner = NULL;
  pthread_mutex_unlock(&kit.lock);
  /* Only a well-formed first event reaches the core: a second one would
   * corrupt the books the run depends on. */
  if (ok)
    rl__host()->request_done(req, res);
}

/* A request handed back to the host (request_retry: HTTP/2 GOAWAY;
 * request_move: a redirect on a new connection): the session is done
 * with it, and the host submits it again. */
static void handed_back(rl_request *req) {
  pthread_mutex_lock(&kit.lock);
  book *b = book_of(req);
  if (b->state == REQ_ACCEPTED) {
    b->state = REQ_IDLE;
    b->owner = NULL;
  }
  pthread_mutex_unlock(&kit.lock);
}

static void kit_request_retry(rl_request *req, const char *reason) {
  handed_back(req);
  rl__host()->request_retry(req, reason);
}

static void kit_request_move(rl_request *req, const char *reason) {
  handed_back(req);
  rl__host()->request_move(req, reason);
}

/* ---- wrappers around the plugin's callbacks ------------------------------ */

static int w_init(const rl_host *host) {
  (void)host;
  return orig.init(&kit_host);
}

static int w_step_new(const rl_host *host, const rl_step_spec *spec,
                      void **step, char *err, size_t errlen) {
  (void)host;
  return orig.step_new(&kit_host, spec, step, err, errlen);
}

/* The session the host holds: the plugin's, and what a fault needs. */
typedef struct wsession {
  void *inner; /* the plugin's session */
  rl_conn *conn;
  int cut; /* FAULT_CLOSE: its first reply is cut */
  uint64_t reads;
} wsession;

static int w_session_new(const rl_host *host, rl_conn *conn,
                         const rl_conn_info *info, void **session) {
  (void)host;
  wsession *w = calloc(1, sizeof *w);
  if (!w)
    return RL_ERR_NOMEM;
  w->conn = conn;
  pthread_mutex_lock(&kit.lock);
  w->cut = kit.fault == FAULT_CLOSE && kit.connections++ % 2 == 0;
  pthread_mutex_unlock(&kit.lock);
  stamp t0 = stamp_now();
  int rc = orig.session_new(&kit_host, conn, info, &w->inner);
  timed("session_new", t0);
  if (rc != 0) {
    free(w);
    return rc;
  }
  *session = w;
  return 0;
}

static int submit_common(const char *name,
                         int (*fn)(void *owner, rl_request *req), void *owner,
                         rl_request *req) {
  pthread_mutex_lock(&kit.lock);
  book *b = book_of(req);
  if (b->state == REQ_ACCEPTED)
    violation("%s: the host submitted a request still in flight (kit bug?)",
              name);
  b->state = REQ_IN_SUBMIT;
  b->owner = owner;
  pthread_mutex_unlock(&kit.lock);
  stamp t0 = stamp_now();
  int rc = fn(owner, req);
  timed(name, t0);
  pthread_mutex_lock(&kit.lock);
  b = book_of(req);
  if (rc == 0) {
    kit.accepted++;
    if (b->state == REQ_IN_SUBMIT)
      b->state = REQ_ACCEPTED;
    else /* already reported from inside submit: flagged there */
      b->state = REQ_IDLE;
  } else {
    kit.refused++;
    b->state = REQ_REFUSED;
    b->refused_unclaimed = 1;
    b->owner = NULL;
    if (rc > 0)
      violation("%s returned %d: errors must be negative RL_ERR_* codes", name,
                rc);
  }
  pthread_mutex_unlock(&kit.lock);
  return rc;
}

static int w_session_submit(void *session, rl_request *req) {
  wsession *w = session;
  return submit_common("session_submit", orig.session_submit, w->inner, req);
}

static int read_timed(wsession *w, const uint8_t *data, size_t len) {
  stamp t0 = stamp_now();
  int rc = orig.session_on_read(w->inner, data, len);
  timed("session_on_read", t0);
  return rc;
}

static int w_session_on_read(void *session, const uint8_t *data, size_t len) {
  wsession *w = session;
  if (kit.fault == FAULT_SPLIT) {
    /* A reply in as many pieces as it has bytes: a codec must keep its
     * parse state across reads. */
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0; i++)
      rc = read_timed(w, data + i, 1);
    return rc;
  }
  if (w->cut && w->reads++ == 0 && len >= 2) {
    /* The server goes away in the middle of the reply: half of it, then
     * the close. Whatever the plugin held must end once. */
    int rc = read_timed(w, data, len / 2);
    pthread_mutex_lock(&kit.lock);
    kit.cut_replies++;
    pthread_mutex_unlock(&kit.lock);
    kit_host.conn_close(w->conn);
    return rc;
  }
  return read_timed(w, data, len);
}

static void w_session_del(void *session, int err, const char *reason) {
  wsession *w = session;
  stamp t0 = stamp_now();
  orig.session_del(w->inner, err, reason);
  timed("session_del", t0);
  check_owner_empty(w->inner, "session_del");
  free(w);
}

static uint32_t w_session_max_concurrent(void *session) {
  const wsession *w = session;
  return orig.session_max_concurrent(w->inner);
}

static int w_session_cancel(void *session, rl_request *req,
                            const char *reason) {
  const wsession *w = session;
  return orig.session_cancel(w->inner, req, reason);
}

static int w_session_ready(void *session) {
  const wsession *w = session;
  return orig.session_ready(w->inner);
}

static int w_transport_new(const rl_host *host, rl_loop *loop, void *step,
                           const rl_transport_info *info, void **transport) {
  (void)host;
  stamp t0 = stamp_now();
  int rc = orig.transport_new(&kit_host, loop, step, info, transport);
  timed("transport_new", t0);
  return rc;
}

static int w_transport_submit(void *transport, rl_request *req) {
  return submit_common("transport_submit", orig.transport_submit, transport,
                       req);
}

static void w_transport_del(void *transport, int err, const char *reason) {
  stamp t0 = stamp_now();
  orig.transport_del(transport, err, reason);
  timed("transport_del", t0);
  check_owner_empty(transport, "transport_del");
}

static void wrap(rl__plugin *p) {
  orig = p->desc;
  kit_host = *rl__host();
  kit_host.request_done = kit_request_done;
  kit_host.request_retry = kit_request_retry;
  kit_host.request_move = kit_request_move;
  if (orig.init)
    p->desc.init = w_init;
  p->desc.step_new = w_step_new;
  if (orig.kind == RL_PLUGIN_CODEC) {
    p->desc.session_new = w_session_new;
    p->desc.session_submit = w_session_submit;
    p->desc.session_on_read = w_session_on_read;
    p->desc.session_del = w_session_del;
    if (orig.session_max_concurrent)
      p->desc.session_max_concurrent = w_session_max_concurrent;
    if (orig.session_cancel)
      p->desc.session_cancel = w_session_cancel;
    if (orig.session_ready)
      p->desc.session_ready = w_session_ready;
  } else {
    p->desc.transport_new = w_transport_new;
    p->desc.transport_submit = w_transport_submit;
    p->desc.transport_del = w_transport_del;
  }
}

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
  for (uint64_t i = 0; i < n && i < MAX_VIOLATIONS_SHOWN; i++)
    printf("      violation: %s\n", kit.shown[i]);
  if (n > MAX_VIOLATIONS_SHOWN)
    printf("      ... and %llu more\n",
           (unsigned long long)(n - MAX_VIOLATIONS_SHOWN));
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
  char top_error[256];
} run_result;

static int run(rl__plugin_set *plugins, const rl__target_options *topts,
               const rl__run_config *cfg, run_result *out) {
  char err[1024];
  rl__target *target = NULL;
  memset(out, 0, sizeof *out);
  if (rl__target_new(plugins, topts, &target, err, sizeof err)) {
    printf("FAIL  setup: the step was refused: %s\n", err);
    return -2;
  }
  rl__stats *stats = rl__stats_new();
  rl__runner r;
  int rc = stats ? rl__runner_run(&r, cfg, &kit_host, target, stats, NULL) : -1;
  if (rc == 0) {
    const rl__stats_entry *t = rl__stats_total(stats);
    out->requests = t->num_requests;
    out->failures = t->num_failures;
    out->cut = r.cut_requests;
    const rl__stats_error **errors;
    if (rl__stats_errors(stats, &errors))
      snprintf(out->top_error, sizeof out->top_error, "%s %s: %s",
               errors[0]->type, errors[0]->name, errors[0]->error);
  }
  if (stats)
    rl__runner_free(&r);
  rl__stats_del(stats);
  rl__target_del(target);
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

static void usage(FILE *out) {
  fputs("Usage: rpcload-conformance --plugin PLUGIN --url URL [OPTIONS]\n"
        "\n"
        "Checks that a protocol plugin keeps rpcload's plugin contract, by\n"
        "running it through the real core against a real server at URL:\n"
        "the descriptor's fields; exactly one request event per request the\n"
        "plugin accepted, none after a refused submit, none from inside\n"
        "submit; every held request reported when a session or transport is\n"
        "deleted (also when the run is cut with requests in flight); replies\n"
        "split at every byte and a server closing mid-reply (codecs; and\n"
        "users sharing one connection when the codec pipelines); failures\n"
        "on a port where nothing listens; no callback blocking the worker\n"
        "thread (its CPU time, or its wall time when it slept). Run it under\n"
        "valgrind to check teardown leaks nothing.\n"
        "\n"
        "  --plugin NAME|PATH   the plugin to check\n"
        "  --url URL            a real server speaking the plugin's protocol\n"
        "  -X, -H, -d, --name, --call, -O KEY=VALUE, --insecure, --cacert F\n"
        "                       the request, as for rpcload\n"
        "  --users N            users in the load run (default 20)\n"
        "  --seconds S          length of the load run (default 3)\n"
        "  --stall-ms MS        longest a callback may take (default 50)\n"
        "  --threads N          worker threads (default 2)\n"
        "  --connections N      users share N connections, as rpcload's\n"
        "                       --connections: for multiplexing plugins\n"
        "\n"
        "Prints PASS/FAIL per check and 'N passed, M failed'. Exit status 0\n"
        "when all passed, 1 when a check failed, 2 for bad arguments, a\n"
        "plugin that does not load, or a step the plugin refuses.\n",
        out);
}

int main(int argc, char **argv) {
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
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *plugin_arg = NULL;
  rl__target_options topts;
  memset(&topts, 0, sizeof topts);
  topts.connect_timeout_ns = 2 * RL__NS_PER_SEC;
  topts.request_timeout_ns = 2 * RL__NS_PER_SEC;
  rl_kv headers[32], options[32];
  size_t nh = 0, no = 0;
  long long users = 20, threads = 2, connections = 0;
  double seconds = 3, stall_ms = 50;
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
      if (!eq || nh == 32) {
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
      if (no == 32) {
        fprintf(stderr, "rpcload-conformance: too many options\n");
        return 2;
      }
      if (c == 'c') {
        options[no++] = (rl_kv){"call", optarg};
      } else if ((eq = strchr(optarg, '='))) {
        *eq = 0;
        options[no++] = (rl_kv){optarg, eq + 1};
      } else {
        fprintf(stderr, "rpcload-conformance: -O wants KEY=VALUE\n");
        return 2;
      }
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
  kit.stall_limit_ns = (uint64_t)(stall_ms * 1e6);
  signal(SIGPIPE, SIG_IGN);
  rl__log_set_level(RL__LOG_WARN); /* the runs' progress lines are noise here */

  rl__plugin_set plugins;
  rl__plugin_set_init(&plugins, &kit_host);
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
  wrap(p);

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
  run_result res;
  int rc = run(&plugins, &topts, &cfg, &res);
  if (rc == -2) { /* step_new refused: nothing to check, as --help says */
    printf("%d passed, %d failed\n", passed, failed + 1);
    rl__plugin_set_free(&plugins);
    return 2;
  }
  int clean = no_violations();
  check(rc == 0 && clean && res.requests > 0,
        "load: %llu users for %gs: %llu request(s), %llu failed, %llu cut; "
        "exactly one event each",
        users, seconds, (unsigned long long)res.requests,
        (unsigned long long)res.failures, (unsigned long long)res.cut);
  if (res.failures == res.requests && res.requests)
    printf("      note: every request failed (%s): is --url a server of this "
           "protocol?\n",
           res.top_error);

  uint64_t load_failures = res.failures;

  /* 2. Faults (codecs: they sit between the core's socket and the
   * plugin), each run one second. */
  if (orig.kind == RL_PLUGIN_CODEC) {
    rl__run_config fcfg = cfg;
    fcfg.run_time_ns = RL__NS_PER_SEC;
    kit.fault = FAULT_SPLIT;
    rc = run(&plugins, &topts, &fcfg, &res);
    kit.fault = FAULT_NONE;
    clean = no_violations();
    /* A reply in pieces must read as it does whole: failures where the
     * load run had none mean the plugin lost its place between reads. */
    int same = load_failures > 0 || res.failures == 0;
    check(rc == 0 && clean && res.requests > 0 && same,
          "replies split at every byte: %llu request(s), %llu failed%s%s%s",
          (unsigned long long)res.requests, (unsigned long long)res.failures,
          same ? "" : " (none failed whole: ", same ? "" : res.top_error,
          same ? "" : ")");

    kit.fault = FAULT_CLOSE;
    kit.connections = kit.cut_replies = 0;
    rc = run(&plugins, &topts, &fcfg, &res);
    kit.fault = FAULT_NONE;
    clean = no_violations();
    check(rc == 0 && clean && res.requests > 0,
          "server closes mid-reply: %llu reply(ies) cut, %llu request(s), "
          "%llu failed; exactly one event each",
          (unsigned long long)kit.cut_replies, (unsigned long long)res.requests,
          (unsigned long long)res.failures);

    if (orig.session_max_concurrent) {
      /* Pipelining: users share one connection, so the session holds as
       * many requests as it says it takes. */
      rl__run_config pcfg = fcfg;
      pcfg.connections = 1;
      pcfg.threads = 1;
      rc = run(&plugins, &topts, &pcfg, &res);
      clean = no_violations();
      same = load_failures > 0 || res.failures == 0;
      check(rc == 0 && clean && res.requests > 0 && same,
            "pipelining: %llu users on one connection: %llu request(s), %llu "
            "failed%s%s%s",
            users, (unsigned long long)res.requests,
            (unsigned long long)res.failures,
            same ? "" : " (none failed alone: ", same ? "" : res.top_error,
            same ? "" : ")");
    }
  }

  /* 3. Cut with requests in flight: held requests must be reported by
   * session_del/transport_del, and nothing may leak (run under valgrind). */
  cfg.run_time_ns = RL__NS_PER_SEC;
  cfg.stop_timeout_ns = 0;
  rc = run(&plugins, &topts, &cfg, &res);
  clean = no_violations();
  check(rc == 0 && clean,
        "cut at the stop: %llu request(s) in flight cut, each reported once",
        (unsigned long long)res.cut);

  /* 4. Nothing listening: failures, named like the plugin's requests. */
  rl__url u;
  if (rl__url_parse(topts.url, &u, err, sizeof err) == 0) {
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
    cfg.users = 2;
    cfg.run_time_ns = RL__NS_PER_SEC + RL__NS_PER_SEC / 2;
    cfg.stop_timeout_ns = RL__NS_PER_SEC;
    rc = fd >= 0 ? run(&plugins, &closed, &cfg, &res) : -1;
    clean = no_violations();
    check(rc == 0 && clean && res.requests > 0 && res.failures == res.requests,
          "nothing listening: %llu request(s), all failed (%s)",
          (unsigned long long)res.requests, res.top_error);
    if (fd >= 0)
      close(fd);
    rl__url_free(&u);
  }

  /* 5. The stall detector's verdict over all runs. */
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
bad:
  usage(stderr);
  return 2;
}

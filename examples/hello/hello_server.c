/*
 * hello_server: the gRPC server of Locust's example (locust.hello.HelloService,
 * hello.proto), written in C on grpc C core, as the target of rpcload's
 * examples, tests and benchmarks. See README.md next to this file.
 *
 *   hello_server [--host ADDR] [--port P] [--threads N] [--tls CERT KEY]
 *                [--grace S] [--max-delayed N] [--no-reflection]
 *
 * This file: options, start, the worker loop, shutdown, the final count.
 * hello_service.c answers SayHello, hello_stream.c the streaming methods,
 * reflection_call.c the reflection stream.
 *
 * Output, for scripts and tests: one line "listening on HOST:PORT" on
 * stdout when the server accepts calls (with --port 0 the kernel's choice),
 * and at exit (SIGTERM or SIGINT) two lines
 *   calls served: N (hello ok A, hello error status B, reflection C, unimplemented D), failed F
 *   stream calls served: S (ok O, error status E), failed G; messages received R, sent W
 * where N = A + B + C + D counts the unary and reflection calls whose
 * status reached grpc and that the client did not cancel, and F the
 * others; the second line counts the streaming methods' calls the same way
 * and their messages. Logs go to stderr.
 *
 * Shutdown: the first signal stops new calls and lets calls in flight
 * finish (delayed answers included) for --grace seconds; then, or at a
 * second signal, the calls still open are cancelled. Exit status 0, or 1
 * for a start-up failure, 2 for a usage error.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "server.h"

#define HS_METHOD_HELLO "/locust.hello.HelloService/SayHello"
#define HS_METHOD_STREAM "/locust.hello.HelloService/SayHelloStream"
#define HS_METHOD_TO_ALL "/locust.hello.HelloService/SayHelloToAll"
#define HS_METHOD_CHAT "/locust.hello.HelloService/SayHelloChat"
#define HS_METHOD_REFL_V1                                                      \
  "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
#define HS_METHOD_REFL_V1ALPHA                                                 \
  "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"

/* Calls requested ahead per worker: a burst of new calls finds a request
 * waiting instead of queueing in grpc core (whose queue of calls nobody
 * asked for is bounded and answers UNAVAILABLE when full). */
#define HS_HELLO_AHEAD 128
#define HS_STREAM_AHEAD 32
#define HS_OTHER_AHEAD 4
/* How long a worker waits for an event when no timer is due sooner: the
 * latency with which it sees the main thread's phase changes (grpc core has
 * no public way to wake a queue). */
#define HS_TICK_MS 100
/* After the grace time, how long cancelled calls get to return before the
 * process gives up on a clean exit. */
#define HS_CANCEL_WAIT_S 10
#define HS_MAX_THREADS 256
/* TLS key and certificate files larger than this are refused. */
#define HS_MAX_PEM ((size_t)1 << 20)

typedef struct options {
  const char *host;
  long port;
  long threads;
  const char *cert, *key;
  double grace_s;
  long max_delayed;
  int reflection;
} options;

void hs_log(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  flockfile(stderr); /* one whole line, whichever threads log at once */
  fputs("hello_server: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  funlockfile(stderr);
  va_end(ap);
}

int64_t hs_now_ns(void) {
  gpr_timespec t = gpr_now(GPR_CLOCK_MONOTONIC);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void usage(FILE *f) {
  fputs(
      "usage: hello_server [--host ADDR] [--port P] [--threads N] [--tls CERT "
      "KEY]\n"
      "                    [--grace S] [--max-delayed N] [--no-reflection]\n"
      "  --host ADDR        address to listen on (default 127.0.0.1; [::1] or "
      "::1 for IPv6)\n"
      "  --port P           port (default 50051, Locust's example); 0: the "
      "kernel picks,\n"
      "                     printed as 'listening on HOST:PORT'\n"
      "  --threads N        completion-queue threads (default 1)\n"
      "  --tls CERT KEY     serve TLS with this PEM certificate chain and key\n"
      "  --grace S          at SIGTERM/SIGINT, seconds calls in flight get to "
      "finish\n"
      "                     before they are cancelled (default 5)\n"
      "  --max-delayed N    delayed calls (x-delay-ms) held per thread; "
      "beyond, calls are\n"
      "                     answered RESOURCE_EXHAUSTED (default 100000)\n"
      "  --no-reflection    do not serve grpc.reflection.v1/v1alpha\n"
      "Per call, request metadata: x-delay-ms: N (answer after N ms), "
      "x-status: CODE\n"
      "(answer with that gRPC status), x-message: TEXT (the status message).\n",
      f);
}

/* Parses a whole decimal number in [lo, hi]. Returns 0 or -1. */
static int parse_long(const char *s, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi)
    return -1;
  *out = v;
  return 0;
}

/* Returns 0, or 2 (the exit status) after a message on stderr. */
static int parse_options(int argc, char **argv, options *o) {
  *o = (options){"127.0.0.1", 50051, 1, NULL, NULL, 5.0, 100000, 1};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int more = argc - i - 1; /* arguments after this one */
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      exit(0);
    } else if (strcmp(a, "--no-reflection") == 0) {
      o->reflection = 0;
    } else if (strcmp(a, "--tls") == 0 && more >= 2) {
      o->cert = argv[++i];
      o->key = argv[++i];
    } else if (more >= 1 && strcmp(a, "--host") == 0) {
      o->host = argv[++i];
    } else if (more >= 1 && strcmp(a, "--port") == 0) {
      if (parse_long(argv[++i], 0, 65535, &o->port) < 0)
        goto bad_value;
    } else if (more >= 1 && strcmp(a, "--threads") == 0) {
      if (parse_long(argv[++i], 1, HS_MAX_THREADS, &o->threads) < 0)
        goto bad_value;
    } else if (more >= 1 && strcmp(a, "--max-delayed") == 0) {
      if (parse_long(argv[++i], 1, 10000000, &o->max_delayed) < 0)
        goto bad_value;
    } else if (more >= 1 && strcmp(a, "--grace") == 0) {
      char *end;
      errno = 0;
      o->grace_s = strtod(argv[++i], &end);
      if (errno || end == argv[i] || *end ||
          !(o->grace_s >= 0 && o->grace_s <= 3600))
        goto bad_value;
    } else {
      hs_log("unknown option or missing value: %s", a);
      usage(stderr);
      return 2;
    }
    continue;
  bad_value:
    hs_log("bad value for %s: '%s'", a, argv[i]);
    return 2;
  }
  return 0;
}

/* Reads a whole (small) file into a NUL-terminated string the caller frees.
 * Returns NULL after logging why. */
static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    hs_log("%s: %s", path, strerror(errno));
    return NULL;
  }
  char *buf = malloc(HS_MAX_PEM + 1);
  size_t n = buf ? fread(buf, 1, HS_MAX_PEM + 1, f) : 0;
  int err = ferror(f);
  fclose(f);
  if (!buf || err || n > HS_MAX_PEM || n == 0) {
    hs_log("%s: %s", path,
           !buf  ? "out of memory"
           : err ? "read error"
                 : "empty or too large");
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  return buf;
}

/* The credentials for --tls (or insecure ones). The caller releases them. */
static grpc_server_credentials *make_credentials(const options *o) {
  if (!o->cert)
    return grpc_insecure_server_credentials_create();
  char *cert = read_file(o->cert);
  char *key = cert ? read_file(o->key) : NULL;
  grpc_server_credentials *creds = NULL;
  if (cert && key) {
    grpc_ssl_pem_key_cert_pair pair = {key, cert};
    /* grpc copies the PEM strings. */
    creds = grpc_ssl_server_credentials_create_ex(
        NULL, &pair, 1, GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE, NULL);
    if (!creds)
      hs_log("cannot use %s and %s as TLS certificate and key", o->cert,
             o->key);
  }
  free(cert);
  free(key);
  return creds;
}

/* ---- the workers ---------------------------------------------------------- */

/* Fires the timers due at now_ns (all of them when `all`): delayed
 * answers, stream intervals. */
static void fire_due(hs_worker *w, int64_t now_ns, int all) {
  hs_delay_item *it;
  while ((it = hs_delay_heap_top(&w->delays)) != NULL &&
         (all || it->due_ns <= now_ns)) {
    hs_delay_heap_remove(&w->delays, it);
    it->fire(it);
  }
}

static void on_server_down(hs_tag *tag, int ok) {
  hs_worker *w = HS_CONTAINER_OF(tag, hs_worker, server_down);
  (void)ok;
  /* Every call is over (grpc's shutdown waits for them), so no event can
   * come to this queue any more: shut it, the loop ends at its
   * GRPC_QUEUE_SHUTDOWN. The delay heap is empty: its calls kept the
   * shutdown waiting until they were answered. */
  fire_due(w, 0, 1); /* (in case it is not) */
  grpc_completion_queue_shutdown(w->cq);
  w->cq_shut = 1;
  atomic_fetch_add(&w->srv->workers_down, 1);
}

/* The worker loop: post requests, then take events until the queue is shut
 * down; in between, answer the delayed calls that are due. */
static void *worker_main(void *arg) {
  hs_worker *w = arg;
  hs_server *srv = w->srv;
  for (int i = 0; i < HS_HELLO_AHEAD; i++)
    hs_hello_request(w);
  for (int i = 0; i < HS_STREAM_AHEAD; i++) {
    hs_stream_request(w, srv->m_stream);
    hs_stream_request(w, srv->m_to_all);
    hs_stream_request(w, srv->m_chat);
  }
  for (int i = 0; i < HS_OTHER_AHEAD; i++) {
    hs_unknown_request(w);
    if (srv->m_refl_v1)
      hs_reflection_request(w, srv->m_refl_v1);
    if (srv->m_refl_v1alpha)
      hs_reflection_request(w, srv->m_refl_v1alpha);
  }
  for (;;) {
    int64_t now = hs_now_ns();
    int64_t wake = now + (int64_t)HS_TICK_MS * 1000000;
    const hs_delay_item *top = hs_delay_heap_top(&w->delays);
    if (top && top->due_ns < wake)
      wake = top->due_ns;
    gpr_timespec deadline = {wake / 1000000000, (int32_t)(wake % 1000000000),
                             GPR_CLOCK_MONOTONIC};
    grpc_event ev = grpc_completion_queue_next(w->cq, deadline, NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN)
      break;
    if (ev.type == GRPC_OP_COMPLETE) {
      hs_tag *tag = ev.tag;
      tag->fn(tag, ev.success);
    }
    if (!w->cq_shut) /* after the queue shutdown no batch may start */
      fire_due(w, hs_now_ns(), atomic_load(&srv->phase) == HS_CANCELLING);
  }
  return NULL;
}

/* ---- start and stop ------------------------------------------------------- */

/* "HOST:PORT", with brackets around an IPv6 host that has none. */
static void format_addr(char *buf, size_t len, const char *host, long port) {
  int v6 = strchr(host, ':') != NULL && host[0] != '[';
  snprintf(buf, len, "%s%s%s:%ld", v6 ? "[" : "", host, v6 ? "]" : "", port);
}

/* Waits up to `seconds` for all workers to see the server shut down, or
 * for a signal in `sigs`. Returns 1 when they did, 0 on a signal or when the
 * time ran out. The wait is bounded by the clock, not by a loop count. */
static int wait_workers_down(hs_server *srv, const sigset_t *sigs,
                             double seconds) {
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    if ((size_t)atomic_load(&srv->workers_down) == srv->nworkers)
      return 1;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double spent = (double)(now.tv_sec - t0.tv_sec) +
                   (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
    double left = seconds - spent;
    if (left <= 0)
      return 0;
    double step = left < 0.05 ? left : 0.05;
    struct timespec ts = {(time_t)step,
                          (long)((step - (double)(time_t)step) * 1e9)};
    if (sigtimedwait(sigs, NULL, &ts) > 0)
      return 0;
  }
}

static void print_counts(const hs_server *srv) {
  hs_counts t = {0};
  for (size_t i = 0; i < srv->nworkers; i++) {
    const hs_counts *c = &srv->workers[i].counts;
    t.hello_ok += c->hello_ok;
    t.hello_status += c->hello_status;
    t.reflection += c->reflection;
    t.unimplemented += c->unimplemented;
    t.failed += c->failed;
    t.stream_ok += c->stream_ok;
    t.stream_status += c->stream_status;
    t.stream_failed += c->stream_failed;
    t.msgs_in += c->msgs_in;
    t.msgs_out += c->msgs_out;
  }
  uint64_t served =
      t.hello_ok + t.hello_status + t.reflection + t.unimplemented;
  printf("calls served: %" PRIu64 " (hello ok %" PRIu64
         ", hello error status %" PRIu64 ", reflection %" PRIu64
         ", unimplemented %" PRIu64 "), failed %" PRIu64 "\n",
         served, t.hello_ok, t.hello_status, t.reflection, t.unimplemented,
         t.failed);
  printf("stream calls served: %" PRIu64 " (ok %" PRIu64
         ", error status %" PRIu64 "), failed %" PRIu64
         "; messages received %" PRIu64 ", sent %" PRIu64 "\n",
         t.stream_ok + t.stream_status, t.stream_ok, t.stream_status,
         t.stream_failed, t.msgs_in, t.msgs_out);
  fflush(stdout);
}

/* Registers the methods, binds and starts. Returns 0 or -1 (logged). */
static int start_server(hs_server *srv, const options *o) {
  /* No SO_REUSEPORT (grpc's default): a second server on a busy port must
   * fail, not silently share the port with the first. */
  grpc_arg arg = {GRPC_ARG_INTEGER, GRPC_ARG_ALLOW_REUSEPORT, {.integer = 0}};
  grpc_channel_args args = {1, &arg};
  srv->server = grpc_server_create(&args, NULL);
  srv->m_hello =
      grpc_server_register_method(srv->server, HS_METHOD_HELLO, NULL,
                                  GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
  /* A server stream's one request comes with the call; a client's stream
   * is read message by message. */
  srv->m_stream =
      grpc_server_register_method(srv->server, HS_METHOD_STREAM, NULL,
                                  GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
  srv->m_to_all = grpc_server_register_method(srv->server, HS_METHOD_TO_ALL,
                                              NULL, GRPC_SRM_PAYLOAD_NONE, 0);
  srv->m_chat = grpc_server_register_method(srv->server, HS_METHOD_CHAT, NULL,
                                            GRPC_SRM_PAYLOAD_NONE, 0);
  if (srv->refl) {
    srv->m_refl_v1 = grpc_server_register_method(
        srv->server, HS_METHOD_REFL_V1, NULL, GRPC_SRM_PAYLOAD_NONE, 0);
    srv->m_refl_v1alpha = grpc_server_register_method(
        srv->server, HS_METHOD_REFL_V1ALPHA, NULL, GRPC_SRM_PAYLOAD_NONE, 0);
  }
  for (size_t i = 0; i < srv->nworkers; i++)
    grpc_server_register_completion_queue(srv->server, srv->workers[i].cq,
                                          NULL);

  char addr[300];
  format_addr(addr, sizeof addr, o->host, o->port);
  grpc_server_credentials *creds = make_credentials(o);
  int port = creds ? grpc_server_add_http2_port(srv->server, addr, creds) : 0;
  if (creds)
    grpc_server_credentials_release(creds);
  if (!srv->m_hello || !srv->m_stream || !srv->m_to_all || !srv->m_chat ||
      (srv->refl && (!srv->m_refl_v1 || !srv->m_refl_v1alpha))) {
    hs_log("cannot register the methods");
    return -1;
  }
  if (port <= 0) {
    if (creds)
      hs_log("cannot listen on %s (address in use or not local?)", addr);
    return -1;
  }
  grpc_server_start(srv->server);
  format_addr(addr, sizeof addr, o->host, port);
  printf("listening on %s\n", addr);
  fflush(stdout);
  return 0;
}

/* Stops a server that start_server() failed to start: grpc_server_destroy
 * wants a completed shutdown first. */
static void abandon_server(hs_server *srv) {
  hs_tag done = {NULL};
  grpc_server_shutdown_and_notify(srv->server, srv->workers[0].cq, &done);
  grpc_server_cancel_all_calls(srv->server);
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(
        srv->workers[0].cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type != GRPC_OP_COMPLETE || ev.tag == &done)
      break;
  }
  grpc_server_destroy(srv->server);
}

int main(int argc, char **argv) {
  options o;
  int rc = parse_options(argc, argv, &o);
  if (rc)
    return rc;

  /* SIGINT and SIGTERM are taken with sigtimedwait() by this thread only:
   * blocked before grpc_init() so that grpc's own threads and the workers
   * (which inherit the mask) never run a handler in the middle of grpc. */
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);

  hs_reflection refl; /* read-only once built: the workers share it */
  hs_server srv;
  memset(&refl, 0, sizeof refl);
  memset(&srv, 0, sizeof srv);
  if (o.reflection) {
    char err[200];
    if (hs_reflection_init(&refl, hs_descriptor_set, hs_descriptor_set_len, err,
                           sizeof err) < 0) {
      hs_log("reflection: %s", err);
      return 1;
    }
    srv.refl = &refl;
  }
  srv.nworkers = (size_t)o.threads;
  srv.workers = calloc(srv.nworkers, sizeof *srv.workers);
  if (!srv.workers) {
    hs_log("out of memory");
    hs_reflection_free(&refl);
    return 1;
  }

  grpc_init();
  size_t ready = 0;
  for (; ready < srv.nworkers; ready++) {
    hs_worker *w = &srv.workers[ready];
    w->srv = &srv;
    w->server_down.fn = on_server_down;
    if (hs_delay_heap_init(&w->delays, (size_t)o.max_delayed) < 0)
      break;
    w->cq = grpc_completion_queue_create_for_next(NULL);
  }
  if (ready < srv.nworkers) {
    hs_log("out of memory");
    rc = 1;
  } else if (start_server(&srv, &o) < 0) {
    abandon_server(&srv);
    rc = 1;
  }
  if (rc == 0) {
    for (size_t i = 0; i < srv.nworkers; i++) {
      if (pthread_create(&srv.workers[i].thread, NULL, worker_main,
                         &srv.workers[i]) != 0) {
        /* The server is started and the queues registered: without a
         * thread for each queue no orderly stop is possible. */
        hs_log("cannot start thread %zu of %zu", i + 1, srv.nworkers);
        _exit(1);
      }
    }
    int sig = SIGTERM;
    sigwait(&sigs, &sig); /* fails only for a bad set */
    hs_log("%s: stopping (grace %.1fs)", sig == SIGINT ? "SIGINT" : "SIGTERM",
           o.grace_s);
    atomic_store(&srv.phase, HS_DRAINING);
    for (size_t i = 0; i < srv.nworkers; i++)
      grpc_server_shutdown_and_notify(srv.server, srv.workers[i].cq,
                                      &srv.workers[i].server_down);
    if (!wait_workers_down(&srv, &sigs, o.grace_s)) {
      hs_log("cancelling the calls still in flight");
      atomic_store(&srv.phase, HS_CANCELLING);
      grpc_server_cancel_all_calls(srv.server);
      if (!wait_workers_down(&srv, &sigs, HS_CANCEL_WAIT_S)) {
        hs_log(
            "calls did not end %ds after cancelling: exiting without cleanup",
            HS_CANCEL_WAIT_S);
        _exit(1);
      }
    }
    for (size_t i = 0; i < srv.nworkers; i++)
      pthread_join(srv.workers[i].thread, NULL);
    grpc_server_destroy(srv.server);
    print_counts(&srv);
  }
  for (size_t i = 0; i < ready; i++) {
    if (!srv.workers[i].cq_shut) {
      /* Start-up failed: no worker drained this queue; drain it here. */
      grpc_completion_queue_shutdown(srv.workers[i].cq);
      grpc_event ev;
      do
        ev = grpc_completion_queue_next(
            srv.workers[i].cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
      while (ev.type != GRPC_QUEUE_SHUTDOWN);
    }
    grpc_completion_queue_destroy(srv.workers[i].cq);
    hs_delay_heap_free(&srv.workers[i].delays);
  }
  free(srv.workers);
  grpc_shutdown_blocking();
  hs_reflection_free(&refl);
  return rc;
}

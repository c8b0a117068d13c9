/*
 * A line-echo codec plugin ("echo://host:port": send "ping\n", the request
 * ends at the "\n" echoed back) built in deliberately broken variants, so
 * the conformance test can prove rpcload-conformance catches each way of
 * breaking the contract:
 *   ECHO_GOOD          keeps the contract
 *   ECHO_DOUBLE        reports every request twice
 *   ECHO_FORGET        session_del drops in-flight requests unreported
 *   ECHO_IN_SUBMIT     reports from inside session_submit
 *   ECHO_AFTER_REFUSE  refuses every 2nd submit but reports it anyway later
 *   ECHO_BLOCK         sleeps 120 ms in session_on_read (blocks the loop)
 *   ECHO_SPIN          computes for 120 ms of CPU in session_on_read
 *   ECHO_ONE_READ      takes each read for a whole reply: a partial-read
 *                      path that breaks when a reply comes in pieces
 *   ECHO_STEP_REFUSED  step_new refuses every step
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rpcload/plugin.h>

typedef struct session {
  const rl_host *host;
  rl_conn *conn;
  rl_request *req;   /* in flight */
  rl_request *ghost; /* ECHO_AFTER_REFUSE: refused but kept */
  unsigned submits;
} session;

static int step_new(const rl_host *host, const rl_step_spec *spec, void **step,
                    char *err, size_t errlen) {
  (void)host;
  (void)spec;
  (void)err;
  (void)errlen;
#ifdef ECHO_STEP_REFUSED
  snprintf(err, errlen, "no step suits this echo");
  return RL_ERR_INVAL;
#endif
  *step = malloc(1);
  return *step ? 0 : RL_ERR_NOMEM;
}
static void step_del(void *step) { free(step); }
static void step_describe(void *step, const char **type, const char **name) {
  (void)step;
  *type = "echo";
  *name = "ping";
}

static int session_new(const rl_host *host, rl_conn *conn,
                       const rl_conn_info *info, void **out) {
  (void)info;
  session *s = calloc(1, sizeof *s);
  if (!s)
    return RL_ERR_NOMEM;
  s->host = host;
  s->conn = conn;
  *out = s;
  return 0;
}

static void done(session *s, rl_request *req, const char *error) {
  rl_result r = {
      .type = "echo", .name = "ping", .response_bytes = 5, .error = error};
  s->host->request_done(req, &r);
}

static int session_submit(void *sp, rl_request *req) {
  session *s = sp;
  if (s->req)
    return RL_ERR_BUSY;
#ifdef ECHO_AFTER_REFUSE
  if (++s->submits % 2 == 0) {
    s->ghost = req;
    return RL_ERR_BUSY;
  }
#endif
  if (s->host->conn_write(s->conn, "ping\n", 5))
    return RL_ERR_NOMEM;
#ifdef ECHO_IN_SUBMIT
  done(s, req, NULL);
  return 0;
#endif
  s->req = req;
  return 0;
}

static int session_on_read(void *sp, const uint8_t *data, size_t len) {
  session *s = sp;
#ifdef ECHO_BLOCK
  struct timespec ts = {0, 120000000L};
  nanosleep(&ts, NULL);
#endif
#ifdef ECHO_SPIN
  struct timespec t0, t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
  do
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) <
         120000000L);
#endif
#ifdef ECHO_ONE_READ
  {
    /* Broken on purpose: a reply split over reads fails. */
    rl_request *one = s->req;
    s->req = NULL;
    if (!one)
      return RL_ERR_PROTO;
    done(s, one,
         len == 5 && memcmp(data, "ping\n", 5) == 0 ? NULL : "short reply");
    return 0;
  }
#endif
  if (!memchr(data, '\n', len))
    return 0;
  rl_request *req = s->req;
  s->req = NULL;
  if (!req)
    return 0;
  done(s, req, NULL);
#ifdef ECHO_DOUBLE
  done(s, req, NULL);
#endif
#ifdef ECHO_AFTER_REFUSE
  if (s->ghost) {
    rl_request *g = s->ghost;
    s->ghost = NULL;
    done(s, g, NULL);
  }
#endif
  return 0;
}

static void session_del(void *sp, int err, const char *reason) {
  session *s = sp;
  (void)err;
  (void)reason;
#ifndef ECHO_FORGET
  if (s->req)
    done(s, s->req, reason ? reason : "closed");
#endif
  free(s);
}

static const rl_scheme schemes[] = {{"echo", 7, 0}, {NULL, 0, 0}};

static const rl_plugin desc = {
    .abi_version = RL_ABI_VERSION,
    .struct_size = sizeof(rl_plugin),
    .name = "echo",
    .version = "1.0.0",
    .summary = "line echo, for the conformance test",
    .schemes = schemes,
    .kind = RL_PLUGIN_CODEC,
    .step_new = step_new,
    .step_del = step_del,
    .session_new = session_new,
    .session_submit = session_submit,
    .session_on_read = session_on_read,
    .session_del = session_del,
    .step_describe = step_describe,
};

RL_EXPORT const rl_plugin *rl_plugin_entry(void);
RL_EXPORT const rl_plugin *rl_plugin_entry(void) { return &desc; }

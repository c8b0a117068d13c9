/*
 * A line-echo codec plugin ("echo://host:port": send a line, the request
 * ends at the "\n" echoed back) built in deliberately broken variants, so
 * the conformance test can prove rpcload-conformance catches each way of
 * breaking the contract. The line is -d's text, or "ping"; an echoed line
 * that starts with "ERR" is this protocol's error reply (the good plugin
 * fails the request with the line as its error text), so the kit's error
 * run gets real error replies from a plain echo server (--error-data
 * 'ERR ...').
 *   ECHO_GOOD           keeps the contract
 *   ECHO_DOUBLE         reports every request twice
 *   ECHO_FORGET         session_del drops in-flight requests unreported
 *   ECHO_IN_SUBMIT      reports from inside session_submit
 *   ECHO_AFTER_REFUSE   refuses every 2nd submit but reports it anyway later
 *   ECHO_BLOCK          sleeps 120 ms in session_on_read (blocks the loop)
 *   ECHO_SPIN           computes for 120 ms of CPU in session_on_read
 *   ECHO_ONE_READ       takes each read for a whole reply: a partial-read
 *                       path that breaks when a reply comes in pieces
 *   ECHO_STEP_REFUSED   step_new refuses every step
 *   ECHO_TIMEOUT_OK     reports a request its timeout ended as a success
 *   ECHO_TIMEOUT_LOST   never ends a request its timeout ended
 *   ECHO_ERROR_OK       counts an error reply as a success
 *   ECHO_ERROR_CLOSE    closes the connection after every error reply
 *   ECHO_IMPATIENT      fails a reply slower than 15 ms by its own clock
 *                       (a hard-coded deadline shorter than networks are)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rpcload/plugin.h>

/* The longest line a step sends; longer -d text is refused. */
#define ECHO_LINE_MAX 64

typedef struct step {
  char line[ECHO_LINE_MAX + 2]; /* with its "\n" */
  size_t len;                   /* with the "\n" */
  const char *name;             /* the stats name: "ping" or the line */
  char name_buf[ECHO_LINE_MAX + 1];
} step;

typedef struct session {
  const rl_host *host;
  rl_conn *conn;
  rl_request *req;   /* in flight */
  rl_request *ghost; /* ECHO_AFTER_REFUSE: refused but kept */
  unsigned submits;
  uint64_t sent_ns; /* when req was submitted (ECHO_IMPATIENT) */
  /* The reply line so far (its first ECHO_LINE_MAX bytes). */
  char reply[ECHO_LINE_MAX + 1];
  size_t reply_len;
} session;

static int step_new(const rl_host *host, const rl_step_spec *spec, void **out,
                    char *err, size_t errlen) {
  (void)host;
#ifdef ECHO_STEP_REFUSED
  (void)spec;
  (void)out;
  snprintf(err, errlen, "no step suits this echo");
  return RL_ERR_INVAL;
#else
  const char *text = spec->body ? (const char *)spec->body : "ping";
  size_t len = spec->body ? spec->body_len : 4;
  if (len == 0 || len > ECHO_LINE_MAX || memchr(text, '\n', len)) {
    snprintf(err, errlen, "-d must be one line of 1 to %d bytes",
             ECHO_LINE_MAX);
    return RL_ERR_INVAL;
  }
  step *st = calloc(1, sizeof *st);
  if (!st)
    return RL_ERR_NOMEM;
  memcpy(st->line, text, len);
  st->line[len] = '\n';
  st->len = len + 1;
  memcpy(st->name_buf, text, len);
  st->name = spec->body ? st->name_buf : "ping";
  *out = st;
  return 0;
#endif
}
static void step_del(void *st) { free(st); }
static void step_describe(void *sp, const char **type, const char **name) {
  const step *st = sp;
  *type = "echo";
  *name = st->name;
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
  const step *st = s->host->request_step(req);
  rl_result r = {.type = "echo",
                 .name = st->name,
                 .response_bytes = st->len,
                 .error = error};
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
  const step *st = s->host->request_step(req);
  if (s->host->conn_write(s->conn, st->line, st->len))
    return RL_ERR_NOMEM;
#ifdef ECHO_IN_SUBMIT
  done(s, req, NULL);
  return 0;
#endif
  s->req = req;
  s->reply_len = 0;
  s->sent_ns = s->host->now_ns();
  return 0;
}

/* The whole reply line is in: end the request it answers. */
static void reply_ends(session *s) {
  rl_request *req = s->req;
  s->req = NULL;
  if (!req)
    return;
  s->reply[s->reply_len] = 0;
#ifdef ECHO_ERROR_OK
  int is_error = 0; /* broken on purpose: "ERR..." passes as a reply */
#else
  int is_error = strncmp(s->reply, "ERR", 3) == 0;
#endif
#ifdef ECHO_IMPATIENT
  if (s->host->now_ns() - s->sent_ns > 15000000u) {
    done(s, req, "reply too slow");
    return;
  }
#endif
  done(s, req, is_error ? s->reply : NULL);
#ifdef ECHO_ERROR_CLOSE
  if (is_error)
    s->host->conn_close(s->conn);
#endif
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
    const step *st = s->host->request_step(one);
    done(s, one,
         len == st->len && memcmp(data, st->line, len) == 0 ? NULL
                                                            : "short reply");
    return 0;
  }
#endif
  for (size_t i = 0; i < len; i++) {
    if (data[i] == '\n') {
      reply_ends(s);
      s->reply_len = 0;
    } else if (s->reply_len < ECHO_LINE_MAX) {
      s->reply[s->reply_len++] = (char)data[i];
    }
  }
  return 0;
}

static void session_del(void *sp, int err, const char *reason) {
  session *s = sp;
  (void)err;
  (void)reason;
#ifdef ECHO_TIMEOUT_OK
  if (s->req && err == RL_ERR_TIMEOUT) {
    done(s, s->req, NULL);
    s->req = NULL;
  }
#endif
#ifdef ECHO_TIMEOUT_LOST
  if (err == RL_ERR_TIMEOUT)
    s->req = NULL;
#endif
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
    .version = "1.1.0",
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

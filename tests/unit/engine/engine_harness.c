/* The engine tests' shared fakes and loop driver (engine_harness.h). */
#include "engine_harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/conn.h"
#include "engine/cuser.h"
#include "engine/host.h"
#include "engine/plan.h"
#include "engine/rtarget.h"
#include "engine/user.h"

/* ---- the host table ------------------------------------------------------ */

rl_host th_host;
unsigned long th_plugin_dones;
int th_in_request_done;

static void counted_request_done(rl_request *req, const rl_result *result) {
  th_plugin_dones++;
  th_in_request_done++;
  rl__host()->request_done(req, result);
  th_in_request_done--;
}

/* ---- the line codec ------------------------------------------------------ */

th_line_cfg th_line_conf;
th_line_seen th_seen;

#define LINE_MAX_INFLIGHT 64

typedef struct line_session {
  const rl_host *host;
  rl_conn *conn;
  rl_request *inflight[LINE_MAX_INFLIGHT]; /* oldest first */
  size_t n;
  char partial[512]; /* a line not yet ended */
  size_t plen;
  int move_at_end; /* "moveeof": the oldest moves when the connection ends */
  int ready;       /* its preface was answered (th_line_conf.preface) */
} line_session;

static const th_step *step_of(const rl_host *host, const rl_request *req) {
  return host->request_step(req);
}

static int line_step_new(const rl_host *host, const rl_step_spec *spec,
                         void **step, char *err, size_t errlen) {
  (void)host;
  (void)spec;
  snprintf(err, errlen, "the test builds its steps by hand");
  *step = NULL;
  return RL_ERR_UNSUPPORTED;
}

static void step_del(void *step) { (void)step; }

static void step_describe(void *step, const char **type, const char **name) {
  const th_step *s = step;
  *type = s->type;
  *name = s->name;
}

static int line_session_new(const rl_host *host, rl_conn *conn,
                            const rl_conn_info *info, void **out) {
  (void)info;
  if (th_line_conf.fail_session)
    return RL_ERR_PROTO;
  line_session *s = calloc(1, sizeof *s);
  if (!s)
    return RL_ERR_NOMEM;
  s->host = host;
  s->conn = conn;
  s->ready = !th_line_conf.preface;
  th_seen.sessions++;
  if (th_line_conf.preface) {
    /* ABI 1.6: the preface names the step the connection was set up
     * with, as a Redis AUTH/SELECT would use its settings. */
    const th_step *st = host->conn_step(conn);
    char hello[128];
    int n = snprintf(hello, sizeof hello, "hello %s\n",
                     st ? st->label : "(no step)");
    if (host->conn_write(conn, hello, (size_t)n)) {
      free(s);
      return RL_ERR_NOMEM;
    }
  }
  *out = s;
  return 0;
}

static rl_request *take_oldest(line_session *s) {
  if (!s->n)
    return NULL;
  rl_request *req = s->inflight[0];
  memmove(s->inflight, s->inflight + 1, --s->n * sizeof(rl_request *));
  return req;
}

static void line_end(line_session *s, rl_request *req, const char *error) {
  const th_step *st = step_of(s->host, req);
  rl_result r = {.type = st->null_type ? NULL : st->type,
                 .name = st->null_type ? NULL : st->name,
                 .response_bytes = 3,
                 .error = error};
  s->host->request_done(req, &r);
}

static int line_submit(void *sp, rl_request *req) {
  line_session *s = sp;
  if (!s->ready)
    return RL_ERR_PROTO; /* the host must hold requests back until then */
  if (th_line_conf.refuse_reason) {
    s->host->request_refuse(req, th_line_conf.refuse_reason);
    return RL_ERR_INVAL;
  }
  if (th_line_conf.refuse_submit || s->n == LINE_MAX_INFLIGHT)
    return RL_ERR_BUSY;
  const th_step *st = step_of(s->host, req);
  char head[128];
  int n = snprintf(head, sizeof head, "%s %u", st->label, ++th_seen.submits);
  if (th_line_conf.user_ids)
    n += snprintf(head + n, sizeof head - (size_t)n, " u%llu",
                  (unsigned long long)s->host->request_user_id(req));
  if (s->host->conn_write(s->conn, head, (size_t)n))
    return RL_ERR_NOMEM;
  char dots[1024];
  memset(dots, '.', sizeof dots);
  for (size_t left = st->pad; left > 0;) {
    size_t k = left < sizeof dots ? left : sizeof dots;
    if (s->host->conn_write(s->conn, dots, k))
      return RL_ERR_NOMEM;
    left -= k;
  }
  if (s->host->conn_write(s->conn, "\n", 1))
    return RL_ERR_NOMEM;
  s->inflight[s->n++] = req;
  return 0;
}

/* One line back from the peer: its words, in order. */
static int line_act(line_session *s, char *line) {
  char *save = NULL;
  for (char *w = strtok_r(line, " ", &save); w;
       w = strtok_r(NULL, " ", &save)) {
    if (strcmp(w, "ok") == 0) {
      rl_request *req = take_oldest(s);
      if (req)
        line_end(s, req, NULL);
    } else if (strncmp(w, "err:", 4) == 0) {
      rl_request *req = take_oldest(s);
      if (req)
        line_end(s, req, w + 4);
    } else if (strcmp(w, "retry") == 0) {
      rl_request *req = take_oldest(s);
      if (req)
        s->host->request_retry(req, "handed back");
    } else if (strcmp(w, "moveeof") == 0) {
      s->move_at_end = 1;
    } else if (strcmp(w, "close") == 0) {
      s->host->conn_close(s->conn);
    } else if (strcmp(w, "drain") == 0) {
      s->host->conn_drain(s->conn);
    } else if (strcmp(w, "proto") == 0) {
      return RL_ERR_PROTO;
    } else if (strcmp(w, "ready") == 0) {
      s->ready = 1;
    } else if (strncmp(w, "fail:", 5) == 0) {
      s->host->conn_fail(s->conn, w + 5);
      return RL_ERR_PROTO;
    }
  }
  return 0;
}

static int line_on_read(void *sp, const uint8_t *data, size_t len) {
  line_session *s = sp;
  size_t room = sizeof th_seen.read - 1 - th_seen.read_len;
  size_t keep = len < room ? len : room;
  memcpy(th_seen.read + th_seen.read_len, data, keep);
  th_seen.read_len += keep;
  th_seen.read[th_seen.read_len] = '\0';
  th_seen.read_total += len;
  for (size_t i = 0; i < len; i++) {
    if (data[i] != '\n') {
      if (s->plen + 1 < sizeof s->partial)
        s->partial[s->plen++] = (char)data[i];
      continue;
    }
    s->partial[s->plen] = '\0';
    s->plen = 0;
    int rc = line_act(s, s->partial);
    if (rc)
      return rc;
  }
  return 0;
}

static void line_del(void *sp, int err, const char *reason) {
  line_session *s = sp;
  th_seen.sessions_del++;
  th_seen.last_del_err = err;
  snprintf(th_seen.last_del_reason, sizeof th_seen.last_del_reason, "%s",
           reason ? reason : "");
  rl_request *moved = s->move_at_end ? take_oldest(s) : NULL;
  if (moved)
    s->host->request_move(moved, "moved at the end");
  for (rl_request *req; (req = take_oldest(s));)
    line_end(s, req, reason);
  free(s);
}

static uint32_t line_max_concurrent(void *sp) {
  (void)sp;
  return th_line_conf.max_concurrent;
}

int th_line_cancel(void *sp, rl_request *req, const char *reason) {
  line_session *s = sp;
  for (size_t i = 0; i < s->n; i++)
    if (s->inflight[i] == req) {
      memmove(s->inflight + i, s->inflight + i + 1,
              (s->n - i - 1) * sizeof(rl_request *));
      s->n--;
      th_seen.cancels++;
      line_end(s, req, reason);
      return 0;
    }
  return RL_ERR_INVAL;
}

static int line_ready(void *sp) {
  const line_session *s = sp;
  return s->ready;
}

static const rl_scheme line_schemes[] = {{"line", 0, 0}, {NULL, 0, 0}};

static const rl_plugin line_desc = {
    .abi_version = RL_ABI_VERSION,
    .struct_size = sizeof(rl_plugin),
    .name = "line",
    .version = "1",
    .schemes = line_schemes,
    .kind = RL_PLUGIN_CODEC,
    .step_new = line_step_new,
    .step_del = step_del,
    .session_new = line_session_new,
    .session_submit = line_submit,
    .session_on_read = line_on_read,
    .session_del = line_del,
    .session_max_concurrent = line_max_concurrent,
    .step_describe = step_describe,
    .session_ready = line_ready,
};

rl__plugin th_line;

/* ---- the tp transport ---------------------------------------------------- */

th_tp_entry th_tp_log[TH_TP_LOG];
size_t th_tp_n;
unsigned th_tp_last_parts;
int th_tp_holds;

typedef struct tp_state tp_state;
typedef struct tp_pending {
  tp_state *tp;
  rl_request *req;
  const th_step *step;
  rl_timer *timer;
  size_t log_i; /* its entry in th_tp_log (TH_TP_LOG: none) */
  struct tp_pending *next;
} tp_pending;
struct tp_state {
  const rl_host *host;
  rl_loop *loop;
  tp_pending *head;
};

static int tp_new(const rl_host *host, rl_loop *loop, void *step,
                  const rl_transport_info *info, void **out) {
  (void)step;
  (void)info;
  tp_state *t = calloc(1, sizeof *t);
  if (!t)
    return RL_ERR_NOMEM;
  t->host = host;
  t->loop = loop;
  *out = t;
  return 0;
}

static void tp_unlink(tp_pending *p) {
  for (tp_pending **pp = &p->tp->head; *pp; pp = &(*pp)->next)
    if (*pp == p) {
      *pp = p->next;
      return;
    }
}

/* Ends a request the transport no longer lists (`p` is freed). */
static void tp_end(tp_pending *p, const char *error) {
  const rl_host *h = p->tp->host;
  const th_step *st = p->step;
  rl_request *req = p->req;
  size_t log_i = p->log_i;
  free(p);
  if (log_i < TH_TP_LOG)
    th_tp_log[log_i].end_ns = rl__now_ns();
  /* ABI 1.10: each event is a message its owner may take as it comes. */
  int each = h->request_wants_messages(req);
  for (int i = 0; i < st->events; i++) {
    rl_result ev = {.type = st->type, .name = st->event_name};
    h->request_event(req, &ev, i == 0 ? 0 : h->now_ns());
    if (each) {
      char json[32];
      int n = snprintf(json, sizeof json, "{\"i\":%d}", i + 1);
      th_tp_holds += h->request_message(req, json, (size_t)n) == 1;
    }
  }
  /* ABI 1.8: the parts the host reads, kept for the tests; a response is
   * handed over when any is asked for, whole (the fake carries no header
   * fields). */
  th_tp_last_parts = h->request_response_parts(req);
  if (!error && th_tp_last_parts && (st->status || st->body)) {
    rl_response resp = {.struct_size = sizeof resp,
                        .status = st->status,
                        .body = (const uint8_t *)st->body,
                        .body_len = st->body ? strlen(st->body) : 0};
    h->request_response(req, &resp);
  }
  rl_result r = {.type = st->null_type ? NULL : st->type,
                 .name = st->null_type ? NULL : st->name,
                 .response_bytes = st->body ? strlen(st->body) : 0,
                 .error = error};
  h->request_done(req, &r);
}

static void tp_fire(rl_timer *t, void *arg) {
  (void)t;
  tp_pending *p = arg;
  tp_unlink(p);
  tp_end(p, p->step->error);
}

static int tp_submit(void *tp, rl_request *req) {
  tp_state *t = tp;
  tp_pending *p = calloc(1, sizeof *p);
  if (!p)
    return RL_ERR_NOMEM;
  p->tp = t;
  p->req = req;
  p->step = t->host->request_step(req);
  p->log_i = TH_TP_LOG;
  if (th_tp_n < TH_TP_LOG) {
    p->log_i = th_tp_n;
    th_tp_log[th_tp_n++] =
        (th_tp_entry){.label = p->step->label,
                      .user_id = t->host->request_user_id(req),
                      .at_ns = rl__now_ns(),
                      .start_ns = req->start_ns};
  }
  p->next = t->head;
  t->head = p;
  if (!p->step->hold) {
    p->timer = t->host->timer_start(t->loop, p->step->latency_ns, tp_fire, p);
    if (!p->timer) {
      tp_unlink(p);
      free(p);
      return RL_ERR_NOMEM;
    }
  }
  return 0;
}

static void tp_del(void *tp, int err, const char *reason) {
  (void)err;
  tp_state *t = tp;
  while (t->head) {
    tp_pending *p = t->head;
    t->head = p->next;
    if (p->timer)
      t->host->timer_stop(p->timer);
    tp_end(p, reason);
  }
  free(t);
}

static const rl_scheme tp_schemes[] = {{"tp", 1, 0}, {NULL, 0, 0}};

static const rl_plugin tp_desc = {
    .abi_version = RL_ABI_VERSION,
    .struct_size = sizeof(rl_plugin),
    .name = "tp",
    .version = "1",
    .schemes = tp_schemes,
    .kind = RL_PLUGIN_TRANSPORT,
    .step_new = line_step_new,
    .step_del = step_del,
    .step_describe = step_describe,
    .transport_new = tp_new,
    .transport_submit = tp_submit,
    .transport_del = tp_del,
};

rl__plugin th_tp;

const char *th_tp_labels(void) {
  static char buf[8192];
  size_t off = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < th_tp_n && off + 1 < sizeof buf; i++)
    off += (size_t)snprintf(buf + off, sizeof buf - off, "%s%s", i ? " " : "",
                            th_tp_log[i].label);
  return buf;
}

void th_reset(void) {
  th_host = *rl__host();
  th_host.request_done = counted_request_done;
  th_plugin_dones = 0;
  th_in_request_done = 0;
  memset(&th_line_conf, 0, sizeof th_line_conf);
  th_line_conf.max_concurrent = 1;
  memset(&th_seen, 0, sizeof th_seen);
  th_tp_n = 0;
  th_tp_last_parts = 0;
  th_tp_holds = 0;
  memset(&th_line, 0, sizeof th_line);
  th_line.desc = line_desc;
  th_line.inited = 1;
  th_line.host = &th_host;
  memset(&th_tp, 0, sizeof th_tp);
  th_tp.desc = tp_desc;
  th_tp.inited = 1;
  th_tp.host = &th_host;
}

/* ---- targets ---------------------------------------------------------------- */

rl__target *th_target_new(rl__plugin *p, th_step *step, uint16_t port) {
  rl__target *t = calloc(1, sizeof *t);
  assert_non_null(t);
  t->v[0].plugin = p;
  t->v[0].step = step;
  p->desc.step_describe(step, &t->v[0].type, &t->v[0].name);
  t->nv = 1;
  t->plugin = p;
  t->step = step;
  t->type = t->v[0].type;
  t->name = t->v[0].name;
  t->host = strdup("127.0.0.1");
  assert_non_null(t->host);
  t->port = port;
  struct sockaddr_in *in = (struct sockaddr_in *)&t->addr;
  in->sin_family = AF_INET;
  in->sin_port = htons(port);
  in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  t->addrlen = sizeof *in;
  return t;
}

void th_target_free(rl__target *t) {
  if (t) {
    if (t->ssl_ctx)
      SSL_CTX_free(t->ssl_ctx);
    free(t->host);
    free(t);
  }
}

/* ---- the loop ------------------------------------------------------------------ */

typedef struct th_owner {
  ev_prepare prepare;
  ev_timer tick; /* so that EVRUN_ONCE never blocks for long */
} th_owner;

void th_run_ready(rl_loop *lp) {
  rl__user *u = lp->ready_head;
  lp->ready_head = lp->ready_tail = NULL;
  while (u) {
    rl__user *next = u->next_ready;
    u->queued = 0;
    u->next_ready = NULL;
    rl__user_resume(u);
    u = next;
  }
  rl__conn_flush_scheduled(lp);
}

static void prepare_cb(struct ev_loop *ev, ev_prepare *p, int revents) {
  (void)ev;
  (void)revents;
  th_run_ready(p->data);
}

static void tick_cb(struct ev_loop *ev, ev_timer *t, int revents) {
  (void)ev;
  (void)t;
  (void)revents;
}

void th_loop_init(rl_loop *lp, const struct rl__plan *plan) {
  memset(lp, 0, sizeof *lp);
  lp->ev = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
  assert_non_null(lp->ev);
  lp->host = &th_host;
  lp->plan = plan;
  lp->seed = 1;
  lp->stats = rl__stats_new();
  assert_non_null(lp->stats);
  lp->start_ns = rl__now_ns();
  lp->rbuf_size = (size_t)64 * 1024;
  lp->rbuf = malloc(lp->rbuf_size);
  assert_non_null(lp->rbuf);
  lp->after_event = th_run_ready;
  th_owner *o = calloc(1, sizeof *o);
  assert_non_null(o);
  lp->owner = o;
  ev_prepare_init(&o->prepare, prepare_cb);
  o->prepare.data = lp;
  ev_prepare_start(lp->ev, &o->prepare);
  ev_timer_init(&o->tick, tick_cb, 0.002, 0.002);
  ev_timer_start(lp->ev, &o->tick);
}

void th_loop_add_transport(rl_loop *lp, const rl__target *t) {
  rl__loop_transport *a =
      realloc(lp->transports, (lp->ntransports + 1) * sizeof *a);
  assert_non_null(a);
  lp->transports = a;
  rl__loop_transport *lt = &a[lp->ntransports++];
  lt->target = t;
  lt->error = NULL;
  rl_transport_info info = {.struct_size = sizeof info};
  assert_int_equal(
      t->plugin->desc.transport_new(lp->host, lp, t->step, &info, &lt->state),
      0);
}

void th_loop_end_transports(rl_loop *lp) {
  for (size_t i = 0; i < lp->ntransports; i++) {
    void *state = lp->transports[i].state;
    lp->transports[i].state = NULL;
    if (state)
      lp->transports[i].target->plugin->desc.transport_del(
          state, RL_ERR_CANCELLED, "stopped");
  }
}

void th_loop_free(rl_loop *lp) {
  rl__rt_thread_del(lp); /* as a worker's end does */
  th_loop_end_transports(lp);
  free(lp->transports);
  th_owner *o = lp->owner;
  ev_prepare_stop(lp->ev, &o->prepare);
  ev_timer_stop(lp->ev, &o->tick);
  free(o);
  ev_loop_destroy(lp->ev);
  rl__stats_del(lp->stats);
  free(lp->rbuf);
  rl__buf_free(&lp->scratch);
  memset(lp, 0, sizeof *lp);
}

void th_run_for(rl_loop *lp, uint64_t ns) {
  uint64_t end = rl__now_ns() + ns;
  while (rl__now_ns() < end)
    ev_run(lp->ev, EVRUN_ONCE);
}

/* ---- the peer -------------------------------------------------------------- */

int th_listen(uint16_t *port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(fd, 16), 0);
  socklen_t len = sizeof a;
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  *port = ntohs(a.sin_port);
  return fd;
}

uint16_t th_closed_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t len = sizeof a;
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  close(fd);
  return ntohs(a.sin_port);
}

int th_pending(int lfd) {
  struct pollfd p = {.fd = lfd, .events = POLLIN};
  return poll(&p, 1, 0) == 1;
}

/* A connection from the listener, non-blocking; -1 when none waits. */
static int accept_one(int lfd) {
  int fd = accept(lfd, NULL, NULL);
  if (fd >= 0)
    assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
  return fd;
}

int th_accept(rl_loop *lp, int lfd) {
  int fd;
  TH_RUN_UNTIL(lp, (fd = accept_one(lfd)) >= 0);
  return fd;
}

size_t th_read(int fd, th_in *in) {
  for (;;) {
    size_t room = sizeof in->data - 1 - in->len;
    if (!room)
      break;
    ssize_t n = recv(fd, in->data + in->len, room, MSG_DONTWAIT);
    if (n > 0) {
      in->len += (size_t)n;
      continue;
    }
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
      in->eof = 1;
    break;
  }
  in->data[in->len] = '\0';
  return in->len;
}

void th_expect(rl_loop *lp, int fd, th_in *in, const char *want) {
  TH_RUN_UNTIL(lp, (th_read(fd, in), strstr(in->data, want) != NULL));
}

void th_expect_eof(rl_loop *lp, int fd, th_in *in) {
  TH_RUN_UNTIL(lp, (th_read(fd, in), in->eof));
}

void th_send(int fd, const char *text) {
  size_t len = strlen(text);
  while (len) {
    ssize_t n = send(fd, text, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    assert_true(n > 0);
    text += n;
    len -= (size_t)n;
  }
}

/* Sends what the socket takes now; 1 when all is sent. */
static int send_some(int fd, const char **p, size_t *len) {
  ssize_t n = send(fd, *p, *len, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
    fail_msg("send: %s", strerror(errno));
  if (n > 0) {
    *p += n;
    *len -= (size_t)n;
  }
  return *len == 0;
}

void th_send_big(rl_loop *lp, int fd, const void *data, size_t len) {
  const char *p = data;
  TH_RUN_UNTIL(lp, send_some(fd, &p, &len));
}

/* ---- plans ------------------------------------------------------------------ */

rl__plan *th_plan_one(const char *name, rl__wait wait, rl__plan_class **cls) {
  rl__plan *p = calloc(1, sizeof *p);
  assert_non_null(p);
  p->classes = calloc(1, sizeof *p->classes);
  assert_non_null(p->classes);
  p->n_classes = 1;
  rl__plan_class *k = p->classes;
  k->name = name;
  k->weight = 1;
  k->wait = wait;
  k->tasks = calloc(1, sizeof *k->tasks);
  k->cum_weight = calloc(1, sizeof *k->cum_weight);
  assert_non_null(k->tasks);
  assert_non_null(k->cum_weight);
  k->n_tasks = 1;
  k->tasks[0].weight = 1;
  k->cum_weight[0] = 1;
  k->total_weight = 1;
  *cls = k;
  return p;
}

void th_plan_cclass(rl__plan *p, rl__plan_class *k, rl_task_fn fn,
                    rl__target *const *t, size_t n) {
  k->checks = 1; /* its callbacks see every response */
  k->tasks[0].fn = fn;
  k->c = calloc(1, sizeof *k->c);
  assert_non_null(k->c);
  k->c->driver = &rl__cuser_driver;
  k->c->requests = calloc(n ? n : 1, sizeof *k->c->requests);
  assert_non_null(k->c->requests);
  k->c->n_requests = n;
  for (size_t i = 0; i < n; i++) {
    k->c->requests[i].target = t[i];
    assert_int_equal(rl__plan_endpoint(p, t[i], &k->c->requests[i].endpoint),
                     0);
  }
}

/*
 * Users of a class written in C: the driver of their phases and the
 * rl_user_* functions their callbacks call (engine/cuser.h says how they
 * fit; include/rpcload/user.h is the contract).
 *
 * May call: engine/user.h (starting, counting and waking), plan, response,
 * base/. The user's state machine (waits, the next task, stops) stays
 * user.c's, which calls in here only through rl__cuser_driver.
 */
#include "engine/cuser.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include <rpcload/plugin.h>
#include <rpcload/user.h>

#include "base/buf.h"
#include "base/clock.h"
#include "engine/conn.h"
#include "engine/plan.h"
#include "engine/response.h"
#include "engine/rtarget.h"
#include "events/events.h"

typedef void (*cuser_message_fn)(rl_user *u, const char *json, size_t len,
                                 void *arg);

/* A message of a send, waiting for its user's turn. */
typedef struct cmsg {
  struct cmsg *next;
  size_t len;
  char json[]; /* NUL-terminated */
} cmsg;

/* Messages a send keeps for its class between two turns of its user
 * before the plugin is told to pause the call (a busy loop turn). */
#define CUSER_MESSAGES_AHEAD 64

/* One request a user sent: in flight, ended with its done to call, or
 * free for the next. */
typedef struct csend {
  rl_request req; /* first: its end is handed the request */
  struct rl_user *cu;
  rl_done_fn done;
  void *arg;
  rl__response resp;  /* its response, for the result and its checks */
  rl__buf text;       /* the result's type, name and error, NUL-separated */
  rl_send_result res; /* what done is handed */
  rl__buf name;       /* rl_send_opts.name, NUL-terminated; empty: none */
  rl__buf ev_name;    /* a stream message's row under that name */
  /* rl_send_opts.decide: counted once done returns (rl_user_decide), with
   * the end time and the outcome kept here till then. */
  uint8_t decide, decided;
  uint8_t no_event; /* rl_send_opts.no_event: never recorded */
  uint64_t end_ns;
  rl__buf verdict; /* rl_user_decide's error text, NUL-terminated */
  /* rl_send_opts.headers (API 1.2), copied: the strings NUL-separated in
   * hstr, the fields (pointing into it) in hkv; req.headers points at hkv
   * while the send has any. */
  rl__buf hstr;
  rl_kv *hkv;
  size_t hcap;
  struct csend *next; /* the free list, or the queue of ended ones */
  struct csend *all;  /* every send of the user, to free */
  /* rl_send_opts.on_message (API 1.6): the messages come in by
   * host->request_message, wait here in order until the user's turn
   * hands them over; a send with some waiting is in cu->msg_sends. */
  cuser_message_fn on_message;
  struct cmsg *msg_head, *msg_tail;
  struct csend *msg_next;
  uint8_t in_msgs; /* in cu->msg_sends */
  uint8_t hold;    /* the class has enough (rl_user_hold_messages) */
  uint8_t held;    /* the plugin was told to pause: read_more undoes it */
  uint8_t ended;   /* its request ended: no longer in flight */
  /* rl_send_opts.host (API 1.7): waiting for its run-time target to be
   * built (engine/rtarget.h), to start from `start_ns` as request
   * number `request` (named after it if the target fails). */
  rl__rt_wait wait;
  uint8_t waiting;
  size_t request;
  uint64_t start_ns;
} csend;

/* A variable no request names (rl_user_set_var): the class's own. */
typedef struct cvar {
  char *name, *value;
  struct cvar *next;
} cvar;

struct rl_user {
  rl__user *u;
  void *data;
  csend *free_sends, *all;
  csend *ended_head, *ended_tail; /* ended, their done still to call */
  uint32_t inflight;
  /* rl_user_task_done was called in the current phase (also between
   * phases: no phase runs, nothing may be sent). */
  uint8_t phase_done;
  /* In the phase function's first call: what it sends counts from the
   * task's start. */
  uint8_t opening;
  uint8_t stopped; /* no callback of the class runs again */
  cvar *extra;
  /* The send whose done is being called (rl_user_decide checks it). */
  csend *in_done;
  /* Sends with messages waiting for the class (API 1.6). */
  csend *msg_sends;
  /* rl_user_sleep: its timer, and what to call when it fired. */
  ev_timer sleep;
  rl_woke_fn woke;
  void *woke_arg;
  uint8_t sleeping, woke_due;
};

/* ---- sends ---------------------------------------------------------------- */

static void send_ended(rl_request *req, const rl_result *res);
static void send_event(rl_request *req, const rl_result *res, uint64_t time_ns);

static csend *send_take(struct rl_user *cu) {
  csend *s = cu->free_sends;
  if (s) {
    cu->free_sends = s->next;
    s->next = NULL;
    return s;
  }
  if (!(s = calloc(1, sizeof *s)))
    return NULL;
  s->cu = cu;
  s->req.user = cu->u;
  s->req.end = send_ended;
  /* A stream's messages are recorded as any step's (engine/user.c),
   * under the send's own name when it has one. */
  s->req.event = send_event;
  rl__buf_init(&s->text);
  rl__buf_init(&s->name);
  rl__buf_init(&s->ev_name);
  rl__buf_init(&s->verdict);
  rl__buf_init(&s->hstr);
  s->all = cu->all;
  cu->all = s;
  return s;
}

/* An event of a send still going on (a gRPC stream's message): with the
 * send's own stats name (rl_send_opts.name), a row the plugin named
 * after its step ("/pkg.Svc/Chat [recv]": the step's name, a blank, the
 * rest) is named after the send's instead ("chat [recv]"), as a
 * scenario step's `name:` names its plugin's rows. */
static void send_event(rl_request *req, const rl_result *res,
                       uint64_t time_ns) {
  csend *s = (csend *)req;
  const char *base = req->target ? req->target->name : NULL;
  size_t blen = base ? strlen(base) : 0;
  rl_result named;
  if (s->name.len && res && res->name && base &&
      strncmp(res->name, base, blen) == 0 && res->name[blen] == ' ') {
    const char *rest = res->name + blen;
    rl__buf_reset(&s->ev_name);
    rl__buf_add(&s->ev_name, s->name.p, strlen(s->name.p));
    rl__buf_add(&s->ev_name, rest, strlen(rest) + 1);
    if (!s->ev_name.oom) { /* else the step's name: still counted */
      named = *res;
      named.name = s->ev_name.p;
      res = &named;
    }
  }
  s->cu->u->req.event(req, res, time_ns);
}

/* Drops what messages s still keeps (its user stopped, or it is put). */
static void msgs_drop(struct rl_user *cu, csend *s) {
  for (cmsg *m = s->msg_head, *next; m; m = next) {
    next = m->next;
    free(m);
  }
  s->msg_head = s->msg_tail = NULL;
  if (s->in_msgs) {
    for (csend **p = &cu->msg_sends; *p; p = &(*p)->msg_next)
      if (*p == s) {
        *p = s->msg_next;
        break;
      }
    s->in_msgs = 0;
  }
  s->msg_next = NULL;
}

/* ABI 1.10 request_message: a message of a send that goes on, copied
 * for the user's next turn. 1 (pause the call) when the class asked to
 * hold, or when a busy loop left many waiting. */
static int send_message(rl_request *req, const char *json, size_t len) {
  csend *s = (csend *)req;
  struct rl_user *cu = s->cu;
  if (!s->on_message || cu->stopped)
    return 0;
  cmsg *m = malloc(sizeof *m + len + 1);
  if (!m)
    return 1; /* out of memory: this one is lost, and the call pauses */
  m->next = NULL;
  m->len = len;
  memcpy(m->json, json, len);
  m->json[len] = '\0';
  size_t waiting = 1;
  for (cmsg *w = s->msg_head; w; w = w->next)
    waiting++;
  if (s->msg_tail)
    s->msg_tail->next = m;
  else
    s->msg_head = m;
  s->msg_tail = m;
  if (!s->in_msgs) {
    s->in_msgs = 1;
    s->msg_next = cu->msg_sends;
    cu->msg_sends = s;
  }
  rl__user_wake(cu->u);
  if (s->hold || waiting >= CUSER_MESSAGES_AHEAD) {
    s->held = 1;
    return 1;
  }
  return 0;
}

static void send_put(struct rl_user *cu, csend *s) {
  msgs_drop(cu, s);
  s->on_message = NULL;
  s->req.message = NULL;
  s->hold = s->held = s->ended = 0;
  s->done = NULL;
  s->arg = NULL;
  s->decide = s->decided = 0;
  rl__buf_reset(&s->name);
  rl__buf_reset(&s->hstr);
  s->req.headers = NULL;
  s->req.n_headers = 0;
  s->next = cu->free_sends;
  cu->free_sends = s;
}

/* The result done is handed: the strings copied into the send, since
 * the plugin's and the checks' are gone once the request's end returns. */
static void fill_result(csend *s, const rl_result *res,
                        const rl__user_outcome *o) {
  const rl__target *t = s->req.target;
  const char *type = res && res->type ? res->type : t->type;
  const char *name = res && res->name ? res->name : t->name;
  rl__buf *b = &s->text;
  rl__buf_reset(b);
  rl__buf_add(b, type ? type : "", type ? strlen(type) + 1 : 1);
  size_t name_at = b->len;
  rl__buf_add(b, name ? name : "", name ? strlen(name) + 1 : 1);
  size_t error_at = b->len;
  if (o->error)
    rl__buf_add(b, o->error, strlen(o->error) + 1);
  const rl__response *r = s->resp.have ? &s->resp : NULL;
  s->res = (rl_send_result){.struct_size = sizeof s->res,
                            .status = r ? r->status : -1,
                            .response_time_ns = o->rt_ns,
                            .response_length = res ? res->response_bytes : 0,
                            .body = r && r->has_json ? r->json
                                    : r && r->body   ? r->body
                                                     : "",
                            .body_len = r && r->has_json ? strlen(r->json)
                                        : r && r->body   ? r->body_len
                                                         : 0};
  if (b->oom) {
    s->res.type = s->res.name = "";
    s->res.error = o->error ? "out of memory" : NULL;
    return;
  }
  s->res.type = b->p;
  s->res.name = b->p + name_at;
  s->res.error = o->error ? b->p + error_at : NULL;
}

/* A send's request ended (req->end, inside the plugin's callback or the
 * core's): counted as any step's request, then its done queued for the
 * user's next turn. Cut at a stop, or its user stopped: no done. */
static void send_ended(rl_request *req, const rl_result *res) {
  csend *s = (csend *)req;
  struct rl_user *cu = s->cu;
  char why[256];
  rl__user_outcome o;
  cu->inflight--;
  s->ended = 1;
  /* The send's own stats name (rl_send_opts.name). */
  rl_result named;
  if (s->name.len) {
    named = res ? *res : (rl_result){.type = req->target->type, .error = NULL};
    named.name = s->name.p;
    res = &named;
  }
  if (s->no_event) {
    /* Not a request event: only done hears of it; cut at a stop, it is
     * dropped (counted nowhere, as its end would have been). */
    uint64_t end = rl__now_ns();
    o = (rl__user_outcome){
        .cut = cu->u->loop->cutting || cu->u->state == RL__USER_STOPPED,
        .error = res ? res->error : NULL,
        .rt_ns = end > req->start_ns ? end - req->start_ns : 0};
    s->decide = 0;
  } else if (s->decide && !cu->stopped && !cu->u->loop->cutting) {
    /* Counted once its done has decided: the outcome so far is the
     * protocol's, the response time the one it will count with. */
    s->end_ns = rl__now_ns();
    o = (rl__user_outcome){
        .error = res ? res->error : NULL,
        .rt_ns = s->end_ns > req->start_ns ? s->end_ns - req->start_ns : 0};
  } else {
    s->decide = 0;
    rl__user_record(cu->u, req, res, why, sizeof why, &o);
  }
  if (o.cut || cu->stopped) {
    send_put(cu, s);
    return;
  }
  fill_result(s, res, &o);
  s->next = NULL;
  if (cu->ended_tail)
    cu->ended_tail->next = s;
  else
    cu->ended_head = s;
  cu->ended_tail = s;
  rl__user_wake(cu->u);
}

/* ---- the driver ----------------------------------------------------------- */

static int cuser_init(rl__user *u) {
  struct rl_user *cu = calloc(1, sizeof *cu);
  if (!cu)
    return RL_ERR_NOMEM;
  cu->u = u;
  cu->phase_done = 1; /* nothing runs until its first phase */
  u->c = cu;
  return 0;
}

/* The function of the user's current phase. */
static rl_task_fn phase_fn(const rl__user *u) {
  const rl__plan_class *k = u->cls;
  switch (u->phase) {
  case RL__PHASE_START:
    return k->c->on_start;
  case RL__PHASE_STOP:
    return k->c->on_stop;
  default:
    return k->tasks[u->task].fn;
  }
}

/* The phase is over once the class said so and none of its requests is in
 * flight or waiting for its done: the user moves on (user.c), which may
 * begin its next phase at once; nothing of cu is touched after. */
static void settle(rl__user *u) {
  struct rl_user *cu = u->c;
  if (cu->stopped || !cu->phase_done || cu->inflight || cu->ended_head ||
      cu->sleeping || cu->woke_due)
    return;
  rl__user_phase_over(u);
}

static void cuser_begin(rl__user *u) {
  struct rl_user *cu = u->c;
  rl_task_fn fn = phase_fn(u);
  u->state = RL__USER_RUNNING;
  cu->phase_done = 0;
  if (fn) {
    cu->opening = 1;
    fn(cu, u->cls->c->arg);
    cu->opening = 0;
  } else {
    cu->phase_done = 1; /* never entered: user.c asks has_on_start */
  }
  settle(u);
}

/* A deciding send, its done returned (or its user stopped): counted now,
 * with the outcome the class decided (else the protocol's), from the
 * copies fill_result made. */
static void count_decided(struct rl_user *cu, csend *s) {
  if (!s->decide)
    return;
  rl_result r = {.type = s->res.type,
                 .name = s->res.name,
                 .response_bytes = s->res.response_length,
                 .error = s->decided ? (s->verdict.len ? s->verdict.p : NULL)
                                     : s->res.error};
  char why[256];
  rl__user_outcome o;
  rl__user_record_at(cu->u, &s->req, &r, s->end_ns, why, sizeof why, &o);
  s->decide = 0;
}

/* Hands the messages that came to their sends' classes, in order; the
 * plugin of a send it had paused for its own queue's sake reads on. */
static void deliver_messages(struct rl_user *cu) {
  while (cu->msg_sends && !cu->stopped) {
    csend *s = cu->msg_sends;
    cu->msg_sends = s->msg_next;
    s->msg_next = NULL;
    s->in_msgs = 0;
    cmsg *m = s->msg_head;
    s->msg_head = s->msg_tail = NULL;
    while (m) {
      cmsg *next = m->next;
      if (!cu->stopped && s->on_message)
        s->on_message(cu, m->json, m->len, s->arg);
      free(m);
      m = next;
    }
    if (s->held && !s->hold && s->done) {
      s->held = 0;
      rl__conn_read_more(&s->req);
    }
  }
}

static void cuser_resume(rl__user *u) {
  struct rl_user *cu = u->c;
  deliver_messages(cu);
  /* The ones ended by now; a send from a done that ends at once is
   * queued for the next turn (no loop of sends that fail at once). */
  csend *s = cu->ended_head;
  cu->ended_head = cu->ended_tail = NULL;
  while (s) {
    csend *next = s->next;
    if (!cu->stopped) {
      cu->in_done = s;
      s->done(cu, &s->res, s->arg);
      cu->in_done = NULL;
    }
    count_decided(cu, s);
    send_put(cu, s);
    s = next;
  }
  if (cu->woke_due && !cu->stopped) {
    cu->woke_due = 0;
    cu->woke(cu, cu->woke_arg);
  }
  settle(u);
}

static void cuser_stop(rl__user *u) {
  struct rl_user *cu = u->c;
  if (cu->stopped)
    return;
  cu->stopped = 1;
  cu->phase_done = 1;
  while (cu->msg_sends)
    msgs_drop(cu, cu->msg_sends);
  ev_timer_stop(u->loop->ev, &cu->sleep);
  cu->sleeping = cu->woke_due = 0;
  while (cu->ended_head) {
    csend *s = cu->ended_head;
    cu->ended_head = s->next;
    count_decided(cu, s); /* the user has stopped: counted as cut */
    send_put(cu, s);
  }
  cu->ended_tail = NULL;
  /* Sends waiting for a run-time target: never started, so dropped as a
   * cut request would be (counted nowhere). */
  for (csend *s = cu->all; s; s = s->all)
    if (s->waiting) {
      rl__rt_wait_cancel(u->loop, &s->wait);
      s->waiting = 0;
      cu->inflight--;
      send_put(cu, s);
    }
  const rl__plan_cclass *c = u->cls->c;
  if (cu->data && c->free_data)
    c->free_data(cu->data, c->arg);
  cu->data = NULL;
}

static void cuser_del(rl__user *u) {
  struct rl_user *cu = u->c;
  if (!cu)
    return;
  for (csend *s = cu->all, *next; s; s = next) {
    next = s->all;
    msgs_drop(cu, s);
    rl__response_free(&s->resp);
    rl__buf_free(&s->text);
    rl__buf_free(&s->name);
    rl__buf_free(&s->ev_name);
    rl__buf_free(&s->verdict);
    rl__buf_free(&s->hstr);
    free(s->hkv);
    free(s);
  }
  for (cvar *v = cu->extra, *next; v; v = next) {
    next = v->next;
    free(v->name);
    free(v->value);
    free(v);
  }
  free(cu);
  u->c = NULL;
}

const rl__user_driver rl__cuser_driver = {
    .init = cuser_init,
    .begin = cuser_begin,
    .resume = cuser_resume,
    .stop = cuser_stop,
    .del = cuser_del,
};

/* ---- what a class's callbacks call ------------------------------------------ */

/* A send to a run-time target that has settled: started on it, or failed
 * with the reason the target could not be built (named as its request's
 * row: the declared step's target). */
static void start_rt(struct rl_user *cu, csend *s, const rl__rtarget *rt) {
  rl__user *u = cu->u;
  if (atomic_load_explicit(&rt->state, memory_order_acquire) == RL__RT_READY)
    rl__user_start_request_rt(u, &s->req, &rt->step, rt->conn, s->start_ns,
                              &s->resp);
  else
    rl__user_fail_request(u, &s->req, &u->cls->c->requests[s->request],
                          s->start_ns, &s->resp, rt->error);
}

/* The helper built (or failed) the target a send waited for. */
static void rt_ready(rl__rt_wait *w) {
  csend *s = (csend *)(void *)((char *)w - offsetof(csend, wait));
  s->waiting = 0;
  start_rt(s->cu, s, w->entry);
}

int rl_user_send(rl_user *cu, size_t request, rl_done_fn done, void *arg) {
  return rl_user_send_opts(cu, request, NULL, done, arg);
}

/* Whether the user may start something in its phase now (a send, a
 * sleep): 0 or why not, as rl_user_send says. */
static int may_act(const struct rl_user *cu) {
  const rl__user *u = cu->u;
  if (cu->stopped)
    return RL_ERR_CANCELLED;
  if (cu->phase_done)
    return RL_ERR_CLOSED;
  /* As a scenario's task with on_stop to run ends at its next step. */
  if (u->phase == RL__PHASE_TASK && (u->loop->stopping || u->retiring) &&
      u->cls->c->on_stop)
    return RL_ERR_CANCELLED;
  return 0;
}

/* Copies n header fields into s (its request's, ABI 1.7): the strings
 * first, then the fields pointed into them, since the buffer may move
 * while it grows. 0 or RL_ERR_NOMEM. */
static int send_headers(csend *s, const rl_kv *h, size_t n) {
  if (n > s->hcap) {
    rl_kv *kv = realloc(s->hkv, n * sizeof *kv);
    if (!kv)
      return RL_ERR_NOMEM;
    s->hkv = kv;
    s->hcap = n;
  }
  for (size_t i = 0; i < n; i++) {
    rl__buf_add(&s->hstr, h[i].key, strlen(h[i].key) + 1);
    rl__buf_add(&s->hstr, h[i].value, strlen(h[i].value) + 1);
  }
  if (s->hstr.oom)
    return RL_ERR_NOMEM;
  const char *p = s->hstr.p;
  for (size_t i = 0; i < n; i++) {
    s->hkv[i].key = p;
    p += strlen(p) + 1;
    s->hkv[i].value = p;
    p += strlen(p) + 1;
  }
  s->req.headers = s->hkv;
  s->req.n_headers = n;
  return 0;
}

/* The headers of opts (API 1.2: only when struct_size covers them), *n
 * their count; RL_ERR_INVAL for a NULL or empty key or a NULL value. */
static int opts_headers(const rl_send_opts *opts, const rl_kv **h, size_t *n) {
  *h = NULL;
  *n = 0;
  if (!opts || opts->struct_size <
                   offsetof(rl_send_opts, n_headers) + sizeof opts->n_headers)
    return 0;
  if (opts->n_headers == 0)
    return 0;
  if (!opts->headers)
    return RL_ERR_INVAL;
  for (size_t i = 0; i < opts->n_headers; i++)
    if (!opts->headers[i].key || !*opts->headers[i].key ||
        !opts->headers[i].value)
      return RL_ERR_INVAL;
  *h = opts->headers;
  *n = opts->n_headers;
  return 0;
}

int rl_user_send_opts(rl_user *cu, size_t request, const rl_send_opts *opts,
                      rl_done_fn done, void *arg) {
  if (!cu || !done)
    return RL_ERR_INVAL;
  if (opts &&
      opts->struct_size < offsetof(rl_send_opts, name) + sizeof opts->name)
    return RL_ERR_INVAL;
  const char *name = opts ? opts->name : NULL;
  int decide = opts && opts->struct_size >=
                           offsetof(rl_send_opts, decide) + sizeof opts->decide
                   ? opts->decide
                   : 0;
  const rl_kv *headers;
  size_t n_headers;
  if (opts_headers(opts, &headers, &n_headers))
    return RL_ERR_INVAL;
  uint64_t timeout_ns =
      opts && opts->struct_size >=
                  offsetof(rl_send_opts, timeout_ns) + sizeof opts->timeout_ns
          ? opts->timeout_ns
          : 0;
  const char *host = opts && opts->struct_size >= offsetof(rl_send_opts, host) +
                                                      sizeof opts->host
                         ? opts->host
                         : NULL;
  if (host && !*host)
    return RL_ERR_INVAL;
  rl__user *u = cu->u;
  const rl__plan_cclass *c = u->cls->c;
  if (request >= c->n_requests || (!host && c->requests[request].runtime_only))
    return RL_ERR_INVAL;
  int rc = may_act(cu);
  if (rc)
    return rc;
  if (cu->inflight >= RL_USER_MAX_INFLIGHT)
    return RL_ERR_BUSY;
  rl__rtarget *rt = NULL;
  if (host) {
    /* Not one of the plan's: the run's table of those added. */
    if (!u->loop->plan->rt)
      return RL_ERR_UNSUPPORTED;
    if ((rc = rl__rt_get(u->loop, u->loop->plan->rt, u->cls, request, host,
                         &rt)))
      return rc;
  }
  csend *s = send_take(cu);
  if (!s)
    return RL_ERR_NOMEM;
  if (name && *name) {
    rl__buf_add(&s->name, name, strlen(name) + 1);
    if (s->name.oom) {
      send_put(cu, s);
      return RL_ERR_NOMEM;
    }
  }
  if (n_headers && send_headers(s, headers, n_headers)) {
    send_put(cu, s);
    return RL_ERR_NOMEM;
  }
  s->decide = decide != 0;
  s->no_event = opts && opts->struct_size >= offsetof(rl_send_opts, no_event) +
                                                 sizeof opts->no_event
                    ? opts->no_event != 0
                    : 0;
  /* A stream's messages are events of the request too: none either;
   * else send_event, which names their rows after the send's name. */
  s->req.event = s->no_event ? NULL : send_event;
  s->req.timeout_ns = timeout_ns;
  s->on_message =
      opts && opts->struct_size >=
                  offsetof(rl_send_opts, on_message) + sizeof opts->on_message
          ? opts->on_message
          : NULL;
  s->req.message = s->on_message ? send_message : NULL;
  s->done = done;
  s->arg = arg;
  cu->inflight++;
  /* u->req.start_ns holds the task's start (engine/user.c start_task);
   * on_start and on_stop have none: their requests count from the send. */
  uint64_t start = cu->opening && u->phase == RL__PHASE_TASK ? u->req.start_ns
                                                             : rl__now_ns();
  u->first_in_task = 0;
  if (!rt) {
    rl__user_start_request(u, &s->req, &c->requests[request], start, &s->resp);
    return 0;
  }
  s->request = request;
  s->start_ns = start;
  if (atomic_load_explicit(&rt->state, memory_order_acquire) ==
      RL__RT_BUILDING) {
    /* Its done comes once the helper has built it (never from here). */
    s->wait.entry = rt;
    s->wait.ready = rt_ready;
    s->waiting = 1;
    rl__rt_wait_add(u->loop, &s->wait);
    return 0;
  }
  start_rt(cu, s, rt);
  return 0;
}

/* The in-flight send of cu whose done's arg is `arg`, or NULL. */
static csend *send_of(struct rl_user *cu, void *arg) {
  for (csend *s = cu->all; s; s = s->all)
    if (s->done && !s->ended && s->arg == arg)
      return s;
  return NULL;
}

int rl_user_hold_messages(rl_user *cu, void *arg, int hold) {
  csend *s = cu ? send_of(cu, arg) : NULL;
  if (!s || !s->on_message)
    return RL_ERR_INVAL;
  s->hold = hold != 0;
  if (!s->hold && s->held && !s->in_msgs) {
    s->held = 0;
    rl__conn_read_more(&s->req);
  }
  return 0;
}

int rl_user_cancel(rl_user *cu, void *arg, const char *reason) {
  csend *s = cu ? send_of(cu, arg) : NULL;
  if (!s)
    return RL_ERR_INVAL;
  const rl_conn *c = s->req.conn;
  if (c && c->v && !c->v->plugin->desc.session_cancel)
    return RL_ERR_UNSUPPORTED;
  return rl__conn_cancel(&s->req, reason ? reason : "cancelled");
}

void rl_user_task_done(rl_user *cu) {
  if (cu)
    cu->phase_done = 1;
}

uint64_t rl_user_id(const rl_user *cu) { return cu ? cu->u->id : 0; }

/* The index of the plan's variable `name`, or -1. */
static long plan_var(const rl__user *u, const char *name) {
  const rl__plan *p = u->loop->plan;
  for (size_t i = 0; i < p->n_vars; i++)
    if (strcmp(p->vars[i], name) == 0)
      return (long)i;
  return -1;
}

static cvar *extra_var(const rl_user *cu, const char *name) {
  for (cvar *v = cu->extra; v; v = v->next)
    if (strcmp(v->name, name) == 0)
      return v;
  return NULL;
}

int rl_user_set_var(rl_user *cu, const char *name, const char *value) {
  if (!cu || !name || !*name)
    return RL_ERR_INVAL;
  char *copy = NULL;
  if (value && !(copy = strdup(value)))
    return RL_ERR_NOMEM;
  rl__user *u = cu->u;
  long i = plan_var(u, name);
  if (i >= 0) {
    /* A name the requests use: where their templates read it. */
    free(u->vars[i]);
    u->vars[i] = copy;
    return 0;
  }
  cvar *v = extra_var(cu, name);
  if (!v) {
    if (!copy)
      return 0;
    if (!(v = calloc(1, sizeof *v)) || !(v->name = strdup(name))) {
      free(v);
      free(copy);
      return RL_ERR_NOMEM;
    }
    v->next = cu->extra;
    cu->extra = v;
  }
  free(v->value);
  v->value = copy;
  return 0;
}

const char *rl_user_get_var(const rl_user *cu, const char *name) {
  if (!cu || !name)
    return NULL;
  long i = plan_var(cu->u, name);
  if (i >= 0)
    return cu->u->vars[i];
  const cvar *v = extra_var(cu, name);
  return v ? v->value : NULL;
}

void *rl_user_data(const rl_user *cu) { return cu ? cu->data : NULL; }

void rl_user_set_data(rl_user *cu, void *data) {
  if (cu)
    cu->data = data;
}

int rl_user_decide(rl_user *cu, const rl_send_result *res, const char *error) {
  if (!cu || !cu->in_done || !cu->in_done->decide || res != &cu->in_done->res)
    return RL_ERR_INVAL;
  csend *s = cu->in_done;
  rl__buf_reset(&s->verdict);
  if (error) {
    rl__buf_add(&s->verdict, error, strlen(error) + 1);
    if (s->verdict.oom)
      return RL_ERR_NOMEM;
  }
  s->decided = 1;
  return 0;
}

static void sleep_cb(struct ev_loop *loop, ev_timer *t, int revents) {
  (void)loop;
  (void)revents;
  struct rl_user *cu = t->data;
  cu->sleeping = 0;
  cu->woke_due = 1;
  rl__user_wake(cu->u);
}

int rl_user_sleep(rl_user *cu, double seconds, rl_woke_fn woke, void *arg) {
  if (!cu || !woke || !(seconds >= 0))
    return RL_ERR_INVAL;
  int rc = may_act(cu);
  if (rc)
    return rc;
  if (cu->sleeping || cu->woke_due)
    return RL_ERR_BUSY;
  cu->woke = woke;
  cu->woke_arg = arg;
  cu->sleeping = 1;
  cu->u->first_in_task = 0;
  ev_timer_init(&cu->sleep, sleep_cb, seconds, 0.);
  cu->sleep.data = cu;
  ev_timer_start(cu->u->loop->ev, &cu->sleep);
  return 0;
}

int rl_user_phase(const rl_user *cu, size_t *task) {
  const rl__user *u = cu->u;
  if (task) /* the class's own numbering, whatever --tags left out */
    *task = u->phase == RL__PHASE_TASK ? u->cls->tasks[u->task].index : 0;
  return u->phase == RL__PHASE_START  ? RL_USER_ON_START
         : u->phase == RL__PHASE_STOP ? RL_USER_ON_STOP
                                      : RL_USER_TASK;
}

int rl_user_report_error(rl_user *cu, const char *error) {
  if (!cu || !error)
    return RL_ERR_INVAL;
  const rl__user *u = cu->u;
  char name[128];
  if (u->phase == RL__PHASE_START || u->phase == RL__PHASE_STOP)
    snprintf(name, sizeof name, "%s",
             u->phase == RL__PHASE_START ? "on_start" : "on_stop");
  else
    rl__plan_task_label(u->cls, u->task, name, sizeof name);
  rl_user_error e = {.struct_size = sizeof e,
                     .user_id = u->id,
                     .user_class = u->cls->name,
                     .type = "task",
                     .name = name,
                     .error = error};
  /* Queued for the main thread (copied), as a scenario's user_error. */
  rl__events_user_error(u->loop->events_table, &e);
  /* And Locust's exceptions table (--csv's _exceptions.csv, the web UI's
   * Exceptions tab): counted where it was raised, in the thread's stats. */
  if (!u->loop->cutting) {
    char where[300];
    snprintf(where, sizeof where, "%s.%s", u->cls->name, name);
    (void)rl__stats_record_exception(u->loop->stats, error, where, 1);
  }
  return 0;
}

int rl_user_wait_next(rl_user *cu, double seconds) {
  if (!cu || !(seconds >= 0) || seconds > 1e9)
    return RL_ERR_INVAL;
  rl__user *u = cu->u;
  if (cu->stopped || u->phase != RL__PHASE_TASK)
    return RL_ERR_CLOSED;
  u->next_wait_ns = (uint64_t)(seconds * 1e9);
  u->has_next_wait = 1;
  return 0;
}

int rl_user_stop(rl_user *cu) {
  if (!cu)
    return RL_ERR_INVAL;
  if (cu->stopped)
    return RL_ERR_CLOSED;
  cu->u->stop_after = 1;
  return 0;
}

int rl_user_fire_request(rl_user *cu, const rl_fired_request *r) {
  if (!cu || !r || r->struct_size < sizeof(rl_fired_request) || !r->type ||
      !*r->type || !r->name || !*r->name)
    return RL_ERR_INVAL;
  if (cu->stopped)
    return RL_ERR_CLOSED;
  return rl__user_fire(cu->u, r->type, r->name, r->response_time_ns,
                       r->response_length, r->error)
             ? RL_ERR_CLOSED
             : 0;
}

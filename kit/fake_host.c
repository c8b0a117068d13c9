/*
 * fake_host: the host services a codec plugin sees, recording and checking
 * (see fake_host.h). Templates are rpcload's own (engine/template.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rpcload/fake_host.h>

#include "engine/template.h"

/* A request, as only this host knows it. */
struct rl_request {
  void *step;
  int id;
  uint64_t user_id, seq, rng; /* what templates draw on */
  int wanted;                 /* request_wants_response said yes */
  unsigned parts;             /* ABI 1.8: the parts it was told of */
  int each;                   /* ABI 1.10: wants_messages said yes */
  const rl_kv *headers;       /* ABI 1.7: the test's, when it was made */
  size_t n_headers;
};

/* A timer of the fake loop (ABI 1.1 timer_start on conn_loop's loop). */
struct rl_timer {
  uint64_t due_ns;
  void (*cb)(rl_timer *t, void *arg);
  void *arg;
};

/* The host the services report to (the ABI's calls carry no host). A
 * request is touched only once it is known to be live, so a plugin that
 * reports one twice is caught, not read after it was freed. */
static rl_fake_host *current;

/* A broken rule: the test fails (on_violation), or the program stops. */
static void violation(const rl_fake_host *fh, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void violation(const rl_fake_host *fh, const char *fmt, ...) {
  char what[512];
  va_list ap;
  va_start(ap, fmt);
  /* clang-tidy 14 misreads va_start (see plugins/lib/http_text.c). */
  // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  if (fh != NULL && fh->on_violation != NULL) {
    fh->on_violation(what);
    return;
  }
  fprintf(stderr, "fake_host: %s\n", what);
  abort();
}

#define CHECK(fh, cond, ...)                                                   \
  do {                                                                         \
    if (!(cond))                                                               \
      violation((fh), __VA_ARGS__);                                            \
  } while (0)

static int is_live(const rl_fake_host *fh, const rl_request *req) {
  for (int i = 0; i < RL_FAKE_MAX_LIVE; i++)
    if (fh->live[i] == req)
      return 1;
  return 0;
}

/* True when req is live; else a violation (`what` names the call), and
 * req must not be touched. */
static int check_live(const rl_request *req, const char *what) {
  if (is_live(current, req))
    return 1;
  violation(current,
            "%s for a request that is not live (ended already, or never "
            "accepted)",
            what);
  return 0;
}

/* Forgets a live request (the caller checked it is). */
static void forget_live(rl_fake_host *fh, const rl_request *req) {
  for (int i = 0; i < RL_FAKE_MAX_LIVE; i++)
    if (fh->live[i] == req)
      fh->live[i] = NULL;
}

/* ---- The services ---------------------------------------------------------- */

static void *host_request_step(const rl_request *req) {
  return check_live(req, "request_step") ? req->step : NULL;
}

static void host_request_done(rl_request *req, const rl_result *r) {
  rl_fake_host *fh = current;
  CHECK(fh, !fh->in_submit, "request_done from inside session_submit");
  if (!check_live(req, "request_done"))
    return;
  /* A response handed over belongs to the very next request_done. */
  CHECK(fh, fh->pending == NULL || fh->pending == req,
        "request_done of request %d after the response of another", req->id);
  fh->pending = NULL;
  forget_live(fh, req);
  CHECK(fh, fh->n_events < RL_FAKE_MAX_EVENTS, "more than %d events",
        RL_FAKE_MAX_EVENTS);
  CHECK(fh, r->type != NULL && r->name != NULL,
        "request_done without a type or a name");
  if (fh->n_events < RL_FAKE_MAX_EVENTS) {
    rl_fake_event *e = &fh->events[fh->n_events++];
    e->req_id = req->id;
    snprintf(e->type, sizeof e->type, "%s", r->type ? r->type : "");
    snprintf(e->name, sizeof e->name, "%s", r->name ? r->name : "");
    e->bytes = r->response_bytes;
    e->failed = r->error != NULL;
    snprintf(e->error, sizeof e->error, "%s", r->error ? r->error : "");
    e->seq = ++fh->seq;
  }
  /* The request is gone: any later touch is a use-after-free. */
  free(req);
}

static void host_request_retry(rl_request *req, const char *reason) {
  rl_fake_host *fh = current;
  CHECK(fh, !fh->in_submit, "request_retry from inside session_submit");
  if (!check_live(req, "request_retry"))
    return;
  CHECK(fh, fh->pending == NULL,
        "request_retry of request %d after a response was handed over",
        req->id);
  forget_live(fh, req);
  CHECK(fh, fh->n_retries < RL_FAKE_MAX_EVENTS, "more than %d retries",
        RL_FAKE_MAX_EVENTS);
  if (fh->n_retries < RL_FAKE_MAX_EVENTS) {
    rl_fake_retry *r = &fh->retries[fh->n_retries++];
    r->req_id = req->id;
    snprintf(r->reason, sizeof r->reason, "%s", reason ? reason : "");
    r->seq = ++fh->seq;
  }
  /* For the session the request has ended, as with request_done. */
  free(req);
}

static int host_request_wants_response(const rl_request *req) {
  rl_fake_host *fh = current;
  if (!check_live(req, "request_wants_response"))
    return 0;
  fh->asked++;
  /* The request is the host's own object: remember the answer. */
  ((rl_request *)req)->wanted = fh->wants_response;
  ((rl_request *)req)->parts = fh->wants_response ? RL_RESPONSE_ALL : 0;
  return fh->wants_response;
}

static unsigned host_request_response_parts(const rl_request *req) {
  rl_fake_host *fh = current;
  if (!check_live(req, "request_response_parts"))
    return 0;
  fh->asked++;
  unsigned parts = !fh->wants_response  ? 0
                   : fh->response_parts ? fh->response_parts
                                        : RL_RESPONSE_ALL;
  ((rl_request *)req)->wanted = parts != 0;
  ((rl_request *)req)->parts = parts;
  return parts;
}

/* Appends "key: value\n" to dst (cap bytes, NUL-terminated), cut to fit. */
static void append_header(char *dst, size_t cap, const rl_kv *kv) {
  size_t len = strlen(dst);
  snprintf(dst + len, cap - len, "%s: %s\n", kv->key ? kv->key : "(null)",
           kv->value ? kv->value : "(null)");
}

static void host_request_response(rl_request *req, const rl_response *resp) {
  rl_fake_host *fh = current;
  CHECK(fh, !fh->in_submit, "request_response from inside session_submit");
  if (!check_live(req, "request_response"))
    return;
  CHECK(fh, fh->pending == NULL,
        "request_response of request %d before the request_done of the "
        "one handed over before",
        req->id);
  CHECK(fh, req->wanted,
        "request_response for request %d, which the host did not ask for",
        req->id);
  CHECK(fh, (req->parts & RL_RESPONSE_HEADERS) || resp->n_headers == 0,
        "request_response for request %d has %zu header fields, which the "
        "host did not ask for (request_response_parts)",
        req->id, resp->n_headers);
  CHECK(fh, (req->parts & RL_RESPONSE_BODY) || resp->body_len == 0,
        "request_response for request %d has a payload, which the host did "
        "not ask for (request_response_parts)",
        req->id);
  CHECK(fh, resp->struct_size >= sizeof(rl_response), "rl_response of %u bytes",
        (unsigned)resp->struct_size);
  CHECK(fh, resp->body_len == 0 || resp->body != NULL,
        "a body of %zu bytes at NULL", resp->body_len);
  if (req->id < 1 || req->id > RL_FAKE_MAX_IDS) {
    violation(fh, "request id %d beyond RL_FAKE_MAX_IDS", req->id);
    return;
  }
  rl_fake_response *r = &fh->responses[req->id];
  CHECK(fh, !r->got, "request_response twice for request %d", req->id);
  fh->pending = req;
  fh->n_responses++;
  fh->last_response_id = req->id;
  memset(r, 0, sizeof *r);
  r->got = 1;
  r->status = resp->status;
  r->n_headers = resp->n_headers;
  for (size_t i = 0; i < resp->n_headers; i++)
    append_header(r->headers, sizeof r->headers, &resp->headers[i]);
  r->body_null = resp->body == NULL;
  r->body_len = resp->body_len;
  size_t n =
      resp->body_len < sizeof r->body - 1 ? resp->body_len : sizeof r->body - 1;
  if (n > 0 && resp->body != NULL)
    memcpy(r->body, resp->body, n);
  r->body[n] = '\0';
  r->json_null = resp->json == NULL;
  snprintf(r->json, sizeof r->json, "%s", resp->json ? resp->json : "");
}

static int host_conn_write(rl_conn *conn, const void *data, size_t len) {
  if (conn->fail_writes)
    return RL_ERR_CLOSED;
  char *p = realloc(conn->out, conn->out_len + len + 1);
  if (p == NULL) {
    violation(current, "out of memory");
    return RL_ERR_NOMEM;
  }
  if (len > 0)
    memcpy(p + conn->out_len, data, len);
  conn->out = p;
  conn->out_len += len;
  conn->out[conn->out_len] = '\0';
  conn->written += len;
  return 0;
}

static void host_conn_close(rl_conn *conn) { conn->close_requested++; }

static void host_conn_drain(rl_conn *conn) {
  (void)conn;
  current->drains++;
  if (current->first_drain_seq == 0)
    current->first_drain_seq = ++current->seq;
}

static uint64_t host_now_ns(void) {
  return current != NULL ? current->now_ns : 0;
}

static void host_request_event(rl_request *req, const rl_result *r,
                               uint64_t since_ns) {
  rl_fake_host *fh = current;
  /* Allowed from inside session_submit too, but only for the request
   * being submitted: the others are live already. */
  if (!check_live(req, "request_event"))
    return;
  CHECK(fh, r->type != NULL && r->name != NULL,
        "request_event without a type or a name");
  CHECK(fh, since_ns <= fh->now_ns, "request_event since %llu, after now %llu",
        (unsigned long long)since_ns, (unsigned long long)fh->now_ns);
  if (fh->n_msgs >= RL_FAKE_MAX_MSGS) {
    fh->n_msgs_dropped++;
    return;
  }
  rl_fake_msg *m = &fh->msgs[fh->n_msgs++];
  m->req_id = req->id;
  snprintf(m->type, sizeof m->type, "%s", r->type ? r->type : "");
  snprintf(m->name, sizeof m->name, "%s", r->name ? r->name : "");
  m->bytes = r->response_bytes;
  m->since_ns = since_ns;
  m->at_ns = fh->now_ns;
  m->failed = r->error != NULL;
  snprintf(m->error, sizeof m->error, "%s", r->error ? r->error : "");
  m->seq = ++fh->seq;
}

/* Connections have no loop here: the connection itself stands for it. */
static rl_loop *host_conn_loop(rl_conn *conn) { return (rl_loop *)conn; }

static rl_timer *host_timer_start(rl_loop *loop, uint64_t after_ns,
                                  void (*cb)(rl_timer *t, void *arg),
                                  void *arg) {
  rl_fake_host *fh = current;
  CHECK(fh, loop != NULL && cb != NULL, "timer_start without a loop or cb");
  for (int i = 0; i < RL_FAKE_MAX_TIMERS; i++) {
    if (fh->timers[i] != NULL)
      continue;
    rl_timer *t = calloc(1, sizeof *t);
    if (t == NULL)
      return NULL;
    t->due_ns = fh->now_ns + after_ns;
    t->cb = cb;
    t->arg = arg;
    fh->timers[i] = t;
    fh->timers_started++;
    return t;
  }
  violation(fh, "more than %d timers running", RL_FAKE_MAX_TIMERS);
  return NULL;
}

/* Stopping a timer frees it; one that fired is gone already, and stopping
 * it from inside its own callback does nothing (the ABI's words). */
static rl_timer *firing;

static void host_timer_stop(rl_timer *t) {
  rl_fake_host *fh = current;
  if (t == firing)
    return;
  for (int i = 0; i < RL_FAKE_MAX_TIMERS; i++) {
    if (fh->timers[i] == t) {
      fh->timers[i] = NULL;
      fh->timers_stopped++;
      free(t);
      return;
    }
  }
  violation(fh, "timer_stop of a timer that is not running (fired or "
                "stopped already)");
}

static void host_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void host_log(int level, const char *fmt, ...) {
  va_list ap;
  (void)level;
  if (current != NULL)
    current->n_logs++;
  va_start(ap, fmt);
  // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

static int host_template_new(const char *text, size_t len, rl_template **out,
                             char *err, size_t errlen) {
  return rl__template_new(text, len, out, err, errlen);
}

static int host_template_new_at(const char *text, size_t len, size_t column,
                                rl_template **out, char *err, size_t errlen) {
  return rl__template_new_at(text, len, column, out, err, errlen);
}

/* The previous expansion is spoiled and freed first: the ABI says it
 * lives only until the next call. */
static void drop_expanded(rl_fake_host *fh) {
  if (fh->expanded != NULL)
    memset(fh->expanded, 'Z', fh->expanded_cap);
  free(fh->expanded);
  fh->expanded = NULL;
  fh->expanded_cap = 0;
}

static const char *host_template_expand(const rl_template *t, rl_request *req,
                                        size_t *len) {
  rl_fake_host *fh = current;
  *len = 0;
  if (!check_live(req, "template_expand"))
    return NULL;
  drop_expanded(fh);
  if (fh->fail_expand)
    return NULL;
  char *buf = NULL;
  size_t cap = 0;
  if (fh->expand_override != NULL) {
    *len = strlen(fh->expand_override);
    cap = *len + 1;
    buf = malloc(cap);
    if (buf != NULL)
      memcpy(buf, fh->expand_override, cap);
  } else {
    rl__template_ctx ctx = {
        .user_id = req->user_id, .seq = req->seq, .rng = &req->rng};
    rl__buf out;
    rl__buf_init(&out);
    if (rl__template_expand(t, &ctx, &out) != 0) {
      rl__buf_free(&out);
      return NULL;
    }
    buf = out.p;
    *len = out.len;
    cap = out.cap;
  }
  if (buf == NULL) { /* an empty expansion still needs an address */
    buf = malloc(1);
    cap = 1;
  }
  if (buf == NULL) {
    violation(fh, "out of memory");
    return NULL;
  }
  fh->expanded = buf;
  fh->expanded_cap = cap;
  return buf;
}

static uint64_t host_request_user_id(const rl_request *req) {
  return check_live(req, "request_user_id") ? req->user_id : 0;
}

/* ---- ABI 1.5 ----------------------------------------------------------------- */

static rl_user_slot *host_request_user_slot(rl_request *req, const char *key) {
  rl_fake_host *fh = current;
  if (!check_live(req, "request_user_slot"))
    return NULL;
  for (int i = 0; i < fh->n_slots; i++)
    if (fh->slots[i].user_id == req->user_id &&
        strcmp(fh->slots[i].key, key) == 0)
      return &fh->slots[i].slot;
  /* Each request is a user of its own unless the test says otherwise:
   * when the table is full, an empty slot is as good as a new one. */
  struct rl_fake_slot *s = NULL;
  if (fh->n_slots < RL_FAKE_MAX_SLOTS)
    s = &fh->slots[fh->n_slots++];
  for (int i = 0; s == NULL && i < fh->n_slots; i++)
    if (fh->slots[i].slot.state == NULL)
      s = &fh->slots[i];
  CHECK(fh, s != NULL, "more than %d user states", RL_FAKE_MAX_SLOTS);
  if (s == NULL)
    return NULL;
  memset(s, 0, sizeof *s);
  s->user_id = req->user_id;
  snprintf(s->key, sizeof s->key, "%s", key);
  return &s->slot;
}

static void host_request_move(rl_request *req, const char *reason) {
  rl_fake_host *fh = current;
  CHECK(fh, !fh->in_submit, "request_move from inside session_submit");
  if (!check_live(req, "request_move"))
    return;
  CHECK(fh, fh->pending == NULL,
        "request_move of request %d after a response was handed over", req->id);
  forget_live(fh, req);
  fh->n_moves++;
  fh->seq++;
  snprintf(fh->move_reason, sizeof fh->move_reason, "%s", reason ? reason : "");
  CHECK(fh, fh->n_moved < RL_FAKE_MAX_LIVE, "more than %d moved requests",
        RL_FAKE_MAX_LIVE);
  if (fh->n_moved < RL_FAKE_MAX_LIVE)
    fh->moved[fh->n_moved++] = req;
  else
    free(req);
}

/* Hands each state of user_id's slots (every user's when all) to its
 * del. */
static void release_slots(rl_fake_host *fh, uint64_t user_id, int all) {
  for (int i = 0; i < fh->n_slots; i++) {
    rl_user_slot *s = &fh->slots[i].slot;
    if (!all && fh->slots[i].user_id != user_id)
      continue;
    void *state = s->state;
    void (*del)(void *) = s->del;
    s->state = NULL;
    s->del = NULL;
    if (state != NULL) {
      CHECK(fh, del != NULL, "a user state stored without its del");
      if (del != NULL) {
        del(state);
        fh->states_freed++;
      }
    }
  }
}

static uint64_t host_request_seq(const rl_request *req) {
  return check_live(req, "request_seq") ? req->seq : 0;
}

static void *host_conn_step(const rl_conn *conn) { return conn->step; }

static void host_conn_fail(rl_conn *conn, const char *reason) {
  if (!conn->failed[0]) /* the first reason counts, as in the core */
    snprintf(conn->failed, sizeof conn->failed, "%s",
             reason && *reason ? reason : "failed");
}

/* ABI 1.7: the fields the test gave for the request when it was made. */
static const rl_kv *host_request_headers(const rl_request *req, size_t *n) {
  if (!current->in_submit && !check_live(req, "request_headers")) {
    if (n)
      *n = 0;
    return NULL;
  }
  if (n)
    *n = req->n_headers;
  return req->n_headers ? req->headers : NULL;
}

static void host_request_refuse(rl_request *req, const char *reason) {
  rl_fake_host *fh = current;
  (void)req;
  CHECK(fh, fh->in_submit, "request_refuse outside session_submit");
  snprintf(fh->refused, sizeof fh->refused, "%s", reason ? reason : "");
  fh->n_refused++;
}

void rl_fake_user_stop(rl_fake_host *fh, uint64_t user_id) {
  release_slots(fh, user_id, 0);
}

/* ABI 1.10: a stream's messages to the request's owner. */
static int host_request_wants_messages(const rl_request *req) {
  rl_fake_host *fh = current;
  if (!check_live(req, "request_wants_messages"))
    return 0;
  ((rl_request *)req)->each = fh->wants_messages != 0;
  return fh->wants_messages != 0;
}

static int host_request_message(rl_request *req, const char *json, size_t len) {
  rl_fake_host *fh = current;
  if (!check_live(req, "request_message"))
    return 0;
  CHECK(fh, req->each,
        "request_message for request %d, which "
        "request_wants_messages did not say yes to",
        req->id);
  CHECK(fh, json != NULL && strlen(json) == len,
        "request_message: json is not a NUL-terminated text of len bytes");
  int i = fh->n_messages++;
  if (i < RL_FAKE_MAX_MSGS) {
    fh->messages[i].req_id = req->id;
    snprintf(fh->messages[i].json, sizeof fh->messages[i].json, "%s",
             json ? json : "");
    fh->messages[i].seq = ++fh->seq;
  }
  fh->n_held += fh->hold_messages != 0;
  return fh->hold_messages ? 1 : 0;
}

/* ---- The API ---------------------------------------------------------------- */

void rl_fake_host_init(rl_fake_host *fh) {
  rl_fake_host_free(fh);
  memset(fh, 0, sizeof *fh);
  fh->host = (rl_host){
      .abi_version = RL_ABI_VERSION,
      .struct_size = sizeof(rl_host),
      .request_step = host_request_step,
      .request_done = host_request_done,
      .conn_write = host_conn_write,
      .conn_close = host_conn_close,
      .now_ns = host_now_ns,
      .log = host_log,
      .template_new = host_template_new,
      .template_del = rl__template_del,
      .template_is_constant = rl__template_is_constant,
      .template_expand = host_template_expand,
      .request_user_id = host_request_user_id,
      .request_retry = host_request_retry,
      .conn_drain = host_conn_drain,
      .request_wants_response = host_request_wants_response,
      .request_response = host_request_response,
      .timer_start = host_timer_start,
      .timer_stop = host_timer_stop,
      .request_event = host_request_event,
      .conn_loop = host_conn_loop,
      .request_user_slot = host_request_user_slot,
      .request_move = host_request_move,
      .request_seq = host_request_seq,
      .conn_step = host_conn_step,
      .conn_fail = host_conn_fail,
      .request_refuse = host_request_refuse,
      .template_new_at = host_template_new_at,
      .template_text = rl__template_text,
      .request_headers = host_request_headers,
      .request_response_parts = host_request_response_parts,
      .request_wants_messages = host_request_wants_messages,
      .request_message = host_request_message,
  };
  current = fh;
}

void rl_fake_host_free(rl_fake_host *fh) {
  drop_expanded(fh);
  release_slots(fh, 0, 1);
  fh->n_slots = 0;
  for (int i = 0; i < fh->n_moved; i++)
    free(fh->moved[i]);
  fh->n_moved = 0;
  for (int i = 0; i < RL_FAKE_MAX_TIMERS; i++) {
    free(fh->timers[i]);
    fh->timers[i] = NULL;
  }
  /* Requests a failed test left live are the host's objects. */
  for (int i = 0; i < RL_FAKE_MAX_LIVE; i++) {
    free(fh->live[i]);
    fh->live[i] = NULL;
  }
}

int rl_fake_submit(rl_fake_host *fh, const rl_plugin *p, void *session,
                   void *step) {
  rl_request *req = calloc(1, sizeof *req);
  if (req == NULL) {
    violation(fh, "out of memory");
    return RL_ERR_NOMEM;
  }
  req->step = step;
  req->id = ++fh->next_id;
  req->user_id = fh->user_id != 0 ? fh->user_id : (uint64_t)req->id;
  req->seq = fh->user_seq != 0 ? fh->user_seq : 1;
  req->headers = fh->headers;
  req->n_headers = fh->headers ? fh->n_headers : 0;
  req->rng = 0x9e3779b97f4a7c15ULL * (uint64_t)req->id;
  int slot = -1;
  for (int i = 0; i < RL_FAKE_MAX_LIVE && slot < 0; i++)
    if (fh->live[i] == NULL)
      slot = i;
  if (slot < 0) {
    free(req);
    violation(fh, "more than %d requests live", RL_FAKE_MAX_LIVE);
    return RL_ERR_BUSY;
  }
  fh->live[slot] = req; /* before the call: done may not come from inside */
  fh->in_submit = 1;
  int rc = p->session_submit(session, req);
  fh->in_submit = 0;
  if (rc == 0) {
    fh->n_accepted++;
  } else {
    fh->live[slot] = NULL;
    free(req);
  }
  return rc;
}

/* Makes req live in a free place; -1 when there is none (a violation). */
static int make_live(rl_fake_host *fh, rl_request *req) {
  for (int i = 0; i < RL_FAKE_MAX_LIVE; i++)
    if (fh->live[i] == NULL) {
      fh->live[i] = req;
      return i;
    }
  violation(fh, "more than %d requests live", RL_FAKE_MAX_LIVE);
  return -1;
}

int rl_fake_resubmit(rl_fake_host *fh, const rl_plugin *p, void *session) {
  if (fh->n_moved == 0)
    return RL_ERR_NOTFOUND;
  rl_request *req = fh->moved[0];
  fh->n_moved--;
  for (int i = 0; i < fh->n_moved; i++)
    fh->moved[i] = fh->moved[i + 1];
  int slot = make_live(fh, req);
  if (slot < 0) {
    free(req);
    return RL_ERR_BUSY;
  }
  fh->in_submit = 1;
  int rc = p->session_submit(session, req);
  fh->in_submit = 0;
  if (rc == 0) {
    fh->n_accepted++;
  } else {
    fh->live[slot] = NULL;
    free(req);
  }
  return rc;
}

rl_request *rl_fake_live(const rl_fake_host *fh, int id) {
  for (int i = 0; i < RL_FAKE_MAX_LIVE; i++)
    if (fh->live[i] != NULL && fh->live[i]->id == id)
      return fh->live[i];
  return NULL;
}

int rl_fake_request_id(const rl_request *req) { return req->id; }

const rl_fake_event *rl_fake_event_of(const rl_fake_host *fh, int id) {
  const rl_fake_event *found = NULL;
  for (int i = 0; i < fh->n_events; i++)
    if (fh->events[i].req_id == id)
      found = &fh->events[i];
  return found;
}

const rl_fake_response *rl_fake_response_of(const rl_fake_host *fh, int id) {
  static const rl_fake_response none;
  if (id < 1 || id > RL_FAKE_MAX_IDS)
    return &none;
  return &fh->responses[id];
}

const rl_fake_response *rl_fake_last_response(const rl_fake_host *fh) {
  if (fh->last_response_id == 0)
    return NULL;
  return &fh->responses[fh->last_response_id];
}

void rl_fake_host_check_idle(const rl_fake_host *fh) {
  CHECK(fh, fh->n_events + fh->n_retries + fh->n_moves == fh->n_accepted,
        "%d requests accepted, %d ended (%d done, %d retried, %d moved)",
        fh->n_accepted, fh->n_events + fh->n_retries + fh->n_moves,
        fh->n_events, fh->n_retries, fh->n_moves);
  CHECK(fh, fh->n_moved == 0, "%d moved requests never resubmitted",
        fh->n_moved);
  for (int i = 0; i < RL_FAKE_MAX_LIVE; i++)
    CHECK(fh, fh->live[i] == NULL, "request %d never ended",
          fh->live[i] != NULL ? fh->live[i]->id : 0);
  CHECK(fh, fh->pending == NULL,
        "a response was handed over, its request_done never came");
}

void rl_fake_host_forget_events(rl_fake_host *fh) {
  rl_fake_host_check_idle(fh);
  fh->n_events = 0;
  fh->n_retries = 0;
  fh->n_moves = 0;
  fh->n_accepted = 0;
}

char *rl_fake_conn_take(rl_conn *conn, size_t *len) {
  char *out = conn->out;
  *len = conn->out_len;
  conn->out = NULL;
  conn->out_len = 0;
  return out;
}

void rl_fake_conn_free(rl_conn *conn) {
  free(conn->out);
  conn->out = NULL;
  conn->out_len = 0;
}

uint64_t rl_fake_timers_next(const rl_fake_host *fh) {
  uint64_t next = 0;
  for (int i = 0; i < RL_FAKE_MAX_TIMERS; i++)
    if (fh->timers[i] != NULL && (next == 0 || fh->timers[i]->due_ns < next))
      next = fh->timers[i]->due_ns;
  return next;
}

int rl_fake_timers_run(rl_fake_host *fh, uint64_t now_ns) {
  int fired = 0;
  for (;;) {
    int at = -1;
    for (int i = 0; i < RL_FAKE_MAX_TIMERS; i++)
      if (fh->timers[i] != NULL && fh->timers[i]->due_ns <= now_ns &&
          (at < 0 || fh->timers[i]->due_ns < fh->timers[at]->due_ns))
        at = i;
    if (at < 0)
      break;
    rl_timer *t = fh->timers[at];
    fh->timers[at] = NULL;
    if (t->due_ns > fh->now_ns)
      fh->now_ns = t->due_ns;
    firing = t;
    t->cb(t, t->arg);
    firing = NULL;
    free(t);
    fh->timers_fired++;
    fired++;
  }
  if (now_ns > fh->now_ns)
    fh->now_ns = now_ns;
  return fired;
}

int rl_fake_msgs_of(const rl_fake_host *fh, int id, const char *name) {
  int n = 0;
  for (int i = 0; i < fh->n_msgs; i++)
    if (fh->msgs[i].req_id == id &&
        (name == NULL || strcmp(fh->msgs[i].name, name) == 0))
      n++;
  return n;
}

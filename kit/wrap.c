/*
 * The kit between the core and the plugin under test (kit.h).
 *
 * The descriptor the core loaded is a copy the kit may edit, so every
 * plugin callback is replaced by a wrapper that times it and keeps books,
 * and the plugin is handed a copy of the host table whose request_done
 * checks each event before passing it on.
 *
 * Books are kept per rl_request object. The core reuses a user's request
 * object for its next request, so the state is reset at every submit: a
 * second event for one submit, an event after a refused submit, an event
 * from inside submit, or a session/transport deleted while still holding a
 * request it never reported is a violation.
 *
 * The stall check counts the worker thread's CPU time in a callback, so a
 * busy machine (the thread preempted mid-callback) does not fail a correct
 * plugin; a callback that sleeps or blocks (a voluntary context switch)
 * longer than the limit is caught by its wall time.
 *
 * Faults are injected into a codec's reads, between the core's socket and
 * session_on_read, so any server of the protocol will do. Reads the kit
 * holds back (a delay, a withheld reply) wait in the session's queue and
 * are handed over, in order, from a timer on the connection's loop, as a
 * codec's own timers run (ABI 1.4 conn_loop).
 */
/* RUSAGE_THREAD (Linux): the worker thread's own context switches. */
#define _GNU_SOURCE // NOLINT(bugprone-reserved-identifier): glibc asks for it
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>

#include <rpcload/plugin.h>

#include "base/clock.h"
#include "engine/host.h"
#include "kit.h"

kit_state kit = {.lock = PTHREAD_MUTEX_INITIALIZER};
rl_plugin kit_orig;
static rl_host kit_host;

/* ---- the books ----------------------------------------------------------- */

enum req_state { REQ_IDLE = 0, REQ_IN_SUBMIT, REQ_ACCEPTED, REQ_REFUSED };

struct wsession;

typedef struct kit_book {
  const rl_request *req;
  void *owner;         /* session or transport that accepted it */
  struct wsession *ws; /* the wrapped session (codecs), or NULL */
  enum req_state state;
  /* A submit of this object failed and no event has claimed it since: the
   * object is reused, so an event for the refused request may arrive after
   * the next one was accepted and reported. */
  int refused_unclaimed;
} book;

static void violation(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static void violation(const char *fmt, ...) {
  /* Called with kit.lock held. */
  if (kit.violations < KIT_MAX_VIOLATIONS_SHOWN) {
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

void kit_run_begin(enum kit_fault fault) {
  pthread_mutex_lock(&kit.lock);
  memset(&kit.n, 0, sizeof kit.n);
  kit.fault = fault;
  pthread_mutex_unlock(&kit.lock);
}

void kit_run_end(void) {
  pthread_mutex_lock(&kit.lock);
  kit.fault = FAULT_NONE;
  pthread_mutex_unlock(&kit.lock);
}

int kit_says_timeout(const char *error) {
  return error &&
         (strcasestr(error, "timed out") || strcasestr(error, "timeout") ||
          strcasestr(error, "deadline"));
}

/* ---- the stall clock ----------------------------------------------------- */

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
  /* CPU over the limit is the plugin computing, whatever else happened:
   * a stray voluntary switch (ASan's allocator takes locks) must not turn
   * a spinning callback into a "blocking" one. Below it, a callback that
   * slept or waited (it switched out) is judged by its wall time. */
  int by_block =
      cpu <= kit.stall_limit_ns && end.blocks > start.blocks && wall > cpu;
  uint64_t took = by_block ? wall : cpu;
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
               by_block
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
      kit.slots[i].ws = NULL;
      left++;
    }
  if (left)
    violation("%s returned with %llu accepted request(s) never reported", what,
              (unsigned long long)left);
  pthread_mutex_unlock(&kit.lock);
}

/* ---- the wrapped session ------------------------------------------------- */

/* A read the kit holds back, waiting for its time (or for a release). */
typedef struct chunk {
  struct chunk *next;
  uint64_t due_ns;
  size_t len;
  uint8_t data[];
} chunk;

/* The session the host holds: the plugin's, and what a fault needs. All
 * of it is touched on the connection's worker thread only. */
typedef struct wsession {
  void *inner; /* the plugin's session */
  rl_conn *conn;
  rl_loop *loop;
  int cut; /* FAULT_CLOSE: its first reply is cut */
  uint64_t reads;
  uint64_t ok_events; /* its requests reported as successes */
  /* Held-back reads, oldest first, and the timer that hands them over. */
  chunk *head, **tail;
  rl_timer *timer;
  uint64_t last_due_ns; /* FAULT_DELAY: reads keep their order */
  uint64_t rng;         /* FAULT_DELAY: the delays drawn */
  int may_hold;         /* FAULT_TIMEOUT: this one withholds, once */
  int holding;          /* FAULT_TIMEOUT: withholding now */
  int held;             /* FAULT_TIMEOUT: it has withheld */
  int closing;          /* the plugin asked to close or failed it */
  int in_cancel;        /* inside the plugin's session_cancel */
  int in_del;           /* inside the plugin's session_del ... */
  int del_err;          /* ... with this code */
  int del_dropped;      /* ... after held-back reads were dropped */
  int error_seen;       /* FAULT_ERRORS: an error reply ended one here */
} wsession;

/* The session whose held-back reads are being handed over on this thread:
 * a conn_close or conn_fail it makes stops the hand-over, as the core
 * stops reading a connection the plugin asked to close. */
static _Thread_local wsession *delivering;

/* ---- the host table the plugin sees -------------------------------------- */

static void copy_text(char *dst, size_t len, const rl_result *res) {
  if (!dst[0])
    snprintf(dst, len, "%s %s: %s", res->type ? res->type : "?",
             res->name ? res->name : "?", res->error);
}

/* FAULT_ERRORS: an error request must fail with a text, and the
 * connection it failed on must go on serving. Lock held. */
static void judge_error_run(wsession *w, const rl_request *req,
                            const rl_result *res) {
  const char *e = res->error;
  const void *step = rl__host()->request_step(req);
  int is_error = 0;
  for (size_t i = 0; i < kit.n_error_steps; i++)
    is_error |= kit.error_steps[i] == step;
  if (!is_error) {
    if (!e && w && w->error_seen)
      kit.n.ok_after_error++;
    return;
  }
  kit.n.error_requests++;
  if (!e) {
    violation("an error reply was reported as a success (%s %s): a reply "
              "the server refused with must fail",
              res->type ? res->type : "?", res->name ? res->name : "?");
  } else if (e[0]) {
    kit.n.error_failed++;
    copy_text(kit.n.error_text, sizeof kit.n.error_text, res);
    if (w)
      w->error_seen = 1;
  }
}

/* FAULT_TIMEOUT: a request its timeout ended (inside session_cancel, or
 * session_del after the host's timeout) must fail saying so; one whose
 * reply is withheld cannot succeed. Lock held. */
static void judge_timeout_run(wsession *w, const rl_result *res) {
  const char *e = res->error;
  if (w->in_cancel || (w->in_del && w->del_err == RL_ERR_TIMEOUT)) {
    kit.n.timed_out++;
    if (!e)
      violation("a request its timeout ended was reported as a success "
                "(it must fail, saying it timed out)");
    else if (!kit_says_timeout(e))
      violation("a request its timeout ended failed as '%.100s', which "
                "does not say it timed out",
                e);
    else {
      kit.n.timeout_failed++;
      copy_text(kit.n.timeout_text, sizeof kit.n.timeout_text, res);
    }
    if (w->in_cancel)
      w->holding = 0; /* the rest comes late: see w_session_cancel */
  } else if (w->holding && !e) {
    violation("a request whose reply the kit withheld was reported as a "
              "success");
  } else if (!e && kit.n.timed_out) {
    kit.n.ok_after_timeout++;
  }
}

/* What an accepted request's event means for the run's fault. Lock
 * held; `w` is the session that accepted it (NULL: a transport). */
static void judge_event(wsession *w, const rl_request *req,
                        const rl_result *res) {
  if (res->error && !res->error[0])
    violation("request_done with an empty error text (%s %s): say what "
              "failed",
              res->type ? res->type : "?", res->name ? res->name : "?");
  if (w && !res->error)
    w->ok_events++;
  if (kit.fault == FAULT_ERRORS)
    judge_error_run(w, req, res);
  else if (kit.fault == FAULT_TIMEOUT && w)
    judge_timeout_run(w, res);
  else if (kit.fault == FAULT_DELAY && w && res->error && w->in_del &&
           w->del_dropped)
    kit.n.overtaken++;
}

static void kit_request_done(rl_request *req, const rl_result *res) {
  pthread_mutex_lock(&kit.lock);
  book *b = book_of(req);
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
  wsession *w = b->ws;
  b->state = REQ_IDLE;
  b->owner = NULL;
  b->ws = NULL;
  if (ok) {
    kit.n.reported++;
    if (res)
      judge_event(w, req, res);
  }
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
    b->ws = NULL;
    kit.n.handed_back++;
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

static void kit_conn_close(rl_conn *conn) {
  if (delivering && delivering->conn == conn)
    delivering->closing = 1;
  rl__host()->conn_close(conn);
}

static void kit_conn_fail(rl_conn *conn, const char *reason) {
  if (delivering && delivering->conn == conn)
    delivering->closing = 1;
  rl__host()->conn_fail(conn, reason);
}

const rl_host *kit_host_table(void) { return &kit_host; }

/* ---- wrappers around the plugin's callbacks ------------------------------ */

static int w_init(const rl_host *host) {
  (void)host;
  return kit_orig.init(&kit_host);
}

static int w_step_new(const rl_host *host, const rl_step_spec *spec,
                      void **step, char *err, size_t errlen) {
  (void)host;
  return kit_orig.step_new(&kit_host, spec, step, err, errlen);
}

static int w_session_new(const rl_host *host, rl_conn *conn,
                         const rl_conn_info *info, void **session) {
  (void)host;
  wsession *w = calloc(1, sizeof *w);
  if (!w)
    return RL_ERR_NOMEM;
  w->conn = conn;
  w->loop = kit_host.conn_loop(conn);
  w->tail = &w->head;
  pthread_mutex_lock(&kit.lock);
  uint64_t nth = kit.n.connections++;
  pthread_mutex_unlock(&kit.lock);
  w->cut = kit.fault == FAULT_CLOSE && nth % 2 == 0;
  w->may_hold = kit.fault == FAULT_TIMEOUT && nth % 2 == 0;
  w->rng = (nth + 1) * 0x9e3779b97f4a7c15ull;
  stamp t0 = stamp_now();
  int rc = kit_orig.session_new(&kit_host, conn, info, &w->inner);
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
                         wsession *ws, rl_request *req) {
  pthread_mutex_lock(&kit.lock);
  book *b = book_of(req);
  if (b->state == REQ_ACCEPTED)
    violation("%s: the host submitted a request still in flight (kit bug?)",
              name);
  b->state = REQ_IN_SUBMIT;
  b->owner = owner;
  b->ws = ws;
  pthread_mutex_unlock(&kit.lock);
  stamp t0 = stamp_now();
  int rc = fn(owner, req);
  timed(name, t0);
  pthread_mutex_lock(&kit.lock);
  b = book_of(req);
  if (rc == 0) {
    kit.n.accepted++;
    if (b->state == REQ_IN_SUBMIT)
      b->state = REQ_ACCEPTED;
    else /* already reported from inside submit: flagged there */
      b->state = REQ_IDLE;
  } else {
    kit.n.refused++;
    b->state = REQ_REFUSED;
    b->refused_unclaimed = 1;
    b->owner = NULL;
    b->ws = NULL;
    if (rc > 0)
      violation("%s returned %d: errors must be negative RL_ERR_* codes", name,
                rc);
  }
  pthread_mutex_unlock(&kit.lock);
  return rc;
}

static int w_session_submit(void *session, rl_request *req) {
  wsession *w = session;
  return submit_common("session_submit", kit_orig.session_submit, w->inner, w,
                       req);
}

static int read_timed(wsession *w, const uint8_t *data, size_t len) {
  stamp t0 = stamp_now();
  int rc = kit_orig.session_on_read(w->inner, data, len);
  timed("session_on_read", t0);
  return rc;
}

static void drop_held(wsession *w) {
  while (w->head) {
    chunk *c = w->head;
    w->head = c->next;
    free(c);
  }
  w->tail = &w->head;
}

static void deliver(rl_timer *t, void *arg);

/* Arms the hand-over for the oldest held read, unless armed or holding. */
static int arm(wsession *w) {
  if (w->timer || !w->head || w->holding)
    return 0;
  uint64_t now = rl__now_ns();
  uint64_t due = w->head->due_ns;
  w->timer =
      kit_host.timer_start(w->loop, due > now ? due - now : 0, deliver, w);
  return w->timer ? 0 : RL_ERR_NOMEM;
}

/*
 * Hands the held reads whose time has come to the plugin, as the core's
 * read would: an error it returns fails the connection (the core's own
 * words for it, unless the plugin gave a reason with conn_fail first), and
 * a close it asks for stops the hand-over.
 */
static void deliver(rl_timer *t, void *arg) {
  (void)t;
  wsession *w = arg;
  w->timer = NULL;
  uint64_t now = rl__now_ns();
  wsession *outer = delivering;
  delivering = w;
  while (w->head && !w->holding && !w->closing && w->head->due_ns <= now) {
    chunk *c = w->head;
    w->head = c->next;
    if (!w->head)
      w->tail = &w->head;
    int rc = read_timed(w, c->data, c->len);
    free(c);
    if (rc < 0) {
      char why[160];
      snprintf(why, sizeof why, "%s: %s from server", kit_orig.name,
               rl_strerror(rc));
      w->closing = 1;
      rl__host()->conn_fail(w->conn, why);
    }
  }
  delivering = outer;
  if (w->closing)
    drop_held(w);
  else if (arm(w))
    rl__host()->conn_fail(w->conn, "rpcload-conformance: out of memory");
}

static int hold(wsession *w, const uint8_t *data, size_t len, uint64_t due) {
  chunk *c = malloc(sizeof *c + len);
  if (!c)
    return RL_ERR_NOMEM;
  c->next = NULL;
  c->due_ns = due;
  c->len = len;
  memcpy(c->data, data, len);
  *w->tail = c;
  w->tail = &c->next;
  return arm(w);
}

/* A delay of KIT_DELAY_MIN_MS..KIT_DELAY_MAX_MS, drawn per read. */
static uint64_t draw_delay_ns(wsession *w) {
  w->rng ^= w->rng << 13;
  w->rng ^= w->rng >> 7;
  w->rng ^= w->rng << 17;
  uint64_t ms =
      KIT_DELAY_MIN_MS + w->rng % (KIT_DELAY_MAX_MS - KIT_DELAY_MIN_MS + 1);
  return ms * 1000000u;
}

static int w_session_on_read(void *session, const uint8_t *data, size_t len) {
  wsession *w = session;
  if (w->closing)
    return 0; /* the plugin is done with it; the core closes it */
  switch (kit.fault) {
  case FAULT_SPLIT: {
    /* A reply in as many pieces as it has bytes: a codec must keep its
     * parse state across reads. */
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0; i++)
      rc = read_timed(w, data + i, 1);
    return rc;
  }
  case FAULT_CLOSE:
    if (w->cut && w->reads++ == 0 && len >= 2) {
      /* The server goes away in the middle of the reply: half of it,
       * then the close. Whatever the plugin held must end once. */
      int rc = read_timed(w, data, len / 2);
      pthread_mutex_lock(&kit.lock);
      kit.n.cut_replies++;
      pthread_mutex_unlock(&kit.lock);
      kit_host.conn_close(w->conn);
      return rc;
    }
    break;
  case FAULT_DELAY: {
    /* The network is slow: every read comes 20-100 ms late, in order. */
    uint64_t due = rl__now_ns() + draw_delay_ns(w);
    if (due < w->last_due_ns)
      due = w->last_due_ns;
    w->last_due_ns = due;
    pthread_mutex_lock(&kit.lock);
    kit.n.delayed++;
    pthread_mutex_unlock(&kit.lock);
    return hold(w, data, len, due);
  }
  case FAULT_TIMEOUT:
    if (w->may_hold && !w->held && w->ok_events >= 2) {
      /* The server answered; the kit swallows it, and what follows,
       * until the host's request timeout ends a request. */
      w->held = w->holding = 1;
      pthread_mutex_lock(&kit.lock);
      kit.n.withheld++;
      pthread_mutex_unlock(&kit.lock);
    }
    if (w->holding || w->head)
      return hold(w, data, len, 0);
    break;
  default:
    break;
  }
  return read_timed(w, data, len);
}

static void w_session_del(void *session, int err, const char *reason) {
  wsession *w = session;
  if (w->timer)
    kit_host.timer_stop(w->timer);
  w->timer = NULL;
  /* What the kit still held dies with the connection: a withheld reply
   * stays swallowed; a delayed one was overtaken by the close. */
  w->del_dropped = w->head != NULL;
  drop_held(w);
  w->in_del = 1;
  w->del_err = err;
  stamp t0 = stamp_now();
  kit_orig.session_del(w->inner, err, reason);
  timed("session_del", t0);
  check_owner_empty(w->inner, err == RL_ERR_TIMEOUT
                                  ? "session_del after a request timeout"
                                  : "session_del");
  free(w);
}

static uint32_t w_session_max_concurrent(void *session) {
  const wsession *w = session;
  return kit_orig.session_max_concurrent(w->inner);
}

/* The host's request timeout ends one request while others go on. A
 * connection whose replies the kit withheld gets them now, late: the
 * plugin must drop the one for the request it just ended. */
static int w_session_cancel(void *session, rl_request *req,
                            const char *reason) {
  wsession *w = session;
  w->in_cancel = 1;
  stamp t0 = stamp_now();
  int rc = kit_orig.session_cancel(w->inner, req, reason);
  timed("session_cancel", t0);
  w->in_cancel = 0;
  if (!w->holding && arm(w))
    return RL_ERR_NOMEM;
  return rc;
}

static int w_session_ready(void *session) {
  const wsession *w = session;
  return kit_orig.session_ready(w->inner);
}

static int w_transport_new(const rl_host *host, rl_loop *loop, void *step,
                           const rl_transport_info *info, void **transport) {
  (void)host;
  stamp t0 = stamp_now();
  int rc = kit_orig.transport_new(&kit_host, loop, step, info, transport);
  timed("transport_new", t0);
  return rc;
}

static int w_transport_submit(void *transport, rl_request *req) {
  return submit_common("transport_submit", kit_orig.transport_submit, transport,
                       NULL, req);
}

static void w_transport_del(void *transport, int err, const char *reason) {
  stamp t0 = stamp_now();
  kit_orig.transport_del(transport, err, reason);
  timed("transport_del", t0);
  check_owner_empty(transport, "transport_del");
}

void kit_wrap(rl__plugin *p) {
  kit_orig = p->desc;
  kit_host = *rl__host();
  kit_host.request_done = kit_request_done;
  kit_host.request_retry = kit_request_retry;
  kit_host.request_move = kit_request_move;
  kit_host.conn_close = kit_conn_close;
  kit_host.conn_fail = kit_conn_fail;
  if (kit_orig.init)
    p->desc.init = w_init;
  p->desc.step_new = w_step_new;
  if (kit_orig.kind == RL_PLUGIN_CODEC) {
    p->desc.session_new = w_session_new;
    p->desc.session_submit = w_session_submit;
    p->desc.session_on_read = w_session_on_read;
    p->desc.session_del = w_session_del;
    if (kit_orig.session_max_concurrent)
      p->desc.session_max_concurrent = w_session_max_concurrent;
    if (kit_orig.session_cancel)
      p->desc.session_cancel = w_session_cancel;
    if (kit_orig.session_ready)
      p->desc.session_ready = w_session_ready;
  } else {
    p->desc.transport_new = w_transport_new;
    p->desc.transport_submit = w_transport_submit;
    p->desc.transport_del = w_transport_del;
  }
}

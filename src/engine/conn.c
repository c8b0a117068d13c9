#include "engine/conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "base/clock.h"
#include "base/log.h"
#include "engine/loop.h"
#include "engine/request.h"
#include "engine/target.h"

/* A request re-sent this many times after its connection closed before the
 * session took it is failed instead, so a server that closes every new
 * connection cannot make a request loop for ever. */
#define MAX_RETRIES 1

static void conn_io_cb(struct ev_loop *loop, ev_io *io, int revents);
static void conn_timer_cb(struct ev_loop *loop, ev_timer *t, int revents);
static void conn_connect(rl_conn *c);
static void connect_when_due(rl_conn *c);

void rl__conn_init(rl_conn *c, rl_loop *loop, const struct rl__target *t) {
  memset(c, 0, sizeof *c);
  c->loop = loop;
  c->t = t;
  c->fd = -1;
  c->v = &t->v[0];
  ev_init(&c->io, conn_io_cb);
  c->io.data = c;
  ev_init(&c->timer, conn_timer_cb);
  c->timer.data = c;
  /* The backoff's jitter: different per connection, repeatable per seed. */
  c->rng = loop->seed ^ (uint64_t)(uintptr_t)c;
}

void rl__conn_trim(rl_conn *c) {
  /* Only an empty buffer: a TLS write that must be retried needs the
   * same bytes where they were. */
  if (c->wbuf == NULL || c->wlen != 0)
    return;
  free(c->wbuf);
  c->wbuf = NULL;
  c->wcap = 0;
}

void rl__conn_free(rl_conn *c) {
  free(c->wbuf);
  c->wbuf = NULL;
  c->wcap = c->wlen = c->woff = 0;
  if (c->resume)
    SSL_SESSION_free(c->resume);
  c->resume = NULL;
}

/* "Connection refused" -> "connection refused": error texts read as one
 * sentence in the report. */
static void errno_text(int e, char *buf, size_t len) {
  char tmp[128];
  if (strerror_r(e, tmp, sizeof tmp) != 0)
    snprintf(tmp, sizeof tmp, "error %d", e);
  if (tmp[0] >= 'A' && tmp[0] <= 'Z' && !(tmp[1] >= 'A' && tmp[1] <= 'Z'))
    tmp[0] = (char)(tmp[0] - 'A' + 'a');
  snprintf(buf, len, "%s", tmp);
}

static void seconds_text(uint64_t ns, char *buf, size_t len) {
  snprintf(buf, len, "%gs", (double)ns / 1e9);
}

static void set_events(rl_conn *c, int events) {
  if (c->events == events)
    return;
  if (c->events)
    ev_io_stop(c->loop->ev, &c->io);
  if (events) {
    ev_io_set(&c->io, c->fd, events);
    ev_io_start(c->loop->ev, &c->io);
  }
  c->events = (uint8_t)events;
}

static void queue_push(rl_conn *c, rl_request *req) {
  req->next = NULL;
  req->conn = c;
  if (c->q_tail)
    c->q_tail->next = req;
  else
    c->q_head = req;
  c->q_tail = req;
}

static rl_request *queue_pop(rl_conn *c) {
  rl_request *req = c->q_head;
  if (req) {
    c->q_head = req->next;
    if (!c->q_head)
      c->q_tail = NULL;
    req->next = NULL;
  }
  return req;
}

static void inflight_link(rl_conn *c, rl_request *req) {
  req->in_next = NULL;
  req->in_prev = c->in_tail;
  if (c->in_tail)
    c->in_tail->in_next = req;
  else
    c->in_head = req;
  c->in_tail = req;
  c->inflight++;
  c->own_timeouts += req->timeout_ns != 0;
}

static void inflight_unlink(rl_conn *c, rl_request *req) {
  if (req->in_prev)
    req->in_prev->in_next = req->in_next;
  else if (c->in_head == req)
    c->in_head = req->in_next;
  else
    return; /* not in the list */
  if (req->in_next)
    req->in_next->in_prev = req->in_prev;
  else
    c->in_tail = req->in_prev;
  req->in_prev = req->in_next = NULL;
  c->inflight--;
  c->unlinked++;
  c->own_timeouts -= req->timeout_ns != 0;
}

/* A request the server turned away a second time (a GOAWAY or close
 * before it was processed): it is not sent a third time, and its failure
 * says why it was not. */
static void fail_spent(rl_request *req, const char *reason) {
  char why[320];
  snprintf(why, sizeof why, "%.280s (again after one retry)",
           reason ? reason : "not processed");
  rl__request_fail(req, why);
}

static void fail_queue(rl_conn *c, const char *reason) {
  for (rl_request *req; (req = queue_pop(c));)
    rl__request_fail(req, reason);
}

/* A request's timeout: its own, else the target's (0: none). */
static uint64_t limit_of(const rl_conn *c, const rl_request *req) {
  return req->timeout_ns ? req->timeout_ns : c->t->request_timeout_ns;
}

/* Starts the request timeout when the connection goes from idle to busy.
 * The timer is not restarted per request: when it fires it looks at the
 * oldest request in flight and re-arms itself for what that one has left
 * (libev's recommended way for timeouts), so the hot path does no timer
 * work. A request with a timeout of its own (req, just handed) may end
 * before the timer would fire: then the timer is moved earlier. */
static void arm_request_timer(rl_conn *c, const rl_request *req) {
  uint64_t limit = limit_of(c, req);
  if (!limit || (ev_is_active(&c->timer) && !c->own_timeouts))
    return;
  double after = (double)limit / 1e9;
  if (ev_is_active(&c->timer)) {
    if (ev_timer_remaining(c->loop->ev, &c->timer) <= after)
      return;
    ev_timer_stop(c->loop->ev, &c->timer);
  }
  ev_timer_set(&c->timer, after, 0.);
  ev_timer_start(c->loop->ev, &c->timer);
}

static void close_socket(rl_conn *c) {
  set_events(c, 0);
  /* Unconditionally: a timeout that expired this loop round is inactive
   * but pending, and would still call back on the closed connection. */
  ev_timer_stop(c->loop->ev, &c->timer);
  if (c->ssl) {
    if (c->was_open) {
      SSL_SESSION *s = SSL_get1_session(c->ssl);
      if (s) {
        if (c->resume)
          SSL_SESSION_free(c->resume);
        c->resume = s;
      }
      /* Freed without a shutdown, OpenSSL would drop the session from the
       * cache and mark it not resumable. A working connection's session
       * stays good (TLS 1.1 on: no close_notify needed to resume); one
       * that failed with an alert was already marked. No I/O here. */
      SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    }
    SSL_free(c->ssl);
    c->ssl = NULL;
  }
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
  c->state = RL__CONN_CLOSED;
  c->wlen = c->woff = 0;
}

/* The server has completed a request on this connection: later failures
 * are no failed attempt, and the backoff starts over. */
static void answered(rl_conn *c) {
  c->done_any = 1;
  rl__backoff_reset(&c->backoff);
  /* The target is shared and const to connections but for this flag. */
  atomic_int *seen = (atomic_int *)&c->t->answered;
  if (!atomic_load_explicit(seen, memory_order_relaxed))
    atomic_store_explicit(seen, 1, memory_order_relaxed);
}

/* The target's backoff policy (NULL: the short one). */
static const rl__backoff_policy *backoff_policy(const rl_conn *c) {
  return c->t->backoff ? c->t->backoff : &rl__backoff_short;
}

/* A connection attempt failed: the next waits (engine/backoff.h). */
static void attempt_failed(rl_conn *c) {
  c->retry_ns = rl__backoff_failed(backoff_policy(c), &c->backoff,
                                   c->attempt_ns, &c->rng);
}

void rl__conn_shutdown(rl_conn *c, int err, const char *reason) {
  if (c->state == RL__CONN_CLOSED && !c->q_head)
    return;
  int was_open = c->was_open;
  /* An attempt that failed: before it was open, or before the server
   * completed any request it was given. A close we asked for (a stop),
   * or an idle connection the server closed, is not one. */
  int failed = c->state != RL__CONN_CLOSED && err != RL_ERR_CANCELLED &&
               !c->loop->cutting && !c->done_any &&
               (c->state != RL__CONN_OPEN || c->asked);
  char hinted[320];
  if (failed && was_open && !c->t->tls && err != RL_ERR_TIMEOUT &&
      !atomic_load_explicit(&c->t->answered, memory_order_relaxed)) {
    /* Plain text to a TLS server gets closed, reset or answered with
     * what no plugin parses, before anything completes: say what it
     * looks like, as the reflection client does. A server that answered
     * a connection before speaks plain text: no hint then (a reset of a
     * new connection's first request is only a reset). */
    snprintf(hinted, sizeof hinted, "%s (does it want TLS?)",
             reason ? reason : "connection failed");
    reason = hinted;
  }
  close_socket(c);
  c->close_later = 0;
  c->draining = 0;
  c->preface = 0;
  free(c->fail_reason);
  c->fail_reason = NULL;
  c->was_open = 0;
  if (c->session) {
    void *s = c->session;
    c->session = NULL;
    c->v->plugin->desc.session_del(s, err, reason);
  }
  /* Counted after session_del: a request it moved on (rl__conn_move: a
   * redirect whose body ended with the connection) was an answer. */
  if (failed && !c->done_any)
    attempt_failed(c);
  if (c->inflight) {
    /* A plugin that broke the one-event contract: say so once, and keep
     * the books straight rather than hang the user for ever. */
    rl__log(RL__LOG_ERROR,
            "plugin %s ended a session with %u request(s) "
            "unreported",
            c->v->plugin->desc.name, c->inflight);
    while (c->in_head)
      inflight_unlink(c, c->in_head);
    c->inflight = 0;
  }
  if (!c->q_head)
    return;
  /* Requests the session never took were not sent: after a clean close of
   * a working connection they go out again on a new one, each once (those
   * already re-sent fail; on a shared connection they may sit beside
   * fresh ones). */
  if (was_open && err != RL_ERR_CANCELLED && !c->loop->cutting) {
    rl_request *q = c->q_head, *spent = NULL, **spent_tail = &spent;
    c->q_head = c->q_tail = NULL;
    while (q) {
      rl_request *r = q;
      q = r->next;
      if (r->retries >= MAX_RETRIES) {
        r->next = NULL;
        *spent_tail = r;
        spent_tail = &r->next;
      } else {
        r->retries++;
        queue_push(c, r);
      }
    }
    while (spent) {
      rl_request *r = spent;
      spent = r->next;
      r->next = NULL;
      fail_spent(r, reason);
    }
    if (c->q_head && c->state == RL__CONN_CLOSED)
      connect_when_due(c);
    return;
  }
  fail_queue(c, reason);
}

/* Ends a connection that failed, with a reason made here. */
static void conn_fail(rl_conn *c, int err, const char *reason) {
  rl__conn_shutdown(c, err, reason);
}

static void flush(rl_conn *c) {
  while (c->woff < c->wlen) {
    size_t left = c->wlen - c->woff;
    ssize_t n;
    if (c->ssl) {
      int r = SSL_write(c->ssl, c->wbuf + c->woff,
                        left > INT32_MAX ? INT32_MAX : (int)left);
      if (r <= 0) {
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
          set_events(c, EV_READ | EV_WRITE);
          return;
        }
        char why[256];
        rl__tls_error_text(c->ssl, e, why, sizeof why);
        conn_fail(c, RL_ERR_TLS, why);
        return;
      }
      n = r;
    } else {
      n = send(c->fd, c->wbuf + c->woff, left, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          set_events(c, EV_READ | EV_WRITE);
          return;
        }
        if (errno == EINTR)
          continue;
        char why[128];
        errno_text(errno, why, sizeof why);
        conn_fail(c, RL_ERR_IO, why);
        return;
      }
    }
    c->woff += (size_t)n;
  }
  c->wlen = c->woff = 0;
  set_events(c, EV_READ);
}

/* Hands queued requests to the session while it has room. The session's
 * capacity is asked again each time: HTTP/2 servers change it. */
static void dispatch(rl_conn *c) {
  if (c->state != RL__CONN_OPEN)
    return;
  const rl_plugin *p = &c->v->plugin->desc;
  if (c->preface) {
    if (p->session_ready && !p->session_ready(c->session))
      return; /* its preface awaits the server's reply */
    c->preface = 0;
    /* The preface's timeout; no request is in flight yet. */
    ev_timer_stop(c->loop->ev, &c->timer);
  }
  if (c->q_head && c->state == RL__CONN_OPEN && p->session_max_concurrent) {
    c->max_concurrent = p->session_max_concurrent(c->session);
    if (c->max_concurrent == 0)
      c->max_concurrent = 1;
  }
  while (c->q_head && c->state == RL__CONN_OPEN && !c->close_later &&
         !c->draining && c->inflight < c->max_concurrent) {
    rl_request *req = queue_pop(c);
    req->handed_ns = rl__now_ns();
    inflight_link(c, req);
    arm_request_timer(c, req);
    rl__request_refuse_begin(req);
    int rc = p->session_submit(c->session, req);
    c->asked = 1;
    if (rc < 0) {
      inflight_unlink(c, req);
      rl__request_refused(req, p->name, rc);
    }
  }
}

/* The plugin failed the connection with its own reason (ABI 1.6
 * conn_fail): what waits for the session fails with that reason rather
 * than going to a new connection, which would fail the same way, and
 * the next connection waits out the backoff. */
static void plugin_failed(rl_conn *c) {
  char why[256];
  snprintf(why, sizeof why, "%s", c->fail_reason);
  free(c->fail_reason);
  c->fail_reason = NULL;
  flush(c); /* best effort: what it wrote before (a QUIT) */
  if (c->state != RL__CONN_OPEN)
    return;
  if (!c->inflight && !c->q_head) {
    /* No request carries the reason into the stats (bytes nobody asked
     * for on an idle connection): say it once per run, not per
     * connection. */
    static atomic_int said;
    if (!atomic_exchange_explicit(&said, 1, memory_order_relaxed))
      rl__log(RL__LOG_WARN,
              "%s closed an idle connection: %s (further ones are not "
              "logged)",
              c->v->plugin->desc.name, why);
  }
  c->was_open = 0; /* the queue fails; no "does it want TLS?" guess */
  c->asked = 1;    /* a failed attempt, unless the server answered before */
  rl__conn_shutdown(c, RL_ERR_PROTO, why);
}

/* What follows every call into the plugin: honour a close it asked for,
 * feed it more requests, send what it wrote. */
static void after_plugin(rl_conn *c) {
  if (c->state != RL__CONN_OPEN)
    return;
  if (c->fail_reason) {
    plugin_failed(c);
    return;
  }
  if (c->close_later || (c->draining && !c->inflight)) {
    flush(c); /* best effort: what it wrote before asking to close */
    if (c->state == RL__CONN_OPEN)
      rl__conn_shutdown(c, RL_ERR_CLOSED, "connection closed");
    return;
  }
  dispatch(c);
  if (c->state == RL__CONN_OPEN && c->wlen > c->woff)
    flush(c);
}

static void established(rl_conn *c) {
  ev_timer_stop(c->loop->ev, &c->timer); /* also when expired but pending */
  const unsigned char *alpn = NULL;
  unsigned alpn_len = 0;
  char alpn_buf[256];
  if (c->ssl)
    SSL_get0_alpn_selected(c->ssl, &alpn, &alpn_len);
  if (alpn_len) {
    memcpy(alpn_buf, alpn, alpn_len);
    alpn_buf[alpn_len] = 0;
  }
  rl_conn_info info = {
      .struct_size = sizeof info,
      .alpn = alpn_len ? alpn_buf : NULL,
      .host = c->t->host,
      .port = c->t->port,
      .tls = c->t->tls,
  };
  c->v = rl__target_variant_for_alpn(c->t, info.alpn);
  if (!c->v) {
    char why[200];
    c->v = &c->t->v[0];
    snprintf(why, sizeof why,
             "server agreed to no protocol %s speaks (ALPN: %s; offered: %s)",
             c->t->v[0].plugin->desc.name, info.alpn ? info.alpn : "none",
             c->t->v[0].plugin->desc.alpn ? c->t->v[0].plugin->desc.alpn[0]
                                          : "none");
    conn_fail(c, RL_ERR_TLS, why);
    return;
  }
  c->state = RL__CONN_OPEN;
  c->was_open = 1;
  const rl_plugin *p = &c->v->plugin->desc;
  int rc = p->session_new(c->loop->host, c, &info, &c->session);
  if (rc < 0) {
    char why[160];
    c->session = NULL;
    snprintf(why, sizeof why, "%s could not start a session: %s", p->name,
             rl_strerror(rc));
    conn_fail(c, rc, why);
    return;
  }
  c->max_concurrent =
      p->session_max_concurrent ? p->session_max_concurrent(c->session) : 1;
  if (c->max_concurrent == 0)
    c->max_concurrent = 1;
  if (p->session_ready && !c->fail_reason && !p->session_ready(c->session)) {
    /* A preface awaits its reply: part of connecting, so within the
     * connect timeout. */
    c->preface = 1;
    if (c->t->connect_timeout_ns) {
      ev_timer_set(&c->timer, (double)c->t->connect_timeout_ns / 1e9, 0.);
      ev_timer_start(c->loop->ev, &c->timer);
    }
  }
  set_events(c, EV_READ);
  after_plugin(c);
}

static void handshake(rl_conn *c) {
  ERR_clear_error();
  int r = SSL_do_handshake(c->ssl);
  if (r == 1) {
    established(c);
    return;
  }
  int e = SSL_get_error(c->ssl, r);
  if (e == SSL_ERROR_WANT_READ) {
    set_events(c, EV_READ);
    return;
  }
  if (e == SSL_ERROR_WANT_WRITE) {
    set_events(c, EV_WRITE);
    return;
  }
  char why[300], text[256];
  snprintf(why, sizeof why, "TLS handshake failed: %s",
           rl__tls_error_text(c->ssl, e, text, sizeof text));
  conn_fail(c, RL_ERR_TLS, why);
}

static void connected(rl_conn *c) {
  if (!c->t->tls) {
    established(c);
    return;
  }
  c->ssl = rl__tls_new(c->t->ssl_ctx, c->fd,
                       c->t->tls_name ? c->t->tls_name : c->t->host,
                       c->t->verify, c->resume);
  if (!c->ssl) {
    conn_fail(c, RL_ERR_TLS, "cannot start TLS");
    return;
  }
  c->state = RL__CONN_HANDSHAKE;
  handshake(c);
}

static void conn_connect(rl_conn *c) {
  const rl__target *t = c->t;
  char why[160];
  c->attempt_ns = rl__now_ns();
  c->asked = c->done_any = 0;
  int fd =
      socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    int e = errno;
    errno_text(e, why, sizeof why);
    char full[200];
    snprintf(full, sizeof full, "cannot open a socket: %s", why);
    attempt_failed(c);
    fail_queue(c, full);
    return;
  }
  if (t->sources &&
      rl__sources_bind(t->sources, fd, t->addr.ss_family, why, sizeof why)) {
    close(fd);
    attempt_failed(c);
    fail_queue(c, why);
    return;
  }
  int one = 1;
  /* Requests are written whole; Nagle would only hold back their tail. */
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->fd = fd;
  c->state = RL__CONN_CONNECTING;
  c->was_open = 0;
  c->v = &t->v[0];
  if (connect(fd, (const struct sockaddr *)&t->addr, t->addrlen) == 0) {
    connected(c);
    return;
  }
  if (errno != EINPROGRESS) {
    errno_text(errno, why, sizeof why);
    conn_fail(c, RL_ERR_CONNECT, why);
    return;
  }
  set_events(c, EV_WRITE);
  if (t->connect_timeout_ns) {
    ev_timer_set(&c->timer, (double)t->connect_timeout_ns / 1e9, 0.);
    ev_timer_start(c->loop->ev, &c->timer);
  }
}

/* Connects now, or when the backoff after a failed attempt allows: the
 * queued requests wait for it (their wait counts in their response
 * time). */
static void connect_when_due(rl_conn *c) {
  uint64_t now = rl__now_ns();
  if (c->retry_ns <= now) {
    conn_connect(c);
    return;
  }
  if (!ev_is_active(&c->timer)) {
    ev_timer_set(&c->timer, (double)(c->retry_ns - now) / 1e9, 0.);
    ev_timer_start(c->loop->ev, &c->timer);
  }
}

/* Users resumed in one round often submit on the same connection (HTTP/2
 * streams): their bytes go out in one send when the round ends, not one
 * send per request. */
static void schedule_flush(rl_conn *c) {
  if (c->flush_pending)
    return;
  c->flush_pending = 1;
  c->next_flush = c->loop->flush_head;
  c->loop->flush_head = c;
}

void rl__conn_flush_scheduled(rl_loop *loop) {
  while (loop->flush_head) {
    rl_conn *c = loop->flush_head;
    loop->flush_head = c->next_flush;
    c->next_flush = NULL;
    c->flush_pending = 0;
    /* Also what a plugin asked for between the connection's callbacks
     * (its own timer: a close, a drain): as after any call into it. */
    after_plugin(c);
  }
}

void rl__conn_submit(rl_conn *c, rl_request *req) {
  queue_push(c, req);
  switch (c->state) {
  case RL__CONN_CLOSED:
    connect_when_due(c);
    break;
  case RL__CONN_OPEN:
    if (c->close_later || c->draining) {
      after_plugin(c);
      break;
    }
    dispatch(c);
    if (c->state == RL__CONN_OPEN && c->wlen > c->woff)
      schedule_flush(c);
    break;
  default: /* connecting: the queue drains once the session exists */
    break;
  }
}

static void on_readable(rl_conn *c) {
  const rl_plugin *p = &c->v->plugin->desc;
  uint8_t *buf = c->loop->rbuf;
  size_t size = c->loop->rbuf_size;
  /* Plain sockets: one read per wake-up unless it filled the buffer. TLS:
   * until OpenSSL has nothing buffered, since epoll cannot see its buffer. */
  for (int rounds = 0; rounds < 64 && c->state == RL__CONN_OPEN; rounds++) {
    ssize_t n;
    if (c->ssl) {
      ERR_clear_error();
      int r = SSL_read(c->ssl, buf, size > INT32_MAX ? INT32_MAX : (int)size);
      if (r <= 0) {
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
          break;
        if (e == SSL_ERROR_ZERO_RETURN ||
            (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && errno == 0)) {
          rl__conn_shutdown(c, RL_ERR_CLOSED, "connection closed by server");
          return;
        }
        char why[256];
        rl__tls_error_text(c->ssl, e, why, sizeof why);
        conn_fail(c, e == SSL_ERROR_SYSCALL ? RL_ERR_IO : RL_ERR_TLS, why);
        return;
      }
      n = r;
    } else {
      n = recv(c->fd, buf, size, 0);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
          break;
        if (errno == EINTR)
          continue;
        char why[128];
        errno_text(errno, why, sizeof why);
        conn_fail(c, RL_ERR_IO, why);
        return;
      }
      if (n == 0) {
        rl__conn_shutdown(c, RL_ERR_CLOSED, "connection closed by server");
        return;
      }
    }
    /* Requests the session ends in a read that fails were failed by the
     * plugin for the connection's sake: no sign the server answers. */
    c->in_read = 1;
    c->ended_in_read = 0;
    int rc = p->session_on_read(c->session, buf, (size_t)n);
    c->in_read = 0;
    if (rc >= 0 && c->ended_in_read)
      answered(c);
    if (rc < 0 && c->fail_reason) {
      plugin_failed(c);
      return;
    }
    if (rc < 0) {
      char why[160];
      snprintf(why, sizeof why, "%s: %s from server", p->name, rl_strerror(rc));
      conn_fail(c, rc, why);
      return;
    }
    if (c->close_later || c->fail_reason || (!c->ssl && (size_t)n < size))
      break;
  }
  after_plugin(c);
}

static void conn_io_cb(struct ev_loop *loop, ev_io *io, int revents) {
  (void)loop;
  rl_conn *c = io->data;
  switch (c->state) {
  case RL__CONN_CONNECTING: {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
      err = errno;
    if (err) {
      char why[128];
      errno_text(err, why, sizeof why);
      conn_fail(c, RL_ERR_CONNECT, why);
      break;
    }
    /* The connect timeout covers the TLS handshake too: leave it. Else
     * stop it, also when it expired this round and is only pending. */
    if (!c->t->tls)
      ev_timer_stop(c->loop->ev, &c->timer);
    connected(c);
    break;
  }
  case RL__CONN_HANDSHAKE:
    handshake(c);
    break;
  case RL__CONN_OPEN:
    if (revents & EV_READ)
      on_readable(c);
    if (c->state == RL__CONN_OPEN && (revents & EV_WRITE))
      flush(c);
    break;
  default:
    break;
  }
  c->loop->after_event(c->loop);
}

/* Ends the requests whose time is up, oldest first: alone through the
 * plugin's session_cancel when it has one (HTTP/2 resets one stream), else
 * by closing the connection, which ends them all. Then waits for the next
 * oldest. */
static void expire_requests(rl_conn *c) {
  const rl_plugin *p = &c->v->plugin->desc;
  uint64_t now = rl__now_ns();
  char why[96], secs[32];
  /* With timeouts of their own in flight, any may be the next to end: each
   * is looked at (a connection's few), else only the oldest. The one whose
   * deadline came first ends first (a late timer may find several due).
   * After each cancel the list is walked again: ending one may end or send
   * others. */
  for (;;) {
    rl_request *due = NULL;
    uint64_t soonest = UINT64_MAX, limit = 0; /* the next deadline */
    for (rl_request *req = c->in_head; req; req = req->in_next) {
      uint64_t l = limit_of(c, req);
      if (!l)
        continue;
      if (req->handed_ns + l < soonest) {
        soonest = req->handed_ns + l;
        limit = l;
        due = now - req->handed_ns >= l ? req : NULL;
      }
      if (!c->own_timeouts)
        break;
    }
    if (!due) {
      if (soonest != UINT64_MAX) {
        ev_timer_set(&c->timer, (double)(soonest - now) / 1e9, 0.);
        ev_timer_start(c->loop->ev, &c->timer);
      }
      break;
    }
    seconds_text(limit, secs, sizeof secs);
    snprintf(why, sizeof why, "timed out after %s", secs);
    uint64_t ended = c->unlinked;
    if (!p->session_cancel || p->session_cancel(c->session, due, why) != 0 ||
        c->unlinked == ended) {
      conn_fail(c, RL_ERR_TIMEOUT, why);
      return;
    }
    if (c->state != RL__CONN_OPEN)
      return;
  }
  after_plugin(c); /* send the resets; refill the freed capacity */
}

static void conn_timer_cb(struct ev_loop *loop, ev_timer *tm, int revents) {
  (void)loop;
  (void)revents;
  rl_conn *c = tm->data;
  char why[96], secs[32];
  if (c->state == RL__CONN_CLOSED) {
    /* The backoff is over, unless libev's cached time lagged the clock
     * when the timer was set (a stalled loop): then the timer fired early
     * by the lag, and it is set again for the rest. */
    if (c->q_head)
      connect_when_due(c);
  } else if (c->state == RL__CONN_CONNECTING ||
             c->state == RL__CONN_HANDSHAKE) {
    seconds_text(c->t->connect_timeout_ns, secs, sizeof secs);
    snprintf(why, sizeof why, "%s timed out after %s",
             c->state == RL__CONN_CONNECTING ? "connect" : "TLS handshake",
             secs);
    conn_fail(c, RL_ERR_TIMEOUT, why);
  } else if (c->state == RL__CONN_OPEN && c->preface) {
    seconds_text(c->t->connect_timeout_ns, secs, sizeof secs);
    snprintf(why, sizeof why, "connection preface timed out after %s", secs);
    c->was_open = 0; /* the requests waiting for it fail, not re-sent */
    c->asked = 1;
    conn_fail(c, RL_ERR_TIMEOUT, why);
  } else if (c->state == RL__CONN_OPEN && c->in_head) {
    expire_requests(c);
  }
  c->loop->after_event(c->loop);
}

void rl__conn_request_ended(rl_request *req) {
  rl_conn *c = req->conn;
  inflight_unlink(c, req);
  /* Ended on an open connection: the server answers, and attempts start
   * over; inside a read, once the read has worked. (Requests a shutdown
   * ends come here once it has closed.) */
  if (!c->done_any && c->state == RL__CONN_OPEN) {
    if (c->in_read)
      c->ended_in_read = 1;
    else
      answered(c);
  }
}

/* Whether the session of c holds req (handed to it, not yet ended). */
static int session_holds(const rl_conn *c, const rl_request *req) {
  if (!c || c->state != RL__CONN_OPEN || !c->session)
    return 0;
  for (const rl_request *r = c->in_head; r; r = r->in_next)
    if (r == req)
      return 1;
  return 0;
}

void rl__conn_read_more(rl_request *req) {
  rl_conn *c = req->conn;
  if (!session_holds(c, req) || !c->v->plugin->desc.session_read_more)
    return;
  c->v->plugin->desc.session_read_more(c->session, req);
  after_plugin(c);
}

int rl__conn_cancel(rl_request *req, const char *reason) {
  rl_conn *c = req->conn;
  if (!session_holds(c, req) || !c->v->plugin->desc.session_cancel)
    return RL_ERR_INVAL;
  uint64_t ended = c->unlinked;
  if (c->v->plugin->desc.session_cancel(c->session, req, reason) != 0 ||
      c->unlinked == ended) {
    conn_fail(c, RL_ERR_CANCELLED, reason); /* it broke its contract */
    return 0;
  }
  after_plugin(c);
  return 0;
}

int rl__conn_write(rl_conn *c, const void *data, size_t len) {
  if (c->state != RL__CONN_OPEN)
    return RL_ERR_CLOSED;
  if (c->wlen + len > c->wcap) {
    size_t cap = c->wcap ? c->wcap : 256;
    while (cap < c->wlen + len)
      cap *= 2;
    uint8_t *b = realloc(c->wbuf, cap);
    if (!b)
      return RL_ERR_NOMEM;
    c->wbuf = b;
    c->wcap = cap;
  }
  memcpy(c->wbuf + c->wlen, data, len);
  c->wlen += len;
  /* From a plugin's own timer (ABI 1.4 conn_loop) no callback of the
   * connection's ends to send it: the round's flush does. */
  schedule_flush(c);
  return 0;
}

void rl__conn_close_later(rl_conn *c) {
  c->close_later = 1;
  schedule_flush(c);
}

void rl__conn_fail_later(rl_conn *c, const char *reason) {
  if (c->state != RL__CONN_OPEN || c->fail_reason)
    return; /* the first reason is the one that counts */
  c->fail_reason = strdup(reason && *reason ? reason : "failed");
  if (!c->fail_reason)
    c->close_later = 1; /* out of memory: at least close */
  schedule_flush(c);
}

void rl__conn_drain(rl_conn *c) {
  c->draining = 1;
  schedule_flush(c);
}

void rl__conn_retry(rl_request *req, const char *reason) {
  rl_conn *c = req->conn;
  if (!c) { /* a transport's request: there is no connection to retry on */
    rl__request_fail(req, reason ? reason : "retry refused");
    return;
  }
  rl__conn_request_ended(req);
  /* This connection cannot carry it: drain it, and send the request again
   * when it has closed. A request already re-sent once fails instead. */
  c->draining = 1;
  if (c->loop->cutting)
    rl__request_fail(req, reason ? reason : "retry refused");
  else if (req->retries >= MAX_RETRIES)
    fail_spent(req, reason);
  else
    queue_push(c, req);
}

void rl__conn_move(rl_request *req, const char *reason) {
  rl_conn *c = req->conn;
  if (!c) {
    rl__request_fail(req, reason ? reason : "move refused");
    return;
  }
  /* From inside session_del the socket is already closed and the shutdown
   * sends what is queued on a new connection itself: that one must not
   * start out draining, nor wait out a backoff. */
  int closed = c->state == RL__CONN_CLOSED;
  req->retries = 0; /* no retry: the plugin bounds how often it moves */
  rl__conn_retry(req, reason);
  if (closed) {
    c->draining = 0;
    answered(c);
  }
}

/*
 * udp: a transport plugin for request/response over UDP (one datagram out,
 * one datagram back: statsd-, DNS- or echo-style services). Written the way
 * an author outside the rpcload tree would write one: it includes only the
 * public header <rpcload/plugin.h> and libc/POSIX, and builds against the
 * installed SDK (see README.md next to this file).
 *
 *   rpcload --plugin ./udp.so -u 50 -r 50 -t 30s --timeout 0.5 \
 *           -d 'ping {{seq}}' -O expect=pong udp://127.0.0.1:9999
 *
 * Why a transport and not a codec: the core's connections are TCP (and
 * TLS) streams. A datagram protocol does its own I/O on the worker's loop
 * with the host's io and timer services.
 *
 * One connected UDP socket per user, opened on the user's first request:
 *   - it is Locust's model (one client per user): the server sees one
 *     source port per simulated user, as it would see one TCP connection;
 *   - a connected socket only receives datagrams from the target, so a
 *     reply is matched to its user by the kernel, not by us;
 *   - on a connected socket the kernel reports ICMP "port unreachable" as
 *     ECONNREFUSED on the next recv(), so a closed port fails fast with
 *     "connection refused" instead of timing out;
 *   - it costs one descriptor per user (rpcload raises the fd limit for
 *     that already) and no socket()/close() per request.
 * A user has at most one request in flight. When a request times out its
 * socket is closed and the next request opens a new one (a new source
 * port): a late reply then cannot be taken for the next request's.
 *
 * Everything except rl_plugin_entry() is static; build with hidden
 * visibility (the CMakeLists.txt next to this file does).
 */
/* POSIX 2008 (strerror_r, sockets): a feature-test macro, which must come
 * before any header. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L // NOLINT(bugprone-reserved-identifier)
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <rpcload/plugin.h>

/* The largest UDP payload (IPv6 without jumbograms; IPv4's is 65507), so a
 * receive buffer of this size never truncates a datagram. */
#define UDP_MAX_PAYLOAD 65527
#define UDP_RECV_BUF 65536
/* Longest piece of user input quoted back in an error message. */
#define UDP_SHOW_MAX 64
#define UDP_SHOW_BUF (UDP_SHOW_MAX * 4 + 4)

static const rl_scheme udp_schemes[] = {
    /* No default port: there is no "UDP service", so the URL must name
     * one (step_new refuses port 0). */
    {"udp", 0, 0},
    {NULL, 0, 0},
};

/* ---- Small helpers ------------------------------------------------------ */

/* Writes a formatted one-line message into err (may be NULL or 0 long). */
static void set_err(char *err, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  if (err == NULL || errlen == 0)
    return;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

/* Copies n bytes of s into out (UDP_SHOW_BUF bytes, owned by the caller)
 * printable on one line: controls and non-ASCII as \xHH, cut after
 * UDP_SHOW_MAX bytes with "...". Returns out. */
static const char *show(const char *s, size_t n, char *out) {
  static const char hex[] = "0123456789abcdef";
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (i == UDP_SHOW_MAX) {
      memcpy(out + o, "...", 3);
      o += 3;
      break;
    }
    if (c < 0x20 || c >= 0x7f) {
      out[o++] = '\\';
      out[o++] = 'x';
      out[o++] = hex[c >> 4];
      out[o++] = hex[c & 15];
    } else {
      out[o++] = (char)c;
    }
  }
  out[o] = '\0';
  return out;
}

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d != NULL)
    memcpy(d, s, n);
  return d;
}

/* 1 if `needle` (m bytes, m > 0) occurs in `hay` (n bytes). */
static int contains(const unsigned char *hay, size_t n, const char *needle,
                    size_t m) {
  for (size_t i = 0; m <= n && i <= n - m; i++)
    if (hay[i] == (unsigned char)needle[0] && memcmp(hay + i, needle, m) == 0)
      return 1;
  return 0;
}

/* strerror_r (the POSIX one) into buf; the caller owns buf. */
static const char *errno_text(int e, char *buf, size_t len) {
  if (strerror_r(e, buf, len) != 0)
    snprintf(buf, len, "errno %d", e);
  return buf;
}

/* ---- Steps --------------------------------------------------------------- */

/* A compiled step: what every request sends and how a reply is judged.
 * Owns every member; freed by udp_step_del() on the main thread. */
struct udp_step {
  const rl_host *host;  /* borrowed: lives until fini */
  rl_template *payload; /* -d, expanded per request */
  char *expect;         /* -O expect=TEXT, or NULL */
  size_t expect_len;
  char *expect_error; /* "reply does not contain 'TEXT'" */
  char *name;         /* stats name: --name, else host:port */
};

static void udp_step_del(void *step) {
  struct udp_step *st = step;
  if (st == NULL)
    return;
  st->host->template_del(st->payload);
  free(st->expect);
  free(st->expect_error);
  free(st->name);
  free(st);
}

/* Reads -O options into st. The only one is expect=TEXT; everything else,
 * --call included, is refused so that a typo does not pass silently. */
static int parse_options(const rl_step_spec *spec, struct udp_step *st,
                         char *err, size_t errlen) {
  char shown[UDP_SHOW_BUF];
  for (size_t i = 0; spec->options != NULL && i < spec->n_options; i++) {
    const char *k = spec->options[i].key ? spec->options[i].key : "";
    const char *v = spec->options[i].value ? spec->options[i].value : "";
    if (strcmp(k, "expect") != 0) {
      set_err(err, errlen,
              "option '%s' is not known to udp (it takes -O expect=TEXT; "
              "the payload is -d)",
              show(k, strlen(k), shown));
      return RL_ERR_INVAL;
    }
    if (v[0] == '\0') {
      set_err(err, errlen, "option expect needs a text: -O expect=TEXT");
      return RL_ERR_INVAL;
    }
    if (st->expect != NULL) {
      set_err(err, errlen, "option expect is given twice");
      return RL_ERR_INVAL;
    }
    size_t room = strlen(v) * 4 + 64;
    st->expect = dup_str(v);
    st->expect_error = malloc(room);
    if (st->expect == NULL || st->expect_error == NULL) {
      set_err(err, errlen, "out of memory");
      return RL_ERR_NOMEM;
    }
    st->expect_len = strlen(v);
    snprintf(st->expect_error, room, "reply does not contain '%s'",
             show(v, st->expect_len, shown));
  }
  return 0;
}

/* A step made only to be listed (rpcload --show-task-ratio with no
 * target, ABI 1.2): it has no host and is never sent. */
static int list_only(const rl_step_spec *spec) {
  return spec->struct_size >=
             offsetof(rl_step_spec, list_only) + sizeof(spec->list_only) &&
         spec->list_only;
}

/* The default stats name: "host:port", an IPv6 literal in brackets
 * ("udp" for a list-only step without a host). */
static char *default_name(const rl_step_spec *spec) {
  if (spec->host == NULL)
    return dup_str("udp");
  int v6 = strchr(spec->host, ':') != NULL;
  size_t n = strlen(spec->host) + 16;
  char *s = malloc(n);
  if (s != NULL)
    snprintf(s, n, v6 ? "[%s]:%u" : "%s:%u", spec->host, (unsigned)spec->port);
  return s;
}

/* Checks what a datagram target cannot have. Returns 0 or RL_ERR_INVAL. */
static int check_spec(const rl_step_spec *spec, char *err, size_t errlen) {
  char shown[UDP_SHOW_BUF];
  if (spec->host == NULL && list_only(spec)) {
    /* Listed, never sent: nothing to check of the target. */
  } else if (spec->host == NULL || spec->host[0] == '\0') {
    set_err(err, errlen, "no host given");
    return RL_ERR_INVAL;
  } else if (spec->port == 0) {
    set_err(err, errlen,
            "no port in '%s': UDP has no default port, write "
            "udp://HOST:PORT",
            spec->url ? spec->url : spec->host);
    return RL_ERR_INVAL;
  }
  if (spec->tls) {
    set_err(err, errlen, "udp does not do TLS (DTLS)");
    return RL_ERR_INVAL;
  }
  if (spec->path != NULL && strcmp(spec->path, "/") != 0) {
    set_err(err, errlen,
            "a udp URL has no path ('%s'): give the payload with -d",
            show(spec->path, strlen(spec->path), shown));
    return RL_ERR_INVAL;
  }
  if (spec->method != NULL) {
    set_err(err, errlen, "udp has no methods: drop -X");
    return RL_ERR_INVAL;
  }
  if (spec->n_headers > 0) {
    set_err(err, errlen, "udp sends no headers: drop -H");
    return RL_ERR_INVAL;
  }
  if (spec->body == NULL && spec->body_len > 0) {
    set_err(err, errlen, "body length %zu given without a body",
            spec->body_len);
    return RL_ERR_INVAL;
  }
  return 0;
}

/*
 * Compiles spec into a step, on the main thread before the run. Borrows
 * host (for good) and spec (only during the call); on success the plugin
 * owns *step until udp_step_del(). On failure *step is untouched and err
 * holds one line.
 */
static int udp_step_new(const rl_host *host, const rl_step_spec *spec,
                        void **step, char *err, size_t errlen) {
  /* The loop services and templates came with ABI 1.1. */
  if (!RL_HOST_HAS_LOOP(host)) {
    set_err(err, errlen,
            "this rpcload is too old for udp (it needs plugin "
            "ABI 1.1 for transport plugins)");
    return RL_ERR_UNSUPPORTED;
  }
  /* We read members up to n_options; an older, shorter spec cannot serve. */
  if (spec->struct_size <
      offsetof(rl_step_spec, n_options) + sizeof(spec->n_options)) {
    set_err(err, errlen, "step spec too short (%u bytes)",
            (unsigned)spec->struct_size);
    return RL_ERR_ABI;
  }
  int rc = check_spec(spec, err, errlen);
  if (rc != 0)
    return rc;

  struct udp_step *st = calloc(1, sizeof *st);
  if (st == NULL) {
    set_err(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  st->host = host;
  rc = parse_options(spec, st, err, errlen);
  if (rc != 0) {
    udp_step_del(st);
    return rc;
  }

  /* -d is a template: `-d 'ping {{seq}}'` differs per request. Without -d
   * every request is an empty datagram, which UDP allows. */
  const char *text = spec->body != NULL ? (const char *)spec->body : "";
  char terr[256] = "";
  rc =
      host->template_new(text, spec->body_len, &st->payload, terr, sizeof terr);
  if (rc != 0) {
    set_err(err, errlen, "-d: %s", terr[0] ? terr : rl_strerror(rc));
    udp_step_del(st);
    return rc;
  }
  if (host->template_is_constant(st->payload) &&
      spec->body_len > UDP_MAX_PAYLOAD) {
    set_err(err, errlen,
            "a %zu-byte payload does not fit in a UDP datagram "
            "(at most %d bytes)",
            spec->body_len, UDP_MAX_PAYLOAD);
    udp_step_del(st);
    return RL_ERR_INVAL;
  }

  st->name = spec->name != NULL && spec->name[0] != '\0' ? dup_str(spec->name)
                                                         : default_name(spec);
  if (st->name == NULL) {
    set_err(err, errlen, "out of memory");
    udp_step_del(st);
    return RL_ERR_NOMEM;
  }
  *step = st;
  return 0;
}

/* The stats type and name; the host reports its own failures (e.g. a
 * refused submit) under them. Both strings belong to the step. */
static void udp_step_describe(void *step, const char **type,
                              const char **name) {
  const struct udp_step *st = step;
  *type = "udp";
  *name = st->name;
}

/* ---- Transports: one per worker thread ----------------------------------- */

struct udp_transport;

/* One simulated user's client: its socket and its request in flight. */
struct udp_user {
  struct udp_transport *t; /* the transport that owns this user */
  uint64_t id;             /* host->request_user_id() */
  int fd;                  /* connected UDP socket, or -1 */
  rl_io *io;               /* read watcher on fd, or NULL */
  rl_request *req;         /* in flight, or NULL; owned by the host */
  rl_timer *timer;         /* req's timeout, or NULL once fired/stopped */
};

/*
 * A worker thread's state, made and used only on that thread (so no
 * locks). Users are found by id in an open-addressing hash table: the
 * thread's share of user ids is not contiguous.
 */
struct udp_transport {
  const rl_host *host;          /* borrowed: lives until fini */
  rl_loop *loop;                /* borrowed: outlives the transport */
  const struct udp_step *step;  /* borrowed: outlives the transport */
  struct sockaddr_storage addr; /* the target, resolved by the host */
  socklen_t addrlen;
  uint64_t timeout_ns;     /* --timeout */
  char timeout_error[48];  /* "timed out after 0.5s" */
  struct udp_user **users; /* hash table, NULL = free slot */
  size_t nusers, cap;      /* cap is 0 or a power of two */
  unsigned char *rbuf;     /* UDP_RECV_BUF bytes for recv() */
  int warned;              /* logged a socket/send error already */
};

static size_t slot_of(uint64_t id, size_t cap) {
  uint64_t h = id * 0x9e3779b97f4a7c15ULL;
  return (size_t)(h ^ (h >> 29)) & (cap - 1);
}

/* Doubles the table (or makes the first one). Returns 0 or RL_ERR_NOMEM. */
static int users_grow(struct udp_transport *t) {
  size_t cap = t->cap ? t->cap * 2 : 64;
  struct udp_user **users = calloc(cap, sizeof(struct udp_user *));
  if (users == NULL)
    return RL_ERR_NOMEM;
  for (size_t i = 0; i < t->cap; i++) {
    struct udp_user *u = t->users[i];
    if (u == NULL)
      continue;
    size_t s = slot_of(u->id, cap);
    while (users[s] != NULL)
      s = (s + 1) & (cap - 1);
    users[s] = u;
  }
  free(t->users);
  t->users = users;
  t->cap = cap;
  return 0;
}

/* The user with this id, made on its first request. NULL: out of memory. */
static struct udp_user *user_get(struct udp_transport *t, uint64_t id) {
  if (t->cap > 0) {
    for (size_t s = slot_of(id, t->cap); t->users[s] != NULL;
         s = (s + 1) & (t->cap - 1))
      if (t->users[s]->id == id)
        return t->users[s];
  }
  /* Keep the table at most half full, so probes stay short. */
  if ((t->nusers + 1) * 2 > t->cap && users_grow(t) != 0)
    return NULL;
  struct udp_user *u = calloc(1, sizeof *u);
  if (u == NULL)
    return NULL;
  u->t = t;
  u->id = id;
  u->fd = -1;
  size_t s = slot_of(id, t->cap);
  while (t->users[s] != NULL)
    s = (s + 1) & (t->cap - 1);
  t->users[s] = u;
  t->nusers++;
  return u;
}

/* Logs the first socket-level failure of a thread (the request itself is
 * reported by the host as "udp refused the request: ..."). */
static void warn_once(struct udp_transport *t, const char *what, int e) {
  char buf[128];
  if (t->warned)
    return;
  t->warned = 1;
  t->host->log(RL_LOG_WARN, "udp: %s: %s%s", what,
               errno_text(e, buf, sizeof buf),
               e == EMFILE || e == ENFILE
                   ? " (udp keeps one socket per user: raise ulimit -n)"
                   : "");
}

/* Closes the user's socket and stops its watcher; the next request opens a
 * new one. The request in flight, if any, is the caller's to end. */
static void user_close(struct udp_user *u) {
  if (u->io != NULL) {
    u->t->host->io_stop(u->io);
    u->io = NULL;
  }
  if (u->fd >= 0) {
    close(u->fd);
    u->fd = -1;
  }
}

/*
 * Ends the user's request in flight with THE request event: `error` NULL
 * is success. u->req is cleared BEFORE request_done(), because the host
 * may reuse the request the moment that call returns; `error` is borrowed
 * for the call only (the host copies it).
 */
static void finish(struct udp_user *u, uint64_t bytes, const char *error) {
  const rl_host *host = u->t->host;
  rl_request *req = u->req;
  rl_result r;

  u->req = NULL;
  if (u->timer != NULL) {
    host->timer_stop(u->timer);
    u->timer = NULL;
  }
  r.type = "udp";
  r.name = u->t->step->name;
  r.response_bytes = bytes;
  r.error = error;
  host->request_done(req, &r);
}

/* The user's socket is readable: a reply, or an ICMP error. Runs on the
 * worker thread; reads until the socket is drained or a few datagrams
 * later (the watcher is level-triggered: it fires again while there is
 * more, and other users get their turn in between). */
static void on_readable(rl_io *io, int events, void *arg) {
  struct udp_user *u = arg;
  struct udp_transport *t = u->t;
  (void)io;
  (void)events;
  for (int i = 0; i < 16; i++) {
    ssize_t n = recv(u->fd, t->rbuf, UDP_RECV_BUF, 0);
    if (n < 0) {
      int e = errno;
      if (e == EINTR)
        continue;
      if (e == EAGAIN || e == EWOULDBLOCK)
        return;
      /* The error belongs to a datagram we sent: ICMP port unreachable
       * is ECONNREFUSED on a connected socket. With nothing in flight it
       * concerned a request already ended (timed out): drop it. */
      if (u->req != NULL) {
        char buf[128], why[160];
        if (e == ECONNREFUSED)
          finish(u, 0, "connection refused");
        else {
          snprintf(why, sizeof why, "recv failed: %s",
                   errno_text(e, buf, sizeof buf));
          finish(u, 0, why);
        }
      }
      return; /* a socket error is reported once */
    }
    if (u->req == NULL)
      continue; /* a duplicate, or a reply to nothing we asked: dropped */
    /* The reply for whoever looks at it (a scenario's expect, a Lua
     * task's r.body; ABI 1.2), only when asked: copying costs. A datagram
     * is all payload: handed over when the host reads the body (ABI 1.8
     * parts; before it, wants_response). */
    int wanted = 0;
    if (RL_HOST_HAS_RESPONSES(t->host))
      wanted =
          RL_HOST_HAS_RESPONSE_PARTS(t->host) && t->host->request_response_parts
              ? (t->host->request_response_parts(u->req) & RL_RESPONSE_BODY) !=
                    0
              : t->host->request_wants_response(u->req) != 0;
    if (wanted) {
      rl_response resp = {.struct_size = sizeof resp,
                          .status = -1,
                          .body = (const uint8_t *)t->rbuf,
                          .body_len = (size_t)n};
      t->host->request_response(u->req, &resp);
    }
    const struct udp_step *st = t->step;
    if (st->expect != NULL &&
        !contains(t->rbuf, (size_t)n, st->expect, st->expect_len))
      finish(u, (uint64_t)n, st->expect_error);
    else
      finish(u, (uint64_t)n, NULL);
  }
}

/* The request timed out. The timer is gone once it fires: forget it. */
static void on_timeout(rl_timer *timer, void *arg) {
  struct udp_user *u = arg;
  (void)timer;
  u->timer = NULL;
  /* A new socket for the next request, so this request's late reply
   * cannot end that one. */
  user_close(u);
  finish(u, 0, u->t->timeout_error);
}

/* Opens and connects the user's socket (connect() on UDP only sets the
 * peer: it sends nothing and does not block). Returns 0 or RL_ERR_IO. */
static int user_open(struct udp_user *u) {
  struct udp_transport *t = u->t;
  int fd = socket(t->addr.ss_family, SOCK_DGRAM, 0);
  if (fd < 0) {
    warn_once(t, "cannot open a UDP socket", errno);
    return RL_ERR_IO;
  }
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
      fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ||
      connect(fd, (const struct sockaddr *)&t->addr, t->addrlen) < 0) {
    warn_once(t, "cannot set up a UDP socket", errno);
    close(fd);
    return RL_ERR_IO;
  }
  u->io = t->host->io_start(t->loop, fd, RL_IO_READ, on_readable, u);
  if (u->io == NULL) {
    close(fd);
    return RL_ERR_NOMEM;
  }
  u->fd = fd;
  return 0;
}

/*
 * Makes a worker thread's transport, on that thread, before its users
 * start. Borrows host, loop and step (they outlive the transport) and info
 * (only during the call). The plugin owns *transport until
 * udp_transport_del().
 */
static int udp_transport_new(const rl_host *host, rl_loop *loop, void *step,
                             const rl_transport_info *info, void **transport) {
  if (info->struct_size < offsetof(rl_transport_info, request_timeout_ns) +
                              sizeof(info->request_timeout_ns))
    return RL_ERR_ABI;
  if (info->addr == NULL || info->addrlen == 0 ||
      info->addrlen > sizeof(struct sockaddr_storage))
    return RL_ERR_INVAL;
  struct udp_transport *t = calloc(1, sizeof *t);
  if (t == NULL)
    return RL_ERR_NOMEM;
  t->rbuf = malloc(UDP_RECV_BUF);
  if (t->rbuf == NULL) {
    free(t);
    return RL_ERR_NOMEM;
  }
  t->host = host;
  t->loop = loop;
  t->step = step;
  memcpy(&t->addr, info->addr, info->addrlen);
  t->addrlen = (socklen_t)info->addrlen;
  t->timeout_ns = info->request_timeout_ns;
  /* The same words the core uses for a TCP request timeout. */
  snprintf(t->timeout_error, sizeof t->timeout_error, "timed out after %gs",
           (double)t->timeout_ns / 1e9);
  *transport = t;
  return 0;
}

/*
 * Sends one request's datagram. On 0 the user holds req until the reply,
 * the timeout or udp_transport_del() ends it with one request_done(). On a
 * negative code nothing is kept and nothing will be reported: the host
 * fails the request itself.
 */
static int udp_transport_submit(void *transport, rl_request *req) {
  struct udp_transport *t = transport;
  const struct udp_step *st = t->host->request_step(req);
  struct udp_user *u = user_get(t, t->host->request_user_id(req));
  if (u == NULL)
    return RL_ERR_NOMEM;
  if (u->req != NULL)
    return RL_ERR_BUSY; /* the host gives a user one request at a time */
  if (u->fd < 0) {
    int rc = user_open(u);
    if (rc != 0)
      return rc;
  }
  size_t len = 0;
  const char *payload = t->host->template_expand(st->payload, req, &len);
  if (payload == NULL)
    return RL_ERR_NOMEM;
  /* The timer first: once the datagram is out, we must be able to end
   * the request. */
  u->timer = t->host->timer_start(t->loop, t->timeout_ns, on_timeout, u);
  if (u->timer == NULL)
    return RL_ERR_NOMEM;
  ssize_t n = send(u->fd, payload, len, 0);
  /* ECONNREFUSED from send() is left over from an earlier datagram (and
   * reporting it cleared it): this one has not gone out yet. */
  for (int tries = 0;
       n < 0 && tries < 3 && (errno == EINTR || errno == ECONNREFUSED); tries++)
    n = send(u->fd, payload, len, 0);
  if (n < 0) {
    int e = errno;
    t->host->timer_stop(u->timer);
    u->timer = NULL;
    warn_once(t, "send failed", e);
    return e == EMSGSIZE                                     ? RL_ERR_INVAL
           : e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS ? RL_ERR_BUSY
                                                             : RL_ERR_IO;
  }
  u->req = req;
  return 0;
}

/*
 * The worker is ending (err RL_ERR_CANCELLED, reason "stopped"): every
 * request still in flight ends now with `reason` (borrowed for the call),
 * then every watcher is stopped and every socket closed.
 */
static void udp_transport_del(void *transport, int err, const char *reason) {
  struct udp_transport *t = transport;
  if (t == NULL)
    return;
  const char *why =
      reason != NULL && reason[0] != '\0' ? reason : rl_strerror(err);
  for (size_t i = 0; i < t->cap; i++) {
    struct udp_user *u = t->users[i];
    if (u == NULL)
      continue;
    if (u->req != NULL)
      finish(u, 0, why);
    user_close(u);
    free(u);
  }
  free(t->users);
  free(t->rbuf);
  free(t);
}

static const rl_plugin udp_plugin = {
    .abi_version = RL_ABI_VERSION,
    .struct_size = sizeof(rl_plugin),
    .name = "udp",
    .version = "0.1.0",
    .summary = "request/response over UDP: one datagram out, one back",
    .schemes = udp_schemes,
    .alpn = NULL,
    .kind = RL_PLUGIN_TRANSPORT,
    .step_new = udp_step_new,
    .step_del = udp_step_del,
    .step_describe = udp_step_describe,
    .transport_new = udp_transport_new,
    .transport_submit = udp_transport_submit,
    .transport_del = udp_transport_del,
};

/* The one exported symbol. The descriptor is static and never freed. */
RL_EXPORT const rl_plugin *rl_plugin_entry(void);

RL_EXPORT const rl_plugin *rl_plugin_entry(void) { return &udp_plugin; }

/* The cluster's ZeroMQ sockets (wire.h): Locust's ROUTER/DEALER layout. */
#define _GNU_SOURCE // NOLINT(bugprone-reserved-identifier): gethostname, getrandom
#include "cluster/wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <unistd.h>

#include <zmq.h>

#include <rpcload/plugin.h>

#include "base/clock.h"
#include "base/log.h"

struct rl__wire {
  void *ctx;
  void *sock;
  rl__curve_guard *guard; /* a CURVE master's ZAP and monitor, or NULL */
  int router;             /* 1: the master's ROUTER; 0: a worker's DEALER */
  int port;
  int wake_fd; /* an eventfd rl__wire_wake writes: ends a wait in recv */
  /* A worker's: a PAIR on its DEALER's monitor (handshake done,
   * disconnected) and what it said: whether the master is connected now,
   * and since when it is not (rl__now_ns; 0: connected, or not yet once).
   * A connection counts from its ZMTP handshake, not its TCP connect: the
   * kernel of a stopped master still accepts TCP, nothing answers. */
  void *monitor;
  int connected;
  uint64_t lost_ns;
};

/* Locust's socket options (zmqrpc.py: TCP keepalive after 30 s idle), and
 * ours: a bound on frame size, and no lingering at close unless asked. */
static int socket_setup(void *sock) {
  int one = 1, idle = 30, zero = 0;
  int64_t max = (int64_t)RL__WIRE_MAX_FRAME;
  if (zmq_setsockopt(sock, ZMQ_TCP_KEEPALIVE, &one, sizeof(one)) != 0 ||
      zmq_setsockopt(sock, ZMQ_TCP_KEEPALIVE_IDLE, &idle, sizeof(idle)) != 0 ||
      zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &max, sizeof(max)) != 0 ||
      zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof(zero)) != 0)
    return -1;
  return 0;
}

static rl__wire *wire_open(int type, char *err, size_t errlen) {
  rl__wire *w = calloc(1, sizeof(*w));
  if (w == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (w->wake_fd < 0) {
    snprintf(err, errlen, "cannot make an eventfd: %s", strerror(errno));
    free(w);
    return NULL;
  }
  w->ctx = zmq_ctx_new();
  if (w->ctx != NULL)
    w->sock = zmq_socket(w->ctx, type);
  if (w->sock == NULL || socket_setup(w->sock) != 0) {
    snprintf(err, errlen, "cannot make a ZeroMQ socket: %s",
             zmq_strerror(zmq_errno()));
    rl__wire_del(w, 0);
    return NULL;
  }
  w->router = type == ZMQ_ROUTER;
  return w;
}

int rl__wire_loopback_only(const char *host) {
  unsigned char a[16];
  if (!strcmp(host, "localhost"))
    return 1;
  if (inet_pton(AF_INET, host, a) == 1)
    return a[0] == 127;
  char buf[64];
  size_t n = strlen(host);
  if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof buf) {
    memcpy(buf, host + 1, n - 2);
    buf[n - 2] = '\0';
    host = buf;
  }
  static const unsigned char one[16] = {[15] = 1};
  return inet_pton(AF_INET6, host, a) == 1 && !memcmp(a, one, sizeof one);
}

unsigned long rl__wire_refused(const rl__wire *w) {
  return w->guard ? rl__curve_guard_refused(w->guard) : 0;
}

int rl__wire_bind(const char *host, int port, rl__wire **out, char *err,
                  size_t errlen) {
  return rl__wire_bind_curve(host, port, NULL, out, err, errlen);
}

int rl__wire_bind_curve(const char *host, int port, const rl__curve_key *key,
                        rl__wire **out, char *err, size_t errlen) {
  *out = NULL;
  if (host == NULL || *host == '\0' || port < 0 || port > 65535) {
    snprintf(err, errlen, "master bind address: bad host or port %d", port);
    return RL_ERR_INVAL;
  }
  rl__wire *w = wire_open(ZMQ_ROUTER, err, errlen);
  if (w == NULL)
    return RL_ERR_IO;
  /* Sending to a worker that is gone must say so, not vanish. */
  int one = 1;
  zmq_setsockopt(w->sock, ZMQ_ROUTER_MANDATORY, &one, sizeof(one));
  if (key != NULL && rl__curve_server(w->sock, key) != 0) {
    snprintf(err, errlen, "cannot set CURVE up: %s", zmq_strerror(zmq_errno()));
    rl__wire_del(w, 0);
    return RL_ERR_IO;
  }
  if (key != NULL &&
      !(w->guard = rl__curve_guard_new(w->ctx, w->sock, key, err, errlen))) {
    rl__wire_del(w, 0);
    return RL_ERR_IO;
  }
  char addr[300];
  if (port == 0)
    snprintf(addr, sizeof(addr), "tcp://%s:*", host);
  else
    snprintf(addr, sizeof(addr), "tcp://%s:%d", host, port);
  if (zmq_bind(w->sock, addr) != 0) {
    int e = zmq_errno();
    snprintf(err, errlen, "cannot bind the master's socket to %s:%d: %s%s",
             host, port, zmq_strerror(e),
             e == EADDRINUSE ? " (another master or program has that port: "
                               "--master-bind-port)"
                             : "");
    rl__wire_del(w, 0);
    return RL_ERR_IO;
  }
  if (key == NULL && !rl__wire_loopback_only(host))
    rl__log(RL__LOG_WARN,
            "cluster: the master listens on %s:%d, beyond this machine: "
            "anyone who reaches that port can join as a worker and read "
            "the stats (--master-bind-host 127.0.0.1 keeps it local; "
            "--cluster-key admits only workers with the key)",
            host, port);
  /* The port the kernel gave: the endpoint reads tcp://ADDR:PORT. */
  char ep[300];
  size_t eplen = sizeof(ep);
  w->port = port;
  if (zmq_getsockopt(w->sock, ZMQ_LAST_ENDPOINT, ep, &eplen) == 0) {
    const char *colon = strrchr(ep, ':');
    if (colon != NULL)
      w->port = atoi(colon + 1);
  }
  *out = w;
  return 0;
}

static void drain_parts(void *sock);

/* ZeroMQ's own heartbeats (ZMTP 3.1 PING/PONG, libzmq >= 4.2) on a
 * worker's connection: a PING every second, and a connection with no
 * answer for 3 s is closed, which the monitor reports. Any ZMTP 3.1 peer
 * answers PINGs by itself (pyzmq's libzmq under Locust's master too), so
 * this sees a master killed or cut off even when the master sends no
 * heartbeats of its own (Locust 2.12.1's). */
#define PING_IVL_MS 1000
#define PING_TIMEOUT_MS 3000

/* A worker's connection watched: its monitor's PAIR, and ZeroMQ's
 * heartbeats. 0, or -1 with zmq_errno set. */
static int watch_peer(rl__wire *w) {
  int ivl = PING_IVL_MS, timeout = PING_TIMEOUT_MS, zero = 0;
  char endpoint[64];
  snprintf(endpoint, sizeof endpoint, "inproc://rpcload-peer-%p", w->sock);
  if (zmq_setsockopt(w->sock, ZMQ_HEARTBEAT_IVL, &ivl, sizeof ivl) != 0 ||
      zmq_setsockopt(w->sock, ZMQ_HEARTBEAT_TIMEOUT, &timeout,
                     sizeof timeout) != 0 ||
      zmq_socket_monitor(w->sock, endpoint,
                         ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
                             ZMQ_EVENT_DISCONNECTED) != 0 ||
      !(w->monitor = zmq_socket(w->ctx, ZMQ_PAIR)) ||
      zmq_setsockopt(w->monitor, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
      zmq_connect(w->monitor, endpoint) != 0)
    return -1;
  return 0;
}

/* What the monitor said since last asked: [u16 event, u32 value],
 * [endpoint] each. Bounded: events come a few per connection. */
static void read_peer_events(rl__wire *w) {
  for (int i = 0; w->monitor != NULL && i < 64; i++) {
    zmq_msg_t head;
    zmq_msg_init(&head);
    if (zmq_msg_recv(&head, w->monitor, ZMQ_DONTWAIT) < 0) {
      zmq_msg_close(&head);
      return;
    }
    uint16_t event = 0;
    if (zmq_msg_size(&head) >= sizeof event)
      memcpy(&event, zmq_msg_data(&head), sizeof event);
    int more = zmq_msg_more(&head);
    zmq_msg_close(&head);
    if (more)
      drain_parts(w->monitor);
    if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
      w->connected = 1;
      w->lost_ns = 0;
    } else if (event == ZMQ_EVENT_DISCONNECTED && w->connected) {
      w->connected = 0;
      w->lost_ns = rl__now_ns();
    }
  }
}

double rl__wire_lost_s(rl__wire *w) {
  read_peer_events(w);
  if (w->lost_ns == 0)
    return 0;
  return (double)(rl__now_ns() - w->lost_ns) / 1e9;
}

int rl__wire_connect(const char *host, int port, const char *node_id,
                     rl__wire **out, char *err, size_t errlen) {
  return rl__wire_connect_curve(host, port, node_id, NULL, out, err, errlen);
}

int rl__wire_connect_curve(const char *host, int port, const char *node_id,
                           const rl__curve_key *key, rl__wire **out, char *err,
                           size_t errlen) {
  *out = NULL;
  if (host == NULL || *host == '\0' || port <= 0 || port > 65535) {
    snprintf(err, errlen, "master address: bad host or port %d", port);
    return RL_ERR_INVAL;
  }
  /* ZeroMQ identities are 1..255 bytes. */
  size_t idlen = node_id == NULL ? 0 : strlen(node_id);
  if (idlen == 0 || idlen > 255) {
    snprintf(err, errlen, "node id must be 1 to 255 bytes");
    return RL_ERR_INVAL;
  }
  rl__wire *w = wire_open(ZMQ_DEALER, err, errlen);
  if (w == NULL)
    return RL_ERR_IO;
  char addr[300];
  snprintf(addr, sizeof(addr), "tcp://%s:%d", host, port);
  if (zmq_setsockopt(w->sock, ZMQ_ROUTING_ID, node_id, idlen) != 0 ||
      (key != NULL && rl__curve_client(w->sock, key) != 0) ||
      watch_peer(w) != 0 || zmq_connect(w->sock, addr) != 0) {
    snprintf(err, errlen, "cannot connect to the master at %s:%d: %s", host,
             port, zmq_strerror(zmq_errno()));
    rl__wire_del(w, 0);
    return RL_ERR_IO;
  }
  w->port = port;
  *out = w;
  return 0;
}

int rl__wire_port(const rl__wire *w) { return w->port; }

void rl__wire_wake(rl__wire *w) {
  uint64_t one = 1;
  int saved = errno; /* a signal handler may call this */
  ssize_t n = write(w->wake_fd, &one, sizeof one);
  /* n < 0: EAGAIN, the counter is full, so a wake-up is pending anyway */
  (void)n;
  errno = saved;
}

void rl__wire_wake_cb(void *w) { rl__wire_wake(w); }

int rl__wire_fd(const rl__wire *w) {
  int fd = -1;
  size_t sz = sizeof(fd);
  if (zmq_getsockopt(w->sock, ZMQ_FD, &fd, &sz) != 0)
    return -1;
  return fd;
}

static int send_error(void) {
  switch (zmq_errno()) {
  case EAGAIN:
    return RL_ERR_BUSY;
  case EHOSTUNREACH:
    return RL_ERR_NOTFOUND;
  default:
    return RL_ERR_IO;
  }
}

int rl__wire_send(rl__wire *w, const char *to, const void *frame, size_t len) {
  if (w->router) {
    if (to == NULL || *to == '\0')
      return RL_ERR_NOTFOUND;
    if (zmq_send(w->sock, to, strlen(to), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
      return send_error();
  }
  if (zmq_send(w->sock, frame, len, ZMQ_DONTWAIT) < 0)
    return send_error();
  return 0;
}

/* Reads the rest of a multipart message, so that a bad one does not
 * leave its parts to be read as the next. */
static void drain_parts(void *sock) {
  int more = 1;
  size_t sz = sizeof(more);
  for (int i = 0; i < 1000; i++) {
    if (zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz) != 0 || !more)
      return;
    zmq_msg_t part;
    zmq_msg_init(&part);
    int rc = zmq_msg_recv(&part, sock, ZMQ_DONTWAIT);
    zmq_msg_close(&part);
    if (rc < 0)
      return;
  }
}

/* One part into a new buffer (NUL-terminated, for ids). */
static int recv_part(void *sock, int flags, void **out, size_t *len,
                     int *more) {
  zmq_msg_t m;
  zmq_msg_init(&m);
  if (zmq_msg_recv(&m, sock, flags) < 0) {
    int e = zmq_errno();
    zmq_msg_close(&m);
    return e == EAGAIN ? RL_ERR_TIMEOUT : RL_ERR_IO;
  }
  size_t n = zmq_msg_size(&m);
  char *buf = malloc(n + 1);
  if (buf == NULL) {
    *more = zmq_msg_more(&m);
    zmq_msg_close(&m);
    return RL_ERR_NOMEM;
  }
  memcpy(buf, zmq_msg_data(&m), n);
  buf[n] = '\0';
  *more = zmq_msg_more(&m);
  zmq_msg_close(&m);
  *out = buf;
  *len = n;
  return 0;
}

int rl__wire_recv(rl__wire *w, int timeout_ms, char **from, void **frame,
                  size_t *len) {
  *frame = NULL;
  *len = 0;
  if (from != NULL)
    *from = NULL;
  /* The monitor's events are read on the way (bounded: a few per
   * connection); only a frame, a wake-up or the timeout ends the wait. */
  uint64_t end_ns =
      timeout_ms > 0 ? rl__now_ns() + (uint64_t)timeout_ms * 1000000u : 0;
  for (int turn = 0; timeout_ms != 0; turn++) {
    long ms = timeout_ms;
    if (turn > 0 && timeout_ms > 0) {
      uint64_t now = rl__now_ns();
      if (now >= end_ns || turn > 1000)
        return RL_ERR_TIMEOUT;
      ms = (long)((end_ns - now + 999999u) / 1000000u);
    }
    zmq_pollitem_t items[3] = {{.socket = w->sock, .events = ZMQ_POLLIN},
                               {.fd = w->wake_fd, .events = ZMQ_POLLIN},
                               {.socket = w->monitor, .events = ZMQ_POLLIN}};
    int n = zmq_poll(items, w->monitor ? 3 : 2, ms);
    if (n < 0)
      return zmq_errno() == EINTR ? RL_ERR_TIMEOUT : RL_ERR_IO;
    if (n == 0)
      return RL_ERR_TIMEOUT;
    /* The connection came or went: the caller asks rl__wire_lost_s. */
    if (w->monitor && (items[2].revents & ZMQ_POLLIN))
      read_peer_events(w);
    if (items[0].revents & ZMQ_POLLIN)
      break;
    if (items[1].revents & ZMQ_POLLIN) {
      uint64_t v;
      while (read(w->wake_fd, &v, sizeof v) > 0)
        ;
      /* A wake-up: the caller looks at what it was woken for. */
      return RL_ERR_TIMEOUT;
    }
  }
  void *first = NULL;
  size_t first_len = 0;
  int more = 0;
  int rc = recv_part(w->sock, ZMQ_DONTWAIT, &first, &first_len, &more);
  if (rc == RL_ERR_NOMEM)
    drain_parts(w->sock);
  if (rc != 0)
    return rc;
  if (!w->router) {
    if (more) {
      free(first);
      drain_parts(w->sock);
      rl__log(RL__LOG_ERROR, "cluster: dropped a multipart message from the "
                             "master (Locust sends one frame)");
      return RL_ERR_PROTO;
    }
    *frame = first;
    *len = first_len;
    return 0;
  }
  /* ROUTER: [identity, frame], nothing more. */
  if (!more) {
    free(first);
    rl__log(RL__LOG_ERROR, "cluster: dropped a message with no frame");
    return RL_ERR_PROTO;
  }
  void *body = NULL;
  size_t body_len = 0;
  rc = recv_part(w->sock, ZMQ_DONTWAIT, &body, &body_len, &more);
  if (rc != 0 || more) {
    free(first);
    free(body);
    drain_parts(w->sock);
    if (rc == 0) {
      rl__log(RL__LOG_ERROR,
              "cluster: dropped a message of more than two parts");
      return RL_ERR_PROTO;
    }
    return rc == RL_ERR_TIMEOUT ? RL_ERR_PROTO : rc;
  }
  if (from != NULL)
    *from = first;
  else
    free(first);
  *frame = body;
  *len = body_len;
  return 0;
}

void rl__wire_del(rl__wire *w, int linger_ms) {
  if (w == NULL)
    return;
  if (w->monitor != NULL) {
    zmq_socket_monitor(w->sock, NULL, 0);
    zmq_close(w->monitor);
  }
  if (w->sock != NULL) {
    zmq_setsockopt(w->sock, ZMQ_LINGER, &linger_ms, sizeof(linger_ms));
    zmq_close(w->sock);
  }
  /* The guard's sockets live in the same context: closed before it. */
  rl__curve_guard_del(w->guard);
  if (w->ctx != NULL)
    zmq_ctx_term(w->ctx);
  if (w->wake_fd >= 0)
    close(w->wake_fd);
  free(w);
}

char *rl__wire_node_id_new(void) {
  char host[256];
  if (gethostname(host, sizeof(host)) != 0)
    snprintf(host, sizeof(host), "localhost");
  host[sizeof(host) - 1] = '\0';
  /* Room for "_" and 32 hex digits inside ZeroMQ's 255-byte identity. */
  host[200] = '\0';
  unsigned char rnd[16];
  size_t got = 0;
  for (int i = 0; i < 8 && got < sizeof(rnd); i++) {
    ssize_t n = getrandom(rnd + got, sizeof(rnd) - got, 0);
    if (n > 0)
      got += (size_t)n;
  }
  if (got < sizeof(rnd))
    return NULL;
  size_t hl = strlen(host);
  char *id = malloc(hl + 1 + 32 + 1);
  if (id == NULL)
    return NULL;
  snprintf(id, hl + 2, "%s_", host);
  for (size_t i = 0; i < sizeof(rnd); i++)
    snprintf(id + hl + 1 + 2 * i, 3, "%02x", rnd[i]);
  return id;
}

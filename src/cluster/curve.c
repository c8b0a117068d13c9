/* --cluster-key: CURVE on the cluster's sockets (curve.h). */
#include "cluster/curve.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include <rpcload/plugin.h>

#include "base/log.h"

#define Z85_KEY_LEN 40

static int is_z85_key(const char *s, size_t n) {
  static const char alphabet[] =
      "0123456789abcdefghijklmnopqrstuvwxyz"
      "ABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
  if (n != Z85_KEY_LEN)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!s[i] || !strchr(alphabet, s[i]))
      return 0;
  return 1;
}

/* The key in one line of a key file: the line alone, or a certificate's
 * `secret-key = "..."`; a `public-key` line is not it. NULL: none. */
static const char *key_in_line(char *line, size_t *n) {
  char *p = line;
  while (*p == ' ' || *p == '\t')
    p++;
  size_t len = strcspn(p, "\r\n");
  while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
    len--;
  p[len] = '\0';
  if (!strncmp(p, "secret-key", 10)) {
    char *q = strchr(p, '"');
    char *end = q ? strchr(q + 1, '"') : NULL;
    if (!end)
      return NULL;
    *n = (size_t)(end - q - 1);
    return q + 1;
  }
  *n = len;
  return is_z85_key(p, len) ? p : NULL;
}

/* A file's key; 0 or RL_ERR_INVAL with the reason. */
static int key_from_file(const char *path, char *key, char *err,
                         size_t errlen) {
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(err, errlen,
             "--cluster-key: '%s' is neither a key (40 characters of Z85) "
             "nor a file that can be read",
             path);
    return RL_ERR_INVAL;
  }
  char line[512];
  int found = 0;
  for (int i = 0; i < 1000 && !found && fgets(line, sizeof line, f); i++) {
    size_t n = 0;
    const char *k = key_in_line(line, &n);
    if (k && is_z85_key(k, n)) {
      memcpy(key, k, Z85_KEY_LEN);
      key[Z85_KEY_LEN] = '\0';
      found = 1;
    }
  }
  fclose(f);
  if (!found) {
    snprintf(err, errlen,
             "--cluster-key %s: no key in the file (a line of 40 Z85 "
             "characters, or secret-key = \"...\" as ZeroMQ's certificates "
             "have it)",
             path);
    return RL_ERR_INVAL;
  }
  return 0;
}

int rl__curve_key_read(const char *arg, rl__curve_key *out, char *err,
                       size_t errlen) {
  memset(out, 0, sizeof *out);
  if (!zmq_has("curve")) {
    snprintf(err, errlen, "--cluster-key: this libzmq was built without CURVE");
    return RL_ERR_UNSUPPORTED;
  }
  if (is_z85_key(arg, strlen(arg))) {
    memcpy(out->secret, arg, Z85_KEY_LEN);
  } else {
    int rc = key_from_file(arg, out->secret, err, errlen);
    if (rc)
      return rc;
  }
  if (zmq_curve_public(out->public, out->secret) != 0) {
    snprintf(err, errlen, "--cluster-key: not a CURVE secret key");
    memset(out, 0, sizeof *out);
    return RL_ERR_INVAL;
  }
  return 0;
}

int rl__curve_server(void *sock, const rl__curve_key *key) {
  int one = 1;
  /* libzmq asks ZAP about every CURVE client when a handler is bound in
   * the context (rl__curve_guard_new binds it before the socket binds). */
  if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) ||
      zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, key->secret, Z85_KEY_LEN) ||
      zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, "rpcload", 7))
    return -1;
  return 0;
}

int rl__curve_client(void *sock, const rl__curve_key *key) {
  if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, key->public, Z85_KEY_LEN) ||
      zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, key->public, Z85_KEY_LEN) ||
      zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, key->secret, Z85_KEY_LEN))
    return -1;
  return 0;
}

struct rl__curve_guard {
  void *zap;     /* REP on inproc://zeromq.zap.01 */
  void *monitor; /* PAIR on the socket's monitor */
  uint8_t public_bin[32];
  pthread_t thread;
  int thread_on;
  atomic_int stop;
  atomic_ulong refused;
};

/* One part of a message into buf (NUL-terminated, cut to fit); its size,
 * or -1. *more: another part follows. */
static int recv_part(void *sock, char *buf, size_t len, int *more) {
  zmq_msg_t m;
  zmq_msg_init(&m);
  if (zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) < 0) {
    zmq_msg_close(&m);
    *more = 0;
    return -1;
  }
  size_t n = zmq_msg_size(&m);
  size_t keep = n < len ? n : len - 1;
  memcpy(buf, zmq_msg_data(&m), keep);
  buf[keep] = '\0';
  *more = zmq_msg_more(&m);
  zmq_msg_close(&m);
  return (int)n;
}

/* ZAP (rfc.zeromq.org/spec/27): version, request id, domain, address,
 * routing id, mechanism, credentials (CURVE: the client's 32-byte key). */
static void answer_zap(rl__curve_guard *g) {
  char parts[7][64];
  int sizes[7] = {0};
  int more = 1, n = 0;
  for (; n < 7 && more; n++)
    sizes[n] = recv_part(g->zap, parts[n], sizeof parts[n], &more);
  for (int i = 0; more && i < 100; i++) { /* more than ZAP has: drop */
    char skip[8];
    recv_part(g->zap, skip, sizeof skip, &more);
  }
  int ok = n == 7 && !strcmp(parts[5], "CURVE") && sizes[6] == 32 &&
           !memcmp(parts[6], g->public_bin, 32);
  if (!ok) {
    atomic_fetch_add(&g->refused, 1);
    rl__log(RL__LOG_WARN,
            "cluster: refused a worker from %s: its key is not the "
            "--cluster-key",
            n > 3 ? parts[3] : "?");
  }
  const char *reply[6] = {"1.0",
                          n > 1 ? parts[1] : "",
                          ok ? "200" : "400",
                          ok ? "OK" : "not the cluster's key",
                          "",
                          ""};
  /* The request id is sent back as it came (it may hold any bytes). */
  size_t id_len = n > 1 && sizes[1] > 0 ? (size_t)sizes[1] : 0;
  for (int i = 0; i < 6; i++) {
    size_t len = i == 1 ? id_len : strlen(reply[i]);
    zmq_send(g->zap, reply[i], len, i < 5 ? ZMQ_SNDMORE : 0);
  }
}

/* A monitor event: [u16 event, u32 value], [endpoint]. */
static void read_event(rl__curve_guard *g) {
  char head[16], where[256];
  int more = 0;
  int n = recv_part(g->monitor, head, sizeof head, &more);
  where[0] = '\0';
  if (more)
    recv_part(g->monitor, where, sizeof where, &more);
  if (n < 6)
    return;
  uint16_t event;
  memcpy(&event, head, sizeof event);
  if (event &
      (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
       ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)) {
    atomic_fetch_add(&g->refused, 1);
    rl__log(RL__LOG_WARN,
            "cluster: a worker failed the CURVE handshake on %s (no "
            "--cluster-key, or another one)",
            where);
  }
}

static void *guard_main(void *arg) {
  rl__curve_guard *g = arg;
  /* Until told to stop; each poll is bounded so the flag is seen. */
  while (!atomic_load(&g->stop)) {
    zmq_pollitem_t items[2] = {{.socket = g->zap, .events = ZMQ_POLLIN},
                               {.socket = g->monitor, .events = ZMQ_POLLIN}};
    int n = zmq_poll(items, 2, 100);
    if (n < 0)
      continue; /* EINTR; a closed context ends with the stop flag */
    if (items[0].revents & ZMQ_POLLIN)
      answer_zap(g);
    if (items[1].revents & ZMQ_POLLIN)
      read_event(g);
  }
  return NULL;
}

rl__curve_guard *rl__curve_guard_new(void *ctx, void *sock,
                                     const rl__curve_key *key, char *err,
                                     size_t errlen) {
  rl__curve_guard *g = calloc(1, sizeof *g);
  if (!g) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  atomic_init(&g->stop, 0);
  atomic_init(&g->refused, 0);
  char endpoint[64];
  snprintf(endpoint, sizeof endpoint, "inproc://rpcload-curve-%p", sock);
  int zero = 0;
  if (!zmq_z85_decode(g->public_bin, key->public) ||
      !(g->zap = zmq_socket(ctx, ZMQ_REP)) ||
      zmq_setsockopt(g->zap, ZMQ_LINGER, &zero, sizeof zero) ||
      zmq_bind(g->zap, "inproc://zeromq.zap.01") ||
      zmq_socket_monitor(sock, endpoint,
                         ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                             ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                             ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) ||
      !(g->monitor = zmq_socket(ctx, ZMQ_PAIR)) ||
      zmq_setsockopt(g->monitor, ZMQ_LINGER, &zero, sizeof zero) ||
      zmq_connect(g->monitor, endpoint)) {
    snprintf(err, errlen, "cannot set up the cluster's CURVE checks: %s",
             zmq_strerror(zmq_errno()));
    rl__curve_guard_del(g);
    return NULL;
  }
  if (pthread_create(&g->thread, NULL, guard_main, g)) {
    snprintf(err, errlen, "cannot start the cluster's CURVE checks");
    rl__curve_guard_del(g);
    return NULL;
  }
  g->thread_on = 1;
  return g;
}

unsigned long rl__curve_guard_refused(const rl__curve_guard *g) {
  return atomic_load(&g->refused);
}

void rl__curve_guard_del(rl__curve_guard *g) {
  if (!g)
    return;
  if (g->thread_on) {
    atomic_store(&g->stop, 1);
    pthread_join(g->thread, NULL);
  }
  if (g->monitor)
    zmq_close(g->monitor);
  if (g->zap)
    zmq_close(g->zap);
  free(g);
}

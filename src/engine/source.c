/* --source-address: local addresses rotated over connections (source.h). */
#include "engine/source.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rpcload/plugin.h>

#define SPEC_HELP                                                              \
  "(give addresses and IPv4 ranges, comma-separated: "                         \
  "127.0.0.2,127.0.0.5-127.0.0.9)"

static void addr_text(const rl__source_addr *a, char *buf, size_t len) {
  const void *raw = a->sa.sa_family == AF_INET
                        ? (const void *)&a->in.sin_addr
                        : (const void *)&a->in6.sin6_addr;
  if (!inet_ntop(a->sa.sa_family, raw, buf, (socklen_t)len))
    snprintf(buf, len, "?");
}

/* strerror on any thread. */
static const char *errno_text(int e, char *buf, size_t len) {
  if (strerror_r(e, buf, len) != 0)
    snprintf(buf, len, "error %d", e);
  return buf;
}

static socklen_t addr_len(const rl__source_addr *a) {
  return a->sa.sa_family == AF_INET ? (socklen_t)sizeof a->in
                                    : (socklen_t)sizeof a->in6;
}

/* Reads one address; 0 or RL_ERR_INVAL. */
static int read_addr(const char *text, rl__source_addr *a) {
  memset(a, 0, sizeof *a);
  if (inet_pton(AF_INET, text, &a->in.sin_addr) == 1) {
    a->in.sin_family = AF_INET;
    return 0;
  }
  /* [::1] as in URLs, or ::1 */
  char buf[INET6_ADDRSTRLEN + 2];
  size_t n = strlen(text);
  if (n >= 2 && text[0] == '[' && text[n - 1] == ']' && n - 2 < sizeof buf) {
    memcpy(buf, text + 1, n - 2);
    buf[n - 2] = '\0';
    text = buf;
  }
  if (inet_pton(AF_INET6, text, &a->in6.sin6_addr) == 1) {
    a->in6.sin6_family = AF_INET6;
    return 0;
  }
  return RL_ERR_INVAL;
}

/* A socket of a's family, set to take its port at connect time: a bound
 * port would otherwise be reserved for every destination at once, and the
 * addresses' ports would run out at ~28k connections in all. -errno on
 * failure. */
static int bound_socket_check(const rl__source_addr *a) {
  int fd = socket(a->sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  int one = 1;
  setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  int rc = bind(fd, &a->sa, addr_len(a)) ? -errno : 0;
  close(fd);
  return rc;
}

static int add(rl__sources *s, const rl__source_addr *a, char *err,
               size_t errlen) {
  if (s->n4 + s->n6 >= RL__SOURCES_MAX) {
    snprintf(err, errlen, "--source-address: more than %d addresses",
             RL__SOURCES_MAX);
    return RL_ERR_INVAL;
  }
  int rc = bound_socket_check(a);
  if (rc) {
    char text[INET6_ADDRSTRLEN], reason[128];
    addr_text(a, text, sizeof text);
    snprintf(
        err, errlen, "--source-address %s: cannot use it as a source (%s)%s",
        text, errno_text(-rc, reason, sizeof reason),
        rc == -EADDRNOTAVAIL ? ": it is not an address of this machine" : "");
    return RL_ERR_INVAL;
  }
  rl__source_addr **v = a->sa.sa_family == AF_INET ? &s->v4 : &s->v6;
  size_t *n = a->sa.sa_family == AF_INET ? &s->n4 : &s->n6;
  rl__source_addr *grown = realloc(*v, (*n + 1) * sizeof *grown);
  if (!grown) {
    snprintf(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  grown[(*n)++] = *a;
  *v = grown;
  return 0;
}

/* One item: an address, or an IPv4 range FIRST-LAST. */
static int read_item(rl__sources *s, char *item, char *err, size_t errlen) {
  char *dash = strchr(item, '-');
  rl__source_addr first, last;
  if (!dash) {
    if (read_addr(item, &first)) {
      snprintf(
          err, errlen,
          "--source-address: '%s' is not an IPv4 or IPv6 address " SPEC_HELP,
          item);
      return RL_ERR_INVAL;
    }
    return add(s, &first, err, errlen);
  }
  *dash = '\0';
  const char *to = dash + 1;
  if (read_addr(item, &first) || read_addr(to, &last) ||
      first.sa.sa_family != AF_INET || last.sa.sa_family != AF_INET) {
    snprintf(
        err, errlen,
        "--source-address: '%s-%s' is not a range of IPv4 addresses " SPEC_HELP,
        item, to);
    return RL_ERR_INVAL;
  }
  uint32_t lo = ntohl(first.in.sin_addr.s_addr);
  uint32_t hi = ntohl(last.in.sin_addr.s_addr);
  if (lo > hi) {
    snprintf(err, errlen,
             "--source-address: the range '%s-%s' ends before it starts", item,
             to);
    return RL_ERR_INVAL;
  }
  if ((uint64_t)hi - lo + 1 + s->n4 + s->n6 > RL__SOURCES_MAX) {
    snprintf(err, errlen,
             "--source-address: the range '%s-%s' makes more than %d "
             "addresses",
             item, to, RL__SOURCES_MAX);
    return RL_ERR_INVAL;
  }
  for (uint64_t v = lo; v <= hi; v++) {
    first.in.sin_addr.s_addr = htonl((uint32_t)v);
    int rc = add(s, &first, err, errlen);
    if (rc)
      return rc;
  }
  return 0;
}

int rl__sources_parse(rl__sources *s, const char *spec, char *err,
                      size_t errlen) {
  memset(s, 0, sizeof *s);
  atomic_init(&s->next, 0);
  char *copy = strdup(spec);
  if (!copy) {
    snprintf(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  int rc = 0;
  char *save = NULL;
  for (char *item = strtok_r(copy, ",", &save); item && !rc;
       item = strtok_r(NULL, ",", &save))
    rc = read_item(s, item, err, errlen);
  free(copy);
  if (!rc && s->n4 + s->n6 == 0) {
    snprintf(err, errlen, "--source-address: no address given " SPEC_HELP);
    rc = RL_ERR_INVAL;
  }
  if (rc)
    rl__sources_free(s);
  return rc;
}

void rl__sources_free(rl__sources *s) {
  free(s->v4);
  free(s->v6);
  s->v4 = s->v6 = NULL;
  s->n4 = s->n6 = 0;
}

size_t rl__sources_count(const rl__sources *s, int family) {
  return family == AF_INET ? s->n4 : family == AF_INET6 ? s->n6 : 0;
}

int rl__sources_bind(rl__sources *s, int fd, int family, char *why,
                     size_t whylen) {
  size_t n = rl__sources_count(s, family);
  if (!n) {
    snprintf(why, whylen, "--source-address has no %s address",
             family == AF_INET6 ? "IPv6" : "IPv4");
    return -EAFNOSUPPORT;
  }
  size_t i = atomic_fetch_add_explicit(&s->next, 1, memory_order_relaxed) % n;
  const rl__source_addr *a = family == AF_INET ? &s->v4[i] : &s->v6[i];
  int one = 1;
  setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  if (bind(fd, &a->sa, addr_len(a)) == 0)
    return 0;
  int e = errno;
  char text[INET6_ADDRSTRLEN], reason[128];
  addr_text(a, text, sizeof text);
  snprintf(why, whylen, "cannot bind to source address %s: %s", text,
           errno_text(e, reason, sizeof reason));
  return -e;
}

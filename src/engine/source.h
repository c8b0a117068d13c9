/*
 * --source-address: the local addresses the core's connections are made
 * from, rotated over connection attempts. A real need of load hosts with
 * several addresses, and the way past the ~28k ephemeral ports one
 * (source address, destination) pair has: 127.0.0.2, 127.0.0.3, ... all
 * reach a server on 127.0.0.1.
 *
 * Parsed and checked on the main thread before the run (each address is
 * bound once, so one this machine does not have is an error at start-up);
 * afterwards worker threads share it: the rotation's counter is the one
 * thing they write (a relaxed atomic, taken once per connection attempt,
 * never per request).
 */
#ifndef RL_ENGINE_SOURCE_H
#define RL_ENGINE_SOURCE_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/socket.h>

/* At most this many addresses in all: enough for 100 million connections
 * to one server port, and each is bound once at start-up. */
#define RL__SOURCES_MAX 4096

typedef union rl__source_addr {
  struct sockaddr sa;
  struct sockaddr_in in;
  struct sockaddr_in6 in6;
} rl__source_addr;

typedef struct rl__sources {
  rl__source_addr *v4, *v6; /* owned, in the order given */
  size_t n4, n6;
  atomic_size_t next; /* the rotation, shared by every worker thread */
} rl__sources;

/*
 * Parses `spec` (borrowed), a comma-separated list of IPv4 or IPv6
 * addresses and IPv4 ranges FIRST-LAST (127.0.0.2-127.0.0.9), into `s`
 * (the caller's, made empty), and binds each once to check that it is
 * this machine's. Returns 0, or RL_ERR_INVAL / RL_ERR_NOMEM with the
 * reason in err (naming the item), `s` then empty. Free with
 * rl__sources_free.
 */
int rl__sources_parse(rl__sources *s, const char *spec, char *err,
                      size_t errlen);

void rl__sources_free(rl__sources *s);

/* How many addresses of `family` (AF_INET, AF_INET6) there are. */
size_t rl__sources_count(const rl__sources *s, int family);

/*
 * Binds `fd`, a socket of `family` not yet connected, to the next address
 * of that family (port 0, chosen at connect time, so each address has a
 * port range per destination). Any thread. Returns 0, or a negative errno
 * with the address and the reason in why.
 */
int rl__sources_bind(rl__sources *s, int fd, int family, char *why,
                     size_t whylen);

#endif /* RL_ENGINE_SOURCE_H */

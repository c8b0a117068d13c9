/*
 * --cluster-key: ZeroMQ's CURVE (encryption and authentication) on the
 * cluster's sockets, with one key shared by the master and its workers.
 * Off by default: Locust's nodes do not speak it.
 *
 * The key is a CURVE secret key (40 characters of Z85, as
 * `zmq_curve_keypair` or `python3 -c 'import zmq;
 * print(zmq.curve_keypair()[1].decode())'` makes one). The master uses it
 * as its key pair; a worker uses it as its own key pair and derives the
 * master's public key from it, so a worker without the key cannot even
 * finish the handshake. The master also admits, through ZeroMQ's ZAP, only
 * clients whose long-term key is the cluster's (a client that learnt the
 * public key alone is refused), and logs every refused attempt with its
 * address.
 */
#ifndef RL_CLUSTER_CURVE_H
#define RL_CLUSTER_CURVE_H

#include <stddef.h>

typedef struct rl__curve_key {
  char secret[41]; /* Z85, NUL-terminated */
  char public[41]; /* derived from secret */
} rl__curve_key;

/*
 * Reads --cluster-key's value (borrowed): the key itself (40 Z85
 * characters), or a file that holds it, alone on a line or as ZeroMQ's
 * certificate files write it (`secret-key = "..."`; a .key_secret file of
 * zmq.auth.create_certificates). 0 and *out, or RL_ERR_INVAL /
 * RL_ERR_UNSUPPORTED (this libzmq has no CURVE) with the reason in err,
 * never the key itself.
 */
int rl__curve_key_read(const char *arg, rl__curve_key *out, char *err,
                       size_t errlen);

/* Sets a socket (a ZeroMQ socket, before bind) up as the CURVE server of
 * `key`. 0 or -1 (zmq_errno tells). */
int rl__curve_server(void *sock, const rl__curve_key *key);

/* Sets a socket (before connect) up as a CURVE client of the master that
 * holds `key`. 0 or -1. */
int rl__curve_client(void *sock, const rl__curve_key *key);

/*
 * The master's guard: ZeroMQ's ZAP handler in `ctx` (one per context),
 * admitting only CURVE clients whose key is `key`'s, and a monitor of
 * `sock` that logs failed handshakes with the peer's address. A thread of
 * its own answers both, so the master's loop need not (a handshake waits
 * for ZAP's answer). Make it before `sock` binds. NULL with the reason in
 * err on failure. rl__curve_guard_del before the socket and context close.
 */
typedef struct rl__curve_guard rl__curve_guard;

rl__curve_guard *rl__curve_guard_new(void *ctx, void *sock,
                                     const rl__curve_key *key, char *err,
                                     size_t errlen);

/* How many clients the guard refused (ZAP and failed handshakes), for
 * tests and logs. Any thread. */
unsigned long rl__curve_guard_refused(const rl__curve_guard *g);

/* Stops the guard's thread and frees it. NULL is fine. */
void rl__curve_guard_del(rl__curve_guard *g);

#endif /* RL_CLUSTER_CURVE_H */

/*
 * The cluster's transport, as Locust lays it out (locust/rpc/zmqrpc.py):
 * the master binds a ZeroMQ ROUTER socket, each worker connects a DEALER
 * whose identity is its node id, and every message is one frame (a
 * msgpack array, cluster/msg.h). The ROUTER sees [identity, frame]; the
 * DEALER sees [frame].
 *
 * Frames are bytes here: this file knows nothing of msgpack. One owner
 * thread per rl__wire (ZeroMQ sockets are not thread-safe). Sends never
 * block: a frame that cannot be queued now is an error, as in Locust
 * (NOBLOCK), so a stuck peer cannot stall the caller's loop.
 */
#ifndef RL_CLUSTER_WIRE_H
#define RL_CLUSTER_WIRE_H

#include <stddef.h>

#include "cluster/curve.h"

/* Locust's default --master-port / --master-bind-port. */
#define RL__WIRE_DEFAULT_PORT 5557
/* Frames larger than this are refused by ZeroMQ before they reach us
 * (ZMQ_MAXMSGSIZE): a peer cannot make a node allocate without bound. */
#define RL__WIRE_MAX_FRAME (64L * 1024 * 1024)

typedef struct rl__wire rl__wire;

/*
 * The master's socket: a ROUTER bound to tcp://HOST:PORT (`host` "*" is
 * every interface, as Locust's default; port 0 lets the kernel pick,
 * rl__wire_port says which). 0 and a new socket in *out (the caller's,
 * rl__wire_del), or RL_ERR_IO / RL_ERR_INVAL / RL_ERR_NOMEM with a reason
 * naming the address in `err` (a port in use says so).
 */
int rl__wire_bind(const char *host, int port, rl__wire **out, char *err,
                  size_t errlen);

/*
 * The same with --cluster-key: CURVE with `key` (borrowed for the call;
 * NULL: none, as rl__wire_bind), workers admitted only with the same key
 * (cluster/curve.h). Without a key a master bound beyond loopback warns
 * that anyone who reaches it can join.
 */
int rl__wire_bind_curve(const char *host, int port, const rl__curve_key *key,
                        rl__wire **out, char *err, size_t errlen);

/* Whether a bind host keeps the master on this machine: a loopback
 * address (127.0.0.0/8, ::1) or "localhost"; "*" and the rest do not. */
int rl__wire_loopback_only(const char *host);

/* How many workers a CURVE master refused so far (0 without a key). */
unsigned long rl__wire_refused(const rl__wire *w);

/*
 * A worker's socket: a DEALER with identity `node_id` (copied), connecting
 * to tcp://HOST:PORT. ZeroMQ connects in the background and reconnects by
 * itself, so a master not up yet is not an error here: frames queue until
 * it is (the worker's own timeout says when to give up). 0 and a new socket
 * in *out, or an RL_ERR_* with a reason in `err`.
 */
int rl__wire_connect(const char *host, int port, const char *node_id,
                     rl__wire **out, char *err, size_t errlen);

/*
 * On a worker's socket: how long ago the connection to the master was
 * lost (s), with no new one since; 0 while connected, and before the
 * first connection (the caller's connect timeout covers that). ZeroMQ's
 * own heartbeats run on the connection (a PING a second, closed after 3 s
 * unanswered: any libzmq >= 4.2 peer answers by itself, Locust's master
 * too), so a master killed is seen at once and one cut off within 3 s.
 * On the master's socket always 0.
 */
double rl__wire_lost_s(rl__wire *w);

/* The same with --cluster-key: a CURVE client of the master holding
 * `key` (borrowed for the call; NULL: none, as rl__wire_connect). */
int rl__wire_connect_curve(const char *host, int port, const char *node_id,
                           const rl__curve_key *key, rl__wire **out, char *err,
                           size_t errlen);

/* The port the socket is bound to (rl__wire_bind), or the one it connects
 * to. */
int rl__wire_port(const rl__wire *w);

/*
 * A file descriptor that turns readable when the socket's state may have
 * changed (ZMQ_FD: edge-triggered, so after it fires call rl__wire_recv
 * until it returns RL_ERR_TIMEOUT). For an event loop; -1 on failure.
 */
int rl__wire_fd(const rl__wire *w);

/*
 * Ends a wait in rl__wire_recv (now, or the next one if none is in
 * progress), which then returns RL_ERR_TIMEOUT unless a frame came: so a
 * loop that blocks until its next deadline still sees what another thread
 * (the web UI's, a handler sending a custom message) or a signal handler
 * asked for. Any thread, async-signal-safe (an eventfd write); `w` must
 * outlive the call. rl__wire_wake_cb is the same with a void * argument,
 * for callbacks (rl__events_set_wake).
 */
void rl__wire_wake(rl__wire *w);
void rl__wire_wake_cb(void *w);

/*
 * Sends one frame (borrowed for the call). On the master `to` is the
 * worker's node id (it must be connected: an unknown id is RL_ERR_NOTFOUND);
 * on a worker `to` is ignored (NULL). 0, RL_ERR_BUSY when it cannot be
 * queued now, RL_ERR_NOTFOUND, or RL_ERR_IO.
 */
int rl__wire_send(rl__wire *w, const char *to, const void *frame, size_t len);

/*
 * Receives one frame, waiting at most `timeout_ms` (0: only what is there;
 * -1: until one comes, or rl__wire_wake). 0 with *frame (malloc'd, the caller frees it) and
 * *len, and on the master *from (the sender's node id, malloc'd, the
 * caller's; on a worker NULL: `from` may be NULL there). RL_ERR_TIMEOUT
 * when none came; RL_ERR_PROTO for a message not shaped as the socket
 * expects (logged, dropped: call again); RL_ERR_IO, RL_ERR_NOMEM.
 */
int rl__wire_recv(rl__wire *w, int timeout_ms, char **from, void **frame,
                  size_t *len);

/* Closes the socket, giving queued frames up to `linger_ms` to leave (a
 * worker's last `quit`), and frees it. NULL is fine. */
void rl__wire_del(rl__wire *w, int linger_ms);

/*
 * A new node id as Locust makes one: the host name, "_", and 32 random hex
 * digits (uuid4().hex's length). malloc'd, the caller's; NULL on failure.
 */
char *rl__wire_node_id_new(void);

#endif /* RL_CLUSTER_WIRE_H */

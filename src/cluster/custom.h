/*
 * Custom messages on the wire (Locust's register_message / send_message,
 * locust/runners.py 2.12.1): any message type the cluster does not know
 * is a custom one, [type, data, node_id] with data any msgpack value.
 * Handlers and the queues are the run's event table's (events/events.h):
 * the cluster's loop posts what arrives there and wakes the run's main
 * thread, which calls the handlers; it takes what handlers and scripts
 * sent from there and puts it on the wire.
 */
#ifndef RL_CLUSTER_CUSTOM_H
#define RL_CLUSTER_CUSTOM_H

#include "cluster/msg.h"
#include "cluster/wire.h"
#include "engine/runner.h"

/* A received message of a type the cluster does not know (m borrowed):
 * posted to the run's handlers, its main thread woken. With no event
 * table, or on allocation failure, it is logged and dropped. */
void rl__cluster_custom_post(rl__runner *r, const rl__msg *m);

/* Sends every message queued by the run's handlers and scripts since the
 * last call. A worker (`all` NULL): to its master, from `node_id`. A
 * master (`all` its `nall` live workers' ids): a message naming a node to
 * that node (one not among them is logged and dropped), else to each of
 * `all` (Locust's send_message with client_id None), each frame naming
 * its worker as Locust's master's do (node_id unused). `out` is scratch. Returns how many frames
 * went; a failed one is logged. */
int rl__cluster_custom_flush(rl__runner *r, rl__wire *wire, rl__msg_out *out,
                             const char *node_id, const char *const *all,
                             size_t nall);

#endif /* RL_CLUSTER_CUSTOM_H */

/*
 * The request object behind the ABI's opaque rl_request. Each user embeds
 * the one request it can have in flight, so starting a request allocates
 * nothing.
 */
#ifndef RL_REQUEST_H
#define RL_REQUEST_H

#include <stdint.h>

#include <rpcload/plugin.h>

#include "stats/stats.h"

struct rl__user;
struct rl__target;

struct rl_request {
  struct rl__user *user;
  const struct rl__target *target;
  rl_conn *conn;    /* the connection carrying it */
  rl_request *next; /* link in the connection's queue */
  /* In the connection's in-flight list (oldest first), for the timeout. */
  rl_request *in_prev, *in_next;
  uint64_t handed_ns; /* when the session took it */
  uint64_t start_ns;  /* intended start: response time counts from here */
  uint8_t retries;    /* re-sent after the connection closed unused */
  /* Stats entry of the last (type, name) this request reported: plugins
   * report the same strings every time, so the lookup is a compare. */
  const char *cached_type;
  const char *cached_name;
  rl__stats_entry *cached_entry;
};

/*
 * Ends a request: records the request event (unless the run is being cut)
 * and hands the user back to its worker. Called by plugins through
 * host->request_done and by the core for requests no session accepted.
 * `result` and its strings are only read during the call.
 */
void rl__request_done(rl_request *req, const rl_result *result);

/* Fails a request that never reached a session, with the target's default
 * type and name and `reason` as the error text. */
void rl__request_fail(rl_request *req, const char *reason);

#endif /* RL_REQUEST_H */

/*
 * The request object behind the ABI's opaque rl_request, and the request
 * event. Each user embeds the one request it can have in flight (a user
 * of a class written in C keeps one per request it has sent, reused:
 * engine/cuser.c), so starting a request allocates nothing.
 *
 * A request ends exactly once, through rl__request_end: from the plugin
 * (host->request_done, after the connection has taken it off its books),
 * or from the core for a request no session accepted (rl__request_fail).
 * What the end means is its owner's business (`end`, set by the user);
 * rl__request_record turns it into the request event in the thread's
 * stats.
 */
#ifndef RL_ENGINE_REQUEST_H
#define RL_ENGINE_REQUEST_H

#include <stdint.h>

#include <rpcload/plugin.h>

#include "stats/stats.h"

struct rl__user;
struct rl__target;
struct rl__plan_step;
struct rl__response;

/*
 * What a run leaves out of its stats: the requests of its first --warmup
 * and its first --skip-first N requests. A request is decided once, when
 * it is first recorded (its end, or a stream's first message), and its
 * later events follow: a stream begun in the warm-up is left out whole.
 * One per worker loop; `skipped` is the run's, shared by every thread
 * (an atomic, touched only until the first N are done).
 */
typedef struct rl__request_gate {
  uint64_t until_ns;         /* monotonic: left out when first recorded before;
                         0: no warm-up */
  uint64_t skip_first;       /* the run's first N requests: left out */
  _Atomic uint64_t *skipped; /* how many the run has taken so far */
  int open;                  /* both over: this thread counts all */
} rl__request_gate;

struct rl_request {
  struct rl__user *user;
  const struct rl__target *target;
  /* Called once when the request has ended (`result` and its strings are
   * only valid during the call). */
  void (*end)(rl_request *req, const rl_result *result);
  /* Called for each event of the request while it goes on (ABI 1.4
   * request_event: a stream's messages), `time_ns` long; NULL: dropped. */
  void (*event)(rl_request *req, const rl_result *result, uint64_t time_ns);
  /* Each response message of the request while it goes on, to its owner
   * (ABI 1.10 request_message: a C class's send with on_message); returns
   * 1 when the owner holds enough (the plugin pauses the call). NULL: its
   * owner takes none (request_wants_messages says 0). */
  int (*message)(rl_request *req, const char *json, size_t len);
  /* The plan step it runs (NULL: none, a connection's own test), the
   * user's copy of its response when the step's checks or callbacks look
   * at one (host->request_response; NULL: none kept), and its number
   * among the user's requests ({{seq}}, host->request_seq): a user of a
   * class written in C has several requests in flight, each its own. */
  const struct rl__plan_step *step;
  struct rl__response *resp;
  uint64_t seq;
  /* Header fields it adds to its step's (host->request_headers, ABI
   * 1.7): a C class's send's own, owned by the send; NULL: none. */
  const rl_kv *headers;
  size_t n_headers;
  rl_conn *conn;    /* the connection carrying it */
  rl_request *next; /* link in the connection's queue */
  /* In the connection's in-flight list (oldest first), for the timeout. */
  rl_request *in_prev, *in_next;
  uint64_t handed_ns; /* when the session took it */
  /* Its own request timeout (a Lua request's timeout=, rl_send_opts
   * API 1.4), counted from handed_ns as --timeout's; 0: the target's. */
  uint64_t timeout_ns;
  uint64_t start_ns;  /* intended start: response time counts from here */
  uint64_t sent_ns;   /* when its user sent it (the open model's other
                         view of its time counts from here) */
  uint8_t retries;    /* re-sent after the connection closed unused */
  uint8_t gate_state; /* 0: not recorded yet; 1: counted; 2: left out */
  /* Stats entry of the last (type, name) this request reported: plugins
   * report the same names every time, so the lookup is two string
   * compares. By content, not address: the result's strings are only
   * borrowed for the call, and a plugin may reuse a buffer. */
  rl__stats_entry *cached_entry;
  /* The same for its events (a stream's [send] and [recv] rows). */
  rl__stats_entry *cached_event_entry[2];
};

/* Ends a request: calls its owner's `end`. */
void rl__request_end(rl_request *req, const rl_result *result);

/* Ends a request that never reached a session, with the target's default
 * type and name and `reason` (borrowed; "failed" when NULL) as the error
 * text, after the plugin's host_error_prefix if it has one (ABI 1.4). */
void rl__request_fail(rl_request *req, const char *reason);

/*
 * A submit the plugin refused with `rc` (< 0): fails req with the reason
 * the plugin gave through host->request_refuse (ABI 1.6) during that
 * submit, else with "PLUGIN refused the request: <code's text>". Call
 * rl__request_refuse_begin(req) just before the submit: a reason counts
 * only for the request being submitted on this thread.
 */
void rl__request_refuse_begin(rl_request *req);
void rl__request_refused(rl_request *req, const char *plugin, int rc);
/* host->request_refuse: records `reason` (copied) for the submit under
 * way on this thread, when it is req's; ignored otherwise. */
void rl__request_refuse(rl_request *req, const char *reason);

/* An event of a request that goes on (ABI 1.4 request_event): its time
 * is now minus since_ns (0: the request's start); passed to its owner's
 * `event`. */
void rl__request_event(rl_request *req, const rl_result *result,
                       uint64_t since_ns);

/* Whether the stats count `req` (decided at its first call, here or in
 * rl__request_record, and kept): what listeners hear is what the stats
 * count. */
int rl__request_counts(rl__request_gate *gate, rl_request *req);

/*
 * The request event: records the request, which ended after `rt_ns`, into
 * `stats` (the thread's) under the result's type and name (the target's
 * defaults where the result has none), with `error` (NULL: success;
 * borrowed) as its outcome, in the second `sec` of the run; unless `gate`
 * (NULL: none) leaves it out. Returns the entry it went to (the stats'),
 * or NULL when left out (or out of memory), for the open model's other
 * view of its time (rl__stats_record_alt).
 */
rl__stats_entry *rl__request_record(rl__stats *stats, rl__request_gate *gate,
                                    rl_request *req, const rl_result *result,
                                    const char *error, uint64_t rt_ns,
                                    uint64_t sec);

/* The same for one event of a request that goes on (a stream's message),
 * under the result's type and name with its error, `time_ns` long. */
void rl__request_record_event(rl__stats *stats, rl__request_gate *gate,
                              rl_request *req, const rl_result *result,
                              uint64_t time_ns, uint64_t sec);

#endif /* RL_ENGINE_REQUEST_H */

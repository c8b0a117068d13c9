/*
 * Locust's cluster messages (locust/rpc/protocol.py, runners.py; checked
 * against Locust 2.12.1, docs/cluster.md): each frame is the msgpack array
 * [type, data, node_id], strings as msgpack str, maps with integer keys
 * where Locust has them (response_times, num_reqs_per_sec). Locust 2.12.1's
 * protocol.py adds no extension types (later Locusts encode datetimes as
 * an ext type; a frame with one is read, the value ignored where unused).
 *
 * Building: rl__msg_out collects one frame; rl__msg_<type>() build whole
 * messages. A custom message is rl__msg_begin(), any one msgpack value
 * packed with `o->pk`, then rl__msg_end().
 *
 * Reading: rl__msg_decode() checks a frame's shape before msgpack-c reads
 * it (no container may claim more items than bytes follow, nesting is
 * bounded), so any byte string is a clear error or a message, never a
 * crash or a huge allocation. rl__msg_read_<type>() check the data's shape
 * and copy what they return.
 *
 * Stats: entries go in StatsEntry.serialize()'s shape (times in ms,
 * response_times rounded as Locust rounds them), errors as
 * StatsError.to_dict()/serialize(). Between rpcload nodes each entry has
 * one more key, "rpcload" (Locust ignores keys it does not know), with the
 * exact histogram and nanosecond sums, so a master's percentiles equal a
 * single process's.
 */
#ifndef RL_CLUSTER_MSG_H
#define RL_CLUSTER_MSG_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "stats/stats.h"

struct rl__msg;

/* The Locust whose protocol this is (docs/cluster.md): what a worker says
 * in client_ready and what a master compares a worker's version with. */
#define RL__LOCUST_PROTOCOL "2.12.1"

/* Nesting deeper than this in a frame is refused (Locust's are 4 deep). */
#define RL__MSG_MAX_DEPTH 24

/* ---- building ------------------------------------------------------------ */

typedef struct rl__msg_out {
  msgpack_sbuffer sb; /* the frame so far: sb.data, sb.size */
  msgpack_packer pk;  /* packs into sb */
  int failed;         /* an allocation failed: the frame is unusable */
} rl__msg_out;

/* An empty frame buffer in caller-owned memory; rl__msg_out_free frees it. */
void rl__msg_out_init(rl__msg_out *o);
void rl__msg_out_free(rl__msg_out *o);
/* Empties the frame, keeping its memory. */
void rl__msg_out_reset(rl__msg_out *o);

/* Starts [type, ...: the caller packs exactly one value (the data). */
void rl__msg_begin(rl__msg_out *o, const char *type);
/* Ends the frame with the node id: 0, or RL_ERR_NOMEM (o->failed). */
int rl__msg_end(rl__msg_out *o, const char *node_id);

/* Packs a NUL-terminated string as msgpack str (NULL packs nil). */
void rl__msg_pack_str(msgpack_packer *pk, const char *s);

/* A message whose data is nil: spawning, stop, client_stopped, quit,
 * reconnect. */
int rl__msg_nil(rl__msg_out *o, const char *type, const char *node_id);
/* client_ready: data is the node's version (Locust's __version__). */
int rl__msg_client_ready(rl__msg_out *o, const char *version,
                         const char *node_id);
/* ack: {"index": index}. */
int rl__msg_ack(rl__msg_out *o, int64_t index, const char *node_id);
/* An rpcload master's ack: {"index": index, "rpcload": version}. The extra
 * key tells a worker its master reads the exact histograms (Locust's
 * workers ignore it); rl__msg_ack_is_rpcload() finds it. */
int rl__msg_ack_rpcload(rl__msg_out *o, int64_t index, const char *version,
                        const char *node_id);
int rl__msg_ack_is_rpcload(const struct rl__msg *m);
/* heartbeat: {"state", "current_cpu_usage", "current_memory_usage"}. */
int rl__msg_heartbeat(rl__msg_out *o, const char *state, double cpu_percent,
                      uint64_t memory_bytes, const char *node_id);
/* An rpcload worker's heartbeat: the same and "rpcload": version, which
 * tells an rpcload master that this worker wants heartbeats back (a Locust
 * 2.12.1 worker would log each as an unknown message) and notices a master
 * gone silent. rl__msg_is_rpcload() finds the key in any message's data. */
int rl__msg_heartbeat_rpcload(rl__msg_out *o, const char *state,
                              double cpu_percent, uint64_t memory_bytes,
                              const char *version, const char *node_id);
int rl__msg_is_rpcload(const struct rl__msg *m);
/* exception: {"msg", "traceback"}. */
int rl__msg_exception(rl__msg_out *o, const char *msg, const char *traceback,
                      const char *node_id);

/* Users per class, as Locust's user_classes_count dicts. */
typedef struct rl__msg_class_count {
  char *name; /* owned where a reader returns it */
  int64_t count;
} rl__msg_class_count;

/* spawning_complete: {"user_classes_count", "user_count"}. */
int rl__msg_spawning_complete(rl__msg_out *o, const rl__msg_class_count *cls,
                              size_t ncls, const char *node_id);

/* A spawn job: what the master tells a worker to run. */
typedef struct rl__msg_spawn {
  double timestamp;         /* the master's time.time(): newer wins */
  rl__msg_class_count *cls; /* users per class name */
  size_t ncls;
  char *host;          /* NULL: the worker's own */
  double stop_timeout; /* seconds; < 0: none given (nil) */
} rl__msg_spawn;

/* spawn: {"timestamp", "user_classes_count", "host", "stop_timeout",
 * "parsed_options": {}} (job borrowed). */
int rl__msg_spawn_build(rl__msg_out *o, const rl__msg_spawn *job,
                        const char *node_id);
/* Frees what a reader put in a job (not the job itself). */
void rl__msg_spawn_free(rl__msg_spawn *job);

/* What a stats message tells besides the entries. */
typedef struct rl__msg_report {
  int64_t user_count;
  rl__msg_class_count *cls; /* owned where a reader returns it */
  size_t ncls;
} rl__msg_report;

void rl__msg_report_free(rl__msg_report *r);

/*
 * stats: {"stats": [entry...], "stats_total": entry, "errors": {key:
 * error}, "user_count", "user_classes_count"} from `delta` (the requests
 * since the last report; read, not changed, but not const: its sorted views
 * are refreshed). `run_start_unix` is the wall-clock time of the delta's
 * run second 0 (its per-second counters become Locust's Unix seconds);
 * `since_unix` when the delta began (Locust's start_time) and `now_unix`
 * now (last_request_timestamp). `exact`: add the "rpcload" key (to an
 * rpcload master; a Locust master ignores it, so it is only a cost there).
 */
int rl__msg_stats(rl__msg_out *o, rl__stats *delta, double run_start_unix,
                  double since_unix, double now_unix, int exact,
                  const rl__msg_report *rep, const char *node_id);

/* Locust's rounding of a response time in ms (StatsEntry.log): to 1 ms
 * under 100 ms, 10 ms under 1 s, 100 ms under 10 s, 1 s above, halves to
 * even as Python's round(). */
int64_t rl__msg_round_ms(double ms);

/* ---- reading ------------------------------------------------------------- */

typedef struct rl__msg {
  char *type;          /* owned */
  char *node_id;       /* owned; "" when nil */
  msgpack_object data; /* lives in `up` and `frame` */
  msgpack_unpacked up; /* private */
  char *frame;         /* private: a copy of the frame (str objects point
                           into it) */
} rl__msg;

/*
 * Reads one frame (borrowed) into *m. 0, and rl__msg_free(m) frees it
 * later; or RL_ERR_PROTO with a reason in err (not valid msgpack, trailing
 * bytes, not a 3-array of str/any/str-or-nil, too deep) and nothing to
 * free; or RL_ERR_NOMEM.
 */
int rl__msg_decode(const void *frame, size_t len, rl__msg *m, char *err,
                   size_t errlen);
void rl__msg_free(rl__msg *m);
/* Checks that `len` bytes are exactly one msgpack value msgpack-c may read
 * (rl__msg_decode's check, for a custom message's data): 0, or -1 with a
 * reason in err. */
int rl__msg_value_check(const void *p, size_t len, char *err, size_t errlen);

/* The value under string key `key` of a map object, or NULL (also when `o`
 * is no map). */
const msgpack_object *rl__msg_get(const msgpack_object *o, const char *key);
/* A str object as a new C string (malloc'd); NULL when it is no str, has a
 * NUL inside or on allocation failure. */
char *rl__msg_strdup(const msgpack_object *o);

/* Each reader: 0, or RL_ERR_PROTO with a reason naming the key in err, or
 * RL_ERR_NOMEM; what it returns is the caller's. */
int rl__msg_read_client_ready(const rl__msg *m, char **version, char *err,
                              size_t errlen);
int rl__msg_read_ack(const rl__msg *m, int64_t *index, char *err,
                     size_t errlen);
int rl__msg_read_spawn(const rl__msg *m, rl__msg_spawn *job, char *err,
                       size_t errlen);
int rl__msg_read_heartbeat(const rl__msg *m, char **state, double *cpu,
                           char *err, size_t errlen);
int rl__msg_read_exception(const rl__msg *m, char **msg, char **traceback,
                           char *err, size_t errlen);
/* spawning_complete's counts (user_count too, when there). */
int rl__msg_read_spawning_complete(const rl__msg *m, rl__msg_report *rep,
                                   char *err, size_t errlen);

/*
 * A stats message merged into `into` (rl__stats_merge's rules: entries by
 * (method, name), their errors, the total from the entries). An entry with
 * the "rpcload" key gives its exact histogram and sums; one without (a
 * Locust worker) gives response_times' rounded values, in ms, as its
 * histogram. Locust's Unix seconds become run seconds by `run_start_unix`
 * (seconds before it are dropped from the per-second counters only).
 * `rep` (may be NULL) gets user_count and user_classes_count. The message
 * is checked whole before anything is merged: on RL_ERR_PROTO `into` is
 * unchanged.
 */
int rl__msg_read_stats(const rl__msg *m, rl__stats *into, double run_start_unix,
                       rl__msg_report *rep, char *err, size_t errlen);

#endif /* RL_CLUSTER_MSG_H */

/*
 * The answers of the web UI's HTTP API (Locust's paths, form fields and
 * JSON keys; see web/ui.h for the list), built in memory from a running
 * rl__runner. No HTTP here: web/ui.c parses requests, checks access
 * and sends these answers, so they are testable without a socket.
 *
 * Each rl__web_api_* function reads what it needs under the runner's stats
 * lock, formats into a new buffer, and releases the lock before returning:
 * the caller writes the answer to the network with no lock held. The ones
 * that change the run go through rl__runner_control (applied on the
 * runner's loop).
 *
 * Threads: the web server answers each connection on its own thread, so
 * these functions run concurrently; what the API remembers between
 * requests (the target, the last spawn rate) is under its own lock.
 */
#ifndef RL_WEB_API_H
#define RL_WEB_API_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/runner.h"

struct rl__plan;

/*
 * Compiles what a new test runs against `target` (the target a swarm's
 * host means, rl__url_rebase): 0 and a new plan in *plan (passes to the
 * caller), or a negative code with a one-line reason in `err`: the errors
 * rpcload gives for that target at start-up. Called on a web server
 * thread, one call at a time, while the run goes on; it may block (name
 * resolution, protoc, server reflection).
 */
typedef int (*rl__web_compile_fn)(void *arg, const char *target,
                                  struct rl__plan **plan, char *err,
                                  size_t errlen);

/* A cluster worker as a master's web UI shows it (Locust's workers tab). */
typedef struct rl__web_worker {
  char id[160];
  char state[16];
  int64_t users;
  double cpu; /* percent, as its last heartbeat said */
} rl__web_worker;

/*
 * A cluster master (cluster/web.c) steering its workers for the web UI:
 * the web module cannot see the cluster (web < cluster), so the master
 * hands it these. Each is called on a web server thread; `arg` is the
 * master's, borrowed.
 */
typedef struct rl__web_remote {
  /* A new ramp: users over the workers at rate, their host `host` (NULL:
   * theirs). Returns at once; the master deals them. */
  void (*swarm)(void *arg, uint32_t users, double rate, const char *host);
  /* Stops every worker and returns once each one's last stats are merged
   * and the run is stopped (0), or after wait_s (RL_ERR_TIMEOUT). */
  int (*stop)(void *arg, double wait_s);
  /* Fills at most `max` workers; returns how many there are. */
  size_t (*workers)(void *arg, rl__web_worker *out, size_t max);
  void *arg;
} rl__web_remote;

/* What the API serves, for rl__web_api_init; the strings are copied. */
typedef struct rl__web_api_options {
  rl__runner *r;      /* borrowed: it outlives the API */
  const char *target; /* the target rpcload runs against; NULL: "" */
  const char *plugin; /* its plugin's name, for the report; may be NULL */
  uint32_t users;     /* -u: the start form's default */
  double spawn_rate;  /* -r */
  int auth;           /* basic auth is on (the page says so) */
  /* A new host at a new test; NULL: the target cannot change. */
  rl__web_compile_fn compile;
  void *compile_arg;
  /* A cluster master's workers run the users (borrowed); NULL: this
   * process runs them. */
  const rl__web_remote *remote;
} rl__web_api_options;

typedef struct rl__web_api {
  rl__runner *r;
  char *plugin; /* owned; may be NULL */
  uint32_t users;
  int auth;
  rl__web_compile_fn compile;
  void *compile_arg;
  const rl__web_remote *remote; /* borrowed; NULL: none */
  pthread_mutex_t swarm_lock;   /* one /swarm at a time */
  pthread_mutex_t lock;         /* for what follows */
  char *target;                 /* owned; never NULL */
  double spawn_rate;            /* -r, then the last rate asked for */
} rl__web_api;

/* Sets up `api` from `cfg`: 0, or RL_ERR_NOMEM (nothing to free then). */
int rl__web_api_init(rl__web_api *api, const rl__web_api_options *cfg);

/* Frees what rl__web_api_init made. */
void rl__web_api_free(rl__web_api *api);

/*
 * An answer. `body` is malloc'd and passes to the caller, who frees it (or
 * hands it to the server, which frees it); NULL only when out of memory,
 * with status 500. `type` is a static string. A non-empty `filename` asks
 * for a download under that name (Content-Disposition: attachment).
 */
typedef struct rl__web_answer {
  unsigned status;
  const char *type;
  char *body;
  size_t len;
  char filename[64];
} rl__web_answer;

/* The Locust CSV files the API serves. */
enum rl__web_csv {
  RL__WEB_CSV_STATS,     /* /stats/requests/csv */
  RL__WEB_CSV_HISTORY,   /* /stats/requests_full_history/csv */
  RL__WEB_CSV_FAILURES,  /* /stats/failures/csv */
  RL__WEB_CSV_EXCEPTIONS /* /exceptions/csv */
};

/* GET /stats/requests: Locust's live stats (rl__report_json_stats_requests),
 * plus response_time_percentile_0.99 in current_response_time_percentiles,
 * cut_requests, and user_classes_count ({class: users running}). */
void rl__web_api_stats_requests(rl__web_api *api, rl__web_answer *a);

/* GET /tasks: Locust's, {"per_class": {class: {"ratio", "tasks": {task:
 * {"ratio"}}}}, "total": the same with each task's share of all task
 * runs}: each class's share of the users running now, and its tasks'
 * weights (rpcload's own tasks are one level: no nested task sets). */
void rl__web_api_tasks(rl__web_api *api, rl__web_answer *a);

/* GET /metrics: the Prometheus exposition (src/prometheus.h). */
void rl__web_api_metrics(rl__web_api *api, rl__web_answer *a);

/* GET /stats/report: the HTML report of the stats so far; as a file named
 * rpcload_report_UNIXTIME.html when `download`. */
void rl__web_api_report_html(rl__web_api *api, int download, rl__web_answer *a);

/* GET /stats/report.json: the --json report of the stats so far. */
void rl__web_api_report_json(rl__web_api *api, rl__web_answer *a);

/* The CSV file `kind` as a download (Locust's names: requests_T.csv, ...);
 * 501 when this build cannot format it in memory (see web_api.c). */
void rl__web_api_csv(rl__web_api *api, enum rl__web_csv kind,
                     rl__web_answer *a);

/* GET /config: what the page needs to know of the run (host, defaults,
 * versions) as one JSON object. */
void rl__web_api_config(rl__web_api *api, rl__web_answer *a);

/* GET /exceptions: {"exceptions": []} (no user code runs, none is raised). */
void rl__web_api_exceptions(rl__web_api *api, rl__web_answer *a);

/*
 * POST /swarm with Locust's form fields (NULL or "" when not given):
 * user_count (0 to 10000000), spawn_rate (> 0), run_time (Locust's forms,
 * "90", "30s", "1h20m": this test stops that long after this swarm; "0":
 * it runs until stopped; empty: -t's limit for a new test, a running
 * test keeps its own), and host (empty: the current target). A host that
 * means another target (rl__url_rebase: an origin keeps the target's
 * path) is compiled now, with the errors rpcload gives at start-up, and
 * runs from this new test on: from ready or stopped only (409 while a
 * test runs). Answers {"success": true, "message": "Swarming started",
 * "host", ["run_time": seconds]}; else 400 (409 while the run ends) with
 * {"success": false, "message"}.
 */
void rl__web_api_swarm(rl__web_api *api, const char *user_count,
                       const char *spawn_rate, const char *host,
                       const char *run_time, rl__web_answer *a);

/* GET /stop: {"success": true, "message": "Test stopped"}. */
void rl__web_api_stop(rl__web_api *api, rl__web_answer *a);

/* GET /stats/reset: "ok". */
void rl__web_api_reset(rl__web_api *api, rl__web_answer *a);

/* {"success": false, "message": msg, "host": target} with `status`, for
 * refusals decided before the API (a form too long, another site). */
void rl__web_api_refuse(rl__web_api *api, unsigned status, const char *msg,
                        rl__web_answer *a);

#endif /* RL_WEB_API_H */

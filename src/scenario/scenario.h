/*
 * Scenario files (YAML): user classes, tasks and steps, parsed into plain
 * structs and validated before anything runs. docs/scenarios.md is the
 * format's reference.
 *
 * Every node keeps its position (1-based line and column) so that any
 * later check, here or in the runtime, can name file:line:col. The parser
 * cannot know which plugins will be loaded, so a step's protocol key
 * (`http`, `grpc`, `redis`...) is only checked for its shape; the caller
 * checks scenario->protocols against the loaded plugins and reports an
 * unknown one with rl__scn_errorf().
 *
 * Everything reachable from an rl__scn is owned by it and freed by
 * rl__scn_del(); the structs are read-only for the runtime.
 */
#ifndef RL_SCENARIO_H
#define RL_SCENARIO_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/jsonpath.h"
#include "engine/checks.h"
#include "engine/feeder.h"
#include "engine/profile.h"
#include "engine/wait.h"

/* A position in the file, 1-based. line == 0: no position (not in the
 * file, e.g. a default). */
typedef struct rl__scn_pos {
  int line, col;
} rl__scn_pos;

/* An ordered key/value pair (headers, metadata, plugin options). */
typedef struct rl__scn_kv {
  char *key;
  char *value;     /* scalars as written ("5", "true"); null -> "" */
  rl__scn_pos pos; /* the key's */
  rl__scn_pos value_pos;
} rl__scn_kv;

/* A key of the step's own protocol (`proto:`, `metadata:`), not one every
 * step has: the parser cannot know which plugin will serve the step, so it
 * keeps the key and its value's shape, and the compiler checks them
 * against the options the plugin declares (ABI 1.3 step_options). */
typedef struct rl__scn_own {
  char *key;
  rl__scn_pos pos; /* the key's */
  rl__scn_pos value_pos;
  enum {
    RL__SCN_OWN_SCALAR, /* items: one, key "" */
    RL__SCN_OWN_LIST,   /* items: one per element, key "" */
    RL__SCN_OWN_MAP,    /* items: its pairs, scalars as written */
  } shape;
  rl__scn_kv *items;
  size_t n_items;
} rl__scn_own;

/* One request. The protocol key (the first key that is not one every step
 * has) picks the plugin; the rest configures it. Strings the runtime
 * expands as templates ({{...}}): spec, call, header values, the own
 * keys' values, body (whatever its kind). The parser has checked their
 * syntax and that every variable they use is captured before them.
 * Expectations, names, hosts, options and captures are literal. */
typedef struct rl__scn_step {
  rl__scn_pos pos; /* the step's mapping */
  /* A request (the fields below), or `{sleep: 1.5}`, or
   * `{repeat: N, steps: [...]}` (steps, n_steps). */
  enum {
    RL__SCN_STEP_REQUEST = 0,
    RL__SCN_STEP_SLEEP,
    RL__SCN_STEP_REPEAT
  } kind;
  uint64_t sleep_ns;          /* SLEEP */
  uint32_t repeat;            /* REPEAT: >= 1 */
  struct rl__scn_step *steps; /* REPEAT: what it repeats */
  size_t n_steps;
  /* on_failure: what a failure of this request does to the user, as
   * engine/plan.h's enum rl__on_failure; -1: unset (the phase's
   * default). */
  int on_failure;
  int stop_user;  /* stop_user: true, after the step whatever happened */
  char *protocol; /* the protocol key: "http", "grpc", "redis"... */
  rl__scn_pos protocol_pos;
  char *spec; /* its value: "POST /login", "pkg.Svc/Method"; "" if null */
  rl__scn_pos spec_pos;
  char *name; /* stats name; NULL: the plugin's default */
  rl__scn_pos name_pos;
  char *host; /* NULL: the user class's, else the scenario's */
  rl__scn_pos host_pos;
  /* runtime_host: true (a C class's request): no host of its own, sent
   * only to one a task names (rl_send_opts.host, a run-time target). */
  int runtime_host;
  rl__scn_kv *headers;
  size_t n_headers;
  /* The request's payload: at most one of body / json / data is set,
   * and `body` holds it in every case (JSON text for json and for data
   * given as a mapping). */
  char *body;
  enum {
    RL__SCN_BODY_NONE,
    RL__SCN_BODY_TEXT,
    RL__SCN_BODY_JSON,
    RL__SCN_BODY_DATA
  } body_kind;
  rl__scn_pos body_pos;
  rl__scn_own *own; /* the protocol's own keys, in file order */
  size_t n_own;
  char *call; /* NULL when unset */
  rl__scn_pos call_pos;
  rl__scn_kv *options; /* plugin options, as -O key=value */
  size_t n_options;
  uint64_t timeout_ns; /* 0: the run's --timeout */
  rl__scn_pos timeout_pos;
  rl__expect expect;      /* engine/checks.h */
  rl__scn_pos expect_pos; /* line 0: the step has no expect */
  /* expect.status_name's position (a named status, resolved against the
   * step's plugin when compiled). */
  rl__scn_pos status_name_pos;
  rl__capture *captures;
  size_t n_captures;
} rl__scn_step;

typedef struct rl__scn_task {
  rl__scn_pos pos;
  char *name;    /* NULL when unset; a library task's: its key */
  double weight; /* > 0; default 1 */
  char **tags;
  size_t n_tags;
  rl__scn_step *steps; /* may be none (Locust's `pass`) */
  size_t n_steps;
} rl__scn_task;

typedef struct rl__scn_user {
  rl__scn_pos pos;
  char *name; /* unique in the scenario */
  rl__scn_pos name_pos;
  double weight;         /* > 0; default 1 */
  int has_fixed_count;   /* 1: exactly fixed_count users, before weights */
  long long fixed_count; /* >= 0 */
  rl__wait wait;         /* the class's, else settings.wait, else none */
  int has_wait;          /* the class set its own */
  rl__scn_pos wait_pos;
  char *host; /* NULL: the scenario's */
  rl__scn_pos host_pos;
  rl__scn_step *on_start;
  size_t n_on_start;
  rl__scn_step *on_stop;
  size_t n_on_stop;
  rl__scn_task *tasks; /* at least one */
  size_t n_tasks;
  int sequential;   /* tasks in the order written, looping (Locust's
                     SequentialTaskSet); weights are then ignored */
  rl__feeder *data; /* its own `data:` file (owned), or NULL: the file's */
  /* A user class written in C (scenario/cclass.c), not read from a file:
   * its tasks have no steps (they are C functions), its requests are the
   * steps they send by index (rl__scn_parse_request), and its name,
   * tasks and requests are copies it owns. */
  int c_class;
  char *written_in; /* rl_user_class.written_in (copied), NULL: C */
  rl__scn_step *requests;
  size_t n_requests;
} rl__scn_user;

/* The top-level `settings:` map: defaults the command line overrides. */
typedef struct rl__scn_settings {
  int has_users;
  long long users;
  rl__scn_pos users_pos;
  int has_spawn_rate;
  double spawn_rate; /* > 0 */
  rl__scn_pos spawn_rate_pos;
  int has_run_time;
  uint64_t run_time_ns;
  rl__scn_pos run_time_pos;
  int has_wait; /* the default for classes without `wait` */
  rl__wait wait;
  rl__scn_pos wait_pos;
} rl__scn_settings;

/* The scenario's `shape:` (scenario/shape.h has its syntax). */
enum rl__scn_shape_kind {
  RL__SCN_SHAPE_NONE = 0,
  RL__SCN_SHAPE_USERS, /* stages, step, spike: users over time */
  RL__SCN_SHAPE_RATE,  /* rate, rate_stages: the open model */
};

typedef struct rl__scn_shape {
  int kind;            /* enum rl__scn_shape_kind */
  rl__profile profile; /* owned stages: users, or arrivals per second */
  int rate_constant;   /* RATE: `rate:` (one endless stage) */
  /* The open model's settings; < 0: not given. */
  int arrivals; /* enum rl__arrivals_kind, or -1 */
  long long max_inflight, max_queue;
  rl__scn_pos pos;
} rl__scn_shape;

/* One use of a protocol key, for checking against the loaded plugins. */
typedef struct rl__scn_protocol_use {
  const char *name; /* borrowed from the step */
  rl__scn_pos pos;
} rl__scn_protocol_use;

typedef struct rl__scn {
  char *file; /* the name errors use */
  char *host; /* default for every step; NULL when unset */
  rl__scn_pos host_pos;
  rl__scn_settings settings;
  rl__scn_shape shape;
  rl__scn_user *users;
  size_t n_users;
  /* The top-level `tasks:` library (name: task), checked for their shape;
   * a class that uses one gets its own copy, checked in its scope. */
  rl__scn_task *library;
  size_t n_library;
  rl__feeder *data; /* the top-level `data:` file (owned), or NULL */
  /* Every step's protocol key, in file order (on_start, tasks, on_stop
   * per class), duplicates included. */
  rl__scn_protocol_use *protocols;
  size_t n_protocols;
  /* The variables C classes' requests name that no capture sets (their
   * code sets them: rl_user_set_var), owned. */
  char **c_vars;
  size_t n_c_vars;
} rl__scn;

/* The keys every step has, whatever its protocol (NULL-terminated); a
 * step's other keys are its protocol key and that protocol's own. */
extern const char *const rl__scn_step_keys[];

/*
 * Reads and parses the file at `path` (the path as given is the name in
 * errors). Returns 0 and *out (caller owns; rl__scn_del), or
 * RL_ERR_INVAL with "file:line:col: message" in err (or "file: message"
 * when there is no position, e.g. the file cannot be read), or
 * RL_ERR_NOMEM. *out is NULL on failure.
 */
int rl__scn_load(const char *path, rl__scn **out, char *err, size_t errlen);

/*
 * As rl__scn_load, from `len` bytes of `text` (borrowed; no NUL
 * needed) named `name_for_errors` (copied).
 */
int rl__scn_parse_string(const char *text, size_t len,
                         const char *name_for_errors, rl__scn **out, char *err,
                         size_t errlen);

/* Frees the scenario and everything in it; NULL is fine. */
void rl__scn_del(rl__scn *s);

/*
 * A request of a user class written in C (scenario/cclass.c): `text` (a
 * NUL-terminated YAML document, borrowed) is one request step, read as a
 * scenario's step is, into *out (zeroed first; what it holds is owned by
 * s's class once stored in its `requests`, and freed by rl__scn_del).
 * Its templates may name any variable: one no capture of it sets is
 * added to s->c_vars, for the class's code to set. sleep, repeat,
 * on_failure and stop_user are refused (the task's code decides). Errors
 * read "NAME:line:col: message" with `name_for_errors`. 0, RL_ERR_INVAL
 * or RL_ERR_NOMEM.
 */
int rl__scn_parse_request(rl__scn *s, const char *text,
                          const char *name_for_errors, rl__scn_step *out,
                          char *err, size_t errlen);

/* How errors name request `i` (0-based) of C class `cls`:
 * "Shop.requests[1]", into buf (len bytes). */
void rl__scn_request_label(const char *cls, size_t i, char *buf, size_t len);

/*
 * A wait written as text (a C class's wait_time): Locust's spelling
 * ("between(1, 2)", "constant_pacing(2)", ...; read as the scenario's
 * {between: [1, 2]}), a number of seconds (a constant wait), or a
 * scenario's wait: its mapping ("{constant: 1}") or the command line's
 * spelling ("between:1,2"). Into *out; errors read "NAME: ..." with
 * `name_for_errors`. 0, RL_ERR_INVAL or RL_ERR_NOMEM.
 */
int rl__scn_parse_wait_text(const char *text, const char *name_for_errors,
                            rl__wait *out, char *err, size_t errlen);

/*
 * Formats "file:line:col: message" (or "file: message" when pos.line is
 * 0) into err, for the caller's own checks (an unknown protocol, a step
 * a plugin refused). Always returns RL_ERR_INVAL, so it can be returned
 * directly.
 */
int rl__scn_errorf(const rl__scn *s, rl__scn_pos pos, char *err, size_t errlen,
                   const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

#endif /* RL_SCENARIO_H */

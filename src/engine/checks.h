/*
 * A step's expectations and captures, applied to the response a plugin
 * handed over (response.h): Locust's catch_response, and values carried
 * from one request to the next in the user's variables.
 *
 * The types are what the engine checks; a scenario file (scenario/) is one
 * way to fill them, and owns what it fills. Worker thread; nothing here
 * keeps state.
 */
#ifndef RL_ENGINE_CHECKS_H
#define RL_ENGINE_CHECKS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/jsonpath.h"
#include "base/regex.h"
#include "engine/response.h"

/* expect.json: one check on the value a JSON path selects in the
 * response's JSON (HTTP body, or the decoded gRPC message). */
enum rl__json_op {
  RL__JSON_EXISTS,   /* only `path`: the value must be there */
  RL__JSON_EQUALS,   /* equal as JSON (1 == 1.0, objects unordered) */
  RL__JSON_CONTAINS, /* string: substring; array: an element equals;
                        object: has the key (a string) */
  RL__JSON_MATCHES,  /* the value's text matches the regex */
};

typedef struct rl__json_expect {
  rl__jsonpath *path;
  enum rl__json_op op;
  char *text;    /* EQUALS/CONTAINS: the operand as JSON text;
                    MATCHES: the regex; EXISTS: NULL */
  json_t *value; /* EQUALS/CONTAINS: the operand parsed */
  rl__regex *re; /* MATCHES: compiled */
} rl__json_expect;

/* Locust's catch_response: a request that meets every set expectation
 * succeeds; the first one it misses is its error text. */
typedef struct rl__expect {
  int has_status;
  int status; /* HTTP status, 100..599 */
  char *body_contains;
  char *body_matches; /* the regex's text */
  rl__regex *body_re; /* compiled */
  rl__json_expect *json;
  size_t n_json;
  /* A status by the step's plugin's name for it, or its number, as
   * written (`grpc_status: NOT_FOUND`); resolved with the plugin's names
   * into rl__step_checks when the step is compiled. NULL: unset. */
  char *status_name;
  int has_max_ms;
  double max_ms; /* > 0 */
} rl__expect;

enum rl__capture_kind {
  RL__CAPTURE_JSON,   /* a JSON path into the body / gRPC message */
  RL__CAPTURE_HEADER, /* a response header (or gRPC metadata) */
  RL__CAPTURE_REGEX,  /* first group of a regex over the body (the whole
                         match when the regex has no group) */
};

/* A value from the response into one of the user's variables, for
 * {{var}} in later steps. */
typedef struct rl__capture {
  char *var;
  enum rl__capture_kind kind;
  char *source;       /* as written: "$.token", "header:x-id", "regex:..." */
  const char *arg;    /* into source: the path, header name, or regex */
  rl__jsonpath *path; /* JSON */
  rl__regex *re;      /* REGEX: compiled */
} rl__capture;

/* What one step checks, borrowed from whoever filled it. */
typedef struct rl__step_checks {
  const rl__expect *expect; /* NULL: no expectations */
  const rl__capture *captures;
  size_t n_captures;
  const size_t *capture_vars; /* per capture: the user's variable index */
  /* expect->status_name resolved: the status code it names. */
  int has_named_status;
  int named_status;
  /* The step's plugin's names for its statuses (ABI 1.3), indexed by
   * code, for error texts; NULL: statuses are numbers. */
  const char *const *status_names;
  uint32_t n_status_names;
} rl__step_checks;

/* The name `names` (n of them, indexed by code) give status `code`, or
 * NULL. */
const char *rl__status_name(const char *const *names, uint32_t n, int code);

/* The code of the status named `text` (ASCII case ignored) in `names`, or
 * given as a number below n; -1 when neither. */
int rl__status_code(const char *const *names, uint32_t n, const char *text);

/*
 * Checks one expect.json entry against a response's parsed JSON `doc`
 * (borrowed). Returns 1 when it holds; 0 when not, with the reason in
 * `why` ("$.ok is false, expected true"), the request's error text.
 */
int rl__json_expect_check(const rl__json_expect *e, const json_t *doc,
                          char *why, size_t whylen);

/*
 * The outcome of a step checking `ck` whose plugin reported `plugin_error`
 * (NULL: success; borrowed) after `rt_ns`, with the response in `resp`
 * (may be NULL or empty). An expected status (HTTP or gRPC) decides
 * success by itself, overriding the plugin's verdict on the status; the
 * other expectations can only turn a success into a failure. Then each
 * capture stores its value in vars[ck->capture_vars[i]] (the user's; the
 * old value is freed); a capture that finds nothing, or a failed request,
 * fails and sets *stop_task. Returns the request's error text: NULL,
 * plugin_error, or a text written into buf (len bytes).
 */
const char *rl__checks_apply(const rl__step_checks *ck,
                             const rl__response *resp, const char *plugin_error,
                             uint64_t rt_ns, char **vars, char *buf, size_t len,
                             int *stop_task);

#endif /* RL_ENGINE_CHECKS_H */

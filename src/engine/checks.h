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
#include "engine/template.h"

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
/* The statuses an expectation accepts, 0..RL__STATUS_MAX. */
#define RL__STATUS_MAX 599
typedef struct rl__status_set {
  uint64_t bits[(RL__STATUS_MAX + 64) / 64];
} rl__status_set;

static inline int rl__status_set_has(const rl__status_set *s, int code) {
  return code >= 0 && code <= RL__STATUS_MAX &&
         (s->bits[code / 64] >> (code % 64) & 1u);
}

static inline void rl__status_set_add(rl__status_set *s, int code) {
  if (code >= 0 && code <= RL__STATUS_MAX)
    s->bits[code / 64] |= (uint64_t)1 << (code % 64);
}

typedef struct rl__expect {
  int has_status;
  rl__status_set status; /* `status: 200`, `[200, 404]`, `2xx` */
  char *status_text;     /* as people read it: "200 or 404", "2xx" */
  /* May hold {{...}} (expanded per request: rl__step_checks.contains). */
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
  /* The error text of any failure of a request that got a response
   * (`message:`), instead of the reason; NULL: the reason. */
  char *message;
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
  /* Expected values that are templates (compiled with the plan's
   * variables; borrowed): expect->body_contains, and per expect->json
   * entry the string operand of equals/contains (NULL entries and a NULL
   * array: literal). Expanded with the user's template context. */
  const rl_template *contains;
  rl_template *const *json_operands;
} rl__step_checks;

/* The name `names` (n of them, indexed by code) give status `code`, or
 * NULL. */
const char *rl__status_name(const char *const *names, uint32_t n, int code);

/* The code of the status named `text` (ASCII case ignored) in `names`, or
 * given as a number below n; -1 when neither. */
int rl__status_code(const char *const *names, uint32_t n, const char *text);

/*
 * Checks one expect.json entry against a response's parsed JSON `doc`
 * (borrowed). `operand` (may be NULL): the text a templated operand
 * expanded to, which then stands for e->value: a string value must have
 * that text, any other value that JSON (`{{id}}` holds for 42 when id is
 * "42"). Returns 1 when it holds; 0 when not, with the reason in `why`
 * ("$.ok is false, expected true"), the request's error text.
 */
int rl__json_expect_check(const rl__json_expect *e, const json_t *doc,
                          const char *operand, char *why, size_t whylen);

/*
 * The outcome of a step checking `ck` whose plugin reported `plugin_error`
 * (NULL: success; borrowed) after `rt_ns`, with the response in `resp`
 * (may be NULL or empty). An expected status (HTTP or gRPC) decides
 * success by itself, overriding the plugin's verdict on the status; the
 * other expectations can only turn a success into a failure; templated
 * expected values are expanded with `tctx` (the user's; NULL: taken as
 * written). A failure of a request that got a response takes the
 * expectation's message when it has one. Then each capture stores its
 * value in vars[ck->capture_vars[i]] (the user's; the old value is
 * freed); a capture that finds nothing, or a failed request, fails and
 * sets *stop_task. Returns the request's error text: NULL, plugin_error,
 * or a text written into buf (len bytes), or the message (borrowed from
 * ck).
 */
const char *rl__checks_apply(const rl__step_checks *ck,
                             const rl__response *resp, const char *plugin_error,
                             uint64_t rt_ns, const rl__template_ctx *tctx,
                             char **vars, char *buf, size_t len,
                             int *stop_task);

#endif /* RL_ENGINE_CHECKS_H */

/*
 * Scenario files: the schema. libyaml's document API loads the whole file
 * into a node tree (each node with its start mark), then one pass walks it
 * into the structs of scenario.h, checking as it goes: the root, settings,
 * user classes, waits, tasks and steps (a step's expect and capture are
 * checks.c's). The first problem found ends the parse with
 * "file:line:col: message"; whatever was built so far is freed by
 * rl__scn_del, which copes with half-filled structs (arrays grow by a
 * zeroed element before it is filled). Also the entry points (a file, a
 * string) and rl__scn_errorf.
 *
 * May call: scenario/yaml.h (reading nodes), scenario/vars.h (variables
 * in scope, template checks), scenario/yaml_json.h (JSON bodies),
 * scenario/expect.h (expect, capture), engine/wait.h, libyaml.
 */
#include "scenario/scenario.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include <rpcload/plugin.h>

#include "base/units.h"
#include "scenario/expect.h"
#include "scenario/shape.h"
#include "scenario/vars.h"
#include "scenario/yaml.h"
#include "scenario/yaml_json.h"

/* ---- errors -------------------------------------------------------------- */

int rl__scn_errorf(const rl__scn *s, rl__scn_pos pos, char *err, size_t errlen,
                   const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  rl__scn_vformat(s && s->file ? s->file : "scenario", pos, err, errlen, fmt,
                  ap);
  va_end(ap);
  return RL_ERR_INVAL;
}

/* ---- key/value maps ------------------------------------------------------ */

/* A mapping of scalars into kv pairs; values checked as templates against
 * `v` (NULL: literal). */
static int parse_kv(rl__scn_ctx *c, const yaml_node_t *m, const char *key,
                    const rl__scn_vars *v, rl__scn_kv **out, size_t *n) {
  int rc;
  if (m->type != YAML_MAPPING_NODE)
    return rl__scn_type_err(c, m, "a mapping (name: value)", key);
  if ((rc = rl__scn_check_map(c, m, key, NULL, NULL)))
    return rc;
  for (yaml_node_pair_t *p = m->data.mapping.pairs.start;
       p < m->data.mapping.pairs.top; p++) {
    yaml_node_t *k = rl__scn_node_at(c, p->key),
                *val = rl__scn_node_at(c, p->value);
    const char *vt = "";
    if (!rl__scn_is_null(val) &&
        (rc = rl__scn_scalar_text(c, val, rl__scn_stext(k), &vt)))
      return rc;
    if ((rc = rl__scn_check_template(c, val, vt, v)))
      return rc;
    rl__scn_kv *kv = rl__scn_grow(out, n, sizeof **out);
    if (!kv)
      return rl__scn_oom(c);
    kv->pos = rl__scn_npos(k);
    kv->value_pos = rl__scn_npos(val);
    if ((rc = rl__scn_dup_str(c, rl__scn_stext(k), &kv->key)) ||
        (rc = rl__scn_dup_str(c, vt, &kv->value)))
      return rc;
  }
  return 0;
}

/* ---- steps --------------------------------------------------------------- */

/* One of the protocol's own keys: a scalar, a list of scalars, or a
 * mapping of scalars; templates in every value are checked as everywhere
 * (which ones a plugin expands is the plugin's business). */
static int parse_own(rl__scn_ctx *c, const yaml_node_t *k,
                     const yaml_node_t *val, const rl__scn_vars *v,
                     rl__scn_step *st) {
  rl__scn_own *o = rl__scn_grow(&st->own, &st->n_own, sizeof *o);
  if (!o)
    return rl__scn_oom(c);
  o->pos = rl__scn_npos(k);
  o->value_pos = rl__scn_npos(val);
  int rc = rl__scn_dup_str(c, rl__scn_stext(k), &o->key);
  if (rc)
    return rc;
  if (val->type == YAML_MAPPING_NODE) {
    o->shape = RL__SCN_OWN_MAP;
    return parse_kv(c, val, rl__scn_stext(k), v, &o->items, &o->n_items);
  }
  o->shape =
      val->type == YAML_SEQUENCE_NODE ? RL__SCN_OWN_LIST : RL__SCN_OWN_SCALAR;
  char **texts = NULL;
  size_t n = 0;
  rc = rl__scn_parse_str_list(c, val, rl__scn_stext(k), &texts, &n);
  for (size_t i = 0; i < n; i++) {
    rl__scn_kv *kv = rl__scn_grow(&o->items, &o->n_items, sizeof *kv);
    if (!kv) {
      rc = rc ? rc : rl__scn_oom(c);
      free(texts[i]);
      continue;
    }
    kv->value = texts[i];
    kv->value_pos = o->value_pos;
    if (rc == 0 && !(kv->key = strdup("")))
      rc = rl__scn_oom(c);
    if (rc == 0)
      rc = rl__scn_check_template(c, val, kv->value, v);
  }
  free(texts);
  return rc;
}

/* The keys every step has, whatever its protocol; the others are the
 * protocol key and its own keys (declared by its plugin). */
const char *const rl__scn_step_keys[] = {
    "name",   "host",     "headers",    "body",      "json",
    "data",   "messages", "call",       "options",   "timeout",
    "expect", "capture",  "on_failure", "stop_user", NULL};

/* A protocol key reads like a URL scheme: http, grpc, redis, h2c... */
static int is_protocol_name(const char *s) {
  if (!(*s >= 'a' && *s <= 'z'))
    return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '+' ||
          *s == '-' || *s == '.'))
      return 0;
  return 1;
}

static const char *const on_failure_words[] = {"continue", "stop_task",
                                               "stop_user", NULL};

/* on_failure: continue | stop_task | stop_user, and stop_user: true. */
static int parse_flow_keys(rl__scn_ctx *c, const yaml_node_t *n,
                           rl__scn_step *st) {
  yaml_node_t *val = rl__scn_get(c, n, "on_failure", NULL);
  int rc;
  if (val) {
    const char *t = val->type == YAML_SCALAR_NODE ? rl__scn_stext(val) : "";
    int i = 0;
    while (on_failure_words[i] && strcmp(on_failure_words[i], t) != 0)
      i++;
    if (!on_failure_words[i]) {
      char buf[64];
      return rl__scn_errat(c, rl__scn_npos(val),
                           "expected continue, stop_task or stop_user for "
                           "'on_failure', got %s",
                           rl__scn_describe(val, buf, sizeof buf));
    }
    st->on_failure = i; /* the order of enum rl__on_failure */
  }
  if ((val = rl__scn_get(c, n, "stop_user", NULL)) &&
      (rc = rl__scn_get_bool(c, val, "stop_user", &st->stop_user)))
    return rc;
  return 0;
}

static const char *const sleep_keys[] = {"sleep", "stop_user", NULL};

/* {sleep: 1.5}: the user waits, in the task, before its next step. */
static int parse_sleep(rl__scn_ctx *c, const yaml_node_t *n, rl__scn_step *st) {
  int rc;
  st->kind = RL__SCN_STEP_SLEEP;
  if ((rc = rl__scn_check_map(c, n, "sleep step", sleep_keys,
                              "a sleep step only waits")) ||
      (rc = rl__scn_get_duration(c, rl__scn_get(c, n, "sleep", NULL), "sleep",
                                 &st->sleep_ns)) ||
      (rc = parse_flow_keys(c, n, st)))
    return rc;
  return 0;
}

static int parse_steps(rl__scn_ctx *c, const yaml_node_t *n, const char *key,
                       rl__scn_vars *v, rl__scn_step **out, size_t *count);

static const char *const repeat_keys[] = {"repeat", "steps", NULL};

/* {repeat: N, steps: [...]}: the steps N times in a row, {{i}} counting
 * 0, 1, ... (Locust's `for i in range(N)` in a task). */
static int parse_repeat(rl__scn_ctx *c, const yaml_node_t *n, rl__scn_vars *v,
                        rl__scn_step *st) {
  int rc;
  st->kind = RL__SCN_STEP_REPEAT;
  if ((rc = rl__scn_check_map(c, n, "repeat step", repeat_keys, NULL)))
    return rc;
  yaml_node_t *k = NULL, *val = rl__scn_get(c, n, "repeat", &k);
  long long times;
  if ((rc = rl__scn_get_int(c, val, "repeat", 1, 1000000, &times)))
    return rc;
  st->repeat = (uint32_t)times;
  if (c->repeat_depth >= RL__SCN_MAX_REPEAT_DEPTH)
    return rl__scn_errat(c, rl__scn_npos(k), "repeats nested deeper than %d",
                         RL__SCN_MAX_REPEAT_DEPTH);
  if (!(val = rl__scn_get(c, n, "steps", NULL)))
    return rl__scn_errat(c, rl__scn_npos(n),
                         "repeat is missing 'steps' (the steps it repeats)");
  c->repeat_depth++;
  rc = parse_steps(c, val, "steps", v, &st->steps, &st->n_steps);
  c->repeat_depth--;
  return rc;
}

static int parse_step(rl__scn_ctx *c, const yaml_node_t *n, rl__scn_vars *v,
                      rl__scn_step *st) {
  int rc;
  if (n->type != YAML_MAPPING_NODE)
    return rl__scn_type_err(c, n, "a mapping (e.g. {http: GET /path})", "step");
  st->pos = rl__scn_npos(n);
  st->on_failure = -1;
  if (rl__scn_get(c, n, "sleep", NULL))
    return parse_sleep(c, n, st);
  if (rl__scn_get(c, n, "repeat", NULL))
    return parse_repeat(c, n, v, st);
  if ((rc = rl__scn_check_map(c, n, "step", NULL, NULL)))
    return rc;
  /* The protocol key is the first key every step does not have; the
   * keys after it that no step has are its own (checked against its
   * plugin when compiled). A misspelt common key is caught here. */
  yaml_node_t *pk = NULL, *pv = NULL;
  for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
       p < n->data.mapping.pairs.top; p++) {
    yaml_node_t *k = rl__scn_node_at(c, p->key);
    if (rl__scn_in_list(rl__scn_step_keys, rl__scn_stext(k)))
      continue;
    if (c->open_vars && strcmp(rl__scn_stext(k), "runtime_host") == 0) {
      /* A C class's request only (user.h): sent with a host given at
       * run time, never to one of its own. */
      if ((rc = rl__scn_get_bool(c, rl__scn_node_at(c, p->value),
                                 "runtime_host", &st->runtime_host)))
        return rc;
      continue;
    }
    if (!pk && rl__scn_closest(rl__scn_step_keys, rl__scn_stext(k)) &&
        p + 1 < n->data.mapping.pairs.top)
      return rl__scn_unknown_key(c, k, "step", rl__scn_step_keys, NULL);
    if (pk) {
      if ((rc = parse_own(c, k, rl__scn_node_at(c, p->value), v, st)))
        return rc;
      continue;
    }
    pk = k;
    pv = rl__scn_node_at(c, p->value);
  }
  if (!pk)
    return rl__scn_errat(
        c, rl__scn_npos(n),
        "step has no protocol key: start it with the protocol, "
        "e.g. {http: GET /path} or {grpc: pkg.Service/Method}");
  if (!is_protocol_name(rl__scn_stext(pk)))
    return rl__scn_errat(
        c, rl__scn_npos(pk),
        "'%s' is not a protocol name (lower-case letters, digits, "
        "+ - .) nor a step key",
        rl__scn_stext(pk));
  if ((rc = rl__scn_dup_str(c, rl__scn_stext(pk), &st->protocol)))
    return rc;
  st->protocol_pos = rl__scn_npos(pk);
  rl__scn_protocol_use *use =
      rl__scn_grow(&c->s->protocols, &c->s->n_protocols, sizeof *use);
  if (!use)
    return rl__scn_oom(c);
  use->name = st->protocol;
  use->pos = st->protocol_pos;

  st->spec_pos = rl__scn_npos(pv);
  if (rl__scn_is_null(pv)) {
    rc = rl__scn_dup_str(c, "", &st->spec);
  } else {
    rc = rl__scn_get_str(c, pv, st->protocol, &st->spec);
  }
  if (rc || (rc = rl__scn_check_template(c, pv, st->spec, v)))
    return rc;

  yaml_node_t *val, *k;
  if ((rc = rl__scn_opt_str(c, n, "name", &st->name, &st->name_pos)) ||
      (rc = rl__scn_opt_str(c, n, "host", &st->host, &st->host_pos)) ||
      (rc = rl__scn_opt_str(c, n, "call", &st->call, &st->call_pos)))
    return rc;
  if (st->call && (rc = rl__scn_check_template(
                       c, rl__scn_get(c, n, "call", NULL), st->call, v)))
    return rc;
  if ((val = rl__scn_get(c, n, "headers", NULL)) &&
      (rc = parse_kv(c, val, "headers", v, &st->headers, &st->n_headers)))
    return rc;

  if ((val = rl__scn_get(c, n, "options", NULL)) &&
      (rc = parse_kv(c, val, "options", NULL, &st->options, &st->n_options)))
    return rc;

  if ((val = rl__scn_get(c, n, "timeout", NULL))) {
    if ((rc = rl__scn_get_duration(c, val, "timeout", &st->timeout_ns)))
      return rc;
    if (!st->timeout_ns)
      return rl__scn_errat(c, rl__scn_npos(val),
                           "'timeout' must be more than 0");
    st->timeout_pos = rl__scn_npos(val);
  }

  /* The payload: body (text), json (any YAML as JSON), data (a gRPC
   * message: a mapping as JSON, or a string as written) or messages (a
   * stream's: a list of data). */
  static const char *const payload[] = {"body", "json", "data", "messages",
                                        NULL};
  yaml_node_t *first = NULL;
  for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
       p < n->data.mapping.pairs.top; p++) {
    k = rl__scn_node_at(c, p->key);
    int i = 0;
    while (payload[i] && strcmp(payload[i], rl__scn_stext(k)) != 0)
      i++;
    if (!payload[i])
      continue;
    val = rl__scn_node_at(c, p->value);
    if (first)
      return rl__scn_errat(
          c, rl__scn_npos(k),
          "'%s' and '%s' both give the request's payload: keep one",
          rl__scn_stext(first), payload[i]);
    first = k;
    st->body_pos = rl__scn_npos(val);
    if (i == 0) {
      st->body_kind = RL__SCN_BODY_TEXT;
      if (val->type == YAML_MAPPING_NODE || val->type == YAML_SEQUENCE_NODE)
        return rl__scn_errat(
            c, rl__scn_npos(val),
            "expected a string for 'body', got %s: for a JSON body "
            "use 'json:'",
            val->type == YAML_MAPPING_NODE ? "a mapping" : "a list");
      if ((rc = rl__scn_get_str(c, val, "body", &st->body)) ||
          (rc = rl__scn_check_template(c, val, st->body, v)))
        return rc;
    } else if (i == 3) {
      if (val->type != YAML_SEQUENCE_NODE)
        return rl__scn_type_err(
            c, val, "a list of messages (- {name: a} - {name: b})", "messages");
      st->body_kind = RL__SCN_BODY_DATA;
      if ((rc = rl__scn_json_text(c, val, v, 0, &st->body)))
        return rc;
    } else if (i == 1 || val->type != YAML_SCALAR_NODE) {
      st->body_kind = i == 1 ? RL__SCN_BODY_JSON : RL__SCN_BODY_DATA;
      if ((rc = rl__scn_json_text(c, val, v, i == 1, &st->body)))
        return rc;
    } else {
      st->body_kind = RL__SCN_BODY_DATA;
      if ((rc = rl__scn_get_str(c, val, "data", &st->body)) ||
          (rc = rl__scn_check_template(c, val, st->body, v)))
        return rc;
    }
  }

  if ((val = rl__scn_get(c, n, "expect", NULL)) &&
      (rc = rl__scn_parse_expect(c, val, st, v)))
    return rc;
  if ((val = rl__scn_get(c, n, "capture", NULL)) &&
      (rc = rl__scn_parse_captures(c, val, st, v)))
    return rc;
  return parse_flow_keys(c, n, st);
}

static int parse_steps(rl__scn_ctx *c, const yaml_node_t *n, const char *key,
                       rl__scn_vars *v, rl__scn_step **out, size_t *count) {
  int rc;
  if (rl__scn_is_null(n))
    return 0; /* `steps:` with nothing: none */
  if (n->type != YAML_SEQUENCE_NODE)
    return rl__scn_type_err(c, n, "a list of steps", key);
  for (yaml_node_item_t *it = n->data.sequence.items.start;
       it < n->data.sequence.items.top; it++) {
    rl__scn_step *st = rl__scn_grow(out, count, sizeof *st);
    if (!st)
      return rl__scn_oom(c);
    if ((rc = parse_step(c, rl__scn_node_at(c, *it), v, st)))
      return rc;
  }
  return 0;
}

/* ---- tasks --------------------------------------------------------------- */

static const char *const task_keys[] = {"name", "weight", "tags", "steps",
                                        NULL};

static int parse_task(rl__scn_ctx *c, const yaml_node_t *n, rl__scn_vars *v,
                      rl__scn_task *t) {
  int rc;
  if (n->type != YAML_MAPPING_NODE)
    return rl__scn_type_err(c, n, "a mapping (a task: {steps: [...]})",
                            "tasks");
  t->pos = rl__scn_npos(n);
  t->weight = 1;
  if ((rc = rl__scn_check_map(c, n, "task", task_keys,
                              "a task's requests go in its 'steps' list")) ||
      (rc = rl__scn_opt_str(c, n, "name", &t->name, NULL)))
    return rc;
  yaml_node_t *val;
  if ((val = rl__scn_get(c, n, "weight", NULL))) {
    if ((rc = rl__scn_get_num(c, val, "weight", &t->weight)))
      return rc;
    if (!(t->weight > 0))
      return rl__scn_errat(c, rl__scn_npos(val),
                           "a task's 'weight' must be more than 0");
  }
  if ((val = rl__scn_get(c, n, "tags", NULL))) {
    if ((rc = rl__scn_parse_str_list(c, val, "tags", &t->tags, &t->n_tags)))
      return rc;
    for (size_t i = 0; i < t->n_tags; i++)
      if (!t->tags[i][0])
        return rl__scn_errat(c, rl__scn_npos(val), "a tag cannot be empty");
  }
  if (!(val = rl__scn_get(c, n, "steps", NULL)))
    return rl__scn_errat(c, rl__scn_npos(n),
                         "task is missing 'steps' (its list of requests)");
  /* No steps is a task too: Locust's `pass`, the user only waits. */
  return parse_steps(c, val, "steps", v, &t->steps, &t->n_steps);
}

/* A task the class takes from the top-level library: `- browse`, or
 * `- {use: browse, weight: 3, tags: [...], name: ...}` to give it its own
 * weight, tags or name. It is read again in the class's scope, so its
 * templates are checked against the class's variables. */
static const char *const use_keys[] = {"use", "weight", "tags", "name", NULL};

static int parse_task_use(rl__scn_ctx *c, const yaml_node_t *n, rl__scn_vars *v,
                          rl__scn_task *t) {
  int rc;
  const yaml_node_t *ref = n, *over = NULL;
  if (n->type == YAML_MAPPING_NODE) {
    if ((rc = rl__scn_check_map(c, n, "task", use_keys, NULL)))
      return rc;
    ref = rl__scn_get(c, n, "use", NULL);
    over = n;
  }
  const char *name;
  if ((rc = rl__scn_scalar_text(c, ref, "use", &name)))
    return rc;
  const yaml_node_t *lib = c->library;
  const yaml_node_t *def = lib ? rl__scn_get(c, lib, name, NULL) : NULL;
  if (!def) {
    char known[512] = "none";
    const char *keys[64];
    size_t nk = 0;
    for (yaml_node_pair_t *p = lib ? lib->data.mapping.pairs.start : NULL;
         p && p < lib->data.mapping.pairs.top && nk < 63; p++)
      keys[nk++] = rl__scn_stext(rl__scn_node_at(c, p->key));
    keys[nk] = NULL;
    if (nk)
      rl__scn_join(keys, known, sizeof known);
    const char *near = rl__scn_closest(keys, name);
    char mean[96] = "";
    if (near)
      snprintf(mean, sizeof mean, "did you mean '%s'? ", near);
    return rl__scn_errat(c, rl__scn_npos(ref),
                         "no task '%s' in the top-level tasks: (%sknown: %s)",
                         name, mean, known);
  }
  if ((rc = parse_task(c, def, v, t)))
    return rc;
  if (!t->name && (rc = rl__scn_dup_str(c, name, &t->name)))
    return rc;
  if (!over)
    return 0;
  yaml_node_t *val;
  if ((val = rl__scn_get(c, over, "name", NULL))) {
    free(t->name);
    t->name = NULL;
    if ((rc = rl__scn_get_str(c, val, "name", &t->name)))
      return rc;
  }
  if ((val = rl__scn_get(c, over, "weight", NULL))) {
    if ((rc = rl__scn_get_num(c, val, "weight", &t->weight)))
      return rc;
    if (!(t->weight > 0))
      return rl__scn_errat(c, rl__scn_npos(val),
                           "a task's 'weight' must be more than 0");
  }
  if ((val = rl__scn_get(c, over, "tags", NULL))) {
    for (size_t i = 0; i < t->n_tags; i++)
      free(t->tags[i]);
    t->n_tags = 0;
    if ((rc = rl__scn_parse_str_list(c, val, "tags", &t->tags, &t->n_tags)))
      return rc;
  }
  return 0;
}

/* A class's task: its own (a mapping with steps), or the library's. */
static int parse_class_task(rl__scn_ctx *c, const yaml_node_t *n,
                            rl__scn_vars *v, rl__scn_task *t) {
  if (n->type == YAML_SCALAR_NODE ||
      (n->type == YAML_MAPPING_NODE && rl__scn_get(c, n, "use", NULL)))
    return parse_task_use(c, n, v, t);
  return parse_task(c, n, v, t);
}

/* ---- wait ---------------------------------------------------------------- */

static const char *const wait_kinds[] = {
    "constant",        "between",  "constant_throughput",
    "constant_pacing", "schedule", "exponential",
    "sequence",        NULL};

/* Seconds (<= 1e9, as wait.c) into ns. */
static int wait_seconds(rl__scn_ctx *c, const yaml_node_t *n, const char *key,
                        uint64_t *ns) {
  double s;
  int rc = rl__scn_get_num(c, n, key, &s);
  if (rc)
    return rc;
  if (s < 0 || s > 1e9)
    return rl__scn_errat(c, rl__scn_npos(n),
                         "'%s' must be from 0 to 1e9 seconds", key);
  *ns = (uint64_t)llround(s * 1e9);
  return 0;
}

/* {sequence: [S1, S2, ...]}: 1 to RL__WAIT_SEQUENCE_MAX waits. */
static int parse_wait_sequence(rl__scn_ctx *c, const yaml_node_t *v,
                               rl__wait *w) {
  w->kind = RL__WAIT_SEQUENCE;
  if (v->type != YAML_SEQUENCE_NODE ||
      v->data.sequence.items.top == v->data.sequence.items.start)
    return rl__scn_type_err(c, v, "a list [S1, S2, ...] of seconds",
                            "sequence");
  size_t n =
      (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
  if (n > RL__WAIT_SEQUENCE_MAX)
    return rl__scn_errat(c, rl__scn_npos(v),
                         "'sequence' holds at most %d waits, this one %zu",
                         RL__WAIT_SEQUENCE_MAX, n);
  for (size_t i = 0; i < n; i++) {
    yaml_node_t *item = rl__scn_node_at(c, v->data.sequence.items.start[i]);
    int rc = wait_seconds(c, item, "sequence", &w->seq_ns[i]);
    if (rc)
      return rc;
  }
  w->n = (uint32_t)n;
  return 0;
}

static int parse_wait(rl__scn_ctx *c, const yaml_node_t *n, rl__wait *w) {
  int rc;
  memset(w, 0, sizeof *w);
  if (n->type == YAML_SCALAR_NODE) {
    /* The command line's spelling: between:1,3, constant:1, none. */
    char why[256];
    if (rl__wait_parse(rl__scn_stext(n), w, why, sizeof why))
      return rl__scn_errat(c, rl__scn_npos(n), "%s", why);
    return 0;
  }
  if (n->type != YAML_MAPPING_NODE ||
      n->data.mapping.pairs.top - n->data.mapping.pairs.start != 1)
    return rl__scn_errat(
        c, rl__scn_npos(n),
        "expected one of {constant: S}, {between: [MIN, MAX]}, "
        "{constant_throughput: N}, {constant_pacing: S}, {schedule: S}, "
        "{exponential: MEAN}, {sequence: [S1, S2, ...]} for 'wait'");
  yaml_node_t *k = rl__scn_node_at(c, n->data.mapping.pairs.start->key);
  yaml_node_t *v = rl__scn_node_at(c, n->data.mapping.pairs.start->value);
  if (k->type != YAML_SCALAR_NODE ||
      !rl__scn_in_list(wait_kinds, rl__scn_stext(k))) {
    if (k->type != YAML_SCALAR_NODE)
      return rl__scn_errat(c, rl__scn_npos(k), "expected a wait kind");
    const char *near = rl__scn_closest(wait_kinds, rl__scn_stext(k));
    char mean[96] = "";
    if (near)
      snprintf(mean, sizeof mean, "did you mean '%s'? ", near);
    return rl__scn_errat(
        c, rl__scn_npos(k),
        "unknown wait kind '%s' (%sexpected: constant, between, "
        "constant_throughput, constant_pacing, schedule, exponential, "
        "sequence)",
        rl__scn_stext(k), mean);
  }
  const char *kind = rl__scn_stext(k);
  if (strcmp(kind, "constant") == 0) {
    w->kind = RL__WAIT_CONSTANT;
    return wait_seconds(c, v, kind, &w->a_ns);
  }
  if (strcmp(kind, "constant_pacing") == 0 || strcmp(kind, "schedule") == 0 ||
      strcmp(kind, "exponential") == 0) {
    w->kind = kind[0] == 'c'   ? RL__WAIT_PACING
              : kind[0] == 's' ? RL__WAIT_SCHEDULE
                               : RL__WAIT_EXPONENTIAL;
    if ((rc = wait_seconds(c, v, kind, &w->a_ns)))
      return rc;
    if (!w->a_ns)
      return rl__scn_errat(c, rl__scn_npos(v), "'%s' must be more than 0",
                           kind);
    return 0;
  }
  if (strcmp(kind, "sequence") == 0)
    return parse_wait_sequence(c, v, w);
  if (strcmp(kind, "constant_throughput") == 0) {
    double tps;
    w->kind = RL__WAIT_PACING;
    if ((rc = rl__scn_get_num(c, v, kind, &tps)))
      return rc;
    if (!(tps > 0 && tps <= 1e9))
      return rl__scn_errat(
          c, rl__scn_npos(v),
          "'constant_throughput' (tasks per second) must be more "
          "than 0");
    w->a_ns = (uint64_t)llround(1e9 / tps);
    return 0;
  }
  /* between */
  w->kind = RL__WAIT_BETWEEN;
  if (v->type != YAML_SEQUENCE_NODE ||
      v->data.sequence.items.top - v->data.sequence.items.start != 2)
    return rl__scn_type_err(c, v, "a list [MIN, MAX] of seconds", "between");
  yaml_node_t *a = rl__scn_node_at(c, v->data.sequence.items.start[0]);
  yaml_node_t *b = rl__scn_node_at(c, v->data.sequence.items.start[1]);
  if ((rc = wait_seconds(c, a, "between", &w->a_ns)) ||
      (rc = wait_seconds(c, b, "between", &w->b_ns)))
    return rc;
  if (w->a_ns > w->b_ns)
    return rl__scn_errat(c, rl__scn_npos(v),
                         "between: min %s is greater than max %s",
                         rl__scn_stext(a), rl__scn_stext(b));
  return 0;
}

/* ---- data files ----------------------------------------------------------- */

static const char *const data_keys[] = {"file", "order", "cycle", "format",
                                        NULL};
static const char *const data_orders[] = {"sequential", "random", "per_user",
                                          NULL};

/* A path from the scenario, as compile.c reads one: as written when
 * absolute or when it exists from here, else beside the scenario file.
 * Caller frees; NULL when out of memory. */
static char *beside_scenario(const rl__scn *s, const char *path) {
  const char *slash = strrchr(s->file, '/');
  if (path[0] == '/' || !slash || access(path, F_OK) == 0)
    return strdup(path);
  size_t dir = (size_t)(slash - s->file);
  size_t n = dir + strlen(path) + 2;
  char *p = malloc(n);
  if (p)
    snprintf(p, n, "%.*s/%s", (int)dir, s->file, path);
  return p;
}

/* `data: {file: users.csv, order: sequential|random|per_user, cycle: true,
 * format: csv|jsonl}`: the file is read now, so that templates naming its
 * columns are checked against them. */
static int parse_data(rl__scn_ctx *c, const yaml_node_t *n, rl__feeder **out) {
  int rc;
  if (n->type != YAML_MAPPING_NODE)
    return rl__scn_type_err(c, n, "a mapping ({file: users.csv})", "data");
  if ((rc = rl__scn_check_map(c, n, "data", data_keys, NULL)))
    return rc;
  yaml_node_t *fk = NULL, *file = rl__scn_get(c, n, "file", &fk), *v;
  if (!file)
    return rl__scn_errat(c, rl__scn_npos(n),
                         "data is missing 'file' (a CSV file with a header, "
                         "or JSON lines)");
  const char *name;
  if ((rc = rl__scn_scalar_text(c, file, "file", &name)))
    return rc;
  int order = RL__FEEDER_SEQUENTIAL, cycle = 1;
  size_t nlen = strlen(name);
  int jsonl = (nlen > 6 && strcmp(name + nlen - 6, ".jsonl") == 0) ||
              (nlen > 7 && strcmp(name + nlen - 7, ".ndjson") == 0);
  if ((v = rl__scn_get(c, n, "order", NULL))) {
    const char *t = v->type == YAML_SCALAR_NODE ? rl__scn_stext(v) : "";
    order = 0;
    while (data_orders[order] && strcmp(data_orders[order], t) != 0)
      order++;
    if (!data_orders[order]) {
      char buf[64];
      return rl__scn_errat(c, rl__scn_npos(v),
                           "expected sequential, random or per_user for "
                           "'order', got %s",
                           rl__scn_describe(v, buf, sizeof buf));
    }
  }
  if ((v = rl__scn_get(c, n, "cycle", NULL)) &&
      (rc = rl__scn_get_bool(c, v, "cycle", &cycle)))
    return rc;
  if ((v = rl__scn_get(c, n, "format", NULL))) {
    const char *t = v->type == YAML_SCALAR_NODE ? rl__scn_stext(v) : "";
    if (strcmp(t, "csv") != 0 && strcmp(t, "jsonl") != 0) {
      char buf[64];
      return rl__scn_errat(c, rl__scn_npos(v),
                           "expected csv or jsonl for 'format', got %s",
                           rl__scn_describe(v, buf, sizeof buf));
    }
    jsonl = strcmp(t, "jsonl") == 0;
  }
  char *path = beside_scenario(c->s, name);
  if (!path)
    return rl__scn_oom(c);
  char why[512];
  rc = rl__feeder_load(path, name, jsonl, out, why, sizeof why);
  free(path);
  if (rc == RL_ERR_NOMEM)
    return rl__scn_oom(c);
  if (rc)
    return rl__scn_errat(c, rl__scn_npos(file), "data file %s%s%s", name,
                         why[0] >= '0' && why[0] <= '9' ? ":" : ": ", why);
  (*out)->order = order;
  (*out)->cycle = cycle;
  return 0;
}

/* ---- user classes -------------------------------------------------------- */

static const char *const user_keys[] = {
    "name",    "weight", "fixed_count", "wait", "host", "on_start",
    "on_stop", "tasks",  "sequential",  "data", NULL};

static int parse_user(rl__scn_ctx *c, const yaml_node_t *n, rl__scn_user *u) {
  int rc;
  if (n->type != YAML_MAPPING_NODE)
    return rl__scn_type_err(
        c, n, "a mapping (a user class: {name: X, tasks: [...]})", "users");
  u->pos = rl__scn_npos(n);
  u->weight = 1;
  if ((rc = rl__scn_check_map(c, n, "user class", user_keys, NULL)))
    return rc;
  yaml_node_t *val, *wk = NULL, *fk = NULL;
  if (!(val = rl__scn_get(c, n, "name", NULL)))
    return rl__scn_errat(c, rl__scn_npos(n), "user class is missing 'name'");
  u->name_pos = rl__scn_npos(val);
  if ((rc = rl__scn_get_str(c, val, "name", &u->name)))
    return rc;
  if (!u->name[0])
    return rl__scn_errat(c, rl__scn_npos(val),
                         "a user class name cannot be empty");
  if ((val = rl__scn_get(c, n, "weight", &wk))) {
    if ((rc = rl__scn_get_num(c, val, "weight", &u->weight)))
      return rc;
    if (!(u->weight > 0))
      return rl__scn_errat(c, rl__scn_npos(val),
                           "a user class's 'weight' must be more than 0");
  }
  if ((val = rl__scn_get(c, n, "fixed_count", &fk))) {
    if (wk)
      return rl__scn_errat(
          c, rl__scn_npos(fk),
          "'weight' and 'fixed_count' exclude each other: a class "
          "with a fixed count gets exactly that many users");
    long long zero;
    if (val->type == YAML_SCALAR_NODE &&
        rl__parse_int(rl__scn_stext(val), 0, 0, &zero) == 0)
      return rl__scn_errat(
          c, rl__scn_npos(val),
          "'fixed_count: 0' would start no user of this class: give 1 or "
          "more, or leave the key out for a weighted class (Locust's "
          "fixed_count = 0 means no fixed count)");
    if ((rc = rl__scn_get_int(c, val, "fixed_count", 1, 1000000000,
                              &u->fixed_count)))
      return rc;
    u->has_fixed_count = 1;
  }
  if ((val = rl__scn_get(c, n, "wait", NULL))) {
    u->wait_pos = rl__scn_npos(val);
    if ((rc = parse_wait(c, val, &u->wait)))
      return rc;
    u->has_wait = 1;
  } else if (c->s->settings.has_wait) {
    u->wait = c->s->settings.wait;
  }
  if ((rc = rl__scn_opt_str(c, n, "host", &u->host, &u->host_pos)))
    return rc;
  if ((val = rl__scn_get(c, n, "sequential", NULL)) &&
      (rc = rl__scn_get_bool(c, val, "sequential", &u->sequential)))
    return rc;
  if ((val = rl__scn_get(c, n, "data", NULL)) &&
      (rc = parse_data(c, val, &u->data)))
    return rc;
  /* {{data.x}} in this class's steps reads its file, else the top's. */
  c->data = u->data ? u->data : c->s->data;

  /* Variables: on_start's captures hold for every task and for on_stop;
   * a task sees its earlier steps' (and, when sequential, its earlier
   * tasks'). */
  rl__scn_vars start = {0}, tv = {0}, seq = {0};
  if ((val = rl__scn_get(c, n, "on_start", NULL)) &&
      (rc = parse_steps(c, val, "on_start", &start, &u->on_start,
                        &u->n_on_start)))
    goto out;
  yaml_node_t *tasks = rl__scn_get(c, n, "tasks", NULL);
  if (!tasks) {
    rc = rl__scn_errat(c, rl__scn_npos(n), "user class '%s' is missing 'tasks'",
                       u->name);
    goto out;
  }
  if (tasks->type != YAML_SEQUENCE_NODE) {
    rc = rl__scn_type_err(c, tasks, "a list of tasks", "tasks");
    goto out;
  }
  if ((rc = rl__scn_vars_copy(c, &start, &seq)))
    goto out;
  for (yaml_node_item_t *it = tasks->data.sequence.items.start;
       it < tasks->data.sequence.items.top; it++) {
    rl__scn_task *t = rl__scn_grow(&u->tasks, &u->n_tasks, sizeof *t);
    if (!t) {
      rc = rl__scn_oom(c);
      goto out;
    }
    free(tv.names);
    if ((rc = rl__scn_vars_copy(c, u->sequential ? &seq : &start, &tv)) ||
        (rc = parse_class_task(c, rl__scn_node_at(c, *it), &tv, t)))
      goto out;
    if (u->sequential) {
      free(seq.names);
      seq = tv;
      memset(&tv, 0, sizeof tv);
    }
  }
  if (!u->n_tasks) {
    rc = rl__scn_errat(c, rl__scn_npos(tasks), "user class '%s' has no tasks",
                       u->name);
    goto out;
  }
  free(tv.names);
  if ((rc = rl__scn_vars_copy(c, &start, &tv)))
    goto out;
  if ((val = rl__scn_get(c, n, "on_stop", NULL)))
    rc = parse_steps(c, val, "on_stop", &tv, &u->on_stop, &u->n_on_stop);
out:
  free(start.names);
  free(tv.names);
  free(seq.names);
  return rc;
}

/* Class names are unique (sorted, not compared pair by pair: a file may
 * have thousands of classes). */
static int check_class_names(rl__scn_ctx *c) {
  const rl__scn *s = c->s;
  const char **names = malloc(s->n_users * sizeof *names);
  if (!names)
    return rl__scn_oom(c);
  for (size_t i = 0; i < s->n_users; i++)
    names[i] = s->users[i].name;
  size_t dup, first;
  int found = rl__scn_first_duplicate(names, s->n_users, &dup, &first);
  free(names);
  if (found < 0)
    return rl__scn_oom(c);
  if (!found)
    return 0;
  return rl__scn_errat(c, s->users[dup].name_pos,
                       "duplicate user class name '%s' (first at %d:%d)",
                       s->users[dup].name, s->users[first].name_pos.line,
                       s->users[first].name_pos.col);
}

/* ---- top level ----------------------------------------------------------- */

static const char *const settings_keys[] = {"users", "spawn_rate", "run_time",
                                            "wait", NULL};

static int parse_settings(rl__scn_ctx *c, const yaml_node_t *n,
                          rl__scn_settings *s) {
  int rc;
  if (n->type != YAML_MAPPING_NODE)
    return rl__scn_type_err(c, n, "a mapping", "settings");
  if ((rc = rl__scn_check_map(c, n, "settings", settings_keys, NULL)))
    return rc;
  yaml_node_t *v;
  if ((v = rl__scn_get(c, n, "users", NULL))) {
    if ((rc = rl__scn_get_int(c, v, "users", 1, 10000000, &s->users)))
      return rc;
    s->has_users = 1;
    s->users_pos = rl__scn_npos(v);
  }
  if ((v = rl__scn_get(c, n, "spawn_rate", NULL))) {
    if ((rc = rl__scn_get_num(c, v, "spawn_rate", &s->spawn_rate)))
      return rc;
    if (!(s->spawn_rate > 0))
      return rl__scn_errat(c, rl__scn_npos(v),
                           "'spawn_rate' must be more than 0");
    s->has_spawn_rate = 1;
    s->spawn_rate_pos = rl__scn_npos(v);
  }
  if ((v = rl__scn_get(c, n, "run_time", NULL))) {
    if ((rc = rl__scn_get_duration(c, v, "run_time", &s->run_time_ns)))
      return rc;
    s->has_run_time = 1;
    s->run_time_pos = rl__scn_npos(v);
  }
  if ((v = rl__scn_get(c, n, "wait", NULL))) {
    if ((rc = parse_wait(c, v, &s->wait)))
      return rc;
    s->has_wait = 1;
    s->wait_pos = rl__scn_npos(v);
  }
  return 0;
}

/* The top-level `tasks:` library: each checked for its shape (the
 * variables a template may use depend on the class using it, so those are
 * checked per use). */
static int parse_library(rl__scn_ctx *c, const yaml_node_t *n) {
  int rc;
  if (n->type != YAML_MAPPING_NODE)
    return rl__scn_type_err(
        c, n, "a mapping of tasks by name (browse: {steps: [...]})", "tasks");
  if ((rc = rl__scn_check_map(c, n, "tasks", NULL, NULL)))
    return rc;
  c->library = n;
  for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
       p < n->data.mapping.pairs.top; p++) {
    rl__scn_task *t = rl__scn_grow(&c->s->library, &c->s->n_library, sizeof *t);
    if (!t)
      return rl__scn_oom(c);
    if ((rc = parse_task(c, rl__scn_node_at(c, p->value), NULL, t)))
      return rc;
    if (!t->name &&
        (rc = rl__scn_dup_str(c, rl__scn_stext(rl__scn_node_at(c, p->key)),
                              &t->name)))
      return rc;
  }
  return 0;
}

static const char *const top_keys[] = {"host",  "settings", "shape", "data",
                                       "tasks", "users",    NULL};

static int parse_root(rl__scn_ctx *c, const yaml_node_t *root) {
  int rc;
  rl__scn *s = c->s;
  if (root->type != YAML_MAPPING_NODE)
    return rl__scn_errat(
        c, rl__scn_npos(root),
        "expected a mapping at the top (host:, settings:, users:)");
  if ((rc = rl__scn_check_map(c, root, "the scenario", top_keys, NULL)) ||
      (rc = rl__scn_opt_str(c, root, "host", &s->host, &s->host_pos)))
    return rc;
  yaml_node_t *v;
  if ((v = rl__scn_get(c, root, "settings", NULL)) &&
      (rc = parse_settings(c, v, &s->settings)))
    return rc;
  if ((v = rl__scn_get(c, root, "shape", NULL)) &&
      (rc = rl__scn_parse_shape(c, v, &s->shape)))
    return rc;
  if ((v = rl__scn_get(c, root, "data", NULL)) &&
      (rc = parse_data(c, v, &s->data)))
    return rc;
  if ((v = rl__scn_get(c, root, "tasks", NULL)) && (rc = parse_library(c, v)))
    return rc;
  if (!(v = rl__scn_get(c, root, "users", NULL)))
    return rl__scn_errat(c, rl__scn_npos(root),
                         "the scenario is missing 'users' (its list "
                         "of user classes)");
  if (v->type == YAML_SCALAR_NODE && !rl__scn_is_null(v))
    return rl__scn_errat(
        c, rl__scn_npos(v),
        "expected a list of user classes for 'users', got '%s' (the "
        "number of users goes in settings: {users: N})",
        rl__scn_stext(v));
  if (v->type != YAML_SEQUENCE_NODE)
    return rl__scn_type_err(c, v, "a list of user classes", "users");
  for (yaml_node_item_t *it = v->data.sequence.items.start;
       it < v->data.sequence.items.top; it++) {
    rl__scn_user *u = rl__scn_grow(&s->users, &s->n_users, sizeof *u);
    if (!u)
      return rl__scn_oom(c);
    if ((rc = parse_user(c, rl__scn_node_at(c, *it), u)))
      return rc;
  }
  if (!s->n_users)
    return rl__scn_errat(c, rl__scn_npos(v),
                         "'users' needs at least one user class");
  return check_class_names(c);
}

/* ---- entry points -------------------------------------------------------- */

/* What a document's root is read into, once the document has loaded. */
typedef int (*root_fn)(rl__scn_ctx *c, const yaml_node_t *root, void *arg);

/*
 * Loads c->text as one YAML document, within the limits of scenario files,
 * and hands its root to `walk` (with `arg`). `empty` is the error for a
 * document with nothing in it. 0, or the first error (in c->err).
 */
static int load_doc(rl__scn_ctx *c, root_fn walk, void *arg,
                    const char *empty) {
  yaml_parser_t parser;
  yaml_document_t doc, extra;
  int rc = 0;
  if (c->text_len > RL__SCN_MAX_BYTES)
    return rl__scn_errat(c, (rl__scn_pos){0, 0},
                         "larger than %u MiB, the limit of scenario files",
                         RL__SCN_MAX_BYTES >> 20);
  if ((rc = rl__scn_prescan(c)))
    return rc;
  if (!yaml_parser_initialize(&parser))
    return rl__scn_oom(c);
  yaml_parser_set_input_string(&parser, (const unsigned char *)c->text,
                               c->text_len);
  if (!yaml_parser_load(&parser, &doc)) {
    rc = rl__scn_yaml_error(c, &parser);
    yaml_parser_delete(&parser);
    return rc;
  }
  c->doc = &doc;
  yaml_node_t *root = yaml_document_get_root_node(&doc);
  if (!root) {
    rc = rl__scn_errat(c, (rl__scn_pos){1, 1}, "%s", empty);
  } else if (!yaml_parser_load(&parser, &extra)) {
    rc = rl__scn_yaml_error(c, &parser);
  } else {
    yaml_node_t *second = yaml_document_get_root_node(&extra);
    if (second)
      rc = rl__scn_errat(
          c, rl__scn_npos(second),
          "a second YAML document: a scenario is one document (no "
          "'---' between parts)");
    yaml_document_delete(&extra);
    if (!rc)
      rc = walk(c, root, arg);
  }
  c->doc = NULL;
  yaml_document_delete(&doc);
  yaml_parser_delete(&parser);
  free(c->all_vars);
  c->all_vars = NULL;
  c->n_all_vars = 0;
  return rc;
}

static int root_walk(rl__scn_ctx *c, const yaml_node_t *root, void *arg) {
  (void)arg;
  return parse_root(c, root);
}

int rl__scn_parse_string(const char *text, size_t len,
                         const char *name_for_errors, rl__scn **out, char *err,
                         size_t errlen) {
  *out = NULL;
  rl__scn_ctx c = {.file = name_for_errors ? name_for_errors : "scenario",
                   .text = text,
                   .text_len = len,
                   .err = err,
                   .errlen = errlen};
  rl__scn *s = calloc(1, sizeof *s);
  if (!s || !(s->file = strdup(c.file))) {
    free(s);
    return rl__scn_oom(&c);
  }
  c.s = s;
  int rc = load_doc(&c, root_walk, NULL,
                    "the file is empty: expected a mapping with 'users'");
  if (rc) {
    rl__scn_del(s);
    return rc;
  }
  *out = s;
  return 0;
}

/* ---- user classes written in C ------------------------------------------ */

/* Keys a C class's request may not have: what they do is the task's. */
static const char *const c_refused[][2] = {
    {"sleep", "a task sleeps by sending its next request later"},
    {"repeat", "a task repeats by sending again"},
    {"on_failure", "the task sees each failure in its done callback"},
    {"stop_user", "the task decides when the user stops"},
};

void rl__scn_request_label(const char *cls, size_t i, char *buf, size_t len) {
  snprintf(buf, len, "%s.requests[%zu]", cls ? cls : "?", i);
}

static int request_walk(rl__scn_ctx *c, const yaml_node_t *root, void *arg) {
  rl__scn_step *out = arg;
  if (root->type != YAML_MAPPING_NODE)
    return rl__scn_type_err(c, root, "a mapping (e.g. {http: GET /path})",
                            "request");
  yaml_node_t *k = NULL;
  for (size_t i = 0; i < sizeof c_refused / sizeof c_refused[0]; i++)
    if (rl__scn_get(c, root, c_refused[i][0], &k))
      return rl__scn_errat(c, rl__scn_npos(k),
                           "'%s' is not for a C class's request: %s",
                           c_refused[i][0], c_refused[i][1]);
  rl__scn_vars v = {0};
  int rc = parse_step(c, root, &v, out);
  free(v.names);
  return rc;
}

int rl__scn_parse_request(rl__scn *s, const char *text,
                          const char *name_for_errors, rl__scn_step *out,
                          char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  out->on_failure = -1;
  rl__scn_ctx c = {.file = name_for_errors ? name_for_errors : "request",
                   .text = text,
                   .text_len = strlen(text),
                   .err = err,
                   .errlen = errlen,
                   .s = s,
                   .open_vars = 1};
  return load_doc(&c, request_walk, out,
                  "the request is empty: expected a step, e.g. "
                  "{http: GET /path}");
}

/* Locust's spelling of a wait, "between(1, 2)", as the scenario's YAML
 * ("{between: [1, 2]}"); NULL when `text` is not a call. Caller frees. */
static char *wait_call_yaml(const char *text) {
  const char *p = text;
  while (*p == ' ')
    p++;
  const char *name = p;
  while ((*p >= 'a' && *p <= 'z') || *p == '_')
    p++;
  size_t nlen = (size_t)(p - name);
  while (*p == ' ')
    p++;
  const char *close = strrchr(p, ')');
  if (!nlen || *p != '(' || !close || close[1 + strspn(close + 1, " ")])
    return NULL;
  const char *args = p + 1;
  int list = (nlen == 7 && strncmp(name, "between", 7) == 0) ||
             (nlen == 8 && strncmp(name, "sequence", 8) == 0);
  size_t n = nlen + (size_t)(close - args) + 16;
  char *yaml = malloc(n);
  if (yaml)
    snprintf(yaml, n, list ? "{%.*s: [%.*s]}" : "{%.*s: %.*s}", (int)nlen, name,
             (int)(close - args), args);
  return yaml;
}

static int wait_walk(rl__scn_ctx *c, const yaml_node_t *root, void *arg) {
  rl__wait *w = arg;
  double s;
  if (root->type == YAML_SCALAR_NODE && rl__scn_is_plain(root) &&
      rl__parse_number(rl__scn_stext(root), &s) == 0) {
    /* A number of seconds: Locust's constant(S). */
    memset(w, 0, sizeof *w);
    w->kind = RL__WAIT_CONSTANT;
    return wait_seconds(c, root, "wait", &w->a_ns);
  }
  return parse_wait(c, root, w);
}

int rl__scn_parse_wait_text(const char *text, const char *name_for_errors,
                            rl__wait *out, char *err, size_t errlen) {
  char *yaml = wait_call_yaml(text);
  char name[256];
  /* Positions are the YAML's it was read as: the error says which. */
  if (yaml)
    snprintf(name, sizeof name, "%s (read as %s)",
             name_for_errors ? name_for_errors : "wait", yaml);
  else
    snprintf(name, sizeof name, "%s",
             name_for_errors ? name_for_errors : "wait");
  rl__scn_ctx c = {.file = name,
                   .text = yaml ? yaml : text,
                   .text_len = strlen(yaml ? yaml : text),
                   .err = err,
                   .errlen = errlen};
  int rc = load_doc(&c, wait_walk, out, "the wait is empty");
  free(yaml);
  return rc;
}

int rl__scn_load(const char *path, rl__scn **out, char *err, size_t errlen) {
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    return RL_ERR_INVAL;
  }
  char *buf = NULL;
  size_t len = 0, cap = 0;
  int rc = 0;
  for (;;) {
    if (len > RL__SCN_MAX_BYTES) {
      snprintf(err, errlen,
               "%s: larger than %u MiB, the limit of scenario files", path,
               RL__SCN_MAX_BYTES >> 20);
      rc = RL_ERR_INVAL;
      break;
    }
    if (len == cap) {
      /* Up to one byte past the limit: enough to tell it is past. */
      size_t ncap = cap ? cap * 2 : 16384;
      if (ncap > RL__SCN_MAX_BYTES + 1)
        ncap = RL__SCN_MAX_BYTES + 1;
      char *nb = realloc(buf, ncap);
      if (!nb) {
        snprintf(err, errlen, "%s: out of memory", path);
        rc = RL_ERR_NOMEM;
        break;
      }
      buf = nb;
      cap = ncap;
    }
    size_t got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (got == 0) {
      if (ferror(f)) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        rc = RL_ERR_INVAL;
      }
      break;
    }
  }
  fclose(f);
  if (!rc)
    rc = rl__scn_parse_string(buf ? buf : "", len, path, out, err, errlen);
  free(buf);
  return rc;
}

/* ---- freeing ------------------------------------------------------------- */

static void free_kvs(rl__scn_kv *kv, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(kv[i].key);
    free(kv[i].value);
  }
  free(kv);
}

static void free_strs(char **s, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(s[i]);
  free(s);
}

static void free_steps(rl__scn_step *st, size_t n);

static void free_step(rl__scn_step *st) {
  free_steps(st->steps, st->n_steps);
  free(st->protocol);
  free(st->spec);
  free(st->name);
  free(st->host);
  free_kvs(st->headers, st->n_headers);
  free(st->body);
  for (size_t i = 0; i < st->n_own; i++) {
    free(st->own[i].key);
    free_kvs(st->own[i].items, st->own[i].n_items);
  }
  free(st->own);
  free(st->expect.status_name);
  free(st->expect.status_text);
  free(st->expect.message);
  free(st->call);
  free_kvs(st->options, st->n_options);
  rl__expect *x = &st->expect;
  free(x->body_contains);
  free(x->body_matches);
  rl__regex_del(x->body_re);
  for (size_t i = 0; i < x->n_json; i++) {
    rl__jsonpath_del(x->json[i].path);
    free(x->json[i].text);
    json_decref(x->json[i].value);
    rl__regex_del(x->json[i].re);
  }
  free(x->json);
  for (size_t i = 0; i < st->n_captures; i++) {
    free(st->captures[i].var);
    free(st->captures[i].source);
    rl__jsonpath_del(st->captures[i].path);
    rl__regex_del(st->captures[i].re);
  }
  free(st->captures);
}

static void free_steps(rl__scn_step *st, size_t n);

static void free_task(rl__scn_task *t) {
  free(t->name);
  free_strs(t->tags, t->n_tags);
  free_steps(t->steps, t->n_steps);
}

static void free_steps(rl__scn_step *st, size_t n) {
  for (size_t i = 0; i < n; i++)
    free_step(&st[i]);
  free(st);
}

void rl__scn_del(rl__scn *s) {
  if (!s)
    return;
  for (size_t i = 0; i < s->n_users; i++) {
    rl__scn_user *u = &s->users[i];
    free(u->name);
    free(u->host);
    free(u->written_in);
    free_steps(u->on_start, u->n_on_start);
    free_steps(u->on_stop, u->n_on_stop);
    for (size_t t = 0; t < u->n_tasks; t++)
      free_task(&u->tasks[t]);
    free(u->tasks);
    rl__feeder_del(u->data);
    free_steps(u->requests, u->n_requests);
  }
  free(s->users);
  for (size_t t = 0; t < s->n_library; t++)
    free_task(&s->library[t]);
  free(s->library);
  rl__feeder_del(s->data);
  rl__scn_shape_free(&s->shape);
  free(s->protocols);
  for (size_t i = 0; i < s->n_c_vars; i++)
    free(s->c_vars[i]);
  free(s->c_vars);
  free(s->host);
  free(s->file);
  free(s);
}

/*
 * A step's checks (checks.h): `expect:` (status, body, JSON, gRPC status,
 * time) and `capture:` (JSON path, header, regex), read into the engine's
 * rl__expect and rl__capture with their regexes, paths and JSON values
 * compiled, so that a mistake is reported before anything runs.
 *
 * May call: scenario/yaml.h, scenario/yaml_json.h (values to compare
 * with), scenario/vars.h (names a capture may take and sets),
 * engine/checks.h (gRPC status names), jansson, base/units.h.
 */
#include "scenario/expect.h"

#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <yaml.h>

#include "base/buf.h"
#include "base/units.h"
#include "engine/checks.h"
#include "scenario/vars.h"
#include "scenario/yaml.h"
#include "scenario/yaml_json.h"

/* ---- expect -------------------------------------------------------------- */

/* A status by name or number (`grpc_status: NOT_FOUND`): kept as written,
 * since the names are the step's plugin's (ABI 1.3 status_names) and the
 * plugin is known only when the scenario is compiled. */
static int parse_status_name(rl__scn_ctx *c, const yaml_node_t *n, char **out) {
  const char *t = n->type == YAML_SCALAR_NODE && !rl__scn_is_null(n)
                      ? rl__scn_stext(n)
                      : "";
  size_t len = strlen(t);
  int ok = len > 0 && len < 64;
  for (size_t i = 0; ok && i < len; i++)
    ok = (t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= 'a' && t[i] <= 'z') ||
         (t[i] >= '0' && t[i] <= '9') || t[i] == '_';
  if (!ok) {
    char buf[64];
    return rl__scn_errat(
        c, rl__scn_npos(n),
        "expected a status for 'grpc_status' (a name such as OK, "
        "NOT_FOUND, UNAVAILABLE, or a number), got %s",
        rl__scn_describe(n, buf, sizeof buf));
  }
  return rl__scn_dup_str(c, t, out);
}

static const char *const json_expect_keys[] = {"path", "equals", "contains",
                                               "matches", NULL};
static const char *const json_op_keys[] = {"equals", "contains", "matches",
                                           NULL};

/* An expected JSON value: `val` as JSON (e->text, e->value); a string
 * with {{...}} is a template, checked against `v` (expanded per request:
 * compile.c compiles it). Templates inside a list or mapping are text. */
static int parse_json_value(rl__scn_ctx *c, const yaml_node_t *val,
                            const rl__scn_vars *v, rl__json_expect *e) {
  int rc;
  if (val->type == YAML_SCALAR_NODE && !rl__scn_is_null(val) &&
      strstr(rl__scn_stext(val), "{{") &&
      (rc = rl__scn_check_template(c, val, rl__scn_stext(val), v)))
    return rc;
  if ((rc = rl__scn_json_text(c, val, NULL, 0, &e->text)))
    return rc;
  json_error_t jerr;
  e->value = json_loads(e->text, JSON_DECODE_ANY, &jerr);
  if (!e->value)
    return rl__scn_errat(c, rl__scn_npos(val), "cannot compare with %s: %s",
                         e->text, jerr.text);
  return 0;
}

/* The operator part of a json expectation: `m` holds at most one of
 * equals / contains / matches (and, in the list form, path). */
static int parse_json_op(rl__scn_ctx *c, const yaml_node_t *m,
                         const rl__scn_vars *v, rl__json_expect *e) {
  int rc;
  yaml_node_t *k = NULL, *val = NULL, *k2 = NULL;
  for (int i = 0; json_op_keys[i]; i++) {
    yaml_node_t *kn = NULL, *vn = rl__scn_get(c, m, json_op_keys[i], &kn);
    if (!vn)
      continue;
    if (k)
      k2 = kn;
    else {
      k = kn;
      val = vn;
    }
  }
  if (k2)
    return rl__scn_errat(
        c, rl__scn_npos(k2),
        "'%s' and '%s' in one json expectation: write two entries",
        rl__scn_stext(k), rl__scn_stext(k2));
  if (!k) {
    e->op = RL__JSON_EXISTS;
    return 0;
  }
  if (strcmp(rl__scn_stext(k), "matches") == 0) {
    e->op = RL__JSON_MATCHES;
    if ((rc = rl__scn_get_str(c, val, "matches", &e->text)))
      return rc;
    return rl__scn_compile_re(c, val, 0, e->text, &e->re);
  }
  e->op = strcmp(rl__scn_stext(k), "equals") == 0 ? RL__JSON_EQUALS
                                                  : RL__JSON_CONTAINS;
  return parse_json_value(c, val, v, e);
}

static int parse_json_expects(rl__scn_ctx *c, const yaml_node_t *n,
                              const rl__scn_vars *v, rl__expect *x) {
  int rc;
  if (n->type == YAML_SEQUENCE_NODE) {
    for (yaml_node_item_t *it = n->data.sequence.items.start;
         it < n->data.sequence.items.top; it++) {
      yaml_node_t *m = rl__scn_node_at(c, *it);
      if (m->type != YAML_MAPPING_NODE)
        return rl__scn_type_err(c, m, "a mapping {path: $.x, equals: V}",
                                "json");
      if ((rc = rl__scn_check_map(c, m, "json expectation", json_expect_keys,
                                  NULL)))
        return rc;
      rl__json_expect *e = rl__scn_grow(&x->json, &x->n_json, sizeof *e);
      if (!e)
        return rl__scn_oom(c);
      yaml_node_t *p = rl__scn_get(c, m, "path", NULL);
      if (!p)
        return rl__scn_errat(c, rl__scn_npos(m),
                             "json expectation is missing 'path'");
      const char *pt;
      if ((rc = rl__scn_scalar_text(c, p, "path", &pt)) ||
          (rc = rl__scn_compile_path(c, p, 0, pt, &e->path)) ||
          (rc = parse_json_op(c, m, v, e)))
        return rc;
    }
    return 0;
  }
  if (n->type != YAML_MAPPING_NODE)
    return rl__scn_type_err(c, n, "a mapping ($.path: value) or a list",
                            "json");
  if ((rc = rl__scn_check_map(c, n, "json", NULL, NULL)))
    return rc;
  for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
       p < n->data.mapping.pairs.top; p++) {
    yaml_node_t *k = rl__scn_node_at(c, p->key),
                *val = rl__scn_node_at(c, p->value);
    rl__json_expect *e = rl__scn_grow(&x->json, &x->n_json, sizeof *e);
    if (!e)
      return rl__scn_oom(c);
    if ((rc = rl__scn_compile_path(c, k, 0, rl__scn_stext(k), &e->path)))
      return rc;
    if (val->type != YAML_MAPPING_NODE) {
      /* $.ok: true is short for {equals: true}. */
      e->op = RL__JSON_EQUALS;
      if ((rc = parse_json_value(c, val, v, e)))
        return rc;
      continue;
    }
    if ((rc = rl__scn_check_map(
             c, val, "json expectation", json_op_keys,
             "to compare with an object write {equals: {...}}")) ||
        (rc = parse_json_op(c, val, v, e)))
      return rc;
    if (e->op == RL__JSON_EXISTS)
      return rl__scn_errat(
          c, rl__scn_npos(val),
          "empty json expectation: give equals, contains or matches");
  }
  return 0;
}

static const char *const expect_keys[] = {
    "status",      "body_contains", "body_matches", "json",
    "grpc_status", "max_ms",        "message",      NULL};

/* One accepted status: 100..599, or a class "2xx" (any case). */
static int parse_one_status(rl__scn_ctx *c, const yaml_node_t *n, rl__expect *x,
                            rl__buf *text) {
  const char *t = n->type == YAML_SCALAR_NODE ? rl__scn_stext(n) : "";
  long long code;
  if (n->type == YAML_SCALAR_NODE && strlen(t) == 3 && t[0] >= '1' &&
      t[0] <= '5' && (t[1] == 'x' || t[1] == 'X') &&
      (t[2] == 'x' || t[2] == 'X')) {
    int base = (t[0] - '0') * 100;
    for (int s = base; s < base + 100; s++)
      rl__status_set_add(&x->status, s);
    rl__buf_printf(text, "%s%cxx", text->len ? " or " : "", t[0]);
    return 0;
  }
  if (n->type != YAML_SCALAR_NODE || rl__parse_int(t, 100, 599, &code)) {
    char buf[64];
    return rl__scn_errat(c, rl__scn_npos(n),
                         "expected a status for 'status': 100 to 599, a "
                         "class such as 2xx, or a list of them "
                         "([200, 404]), got %s",
                         rl__scn_describe(n, buf, sizeof buf));
  }
  rl__status_set_add(&x->status, (int)code);
  rl__buf_printf(text, "%s%lld", text->len ? " or " : "", code);
  return 0;
}

/* `status: 200`, `status: [200, 404]`, `status: 2xx`. */
static int parse_status(rl__scn_ctx *c, const yaml_node_t *n, rl__expect *x) {
  rl__buf text;
  rl__buf_init(&text);
  int rc = 0;
  if (n->type == YAML_SEQUENCE_NODE) {
    if (n->data.sequence.items.top == n->data.sequence.items.start)
      rc = rl__scn_errat(c, rl__scn_npos(n),
                         "'status' is an empty list: give the statuses a "
                         "response may have");
    for (yaml_node_item_t *it = n->data.sequence.items.start;
         !rc && it < n->data.sequence.items.top; it++)
      rc = parse_one_status(c, rl__scn_node_at(c, *it), x, &text);
  } else {
    rc = parse_one_status(c, n, x, &text);
  }
  if (!rc && text.oom)
    rc = rl__scn_oom(c);
  if (rc) {
    rl__buf_free(&text);
    return rc;
  }
  x->has_status = 1;
  x->status_text = text.p; /* the buffer's text, now the expectation's */
  return 0;
}

int rl__scn_parse_expect(rl__scn_ctx *c, const yaml_node_t *n, rl__scn_step *st,
                         const rl__scn_vars *v) {
  rl__expect *x = &st->expect;
  int rc;
  if (n->type != YAML_MAPPING_NODE)
    return rl__scn_type_err(c, n, "a mapping", "expect");
  if ((rc = rl__scn_check_map(c, n, "expect", expect_keys, NULL)))
    return rc;
  st->expect_pos = rl__scn_npos(n);
  yaml_node_t *val;
  if ((val = rl__scn_get(c, n, "status", NULL)) &&
      (rc = parse_status(c, val, x)))
    return rc;
  if ((rc = rl__scn_opt_str(c, n, "body_contains", &x->body_contains, NULL)) ||
      (rc = rl__scn_opt_str(c, n, "body_matches", &x->body_matches, NULL)) ||
      (rc = rl__scn_opt_str(c, n, "message", &x->message, NULL)))
    return rc;
  if (x->body_contains &&
      (rc = rl__scn_check_template(c, rl__scn_get(c, n, "body_contains", NULL),
                                   x->body_contains, v)))
    return rc;
  if (x->message && !x->message[0])
    return rl__scn_errat(c, rl__scn_npos(rl__scn_get(c, n, "message", NULL)),
                         "'message' is empty: give the text a failure "
                         "should show");
  if (x->body_matches &&
      (rc = rl__scn_compile_re(c, rl__scn_get(c, n, "body_matches", NULL), 0,
                               x->body_matches, &x->body_re)))
    return rc;
  if ((val = rl__scn_get(c, n, "json", NULL)) &&
      (rc = parse_json_expects(c, val, v, x)))
    return rc;
  if ((val = rl__scn_get(c, n, "grpc_status", NULL))) {
    if ((rc = parse_status_name(c, val, &x->status_name)))
      return rc;
    st->status_name_pos = rl__scn_npos(val);
  }
  if ((val = rl__scn_get(c, n, "max_ms", NULL))) {
    if ((rc = rl__scn_get_num(c, val, "max_ms", &x->max_ms)))
      return rc;
    if (!(x->max_ms > 0))
      return rl__scn_errat(c, rl__scn_npos(val),
                           "'max_ms' must be more than 0");
    x->has_max_ms = 1;
  }
  return 0;
}

/* ---- capture ------------------------------------------------------------- */

/* A capture's variable counted among the file's names (at most
 * RL__SCN_MAX_VARS: every user holds a slot for each). */
static int count_variable(rl__scn_ctx *c, const yaml_node_t *k,
                          const char *name) {
  for (size_t i = 0; i < c->n_all_vars; i++)
    if (strcmp(c->all_vars[i], name) == 0)
      return 0;
  if (c->n_all_vars == RL__SCN_MAX_VARS)
    return rl__scn_errat(c, rl__scn_npos(k),
                         "more than %d variable names in the file, the "
                         "limit of scenario files",
                         RL__SCN_MAX_VARS);
  const char **v = rl__scn_grow(&c->all_vars, &c->n_all_vars, sizeof *v);
  if (!v)
    return rl__scn_oom(c);
  *v = rl__scn_stext(k);
  return 0;
}

int rl__scn_parse_captures(rl__scn_ctx *c, const yaml_node_t *n,
                           rl__scn_step *st, rl__scn_vars *v) {
  int rc;
  if (n->type != YAML_MAPPING_NODE)
    return rl__scn_type_err(c, n, "a mapping (variable: source)", "capture");
  if ((rc = rl__scn_check_map(c, n, "capture", NULL, NULL)))
    return rc;
  for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
       p < n->data.mapping.pairs.top; p++) {
    yaml_node_t *k = rl__scn_node_at(c, p->key),
                *val = rl__scn_node_at(c, p->value);
    const char *name = rl__scn_stext(k), *src;
    if (!rl__scn_is_ident(name, strlen(name)))
      return rl__scn_errat(
          c, rl__scn_npos(k),
          "capture variable '%s' is not a name (letters, digits, _; "
          "not starting with a digit)",
          name);
    if (rl__scn_in_list(rl__scn_builtins, name))
      return rl__scn_errat(
          c, rl__scn_npos(k),
          "capture variable '%s' would hide the template function "
          "of that name",
          name);
    if ((rc = rl__scn_scalar_text(c, val, name, &src)) ||
        (rc = count_variable(c, k, name)))
      return rc;
    rl__capture *cp = rl__scn_grow(&st->captures, &st->n_captures, sizeof *cp);
    if (!cp)
      return rl__scn_oom(c);
    if ((rc = rl__scn_dup_str(c, name, &cp->var)) ||
        (rc = rl__scn_dup_str(c, src, &cp->source)))
      return rc;
    if (src[0] == '$') {
      cp->kind = RL__CAPTURE_JSON;
      cp->arg = cp->source;
      rc = rl__scn_compile_path(c, val, 0, cp->source, &cp->path);
      if (!rc && rl__jsonpath_wild(cp->path))
        rc = rl__scn_errat(c, rl__scn_npos(val),
                           "a capture keeps one value: '%s' has [*] (name "
                           "the element: [0], [-1])",
                           cp->source);
    } else if (strncmp(src, "header:", 7) == 0) {
      cp->kind = RL__CAPTURE_HEADER;
      cp->arg = cp->source + 7;
      while (*cp->arg == ' ')
        cp->arg++;
      if (!*cp->arg)
        rc = rl__scn_errat(c, rl__scn_npos(val),
                           "expected a header name after 'header:'");
    } else if (strncmp(src, "regex:", 6) == 0) {
      cp->kind = RL__CAPTURE_REGEX;
      cp->arg = cp->source + 6;
      rc = rl__scn_compile_re(c, val, 6, cp->arg, &cp->re);
    } else {
      char buf[64];
      rc = rl__scn_errat(
          c, rl__scn_npos(val),
          "expected a capture source for '%s': a JSON path ($.token), "
          "header:NAME or regex:PATTERN, got %s",
          name, rl__scn_describe(val, buf, sizeof buf));
    }
    if (rc)
      return rc;
  }
  /* Only now: a step's own templates cannot use what it captures. (No
   * scope: a library task read for its shape alone.) */
  for (size_t i = 0; v && i < st->n_captures; i++)
    if ((rc = rl__scn_vars_push(c, v, st->captures[i].var)))
      return rc;
  return 0;
}

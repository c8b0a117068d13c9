/*
 * YAML to JSON text (yaml_json.h): a node tree written out as JSON, with
 * the YAML scalar types JSON has kept and every string checked as a
 * template, bounded against alias bombs.
 *
 * May call: scenario/yaml.h (nodes, errors), scenario/vars.h (template
 * checks).
 */
#include "scenario/yaml_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "base/buf.h"
#include "engine/template.h"
#include "scenario/vars.h"
#include "scenario/yaml.h"

/* Aliases can make a tree a graph (`&a [*a]`) or blow it up exponentially
 * (the "billion laughs"): JSON conversion stops at this depth and this many
 * nodes visited. */
#define MAX_DEPTH 64
#define MAX_WORK 1000000

/* `n` bytes of `s` as the inside of a JSON string. */
static void json_escape(rl__buf *b, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    char esc[8];
    switch (ch) {
    case '"':
      rl__buf_add(b, "\\\"", 2);
      break;
    case '\\':
      rl__buf_add(b, "\\\\", 2);
      break;
    case '\n':
      rl__buf_add(b, "\\n", 2);
      break;
    case '\r':
      rl__buf_add(b, "\\r", 2);
      break;
    case '\t':
      rl__buf_add(b, "\\t", 2);
      break;
    default:
      if (ch < 0x20) {
        snprintf(esc, sizeof esc, "\\u%04x", ch);
        rl__buf_add(b, esc, 6);
      } else {
        rl__buf_add(b, (const char *)&s[i], 1);
      }
    }
  }
}

/* `n` bytes of `s` as a JSON string. */
static void sb_json_string(rl__buf *b, const char *s, size_t n) {
  rl__buf_add(b, "\"", 1);
  json_escape(b, s, n);
  rl__buf_add(b, "\"", 1);
}

/* 1 when the expression from `s` to `e` is a template function's (their
 * values are digits, letters and dashes: nothing to escape). */
static int is_function(const char *s, const char *e) {
  while (s < e && (*s == ' ' || *s == '\t'))
    s++;
  size_t w = 0;
  while (s + w < e && s[w] != ' ' && s[w] != '\t' && s[w] != '|')
    w++;
  for (size_t i = 0; rl__scn_builtins[i]; i++)
    if (strlen(rl__scn_builtins[i]) == w &&
        strncmp(s, rl__scn_builtins[i], w) == 0)
      return 1;
  return 0;
}

/* A string with templates as JSON: each variable's or data column's
 * {{...}} marked `|json` (engine/template.h), so that a value holding a
 * quote or a backslash (a password from a data file) still makes a JSON
 * string. */
static void templated_json_string(rl__buf *b, const char *t) {
  rl__buf_add(b, "\"", 1);
  while (*t) {
    const char *open = strstr(t, "{{");
    const char *close = open ? strstr(open + 2, "}}") : NULL;
    if (!close) {
      json_escape(b, t, strlen(t));
      break;
    }
    json_escape(b, t, (size_t)(open - t));
    const char *e = close;
    while (e > open + 2 && (e[-1] == ' ' || e[-1] == '\t'))
      e--;
    rl__buf_add(b, open, (size_t)(e - open));
    size_t inner = (size_t)(e - open - 2);
    if (!is_function(open + 2, e) &&
        rl__template_json_suffix(open + 2, inner) == inner)
      rl__buf_str(b, "|json");
    rl__buf_add(b, "}}", 2);
    t = close + 2;
  }
  rl__buf_add(b, "\"", 1);
}

/* JSON's number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int is_json_number(const char *s) {
  if (*s == '-')
    s++;
  if (*s == '0')
    s++;
  else if (*s >= '1' && *s <= '9')
    while (*s >= '0' && *s <= '9')
      s++;
  else
    return 0;
  if (*s == '.') {
    s++;
    if (!(*s >= '0' && *s <= '9'))
      return 0;
    while (*s >= '0' && *s <= '9')
      s++;
  }
  if (*s == 'e' || *s == 'E') {
    s++;
    if (*s == '+' || *s == '-')
      s++;
    if (!(*s >= '0' && *s <= '9'))
      return 0;
    while (*s >= '0' && *s <= '9')
      s++;
  }
  return *s == 0;
}

/* The template functions whose value is a number. */
static const char *const numeric_functions[] = {
    "user_id", "seq", "timestamp", "timestamp_ms", "random_int", "i", NULL};

/* 1 when `t` is exactly one {{...}} expression of a numeric function, so
 * that a JSON value of it can be a number: `"{{random_int 1 100}}"`. */
static int numeric_template(const char *t) {
  size_t len = strlen(t);
  if (len < 5 || strncmp(t, "{{", 2) != 0 || strcmp(t + len - 2, "}}") != 0)
    return 0;
  const char *inner = t + 2, *end = t + len - 2;
  if (strstr(inner, "{{") || strstr(inner, "}}") != end)
    return 0;
  while (inner < end && (*inner == ' ' || *inner == '\t'))
    inner++;
  size_t w = 0;
  while (inner + w < end && inner[w] != ' ' && inner[w] != '\t')
    w++;
  for (size_t i = 0; numeric_functions[i]; i++)
    if (strlen(numeric_functions[i]) == w &&
        strncmp(inner, numeric_functions[i], w) == 0)
      return 1;
  return 0;
}

/* The YAML tag a scalar was given (`!!str`, `!!int`, `!!float`), as
 * libyaml resolves it, or "" when it has none. */
static const char *scalar_tag(const yaml_node_t *n) {
  const char *tag = (const char *)n->tag;
  static const char prefix[] = "tag:yaml.org,2002:";
  if (!tag || strncmp(tag, prefix, sizeof prefix - 1) != 0)
    return "";
  return tag + sizeof prefix - 1;
}

/* 1 when the scalar is written with the explicit tag `!!str` (libyaml
 * gives every untagged scalar that tag too, so the source tells): after
 * its anchor, if any, the node's text starts with it. */
static int tagged_str(const rl__scn_ctx *c, const yaml_node_t *n) {
  size_t i = n->start_mark.index, end = n->end_mark.index;
  if (!c->text || end > c->text_len)
    return 0;
  if (i < end && c->text[i] == '&') {
    while (i < end && c->text[i] != ' ' && c->text[i] != '\t')
      i++;
    while (i < end && (c->text[i] == ' ' || c->text[i] == '\t'))
      i++;
  }
  return end - i > 5 && strncmp(c->text + i, "!!str", 5) == 0 &&
         (c->text[i + 5] == ' ' || c->text[i + 5] == '\t');
}

/*
 * Appends node `n` as JSON. Unquoted scalars that read as JSON numbers,
 * true/false or null keep that type (their text as written: 1.50 stays
 * 1.50); quoted ones are strings, but for templates that make numbers. Strings are checked as templates
 * against `v` (NULL: not templates).
 */
static int to_json(rl__scn_ctx *c, const yaml_node_t *n, rl__buf *b,
                   const rl__scn_vars *v, int numbers, int depth) {
  if (depth > MAX_DEPTH)
    return rl__scn_errat(c, rl__scn_npos(n),
                         "nested deeper than %d levels (an alias "
                         "refers to itself?)",
                         MAX_DEPTH);
  if (++c->work > MAX_WORK)
    return rl__scn_errat(c, rl__scn_npos(n),
                         "aliases expand to more than %d values", MAX_WORK);
  int rc;
  if (n->type == YAML_SCALAR_NODE) {
    const char *t;
    if ((rc = rl__scn_scalar_text(c, n, "a JSON value", &t)))
      return rc;
    if (rl__scn_is_null(n)) {
      rl__buf_str(b, "null");
    } else if (rl__scn_is_plain(n) &&
               (strcmp(t, "true") == 0 || strcmp(t, "True") == 0 ||
                strcmp(t, "TRUE") == 0)) {
      rl__buf_str(b, "true");
    } else if (rl__scn_is_plain(n) &&
               (strcmp(t, "false") == 0 || strcmp(t, "False") == 0 ||
                strcmp(t, "FALSE") == 0)) {
      rl__buf_str(b, "false");
    } else if (rl__scn_is_plain(n) && is_json_number(t)) {
      rl__buf_str(b, t);
    } else {
      if ((rc = rl__scn_check_template(c, n, t, v)))
        return rc;
      /* A value that is one numeric template ({{random_int 1 100}}), or
       * any template tagged !!int or !!float, is a number: the template
       * goes into the JSON text unquoted. !!str keeps a string. */
      const char *tag = scalar_tag(n);
      int number = v && strstr(t, "{{") &&
                   (strcmp(tag, "int") == 0 || strcmp(tag, "float") == 0 ||
                    (numbers && numeric_template(t) && !tagged_str(c, n)));
      if (number)
        rl__buf_str(b, t);
      else if (v && strstr(t, "{{"))
        templated_json_string(b, t);
      else
        sb_json_string(b, t, strlen(t));
    }
  } else if (n->type == YAML_SEQUENCE_NODE) {
    rl__buf_add(b, "[", 1);
    for (yaml_node_item_t *it = n->data.sequence.items.start;
         it < n->data.sequence.items.top; it++) {
      if (it != n->data.sequence.items.start)
        rl__buf_add(b, ",", 1);
      if ((rc = to_json(c, rl__scn_node_at(c, *it), b, v, numbers, depth + 1)))
        return rc;
    }
    rl__buf_add(b, "]", 1);
  } else {
    if ((rc = rl__scn_check_map(c, n, "a JSON object", NULL, NULL)))
      return rc;
    rl__buf_add(b, "{", 1);
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
         p < n->data.mapping.pairs.top; p++) {
      yaml_node_t *k = rl__scn_node_at(c, p->key);
      const char *kt;
      if ((rc = rl__scn_scalar_text(c, k, "a JSON key", &kt)) ||
          (rc = rl__scn_check_template(c, k, kt, v)))
        return rc;
      if (p != n->data.mapping.pairs.start)
        rl__buf_add(b, ",", 1);
      sb_json_string(b, kt, strlen(kt));
      rl__buf_add(b, ":", 1);
      if ((rc = to_json(c, rl__scn_node_at(c, p->value), b, v, numbers,
                        depth + 1)))
        return rc;
    }
    rl__buf_add(b, "}", 1);
  }
  return b->oom ? rl__scn_oom(c) : 0;
}

/* `n` as JSON text in *out (owned by the caller). */
int rl__scn_json_text(rl__scn_ctx *c, const yaml_node_t *n,
                      const rl__scn_vars *v, int template_numbers, char **out) {
  rl__buf b;
  rl__buf_init(&b);
  int rc = to_json(c, n, &b, v, template_numbers, 0);
  if (rc) {
    free(b.p);
    return rc;
  }
  *out = b.p;
  return 0;
}

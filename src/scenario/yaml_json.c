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
#include "scenario/vars.h"
#include "scenario/yaml.h"

/* Aliases can make a tree a graph (`&a [*a]`) or blow it up exponentially
 * (the "billion laughs"): JSON conversion stops at this depth and this many
 * nodes visited. */
#define MAX_DEPTH 64
#define MAX_WORK 1000000

static void sb_json_string(rl__buf *b, const char *s, size_t n) {
  rl__buf_add(b, "\"", 1);
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

/*
 * Appends node `n` as JSON. Unquoted scalars that read as JSON numbers,
 * true/false or null keep that type (their text as written: 1.50 stays
 * 1.50); quoted ones are strings. Strings are checked as templates
 * against `v` (NULL: not templates).
 */
static int to_json(rl__scn_ctx *c, const yaml_node_t *n, rl__buf *b,
                   const rl__scn_vars *v, int depth) {
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
      sb_json_string(b, t, strlen(t));
    }
  } else if (n->type == YAML_SEQUENCE_NODE) {
    rl__buf_add(b, "[", 1);
    for (yaml_node_item_t *it = n->data.sequence.items.start;
         it < n->data.sequence.items.top; it++) {
      if (it != n->data.sequence.items.start)
        rl__buf_add(b, ",", 1);
      if ((rc = to_json(c, rl__scn_node_at(c, *it), b, v, depth + 1)))
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
      if ((rc = to_json(c, rl__scn_node_at(c, p->value), b, v, depth + 1)))
        return rc;
    }
    rl__buf_add(b, "}", 1);
  }
  return b->oom ? rl__scn_oom(c) : 0;
}

/* `n` as JSON text in *out (owned by the caller). */
int rl__scn_json_text(rl__scn_ctx *c, const yaml_node_t *n,
                      const rl__scn_vars *v, char **out) {
  rl__buf b;
  rl__buf_init(&b);
  int rc = to_json(c, n, &b, v, 0);
  if (rc) {
    free(b.p);
    return rc;
  }
  *out = b.p;
  return 0;
}

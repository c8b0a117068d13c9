/*
 * Reading a YAML document with positions (yaml.h): error messages naming
 * file:line:col, nodes, mappings with "did you mean", scalars, growable
 * arrays, string lists, and regular expressions and JSON paths compiled
 * with the position of their faults. Knows nothing of the scenario's
 * schema.
 *
 * May call: libyaml, base/ (units, jsonpath, regex).
 * Nothing else in scenario/ (scenario.h only for its types).
 */
#include "scenario/yaml.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include <rpcload/plugin.h>

#include "base/jsonpath.h"
#include "base/regex.h"
#include "base/units.h"

/* ---- errors -------------------------------------------------------------- */

void rl__scn_vformat(const char *file, rl__scn_pos pos, char *err,
                     size_t errlen, const char *fmt, va_list ap) {
  if (!err || !errlen)
    return;
  char msg[768];
  vsnprintf(msg, sizeof msg, fmt, ap);
  if (pos.line > 0)
    snprintf(err, errlen, "%s:%d:%d: %s", file, pos.line, pos.col, msg);
  else
    snprintf(err, errlen, "%s: %s", file, msg);
}

int rl__scn_errat(rl__scn_ctx *c, rl__scn_pos pos, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  rl__scn_vformat(c->file, pos, c->err, c->errlen, fmt, ap);
  va_end(ap);
  return RL_ERR_INVAL;
}

int rl__scn_oom(rl__scn_ctx *c) {
  snprintf(c->err, c->errlen, "%s: out of memory", c->file);
  return RL_ERR_NOMEM;
}

/* The 1-based line and column of byte `off` of the c->text being read. */
static rl__scn_pos offset_pos(const rl__scn_ctx *c, size_t off) {
  rl__scn_pos p = {1, 1};
  if (!c->text)
    return p;
  for (size_t i = 0; i < off && i < c->text_len; i++) {
    if (c->text[i] == '\n') {
      p.line++;
      p.col = 1;
    } else if (((unsigned char)c->text[i] & 0xc0) != 0x80) {
      p.col++; /* a column per character, not per byte */
    }
  }
  return p;
}

int rl__scn_yaml_error(rl__scn_ctx *c, const yaml_parser_t *p) {
  const char *problem = p->problem ? p->problem : "malformed YAML";
  if (p->error == YAML_MEMORY_ERROR)
    return rl__scn_oom(c);
  if (p->error == YAML_READER_ERROR) {
    /* The reader knows the byte, not the line: count them. */
    rl__scn_pos at = offset_pos(c, p->problem_offset);
    if (p->problem_value >= 0 && p->problem_value < 0x20)
      return rl__scn_errat(c, at, "YAML: %s (character 0x%02x)", problem,
                           p->problem_value);
    return rl__scn_errat(
        c, at, "YAML: %s%s", problem,
        strstr(problem, "UTF-8") ? " (the file must be UTF-8 text)" : "");
  }
  rl__scn_pos at = {(int)p->problem_mark.line + 1,
                    (int)p->problem_mark.column + 1};
  /* A tab where YAML wants indentation is the usual cause of this one. */
  const char *hint = "";
  if (c->text && p->problem_mark.index < c->text_len &&
      c->text[p->problem_mark.index] == '\t')
    hint = "; a tab? YAML indents with spaces";
  if (p->context)
    return rl__scn_errat(c, at, "YAML: %s (%s at %d:%d)%s", problem, p->context,
                         (int)p->context_mark.line + 1,
                         (int)p->context_mark.column + 1, hint);
  return rl__scn_errat(c, at, "YAML: %s%s", problem, hint);
}

/*
 * Walks the document's events before it is loaded, refusing what would
 * make loading it slow or big: collections nested deeper than
 * RL__SCN_MAX_DEPTH (libyaml's scanner does work in proportion to the
 * depth for every token, so a deep file loads in quadratic time) and more
 * than RL__SCN_MAX_NODES values. It stops at the first event past a
 * limit, so what it reads is bounded too.
 */
int rl__scn_prescan(rl__scn_ctx *c) {
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser))
    return rl__scn_oom(c);
  yaml_parser_set_input_string(&parser, (const unsigned char *)c->text,
                               c->text_len);
  int rc = 0, depth = 0;
  size_t nodes = 0;
  for (int done = 0; !done && !rc;) {
    yaml_event_t ev;
    if (!yaml_parser_parse(&parser, &ev)) {
      rc = rl__scn_yaml_error(c, &parser);
      break;
    }
    rl__scn_pos at = {(int)ev.start_mark.line + 1,
                      (int)ev.start_mark.column + 1};
    int opens = ev.type == YAML_SEQUENCE_START_EVENT ||
                ev.type == YAML_MAPPING_START_EVENT;
    int value =
        opens || ev.type == YAML_SCALAR_EVENT || ev.type == YAML_ALIAS_EVENT;
    if (opens && ++depth > RL__SCN_MAX_DEPTH)
      rc = rl__scn_errat(c, at,
                         "nested deeper than %d levels, the limit of "
                         "scenario files",
                         RL__SCN_MAX_DEPTH);
    else if (value && ++nodes > RL__SCN_MAX_NODES)
      rc = rl__scn_errat(c, at,
                         "more than %d values, the limit of scenario files",
                         RL__SCN_MAX_NODES);
    if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT)
      depth--;
    done = ev.type == YAML_STREAM_END_EVENT;
    yaml_event_delete(&ev);
  }
  yaml_parser_delete(&parser);
  return rc;
}

/* ---- nodes --------------------------------------------------------------- */

rl__scn_pos rl__scn_npos(const yaml_node_t *n) {
  return (rl__scn_pos){(int)n->start_mark.line + 1,
                       (int)n->start_mark.column + 1};
}

yaml_node_t *rl__scn_node_at(rl__scn_ctx *c, yaml_node_item_t id) {
  return yaml_document_get_node(c->doc, id);
}

const char *rl__scn_stext(const yaml_node_t *n) {
  return (const char *)n->data.scalar.value;
}

int rl__scn_is_plain(const yaml_node_t *n) {
  return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* YAML's null: an unquoted ~, null or nothing. */
int rl__scn_is_null(const yaml_node_t *n) {
  if (n->type != YAML_SCALAR_NODE || !rl__scn_is_plain(n))
    return 0;
  const char *t = rl__scn_stext(n);
  return !*t || strcmp(t, "~") == 0 || strcmp(t, "null") == 0 ||
         strcmp(t, "Null") == 0 || strcmp(t, "NULL") == 0;
}

/* What a node is, for "expected X, got Y". */
const char *rl__scn_describe(const yaml_node_t *n, char *buf, size_t len) {
  if (n->type == YAML_MAPPING_NODE)
    return "a mapping";
  if (n->type == YAML_SEQUENCE_NODE)
    return "a list";
  if (rl__scn_is_null(n))
    return "nothing";
  const char *t = rl__scn_stext(n);
  if (strlen(t) > 40)
    snprintf(buf, len, "'%.37s...'", t);
  else
    snprintf(buf, len, "'%s'", t);
  return buf;
}

int rl__scn_type_err(rl__scn_ctx *c, const yaml_node_t *n, const char *expected,
                     const char *key) {
  char buf[64];
  return rl__scn_errat(c, rl__scn_npos(n), "expected %s for '%s', got %s",
                       expected, key, rl__scn_describe(n, buf, sizeof buf));
}

/*
 * The position of byte `off` inside a scalar, when the source maps onto
 * the value byte for byte (one line, no escapes, ASCII); else the
 * scalar's own position.
 */
rl__scn_pos rl__scn_inner_pos(const yaml_node_t *n, size_t off) {
  rl__scn_pos p = rl__scn_npos(n);
  if (n->type != YAML_SCALAR_NODE || n->start_mark.line != n->end_mark.line)
    return p;
  size_t span = n->end_mark.column - n->start_mark.column;
  size_t len = n->data.scalar.length;
  switch (n->data.scalar.style) {
  case YAML_PLAIN_SCALAR_STYLE:
    if (span == len)
      p.col += (int)off;
    break;
  case YAML_SINGLE_QUOTED_SCALAR_STYLE:
  case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
    if (span == len + 2)
      p.col += (int)off + 1;
    break;
  default:
    break;
  }
  return p;
}

/* ---- mappings ------------------------------------------------------------ */

int rl__scn_in_list(const char *const *list, const char *s) {
  for (size_t i = 0; list[i]; i++)
    if (strcmp(list[i], s) == 0)
      return 1;
  return 0;
}

/* Levenshtein distance, for "did you mean"; large for long words. */
static size_t distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 63 || lb > 63)
    return 99;
  size_t row[64];
  for (size_t j = 0; j <= lb; j++)
    row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t up = row[j];
      size_t best = diag + (a[i - 1] == b[j - 1] ? 0 : 1);
      if (up + 1 < best)
        best = up + 1;
      if (row[j - 1] + 1 < best)
        best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[lb];
}

/* The word in `list` `s` was likely meant to be: at most 2 edits away,
 * or else one it abbreviates ("const" for "constant"). */
const char *rl__scn_closest(const char *const *list, const char *s) {
  const char *best = NULL;
  size_t bd = 3;
  for (size_t i = 0; list[i]; i++) {
    size_t d = distance(list[i], s);
    if (d < bd && d < strlen(list[i])) {
      bd = d;
      best = list[i];
    }
  }
  for (size_t i = 0; !best && list[i]; i++)
    if (strlen(s) >= 3 && strncmp(list[i], s, strlen(s)) == 0)
      best = list[i];
  return best;
}

void rl__scn_join(const char *const *list, char *buf, size_t len) {
  size_t used = 0;
  buf[0] = 0;
  for (size_t i = 0; list[i] && used < len; i++) {
    int n = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", list[i]);
    if (n < 0)
      break;
    used += (size_t)n;
  }
}

int rl__scn_unknown_key(rl__scn_ctx *c, const yaml_node_t *k, const char *what,
                        const char *const *allowed, const char *hint) {
  char list[512];
  rl__scn_join(allowed, list, sizeof list);
  const char *near = rl__scn_closest(allowed, rl__scn_stext(k));
  char mean[96] = "";
  if (near)
    snprintf(mean, sizeof mean, "did you mean '%s'? ", near);
  return rl__scn_errat(
      c, rl__scn_npos(k), "unknown key '%s' in %s (%sexpected: %s)%s%s",
      rl__scn_stext(k), what, mean, list, hint ? "; " : "", hint ? hint : "");
}

/* A key of a large mapping, for finding duplicates by sorting. */
typedef struct key_ref {
  const char *text;
  size_t index;
} key_ref;

static int key_ref_cmp(const void *a, const void *b) {
  const key_ref *x = a, *y = b;
  int d = strcmp(x->text, y->text);
  return d ? d : (x->index > y->index) - (x->index < y->index);
}

/* Mappings up to this many keys are checked for duplicates pair by pair;
 * larger ones by sorting their keys (n log n, not n^2). */
#define SMALL_MAP 16

int rl__scn_first_duplicate(const char *const *texts, size_t n, size_t *dup,
                            size_t *first) {
  key_ref *keys = malloc((n ? n : 1) * sizeof *keys);
  if (!keys)
    return RL_ERR_NOMEM;
  for (size_t i = 0; i < n; i++)
    keys[i] = (key_ref){texts[i], i};
  qsort(keys, n, sizeof *keys, key_ref_cmp);
  int found = 0;
  for (size_t i = 1; i < n; i++) {
    /* The second of each run of equal keys (its first repeat). */
    if (strcmp(keys[i].text, keys[i - 1].text) != 0 ||
        (i >= 2 && strcmp(keys[i - 1].text, keys[i - 2].text) == 0))
      continue;
    if (!found || keys[i].index < *dup) {
      *dup = keys[i].index;
      *first = keys[i - 1].index;
      found = 1;
    }
  }
  free(keys);
  return found;
}

/* rl__scn_first_duplicate over a large mapping's keys (all scalars). */
static int find_duplicate(rl__scn_ctx *c, const yaml_node_t *m, size_t *dup,
                          size_t *first) {
  size_t n = (size_t)(m->data.mapping.pairs.top - m->data.mapping.pairs.start);
  const char **texts = malloc((n ? n : 1) * sizeof *texts);
  if (!texts)
    return RL_ERR_NOMEM;
  for (size_t i = 0; i < n; i++)
    texts[i] =
        rl__scn_stext(rl__scn_node_at(c, m->data.mapping.pairs.start[i].key));
  int found = rl__scn_first_duplicate(texts, n, dup, first);
  free(texts);
  return found;
}

/*
 * Checks a mapping's keys: each a string, none twice, and (when `allowed`
 * is not NULL) each in `allowed`.
 */
int rl__scn_check_map(rl__scn_ctx *c, const yaml_node_t *m, const char *what,
                      const char *const *allowed, const char *hint) {
  size_t n = (size_t)(m->data.mapping.pairs.top - m->data.mapping.pairs.start);
  for (size_t i = 0; i < n; i++) {
    yaml_node_t *k = rl__scn_node_at(c, m->data.mapping.pairs.start[i].key);
    if (k->type != YAML_SCALAR_NODE) {
      if (k->type == YAML_MAPPING_NODE)
        return rl__scn_errat(
            c, rl__scn_npos(k),
            "a key in %s is a mapping: a {{...}} template must be "
            "quoted in YAML (\"{{user_id}}\")",
            what);
      return rl__scn_errat(c, rl__scn_npos(k),
                           "keys in %s must be strings, got a list", what);
    }
    for (size_t j = 0; n <= SMALL_MAP && j < i; j++) {
      yaml_node_t *k0 = rl__scn_node_at(c, m->data.mapping.pairs.start[j].key);
      if (strcmp(rl__scn_stext(k0), rl__scn_stext(k)) == 0)
        return rl__scn_errat(c, rl__scn_npos(k),
                             "duplicate key '%s' in %s (first at %d:%d)",
                             rl__scn_stext(k), what, rl__scn_npos(k0).line,
                             rl__scn_npos(k0).col);
    }
    if (allowed && !rl__scn_in_list(allowed, rl__scn_stext(k)))
      return rl__scn_unknown_key(c, k, what, allowed, hint);
  }
  size_t dup, first;
  int found = n > SMALL_MAP ? find_duplicate(c, m, &dup, &first) : 0;
  if (found < 0)
    return rl__scn_oom(c);
  if (found) {
    yaml_node_t *k = rl__scn_node_at(c, m->data.mapping.pairs.start[dup].key);
    yaml_node_t *k0 =
        rl__scn_node_at(c, m->data.mapping.pairs.start[first].key);
    return rl__scn_errat(
        c, rl__scn_npos(k), "duplicate key '%s' in %s (first at %d:%d)",
        rl__scn_stext(k), what, rl__scn_npos(k0).line, rl__scn_npos(k0).col);
  }
  return 0;
}

/* The value of `key` in mapping `m` (keys already checked), or NULL. */
yaml_node_t *rl__scn_get(rl__scn_ctx *c, const yaml_node_t *m, const char *key,
                         yaml_node_t **key_node) {
  for (yaml_node_pair_t *p = m->data.mapping.pairs.start;
       p < m->data.mapping.pairs.top; p++) {
    yaml_node_t *k = rl__scn_node_at(c, p->key);
    if (k->type == YAML_SCALAR_NODE && strcmp(rl__scn_stext(k), key) == 0) {
      if (key_node)
        *key_node = k;
      return rl__scn_node_at(c, p->value);
    }
  }
  return NULL;
}

/* ---- scalars ------------------------------------------------------------- */

/* Text of a scalar, refusing an embedded NUL (C strings end there). */
int rl__scn_scalar_text(rl__scn_ctx *c, const yaml_node_t *n, const char *key,
                        const char **out) {
  *out = "";
  if (n->type != YAML_SCALAR_NODE)
    return rl__scn_type_err(c, n, "a string", key);
  if (strlen(rl__scn_stext(n)) != n->data.scalar.length)
    return rl__scn_errat(c, rl__scn_npos(n), "'%s' contains a NUL character",
                         key);
  *out = rl__scn_stext(n);
  return 0;
}

int rl__scn_dup_str(rl__scn_ctx *c, const char *s, char **out) {
  if (!(*out = strdup(s)))
    return rl__scn_oom(c);
  return 0;
}

/* A string; null is refused (it is always a mistake where we want one). */
int rl__scn_get_str(rl__scn_ctx *c, const yaml_node_t *n, const char *key,
                    char **out) {
  const char *t;
  int rc;
  if (rl__scn_is_null(n))
    return rl__scn_type_err(c, n, "a string", key);
  if ((rc = rl__scn_scalar_text(c, n, key, &t)))
    return rc;
  return rl__scn_dup_str(c, t, out);
}

/* An optional string member: *out stays NULL when `key` is absent. */
int rl__scn_opt_str(rl__scn_ctx *c, const yaml_node_t *m, const char *key,
                    char **out, rl__scn_pos *pos) {
  yaml_node_t *v = rl__scn_get(c, m, key, NULL);
  if (!v)
    return 0;
  if (pos)
    *pos = rl__scn_npos(v);
  return rl__scn_get_str(c, v, key, out);
}

int rl__scn_get_num(rl__scn_ctx *c, const yaml_node_t *n, const char *key,
                    double *out) {
  *out = 0;
  if (n->type == YAML_SCALAR_NODE && !rl__scn_is_null(n)) {
    const char *t = rl__scn_stext(n);
    char *end;
    errno = 0;
    double v = strtod(t, &end);
    /* strtod also reads inf, nan and hex: nobody means those here. */
    if (*t && !*end && !errno && isfinite(v) && !strpbrk(t, "xXnN")) {
      *out = v;
      return 0;
    }
  }
  return rl__scn_type_err(c, n, "a number", key);
}

int rl__scn_get_int(rl__scn_ctx *c, const yaml_node_t *n, const char *key,
                    long long min, long long max, long long *out) {
  *out = 0;
  if (n->type == YAML_SCALAR_NODE &&
      rl__parse_int(rl__scn_stext(n), min, max, out) == 0)
    return 0;
  char what[96];
  snprintf(what, sizeof what, "a whole number from %lld to %lld", min, max);
  return rl__scn_type_err(c, n, what, key);
}

int rl__scn_get_bool(rl__scn_ctx *c, const yaml_node_t *n, const char *key,
                     int *out) {
  *out = 0;
  static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes",
                                    "YES",  "on",   "On",   "ON",  NULL};
  static const char *const no[] = {"false", "False", "FALSE", "no",  "No",
                                   "NO",    "off",   "Off",   "OFF", NULL};
  if (n->type == YAML_SCALAR_NODE && rl__scn_in_list(yes, rl__scn_stext(n))) {
    *out = 1;
    return 0;
  }
  if (n->type == YAML_SCALAR_NODE && rl__scn_in_list(no, rl__scn_stext(n))) {
    *out = 0;
    return 0;
  }
  return rl__scn_type_err(c, n, "true or false", key);
}

/* A duration: a number of seconds or "500ms", "2s", "1m30s". */
int rl__scn_get_duration(rl__scn_ctx *c, const yaml_node_t *n, const char *key,
                         uint64_t *out) {
  *out = 0;
  if (n->type == YAML_SCALAR_NODE &&
      rl__parse_duration(rl__scn_stext(n), out) == 0)
    return 0;
  return rl__scn_type_err(
      c, n, "a duration (seconds, or e.g. 500ms, 30s, 1h30m)", key);
}

/* ---- arrays -------------------------------------------------------------- */

/*
 * Grows the array whose pointer is at `arr_ptr` (any T **, *n elements of
 * `size` bytes) by one zeroed element and returns it, or NULL when out of
 * memory (the array is then unchanged). The capacity is the next power of
 * two, so it is reallocated only when *n is one (a file's long lists
 * load in linear time). The pointer is read and written with memcpy:
 * writing a T * through a void ** would break aliasing rules.
 */
void *rl__scn_grow(void *arr_ptr, size_t *n, size_t size) {
  char *a;
  memcpy(&a, arr_ptr, sizeof a);
  if (*n == 0 || (*n & (*n - 1)) == 0) {
    size_t cap = *n ? *n * 2 : 1;
    if (cap > SIZE_MAX / size)
      return NULL;
    char *grown = realloc(a, cap * size);
    if (!grown)
      return NULL;
    a = grown;
    memcpy(arr_ptr, &a, sizeof a);
  }
  memset(a + *n * size, 0, size);
  return a + (*n)++ * size;
}

/* ---- string lists -------------------------------------------------------- */

/* A string or a list of strings. */
int rl__scn_parse_str_list(rl__scn_ctx *c, const yaml_node_t *n,
                           const char *key, char ***out, size_t *count) {
  int rc;
  if (n->type != YAML_SEQUENCE_NODE) {
    char **s = rl__scn_grow(out, count, sizeof **out);
    if (!s)
      return rl__scn_oom(c);
    return rl__scn_get_str(c, n, key, s);
  }
  for (yaml_node_item_t *it = n->data.sequence.items.start;
       it < n->data.sequence.items.top; it++) {
    char **s = rl__scn_grow(out, count, sizeof **out);
    if (!s)
      return rl__scn_oom(c);
    if ((rc = rl__scn_get_str(c, rl__scn_node_at(c, *it), key, s)))
      return rc;
  }
  return 0;
}

/* ---- regular expressions and JSON paths ---------------------------------- */

int rl__scn_compile_re(rl__scn_ctx *c, const yaml_node_t *n, size_t off,
                       const char *re, rl__regex **out) {
  char why[160];
  size_t at = 0;
  int rc = rl__regex_new(re, out, &at, why, sizeof why);
  if (rc == RL_ERR_NOMEM)
    return rl__scn_oom(c);
  if (rc)
    return rl__scn_errat(c, rl__scn_inner_pos(n, off + at),
                         "bad regular expression '%s': %s", re, why);
  return 0;
}

int rl__scn_compile_path(rl__scn_ctx *c, const yaml_node_t *n, size_t off,
                         const char *text, rl__jsonpath **out) {
  char why[160];
  size_t at = 0;
  int rc = rl__jsonpath_new(text, out, &at, why, sizeof why);
  if (rc == RL_ERR_NOMEM)
    return rl__scn_oom(c);
  if (rc)
    return rl__scn_errat(c, rl__scn_inner_pos(n, off + at),
                         "bad JSON path '%s': %s", text, why);
  return 0;
}

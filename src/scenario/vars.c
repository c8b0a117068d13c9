/*
 * The user variables in scope and the template checks (vars.h): which
 * names a step's {{...}} may use, and whether each expression is a
 * builtin function with the right arguments (engine/template.c decides)
 * or a variable set before it.
 *
 * May call: scenario/yaml.h (errors, positions), engine/template.h.
 */
#include "scenario/vars.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include <rpcload/plugin.h>

#include "engine/template.h"
#include "scenario/yaml.h"

const char *const rl__scn_builtins[] = {
    "user_id",    "seq",           "uuid", "timestamp", "timestamp_ms",
    "random_int", "random_string", "i",    NULL};

static int vars_has(const rl__scn_vars *v, const char *name, size_t len) {
  for (size_t i = 0; i < v->n; i++)
    if (strlen(v->names[i]) == len && memcmp(v->names[i], name, len) == 0)
      return 1;
  return 0;
}

int rl__scn_vars_has(const rl__scn_vars *v, const char *name) {
  return vars_has(v, name, strlen(name));
}

int rl__scn_vars_push(rl__scn_ctx *c, rl__scn_vars *v, const char *name) {
  /* Once each: a name captured again stays one entry, so a scope holds at
   * most every name of the file (RL__SCN_MAX_VARS). */
  if (vars_has(v, name, strlen(name)))
    return 0;
  if (v->n == v->cap) {
    size_t cap = v->cap ? v->cap * 2 : 8;
    const char **names = realloc(v->names, cap * sizeof *names);
    if (!names)
      return rl__scn_oom(c);
    v->names = names;
    v->cap = cap;
  }
  v->names[v->n++] = name;
  return 0;
}

int rl__scn_vars_copy(rl__scn_ctx *c, const rl__scn_vars *from,
                      rl__scn_vars *to) {
  memset(to, 0, sizeof *to);
  for (size_t i = 0; i < from->n; i++)
    if (rl__scn_vars_push(c, to, from->names[i]))
      return RL_ERR_NOMEM;
  return 0;
}

int rl__scn_is_ident(const char *s, size_t len) {
  if (!len || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
                s[0] == '_'))
    return 0;
  for (size_t i = 1; i < len; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
          (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
      return 0;
  return 1;
}

/* A variable a C class's request names and no capture of it sets: its
 * code sets it (rl_user_set_var). Kept once in the scenario's c_vars. */
static int open_var(rl__scn_ctx *c, const char *name, size_t len) {
  rl__scn *s = c->s;
  for (size_t i = 0; i < s->n_c_vars; i++)
    if (strlen(s->c_vars[i]) == len && memcmp(s->c_vars[i], name, len) == 0)
      return 0;
  if (s->n_c_vars >= RL__SCN_MAX_VARS)
    return rl__scn_errat(c, (rl__scn_pos){0, 0},
                         "more than %d variable names in the C classes' "
                         "requests",
                         RL__SCN_MAX_VARS);
  char **v = realloc(s->c_vars, (s->n_c_vars + 1) * sizeof *v);
  if (!v)
    return rl__scn_oom(c);
  s->c_vars = v;
  if (!(v[s->n_c_vars] = strndup(name, len)))
    return rl__scn_oom(c);
  s->n_c_vars++;
  return 0;
}

/* Removes the first " at column N" from a template.c message: the
 * scenario's own position replaces it. */
static void drop_column(char *msg) {
  char *at = strstr(msg, " at column ");
  if (!at)
    return;
  char *end = at + strlen(" at column ");
  while (*end >= '0' && *end <= '9')
    end++;
  memmove(at, end, strlen(end) + 1);
}

/*
 * Checks the {{...}} in `text` (the value of scalar `n`): a builtin
 * function with the right arguments (template.c decides), or a variable in
 * `v`. NULL `v`: the string is not a template.
 */
int rl__scn_check_template(rl__scn_ctx *c, const yaml_node_t *n,
                           const char *text, const rl__scn_vars *v) {
  if (!v)
    return 0;
  size_t len = strlen(text);
  for (size_t i = 0; i + 1 < len; i++) {
    if (!(text[i] == '{' && text[i + 1] == '{'))
      continue;
    size_t open = i, close = open + 2;
    while (close + 1 < len && !(text[close] == '}' && text[close + 1] == '}'))
      close++;
    if (close + 1 >= len)
      return rl__scn_errat(c, rl__scn_inner_pos(n, open),
                           "'{{' has no closing '}}'");
    size_t b = open + 2, e = close;
    while (b < e && (text[b] == ' ' || text[b] == '\t'))
      b++;
    while (e > b && (text[e - 1] == ' ' || text[e - 1] == '\t'))
      e--;
    /* `|json` (engine/template.h) escapes a value for a JSON string. */
    e = b + rl__template_json_suffix(text + b, e - b);
    size_t w = b;
    while (w < e && text[w] != ' ' && text[w] != '\t')
      w++;
    char word[64];
    snprintf(word, sizeof word, "%.*s", (int)(w - b), text + b);
    rl__scn_pos at = rl__scn_inner_pos(n, open);
    if (b == e)
      return rl__scn_errat(c, at, "empty template expression {{}}");
    if (strncmp(word, "data.", 5) == 0 && w == e) {
      if (!c->data && c->open_vars)
        return rl__scn_errat(c, at,
                             "{{%s}} reads a data file: a class written in "
                             "C has none (set a variable: rl_user_set_var)",
                             word);
      if (!c->data)
        return rl__scn_errat(c, at,
                             "{{%s}} reads a data file: give one with data: "
                             "{file: ...} in the user class or at the top",
                             word);
      if (rl__feeder_column(c->data, text + b + 5, w - b - 5) < 0) {
        char cols[256];
        rl__scn_join((const char *const *)c->data->columns, cols, sizeof cols);
        return rl__scn_errat(c, at, "no column '%s' in %s (its columns: %s)",
                             word + 5, c->data->name, cols);
      }
    } else if (strcmp(word, "i") == 0 && !c->repeat_depth) {
      return rl__scn_errat(c, at,
                           "{{i}} is a repeat's counter: it exists in the "
                           "steps of a repeat: only");
    } else if (rl__scn_in_list(rl__scn_builtins, word)) {
      rl_template *t = NULL;
      char msg[256];
      int rc =
          rl__template_new(text + open, close + 2 - open, &t, msg, sizeof msg);
      rl__template_del(t);
      if (rc == RL_ERR_NOMEM)
        return rl__scn_oom(c);
      if (rc) {
        drop_column(msg);
        return rl__scn_errat(c, at, "%s", msg);
      }
    } else if (w != e || !rl__scn_is_ident(text + b, w - b)) {
      return rl__scn_errat(
          c, at,
          "'%s' is not a template function (known: user_id, seq, "
          "uuid, timestamp, timestamp_ms, random_int A B, "
          "random_string N) nor a variable name",
          word);
    } else if (!vars_has(v, text + b, w - b) && c->open_vars) {
      int rc = open_var(c, text + b, w - b);
      if (rc)
        return rc;
    } else if (!vars_has(v, text + b, w - b)) {
      return rl__scn_errat(
          c, at,
          "variable '%s' is never set (capture it in on_start or an "
          "earlier step)",
          word);
    }
    i = close + 1;
  }
  return 0;
}

#include "base/jsonpath.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rpcload/plugin.h>

enum seg_kind { SEG_KEY, SEG_INDEX };

typedef struct seg {
  enum seg_kind kind;
  char *key;       /* SEG_KEY: NUL-terminated, owned */
  long long index; /* SEG_INDEX: negative counts from the end */
} seg;

struct rl__jsonpath {
  char *text;
  seg *segs;
  size_t nsegs;
};

void rl__jsonpath_del(rl__jsonpath *p) {
  if (!p)
    return;
  for (size_t i = 0; i < p->nsegs; i++)
    free(p->segs[i].key);
  free(p->segs);
  free(p->text);
  free(p);
}

const char *rl__jsonpath_text(const rl__jsonpath *p) { return p->text; }

/* Appends a zeroed segment; NULL when out of memory. */
static seg *push_seg(rl__jsonpath *p) {
  seg *s = realloc(p->segs, (p->nsegs + 1) * sizeof *s);
  if (!s)
    return NULL;
  p->segs = s;
  memset(&s[p->nsegs], 0, sizeof *s);
  return &s[p->nsegs++];
}

typedef struct compiler {
  const char *text;
  size_t off; /* where the problem is */
  char *err;
  size_t errlen;
} compiler;

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 3, 4)))
#endif
static int
fail(compiler *c, size_t off, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->err, c->errlen, fmt, ap);
  va_end(ap);
  c->off = off;
  return RL_ERR_INVAL;
}

static int is_name_char(char ch) { return ch && !strchr(".[]'\" \t\r\n", ch); }

/* Parses a quoted key starting at text[i] (the quote); sets *end past the
 * closing quote and *out to the unescaped key (malloc'd). */
static int quoted_key(compiler *c, size_t i, size_t *end, char **out) {
  const char *t = c->text;
  char q = t[i];
  size_t n = strlen(t + i);
  char *key = malloc(n + 1);
  if (!key)
    return RL_ERR_NOMEM;
  size_t k = 0, j = i + 1;
  for (;; j++) {
    if (!t[j]) {
      free(key);
      return fail(c, i, "quoted key has no closing %c", q);
    }
    if (t[j] == q)
      break;
    if (t[j] == '\\') {
      if (t[j + 1] != q && t[j + 1] != '\\') {
        free(key);
        return fail(c, j, "unknown escape in a quoted key (only \\%c and \\\\)",
                    q);
      }
      j++;
    }
    key[k++] = t[j];
  }
  key[k] = 0;
  *end = j + 1;
  *out = key;
  return 0;
}

static int compile(compiler *c, rl__jsonpath *p) {
  const char *t = c->text;
  if (t[0] != '$')
    return fail(c, 0, "a JSON path starts with '$' (e.g. $.token)");
  size_t i = 1;
  while (t[i]) {
    if (t[i] == '.') {
      size_t b = i + 1, e = b;
      if (t[b] == '.')
        return fail(c, i, "recursive descent '..' is not supported");
      if (t[b] == '*')
        return fail(c, b,
                    "wildcards are not supported: a path selects one "
                    "value");
      while (is_name_char(t[e]))
        e++;
      if (e == b)
        return fail(c, b, "expected a key after '.'");
      seg *s = push_seg(p);
      if (!s || !(s->key = malloc(e - b + 1)))
        return RL_ERR_NOMEM;
      s->kind = SEG_KEY;
      memcpy(s->key, t + b, e - b);
      s->key[e - b] = 0;
      i = e;
    } else if (t[i] == '[') {
      size_t j = i + 1;
      while (t[j] == ' ')
        j++;
      seg *s = NULL;
      if (t[j] == '\'' || t[j] == '"') {
        char *key = NULL;
        int rc = quoted_key(c, j, &j, &key);
        if (rc)
          return rc;
        if (!(s = push_seg(p))) {
          free(key);
          return RL_ERR_NOMEM;
        }
        s->kind = SEG_KEY;
        s->key = key;
      } else if (t[j] == '-' || (t[j] >= '0' && t[j] <= '9')) {
        size_t b = j;
        if (t[j] == '-')
          j++;
        if (!(t[j] >= '0' && t[j] <= '9'))
          return fail(c, b, "expected an index after '-'");
        while (t[j] >= '0' && t[j] <= '9')
          j++;
        char num[32];
        if (j - b >= sizeof num)
          return fail(c, b, "index too large");
        memcpy(num, t + b, j - b);
        num[j - b] = 0;
        errno = 0;
        long long v = strtoll(num, NULL, 10);
        if (errno || v > INT_MAX || v < -(long long)INT_MAX)
          return fail(c, b, "index too large");
        if (!(s = push_seg(p)))
          return RL_ERR_NOMEM;
        s->kind = SEG_INDEX;
        s->index = v;
      } else if (t[j] == '*') {
        return fail(c, j,
                    "wildcards are not supported: a path selects one "
                    "value");
      } else if (t[j] == '?') {
        return fail(c, j,
                    "filters are not supported: a path selects one "
                    "value");
      } else {
        return fail(c, j, "expected an index or a quoted key after '['");
      }
      while (t[j] == ' ')
        j++;
      if (t[j] != ']')
        return fail(c, j, "expected ']'");
      i = j + 1;
    } else {
      return fail(c, i, "expected '.' or '[' after '%.*s'", (int)i, t);
    }
  }
  return 0;
}

int rl__jsonpath_new(const char *text, rl__jsonpath **out, size_t *err_off,
                     char *err, size_t errlen) {
  *out = NULL;
  rl__jsonpath *p = calloc(1, sizeof *p);
  if (!p || !(p->text = strdup(text))) {
    free(p);
    snprintf(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  compiler c = {.text = text, .err = err, .errlen = errlen};
  int rc = compile(&c, p);
  if (rc) {
    if (rc == RL_ERR_NOMEM)
      snprintf(err, errlen, "out of memory");
    if (err_off)
      *err_off = c.off;
    rl__jsonpath_del(p);
    return rc;
  }
  *out = p;
  return 0;
}

json_t *rl__jsonpath_eval(const rl__jsonpath *p, const json_t *doc) {
  /* jansson's getters take const and hand back non-const: the value is
   * borrowed either way. */
  json_t *v = (json_t *)doc;
  for (size_t i = 0; v && i < p->nsegs; i++) {
    const seg *s = &p->segs[i];
    if (s->kind == SEG_KEY) {
      v = json_is_object(v) ? json_object_get(v, s->key) : NULL;
    } else if (!json_is_array(v)) {
      v = NULL;
    } else {
      long long n = (long long)json_array_size(v);
      long long k = s->index < 0 ? n + s->index : s->index;
      v = k >= 0 && k < n ? json_array_get(v, (size_t)k) : NULL;
    }
  }
  return v;
}

char *rl__jsonpath_value_text(const json_t *v) {
  if (json_is_string(v)) {
    size_t n = json_string_length(v);
    char *s = malloc(n + 1);
    if (s) {
      memcpy(s, json_string_value(v), n);
      s[n] = 0;
    }
    return s;
  }
  return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

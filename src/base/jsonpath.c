#include "base/jsonpath.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rpcload/plugin.h>

enum seg_kind { SEG_KEY, SEG_INDEX, SEG_ALL };

typedef struct seg {
  enum seg_kind kind;
  char *key;       /* SEG_KEY: NUL-terminated, owned */
  long long index; /* SEG_INDEX: negative counts from the end */
} seg;

struct rl__jsonpath {
  char *text;
  seg *segs;
  size_t nsegs;
  size_t wild; /* the [*] segment's index + 1; 0: none */
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

int rl__jsonpath_wild(const rl__jsonpath *p) { return p->wild != 0; }

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
        return fail(c, b, "'.*' is written [*] here");
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
        if (p->wild)
          return fail(c, j, "one [*] a path");
        if (!(s = push_seg(p)))
          return RL_ERR_NOMEM;
        s->kind = SEG_ALL;
        p->wild = p->nsegs;
        j++;
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

/* Segments [from, to) of `p` applied to `v`. */
static json_t *walk(const rl__jsonpath *p, size_t from, size_t to, json_t *v) {
  for (size_t i = from; v && i < to; i++) {
    const seg *s = &p->segs[i];
    /* [*] selects no one value (rl__jsonpath_each walks past it). */
    if (s->kind == SEG_KEY) {
      v = json_is_object(v) ? json_object_get(v, s->key) : NULL;
    } else if (s->kind == SEG_ALL || !json_is_array(v)) {
      v = NULL;
    } else {
      long long n = (long long)json_array_size(v);
      long long k = s->index < 0 ? n + s->index : s->index;
      v = k >= 0 && k < n ? json_array_get(v, (size_t)k) : NULL;
    }
  }
  return v;
}

json_t *rl__jsonpath_eval(const rl__jsonpath *p, const json_t *doc) {
  /* jansson's getters take const and hand back non-const: the value is
   * borrowed either way. */
  return p->wild ? NULL : walk(p, 0, p->nsegs, (json_t *)doc);
}

size_t rl__jsonpath_each(const rl__jsonpath *p, const json_t *doc,
                         int (*fn)(json_t *value, size_t i, void *arg),
                         void *arg) {
  if (!p->wild) {
    json_t *v = walk(p, 0, p->nsegs, (json_t *)doc);
    if (v)
      fn(v, 0, arg);
    return v != NULL;
  }
  json_t *all = walk(p, 0, p->wild - 1, (json_t *)doc);
  if (json_is_array(all)) {
    size_t n = json_array_size(all);
    for (size_t i = 0; i < n; i++)
      if (fn(walk(p, p->wild, p->nsegs, json_array_get(all, i)), i, arg))
        return i + 1;
    return n;
  }
  if (!json_is_object(all))
    return 0;
  size_t i = 0;
  const char *key;
  json_t *member;
  json_object_foreach(all, key, member) {
    (void)key;
    if (fn(walk(p, p->wild, p->nsegs, member), i++, arg))
      return i;
  }
  return i;
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

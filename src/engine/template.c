#include "engine/template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rpcload/plugin.h>

#include "base/rng.h"
#include "base/units.h"

enum part_kind {
  PART_TEXT,
  PART_USER_ID,
  PART_SEQ,
  PART_UUID,
  PART_TIMESTAMP,
  PART_TIMESTAMP_MS,
  PART_RANDOM_INT,
  PART_RANDOM_STRING,
  PART_VAR,    /* a = the variable's index */
  PART_I,      /* the repeat counter */
  PART_DATA,   /* a = the data file's column */
  PART_QUOTED, /* {{"text"}}: off/len, the text between the quotes */
};

typedef struct part {
  enum part_kind kind;
  size_t off, len; /* PART_TEXT, PART_QUOTED: a slice of the text */
  long long a, b;  /* arguments */
  int json;        /* `|json`: escaped for the inside of a JSON string */
} part;

struct rl_template {
  char *text; /* a copy of the source, NUL-terminated */
  size_t len; /* its length (the source may hold NUL bytes) */
  part *parts;
  size_t nparts;
};

static const struct {
  const char *name;
  enum part_kind kind;
  int nargs;
} names[] = {
    {"user_id", PART_USER_ID, 0},
    {"seq", PART_SEQ, 0},
    {"uuid", PART_UUID, 0},
    {"timestamp", PART_TIMESTAMP, 0},
    {"timestamp_ms", PART_TIMESTAMP_MS, 0},
    {"random_int", PART_RANDOM_INT, 2},
    {"random_string", PART_RANDOM_STRING, 1},
    {"i", PART_I, 0},
};

/* The variables a scenario's templates may name (while its steps
 * compile). Per thread: a run-time target (engine/rtarget.c) compiles on
 * its table's helper thread while the web UI's thread may compile a new
 * test's plan. */
static _Thread_local const char *const *known_vars;
static _Thread_local size_t n_known_vars;

void rl__template_set_variables(const char *const *var_names, size_t n) {
  known_vars = n ? var_names : NULL;
  n_known_vars = n;
}

/* The data file's columns a scenario's templates may name ({{data.x}}). */
static _Thread_local const char *const *known_columns;
static _Thread_local size_t n_known_columns;

void rl__template_set_data_columns(const char *const *columns, size_t n) {
  known_columns = n ? columns : NULL;
  n_known_columns = n;
}

static int push(rl_template *t, part p) {
  part *parts = realloc(t->parts, (t->nparts + 1) * sizeof(part));
  if (!parts)
    return RL_ERR_NOMEM;
  t->parts = parts;
  t->parts[t->nparts++] = p;
  return 0;
}

static int is_blank(char c) { return c == ' ' || c == '\t'; }

size_t rl__template_json_suffix(const char *expr, size_t len) {
  size_t k = len;
  if (k < 4 || memcmp(expr + k - 4, "json", 4) != 0)
    return len;
  for (k -= 4; k > 0 && is_blank(expr[k - 1]);)
    k--;
  if (k == 0 || expr[k - 1] != '|')
    return len;
  for (k--; k > 0 && is_blank(expr[k - 1]);)
    k--;
  return k;
}

/* Parses the inside of one {{...}} (`expr`, `n` bytes, at column `col`). */
static int parse_expr(const char *expr, size_t n, size_t col, part *out,
                      char *err, size_t errlen) {
  char buf[256];
  if (n >= sizeof buf) {
    snprintf(err, errlen, "template expression at column %zu is too long", col);
    return RL_ERR_INVAL;
  }
  memcpy(buf, expr, n);
  buf[n] = 0;
  char *words[4] = {NULL, NULL, NULL, NULL};
  int nw = 0;
  char *save = NULL;
  for (char *w = strtok_r(buf, " \t", &save); w;
       w = strtok_r(NULL, " \t", &save)) {
    if (nw == 4) {
      snprintf(err, errlen, "too many arguments in template at column %zu",
               col);
      return RL_ERR_INVAL;
    }
    words[nw++] = w;
  }
  if (nw == 0) {
    snprintf(err, errlen, "empty template expression {{}} at column %zu", col);
    return RL_ERR_INVAL;
  }
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (strcmp(words[0], names[i].name) != 0)
      continue;
    if (nw - 1 != names[i].nargs) {
      snprintf(err, errlen,
               "template '%s' at column %zu takes %d argument%s, got %d",
               names[i].name, col, names[i].nargs,
               names[i].nargs == 1 ? "" : "s", nw - 1);
      return RL_ERR_INVAL;
    }
    memset(out, 0, sizeof *out);
    out->kind = names[i].kind;
    if (out->kind == PART_RANDOM_INT) {
      if (rl__parse_int(words[1], -(1LL << 62), 1LL << 62, &out->a) ||
          rl__parse_int(words[2], -(1LL << 62), 1LL << 62, &out->b) ||
          out->a > out->b) {
        snprintf(err, errlen,
                 "random_int at column %zu needs two integers A <= B", col);
        return RL_ERR_INVAL;
      }
    } else if (out->kind == PART_RANDOM_STRING) {
      if (rl__parse_int(words[1], 0, 1 << 20, &out->a)) {
        snprintf(err, errlen,
                 "random_string at column %zu needs a length from 0 to %d", col,
                 1 << 20);
        return RL_ERR_INVAL;
      }
    }
    return 0;
  }
  if (nw == 1 && strncmp(words[0], "data.", 5) == 0) {
    for (size_t i = 0; i < n_known_columns; i++)
      if (strcmp(words[0] + 5, known_columns[i]) == 0) {
        memset(out, 0, sizeof *out);
        out->kind = PART_DATA;
        out->a = (long long)i;
        return 0;
      }
    snprintf(err, errlen, "no data column '%s' at column %zu", words[0] + 5,
             col);
    return RL_ERR_INVAL;
  }
  for (size_t i = 0; nw == 1 && i < n_known_vars; i++) {
    if (strcmp(words[0], known_vars[i]) == 0) {
      memset(out, 0, sizeof *out);
      out->kind = PART_VAR;
      out->a = (long long)i;
      return 0;
    }
  }
  snprintf(err, errlen,
           "unknown template name '%s' at column %zu (known: user_id, seq, "
           "uuid, timestamp, timestamp_ms, random_int A B, random_string N)",
           words[0], col);
  return RL_ERR_INVAL;
}

int rl__template_new(const char *text, size_t len, rl_template **out, char *err,
                     size_t errlen) {
  return rl__template_new_at(text, len, 1, out, err, errlen);
}

int rl__template_new_at(const char *text, size_t len, size_t column,
                        rl_template **out, char *err, size_t errlen) {
  if (column == 0)
    column = 1;
  rl_template *t = calloc(1, sizeof *t);
  if (!t || !(t->text = malloc(len + 1))) {
    free(t);
    snprintf(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  memcpy(t->text, text, len);
  t->text[len] = 0;
  t->len = len;
  size_t i = 0, lit = 0;
  int rc = 0;
  while (i < len) {
    if (!(i + 1 < len && text[i] == '{' && text[i + 1] == '{')) {
      i++;
      continue;
    }
    size_t open = i, close = open + 2;
    while (close + 1 < len && !(text[close] == '}' && text[close + 1] == '}'))
      close++;
    if (close + 1 >= len) {
      snprintf(err, errlen, "'{{' at column %zu has no closing '}}'",
               open + column);
      rc = RL_ERR_INVAL;
      goto fail;
    }
    if (open > lit &&
        (rc =
             push(t, (part){.kind = PART_TEXT, .off = lit, .len = open - lit})))
      goto fail;
    size_t b = open + 2, e = close;
    while (b < e && is_blank(text[b]))
      b++;
    while (e > b && is_blank(text[e - 1]))
      e--;
    /* `|json`: the value goes inside a JSON string (scenario json:). */
    size_t plain = rl__template_json_suffix(text + b, e - b);
    int json = plain != e - b;
    e = b + plain;
    part p;
    if (e - b >= 2 && text[b] == '"' && text[e - 1] == '"') {
      /* {{"text"}}: the text as it is, "{{" included (--data-raw). Not
       * constant: a plugin must expand it, not send the template. */
      p = (part){.kind = PART_QUOTED, .off = b + 1, .len = e - b - 2};
    } else if ((rc = parse_expr(text + b, e - b, open + column, &p, err,
                                errlen))) {
      goto fail;
    }
    p.json = json;
    if ((rc = push(t, p)))
      goto fail;
    i = lit = close + 2;
  }
  if (lit < len &&
      (rc = push(t, (part){.kind = PART_TEXT, .off = lit, .len = len - lit})))
    goto fail;
  *out = t;
  return 0;
fail:
  if (rc == RL_ERR_NOMEM)
    snprintf(err, errlen, "out of memory");
  rl__template_del(t);
  return rc;
}

void rl__template_del(rl_template *t) {
  if (!t)
    return;
  free(t->text);
  free(t->parts);
  free(t);
}

const char *rl__template_text(const rl_template *t, size_t *len) {
  if (len)
    *len = t->len;
  return t->text;
}

int rl__template_is_constant(const rl_template *t) {
  for (size_t i = 0; i < t->nparts; i++)
    if (t->parts[i].kind != PART_TEXT)
      return 0;
  return 1;
}

/* `len` bytes of `s` as the inside of a JSON string. */
static void add_json_escaped(rl__buf *out, const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    char esc[8];
    if (c == '"' || c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)c;
      rl__buf_add(out, esc, 2);
    } else if (c < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", c);
      rl__buf_add(out, esc, 6);
    } else {
      rl__buf_add(out, &s[i], 1);
    }
  }
}

/* A text part's value, escaped when the part says so. */
static void add_value(rl__buf *out, const part *p, const char *s, size_t len) {
  if (p->json)
    add_json_escaped(out, s, len);
  else
    rl__buf_add(out, s, len);
}

static uint64_t unix_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int rl__template_expand(const rl_template *t, const rl__template_ctx *ctx,
                        rl__buf *out) {
  static const char alnum[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  for (size_t i = 0; i < t->nparts; i++) {
    const part *p = &t->parts[i];
    char num[48];
    int n = 0;
    switch (p->kind) {
    case PART_TEXT:
      rl__buf_add(out, t->text + p->off, p->len);
      continue;
    case PART_QUOTED:
      if (p->json)
        add_json_escaped(out, t->text + p->off, p->len);
      else
        rl__buf_add(out, t->text + p->off, p->len);
      continue;
    case PART_USER_ID:
      n = snprintf(num, sizeof num, "%llu", (unsigned long long)ctx->user_id);
      break;
    case PART_SEQ:
      n = snprintf(num, sizeof num, "%llu", (unsigned long long)ctx->seq);
      break;
    case PART_I:
      n = snprintf(num, sizeof num, "%u", (unsigned)ctx->i);
      break;
    case PART_TIMESTAMP:
      n = snprintf(num, sizeof num, "%llu",
                   (unsigned long long)(unix_ms() / 1000u));
      break;
    case PART_TIMESTAMP_MS:
      n = snprintf(num, sizeof num, "%llu", (unsigned long long)unix_ms());
      break;
    case PART_RANDOM_INT: {
      uint64_t span = (uint64_t)(p->b - p->a) + 1;
      uint64_t r = rl__rng_next(ctx->rng);
      long long v = p->a + (long long)(span ? r % span : r);
      n = snprintf(num, sizeof num, "%lld", v);
      break;
    }
    case PART_UUID: {
      uint64_t hi = rl__rng_next(ctx->rng), lo = rl__rng_next(ctx->rng);
      /* RFC 4122 version 4, variant 10xx. */
      hi = (hi & ~0xf000ull) | 0x4000ull;
      lo = (lo & ~(3ull << 62)) | (2ull << 62);
      n = snprintf(num, sizeof num, "%08llx-%04llx-%04llx-%04llx-%012llx",
                   (unsigned long long)(hi >> 32),
                   (unsigned long long)((hi >> 16) & 0xffff),
                   (unsigned long long)(hi & 0xffff),
                   (unsigned long long)(lo >> 48),
                   (unsigned long long)(lo & 0xffffffffffffull));
      break;
    }
    case PART_VAR: {
      const char *v =
          (size_t)p->a < ctx->n_vars && ctx->vars ? ctx->vars[p->a] : NULL;
      add_value(out, p, v ? v : "", v ? strlen(v) : 0);
      continue;
    }
    case PART_DATA: {
      const char *v = ctx->row ? ctx->row[p->a] : NULL;
      add_value(out, p, v ? v : "", v ? strlen(v) : 0);
      continue;
    }
    case PART_RANDOM_STRING:
      if (rl__buf_reserve(out, (size_t)p->a))
        return RL_ERR_NOMEM;
      for (long long k = 0; k < p->a; k++)
        out->p[out->len++] = alnum[rl__rng_next(ctx->rng) % (sizeof alnum - 1)];
      out->p[out->len] = '\0';
      continue;
    }
    rl__buf_add(out, num, (size_t)n);
  }
  return out->oom ? RL_ERR_NOMEM : 0;
}

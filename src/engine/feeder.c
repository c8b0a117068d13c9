/*
 * Data feeders (feeder.h): a CSV or JSON lines file read into rows, and
 * the rows handed to users without a lock.
 *
 * May call: base/ (buf, rng), jansson.
 */
#include "engine/feeder.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <rpcload/plugin.h>

#include "base/buf.h"
#include "base/rng.h"

/* ---- building ------------------------------------------------------------ */

/* Cells are collected as offsets into the text (which grows), and become
 * pointers once it is whole. */
typedef struct builder {
  rl__buf text;
  size_t *offs;
  unsigned char *kinds; /* JSON lines: enum rl__feeder_kind per cell */
  size_t n, cap;
  char *err;
  size_t errlen;
} builder;

static int fail(builder *b, size_t line, size_t col, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static int fail(builder *b, size_t line, size_t col, const char *fmt, ...) {
  char msg[384];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (col)
    snprintf(b->err, b->errlen, "%zu:%zu: %s", line, col, msg);
  else if (line)
    snprintf(b->err, b->errlen, "%zu: %s", line, msg);
  else
    snprintf(b->err, b->errlen, "%s", msg);
  return RL_ERR_INVAL;
}

/* Appends a cell of `len` bytes at `s`, of `kind` (JSON lines). */
static int add_cell_kind(builder *b, const char *s, size_t len, int kind) {
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 64;
    size_t *o = realloc(b->offs, cap * sizeof *o);
    if (!o)
      return RL_ERR_NOMEM;
    b->offs = o;
    unsigned char *k = realloc(b->kinds, cap);
    if (!k)
      return RL_ERR_NOMEM;
    b->kinds = k;
    b->cap = cap;
  }
  b->kinds[b->n] = (unsigned char)kind;
  b->offs[b->n++] = b->text.len;
  rl__buf_add(&b->text, s, len);
  rl__buf_add(&b->text, "", 1); /* its NUL */
  return b->text.oom ? RL_ERR_NOMEM : 0;
}

static int add_cell(builder *b, const char *s, size_t len) {
  return add_cell_kind(b, s, len, RL__FEEDER_STRING);
}

/* A column name a template can say: {{data.NAME}}. */
static const char *bad_column(const char *name) {
  if (!*name)
    return "is empty";
  for (const char *p = name; *p; p++)
    if (*p == ' ' || *p == '\t' || *p == '{' || *p == '}' || *p == '|' ||
        (unsigned char)*p < 0x20)
      return "has a blank, a brace, '|' or a control character "
             "({{data.NAME}} could not name it)";
  return NULL;
}

/* The builder's cells as a feeder: the first n_columns are the names. */
static int finish(builder *b, const char *name, size_t n_columns, int jsonl,
                  rl__feeder **out) {
  rl__feeder *f = calloc(1, sizeof *f);
  if (!f)
    return RL_ERR_NOMEM;
  f->n_columns = n_columns;
  f->n_rows = n_columns ? b->n / n_columns - 1 : 0;
  f->name = strdup(name);
  f->columns = calloc(n_columns + 1, sizeof *f->columns); /* NULL-ended */
  f->cells = calloc(b->n ? b->n : 1, sizeof *f->cells);
  if (jsonl && (f->kinds = malloc(b->n - n_columns + 1)))
    memcpy(f->kinds, b->kinds + n_columns, b->n - n_columns);
  if (!f->name || !f->columns || !f->cells || (jsonl && !f->kinds)) {
    rl__feeder_del(f);
    return RL_ERR_NOMEM;
  }
  f->text = b->text.p;
  rl__buf_init(&b->text); /* the text is the feeder's now */
  for (size_t i = 0; i < n_columns; i++)
    f->columns[i] = f->text + b->offs[i];
  for (size_t i = n_columns; i < b->n; i++)
    f->cells[i - n_columns] = f->text + b->offs[i];
  atomic_init(&f->next, 0);
  *out = f;
  return 0;
}

/* ---- CSV ------------------------------------------------------------------ */

/* RFC 4180: fields separated by commas, records by LF or CRLF, a field in
 * double quotes may hold commas, line breaks and "" for a quote. The
 * first record names the columns; blank lines are skipped. */
static int parse_csv(builder *b, const char *t, size_t len, size_t *n_columns) {
  size_t i = 0, line = 1, line_start = 0, columns = 0;
  if (len >= 3 && memcmp(t, "\xef\xbb\xbf", 3) == 0)
    i = line_start = 3; /* a byte order mark */
  rl__buf cell;
  rl__buf_init(&cell);
  int rc = 0;
  while (i < len && !rc) {
    if (t[i] == '\n' || (t[i] == '\r' && i + 1 < len && t[i + 1] == '\n')) {
      i += t[i] == '\r' ? 2 : 1; /* a blank line */
      line++;
      line_start = i;
      continue;
    }
    size_t record_line = line, fields = 0;
    for (;;) { /* the fields of one record */
      rl__buf_reset(&cell);
      size_t col = i - line_start + 1;
      if (i < len && t[i] == '"') {
        size_t open_line = line;
        i++;
        for (;;) {
          if (i >= len) {
            rl__buf_free(&cell);
            return fail(b, open_line, col, "a quoted field is never closed");
          }
          if (t[i] == '"' && i + 1 < len && t[i + 1] == '"') {
            rl__buf_add(&cell, "\"", 1);
            i += 2;
          } else if (t[i] == '"') {
            i++;
            break;
          } else {
            if (t[i] == '\n') {
              line++;
              line_start = i + 1;
            }
            rl__buf_add(&cell, &t[i++], 1);
          }
        }
        if (i < len && t[i] != ',' && t[i] != '\n' && t[i] != '\r') {
          rl__buf_free(&cell);
          return fail(b, line, i - line_start + 1,
                      "text after a quoted field (a field is quoted whole)");
        }
      } else {
        size_t s = i;
        while (i < len && t[i] != ',' && t[i] != '\n' &&
               !(t[i] == '\r' && i + 1 < len && t[i + 1] == '\n')) {
          if (t[i] == '"') {
            rl__buf_free(&cell);
            return fail(
                b, line, i - line_start + 1,
                "a quote inside a field that is not quoted (quote "
                "the whole field and double the quote: \"a \"\"b\"\"\")");
          }
          i++;
        }
        rl__buf_add(&cell, t + s, i - s);
      }
      if (cell.oom || add_cell(b, cell.p ? cell.p : "", cell.len)) {
        rc = RL_ERR_NOMEM;
        break;
      }
      fields++;
      if (i < len && t[i] == ',') {
        i++;
        continue;
      }
      if (i < len)
        i += t[i] == '\r' ? 2 : 1;
      line++;
      line_start = i;
      break;
    }
    if (rc)
      break;
    if (!columns) {
      if (fields > RL__FEEDER_MAX_COLUMNS)
        rc = fail(b, record_line, 0, "more than %d columns",
                  RL__FEEDER_MAX_COLUMNS);
      columns = fields;
    } else if (fields != columns) {
      rc = fail(b, record_line, 0,
                "%zu field%s, but the header names %zu column%s", fields,
                fields == 1 ? "" : "s", columns, columns == 1 ? "" : "s");
    }
  }
  rl__buf_free(&cell);
  *n_columns = columns;
  return rc;
}

/* ---- JSON lines ----------------------------------------------------------- */

/* A member's value as a cell: a string as its text, null as nothing,
 * anything else as JSON. */
static int add_value(builder *b, const json_t *v) {
  if (json_is_string(v))
    return add_cell(b, json_string_value(v), json_string_length(v));
  if (json_is_null(v))
    return add_cell_kind(b, "", 0, RL__FEEDER_NULL);
  char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  if (!text)
    return RL_ERR_NOMEM;
  int rc = add_cell_kind(b, text, strlen(text), RL__FEEDER_JSON);
  free(text);
  return rc;
}

/* One object per line; the first one's members name the columns, and
 * every later one has exactly those. */
static int parse_jsonl(builder *b, const char *t, size_t len,
                       size_t *n_columns) {
  size_t i = 0, line = 0, columns = 0;
  if (len >= 3 && memcmp(t, "\xef\xbb\xbf", 3) == 0)
    i = 3;
  int rc = 0;
  while (i < len && !rc) {
    size_t s = i, line_start = i;
    while (i < len && t[i] != '\n')
      i++;
    size_t e = i++;
    line++;
    while (s < e && (t[s] == ' ' || t[s] == '\t' || t[s] == '\r'))
      s++;
    while (e > s && (t[e - 1] == ' ' || t[e - 1] == '\t' || t[e - 1] == '\r'))
      e--;
    if (s == e)
      continue; /* a blank line */
    json_error_t jerr;
    json_t *o = json_loadb(t + s, e - s, 0, &jerr);
    if (!o)
      return fail(b, line,
                  s - line_start + (size_t)(jerr.column > 0 ? jerr.column : 1),
                  "not JSON: %s", jerr.text);
    if (!json_is_object(o)) {
      json_decref(o);
      return fail(b, line, 0, "expected a JSON object ({\"email\": ...})");
    }
    const char *key;
    json_t *v;
    if (!columns) {
      columns = json_object_size(o);
      if (!columns)
        rc = fail(b, line, 0,
                  "the first object has no members: they name "
                  "the columns");
      else if (columns > RL__FEEDER_MAX_COLUMNS)
        rc = fail(b, line, 0, "more than %d columns", RL__FEEDER_MAX_COLUMNS);
      json_object_foreach(o, key, v) {
        if (!rc && add_cell(b, key, strlen(key)))
          rc = RL_ERR_NOMEM;
      }
    } else {
      /* Every column, in the first line's order. */
      for (size_t c = 0; c < columns && !rc; c++) {
        const char *name = b->text.p + b->offs[c];
        if (!json_object_get(o, name))
          rc = fail(b, line, 0, "no '%s' (the first line names the columns)",
                    name);
      }
      json_object_foreach(o, key, v) {
        size_t c = 0;
        while (!rc && c < columns && strcmp(b->text.p + b->offs[c], key) != 0)
          c++;
        if (!rc && c == columns)
          rc = fail(b, line, 0,
                    "'%s' is not a column (the first line names them)", key);
      }
    }
    for (size_t c = 0; c < columns && !rc; c++)
      rc = add_value(b, json_object_get(o, b->text.p + b->offs[c]));
    json_decref(o);
  }
  *n_columns = columns;
  return rc;
}

/* ---- the feeder ----------------------------------------------------------- */

int rl__feeder_parse(const char *text, size_t len, const char *name, int jsonl,
                     rl__feeder **out, char *err, size_t errlen) {
  *out = NULL;
  builder b = {.err = err, .errlen = errlen};
  rl__buf_init(&b.text);
  size_t columns = 0;
  int rc = jsonl ? parse_jsonl(&b, text, len, &columns)
                 : parse_csv(&b, text, len, &columns);
  if (!rc && !columns)
    rc = fail(&b, 0, 0,
              jsonl ? "no JSON object: the file has no rows"
                    : "empty: expected a header naming the columns");
  for (size_t c = 0; !rc && c < columns; c++) {
    const char *col = b.text.p + b.offs[c];
    const char *why = bad_column(col);
    if (why)
      rc = fail(&b, 1, 0, "column %zu '%s' %s", c + 1, col, why);
    for (size_t d = 0; !rc && d < c; d++)
      if (strcmp(col, b.text.p + b.offs[d]) == 0)
        rc = fail(&b, 1, 0, "column '%s' twice", col);
  }
  if (!rc && b.n == columns)
    rc =
        fail(&b, 0, 0, "no rows after the %s", jsonl ? "first line" : "header");
  if (!rc)
    rc = finish(&b, name, columns, jsonl, out);
  if (rc == RL_ERR_NOMEM)
    snprintf(err, errlen, "out of memory");
  rl__buf_free(&b.text);
  free(b.offs);
  free(b.kinds);
  return rc;
}

int rl__feeder_load(const char *path, const char *name, int jsonl,
                    rl__feeder **out, char *err, size_t errlen) {
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "cannot open: %s", strerror(errno));
    return RL_ERR_INVAL;
  }
  rl__buf b;
  rl__buf_init(&b);
  char chunk[65536];
  size_t got;
  int rc = 0;
  while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
    if (b.len + got > RL__FEEDER_MAX_BYTES) {
      snprintf(err, errlen, "larger than %u MiB, the limit of data files",
               RL__FEEDER_MAX_BYTES >> 20);
      rc = RL_ERR_INVAL;
      break;
    }
    rl__buf_add(&b, chunk, got);
    if (b.oom) {
      snprintf(err, errlen, "out of memory");
      rc = RL_ERR_NOMEM;
      break;
    }
  }
  if (!rc && ferror(f)) {
    snprintf(err, errlen, "cannot read: %s", strerror(errno));
    rc = RL_ERR_INVAL;
  }
  fclose(f);
  if (!rc)
    rc = rl__feeder_parse(b.p ? b.p : "", b.len, name, jsonl, out, err, errlen);
  rl__buf_free(&b);
  return rc;
}

void rl__feeder_del(rl__feeder *f) {
  if (!f)
    return;
  free(f->name);
  free(f->columns);
  free(f->cells);
  free(f->text);
  free(f->kinds);
  free(f);
}

int rl__feeder_column(const rl__feeder *f, const char *name, size_t len) {
  for (size_t i = 0; i < f->n_columns; i++)
    if (strlen(f->columns[i]) == len && memcmp(f->columns[i], name, len) == 0)
      return (int)i;
  return -1;
}

const char *const *rl__feeder_draw(rl__feeder *f, uint64_t id, uint64_t *rng,
                                   int first, const char *const *current) {
  uint64_t row;
  switch (f->order) {
  case RL__FEEDER_PER_USER:
    if (!first)
      return current;
    row = id - 1;
    break;
  case RL__FEEDER_RANDOM:
    return (const char *const *)&f
        ->cells[(rl__rng_next(rng) % f->n_rows) * f->n_columns];
  default:
    /* The one shared write of the run's data: relaxed, since the rows
     * themselves were written before any worker started. */
    row = atomic_fetch_add_explicit(&f->next, 1, memory_order_relaxed);
  }
  if (row >= f->n_rows) {
    if (!f->cycle)
      return NULL;
    row %= f->n_rows;
  }
  return (const char *const *)&f->cells[row * f->n_columns];
}

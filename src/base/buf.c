#include "base/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_FIRST_CAP 256

void rl__buf_init(rl__buf *b) { memset(b, 0, sizeof *b); }

void rl__buf_free(rl__buf *b) {
  free(b->p);
  rl__buf_init(b);
}

void rl__buf_reset(rl__buf *b) {
  b->len = 0;
  b->oom = 0;
  if (b->p)
    b->p[0] = '\0';
}

int rl__buf_reserve(rl__buf *b, size_t more) {
  if (b->oom)
    return -1;
  if (more > (size_t)-1 / 4 - b->len) {
    b->oom = 1;
    return -1;
  }
  if (b->len + more + 1 <= b->cap)
    return 0;
  size_t cap = b->cap ? b->cap : BUF_FIRST_CAP;
  while (cap < b->len + more + 1)
    cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) {
    b->oom = 1;
    return -1;
  }
  b->p = p;
  b->cap = cap;
  return 0;
}

void rl__buf_add(rl__buf *b, const void *s, size_t n) {
  if (rl__buf_reserve(b, n) != 0)
    return;
  if (n)
    memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

void rl__buf_str(rl__buf *b, const char *s) { rl__buf_add(b, s, strlen(s)); }

void rl__buf_printf(rl__buf *b, const char *fmt, ...) {
  char small[128];
  va_list ap;
  va_start(ap, fmt);
  /* clang-tidy 14's valist checker loses the va_start above (a known false
   * positive of that version; test.sh already runs it one file at a time). */
  // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) {
    b->oom = 1;
    return;
  }
  if ((size_t)n < sizeof small) {
    rl__buf_add(b, small, (size_t)n);
    return;
  }
  if (rl__buf_reserve(b, (size_t)n) != 0)
    return;
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

int rl__buf_take(rl__buf *b, char **out, size_t *len) {
  if (b->oom || !b->p) {
    int failed = b->oom;
    rl__buf_free(b);
    *out = NULL;
    *len = 0;
    if (failed)
      return -1;
    /* Nothing added: an empty text. */
    *out = calloc(1, 1);
    return *out ? 0 : -1;
  }
  *out = b->p;
  *len = b->len;
  rl__buf_init(b);
  return 0;
}

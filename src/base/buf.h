/*
 * One growable byte buffer, for text built piece by piece (reports, JSON,
 * template expansions, copies of responses). The text is always
 * NUL-terminated after `len` bytes (once anything was added), and an
 * append that cannot grow the buffer sets `oom`, after which appends do
 * nothing: build the whole text, then check once.
 *
 * Embedded by its owner: rl__buf_init / rl__buf_free. Not thread-safe.
 */
#ifndef RL_BASE_BUF_H
#define RL_BASE_BUF_H

#include <stddef.h>

typedef struct rl__buf {
  char *p;    /* NULL until something is added */
  size_t len; /* bytes of text, not counting the NUL */
  size_t cap;
  int oom; /* an append failed: the text is incomplete */
} rl__buf;

/* An empty buffer (allocates nothing). */
void rl__buf_init(rl__buf *b);

/* Frees the text; the buffer is empty again. */
void rl__buf_free(rl__buf *b);

/* Empties the text (keeping the memory) and forgets an earlier oom. */
void rl__buf_reset(rl__buf *b);

/* Room for `more` bytes (and the NUL) past len. 0, or -1 (oom set). */
int rl__buf_reserve(rl__buf *b, size_t more);

/* Appends `n` bytes of `s` (borrowed). */
void rl__buf_add(rl__buf *b, const void *s, size_t n);

/* Appends the NUL-terminated `s` (borrowed). */
void rl__buf_str(rl__buf *b, const char *s);

/* Appends printf's output. */
void rl__buf_printf(rl__buf *b, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Hands the text to the caller (*out, caller frees; *len its length) and
 * leaves the buffer empty. When an append failed the text is freed
 * instead: returns -1 with *out NULL. Else 0. */
int rl__buf_take(rl__buf *b, char **out, size_t *len);

#endif /* RL_BASE_BUF_H */

/*
 * buf: a growable byte buffer, the one the plugins build requests and
 * collect responses in.
 *
 * A buffer starts zeroed ({0}: empty, no memory) and owns p. It grows by
 * doubling (from 256 bytes). When memory runs out it sets `oom`, keeps
 * what it held, and from then on refuses every append until reset, so a
 * builder may append blindly and check once at the end; each call also
 * returns 0 or RL_ERR_NOMEM for callers that check as they go. p is not
 * NUL-terminated unless the caller adds one. One thread owns a buffer.
 */
#ifndef RL_BUF_H
#define RL_BUF_H

#include <stddef.h>

typedef struct rl__buf {
  char *p; /* len bytes, cap allocated; NULL until the first growth */
  size_t len, cap;
  int oom; /* an allocation failed: appends are refused until reset */
} rl__buf;

/* Makes room for `more` bytes after len (p may move). 0, or RL_ERR_NOMEM
 * with oom set. */
int rl__buf_reserve(rl__buf *b, size_t more);

/* Appends n bytes of data (borrowed; NULL is fine when n is 0). 0, or
 * RL_ERR_NOMEM with oom set and nothing appended. */
int rl__buf_add(rl__buf *b, const void *data, size_t n);

/* Appends a C string, without its NUL. */
int rl__buf_str(rl__buf *b, const char *s);

/* Empties b (len 0, oom cleared), keeping its memory. */
void rl__buf_reset(rl__buf *b);

/* Empties b, and frees its memory when it holds more than `keep` bytes, so
 * that one big message does not pin its memory for a connection's life. */
void rl__buf_trim(rl__buf *b, size_t keep);

/* Frees b's memory; b is then empty, as if zeroed. */
void rl__buf_free(rl__buf *b);

/* Appends everything read from fd until end of file. 0; RL_ERR_NOMEM
 * (oom set); or RL_ERR_IO with errno as read() left it. What was read
 * before a failure stays in b. */
int rl__buf_read_fd(rl__buf *b, int fd);

#endif /* RL_BUF_H */

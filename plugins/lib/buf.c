#include "buf.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rpcload/plugin.h>

int rl__buf_reserve(rl__buf *b, size_t more) {
  if (b->oom)
    return RL_ERR_NOMEM;
  if (more <= b->cap - b->len)
    return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap - b->len < more) {
    if (cap > SIZE_MAX / 2) {
      b->oom = 1;
      return RL_ERR_NOMEM;
    }
    cap *= 2;
  }
  char *p = realloc(b->p, cap);
  if (p == NULL) {
    b->oom = 1;
    return RL_ERR_NOMEM;
  }
  b->p = p;
  b->cap = cap;
  return 0;
}

int rl__buf_add(rl__buf *b, const void *data, size_t n) {
  if (b->oom)
    return RL_ERR_NOMEM;
  if (n == 0)
    return 0;
  if (rl__buf_reserve(b, n) != 0)
    return RL_ERR_NOMEM;
  memcpy(b->p + b->len, data, n);
  b->len += n;
  return 0;
}

int rl__buf_str(rl__buf *b, const char *s) {
  return rl__buf_add(b, s, strlen(s));
}

void rl__buf_reset(rl__buf *b) {
  b->len = 0;
  b->oom = 0;
}

void rl__buf_trim(rl__buf *b, size_t keep) {
  if (b->cap > keep)
    rl__buf_free(b);
  rl__buf_reset(b);
}

void rl__buf_free(rl__buf *b) {
  free(b->p);
  memset(b, 0, sizeof *b);
}

int rl__buf_read_fd(rl__buf *b, int fd) {
  for (;;) {
    if (rl__buf_reserve(b, 16384) != 0)
      return RL_ERR_NOMEM;
    ssize_t r = read(fd, b->p + b->len, b->cap - b->len);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return RL_ERR_IO;
    if (r == 0)
      return 0;
    b->len += (size_t)r;
  }
}

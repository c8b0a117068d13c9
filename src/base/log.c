#include "base/log.h"

#include <stdio.h>

static int log_level = RL__LOG_INFO;

void rl__log_set_level(int level) { log_level = level; }

void rl__vlog(int level, const char *fmt, va_list ap) {
  if (level > log_level)
    return;
  static const char *const prefix[] = {"error: ", "warning: ", "", "debug: "};
  char line[1024];
  vsnprintf(line, sizeof line, fmt, ap);
  /* One fprintf per line so lines from worker threads never interleave. */
  fprintf(stderr, "rpcload: %s%s\n", prefix[level < 0 || level > 3 ? 2 : level],
          line);
}

void rl__log(int level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  rl__vlog(level, fmt, ap);
  va_end(ap);
}

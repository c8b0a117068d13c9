/* Diagnostics to stderr; stdout is reserved for reports. */
#ifndef RL_LOG_H
#define RL_LOG_H

#include <stdarg.h>

/* Levels match enum rl_log_level in the plugin ABI. */
#define RL__LOG_ERROR 0
#define RL__LOG_WARN 1
#define RL__LOG_INFO 2
#define RL__LOG_DEBUG 3

/* Messages above this level are dropped (default RL__LOG_INFO). */
void rl__log_set_level(int level);

/* One line to stderr, "rpcload: " prefixed, "error: "/"warning: " by level;
 * a newline is added. Thread-safe (one fprintf per line). */
void rl__log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void rl__vlog(int level, const char *fmt, va_list ap);

#endif /* RL_LOG_H */

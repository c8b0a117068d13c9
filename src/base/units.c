#include "base/units.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <rpcload/plugin.h>

int rl__parse_number(const char *text, double *out) {
  if (!text || !*text)
    return RL_ERR_INVAL;
  char *end;
  errno = 0;
  double v = strtod(text, &end);
  /* strtod also takes "inf", "nan" and hex: refuse them, people never mean
   * those for a load setting. */
  if (errno || *end || !isfinite(v) || v < 0 || strpbrk(text, "xXnN"))
    return RL_ERR_INVAL;
  *out = v;
  return 0;
}

int rl__parse_int(const char *text, long long min, long long max,
                  long long *out) {
  if (!text || !*text)
    return RL_ERR_INVAL;
  char *end;
  errno = 0;
  long long v = strtoll(text, &end, 10);
  if (errno || *end || v < min || v > max)
    return RL_ERR_INVAL;
  *out = v;
  return 0;
}

static double unit_ns(const char *unit, size_t len) {
  static const struct {
    const char *name;
    double ns;
  } units[] = {
      {"h", 3600e9}, {"m", 60e9}, {"s", 1e9}, {"ms", 1e6}, {"us", 1e3}};
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
    if (strlen(units[i].name) == len && memcmp(units[i].name, unit, len) == 0)
      return units[i].ns;
  return 0;
}

int rl__parse_duration(const char *text, uint64_t *out_ns) {
  if (!text || !*text)
    return RL_ERR_INVAL;
  double v;
  if (rl__parse_number(text, &v) == 0) {
    if (v * 1e9 > 1e19)
      return RL_ERR_INVAL;
    *out_ns = (uint64_t)llround(v * 1e9);
    return 0;
  }
  double total = 0;
  const char *p = text;
  while (*p) {
    if (!((*p >= '0' && *p <= '9') || *p == '.'))
      return RL_ERR_INVAL;
    char *end;
    errno = 0;
    double n = strtod(p, &end);
    if (errno || end == p || n < 0)
      return RL_ERR_INVAL;
    const char *u = end;
    while (*end && ((*end >= 'a' && *end <= 'z')))
      end++;
    double ns = unit_ns(u, (size_t)(end - u));
    if (ns == 0)
      return RL_ERR_INVAL;
    total += n * ns;
    p = end;
  }
  if (total > 1e19)
    return RL_ERR_INVAL;
  *out_ns = (uint64_t)llround(total);
  return 0;
}

#include "engine/profile.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rpcload/plugin.h>

#include "base/units.h"

#define NS 1e9

void rl__profile_constant(rl__profile *p, double value) {
  memset(p, 0, sizeof *p);
  p->start = value;
}

void rl__profile_free(rl__profile *p) {
  free(p->stages);
  p->stages = NULL;
  p->n = 0;
}

/* One "DUR:TARGET[:RATE]" field of stage `i` (1-based, for messages). */
static int parse_stage(char *field, size_t i, int with_rate, rl__stage *st,
                       char *err, size_t errlen) {
  char *parts[4] = {NULL};
  size_t n = 0;
  for (char *save = NULL, *tok = strtok_r(field, ":", &save); tok && n < 4;
       tok = strtok_r(NULL, ":", &save))
    parts[n++] = tok;
  if (n < 2 || n > (with_rate ? 3u : 2u)) {
    snprintf(err, errlen,
             "stage %zu: expected DURATION:%s%s (e.g. 1m:100%s), got '%s'", i,
             with_rate ? "USERS" : "RATE", with_rate ? "[:SPAWN_RATE]" : "",
             with_rate ? " or 30s:50:10" : "", field);
    return RL_ERR_INVAL;
  }
  if (rl__parse_duration(parts[0], &st->dur_ns) != 0 || st->dur_ns == 0) {
    snprintf(err, errlen,
             "stage %zu: '%s' is not a duration above 0 (e.g. 30s, 5m, 1h30m)",
             i, parts[0]);
    return RL_ERR_INVAL;
  }
  if (rl__parse_number(parts[1], &st->target) != 0 || !(st->target >= 0) ||
      isinf(st->target)) {
    snprintf(err, errlen, "stage %zu: '%s' is not a number 0 or more", i,
             parts[1]);
    return RL_ERR_INVAL;
  }
  st->rate = 0;
  if (n == 3 && (rl__parse_number(parts[2], &st->rate) != 0 ||
                 !(st->rate > 0) || isinf(st->rate))) {
    snprintf(err, errlen, "stage %zu: spawn rate '%s' is not a number above 0",
             i, parts[2]);
    return RL_ERR_INVAL;
  }
  return 0;
}

int rl__profile_parse(const char *text, double start, int with_rate,
                      rl__profile *p, char *err, size_t errlen) {
  rl__profile_constant(p, start);
  if (!text || !*text) {
    snprintf(err, errlen, "no stages given (e.g. 1m:100,5m:100,1m:0)");
    return RL_ERR_INVAL;
  }
  char *copy = strdup(text);
  if (!copy) {
    snprintf(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  size_t cap = 1;
  for (const char *c = text; *c; c++)
    cap += *c == ',';
  p->stages = calloc(cap, sizeof *p->stages);
  int rc = p->stages ? 0 : RL_ERR_NOMEM;
  if (rc)
    snprintf(err, errlen, "out of memory");
  char *save = NULL;
  for (char *f = strtok_r(copy, ",", &save); f && rc == 0;
       f = strtok_r(NULL, ",", &save)) {
    size_t i = p->n++;
    rc = parse_stage(f, i + 1, with_rate, &p->stages[i], err, errlen);
  }
  if (rc == 0 && p->n == 0) {
    snprintf(err, errlen, "no stages given (e.g. 1m:100,5m:100,1m:0)");
    rc = RL_ERR_INVAL;
  }
  free(copy);
  if (rc)
    rl__profile_free(p);
  return rc;
}

static uint64_t total_ns(const rl__profile *p) {
  uint64_t t = 0;
  for (size_t i = 0; i < p->n; i++)
    t += p->stages[i].dur_ns;
  return t;
}

uint64_t rl__profile_duration(const rl__profile *p) {
  return p->loop ? 0 : total_ns(p);
}

/* Where a looping profile is at t: t within its cycle. */
static uint64_t in_cycle(const rl__profile *p, uint64_t t_ns) {
  uint64_t total = total_ns(p);
  return p->loop && total ? t_ns % total : t_ns;
}

size_t rl__profile_stage_at(const rl__profile *p, uint64_t t_ns,
                            uint64_t *stage_start_ns) {
  uint64_t t = in_cycle(p, t_ns), at = 0;
  size_t i = 0;
  for (; i < p->n && t >= at + p->stages[i].dur_ns; i++)
    at += p->stages[i].dur_ns;
  if (stage_start_ns)
    *stage_start_ns = at + (t_ns - t);
  return i;
}

/* The value `tau` seconds into a stage that starts at `from`. */
static double stage_value(const rl__stage *st, double from, double tau) {
  double d = (double)st->dur_ns / NS;
  double span = st->target - from;
  if (st->rate > 0) {
    double moved = st->rate * tau;
    if (moved >= fabs(span))
      return st->target;
    return from + (span > 0 ? moved : -moved);
  }
  return from + span * (tau < d ? tau / d : 1.0);
}

double rl__profile_value(const rl__profile *p, uint64_t t_ns) {
  uint64_t start;
  size_t i = rl__profile_stage_at(p, t_ns, &start);
  if (i >= p->n)
    return p->n ? p->stages[p->n - 1].target : p->start;
  double from = i ? p->stages[i - 1].target : p->start;
  return stage_value(&p->stages[i], from, (double)(t_ns - start) / NS);
}

/* The integral over the first `tau` seconds of a linear stage from `a`
 * to `b` over `d` seconds (rate profiles: no stage rates). */
static double ramp_area(double a, double b, double d, double tau) {
  return a * tau + (b - a) * tau * tau / (2 * d);
}

/* The integral over one whole cycle of the stages. */
static double cycle_area(const rl__profile *p) {
  double area = 0, from = p->start;
  for (size_t i = 0; i < p->n; i++) {
    double d = (double)p->stages[i].dur_ns / NS;
    area += ramp_area(from, p->stages[i].target, d, d);
    from = p->stages[i].target;
  }
  return area;
}

double rl__profile_integral(const rl__profile *p, uint64_t t_ns) {
  if (p->n == 0)
    return p->start * (double)t_ns / NS;
  double area = 0;
  uint64_t total = total_ns(p);
  if (p->loop && total) {
    uint64_t cycles = t_ns / total; /* whole cycles, on purpose */
    area = cycle_area(p) * (double)cycles;
    t_ns %= total;
  }
  double from = p->start;
  uint64_t at = 0;
  for (size_t i = 0; i < p->n; i++) {
    const rl__stage *st = &p->stages[i];
    double d = (double)st->dur_ns / NS;
    if (t_ns < at + st->dur_ns)
      return area + ramp_area(from, st->target, d, (double)(t_ns - at) / NS);
    area += ramp_area(from, st->target, d, d);
    from = st->target;
    at += st->dur_ns;
  }
  /* Past the last stage: its target holds. */
  return area + from * (double)(t_ns - at) / NS;
}

/* Seconds into a linear stage (a to b over d) at which its integral
 * reaches `rem` (0 <= rem <= the stage's whole area). */
static double ramp_when(double a, double b, double d, double rem) {
  double k = (b - a) / d; /* the value's slope */
  if (fabs(k) < 1e-12)
    return rem / a;
  /* a*tau + k*tau^2/2 = rem, the root within the stage. */
  double disc = a * a + 2 * k * rem;
  double tau = (-a + sqrt(disc > 0 ? disc : 0)) / k;
  return tau < 0 ? 0 : tau > d ? d : tau;
}

static uint64_t to_ns(double seconds) {
  double ns = seconds * NS;
  return ns >= 1.8e19 ? UINT64_MAX : (uint64_t)llround(ns);
}

uint64_t rl__profile_when(const rl__profile *p, double x) {
  if (x <= 0)
    return 0;
  if (p->n == 0)
    return p->start > 0 ? to_ns(x / p->start) : UINT64_MAX;
  uint64_t base = 0;
  uint64_t total = total_ns(p);
  if (p->loop && total) {
    double cycle = cycle_area(p);
    if (!(cycle > 0))
      return UINT64_MAX;
    double cycles = floor(x / cycle);
    x -= cycles * cycle;
    if (cycles * (double)total >= 1.8e19)
      return UINT64_MAX;
    base = (uint64_t)cycles * total;
  }
  double from = p->start;
  uint64_t at = 0;
  for (size_t i = 0; i < p->n; i++) {
    const rl__stage *st = &p->stages[i];
    double d = (double)st->dur_ns / NS;
    double area = ramp_area(from, st->target, d, d);
    if (x <= area && area > 0)
      return base + at + to_ns(ramp_when(from, st->target, d, x));
    x -= area;
    from = st->target;
    at += st->dur_ns;
  }
  if (p->loop)
    return base + at; /* rounding at a cycle's end */
  if (!(from > 0))
    return UINT64_MAX;
  return base + at + to_ns(x / from);
}

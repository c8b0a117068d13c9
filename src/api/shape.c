/* The load's shape on the command line: see shape.h; what each option
 * means is docs/cli.md's "Load shapes and the open model". */
#include "api/shape.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rpcload/plugin.h>

#include "api/options.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/units.h"
#include "engine/arrival.h"
#include "scenario/scenario.h"

/* The pool's default: enough users for responses of up to this long at
 * the peak rate (Little's law: in flight = rate x latency), within
 * bounds. Said in --help. */
#define DEFAULT_INFLIGHT_S 0.2
#define DEFAULT_INFLIGHT_MIN 10
#define DEFAULT_INFLIGHT_MAX 10000

static int bad(const char *opt, const char *arg, const char *why, char *err,
               size_t errlen) {
  snprintf(err, errlen, "invalid value for %s: '%s': %s", opt, arg, why);
  return RL_ERR_INVAL;
}

static int parse_profile(const char *opt, const char *arg, int with_rate,
                         rl__profile *p, char *err, size_t errlen) {
  char why[200];
  rl__profile_free(p);
  if (rl__profile_parse(arg, 0, with_rate, p, why, sizeof why))
    return bad(opt, arg, why, err, errlen);
  return 0;
}

int rl__api_shape_parse(rl__api_options *o, int c, const char *arg, char *err,
                        size_t errlen) {
  rl__api_shape *s = &o->shape;
  double d;
  long long v;
  switch (c) {
  case RL__API_OPT_RATE:
    if (rl__parse_number(arg, &d) || !(d > 0) || d > 1e9)
      return bad("--rate", arg, "expected iterations per second > 0, e.g. 500",
                 err, errlen);
    rl__profile_free(&s->rate);
    rl__profile_constant(&s->rate, d);
    s->rate_given |= 1;
    return 0;
  case RL__API_OPT_RATE_STAGES:
    s->rate_given |= 2;
    return parse_profile("--rate-stages", arg, 0, &s->rate, err, errlen);
  case RL__API_OPT_STAGES:
    s->stages_given = 1;
    return parse_profile("--stages", arg, 1, &s->user_stages, err, errlen);
  case RL__API_OPT_ARRIVALS:
    s->arrivals_given = 1;
    if (rl__arrivals_parse(arg, &o->run.arrivals))
      return bad("--arrivals", arg, "expected even or poisson", err, errlen);
    return 0;
  case RL__API_OPT_MAX_INFLIGHT:
    if (rl__parse_int(arg, 1, 10000000, &v))
      return bad("--max-inflight", arg, "expected a whole number >= 1", err,
                 errlen);
    s->max_inflight = (uint32_t)v;
    return 0;
  case RL__API_OPT_MAX_QUEUE:
    if (rl__parse_int(arg, 0, 10000000, &v))
      return bad("--max-queue", arg, "expected a whole number >= 0", err,
                 errlen);
    s->max_queue = v;
    return 0;
  case RL__API_OPT_ARRIVAL_SLACK: {
    uint64_t ns;
    if (rl__parse_duration(arg, &ns) || ns > 100 * RL__NS_PER_MS)
      return bad("--arrival-slack", arg,
                 "expected a duration up to 100ms, e.g. 100us or 0", err,
                 errlen);
    o->run.arrival_slack_ns = ns;
    s->slack_given = 1;
    return 0;
  }
  case RL__API_OPT_MAX_DROPPED:
    if (rl__parse_int(arg, 0, INT64_MAX, &v))
      return bad("--max-dropped", arg, "expected a whole number >= 0", err,
                 errlen);
    s->max_dropped = v;
    return 0;
  case RL__API_OPT_LATENCY:
    s->latency_given = 1;
    if (strcmp(arg, "corrected") == 0)
      o->run.latency_uncorrected = 0;
    else if (strcmp(arg, "uncorrected") == 0)
      o->run.latency_uncorrected = 1;
    else
      return bad("--latency", arg, "expected corrected or uncorrected", err,
                 errlen);
    return 0;
  case 'n':
    if (rl__parse_int(arg, 1, INT64_MAX, &v))
      return bad("--iterations", arg, "expected a whole number >= 1", err,
                 errlen);
    o->run.iterations = (uint64_t)v;
    return 0;
  default:
    return 1;
  }
}

/* The largest value a profile reaches. */
static double profile_peak(const rl__profile *p) {
  double peak = p->start;
  for (size_t i = 0; i < p->n; i++)
    peak = fmax(peak, p->stages[i].target);
  return peak;
}

static int refuse(char *err, size_t errlen, const char *why) {
  snprintf(err, errlen, "%s", why);
  return RL_ERR_INVAL;
}

/* The open model's settings: the pool, and the run time of stages. */
static int check_open(rl__api_options *o, char *err, size_t errlen) {
  rl__api_shape *s = &o->shape;
  if (s->rate_given == 3)
    return refuse(err, errlen,
                  "--rate and --rate-stages: give one (a constant rate, or "
                  "one that changes in stages)");
  if (s->stages_given)
    return refuse(err, errlen,
                  "--stages (users over time) and --rate (arrivals over "
                  "time) are two models: give one");
  if (o->users_given)
    return refuse(err, errlen,
                  "-u/--users with --rate: in the open model users are the "
                  "pool that runs arrivals, --max-inflight N");
  if (o->rate_given)
    return refuse(err, errlen,
                  "-r/--spawn-rate with --rate: the open model starts its "
                  "pool at once; --rate-stages ramps the arrival rate");
  double peak = profile_peak(&s->rate);
  if (!(peak > 0))
    return refuse(err, errlen, "--rate-stages: every stage's rate is 0");
  uint32_t pool = s->max_inflight;
  if (!pool) {
    double want = ceil(peak * DEFAULT_INFLIGHT_S);
    pool = want < DEFAULT_INFLIGHT_MIN   ? DEFAULT_INFLIGHT_MIN
           : want > DEFAULT_INFLIGHT_MAX ? DEFAULT_INFLIGHT_MAX
                                         : (uint32_t)want;
  }
  o->run.users = pool;
  o->run.spawn_rate = pool;
  o->run.max_queue = s->max_queue < 0 ? pool : (uint32_t)s->max_queue;
  o->run.rate = &s->rate;
  if (!o->time_given && s->rate_given == 2 && !s->rate.loop)
    o->run.run_time_ns = rl__profile_duration(&s->rate);
  return 0;
}

static int check_stages(rl__api_options *o, char *err, size_t errlen) {
  rl__api_shape *s = &o->shape;
  if (o->users_given || o->rate_given)
    return refuse(err, errlen,
                  "-u/-r with --stages: the stages give the user count over "
                  "time (DURATION:USERS[:SPAWN_RATE],...)");
  double peak = profile_peak(&s->user_stages);
  if (!(peak >= 1))
    return refuse(err, errlen, "--stages: no stage has a user");
  o->run.users = (uint32_t)llround(peak);
  o->run.user_stages = &s->user_stages;
  if (!o->time_given && !s->user_stages.loop)
    o->run.run_time_ns = rl__profile_duration(&s->user_stages);
  return 0;
}

int rl__api_shape_check(rl__api_options *o, char *err, size_t errlen) {
  rl__api_shape *s = &o->shape;
  int open = s->rate_given != 0;
  if (!open) {
    const char *alone = s->max_inflight     ? "--max-inflight"
                        : s->max_queue >= 0 ? "--max-queue"
                        : s->slack_given    ? "--arrival-slack"

                        : s->max_dropped >= 0 ? "--max-dropped"
                        : s->arrivals_given   ? "--arrivals"
                        : s->latency_given    ? "--latency"
                                              : NULL;
    if (alone) {
      snprintf(err, errlen,
               "%s is the open model's: give --rate R or --rate-stages too",
               alone);
      return RL_ERR_INVAL;
    }
  }
  if ((open || s->stages_given) && o->web && !o->headless && !o->run.autostart)
    return refuse(err, errlen,
                  "--rate/--stages with the web UI need --autostart (the web "
                  "UI's start form sets one user count)");
  if (open)
    return check_open(o, err, errlen);
  if (s->stages_given)
    return check_stages(o, err, errlen);
  return 0;
}

static int copy_profile(rl__profile *dst, const rl__profile *src) {
  rl__profile_free(dst);
  *dst = *src;
  dst->stages = NULL;
  if (!src->n)
    return 0;
  dst->stages = malloc(src->n * sizeof *dst->stages);
  if (!dst->stages) {
    dst->n = 0;
    return RL_ERR_NOMEM;
  }
  memcpy(dst->stages, src->stages, src->n * sizeof *dst->stages);
  return 0;
}

int rl__api_shape_from_scenario(rl__api_options *o, const rl__scn_shape *s,
                                char *err, size_t errlen) {
  rl__api_shape *sh = &o->shape;
  if (s->kind == RL__SCN_SHAPE_NONE || sh->rate_given || sh->stages_given)
    return 0;
  if (o->users_given || o->rate_given) {
    rl__log(RL__LOG_INFO,
            "-u/-r given: the scenario's shape (line %d) is "
            "not used",
            s->pos.line);
    return 0;
  }
  int open = s->kind == RL__SCN_SHAPE_RATE;
  if (copy_profile(open ? &sh->rate : &sh->user_stages, &s->profile)) {
    snprintf(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  if (open) {
    sh->rate_given = s->rate_constant ? 1 : 2;
    if (!sh->arrivals_given && s->arrivals >= 0)
      o->run.arrivals = s->arrivals;
    if (!sh->max_inflight && s->max_inflight > 0)
      sh->max_inflight = (uint32_t)s->max_inflight;
    if (sh->max_queue < 0 && s->max_queue >= 0)
      sh->max_queue = s->max_queue;
  } else {
    sh->stages_given = 1;
  }
  return rl__api_shape_check(o, err, errlen);
}

int rl__api_shape_dropped_over(const rl__api_options *o, uint64_t dropped) {
  int64_t max = o->shape.max_dropped;
  if (max < 0 || dropped <= (uint64_t)max)
    return 0;
  rl__log(RL__LOG_ERROR,
          "%llu iterations were dropped (every user busy), more than "
          "--max-dropped %lld: raise --max-inflight, or the service is slower "
          "than the rate allows",
          (unsigned long long)dropped, (long long)max);
  return 1;
}

void rl__api_shape_describe(const rl__api_options *o, char *buf, size_t len) {
  const rl__run_config *run = &o->run;
  const rl__profile *p = run->rate ? run->rate : run->user_stages;
  buf[0] = 0;
  if (!p)
    return;
  char stages[128] = "";
  if (p->n)
    snprintf(stages, sizeof stages, "%zu stage%s over %.6gs%s, peak %.6g%s",
             p->n, p->n == 1 ? "" : "s", (double)rl__profile_duration(p) / 1e9,
             p->loop ? " (looped)" : "", profile_peak(p),
             run->rate ? "/s" : " users");
  if (!run->rate) {
    snprintf(buf, len, "users over time: %s", stages);
    return;
  }
  char rate[64];
  if (p->n)
    snprintf(rate, sizeof rate, "%s", "");
  else
    snprintf(rate, sizeof rate, " %.6g/s", p->start);
  snprintf(buf, len,
           "open model: rate%s%s%s, %s arrivals, %u users (--max-inflight), "
           "queue of %u",
           rate, p->n ? " " : "", stages,
           run->arrivals == RL__ARRIVALS_POISSON ? "poisson" : "even",
           run->users, run->max_queue);
}

void rl__api_shape_free(rl__api_shape *s) {
  rl__profile_free(&s->rate);
  rl__profile_free(&s->user_stages);
}

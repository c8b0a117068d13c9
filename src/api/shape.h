/*
 * The load's shape on the command line (issue #15): the open model
 * (--rate, --rate-stages, --arrivals, --max-inflight, --max-dropped,
 * --latency), user stages (--stages) and -n/--iterations. Parsed here into
 * rl__api_shape, then checked against the other options and turned into the
 * run's settings (rl__run_config's rate, user_stages, iterations...).
 */
#ifndef RL_API_SHAPE_H
#define RL_API_SHAPE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/profile.h"

struct rl__api_options;

/* getopt codes of the shape's long options (options.c's table). */
enum {
  RL__API_OPT_RATE = 0x1000,
  RL__API_OPT_RATE_STAGES,
  RL__API_OPT_ARRIVALS,
  RL__API_OPT_MAX_INFLIGHT,
  RL__API_OPT_MAX_DROPPED,
  RL__API_OPT_LATENCY,
  RL__API_OPT_STAGES,
  RL__API_OPT_MAX_QUEUE,
  RL__API_OPT_ARRIVAL_SLACK,
};

typedef struct rl__api_shape {
  rl__profile rate;        /* --rate / --rate-stages (owned stages) */
  rl__profile user_stages; /* --stages (owned stages) */
  int rate_given;          /* 1: --rate, 2: --rate-stages */
  int stages_given;
  int arrivals_given, latency_given;
  uint32_t max_inflight; /* 0: from the rate (rl__api_shape_check) */
  int64_t max_queue;     /* -1: as many as max_inflight */
  int slack_given;       /* --arrival-slack (o->run.arrival_slack_ns) */
  int64_t max_dropped;   /* -1: no limit */
} rl__api_shape;

/* One option of the shape (-n, or a RL__API_OPT_* code) into o->shape and
 * o->run: 0, 1 when `c` is not one of them, or RL_ERR_INVAL with the
 * reason in err. */
int rl__api_shape_parse(struct rl__api_options *o, int c, const char *arg,
                        char *err, size_t errlen);

/* After every option is parsed: the shape against the others (-u, -r,
 * -t, --web), and the run's settings that follow. 0 or RL_ERR_INVAL with
 * the reason in err. */
int rl__api_shape_check(struct rl__api_options *o, char *err, size_t errlen);

/* -f FILE: the scenario's `shape:` (scenario/scenario.h), unless the
 * command line gave a shape or -u/-r (they win: said once), made the
 * run's as if given on the command line, with its checks. Call after
 * the scenario's settings are applied. 0 or RL_ERR_INVAL/RL_ERR_NOMEM
 * with the reason in err. */
struct rl__scn_shape;
int rl__api_shape_from_scenario(struct rl__api_options *o,
                                const struct rl__scn_shape *s, char *err,
                                size_t errlen);

/* The run's verdict on dropped iterations: 1 when --max-dropped was
 * exceeded (said on stderr), else 0. */
int rl__api_shape_dropped_over(const struct rl__api_options *o,
                               uint64_t dropped);

/* The run's shape in words for the reports ("rate 2000/s, even arrivals,
 * 400 users..."), into buf; "" without one. */
void rl__api_shape_describe(const struct rl__api_options *o, char *buf,
                            size_t len);

void rl__api_shape_free(rl__api_shape *s);

#endif /* RL_API_SHAPE_H */

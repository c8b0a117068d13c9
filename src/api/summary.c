#include "api/summary.h"

#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "engine/lag.h"

/* Stalls of the workers' own loops (engine/lag.h): the response times
 * measured during them hold the client's delay, not only the server's. */
static void client_lag(const rl__runner *r) {
  rl__lag lag;
  rl__runner_client_lag(r, &lag);
  if (!lag.stalls)
    return;
  rl__log(RL__LOG_INFO,
          "client lag: the worker threads' loops stalled %llu time(s) for "
          "%.0f ms or more (%.0f ms in all, the longest %.0f ms); response "
          "times measured then hold the client's own delay (fewer users per "
          "thread, more --threads or a less loaded machine avoid it)",
          (unsigned long long)lag.stalls, (double)RL__LAG_MIN_NS / 1e6,
          (double)lag.total_ns / 1e6, (double)lag.max_ns / 1e6);
}

/* Seconds as a person writes them: 3, 2.5, 0.25. */
static void seconds_text(double s, char *buf, size_t len) {
  snprintf(buf, len, "%.*f", s >= 10 || s == (double)(long)s ? 0 : 2, s);
  if (strchr(buf, '.')) { /* 2.50 -> 2.5, 3.00 -> 3 */
    size_t n = strlen(buf);
    while (buf[n - 1] == '0')
      buf[--n] = 0;
    if (buf[n - 1] == '.')
      buf[n - 1] = 0;
  }
}

/* A run that ended before all its users were spawned says so: its figures
 * are for fewer users than asked. */
static void spawn_shortfall(const rl__runner *r) {
  if (!r->ramp_short)
    return;
  char ran[32], all[32];
  seconds_text((double)r->ramp_ns / 1e9, ran, sizeof ran);
  /* Locust's schedule: the first user at once, then one every 1/rate s. */
  seconds_text((double)(r->ramp_wanted - 1) / r->ramp_rate, all, sizeof all);
  rl__log(RL__LOG_INFO,
          "the run ended before all users were spawned: reached %u of %u "
          "users: spawn rate %g/s for a %s s run (all %u take %s s at that "
          "rate: raise -r or -t)",
          r->ramp_reached, r->ramp_wanted, r->ramp_rate, ran, r->ramp_wanted,
          all);
}

void rl__api_summary_print(const rl__runner *r, const rl__api_options *o) {
  (void)o;
  spawn_shortfall(r);
  client_lag(r);
}

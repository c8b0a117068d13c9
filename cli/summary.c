#include "summary.h"

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

void cli_summary_print(const rl__runner *r, const cli_options *o) {
  (void)o;
  client_lag(r);
}

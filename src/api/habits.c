#include "api/habits.h"

#include <string.h>

static const struct habit {
  const char *opt; /* as typed, without "=value" */
  const char *hint;
} habits[] = {
    {"-c", "ghz's -c (concurrent workers) is rpcload's -u N (users; -r R "
           "starts R a second)"},
    {"--concurrency", "ghz's --concurrency is rpcload's -u/--users N (-r R "
                      "starts R a second)"},
    {"-z", "ghz's -z (how long to run) is rpcload's -t/--run-time, e.g. -t "
           "30s"},
    {"-x", "ghz's -x (the longest a run may take) is rpcload's -t/--run-time"},
    {"--duration", "k6's and ghz's --duration is rpcload's -t/--run-time, "
                   "e.g. -t 30s"},
    {"--vus", "k6's --vus is rpcload's -u/--users"},
    {"--rps", "ghz's --rps N is rpcload's --rate N (the open model: N "
              "requests a second whatever the server's speed)"},
    {"--total", "ghz's --total/-n (a number of requests) is rpcload's "
                "-n/--iterations N"},
    {"-R", "wrk2's -R N is rpcload's --rate N"},
    {"--load-schedule", "ghz's --load-schedule is rpcload's --rate-stages "
                        "D:R,... (or --rate for a constant rate)"},
    {"--format", "ghz's --format: rpcload writes --json (stdout), --json-file "
                 "FILE, --csv PREFIX and --html FILE, beside its tables"},
    {"--skipTLS", "ghz's --skipTLS is rpcload's --insecure, with a grpcs:// "
                  "target"},
    {"-i", "ghz's -i (import paths) is rpcload's -I/--import-path"},
};

const char *rl__api_habit_hint(const char *opt) {
  size_t len = strcspn(opt, "=");
  for (size_t i = 0; i < sizeof habits / sizeof habits[0]; i++)
    if (strlen(habits[i].opt) == len && strncmp(habits[i].opt, opt, len) == 0)
      return habits[i].hint;
  return NULL;
}

/*
 * slow_fail: turns successes slower than a threshold into failures, as a
 * Locust script does with catch_response when a response takes too long.
 *
 *   rpcload --listener ./slow_fail.so --listener-opt max_ms=200 URL
 *
 * Every success whose response time is over max_ms fails with the text
 * "slower than max_ms=200 ms" (one text, so the failures group into one
 * row). Failures stay as they were. The state is read-only once init is
 * done, so the worker threads share it without a lock and the listener
 * needs no per-thread context.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rpcload/listener.h>

typedef struct slow_fail {
  uint64_t max_ns;
  char text[64]; /* the failure text: lives as long as the state */
} slow_fail;

static int sf_init(const rl_listener_host *host, const rl_kv *options,
                   size_t n_options, void **state, char *err, size_t errlen) {
  (void)host;
  const char *max_ms = NULL;
  for (size_t i = 0; i < n_options; i++) {
    if (strcmp(options[i].key, "max_ms") != 0) {
      snprintf(err, errlen, "unknown option '%s' (max_ms=N)", options[i].key);
      return RL_ERR_INVAL;
    }
    max_ms = options[i].value;
  }
  if (!max_ms) {
    snprintf(err, errlen, "option max_ms=N is required");
    return RL_ERR_INVAL;
  }
  char *end;
  errno = 0;
  double ms = strtod(max_ms, &end);
  if (errno || end == max_ms || *end || !(ms > 0) || ms > 1e9) {
    snprintf(err, errlen,
             "max_ms=%s: expected milliseconds > 0, e.g. max_ms=250", max_ms);
    return RL_ERR_INVAL;
  }
  slow_fail *s = calloc(1, sizeof *s);
  if (!s)
    return RL_ERR_NOMEM;
  s->max_ns = (uint64_t)(ms * 1e6);
  snprintf(s->text, sizeof s->text, "slower than max_ms=%s ms", max_ms);
  *state = s;
  return 0;
}

static void sf_fini(void *state) { free(state); }

/* The thread's context is the shared, read-only state. */
static void *sf_thread_new(void *state, uint32_t worker) {
  (void)worker;
  return state;
}

static const char *sf_request(void *ctx, const rl_request_event *e) {
  const slow_fail *s = ctx;
  if (!e->error && e->response_time_ns > s->max_ns)
    return s->text;
  return NULL;
}

static const rl_listener desc = {
    .abi_version = RL_LISTENER_ABI_VERSION,
    .struct_size = sizeof(rl_listener),
    .name = "slow_fail",
    .version = "1.0",
    .summary = "successes slower than max_ms become failures",
    .init = sf_init,
    .fini = sf_fini,
    .thread_new = sf_thread_new,
    .on_request = sf_request,
};

RL_EXPORT const rl_listener *rl_listener_entry(void) { return &desc; }

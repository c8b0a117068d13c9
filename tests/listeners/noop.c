/*
 * A listener that hears every request and does nothing: bench/listeners.sh
 * measures what the request event itself costs with it (a call per
 * request through a per-thread context) against no listener at all.
 */
#include <rpcload/listener.h>

static int noop_init(const rl_listener_host *host, const rl_kv *options,
                     size_t n_options, void **state, char *err, size_t errlen) {
  (void)host;
  (void)options;
  (void)n_options;
  (void)err;
  (void)errlen;
  static int token;
  *state = &token;
  return 0;
}

static void *noop_thread_new(void *state, uint32_t worker) {
  (void)worker;
  return state;
}

static const char *noop_request(void *ctx, const rl_request_event *e) {
  (void)ctx;
  (void)e;
  return NULL;
}

static const rl_listener desc = {
    .abi_version = RL_LISTENER_ABI_VERSION,
    .struct_size = sizeof(rl_listener),
    .name = "noop",
    .version = "1.0",
    .summary = "hears every request, does nothing (bench/listeners.sh)",
    .init = noop_init,
    .thread_new = noop_thread_new,
    .on_request = noop_request,
};

RL_EXPORT const rl_listener *rl_listener_entry(void) { return &desc; }

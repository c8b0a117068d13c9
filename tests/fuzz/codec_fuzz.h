/*
 * What the codec plugins' fuzz targets share (fuzz_http1_response,
 * fuzz_http2_response, fuzz_grpc_response): the plugin loaded once through
 * rpcload's own loader, the host played by kit/fake_host (so a
 * broken plugin contract, such as a request reported twice or never, is a
 * crash too), and a driver that plays the server's side of one connection
 * with the fuzzer's bytes.
 *
 * An input is two bytes of settings, then what the server sends:
 *   byte 0   bit 0: the host asks for responses (ABI 1.2, as checks do);
 *            bits 1-7: the step of the first request (mod the steps);
 *   byte 1   how many bytes one read hands the plugin (0: all at once),
 *            so that reads split the server's bytes anywhere;
 *   rest     the server's bytes, fed to session_on_read read by read.
 * Requests are submitted as the session takes them (session_max_concurrent,
 * at most RL_FUZZ_MAX_INFLIGHT at once, RL_FUZZ_MAX_REQUESTS in all), the
 * steps in turn; the fake clock moves 10 ms a read and fires the plugin's
 * timers. The connection ends as the host would end it: on an error from
 * session_on_read, on conn_close, or at the end of the bytes (the peer
 * closed). Then every request must have ended exactly once.
 */
#ifndef RL_FUZZ_CODEC_FUZZ_H
#define RL_FUZZ_CODEC_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include <rpcload/fake_host.h>
#include <rpcload/plugin.h>

#define RL_FUZZ_MAX_INFLIGHT 3
#define RL_FUZZ_MAX_REQUESTS 12

/* The one fake host of the process (fake_host: one at a time). */
extern rl_fake_host rl_fuzz_fh;

/* Loads the plugin at `path` (rpcload's loader, the fake host as its host)
 * and returns its descriptor, owned by the loader until the process ends.
 * Exits the process when it cannot: a fuzz target without its plugin
 * must not pass. */
const rl_plugin *rl_fuzz_codec_load(const char *path);

/* Compiles `spec` with p->step_new; exits the process on failure (the
 * targets' steps are fixed: a failure is a broken build). The step lives
 * until the process ends. */
void *rl_fuzz_step(const rl_plugin *p, const rl_step_spec *spec);

/* Plays one connection as described above with `n_steps` steps (borrowed)
 * and `info` (borrowed). */
void rl_fuzz_codec_run(const rl_plugin *p, const rl_conn_info *info,
                       void *const *steps, size_t n_steps, const uint8_t *data,
                       size_t size);

#endif /* RL_FUZZ_CODEC_FUZZ_H */

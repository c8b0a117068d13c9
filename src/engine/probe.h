/*
 * Start-up reachability: before any load, one connection to a target the
 * way the run's connections will make it (TCP within the connect timeout;
 * over TLS the handshake, the certificate check and an ALPN protocol the
 * target speaks), then closed. An unreachable target is said at once,
 * naming it and the reason, rather than as a flood of failed requests.
 * Blocking: the main thread, before the workers start.
 */
#ifndef RL_ENGINE_PROBE_H
#define RL_ENGINE_PROBE_H

#include <stddef.h>

struct rl__target;

/*
 * Connects to `t` as described above. Returns 0 when it could, else a
 * negative RL_ERR_* with the reason in err ("connection refused", "TLS
 * handshake failed: certificate verify failed: ..."). A transport
 * plugin's target (it connects on its own, if at all) is not tried: 0.
 */
int rl__target_probe(const struct rl__target *t, char *err, size_t errlen);

#endif /* RL_ENGINE_PROBE_H */

/*
 * A target: one request compiled for the run. The plugin picked by URL
 * scheme (or by name), its step object, the resolved address, the TLS
 * context and the timeouts. Built on the main thread before load starts
 * (name resolution and file reads may block there); read-only afterwards,
 * so every worker thread shares it without locks.
 */
#ifndef RL_TARGET_H
#define RL_TARGET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <rpcload/plugin.h>

#include "plugin_loader.h"
#include "tls.h"

typedef struct rl__target_options {
  const char *url;
  const char *plugin; /* --plugin NAME|PATH, or NULL: choose by scheme */
  const char *method;
  const rl_kv *headers;
  size_t n_headers;
  const uint8_t *body;
  size_t body_len;
  const char *name;
  const rl_kv *options;
  size_t n_options;
  rl__tls_options tls;
  uint64_t connect_timeout_ns;
  uint64_t request_timeout_ns;
} rl__target_options;

typedef struct rl__target {
  rl__plugin *plugin; /* owned by the plugin set */
  void *step;         /* owned: plugin's step_del */
  const char *type;   /* default stats type, owned by the step */
  const char *name;   /* default stats name, owned by the step */
  char *host;         /* owned */
  uint16_t port;
  int tls;
  struct sockaddr_storage addr;
  socklen_t addrlen;
  SSL_CTX *ssl_ctx; /* owned; NULL without TLS */
  int verify;
  uint64_t connect_timeout_ns;
  uint64_t request_timeout_ns;
} rl__target;

/*
 * Compiles `o` into a new target: parses the URL, loads the plugin (from
 * `plugins`, which must outlive the target), resolves the host, runs the
 * plugin's step_new, creates the TLS context. Returns 0 and the target in
 * *out (caller owns; rl__target_del), or a negative code with a one-line
 * reason in err.
 */
int rl__target_new(rl__plugin_set *plugins, const rl__target_options *o,
                   rl__target **out, char *err, size_t errlen);

/* Frees the target and its step. NULL is fine. */
void rl__target_del(rl__target *t);

#endif /* RL_TARGET_H */

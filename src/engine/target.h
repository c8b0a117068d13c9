/*
 * A target: one request compiled for the run. The plugin picked by URL
 * scheme (or by name), its step object, the resolved address, the TLS
 * context and the timeouts. Built on the main thread before load starts
 * (name resolution and file reads may block there); read-only afterwards,
 * so every worker thread shares it without locks.
 */
#ifndef RL_TARGET_H
#define RL_TARGET_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <rpcload/plugin.h>

#include "engine/backoff.h"
#include "engine/plugin_loader.h"
#include "engine/source.h"
#include "engine/tls.h"

typedef struct rl__target_options {
  const char *url;
  const char *plugin; /* --plugin NAME|PATH, or NULL: choose by scheme */
  const char *method;
  const rl_kv *headers;
  size_t n_headers;
  const uint8_t *body;
  size_t body_len;
  const char *body_type; /* a scenario's JSON body: "application/json" */
  const char *name;
  const rl_kv *options;
  size_t n_options;
  rl__tls_options tls;
  uint64_t connect_timeout_ns;
  uint64_t request_timeout_ns;
  /* Over TLS, the server must agree by ALPN to one of the chosen plugin's
   * protocols (--http2: h2 only, never a fallback to HTTP/1.1). */
  int alpn_required;
  /* The scheme a target without "scheme://" takes when no --plugin is
   * given (gRPC's options make "host:port" mean grpc://host:port), or
   * NULL: such a target is an error. */
  const char *default_scheme;
  /* Only to list what the target offers (rpcload --list): the plugin's
   * step is made with spec.list_only set; nothing is resolved and no TLS
   * context is made. `url` may then be NULL (the default scheme's plugin,
   * no host). */
  int list_only;
  /* --source-address: the local addresses connections are made from
   * (borrowed: it must outlive the target), or NULL: the kernel's pick. */
  rl__sources *sources;
} rl__target_options;

#define RL__MAX_VARIANTS 4

/* One plugin able to carry the target, with its compiled step. */
typedef struct rl__variant {
  rl__plugin *plugin; /* owned by the plugin set */
  void *step;         /* owned: plugin's step_del */
  const char *type;   /* default stats type, owned by the step */
  const char *name;   /* default stats name, owned by the step */
} rl__variant;

typedef struct rl__target {
  /* The plugins that may carry it. v[0] is the one chosen by --plugin or
   * the scheme; over TLS, the others serve the same scheme and ALPN picks
   * among them per connection (HTTP/2 or HTTP/1.1 for https). */
  rl__variant v[RL__MAX_VARIANTS];
  size_t nv;
  /* v[0]'s, for the common case */
  rl__plugin *plugin;
  void *step;
  const char *type;
  const char *name;
  int alpn_required;
  char *host; /* owned */
  uint16_t port;
  int tls;
  struct sockaddr_storage addr;
  socklen_t addrlen;
  SSL_CTX *ssl_ctx; /* owned; NULL without TLS */
  char *tls_name;   /* --cname's, owned; NULL: TLS names the host */
  int verify;
  uint64_t connect_timeout_ns;
  uint64_t request_timeout_ns;
  /* How long failed connections wait before the next attempt: gRPC's
   * rules for grpc:// and grpcs://, a short one otherwise (NULL: that). */
  const rl__backoff_policy *backoff;
  /* 1 once a connection to it completed a request: the server speaks the
   * protocol, so a later failure gets no "(does it want TLS?)" hint. The
   * one member connections write (engine/conn.c): relaxed, set once, by
   * any worker thread. */
  atomic_int answered;
  /* Options' sources (borrowed), NULL: none; the core's connections bind
   * to them (engine/conn.c, engine/probe.c). */
  rl__sources *sources;
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

/*
 * The variant to run a connection whose TLS handshake negotiated `alpn`
 * (NULL: none, or no TLS). NULL when none fits: the server agreed to no
 * protocol the target can speak.
 */
const rl__variant *rl__target_variant_for_alpn(const rl__target *t,
                                               const char *alpn);

#endif /* RL_TARGET_H */

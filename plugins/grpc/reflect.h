/*
 * reflect: a blocking gRPC server-reflection client, for the gRPC plugin.
 *
 * When the user gives neither --proto nor --protoset, the plugin asks the
 * server itself for its types (grpc.reflection.v1.ServerReflection, falling
 * back to v1alpha for older servers) and builds a pbdesc pool from the
 * answers, as grpcurl does. It is start-up work (step_new, on the main
 * thread, where blocking is allowed), so it opens its own connection with
 * plain blocking calls bounded by one deadline, and closes it before
 * returning: nothing of it lives on into the load test.
 *
 * What it asks: list_services, then file_containing_symbol for each
 * service (except grpc.reflection.* itself), then file_by_filename for
 * every import the answers named but did not include, until the set is
 * closed. Each request is its own gRPC call (stream) on the one HTTP/2
 * connection. reflect.c speaks the protocol; reflect_conn.c holds the
 * connection (socket, deadline, TLS, HTTP/2, the calls).
 */
#ifndef RL_REFLECT_H
#define RL_REFLECT_H

#include <stddef.h>
#include <stdint.h>

#include <rpcload/plugin.h>

#include "pbdesc.h"

/* The default deadline of the whole fetch (connect to last answer). */
#define RL_REFLECT_DEFAULT_TIMEOUT_NS (10ull * 1000000000ull)

typedef struct rl__reflect_options {
  const char *host; /* name or IP literal (IPv6 without brackets) */
  uint16_t port;
  int tls; /* 1: TLS with ALPN "h2" (required); 0: h2c, prior knowledge */
  /* :authority; NULL: host:port ([host]:port for an IPv6 literal). */
  const char *authority;
  /* TLS as everywhere in rpcload: the peer is verified against cacert
   * (a PEM bundle) or the system's CAs, and its name against host, unless
   * insecure. cert/key: a client certificate (key NULL: taken from cert).
   * SNI is host unless host is an IP literal. server_name (--cname), when
   * set, stands for host in both. */
  const char *cacert;
  const char *cert;
  const char *key;
  int insecure;
  /* Deadline of the whole operation; 0: RL_REFLECT_DEFAULT_TIMEOUT_NS. */
  uint64_t timeout_ns;
  /* Extra request headers sent with every reflection call (e.g.
   * authorization); names are sent lowercased, as HTTP/2 requires. */
  const rl_kv *metadata;
  size_t n_metadata;
  const char *server_name;
} rl__reflect_options;

/*
 * Fetches the server's services and every file they need through server
 * reflection and makes a pool of them. Blocks for at most the deadline.
 *
 * Ownership: `o` and everything it points to are borrowed for the call
 * only. On 0 the caller owns *out (free with rl__pb_pool_del). On error
 * *out is left untouched, nothing is kept, and err holds one line starting
 * with "reflection: " (always NUL-terminated when errlen > 0), e.g.
 *   reflection: cannot connect to 127.0.0.1:1: Connection refused
 *   reflection: TLS handshake with h:443 failed: certificate verify failed: ...
 *   reflection: the server does not offer reflection (UNIMPLEMENTED for v1
 *     and v1alpha): give --proto or --protoset
 *   reflection: timed out after 10 s waiting for an answer from h:443
 *   reflection: server error NOT_FOUND for symbol 'a.B': ...
 * Text the server sent is quoted, made printable: no control characters,
 * invalid UTF-8 shown as '?'.
 *
 * Returns 0, or a negative RL_ERR_* code:
 *   RL_ERR_INVAL        bad options (no host, port 0, key without cert,
 *                       a metadata name or value HTTP/2 cannot carry)
 *   RL_ERR_CONNECT      the name does not resolve, or no address accepts
 *   RL_ERR_TLS          TLS set-up or handshake failed, or no ALPN "h2"
 *   RL_ERR_TIMEOUT      the deadline passed
 *   RL_ERR_UNSUPPORTED  neither reflection service is offered
 *   RL_ERR_NOTFOUND     the server lists no service besides reflection
 *   RL_ERR_PROTO        the server broke HTTP/2 or gRPC, answered with a
 *                       gRPC error, or sent descriptors pbdesc rejects
 *   RL_ERR_CLOSED       the server closed the connection early
 *   RL_ERR_IO, RL_ERR_NOMEM
 */
int rl__reflect_fetch(const rl__reflect_options *o, rl__pb_pool **out,
                      char *err, size_t errlen);

#endif /* RL_REFLECT_H */

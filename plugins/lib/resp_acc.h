/*
 * A response being collected for the host (ABI 1.2 request_response), for
 * the plugins that hand responses over (http1, http2, grpc): header fields
 * as "name\0value\0" pairs (trailers after the headers), the payload, and
 * the plugin's JSON of it (gRPC). A collector is either embedded in a
 * session that has one request at a time (http1), or taken from and put
 * back on a per-session free list (the HTTP/2 plugins, one per stream
 * that wants its response); either way its memory is reused between
 * requests, and one that grew past a small response gives the excess back
 * when emptied.
 *
 * Part of plugins/lib (hidden in each plugin). One thread owns a
 * collector.
 */
#ifndef RL_RESP_ACC_H
#define RL_RESP_ACC_H

#include <stddef.h>
#include <stdint.h>

#include <rpcload/plugin.h>

#include "buf.h"

/* Header bytes kept per response; past it the headers are left out. */
#define RL__RESP_MAX_HEADERS ((size_t)1 << 20)
/* Payload bytes kept (the host keeps 4 MiB; more lets it see the cut). */
#define RL__RESP_MAX_BODY ((size_t)8 << 20)
/* What an emptied collector keeps of its memory. */
#define RL__RESP_KEEP ((size_t)64 << 10)

typedef struct rl__resp_acc {
  struct rl__resp_acc *next; /* on the free list */
  /* "name\0value\0" pairs; hdr.oom: they did not fit and are left out. */
  rl__buf hdr;
  size_t n_hdr;
  rl__buf body; /* cut at RL__RESP_MAX_BODY, or where memory ran out */
  char *json;   /* the payload as JSON (the plugin's), or NULL; owned */
  rl_kv *kv;    /* the pairs for request_response */
  size_t kv_cap;
  /* RL_RESPONSE_* parts the host reads (ABI 1.8): header fields and
   * payload given without their bit are dropped, not copied. Set by the
   * owner for each response (rl__resp_parts); emptying keeps it. */
  unsigned parts;
} rl__resp_acc;

/* The parts of req's response the host reads: request_response_parts
 * (ABI 1.8) when the host has it, else all or nothing as
 * request_wants_response says. The host must have responses (ABI 1.2). */
unsigned rl__resp_parts(const rl_host *host, const rl_request *req);

/* Empties a collector for the next response, trimmed to RL__RESP_KEEP. */
void rl__resp_acc_clear(rl__resp_acc *a);

/* Frees what a collector holds (not `a` itself); it is then empty. */
void rl__resp_acc_free(rl__resp_acc *a);

/* A collector from *free_list, emptied, or a new one; NULL when out of
 * memory. The caller owns it until rl__resp_acc_put. */
rl__resp_acc *rl__resp_acc_get(rl__resp_acc **free_list);

/* Back on *free_list (NULL is fine), emptied. */
void rl__resp_acc_put(rl__resp_acc **free_list, rl__resp_acc *a);

/* Frees every collector on *free_list. */
void rl__resp_acc_free_all(rl__resp_acc **free_list);

/* One header field (borrowed), appended. */
void rl__resp_acc_header(rl__resp_acc *a, const uint8_t *name, size_t name_len,
                         const uint8_t *value, size_t value_len);

/* Payload bytes (borrowed), appended up to RL__RESP_MAX_BODY. */
void rl__resp_acc_data(rl__resp_acc *a, const uint8_t *data, size_t len);

/* Hands what was collected to host->request_response(req) with `status`;
 * `a` stays the caller's. */
void rl__resp_acc_hand_over(const rl_host *host, rl_request *req,
                            rl__resp_acc *a, int status);

#endif /* RL_RESP_ACC_H */

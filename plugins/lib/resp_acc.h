/*
 * A response being collected for the host (ABI 1.2 request_response), for
 * the plugins built on h2session (http2, grpc): header fields as
 * "name\0value\0" pairs (trailers after the headers), the payload, and the
 * plugin's JSON of it (gRPC). Collectors are kept on a per-session free
 * list between requests, so their memory is reused; one that grew past a
 * small response gives the excess back when it returns to the list.
 *
 * Part of plugins/lib (hidden in each plugin). One thread owns a
 * collector.
 */
#ifndef RL_RESP_ACC_H
#define RL_RESP_ACC_H

#include <stddef.h>
#include <stdint.h>

#include <rpcload/plugin.h>

/* Header bytes kept per response; past it the headers are left out. */
#define RL__RESP_MAX_HEADERS ((size_t)1 << 20)
/* Payload bytes kept (the host keeps 4 MiB; more lets it see the cut). */
#define RL__RESP_MAX_BODY ((size_t)8 << 20)
/* What a collector keeps on the free list. */
#define RL__RESP_KEEP ((size_t)64 << 10)

typedef struct rl__resp_acc {
  struct rl__resp_acc *next; /* on the free list */
  char *hdr;
  size_t hdr_len, hdr_cap, n_hdr;
  uint8_t *body;
  size_t body_len, body_cap;
  char *json; /* the payload as JSON (the plugin's), or NULL; owned */
  rl_kv *kv;  /* the pairs for request_response */
  size_t kv_cap;
  int oom; /* the headers did not fit: they are left out */
} rl__resp_acc;

/* Makes room for `more` bytes after `len` in the buffer *pp (a char * or
 * uint8_t *, capacity *cap). 0 or RL_ERR_NOMEM (the buffer is kept). */
int rl__resp_grow(void *pp, size_t *cap, size_t len, size_t more);

/* A collector from *free_list, emptied, or a new one; NULL when out of
 * memory. The caller owns it until rl__resp_acc_put. */
rl__resp_acc *rl__resp_acc_get(rl__resp_acc **free_list);

/* Back on *free_list (NULL is fine), trimmed to RL__RESP_KEEP. */
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

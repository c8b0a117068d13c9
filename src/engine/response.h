/*
 * A user's copy of the last response a plugin handed over
 * (host->request_response), for a scenario step's expect and capture.
 * Only users whose steps look at responses have one; for the others
 * host->request_wants_response says no and plugins collect nothing.
 *
 * One per user, reused from request to request (buffers only grow), owned
 * by the user; worker thread only.
 */
#ifndef RL_RESPONSE_H
#define RL_RESPONSE_H

#include <stddef.h>
#include <stdint.h>

#include <rpcload/plugin.h>

#include "base/buf.h"

/* Bodies are kept up to this many bytes; the rest is counted, not kept
 * (checks see a cut body; the error says so). */
#define RL__RESPONSE_MAX_BODY ((size_t)4 << 20)

typedef struct rl__response {
  int have;   /* a response arrived for the current request */
  int status; /* rl_response.status */
  char *body; /* NUL-terminated; body_len bytes (may hold NULs) */
  size_t body_len, body_cap;
  int body_cut; /* longer than RL__RESPONSE_MAX_BODY */
  char *json;   /* the plugin's JSON of the payload, or NULL */
  size_t json_cap;
  int has_json;
  /* Header names and values, NUL-separated pairs in one block. */
  char *hdr;
  size_t hdr_len, hdr_cap;
  size_t n_headers;
} rl__response;

/* Forgets the last response (keeps the buffers). */
void rl__response_clear(rl__response *r);

/* Copies `in` (borrowed) into r. Returns 0 or RL_ERR_NOMEM (r then holds
 * what fitted, have stays 0). */
int rl__response_store(rl__response *r, const rl_response *in);

/* The value of header `name` (ASCII case-insensitive), the last one when
 * repeated; NULL when absent. Points into r. */
const char *rl__response_header(const rl__response *r, const char *name);

/*
 * Appends to `out` (the caller's) a readable copy of r for
 * --print-responses: a line per header ("name: value"), then the JSON the
 * plugin made of the payload (gRPC's message) or else the body. Payloads
 * are cut after `max_body` bytes, saying how many more there were; control
 * bytes (but newline and tab) are written as \xHH, so that a binary body
 * or an escape sequence in it cannot drive the terminal. Header values are
 * escaped the same way, newlines included. Ends with a newline.
 */
void rl__response_format(const rl__response *r, size_t max_body, rl__buf *out);

/* Frees the buffers. */
void rl__response_free(rl__response *r);

#endif /* RL_RESPONSE_H */

/*
 * grpc_status: the status a gRPC call ends with, as the gRPC plugin and its
 * reflection client read it: the 17 status codes, their names both ways
 * (one table: "UNAVAILABLE" <-> 14), and the grpc-message text, which is
 * percent-encoded on the wire. No state, no I/O.
 *
 * The host reads the names through the plugin's descriptor (ABI 1.3).

 */
#ifndef RL_GRPC_STATUS_H
#define RL_GRPC_STATUS_H

#include <stddef.h>
#include <stdint.h>

/* The status codes (grpc/include/grpc/status.h, doc/statuscodes.md). */
enum grpc_code {
  GRPC_OK = 0,
  GRPC_CANCELLED = 1,
  GRPC_UNKNOWN = 2,
  GRPC_INVALID_ARGUMENT = 3,
  GRPC_DEADLINE_EXCEEDED = 4,
  GRPC_NOT_FOUND = 5,
  GRPC_ALREADY_EXISTS = 6,
  GRPC_PERMISSION_DENIED = 7,
  GRPC_RESOURCE_EXHAUSTED = 8,
  GRPC_FAILED_PRECONDITION = 9,
  GRPC_ABORTED = 10,
  GRPC_OUT_OF_RANGE = 11,
  GRPC_UNIMPLEMENTED = 12,
  GRPC_INTERNAL = 13,
  GRPC_UNAVAILABLE = 14,
  GRPC_DATA_LOSS = 15,
  GRPC_UNAUTHENTICATED = 16
};

/* The names, indexed by code: what the gRPC plugin declares to the host
 * (ABI 1.3 status_names) for scenario expectations and error texts. */
#define RL__GRPC_N_STATUS 17
extern const char *const rl__grpc_status_names[RL__GRPC_N_STATUS];

/* "UNAVAILABLE" for 14; NULL for a code outside 0..16. A static string. */
const char *rl__grpc_status_name(int code);

/* 14 for "UNAVAILABLE" (ASCII case ignored: "unavailable" too); -1 for a
 * name that is no status code's, or NULL. */
int rl__grpc_status_code(const char *name);

/*
 * Decodes a grpc-message value (`len` bytes, percent-encoded UTF-8) into
 * out (at most outlen - 1 bytes, NUL-terminated; longer text is cut). A
 * '%' not followed by two hex digits is kept as it is, as the spec asks;
 * a decoded control character becomes a space, so that the text stays
 * one line. Nothing is written when outlen is 0.
 */
void rl__grpc_message_decode(const uint8_t *in, size_t len, char *out,
                             size_t outlen);

#endif /* RL_GRPC_STATUS_H */

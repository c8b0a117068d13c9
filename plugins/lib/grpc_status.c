#include "grpc_status.h"

/* In code order (the gRPC spec's list). */
const char *const rl__grpc_status_names[RL__GRPC_N_STATUS] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

#define N_CODES RL__GRPC_N_STATUS

const char *rl__grpc_status_name(int code) {
  return code >= 0 && code < N_CODES ? rl__grpc_status_names[code] : NULL;
}

static int ascii_upper(int c) { return c >= 'a' && c <= 'z' ? c - 32 : c; }

int rl__grpc_status_code(const char *name) {
  if (name == NULL)
    return -1;
  for (int code = 0; code < N_CODES; code++) {
    const char *a = rl__grpc_status_names[code], *b = name;
    while (*a != '\0' && *a == ascii_upper((unsigned char)*b)) {
      a++;
      b++;
    }
    if (*a == '\0' && *b == '\0')
      return code;
  }
  return -1;
}

static int hex_value(uint8_t c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

void rl__grpc_message_decode(const uint8_t *in, size_t len, char *out,
                             size_t outlen) {
  size_t o = 0;
  if (outlen == 0)
    return;
  for (size_t i = 0; i < len && o + 1 < outlen; i++) {
    int hi, lo;
    if (in[i] == '%' && i + 2 < len && (hi = hex_value(in[i + 1])) >= 0 &&
        (lo = hex_value(in[i + 2])) >= 0) {
      uint8_t c = (uint8_t)(hi << 4 | lo);
      /* A control character would break the one-line error text. */
      out[o++] = (char)(c < 0x20 || c == 0x7f ? ' ' : c);
      i += 2;
    } else {
      out[o++] = (char)in[i];
    }
  }
  out[o] = '\0';
}

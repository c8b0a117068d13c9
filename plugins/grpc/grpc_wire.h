/*
 * grpc_wire: the small pieces of the gRPC-over-HTTP/2 protocol
 * (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md) that
 * are not HTTP/2 itself: message framing, the grpc-timeout header, binary
 * metadata, the HTTP status fallback, and gzip. No state, no I/O: the
 * plugin (grpc.c) and its tests call these. Status codes, their names and
 * grpc-message are lib/grpc_status's, shared with the reflection client.
 *
 * Errors are negative RL_ERR_* codes.
 */
#ifndef RL_GRPC_WIRE_H
#define RL_GRPC_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/grpc_status.h"

/* Length-prefixed message: 1 byte compressed flag, 4 bytes length (big
 * endian), the message. */
#define GRPC_FRAME_HEADER 5

/* The status a client reports when a response has an HTTP status other
 * than 200 and no grpc-status (the spec's HTTP-to-gRPC mapping). */
int grpc_code_from_http(int http_status);

/*
 * The grpc-timeout value for `ns` nanoseconds, into buf (at least 16
 * bytes): at most 8 digits and a unit, the finest unit that fits, rounded
 * up so the server never sees a shorter deadline than ours ("60000m",
 * "1500000u"). Returns buf.
 */
const char *grpc_timeout_format(uint64_t ns, char *buf, size_t len);

/*
 * Base64 without padding (what gRPC sends for "-bin" metadata values) of
 * `len` bytes into a new NUL-terminated string (caller frees), or NULL
 * when out of memory.
 */
char *grpc_base64_encode(const uint8_t *in, size_t len);

/*
 * Frames `len` bytes of message: a new buffer holding the 5-byte prefix and
 * the message, gzip-compressed (flag 1) when `gzip` is set. Returns 0 with
 * *out (caller frees) and *out_len, or RL_ERR_NOMEM / RL_ERR_INVAL.
 */
int grpc_frame_build(const uint8_t *msg, size_t len, int gzip, uint8_t **out,
                     size_t *out_len);

/*
 * Inflates a compressed message (gzip or zlib, told apart by their
 * headers) into a new buffer: 0 with *out (caller frees) and *out_len, or
 * RL_ERR_PROTO when the data is not valid, RL_ERR_NOMEM, RL_ERR_INVAL when
 * the result would pass `max` bytes.
 */
int grpc_gunzip(const uint8_t *in, size_t len, size_t max, uint8_t **out,
                size_t *out_len);

/*
 * A duration as the gRPC options take it (--stream-interval 100ms,
 * --stream-call-duration 1m30s, --keepalive 20s): numbers, each with a
 * unit (ns, us, ms, s, m, h), added up; a bare number is seconds; decimals
 * allowed ("0.5s", "1.5"). Returns 0 with *ns, or RL_ERR_INVAL.
 */
int grpc_parse_duration(const char *text, uint64_t *ns);

/*
 * A size as ghz takes it (--max-recv-message-size 4MiB): a whole number
 * with an optional unit, blanks allowed between: B; K, KB (1000), KiB
 * (1024); M, MB, MiB; G, GB, GiB; case ignored. Returns 0 with *bytes, or
 * RL_ERR_INVAL (also past 2^53).
 */
int grpc_parse_size(const char *text, uint64_t *bytes);

/*
 * Splits `len` bytes of count-prefixed messages (each a varint length,
 * then that many bytes: protobuf's writeDelimitedTo, ghz's -b) into at
 * most `max` pieces, their offsets in off[] and lengths in n[]. Returns
 * the number of pieces when the bytes split exactly (at least one), 0
 * when they do not (then they may be one bare message), or -1 when there
 * are more than max.
 */
int grpc_split_delimited(const uint8_t *data, size_t len, size_t *off,
                         size_t *n, size_t max);

/* "4 MiB", "512 KiB" or "1000 bytes": a size for error texts (the size
 * limits'). */
void grpc_size_text(size_t n, char *buf, size_t len);

#endif /* RL_GRPC_WIRE_H */

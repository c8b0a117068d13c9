/*
 * pbjson: protobuf messages from and to JSON, by the proto3 JSON mapping
 * (https://protobuf.dev/programming-guides/proto3/#json), over the run-time
 * descriptors of a pool (pbdesc.h).
 *
 * From JSON (what `-d '{...}'` and a scenario's message become):
 *   - fields by json_name ("userId") or by their .proto name ("user_id");
 *     a field named twice (once each way), or unknown, is an error;
 *   - int32/uint32/sint32/fixed32/sfixed32: a number or a decimal string;
 *     the 64-bit ones the same (a string keeps every digit); a number with
 *     an exponent or ".0" is accepted when it is integral;
 *   - float/double: a number, a numeric string, "NaN", "Infinity",
 *     "-Infinity"; a float out of float's range is an error;
 *   - bool: true/false; string: a JSON string; bytes: base64, standard or
 *     URL-safe, padded or not;
 *   - enums: the value's name or its number;
 *   - repeated: an array; maps: an object (keys: strings, integers in
 *     quotes, "true"/"false"); oneofs: at most one member per oneof;
 *   - null: the field's default (unset), except for google.protobuf.Value
 *     (null_value) and NullValue;
 *   - well-known types: Timestamp ("1972-01-01T10:00:20.021Z", any
 *     offset), Duration ("1.5s"), Struct/Value/ListValue (any JSON), the
 *     wrappers (the plain value), FieldMask ("a.b,cD"), Any ({"@type":
 *     "type.googleapis.com/pkg.T", ...}; the type must be in the pool),
 *     Empty ({}).
 * An error says which field and why, with the path as written in the JSON:
 *   field 'user.age': expected an integer, got string "x"
 *   field 'items[2].tags["k"]': unknown value "BLU" for enum a.Color (...)
 * Limits: strings cannot hold U+0000 (protobuf-c strings are C strings);
 * uint64 values above 2^63-1 must be written as strings (jansson's
 * numbers are signed 64-bit). Stricter than protobuf's own parsers: base64
 * with stray characters, a field given under both of its names, and a
 * proto2 required field left out are errors. Enum numbers are not checked
 * against the enum (proto3's enums are open; proto2's closed ones too).
 *
 * To JSON (decoded responses): the canonical form of the mapping: json_name
 * keys, fields at their default omitted, 64-bit integers as strings, enums
 * by name (number when unknown), bytes as standard base64, floats in the
 * shortest form that reads back the same (as protobuf's writers do), a
 * Timestamp in UTC with 0, 3, 6 or 9 fraction digits. A map whose wire
 * form repeats a key is written with the key repeated (JSON readers keep
 * the last one, as protobuf does).
 *
 * Messages made here are ordinary protobuf-c messages of the pool's types:
 * protobuf_c_message_pack() encodes them; free them with
 * rl__pb_message_free() (or protobuf_c_message_free_unpacked(m, NULL)).
 * Nothing here keeps state between calls: calls on one pool may run on
 * many threads at once.
 */
#ifndef RL_PBJSON_H
#define RL_PBJSON_H

#include <stddef.h>
#include <stdint.h>

#include "pbdesc.h"

/* Flags for rl__pb_to_json. */
enum {
  /* Also fields at their default value (singular scalars, empty repeated
   * fields and maps), as protobuf's including_default_value_fields. */
  RL_PB_JSON_EMIT_DEFAULTS = 1u << 0,
  /* Keys are the .proto's field names rather than json_name. */
  RL_PB_JSON_PROTO_NAMES = 1u << 1,
  /* Enum values as numbers rather than names. */
  RL_PB_JSON_ENUMS_AS_INTS = 1u << 2,
  /* Indented by two spaces, one member a line (default: compact). */
  RL_PB_JSON_PRETTY = 1u << 3
};

/*
 * A new message of type `desc` (from a pool), every field at its default.
 * Returns NULL when out of memory. Caller owns; rl__pb_message_free.
 */
ProtobufCMessage *rl__pb_message_new(const ProtobufCMessageDescriptor *desc);

/* Frees a message made by this module or decoded by protobuf-c with the
 * default allocator, and everything it holds. NULL is a no-op. */
void rl__pb_message_free(ProtobufCMessage *msg);

/*
 * Builds a message of type `desc` (a pool's) from JSON text (NUL-terminated;
 * borrowed for the call). `pool` resolves Any's @type (NULL: desc's own
 * pool). Returns 0 and the message in *out (caller owns; rl__pb_message_free),
 * or RL_ERR_INVAL with the field and the reason in err, or RL_ERR_NOMEM.
 */
int rl__pb_from_json(const rl__pb_pool *pool,
                     const ProtobufCMessageDescriptor *desc,
                     const char *json_text, ProtobufCMessage **out, char *err,
                     size_t errlen);

/* The same for `len` bytes of JSON (need not be NUL-terminated). */
int rl__pb_from_json_len(const rl__pb_pool *pool,
                         const ProtobufCMessageDescriptor *desc,
                         const char *json_text, size_t len,
                         ProtobufCMessage **out, char *err, size_t errlen);

/*
 * Writes `msg` (a message of a pool's type; borrowed) as JSON text, NUL-
 * terminated, in *json_text (caller owns; free()). `flags`: RL_PB_JSON_*.
 * Returns 0, or RL_ERR_INVAL when the message has no JSON form (a
 * Timestamp out of range, an Any whose type the pool lacks; err says which
 * field), or RL_ERR_NOMEM.
 */
int rl__pb_to_json(const rl__pb_pool *pool, const ProtobufCMessage *msg,
                   unsigned flags, char **json_text, char *err, size_t errlen);

/*
 * Encodes `msg` (borrowed) to its wire form in a new buffer: 0 with *bytes
 * (caller owns; free(); non-NULL even when *len is 0) and *len, or
 * RL_ERR_NOMEM.
 */
int rl__pb_encode(const ProtobufCMessage *msg, uint8_t **bytes, size_t *len);

/*
 * Decodes `len` wire bytes (borrowed) as a message of type `desc`: 0 with
 * the message in *out (caller owns; rl__pb_message_free), or RL_ERR_PROTO
 * with the reason in err.
 */
int rl__pb_decode(const ProtobufCMessageDescriptor *desc, const uint8_t *bytes,
                  size_t len, ProtobufCMessage **out, char *err, size_t errlen);

/* JSON text straight to wire bytes (from_json + encode): 0 with *bytes
 * (caller owns; free()) and *len, or the errors of rl__pb_from_json. */
int rl__pb_json_to_wire(const rl__pb_pool *pool,
                        const ProtobufCMessageDescriptor *desc,
                        const char *json_text, uint8_t **bytes, size_t *len,
                        char *err, size_t errlen);

#endif /* RL_PBJSON_H */

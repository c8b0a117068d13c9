/*
 * Fuzz target: protobuf to JSON (rl__pb_decode, then rl__pb_to_json: what
 * a gRPC response becomes for checks, captures and --json output): any
 * wire bytes a server may send, decoded by protobuf-c over run-time
 * descriptors and written by the proto3 JSON mapping (enums by name or
 * number, 64-bit integers, floats, bytes, maps, oneofs, the well-known
 * types' own forms). The schema is tests/data/pbtest.proto, from a
 * descriptor set protoc made at build time. The input's first byte picks
 * the message type (mod 8) and the flags (bits 3-6); the rest is the
 * message's wire bytes.
 *
 * Checked beyond "no crash": a refusal says why, and what is written is
 * JSON (jansson reads it back).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include <rpcload/plugin.h>

#include "grpc/pbdesc.h"
#include "grpc/pbjson.h"

static rl__pb_pool *pool;
static const ProtobufCMessageDescriptor *types[8];

static const char *const type_names[8] = {
    "rl.test.Scalars", "rl.test.Repeated", "rl.test.Nested",    "rl.test.Outer",
    "rl.test.Maps",    "rl.test.Oneofs",   "rl.test.Optionals", "rl.test.Wkt"};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  char err[1024];
  if (rl__pb_pool_new_from_file(RL_FUZZ_DATA_DIR "/pbtest.protoset", &pool, err,
                                sizeof err) != 0) {
    fprintf(stderr, "fuzz: %s\n", err);
    exit(1);
  }
  for (int i = 0; i < 8; i++)
    if ((types[i] = rl__pb_pool_find_message(pool, type_names[i])) == NULL) {
      fprintf(stderr, "fuzz: no type %s in pbtest.proto\n", type_names[i]);
      exit(1);
    }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  const ProtobufCMessageDescriptor *desc = types[data[0] & 7];
  unsigned flags = (data[0] >> 3) & 0xf;
  ProtobufCMessage *m = NULL;
  char err[512] = "";
  if (rl__pb_decode(desc, data + 1, size - 1, &m, err, sizeof err) != 0) {
    if (m != NULL || err[0] == '\0')
      abort();
    return 0;
  }
  char *json = NULL;
  if (rl__pb_to_json(pool, m, flags, &json, err, sizeof err) == 0) {
    json_error_t jerr;
    json_t *j = json_loads(json, JSON_DECODE_ANY, &jerr);
    if (j == NULL) {
      fprintf(stderr, "fuzz: not JSON (%s): %s\n", jerr.text, json);
      abort();
    }
    json_decref(j);
    free(json);
  } else if (err[0] == '\0') {
    abort();
  }
  rl__pb_message_free(m);
  return 0;
}

/*
 * Fuzz target: JSON to protobuf (rl__pb_from_json_len, what `-d '{...}'`
 * and a scenario's gRPC message become: the proto3 JSON mapping over
 * run-time descriptors, every scalar, nesting, repeated fields, maps,
 * oneofs, proto3 optional, the well-known types), then the message encoded
 * (rl__pb_encode) and written back as JSON (rl__pb_to_json). The schema is
 * tests/data/pbtest.proto, from a descriptor set protoc made at build time.
 * The input's first byte picks the message type (mod 8) and the output
 * flags (bits 3-6); the rest is the JSON text.
 *
 * Checked beyond "no crash": a refusal says why; an accepted message
 * encodes, decodes back, and its JSON (when it has one) is read back
 * without error.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

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
  int rc = rl__pb_from_json_len(pool, desc, (const char *)data + 1, size - 1,
                                &m, err, sizeof err);
  if (rc != 0) {
    if (m != NULL || (rc == RL_ERR_INVAL && err[0] == '\0'))
      abort();
    return 0;
  }
  uint8_t *wire = NULL;
  size_t len = 0;
  if (rl__pb_encode(m, &wire, &len) != 0)
    abort();
  ProtobufCMessage *back = NULL;
  if (rl__pb_decode(desc, wire, len, &back, err, sizeof err) != 0)
    abort(); /* what we encode must decode */
  rl__pb_message_free(back);
  free(wire);

  char *json = NULL;
  if (rl__pb_to_json(pool, m, flags, &json, err, sizeof err) == 0) {
    ProtobufCMessage *again = NULL;
    if (rl__pb_from_json(pool, desc, json, &again, err, sizeof err) != 0) {
      fprintf(stderr, "fuzz: our own JSON is refused: %s\n%s\n", err, json);
      abort();
    }
    rl__pb_message_free(again);
    free(json);
  } else if (err[0] == '\0') {
    abort();
  }
  rl__pb_message_free(m);
  return 0;
}

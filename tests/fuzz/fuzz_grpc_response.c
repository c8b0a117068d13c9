/*
 * Fuzz target: gRPC as the grpc plugin reads it (session_on_read: HTTP/2
 * through lib/h2session, then the gRPC layer: response headers and
 * trailers, grpc-status and grpc-message, the 5-byte message framing across
 * DATA frames, gzip, the receive limit, protobuf decoding and, when the
 * host asks for responses, the JSON of every message), through the plugin
 * ABI with the fake host (codec_fuzz.h: input = 2 bytes of settings, then
 * the server's frames). The service is examples/hello/hello.proto's, from
 * a descriptor set protoc made at build time; the steps cover each shape
 * of call: unary, server stream, client stream, bidirectional, and a
 * unary call with a 64-byte receive limit and a 50 ms deadline.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "codec_fuzz.h"

#define N_STEPS 5

static const rl_plugin *P;
static void *steps[N_STEPS];
static rl_conn_info info = {sizeof info, "h2", "example.com", 50051, 0};

/* A step calling `call` with `body`; the options after `call` are given
 * as n_extra pairs. */
static void *grpc_step(const char *call, const char *body, uint64_t timeout_ns,
                       const rl_kv *extra, size_t n_extra) {
  rl_kv opts[8];
  size_t n = 0;
  opts[n++] = (rl_kv){"call", call};
  opts[n++] = (rl_kv){"protoset", RL_FUZZ_DATA_DIR "/hello.protoset"};
  for (size_t i = 0; i < n_extra && n < 8; i++)
    opts[n++] = extra[i];
  rl_step_spec s;
  memset(&s, 0, sizeof s);
  s.struct_size = sizeof s;
  s.url = "grpc://example.com:50051";
  s.scheme = "grpc";
  s.host = "example.com";
  s.port = 50051;
  s.path = "/";
  s.body = (const uint8_t *)body;
  s.body_len = strlen(body);
  s.options = opts;
  s.n_options = n;
  s.timeout_ns = timeout_ns;
  return rl_fuzz_step(P, &s);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  P = rl_fuzz_codec_load(RL_FUZZ_PLUGIN_DIR "/grpc.so");
  steps[0] = grpc_step("SayHello", "{\"name\": \"{{user_id}}\"}", 0, NULL, 0);
  steps[1] = grpc_step("SayHelloStream", "{\"name\": \"a\", \"count\": 3}", 0,
                       NULL, 0);
  static const rl_kv client[] = {{"stream_call_count", "2"}};
  steps[2] = grpc_step("SayHelloToAll", "{\"name\": \"b\"}", 0, client, 1);
  static const rl_kv duplex[] = {{"stream_call_count", "3"},
                                 {"stream_interval", "10ms"}};
  steps[3] = grpc_step("SayHelloChat", "{\"name\": \"c\"}", 0, duplex, 2);
  static const rl_kv small[] = {{"max_recv_message_size", "64"}};
  steps[4] = grpc_step("SayHello", "{\"name\": \"d\"}", 50000000u, small, 1);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  rl_fuzz_codec_run(P, &info, steps, N_STEPS, data, size);
  return 0;
}

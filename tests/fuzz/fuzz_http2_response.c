/*
 * Fuzz target: HTTP/2 as the http2 plugin reads it (session_on_read:
 * nghttp2's client session over lib/h2session and h2codec, the plugin's
 * header, data and stream-close callbacks, responses collected for
 * checks), through the plugin ABI with the fake host (codec_fuzz.h: input
 * = 2 bytes of settings, then the server's frames, from its SETTINGS on;
 * up to three streams at once). Steps: GET, HEAD and a templated POST.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "codec_fuzz.h"

static const rl_plugin *P;
static void *steps[3];
static rl_conn_info info = {sizeof info, "h2", "example.com", 443, 1};

static rl_step_spec spec(const char *method, const char *path) {
  rl_step_spec s;
  memset(&s, 0, sizeof s);
  s.struct_size = sizeof s;
  s.url = "https://example.com/";
  s.scheme = "https";
  s.host = "example.com";
  s.port = 443;
  s.tls = 1;
  s.path = path;
  s.method = method;
  return s;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  P = rl_fuzz_codec_load(RL_FUZZ_PLUGIN_DIR "/http2.so");
  rl_step_spec get = spec(NULL, "/");
  steps[0] = rl_fuzz_step(P, &get);
  rl_step_spec head = spec("HEAD", "/items");
  steps[1] = rl_fuzz_step(P, &head);
  static const char body[] = "{\"user\": {{user_id}}}";
  rl_step_spec post = spec("POST", "/items/{{seq}}");
  post.body = (const uint8_t *)body;
  post.body_len = sizeof body - 1;
  steps[2] = rl_fuzz_step(P, &post);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  rl_fuzz_codec_run(P, &info, steps, 3, data, size);
  return 0;
}

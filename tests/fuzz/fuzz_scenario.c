/*
 * Fuzz target: scenario files (rl__scn_parse_string: libyaml with the
 * prescan that bounds depth and size, the schema, steps, expect/capture,
 * variables, YAML to JSON bodies), as `rpcload -f FILE` reads them before
 * any plugin is asked.
 *
 * Checked beyond "no crash": a refused file gets an error that starts
 * with the file's name (docs/scenarios.md: "file:line:col: message", or
 * "file: message" without a position), and a parse either gives a
 * scenario or nothing.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <rpcload/plugin.h>

#include "scenario/scenario.h"

#define NAME "fuzz.yaml"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  rl__scn *s = NULL;
  char err[1024] = "";
  int rc =
      rl__scn_parse_string((const char *)data, size, NAME, &s, err, sizeof err);
  if (rc == 0) {
    if (s == NULL)
      abort();
    rl__scn_del(s);
  } else {
    if (s != NULL)
      abort();
    if (rc == RL_ERR_INVAL && strncmp(err, NAME ":", sizeof NAME) != 0)
      abort();
  }
  return 0;
}

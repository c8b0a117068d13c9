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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rpcload/plugin.h>

#include "scenario/scenario.h"

/* Named as if it lay beside examples/scenarios/shoppers.csv, so that a
 * data: file it names relatively is found (the seeds shop_data.yaml). */
#define NAME RL_FUZZ_SOURCE_DIR "/examples/scenarios/fuzz.yaml"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  rl__scn *s = NULL;
  char err[1024] = "";
  int rc =
      rl__scn_parse_string((const char *)data, size, NAME, &s, err, sizeof err);
  /* RL_FUZZ_TRACE set: what became of each input (for writing seeds). */
  static int trace = -1;
  if (trace < 0)
    trace = getenv("RL_FUZZ_TRACE") != NULL;
  if (trace)
    fprintf(stderr, "fuzz: %s\n", rc == 0 ? "parsed" : err);
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

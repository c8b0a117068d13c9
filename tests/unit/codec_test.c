#include "unit/codec_test.h"

#include <stdio.h>

int rl_codec_test_load(rl_fake_host *fh, rl__plugin_set *set, const char *path,
                       void (*violation)(const char *what),
                       const rl_plugin **out) {
  char err[1024];
  rl__plugin *p;
  /* The host first: cases without a fixture (and the loader) use it. */
  rl_fake_host_init(fh);
  fh->on_violation = violation;
  rl__plugin_set_init(set, &fh->host);
  if (rl__plugin_set_load(set, path, &p, err, sizeof err) != 0) {
    fprintf(stderr, "%s\n", err);
    return -1;
  }
  *out = &p->desc;
  return 0;
}

void rl_codec_test_unload(rl_fake_host *fh, rl__plugin_set *set) {
  /* The host first: the user states it still holds go to the plugins'
   * del, which must still be loaded. */
  rl_fake_host_free(fh);
  rl__plugin_set_free(set);
}

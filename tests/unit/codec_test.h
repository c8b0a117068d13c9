/*
 * What every codec test does first: a fake host (fake_host.h) that fails
 * the test on a broken contract, and the plugin under test loaded from the
 * build tree through rpcload's own loader, so that it also passes the
 * loader's checks (entry symbol, ABI, size, required members).
 */
#ifndef RL_TEST_CODEC_TEST_H
#define RL_TEST_CODEC_TEST_H

#include <rpcload/fake_host.h>
#include <rpcload/plugin.h>

#include "engine/plugin_loader.h"

/*
 * Sets up `fh` (contract breaches go to `violation`) and loads the plugin
 * at `path` into `set` (both the caller's, set up here), its descriptor in
 * *out. Returns 0, or -1 with the loader's reason printed (the caller's
 * group setup fails). Undo with rl_codec_test_unload.
 */
int rl_codec_test_load(rl_fake_host *fh, rl__plugin_set *set, const char *path,
                       void (*violation)(const char *what),
                       const rl_plugin **out);

/* Frees `fh` (the user states it holds go to the plugins' del), then
 * unloads the plugins of `set`. */
void rl_codec_test_unload(rl_fake_host *fh, rl__plugin_set *set);

#endif /* RL_TEST_CODEC_TEST_H */

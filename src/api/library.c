/* librpcload.so's own translation unit: the library is the core's
 * objects (linked whole); this file only holds what is the shared
 * library's alone. */
#include <rpcload/rpcload.h>

/* The API version the shared object was built with, for a loader that
 * checks it before calling anything (ctypes, dlopen): the same as
 * rl_api_version(). */
const uint32_t rl_api_version_built = RL_API_VERSION;

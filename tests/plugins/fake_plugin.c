/*
 * A minimal codec plugin the loader test builds in several broken variants
 * (one compile definition each), to check that the loader refuses every
 * one with a message naming the file and what is wrong:
 *   FAKE_GOOD            a correct plugin (scheme "fake")
 *   FAKE_WRONG_MAJOR     built for ABI 2.0
 *   FAKE_SHORT           descriptor shorter than ABI 1.0's
 *   FAKE_NO_ENTRY        exports no rl_plugin_entry
 *   FAKE_NO_STEP_NEW     required step_new missing
 *   FAKE_TRANSPORT       a transport plugin without its transport_* members
 *   FAKE_OLD_TRANSPORT   a transport plugin with an ABI 1.0-sized descriptor
 *   FAKE_NEWER_MINOR     ABI 1.99 with a longer descriptor (must load)
 */
#include <stdlib.h>

#include <rpcload/plugin.h>

#ifdef __GNUC__
__attribute__((unused))
#endif
static int
step_new(const rl_host *host, const rl_step_spec *spec, void **step, char *err,
         size_t errlen) {
  (void)host;
  (void)spec;
  (void)err;
  (void)errlen;
  *step = malloc(1);
  return *step ? 0 : RL_ERR_NOMEM;
}
static void step_del(void *step) { free(step); }
static void step_describe(void *step, const char **type, const char **name) {
  (void)step;
  *type = "fake";
  *name = "fake";
}
static int session_new(const rl_host *host, rl_conn *conn,
                       const rl_conn_info *info, void **session) {
  (void)host;
  (void)conn;
  (void)info;
  *session = NULL;
  return 0;
}
static int session_submit(void *session, rl_request *req) {
  (void)session;
  (void)req;
  return RL_ERR_UNSUPPORTED;
}
static int session_on_read(void *session, const uint8_t *data, size_t len) {
  (void)session;
  (void)data;
  (void)len;
  return RL_ERR_PROTO;
}
static void session_del(void *session, int err, const char *reason) {
  (void)session;
  (void)err;
  (void)reason;
}

static const rl_scheme schemes[] = {{"fake", 9, 0}, {NULL, 0, 0}};

#ifdef FAKE_NEWER_MINOR
/* What a plugin built against a newer minor header looks like: the same
 * members, then more at the end. */
struct newer {
  rl_plugin v1;
  void (*added_later)(void);
};
static const struct newer desc =
    {
        .v1 =
#else
static const rl_plugin desc =
#endif
            {
#if defined(FAKE_WRONG_MAJOR)
                .abi_version = (2u << 16) | 0u,
#elif defined(FAKE_NEWER_MINOR)
        .abi_version = (RL_ABI_MAJOR << 16) | 99u,
#else
    .abi_version = RL_ABI_VERSION,
#endif
#if defined(FAKE_SHORT)
                .struct_size = (uint32_t)offsetof(rl_plugin, session_new),
#elif defined(FAKE_OLD_TRANSPORT)
        .struct_size = (uint32_t)RL_PLUGIN_MIN_SIZE,
#elif defined(FAKE_NEWER_MINOR)
    .struct_size = sizeof(struct newer),
#else
    .struct_size = sizeof(rl_plugin),
#endif
                .name = "fake",
                .version = "9.9.9",
                .summary = "a plugin for the loader test",
                .schemes = schemes,
#if defined(FAKE_TRANSPORT) || defined(FAKE_OLD_TRANSPORT)
                .kind = RL_PLUGIN_TRANSPORT,
#else
        .kind = RL_PLUGIN_CODEC,
#endif
#ifndef FAKE_NO_STEP_NEW
                .step_new = step_new,
#endif
                .step_del = step_del,
                .session_new = session_new,
                .session_submit = session_submit,
                .session_on_read = session_on_read,
                .session_del = session_del,
                .step_describe = step_describe,
            }
#ifdef FAKE_NEWER_MINOR
        ,
        .added_later = NULL,
}
#endif
;

#ifndef FAKE_NO_ENTRY
RL_EXPORT const rl_plugin *rl_plugin_entry(void);
RL_EXPORT const rl_plugin *rl_plugin_entry(void) {
  return (const rl_plugin *)&desc;
}
#else
RL_EXPORT const void *not_the_entry(void);
RL_EXPORT const void *not_the_entry(void) { return &desc; }
#endif

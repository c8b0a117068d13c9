/*
 * Finding, loading and checking protocol plugins (.so files).
 *
 * A plugin is found by path (anything containing '/' or ending in ".so") or
 * by name (NAME.so in the search directories, in order: directories added
 * with rl__plugin_set_add_dir, then RPCLOAD_PLUGIN_PATH, then the build
 * tree's plugins/ beside the executable, then ../lib/rpcload/plugins beside
 * it, then the compiled-in install directory). The first file with a name
 * wins. A plugin is refused, naming the file and both versions, when its
 * entry symbol is missing, its ABI major differs from the host's, its
 * descriptor is shorter than ABI 1.0's, or a required member is missing.
 */
#ifndef RL_PLUGIN_LOADER_H
#define RL_PLUGIN_LOADER_H

#include <stddef.h>

#include <rpcload/plugin.h>

typedef struct rl__plugin {
  char *path; /* owned */
  void *dl;   /* dlopen handle */
  /* A copy of the descriptor, zero-filled past the plugin's struct_size, so
   * members a plugin built for an older minor lacks read as NULL. */
  rl_plugin desc;
  int inited;          /* desc.init has run successfully */
  const rl_host *host; /* the set's: what every callback is handed */
} rl__plugin;

typedef struct rl__plugin_set {
  rl__plugin **items;
  size_t n, cap;
  char **dirs; /* search path, owned */
  size_t ndirs, dircap;
  int defaults_added;
  const rl_host *host; /* borrowed */
} rl__plugin_set;

/* An empty set whose plugins get `host` (borrowed; it must outlive the
 * set: the core's rl__host(), or a test's own) in every callback. */
void rl__plugin_set_init(rl__plugin_set *set, const rl_host *host);

/* Unloads every plugin (fini first, for those initialised) and frees the
 * set's memory. Every step and session must be gone. */
void rl__plugin_set_free(rl__plugin_set *set);

/* Appends a search directory (copied). Directories added before the first
 * lookup come before the defaults. */
int rl__plugin_set_add_dir(rl__plugin_set *set, const char *dir);

/*
 * Loads the plugin NAME (searched) or PATH. Returns 0 and the plugin (owned
 * by the set) in *out, or a negative code with the reason in err. Loading
 * the same file twice returns the first.
 */
int rl__plugin_set_load(rl__plugin_set *set, const char *name_or_path,
                        rl__plugin **out, char *err, size_t errlen);

/*
 * Adds a plugin whose descriptor is already in memory instead of in a .so
 * file: a test's fake, or a plugin linked into the program. `desc` is
 * checked as a loaded plugin's is and copied; what it points to (names,
 * schemes, callbacks) is borrowed and must outlive the set. `label`
 * (copied) stands for the file in messages and in p->path. Returns 0 and
 * the plugin (owned by the set) in *out, or a negative code with the
 * reason in err. A name already in the set returns the plugin there, as
 * loading does.
 */
int rl__plugin_set_add(rl__plugin_set *set, const rl_plugin *desc,
                       const char *label, rl__plugin **out, char *err,
                       size_t errlen);

/*
 * Loads every *.so in the search directories. Files that are refused are
 * reported through `on_refused(path, reason, arg)` (may be NULL) and skipped.
 */
void rl__plugin_set_scan(rl__plugin_set *set,
                         void (*on_refused)(const char *path,
                                            const char *reason, void *arg),
                         void *arg);

/* The first loaded plugin serving URL scheme `scheme`, or NULL. */
rl__plugin *rl__plugin_set_find_scheme(rl__plugin_set *set, const char *scheme);

/* 1 when scenario steps name `p`'s protocol with `key`: a key it declares
 * (ABI 1.3 step_keys), or else one of its scheme names. */
int rl__plugin_serves_key(const rl__plugin *p, const char *key);

/* The first loaded plugin serving the step key `key`, or NULL. */
rl__plugin *rl__plugin_set_find_key(rl__plugin_set *set, const char *key);

/* `p`'s declaration of the step option `key` (ABI 1.3), or NULL. */
const rl_option_decl *rl__plugin_step_option(const rl__plugin *p,
                                             const char *key);

/* Runs the plugin's init once (with its set's host table). 0 or its
 * error. */
int rl__plugin_init(rl__plugin *p);

/* The scheme entry of `p` named `scheme`, or NULL. */
const rl_scheme *rl__plugin_scheme(const rl__plugin *p, const char *scheme);

#endif /* RL_PLUGIN_LOADER_H */

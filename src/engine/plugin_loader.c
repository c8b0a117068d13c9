/* dladdr: where librpcload.so was loaded from. */
#define _GNU_SOURCE // NOLINT(bugprone-reserved-identifier): glibc asks for it
#include "engine/plugin_loader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef RL_PLUGIN_INSTALL_RELDIR
#define RL_PLUGIN_INSTALL_RELDIR "lib/rpcload/plugins"
#endif
#ifndef RL_PLUGIN_INSTALL_DIR
#define RL_PLUGIN_INSTALL_DIR "/usr/local/lib/rpcload/plugins"
#endif

/* Error texts may be cut to the caller's buffer: that is intended, so they
 * go through vsnprintf, which the compiler does not second-guess. */
__attribute__((format(printf, 3, 4))) static int errf(char *err, size_t errlen,
                                                      const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): va_start is above
  int n = vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return n;
}

void rl__plugin_set_init(rl__plugin_set *set, const rl_host *host) {
  memset(set, 0, sizeof *set);
  set->host = host;
}

static void plugin_unload(rl__plugin *p) {
  if (p->inited && p->desc.fini_host)
    p->desc.fini_host(p->host);
  else if (p->inited && p->desc.fini)
    p->desc.fini();
  if (p->dl)
    dlclose(p->dl);
  free(p->path);
  free(p);
}

void rl__plugin_set_free(rl__plugin_set *set) {
  for (size_t i = 0; i < set->n; i++)
    plugin_unload(set->items[i]);
  for (size_t i = 0; i < set->ndirs; i++)
    free(set->dirs[i]);
  free(set->items);
  free(set->dirs);
  memset(set, 0, sizeof *set);
}

static int push_dir(rl__plugin_set *set, const char *dir) {
  if (!dir || !*dir)
    return 0;
  if (set->ndirs == set->dircap) {
    size_t cap = set->dircap ? set->dircap * 2 : 8;
    char **d = realloc(set->dirs, cap * sizeof *d);
    if (!d)
      return RL_ERR_NOMEM;
    set->dirs = d;
    set->dircap = cap;
  }
  char *copy = strdup(dir);
  if (!copy)
    return RL_ERR_NOMEM;
  set->dirs[set->ndirs++] = copy;
  return 0;
}

int rl__plugin_set_add_dir(rl__plugin_set *set, const char *dir) {
  return push_dir(set, dir);
}

/* The defaults go after the user's directories, added on first lookup. */
static void add_default_dirs(rl__plugin_set *set) {
  if (set->defaults_added)
    return;
  set->defaults_added = 1;
  const char *env = getenv("RPCLOAD_PLUGIN_PATH");
  if (env) {
    char *copy = strdup(env);
    for (char *save = NULL, *d = copy ? strtok_r(copy, ":", &save) : NULL; d;
         d = strtok_r(NULL, ":", &save))
      push_dir(set, d);
    free(copy);
  }
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) {
      char dir[PATH_MAX + 32];
      *slash = 0;
      snprintf(dir, sizeof dir, "%s/plugins", exe);
      push_dir(set, dir);
      snprintf(dir, sizeof dir, "%s/../%s", exe, RL_PLUGIN_INSTALL_RELDIR);
      push_dir(set, dir);
      *slash = '/';
    }
  }
  /* Inside librpcload.so (an embedding program, the Python module): the
   * plugins installed beside the library, LIBDIR/rpcload/plugins, wherever
   * the prefix went. Linked into the executable, this is the exe again. */
  Dl_info info;
  if (dladdr((void *)add_default_dirs, &info) && info.dli_fname &&
      (n <= 0 || strcmp(info.dli_fname, exe) != 0)) {
    const char *slash = strrchr(info.dli_fname, '/');
    if (slash) {
      char dir[PATH_MAX + 32];
      snprintf(dir, sizeof dir, "%.*s/rpcload/plugins",
               (int)(slash - info.dli_fname), info.dli_fname);
      push_dir(set, dir);
    }
  }
  push_dir(set, RL_PLUGIN_INSTALL_DIR);
}

static const char *required_missing(const rl_plugin *d) {
  if (!d->name || !*d->name)
    return "name";
  if (!d->version)
    return "version";
  if (!d->schemes)
    return "schemes";
  if (!d->step_new)
    return "step_new";
  if (!d->step_del)
    return "step_del";
  if (!d->step_describe)
    return "step_describe";
  if (d->kind == RL_PLUGIN_TRANSPORT) {
    if (!d->transport_new)
      return "transport_new";
    if (!d->transport_submit)
      return "transport_submit";
    if (!d->transport_del)
      return "transport_del";
  }
  if (d->kind == RL_PLUGIN_CODEC) {
    if (!d->session_new)
      return "session_new";
    if (!d->session_submit)
      return "session_submit";
    if (!d->session_on_read)
      return "session_on_read";
    if (!d->session_del)
      return "session_del";
  }
  return NULL;
}

/* Checks descriptor `d` (from file or label `path`) and copies it into a
 * new plugin the caller owns in *out, keeping `dl` (may be NULL: a
 * descriptor in memory). On failure `dl` is closed. */
static int plugin_from_desc(const char *path, void *dl, const rl_plugin *d,
                            rl__plugin **out, char *err, size_t errlen) {
  if (RL_ABI_VERSION_MAJOR(d->abi_version) != RL_ABI_MAJOR) {
    errf(err, errlen,
         "plugin %s was built for plugin ABI %u.%u, this rpcload speaks "
         "ABI %u.%u: rebuild the plugin against this rpcload's "
         "<rpcload/plugin.h>",
         path, RL_ABI_VERSION_MAJOR(d->abi_version),
         RL_ABI_VERSION_MINOR(d->abi_version), (unsigned)RL_ABI_MAJOR,
         (unsigned)RL_ABI_MINOR);
    if (dl)
      dlclose(dl);
    return RL_ERR_ABI;
  }
  if (d->struct_size < RL_PLUGIN_MIN_SIZE) {
    errf(err, errlen,
         "plugin %s: its descriptor is %u bytes, plugin ABI %u.%u needs at "
         "least %zu (built against an incompatible header?)",
         path, d->struct_size, RL_ABI_VERSION_MAJOR(d->abi_version),
         RL_ABI_VERSION_MINOR(d->abi_version), (size_t)RL_PLUGIN_MIN_SIZE);
    if (dl)
      dlclose(dl);
    return RL_ERR_ABI;
  }
  rl__plugin *p = calloc(1, sizeof *p);
  if (!p || !(p->path = strdup(path))) {
    free(p);
    if (dl)
      dlclose(dl);
    errf(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  p->dl = dl;
  memcpy(&p->desc, d,
         d->struct_size < sizeof p->desc ? d->struct_size : sizeof p->desc);
  const char *missing = required_missing(&p->desc);
  size_t transport_size =
      offsetof(rl_plugin, transport_del) + sizeof(p->desc.transport_del);
  if (p->desc.kind != RL_PLUGIN_CODEC && p->desc.kind != RL_PLUGIN_TRANSPORT) {
    errf(err, errlen, "plugin %s: unknown plugin kind %u", path, p->desc.kind);
    plugin_unload(p);
    return RL_ERR_UNSUPPORTED;
  }
  if (p->desc.kind == RL_PLUGIN_TRANSPORT && d->struct_size < transport_size) {
    errf(err, errlen,
         "plugin %s is a transport plugin but its descriptor (%u bytes, ABI "
         "%u.%u) lacks the transport members of ABI 1.1",
         path, d->struct_size, RL_ABI_VERSION_MAJOR(d->abi_version),
         RL_ABI_VERSION_MINOR(d->abi_version));
    plugin_unload(p);
    return RL_ERR_ABI;
  }
  if (missing) {
    errf(err, errlen, "plugin %s: required descriptor member '%s' is not set",
         path, missing);
    plugin_unload(p);
    return RL_ERR_ABI;
  }
  *out = p;
  return 0;
}

/* Opens and checks one file. On success *out is a new plugin the caller
 * owns. */
static int plugin_open(const char *path, rl__plugin **out, char *err,
                       size_t errlen) {
  void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!dl) {
    errf(err, errlen, "cannot load plugin %s: %s", path, dlerror());
    return RL_ERR_NOTFOUND;
  }
  /* dlsym returns void *; POSIX guarantees the conversion to a function
   * pointer works, C11 does not, hence the memcpy. */
  void *sym = dlsym(dl, RL_PLUGIN_ENTRY_SYMBOL);
  rl_plugin_entry_fn entry;
  if (!sym) {
    errf(err, errlen, "%s is not an rpcload plugin: it has no symbol %s", path,
         RL_PLUGIN_ENTRY_SYMBOL);
    dlclose(dl);
    return RL_ERR_ABI;
  }
  memcpy(&entry, &sym, sizeof entry);
  const rl_plugin *d = entry();
  if (!d) {
    errf(err, errlen, "plugin %s: %s() returned NULL", path,
         RL_PLUGIN_ENTRY_SYMBOL);
    dlclose(dl);
    return RL_ERR_ABI;
  }
  return plugin_from_desc(path, dl, d, out, err, errlen);
}

static rl__plugin *find_loaded(rl__plugin_set *set, const char *path,
                               const char *name) {
  for (size_t i = 0; i < set->n; i++) {
    if (path && strcmp(set->items[i]->path, path) == 0)
      return set->items[i];
    if (name && strcmp(set->items[i]->desc.name, name) == 0)
      return set->items[i];
  }
  return NULL;
}

static int keep(rl__plugin_set *set, rl__plugin *p) {
  if (set->n == set->cap) {
    size_t cap = set->cap ? set->cap * 2 : 8;
    rl__plugin **items = realloc(set->items, cap * sizeof(rl__plugin *));
    if (!items)
      return RL_ERR_NOMEM;
    set->items = items;
    set->cap = cap;
  }
  p->host = set->host;
  set->items[set->n++] = p;
  return 0;
}

static int load_path(rl__plugin_set *set, const char *path, rl__plugin **out,
                     char *err, size_t errlen) {
  char real[PATH_MAX];
  if (!realpath(path, real)) {
    errf(err, errlen, "plugin %s: no such file", path);
    return RL_ERR_NOTFOUND;
  }
  rl__plugin *p = find_loaded(set, real, NULL);
  if (p) {
    *out = p;
    return 0;
  }
  int rc = plugin_open(real, &p, err, errlen);
  if (rc)
    return rc;
  rl__plugin *same = find_loaded(set, NULL, p->desc.name);
  if (same) {
    /* Two files with one name: the earlier directory wins, as PATH does. */
    plugin_unload(p);
    *out = same;
    return 0;
  }
  if ((rc = keep(set, p))) {
    plugin_unload(p);
    errf(err, errlen, "out of memory");
    return rc;
  }
  *out = p;
  return 0;
}

int rl__plugin_set_add(rl__plugin_set *set, const rl_plugin *desc,
                       const char *label, rl__plugin **out, char *err,
                       size_t errlen) {
  rl__plugin *same = find_loaded(set, NULL, desc->name ? desc->name : "");
  if (same) {
    *out = same;
    return 0;
  }
  rl__plugin *p;
  int rc = plugin_from_desc(label, NULL, desc, &p, err, errlen);
  if (rc)
    return rc;
  if ((rc = keep(set, p))) {
    plugin_unload(p);
    errf(err, errlen, "out of memory");
    return rc;
  }
  *out = p;
  return 0;
}

int rl__plugin_set_load(rl__plugin_set *set, const char *name_or_path,
                        rl__plugin **out, char *err, size_t errlen) {
  size_t len = strlen(name_or_path);
  if (strchr(name_or_path, '/') ||
      (len > 3 && strcmp(name_or_path + len - 3, ".so") == 0))
    return load_path(set, name_or_path, out, err, errlen);
  rl__plugin *p = find_loaded(set, NULL, name_or_path);
  if (p) {
    *out = p;
    return 0;
  }
  add_default_dirs(set);
  for (size_t i = 0; i < set->ndirs; i++) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s.so", set->dirs[i], name_or_path);
    if (access(path, F_OK) == 0)
      return load_path(set, path, out, err, errlen);
  }
  int off = errf(err, errlen, "plugin '%s' not found in:", name_or_path);
  for (size_t i = 0; i < set->ndirs && off > 0 && (size_t)off < errlen; i++)
    off += errf(err + off, errlen - (size_t)off, " %s", set->dirs[i]);
  return RL_ERR_NOTFOUND;
}

void rl__plugin_set_scan(rl__plugin_set *set,
                         void (*on_refused)(const char *, const char *, void *),
                         void *arg) {
  add_default_dirs(set);
  for (size_t i = 0; i < set->ndirs; i++) {
    DIR *d = opendir(set->dirs[i]);
    if (!d)
      continue;
    /* readdir order is arbitrary: sort so the listing is stable. */
    char **names = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent *e; (e = readdir(d));) {
      size_t len = strlen(e->d_name);
      if (len <= 3 || strcmp(e->d_name + len - 3, ".so") != 0)
        continue;
      if (n == cap) {
        cap = cap ? cap * 2 : 16;
        char **nn = realloc(names, cap * sizeof *nn);
        if (!nn)
          break;
        names = nn;
      }
      if ((names[n] = strdup(e->d_name)))
        n++;
    }
    closedir(d);
    for (size_t a = 1; a < n; a++)
      for (size_t b = a; b > 0 && strcmp(names[b - 1], names[b]) > 0; b--) {
        char *t = names[b];
        names[b] = names[b - 1];
        names[b - 1] = t;
      }
    for (size_t k = 0; k < n; k++) {
      char path[PATH_MAX], err[512];
      rl__plugin *p;
      snprintf(path, sizeof path, "%s/%s", set->dirs[i], names[k]);
      if (load_path(set, path, &p, err, sizeof err) != 0 && on_refused)
        on_refused(path, err, arg);
      free(names[k]);
    }
    free(names);
  }
}

const rl_scheme *rl__plugin_scheme(const rl__plugin *p, const char *scheme) {
  for (const rl_scheme *s = p->desc.schemes; s && s->name; s++)
    if (strcmp(s->name, scheme) == 0)
      return s;
  return NULL;
}

rl__plugin *rl__plugin_set_find_scheme(rl__plugin_set *set,
                                       const char *scheme) {
  for (size_t i = 0; i < set->n; i++)
    if (rl__plugin_scheme(set->items[i], scheme))
      return set->items[i];
  return NULL;
}

int rl__plugin_serves_key(const rl__plugin *p, const char *key) {
  if (p->desc.step_keys) {
    for (const char *const *k = p->desc.step_keys; *k; k++)
      if (strcmp(*k, key) == 0)
        return 1;
    return 0;
  }
  return rl__plugin_scheme(p, key) != NULL;
}

rl__plugin *rl__plugin_set_find_key(rl__plugin_set *set, const char *key) {
  for (size_t i = 0; i < set->n; i++)
    if (rl__plugin_serves_key(set->items[i], key))
      return set->items[i];
  return NULL;
}

const rl_option_decl *rl__plugin_step_option(const rl__plugin *p,
                                             const char *key) {
  for (const rl_option_decl *o = p->desc.step_options; o && o->key; o++)
    if (strcmp(o->key, key) == 0)
      return o;
  return NULL;
}

int rl__plugin_init(rl__plugin *p) {
  if (p->inited)
    return 0;
  if (p->desc.init) {
    int rc = p->desc.init(p->host);
    if (rc)
      return rc;
  }
  p->inited = 1;
  return 0;
}

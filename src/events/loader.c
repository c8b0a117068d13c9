/* Loading and checking listener plugins; the table's life. */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events/events.h"

/* Error texts may be cut to the caller's buffer: that is intended, so they
 * go through vsnprintf, which the compiler does not second-guess. */
__attribute__((format(printf, 3, 4))) static void errf(char *err, size_t errlen,
                                                       const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

static void listener_del(rl__listener *l) {
  if (l->inited && l->desc.fini)
    l->desc.fini(l->state);
  for (size_t i = 0; i < l->n_options; i++) {
    free((char *)l->options[i].key);
    free((char *)l->options[i].value);
  }
  free(l->options);
  if (l->dl)
    dlclose(l->dl);
  free(l->path);
  free(l);
}

void rl__events_free(rl__events *ev) {
  /* fini in the reverse order of init: a later listener may lean on an
   * earlier one's messages. */
  for (size_t i = ev->n; i-- > 0;)
    listener_del(ev->items[i]);
  free(ev->items);
  ev->items = NULL;
  ev->n = 0;
  for (size_t i = 0; i < ev->nhandlers; i++)
    free(ev->handlers[i].type);
  free(ev->handlers);
  rl__events_deliver_errors(ev); /* frees what is queued, none to hear */
  for (rl__events_msg *m = rl__events_take_sent(ev), *next; m; m = next) {
    next = m->next;
    rl__events_msg_del(m);
  }
  rl__events_nodes_free(ev->nodes);
  for (rl__events_msg *m = ev->received, *next; m; m = next) {
    next = m->next;
    rl__events_msg_del(m);
  }
  for (size_t i = 0; i < ev->nseen; i++) {
    free(ev->seen[i].type);
    free(ev->seen[i].name);
  }
  free(ev->seen);
  free(ev->rows);
  pthread_mutex_destroy(&ev->lock);
  memset(ev, 0, sizeof *ev);
}

static const char *required_missing(const rl_listener *d) {
  if (!d->name || !*d->name)
    return "name";
  if (!d->version)
    return "version";
  return NULL;
}

/* Checks `d` (from file or label `path`), copies it into a new listener
 * appended to the table, keeping `dl` (NULL: in memory; closed on
 * failure). */
static int from_desc(rl__events *ev, const char *path, void *dl,
                     const rl_listener *d, rl__listener **out, char *err,
                     size_t errlen) {
  int rc = RL_ERR_ABI;
  rl__listener *l = NULL;
  if (RL_ABI_VERSION_MAJOR(d->abi_version) != RL_LISTENER_ABI_MAJOR) {
    errf(err, errlen,
         "listener %s was built for listener ABI %u.%u, this rpcload speaks "
         "ABI %u.%u: rebuild it against this rpcload's <rpcload/listener.h>",
         path, RL_ABI_VERSION_MAJOR(d->abi_version),
         RL_ABI_VERSION_MINOR(d->abi_version), (unsigned)RL_LISTENER_ABI_MAJOR,
         (unsigned)RL_LISTENER_ABI_MINOR);
    goto fail;
  }
  if (d->struct_size < RL_LISTENER_MIN_SIZE) {
    errf(err, errlen,
         "listener %s: its descriptor is %u bytes, listener ABI %u.%u needs "
         "at least %zu (built against an incompatible header?)",
         path, d->struct_size, RL_ABI_VERSION_MAJOR(d->abi_version),
         RL_ABI_VERSION_MINOR(d->abi_version), (size_t)RL_LISTENER_MIN_SIZE);
    goto fail;
  }
  const char *missing = required_missing(d);
  if (missing) {
    errf(err, errlen, "listener %s: required descriptor member '%s' is not set",
         path, missing);
    goto fail;
  }
  rc = RL_ERR_NOMEM;
  rl__listener **items =
      realloc(ev->items, (ev->n + 1) * sizeof(rl__listener *));
  if (!items)
    goto nomem;
  ev->items = items;
  if (!(l = calloc(1, sizeof *l)) || !(l->path = strdup(path)))
    goto nomem;
  l->dl = dl;
  memcpy(&l->desc, d,
         d->struct_size < sizeof l->desc ? d->struct_size : sizeof l->desc);
  ev->items[ev->n++] = l;
  ev->any_request |= l->desc.on_request != NULL;
  ev->any_response |= l->desc.on_request != NULL && l->desc.wants_response;
  ev->any_report |= l->desc.report != NULL;
  ev->any_user_error |= l->desc.user_error != NULL;
  *out = l;
  return 0;
nomem:
  errf(err, errlen, "out of memory");
  free(l);
fail:
  if (dl)
    dlclose(dl);
  return rc;
}

int rl__events_load(rl__events *ev, const char *path, rl__listener **out,
                    char *err, size_t errlen) {
  void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!dl) {
    errf(err, errlen, "cannot load listener %s: %s", path, dlerror());
    return RL_ERR_NOTFOUND;
  }
  /* dlsym returns void *; POSIX guarantees the conversion to a function
   * pointer works, C11 does not, hence the memcpy. */
  void *sym = dlsym(dl, RL_LISTENER_ENTRY_SYMBOL);
  if (!sym) {
    errf(err, errlen, "%s is not an rpcload listener: it has no symbol %s",
         path, RL_LISTENER_ENTRY_SYMBOL);
    dlclose(dl);
    return RL_ERR_ABI;
  }
  rl_listener_entry_fn entry;
  memcpy(&entry, &sym, sizeof entry);
  const rl_listener *d = entry();
  if (!d) {
    errf(err, errlen, "listener %s: %s() returned NULL", path,
         RL_LISTENER_ENTRY_SYMBOL);
    dlclose(dl);
    return RL_ERR_ABI;
  }
  return from_desc(ev, path, dl, d, out, err, errlen);
}

int rl__events_add(rl__events *ev, const rl_listener *desc, const char *label,
                   rl__listener **out, char *err, size_t errlen) {
  return from_desc(ev, label, NULL, desc, out, err, errlen);
}

int rl__listener_add_option(rl__listener *l, const char *kv, char *err,
                            size_t errlen) {
  const char *eq = strchr(kv, '=');
  if (!eq || eq == kv) {
    errf(err, errlen,
         "--listener-opt '%s' (for %s): expected KEY=VALUE with a key", kv,
         l->path);
    return RL_ERR_INVAL;
  }
  rl_kv *o = realloc(l->options, (l->n_options + 1) * sizeof *o);
  if (!o) {
    errf(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  l->options = o;
  char *key = strndup(kv, (size_t)(eq - kv));
  char *value = strdup(eq + 1);
  if (!key || !value) {
    free(key);
    free(value);
    errf(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  o[l->n_options++] = (rl_kv){.key = key, .value = value};
  return 0;
}

int rl__events_start(rl__events *ev, char *err, size_t errlen) {
  for (size_t i = 0; i < ev->n; i++) {
    rl__listener *l = ev->items[i];
    if (l->inited)
      continue;
    char why[512] = "";
    int rc = l->desc.init ? l->desc.init(&ev->host, l->options, l->n_options,
                                         &l->state, why, sizeof why)
                          : 0;
    if (rc) {
      errf(err, errlen, "listener %s (%s): %s", l->desc.name, l->path,
           *why ? why : rl_strerror(rc));
      return rc < 0 ? rc : RL_ERR_INVAL;
    }
    l->inited = 1;
  }
  return 0;
}

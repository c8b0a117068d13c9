#include "engine/target.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/url.h"

static void warn_refused(const char *path, const char *reason, void *arg) {
  (void)path;
  (void)arg;
  fprintf(stderr, "rpcload: warning: skipping %s\n", reason);
}

static int pick_plugin(rl__plugin_set *plugins, const rl__target_options *o,
                       const rl__url *u, rl__plugin **out, char *err,
                       size_t errlen) {
  if (o->plugin)
    return rl__plugin_set_load(plugins, o->plugin, out, err, errlen);
  const char *scheme = u->scheme ? u->scheme : o->default_scheme;
  if (!scheme) {
    snprintf(err, errlen,
             "target '%s' has no scheme: write e.g. http://%s or choose a "
             "plugin with --plugin",
             o->url, o->url);
    return RL_ERR_INVAL;
  }
  rl__plugin_set_scan(plugins, warn_refused, NULL);
  *out = rl__plugin_set_find_scheme(plugins, scheme);
  if (!*out) {
    snprintf(err, errlen,
             "no plugin serves URL scheme '%s' (see rpcload --plugins)",
             scheme);
    return RL_ERR_NOTFOUND;
  }
  return 0;
}

static int add_variant(rl__target *t, rl__plugin *p, const rl_step_spec *spec,
                       char *err, size_t errlen) {
  rl__variant *v = &t->v[t->nv];
  char perr[512] = "";
  int rc = rl__plugin_init(p);
  if (rc) {
    snprintf(err, errlen, "plugin %s failed to initialise: %s", p->desc.name,
             rl_strerror(rc));
    return rc;
  }
  if ((rc = p->desc.step_new(p->host, spec, &v->step, perr, sizeof perr))) {
    snprintf(err, errlen, "%s: %s", p->desc.name,
             perr[0] ? perr : rl_strerror(rc));
    v->step = NULL;
    return rc;
  }
  v->plugin = p;
  p->desc.step_describe(v->step, &v->type, &v->name);
  t->nv++;
  return 0;
}

/* Does plugin `p` list ALPN id `id`? */
static int speaks(const rl__plugin *p, const char *id) {
  for (const char *const *a = p->desc.alpn; a && *a; a++)
    if (strcmp(*a, id) == 0)
      return 1;
  return 0;
}

/*
 * Over TLS, every other codec plugin serving the scheme with ALPN ids joins
 * as an alternate, and the handshake's ALPN picks one per connection. A
 * plugin that cannot compile the step (an option it does not take) simply
 * does not join. h2 goes first, as browsers and curl prefer it.
 */
static void add_alternates(rl__target *t, rl__plugin_set *plugins,
                           const rl_step_spec *spec) {
  char ignored[512];
  for (size_t i = 0; i < plugins->n && t->nv < RL__MAX_VARIANTS; i++) {
    rl__plugin *p = plugins->items[i];
    if (p == t->v[0].plugin || p->desc.kind != RL_PLUGIN_CODEC ||
        !p->desc.alpn || !p->desc.alpn[0] ||
        !rl__plugin_scheme(p, spec->scheme))
      continue;
    add_variant(t, p, spec, ignored, sizeof ignored);
  }
  for (size_t i = 1; i < t->nv; i++)
    if (speaks(t->v[i].plugin, "h2") && !speaks(t->v[0].plugin, "h2")) {
      rl__variant tmp = t->v[0];
      t->v[0] = t->v[i];
      t->v[i] = tmp;
      t->plugin = t->v[0].plugin;
      break;
    }
}

const rl__variant *rl__target_variant_for_alpn(const rl__target *t,
                                               const char *alpn) {
  if (alpn) {
    for (size_t i = 0; i < t->nv; i++)
      if (speaks(t->v[i].plugin, alpn))
        return &t->v[i];
    return NULL;
  }
  if (!t->tls)
    return &t->v[0];
  /* No ALPN agreed: the server speaks its default, HTTP/1.1 for https
   * (RFC 7301). A plugin that names no ALPN id takes any connection. */
  for (size_t i = 0; i < t->nv; i++) {
    const rl__plugin *p = t->v[i].plugin;
    if (!p->desc.alpn || !p->desc.alpn[0] ||
        (!t->alpn_required && speaks(p, "http/1.1")))
      return &t->v[i];
  }
  return NULL;
}

/* The ALPN ids to offer: every variant's, in variant order, once each. */
static const char **alpn_offer(const rl__target *t) {
  static _Thread_local const char *ids[16];
  size_t n = 0;
  for (size_t i = 0; i < t->nv; i++)
    for (const char *const *a = t->v[i].plugin->desc.alpn; a && *a; a++) {
      int dup = 0;
      for (size_t k = 0; k < n; k++)
        dup |= strcmp(ids[k], *a) == 0;
      if (!dup && n + 1 < sizeof ids / sizeof ids[0])
        ids[n++] = *a;
    }
  ids[n] = NULL;
  return ids;
}

/* With --source-address, the first of the host's addresses that a source
 * address's family can reach; else the first. */
static const struct addrinfo *pick_addr(const rl__target *t,
                                        const struct addrinfo *res) {
  if (!t->sources)
    return res;
  for (const struct addrinfo *a = res; a; a = a->ai_next)
    if (rl__sources_count(t->sources, a->ai_family))
      return a;
  return NULL;
}

static int resolve(rl__target *t, char *err, size_t errlen) {
  struct addrinfo hints, *res = NULL;
  char port[8];
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  snprintf(port, sizeof port, "%u", t->port);
  int rc = getaddrinfo(t->host, port, &hints, &res);
  if (rc != 0 || !res) {
    snprintf(err, errlen, "cannot resolve host '%s': %s", t->host,
             gai_strerror(rc));
    return RL_ERR_NOTFOUND;
  }
  const struct addrinfo *a = pick_addr(t, res);
  if (!a) {
    snprintf(err, errlen,
             "--source-address has no %s address, and host '%s' resolves "
             "only to %s addresses",
             res->ai_family == AF_INET6 ? "IPv6" : "IPv4", t->host,
             res->ai_family == AF_INET6 ? "IPv6" : "IPv4");
    freeaddrinfo(res);
    return RL_ERR_INVAL;
  }
  /* Resolved once, here: worker threads never block on DNS. */
  memcpy(&t->addr, a->ai_addr, a->ai_addrlen);
  t->addrlen = a->ai_addrlen;
  freeaddrinfo(res);
  return 0;
}

int rl__target_new(rl__plugin_set *plugins, const rl__target_options *o,
                   rl__target **out, char *err, size_t errlen) {
  rl__url u = {0};
  int rc = 0;
  if (o->url) {
    if ((rc = rl__url_parse(o->url, &u, err, errlen)))
      return rc;
  } else if (!o->list_only) {
    snprintf(err, errlen, "no target given");
    return RL_ERR_INVAL;
  }
  rl__target *t = calloc(1, sizeof *t);
  if (!t) {
    rl__url_free(&u);
    snprintf(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  atomic_init(&t->answered, 0);
  t->connect_timeout_ns = o->connect_timeout_ns;
  t->request_timeout_ns = o->request_timeout_ns;
  t->sources = o->sources;
  if ((rc = pick_plugin(plugins, o, &u, &t->plugin, err, errlen)))
    goto fail;
  const char *scheme = u.scheme ? u.scheme : o->default_scheme;
  const rl_scheme *sch = scheme ? rl__plugin_scheme(t->plugin, scheme) : NULL;
  if (scheme && !sch) {
    snprintf(err, errlen, "plugin %s does not serve URL scheme '%s'",
             t->plugin->desc.name, scheme);
    rc = RL_ERR_INVAL;
    goto fail;
  }
  if (!sch) /* no scheme in the target: the plugin's first one */
    sch = t->plugin->desc.schemes;
  t->tls = sch->tls;
  t->backoff = rl__backoff_for_scheme(sch->name);
  t->port = u.port ? u.port : sch->default_port;
  if (!t->port && !o->list_only) {
    snprintf(err, errlen, "target '%s' needs a port (%s has no default one)",
             o->url, t->plugin->desc.name);
    rc = RL_ERR_INVAL;
    goto fail;
  }
  t->host = u.host;
  u.host = NULL;
  rl_step_spec spec = {
      .struct_size = sizeof spec,
      .url = o->url,
      .scheme = sch->name,
      .host = t->host,
      .port = t->port,
      .tls = t->tls,
      .path = u.path,
      .method = o->method,
      .headers = o->headers,
      .n_headers = o->n_headers,
      .body = o->body,
      .body_len = o->body_len,
      .name = o->name,
      .options = o->options,
      .n_options = o->n_options,
      .timeout_ns = o->request_timeout_ns,
      .connect_timeout_ns = o->connect_timeout_ns,
      .tls_cacert = o->tls.cacert,
      .tls_cert = o->tls.cert,
      .tls_key = o->tls.key,
      .tls_insecure = o->tls.insecure,
      .list_only = o->list_only,
      .body_type = o->body_type,
      .tls_server_name = o->tls.server_name,
  };
  t->alpn_required = o->alpn_required;
  if ((rc = add_variant(t, t->plugin, &spec, err, errlen)))
    goto fail;
  if (t->tls && !o->plugin && t->plugin->desc.kind == RL_PLUGIN_CODEC)
    add_alternates(t, plugins, &spec);
  t->step = t->v[0].step;
  t->type = t->v[0].type;
  t->name = t->v[0].name;
  if (o->list_only)
    goto done;
  if (o->sources && t->plugin->desc.kind == RL_PLUGIN_TRANSPORT)
    rl__log(RL__LOG_WARN,
            "--source-address does not apply to %s: its plugin makes its "
            "own connections",
            o->url ? o->url : t->plugin->desc.name);
  if ((rc = resolve(t, err, errlen)))
    goto fail;
  /* A transport plugin does its own TLS, if any. */
  if (t->tls && t->plugin->desc.kind == RL_PLUGIN_CODEC) {
    t->verify = !o->tls.insecure;
    t->ssl_ctx = rl__tls_ctx_new(&o->tls, alpn_offer(t), err, errlen);
    if (!t->ssl_ctx) {
      rc = RL_ERR_TLS;
      goto fail;
    }
    if (o->tls.server_name && !(t->tls_name = strdup(o->tls.server_name))) {
      rc = RL_ERR_NOMEM;
      goto fail;
    }
  }
done:
  rl__url_free(&u);
  *out = t;
  return 0;
fail:
  rl__url_free(&u);
  rl__target_del(t);
  return rc;
}

void rl__target_del(rl__target *t) {
  if (!t)
    return;
  for (size_t i = 0; i < t->nv; i++)
    t->v[i].plugin->desc.step_del(t->v[i].step);
  if (t->ssl_ctx)
    SSL_CTX_free(t->ssl_ctx);
  free(t->tls_name);
  free(t->host);
  free(t);
}

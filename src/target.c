#include "target.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "url.h"

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
  if (!u->scheme) {
    snprintf(err, errlen,
             "target '%s' has no scheme: write e.g. http://%s or choose a "
             "plugin with --plugin",
             o->url, o->url);
    return RL_ERR_INVAL;
  }
  rl__plugin_set_scan(plugins, warn_refused, NULL);
  *out = rl__plugin_set_find_scheme(plugins, u->scheme);
  if (!*out) {
    snprintf(err, errlen,
             "no plugin serves URL scheme '%s' (see rpcload --plugins)",
             u->scheme);
    return RL_ERR_NOTFOUND;
  }
  return 0;
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
  /* Resolved once, here: worker threads never block on DNS. */
  memcpy(&t->addr, res->ai_addr, res->ai_addrlen);
  t->addrlen = res->ai_addrlen;
  freeaddrinfo(res);
  return 0;
}

int rl__target_new(rl__plugin_set *plugins, const rl__target_options *o,
                   rl__target **out, char *err, size_t errlen) {
  rl__url u;
  int rc = rl__url_parse(o->url, &u, err, errlen);
  if (rc)
    return rc;
  rl__target *t = calloc(1, sizeof *t);
  if (!t) {
    rl__url_free(&u);
    snprintf(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  t->connect_timeout_ns = o->connect_timeout_ns;
  t->request_timeout_ns = o->request_timeout_ns;
  if ((rc = pick_plugin(plugins, o, &u, &t->plugin, err, errlen)))
    goto fail;
  const char *scheme = u.scheme;
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
  t->port = u.port ? u.port : sch->default_port;
  t->host = u.host;
  u.host = NULL;
  if ((rc = rl__plugin_init(t->plugin))) {
    snprintf(err, errlen, "plugin %s failed to initialise: %s",
             t->plugin->desc.name, rl_strerror(rc));
    goto fail;
  }
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
  };
  char perr[512] = "";
  if ((rc = t->plugin->desc.step_new(rl__host(), &spec, &t->step,
                                     perr, sizeof perr))) {
    snprintf(err, errlen, "%s: %s", t->plugin->desc.name,
             perr[0] ? perr : rl_strerror(rc));
    t->step = NULL;
    goto fail;
  }
  t->plugin->desc.step_describe(t->step, &t->type, &t->name);
  if ((rc = resolve(t, err, errlen)))
    goto fail;
  /* A transport plugin does its own TLS, if any. */
  if (t->tls && t->plugin->desc.kind == RL_PLUGIN_CODEC) {
    t->verify = !o->tls.insecure;
    t->ssl_ctx = rl__tls_ctx_new(&o->tls, t->plugin->desc.alpn, err, errlen);
    if (!t->ssl_ctx) {
      rc = RL_ERR_TLS;
      goto fail;
    }
  }
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
  if (t->step)
    t->plugin->desc.step_del(t->step);
  if (t->ssl_ctx)
    SSL_CTX_free(t->ssl_ctx);
  free(t->host);
  free(t);
}

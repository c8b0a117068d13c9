#include "api/reach.h"

#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "engine/probe.h"

/* "http://127.0.0.1:1/" for the command line's target; "127.0.0.1:1
 * (grpc)" for a scenario's endpoint. */
static void describe(const rl__target *t, const char *url, char *buf,
                     size_t len) {
  int v6 = strchr(t->host, ':') != NULL;
  if (url)
    snprintf(buf, len, "%s", url);
  else
    snprintf(buf, len, "%s%s%s:%u (%s%s)", v6 ? "[" : "", t->host,
             v6 ? "]" : "", t->port, t->plugin->desc.name,
             t->tls ? " over TLS" : "");
}

/* One target: 0, or 1 when it cannot be reached (said already, and the
 * reason in why when it is still empty). */
static int check_one(const rl__api_options *o, const rl__target *t,
                     const char *url, char *why, size_t whylen) {
  char err[512] = "", what[300];
  if (rl__target_probe(t, err, sizeof err) == 0)
    return 0;
  describe(t, url, what, sizeof what);
  if (o->allow_unreachable) {
    rl__log(RL__LOG_WARN,
            "cannot reach %s: %s; running anyway (--allow-unreachable): "
            "its requests fail until it answers",
            what, err);
    return 0;
  }
  rl__log(RL__LOG_ERROR,
          "cannot reach %s: %s; nothing was sent (--allow-unreachable runs "
          "anyway, for a target that comes up later)",
          what, err);
  if (why && whylen && !*why)
    snprintf(why, whylen, "cannot reach %s: %s", what, err);
  return 1;
}

int rl__api_reach_check(const rl__api_options *o, const rl__target *target,
                        const rl__plan *plan, char *why, size_t whylen) {
  const rl__tls_options *tls = &o->target.tls;
  if (target && !target->tls &&
      (tls->insecure || tls->cacert || tls->cert || tls->key))
    rl__log(RL__LOG_WARN,
            "%s is not a TLS target: the TLS options do nothing (https:// "
            "and grpcs:// are TLS)",
            o->target.url);
  if (target)
    return check_one(o, target, o->target.url, why, whylen) ? 2 : 0;
  int bad = 0;
  for (size_t i = 0; plan && i < plan->n_endpoints; i++)
    bad |= check_one(o, plan->endpoint_targets[i], NULL, why, whylen);
  return bad ? 2 : 0;
}

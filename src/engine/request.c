#include "engine/request.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "engine/target.h"

void rl__request_end(rl_request *req, const rl_result *result) {
  req->end(req, result);
  /* The request object is its user's, used again for the next one. */
  req->gate_state = 0;
}

void rl__request_fail(rl_request *req, const char *reason) {
  rl_result res = {.type = req->target->type,
                   .name = req->target->name,
                   .response_bytes = 0,
                   .error = reason ? reason : "failed"};
  const char *prefix =
      req->target->plugin ? req->target->plugin->desc.host_error_prefix : NULL;
  char text[512];
  if (prefix && *prefix) {
    snprintf(text, sizeof text, "%s%s", prefix, res.error);
    res.error = text;
  }
  rl__request_end(req, &res);
}

/* The submit under way on this thread and the reason its plugin gave:
 * per thread, since each worker submits on its own loop, and a submit
 * never nests inside another on the same thread. */
static _Thread_local struct {
  const rl_request *req;
  int given;
  char why[256];
} refusing;

void rl__request_refuse_begin(rl_request *req) {
  refusing.req = req;
  refusing.given = 0;
}

void rl__request_refuse(rl_request *req, const char *reason) {
  if (!req || req != refusing.req || refusing.given)
    return;
  snprintf(refusing.why, sizeof refusing.why, "%s",
           reason && *reason ? reason : "refused");
  refusing.given = 1;
}

void rl__request_refused(rl_request *req, const char *plugin, int rc) {
  char why[sizeof refusing.why];
  if (refusing.req == req && refusing.given)
    snprintf(why, sizeof why, "%s", refusing.why);
  else
    snprintf(why, sizeof why, "%s refused the request: %s", plugin,
             rl_strerror(rc));
  refusing.req = NULL;
  refusing.given = 0;
  rl__request_fail(req, why);
}

void rl__request_event(rl_request *req, const rl_result *result,
                       uint64_t since_ns) {
  if (!req->event || !result)
    return;
  uint64_t now = rl__now_ns();
  uint64_t from = since_ns ? since_ns : req->start_ns;
  req->event(req, result, now > from ? now - from : 0);
}

/* Whether the request counts: decided at its first record, from the
 * gate, and kept for its later events. */
static int counted(rl__request_gate *g, rl_request *req) {
  if (req->gate_state)
    return req->gate_state == 1;
  int in = 1;
  if (g && !g->open) {
    int warming = g->until_ns && rl__now_ns() < g->until_ns;
    in = !warming &&
         !(g->skip_first && g->skipped &&
           atomic_fetch_add_explicit(g->skipped, 1, memory_order_relaxed) <
               g->skip_first);
    /* Past the warm-up, and the first N are taken (by this thread or
     * others): no more clock reads or atomics on this thread. */
    if (in)
      g->open = 1;
  }
  req->gate_state = in ? 1 : 2;
  return in;
}

int rl__request_counts(rl__request_gate *gate, rl_request *req) {
  return counted(gate, req);
}

rl__stats_entry *rl__request_record(rl__stats *stats, rl__request_gate *gate,
                                    rl_request *req, const rl_result *result,
                                    const char *error, uint64_t rt_ns,
                                    uint64_t sec) {
  if (!counted(gate, req))
    return NULL;
  const char *type = result && result->type ? result->type : req->target->type;
  const char *name = result && result->name ? result->name : req->target->name;
  rl__stats_entry *e = req->cached_entry;
  if (!e || strcmp(e->name, name) != 0 || strcmp(e->type, type) != 0)
    req->cached_entry = rl__stats_entry_get(stats, type, name);
  if (req->cached_entry)
    rl__stats_record(stats, req->cached_entry, rt_ns,
                     result ? result->response_bytes : 0, error, sec);
  return req->cached_entry;
}

/* An entry cached by content (see rl_request.cached_entry), or looked up. */
static int entry_is(const rl__stats_entry *e, const char *type,
                    const char *name) {
  return e && strcmp(e->name, name) == 0 && strcmp(e->type, type) == 0;
}

void rl__request_record_event(rl__stats *stats, rl__request_gate *gate,
                              rl_request *req, const rl_result *result,
                              uint64_t time_ns, uint64_t sec) {
  if (!counted(gate, req))
    return;
  const char *type = result->type ? result->type : req->target->type;
  const char *name = result->name ? result->name : req->target->name;
  /* Two slots: a bidirectional stream alternates [send] and [recv]. */
  rl__stats_entry **slot = req->cached_event_entry;
  rl__stats_entry *e = NULL;
  if (entry_is(slot[0], type, name)) {
    e = slot[0];
  } else if (entry_is(slot[1], type, name)) {
    e = slot[1];
  } else {
    e = rl__stats_entry_get(stats, type, name);
    slot[1] = slot[0];
    slot[0] = e;
  }
  if (e)
    rl__stats_record(stats, e, time_ns, result->response_bytes, result->error,
                     sec);
}

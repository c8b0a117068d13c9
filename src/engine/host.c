#include "engine/host.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include "base/clock.h"
#include "base/log.h"
#include "engine/conn.h"
#include "engine/loop.h"
#include "engine/loop_services.h"
#include "engine/plan.h"
#include "engine/request.h"
#include "engine/target.h"
#include "engine/template.h"
#include "engine/user.h"
#include "engine/user_state.h"

/* The step of the plugin carrying the request: over TLS, ALPN may have
 * picked another plugin than the target's first. */
static void *host_request_step(const rl_request *req) {
  if (!req->conn || !req->conn->v)
    return req->target->step;
  /* A scenario's user shares one connection among the steps that go to
   * the same endpoint: the step is the request's own target's, for the
   * plugin the connection speaks. */
  if (req->conn->t == req->target)
    return req->conn->v->step;
  for (size_t i = 0; i < req->target->nv; i++)
    if (req->target->v[i].plugin == req->conn->v->plugin)
      return req->target->v[i].step;
  return req->target->step;
}

static void host_log(int level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  rl__vlog(level, fmt, ap);
  va_end(ap);
}

/* The plugin is done with a request: the connection takes it off its
 * books (a transport plugin's requests have none), then it ends. */
static void host_request_done(rl_request *req, const rl_result *result) {
  if (req->conn)
    rl__conn_request_ended(req);
  rl__request_end(req, result);
}

static int host_template_new(const char *text, size_t len, rl_template **out,
                             char *err, size_t errlen) {
  return rl__template_new(text, len, out, err, errlen);
}

/* Expansions land in the loop's scratch buffer: a worker's plugins expand
 * one template at a time, and no lock is needed. */
static const char *host_template_expand(const rl_template *t, rl_request *req,
                                        size_t *len) {
  rl__user *u = req->user;
  rl_loop *lp = u->loop;
  rl__template_ctx ctx;
  rl__user_template_ctx(u, req, &ctx);
  *len = 0;
  rl__buf_reset(&lp->scratch);
  if (rl__template_expand(t, &ctx, &lp->scratch)) {
    rl__buf_reset(&lp->scratch);
    return NULL;
  }
  *len = lp->scratch.len;
  return lp->scratch.p ? lp->scratch.p : "";
}

static uint64_t host_request_user_id(const rl_request *req) {
  return req->user->id;
}

static int host_request_wants_response(const rl_request *req) {
  return rl__user_wants_response(req);
}

static unsigned host_request_response_parts(const rl_request *req) {
  return rl__user_response_parts(req);
}

/* Into the request's own copy: a user of a C class has several requests
 * in flight, each with its response. */
static void host_request_response(rl_request *req, const rl_response *resp) {
  if (req->user && req->resp && resp &&
      resp->struct_size >=
          offsetof(rl_response, body_len) + sizeof resp->body_len)
    (void)rl__response_store(req->resp, resp); /* a failed copy: have == 0 */
}

static void host_request_event(rl_request *req, const rl_result *result,
                               uint64_t since_ns) {
  rl__request_event(req, result, since_ns);
}

static rl_loop *host_conn_loop(rl_conn *conn) { return conn->loop; }

/* ABI 1.5: a user's state slot; a request always has its user. */
static rl_user_slot *host_request_user_slot(rl_request *req, const char *key) {
  return req->user && key ? rl__user_slot_get(&req->user->slots, key) : NULL;
}

static uint64_t host_request_seq(const rl_request *req) {
  return req->user ? req->seq : 0;
}

/* ABI 1.6: the step the connection was set up with, for the plugin
 * carrying it (ALPN's pick over TLS). */
static void *host_conn_step(const rl_conn *conn) {
  return conn->v ? conn->v->step : conn->t->step;
}

/* ABI 1.7: the request's own header fields (a C class's send's). */
static const rl_kv *host_request_headers(const rl_request *req, size_t *n) {
  if (n)
    *n = req->headers ? req->n_headers : 0;
  return req->headers && req->n_headers ? req->headers : NULL;
}

/* ABI 1.10: a stream's messages to the request's owner as they come. */
static int host_request_wants_messages(const rl_request *req) {
  return req->message != NULL;
}

static int host_request_message(rl_request *req, const char *json, size_t len) {
  return req->message && json ? req->message(req, json, len) : 0;
}

static const rl_host host_table = {
    .abi_version = RL_ABI_VERSION,
    .struct_size = sizeof(rl_host),
    .request_step = host_request_step,
    .request_done = host_request_done,
    .conn_write = rl__conn_write,
    .conn_close = rl__conn_close_later,
    .now_ns = rl__now_ns,
    .log = host_log,
    .template_new = host_template_new,
    .template_del = rl__template_del,
    .template_is_constant = rl__template_is_constant,
    .template_expand = host_template_expand,
    .io_start = rl__io_start,
    .io_set = rl__io_set,
    .io_stop = rl__io_stop,
    .timer_start = rl__timer_start,
    .timer_stop = rl__timer_stop,
    .async_new = rl__async_new,
    .async_send = rl__async_send,
    .async_del = rl__async_del,
    .request_user_id = host_request_user_id,
    .request_retry = rl__conn_retry,
    .conn_drain = rl__conn_drain,
    .request_wants_response = host_request_wants_response,
    .request_response = host_request_response,
    .request_event = host_request_event,
    .conn_loop = host_conn_loop,
    .request_user_slot = host_request_user_slot,
    .request_move = rl__conn_move,
    .request_seq = host_request_seq,
    .conn_step = host_conn_step,
    .conn_fail = rl__conn_fail_later,
    .request_refuse = rl__request_refuse,
    .template_new_at = rl__template_new_at,
    .template_text = rl__template_text,
    .request_headers = host_request_headers,
    .request_response_parts = host_request_response_parts,
    .request_wants_messages = host_request_wants_messages,
    .request_message = host_request_message,
};

const rl_host *rl__host(void) { return &host_table; }

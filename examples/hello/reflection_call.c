/*
 * The ServerReflectionInfo stream (v1 and v1alpha): a bidi stream carried
 * with grpc core's batch API. reflection.c makes the answers.
 *
 * grpc core allows one op of each kind in flight per call, so the stream
 * is a strict loop, one op at a time on each side:
 *
 *   arrived --> [RECV_CLOSE_ON_SERVER]  (in flight for the whole stream)
 *           --> [SEND_INITIAL_METADATA, RECV_MESSAGE]
 *   received a request --> [SEND_MESSAGE answer] --> sent --> [RECV_MESSAGE]
 *   received end of stream (the client half-closed)
 *                      --> [SEND_STATUS_FROM_SERVER OK] --> finished
 *   any failed batch (cancelled, connection lost) --> no new batch
 *
 * A request is read only after the previous answer went out: the client's
 * flow control then holds back a client that does not read its answers,
 * and the stream holds one answer at a time. When the last batch has come
 * back the call is counted and freed (ops == 0). All events of a call
 * come to the one worker thread that owns its queue: no lock.
 */
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/slice.h>
#include <grpc/status.h>

#include "server.h"

typedef struct refl_call {
  hs_tag arrived;  /* grpc_server_request_registered_call */
  hs_tag received; /* [SEND_INITIAL_METADATA,] RECV_MESSAGE */
  hs_tag sent;     /* SEND_MESSAGE */
  hs_tag finished; /* SEND_STATUS_FROM_SERVER */
  hs_tag closed;   /* RECV_CLOSE_ON_SERVER */
  hs_worker *w;
  void *method;    /* which registered method (v1 or v1alpha) to re-request */
  grpc_call *call; /* owned */
  gpr_timespec deadline;
  grpc_metadata_array md;
  grpc_byte_buffer *in;  /* the request being received (owned) */
  grpc_byte_buffer *out; /* the answer being sent (owned) */
  grpc_slice details;    /* status message of the final status (static) */
  int ops;               /* batches in flight */
  int status_ok;         /* the final status went out */
  int cancelled;         /* from RECV_CLOSE_ON_SERVER */
} refl_call;

static void on_arrived(hs_tag *tag, int ok);
static void on_received(hs_tag *tag, int ok);
static void on_sent(hs_tag *tag, int ok);
static void on_finished(hs_tag *tag, int ok);
static void on_closed(hs_tag *tag, int ok);

/* Counts and frees the stream when no batch is in flight any more. */
static void maybe_done(refl_call *r) {
  if (r->ops > 0)
    return;
  if (r->call) {
    if (r->status_ok && !r->cancelled)
      r->w->counts.reflection++;
    else
      r->w->counts.failed++;
    grpc_call_unref(r->call);
  }
  grpc_metadata_array_destroy(&r->md);
  if (r->in)
    grpc_byte_buffer_destroy(r->in);
  if (r->out)
    grpc_byte_buffer_destroy(r->out);
  free(r);
}

/* Starts one batch with tag t; counts it in flight. Returns 0, or -1 after
 * cancelling the call (its other batches then fail and end it). */
static int start(refl_call *r, grpc_op *ops, size_t n, hs_tag *t) {
  grpc_call_error e = grpc_call_start_batch(r->call, ops, n, t, NULL);
  if (e != GRPC_CALL_OK) {
    hs_log("reflection: cannot start a batch: %s",
           grpc_call_error_to_string(e));
    grpc_call_cancel(r->call, NULL);
    return -1;
  }
  r->ops++;
  return 0;
}

int hs_reflection_request(hs_worker *w, void *method) {
  refl_call *r = calloc(1, sizeof *r);
  if (!r) {
    hs_log("out of memory");
    return -1;
  }
  r->arrived.fn = on_arrived;
  r->received.fn = on_received;
  r->sent.fn = on_sent;
  r->finished.fn = on_finished;
  r->closed.fn = on_closed;
  r->w = w;
  r->method = method;
  grpc_metadata_array_init(&r->md);
  grpc_call_error e = grpc_server_request_registered_call(
      w->srv->server, method, &r->call, &r->deadline, &r->md, NULL, w->cq,
      w->cq, &r->arrived);
  if (e != GRPC_CALL_OK) {
    if (!w->requests_failed)
      hs_log("cannot ask grpc for a reflection call: %s",
             grpc_call_error_to_string(e));
    w->requests_failed = 1;
    maybe_done(r);
    return -1;
  }
  return 0;
}

/* Waits for the next request (with the initial metadata on the first). */
static void receive(refl_call *r, int first) {
  grpc_op ops[2];
  size_t n = 0;
  memset(ops, 0, sizeof ops);
  if (first)
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[n].op = GRPC_OP_RECV_MESSAGE;
  ops[n++].data.recv_message.recv_message = &r->in;
  start(r, ops, n, &r->received);
}

/* Ends the stream with a status (OK at the client's end of stream;
 * INVALID_ARGUMENT for a request that does not decode). */
static void finish(refl_call *r, grpc_status_code code, const char *text) {
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  op.data.send_status_from_server.status = code;
  if (text) {
    r->details = grpc_slice_from_static_string(text);
    op.data.send_status_from_server.status_details = &r->details;
  }
  start(r, &op, 1, &r->finished);
}

static void on_arrived(hs_tag *tag, int ok) {
  refl_call *r = HS_CONTAINER_OF(tag, refl_call, arrived);
  if (!ok) {
    maybe_done(r); /* the server is shutting down: no call */
    return;
  }
  if (atomic_load(&r->w->srv->phase) == HS_RUNNING)
    hs_reflection_request(r->w, r->method);
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  op.data.recv_close_on_server.cancelled = &r->cancelled;
  if (start(r, &op, 1, &r->closed) == 0)
    receive(r, 1);
  maybe_done(r);
}

static void on_received(hs_tag *tag, int ok) {
  refl_call *r = HS_CONTAINER_OF(tag, refl_call, received);
  r->ops--;
  if (!ok) {
    maybe_done(r); /* the stream broke; RECV_CLOSE_ON_SERVER will say why */
    return;
  }
  if (!r->in) {
    finish(r, GRPC_STATUS_OK, NULL); /* the client is done asking */
    maybe_done(r);
    return;
  }
  grpc_byte_buffer_reader rd;
  uint8_t *answer = NULL;
  size_t alen = 0;
  int rc = -1;
  if (grpc_byte_buffer_reader_init(&rd, r->in)) {
    grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
    rc = hs_reflection_answer(r->w->srv->refl, GRPC_SLICE_START_PTR(all),
                              GRPC_SLICE_LENGTH(all), &answer, &alen);
    grpc_slice_unref(all);
    grpc_byte_buffer_reader_destroy(&rd);
  }
  grpc_byte_buffer_destroy(r->in);
  r->in = NULL;
  if (rc < 0) {
    finish(r, GRPC_STATUS_INVALID_ARGUMENT,
           "not a grpc.reflection ServerReflectionRequest (or out of memory)");
    maybe_done(r);
    return;
  }
  /* The slice takes the malloc'ed answer and frees it when grpc is done. */
  grpc_slice s = grpc_slice_new(answer, alen, free);
  r->out = grpc_raw_byte_buffer_create(&s, 1);
  grpc_slice_unref(s);
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_SEND_MESSAGE;
  op.data.send_message.send_message = r->out;
  start(r, &op, 1, &r->sent);
  maybe_done(r);
}

static void on_sent(hs_tag *tag, int ok) {
  refl_call *r = HS_CONTAINER_OF(tag, refl_call, sent);
  r->ops--;
  grpc_byte_buffer_destroy(r->out);
  r->out = NULL;
  if (ok)
    receive(r, 0);
  maybe_done(r);
}

static void on_finished(hs_tag *tag, int ok) {
  refl_call *r = HS_CONTAINER_OF(tag, refl_call, finished);
  r->ops--;
  r->status_ok = ok;
  maybe_done(r);
}

static void on_closed(hs_tag *tag, int ok) {
  refl_call *r = HS_CONTAINER_OF(tag, refl_call, closed);
  (void)ok;
  r->ops--;
  maybe_done(r);
}

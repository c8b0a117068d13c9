/*
 * locust.hello.HelloService/SayHello, and the UNIMPLEMENTED answer to
 * every method nobody registered.
 *
 * SayHello answers HelloResponse{message: "Hello from Locust, <name>!"},
 * the text of Locust's examples/grpc/hello_server.py (which also sleeps one
 * second per call; here a delay is asked per call instead, x-delay-ms).
 * Request metadata steers one call:
 *   x-delay-ms: N   answer after N ms (0..HS_MAX_DELAY_MS), without holding
 *                   a thread: the call waits in the worker's delay heap;
 *   x-status: CODE  answer with that gRPC status (0..16) and no message;
 *   x-message: TEXT the status message (grpc-message) of the answer;
 *   x-message-bin   the same for text that is not printable ASCII (UTF-8):
 *                   a binary header, base64 on the wire, decoded by grpc.
 *                   grpc core percent-encodes grpc-message either way.
 * A knob that does not parse is answered INVALID_ARGUMENT, naming it: a
 * load test should not silently measure something else than asked.
 *
 * The life of a call (one hello_call, owned by the worker whose queue
 * grpc bound it to):
 *   arrived  -> the answer's batch, all at once: SEND_INITIAL_METADATA,
 *               SEND_MESSAGE, SEND_STATUS_FROM_SERVER, RECV_CLOSE_ON_SERVER;
 *   or, delayed: RECV_CLOSE_ON_SERVER alone (so a client that gives up is
 *               noticed and its call leaves the heap at once), the call
 *               waits in the heap, and the send ops go when it is due;
 *   done     -> when no batch is in flight and it is in no heap: counted,
 *               freed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/slice.h>
#include <grpc/status.h>

#include "hello.pb-c.h"
#include "server.h"

/* The longest delay a call may ask for: a typo (x-delay-ms: 3000000) should
 * fail loudly, not hold a call for an hour. */
#define HS_MAX_DELAY_MS 600000
#define HS_MAX_DELAY_TEXT "600000" /* the same, for messages */
/* Longest knob value quoted back in an INVALID_ARGUMENT message. */
#define HS_SHOW_MAX 32
/* The answer's text around the name (Locust's hello_server.py). */
#define HS_HELLO_PREFIX "Hello from Locust, "
#define HS_HELLO_SUFFIX "!"

typedef struct hello_call {
  hs_tag arrived;  /* grpc_server_request_registered_call */
  hs_tag answered; /* the batch with the send ops */
  hs_tag closed;   /* RECV_CLOSE_ON_SERVER on its own (delayed calls) */
  hs_delay_item timer;
  hs_worker *w;
  grpc_call *call; /* owned: unref'ed when done */
  gpr_timespec deadline;
  grpc_metadata_array
      md; /* request metadata (owned; values borrowed by details) */
  grpc_byte_buffer *payload; /* the request message (owned) */
  grpc_byte_buffer *reply; /* the response message, NULL without one (owned) */
  grpc_status_code status;
  grpc_slice details; /* the status message (owned), valid if has_details */
  int has_details;
  int ops;       /* batches in flight */
  int answer_ok; /* the answer's batch succeeded */
  int cancelled; /* RECV_CLOSE_ON_SERVER: the call did not run to completion */
  char error[128]; /* a status message made here (bad knob, busy) */
} hello_call;

static void on_arrived(hs_tag *tag, int ok);
static void on_answered(hs_tag *tag, int ok);
static void on_closed(hs_tag *tag, int ok);
static void hello_due(hs_delay_item *it);

/* Counts the call and frees it, once nothing refers to it any more. */
static void maybe_done(hello_call *c) {
  if (c->ops > 0 || c->timer.idx != HS_DELAY_NONE)
    return;
  hs_counts *n = &c->w->counts;
  if (c->call) { /* NULL: a request that never got a call, not a call */
    if (!c->answer_ok || c->cancelled)
      n->failed++;
    else if (c->status == GRPC_STATUS_OK)
      n->hello_ok++;
    else
      n->hello_status++;
    grpc_call_unref(c->call);
  }
  grpc_metadata_array_destroy(&c->md);
  if (c->payload)
    grpc_byte_buffer_destroy(c->payload);
  if (c->reply)
    grpc_byte_buffer_destroy(c->reply);
  if (c->has_details)
    grpc_slice_unref(c->details);
  free(c);
}

/* Logs the first refused request of a worker: after that it is the
 * shutdown's doing and would only repeat. */
static void request_refused(hs_worker *w, grpc_call_error e, const char *what) {
  if (!w->requests_failed)
    hs_log("cannot ask grpc for a %s call: %s", what,
           grpc_call_error_to_string(e));
  w->requests_failed = 1;
}

int hs_hello_request(hs_worker *w) {
  hello_call *c = calloc(1, sizeof *c);
  if (!c) {
    hs_log("out of memory");
    return -1;
  }
  c->arrived.fn = on_arrived;
  c->answered.fn = on_answered;
  c->closed.fn = on_closed;
  c->timer.idx = HS_DELAY_NONE;
  c->timer.fire = hello_due;
  c->w = w;
  grpc_metadata_array_init(&c->md);
  grpc_call_error e = grpc_server_request_registered_call(
      w->srv->server, w->srv->m_hello, &c->call, &c->deadline, &c->md,
      &c->payload, w->cq, w->cq, &c->arrived);
  if (e != GRPC_CALL_OK) {
    request_refused(w, e, "SayHello");
    maybe_done(c);
    return -1;
  }
  return 0;
}

/* Sets the status and its message (a copy of text). */
static void set_status(hello_call *c, grpc_status_code code, const char *text) {
  c->status = code;
  if (c->has_details)
    grpc_slice_unref(c->details);
  c->details = grpc_slice_from_copied_string(text);
  c->has_details = 1;
}

/* Parses a knob's value: decimal digits only, at most max. Returns 0 or -1. */
static int parse_uint(grpc_slice v, long max, long *out) {
  size_t len = GRPC_SLICE_LENGTH(v);
  const unsigned char *s = GRPC_SLICE_START_PTR(v);
  long x = 0;
  if (len == 0 || len > 10)
    return -1;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    x = x * 10 + (s[i] - '0');
  }
  if (x > max)
    return -1;
  *out = x;
  return 0;
}

static void bad_knob(hello_call *c, const char *key, grpc_slice v,
                     const char *want) {
  size_t len = GRPC_SLICE_LENGTH(v);
  snprintf(c->error, sizeof c->error, "%s: expected %s, got '%.*s%s'", key,
           want, (int)(len > HS_SHOW_MAX ? HS_SHOW_MAX : len),
           (const char *)GRPC_SLICE_START_PTR(v),
           len > HS_SHOW_MAX ? "..." : "");
  set_status(c, GRPC_STATUS_INVALID_ARGUMENT, c->error);
}

/* Reads x-delay-ms, x-status and x-message. Returns the delay in ms, or -1
 * when a knob was wrong (the status is then set to INVALID_ARGUMENT). */
static long read_knobs(hello_call *c) {
  long delay = 0, code = GRPC_STATUS_OK;
  for (size_t i = 0; i < c->md.count; i++) {
    const grpc_metadata *m = &c->md.metadata[i];
    if (grpc_slice_str_cmp(m->key, "x-delay-ms") == 0) {
      if (parse_uint(m->value, HS_MAX_DELAY_MS, &delay) < 0) {
        bad_knob(c, "x-delay-ms", m->value,
                 "a number of milliseconds 0.." HS_MAX_DELAY_TEXT);
        return -1;
      }
    } else if (grpc_slice_str_cmp(m->key, "x-status") == 0) {
      if (parse_uint(m->value, GRPC_STATUS_UNAUTHENTICATED, &code) < 0) {
        bad_knob(c, "x-status", m->value, "a gRPC status code 0..16");
        return -1;
      }
    } else if (grpc_slice_str_cmp(m->key, "x-message") == 0 ||
               grpc_slice_str_cmp(m->key, "x-message-bin") == 0) {
      if (c->has_details)
        grpc_slice_unref(c->details);
      /* A reference, not a copy: the value lives in the call's arena,
       * which outlives the answer (the slice is released in maybe_done). */
      c->details = grpc_slice_ref(m->value);
      c->has_details = 1;
    }
  }
  c->status = (grpc_status_code)code;
  return delay;
}

/* Decodes the HelloRequest and encodes the HelloResponse into c->reply.
 * Returns 0, or -1 with the status set (INVALID_ARGUMENT: the request does
 * not decode). */
static int make_reply(hello_call *c) {
  Locust__Hello__HelloRequest *req = NULL;
  if (c->payload) {
    grpc_byte_buffer_reader rd;
    /* The reader also undoes the message compression a client may use. */
    if (grpc_byte_buffer_reader_init(&rd, c->payload)) {
      grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
      req = locust__hello__hello_request__unpack(NULL, GRPC_SLICE_LENGTH(all),
                                                 GRPC_SLICE_START_PTR(all));
      grpc_slice_unref(all);
      grpc_byte_buffer_reader_destroy(&rd);
    }
  }
  if (!req) {
    set_status(c, GRPC_STATUS_INVALID_ARGUMENT,
               c->payload ? "the request is not a locust.hello.HelloRequest"
                          : "the request has no message");
    return -1;
  }
  const char *name = req->name ? req->name : "";
  size_t tlen =
      sizeof HS_HELLO_PREFIX - 1 + strlen(name) + sizeof HS_HELLO_SUFFIX - 1;
  char *text = malloc(tlen + 1);
  if (!text) {
    locust__hello__hello_request__free_unpacked(req, NULL);
    set_status(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return -1;
  }
  snprintf(text, tlen + 1, "%s%s%s", HS_HELLO_PREFIX, name, HS_HELLO_SUFFIX);
  locust__hello__hello_request__free_unpacked(req, NULL);

  Locust__Hello__HelloResponse resp = LOCUST__HELLO__HELLO_RESPONSE__INIT;
  resp.message = text;
  /* Encode straight into a slice that the byte buffer then refers to: no
   * copy between protobuf-c and grpc. */
  grpc_slice out =
      grpc_slice_malloc(locust__hello__hello_response__get_packed_size(&resp));
  locust__hello__hello_response__pack(&resp, GRPC_SLICE_START_PTR(out));
  free(text);
  c->reply = grpc_raw_byte_buffer_create(&out, 1);
  grpc_slice_unref(out);
  return 0;
}

/* Starts the batch that answers: initial metadata, the message (with
 * status OK only), the status; with_close adds RECV_CLOSE_ON_SERVER (when
 * no separate batch waits for it). On a start failure the call is
 * abandoned (counted failed). */
static void send_answer(hello_call *c, int with_close) {
  grpc_op ops[4];
  size_t n = 0;
  memset(ops, 0, sizeof ops);
  ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
  if (c->status == GRPC_STATUS_OK && c->reply) {
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = c->reply;
  }
  ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  ops[n].data.send_status_from_server.status = c->status;
  ops[n++].data.send_status_from_server.status_details =
      c->has_details ? &c->details : NULL;
  if (with_close) {
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
  }
  grpc_call_error e =
      grpc_call_start_batch(c->call, ops, n, &c->answered, NULL);
  if (e != GRPC_CALL_OK) {
    hs_log("SayHello: cannot start the answer: %s",
           grpc_call_error_to_string(e));
    grpc_call_cancel(c->call, NULL);
    return;
  }
  c->ops++;
}

static void on_arrived(hs_tag *tag, int ok) {
  hello_call *c = HS_CONTAINER_OF(tag, hello_call, arrived);
  hs_worker *w = c->w;
  if (!ok) {
    /* No call: the server is shutting down and hands the request back. */
    maybe_done(c);
    return;
  }
  /* Keep as many requests posted as before: the next call must not wait
   * for this one to be answered. */
  if (atomic_load(&w->srv->phase) == HS_RUNNING)
    hs_hello_request(w);

  long delay = read_knobs(c);
  if (delay >= 0 && c->status == GRPC_STATUS_OK && make_reply(c) < 0)
    delay = 0;      /* the request is bad: say so now */
  if (c->payload) { /* read: a delayed call holds its answer, not its request */
    grpc_byte_buffer_destroy(c->payload);
    c->payload = NULL;
  }
  if (delay <= 0) {
    send_answer(c, 1);
    maybe_done(c);
    return;
  }
  grpc_op close_op;
  memset(&close_op, 0, sizeof close_op);
  close_op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  close_op.data.recv_close_on_server.cancelled = &c->cancelled;
  grpc_call_error e =
      grpc_call_start_batch(c->call, &close_op, 1, &c->closed, NULL);
  if (e != GRPC_CALL_OK) {
    hs_log("SayHello: cannot watch the call: %s", grpc_call_error_to_string(e));
    send_answer(c, 1);
    maybe_done(c);
    return;
  }
  c->ops++;
  c->timer.due_ns = hs_now_ns() + (int64_t)delay * 1000000;
  if (hs_delay_heap_push(&w->delays, &c->timer) < 0) {
    /* The heap is full: refuse rather than grow without bound. */
    snprintf(c->error, sizeof c->error,
             "too many delayed calls (%zu) on this server thread",
             w->delays.cap);
    set_status(c, GRPC_STATUS_RESOURCE_EXHAUSTED, c->error);
    send_answer(c, 0);
  }
}

static void on_answered(hs_tag *tag, int ok) {
  hello_call *c = HS_CONTAINER_OF(tag, hello_call, answered);
  c->ops--;
  c->answer_ok = ok;
  maybe_done(c);
}

static void on_closed(hs_tag *tag, int ok) {
  hello_call *c = HS_CONTAINER_OF(tag, hello_call, closed);
  (void)ok; /* a failed close only means the call is over too */
  c->ops--;
  if (c->timer.idx != HS_DELAY_NONE) {
    /* Over before its answer was due (the client cancelled or its deadline
     * passed): nobody is waiting for the answer any more. */
    hs_delay_heap_remove(&c->w->delays, &c->timer);
    c->cancelled = 1;
  }
  maybe_done(c);
}

/* A delayed answer is due. */
static void hello_due(hs_delay_item *it) {
  hello_call *c = HS_CONTAINER_OF(it, hello_call, timer);
  send_answer(c, 0);
  maybe_done(c);
}

/* ---- methods nobody registered -------------------------------------------- */

typedef struct unknown_call {
  hs_tag arrived, answered;
  hs_worker *w;
  grpc_call *call; /* owned */
  grpc_call_details details;
  grpc_metadata_array md;
  int cancelled;
  int ops;
} unknown_call;

static void unknown_free(unknown_call *u) {
  if (u->call)
    grpc_call_unref(u->call);
  grpc_call_details_destroy(&u->details);
  grpc_metadata_array_destroy(&u->md);
  free(u);
}

static void unknown_answered(hs_tag *tag, int ok) {
  unknown_call *u = HS_CONTAINER_OF(tag, unknown_call, answered);
  if (ok && !u->cancelled)
    u->w->counts.unimplemented++;
  else
    u->w->counts.failed++;
  unknown_free(u);
}

static void unknown_arrived(hs_tag *tag, int ok) {
  unknown_call *u = HS_CONTAINER_OF(tag, unknown_call, arrived);
  if (!ok) {
    unknown_free(u);
    return;
  }
  if (atomic_load(&u->w->srv->phase) == HS_RUNNING)
    hs_unknown_request(u->w);
  /* Answer without reading the request: the status says it all. */
  grpc_op ops[3];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[1].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  ops[1].data.send_status_from_server.status = GRPC_STATUS_UNIMPLEMENTED;
  grpc_slice msg = grpc_slice_from_static_string("unknown method");
  ops[1].data.send_status_from_server.status_details = &msg;
  ops[2].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  ops[2].data.recv_close_on_server.cancelled = &u->cancelled;
  grpc_call_error e =
      grpc_call_start_batch(u->call, ops, 3, &u->answered, NULL);
  if (e != GRPC_CALL_OK) {
    hs_log("cannot answer an unknown method: %s", grpc_call_error_to_string(e));
    grpc_call_cancel(u->call, NULL);
    u->w->counts.failed++;
    unknown_free(u);
  }
}

int hs_unknown_request(hs_worker *w) {
  unknown_call *u = calloc(1, sizeof *u);
  if (!u) {
    hs_log("out of memory");
    return -1;
  }
  u->arrived.fn = unknown_arrived;
  u->answered.fn = unknown_answered;
  u->w = w;
  grpc_call_details_init(&u->details);
  grpc_metadata_array_init(&u->md);
  grpc_call_error e = grpc_server_request_call(
      w->srv->server, &u->call, &u->details, &u->md, w->cq, w->cq, &u->arrived);
  if (e != GRPC_CALL_OK) {
    request_refused(w, e, "generic");
    unknown_free(u);
    return -1;
  }
  return 0;
}

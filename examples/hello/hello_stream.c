/*
 * The streaming methods of hello.proto, rpcload's additions to Locust's
 * service (SayHello stays as Locust has it):
 *
 *   SayHelloStream (server streaming): HelloStreamRequest{name, count,
 *     interval_ms}: `count` HelloResponses (1 when 0) "Hello from Locust,
 *     <name>!", `interval_ms` apart, then the status;
 *   SayHelloToAll (client streaming): reads HelloRequests until the client
 *     closes, then one HelloResponse "Hello from Locust, <n> names!";
 *   SayHelloChat (bidirectional): a HelloResponse "Hello from Locust,
 *     <name>!" for each HelloRequest, at once; the status when the client
 *     closes.
 *
 * Request metadata as for SayHello: x-status and x-message (or
 * x-message-bin) give the status the call ends with, after its messages,
 * so a stream can fail midway; a knob that does not parse is answered
 * INVALID_ARGUMENT at once.
 *
 * On grpc core's batch API a call has at most one send and one receive in
 * flight: a stream is a chain of batches, each started when the one before
 * completed. A separate RECV_CLOSE_ON_SERVER batch notices a client that
 * goes away (a cancel, --stream-call-count reached), which also takes a
 * waiting call out of the delay heap. A call is counted and freed when no
 * batch is in flight and it waits in no heap. Everything of a call happens
 * on the worker thread whose queue it is bound to (server.h).
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

#define HS_HELLO_PREFIX "Hello from Locust, "
/* The longest interval a SayHelloStream may ask for (as x-delay-ms). */
#define HS_MAX_INTERVAL_MS 600000

enum stream_kind { KIND_OUT, KIND_IN, KIND_CHAT };

typedef struct stream_call {
  hs_tag arrived;  /* grpc_server_request_registered_call */
  hs_tag sent;     /* a SEND_MESSAGE batch */
  hs_tag received; /* a RECV_MESSAGE batch */
  hs_tag closed;   /* RECV_CLOSE_ON_SERVER */
  hs_tag finished; /* the SEND_STATUS_FROM_SERVER batch */
  hs_delay_item timer;
  hs_worker *w;
  enum stream_kind kind;
  grpc_call *call; /* owned: unref'ed when done */
  gpr_timespec deadline;
  grpc_metadata_array md;    /* request metadata (owned) */
  grpc_byte_buffer *payload; /* the message just read (owned), or NULL */
  grpc_byte_buffer *reply;   /* the message to send (owned), or NULL */
  grpc_byte_buffer *out;     /* the copy a send took (owned), or NULL */
  grpc_status_code status;   /* the status the call ends with */
  grpc_slice details;        /* its message (owned) when has_details */
  int has_details;
  uint32_t count, interval_ms; /* SayHelloStream's request */
  uint32_t sent_n;             /* messages written */
  uint64_t received_n;         /* messages read */
  int ops;                     /* batches in flight */
  int md_sent;                 /* initial metadata went with a batch */
  int status_ok;               /* the status batch succeeded */
  int cancelled;               /* RECV_CLOSE_ON_SERVER: not run to completion */
  int gone;        /* a batch failed: the client is gone, start no more */
  char error[128]; /* a status message made here (bad knob) */
} stream_call;

static void on_arrived(hs_tag *tag, int ok);
static void on_sent(hs_tag *tag, int ok);
static void on_received(hs_tag *tag, int ok);
static void on_closed(hs_tag *tag, int ok);
static void on_finished(hs_tag *tag, int ok);
static void interval_due(hs_delay_item *it);

static void *method_of(const hs_server *srv, enum stream_kind k) {
  return k == KIND_OUT  ? srv->m_stream
         : k == KIND_IN ? srv->m_to_all
                        : srv->m_chat;
}

/* Counts the call and frees it once nothing refers to it any more. */
static void maybe_done(stream_call *c) {
  if (c->ops > 0 || c->timer.idx != HS_DELAY_NONE)
    return;
  hs_counts *n = &c->w->counts;
  if (c->call) { /* NULL: a request that never got a call */
    if (!c->status_ok || c->cancelled)
      n->stream_failed++;
    else if (c->status == GRPC_STATUS_OK)
      n->stream_ok++;
    else
      n->stream_status++;
    grpc_call_unref(c->call);
  }
  grpc_metadata_array_destroy(&c->md);
  if (c->payload)
    grpc_byte_buffer_destroy(c->payload);
  if (c->reply)
    grpc_byte_buffer_destroy(c->reply);
  if (c->out)
    grpc_byte_buffer_destroy(c->out);
  if (c->has_details)
    grpc_slice_unref(c->details);
  free(c);
}

int hs_stream_request(hs_worker *w, void *method) {
  stream_call *c = calloc(1, sizeof *c);
  if (!c) {
    hs_log("out of memory");
    return -1;
  }
  const hs_server *srv = w->srv;
  c->kind = method == srv->m_stream   ? KIND_OUT
            : method == srv->m_to_all ? KIND_IN
                                      : KIND_CHAT;
  c->arrived.fn = on_arrived;
  c->sent.fn = on_sent;
  c->received.fn = on_received;
  c->closed.fn = on_closed;
  c->finished.fn = on_finished;
  c->timer.idx = HS_DELAY_NONE;
  c->timer.fire = interval_due;
  c->w = w;
  grpc_metadata_array_init(&c->md);
  grpc_call_error e = grpc_server_request_registered_call(
      w->srv->server, method, &c->call, &c->deadline, &c->md,
      c->kind == KIND_OUT ? &c->payload : NULL, w->cq, w->cq, &c->arrived);
  if (e != GRPC_CALL_OK) {
    if (!w->requests_failed)
      hs_log("cannot ask grpc for a streaming call: %s",
             grpc_call_error_to_string(e));
    w->requests_failed = 1;
    c->call = NULL;
    maybe_done(c);
    return -1;
  }
  return 0;
}

static void set_status(stream_call *c, grpc_status_code code,
                       const char *text) {
  c->status = code;
  if (c->has_details)
    grpc_slice_unref(c->details);
  c->details = grpc_slice_from_copied_string(text);
  c->has_details = 1;
}

/* Parses decimal digits only, at most max. Returns 0 or -1. */
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

/* x-status and x-message: the status the call ends with. Returns 0, or -1
 * with INVALID_ARGUMENT set when x-status does not parse. */
static int read_knobs(stream_call *c) {
  long code = GRPC_STATUS_OK;
  for (size_t i = 0; i < c->md.count; i++) {
    const grpc_metadata *m = &c->md.metadata[i];
    if (grpc_slice_str_cmp(m->key, "x-status") == 0) {
      if (parse_uint(m->value, GRPC_STATUS_UNAUTHENTICATED, &code) < 0) {
        set_status(c, GRPC_STATUS_INVALID_ARGUMENT,
                   "x-status: expected a gRPC status code 0..16");
        return -1;
      }
    } else if (grpc_slice_str_cmp(m->key, "x-message") == 0 ||
               grpc_slice_str_cmp(m->key, "x-message-bin") == 0) {
      if (c->has_details)
        grpc_slice_unref(c->details);
      c->details = grpc_slice_ref(m->value);
      c->has_details = 1;
    }
  }
  c->status = (grpc_status_code)code;
  return 0;
}

/* The bytes of a message, whole (the reader undoes compression). */
static grpc_slice read_all(grpc_byte_buffer *b) {
  grpc_byte_buffer_reader rd;
  if (!b || !grpc_byte_buffer_reader_init(&rd, b))
    return grpc_empty_slice();
  grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
  grpc_byte_buffer_reader_destroy(&rd);
  return all;
}

/* A HelloResponse{message: text} as a byte buffer (owned by the caller),
 * encoded straight into a slice the buffer refers to. */
static grpc_byte_buffer *hello_response(const char *text) {
  Locust__Hello__HelloResponse resp = LOCUST__HELLO__HELLO_RESPONSE__INIT;
  resp.message = (char *)text;
  grpc_slice out =
      grpc_slice_malloc(locust__hello__hello_response__get_packed_size(&resp));
  locust__hello__hello_response__pack(&resp, GRPC_SLICE_START_PTR(out));
  grpc_byte_buffer *b = grpc_raw_byte_buffer_create(&out, 1);
  grpc_slice_unref(out);
  return b;
}

/* "Hello from Locust, <name>!" as a byte buffer. */
static grpc_byte_buffer *hello_to(const char *name) {
  size_t n = sizeof HS_HELLO_PREFIX + strlen(name) + 2;
  char *text = malloc(n);
  if (!text)
    return NULL;
  snprintf(text, n, "%s%s!", HS_HELLO_PREFIX, name);
  grpc_byte_buffer *b = hello_response(text);
  free(text);
  return b;
}

/* Starts a batch of `n` ops with `tag`; a refused batch abandons the call. */
static void start(stream_call *c, grpc_op *ops, size_t n, hs_tag *tag) {
  grpc_call_error e = grpc_call_start_batch(c->call, ops, n, tag, NULL);
  if (e != GRPC_CALL_OK) {
    hs_log("stream: cannot start a batch: %s", grpc_call_error_to_string(e));
    c->gone = 1;
    grpc_call_cancel(c->call, NULL);
    return;
  }
  c->ops++;
}

/* The initial metadata, with the first batch that sends anything. */
static size_t add_initial_md(stream_call *c, grpc_op *op) {
  if (c->md_sent)
    return 0;
  c->md_sent = 1;
  memset(op, 0, sizeof *op);
  op->op = GRPC_OP_SEND_INITIAL_METADATA;
  return 1;
}

/* Sends a copy of `b`: grpc takes the slices of the buffer it sends, so
 * the same message sent again needs a buffer of its own each time (the
 * copy shares the slices' memory by reference count). */
static void send_message(stream_call *c, grpc_byte_buffer *b) {
  grpc_op ops[2];
  size_t n = add_initial_md(c, &ops[0]);
  if (c->out)
    grpc_byte_buffer_destroy(c->out);
  c->out = grpc_byte_buffer_copy(b);
  memset(&ops[n], 0, sizeof ops[n]);
  ops[n].op = GRPC_OP_SEND_MESSAGE;
  ops[n++].data.send_message.send_message = c->out;
  start(c, ops, n, &c->sent);
}

/* Ends the call with its status (and, for SayHelloToAll, its answer). */
static void send_status(stream_call *c, grpc_byte_buffer *answer) {
  grpc_op ops[3];
  size_t n = add_initial_md(c, &ops[0]);
  if (answer && c->status == GRPC_STATUS_OK) {
    memset(&ops[n], 0, sizeof ops[n]);
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = answer;
  }
  memset(&ops[n], 0, sizeof ops[n]);
  ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  ops[n].data.send_status_from_server.status = c->status;
  ops[n++].data.send_status_from_server.status_details =
      c->has_details ? &c->details : NULL;
  start(c, ops, n, &c->finished);
}

static void receive(stream_call *c) {
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &c->payload;
  start(c, &op, 1, &c->received);
}

/* SayHelloStream: the next message, now or after the interval, or the
 * status after the last. */
static void stream_next(stream_call *c, int first) {
  if (c->gone)
    return;
  if (c->sent_n >= c->count) {
    send_status(c, NULL);
    return;
  }
  if (!first && c->interval_ms > 0) {
    c->timer.due_ns = hs_now_ns() + (int64_t)c->interval_ms * 1000000;
    if (hs_delay_heap_push(&c->w->delays, &c->timer) == 0)
      return;
    /* The heap is full: send at once rather than hold the call. */
  }
  send_message(c, c->reply);
}

static void interval_due(hs_delay_item *it) {
  stream_call *c = HS_CONTAINER_OF(it, stream_call, timer);
  if (!c->gone)
    send_message(c, c->reply);
  maybe_done(c);
}

/* SayHelloStream's request: name, count, interval. Returns 0, or -1 with
 * INVALID_ARGUMENT set. */
static int read_stream_request(stream_call *c, const char **name_out,
                               char *name, size_t name_len) {
  grpc_slice all = read_all(c->payload);
  Locust__Hello__HelloStreamRequest *req =
      c->payload ? locust__hello__hello_stream_request__unpack(
                       NULL, GRPC_SLICE_LENGTH(all), GRPC_SLICE_START_PTR(all))
                 : NULL;
  grpc_slice_unref(all);
  if (!req) {
    set_status(c, GRPC_STATUS_INVALID_ARGUMENT,
               "the request is not a locust.hello.HelloStreamRequest");
    return -1;
  }
  snprintf(name, name_len, "%s", req->name ? req->name : "");
  *name_out = name;
  c->count = req->count ? req->count : 1;
  c->interval_ms = req->interval_ms;
  locust__hello__hello_stream_request__free_unpacked(req, NULL);
  if (c->interval_ms > HS_MAX_INTERVAL_MS) {
    snprintf(c->error, sizeof c->error, "interval_ms: at most %d, got %u",
             HS_MAX_INTERVAL_MS, (unsigned)c->interval_ms);
    set_status(c, GRPC_STATUS_INVALID_ARGUMENT, c->error);
    return -1;
  }
  return 0;
}

static void on_arrived(hs_tag *tag, int ok) {
  stream_call *c = HS_CONTAINER_OF(tag, stream_call, arrived);
  hs_worker *w = c->w;
  if (!ok) { /* the server is shutting down and hands the request back */
    if (c->call)
      grpc_call_unref(c->call);
    c->call = NULL;
    maybe_done(c);
    return;
  }
  if (atomic_load(&w->srv->phase) == HS_RUNNING)
    hs_stream_request(w, method_of(w->srv, c->kind));
  grpc_op close_op;
  memset(&close_op, 0, sizeof close_op);
  close_op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  close_op.data.recv_close_on_server.cancelled = &c->cancelled;
  start(c, &close_op, 1, &c->closed);
  int bad = read_knobs(c);
  if (c->kind != KIND_OUT) {
    if (bad)
      send_status(c, NULL);
    else
      receive(c);
    maybe_done(c);
    return;
  }
  char name[256];
  const char *who = NULL;
  if (!bad)
    bad = read_stream_request(c, &who, name, sizeof name);
  if (c->payload) {
    grpc_byte_buffer_destroy(c->payload);
    c->payload = NULL;
    w->counts.msgs_in++;
  }
  if (bad) {
    send_status(c, NULL);
  } else {
    /* Every message of the stream is the same: made once, sent count
     * times (a copy each, see send_message). */
    c->reply = hello_to(who);
    if (!c->reply) {
      set_status(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
      send_status(c, NULL);
    } else {
      stream_next(c, 1);
    }
  }
  maybe_done(c);
}

static void on_sent(hs_tag *tag, int ok) {
  stream_call *c = HS_CONTAINER_OF(tag, stream_call, sent);
  c->ops--;
  if (!ok) {
    c->gone = 1;
  } else {
    c->sent_n++;
    c->w->counts.msgs_out++;
    if (c->kind == KIND_OUT) {
      stream_next(c, 0);
    } else {
      /* SayHelloChat: the reply went; the next request may come. */
      grpc_byte_buffer_destroy(c->reply);
      c->reply = NULL;
      receive(c);
    }
  }
  maybe_done(c);
}

static void on_received(hs_tag *tag, int ok) {
  stream_call *c = HS_CONTAINER_OF(tag, stream_call, received);
  c->ops--;
  if (!ok) {
    c->gone = 1;
    maybe_done(c);
    return;
  }
  if (!c->payload) { /* the client closed its side: the end */
    grpc_byte_buffer *answer = NULL;
    if (c->kind == KIND_IN) {
      char text[64];
      snprintf(text, sizeof text, HS_HELLO_PREFIX "%llu names!",
               (unsigned long long)c->received_n);
      answer = c->reply = hello_response(text);
    }
    send_status(c, answer);
    maybe_done(c);
    return;
  }
  c->received_n++;
  c->w->counts.msgs_in++;
  if (c->kind == KIND_IN) {
    grpc_byte_buffer_destroy(c->payload);
    c->payload = NULL;
    receive(c);
    maybe_done(c);
    return;
  }
  /* SayHelloChat: answer this one, then read the next. */
  grpc_slice all = read_all(c->payload);
  grpc_byte_buffer_destroy(c->payload);
  c->payload = NULL;
  Locust__Hello__HelloRequest *req = locust__hello__hello_request__unpack(
      NULL, GRPC_SLICE_LENGTH(all), GRPC_SLICE_START_PTR(all));
  grpc_slice_unref(all);
  if (!req) {
    set_status(c, GRPC_STATUS_INVALID_ARGUMENT,
               "a request is not a locust.hello.HelloRequest");
    grpc_call_cancel_with_status(c->call, c->status,
                                 "a request is not a locust.hello.HelloRequest",
                                 NULL);
    c->gone = 1;
    maybe_done(c);
    return;
  }
  c->reply = hello_to(req->name ? req->name : "");
  locust__hello__hello_request__free_unpacked(req, NULL);
  if (c->reply)
    send_message(c, c->reply);
  else
    grpc_call_cancel(c->call, NULL);
  maybe_done(c);
}

static void on_closed(hs_tag *tag, int ok) {
  stream_call *c = HS_CONTAINER_OF(tag, stream_call, closed);
  (void)ok; /* a failed close only means the call is over too */
  c->ops--;
  if (c->timer.idx != HS_DELAY_NONE) {
    /* Gone while it waited for its next message. */
    hs_delay_heap_remove(&c->w->delays, &c->timer);
    c->gone = 1;
  }
  maybe_done(c);
}

static void on_finished(hs_tag *tag, int ok) {
  stream_call *c = HS_CONTAINER_OF(tag, stream_call, finished);
  c->ops--;
  c->status_ok = ok;
  /* SayHelloToAll's answer went with the status. */
  if (ok && c->kind == KIND_IN && c->status == GRPC_STATUS_OK)
    c->w->counts.msgs_out++;
  maybe_done(c);
}

/*
 * The gRPC plugin's sessions and calls: one HTTP/2 connection per session
 * (lib/h2codec on lib/h2session), one stream per call.
 *
 * A call is submitted as one nghttp2 request: a constant unary (or
 * server-streaming) call points at the step's pre-built headers and
 * message; templated parts are expanded per call; a client's stream is
 * pulled message by message (grpc_send.c).
 *
 * A response is read as gRPC frames, which DATA frames may split
 * anywhere; each message is decoded with the method's output type, so one
 * that does not decode fails the call. A unary (or client-streaming) call
 * takes exactly one message; a server stream any number, each reported as
 * a "[recv]" event (ABI 1.4 request_event). The outcome is the trailers'
 * grpc-status: OK succeeds, anything else fails as "CODE: message"
 * ("UNAVAILABLE: try later"); with no grpc-status, the HTTP status maps to
 * a code as the gRPC spec says. A call the host gives up on (--timeout) is
 * reset and fails as DEADLINE_EXCEEDED, as the server would have said; a
 * server stream the client ends itself (--stream-call-count of messages
 * received, --stream-call-duration) is reset and succeeds, as in ghz.
 *
 * Responses for scenario checks (ABI 1.2): when the host says at submit
 * that it will look at a call's response, the stream collects the
 * metadata (headers, then trailers), the response message's wire bytes
 * and its proto3 JSON, and hands them over just before request_done, with
 * the call's gRPC status (also when it is not OK, so that a scenario may
 * expect NOT_FOUND). A server stream hands over its last message's bytes,
 * and as JSON {"count": N, "last": {...}, "messages": [{...}, ...]} (the
 * first GRPC_KEEP_MESSAGES of them), so that expect and capture reach the
 * count, the last message and any kept one. Other calls collect nothing.
 *
 * Connections are as in http2: streams up to the server's
 * SETTINGS_MAX_CONCURRENT_STREAMS, GOAWAY drains the connection and hands
 * unprocessed calls back to the host to send again. --keepalive sends a
 * PING every interval and closes a connection whose PING went unanswered
 * for one; --max-connection-age drains a connection that old.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rpcload/plugin.h>

#include "grpc_int.h"
#include "lib/http_text.h"
#include "pbjson.h"

/* Headers a templated request copies on the stack before using the heap. */
#define GRPC_NV_STACK 48

static char *dup_len(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (p != NULL) {
    memcpy(p, s, n);
    p[n] = '\0';
  }
  return p;
}

static void stream_cleanup(struct grpc_stream *gs) {
  free(gs->buf);
  gs->buf = NULL;
  grpc_out_cleanup(gs);
  rl__buf_free(&gs->kept);
  rl__resp_acc_put(&gs->s->c.free_accs, gs->acc);
  gs->acc = NULL;
}

static void finish(struct grpc_stream *gs, const char *error) {
  rl_result r;
  r.type = "grpc";
  r.name = gs->st->name;
  r.response_bytes = gs->bytes;
  r.error = error;
  stream_cleanup(gs);
  gs->s->c.host->request_done(gs->req, &r);
}

static int parse_status(const uint8_t *v, size_t len) {
  int code = 0;
  if (len == 0 || len > 4)
    return GRPC_UNKNOWN;
  for (size_t i = 0; i < len; i++) {
    if (v[i] < '0' || v[i] > '9')
      return GRPC_UNKNOWN;
    code = code * 10 + (v[i] - '0');
  }
  return code;
}

static void h2cb_header(void *stream_data, enum h2_block block,
                        const uint8_t *name, size_t name_len,
                        const uint8_t *value, size_t value_len) {
  struct grpc_stream *gs = stream_data;
  if (block == H2_BLOCK_INFORMATIONAL)
    return;
  if (gs->acc != NULL && !(name_len > 0 && name[0] == ':'))
    rl__resp_acc_header(gs->acc, name, name_len, value, value_len);
  /* grpc-status and grpc-message come in the trailers, or in the headers
   * of a trailers-only response. */
  if (name_len == 11 && memcmp(name, "grpc-status", 11) == 0) {
    gs->grpc_status = parse_status(value, value_len);
  } else if (name_len == 12 && memcmp(name, "grpc-message", 12) == 0) {
    rl__grpc_message_decode(value, value_len, gs->message, sizeof gs->message);
  } else if (block == H2_BLOCK_RESPONSE) {
    if (name_len == 12 && memcmp(name, "content-type", 12) == 0) {
      gs->not_grpc =
          !(value_len >= 16 && memcmp(value, "application/grpc", 16) == 0 &&
            (value_len == 16 || value[16] == '+' || value[16] == ';'));
    } else if (name_len == 13 && memcmp(name, "grpc-encoding", 13) == 0) {
      gs->gzip_in = (value_len == 4 && memcmp(value, "gzip", 4) == 0) ||
                    (value_len == 7 && memcmp(value, "deflate", 7) == 0);
    }
  }
}

static void h2cb_headers_end(void *stream_data, enum h2_block block,
                             int status) {
  struct grpc_stream *gs = stream_data;
  if (block == H2_BLOCK_RESPONSE)
    gs->http_status = status;
}

/* Keeps the message (wire bytes, borrowed) and its JSON for the host; a
 * server stream's also goes into the kept list. A message without a JSON
 * form (an Any of a type the descriptions lack) goes without: the host
 * then has only the bytes. */
static void acc_message(struct grpc_stream *gs, const ProtobufCMessage *m,
                        const uint8_t *data, size_t len) {
  rl__resp_acc *a = gs->acc;
  char err[128];
  rl__buf_reset(&a->body);
  rl__buf_add(&a->body, data, len); /* left out when out of memory */
  free(a->json);
  if (rl__pb_to_json(gs->st->pool, m, 0, &a->json, err, sizeof err) != 0)
    a->json = NULL;
  if (!gs->st->server_stream || a->json == NULL ||
      gs->n_kept >= GRPC_KEEP_MESSAGES ||
      gs->kept.len + strlen(a->json) + 2 > GRPC_KEEP_JSON)
    return;
  rl__buf_add(&gs->kept, gs->n_kept == 0 ? "[" : ",", 1);
  rl__buf_str(&gs->kept, a->json);
  gs->n_kept++;
}

/* A server stream's JSON for the host (see the top of this file), in place
 * of the last message's; NULL when out of memory. Caller frees. */
static char *stream_json(struct grpc_stream *gs) {
  const char *last = gs->acc->json != NULL ? gs->acc->json : "null";
  rl__buf b = {0};
  char head[48];
  snprintf(head, sizeof head,
           "{\"count\":%llu,\"last\":", (unsigned long long)gs->received);
  rl__buf_str(&b, head);
  rl__buf_str(&b, gs->received > 0 ? last : "null");
  rl__buf_str(&b, ",\"messages\":");
  if (gs->n_kept > 0)
    rl__buf_add(&b, gs->kept.p, gs->kept.len);
  else
    rl__buf_add(&b, "[", 1);
  rl__buf_add(&b, "]}", 3); /* with the NUL */
  if (b.oom) {
    rl__buf_free(&b);
    return NULL;
  }
  return b.p;
}

/* A [recv] event for the message that just came. */
static void report_recv(struct grpc_stream *gs, size_t len) {
  const rl_host *h = gs->s->c.host;
  rl_result r = {
      .type = "grpc", .name = gs->st->name_recv, .response_bytes = len};
  uint64_t now = h->now_ns();
  h->request_event(gs->req, &r, gs->last_recv_ns);
  gs->last_recv_ns = now;
}

/* ABI 1.10: the reply, as proto3 JSON, to the request's owner as it
 * comes; an owner holding enough pauses the stream (no WINDOW_UPDATE for
 * it: the server sends at most the stream's window more) until
 * session_read_more. A reply with no JSON form (an Any of an unknown
 * type) goes as JSON null. */
static void hand_message(struct grpc_stream *gs, const ProtobufCMessage *m) {
  const rl_host *h = gs->s->c.host;
  char *json = NULL, err[128];
  if (rl__pb_to_json(gs->st->pool, m, 0, &json, err, sizeof err) != 0) {
    free(json);
    json = NULL;
  }
  const char *text = json != NULL ? json : "null";
  if (h->request_message(gs->req, text, strlen(text)) == 1 && !gs->paused &&
      h2_session_pause(gs->s->c.h2, gs, 1) == 0)
    gs->paused = 1;
  free(json);
}

/* One whole response message (borrowed): inflated if need be, decoded as
 * the method's output type, counted. The decoded message is dropped once
 * it is known to decode, unless the host wants the response: then its
 * bytes and JSON are kept for it. */
static void take_message(struct grpc_stream *gs, int compressed,
                         const uint8_t *data, size_t len) {
  const struct grpc_step *st = gs->st;
  if (++gs->received > 1 && !st->server_stream) {
    gs->broken = BROKEN_TWO_MESSAGES;
    return;
  }
  uint8_t *plain = NULL;
  if (compressed) {
    if (!gs->gzip_in) {
      gs->broken = BROKEN_COMPRESSION;
      return;
    }
    int rc = grpc_gunzip(data, len, st->max_recv, &plain, &len);
    if (rc != 0) {
      gs->broken = rc == RL_ERR_NOMEM   ? BROKEN_NOMEM
                   : rc == RL_ERR_INVAL ? BROKEN_TOO_BIG
                                        : BROKEN_INFLATE;
      return;
    }
    data = plain;
  }
  gs->bytes += len;
  ProtobufCMessage *m =
      protobuf_c_message_unpack(st->method->output, NULL, len, data);
  if (m == NULL) {
    gs->broken = BROKEN_DECODE;
  } else {
    /* The message's JSON only for a host that reads the payload (ABI
     * 1.8 parts): decoding it is most of a collected call's cost. */
    if (gs->acc != NULL && (gs->acc->parts & RL_RESPONSE_BODY))
      acc_message(gs, m, data, len);
    if (gs->each)
      hand_message(gs, m);
    protobuf_c_message_free_unpacked(m, NULL);
    if (st->server_stream)
      report_recv(gs, len);
  }
  free(plain);
}

/* After a response message of a server stream: the count that ends the
 * call, the next ping-pong message. Returns 1 when the call ended. */
static int after_message(struct grpc_stream *gs) {
  const struct grpc_step *st = gs->st;
  if (gs->broken != BROKEN_NONE) {
    /* A stream goes on for ever: a client that cannot take a message
     * ends the call there, as gRPC's own clients do. */
    if (st->server_stream) {
      grpc_call_stop(gs, STOP_BROKEN);
      return 1;
    }
    return 0;
  }
  if (!st->server_stream)
    return 0;
  if (!st->client_stream && gs->call_count > 0 &&
      gs->received >= gs->call_count) {
    grpc_call_stop(gs, STOP_DONE);
    return 1;
  }
  if (st->client_stream)
    grpc_out_on_reply(gs);
  return 0;
}

/* DATA: gRPC frames, which DATA frames may split anywhere. A message in
 * one piece is decoded where it lies; one split across DATA frames is
 * gathered in gs->buf first. */
static void h2cb_data(void *stream_data, const uint8_t *data, size_t len) {
  struct grpc_stream *gs = stream_data;
  while (len > 0 && gs->broken == BROKEN_NONE) {
    if (gs->prefix_got < GRPC_FRAME_HEADER) {
      size_t take = GRPC_FRAME_HEADER - gs->prefix_got;
      if (take > len)
        take = len;
      memcpy(gs->prefix + gs->prefix_got, data, take);
      gs->prefix_got = (uint8_t)(gs->prefix_got + take);
      data += take;
      len -= take;
      if (gs->prefix_got < GRPC_FRAME_HEADER)
        return;
      gs->msg_len = (uint32_t)gs->prefix[1] << 24 |
                    (uint32_t)gs->prefix[2] << 16 |
                    (uint32_t)gs->prefix[3] << 8 | gs->prefix[4];
      gs->buf_got = 0;
      if (gs->msg_len > gs->st->max_recv) {
        gs->broken = BROKEN_TOO_BIG;
        (void)after_message(gs);
        return;
      }
    }
    size_t need = gs->msg_len - gs->buf_got;
    if (gs->buf == NULL && len >= need) {
      take_message(gs, gs->prefix[0] & 1, data, need);
    } else {
      if (gs->buf == NULL && (gs->buf = malloc(gs->msg_len)) == NULL) {
        gs->broken = BROKEN_NOMEM;
        (void)after_message(gs);
        return;
      }
      size_t take = len < need ? len : need;
      memcpy(gs->buf + gs->buf_got, data, take);
      gs->buf_got += take;
      if (gs->buf_got < gs->msg_len)
        return;
      take_message(gs, gs->prefix[0] & 1, gs->buf, gs->msg_len);
      free(gs->buf);
      gs->buf = NULL;
    }
    data += need;
    len -= need;
    gs->prefix_got = 0;
    /* The call may have ended there (its area is then no longer ours). */
    if (after_message(gs))
      return;
  }
}

/* The text of a broken response. */
static void broken_text(const struct grpc_stream *gs, char *out, size_t len) {
  const char *type = gs->st->method->output->name;
  char size[32];
  switch (gs->broken) {
  case BROKEN_TOO_BIG:
    grpc_size_text(gs->st->max_recv, size, sizeof size);
    snprintf(out, len,
             "RESOURCE_EXHAUSTED: response message over %s "
             "(--max-recv-message-size)",
             size);
    return;
  case BROKEN_DECODE:
    snprintf(out, len, "INTERNAL: the response does not decode as %s", type);
    return;
  case BROKEN_COMPRESSION:
    snprintf(out, len,
             "INTERNAL: compressed response without a known grpc-encoding");
    return;
  case BROKEN_INFLATE:
    snprintf(out, len, "INTERNAL: the compressed response is corrupt");
    return;
  case BROKEN_TWO_MESSAGES:
    snprintf(out, len,
             "UNIMPLEMENTED: more than one response message to a unary call");
    return;
  case BROKEN_TRUNCATED:
    snprintf(out, len, "INTERNAL: the response ended inside a message");
    return;
  case BROKEN_NOMEM:
  case BROKEN_NONE:
  default:
    snprintf(out, len, "INTERNAL: out of memory reading the response");
    return;
  }
}

/* The status code of a broken response, as its text names it. */
static int broken_code(enum grpc_broken b) {
  switch (b) {
  case BROKEN_TOO_BIG:
    return GRPC_RESOURCE_EXHAUSTED;
  case BROKEN_TWO_MESSAGES:
    return GRPC_UNIMPLEMENTED;
  case BROKEN_NONE:
    return GRPC_OK;
  default:
    return GRPC_INTERNAL;
  }
}

/* The status code an error text of ours starts with ("INTERNAL: ..."). */
static int code_of_text(const char *text) {
  for (int c = 0; c < RL__GRPC_N_STATUS; c++) {
    const char *name = rl__grpc_status_name(c);
    size_t n = strlen(name);
    if (strncmp(text, name, n) == 0 && text[n] == ':')
      return c;
  }
  return GRPC_UNKNOWN;
}

/*
 * The outcome of a stream the server ended: the call's status code, with
 * the error text in `error` ("" when OK). The code is the one the text
 * starts with: the server's grpc-status when it is not OK; without one,
 * the HTTP status's mapping (or UNKNOWN, INTERNAL); for an OK call whose
 * response is broken, or whose own message could not be made, the code
 * that says how.
 */
static int outcome(struct grpc_stream *gs, char *error, size_t len) {
  error[0] = '\0';
  if (gs->broken == BROKEN_NONE && gs->prefix_got > 0)
    gs->broken = BROKEN_TRUNCATED;
  if (gs->grpc_status > 0) {
    const char *name = rl__grpc_status_name(gs->grpc_status);
    char num[16];
    if (name == NULL) {
      snprintf(num, sizeof num, "CODE_%d", gs->grpc_status);
      name = num;
    }
    snprintf(error, len, "%s%s%s", name, gs->message[0] ? ": " : "",
             gs->message);
    return gs->grpc_status;
  }
  if (gs->grpc_status < 0) {
    if (gs->http_status != 200) {
      int code = grpc_code_from_http(gs->http_status);
      snprintf(error, len, "%s: HTTP status %d", rl__grpc_status_name(code),
               gs->http_status);
      return code;
    }
    if (gs->not_grpc) {
      snprintf(error, len,
               "UNKNOWN: the response's content-type is not application/grpc");
      return GRPC_UNKNOWN;
    }
    snprintf(error, len, "INTERNAL: the server sent no grpc-status");
    return GRPC_INTERNAL;
  }
  if (gs->broken != BROKEN_NONE) {
    broken_text(gs, error, len);
    return broken_code(gs->broken);
  }
  if (gs->send_error != NULL) {
    snprintf(error, len, "%s", gs->send_error);
    return code_of_text(gs->send_error);
  }
  if (gs->received == 0 && !gs->st->server_stream) {
    snprintf(error, len, "UNIMPLEMENTED: no response message to a unary call");
    return GRPC_UNIMPLEMENTED;
  }
  return GRPC_OK;
}

/* Hands the collected response to the host with the call's status. */
static void hand_over(struct grpc_stream *gs, int code) {
  if (gs->st->server_stream && (gs->acc->parts & RL_RESPONSE_BODY)) {
    char *json = stream_json(gs);
    free(gs->acc->json);
    gs->acc->json = json;
  }
  rl__resp_acc_hand_over(gs->s->c.host, gs->req, gs->acc, code);
}

/* The outcome of a stream the server ended. */
static void complete(struct grpc_stream *gs) {
  char error[GRPC_MESSAGE_MAX + 64];
  int code = outcome(gs, error, sizeof error);
  if (gs->acc != NULL)
    hand_over(gs, code);
  finish(gs, error[0] != '\0' ? error : NULL);
}

/* The outcome of a call the client ended itself (gs->stop). */
static void stopped(struct grpc_stream *gs) {
  char error[GRPC_MESSAGE_MAX + 64] = "";
  int code = GRPC_OK;
  if (gs->stop == STOP_BROKEN) {
    broken_text(gs, error, sizeof error);
    code = broken_code(gs->broken);
  }
  if (gs->acc != NULL)
    hand_over(gs, code);
  finish(gs, error[0] != '\0' ? error : NULL);
}

void grpc_call_stop(struct grpc_stream *gs, enum grpc_stop why) {
  gs->stop = (uint8_t)why;
  (void)h2_session_cancel(gs->s->c.h2, gs);
}

/* A stream reset by the server, as a gRPC client reports it. */
static void reset_text(uint32_t code, char *out, size_t len) {
  const char *name = h2_error_name(code);
  char num[16];
  if (name == NULL) {
    snprintf(num, sizeof num, "0x%x", (unsigned)code);
    name = num;
  }
  const char *grpc = code == NGHTTP2_REFUSED_STREAM      ? "UNAVAILABLE"
                     : code == NGHTTP2_CANCEL            ? "CANCELLED"
                     : code == NGHTTP2_ENHANCE_YOUR_CALM ? "RESOURCE_EXHAUSTED"
                                                         : "INTERNAL";
  snprintf(out, len, "%s: stream reset by the server (%s)", grpc, name);
}

static void h2cb_end(void *stream_data, enum h2_end how, uint32_t code) {
  struct grpc_stream *gs = stream_data;
  char error[128];
  const char *name;
  switch (how) {
  case H2_END_COMPLETE:
    complete(gs);
    return;
  case H2_END_RESET:
    reset_text(code, error, sizeof error);
    finish(gs, error);
    return;
  case H2_END_ERROR:
    name = h2_error_name(code);
    snprintf(error, sizeof error, "INTERNAL: HTTP/2 stream error %s",
             name != NULL ? name : "");
    finish(gs, error);
    return;
  case H2_END_UNPROCESSED:
    name = h2_error_name(code);
    snprintf(error, sizeof error, "UNAVAILABLE: GOAWAY %s",
             name != NULL ? name : "");
    if (gs->s->c.has_retry) {
      stream_cleanup(gs);
      gs->s->c.host->request_retry(gs->req, error);
    } else {
      finish(gs, error);
    }
    return;
  case H2_END_CANCELLED:
    if (gs->stop != STOP_NONE) {
      stopped(gs);
      return;
    }
    /* The host's --timeout ran out: what a gRPC client calls a deadline. */
    finish(gs, "DEADLINE_EXCEEDED: Deadline Exceeded");
    return;
  case H2_END_ABORTED:
  default:
    snprintf(error, sizeof error, "UNAVAILABLE: %s",
             gs->s->c.abort_reason != NULL ? gs->s->c.abort_reason
                                           : rl_strerror(RL_ERR_CLOSED));
    finish(gs, error);
    return;
  }
}

static const h2_callbacks grpc_h2_callbacks = {
    .write = rl__h2codec_write,
    .on_header = h2cb_header,
    .on_headers_end = h2cb_headers_end,
    .on_data = h2cb_data,
    .on_end = h2cb_end,
    .on_goaway = rl__h2codec_goaway,
    .on_send = grpc_out_send,
    .on_drop = grpc_out_drop,
};

/*
 * A new connection (TCP, and TLS with ALPN h2 for grpcs). Borrows host
 * and conn (they outlive the session) and info (the call only); the plugin
 * owns *session until grpc_session_del(). Queues the HTTP/2 preface.
 */
int grpc_session_new(const rl_host *host, rl_conn *conn,
                     const rl_conn_info *info, void **session) {
  struct grpc_session *s = calloc(1, sizeof *s);
  if (s == NULL)
    return RL_ERR_NOMEM;
  /* A host that hands replies to their owner one by one (ABI 1.10) may
   * ask to hold a stream: the session then acknowledges DATA itself. */
  s->c.manual_window = RL_HOST_HAS_MESSAGES(host);
  int rc = rl__h2codec_start(&s->c, host, conn, info, &grpc_h2_callbacks,
                             sizeof(struct grpc_stream));
  if (rc != 0) {
    free(s);
    return rc;
  }
  if (RL_HOST_HAS_STREAMS(host) && host->conn_loop != NULL &&
      host->timer_start != NULL)
    s->loop = host->conn_loop(conn);
  *session = s;
  return 0;
}

uint32_t grpc_session_max_concurrent(void *session) {
  struct grpc_session *s = session;
  return h2_session_max_concurrent(s->c.h2, GRPC_STREAMS_BEFORE_SETTINGS);
}

int grpc_expand_message(const struct grpc_step *st, const struct grpc_msg *m,
                        rl_request *req, uint8_t **frame, size_t *frame_len) {
  size_t len = 0;
  const char *text = st->host->template_expand(m->json, req, &len);
  if (text == NULL)
    return RL_ERR_NOMEM;
  uint8_t *wire = NULL;
  size_t wire_len = 0;
  char perr[256];
  ProtobufCMessage *msg = NULL;
  int rc = rl__pb_from_json_len(st->pool, st->method->input, text, len, &msg,
                                perr, sizeof perr);
  if (rc != 0) {
    if (rc != RL_ERR_NOMEM) {
      /* Why, for the failure's text: a message given whole per request
       * (Lua's u.grpc:call) is checked only here. */
      char why[384];
      snprintf(why, sizeof why, "the message does not fit %s: %s",
               st->method->input->name, perr);
      st->host->request_refuse(req, why);
    }
    return rc == RL_ERR_NOMEM ? rc : RL_ERR_INVAL;
  }
  rc = rl__pb_encode(msg, &wire, &wire_len);
  rl__pb_message_free(msg);
  if (rc != 0)
    return rc;
  if (wire_len > st->max_send) {
    free(wire);
    return RL_ERR_UNSUPPORTED;
  }
  rc = grpc_frame_build(wire, wire_len, st->gzip, frame, frame_len);
  free(wire);
  return rc;
}

/* ---- Keepalive and connection age ------------------------------------------ */

/* Keepalive: a PING each interval; one still unanswered when the next is
 * due means the connection is dead, whatever TCP thinks: it is closed, and
 * its calls fail UNAVAILABLE. */
static void ping_fired(rl_timer *t, void *arg) {
  struct grpc_session *s = arg;
  (void)t;
  s->ping = NULL;
  if (s->ping_out && !h2_session_ping_acked(s->c.h2)) {
    s->c.host->log(RL_LOG_WARN,
                   "grpc: keepalive PING unanswered for %.3gs, closing the "
                   "connection",
                   (double)s->keepalive_ns / 1e9);
    s->c.host->conn_close(s->c.conn);
    return;
  }
  s->ping_out = h2_session_ping(s->c.h2) == 0;
  s->ping = s->c.host->timer_start(s->loop, s->keepalive_ns, ping_fired, s);
}

static void aging_fired(rl_timer *t, void *arg) {
  struct grpc_session *s = arg;
  (void)t;
  s->aging = NULL;
  /* New calls go to a new connection; this one closes once idle. */
  if (s->c.has_retry)
    s->c.host->conn_drain(s->c.conn);
}

/* The first call's step says what the connection's timers are. */
static void session_timers(struct grpc_session *s, const struct grpc_step *st) {
  s->timers_set = 1;
  if (s->loop == NULL)
    return;
  if (st->keepalive_ns > 0) {
    s->keepalive_ns = st->keepalive_ns;
    s->ping = s->c.host->timer_start(s->loop, s->keepalive_ns, ping_fired, s);
  }
  if (st->max_age_ns > 0)
    s->aging = s->c.host->timer_start(s->loop, st->max_age_ns, aging_fired, s);
}

/* ---- Submit -------------------------------------------------------------------- */

/*
 * Puts the call's own metadata (ABI 1.7 request headers, checked) into
 * nva (*nv fields): names lowered into copies kept in values (*nvalues,
 * freed by the caller after the submit, which copies them); one named
 * like a field already there (the step's metadata) replaces its value.
 * 0 or RL_ERR_NOMEM.
 */
static int put_metadata(const rl_kv *h, size_t n, nghttp2_nv *nva, size_t *nv,
                        char **values, size_t *nvalues) {
  for (size_t i = 0; i < n; i++) {
    char *name = dup_len(h[i].key, strlen(h[i].key));
    if (name == NULL)
      return RL_ERR_NOMEM;
    values[(*nvalues)++] = name;
    size_t len = strlen(name);
    for (size_t k = 0; k < len; k++)
      name[k] = (char)rl__http_ascii_lower((unsigned char)name[k]);
    size_t j = 0;
    while (j < *nv &&
           !(nva[j].namelen == len && memcmp(nva[j].name, name, len) == 0))
      j++;
    if (j == *nv)
      (*nv)++;
    nva[j] = (nghttp2_nv){.name = (uint8_t *)name,
                          .namelen = len,
                          .value = (uint8_t *)(uintptr_t)h[i].value,
                          .valuelen = strlen(h[i].value),
                          .flags = NGHTTP2_NV_FLAG_NONE};
  }
  return 0;
}

/*
 * Submits a call with templated parts: metadata values expanded and copied
 * into this frame's storage (nghttp2 copies header fields not marked
 * NO_COPY during the submit), a unary message expanded into a buffer the
 * stream owns until it is sent.
 */
static int submit_templated(struct grpc_session *s, const struct grpc_step *st,
                            rl_request *req, const struct grpc_msg *m,
                            const struct grpc_stream *init, void **area) {
  nghttp2_nv stack_nva[GRPC_NV_STACK];
  char *values[GRPC_NV_STACK];
  size_t n_extra;
  const rl_kv *extra = rl__http_extra(s->c.host, req, &n_extra);
  size_t n = st->nvlen + st->n_md_tpl + n_extra, nv = 0;
  if (n_extra > 0) {
    char why[192];
    if (rl__http_check_extra(extra, n_extra, why, sizeof why) != 0) {
      s->c.host->request_refuse(req, why);
      return RL_ERR_INVAL;
    }
  }
  if (n > GRPC_NV_STACK) {
    if (n_extra > 0)
      s->c.host->request_refuse(req, "too many metadata fields");
    return RL_ERR_NOMEM; /* far beyond any sane metadata count */
  }
  memcpy(stack_nva, st->nva, st->nvlen * sizeof *stack_nva);
  nv = st->nvlen;
  int rc = 0;
  size_t nvalues = 0;
  for (size_t i = 0; rc == 0 && i < st->n_md_tpl; i++) {
    size_t len = 0;
    const char *text =
        s->c.host->template_expand(st->md_tpl[i].value, req, &len);
    char *v = text == NULL ? NULL
              : st->md_tpl[i].bin
                  ? grpc_base64_encode((const uint8_t *)text, len)
                  : dup_len(text, len);
    if (v == NULL) {
      rc = RL_ERR_NOMEM;
      break;
    }
    values[nvalues++] = v;
    stack_nva[nv++] = (nghttp2_nv){.name = (uint8_t *)st->md_tpl[i].name,
                                   .namelen = strlen(st->md_tpl[i].name),
                                   .value = (uint8_t *)v,
                                   .valuelen = strlen(v),
                                   .flags = NGHTTP2_NV_FLAG_NO_COPY_NAME};
  }
  if (rc == 0 && n_extra > 0)
    rc = put_metadata(extra, n_extra, stack_nva, &nv, values, &nvalues);
  uint8_t *frame = NULL;
  size_t frame_len = 0;
  h2_body body = {.stream = st->client_stream};
  if (!st->client_stream) {
    body = (h2_body){.data = m->frame, .len = m->frame_len};
    if (rc == 0 && m->json != NULL) {
      rc = grpc_expand_message(st, m, req, &frame, &frame_len);
      body = (h2_body){.data = frame,
                       .len = frame_len,
                       .release = rl__h2codec_free_body,
                       .release_arg = frame};
    }
  }
  if (rc == 0)
    rc = h2_session_submit(s->c.h2, stack_nva, nv, &body, init, area);
  if (rc != 0)
    free(frame); /* a refused submit leaves the body ours */
  for (size_t i = 0; i < nvalues; i++)
    free(values[i]);
  return rc;
}

/*
 * Starts a call as a new stream. On 0 the session holds req until it
 * calls request_done() or request_retry() once, never from here. On error
 * nothing is kept: RL_ERR_BUSY at the stream limit, RL_ERR_CLOSED once the
 * connection is going away, RL_ERR_INVAL when templated data stopped
 * fitting the message, RL_ERR_UNSUPPORTED when it grew over the send
 * limit.
 */
int grpc_session_submit(void *session, rl_request *req) {
  struct grpc_session *s = session;
  int rc = rl__h2codec_admit(&s->c, GRPC_STREAMS_BEFORE_SETTINGS);
  if (rc != 0)
    return rc;
  struct grpc_step *st = s->c.host->request_step(req);
  if (st == NULL || st->method == NULL)
    return RL_ERR_INVAL;
  if (!s->timers_set)
    session_timers(s, st);
  /* A unary or server-streaming call sends one message: round-robin over
   * the step's; a client's stream sends them all, in order. */
  const struct grpc_msg *m = &st->msgs[0];
  if (st->n_msgs > 1 && !st->client_stream)
    m = &st->msgs[atomic_fetch_add_explicit(&st->next_msg, 1,
                                            memory_order_relaxed) %
                  st->n_msgs];
  int streamed = st->client_stream || st->server_stream;
  struct grpc_stream init = {.s = s,
                             .req = req,
                             .st = st,
                             .grpc_status = -1,
                             .in_submit = (uint8_t)streamed};
  /* The call's stream settings, some maybe its own (grpc_percall.c). */
  if (streamed && (rc = grpc_percall_settings(st, req, &init)) != 0)
    return rc;
  /* ABI 1.10: a stream's replies to the owner one by one, if it asks. */
  init.each = (uint8_t)(st->server_stream && RL_HOST_HAS_MESSAGES(s->c.host) &&
                        s->c.host->request_wants_messages(req) == 1);
  /* Asked once per call: only then does the stream collect. */
  if ((rc = rl__h2codec_collector(&s->c, req, &init.acc)) != 0)
    return rc;
  void *area = NULL;
  size_t n_extra;
  (void)rl__http_extra(s->c.host, req, &n_extra);
  if (m->json != NULL || st->n_md_tpl > 0 || st->client_stream || n_extra > 0) {
    rc = submit_templated(s, st, req, m, &init, &area);
  } else {
    /* The frame belongs to the step, which outlives the session. */
    h2_body body = {.data = m->frame, .len = m->frame_len};
    rc = h2_session_submit(s->c.h2, st->nva, st->nvlen, &body, &init, &area);
  }
  rc = rl__h2codec_submitted(&s->c, rc, init.acc);
  if (rc == 0 && streamed)
    grpc_out_started(area);
  return rc;
}

int grpc_session_on_read(void *session, const uint8_t *data, size_t len) {
  struct grpc_session *s = session;
  return rl__h2codec_read(&s->c, data, len);
}

static int stream_is(void *area, void *arg) {
  return ((struct grpc_stream *)area)->req == arg;
}

/* The host's --timeout ran out for one call: reset its stream alone and
 * report DEADLINE_EXCEEDED before returning 0. */
int grpc_session_cancel(void *session, rl_request *req, const char *reason) {
  struct grpc_session *s = session;
  void *area = h2_session_find(s->c.h2, stream_is, req);
  if (area == NULL)
    return RL_ERR_INVAL;
  (void)reason; /* the call fails as DEADLINE_EXCEEDED, as gRPC says */
  (void)h2_session_cancel(s->c.h2, area);
  return 0;
}

/* ABI 1.10: req's owner took the replies it held: the stream's data
 * held back is acknowledged, the server sends on. */
void grpc_session_read_more(void *session, rl_request *req) {
  struct grpc_session *s = session;
  struct grpc_stream *gs = h2_session_find(s->c.h2, stream_is, req);
  if (gs == NULL || !gs->paused)
    return;
  gs->paused = 0;
  (void)h2_session_pause(s->c.h2, gs, 0);
}

/* The connection is over: every call still held fails once, as
 * UNAVAILABLE with the reason (borrowed for the call). */
void grpc_session_del(void *session, int err, const char *reason) {
  struct grpc_session *s = session;
  if (s == NULL)
    return;
  if (s->ping != NULL)
    s->c.host->timer_stop(s->ping);
  if (s->aging != NULL)
    s->c.host->timer_stop(s->aging);
  char why[64];
  uint32_t code;
  if (rl__h2codec_goaway_error(&s->c, err, &code)) {
    const char *name = h2_error_name(code);
    snprintf(why, sizeof why, "GOAWAY %s", name != NULL ? name : "");
    rl__h2codec_end(&s->c, why);
  } else {
    rl__h2codec_end(
        &s->c, reason != NULL && reason[0] != '\0' ? reason : rl_strerror(err));
  }
  free(s);
}

/*
 * The client's side of a streamed gRPC call (client streaming and
 * bidirectional methods): the step's messages in order, cycling through
 * them when --stream-call-count or --stream-call-duration asks for more,
 * --stream-interval apart, or each after the reply to the one before
 * (--stream-ping-pong); then END_STREAM.
 *
 * Messages are pulled, not pushed: h2session asks for bytes (on_send) only
 * when the server's flow-control windows let them go, and only then is
 * the next message made (a templated one expanded). So a server that reads
 * slowly holds the client back, and nothing queues here but the one
 * message being sent.
 *
 * Inside h2_session_submit (the call's first message usually goes out
 * there) the host's request_event is fine but timers are not: a submit
 * that fails leaves no call to stop them. So the first messages' [send]
 * events and the interval timer wait until grpc_out_started, right after
 * the submit succeeded.
 */
#include <stdlib.h>
#include <string.h>

#include "grpc_int.h"

/* Whether the call sends another message after the ones it sent. */
static int out_more(const struct grpc_stream *gs) {
  const struct grpc_step *st = gs->st;
  if (gs->out.stop)
    return 0;
  if (gs->call_count > 0)
    return gs->out.sent < gs->call_count;
  if (gs->call_duration_ns > 0)
    return 1; /* until the duration ends */
  return gs->out.sent < (gs->n_list > 0 ? gs->n_list : st->n_msgs);
}

/* Loads the next message into gs->out (OUT_SENDING), or, when it cannot
 * be made, ends the client's side with gs->send_error set. */
static void out_load(struct grpc_stream *gs) {
  const struct grpc_step *st = gs->st;
  free(gs->out.owned);
  gs->out.owned = NULL;
  gs->out.off = 0;
  /* A list template's array is the call's list (grpc_percall.c). */
  if (gs->out.next == 0 && st->list_tpl && grpc_percall_list(gs) != 0) {
    gs->send_error = gs->list_error;
    gs->out.p = NULL;
    gs->out.len = 0;
    gs->out.state = OUT_EOF;
    return;
  }
  const struct grpc_msg *m = gs->n_list > 0
                                 ? &gs->list[gs->out.next % gs->n_list]
                                 : &st->msgs[gs->out.next % st->n_msgs];
  gs->out.next++;
  if (m->json == NULL) {
    gs->out.p = m->frame;
    gs->out.len = m->frame_len;
    gs->out.state = OUT_SENDING;
    return;
  }
  uint8_t *frame = NULL;
  size_t len = 0;
  int rc = grpc_expand_message(st, m, gs->req, &frame, &len);
  if (rc != 0) {
    gs->send_error =
        rc == RL_ERR_UNSUPPORTED
            ? "RESOURCE_EXHAUSTED: a request message over the send limit "
              "(--max-send-message-size)"
        : rc == RL_ERR_NOMEM
            ? "INTERNAL: out of memory making a request message"
            : "INTERNAL: a templated request message does not fit the "
              "method's input type";
    gs->out.p = NULL;
    gs->out.len = 0;
    gs->out.state = OUT_EOF;
    return;
  }
  gs->out.owned = frame;
  gs->out.p = frame;
  gs->out.len = len;
  gs->out.state = OUT_SENDING;
}

/* One [send] event, now. */
static void report_send(struct grpc_stream *gs) {
  const rl_host *h = gs->s->c.host;
  rl_result r = {.type = "grpc", .name = gs->st->name_send};
  uint64_t now = h->now_ns();
  h->request_event(gs->req, &r, gs->out.last_ns);
  gs->out.last_ns = now;
}

static void interval_fired(rl_timer *t, void *arg);

static void start_interval(struct grpc_stream *gs) {
  gs->out.want_timer = 0;
  gs->out.interval = gs->s->loop != NULL
                         ? gs->s->c.host->timer_start(
                               gs->s->loop, gs->interval_ns, interval_fired, gs)
                         : NULL;
  if (gs->out.interval == NULL) /* out of memory: the next goes at once */
    out_load(gs);
}

/* A message went out whole: count it, then what comes next. */
static void message_sent(struct grpc_stream *gs) {
  gs->out.sent++;
  if (gs->in_submit)
    gs->out.pending_sends++;
  else
    report_send(gs);
  if (!out_more(gs)) {
    gs->out.state = OUT_EOF;
    return;
  }
  if (gs->ping_pong) {
    gs->out.state = OUT_PONG;
    return;
  }
  if (gs->interval_ns > 0) {
    gs->out.state = OUT_INTERVAL;
    if (gs->in_submit)
      gs->out.want_timer = 1;
    else
      start_interval(gs);
    return;
  }
  out_load(gs);
}

size_t grpc_out_send(void *stream_data, uint8_t *buf, size_t len, int *eof) {
  struct grpc_stream *gs = stream_data;
  size_t n = 0;
  if (gs->out.state == OUT_START)
    out_load(gs);
  while (n < len && gs->out.state == OUT_SENDING) {
    size_t take = gs->out.len - gs->out.off;
    if (take > len - n)
      take = len - n;
    memcpy(buf + n, gs->out.p + gs->out.off, take);
    gs->out.off += take;
    n += take;
    if (gs->out.off == gs->out.len)
      message_sent(gs);
  }
  if (gs->out.state == OUT_EOF) {
    *eof = 1;
    free(gs->out.owned); /* the last message is in nghttp2's buffer now */
    gs->out.owned = NULL;
    gs->out.p = NULL;
  }
  return n;
}

/* The next message may go: load it and let h2session ask for it. */
static void out_resume(struct grpc_stream *gs) {
  if (out_more(gs))
    out_load(gs);
  else
    gs->out.state = OUT_EOF;
  (void)h2_session_resume(gs->s->c.h2, gs);
}

static void interval_fired(rl_timer *t, void *arg) {
  struct grpc_stream *gs = arg;
  (void)t;
  gs->out.interval = NULL; /* a fired timer is gone */
  if (gs->out.state == OUT_INTERVAL)
    out_resume(gs);
}

void grpc_out_on_reply(struct grpc_stream *gs) {
  if (gs->out.state == OUT_PONG)
    out_resume(gs);
}

static void duration_fired(rl_timer *t, void *arg);

void grpc_out_started(struct grpc_stream *gs) {
  gs->in_submit = 0;
  for (; gs->out.pending_sends > 0; gs->out.pending_sends--)
    report_send(gs);
  if (gs->out.want_timer)
    start_interval(gs);
  if (gs->call_duration_ns > 0 && gs->s->loop != NULL)
    gs->duration = gs->s->c.host->timer_start(gs->s->loop, gs->call_duration_ns,
                                              duration_fired, gs);
}

void grpc_out_drop(void *stream_data) {
  grpc_out_cleanup((struct grpc_stream *)stream_data);
}

void grpc_out_cleanup(struct grpc_stream *gs) {
  if (gs->duration != NULL) {
    gs->s->c.host->timer_stop(gs->duration);
    gs->duration = NULL;
  }
  if (gs->out.interval != NULL) {
    gs->s->c.host->timer_stop(gs->out.interval);
    gs->out.interval = NULL;
  }
  free(gs->out.owned);
  gs->out.owned = NULL;
  gs->out.p = NULL;
  for (size_t i = 0; i < gs->n_list; i++)
    free(gs->list[i].frame);
  free(gs->list);
  gs->list = NULL;
  gs->n_list = 0;
  gs->out.pending_sends = 0;
  gs->out.want_timer = 0;
}

/* --stream-call-duration: the call's time is up. A server stream ends now
 * (the client cancels it, and it counts as a success, as in ghz); a
 * client's stream sends no new message and closes its side. */
static void duration_fired(rl_timer *t, void *arg) {
  struct grpc_stream *gs = arg;
  (void)t;
  gs->duration = NULL;
  if (!gs->st->client_stream) {
    grpc_call_stop(gs, STOP_DONE);
    return;
  }
  gs->out.stop = 1;
  if (gs->out.state == OUT_INTERVAL || gs->out.state == OUT_PONG ||
      gs->out.state == OUT_START) {
    if (gs->out.interval != NULL) {
      gs->s->c.host->timer_stop(gs->out.interval);
      gs->out.interval = NULL;
    }
    gs->out.state = OUT_EOF;
    (void)h2_session_resume(gs->s->c.h2, gs);
  }
}

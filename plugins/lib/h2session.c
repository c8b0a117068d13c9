/*
 * h2session: an HTTP/2 client session over memory (see h2session.h).
 *
 * Streams are tracked here as well as in nghttp2, because nghttp2 cannot
 * list its streams and calls no callback when it is deleted: the session
 * must be able to end every stream it still owes an outcome. A stream
 * record lives from submit until both nghttp2 closed the stream and the
 * owner had its on_end (either may come first: a response can end before
 * the request body is sent, a GOAWAY ends a stream nghttp2 still holds),
 * then goes to a free list, so a busy connection allocates nothing per
 * request after warming up.
 */
#include "h2session.h"

#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rpcload/plugin.h>

/* nghttp2 1.60 renamed the ssize_t API (mem_recv2, mem_send2,
 * submit_request2, data_provider2) and deprecated the old one; Debian 12
 * ships 1.52. Both build from the same code through these names. */
#if NGHTTP2_VERSION_NUM >= 0x013c00
typedef nghttp2_ssize h2_ssize;
typedef nghttp2_data_provider2 h2_data_provider;
#define H2_MEM_SEND nghttp2_session_mem_send2
#define H2_MEM_RECV nghttp2_session_mem_recv2
#define H2_SUBMIT_REQUEST nghttp2_submit_request2
#else
typedef ssize_t h2_ssize;
typedef nghttp2_data_provider h2_data_provider;
#define H2_MEM_SEND nghttp2_session_mem_send
#define H2_MEM_RECV nghttp2_session_mem_recv
#define H2_SUBMIT_REQUEST nghttp2_submit_request
#endif

#define H2_DEFAULT_STREAM_WINDOW (1u << 20)
#define H2_DEFAULT_CONN_WINDOW (1u << 24)
/* The protocol's initial window for both the connection and streams. */
#define H2_PROTOCOL_WINDOW 65535u
/* Before the server's SETTINGS, nghttp2 assumes this many concurrent
 * streams instead of the protocol's "unlimited": what it queues beyond is
 * sent once the server's real limit is known. */
#define H2_PEER_STREAMS_BEFORE_SETTINGS 100u

/* A link in a circular list with a sentinel: unlinking needs no
 * special case for the head. */
struct h2_link {
  struct h2_link *prev, *next;
};

/* One request's stream. Owned by the session. */
struct h2_stream {
  struct h2_link link; /* first: in session->streams; next alone links the
                          free list */
  int32_t id;
  uint8_t open;      /* nghttp2 holds it: until on_stream_close */
  uint8_t owned;     /* the owner waits for on_end */
  uint8_t held;      /* outcome decided during a submit, reported later */
  uint8_t got_final; /* the final (non-1xx) response headers came */
  uint8_t rst_recv;  /* the server sent RST_STREAM */
  uint8_t block;     /* enum h2_block of the header block being read */
  uint8_t held_how;  /* enum h2_end, when held */
  uint8_t streaming; /* the body comes from cb.on_send */
  uint8_t deferred;  /* on_send had nothing: waits for h2_session_resume */
  uint8_t paused;    /* h2_session_pause: its DATA is not acknowledged */
  size_t unacked;    /* DATA bytes held back while paused */
  uint32_t held_code;
  int status;      /* :status of the block being read */
  h2_body body;    /* borrowed from the owner until released */
  size_t body_off; /* bytes of body handed to nghttp2 */
  /* The owner's area (stream_data_size bytes), aligned for any type. */
  alignas(max_align_t) unsigned char area[];
};

struct h2_session {
  nghttp2_session *ng;
  h2_callbacks cb;
  void *data;                  /* the owner's session_data, borrowed */
  size_t area_size;            /* config.stream_data_size */
  struct h2_link streams;      /* every record in use (sentinel) */
  struct h2_stream *free_list; /* records to reuse (linked by link.next) */
  size_t active;               /* owned streams (on_end not yet called) */
  size_t n_held;               /* of them, outcomes held back */
  uint8_t in_submit;           /* inside h2_session_submit: hold on_end */
  uint8_t in_recv;             /* inside mem_recv: its caller sends after */
  uint8_t settings_known;      /* the server's first SETTINGS came */
  uint8_t goaway;              /* the server sent GOAWAY */
  uint8_t failed;              /* the connection failed (protocol) */
  uint8_t write_failed;        /* the write callback failed: send nothing */
  uint8_t local_goaway;        /* we sent GOAWAY with an error code */
  uint8_t deleting;            /* in h2_session_del: records stay put */
  uint8_t manual_window;       /* h2_config.manual_window */
  uint64_t pings_sent, pings_acked; /* our PINGs (keepalive) */
  uint32_t goaway_code;
  int32_t goaway_last;
  uint32_t local_goaway_code;
  char local_goaway_debug[96]; /* the debug text of our GOAWAY */
  char lib_msg[160];           /* nghttp2's last error message, this read */
  char error[224];             /* why the connection failed, or "" */
};

/* ---- Error code names ---------------------------------------------------- */

const char *h2_error_name(uint32_t code) {
  /* RFC 9113 section 7, in code order. */
  static const char *const names[] = {
      "NO_ERROR",
      "PROTOCOL_ERROR",
      "INTERNAL_ERROR",
      "FLOW_CONTROL_ERROR",
      "SETTINGS_TIMEOUT",
      "STREAM_CLOSED",
      "FRAME_SIZE_ERROR",
      "REFUSED_STREAM",
      "CANCEL",
      "COMPRESSION_ERROR",
      "CONNECT_ERROR",
      "ENHANCE_YOUR_CALM",
      "INADEQUATE_SECURITY",
      "HTTP_1_1_REQUIRED",
  };
  return code < sizeof names / sizeof names[0] ? names[code] : NULL;
}

/* Writes the name of `code`, or its number in hex, into buf (caller's,
 * at least 24 bytes). Returns buf. */
static const char *code_text(uint32_t code, char *buf, size_t len) {
  const char *name = h2_error_name(code);
  if (name != NULL)
    snprintf(buf, len, "%s", name);
  else
    snprintf(buf, len, "0x%x", (unsigned)code);
  return buf;
}

/* Copies a message into dst (len bytes), one line with single spaces:
 * nghttp2's texts sometimes hold two spaces after a full stop. */
static void copy_line(char *dst, size_t len, const char *src, size_t n) {
  size_t o = 0;
  for (size_t i = 0; i < n && o + 1 < len; i++) {
    char c = src[i];
    if (c == '\r' || c == '\n' || c == '\t')
      c = ' ';
    if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f)
      continue;
    if (c == ' ' && (o == 0 || dst[o - 1] == ' '))
      continue;
    dst[o++] = c;
  }
  while (o > 0 && dst[o - 1] == ' ')
    o--;
  dst[o] = '\0';
}

/* ---- Stream records -------------------------------------------------------- */

/* A record from the free list or the heap, with its area set from init
 * (or zeroed). NULL on allocation failure. Not yet linked. */
static struct h2_stream *stream_get(h2_session *s, const void *init) {
  struct h2_stream *st = s->free_list;
  if (st != NULL) {
    s->free_list = (struct h2_stream *)st->link.next;
  } else {
    st = malloc(sizeof *st + s->area_size);
    if (st == NULL)
      return NULL;
  }
  memset(st, 0, sizeof *st);
  if (s->area_size > 0) {
    if (init != NULL)
      memcpy(st->area, init, s->area_size);
    else
      memset(st->area, 0, s->area_size);
  }
  return st;
}

static void stream_link(h2_session *s, struct h2_stream *st) {
  st->link.prev = &s->streams;
  st->link.next = s->streams.next;
  s->streams.next->prev = &st->link;
  s->streams.next = &st->link;
}

static void stream_unlink(struct h2_stream *st) {
  st->link.prev->next = st->link.next;
  st->link.next->prev = st->link.prev;
  st->link.prev = st->link.next = NULL;
}

/* Puts a record nobody uses on the free list. */
static void stream_put(h2_session *s, struct h2_stream *st) {
  st->link.next = (struct h2_link *)s->free_list;
  s->free_list = st;
}

/* The record a link belongs to (the link is its first member). */
static struct h2_stream *stream_at(struct h2_link *l) {
  return (struct h2_stream *)l;
}

/* Gives the body back to its owner, once. */
static void body_release(struct h2_stream *st) {
  void (*release)(void *) = st->body.release;
  st->body.release = NULL;
  st->body.data = NULL;
  if (release != NULL)
    release(st->body.release_arg);
}

/* Recycles a record nobody needs any more: nghttp2 closed the stream and
 * the owner had its outcome. */
static void stream_maybe_free(h2_session *s, struct h2_stream *st) {
  if (st->open || st->owned || st->held || s->deleting)
    return;
  body_release(st);
  stream_unlink(st);
  stream_put(s, st);
}

/*
 * Reports a stream's outcome to its owner, once; inside a submit it is
 * held instead (the ABI forbids a request event from there). The record
 * may be recycled on return: the caller must not touch st afterwards.
 */
static void stream_end(h2_session *s, struct h2_stream *st, enum h2_end how,
                       uint32_t code) {
  if (!st->owned || st->held)
    return;
  if (s->in_submit) {
    st->held = 1;
    st->held_how = (uint8_t)how;
    st->held_code = code;
    s->n_held++;
    return;
  }
  st->owned = 0;
  s->active--;
  s->cb.on_end(st->area, how, code);
  stream_maybe_free(s, st);
}

/* Reports the outcomes held back during a submit. */
static void deliver_held(h2_session *s) {
  if (s->n_held == 0 || s->in_submit)
    return;
  for (struct h2_link *l = s->streams.next, *next; l != &s->streams; l = next) {
    next = l->next;
    struct h2_stream *st = stream_at(l);
    if (!st->held)
      continue;
    st->held = 0;
    s->n_held--;
    stream_end(s, st, (enum h2_end)st->held_how, st->held_code);
  }
}

/* The record nghttp2 keeps as stream user data, if the stream is ours. */
static struct h2_stream *stream_of(nghttp2_session *ng, int32_t id) {
  return id > 0 ? nghttp2_session_get_stream_user_data(ng, id) : NULL;
}

/* ---- nghttp2 callbacks ----------------------------------------------------
 * user_data is the h2_session. They return 0: nothing here is a reason to
 * tear the connection down, and a non-zero return would be fatal. */

static h2_ssize read_body(nghttp2_session *ng, int32_t stream_id, uint8_t *buf,
                          size_t length, uint32_t *data_flags,
                          nghttp2_data_source *source, void *user_data) {
  struct h2_stream *st = source->ptr;
  h2_session *s = user_data;
  (void)ng;
  (void)stream_id;
  if (st->streaming) {
    /* The owner's state lives until its on_end: after that (the server
     * ended the call first) the body is simply over. */
    int eof = 0;
    size_t n = 0;
    if (st->owned && !st->held)
      n = s->cb.on_send(st->area, buf, length, &eof);
    else
      eof = 1;
    if (n == 0 && !eof) {
      st->deferred = 1;
      return NGHTTP2_ERR_DEFERRED;
    }
    if (eof)
      *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return (h2_ssize)(n < length ? n : length);
  }
  size_t left = st->body.len - st->body_off;
  size_t n = left < length ? left : length;
  if (n > 0)
    memcpy(buf, st->body.data + st->body_off, n);
  st->body_off += n;
  if (st->body_off == st->body.len) {
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    body_release(st); /* all of it is in nghttp2's frame buffer now */
  }
  return (h2_ssize)n;
}

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame,
                            void *user_data) {
  (void)user_data;
  if (frame->hd.type != NGHTTP2_HEADERS)
    return 0;
  struct h2_stream *st = stream_of(ng, frame->hd.stream_id);
  if (st == NULL)
    return 0;
  /* A block after the final response can only be trailers; before it, a
   * response whose :status says whether it is a 1xx. */
  st->block = st->got_final ? H2_BLOCK_TRAILERS : H2_BLOCK_RESPONSE;
  st->status = 0;
  return 0;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *frame,
                     const uint8_t *name, size_t namelen, const uint8_t *value,
                     size_t valuelen, uint8_t flags, void *user_data) {
  h2_session *s = user_data;
  (void)flags;
  if (frame->hd.type != NGHTTP2_HEADERS)
    return 0;
  struct h2_stream *st = stream_of(ng, frame->hd.stream_id);
  if (st == NULL || !st->owned || st->held)
    return 0;
  /* nghttp2 checked that :status is first and three digits. */
  if (st->block != H2_BLOCK_TRAILERS && namelen == 7 &&
      memcmp(name, ":status", 7) == 0 && valuelen == 3) {
    st->status =
        (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
    if (st->status >= 100 && st->status < 200)
      st->block = H2_BLOCK_INFORMATIONAL;
  }
  if (s->cb.on_header != NULL)
    s->cb.on_header(st->area, (enum h2_block)st->block, name, namelen, value,
                    valuelen);
  return 0;
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t stream_id,
                         const uint8_t *data, size_t len, void *user_data) {
  h2_session *s = user_data;
  (void)flags;
  struct h2_stream *st = stream_of(ng, stream_id);
  if (st != NULL && st->owned && !st->held && s->cb.on_data != NULL)
    s->cb.on_data(st->area, data, len);
  /* The owner may have paused the stream in on_data: this chunk is then
   * the first held back. `st` is still the stream's record even when
   * on_data ended it: nghttp2 has not closed the stream yet (it is read
   * from), so the record is not recycled. */
  if (s->manual_window) {
    if (st != NULL && st->paused) {
      st->unacked += len;
      (void)nghttp2_session_consume_connection(ng, len);
    } else {
      (void)nghttp2_session_consume(ng, stream_id, len);
    }
  }
  return 0;
}

/* GOAWAY: the owner hears first (to stop submitting), then every stream
 * above the last one the server will process is handed back. nghttp2
 * closes those streams right after this callback; their records are then
 * no longer owned, so the close reports nothing twice. */
static void goaway_received(h2_session *s, const nghttp2_goaway *g) {
  s->goaway = 1;
  s->goaway_code = g->error_code;
  s->goaway_last = g->last_stream_id;
  if (s->cb.on_goaway != NULL)
    s->cb.on_goaway(s->data, g->error_code, g->last_stream_id);
  for (struct h2_link *l = s->streams.next, *next; l != &s->streams; l = next) {
    next = l->next;
    struct h2_stream *st = stream_at(l);
    if (st->owned && !st->held && st->id > g->last_stream_id)
      stream_end(s, st, H2_END_UNPROCESSED, g->error_code);
  }
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame,
                         void *user_data) {
  h2_session *s = user_data;
  struct h2_stream *st;
  switch (frame->hd.type) {
  case NGHTTP2_HEADERS:
    st = stream_of(ng, frame->hd.stream_id);
    if (st == NULL)
      break;
    if (st->owned && !st->held && s->cb.on_headers_end != NULL)
      s->cb.on_headers_end(st->area, (enum h2_block)st->block,
                           st->block == H2_BLOCK_TRAILERS ? 0 : st->status);
    if (st->block == H2_BLOCK_RESPONSE)
      st->got_final = 1;
    /* nghttp2 checked the response (content-length included) before
     * telling us the stream ended, so END_STREAM means complete. */
    if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
      stream_end(s, st, H2_END_COMPLETE, NGHTTP2_NO_ERROR);
    break;
  case NGHTTP2_DATA:
    st = stream_of(ng, frame->hd.stream_id);
    if (st != NULL && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
      stream_end(s, st, H2_END_COMPLETE, NGHTTP2_NO_ERROR);
    break;
  case NGHTTP2_SETTINGS:
    if (!(frame->hd.flags & NGHTTP2_FLAG_ACK))
      s->settings_known = 1;
    break;
  case NGHTTP2_RST_STREAM:
    /* Called before nghttp2 closes the stream: remember who reset it. */
    st = stream_of(ng, frame->hd.stream_id);
    if (st != NULL)
      st->rst_recv = 1;
    break;
  case NGHTTP2_GOAWAY:
    goaway_received(s, &frame->goaway);
    break;
  case NGHTTP2_PING:
    if (frame->hd.flags & NGHTTP2_FLAG_ACK)
      s->pings_acked++;
    break;
  default:
    break;
  }
  return 0;
}

static int on_frame_send(nghttp2_session *ng, const nghttp2_frame *frame,
                         void *user_data) {
  h2_session *s = user_data;
  (void)ng;
  /* We never submit a GOAWAY ourselves: nghttp2 sends one with an error
   * code when the server broke the protocol, and the connection is over. */
  if (frame->hd.type == NGHTTP2_GOAWAY &&
      frame->goaway.error_code != NGHTTP2_NO_ERROR && !s->local_goaway) {
    s->local_goaway = 1;
    s->local_goaway_code = frame->goaway.error_code;
    copy_line(s->local_goaway_debug, sizeof s->local_goaway_debug,
              (const char *)frame->goaway.opaque_data,
              frame->goaway.opaque_data_len);
  }
  return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t stream_id,
                           uint32_t error_code, void *user_data) {
  h2_session *s = user_data;
  struct h2_stream *st = stream_of(ng, stream_id);
  if (st == NULL)
    return 0;
  st->open = 0;
  /* nghttp2 forgets the stream after this callback: drop its pointer to
   * the record, which may be recycled below. */
  nghttp2_session_set_stream_user_data(ng, stream_id, NULL);
  if (st->owned && !st->held)
    stream_end(s, st, st->rst_recv ? H2_END_RESET : H2_END_ERROR, error_code);
  else
    stream_maybe_free(s, st);
  return 0;
}

static int on_error(nghttp2_session *ng, int lib_error_code, const char *msg,
                    size_t len, void *user_data) {
  h2_session *s = user_data;
  (void)ng;
  (void)lib_error_code;
  copy_line(s->lib_msg, sizeof s->lib_msg, msg, len);
  return 0;
}

/* ---- The session ------------------------------------------------------------ */

int h2_session_new(const h2_callbacks *cb, void *session_data,
                   const h2_config *config, h2_session **out) {
  if (cb == NULL || cb->write == NULL || cb->on_end == NULL || out == NULL)
    return RL_ERR_INVAL;
  h2_config cfg = {0};
  if (config != NULL)
    cfg = *config;
  if (cfg.stream_window == 0)
    cfg.stream_window = H2_DEFAULT_STREAM_WINDOW;
  if (cfg.conn_window == 0)
    cfg.conn_window = H2_DEFAULT_CONN_WINDOW;
  /* Windows above 2^31-1 are a protocol error (RFC 9113 6.9.1). */
  if (cfg.stream_window > (uint32_t)NGHTTP2_MAX_WINDOW_SIZE ||
      cfg.conn_window > (uint32_t)NGHTTP2_MAX_WINDOW_SIZE)
    return RL_ERR_INVAL;

  h2_session *s = calloc(1, sizeof *s);
  if (s == NULL)
    return RL_ERR_NOMEM;
  s->cb = *cb;
  s->data = session_data;
  s->streams.prev = s->streams.next = &s->streams;
  s->area_size = cfg.stream_data_size;
  s->manual_window = cfg.manual_window != 0;

  nghttp2_session_callbacks *cbs = NULL;
  nghttp2_option *opt = NULL;
  int rv = nghttp2_session_callbacks_new(&cbs);
  if (rv == 0)
    rv = nghttp2_option_new(&opt);
  if (rv == 0) {
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs,
                                                            on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs,
                                                              on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs,
                                                           on_stream_close);
    nghttp2_session_callbacks_set_error_callback2(cbs, on_error);
    nghttp2_option_set_peer_max_concurrent_streams(
        opt, H2_PEER_STREAMS_BEFORE_SETTINGS);
    /* RFC 9113 forbids blanks at either end of a field value and nghttp2
     * (1.52+) resets a stream that has one; but servers send them (grpcio
     * in a grpc-message that ends in a blank), and a load tester must
     * report what the server said, not a stream error of its own. */
    nghttp2_option_set_no_rfc9113_leading_and_trailing_ws_validation(opt, 1);
    if (cfg.manual_window)
      nghttp2_option_set_no_auto_window_update(opt, 1);
    rv = nghttp2_session_client_new2(&s->ng, cbs, s, opt);
  }
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);

  if (rv == 0) {
    /* No server push: a load test wants only what it asked for. */
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, cfg.stream_window},
    };
    rv = nghttp2_submit_settings(s->ng, NGHTTP2_FLAG_NONE, iv,
                                 sizeof iv / sizeof iv[0]);
  }
  if (rv == 0 && cfg.conn_window > H2_PROTOCOL_WINDOW)
    rv = nghttp2_session_set_local_window_size(s->ng, NGHTTP2_FLAG_NONE, 0,
                                               (int32_t)cfg.conn_window);
  if (rv != 0) {
    if (s->ng != NULL)
      nghttp2_session_del(s->ng);
    free(s);
    return rv == NGHTTP2_ERR_NOMEM ? RL_ERR_NOMEM : RL_ERR_INVAL;
  }
  *out = s;
  return 0;
}

int h2_session_flush(h2_session *s) {
  if (s->write_failed)
    return RL_ERR_CLOSED;
  /* Inside mem_recv's callbacks nghttp2 must not be asked to send: the
   * recv sends what is queued once mem_recv returns. */
  if (s->in_recv)
    return 0;
  for (;;) {
    const uint8_t *data = NULL;
    h2_ssize n = H2_MEM_SEND(s->ng, &data);
    if (n < 0) {
      /* Only fatal errors come back here (out of memory, a callback
       * failure); the session cannot go on. */
      s->failed = 1;
      snprintf(s->error, sizeof s->error, "HTTP/2: %s",
               nghttp2_strerror((int)n));
      return n == NGHTTP2_ERR_NOMEM ? RL_ERR_NOMEM : RL_ERR_PROTO;
    }
    if (n == 0)
      return 0;
    int rc = s->cb.write(s->data, data, (size_t)n);
    if (rc != 0) {
      s->write_failed = 1;
      return rc;
    }
  }
}

int h2_session_submit(h2_session *s, const nghttp2_nv *nva, size_t nvlen,
                      const h2_body *body, const void *stream_init,
                      void **stream_data) {
  if (s->failed || s->goaway || s->write_failed)
    return RL_ERR_CLOSED;
  struct h2_stream *st = stream_get(s, stream_init);
  if (st == NULL)
    return RL_ERR_NOMEM;
  int streaming = body != NULL && body->stream;
  if (streaming && s->cb.on_send == NULL) {
    stream_put(s, st);
    return RL_ERR_INVAL;
  }
  int has_body = streaming || (body != NULL && body->len > 0);
  if (has_body && !streaming)
    st->body = *body;
  st->streaming = (uint8_t)streaming;

  h2_data_provider prd;
  memset(&prd, 0, sizeof prd);
  prd.source.ptr = st;
  prd.read_callback = read_body;
  int32_t id =
      H2_SUBMIT_REQUEST(s->ng, NULL, nva, nvlen, has_body ? &prd : NULL, st);
  if (id < 0) {
    /* Nothing was queued: the record goes straight back, and the body
     * stays the caller's (no release on failure). */
    st->body.release = NULL;
    stream_put(s, st);
    if (id == NGHTTP2_ERR_NOMEM)
      return RL_ERR_NOMEM;
    return id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE ? RL_ERR_CLOSED
                                                     : RL_ERR_PROTO;
  }
  st->id = id;
  st->open = 1;
  st->owned = 1;
  stream_link(s, st);
  s->active++;
  if (stream_data != NULL)
    *stream_data = st->area;

  s->in_submit = 1;
  int rc = h2_session_flush(s);
  s->in_submit = 0;
  if (st->held || rc != 0) {
    /* The request did not get out whole (the write failed), or nghttp2
     * gave up on it while sending (it refuses new streams once closing):
     * refuse it, so that no event ever names it. */
    if (st->held) {
      st->held = 0;
      s->n_held--;
    }
    st->owned = 0;
    s->active--;
    /* nghttp2 may still hold the stream; its data source must not hand
     * the caller's body back after we said we never took it. */
    st->body.release = NULL;
    /* A streamed body's owner may have begun to send: it lets go of what
     * its area holds. */
    if (st->streaming && s->cb.on_drop != NULL)
      s->cb.on_drop(st->area);
    stream_maybe_free(s, st);
    return rc != 0 ? rc : RL_ERR_CLOSED;
  }
  return 0;
}

/* Builds s->error for a connection we closed with GOAWAY. */
static void set_local_error(h2_session *s) {
  char code[24];
  code_text(s->local_goaway_code, code, sizeof code);
  if (s->lib_msg[0] != '\0')
    snprintf(s->error, sizeof s->error, "HTTP/2 %s: %s", code, s->lib_msg);
  else if (s->local_goaway_debug[0] != '\0')
    snprintf(s->error, sizeof s->error, "HTTP/2 %s: %s", code,
             s->local_goaway_debug);
  else
    snprintf(s->error, sizeof s->error, "HTTP/2 %s", code);
}

int h2_session_recv(h2_session *s, const uint8_t *data, size_t len) {
  deliver_held(s);
  if (s->failed)
    return RL_ERR_PROTO;
  s->lib_msg[0] = '\0';
  s->in_recv = 1;
  h2_ssize n = H2_MEM_RECV(s->ng, data, len);
  s->in_recv = 0;
  if (n < 0) {
    s->failed = 1;
    snprintf(s->error, sizeof s->error, "HTTP/2: %s", nghttp2_strerror((int)n));
    return n == NGHTTP2_ERR_NOMEM ? RL_ERR_NOMEM : RL_ERR_PROTO;
  }
  /* Send what the bytes asked for (acknowledgements, window updates, a
   * GOAWAY of ours) before anything else. */
  int rc = h2_session_flush(s);
  if (s->local_goaway) {
    /* nghttp2 found a connection error, sent GOAWAY and stopped reading:
     * mem_recv itself returns success in that case. */
    s->failed = 1;
    set_local_error(s);
    return RL_ERR_PROTO;
  }
  if (rc == 0 && !nghttp2_session_want_read(s->ng) &&
      !nghttp2_session_want_write(s->ng) && !s->goaway) {
    s->failed = 1;
    snprintf(s->error, sizeof s->error, "HTTP/2 session ended");
    return RL_ERR_PROTO;
  }
  return rc;
}

uint32_t h2_session_max_concurrent(const h2_session *s,
                                   uint32_t cap_before_settings) {
  uint32_t n = nghttp2_session_get_remote_settings(
      s->ng, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
  if (!s->settings_known && n > cap_before_settings)
    n = cap_before_settings;
  return n;
}

int h2_session_settings_known(const h2_session *s) { return s->settings_known; }

size_t h2_session_active(const h2_session *s) { return s->active; }

int h2_session_closing(const h2_session *s, uint32_t *error_code) {
  if (error_code != NULL)
    *error_code = s->goaway ? s->goaway_code : NGHTTP2_NO_ERROR;
  /* nghttp2 numbers streams up to 2^31-1; past that, no new stream. */
  return s->goaway || s->failed || s->write_failed ||
         nghttp2_session_get_next_stream_id(s->ng) > (uint32_t)INT32_MAX;
}

int h2_session_goaway(const h2_session *s, uint32_t *error_code) {
  if (s->goaway && error_code != NULL)
    *error_code = s->goaway_code;
  return s->goaway;
}

const char *h2_session_error(const h2_session *s) { return s->error; }

void *h2_session_find(h2_session *s, int (*match)(void *area, void *arg),
                      void *arg) {
  for (struct h2_link *l = s->streams.next; l != &s->streams; l = l->next) {
    struct h2_stream *st = stream_at(l);
    if (st->owned && !st->held && match(st->area, arg))
      return st->area;
  }
  return NULL;
}

int h2_session_cancel(h2_session *s, void *area) {
  struct h2_stream *st = (struct h2_stream *)((unsigned char *)area -
                                              offsetof(struct h2_stream, area));
  if (!st->owned || st->held)
    return RL_ERR_INVAL;
  /* The server may still answer; nghttp2 drops what comes for a stream
   * it reset, and its window is given back. */
  if (st->open && st->id > 0 && !s->failed)
    nghttp2_submit_rst_stream(s->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
  stream_end(s, st, H2_END_CANCELLED, NGHTTP2_CANCEL);
  return h2_session_flush(s);
}

int h2_session_pause(h2_session *s, void *area, int pause) {
  struct h2_stream *st = (struct h2_stream *)((unsigned char *)area -
                                              offsetof(struct h2_stream, area));
  if (!s->manual_window || !st->owned || st->held)
    return RL_ERR_INVAL;
  st->paused = pause != 0;
  if (pause || st->unacked == 0)
    return 0;
  size_t n = st->unacked;
  st->unacked = 0;
  if (st->open && st->id > 0 && !s->failed)
    (void)nghttp2_session_consume_stream(s->ng, st->id, n);
  return h2_session_flush(s);
}

int h2_session_ping(h2_session *s) {
  if (s->failed || s->write_failed)
    return RL_ERR_CLOSED;
  int rv = nghttp2_submit_ping(s->ng, NGHTTP2_FLAG_NONE, NULL);
  if (rv != 0)
    return rv == NGHTTP2_ERR_NOMEM ? RL_ERR_NOMEM : RL_ERR_PROTO;
  s->pings_sent++;
  return h2_session_flush(s);
}

int h2_session_ping_acked(const h2_session *s) {
  return s->pings_acked >= s->pings_sent;
}

int h2_session_resume(h2_session *s, void *area) {
  struct h2_stream *st = (struct h2_stream *)((unsigned char *)area -
                                              offsetof(struct h2_stream, area));
  if (!st->owned || st->held)
    return RL_ERR_INVAL;
  if (st->deferred && st->open && st->id > 0 && !s->failed) {
    st->deferred = 0;
    (void)nghttp2_session_resume_data(s->ng, st->id);
  }
  return h2_session_flush(s);
}

void h2_session_abort(h2_session *s) {
  deliver_held(s);
  s->failed = 1;
  for (struct h2_link *l = s->streams.next, *next; l != &s->streams; l = next) {
    next = l->next;
    struct h2_stream *st = stream_at(l);
    if (st->owned)
      stream_end(s, st, H2_END_ABORTED, NGHTTP2_NO_ERROR);
  }
}

void h2_session_del(h2_session *s) {
  if (s == NULL)
    return;
  /* Every record is freed below, from the one list. */
  s->deleting = 1;
  h2_session_abort(s);
  /* nghttp2_session_del() calls no callback: our records are freed here,
   * after it, since it may still point at their bodies until then. */
  nghttp2_session_del(s->ng);
  for (struct h2_link *l = s->streams.next, *next; l != &s->streams; l = next) {
    next = l->next;
    struct h2_stream *st = stream_at(l);
    body_release(st);
    free(st);
  }
  while (s->free_list != NULL) {
    struct h2_stream *st = s->free_list;
    s->free_list = (struct h2_stream *)st->link.next;
    free(st);
  }
  free(s);
}

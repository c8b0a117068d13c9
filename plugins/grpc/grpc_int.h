/*
 * The gRPC plugin's parts, as its files share them: the compiled step
 * (grpc.c makes it), the session and the per-call state (grpc_call.c reads
 * responses and decides outcomes; grpc_send.c sends the client's side of a
 * streamed call). Private to plugins/grpc; everything here is hidden in
 * the plugin.
 *
 * A call is one request of the host's, whatever the method's shape: one
 * request_done when it ends (its time the call's duration, failed when
 * the status is not OK). A streamed call also reports each message as an
 * event of its own (ABI 1.4 request_event) under "<name> [send]" and
 * "<name> [recv]", its time the gap since the message before in the same
 * direction, or since the call's start for the first.
 */
#ifndef RL_GRPC_INT_H
#define RL_GRPC_INT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <rpcload/plugin.h>

#include "grpc_wire.h"
#include "lib/buf.h"
#include "lib/h2codec.h"
#include "lib/h2session.h"
#include "lib/resp_acc.h"
#include "pbdesc.h"

/* Streams offered before the server's SETTINGS arrive (as http2). */
#define GRPC_STREAMS_BEFORE_SETTINGS 100u
/* Message size limits: gRPC's defaults, and the most they may be set to. */
#define GRPC_DEFAULT_MAX_MESSAGE ((size_t)4 << 20)
#define GRPC_MAX_MESSAGE_CEILING ((size_t)64 << 20)
/* Longest grpc-message kept for an error text. */
#define GRPC_MESSAGE_MAX 160
/* A streamed response handed over for checks keeps at most this many of
 * its messages, and this many bytes of their JSON (the count and the last
 * one are always exact). */
#define GRPC_KEEP_MESSAGES 1000
#define GRPC_KEEP_JSON ((size_t)1 << 20)

/* One request message (-d, one element of -D's array or of a JSON array,
 * one of -b/-B's serialized messages). */
struct grpc_msg {
  uint8_t *frame; /* framed (and compressed) message; NULL when templated */
  size_t frame_len;
  rl_template *json; /* the JSON text when it holds {{...}}, else NULL */
  int whole;         /* json is one {{...}} and nothing else */
};

/* A metadata value with {{...}}: expanded per request. */
struct grpc_md_tpl {
  char *name; /* lower case */
  rl_template *value;
  int bin; /* "-bin" key: the expansion is sent base64-encoded */
};

/* A compiled step. Owns everything but host; freed by grpc_step_del(). */
struct grpc_step {
  const rl_host *host; /* borrowed: lives until fini */
  rl__pb_pool *pool;
  const rl__pb_method *method; /* in pool; NULL when only listing */
  nghttp2_nv *nva;             /* constant header fields, pseudo first */
  size_t nvlen, nvcap;
  char **strings; /* every string nva points at */
  size_t nstrings, strcap;
  struct grpc_md_tpl *md_tpl;
  size_t n_md_tpl;
  struct grpc_msg *msgs;
  size_t n_msgs;
  atomic_size_t next_msg; /* unary calls: round-robin over msgs */
  int gzip;
  char *name; /* stats name: --name or the method's path */
  /* Streams: the method's shape, and how a call's stream ends. */
  int client_stream, server_stream;
  char *name_send, *name_recv; /* "<name> [send]", "<name> [recv]" */
  uint64_t interval_ns;        /* --stream-interval: between sends */
  uint64_t call_duration_ns;   /* --stream-call-duration; 0: none */
  uint64_t call_count;         /* --stream-call-count; 0: none */
  int ping_pong;               /* --stream-ping-pong: a send per reply */
  size_t max_recv, max_send;   /* message size limits */
  uint64_t keepalive_ns;       /* --keepalive: PING interval; 0: none */
  uint64_t max_age_ns;         /* --max-connection-age; 0: none */
  /* stream_call_count, stream_interval, stream_ping_pong,
   * stream_call_duration given as one {{...}} each (a Lua call's options):
   * expanded per call, an empty expansion leaving the step's
   * (grpc_percall.c); NULL: none. */
  rl_template *count_tpl, *interval_tpl, *ping_pong_tpl, *duration_tpl;
  uint64_t timeout_ns; /* the step's --timeout (0: none): a call's own
                        * duration must be shorter */
  /* A client stream whose one message is one {{...}}: an expansion that
   * is a JSON array is the call's list of messages. */
  int list_tpl;
};

struct grpc_session {
  rl__h2codec c;         /* the connection */
  int timers_set;        /* keepalive and max age asked for (first call) */
  rl_loop *loop;         /* for timers (ABI 1.4 conn_loop), or NULL */
  uint64_t keepalive_ns; /* the first call's step's --keepalive */
  rl_timer *ping;        /* keepalive: the next PING, or NULL */
  int ping_out;          /* a PING went out at the last tick */
  rl_timer *aging;       /* max connection age, or NULL */
};

/* Why a response is broken, found while reading it; reported at its end
 * unless the server's own status says more. */
enum grpc_broken {
  BROKEN_NONE = 0,
  BROKEN_TOO_BIG,      /* a message over the receive limit */
  BROKEN_DECODE,       /* the message does not decode as the output type */
  BROKEN_COMPRESSION,  /* compressed without a grpc-encoding we know */
  BROKEN_INFLATE,      /* the gzip data is corrupt */
  BROKEN_TWO_MESSAGES, /* a unary call answered twice */
  BROKEN_TRUNCATED,    /* the stream ended inside a message */
  BROKEN_NOMEM
};

/* Where the client's side of a streamed call is (grpc_send.c). */
enum grpc_out_state {
  OUT_START = 0, /* no message loaded yet */
  OUT_SENDING,   /* out.p holds a message being handed to nghttp2 */
  OUT_INTERVAL,  /* waiting for --stream-interval */
  OUT_PONG,      /* ping-pong: waiting for the reply to the last one */
  OUT_EOF,       /* no more: the client's side is (being) closed */
};

/* Why the client ends a call before the server does. */
enum grpc_stop {
  STOP_NONE = 0,
  STOP_DONE,   /* count or duration reached on a server stream: OK */
  STOP_BROKEN, /* a broken response message: fail as it says */
};

/* The client's side of a streamed call. */
struct grpc_out {
  const uint8_t *p; /* the message being sent: a step frame or `owned` */
  size_t len, off;
  uint8_t *owned;         /* a templated message's frame, freed with the next */
  uint64_t sent;          /* messages handed to the connection whole */
  uint64_t last_ns;       /* when the last one was (0: none yet) */
  size_t next;            /* the index in st->msgs of the next one */
  uint8_t state;          /* enum grpc_out_state */
  uint8_t stop;           /* the call's duration passed: no new message */
  uint8_t want_timer;     /* the interval timer is due once out of submit */
  uint32_t pending_sends; /* [send] events held until out of submit */
  rl_timer *interval;     /* OUT_INTERVAL's timer, or NULL */
};

/* Per-call state: the h2session stream area, valid until on_end. */
struct grpc_stream {
  struct grpc_session *s;
  rl_request *req;            /* owned by the host */
  const struct grpc_step *st; /* req's step */
  uint64_t bytes;             /* message bytes received (uncompressed) */
  int http_status;
  int grpc_status;       /* -1 until a grpc-status arrives */
  int gzip_in;           /* the response's grpc-encoding is gzip/deflate */
  int not_grpc;          /* content-type is not application/grpc... */
  uint64_t received;     /* response messages */
  uint64_t last_recv_ns; /* when the last came (0: none yet) */
  enum grpc_broken broken;
  uint8_t stop;      /* enum grpc_stop: the client ends the call */
  uint8_t in_submit; /* the call is being submitted: hold events, timers */
  /* ABI 1.10: each reply goes to the request's owner as it comes
   * (host->request_message); paused: its owner holds enough, the
   * stream's data is not acknowledged until session_read_more. */
  uint8_t each, paused;
  /* The frame being read: its 5-byte prefix, then its bytes. */
  uint8_t prefix[GRPC_FRAME_HEADER];
  uint8_t prefix_got;
  uint32_t msg_len;
  uint8_t *buf; /* the message when it spans DATA frames; owned */
  size_t buf_got;
  char message[GRPC_MESSAGE_MAX]; /* grpc-message, decoded */
  /* A message of ours that could not be made mid-stream (a template that
   * stopped fitting, one over the send limit): the call fails with it. */
  const char *send_error;
  struct grpc_out out;
  rl_timer *duration; /* --stream-call-duration's timer, or NULL */
  /* The call's stream settings: the step's, or its templates' for this
   * call (grpc_percall.c). */
  uint64_t call_count, interval_ns, call_duration_ns;
  int ping_pong;
  /* The call's own messages (a list template's JSON array), framed;
   * owned, freed by grpc_out_cleanup. n_list 0: the step's. */
  struct grpc_msg *list;
  size_t n_list;
  char list_error[256]; /* send_error's text when the list is refused */
  /* The response collected for the host, when it wants it (asked once,
   * at submit); NULL: nothing is collected. Owned. For a response stream,
   * also the JSON of the messages kept so far ("[m1,m2"), how many. */
  rl__resp_acc *acc;
  rl__buf kept;
  size_t n_kept;
};

/* ---- grpc_call.c ------------------------------------------------------------ */

int grpc_session_new(const rl_host *host, rl_conn *conn,
                     const rl_conn_info *info, void **session);
uint32_t grpc_session_max_concurrent(void *session);
int grpc_session_submit(void *session, rl_request *req);
int grpc_session_on_read(void *session, const uint8_t *data, size_t len);
int grpc_session_cancel(void *session, rl_request *req, const char *reason);
void grpc_session_del(void *session, int err, const char *reason);
void grpc_session_read_more(void *session, rl_request *req);

/* The frame of a templated message for req: a new buffer (caller frees).
 * 0, RL_ERR_NOMEM, RL_ERR_INVAL (the expansion does not fit the input
 * type), or RL_ERR_UNSUPPORTED (over the send limit). */
int grpc_expand_message(const struct grpc_step *st, const struct grpc_msg *m,
                        rl_request *req, uint8_t **frame, size_t *frame_len);

/* Ends the call: the client stops it (count or duration reached, a broken
 * response) with RST_STREAM(CANCEL); its outcome says why (gs->stop). */
void grpc_call_stop(struct grpc_stream *gs, enum grpc_stop why);

/* ---- grpc_percall.c ---------------------------------------------------------- */
/* Takes the stream options (the step's texts, NULL: not given) that are
 * one {{...}} each into st's templates, clearing them (their literal
 * checks then skip them), and refuses one the method's shape does not
 * take. st->method and the shape are set. */
int grpc_percall_compile(struct grpc_step *st, const char **count,
                         const char **interval, const char **ping_pong,
                         const char **duration, char *err, size_t errlen);
/* The call's stream settings into gs (in session_submit): the step's,
 * or its templates' expansions; a bad value refuses req with the reason
 * (RL_ERR_INVAL). */
int grpc_percall_settings(const struct grpc_step *st, rl_request *req,
                          struct grpc_stream *gs);
/* A list template's expansion, when it is a JSON array, into gs->list
 * (at the call's first message); 0, or -1 with gs->list_error. */
int grpc_percall_list(struct grpc_stream *gs);
/* Frees the step's templates. */
void grpc_percall_free(struct grpc_step *st);

/* ---- grpc_send.c ------------------------------------------------------------- */

/* h2session's on_send for a streamed call: the client's messages, one
 * after the other, as flow control lets them go. */
size_t grpc_out_send(void *stream_data, uint8_t *buf, size_t len, int *eof);

/* h2session's on_drop: a submit that failed; what the call holds goes. */
void grpc_out_drop(void *stream_data);

/* A streamed call was accepted (out of submit now): the [send] events
 * held back are reported, the interval and duration timers due start. */
void grpc_out_started(struct grpc_stream *gs);

/* A response message came: ping-pong sends the next. */
void grpc_out_on_reply(struct grpc_stream *gs);

/* Frees what the client's side holds, stops the call's timers (it
 * ends). */
void grpc_out_cleanup(struct grpc_stream *gs);

#endif /* RL_GRPC_INT_H */

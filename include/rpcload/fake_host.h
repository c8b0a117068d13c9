/*
 * fake_host: an rpcload host for testing a codec plugin through its ABI,
 * without rpcload's engine and without sockets.
 *
 * It offers a plugin the host services of <rpcload/plugin.h> that a codec
 * uses (the table in rl_fake_host.host: ABI 1.2, the transport members
 * left NULL), records what the plugin does with them, and checks the
 * contract as it goes:
 *   - conn_write appends to the connection's `out` (or fails while
 *     fail_writes is set); conn_close and conn_drain are counted;
 *   - request_done comes exactly once per request session_submit accepted,
 *     never from inside session_submit; request_retry counts as the end
 *     too. The request is freed there and then, so a plugin that touches
 *     it afterwards shows up under ASan or valgrind;
 *   - request_wants_response answers wants_response and counts the
 *     questions; request_response is taken only for a request the host
 *     said yes to, at most once, just before that request's request_done,
 *     and what it hands over is kept per request id;
 *   - templates are rpcload's own; an expansion lives until the next
 *     template_expand, which spoils and frees it first, so a plugin that
 *     keeps one too long reads freed memory;
 *   - log lines go to stderr and are counted;
 *   - ABI 1.4: request_event is recorded per call (only for a live
 *     request, which the one being submitted is); conn_loop hands out the
 *     connection itself as its "loop", and timer_start/timer_stop keep
 *     timers the test fires with rl_fake_timers_run on the fake clock
 *     (now_ns, which the test moves).
 *   - ABI 1.5: request_user_slot keeps one slot per (user id, key), whose
 *     states go to their del at rl_fake_user_stop and at the end;
 *     request_move counts as the request's end for the session, like
 *     request_retry, and holds the request until the test hands it to a
 *     new session with rl_fake_resubmit.
 *   - ABI 1.6: conn_step hands out the connection's `step` (the test sets
 *     it before session_new); conn_fail keeps the reason in the
 *     connection's `failed`; request_refuse keeps the reason in
 *     `refused`, only from inside session_submit.
 *   - ABI 1.7: request_headers answers the `headers` the test set when
 *     the request was made (borrowed: they must outlive it).
 *   - ABI 1.8: request_response_parts answers response_parts (all when 0)
 *     for a request wants_response says yes to, 0 otherwise, counted with
 *     `asked`; request_response then refuses header fields or a payload
 *     the answer left out.
 *   - ABI 1.10: request_wants_messages answers wants_messages;
 *     request_message is taken only for a live request it said yes to,
 *     never after its request_done, each message's JSON kept (the first
 *     RL_FAKE_MAX_MSGS, cut to fit) in `messages`, and answers
 *     hold_messages (1: the plugin holds the call until the test calls
 *     the descriptor's session_read_more).
 * A broken rule calls on_violation (default: print the rule and abort), so
 * a test framework can turn it into a failed test from inside the plugin's
 * call (cmocka: fail_msg).
 *
 * Requests and connections are the host's: the plugin only hands the
 * pointers back, so their layout is this file's. A test makes requests with
 * rl_fake_submit and zeroes an rl_conn for each session it opens.
 *
 * One fake host is in use at a time, the one last initialised: the ABI's
 * services carry no host pointer. A request is looked at only once it is
 * known to be live, so one reported twice is caught, not read after it was
 * freed. Nothing here is thread-safe.
 *
 *   static rl_fake_host fh;
 *   rl_fake_host_init(&fh);                        // per test
 *   rl_conn conn = {0};
 *   p->session_new(&fh.host, &conn, &info, &session);
 *   p->step_new(&fh.host, &spec, &step, err, sizeof err);
 *   rl_fake_submit(&fh, p, session, step);         // the plugin's code
 *   p->session_on_read(session, reply, len);       // fh.events[0] ...
 *   p->session_del(session, RL_ERR_CANCELLED, "test over");
 *   rl_fake_host_check_idle(&fh);                  // every request ended
 *   rl_fake_conn_free(&conn);
 *   rl_fake_host_free(&fh);
 */
#ifndef RL_FAKE_HOST_H
#define RL_FAKE_HOST_H

#include <stddef.h>
#include <stdint.h>

#include <rpcload/plugin.h>

/* Bounds of what one test records. */
#define RL_FAKE_MAX_EVENTS 256 /* request_done (and request_retry) calls */
#define RL_FAKE_MAX_LIVE 128   /* requests accepted and not yet ended */
#define RL_FAKE_MAX_IDS 256    /* request ids that may hand a response over */
#define RL_FAKE_MAX_MSGS 1024  /* request_event calls (ABI 1.4) */
#define RL_FAKE_MAX_TIMERS 64  /* timers started and not yet fired or stopped */
#define RL_FAKE_MAX_SLOTS 64   /* (user, key) slots holding a state (1.5) */

/* A connection: what the plugin wrote, and how the test steers it. Zero it
 * before session_new; free it with rl_fake_conn_free. */
struct rl_conn {
  char *out; /* written and not yet taken, NUL-terminated (NULL: nothing) */
  size_t out_len;
  uint64_t written;    /* bytes written in all */
  int close_requested; /* conn_close calls */
  int fail_writes;     /* conn_write returns RL_ERR_CLOSED while set */
  void *step;          /* ABI 1.6: what conn_step says (set by the test) */
  char failed[256];    /* ABI 1.6: conn_fail's reason ("" before one) */
};

/* One request_done. */
typedef struct rl_fake_event {
  int req_id;
  char type[32];
  char name[128];
  uint64_t bytes;
  int failed; /* error was not NULL */
  char error[512];
  int seq; /* when, in the order of request_done, request_retry and the
            * first conn_drain */
} rl_fake_event;

/* One request_event (ABI 1.4): an event of a request that goes on. */
typedef struct rl_fake_msg {
  int req_id;
  char type[32];
  char name[160];
  uint64_t bytes;
  uint64_t since_ns; /* as the plugin gave it (0: the request's start) */
  uint64_t at_ns;    /* the fake clock then */
  int failed;
  char error[256];
  int seq; /* in the order of the events (request_done's too) */
} rl_fake_msg;

/* One request_retry. */
typedef struct rl_fake_retry {
  int req_id;
  char reason[128];
  int seq;
} rl_fake_retry;

/* What request_response handed over for one request. */
typedef struct rl_fake_response {
  int got; /* it came */
  int status;
  char headers[2048]; /* "name: value\n" each, in order (cut to fit) */
  size_t n_headers;
  size_t body_len;
  char body[256]; /* its first bytes, NUL-terminated */
  int body_null;  /* body was NULL */
  char json[256]; /* "" when NULL (cut to fit) */
  int json_null;
} rl_fake_response;

typedef struct rl_fake_host {
  /* The services, for session_new and step_new. Copy it to play an older
   * host (a smaller struct_size, the members past it NULL). */
  rl_host host;

  /* ---- Set by the test ---- */
  int wants_response;          /* request_wants_response's answer */
  const char *expand_override; /* when set, what every expansion gives */
  int fail_expand;             /* template_expand fails while set */
  uint64_t now_ns;             /* what now_ns() says: the test moves it */
  /* What a new request's templates draw on: {{user_id}} is user_id (0:
   * the request's own id), {{seq}} is user_seq (0: 1). */
  uint64_t user_id, user_seq;
  /* ABI 1.7: the extra header fields a new request carries
   * (request_headers); NULL: none. The test owns them. */
  const rl_kv *headers;
  size_t n_headers;
  /* ABI 1.8: request_response_parts' answer (RL_RESPONSE_* bits) when
   * wants_response is set; 0: all of them. */
  unsigned response_parts;
  /* Called with the rule a plugin broke; it should not return (cmocka's
   * fail_msg does not). NULL: print it and abort. */
  void (*on_violation)(const char *what);

  /* ---- Recorded ---- */
  rl_fake_event events[RL_FAKE_MAX_EVENTS];
  int n_events;
  rl_fake_retry retries[RL_FAKE_MAX_EVENTS];
  int n_retries;
  int drains;                         /* conn_drain calls */
  int first_drain_seq;                /* the seq of the first one, 0 before */
  int seq;                            /* the last event's seq */
  int n_accepted;                     /* requests session_submit accepted */
  int next_id;                        /* the id of the last request made */
  rl_request *live[RL_FAKE_MAX_LIVE]; /* accepted, not yet ended */
  int in_submit;                      /* inside session_submit */
  int asked;                          /* request_wants_response calls */
  int n_responses;                    /* request_response calls */
  int last_response_id;               /* the request of the last one */
  const rl_request *pending;          /* handed over, done not yet come */
  rl_fake_response responses[RL_FAKE_MAX_IDS + 1]; /* by request id */
  int n_logs;                                      /* log calls */
  rl_fake_msg msgs[RL_FAKE_MAX_MSGS];              /* request_event calls */
  int n_msgs;
  int n_msgs_dropped; /* beyond RL_FAKE_MAX_MSGS: counted only */
  struct rl_timer *timers[RL_FAKE_MAX_TIMERS]; /* running */
  int timers_started, timers_fired, timers_stopped;

  /* ---- The host's own ---- */
  char *expanded; /* the last expansion, spoiled and freed by the next */
  size_t expanded_cap;

  /* ---- ABI 1.5: user state slots and moved requests ---- */
  struct rl_fake_slot {
    uint64_t user_id;
    char key[64];
    rl_user_slot slot;
  } slots[RL_FAKE_MAX_SLOTS];
  int n_slots;
  int states_freed; /* states handed to their del */
  int n_moves;      /* request_move calls */
  char move_reason[128];
  rl_request *moved[RL_FAKE_MAX_LIVE]; /* moved, not yet resubmitted */
  int n_moved;

  /* ---- ABI 1.6 ---- */
  char refused[256]; /* the last request_refuse's reason */
  int n_refused;     /* request_refuse calls */

  /* ---- ABI 1.10: a stream's messages to the owner as they come ---- */
  int wants_messages; /* set by the test: request_wants_messages' answer */
  int hold_messages;  /* set by the test: request_message's answer */
  int n_messages;     /* request_message calls (all, also past the table) */
  int n_held;         /* of them, those answered 1 (hold) */
  struct rl_fake_message {
    int req_id;
    char json[160]; /* cut to fit */
    int seq;        /* in the order of the events */
  } messages[RL_FAKE_MAX_MSGS];
} rl_fake_host;

/* Empties *fh (zeroed or initialised before; what it held is freed),
 * fills fh->host and makes fh the current host. */
void rl_fake_host_init(rl_fake_host *fh);

/* Frees what fh holds: the last expansion, and the requests still live (a
 * failed test's; call it once the plugin's sessions are gone). */
void rl_fake_host_free(rl_fake_host *fh);

/*
 * Makes a request for `step` (the next id; user_id and seq as fh says) and
 * hands it to p->session_submit(session, req). Returns the plugin's code.
 * Accepted, the request is live until the plugin ends it; refused, it is
 * freed here.
 */
int rl_fake_submit(rl_fake_host *fh, const rl_plugin *p, void *session,
                   void *step);

/* The live request with this id, or NULL (e.g. to cancel it). */
rl_request *rl_fake_live(const rl_fake_host *fh, int id);

/* A request's id (1, 2, ... in the order rl_fake_submit made them). */
int rl_fake_request_id(const rl_request *req);

/* The last request_done event of request `id`, or NULL. */
const rl_fake_event *rl_fake_event_of(const rl_fake_host *fh, int id);

/* The response request `id` handed over (got 0: none came). */
const rl_fake_response *rl_fake_response_of(const rl_fake_host *fh, int id);

/* The last response handed over, or NULL. */
const rl_fake_response *rl_fake_last_response(const rl_fake_host *fh);

/* Checks that every accepted request ended (request_done or
 * request_retry) and that no response waits for its request_done: the
 * invariant after session_del. */
void rl_fake_host_check_idle(const rl_fake_host *fh);

/* rl_fake_host_check_idle, then forgets the events, retries and the
 * count of accepted requests (keeps ids, responses and counters): for
 * tests that run many requests through a small table. */
void rl_fake_host_forget_events(rl_fake_host *fh);

/* Moves the fake clock to `now_ns` (never back), firing, in the order
 * they are due, the timers due by then, each at its due time. Returns how
 * many fired. Timers started by a callback fire too when due in time. */
int rl_fake_timers_run(rl_fake_host *fh, uint64_t now_ns);

/* The due time of the earliest running timer, or 0 when none runs. */
uint64_t rl_fake_timers_next(const rl_fake_host *fh);

/* request_event calls of request `id` named `name` (NULL: any). */
int rl_fake_msgs_of(const rl_fake_host *fh, int id, const char *name);

/* ABI 1.5: the user `user_id` stops; the states of its slots go to their
 * del, as the core does. */
void rl_fake_user_stop(rl_fake_host *fh, uint64_t user_id);

/* ABI 1.5: hands the oldest moved request (request_move) to
 * p->session_submit(session, req), as the core does once a new connection
 * is up. Returns the plugin's code (RL_ERR_NOTFOUND: none was moved);
 * refused, the request is freed and the test fails it by hand. */
int rl_fake_resubmit(rl_fake_host *fh, const rl_plugin *p, void *session);

/* Takes what the plugin wrote and the test did not take yet: the caller
 * owns the returned buffer (NULL when nothing; *len its length). */
char *rl_fake_conn_take(rl_conn *conn, size_t *len);

/* Frees a connection's buffer; it is then empty. */
void rl_fake_conn_free(rl_conn *conn);

#endif /* RL_FAKE_HOST_H */

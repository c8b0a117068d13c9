/*
 * What the engine tests that run requests (test_conn, test_user,
 * test_worker) share:
 *   - th_host: the core's host table (rl__host()) with request_done
 *     counted, so a test tells the plugin's reports from the core's own
 *     failures (rl__request_fail does not go through the table);
 *   - two fake plugins filled in C, with no .so and no plugin set: "line",
 *     a codec speaking one text line per request, and "tp", a transport
 *     that ends requests on the loop's timers as its steps say;
 *   - targets made by hand (what rl__target_new makes, already resolved to
 *     127.0.0.1:port);
 *   - a loop (engine/loop.h) the test fills and drives itself with
 *     ev_run(EVRUN_ONCE), letting ready users act after every callback as
 *     the worker does, and TH_RUN_UNTIL bounding every wait in time;
 *   - the peer side on loopback: a listening socket on port 0, accept,
 *     read what arrived, send.
 * One thread per loop, as in the engine; the plugins' counters belong to
 * the thread running the loop (read them after it has joined).
 */
#ifndef TH_ENGINE_HARNESS_H
#define TH_ENGINE_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include <cmocka.h>

#include <rpcload/plugin.h>
#include <rpcload/user.h>

#include "base/clock.h"
#include "engine/loop.h"
#include "engine/plugin_loader.h"
#include "engine/target.h"
#include "engine/wait.h"

/* Every wait in these tests gives up after this long. */
#define TH_TIMEOUT_NS (5 * RL__NS_PER_SEC)
#define TH_MS RL__NS_PER_MS

/* ---- the host table ------------------------------------------------------ */

extern rl_host th_host;
/* host->request_done calls: requests the plugins ended. */
extern unsigned long th_plugin_dones;
/* Non-zero while inside host->request_done (a request's `end` called
 * from there was ended by its plugin). */
extern int th_in_request_done;

/* ---- the fake plugins ---------------------------------------------------- */

/* A step of either fake plugin (the target's step object). */
typedef struct th_step {
  const char *label;       /* on the wire ("line") or in the log ("tp") */
  const char *type, *name; /* step_describe's, and what requests report */
  size_t pad;              /* line: bytes of padding in the request line */
  /* tp: what happens to a request of this step */
  uint64_t latency_ns; /* ends this long after submit */
  int hold;            /* never ends (until transport_del) */
  const char *error;   /* its error text; NULL: success */
  int null_type;       /* reports no type and name (the target's count) */
  /* tp: request_event calls (ABI 1.4) just before the end, under
   * event_name: the first counts from the request's start, the others
   * from the one before. */
  int events;
  const char *event_name;
  int status;       /* handed over when the host wants responses... */
  const char *body; /* ...with this body */
} th_step;

/* The "line" codec. A request is "LABEL N[ uID]\n" (N counts submits,
 * ID is the user's when th_line_cfg.user_ids); each line back is a list
 * of words acted on in order, about the oldest request in flight:
 *   ok          it succeeds
 *   err:TEXT    it fails with TEXT
 *   retry       it is handed back (request_retry, "handed back")
 *   moveeof     it moves (ABI 1.5 request_move) when the connection ends,
 *               as an HTTP redirect whose body ends with the connection
 *   close       conn_close
 *   drain       conn_drain
 *   proto       session_on_read returns RL_ERR_PROTO
 *   ready       its preface is answered (th_line_cfg.preface)
 *   fail:TEXT   host->conn_fail(TEXT), then RL_ERR_PROTO (ABI 1.6)
 * session_del ends what is in flight with its reason. */
extern rl__plugin th_line;
typedef struct th_line_cfg {
  uint32_t max_concurrent; /* session_max_concurrent's answer */
  int user_ids;            /* put the user's id in request lines */
  int refuse_submit;       /* session_submit fails (RL_ERR_BUSY) */
  int fail_session;        /* session_new fails (RL_ERR_PROTO) */
  /* ABI 1.6: session_new sends "hello LABEL\n" (its conn_step's label)
   * and the session is not ready until a "ready" line. */
  int preface;
  /* ABI 1.6: session_submit refuses with this reason (request_refuse). */
  const char *refuse_reason;
} th_line_cfg;
extern th_line_cfg th_line_conf;
/* What the line codec saw. */
typedef struct th_line_seen {
  unsigned sessions, sessions_del, submits, cancels;
  int last_del_err;
  char last_del_reason[128];
  char read[8192]; /* what session_on_read got (cut at the end) */
  size_t read_len;
  size_t read_total; /* every byte session_on_read got */
} th_line_seen;
extern th_line_seen th_seen;
/* The optional session_cancel, for tests to put into th_line.desc. */
int th_line_cancel(void *session, rl_request *req, const char *reason);

/* The "tp" transport. Every submit is logged; it then ends as its step
 * says, from a timer on the loop. */
extern rl__plugin th_tp;
typedef struct th_tp_entry {
  const char *label;
  uint64_t user_id;
  uint64_t at_ns;    /* when submitted */
  uint64_t start_ns; /* what its response time counts from (rl_request's) */
  uint64_t end_ns;   /* when the transport ended it, just before telling the
                        host (0: not yet) */
} th_tp_entry;
#define TH_TP_LOG 4096
extern th_tp_entry th_tp_log[TH_TP_LOG];
extern size_t th_tp_n;
/* What request_response_parts (ABI 1.8) said for the last request the
 * transport ended (RL_RESPONSE_* bits). */
extern unsigned th_tp_last_parts;
/* ABI 1.10: request_message calls the host answered 1 (hold). */
extern int th_tp_holds;
/* The labels submitted so far, space-separated ("S A B"). */
const char *th_tp_labels(void);

/* Resets both plugins' configuration, counters and logs and fills in the
 * host (call first in every test). */
void th_reset(void);

/* ---- targets --------------------------------------------------------------- */

/* A target of `p` running `step` (borrowed) at 127.0.0.1:`port`, as
 * rl__target_new would make it. Free with th_target_free (which also
 * frees a TLS context the test put in it). */
rl__target *th_target_new(rl__plugin *p, th_step *step, uint16_t port);
void th_target_free(rl__target *t);

/* ---- plans ------------------------------------------------------------------ */

struct rl__plan;
struct rl__plan_class;

/* A plan of one class (named `name`, weight 1, `wait`) with one task of
 * weight 1 and no steps yet: the test fills in the class, *cls. It owns
 * no target. Free with rl__plan_del. */
struct rl__plan *th_plan_one(const char *name, rl__wait wait,
                             struct rl__plan_class **cls);

/* Makes class k of plan p a class written in C (engine/cuser.c runs it):
 * its task `fn` and its `n` requests, running targets t (borrowed). */
void th_plan_cclass(struct rl__plan *p, struct rl__plan_class *k, rl_task_fn fn,
                    rl__target *const *t, size_t n);

/* ---- the loop ------------------------------------------------------------- */

/* A loop for users of `plan` (may be NULL: connections only) with its
 * own stats, read buffer and ev loop; after every callback the ready
 * users act and scheduled writes go out, as on a worker. */
void th_loop_init(rl_loop *lp, const struct rl__plan *plan);
/* Ends the loop's transports (what they hold is cancelled) and frees it. */
void th_loop_free(rl_loop *lp);
/* Starts `t`'s transport on the loop, as a worker does for its plan. */
void th_loop_add_transport(rl_loop *lp, const rl__target *t);
/* Ends the loop's transports now (transport_del, "stopped"). */
void th_loop_end_transports(rl_loop *lp);
/* What the worker does after a callback: the ready users act. */
void th_run_ready(rl_loop *lp);
/* Runs the loop for `ns`. */
void th_run_for(rl_loop *lp, uint64_t ns);

#define TH_RUN_UNTIL(lp, cond)                                                 \
  do {                                                                         \
    uint64_t th_deadline_ = rl__now_ns() + TH_TIMEOUT_NS;                      \
    while (!(cond)) {                                                          \
      if (rl__now_ns() > th_deadline_)                                         \
        fail_msg("timed out waiting for %s", #cond);                           \
      ev_run((lp)->ev, EVRUN_ONCE);                                            \
    }                                                                          \
  } while (0)

/* ---- the peer -------------------------------------------------------------- */

/* A listening socket on 127.0.0.1, port 0 (the kernel's pick in *port). */
int th_listen(uint16_t *port);
/* A port nothing listens on (bound, never listened, closed). */
uint16_t th_closed_port(void);
/* Runs the loop until a connection arrives on `lfd`; its socket. */
int th_accept(rl_loop *lp, int lfd);
/* 1 when a connection is waiting on `lfd` (nothing accepted). */
int th_pending(int lfd);

/* What a peer socket has received so far (kept across calls). */
typedef struct th_in {
  char data[1 << 16];
  size_t len;
  int eof;
} th_in;
/* Reads what is there without blocking; returns in->len. */
size_t th_read(int fd, th_in *in);
/* Runs the loop until `want` has arrived on `fd`. */
void th_expect(rl_loop *lp, int fd, th_in *in, const char *want);
/* Runs the loop until the peer sees the connection closed. */
void th_expect_eof(rl_loop *lp, int fd, th_in *in);
/* Sends all of `text` (short: the socket takes it at once). */
void th_send(int fd, const char *text);
/* Sends `len` bytes, running the loop while the socket is full. */
void th_send_big(rl_loop *lp, int fd, const void *data, size_t len);

#endif /* TH_ENGINE_HARNESS_H */

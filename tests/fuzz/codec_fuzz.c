/* The codec targets' driver (codec_fuzz.h). */
#include "codec_fuzz.h"

#include <stdio.h>
#include <stdlib.h>

#include "engine/plugin_loader.h"
#include "unit/codec_test.h"

rl_fake_host rl_fuzz_fh;

static rl__plugin_set plugins;

/* RL_FUZZ_TRACE set: each input's requests and how they ended go to
 * stderr (for writing seeds that get past the first frame). */
static int trace;

/* Plugins log what a hostile server does (a warning per bad response):
 * millions of lines would only slow the fuzzer down. */
static void quiet_log(int level, const char *fmt, ...) {
  (void)level;
  (void)fmt;
}

/* A fresh host for one input: nothing recorded, the same table address
 * (the loader and the steps keep it), logs dropped. */
static void host_reset(void) {
  rl_fake_host_init(&rl_fuzz_fh);
  rl_fuzz_fh.host.log = quiet_log;
}

const rl_plugin *rl_fuzz_codec_load(const char *path) {
  const rl_plugin *p = NULL;
  if (rl_codec_test_load(&rl_fuzz_fh, &plugins, path, NULL, &p) != 0) {
    fprintf(stderr, "fuzz: cannot load the plugin %s\n", path);
    exit(1);
  }
  rl_fuzz_fh.host.log = quiet_log;
  trace = getenv("RL_FUZZ_TRACE") != NULL;
  return p;
}

void *rl_fuzz_step(const rl_plugin *p, const rl_step_spec *spec) {
  char err[1024] = "";
  void *step = NULL;
  if (p->step_new(&rl_fuzz_fh.host, spec, &step, err, sizeof err) != 0) {
    fprintf(stderr, "fuzz: %s: the step does not compile: %s\n", p->name, err);
    exit(1);
  }
  return step;
}

/* Requests accepted and not yet ended. */
static int inflight(const rl_fake_host *fh) {
  return fh->n_accepted - fh->n_events - fh->n_retries;
}

/* Submits requests while the session takes them (no
 * session_max_concurrent: one at a time, as the core does), the next step
 * in turn, until one is refused (the host would fail that request itself
 * and keep the connection). */
static void top_up(const rl_plugin *p, void *session, void *const *steps,
                   size_t n_steps, size_t *next) {
  int cap = 1;
  if (p->session_max_concurrent != NULL) {
    uint32_t m = p->session_max_concurrent(session);
    cap = m < RL_FUZZ_MAX_INFLIGHT ? (int)m : RL_FUZZ_MAX_INFLIGHT;
  }
  while (inflight(&rl_fuzz_fh) < cap &&
         rl_fuzz_fh.next_id < RL_FUZZ_MAX_REQUESTS) {
    int rc = rl_fake_submit(&rl_fuzz_fh, p, session, steps[*next % n_steps]);
    (*next)++;
    if (rc != 0)
      return;
  }
}

/* What the plugin wrote (requests, WINDOW_UPDATEs, pings) goes nowhere. */
static void drop_output(rl_conn *conn) {
  size_t len;
  free(rl_fake_conn_take(conn, &len));
}

void rl_fuzz_codec_run(const rl_plugin *p, const rl_conn_info *info,
                       void *const *steps, size_t n_steps, const uint8_t *data,
                       size_t size) {
  if (size < 2 || n_steps == 0)
    return;
  host_reset();
  rl_fuzz_fh.wants_response = data[0] & 1;
  size_t next = (size_t)(data[0] >> 1);
  size_t chunk = data[1] ? data[1] : size;
  data += 2;
  size -= 2;

  rl_conn conn = {0};
  void *session = NULL;
  if (p->session_new(&rl_fuzz_fh.host, &conn, info, &session) != 0) {
    rl_fake_conn_free(&conn);
    rl_fake_host_free(&rl_fuzz_fh);
    return;
  }
  int rc = 0;
  top_up(p, session, steps, n_steps, &next);
  drop_output(&conn);
  while (rc == 0 && size > 0) {
    size_t n = size < chunk ? size : chunk;
    rc = p->session_on_read(session, data, n);
    data += n;
    size -= n;
    if (rc == 0 && conn.close_requested == 0) {
      rl_fake_timers_run(&rl_fuzz_fh, rl_fuzz_fh.now_ns + 10000000u);
      top_up(p, session, steps, n_steps, &next);
    }
    drop_output(&conn);
    if (conn.close_requested)
      break;
  }
  /* The host ends the connection: the peer closed it, or we did. */
  p->session_del(session, rc != 0 ? rc : RL_ERR_CLOSED,
                 rc != 0 ? "fuzz: the session failed" : "");
  rl_fake_host_check_idle(&rl_fuzz_fh);
  for (int i = 0; trace && i < rl_fuzz_fh.n_events; i++) {
    const rl_fake_event *e = &rl_fuzz_fh.events[i];
    fprintf(stderr, "fuzz: request %d %s %s: %llu bytes, %s\n", e->req_id,
            e->type, e->name, (unsigned long long)e->bytes,
            e->failed ? e->error : "ok");
  }
  if (trace)
    fprintf(stderr, "fuzz: %d requests, %d ended, session %s\n",
            rl_fuzz_fh.next_id, rl_fuzz_fh.n_events,
            rc != 0 ? rl_strerror(rc) : "ended by the peer");
  rl_fake_conn_free(&conn);
  rl_fake_host_free(&rl_fuzz_fh);
}

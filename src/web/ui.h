/*
 * The web UI (rpcload --web) and the Prometheus endpoint
 * (--prometheus-port): an embedded HTTP server (libmicrohttpd) on its own
 * thread, beside a running rl__runner.
 *
 * Web mode serves (the answers are web/api.c's)
 *   GET  /                     the single-page UI (assets/index.html,
 *                              app.js, style.css and uPlot under /assets/,
 *                              embedded at build time: the page needs
 *                              nothing but this server)
 *   GET  /config               the run's settings for the page (JSON)
 *   POST /swarm                Locust's: form fields user_count, spawn_rate,
 *                              host (empty: the current target; another
 *                              is compiled for a new test), run_time;
 *                              {"success", "message", "host"}
 *   GET  /stop                 {"success": true, "message": "Test stopped"}
 *   GET  /stats/reset          "ok"
 *   GET  /stats/requests       Locust's live stats (rl__report_json_stats_requests)
 *   GET  /tasks                Locust's class and task ratios
 *   GET  /stats/requests/csv, /stats/requests_full_history/csv,
 *        /stats/failures/csv, /exceptions/csv   Locust's CSV files
 *   GET  /exceptions           {"exceptions": []} (no user code, none)
 *   GET  /stats/report         the HTML report (?download=1: as a file)
 *   GET  /stats/report.json    the --json report, history included
 *   GET  /metrics              Prometheus (report/prometheus.h)
 * and the Prometheus mode (metrics_only) serves /metrics alone.
 *
 * Threads: libmicrohttpd accepts on its own thread and answers each
 * connection on a thread of its own (up to 512 connections; one silent
 * for 10 s is closed), so a slow or stalled client, or a handler that
 * waits (/stop), holds up nobody else. The runner's main thread starts
 * and stops the server (the runner's `started` and `ended` hooks). A
 * request reads the stats under the runner's lock, formats its answer
 * into memory, releases the lock and only then writes to the socket, so a
 * slow client never holds up the workers' merges. Requests that change
 * the run go through rl__runner_control.
 *
 * Browser safety: the page runs under a Content-Security-Policy that allows
 * only this origin and no inline script; requests that change the run
 * (/swarm, /stop, /stats/reset) are refused (403) when a browser says they
 * come from another site (Origin or Sec-Fetch-Site), so a page elsewhere
 * cannot drive a local rpcload; and a request whose Host header names
 * anything but an IP address, localhost (*.localhost), the --web-host name
 * or the machine's name is refused (403), so a page on another name cannot
 * reach it by DNS rebinding (the Prometheus-only port, read-only and
 * scraped by name, checks no Host). With `login` every path asks for HTTP
 * basic auth.
 */
#ifndef RL_WEB_UI_H
#define RL_WEB_UI_H

#include <stddef.h>
#include <stdint.h>

#include "engine/runner.h"
#include "web/api.h"

typedef struct rl__web_ui rl__web_ui;

typedef struct rl__web_ui_config {
  const char *host;  /* address to listen on (name or literal); NULL:
                       127.0.0.1 */
  uint16_t port;     /* 0: the kernel picks one (rl__web_ui_port says) */
  const char *login; /* "user:password": basic auth on every path; NULL:
                        none */
  int metrics_only;  /* serve /metrics alone (--prometheus-port) */
  /* Shown by the UI and in the reports until /swarm changes the host. */
  const char *target;
  const char *plugin; /* the protocol plugin's name, for the report */
  uint32_t users;     /* the start form's defaults (-u, -r) */
  double spawn_rate;
  /* A host given at /swarm is compiled by this (web/api.h); NULL: the
   * target cannot change. */
  rl__web_compile_fn compile;
  void *compile_arg;
  /* A cluster master's steering (web/api.h), borrowed; NULL: none. */
  const rl__web_remote *remote;
} rl__web_ui_config;

/*
 * Starts serving `r` (whose run has started: call from the `started`
 * hook). `cfg`'s strings are copied. On success *out is the server (stop
 * it with rl__web_ui_stop before the run's end: the `ended` hook);
 * otherwise returns RL_ERR_IO (the address cannot be listened on) or
 * RL_ERR_NOMEM with a reason in `err`, and *out is NULL.
 */
int rl__web_ui_start(const rl__web_ui_config *cfg, rl__runner *r,
                     rl__web_ui **out, char *err, size_t errlen);

/* The port it listens on (the kernel's pick when cfg->port was 0). */
uint16_t rl__web_ui_port(const rl__web_ui *ui);

/* The address as a URL's authority part: "127.0.0.1:8089", "[::1]:8089".
 * Owned by `ui`. */
const char *rl__web_ui_authority(const rl__web_ui *ui);

/* Whether it listens on a loopback address only. */
int rl__web_ui_is_loopback(const rl__web_ui *ui);

/*
 * Stops the server (requests being answered are cut) and frees it. Call on
 * the thread that started it, while `r` still exists (the `ended` hook).
 * NULL does nothing.
 */
void rl__web_ui_stop(rl__web_ui *ui);

#endif /* RL_WEB_UI_H */

/*
 * The web UI's HTTP server (see web_ui.h for the contract): libmicrohttpd
 * with its own polling thread, so one thread answers every request and the
 * handlers below never run concurrently with each other.
 *
 * Every answer is built in memory first (under the runner's lock when it
 * reads stats) and handed to libmicrohttpd, which owns it from then on and
 * writes it out after the lock is gone.
 */
#include "web_ui.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include <rpcload/plugin.h>

#include "clock.h"
#include "log.h"
#include "prometheus.h"
#include "report_csv.h"
#include "report_html.h"
#include "report_json.h"
#include "worker.h"

/* Embedded at build time (cmake/report_html_assets.cmake,
 * cmake/web_ui_assets.cmake). */
extern const char rl__uplot_js[], rl__uplot_css[], rl__uplot_license[];
extern const size_t rl__uplot_js_len, rl__uplot_css_len;
extern const char rl__uplot_version[];
extern const char rl__web_ui_html[], rl__web_ui_js[], rl__web_ui_css[];
extern const size_t rl__web_ui_html_len, rl__web_ui_js_len,
    rl__web_ui_css_len;

/* A form field longer than this is refused rather than buffered. */
#define FIELD_MAX 512

struct rl__web_ui {
  struct MHD_Daemon *daemon;
  rl__runner *r;
  int metrics_only;
  char *user, *password; /* basic auth; NULL: none */
  char *target, *plugin;
  uint32_t users;
  double spawn_rate; /* the form's default; then the last one asked */
  uint16_t port;
  int loopback;
  char authority[INET6_ADDRSTRLEN + 16];
  char *uplot_js; /* uPlot with its license comment in front */
  size_t uplot_js_len;
};

/* ---- answers ------------------------------------------------------------- */

/* A response for `len` bytes at `data`; `owned` data is malloc'd and
 * passes to libmicrohttpd (freed with the response), else it is static.
 * NULL when out of memory (owned data is then freed). */
static struct MHD_Response *new_response(const char *type, const char *data,
                                         size_t len, int owned) {
  struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback(
      len, (void *)(uintptr_t)data, owned ? free : NULL);
  if (!resp) {
    if (owned)
      free((void *)(uintptr_t)data);
    return NULL;
  }
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  /* Live figures: a browser or proxy must never show a stale copy. */
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
  return resp;
}

static enum MHD_Result queue(struct MHD_Connection *c, unsigned status,
                             struct MHD_Response *resp) {
  if (!resp)
    return MHD_NO;
  enum MHD_Result rc = MHD_queue_response(c, status, resp);
  MHD_destroy_response(resp);
  return rc;
}

/* Queues `len` bytes at `data` (see new_response), as a download under
 * the name in `disposition` when not NULL. */
static enum MHD_Result answer(struct MHD_Connection *c, unsigned status,
                              const char *type, const char *data, size_t len,
                              int owned, const char *disposition) {
  struct MHD_Response *resp = new_response(type, data, len, owned);
  if (resp && disposition)
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION,
                            disposition);
  return queue(c, status, resp);
}

/* The UI's page: only this server's own files, no inline script, no
 * framing. (The HTML report brings its own policy, in a meta element.) */
static enum MHD_Result answer_page(struct MHD_Connection *c) {
  struct MHD_Response *resp = new_response(
      "text/html; charset=utf-8", rl__web_ui_html, rl__web_ui_html_len, 0);
  if (resp) {
    MHD_add_response_header(
        resp, "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
  }
  return queue(c, MHD_HTTP_OK, resp);
}

static enum MHD_Result answer_text(struct MHD_Connection *c, unsigned status,
                                   const char *text) {
  return answer(c, status, "text/plain; charset=utf-8", text, strlen(text), 0,
                NULL);
}

/* Serialises and frees `j` (NULL: out of memory), then answers it. */
static enum MHD_Result answer_json(struct MHD_Connection *c, unsigned status,
                                   json_t *j, size_t flags) {
  char *text = j ? json_dumps(j, flags) : NULL;
  json_decref(j);
  if (!text)
    return answer_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
  return answer(c, status, "application/json", text, strlen(text), 1, NULL);
}

/* {"success": ok, "message": msg[, "host": host]} as Locust's. */
static enum MHD_Result answer_result(struct MHD_Connection *c,
                                     unsigned status, int ok, const char *msg,
                                     const char *host) {
  json_t *j = json_pack("{s:b, s:s}", "success", ok, "message", msg);
  if (j && host)
    json_object_set_new(j, "host", json_string(host));
  return answer_json(c, status, j, JSON_COMPACT);
}

/* ---- reading the run ----------------------------------------------------- */

/* Users asked for now: the sum of what the workers were told. The runner's
 * own count belongs to its thread; these are atomics. */
static uint32_t user_count(const rl__runner *r) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < r->nworkers; i++)
    n += atomic_load(&r->workers[i].want_users);
  return n;
}

/* The stats' time span, for reports that rate over a duration: from the
 * first history second with users or requests (a steered run idles at
 * first, and a reset starts the history anew) to now. */
static void stats_span(const rl__history *h, double *start_unix,
                       double *duration_s) {
  double now = (double)rl__unix_time();
  size_t i = 0;
  while (i < h->n && h->rows[i].users == 0 && h->rows[i].requests == 0)
    i++;
  /* A row closes its second: the span begins one second before it. */
  double start = i < h->n ? (double)h->rows[i].unix_time - 1 : now;
  *start_unix = start;
  *duration_s = now > start ? now - start : 0;
}

/* Text a memstream collected, or NULL when it failed. */
typedef struct membuf {
  char *p;
  size_t len;
  FILE *f;
} membuf;

static int membuf_open(membuf *m) {
  m->p = NULL;
  m->len = 0;
  m->f = open_memstream(&m->p, &m->len);
  return m->f ? 0 : RL_ERR_NOMEM;
}

/* Closes the stream; on failure frees the text and returns non-zero. */
static int membuf_close(membuf *m, int rc) {
  if (fclose(m->f) != 0 && rc == 0)
    rc = RL_ERR_NOMEM;
  if (rc != 0) {
    free(m->p);
    m->p = NULL;
  }
  return rc;
}

static enum MHD_Result answer_membuf(struct MHD_Connection *c, membuf *m,
                                     int rc, const char *type,
                                     const char *disposition) {
  if (membuf_close(m, rc) != 0)
    return answer_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
  return answer(c, MHD_HTTP_OK, type, m->p, m->len, 1, disposition);
}

static enum MHD_Result get_metrics(rl__web_ui *ui, struct MHD_Connection *c) {
  rl__runner *r = ui->r;
  membuf m;
  if (membuf_open(&m))
    return answer_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
  rl__prometheus_info info = {
      .users = user_count(r),
      .state = atomic_load(&r->state),
      .now_sec = rl__runner_elapsed_sec(r),
  };
  pthread_mutex_lock(&r->lock);
  int rc = rl__prometheus_write(m.f, r->stats, &info);
  pthread_mutex_unlock(&r->lock);
  return answer_membuf(c, &m, rc, RL__PROMETHEUS_CONTENT_TYPE, NULL);
}

static enum MHD_Result get_stats_requests(rl__web_ui *ui,
                                          struct MHD_Connection *c) {
  rl__runner *r = ui->r;
  const char *state = rl__run_state_name(atomic_load(&r->state));
  uint32_t users = user_count(r);
  uint64_t now = rl__runner_elapsed_sec(r);
  pthread_mutex_lock(&r->lock);
  json_t *j = rl__json_stats_requests(r->stats, &r->history, now, state, users);
  /* The charts also draw the current p99, which Locust's shape lacks: an
   * extra key in the same object, where Locust puts the percentiles it is
   * configured to chart. */
  const rl__history_row *last =
      r->history.n ? &r->history.rows[r->history.n - 1] : NULL;
  json_t *p99 = last ? json_real((double)last->p99_ns / 1e6) : json_null();
  pthread_mutex_unlock(&r->lock);
  json_t *cur = j ? json_object_get(j, "current_response_time_percentiles")
                  : NULL;
  if (cur)
    json_object_set_new(cur, "response_time_percentile_0.99", p99);
  else
    json_decref(p99);
  return answer_json(c, MHD_HTTP_OK, j, JSON_COMPACT | JSON_REAL_PRECISION(15));
}

static enum MHD_Result get_report_html(rl__web_ui *ui,
                                       struct MHD_Connection *c,
                                       int download) {
  rl__runner *r = ui->r;
  membuf m;
  if (membuf_open(&m))
    return answer_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
  rl__html_run_info info = {
      .target = ui->target,
      .plugin = ui->plugin,
      .users = user_count(r),
      .spawn_rate = ui->spawn_rate,
      .run_time_ns = r->cfg->run_time_ns,
  };
  pthread_mutex_lock(&r->lock);
  stats_span(&r->history, &info.start_unix_s, &info.duration_s);
  info.end_unix_s = info.start_unix_s + info.duration_s;
  int rc = rl__report_html_write(m.f, &info, r->stats, &r->history);
  pthread_mutex_unlock(&r->lock);
  char disposition[96];
  snprintf(disposition, sizeof disposition,
           "attachment; filename=\"rpcload_report_%llu.html\"",
           (unsigned long long)rl__unix_time());
  return answer_membuf(c, &m, rc, "text/html; charset=utf-8",
                       download ? disposition : NULL);
}

static enum MHD_Result get_report_json(rl__web_ui *ui,
                                       struct MHD_Connection *c) {
  rl__runner *r = ui->r;
  rl__json_run_info run = {.users = ui->users, .user_count = user_count(r)};
  pthread_mutex_lock(&r->lock);
  stats_span(&r->history, &run.start_time, &run.duration_s);
  json_t *j = rl__json_report(r->stats, &r->history, &run);
  pthread_mutex_unlock(&r->lock);
  return answer_json(c, MHD_HTTP_OK, j, RL__JSON_DUMP_FLAGS);
}

/* ---- CSV downloads ------------------------------------------------------- */

/*
 * Locust's CSV texts come from src/report_csv.c, whose in-memory
 * formatters these are. Declared weak until report_csv.h exports them, so
 * a build without them still links; the endpoints then answer 501.
 * TODO(web-ui): drop `weak` and include the prototypes from report_csv.h.
 */
int rl__csv_stats_text(rl__stats *s, double elapsed_s, char **out,
                       size_t *len) __attribute__((weak));
int rl__csv_failures_text(rl__stats *s, uint64_t start_unix, char **out,
                          size_t *len) __attribute__((weak));
int rl__csv_history_text(const rl__history *h, char **out, size_t *len)
    __attribute__((weak));

enum csv_kind { CSV_STATS, CSV_HISTORY, CSV_FAILURES, CSV_EXCEPTIONS };

static enum MHD_Result get_csv(rl__web_ui *ui, struct MHD_Connection *c,
                               enum csv_kind kind) {
  static const char *const prefixes[] = {"requests", "requests_full_history",
                                         "failures", "exceptions"};
  rl__runner *r = ui->r;
  char *text = NULL;
  size_t len = 0;
  int rc = 0;
  if (kind == CSV_EXCEPTIONS) {
    /* rpcload runs no user code that could raise: the header alone. */
    text = strdup(rl__csv_exceptions_header);
    len = text ? strlen(text) : 0;
    rc = text ? 0 : RL_ERR_NOMEM;
  } else {
    if ((kind == CSV_STATS && !rl__csv_stats_text) ||
        (kind == CSV_HISTORY && !rl__csv_history_text) ||
        (kind == CSV_FAILURES && !rl__csv_failures_text))
      return answer_text(c, MHD_HTTP_NOT_IMPLEMENTED,
                         "this build of rpcload cannot format CSV in "
                         "memory yet\n");
    pthread_mutex_lock(&r->lock);
    double start, span;
    stats_span(&r->history, &start, &span);
    if (kind == CSV_STATS)
      rc = rl__csv_stats_text(r->stats, span, &text, &len);
    else if (kind == CSV_HISTORY)
      rc = rl__csv_history_text(&r->history, &text, &len);
    else
      rc = rl__csv_failures_text(r->stats, (uint64_t)start, &text, &len);
    pthread_mutex_unlock(&r->lock);
  }
  if (rc != 0) {
    free(text);
    return answer_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
  }
  char disposition[96];
  snprintf(disposition, sizeof disposition,
           "attachment; filename=\"%s_%llu.csv\"", prefixes[kind],
           (unsigned long long)rl__unix_time());
  return answer(c, MHD_HTTP_OK, "text/csv; charset=utf-8", text, len, 1,
                disposition);
}

/* ---- the page ------------------------------------------------------------ */

/* The run's settings for the page: one small JSON document the script
 * fetches (no inline script under the CSP). */
static enum MHD_Result get_config(rl__web_ui *ui, struct MHD_Connection *c) {
  uint64_t run_time_ns = ui->r->cfg->run_time_ns;
  json_t *j = json_pack(
      "{s:s, s:s?, s:I, s:f, s:s, s:s, s:b, s:o?}", "host", ui->target,
      "plugin", ui->plugin, "users", (json_int_t)ui->users, "spawn_rate",
      ui->spawn_rate, "version", RL_VERSION, "uplot_version",
      rl__uplot_version, "auth", ui->user != NULL, "run_time_s",
      run_time_ns ? json_real((double)run_time_ns / 1e9) : NULL);
  return answer_json(c, MHD_HTTP_OK, j, JSON_COMPACT);
}

/* ---- changing the run ---------------------------------------------------- */

/* One request's state between libmicrohttpd's calls (its *con_cls). */
typedef struct request {
  struct MHD_PostProcessor *post;
  char user_count[FIELD_MAX], spawn_rate[FIELD_MAX], host[FIELD_MAX],
      run_time[FIELD_MAX];
  int too_long; /* a field outgrew FIELD_MAX */
} request;

static enum MHD_Result post_field(void *cls, enum MHD_ValueKind kind,
                                  const char *key, const char *filename,
                                  const char *content_type,
                                  const char *transfer_encoding,
                                  const char *data, uint64_t off,
                                  size_t size) {
  (void)kind;
  (void)filename;
  (void)content_type;
  (void)transfer_encoding;
  request *q = cls;
  char *field = strcmp(key, "user_count") == 0   ? q->user_count
                : strcmp(key, "spawn_rate") == 0 ? q->spawn_rate
                : strcmp(key, "host") == 0       ? q->host
                : strcmp(key, "run_time") == 0   ? q->run_time
                                                 : NULL;
  if (!field)
    return MHD_YES; /* Locust's other fields (user classes...) */
  if (off + size >= FIELD_MAX) {
    q->too_long = 1;
    return MHD_NO;
  }
  memcpy(field + off, data, size);
  field[off + size] = 0;
  return MHD_YES;
}

/* A field from the form, or else from the query string (Locust's clients
 * post forms; a hand-written curl may not). */
static const char *field(struct MHD_Connection *c, const char *posted,
                         const char *key) {
  if (posted[0])
    return posted;
  const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
  return v ? v : "";
}

/* Whether `host` names the target (empty, or the same up to trailing
 * slashes). */
static int same_host(const char *target, const char *host) {
  size_t a = strlen(target), b = strlen(host);
  while (a > 0 && target[a - 1] == '/')
    a--;
  while (b > 0 && host[b - 1] == '/')
    b--;
  return b == 0 || (a == b && strncmp(target, host, a) == 0);
}

static enum MHD_Result post_swarm(rl__web_ui *ui, struct MHD_Connection *c,
                                  request *q) {
  if (q->too_long)
    return answer_result(c, MHD_HTTP_BAD_REQUEST, 0, "a form field is too long",
                         ui->target);
  const char *users_s = field(c, q->user_count, "user_count");
  const char *rate_s = field(c, q->spawn_rate, "spawn_rate");
  const char *host = field(c, q->host, "host");
  const char *run_time = field(c, q->run_time, "run_time");
  char *end;
  errno = 0;
  long long users = strtoll(users_s, &end, 10);
  if (!users_s[0] || *end || errno || users < 0 || users > 10000000)
    return answer_result(c, MHD_HTTP_BAD_REQUEST, 0,
                         "user_count must be a whole number from 0 to "
                         "10000000",
                         ui->target);
  errno = 0;
  double rate = strtod(rate_s, &end);
  if (!rate_s[0] || *end || errno || !isfinite(rate) || rate <= 0)
    return answer_result(c, MHD_HTTP_BAD_REQUEST, 0,
                         "spawn_rate must be a number > 0", ui->target);
  if (!same_host(ui->target, host)) {
    char msg[FIELD_MAX + 128];
    snprintf(msg, sizeof msg,
             "rpcload load-tests the target it was started with (%s); "
             "start another rpcload for %s",
             ui->target, host);
    return answer_result(c, MHD_HTTP_BAD_REQUEST, 0, msg, ui->target);
  }
  if (run_time[0])
    return answer_result(c, MHD_HTTP_BAD_REQUEST, 0,
                         "run_time from the web UI is not supported: give "
                         "-t/--run-time on the command line",
                         ui->target);
  if (atomic_load(&ui->r->state) == RL__STATE_ENDING)
    return answer_result(c, MHD_HTTP_CONFLICT, 0, "the run is ending",
                         ui->target);
  rl__runner_ctl ctl = {
      .swarm = 1, .users = (uint32_t)users, .spawn_rate = rate};
  rl__runner_control(ui->r, &ctl);
  ui->spawn_rate = rate;
  return answer_result(c, MHD_HTTP_OK, 1, "Swarming started", ui->target);
}

/* ---- access control ------------------------------------------------------ */

static int b64_value(int ch) {
  if (ch >= 'A' && ch <= 'Z')
    return ch - 'A';
  if (ch >= 'a' && ch <= 'z')
    return ch - 'a' + 26;
  if (ch >= '0' && ch <= '9')
    return ch - '0' + 52;
  if (ch == '+')
    return 62;
  if (ch == '/')
    return 63;
  return -1;
}

/* Decodes base64 `in` into `out` (NUL-terminated); -1 when malformed or
 * longer than `cap` - 1. */
static int b64_decode(const char *in, char *out, size_t cap) {
  size_t n = 0;
  unsigned acc = 0;
  int bits = 0;
  for (; *in && *in != '='; in++) {
    int v = b64_value((unsigned char)*in);
    if (v < 0)
      return -1;
    acc = (acc << 6) | (unsigned)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (n + 1 >= cap)
        return -1;
      out[n++] = (char)((acc >> bits) & 0xff);
    }
  }
  while (*in == '=')
    in++;
  if (*in)
    return -1;
  out[n] = 0;
  return (int)n;
}

/* Compares in time that depends on the lengths only, not on where the
 * first difference is. */
static int same_secret(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  unsigned char diff = la != lb;
  for (size_t i = 0; i < la && i < lb; i++)
    diff |= (unsigned char)(a[i] ^ b[i]);
  return diff == 0;
}

static int authorised(const rl__web_ui *ui, struct MHD_Connection *c) {
  if (!ui->user)
    return 1;
  const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                              MHD_HTTP_HEADER_AUTHORIZATION);
  if (!h || strncasecmp(h, "Basic ", 6) != 0)
    return 0;
  h += 6;
  while (*h == ' ')
    h++;
  char cred[1024];
  int n = b64_decode(h, cred, sizeof cred);
  if (n < 0 || memchr(cred, 0, (size_t)n))
    return 0;
  char *colon = strchr(cred, ':');
  if (!colon)
    return 0;
  *colon = 0;
  /* Both compared, always: no early answer for a wrong user name. */
  int user_ok = same_secret(cred, ui->user);
  int pass_ok = same_secret(colon + 1, ui->password);
  return user_ok && pass_ok;
}

static enum MHD_Result ask_login(struct MHD_Connection *c) {
  static const char body[] = "401 Unauthorized: rpcload's web UI needs the "
                             "--web-login user and password\n";
  struct MHD_Response *resp = new_response("text/plain; charset=utf-8", body,
                                           sizeof body - 1, 0);
  if (resp)
    MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                            "Basic realm=\"rpcload\", charset=\"UTF-8\"");
  return queue(c, MHD_HTTP_UNAUTHORIZED, resp);
}

/* A request a browser says another site made (a page elsewhere posting a
 * form or loading an image at us): refused where it would change the
 * run. Clients that are not browsers send neither header. */
static int cross_site(struct MHD_Connection *c) {
  const char *site =
      MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-Fetch-Site");
  if (site && (strcasecmp(site, "cross-site") == 0 ||
               strcasecmp(site, "same-site") == 0))
    return 1;
  const char *origin =
      MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ORIGIN);
  if (!origin)
    return 0;
  const char *host =
      MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
  const char *sep = strstr(origin, "://");
  return !host || !sep || strcasecmp(sep + 3, host) != 0;
}

/* ---- routing ------------------------------------------------------------- */

static int is(const char *a, const char *b) { return strcmp(a, b) == 0; }

static enum MHD_Result route_get(rl__web_ui *ui, struct MHD_Connection *c,
                                 const char *url) {
  if (is(url, "/metrics"))
    return get_metrics(ui, c);
  if (ui->metrics_only)
    return answer_text(c, MHD_HTTP_NOT_FOUND,
                       "not found: this port serves /metrics only\n");
  if (is(url, "/"))
    return answer_page(c);
  if (is(url, "/assets/web_ui.js"))
    return answer(c, MHD_HTTP_OK, "text/javascript; charset=utf-8",
                  rl__web_ui_js, rl__web_ui_js_len, 0, NULL);
  if (is(url, "/assets/web_ui.css"))
    return answer(c, MHD_HTTP_OK, "text/css; charset=utf-8", rl__web_ui_css,
                  rl__web_ui_css_len, 0, NULL);
  if (is(url, "/assets/uPlot.js"))
    return answer(c, MHD_HTTP_OK, "text/javascript; charset=utf-8",
                  ui->uplot_js, ui->uplot_js_len, 0, NULL);
  if (is(url, "/assets/uPlot.css"))
    return answer(c, MHD_HTTP_OK, "text/css; charset=utf-8", rl__uplot_css,
                  rl__uplot_css_len, 0, NULL);
  if (is(url, "/config"))
    return get_config(ui, c);
  if (is(url, "/stats/requests"))
    return get_stats_requests(ui, c);
  if (is(url, "/stats/requests/csv"))
    return get_csv(ui, c, CSV_STATS);
  if (is(url, "/stats/requests_full_history/csv"))
    return get_csv(ui, c, CSV_HISTORY);
  if (is(url, "/stats/failures/csv"))
    return get_csv(ui, c, CSV_FAILURES);
  if (is(url, "/exceptions/csv"))
    return get_csv(ui, c, CSV_EXCEPTIONS);
  if (is(url, "/exceptions"))
    return answer_json(c, MHD_HTTP_OK, json_pack("{s:[]}", "exceptions"),
                       JSON_COMPACT);
  if (is(url, "/stats/report")) {
    const char *dl =
        MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "download");
    return get_report_html(ui, c, dl && *dl && strcmp(dl, "0") != 0);
  }
  if (is(url, "/stats/report.json"))
    return get_report_json(ui, c);
  if (is(url, "/stop") || is(url, "/stats/reset")) {
    if (cross_site(c))
      return answer_text(c, MHD_HTTP_FORBIDDEN,
                         "refused: a page on another site asked for it\n");
    rl__runner_ctl ctl = {.stop = is(url, "/stop"),
                          .reset = is(url, "/stats/reset")};
    rl__runner_control(ui->r, &ctl);
    if (ctl.stop)
      return answer_result(c, MHD_HTTP_OK, 1, "Test stopped", NULL);
    return answer_text(c, MHD_HTTP_OK, "ok");
  }
  if (is(url, "/swarm"))
    return answer_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "POST /swarm\n");
  return answer_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version,
                                  const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
  (void)version;
  rl__web_ui *ui = cls;
  request *q = *con_cls;
  if (!q) {
    /* First call: headers only. The body, if any, comes next. */
    q = calloc(1, sizeof *q);
    if (!q)
      return MHD_NO;
    *con_cls = q;
    if (is(method, MHD_HTTP_METHOD_POST) && !ui->metrics_only)
      q->post = MHD_create_post_processor(c, 4096, post_field, q);
    return MHD_YES;
  }
  if (*upload_data_size) {
    if (q->post && !q->too_long &&
        MHD_post_process(q->post, upload_data, *upload_data_size) != MHD_YES)
      q->too_long = 1;
    *upload_data_size = 0; /* consumed (or ignored) */
    return MHD_YES;
  }
  if (!authorised(ui, c))
    return ask_login(c);
  if (is(method, MHD_HTTP_METHOD_GET) || is(method, MHD_HTTP_METHOD_HEAD))
    return route_get(ui, c, url);
  if (is(method, MHD_HTTP_METHOD_POST) && is(url, "/swarm") &&
      !ui->metrics_only) {
    if (cross_site(c))
      return answer_result(c, MHD_HTTP_FORBIDDEN, 0,
                           "refused: a page on another site asked for it",
                           ui->target);
    return post_swarm(ui, c, q);
  }
  return answer_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)c;
  (void)toe;
  request *q = *con_cls;
  if (!q)
    return;
  if (q->post)
    MHD_destroy_post_processor(q->post);
  free(q);
  *con_cls = NULL;
}

/* libmicrohttpd's own messages (a client that went away, ...): only worth
 * seeing when debugging. */
static void on_log(void *cls, const char *fmt, va_list ap) {
  (void)cls;
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t n = strlen(msg);
  while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
    msg[--n] = 0;
  rl__log(RL__LOG_DEBUG, "web UI: %s", msg);
}

/* ---- start and stop ------------------------------------------------------ */

static int loopback_addr(const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
  }
  return 0;
}

/* Listens on host:port; the socket, or -1 with the reason in `err`. We bind
 * ourselves rather than let libmicrohttpd do it, to report why it failed
 * and to learn the kernel's port. */
static int listen_on(rl__web_ui *ui, const char *host, uint16_t port,
                     char *err, size_t errlen) {
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  char portstr[8];
  snprintf(portstr, sizeof portstr, "%u", port);
  int gai = getaddrinfo(host, portstr, &hints, &res);
  if (gai != 0) {
    snprintf(err, errlen, "web UI: cannot resolve '%s': %s", host,
             gai_strerror(gai));
    return -1;
  }
  int fd = -1, errnum = 0;
  for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      errnum = errno;
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 64) != 0) {
      errnum = errno;
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  if (fd < 0) {
    snprintf(err, errlen, "web UI: cannot listen on %s port %u: %s", host,
             port, strerror(errnum));
    return -1;
  }
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  char ip[INET6_ADDRSTRLEN] = "?";
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
    const struct sockaddr *sa = (const struct sockaddr *)&ss;
    if (sa->sa_family == AF_INET6) {
      const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
      inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
      ui->port = ntohs(in6->sin6_port);
      snprintf(ui->authority, sizeof ui->authority, "[%s]:%u", ip, ui->port);
    } else {
      const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
      inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
      ui->port = ntohs(in->sin_port);
      snprintf(ui->authority, sizeof ui->authority, "%s:%u", ip, ui->port);
    }
    ui->loopback = loopback_addr(sa);
  }
  return fd;
}

static void web_ui_free(rl__web_ui *ui) {
  free(ui->user); /* the password shares its allocation */
  free(ui->target);
  free(ui->plugin);
  free(ui->uplot_js);
  free(ui);
}

static char *dup_or_null(const char *s, int *ok) {
  if (!s)
    return NULL;
  char *d = strdup(s);
  if (!d)
    *ok = 0;
  return d;
}

int rl__web_ui_start(const rl__web_ui_config *cfg, rl__runner *r,
                     rl__web_ui **out, char *err, size_t errlen) {
  *out = NULL;
  rl__web_ui *ui = calloc(1, sizeof *ui);
  if (!ui) {
    snprintf(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  ui->r = r;
  ui->metrics_only = cfg->metrics_only;
  ui->users = cfg->users;
  ui->spawn_rate = cfg->spawn_rate;
  int ok = 1;
  ui->target = dup_or_null(cfg->target ? cfg->target : "", &ok);
  ui->plugin = dup_or_null(cfg->plugin, &ok);
  if (cfg->login) {
    ui->user = dup_or_null(cfg->login, &ok);
    char *colon = ui->user ? strchr(ui->user, ':') : NULL;
    if (colon) {
      *colon = 0;
      ui->password = colon + 1;
    } else if (ui->user) {
      snprintf(err, errlen, "--web-login wants user:password");
      web_ui_free(ui);
      return RL_ERR_INVAL;
    }
  }
  /* uPlot's license travels with its code. */
  size_t lic = strlen(rl__uplot_license);
  ui->uplot_js_len = lic + rl__uplot_js_len + 64;
  ui->uplot_js = malloc(ui->uplot_js_len);
  if (ui->uplot_js)
    ui->uplot_js_len = (size_t)snprintf(ui->uplot_js, ui->uplot_js_len,
                                        "/* uPlot, MIT license:\n%s*/\n%s",
                                        rl__uplot_license, rl__uplot_js);
  if (!ok || !ui->uplot_js) {
    web_ui_free(ui);
    snprintf(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  const char *host = cfg->host ? cfg->host : "127.0.0.1";
  int fd = listen_on(ui, host, cfg->port, err, errlen);
  if (fd < 0) {
    web_ui_free(ui);
    return RL_ERR_IO;
  }
  /* The server's thread inherits our signal mask: keep Ctrl-C for the
   * runner's loop, as the workers do. */
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  ui->daemon = MHD_start_daemon(
      MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
      on_request, ui, MHD_OPTION_LISTEN_SOCKET, fd,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
      MHD_OPTION_EXTERNAL_LOGGER, on_log, NULL, MHD_OPTION_CONNECTION_LIMIT,
      (unsigned)64, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
      MHD_OPTION_END);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (!ui->daemon) {
    close(fd);
    snprintf(err, errlen, "web UI: cannot start the HTTP server on %s",
             ui->authority);
    web_ui_free(ui);
    return RL_ERR_IO;
  }
  *out = ui;
  return 0;
}

uint16_t rl__web_ui_port(const rl__web_ui *ui) { return ui->port; }

const char *rl__web_ui_authority(const rl__web_ui *ui) {
  return ui->authority;
}

int rl__web_ui_is_loopback(const rl__web_ui *ui) { return ui->loopback; }

void rl__web_ui_stop(rl__web_ui *ui) {
  if (!ui)
    return;
  /* Joins the server's thread and closes the listening socket. */
  MHD_stop_daemon(ui->daemon);
  web_ui_free(ui);
}

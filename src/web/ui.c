/*
 * The web UI's HTTP server (see web/ui.h for the contract): libmicrohttpd,
 * a thread per connection, so handlers may run at once (web/api.c locks
 * what it shares). Here: listening, access (the Host header, basic auth,
 * other sites), routing, the static files and the form; the answers
 * themselves are web/api.c's.
 *
 * Every answer is built in memory first (under the runner's lock when it
 * reads stats, by web/api.c) and handed to libmicrohttpd, which owns it
 * from then on and writes it out after the lock is gone.
 */
#include "web/ui.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include <rpcload/plugin.h>

#include "base/log.h"
#include "web/api.h"

/* Embedded at build time (cmake/report_html_assets.cmake,
 * cmake/web_ui_assets.cmake). */
extern const char rl__uplot_js[], rl__uplot_css[], rl__uplot_license[];
extern const size_t rl__uplot_js_len, rl__uplot_css_len;
extern const char rl__web_ui_html[], rl__web_ui_js[], rl__web_ui_css[];
extern const size_t rl__web_ui_html_len, rl__web_ui_js_len, rl__web_ui_css_len;

/* A form field longer than this is refused rather than buffered. */
#define FIELD_MAX 512

/* Connections served at once (a thread each), and how long one may stay
 * silent: slow or stalled clients are dropped after CONN_TIMEOUT_S and
 * cannot fill the server (70 stalled sockets leave the page answering;
 * tests/integration/test_web_ui.py). The page polls every second, so its
 * own keep-alive connections never go idle that long. */
#define CONN_LIMIT 512
#define CONN_TIMEOUT_S 10
/* A handler formats at most a report into memory: a small stack is
 * plenty, and 512 threads of glibc's default 8 MiB would reserve 4 GiB. */
#define THREAD_STACK_BYTES ((size_t)512 * 1024)

struct rl__web_ui {
  struct MHD_Daemon *daemon;
  rl__web_api api;
  int api_ready; /* api is set up (rl__web_api_free) */
  int metrics_only;
  char *user, *password; /* basic auth; NULL: none */
  char *bind_name;       /* --web-host as given, lower case, no brackets */
  char machine[256];     /* gethostname(): the machine's own name */
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
  struct MHD_Response *resp =
      MHD_create_response_from_buffer_with_free_callback(
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

/* Sends an API answer; its body passes to libmicrohttpd. */
static enum MHD_Result send_answer(struct MHD_Connection *c,
                                   rl__web_answer *a) {
  if (!a->body)
    return answer_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
  char disposition[96];
  if (a->filename[0])
    snprintf(disposition, sizeof disposition, "attachment; filename=\"%s\"",
             a->filename);
  return answer(c, a->status, a->type, a->body, a->len, 1,
                a->filename[0] ? disposition : NULL);
}

/* ---- POST /swarm's form -------------------------------------------------- */

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
                                  const char *data, uint64_t off, size_t size) {
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
 * post forms; a hand-written curl may not). NULL when absent. */
static const char *field(struct MHD_Connection *c, const char *posted,
                         const char *key) {
  if (posted[0])
    return posted;
  return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
}

static enum MHD_Result post_swarm(rl__web_ui *ui, struct MHD_Connection *c,
                                  request *q) {
  rl__web_answer a;
  if (q->too_long)
    rl__web_api_refuse(&ui->api, MHD_HTTP_BAD_REQUEST,
                       "a form field is too long", &a);
  else
    rl__web_api_swarm(&ui->api, field(c, q->user_count, "user_count"),
                      field(c, q->spawn_rate, "spawn_rate"),
                      field(c, q->host, "host"),
                      field(c, q->run_time, "run_time"), &a);
  return send_answer(c, &a);
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
  char cred[1024] = {0};
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
  struct MHD_Response *resp =
      new_response("text/plain; charset=utf-8", body, sizeof body - 1, 0);
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

/* DNS rebinding: a page on evil.example whose name is made to resolve to
 * our address reaches us as its own origin, so no cross-site rule stops
 * it; but its requests say Host: evil.example. Only names this server
 * answers to are served: IP literals (a page whose origin is an address
 * is that address's own), localhost and *.localhost (browsers resolve
 * them to loopback themselves), the --web-host name and the machine's own
 * name. A request without Host (HTTP/1.0: no browser) is served. */
static int host_allowed(const rl__web_ui *ui, const char *header) {
  if (!header)
    return 1;
  char name[256];
  size_t n = strlen(header);
  if (header[0] == '[') {
    const char *end = strchr(header, ']');
    if (!end || (end[1] && end[1] != ':'))
      return 0;
    n = (size_t)(end - header - 1);
    header++;
  } else {
    const char *colon = strchr(header, ':');
    if (colon && strchr(colon + 1, ':'))
      return 0; /* a bare IPv6 address is not a Host header */
    if (colon)
      n = (size_t)(colon - header);
  }
  if (n == 0 || n >= sizeof name)
    return 0;
  for (size_t i = 0; i < n; i++)
    name[i] = (char)tolower((unsigned char)header[i]);
  name[n] = 0;
  while (n > 1 && name[n - 1] == '.') /* "localhost." is localhost */
    name[--n] = 0;
  unsigned char addr[sizeof(struct in6_addr)];
  if (inet_pton(AF_INET, name, addr) == 1 ||
      inet_pton(AF_INET6, name, addr) == 1)
    return 1;
  static const char lh[] = "localhost", dot_lh[] = ".localhost";
  if (strcmp(name, lh) == 0 ||
      (n > sizeof dot_lh - 1 &&
       strcmp(name + n - (sizeof dot_lh - 1), dot_lh) == 0))
    return 1;
  if (ui->bind_name && strcmp(name, ui->bind_name) == 0)
    return 1;
  return ui->machine[0] && strcasecmp(name, ui->machine) == 0;
}

static enum MHD_Result refuse_host(struct MHD_Connection *c, const char *host) {
  char text[512];
  snprintf(text, sizeof text,
           "403 Forbidden: this rpcload answers to its address, localhost "
           "and its --web-host name, not to the Host header '%.200s' (a "
           "guard against DNS rebinding; reach it by address, or give the "
           "name you use as --web-host)\n",
           host);
  for (char *p = text; *p; p++)
    if ((unsigned char)*p < 0x20 && *p != '\n')
      *p = '?';
  char *body = strdup(text);
  if (!body)
    return MHD_NO;
  return answer(c, MHD_HTTP_FORBIDDEN, "text/plain; charset=utf-8", body,
                strlen(body), 1, NULL);
}

/* ---- routing ------------------------------------------------------------- */

static int is(const char *a, const char *b) { return strcmp(a, b) == 0; }

/* The static files: the page's own and uPlot. */
static enum MHD_Result route_asset(rl__web_ui *ui, struct MHD_Connection *c,
                                   const char *url) {
  static const char js[] = "text/javascript; charset=utf-8",
                    css[] = "text/css; charset=utf-8";
  if (is(url, "/assets/web_ui.js"))
    return answer(c, MHD_HTTP_OK, js, rl__web_ui_js, rl__web_ui_js_len, 0,
                  NULL);
  if (is(url, "/assets/web_ui.css"))
    return answer(c, MHD_HTTP_OK, css, rl__web_ui_css, rl__web_ui_css_len, 0,
                  NULL);
  if (is(url, "/assets/uPlot.js"))
    return answer(c, MHD_HTTP_OK, js, ui->uplot_js, ui->uplot_js_len, 0, NULL);
  if (is(url, "/assets/uPlot.css"))
    return answer(c, MHD_HTTP_OK, css, rl__uplot_css, rl__uplot_css_len, 0,
                  NULL);
  return answer_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
}

static enum MHD_Result route_get(rl__web_ui *ui, struct MHD_Connection *c,
                                 const char *url) {
  rl__web_answer a;
  rl__web_api *api = &ui->api;
  if (is(url, "/metrics")) {
    rl__web_api_metrics(api, &a);
  } else if (ui->metrics_only) {
    return answer_text(c, MHD_HTTP_NOT_FOUND,
                       "not found: this port serves /metrics only\n");
  } else if (is(url, "/")) {
    return answer_page(c);
  } else if (strncmp(url, "/assets/", 8) == 0) {
    return route_asset(ui, c, url);
  } else if (is(url, "/config")) {
    rl__web_api_config(api, &a);
  } else if (is(url, "/stats/requests")) {
    rl__web_api_stats_requests(api, &a);
  } else if (is(url, "/stats/requests/csv")) {
    rl__web_api_csv(api, RL__WEB_CSV_STATS, &a);
  } else if (is(url, "/stats/requests_full_history/csv")) {
    rl__web_api_csv(api, RL__WEB_CSV_HISTORY, &a);
  } else if (is(url, "/stats/failures/csv")) {
    rl__web_api_csv(api, RL__WEB_CSV_FAILURES, &a);
  } else if (is(url, "/exceptions/csv")) {
    rl__web_api_csv(api, RL__WEB_CSV_EXCEPTIONS, &a);
  } else if (is(url, "/exceptions")) {
    rl__web_api_exceptions(api, &a);
  } else if (is(url, "/tasks")) {
    rl__web_api_tasks(api, &a);
  } else if (is(url, "/stats/report")) {
    const char *dl =
        MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "download");
    rl__web_api_report_html(api, dl && *dl && strcmp(dl, "0") != 0, &a);
  } else if (is(url, "/stats/report.json")) {
    rl__web_api_report_json(api, &a);
  } else if (is(url, "/stop") || is(url, "/stats/reset")) {
    /* Locust's API changes the run on a GET: a page elsewhere could do it
     * with an <img>, unless refused here. */
    if (cross_site(c))
      return answer_text(c, MHD_HTTP_FORBIDDEN,
                         "refused: a page on another site asked for it\n");
    if (is(url, "/stop"))
      rl__web_api_stop(api, &a);
    else
      rl__web_api_reset(api, &a);
  } else if (is(url, "/swarm")) {
    return answer_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "POST /swarm\n");
  } else {
    return answer_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
  }
  return send_answer(c, &a);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
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
  const char *host =
      MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
  /* The Prometheus port is read-only and scraped by name as often as by
   * address: it checks no Host. */
  if (!ui->metrics_only && !host_allowed(ui, host))
    return refuse_host(c, host);
  if (!authorised(ui, c))
    return ask_login(c);
  if (is(method, MHD_HTTP_METHOD_GET) || is(method, MHD_HTTP_METHOD_HEAD))
    return route_get(ui, c, url);
  if (is(method, MHD_HTTP_METHOD_POST) && is(url, "/swarm") &&
      !ui->metrics_only) {
    if (cross_site(c)) {
      rl__web_answer a;
      rl__web_api_refuse(&ui->api, MHD_HTTP_FORBIDDEN,
                         "refused: a page on another site asked for it", &a);
      return send_answer(c, &a);
    }
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
static int listen_on(rl__web_ui *ui, const char *host, uint16_t port, char *err,
                     size_t errlen) {
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
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0) {
      errnum = errno;
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  if (fd < 0) {
    snprintf(err, errlen, "web UI: cannot listen on %s port %u: %s", host, port,
             strerror(errnum));
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
  free(ui->bind_name);
  if (ui->api_ready)
    rl__web_api_free(&ui->api);
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
  ui->metrics_only = cfg->metrics_only;
  int ok = 1;
  rl__web_api_options api = {.r = r,
                             .target = cfg->target,
                             .plugin = cfg->plugin,
                             .users = cfg->users,
                             .spawn_rate = cfg->spawn_rate,
                             .auth = cfg->login != NULL,
                             .compile = cfg->compile,
                             .compile_arg = cfg->compile_arg,
                             .remote = cfg->remote};
  if (rl__web_api_init(&ui->api, &api) == 0)
    ui->api_ready = 1;
  else
    ok = 0;
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
  /* The names the Host header may give (host_allowed). */
  if (!(ui->bind_name = strdup(host[0] == '[' ? host + 1 : host))) {
    web_ui_free(ui);
    snprintf(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  for (char *p = ui->bind_name; *p; p++) {
    if (*p == ']')
      *p = 0; /* "[::1]" is ::1 */
    else
      *p = (char)tolower((unsigned char)*p);
  }
  if (gethostname(ui->machine, sizeof ui->machine - 1) != 0)
    ui->machine[0] = 0;
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
  /* A thread per connection: a handler that waits (/stop waits for the
   * users to stop, /swarm may compile a new host's targets) holds up its
   * own client only. poll(), not select(): with many users our
   * descriptors may be numbered past select()'s 1024. */
  ui->daemon = MHD_start_daemon(
      MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_THREAD_PER_CONNECTION |
          MHD_USE_ERROR_LOG,
      0, NULL, NULL, on_request, ui, MHD_OPTION_LISTEN_SOCKET, fd,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
      MHD_OPTION_EXTERNAL_LOGGER, on_log, NULL, MHD_OPTION_CONNECTION_LIMIT,
      (unsigned)CONN_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
      (unsigned)CONN_TIMEOUT_S, MHD_OPTION_THREAD_STACK_SIZE,
      THREAD_STACK_BYTES, MHD_OPTION_END);
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

const char *rl__web_ui_authority(const rl__web_ui *ui) { return ui->authority; }

int rl__web_ui_is_loopback(const rl__web_ui *ui) { return ui->loopback; }

void rl__web_ui_stop(rl__web_ui *ui) {
  if (!ui)
    return;
  /* Joins the server's thread and closes the listening socket. */
  MHD_stop_daemon(ui->daemon);
  web_ui_free(ui);
}

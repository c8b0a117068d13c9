/*
 * lineproto: the codec plugin built step by step in docs/plugins.md. It
 * sends one line and reads one line back, which is what a line-based echo
 * service (or a memcached-like text protocol, in its simplest form) does.
 *
 *   rpcload --plugin ./lineproto.so -u 10 -t 10s -d 'ping {{seq}}' \
 *           line://127.0.0.1:7777
 *
 * It includes only <rpcload/plugin.h> and libc. The host owns the socket,
 * the connect and request timeouts and reconnection; the plugin only turns
 * a request into bytes and bytes back into a completion.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rpcload/plugin.h>

/* URL schemes this plugin serves: line://HOST[:PORT], port 7 (the echo
 * service, RFC 862) when the URL gives none. No TLS. */
static const rl_scheme line_schemes[] = {
    {"line", 7, 0},
    {NULL, 0, 0},
};

/* ---- Steps: compiled once, on the main thread -------------------------- */

/* What every request of this step sends, and how it is reported. */
struct line_step {
  const rl_host *host;  /* borrowed: valid until fini */
  rl_template *payload; /* -d, without the newline */
  char *name;           /* stats name: --name, else the -d text as written */
};

static void line_step_del(void *step) {
  struct line_step *st = step;
  if (st == NULL)
    return;
  st->host->template_del(st->payload);
  free(st->name);
  free(st);
}

static char *dup_mem(const void *p, size_t n) {
  char *s = malloc(n + 1);
  if (s != NULL) {
    memcpy(s, p, n);
    s[n] = '\0';
  }
  return s;
}

static int line_step_new(const rl_host *host, const rl_step_spec *spec,
                         void **step, char *err, size_t errlen) {
  if (!RL_HOST_HAS_TEMPLATES(host)) {
    snprintf(err, errlen, "needs rpcload with plugin ABI 1.1");
    return RL_ERR_UNSUPPORTED;
  }
  if (spec->n_options > 0) {
    snprintf(err, errlen, "takes no options (got '%s')", spec->options[0].key);
    return RL_ERR_INVAL;
  }
  const char *text = spec->body != NULL ? (const char *)spec->body : "";
  size_t len = spec->body != NULL ? spec->body_len : 0;
  if (memchr(text, '\n', len) != NULL || memchr(text, '\r', len) != NULL) {
    snprintf(err, errlen, "-d must be one line (no CR or LF)");
    return RL_ERR_INVAL;
  }

  struct line_step *st = calloc(1, sizeof *st);
  if (st == NULL)
    return RL_ERR_NOMEM;
  st->host = host;
  int rc = host->template_new(text, len, &st->payload, err, errlen);
  if (rc != 0) {
    line_step_del(st);
    return rc;
  }
  /* The text as written, {{...}} unexpanded, groups all its requests. */
  const char *name = spec->name != NULL ? spec->name : len ? text : "(empty)";
  st->name = dup_mem(name, name == text ? len : strlen(name));
  if (st->name == NULL) {
    line_step_del(st);
    return RL_ERR_NOMEM;
  }
  *step = st;
  return 0;
}

static void line_step_describe(void *step, const char **type,
                               const char **name) {
  const struct line_step *st = step;
  *type = "line";
  *name = st->name;
}

/* ---- Sessions: one per connection, on its worker thread ---------------- */

struct line_session {
  const rl_host *host;          /* borrowed: valid until fini */
  rl_conn *conn;                /* borrowed: valid until session_del */
  rl_request *req;              /* the request in flight, or NULL */
  const struct line_step *step; /* req's step */
  uint64_t got;                 /* bytes of the reply line so far */
};

static int line_session_new(const rl_host *host, rl_conn *conn,
                            const rl_conn_info *info, void **session) {
  (void)info;
  struct line_session *s = calloc(1, sizeof *s);
  if (s == NULL)
    return RL_ERR_NOMEM;
  s->host = host;
  s->conn = conn;
  *session = s;
  return 0;
}

static int line_session_submit(void *session, rl_request *req) {
  struct line_session *s = session;
  if (s->req != NULL)
    return RL_ERR_BUSY; /* one request at a time */
  const struct line_step *st = s->host->request_step(req);
  size_t len;
  const char *line = s->host->template_expand(st->payload, req, &len);
  if (line == NULL)
    return RL_ERR_NOMEM;
  int rc = s->host->conn_write(s->conn, line, len);
  if (rc == 0)
    rc = s->host->conn_write(s->conn, "\n", 1);
  if (rc != 0)
    return rc;
  s->req = req;
  s->step = st;
  s->got = 0;
  return 0;
}

/* Ends the request in flight: `error` NULL is success. */
static void finish(struct line_session *s, const char *error) {
  rl_request *req = s->req;
  rl_result r = {
      .type = "line",
      .name = s->step->name,
      .response_bytes = s->got,
      .error = error,
  };
  s->req = NULL; /* before request_done: after it, req is gone */
  s->host->request_done(req, &r);
}

static int line_session_on_read(void *session, const uint8_t *data,
                                size_t len) {
  struct line_session *s = session;
  if (s->req == NULL)
    return RL_ERR_PROTO; /* bytes nobody asked for */
  const uint8_t *nl = memchr(data, '\n', len);
  if (nl == NULL) {
    s->got += len; /* the line goes on in the next read */
    return 0;
  }
  s->got += (uint64_t)(nl - data);
  finish(s, NULL);
  if (nl + 1 != data + len)
    return RL_ERR_PROTO; /* more than one line for one request */
  return 0;
}

static void line_session_del(void *session, int err, const char *reason) {
  struct line_session *s = session;
  if (s->req != NULL)
    finish(s, reason != NULL ? reason : rl_strerror(err));
  free(s);
}

/* ---- The descriptor and the one exported symbol ------------------------ */

static const rl_plugin line_plugin = {
    .abi_version = RL_ABI_VERSION,
    .struct_size = sizeof(rl_plugin),
    .name = "lineproto",
    .version = "0.1.0",
    .summary = "send a line, read a line back (the docs/plugins.md tutorial)",
    .schemes = line_schemes,
    .kind = RL_PLUGIN_CODEC,
    .step_new = line_step_new,
    .step_del = line_step_del,
    .step_describe = line_step_describe,
    .session_new = line_session_new,
    .session_submit = line_session_submit,
    .session_on_read = line_session_on_read,
    .session_del = line_session_del,
};

RL_EXPORT const rl_plugin *rl_plugin_entry(void);

RL_EXPORT const rl_plugin *rl_plugin_entry(void) { return &line_plugin; }

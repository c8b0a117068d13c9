#include "http_session.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "http_text.h"
#include "tpl.h"

/* ---- Options ------------------------------------------------------------- */

/* "true"/"false" and their YAML and command-line cousins. 1, 0, or -1. */
static int bool_word(const char *v) {
  static const char *const yes[] = {"true", "on", "yes", "1"};
  static const char *const no[] = {"false", "off", "no", "0"};
  for (size_t i = 0; i < 4; i++) {
    if (rl__http_name_is(v, strlen(v), yes[i]))
      return 1;
    if (rl__http_name_is(v, strlen(v), no[i]))
      return 0;
  }
  return -1;
}

/* One cookie of the step's own: name checked (RFC 6265's cookie-name is
 * a token), value compiled when it has {{...}}. */
static int add_cookie(rl__http_sess_step *s, const rl_host *host,
                      const char *name, const char *value, char *err,
                      size_t errlen) {
  char shown[RL__HTTP_SHOW_BUF_LEN];
  if (!rl__http_is_token(name, strlen(name))) {
    rl__http_set_err(err, errlen, "cookie name '%s' is not a valid token",
                     rl__http_show(name, strlen(name), shown));
    return RL_ERR_INVAL;
  }
  if (strchr(value, ';') != NULL || rl__http_bad_value(value, strlen(value))) {
    rl__http_set_err(err, errlen,
                     "cookie '%s' has a ';' or a control character in its "
                     "value",
                     rl__http_show(name, strlen(name), shown));
    return RL_ERR_INVAL;
  }
  /* The same name again: the later value. */
  size_t i = 0;
  while (i < s->n_cookies && strcmp(s->cookie_names[i], name) != 0)
    i++;
  if (i == s->n_cookies) {
    if (s->n_cookies == RL__COOKIE_MAX) {
      rl__http_set_err(err, errlen, "more than %d cookies", RL__COOKIE_MAX);
      return RL_ERR_INVAL;
    }
    size_t n = s->n_cookies + 1;
    char **names = realloc(s->cookie_names, n * sizeof *names);
    if (names != NULL)
      s->cookie_names = names;
    char **values = realloc(s->cookie_values, n * sizeof *values);
    if (values != NULL)
      s->cookie_values = values;
    rl_template **tpls = realloc(s->cookie_tpls, n * sizeof(rl_template *));
    if (tpls != NULL)
      s->cookie_tpls = tpls;
    if (names == NULL || values == NULL || tpls == NULL ||
        (names[i] = rl__http_dup_str(name)) == NULL) {
      rl__http_set_err(err, errlen, "out of memory");
      return RL_ERR_NOMEM;
    }
    values[i] = NULL;
    tpls[i] = NULL;
    s->n_cookies = n;
  }
  free(s->cookie_values[i]);
  if (s->cookie_tpls[i] != NULL)
    host->template_del(s->cookie_tpls[i]);
  s->cookie_tpls[i] = NULL;
  if ((s->cookie_values[i] = rl__http_dup_str(value)) == NULL) {
    rl__http_set_err(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  if (!rl__tpl_available(host))
    return 0;
  char what[RL__HTTP_SHOW_BUF_LEN + 16];
  snprintf(what, sizeof what, "cookie '%s'",
           rl__http_show(name, strlen(name), shown));
  return rl__tpl_compile(host, value, strlen(value), what, &s->cookie_tpls[i],
                         err, errlen);
}

/* cookies={"name": "value", ...}: a scenario's `cookies:` mapping. */
static int cookie_map(rl__http_sess_step *s, const rl_host *host,
                      const char *text, char *err, size_t errlen) {
  json_error_t je;
  json_t *o = json_loads(text, 0, &je);
  if (o == NULL || !json_is_object(o)) {
    json_decref(o);
    rl__http_set_err(err, errlen,
                     "option 'cookies' takes on, off or a JSON object of "
                     "names and values");
    return RL_ERR_INVAL;
  }
  const char *name;
  json_t *v;
  int rc = 0;
  json_object_foreach(o, name, v) {
    if (!json_is_string(v)) {
      char shown[RL__HTTP_SHOW_BUF_LEN];
      rl__http_set_err(err, errlen, "cookie '%s' needs a text value",
                       rl__http_show(name, strlen(name), shown));
      rc = RL_ERR_INVAL;
      break;
    }
    if ((rc = add_cookie(s, host, name, json_string_value(v), err, errlen)))
      break;
  }
  json_decref(o);
  return rc;
}

static int read_option(rl__http_sess_step *s, const rl_host *host,
                       const rl_kv *kv, int *follow, const char *plugin,
                       char *err, size_t errlen) {
  char shown[RL__HTTP_SHOW_BUF_LEN];
  const char *k = kv->key ? kv->key : "";
  const char *v = kv->value ? kv->value : "";
  if (strcmp(k, "cookies") == 0) {
    const char *p = v;
    while (rl__http_is_ows(*p))
      p++;
    if (*p == '{')
      return cookie_map(s, host, v, err, errlen);
    int b = bool_word(v);
    if (b < 0) {
      rl__http_set_err(err, errlen,
                       "option 'cookies' takes on, off or a JSON object of "
                       "names and values, got '%s'",
                       rl__http_show(v, strlen(v), shown));
      return RL_ERR_INVAL;
    }
    s->jar = b;
    return 0;
  }
  if (strcmp(k, "allow_redirects") == 0) {
    if ((*follow = bool_word(v)) < 0) {
      rl__http_set_err(err, errlen,
                       "option 'allow_redirects' takes true or false, got "
                       "'%s'",
                       rl__http_show(v, strlen(v), shown));
      return RL_ERR_INVAL;
    }
    return 0;
  }
  if (strcmp(k, "max_redirects") == 0) {
    char *end = NULL;
    unsigned long n = strtoul(v, &end, 10);
    if (v[0] < '0' || v[0] > '9' || end == NULL || *end != '\0' ||
        n > RL__HTTP_MAX_REDIRECTS_LIMIT) {
      rl__http_set_err(
          err, errlen, "option 'max_redirects' takes 0 to %d, got '%s'",
          RL__HTTP_MAX_REDIRECTS_LIMIT, rl__http_show(v, strlen(v), shown));
      return RL_ERR_INVAL;
    }
    s->max_redirects = (uint32_t)n;
    return 0;
  }
  rl__http_set_err(err, errlen,
                   "option '%s' is not known to %s (it takes cookies, "
                   "allow_redirects, max_redirects)",
                   rl__http_show(k, strlen(k), shown), plugin);
  return RL_ERR_INVAL;
}

int rl__http_sess_step_init(rl__http_sess_step *s, const rl_host *host,
                            const rl_step_spec *spec, const char *method,
                            const char *authority, const char *plugin,
                            char *err, size_t errlen) {
  memset(s, 0, sizeof *s);
  s->jar = 1;
  s->max_redirects = RL__HTTP_MAX_REDIRECTS;
  s->usable = RL_HOST_HAS_USER_STATE(host) && host->request_user_slot != NULL &&
              host->request_move != NULL;
  int follow = -1, rc = 0;
  int has_options = spec->struct_size >=
                    offsetof(rl_step_spec, n_options) + sizeof(spec->n_options);
  for (size_t i = 0;
       has_options && spec->options != NULL && i < spec->n_options && rc == 0;
       i++)
    rc = read_option(s, host, &spec->options[i], &follow, plugin, err, errlen);
  /* requests' Session.head does not follow unless asked. */
  s->follow = follow >= 0 ? follow : strcmp(method, "HEAD") != 0;
  s->tls = spec->tls;
  s->port = spec->port;
  s->scheme = rl__http_dup_str(spec->tls ? "https" : "http");
  s->host = rl__http_dup_str(spec->host != NULL ? spec->host : "");
  if (authority != NULL)
    s->authority = rl__http_dup_str(authority);
  if (rc == 0 && (s->scheme == NULL || s->host == NULL ||
                  (authority != NULL && s->authority == NULL))) {
    rl__http_set_err(err, errlen, "out of memory");
    rc = RL_ERR_NOMEM;
  }
  if (rc != 0) {
    rl__http_sess_step_free(host, s);
    return rc;
  }
  for (char *c = s->host; *c != '\0'; c++)
    *c = (char)rl__http_ascii_lower((unsigned char)*c);
  for (size_t i = 0; i < spec->n_headers && spec->headers != NULL; i++) {
    rl__http_hdr h;
    char ignored[8];
    if (rl__http_parse_header(&spec->headers[i], &h, ignored, sizeof ignored) ==
            0 &&
        rl__http_name_is(h.name, h.name_len, "cookie") && h.value_len > 0)
      s->user_cookie = 1;
  }
  return 0;
}

void rl__http_sess_step_free(const rl_host *host, rl__http_sess_step *s) {
  for (size_t i = 0; i < s->n_cookies; i++) {
    free(s->cookie_names[i]);
    free(s->cookie_values[i]);
    if (s->cookie_tpls[i] != NULL)
      host->template_del(s->cookie_tpls[i]);
  }
  free(s->cookie_names);
  free(s->cookie_values);
  free(s->cookie_tpls);
  free(s->host);
  free(s->scheme);
  free(s->authority);
  memset(s, 0, sizeof *s);
}

int rl__http_sess_active(const rl__http_sess_step *s) {
  return s->usable && (s->jar || s->follow);
}

/* ---- The user's state ---------------------------------------------------- */

static void user_del(void *state) {
  rl__http_user *u = state;
  rl__cookie_jar_free(&u->jar);
  rl__buf_free(&u->chain.method);
  rl__buf_free(&u->chain.target);
  rl__buf_free(&u->chain.fields);
  rl__buf_free(&u->chain.body);
  rl__buf_free(&u->target);
  rl__buf_free(&u->location);
  free(u);
}

rl__http_user *rl__http_user_of(const rl_host *host, rl_request *req,
                                int make) {
  if (!RL_HOST_HAS_USER_STATE(host) || host->request_user_slot == NULL)
    return NULL;
  rl_user_slot *slot = host->request_user_slot(req, RL__HTTP_USER_KEY);
  if (slot == NULL)
    return NULL;
  if (slot->state == NULL && make) {
    rl__http_user *u = calloc(1, sizeof *u);
    if (u == NULL)
      return NULL;
    rl__cookie_jar_init(&u->jar);
    slot->state = u;
    slot->del = user_del;
  }
  return slot->state;
}

rl__http_chain *rl__http_chain_of(const rl_host *host, rl_request *req) {
  rl__http_user *u = rl__http_user_of(host, req, 0);
  return u != NULL && u->chain.req == req &&
                 u->chain.seq == host->request_seq(req)
             ? &u->chain
             : NULL;
}

/* ---- Cookies ------------------------------------------------------------- */

/* The wall clock: cookies expire by dates. */
static int64_t wall_now(void) { return (int64_t)time(NULL); }

/* Said once per process: a jar full, a value refused. */
static atomic_int warned_full, warned_value;

int rl__http_sess_cookies(const rl_host *host, rl_request *req,
                          const rl__http_sess_step *s, const char *target,
                          uint32_t hop, rl__buf *out) {
  if (hop == 0 && s->user_cookie)
    return 0;
  rl__http_user *u = s->jar ? rl__http_user_of(host, req, 0) : NULL;
  if (s->n_cookies == 0 && (u == NULL || u->jar.n == 0))
    return 0;
  rl_kv extra[RL__COOKIE_MAX];
  rl__buf vals = {0};
  size_t offs[RL__COOKIE_MAX];
  for (size_t i = 0; i < s->n_cookies; i++) {
    const char *v = s->cookie_values[i];
    size_t n = strlen(v);
    if (s->cookie_tpls[i] != NULL &&
        (v = host->template_expand(s->cookie_tpls[i], req, &n)) == NULL) {
      rl__buf_free(&vals);
      return RL_ERR_NOMEM;
    }
    if (memchr(v, ';', n) != NULL || rl__http_bad_value(v, n)) {
      rl__buf_free(&vals);
      if (atomic_exchange(&warned_value, 1) == 0)
        host->log(RL_LOG_WARN,
                  "cookie '%s' expanded to a value with ';' or a control "
                  "character: such requests are refused",
                  s->cookie_names[i]);
      return RL_ERR_INVAL;
    }
    offs[i] = vals.len;
    rl__buf_add(&vals, v, n);
    rl__buf_add(&vals, "", 1);
  }
  if (vals.oom) {
    rl__buf_free(&vals);
    return RL_ERR_NOMEM;
  }
  for (size_t i = 0; i < s->n_cookies; i++)
    extra[i] = (rl_kv){s->cookie_names[i], vals.p + offs[i]};
  rl__cookie_url url = {s->host, target, s->tls};
  size_t n = rl__cookie_header(u != NULL ? &u->jar : NULL, &url, wall_now(),
                               extra, s->n_cookies, out);
  rl__buf_free(&vals);
  return out->oom ? RL_ERR_NOMEM : (int)n;
}

void rl__http_sess_set_cookie(const rl_host *host, rl_request *req,
                              const rl__http_sess_step *s, const char *target,
                              const char *text, size_t len) {
  if (!s->jar || !s->usable)
    return;
  rl__http_user *u = rl__http_user_of(host, req, 1);
  if (u == NULL)
    return;
  rl__cookie_url url = {s->host, target, s->tls};
  uint64_t evicted = u->jar.evicted;
  (void)rl__cookie_jar_set(&u->jar, text, len, &url, wall_now(), NULL);
  if (u->jar.evicted != evicted && atomic_exchange(&warned_full, 1) == 0)
    host->log(RL_LOG_WARN,
              "a user's cookie jar is full (%d cookies, %d bytes): its "
              "oldest cookies make room for new ones",
              RL__COOKIE_MAX, RL__COOKIE_JAR_MAX_BYTES);
}

/* ---- Redirects ----------------------------------------------------------- */

rl__http_chain *rl__http_chain_start(const rl_host *host, rl_request *req,
                                     const char *method) {
  rl__http_user *u = rl__http_user_of(host, req, 1);
  if (u == NULL)
    return NULL;
  rl__http_chain *c = &u->chain;
  c->req = req;
  c->seq = host->request_seq(req);
  c->hops = 0;
  c->moved = 0;
  c->n_fields = 0;
  c->has_body = 0;
  rl__buf_reset(&c->method);
  rl__buf_reset(&c->target);
  rl__buf_reset(&c->fields);
  rl__buf_reset(&c->body);
  rl__buf_str(&c->method, method);
  rl__buf_add(&c->method, "", 1);
  return c;
}

void rl__http_chain_field(rl__http_chain *c, const char *name, size_t name_len,
                          const char *value, size_t value_len) {
  if (rl__http_name_is(name, name_len, "cookie") ||
      rl__http_name_is(name, name_len, "content-length"))
    return;
  rl__buf_add(&c->fields, name, name_len);
  rl__buf_add(&c->fields, "", 1);
  rl__buf_add(&c->fields, value, value_len);
  rl__buf_add(&c->fields, "", 1);
  c->n_fields++;
}

void rl__http_chain_body(rl__http_chain *c, const void *data, size_t len) {
  rl__buf_reset(&c->body);
  rl__buf_add(&c->body, data, len);
  c->has_body = 1;
}

void rl__http_chain_next_field(const rl__http_chain *c, size_t *off,
                               const char **name, const char **value) {
  *name = c->fields.p + *off;
  *off += strlen(*name) + 1;
  *value = c->fields.p + *off;
  *off += strlen(*value) + 1;
}

/* Drops the body and the fields that describe it (requests' purge on
 * anything but 307 and 308). */
static void drop_body(rl__http_chain *c) {
  rl__buf kept = {0};
  size_t off = 0, n = 0;
  for (size_t i = 0; i < c->n_fields; i++) {
    const char *name, *value;
    rl__http_chain_next_field(c, &off, &name, &value);
    if (rl__http_name_is(name, strlen(name), "content-type") ||
        rl__http_name_is(name, strlen(name), "transfer-encoding"))
      continue;
    rl__buf_add(&kept, name, strlen(name) + 1);
    rl__buf_add(&kept, value, strlen(value) + 1);
    n++;
  }
  if (kept.oom) {
    /* Without memory the fields stay: the hop may say a type it lacks,
     * which is better than none at all. */
    rl__buf_free(&kept);
  } else {
    rl__buf_free(&c->fields);
    c->fields = kept;
    c->n_fields = n;
  }
  rl__buf_reset(&c->body);
  c->has_body = 0;
}

int rl__http_sess_redirect(const rl_host *host, rl_request *req,
                           const rl__http_sess_step *s, int status,
                           const char *method, const char *target,
                           const char *loc, size_t loc_len,
                           rl__http_chain **chain, char *err, size_t errlen) {
  *chain = NULL;
  if (!s->follow || !s->usable || loc == NULL || !rl__http_is_redirect(status))
    return RL__HTTP_DONE;
  rl__http_base base = {s->scheme, s->host, s->port, s->authority, target};
  rl__buf to = {0};
  int where = rl__http_resolve_location(loc, loc_len, &base, &to);
  int rc = RL__HTTP_FAIL;
  rl__http_chain *c = NULL;
  rl__buf_add(&to, "", 1);
  int oom = where == RL_ERR_NOMEM || to.oom;
  if (!oom && where == RL__LOCATION_NONE) {
    rc = RL__HTTP_DONE;
  } else if (!oom && where == RL__LOCATION_BAD) {
    rl__http_set_err(err, errlen, "HTTP %d redirect with %s", status, to.p);
  } else if (!oom && where == RL__LOCATION_OTHER) {
    /* A user's connections are fixed at start-up: the core resolves no
     * name during the run, and opens none to an origin no step names. */
    rl__http_set_err(err, errlen,
                     "HTTP %d redirect to %s: another origin, not followed",
                     status, to.p);
  } else if (oom || (c = rl__http_chain_of(host, req)) == NULL) {
    rl__http_set_err(err, errlen, "out of memory following a redirect");
  } else if (c->hops >= s->max_redirects) {
    /* python-requests' words, so errors group as Locust's do. */
    rl__http_set_err(err, errlen, "Exceeded %u redirects.",
                     (unsigned)s->max_redirects);
  } else {
    const char *next = rl__http_redirect_method(status, method);
    if (next != method || c->method.p == NULL) {
      rl__buf_reset(&c->method);
      rl__buf_str(&c->method, next);
      rl__buf_add(&c->method, "", 1);
    }
    if (!rl__http_redirect_keeps_body(status))
      drop_body(c);
    rl__buf_reset(&c->target);
    rl__buf_add(&c->target, to.p, to.len); /* with its NUL */
    c->hops++;
    if (c->method.oom || c->target.oom || c->fields.oom || c->body.oom) {
      rl__http_set_err(err, errlen, "out of memory following a redirect");
    } else {
      *chain = c;
      rc = RL__HTTP_FOLLOW;
    }
  }
  rl__buf_free(&to);
  return rc;
}

void rl__http_chain_end(const rl_host *host, rl_request *req) {
  rl__http_chain *c = rl__http_chain_of(host, req);
  if (c == NULL)
    return;
  c->req = NULL;
  c->hops = 0;
  c->moved = 0;
  /* A chain with a big body keeps no more than a small one would. */
  rl__buf_trim(&c->body, 4096);
  rl__buf_trim(&c->fields, 4096);
  rl__buf_trim(&c->target, 4096);
  rl__buf_trim(&c->method, 64);
  c->n_fields = 0;
  c->has_body = 0;
}

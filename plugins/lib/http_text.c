#include "http_text.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tpl.h"

void rl__http_set_err(char *err, size_t errlen, const char *fmt, ...) {
  if (err == NULL || errlen == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  /* clang-tidy 14 misreads va_start here (it also does in files analysed
   * together, see .clang-tidy); the list is initialised on the line above. */
  // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

const char *rl__http_show(const char *s, size_t n, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (i == RL__HTTP_SHOW_MAX) {
      memcpy(out + o, "...", 3);
      o += 3;
      break;
    }
    if (c == '\r' || c == '\n' || c == '\t') {
      out[o++] = '\\';
      out[o++] = (char)(c == '\r' ? 'r' : c == '\n' ? 'n' : 't');
    } else if (c < 0x20 || c >= 0x7f) {
      static const char hex[] = "0123456789abcdef";
      out[o++] = '\\';
      out[o++] = 'x';
      out[o++] = hex[c >> 4];
      out[o++] = hex[c & 15];
    } else {
      out[o++] = (char)c;
    }
  }
  out[o] = '\0';
  return out;
}

int rl__http_ascii_lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

int rl__http_name_is(const char *name, size_t len, const char *want) {
  size_t i;
  for (i = 0; i < len; i++) {
    if (want[i] == '\0' || rl__http_ascii_lower((unsigned char)name[i]) !=
                               rl__http_ascii_lower((unsigned char)want[i]))
      return 0;
  }
  return want[i] == '\0';
}

int rl__http_is_tchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
      (c >= 'A' && c <= 'Z'))
    return 1;
  return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

int rl__http_is_token(const char *s, size_t n) {
  if (n == 0)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!rl__http_is_tchar((unsigned char)s[i]))
      return 0;
  return 1;
}

int rl__http_is_ows(char c) { return c == ' ' || c == '\t'; }

int rl__http_has_space_or_ctl(const char *s) {
  for (; *s; s++) {
    /* A {{...}} template may hold blanks ({{random_int 1 9}}); it is
     * expanded per request. */
    if (s[0] == '{' && s[1] == '{') {
      const char *end = strstr(s + 2, "}}");
      if (end) {
        s = end + 1;
        continue;
      }
    }
    unsigned char c = (unsigned char)*s;
    if (c <= 0x20 || c == 0x7f)
      return 1;
  }
  return 0;
}

char *rl__http_dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d != NULL)
    memcpy(d, s, n);
  return d;
}

int rl__http_check_spec_size(const rl_step_spec *spec, char *err,
                             size_t errlen) {
  if (spec->struct_size < offsetof(rl_step_spec, name) + sizeof(spec->name)) {
    rl__http_set_err(err, errlen, "step spec too short (%u bytes)",
                     (unsigned)spec->struct_size);
    return RL_ERR_ABI;
  }
  return 0;
}

int rl__http_check_target(const rl_step_spec *spec, const char *path, char *err,
                          size_t errlen) {
  char shown[RL__HTTP_SHOW_BUF_LEN];
  if (rl__http_has_space_or_ctl(path)) {
    rl__http_set_err(err, errlen,
                     "path '%s' contains a space or control character "
                     "(percent-encode it)",
                     rl__http_show(path, strlen(path), shown));
    return RL_ERR_INVAL;
  }
  /* A step made only to be listed (--list, --show-task-ratio with no
   * target) has no host, and is never sent. */
  int list_only = spec->struct_size >= offsetof(rl_step_spec, list_only) +
                                           sizeof(spec->list_only) &&
                  spec->list_only;
  if (spec->host == NULL ? !list_only : spec->host[0] == '\0') {
    rl__http_set_err(err, errlen, "no host given");
    return RL_ERR_INVAL;
  }
  if (spec->host != NULL && rl__http_has_space_or_ctl(spec->host)) {
    rl__http_set_err(err, errlen,
                     "host '%s' contains a space or control character",
                     rl__http_show(spec->host, strlen(spec->host), shown));
    return RL_ERR_INVAL;
  }
  if (spec->body == NULL && spec->body_len > 0) {
    rl__http_set_err(err, errlen, "body length %zu given without a body",
                     spec->body_len);
    return RL_ERR_INVAL;
  }
  return 0;
}

int rl__http_bad_value(const char *v, size_t len) {
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)v[i];
    if ((c < 0x20 && c != '\t') || c == 0x7f)
      return 1;
  }
  return 0;
}

const rl_kv *rl__http_extra(const rl_host *host, const rl_request *req,
                            size_t *n) {
  *n = 0;
  if (!RL_HOST_HAS_REQUEST_HEADERS(host) || host->request_headers == NULL)
    return NULL;
  const rl_kv *h = host->request_headers(req, n);
  if (h == NULL)
    *n = 0;
  return h;
}

int rl__http_check_extra(const rl_kv *h, size_t n, char *why, size_t whylen) {
  char shown[RL__HTTP_SHOW_BUF_LEN];
  for (size_t i = 0; i < n; i++) {
    size_t klen = strlen(h[i].key);
    if (!rl__http_is_token(h[i].key, klen)) {
      rl__http_set_err(why, whylen,
                       "header name \"%s\" is not a token (RFC 9110 field "
                       "names: letters, digits and !#$%%&'*+-.^_`|~)",
                       rl__http_show(h[i].key, klen, shown));
      return RL_ERR_INVAL;
    }
    if (rl__http_name_is(h[i].key, klen, "content-length") ||
        rl__http_name_is(h[i].key, klen, "transfer-encoding")) {
      rl__http_set_err(why, whylen,
                       "header %s is set from the body: not a request's own",
                       h[i].key);
      return RL_ERR_INVAL;
    }
    if (rl__http_bad_value(h[i].value, strlen(h[i].value))) {
      rl__http_set_err(why, whylen,
                       "header %s: its value holds a control character (CR, "
                       "LF...)",
                       h[i].key);
      return RL_ERR_INVAL;
    }
  }
  return 0;
}

int rl__http_extra_has(const rl_kv *h, size_t n, const char *name, size_t len) {
  for (size_t i = 0; i < n; i++)
    if (rl__http_name_is(name, len, h[i].key))
      return 1;
  return 0;
}

int rl__http_has_crlf(const char *s, size_t n) {
  return memchr(s, '\r', n) != NULL || memchr(s, '\n', n) != NULL;
}

int rl__http_parse_header(const rl_kv *kv, rl__http_hdr *h, char *err,
                          size_t errlen) {
  char shown[RL__HTTP_SHOW_BUF_LEN];
  const char *key = kv->key ? kv->key : "";
  const char *value;
  size_t key_len = strlen(key);

  if (kv->value == NULL) {
    const char *colon = strchr(key, ':');
    if (colon == NULL) {
      rl__http_set_err(err, errlen, "header '%s' has no ':'",
                       rl__http_show(key, key_len, shown));
      return RL_ERR_INVAL;
    }
    h->name = key;
    h->name_len = (size_t)(colon - key);
    value = colon + 1;
  } else {
    h->name = key;
    h->name_len = key_len;
    value = kv->value;
  }

  /* Leading and trailing blanks are not part of a field value. */
  size_t value_len = strlen(value);
  while (value_len > 0 && rl__http_is_ows(*value)) {
    value++;
    value_len--;
  }
  while (value_len > 0 && rl__http_is_ows(value[value_len - 1]))
    value_len--;
  h->value = value;
  h->value_len = value_len;

  if (rl__http_has_crlf(h->name, h->name_len) ||
      rl__http_has_crlf(h->value, h->value_len)) {
    rl__http_set_err(err, errlen, "header '%s' contains CR or LF",
                     rl__http_show(h->name, h->name_len, shown));
    return RL_ERR_INVAL;
  }
  if (h->name_len == 0) {
    rl__http_set_err(err, errlen, "header '%s' has an empty name",
                     rl__http_show(key, key_len, shown));
    return RL_ERR_INVAL;
  }
  if (!rl__http_is_token(h->name, h->name_len)) {
    rl__http_set_err(err, errlen, "header name '%s' is not a valid HTTP token",
                     rl__http_show(h->name, h->name_len, shown));
    return RL_ERR_INVAL;
  }
  if (rl__http_bad_value(h->value, h->value_len)) {
    rl__http_set_err(err, errlen,
                     "header '%s' value contains a control character",
                     rl__http_show(h->name, h->name_len, shown));
    return RL_ERR_INVAL;
  }
  return 0;
}

int rl__http_parse_headers(const rl_step_spec *spec, rl__http_hdr **out,
                           char *err, size_t errlen) {
  *out = NULL;
  if (spec->n_headers == 0)
    return 0;
  if (spec->headers == NULL) {
    rl__http_set_err(err, errlen, "%zu headers announced but none given",
                     spec->n_headers);
    return RL_ERR_INVAL;
  }
  rl__http_hdr *hs = calloc(spec->n_headers, sizeof *hs);
  if (hs == NULL) {
    rl__http_set_err(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  for (size_t i = 0; i < spec->n_headers; i++) {
    int rc = rl__http_parse_header(&spec->headers[i], &hs[i], err, errlen);
    if (rc != 0) {
      free(hs);
      return rc;
    }
  }
  *out = hs;
  return 0;
}

const rl__http_hdr *rl__http_find_header(const rl__http_hdr *hs, size_t n,
                                         const char *name) {
  const rl__http_hdr *found = NULL;
  for (size_t i = 0; i < n; i++)
    if (rl__http_name_is(hs[i].name, hs[i].name_len, name))
      found = &hs[i];
  return found;
}

int rl__http_is_default_header(const rl__http_hdr *h) {
  return rl__http_name_is(h->name, h->name_len, "host") ||
         rl__http_name_is(h->name, h->name_len, "user-agent") ||
         rl__http_name_is(h->name, h->name_len, "content-length");
}

int rl__http_wants_length(const char *method, int has_body) {
  return has_body || strcmp(method, "POST") == 0 ||
         strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0;
}

uint16_t rl__http_default_port(const rl_scheme *schemes,
                               const rl_step_spec *spec) {
  if (spec->scheme != NULL) {
    for (const rl_scheme *s = schemes; s->name != NULL; s++)
      if (strcmp(s->name, spec->scheme) == 0)
        return s->default_port;
  }
  return spec->tls ? 443 : 80;
}

void rl__http_add_authority(rl__buf *b, const rl_scheme *schemes,
                            const rl_step_spec *spec) {
  if (spec->host == NULL)
    return; /* a step only listed, never sent */
  int v6 = strchr(spec->host, ':') != NULL;
  if (v6)
    rl__buf_str(b, "[");
  rl__buf_str(b, spec->host);
  if (v6)
    rl__buf_str(b, "]");
  if (spec->port != 0 && spec->port != rl__http_default_port(schemes, spec)) {
    char port[8];
    snprintf(port, sizeof port, ":%u", (unsigned)spec->port);
    rl__buf_str(b, port);
  }
}

/* Bytes an expanded path cannot carry as they are. */
static int path_needs_escape(unsigned char c) { return c <= 0x20 || c >= 0x7f; }

void rl__http_add_path(rl__buf *b, const char *text, size_t len) {
  static const char hex[] = "0123456789ABCDEF";
  size_t run = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)text[i];
    if (!path_needs_escape(c))
      continue;
    rl__buf_add(b, text + run, i - run);
    char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
    rl__buf_add(b, esc, 3);
    run = i + 1;
  }
  rl__buf_add(b, text + run, len - run);
}

int rl__http_path_skeleton(const char *path, char **skeleton, char *err,
                           size_t errlen) {
  char shown[RL__HTTP_SHOW_BUF_LEN];
  *skeleton = rl__tpl_replace(path, strlen(path), "");
  if (*skeleton == NULL) {
    rl__http_set_err(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  if (rl__http_has_space_or_ctl(*skeleton)) {
    rl__http_set_err(err, errlen,
                     "path '%s' contains a space or control character "
                     "(percent-encode it)",
                     rl__http_show(path, strlen(path), shown));
    free(*skeleton);
    *skeleton = NULL;
    return RL_ERR_INVAL;
  }
  return 0;
}

void rl__http_parts_init(rl__http_parts *pt, const rl_step_spec *spec) {
  memset(pt, 0, sizeof *pt);
  pt->has_body = spec->body != NULL;
  pt->method =
      spec->method != NULL ? spec->method : (pt->has_body ? "POST" : "GET");
  pt->path = spec->path != NULL && spec->path[0] != '\0' ? spec->path : "/";
  pt->scheme = spec->scheme != NULL && spec->scheme[0] != '\0'
                   ? spec->scheme
                   : (spec->tls ? "https" : "http");
}

void rl__http_parts_free(const rl_host *host, rl__http_parts *pt) {
  if (pt->path_tpl != NULL)
    host->template_del(pt->path_tpl);
  for (size_t i = 0; pt->value_tpl != NULL && i < pt->n; i++)
    if (pt->value_tpl[i] != NULL)
      host->template_del(pt->value_tpl[i]);
  free(pt->value_tpl);
  if (pt->body_tpl != NULL)
    host->template_del(pt->body_tpl);
  free(pt->hs);
  memset(pt, 0, sizeof *pt);
}

rl_template *rl__http_parts_take_value(rl__http_parts *pt, size_t i) {
  if (pt->value_tpl == NULL)
    return NULL;
  rl_template *t = pt->value_tpl[i];
  pt->value_tpl[i] = NULL;
  return t;
}

const char *rl__http_body_type(const rl_step_spec *spec) {
  if (spec->struct_size <
      offsetof(rl_step_spec, body_type) + sizeof spec->body_type)
    return NULL;
  return spec->body_type;
}

char *rl__http_authority_sent(const rl_step_spec *spec,
                              const rl__http_parts *pt,
                              const rl_scheme *schemes, int empty_removes) {
  const rl__http_hdr *h = rl__http_find_header(pt->hs, pt->n, "host");
  if (h != NULL && (h->value_len > 0 || empty_removes)) {
    size_t i = (size_t)(h - pt->hs);
    if (h->value_len == 0 ||
        (pt->value_tpl != NULL && pt->value_tpl[i] != NULL))
      return NULL;
    char *v = malloc(h->value_len + 1);
    if (v != NULL) {
      memcpy(v, h->value, h->value_len);
      v[h->value_len] = '\0';
    }
    return v;
  }
  rl__buf b = {0};
  rl__http_add_authority(&b, schemes, spec);
  rl__buf_add(&b, "", 1);
  if (b.oom) {
    rl__buf_free(&b);
    return NULL;
  }
  return b.p;
}

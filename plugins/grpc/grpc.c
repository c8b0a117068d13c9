/*
 * grpc: the gRPC codec plugin. Calls of every shape (unary, server
 * streaming, client streaming, bidirectional) over HTTP/2 (h2session, the
 * http2 plugin's session), with messages built at run time from the
 * service's descriptors (pbdesc: --proto through protoc, --protoset, or
 * server reflection) and the request data written as proto3 JSON (pbjson)
 * or given serialized (-b, -B).
 *
 * This file is the plugin's descriptor and its steps. A step compiles
 * everything it can once: the header list (pseudo-headers, te: trailers,
 * content-type, grpc-timeout from --timeout, metadata) and each request
 * message (grpc_msgs.c), encoded and framed (and gzipped with --compress).
 * Submitting a constant unary call is one nghttp2 submit pointing at the
 * step's bytes. Data or metadata with {{...}} templates are expanded per
 * request (per message, in a stream): the JSON is turned into a message
 * then, so a template may fill any field. Sessions and calls are
 * grpc_call.c's, the client's side of a stream grpc_send.c's.
 *
 * Everything except rl_plugin_entry() is static or hidden.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include <rpcload/plugin.h>

#include "grpc_int.h"
#include "grpc_msgs.h"
#include "lib/http_text.h"
#include "lib/tpl.h"
#include "pbjson.h"
#include "reflect.h"

/* Who is calling: rpcload, not grpc's C library (grpc-c/...), whose
 * behaviour a server might assume. */
#define GRPC_USER_AGENT "rpcload/" RL_VERSION

/* The spec members up to and including `m` are present. */
#define SPEC_HAS(spec, m)                                                      \
  ((spec)->struct_size >= offsetof(rl_step_spec, m) + sizeof((spec)->m))

static const rl_scheme grpc_schemes[] = {
    {"grpc", 0, 0},  /* h2c by prior knowledge; gRPC has no default port */
    {"grpcs", 0, 1}, /* TLS, ALPN h2 */
    {NULL, 0, 0},
};

static const char *const grpc_alpn[] = {"h2", NULL};

/* ---- Steps --------------------------------------------------------------- */

static void grpc_step_del(void *step) {
  struct grpc_step *st = step;
  if (st == NULL)
    return;
  for (size_t i = 0; i < st->n_msgs; i++) {
    free(st->msgs[i].frame);
    st->host->template_del(st->msgs[i].json);
  }
  free(st->msgs);
  grpc_percall_free(st);
  for (size_t i = 0; i < st->n_md_tpl; i++) {
    free(st->md_tpl[i].name);
    st->host->template_del(st->md_tpl[i].value);
  }
  free(st->md_tpl);
  for (size_t i = 0; i < st->nstrings; i++)
    free(st->strings[i]);
  free(st->strings);
  free(st->nva);
  free(st->name);
  free(st->name_send);
  free(st->name_recv);
  rl__pb_pool_del(st->pool);
  free(st);
}

/* Keeps s (taking ownership) in the step; returns it, or NULL (and frees
 * it) when out of memory. */
static char *keep_string(struct grpc_step *st, char *s) {
  if (s == NULL)
    return NULL;
  if (st->nstrings == st->strcap) {
    size_t cap = st->strcap ? st->strcap * 2 : 16;
    char **p = realloc(st->strings, cap * sizeof *p);
    if (p == NULL) {
      free(s);
      return NULL;
    }
    st->strings = p;
    st->strcap = cap;
  }
  st->strings[st->nstrings++] = s;
  return s;
}

static char *dup_len(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (p != NULL) {
    memcpy(p, s, n);
    p[n] = '\0';
  }
  return p;
}

/* Appends a constant header field (copied; the name lower-cased). Returns
 * 0 or RL_ERR_NOMEM. */
static int add_nv(struct grpc_step *st, const char *name, const char *value,
                  size_t value_len) {
  if (st->nvlen == st->nvcap) {
    size_t cap = st->nvcap ? st->nvcap * 2 : 16;
    nghttp2_nv *p = realloc(st->nva, cap * sizeof *p);
    if (p == NULL)
      return RL_ERR_NOMEM;
    st->nva = p;
    st->nvcap = cap;
  }
  char *n = keep_string(st, dup_len(name, strlen(name)));
  char *v = keep_string(st, dup_len(value, value_len));
  if (n == NULL || v == NULL)
    return RL_ERR_NOMEM;
  for (char *c = n; *c; c++)
    *c = (char)rl__http_ascii_lower((unsigned char)*c);
  /* The strings live as long as the step, which outlives every session:
   * nghttp2 need not copy them per call. */
  st->nva[st->nvlen++] = (nghttp2_nv){.name = (uint8_t *)n,
                                      .value = (uint8_t *)v,
                                      .namelen = strlen(n),
                                      .valuelen = value_len,
                                      .flags = NGHTTP2_NV_FLAG_NO_COPY_NAME |
                                               NGHTTP2_NV_FLAG_NO_COPY_VALUE};
  return 0;
}

/* The step's options, as the host passed them (borrowed from the spec). */
struct grpc_options {
  const char *call;
  const char *proto;
  const char **import_paths; /* owned array of borrowed strings */
  size_t n_import_paths;
  const char *protoset;
  const char **metadata; /* each -m, in order; owned array */
  size_t n_metadata;
  char *md_file; /* -M: the file's text, owned (also in metadata) */
  const char *authority;
  const char *compress;
  const char *data_file;
  int binary; /* -b/-B: serialized messages, not JSON */
  /* Streams and limits, as text until checked (grpc_step_new). */
  const char *interval, *call_duration, *call_count, *ping_pong;
  const char *max_recv, *max_send, *keepalive, *max_age;
};

static int add_to(const char ***list, size_t *n, const char *v, char *err,
                  size_t errlen) {
  const char **p = realloc(*list, (*n + 1) * sizeof *p);
  if (p == NULL) {
    rl__http_set_err(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  *list = p;
  p[(*n)++] = v;
  return 0;
}

/* -M FILE: a JSON object of metadata, as -m gives it. */
static int read_metadata_file(struct grpc_options *o, const char *path,
                              char *err, size_t errlen) {
  if (o->md_file != NULL) {
    rl__http_set_err(err, errlen, "give -M once");
    return RL_ERR_INVAL;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  rl__buf b = {0};
  int rc = fd < 0 ? RL_ERR_IO : rl__buf_read_fd(&b, fd);
  if (fd >= 0)
    close(fd);
  if (rc == 0)
    rc = rl__buf_add(&b, "", 1);
  if (rc != 0) {
    rl__http_set_err(err, errlen, "-M: cannot read %s: %s", path,
                     rc == RL_ERR_NOMEM ? "out of memory" : strerror(errno));
    rl__buf_free(&b);
    return rc;
  }
  o->md_file = b.p;
  return add_to(&o->metadata, &o->n_metadata,
                o->md_file + grpc_bom_len(b.p, b.len - 1), err, errlen);
}

/* The options that are plain text, by key, and where each goes. */
static const char **text_option(struct grpc_options *o, const char *k) {
  static const struct {
    const char *key;
    size_t off;
  } keys[] = {
      {"call", offsetof(struct grpc_options, call)},
      {"proto", offsetof(struct grpc_options, proto)},
      {"protoset", offsetof(struct grpc_options, protoset)},
      {"authority", offsetof(struct grpc_options, authority)},
      {"compress", offsetof(struct grpc_options, compress)},
      {"data_file", offsetof(struct grpc_options, data_file)},
      {"stream_interval", offsetof(struct grpc_options, interval)},
      {"stream_call_duration", offsetof(struct grpc_options, call_duration)},
      {"stream_call_count", offsetof(struct grpc_options, call_count)},
      {"stream_ping_pong", offsetof(struct grpc_options, ping_pong)},
      {"max_recv_message_size", offsetof(struct grpc_options, max_recv)},
      {"max_send_message_size", offsetof(struct grpc_options, max_send)},
      {"keepalive", offsetof(struct grpc_options, keepalive)},
      {"max_connection_age", offsetof(struct grpc_options, max_age)},
  };
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    if (strcmp(k, keys[i].key) == 0)
      return (const char **)(void *)((char *)o + keys[i].off);
  return NULL;
}

static int parse_options(const rl_step_spec *spec, struct grpc_options *o,
                         char *err, size_t errlen) {
  memset(o, 0, sizeof *o);
  for (size_t i = 0; i < spec->n_options; i++) {
    const char *k = spec->options[i].key, *v = spec->options[i].value;
    const char **slot;
    int rc = 0;
    if (k == NULL || v == NULL) {
      rl__http_set_err(err, errlen, "option without a value");
      return RL_ERR_INVAL;
    }
    if ((slot = text_option(o, k)) != NULL)
      *slot = v;
    else if (strcmp(k, "import_path") == 0)
      rc = add_to(&o->import_paths, &o->n_import_paths, v, err, errlen);
    else if (strcmp(k, "metadata") == 0)
      rc = add_to(&o->metadata, &o->n_metadata, v, err, errlen);
    else if (strcmp(k, "metadata_file") == 0)
      rc = read_metadata_file(o, v, err, errlen);
    else if (strcmp(k, "binary") == 0)
      o->binary = 1;
    else {
      rl__http_set_err(
          err, errlen,
          "unknown option '%s' (gRPC takes call, proto, import_path, "
          "protoset, metadata, metadata_file, authority, compress, "
          "data_file, binary, stream_interval, stream_call_duration, "
          "stream_call_count, stream_ping_pong, max_recv_message_size, "
          "max_send_message_size, keepalive, max_connection_age)",
          k);
      return RL_ERR_INVAL;
    }
    if (rc != 0)
      return rc;
  }
  return 0;
}

static void options_free(struct grpc_options *o) {
  free(o->import_paths);
  free(o->metadata);
  free(o->md_file);
}

/* protoc's warnings (an unused import, no syntax line) reach the user as
 * warnings, apart from its errors. */
static void proto_warning(const char *line, void *arg) {
  const rl_host *host = arg;
  host->log(RL_LOG_WARN, "grpc: %s", line);
}

/* Loads the service descriptions: --protoset, --proto, or reflection. */
static int load_pool(const rl_host *host, const rl_step_spec *spec,
                     const struct grpc_options *o, rl__pb_pool **pool,
                     char *err, size_t errlen) {
  if (o->proto != NULL && o->protoset != NULL) {
    rl__http_set_err(err, errlen, "give --proto or --protoset, not both");
    return RL_ERR_INVAL;
  }
  if (o->protoset != NULL)
    return rl__pb_pool_new_from_file(o->protoset, pool, err, errlen);
  if (o->proto != NULL)
    return rl__pb_pool_new_from_proto_warn(
        o->proto, o->import_paths, o->n_import_paths,
        host->log != NULL ? proto_warning : NULL, (void *)host, pool, err,
        errlen);
  if (spec->host == NULL || spec->port == 0) {
    rl__http_set_err(err, errlen,
                     "give --proto FILE, --protoset FILE, or a server that "
                     "offers reflection");
    return RL_ERR_INVAL;
  }
  /* The metadata goes with the reflection calls too: a server that wants
   * authorization for its calls usually wants it for reflection. Values
   * with templates have nothing to expand to yet and are left out. */
  rl_kv md[32];
  size_t n_md = 0;
  json_t *objs[16];
  size_t n_objs = 0;
  for (size_t i = 0; i < o->n_metadata && n_objs < 16; i++) {
    json_t *obj = json_loads(o->metadata[i], 0, NULL);
    if (obj == NULL)
      continue; /* refused with its reason later, when compiled */
    objs[n_objs++] = obj;
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
      size_t klen = strlen(key);
      int bin = klen > 4 && strcmp(key + klen - 4, "-bin") == 0;
      if (json_is_string(v) && n_md < 32 && !bin &&
          strstr(json_string_value(v), "{{") == NULL)
        md[n_md++] = (rl_kv){key, json_string_value(v)};
    }
  }
  rl__reflect_options r = {
      .host = spec->host,
      .port = spec->port,
      .tls = spec->tls,
      .authority = o->authority,
      .timeout_ns = 10000000000ull,
      .metadata = md,
      .n_metadata = n_md,
  };
  if (SPEC_HAS(spec, list_only)) {
    r.cacert = spec->tls_cacert;
    r.cert = spec->tls_cert;
    r.key = spec->tls_key;
    r.insecure = spec->tls_insecure;
    if (spec->connect_timeout_ns != 0)
      r.timeout_ns = spec->connect_timeout_ns;
  }
  if (SPEC_HAS(spec, tls_server_name))
    r.server_name = spec->tls_server_name;
  int rc = rl__reflect_fetch(&r, pool, err, errlen);
  for (size_t i = 0; i < n_objs; i++)
    json_decref(objs[i]);
  return rc;
}

/* Header names gRPC or HTTP/2 reserve: metadata may not set them. */
static int reserved_metadata(const char *name) {
  return name[0] == ':' || strncmp(name, "grpc-", 5) == 0 ||
         strcmp(name, "content-type") == 0 || strcmp(name, "te") == 0 ||
         strcmp(name, "connection") == 0 ||
         strcmp(name, "transfer-encoding") == 0;
}

/* One metadata entry, from -m or -H: a constant header field, or a
 * template kept for per-request expansion. */
static int add_metadata(struct grpc_step *st, const char *key,
                        const char *value, char *err, size_t errlen) {
  char shown[RL__HTTP_SHOW_BUF_LEN];
  size_t klen = strlen(key);
  char *name = dup_len(key, klen);
  if (name == NULL)
    return RL_ERR_NOMEM;
  for (char *c = name; *c; c++)
    *c = (char)rl__http_ascii_lower((unsigned char)*c);
  if (!rl__http_is_token(name, klen) || reserved_metadata(name)) {
    rl__http_set_err(err, errlen, "metadata key '%s' %s",
                     rl__http_show(key, klen, shown),
                     klen == 0 || !rl__http_is_token(name, klen)
                         ? "is not a valid header name"
                         : "is reserved by gRPC");
    free(name);
    return RL_ERR_INVAL;
  }
  int bin = klen > 4 && strcmp(name + klen - 4, "-bin") == 0;
  size_t vlen = strlen(value);
  int ctl = 0;
  for (const char *c = value; *c; c++)
    ctl |= ((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f;
  if (!bin && ctl) {
    rl__http_set_err(err, errlen,
                     "metadata '%s' has a control character (use a -bin key "
                     "for binary values)",
                     rl__http_show(key, klen, shown));
    free(name);
    return RL_ERR_INVAL;
  }
  rl_template *tpl = NULL;
  if (rl__tpl_available(st->host)) {
    char what[RL__HTTP_SHOW_BUF_LEN + 16];
    snprintf(what, sizeof what, "metadata '%s'",
             rl__http_show(key, klen, shown));
    int rc = rl__tpl_compile(st->host, value, vlen, what, &tpl, err, errlen);
    if (rc != 0) {
      free(name);
      return rc;
    }
  }
  if (tpl != NULL) {
    struct grpc_md_tpl *p = realloc(st->md_tpl, (st->n_md_tpl + 1) * sizeof *p);
    if (p == NULL) {
      st->host->template_del(tpl);
      free(name);
      return RL_ERR_NOMEM;
    }
    st->md_tpl = p;
    p[st->n_md_tpl++] = (struct grpc_md_tpl){name, tpl, bin};
    return 0;
  }
  int rc;
  if (bin) {
    char *b64 = grpc_base64_encode((const uint8_t *)value, vlen);
    rc = b64 == NULL ? RL_ERR_NOMEM : add_nv(st, name, b64, strlen(b64));
    free(b64);
  } else {
    rc = add_nv(st, name, value, vlen);
  }
  free(name);
  return rc;
}

/* -m '{"k": "v", ...}': a JSON object of strings (numbers and booleans are
 * taken as their text). */
static int parse_metadata_json(struct grpc_step *st, const char *text,
                               const char *what, char *err, size_t errlen) {
  json_error_t jerr;
  json_t *obj = json_loads(text, 0, &jerr);
  if (obj == NULL || !json_is_object(obj)) {
    if (obj == NULL)
      rl__http_set_err(err, errlen, "%s: not JSON (line %d, column %d: %s)",
                       what, jerr.line, jerr.column, jerr.text);
    else
      rl__http_set_err(err, errlen,
                       "%s: expected a JSON object such as "
                       "'{\"authorization\": \"Bearer x\"}'",
                       what);
    json_decref(obj);
    return RL_ERR_INVAL;
  }
  const char *key;
  json_t *v;
  int rc = 0;
  json_object_foreach(obj, key, v) {
    char num[64];
    const char *value = NULL;
    if (json_is_string(v))
      value = json_string_value(v);
    else if (json_is_integer(v))
      snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v)),
          value = num;
    else if (json_is_boolean(v))
      value = json_is_true(v) ? "true" : "false";
    if (value == NULL) {
      rl__http_set_err(err, errlen, "%s: the value of '%s' must be a string",
                       what, key);
      rc = RL_ERR_INVAL;
      break;
    }
    if ((rc = add_metadata(st, key, value, err, errlen)) != 0)
      break;
  }
  json_decref(obj);
  return rc;
}

/* -H 'k: v' headers count as metadata too. */
static int add_header_metadata(struct grpc_step *st, const rl_step_spec *spec,
                               char *err, size_t errlen) {
  for (size_t i = 0; i < spec->n_headers; i++) {
    const rl_kv *kv = &spec->headers[i];
    if (kv->key == NULL)
      continue;
    int rc;
    if (kv->value != NULL) {
      rc = add_metadata(st, kv->key, kv->value, err, errlen);
    } else {
      const char *colon = strchr(kv->key, ':');
      if (colon == NULL) {
        rl__http_set_err(err, errlen, "header '%s' has no ':'", kv->key);
        return RL_ERR_INVAL;
      }
      char *name = dup_len(kv->key, (size_t)(colon - kv->key));
      const char *v = colon + 1;
      while (*v == ' ' || *v == '\t')
        v++;
      rc = name == NULL ? RL_ERR_NOMEM : add_metadata(st, name, v, err, errlen);
      free(name);
    }
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* The header list every call sends, metadata included. */
static int build_headers(struct grpc_step *st, const rl_step_spec *spec,
                         const struct grpc_options *o, char *err,
                         size_t errlen) {
  char auth[300], timeout[32];
  int v6 = strchr(spec->host, ':') != NULL;
  if (o->authority != NULL)
    snprintf(auth, sizeof auth, "%s", o->authority);
  else
    snprintf(auth, sizeof auth, "%s%s%s:%u", v6 ? "[" : "", spec->host,
             v6 ? "]" : "", (unsigned)spec->port);
  const char *path = st->method->path;
  int rc = add_nv(st, ":method", "POST", 4);
  rc = rc ? rc
          : add_nv(st, ":scheme", spec->tls ? "https" : "http",
                   spec->tls ? 5 : 4);
  rc = rc ? rc : add_nv(st, ":path", path, strlen(path));
  rc = rc ? rc : add_nv(st, ":authority", auth, strlen(auth));
  rc = rc ? rc : add_nv(st, "te", "trailers", 8);
  rc = rc ? rc : add_nv(st, "content-type", "application/grpc", 16);
  rc = rc ? rc
          : add_nv(st, "user-agent", GRPC_USER_AGENT, strlen(GRPC_USER_AGENT));

  if (rc == 0 && SPEC_HAS(spec, timeout_ns) && spec->timeout_ns > 0) {
    grpc_timeout_format(spec->timeout_ns, timeout, sizeof timeout);
    rc = add_nv(st, "grpc-timeout", timeout, strlen(timeout));
  }
  if (rc == 0 && st->gzip) {
    rc = add_nv(st, "grpc-encoding", "gzip", 4);
    rc = rc ? rc : add_nv(st, "grpc-accept-encoding", "gzip", 4);
  }
  if (rc != 0) {
    rl__http_set_err(err, errlen, "out of memory");
    return rc;
  }
  for (size_t i = 0; i < o->n_metadata; i++)
    if ((rc = parse_metadata_json(st, o->metadata[i],
                                  o->metadata[i] == o->md_file ? "-M" : "-m",
                                  err, errlen)) != 0)
      return rc;
  return add_header_metadata(st, spec, err, errlen);
}

/* An option's duration (NULL: leave *ns). 0 or RL_ERR_INVAL with err. */
static int duration_option(const char *flag, const char *text, uint64_t *ns,
                           char *err, size_t errlen) {
  if (text != NULL && grpc_parse_duration(text, ns) != 0) {
    rl__http_set_err(err, errlen,
                     "%s '%s': expected a duration such as 100ms, 2s, 1m30s",
                     flag, text);
    return RL_ERR_INVAL;
  }
  return 0;
}

/* A message size limit (NULL: gRPC's 4 MiB), at most the ceiling. */
static int size_option(const char *flag, const char *text, size_t *out,
                       char *err, size_t errlen) {
  uint64_t v = GRPC_DEFAULT_MAX_MESSAGE;
  if (text != NULL && (grpc_parse_size(text, &v) != 0 || v == 0 ||
                       v > GRPC_MAX_MESSAGE_CEILING)) {
    rl__http_set_err(err, errlen,
                     "%s '%s': expected a size from 1 byte to 64 MiB, such "
                     "as 4MiB, 512KiB or 1048576",
                     flag, text);
    return RL_ERR_INVAL;
  }
  *out = (size_t)v;
  return 0;
}

/* The stream options and the limits, checked against the method's shape:
 * an option that cannot apply is refused, not ignored. */
static int stream_settings(struct grpc_step *st, const rl_host *host,
                           const rl_step_spec *spec,
                           const struct grpc_options *o, char *err,
                           size_t errlen) {
  const char *m = st->method->full_name;
  int rc = size_option("--max-recv-message-size", o->max_recv, &st->max_recv,
                       err, errlen);
  rc = rc ? rc
          : size_option("--max-send-message-size", o->max_send, &st->max_send,
                        err, errlen);
  rc = rc ? rc
          : duration_option("--stream-interval", o->interval, &st->interval_ns,
                            err, errlen);
  rc = rc ? rc
          : duration_option("--stream-call-duration", o->call_duration,
                            &st->call_duration_ns, err, errlen);
  rc = rc ? rc
          : duration_option("--keepalive", o->keepalive, &st->keepalive_ns, err,
                            errlen);
  rc = rc ? rc
          : duration_option("--max-connection-age", o->max_age, &st->max_age_ns,
                            err, errlen);
  if (rc != 0)
    return rc;
  if (o->call_count != NULL) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(o->call_count, &end, 10);
    if (*o->call_count < '0' || *o->call_count > '9' || *end != '\0' ||
        errno != 0 || v == 0) {
      rl__http_set_err(err, errlen,
                       "--stream-call-count '%s': expected a whole number >= 1",
                       o->call_count);
      return RL_ERR_INVAL;
    }
    st->call_count = v;
  }
  if (o->ping_pong != NULL) {
    if (strcmp(o->ping_pong, "1") != 0 && strcmp(o->ping_pong, "true") != 0 &&
        strcmp(o->ping_pong, "0") != 0 && strcmp(o->ping_pong, "false") != 0) {
      rl__http_set_err(err, errlen,
                       "stream_ping_pong '%s': expected true or false",
                       o->ping_pong);
      return RL_ERR_INVAL;
    }
    st->ping_pong =
        strcmp(o->ping_pong, "1") == 0 || strcmp(o->ping_pong, "true") == 0;
  }
  if ((st->keepalive_ns > 0 || st->max_age_ns > 0) &&
      !RL_HOST_HAS_STREAMS(host)) {
    rl__http_set_err(err, errlen,
                     "--keepalive and --max-connection-age need rpcload "
                     "with plugin ABI 1.4 or newer");
    return RL_ERR_UNSUPPORTED;
  }
  int streamed = st->client_stream || st->server_stream;
  if (!streamed) {
    const char *given = o->interval        ? "--stream-interval"
                        : o->call_duration ? "--stream-call-duration"
                        : o->call_count    ? "--stream-call-count"
                        : st->ping_pong    ? "--stream-ping-pong"
                                           : NULL;
    if (given != NULL) {
      rl__http_set_err(err, errlen, "%s is for streaming methods; %s is unary",
                       given, m);
      return RL_ERR_INVAL;
    }
    return 0;
  }
  if (!RL_HOST_HAS_STREAMS(host)) {
    rl__http_set_err(err, errlen,
                     "%s is a streaming method: it needs rpcload with plugin "
                     "ABI 1.4 or newer",
                     m);
    return RL_ERR_UNSUPPORTED;
  }
  if (!st->client_stream && (o->interval != NULL || st->ping_pong)) {
    rl__http_set_err(
        err, errlen,
        "%s is for a client's stream; %s streams from the server "
        "only (one request message)",
        o->interval != NULL ? "--stream-interval" : "--stream-ping-pong", m);
    return RL_ERR_INVAL;
  }
  if (st->ping_pong && !st->server_stream) {
    rl__http_set_err(err, errlen,
                     "--stream-ping-pong waits for each reply: %s answers "
                     "once, at the end",
                     m);
    return RL_ERR_INVAL;
  }
  uint64_t timeout = SPEC_HAS(spec, timeout_ns) ? spec->timeout_ns : 0;
  st->timeout_ns = timeout;
  if (timeout > 0 && st->call_duration_ns >= timeout) {
    rl__http_set_err(err, errlen,
                     "--stream-call-duration %s is not shorter than --timeout "
                     "(%.3gs): every call would be cut; raise --timeout",
                     o->call_duration, (double)timeout / 1e9);
    return RL_ERR_INVAL;
  }
  return 0;
}

/* The stats names: --name or the method's path, and its messages'. */
static int stats_names(struct grpc_step *st, const rl_step_spec *spec) {
  const char *name = spec->name != NULL && spec->name[0] != '\0'
                         ? spec->name
                         : st->method->path;
  size_t n = strlen(name) + 8;
  st->name = rl__http_dup_str(name);
  st->name_send = malloc(n);
  st->name_recv = malloc(n);
  if (st->name == NULL || st->name_send == NULL || st->name_recv == NULL)
    return RL_ERR_NOMEM;
  snprintf(st->name_send, n, "%s [send]", name);
  snprintf(st->name_recv, n, "%s [recv]", name);
  return 0;
}

/*
 * Compiles spec into a step: loads the service descriptions (may run
 * protoc or ask the server by reflection: start-up only), finds the
 * method, checks and encodes the request data, builds the header list.
 * Borrows host and spec for the call; on success the plugin owns *step
 * until grpc_step_del(). On failure err holds one line.
 */
static int grpc_step_new(const rl_host *host, const rl_step_spec *spec,
                         void **step, char *err, size_t errlen) {
  if (host == NULL || spec == NULL || step == NULL) {
    rl__http_set_err(err, errlen, "no step spec given");
    return RL_ERR_INVAL;
  }
  if (!SPEC_HAS(spec, n_options)) {
    rl__http_set_err(err, errlen, "needs rpcload with plugin ABI 1.1 or newer");
    return RL_ERR_ABI;
  }
  int list_only = SPEC_HAS(spec, list_only) && spec->list_only;
  struct grpc_options o;
  int rc = parse_options(spec, &o, err, errlen);
  struct grpc_step *st = NULL;
  if (rc != 0)
    goto out;
  if (o.compress != NULL && strcmp(o.compress, "gzip") != 0 &&
      strcmp(o.compress, "identity") != 0) {
    rl__http_set_err(err, errlen, "--compress takes gzip or identity, not '%s'",
                     o.compress);
    rc = RL_ERR_INVAL;
    goto out;
  }
  if (!list_only && o.call == NULL) {
    rl__http_set_err(err, errlen,
                     "which method? give --call (rpcload --list shows them)");
    rc = RL_ERR_INVAL;
    goto out;
  }
  if (spec->method != NULL && strcmp(spec->method, "POST") != 0) {
    rl__http_set_err(err, errlen, "gRPC calls are POST; -X %s does not apply",
                     spec->method);
    rc = RL_ERR_INVAL;
    goto out;
  }
  st = calloc(1, sizeof *st);
  if (st == NULL) {
    rc = RL_ERR_NOMEM;
    rl__http_set_err(err, errlen, "out of memory");
    goto out;
  }
  st->host = host;
  st->gzip = o.compress != NULL && strcmp(o.compress, "gzip") == 0;
  if ((rc = load_pool(host, spec, &o, &st->pool, err, errlen)) != 0)
    goto out;
  if (rl__pb_pool_n_methods(st->pool) == 0) {
    /* A .proto of messages only: say so, rather than list nothing or
     * name no method. */
    if (o.proto != NULL || o.protoset != NULL)
      rl__http_set_err(err, errlen,
                       "%s defines no service: nothing to %s (give the "
                       ".proto that defines the service; its imports are "
                       "found with -I)",
                       o.proto != NULL ? o.proto : o.protoset,
                       o.call != NULL ? "call" : "list");
    else
      rl__http_set_err(err, errlen,
                       "the server's reflection offers no service: nothing "
                       "to %s",
                       o.call != NULL ? "call" : "list");
    rc = RL_ERR_NOTFOUND;
    goto out;
  }
  if (o.call == NULL)
    goto out; /* listing only */
  if ((rc = rl__pb_pool_find_method(st->pool, o.call, &st->method, err,
                                    errlen)) != 0)
    goto out;
  st->client_stream = st->method->client_streaming;
  st->server_stream = st->method->server_streaming;
  if ((rc = grpc_percall_compile(st, &o.call_count, &o.interval, &o.ping_pong,
                                 &o.call_duration, err, errlen)) != 0 ||
      (rc = stream_settings(st, host, spec, &o, err, errlen)) != 0)
    goto out;
  if ((rc = grpc_msgs_compile(st, spec, o.data_file, o.binary, err, errlen)) !=
      0)
    goto out;
  st->list_tpl = st->client_stream && st->n_msgs == 1 && st->msgs[0].whole;
  /* A step only listed (--show-task-ratio with no target) is never sent:
   * without a host there is no :authority to build. */
  if (spec->host == NULL && !list_only) {
    rl__http_set_err(err, errlen, "no host given");
    rc = RL_ERR_INVAL;
    goto out;
  }
  if (spec->host != NULL &&
      (rc = build_headers(st, spec, &o, err, errlen)) != 0)
    goto out;
  if ((rc = stats_names(st, spec)) != 0)
    rl__http_set_err(err, errlen, "out of memory");
out:
  options_free(&o);
  if (rc != 0) {
    if (err != NULL && errlen > 0 && err[0] == '\0')
      rl__http_set_err(err, errlen, "%s", rl_strerror(rc));
    grpc_step_del(st);
    return rc;
  }
  *step = st;
  return 0;
}

static void grpc_step_describe(void *step, const char **type,
                               const char **name) {
  const struct grpc_step *st = step;
  *type = "grpc";
  *name = st->name != NULL ? st->name : "grpc";
}

/* `rpcload --list`: the services and methods the step's descriptions
 * hold. `out` is borrowed. */
static int grpc_step_list(void *step, FILE *out) {
  const struct grpc_step *st = step;
  rl__pb_pool_list(st->pool, out);
  return 0;
}

/* ABI 1.9: the method's shape, as the step's descriptions (a .proto, a
 * descriptor set or reflection) give it; 0 for a step made only to list. */
static uint32_t grpc_step_streams(void *step) {
  const struct grpc_step *st = step;
  if (st->method == NULL)
    return 0;
  return (st->client_stream ? RL_STEP_STREAMS_CLIENT : 0u) |
         (st->server_stream ? RL_STEP_STREAMS_SERVER : 0u);
}

/* A scenario's grpc: steps (ABI 1.3): the value is the call, and these
 * keys are the step's own, as the options of the same names. */
static const char *const grpc_step_keys[] = {"grpc", "grpcs", NULL};
static const rl_option_decl grpc_step_options[] = {
    {"proto", RL_OPTION_FILE, "the .proto file the service is in"},
    {"protoset", RL_OPTION_FILE, "a descriptor set (protoc -o)"},
    {"import_path", RL_OPTION_FILES, "where the .proto's imports are"},
    {"metadata", RL_OPTION_MAP, "request metadata (templates in values)"},
    {"metadata_file", RL_OPTION_FILE, "request metadata from a JSON file"},
    {"stream_interval", RL_OPTION_TEXT,
     "a client's stream: the time between its messages"},
    {"stream_call_duration", RL_OPTION_TEXT,
     "a stream: how long a call streams before the client ends it"},
    {"stream_call_count", RL_OPTION_TEXT,
     "a stream: messages sent (a server stream: received) per call"},
    {"stream_ping_pong", RL_OPTION_TEXT,
     "a bidirectional stream: send each message after the reply to the last"},
    {"max_recv_message_size", RL_OPTION_TEXT,
     "the largest response message (default 4MiB)"},
    {"max_send_message_size", RL_OPTION_TEXT,
     "the largest request message (default 4MiB)"},
    {NULL, 0, NULL},
};

static const rl_plugin grpc_plugin = {
    .abi_version = RL_ABI_VERSION,
    .struct_size = sizeof(rl_plugin),
    .name = "grpc",
    .version = "0.1.0",
    .summary = "gRPC over HTTP/2 (grpc:// h2c, grpcs:// TLS), unary and "
               "streaming calls, messages from --proto, --protoset or "
               "reflection",
    .schemes = grpc_schemes,
    .alpn = grpc_alpn,
    .kind = RL_PLUGIN_CODEC,
    .init = NULL,
    .fini = NULL,
    .step_new = grpc_step_new,
    .step_del = grpc_step_del,
    .session_new = grpc_session_new,
    .session_submit = grpc_session_submit,
    .session_on_read = grpc_session_on_read,
    .session_del = grpc_session_del,
    .session_max_concurrent = grpc_session_max_concurrent,
    .step_describe = grpc_step_describe,
    .session_cancel = grpc_session_cancel,
    .step_list = grpc_step_list,
    .step_keys = grpc_step_keys,
    .step_value = RL_STEP_VALUE_CALL,
    .step_options = grpc_step_options,
    .status_names = rl__grpc_status_names,
    .n_status_names = RL__GRPC_N_STATUS,
    .host_error_prefix = "UNAVAILABLE: ",
    .step_streams = grpc_step_streams,
    .session_read_more = grpc_session_read_more,
};

RL_EXPORT const rl_plugin *rl_plugin_entry(void);

RL_EXPORT const rl_plugin *rl_plugin_entry(void) { return &grpc_plugin; }

/*
 * grpc: the gRPC codec plugin. Unary calls over HTTP/2 (h2session, the
 * http2 plugin's session), with messages built at run time from the
 * service's descriptors (pbdesc: --proto through protoc, --protoset, or
 * server reflection) and the request data written as proto3 JSON (pbjson).
 *
 * A step compiles everything it can once: the header list (pseudo-headers,
 * te: trailers, content-type, grpc-timeout from --timeout, metadata) and
 * each request message, encoded and framed (and gzipped with --compress).
 * Submitting a constant request is one nghttp2 submit pointing at the
 * step's bytes. Data or metadata with {{...}} templates are expanded per
 * request: the JSON is turned into a message then, so a template may fill
 * any field.
 *
 * A response is read as gRPC frames; the one message of a unary call is
 * decoded with the method's output type, so a response that does not
 * decode fails. The outcome is the trailers' grpc-status: OK succeeds,
 * anything else fails as "CODE: message" ("UNAVAILABLE: try later"); with
 * no grpc-status, the HTTP status maps to a code as the gRPC spec says.
 * A request the host gives up on (--timeout) is reset and fails as
 * DEADLINE_EXCEEDED, as the server would have said.
 *
 * Connections are as in http2: streams up to the server's
 * SETTINGS_MAX_CONCURRENT_STREAMS, GOAWAY drains the connection and hands
 * unprocessed calls back to the host to send again.
 *
 * Responses for scenario checks (ABI 1.2): when the host says at submit
 * that it will look at a call's response, the stream collects the
 * metadata (headers, then trailers), the response message's wire bytes
 * and the message as proto3 JSON, and hands them over with
 * request_response() just before request_done(), with the call's gRPC
 * status: also when it is not OK, so that a scenario may expect NOT_FOUND.
 * Other calls collect nothing.
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

#include "grpc_wire.h"
#include "lib/buf.h"
#include "lib/h2codec.h"
#include "lib/h2session.h"
#include "lib/http_text.h"
#include "lib/resp_acc.h"
#include "lib/tpl.h"
#include "pbdesc.h"
#include "pbjson.h"
#include "reflect.h"

#define GRPC_USER_AGENT "grpc-c/rpcload 0.1"
/* Streams offered before the server's SETTINGS arrive (as http2). */
#define GRPC_STREAMS_BEFORE_SETTINGS 100u
/* The largest response message read; a longer one fails (gRPC's own
 * default receive limit is 4 MiB). */
#define GRPC_MAX_MESSAGE (64u << 20)
/* Headers a templated request copies on the stack before using the heap. */
#define GRPC_NV_STACK 48
/* Longest grpc-message kept for an error text. */
#define GRPC_MESSAGE_MAX 160

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

/* One request message (-d, or one element of -D's array). */
struct grpc_msg {
  uint8_t *frame; /* framed (and compressed) message; NULL when templated */
  size_t frame_len;
  rl_template *json; /* the JSON text when it holds {{...}}, else NULL */
};

/* A metadata value with {{...}}: expanded per request. */
struct grpc_md_tpl {
  char *name; /* lower case */
  rl_template *value;
  int bin; /* "-bin" key: the expansion is sent base64-encoded */
};

/* A compiled step. Owns everything but host; freed by grpc_step_del(). */
struct grpc_step {
  const rl_host *host; /* borrowed: lives until fini */
  rl__pb_pool *pool;
  const rl__pb_method *method; /* in pool; NULL when only listing */
  nghttp2_nv *nva;             /* constant header fields, pseudo first */
  size_t nvlen, nvcap;
  char **strings; /* every string nva points at */
  size_t nstrings, strcap;
  struct grpc_md_tpl *md_tpl;
  size_t n_md_tpl;
  struct grpc_msg *msgs;
  size_t n_msgs;
  atomic_size_t next_msg; /* round-robin over msgs, across threads */
  int gzip;
  char *name; /* stats name: --name or the method's path */
};

static void grpc_step_del(void *step) {
  struct grpc_step *st = step;
  if (st == NULL)
    return;
  for (size_t i = 0; i < st->n_msgs; i++) {
    free(st->msgs[i].frame);
    st->host->template_del(st->msgs[i].json);
  }
  free(st->msgs);
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
  const char *authority;
  const char *compress;
  const char *data_file;
};

static int parse_options(const rl_step_spec *spec, struct grpc_options *o,
                         char *err, size_t errlen) {
  memset(o, 0, sizeof *o);
  for (size_t i = 0; i < spec->n_options; i++) {
    const char *k = spec->options[i].key, *v = spec->options[i].value;
    if (k == NULL || v == NULL) {
      rl__http_set_err(err, errlen, "option without a value");
      return RL_ERR_INVAL;
    }
    if (strcmp(k, "call") == 0) {
      o->call = v;
    } else if (strcmp(k, "proto") == 0) {
      o->proto = v;
    } else if (strcmp(k, "import_path") == 0) {
      const char **p =
          realloc(o->import_paths, (o->n_import_paths + 1) * sizeof *p);
      if (p == NULL) {
        rl__http_set_err(err, errlen, "out of memory");
        return RL_ERR_NOMEM;
      }
      o->import_paths = p;
      p[o->n_import_paths++] = v;
    } else if (strcmp(k, "protoset") == 0) {
      o->protoset = v;
    } else if (strcmp(k, "metadata") == 0) {
      const char **p = realloc(o->metadata, (o->n_metadata + 1) * sizeof *p);
      if (p == NULL) {
        rl__http_set_err(err, errlen, "out of memory");
        return RL_ERR_NOMEM;
      }
      o->metadata = p;
      p[o->n_metadata++] = v;
    } else if (strcmp(k, "authority") == 0) {
      o->authority = v;
    } else if (strcmp(k, "compress") == 0) {
      o->compress = v;
    } else if (strcmp(k, "data_file") == 0) {
      o->data_file = v;
    } else {
      rl__http_set_err(err, errlen,
                       "unknown option '%s' (gRPC takes call, proto, "
                       "import_path, protoset, metadata, authority, compress, "
                       "data_file)",
                       k);
      return RL_ERR_INVAL;
    }
  }
  return 0;
}

/* Loads the service descriptions: --protoset, --proto, or reflection. */
static int load_pool(const rl_step_spec *spec, const struct grpc_options *o,
                     rl__pb_pool **pool, char *err, size_t errlen) {
  if (o->proto != NULL && o->protoset != NULL) {
    rl__http_set_err(err, errlen, "give --proto or --protoset, not both");
    return RL_ERR_INVAL;
  }
  if (o->protoset != NULL)
    return rl__pb_pool_new_from_file(o->protoset, pool, err, errlen);
  if (o->proto != NULL)
    return rl__pb_pool_new_from_proto(o->proto, o->import_paths,
                                      o->n_import_paths, pool, err, errlen);
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
  int rc = rl__reflect_fetch(&r, pool, err, errlen);
  for (size_t i = 0; i < n_objs; i++)
    json_decref(objs[i]);
  return rc;
}

/* Reads a whole file into a NUL-terminated buffer (caller frees). */
static char *read_text_file(const char *path, char *err, size_t errlen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    rl__http_set_err(err, errlen, "cannot read %s: %s", path, strerror(errno));
    return NULL;
  }
  rl__buf b = {0};
  int rc = rl__buf_read_fd(&b, fd);
  close(fd);
  if (rc == 0)
    rc = rl__buf_add(&b, "", 1);
  if (rc != 0) {
    rl__buf_free(&b);
    rl__http_set_err(err, errlen, "cannot read %s", path);
    return NULL;
  }
  return b.p;
}

/*
 * Compiles one request message from JSON text (`what` names it in
 * errors: "-d", "-D file.json [3]"): checked against the input type now,
 * then framed once, or kept as a template when it has {{...}}.
 */
static int compile_message(struct grpc_step *st, const char *json, size_t len,
                           const char *what, struct grpc_msg *m, char *err,
                           size_t errlen) {
  char perr[512] = "";
  const rl_host *host = st->host;
  const ProtobufCMessageDescriptor *in = st->method->input;
  rl_template *tpl = NULL;
  int rc;
  if (rl__tpl_available(host)) {
    rc = rl__tpl_compile(host, json, len, what, &tpl, err, errlen);
    if (rc != 0)
      return rc;
  }
  if (tpl != NULL) {
    /* Every {{...}} as 1: a stand-in that lets the message be checked
     * against its type before the run (a field that takes a template
     * takes a number or, inside quotes, a string). */
    char *probe = rl__tpl_replace(json, len, "1");
    ProtobufCMessage *msg = NULL;
    rc = probe == NULL
             ? RL_ERR_NOMEM
             : rl__pb_from_json(st->pool, in, probe, &msg, perr, sizeof perr);
    free(probe);
    rl__pb_message_free(msg);
    if (rc != 0) {
      host->template_del(tpl);
      rl__http_set_err(err, errlen, "%s does not fit %s: %s", what, in->name,
                       perr);
      return rc;
    }
    m->json = tpl;
    return 0;
  }
  uint8_t *wire = NULL;
  size_t wire_len = 0;
  rc = rl__pb_json_to_wire(st->pool, in, json, &wire, &wire_len, perr,
                           sizeof perr);
  if (rc != 0) {
    rl__http_set_err(err, errlen, "%s does not fit %s: %s", what, in->name,
                     perr);
    return rc;
  }
  rc = grpc_frame_build(wire, wire_len, st->gzip, &m->frame, &m->frame_len);
  free(wire);
  if (rc != 0)
    rl__http_set_err(err, errlen, "out of memory");
  return rc;
}

/* The request messages: -D FILE (a JSON array, sent round-robin), else -d
 * (default {}). */
static int compile_messages(struct grpc_step *st, const rl_step_spec *spec,
                            const struct grpc_options *o, char *err,
                            size_t errlen) {
  if (o->data_file == NULL) {
    st->msgs = calloc(1, sizeof *st->msgs);
    if (st->msgs == NULL)
      return RL_ERR_NOMEM;
    st->n_msgs = 1;
    if (spec->body == NULL)
      return compile_message(st, "{}", 2, "-d", &st->msgs[0], err, errlen);
    /* The body need not be NUL-terminated; pbjson wants a C string. */
    char *text = dup_len((const char *)spec->body, spec->body_len);
    if (text == NULL)
      return RL_ERR_NOMEM;
    int rc = compile_message(st, text, spec->body_len, "-d", &st->msgs[0], err,
                             errlen);
    free(text);
    return rc;
  }
  if (spec->body != NULL) {
    rl__http_set_err(err, errlen, "give -d or -D, not both");
    return RL_ERR_INVAL;
  }
  char *text = read_text_file(o->data_file, err, errlen);
  if (text == NULL)
    return RL_ERR_IO;
  json_error_t jerr;
  json_t *arr = json_loads(text, 0, &jerr);
  free(text);
  if (arr == NULL || !json_is_array(arr) || json_array_size(arr) == 0) {
    if (arr == NULL)
      rl__http_set_err(err, errlen, "-D %s:%d:%d: %s", o->data_file, jerr.line,
                       jerr.column, jerr.text);
    else
      rl__http_set_err(err, errlen,
                       "-D %s: expected a non-empty JSON array of messages",
                       o->data_file);
    json_decref(arr);
    return RL_ERR_INVAL;
  }
  size_t n = json_array_size(arr);
  st->msgs = calloc(n, sizeof *st->msgs);
  int rc = st->msgs == NULL ? RL_ERR_NOMEM : 0;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    char *one =
        json_dumps(json_array_get(arr, i), JSON_COMPACT | JSON_ENCODE_ANY);
    char what[300];
    snprintf(what, sizeof what, "-D %s [%zu]", o->data_file, i);
    rc = one == NULL ? RL_ERR_NOMEM
                     : compile_message(st, one, strlen(one), what, &st->msgs[i],
                                       err, errlen);
    free(one);
    if (rc == 0)
      st->n_msgs++;
  }
  json_decref(arr);
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
                               char *err, size_t errlen) {
  json_error_t jerr;
  json_t *obj = json_loads(text, 0, &jerr);
  if (obj == NULL || !json_is_object(obj)) {
    if (obj == NULL)
      rl__http_set_err(err, errlen, "-m: not JSON (column %d: %s)", jerr.column,
                       jerr.text);
    else
      rl__http_set_err(err, errlen,
                       "-m: expected a JSON object such as "
                       "'{\"authorization\": \"Bearer x\"}'");
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
      rl__http_set_err(err, errlen, "-m: the value of '%s' must be a string",
                       key);
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
    if ((rc = parse_metadata_json(st, o->metadata[i], err, errlen)) != 0)
      return rc;
  return add_header_metadata(st, spec, err, errlen);
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
  if ((rc = load_pool(spec, &o, &st->pool, err, errlen)) != 0)
    goto out;
  if (o.call == NULL)
    goto out; /* listing only */
  if ((rc = rl__pb_pool_find_method(st->pool, o.call, &st->method, err,
                                    errlen)) != 0)
    goto out;
  if (st->method->client_streaming || st->method->server_streaming) {
    rl__http_set_err(err, errlen,
                     "%s is a streaming method; rpcload calls unary methods "
                     "only",
                     st->method->full_name);
    rc = RL_ERR_UNSUPPORTED;
    goto out;
  }
  if ((rc = compile_messages(st, spec, &o, err, errlen)) != 0)
    goto out;
  if ((rc = build_headers(st, spec, &o, err, errlen)) != 0)
    goto out;
  st->name = rl__http_dup_str(spec->name != NULL && spec->name[0] != '\0'
                                  ? spec->name
                                  : st->method->path);
  if (st->name == NULL) {
    rl__http_set_err(err, errlen, "out of memory");
    rc = RL_ERR_NOMEM;
  }
out:
  free(o.import_paths);
  free(o.metadata);
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

/* ---- Sessions ------------------------------------------------------------ */

struct grpc_session {
  rl__h2codec c; /* the connection; all there is */
};

/* Why a response is broken, found while reading it; reported at its end
 * unless the server's own status says more. */
enum grpc_broken {
  BROKEN_NONE = 0,
  BROKEN_TOO_BIG,      /* a message over GRPC_MAX_MESSAGE */
  BROKEN_DECODE,       /* the message does not decode as the output type */
  BROKEN_COMPRESSION,  /* compressed without a grpc-encoding we know */
  BROKEN_INFLATE,      /* the gzip data is corrupt */
  BROKEN_TWO_MESSAGES, /* a unary call answered twice */
  BROKEN_TRUNCATED,    /* the stream ended inside a message */
  BROKEN_NOMEM
};

/* Per-call state: the h2session stream area, valid until on_end. */
struct grpc_stream {
  struct grpc_session *s;
  rl_request *req;            /* owned by the host */
  const struct grpc_step *st; /* req's step */
  uint64_t bytes;             /* message bytes received (uncompressed) */
  int http_status;
  int grpc_status; /* -1 until a grpc-status arrives */
  int gzip_in;     /* the response's grpc-encoding is gzip/deflate */
  int not_grpc;    /* content-type is not application/grpc... */
  int messages;
  enum grpc_broken broken;
  /* The frame being read: its 5-byte prefix, then its bytes. */
  uint8_t prefix[GRPC_FRAME_HEADER];
  uint8_t prefix_got;
  uint32_t msg_len;
  uint8_t *buf; /* the message when it spans DATA frames; owned */
  size_t buf_got;
  char message[GRPC_MESSAGE_MAX]; /* grpc-message, decoded */
  /* The response collected for the host, when it wants it (asked once,
   * at submit); NULL: nothing is collected. Owned. */
  rl__resp_acc *acc;
};

static void stream_cleanup(struct grpc_stream *gs) {
  free(gs->buf);
  gs->buf = NULL;
  rl__resp_acc_put(&gs->s->c.free_accs, gs->acc);
  gs->acc = NULL;
}

static void finish(struct grpc_stream *gs, const char *error) {
  rl_result r;
  r.type = "grpc";
  r.name = gs->st->name;
  r.response_bytes = gs->bytes;
  r.error = error;
  stream_cleanup(gs);
  gs->s->c.host->request_done(gs->req, &r);
}

static int parse_status(const uint8_t *v, size_t len) {
  int code = 0;
  if (len == 0 || len > 4)
    return GRPC_UNKNOWN;
  for (size_t i = 0; i < len; i++) {
    if (v[i] < '0' || v[i] > '9')
      return GRPC_UNKNOWN;
    code = code * 10 + (v[i] - '0');
  }
  return code;
}

static void h2cb_header(void *stream_data, enum h2_block block,
                        const uint8_t *name, size_t name_len,
                        const uint8_t *value, size_t value_len) {
  struct grpc_stream *gs = stream_data;
  if (block == H2_BLOCK_INFORMATIONAL)
    return;
  if (gs->acc != NULL && !(name_len > 0 && name[0] == ':'))
    rl__resp_acc_header(gs->acc, name, name_len, value, value_len);
  /* grpc-status and grpc-message come in the trailers, or in the headers
   * of a trailers-only response. */
  if (name_len == 11 && memcmp(name, "grpc-status", 11) == 0) {
    gs->grpc_status = parse_status(value, value_len);
  } else if (name_len == 12 && memcmp(name, "grpc-message", 12) == 0) {
    rl__grpc_message_decode(value, value_len, gs->message, sizeof gs->message);
  } else if (block == H2_BLOCK_RESPONSE) {
    if (name_len == 12 && memcmp(name, "content-type", 12) == 0) {
      gs->not_grpc =
          !(value_len >= 16 && memcmp(value, "application/grpc", 16) == 0 &&
            (value_len == 16 || value[16] == '+' || value[16] == ';'));
    } else if (name_len == 13 && memcmp(name, "grpc-encoding", 13) == 0) {
      gs->gzip_in = (value_len == 4 && memcmp(value, "gzip", 4) == 0) ||
                    (value_len == 7 && memcmp(value, "deflate", 7) == 0);
    }
  }
}

static void h2cb_headers_end(void *stream_data, enum h2_block block,
                             int status) {
  struct grpc_stream *gs = stream_data;
  if (block == H2_BLOCK_RESPONSE)
    gs->http_status = status;
}

/* Keeps the message (wire bytes, borrowed) and its JSON for the host. A
 * message without a JSON form (an Any of a type the descriptions lack)
 * goes without: the host then has only the bytes. */
static void acc_message(struct grpc_stream *gs, const ProtobufCMessage *m,
                        const uint8_t *data, size_t len) {
  rl__resp_acc *a = gs->acc;
  char err[128];
  rl__buf_reset(&a->body);
  rl__buf_add(&a->body, data, len); /* left out when out of memory */
  if (rl__pb_to_json(gs->st->pool, m, 0, &a->json, err, sizeof err) != 0)
    a->json = NULL;
}

/* One whole response message (borrowed): inflated if need be, decoded as
 * the method's output type, counted. The decoded message is dropped once
 * it is known to decode, unless the host wants the response: then its
 * bytes and JSON are kept for it. */
static void take_message(struct grpc_stream *gs, int compressed,
                         const uint8_t *data, size_t len) {
  if (++gs->messages > 1) {
    gs->broken = BROKEN_TWO_MESSAGES;
    return;
  }
  uint8_t *plain = NULL;
  if (compressed) {
    if (!gs->gzip_in) {
      gs->broken = BROKEN_COMPRESSION;
      return;
    }
    int rc = grpc_gunzip(data, len, GRPC_MAX_MESSAGE, &plain, &len);
    if (rc != 0) {
      gs->broken = rc == RL_ERR_NOMEM   ? BROKEN_NOMEM
                   : rc == RL_ERR_INVAL ? BROKEN_TOO_BIG
                                        : BROKEN_INFLATE;
      return;
    }
    data = plain;
  }
  gs->bytes += len;
  ProtobufCMessage *m =
      protobuf_c_message_unpack(gs->st->method->output, NULL, len, data);
  if (m == NULL) {
    gs->broken = BROKEN_DECODE;
  } else {
    if (gs->acc != NULL)
      acc_message(gs, m, data, len);
    protobuf_c_message_free_unpacked(m, NULL);
  }
  free(plain);
}

/* DATA: gRPC frames, which DATA frames may split anywhere. A message in
 * one piece is decoded where it lies; one split across DATA frames is
 * gathered in gs->buf first. */
static void h2cb_data(void *stream_data, const uint8_t *data, size_t len) {
  struct grpc_stream *gs = stream_data;
  while (len > 0 && gs->broken == BROKEN_NONE) {
    if (gs->prefix_got < GRPC_FRAME_HEADER) {
      size_t take = GRPC_FRAME_HEADER - gs->prefix_got;
      if (take > len)
        take = len;
      memcpy(gs->prefix + gs->prefix_got, data, take);
      gs->prefix_got = (uint8_t)(gs->prefix_got + take);
      data += take;
      len -= take;
      if (gs->prefix_got < GRPC_FRAME_HEADER)
        return;
      gs->msg_len = (uint32_t)gs->prefix[1] << 24 |
                    (uint32_t)gs->prefix[2] << 16 |
                    (uint32_t)gs->prefix[3] << 8 | gs->prefix[4];
      gs->buf_got = 0;
      if (gs->msg_len > GRPC_MAX_MESSAGE) {
        gs->broken = BROKEN_TOO_BIG;
        return;
      }
    }
    size_t need = gs->msg_len - gs->buf_got;
    if (gs->buf == NULL && len >= need) {
      take_message(gs, gs->prefix[0] & 1, data, need);
    } else {
      if (gs->buf == NULL && (gs->buf = malloc(gs->msg_len)) == NULL) {
        gs->broken = BROKEN_NOMEM;
        return;
      }
      size_t take = len < need ? len : need;
      memcpy(gs->buf + gs->buf_got, data, take);
      gs->buf_got += take;
      if (gs->buf_got < gs->msg_len)
        return;
      take_message(gs, gs->prefix[0] & 1, gs->buf, gs->msg_len);
      free(gs->buf);
      gs->buf = NULL;
    }
    data += need;
    len -= need;
    gs->prefix_got = 0;
  }
}

/* The text of a broken response. */
static void broken_text(const struct grpc_stream *gs, char *out, size_t len) {
  const char *type = gs->st->method->output->name;
  switch (gs->broken) {
  case BROKEN_TOO_BIG:
    snprintf(out, len, "RESOURCE_EXHAUSTED: response message over %u MiB",
             GRPC_MAX_MESSAGE >> 20);
    return;
  case BROKEN_DECODE:
    snprintf(out, len, "INTERNAL: the response does not decode as %s", type);
    return;
  case BROKEN_COMPRESSION:
    snprintf(out, len,
             "INTERNAL: compressed response without a known grpc-encoding");
    return;
  case BROKEN_INFLATE:
    snprintf(out, len, "INTERNAL: the compressed response is corrupt");
    return;
  case BROKEN_TWO_MESSAGES:
    snprintf(out, len,
             "UNIMPLEMENTED: more than one response message to a unary call");
    return;
  case BROKEN_TRUNCATED:
    snprintf(out, len, "INTERNAL: the response ended inside a message");
    return;
  case BROKEN_NOMEM:
  case BROKEN_NONE:
  default:
    snprintf(out, len, "INTERNAL: out of memory reading the response");
    return;
  }
}

/* The status code of a broken response, as its text names it. */
static int broken_code(enum grpc_broken b) {
  switch (b) {
  case BROKEN_TOO_BIG:
    return GRPC_RESOURCE_EXHAUSTED;
  case BROKEN_TWO_MESSAGES:
    return GRPC_UNIMPLEMENTED;
  case BROKEN_NONE:
    return GRPC_OK;
  default:
    return GRPC_INTERNAL;
  }
}

/*
 * The outcome of a stream the server ended: the call's status code, with
 * the error text in `error` ("" when OK). The code is the one the text
 * starts with: the server's grpc-status when it is not OK; without one,
 * the HTTP status's mapping (or UNKNOWN, INTERNAL); for an OK call whose
 * response is broken, the code that says how.
 */
static int outcome(struct grpc_stream *gs, char *error, size_t len) {
  error[0] = '\0';
  if (gs->broken == BROKEN_NONE && gs->prefix_got > 0)
    gs->broken = BROKEN_TRUNCATED;
  if (gs->grpc_status > 0) {
    const char *name = rl__grpc_status_name(gs->grpc_status);
    char num[16];
    if (name == NULL) {
      snprintf(num, sizeof num, "CODE_%d", gs->grpc_status);
      name = num;
    }
    snprintf(error, len, "%s%s%s", name, gs->message[0] ? ": " : "",
             gs->message);
    return gs->grpc_status;
  }
  if (gs->grpc_status < 0) {
    if (gs->http_status != 200) {
      int code = grpc_code_from_http(gs->http_status);
      snprintf(error, len, "%s: HTTP status %d", rl__grpc_status_name(code),
               gs->http_status);
      return code;
    }
    if (gs->not_grpc) {
      snprintf(error, len,
               "UNKNOWN: the response's content-type is not application/grpc");
      return GRPC_UNKNOWN;
    }
    snprintf(error, len, "INTERNAL: the server sent no grpc-status");
    return GRPC_INTERNAL;
  }
  if (gs->broken != BROKEN_NONE) {
    broken_text(gs, error, len);
    return broken_code(gs->broken);
  }
  if (gs->messages == 0) {
    snprintf(error, len, "UNIMPLEMENTED: no response message to a unary call");
    return GRPC_UNIMPLEMENTED;
  }
  return GRPC_OK;
}

/* Hands the collected response to the host with the call's status. */
static void hand_over(struct grpc_stream *gs, int code) {
  rl__resp_acc_hand_over(gs->s->c.host, gs->req, gs->acc, code);
}

/* The outcome of a stream the server ended. */
static void complete(struct grpc_stream *gs) {
  char error[GRPC_MESSAGE_MAX + 64];
  int code = outcome(gs, error, sizeof error);
  if (gs->acc != NULL)
    hand_over(gs, code);
  finish(gs, error[0] != '\0' ? error : NULL);
}

/* A stream reset by the server, as a gRPC client reports it. */
static void reset_text(uint32_t code, char *out, size_t len) {
  const char *name = h2_error_name(code);
  char num[16];
  if (name == NULL) {
    snprintf(num, sizeof num, "0x%x", (unsigned)code);
    name = num;
  }
  const char *grpc = code == NGHTTP2_REFUSED_STREAM      ? "UNAVAILABLE"
                     : code == NGHTTP2_CANCEL            ? "CANCELLED"
                     : code == NGHTTP2_ENHANCE_YOUR_CALM ? "RESOURCE_EXHAUSTED"
                                                         : "INTERNAL";
  snprintf(out, len, "%s: stream reset by the server (%s)", grpc, name);
}

static void h2cb_end(void *stream_data, enum h2_end how, uint32_t code) {
  struct grpc_stream *gs = stream_data;
  char error[128];
  const char *name;
  switch (how) {
  case H2_END_COMPLETE:
    complete(gs);
    return;
  case H2_END_RESET:
    reset_text(code, error, sizeof error);
    finish(gs, error);
    return;
  case H2_END_ERROR:
    name = h2_error_name(code);
    snprintf(error, sizeof error, "INTERNAL: HTTP/2 stream error %s",
             name != NULL ? name : "");
    finish(gs, error);
    return;
  case H2_END_UNPROCESSED:
    name = h2_error_name(code);
    snprintf(error, sizeof error, "UNAVAILABLE: GOAWAY %s",
             name != NULL ? name : "");
    if (gs->s->c.has_retry) {
      stream_cleanup(gs);
      gs->s->c.host->request_retry(gs->req, error);
    } else {
      finish(gs, error);
    }
    return;
  case H2_END_CANCELLED:
    /* The host's --timeout ran out: what a gRPC client calls a deadline. */
    finish(gs, "DEADLINE_EXCEEDED: Deadline Exceeded");
    return;
  case H2_END_ABORTED:
  default:
    snprintf(error, sizeof error, "UNAVAILABLE: %s",
             gs->s->c.abort_reason != NULL ? gs->s->c.abort_reason
                                           : rl_strerror(RL_ERR_CLOSED));
    finish(gs, error);
    return;
  }
}

static const h2_callbacks grpc_h2_callbacks = {
    .write = rl__h2codec_write,
    .on_header = h2cb_header,
    .on_headers_end = h2cb_headers_end,
    .on_data = h2cb_data,
    .on_end = h2cb_end,
    .on_goaway = rl__h2codec_goaway,
};

/*
 * A new connection (TCP, and TLS with ALPN h2 for grpcs). Borrows host
 * and conn (they outlive the session) and info (the call only); the plugin
 * owns *session until grpc_session_del(). Queues the HTTP/2 preface.
 */
static int grpc_session_new(const rl_host *host, rl_conn *conn,
                            const rl_conn_info *info, void **session) {
  struct grpc_session *s = calloc(1, sizeof *s);
  if (s == NULL)
    return RL_ERR_NOMEM;
  int rc = rl__h2codec_start(&s->c, host, conn, info, &grpc_h2_callbacks,
                             sizeof(struct grpc_stream));
  if (rc != 0) {
    free(s);
    return rc;
  }
  *session = s;
  return 0;
}

static uint32_t grpc_session_max_concurrent(void *session) {
  struct grpc_session *s = session;
  return h2_session_max_concurrent(s->c.h2, GRPC_STREAMS_BEFORE_SETTINGS);
}

/* The frame of a templated message for req: a new buffer (caller frees). */
static int expand_message(const struct grpc_step *st, const struct grpc_msg *m,
                          rl_request *req, uint8_t **frame, size_t *frame_len) {
  size_t len = 0;
  const char *text = st->host->template_expand(m->json, req, &len);
  if (text == NULL)
    return RL_ERR_NOMEM;
  uint8_t *wire = NULL;
  size_t wire_len = 0;
  char perr[256];
  ProtobufCMessage *msg = NULL;
  int rc = rl__pb_from_json_len(st->pool, st->method->input, text, len, &msg,
                                perr, sizeof perr);
  if (rc != 0)
    return rc;
  rc = rl__pb_encode(msg, &wire, &wire_len);
  rl__pb_message_free(msg);
  if (rc != 0)
    return rc;
  rc = grpc_frame_build(wire, wire_len, st->gzip, frame, frame_len);
  free(wire);
  return rc;
}

/*
 * Submits a call with templated parts: metadata values expanded and copied
 * into this frame's storage (nghttp2 copies header fields not marked
 * NO_COPY during the submit), the message expanded into a buffer the
 * stream owns until it is sent.
 */
static int submit_templated(struct grpc_session *s, const struct grpc_step *st,
                            rl_request *req, const struct grpc_msg *m,
                            const struct grpc_stream *init) {
  nghttp2_nv stack_nva[GRPC_NV_STACK];
  char *values[GRPC_NV_STACK];
  size_t n = st->nvlen + st->n_md_tpl, nv = 0;
  if (n > GRPC_NV_STACK)
    return RL_ERR_NOMEM; /* far beyond any sane metadata count */
  memcpy(stack_nva, st->nva, st->nvlen * sizeof *stack_nva);
  nv = st->nvlen;
  int rc = 0;
  size_t nvalues = 0;
  for (size_t i = 0; rc == 0 && i < st->n_md_tpl; i++) {
    size_t len = 0;
    const char *text =
        s->c.host->template_expand(st->md_tpl[i].value, req, &len);
    char *v = text == NULL ? NULL
              : st->md_tpl[i].bin
                  ? grpc_base64_encode((const uint8_t *)text, len)
                  : dup_len(text, len);
    if (v == NULL) {
      rc = RL_ERR_NOMEM;
      break;
    }
    values[nvalues++] = v;
    stack_nva[nv++] = (nghttp2_nv){.name = (uint8_t *)st->md_tpl[i].name,
                                   .namelen = strlen(st->md_tpl[i].name),
                                   .value = (uint8_t *)v,
                                   .valuelen = strlen(v),
                                   .flags = NGHTTP2_NV_FLAG_NO_COPY_NAME};
  }
  uint8_t *frame = NULL;
  size_t frame_len = 0;
  h2_body body = {.data = m->frame, .len = m->frame_len};
  if (rc == 0 && m->json != NULL) {
    rc = expand_message(st, m, req, &frame, &frame_len);
    body = (h2_body){.data = frame,
                     .len = frame_len,
                     .release = rl__h2codec_free_body,
                     .release_arg = frame};
  }
  if (rc == 0)
    rc = h2_session_submit(s->c.h2, stack_nva, nv, &body, init, NULL);
  if (rc != 0)
    free(frame); /* a refused submit leaves the body ours */
  for (size_t i = 0; i < nvalues; i++)
    free(values[i]);
  return rc;
}

/*
 * Starts a call as a new stream. On 0 the session holds req until it
 * calls request_done() or request_retry() once, never from here. On error
 * nothing is kept: RL_ERR_BUSY at the stream limit, RL_ERR_CLOSED once the
 * connection is going away, RL_ERR_INVAL when templated data stopped
 * fitting the message.
 */
static int grpc_session_submit(void *session, rl_request *req) {
  struct grpc_session *s = session;
  int rc = rl__h2codec_admit(&s->c, GRPC_STREAMS_BEFORE_SETTINGS);
  if (rc != 0)
    return rc;
  struct grpc_step *st = s->c.host->request_step(req);
  if (st == NULL || st->method == NULL)
    return RL_ERR_INVAL;
  const struct grpc_msg *m = &st->msgs[0];
  if (st->n_msgs > 1)
    m = &st->msgs[atomic_fetch_add_explicit(&st->next_msg, 1,
                                            memory_order_relaxed) %
                  st->n_msgs];
  struct grpc_stream init = {.s = s, .req = req, .st = st, .grpc_status = -1};
  /* Asked once per call: only then does the stream collect. */
  if ((rc = rl__h2codec_collector(&s->c, req, &init.acc)) != 0)
    return rc;
  if (m->json != NULL || st->n_md_tpl > 0) {
    rc = submit_templated(s, st, req, m, &init);
  } else {
    /* The frame belongs to the step, which outlives the session. */
    h2_body body = {.data = m->frame, .len = m->frame_len};
    rc = h2_session_submit(s->c.h2, st->nva, st->nvlen, &body, &init, NULL);
  }
  return rl__h2codec_submitted(&s->c, rc, init.acc);
}

static int grpc_session_on_read(void *session, const uint8_t *data,
                                size_t len) {
  struct grpc_session *s = session;
  return rl__h2codec_read(&s->c, data, len);
}

static int stream_is(void *area, void *arg) {
  return ((struct grpc_stream *)area)->req == arg;
}

/* The host's --timeout ran out for one call: reset its stream alone and
 * report DEADLINE_EXCEEDED before returning 0. */
static int grpc_session_cancel(void *session, rl_request *req,
                               const char *reason) {
  struct grpc_session *s = session;
  void *area = h2_session_find(s->c.h2, stream_is, req);
  if (area == NULL)
    return RL_ERR_INVAL;
  (void)reason; /* the call fails as DEADLINE_EXCEEDED, as gRPC says */
  (void)h2_session_cancel(s->c.h2, area);
  return 0;
}

/* The connection is over: every call still held fails once, as
 * UNAVAILABLE with the reason (borrowed for the call). */
static void grpc_session_del(void *session, int err, const char *reason) {
  struct grpc_session *s = session;
  if (s == NULL)
    return;
  char why[64];
  uint32_t code;
  if (rl__h2codec_goaway_error(&s->c, err, &code)) {
    const char *name = h2_error_name(code);
    snprintf(why, sizeof why, "GOAWAY %s", name != NULL ? name : "");
    rl__h2codec_end(&s->c, why);
  } else {
    rl__h2codec_end(
        &s->c, reason != NULL && reason[0] != '\0' ? reason : rl_strerror(err));
  }
  free(s);
}

/* A scenario's grpc: steps (ABI 1.3): the value is the call, and these
 * keys are the step's own, as the options of the same names. */
static const char *const grpc_step_keys[] = {"grpc", "grpcs", NULL};
static const rl_option_decl grpc_step_options[] = {
    {"proto", RL_OPTION_FILE, "the .proto file the service is in"},
    {"protoset", RL_OPTION_FILE, "a descriptor set (protoc -o)"},
    {"import_path", RL_OPTION_FILES, "where the .proto's imports are"},
    {"metadata", RL_OPTION_MAP, "request metadata (templates in values)"},
    {NULL, 0, NULL},
};

static const rl_plugin grpc_plugin = {
    .abi_version = RL_ABI_VERSION,
    .struct_size = sizeof(rl_plugin),
    .name = "grpc",
    .version = "0.1.0",
    .summary = "gRPC unary calls over HTTP/2 (grpc:// h2c, grpcs:// TLS), "
               "messages from --proto, --protoset or reflection",
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
};

RL_EXPORT const rl_plugin *rl_plugin_entry(void);

RL_EXPORT const rl_plugin *rl_plugin_entry(void) { return &grpc_plugin; }

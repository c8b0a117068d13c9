/*
 * reflect: the gRPC server-reflection protocol, for the gRPC plugin (see
 * reflect.h; the blocking connection it runs on is reflect_conn's).
 *
 * What it owns:
 *   - the conversation: list_services, then file_containing_symbol for
 *     each service (except grpc.reflection.* itself), then
 *     file_by_filename for every import the answers named but did not
 *     include, until the set is closed; v1 first, v1alpha when the server
 *     says UNIMPLEMENTED to the first request;
 *   - the reflection messages, encoded and decoded by hand: four request
 *     fields and three response fields are all it needs, not worth
 *     generated code; answers come as gRPC-framed messages in the call's
 *     body;
 *   - the descriptors collected: each file once, bounded in number and
 *     size, emitted imports first as one FileDescriptorSet for pbdesc.
 *
 * Errors are recorded on the connection (rl__rconn_fail), first one wins.
 */
#include "reflect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rpcload/plugin.h>

#include "lib/buf.h"
#include "lib/grpc_status.h"
#include "reflect_conn.h"

#define RF_PATH_V1 "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
#define RF_PATH_V1ALPHA                                                        \
  "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
/* Services of reflection itself: listed by the server, of no use to a
 * load test. */
#define RF_SKIP_PREFIX "grpc.reflection."

/* Bounds against a broken or hostile server (real ones stay far below):
 * the bytes of all files together, the number of files and of services
 * (reflect_conn bounds one call's response). */
#define RF_MAX_TOTAL (64u << 20)
#define RF_MAX_FILES 10000u
#define RF_MAX_SERVICES 10000u

/* ServerReflectionRequest fields. */
enum {
  RF_REQ_FILE_BY_FILENAME = 3,
  RF_REQ_FILE_CONTAINING_SYMBOL = 4,
  RF_REQ_LIST_SERVICES = 7
};
/* ServerReflectionResponse fields. */
enum {
  RF_RESP_FILE_DESCRIPTOR = 4,
  RF_RESP_LIST_SERVICES = 6,
  RF_RESP_ERROR = 7
};
/* Protobuf wire types. */
enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/* ---- Wire writing ---------------------------------------------------------- */

static int buf_varint(rl__buf *b, uint64_t v) {
  uint8_t tmp[10];
  size_t n = 0;
  do {
    tmp[n] = (uint8_t)(v & 0x7f);
    v >>= 7;
    if (v)
      tmp[n] |= 0x80;
    n++;
  } while (v);
  return rl__buf_add(b, tmp, n);
}

/* A length-delimited field: tag, length, bytes. */
static int buf_lenfield(rl__buf *b, uint32_t field, const void *d, size_t n) {
  int rc = buf_varint(b, ((uint64_t)field << 3) | WT_LEN);
  if (rc == 0)
    rc = buf_varint(b, n);
  if (rc == 0)
    rc = rl__buf_add(b, d, n);
  return rc;
}

/* ---- Wire reading ------------------------------------------------------------ */

typedef struct rf_rd {
  const uint8_t *p, *end;
} rf_rd;

/* Returns 0, or -1 when truncated or longer than 10 bytes. */
static int rd_varint(rf_rd *r, uint64_t *v) {
  uint64_t x = 0;
  for (unsigned shift = 0; shift < 70; shift += 7) {
    if (r->p >= r->end)
      return -1;
    uint8_t c = *r->p++;
    x |= (uint64_t)(c & 0x7f) << shift;
    if (!(c & 0x80)) {
      *v = x;
      return 0;
    }
  }
  return -1;
}

/* One field: 1 with its number, and for a length-delimited field its
 * bytes in (*data, *len) (*data NULL otherwise), for a varint its value in
 * *val (0 otherwise); 0 at the end; -1 when malformed (groups included: no
 * reflection message has them). */
static int rd_field(rf_rd *r, uint32_t *num, const uint8_t **data, size_t *len,
                    uint64_t *val) {
  if (r->p >= r->end)
    return 0;
  uint64_t tag, v;
  if (rd_varint(r, &tag) != 0 || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff)
    return -1;
  *num = (uint32_t)(tag >> 3);
  *data = NULL;
  *len = 0;
  *val = 0;
  size_t left = (size_t)(r->end - r->p);
  switch (tag & 7) {
  case WT_VARINT:
    return rd_varint(r, val) == 0 ? 1 : -1;
  case WT_I64:
  case WT_I32: {
    size_t w = (tag & 7) == WT_I64 ? 8 : 4;
    if (left < w)
      return -1;
    r->p += w;
    return 1;
  }
  case WT_LEN:
    if (rd_varint(r, &v) != 0 || v > (uint64_t)(r->end - r->p))
      return -1;
    *data = r->p;
    *len = (size_t)v;
    r->p += v;
    return 1;
  default:
    return -1;
  }
}

/* A copy of n bytes as a C string; NULL when they hold a NUL (no proto
 * name can) or on OOM. */
static char *dup_name(const uint8_t *d, size_t n) {
  if (memchr(d, 0, n) != NULL)
    return NULL;
  char *s = malloc(n + 1);
  if (s != NULL) {
    memcpy(s, d, n);
    s[n] = '\0';
  }
  return s;
}

/* ---- The fetch ------------------------------------------------------------------------ */

typedef struct rf_file {
  char *name;
  uint8_t *data; /* the FileDescriptorProto */
  size_t len;
  char **deps; /* its imports' names */
  size_t n_deps;
  int mark; /* topological sort: 1 visiting, 2 done */
} rf_file;

typedef struct rf_state {
  rl__rconn c;
  const char *path; /* RF_PATH_V1 or RF_PATH_V1ALPHA */
  char **services;
  size_t n_services, cap_services;
  rf_file *files;
  size_t n_files, cap_files;
  size_t total; /* bytes of all files */
} rf_state;

static int grow(void **arr, size_t *cap, size_t n, size_t size) {
  if (n < *cap)
    return 0;
  size_t ncap = *cap ? *cap * 2 : 16;
  void *p = realloc(*arr, ncap * size);
  if (p == NULL)
    return -1;
  *arr = p;
  *cap = ncap;
  return 0;
}

static int malformed(rf_state *s, const char *what) {
  return rl__rconn_fail(&s->c, RL_ERR_PROTO, "reflection: malformed %s from %s",
                        what, s->c.where);
}

static rf_file *find_file(rf_state *s, const char *name) {
  for (size_t i = 0; i < s->n_files; i++)
    if (strcmp(s->files[i].name, name) == 0)
      return &s->files[i];
  return NULL;
}

static void file_free(rf_file *f) {
  free(f->name);
  free(f->data);
  for (size_t i = 0; i < f->n_deps; i++)
    free(f->deps[i]);
  free(f->deps);
}

/* Keeps a FileDescriptorProto (copied) unless one of its name came
 * already: servers send every file a symbol needs with each answer. */
static int add_file(rf_state *s, const uint8_t *d, size_t n) {
  rf_file f;
  memset(&f, 0, sizeof f);
  size_t cap_deps = 0;
  rf_rd r = {d, d + n};
  uint32_t num;
  const uint8_t *v;
  size_t vl;
  uint64_t ival;
  int k;
  int rc = 0;
  while (rc == 0 && (k = rd_field(&r, &num, &v, &vl, &ival)) != 0) {
    if (k < 0 || ((num == 1 || num == 3) && v == NULL)) {
      rc = malformed(s, "FileDescriptorProto");
    } else if (num == 1) {
      free(f.name);
      f.name = dup_name(v, vl);
      if (f.name == NULL)
        rc = malformed(s, "FileDescriptorProto (file name)");
    } else if (num == 3) {
      char *dep = dup_name(v, vl);
      if (dep == NULL ||
          grow((void **)&f.deps, &cap_deps, f.n_deps, sizeof *f.deps) != 0) {
        free(dep);
        rc = dep == NULL ? malformed(s, "FileDescriptorProto (import)")
                         : rl__rconn_fail(&s->c, RL_ERR_NOMEM,
                                          "reflection: out of memory");
      } else {
        f.deps[f.n_deps++] = dep;
      }
    }
  }
  if (rc == 0 && f.name == NULL)
    rc = malformed(s, "FileDescriptorProto (no file name)");
  if (rc != 0 || find_file(s, f.name) != NULL) {
    file_free(&f);
    return rc;
  }
  if (s->n_files >= RF_MAX_FILES || n > RF_MAX_TOTAL - s->total) {
    file_free(&f);
    return rl__rconn_fail(&s->c, RL_ERR_PROTO,
                          "reflection: %s sent more than %u files or %u MiB of "
                          "descriptors",
                          s->c.where, RF_MAX_FILES, RF_MAX_TOTAL >> 20);
  }
  f.data = malloc(n ? n : 1);
  if (f.data == NULL ||
      grow((void **)&s->files, &s->cap_files, s->n_files, sizeof *s->files)) {
    file_free(&f);
    return rl__rconn_fail(&s->c, RL_ERR_NOMEM, "reflection: out of memory");
  }
  if (n > 0)
    memcpy(f.data, d, n);
  f.len = n;
  s->files[s->n_files++] = f;
  s->total += n;
  return 0;
}

static int add_service(rf_state *s, const uint8_t *d, size_t n) {
  rf_rd r = {d, d + n};
  uint32_t num;
  const uint8_t *v;
  size_t vl;
  uint64_t ival;
  int k;
  while ((k = rd_field(&r, &num, &v, &vl, &ival)) != 0) {
    if (k < 0)
      return malformed(s, "ServiceResponse");
    if (num != 1 || v == NULL)
      continue;
    char *name = dup_name(v, vl);
    if (name == NULL)
      return malformed(s, "ServiceResponse (name)");
    for (size_t i = 0; i < s->n_services; i++) {
      if (strcmp(s->services[i], name) == 0) {
        free(name);
        return 0;
      }
    }
    if (s->n_services >= RF_MAX_SERVICES) {
      free(name);
      return rl__rconn_fail(&s->c, RL_ERR_PROTO,
                            "reflection: %s lists more than %u services",
                            s->c.where, RF_MAX_SERVICES);
    }
    if (grow((void **)&s->services, &s->cap_services, s->n_services,
             sizeof *s->services) != 0) {
      free(name);
      return rl__rconn_fail(&s->c, RL_ERR_NOMEM, "reflection: out of memory");
    }
    s->services[s->n_services++] = name;
  }
  return 0;
}

/* An ErrorResponse: the server could not answer `what`. */
static int error_response(rf_state *s, const uint8_t *d, size_t n,
                          const char *what) {
  rf_rd r = {d, d + n};
  uint32_t num;
  const uint8_t *v;
  size_t vl;
  uint64_t ival;
  int64_t code = 2; /* UNKNOWN when absent */
  int k;
  char msg[256] = "";
  while ((k = rd_field(&r, &num, &v, &vl, &ival)) != 0) {
    if (k < 0)
      return malformed(s, "ErrorResponse");
    if (num == 1 && v == NULL)
      code = (int32_t)(uint32_t)ival; /* int32 error_code */
    else if (num == 2 && v != NULL)
      rl__rconn_text(msg, sizeof msg, v, vl);
  }
  const char *name = rl__grpc_status_name((int)code);
  char num_text[24];
  snprintf(num_text, sizeof num_text, "%lld", (long long)code);
  return rl__rconn_fail(
      &s->c, RL_ERR_PROTO, "reflection: server error %s for %s: %s",
      name != NULL ? name : num_text, what, msg[0] ? msg : "(no message)");
}

/* One ServerReflectionResponse: keeps its services or files. */
static int handle_response(rf_state *s, const uint8_t *d, size_t n,
                           const char *what) {
  rf_rd r = {d, d + n};
  uint32_t num;
  const uint8_t *v;
  size_t vl;
  uint64_t ival;
  int k;
  while ((k = rd_field(&r, &num, &v, &vl, &ival)) != 0) {
    if (k < 0)
      return malformed(s, "reflection response");
    if (v == NULL)
      continue;
    rf_rd in = {v, v + vl};
    uint32_t inum;
    const uint8_t *iv;
    size_t ivl;
    int ik, rc = 0;
    switch (num) {
    case RF_RESP_FILE_DESCRIPTOR: /* repeated bytes file_descriptor_proto = 1 */
    case RF_RESP_LIST_SERVICES:   /* repeated ServiceResponse service = 1 */
      while (rc == 0 && (ik = rd_field(&in, &inum, &iv, &ivl, &ival)) != 0) {
        if (ik < 0)
          rc = malformed(s, "reflection response");
        else if (inum == 1 && iv != NULL)
          rc = num == RF_RESP_FILE_DESCRIPTOR ? add_file(s, iv, ivl)
                                              : add_service(s, iv, ivl);
      }
      break;
    case RF_RESP_ERROR:
      rc = error_response(s, v, vl, what);
      break;
    default:
      break; /* valid_host, original_request, extension numbers */
    }
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* The messages of the call's body, each handled. */
static int handle_body(rf_state *s, const char *what) {
  const rl__buf *b = &s->c.call.body;
  size_t off = 0, count = 0;
  while (off < b->len) {
    if (b->len - off < 5)
      return malformed(s, "gRPC message framing");
    const uint8_t *h = (const uint8_t *)b->p + off;
    size_t len = (size_t)h[1] << 24 | (size_t)h[2] << 16 | (size_t)h[3] << 8 |
                 (size_t)h[4];
    if (h[0] != 0)
      return rl__rconn_fail(
          &s->c, RL_ERR_PROTO,
          "reflection: %s sent a compressed message, which was not "
          "asked for",
          s->c.where);
    if (len > b->len - off - 5)
      return malformed(s, "gRPC message framing");
    int rc = handle_response(s, h + 5, len, what);
    if (rc != 0)
      return rc;
    off += 5 + len;
    count++;
  }
  if (count == 0)
    return rl__rconn_fail(&s->c, RL_ERR_PROTO,
                          "reflection: %s answered %s with no message",
                          s->c.where, what);
  return 0;
}

/*
 * One reflection request (field `field` = `value`) as a call, its answer
 * handled. On the first request only (`may_fall_back`), UNIMPLEMENTED on
 * v1 switches to v1alpha and asks again.
 */
static int ask(rf_state *s, uint32_t field, const char *value,
               int may_fall_back) {
  rl__buf req = {0};
  if (buf_lenfield(&req, field, value, strlen(value)) != 0) {
    free(req.p);
    return rl__rconn_fail(&s->c, RL_ERR_NOMEM, "reflection: out of memory");
  }
  char what[320];
  if (field == RF_REQ_LIST_SERVICES)
    snprintf(what, sizeof what, "list_services");
  else
    snprintf(what, sizeof what, "%s '%s'",
             field == RF_REQ_FILE_BY_FILENAME ? "file" : "symbol", value);
  int rc;
  for (;;) {
    rc = rl__rconn_call(&s->c, s->path, (const uint8_t *)req.p, req.len);
    if (rc == 0)
      rc = rl__rconn_check(&s->c);
    /* UNSUPPORTED with no error recorded: the server said UNIMPLEMENTED. */
    if (rc != RL_ERR_UNSUPPORTED || s->c.rc != 0)
      break;
    if (may_fall_back && strcmp(s->path, RF_PATH_V1) == 0) {
      s->path = RF_PATH_V1ALPHA; /* older servers offer only v1alpha */
      continue;
    }
    if (may_fall_back && s->c.call.grpc_status == -1)
      rc = rl__rconn_fail(
          &s->c, RL_ERR_UNSUPPORTED,
          "reflection: the server does not offer reflection (HTTP "
          "status 404 and no gRPC status for v1 and v1alpha: is it a "
          "gRPC server?): give --proto or --protoset");
    else if (may_fall_back)
      rc = rl__rconn_fail(&s->c, RL_ERR_UNSUPPORTED,
                          "reflection: the server does not offer reflection "
                          "(UNIMPLEMENTED for v1 and v1alpha): give --proto or "
                          "--protoset");
    else
      rc = rl__rconn_fail(
          &s->c, RL_ERR_PROTO,
          "reflection: server error UNIMPLEMENTED for %s: %s", what,
          s->c.call.grpc_message[0] ? s->c.call.grpc_message : "(no message)");
    break;
  }
  free(req.p);
  if (rc == 0)
    rc = handle_body(s, what);
  return rc;
}

/* Appends f and (first) the files it imports to the set, each once. */
static int emit_file(rf_state *s, rf_file *f, rl__buf *set, unsigned depth) {
  if (f->mark == 2)
    return 0;
  if (f->mark == 1 || depth > RF_MAX_FILES)
    return rl__rconn_fail(
        &s->c, RL_ERR_PROTO,
        "reflection: the server's files import each other in a "
        "cycle (through '%s')",
        f->name);
  f->mark = 1;
  for (size_t i = 0; i < f->n_deps; i++) {
    rf_file *d = find_file(s, f->deps[i]);
    int rc = d != NULL ? emit_file(s, d, set, depth + 1) : 0;
    if (rc != 0)
      return rc;
  }
  f->mark = 2;
  /* FileDescriptorSet { repeated FileDescriptorProto file = 1; } */
  if (buf_lenfield(set, 1, f->data, f->len) != 0)
    return rl__rconn_fail(&s->c, RL_ERR_NOMEM, "reflection: out of memory");
  return 0;
}

/* The first import named by a file we have but not received, or NULL. */
static const char *missing_import(rf_state *s, const char **by) {
  for (size_t i = 0; i < s->n_files; i++) {
    for (size_t j = 0; j < s->files[i].n_deps; j++) {
      if (find_file(s, s->files[i].deps[j]) == NULL) {
        *by = s->files[i].name;
        return s->files[i].deps[j];
      }
    }
  }
  return NULL;
}

static int fetch(rf_state *s, rl__pb_pool **out) {
  rl__rconn *c = &s->c;
  int rc = rl__rconn_open(c);
  if (rc != 0)
    return rc;

  rc = ask(s, RF_REQ_LIST_SERVICES, "*", 1);
  size_t asked = 0;
  for (size_t i = 0; rc == 0 && i < s->n_services; i++) {
    if (strncmp(s->services[i], RF_SKIP_PREFIX, strlen(RF_SKIP_PREFIX)) == 0)
      continue;
    asked++;
    rc = ask(s, RF_REQ_FILE_CONTAINING_SYMBOL, s->services[i], 0);
  }
  if (rc == 0 && asked == 0)
    return rl__rconn_fail(c, RL_ERR_NOTFOUND,
                          "reflection: %s lists no services besides reflection",
                          c->where);
  /* Imports the answers named but did not include. Each round adds the
   * file asked for (or fails), so this ends within RF_MAX_FILES rounds. */
  const char *by = NULL, *name;
  while (rc == 0 && (name = missing_import(s, &by)) != NULL) {
    /* ask() may move s->files: copy the names first. */
    char *want = strdup(name), *importer = strdup(by);
    if (want == NULL || importer == NULL) {
      rc = rl__rconn_fail(c, RL_ERR_NOMEM, "reflection: out of memory");
    } else {
      rc = ask(s, RF_REQ_FILE_BY_FILENAME, want, 0);
      if (rc == 0 && find_file(s, want) == NULL)
        rc = rl__rconn_fail(
            c, RL_ERR_PROTO,
            "reflection: %s did not send '%s' (imported by '%s') when "
            "asked for it",
            c->where, want, importer);
    }
    free(want);
    free(importer);
  }
  if (rc != 0)
    return rc;

  rl__buf set = {0};
  for (size_t i = 0; rc == 0 && i < s->n_files; i++)
    rc = emit_file(s, &s->files[i], &set, 0);
  if (rc == 0) {
    char why[512];
    rc = rl__pb_pool_new_from_descriptor_set((const uint8_t *)set.p, set.len,
                                             out, why, sizeof why);
    /* pbdesc says INVAL: the server's descriptors are at fault. */
    if (rc != 0)
      rc = rl__rconn_fail(c, rc == RL_ERR_NOMEM ? rc : RL_ERR_PROTO,
                          "reflection: cannot use the descriptors %s sent: %s",
                          c->where, why);
  }
  free(set.p);
  return rc;
}

int rl__reflect_fetch(const rl__reflect_options *o, rl__pb_pool **out,
                      char *err, size_t errlen) {
  if (errlen > 0)
    err[0] = '\0';
  if (o == NULL || out == NULL || o->host == NULL || o->host[0] == '\0' ||
      o->port == 0 || (o->key != NULL && o->cert == NULL) ||
      (o->n_metadata > 0 && o->metadata == NULL)) {
    if (errlen > 0)
      snprintf(err, errlen, "reflection: %s",
               o != NULL && o->key != NULL && o->cert == NULL
                   ? "a client key needs a client certificate"
                   : "needs a host and a port");
    return RL_ERR_INVAL;
  }
  rf_state s;
  memset(&s, 0, sizeof s);
  rl__rconn_init(&s.c, o, err, errlen);
  s.path = RF_PATH_V1;

  rl__pb_pool *pool = NULL;
  int rc = fetch(&s, &pool);

  rl__rconn_close(&s.c);
  for (size_t i = 0; i < s.n_services; i++)
    free(s.services[i]);
  free(s.services);
  for (size_t i = 0; i < s.n_files; i++)
    file_free(&s.files[i]);
  free(s.files);

  if (rc != 0) {
    rl__pb_pool_del(pool);
    return rc;
  }
  *out = pool;
  return 0;
}

/*
 * Server reflection, the protocol part (see reflection.h): index the
 * embedded .proto files by file name, symbol and extension, and answer
 * ServerReflectionRequests the way grpc's own reflection service does:
 *   - file_by_filename, file_containing_symbol, file_containing_extension:
 *     the file's FileDescriptorProto, then those of its imports
 *     (transitively, each once), so the client can build the types;
 *   - all_extension_numbers_of_type: the numbers (none in our files);
 *   - list_services: every service in the embedded files;
 *   - an unknown file, symbol or type: an ErrorResponse NOT_FOUND, and an
 *     empty or unknown kind of request: UNIMPLEMENTED, on the same stream
 *     (the stream goes on).
 * Messages are encoded and decoded with protobuf-c code that protoc-c
 * generated from grpc/reflection/v1/reflection.proto and from protobuf's
 * descriptor.proto at build time.
 */
#include "reflection.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "grpc/reflection/v1/reflection.pb-c.h"

/* gRPC status codes carried in an ErrorResponse (grpc/status.h has them, but
 * this file stays free of grpc). */
enum { HS_NOT_FOUND = 5, HS_UNIMPLEMENTED = 12 };

/* The oneof cases of the request and the response, by their field name. */
#define HS_REQ(name)                                                           \
  GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_##name
#define HS_RESP(name)                                                          \
  GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_##name

/* Longest symbol or file name quoted back in an error message. */
#define HS_ERR_NAME_MAX 200

/* ---- building the index ------------------------------------------------ */

/* "scope.name", or "name" at the top (scope ""). Returns NULL on OOM. */
static char *qualify(const char *scope, const char *name) {
  size_t len = strlen(scope) + strlen(name) + 2;
  char *s = malloc(len);
  if (s)
    snprintf(s, len, "%s%s%s", scope, scope[0] ? "." : "", name);
  return s;
}

/* Grows *arr (of *cap elements of size sz) to hold one more than len.
 * Returns 0 or -1 (OOM; *arr unchanged). */
static int grow(void **arr, size_t *cap, size_t len, size_t sz) {
  if (len < *cap)
    return 0;
  size_t ncap = *cap ? *cap * 2 : 16;
  void *n = realloc(*arr, ncap * sz);
  if (!n)
    return -1;
  *arr = n;
  *cap = ncap;
  return 0;
}

/* Adds the symbol scope.name of the given kind, defined in file f.
 * Takes nothing; copies the name. Returns 0 or -1 (OOM). */
static int add_symbol(hs_reflection *r, const char *scope, const char *name,
                      hs_refl_kind kind, size_t f) {
  if (!name)
    return 0; /* a nameless definition (invalid, never from protoc): not findable */
  if (grow((void **)&r->symbols, &r->capsymbols, r->nsymbols,
           sizeof *r->symbols) < 0)
    return -1;
  char *q = qualify(scope, name);
  if (!q)
    return -1;
  r->symbols[r->nsymbols++] = (hs_refl_symbol){q, kind, f};
  return 0;
}

/* Indexes an extension field declared in file f (the extendee comes
 * fully qualified, with a leading dot). Also adds it as a symbol. */
static int add_extension(hs_reflection *r, const char *scope,
                         const Google__Protobuf__FieldDescriptorProto *ext,
                         size_t f) {
  if (add_symbol(r, scope, ext->name, HS_SYM_OTHER, f) < 0)
    return -1;
  if (!ext->extendee || !ext->has_number)
    return 0;
  if (grow((void **)&r->exts, &r->capexts, r->nexts, sizeof *r->exts) < 0)
    return -1;
  const char *e = ext->extendee[0] == '.' ? ext->extendee + 1 : ext->extendee;
  char *copy = qualify("", e);
  if (!copy)
    return -1;
  r->exts[r->nexts++] = (hs_refl_ext){copy, ext->number, f};
  return 0;
}

/* An enum and its values; values are siblings of the enum in protobuf's
 * scoping ("pkg.RED", not "pkg.Color.RED"). */
static int add_enum(hs_reflection *r, const char *scope,
                    const Google__Protobuf__EnumDescriptorProto *en, size_t f) {
  if (add_symbol(r, scope, en->name, HS_SYM_OTHER, f) < 0)
    return -1;
  for (size_t i = 0; i < en->n_value; i++)
    if (add_symbol(r, scope, en->value[i]->name, HS_SYM_OTHER, f) < 0)
      return -1;
  return 0;
}

/* A message with its fields, oneofs, nested messages, enums and extensions,
 * recursively (nesting depth is bounded by what protoc accepted). */
static int add_message(hs_reflection *r, const char *scope,
                       const Google__Protobuf__DescriptorProto *m, size_t f) {
  if (!m->name)
    return 0;
  if (add_symbol(r, scope, m->name, HS_SYM_MESSAGE, f) < 0)
    return -1;
  char *inner = qualify(scope, m->name);
  if (!inner)
    return -1;
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < m->n_field; i++)
    rc = add_symbol(r, inner, m->field[i]->name, HS_SYM_OTHER, f);
  for (size_t i = 0; rc == 0 && i < m->n_oneof_decl; i++)
    rc = add_symbol(r, inner, m->oneof_decl[i]->name, HS_SYM_OTHER, f);
  for (size_t i = 0; rc == 0 && i < m->n_nested_type; i++)
    rc = add_message(r, inner, m->nested_type[i], f);
  for (size_t i = 0; rc == 0 && i < m->n_enum_type; i++)
    rc = add_enum(r, inner, m->enum_type[i], f);
  for (size_t i = 0; rc == 0 && i < m->n_extension; i++)
    rc = add_extension(r, inner, m->extension[i], f);
  free(inner);
  return rc;
}

/* A service and its methods; the service also goes on the list_services list. */
static int add_service(hs_reflection *r, const char *scope,
                       const Google__Protobuf__ServiceDescriptorProto *s,
                       size_t f) {
  if (!s->name)
    return 0;
  if (add_symbol(r, scope, s->name, HS_SYM_OTHER, f) < 0)
    return -1;
  char *full = qualify(scope, s->name);
  if (!full)
    return -1;
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < s->n_method; i++)
    rc = add_symbol(r, full, s->method[i]->name, HS_SYM_OTHER, f);
  if (rc == 0 && grow((void **)&r->services, &r->capservices, r->nservices,
                      sizeof *r->services) == 0) {
    r->services[r->nservices++] = full;
    return 0;
  }
  free(full);
  return -1;
}

/* Indexes the symbols of file f, whose FileDescriptorProto is fd. */
static int add_file_symbols(hs_reflection *r,
                            const Google__Protobuf__FileDescriptorProto *fd,
                            size_t f) {
  const char *pkg = fd->package ? fd->package : "";
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < fd->n_message_type; i++)
    rc = add_message(r, pkg, fd->message_type[i], f);
  for (size_t i = 0; rc == 0 && i < fd->n_enum_type; i++)
    rc = add_enum(r, pkg, fd->enum_type[i], f);
  for (size_t i = 0; rc == 0 && i < fd->n_service; i++)
    rc = add_service(r, pkg, fd->service[i], f);
  for (size_t i = 0; rc == 0 && i < fd->n_extension; i++)
    rc = add_extension(r, pkg, fd->extension[i], f);
  return rc;
}

/* Reads a base-128 varint at *p (< end). Returns 0 and advances *p, or -1
 * on truncation or more than 64 bits. */
static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
  uint64_t x = 0;
  for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
    uint8_t b = *(*p)++;
    x |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *v = x;
      return 0;
    }
  }
  return -1;
}

static int file_index(const hs_reflection *r, const char *name, size_t *idx) {
  for (size_t i = 0; i < r->nfiles; i++) {
    if (strcmp(r->files[i].name, name) == 0) {
      *idx = i;
      return 0;
    }
  }
  return -1;
}

static int symbol_cmp(const void *a, const void *b) {
  return strcmp(((const hs_refl_symbol *)a)->name,
                ((const hs_refl_symbol *)b)->name);
}

static int fail(hs_reflection *r, char *err, size_t errlen, const char *what) {
  snprintf(err, errlen, "embedded descriptor set: %s", what);
  hs_reflection_free(r);
  return -1;
}

int hs_reflection_init(hs_reflection *r, const uint8_t *set, size_t len,
                       char *err, size_t errlen) {
  memset(r, 0, sizeof *r);
  /* Pass 1: split the FileDescriptorSet (field 1, repeated
   * FileDescriptorProto) into its files, keeping each one's bytes exactly
   * as protoc wrote them: those are what reflection sends. */
  size_t cap = 0;
  const uint8_t *p = set, *end = set + len;
  while (p < end) {
    uint64_t key, flen;
    if (read_varint(&p, end, &key) < 0 || key != ((1u << 3) | 2u) ||
        read_varint(&p, end, &flen) < 0 || flen > (uint64_t)(end - p))
      return fail(r, err, errlen, "not a FileDescriptorSet");
    if (grow((void **)&r->files, &cap, r->nfiles, sizeof *r->files) < 0)
      return fail(r, err, errlen, "out of memory");
    hs_refl_file *f = &r->files[r->nfiles];
    memset(f, 0, sizeof *f);
    f->data = malloc(flen ? flen : 1);
    if (!f->data)
      return fail(r, err, errlen, "out of memory");
    memcpy(f->data, p, flen);
    f->len = flen;
    r->nfiles++;
    p += flen;
  }
  /* Pass 2: decode each file for its name, imports and symbols. */
  for (size_t i = 0; i < r->nfiles; i++) {
    Google__Protobuf__FileDescriptorProto *fd =
        google__protobuf__file_descriptor_proto__unpack(NULL, r->files[i].len,
                                                        r->files[i].data);
    if (!fd || !fd->name) {
      if (fd)
        google__protobuf__file_descriptor_proto__free_unpacked(fd, NULL);
      return fail(r, err, errlen, "a file does not decode");
    }
    r->files[i].name = qualify("", fd->name);
    int rc = r->files[i].name ? add_file_symbols(r, fd, i) : -1;
    google__protobuf__file_descriptor_proto__free_unpacked(fd, NULL);
    if (rc < 0)
      return fail(r, err, errlen, "out of memory");
  }
  /* Pass 3: imports, by name, now that every file is named. An import we
   * do not have is left out (protoc --include_imports makes that not
   * happen). */
  for (size_t i = 0; i < r->nfiles; i++) {
    Google__Protobuf__FileDescriptorProto *fd =
        google__protobuf__file_descriptor_proto__unpack(NULL, r->files[i].len,
                                                        r->files[i].data);
    if (!fd)
      return fail(r, err, errlen, "a file does not decode");
    r->files[i].deps =
        calloc(fd->n_dependency ? fd->n_dependency : 1, sizeof(size_t));
    int rc = r->files[i].deps ? 0 : -1;
    for (size_t d = 0; rc == 0 && d < fd->n_dependency; d++) {
      size_t idx;
      if (file_index(r, fd->dependency[d], &idx) == 0)
        r->files[i].deps[r->files[i].ndeps++] = idx;
    }
    google__protobuf__file_descriptor_proto__free_unpacked(fd, NULL);
    if (rc < 0)
      return fail(r, err, errlen, "out of memory");
  }
  if (r->nsymbols)
    qsort(r->symbols, r->nsymbols, sizeof *r->symbols, symbol_cmp);
  return 0;
}

void hs_reflection_free(hs_reflection *r) {
  for (size_t i = 0; i < r->nfiles; i++) {
    free(r->files[i].name);
    free(r->files[i].data);
    free(r->files[i].deps);
  }
  free(r->files);
  for (size_t i = 0; i < r->nsymbols; i++)
    free(r->symbols[i].name);
  free(r->symbols);
  for (size_t i = 0; i < r->nexts; i++)
    free(r->exts[i].extendee);
  free(r->exts);
  for (size_t i = 0; i < r->nservices; i++)
    free(r->services[i]);
  free(r->services);
  memset(r, 0, sizeof *r);
}

/* ---- answering ------------------------------------------------------------ */

static const hs_refl_symbol *find_symbol(const hs_reflection *r,
                                         const char *name) {
  if (!r->nsymbols)
    return NULL;
  hs_refl_symbol key = {(char *)name, HS_SYM_OTHER, 0};
  return bsearch(&key, r->symbols, r->nsymbols, sizeof *r->symbols, symbol_cmp);
}

/* The response under construction: everything the packed message points
 * into lives here, on the stack of hs_reflection_answer(). */
typedef struct answer {
  Grpc__Reflection__V1__ServerReflectionResponse resp;
  Grpc__Reflection__V1__FileDescriptorResponse files;
  Grpc__Reflection__V1__ExtensionNumberResponse numbers;
  Grpc__Reflection__V1__ListServiceResponse list;
  Grpc__Reflection__V1__ErrorResponse error;
  char error_text[HS_ERR_NAME_MAX + 64];
  /* Heap parts, freed by answer_free(). */
  ProtobufCBinaryData *blobs;
  int32_t *ext_numbers;
  Grpc__Reflection__V1__ServiceResponse *service_msgs;
  Grpc__Reflection__V1__ServiceResponse **service_ptrs;
} answer;

static void answer_free(answer *a) {
  free(a->blobs);
  free(a->ext_numbers);
  free(a->service_msgs);
  free(a->service_ptrs);
}

static void set_error(answer *a, int code, const char *what, const char *name) {
  snprintf(a->error_text, sizeof a->error_text, "%s not found: %.*s", what,
           HS_ERR_NAME_MAX, name);
  a->error.error_code = code;
  a->error.error_message = a->error_text;
  a->resp.message_response_case = HS_RESP(ERROR_RESPONSE);
  a->resp.error_response = &a->error;
}

/* Answers with file f and the files it imports, transitively, each once
 * (breadth first, f first). Returns 0 or -1 (OOM). */
static int answer_file(const hs_reflection *r, answer *a, size_t f) {
  size_t *order = malloc(r->nfiles * sizeof *order);
  unsigned char *seen = calloc(r->nfiles, 1);
  a->blobs = malloc(r->nfiles * sizeof *a->blobs);
  if (!order || !seen || !a->blobs) {
    free(order);
    free(seen);
    return -1;
  }
  size_t n = 0;
  order[n++] = f;
  seen[f] = 1;
  for (size_t i = 0; i < n; i++) {
    const hs_refl_file *file = &r->files[order[i]];
    for (size_t d = 0; d < file->ndeps; d++) {
      if (!seen[file->deps[d]]) {
        seen[file->deps[d]] = 1;
        order[n++] = file->deps[d];
      }
    }
  }
  for (size_t i = 0; i < n; i++)
    a->blobs[i] =
        (ProtobufCBinaryData){r->files[order[i]].len, r->files[order[i]].data};
  free(order);
  free(seen);
  a->files.n_file_descriptor_proto = n;
  a->files.file_descriptor_proto = a->blobs;
  a->resp.message_response_case = HS_RESP(FILE_DESCRIPTOR_RESPONSE);
  a->resp.file_descriptor_response = &a->files;
  return 0;
}

static int answer_list(const hs_reflection *r, answer *a) {
  size_t n = r->nservices;
  a->service_msgs = calloc(n ? n : 1, sizeof *a->service_msgs);
  a->service_ptrs =
      calloc(n ? n : 1, sizeof(Grpc__Reflection__V1__ServiceResponse *));
  if (!a->service_msgs || !a->service_ptrs)
    return -1;
  for (size_t i = 0; i < n; i++) {
    a->service_msgs[i] = (Grpc__Reflection__V1__ServiceResponse)
        GRPC__REFLECTION__V1__SERVICE_RESPONSE__INIT;
    a->service_msgs[i].name = r->services[i];
    a->service_ptrs[i] = &a->service_msgs[i];
  }
  a->list.n_service = n;
  a->list.service = a->service_ptrs;
  a->resp.message_response_case = HS_RESP(LIST_SERVICES_RESPONSE);
  a->resp.list_services_response = &a->list;
  return 0;
}

static int answer_ext_numbers(const hs_reflection *r, answer *a,
                              const char *type) {
  const hs_refl_symbol *s = find_symbol(r, type);
  if (!s || s->kind != HS_SYM_MESSAGE) {
    set_error(a, HS_NOT_FOUND, "message type", type);
    return 0;
  }
  a->ext_numbers = calloc(r->nexts ? r->nexts : 1, sizeof *a->ext_numbers);
  if (!a->ext_numbers)
    return -1;
  size_t n = 0;
  for (size_t i = 0; i < r->nexts; i++)
    if (strcmp(r->exts[i].extendee, type) == 0)
      a->ext_numbers[n++] = r->exts[i].number;
  a->numbers.base_type_name = (char *)type;
  a->numbers.n_extension_number = n;
  a->numbers.extension_number = a->ext_numbers;
  a->resp.message_response_case = HS_RESP(ALL_EXTENSION_NUMBERS_RESPONSE);
  a->resp.all_extension_numbers_response = &a->numbers;
  return 0;
}

static int answer_extension(const hs_reflection *r, answer *a,
                            const Grpc__Reflection__V1__ExtensionRequest *e) {
  const char *type = e && e->containing_type ? e->containing_type : "";
  for (size_t i = 0; e && i < r->nexts; i++)
    if (r->exts[i].number == e->extension_number &&
        strcmp(r->exts[i].extendee, type) == 0)
      return answer_file(r, a, r->exts[i].file);
  set_error(a, HS_NOT_FOUND, "extension of", type);
  return 0;
}

int hs_reflection_answer(const hs_reflection *r, const uint8_t *req, size_t len,
                         uint8_t **out, size_t *outlen) {
  Grpc__Reflection__V1__ServerReflectionRequest *q =
      grpc__reflection__v1__server_reflection_request__unpack(NULL, len, req);
  if (!q)
    return -1;
  answer a = {
      .resp = GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__INIT,
      .files = GRPC__REFLECTION__V1__FILE_DESCRIPTOR_RESPONSE__INIT,
      .numbers = GRPC__REFLECTION__V1__EXTENSION_NUMBER_RESPONSE__INIT,
      .list = GRPC__REFLECTION__V1__LIST_SERVICE_RESPONSE__INIT,
      .error = GRPC__REFLECTION__V1__ERROR_RESPONSE__INIT,
  };
  /* grpc's reflection echoes the host and the request in every response. */
  a.resp.valid_host = q->host;
  a.resp.original_request = q;
  int rc = 0;
  size_t idx;
  const hs_refl_symbol *sym;
  switch (q->message_request_case) {
  case HS_REQ(FILE_BY_FILENAME):
    if (file_index(r, q->file_by_filename, &idx) == 0)
      rc = answer_file(r, &a, idx);
    else
      set_error(&a, HS_NOT_FOUND, "file", q->file_by_filename);
    break;
  case HS_REQ(FILE_CONTAINING_SYMBOL):
    sym = find_symbol(r, q->file_containing_symbol);
    if (sym)
      rc = answer_file(r, &a, sym->file);
    else
      set_error(&a, HS_NOT_FOUND, "symbol", q->file_containing_symbol);
    break;
  case HS_REQ(FILE_CONTAINING_EXTENSION):
    rc = answer_extension(r, &a, q->file_containing_extension);
    break;
  case HS_REQ(ALL_EXTENSION_NUMBERS_OF_TYPE):
    rc = answer_ext_numbers(r, &a, q->all_extension_numbers_of_type);
    break;
  case HS_REQ(LIST_SERVICES):
    rc = answer_list(r, &a);
    break;
  default:
    /* Empty, or a kind of request newer than this file (an unknown oneof
     * field decodes as none): UNIMPLEMENTED, as grpc C++'s reflection says. */
    snprintf(a.error_text, sizeof a.error_text,
             "unknown or empty reflection request");
    a.error.error_code = HS_UNIMPLEMENTED;
    a.error.error_message = a.error_text;
    a.resp.message_response_case = HS_RESP(ERROR_RESPONSE);
    a.resp.error_response = &a.error;
    break;
  }
  if (rc == 0) {
    *outlen = grpc__reflection__v1__server_reflection_response__get_packed_size(
        &a.resp);
    *out = malloc(*outlen ? *outlen : 1);
    if (*out)
      grpc__reflection__v1__server_reflection_response__pack(&a.resp, *out);
    else
      rc = -1;
  }
  answer_free(&a);
  grpc__reflection__v1__server_reflection_request__free_unpacked(q, NULL);
  return rc;
}

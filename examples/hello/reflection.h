/*
 * gRPC server reflection, the protocol part (no grpc here): an index of the
 * .proto files compiled into hello_server, and the answer to one
 * ServerReflectionRequest. reflection_call.c carries the messages over the
 * ServerReflectionInfo stream.
 *
 * The files come as the FileDescriptorSet that `protoc --include_imports
 * --descriptor_set_out` wrote at build time, embedded by embed.cmake
 * (hs_descriptor_set below). The index is built once, before the workers
 * start, and is read-only afterwards: workers share it without locks.
 */
#ifndef HS_REFLECTION_H
#define HS_REFLECTION_H

#include <stddef.h>
#include <stdint.h>

/* The embedded FileDescriptorSet (generated descriptor_set.c). */
extern const unsigned char hs_descriptor_set[];
extern const size_t hs_descriptor_set_len;

typedef struct hs_refl_file {
  char *name; /* "hello.proto" (owned) */
  uint8_t *
      data; /* the serialized FileDescriptorProto, as protoc wrote it (owned) */
  size_t len;
  size_t *deps; /* indexes of the files it imports that we have (owned) */
  size_t ndeps;
} hs_refl_file;

typedef enum { HS_SYM_MESSAGE, HS_SYM_OTHER } hs_refl_kind;

typedef struct hs_refl_symbol {
  char *name; /* fully qualified, without a leading dot (owned) */
  hs_refl_kind kind;
  size_t file;
} hs_refl_symbol;

typedef struct hs_refl_ext {
  char *extendee; /* fully qualified message, without a leading dot (owned) */
  int32_t number;
  size_t file;
} hs_refl_ext;

typedef struct hs_reflection {
  hs_refl_file *files;
  size_t nfiles;
  hs_refl_symbol *symbols; /* sorted by name, for bsearch */
  size_t nsymbols, capsymbols;
  hs_refl_ext *exts;
  size_t nexts, capexts;
  char **services; /* fully-qualified service names, in file order (owned) */
  size_t nservices, capservices;
} hs_reflection;

/* Builds r from a serialized FileDescriptorSet (borrowed: everything kept
 * is copied). Returns 0, or -1 with a reason in err (r is then freed). */
int hs_reflection_init(hs_reflection *r, const uint8_t *set, size_t len,
                       char *err, size_t errlen);

/* Frees everything r owns. Safe on a zeroed or freed r. */
void hs_reflection_free(hs_reflection *r);

/* Answers one serialized ServerReflectionRequest (v1 and v1alpha are the
 * same bytes). A question without an answer (unknown file or symbol) gets
 * a response carrying an ErrorResponse, as the protocol wants. Returns 0
 * with the serialized ServerReflectionResponse in *out (malloc'ed: the
 * caller owns and frees it) and its size in *outlen; -1 when the request
 * does not decode or memory runs out (the caller ends the stream). */
int hs_reflection_answer(const hs_reflection *r, const uint8_t *req, size_t len,
                         uint8_t **out, size_t *outlen);

#endif

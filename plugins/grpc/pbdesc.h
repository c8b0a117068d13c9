/*
 * pbdesc: protobuf descriptors built at run time, for the gRPC plugin.
 *
 * rpcload never generates code for a user's .proto. A *pool* is made from a
 * FileDescriptorSet (what `protoc --include_imports --descriptor_set_out`
 * writes, or what `--protoset FILE` names), and for every message and enum
 * in it the pool builds the descriptors that protobuf-c's generated code
 * would have held as constants: ProtobufCMessageDescriptor,
 * ProtobufCFieldDescriptor and ProtobufCEnumDescriptor, with a computed C
 * struct layout per message (member offsets, has_/n_ quantifiers, oneof case
 * members and unions, sizeof_message, default values). So
 * protobuf_c_message_pack(), _unpack() and _free_unpacked() work on these
 * messages exactly as on generated ones.
 *
 * The layout follows protoc-c's conventions: proto3 singular fields have no
 * quantifier (PROTOBUF_C_LABEL_NONE); proto2 optional fields and proto3
 * `optional` fields have a protobuf_c_boolean has_ member (none for strings
 * and messages: NULL means absent); repeated fields have a size_t count
 * before the array pointer; each oneof has a uint32_t case member holding
 * the set field's number (0: none) and a union of its members. Map fields
 * are repeated fields of their entry messages (key = 1, value = 2).
 *
 * What protobuf-c does not describe and the JSON mapping needs (json_name,
 * oneof membership, map-ness, well-known types) is in rl__pb_msg_info,
 * reached from a descriptor with rl__pb_msg_info_get().
 *
 * A pool is immutable once made: every function taking a const pool may be
 * called from any number of threads at once. Descriptors and names handed out
 * live as long as the pool. Errors are negative RL_ERR_* codes with a
 * sentence in err (always NUL-terminated when errlen > 0).
 */
#ifndef RL_PBDESC_H
#define RL_PBDESC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <protobuf-c/protobuf-c.h>

typedef struct rl__pb_pool rl__pb_pool;

/* A method of a service in the pool. */
typedef struct rl__pb_method {
  const char *name;      /* "SayHello" */
  const char *service;   /* "locust.hello.HelloService" */
  const char *full_name; /* "locust.hello.HelloService.SayHello" */
  const char *path; /* "/locust.hello.HelloService/SayHello" (gRPC :path) */
  const ProtobufCMessageDescriptor *input;
  const ProtobufCMessageDescriptor *output;
  int client_streaming; /* 1: `stream` request */
  int server_streaming; /* 1: `stream` response */
} rl__pb_method;

/* Well-known types that the JSON mapping writes in their own form. */
enum rl__pb_wkt {
  RL_PB_WKT_NONE = 0,
  RL_PB_WKT_ANY,
  RL_PB_WKT_TIMESTAMP,
  RL_PB_WKT_DURATION,
  RL_PB_WKT_STRUCT,
  RL_PB_WKT_VALUE,
  RL_PB_WKT_LIST_VALUE,
  RL_PB_WKT_FIELD_MASK,
  RL_PB_WKT_WRAPPER /* DoubleValue ... BytesValue: the plain value */
};

/* Per field, parallel to ProtobufCMessageDescriptor.fields (tag order). */
typedef struct rl__pb_field_info {
  const char *json_name; /* lowerCamelCase, or the json_name option */
  int oneof;             /* index into rl__pb_msg_info.oneofs; -1: none */
  int is_map;            /* 1: a map<K, V> (repeated entry messages) */
  int proto3_optional;   /* 1: declared `optional` in a proto3 file */
} rl__pb_field_info;

/* A real oneof (proto3 `optional`'s synthetic oneofs are not listed). */
typedef struct rl__pb_oneof_info {
  const char *name;
  unsigned case_offset; /* the uint32_t case member: set field's number */
} rl__pb_oneof_info;

/* A field name as the JSON mapping accepts it: both json_name and the
 * name in the .proto. Sorted by strcmp(name). */
typedef struct rl__pb_name_index {
  const char *name;
  unsigned field; /* index into desc->fields */
} rl__pb_name_index;

typedef struct rl__pb_msg_info {
  uint32_t magic; /* RL_PB_MSG_INFO_MAGIC */
  const ProtobufCMessageDescriptor *desc;
  const rl__pb_pool *pool;
  const rl__pb_field_info *fields; /* desc->n_fields entries */
  const rl__pb_name_index *names;
  unsigned n_names;
  const rl__pb_oneof_info *oneofs;
  unsigned n_oneofs;
  enum rl__pb_wkt wkt;
  int map_entry;    /* 1: the synthetic entry message of a map field */
  int proto3;       /* 1: defined in a proto3 file */
  const char *file; /* the .proto file's name in the set */
} rl__pb_msg_info;

#define RL_PB_MSG_INFO_MAGIC 0x726c7062u

/*
 * Makes a pool from `len` bytes of a serialized FileDescriptorSet (borrowed
 * for the call). Every type a field or method names must be in the set
 * (make it with --include_imports). Returns 0 and the pool in *out (caller
 * owns; rl__pb_pool_del), or RL_ERR_INVAL with the reason in err ("not a
 * FileDescriptorSet", "field 'a.B.c': type '.x.Y' is not defined", ...), or
 * RL_ERR_NOMEM.
 */
int rl__pb_pool_new_from_descriptor_set(const uint8_t *bytes, size_t len,
                                        rl__pb_pool **out, char *err,
                                        size_t errlen);

/*
 * The same from a descriptor set file (--protoset FILE). RL_ERR_IO when the
 * file cannot be read, naming it and the system's reason.
 */
int rl__pb_pool_new_from_file(const char *path, rl__pb_pool **out, char *err,
                              size_t errlen);

/*
 * Runs protoc on `proto_file` with the `n` import directories (-I, searched
 * in order; all borrowed for the call) and makes a pool from the descriptor
 * set it writes (to a temporary file, removed before returning). When the
 * file lies in none of the directories, its own directory is searched last,
 * so `--proto dir/hello.proto` works alone. protoc is $RPCLOAD_PROTOC or
 * `protoc` from PATH. It blocks until protoc ends: start-up only.
 *
 * When protoc fails, returns RL_ERR_INVAL with protoc's own message in err,
 * verbatim (it names file:line:column: `bad.proto:4:3: Expected ";".`);
 * RL_ERR_NOTFOUND when protoc cannot be started; RL_ERR_IO, RL_ERR_NOMEM.
 */
int rl__pb_pool_new_from_proto(const char *proto_file,
                               const char *const *import_paths, size_t n,
                               rl__pb_pool **out, char *err, size_t errlen);

/* What protoc warned of (an unused import, no syntax line), one line each
 * without its "warning:" label; `line` is borrowed for the call. */
typedef void (*rl__pb_warn_fn)(const char *line, void *arg);

/*
 * rl__pb_pool_new_from_proto, with protoc's warnings apart from its
 * errors: each goes to `warn` (when not NULL), on success as on failure,
 * and err holds only the error lines (all of protoc's output when it
 * failed with warnings alone).
 */
int rl__pb_pool_new_from_proto_warn(const char *proto_file,
                                    const char *const *import_paths, size_t n,
                                    rl__pb_warn_fn warn, void *warn_arg,
                                    rl__pb_pool **out, char *err,
                                    size_t errlen);

/* Frees the pool and every descriptor and name it handed out. NULL is a
 * no-op. Messages of its types must be freed first. */
void rl__pb_pool_del(rl__pb_pool *pool);

/*
 * Finds a method by any of the names users write:
 *   SayHello
 *   HelloService.SayHello
 *   locust.hello.HelloService.SayHello
 *   locust.hello.HelloService/SayHello   (also with a leading '/')
 * Returns 0 and a pointer into the pool in *out, or RL_ERR_NOTFOUND when no
 * method matches and RL_ERR_INVAL when several do; either way err lists the
 * candidates or the methods that exist.
 */
int rl__pb_pool_find_method(const rl__pb_pool *pool, const char *name,
                            const rl__pb_method **out, char *err,
                            size_t errlen);

/* Number of methods in the pool, and the i-th (services in file order,
 * methods in declaration order; owned by the pool); NULL when i is out of
 * range. */
size_t rl__pb_pool_n_methods(const rl__pb_pool *pool);
const rl__pb_method *rl__pb_pool_method(const rl__pb_pool *pool, size_t i);

/* A message or enum by full name ("pkg.Outer.Inner"; a leading '.' is
 * accepted). NULL when absent. Owned by the pool. */
const ProtobufCMessageDescriptor *
rl__pb_pool_find_message(const rl__pb_pool *pool, const char *full_name);
const ProtobufCEnumDescriptor *rl__pb_pool_find_enum(const rl__pb_pool *pool,
                                                     const char *full_name);

/*
 * Prints every service with its methods and their request and response
 * types, one method a line:
 *   locust.hello.HelloService
 *     SayHello(locust.hello.HelloRequest) returns (locust.hello.HelloReply)
 *     Chat(stream x.In) returns (stream x.Out)
 */
void rl__pb_pool_list(const rl__pb_pool *pool, FILE *out);

/* The pool's extra information about a message type it made (owned by the
 * pool); NULL for any other descriptor (generated code's, another
 * library's). */
const rl__pb_msg_info *
rl__pb_msg_info_get(const ProtobufCMessageDescriptor *desc);

/* Index into info->desc->fields of the field named `name` (json_name or
 * .proto name, `len` bytes), or -1. */
int rl__pb_msg_find_field(const rl__pb_msg_info *info, const char *name,
                          size_t len);

#endif /* RL_PBDESC_H */

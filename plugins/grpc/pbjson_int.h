/*
 * pbjson's internals, shared by pbjson.c (the general mapping) and pbwkt.c
 * (the well-known types' own JSON forms). Not for other users.
 */
#ifndef RL_PBJSON_INT_H
#define RL_PBJSON_INT_H

#include <stddef.h>

#include <jansson.h>

#include "lib/buf.h"
#include "pbjson.h"

/* Deeper nesting than this is refused (protobuf's own limit). */
#define RL_PBJ_MAX_DEPTH 100

/* One conversion, either direction. */
typedef struct rl__pbj {
  const rl__pb_pool *pool; /* for Any's @type */
  char *err;
  size_t errlen;
  char path[256]; /* the field being converted: "user.tags[2]" */
  size_t plen;
  int depth;
  rl__buf out; /* to_json's output */
  unsigned flags;
  int indent;
  int first; /* nothing written yet in the innermost object or array */
} rl__pbj;

/* Path bookkeeping: push returns the length to restore with pop. */
size_t rl__pbj_push_field(rl__pbj *c, const char *name);
size_t rl__pbj_push_index(rl__pbj *c, size_t i);
size_t rl__pbj_push_key(rl__pbj *c, const char *key);
void rl__pbj_pop(rl__pbj *c, size_t saved);

/* Sets err to "field 'PATH': WHY" (or WHY at the top) and returns
 * RL_ERR_INVAL. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 2, 3)))
#endif
int rl__pbj_fail(rl__pbj *c, const char *fmt, ...);
int rl__pbj_nomem(rl__pbj *c);

/* "string \"x\"", "number 1.5", "an object", ... for error messages. */
const char *rl__pbj_describe(const json_t *v, char *buf, size_t n);
/* The value as written, for "X is out of range": 300, "300". */
const char *rl__pbj_value_text(const json_t *v, char *buf, size_t n);

/* Marks a singular field present (has_ member, oneof case). */
void rl__pbj_mark_present(ProtobufCMessage *msg,
                          const ProtobufCFieldDescriptor *fd);

/* Fills `msg` (fresh, of info's type) from v. in_any: v is an Any's object,
 * whose "@type" member is not a field. */
int rl__pbj_fill(rl__pbj *c, const rl__pb_msg_info *info, ProtobufCMessage *msg,
                 const json_t *v, int in_any);

/* Sets field fd of msg (not yet set) from v, any label. */
int rl__pbj_set_field(rl__pbj *c, ProtobufCMessage *msg,
                      const ProtobufCFieldDescriptor *fd, const json_t *v);

/* Field of a well-known type by number, checked to have the expected type
 * (NULL, with err set, when the pool's copy differs). */
const ProtobufCFieldDescriptor *rl__pbj_wkt_field(rl__pbj *c,
                                                  const rl__pb_msg_info *info,
                                                  unsigned id,
                                                  ProtobufCType type);

/* The well-known types' JSON forms (info->wkt != RL_PB_WKT_NONE). */
int rl__pbj_wkt_from_json(rl__pbj *c, const rl__pb_msg_info *info,
                          ProtobufCMessage *msg, const json_t *v);
int rl__pbj_wkt_to_json(rl__pbj *c, const rl__pb_msg_info *info,
                        const ProtobufCMessage *msg);

/* Output helpers for to_json. */
void rl__pbj_put(rl__pbj *c, const char *s, size_t n);
void rl__pbj_puts(rl__pbj *c, const char *s);
void rl__pbj_put_string(rl__pbj *c, const char *s, size_t n); /* quoted */
void rl__pbj_open(rl__pbj *c, char brace);                    /* '{' or '[' */
void rl__pbj_close(rl__pbj *c, char brace);                   /* '}' or ']' */
void rl__pbj_key(rl__pbj *c, const char *key);
void rl__pbj_elem(rl__pbj *c); /* before an array element */
/* A singular value of field fd at `member` (a message, a scalar). */
int rl__pbj_emit_value(rl__pbj *c, const ProtobufCFieldDescriptor *fd,
                       const void *member);
int rl__pbj_emit_message(rl__pbj *c, const ProtobufCMessage *msg);
/* A message's members without the braces (Any adds "@type" to them). */
int rl__pbj_emit_fields(rl__pbj *c, const rl__pb_msg_info *info,
                        const ProtobufCMessage *msg);
/* A repeated field or a map, whole. */
int rl__pbj_emit_field(rl__pbj *c, const ProtobufCMessage *msg,
                       const ProtobufCFieldDescriptor *fd,
                       const rl__pb_field_info *fi);

#endif /* RL_PBJSON_INT_H */

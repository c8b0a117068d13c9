/*
 * pbdesc: protobuf-c descriptors built at run time from a FileDescriptorSet.
 *
 * The set is decoded with code protoc-c generated from descriptor.proto at
 * build time; then, in four passes so that every reference can be resolved
 * whatever the order of files: (1) every message and enum gets its name
 * and its (still empty) descriptor, so that fields can point at it; (2)
 * enums are filled in; (3) messages: fields, layout, lookup tables; (4)
 * services and methods. Everything the pool makes lives in one arena and
 * the decoded set (whose strings the descriptors borrow) is kept until
 * rl__pb_pool_del.
 */
#include "pbdesc.h"

#include <errno.h>
#include <fcntl.h>
#include <google/protobuf/descriptor.pb-c.h>
#include <limits.h>
#include <math.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rpcload/plugin.h>

#include "lib/buf.h"

typedef Google__Protobuf__FileDescriptorSet pb_file_set;
typedef Google__Protobuf__FileDescriptorProto pb_file_proto;
typedef Google__Protobuf__DescriptorProto pb_msg_proto;
typedef Google__Protobuf__FieldDescriptorProto pb_field_proto;
typedef Google__Protobuf__EnumDescriptorProto pb_enum_proto;
typedef Google__Protobuf__ServiceDescriptorProto pb_service_proto;

/* ---- arena: everything a pool makes, freed at once ---------------------- */

typedef struct arena_chunk {
  struct arena_chunk *next;
  size_t used, size;
  max_align_t data[];
} arena_chunk;

#define ARENA_CHUNK_SIZE ((size_t)32 * 1024)

/* Zeroed, max_align_t-aligned memory that lives until the pool is freed. */
static void *arena_alloc(arena_chunk **arena, size_t size) {
  size_t align = _Alignof(max_align_t);
  size = (size + align - 1) & ~(align - 1);
  if (size == 0)
    size = align;
  arena_chunk *c = *arena;
  if (c == NULL || c->size - c->used < size) {
    size_t cap = size > ARENA_CHUNK_SIZE ? size : ARENA_CHUNK_SIZE;
    c = calloc(1, sizeof *c + cap);
    if (c == NULL)
      return NULL;
    c->size = cap;
    c->next = *arena;
    *arena = c;
  }
  void *p = (char *)c->data + c->used;
  c->used += size;
  return p;
}

static void arena_free(arena_chunk *c) {
  while (c != NULL) {
    arena_chunk *next = c->next;
    free(c);
    c = next;
  }
}

/* ---- the pool ----------------------------------------------------------- */

typedef struct pb_msg {
  ProtobufCMessageDescriptor desc;
  rl__pb_msg_info info;
  const pb_msg_proto *proto;
  const pb_file_proto *file;
} pb_msg;

typedef struct pb_enum {
  ProtobufCEnumDescriptor desc;
  const pb_enum_proto *proto;
} pb_enum;

typedef struct name_entry {
  const char *name; /* full name, no leading '.' */
  pb_msg *msg;      /* exactly one of msg, en is set */
  pb_enum *en;
} name_entry;

struct rl__pb_pool {
  pb_file_set *set;
  arena_chunk *arena;
  name_entry *names; /* sorted by name once pass 1 is done */
  size_t n_names, cap_names;
  rl__pb_method *methods;
  size_t n_methods;
};

/* The build's state: where to write the error. */
typedef struct build {
  rl__pb_pool *pool;
  char *err;
  size_t errlen;
} build;

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 2, 3)))
#endif
static int
fail(build *b, const char *fmt, ...) {
  if (b->errlen > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->err, b->errlen, fmt, ap);
    va_end(ap);
  }
  return RL_ERR_INVAL;
}

static int nomem(build *b) {
  if (b->errlen > 0)
    snprintf(b->err, b->errlen, "out of memory");
  return RL_ERR_NOMEM;
}

static void *alloc(build *b, size_t size) {
  return arena_alloc(&b->pool->arena, size);
}

/* "a" + "." + "b" in the arena ("b" alone when a is empty). */
static char *join_name(build *b, const char *a, const char *sep,
                       const char *c) {
  if (a == NULL || a[0] == '\0')
    a = sep = "";
  size_t n = strlen(a) + strlen(sep) + strlen(c) + 1;
  char *s = alloc(b, n);
  if (s != NULL)
    snprintf(s, n, "%s%s%s", a, sep, c);
  return s;
}

/* ---- pass 1: names --------------------------------------------------------
 */

static int add_name(build *b, const char *name, pb_msg *msg, pb_enum *en) {
  rl__pb_pool *p = b->pool;
  if (p->n_names == p->cap_names) {
    size_t cap = p->cap_names ? p->cap_names * 2 : 64;
    name_entry *n = realloc(p->names, cap * sizeof *n);
    if (n == NULL)
      return nomem(b);
    p->names = n;
    p->cap_names = cap;
  }
  p->names[p->n_names++] = (name_entry){.name = name, .msg = msg, .en = en};
  return 0;
}

static int add_enum(build *b, const char *scope, const char *package,
                    const pb_enum_proto *ep) {
  if (ep->name == NULL || ep->name[0] == '\0')
    return fail(b, "descriptor set: an enum in '%s' has no name",
                scope[0] ? scope : "(top level)");
  pb_enum *e = alloc(b, sizeof *e);
  char *name = e ? join_name(b, scope, ".", ep->name) : NULL;
  if (name == NULL)
    return nomem(b);
  e->proto = ep;
  e->desc.magic = PROTOBUF_C__ENUM_DESCRIPTOR_MAGIC;
  e->desc.name = name;
  e->desc.short_name = ep->name;
  e->desc.c_name = name;
  e->desc.package_name = package;
  return add_name(b, name, NULL, e);
}

static int add_message(build *b, const pb_file_proto *file, const char *scope,
                       const char *package, const pb_msg_proto *mp) {
  if (mp->name == NULL || mp->name[0] == '\0')
    return fail(b, "descriptor set: a message in '%s' has no name",
                scope[0] ? scope : "(top level)");
  pb_msg *m = alloc(b, sizeof *m);
  char *name = m ? join_name(b, scope, ".", mp->name) : NULL;
  if (name == NULL)
    return nomem(b);
  m->proto = mp;
  m->file = file;
  m->desc.magic = PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC;
  m->desc.name = name;
  m->desc.short_name = mp->name;
  m->desc.c_name = name;
  m->desc.package_name = package;
  /* message_init stays NULL: protobuf-c then initialises from the field
   * descriptors' default values, which is all a run-time type can offer
   * (rl__pb_message_new does the same). reserved1 carries our extra
   * information (rl__pb_msg_info_get); the runtime never reads it. */
  m->desc.reserved1 = &m->info;
  m->info.magic = RL_PB_MSG_INFO_MAGIC;
  m->info.desc = &m->desc;
  m->info.pool = b->pool;
  m->info.file = file->name != NULL ? file->name : "";
  int rc = add_name(b, name, m, NULL);
  for (size_t i = 0; rc == 0 && i < mp->n_nested_type; i++)
    rc = add_message(b, file, name, package, mp->nested_type[i]);
  for (size_t i = 0; rc == 0 && i < mp->n_enum_type; i++)
    rc = add_enum(b, name, package, mp->enum_type[i]);
  return rc;
}

static int cmp_name_entry(const void *a, const void *b) {
  return strcmp(((const name_entry *)a)->name, ((const name_entry *)b)->name);
}

static const name_entry *lookup(const rl__pb_pool *p, const char *name) {
  if (name == NULL || p->n_names == 0)
    return NULL;
  if (name[0] == '.')
    name++;
  name_entry key = {.name = name};
  return bsearch(&key, p->names, p->n_names, sizeof *p->names, cmp_name_entry);
}

/*
 * Resolves a type name as protoc does: a leading '.' means fully
 * qualified; otherwise it is looked up in `scope` (a message's full name),
 * then in each enclosing scope out to the root. protoc writes fully
 * qualified names; the rest is for hand-made sets.
 */
static const name_entry *resolve(build *b, const char *scope,
                                 const char *name) {
  if (name == NULL || name[0] == '\0')
    return NULL;
  if (name[0] == '.')
    return lookup(b->pool, name + 1);
  size_t ls = strlen(scope), ln = strlen(name);
  char *buf = malloc(ls + ln + 2);
  if (buf == NULL)
    return NULL;
  const name_entry *e = NULL;
  for (;;) {
    if (ls > 0)
      snprintf(buf, ls + ln + 2, "%.*s.%s", (int)ls, scope, name);
    else
      snprintf(buf, ls + ln + 2, "%s", name);
    e = lookup(b->pool, buf);
    if (e != NULL || ls == 0)
      break;
    while (ls > 0 && scope[ls - 1] != '.')
      ls--;
    if (ls > 0)
      ls--; /* drop the '.' */
  }
  free(buf);
  return e;
}

/* ---- pass 2: enums ---------------------------------------------------------
 */

/* An enum value's number and declaration index, to sort by both. */
typedef struct value_order {
  int32_t number;
  unsigned decl;
} value_order;

static int cmp_value_order(const void *a, const void *b) {
  const value_order *x = a, *y = b;
  if (x->number != y->number)
    return x->number < y->number ? -1 : 1;
  return x->decl < y->decl ? -1 : (x->decl > y->decl);
}

static int cmp_enum_value(const void *key, const void *elem) {
  int32_t k = *(const int32_t *)key,
          v = ((const ProtobufCEnumValue *)elem)->value;
  return k < v ? -1 : (k > v);
}

static int cmp_value_index(const void *a, const void *b) {
  return strcmp(((const ProtobufCEnumValueIndex *)a)->name,
                ((const ProtobufCEnumValueIndex *)b)->name);
}

/*
 * protobuf-c's enum tables: values[] holds each distinct number once (the
 * first name declared for it), sorted by number; values_by_name[] every
 * name, aliases too, sorted by name; value_ranges[] the runs of
 * consecutive numbers in values[].
 */
static int build_enum(build *b, pb_enum *e) {
  const pb_enum_proto *ep = e->proto;
  size_t n = ep->n_value;
  if (n > INT_MAX)
    return fail(b, "descriptor set: enum '%s' has too many values",
                e->desc.name);
  ProtobufCEnumValue *values = alloc(b, (n ? n : 1) * sizeof *values);
  ProtobufCEnumValueIndex *by_name = alloc(b, (n ? n : 1) * sizeof *by_name);
  ProtobufCIntRange *ranges = alloc(b, (n + 1) * sizeof *ranges);
  value_order *order = calloc(n ? n : 1, sizeof *order);
  if (values == NULL || by_name == NULL || ranges == NULL || order == NULL) {
    free(order);
    return nomem(b);
  }
  for (size_t i = 0; i < n; i++) {
    if (ep->value[i]->name == NULL) {
      free(order);
      return fail(b, "descriptor set: a value of enum '%s' has no name",
                  e->desc.name);
    }
    order[i] = (value_order){ep->value[i]->number, (unsigned)i};
  }
  qsort(order, n, sizeof *order, cmp_value_order);
  size_t nv = 0;
  for (size_t i = 0; i < n; i++) {
    if (nv > 0 && values[nv - 1].value == order[i].number)
      continue;
    const char *name = ep->value[order[i].decl]->name;
    values[nv++] = (ProtobufCEnumValue){name, name, order[i].number};
  }
  free(order);
  for (size_t i = 0; i < n; i++) {
    const ProtobufCEnumValue *v = bsearch(&ep->value[i]->number, values, nv,
                                          sizeof *values, cmp_enum_value);
    by_name[i] = (ProtobufCEnumValueIndex){.name = ep->value[i]->name,
                                           .index = (unsigned)(v - values)};
  }
  qsort(by_name, n, sizeof *by_name, cmp_value_index);
  size_t nr = 0;
  for (size_t i = 0; i < nv; i++) {
    if (i == 0 || values[i].value != values[i - 1].value + 1)
      ranges[nr++] = (ProtobufCIntRange){values[i].value, (unsigned)i};
  }
  /* The runtime reads the next range's orig_index to size the last one. */
  ranges[nr] = (ProtobufCIntRange){0, (unsigned)nv};
  e->desc.n_values = (unsigned)nv;
  e->desc.values = values;
  e->desc.n_value_names = (unsigned)n;
  e->desc.values_by_name = by_name;
  e->desc.n_value_ranges = (unsigned)nr;
  e->desc.value_ranges = ranges;
  return 0;
}

/* ---- pass 3: messages -------------------------------------------------- */

static const struct {
  const char *name;
  enum rl__pb_wkt wkt;
} wkt_names[] = {
    {"google.protobuf.Any", RL_PB_WKT_ANY},
    {"google.protobuf.Timestamp", RL_PB_WKT_TIMESTAMP},
    {"google.protobuf.Duration", RL_PB_WKT_DURATION},
    {"google.protobuf.Struct", RL_PB_WKT_STRUCT},
    {"google.protobuf.Value", RL_PB_WKT_VALUE},
    {"google.protobuf.ListValue", RL_PB_WKT_LIST_VALUE},
    {"google.protobuf.FieldMask", RL_PB_WKT_FIELD_MASK},
    {"google.protobuf.DoubleValue", RL_PB_WKT_WRAPPER},
    {"google.protobuf.FloatValue", RL_PB_WKT_WRAPPER},
    {"google.protobuf.Int64Value", RL_PB_WKT_WRAPPER},
    {"google.protobuf.UInt64Value", RL_PB_WKT_WRAPPER},
    {"google.protobuf.Int32Value", RL_PB_WKT_WRAPPER},
    {"google.protobuf.UInt32Value", RL_PB_WKT_WRAPPER},
    {"google.protobuf.BoolValue", RL_PB_WKT_WRAPPER},
    {"google.protobuf.StringValue", RL_PB_WKT_WRAPPER},
    {"google.protobuf.BytesValue", RL_PB_WKT_WRAPPER},
};

#define FDP_TYPE(x) GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_##x

/* descriptor.proto's field type to protobuf-c's; -1 for TYPE_GROUP (which
 * protobuf-c cannot encode) and for types newer than this code. */
static int map_type(int t, ProtobufCType *out) {
  static const struct {
    int proto;
    ProtobufCType c;
  } types[] = {
      {FDP_TYPE(DOUBLE), PROTOBUF_C_TYPE_DOUBLE},
      {FDP_TYPE(FLOAT), PROTOBUF_C_TYPE_FLOAT},
      {FDP_TYPE(INT64), PROTOBUF_C_TYPE_INT64},
      {FDP_TYPE(UINT64), PROTOBUF_C_TYPE_UINT64},
      {FDP_TYPE(INT32), PROTOBUF_C_TYPE_INT32},
      {FDP_TYPE(FIXED64), PROTOBUF_C_TYPE_FIXED64},
      {FDP_TYPE(FIXED32), PROTOBUF_C_TYPE_FIXED32},
      {FDP_TYPE(BOOL), PROTOBUF_C_TYPE_BOOL},
      {FDP_TYPE(STRING), PROTOBUF_C_TYPE_STRING},
      {FDP_TYPE(MESSAGE), PROTOBUF_C_TYPE_MESSAGE},
      {FDP_TYPE(BYTES), PROTOBUF_C_TYPE_BYTES},
      {FDP_TYPE(UINT32), PROTOBUF_C_TYPE_UINT32},
      {FDP_TYPE(ENUM), PROTOBUF_C_TYPE_ENUM},
      {FDP_TYPE(SFIXED32), PROTOBUF_C_TYPE_SFIXED32},
      {FDP_TYPE(SFIXED64), PROTOBUF_C_TYPE_SFIXED64},
      {FDP_TYPE(SINT32), PROTOBUF_C_TYPE_SINT32},
      {FDP_TYPE(SINT64), PROTOBUF_C_TYPE_SINT64},
  };
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    if (types[i].proto == t) {
      *out = types[i].c;
      return 0;
    }
  }
  return -1;
}

/* Size and alignment of one value of a type, as protobuf-c lays it out. */
static void type_layout(ProtobufCType t, size_t *size, size_t *align) {
  switch (t) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
  case PROTOBUF_C_TYPE_ENUM:
    *size = sizeof(int32_t);
    *align = _Alignof(int32_t);
    return;
  case PROTOBUF_C_TYPE_FLOAT:
    *size = sizeof(float);
    *align = _Alignof(float);
    return;
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    *size = sizeof(int64_t);
    *align = _Alignof(int64_t);
    return;
  case PROTOBUF_C_TYPE_DOUBLE:
    *size = sizeof(double);
    *align = _Alignof(double);
    return;
  case PROTOBUF_C_TYPE_BOOL:
    *size = sizeof(protobuf_c_boolean);
    *align = _Alignof(protobuf_c_boolean);
    return;
  case PROTOBUF_C_TYPE_BYTES:
    *size = sizeof(ProtobufCBinaryData);
    *align = _Alignof(ProtobufCBinaryData);
    return;
  case PROTOBUF_C_TYPE_STRING:
  case PROTOBUF_C_TYPE_MESSAGE:
  default:
    *size = sizeof(void *);
    *align = _Alignof(void *);
    return;
  }
}

static size_t align_up(size_t off, size_t align) {
  return (off + align - 1) & ~(align - 1);
}

/* Places a member of `size` bytes at the next `align` boundary. */
static size_t place(size_t *off, size_t *max_align, size_t size, size_t align) {
  *off = align_up(*off, align);
  size_t at = *off;
  *off += size;
  if (align > *max_align)
    *max_align = align;
  return at;
}

/* protoc's json_name for a field without one: lowerCamelCase. */
static char *json_name_of(build *b, const char *name) {
  size_t n = strlen(name);
  char *s = alloc(b, n + 1);
  if (s == NULL)
    return NULL;
  size_t j = 0;
  int upper = 0;
  for (size_t i = 0; i < n; i++) {
    if (name[i] == '_') {
      upper = 1;
    } else if (upper) {
      char ch = name[i];
      if (ch >= 'a' && ch <= 'z')
        ch = (char)(ch - 'a' + 'A');
      s[j++] = ch;
      upper = 0;
    } else {
      s[j++] = name[i];
    }
  }
  s[j] = '\0';
  return s;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* A bytes default as protoc writes it: C escapes (\n, \123, \x7f). */
static int unescape_bytes(build *b, const char *s, ProtobufCBinaryData *out) {
  size_t n = strlen(s);
  uint8_t *d = alloc(b, n + 1);
  if (d == NULL)
    return nomem(b);
  size_t j = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] != '\\' || i + 1 == n) {
      d[j++] = (uint8_t)s[i];
      continue;
    }
    char c = s[++i];
    if (c >= '0' && c <= '7') {
      unsigned v = 0;
      for (int k = 0; k < 3 && i < n && s[i] >= '0' && s[i] <= '7'; k++)
        v = v * 8 + (unsigned)(s[i++] - '0');
      i--;
      d[j++] = (uint8_t)v;
    } else if (c == 'x' && i + 1 < n && hexval(s[i + 1]) >= 0) {
      unsigned v = 0;
      while (i + 1 < n && hexval(s[i + 1]) >= 0)
        v = v * 16 + (unsigned)hexval(s[++i]);
      d[j++] = (uint8_t)v;
    } else {
      static const char from[] = "abfnrtv", to[] = "\a\b\f\n\r\t\v";
      const char *p = strchr(from, c);
      d[j++] = (uint8_t)(p != NULL && c != '\0' ? to[p - from] : c);
    }
  }
  out->len = j;
  out->data = d;
  return 0;
}

/* A proto2 [default = ...] as the value protobuf-c's init copies. */
static int parse_default(build *b, const char *field_name,
                         const pb_field_proto *fp, ProtobufCType t,
                         const ProtobufCEnumDescriptor *ed, const void **out) {
  const char *s = fp->default_value;
  char *end = NULL;
  errno = 0;
  switch (t) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32: {
    long long v = strtoll(s, &end, 0);
    int32_t *p = alloc(b, sizeof *p);
    if (p == NULL)
      return nomem(b);
    if (errno || *end || end == s || v < INT32_MIN || v > INT32_MAX)
      break;
    *p = (int32_t)v;
    *out = p;
    return 0;
  }
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32: {
    unsigned long long v = strtoull(s, &end, 0);
    uint32_t *p = alloc(b, sizeof *p);
    if (p == NULL)
      return nomem(b);
    if (errno || *end || end == s || s[0] == '-' || v > UINT32_MAX)
      break;
    *p = (uint32_t)v;
    *out = p;
    return 0;
  }
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64: {
    long long v = strtoll(s, &end, 0);
    int64_t *p = alloc(b, sizeof *p);
    if (p == NULL)
      return nomem(b);
    if (errno || *end || end == s)
      break;
    *p = v;
    *out = p;
    return 0;
  }
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64: {
    unsigned long long v = strtoull(s, &end, 0);
    uint64_t *p = alloc(b, sizeof *p);
    if (p == NULL)
      return nomem(b);
    if (errno || *end || end == s || s[0] == '-')
      break;
    *p = v;
    *out = p;
    return 0;
  }
  case PROTOBUF_C_TYPE_FLOAT:
  case PROTOBUF_C_TYPE_DOUBLE: {
    double v;
    if (strcmp(s, "inf") == 0)
      v = HUGE_VAL;
    else if (strcmp(s, "-inf") == 0)
      v = -HUGE_VAL;
    else if (strcmp(s, "nan") == 0)
      v = NAN;
    else {
      v = strtod(s, &end);
      if (*end || end == s)
        break;
    }
    if (t == PROTOBUF_C_TYPE_FLOAT) {
      float *p = alloc(b, sizeof *p);
      if (p == NULL)
        return nomem(b);
      *p = (float)v;
      *out = p;
    } else {
      double *p = alloc(b, sizeof *p);
      if (p == NULL)
        return nomem(b);
      *p = v;
      *out = p;
    }
    return 0;
  }
  case PROTOBUF_C_TYPE_BOOL: {
    protobuf_c_boolean *p = alloc(b, sizeof *p);
    if (p == NULL)
      return nomem(b);
    if (strcmp(s, "true") != 0 && strcmp(s, "false") != 0)
      break;
    *p = strcmp(s, "true") == 0;
    *out = p;
    return 0;
  }
  case PROTOBUF_C_TYPE_STRING:
    /* Borrowed from the decoded set, which the pool keeps. */
    *out = s;
    return 0;
  case PROTOBUF_C_TYPE_BYTES: {
    ProtobufCBinaryData *p = alloc(b, sizeof *p);
    if (p == NULL)
      return nomem(b);
    int rc = unescape_bytes(b, s, p);
    if (rc)
      return rc;
    *out = p;
    return 0;
  }
  case PROTOBUF_C_TYPE_ENUM: {
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value_by_name(ed, s);
    if (v == NULL)
      break;
    int32_t *p = alloc(b, sizeof *p);
    if (p == NULL)
      return nomem(b);
    *p = v->value;
    *out = p;
    return 0;
  }
  case PROTOBUF_C_TYPE_MESSAGE:
  default:
    break;
  }
  return fail(b, "descriptor set: field '%s': bad default value '%s'",
              field_name, s);
}

static int cmp_name_index(const void *a, const void *b) {
  return strcmp(((const rl__pb_name_index *)a)->name,
                ((const rl__pb_name_index *)b)->name);
}

/* What pass 3 knows of one declared field before the layout. */
typedef struct field_plan {
  const pb_field_proto *fp;
  ProtobufCType type;
  ProtobufCLabel label;
  int oneof;    /* real oneof index (into the message's list), -1: none */
  int has;      /* 1: a protobuf_c_boolean has_ member */
  unsigned off; /* member offset */
  unsigned qoff;
} field_plan;

typedef struct sort_item {
  uint32_t number;
  unsigned decl; /* declaration index */
} sort_item;

static int cmp_sort_item(const void *a, const void *b) {
  const sort_item *x = a, *y = b;
  return x->number < y->number ? -1 : (x->number > y->number);
}

/* Field indices sorted by name need the fields: qsort has no context, so
 * the names are sorted with their indices. */
typedef struct name_sort {
  const char *name;
  unsigned index;
} name_sort;

static int cmp_name_sort(const void *a, const void *b) {
  return strcmp(((const name_sort *)a)->name, ((const name_sort *)b)->name);
}

static int is_packable(ProtobufCType t) {
  return t != PROTOBUF_C_TYPE_STRING && t != PROTOBUF_C_TYPE_BYTES &&
         t != PROTOBUF_C_TYPE_MESSAGE;
}

/* Works out type, label, referenced descriptor, default and flags of one
 * field (everything but its place in the struct). */
static int plan_field(build *b, pb_msg *m, const pb_field_proto *fp,
                      const int *real_oneof, size_t n_oneofs, int proto3,
                      field_plan *plan, ProtobufCFieldDescriptor *fd,
                      rl__pb_field_info *fi) {
  const char *mname = m->desc.name;
  if (fp->name == NULL || fp->name[0] == '\0')
    return fail(b, "descriptor set: a field of '%s' has no name", mname);
  char *full = join_name(b, mname, ".", fp->name);
  if (full == NULL)
    return nomem(b);
  if (!fp->has_number || fp->number < 1 || fp->number > 536870911)
    return fail(b, "descriptor set: field '%s' has no valid number", full);
  plan->fp = fp;
  plan->oneof = -1;

  const void *sub = NULL;
  int ptype = fp->has_type ? (int)fp->type : 0;
  if (fp->type_name != NULL && fp->type_name[0] != '\0') {
    const name_entry *e = resolve(b, mname, fp->type_name);
    if (e == NULL)
      return fail(b,
                  "descriptor set: field '%s': type '%s' is not defined (a "
                  "file missing from the set? protoc needs --include_imports)",
                  full, fp->type_name);
    if (e->msg != NULL) {
      sub = &e->msg->desc;
      if (ptype == 0)
        ptype = FDP_TYPE(MESSAGE);
    } else {
      sub = &e->en->desc;
      if (ptype == 0)
        ptype = FDP_TYPE(ENUM);
    }
    if ((ptype == FDP_TYPE(MESSAGE) && e->msg == NULL) ||
        (ptype == FDP_TYPE(ENUM) && e->en == NULL))
      return fail(b, "descriptor set: field '%s': '%s' is not %s", full,
                  fp->type_name, e->msg == NULL ? "a message" : "an enum");
  }
  if (ptype == FDP_TYPE(GROUP))
    return fail(b,
                "descriptor set: field '%s': groups are not supported "
                "(protobuf-c cannot encode them)",
                full);
  if (map_type(ptype, &plan->type) != 0)
    return fail(b, "descriptor set: field '%s' has an unknown type (%d)", full,
                ptype);
  if ((plan->type == PROTOBUF_C_TYPE_MESSAGE ||
       plan->type == PROTOBUF_C_TYPE_ENUM) &&
      sub == NULL)
    return fail(b, "descriptor set: field '%s' names no type", full);

  int label =
      fp->has_label
          ? (int)fp->label
          : GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_OPTIONAL;
  int in_oneof = fp->has_oneof_index && fp->oneof_index >= 0 &&
                 (size_t)fp->oneof_index < n_oneofs &&
                 real_oneof[fp->oneof_index] >= 0;
  if (fp->has_oneof_index &&
      (fp->oneof_index < 0 || (size_t)fp->oneof_index >= n_oneofs))
    return fail(b, "descriptor set: field '%s' names oneof %d of %zu", full,
                (int)fp->oneof_index, n_oneofs);
  uint32_t flags = 0;
  if (label ==
      GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REPEATED) {
    plan->label = PROTOBUF_C_LABEL_REPEATED;
    int packed = proto3;
    if (fp->options != NULL && fp->options->has_packed)
      packed = fp->options->packed;
    if (packed && is_packable(plan->type))
      flags |= PROTOBUF_C_FIELD_FLAG_PACKED;
  } else if (label ==
             GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REQUIRED) {
    plan->label = PROTOBUF_C_LABEL_REQUIRED;
  } else if (in_oneof) {
    plan->label = proto3 ? PROTOBUF_C_LABEL_NONE : PROTOBUF_C_LABEL_OPTIONAL;
    plan->oneof = real_oneof[fp->oneof_index];
    flags |= PROTOBUF_C_FIELD_FLAG_ONEOF;
  } else if (proto3 && !fp->proto3_optional) {
    plan->label = PROTOBUF_C_LABEL_NONE;
  } else {
    /* proto2 optional, or proto3 `optional`: explicit presence, which
     * protobuf-c keeps in a has_ member (NULL pointer for strings and
     * messages), exactly as for proto2. */
    plan->label = PROTOBUF_C_LABEL_OPTIONAL;
    plan->has = plan->type != PROTOBUF_C_TYPE_STRING &&
                plan->type != PROTOBUF_C_TYPE_MESSAGE;
  }
  if (fp->options != NULL && fp->options->has_deprecated &&
      fp->options->deprecated)
    flags |= PROTOBUF_C_FIELD_FLAG_DEPRECATED;

  const void *def = NULL;
  if (plan->label != PROTOBUF_C_LABEL_REPEATED && plan->oneof < 0) {
    if (fp->default_value != NULL && !proto3) {
      int rc = parse_default(b, full, fp, plan->type, sub, &def);
      if (rc)
        return rc;
    } else if (plan->type == PROTOBUF_C_TYPE_STRING &&
               plan->label == PROTOBUF_C_LABEL_NONE) {
      /* As protoc-c: an unset proto3 string reads as "" (never NULL). */
      def = protobuf_c_empty_string;
    } else if (plan->type == PROTOBUF_C_TYPE_ENUM && !proto3) {
      /* A proto2 enum's default is its first declared value. */
      const ProtobufCEnumDescriptor *ed = sub;
      const pb_enum *pe = (const pb_enum *)ed;
      if (pe->proto->n_value > 0 && pe->proto->value[0]->number != 0) {
        int32_t *p = alloc(b, sizeof *p);
        if (p == NULL)
          return nomem(b);
        *p = pe->proto->value[0]->number;
        def = p;
      }
    }
  }

  *fd = (ProtobufCFieldDescriptor){
      .name = fp->name,
      .id = (uint32_t)fp->number,
      .label = plan->label,
      .type = plan->type,
      .descriptor = sub,
      .default_value = def,
      .flags = flags,
  };
  fi->oneof = plan->oneof;
  fi->proto3_optional = fp->proto3_optional ? 1 : 0;
  fi->json_name =
      fp->json_name != NULL ? fp->json_name : json_name_of(b, fp->name);
  if (fi->json_name == NULL)
    return nomem(b);
  if (plan->label == PROTOBUF_C_LABEL_REPEATED &&
      plan->type == PROTOBUF_C_TYPE_MESSAGE) {
    const pb_msg *em = (const pb_msg *)sub;
    fi->is_map = em->proto->options != NULL &&
                 em->proto->options->has_map_entry &&
                 em->proto->options->map_entry;
  }
  return 0;
}

static int build_message(build *b, pb_msg *m) {
  const pb_msg_proto *mp = m->proto;
  const char *syntax = m->file->syntax;
  int proto3 = syntax != NULL && strcmp(syntax, "proto3") == 0;
  size_t n = mp->n_field;
  size_t n_decl_oneofs = mp->n_oneof_decl;
  m->info.proto3 = proto3;
  m->info.map_entry = mp->options != NULL && mp->options->has_map_entry &&
                      mp->options->map_entry;
  for (size_t i = 0; i < sizeof wkt_names / sizeof wkt_names[0]; i++) {
    if (strcmp(m->desc.name, wkt_names[i].name) == 0)
      m->info.wkt = wkt_names[i].wkt;
  }
  if (n > 65535 || n_decl_oneofs > 65535)
    return fail(b, "descriptor set: message '%s' is too large", m->desc.name);

  /* Real oneofs (not proto3 optional's synthetic ones), numbered in
   * declaration order. */
  int *real_oneof = calloc(n_decl_oneofs ? n_decl_oneofs : 1, sizeof(int));
  field_plan *plan = calloc(n ? n : 1, sizeof *plan);
  ProtobufCFieldDescriptor *decl_fd = calloc(n ? n : 1, sizeof *decl_fd);
  rl__pb_field_info *decl_fi = calloc(n ? n : 1, sizeof *decl_fi);
  sort_item *order = calloc(n ? n : 1, sizeof *order);
  int rc = 0;
  if (real_oneof == NULL || plan == NULL || decl_fd == NULL ||
      decl_fi == NULL || order == NULL) {
    rc = nomem(b);
    goto out;
  }
  size_t n_oneofs = 0;
  for (size_t o = 0; o < n_decl_oneofs; o++) {
    int real = 0, any = 0;
    for (size_t i = 0; i < n; i++) {
      const pb_field_proto *fp = mp->field[i];
      if (fp->has_oneof_index && fp->oneof_index == (int32_t)o) {
        any = 1;
        real |= !fp->proto3_optional;
      }
    }
    real_oneof[o] = (real || !any) ? (int)n_oneofs++ : -1;
  }
  rl__pb_oneof_info *oneofs =
      alloc(b, (n_oneofs ? n_oneofs : 1) * sizeof *oneofs);
  if (oneofs == NULL) {
    rc = nomem(b);
    goto out;
  }
  for (size_t o = 0; o < n_decl_oneofs; o++) {
    if (real_oneof[o] >= 0) {
      const char *on = mp->oneof_decl[o]->name;
      oneofs[real_oneof[o]].name = on != NULL ? on : "";
    }
  }
  for (size_t i = 0; i < n; i++) {
    rc = plan_field(b, m, mp->field[i], real_oneof, n_decl_oneofs, proto3,
                    &plan[i], &decl_fd[i], &decl_fi[i]);
    if (rc)
      goto out;
  }

  /* The layout: base, then plain fields in declaration order (a has_ or
   * n_ quantifier just before its member), then each oneof's case and
   * union. */
  size_t off = sizeof(ProtobufCMessage), max_align = _Alignof(ProtobufCMessage);
  for (size_t i = 0; i < n; i++) {
    size_t size, align;
    if (plan[i].oneof >= 0)
      continue;
    if (plan[i].label == PROTOBUF_C_LABEL_REPEATED) {
      plan[i].qoff =
          (unsigned)place(&off, &max_align, sizeof(size_t), _Alignof(size_t));
      plan[i].off =
          (unsigned)place(&off, &max_align, sizeof(void *), _Alignof(void *));
      continue;
    }
    if (plan[i].has)
      plan[i].qoff =
          (unsigned)place(&off, &max_align, sizeof(protobuf_c_boolean),
                          _Alignof(protobuf_c_boolean));
    type_layout(plan[i].type, &size, &align);
    plan[i].off = (unsigned)place(&off, &max_align, size, align);
  }
  for (size_t o = 0; o < n_oneofs; o++) {
    size_t usize = 0, ualign = 1;
    for (size_t i = 0; i < n; i++) {
      size_t size, align;
      if (plan[i].oneof != (int)o)
        continue;
      type_layout(plan[i].type, &size, &align);
      usize = size > usize ? size : usize;
      ualign = align > ualign ? align : ualign;
    }
    oneofs[o].case_offset =
        (unsigned)place(&off, &max_align, sizeof(uint32_t), _Alignof(uint32_t));
    size_t at = place(&off, &max_align, usize, ualign);
    for (size_t i = 0; i < n; i++) {
      if (plan[i].oneof == (int)o) {
        plan[i].off = (unsigned)at;
        plan[i].qoff = oneofs[o].case_offset;
      }
    }
  }
  m->desc.sizeof_message = align_up(off, max_align);

  /* protobuf-c wants the fields sorted by number. */
  for (size_t i = 0; i < n; i++)
    order[i] = (sort_item){(uint32_t)mp->field[i]->number, (unsigned)i};
  qsort(order, n, sizeof *order, cmp_sort_item);
  ProtobufCFieldDescriptor *fields = alloc(b, (n ? n : 1) * sizeof *fields);
  rl__pb_field_info *finfo = alloc(b, (n ? n : 1) * sizeof *finfo);
  unsigned *by_name = alloc(b, (n ? n : 1) * sizeof *by_name);
  ProtobufCIntRange *ranges = alloc(b, (n + 1) * sizeof *ranges);
  rl__pb_name_index *names = alloc(b, (2 * n + 1) * sizeof *names);
  if (fields == NULL || finfo == NULL || by_name == NULL || ranges == NULL ||
      names == NULL) {
    rc = nomem(b);
    goto out;
  }
  size_t nr = 0, nn = 0;
  for (size_t k = 0; k < n; k++) {
    unsigned i = order[k].decl;
    if (k > 0 && order[k].number == order[k - 1].number) {
      rc = fail(b, "descriptor set: message '%s' uses number %u twice",
                m->desc.name, (unsigned)order[k].number);
      goto out;
    }
    fields[k] = decl_fd[i];
    fields[k].offset = plan[i].off;
    fields[k].quantifier_offset = plan[i].qoff;
    finfo[k] = decl_fi[i];
    if (k == 0 || order[k].number != order[k - 1].number + 1)
      ranges[nr++] = (ProtobufCIntRange){(int)order[k].number, (unsigned)k};
    names[nn++] = (rl__pb_name_index){fields[k].name, (unsigned)k};
    if (strcmp(finfo[k].json_name, fields[k].name) != 0)
      names[nn++] = (rl__pb_name_index){finfo[k].json_name, (unsigned)k};
  }
  ranges[nr] = (ProtobufCIntRange){0, (unsigned)n};
  qsort(names, nn, sizeof *names, cmp_name_index);
  {
    name_sort *ns = calloc(n ? n : 1, sizeof *ns);
    if (ns == NULL) {
      rc = nomem(b);
      goto out;
    }
    for (size_t k = 0; k < n; k++)
      ns[k] = (name_sort){fields[k].name, (unsigned)k};
    qsort(ns, n, sizeof *ns, cmp_name_sort);
    for (size_t k = 0; k < n; k++)
      by_name[k] = ns[k].index;
    free(ns);
  }
  m->desc.n_fields = (unsigned)n;
  m->desc.fields = fields;
  m->desc.fields_sorted_by_name = by_name;
  m->desc.n_field_ranges = (unsigned)nr;
  m->desc.field_ranges = ranges;
  m->info.fields = finfo;
  m->info.names = names;
  m->info.n_names = (unsigned)nn;
  m->info.oneofs = oneofs;
  m->info.n_oneofs = (unsigned)n_oneofs;
out:
  free(real_oneof);
  free(plan);
  free(decl_fd);
  free(decl_fi);
  free(order);
  return rc;
}

/* ---- pass 4: services --------------------------------------------------- */

static int build_services(build *b) {
  rl__pb_pool *p = b->pool;
  size_t total = 0;
  for (size_t f = 0; f < p->set->n_file; f++) {
    const pb_file_proto *fp = p->set->file[f];
    for (size_t s = 0; s < fp->n_service; s++)
      total += fp->service[s]->n_method;
  }
  p->methods = alloc(b, (total ? total : 1) * sizeof *p->methods);
  if (p->methods == NULL)
    return nomem(b);
  for (size_t f = 0; f < p->set->n_file; f++) {
    const pb_file_proto *fp = p->set->file[f];
    const char *pkg = fp->package != NULL ? fp->package : "";
    for (size_t s = 0; s < fp->n_service; s++) {
      const pb_service_proto *sp = fp->service[s];
      if (sp->name == NULL)
        return fail(b, "descriptor set: a service in '%s' has no name",
                    fp->name != NULL ? fp->name : "?");
      char *svc = join_name(b, pkg, ".", sp->name);
      if (svc == NULL)
        return nomem(b);
      for (size_t k = 0; k < sp->n_method; k++) {
        const Google__Protobuf__MethodDescriptorProto *mdp = sp->method[k];
        if (mdp->name == NULL)
          return fail(b, "descriptor set: a method of '%s' has no name", svc);
        rl__pb_method *me = &p->methods[p->n_methods];
        me->name = mdp->name;
        me->service = svc;
        me->full_name = join_name(b, svc, ".", mdp->name);
        char *slash = join_name(b, svc, "/", mdp->name);
        me->path = slash != NULL ? join_name(b, "/", "", slash) : NULL;
        if (me->full_name == NULL || me->path == NULL)
          return nomem(b);
        const name_entry *in = resolve(b, pkg, mdp->input_type);
        const name_entry *out = resolve(b, pkg, mdp->output_type);
        if (in == NULL || in->msg == NULL || out == NULL || out->msg == NULL)
          return fail(b,
                      "descriptor set: method '%s': %s type '%s' is not a "
                      "defined message",
                      me->full_name,
                      (in == NULL || in->msg == NULL) ? "input" : "output",
                      (in == NULL || in->msg == NULL)
                          ? (mdp->input_type ? mdp->input_type : "")
                          : (mdp->output_type ? mdp->output_type : ""));
        me->input = &in->msg->desc;
        me->output = &out->msg->desc;
        me->client_streaming = mdp->client_streaming ? 1 : 0;
        me->server_streaming = mdp->server_streaming ? 1 : 0;
        p->n_methods++;
      }
    }
  }
  return 0;
}

/* ---- making and freeing pools -------------------------------------------- */

int rl__pb_pool_new_from_descriptor_set(const uint8_t *bytes, size_t len,
                                        rl__pb_pool **out, char *err,
                                        size_t errlen) {
  *out = NULL;
  if (errlen > 0)
    err[0] = '\0';
  rl__pb_pool *p = calloc(1, sizeof *p);
  if (p == NULL) {
    if (errlen > 0)
      snprintf(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  build b = {.pool = p, .err = err, .errlen = errlen};
  int rc = 0;
  p->set = google__protobuf__file_descriptor_set__unpack(NULL, len, bytes);
  if (p->set == NULL) {
    rc = fail(&b,
              "not a FileDescriptorSet: protobuf-c cannot decode these %zu "
              "bytes (make one with protoc --include_imports "
              "--descriptor_set_out=FILE)",
              len);
    goto fail;
  }
  for (size_t f = 0; rc == 0 && f < p->set->n_file; f++) {
    const pb_file_proto *fp = p->set->file[f];
    const char *pkg = fp->package != NULL ? fp->package : "";
    for (size_t i = 0; rc == 0 && i < fp->n_message_type; i++)
      rc = add_message(&b, fp, pkg, pkg, fp->message_type[i]);
    for (size_t i = 0; rc == 0 && i < fp->n_enum_type; i++)
      rc = add_enum(&b, pkg, pkg, fp->enum_type[i]);
  }
  if (rc)
    goto fail;
  if (p->n_names > 0)
    qsort(p->names, p->n_names, sizeof *p->names, cmp_name_entry);
  for (size_t i = 1; i < p->n_names; i++) {
    if (strcmp(p->names[i - 1].name, p->names[i].name) == 0) {
      rc = fail(&b, "descriptor set: '%s' is defined twice", p->names[i].name);
      goto fail;
    }
  }
  for (size_t i = 0; rc == 0 && i < p->n_names; i++) {
    if (p->names[i].en != NULL)
      rc = build_enum(&b, p->names[i].en);
  }
  for (size_t i = 0; rc == 0 && i < p->n_names; i++) {
    if (p->names[i].msg != NULL)
      rc = build_message(&b, p->names[i].msg);
  }
  if (rc == 0)
    rc = build_services(&b);
  if (rc)
    goto fail;
  *out = p;
  return 0;
fail:
  rl__pb_pool_del(p);
  return rc;
}

void rl__pb_pool_del(rl__pb_pool *pool) {
  if (pool == NULL)
    return;
  if (pool->set != NULL)
    google__protobuf__file_descriptor_set__free_unpacked(pool->set, NULL);
  free(pool->names);
  arena_free(pool->arena);
  free(pool);
}

/* Reads a whole file into a malloc'd buffer. */
static int read_file(const char *path, uint8_t **data, size_t *len, char *err,
                     size_t errlen) {
  *data = NULL;
  *len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(err, errlen, "cannot read '%s': %s", path, strerror(errno));
    return RL_ERR_IO;
  }
  rl__buf b = {0};
  int rc = rl__buf_read_fd(&b, fd);
  int read_errno = errno;
  close(fd);
  if (rc != 0) {
    if (rc == RL_ERR_NOMEM)
      snprintf(err, errlen, "out of memory");
    else
      snprintf(err, errlen, "cannot read '%s': %s", path, strerror(read_errno));
    rl__buf_free(&b);
    return rc;
  }
  *data = (uint8_t *)b.p;
  *len = b.len;
  return 0;
}

int rl__pb_pool_new_from_file(const char *path, rl__pb_pool **out, char *err,
                              size_t errlen) {
  *out = NULL;
  uint8_t *data;
  size_t len;
  int rc = read_file(path, &data, &len, err, errlen);
  if (rc)
    return rc;
  rc = rl__pb_pool_new_from_descriptor_set(data, len, out, err, errlen);
  free(data);
  if (rc == RL_ERR_INVAL && errlen > 0) {
    /* Name the file: the reason alone does not say which input. */
    char reason[512];
    snprintf(reason, sizeof reason, "%s", err);
    snprintf(err, errlen, "%s: %s", path, reason);
  }
  return rc;
}

/* ---- lookups ----------------------------------------------------------------
 */

const ProtobufCMessageDescriptor *
rl__pb_pool_find_message(const rl__pb_pool *pool, const char *full_name) {
  const name_entry *e = lookup(pool, full_name);
  return e != NULL && e->msg != NULL ? &e->msg->desc : NULL;
}

const ProtobufCEnumDescriptor *rl__pb_pool_find_enum(const rl__pb_pool *pool,
                                                     const char *full_name) {
  const name_entry *e = lookup(pool, full_name);
  return e != NULL && e->en != NULL ? &e->en->desc : NULL;
}

size_t rl__pb_pool_n_methods(const rl__pb_pool *pool) {
  return pool->n_methods;
}

const rl__pb_method *rl__pb_pool_method(const rl__pb_pool *pool, size_t i) {
  return i < pool->n_methods ? &pool->methods[i] : NULL;
}

/* 1 when `full` ("a.b.Svc.M") is `q` or ends with "." + q. */
static int name_matches(const char *full, const char *q, size_t ql) {
  size_t fl = strlen(full);
  if (fl < ql || memcmp(full + fl - ql, q, ql) != 0)
    return 0;
  return fl == ql || full[fl - ql - 1] == '.';
}

/* Appends "a, b, c" of the methods for which pick() holds to err after
 * `used` bytes. */
static void list_methods(const rl__pb_pool *pool, const char *q, size_t ql,
                         char *err, size_t errlen, size_t used) {
  for (size_t i = 0, k = 0; i < pool->n_methods && used < errlen; i++) {
    if (q != NULL && !name_matches(pool->methods[i].full_name, q, ql))
      continue;
    int w = snprintf(err + used, errlen - used, "%s%s", k++ ? ", " : "",
                     pool->methods[i].full_name);
    if (w < 0)
      return;
    used += (size_t)w;
  }
}

int rl__pb_pool_find_method(const rl__pb_pool *pool, const char *name,
                            const rl__pb_method **out, char *err,
                            size_t errlen) {
  *out = NULL;
  if (errlen > 0)
    err[0] = '\0';
  /* Normalise "/pkg.Svc/M" and "pkg.Svc/M" to "pkg.Svc.M". */
  const char *s = name;
  while (*s == '/' || *s == '.')
    s++;
  size_t ql = strlen(s);
  char *q = malloc(ql + 1);
  if (q == NULL) {
    snprintf(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  for (size_t i = 0; i <= ql; i++) {
    char ch = s[i];
    if (ch == '/')
      ch = '.';
    q[i] = ch;
  }
  size_t hits = 0;
  const rl__pb_method *hit = NULL;
  for (size_t i = 0; ql > 0 && i < pool->n_methods; i++) {
    if (name_matches(pool->methods[i].full_name, q, ql)) {
      hits++;
      hit = &pool->methods[i];
    }
  }
  int rc = 0;
  if (hits == 1) {
    *out = hit;
  } else if (hits > 1) {
    int w =
        snprintf(err, errlen, "method '%s' is ambiguous: it could be ", name);
    if (w > 0 && (size_t)w < errlen)
      list_methods(pool, q, ql, err, errlen, (size_t)w);
    rc = RL_ERR_INVAL;
  } else if (pool->n_methods == 0) {
    snprintf(err, errlen,
             "unknown method '%s': the descriptor set defines no service",
             name);
    rc = RL_ERR_NOTFOUND;
  } else {
    int w = snprintf(err, errlen, "unknown method '%s'; methods: ", name);
    if (w > 0 && (size_t)w < errlen)
      list_methods(pool, NULL, 0, err, errlen, (size_t)w);
    rc = RL_ERR_NOTFOUND;
  }
  free(q);
  return rc;
}

void rl__pb_pool_list(const rl__pb_pool *pool, FILE *out) {
  const char *service = NULL;
  for (size_t i = 0; i < pool->n_methods; i++) {
    const rl__pb_method *m = &pool->methods[i];
    if (service == NULL || strcmp(service, m->service) != 0) {
      service = m->service;
      fprintf(out, "%s\n", service);
    }
    fprintf(out, "  %s(%s%s) returns (%s%s)\n", m->name,
            m->client_streaming ? "stream " : "", m->input->name,
            m->server_streaming ? "stream " : "", m->output->name);
  }
}

const rl__pb_msg_info *
rl__pb_msg_info_get(const ProtobufCMessageDescriptor *desc) {
  if (desc == NULL || desc->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC ||
      desc->reserved1 == NULL)
    return NULL;
  const rl__pb_msg_info *info = desc->reserved1;
  return info->magic == RL_PB_MSG_INFO_MAGIC && info->desc == desc ? info
                                                                   : NULL;
}

int rl__pb_msg_find_field(const rl__pb_msg_info *info, const char *name,
                          size_t len) {
  size_t lo = 0, hi = info->n_names;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const char *s = info->names[mid].name;
    int c = strncmp(s, name, len);
    if (c == 0 && s[len] != '\0')
      c = 1;
    if (c == 0)
      return (int)info->names[mid].field;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -1;
}

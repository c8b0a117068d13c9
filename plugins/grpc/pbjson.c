/*
 * pbjson: the proto3 JSON mapping over run-time descriptors.
 *
 * From JSON: jansson parses the text into a tree; fill() walks it beside
 * the message's descriptor and stores values straight into the protobuf-c
 * struct, with the same memory rules as protobuf_c_message_unpack (every
 * string, byte string, array and sub-message malloc'd; counts and oneof
 * cases set as soon as what they cover is allocated), so that a message
 * half-built when an error is found is freed like any decoded one.
 *
 * To JSON: the message is written as text directly (no tree), which lets
 * floats be printed in their shortest exact form.
 *
 * The well-known types' own forms are in pbwkt.c.
 */
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rpcload/plugin.h>

#include "pbjson_int.h"

/* ---- messages --------------------------------------------------------------
 */

/* Bytes one value of `type` takes in a struct or a repeated array. */
static size_t value_size(ProtobufCType type) {
  switch (type) {
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
  case PROTOBUF_C_TYPE_DOUBLE:
    return 8;
  case PROTOBUF_C_TYPE_BOOL:
    return sizeof(protobuf_c_boolean);
  case PROTOBUF_C_TYPE_BYTES:
    return sizeof(ProtobufCBinaryData);
  case PROTOBUF_C_TYPE_STRING:
  case PROTOBUF_C_TYPE_MESSAGE:
    return sizeof(void *);
  default: /* 32-bit integers, enums, float */
    return 4;
  }
}

ProtobufCMessage *rl__pb_message_new(const ProtobufCMessageDescriptor *desc) {
  ProtobufCMessage *m = calloc(1, desc->sizeof_message);
  if (m == NULL)
    return NULL;
  m->descriptor = desc;
  /* As protobuf-c's own initialisation of a descriptor without an init
   * function: each default copied in (strings and messages by pointer). */
  for (unsigned i = 0; i < desc->n_fields; i++) {
    const ProtobufCFieldDescriptor *fd = &desc->fields[i];
    if (fd->default_value == NULL || fd->label == PROTOBUF_C_LABEL_REPEATED ||
        (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
      continue;
    char *slot = (char *)m + fd->offset;
    if (fd->type == PROTOBUF_C_TYPE_STRING ||
        fd->type == PROTOBUF_C_TYPE_MESSAGE)
      memcpy(slot, &fd->default_value, sizeof(void *));
    else
      memcpy(slot, fd->default_value, value_size(fd->type));
  }
  return m;
}

void rl__pb_message_free(ProtobufCMessage *msg) {
  if (msg != NULL)
    protobuf_c_message_free_unpacked(msg, NULL);
}

int rl__pb_encode(const ProtobufCMessage *msg, uint8_t **bytes, size_t *len) {
  size_t n = protobuf_c_message_get_packed_size(msg);
  uint8_t *b = malloc(n ? n : 1);
  if (b == NULL)
    return RL_ERR_NOMEM;
  *len = protobuf_c_message_pack(msg, b);
  *bytes = b;
  return 0;
}

int rl__pb_decode(const ProtobufCMessageDescriptor *desc, const uint8_t *bytes,
                  size_t len, ProtobufCMessage **out, char *err,
                  size_t errlen) {
  *out = protobuf_c_message_unpack(desc, NULL, len, bytes);
  if (*out == NULL) {
    if (errlen > 0)
      snprintf(err, errlen,
               "cannot decode %zu bytes as %s (another message type, or "
               "corrupt)",
               len, desc->name);
    return RL_ERR_PROTO;
  }
  return 0;
}

/* ---- paths and errors --------------------------------------------------- */

/* `n` bytes of s cut back to a UTF-8 character boundary. */
static int utf8_cut(const char *s, int n) {
  while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
    n--;
  return n;
}

static size_t path_append(rl__pbj *c, const char *s, size_t n) {
  size_t saved = c->plen;
  if (c->plen + n < sizeof c->path) {
    memcpy(c->path + c->plen, s, n);
    c->plen += n;
    c->path[c->plen] = '\0';
  }
  return saved;
}

size_t rl__pbj_push_field(rl__pbj *c, const char *name) {
  size_t saved = c->plen;
  if (c->plen > 0)
    path_append(c, ".", 1);
  path_append(c, name, strlen(name));
  return saved;
}

size_t rl__pbj_push_index(rl__pbj *c, size_t i) {
  char b[32];
  int n = snprintf(b, sizeof b, "[%zu]", i);
  return path_append(c, b, (size_t)n);
}

size_t rl__pbj_push_key(rl__pbj *c, const char *key) {
  char b[64];
  int n = strlen(key) > 40
              ? snprintf(b, sizeof b, "[\"%.*s...\"]", utf8_cut(key, 40), key)
              : snprintf(b, sizeof b, "[\"%s\"]", key);
  return path_append(c, b, (size_t)n);
}

void rl__pbj_pop(rl__pbj *c, size_t saved) {
  c->plen = saved;
  c->path[saved] = '\0';
}

int rl__pbj_fail(rl__pbj *c, const char *fmt, ...) {
  if (c->errlen == 0)
    return RL_ERR_INVAL;
  char why[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  if (c->plen > 0)
    snprintf(c->err, c->errlen, "field '%s': %s", c->path, why);
  else
    snprintf(c->err, c->errlen, "%s", why);
  return RL_ERR_INVAL;
}

int rl__pbj_nomem(rl__pbj *c) {
  if (c->errlen > 0)
    snprintf(c->err, c->errlen, "out of memory");
  return RL_ERR_NOMEM;
}

/*
 * The shortest text that reads back as the same double, as protobuf writes
 * it. A normal double's 15-digit rendering is exact (trailing zeros dropped
 * by %g), so the search starts there; subnormals have fewer digits and
 * start at 1. Floats start at 6 digits whatever their size, as protobuf's
 * own writers do (1.4013e-45, not 1e-45).
 */
static void fmt_double(double d, char *buf, size_t n) {
  for (int p = fabs(d) < DBL_MIN ? 1 : 15; p <= 17; p++) {
    snprintf(buf, n, "%.*g", p, d);
    if (strtod(buf, NULL) == d)
      return;
  }
}

static void fmt_float(float f, char *buf, size_t n) {
  for (int p = 6; p <= 9; p++) {
    snprintf(buf, n, "%.*g", p, (double)f);
    if (strtof(buf, NULL) == f)
      return;
  }
}

const char *rl__pbj_describe(const json_t *v, char *buf, size_t n) {
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    return "an object";
  case JSON_ARRAY:
    return "an array";
  case JSON_STRING: {
    const char *s = json_string_value(v);
    if (json_string_length(v) > 40)
      snprintf(buf, n, "string \"%.*s...\"", utf8_cut(s, 40), s);
    else
      snprintf(buf, n, "string \"%s\"", s);
    return buf;
  }
  case JSON_INTEGER:
    snprintf(buf, n, "number %" JSON_INTEGER_FORMAT, json_integer_value(v));
    return buf;
  case JSON_REAL: {
    char d[40];
    fmt_double(json_real_value(v), d, sizeof d);
    snprintf(buf, n, "number %s", d);
    return buf;
  }
  case JSON_TRUE:
    return "true";
  case JSON_FALSE:
    return "false";
  case JSON_NULL:
  default:
    return "null";
  }
}

/* The value as the user wrote it, for "X is out of range": 300 or "300". */
const char *rl__pbj_value_text(const json_t *v, char *buf, size_t n) {
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    snprintf(buf, n, "\"%.*s\"",
             json_string_length(v) > 40 ? utf8_cut(s, 40) : 40, s);
    return buf;
  }
  const char *d = rl__pbj_describe(v, buf, n);
  return strncmp(d, "number ", 7) == 0 ? d + 7 : d;
}

/* ---- scalars from JSON ------------------------------------------------------
 */

typedef enum int_result {
  INT_OK = 0,
  INT_NOT_NUMBER, /* not an integer at all */
  INT_RANGE       /* an integer, out of the 64-bit range asked for */
} int_result;

static int_result double_to_int(double d, int is_signed, int64_t *sv,
                                uint64_t *uv) {
  if (isnan(d) || d != floor(d))
    return INT_NOT_NUMBER;
  if (is_signed) {
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
      return INT_RANGE;
    *sv = (int64_t)d;
  } else {
    if (!(d >= 0 && d < 18446744073709551616.0))
      return INT_RANGE;
    *uv = (uint64_t)d;
  }
  return INT_OK;
}

/* 1 when s is made only of characters a JSON number may have. */
static int numeric_chars(const char *s) {
  if (*s == '\0')
    return 0;
  for (; *s; s++) {
    if (!((*s >= '0' && *s <= '9') || *s == '-' || *s == '+' || *s == '.' ||
          *s == 'e' || *s == 'E'))
      return 0;
  }
  return 1;
}

/*
 * An integer from text: decimal digits with an optional '-' (every digit
 * kept), else any number notation with an integral value ("1e3", "5.0").
 */
static int_result text_to_int(const char *s, int is_signed, int64_t *sv,
                              uint64_t *uv) {
  const char *p = s + (s[0] == '-');
  const char *q = p;
  while (*q >= '0' && *q <= '9')
    q++;
  if (q > p && *q == '\0') {
    char *end;
    errno = 0;
    if (is_signed) {
      long long v = strtoll(s, &end, 10);
      if (errno == ERANGE)
        return INT_RANGE;
      *sv = v;
      return INT_OK;
    }
    unsigned long long v = strtoull(p, &end, 10);
    if (errno == ERANGE || (s[0] == '-' && v != 0))
      return INT_RANGE;
    *uv = v;
    return INT_OK;
  }
  if (!numeric_chars(s))
    return INT_NOT_NUMBER;
  char *end;
  double d = strtod(s, &end);
  if (end == s || *end != '\0')
    return INT_NOT_NUMBER;
  return double_to_int(d, is_signed, sv, uv);
}

static const char *type_name(ProtobufCType t) {
  static const char *const names[] = {
      "int32",  "sint32",  "sfixed32", "int64",   "sint64", "sfixed64",
      "uint32", "fixed32", "uint64",   "fixed64", "float",  "double",
      "bool",   "enum",    "string",   "bytes",   "message"};
  return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

/* A signed (lo..hi) or unsigned (0..uhi) integer from a JSON value. */
static int json_to_int(rl__pbj *c, const json_t *v, ProtobufCType t,
                       int64_t *sv, uint64_t *uv) {
  int is_signed = 1;
  int64_t lo = INT64_MIN, hi = INT64_MAX;
  uint64_t uhi = UINT64_MAX;
  switch (t) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
  case PROTOBUF_C_TYPE_ENUM:
    lo = INT32_MIN;
    hi = INT32_MAX;
    break;
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
    is_signed = 0;
    uhi = UINT32_MAX;
    break;
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    is_signed = 0;
    break;
  default:
    break;
  }
  int_result r;
  if (json_is_integer(v)) {
    json_int_t x = json_integer_value(v);
    r = INT_OK;
    if (is_signed)
      *sv = x;
    else if (x < 0)
      r = INT_RANGE;
    else
      *uv = (uint64_t)x;
  } else if (json_is_real(v)) {
    r = double_to_int(json_real_value(v), is_signed, sv, uv);
  } else if (json_is_string(v)) {
    r = text_to_int(json_string_value(v), is_signed, sv, uv);
  } else {
    r = INT_NOT_NUMBER;
  }
  if (r == INT_OK &&
      ((is_signed && (*sv < lo || *sv > hi)) || (!is_signed && *uv > uhi)))
    r = INT_RANGE;
  char buf[96];
  if (r == INT_NOT_NUMBER)
    return rl__pbj_fail(c, "expected an integer, got %s",
                        rl__pbj_describe(v, buf, sizeof buf));
  if (r == INT_RANGE)
    return rl__pbj_fail(c, "%s is out of range for %s",
                        rl__pbj_value_text(v, buf, sizeof buf), type_name(t));
  return 0;
}

static int json_to_double(rl__pbj *c, const json_t *v, int is_float,
                          double *out) {
  char buf[96];
  double d;
  if (json_is_integer(v)) {
    d = (double)json_integer_value(v);
  } else if (json_is_real(v)) {
    d = json_real_value(v);
  } else if (json_is_string(v)) {
    const char *s = json_string_value(v);
    if (strcmp(s, "NaN") == 0) {
      d = NAN;
    } else if (strcmp(s, "Infinity") == 0) {
      d = HUGE_VAL;
    } else if (strcmp(s, "-Infinity") == 0) {
      d = -HUGE_VAL;
    } else {
      char *end = NULL;
      errno = 0;
      if (numeric_chars(s))
        d = strtod(s, &end);
      if (end == NULL || *end != '\0')
        return rl__pbj_fail(c, "expected a number, got %s",
                            rl__pbj_describe(v, buf, sizeof buf));
      if (errno == ERANGE && isinf(d))
        return rl__pbj_fail(c, "%s is out of range for %s",
                            rl__pbj_value_text(v, buf, sizeof buf),
                            is_float ? "float" : "double");
    }
  } else {
    return rl__pbj_fail(c, "expected a number, got %s",
                        rl__pbj_describe(v, buf, sizeof buf));
  }
  /* Out of float's range: what would round to infinity, from FLT_MAX plus
   * half its last unit on (so FLT_MAX's shortest text, 3.4028235e+38,
   * is accepted). */
  if (is_float && isfinite(d) && fabs(d) >= 0x1.ffffffp+127)
    return rl__pbj_fail(c, "%s is out of range for float",
                        rl__pbj_value_text(v, buf, sizeof buf));
  *out = d;
  return 0;
}

static int b64_value(int ch) {
  if (ch >= 'A' && ch <= 'Z')
    return ch - 'A';
  if (ch >= 'a' && ch <= 'z')
    return ch - 'a' + 26;
  if (ch >= '0' && ch <= '9')
    return ch - '0' + 52;
  if (ch == '+' || ch == '-')
    return 62;
  if (ch == '/' || ch == '_')
    return 63;
  return -1;
}

/* Standard or URL-safe base64, padded or not, into a malloc'd buffer. */
static int b64_decode(rl__pbj *c, const char *s, size_t n,
                      ProtobufCBinaryData *out) {
  size_t end = n;
  while (end > 0 && s[end - 1] == '=' && n - end < 2)
    end--;
  if (end % 4 == 1 || (end < n && n % 4 != 0))
    return rl__pbj_fail(c, "invalid base64: wrong length (%zu characters)", n);
  uint8_t *d = malloc(end / 4 * 3 + 3);
  if (d == NULL)
    return rl__pbj_nomem(c);
  size_t j = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < end; i++) {
    int x = b64_value((unsigned char)s[i]);
    if (x < 0) {
      free(d);
      if ((unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f)
        return rl__pbj_fail(c, "invalid base64: '%c' at offset %zu", s[i], i);
      return rl__pbj_fail(c, "invalid base64: byte 0x%02x at offset %zu",
                          (unsigned char)s[i], i);
    }
    acc = (acc << 6) | (uint32_t)x;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      d[j++] = (uint8_t)(acc >> bits);
    }
  }
  out->data = d;
  out->len = j;
  return 0;
}

static int is_null_value_enum(const ProtobufCFieldDescriptor *fd) {
  return fd->type == PROTOBUF_C_TYPE_ENUM &&
         strcmp(((const ProtobufCEnumDescriptor *)fd->descriptor)->name,
                "google.protobuf.NullValue") == 0;
}

/* Lists an enum's value names ("A, B, C") for an error message. */
static void enum_names(const ProtobufCEnumDescriptor *ed, char *buf, size_t n) {
  size_t used = 0;
  buf[0] = '\0';
  for (unsigned i = 0; i < ed->n_values && used < n; i++) {
    int w = snprintf(buf + used, n - used, "%s%s", i ? ", " : "",
                     ed->values[i].name);
    if (w < 0)
      break;
    used += (size_t)w;
  }
}

static int json_to_enum(rl__pbj *c, const ProtobufCFieldDescriptor *fd,
                        const json_t *v, int32_t *out) {
  const ProtobufCEnumDescriptor *ed = fd->descriptor;
  char buf[96];
  if (json_is_null(v) && is_null_value_enum(fd)) {
    *out = 0;
    return 0;
  }
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    const ProtobufCEnumValue *ev =
        protobuf_c_enum_descriptor_get_value_by_name(ed, s);
    if (ev != NULL) {
      *out = ev->value;
      return 0;
    }
    int64_t num;
    if (text_to_int(s, 1, &num, NULL) == INT_OK && num >= INT32_MIN &&
        num <= INT32_MAX) {
      *out = (int32_t)num;
      return 0;
    }
    char names[256];
    enum_names(ed, names, sizeof names);
    return rl__pbj_fail(c, "unknown value %s for enum %s (values: %s)",
                        rl__pbj_value_text(v, buf, sizeof buf), ed->name,
                        names);
  }
  if (json_is_integer(v) || json_is_real(v)) {
    int64_t num = 0;
    int rc = json_to_int(c, v, PROTOBUF_C_TYPE_ENUM, &num, NULL);
    if (rc == 0)
      *out = (int32_t)num;
    return rc;
  }
  return rl__pbj_fail(c, "expected an enum name or number, got %s",
                      rl__pbj_describe(v, buf, sizeof buf));
}

/* One non-message value of field fd into `slot` (written only on success). */
static int json_to_scalar(rl__pbj *c, const ProtobufCFieldDescriptor *fd,
                          const json_t *v, void *slot) {
  char buf[96];
  int64_t sv = 0;
  uint64_t uv = 0;
  double d = 0;
  int rc;
  switch (fd->type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
    rc = json_to_int(c, v, fd->type, &sv, &uv);
    if (rc == 0)
      *(int32_t *)slot = (int32_t)sv;
    return rc;
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
    rc = json_to_int(c, v, fd->type, &sv, &uv);
    if (rc == 0)
      *(int64_t *)slot = sv;
    return rc;
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
    rc = json_to_int(c, v, fd->type, &sv, &uv);
    if (rc == 0)
      *(uint32_t *)slot = (uint32_t)uv;
    return rc;
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    rc = json_to_int(c, v, fd->type, &sv, &uv);
    if (rc == 0)
      *(uint64_t *)slot = uv;
    return rc;
  case PROTOBUF_C_TYPE_FLOAT:
    rc = json_to_double(c, v, 1, &d);
    if (rc == 0)
      *(float *)slot = (float)d;
    return rc;
  case PROTOBUF_C_TYPE_DOUBLE:
    rc = json_to_double(c, v, 0, &d);
    if (rc == 0)
      *(double *)slot = d;
    return rc;
  case PROTOBUF_C_TYPE_BOOL:
    if (!json_is_boolean(v))
      return rl__pbj_fail(c, "expected true or false, got %s",
                          rl__pbj_describe(v, buf, sizeof buf));
    *(protobuf_c_boolean *)slot = json_is_true(v);
    return 0;
  case PROTOBUF_C_TYPE_ENUM:
    return json_to_enum(c, fd, v, slot);
  case PROTOBUF_C_TYPE_STRING: {
    if (!json_is_string(v))
      return rl__pbj_fail(c, "expected a string, got %s",
                          rl__pbj_describe(v, buf, sizeof buf));
    size_t n = json_string_length(v);
    char *s = malloc(n + 1);
    if (s == NULL)
      return rl__pbj_nomem(c);
    memcpy(s, json_string_value(v), n + 1);
    *(char **)slot = s;
    return 0;
  }
  case PROTOBUF_C_TYPE_BYTES:
    if (!json_is_string(v))
      return rl__pbj_fail(c, "expected a base64 string, got %s",
                          rl__pbj_describe(v, buf, sizeof buf));
    return b64_decode(c, json_string_value(v), json_string_length(v), slot);
  case PROTOBUF_C_TYPE_MESSAGE:
  default:
    return rl__pbj_fail(c, "internal: not a scalar field");
  }
}

/* A map key (always text in JSON) into the key slot of an entry. */
static int text_to_key(rl__pbj *c, const ProtobufCFieldDescriptor *fd,
                       const char *key, void *slot) {
  if (fd->type == PROTOBUF_C_TYPE_BOOL) {
    if (strcmp(key, "true") != 0 && strcmp(key, "false") != 0)
      return rl__pbj_fail(c, "map key: expected \"true\" or \"false\"");
    *(protobuf_c_boolean *)slot = key[0] == 't';
    return 0;
  }
  if (fd->type == PROTOBUF_C_TYPE_STRING) {
    char *s = strdup(key);
    if (s == NULL)
      return rl__pbj_nomem(c);
    *(char **)slot = s;
    return 0;
  }
  /* Integer keys: strictly decimal digits. */
  const char *p = key + (key[0] == '-');
  if (*p == '\0' || strspn(p, "0123456789") != strlen(p))
    return rl__pbj_fail(c, "map key: expected an integer (%s)",
                        type_name(fd->type));
  json_t *s = json_string(key);
  if (s == NULL)
    return rl__pbj_nomem(c);
  int rc = json_to_scalar(c, fd, s, slot);
  json_decref(s);
  return rc;
}

/* ---- messages from JSON ------------------------------------------------- */

void rl__pbj_mark_present(ProtobufCMessage *msg,
                          const ProtobufCFieldDescriptor *fd) {
  char *base = (char *)msg;
  if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
    *(uint32_t *)(base + fd->quantifier_offset) = fd->id;
  else if (fd->label == PROTOBUF_C_LABEL_OPTIONAL && fd->quantifier_offset != 0)
    *(protobuf_c_boolean *)(base + fd->quantifier_offset) = 1;
}

static const rl__pb_msg_info *sub_info(rl__pbj *c,
                                       const ProtobufCFieldDescriptor *fd) {
  const rl__pb_msg_info *info = rl__pb_msg_info_get(fd->descriptor);
  if (info == NULL)
    rl__pbj_fail(c, "message type %s is not from a descriptor pool",
                 ((const ProtobufCMessageDescriptor *)fd->descriptor)->name);
  return info;
}

/* A singular value (message or scalar) into `slot` of `msg`, marking the
 * field present in msg. */
static int set_singular(rl__pbj *c, ProtobufCMessage *msg,
                        const ProtobufCFieldDescriptor *fd, void *slot,
                        const json_t *v) {
  if (fd->type != PROTOBUF_C_TYPE_MESSAGE) {
    int rc = json_to_scalar(c, fd, v, slot);
    if (rc == 0 && msg != NULL)
      rl__pbj_mark_present(msg, fd);
    return rc;
  }
  const rl__pb_msg_info *info = sub_info(c, fd);
  if (info == NULL)
    return RL_ERR_INVAL;
  ProtobufCMessage *sub = rl__pb_message_new(info->desc);
  if (sub == NULL)
    return rl__pbj_nomem(c);
  /* Linked in before it is filled: an error frees it with its parent. */
  *(ProtobufCMessage **)slot = sub;
  if (msg != NULL)
    rl__pbj_mark_present(msg, fd);
  return rl__pbj_fill(c, info, sub, v, 0);
}

/* null stands for google.protobuf.Value's null_value and for NullValue; for
 * any other field it means "unset". */
static int null_is_a_value(const ProtobufCFieldDescriptor *fd) {
  if (fd->type == PROTOBUF_C_TYPE_MESSAGE) {
    const rl__pb_msg_info *info = rl__pb_msg_info_get(fd->descriptor);
    return info != NULL && info->wkt == RL_PB_WKT_VALUE;
  }
  return is_null_value_enum(fd);
}

static int set_repeated(rl__pbj *c, ProtobufCMessage *msg,
                        const ProtobufCFieldDescriptor *fd, const json_t *v) {
  char buf[96];
  if (!json_is_array(v))
    return rl__pbj_fail(c, "expected an array, got %s",
                        rl__pbj_describe(v, buf, sizeof buf));
  size_t n = json_array_size(v);
  if (n == 0)
    return 0;
  size_t esize = value_size(fd->type);
  char *arr = calloc(n, esize);
  if (arr == NULL)
    return rl__pbj_nomem(c);
  char *base = (char *)msg;
  *(void **)(base + fd->offset) = arr;
  size_t *count = (size_t *)(base + fd->quantifier_offset);
  for (size_t i = 0; i < n; i++) {
    const json_t *e = json_array_get(v, i);
    size_t saved = rl__pbj_push_index(c, i);
    int rc;
    if (json_is_null(e) && !null_is_a_value(fd)) {
      rc = rl__pbj_fail(c, "null is not allowed in a repeated field");
    } else if (fd->type == PROTOBUF_C_TYPE_MESSAGE) {
      /* Counted first: set_singular links the element in before filling. */
      (*count)++;
      rc = set_singular(c, NULL, fd, arr + i * esize, e);
    } else {
      rc = json_to_scalar(c, fd, e, arr + i * esize);
      if (rc == 0)
        (*count)++;
    }
    if (rc)
      return rc;
    rl__pbj_pop(c, saved);
  }
  return 0;
}

static int set_map(rl__pbj *c, ProtobufCMessage *msg,
                   const ProtobufCFieldDescriptor *fd, const json_t *v) {
  char buf[96];
  if (!json_is_object(v))
    return rl__pbj_fail(c, "expected an object (a map), got %s",
                        rl__pbj_describe(v, buf, sizeof buf));
  const ProtobufCMessageDescriptor *ed = fd->descriptor;
  const ProtobufCFieldDescriptor *kf =
      protobuf_c_message_descriptor_get_field(ed, 1);
  const ProtobufCFieldDescriptor *vf =
      protobuf_c_message_descriptor_get_field(ed, 2);
  if (kf == NULL || vf == NULL)
    return rl__pbj_fail(c, "map entry %s lacks its key or value", ed->name);
  size_t n = json_object_size(v);
  if (n == 0)
    return 0;
  ProtobufCMessage **arr = calloc(n, sizeof(void *));
  if (arr == NULL)
    return rl__pbj_nomem(c);
  char *base = (char *)msg;
  *(ProtobufCMessage ***)(base + fd->offset) = arr;
  size_t *count = (size_t *)(base + fd->quantifier_offset);
  const char *key;
  json_t *val;
  json_object_foreach((json_t *)v, key, val) {
    size_t saved = rl__pbj_push_key(c, key);
    ProtobufCMessage *entry = rl__pb_message_new(ed);
    if (entry == NULL)
      return rl__pbj_nomem(c);
    arr[(*count)++] = entry;
    int rc = text_to_key(c, kf, key, (char *)entry + kf->offset);
    if (rc)
      return rc;
    rl__pbj_mark_present(entry, kf);
    if (json_is_null(val) && !null_is_a_value(vf))
      return rl__pbj_fail(c, "null is not allowed as a map value");
    rc = set_singular(c, entry, vf, (char *)entry + vf->offset, val);
    if (rc)
      return rc;
    rl__pbj_pop(c, saved);
  }
  return 0;
}

int rl__pbj_set_field(rl__pbj *c, ProtobufCMessage *msg,
                      const ProtobufCFieldDescriptor *fd, const json_t *v) {
  const rl__pb_msg_info *info = rl__pb_msg_info_get(msg->descriptor);
  const rl__pb_field_info *fi =
      info != NULL ? &info->fields[fd - msg->descriptor->fields] : NULL;
  if (fi != NULL && fi->is_map)
    return set_map(c, msg, fd, v);
  if (fd->label == PROTOBUF_C_LABEL_REPEATED)
    return set_repeated(c, msg, fd, v);
  return set_singular(c, msg, fd, (char *)msg + fd->offset, v);
}

/* Appends the fields' JSON names ("a, bC, d") for an error message. */
static void field_names(const rl__pb_msg_info *info, char *buf, size_t n) {
  size_t used = 0;
  buf[0] = '\0';
  for (unsigned i = 0; i < info->desc->n_fields && used < n; i++) {
    int w = snprintf(buf + used, n - used, "%s%s", i ? ", " : "",
                     info->fields[i].json_name);
    if (w < 0)
      break;
    used += (size_t)w;
  }
}

static int fill_object(rl__pbj *c, const rl__pb_msg_info *info,
                       ProtobufCMessage *msg, const json_t *v, int in_any,
                       unsigned char *seen, int *oneof_set) {
  const ProtobufCMessageDescriptor *desc = info->desc;
  const char *key;
  json_t *val;
  json_object_foreach((json_t *)v, key, val) {
    if (in_any && strcmp(key, "@type") == 0)
      continue;
    size_t saved = rl__pbj_push_field(c, key);
    int idx = rl__pb_msg_find_field(info, key, strlen(key));
    if (idx < 0) {
      char names[256];
      field_names(info, names, sizeof names);
      return rl__pbj_fail(c, "no such field in %s (fields: %s)", desc->name,
                          names);
    }
    const ProtobufCFieldDescriptor *fd = &desc->fields[idx];
    const rl__pb_field_info *fi = &info->fields[idx];
    if (seen[idx])
      return rl__pbj_fail(c, "set twice (as '%s' and as '%s')", fd->name,
                          fi->json_name);
    seen[idx] = 1;
    if (json_is_null(val) &&
        (fd->label == PROTOBUF_C_LABEL_REPEATED || !null_is_a_value(fd))) {
      rl__pbj_pop(c, saved);
      continue;
    }
    if (fi->oneof >= 0) {
      int other = oneof_set[fi->oneof];
      if (other >= 0)
        return rl__pbj_fail(c, "oneof '%s' already has '%s' set",
                            info->oneofs[fi->oneof].name,
                            info->fields[other].json_name);
      oneof_set[fi->oneof] = idx;
    }
    int rc = rl__pbj_set_field(c, msg, fd, val);
    if (rc)
      return rc;
    rl__pbj_pop(c, saved);
  }
  return 0;
}

int rl__pbj_fill(rl__pbj *c, const rl__pb_msg_info *info, ProtobufCMessage *msg,
                 const json_t *v, int in_any) {
  char buf[96];
  if (c->depth >= RL_PBJ_MAX_DEPTH)
    return rl__pbj_fail(c, "nested deeper than %d messages", RL_PBJ_MAX_DEPTH);
  if (info->wkt != RL_PB_WKT_NONE && !in_any) {
    c->depth++;
    int rc = rl__pbj_wkt_from_json(c, info, msg, v);
    c->depth--;
    return rc;
  }
  if (!json_is_object(v))
    return rl__pbj_fail(c, "expected an object for %s, got %s",
                        info->desc->name, rl__pbj_describe(v, buf, sizeof buf));
  unsigned n = info->desc->n_fields;
  unsigned char seen_stack[128];
  int oneof_stack[16];
  unsigned char *seen = n <= sizeof seen_stack ? seen_stack : calloc(n, 1);
  int *oneof_set = info->n_oneofs <= 16
                       ? oneof_stack
                       : malloc(info->n_oneofs * sizeof *oneof_set);
  int rc;
  if (seen == NULL || oneof_set == NULL) {
    rc = rl__pbj_nomem(c);
  } else {
    memset(seen, 0, n);
    for (unsigned i = 0; i < info->n_oneofs; i++)
      oneof_set[i] = -1;
    c->depth++;
    rc = fill_object(c, info, msg, v, in_any, seen, oneof_set);
    c->depth--;
    /* proto2's required fields: protobuf-c would send them as zero. */
    for (unsigned i = 0; rc == 0 && i < n; i++) {
      const ProtobufCFieldDescriptor *fd = &info->desc->fields[i];
      if (fd->label == PROTOBUF_C_LABEL_REQUIRED && !seen[i])
        rc = rl__pbj_fail(c, "required field '%s' of %s is missing",
                          info->fields[i].json_name, info->desc->name);
    }
  }
  if (seen != seen_stack)
    free(seen);
  if (oneof_set != oneof_stack)
    free(oneof_set);
  return rc;
}

int rl__pb_from_json_len(const rl__pb_pool *pool,
                         const ProtobufCMessageDescriptor *desc,
                         const char *json_text, size_t len,
                         ProtobufCMessage **out, char *err, size_t errlen) {
  *out = NULL;
  if (errlen > 0)
    err[0] = '\0';
  const rl__pb_msg_info *info = rl__pb_msg_info_get(desc);
  if (info == NULL) {
    if (errlen > 0)
      snprintf(err, errlen, "message type %s is not from a descriptor pool",
               desc != NULL ? desc->name : "(null)");
    return RL_ERR_INVAL;
  }
  size_t blank = 0;
  while (blank < len && strchr(" \t\r\n", json_text[blank]) != NULL &&
         json_text[blank] != '\0')
    blank++;
  if (blank == len) {
    /* jansson would say "unexpected token near end of file". */
    if (errlen > 0)
      snprintf(err, errlen, "invalid JSON: the text is empty");
    return RL_ERR_INVAL;
  }
  json_error_t je;
  json_t *root =
      json_loadb(json_text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
  if (root == NULL) {
    /* jansson's integers are int64_t: a uint64 above that must be a string,
     * which the mapping allows; say so. And U+0000 cannot be in a C string
     * (protobuf-c's strings are), which jansson words in its own terms. */
    const char *hint = strstr(je.text, "too big integer") != NULL
                           ? "; write integers above 9223372036854775807 "
                             "as strings"
                           : "";
    const char *why = strstr(je.text, "JSON_ALLOW_NUL") != NULL
                          ? "a string holds \\u0000, which protobuf-c "
                            "strings cannot"
                          : je.text;
    if (errlen > 0)
      snprintf(err, errlen, "invalid JSON: %s (line %d, column %d)%s", why,
               je.line, je.column, hint);
    return RL_ERR_INVAL;
  }
  rl__pbj c = {
      .pool = pool != NULL ? pool : info->pool, .err = err, .errlen = errlen};
  ProtobufCMessage *msg = rl__pb_message_new(desc);
  int rc =
      msg != NULL ? rl__pbj_fill(&c, info, msg, root, 0) : rl__pbj_nomem(&c);
  json_decref(root);
  if (rc) {
    rl__pb_message_free(msg);
    /* Freed by protobuf_c_message_free_unpacked, which the analyzer does
     * not follow (a system header's function). */
    return rc; // NOLINT(clang-analyzer-unix.Malloc)
  }
  *out = msg;
  return 0;
}

int rl__pb_from_json(const rl__pb_pool *pool,
                     const ProtobufCMessageDescriptor *desc,
                     const char *json_text, ProtobufCMessage **out, char *err,
                     size_t errlen) {
  return rl__pb_from_json_len(pool, desc, json_text, strlen(json_text), out,
                              err, errlen);
}

int rl__pb_json_to_wire(const rl__pb_pool *pool,
                        const ProtobufCMessageDescriptor *desc,
                        const char *json_text, uint8_t **bytes, size_t *len,
                        char *err, size_t errlen) {
  ProtobufCMessage *msg;
  *bytes = NULL;
  *len = 0;
  int rc = rl__pb_from_json(pool, desc, json_text, &msg, err, errlen);
  if (rc)
    return rc;
  rc = rl__pb_encode(msg, bytes, len);
  rl__pb_message_free(msg);
  /* (msg is freed by protobuf-c, which the analyzer does not follow.) */
  if (rc && errlen > 0) // NOLINT(clang-analyzer-unix.Malloc)
    snprintf(err, errlen, "out of memory");
  return rc;
}

/* ---- output ----------------------------------------------------------------
 */

void rl__pbj_put(rl__pbj *c, const char *s, size_t n) {
  rl__buf_add(&c->out, s, n); /* checked once, at the end */
}

void rl__pbj_puts(rl__pbj *c, const char *s) { rl__pbj_put(c, s, strlen(s)); }

static void newline(rl__pbj *c) {
  if (!(c->flags & RL_PB_JSON_PRETTY))
    return;
  rl__pbj_put(c, "\n", 1);
  for (int i = 0; i < c->indent; i++)
    rl__pbj_put(c, "  ", 2);
}

void rl__pbj_open(rl__pbj *c, char brace) {
  rl__pbj_put(c, &brace, 1);
  c->indent++;
  c->first = 1;
}

void rl__pbj_close(rl__pbj *c, char brace) {
  c->indent--;
  if (!c->first)
    newline(c);
  rl__pbj_put(c, &brace, 1);
  c->first = 0;
}

void rl__pbj_elem(rl__pbj *c) {
  if (!c->first)
    rl__pbj_put(c, ",", 1);
  c->first = 0;
  newline(c);
}

void rl__pbj_key(rl__pbj *c, const char *key) {
  rl__pbj_elem(c);
  rl__pbj_put_string(c, key, strlen(key));
  rl__pbj_puts(c, c->flags & RL_PB_JSON_PRETTY ? ": " : ":");
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  unsigned char c0 = s[0];
  size_t len;
  unsigned char lo = 0x80, hi = 0xbf;
  if (c0 >= 0xc2 && c0 <= 0xdf) {
    len = 2;
  } else if (c0 >= 0xe0 && c0 <= 0xef) {
    len = 3;
    if (c0 == 0xe0)
      lo = 0xa0;
    else if (c0 == 0xed)
      hi = 0x9f;
  } else if (c0 >= 0xf0 && c0 <= 0xf4) {
    len = 4;
    if (c0 == 0xf0)
      lo = 0x90;
    else if (c0 == 0xf4)
      hi = 0x8f;
  } else {
    return 0;
  }
  if (n < len || s[1] < lo || s[1] > hi)
    return 0;
  for (size_t i = 2; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
  }
  return len;
}

void rl__pbj_put_string(rl__pbj *c, const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  size_t start = 0, i = 0;
  rl__pbj_put(c, "\"", 1);
  while (i < n) {
    unsigned char ch = u[i];
    char esc[8];
    const char *rep = NULL;
    size_t skip = 1;
    if (ch >= 0x80) {
      size_t l = utf8_seq(u + i, n - i);
      if (l > 0) {
        i += l;
        continue;
      }
      rep = "\\ufffd"; /* not UTF-8: JSON text must be */
    } else if (ch == '"') {
      rep = "\\\"";
    } else if (ch == '\\') {
      rep = "\\\\";
    } else if (ch == '\n') {
      rep = "\\n";
    } else if (ch == '\r') {
      rep = "\\r";
    } else if (ch == '\t') {
      rep = "\\t";
    } else if (ch < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", ch);
      rep = esc;
    } else {
      i++;
      continue;
    }
    rl__pbj_put(c, s + start, i - start);
    rl__pbj_puts(c, rep);
    i += skip;
    start = i;
  }
  rl__pbj_put(c, s + start, i - start);
  rl__pbj_put(c, "\"", 1);
}

static void put_base64(rl__pbj *c, const uint8_t *d, size_t n) {
  static const char abc[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  rl__pbj_put(c, "\"", 1);
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)d[i] << 16;
    if (i + 1 < n)
      v |= (uint32_t)d[i + 1] << 8;
    if (i + 2 < n)
      v |= d[i + 2];
    char q[4] = {abc[(v >> 18) & 63], abc[(v >> 12) & 63], '=', '='};
    if (i + 1 < n)
      q[2] = abc[(v >> 6) & 63];
    if (i + 2 < n)
      q[3] = abc[v & 63];
    rl__pbj_put(c, q, 4);
  }
  rl__pbj_put(c, "\"", 1);
}

static void put_fmt(rl__pbj *c, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void put_fmt(rl__pbj *c, const char *fmt, ...) {
  char buf[64];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0)
    rl__pbj_put(c, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

static void put_double(rl__pbj *c, double d, int is_float) {
  char buf[40];
  if (isnan(d)) {
    rl__pbj_puts(c, "\"NaN\"");
  } else if (isinf(d)) {
    rl__pbj_puts(c, d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
  } else {
    if (is_float)
      fmt_float((float)d, buf, sizeof buf);
    else
      fmt_double(d, buf, sizeof buf);
    rl__pbj_puts(c, buf);
  }
}

int rl__pbj_emit_value(rl__pbj *c, const ProtobufCFieldDescriptor *fd,
                       const void *member) {
  switch (fd->type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
    put_fmt(c, "%" PRId32, *(const int32_t *)member);
    return 0;
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
    put_fmt(c, "%" PRIu32, *(const uint32_t *)member);
    return 0;
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
    put_fmt(c, "\"%" PRId64 "\"", *(const int64_t *)member);
    return 0;
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    put_fmt(c, "\"%" PRIu64 "\"", *(const uint64_t *)member);
    return 0;
  case PROTOBUF_C_TYPE_FLOAT:
    put_double(c, *(const float *)member, 1);
    return 0;
  case PROTOBUF_C_TYPE_DOUBLE:
    put_double(c, *(const double *)member, 0);
    return 0;
  case PROTOBUF_C_TYPE_BOOL:
    rl__pbj_puts(c, *(const protobuf_c_boolean *)member ? "true" : "false");
    return 0;
  case PROTOBUF_C_TYPE_ENUM: {
    int32_t v = *(const int32_t *)member;
    const ProtobufCEnumValue *ev =
        protobuf_c_enum_descriptor_get_value(fd->descriptor, v);
    if (is_null_value_enum(fd))
      rl__pbj_puts(c, "null");
    else if (ev != NULL && !(c->flags & RL_PB_JSON_ENUMS_AS_INTS))
      rl__pbj_put_string(c, ev->name, strlen(ev->name));
    else
      put_fmt(c, "%" PRId32, v);
    return 0;
  }
  case PROTOBUF_C_TYPE_STRING: {
    const char *s = *(char *const *)member;
    if (s == NULL)
      s = "";
    rl__pbj_put_string(c, s, strlen(s));
    return 0;
  }
  case PROTOBUF_C_TYPE_BYTES: {
    const ProtobufCBinaryData *bd = member;
    put_base64(c, bd->data, bd->len);
    return 0;
  }
  case PROTOBUF_C_TYPE_MESSAGE:
  default: {
    const ProtobufCMessage *sub = *(ProtobufCMessage *const *)member;
    if (sub != NULL)
      return rl__pbj_emit_message(c, sub);
    /* An absent message inside a set oneof or a map value: its defaults. */
    ProtobufCMessage *def = rl__pb_message_new(fd->descriptor);
    if (def == NULL)
      return rl__pbj_nomem(c);
    int rc = rl__pbj_emit_message(c, def);
    rl__pb_message_free(def);
    /* (def is freed by protobuf-c, which the analyzer does not follow.) */
    return rc; // NOLINT(clang-analyzer-unix.Malloc)
  }
  }
}

/* A map key's text: the key field's value (strings as they are). */
static void key_text(const ProtobufCFieldDescriptor *kf, const void *member,
                     char *buf, size_t n, const char **out) {
  switch (kf->type) {
  case PROTOBUF_C_TYPE_STRING: {
    const char *s = *(char *const *)member;
    *out = s != NULL ? s : "";
    return;
  }
  case PROTOBUF_C_TYPE_BOOL:
    *out = *(const protobuf_c_boolean *)member ? "true" : "false";
    return;
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
    snprintf(buf, n, "%" PRId64, *(const int64_t *)member);
    break;
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    snprintf(buf, n, "%" PRIu64, *(const uint64_t *)member);
    break;
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
    snprintf(buf, n, "%" PRIu32, *(const uint32_t *)member);
    break;
  default:
    snprintf(buf, n, "%" PRId32, *(const int32_t *)member);
    break;
  }
  *out = buf;
}

int rl__pbj_emit_field(rl__pbj *c, const ProtobufCMessage *msg,
                       const ProtobufCFieldDescriptor *fd,
                       const rl__pb_field_info *fi) {
  const char *base = (const char *)msg;
  size_t n = *(const size_t *)(base + fd->quantifier_offset);
  const char *arr = *(char *const *)(base + fd->offset);
  size_t esize = value_size(fd->type);
  int rc = 0;
  if (fi != NULL && fi->is_map) {
    const ProtobufCMessageDescriptor *ed = fd->descriptor;
    const ProtobufCFieldDescriptor *kf =
        protobuf_c_message_descriptor_get_field(ed, 1);
    const ProtobufCFieldDescriptor *vf =
        protobuf_c_message_descriptor_get_field(ed, 2);
    if (kf == NULL || vf == NULL)
      return rl__pbj_fail(c, "map entry %s lacks its key or value", ed->name);
    rl__pbj_open(c, '{');
    for (size_t i = 0; rc == 0 && i < n; i++) {
      const ProtobufCMessage *e = ((ProtobufCMessage *const *)arr)[i];
      char kb[32];
      const char *k;
      key_text(kf, (const char *)e + kf->offset, kb, sizeof kb, &k);
      size_t saved = rl__pbj_push_key(c, k);
      rl__pbj_key(c, k);
      rc = rl__pbj_emit_value(c, vf, (const char *)e + vf->offset);
      if (rc == 0)
        rl__pbj_pop(c, saved);
    }
    rl__pbj_close(c, '}');
    return rc;
  }
  rl__pbj_open(c, '[');
  for (size_t i = 0; rc == 0 && i < n; i++) {
    size_t saved = rl__pbj_push_index(c, i);
    rl__pbj_elem(c);
    rc = rl__pbj_emit_value(c, fd, arr + i * esize);
    if (rc == 0)
      rl__pbj_pop(c, saved);
  }
  rl__pbj_close(c, ']');
  return rc;
}

static int is_zero(const ProtobufCFieldDescriptor *fd, const void *member) {
  static const char zeros[16];
  switch (fd->type) {
  case PROTOBUF_C_TYPE_STRING: {
    const char *s = *(char *const *)member;
    return s == NULL || s[0] == '\0';
  }
  case PROTOBUF_C_TYPE_BYTES:
    return ((const ProtobufCBinaryData *)member)->len == 0;
  case PROTOBUF_C_TYPE_MESSAGE:
    return *(ProtobufCMessage *const *)member == NULL;
  default: /* numbers by their bits: -0.0 is set */
    return memcmp(member, zeros, value_size(fd->type)) == 0;
  }
}

/* Whether the field is written: set (or, with EMIT_DEFAULTS, a field with
 * no presence of its own). */
static int field_shown(const rl__pbj *c, const ProtobufCMessage *msg,
                       const ProtobufCFieldDescriptor *fd) {
  const char *base = (const char *)msg;
  const void *member = base + fd->offset;
  int defaults = (c->flags & RL_PB_JSON_EMIT_DEFAULTS) != 0;
  if (fd->label == PROTOBUF_C_LABEL_REPEATED)
    return defaults || *(const size_t *)(base + fd->quantifier_offset) > 0;
  if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
    return *(const uint32_t *)(base + fd->quantifier_offset) == fd->id;
  switch (fd->label) {
  case PROTOBUF_C_LABEL_REQUIRED:
    return 1;
  case PROTOBUF_C_LABEL_OPTIONAL:
    if (fd->type == PROTOBUF_C_TYPE_STRING ||
        fd->type == PROTOBUF_C_TYPE_MESSAGE) {
      const void *p = *(void *const *)member;
      return p != NULL && p != fd->default_value;
    }
    return fd->quantifier_offset == 0 ||
           *(const protobuf_c_boolean *)(base + fd->quantifier_offset);
  default: /* PROTOBUF_C_LABEL_NONE */
    if (fd->type == PROTOBUF_C_TYPE_MESSAGE)
      return !is_zero(fd, member);
    return defaults || !is_zero(fd, member);
  }
}

int rl__pbj_emit_fields(rl__pbj *c, const rl__pb_msg_info *info,
                        const ProtobufCMessage *msg) {
  const ProtobufCMessageDescriptor *desc = info->desc;
  int rc = 0;
  for (unsigned i = 0; rc == 0 && i < desc->n_fields; i++) {
    const ProtobufCFieldDescriptor *fd = &desc->fields[i];
    const rl__pb_field_info *fi = &info->fields[i];
    if (!field_shown(c, msg, fd))
      continue;
    const char *key =
        (c->flags & RL_PB_JSON_PROTO_NAMES) ? fd->name : fi->json_name;
    size_t saved = rl__pbj_push_field(c, key);
    rl__pbj_key(c, key);
    if (fd->label == PROTOBUF_C_LABEL_REPEATED)
      rc = rl__pbj_emit_field(c, msg, fd, fi);
    else
      rc = rl__pbj_emit_value(c, fd, (const char *)msg + fd->offset);
    if (rc == 0)
      rl__pbj_pop(c, saved);
  }
  return rc;
}

int rl__pbj_emit_message(rl__pbj *c, const ProtobufCMessage *msg) {
  const rl__pb_msg_info *info = rl__pb_msg_info_get(msg->descriptor);
  if (info == NULL)
    return rl__pbj_fail(c, "message type %s is not from a descriptor pool",
                        msg->descriptor->name);
  if (c->depth >= RL_PBJ_MAX_DEPTH)
    return rl__pbj_fail(c, "nested deeper than %d messages", RL_PBJ_MAX_DEPTH);
  c->depth++;
  int rc;
  if (info->wkt != RL_PB_WKT_NONE) {
    rc = rl__pbj_wkt_to_json(c, info, msg);
  } else {
    rl__pbj_open(c, '{');
    rc = rl__pbj_emit_fields(c, info, msg);
    rl__pbj_close(c, '}');
  }
  c->depth--;
  return rc;
}

int rl__pb_to_json(const rl__pb_pool *pool, const ProtobufCMessage *msg,
                   unsigned flags, char **json_text, char *err, size_t errlen) {
  *json_text = NULL;
  if (errlen > 0)
    err[0] = '\0';
  const rl__pb_msg_info *info = rl__pb_msg_info_get(msg->descriptor);
  if (info == NULL) {
    if (errlen > 0)
      snprintf(err, errlen, "message type %s is not from a descriptor pool",
               msg->descriptor->name);
    return RL_ERR_INVAL;
  }
  rl__pbj c = {.pool = pool != NULL ? pool : info->pool,
               .err = err,
               .errlen = errlen,
               .flags = flags,
               .first = 1};
  int rc = rl__pbj_emit_message(&c, msg);
  if (rc == 0 && rl__buf_add(&c.out, "", 1) != 0) /* the NUL */
    rc = rl__pbj_nomem(&c);
  if (rc) {
    rl__buf_free(&c.out);
    return rc;
  }
  *json_text = c.out.p;
  return 0;
}

/*
 * pbwkt: the JSON forms of protobuf's well-known types, which are not
 * objects of their fields: Timestamp and Duration are strings, Struct,
 * Value and ListValue are any JSON, the wrappers are their plain value,
 * FieldMask is a string of paths, and Any is its message's object with an
 * "@type" member added.
 *
 * The types are recognised by name (pbdesc); their fields are looked up
 * by number and their types checked, so a set holding some other message
 * under a well-known name gives an error rather than a wrong layout.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <rpcload/plugin.h>

#include "pbjson_int.h"

/* Timestamps span 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999999Z. */
#define TS_MIN_SECONDS INT64_C(-62135596800)
#define TS_MAX_SECONDS INT64_C(253402300799)
/* Durations span +-10000 years. */
#define DUR_MAX_SECONDS INT64_C(315576000000)

const ProtobufCFieldDescriptor *rl__pbj_wkt_field(rl__pbj *c,
                                                  const rl__pb_msg_info *info,
                                                  unsigned id,
                                                  ProtobufCType type) {
  const ProtobufCFieldDescriptor *fd =
      protobuf_c_message_descriptor_get_field(info->desc, id);
  if (fd == NULL || fd->type != type ||
      (fd->label == PROTOBUF_C_LABEL_REPEATED) !=
          (info->wkt == RL_PB_WKT_LIST_VALUE ||
           info->wkt == RL_PB_WKT_FIELD_MASK ||
           info->wkt == RL_PB_WKT_STRUCT)) {
    rl__pbj_fail(c,
                 "%s in this descriptor set is not the well-known type "
                 "(field %u differs)",
                 info->desc->name, id);
    return NULL;
  }
  return fd;
}

/* The first field's number of a wrapper; its type varies. */
static const ProtobufCFieldDescriptor *wrapper_field(rl__pbj *c,
                                                     const rl__pb_msg_info *i) {
  const ProtobufCFieldDescriptor *fd =
      protobuf_c_message_descriptor_get_field(i->desc, 1);
  if (fd == NULL || fd->label == PROTOBUF_C_LABEL_REPEATED ||
      fd->type == PROTOBUF_C_TYPE_MESSAGE) {
    rl__pbj_fail(c, "%s in this descriptor set is not the well-known type",
                 i->desc->name);
    return NULL;
  }
  return fd;
}

/* ---- calendar ------------------------------------------------------------ */

/*
 * Days since 1970-01-01 of a proleptic Gregorian date, and back. The year
 * is counted from March so that the leap day ends it; 400-year eras of
 * 146097 days make both directions exact for any year.
 */
static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;                                   /* 0..399 */
  int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* 0..365 */
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* 0..146096 */
  return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

static int is_leap(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* `n` decimal digits at *s into *out; advances *s. */
static int digits(const char **s, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    char ch = (*s)[i];
    if (ch < '0' || ch > '9')
      return -1;
    v = v * 10 + (ch - '0');
  }
  *s += n;
  *out = v;
  return 0;
}

/* ".123" (1 to 9 digits) at *s as nanoseconds; none is 0. */
static int fraction(const char **s, int32_t *nanos) {
  *nanos = 0;
  if (**s != '.')
    return 0;
  (*s)++;
  int n = 0;
  int32_t v = 0;
  while (**s >= '0' && **s <= '9') {
    if (++n > 9)
      return -1;
    v = v * 10 + (**s - '0');
    (*s)++;
  }
  if (n == 0)
    return -1;
  for (; n < 9; n++)
    v *= 10;
  *nanos = v;
  return 0;
}

/* RFC 3339: 1972-01-01T10:00:20.021Z, or with an offset (+01:00). */
static int parse_timestamp(const char *s, int64_t *secs, int32_t *nanos) {
  int y, mo, d, h, mi, se;
  if (digits(&s, 4, &y) || *s++ != '-' || digits(&s, 2, &mo) || *s++ != '-' ||
      digits(&s, 2, &d) || (*s != 'T' && *s != 't'))
    return -1;
  s++;
  if (digits(&s, 2, &h) || *s++ != ':' || digits(&s, 2, &mi) || *s++ != ':' ||
      digits(&s, 2, &se) || fraction(&s, nanos))
    return -1;
  static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (mo < 1 || mo > 12 || d < 1 ||
      d > mdays[mo - 1] + (mo == 2 && is_leap(y)) || h > 23 || mi > 59 ||
      se > 59)
    return -1;
  int64_t offset = 0;
  if (*s == 'Z' || *s == 'z') {
    s++;
  } else if (*s == '+' || *s == '-') {
    int sign = *s++ == '-' ? -1 : 1, oh, om;
    if (digits(&s, 2, &oh) || *s++ != ':' || digits(&s, 2, &om) || oh > 23 ||
        om > 59)
      return -1;
    offset = (int64_t)sign * (oh * 3600 + om * 60);
  } else {
    return -1;
  }
  if (*s != '\0')
    return -1;
  *secs = days_from_civil(y, mo, d) * 86400 + (int64_t)h * 3600 +
          (int64_t)mi * 60 + se - offset;
  return 0;
}

/* "-1.500s": seconds and nanos share the sign. */
static int parse_duration(const char *s, int64_t *secs, int32_t *nanos) {
  int neg = *s == '-';
  s += neg;
  if (*s < '0' || *s > '9')
    return -1;
  int64_t v = 0;
  while (*s >= '0' && *s <= '9') {
    if (v > DUR_MAX_SECONDS)
      return -2;
    v = v * 10 + (*s++ - '0');
  }
  if (fraction(&s, nanos) || *s++ != 's' || *s != '\0')
    return -1;
  if (v > DUR_MAX_SECONDS)
    return -2;
  *secs = neg ? -v : v;
  if (neg)
    *nanos = -*nanos;
  return 0;
}

/* Sets the int64 seconds (1) and int32 nanos (2) of a Timestamp or a
 * Duration. */
static int set_seconds_nanos(rl__pbj *c, const rl__pb_msg_info *info,
                             ProtobufCMessage *msg, int64_t secs,
                             int32_t nanos) {
  const ProtobufCFieldDescriptor *fs =
      rl__pbj_wkt_field(c, info, 1, PROTOBUF_C_TYPE_INT64);
  const ProtobufCFieldDescriptor *fn =
      fs ? rl__pbj_wkt_field(c, info, 2, PROTOBUF_C_TYPE_INT32) : NULL;
  if (fn == NULL)
    return RL_ERR_INVAL;
  *(int64_t *)((char *)msg + fs->offset) = secs;
  *(int32_t *)((char *)msg + fn->offset) = nanos;
  rl__pbj_mark_present(msg, fs);
  rl__pbj_mark_present(msg, fn);
  return 0;
}

static int get_seconds_nanos(rl__pbj *c, const rl__pb_msg_info *info,
                             const ProtobufCMessage *msg, int64_t *secs,
                             int32_t *nanos) {
  const ProtobufCFieldDescriptor *fs =
      rl__pbj_wkt_field(c, info, 1, PROTOBUF_C_TYPE_INT64);
  const ProtobufCFieldDescriptor *fn =
      fs ? rl__pbj_wkt_field(c, info, 2, PROTOBUF_C_TYPE_INT32) : NULL;
  if (fn == NULL)
    return RL_ERR_INVAL;
  *secs = *(const int64_t *)((const char *)msg + fs->offset);
  *nanos = *(const int32_t *)((const char *)msg + fn->offset);
  return 0;
}

/* ".5" style digits: none, 3, 6 or 9 as protobuf writes them. */
static void put_nanos(rl__pbj *c, int32_t nanos) {
  char buf[16];
  if (nanos == 0)
    return;
  if (nanos % 1000000 == 0)
    snprintf(buf, sizeof buf, ".%03" PRId32, nanos / 1000000);
  else if (nanos % 1000 == 0)
    snprintf(buf, sizeof buf, ".%06" PRId32, nanos / 1000);
  else
    snprintf(buf, sizeof buf, ".%09" PRId32, nanos);
  rl__pbj_puts(c, buf);
}

static int timestamp_to_json(rl__pbj *c, const rl__pb_msg_info *info,
                             const ProtobufCMessage *msg) {
  int64_t secs;
  int32_t nanos;
  if (get_seconds_nanos(c, info, msg, &secs, &nanos))
    return RL_ERR_INVAL;
  if (secs < TS_MIN_SECONDS || secs > TS_MAX_SECONDS || nanos < 0 ||
      nanos > 999999999)
    return rl__pbj_fail(
        c, "timestamp out of range (seconds %" PRId64 ", nanos %" PRId32 ")",
        secs, nanos);
  int64_t days = secs / 86400, rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    days--;
  }
  int64_t y;
  int m, d;
  civil_from_days(days, &y, &m, &d);
  char buf[48];
  snprintf(buf, sizeof buf, "\"%04d-%02d-%02dT%02d:%02d:%02d", (int)y, m, d,
           (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
  rl__pbj_puts(c, buf);
  put_nanos(c, nanos);
  rl__pbj_puts(c, "Z\"");
  return 0;
}

static int duration_to_json(rl__pbj *c, const rl__pb_msg_info *info,
                            const ProtobufCMessage *msg) {
  int64_t secs;
  int32_t nanos;
  if (get_seconds_nanos(c, info, msg, &secs, &nanos))
    return RL_ERR_INVAL;
  if (secs < -DUR_MAX_SECONDS || secs > DUR_MAX_SECONDS || nanos < -999999999 ||
      nanos > 999999999 || (secs < 0 && nanos > 0) || (secs > 0 && nanos < 0))
    return rl__pbj_fail(
        c, "duration out of range (seconds %" PRId64 ", nanos %" PRId32 ")",
        secs, nanos);
  char buf[32];
  int neg = secs < 0 || nanos < 0;
  snprintf(buf, sizeof buf, "\"%s%" PRId64, neg ? "-" : "",
           secs < 0 ? -secs : secs);
  rl__pbj_puts(c, buf);
  put_nanos(c, nanos < 0 ? -nanos : nanos);
  rl__pbj_puts(c, "s\"");
  return 0;
}

/* ---- FieldMask ------------------------------------------------------------
 */

/* Text from the wire fit for an error message: control characters and
 * bytes above ASCII show as '?'. */
static const char *printable(const char *s, char *buf, size_t n) {
  size_t i = 0;
  for (; s[i] != '\0' && i + 1 < n; i++) {
    char ch = s[i];
    if (ch < 0x20 || ch >= 0x7f)
      ch = '?';
    buf[i] = ch;
  }
  buf[i] = '\0';
  return buf;
}

/* "user.displayName,photo" -> paths user.display_name, photo. */
static int field_mask_from_json(rl__pbj *c, const rl__pb_msg_info *info,
                                ProtobufCMessage *msg, const json_t *v) {
  char buf[96];
  const ProtobufCFieldDescriptor *fd =
      rl__pbj_wkt_field(c, info, 1, PROTOBUF_C_TYPE_STRING);
  if (fd == NULL)
    return RL_ERR_INVAL;
  if (!json_is_string(v))
    return rl__pbj_fail(c, "expected a field mask string (\"a.bC,d\"), got %s",
                        rl__pbj_describe(v, buf, sizeof buf));
  const char *s = json_string_value(v);
  size_t len = json_string_length(v);
  if (len == 0)
    return 0;
  size_t n = 1;
  for (size_t i = 0; i < len; i++)
    n += s[i] == ',';
  char **paths = calloc(n, sizeof *paths);
  if (paths == NULL)
    return rl__pbj_nomem(c);
  *(char ***)((char *)msg + fd->offset) = paths;
  size_t *count = (size_t *)((char *)msg + fd->quantifier_offset);
  const char *p = s;
  for (size_t k = 0; k < n; k++) {
    size_t pl = strcspn(p, ",");
    char *out = malloc(2 * pl + 1);
    if (out == NULL)
      return rl__pbj_nomem(c);
    paths[(*count)++] = out;
    size_t j = 0;
    for (size_t i = 0; i < pl; i++) {
      char ch = p[i];
      if (ch == '_')
        return rl__pbj_fail(c,
                            "field mask path '%.*s' must be lowerCamelCase "
                            "(no '_')",
                            (int)pl, p);
      if (ch >= 'A' && ch <= 'Z') {
        out[j++] = '_';
        ch = (char)(ch - 'A' + 'a');
      }
      out[j++] = ch;
    }
    out[j] = '\0';
    p += pl + 1;
  }
  return 0;
}

static int field_mask_to_json(rl__pbj *c, const rl__pb_msg_info *info,
                              const ProtobufCMessage *msg) {
  const ProtobufCFieldDescriptor *fd =
      rl__pbj_wkt_field(c, info, 1, PROTOBUF_C_TYPE_STRING);
  if (fd == NULL)
    return RL_ERR_INVAL;
  size_t n = *(const size_t *)((const char *)msg + fd->quantifier_offset);
  char *const *paths = *(char **const *)((const char *)msg + fd->offset);
  size_t total = 1;
  for (size_t k = 0; k < n; k++)
    total += strlen(paths[k]) + 1;
  char *out = malloc(total);
  if (out == NULL)
    return rl__pbj_nomem(c);
  size_t j = 0;
  for (size_t k = 0; k < n; k++) {
    const char *p = paths[k];
    if (k > 0)
      out[j++] = ',';
    for (size_t i = 0; p[i]; i++) {
      char ch = p[i];
      char pp[200];
      if (ch >= 'A' && ch <= 'Z') {
        free(out);
        return rl__pbj_fail(c,
                            "field mask path '%s' has an upper-case letter: "
                            "it has no JSON form",
                            printable(p, pp, sizeof pp));
      }
      if (ch == '_') {
        if (p[i + 1] < 'a' || p[i + 1] > 'z') {
          free(out);
          return rl__pbj_fail(c,
                              "field mask path '%s': '_' must come before a "
                              "lower-case letter to have a JSON form",
                              printable(p, pp, sizeof pp));
        }
        ch = (char)(p[++i] - 'a' + 'A');
      }
      out[j++] = ch;
    }
  }
  out[j] = '\0';
  rl__pbj_put_string(c, out, j);
  free(out);
  return 0;
}

/* ---- Value -------------------------------------------------------------- */

static int value_from_json(rl__pbj *c, const rl__pb_msg_info *info,
                           ProtobufCMessage *msg, const json_t *v) {
  static const ProtobufCType types[] = {
      PROTOBUF_C_TYPE_ENUM, PROTOBUF_C_TYPE_DOUBLE,  PROTOBUF_C_TYPE_STRING,
      PROTOBUF_C_TYPE_BOOL, PROTOBUF_C_TYPE_MESSAGE, PROTOBUF_C_TYPE_MESSAGE};
  unsigned id;
  switch (json_typeof(v)) {
  case JSON_NULL:
    id = 1;
    break;
  case JSON_INTEGER:
  case JSON_REAL:
    id = 2;
    break;
  case JSON_STRING:
    id = 3;
    break;
  case JSON_TRUE:
  case JSON_FALSE:
    id = 4;
    break;
  case JSON_OBJECT:
    id = 5;
    break;
  case JSON_ARRAY:
  default:
    id = 6;
    break;
  }
  const ProtobufCFieldDescriptor *fd =
      rl__pbj_wkt_field(c, info, id, types[id - 1]);
  if (fd == NULL)
    return RL_ERR_INVAL;
  if (id == 1) {
    *(int32_t *)((char *)msg + fd->offset) = 0;
    rl__pbj_mark_present(msg, fd);
    return 0;
  }
  return rl__pbj_set_field(c, msg, fd, v);
}

static int value_to_json(rl__pbj *c, const rl__pb_msg_info *info,
                         const ProtobufCMessage *msg) {
  const ProtobufCMessageDescriptor *desc = info->desc;
  for (unsigned i = 0; i < desc->n_fields; i++) {
    const ProtobufCFieldDescriptor *fd = &desc->fields[i];
    if (!(fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) ||
        *(const uint32_t *)((const char *)msg + fd->quantifier_offset) !=
            fd->id)
      continue;
    if (fd->id == 1) {
      rl__pbj_puts(c, "null");
      return 0;
    }
    return rl__pbj_emit_value(c, fd, (const char *)msg + fd->offset);
  }
  /* No kind set: protobuf calls it an error; a decoder reports null. */
  rl__pbj_puts(c, "null");
  return 0;
}

/* ---- Any
 * ----------------------------------------------------------------------- */

static int any_from_json(rl__pbj *c, const rl__pb_msg_info *info,
                         ProtobufCMessage *msg, const json_t *v) {
  char buf[96];
  if (!json_is_object(v))
    return rl__pbj_fail(c, "expected an object for google.protobuf.Any, got %s",
                        rl__pbj_describe(v, buf, sizeof buf));
  if (json_object_size(v) == 0)
    return 0;
  const ProtobufCFieldDescriptor *furl =
      rl__pbj_wkt_field(c, info, 1, PROTOBUF_C_TYPE_STRING);
  const ProtobufCFieldDescriptor *fval =
      furl ? rl__pbj_wkt_field(c, info, 2, PROTOBUF_C_TYPE_BYTES) : NULL;
  if (fval == NULL)
    return RL_ERR_INVAL;
  const json_t *t = json_object_get(v, "@type");
  if (!json_is_string(t))
    return rl__pbj_fail(c, "a google.protobuf.Any needs an \"@type\" string "
                           "(\"type.googleapis.com/pkg.Message\")");
  const char *url = json_string_value(t);
  const char *slash = strrchr(url, '/');
  const char *name = slash != NULL ? slash + 1 : url;
  const ProtobufCMessageDescriptor *d =
      c->pool != NULL ? rl__pb_pool_find_message(c->pool, name) : NULL;
  const rl__pb_msg_info *inner_info = rl__pb_msg_info_get(d);
  char pu[200], pn[200];
  if (inner_info == NULL)
    return rl__pbj_fail(c,
                        "@type \"%s\": %s is not in the descriptor set "
                        "(import its .proto)",
                        printable(url, pu, sizeof pu),
                        printable(name, pn, sizeof pn));
  ProtobufCMessage *inner = rl__pb_message_new(d);
  if (inner == NULL)
    return rl__pbj_nomem(c);
  int rc;
  if (inner_info->wkt != RL_PB_WKT_NONE) {
    const json_t *value = json_object_get(v, "value");
    if (value == NULL || json_object_size(v) != 2) {
      rc = rl__pbj_fail(c,
                        "an Any holding %s needs exactly \"@type\" and "
                        "\"value\"",
                        name);
    } else {
      size_t saved = rl__pbj_push_field(c, "value");
      rc = rl__pbj_fill(c, inner_info, inner, value, 0);
      if (rc == 0)
        rl__pbj_pop(c, saved);
    }
  } else {
    rc = rl__pbj_fill(c, inner_info, inner, v, 1);
  }
  uint8_t *bytes = NULL;
  size_t len = 0;
  if (rc == 0 && rl__pb_encode(inner, &bytes, &len) != 0)
    rc = rl__pbj_nomem(c);
  rl__pb_message_free(inner);
  if (rc)
    return rc;
  char *u = strdup(url);
  if (u == NULL) {
    free(bytes);
    return rl__pbj_nomem(c);
  }
  *(char **)((char *)msg + furl->offset) = u;
  rl__pbj_mark_present(msg, furl);
  ProtobufCBinaryData *bd = (ProtobufCBinaryData *)((char *)msg + fval->offset);
  bd->data = bytes;
  bd->len = len;
  rl__pbj_mark_present(msg, fval);
  return 0;
}

static int any_to_json(rl__pbj *c, const rl__pb_msg_info *info,
                       const ProtobufCMessage *msg) {
  const ProtobufCFieldDescriptor *furl =
      rl__pbj_wkt_field(c, info, 1, PROTOBUF_C_TYPE_STRING);
  const ProtobufCFieldDescriptor *fval =
      furl ? rl__pbj_wkt_field(c, info, 2, PROTOBUF_C_TYPE_BYTES) : NULL;
  if (fval == NULL)
    return RL_ERR_INVAL;
  const char *url = *(char *const *)((const char *)msg + furl->offset);
  const ProtobufCBinaryData *bd =
      (const ProtobufCBinaryData *)((const char *)msg + fval->offset);
  if ((url == NULL || url[0] == '\0') && bd->len == 0) {
    rl__pbj_puts(c, "{}");
    return 0;
  }
  if (url == NULL)
    url = "";
  const char *slash = strrchr(url, '/');
  const char *name = slash != NULL ? slash + 1 : url;
  const ProtobufCMessageDescriptor *d =
      c->pool != NULL ? rl__pb_pool_find_message(c->pool, name) : NULL;
  const rl__pb_msg_info *inner_info = rl__pb_msg_info_get(d);
  char pu[200], pn[200];
  if (inner_info == NULL)
    return rl__pbj_fail(c, "@type \"%s\": %s is not in the descriptor set",
                        printable(url, pu, sizeof pu),
                        printable(name, pn, sizeof pn));
  ProtobufCMessage *inner =
      protobuf_c_message_unpack(d, NULL, bd->len, bd->data);
  if (inner == NULL)
    return rl__pbj_fail(c, "the value of an Any does not decode as %s",
                        printable(name, pn, sizeof pn));
  rl__pbj_open(c, '{');
  rl__pbj_key(c, "@type");
  rl__pbj_put_string(c, url, strlen(url));
  int rc;
  if (inner_info->wkt != RL_PB_WKT_NONE) {
    size_t saved = rl__pbj_push_field(c, "value");
    rl__pbj_key(c, "value");
    rc = rl__pbj_emit_message(c, inner);
    if (rc == 0)
      rl__pbj_pop(c, saved);
  } else {
    rc = rl__pbj_emit_fields(c, inner_info, inner);
  }
  rl__pbj_close(c, '}');
  rl__pb_message_free(inner);
  return rc;
}

/* ---- dispatch
 * ------------------------------------------------------------------ */

/* The one field of Struct (a map) and ListValue (repeated Value). */
static int container_from_json(rl__pbj *c, const rl__pb_msg_info *info,
                               ProtobufCMessage *msg, const json_t *v,
                               int object) {
  char buf[96];
  if (object ? !json_is_object(v) : !json_is_array(v))
    return rl__pbj_fail(c, "expected %s for %s, got %s",
                        object ? "an object" : "an array", info->desc->name,
                        rl__pbj_describe(v, buf, sizeof buf));
  const ProtobufCFieldDescriptor *fd =
      rl__pbj_wkt_field(c, info, 1, PROTOBUF_C_TYPE_MESSAGE);
  return fd != NULL ? rl__pbj_set_field(c, msg, fd, v) : RL_ERR_INVAL;
}

int rl__pbj_wkt_from_json(rl__pbj *c, const rl__pb_msg_info *info,
                          ProtobufCMessage *msg, const json_t *v) {
  char buf[96];
  int64_t secs = 0;
  int32_t nanos = 0;
  switch (info->wkt) {
  case RL_PB_WKT_TIMESTAMP: {
    if (!json_is_string(v) ||
        parse_timestamp(json_string_value(v), &secs, &nanos) != 0)
      return rl__pbj_fail(c,
                          "expected an RFC 3339 timestamp "
                          "(\"1972-01-01T10:00:20.021Z\"), got %s",
                          rl__pbj_describe(v, buf, sizeof buf));
    if (secs < TS_MIN_SECONDS || secs > TS_MAX_SECONDS)
      return rl__pbj_fail(c, "timestamp %s is out of range (years 1 to 9999)",
                          rl__pbj_value_text(v, buf, sizeof buf));
    return set_seconds_nanos(c, info, msg, secs, nanos);
  }
  case RL_PB_WKT_DURATION: {
    int rc = json_is_string(v)
                 ? parse_duration(json_string_value(v), &secs, &nanos)
                 : -1;
    if (rc == -1)
      return rl__pbj_fail(c,
                          "expected a duration in seconds (\"1.5s\"), got %s",
                          rl__pbj_describe(v, buf, sizeof buf));
    if (rc == -2)
      return rl__pbj_fail(c, "duration %s is out of range (+-315576000000s)",
                          rl__pbj_value_text(v, buf, sizeof buf));
    return set_seconds_nanos(c, info, msg, secs, nanos);
  }
  case RL_PB_WKT_STRUCT:
    return container_from_json(c, info, msg, v, 1);
  case RL_PB_WKT_LIST_VALUE:
    return container_from_json(c, info, msg, v, 0);
  case RL_PB_WKT_VALUE:
    return value_from_json(c, info, msg, v);
  case RL_PB_WKT_FIELD_MASK:
    return field_mask_from_json(c, info, msg, v);
  case RL_PB_WKT_ANY:
    return any_from_json(c, info, msg, v);
  case RL_PB_WKT_WRAPPER: {
    const ProtobufCFieldDescriptor *fd = wrapper_field(c, info);
    if (fd == NULL)
      return RL_ERR_INVAL;
    if (json_is_null(v))
      return 0;
    return rl__pbj_set_field(c, msg, fd, v);
  }
  case RL_PB_WKT_NONE:
  default:
    return rl__pbj_fail(c, "internal: %s is not a well-known type",
                        info->desc->name);
  }
}

int rl__pbj_wkt_to_json(rl__pbj *c, const rl__pb_msg_info *info,
                        const ProtobufCMessage *msg) {
  const ProtobufCFieldDescriptor *fd;
  switch (info->wkt) {
  case RL_PB_WKT_TIMESTAMP:
    return timestamp_to_json(c, info, msg);
  case RL_PB_WKT_DURATION:
    return duration_to_json(c, info, msg);
  case RL_PB_WKT_STRUCT:
  case RL_PB_WKT_LIST_VALUE:
    fd = rl__pbj_wkt_field(c, info, 1, PROTOBUF_C_TYPE_MESSAGE);
    if (fd == NULL)
      return RL_ERR_INVAL;
    return rl__pbj_emit_field(c, msg, fd,
                              &info->fields[fd - info->desc->fields]);
  case RL_PB_WKT_VALUE:
    return value_to_json(c, info, msg);
  case RL_PB_WKT_FIELD_MASK:
    return field_mask_to_json(c, info, msg);
  case RL_PB_WKT_ANY:
    return any_to_json(c, info, msg);
  case RL_PB_WKT_WRAPPER:
    fd = wrapper_field(c, info);
    if (fd == NULL)
      return RL_ERR_INVAL;
    return rl__pbj_emit_value(c, fd, (const char *)msg + fd->offset);
  case RL_PB_WKT_NONE:
  default:
    rl__pbj_open(c, '{');
    {
      int rc = rl__pbj_emit_fields(c, info, msg);
      rl__pbj_close(c, '}');
      return rc;
    }
  }
}

#include "grpc_wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include <rpcload/plugin.h>

/* doc/http-grpc-status-mapping.md in the grpc repository. */
int grpc_code_from_http(int http_status) {
  switch (http_status) {
  case 400:
    return GRPC_INTERNAL;
  case 401:
    return GRPC_UNAUTHENTICATED;
  case 403:
    return GRPC_PERMISSION_DENIED;
  case 404:
    return GRPC_UNIMPLEMENTED;
  case 429:
  case 502:
  case 503:
  case 504:
    return GRPC_UNAVAILABLE;
  default:
    return GRPC_UNKNOWN;
  }
}

const char *grpc_timeout_format(uint64_t ns, char *buf, size_t len) {
  static const struct {
    char unit;
    uint64_t ns;
  } units[] = {
      {'n', 1ull},          {'u', 1000ull},        {'m', 1000000ull},
      {'S', 1000000000ull}, {'M', 60000000000ull}, {'H', 3600000000000ull},
  };
  const uint64_t max = 99999999; /* the spec allows 8 digits */
  size_t n = sizeof units / sizeof units[0];
  for (size_t i = 0; i < n; i++) {
    uint64_t v = ns / units[i].ns + (ns % units[i].ns != 0);
    if (v <= max || i == n - 1) {
      snprintf(buf, len, "%llu%c", (unsigned long long)(v <= max ? v : max),
               units[i].unit);
      return buf;
    }
  }
  return buf; /* not reached */
}

char *grpc_base64_encode(const uint8_t *in, size_t len) {
  static const char tab[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char *out = malloc(len / 3 * 4 + 5);
  if (out == NULL)
    return NULL;
  size_t o = 0, i = 0;
  for (; i + 3 <= len; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[o++] = tab[v >> 18];
    out[o++] = tab[(v >> 12) & 63];
    out[o++] = tab[(v >> 6) & 63];
    out[o++] = tab[v & 63];
  }
  if (len - i == 1) {
    uint32_t v = (uint32_t)in[i] << 16;
    out[o++] = tab[v >> 18];
    out[o++] = tab[(v >> 12) & 63];
  } else if (len - i == 2) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
    out[o++] = tab[v >> 18];
    out[o++] = tab[(v >> 12) & 63];
    out[o++] = tab[(v >> 6) & 63];
  }
  out[o] = '\0';
  return out;
}

static void put_prefix(uint8_t *p, int compressed, size_t len) {
  p[0] = compressed ? 1 : 0;
  p[1] = (uint8_t)(len >> 24);
  p[2] = (uint8_t)(len >> 16);
  p[3] = (uint8_t)(len >> 8);
  p[4] = (uint8_t)len;
}

int grpc_frame_build(const uint8_t *msg, size_t len, int gzip, uint8_t **out,
                     size_t *out_len) {
  if (len > UINT32_MAX)
    return RL_ERR_INVAL;
  if (!gzip) {
    uint8_t *f = malloc(GRPC_FRAME_HEADER + len + 1);
    if (f == NULL)
      return RL_ERR_NOMEM;
    put_prefix(f, 0, len);
    if (len > 0)
      memcpy(f + GRPC_FRAME_HEADER, msg, len);
    *out = f;
    *out_len = GRPC_FRAME_HEADER + len;
    return 0;
  }
  z_stream z;
  memset(&z, 0, sizeof z);
  /* 15 + 16: a gzip wrapper, as grpc-encoding: gzip means. */
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK)
    return RL_ERR_NOMEM;
  size_t cap = deflateBound(&z, (uLong)len) + 32;
  uint8_t *f = malloc(GRPC_FRAME_HEADER + cap);
  if (f == NULL) {
    deflateEnd(&z);
    return RL_ERR_NOMEM;
  }
  z.next_in = (Bytef *)(uintptr_t)msg;
  z.avail_in = (uInt)len;
  z.next_out = f + GRPC_FRAME_HEADER;
  z.avail_out = (uInt)cap;
  int rc = deflate(&z, Z_FINISH);
  size_t clen = z.total_out;
  deflateEnd(&z);
  if (rc != Z_STREAM_END) {
    free(f);
    return RL_ERR_NOMEM;
  }
  put_prefix(f, 1, clen);
  *out = f;
  *out_len = GRPC_FRAME_HEADER + clen;
  return 0;
}

int grpc_gunzip(const uint8_t *in, size_t len, size_t max, uint8_t **out,
                size_t *out_len) {
  z_stream z;
  memset(&z, 0, sizeof z);
  /* 15 + 32: gzip or zlib, whichever the header says. */
  if (inflateInit2(&z, 15 + 32) != Z_OK)
    return RL_ERR_NOMEM;
  size_t cap = len * 4 + 64, n = 0;
  uint8_t *buf = malloc(cap);
  int rc = buf == NULL ? RL_ERR_NOMEM : 0;
  z.next_in = (Bytef *)(uintptr_t)in;
  z.avail_in = (uInt)len;
  while (rc == 0) {
    if (n == cap) {
      if (cap >= max) {
        rc = RL_ERR_INVAL;
        break;
      }
      size_t bigger = cap * 2 < max ? cap * 2 : max;
      uint8_t *p = realloc(buf, bigger);
      if (p == NULL) {
        rc = RL_ERR_NOMEM;
        break;
      }
      buf = p;
      cap = bigger;
    }
    z.next_out = buf + n;
    z.avail_out = (uInt)(cap - n);
    int zr = inflate(&z, Z_NO_FLUSH);
    n = cap - z.avail_out;
    if (zr == Z_STREAM_END)
      break;
    if (zr == Z_BUF_ERROR && z.avail_out != 0) {
      rc = RL_ERR_PROTO; /* the input ended early */
    } else if (zr != Z_OK && zr != Z_BUF_ERROR) {
      rc = zr == Z_MEM_ERROR ? RL_ERR_NOMEM : RL_ERR_PROTO;
    }
  }
  inflateEnd(&z);
  if (rc != 0) {
    free(buf);
    return rc;
  }
  *out = buf;
  *out_len = n;
  return 0;
}

int grpc_parse_duration(const char *text, uint64_t *ns) {
  static const struct {
    const char *unit;
    double ns;
  } units[] = {{"ns", 1},  {"us", 1e3}, {"ms", 1e6},
               {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
  const char *p = text;
  double total = 0;
  int parts = 0;
  if (p == NULL)
    return RL_ERR_INVAL;
  while (*p != '\0') {
    char *end;
    if (!((*p >= '0' && *p <= '9') || *p == '.'))
      return RL_ERR_INVAL;
    double v = strtod(p, &end);
    if (end == p || v < 0)
      return RL_ERR_INVAL;
    p = end;
    size_t ulen = 0;
    while ((p[ulen] >= 'a' && p[ulen] <= 'z'))
      ulen++;
    if (ulen == 0) {
      if (*p != '\0' || parts > 0)
        return RL_ERR_INVAL; /* a bare number stands alone: seconds */
      total = v * 1e9;
      parts++;
      break;
    }
    size_t i = 0;
    for (; i < sizeof units / sizeof units[0]; i++)
      if (strlen(units[i].unit) == ulen && memcmp(p, units[i].unit, ulen) == 0)
        break;
    if (i == sizeof units / sizeof units[0])
      return RL_ERR_INVAL;
    total += v * units[i].ns;
    p += ulen;
    parts++;
  }
  if (parts == 0 || total > 9.2e18)
    return RL_ERR_INVAL;
  *ns = (uint64_t)(total + 0.5);
  return 0;
}

int grpc_parse_size(const char *text, uint64_t *bytes) {
  static const struct {
    const char *unit;
    uint64_t mult;
  } units[] = {{"", 1},
               {"b", 1},
               {"k", 1000},
               {"kb", 1000},
               {"kib", 1024},
               {"m", 1000000},
               {"mb", 1000000},
               {"mib", 1048576},
               {"g", 1000000000},
               {"gb", 1000000000},
               {"gib", 1073741824}};
  const char *p = text;
  uint64_t v = 0;
  if (p == NULL || !(*p >= '0' && *p <= '9'))
    return RL_ERR_INVAL;
  for (; *p >= '0' && *p <= '9'; p++) {
    v = v * 10 + (uint64_t)(*p - '0');
    if (v > (1ull << 53))
      return RL_ERR_INVAL;
  }
  while (*p == ' ')
    p++;
  char unit[4];
  size_t ulen = strlen(p);
  if (ulen >= sizeof unit)
    return RL_ERR_INVAL;
  for (size_t i = 0; i < ulen; i++)
    unit[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] - 'A' + 'a' : p[i]);
  unit[ulen] = '\0';
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    if (strcmp(unit, units[i].unit) == 0) {
      if (v > (1ull << 53) / units[i].mult)
        return RL_ERR_INVAL;
      *bytes = v * units[i].mult;
      return 0;
    }
  }
  return RL_ERR_INVAL;
}

int grpc_split_delimited(const uint8_t *data, size_t len, size_t *off,
                         size_t *n, size_t max) {
  size_t pos = 0;
  int count = 0;
  while (pos < len) {
    uint64_t v = 0;
    int shift = 0;
    for (;;) {
      if (pos >= len || shift > 63)
        return 0;
      uint8_t b = data[pos++];
      v |= (uint64_t)(b & 0x7f) << shift;
      shift += 7;
      if (!(b & 0x80))
        break;
    }
    if (v > len - pos)
      return 0;
    if ((size_t)count == max)
      return -1;
    off[count] = pos;
    n[count] = (size_t)v;
    count++;
    pos += (size_t)v;
  }
  return count;
}

void grpc_size_text(size_t n, char *buf, size_t len) {
  if (n >= (1u << 20) && n % (1u << 20) == 0)
    snprintf(buf, len, "%zu MiB", n >> 20);
  else if (n >= 1024 && n % 1024 == 0)
    snprintf(buf, len, "%zu KiB", n >> 10);
  else
    snprintf(buf, len, "%zu bytes", n);
}

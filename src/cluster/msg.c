/* Locust's cluster messages, built and read (msg.h). */
#include "cluster/msg.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include <rpcload/plugin.h>

/* ---- building ------------------------------------------------------------ */

/* msgpack_sbuffer_write, remembering a failure so that one check at the
 * end covers every pack call. */
static int out_write(void *data, const char *buf, size_t len) {
  rl__msg_out *o = data;
  if (o->failed || msgpack_sbuffer_write(&o->sb, buf, len) != 0) {
    o->failed = 1;
    return -1;
  }
  return 0;
}

void rl__msg_out_init(rl__msg_out *o) {
  msgpack_sbuffer_init(&o->sb);
  msgpack_packer_init(&o->pk, o, out_write);
  o->failed = 0;
}

void rl__msg_out_free(rl__msg_out *o) { msgpack_sbuffer_destroy(&o->sb); }

void rl__msg_out_reset(rl__msg_out *o) {
  msgpack_sbuffer_clear(&o->sb);
  o->failed = 0;
}

void rl__msg_pack_str(msgpack_packer *pk, const char *s) {
  if (s == NULL) {
    msgpack_pack_nil(pk);
    return;
  }
  size_t n = strlen(s);
  msgpack_pack_str(pk, n);
  msgpack_pack_str_body(pk, s, n);
}

void rl__msg_begin(rl__msg_out *o, const char *type) {
  rl__msg_out_reset(o);
  msgpack_pack_array(&o->pk, 3);
  rl__msg_pack_str(&o->pk, type);
}

int rl__msg_end(rl__msg_out *o, const char *node_id) {
  rl__msg_pack_str(&o->pk, node_id);
  return o->failed ? RL_ERR_NOMEM : 0;
}

int rl__msg_nil(rl__msg_out *o, const char *type, const char *node_id) {
  rl__msg_begin(o, type);
  msgpack_pack_nil(&o->pk);
  return rl__msg_end(o, node_id);
}

int rl__msg_client_ready(rl__msg_out *o, const char *version,
                         const char *node_id) {
  rl__msg_begin(o, "client_ready");
  rl__msg_pack_str(&o->pk, version);
  return rl__msg_end(o, node_id);
}

int rl__msg_ack(rl__msg_out *o, int64_t index, const char *node_id) {
  rl__msg_begin(o, "ack");
  msgpack_pack_map(&o->pk, 1);
  rl__msg_pack_str(&o->pk, "index");
  msgpack_pack_int64(&o->pk, index);
  return rl__msg_end(o, node_id);
}

int rl__msg_ack_rpcload(rl__msg_out *o, int64_t index, const char *version,
                        const char *node_id) {
  rl__msg_begin(o, "ack");
  msgpack_pack_map(&o->pk, 2);
  rl__msg_pack_str(&o->pk, "index");
  msgpack_pack_int64(&o->pk, index);
  rl__msg_pack_str(&o->pk, "rpcload");
  rl__msg_pack_str(&o->pk, version != NULL ? version : "");
  return rl__msg_end(o, node_id);
}

int rl__msg_heartbeat(rl__msg_out *o, const char *state, double cpu_percent,
                      uint64_t memory_bytes, const char *node_id) {
  rl__msg_begin(o, "heartbeat");
  msgpack_pack_map(&o->pk, 3);
  rl__msg_pack_str(&o->pk, "state");
  rl__msg_pack_str(&o->pk, state);
  rl__msg_pack_str(&o->pk, "current_cpu_usage");
  msgpack_pack_double(&o->pk, cpu_percent);
  rl__msg_pack_str(&o->pk, "current_memory_usage");
  msgpack_pack_uint64(&o->pk, memory_bytes);
  return rl__msg_end(o, node_id);
}

int rl__msg_heartbeat_rpcload(rl__msg_out *o, const char *state,
                              double cpu_percent, uint64_t memory_bytes,
                              const char *version, const char *node_id) {
  rl__msg_begin(o, "heartbeat");
  msgpack_pack_map(&o->pk, 4);
  rl__msg_pack_str(&o->pk, "state");
  rl__msg_pack_str(&o->pk, state);
  rl__msg_pack_str(&o->pk, "current_cpu_usage");
  msgpack_pack_double(&o->pk, cpu_percent);
  rl__msg_pack_str(&o->pk, "current_memory_usage");
  msgpack_pack_uint64(&o->pk, memory_bytes);
  rl__msg_pack_str(&o->pk, "rpcload");
  rl__msg_pack_str(&o->pk, version != NULL ? version : "");
  return rl__msg_end(o, node_id);
}

int rl__msg_exception(rl__msg_out *o, const char *msg, const char *traceback,
                      const char *node_id) {
  rl__msg_begin(o, "exception");
  msgpack_pack_map(&o->pk, 2);
  rl__msg_pack_str(&o->pk, "msg");
  rl__msg_pack_str(&o->pk, msg != NULL ? msg : "");
  rl__msg_pack_str(&o->pk, "traceback");
  rl__msg_pack_str(&o->pk, traceback != NULL ? traceback : "");
  return rl__msg_end(o, node_id);
}

static void pack_classes(msgpack_packer *pk, const rl__msg_class_count *cls,
                         size_t ncls) {
  msgpack_pack_map(pk, ncls);
  for (size_t i = 0; i < ncls; i++) {
    rl__msg_pack_str(pk, cls[i].name);
    msgpack_pack_int64(pk, cls[i].count);
  }
}

static int64_t classes_sum(const rl__msg_class_count *cls, size_t ncls) {
  int64_t n = 0;
  for (size_t i = 0; i < ncls; i++)
    n += cls[i].count;
  return n;
}

int rl__msg_spawning_complete(rl__msg_out *o, const rl__msg_class_count *cls,
                              size_t ncls, const char *node_id) {
  rl__msg_begin(o, "spawning_complete");
  msgpack_pack_map(&o->pk, 2);
  rl__msg_pack_str(&o->pk, "user_classes_count");
  pack_classes(&o->pk, cls, ncls);
  rl__msg_pack_str(&o->pk, "user_count");
  msgpack_pack_int64(&o->pk, classes_sum(cls, ncls));
  return rl__msg_end(o, node_id);
}

int rl__msg_spawn_build(rl__msg_out *o, const rl__msg_spawn *job,
                        const char *node_id) {
  rl__msg_begin(o, "spawn");
  msgpack_pack_map(&o->pk, 5);
  rl__msg_pack_str(&o->pk, "timestamp");
  msgpack_pack_double(&o->pk, job->timestamp);
  rl__msg_pack_str(&o->pk, "user_classes_count");
  pack_classes(&o->pk, job->cls, job->ncls);
  rl__msg_pack_str(&o->pk, "host");
  rl__msg_pack_str(&o->pk, job->host);
  rl__msg_pack_str(&o->pk, "stop_timeout");
  if (job->stop_timeout < 0)
    msgpack_pack_nil(&o->pk);
  else
    msgpack_pack_double(&o->pk, job->stop_timeout);
  /* Locust sends its parsed options; a worker takes the ones it does not
   * know itself. We send none. */
  rl__msg_pack_str(&o->pk, "parsed_options");
  msgpack_pack_map(&o->pk, 0);
  return rl__msg_end(o, node_id);
}

void rl__msg_spawn_free(rl__msg_spawn *job) {
  for (size_t i = 0; i < job->ncls; i++)
    free(job->cls[i].name);
  free(job->cls);
  free(job->host);
  job->cls = NULL;
  job->ncls = 0;
  job->host = NULL;
}

void rl__msg_report_free(rl__msg_report *r) {
  for (size_t i = 0; i < r->ncls; i++)
    free(r->cls[i].name);
  free(r->cls);
  r->cls = NULL;
  r->ncls = 0;
}

int64_t rl__msg_round_ms(double ms) {
  /* Python's round() rounds halves to even: so does rint() in the default
   * rounding mode. round(x, -k) is rint(x / 10^k) * 10^k. */
  if (!(ms > 0))
    return 0;
  if (ms < 100)
    return (int64_t)rint(ms);
  if (ms < 1000)
    return (int64_t)rint(ms / 10) * 10;
  if (ms < 10000)
    return (int64_t)rint(ms / 100) * 100;
  if (ms > 9e15)
    return (int64_t)9e15;
  return (int64_t)rint(ms / 1000) * 1000;
}

/* response_times: {rounded ms: count}, from the histogram's buckets (each
 * bucket at its middle; 3 significant digits round to Locust's 1 or 2
 * without loss but at a bucket that straddles a rounding edge). */
typedef struct rounded {
  int64_t ms;
  uint64_t count;
} rounded;

typedef struct rounded_list {
  rounded *v;
  size_t n, cap;
  int failed;
} rounded_list;

static int round_bucket(uint64_t lo, uint64_t hi, uint64_t count, void *arg) {
  rounded_list *l = arg;
  int64_t ms = rl__msg_round_ms(((double)lo + (double)hi) / 2 / 1e6);
  /* Buckets come in increasing order and rounding keeps the order, so
   * equal keys are neighbours. */
  if (l->n > 0 && l->v[l->n - 1].ms == ms) {
    l->v[l->n - 1].count += count;
    return 0;
  }
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 64;
    rounded *v = realloc(l->v, cap * sizeof(*v));
    if (v == NULL) {
      l->failed = 1;
      return 1;
    }
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n++] = (rounded){ms, count};
  return 0;
}

static int pack_bucket(uint64_t lo, uint64_t hi, uint64_t count, void *arg) {
  (void)hi;
  msgpack_packer *pk = arg;
  msgpack_pack_uint64(pk, lo);
  msgpack_pack_uint64(pk, count);
  return 0;
}

static int count_bucket(uint64_t lo, uint64_t hi, uint64_t count, void *arg) {
  (void)lo, (void)hi, (void)count;
  (*(size_t *)arg)++;
  return 0;
}

/* The ring's seconds with requests (or failures, `fails`) as {Unix second:
 * count}. */
static void pack_per_sec(msgpack_packer *pk, const rl__stats_entry *e,
                         double run_start_unix, int fails) {
  const uint64_t *counts = fails ? e->ring_fails : e->ring_reqs;
  size_t n = 0;
  for (size_t i = 0; i < RL__STATS_RING; i++)
    n += counts[i] > 0;
  msgpack_pack_map(pk, n);
  for (size_t i = 0; i < RL__STATS_RING; i++) {
    if (counts[i] == 0)
      continue;
    msgpack_pack_int64(pk,
                       (int64_t)floor(run_start_unix + (double)e->ring_sec[i]));
    msgpack_pack_uint64(pk, counts[i]);
  }
}

static int pack_entry(rl__msg_out *o, const rl__stats_entry *e,
                      double run_start_unix, double since_unix, double now_unix,
                      int exact) {
  msgpack_packer *pk = &o->pk;
  rounded_list rl = {0};
  if (rl__histogram_foreach(&e->hist, round_bucket, &rl) != 0 || rl.failed) {
    free(rl.v);
    o->failed = 1;
    return RL_ERR_NOMEM;
  }
  msgpack_pack_map(pk, exact ? 15 : 14);
  rl__msg_pack_str(pk, "name");
  rl__msg_pack_str(pk, e->name);
  rl__msg_pack_str(pk, "method");
  rl__msg_pack_str(pk, e->type);
  rl__msg_pack_str(pk, "last_request_timestamp");
  if (e->num_requests > 0)
    msgpack_pack_double(pk, now_unix);
  else
    msgpack_pack_nil(pk);
  rl__msg_pack_str(pk, "start_time");
  msgpack_pack_double(pk, since_unix);
  rl__msg_pack_str(pk, "num_requests");
  msgpack_pack_uint64(pk, e->num_requests);
  rl__msg_pack_str(pk, "num_none_requests");
  msgpack_pack_uint64(pk, 0);
  rl__msg_pack_str(pk, "num_failures");
  msgpack_pack_uint64(pk, e->num_failures);
  rl__msg_pack_str(pk, "total_response_time");
  msgpack_pack_double(pk, (double)e->total_ns / 1e6);
  rl__msg_pack_str(pk, "max_response_time");
  msgpack_pack_double(pk, (double)rl__stats_entry_max_ns(e) / 1e6);
  rl__msg_pack_str(pk, "min_response_time");
  if (e->hist.count > 0)
    msgpack_pack_double(pk, (double)rl__stats_entry_min_ns(e) / 1e6);
  else
    msgpack_pack_nil(pk);
  rl__msg_pack_str(pk, "total_content_length");
  msgpack_pack_uint64(pk, e->bytes);
  rl__msg_pack_str(pk, "response_times");
  msgpack_pack_map(pk, rl.n);
  for (size_t i = 0; i < rl.n; i++) {
    msgpack_pack_int64(pk, rl.v[i].ms);
    msgpack_pack_uint64(pk, rl.v[i].count);
  }
  free(rl.v);
  rl__msg_pack_str(pk, "num_reqs_per_sec");
  pack_per_sec(pk, e, run_start_unix, 0);
  rl__msg_pack_str(pk, "num_fail_per_sec");
  pack_per_sec(pk, e, run_start_unix, 1);
  if (exact) {
    rl__msg_pack_str(pk, "rpcload");
    msgpack_pack_map(pk, 4);
    rl__msg_pack_str(pk, "total_ns");
    msgpack_pack_uint64(pk, e->total_ns);
    rl__msg_pack_str(pk, "min_ns");
    msgpack_pack_uint64(pk, e->hist.count ? e->hist.min : 0);
    rl__msg_pack_str(pk, "max_ns");
    msgpack_pack_uint64(pk, e->hist.max);
    /* [bucket's lowest value, count, ...]: recording the lowest value
     * lands in the same bucket, so the reader's histogram is this one. */
    size_t nb = 0;
    rl__histogram_foreach(&e->hist, count_bucket, &nb);
    rl__msg_pack_str(pk, "hist");
    msgpack_pack_array(pk, 2 * nb);
    rl__histogram_foreach(&e->hist, pack_bucket, pk);
  }
  return o->failed ? RL_ERR_NOMEM : 0;
}

/* Locust's error key: the SHA-256 of "method.name.repr(parse_error(e))";
 * for an error text t, parse_error gives repr(t), so the key hashes
 * "\"'t'\"" (exact for texts without quotes or escapes, which Python's
 * repr would change: then only rpcload nodes agree on it). */
static void error_key(const rl__stats_error *r, char hex[65]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  hex[0] = '\0';
  if (ctx == NULL)
    return;
  if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1) {
    EVP_DigestUpdate(ctx, r->type, strlen(r->type));
    EVP_DigestUpdate(ctx, ".", 1);
    EVP_DigestUpdate(ctx, r->name, strlen(r->name));
    EVP_DigestUpdate(ctx, ".\"'", 3);
    EVP_DigestUpdate(ctx, r->error, strlen(r->error));
    EVP_DigestUpdate(ctx, "'\"", 2);
    EVP_DigestFinal_ex(ctx, md, &mdlen);
  }
  EVP_MD_CTX_free(ctx);
  for (unsigned i = 0; i < mdlen && i < 32; i++)
    snprintf(hex + 2 * (size_t)i, 3, "%02x", md[i]);
}

int rl__msg_stats(rl__msg_out *o, rl__stats *delta, double run_start_unix,
                  double since_unix, double now_unix, int exact,
                  const rl__msg_report *rep, const char *node_id) {
  rl__msg_begin(o, "stats");
  msgpack_pack_map(&o->pk, 5);

  /* Locust leaves out entries with no request and no failure. */
  const rl__stats_entry **entries = NULL;
  size_t n = rl__stats_entries(delta, &entries);
  size_t used = 0;
  for (size_t i = 0; i < n; i++)
    used += entries[i]->num_requests > 0 || entries[i]->num_failures > 0;
  rl__msg_pack_str(&o->pk, "stats");
  msgpack_pack_array(&o->pk, used);
  for (size_t i = 0; i < n; i++) {
    if (entries[i]->num_requests == 0 && entries[i]->num_failures == 0)
      continue;
    if (pack_entry(o, entries[i], run_start_unix, since_unix, now_unix,
                   exact) != 0)
      return RL_ERR_NOMEM;
  }
  rl__msg_pack_str(&o->pk, "stats_total");
  if (pack_entry(o, rl__stats_total(delta), run_start_unix, since_unix,
                 now_unix, 0) != 0)
    return RL_ERR_NOMEM;

  const rl__stats_error **errors = NULL;
  size_t ne = rl__stats_errors(delta, &errors);
  rl__msg_pack_str(&o->pk, "errors");
  msgpack_pack_map(&o->pk, ne);
  for (size_t i = 0; i < ne; i++) {
    char key[65];
    error_key(errors[i], key);
    rl__msg_pack_str(&o->pk, key);
    msgpack_pack_map(&o->pk, 4);
    rl__msg_pack_str(&o->pk, "name");
    rl__msg_pack_str(&o->pk, errors[i]->name);
    rl__msg_pack_str(&o->pk, "method");
    rl__msg_pack_str(&o->pk, errors[i]->type);
    rl__msg_pack_str(&o->pk, "error");
    rl__msg_pack_str(&o->pk, errors[i]->error);
    rl__msg_pack_str(&o->pk, "occurrences");
    msgpack_pack_uint64(&o->pk, errors[i]->occurrences);
  }
  rl__msg_pack_str(&o->pk, "user_count");
  msgpack_pack_int64(&o->pk, rep != NULL ? rep->user_count : 0);
  rl__msg_pack_str(&o->pk, "user_classes_count");
  if (rep != NULL)
    pack_classes(&o->pk, rep->cls, rep->ncls);
  else
    msgpack_pack_map(&o->pk, 0);
  return rl__msg_end(o, node_id);
}

/* ---- reading: the frame's shape ------------------------------------------ */

static void fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(char *err, size_t errlen, const char *fmt, ...) {
  if (err == NULL || errlen == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

static uint64_t be(const unsigned char *p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++)
    v = v << 8 | p[i];
  return v;
}

/*
 * Walks the msgpack bytes without building anything: every container's
 * item count is checked against the bytes left (an item takes one byte at
 * least, so the items claimed and not yet read never outnumber them), and
 * nesting is bounded. msgpack-c allocates a container's items when it
 * reads its header: this keeps a 5-byte frame from asking for gigabytes.
 * 0 or -1 with a reason.
 */
static int frame_check(const unsigned char *p, size_t len, char *err,
                       size_t errlen) {
  uint64_t left[RL__MSG_MAX_DEPTH + 1]; /* items still to read per level */
  int depth = 0;
  uint64_t pending = 1; /* items claimed and not yet read, all levels */
  size_t pos = 0;
  left[0] = 1;
  while (depth >= 0) {
    if (left[depth] == 0) {
      depth--;
      continue;
    }
    if (pos >= len) {
      fail(err, errlen, "frame cut short at byte %zu", pos);
      return -1;
    }
    left[depth]--;
    pending--;
    unsigned c = p[pos++];
    uint64_t skip = 0, items = 0;
    int container = 0;
    size_t hdr = 0;
    if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
      skip = 0;
    } else if (c >= 0x80 && c <= 0x8f) {
      items = 2 * (uint64_t)(c & 0x0f), container = 1;
    } else if (c >= 0x90 && c <= 0x9f) {
      items = c & 0x0f, container = 1;
    } else if (c >= 0xa0 && c <= 0xbf) {
      skip = c & 0x1f;
    } else {
      switch (c) {
      case 0xc4:
      case 0xd9:
        hdr = 1;
        break; /* bin8, str8 */
      case 0xc5:
      case 0xda:
        hdr = 2;
        break;
      case 0xc6:
      case 0xdb:
        hdr = 4;
        break;
      case 0xc7:
        hdr = 1;
        skip = 1;
        break; /* ext8: + type */
      case 0xc8:
        hdr = 2;
        skip = 1;
        break;
      case 0xc9:
        hdr = 4;
        skip = 1;
        break;
      case 0xca:
        skip = 4;
        break;
      case 0xcb:
        skip = 8;
        break;
      case 0xcc:
      case 0xd0:
        skip = 1;
        break;
      case 0xcd:
      case 0xd1:
        skip = 2;
        break;
      case 0xce:
      case 0xd2:
        skip = 4;
        break;
      case 0xcf:
      case 0xd3:
        skip = 8;
        break;
      case 0xd4:
        skip = 2;
        break; /* fixext: type + data */
      case 0xd5:
        skip = 3;
        break;
      case 0xd6:
        skip = 5;
        break;
      case 0xd7:
        skip = 9;
        break;
      case 0xd8:
        skip = 17;
        break;
      case 0xdc:
        hdr = 2;
        container = 1;
        break;
      case 0xdd:
        hdr = 4;
        container = 1;
        break;
      case 0xde:
        hdr = 2;
        container = 2;
        break;
      case 0xdf:
        hdr = 4;
        container = 2;
        break;
      default:
        fail(err, errlen, "byte %zu: 0x%02x is no msgpack type", pos - 1, c);
        return -1;
      }
      if (hdr > 0) {
        if (len - pos < hdr) {
          fail(err, errlen, "frame cut short at byte %zu", pos);
          return -1;
        }
        uint64_t n = be(p + pos, hdr);
        pos += hdr;
        if (container == 0)
          skip += n;
        else
          items = container == 2 ? 2 * n : n;
      }
      if (container == 2)
        container = 1;
    }
    if (container) {
      if (items > len - pos || pending + items > len - pos) {
        fail(err, errlen,
             "byte %zu: a container of %llu items in %zu bytes left", pos,
             (unsigned long long)items, len - pos);
        return -1;
      }
      if (items > 0) {
        if (depth == RL__MSG_MAX_DEPTH) {
          fail(err, errlen, "nested more than %d deep", RL__MSG_MAX_DEPTH);
          return -1;
        }
        left[++depth] = items;
        pending += items;
      }
      continue;
    }
    if (skip > len - pos) {
      fail(err, errlen, "frame cut short at byte %zu", pos);
      return -1;
    }
    pos += (size_t)skip;
  }
  if (pos != len) {
    fail(err, errlen, "%zu bytes after the message", len - pos);
    return -1;
  }
  return 0;
}

int rl__msg_value_check(const void *p, size_t len, char *err, size_t errlen) {
  return frame_check(p, len, err, errlen);
}

static char *str_copy(const char *p, size_t n) {
  if (memchr(p, '\0', n) != NULL)
    return NULL;
  char *s = malloc(n + 1);
  if (s == NULL)
    return NULL;
  memcpy(s, p, n);
  s[n] = '\0';
  return s;
}

char *rl__msg_strdup(const msgpack_object *o) {
  if (o == NULL || o->type != MSGPACK_OBJECT_STR)
    return NULL;
  return str_copy(o->via.str.ptr, o->via.str.size);
}

static int str_is(const msgpack_object *o, const char *s) {
  size_t n = strlen(s);
  return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
         memcmp(o->via.str.ptr, s, n) == 0;
}

const msgpack_object *rl__msg_get(const msgpack_object *o, const char *key) {
  if (o == NULL || o->type != MSGPACK_OBJECT_MAP)
    return NULL;
  for (uint32_t i = 0; i < o->via.map.size; i++)
    if (str_is(&o->via.map.ptr[i].key, key))
      return &o->via.map.ptr[i].val;
  return NULL;
}

int rl__msg_decode(const void *frame, size_t len, rl__msg *m, char *err,
                   size_t errlen) {
  memset(m, 0, sizeof(*m));
  if (frame_check(frame, len, err, errlen) != 0)
    return RL_ERR_PROTO;
  m->frame = malloc(len ? len : 1);
  if (m->frame == NULL) {
    fail(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  memcpy(m->frame, frame, len);
  msgpack_unpacked_init(&m->up);
  size_t off = 0;
  msgpack_unpack_return r = msgpack_unpack_next(&m->up, m->frame, len, &off);
  const msgpack_object *a = &m->up.data;
  const char *why = NULL;
  if (r != MSGPACK_UNPACK_SUCCESS)
    why = r == MSGPACK_UNPACK_NOMEM_ERROR ? "out of memory" : "not msgpack";
  else if (a->type != MSGPACK_OBJECT_ARRAY || a->via.array.size != 3)
    why = "not Locust's [type, data, node_id] array";
  else if (a->via.array.ptr[0].type != MSGPACK_OBJECT_STR)
    why = "the type is no string";
  else if (a->via.array.ptr[2].type != MSGPACK_OBJECT_STR &&
           a->via.array.ptr[2].type != MSGPACK_OBJECT_NIL)
    why = "the node id is no string";
  if (why == NULL) {
    m->type = rl__msg_strdup(&a->via.array.ptr[0]);
    m->node_id = a->via.array.ptr[2].type == MSGPACK_OBJECT_NIL
                     ? strdup("")
                     : rl__msg_strdup(&a->via.array.ptr[2]);
    if (m->type == NULL || m->node_id == NULL)
      why = "a string with a NUL inside, or out of memory";
  }
  if (why != NULL) {
    fail(err, errlen, "%s", why);
    int rc = r == MSGPACK_UNPACK_NOMEM_ERROR ? RL_ERR_NOMEM : RL_ERR_PROTO;
    rl__msg_free(m);
    return rc;
  }
  m->data = a->via.array.ptr[1];
  return 0;
}

void rl__msg_free(rl__msg *m) {
  if (m->frame != NULL)
    msgpack_unpacked_destroy(&m->up);
  free(m->type);
  free(m->node_id);
  free(m->frame);
  memset(m, 0, sizeof(*m));
}

/* ---- reading: the data --------------------------------------------------- */

static int num_of(const msgpack_object *o, double *out) {
  if (o == NULL)
    return -1;
  switch (o->type) {
  case MSGPACK_OBJECT_POSITIVE_INTEGER:
    *out = (double)o->via.u64;
    return 0;
  case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    *out = (double)o->via.i64;
    return 0;
  case MSGPACK_OBJECT_FLOAT32:
  case MSGPACK_OBJECT_FLOAT64:
    if (!isfinite(o->via.f64))
      return -1;
    *out = o->via.f64;
    return 0;
  default:
    return -1;
  }
}

/* A count: a non-negative integer (or a float holding one, as Python's
 * round(x, -1) makes). */
static int count_of(const msgpack_object *o, uint64_t *out) {
  if (o == NULL)
    return -1;
  if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
    *out = o->via.u64;
    return 0;
  }
  double d;
  if (num_of(o, &d) != 0 || d < 0 || d >= 1.8e19 || d != floor(d))
    return -1;
  *out = (uint64_t)d;
  return 0;
}

static int int_of(const msgpack_object *o, int64_t *out) {
  if (o != NULL && o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
    *out = o->via.i64;
    return 0;
  }
  uint64_t u;
  if (count_of(o, &u) != 0 || u > INT64_MAX)
    return -1;
  *out = (int64_t)u;
  return 0;
}

int rl__msg_read_client_ready(const rl__msg *m, char **version, char *err,
                              size_t errlen) {
  /* Locust before 2.0 sent no version: an error there too. */
  *version = rl__msg_strdup(&m->data);
  if (*version == NULL) {
    fail(err, errlen, "client_ready without a version (a pre-2.0 worker?)");
    return RL_ERR_PROTO;
  }
  return 0;
}

int rl__msg_read_ack(const rl__msg *m, int64_t *index, char *err,
                     size_t errlen) {
  /* Masters up to Locust 2.10.2 send no index. */
  *index = -1;
  if (m->data.type == MSGPACK_OBJECT_NIL)
    return 0;
  const msgpack_object *i = rl__msg_get(&m->data, "index");
  if (i == NULL && m->data.type == MSGPACK_OBJECT_MAP)
    return 0;
  if (int_of(i, index) != 0) {
    fail(err, errlen, "ack: \"index\" is no integer");
    return RL_ERR_PROTO;
  }
  return 0;
}

int rl__msg_ack_is_rpcload(const rl__msg *m) { return rl__msg_is_rpcload(m); }

int rl__msg_is_rpcload(const rl__msg *m) {
  return rl__msg_get(&m->data, "rpcload") != NULL;
}

/* {name: count} into a new array. */
static int read_classes(const msgpack_object *o, rl__msg_class_count **out,
                        size_t *nout, const char *what, char *err,
                        size_t errlen) {
  *out = NULL;
  *nout = 0;
  if (o == NULL || o->type != MSGPACK_OBJECT_MAP) {
    fail(err, errlen, "%s: \"user_classes_count\" is no map", what);
    return RL_ERR_PROTO;
  }
  uint32_t n = o->via.map.size;
  rl__msg_class_count *v = calloc(n ? n : 1, sizeof(*v));
  if (v == NULL)
    return RL_ERR_NOMEM;
  for (uint32_t i = 0; i < n; i++) {
    const msgpack_object_kv *kv = &o->via.map.ptr[i];
    v[i].name = rl__msg_strdup(&kv->key);
    if (v[i].name == NULL || int_of(&kv->val, &v[i].count) != 0 ||
        v[i].count < 0) {
      fail(err, errlen, "%s: \"user_classes_count\" holds a %s that is no %s",
           what, v[i].name == NULL ? "key" : "count",
           v[i].name == NULL ? "class name" : "count of users");
      for (uint32_t j = 0; j <= i; j++)
        free(v[j].name);
      free(v);
      return RL_ERR_PROTO;
    }
  }
  *out = v;
  *nout = n;
  return 0;
}

int rl__msg_read_spawn(const rl__msg *m, rl__msg_spawn *job, char *err,
                       size_t errlen) {
  memset(job, 0, sizeof(*job));
  job->stop_timeout = -1;
  if (m->data.type != MSGPACK_OBJECT_MAP) {
    fail(err, errlen, "spawn: the data is no map");
    return RL_ERR_PROTO;
  }
  if (num_of(rl__msg_get(&m->data, "timestamp"), &job->timestamp) != 0) {
    fail(err, errlen, "spawn: \"timestamp\" is missing or no number");
    return RL_ERR_PROTO;
  }
  int rc = read_classes(rl__msg_get(&m->data, "user_classes_count"), &job->cls,
                        &job->ncls, "spawn", err, errlen);
  if (rc != 0)
    return rc;
  const msgpack_object *host = rl__msg_get(&m->data, "host");
  if (host != NULL && host->type == MSGPACK_OBJECT_STR && host->via.str.size) {
    job->host = rl__msg_strdup(host);
    if (job->host == NULL) {
      fail(err, errlen, "spawn: \"host\" is no text");
      rl__msg_spawn_free(job);
      return RL_ERR_PROTO;
    }
  }
  const msgpack_object *st = rl__msg_get(&m->data, "stop_timeout");
  if (st != NULL && st->type != MSGPACK_OBJECT_NIL &&
      (num_of(st, &job->stop_timeout) != 0 || job->stop_timeout < 0)) {
    fail(err, errlen, "spawn: \"stop_timeout\" is no number of seconds");
    rl__msg_spawn_free(job);
    return RL_ERR_PROTO;
  }
  return 0;
}

int rl__msg_read_heartbeat(const rl__msg *m, char **state, double *cpu,
                           char *err, size_t errlen) {
  *state = rl__msg_strdup(rl__msg_get(&m->data, "state"));
  *cpu = 0;
  if (*state == NULL) {
    fail(err, errlen, "heartbeat: \"state\" is missing or no string");
    return RL_ERR_PROTO;
  }
  const msgpack_object *c = rl__msg_get(&m->data, "current_cpu_usage");
  if (c != NULL && num_of(c, cpu) != 0) {
    free(*state);
    *state = NULL;
    fail(err, errlen, "heartbeat: \"current_cpu_usage\" is no number");
    return RL_ERR_PROTO;
  }
  return 0;
}

int rl__msg_read_exception(const rl__msg *m, char **msg, char **traceback,
                           char *err, size_t errlen) {
  *msg = rl__msg_strdup(rl__msg_get(&m->data, "msg"));
  *traceback = rl__msg_strdup(rl__msg_get(&m->data, "traceback"));
  if (*msg == NULL || *traceback == NULL) {
    free(*msg);
    free(*traceback);
    *msg = *traceback = NULL;
    fail(err, errlen, "exception: \"msg\" or \"traceback\" is no string");
    return RL_ERR_PROTO;
  }
  return 0;
}

static int read_report(const msgpack_object *data, rl__msg_report *rep,
                       const char *what, char *err, size_t errlen) {
  rep->user_count = 0;
  rep->cls = NULL;
  rep->ncls = 0;
  const msgpack_object *uc = rl__msg_get(data, "user_count");
  if (uc != NULL && int_of(uc, &rep->user_count) != 0) {
    fail(err, errlen, "%s: \"user_count\" is no integer", what);
    return RL_ERR_PROTO;
  }
  const msgpack_object *cls = rl__msg_get(data, "user_classes_count");
  if (cls == NULL)
    return 0;
  int rc = read_classes(cls, &rep->cls, &rep->ncls, what, err, errlen);
  if (rc == 0 && uc == NULL)
    rep->user_count = classes_sum(rep->cls, rep->ncls);
  return rc;
}

int rl__msg_read_spawning_complete(const rl__msg *m, rl__msg_report *rep,
                                   char *err, size_t errlen) {
  if (m->data.type != MSGPACK_OBJECT_MAP) {
    memset(rep, 0, sizeof(*rep));
    fail(err, errlen, "spawning_complete: the data is no map");
    return RL_ERR_PROTO;
  }
  return read_report(&m->data, rep, "spawning_complete", err, errlen);
}

/* A run second from a Locust Unix second; -1 before the run. */
static int64_t run_sec(double unix_sec, double run_start_unix) {
  double d = unix_sec - floor(run_start_unix);
  if (!(d >= 0) || d > 1e12)
    return -1;
  return (int64_t)d;
}

/* {Unix second: count} into the entry's ring (`fails`: the failures'). */
static int read_per_sec(const msgpack_object *o, rl__stats_entry *e,
                        double run_start_unix, int fails, uint64_t *latest) {
  if (o == NULL || o->type == MSGPACK_OBJECT_NIL)
    return 0;
  if (o->type != MSGPACK_OBJECT_MAP)
    return -1;
  for (uint32_t i = 0; i < o->via.map.size; i++) {
    double t;
    uint64_t n;
    if (num_of(&o->via.map.ptr[i].key, &t) != 0 ||
        count_of(&o->via.map.ptr[i].val, &n) != 0)
      return -1;
    int64_t sec = run_sec(t, run_start_unix);
    if (sec < 0 || n == 0)
      continue;
    size_t slot = (size_t)sec % RL__STATS_RING;
    if (e->ring_sec[slot] != (uint64_t)sec) {
      if (e->ring_sec[slot] > (uint64_t)sec)
        continue; /* older than the ring holds */
      e->ring_sec[slot] = (uint64_t)sec;
      e->ring_reqs[slot] = 0;
      e->ring_fails[slot] = 0;
    }
    if (fails)
      e->ring_fails[slot] += n;
    else
      e->ring_reqs[slot] += n;
    if ((uint64_t)sec > *latest)
      *latest = (uint64_t)sec;
  }
  return 0;
}

static uint64_t ms_to_ns(double ms) {
  if (!(ms > 0))
    return 0;
  if (ms > 1.8e13)
    return (uint64_t)1.8e19;
  return (uint64_t)llround(ms * 1e6);
}

/* The "rpcload" key's exact histogram and sums into `e`. */
static int read_exact(const msgpack_object *x, rl__stats_entry *e) {
  const msgpack_object *hist = rl__msg_get(x, "hist");
  uint64_t total, min, max;
  if (count_of(rl__msg_get(x, "total_ns"), &total) != 0 ||
      count_of(rl__msg_get(x, "min_ns"), &min) != 0 ||
      count_of(rl__msg_get(x, "max_ns"), &max) != 0 || hist == NULL ||
      hist->type != MSGPACK_OBJECT_ARRAY || hist->via.array.size % 2 != 0)
    return -1;
  for (uint32_t i = 0; i < hist->via.array.size; i += 2) {
    uint64_t lo, n;
    if (count_of(&hist->via.array.ptr[i], &lo) != 0 ||
        count_of(&hist->via.array.ptr[i + 1], &n) != 0)
      return -1;
    if (rl__histogram_record_n(&e->hist, lo, n) != 0)
      return -2;
  }
  e->total_ns = total;
  if (e->hist.count > 0) {
    e->hist.min = min;
    e->hist.max = max;
  }
  return 0;
}

/* Locust's rounded response_times {ms: count} into `e`'s histogram. */
static int read_rounded(const msgpack_object *rt, rl__stats_entry *e,
                        const msgpack_object *min, const msgpack_object *max) {
  if (rt == NULL || rt->type == MSGPACK_OBJECT_NIL)
    return 0;
  if (rt->type != MSGPACK_OBJECT_MAP)
    return -1;
  for (uint32_t i = 0; i < rt->via.map.size; i++) {
    double ms;
    uint64_t n;
    if (num_of(&rt->via.map.ptr[i].key, &ms) != 0 || ms < 0 ||
        count_of(&rt->via.map.ptr[i].val, &n) != 0)
      return -1;
    if (rl__histogram_record_n(&e->hist, ms_to_ns(ms), n) != 0)
      return -2;
  }
  /* The rounded values move min and max; the message has them exact. */
  double v;
  if (e->hist.count > 0 && min != NULL && num_of(min, &v) == 0)
    e->hist.min = ms_to_ns(v);
  if (e->hist.count > 0 && max != NULL && num_of(max, &v) == 0)
    e->hist.max = ms_to_ns(v);
  return 0;
}

static int read_entry(const msgpack_object *o, rl__stats *tmp,
                      double run_start_unix, uint64_t *latest, size_t idx,
                      char *err, size_t errlen) {
  const msgpack_object *name = rl__msg_get(o, "name");
  const msgpack_object *method = rl__msg_get(o, "method");
  char *n = rl__msg_strdup(name), *t = rl__msg_strdup(method);
  if (n == NULL || t == NULL) {
    free(n);
    free(t);
    fail(err, errlen, "stats: entry %zu: \"name\" or \"method\" is no string",
         idx);
    return RL_ERR_PROTO;
  }
  rl__stats_entry *e = rl__stats_entry_get(tmp, t, n);
  free(n);
  free(t);
  if (e == NULL)
    return RL_ERR_NOMEM;
  uint64_t reqs, fails, bytes = 0;
  double total_ms = 0;
  const msgpack_object *cl = rl__msg_get(o, "total_content_length");
  const msgpack_object *trt = rl__msg_get(o, "total_response_time");
  if (count_of(rl__msg_get(o, "num_requests"), &reqs) != 0 ||
      count_of(rl__msg_get(o, "num_failures"), &fails) != 0 ||
      (cl != NULL && count_of(cl, &bytes) != 0) ||
      (trt != NULL && (num_of(trt, &total_ms) != 0 || total_ms < 0))) {
    fail(err, errlen,
         "stats: entry %zu: a count (num_requests, num_failures, "
         "total_content_length, total_response_time) is missing or no "
         "number",
         idx);
    return RL_ERR_PROTO;
  }
  e->num_requests += reqs;
  e->num_failures += fails;
  e->bytes += bytes;
  const msgpack_object *x = rl__msg_get(o, "rpcload");
  int rc;
  if (x != NULL) {
    rc = read_exact(x, e);
  } else {
    e->total_ns += ms_to_ns(total_ms);
    rc = read_rounded(rl__msg_get(o, "response_times"), e,
                      rl__msg_get(o, "min_response_time"),
                      rl__msg_get(o, "max_response_time"));
  }
  if (rc == -2)
    return RL_ERR_NOMEM;
  if (rc != 0 ||
      read_per_sec(rl__msg_get(o, "num_reqs_per_sec"), e, run_start_unix, 0,
                   latest) != 0 ||
      read_per_sec(rl__msg_get(o, "num_fail_per_sec"), e, run_start_unix, 1,
                   latest) != 0) {
    fail(err, errlen,
         "stats: entry %zu: response_times, num_reqs_per_sec, "
         "num_fail_per_sec or rpcload is not {number: count}",
         idx);
    return RL_ERR_PROTO;
  }
  return 0;
}

static int read_error(const msgpack_object *o, rl__stats *tmp, uint64_t sec,
                      char *err, size_t errlen) {
  char *n = rl__msg_strdup(rl__msg_get(o, "name"));
  char *t = rl__msg_strdup(rl__msg_get(o, "method"));
  char *text = rl__msg_strdup(rl__msg_get(o, "error"));
  uint64_t occ;
  int rc = 0;
  if (n == NULL || t == NULL || text == NULL ||
      count_of(rl__msg_get(o, "occurrences"), &occ) != 0) {
    fail(err, errlen,
         "stats: an error is not {name, method, error, occurrences}");
    rc = RL_ERR_PROTO;
  } else {
    rl__stats_entry *e = rl__stats_entry_get(tmp, t, n);
    if (e == NULL || rl__stats_count_error(tmp, e, text, occ, sec) != 0)
      rc = RL_ERR_NOMEM;
  }
  free(n);
  free(t);
  free(text);
  return rc;
}

int rl__msg_read_stats(const rl__msg *m, rl__stats *into, double run_start_unix,
                       rl__msg_report *rep, char *err, size_t errlen) {
  if (rep != NULL)
    memset(rep, 0, sizeof(*rep));
  const msgpack_object *stats = rl__msg_get(&m->data, "stats");
  const msgpack_object *errors = rl__msg_get(&m->data, "errors");
  if (stats == NULL || stats->type != MSGPACK_OBJECT_ARRAY) {
    fail(err, errlen, "stats: \"stats\" is missing or no list");
    return RL_ERR_PROTO;
  }
  if (errors != NULL && errors->type != MSGPACK_OBJECT_MAP &&
      errors->type != MSGPACK_OBJECT_NIL) {
    fail(err, errlen, "stats: \"errors\" is no map");
    return RL_ERR_PROTO;
  }
  rl__stats *tmp = rl__stats_new();
  if (tmp == NULL)
    return RL_ERR_NOMEM;
  /* No cap here: the master's table caps what it keeps. */
  rl__stats_set_max_error_rows(tmp, 0);
  uint64_t latest = 0;
  int rc = 0;
  for (uint32_t i = 0; rc == 0 && i < stats->via.array.size; i++)
    rc = read_entry(&stats->via.array.ptr[i], tmp, run_start_unix, &latest, i,
                    err, errlen);
  if (errors != NULL && errors->type == MSGPACK_OBJECT_MAP)
    for (uint32_t i = 0; rc == 0 && i < errors->via.map.size; i++)
      rc = read_error(&errors->via.map.ptr[i].val, tmp, latest, err, errlen);
  if (rc == 0 && rep != NULL)
    rc = read_report(&m->data, rep, "stats", err, errlen);
  if (rc == 0 && rl__stats_merge(into, tmp) != 0)
    rc = RL_ERR_NOMEM;
  if (rc != 0 && rep != NULL)
    rl__msg_report_free(rep);
  rl__stats_del(tmp);
  return rc;
}

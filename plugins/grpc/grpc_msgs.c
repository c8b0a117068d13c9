/*
 * What a gRPC step sends: its request messages, compiled once at start-up.
 *
 *   -d JSON         one message, or a JSON array of them (several messages:
 *                   round-robin over unary calls, in order in a stream);
 *   -d @FILE, @-    the same, read by the command line from a file or stdin;
 *   -D FILE         a JSON array of messages, or one message;
 *   -b, -B FILE     serialized protobuf instead of JSON (option "binary"
 *                   with the bytes as the body): several count-prefixed
 *                   messages (varint length, then the message), else one.
 *
 * Each JSON message is checked against the method's input type now, then
 * encoded and framed once (gzipped with --compress), or kept as a template
 * when it holds {{...}}, expanded per message sent. A message over
 * --max-send-message-size is refused here. A JSON array for a method whose
 * input type is itself a list (google.protobuf.ListValue, Value) is one
 * message.
 */
#include "grpc_msgs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "grpc_int.h"
#include "lib/http_text.h"
#include "lib/tpl.h"
#include "pbjson.h"

/* The most messages one step holds (-D, a -d array, -b). */
#define GRPC_MAX_MSGS 100000
/* A template stands in for this number, and its index, while an array is
 * split: a digit string is valid JSON both bare and inside quotes. */
#define MARK "73182495610"
#define MARK_LEN 11
#define MARK_DIGITS 6

static char *dup_len(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (p != NULL) {
    memcpy(p, s, n);
    p[n] = '\0';
  }
  return p;
}

/* Reads a whole file into a NUL-terminated buffer (caller frees); *len
 * gets its length. */
static char *read_file(const char *path, size_t *len, char *err,
                       size_t errlen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    rl__http_set_err(err, errlen, "cannot read %s: %s", path, strerror(errno));
    return NULL;
  }
  rl__buf b = {0};
  int rc = rl__buf_read_fd(&b, fd);
  close(fd);
  size_t n = b.len;
  if (rc == 0)
    rc = rl__buf_add(&b, "", 1);
  if (rc != 0) {
    rl__buf_free(&b);
    rl__http_set_err(err, errlen, "cannot read %s", path);
    return NULL;
  }
  *len = n;
  return b.p;
}

size_t grpc_bom_len(const char *s, size_t len) {
  return len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
}

/* Where `len` bytes of s stop being text a JSON reader could take: a NUL
 * byte, a control byte JSON has no use for, or bytes that are not UTF-8.
 * Returns len when they are all text. */
static size_t not_text_at(const unsigned char *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    unsigned char c = s[i];
    size_t n = c < 0x80             ? 1
               : (c & 0xe0) == 0xc0 ? 2
               : (c & 0xf0) == 0xe0 ? 3
               : (c & 0xf8) == 0xf0 ? 4
                                    : 0;
    if (n == 0 || (c < 0x20 && c != '\t' && c != '\n' && c != '\r') ||
        c == 0x7f || i + n > len)
      return i;
    for (size_t k = 1; k < n; k++)
      if ((s[i + k] & 0xc0) != 0x80)
        return i;
    i += n;
  }
  return len;
}

/* JSON text (`what` names it) that is binary data instead: refused as
 * such, with where it stops being text, rather than as a JSON syntax
 * error at its first byte. */
static int check_text(const char *text, size_t len, const char *what, char *err,
                      size_t errlen) {
  size_t at = not_text_at((const unsigned char *)text, len);
  if (at == len)
    return 0;
  rl__http_set_err(err, errlen,
                   "%s is binary data (byte 0x%02x at offset %zu), not JSON "
                   "text: serialized messages go with -B FILE (or -b from "
                   "stdin)",
                   what, (unsigned)(unsigned char)text[at], at);
  return RL_ERR_INVAL;
}

/* Adds a message slot to the step. */
static struct grpc_msg *new_msg(struct grpc_step *st) {
  if (st->n_msgs >= GRPC_MAX_MSGS)
    return NULL;
  struct grpc_msg *p = realloc(st->msgs, (st->n_msgs + 1) * sizeof *p);
  if (p == NULL)
    return NULL;
  st->msgs = p;
  memset(&p[st->n_msgs], 0, sizeof *p);
  return &p[st->n_msgs++];
}

static int too_big(const struct grpc_step *st, const char *what, size_t len,
                   char *err, size_t errlen) {
  char size[32];
  grpc_size_text(st->max_send, size, sizeof size);
  rl__http_set_err(err, errlen,
                   "%s is %zu bytes, over the send limit of %s "
                   "(--max-send-message-size)",
                   what, len, size);
  return RL_ERR_INVAL;
}

/* Frames wire bytes (borrowed) into m. */
static int frame_wire(struct grpc_step *st, const uint8_t *wire, size_t len,
                      const char *what, struct grpc_msg *m, char *err,
                      size_t errlen) {
  if (len > st->max_send)
    return too_big(st, what, len, err, errlen);
  int rc = grpc_frame_build(wire, len, st->gzip, &m->frame, &m->frame_len);
  if (rc != 0)
    rl__http_set_err(err, errlen, "out of memory");
  return rc;
}

int grpc_whole_template(const char *s, size_t len) {
  while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\n'))
    len--;
  while (len > 0 && (*s == ' ' || *s == '\n')) {
    s++;
    len--;
  }
  if (len < 4 || memcmp(s, "{{", 2) != 0 || memcmp(s + len - 2, "}}", 2) != 0)
    return 0;
  for (size_t i = 2; i + 2 < len; i++)
    if ((s[i] == '{' && s[i + 1] == '{') || (s[i] == '}' && s[i + 1] == '}'))
      return 0;
  return 1;
}

/*
 * Compiles one request message from JSON text (`what` names it in
 * errors: "-d", "-D file.json [3]"): checked against the input type now,
 * then framed once, or kept as a template when it has {{...}}.
 */
static int compile_json(struct grpc_step *st, const char *json, size_t len,
                        const char *what, char *err, size_t errlen) {
  char perr[512] = "";
  const rl_host *host = st->host;
  const ProtobufCMessageDescriptor *in = st->method->input;
  rl_template *tpl = NULL;
  int rc;
  struct grpc_msg *m = new_msg(st);
  if (m == NULL) {
    rl__http_set_err(err, errlen, "more than %d request messages",
                     GRPC_MAX_MSGS);
    return RL_ERR_INVAL;
  }
  if (rl__tpl_available(host)) {
    rc = rl__tpl_compile(host, json, len, what, &tpl, err, errlen);
    if (rc != 0)
      return rc;
  }
  if (tpl != NULL && grpc_whole_template(json, len)) {
    /* The whole message comes with each request (a Lua task's table as
     * JSON: u.grpc:call): there is nothing to check before the run; a
     * message that does not fit fails its request when it is made. */
    m->json = tpl;
    m->whole = 1;
    return 0;
  }
  if (tpl != NULL) {
    /* Every {{...}} as a stand-in that lets the message be checked against
     * its type before the run: "1" fits a number, an enum's first value
     * and, inside quotes, a string; "1111" also fits bytes (base64). The
     * first one's complaint is the one shown. */
    static const char *const stand_ins[] = {"1", "1111"};
    char perr2[512];
    rc = RL_ERR_INVAL;
    for (size_t i = 0; rc != 0 && rc != RL_ERR_NOMEM && i < 2; i++) {
      char *probe = rl__tpl_replace(json, len, stand_ins[i]);
      ProtobufCMessage *msg = NULL;
      rc = probe == NULL
               ? RL_ERR_NOMEM
               : rl__pb_from_json(st->pool, in, probe, &msg,
                                  i == 0 ? perr : perr2,
                                  i == 0 ? sizeof perr : sizeof perr2);
      free(probe);
      rl__pb_message_free(msg);
    }
    if (rc != 0) {
      host->template_del(tpl);
      rl__http_set_err(err, errlen, "%s does not fit %s: %s", what, in->name,
                       perr);
      return rc;
    }
    m->json = tpl;
    return 0;
  }
  uint8_t *wire = NULL;
  size_t wire_len = 0;
  char *text = dup_len(json, len); /* pbjson wants a C string */
  rc = text == NULL ? RL_ERR_NOMEM
                    : rl__pb_json_to_wire(st->pool, in, text, &wire, &wire_len,
                                          perr, sizeof perr);
  free(text);
  if (rc != 0) {
    rl__http_set_err(err, errlen, "%s does not fit %s: %s", what, in->name,
                     perr);
    return rc;
  }
  rc = frame_wire(st, wire, wire_len, what, m, err, errlen);
  free(wire);
  return rc;
}

/* The input type is itself a JSON list: an array is one message. */
static int input_is_list(const struct grpc_step *st) {
  const char *n = st->method->input->name;
  return strcmp(n, "google.protobuf.ListValue") == 0 ||
         strcmp(n, "google.protobuf.Value") == 0;
}

/* Text with each complete {{...}} replaced by a numbered mark (they are
 * put back into each element of the array it holds). *n gets how many. */
static char *mark_templates(const char *s, size_t len, size_t *n) {
  rl__buf b = {0};
  *n = 0;
  size_t i = 0;
  while (i < len) {
    const char *open = i + 1 < len ? strstr(s + i, "{{") : NULL;
    const char *close = open != NULL ? strstr(open + 2, "}}") : NULL;
    if (open == NULL || close == NULL || (size_t)(close + 2 - s) > len) {
      rl__buf_add(&b, s + i, len - i);
      break;
    }
    char mark[MARK_LEN + MARK_DIGITS + 1];
    snprintf(mark, sizeof mark, MARK "%0*zu", MARK_DIGITS, (*n)++);
    rl__buf_add(&b, s + i, (size_t)(open - (s + i)));
    rl__buf_str(&b, mark);
    i = (size_t)(close + 2 - s);
  }
  rl__buf_add(&b, "", 1);
  if (b.oom || *n >= 1000000) {
    rl__buf_free(&b);
    return NULL;
  }
  return b.p;
}

/* The template text of mark k in the original s (the k-th complete
 * {{...}}): *at and *len. */
static void nth_template(const char *s, size_t len, size_t k, const char **at,
                         size_t *tlen) {
  size_t i = 0, seen = 0;
  while (i < len) {
    const char *open = strstr(s + i, "{{");
    const char *close = open != NULL ? strstr(open + 2, "}}") : NULL;
    if (open == NULL || close == NULL)
      break;
    if (seen++ == k) {
      *at = open;
      *tlen = (size_t)(close + 2 - open);
      return;
    }
    i = (size_t)(close + 2 - s);
  }
  *at = "";
  *tlen = 0;
}

/* An element's JSON with its marks turned back into the templates of the
 * original text. Caller frees; NULL when out of memory. */
static char *unmark(const char *elem, const char *orig, size_t orig_len) {
  rl__buf b = {0};
  const char *p = elem;
  for (;;) {
    const char *m = strstr(p, MARK);
    if (m == NULL || strlen(m) < MARK_LEN + MARK_DIGITS) {
      rl__buf_str(&b, p);
      break;
    }
    size_t k = 0;
    for (int d = 0; d < MARK_DIGITS; d++)
      k = k * 10 + (size_t)(m[MARK_LEN + d] - '0');
    const char *at;
    size_t tlen;
    nth_template(orig, orig_len, k, &at, &tlen);
    rl__buf_add(&b, p, (size_t)(m - p));
    rl__buf_add(&b, at, tlen);
    p = m + MARK_LEN + MARK_DIGITS;
  }
  rl__buf_add(&b, "", 1);
  if (b.oom) {
    rl__buf_free(&b);
    return NULL;
  }
  return b.p;
}

/*
 * JSON text (`what` names it, "-d" or "-D FILE") holding one message, or
 * an array of them: each compiled. An array must not be empty. Templates
 * may sit anywhere a value does, in each element.
 */
static int compile_json_list(struct grpc_step *st, const char *text, size_t len,
                             const char *what, char *err, size_t errlen) {
  size_t i = 0;
  while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' ||
                     text[i] == '\r'))
    i++;
  if (i == len || text[i] != '[' || input_is_list(st))
    return compile_json(st, text, len, what, err, errlen);
  size_t n_tpl = 0;
  char *marked = mark_templates(text, len, &n_tpl);
  if (marked == NULL) {
    rl__http_set_err(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  json_error_t jerr;
  json_t *arr = json_loads(marked, JSON_DECODE_ANY, &jerr);
  free(marked);
  if (arr == NULL || !json_is_array(arr) || json_array_size(arr) == 0) {
    if (arr == NULL)
      rl__http_set_err(err, errlen, "%s:%d:%d: %s", what, jerr.line,
                       jerr.column, jerr.text);
    else
      rl__http_set_err(err, errlen,
                       "%s: expected a message or a non-empty JSON array of "
                       "them",
                       what);
    json_decref(arr);
    return RL_ERR_INVAL;
  }
  int rc = 0;
  for (size_t k = 0; rc == 0 && k < json_array_size(arr); k++) {
    char *one =
        json_dumps(json_array_get(arr, k), JSON_COMPACT | JSON_ENCODE_ANY);
    char *back = one != NULL && n_tpl > 0 ? unmark(one, text, len) : one;
    char name[300];
    snprintf(name, sizeof name, "%s [%zu]", what, k);
    rc = back == NULL ? RL_ERR_NOMEM
                      : compile_json(st, back, strlen(back), name, err, errlen);
    if (back != one)
      free(back);
    free(one);
  }
  json_decref(arr);
  return rc;
}

/* -b/-B: serialized messages; count-prefixed ones first (ghz's order),
 * else the whole as one. Each must decode as the input type. */
static int compile_binary(struct grpc_step *st, const uint8_t *data, size_t len,
                          char *err, size_t errlen) {
  const ProtobufCMessageDescriptor *in = st->method->input;
  size_t cap = len + 1 < GRPC_MAX_MSGS ? len + 1 : GRPC_MAX_MSGS;
  size_t *off = malloc(cap * sizeof *off), *n = malloc(cap * sizeof *n);
  if (off == NULL || n == NULL) {
    free(off);
    free(n);
    rl__http_set_err(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  int count = len > 0 ? grpc_split_delimited(data, len, off, n, cap) : 0;
  /* Count-prefixed only when every piece decodes: a bare message can
   * happen to split. */
  for (int i = 0; i < count; i++) {
    ProtobufCMessage *m =
        protobuf_c_message_unpack(in, NULL, n[i], data + off[i]);
    if (m == NULL) {
      count = 0;
      break;
    }
    protobuf_c_message_free_unpacked(m, NULL);
  }
  if (count <= 0) {
    ProtobufCMessage *m = protobuf_c_message_unpack(in, NULL, len, data);
    if (m == NULL) {
      free(off);
      free(n);
      rl__http_set_err(err, errlen,
                       "the binary input is neither a serialized %s nor "
                       "count-prefixed ones",
                       in->name);
      return RL_ERR_INVAL;
    }
    protobuf_c_message_free_unpacked(m, NULL);
    count = 1;
    off[0] = 0;
    n[0] = len;
  }
  int rc = 0;
  for (int i = 0; rc == 0 && i < count; i++) {
    struct grpc_msg *m = new_msg(st);
    char what[48];
    snprintf(what, sizeof what, "binary message [%d]", i);
    rc = m == NULL ? RL_ERR_NOMEM
                   : frame_wire(st, data + off[i], n[i], what, m, err, errlen);
  }
  free(off);
  free(n);
  if (rc == RL_ERR_NOMEM)
    rl__http_set_err(err, errlen, "out of memory");
  return rc;
}

int grpc_msgs_compile(struct grpc_step *st, const rl_step_spec *spec,
                      const char *data_file, int binary, char *err,
                      size_t errlen) {
  if (data_file != NULL && spec->body != NULL) {
    rl__http_set_err(err, errlen, "give -d, -b or -D, not two of them");
    return RL_ERR_INVAL;
  }
  if (binary) {
    if (data_file != NULL) {
      size_t len = 0;
      char *bytes = read_file(data_file, &len, err, errlen);
      if (bytes == NULL)
        return RL_ERR_IO;
      int rc = compile_binary(st, (const uint8_t *)bytes, len, err, errlen);
      free(bytes);
      return rc;
    }
    return compile_binary(st, spec->body, spec->body_len, err, errlen);
  }
  if (data_file != NULL) {
    size_t len = 0;
    char *text = read_file(data_file, &len, err, errlen);
    if (text == NULL)
      return RL_ERR_IO;
    char what[300];
    snprintf(what, sizeof what, "-D %s", data_file);
    size_t bom = grpc_bom_len(text, len);
    int rc = check_text(text + bom, len - bom, what, err, errlen);
    if (rc == 0)
      rc = compile_json_list(st, text + bom, len - bom, what, err, errlen);
    free(text);
    return rc;
  }
  if (spec->body == NULL)
    return compile_json(st, "{}", 2, "-d", err, errlen);
  /* The body need not be NUL-terminated; the JSON readers want it so. */
  char *text = dup_len((const char *)spec->body, spec->body_len);
  if (text == NULL) {
    rl__http_set_err(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  size_t bom = grpc_bom_len(text, spec->body_len);
  int rc = check_text(text + bom, spec->body_len - bom, "-d", err, errlen);
  if (rc == 0)
    rc = compile_json_list(st, text + bom, spec->body_len - bom, "-d", err,
                           errlen);
  free(text);
  return rc;
}

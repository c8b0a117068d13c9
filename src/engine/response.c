#include "engine/response.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

void rl__response_clear(rl__response *r) {
  r->have = 0;
  r->status = -1;
  r->body_len = 0;
  r->body_cut = 0;
  r->has_json = 0;
  r->hdr_len = 0;
  r->n_headers = 0;
  if (r->body)
    r->body[0] = '\0';
}

/* Makes room for `need` bytes in *buf (capacity *cap). */
static int grow(char **buf, size_t *cap, size_t need) {
  if (need <= *cap)
    return 0;
  size_t c = *cap ? *cap : 256;
  while (c < need)
    c *= 2;
  char *p = realloc(*buf, c);
  if (!p)
    return RL_ERR_NOMEM;
  *buf = p;
  *cap = c;
  return 0;
}

int rl__response_store(rl__response *r, const rl_response *in) {
  rl__response_clear(r);
  r->status = in->status;
  size_t n = in->body_len;
  if (n > RL__RESPONSE_MAX_BODY) {
    n = RL__RESPONSE_MAX_BODY;
    r->body_cut = 1;
  }
  if (grow(&r->body, &r->body_cap, n + 1))
    return RL_ERR_NOMEM;
  if (n)
    memcpy(r->body, in->body, n);
  r->body[n] = '\0';
  r->body_len = n;
  /* Members after body_len came with the same minor, but a plugin's
   * struct may be shorter one day: read what its size covers. */
  if (in->struct_size >= offsetof(rl_response, json) + sizeof in->json &&
      in->json) {
    size_t jl = strlen(in->json);
    if (grow(&r->json, &r->json_cap, jl + 1))
      return RL_ERR_NOMEM;
    memcpy(r->json, in->json, jl + 1);
    r->has_json = 1;
  }
  for (size_t i = 0; i < in->n_headers && in->headers; i++) {
    const char *k = in->headers[i].key ? in->headers[i].key : "";
    const char *v = in->headers[i].value ? in->headers[i].value : "";
    size_t kl = strlen(k), vl = strlen(v);
    if (grow(&r->hdr, &r->hdr_cap, r->hdr_len + kl + vl + 2))
      return RL_ERR_NOMEM;
    memcpy(r->hdr + r->hdr_len, k, kl + 1);
    r->hdr_len += kl + 1;
    memcpy(r->hdr + r->hdr_len, v, vl + 1);
    r->hdr_len += vl + 1;
    r->n_headers++;
  }
  r->have = 1;
  return 0;
}

const char *rl__response_header(const rl__response *r, const char *name) {
  const char *found = NULL;
  size_t off = 0;
  for (size_t i = 0; i < r->n_headers; i++) {
    const char *k = r->hdr + off;
    off += strlen(k) + 1;
    const char *v = r->hdr + off;
    off += strlen(v) + 1;
    if (strcasecmp(k, name) == 0)
      found = v;
  }
  return found;
}

/* Appends s[0..n) with control bytes as \xHH; newline and tab kept when
 * `lines`. */
static void add_escaped(rl__buf *out, const char *s, size_t n, int lines) {
  size_t from = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if ((c >= 0x20 && c != 0x7f) || (lines && (c == '\n' || c == '\t')))
      continue;
    rl__buf_add(out, s + from, i - from);
    rl__buf_printf(out, "\\x%02x", c);
    from = i + 1;
  }
  rl__buf_add(out, s + from, n - from);
}

void rl__response_format(const rl__response *r, size_t max_body, rl__buf *out) {
  size_t off = 0;
  for (size_t i = 0; i < r->n_headers; i++) {
    const char *k = r->hdr + off;
    off += strlen(k) + 1;
    const char *v = r->hdr + off;
    off += strlen(v) + 1;
    add_escaped(out, k, strlen(k), 0);
    rl__buf_str(out, ": ");
    add_escaped(out, v, strlen(v), 0);
    rl__buf_str(out, "\n");
  }
  const char *p = r->has_json ? r->json : r->body;
  size_t n = r->has_json ? strlen(r->json) : r->body_len;
  if (p == NULL || n == 0)
    return;
  if (r->n_headers)
    rl__buf_str(out, "\n"); /* the body apart from the headers, as HTTP */
  size_t shown = n < max_body ? n : max_body;
  add_escaped(out, p, shown, 1);
  if (shown < n || (!r->has_json && r->body_cut))
    rl__buf_printf(out, "%s... (%zu more bytes%s)",
                   shown && p[shown - 1] == '\n' ? "" : "\n", n - shown,
                   !r->has_json && r->body_cut ? " and more not kept" : "");
  if (out->len && out->p[out->len - 1] != '\n')
    rl__buf_str(out, "\n");
}

void rl__response_free(rl__response *r) {
  free(r->body);
  free(r->json);
  free(r->hdr);
  memset(r, 0, sizeof *r);
}

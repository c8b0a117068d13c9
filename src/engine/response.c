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

void rl__response_free(rl__response *r) {
  free(r->body);
  free(r->json);
  free(r->hdr);
  memset(r, 0, sizeof *r);
}

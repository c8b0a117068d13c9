#include "tpl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rl__tpl_available(const rl_host *host) {
  return host != NULL && RL_HOST_HAS_TEMPLATES(host) &&
         host->template_new != NULL && host->template_expand != NULL;
}

int rl__tpl_has_open(const char *s, size_t n) {
  for (size_t i = 0; i + 1 < n; i++)
    if (s[i] == '{' && s[i + 1] == '{')
      return 1;
  return 0;
}

int rl__tpl_compile(const rl_host *host, const char *text, size_t len,
                    const char *what, rl_template **out, char *err,
                    size_t errlen) {
  char terr[256] = "";
  rl_template *t = NULL;
  *out = NULL;
  /* Text without "{{" is constant: no need to ask the host. */
  if (!rl__tpl_has_open(text, len))
    return 0;
  int rc = host->template_new(text, len, &t, terr, sizeof terr);
  if (rc != 0) {
    if (err != NULL && errlen > 0)
      snprintf(err, errlen, "%s: %s", what, terr[0] ? terr : rl_strerror(rc));
    return rc;
  }
  if (host->template_is_constant(t))
    host->template_del(t);
  else
    *out = t;
  return 0;
}

/* Where the "}}" closing a "{{" that ends at `from` is, within len. */
static const char *closing(const char *s, size_t from, size_t len) {
  for (size_t i = from; i + 1 < len; i++)
    if (s[i] == '}' && s[i + 1] == '}')
      return s + i;
  return NULL;
}

char *rl__tpl_replace(const char *s, size_t len, const char *with) {
  size_t wlen = strlen(with);
  /* Each "{{}}" (4 bytes) becomes wlen bytes. */
  size_t cap = len + 1 + (wlen > 4 ? (len / 4 + 1) * (wlen - 4) : 0);
  char *out = malloc(cap);
  size_t o = 0;
  if (out == NULL)
    return NULL;
  for (size_t i = 0; i < len; i++) {
    const char *end;
    if (s[i] == '{' && i + 1 < len && s[i + 1] == '{' &&
        (end = closing(s, i + 2, len)) != NULL) {
      memcpy(out + o, with, wlen);
      o += wlen;
      i = (size_t)(end - s) + 1;
      continue;
    }
    out[o++] = s[i];
  }
  out[o] = '\0';
  return out;
}

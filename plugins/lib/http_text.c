#include "http_text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rl__http_set_err(char *err, size_t errlen, const char *fmt, ...) {
  if (err == NULL || errlen == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  /* clang-tidy 14 misreads va_start here (it also does in files analysed
   * together, see .clang-tidy); the list is initialised on the line above. */
  // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

const char *rl__http_show(const char *s, size_t n, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (i == RL__HTTP_SHOW_MAX) {
      memcpy(out + o, "...", 3);
      o += 3;
      break;
    }
    if (c == '\r' || c == '\n' || c == '\t') {
      out[o++] = '\\';
      out[o++] = (char)(c == '\r' ? 'r' : c == '\n' ? 'n' : 't');
    } else if (c < 0x20 || c >= 0x7f) {
      static const char hex[] = "0123456789abcdef";
      out[o++] = '\\';
      out[o++] = 'x';
      out[o++] = hex[c >> 4];
      out[o++] = hex[c & 15];
    } else {
      out[o++] = (char)c;
    }
  }
  out[o] = '\0';
  return out;
}

int rl__http_ascii_lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

int rl__http_name_is(const char *name, size_t len, const char *want) {
  size_t i;
  for (i = 0; i < len; i++) {
    if (want[i] == '\0' || rl__http_ascii_lower((unsigned char)name[i]) !=
                               rl__http_ascii_lower((unsigned char)want[i]))
      return 0;
  }
  return want[i] == '\0';
}

int rl__http_is_tchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
      (c >= 'A' && c <= 'Z'))
    return 1;
  return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

int rl__http_is_token(const char *s, size_t n) {
  if (n == 0)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!rl__http_is_tchar((unsigned char)s[i]))
      return 0;
  return 1;
}

int rl__http_is_ows(char c) { return c == ' ' || c == '\t'; }

int rl__http_has_space_or_ctl(const char *s) {
  for (; *s; s++) {
    /* A {{...}} template may hold blanks ({{random_int 1 9}}); it is
     * expanded per request. */
    if (s[0] == '{' && s[1] == '{') {
      const char *end = strstr(s + 2, "}}");
      if (end) {
        s = end + 1;
        continue;
      }
    }
    unsigned char c = (unsigned char)*s;
    if (c <= 0x20 || c == 0x7f)
      return 1;
  }
  return 0;
}

char *rl__http_dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d != NULL)
    memcpy(d, s, n);
  return d;
}

int rl__http_check_target(const rl_step_spec *spec, const char *path,
                          const char *plugin, char *err, size_t errlen) {
  char shown[RL__HTTP_SHOW_BUF_LEN];
  if (rl__http_has_space_or_ctl(path)) {
    rl__http_set_err(err, errlen,
                     "path '%s' contains a space or control character "
                     "(percent-encode it)",
                     rl__http_show(path, strlen(path), shown));
    return RL_ERR_INVAL;
  }
  if (spec->host == NULL || spec->host[0] == '\0') {
    rl__http_set_err(err, errlen, "no host given");
    return RL_ERR_INVAL;
  }
  if (rl__http_has_space_or_ctl(spec->host)) {
    rl__http_set_err(err, errlen,
                     "host '%s' contains a space or control character",
                     rl__http_show(spec->host, strlen(spec->host), shown));
    return RL_ERR_INVAL;
  }
  if (spec->body == NULL && spec->body_len > 0) {
    rl__http_set_err(err, errlen, "body length %zu given without a body",
                     spec->body_len);
    return RL_ERR_INVAL;
  }
  /* A spec from before options existed has none. */
  int has_options = spec->struct_size >=
                    offsetof(rl_step_spec, n_options) + sizeof(spec->n_options);
  if (has_options && spec->n_options > 0 && spec->options != NULL) {
    const char *k = spec->options[0].key ? spec->options[0].key : "";
    rl__http_set_err(err, errlen,
                     "option '%s' is not known to %s (it takes none)",
                     rl__http_show(k, strlen(k), shown), plugin);
    return RL_ERR_INVAL;
  }
  return 0;
}

#include "base/url.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rpcload/plugin.h>

#include "base/units.h"

static char *dup_range(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (d) {
    memcpy(d, s, n);
    d[n] = 0;
  }
  return d;
}

void rl__url_free(rl__url *u) {
  free(u->scheme);
  free(u->host);
  free(u->path);
  memset(u, 0, sizeof *u);
}

int rl__url_parse(const char *text, rl__url *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  const char *p = text;
  const char *sep = strstr(text, "://");
  if (sep) {
    for (const char *c = text; c < sep; c++)
      if (!isalnum((unsigned char)*c) && *c != '+' && *c != '-' && *c != '.') {
        snprintf(err, errlen, "bad URL '%s': invalid scheme", text);
        return RL_ERR_INVAL;
      }
    if (sep == text) {
      snprintf(err, errlen, "bad URL '%s': empty scheme", text);
      return RL_ERR_INVAL;
    }
    out->scheme = dup_range(text, (size_t)(sep - text));
    for (char *c = out->scheme; c && *c; c++)
      *c = (char)tolower((unsigned char)*c);
    p = sep + 3;
  }
  const char *host_end;
  const char *after;
  if (*p == '[') {
    host_end = strchr(p, ']');
    if (!host_end) {
      snprintf(err, errlen, "bad URL '%s': missing ']' after IPv6 address",
               text);
      goto fail;
    }
    out->host = dup_range(p + 1, (size_t)(host_end - p - 1));
    after = host_end + 1;
  } else {
    host_end = p + strcspn(p, ":/?#");
    out->host = dup_range(p, (size_t)(host_end - p));
    after = host_end;
  }
  if (!out->host || !*out->host) {
    snprintf(err, errlen, "bad URL '%s': no host", text);
    goto fail;
  }
  if (*after == ':') {
    const char *port = after + 1;
    size_t n = strcspn(port, "/?#");
    char buf[8];
    long long v;
    if (n == 0 || n >= sizeof buf) {
      snprintf(err, errlen, "bad URL '%s': bad port", text);
      goto fail;
    }
    memcpy(buf, port, n);
    buf[n] = 0;
    if (rl__parse_int(buf, 1, 65535, &v) != 0) {
      snprintf(err, errlen, "bad URL '%s': port must be 1-65535", text);
      goto fail;
    }
    out->port = (uint16_t)v;
    after = port + n;
  } else if (*after && *after != '/' && *after != '?' && *after != '#') {
    snprintf(err, errlen, "bad URL '%s'", text);
    goto fail;
  }
  /* The fragment never goes on the wire. */
  size_t plen = strcspn(after, "#");
  if (plen == 0)
    out->path = strdup("/");
  else if (*after == '?') {
    out->path = malloc(plen + 2);
    if (out->path) {
      out->path[0] = '/';
      memcpy(out->path + 1, after, plen);
      out->path[plen + 1] = 0;
    }
  } else
    out->path = dup_range(after, plen);
  if (!out->path || (sep && !out->scheme)) {
    snprintf(err, errlen, "out of memory");
    rl__url_free(out);
    return RL_ERR_NOMEM;
  }
  for (const char *c = out->path; *c; c++) {
    /* Blanks inside a {{...}} template are its own: it expands per
     * request, and what it expands to is the plugin's to check. */
    if (c[0] == '{' && c[1] == '{') {
      const char *end = strstr(c + 2, "}}");
      if (end) {
        c = end + 1;
        continue;
      }
    }
    if ((unsigned char)*c <= ' ') {
      snprintf(err, errlen,
               "bad URL '%s': spaces or control characters in "
               "the path (percent-encode them)",
               text);
      goto fail;
    }
  }
  return 0;
fail:
  rl__url_free(out);
  return RL_ERR_INVAL;
}

/* Where the path (or query) of `url` starts: after "scheme://authority";
 * its end when it has none. */
static const char *path_part(const char *url) {
  const char *p = strstr(url, "://");
  p = p ? p + 3 : url;
  return p + strcspn(p, "/?#");
}

char *rl__url_rebase(const char *current, const char *host) {
  const char *hp = path_part(host);
  size_t origin = (size_t)(hp - host);
  while (hp[0] == '/')
    hp++;
  if (!strstr(host, "://") || hp[0])
    return strdup(host); /* a whole target */
  const char *cp = path_part(current);
  if (!strstr(current, "://") || strcmp(cp, "/") == 0)
    cp = "";
  size_t n = origin + strlen(cp);
  char *out = malloc(n + 1);
  if (out)
    snprintf(out, n + 1, "%.*s%s", (int)origin, host, cp);
  return out;
}

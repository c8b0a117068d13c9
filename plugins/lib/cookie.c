#include "cookie.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

/* ---- Text --------------------------------------------------------------- */

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static int is_wsp(char c) { return c == ' ' || c == '\t'; }

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* Trims blanks (SP, HTAB) off both ends of [*s, *s + *n). */
static void trim(const char **s, size_t *n) {
  while (*n > 0 && is_wsp(**s)) {
    (*s)++;
    (*n)--;
  }
  while (*n > 0 && is_wsp((*s)[*n - 1]))
    (*n)--;
}

/* Case-insensitive compare of n bytes of s with the C string `want`. */
static int is_word(const char *s, size_t n, const char *want) {
  size_t i = 0;
  for (; i < n && want[i] != '\0'; i++)
    if (lower((unsigned char)s[i]) != want[i])
      return 0;
  return i == n && want[i] == '\0';
}

static int equal_nocase(const char *a, const char *b) {
  for (; *a != '\0' && *b != '\0'; a++, b++)
    if (lower((unsigned char)*a) != lower((unsigned char)*b))
      return 0;
  return *a == *b;
}

/* RFC 6265bis 5.6: a control character other than HTAB voids a cookie:
 * it could also end the Cookie header we send it in. */
static int has_ctl(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if ((c < 0x20 && c != '\t') || c == 0x7f)
      return 1;
  }
  return 0;
}

/* ---- Dates (RFC 6265 5.1.1) --------------------------------------------- */

static int is_date_delim(unsigned char c) {
  return c == 0x09 || (c >= 0x20 && c <= 0x2f) || (c >= 0x3b && c <= 0x40) ||
         (c >= 0x5b && c <= 0x60) || (c >= 0x7b && c <= 0x7e);
}

/* 1 to `max` digits at t[*i], then the end or a non-digit: their value. */
static int digits(const char *t, size_t n, size_t *i, size_t min, size_t max,
                  int *out) {
  size_t k = 0;
  int v = 0;
  while (*i + k < n && is_digit((unsigned char)t[*i + k]) && k < max) {
    v = v * 10 + (t[*i + k] - '0');
    k++;
  }
  if (k < min || (*i + k < n && is_digit((unsigned char)t[*i + k])))
    return 0;
  *i += k;
  *out = v;
  return 1;
}

/* hms-time ( non-digit *OCTET ) */
static int date_time(const char *t, size_t n, int *h, int *m, int *s) {
  size_t i = 0;
  if (!digits(t, n, &i, 1, 2, h) || i >= n || t[i++] != ':' ||
      !digits(t, n, &i, 1, 2, m) || i >= n || t[i++] != ':' ||
      !digits(t, n, &i, 1, 2, s))
    return 0;
  return 1;
}

static int date_month(const char *t, size_t n) {
  static const char *const months[] = {"jan", "feb", "mar", "apr",
                                       "may", "jun", "jul", "aug",
                                       "sep", "oct", "nov", "dec"};
  if (n < 3)
    return 0;
  for (int i = 0; i < 12; i++)
    if (is_word(t, 3, months[i]))
      return i + 1;
  return 0;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H.
 * Hinnant's days_from_civil): no timegm, which reads the time zone. */
static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m) {
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : days[m - 1];
}

int rl__cookie_parse_date(const char *s, size_t n, int64_t *out) {
  int hour = -1, minute = 0, second = 0, day = -1, month = 0, year = -1;
  size_t i = 0;
  while (i < n) {
    while (i < n && is_date_delim((unsigned char)s[i]))
      i++;
    size_t start = i;
    while (i < n && !is_date_delim((unsigned char)s[i]))
      i++;
    const char *t = s + start;
    size_t len = i - start, k = 0;
    int v, h, m, sec;
    if (len == 0)
      continue;
    if (hour < 0 && date_time(t, len, &h, &m, &sec)) {
      hour = h;
      minute = m;
      second = sec;
      continue;
    }
    if (day < 0 && digits(t, len, &k, 1, 2, &v)) {
      day = v;
      continue;
    }
    k = 0;
    if (month == 0 && (month = date_month(t, len)) != 0)
      continue;
    if (year < 0 && digits(t, len, &k, 2, 4, &v))
      year = v;
  }
  if (year >= 70 && year <= 99)
    year += 1900;
  else if (year >= 0 && year <= 69)
    year += 2000;
  if (hour < 0 || day < 1 || month == 0 || year < 1601 || hour > 23 ||
      minute > 59 || second > 59 || day > days_in_month(year, month))
    return -1;
  *out = days_from_civil(year, month, day) * 86400 + (int64_t)hour * 3600 +
         (int64_t)minute * 60 + second;
  return 0;
}

/* ---- Matching (RFC 6265 5.1.3, 5.1.4) ------------------------------------ */

static int is_ip(const char *host) {
  unsigned char a[16];
  return strchr(host, ':') != NULL || inet_pton(AF_INET, host, a) == 1;
}

int rl__cookie_domain_match(const char *host, const char *domain) {
  if (equal_nocase(host, domain))
    return 1;
  size_t h = strlen(host), d = strlen(domain);
  return d > 0 && h > d && host[h - d - 1] == '.' &&
         equal_nocase(host + h - d, domain) && !is_ip(host);
}

/* The path of a request target: up to a '?' or '#'; "/" when empty. */
static size_t path_len(const char *path) {
  return path != NULL ? strcspn(path, "?#") : 0;
}

int rl__cookie_path_match(const char *path, const char *cookie_path) {
  size_t n = path_len(path), c = strlen(cookie_path);
  if (n == 0) {
    path = "/";
    n = 1;
  }
  if (c > n || memcmp(path, cookie_path, c) != 0)
    return 0;
  return c == n || cookie_path[c - 1] == '/' || path[c] == '/';
}

/* RFC 6265 5.1.4: the directory of the request path, without its last
 * '/', or "/". */
static void default_path(const char *path, const char **out, size_t *len) {
  size_t n = path_len(path);
  const char *last = NULL;
  for (size_t i = 0; i < n; i++)
    if (path[i] == '/')
      last = path + i;
  if (n == 0 || path[0] != '/' || last == path) {
    *out = "/";
    *len = 1;
    return;
  }
  *out = path;
  *len = (size_t)(last - path);
}

/* ---- The jar ------------------------------------------------------------ */

void rl__cookie_jar_init(rl__cookie_jar *j) { memset(j, 0, sizeof *j); }

static void remove_at(rl__cookie_jar *j, size_t i) {
  j->bytes -= j->c[i].size;
  free(j->c[i].name);
  j->c[i] = j->c[--j->n];
}

void rl__cookie_jar_free(rl__cookie_jar *j) {
  while (j->n > 0)
    remove_at(j, j->n - 1);
  free(j->c);
  memset(j, 0, sizeof *j);
}

static int expired(const rl__cookie *c, int64_t now) {
  return c->expires != RL__COOKIE_SESSION && c->expires <= now;
}

static void remove_expired(rl__cookie_jar *j, int64_t now) {
  for (size_t i = j->n; i-- > 0;)
    if (expired(&j->c[i], now))
      remove_at(j, i);
}

/* Room for `size` more bytes and one more cookie: the expired go first,
 * then the oldest. */
static void make_room(rl__cookie_jar *j, size_t size, int64_t now) {
  if (j->n + 1 <= RL__COOKIE_MAX && j->bytes + size <= RL__COOKIE_JAR_MAX_BYTES)
    return;
  remove_expired(j, now);
  while (j->n > 0 && (j->n + 1 > RL__COOKIE_MAX ||
                      j->bytes + size > RL__COOKIE_JAR_MAX_BYTES)) {
    size_t oldest = 0;
    for (size_t i = 1; i < j->n; i++)
      if (j->c[i].created < j->c[oldest].created)
        oldest = i;
    remove_at(j, oldest);
    j->evicted++;
  }
}

/* A Set-Cookie as parsed (RFC 6265 5.2), pointing into its text. */
struct parsed {
  const char *name, *value, *domain, *path;
  size_t name_len, value_len, domain_len, path_len;
  int has_domain, has_max_age, has_expires, secure;
  int64_t max_age_expiry, expires;
};

/* "Max-Age": an optional '-' and digits; <= 0 means at once. */
static int max_age(const char *v, size_t n, int64_t now, int64_t *out) {
  size_t i = n > 0 && v[0] == '-' ? 1 : 0;
  if (i == n)
    return 0;
  int64_t delta = 0;
  for (; i < n; i++) {
    if (!is_digit((unsigned char)v[i]))
      return 0;
    if (delta < INT64_MAX / 20) /* saturate: "forever" is long enough */
      delta = delta * 10 + (v[i] - '0');
  }
  if (v[0] == '-' || delta == 0)
    *out = INT64_MIN;
  else
    *out = now > INT64_MAX - delta ? INT64_MAX - 1 : now + delta;
  return 1;
}

static void attribute(struct parsed *p, const char *name, size_t name_len,
                      const char *v, size_t n, int64_t now) {
  int64_t t;
  if (n > RL__COOKIE_MAX_ATTR)
    return;
  if (is_word(name, name_len, "expires")) {
    if (rl__cookie_parse_date(v, n, &t) == 0) {
      p->has_expires = 1;
      p->expires = t;
    }
  } else if (is_word(name, name_len, "max-age")) {
    if (max_age(v, n, now, &t)) {
      p->has_max_age = 1;
      p->max_age_expiry = t;
    }
  } else if (is_word(name, name_len, "domain")) {
    if (n > 0 && v[0] == '.') {
      v++;
      n--;
    }
    /* An empty Domain is as none (5.2.3); the last one counts. */
    p->has_domain = n > 0;
    p->domain = v;
    p->domain_len = n;
  } else if (is_word(name, name_len, "path")) {
    /* Not an absolute path: the default path (5.2.4). */
    p->path = n > 0 && v[0] == '/' ? v : NULL;
    p->path_len = n;
  } else if (is_word(name, name_len, "secure")) {
    p->secure = 1;
  }
}

/* RFC 6265 5.2. 0, or -1 with *why when the string is no cookie. */
static int parse(const char *text, size_t len, int64_t now, struct parsed *p,
                 const char **why) {
  memset(p, 0, sizeof *p);
  const char *semi = memchr(text, ';', len);
  size_t pair = semi != NULL ? (size_t)(semi - text) : len;
  const char *eq = memchr(text, '=', pair);
  if (eq == NULL) {
    *why = "no '=' in its name-value pair";
    return -1;
  }
  p->name = text;
  p->name_len = (size_t)(eq - text);
  p->value = eq + 1;
  p->value_len = pair - p->name_len - 1;
  trim(&p->name, &p->name_len);
  trim(&p->value, &p->value_len);
  if (p->name_len == 0) {
    *why = "an empty name";
    return -1;
  }
  if (p->name_len + p->value_len > RL__COOKIE_MAX_SIZE) {
    *why = "name and value longer than 4096 bytes";
    return -1;
  }
  if (has_ctl(p->name, p->name_len) || has_ctl(p->value, p->value_len)) {
    *why = "a control character in its name or value";
    return -1;
  }
  size_t i = pair;
  while (i < len) {
    i++; /* the ';' */
    const char *av = text + i;
    const char *end = memchr(av, ';', len - i);
    size_t n = end != NULL ? (size_t)(end - av) : len - i;
    i += n;
    const char *aeq = memchr(av, '=', n);
    const char *name = av, *v = "";
    size_t name_len = aeq != NULL ? (size_t)(aeq - av) : n, vn = 0;
    if (aeq != NULL) {
      v = aeq + 1;
      vn = n - name_len - 1;
    }
    trim(&name, &name_len);
    trim(&v, &vn);
    attribute(p, name, name_len, v, vn, now);
  }
  return 0;
}

/* The cookie's one allocation: name\0value\0domain\0path\0. */
static int make(rl__cookie *c, const struct parsed *p, const char *domain,
                size_t domain_len, const char *path, size_t path_len) {
  size_t size = p->name_len + p->value_len + domain_len + path_len + 4;
  char *m = malloc(size);
  if (m == NULL)
    return RL_ERR_NOMEM;
  char *o = m;
  memcpy(o, p->name, p->name_len);
  o[p->name_len] = '\0';
  c->name = o;
  o += p->name_len + 1;
  memcpy(o, p->value, p->value_len);
  o[p->value_len] = '\0';
  c->value = o;
  o += p->value_len + 1;
  for (size_t i = 0; i < domain_len; i++)
    o[i] = (char)lower((unsigned char)domain[i]);
  o[domain_len] = '\0';
  c->domain = o;
  o += domain_len + 1;
  memcpy(o, path, path_len);
  o[path_len] = '\0';
  c->path = o;
  c->size = size;
  return 0;
}

int rl__cookie_jar_set(rl__cookie_jar *j, const char *text, size_t len,
                       const rl__cookie_url *u, int64_t now, const char **why) {
  const char *ignored_why = NULL;
  struct parsed p;
  if (why == NULL)
    why = &ignored_why;
  *why = NULL;
  if (parse(text, len, now, &p, why) != 0)
    return RL__COOKIE_IGNORED;
  rl__cookie c;
  memset(&c, 0, sizeof c);
  c.expires = p.has_max_age   ? p.max_age_expiry
              : p.has_expires ? p.expires
                              : RL__COOKIE_SESSION;
  c.secure = (uint8_t)p.secure;
  const char *domain = u->host;
  size_t domain_len = strlen(u->host);
  char want[256];
  if (p.has_domain) {
    /* 5.3 step 6: only a domain the request's host lies in. */
    if (p.domain_len >= sizeof want) {
      *why = "a Domain longer than 255 bytes";
      return RL__COOKIE_IGNORED;
    }
    memcpy(want, p.domain, p.domain_len);
    want[p.domain_len] = '\0';
    if (!rl__cookie_domain_match(u->host, want)) {
      *why = "a Domain the request's host is not in";
      return RL__COOKIE_IGNORED;
    }
    domain = p.domain;
    domain_len = p.domain_len;
  } else {
    c.host_only = 1;
  }
  const char *path = p.path;
  size_t plen = p.path_len;
  if (path == NULL)
    default_path(u->path, &path, &plen);
  if (make(&c, &p, domain, domain_len, path, plen) != 0)
    return RL_ERR_NOMEM;
  /* 5.3 step 11: it replaces the cookie of the same name, domain and
   * path, keeping that one's age. */
  c.created = j->next_created++;
  int replaced = 0;
  for (size_t i = 0; i < j->n; i++) {
    const rl__cookie *o = &j->c[i];
    if (strcmp(o->name, c.name) == 0 && strcmp(o->domain, c.domain) == 0 &&
        strcmp(o->path, c.path) == 0) {
      c.created = o->created;
      remove_at(j, i);
      replaced = 1;
      break;
    }
  }
  if (expired(&c, now)) {
    free(c.name);
    return replaced ? RL__COOKIE_REMOVED : RL__COOKIE_STORED;
  }
  make_room(j, c.size, now);
  if (j->n == j->cap) {
    size_t cap = j->cap ? j->cap * 2 : 4;
    rl__cookie *grown = realloc(j->c, cap * sizeof *grown);
    if (grown == NULL) {
      free(c.name);
      return RL_ERR_NOMEM;
    }
    j->c = grown;
    j->cap = cap;
  }
  j->c[j->n++] = c;
  j->bytes += c.size;
  return RL__COOKIE_STORED;
}

/* Would a request to u send c (at now)? */
static int matches(const rl__cookie *c, const rl__cookie_url *u, int64_t now) {
  if (expired(c, now) || (c->secure && !u->secure))
    return 0;
  if (c->host_only ? !equal_nocase(u->host, c->domain)
                   : !rl__cookie_domain_match(u->host, c->domain))
    return 0;
  return rl__cookie_path_match(u->path, c->path);
}

const rl__cookie *rl__cookie_jar_find(const rl__cookie_jar *j, const char *name,
                                      const rl__cookie_url *u, int64_t now) {
  const rl__cookie *best = NULL;
  for (size_t i = 0; j != NULL && i < j->n; i++) {
    const rl__cookie *c = &j->c[i];
    if (strcmp(c->name, name) != 0 || !matches(c, u, now))
      continue;
    /* The one sent first (5.4 step 2). */
    if (best == NULL || strlen(c->path) > strlen(best->path) ||
        (strlen(c->path) == strlen(best->path) && c->created < best->created))
      best = c;
  }
  return best;
}

/* 5.4 step 2: longer paths first, then older. */
static int sent_before(const rl__cookie *a, const rl__cookie *b) {
  size_t la = strlen(a->path), lb = strlen(b->path);
  return la != lb ? la > lb : a->created < b->created;
}

static void add_pair(rl__buf *out, size_t *written, const char *name,
                     const char *value) {
  if (*written > 0)
    rl__buf_str(out, "; ");
  rl__buf_str(out, name);
  rl__buf_str(out, "=");
  rl__buf_str(out, value);
  (*written)++;
}

size_t rl__cookie_header(rl__cookie_jar *j, const rl__cookie_url *u,
                         int64_t now, const rl_kv *extra, size_t n_extra,
                         rl__buf *out) {
  size_t written = 0;
  for (size_t i = 0; i < n_extra; i++)
    add_pair(out, &written, extra[i].key, extra[i].value);
  if (j == NULL || j->n == 0)
    return written;
  remove_expired(j, now);
  const rl__cookie *pick[RL__COOKIE_MAX];
  size_t n = 0;
  for (size_t i = 0; i < j->n && n < RL__COOKIE_MAX; i++) {
    const rl__cookie *c = &j->c[i];
    int overridden = 0;
    for (size_t k = 0; k < n_extra && !overridden; k++)
      overridden = strcmp(extra[k].key, c->name) == 0;
    if (overridden || !matches(c, u, now))
      continue;
    /* Insertion sort: a jar holds at most RL__COOKIE_MAX. */
    size_t at = n++;
    while (at > 0 && sent_before(c, pick[at - 1])) {
      pick[at] = pick[at - 1];
      at--;
    }
    pick[at] = c;
  }
  for (size_t i = 0; i < n; i++)
    add_pair(out, &written, pick[i]->name, pick[i]->value);
  return written;
}

/*
 * redis: a codec plugin for the Redis protocol (RESP2), written the way an
 * author outside the rpcload tree would write one: it includes only the
 * public header <rpcload/plugin.h> and libc, and builds against the
 * installed SDK (see README.md next to this file).
 *
 *   rpcload --plugin ./redis.so -u 50 -r 50 -t 30s \
 *           --call 'GET key:{{random_int 1 1000}}' redis://127.0.0.1:6379
 *
 * A step is one command (--call), split into arguments the way redis-cli
 * splits its command line; each argument is a request template (ABI 1.1),
 * expanded per request. A fully constant command is encoded once, so
 * submitting it is a single conn_write().
 *
 * Redis answers the commands of one connection in the order it received
 * them, so a session keeps a FIFO of the requests in flight and each
 * complete top-level reply ends the oldest one. Replies are parsed by a
 * small streaming state machine that never buffers a reply: it only counts
 * the elements still owed, so a reply may arrive split at any byte, nest to
 * any depth and carry bulk strings of any size.
 *
 * Everything except rl_plugin_entry() is static; the module is built with
 * hidden visibility.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rpcload/plugin.h>

/* Requests one session keeps in flight at most (pipelining). With the
 * default of one connection per user the core hands it only one. */
#define REDIS_MAX_INFLIGHT 64
/* Longest Redis error message kept for the error text; longer ones are
 * cut, so that one chatty error cannot make the error report unreadable. */
#define REDIS_ERROR_MAX 200
/* Longest piece of user input quoted back in an error message. */
#define REDIS_SHOW_MAX 64
/* A session's encode buffer larger than this after a request is freed
 * rather than kept: one huge templated value should not pin memory in
 * every session for the rest of the run. */
#define REDIS_KEEP_BUF 65536
/* The largest length or count a RESP header may announce (RESP numbers are
 * signed 64-bit; this also keeps our counters from overflowing). */
#define REDIS_NUM_MAX ((uint64_t)1 << 62)

static const rl_scheme redis_schemes[] = {
    {"redis", 6379, 0},
    {"rediss", 6379, 1},
    {NULL, 0, 0},
};

/* ---- Small helpers ------------------------------------------------------ */

/* Writes a formatted one-line message into err (may be NULL or 0 long). */
static void set_err(char *err, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  if (err == NULL || errlen == 0)
    return;
  va_start(ap, fmt);
  // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): va_start is above
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

#define SHOW_BUF_LEN (REDIS_SHOW_MAX * 4 + 4)

/*
 * Copies n bytes of user input into out (SHOW_BUF_LEN bytes, owned by the
 * caller) in a form safe to print on one line: control and non-ASCII bytes
 * become \xHH and input longer than REDIS_SHOW_MAX is cut with "...".
 * Returns out.
 */
static const char *show(const char *s, size_t n, char *out) {
  static const char hex[] = "0123456789abcdef";
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (i == REDIS_SHOW_MAX) {
      memcpy(out + o, "...", 3);
      o += 3;
      break;
    }
    if (c < 0x20 || c >= 0x7f) {
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

static char *dup_mem(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (d != NULL) {
    memcpy(d, s, n);
    d[n] = '\0';
  }
  return d;
}

/* A growable byte buffer; on allocation failure it sets oom and ignores
 * further appends, so builders check once at the end. Owns p. */
struct buf {
  char *p;
  size_t len, cap;
  int oom;
};

static void buf_add(struct buf *b, const void *data, size_t n) {
  if (b->oom || n == 0)
    return;
  if (n > b->cap - b->len) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < n) {
      if (cap > ((size_t)-1) / 2) {
        b->oom = 1;
        return;
      }
      cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (p == NULL) {
      b->oom = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, data, n);
  b->len += n;
}

/* Appends a RESP header: the type byte, a decimal count, CRLF. */
static void buf_header(struct buf *b, char type, size_t n) {
  char h[32];
  int len = snprintf(h, sizeof h, "%c%zu\r\n", type, n);
  buf_add(b, h, (size_t)len);
}

static void buf_free(struct buf *b) {
  free(b->p);
  memset(b, 0, sizeof *b);
}

/* ---- Splitting --call into arguments ------------------------------------ */

/* One argument of the command, unquoted; owns text. */
struct arg {
  char *text;
  size_t len;
  size_t col; /* 1-based column of its first character in --call */
};

/* The arguments of one command; owns every arg and the array. */
struct args {
  struct arg *v;
  size_t n;
};

static void args_free(struct args *a) {
  for (size_t i = 0; i < a->n; i++)
    free(a->v[i].text);
  free(a->v);
  memset(a, 0, sizeof *a);
}

static int is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/*
 * Reads one double-quoted section starting after its opening quote at
 * call[*i - 1], appending the unescaped bytes to b. Escapes are redis-cli's:
 * \" \\ \n \r \t \b \a and \xHH; any other \c is c. Leaves *i after the
 * closing quote. Returns 0, or RL_ERR_INVAL (no closing quote) with err set.
 */
static int split_double(const char *call, size_t *i, struct buf *b, char *err,
                        size_t errlen) {
  size_t open = *i - 1;
  while (call[*i] != '\0') {
    char c = call[(*i)++];
    if (c == '"')
      return 0;
    if (c != '\\' || call[*i] == '\0') {
      buf_add(b, &c, 1);
      continue;
    }
    c = call[(*i)++];
    int hi, lo;
    if (c == 'x' && (hi = hex_value(call[*i])) >= 0 &&
        (lo = hex_value(call[*i + 1])) >= 0) {
      c = (char)(hi * 16 + lo);
      *i += 2;
    } else if (c == 'n') {
      c = '\n';
    } else if (c == 'r') {
      c = '\r';
    } else if (c == 't') {
      c = '\t';
    } else if (c == 'b') {
      c = '\b';
    } else if (c == 'a') {
      c = '\a';
    }
    buf_add(b, &c, 1);
  }
  set_err(err, errlen, "--call has an unbalanced \" (opened at column %zu)",
          open + 1);
  return RL_ERR_INVAL;
}

/* Like split_double for a single-quoted section: only \' is an escape. */
static int split_single(const char *call, size_t *i, struct buf *b, char *err,
                        size_t errlen) {
  size_t open = *i - 1;
  while (call[*i] != '\0') {
    char c = call[(*i)++];
    if (c == '\'')
      return 0;
    if (c == '\\' && call[*i] == '\'')
      c = call[(*i)++];
    buf_add(b, &c, 1);
  }
  set_err(err, errlen, "--call has an unbalanced ' (opened at column %zu)",
          open + 1);
  return RL_ERR_INVAL;
}

/*
 * Splits `call` into arguments the way redis-cli splits its command line:
 * blanks separate arguments; double or single quotes group one that holds
 * blanks (and must be followed by a blank or the end); backslash escapes
 * work inside quotes only. One addition: blanks inside {{...}} do not split
 * (they belong to the template, as in {{random_int 1 1000}}).
 * Borrows call; on success *out owns the arguments (args_free). Returns 0,
 * or RL_ERR_INVAL / RL_ERR_NOMEM with err set.
 */
static int split_call(const char *call, struct args *out, char *err,
                      size_t errlen) {
  struct args a = {0};
  struct buf b = {0};
  size_t i = 0;
  int rc = 0;

  for (;;) {
    while (is_blank(call[i]))
      i++;
    if (call[i] == '\0')
      break;
    b.len = 0;
    size_t start = i;
    while (call[i] != '\0' && !is_blank(call[i])) {
      char c = call[i++];
      if (c == '"' || c == '\'') {
        rc = c == '"' ? split_double(call, &i, &b, err, errlen)
                      : split_single(call, &i, &b, err, errlen);
        if (rc != 0)
          goto fail;
        if (call[i] != '\0' && !is_blank(call[i])) {
          set_err(err, errlen,
                  "--call: the quote closed at column %zu must be followed "
                  "by a blank",
                  i);
          rc = RL_ERR_INVAL;
          goto fail;
        }
      } else if (c == '{' && call[i] == '{') {
        /* Copy a whole {{...}} verbatim; an unclosed one runs to the end
         * and template_new() names the problem. */
        const char *close = strstr(call + i, "}}");
        size_t end = close != NULL ? (size_t)(close - call) + 2 : strlen(call);
        buf_add(&b, call + i - 1, end - (i - 1));
        i = end;
      } else {
        buf_add(&b, &c, 1);
      }
    }
    struct arg *v = realloc(a.v, (a.n + 1) * sizeof *v);
    if (v == NULL) {
      rc = RL_ERR_NOMEM;
      goto oom;
    }
    a.v = v;
    /* An empty quoted argument ("") is a valid, empty Redis argument. */
    a.v[a.n].text = dup_mem(b.len > 0 ? b.p : "", b.len);
    a.v[a.n].len = b.len;
    a.v[a.n].col = start + 1;
    if (a.v[a.n].text == NULL || b.oom) {
      free(a.v[a.n].text);
      rc = RL_ERR_NOMEM;
      goto oom;
    }
    a.n++;
  }
  buf_free(&b);
  *out = a;
  return 0;
oom:
  set_err(err, errlen, "out of memory");
fail:
  buf_free(&b);
  args_free(&a);
  return rc;
}

/* ---- Steps --------------------------------------------------------------- */

/*
 * A piece of a command's encoding: constant bytes, or a templated argument
 * whose "$len\r\n" header and value are produced per request (the CRLF
 * after it opens the next constant piece). Owns bytes and tpl.
 */
struct piece {
  char *bytes;
  size_t len;
  rl_template *tpl; /* NULL for constant bytes */
};

/* A compiled step. Owns every member; freed by redis_step_del(). It is
 * shared, read-only, by every worker thread. */
struct redis_step {
  const rl_host *host; /* borrowed: the host table outlives every step */
  struct piece *pieces;
  size_t n_pieces;
  /* The whole command when every argument is constant: bytes of the only
   * piece, sent as they are. NULL otherwise. */
  const char *constant;
  size_t constant_len;
  char *name; /* stats name: --name, else the command, upper-cased */
  /* The connection preface (ABI 1.6): AUTH and SELECT, encoded once, sent
   * by every session set up with this step before any command; NULL when
   * the step asks for neither. preface_verbs[i] names the i-th command
   * of it for errors. */
  char *preface;
  size_t preface_len;
  unsigned n_preface;
  const char *preface_verbs[2];
  /* What the preface depends on ("db=2 auth=<user>:<password>"): only
   * steps with equal keys share a connection. Empty without a preface. */
  char *conn_key;
};

static void redis_step_del(void *step) {
  struct redis_step *st = step;
  if (st == NULL)
    return;
  for (size_t i = 0; i < st->n_pieces; i++) {
    free(st->pieces[i].bytes);
    if (st->pieces[i].tpl != NULL)
      st->host->template_del(st->pieces[i].tpl);
  }
  free(st->pieces);
  free(st->name);
  free(st->preface);
  free(st->conn_key);
  free(st);
}

/* Appends a piece to st, taking ownership of bytes and tpl (freed here on
 * failure). Returns 0 or RL_ERR_NOMEM. */
static int add_piece(struct redis_step *st, char *bytes, size_t len,
                     rl_template *tpl) {
  struct piece *p = realloc(st->pieces, (st->n_pieces + 1) * sizeof *p);
  if (p == NULL) {
    free(bytes);
    if (tpl != NULL)
      st->host->template_del(tpl);
    return RL_ERR_NOMEM;
  }
  st->pieces = p;
  st->pieces[st->n_pieces].bytes = bytes;
  st->pieces[st->n_pieces].len = len;
  st->pieces[st->n_pieces].tpl = tpl;
  st->n_pieces++;
  return 0;
}

/* Moves the constant bytes gathered so far in b into a new piece (b is
 * left empty, its memory handed over). Returns 0 or RL_ERR_NOMEM. */
static int flush_constant(struct redis_step *st, struct buf *b) {
  if (b->oom)
    return RL_ERR_NOMEM;
  char *bytes = b->p;
  size_t len = b->len;
  memset(b, 0, sizeof *b);
  return add_piece(st, bytes, len, NULL);
}

/*
 * Compiles the arguments into pieces: "*N\r\n" and each constant argument's
 * "$len\r\nvalue\r\n" are encoded now; each templated argument becomes a
 * piece of its own. Borrows a; fills st. Returns 0, or a negative code
 * with err set.
 */
static int compile_args(struct redis_step *st, const struct args *a, char *err,
                        size_t errlen) {
  const rl_host *host = st->host;
  struct buf b = {0};
  int rc = 0;

  buf_header(&b, '*', a->n);
  for (size_t i = 0; i < a->n; i++) {
    rl_template *t = NULL;
    char terr[256] = "";
    /* ABI 1.6: error columns count in the whole --call (exact for an
     * argument written without quotes), not in the argument. */
    rc = RL_HOST_HAS_TEMPLATE_TEXT(host)
             ? host->template_new_at(a->v[i].text, a->v[i].len, a->v[i].col, &t,
                                     terr, sizeof terr)
             : host->template_new(a->v[i].text, a->v[i].len, &t, terr,
                                  sizeof terr);
    if (rc != 0) {
      char shown[SHOW_BUF_LEN];
      set_err(err, errlen, "--call argument %zu '%s': %s", i + 1,
              show(a->v[i].text, a->v[i].len, shown),
              terr[0] ? terr : rl_strerror(rc));
      goto fail;
    }
    if (host->template_is_constant(t)) {
      /* Its expansion is its text, known now: encode it once (ABI 1.6
       * hands the text out; an older host's is the argument itself). */
      size_t n = a->v[i].len;
      const char *text = RL_HOST_HAS_TEMPLATE_TEXT(host)
                             ? host->template_text(t, &n)
                             : a->v[i].text;
      buf_header(&b, '$', n);
      buf_add(&b, text, n);
      buf_add(&b, "\r\n", 2);
      host->template_del(t);
      continue;
    }
    if ((rc = flush_constant(st, &b)) != 0) {
      host->template_del(t);
      goto oom;
    }
    if ((rc = add_piece(st, NULL, 0, t)) != 0) /* it freed t */
      goto oom;
    buf_add(&b, "\r\n", 2); /* ends the templated value */
  }
  if ((rc = flush_constant(st, &b)) != 0)
    goto oom;
  if (st->n_pieces == 1) {
    st->constant = st->pieces[0].bytes;
    st->constant_len = st->pieces[0].len;
  }
  return 0;
oom:
  set_err(err, errlen, "out of memory");
fail:
  buf_free(&b);
  return rc;
}

/*
 * Checks what the step spec carries besides --call: Redis has no method,
 * headers, body or path, so any of them is a user's mistake that must not
 * pass silently. Sets *call to the --call value (borrowed from spec).
 * Returns 0, or RL_ERR_INVAL with err set.
 */
/* The connection settings of a step: -O db=N, -O password=P,
 * -O username=U (all borrowed from the spec; db -1: none). */
struct conn_opts {
  const char *password, *username;
  long db;
};

/* Reads a database number (0 .. 1,000,000) from n bytes of s; -1 if it
 * is not one. */
static long parse_db(const char *s, size_t n) {
  long v = 0;
  if (n == 0 || n > 7)
    return -1;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

static int check_spec(const rl_step_spec *spec, const char **call,
                      struct conn_opts *co, char *err, size_t errlen) {
  char shown[SHOW_BUF_LEN];

  *call = NULL;
  co->password = co->username = NULL;
  co->db = -1;
  for (size_t i = 0; spec->options != NULL && i < spec->n_options; i++) {
    const char *k = spec->options[i].key ? spec->options[i].key : "";
    const char *v = spec->options[i].value ? spec->options[i].value : "";
    if (strcmp(k, "db") == 0) {
      if ((co->db = parse_db(v, strlen(v))) < 0) {
        set_err(err, errlen, "-O db='%s': not a database number",
                show(v, strlen(v), shown));
        return RL_ERR_INVAL;
      }
      continue;
    }
    if (strcmp(k, "password") == 0 || strcmp(k, "username") == 0) {
      if (v[0] == '\0') {
        set_err(err, errlen, "-O %s= is empty", k);
        return RL_ERR_INVAL;
      }
      *(k[0] == 'p' ? &co->password : &co->username) = v;
      continue;
    }
    if (strcmp(k, "call") != 0) {
      set_err(err, errlen,
              "option '%s' is not known to redis (it takes --call, -O db=N, "
              "-O password=P, -O username=U)",
              show(k, strlen(k), shown));
      return RL_ERR_INVAL;
    }
    if (*call != NULL) {
      set_err(err, errlen, "--call given twice (one command per step)");
      return RL_ERR_INVAL;
    }
    *call = spec->options[i].value ? spec->options[i].value : "";
  }
  if (spec->method != NULL) {
    set_err(err, errlen,
            "-X (method) makes no sense for Redis: put the command in --call");
    return RL_ERR_INVAL;
  }
  if (spec->n_headers > 0) {
    set_err(err, errlen, "-H (headers) makes no sense for Redis");
    return RL_ERR_INVAL;
  }
  if (spec->body != NULL) {
    set_err(err, errlen,
            "-d (body) makes no sense for Redis: put the value in --call");
    return RL_ERR_INVAL;
  }
  if (spec->path != NULL && spec->path[0] != '\0' &&
      strcmp(spec->path, "/") != 0) {
    /* redis://HOST:PORT/N selects database N, as redis-cli -u does. */
    long db = spec->path[0] == '/'
                  ? parse_db(spec->path + 1, strlen(spec->path + 1))
                  : -1;
    if (db < 0) {
      set_err(err, errlen,
              "the URL path '%s' is not a database number: use "
              "redis://HOST:PORT/N or -O db=N",
              show(spec->path, strlen(spec->path), shown));
      return RL_ERR_INVAL;
    }
    if (co->db >= 0 && co->db != db) {
      set_err(err, errlen, "the URL selects database %ld, -O db=%ld", db,
              co->db);
      return RL_ERR_INVAL;
    }
    co->db = db;
  }
  if (co->username != NULL && co->password == NULL) {
    set_err(err, errlen, "-O username= needs -O password= too");
    return RL_ERR_INVAL;
  }
  if (*call == NULL) {
    set_err(err, errlen,
            "needs --call with a command, e.g. --call 'GET key:{{random_int "
            "1 1000}}'");
    return RL_ERR_INVAL;
  }
  return 0;
}

/* Appends one whole command (constant arguments) to b. */
static void encode_command(struct buf *b, const char *const *argv, size_t n) {
  buf_header(b, '*', n);
  for (size_t i = 0; i < n; i++) {
    buf_header(b, '$', strlen(argv[i]));
    buf_add(b, argv[i], strlen(argv[i]));
    buf_add(b, "\r\n", 2);
  }
}

/*
 * Encodes the step's connection preface, AUTH [username] password then
 * SELECT db, each as asked, and the key naming those settings. Borrows co;
 * fills st. Returns 0 or RL_ERR_NOMEM with err set.
 */
static int compile_preface(struct redis_step *st, const struct conn_opts *co,
                           char *err, size_t errlen) {
  struct buf b = {0}, key = {0};
  char db[24];
  snprintf(db, sizeof db, "%ld", co->db);
  if (co->password != NULL) {
    const char *auth[] = {"AUTH", co->username, co->password};
    if (co->username != NULL)
      encode_command(&b, auth, 3);
    else
      encode_command(&b, (const char *const[]){"AUTH", co->password}, 2);
    st->preface_verbs[st->n_preface++] = "AUTH";
    /* Length-prefixed: no choice of user and password reads as another. */
    char head[64];
    const char *u = co->username ? co->username : "";
    int n = snprintf(head, sizeof head, "auth=%zu:", strlen(u));
    buf_add(&key, head, (size_t)n);
    buf_add(&key, u, strlen(u));
    n = snprintf(head, sizeof head, ":%zu:", strlen(co->password));
    buf_add(&key, head, (size_t)n);
    buf_add(&key, co->password, strlen(co->password));
    buf_add(&key, " ", 1);
  }
  if (co->db >= 0) {
    encode_command(&b, (const char *const[]){"SELECT", db}, 2);
    st->preface_verbs[st->n_preface++] = "SELECT";
    buf_add(&key, "db=", 3);
    buf_add(&key, db, strlen(db));
  }
  buf_add(&key, "", 1); /* NUL-terminates (an empty key too) */
  if (b.oom || key.oom) {
    buf_free(&b);
    buf_free(&key);
    set_err(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  st->preface = b.p;
  st->preface_len = b.len;
  st->conn_key = key.p;
  return 0;
}

/* ABI 1.6: steps share a connection only when their AUTH and SELECT are
 * the same. */
static const char *redis_step_conn_key(void *step) {
  const struct redis_step *st = step;
  return st->conn_key;
}

/* The stats name for a command without --name: its verb, upper-cased. */
static char *verb_name(const struct arg *verb) {
  char *name = dup_mem(verb->text, verb->len);
  for (size_t i = 0; name != NULL && i < verb->len; i++)
    if (name[i] >= 'a' && name[i] <= 'z')
      name[i] = (char)(name[i] - 'a' + 'A');
  return name;
}

/*
 * Compiles spec (its --call) into a step. Borrows host (which outlives the
 * step: the step keeps the pointer to free its templates) and spec (only
 * during the call); on success the plugin owns *step until
 * redis_step_del(). On failure *step is untouched and err holds one line.
 */
static int redis_step_new(const rl_host *host, const rl_step_spec *spec,
                          void **step, char *err, size_t errlen) {
  const char *call;
  int rc;

  if (host == NULL || spec == NULL || step == NULL) {
    set_err(err, errlen, "no step spec given");
    return RL_ERR_INVAL;
  }
  /* We read members up to n_options; an older, shorter spec cannot
   * carry --call. */
  if (spec->struct_size <
      offsetof(rl_step_spec, n_options) + sizeof(spec->n_options)) {
    set_err(err, errlen, "step spec too short (%u bytes)",
            (unsigned)spec->struct_size);
    return RL_ERR_ABI;
  }
  /* Templates arrived in ABI 1.1; an older host's table ends before them. */
  if (!RL_HOST_HAS_TEMPLATES(host)) {
    set_err(err, errlen,
            "needs rpcload with plugin ABI 1.1 or newer (request templates); "
            "this one offers %u.%u",
            (unsigned)RL_ABI_VERSION_MAJOR(host->abi_version),
            (unsigned)RL_ABI_VERSION_MINOR(host->abi_version));
    return RL_ERR_ABI;
  }
  struct conn_opts co;
  if ((rc = check_spec(spec, &call, &co, err, errlen)) != 0)
    return rc;
  if ((co.password != NULL || co.db >= 0) && !RL_HOST_HAS_CONN_STEP(host)) {
    set_err(err, errlen,
            "-O password / -O db need rpcload with plugin ABI 1.6 or newer "
            "(a preface per connection); this one offers %u.%u",
            (unsigned)RL_ABI_VERSION_MAJOR(host->abi_version),
            (unsigned)RL_ABI_VERSION_MINOR(host->abi_version));
    return RL_ERR_ABI;
  }

  struct args a = {0};
  if ((rc = split_call(call, &a, err, errlen)) != 0)
    return rc;
  if (a.n == 0) {
    set_err(err, errlen,
            "--call is empty: give a command, e.g. --call 'GET key:1'");
    return RL_ERR_INVAL;
  }

  struct redis_step *st = calloc(1, sizeof *st);
  if (st == NULL) {
    args_free(&a);
    set_err(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  st->host = host;
  rc = compile_args(st, &a, err, errlen);
  if (rc == 0)
    rc = compile_preface(st, &co, err, errlen);
  if (rc == 0) {
    st->name = spec->name != NULL && spec->name[0] != '\0'
                   ? dup_mem(spec->name, strlen(spec->name))
                   : verb_name(&a.v[0]);
    if (st->name == NULL) {
      set_err(err, errlen, "out of memory");
      rc = RL_ERR_NOMEM;
    }
  }
  args_free(&a);
  if (rc != 0) {
    redis_step_del(st);
    return rc;
  }
  *step = st;
  return 0;
}

/* The stats type and name the step reports: the host uses them for
 * failures it reports itself. Both strings belong to the step. */
static void redis_step_describe(void *step, const char **type,
                                const char **name) {
  const struct redis_step *st = step;
  *type = "redis";
  *name = st->name;
}

/* ---- Sessions ------------------------------------------------------------ */

/* Where the reply parser is within the current element. */
enum parse_state {
  P_TYPE,    /* next byte is an element's type */
  P_LINE,    /* inside the line after the type byte */
  P_LF,      /* saw the line's CR, the LF must follow */
  P_BULK,    /* inside a bulk string's payload */
  P_BULK_CR, /* payload over, its CR must follow */
  P_BULK_LF, /* and then its LF */
  P_BROKEN   /* after a protocol error: the host is closing */
};

/* A request in flight and its step (borrowed while the request lives). */
struct inflight {
  rl_request *req; /* owned by the host; ours to report once */
  const struct redis_step *step;
};

/* One connection. Owned by the plugin from session_new to session_del. */
struct redis_session {
  const rl_host *host; /* borrowed: lives until fini */
  rl_conn *conn;       /* borrowed: valid until session_del */
  struct inflight fifo[REDIS_MAX_INFLIGHT]; /* oldest at head */
  unsigned head, count;
  struct buf out; /* encode buffer of templated commands */

  /* The reply parser; it keeps its state across reads. */
  enum parse_state state;
  char type;            /* type byte of the current element */
  uint64_t owed;        /* elements still to read to end the reply; 0 between
                         replies */
  uint64_t num;         /* the number on a header line ($ * :) */
  int negative;         /* it had a '-' */
  int digits;           /* digits seen so far */
  int bad_number;       /* a byte that is not a digit */
  int big;              /* num passed REDIS_NUM_MAX (fine for an integer) */
  uint64_t bulk_left;   /* payload bytes still to skip */
  uint64_t reply_bytes; /* bytes of the current reply so far */
  int top_error;        /* the reply is an error ("-...") */
  char error[REDIS_ERROR_MAX + 1]; /* its message, possibly cut */
  size_t error_len;
  int reply_ready; /* the current reply is complete, to be acted on */

  /* ABI 1.6: the preface of the step the connection was set up with
   * (borrowed: steps outlive sessions); replies owed to it come first. */
  const struct redis_step *pstep;
  unsigned preface_owed;
  int in_preface; /* the current reply answers the preface */

  /* ABI 1.2: the current reply's bytes, kept when the host wants the
   * response of the request it answers (scenario expect/capture). */
  int collecting;
  struct buf resp;
};

/*
 * Ends the oldest request in flight. `error` NULL is success; it is
 * borrowed for the call only. The slot is cleared BEFORE request_done,
 * because after that call the host may have freed the request.
 */
static void finish_oldest(struct redis_session *s, uint64_t bytes,
                          const char *error) {
  struct inflight f = s->fifo[s->head];
  rl_result r;

  s->fifo[s->head].req = NULL;
  s->head = (s->head + 1) % REDIS_MAX_INFLIGHT;
  s->count--;
  r.type = "redis";
  r.name = f.step->name;
  r.response_bytes = bytes;
  r.error = error;
  s->host->request_done(f.req, &r);
}

/*
 * A protocol error: fails the request whose reply could not be parsed
 * with a precise text (session_del then fails the rest with the host's
 * reason) and returns RL_ERR_PROTO. The session parses nothing more.
 */
static int protocol_error(struct redis_session *s, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static int protocol_error(struct redis_session *s, const char *fmt, ...) {
  char what[128];
  char error[160];
  va_list ap;

  va_start(ap, fmt);
  // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): va_start is above
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  s->state = P_BROKEN;
  if (s->count > 0) {
    snprintf(error, sizeof error, "invalid RESP reply: %s", what);
    finish_oldest(s, s->reply_bytes, error);
  }
  return RL_ERR_PROTO;
}

/*
 * Redis quotes the arguments of an unknown command back in its error
 * ("ERR unknown command 'FOO', with args beginning with: 'key:17' "). With
 * templated arguments every request would then have its own error text,
 * and the error report (grouped by text) one row per request: the echo is
 * cut, the message kept. NUL-terminates s->error.
 */
static const char *error_text(struct redis_session *s) {
  static const char echo[] = ", with args beginning with:";
  s->error[s->error_len] = '\0';
  char *cut = strstr(s->error, echo);
  if (cut != NULL)
    *cut = '\0';
  return s->error_len > 0 ? s->error : "empty Redis error reply";
}

/* One element is complete; when it was the last one owed, so is the reply,
 * which ends the oldest request. */
static void element_done(struct redis_session *s) {
  s->state = P_TYPE;
  if (--s->owed > 0)
    return;
  s->reply_ready = 1; /* acted on once its last bytes are collected */
}

/* Appends `n` bytes of s as a JSON string to j. */
static void json_string(struct buf *j, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  buf_add(j, "\"", 1);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      buf_add(j, e, 2);
    } else if (c < 0x20) {
      char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      buf_add(j, e, 6);
    } else {
      buf_add(j, &s[i], 1);
    }
  }
  buf_add(j, "\"", 1);
}

/* A length or count line's number ("-1" for null), read within its `n`
 * bytes: a reply is not NUL-terminated. */
static long long resp_count(const char *line, size_t n) {
  int neg = n > 0 && line[0] == '-';
  long long num = 0;
  for (size_t k = (size_t)neg;
       k < n && line[k] >= '0' && line[k] <= '9' && num < 1000000000; k++)
    num = num * 10 + (line[k] - '0');
  return neg ? -num : num;
}

/*
 * Appends the JSON of the RESP element at raw[*i] (a whole reply the
 * streaming parser has already checked) to j, and moves *i past it:
 * simple strings, errors and bulk strings become strings, integers
 * numbers, null replies null, arrays arrays. `depth` bounds nesting.
 */
static void resp_json(const char *raw, size_t len, size_t *i, struct buf *j,
                      int depth) {
  if (*i >= len || depth > 64) {
    *i = len;
    buf_add(j, "null", 4);
    return;
  }
  char type = raw[*i];
  const char *line = raw + *i + 1;
  const char *cr = memchr(line, '\r', len - *i - 1);
  size_t n = cr != NULL ? (size_t)(cr - line) : len - *i - 1;
  *i = cr != NULL ? (size_t)(cr - raw) + 2 : len;
  long long num = type == '$' || type == '*' ? resp_count(line, n) : 0;
  if (type == '+' || type == '-') {
    json_string(j, line, n);
  } else if (type == ':') {
    buf_add(j, line, n);
  } else if (num < 0) {
    buf_add(j, "null", 4);
  } else if (type == '$') {
    size_t k = (size_t)num <= len - *i ? (size_t)num : len - *i;
    json_string(j, raw + *i, k);
    *i += k + 2;
  } else {
    buf_add(j, "[", 1);
    for (long long e = 0; e < num && *i < len; e++) {
      if (e > 0)
        buf_add(j, ",", 1);
      resp_json(raw, len, i, j, depth + 1);
    }
    buf_add(j, "]", 1);
  }
}

/*
 * Hands the reply just collected to the host for the request it answers
 * (ABI 1.2): status -1 (RESP has none); the body is a string reply's
 * value, or the JSON text of any other reply; json is the reply as JSON
 * (a string, a number, null or an array), for `$` paths.
 */
static void hand_over(struct redis_session *s, rl_request *req) {
  struct buf j = {0};
  size_t i = 0;
  resp_json(s->resp.p, s->resp.len, &i, &j, 0);
  buf_add(&j, "", 1);
  if (j.oom) {
    buf_free(&j);
    return; /* no response, as when none arrived; the request goes on */
  }
  const char *raw = s->resp.p;
  const char *body = j.p;
  size_t body_len = j.len - 1;
  if (raw[0] == '+' || raw[0] == '-' || raw[0] == ':' ||
      (raw[0] == '$' && raw[1] != '-')) {
    const char *cr = memchr(raw, '\r', s->resp.len);
    body = raw + 1;
    body_len = cr != NULL ? (size_t)(cr - raw) - 1 : 0;
    if (raw[0] == '$' && cr != NULL) {
      body = cr + 2;
      long long n = resp_count(raw + 1, (size_t)(cr - raw) - 1);
      size_t left = s->resp.len - (size_t)(body - raw);
      body_len = n < 0 ? 0 : (size_t)n < left ? (size_t)n : left;
    }
  }
  rl_response resp = {
      .struct_size = sizeof resp,
      .status = -1,
      .body = (const uint8_t *)body,
      .body_len = body_len,
      .json = j.p,
  };
  s->host->request_response(req, &resp);
  buf_free(&j);
}

/* A whole reply was read: the preface's, or the oldest request's. */
static void reply_complete(struct redis_session *s) {
  s->reply_ready = 0;
  if (s->in_preface) {
    s->in_preface = 0;
    unsigned k = s->pstep->n_preface - s->preface_owed--;
    if (s->top_error) {
      char why[REDIS_ERROR_MAX + 32];
      snprintf(why, sizeof why, "%s failed: %s", s->pstep->preface_verbs[k],
               error_text(s));
      s->host->conn_fail(s->conn, why);
      s->state = P_BROKEN;
    }
    return;
  }
  if (s->collecting) {
    s->collecting = 0;
    hand_over(s, s->fifo[s->head].req);
    if (s->resp.cap > REDIS_KEEP_BUF)
      buf_free(&s->resp);
  }
  finish_oldest(s, s->reply_bytes, s->top_error ? error_text(s) : NULL);
}

/* The line of a header or a simple element is complete (CRLF read). */
static int line_done(struct redis_session *s) {
  if (s->type == '+' || s->type == '-') {
    element_done(s);
    return 0;
  }
  if (s->digits == 0 || s->bad_number)
    return protocol_error(s, "bad number after '%c'", s->type);
  if (s->type == ':') {
    element_done(s);
    return 0;
  }
  if (s->big)
    return protocol_error(s, "length after '%c' too large", s->type);
  if (s->negative) {
    /* -1 is null ($-1 null bulk, *-1 null array); no other negative. */
    if (s->num != 1)
      return protocol_error(s, "negative length after '%c'", s->type);
    element_done(s);
    return 0;
  }
  if (s->type == '$') {
    s->bulk_left = s->num;
    s->state = s->num > 0 ? P_BULK : P_BULK_CR;
    return 0;
  }
  /* '*': the array stands for its elements, owed in its place. */
  if (s->num == 0) {
    element_done(s);
    return 0;
  }
  if (s->num > REDIS_NUM_MAX - s->owed)
    return protocol_error(s, "array too large");
  s->owed += s->num - 1;
  s->state = P_TYPE;
  return 0;
}

/* Reads the type byte of an element; a new reply when nothing is owed. */
static int read_type(struct redis_session *s, uint8_t c) {
  int top = s->owed == 0;
  if (top) {
    s->in_preface = s->preface_owed > 0;
    if (!s->in_preface && s->count == 0) {
      s->state = P_BROKEN; /* a reply nobody asked for: out of step */
      if (RL_HOST_HAS_CONN_STEP(s->host))
        s->host->conn_fail(s->conn, "a reply nobody asked for (no command "
                                    "in flight): the connection is out of "
                                    "step");
      return RL_ERR_PROTO;
    }
    /* A reply is all payload (no header fields): collected when the
     * host reads the body (ABI 1.8 parts; before it, wants_response). */
    s->collecting =
        !s->in_preface && RL_HOST_HAS_RESPONSES(s->host) &&
        (RL_HOST_HAS_RESPONSE_PARTS(s->host) && s->host->request_response_parts
             ? (s->host->request_response_parts(s->fifo[s->head].req) &
                RL_RESPONSE_BODY) != 0
             : s->host->request_wants_response(s->fifo[s->head].req) != 0);
    s->resp.len = 0;
    s->resp.oom = 0;
    s->owed = 1;
    s->reply_bytes = 0;
    s->top_error = 0;
  }
  s->reply_bytes++;
  switch (c) {
  case '-':
    /* Only a top-level error fails the request; an error inside an array
     * (one command of a MULTI/EXEC) is part of a successful reply. */
    if (top) {
      s->top_error = 1;
      s->error_len = 0;
    }
    break;
  case '+':
  case ':':
  case '$':
  case '*':
    break;
  default:
    if (c >= 0x21 && c < 0x7f)
      return protocol_error(s,
                            "unexpected byte '%c' where a reply type "
                            "(+ - : $ *) was expected",
                            c);
    return protocol_error(s,
                          "unexpected byte 0x%02x where a reply type "
                          "(+ - : $ *) was expected",
                          c);
  }
  s->type = (char)c;
  s->num = 0;
  s->negative = 0;
  s->digits = 0;
  s->bad_number = 0;
  s->big = 0;
  s->state = P_LINE;
  return 0;
}

/* Consumes line bytes up to (not including) the CR. */
static void read_line(struct redis_session *s, const uint8_t *p, size_t n) {
  if (s->type == '+')
    return;
  if (s->type == '-') {
    if (s->top_error) {
      size_t room = REDIS_ERROR_MAX - s->error_len;
      size_t k = n < room ? n : room;
      memcpy(s->error + s->error_len, p, k);
      s->error_len += k;
    }
    return;
  }
  for (size_t i = 0; i < n; i++) {
    uint8_t c = p[i];
    if (c == '-' && s->digits == 0 && !s->negative) {
      s->negative = 1;
    } else if (c >= '0' && c <= '9') {
      s->digits++;
      /* Only lengths need the value; an integer reply may be any int64. */
      if (s->num > (REDIS_NUM_MAX - 9) / 10)
        s->big = 1;
      else
        s->num = s->num * 10 + (uint64_t)(c - '0');
    } else {
      s->bad_number = 1; /* reported once the line is over */
    }
  }
}

/*
 * A new connection. Borrows host and conn (both outlive the session) and
 * info (only during the call); the plugin owns *session until
 * redis_session_del(). Nothing is sent until a request comes.
 */
static int redis_session_new(const rl_host *host, rl_conn *conn,
                             const rl_conn_info *info, void **session) {
  (void)info;
  struct redis_session *s = calloc(1, sizeof *s);
  if (s == NULL)
    return RL_ERR_NOMEM;
  s->host = host;
  s->conn = conn;
  s->state = P_TYPE;
  /* ABI 1.6: the step this connection was set up with says whether it
   * needs AUTH and SELECT first (steps with other settings get their own
   * connection: redis_step_conn_key). */
  const struct redis_step *st =
      RL_HOST_HAS_CONN_STEP(host) ? host->conn_step(conn) : NULL;
  if (st != NULL && st->preface_len > 0) {
    int rc = host->conn_write(conn, st->preface, st->preface_len);
    if (rc != 0) {
      free(s);
      return rc;
    }
    s->pstep = st;
    s->preface_owed = st->n_preface;
  }
  *session = s;
  return 0;
}

/* ABI 1.6: no command goes out before the preface's replies are in. */
static int redis_session_ready(void *session) {
  const struct redis_session *s = session;
  return s->preface_owed == 0;
}

/*
 * Encodes req's command (expanding its templates for req) and queues it.
 * On 0 the session holds req (owned by the host) until it calls
 * request_done() once, from session_on_read() or session_del(). On error
 * nothing is kept and nothing will be reported.
 */
static int redis_session_submit(void *session, rl_request *req) {
  struct redis_session *s = session;
  if (s->state == P_BROKEN)
    return RL_ERR_CLOSED;
  if (s->count == REDIS_MAX_INFLIGHT)
    return RL_ERR_BUSY;
  const struct redis_step *st = s->host->request_step(req);
  if (st == NULL)
    return RL_ERR_INVAL;

  int rc;
  if (st->constant != NULL) {
    rc = s->host->conn_write(s->conn, st->constant, st->constant_len);
  } else {
    struct buf *b = &s->out;
    b->len = 0;
    b->oom = 0;
    for (size_t i = 0; i < st->n_pieces; i++) {
      const struct piece *pc = &st->pieces[i];
      if (pc->tpl == NULL) {
        buf_add(b, pc->bytes, pc->len);
        continue;
      }
      /* The expansion lives only until the next template_expand(): copy
       * it into b before expanding the next argument. */
      size_t len = 0;
      const char *v = s->host->template_expand(pc->tpl, req, &len);
      if (v == NULL) {
        /* ABI 1.6: the request fails with what went wrong, not with
         * "redis refused the request: out of memory". */
        if (RL_HOST_HAS_CONN_STEP(s->host))
          s->host->request_refuse(req, "a templated argument could not be "
                                       "expanded (out of memory)");
        return RL_ERR_NOMEM;
      }
      buf_header(b, '$', len);
      buf_add(b, v, len);
    }
    if (b->oom) {
      buf_free(b);
      return RL_ERR_NOMEM;
    }
    rc = s->host->conn_write(s->conn, b->p, b->len); /* the host copies */
    if (b->cap > REDIS_KEEP_BUF)
      buf_free(b);
  }
  if (rc != 0)
    return rc;
  unsigned tail = (s->head + s->count) % REDIS_MAX_INFLIGHT;
  s->fifo[tail].req = req;
  s->fifo[tail].step = st;
  s->count++;
  return 0;
}

/*
 * Feeds received bytes (borrowed for the call) to the reply parser, which
 * ends the oldest request in flight with each complete reply. Returns 0,
 * or RL_ERR_PROTO for bytes nobody asked for or malformed RESP (having
 * failed the request whose reply was malformed).
 */
static int redis_session_on_read(void *session, const uint8_t *data,
                                 size_t len) {
  struct redis_session *s = session;
  size_t i = 0;
  int rc = 0;

  while (i < len && rc == 0) {
    size_t from = i;
    switch (s->state) {
    case P_TYPE:
      rc = read_type(s, data[i++]);
      break;
    case P_LINE: {
      const uint8_t *cr = memchr(data + i, '\r', len - i);
      size_t end = cr != NULL ? (size_t)(cr - data) : len;
      read_line(s, data + i, end - i);
      s->reply_bytes += end - i;
      i = end;
      if (cr != NULL) {
        i++;
        s->reply_bytes++;
        s->state = P_LF;
      }
      break;
    }
    case P_LF:
      s->reply_bytes++;
      if (data[i++] != '\n')
        rc = protocol_error(s, "CR not followed by LF");
      else
        rc = line_done(s);
      break;
    case P_BULK: {
      size_t k = len - i;
      if (k > s->bulk_left)
        k = (size_t)s->bulk_left;
      i += k;
      s->bulk_left -= k;
      s->reply_bytes += k;
      if (s->bulk_left == 0)
        s->state = P_BULK_CR;
      break;
    }
    case P_BULK_CR:
    case P_BULK_LF: {
      char want = s->state == P_BULK_CR ? '\r' : '\n';
      s->reply_bytes++;
      if (data[i++] != (uint8_t)want)
        rc = protocol_error(s, "bulk string not followed by CRLF");
      else if (s->state == P_BULK_CR)
        s->state = P_BULK_LF;
      else
        element_done(s);
      break;
    }
    case P_BROKEN:
      rc = RL_ERR_PROTO;
      break;
    }
    if (s->collecting)
      buf_add(&s->resp, data + from, i - from);
    if (s->reply_ready && rc == 0)
      reply_complete(s);
  }
  return rc;
}

/*
 * The connection is over. Fails every request still in flight, oldest
 * first, with `reason` (borrowed for the call), or the code's text when
 * there is none: a Redis reply always has its own length, so a close never
 * completes one. Then frees the session.
 */
static void redis_session_del(void *session, int err, const char *reason) {
  struct redis_session *s = session;
  if (s == NULL)
    return;
  const char *why =
      reason != NULL && reason[0] != '\0' ? reason : rl_strerror(err);
  while (s->count > 0)
    finish_oldest(s, 0, why);
  buf_free(&s->out);
  buf_free(&s->resp);
  free(s);
}

/* How many requests a session takes at once: Redis answers in order, so
 * the FIFO can hold this many pipelined commands. */
static uint32_t redis_session_max_concurrent(void *session) {
  (void)session;
  return REDIS_MAX_INFLIGHT;
}

static const rl_plugin redis_plugin = {
    .abi_version = RL_ABI_VERSION,
    .struct_size = sizeof(rl_plugin),
    .name = "redis",
    .version = "0.1.0",
    .summary = "Redis (RESP2) commands from --call, over TCP or TLS "
               "(example plugin)",
    .schemes = redis_schemes,
    .alpn = NULL,
    .kind = RL_PLUGIN_CODEC,
    .init = NULL,
    .fini = NULL,
    .step_new = redis_step_new,
    .step_del = redis_step_del,
    .session_new = redis_session_new,
    .session_submit = redis_session_submit,
    .session_on_read = redis_session_on_read,
    .session_del = redis_session_del,
    .session_max_concurrent = redis_session_max_concurrent,
    .step_describe = redis_step_describe,
    .session_ready = redis_session_ready,
    .step_conn_key = redis_step_conn_key,
};

/* The one exported symbol. The descriptor is static and never freed. */
RL_EXPORT const rl_plugin *rl_plugin_entry(void);

RL_EXPORT const rl_plugin *rl_plugin_entry(void) { return &redis_plugin; }

#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <rpcload/plugin.h>

/* The argv being built: every string owned. */
typedef struct argbuf {
  char **v;
  int n, cap;
} argbuf;

static int args_push(argbuf *a, char *s) {
  if (!s)
    return RL_ERR_NOMEM;
  if (a->n + 2 > a->cap) {
    int cap = a->cap ? a->cap * 2 : 16;
    char **v = realloc(a->v, (size_t)cap * sizeof *v);
    if (!v) {
      free(s);
      return RL_ERR_NOMEM;
    }
    a->v = v;
    a->cap = cap;
  }
  a->v[a->n++] = s;
  a->v[a->n] = NULL;
  return 0;
}

void cli_config_free(char **argv) {
  if (!argv)
    return;
  for (char **p = argv; *p; p++)
    free(*p);
  free(argv);
}

/* "--name" or "--name=value", newly allocated. */
static char *long_arg(const char *name, const char *value) {
  size_t n = strlen(name), v = value ? strlen(value) : 0;
  char *s = malloc(n + v + 4);
  if (!s)
    return NULL;
  memcpy(s, "--", 2);
  memcpy(s + 2, name, n);
  if (value) {
    s[n + 2] = '=';
    memcpy(s + n + 3, value, v);
    s[n + 3 + v] = 0;
  } else {
    s[n + 2] = 0;
  }
  return s;
}

/* An option's name as typed in a file: `_` and `-` are the same. */
static int same_name(const char *opt, const char *key, size_t keylen) {
  size_t i = 0;
  for (; i < keylen && opt[i]; i++) {
    char k = key[i];
    if (k == '_')
      k = '-';
    if (k != opt[i])
      return 0;
  }
  return i == keylen && !opt[i];
}

static const struct option *find_option(const struct option *known,
                                        const char *key, size_t len) {
  for (const struct option *o = known; o->name; o++)
    if (same_name(o->name, key, len))
      return o;
  return NULL;
}

/* Levenshtein distance, for "did you mean"; large for long words. */
static size_t distance(const char *a, size_t la, const char *b) {
  size_t lb = strlen(b);
  if (la > 63 || lb > 63)
    return 99;
  size_t row[64];
  for (size_t j = 0; j <= lb; j++)
    row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t up = row[j];
      char ca = a[i - 1];
      if (ca == '_')
        ca = '-';
      size_t best = diag + (ca == b[j - 1] ? 0 : 1);
      if (up + 1 < best)
        best = up + 1;
      if (row[j - 1] + 1 < best)
        best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[lb];
}

static const char *closest(const struct option *known, const char *key,
                           size_t len) {
  const char *best = NULL;
  size_t bd = 3;
  for (const struct option *o = known; o->name; o++) {
    size_t d = distance(key, len, o->name);
    if (d < bd && d < strlen(o->name)) {
      bd = d;
      best = o->name;
    }
  }
  return best;
}

/* 1 true, 0 false, -1 neither. */
static int parse_flag(const char *v) {
  static const char *const yes[] = {"true", "yes", "on", "1"};
  static const char *const no[] = {"false", "no", "off", "0"};
  for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
    if (strcasecmp(v, yes[i]) == 0)
      return 1;
    if (strcasecmp(v, no[i]) == 0)
      return 0;
  }
  return -1;
}

/*
 * Adds the option `o` with `value` (NULL: none given) to `a`, checking it
 * as a file or variable gives it. `where` prefixes errors ("rpcload.conf:3"
 * or "RPCLOAD_USERS").
 */
static int add_option(argbuf *a, const struct option *o, const char *value,
                      const char *where, char *err, size_t errlen) {
  if (o->has_arg == no_argument) {
    int on = parse_flag(value ? value : "");
    if (on < 0) {
      snprintf(err, errlen,
               "%s: '%s' is a flag: expected true or false, "
               "got '%s'",
               where, o->name, value ? value : "");
      return RL_ERR_INVAL;
    }
    return on ? args_push(a, long_arg(o->name, NULL)) : 0;
  }
  if (!value || !*value) {
    if (o->has_arg == optional_argument)
      return args_push(a, long_arg(o->name, NULL));
    snprintf(err, errlen, "%s: '%s' needs a value", where, o->name);
    return RL_ERR_INVAL;
  }
  return args_push(a, long_arg(o->name, value));
}

static int is_blank(char c) { return c == ' ' || c == '\t'; }

/* One line of the file (NUL-terminated, no newline); `where` is
 * "FILE:LINE". */
static int config_line(argbuf *a, char *line, const struct option *known,
                       const char *where, char *err, size_t errlen) {
  char *p = line;
  while (is_blank(*p))
    p++;
  if (!*p || *p == '#' || *p == ';')
    return 0;
  char *eq = strchr(p, '=');
  if (!eq) {
    snprintf(err, errlen, "%s: expected 'option = value', got '%s'", where, p);
    return RL_ERR_INVAL;
  }
  char *kend = eq;
  while (kend > p && is_blank(kend[-1]))
    kend--;
  size_t klen = (size_t)(kend - p);
  char *v = eq + 1;
  while (is_blank(*v))
    v++;
  char *vend;
  if (*v == '"' || *v == '\'') {
    char *close = strchr(v + 1, *v);
    if (!close) {
      snprintf(err, errlen, "%s: the value's %c has no closing %c", where, *v,
               *v);
      return RL_ERR_INVAL;
    }
    char *rest = close + 1;
    while (is_blank(*rest))
      rest++;
    if (*rest && *rest != '#') {
      snprintf(err, errlen, "%s: text after the closing %c: '%s'", where, *v,
               rest);
      return RL_ERR_INVAL;
    }
    vend = close;
    v++;
  } else {
    /* A comment starts at a '#' after a blank (so "a#b" is a value). */
    char *q = eq + 1;
    while (*q && !(*q == '#' && is_blank(q[-1])))
      q++;
    vend = q > v ? q : v;
    while (vend > v && is_blank(vend[-1]))
      vend--;
  }
  *vend = 0;
  if (!klen) {
    snprintf(err, errlen, "%s: expected an option name before '='", where);
    return RL_ERR_INVAL;
  }
  if (same_name("config", p, klen)) {
    snprintf(err, errlen, "%s: a config file cannot name another", where);
    return RL_ERR_INVAL;
  }
  const struct option *o = find_option(known, p, klen);
  if (!o) {
    const char *near = closest(known, p, klen);
    if (near)
      snprintf(err, errlen, "%s: unknown option '%.*s' (did you mean '%s'?)",
               where, (int)klen, p, near);
    else
      snprintf(err, errlen, "%s: unknown option '%.*s' (see rpcload --help)",
               where, (int)klen, p);
    return RL_ERR_INVAL;
  }
  return add_option(a, o, v, where, err, errlen);
}

/* Reads `path`; a missing file is fine when it was not asked for. */
static int config_file(argbuf *a, const char *path, int required,
                       const struct option *known, char *err, size_t errlen) {
  FILE *f = fopen(path, "r");
  if (!f) {
    if (!required && errno == ENOENT)
      return 0;
    snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    return RL_ERR_INVAL;
  }
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  int rc = 0;
  for (long lineno = 1; (n = getline(&line, &cap, f)) >= 0; lineno++) {
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
      line[--n] = 0;
    if (strlen(line) != (size_t)n) {
      snprintf(err, errlen, "%s:%ld: a NUL byte in the line", path, lineno);
      rc = RL_ERR_INVAL;
      break;
    }
    /* A UTF-8 byte order mark (Windows editors write one) is no part of
     * the first option's name. */
    char *text = line;
    if (lineno == 1 && n >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0)
      text += 3;
    char where[512];
    snprintf(where, sizeof where, "%s:%ld", path, lineno);
    if ((rc = config_line(a, text, known, where, err, errlen)))
      break;
  }
  if (!rc && ferror(f)) {
    snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
    rc = RL_ERR_INVAL;
  }
  free(line);
  fclose(f);
  return rc;
}

static int config_env(argbuf *a, const struct option *known, char *err,
                      size_t errlen) {
  for (const struct option *o = known; o->name; o++) {
    char var[128] = "RPCLOAD_";
    size_t n = strlen(var);
    for (const char *p = o->name; *p && n + 1 < sizeof var; p++) {
      char ch = *p;
      if (ch == '-')
        ch = '_';
      if (ch >= 'a' && ch <= 'z')
        ch = (char)(ch - 'a' + 'A');
      var[n++] = ch;
    }
    var[n] = 0;
    if (strcmp(o->name, "config") == 0)
      continue;
    const char *v = getenv(var);
    /* An empty variable is unset (VAR= is how people clear one). */
    if (!v || !*v)
      continue;
    int rc = add_option(a, o, v, var, err, errlen);
    if (rc)
      return rc;
  }
  return 0;
}

/* Does short option `c` take an argument? Told by the long option that
 * returns it (rpcload's short options all have one). */
static int short_takes_arg(const struct option *known, int c) {
  for (const struct option *o = known; o->name; o++)
    if (o->flag == NULL && o->val == c)
      return o->has_arg == required_argument;
  return 0;
}

/* The long option "--NAME..." names (exactly, or as the unique prefix
 * getopt_long accepts), or NULL. */
static const struct option *long_option(const struct option *known,
                                        const char *name, size_t len) {
  const struct option *found = NULL;
  for (const struct option *o = known; o->name; o++) {
    if (strncmp(o->name, name, len) != 0)
      continue;
    if (strlen(o->name) == len)
      return o;
    found = found ? NULL : o;
  }
  return found;
}

int cli_config_argv(int argc, char **argv, const struct option *known,
                    int *out_argc, char ***out_argv, char *err, size_t errlen) {
  *out_argv = NULL;
  *out_argc = 0;
  argbuf a = {0};
  int rc = 0;
  const char *config = NULL;
  int config_at = -1, config_len = 0; /* argv span of --config */
  /* Finds --config where getopt would see an option: not as another
   * option's value, not after "--". */
  for (int i = 1; i < argc; i++) {
    const char *s = argv[i];
    if (strcmp(s, "--") == 0)
      break;
    if (s[0] != '-' || s[1] == 0)
      continue;
    if (s[1] == '-') {
      const char *eq = strchr(s + 2, '=');
      size_t len = eq ? (size_t)(eq - (s + 2)) : strlen(s + 2);
      if (len == 6 && strncmp(s + 2, "config", 6) == 0) {
        if (config) {
          /* One file: which of two would win is not worth guessing. */
          snprintf(err, errlen, "--config is given twice");
          return RL_ERR_INVAL;
        }
        if (eq) {
          config = eq + 1;
          config_len = 1;
        } else if (i + 1 < argc) {
          config = argv[i + 1];
          config_len = 2;
        } else {
          snprintf(err, errlen, "--config needs a file name");
          return RL_ERR_INVAL;
        }
        config_at = i;
        i += config_len - 1;
        continue;
      }
      const struct option *o = long_option(known, s + 2, len);
      if (o && o->has_arg == required_argument && !eq)
        i++;
      continue;
    }
    for (const char *p = s + 1; *p; p++)
      if (short_takes_arg(known, (unsigned char)*p)) {
        if (!p[1])
          i++;
        break;
      }
  }
  const char *env_config = getenv("RPCLOAD_CONFIG");
  if (!config && env_config && *env_config)
    config = env_config;

  if ((rc = args_push(&a, strdup(argc > 0 ? argv[0] : "rpcload"))))
    goto fail;
  if (config)
    rc = config_file(&a, config, 1, known, err, errlen);
  else
    rc = config_file(&a, CLI_CONFIG_DEFAULT, 0, known, err, errlen);
  if (rc || (rc = config_env(&a, known, err, errlen)))
    goto fail;
  for (int i = 1; i < argc; i++) {
    if (i == config_at) {
      i += config_len - 1;
      continue;
    }
    if ((rc = args_push(&a, strdup(argv[i]))))
      goto fail;
  }
  *out_argc = a.n;
  *out_argv = a.v;
  return 0;
fail:
  if (rc == RL_ERR_NOMEM)
    snprintf(err, errlen, "out of memory");
  if (a.v)
    cli_config_free(a.v);
  return rc;
}

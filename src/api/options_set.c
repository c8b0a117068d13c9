/* rl_options: the command line's options as an embedder gives them. */
#include "api/options_set.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/options.h"

struct rl_options {
  char **args; /* owned strings: options as argv has them */
  size_t n, cap;
  char **operands; /* owned: "target" values */
  size_t n_operands, cap_operands;
};

rl_options *rl_options_new(void) { return calloc(1, sizeof(rl_options)); }

void rl_options_free(rl_options *o) {
  if (!o)
    return;
  for (size_t i = 0; i < o->n; i++)
    free(o->args[i]);
  for (size_t i = 0; i < o->n_operands; i++)
    free(o->operands[i]);
  free(o->args);
  free(o->operands);
  free(o);
}

static int push(char ***v, size_t *n, size_t *cap, const char *s) {
  if (*n == *cap) {
    size_t c = *cap ? *cap * 2 : 16;
    char **nv = realloc(*v, c * sizeof *nv);
    if (!nv)
      return RL_ERR_NOMEM;
    *v = nv;
    *cap = c;
  }
  if (!((*v)[*n] = strdup(s)))
    return RL_ERR_NOMEM;
  (*n)++;
  return 0;
}

/* The reason is before, name, after, joined. */
static void set_err(rl_error_info *err, int code, const char *before,
                    const char *name, const char *after) {
  if (!err)
    return;
  err->code = code;
  err->usage = code == RL_ERR_INVAL;
  snprintf(err->text, sizeof err->text, "%s%s%s", before, name, after);
}

/* The long option `name` spells ('_' as '-'), or NULL. */
static const struct option *find(const char *name, char *norm, size_t len) {
  size_t i = 0;
  for (; name[i] && i + 1 < len; i++)
    norm[i] = (char)(name[i] == '_' ? '-' : name[i]);
  norm[i] = 0;
  for (const struct option *lo = rl__api_long_options(); lo->name; lo++)
    if (strcmp(lo->name, norm) == 0)
      return lo;
  return NULL;
}

static int truthy(const char *v, int *out) {
  static const char *const yes[] = {"true", "yes", "on", "1"};
  static const char *const no[] = {"false", "no", "off", "0"};
  for (size_t i = 0; i < 4; i++) {
    if (strcasecmp(v, yes[i]) == 0)
      return *out = 1, 0;
    if (strcasecmp(v, no[i]) == 0)
      return *out = 0, 0;
  }
  return -1;
}

int rl_options_set(rl_options *o, const char *name, const char *value,
                   rl_error_info *err) {
  if (!name || !*name) {
    set_err(err, RL_ERR_INVAL, "an option needs a name", "", "");
    return RL_ERR_INVAL;
  }
  if (strcmp(name, "target") == 0 || strcmp(name, "host") == 0) {
    if (!value) {
      set_err(err, RL_ERR_INVAL, "option '", name, "' needs a value");
      return RL_ERR_INVAL;
    }
    if (strcmp(name, "target") == 0) {
      if (push(&o->operands, &o->n_operands, &o->cap_operands, value))
        goto nomem;
      return 0;
    }
  }
  char norm[128];
  const struct option *lo = find(name, norm, sizeof norm);
  if (!lo) {
    set_err(err, RL_ERR_INVAL, "unknown option '", name,
            "' (the names are rpcload --help's long options without their "
            "dashes, and \"target\")");
    return RL_ERR_INVAL;
  }
  char flag[160];
  snprintf(flag, sizeof flag, "--%s", lo->name);
  if (lo->has_arg == no_argument) {
    int on = 1;
    if (value && truthy(value, &on)) {
      set_err(err, RL_ERR_INVAL, "option '", name,
              "' is a flag: give true or false");
      return RL_ERR_INVAL;
    }
    if (on && push(&o->args, &o->n, &o->cap, flag))
      goto nomem;
    return 0;
  }
  if (!value) {
    set_err(err, RL_ERR_INVAL, "option '", name, "' needs a value");
    return RL_ERR_INVAL;
  }
  if (push(&o->args, &o->n, &o->cap, flag) ||
      push(&o->args, &o->n, &o->cap, value))
    goto nomem;
  return 0;
nomem:
  set_err(err, RL_ERR_NOMEM, "out of memory", "", "");
  return RL_ERR_NOMEM;
}

int rl_options_add_args(rl_options *o, int argc, char *const *argv) {
  for (int i = 0; i < argc; i++)
    if (push(&o->args, &o->n, &o->cap, argv[i]))
      return RL_ERR_NOMEM;
  return 0;
}

void rl_options_each(void (*fn)(const char *name, int has_value, int short_name,
                                void *arg),
                     void *arg) {
  for (const struct option *lo = rl__api_long_options(); lo->name; lo++)
    fn(lo->name, lo->has_arg != no_argument,
       lo->val > 0 && lo->val < 128 ? lo->val : 0, arg);
}

int rl__options_argv(const rl_options *o, int *argc, char ***argv) {
  size_t n = 1 + (o ? o->n : 0) + (o && o->n_operands ? 1 + o->n_operands : 0);
  char **v = calloc(n + 1, sizeof *v);
  if (!v)
    return RL_ERR_NOMEM;
  size_t k = 0;
  v[k++] = strdup("rpcload");
  for (size_t i = 0; o && i < o->n; i++)
    v[k++] = strdup(o->args[i]);
  if (o && o->n_operands) {
    v[k++] = strdup("--");
    for (size_t i = 0; i < o->n_operands; i++)
      v[k++] = strdup(o->operands[i]);
  }
  for (size_t i = 0; i < k; i++)
    if (!v[i]) {
      rl__options_argv_free(v);
      return RL_ERR_NOMEM;
    }
  *argc = (int)k;
  *argv = v;
  return 0;
}

void rl__options_argv_free(char **argv) {
  if (!argv)
    return;
  for (char **p = argv; *p; p++)
    free(*p);
  free(argv);
}

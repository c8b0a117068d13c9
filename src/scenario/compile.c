/*
 * A scenario compiled into a plan (engine/plan.h): each step's protocol
 * key picks its plugin, and the step becomes a target of that plugin; its
 * expect and capture become the step's checks (borrowed from the
 * scenario, which must outlive the plan). Also the listing of a compiled
 * scenario (`--list`).
 */
#include "scenario/compile.h"

#include <libgen.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include <rpcload/plugin.h>

#include "base/log.h"
#include "engine/template.h"
#include "scenario/yaml.h"

/* ---- compiling a scenario ------------------------------------------------ */

typedef struct compiler {
  rl__plugin_set *plugins;
  const rl__scn *scn;
  const rl__scn_compile_options *o;
  rl__plan *plan;
  char *dir; /* the scenario file's directory, for relative paths */
  char *err;
  size_t errlen;
  uint8_t *option_used; /* per base option: some step took it */
  /* What errors of the step being compiled name in place of the
   * scenario's file: a C class's request ("Shop.requests[1]"), or NULL. */
  const char *label;
  /* A run-time target (rl__scn_compile_request): the host its request
   * goes to, in place of the request's own; no endpoint of the plan. */
  const char *runtime_host;
} compiler;

/* The compile's error at `pos` of the step being compiled (in c->label,
 * or in the scenario's file). Returns RL_ERR_INVAL. */
static int cerr(compiler *c, rl__scn_pos pos, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static int cerr(compiler *c, rl__scn_pos pos, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  rl__scn_vformat(c->label ? c->label : c->scn->file, pos, c->err, c->errlen,
                  fmt, ap);
  va_end(ap);
  return RL_ERR_INVAL;
}

static int has_scheme(const char *s) { return strstr(s, "://") != NULL; }

/* A path from the scenario: as written when absolute or when it exists
 * from here, else relative to the scenario file. Caller frees. */
static char *resolve_path(const compiler *c, const char *path) {
  if (path[0] == '/' || access(path, F_OK) == 0 || !c->dir)
    return strdup(path);
  size_t n = strlen(c->dir) + strlen(path) + 2;
  char *p = malloc(n);
  if (p)
    snprintf(p, n, "%s/%s", c->dir, path);
  return p;
}

/* Every capture's variable, so that templates may name them. */
static int collect_vars_of(compiler *c, const rl__scn_step *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    for (size_t k = 0; k < s[i].n_captures; k++) {
      size_t ignored;
      if (rl__plan_var(c->plan, s[i].captures[k].var, &ignored))
        return RL_ERR_NOMEM;
    }
    if (collect_vars_of(c, s[i].steps, s[i].n_steps))
      return RL_ERR_NOMEM;
  }
  return 0;
}

static int collect_vars(compiler *c) {
  /* A C class's own: set by its code (rl_user_set_var). */
  for (size_t i = 0; i < c->scn->n_c_vars; i++) {
    size_t ignored;
    if (rl__plan_var(c->plan, c->scn->c_vars[i], &ignored))
      return RL_ERR_NOMEM;
  }
  for (size_t u = 0; u < c->scn->n_users; u++) {
    const rl__scn_user *k = &c->scn->users[u];
    if (collect_vars_of(c, k->on_start, k->n_on_start) ||
        collect_vars_of(c, k->on_stop, k->n_on_stop) ||
        collect_vars_of(c, k->requests, k->n_requests))
      return RL_ERR_NOMEM;
    for (size_t t = 0; t < k->n_tasks; t++)
      if (collect_vars_of(c, k->tasks[t].steps, k->tasks[t].n_steps))
        return RL_ERR_NOMEM;
  }
  return 0;
}

/* Every step key the loaded plugins serve, for an unknown protocol's
 * message. */
static void list_keys(rl__plugin_set *set, char *out, size_t len) {
  size_t n = 0;
  out[0] = 0;
  for (size_t i = 0; i < set->n && n < len; i++) {
    const rl__plugin *p = set->items[i];
    const char *const *keys = p->desc.step_keys;
    for (size_t j = 0; n < len; j++) {
      const char *key = keys              ? keys[j]
                        : p->desc.schemes ? p->desc.schemes[j].name
                                          : NULL;
      if (!key)
        break;
      /* Once each (http1 and http2 both serve http:): the first's. */
      if (rl__plugin_set_find_key(set, key) == p)
        n += (size_t)snprintf(out + n, len - n, "%s%s", n ? ", " : "", key);
    }
  }
}

/* The plugin a step's protocol key picks: the command line's --plugin when
 * it serves the key (--http2 for http steps), else the first loaded plugin
 * that does; NULL when none does. */
static rl__plugin *step_plugin(compiler *c, const char *key, int *named) {
  const char *want = c->o->base->plugin;
  rl__plugin *p = NULL;
  char ignored[256];
  *named = 0;
  if (want &&
      rl__plugin_set_load(c->plugins, want, &p, ignored, sizeof ignored) == 0 &&
      rl__plugin_serves_key(p, key)) {
    *named = 1;
    return p;
  }
  return rl__plugin_set_find_key(c->plugins, key);
}

/* The scheme a host written without one takes: the key, when the plugin
 * serves a scheme of that name (https: TLS), else its first scheme. */
static const char *default_scheme(const rl__plugin *p, const char *key) {
  if (rl__plugin_scheme(p, key))
    return key;
  return p->desc.schemes && p->desc.schemes[0].name ? p->desc.schemes[0].name
                                                    : key;
}

/* Strings a step's target options point at, owned until it is built. */
typedef struct step_strings {
  char *url, *method;
  char **owned; /* option values made here (paths, JSON) */
  size_t n_owned;
  rl_kv *headers, *options;
  size_t n_options, cap_options;
} step_strings;

static void free_strings(step_strings *ss) {
  free(ss->url);
  free(ss->method);
  for (size_t i = 0; i < ss->n_owned; i++)
    free(ss->owned[i]);
  free(ss->owned);
  free(ss->headers);
  free(ss->options);
}

/* Appends the plugin option (key, value); a non-NULL `own` is a string
 * made here that the option points at (kept until the step is built). */
static int add_option(step_strings *ss, const char *key, const char *value,
                      char *own) {
  if (own) {
    char **o = realloc(ss->owned, (ss->n_owned + 1) * sizeof *o);
    if (!o) {
      free(own);
      return RL_ERR_NOMEM;
    }
    ss->owned = o;
    ss->owned[ss->n_owned++] = own;
  }
  if (ss->n_options == ss->cap_options) {
    size_t cap = ss->cap_options ? ss->cap_options * 2 : 8;
    rl_kv *kv = realloc(ss->options, cap * sizeof *kv);
    if (!kv)
      return RL_ERR_NOMEM;
    ss->options = kv;
    ss->cap_options = cap;
  }
  ss->options[ss->n_options++] = (rl_kv){key, value};
  return 0;
}

/* A mapping's pairs as a JSON object of strings. Caller frees. */
static char *map_json(const rl__scn_own *own) {
  json_t *o = json_object();
  for (size_t i = 0; o && i < own->n_items; i++)
    json_object_set_new(o, own->items[i].key, json_string(own->items[i].value));
  char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  return text;
}

/* The keys a protocol's steps take beyond every step's, for messages. */
static void list_options(const rl__plugin *p, char *out, size_t len) {
  size_t n = 0;
  out[0] = 0;
  for (const rl_option_decl *d = p->desc.step_options; d && d->key && n < len;
       d++)
    n += (size_t)snprintf(out + n, len - n, "%s%s", n ? ", " : "", d->key);
  if (!n)
    snprintf(out, len, "none of their own");
}

static const char *const shape_words[] = {
    [RL_OPTION_TEXT] = "a value",
    [RL_OPTION_FILE] = "a file name",
    [RL_OPTION_FILES] = "a file name or a list of them",
    [RL_OPTION_MAP] = "a mapping (name: value)"};

/* One of the protocol's own keys, as the plugin declares it, into ss's
 * options (NULL ss: only checked). */
static int own_option(compiler *c, const rl__scn_step *s, const rl__plugin *p,
                      const rl__scn_own *own, step_strings *ss) {
  const rl_option_decl *d = rl__plugin_step_option(p, own->key);
  if (!d) {
    const char *keys[64];
    size_t n = 0;
    for (size_t i = 0; rl__scn_step_keys[i] && n < 40; i++)
      keys[n++] = rl__scn_step_keys[i];
    for (const rl_option_decl *o = p->desc.step_options; o && o->key && n < 63;
         o++)
      keys[n++] = o->key;
    keys[n] = NULL;
    const char *near = rl__scn_closest(keys, own->key);
    char opts[256];
    list_options(p, opts, sizeof opts);
    char hint[96] = "";
    if (near)
      snprintf(hint, sizeof hint, " (did you mean '%s'?)", near);
    return cerr(c, own->pos,
                "'%s' is not a key of %s steps%s; their own keys: %s", own->key,
                s->protocol, hint, opts);
  }
  uint32_t kind = d->kind <= RL_OPTION_MAP ? d->kind : RL_OPTION_TEXT;
  int fits = kind == RL_OPTION_MAP     ? own->shape == RL__SCN_OWN_MAP
             : kind == RL_OPTION_FILES ? own->shape != RL__SCN_OWN_MAP
                                       : own->shape == RL__SCN_OWN_SCALAR;
  if (!fits)
    return cerr(c, own->value_pos, "'%s' takes %s%s%s", own->key,
                shape_words[kind], d->summary ? ": " : "",
                d->summary ? d->summary : "");
  if (!ss)
    return 0;
  if (kind == RL_OPTION_MAP) {
    char *json = map_json(own);
    return json ? add_option(ss, d->key, json, json) : RL_ERR_NOMEM;
  }
  /* Each path is kept in ss->owned until the step is built (the
   * analyzer does not follow it into that array). */
  // NOLINTNEXTLINE(clang-analyzer-unix.Malloc)
  for (size_t i = 0; i < own->n_items; i++) {
    if (kind == RL_OPTION_TEXT) {
      if (add_option(ss, d->key, own->items[i].value, NULL))
        return RL_ERR_NOMEM;
      continue;
    }
    char *path = resolve_path(c, own->items[i].value);
    if (!path || add_option(ss, d->key, path, path))
      return RL_ERR_NOMEM;
  }
  return 0;
}

/* The request line's parts (a request-style plugin's step value):
 * "[METHOD ]path-or-URL". Sets ss->method (NULL: none) and *path. */
static int request_parts(const char *spec, step_strings *ss,
                         const char **path) {
  const char *sp = strchr(spec, ' ');
  if (!sp) {
    *path = spec;
    return 0;
  }
  if (!(ss->method = strndup(spec, (size_t)(sp - spec))))
    return RL_ERR_NOMEM;
  *path = sp + 1;
  while (**path == ' ')
    (*path)++;
  return 0;
}

/* The target URL: a whole URL from the step value, else the step's host
 * (with the protocol's scheme when it has none) and the path. */
static int step_url(compiler *c, const rl__scn_user *k, const rl__scn_step *s,
                    const rl__plugin *p, const char *path, step_strings *ss) {
  const rl__scn_compile_options *o = c->o;
  if (path && has_scheme(path))
    return (ss->url = strdup(path)) ? 0 : RL_ERR_NOMEM;
  const char *host = c->runtime_host ? c->runtime_host
                     : s->host       ? s->host
                     : k->host       ? k->host
                     : o->host       ? o->host
                                     : c->scn->host;
  if (!host || !*host) {
    if (k->c_class)
      cerr(c, s->pos,
           "request has no host: give host: in the request or the class, "
           "or the environment a target");
    else
      cerr(c, s->pos,
           "step has no host: give host: in the step, its user class or "
           "the file, or a target on the command line");
    return RL_ERR_INVAL;
  }
  const char *scheme = default_scheme(p, s->protocol);
  const char *sep = strstr(host, "://");
  if (sep) {
    /* The protocol key picks the plugin: a host written for another
     * protocol (a grpc: step under `host: http://h:p`) is that address
     * in the step's protocol, with or without TLS as its scheme says. */
    char given[32] = "";
    if ((size_t)(sep - host) < sizeof given)
      memcpy(given, host, (size_t)(sep - host));
    const rl__plugin *owner = rl__plugin_set_find_scheme(c->plugins, given);
    const rl_scheme *gs = owner ? rl__plugin_scheme(owner, given) : NULL;
    const rl_scheme *mine = NULL;
    for (const rl_scheme *x = p->desc.schemes; gs && !mine && x && x->name; x++)
      if (x->tls == gs->tls)
        mine = x;
    if (rl__plugin_scheme(p, given) || !mine) {
      scheme = "";
    } else {
      scheme = mine->name;
      host = sep + 3;
    }
  }
  size_t n = strlen(host) + strlen(scheme) + (path ? strlen(path) : 0) + 8;
  if (!(ss->url = malloc(n)))
    return RL_ERR_NOMEM;
  snprintf(ss->url, n, "%s%s%s%s", scheme, *scheme ? "://" : "", host,
           path ? path : "");
  return 0;
}

/* The named status an expectation gives (grpc_status: NOT_FOUND), by the
 * step's plugin's names. */
static int resolve_status(compiler *c, const rl__scn_step *s,
                          const rl__plugin *p, rl__plan_step *out) {
  const char *want = s->expect.status_name;
  const rl_plugin *d = &p->desc;
  out->checks.status_names = d->status_names;
  out->checks.n_status_names = d->status_names ? d->n_status_names : 0;
  if (!want)
    return 0;
  int code = rl__status_code(d->status_names, out->checks.n_status_names, want);
  if (code < 0) {
    char names[512] = "";
    size_t n = 0;
    for (uint32_t i = 0; i < out->checks.n_status_names && n < sizeof names;
         i++)
      n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", i ? ", " : "",
                            d->status_names[i]);
    if (!out->checks.n_status_names)
      return cerr(c, s->status_name_pos,
                  "%s steps have no named statuses: expect their "
                  "status with 'status:'",
                  s->protocol);
    return cerr(c, s->status_name_pos, "'%s' is not a %s status (%s, or 0..%u)",
                want, s->protocol, names, out->checks.n_status_names - 1);
  }
  out->checks.has_named_status = 1;
  out->checks.named_status = code;
  return 0;
}

/* A templated expected value compiled into *out (NULL when `text` has
 * no {{...}}). The parser checked it; an error here is out of memory. */
static int compile_expected_text(compiler *c, const rl__scn_step *s,
                                 const char *text, rl_template **out) {
  *out = NULL;
  if (!text || !strstr(text, "{{"))
    return 0;
  char why[256];
  int rc = rl__template_new(text, strlen(text), out, why, sizeof why);
  if (rc == RL_ERR_NOMEM) {
    snprintf(c->err, c->errlen, "out of memory");
    return rc;
  }
  if (rc)
    return cerr(c, s->expect_pos, "%s", why);
  return 0;
}

/* Expected values that are templates (body_contains, json string
 * operands), compiled with the plan's variables. */
static int compile_expected(compiler *c, const rl__scn_step *s,
                            rl__plan_step *out) {
  const rl__expect *x = &s->expect;
  int rc = compile_expected_text(c, s, x->body_contains, &out->contains);
  if (rc)
    return rc;
  out->checks.contains = out->contains;
  int any = 0;
  for (size_t i = 0; i < x->n_json; i++)
    any |= json_is_string(x->json[i].value) &&
           strstr(json_string_value(x->json[i].value), "{{") != NULL;
  if (!any)
    return 0;
  out->json_operands = calloc(x->n_json, sizeof(rl_template *));
  if (!out->json_operands) {
    snprintf(c->err, c->errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  out->n_json_operands = x->n_json;
  out->checks.json_operands = out->json_operands;
  for (size_t i = 0; i < x->n_json; i++) {
    const rl__json_expect *e = &x->json[i];
    if ((e->op == RL__JSON_EQUALS || e->op == RL__JSON_CONTAINS) &&
        json_is_string(e->value) &&
        (rc = compile_expected_text(c, s, json_string_value(e->value),
                                    &out->json_operands[i])))
      return rc;
  }
  return 0;
}

/* A plugin's complaint names the command line's flags (it cannot know a
 * step came from a file): in a scenario's error they become the keys a
 * step says them with ("-d does not fit" -> "data: does not fit"). Only
 * whole words: a flag between blanks, quotes or brackets. */
static void yaml_words(const char *in, char *out, size_t len) {
  static const char *const words[][2] = {
      {"--protoset", "protoset:"},
      {"--proto", "proto:"},
      {"--compress", "options: compress"},
      {"--authority", "options: authority"},
      {"--call", "the step's call"},
      {"--name", "name:"},
      {"-d", "data:"},
      {"-m", "metadata:"},
      {"-I", "import_path:"},
      {"-H", "headers:"},
      {"-X", "the method"},
      {"-O", "options:"},
  };
  size_t o = 0;
  for (size_t i = 0; in[i] && o + 1 < len;) {
    int boundary = i == 0 || strchr(" '(\"[", in[i - 1]) != NULL;
    size_t w = 0;
    for (; boundary && w < sizeof words / sizeof words[0]; w++) {
      size_t n = strlen(words[w][0]);
      if (strncmp(in + i, words[w][0], n) == 0 &&
          (!in[i + n] || strchr(" ,')]:", in[i + n])))
        break;
    }
    if (boundary && w < sizeof words / sizeof words[0]) {
      int k = snprintf(out + o, len - o, "%s", words[w][1]);
      if (k < 0 || (size_t)k >= len - o)
        break;
      o += (size_t)k;
      i += strlen(words[w][0]);
      continue;
    }
    out[o++] = in[i++];
  }
  out[o] = '\0';
}

/* 1 when the step sets header `name` itself (any case). */
static int step_has_header(const rl__scn_step *s, const char *name) {
  for (size_t i = 0; i < s->n_headers; i++)
    if (strcasecmp(s->headers[i].key, name) == 0)
      return 1;
  return 0;
}

/* 1 when the step gives `key` itself: as its own key (proto:,
 * metadata:, allow_redirects:) or in its options:. */
static int step_gives(const rl__scn_step *s, const char *key) {
  for (size_t i = 0; i < s->n_own; i++)
    if (strcmp(s->own[i].key, key) == 0)
      return 1;
  for (size_t i = 0; i < s->n_options; i++)
    if (strcmp(s->options[i].key, key) == 0)
      return 1;
  return 0;
}

/* The command line's plugin options (-m, --proto, -I, --no-cookies...)
 * this step's plugin declares as keys of its own: before the step's
 * options: and own keys, so that what the step says wins, and for a key
 * taking one value (a file, a text) only when the step does not give it.
 * 0 or RL_ERR_NOMEM. */
static int cli_options(compiler *c, const rl__scn_step *s, const rl__plugin *p,
                       step_strings *ss) {
  for (size_t i = 0; i < c->o->base->n_options; i++) {
    const rl_kv *kv = &c->o->base->options[i];
    const rl_option_decl *d = rl__plugin_step_option(p, kv->key);
    if (!d)
      continue;
    c->option_used[i] = 1;
    int many = d->kind == RL_OPTION_MAP || d->kind == RL_OPTION_FILES;
    if ((many || !step_gives(s, kv->key)) &&
        add_option(ss, kv->key, kv->value, NULL))
      return RL_ERR_NOMEM;
  }
  return 0;
}

/* Every command-line plugin option went to some step; else the first
 * that did not, refused (it would have been ignored). */
static int check_options_used(compiler *c) {
  const rl__target_options *b = c->o->base;
  for (size_t i = 0; i < b->n_options; i++) {
    if (c->option_used[i])
      continue;
    char flag[96];
    if (c->o->option_flags && c->o->option_flags[i])
      snprintf(flag, sizeof flag, "%s", c->o->option_flags[i]);
    else
      snprintf(flag, sizeof flag, "-O %s", b->options[i].key);
    return rl__scn_errorf(c->scn, (rl__scn_pos){0, 0}, c->err, c->errlen,
                          "%s applies to no step: no step's protocol takes "
                          "'%s' as a key of its own (give it in the steps it "
                          "is for: options: {%s: ...})",
                          flag, b->options[i].key, b->options[i].key);
  }
  return 0;
}

static int compile_step(compiler *c, const rl__scn_user *k,
                        const rl__scn_step *s, rl__plan_step *out) {
  const rl__scn_compile_options *o = c->o;
  rl__target_options to = *o->base;
  step_strings ss = {0};
  int rc = RL_ERR_NOMEM;
  int named = 0;
  rl__plugin *p = step_plugin(c, s->protocol, &named);
  if (!p) {
    char known[512];
    list_keys(c->plugins, known, sizeof known);
    return cerr(c, s->protocol_pos, "unknown protocol '%s' (known: %s)",
                s->protocol, known);
  }
  int request = p->desc.step_value == RL_STEP_VALUE_REQUEST;
  const char *spec = s->spec ? s->spec : "";
  const char *path = NULL;
  if (request && !*spec)
    return cerr(c, s->spec_pos,
                "'%s' needs a method and path, e.g. 'GET /path'", s->protocol);
  if (request && request_parts(spec, &ss, &path))
    goto oom;
  if (o->list_only) {
    /* --list: the protocol and its own keys are checked; no target. */
    rc = cli_options(c, s, p, &ss);
    free_strings(&ss);
    if (rc) {
      snprintf(c->err, c->errlen, "out of memory");
      return rc;
    }
    for (size_t i = 0; i < s->n_own; i++)
      if ((rc = own_option(c, s, p, &s->own[i], NULL)))
        return rc;
    return resolve_status(c, s, p, out);
  }
  if ((rc = step_url(c, k, s, p, path, &ss))) {
    free_strings(&ss);
    if (rc == RL_ERR_NOMEM)
      snprintf(c->err, c->errlen, "out of memory");
    return rc;
  }
  rc = RL_ERR_NOMEM;
  to.url = ss.url;
  to.method = ss.method;
  to.default_scheme = NULL;
  to.name = s->name;
  /* By the URL's scheme (over TLS, ALPN may pick among the plugins that
   * serve it) unless the command line named the plugin or the key's
   * plugin does not serve the URL's scheme. */
  {
    char scheme[32] = "";
    const char *sep = strstr(ss.url, "://");
    if (sep && (size_t)(sep - ss.url) < sizeof scheme)
      memcpy(scheme, ss.url, (size_t)(sep - ss.url));
    int by_scheme = rl__plugin_set_find_scheme(c->plugins, scheme) == p;
    to.plugin = named ? o->base->plugin : by_scheme ? NULL : p->path;
  }
  /* Headers: the command line's (-H) first, but for a name the step sets
   * itself, then the step's as written. */
  size_t nh = 0, room = o->base->n_headers + s->n_headers;
  if (room && !(ss.headers = calloc(room, sizeof *ss.headers)))
    goto oom;
  for (size_t i = 0; ss.headers && i < o->base->n_headers; i++)
    if (!step_has_header(s, o->base->headers[i].key))
      ss.headers[nh++] = o->base->headers[i];
  for (size_t i = 0; ss.headers && i < s->n_headers; i++)
    ss.headers[nh++] = (rl_kv){s->headers[i].key, s->headers[i].value};
  to.headers = ss.headers;
  to.n_headers = nh;
  to.body = s->body ? (const uint8_t *)s->body : NULL;
  to.body_len = s->body ? strlen(s->body) : 0;
  to.body_type = s->body_kind == RL__SCN_BODY_JSON ? "application/json" : NULL;
  /* Plugin options: the command line's for the keys the plugin takes
   * (first: what the step says wins), the step's options:, the call, its
   * own keys. */
  if (cli_options(c, s, p, &ss))
    goto oom;
  for (size_t i = 0; i < s->n_options; i++)
    if (add_option(&ss, s->options[i].key, s->options[i].value, NULL))
      goto oom;
  const char *call = s->call ? s->call : (!request && *spec ? spec : NULL);
  if (call && add_option(&ss, "call", call, NULL))
    goto oom;
  for (size_t i = 0; i < s->n_own; i++)
    if ((rc = own_option(c, s, p, &s->own[i], &ss))) {
      free_strings(&ss);
      if (rc == RL_ERR_NOMEM)
        snprintf(c->err, c->errlen, "out of memory");
      return rc;
    }
  to.options = ss.options;
  to.n_options = ss.n_options;
  if (s->timeout_ns)
    to.request_timeout_ns = s->timeout_ns;
  char terr[768], said[1024];
  rc = rl__target_new(c->plugins, &to, &out->target, terr, sizeof terr);
  if (rc) {
    free_strings(&ss);
    yaml_words(terr, said, sizeof said);
    /* A complaint about the payload points at it. */
    rl__scn_pos at =
        s->body_pos.line && strstr(said, ": data: ") ? s->body_pos : s->pos;
    return cerr(c, at, "%s", said);
  }
  free_strings(&ss);
  out->origin = s;
  if (c->runtime_host) {
    /* The run-time table gives its connection (engine/rtarget.c). */
  } else if (rl__plan_endpoint(c->plan, out->target, &out->endpoint)) {
    snprintf(c->err, c->errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  if (!c->runtime_host && c->plan->n_endpoints > RL__PLAN_MAX_ENDPOINTS)
    return cerr(c, s->pos,
                "more than %d endpoints (protocol, host, port and "
                "TLS), the limit of scenario files: each user holds "
                "a connection to every one",
                RL__PLAN_MAX_ENDPOINTS);
  out->has_checks = s->expect_pos.line != 0 || s->n_captures != 0;
  out->checks.expect = s->expect_pos.line ? &s->expect : NULL;
  out->checks.captures = s->captures;
  out->checks.n_captures = s->n_captures;
  if ((rc = resolve_status(c, s, p, out)) || (rc = compile_expected(c, s, out)))
    return rc;
  if (s->n_captures) {
    out->capture_vars = calloc(s->n_captures, sizeof *out->capture_vars);
    if (!out->capture_vars)
      return RL_ERR_NOMEM;
    out->checks.capture_vars = out->capture_vars;
    /* At run time too: collect_vars gave the plan every capture's
     * variable before it ran, so this only finds it. */
    for (size_t i = 0; i < s->n_captures; i++)
      if (rl__plan_var(c->plan, s->captures[i].var, &out->capture_vars[i]))
        return RL_ERR_NOMEM;
  }
  return 0;
oom:
  free_strings(&ss);
  snprintf(c->err, c->errlen, "out of memory");
  return rc;
}

/* A phase's steps, flattened as they are compiled (a repeat becomes its
 * REPEAT step, its steps and its END step). */
typedef struct step_list {
  rl__plan_step *v;
  size_t n, cap;
} step_list;

/* A new zeroed step at the end of `l`, by index (the array moves). */
static int push_step(compiler *c, step_list *l, size_t *at) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 4;
    rl__plan_step *v = realloc(l->v, cap * sizeof *v);
    if (!v) {
      snprintf(c->err, c->errlen, "out of memory");
      return RL_ERR_NOMEM;
    }
    l->v = v;
    l->cap = cap;
  }
  memset(&l->v[l->n], 0, sizeof *l->v);
  *at = l->n++;
  return 0;
}

/* Appends the `n` steps `s` to `l`; a failed request takes `def` unless
 * the step says otherwise (on_failure). */
static int flatten(compiler *c, const rl__scn_user *k, const rl__scn_step *s,
                   size_t n, uint8_t def, step_list *l, int *checks) {
  for (size_t i = 0; i < n; i++) {
    size_t at;
    int rc = push_step(c, l, &at);
    if (rc)
      return rc;
    rl__plan_step *p = &l->v[at];
    p->origin = &s[i];
    p->stop_user = (uint8_t)s[i].stop_user;
    p->on_failure = s[i].on_failure >= 0 ? (uint8_t)s[i].on_failure : def;
    switch (s[i].kind) {
    case RL__SCN_STEP_SLEEP:
      p->kind = RL__STEP_SLEEP;
      p->sleep_ns = s[i].sleep_ns;
      break;
    case RL__SCN_STEP_REPEAT: {
      p->kind = RL__STEP_REPEAT;
      p->count = s[i].repeat;
      if ((rc = flatten(c, k, s[i].steps, s[i].n_steps, def, l, checks)))
        return rc;
      size_t end;
      if ((rc = push_step(c, l, &end)))
        return rc;
      l->v[end].kind = RL__STEP_END;
      l->v[end].origin = &s[i];
      l->v[end].jump = (uint32_t)at;
      l->v[at].jump = (uint32_t)end;
      break;
    }
    default:
      p->kind = RL__STEP_REQUEST;
      if ((rc = compile_step(c, k, &s[i], p)))
        return rc;
      *checks |= p->has_checks;
    }
  }
  return 0;
}

/* A phase's steps into *out and *count (set whatever happens, so that the
 * plan frees what was built). */
static int compile_steps(compiler *c, const rl__scn_user *k,
                         const rl__scn_step *s, size_t n, uint8_t def,
                         rl__plan_step **out, size_t *count, int *checks) {
  step_list l = {0};
  int rc = flatten(c, k, s, n, def, &l, checks);
  *out = l.v;
  *count = l.n;
  return rc;
}

static int has_tag(const rl__scn_task *t, const char *const *tags, size_t n) {
  for (size_t i = 0; i < t->n_tags; i++)
    for (size_t j = 0; j < n; j++)
      if (strcmp(t->tags[i], tags[j]) == 0)
        return 1;
  return 0;
}

static int task_selected(const rl__scn_compile_options *o,
                         const rl__scn_task *t) {
  if (o->n_tags && !has_tag(t, o->tags, o->n_tags))
    return 0;
  return !has_tag(t, o->exclude_tags, o->n_exclude_tags);
}

/* A file with fewer rows than users, each user its own row and no cycle:
 * say so once, before the users past the last row stop at their start. */
static void warn_rows(const compiler *c, const rl__scn_user *k,
                      const rl__feeder *f) {
  if (!f || f->cycle || f->order != RL__FEEDER_PER_USER || c->o->list_only ||
      c->o->users <= f->n_rows)
    return;
  rl__log(RL__LOG_WARN,
          "%s:%d:%d: %s has %zu rows for %u users (order: per_user, cycle: "
          "false): the users past the first %zu stop at their start",
          c->scn->file, k->pos.line, k->pos.col, f->name, f->n_rows,
          c->o->users, f->n_rows);
}

/* Where a class is, for warnings: "file:line:col: user class X", or a C
 * class's "user class X (written in C)". */
static void class_place(const compiler *c, const rl__scn_user *k, char *buf,
                        size_t len) {
  if (k->c_class)
    snprintf(buf, len, "user class %s (written in %s)", k->name,
             k->written_in ? k->written_in : "C");
  else
    snprintf(buf, len, "%s:%d:%d: user class %s", c->scn->file, k->pos.line,
             k->pos.col, k->name);
}

/* Whether a C class of p has a request sent to run-time hosts only (a
 * Lua class calling gRPC servers by host= alone). */
static int runtime_only(const rl__plan *p) {
  for (size_t c = 0; c < p->n_classes; c++)
    for (size_t i = 0; p->classes[c].c && i < p->classes[c].c->n_requests; i++)
      if (p->classes[c].c->requests[i].runtime_only)
        return 1;
  return 0;
}

/* The host a runtime_host request is compiled with at load: numeric (no
 * resolver), the discard port; never connected to. */
#define RL__SCN_NO_HOST "127.0.0.1:9"

/* A C class's requests into its plan class (pc->c, made here), each
 * compiled as a task's step, its errors named "CLASS.requests[i]". */
static int compile_requests(compiler *c, const rl__scn_user *k,
                            rl__plan_class *pc) {
  if (!(pc->c = calloc(1, sizeof *pc->c)) ||
      !(pc->c->requests =
            calloc(k->n_requests ? k->n_requests : 1, sizeof(rl__plan_step))))
    return RL_ERR_NOMEM;
  /* Its callbacks see every response. */
  pc->checks = 1;
  char label[256];
  for (size_t i = 0; i < k->n_requests; i++) {
    rl__plan_step *ps = &pc->c->requests[i];
    pc->c->n_requests = i + 1;
    ps->kind = RL__STEP_REQUEST;
    ps->origin = &k->requests[i];
    rl__scn_request_label(k->name, i, label, sizeof label);
    c->label = label;
    /* runtime_host: compiled as a run-time target is (no endpoint: no
     * user connects for it), to a host never dialled, for what the
     * load-time target gives: the request checked (a .proto, the
     * plugin's keys), its shape, and its stats row's type and name, which
     * a send whose target fails to build counts under (cuser.c). */
    c->runtime_host = k->requests[i].runtime_host ? RL__SCN_NO_HOST : NULL;
    int rc = compile_step(c, k, &k->requests[i], ps);
    c->label = NULL;
    c->runtime_host = NULL;
    ps->runtime_only = k->requests[i].runtime_host != 0;
    if (rc)
      return rc;
  }
  return 0;
}

/* One user class of c->scn into the plan (unless --tags leaves it no
 * task). */
static int compile_class(compiler *c, const rl__scn_user *k) {
  const rl__scn_compile_options *o = c->o;
  const rl__scn *scn = c->scn;
  rl__plan *p = c->plan;
  int rc;
  size_t kept = 0;
  for (size_t t = 0; t < k->n_tasks; t++)
    kept += (size_t)task_selected(o, &k->tasks[t]);
  if (!kept) {
    char where[512];
    class_place(c, k, where, sizeof where);
    rl__log(RL__LOG_WARN,
            "%s has no task left after --tags / --exclude-tags: not spawned",
            where);
    return 0;
  }
  rl__plan_class *pc = &p->classes[p->n_classes++];
  pc->origin = k;
  pc->name = k->name;
  pc->weight = k->weight;
  pc->has_fixed = k->has_fixed_count;
  pc->fixed = k->has_fixed_count ? (uint64_t)k->fixed_count : 0;
  pc->wait = o->wait_given || !k->has_wait ? *o->default_wait : k->wait;
  if (!o->wait_given && !k->has_wait && scn->settings.has_wait)
    pc->wait = scn->settings.wait;
  pc->sequential = k->sequential;
  pc->feeder = k->data ? k->data : scn->data;
  warn_rows(c, k, pc->feeder);
  /* {{data.x}} in this class's steps: its file's columns. */
  rl__template_set_data_columns(
      pc->feeder ? (const char *const *)pc->feeder->columns : NULL,
      pc->feeder ? pc->feeder->n_columns : 0);
  if (k->c_class && (rc = compile_requests(c, k, pc)))
    return rc;
  /* A failure in on_start ends the user (Locust: an exception there
   * does); elsewhere the next step runs, unless the step says. */
  if ((rc = compile_steps(c, k, k->on_start, k->n_on_start,
                          RL__ON_FAILURE_END_USER, &pc->on_start,
                          &pc->n_on_start, &pc->checks)) ||
      (rc = compile_steps(c, k, k->on_stop, k->n_on_stop,
                          RL__ON_FAILURE_CONTINUE, &pc->on_stop, &pc->n_on_stop,
                          &pc->checks)))
    return rc;
  p->has_on_stop |= k->n_on_stop != 0;
  pc->tasks = calloc(kept, sizeof *pc->tasks);
  pc->cum_weight = calloc(kept, sizeof *pc->cum_weight);
  if (!pc->tasks || !pc->cum_weight)
    return RL_ERR_NOMEM;
  for (size_t t = 0; t < k->n_tasks; t++) {
    const rl__scn_task *st = &k->tasks[t];
    if (!task_selected(o, st))
      continue;
    rl__plan_task *pt = &pc->tasks[pc->n_tasks++];
    pt->origin = st;
    pt->index = (uint32_t)t;
    pt->name = st->name;
    pt->weight = st->weight;
    if ((rc = compile_steps(c, k, st->steps, st->n_steps,
                            RL__ON_FAILURE_CONTINUE, &pt->steps, &pt->n_steps,
                            &pc->checks)))
      return rc;
    pc->total_weight += pt->weight;
    pc->cum_weight[pc->n_tasks - 1] = pc->total_weight;
  }
  return 0;
}

/* Class names are unique across the scenarios compiled together (each
 * checked its own). */
static int check_names_across(const rl__scn *const *scns, size_t n, char *err,
                              size_t errlen) {
  for (size_t a = 0; a < n; a++)
    for (size_t b = a + 1; b < n; b++)
      for (size_t i = 0; i < scns[b]->n_users; i++)
        for (size_t j = 0; j < scns[a]->n_users; j++)
          if (strcmp(scns[b]->users[i].name, scns[a]->users[j].name) == 0)
            return rl__scn_errorf(
                scns[a], scns[a]->users[j].name_pos, err, errlen,
                "user class name '%s' is also a class of %s: names must be "
                "unique",
                scns[a]->users[j].name, scns[b]->file);
  return 0;
}

/* The directory of c->scn's file, for its relative paths. */
static int set_dir(compiler *c) {
  free(c->dir);
  c->dir = NULL;
  char *copy = strdup(c->scn->file);
  if (!copy)
    return RL_ERR_NOMEM;
  c->dir = strdup(dirname(copy));
  free(copy);
  return c->dir ? 0 : RL_ERR_NOMEM;
}

int rl__scn_compile_many(rl__plugin_set *plugins, const rl__scn *const *scns,
                         size_t n, const rl__scn_compile_options *o,
                         rl__plan **out, char *err, size_t errlen) {
  compiler c = {.plugins = plugins, .o = o, .err = err, .errlen = errlen};
  rl__plan *p = calloc(1, sizeof *p);
  int rc = RL_ERR_NOMEM;
  size_t users = 0;
  *out = NULL;
  if (!p || !n)
    goto oom;
  c.plan = p;
  p->owns_targets = 1;
  for (size_t i = 0; i < n; i++)
    users += scns[i]->n_users;
  if (users > 65535) {
    rc = rl__scn_errorf(scns[0], (rl__scn_pos){0, 0}, err, errlen,
                        "too many user classes");
    goto fail;
  }
  if ((rc = check_names_across(scns, n, err, errlen)))
    goto fail;
  for (size_t i = 0; i < n; i++) {
    c.scn = scns[i];
    if (collect_vars(&c))
      goto oom;
  }
  c.option_used = calloc(o->base->n_options + 1, 1);
  if (!c.option_used)
    goto oom;
  p->classes = calloc(users ? users : 1, sizeof *p->classes);
  if (!p->classes)
    goto oom;
  rl__template_set_variables((const char *const *)p->vars, p->n_vars);
  for (size_t i = 0; i < n; i++) {
    c.scn = scns[i];
    if (set_dir(&c))
      goto oom;
    for (size_t u = 0; u < c.scn->n_users; u++)
      if ((rc = compile_class(&c, &c.scn->users[u]))) {
        if (rc == RL_ERR_NOMEM)
          goto oom;
        goto fail;
      }
  }
  rl__template_set_variables(NULL, 0);
  rl__template_set_data_columns(NULL, 0);
  /* Global complaints name the first source (the -f file, if any). */
  c.scn = scns[0];
  if ((rc = check_options_used(&c)))
    goto fail;
  if (p->n_classes && !p->n_endpoints && !o->list_only) {
    rc = rl__scn_errorf(
        scns[0], (rl__scn_pos){0, 0}, err, errlen,
        runtime_only(p)
            ? "every request goes to a host given while the run goes "
              "(host=): give a class a host of its own, or --host, as "
              "well (a user holds a connection to one declared host)"
            : "no step makes a request: give a step a protocol key ({http: "
              "GET /path})");
    goto fail;
  }
  if (!p->n_classes) {
    rc = rl__scn_errorf(scns[0], (rl__scn_pos){0, 0}, err, errlen,
                        "no user class has a task to run (see --tags "
                        "and --exclude-tags)");
    goto fail;
  }
  if (rl__plan_assign_classes(p, o->users))
    goto oom;
  free(c.dir);
  free(c.option_used);
  *out = p;
  return 0;
oom:
  snprintf(err, errlen, "out of memory");
  rc = RL_ERR_NOMEM;
fail:
  rl__template_set_variables(NULL, 0);
  rl__template_set_data_columns(NULL, 0);
  free(c.dir);
  free(c.option_used);
  rl__plan_del(p);
  return rc;
}

int rl__scn_compile(rl__plugin_set *plugins, const rl__scn *scn,
                    const rl__scn_compile_options *o, rl__plan **out, char *err,
                    size_t errlen) {
  return rl__scn_compile_many(plugins, &scn, 1, o, out, err, errlen);
}

int rl__scn_compile_request(rl__plugin_set *plugins, const rl__scn *scn,
                            const rl__scn_compile_options *o,
                            const rl__plan *plan, const rl__plan_class *pc,
                            size_t request, const char *host,
                            rl__plan_step *out, char *err, size_t errlen) {
  const rl__scn_user *k = pc->origin;
  /* The plan is only read: its variables (the captures' are there). */
  compiler c = {.plugins = plugins,
                .scn = scn,
                .o = o,
                .plan = (rl__plan *)plan,
                .err = err,
                .errlen = errlen,
                .runtime_host = host};
  if (!k || request >= k->n_requests) {
    snprintf(err, errlen, "no request %zu", request);
    return RL_ERR_INVAL;
  }
  c.option_used = calloc(o->base->n_options + 1, 1);
  if (!c.option_used || set_dir(&c)) {
    free(c.option_used);
    snprintf(err, errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  rl__template_set_variables((const char *const *)plan->vars, plan->n_vars);
  rl__template_set_data_columns(
      pc->feeder ? (const char *const *)pc->feeder->columns : NULL,
      pc->feeder ? pc->feeder->n_columns : 0);
  char label[256];
  rl__scn_request_label(k->name, request, label, sizeof label);
  c.label = label;
  *out = (rl__plan_step){.kind = RL__STEP_REQUEST};
  int rc = compile_step(&c, k, &k->requests[request], out);
  rl__template_set_variables(NULL, 0);
  rl__template_set_data_columns(NULL, 0);
  size_t ll = strlen(label);
  if (rc && strncmp(err, label, ll) == 0 && err[ll] == ':') {
    /* "Shop.requests[3]:1:1: " names a request the class's language
     * made up (Lua's): the caller names the host instead. */
    const char *why = err + ll + 1;
    for (int colons = 0; *why && colons < 2; why++)
      colons += *why == ':';
    while (*why == ' ')
      why++;
    memmove(err, why, strlen(why) + 1);
  }
  if (rc) {
    rl__plan_step_free(out, 1);
    *out = (rl__plan_step){0};
  }
  free(c.dir);
  free(c.option_used);
  return rc;
}

/* ---- listing --------------------------------------------------------------- */

/* A step in a line: "http GET /x", "sleep 1.5s", "repeat 3 x (http ...)". */
static void print_step(const rl__scn_step *s, FILE *out) {
  switch (s->kind) {
  case RL__SCN_STEP_SLEEP:
    fprintf(out, "sleep %gs", (double)s->sleep_ns / 1e9);
    return;
  case RL__SCN_STEP_REPEAT:
    fprintf(out, "repeat %u x (", (unsigned)s->repeat);
    if (s->n_steps)
      print_step(&s->steps[0], out);
    if (s->n_steps > 1)
      fprintf(out, " +%zu", s->n_steps - 1);
    fputc(')', out);
    return;
  default:
    fprintf(out, "%s %s", s->protocol, s->spec ? s->spec : "");
  }
}

static void print_tags(const rl__scn_task *st, FILE *out) {
  if (st && st->n_tags) {
    fputs(" [tags:", out);
    for (size_t g = 0; g < st->n_tags; g++)
      fprintf(out, " %s", st->tags[g]);
    fputc(']', out);
  }
}

/* A class written in C (or in Lua, ...: written_in): its callbacks and
 * the requests they send (not those a host language generated). */
static void print_c_class(const rl__plan_class *k, FILE *out) {
  const rl__scn_user *u = k->origin;
  const char *fn = u && u->written_in ? "a function" : "a C function";
  if (k->c->on_start)
    fprintf(out, "  on_start: %s\n", fn);
  for (size_t t = 0; t < k->n_tasks; t++) {
    char label[64];
    rl__plan_task_label(k, t, label, sizeof label);
    fprintf(out, "  - %s (weight %g): %s", label, k->tasks[t].weight, fn);
    print_tags(k->tasks[t].origin, out);
    fputc('\n', out);
  }
  if (k->c->on_stop)
    fprintf(out, "  on_stop: %s\n", fn);
  for (size_t i = 0; !(u && u->written_in) && i < k->c->n_requests; i++) {
    const rl__scn_step *s = k->c->requests[i].origin;
    fprintf(out, "  requests[%zu]: ", i);
    if (s)
      print_step(s, out);
    fputc('\n', out);
  }
}

void rl__scn_print_list(const rl__plan *p, FILE *out) {
  for (size_t c = 0; c < p->n_classes; c++) {
    const rl__plan_class *k = &p->classes[c];
    const rl__scn_user *u = k->origin;
    const char *lang = !k->c ? "" : u && u->written_in ? u->written_in : "C";
    const char *in = k->c ? ", written in " : "";
    if (k->has_fixed)
      fprintf(out, "%s (fixed_count %llu%s%s)\n", k->name,
              (unsigned long long)k->fixed, in, lang);
    else
      fprintf(out, "%s (weight %g%s%s)\n", k->name, k->weight, in, lang);
    if (k->c) {
      print_c_class(k, out);
      continue;
    }
    if (k->n_on_start)
      fprintf(out, "  on_start: %zu step(s)\n", k->n_on_start);
    for (size_t t = 0; t < k->n_tasks; t++) {
      const rl__plan_task *pt = &k->tasks[t];
      const rl__scn_task *st = pt->origin;
      char label[64];
      if (pt->name)
        snprintf(label, sizeof label, "%s", pt->name);
      else
        snprintf(label, sizeof label, "task %zu", t + 1);
      fprintf(out, "  - %s (weight %g): ", label, pt->weight);
      if (st && st->n_steps) {
        print_step(&st->steps[0], out);
        if (st->n_steps > 1)
          fprintf(out, " +%zu step(s)", st->n_steps - 1);
      } else {
        fputs("no steps (only waits)", out);
      }
      print_tags(st, out);
      fputc('\n', out);
    }
    if (k->n_on_stop)
      fprintf(out, "  on_stop: %zu step(s)\n", k->n_on_stop);
  }
}

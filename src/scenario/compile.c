/*
 * A scenario compiled into a plan (engine/plan.h): each step's protocol
 * key picks its plugin, and the step becomes a target of that plugin; its
 * expect and capture become the step's checks (borrowed from the
 * scenario, which must outlive the plan). Also the listing of a compiled
 * scenario (`--list`).
 */
#include "scenario/compile.h"

#include <libgen.h>
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
} compiler;

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
  for (size_t i = 0; i < n; i++)
    for (size_t k = 0; k < s[i].n_captures; k++) {
      size_t ignored;
      if (rl__plan_var(c->plan, s[i].captures[k].var, &ignored))
        return RL_ERR_NOMEM;
    }
  return 0;
}

static int collect_vars(compiler *c) {
  for (size_t u = 0; u < c->scn->n_users; u++) {
    const rl__scn_user *k = &c->scn->users[u];
    if (collect_vars_of(c, k->on_start, k->n_on_start) ||
        collect_vars_of(c, k->on_stop, k->n_on_stop))
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

/* One of the protocol's own keys, as the plugin declares it. */
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
    return rl__scn_errorf(c->scn, own->pos, c->err, c->errlen,
                          "'%s' is not a key of %s steps%s; their own keys: %s",
                          own->key, s->protocol, hint, opts);
  }
  uint32_t kind = d->kind <= RL_OPTION_MAP ? d->kind : RL_OPTION_TEXT;
  int fits = kind == RL_OPTION_MAP     ? own->shape == RL__SCN_OWN_MAP
             : kind == RL_OPTION_FILES ? own->shape != RL__SCN_OWN_MAP
                                       : own->shape == RL__SCN_OWN_SCALAR;
  if (!fits)
    return rl__scn_errorf(c->scn, own->value_pos, c->err, c->errlen,
                          "'%s' takes %s%s%s", own->key, shape_words[kind],
                          d->summary ? ": " : "", d->summary ? d->summary : "");
  if (kind == RL_OPTION_MAP) {
    char *json = map_json(own);
    return json ? add_option(ss, d->key, json, json) : RL_ERR_NOMEM;
  }
  /* add_option keeps each path in ss->owned (free_strings frees them) or
   * frees it; clang-tidy 14 loses it in the realloc'd array. */
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
  const char *host = s->host   ? s->host
                     : k->host ? k->host
                     : o->host ? o->host
                               : c->scn->host;
  if (!host || !*host) {
    rl__scn_errorf(c->scn, s->pos, c->err, c->errlen,
                   "step has no host: give host: in the step, its user class "
                   "or the file, or a target on the command line");
    return RL_ERR_INVAL;
  }
  const char *scheme = default_scheme(p, s->protocol);
  size_t n = strlen(host) + strlen(scheme) + (path ? strlen(path) : 0) + 8;
  if (!(ss->url = malloc(n)))
    return RL_ERR_NOMEM;
  snprintf(ss->url, n, "%s%s%s%s", has_scheme(host) ? "" : scheme,
           has_scheme(host) ? "" : "://", host, path ? path : "");
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
      return rl__scn_errorf(c->scn, s->status_name_pos, c->err, c->errlen,
                            "%s steps have no named statuses: expect their "
                            "status with 'status:'",
                            s->protocol);
    return rl__scn_errorf(c->scn, s->status_name_pos, c->err, c->errlen,
                          "'%s' is not a %s status (%s, or 0..%u)", want,
                          s->protocol, names, out->checks.n_status_names - 1);
  }
  out->checks.has_named_status = 1;
  out->checks.named_status = code;
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
    return rl__scn_errorf(c->scn, s->protocol_pos, c->err, c->errlen,
                          "unknown protocol '%s' (known: %s)", s->protocol,
                          known);
  }
  int request = p->desc.step_value == RL_STEP_VALUE_REQUEST;
  const char *spec = s->spec ? s->spec : "";
  const char *path = NULL;
  if (request && !*spec)
    return rl__scn_errorf(c->scn, s->spec_pos, c->err, c->errlen,
                          "'%s' needs a method and path, e.g. 'GET /path'",
                          s->protocol);
  if (request && request_parts(spec, &ss, &path))
    goto oom;
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
  /* Headers, as written. */
  if (s->n_headers && !(ss.headers = calloc(s->n_headers, sizeof *ss.headers)))
    goto oom;
  for (size_t i = 0; i < s->n_headers; i++)
    ss.headers[i] = (rl_kv){s->headers[i].key, s->headers[i].value};
  to.headers = ss.headers;
  to.n_headers = s->n_headers;
  to.body = s->body ? (const uint8_t *)s->body : NULL;
  to.body_len = s->body ? strlen(s->body) : 0;
  to.body_type = s->body_kind == RL__SCN_BODY_JSON ? "application/json" : NULL;
  /* Plugin options: the command line's defaults for the keys the plugin
   * takes (first: the step's say wins), the step's options:, the call,
   * its own keys. */
  for (size_t i = 0; i < o->n_step_defaults; i++)
    if (rl__plugin_step_option(p, o->step_defaults[i].key) &&
        add_option(&ss, o->step_defaults[i].key, o->step_defaults[i].value,
                   NULL))
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
  char terr[768];
  rc = rl__target_new(c->plugins, &to, &out->target, terr, sizeof terr);
  if (rc) {
    free_strings(&ss);
    return rl__scn_errorf(c->scn, s->pos, c->err, c->errlen, "%s", terr);
  }
  free_strings(&ss);
  out->origin = s;
  if (rl__plan_endpoint(c->plan, out->target, &out->endpoint)) {
    snprintf(c->err, c->errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  out->has_checks = s->expect_pos.line != 0 || s->n_captures != 0;
  out->checks.expect = s->expect_pos.line ? &s->expect : NULL;
  out->checks.captures = s->captures;
  out->checks.n_captures = s->n_captures;
  if ((rc = resolve_status(c, s, p, out)))
    return rc;
  if (s->n_captures) {
    out->capture_vars = calloc(s->n_captures, sizeof *out->capture_vars);
    if (!out->capture_vars)
      return RL_ERR_NOMEM;
    out->checks.capture_vars = out->capture_vars;
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

/* Compiles the n steps of s into *out, counting in *done the steps the
 * plan owns (whose targets rl__plan_del frees): on an error, those made so
 * far, the failing one too once its target exists. */
static int compile_steps(compiler *c, const rl__scn_user *k,
                         const rl__scn_step *s, size_t n, rl__plan_step **out,
                         size_t *done, int *checks) {
  *out = NULL;
  *done = 0;
  if (!n)
    return 0;
  rl__plan_step *p = calloc(n, sizeof *p);
  if (!p) {
    snprintf(c->err, c->errlen, "out of memory");
    return RL_ERR_NOMEM;
  }
  *out = p;
  for (size_t i = 0; i < n; i++) {
    int rc = compile_step(c, k, &s[i], &p[i]);
    if (p[i].target || p[i].capture_vars)
      *done = i + 1;
    if (rc)
      return rc;
    *checks |= p[i].has_checks;
  }
  return 0;
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

int rl__scn_compile(rl__plugin_set *plugins, const rl__scn *scn,
                    const rl__scn_compile_options *o, rl__plan **out, char *err,
                    size_t errlen) {
  compiler c = {
      .plugins = plugins, .scn = scn, .o = o, .err = err, .errlen = errlen};
  rl__plan *p = calloc(1, sizeof *p);
  int rc = RL_ERR_NOMEM;
  if (!p)
    goto oom;
  c.plan = p;
  p->owns_targets = 1;
  if (scn->n_users > 65535) {
    rc = rl__scn_errorf(scn, scn->users[0].pos, err, errlen,
                        "too many user classes");
    goto fail;
  }
  {
    char *copy = strdup(scn->file);
    if (!copy)
      goto oom;
    c.dir = strdup(dirname(copy));
    free(copy);
  }
  if (collect_vars(&c))
    goto oom;
  p->classes = calloc(scn->n_users ? scn->n_users : 1, sizeof *p->classes);
  if (!p->classes)
    goto oom;
  rl__template_set_variables((const char *const *)p->vars, p->n_vars);
  for (size_t u = 0; u < scn->n_users; u++) {
    const rl__scn_user *k = &scn->users[u];
    size_t kept = 0;
    for (size_t t = 0; t < k->n_tasks; t++)
      kept += (size_t)task_selected(o, &k->tasks[t]);
    if (!kept) {
      rl__log(RL__LOG_WARN,
              "%s:%d:%d: user class %s has no task left after --tags / "
              "--exclude-tags: not spawned",
              scn->file, k->pos.line, k->pos.col, k->name);
      continue;
    }
    rl__plan_class *pc = &p->classes[p->n_classes++];
    pc->name = k->name;
    pc->weight = k->weight;
    pc->has_fixed = k->has_fixed_count;
    pc->fixed = k->has_fixed_count ? (uint64_t)k->fixed_count : 0;
    pc->wait = o->wait_given || !k->has_wait ? *o->default_wait : k->wait;
    if (!o->wait_given && !k->has_wait && scn->settings.has_wait)
      pc->wait = scn->settings.wait;
    pc->sequential = k->sequential;
    if ((rc = compile_steps(&c, k, k->on_start, k->n_on_start, &pc->on_start,
                            &pc->n_on_start, &pc->checks)))
      goto fail;
    if ((rc = compile_steps(&c, k, k->on_stop, k->n_on_stop, &pc->on_stop,
                            &pc->n_on_stop, &pc->checks)))
      goto fail;
    p->has_on_stop |= k->n_on_stop != 0;
    pc->tasks = calloc(kept, sizeof *pc->tasks);
    pc->cum_weight = calloc(kept, sizeof *pc->cum_weight);
    if (!pc->tasks || !pc->cum_weight)
      goto oom;
    for (size_t t = 0; t < k->n_tasks; t++) {
      const rl__scn_task *st = &k->tasks[t];
      if (!task_selected(o, st))
        continue;
      rl__plan_task *pt = &pc->tasks[pc->n_tasks++];
      pt->origin = st;
      pt->name = st->name;
      pt->weight = st->weight;
      if ((rc = compile_steps(&c, k, st->steps, st->n_steps, &pt->steps,
                              &pt->n_steps, &pc->checks)))
        goto fail;
      pc->total_weight += pt->weight;
      pc->cum_weight[pc->n_tasks - 1] = pc->total_weight;
    }
  }
  rl__template_set_variables(NULL, 0);
  if (!p->n_classes) {
    rc = rl__scn_errorf(scn, (rl__scn_pos){0, 0}, err, errlen,
                        "no user class has a task to run (see --tags "
                        "and --exclude-tags)");
    goto fail;
  }
  if (rl__plan_assign_classes(p, o->users))
    goto oom;
  free(c.dir);
  *out = p;
  return 0;
oom:
  snprintf(err, errlen, "out of memory");
  rc = RL_ERR_NOMEM;
fail:
  rl__template_set_variables(NULL, 0);
  free(c.dir);
  rl__plan_del(p);
  return rc;
}

/* ---- listing --------------------------------------------------------------- */

void rl__scn_print_list(const rl__plan *p, FILE *out) {
  for (size_t c = 0; c < p->n_classes; c++) {
    const rl__plan_class *k = &p->classes[c];
    if (k->has_fixed)
      fprintf(out, "%s (fixed_count %llu)\n", k->name,
              (unsigned long long)k->fixed);
    else
      fprintf(out, "%s (weight %g)\n", k->name, k->weight);
    if (k->n_on_start)
      fprintf(out, "  on_start: %zu step(s)\n", k->n_on_start);
    for (size_t t = 0; t < k->n_tasks; t++) {
      const rl__plan_task *pt = &k->tasks[t];
      const rl__scn_step *s0 = pt->steps[0].origin;
      char label[64];
      if (pt->name)
        snprintf(label, sizeof label, "%s", pt->name);
      else
        snprintf(label, sizeof label, "task %zu", t + 1);
      fprintf(out, "  - %s (weight %g): %s %s", label, pt->weight, s0->protocol,
              s0->spec ? s0->spec : "");
      if (pt->n_steps > 1)
        fprintf(out, " +%zu step(s)", pt->n_steps - 1);
      const rl__scn_task *st = pt->origin;
      if (st && st->n_tags) {
        fputs(" [tags:", out);
        for (size_t g = 0; g < st->n_tags; g++)
          fprintf(out, " %s", st->tags[g]);
        fputc(']', out);
      }
      fputc('\n', out);
    }
    if (k->n_on_stop)
      fprintf(out, "  on_stop: %zu step(s)\n", k->n_on_stop);
  }
}

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

/* The plugins' schemes, for an unknown protocol's message. */
static void list_protocols(rl__plugin_set *set, char *out, size_t len) {
  size_t n = 0;
  out[0] = 0;
  n += (size_t)snprintf(out, len, "http, grpc");
  for (size_t i = 0; i < set->n && n < len; i++)
    for (const rl_scheme *s = set->items[i]->desc.schemes; s && s->name; s++)
      if (strcmp(s->name, "http") != 0 && strcmp(s->name, "https") != 0 &&
          strcmp(s->name, "grpc") != 0 && strcmp(s->name, "grpcs") != 0 &&
          n < len)
        n += (size_t)snprintf(out + n, len - n, ", %s", s->name);
}

/* The JSON object of a step's metadata (gRPC's -m). Caller frees. */
static char *metadata_json(const rl__scn_step *s) {
  json_t *o = json_object();
  for (size_t i = 0; o && i < s->n_metadata; i++)
    json_object_set_new(o, s->metadata[i].key,
                        json_string(s->metadata[i].value));
  char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  return text;
}

/* Strings a step's target options point at, owned until it is built. */
typedef struct step_strings {
  char *url, *method, *proto, *protoset, *md;
  char **imports;
  size_t n_imports;
  rl_kv *headers, *options;
} step_strings;

static void free_strings(step_strings *ss) {
  free(ss->url);
  free(ss->method);
  free(ss->proto);
  free(ss->protoset);
  free(ss->md);
  for (size_t i = 0; i < ss->n_imports; i++)
    free(ss->imports[i]);
  free(ss->imports);
  free(ss->headers);
  free(ss->options);
}

static int compile_step(compiler *c, const rl__scn_user *k,
                        const rl__scn_step *s, rl__plan_step *out) {
  const rl__scn_compile_options *o = c->o;
  rl__target_options to = *o->base;
  step_strings ss = {0};
  int rc = RL_ERR_NOMEM;
  const char *proto = s->protocol;
  int is_http = strcmp(proto, "http") == 0 || strcmp(proto, "https") == 0;
  int is_grpc = strcmp(proto, "grpc") == 0 || strcmp(proto, "grpcs") == 0;
  if (!is_http && !is_grpc && !rl__plugin_set_find_scheme(c->plugins, proto)) {
    char known[512];
    list_protocols(c->plugins, known, sizeof known);
    return rl__scn_errorf(c->scn, s->protocol_pos, c->err, c->errlen,
                          "unknown protocol '%s' (known: %s)", proto, known);
  }
  const char *host = s->host   ? s->host
                     : k->host ? k->host
                     : o->host ? o->host
                               : c->scn->host;
  const char *spec = s->spec ? s->spec : "";
  const char *path = NULL;
  if (is_http) {
    /* "GET /path", "POST https://h/x", "/path" */
    const char *sp = strchr(spec, ' ');
    if (sp) {
      ss.method = strndup(spec, (size_t)(sp - spec));
      path = sp + 1;
      while (*path == ' ')
        path++;
    } else {
      path = spec;
    }
    if (!ss.method && sp)
      goto oom;
  }
  /* The target URL. */
  const char *where = is_http && has_scheme(path) ? path : host;
  if (!where || !*where) {
    free_strings(&ss);
    return rl__scn_errorf(
        c->scn, s->pos, c->err, c->errlen,
        "step has no host: give host: in the step, its user class or the "
        "file, or a target on the command line");
  }
  const char *scheme = is_http ? "http" : is_grpc ? "grpc" : proto;
  size_t n = strlen(where) + strlen(scheme) + (path ? strlen(path) : 0) + 8;
  if (!(ss.url = malloc(n)))
    goto oom;
  if (is_http && has_scheme(path))
    snprintf(ss.url, n, "%s", path);
  else
    snprintf(ss.url, n, "%s%s%s%s", has_scheme(where) ? "" : scheme,
             has_scheme(where) ? "" : "://", where,
             is_http && path && *path ? path : "");
  to.url = ss.url;
  to.method = ss.method;
  to.default_scheme = NULL;
  to.name = s->name;
  to.plugin = NULL;
  if (is_http && o->base->plugin && strcmp(o->base->plugin, "http2") == 0)
    to.plugin = "http2";
  if (!is_http && !is_grpc)
    to.plugin = NULL;
  /* Headers, with application/json for a json: body unless given. */
  size_t nh = s->n_headers + 1;
  ss.headers = calloc(nh, sizeof *ss.headers);
  if (!ss.headers)
    goto oom;
  size_t h = 0;
  int has_ct = 0;
  for (size_t i = 0; i < s->n_headers; i++) {
    ss.headers[h++] = (rl_kv){s->headers[i].key, s->headers[i].value};
    has_ct |= strcasecmp(s->headers[i].key, "content-type") == 0;
  }
  if (is_http && s->body_kind == RL__SCN_BODY_JSON && !has_ct)
    ss.headers[h++] = (rl_kv){"content-type", "application/json"};
  to.headers = ss.headers;
  to.n_headers = h;
  if (s->body) {
    to.body = (const uint8_t *)s->body;
    to.body_len = strlen(s->body);
  } else {
    to.body = NULL;
    to.body_len = 0;
  }
  /* Plugin options: the step's, gRPC's keys, and the call. */
  size_t no = s->n_options + s->n_import_paths + 6;
  ss.options = calloc(no, sizeof *ss.options);
  if (!ss.options)
    goto oom;
  size_t k2 = 0;
  for (size_t i = 0; i < s->n_options; i++)
    ss.options[k2++] = (rl_kv){s->options[i].key, s->options[i].value};
  const char *call = s->call ? s->call : (!is_http && *spec ? spec : NULL);
  if (call)
    ss.options[k2++] = (rl_kv){"call", call};
  if (s->proto) {
    if (!(ss.proto = resolve_path(c, s->proto)))
      goto oom;
    ss.options[k2++] = (rl_kv){"proto", ss.proto};
  }
  if (s->protoset) {
    if (!(ss.protoset = resolve_path(c, s->protoset)))
      goto oom;
    ss.options[k2++] = (rl_kv){"protoset", ss.protoset};
  }
  if (s->n_import_paths) {
    ss.imports = calloc(s->n_import_paths, sizeof *ss.imports);
    if (!ss.imports)
      goto oom;
    for (size_t i = 0; i < s->n_import_paths; i++) {
      if (!(ss.imports[i] = resolve_path(c, s->import_paths[i])))
        goto oom;
      ss.n_imports++;
      ss.options[k2++] = (rl_kv){"import_path", ss.imports[i]};
    }
  }
  if (s->n_metadata) {
    if (!(ss.md = metadata_json(s)))
      goto oom;
    ss.options[k2++] = (rl_kv){"metadata", ss.md};
  }
  to.options = ss.options;
  to.n_options = k2;
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

static int compile_steps(compiler *c, const rl__scn_user *k,
                         const rl__scn_step *s, size_t n, rl__plan_step **out,
                         int *checks) {
  *out = NULL;
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
                            &pc->checks)))
      goto fail;
    pc->n_on_start = k->n_on_start;
    if ((rc = compile_steps(&c, k, k->on_stop, k->n_on_stop, &pc->on_stop,
                            &pc->checks)))
      goto fail;
    pc->n_on_stop = k->n_on_stop;
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
                              &pc->checks)))
        goto fail;
      pt->n_steps = st->n_steps;
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

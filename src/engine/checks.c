#include "engine/checks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/jsonpath.h"
#include "base/regex.h"

const char *rl__status_name(const char *const *names, uint32_t n, int code) {
  return names && code >= 0 && (uint32_t)code < n ? names[code] : NULL;
}

int rl__status_code(const char *const *names, uint32_t n, const char *text) {
  for (uint32_t i = 0; names && i < n; i++)
    if (names[i] && strcasecmp(names[i], text) == 0)
      return (int)i;
  char *end;
  long v = strtol(text, &end, 10);
  if (*text >= '0' && *text <= '9' && *end == '\0' && v >= 0 && (uint64_t)v < n)
    return (int)v;
  return -1;
}

/* JSON equality where 1 == 1.0 (jansson's json_equal keeps integers and
 * reals apart, people do not). */
static int json_same(const json_t *a, const json_t *b) {
  if (json_is_number(a) && json_is_number(b))
    return json_number_value(a) == json_number_value(b);
  if (json_typeof(a) != json_typeof(b))
    return 0;
  if (json_is_array(a)) {
    if (json_array_size(a) != json_array_size(b))
      return 0;
    for (size_t i = 0; i < json_array_size(a); i++)
      if (!json_same(json_array_get(a, i), json_array_get(b, i)))
        return 0;
    return 1;
  }
  if (json_is_object(a)) {
    if (json_object_size(a) != json_object_size(b))
      return 0;
    const char *key;
    json_t *va;
    /* json_object_foreach wants a non-const object; it does not change it. */
    json_object_foreach((json_t *)a, key, va) {
      json_t *vb = json_object_get(b, key);
      if (!vb || !json_same(va, vb))
        return 0;
    }
    return 1;
  }
  return json_equal(a, b);
}

/* A value for a message, cut to 60 characters. */
static void shown(const json_t *v, char *buf, size_t len) {
  char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  if (!t) {
    snprintf(buf, len, "?");
    return;
  }
  if (strlen(t) > 60)
    snprintf(buf, len, "%.57s...", t);
  else
    snprintf(buf, len, "%s", t);
  free(t);
}

/* A value and a templated operand's text: a string has that text, any
 * other value that JSON. */
static int same_as_text(const json_t *v, const char *text) {
  if (json_is_string(v))
    return strcmp(json_string_value(v), text) == 0;
  json_t *t = json_loads(text, JSON_DECODE_ANY, NULL);
  int same = t && json_same(v, t);
  json_decref(t);
  return same;
}

/* The operand as shown in a message: the expanded text, or the value. */
static void shown_operand(const json_t *value, const char *operand, char *buf,
                          size_t len) {
  if (!operand) {
    shown(value, buf, len);
    return;
  }
  json_t *s = json_string(operand);
  shown(s ? s : value, buf, len);
  json_decref(s);
}

/* One value `v` (found at `path`) against the expectation. */
static int check_value(const rl__json_expect *e, const json_t *v,
                       const char *path, const char *operand, char *why,
                       size_t whylen) {
  char got[80], want[80];
  if (!v) {
    snprintf(why, whylen, "%s: not found", path);
    return 0;
  }
  switch (e->op) {
  case RL__JSON_EXISTS:
    return 1;
  case RL__JSON_EQUALS:
    if (operand ? same_as_text(v, operand) : json_same(v, e->value))
      return 1;
    shown(v, got, sizeof got);
    shown_operand(e->value, operand, want, sizeof want);
    snprintf(why, whylen, "%s is %s, expected %s", path, got, want);
    return 0;
  case RL__JSON_CONTAINS: {
    const char *sub = operand                    ? operand
                      : json_is_string(e->value) ? json_string_value(e->value)
                                                 : NULL;
    if (json_is_string(v) && sub) {
      if (strstr(json_string_value(v), sub))
        return 1;
    } else if (json_is_array(v)) {
      for (size_t i = 0; i < json_array_size(v); i++)
        if (operand ? same_as_text(json_array_get(v, i), operand)
                    : json_same(json_array_get(v, i), e->value))
          return 1;
    } else if (json_is_object(v) && sub) {
      if (json_object_get(v, sub))
        return 1;
    }
    shown(v, got, sizeof got);
    shown_operand(e->value, operand, want, sizeof want);
    snprintf(why, whylen, "%s is %s, which does not contain %s", path, got,
             want);
    return 0;
  }
  case RL__JSON_MATCHES: {
    char *text = rl__jsonpath_value_text(v);
    char limit[160];
    int m = text ? rl__regex_match(e->re, text, strlen(text), NULL, limit,
                                   sizeof limit)
                 : RL_ERR_NOMEM;
    free(text);
    if (m == 1)
      return 1;
    if (m < 0) {
      snprintf(why, whylen, "%s: /%.60s/ gave up: %s", path, e->text,
               m == RL_ERR_NOMEM ? "out of memory" : limit);
      return 0;
    }
    shown(v, got, sizeof got);
    snprintf(why, whylen, "%s is %s, which does not match /%s/", path, got,
             e->text);
    return 0;
  }
  }
  snprintf(why, whylen, "%s: bad expectation", path);
  return 0;
}

/* A path with [*]: every element must pass; the first that does not is
 * named with its index in place of the [*]. */
struct each_check {
  const rl__json_expect *e;
  const char *operand;
  char *why;
  size_t whylen;
  int failed;
};

static int check_element(json_t *v, size_t i, void *arg) {
  struct each_check *ec = arg;
  const char *text = rl__jsonpath_text(ec->e->path);
  const char *star = strstr(text, "[*]");
  char path[200];
  snprintf(path, sizeof path, "%.*s[%zu]%s", (int)(star ? star - text : 0),
           text, i, star ? star + 3 : text);
  if (check_value(ec->e, v, path, ec->operand, ec->why, ec->whylen))
    return 0;
  ec->failed = 1;
  return 1;
}

int rl__json_expect_check(const rl__json_expect *e, const json_t *doc,
                          const char *operand, char *why, size_t whylen) {
  const char *path = rl__jsonpath_text(e->path);
  if (!rl__jsonpath_wild(e->path))
    return check_value(e, rl__jsonpath_eval(e->path, doc), path, operand, why,
                       whylen);
  struct each_check ec = {e, operand, why, whylen, 0};
  size_t n = rl__jsonpath_each(e->path, doc, check_element, &ec);
  if (!n) {
    snprintf(why, whylen, "%s: no element", path);
    return 0;
  }
  return !ec.failed;
}

/* The response as JSON, parsed once per check: the plugin's own JSON
 * (gRPC's decoded message) or the body. NULL when it is not JSON. */
static json_t *response_json(const rl__response *r, json_t **cache,
                             int *tried) {
  if (!*tried) {
    *tried = 1;
    const char *text = r->has_json ? r->json : r->body;
    size_t len = r->has_json ? strlen(r->json) : r->body_len;
    *cache = text ? json_loadb(text, len, JSON_DECODE_ANY, NULL) : NULL;
  }
  return *cache;
}

/* What body checks look at: gRPC's JSON, else the body; its length in
 * *len. */
static const char *body_text(const rl__response *r, size_t *len) {
  const char *t = r->has_json ? r->json : r->body ? r->body : "";
  *len = r->has_json || !r->body ? strlen(t) : r->body_len;
  return t;
}

/* A status as people read it: the plugin's name for it, else its number. */
static const char *status_text(const rl__step_checks *ck, int code, char *buf,
                               size_t len) {
  const char *name =
      rl__status_name(ck->status_names, ck->n_status_names, code);
  if (name)
    return name;
  snprintf(buf, len, "%d", code);
  return buf;
}

/* A templated expected value expanded for this user into `out` (reset
 * first); NULL when out of memory. */
static const char *expand(const rl_template *t, const rl__template_ctx *tctx,
                          rl__buf *out) {
  rl__buf_reset(out);
  if (rl__template_expand(t, tctx, out))
    return NULL;
  return out->p ? out->p : "";
}

static const char *expect_error(const rl__step_checks *ck,
                                const rl__response *r, const char *plugin_error,
                                uint64_t rt_ns, const rl__template_ctx *tctx,
                                json_t **doc, int *tried, rl__buf *scratch,
                                char *buf, size_t len) {
  const rl__expect *e = ck->expect;
  const char *err = plugin_error;
  char a[32], b[32];
  if (e->has_status || ck->has_named_status) {
    int ok = ck->has_named_status ? r->status == ck->named_status
                                  : rl__status_set_has(&e->status, r->status);
    if (ok) {
      err = NULL;
    } else {
      snprintf(buf, len, "expected status %s, got %s",
               ck->has_named_status
                   ? status_text(ck, ck->named_status, a, sizeof a)
                   : e->status_text,
               status_text(ck, r->status, b, sizeof b));
      return buf;
    }
  }
  if (err)
    return err;
  size_t blen;
  const char *body = body_text(r, &blen);
  const char *contains = e->body_contains;
  if (contains && ck->contains && tctx &&
      !(contains = expand(ck->contains, tctx, scratch)))
    return "out of memory";
  if (contains && !strstr(body, contains)) {
    snprintf(buf, len, "response does not contain '%.80s'%s", contains,
             r->body_cut ? " (body cut at 4 MiB)" : "");
    return buf;
  }
  if (e->body_re) {
    char limit[160];
    int m = rl__regex_match(e->body_re, body, blen, NULL, limit, sizeof limit);
    if (m < 0) {
      snprintf(buf, len, "body_matches /%.60s/ gave up: %s", e->body_matches,
               limit);
      return buf;
    }
    if (m == 0) {
      snprintf(buf, len, "response does not match /%.80s/", e->body_matches);
      return buf;
    }
  }
  for (size_t i = 0; i < e->n_json; i++) {
    json_t *d = response_json(r, doc, tried);
    if (!d) {
      snprintf(buf, len, "response is not JSON (expect.json)");
      return buf;
    }
    const rl_template *t = ck->json_operands ? ck->json_operands[i] : NULL;
    const char *operand = NULL;
    if (t && tctx && !(operand = expand(t, tctx, scratch)))
      return "out of memory";
    if (!rl__json_expect_check(&e->json[i], d, operand, buf, len))
      return buf;
  }
  if (e->has_max_ms && (double)rt_ns / 1e6 > e->max_ms) {
    snprintf(buf, len, "response time over %g ms", e->max_ms);
    return buf;
  }
  return NULL;
}

/* The value a capture selects, malloc'd; NULL when absent (why in buf). */
static char *capture_value(const rl__capture *c, const rl__response *r,
                           json_t **doc, int *tried, char *buf, size_t len) {
  switch (c->kind) {
  case RL__CAPTURE_JSON: {
    json_t *d = response_json(r, doc, tried);
    json_t *v = d ? rl__jsonpath_eval(c->path, d) : NULL;
    if (!v) {
      snprintf(buf, len, "capture %s: %s %s", c->var, c->arg,
               d ? "not found in the response" : "(the response is not JSON)");
      return NULL;
    }
    return rl__jsonpath_value_text(v);
  }
  case RL__CAPTURE_HEADER: {
    const char *v = rl__response_header(r, c->arg);
    if (!v) {
      snprintf(buf, len, "capture %s: no header %s in the response", c->var,
               c->arg);
      return NULL;
    }
    return strdup(v);
  }
  case RL__CAPTURE_REGEX:
  default: {
    size_t tlen, span[2];
    const char *text = body_text(r, &tlen);
    char limit[160];
    int m = rl__regex_match(c->re, text, tlen, span, limit, sizeof limit);
    if (m < 0) {
      snprintf(buf, len, "capture %s: /%.60s/ gave up: %s", c->var, c->arg,
               limit);
      return NULL;
    }
    if (m == 0) {
      snprintf(buf, len, "capture %s: /%.60s/ does not match the response",
               c->var, c->arg);
      return NULL;
    }
    return strndup(text + span[0], span[1] - span[0]);
  }
  }
}

const char *rl__checks_apply(const rl__step_checks *ck,
                             const rl__response *resp, const char *plugin_error,
                             uint64_t rt_ns, const rl__template_ctx *tctx,
                             char **vars, char *buf, size_t len,
                             int *stop_task) {
  *stop_task = 0;
  static const rl__response none = {.status = -1};
  const rl__response *r = resp && resp->have ? resp : &none;
  json_t *doc = NULL;
  int tried = 0;
  const char *err = plugin_error;
  if (r->have) {
    if (ck->expect) {
      rl__buf scratch;
      rl__buf_init(&scratch);
      err = expect_error(ck, r, plugin_error, rt_ns, tctx, &doc, &tried,
                         &scratch, buf, len);
      rl__buf_free(&scratch);
      /* The user's words for any failure the response decided. */
      if (err && ck->expect->message)
        err = ck->expect->message;
    }
  } else if (!err) {
    err = "no response to check";
  }
  for (size_t i = 0; i < ck->n_captures && !*stop_task; i++) {
    if (err) {
      /* Nothing trustworthy to capture from: the task cannot go on. */
      *stop_task = 1;
      break;
    }
    char *v = capture_value(&ck->captures[i], r, &doc, &tried, buf, len);
    if (!v) {
      err = buf;
      *stop_task = 1;
      break;
    }
    size_t k = ck->capture_vars[i];
    free(vars[k]);
    vars[k] = v;
  }
  json_decref(doc);
  return err;
}

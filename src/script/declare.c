/*
 * The requests a Lua class declares (script.h, docs/lua.md): a step's
 * plugin is made only on the main thread (plugin ABI: step_new), while a
 * task makes its requests up as it runs, so each class declares, when the
 * script is loaded, generic templated requests for everything its tasks
 * may send:
 *   - per HTTP method, three (no body, a body, a JSON body) to the class's
 *     host, and the same three again for each of its `hosts = {...}`;
 *   - one gRPC request per method its `grpc = {methods = {...}}` lists,
 *     the message a template of the whole JSON text ({{_rl_msg}}; a client
 *     or bidi stream's list, a JSON array: {{_rl_list}}), a stream's
 *     options templates too ({{_rl_scount}}, {{_rl_sduration}}...), set
 *     per call;
 *   - for each protocol of `protocols = {...}`, one request per word count
 *     1..max_words (the class's, default RL__SCRIPT_WORDS), each word a
 *     template ({{_rl_w1}} ...), since a plugin such as redis splits its
 *     request text into arguments when the step is made (a template is
 *     one argument, whatever it expands to); but a transport plugin's
 *     protocol (its own I/O: udp) one request, its payload the body
 *     {{_rl_body}}, as a scenario's `{udp: '', body: ...}`.
 * runtime.c and calls.c find a call's request with the lookups below.
 */
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/env.h"
#include "script/script.h"

/* Appends `text` to b single-quoted for YAML ('' for a quote). */
static void add_quoted(luaL_Buffer *b, const char *text) {
  luaL_addchar(b, '\'');
  for (const char *c = text; *c; c++) {
    if (*c == '\'')
      luaL_addchar(b, '\'');
    luaL_addchar(b, *c);
  }
  luaL_addchar(b, '\'');
}

/* A list of strings (or, with `keyed`, string keys to strings too) at the
 * stack top, field `key` of the class: copies into *out (NULL-ended); the
 * values of string keys into *vals when given. */
static int read_list(lua_State *L, const char *key, char ***out, char ***vals,
                     size_t *n, char *why, size_t whylen) {
  *out = NULL;
  *n = 0;
  if (vals)
    *vals = NULL;
  if (lua_isnil(L, -1))
    return 0;
  if (!lua_istable(L, -1)) {
    snprintf(why, whylen, "%s: a list of strings, not a %s", key,
             luaL_typename(L, -1));
    return -1;
  }
  size_t cap = 0;
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    int keyed = lua_type(L, -2) == LUA_TSTRING;
    if ((keyed && (!vals || lua_type(L, -1) != LUA_TSTRING)) ||
        (!keyed && lua_type(L, -1) != LUA_TSTRING)) {
      snprintf(why, whylen,
               vals ? "%s: protocol names (\"redis\") or protocol = host "
                      "(redis = \"redis://127.0.0.1:6379\")"
                    : "%s: a list of strings",
               key);
      lua_pop(L, 2);
      return -1;
    }
    if (*n + 1 >= cap) {
      cap = cap ? cap * 2 : 8;
      char **more = realloc(*out, cap * sizeof *more);
      char **vmore = vals ? realloc(*vals, cap * sizeof *vmore) : NULL;
      if (more)
        *out = more;
      if (vmore)
        *vals = vmore;
      if (!more || (vals && !vmore)) {
        lua_pop(L, 2);
        snprintf(why, whylen, "out of memory");
        return -1;
      }
    }
    (*out)[*n] = strdup(lua_tostring(L, keyed ? -2 : -1));
    if (vals)
      (*vals)[*n] = keyed ? strdup(lua_tostring(L, -1)) : NULL;
    if (!(*out)[*n] || (vals && keyed && !(*vals)[*n])) {
      free((*out)[*n]);
      if (vals)
        free((*vals)[*n]);
      (*out)[*n] = NULL;
      lua_pop(L, 2);
      snprintf(why, whylen, "out of memory");
      return -1;
    }
    (*out)[++*n] = NULL;
    if (vals)
      (*vals)[*n] = NULL;
    lua_pop(L, 1);
  }
  if (*n == 0) {
    snprintf(why, whylen, "%s: an empty list (leave it out)", key);
    return -1;
  }
  return 0;
}

/* A relative file of the grpc table: relative to the script's folder, as
 * a scenario's are to the scenario's. */
static void add_file(luaL_Buffer *b, const char *script, const char *file) {
  const char *slash = strrchr(script, '/');
  if (file[0] == '/' || !slash) {
    add_quoted(b, file);
    return;
  }
  /* Not on L's stack: the buffer is using it. */
  size_t dir = (size_t)(slash - script) + 1, len = strlen(file);
  char *path = malloc(dir + len + 1);
  if (!path) {
    add_quoted(b, file);
    return;
  }
  memcpy(path, script, dir);
  memcpy(path + dir, file, len + 1);
  add_quoted(b, path);
  free(path);
}

/* Adds the text at L's top (a luaL_Buffer's result) to k's requests. */
static int push_request(lua_State *L, rl__script_class *k, size_t *cap) {
  if (k->n_requests + 1 >= *cap) {
    *cap = *cap ? *cap * 2 : 64;
    const char **more = realloc(k->requests, *cap * sizeof *more);
    if (!more)
      return -1;
    k->requests = more;
  }
  char *text = strdup(lua_tostring(L, -1));
  lua_pop(L, 1);
  if (!text)
    return -1;
  k->requests[k->n_requests++] = text;
  k->requests[k->n_requests] = NULL;
  return 0;
}

/* The HTTP requests to `host` (NULL: the class's). */
static int declare_http(lua_State *L, rl__script_class *k, const char *host,
                        size_t *cap) {
  static const char *const variant[3] = {
      "", ", body: '{{_rl_body}}'",
      ", body: '{{_rl_body}}', headers: {content-type: application/json}"};
  for (size_t m = 0; m < RL__SCRIPT_N_METHODS; m++)
    for (size_t v = 0; v < 3; v++) {
      luaL_Buffer b;
      luaL_buffinit(L, &b);
      luaL_addstring(&b, "{http: '");
      luaL_addstring(&b, rl__script_methods[m]);
      luaL_addstring(&b, " /{{_rl_path}}'");
      luaL_addstring(&b, variant[v]);
      if (host) {
        luaL_addstring(&b, ", host: ");
        add_quoted(&b, host);
      }
      luaL_addchar(&b, '}');
      luaL_pushresult(&b);
      if (push_request(L, k, cap))
        return -1;
    }
  return 0;
}

/* A string field of the grpc table at the stack top, or NULL. */
static const char *grpc_text(lua_State *L, const char *key, char *why,
                             size_t whylen, int *bad) {
  lua_getfield(L, -1, key);
  const char *v = NULL;
  if (lua_type(L, -1) == LUA_TSTRING)
    v = lua_tostring(L, -1); /* anchored in the grpc table */
  else if (!lua_isnil(L, -1)) {
    snprintf(why, whylen, "grpc.%s: a string, not a %s", key,
             luaL_typename(L, -1));
    *bad = 1;
  }
  lua_pop(L, 1);
  return v;
}

/* Method i of k as the proto object at obj names it (a short name,
 * "SayHello", becomes its full one), with its shape. Not in it: an error
 * when strict (an object the script made), else left to the plugin as
 * written, unary (a file named in the grpc table, read here only for the
 * shapes: its services may be in an import). */
static int method_of(lua_State *L, int obj, rl__script_class *k, size_t i,
                     int strict, char *why, size_t whylen) {
  lua_getfield(L, obj, "names");
  lua_getfield(L, -1, k->grpc_methods[i]);
  if (lua_type(L, -1) != LUA_TSTRING && !strict) {
    lua_pop(L, 2);
    return 0;
  }
  if (lua_type(L, -1) != LUA_TSTRING) {
    lua_getfield(L, obj, "file");
    snprintf(why, whylen,
             lua_isboolean(L, -2)
                 ? "grpc.methods: '%s' names more than one method of %s: "
                   "give Service/Method"
                 : "grpc.methods: '%s' is not a method of %s",
             k->grpc_methods[i], lua_tostring(L, -1));
    lua_pop(L, 3);
    return -1;
  }
  char *full = strdup(lua_tostring(L, -1));
  if (!full) {
    lua_pop(L, 2);
    snprintf(why, whylen, "out of memory");
    return -1;
  }
  free(k->grpc_methods[i]);
  k->grpc_methods[i] = full;
  lua_pop(L, 2);
  lua_getfield(L, obj, "kinds");
  lua_getfield(L, -1, full);
  const char *kind = lua_tostring(L, -1);
  k->grpc_kinds[i] = !kind                         ? 0
                     : strcmp(kind, "server") == 0 ? RL__SCRIPT_GRPC_SERVER
                     : strcmp(kind, "client") == 0 ? RL__SCRIPT_GRPC_CLIENT
                     : strcmp(kind, "bidi") == 0
                         ? RL__SCRIPT_GRPC_CLIENT | RL__SCRIPT_GRPC_SERVER
                         : 0;
  lua_pop(L, 2);
  return 0;
}

static int declare_grpc_block(lua_State *L, rl__script *s, rl__script_class *k,
                              int obj, int is_obj, int first, const char *proto,
                              const char *protoset, const char *imports,
                              const char *host, size_t *cap, char *why,
                              size_t whylen);

/* The keys of a method's request that its shape (kind) decides: its
 * message (a client or bidi stream's: the list) and the stream options
 * that shape takes, templates set per call (calls.c); the grpc plugin
 * refuses an option the method's shape does not take. */
static const char *shape_keys(int kind) {
  switch (kind) {
  case RL__SCRIPT_GRPC_SERVER:
    return ", data: '{{_rl_msg}}', stream_call_count: '{{_rl_scount}}', "
           "stream_call_duration: '{{_rl_sduration}}'";
  case RL__SCRIPT_GRPC_CLIENT:
    return ", data: '{{_rl_list}}', stream_call_count: '{{_rl_scount}}', "
           "stream_call_duration: '{{_rl_sduration}}', stream_interval: "
           "'{{_rl_sinterval}}'";
  case RL__SCRIPT_GRPC_CLIENT | RL__SCRIPT_GRPC_SERVER:
    return ", data: '{{_rl_list}}', stream_call_count: '{{_rl_scount}}', "
           "stream_call_duration: '{{_rl_sduration}}', stream_interval: "
           "'{{_rl_sinterval}}', stream_ping_pong: '{{_rl_spingpong}}'";
  default:
    return ", data: '{{_rl_msg}}'";
  }
}

int rl__script_grpc_shapes(rl__script *s, rl__script_class *k, int *changed) {
  for (size_t i = 0; s->env && i < k->n_grpc; i++) {
    uint32_t streams = 0;
    if (rl__api_request_streams(s->env, k->name, k->grpc_first[i], &streams))
      continue; /* not in the plan (--tags): its requests never run */
    int kind = (streams & RL_STEP_STREAMS_CLIENT ? RL__SCRIPT_GRPC_CLIENT : 0) |
               (streams & RL_STEP_STREAMS_SERVER ? RL__SCRIPT_GRPC_SERVER : 0);
    if (kind == k->grpc_kinds[i])
      continue;
    /* The method's request to each declared host, its shape's keys in
     * place of the ones it was declared with. */
    const char *was = shape_keys(k->grpc_kinds[i]), *now = shape_keys(kind);
    for (size_t h = 0; h <= k->n_grpc_hosts; h++) {
      size_t r = k->grpc_first[i] + h * k->grpc_block;
      const char *text = k->requests[r], *at = strstr(text, was);
      if (!at)
        return -1; /* our own text: cannot happen */
      size_t len = strlen(text) - strlen(was) + strlen(now) + 1;
      char *re = malloc(len);
      if (!re)
        return -1;
      snprintf(re, len, "%.*s%s%s", (int)(at - text), text, now,
               at + strlen(was));
      free((char *)k->requests[r]);
      k->requests[r] = re;
    }
    k->grpc_kinds[i] = kind;
    *changed = 1;
  }
  return 0;
}

static int declare_grpc(lua_State *L, rl__script *s, rl__script_class *k,
                        size_t *cap, char *why, size_t whylen) {
  if (!lua_istable(L, -1)) {
    snprintf(why, whylen,
             "grpc: a table {proto = \"hello.proto\", host = "
             "\"127.0.0.1:50051\", methods = {\"pkg.Service/Method\"}}, not "
             "a %s",
             luaL_typename(L, -1));
    return -1;
  }
  static const char *const known[] = {
      "proto", "protoset", "import_path", "host", "hosts", "methods", NULL};
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    int ok = 0;
    for (size_t i = 0; known[i] && lua_type(L, -2) == LUA_TSTRING; i++)
      ok |= strcmp(known[i], lua_tostring(L, -2)) == 0;
    if (!ok) {
      snprintf(why, whylen,
               "grpc: '%s' is not one of its keys (proto, protoset, "
               "import_path, host, hosts, methods)",
               lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?");
      lua_pop(L, 2);
      return -1;
    }
    lua_pop(L, 1);
  }
  int bad = 0, gt = lua_gettop(L);
  /* proto: a file, or an rl.grpc.proto object (grpcproto.c) with its
   * file and import_path. */
  lua_getfield(L, gt, "proto");
  int is_obj = rl__script_is_proto(L, -1);
  const char *proto = NULL, *imports = NULL;
  if (is_obj) {
    lua_getfield(L, -1, "file");
    proto = lua_tostring(L, -1); /* anchored in the object */
    lua_getfield(L, -2, "import_path");
    imports = lua_tostring(L, -1);
    lua_pop(L, 3); /* the strings stay anchored in the grpc table's object */
  } else {
    lua_pop(L, 1);
    proto = grpc_text(L, "proto", why, whylen, &bad);
  }
  const char *protoset = grpc_text(L, "protoset", why, whylen, &bad);
  const char *own_imports = grpc_text(L, "import_path", why, whylen, &bad);
  const char *host = grpc_text(L, "host", why, whylen, &bad);
  if (bad)
    return -1;
  if (own_imports)
    imports = own_imports;
  /* The methods' shapes: from the object, or the file read as one. */
  if (is_obj)
    lua_getfield(L, gt, "proto");
  else if (!(proto && rl__script_proto_of(L, s->path, proto) == 0))
    lua_pushnil(L);
  int obj = lua_gettop(L); /* a proto object or nil */
  lua_getfield(L, gt, "methods");
  int rc = read_list(L, "grpc.methods", &k->grpc_methods, NULL, &k->n_grpc, why,
                     whylen);
  lua_pop(L, 1);
  if (rc)
    return -1;
  if (!k->n_grpc && lua_istable(L, obj)) {
    /* None listed: every method of the proto. */
    lua_getfield(L, obj, "methods");
    rc = read_list(L, "grpc.methods", &k->grpc_methods, NULL, &k->n_grpc, why,
                   whylen);
    lua_pop(L, 1);
    if (rc)
      return -1;
  }
  if (!k->n_grpc) {
    snprintf(why, whylen,
             "grpc: methods = {\"pkg.Service/Method\", ...} is required "
             "(the methods its tasks call: each is declared at load), "
             "unless proto is an rl.grpc.proto(...) or a .proto file with "
             "services");
    return -1;
  }
  if (!(k->grpc_kinds = calloc(k->n_grpc, sizeof *k->grpc_kinds)) ||
      !(k->grpc_first = calloc(k->n_grpc, sizeof *k->grpc_first)) ||
      (host && !(k->grpc_host = strdup(host))))
    return -2;
  /* The other hosts a call may name (opts.host): the methods again for
   * each, in blocks of grpc_block requests after host's. */
  lua_getfield(L, gt, "hosts");
  rc = read_list(L, "grpc.hosts", &k->grpc_hosts, NULL, &k->n_grpc_hosts, why,
                 whylen);
  lua_pop(L, 1);
  if (rc)
    return -1;
  size_t start = k->n_requests;
  for (size_t h = 0; h <= k->n_grpc_hosts; h++) {
    const char *to = h ? k->grpc_hosts[h - 1] : host;
    if (h == 1)
      k->grpc_block = k->n_requests - start;
    if (declare_grpc_block(L, s, k, obj, is_obj, h == 0, proto, protoset,
                           imports, to, cap, why, whylen))
      return -1;
  }
  lua_settop(L, gt);
  return 0;
}

/* Method i of k's request to `host` (NULL: the class's; with
 * k->grpc_runtime, no host of its own) into k's requests. */
static int method_request(lua_State *L, rl__script *s, rl__script_class *k,
                          size_t i, const char *proto, const char *protoset,
                          const char *imports, const char *host, size_t *cap) {
  /* One request per method: a client or bidi stream's list is one JSON
   * array ({{_rl_list}}, any length: the grpc plugin splits it per call),
   * and a stream's options are templates set per call, empty when the
   * call gives none (calls.c). */
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, "{grpc: ");
  add_quoted(&b, k->grpc_methods[i]);
  luaL_addstring(&b, shape_keys(k->grpc_kinds[i]));
  const char *const keys[] = {"proto", "protoset", "import_path"};
  const char *const vals[] = {proto, protoset, imports};
  for (size_t f = 0; f < 3; f++)
    if (vals[f]) {
      luaL_addstring(&b, ", ");
      luaL_addstring(&b, keys[f]);
      luaL_addstring(&b, ": ");
      add_file(&b, s->path, vals[f]);
    }
  if (host) {
    luaL_addstring(&b, ", host: ");
    add_quoted(&b, host);
  }
  if (k->grpc_runtime)
    luaL_addstring(&b, ", runtime_host: true");
  luaL_addchar(&b, '}');
  luaL_pushresult(&b);
  return push_request(L, k, cap);
}

/* The requests of k's methods to host `to` (NULL: the class's); first:
 * the first block, which resolves the methods' names and shapes (obj: a
 * proto object, or nil) and records where each starts. */
static int declare_grpc_block(lua_State *L, rl__script *s, rl__script_class *k,
                              int obj, int is_obj, int first, const char *proto,
                              const char *protoset, const char *imports,
                              const char *host, size_t *cap, char *why,
                              size_t whylen) {
  for (size_t i = 0; i < k->n_grpc; i++) {
    if (first && lua_istable(L, obj) &&
        method_of(L, obj, k, i, is_obj, why, whylen))
      return -1;
    if (first)
      k->grpc_first[i] = k->n_requests;
    if (method_request(L, s, k, i, proto, protoset, imports, host, cap)) {
      snprintf(why, whylen, "out of memory");
      return -1;
    }
  }
  return 0;
}

/* How many proto objects the script made (rl.grpc.proto, grpcproto.c). */
static size_t made_protos(lua_State *L) {
  int top = lua_gettop(L);
  lua_getglobal(L, "rl");
  if (lua_istable(L, -1)) {
    lua_getfield(L, -1, "grpc");
    if (lua_istable(L, -1))
      lua_getfield(L, -1, rl__script_proto_key);
  }
  size_t n = lua_istable(L, -1) ? lua_objlen(L, -1) : 0;
  lua_settop(L, top);
  return n;
}

/* A class with no grpc table: every method of every proto object the
 * script made (rl.grpc.proto, at its top level), declared with no host of
 * its own, so that a task may call one with host= (the sketch:
 * an HTTP class's task calls a gRPC server). Each is compiled at load
 * against no endpoint (runtime_host: true, user.h), which checks its file
 * and gives its row's name, and again for each host a call names, as any
 * host added while the run goes (engine/rtarget.h). 0, -1 (why), -2: out
 * of memory. */
static int declare_grpc_made(lua_State *L, rl__script *s, rl__script_class *k,
                             size_t *cap, char *why, size_t whylen) {
  int top = lua_gettop(L), rc = 0;
  lua_getglobal(L, "rl");
  if (lua_istable(L, -1)) {
    lua_getfield(L, -1, "grpc");
    if (lua_istable(L, -1))
      lua_getfield(L, -1, rl__script_proto_key);
  }
  int made = lua_gettop(L);
  size_t n_objs = lua_istable(L, made) ? lua_objlen(L, made) : 0, total = 0;
  for (size_t o = 1; o <= n_objs; o++) {
    lua_rawgeti(L, made, (int)o);
    lua_getfield(L, -1, "methods");
    total += lua_istable(L, -1) ? lua_objlen(L, -1) : 0;
    lua_pop(L, 2);
  }
  if (!total) {
    lua_settop(L, top);
    return 0;
  }
  if (!(k->grpc_methods = calloc(total + 1, sizeof *k->grpc_methods)) ||
      !(k->grpc_kinds = calloc(total, sizeof *k->grpc_kinds)) ||
      !(k->grpc_first = calloc(total, sizeof *k->grpc_first))) {
    lua_settop(L, top);
    return -2;
  }
  k->grpc_runtime = 1;
  for (size_t o = 1; o <= n_objs && !rc; o++) {
    lua_settop(L, made);
    lua_rawgeti(L, made, (int)o);
    int obj = lua_gettop(L);
    lua_getfield(L, obj, "file");
    lua_getfield(L, obj, "import_path");
    lua_getfield(L, obj, "methods");
    const char *file = lua_tostring(L, obj + 1);
    const char *imports = lua_tostring(L, obj + 2);
    size_t n = lua_objlen(L, obj + 3);
    for (size_t j = 1; j <= n && !rc; j++) {
      lua_rawgeti(L, obj + 3, (int)j);
      const char *full = lua_tostring(L, -1);
      if (!full) {
        lua_pop(L, 1);
        continue;
      }
      int seen = 0;
      for (size_t i = 0; !seen && i < k->n_grpc; i++)
        seen = k->grpc_methods[i] && strcmp(k->grpc_methods[i], full) == 0;
      if (!seen) { /* two objects of one file: its methods once */
        size_t i = k->n_grpc;
        if (!(k->grpc_methods[i] = strdup(full)))
          rc = -2;
        else {
          k->n_grpc++;
          k->grpc_first[i] = k->n_requests;
          if (method_of(L, obj, k, i, 1, why, whylen))
            rc = -1;
          else if (method_request(L, s, k, i, file, NULL, imports, NULL, cap))
            rc = -2;
        }
      }
      lua_pop(L, 1);
    }
  }
  lua_settop(L, top);
  return rc;
}

/* The class's max_words (nil: RL__SCRIPT_WORDS). */
static int read_max_words(lua_State *L, int idx, rl__script_class *k, char *why,
                          size_t whylen) {
  lua_getfield(L, idx, "max_words");
  double n = lua_tonumber(L, -1);
  int given = !lua_isnil(L, -1), number = lua_type(L, -1) == LUA_TNUMBER;
  lua_pop(L, 1);
  k->max_words = RL__SCRIPT_WORDS;
  if (!given)
    return 0;
  if (!number || !(n >= 1 && n <= RL__SCRIPT_WORDS_LIMIT) || n != (int)n) {
    snprintf(why, whylen,
             "max_words: the most words a u:request of this class has, a "
             "whole number from 1 to %d (default %d)",
             RL__SCRIPT_WORDS_LIMIT, RL__SCRIPT_WORDS);
    return -1;
  }
  k->max_words = (size_t)n;
  return 0;
}

/* Whether the plugin serving step key `key` is a transport (udp): its
 * requests are a payload, its step has no text of words. The plugins are
 * found as the classes' compiler finds them (scanned: it scans again). */
static int is_transport(rl__script *s, const char *key) {
  if (!s->env)
    return 0; /* a unit test's class: no plugins */
  rl__plugin *p = rl__plugin_set_find_key(&s->env->plugins, key);
  return p && p->desc.transport_new != NULL;
}

static int declare_protocols(lua_State *L, rl__script *s, rl__script_class *k,
                             size_t *cap) {
  if (!k->n_protocols)
    return 0;
  k->protocol_first = calloc(k->n_protocols, sizeof *k->protocol_first);
  k->protocol_payload = calloc(k->n_protocols, 1);
  if (!k->protocol_first || !k->protocol_payload)
    return -1;
  if (s->env)
    rl__plugin_set_scan(&s->env->plugins, NULL, NULL);
  for (size_t p = 0; p < k->n_protocols; p++) {
    k->protocol_first[p] = k->n_requests;
    k->protocol_payload[p] = (unsigned char)is_transport(s, k->protocols[p]);
    size_t words = k->protocol_payload[p] ? 1 : k->max_words;
    for (size_t w = 1; w <= words; w++) {
      luaL_Buffer b;
      luaL_buffinit(L, &b);
      luaL_addchar(&b, '{');
      luaL_addstring(&b, k->protocols[p]);
      luaL_addstring(&b, ": '");
      if (k->protocol_payload[p])
        luaL_addstring(&b, "', body: '{{_rl_body}}");
      for (size_t i = 1; i <= w && !k->protocol_payload[p]; i++) {
        char word[32];
        snprintf(word, sizeof word, "%s{{_rl_w%zu}}", i > 1 ? " " : "", i);
        luaL_addstring(&b, word);
      }
      luaL_addchar(&b, '\'');
      if (k->protocol_hosts[p]) {
        luaL_addstring(&b, ", host: ");
        add_quoted(&b, k->protocol_hosts[p]);
      }
      luaL_addchar(&b, '}');
      luaL_pushresult(&b);
      if (push_request(L, k, cap))
        return -1;
    }
  }
  return 0;
}

int rl__script_declare(lua_State *L, int idx, rl__script *s,
                       rl__script_class *k, int has_target, char *why,
                       size_t whylen) {
  size_t cap = 0;
  /* A class that has no host (its own or the run's) but calls others
   * (gRPC, a protocol, URLs) has no HTTP requests of its own to declare;
   * one that calls nothing else keeps them, and the compiler's "request
   * has no host" says what is missing. */
  int others = 0;
  static const char *const other_keys[] = {"hosts", "grpc", "protocols"};
  for (size_t i = 0; i < 3; i++) {
    lua_getfield(L, idx, other_keys[i]);
    others |= !lua_isnil(L, -1);
    lua_pop(L, 1);
  }
  /* No grpc table but proto objects made: it may call them (host=). */
  others |= made_protos(L) > 0;
  k->http_default = k->host || has_target || !others;
  if (k->http_default && declare_http(L, k, NULL, &cap))
    goto oom;
  lua_getfield(L, idx, "hosts");
  int rc = read_list(L, "hosts", &k->hosts, NULL, &k->n_hosts, why, whylen);
  lua_pop(L, 1);
  if (rc)
    return -1;
  for (size_t h = 0; h < k->n_hosts; h++) {
    size_t len = strlen(k->hosts[h]);
    while (len > 0 && k->hosts[h][len - 1] == '/')
      k->hosts[h][--len] = '\0'; /* "http://h:1/" is "http://h:1" */
    if (strncasecmp(k->hosts[h], "http://", 7) != 0 &&
        strncasecmp(k->hosts[h], "https://", 8) != 0) {
      snprintf(why, whylen,
               "hosts: '%s': give http://HOST:PORT or https://HOST:PORT",
               k->hosts[h]);
      return -1;
    }
    if (strchr(strchr(k->hosts[h], ':') + 3, '/')) {
      snprintf(why, whylen,
               "hosts: '%s': a host has no path (the call gives it)",
               k->hosts[h]);
      return -1;
    }
    if (declare_http(L, k, k->hosts[h], &cap))
      goto oom;
  }
  int top = lua_gettop(L);
  lua_getfield(L, idx, "grpc");
  rc = lua_isnil(L, -1) ? declare_grpc_made(L, s, k, &cap, why, whylen)
                        : declare_grpc(L, s, k, &cap, why, whylen);
  lua_settop(L, top);
  if (rc == -2)
    goto oom;
  if (rc)
    return -1;
  k->protocols_base = k->n_requests;
  if (read_max_words(L, idx, k, why, whylen))
    return -1;
  lua_getfield(L, idx, "protocols");
  rc = read_list(L, "protocols", &k->protocols, &k->protocol_hosts,
                 &k->n_protocols, why, whylen);
  lua_pop(L, 1);
  if (rc)
    return -1;
  if (declare_protocols(L, s, k, &cap))
    goto oom;
  return 0;
oom:
  snprintf(why, whylen, "out of memory");
  return -1;
}

static void free_list(char **list, size_t n) {
  for (size_t i = 0; list && i < n; i++)
    free(list[i]);
  free(list);
}

void rl__script_declared_free(rl__script_class *k) {
  for (size_t i = 0; i < k->n_requests; i++)
    free((char *)k->requests[i]);
  free(k->requests);
  free_list(k->hosts, k->n_hosts);
  free_list(k->grpc_methods, k->n_grpc);
  free(k->grpc_kinds);
  free(k->grpc_first);
  free(k->grpc_host);
  free_list(k->grpc_hosts, k->n_grpc_hosts);
  free_list(k->protocols, k->n_protocols);
  free_list(k->protocol_hosts, k->n_protocols);
  free(k->protocol_first);
  free(k->protocol_payload);
}

/* ---- lookups (worker threads: the class is read-only there) ------------ */

/* Whether url is on host (a trailing '/' of host aside): *path the rest. */
static int on_host(const char *url, const char *host, const char **path) {
  size_t len = strlen(host);
  while (len > 0 && host[len - 1] == '/')
    len--;
  if (len == 0 || strncasecmp(url, host, len) != 0 ||
      !(url[len] == '\0' || url[len] == '/' || url[len] == '?' ||
        url[len] == '#'))
    return 0;
  *path = url + len;
  return 1;
}

long rl__script_host_request(const rl__script_class *k, const char *url,
                             const char **path) {
  /* The class's own host, by URL too (Locust takes both). */
  if (k->http_default && k->host && on_host(url, k->host, path))
    return 0;
  for (size_t h = 0; h < k->n_hosts; h++)
    if (on_host(url, k->hosts[h], path))
      return (long)((size_t)RL__SCRIPT_N_METHODS * 3 *
                    (h + (size_t)k->http_default));
  return -1;
}

/* Whether `name` names the full "pkg.Service/Method": itself, "Method",
 * "Service/Method" or "pkg.Service.Method". */
static int names_method(const char *full, const char *name) {
  if (strcmp(full, name) == 0)
    return 1;
  const char *slash = strrchr(full, '/');
  if (!slash)
    return 0;
  if (strcmp(slash + 1, name) == 0)
    return 1;
  size_t svc = (size_t)(slash - full);
  const char *sv = full; /* "Service/Method": after the package */
  for (const char *c = full; c < slash; c++)
    if (*c == '.')
      sv = c + 1;
  if (strcmp(sv, name) == 0)
    return 1;
  return strlen(full) == strlen(name) && strncmp(full, name, svc) == 0 &&
         name[svc] == '.' && strcmp(slash + 1, name + svc + 1) == 0;
}

long rl__script_grpc_method(const rl__script_class *k, const char *method) {
  long found = -1;
  for (size_t i = 0; i < k->n_grpc; i++) {
    if (strcmp(k->grpc_methods[i], method) == 0)
      return (long)i;
    if (names_method(k->grpc_methods[i], method))
      found = found == -1 ? (long)i : -2;
  }
  return found;
}

long rl__script_grpc_host_block(const rl__script_class *k, const char *host) {
  if (!host || (k->grpc_host && strcmp(k->grpc_host, host) == 0))
    return 0;
  for (size_t h = 0; h < k->n_grpc_hosts; h++)
    if (strcmp(k->grpc_hosts[h], host) == 0)
      return (long)(h + 1);
  return -1;
}

long rl__script_protocol_request(const rl__script_class *k,
                                 const char *protocol, size_t words) {
  if (words < 1 || words > k->max_words)
    return -1;
  for (size_t p = 0; p < k->n_protocols; p++)
    if (strcmp(k->protocols[p], protocol) == 0)
      return k->protocol_payload[p] ? -1
                                    : (long)(k->protocol_first[p] + words - 1);
  return -1;
}

long rl__script_payload_request(const rl__script_class *k,
                                const char *protocol) {
  for (size_t p = 0; p < k->n_protocols; p++)
    if (strcmp(k->protocols[p], protocol) == 0)
      return k->protocol_payload[p] ? (long)k->protocol_first[p] : -1;
  return -1;
}

void rl__script_list_text(lua_State *L, char **list, size_t n) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (size_t i = 0; i < n; i++) {
    if (i)
      luaL_addstring(&b, ", ");
    luaL_addstring(&b, list[i]);
  }
  if (!n)
    luaL_addstring(&b, "none");
  luaL_pushresult(&b);
}

/*
 * The request calls beyond u.http (issue #23, round two; docs/lua.md):
 * u.grpc:call(method, message, opts) and u:request(protocol, text, opts).
 * Each sends one of the generic requests its class declared at load
 * (declare.c) through runtime.c's rl__script_send, which yields until
 * the response; the response object is the same as u.http's. A gRPC
 * method's shape (grpcproto.c) picks its request: a client or bidi
 * stream's list of n messages is the request declared for n, a server
 * or bidi stream's response gives its replies (r:messages()).
 */
#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#include <lua.h>

#include "script/script.h"

/* opts.name (a string or nil) and opts[hkey] as header fields (idx 0:
 * no options given); what they leave on the stack stays until the call
 * returns. */
static const char *read_opts(lua_State *L, int idx, const char *what,
                             const char *hkey, const rl_kv **headers,
                             size_t *n_headers) {
  *headers = NULL;
  *n_headers = 0;
  if (idx == 0 || lua_isnil(L, idx))
    return NULL;
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_getfield(L, idx, "name");
  if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING)
    luaL_error(L, "%s: name= is a %s: give a string", what,
               luaL_typename(L, -1));
  const char *name = lua_tostring(L, -1);
  lua_getfield(L, idx, hkey);
  if (!lua_isnil(L, -1))
    rl__script_headers(L, -1, what, headers, n_headers);
  return name;
}

/* The message at idx as JSON text, left on the stack (a table: proto3
 * JSON of it, {} an empty message; a string: as given; nil: {}). */
static const char *message_text(lua_State *L, int idx, const char *what,
                                const char *which) {
  if (lua_type(L, idx) == LUA_TTABLE) {
    lua_getglobal(L, "rl"); /* rl.json_encode: {} is an object */
    lua_getfield(L, -1, "json_encode");
    lua_pushvalue(L, idx);
    lua_call(L, 1, 1);
    lua_replace(L, -2);
  } else if (lua_type(L, idx) == LUA_TSTRING) {
    lua_pushvalue(L, idx);
  } else if (lua_isnoneornil(L, idx)) {
    lua_pushliteral(L, "{}");
  } else {
    luaL_error(L,
               "%s: %s is a %s: give a table ({name = \"x\"}) or a JSON "
               "text",
               what, which, luaL_typename(L, idx));
  }
  return lua_tostring(L, -1);
}

/* A client or bidi stream's messages at idx as one JSON array text, left
 * on the stack: a list of messages, or a message alone (a table without
 * [1], a JSON text), a list of one. */
static void list_text(lua_State *L, int idx, const char *what,
                      const char *method) {
  int list = lua_type(L, idx) == LUA_TTABLE && lua_objlen(L, idx) > 0;
  size_t n = list ? lua_objlen(L, idx) : 1;
  if (n > RL__SCRIPT_MAX_MESSAGES)
    luaL_error(L, "%s: %s: more than %d messages in a call", what, method,
               RL__SCRIPT_MAX_MESSAGES);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addchar(&b, '[');
  for (size_t m = 0; m < n; m++) {
    char which[32];
    snprintf(which, sizeof which, "message %zu", m + 1);
    if (m)
      luaL_addstring(&b, ", ");
    if (list)
      lua_rawgeti(L, idx, (int)m + 1);
    (void)message_text(L, list ? lua_gettop(L) : idx, what, which);
    if (list)
      lua_remove(L, -2);
    luaL_addvalue(&b); /* the text, on top of the buffer's own */
  }
  luaL_addchar(&b, ']');
  luaL_pushresult(&b);
}

/* The stream options of a call (opts at idx, 0: none) into vars, each ""
 * when not given (a user's variables outlive the call), as the method's
 * shape (kind) takes them: stream_call_count (a whole number >= 1),
 * stream_interval (seconds, or a text such as "50ms": the grpc plugin
 * reads it), stream_ping_pong (a boolean), stream_call_duration (as
 * stream_interval, > 0: the call's length). n: vars' pairs so far;
 * returns the new count. Texts made are left on the stack. */
static size_t stream_opts(lua_State *L, int idx, int kind, const char *what,
                          const char *method, const char **vars, size_t n) {
  static const char *const keys[4] = {"stream_call_count", "stream_interval",
                                      "stream_ping_pong",
                                      "stream_call_duration"};
  static const char *const var[4] = {"_rl_scount", "_rl_sinterval",
                                     "_rl_spingpong", "_rl_sduration"};
  const int bidi = RL__SCRIPT_GRPC_CLIENT | RL__SCRIPT_GRPC_SERVER;
  const char *shape = kind == bidi                    ? "bidirectional"
                      : kind & RL__SCRIPT_GRPC_CLIENT ? "client streaming"
                      : kind & RL__SCRIPT_GRPC_SERVER ? "server streaming"
                                                      : "unary";
  for (int i = 0; i < 4; i++) {
    int takes = i == 0 || i == 3 ? kind != 0
                : i == 1         ? (kind & RL__SCRIPT_GRPC_CLIENT) != 0
                                 : kind == bidi;
    if (idx)
      lua_getfield(L, idx, keys[i]);
    else
      lua_pushnil(L);
    int t = lua_type(L, -1);
    if (t != LUA_TNIL && !takes)
      luaL_error(L, "%s: %s: for a %s; %s is %s", what, keys[i],
                 i == 0 || i == 3 ? "streaming method"
                 : i == 1         ? "method the client streams to"
                                  : "bidirectional method",
                 method, shape);
    if (!takes) {
      lua_pop(L, 1);
      continue;
    }
    if (t == LUA_TNIL) {
      lua_pop(L, 1);
      lua_pushliteral(L, "");
    } else if (i == 0) {
      lua_Number c = lua_tonumber(L, -1);
      if (t != LUA_TNUMBER || c < 1 || c != (lua_Number)(long long)c ||
          c > 1e15)
        luaL_error(
            L, "%s: stream_call_count: a whole number >= 1, not %s", what,
            t == LUA_TNUMBER ? lua_tostring(L, -1) : luaL_typename(L, -1));
      char num[32];
      snprintf(num, sizeof num, "%lld", (long long)c);
      lua_pop(L, 1);
      lua_pushstring(L, num);
    } else if (i == 1 || i == 3) {
      /* A number: seconds (as rl.sleep); a text: the plugin's duration
       * (which refuses a call's 0 or its --timeout's or more). */
      lua_Number v = t == LUA_TNUMBER ? lua_tonumber(L, -1) : 1;
      if (i == 1 ? !(v >= 0) : !(v > 0))
        luaL_error(L, "%s: %s: seconds %s 0", what, keys[i],
                   i == 1 ? ">=" : ">");
      if (t == LUA_TSTRING) {
        const char *d = lua_tostring(L, -1);
        if (!*d || strspn(d, "0123456789.nsumh") != strlen(d) ||
            (*d < '0' || *d > '9'))
          luaL_error(L,
                     "%s: %s: '%s': expected a duration "
                     "(0.05, \"50ms\", \"1m30s\")",
                     what, keys[i], d);
      } else if (t != LUA_TNUMBER) {
        luaL_error(L,
                   "%s: %s: seconds or a duration text, not "
                   "a %s",
                   what, keys[i], luaL_typename(L, -1));
      }
      lua_pushstring(L, lua_tostring(L, -1));
      lua_remove(L, -2);
    } else {
      if (t != LUA_TBOOLEAN)
        luaL_error(L, "%s: stream_ping_pong: true or false, not a %s", what,
                   luaL_typename(L, -1));
      int on = lua_toboolean(L, -1);
      lua_pop(L, 1);
      lua_pushstring(L, on ? "true" : "false");
    }
    vars[2 * n] = var[i];
    vars[2 * n + 1] = lua_tostring(L, -1);
    n++;
  }
  return n;
}

/* u.grpc:call([proto,] method, message, {name=, metadata=, host=,
 * stream_call_count=, stream_interval=, stream_ping_pong=,
 * stream_call_duration=}): method as
 * declared ("pkg.Service/Method", or "Method", "Service/Method" when that
 * names one; proto: an rl.grpc.proto object, whose file's method it is).
 * A client or bidi stream's message is a list of messages (one message
 * alone: a list of one); a server or bidi stream's response gives its
 * replies with r:messages(). */
static int grpc_call(lua_State *L, int stream);

/* The method at 3 named in the proto object at 2 (a short name made
 * full), put in 3's place; one the object lacks is a Lua error naming
 * its methods. For a class with no grpc table, whose methods are every
 * proto object's: the object says which file's. */
static void proto_method(lua_State *L, const char *what) {
  const char *method = luaL_checkstring(L, 3);
  lua_getfield(L, 2, "names");
  lua_getfield(L, -1, method);
  if (lua_type(L, -1) == LUA_TSTRING) {
    lua_replace(L, 3);
    lua_pop(L, 1);
    return;
  }
  int ambiguous = lua_isboolean(L, -1);
  lua_getfield(L, 2, "file");
  lua_getglobal(L, "table"); /* the list as "a, b, c" */
  lua_getfield(L, -1, "concat");
  lua_getfield(L, 2, "methods");
  lua_pushliteral(L, ", ");
  lua_call(L, 2, 1);
  luaL_error(L,
             ambiguous ? "%s: '%s' names more than one method of %s (give "
                         "Service/Method): %s"
                       : "%s: '%s' is not a method of %s: %s",
             what, method, lua_tostring(L, -3), lua_tostring(L, -1));
}

static int l_grpc_call(lua_State *L) { return grpc_call(L, 0); }

/* u.grpc:stream(...): as u.grpc:call, for a server or bidi streaming
 * method, but it returns at once, the call open: its r:messages() is an
 * iterator over the replies as they come (runtime.c). */
static int l_grpc_stream(lua_State *L) { return grpc_call(L, 1); }

static int grpc_call(lua_State *L, int stream) {
  const char *what = stream ? "u.grpc:stream" : "u.grpc:call";
  rl__script_class *k = rl__script_running_class(L, what);
  if (rl__script_is_proto(L, 2)) {
    if (k->grpc_runtime)
      proto_method(L, what); /* the method's full name in its place */
    lua_remove(L, 2);        /* the method is looked up among the class's */
  }
  int opts = lua_gettop(L) >= 4 ? 4 : 0;
  const char *method = luaL_checkstring(L, 2);
  long i = rl__script_grpc_method(k, method);
  if (i < 0) {
    rl__script_list_text(L, k->grpc_methods, k->n_grpc);
    return luaL_error(L,
                      i == -2 ? "%s: '%s' names more than one method class "
                                "%s declares (give Service/Method): %s"
                              : "%s: '%s' is not a method class %s declares "
                                "(grpc = {methods = {...}}: %s)",
                      what, method, k->name, lua_tostring(L, -1));
  }
  int kind = k->grpc_kinds[i];
  if (stream && !(kind & RL__SCRIPT_GRPC_SERVER))
    return luaL_error(L,
                      "%s: %s does not stream its replies (%s): call it with "
                      "u.grpc:call",
                      what, k->grpc_methods[i],
                      kind ? "client streaming" : "unary");
  const char *vars[10];
  size_t n = 1, req = k->grpc_first[i];
  luaL_checkstack(L, 16, what);
  if (opts && !lua_isnil(L, opts))
    luaL_checktype(L, opts, LUA_TTABLE);
  if (kind & RL__SCRIPT_GRPC_CLIENT) {
    list_text(L, 3, what, k->grpc_methods[i]);
    vars[0] = "_rl_list";
  } else {
    message_text(L, 3, what, "the message");
    vars[0] = "_rl_msg";
  }
  vars[1] = lua_tostring(L, -1);
  n = stream_opts(L, opts && lua_istable(L, opts) ? opts : 0, kind, what,
                  k->grpc_methods[i], vars, n);
  const rl_kv *md;
  size_t n_md;
  const char *name = read_opts(L, opts, what, "metadata", &md, &n_md);
  const char *rt_host = NULL;
  if (opts && lua_istable(L, opts)) {
    /* host=: the grpc table's host or one of its hosts (declared), else
     * a target added while the run goes (any "h:p" or URL). */
    lua_getfield(L, opts, "host");
    if (!lua_isnil(L, -1)) {
      if (lua_type(L, -1) != LUA_TSTRING || !*lua_tostring(L, -1))
        return luaL_error(
            L, "%s: host= is %s%s: give \"host:port\"", what,
            lua_type(L, -1) == LUA_TSTRING ? "" : "a ",
            lua_type(L, -1) == LUA_TSTRING ? "empty" : luaL_typename(L, -1));
      const char *host = lua_tostring(L, -1);
      long block = k->grpc_runtime ? -1 : rl__script_grpc_host_block(k, host);
      if (block < 0)
        rt_host = host; /* stays on the stack until the send */
      else
        req += (size_t)block * k->grpc_block;
    }
  }
  if (k->grpc_runtime && !rt_host)
    return luaL_error(L,
                      "%s: %s: give host = \"host:port\" (class %s has no "
                      "grpc table: its calls go to the host each names)",
                      what, k->grpc_methods[i], k->name);
  uint64_t timeout_ns = opts ? rl__script_timeout(L, opts, what) : 0;
  /* Taken by the send (either kind) before anything it does can fail. */
  rl__script_next_host = rt_host;
  if (stream)
    return rl__script_open_stream(L, what, req, name, md, n_md, vars, n,
                                  timeout_ns);
  if (kind & RL__SCRIPT_GRPC_SERVER)
    rl__script_reply_is_stream(L);
  else
    rl__script_next_message = 1;
  return rl__script_send_timed(L, what, req, name, md, n_md, vars, n,
                               timeout_ns);
}

void rl__script_make_grpc(lua_State *L) {
  lua_newtable(L);
  lua_pushcfunction(L, l_grpc_call);
  lua_setfield(L, -2, "call");
  lua_pushcfunction(L, l_grpc_stream);
  lua_setfield(L, -2, "stream");
}

/* u:request(protocol, "GET k" or {"SET", "k", "a value"}, {name=}): the
 * text split at blanks, or the list's items as they are (a blank inside
 * one stays in it); its stats name by default the first word. The words
 * and their variables' names ("_rl_w1"...) stay on the stack until the
 * send; vars (a userdata there) points at them. */
/* u:request of a transport plugin's protocol (udp): the text is one
 * payload, sent as it is (blanks and all); the stats name by default the
 * plugin's (udp: its host:port). */
static int payload_request(lua_State *L, rl__script_class *k, size_t req,
                           const char *proto, int args) {
  const char *what = "u:request";
  if (lua_type(L, 3) != LUA_TSTRING)
    return luaL_error(L,
                      "%s: '%s' is a transport plugin's protocol: its "
                      "request is one payload text, not a %s",
                      what, proto, luaL_typename(L, 3));
  (void)k;
  const rl_kv *h;
  size_t nh;
  const char *name = read_opts(L, args >= 4 ? 4 : 0, what, "headers", &h, &nh);
  uint64_t timeout_ns = args >= 4 ? rl__script_timeout(L, 4, what) : 0;
  const char *vars[2] = {"_rl_body", lua_tostring(L, 3)};
  return rl__script_send_timed(L, what, req, name, h, nh, vars, 1, timeout_ns);
}

/* How many words the text has (runs of non-blanks). */
static size_t count_words(const char *c) {
  size_t n = 0;
  while (*c) {
    while (*c == ' ' || *c == '\t')
      c++;
    if (!*c)
      break;
    n++;
    while (*c && *c != ' ' && *c != '\t')
      c++;
  }
  return n;
}

int rl__script_lua_request(lua_State *L) {
  const char *what = "u:request";
  rl__script_class *k = rl__script_running_class(L, what);
  const char *proto = luaL_checkstring(L, 2);
  int args = lua_gettop(L);
  long payload = rl__script_payload_request(k, proto);
  if (payload >= 0)
    return payload_request(L, k, (size_t)payload, proto, args);
  size_t n = 0, want;
  if (lua_type(L, 3) == LUA_TSTRING)
    want = count_words(lua_tostring(L, 3));
  else if (lua_type(L, 3) == LUA_TTABLE)
    want = lua_objlen(L, 3);
  else
    return luaL_error(L,
                      "%s: the request is a %s: give a text (\"GET k\") or "
                      "a list of words",
                      what, luaL_typename(L, 3));
  if (want > k->max_words)
    return luaL_error(L,
                      "%s: %d words, class %s declares at most %d (max_words "
                      "= N in the class, up to %d, declares more)",
                      what, (int)want, k->name, (int)k->max_words,
                      RL__SCRIPT_WORDS_LIMIT);
  /* Each word's text and its variable's name on the stack. */
  luaL_checkstack(L, (int)(2 * want) + 8, what);
  const char **vars = lua_newuserdata(L, (2 * want + 1) * sizeof *vars);
  if (lua_type(L, 3) == LUA_TSTRING) {
    for (const char *c = lua_tostring(L, 3); *c && n < want;) {
      while (*c == ' ' || *c == '\t')
        c++;
      const char *w = c;
      while (*c && *c != ' ' && *c != '\t')
        c++;
      vars[2 * n] = lua_pushfstring(L, "_rl_w%d", (int)n + 1);
      lua_pushlstring(L, w, (size_t)(c - w));
      vars[2 * n + 1] = lua_tostring(L, -1);
      n++;
    }
  } else {
    for (size_t i = 0; i < want; i++) {
      vars[2 * n] = lua_pushfstring(L, "_rl_w%d", (int)n + 1);
      lua_rawgeti(L, 3, (int)i + 1);
      if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
        return luaL_error(L, "%s: word %d is a %s: give strings", what,
                          (int)i + 1, luaL_typename(L, -1));
      vars[2 * n + 1] = lua_tostring(L, -1);
      n++;
    }
  }
  if (n == 0)
    return luaL_error(L, "%s: an empty request", what);
  long req = rl__script_protocol_request(k, proto, n);
  if (req < 0) {
    rl__script_list_text(L, k->protocols, k->n_protocols);
    return luaL_error(L,
                      "%s: '%s' is not a protocol class %s declares "
                      "(protocols = {...}: %s)",
                      what, proto, k->name, lua_tostring(L, -1));
  }
  const rl_kv *h;
  size_t nh;
  const char *name = read_opts(L, args >= 4 ? 4 : 0, what, "headers", &h, &nh);
  uint64_t timeout_ns = args >= 4 ? rl__script_timeout(L, 4, what) : 0;
  /* Not the plugin's default name: that would be the template's. */
  if (!name)
    name = vars[1];
  return rl__script_send_timed(L, what, (size_t)req, name, h, nh, vars, n,
                               timeout_ns);
}

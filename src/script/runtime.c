/*
 * Lua users on the worker threads (script.h): the thread's Lua state,
 * made when its first Lua user starts, and each user's phases as
 * coroutines. A phase (on_start, a task, on_stop) is a new coroutine
 * running the class's function with the user's table; a request
 * (u.http:get...) or rl.sleep sends or sleeps through <rpcload/user.h>
 * and yields; the done or woke callback resumes it with the response.
 * The coroutine's end (or its error, counted) ends the phase.
 *
 * Everything here runs on the worker thread owning the user; the states'
 * list is the only thing shared (under the script's lock).
 */
#include <lauxlib.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <lualib.h>

#include "script/safety.h"
#include "script/script.h"

/* Finished coroutines a thread keeps for its users' next phases: enough
 * for the users whose phases end in one loop turn, few enough to hold
 * little (a LuaJIT thread and its stack, ~1 KiB each). */
#define RL__SCRIPT_IDLE_COROUTINES 64

struct rl__script_state {
  lua_State *L;
  rl__script_guard guard; /* the watchdog and the cap (safety.h) */
  pthread_t thread;
  rl__script *s;
  int broken;      /* the script failed to load here: its users do nothing */
  int classes_ref; /* registry: {[class index + 1] = tasks array} */
  int http_ref;    /* the u.http table every user shares */
  int grpc_ref;    /* the u.grpc table (calls.c) */
  int resp_mt_ref; /* the responses' metatable */
  /* A unary or client stream gRPC call's responses' metatable: the
   * reply's fields are read through it too (r.message). */
  int msg_mt_ref;
  lua_State *listener; /* rl.events.request's thread (events.c), or NULL */
  /* Finished coroutines, for the thread's next phases (end_phase). */
  struct {
    lua_State *co;
    int ref; /* registry: what anchors it */
  } idle[RL__SCRIPT_IDLE_COROUTINES];
  size_t n_idle;
  struct rl__script_state *next;
};

enum { REPLY_STREAM = 1, REPLY_MESSAGE = 2 };

/* A Lua user: what its rl_user keeps (rl_user_data). */
typedef struct luser {
  rl__script_state *st;
  rl__script_class *k;
  rl_user *cu;   /* valid during the class's callbacks, set at each */
  int u_ref;     /* the user's table (registry) */
  int co_ref;    /* the phase's coroutine (registry), or LUA_NOREF */
  lua_State *co; /* its thread */
  /* The response whose outcome is still open: the one just handed to the
   * coroutine, until it yields again or ends. A registry slot the user
   * keeps for its life (false when none is open): a luaL_ref and unref
   * per request cost ~450 instructions (bench/README.md). */
  int resp_ref;
  const rl_send_result *res;
  int ending;    /* the phase ends at the coroutine's next yield */
  int no_wait;   /* u:interrupt's reschedule: no wait after this task */
  int where_ref; /* a driven class's phase name (taskset.c), or NOREF */
  /* The next send's response, the one in flight's: REPLY_STREAM, a gRPC
   * server or bidi stream's (r:messages() gives its replies);
   * REPLY_MESSAGE, another gRPC call's (its reply's fields on it); 0. */
  int stream_next, stream_reply;
  /* u.grpc:stream's open call (one at a time): its object, the replies
   * that came and the iterator has not taken (JSON texts in a table,
   * head..tail-1), and where it is. Its send's arg is &lu->stream. */
  struct {
    int obj_ref, q_ref; /* registry; LUA_NOREF when none is open */
    int head, tail;
    uint8_t open;      /* sent, its done not yet called */
    uint8_t waiting;   /* the coroutine waits in the iterator */
    uint8_t cancelled; /* the task left it: r:close(), its phase's end */
    uint8_t holding;   /* the plugin was told to hold (flow control) */
  } stream;
} luser;

/* An open stream's replies the iterator has not taken yet before the
 * plugin is told to hold the call (rl_user_hold_messages): the memory a
 * slow task costs is this many messages and one HTTP/2 window. */
#define RL__SCRIPT_STREAM_AHEAD 16

static _Thread_local rl__script_state *tls_state;
/* The user whose coroutine runs now on this thread, or NULL. */
static _Thread_local luser *tls_current;

/* rl.fail's error value: ends the task without counting a Lua error. */
static const char fail_key = 0;

/* ---- errors --------------------------------------------------------------- */

void rl__script_error_seen(rl__script *s, const char *text) {
  pthread_mutex_lock(&s->lock);
  rl__script_err *e = s->errs, *last = NULL;
  for (; e && strcmp(e->text, text) != 0; e = e->next)
    last = e;
  if (!e && (e = calloc(1, sizeof *e)) && (e->text = strdup(text))) {
    if (last)
      last->next = e;
    else
      s->errs = e;
    fprintf(stderr, "rpcload: Lua error (counted; the user goes on): %s\n",
            text);
  } else if (!e || !e->text) {
    free(e);
    e = NULL;
  }
  if (e)
    e->count++;
  pthread_mutex_unlock(&s->lock);
}

/* ---- the thread's state ----------------------------------------------------- */

static void make_http(lua_State *L);
static void make_resp_mt(lua_State *L);
static void make_msg_mt(lua_State *L);

/* Loads the script into a new state on this thread and finds each class's
 * tasks; a state that cannot is `broken` (said once). */
static rl__script_state *state_new(rl__script *s) {
  rl__script_state *st = calloc(1, sizeof *st);
  if (!st || !(st->L = rl__script_guard_open(&st->guard, &s->limits))) {
    free(st);
    return NULL;
  }
  lua_State *L = st->L;
  st->s = s;
  st->thread = pthread_self();
  rl__script_open_lib(L);
  rl__script_bind(L, s);
  if (rl__script_run_file(L, s->path)) {
    fprintf(stderr,
            "rpcload: %s (on a worker thread: its Lua users do "
            "nothing)\n",
            lua_tostring(L, -1));
    lua_pop(L, 1);
    st->broken = 1;
    return st;
  }
  lua_newtable(L);
  for (size_t i = 0; i < s->n_classes && !st->broken; i++) {
    rl__script_class *k = &s->classes[i];
    lua_getglobal(L, k->name);
    int n = lua_type(L, -1) == LUA_TTABLE ? rl__script_tasks(L, -1) : -1;
    if (n != (int)k->c.n_tasks) {
      fprintf(stderr,
              "rpcload: %s: class %s is not the one the main thread loaded "
              "(a script must declare the same classes on every load)\n",
              s->path, k->name);
      st->broken = 1;
    } else {
      lua_rawseti(L, -3, (int)i + 1);
    }
    lua_pop(L, 1);
  }
  st->classes_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  make_http(L);
  st->http_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  rl__script_make_grpc(L);
  st->grpc_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  make_resp_mt(L);
  st->resp_mt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  make_msg_mt(L);
  st->msg_mt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return st;
}

/* This thread's state for s, made on first use. */
static rl__script_state *state_for(rl__script *s) {
  if (tls_state && tls_state->s == s)
    return tls_state;
  pthread_mutex_lock(&s->lock);
  rl__script_state *st = s->states;
  while (st && !pthread_equal(st->thread, pthread_self()))
    st = st->next;
  if (!st && (st = state_new(s))) {
    st->next = s->states;
    s->states = st;
  }
  pthread_mutex_unlock(&s->lock);
  tls_state = st;
  return st;
}

lua_State *rl__script_thread_listener(rl__script *s, rl__script_guard **g) {
  rl__script_state *st = tls_state;
  if (!st || st->s != s || st->broken)
    return NULL;
  if (!st->listener) {
    /* A thread of its own: a request can end while a user's coroutine
     * runs (a send refused at once), so L itself may be busy. */
    st->listener = lua_newthread(st->L);
    luaL_ref(st->L, LUA_REGISTRYINDEX); /* anchored until lua_close */
  }
  *g = &st->guard;
  return st->listener;
}

void rl__script_states_free(rl__script *s) {
  for (rl__script_state *st = s->states, *next; st; st = next) {
    next = st->next;
    lua_close(st->L);
    free(st);
  }
  s->states = NULL;
  tls_state = NULL;
}

/* ---- phases ------------------------------------------------------------------ */

/* Ends the phase. Its coroutine, when it returned, goes to the thread's
 * idle ones for the next phase of any of its users (a finished LuaJIT
 * thread, status 0 and no C frame, runs a new function with lua_resume):
 * a thread made and collected per task was a tenth of a Lua request's
 * instructions (bench/README.md); kept by the thread rather than by the
 * user, an idle user holds none. One that died in an error, or is left
 * suspended (the user stopping), is dropped. */
static void stream_cancel(luser *lu);

static void end_phase(luser *lu, int reusable) {
  rl__script_state *st = lu->st;
  /* A stream the task left open (a break, an error): cancelled, counted
   * as the task chose (a success); its done comes, the phase then ends. */
  if (lu->stream.open)
    stream_cancel(lu);
  if (reusable && lu->co && st->n_idle < RL__SCRIPT_IDLE_COROUTINES) {
    lua_settop(lu->co, 0);
    st->idle[st->n_idle].co = lu->co;
    st->idle[st->n_idle++].ref = lu->co_ref;
  } else if (lu->co_ref != LUA_NOREF) {
    luaL_unref(st->L, LUA_REGISTRYINDEX, lu->co_ref);
  }
  lu->co_ref = LUA_NOREF;
  lu->co = NULL;
  lu->ending = 0;
  if (lu->k->wait_fn && !lu->no_wait &&
      rl_user_phase(lu->cu, NULL) == RL_USER_TASK)
    rl__script_ask_wait(lu->st->L, &lu->st->guard, lu->k, lu->u_ref, lu->cu);
  lu->no_wait = 0;
  rl_user_task_done(lu->cu);
}

/* What the phase was, for an error's text. */
static void phase_name(const luser *lu, char *out, size_t len) {
  size_t task = 0;
  int p = rl_user_phase(lu->cu, &task);
  if (lu->where_ref != LUA_NOREF) { /* inside a task set */
    lua_rawgeti(lu->st->L, LUA_REGISTRYINDEX, lu->where_ref);
    snprintf(out, len, "%s.%s", lu->k->name, lua_tostring(lu->st->L, -1));
    lua_pop(lu->st->L, 1);
    return;
  }
  snprintf(out, len, "%s.%s", lu->k->name,
           p == RL_USER_ON_START  ? "on_start"
           : p == RL_USER_ON_STOP ? "on_stop"
                                  : lu->k->task_names[task]);
}

/* Resumes the phase's coroutine with the nargs values on its stack; then
 * it waits (yielded in a request or a sleep), or the phase ends. */
static void resume(luser *lu, int nargs) {
  lua_State *co = lu->co;
  luser *outer = tls_current;
  tls_current = lu;
  rl__script_next_no_event = 0;
  rl__script_next_host = NULL;
  rl__script_next_message = 0;
  rl__script_guard_arm(&lu->st->guard, co);
  int rc = lua_resume(co, nargs);
  rl__script_guard_disarm(&lu->st->guard, lu->st->L);
  tls_current = outer;
  if (rc == LUA_YIELD && !lu->ending)
    return;
  if (rc != 0 && rc != LUA_YIELD &&
      !(lua_islightuserdata(co, -1) && lua_touserdata(co, -1) == &fail_key)) {
    char where[256], text[1200], msg[900];
    phase_name(lu, where, sizeof where);
    snprintf(text, sizeof text, "%s: %s", where,
             rl__script_guard_error(&lu->st->guard, co, rc,
                                    lua_tostring(co, -1), msg, sizeof msg));
    rl__script_error_seen(lu->k->script, text);
    rl_user_report_error(lu->cu, msg); /* Locust's user_error, to listeners */
  }
  end_phase(lu, rc == 0);
}

static luser *user_new(rl_user *cu, rl__script_class *k) {
  rl__script_state *st = state_for(k->script);
  if (!st || st->broken)
    return NULL;
  luser *lu = calloc(1, sizeof *lu);
  if (!lu)
    return NULL;
  lua_State *L = st->L;
  lu->st = st;
  lu->k = k;
  lu->co_ref = lu->resp_ref = lu->where_ref = LUA_NOREF;
  lu->stream.obj_ref = lu->stream.q_ref = LUA_NOREF;
  lua_newtable(L);
  lua_pushnumber(L, (lua_Number)rl_user_id(cu));
  lua_setfield(L, -2, "id");
  lua_rawgeti(L, LUA_REGISTRYINDEX, st->http_ref);
  lua_setfield(L, -2, "http");
  lua_rawgeti(L, LUA_REGISTRYINDEX, st->grpc_ref);
  lua_setfield(L, -2, "grpc");
  lua_pushcfunction(L, rl__script_lua_request);
  lua_setfield(L, -2, "request");
  rl__script_push_interrupt(L); /* taskset.c's: out of a set, if any */
  lua_setfield(L, -2, "interrupt");
  lu->u_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushboolean(L, 0);
  lu->resp_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  rl_user_set_data(cu, lu);
  return lu;
}

void rl__script_phase(rl_user *cu, void *arg) {
  rl__script_class *k = arg;
  luser *lu = rl_user_data(cu);
  if (!lu && !(lu = user_new(cu, k))) {
    rl_user_task_done(cu); /* said when the state failed */
    return;
  }
  lu->cu = cu;
  lua_State *L = lu->st->L;
  size_t task = 0;
  int p = rl_user_phase(cu, &task);
  lua_State *co;
  if (lu->st->n_idle > 0) {
    lu->st->n_idle--;
    co = lu->st->idle[lu->st->n_idle].co;
    lu->co_ref = lu->st->idle[lu->st->n_idle].ref;
  } else {
    co = lua_newthread(L);
    lu->co_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  lu->co = co;
  if (k->driven) { /* taskset.c's driver picks and runs the phase */
    rl__script_push_driver(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, lu->u_ref);
    lua_pushinteger(L, p);
    lua_pushinteger(L, (lua_Integer)task + 1);
    lua_getglobal(L, k->name);
    lua_rawgeti(L, LUA_REGISTRYINDEX, lu->st->classes_ref);
    lua_rawgeti(L, -1, (int)k->index + 1);
    lua_replace(L, -2);
    lua_xmove(L, co, 6);
    resume(lu, 5);
    return;
  }
  if (p == RL_USER_TASK) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, lu->st->classes_ref);
    lua_rawgeti(L, -1, (int)k->index + 1);
    lua_rawgeti(L, -1, (int)task + 1);
    lua_rawgeti(L, -1, 1);
    lua_replace(L, -4);
    lua_pop(L, 2);
  } else {
    lua_getglobal(L, k->name);
    lua_getfield(L, -1, p == RL_USER_ON_START ? "on_start" : "on_stop");
    lua_replace(L, -2);
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, lu->u_ref);
  lua_xmove(L, co, 2);
  resume(lu, 1);
}

void rl__script_free_user(void *data, void *arg) {
  (void)arg;
  luser *lu = data;
  lua_State *L = lu->st->L;
  luaL_unref(L, LUA_REGISTRYINDEX, lu->u_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, lu->co_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, lu->resp_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, lu->where_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, lu->stream.obj_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, lu->stream.q_ref);
  free(lu);
}

/* The user whose coroutine is L, or a Lua error naming `what`. */
static luser *running_user(lua_State *L, const char *what) {
  luser *lu = tls_current;
  if (!lu || lu->co != L)
    luaL_error(L,
               "%s: only inside a user's on_start, task or on_stop (not at "
               "load, nor in a coroutine of the script's own)",
               what);
  return lu;
}

/* ---- requests ------------------------------------------------------------ */

/* The done callback of a request: the response as a table, handed to the
 * coroutine, whose outcome stays open (r:failure) until it yields again
 * or ends; the request is counted when this returns. */
static void request_done(rl_user *cu, const rl_send_result *res, void *arg) {
  luser *lu = arg;
  lu->cu = cu;
  lua_State *co = lu->co;
  lua_createtable(co, 0, 8);
  lua_pushinteger(co, res->status);
  lua_setfield(co, -2, "status");
  lua_pushlstring(co, res->body, res->body_len);
  lua_setfield(co, -2, "body");
  lua_pushboolean(co, res->error == NULL);
  lua_setfield(co, -2, "ok");
  if (res->error) {
    lua_pushstring(co, res->error);
    lua_setfield(co, -2, "error");
  }
  lua_pushstring(co, res->name);
  lua_setfield(co, -2, "name");
  lua_pushnumber(co, (lua_Number)res->response_time_ns / 1e6);
  lua_setfield(co, -2, "elapsed");
  if (lu->stream_reply == REPLY_STREAM) {
    lua_pushboolean(co, 1);
    lua_setfield(co, -2, "stream");
  }
  lua_rawgeti(co, LUA_REGISTRYINDEX,
              lu->stream_reply == REPLY_MESSAGE ? lu->st->msg_mt_ref
                                                : lu->st->resp_mt_ref);
  lu->stream_reply = 0;
  lua_setmetatable(co, -2);
  lua_pushvalue(co, -1);
  lua_rawseti(co, LUA_REGISTRYINDEX, lu->resp_ref);
  lu->res = res;
  resume(lu, 1);
  lua_pushboolean(lu->st->L, 0);
  lua_rawseti(lu->st->L, LUA_REGISTRYINDEX, lu->resp_ref);
  lu->res = NULL;
}

/* u.http:METHOD(path, opts): upvalue 1 the method's index. */
static int l_request(lua_State *L) {
  int m = (int)lua_tointeger(L, lua_upvalueindex(1));
  /* "u.http:get", for errors: made by hand, as snprintf cost a Lua request
   * ~600 instructions of its ~18,000 (bench/README.md). */
  char what[32] = "u.http:";
  size_t i = 7;
  for (const char *c = rl__script_methods[m]; *c && i < sizeof what - 1; c++)
    what[i++] = (char)(*c | 0x20);
  what[i] = 0;
  luser *lu = running_user(L, what);
  const char *url = luaL_checkstring(L, 2), *path = url;
  size_t base = 0;
  /* A URL on a host not declared: its "scheme://host[:port]", the host
   * of a run-time target (rl_send_opts.host). Copied here: the stack's
   * next slots are the call's options. */
  const char *rt_host = NULL;
  char rt_buf[512];
  if (url[0] != '/') {
    long first = rl__script_host_request(lu->k, url, &path);
    if (first < 0 && (lu->k->http_default || lu->k->n_hosts) &&
        (strncasecmp(url, "http://", 7) == 0 ||
         strncasecmp(url, "https://", 8) == 0)) {
      const char *h = strstr(url, "://") + 3;
      size_t hl = strcspn(h, "/?#"), len = (size_t)(h - url) + hl;
      if (hl > 0 && len < sizeof rt_buf) {
        memcpy(rt_buf, url, len);
        rt_buf[len] = '\0';
        rt_host = rt_buf;
        path = h + hl;
        first = 0; /* the class's first HTTP requests, to that host */
      }
    }
    if (first < 0) {
      rl__script_list_text(L, lu->k->hosts, lu->k->n_hosts);
      return luaL_error(L,
                        "%s: '%s': give a path starting with '/' (to the "
                        "class's host, else --host) or a URL on one of the "
                        "class's hosts = {...} (declared: %s)",
                        what, url, lua_tostring(L, -1));
    }
    base = (size_t)first;
  } else if (!lu->k->http_default) {
    return luaL_error(L,
                      "%s: '%s': class %s has no host for a path: give it "
                      "host = ..., or the run --host, or call a URL on one "
                      "of its hosts = {...}",
                      what, url, lu->k->name);
  }
  const char *name = NULL, *body = NULL;
  const rl_kv *headers = NULL;
  size_t n_headers = 0;
  int variant = RL__SCRIPT_PLAIN;
  uint64_t timeout_ns = 0;
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    timeout_ns = rl__script_timeout(L, 3, what);
    lua_getfield(L, 3, "name");
    name = lua_tostring(L, -1);
    lua_getfield(L, 3, "headers");
    if (!lua_isnil(L, -1))
      rl__script_headers(L, -1, what, &headers, &n_headers);
    lua_getfield(L, 3, "body");
    if (!lua_isnil(L, -1)) {
      body = luaL_checkstring(L, -1);
      variant = RL__SCRIPT_BODY;
    }
    lua_getfield(L, 3, "json");
    if (!lua_isnil(L, -1)) {
      if (body)
        return luaL_error(L, "%s: body= and json= both given: one", what);
      lua_getglobal(L, "rl");
      lua_getfield(L, -1, "json_encode");
      lua_pushvalue(L, -3);
      lua_call(L, 1, 1);
      body = lua_tostring(L, -1);
      variant = RL__SCRIPT_JSON;
    }
  }
  /* The declared requests' path is "/{{_rl_path}}": a URL's "" or "?q"
   * after its host is "/" or "/?q". */
  const char *vars[4] = {"_rl_path", path[0] == '/' ? path + 1 : path,
                         "_rl_body", body ? body : ""};
  rl__script_next_host = rt_host;
  return rl__script_send_timed(L, what, base + (size_t)m * 3 + (size_t)variant,
                               name ? name : url, headers, n_headers, vars, 2,
                               timeout_ns);
}

rl__script_class *rl__script_running_class(lua_State *L, const char *what) {
  return running_user(L, what)->k;
}

rl_user *rl__script_running_user(lua_State *L, const char *what) {
  return running_user(L, what)->cu;
}

void rl__script_reply_is_stream(lua_State *L) {
  running_user(L, "u.grpc:call")->stream_next = REPLY_STREAM;
}

int rl__script_lua_skip_wait(lua_State *L) {
  luser *lu = running_user(L, "u:interrupt");
  if (rl_user_phase(lu->cu, NULL) == RL_USER_TASK) {
    lu->no_wait = 1;
    (void)rl_user_wait_next(lu->cu, 0);
  }
  return 0;
}

int rl__script_lua_set_where(lua_State *L) {
  luser *lu = running_user(L, "rl.taskset");
  luaL_unref(L, LUA_REGISTRYINDEX, lu->where_ref);
  lu->where_ref = LUA_NOREF;
  if (lua_type(L, 1) == LUA_TSTRING) {
    lua_settop(L, 1);
    lu->where_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  return 0;
}

int rl__script_end_quietly(lua_State *L) {
  lua_pushlightuserdata(L, (void *)&fail_key);
  return lua_error(L);
}

/* The send of a task's request (vars set first, the opts from the
 * arguments; `on_message` for a stream, else NULL): 0 when it went, 1
 * when the user is stopping (lu->ending: the caller yields, its task ends
 * there); any other refusal is a Lua error naming `what`. */
static int
task_send(lua_State *L, luser *lu, const char *what, size_t req,
          const char *name, const rl_kv *headers, size_t n_headers,
          const char *const *vars, size_t n_vars, uint64_t timeout_ns,
          const char *host,
          void (*on_message)(rl_user *, const char *, size_t, void *),
          void (*done)(rl_user *, const rl_send_result *, void *), void *arg) {
  rl_user *cu = lu->cu;
  for (size_t i = 0; i < n_vars; i++)
    if (rl_user_set_var(cu, vars[2 * i], vars[2 * i + 1]))
      return luaL_error(L, "%s: out of memory", what);
  rl_send_opts o = {.struct_size = sizeof o,
                    .name = name,
                    .decide = 1,
                    .headers = headers,
                    .n_headers = n_headers,
                    .timeout_ns = timeout_ns,
                    .no_event = rl__script_next_no_event,
                    .on_message = on_message,
                    .host = host};
  rl__script_next_no_event = 0;
  int rc = rl_user_send_opts(cu, req, &o, done, arg);
  if (rc == RL_ERR_CANCELLED || rc == RL_ERR_CLOSED) {
    lu->ending = 1; /* the user is stopping: the task ends here */
    return 1;
  }
  if (rc == RL_ERR_BUSY && host)
    return luaL_error(L,
                      "%s: host '%s' is not declared, and the run has added "
                      "its %d run-time targets (a host not declared, per "
                      "request) already: declare the hosts the class calls "
                      "(hosts = {...}, grpc = {hosts = {...}})",
                      what, host, RL_USER_MAX_RUNTIME_TARGETS);
  if (rc)
    return luaL_error(L, "%s: %s", what, rl_strerror(rc));
  return 0;
}

int rl__script_send(lua_State *L, const char *what, size_t req,
                    const char *name, const rl_kv *headers, size_t n_headers,
                    const char *const *vars, size_t n_vars) {
  return rl__script_send_timed(L, what, req, name, headers, n_headers, vars,
                               n_vars, 0);
}

int rl__script_send_timed(lua_State *L, const char *what, size_t req,
                          const char *name, const rl_kv *headers,
                          size_t n_headers, const char *const *vars,
                          size_t n_vars, uint64_t timeout_ns) {
  /* Taken first: an error below (caught by a pcall) leaves none behind
   * for the task's next send. */
  const char *host = rl__script_next_host;
  rl__script_next_host = NULL;
  int message = rl__script_next_message;
  rl__script_next_message = 0;
  luser *lu = running_user(L, what);
  lu->stream_reply = message ? REPLY_MESSAGE : lu->stream_next;
  lu->stream_next = 0;
  (void)task_send(L, lu, what, req, name, headers, n_headers, vars, n_vars,
                  timeout_ns, host, NULL, request_done, lu);
  return lua_yield(L, 0); /* request_done resumes it (or the user ends) */
}

/* ---- u.grpc:stream: a server stream's replies as they come ---------------- */

static luser *stream_user(void *arg) {
  return (luser *)(void *)((char *)arg - offsetof(luser, stream));
}

/* The JSON text on top of L decoded in its place (rl.json_decode; a text
 * that does not decode: nil). */
static void decode_top(lua_State *L) {
  lua_getglobal(L, "rl");
  lua_getfield(L, -1, "json_decode");
  lua_remove(L, -2);
  lua_insert(L, -2);
  if (lua_pcall(L, 1, 1, 0) != 0) {
    lua_pop(L, 1);
    lua_pushnil(L);
  }
}

/* The oldest reply the iterator has not taken, its JSON text pushed on
 * L; 0 when none. Below half the window ahead, the plugin reads on. */
static int stream_pop(lua_State *L, luser *lu) {
  if (lu->stream.head >= lu->stream.tail)
    return 0;
  lua_rawgeti(L, LUA_REGISTRYINDEX, lu->stream.q_ref);
  lua_rawgeti(L, -1, lu->stream.head);
  lua_pushnil(L);
  lua_rawseti(L, -3, lu->stream.head++);
  lua_remove(L, -2);
  if (lu->stream.holding &&
      lu->stream.tail - lu->stream.head <= RL__SCRIPT_STREAM_AHEAD / 2 &&
      lu->stream.open) {
    lu->stream.holding = 0;
    (void)rl_user_hold_messages(lu->cu, &lu->stream, 0);
  }
  return 1;
}

/* on_message of the open stream's send: kept for the iterator, or
 * handed to it at once when the coroutine waits there. */
static void stream_message(rl_user *cu, const char *json, size_t len,
                           void *arg) {
  luser *lu = stream_user(arg);
  lua_State *L = lu->st->L;
  lu->cu = cu;
  if (lu->stream.cancelled || lu->stream.q_ref == LUA_NOREF)
    return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, lu->stream.q_ref);
  lua_pushlstring(L, json, len);
  lua_rawseti(L, -2, lu->stream.tail++);
  lua_pop(L, 1);
  if (!lu->stream.holding &&
      lu->stream.tail - lu->stream.head >= RL__SCRIPT_STREAM_AHEAD) {
    lu->stream.holding = 1;
    (void)rl_user_hold_messages(cu, &lu->stream, 1);
  }
  if (lu->stream.waiting && lu->co) {
    lu->stream.waiting = 0;
    (void)stream_pop(L, lu);
    decode_top(L);
    lua_xmove(L, lu->co, 1);
    resume(lu, 1);
  }
}

/* The stream's done: its outcome on the object (a stream the task left
 * is a success with the replies so far, as Locust's task that stops
 * iterating is no failure); the iterator, if it waits, ends. */
static void stream_done(rl_user *cu, const rl_send_result *res, void *arg) {
  luser *lu = stream_user(arg);
  lua_State *L = lu->st->L;
  lu->cu = cu;
  lu->stream.open = 0;
  lu->stream.holding = 0;
  int ok = res->error == NULL || lu->stream.cancelled;
  if (lu->stream.cancelled && res->error)
    (void)rl_user_decide(cu, res, NULL);
  lua_rawgeti(L, LUA_REGISTRYINDEX, lu->stream.obj_ref);
  lua_pushinteger(L, res->status);
  lua_setfield(L, -2, "status");
  lua_pushboolean(L, ok);
  lua_setfield(L, -2, "ok");
  if (!ok) {
    lua_pushstring(L, res->error);
    lua_setfield(L, -2, "error");
  }
  lua_pushboolean(L, lu->stream.cancelled);
  lua_setfield(L, -2, "cancelled");
  lua_pushnumber(L, (lua_Number)res->response_time_ns / 1e6);
  lua_setfield(L, -2, "elapsed");
  lua_pushstring(L, res->name);
  lua_setfield(L, -2, "name");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "open");
  lua_pop(L, 1);
  luaL_unref(L, LUA_REGISTRYINDEX, lu->stream.obj_ref);
  lu->stream.obj_ref = LUA_NOREF;
  if (lu->stream.waiting && lu->co) {
    lu->stream.waiting = 0;
    luaL_unref(L, LUA_REGISTRYINDEX, lu->stream.q_ref);
    lu->stream.q_ref = LUA_NOREF;
    resume(lu, 0); /* the iterator's nil: the loop ends */
  }
}

/* Ends the open stream now (RST_STREAM CANCEL): the task left it. */
static void stream_cancel(luser *lu) {
  lu->stream.cancelled = 1;
  lu->stream.waiting = 0;
  (void)rl_user_cancel(lu->cu, &lu->stream,
                       "cancelled: the task stopped reading the stream");
}

/* The iterator r:messages() returns (upvalue 1: the stream object):
 * each reply as a table, waiting for the next while the call is open;
 * nil at its end (or once the task closed it). */
static int l_stream_next(lua_State *L) {
  luser *lu = running_user(L, "r:messages()");
  lua_rawgeti(L, LUA_REGISTRYINDEX, lu->stream.obj_ref);
  int current = lua_rawequal(L, -1, lua_upvalueindex(1));
  lua_pop(L, 1);
  if (lu->stream.cancelled || lu->stream.q_ref == LUA_NOREF)
    return 0;
  if (stream_pop(L, lu)) {
    decode_top(L);
    return 1;
  }
  if (!current || !lu->stream.open) { /* over, and every reply taken */
    luaL_unref(L, LUA_REGISTRYINDEX, lu->stream.q_ref);
    lu->stream.q_ref = LUA_NOREF;
    return 0;
  }
  lu->stream.waiting = 1;
  return lua_yield(L, 0);
}

static int l_stream_messages(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_pushvalue(L, 1);
  lua_pushcclosure(L, l_stream_next, 1);
  return 1;
}

/* r:close(): the task is done with the stream before its end: the call
 * is cancelled, and the task waits for its end (the loop's next turn;
 * a call no connection has taken yet ends as it would have), so that r
 * says how it ended and another stream may open. */
static int l_stream_close(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  luser *lu = running_user(L, "r:close()");
  lua_rawgeti(L, LUA_REGISTRYINDEX, lu->stream.obj_ref);
  int current = lua_rawequal(L, -1, 1);
  lua_pop(L, 1);
  if (!current || !lu->stream.open)
    return 0;
  stream_cancel(lu);
  lu->stream.waiting = 1; /* stream_done resumes it */
  return lua_yield(L, 0);
}

int rl__script_open_stream(lua_State *L, const char *what, size_t req,
                           const char *name, const rl_kv *headers,
                           size_t n_headers, const char *const *vars,
                           size_t n_vars, uint64_t timeout_ns) {
  /* Taken first, as rl__script_send_timed takes it. */
  const char *host = rl__script_next_host;
  rl__script_next_host = NULL;
  luser *lu = running_user(L, what);
  if (lu->stream.open)
    return luaL_error(L,
                      "%s: a stream of this user is open (one at a time: "
                      "read it to its end, or r:close() it)",
                      what);
  if (task_send(L, lu, what, req, name, headers, n_headers, vars, n_vars,
                timeout_ns, host, stream_message, stream_done, &lu->stream))
    return lua_yield(L, 0);
  lua_createtable(L, 0, 8);
  lua_pushboolean(L, 1);
  lua_setfield(L, -2, "open");
  lua_newtable(L);
  lua_pushcfunction(L, l_stream_messages);
  lua_setfield(L, -2, "messages");
  lua_pushcfunction(L, l_stream_close);
  lua_setfield(L, -2, "close");
  lua_newtable(L);
  lua_insert(L, -2);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  luaL_unref(L, LUA_REGISTRYINDEX, lu->stream.obj_ref);
  lu->stream.obj_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_newtable(L);
  luaL_unref(L, LUA_REGISTRYINDEX, lu->stream.q_ref);
  lu->stream.q_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lu->stream.head = lu->stream.tail = 1;
  lu->stream.open = 1;
  lu->stream.waiting = lu->stream.cancelled = lu->stream.holding = 0;
  return 1;
}

static void make_http(lua_State *L) {
  lua_newtable(L);
  for (int m = 0; m < RL__SCRIPT_N_METHODS; m++) {
    char key[16];
    size_t i = 0;
    for (const char *c = rl__script_methods[m]; *c && i < sizeof key - 1; c++)
      key[i++] = (char)(*c | 0x20);
    key[i] = 0;
    lua_pushinteger(L, m);
    lua_pushcclosure(L, l_request, 1);
    lua_setfield(L, -2, key);
  }
}

/* ---- responses ----------------------------------------------------------- */

/* Decides the outcome of response r (at 1) while it is open. */
static int decide(lua_State *L, const char *what, const char *error) {
  luser *lu = running_user(L, what);
  lua_rawgeti(L, LUA_REGISTRYINDEX, lu->resp_ref);
  int open = lu->res && lua_rawequal(L, 1, -1);
  lua_pop(L, 1);
  if (!open)
    return luaL_error(L,
                      "%s: this response was counted already (call it "
                      "before the task's next request or sleep)",
                      what);
  rl_user_decide(lu->cu, lu->res, error);
  lua_pushboolean(L, error == NULL);
  lua_setfield(L, 1, "ok");
  if (error)
    lua_pushstring(L, error);
  else
    lua_pushnil(L);
  lua_setfield(L, 1, "error");
  return 0;
}

static int l_failure(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  return decide(L, "r:failure", luaL_optstring(L, 2, "failure"));
}

static int l_success(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  return decide(L, "r:success", NULL);
}

static int l_json(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_getglobal(L, "rl");
  lua_getfield(L, -1, "json_decode");
  lua_getfield(L, 1, "body");
  lua_call(L, 1, 1);
  return 1;
}

/* r:messages(): a gRPC stream's replies (the first 1000: the grpc
 * plugin's {count, last, messages} document), else the reply alone. */
static int l_messages(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  lua_pushliteral(L, "stream"); /* raw: not a reply's field of that name */
  lua_rawget(L, 1);
  int stream = lua_toboolean(L, -1);
  lua_getfield(L, 1, "body");
  size_t len = 0;
  (void)lua_tolstring(L, -1, &len);
  lua_pop(L, 2);
  if (len == 0) { /* nothing came back (a failed call) */
    lua_newtable(L);
    return 1;
  }
  l_json(L);
  if (stream) {
    lua_getfield(L, -1, "messages");
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      lua_newtable(L);
    }
    return 1;
  }
  lua_createtable(L, 1, 0);
  lua_insert(L, -2);
  if (!lua_isnil(L, -1))
    lua_rawseti(L, -2, 1);
  else
    lua_pop(L, 1);
  return 1;
}

/* The responses' methods, pushed. */
static void push_methods(lua_State *L) {
  lua_newtable(L);
  lua_pushcfunction(L, l_failure);
  lua_setfield(L, -2, "failure");
  lua_pushcfunction(L, l_success);
  lua_setfield(L, -2, "success");
  lua_pushcfunction(L, l_json);
  lua_setfield(L, -2, "json");
  lua_pushcfunction(L, l_messages);
  lua_setfield(L, -2, "messages");
}

static void make_resp_mt(lua_State *L) {
  lua_newtable(L);
  push_methods(L);
  lua_setfield(L, -2, "__index");
}

/* A gRPC reply's response r (1), key k (2) it lacks: a method, else the
 * reply's field k, the body decoded on the first such read and kept (a
 * weak table, upvalue 2: as long as r is; false: no message, a failed
 * call's empty body). Upvalue 1: the methods. */
static int l_msg_index(lua_State *L) {
  lua_settop(L, 2);
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(1));
  if (!lua_isnil(L, -1) || lua_type(L, 2) != LUA_TSTRING)
    return 1;
  lua_pop(L, 1);
  lua_pushvalue(L, 1);
  lua_rawget(L, lua_upvalueindex(2));
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_pushvalue(L, 1); /* the key of the cache's entry */
    lua_pushliteral(L, "body");
    lua_rawget(L, 1);
    size_t len = 0;
    (void)lua_tolstring(L, -1, &len);
    int decoded = 0;
    if (len) {
      lua_getglobal(L, "rl");
      lua_getfield(L, -1, "json_decode");
      lua_pushvalue(L, -3);
      decoded = lua_pcall(L, 1, 1, 0) == 0 && lua_istable(L, -1);
    }
    if (!decoded)
      lua_pushboolean(L, 0);
    lua_replace(L, 4); /* key, value at 3, 4 */
    lua_settop(L, 4);
    lua_pushvalue(L, 4);
    lua_insert(L, 3); /* the value, then key and value for the cache */
    lua_rawset(L, lua_upvalueindex(2));
  }
  if (!lua_istable(L, -1)) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushvalue(L, 2);
  lua_rawget(L, -2);
  return 1;
}

static void make_msg_mt(lua_State *L) {
  lua_newtable(L);
  push_methods(L);
  lua_newtable(L); /* the decoded replies, by response: weak keys */
  lua_newtable(L);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_pushcclosure(L, l_msg_index, 2);
  lua_setfield(L, -2, "__index");
}

/* ---- rl.sleep, rl.fail --------------------------------------------------------- */

static void woke(rl_user *cu, void *arg) {
  luser *lu = arg;
  lu->cu = cu;
  resume(lu, 0);
}

int rl__script_lua_sleep(lua_State *L) {
  double sec = luaL_checknumber(L, 1);
  luser *lu = running_user(L, "rl.sleep");
  int rc = rl_user_sleep(lu->cu, sec, woke, lu);
  if (rc == RL_ERR_CANCELLED || rc == RL_ERR_CLOSED) {
    lu->ending = 1;
    return lua_yield(L, 0);
  }
  if (rc)
    return luaL_error(L, "rl.sleep(%f): %s", sec, rl_strerror(rc));
  return lua_yield(L, 0);
}

/* rl.fail(msg): the task's last response, while its outcome is open,
 * fails with msg and the task ends there; with none open, msg is a Lua
 * error of the task (counted, with where it was raised). */
int rl__script_lua_fail(lua_State *L) {
  const char *msg = luaL_optstring(L, 1, "rl.fail");
  luser *lu = running_user(L, "rl.fail");
  if (!lu->res)
    return luaL_error(L, "%s", msg);
  rl_user_decide(lu->cu, lu->res, msg);
  lua_pushlightuserdata(L, (void *)&fail_key);
  return lua_error(L);
}

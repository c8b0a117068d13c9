/*
 * What a streamed call may set for itself (docs/grpc.md, "Per call"): a
 * step's stream_call_count, stream_interval and stream_ping_pong given as
 * one {{...}} each, and a client stream's message given as one {{...}}
 * whose expansion is a JSON array: the call's list. A Lua task's
 * u.grpc:call sends through one such step per method, its options and
 * messages in the user's variables (src/script/declare.c); a scenario
 * step may use them too.
 *
 * The options are expanded in session_submit, where a bad value refuses
 * the request with its reason; the list at the call's first message
 * (grpc_send.c's out_load), where a message that does not fit ends the
 * call with its reason, as a templated message does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "grpc_int.h"
#include "grpc_msgs.h"
#include "lib/http_text.h"
#include "pbjson.h"

/* The most messages a call's list may hold (as a step's -D list). */
#define GRPC_MAX_LIST 100000

/* The option's key, as a step spells it, by its template slot. */
static const char *const option_key[4] = {"stream_call_count",
                                          "stream_interval", "stream_ping_pong",
                                          "stream_call_duration"};

int grpc_percall_compile(struct grpc_step *st, const char **count,
                         const char **interval, const char **ping_pong,
                         const char **duration, char *err, size_t errlen) {
  const char **texts[4] = {count, interval, ping_pong, duration};
  rl_template **slots[4] = {&st->count_tpl, &st->interval_tpl,
                            &st->ping_pong_tpl, &st->duration_tpl};
  const char *m = st->method->full_name;
  for (int i = 0; i < 4; i++) {
    const char *t = *texts[i];
    if (t == NULL || !grpc_whole_template(t, strlen(t)))
      continue;
    /* What the shape cannot take is refused now, as a literal is. */
    const char *why = NULL;
    if (!st->client_stream && !st->server_stream)
      why = "for a streaming method";
    else if (i == 1 && !st->client_stream)
      why = "for a method the client streams to";
    else if (i == 2 && !(st->client_stream && st->server_stream))
      why = "for a bidirectional method";
    if (why != NULL) {
      rl__http_set_err(err, errlen, "%s is %s; %s is not one", option_key[i],
                       why, m);
      return RL_ERR_INVAL;
    }
    if (!RL_HOST_HAS_TEMPLATES(st->host)) {
      rl__http_set_err(err, errlen,
                       "%s '%s': templates need rpcload with "
                       "plugin ABI 1.1 or newer",
                       option_key[i], t);
      return RL_ERR_UNSUPPORTED;
    }
    int rc = st->host->template_new(t, strlen(t), slots[i], err, errlen);
    if (rc != 0)
      return rc;
    *texts[i] = NULL;
  }
  return 0;
}

void grpc_percall_free(struct grpc_step *st) {
  st->host->template_del(st->count_tpl);
  st->host->template_del(st->interval_tpl);
  st->host->template_del(st->ping_pong_tpl);
  st->host->template_del(st->duration_tpl);
}

/* Option i's value for req, blanks trimmed, in buf: "" when the
 * expansion is empty (the step's setting stays). */
static const char *expand(const struct grpc_step *st, rl_template *t,
                          rl_request *req, char *buf, size_t buflen) {
  size_t len = 0;
  const char *text = st->host->template_expand(t, req, &len);
  if (text == NULL)
    return NULL;
  while (len > 0 && (*text == ' ' || *text == '\t')) {
    text++;
    len--;
  }
  while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\t'))
    len--;
  if (len >= buflen)
    len = buflen - 1; /* too long for any valid value: refused below */
  memcpy(buf, text, len);
  buf[len] = '\0';
  return buf;
}

/* Parses option i's text into gs; 0, or -1 with why. */
static int apply(struct grpc_stream *gs, int i, const char *v, char *why,
                 size_t whylen) {
  if (i == 0) {
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    if (*v < '0' || *v > '9' || *end != '\0' || n == 0) {
      snprintf(why, whylen,
               "stream_call_count '%s': expected a whole number "
               ">= 1",
               v);
      return -1;
    }
    gs->call_count = n;
  } else if (i == 1) {
    uint64_t ns = 0;
    if (grpc_parse_duration(v, &ns) != 0) {
      snprintf(why, whylen,
               "stream_interval '%s': expected a duration such "
               "as 100ms, 2s, 1m30s",
               v);
      return -1;
    }
    gs->interval_ns = ns;
  } else if (i == 3) {
    uint64_t ns = 0;
    if (grpc_parse_duration(v, &ns) != 0 || ns == 0) {
      snprintf(why, whylen,
               "stream_call_duration '%s': expected a duration > 0 such "
               "as 100ms, 2s, 1m30s",
               v);
      return -1;
    }
    if (gs->st->timeout_ns > 0 && ns >= gs->st->timeout_ns) {
      snprintf(why, whylen,
               "stream_call_duration '%s' is not shorter than --timeout "
               "(%.3gs): the call would be cut",
               v, (double)gs->st->timeout_ns / 1e9);
      return -1;
    }
    gs->call_duration_ns = ns;
  } else {
    int on = strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
    if (!on && strcmp(v, "false") != 0 && strcmp(v, "0") != 0) {
      snprintf(why, whylen, "stream_ping_pong '%s': expected true or false", v);
      return -1;
    }
    gs->ping_pong = on;
  }
  return 0;
}

int grpc_percall_settings(const struct grpc_step *st, rl_request *req,
                          struct grpc_stream *gs) {
  gs->call_count = st->call_count;
  gs->interval_ns = st->interval_ns;
  gs->ping_pong = st->ping_pong;
  gs->call_duration_ns = st->call_duration_ns;
  rl_template *tpls[4] = {st->count_tpl, st->interval_tpl, st->ping_pong_tpl,
                          st->duration_tpl};
  for (int i = 0; i < 4; i++) {
    if (tpls[i] == NULL)
      continue;
    char buf[64], why[160];
    const char *v = expand(st, tpls[i], req, buf, sizeof buf);
    if (v == NULL)
      return RL_ERR_NOMEM;
    if (*v != '\0' && apply(gs, i, v, why, sizeof why) != 0) {
      st->host->request_refuse(req, why);
      return RL_ERR_INVAL;
    }
  }
  return 0;
}

/* Element k of the list (JSON text) framed into m; 0, or an RL_ERR_*
 * with gs->list_error. */
static int frame_one(struct grpc_stream *gs, const char *json, size_t k,
                     struct grpc_msg *m) {
  const struct grpc_step *st = gs->st;
  uint8_t *wire = NULL;
  size_t wire_len = 0;
  char perr[160];
  int rc = rl__pb_json_to_wire(st->pool, st->method->input, json, &wire,
                               &wire_len, perr, sizeof perr);
  if (rc == 0 && wire_len > st->max_send) {
    snprintf(gs->list_error, sizeof gs->list_error,
             "RESOURCE_EXHAUSTED: message %zu of the list is over the send "
             "limit (--max-send-message-size)",
             k + 1);
    free(wire);
    return RL_ERR_UNSUPPORTED;
  }
  if (rc == 0)
    rc = grpc_frame_build(wire, wire_len, st->gzip, &m->frame, &m->frame_len);
  else if (rc != RL_ERR_NOMEM)
    snprintf(gs->list_error, sizeof gs->list_error,
             "INVALID_ARGUMENT: message %zu of the list does not fit %s: %s",
             k + 1, st->method->input->name, perr);
  free(wire);
  return rc;
}

/* Out of memory making the list: the call fails saying so. */
static int no_memory(struct grpc_stream *gs) {
  snprintf(gs->list_error, sizeof gs->list_error,
           "INTERNAL: out of memory making the list of messages");
  return -1;
}

int grpc_percall_list(struct grpc_stream *gs) {
  const struct grpc_step *st = gs->st;
  size_t len = 0;
  const char *text = st->host->template_expand(st->msgs[0].json, gs->req, &len);
  if (text == NULL)
    return no_memory(gs);
  size_t i = 0;
  while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n'))
    i++;
  if (i == len || text[i] != '[')
    return 0; /* one message: expanded as each is sent */
  json_error_t jerr;
  json_t *arr = json_loadb(text, len, 0, &jerr);
  size_t n = json_is_array(arr) ? json_array_size(arr) : 0;
  int rc = 0;
  if (arr == NULL) {
    snprintf(gs->list_error, sizeof gs->list_error,
             "INVALID_ARGUMENT: the list of messages is not JSON: %s",
             jerr.text);
    return -1;
  }
  if (n == 0 || n > GRPC_MAX_LIST) {
    snprintf(gs->list_error, sizeof gs->list_error,
             "INVALID_ARGUMENT: a list of %zu messages (give 1 to %d)", n,
             GRPC_MAX_LIST);
    json_decref(arr);
    return -1;
  }
  if ((gs->list = calloc(n, sizeof *gs->list)) == NULL)
    rc = RL_ERR_NOMEM;
  for (size_t k = 0; rc == 0 && k < n; k++) {
    char *one =
        json_dumps(json_array_get(arr, k), JSON_COMPACT | JSON_ENCODE_ANY);
    rc = one == NULL ? RL_ERR_NOMEM : frame_one(gs, one, k, &gs->list[k]);
    free(one);
    if (rc == 0)
      gs->n_list = k + 1;
  }
  json_decref(arr);
  if (rc == RL_ERR_NOMEM)
    return no_memory(gs);
  return rc == 0 ? 0 : -1;
}

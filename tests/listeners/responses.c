/*
 * A listener that asks for the request event's response (listener ABI
 * 1.1, wants_response) and writes one line a request to the file its
 * option file=PATH names: "response STATUS BODY_LEN CONTENT-TYPE BODY"
 * (the body's first 64 bytes, blanks and controls as '_'), or "none" when the event
 * came without one. tests/integration/test_listeners.py reads it back.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <rpcload/listener.h>

#define RL_EXPORT __attribute__((visibility("default")))

typedef struct sink {
  FILE *f;
  pthread_mutex_t lock; /* several worker threads write the one file */
} sink;

static int resp_init(const rl_listener_host *host, const rl_kv *options,
                     size_t n_options, void **state, char *err, size_t errlen) {
  (void)host;
  const char *path = NULL;
  for (size_t i = 0; i < n_options; i++)
    if (strcmp(options[i].key, "file") == 0)
      path = options[i].value;
  if (!path) {
    snprintf(err, errlen, "file=PATH is required");
    return RL_ERR_INVAL;
  }
  sink *s = calloc(1, sizeof *s);
  if (!s || !(s->f = fopen(path, "w"))) {
    snprintf(err, errlen, "cannot write %s", path);
    free(s);
    return RL_ERR_IO;
  }
  pthread_mutex_init(&s->lock, NULL);
  *state = s;
  return 0;
}

static void resp_fini(void *state) {
  sink *s = state;
  fclose(s->f);
  pthread_mutex_destroy(&s->lock);
  free(s);
}

static void *resp_thread_new(void *state, uint32_t worker) {
  (void)worker;
  return state;
}

/* The value of header `name` in the event's "name\0value\0" pairs. */
static const char *header(const rl_request_event *e, const char *name) {
  const char *p = e->headers;
  for (size_t i = 0; p && i < e->n_headers; i++) {
    const char *value = p + strlen(p) + 1;
    if (strcasecmp(p, name) == 0)
      return value;
    p = value + strlen(value) + 1;
  }
  return "-";
}

static const char *resp_request(void *ctx, const rl_request_event *e) {
  sink *s = ctx;
  char body[65];
  size_t n = 0;
  if (e->struct_size >=
          offsetof(rl_request_event, n_headers) + sizeof e->n_headers &&
      e->has_response) {
    for (; n < e->body_len && n < 64; n++)
      body[n] = (unsigned char)e->body[n] <= ' ' ? '_' : e->body[n];
    body[n] = 0;
    pthread_mutex_lock(&s->lock);
    fprintf(s->f, "response %d %zu %s %s\n", e->status, e->body_len,
            header(e, "content-type"), body);
  } else {
    pthread_mutex_lock(&s->lock);
    fprintf(s->f, "none\n");
  }
  pthread_mutex_unlock(&s->lock);
  return NULL;
}

static const rl_listener desc = {
    .abi_version = RL_LISTENER_ABI_VERSION,
    .struct_size = sizeof(rl_listener),
    .name = "responses",
    .version = "1.0",
    .summary = "writes each request's response (ABI 1.1 wants_response)",
    .init = resp_init,
    .fini = resp_fini,
    .thread_new = resp_thread_new,
    .on_request = resp_request,
    .wants_response = 1,
};

RL_EXPORT const rl_listener *rl_listener_entry(void) { return &desc; }

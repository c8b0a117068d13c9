/* Custom messages between cluster nodes (events.h): two queues under the
 * table's lock, because the cluster's loop and the handlers (a script's
 * main state) live on different threads: the wire's thread posts and
 * takes, the run's main thread sends and delivers. */
#include <stdlib.h>
#include <string.h>

#include <rpcload/rpcload.h>

#include "base/log.h"
#include "events/events.h"

void rl__events_msg_del(rl__events_msg *m) {
  if (!m)
    return;
  free(m->type);
  free(m->node_id);
  free(m->data);
  free(m);
}

static rl__events_msg *msg_new(const char *type, const void *data, size_t len,
                               const char *node_id) {
  rl__events_msg *m = calloc(1, sizeof *m);
  if (!m)
    return NULL;
  m->type = strdup(type);
  m->node_id = strdup(node_id ? node_id : "");
  m->data = malloc(len ? len : 1);
  m->len = len;
  if (!m->type || !m->node_id || !m->data) {
    rl__events_msg_del(m);
    return NULL;
  }
  if (len)
    memcpy(m->data, data, len);
  return m;
}

void rl__events_set_remote(rl__events *ev, int on) {
  pthread_mutex_lock(&ev->lock);
  ev->remote = on;
  pthread_mutex_unlock(&ev->lock);
}

void rl__events_set_wake(rl__events *ev, void (*wake)(void *arg), void *arg) {
  pthread_mutex_lock(&ev->lock);
  ev->wake = wake;
  ev->wake_arg = arg;
  pthread_mutex_unlock(&ev->lock);
}

int rl__events_send(rl__events *ev, const char *type, const void *data,
                    size_t len, const char *node_id) {
  if (!type || (len && !data))
    return RL_ERR_INVAL;
  pthread_mutex_lock(&ev->lock);
  int remote = ev->remote;
  pthread_mutex_unlock(&ev->lock);
  if (!remote) /* one process: Locust's LocalRunner delivers at once */
    return ev->host.send_message(&ev->host, type, data, len);
  rl__events_msg *m = msg_new(type, data, len, node_id);
  if (!m)
    return RL_ERR_NOMEM;
  pthread_mutex_lock(&ev->lock);
  if (ev->sent_tail)
    ev->sent_tail->next = m;
  else
    ev->sent = m;
  ev->sent_tail = m;
  if (ev->wake)
    ev->wake(ev->wake_arg);
  pthread_mutex_unlock(&ev->lock);
  return 0;
}

rl__events_msg *rl__events_take_sent(rl__events *ev) {
  pthread_mutex_lock(&ev->lock);
  rl__events_msg *m = ev->sent;
  ev->sent = ev->sent_tail = NULL;
  pthread_mutex_unlock(&ev->lock);
  return m;
}

int rl__events_post(rl__events *ev, const char *type, const void *data,
                    size_t len, const char *node_id) {
  rl__events_msg *m = msg_new(type, data, len, node_id);
  if (!m)
    return RL_ERR_NOMEM;
  pthread_mutex_lock(&ev->lock);
  if (ev->received_tail)
    ev->received_tail->next = m;
  else
    ev->received = m;
  ev->received_tail = m;
  pthread_mutex_unlock(&ev->lock);
  return 0;
}

void rl__events_deliver_messages(rl__events *ev) {
  pthread_mutex_lock(&ev->lock);
  rl__events_msg *m = ev->received;
  ev->received = ev->received_tail = NULL;
  pthread_mutex_unlock(&ev->lock);
  while (m) {
    rl__events_msg *next = m->next;
    int ran = 0;
    ev->delivering_node = m->node_id;
    /* By index: a handler may register more (the array may move). */
    for (size_t i = 0; i < ev->nhandlers; i++) {
      if (strcmp(ev->handlers[i].type, m->type) != 0)
        continue;
      ev->handlers[i].fn(ev->handlers[i].arg, m->type, m->data, m->len);
      ran++;
    }
    ev->delivering_node = NULL;
    if (!ran) /* as Locust's runners log it */
      rl__log(RL__LOG_WARN, "Unknown message type received from %s: %s",
              *m->node_id ? m->node_id : "the master", m->type);
    rl__events_msg_del(m);
    m = next;
  }
}

void rl__events_nodes_free(char **ids) {
  if (!ids)
    return;
  for (char **p = ids; *p; p++)
    free(*p);
  free(ids);
}

static char **nodes_copy(const char *const *ids, size_t n) {
  char **c = calloc(n + 1, sizeof *c);
  if (!c)
    return NULL;
  for (size_t i = 0; i < n; i++)
    if (!(c[i] = strdup(ids[i]))) {
      rl__events_nodes_free(c);
      return NULL;
    }
  return c;
}

int rl__events_set_nodes(rl__events *ev, const char *const *ids, size_t n) {
  char **c = nodes_copy(ids, n);
  if (!c)
    return RL_ERR_NOMEM;
  pthread_mutex_lock(&ev->lock);
  char **old = ev->nodes;
  ev->nodes = c;
  ev->nnodes = n;
  pthread_mutex_unlock(&ev->lock);
  rl__events_nodes_free(old);
  return 0;
}

size_t rl__events_nodes(rl__events *ev, char ***out) {
  pthread_mutex_lock(&ev->lock);
  size_t n = ev->nnodes;
  *out = nodes_copy((const char *const *)ev->nodes, n);
  pthread_mutex_unlock(&ev->lock);
  return *out ? n : 0;
}

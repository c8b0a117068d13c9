/* Between a master's web UI and its loop (steer.h). */
#include "cluster/steer.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rpcload/plugin.h>

static void remote_swarm(void *arg, uint32_t users, double rate,
                         const char *host) {
  rl__cluster_steer *s = arg;
  char *h = host ? strdup(host) : NULL;
  pthread_mutex_lock(&s->lock);
  free(s->host);
  s->host = h; /* out of memory: the workers keep their own host */
  s->users = users;
  s->rate = rate;
  s->swarm = 1;
  if (s->wake)
    s->wake(s->wake_arg);
  pthread_mutex_unlock(&s->lock);
}

static int remote_stop(void *arg, double wait_s) {
  rl__cluster_steer *s = arg;
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  double whole = floor(wait_s);
  until.tv_sec += (time_t)whole;
  until.tv_nsec += (long)((wait_s - whole) * 1e9);
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&s->lock);
  /* A stop after a swarm not yet taken: the swarm is dropped, as the
   * single process's runner drops a start that a stop follows. */
  s->swarm = 0;
  uint64_t mine = ++s->stops_asked;
  if (s->wake)
    s->wake(s->wake_arg);
  int rc = 0;
  while (s->stops_done < mine && !s->closed && rc != ETIMEDOUT)
    rc = pthread_cond_timedwait(&s->cond, &s->lock, &until);
  int done = s->stops_done >= mine;
  pthread_mutex_unlock(&s->lock);
  return done ? 0 : RL_ERR_TIMEOUT;
}

static size_t remote_workers(void *arg, rl__web_worker *out, size_t max) {
  rl__cluster_steer *s = arg;
  pthread_mutex_lock(&s->lock);
  size_t n = s->n_workers;
  if (n > 0 && max > 0) /* none yet: workers is NULL */
    memcpy(out, s->workers, (n < max ? n : max) * sizeof(*out));
  pthread_mutex_unlock(&s->lock);
  return n;
}

void rl__cluster_steer_init(rl__cluster_steer *s) {
  memset(s, 0, sizeof(*s));
  pthread_mutex_init(&s->lock, NULL);
  pthread_cond_init(&s->cond, NULL);
  s->remote = (rl__web_remote){.swarm = remote_swarm,
                               .stop = remote_stop,
                               .workers = remote_workers,
                               .arg = s};
}

void rl__cluster_steer_free(rl__cluster_steer *s) {
  pthread_mutex_destroy(&s->lock);
  pthread_cond_destroy(&s->cond);
  free(s->host);
  free(s->workers);
  s->host = NULL;
  s->workers = NULL;
}

int rl__cluster_steer_take_swarm(rl__cluster_steer *s, uint32_t *users,
                                 double *rate, char **host) {
  pthread_mutex_lock(&s->lock);
  int got = s->swarm;
  if (got) {
    *users = s->users;
    *rate = s->rate;
    *host = s->host;
    s->host = NULL;
    s->swarm = 0;
  }
  pthread_mutex_unlock(&s->lock);
  return got;
}

uint64_t rl__cluster_steer_stops_asked(rl__cluster_steer *s) {
  pthread_mutex_lock(&s->lock);
  uint64_t n = s->stops_asked;
  pthread_mutex_unlock(&s->lock);
  return n;
}

void rl__cluster_steer_stop_done(rl__cluster_steer *s, uint64_t upto) {
  pthread_mutex_lock(&s->lock);
  if (upto > s->stops_done)
    s->stops_done = upto;
  pthread_cond_broadcast(&s->cond);
  pthread_mutex_unlock(&s->lock);
}

void rl__cluster_steer_publish(rl__cluster_steer *s, const rl__web_worker *w,
                               size_t n) {
  rl__web_worker *copy = n ? malloc(n * sizeof(*copy)) : NULL;
  if (n && !copy)
    return; /* out of memory: the web UI shows the last snapshot */
  if (n)
    memcpy(copy, w, n * sizeof(*copy));
  pthread_mutex_lock(&s->lock);
  free(s->workers);
  s->workers = copy;
  s->n_workers = n;
  pthread_mutex_unlock(&s->lock);
}

void rl__cluster_steer_set_wake(rl__cluster_steer *s, void (*wake)(void *arg),
                                void *arg) {
  pthread_mutex_lock(&s->lock);
  s->wake = wake;
  s->wake_arg = arg;
  pthread_mutex_unlock(&s->lock);
}

void rl__cluster_steer_close(rl__cluster_steer *s) {
  pthread_mutex_lock(&s->lock);
  s->closed = 1;
  pthread_cond_broadcast(&s->cond);
  pthread_mutex_unlock(&s->lock);
}

/* --processes N: one command, a master and N forked local workers
 * (cluster.h). Why processes and not more threads: each process has its
 * own open-files limit (20,000 here), so N workers hold N times the
 * connections, and a crash or a slow loop stays in one worker. */
#define _GNU_SOURCE // NOLINT(bugprone-reserved-identifier): prctl
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api/cluster.h"
#include "api/env.h"
#include "api/options.h"
#include "base/log.h"

/* How long a worker waits to be told its master's port: the master binds
 * at once, so this only bounds a master that failed without a word. */
#define PORT_WAIT_MS 60000

typedef struct processes {
  int pipe_w; /* the port for each worker, 4 bytes each, then closed */
  int n;
} processes;

/* The master's socket is bound: each worker reads the port (a 4-byte
 * write is atomic on a pipe, and each worker reads exactly 4). */
static void tell_port(int port, void *arg) {
  processes *p = arg;
  int32_t v = port;
  for (int i = 0; i < p->n; i++)
    if (write(p->pipe_w, &v, sizeof v) != (ssize_t)sizeof v)
      rl__log(RL__LOG_ERROR, "--processes: cannot tell a worker the port: %s",
              strerror(errno));
  close(p->pipe_w);
  p->pipe_w = -1;
}

/* In a forked worker: its master's port, or 0 when the master ended
 * without binding (the pipe closed) or never said. */
static int read_port(int fd) {
  struct pollfd pfd = {.fd = fd, .events = POLLIN};
  int32_t v = 0;
  if (poll(&pfd, 1, PORT_WAIT_MS) != 1 || read(fd, &v, sizeof v) != sizeof v)
    return 0;
  return v > 0 && v < 65536 ? (int)v : 0;
}

/* The forked worker: the same environment, made a worker of 127.0.0.1;
 * the reports are the master's, so none of its own. Never returns. */
static void worker_main(rl_env *env, int pipe_r, pid_t master, int n) {
  /* Dies with its master, whatever ends it. */
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != master)
    _exit(1);
  int port = read_port(pipe_r);
  close(pipe_r);
  if (!port)
    _exit(2);
  rl__api_options *o = &env->o;
  o->cluster.processes = 0;
  o->cluster.worker = 1;
  o->cluster.master_host = "127.0.0.1";
  o->cluster.master_port = port;
  /* With --web, the master serves the web UI; a worker serves none. */
  o->web = 0;
  o->csv_prefix = o->html_path = o->json_path = NULL;
  o->json = 0;
  o->prometheus_port = -1;
  /* The master deals the users and ends the test: a worker's -u is its
   * share (what its open-files estimate counts), and it has no -t of its
   * own (it would stop its users before the master's quit). */
  o->run.users = (o->run.users + (uint32_t)n - 1) / (uint32_t)n;
  o->run.run_time_ns = 0;
  /* _exit: the parent's stdio buffers and atexit handlers are its own. */
  _exit(rl__api_worker_exec(env));
}

/* Waits for the workers, which quit at the master's quit; after a bound,
 * the ones still there are ended (SIGTERM, then SIGKILL). Returns how many
 * ended with a non-zero status. */
static int reap(const pid_t *pids, int n, double stop_timeout_s) {
  int bad = 0, left = n;
  int alive[1024];
  for (int i = 0; i < n; i++)
    alive[i] = pids[i] > 0;
  /* The workers' own quit takes their stop timeout; give it 10 s more. */
  long rounds = (long)((stop_timeout_s + 10) * 10);
  for (long r = 0; left && r < rounds + 50; r++) {
    for (int i = 0; i < n; i++) {
      int st = 0;
      if (alive[i] && waitpid(pids[i], &st, WNOHANG) == pids[i]) {
        alive[i] = 0;
        left--;
        bad += !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
      }
    }
    if (left && (r == rounds || r == rounds + 30))
      for (int i = 0; i < n; i++)
        if (alive[i])
          kill(pids[i], r == rounds ? SIGTERM : SIGKILL);
    if (left)
      nanosleep(&(struct timespec){.tv_nsec = 100000000}, NULL);
  }
  return bad + left;
}

int rl__api_processes_exec(rl_env *env) {
  rl__api_options *o = &env->o;
  int n = o->cluster.processes;
  pid_t pids[1024];
  int fds[2];
  if (pipe(fds) != 0) {
    rl__log(RL__LOG_ERROR, "--processes: cannot make a pipe: %s",
            strerror(errno));
    return RL__API_EXIT_USAGE;
  }
  /* What is buffered now would be written once per process. */
  fflush(stdout);
  fflush(stderr);
  pid_t self = getpid();
  int made = 0;
  for (; made < n; made++) {
    pid_t pid = fork();
    if (pid < 0)
      break;
    if (pid == 0) {
      close(fds[1]);
      worker_main(env, fds[0], self, n);
    }
    pids[made] = pid;
  }
  close(fds[0]);
  processes p = {.pipe_w = fds[1], .n = made};
  if (made < n) {
    rl__log(RL__LOG_ERROR, "--processes: could make %d of %d workers: %s", made,
            n, strerror(errno));
    close(fds[1]); /* the workers read no port and exit */
    reap(pids, made, 0);
    return RL__API_EXIT_USAGE;
  }
  rl__log(RL__LOG_INFO, "--processes: %d worker processes started", n);
  /* This process is their master, on loopback only, on a port the kernel
   * picks; it waits for all of them, at most a minute. */
  o->cluster.master = 1;
  o->cluster.bind_host = "127.0.0.1";
  o->cluster.bind_port = 0;
  o->cluster.expect_workers = n;
  if (o->cluster.expect_max_wait_s <= 0)
    o->cluster.expect_max_wait_s = 60;
  o->cluster.bound = tell_port;
  o->cluster.bound_arg = &p;
  int status = rl__api_master_exec(env);
  if (p.pipe_w >= 0) /* never bound: the workers read no port */
    close(p.pipe_w);
  int bad = reap(pids, n, (double)o->run.stop_timeout_ns / 1e9);
  if (bad)
    rl__log(RL__LOG_WARN, "--processes: %d of %d workers ended with an error",
            bad, n);
  return status;
}

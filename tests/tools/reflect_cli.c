/*
 * reflect_cli: rpcload's gRPC server-reflection client (plugins/grpc/reflect)
 * from the command line, for tests (tests/integration/test_reflect.py) and
 * for looking at a server by hand.
 *
 *   reflect_cli [--tls] [--cacert FILE] [--cert FILE [--key FILE]]
 *               [--insecure] [--authority A] [--timeout-ms N]
 *               [-H 'name: value']... HOST PORT
 *
 * Prints the services and methods the server describes (rl__pb_pool_list)
 * on stdout. Exit status: 0 done, 1 reflection failed (the one-line reason
 * on stderr), 2 bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rpcload/plugin.h>

#include "grpc/pbdesc.h"
#include "grpc/reflect.h"

#define MAX_HEADERS 32

static void usage(void) {
  fprintf(stderr,
          "usage: reflect_cli [--tls] [--cacert FILE] [--cert FILE [--key "
          "FILE]] [--insecure]\n"
          "                   [--authority A] [--timeout-ms N] [-H 'name: "
          "value']... HOST PORT\n");
}

/* A decimal in [min, max], or -1. */
static long parse_num(const char *s, long min, long max) {
  char *end = NULL;
  long v = strtol(s, &end, 10);
  if (end == s || *end != '\0' || v < min || v > max)
    return -1;
  return v;
}

int main(int argc, char **argv) {
  rl__reflect_options o;
  memset(&o, 0, sizeof o);
  rl_kv headers[MAX_HEADERS];
  /* -H values split in place need writable copies; freed at exit. */
  char *copies[MAX_HEADERS];
  size_t n_headers = 0;
  const char *pos[2];
  int n_pos = 0;
  int rc = 2;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    /* A count, not argv[i + 1] == NULL: clang-tidy's analyzer would then
     * take argv[i + 1] for NULL on the next round. */
    int has_next = i + 1 < argc;
    if (strcmp(a, "--tls") == 0) {
      o.tls = 1;
    } else if (strcmp(a, "--insecure") == 0) {
      o.insecure = 1;
    } else if (has_next && strcmp(a, "--cacert") == 0) {
      o.cacert = argv[++i];
    } else if (has_next && strcmp(a, "--cert") == 0) {
      o.cert = argv[++i];
    } else if (has_next && strcmp(a, "--key") == 0) {
      o.key = argv[++i];
    } else if (has_next && strcmp(a, "--authority") == 0) {
      o.authority = argv[++i];
    } else if (has_next && strcmp(a, "--timeout-ms") == 0) {
      long ms = parse_num(argv[++i], 1, 3600000);
      if (ms < 0)
        goto bad_usage;
      o.timeout_ns = (uint64_t)ms * 1000000u;
    } else if (has_next && strcmp(a, "-H") == 0) {
      const char *next = argv[i + 1];
      const char *colon = strchr(next, ':');
      if (colon == NULL || n_headers == MAX_HEADERS)
        goto bad_usage;
      char *copy = strdup(next);
      if (copy == NULL) {
        fprintf(stderr, "reflect_cli: out of memory\n");
        rc = 1;
        goto out;
      }
      copies[n_headers] = copy;
      copy[colon - next] = '\0';
      const char *value = copy + (colon - next) + 1;
      while (*value == ' ')
        value++;
      headers[n_headers].key = copy;
      headers[n_headers].value = value;
      n_headers++;
      i++;
    } else if (a[0] != '-' && n_pos < 2) {
      pos[n_pos++] = a;
    } else {
      goto bad_usage;
    }
  }
  if (n_pos != 2)
    goto bad_usage;
  long port = parse_num(pos[1], 1, 65535);
  if (port < 0)
    goto bad_usage;
  o.host = pos[0];
  o.port = (uint16_t)port;
  o.metadata = n_headers > 0 ? headers : NULL;
  o.n_metadata = n_headers;

  char err[1024];
  rl__pb_pool *pool = NULL;
  int r = rl__reflect_fetch(&o, &pool, err, sizeof err);
  if (r != 0) {
    fprintf(stderr, "%s (%s)\n", err, rl_err_name(r));
    rc = 1;
    goto out;
  }
  rl__pb_pool_list(pool, stdout);
  rl__pb_pool_del(pool);
  rc = 0;
  goto out;

bad_usage:
  usage();
  rc = 2;
out:
  for (size_t i = 0; i < n_headers; i++)
    free(copies[i]);
  return rc;
}

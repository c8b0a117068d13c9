/*
 * pbprotoc: a pool from a .proto file, by running protoc at start-up.
 *
 * protoc (from protobuf-compiler) writes the descriptor set of the file and
 * of everything it imports to a temporary file, which pbdesc then loads. On
 * failure protoc's own output is the error: it names file:line:column.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rpcload/plugin.h>

#include "pbdesc.h"

extern char **environ;

/* 1 when `path` (a realpath) lies under directory `dir` (a realpath). */
static int path_under(const char *path, const char *dir) {
  size_t n = strlen(dir);
  if (n == 1 && dir[0] == '/')
    return 1;
  return strncmp(path, dir, n) == 0 && path[n] == '/';
}

/*
 * 1 when `prog` can be executed: a path with a '/', or a name in $PATH.
 * Checked before spawning because posix_spawnp may report a program it
 * cannot find only as the child's exit status 127 (glibc; and always under
 * valgrind, whose spawn is a fork), which protoc itself could return.
 */
static int executable(const char *prog) {
  if (strchr(prog, '/') != NULL)
    return access(prog, X_OK) == 0;
  const char *path = getenv("PATH");
  if (path == NULL || path[0] == '\0')
    path = "/usr/bin:/bin";
  size_t pl = strlen(prog);
  while (*path != '\0') {
    size_t dl = strcspn(path, ":");
    char buf[PATH_MAX];
    if (dl + pl + 2 <= sizeof buf) {
      /* An empty PATH entry means the current directory. */
      int n = dl == 0
                  ? snprintf(buf, sizeof buf, "./%s", prog)
                  : snprintf(buf, sizeof buf, "%.*s/%s", (int)dl, path, prog);
      if (n > 0 && access(buf, X_OK) == 0)
        return 1;
    }
    path += dl;
    if (*path == ':')
      path++;
  }
  return 0;
}

/*
 * Runs argv (argv[0] looked up in PATH), its stdout and stderr into `out`
 * (truncated to outlen - 1 bytes, NUL-terminated), and waits for it.
 * Returns 0 with the wait status in *status, or a negative errno-like
 * code when it could not be started (*spawn_errno set).
 */
static int run_capture(char *const *argv, char *out, size_t outlen, int *status,
                       int *spawn_errno) {
  int fds[2];
  out[0] = '\0';
  if (pipe(fds) != 0) {
    *spawn_errno = errno;
    return -1;
  }
  (void)fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  (void)fcntl(fds[1], F_SETFD, FD_CLOEXEC);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
  pid_t pid;
  int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    *spawn_errno = rc;
    return -1;
  }
  size_t n = 0;
  for (;;) {
    char chunk[4096];
    ssize_t r = read(fds[0], chunk, sizeof chunk);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    size_t take = (size_t)r;
    if (take > outlen - 1 - n)
      take = outlen - 1 - n;
    memcpy(out + n, chunk, take);
    n += take;
  }
  out[n] = '\0';
  close(fds[0]);
  while (waitpid(pid, status, 0) < 0) {
    if (errno != EINTR) {
      *spawn_errno = errno;
      return -1;
    }
  }
  return 0;
}

/* A warning line of protoc's: "f.proto:3:1: warning: Import x is
 * unused." or "[libprotobuf WARNING parser.cc:646] No syntax ...". Returns
 * where its text starts (the label left out), or NULL for an error line. */
static const char *warning_text(const char *line, size_t len, size_t *tlen) {
  static const char lib[] = "[libprotobuf WARNING ";
  static const char tag[] = ": warning: ";
  if (len >= sizeof lib - 1 && memcmp(line, lib, sizeof lib - 1) == 0) {
    const char *end = memchr(line, ']', len);
    if (end == NULL)
      return NULL;
    const char *t = end + 1;
    while (t < line + len && *t == ' ')
      t++;
    *tlen = (size_t)(line + len - t);
    return t;
  }
  for (size_t i = 0; i + sizeof tag - 1 <= len; i++)
    if (memcmp(line + i, tag, sizeof tag - 1) == 0) {
      *tlen = len;
      return line;
    }
  return NULL;
}

/*
 * Splits protoc's output in place: warning lines go to warn (their label
 * dropped), error lines stay in `output`, in order. Returns the number of
 * warning lines.
 */
static size_t split_warnings(char *output, rl__pb_warn_fn warn, void *arg) {
  static const char tag[] = ": warning: ";
  char *in = output, *keep = output;
  size_t n = 0;
  while (*in != '\0') {
    size_t len = strcspn(in, "\n");
    char *next = in + len + (in[len] == '\n');
    size_t tlen = 0;
    const char *t = warning_text(in, len, &tlen);
    if (t == NULL) {
      memmove(keep, in, (size_t)(next - in));
      keep += next - in;
    } else {
      char line[1024];
      const char *label = t == in ? strstr(in, tag) : NULL;
      if (label != NULL && label < in + len) /* "f:3:1: warning: x" */
        snprintf(line, sizeof line, "%.*s: %.*s", (int)(label - in), in,
                 (int)(len - (size_t)(label - in) - (sizeof tag - 1)),
                 label + sizeof tag - 1);
      else
        snprintf(line, sizeof line, "%.*s", (int)tlen, t);
      if (warn != NULL)
        warn(line, arg);
      n++;
    }
    in = next;
  }
  *keep = '\0';
  return n;
}

int rl__pb_pool_new_from_proto(const char *proto_file,
                               const char *const *import_paths, size_t n,
                               rl__pb_pool **out, char *err, size_t errlen) {
  return rl__pb_pool_new_from_proto_warn(proto_file, import_paths, n, NULL,
                                         NULL, out, err, errlen);
}

int rl__pb_pool_new_from_proto_warn(const char *proto_file,
                                    const char *const *import_paths, size_t n,
                                    rl__pb_warn_fn warn, void *warn_arg,
                                    rl__pb_pool **out, char *err,
                                    size_t errlen) {
  *out = NULL;
  if (errlen > 0)
    err[0] = '\0';
  const char *protoc = getenv("RPCLOAD_PROTOC");
  if (protoc == NULL || protoc[0] == '\0')
    protoc = "protoc";
  const char *tmpdir = getenv("TMPDIR");
  if (tmpdir == NULL || tmpdir[0] == '\0')
    tmpdir = "/tmp";

  int rc = 0;
  char tmp[PATH_MAX];
  tmp[0] = '\0';
  char **argv = calloc(n + 6, sizeof *argv);
  char **owned = calloc(n + 4, sizeof *owned); /* strings argv owns */
  size_t n_owned = 0, argc = 0;
  char *file_real = NULL;
  char *output = malloc(16384);
  if (argv == NULL || owned == NULL || output == NULL) {
    snprintf(err, errlen, "out of memory");
    rc = RL_ERR_NOMEM;
    goto out;
  }
  if ((size_t)snprintf(tmp, sizeof tmp, "%s/rpcload-protoset-XXXXXX", tmpdir) >=
      sizeof tmp) {
    snprintf(err, errlen, "TMPDIR is too long");
    rc = RL_ERR_INVAL;
    goto out;
  }
  int tfd = mkstemp(tmp);
  if (tfd < 0) {
    snprintf(err, errlen, "cannot create a temporary file in %s: %s", tmpdir,
             strerror(errno));
    tmp[0] = '\0';
    rc = RL_ERR_IO;
    goto out;
  }
  close(tfd);

  /*
   * protoc maps the file to its name in the set through the first -I that
   * is a *textual* prefix of it. Users mix relative and absolute paths, so
   * when the file and the directories resolve (realpath), protoc gets the
   * resolved forms; and a file under none of the directories gets its own
   * directory searched last.
   */
  file_real = realpath(proto_file, NULL);
  argv[argc++] = (char *)protoc;
  argv[argc++] = "--include_imports";
  owned[n_owned] = malloc(strlen(tmp) + 32);
  if (owned[n_owned] == NULL) {
    snprintf(err, errlen, "out of memory");
    rc = RL_ERR_NOMEM;
    goto out;
  }
  sprintf(owned[n_owned], "--descriptor_set_out=%s", tmp);
  argv[argc++] = owned[n_owned++];
  int inside = 0;
  for (size_t i = 0; i < n; i++) {
    char *dir_real = file_real != NULL ? realpath(import_paths[i], NULL) : NULL;
    const char *dir = dir_real != NULL ? dir_real : import_paths[i];
    if (dir_real != NULL && path_under(file_real, dir_real))
      inside = 1;
    char *arg = malloc(strlen(dir) + 16);
    if (arg == NULL) {
      free(dir_real);
      snprintf(err, errlen, "out of memory");
      rc = RL_ERR_NOMEM;
      goto out;
    }
    sprintf(arg, "--proto_path=%s", dir);
    free(dir_real);
    /* argv keeps every -I; the owned list is sized for n + 4 entries. */
    owned[n_owned++] = arg;
    argv[argc++] = arg;
  }
  if (file_real != NULL && !inside) {
    char *slash = strrchr(file_real, '/');
    size_t dl = slash == file_real ? 1 : (size_t)(slash - file_real);
    char *arg = malloc(dl + 16);
    if (arg == NULL) {
      snprintf(err, errlen, "out of memory");
      rc = RL_ERR_NOMEM;
      goto out;
    }
    snprintf(arg, dl + 16, "--proto_path=%.*s", (int)dl, file_real);
    owned[n_owned++] = arg;
    argv[argc++] = arg;
  }
  argv[argc++] = file_real != NULL ? file_real : (char *)proto_file;
  argv[argc] = NULL;

  int status = 0, spawn_errno = 0;
  if (!executable(protoc)) {
    snprintf(err, errlen,
             "cannot run %s: No such file or directory (install "
             "protobuf-compiler, or give a descriptor set made beforehand "
             "with --protoset)",
             protoc);
    rc = RL_ERR_NOTFOUND;
    goto out;
  }
  if (run_capture(argv, output, 16384, &status, &spawn_errno) != 0) {
    snprintf(err, errlen,
             "cannot run %s: %s (install protobuf-compiler, or give a "
             "descriptor set made beforehand with --protoset)",
             protoc, strerror(spawn_errno));
    rc = spawn_errno == ENOENT ? RL_ERR_NOTFOUND : RL_ERR_IO;
    goto out;
  }
  int failed = !WIFEXITED(status) || WEXITSTATUS(status) != 0;
  if (failed) {
    /* Warnings alone: keep them as the error (it would be empty). */
    char *copy = strdup(output);
    if (copy != NULL && split_warnings(copy, NULL, NULL) > 0 &&
        strspn(copy, " \r\n") < strlen(copy))
      split_warnings(output, warn, warn_arg);
    free(copy);
  } else {
    split_warnings(output, warn, warn_arg);
  }
  if (failed) {
    size_t l = strlen(output);
    while (l > 0 && (output[l - 1] == '\n' || output[l - 1] == '\r' ||
                     output[l - 1] == ' '))
      output[--l] = '\0';
    if (l > 0)
      snprintf(err, errlen, "%s", output);
    else if (WIFSIGNALED(status))
      snprintf(err, errlen, "%s was killed by signal %d", protoc,
               WTERMSIG(status));
    else
      snprintf(err, errlen, "%s failed (exit status %d)", protoc,
               WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    rc = RL_ERR_INVAL;
    goto out;
  }
  rc = rl__pb_pool_new_from_file(tmp, out, err, errlen);
  size_t tl = strlen(tmp);
  if (rc == RL_ERR_INVAL && errlen > 0 && strncmp(err, tmp, tl) == 0 &&
      err[tl] == ':') {
    /* The error names the temporary file: name the user's instead. */
    char reason[1024];
    snprintf(reason, sizeof reason, "%s", err + tl + 2);
    snprintf(err, errlen, "%s: %s", proto_file, reason);
  }
out:
  if (tmp[0] != '\0')
    unlink(tmp);
  for (size_t i = 0; owned != NULL && i < n_owned; i++)
    free(owned[i]);
  free(owned);
  free(argv);
  free(file_real);
  free(output);
  return rc;
}

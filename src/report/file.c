/*
 * Report files replaced whole (see file.h for the contract).
 */
#include "report/file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rpcload/plugin.h>

static void set_reason(char *err, size_t errlen, const char *what,
                       const char *path, int errnum) {
  if (!err || !errlen)
    return;
  char text[256] = "unknown error";
  if (errnum)
    strerror_r(errnum, text, sizeof text);
  snprintf(err, errlen, "%s %s: %s", what, path, text);
}

static void file_free(rl__report_file *rf) {
  free(rf->path);
  free(rf->tmp);
  rf->path = rf->tmp = NULL;
  rf->f = NULL;
}

/* PATH is something other than a regular file (/dev/stdout, a FIFO, a
 * terminal): written in place, as nothing could be renamed over it
 * without replacing the device or pipe itself. */
static int begin_in_place(rl__report_file *rf, char *err, size_t errlen) {
  rf->f = fopen(rf->path, "wb");
  if (!rf->f) {
    set_reason(err, errlen, "cannot open", rf->path, errno);
    file_free(rf);
    return RL_ERR_IO;
  }
  return 0;
}

int rl__report_file_begin(rl__report_file *rf, const char *path, char *err,
                          size_t errlen) {
  struct stat st;
  rf->f = NULL;
  rf->tmp = NULL;
  int exists = stat(path, &st) == 0;
  /* A symlink to a file: the file is replaced, beside it, and the link
   * stays. */
  rf->path = exists ? realpath(path, NULL) : strdup(path);
  if (!rf->path) {
    if (err && errlen)
      snprintf(err, errlen, "out of memory writing %s", path);
    return RL_ERR_NOMEM;
  }
  if (exists && !S_ISREG(st.st_mode)) {
    if (S_ISDIR(st.st_mode)) {
      set_reason(err, errlen, "cannot write", path, EISDIR);
      file_free(rf);
      return RL_ERR_IO;
    }
    return begin_in_place(rf, err, errlen);
  }
  size_t n = strlen(rf->path);
  rf->tmp = malloc(n + sizeof ".tmp");
  if (!rf->tmp) {
    file_free(rf);
    if (err && errlen)
      snprintf(err, errlen, "out of memory writing %s", path);
    return RL_ERR_NOMEM;
  }
  memcpy(rf->tmp, rf->path, n);
  memcpy(rf->tmp + n, ".tmp", sizeof ".tmp");
  /* O_NOFOLLOW: whatever a symlink named PATH.tmp points at is not ours to
   * overwrite. */
  int fd = open(rf->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
                0666);
  if (fd >= 0) {
    rf->f = fdopen(fd, "wb");
    if (!rf->f) {
      int e = errno;
      close(fd);
      unlink(rf->tmp);
      errno = e;
    }
  }
  if (!rf->f) {
    set_reason(err, errlen, "cannot create", rf->tmp, errno);
    file_free(rf);
    return RL_ERR_IO;
  }
  return 0;
}

int rl__report_file_commit(rl__report_file *rf, int durable, char *err,
                           size_t errlen) {
  if (!rf->f)
    return RL_ERR_IO;
  const char *written = rf->tmp ? rf->tmp : rf->path;
  int werr = 0;
  /* ferror: an earlier fwrite may have failed (a full disk) and the error
   * be sticky while the flush below finds nothing left to write. */
  errno = 0;
  if (fflush(rf->f) != 0 || ferror(rf->f))
    werr = errno ? errno : EIO;
  /* fsync of a pipe or a terminal says EINVAL: nothing to make durable. */
  if (!werr && durable && fsync(fileno(rf->f)) != 0 && errno != EINVAL)
    werr = errno;
  if (fclose(rf->f) != 0 && !werr)
    werr = errno ? errno : EIO;
  rf->f = NULL;
  int rc = 0;
  if (werr) {
    set_reason(err, errlen, "cannot write", written, werr);
    if (rf->tmp)
      unlink(rf->tmp);
    rc = RL_ERR_IO;
  } else if (rf->tmp && rename(rf->tmp, rf->path) != 0) {
    set_reason(err, errlen, "cannot rename to", rf->path, errno);
    unlink(rf->tmp);
    rc = RL_ERR_IO;
  }
  file_free(rf);
  return rc;
}

void rl__report_file_abort(rl__report_file *rf) {
  if (rf->f) {
    fclose(rf->f);
    if (rf->tmp)
      unlink(rf->tmp);
  }
  file_free(rf);
}

int rl__report_file_replace(const char *path, const char *data, size_t len,
                            char *err, size_t errlen) {
  rl__report_file rf;
  int rc = rl__report_file_begin(&rf, path, err, errlen);
  if (rc)
    return rc;
  errno = 0;
  if (len && fwrite(data, 1, len, rf.f) != len) {
    set_reason(err, errlen, "cannot write", rf.tmp ? rf.tmp : rf.path,
               errno ? errno : EIO);
    rl__report_file_abort(&rf);
    return RL_ERR_IO;
  }
  return rl__report_file_commit(&rf, 0, err, errlen);
}

int rl__report_file_check(const char *what, const char *path, char *err,
                          size_t errlen) {
  struct stat st;
  if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
    /* A directory is refused; a device or a FIFO is written in place and
     * only needs to let us (opening a FIFO now would wait for a reader). */
    int errnum = S_ISDIR(st.st_mode)       ? EISDIR
                 : access(path, W_OK) != 0 ? errno
                                           : 0;
    if (!errnum)
      return 0;
    set_reason(err, errlen, what, path, errnum);
    return RL_ERR_IO;
  }
  rl__report_file rf;
  char why[512];
  if (rl__report_file_begin(&rf, path, why, sizeof why)) {
    if (err && errlen)
      snprintf(err, errlen, "%s %s: %s", what, path, why);
    return RL_ERR_IO;
  }
  rl__report_file_abort(&rf);
  return 0;
}

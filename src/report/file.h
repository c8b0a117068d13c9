/*
 * Report files replaced whole: the new content goes to PATH.tmp, in the same
 * folder, which is renamed over PATH once it is complete. rename(2) within a
 * folder is atomic, so whoever opens PATH (a reader, a later run, a test
 * after a kill -9 or a full disk) finds the old file or the new one, never
 * half of one. A failed write removes PATH.tmp and leaves PATH as it was.
 * A symlink is followed: the file it names is replaced, the link stays.
 * A PATH that is neither a regular file nor missing (/dev/stdout, a FIFO,
 * a device) is written in place: renaming over it would replace the
 * device or pipe itself.
 *
 * One writer per path at a time; the functions take no lock.
 */
#ifndef RL_REPORT_FILE_H
#define RL_REPORT_FILE_H

#include <stddef.h>
#include <stdio.h>

/* A file being written; embedded by the caller, set up by _begin. */
typedef struct rl__report_file {
  FILE *f;    /* write the content here (owned until _commit or _abort) */
  char *path; /* owned: the file replaced (a symlink resolved) */
  char *tmp;  /* owned: PATH.tmp; NULL when written in place */
} rl__report_file;

/*
 * Opens PATH.tmp (created or truncated, mode 0666 less the umask) for
 * writing into rf->f. Returns 0, or RL_ERR_IO / RL_ERR_NOMEM with a reason
 * naming the file in `err` (may be NULL); rf then holds nothing.
 */
int rl__report_file_begin(rl__report_file *rf, const char *path, char *err,
                          size_t errlen);

/*
 * Completes the file: flushes rf->f, checks that every write reached it,
 * fsyncs it when `durable` (the final reports: their content must survive
 * a crash of the machine, not only of the process), closes it and renames
 * PATH.tmp over PATH. On failure PATH.tmp is removed, PATH is untouched
 * and the reason names the file. Frees what rf holds either way. Returns 0
 * or RL_ERR_IO.
 */
int rl__report_file_commit(rl__report_file *rf, int durable, char *err,
                           size_t errlen);

/* Gives up: closes and removes PATH.tmp, PATH untouched; frees rf. */
void rl__report_file_abort(rl__report_file *rf);

/*
 * `len` bytes of `data` as the whole new content of `path`, through
 * _begin and _commit (not durable: the per-second CSV files). 0, or
 * RL_ERR_IO / RL_ERR_NOMEM with the reason.
 */
int rl__report_file_replace(const char *path, const char *data, size_t len,
                            char *err, size_t errlen);

/*
 * At start-up, before a long run: can `path` be written at the end? Makes
 * and removes PATH.tmp (so a missing folder, a read-only file system or a
 * folder without write permission is found now) and refuses a PATH that is
 * a directory. `what` names the option in the reason, e.g. "--html".
 * Returns 0, or RL_ERR_IO with the option, the path and why in `err`
 * ("--html /x/r.html: cannot create /x/r.html.tmp: No such file or
 * directory").
 */
int rl__report_file_check(const char *what, const char *path, char *err,
                          size_t errlen);

#endif /* RL_REPORT_FILE_H */

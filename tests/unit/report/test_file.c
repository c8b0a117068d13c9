/*
 * Unit tests for report files replaced whole (src/report/file.c): through
 * PATH.tmp and a rename, a symlink's file replaced and the link kept,
 * devices written in place (never replaced), and the start-up check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <rpcload/plugin.h>

#include "report/file.h"

typedef struct fixture {
  char dir[64];
  char path[128];
  char tmp[160];
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  assert_non_null(f);
  snprintf(f->dir, sizeof f->dir, "/tmp/rlfileXXXXXX");
  assert_non_null(mkdtemp(f->dir));
  snprintf(f->path, sizeof f->path, "%s/report.json", f->dir);
  snprintf(f->tmp, sizeof f->tmp, "%s.tmp", f->path);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  char path[256];
  static const char *const names[] = {"report.json", "report.json.tmp",
                                      "target.json", "target.json.tmp",
                                      "link.json"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", f->dir, names[i]);
    unlink(path);
  }
  snprintf(path, sizeof path, "%s/sub", f->dir);
  rmdir(path);
  rmdir(f->dir);
  free(f);
  return 0;
}

static char *slurp(const char *path) {
  FILE *fp = fopen(path, "rb");
  if (!fp)
    return NULL;
  static char buf[4096];
  size_t n = fread(buf, 1, sizeof buf - 1, fp);
  fclose(fp);
  buf[n] = '\0';
  return buf;
}

static void put(const char *path, const char *text) {
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  fputs(text, fp);
  fclose(fp);
}

static int exists(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0;
}

/* The old content stays until the new one is complete. */
static void test_replaced_at_commit(void **state) {
  fixture *f = *state;
  put(f->path, "old");
  rl__report_file rf;
  char err[256] = "";
  assert_int_equal(rl__report_file_begin(&rf, f->path, err, sizeof err), 0);
  fputs("new content", rf.f);
  fflush(rf.f);
  assert_string_equal(slurp(f->path), "old");
  assert_string_equal(slurp(f->tmp), "new content");
  assert_int_equal(rl__report_file_commit(&rf, 1, err, sizeof err), 0);
  assert_string_equal(slurp(f->path), "new content");
  assert_false(exists(f->tmp));
}

static void test_abort_keeps_old(void **state) {
  fixture *f = *state;
  put(f->path, "old");
  rl__report_file rf;
  assert_int_equal(rl__report_file_begin(&rf, f->path, NULL, 0), 0);
  fputs("half", rf.f);
  rl__report_file_abort(&rf);
  assert_string_equal(slurp(f->path), "old");
  assert_false(exists(f->tmp));
}

static void test_replace_whole(void **state) {
  fixture *f = *state;
  char err[256] = "";
  assert_int_equal(
      rl__report_file_replace(f->path, "a,b\r\n", 5, err, sizeof err), 0);
  assert_string_equal(slurp(f->path), "a,b\r\n");
  assert_false(exists(f->tmp));
}

/* A symlink: its file is replaced beside it, the link stays a link. */
static void test_symlink_kept(void **state) {
  fixture *f = *state;
  char target[160], link[160], target_tmp[176];
  snprintf(target, sizeof target, "%s/target.json", f->dir);
  snprintf(target_tmp, sizeof target_tmp, "%s.tmp", target);
  snprintf(link, sizeof link, "%s/link.json", f->dir);
  put(target, "old");
  assert_int_equal(symlink(target, link), 0);
  assert_int_equal(rl__report_file_replace(link, "new", 3, NULL, 0), 0);
  struct stat st;
  assert_int_equal(lstat(link, &st), 0);
  assert_true(S_ISLNK(st.st_mode));
  assert_string_equal(slurp(target), "new");
  assert_false(exists(target_tmp));
}

/* A device is written in place: renaming a file over /dev/null would
 * replace the device itself. */
static void test_device_in_place(void **state) {
  (void)state;
  char err[256] = "";
  assert_int_equal(
      rl__report_file_replace("/dev/null", "x", 1, err, sizeof err), 0);
  struct stat st;
  assert_int_equal(stat("/dev/null", &st), 0);
  assert_true(S_ISCHR(st.st_mode));
  assert_false(exists("/dev/null.tmp"));
  if (stat("/dev/full", &st) == 0 && S_ISCHR(st.st_mode)) {
    /* Every write fails there (ENOSPC): said, and the device stays. */
    static char big[1 << 16];
    assert_int_equal(
        rl__report_file_replace("/dev/full", big, sizeof big, err, sizeof err),
        RL_ERR_IO);
    assert_non_null(strstr(err, "/dev/full: No space left on device"));
    assert_int_equal(stat("/dev/full", &st), 0);
    assert_true(S_ISCHR(st.st_mode));
  }
}

static void test_failures_name_the_file(void **state) {
  fixture *f = *state;
  char err[256] = "";
  assert_int_equal(rl__report_file_replace("/nonexistent-dir/r.json", "x", 1,
                                           err, sizeof err),
                   RL_ERR_IO);
  assert_string_equal(err, "cannot create /nonexistent-dir/r.json.tmp: No "
                           "such file or directory");
  /* A directory where the temp file goes: refused, the file untouched. */
  put(f->path, "old");
  assert_int_equal(mkdir(f->tmp, 0700), 0);
  assert_int_equal(rl__report_file_replace(f->path, "x", 1, err, sizeof err),
                   RL_ERR_IO);
  assert_non_null(strstr(err, "report.json.tmp"));
  assert_string_equal(slurp(f->path), "old");
  assert_int_equal(rmdir(f->tmp), 0);
}

/* At start-up: a missing folder and a directory are refused with the
 * option's name; a good path and a device pass, leaving nothing behind. */
static void test_check(void **state) {
  fixture *f = *state;
  char err[256] = "";
  assert_int_equal(rl__report_file_check("--html", f->path, err, sizeof err),
                   0);
  assert_false(exists(f->path));
  assert_false(exists(f->tmp));
  assert_int_equal(
      rl__report_file_check("--json-file", "/dev/null", err, sizeof err), 0);
  assert_int_equal(rl__report_file_check("--html", "/nonexistent-dir/r.html",
                                         err, sizeof err),
                   RL_ERR_IO);
  assert_string_equal(err, "--html /nonexistent-dir/r.html: cannot create "
                           "/nonexistent-dir/r.html.tmp: No such file or "
                           "directory");
  assert_int_equal(
      rl__report_file_check("--json-file", f->dir, err, sizeof err), RL_ERR_IO);
  assert_non_null(strstr(err, "--json-file"));
  assert_non_null(strstr(err, "Is a directory"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_replaced_at_commit, setup, teardown),
      cmocka_unit_test_setup_teardown(test_abort_keeps_old, setup, teardown),
      cmocka_unit_test_setup_teardown(test_replace_whole, setup, teardown),
      cmocka_unit_test_setup_teardown(test_symlink_kept, setup, teardown),
      cmocka_unit_test(test_device_in_place),
      cmocka_unit_test_setup_teardown(test_failures_name_the_file, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_check, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* plugins/lib/buf: the growable byte buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <rpcload/plugin.h>

#include "lib/buf.h"

static void test_append(void **state) {
  (void)state;
  rl__buf b = {0};
  assert_int_equal(rl__buf_add(&b, NULL, 0), 0); /* nothing, no memory */
  assert_null(b.p);
  assert_int_equal(rl__buf_str(&b, "GET "), 0);
  assert_int_equal(rl__buf_add(&b, "/x\0y", 4), 0);
  assert_int_equal(b.len, 8);
  assert_memory_equal(b.p, "GET /x\0y", 8);
  assert_int_equal(b.cap, 256);
  /* Doubling: 1008 bytes need 1024. */
  char big[1000];
  memset(big, 'a', sizeof big);
  assert_int_equal(rl__buf_add(&b, big, sizeof big), 0);
  assert_int_equal(b.len, 1008);
  assert_int_equal(b.cap, 1024);
  assert_memory_equal(b.p + 8, big, sizeof big);
  assert_false(b.oom);
  rl__buf_free(&b);
  assert_null(b.p);
  assert_int_equal(b.len, 0);
  assert_int_equal(b.cap, 0);
}

static void test_reserve(void **state) {
  (void)state;
  rl__buf b = {0};
  assert_int_equal(rl__buf_reserve(&b, 300), 0);
  assert_int_equal(b.len, 0);
  assert_int_equal(b.cap, 512);
  memcpy(b.p, "abc", 3);
  b.len = 3;
  assert_int_equal(rl__buf_reserve(&b, 509), 0); /* fits: no move */
  assert_int_equal(b.cap, 512);
  assert_int_equal(rl__buf_reserve(&b, 510), 0);
  assert_int_equal(b.cap, 1024);
  assert_memory_equal(b.p, "abc", 3);
  rl__buf_free(&b);
}

/* Out of memory (here: more than size_t can double to): oom is set, what
 * was there stays, and appends are refused until reset. */
static void test_oom_sticks(void **state) {
  (void)state;
  rl__buf b = {0};
  assert_int_equal(rl__buf_str(&b, "kept"), 0);
  assert_int_equal(rl__buf_reserve(&b, SIZE_MAX - 2), RL_ERR_NOMEM);
  assert_true(b.oom);
  assert_int_equal(b.len, 4);
  assert_memory_equal(b.p, "kept", 4);
  assert_int_equal(rl__buf_add(&b, "x", 1), RL_ERR_NOMEM);
  assert_int_equal(rl__buf_add(&b, NULL, 0), RL_ERR_NOMEM);
  assert_int_equal(b.len, 4);
  rl__buf_reset(&b);
  assert_false(b.oom);
  assert_int_equal(b.len, 0);
  assert_int_equal(rl__buf_str(&b, "again"), 0);
  assert_memory_equal(b.p, "again", 5);
  rl__buf_free(&b);
}

/* reset keeps the memory; trim gives back what is over `keep`. */
static void test_reset_trim(void **state) {
  (void)state;
  rl__buf b = {0};
  assert_int_equal(rl__buf_reserve(&b, 4000), 0);
  assert_int_equal(rl__buf_str(&b, "abc"), 0);
  char *p = b.p;
  rl__buf_reset(&b);
  assert_ptr_equal(b.p, p);
  assert_int_equal(b.len, 0);
  rl__buf_str(&b, "abc");
  rl__buf_trim(&b, 8192); /* small enough: kept, emptied */
  assert_ptr_equal(b.p, p);
  assert_int_equal(b.len, 0);
  rl__buf_str(&b, "abc");
  rl__buf_trim(&b, 1024); /* over: freed */
  assert_null(b.p);
  assert_int_equal(b.len, 0);
  assert_int_equal(b.cap, 0);
}

static void test_read_fd(void **state) {
  (void)state;
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  static char data[40000];
  for (size_t i = 0; i < sizeof data; i++)
    data[i] = (char)('a' + i % 26);
  /* More than one read's worth, written before reading (a pipe holds
   * 64 KiB on Linux). */
  assert_int_equal(write(fds[1], data, sizeof data), (ssize_t)sizeof data);
  close(fds[1]);
  rl__buf b = {0};
  assert_int_equal(rl__buf_str(&b, ">"), 0);
  assert_int_equal(rl__buf_read_fd(&b, fds[0]), 0);
  close(fds[0]);
  assert_int_equal(b.len, 1 + sizeof data);
  assert_memory_equal(b.p + 1, data, sizeof data);
  rl__buf_free(&b);

  /* A descriptor that cannot be read. */
  assert_int_equal(rl__buf_read_fd(&b, -1), RL_ERR_IO);
  assert_int_equal(b.len, 0);
  rl__buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_append),     cmocka_unit_test(test_reserve),
      cmocka_unit_test(test_oom_sticks), cmocka_unit_test(test_reset_trim),
      cmocka_unit_test(test_read_fd),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

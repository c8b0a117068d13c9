/* base/buf.c: the growable text buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"

static void test_add_grows_and_terminates(void **state) {
  (void)state;
  rl__buf b;
  rl__buf_init(&b);
  assert_null(b.p);
  for (int i = 0; i < 1000; i++)
    rl__buf_add(&b, "abc", 3);
  assert_int_equal(b.len, 3000);
  assert_true(b.cap > 3000);
  assert_int_equal(b.p[3000], '\0');
  assert_memory_equal(b.p + 2997, "abc", 3);
  rl__buf_printf(&b, "|%d|%s", 42, "x");
  assert_string_equal(b.p + 3000, "|42|x");
  /* Longer than printf's small first try. */
  char big[300];
  memset(big, 'y', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  rl__buf_printf(&b, "%s!", big);
  assert_int_equal(b.len, 3005 + 300);
  assert_int_equal(b.p[b.len - 1], '!');
  assert_int_equal(b.oom, 0);
  rl__buf_reset(&b);
  assert_int_equal(b.len, 0);
  assert_string_equal(b.p, "");
  rl__buf_str(&b, "again");
  assert_string_equal(b.p, "again");
  rl__buf_free(&b);
  assert_null(b.p);
  assert_int_equal(b.cap, 0);
}

static void test_take(void **state) {
  (void)state;
  rl__buf b;
  rl__buf_init(&b);
  rl__buf_str(&b, "text");
  char *out = NULL;
  size_t len = 0;
  assert_int_equal(rl__buf_take(&b, &out, &len), 0);
  assert_string_equal(out, "text");
  assert_int_equal(len, 4);
  assert_null(b.p); /* the buffer gave its text away */
  free(out);
  /* Nothing added: an empty text, not an error. */
  assert_int_equal(rl__buf_take(&b, &out, &len), 0);
  assert_string_equal(out, "");
  free(out);
}

static void test_oom_is_sticky(void **state) {
  (void)state;
  rl__buf b;
  rl__buf_init(&b);
  rl__buf_str(&b, "start");
  /* A size no allocator gives: the append fails, and so do later ones. */
  assert_int_equal(rl__buf_reserve(&b, (size_t)-1 / 2), -1);
  assert_int_equal(b.oom, 1);
  rl__buf_str(&b, "more");
  assert_int_equal(b.len, 5);
  /* reset forgets the failure. */
  rl__buf_reset(&b);
  rl__buf_str(&b, "x");
  assert_string_equal(b.p, "x");
  assert_int_equal(rl__buf_reserve(&b, (size_t)-1 / 2), -1);
  char *out = (char *)1;
  size_t len = 7;
  assert_int_equal(rl__buf_take(&b, &out, &len), -1);
  assert_null(out);
  assert_int_equal(len, 0);
  /* A failed take leaves an empty buffer, ready again. */
  assert_null(b.p);
  rl__buf_str(&b, "y");
  assert_string_equal(b.p, "y");
  rl__buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_add_grows_and_terminates),
      cmocka_unit_test(test_take),
      cmocka_unit_test(test_oom_is_sticky),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* plugins/lib/grpc_status: status code names both ways, and grpc-message
 * decoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/grpc_status.h"

static void test_names(void **state) {
  (void)state;
  assert_string_equal(rl__grpc_status_name(0), "OK");
  assert_string_equal(rl__grpc_status_name(4), "DEADLINE_EXCEEDED");
  assert_string_equal(rl__grpc_status_name(14), "UNAVAILABLE");
  assert_string_equal(rl__grpc_status_name(16), "UNAUTHENTICATED");
  assert_null(rl__grpc_status_name(17));
  assert_null(rl__grpc_status_name(-1));
  assert_string_equal(rl__grpc_status_name(GRPC_FAILED_PRECONDITION),
                      "FAILED_PRECONDITION");
}

/* Every name goes back to its code; case does not matter; what is no
 * code's name is -1. */
static void test_codes(void **state) {
  (void)state;
  for (int code = 0; code <= 16; code++)
    assert_int_equal(rl__grpc_status_code(rl__grpc_status_name(code)), code);
  assert_int_equal(rl__grpc_status_code("not_found"), GRPC_NOT_FOUND);
  assert_int_equal(rl__grpc_status_code("Unavailable"), GRPC_UNAVAILABLE);
  assert_int_equal(rl__grpc_status_code("NOT_FOUNDX"), -1);
  assert_int_equal(rl__grpc_status_code("NOT_FOUN"), -1);
  assert_int_equal(rl__grpc_status_code(""), -1);
  assert_int_equal(rl__grpc_status_code("14"), -1);
  assert_int_equal(rl__grpc_status_code(NULL), -1);
}

static void test_message_decode(void **state) {
  (void)state;
  char out[64];
  const char *in = "no such user: %C3%A9%0A%zz%4";
  rl__grpc_message_decode((const uint8_t *)in, strlen(in), out, sizeof out);
  /* UTF-8 bytes come back; a newline becomes a space (one-line error
   * texts); a bad escape stays as it is. */
  assert_string_equal(out, "no such user: \xc3\xa9 %zz%4");
  char small[5];
  rl__grpc_message_decode((const uint8_t *)"abcdefgh", 8, small, sizeof small);
  assert_string_equal(small, "abcd");
  /* An escape at the very end; nothing written into no room. */
  rl__grpc_message_decode((const uint8_t *)"a%41", 4, out, sizeof out);
  assert_string_equal(out, "aA");
  small[0] = 'x';
  rl__grpc_message_decode((const uint8_t *)"abc", 3, small, 0);
  assert_int_equal(small[0], 'x');
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_codes),
      cmocka_unit_test(test_message_decode),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

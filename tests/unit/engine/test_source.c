/* --source-address (engine/source.h): the list and ranges read, the
 * errors named, and the rotation over connection attempts. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/source.h"

static void test_list_and_range(void **state) {
  (void)state;
  rl__sources s;
  char err[256] = "";
  /* Every 127/8 address is this machine's on Linux's loopback. */
  assert_int_equal(rl__sources_parse(&s, "127.0.0.2,127.0.0.5-127.0.0.7,::1",
                                     err, sizeof err),
                   0);
  assert_int_equal(rl__sources_count(&s, AF_INET), 4);
  assert_int_equal(rl__sources_count(&s, AF_INET6), 1);
  char text[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &s.v4[3].in.sin_addr, text, sizeof text);
  assert_string_equal(text, "127.0.0.7");
  rl__sources_free(&s);
}

static void test_errors_name_the_item(void **state) {
  (void)state;
  static const struct {
    const char *spec, *said;
  } cases[] = {
      {"127.0.0.2,x", "'x' is not an IPv4 or IPv6 address"},
      {"127.0.0.3-127.0.0.2", "'127.0.0.3-127.0.0.2' ends before it starts"},
      {"127.0.0.2-::1", "is not a range of IPv4 addresses"},
      {"127.0.0.0-127.0.255.255", "makes more than 4096 addresses"},
      {",", "no address given"},
      {"198.51.100.7", "not an address of this machine"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    rl__sources s;
    char err[256] = "";
    assert_int_not_equal(rl__sources_parse(&s, cases[i].spec, err, sizeof err),
                         0);
    assert_non_null(strstr(err, cases[i].said));
    assert_int_equal(rl__sources_count(&s, AF_INET), 0);
  }
}

/* The local address a socket bound by rl__sources_bind got. */
static void bound_to(rl__sources *s, char *text, size_t len) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  char why[128];
  assert_int_equal(rl__sources_bind(s, fd, AF_INET, why, sizeof why), 0);
  struct sockaddr_in a;
  socklen_t alen = sizeof a;
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
  inet_ntop(AF_INET, &a.sin_addr, text, (socklen_t)len);
  close(fd);
}

static void test_rotation(void **state) {
  (void)state;
  rl__sources s;
  char err[256];
  assert_int_equal(
      rl__sources_parse(&s, "127.0.0.2-127.0.0.4", err, sizeof err), 0);
  static const char *const want[] = {"127.0.0.2", "127.0.0.3", "127.0.0.4",
                                     "127.0.0.2"};
  for (size_t i = 0; i < 4; i++) {
    char text[INET_ADDRSTRLEN];
    bound_to(&s, text, sizeof text);
    assert_string_equal(text, want[i]);
  }
  /* No IPv6 address: the reason, not a bind. */
  int fd = socket(AF_INET6, SOCK_STREAM, 0);
  char why[128];
  assert_int_not_equal(rl__sources_bind(&s, fd, AF_INET6, why, sizeof why), 0);
  assert_non_null(strstr(why, "no IPv6 address"));
  close(fd);
  rl__sources_free(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_list_and_range),
      cmocka_unit_test(test_errors_name_the_item),
      cmocka_unit_test(test_rotation),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Splitting target URLs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <rpcload/plugin.h>

#include "base/url.h"

static void check(const char *text, const char *scheme, const char *host,
                  unsigned port, const char *path) {
  rl__url u;
  char err[256] = "";
  int rc = rl__url_parse(text, &u, err, sizeof err);
  if (rc)
    fail_msg("'%s' refused: %s", text, err);
  if (scheme)
    assert_string_equal(u.scheme, scheme);
  else
    assert_null(u.scheme);
  assert_string_equal(u.host, host);
  assert_int_equal(u.port, port);
  assert_string_equal(u.path, path);
  rl__url_free(&u);
}

static void test_good(void **state) {
  (void)state;
  check("http://127.0.0.1:8080/hello", "http", "127.0.0.1", 8080, "/hello");
  check("HTTPS://api.local/orders?id=1&x=2", "https", "api.local", 0,
        "/orders?id=1&x=2");
  check("http://example.com", "http", "example.com", 0, "/");
  check("http://example.com?q=1", "http", "example.com", 0, "/?q=1");
  check("http://[::1]:9000/x#frag", "http", "::1", 9000, "/x");
  check("127.0.0.1:50051", NULL, "127.0.0.1", 50051, "/");
  check("redis://127.0.0.1:6379", "redis", "127.0.0.1", 6379, "/");
}

static void test_bad(void **state) {
  (void)state;
  const char *bad[] = {"http://",         "http://:80/",  "://x",
                       "ht tp://x/",      "http://[::1/", "http://x:0/",
                       "http://x:65536/", "http://x:8o/", "http://x/a b",
                       "http://x:/"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    rl__url u;
    char err[256] = "";
    assert_int_equal(rl__url_parse(bad[i], &u, err, sizeof err), RL_ERR_INVAL);
    assert_non_null(strstr(err, "URL"));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_good),
      cmocka_unit_test(test_bad),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

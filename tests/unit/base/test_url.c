/* Splitting target URLs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
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

static void rebased(const char *current, const char *host, const char *want) {
  char *got = rl__url_rebase(current, host);
  assert_non_null(got);
  if (strcmp(got, want) != 0)
    fail_msg("'%s' for '%s': '%s', not '%s'", host, current, got, want);
  free(got);
}

/* A host typed for a run (the web UI's form): an origin keeps the run's
 * path, anything with a path or without a scheme is the whole target. */
static void test_rebase(void **state) {
  (void)state;
  rebased("http://a:1/hello", "http://b:2", "http://b:2/hello");
  rebased("http://a:1/hello?x=1", "http://b:2/", "http://b:2/hello?x=1");
  rebased("http://a:1/hello", "http://a:1", "http://a:1/hello");
  rebased("http://a:1/hello", "https://b//", "https://b/hello");
  rebased("http://a:1/hello", "http://b:2/other", "http://b:2/other");
  rebased("http://a:1/hello", "http://b:2?q=1", "http://b:2?q=1");
  rebased("http://a:1/", "http://b:2", "http://b:2");
  rebased("http://a:1", "https://b/", "https://b");
  rebased("", "http://b:2", "http://b:2");
  rebased("127.0.0.1:50051", "127.0.0.1:50052", "127.0.0.1:50052");
  rebased("grpc://a:1", "grpc://b:2", "grpc://b:2");
  rebased("http://a:1/hello", "b:2", "b:2");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_good),
      cmocka_unit_test(test_bad),
      cmocka_unit_test(test_rebase),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

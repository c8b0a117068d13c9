/* plugins/lib/http_redirect: python-requests' redirect rules (statuses,
 * methods, bodies) and Location resolution (RFC 3986 5.2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <rpcload/plugin.h>

#include "lib/http_redirect.h"

static const rl__http_base base = {"http", "example.com", 80, "example.com",
                                   "/a/b/c?x=1"};

/* Resolves loc against b, expecting `want` (an enum rl__http_location)
 * and `text` in the output. */
static void expect(const rl__http_base *b, const char *loc, int want,
                   const char *text) {
  rl__buf out = {0};
  int rc = rl__http_resolve_location(loc, strlen(loc), b, &out);
  char got[512];
  snprintf(got, sizeof got, "%.*s", (int)out.len, out.p ? out.p : "");
  if (rc != want || strcmp(got, text) != 0)
    fail_msg("Location '%s': got %d '%s', want %d '%s'", loc, rc, got, want,
             text);
  rl__buf_free(&out);
}

static void test_same_origin(void **state) {
  (void)state;
  expect(&base, "/next", RL__LOCATION_SAME, "/next");
  expect(&base, "  /next\t", RL__LOCATION_SAME, "/next");
  expect(&base, "next", RL__LOCATION_SAME, "/a/b/next");
  expect(&base, "../d", RL__LOCATION_SAME, "/a/d");
  expect(&base, "./d?y=2", RL__LOCATION_SAME, "/a/b/d?y=2");
  expect(&base, "?y=2", RL__LOCATION_SAME, "/a/b/c?y=2");
  expect(&base, "#frag", RL__LOCATION_SAME, "/a/b/c?x=1");
  expect(&base, "/x/../y/./z", RL__LOCATION_SAME, "/y/z");
  expect(&base, "/x/..", RL__LOCATION_SAME, "/");
  expect(&base, "/..", RL__LOCATION_SAME, "/");
  expect(&base, "../../../../up", RL__LOCATION_SAME, "/up");
  expect(&base, "/q?a=/../b", RL__LOCATION_SAME, "/q?a=/../b");
  expect(&base, "http://example.com/z#frag", RL__LOCATION_SAME, "/z");
  expect(&base, "HTTP://EXAMPLE.com:80/z", RL__LOCATION_SAME, "/z");
  expect(&base, "//example.com/z", RL__LOCATION_SAME, "/z");
  expect(&base, "http://example.com", RL__LOCATION_SAME, "/");
  expect(&base, "http://example.com?q", RL__LOCATION_SAME, "/?q");
  expect(&base, "http://user:pw@example.com/x", RL__LOCATION_SAME, "/x");
  /* What a request target cannot carry is percent-encoded. */
  expect(&base, "/a b/caf\xc3\xa9", RL__LOCATION_SAME, "/a%20b/caf%C3%A9");
}

static void test_other_origin(void **state) {
  (void)state;
  expect(&base, "https://example.com/z", RL__LOCATION_OTHER,
         "https://example.com");
  expect(&base, "http://example.com:8080/z", RL__LOCATION_OTHER,
         "http://example.com:8080");
  expect(&base, "http://other.org/", RL__LOCATION_OTHER, "http://other.org");
  expect(&base, "//other.org", RL__LOCATION_OTHER, "http://other.org");
  expect(&base, "http://[::1]:81/", RL__LOCATION_OTHER, "http://[::1]:81");
  expect(&base, "HTTPS://Other.org:443/x", RL__LOCATION_OTHER,
         "https://Other.org");

  /* Reached by address with a Host header: the redirects naming that
   * virtual host are the same origin; the address's too. */
  rl__http_base vhost = {"http", "127.0.0.1", 8080, "shop.test", "/"};
  expect(&vhost, "http://shop.test/x", RL__LOCATION_SAME, "/x");
  expect(&vhost, "http://127.0.0.1:8080/y", RL__LOCATION_SAME, "/y");
  expect(&vhost, "http://shop.test:8080/x", RL__LOCATION_OTHER,
         "http://shop.test:8080");
  rl__http_base v6 = {"https", "::1", 8443, "[::1]:8443", "/"};
  expect(&v6, "https://[::1]:8443/x", RL__LOCATION_SAME, "/x");
  expect(&v6, "https://[::1]/x", RL__LOCATION_OTHER, "https://[::1]");
}

static void test_not_followed(void **state) {
  (void)state;
  expect(&base, "", RL__LOCATION_NONE, "");
  expect(&base, " \t ", RL__LOCATION_NONE, "");
  expect(&base, "ftp://example.com/", RL__LOCATION_BAD,
         "a Location that is not an http or https URL");
  expect(&base, "mailto:x@example.com", RL__LOCATION_BAD,
         "a Location that is not an http or https URL");
  expect(&base, "http:/x", RL__LOCATION_BAD, "a Location URL without a host");
  expect(&base, "http://:80/", RL__LOCATION_BAD,
         "a Location with a bad host or port");
  expect(&base, "http://h:99999/", RL__LOCATION_BAD,
         "a Location with a bad host or port");
  expect(&base, "http://[::1/", RL__LOCATION_BAD,
         "a Location with a bad host or port");
  expect(&base, "/a\r\nX: y", RL__LOCATION_BAD, "a Location with CR or LF");
  static char huge[RL__HTTP_MAX_LOCATION + 8];
  memset(huge, 'a', sizeof huge - 1);
  huge[0] = '/';
  expect(&base, huge, RL__LOCATION_BAD, "a Location longer than 8192 bytes");
}

static void test_rules(void **state) {
  (void)state;
  const int statuses[] = {301, 302, 303, 307, 308};
  for (size_t i = 0; i < 5; i++)
    assert_true(rl__http_is_redirect(statuses[i]));
  assert_false(rl__http_is_redirect(300));
  assert_false(rl__http_is_redirect(304));
  assert_false(rl__http_is_redirect(305));
  assert_false(rl__http_is_redirect(200));
  /* requests' rebuild_method */
  assert_string_equal(rl__http_redirect_method(302, "POST"), "GET");
  assert_string_equal(rl__http_redirect_method(302, "PUT"), "GET");
  assert_string_equal(rl__http_redirect_method(302, "HEAD"), "HEAD");
  assert_string_equal(rl__http_redirect_method(303, "DELETE"), "GET");
  assert_string_equal(rl__http_redirect_method(303, "HEAD"), "HEAD");
  assert_string_equal(rl__http_redirect_method(301, "POST"), "GET");
  assert_string_equal(rl__http_redirect_method(301, "PUT"), "PUT");
  assert_string_equal(rl__http_redirect_method(307, "POST"), "POST");
  assert_string_equal(rl__http_redirect_method(308, "PATCH"), "PATCH");
  assert_false(rl__http_redirect_keeps_body(301));
  assert_false(rl__http_redirect_keeps_body(302));
  assert_false(rl__http_redirect_keeps_body(303));
  assert_true(rl__http_redirect_keeps_body(307));
  assert_true(rl__http_redirect_keeps_body(308));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_same_origin),
      cmocka_unit_test(test_other_origin),
      cmocka_unit_test(test_not_followed),
      cmocka_unit_test(test_rules),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* plugins/lib/http_text: the -H rule both HTTP plugins apply, and the
 * pieces of a request they both build. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rpcload/plugin.h>

#include "lib/http_text.h"

/* Parses one header, expecting success; checks name and value. */
static void expect_header(const char *key, const char *value,
                          const char *want_name, const char *want_value) {
  rl_kv kv = {key, value};
  rl__http_hdr h;
  char err[128] = "";
  assert_int_equal(rl__http_parse_header(&kv, &h, err, sizeof err), 0);
  assert_int_equal(h.name_len, strlen(want_name));
  assert_memory_equal(h.name, want_name, h.name_len);
  assert_int_equal(h.value_len, strlen(want_value));
  assert_memory_equal(h.value, want_value, h.value_len);
}

/* Parses one header, expecting RL_ERR_INVAL with this message. */
static void expect_refused(const char *key, const char *value,
                           const char *want) {
  rl_kv kv = {key, value};
  rl__http_hdr h;
  char err[128];
  memset(err, 'x', sizeof err);
  assert_int_equal(rl__http_parse_header(&kv, &h, err, sizeof err),
                   RL_ERR_INVAL);
  assert_string_equal(err, want);
}

static void test_parse_header_split(void **state) {
  (void)state;
  /* Raw "Name: value" lines: split at the first ':', blanks around the
   * value dropped, blanks inside kept. */
  expect_header("X-A: 1", NULL, "X-A", "1");
  expect_header("X-A:1", NULL, "X-A", "1");
  expect_header("X-A: \t a b \t", NULL, "X-A", "a b");
  expect_header("X-Empty:", NULL, "X-Empty", "");
  expect_header("Authorization: Bearer a:b", NULL, "Authorization",
                "Bearer a:b");
  /* Name and value given apart (a scenario's headers). */
  expect_header("X-A", " v ", "X-A", "v");
  expect_header("X-A", "", "X-A", "");
  /* HTAB inside a value, and obs-text (UTF-8), are field content. */
  expect_header("X-A", "a\tb", "X-A", "a\tb");
  expect_header("X-A", "caf\xc3\xa9", "X-A", "caf\xc3\xa9");
  /* Every tchar is a name character. */
  expect_header("!#$%&'*+-.^_`|~09azAZ: v", NULL, "!#$%&'*+-.^_`|~09azAZ", "v");
}

static void test_parse_header_refused(void **state) {
  (void)state;
  expect_refused("X-Foo bar", NULL, "header 'X-Foo bar' has no ':'");
  /* CR or LF would end the field and smuggle another in: named as such,
   * in the value or in the name. */
  expect_refused("X-A", "1\r\nX-Injected: 2", "header 'X-A' contains CR or LF");
  expect_refused("X-A: 1\nX-B: 2", NULL, "header 'X-A' contains CR or LF");
  expect_refused("X\rA", "1", "header 'X\\rA' contains CR or LF");
  expect_refused(": v", NULL, "header ': v' has an empty name");
  expect_refused("", "v", "header '' has an empty name");
  expect_refused(NULL, "v", "header '' has an empty name");
  /* Not a token: a blank, a pseudo-header, a control, non-ASCII. */
  expect_refused("X A", "1", "header name 'X A' is not a valid HTTP token");
  expect_refused(":path", "/x",
                 "header name ':path' is not a valid HTTP token");
  expect_refused("X\001A", "1",
                 "header name 'X\\x01A' is not a valid HTTP token");
  expect_refused("caf\xc3\xa9", "1",
                 "header name 'caf\\xc3\\xa9' is not a valid HTTP token");
  /* Other controls and DEL in a value. */
  expect_refused("X-A", "a\001b",
                 "header 'X-A' value contains a control character");
  expect_refused("X-A", "a\x7f",
                 "header 'X-A' value contains a control "
                 "character");
  expect_refused("X-A: \x1b[31m", NULL,
                 "header 'X-A' value contains a control character");
}

static void test_parse_headers(void **state) {
  (void)state;
  rl_step_spec spec;
  memset(&spec, 0, sizeof spec);
  spec.struct_size = sizeof spec;
  rl__http_hdr *hs = (rl__http_hdr *)&spec; /* overwritten */
  char err[128] = "";
  assert_int_equal(rl__http_parse_headers(&spec, &hs, err, sizeof err), 0);
  assert_null(hs);

  spec.n_headers = 2;
  assert_int_equal(rl__http_parse_headers(&spec, &hs, err, sizeof err),
                   RL_ERR_INVAL);
  assert_string_equal(err, "2 headers announced but none given");

  rl_kv kvs[] = {
      {"Host: h.example", NULL}, {"user-agent", "u/1"}, {"HOST", "other"}};
  spec.headers = kvs;
  spec.n_headers = 3;
  assert_int_equal(rl__http_parse_headers(&spec, &hs, err, sizeof err), 0);
  assert_non_null(hs);
  /* The last of a name wins, whatever its case. */
  assert_ptr_equal(rl__http_find_header(hs, 3, "host"), &hs[2]);
  assert_ptr_equal(rl__http_find_header(hs, 3, "User-Agent"), &hs[1]);
  assert_null(rl__http_find_header(hs, 3, "Content-Length"));
  assert_null(rl__http_find_header(hs, 3, "Hos"));
  assert_true(rl__http_is_default_header(&hs[0]));
  assert_true(rl__http_is_default_header(&hs[1]));
  free(hs);

  rl_kv bad[] = {{"X-A", "1"}, {"X B", "2"}};
  spec.headers = bad;
  spec.n_headers = 2;
  assert_int_equal(rl__http_parse_headers(&spec, &hs, err, sizeof err),
                   RL_ERR_INVAL);
  assert_string_equal(err, "header name 'X B' is not a valid HTTP token");
  assert_null(hs);
}

static void test_default_headers(void **state) {
  (void)state;
  const char *names[] = {"Host", "User-Agent", "Content-Length", "HOST",
                         "content-length"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    rl__http_hdr h = {names[i], strlen(names[i]), "", 0};
    assert_true(rl__http_is_default_header(&h));
  }
  rl__http_hdr other = {"Accept", 6, "", 0};
  assert_false(rl__http_is_default_header(&other));
}

static void test_values(void **state) {
  (void)state;
  assert_false(rl__http_bad_value("a b\tc\xc3\xa9", 7));
  assert_true(rl__http_bad_value("a\rb", 3));
  assert_true(rl__http_bad_value("a\nb", 3));
  assert_true(rl__http_bad_value("a\0b", 3));
  assert_true(rl__http_bad_value("\x7f", 1));
  assert_false(rl__http_bad_value("", 0));
  assert_true(rl__http_has_crlf("ab\n", 3));
  assert_false(rl__http_has_crlf("ab\n", 2));
}

static void test_wants_length(void **state) {
  (void)state;
  assert_true(rl__http_wants_length("GET", 1));
  assert_true(rl__http_wants_length("POST", 0));
  assert_true(rl__http_wants_length("PUT", 0));
  assert_true(rl__http_wants_length("PATCH", 0));
  assert_false(rl__http_wants_length("GET", 0));
  assert_false(rl__http_wants_length("DELETE", 0));
}

static const rl_scheme schemes[] = {
    {"http", 80, 0}, {"https", 443, 1}, {"alt", 8080, 0}, {NULL, 0, 0}};

static rl_step_spec target(const char *scheme, const char *host, uint16_t port,
                           int tls) {
  rl_step_spec s;
  memset(&s, 0, sizeof s);
  s.struct_size = sizeof s;
  s.scheme = scheme;
  s.host = host;
  s.port = port;
  s.tls = tls;
  return s;
}

/* The authority carries the port only when the URL needed one; an IPv6
 * literal gets its brackets back. */
static void test_authority(void **state) {
  (void)state;
  const struct {
    rl_step_spec spec;
    const char *want;
  } cases[] = {
      {target("http", "a.example", 80, 0), "a.example"},
      {target("http", "a.example", 8080, 0), "a.example:8080"},
      {target("https", "a.example", 443, 1), "a.example"},
      {target("https", "a.example", 80, 1), "a.example:80"},
      {target("alt", "a.example", 8080, 0), "a.example"},
      {target(NULL, "a.example", 443, 1), "a.example"},
      {target(NULL, "a.example", 443, 0), "a.example:443"},
      {target("http", "::1", 80, 0), "[::1]"},
      {target("http", "::1", 81, 0), "[::1]:81"},
      {target("http", "10.0.0.1", 0, 0), "10.0.0.1"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    rl__buf b = {0};
    rl__http_add_authority(&b, schemes, &cases[i].spec);
    rl__buf_add(&b, "", 1);
    assert_string_equal(b.p, cases[i].want);
    rl__buf_free(&b);
  }
  rl_step_spec s = target("alt", "h", 0, 1);
  assert_int_equal(rl__http_default_port(schemes, &s), 8080);
  s.scheme = "nope";
  assert_int_equal(rl__http_default_port(schemes, &s), 443);
}

static void test_add_path(void **state) {
  (void)state;
  rl__buf b = {0};
  const char *in = "/s?q=a b\x01\xc3\xa9%20/?&x=1";
  rl__http_add_path(&b, in, strlen(in));
  rl__buf_add(&b, "", 1);
  assert_string_equal(b.p, "/s?q=a%20b%01%C3%A9%20/?&x=1");
  rl__buf_reset(&b);
  rl__http_add_path(&b, "", 0);
  assert_int_equal(b.len, 0);
  rl__http_add_path(&b, "\x7f", 1);
  assert_int_equal(b.len, 3);
  assert_memory_equal(b.p, "%7F", 3);
  rl__buf_free(&b);
}

static void test_show(void **state) {
  (void)state;
  char out[RL__HTTP_SHOW_BUF_LEN];
  assert_string_equal(rl__http_show("a\r\n\t\x01\xff", 6, out),
                      "a\\r\\n\\t\\x01\\xff");
  char longer[100];
  memset(longer, 'a', sizeof longer);
  rl__http_show(longer, sizeof longer, out);
  assert_int_equal(strlen(out), RL__HTTP_SHOW_MAX + 3);
  assert_string_equal(out + RL__HTTP_SHOW_MAX, "...");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_header_split),
      cmocka_unit_test(test_parse_header_refused),
      cmocka_unit_test(test_parse_headers),
      cmocka_unit_test(test_default_headers),
      cmocka_unit_test(test_values),
      cmocka_unit_test(test_wants_length),
      cmocka_unit_test(test_authority),
      cmocka_unit_test(test_add_path),
      cmocka_unit_test(test_show),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

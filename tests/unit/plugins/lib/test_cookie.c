/* plugins/lib/cookie: a user's cookie jar, RFC 6265 as a load test needs
 * it (the rules: syntax, dates, domain and path matching, replacement,
 * expiry, Secure, the Cookie header's order, and the memory bounds). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rpcload/plugin.h>

#include "lib/cookie.h"

/* 2015-10-21 07:28:00 UTC */
#define NOW 1445412480

static const rl__cookie_url site = {"www.example.com", "/shop/cart?x=1", 0};

static int set(rl__cookie_jar *j, const char *text, const rl__cookie_url *u,
               int64_t now) {
  return rl__cookie_jar_set(j, text, strlen(text), u, now, NULL);
}

/* The Cookie header a request to u sends at now, in a static buffer. */
static const char *header(rl__cookie_jar *j, const rl__cookie_url *u,
                          int64_t now) {
  static char text[RL__COOKIE_JAR_MAX_BYTES + 64];
  rl__buf b = {0};
  rl__cookie_header(j, u, now, NULL, 0, &b);
  assert_false(b.oom);
  snprintf(text, sizeof text, "%.*s", (int)b.len, b.p ? b.p : "");
  rl__buf_free(&b);
  return text;
}

static void expect_ignored(const char *text, const char *why_want) {
  rl__cookie_jar j;
  rl__cookie_jar_init(&j);
  const char *why = NULL;
  assert_int_equal(rl__cookie_jar_set(&j, text, strlen(text), &site, NOW, &why),
                   RL__COOKIE_IGNORED);
  assert_non_null(why);
  assert_string_equal(why, why_want);
  assert_int_equal(j.n, 0);
  rl__cookie_jar_free(&j);
}

static void test_syntax(void **state) {
  (void)state;
  rl__cookie_jar j;
  rl__cookie_jar_init(&j);
  /* Blanks around name and value go; '=' and quotes in a value stay. */
  assert_int_equal(set(&j, " sid = a=b\"c\" ; Path=/", &site, NOW),
                   RL__COOKIE_STORED);
  assert_string_equal(header(&j, &site, NOW), "sid=a=b\"c\"");
  /* An empty value is a value; attribute names are any case. */
  assert_int_equal(set(&j, "e=; pATh=/; SECURE", &site, NOW),
                   RL__COOKIE_STORED);
  const rl__cookie *e = rl__cookie_jar_find(
      &j, "e", &(rl__cookie_url){"www.example.com", "/", 1}, NOW);
  assert_non_null(e);
  assert_string_equal(e->value, "");
  assert_true(e->secure);
  rl__cookie_jar_free(&j);

  expect_ignored("novalue", "no '=' in its name-value pair");
  expect_ignored("novalue; a=b", "no '=' in its name-value pair");
  expect_ignored(" =v", "an empty name");
  expect_ignored("a=b\rc", "a control character in its name or value");
  expect_ignored("a=b\x01", "a control character in its name or value");
  char big[RL__COOKIE_MAX_SIZE + 8];
  memset(big, 'v', sizeof big);
  memcpy(big, "k=", 2);
  big[RL__COOKIE_MAX_SIZE + 1] = '\0'; /* "k" and 4095 bytes: 4096 */
  rl__cookie_jar_init(&j);
  assert_int_equal(set(&j, big, &site, NOW), RL__COOKIE_STORED);
  rl__cookie_jar_free(&j);
  big[RL__COOKIE_MAX_SIZE + 2] = '\0'; /* one more: too big */
  big[RL__COOKIE_MAX_SIZE + 1] = 'v';
  expect_ignored(big, "name and value longer than 4096 bytes");
}

static void test_dates(void **state) {
  (void)state;
  int64_t t;
  /* The three forms RFC 9110 names, and what RFC 6265's parser allows. */
  assert_int_equal(
      rl__cookie_parse_date("Wed, 21 Oct 2015 07:28:00 GMT", 29, &t), 0);
  assert_int_equal(t, NOW);
  const char *same[] = {
      "Wednesday, 21-Oct-15 07:28:00 GMT", /* RFC 850, two-digit year */
      "Wed Oct 21 07:28:00 2015",          /* asctime */
      "21 october 2015 7:28:0",            /* words, one digit, no zone */
      "Wed, 21-Oct-2015 07:28:00 UTC",
  };
  for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
    t = 0;
    assert_int_equal(rl__cookie_parse_date(same[i], strlen(same[i]), &t), 0);
    assert_int_equal(t, NOW);
  }
  assert_int_equal(
      rl__cookie_parse_date("Thu, 01 Jan 1970 00:00:00 GMT", 29, &t), 0);
  assert_int_equal(t, 0);
  /* Years 70..99 are 19xx, 0..69 20xx. */
  assert_int_equal(rl__cookie_parse_date("01 Jan 69 00:00:00", 18, &t), 0);
  assert_int_equal(t, 3124224000LL);
  assert_int_equal(rl__cookie_parse_date("29 Feb 2016 00:00:00", 20, &t), 0);
  const char *bad[] = {
      "",
      "Wed, 21 Oct 2015",      /* no time */
      "21 Oct 2015 24:00:00",  /* hour */
      "21 Oct 2015 07:60:00",  /* minute */
      "32 Oct 2015 07:28:00",  /* day */
      "29 Feb 2015 07:28:00",  /* no such day */
      "21 Foo 2015 07:28:00",  /* month */
      "21 Oct 1600 07:28:00",  /* before 1601 */
      "21 Oct 20155 07:28:00", /* a five-digit year */
      "21 Oct 2015 7:28",      /* a time of two fields */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(rl__cookie_parse_date(bad[i], strlen(bad[i]), &t), -1);
}

static void test_domains(void **state) {
  (void)state;
  assert_true(rl__cookie_domain_match("www.example.com", "example.com"));
  assert_true(rl__cookie_domain_match("WWW.Example.com", "example.COM"));
  assert_true(rl__cookie_domain_match("example.com", "example.com"));
  assert_false(rl__cookie_domain_match("badexample.com", "example.com"));
  assert_false(rl__cookie_domain_match("example.com", "www.example.com"));
  /* Addresses match only themselves. */
  assert_true(rl__cookie_domain_match("127.0.0.1", "127.0.0.1"));
  assert_false(rl__cookie_domain_match("10.0.0.1", "0.0.1"));
  assert_false(rl__cookie_domain_match("::1", ":1"));

  rl__cookie_jar j;
  rl__cookie_jar_init(&j);
  rl__cookie_url sub = {"api.www.example.com", "/", 0};
  rl__cookie_url other = {"example.org", "/", 0};
  rl__cookie_url apex = {"example.com", "/", 0};
  /* Without Domain: this host only. */
  assert_int_equal(set(&j, "host=1; Path=/", &site, NOW), RL__COOKIE_STORED);
  /* With it (a leading dot ignored): the domain and its subdomains. */
  assert_int_equal(set(&j, "dom=2; Domain=.Example.com; Path=/", &site, NOW),
                   RL__COOKIE_STORED);
  assert_string_equal(header(&j, &site, NOW), "host=1; dom=2");
  assert_string_equal(header(&j, &sub, NOW), "dom=2");
  assert_string_equal(header(&j, &apex, NOW), "dom=2");
  assert_string_equal(header(&j, &other, NOW), "");
  /* A domain the host is not in is refused; so is a sibling. */
  const char *why = NULL;
  const char *evil = "x=1; Domain=example.org";
  assert_int_equal(rl__cookie_jar_set(&j, evil, strlen(evil), &site, NOW, &why),
                   RL__COOKIE_IGNORED);
  assert_string_equal(why, "a Domain the request's host is not in");
  assert_int_equal(set(&j, "x=1; Domain=api.example.com", &site, NOW),
                   RL__COOKIE_IGNORED);
  /* An empty Domain is as none. */
  assert_int_equal(set(&j, "e=3; Domain=; Path=/", &site, NOW),
                   RL__COOKIE_STORED);
  assert_string_equal(header(&j, &sub, NOW), "dom=2");
  /* An address host: host-only, and a Domain must be itself. */
  rl__cookie_url ip = {"127.0.0.1", "/", 0};
  assert_int_equal(set(&j, "ip=4; Domain=127.0.0.1", &ip, NOW),
                   RL__COOKIE_STORED);
  assert_int_equal(set(&j, "ip2=5; Domain=0.0.1", &ip, NOW),
                   RL__COOKIE_IGNORED);
  assert_string_equal(header(&j, &ip, NOW), "ip=4");
  rl__cookie_jar_free(&j);
}

static void test_paths(void **state) {
  (void)state;
  assert_true(rl__cookie_path_match("/shop", "/shop"));
  assert_true(rl__cookie_path_match("/shop/cart", "/shop"));
  assert_true(rl__cookie_path_match("/shop/cart", "/shop/"));
  assert_true(rl__cookie_path_match("/shop?x=/y", "/shop"));
  assert_true(rl__cookie_path_match("", "/"));
  assert_false(rl__cookie_path_match("/shopping", "/shop"));
  assert_false(rl__cookie_path_match("/sho", "/shop"));
  assert_false(rl__cookie_path_match("/?a=/shop", "/shop"));

  rl__cookie_jar j;
  rl__cookie_jar_init(&j);
  /* The default path is the request's directory: /shop for /shop/cart,
   * whatever the query. */
  assert_int_equal(set(&j, "d=1", &site, NOW), RL__COOKIE_STORED);
  assert_string_equal(j.c[0].path, "/shop");
  rl__cookie_url top = {"www.example.com", "/login?next=/a/b", 0};
  assert_int_equal(set(&j, "t=2", &top, NOW), RL__COOKIE_STORED);
  assert_string_equal(j.c[1].path, "/");
  /* A Path that is not absolute takes the default too. */
  assert_int_equal(set(&j, "r=3; Path=rel", &site, NOW), RL__COOKIE_STORED);
  assert_string_equal(j.c[2].path, "/shop");
  /* Longer paths first, then older; a longer one set later still leads. */
  assert_int_equal(set(&j, "deep=4; Path=/shop/cart", &site, NOW),
                   RL__COOKIE_STORED);
  assert_string_equal(header(&j, &site, NOW), "deep=4; d=1; r=3; t=2");
  rl__cookie_url root = {"www.example.com", "/", 0};
  assert_string_equal(header(&j, &root, NOW), "t=2");
  rl__cookie_jar_free(&j);
}

static void test_replace_and_expire(void **state) {
  (void)state;
  rl__cookie_jar j;
  rl__cookie_jar_init(&j);
  assert_int_equal(set(&j, "a=1; Path=/", &site, NOW), RL__COOKIE_STORED);
  assert_int_equal(set(&j, "b=1; Path=/", &site, NOW), RL__COOKIE_STORED);
  /* Same name, domain and path: replaced, keeping its place (its age). */
  assert_int_equal(set(&j, "a=2; Path=/", &site, NOW), RL__COOKIE_STORED);
  assert_int_equal(j.n, 2);
  assert_string_equal(header(&j, &site, NOW), "a=2; b=1");
  /* Another path: another cookie. */
  assert_int_equal(set(&j, "a=3; Path=/shop", &site, NOW), RL__COOKIE_STORED);
  assert_string_equal(header(&j, &site, NOW), "a=3; a=2; b=1");
  /* Max-Age=0, a negative one, or an Expires in the past removes it. */
  assert_int_equal(set(&j, "a=x; Path=/shop; Max-Age=0", &site, NOW),
                   RL__COOKIE_REMOVED);
  assert_int_equal(
      set(&j, "b=x; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT", &site, NOW),
      RL__COOKIE_REMOVED);
  assert_string_equal(header(&j, &site, NOW), "a=2");
  assert_int_equal(set(&j, "a=x; Path=/; Max-Age=-1", &site, NOW),
                   RL__COOKIE_REMOVED);
  assert_int_equal(j.n, 0);
  /* Expiry in time: Max-Age counts from now and wins over Expires,
   * whatever their order; a bad Max-Age or date is as none. */
  assert_int_equal(set(&j,
                       "m=1; Path=/; Max-Age=10; Expires=Wed, 21 Oct 2065 "
                       "07:28:00 GMT",
                       &site, NOW),
                   RL__COOKIE_STORED);
  assert_int_equal(
      set(&j, "e=1; Path=/; Expires=Wed, 21 Oct 2015 07:28:20 GMT", &site, NOW),
      RL__COOKIE_STORED);
  assert_int_equal(
      set(&j, "s=1; Path=/; Max-Age=1x; Expires=never", &site, NOW),
      RL__COOKIE_STORED);
  assert_string_equal(header(&j, &site, NOW + 9), "m=1; e=1; s=1");
  assert_string_equal(header(&j, &site, NOW + 10), "e=1; s=1");
  assert_int_equal(j.n, 2); /* the expired one went on the way */
  assert_string_equal(header(&j, &site, NOW + 20), "s=1");
  assert_string_equal(header(&j, &site, INT64_MAX - 1), "s=1");
  rl__cookie_jar_free(&j);
}

static void test_secure(void **state) {
  (void)state;
  rl__cookie_jar j;
  rl__cookie_jar_init(&j);
  /* Stored from either scheme (RFC 6265, as requests does), sent over TLS
   * only. */
  assert_int_equal(set(&j, "s=1; Secure; Path=/", &site, NOW),
                   RL__COOKIE_STORED);
  assert_int_equal(set(&j, "p=1; Path=/", &site, NOW), RL__COOKIE_STORED);
  assert_string_equal(header(&j, &site, NOW), "p=1");
  rl__cookie_url tls = {"www.example.com", "/", 1};
  assert_string_equal(header(&j, &tls, NOW), "s=1; p=1");
  rl__cookie_jar_free(&j);
}

static void test_extra(void **state) {
  (void)state;
  rl__cookie_jar j;
  rl__cookie_jar_init(&j);
  assert_int_equal(set(&j, "sid=jar; Path=/", &site, NOW), RL__COOKIE_STORED);
  assert_int_equal(set(&j, "lang=en; Path=/", &site, NOW), RL__COOKIE_STORED);
  /* A step's own cookies go first and replace the jar's of their name. */
  rl_kv extra[] = {{"sid", "step"}, {"new", "1"}};
  rl__buf b = {0};
  assert_int_equal(rl__cookie_header(&j, &site, NOW, extra, 2, &b), 3);
  assert_int_equal(b.len, strlen("sid=step; new=1; lang=en"));
  assert_memory_equal(b.p, "sid=step; new=1; lang=en", b.len);
  /* No jar: only them. */
  rl__buf_reset(&b);
  assert_int_equal(rl__cookie_header(NULL, &site, NOW, extra, 1, &b), 1);
  assert_memory_equal(b.p, "sid=step", b.len);
  rl__buf_reset(&b);
  assert_int_equal(rl__cookie_header(NULL, &site, NOW, NULL, 0, &b), 0);
  assert_int_equal(b.len, 0);
  rl__buf_free(&b);
  rl__cookie_jar_free(&j);
}

static void test_bounds(void **state) {
  (void)state;
  rl__cookie_jar j;
  rl__cookie_jar_init(&j);
  char text[64];
  /* More than RL__COOKIE_MAX: the oldest go. */
  for (int i = 0; i < RL__COOKIE_MAX + 10; i++) {
    snprintf(text, sizeof text, "c%d=%d; Path=/", i, i);
    assert_int_equal(set(&j, text, &site, NOW), RL__COOKIE_STORED);
  }
  assert_int_equal(j.n, RL__COOKIE_MAX);
  assert_int_equal(j.evicted, 10);
  assert_null(rl__cookie_jar_find(&j, "c9", &site, NOW));
  assert_non_null(rl__cookie_jar_find(&j, "c10", &site, NOW));
  assert_non_null(rl__cookie_jar_find(&j, "c59", &site, NOW));
  /* Expired ones go before live ones. */
  assert_int_equal(set(&j, "old=1; Path=/; Max-Age=1", &site, NOW),
                   RL__COOKIE_STORED);
  assert_int_equal(j.evicted, 11); /* c10 made room for it */
  assert_int_equal(set(&j, "new=1; Path=/", &site, NOW + 5), RL__COOKIE_STORED);
  assert_int_equal(j.evicted, 11);
  assert_non_null(rl__cookie_jar_find(&j, "c11", &site, NOW + 5));
  rl__cookie_jar_free(&j);

  /* Bytes: four cookies of 4 KiB are about all 16 KiB hold. */
  rl__cookie_jar_init(&j);
  char *big = malloc(RL__COOKIE_MAX_SIZE + 32);
  assert_non_null(big);
  for (int i = 0; i < 8; i++) {
    int n = snprintf(big, 32, "b%d=", i);
    memset(big + n, 'v', RL__COOKIE_MAX_SIZE - 4);
    big[n + RL__COOKIE_MAX_SIZE - 4] = '\0';
    assert_int_equal(set(&j, big, &site, NOW), RL__COOKIE_STORED);
    assert_true(j.bytes <= RL__COOKIE_JAR_MAX_BYTES);
  }
  assert_true(j.n < 4);
  assert_non_null(rl__cookie_jar_find(&j, "b7", &site, NOW));
  size_t len = strlen(header(&j, &site, NOW));
  assert_true(len > 0 && len <= RL__COOKIE_JAR_MAX_BYTES);
  free(big);
  rl__cookie_jar_free(&j);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_syntax),
      cmocka_unit_test(test_dates),
      cmocka_unit_test(test_domains),
      cmocka_unit_test(test_paths),
      cmocka_unit_test(test_replace_and_expire),
      cmocka_unit_test(test_secure),
      cmocka_unit_test(test_extra),
      cmocka_unit_test(test_bounds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The gRPC plugin's wire helpers: grpc-timeout, the HTTP status fallback,
 * base64 for -bin metadata, framing and gzip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rpcload/plugin.h>

#include "grpc/grpc_wire.h"

static void test_timeout_units(void **state) {
  (void)state;
  char buf[32];
  /* The finest unit whose value fits in 8 digits. */
  assert_string_equal(grpc_timeout_format(1, buf, sizeof buf), "1n");
  assert_string_equal(grpc_timeout_format(99999999, buf, sizeof buf),
                      "99999999n");
  assert_string_equal(grpc_timeout_format(100000000, buf, sizeof buf),
                      "100000u");
  assert_string_equal(grpc_timeout_format(60000000000ull, buf, sizeof buf),
                      "60000000u");
  assert_string_equal(grpc_timeout_format(300000000000ull, buf, sizeof buf),
                      "300000m");
  /* Rounded up: the server must not see a shorter deadline than ours. */
  assert_string_equal(grpc_timeout_format(100000000001ull, buf, sizeof buf),
                      "100001m");
  /* Beyond every unit: the largest value of the largest. */
  assert_string_equal(grpc_timeout_format(UINT64_MAX, buf, sizeof buf),
                      "5124096H");
}

/* (The names are lib/grpc_status's: tests/unit/plugins/lib.) */
static void test_code_from_http(void **state) {
  (void)state;
  assert_int_equal(grpc_code_from_http(503), GRPC_UNAVAILABLE);
  assert_int_equal(grpc_code_from_http(404), GRPC_UNIMPLEMENTED);
  assert_int_equal(grpc_code_from_http(401), GRPC_UNAUTHENTICATED);
  assert_int_equal(grpc_code_from_http(500), GRPC_UNKNOWN);
}

static void test_base64(void **state) {
  (void)state;
  const struct {
    const char *in, *out;
  } cases[] = {{"", ""},        {"f", "Zg"},        {"fo", "Zm8"},
               {"foo", "Zm9v"}, {"foob", "Zm9vYg"}, {"\x01\x02\xff", "AQL/"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *b =
        grpc_base64_encode((const uint8_t *)cases[i].in, strlen(cases[i].in));
    assert_non_null(b);
    assert_string_equal(b, cases[i].out);
    free(b);
  }
}

static void test_frame_plain(void **state) {
  (void)state;
  uint8_t *f = NULL;
  size_t len = 0;
  assert_int_equal(
      grpc_frame_build((const uint8_t *)"\x0a\x01x", 3, 0, &f, &len), 0);
  assert_int_equal(len, 8);
  assert_memory_equal(f, "\x00\x00\x00\x00\x03\x0a\x01x", 8);
  free(f);
  assert_int_equal(grpc_frame_build(NULL, 0, 0, &f, &len), 0);
  assert_int_equal(len, 5);
  assert_memory_equal(f, "\x00\x00\x00\x00\x00", 5);
  free(f);
}

static void test_frame_gzip_round_trip(void **state) {
  (void)state;
  size_t n = 100000;
  uint8_t *msg = malloc(n);
  assert_non_null(msg);
  for (size_t i = 0; i < n; i++)
    msg[i] = (uint8_t)(i % 7 == 0 ? 'a' : 'b');
  uint8_t *f = NULL, *back = NULL;
  size_t len = 0, back_len = 0;
  assert_int_equal(grpc_frame_build(msg, n, 1, &f, &len), 0);
  assert_int_equal(f[0], 1); /* the compressed flag */
  size_t clen =
      (size_t)f[1] << 24 | (size_t)f[2] << 16 | (size_t)f[3] << 8 | f[4];
  assert_int_equal(clen + 5, len);
  assert_true(clen < n / 10);
  assert_int_equal(f[5], 0x1f); /* gzip's magic */
  assert_int_equal(f[6], 0x8b);
  assert_int_equal(grpc_gunzip(f + 5, clen, 1 << 20, &back, &back_len), 0);
  assert_int_equal(back_len, n);
  assert_memory_equal(back, msg, n);
  free(back);
  /* Over the limit, or cut short: refused, nothing leaked. */
  assert_int_equal(grpc_gunzip(f + 5, clen, 1000, &back, &back_len),
                   RL_ERR_INVAL);
  assert_int_equal(grpc_gunzip(f + 5, clen / 2, 1 << 20, &back, &back_len),
                   RL_ERR_PROTO);
  assert_int_equal(
      grpc_gunzip((const uint8_t *)"not gzip", 8, 1 << 20, &back, &back_len),
      RL_ERR_PROTO);
  free(f);
  free(msg);
}

static void test_parse_duration(void **state) {
  (void)state;
  uint64_t ns = 0;
  assert_int_equal(grpc_parse_duration("100ms", &ns), 0);
  assert_int_equal(ns, 100000000ull);
  assert_int_equal(grpc_parse_duration("1m30s", &ns), 0);
  assert_int_equal(ns, 90000000000ull);
  assert_int_equal(grpc_parse_duration("2", &ns), 0); /* seconds */
  assert_int_equal(ns, 2000000000ull);
  assert_int_equal(grpc_parse_duration("0.5s", &ns), 0);
  assert_int_equal(ns, 500000000ull);
  assert_int_equal(grpc_parse_duration("250us", &ns), 0);
  assert_int_equal(ns, 250000ull);
  assert_int_equal(grpc_parse_duration("1h", &ns), 0);
  assert_int_equal(ns, 3600000000000ull);
  assert_int_equal(grpc_parse_duration("", &ns), RL_ERR_INVAL);
  assert_int_equal(grpc_parse_duration("soon", &ns), RL_ERR_INVAL);
  assert_int_equal(grpc_parse_duration("10x", &ns), RL_ERR_INVAL);
  assert_int_equal(grpc_parse_duration("-1s", &ns), RL_ERR_INVAL);
  assert_int_equal(grpc_parse_duration("1s2", &ns), RL_ERR_INVAL);
  assert_int_equal(grpc_parse_duration("1 s", &ns), RL_ERR_INVAL);
}

static void test_parse_size(void **state) {
  (void)state;
  uint64_t b = 0;
  assert_int_equal(grpc_parse_size("4MiB", &b), 0);
  assert_int_equal(b, 4ull << 20);
  assert_int_equal(grpc_parse_size("42 MB", &b), 0);
  assert_int_equal(b, 42000000ull);
  assert_int_equal(grpc_parse_size("1024", &b), 0);
  assert_int_equal(b, 1024ull);
  assert_int_equal(grpc_parse_size("10kib", &b), 0);
  assert_int_equal(b, 10240ull);
  assert_int_equal(grpc_parse_size("7B", &b), 0);
  assert_int_equal(b, 7ull);
  assert_int_equal(grpc_parse_size("1GiB", &b), 0);
  assert_int_equal(b, 1ull << 30);
  assert_int_equal(grpc_parse_size("", &b), RL_ERR_INVAL);
  assert_int_equal(grpc_parse_size("MiB", &b), RL_ERR_INVAL);
  assert_int_equal(grpc_parse_size("4 parsecs", &b), RL_ERR_INVAL);
  assert_int_equal(grpc_parse_size("-4", &b), RL_ERR_INVAL);
  assert_int_equal(grpc_parse_size("99999999999GiB", &b), RL_ERR_INVAL);
}

static void test_split_delimited(void **state) {
  (void)state;
  size_t off[4], n[4];
  /* Two messages: 0a 01 'a' and 0a 02 'b' 'c', each with its length. */
  const uint8_t two[] = {3, 0x0a, 1, 'a', 4, 0x0a, 2, 'b', 'c'};
  assert_int_equal(grpc_split_delimited(two, sizeof two, off, n, 4), 2);
  assert_int_equal(off[0], 1);
  assert_int_equal(n[0], 3);
  assert_int_equal(off[1], 5);
  assert_int_equal(n[1], 4);
  /* A bare HelloRequest{name: "x"} does not split: its first byte, read
   * as a length, runs past the end. */
  const uint8_t bare[] = {0x0a, 1, 'x'};
  assert_int_equal(grpc_split_delimited(bare, sizeof bare, off, n, 4), 0);
  /* An empty message is a length of zero; a varint length of 300. */
  const uint8_t empty[] = {0};
  assert_int_equal(grpc_split_delimited(empty, 1, off, n, 4), 1);
  assert_int_equal(n[0], 0);
  uint8_t long_one[302] = {0xac, 0x02};
  assert_int_equal(grpc_split_delimited(long_one, sizeof long_one, off, n, 4),
                   1);
  assert_int_equal(n[0], 300);
  /* More pieces than room: -1. */
  const uint8_t many[] = {0, 0, 0};
  assert_int_equal(grpc_split_delimited(many, sizeof many, off, n, 2), -1);
  /* A length cut short. */
  const uint8_t cut[] = {0x80};
  assert_int_equal(grpc_split_delimited(cut, sizeof cut, off, n, 4), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_timeout_units),
      cmocka_unit_test(test_code_from_http),
      cmocka_unit_test(test_base64),
      cmocka_unit_test(test_frame_plain),
      cmocka_unit_test(test_frame_gzip_round_trip),
      cmocka_unit_test(test_parse_duration),
      cmocka_unit_test(test_parse_size),
      cmocka_unit_test(test_split_delimited),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

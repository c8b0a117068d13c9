/* Bounded regular expressions (base/regex.h): POSIX ERE's meaning kept
 * where people rely on it, groups, errors with their offset, and every
 * limit ending a match with its own text. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rpcload/plugin.h>

#include "base/regex.h"

static rl__regex *compile(const char *pattern) {
  rl__regex *re = NULL;
  char err[160] = "";
  if (rl__regex_new(pattern, &re, NULL, err, sizeof err))
    fail_msg("%s: %s", pattern, err);
  assert_string_equal(rl__regex_text(re), pattern);
  return re;
}

/* 1, 0 or the negative code of matching `pattern` on `text`. */
static int matches(const char *pattern, const char *text) {
  rl__regex *re = compile(pattern);
  char why[160] = "";
  int m = rl__regex_match(re, text, strlen(text), NULL, why, sizeof why);
  rl__regex_del(re);
  return m;
}

static void test_posix_meanings_kept(void **state) {
  (void)state;
  /* Anywhere unless anchored. */
  assert_int_equal(matches("id=[0-9]+", "x id=42 y"), 1);
  assert_int_equal(matches("^id=[0-9]+$", "x id=42"), 0);
  /* `.` matches a newline and `$` is the end of the text only, as with
   * regcomp(REG_EXTENDED) and no REG_NEWLINE. */
  assert_int_equal(matches("a.b", "a\nb"), 1);
  assert_int_equal(matches("ok$", "ok\n"), 0);
  assert_int_equal(matches("ok$", "ok"), 1);
  /* Bracket classes, intervals, alternation. */
  assert_int_equal(matches("^[[:alpha:]]{3}[[:digit:]]+$", "abc123"), 1);
  assert_int_equal(matches("^(GET|POST) /", "POST /x"), 1);
  /* And what PCRE2 adds. */
  assert_int_equal(matches("^\\d+$", "123"), 1);
  assert_int_equal(matches("a.*?b", "axxbyyb"), 1);
}

static void test_groups(void **state) {
  (void)state;
  rl__regex *re = compile("sess=([a-z]+)");
  const char text[] = "x; sess=abc; y";
  size_t span[2];
  char why[160];
  assert_int_equal(
      rl__regex_match(re, text, strlen(text), span, why, sizeof why), 1);
  assert_int_equal(span[0], 8);
  assert_int_equal(span[1], 11);
  rl__regex_del(re);
  /* No group: the whole match; a group that took no part: the same. */
  re = compile("sess=[a-z]+");
  assert_int_equal(
      rl__regex_match(re, text, strlen(text), span, why, sizeof why), 1);
  assert_int_equal(span[0], 3);
  assert_int_equal(span[1], 11);
  rl__regex_del(re);
  re = compile("sess=(x)?[a-z]+");
  assert_int_equal(
      rl__regex_match(re, text, strlen(text), span, why, sizeof why), 1);
  assert_int_equal(span[0], 3);
  assert_int_equal(span[1], 11);
  rl__regex_del(re);
  /* A NUL is a byte of the text like any other. */
  re = compile("b$");
  assert_int_equal(rl__regex_match(re, "a\0b", 3, span, why, sizeof why), 1);
  assert_int_equal(span[0], 2);
  rl__regex_del(re);
}

static void test_errors_name_the_offset(void **state) {
  (void)state;
  rl__regex *re = (rl__regex *)&re;
  char err[160] = "";
  size_t off = 99;
  assert_int_equal(rl__regex_new("ab(cd", &re, &off, err, sizeof err),
                   RL_ERR_INVAL);
  assert_null(re);
  assert_int_equal(off, 5);
  assert_string_equal(err, "missing closing parenthesis");
  assert_int_equal(rl__regex_new("a[", &re, &off, err, sizeof err),
                   RL_ERR_INVAL);
  assert_int_equal(off, 2);
}

/* n 'a's and a '!': what makes nested quantifiers backtrack. */
static char *as(size_t n) {
  char *s = malloc(n + 2);
  assert_non_null(s);
  memset(s, 'a', n);
  s[n] = '!';
  s[n + 1] = '\0';
  return s;
}

static void test_limits_end_a_match(void **state) {
  (void)state;
  char *s = as(100000);
  char why[160] = "";
  rl__regex *re = compile("(a+)+$");
  assert_int_equal(rl__regex_match(re, s, strlen(s), NULL, why, sizeof why),
                   RL__REGEX_LIMIT);
  assert_string_equal(why, "over 1000000 backtracking steps from one "
                           "position (the match limit)");
  rl__regex_del(re);
  /* A position remembered per character of a megabyte: past the JIT's
   * stack (or, without a JIT, the heap limit). */
  free(s);
  s = as(1 << 20);
  re = compile("^(a|b)*!$");
  why[0] = 0;
  assert_int_equal(rl__regex_match(re, s, strlen(s), NULL, why, sizeof why),
                   RL__REGEX_LIMIT);
  assert_non_null(strstr(why, "MiB of backtracking memory"));
  rl__regex_del(re);
  /* The same text written without backtracking matches. */
  re = compile("^[ab]*!$");
  assert_int_equal(rl__regex_match(re, s, strlen(s), NULL, why, sizeof why), 1);
  rl__regex_del(re);
  free(s);
}

/* One compiled regex, matched from several threads at once, each with its
 * own match data. */
typedef struct job {
  const rl__regex *re;
  int ok;
} job;

static void *match_many(void *arg) {
  job *j = arg;
  char text[64], why[160];
  j->ok = 1;
  for (int i = 0; i < 2000; i++) {
    int n = snprintf(text, sizeof text, "id=%d;", i);
    size_t span[2];
    if (rl__regex_match(j->re, text, (size_t)n, span, why, sizeof why) != 1 ||
        span[1] - span[0] != (size_t)n - 4)
      j->ok = 0;
  }
  return NULL;
}

static void test_threads_share_a_regex(void **state) {
  (void)state;
  rl__regex *re = compile("id=([0-9]+);");
  pthread_t t[4];
  job jobs[4];
  for (int i = 0; i < 4; i++) {
    jobs[i] = (job){re, 0};
    assert_int_equal(pthread_create(&t[i], NULL, match_many, &jobs[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    assert_true(jobs[i].ok);
  }
  rl__regex_del(re);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_posix_meanings_kept),
      cmocka_unit_test(test_groups),
      cmocka_unit_test(test_errors_name_the_offset),
      cmocka_unit_test(test_limits_end_a_match),
      cmocka_unit_test(test_threads_share_a_regex),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

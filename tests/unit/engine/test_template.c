/* Request templates: {{...}} expressions compiled once, expanded per request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rpcload/plugin.h>

#include "engine/template.h"

/* Expands `text` for a user and returns a NUL-terminated copy (caller frees). */
static char *expand(const char *text, uint64_t user, uint64_t seq,
                    uint64_t *rng) {
  rl_template *t = NULL;
  char err[256] = "";
  if (rl__template_new(text, strlen(text), &t, err, sizeof err))
    fail_msg("'%s' refused: %s", text, err);
  rl__template_ctx ctx = {.user_id = user, .seq = seq, .rng = rng};
  rl__buf b;
  rl__buf_init(&b);
  assert_int_equal(rl__template_expand(t, &ctx, &b), 0);
  char *out = malloc(b.len + 1);
  assert_non_null(out);
  memcpy(out, b.p ? b.p : "", b.len);
  out[b.len] = 0;
  rl__buf_free(&b);
  rl__template_del(t);
  return out;
}

static void test_constant_and_names(void **state) {
  (void)state;
  uint64_t rng = 1;
  char *s = expand("GET key:1", 7, 3, &rng);
  assert_string_equal(s, "GET key:1");
  free(s);
  s = expand("u{{user_id}}-{{ seq }}/{{user_id}}", 42, 9, &rng);
  assert_string_equal(s, "u42-9/42");
  free(s);
  s = expand("{{user_id}}", 1, 1, &rng);
  assert_string_equal(s, "1");
  free(s);
  /* A lone brace is text. */
  s = expand("{\"a\":{ \"b\": 1}}", 1, 1, &rng);
  assert_string_equal(s, "{\"a\":{ \"b\": 1}}");
  free(s);
  rl_template *t = NULL;
  char err[128];
  assert_int_equal(rl__template_new("abc", 3, &t, err, sizeof err), 0);
  assert_true(rl__template_is_constant(t));
  rl__template_del(t);
  assert_int_equal(rl__template_new("a{{seq}}", 8, &t, err, sizeof err), 0);
  assert_false(rl__template_is_constant(t));
  rl__template_del(t);
}

/* {{"text"}} is text as it is: how --data-raw sends "{{" untemplated. */
static void test_quoted_text(void **state) {
  (void)state;
  uint64_t rng = 1;
  char *s = expand("a{{\"{{\"}}user_id}} {{\"x y\"}}}", 1, 1, &rng);
  assert_string_equal(s, "a{{user_id}} x y}");
  free(s);
  s = expand("{{\"\"}}", 1, 1, &rng);
  assert_string_equal(s, "");
  free(s);
  /* Not constant: a plugin expands it rather than send the template. */
  rl_template *t = NULL;
  char err[128];
  assert_int_equal(rl__template_new("{{\"{{\"}}", 8, &t, err, sizeof err), 0);
  assert_false(rl__template_is_constant(t));
  rl__template_del(t);
}

static void test_random_int_range_and_seed(void **state) {
  (void)state;
  uint64_t rng = 99;
  int seen[11] = {0};
  for (int i = 0; i < 5000; i++) {
    char *s = expand("{{random_int 0 10}}", 1, 1, &rng);
    int v = atoi(s);
    assert_true(v >= 0 && v <= 10);
    seen[v]++;
    free(s);
  }
  for (int v = 0; v <= 10; v++)
    assert_true(seen[v] > 300); /* every value, roughly uniformly */
  char *neg = expand("{{random_int -5 -5}}", 1, 1, &rng);
  assert_string_equal(neg, "-5");
  free(neg);
  /* Same seed, same values. */
  uint64_t a = 5, b = 5;
  char *x = expand("{{random_int 1 1000000}} {{uuid}}", 1, 1, &a);
  char *y = expand("{{random_int 1 1000000}} {{uuid}}", 1, 1, &b);
  assert_string_equal(x, y);
  free(x);
  free(y);
}

static void test_uuid_and_string(void **state) {
  (void)state;
  uint64_t rng = 3;
  char *u = expand("{{uuid}}", 1, 1, &rng);
  assert_int_equal(strlen(u), 36);
  assert_int_equal(u[8], '-');
  assert_int_equal(u[14], '4');               /* version 4 */
  assert_true(strchr("89ab", u[19]) != NULL); /* RFC 4122 variant */
  char *u2 = expand("{{uuid}}", 1, 1, &rng);
  assert_string_not_equal(u, u2);
  free(u);
  free(u2);
  char *s = expand("<{{random_string 12}}>", 1, 1, &rng);
  assert_int_equal(strlen(s), 14);
  for (int i = 1; i <= 12; i++)
    assert_true((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
                (s[i] >= '0' && s[i] <= '9'));
  free(s);
  char *ts = expand("{{timestamp}} {{timestamp_ms}}", 1, 1, &rng);
  long long sec = atoll(ts), ms = atoll(strchr(ts, ' ') + 1);
  assert_true(sec > 1700000000LL); /* after 2023 */
  assert_true(ms / 1000 - sec >= 0 && ms / 1000 - sec <= 1);
  free(ts);
}

/* What a scenario adds: its variables, a data file's columns, the repeat
 * counter, and `|json` for values going inside a JSON string. */
static void test_variables_columns_counter_and_json(void **state) {
  (void)state;
  static const char *const vars[] = {"tok"};
  static const char *const columns[] = {"email", "pw"};
  rl__template_set_variables(vars, 1);
  rl__template_set_data_columns(columns, 2);
  const char *text = "{{tok}} {{data.pw}} {{i}} \"{{data.pw|json}}\" "
                     "{{ tok | json }}";
  rl_template *t = NULL;
  char err[256] = "";
  assert_int_equal(rl__template_new(text, strlen(text), &t, err, sizeof err),
                   0);
  rl_template *bad = NULL;
  assert_int_equal(rl__template_new("{{data.nope}}", 13, &bad, err, sizeof err),
                   RL_ERR_INVAL);
  assert_string_equal(err, "no data column 'nope' at column 1");
  /* The names end with the compiling; the template keeps their indexes. */
  rl__template_set_variables(NULL, 0);
  rl__template_set_data_columns(NULL, 0);
  assert_int_equal(rl__template_new("{{data.pw}}", 11, &bad, err, sizeof err),
                   RL_ERR_INVAL);
  char *var[] = {"a\"b"};
  const char *const row[] = {"x@y", "p\\\"\n"};
  uint64_t rng = 1;
  rl__template_ctx ctx = {.user_id = 1,
                          .seq = 1,
                          .rng = &rng,
                          .vars = var,
                          .n_vars = 1,
                          .i = 3,
                          .row = row};
  rl__buf b;
  rl__buf_init(&b);
  assert_int_equal(rl__template_expand(t, &ctx, &b), 0);
  assert_string_equal(b.p, "a\"b p\\\"\n 3 \"p\\\\\\\"\\u000a\" a\\\"b");
  /* No row (the class has no data file): nothing. */
  ctx.row = NULL;
  ctx.vars = NULL;
  rl__buf_reset(&b);
  assert_int_equal(rl__template_expand(t, &ctx, &b), 0);
  assert_string_equal(b.p, "  3 \"\" ");
  rl__buf_free(&b);
  rl__template_del(t);
}

static void test_errors_name_the_column(void **state) {
  (void)state;
  static const struct {
    const char *text, *words;
  } bad[] = {
      {"GET {{nope}}", "unknown template name 'nope' at column 5"},
      {"x{{user_id", "column 2 has no closing"},
      {"{{}}", "empty"},
      {"{{random_int 5 1}}", "A <= B"},
      {"{{random_int 1}}", "takes 2 arguments, got 1"},
      {"{{random_string x}}", "random_string at column 1"},
      {"{{seq 1}}", "takes 0 arguments"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    rl_template *t = NULL;
    char err[256] = "";
    assert_int_equal(
        rl__template_new(bad[i].text, strlen(bad[i].text), &t, err, sizeof err),
        RL_ERR_INVAL);
    assert_null(t);
    if (!strstr(err, bad[i].words))
      fail_msg("'%s': '%s' not in: %s", bad[i].text, bad[i].words, err);
  }
}

/* ABI 1.6: a piece of a longer argument reports columns in the whole
 * argument; its text is handed back, and a constant's is its expansion. */
static void test_columns_from_an_offset_and_the_text(void **state) {
  (void)state;
  rl_template *t = NULL;
  char err[256] = "";
  assert_int_equal(
      rl__template_new_at("k:{{nope}}", 10, 7, &t, err, sizeof err),
      RL_ERR_INVAL);
  assert_non_null(strstr(err, "unknown template name 'nope' at column 9"));
  assert_int_equal(rl__template_new_at("{{x", 3, 0, &t, err, sizeof err),
                   RL_ERR_INVAL);
  assert_non_null(strstr(err, "'{{' at column 1 has no"));
  size_t len = 0;
  assert_int_equal(rl__template_new_at("a\0b", 3, 4, &t, err, sizeof err), 0);
  assert_true(rl__template_is_constant(t));
  const char *text = rl__template_text(t, &len);
  assert_int_equal(len, 3);
  assert_memory_equal(text, "a\0b", 3);
  rl__template_del(t);
  assert_int_equal(rl__template_new("v{{seq}}", 8, &t, err, sizeof err), 0);
  assert_false(rl__template_is_constant(t));
  assert_string_equal(rl__template_text(t, NULL), "v{{seq}}");
  rl__template_del(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_constant_and_names),
      cmocka_unit_test(test_quoted_text),
      cmocka_unit_test(test_random_int_range_and_seed),
      cmocka_unit_test(test_uuid_and_string),
      cmocka_unit_test(test_errors_name_the_column),
      cmocka_unit_test(test_columns_from_an_offset_and_the_text),
      cmocka_unit_test(test_variables_columns_counter_and_json),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

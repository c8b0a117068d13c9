/* The small JSON path of captures and expectations: syntax errors with
 * their offset, evaluation over jansson values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rpcload/plugin.h>

#include "base/jsonpath.h"

static const char doc_text[] =
    "{\"token\":\"abc\",\"n\":42,\"ok\":true,\"nil\":null,"
    "\"items\":[{\"id\":1},{\"id\":2},{\"id\":3,\"tags\":[\"x\",\"y\"]}],"
    "\"a.b\":\"dotted\",\"it's\":\"quoted\",\"sp ace\":7,"
    "\"nested\":{\"deep\":{\"er\":[10,20]}}}";

/* Evaluates `path` over the document and returns its capture text
 * (caller frees), or NULL when the path selects nothing. */
static char *eval_text(const char *path) {
  json_error_t jerr;
  json_t *doc = json_loads(doc_text, 0, &jerr);
  assert_non_null(doc);
  rl__jsonpath *p = NULL;
  char err[128] = "";
  if (rl__jsonpath_new(path, &p, NULL, err, sizeof err))
    fail_msg("'%s' refused: %s", path, err);
  assert_string_equal(rl__jsonpath_text(p), path);
  json_t *v = rl__jsonpath_eval(p, doc);
  char *text = v ? rl__jsonpath_value_text(v) : NULL;
  rl__jsonpath_del(p);
  json_decref(doc);
  return text;
}

static void expect_text(const char *path, const char *want) {
  char *got = eval_text(path);
  if (!want) {
    if (got)
      fail_msg("%s: expected nothing, got %s", path, got);
    return;
  }
  if (!got)
    fail_msg("%s: expected %s, got nothing", path, want);
  if (strcmp(got, want) != 0)
    fail_msg("%s: expected %s, got %s", path, want, got);
  free(got);
}

static void test_selects(void **state) {
  (void)state;
  expect_text("$.token", "abc");
  expect_text("$.n", "42");
  expect_text("$.ok", "true");
  expect_text("$.nil", "null");
  expect_text("$.items[0].id", "1");
  expect_text("$.items[2].tags[1]", "y");
  expect_text("$.items[-1].id", "3");
  expect_text("$.items[-3].id", "1");
  expect_text("$['a.b']", "dotted");
  expect_text("$[\"a.b\"]", "dotted");
  expect_text("$['it\\'s']", "quoted");
  expect_text("$[ 'sp ace' ]", "7");
  expect_text("$.nested.deep.er[1]", "20");
  expect_text("$.nested['deep'][\"er\"][-1]", "20");
  expect_text("$.items[1]", "{\"id\":2}");
  expect_text("$.nested.deep.er", "[10,20]");
  char *whole = eval_text("$"); /* the whole document, as compact JSON */
  assert_non_null(whole);
  assert_true(strncmp(whole, "{\"token\":\"abc\",\"n\":42,", 22) == 0);
  free(whole);
}

static void test_missing_is_null(void **state) {
  (void)state;
  expect_text("$.nope", NULL);
  expect_text("$.items[3]", NULL);
  expect_text("$.items[-4]", NULL);
  expect_text("$.token.x", NULL);   /* key into a string */
  expect_text("$.token[0]", NULL);  /* index into a string */
  expect_text("$.items.id", NULL);  /* key into an array */
  expect_text("$.nested[0]", NULL); /* index into an object */
}

static int collect(json_t *v, size_t i, void *arg) {
  char *out = arg;
  char *t = v ? rl__jsonpath_value_text(v) : NULL;
  size_t n = strlen(out);
  snprintf(out + n, 256 - n, "%s%zu=%s", n ? " " : "", i, t ? t : "-");
  free(t);
  return 0;
}

/* [*]: every element, the rest of the path applied to each. */
static void test_wildcard(void **state) {
  (void)state;
  json_error_t jerr;
  json_t *doc =
      json_loads("{\"m\": [{\"ok\": true}, {\"ok\": false}, {\"no\": 1}],"
                 " \"o\": {\"a\": 1, \"b\": 2}, \"s\": \"x\"}",
                 0, &jerr);
  assert_non_null(doc);
  static const struct {
    const char *path, *seen;
    size_t n;
  } cases[] = {
      {"$.m[*].ok", "0=true 1=false 2=-", 3},
      {"$.m[*]", "0={\"ok\":true} 1={\"ok\":false} 2={\"no\":1}", 3},
      {"$.o[*]", "0=1 1=2", 2},
      {"$.s[*]", "", 0},
      {"$.missing[*].x", "", 0},
      {"$.m[0].ok", "0=true", 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    rl__jsonpath *p = NULL;
    char err[160];
    assert_int_equal(rl__jsonpath_new(cases[i].path, &p, NULL, err, sizeof err),
                     0);
    char seen[256] = "";
    assert_int_equal(rl__jsonpath_each(p, doc, collect, seen), cases[i].n);
    assert_string_equal(seen, cases[i].seen);
    /* One value only without [*]. */
    assert_int_equal(rl__jsonpath_wild(p), strstr(cases[i].path, "[*]") != 0);
    if (rl__jsonpath_wild(p))
      assert_null(rl__jsonpath_eval(p, doc));
    rl__jsonpath_del(p);
  }
  json_decref(doc);
}

static void test_syntax_errors(void **state) {
  (void)state;
  static const struct {
    const char *path;
    size_t off;
    const char *words;
  } bad[] = {
      {"token", 0, "starts with '$'"},
      {"", 0, "starts with '$'"},
      {"$.", 2, "expected a key"},
      {"$..a", 1, "recursive descent"},
      {"$.a[", 4, "expected an index or a quoted key"},
      {"$.a[1", 5, "expected ']'"},
      {"$.a['x", 4, "no closing '"},
      {"$.a['x\\n']", 6, "unknown escape"},
      {"$.a[*][*]", 7, "one [*] a path"},
      {"$.*", 2, "written [*]"},
      {"$.a[?(@.x)]", 4, "filters"},
      {"$.a[-]", 4, "expected an index after '-'"},
      {"$.a[99999999999]", 4, "too large"},
      {"$a", 1, "expected '.' or '['"},
      {"$.a b", 3, "expected '.' or '['"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    rl__jsonpath *p = (rl__jsonpath *)&p; /* must be reset to NULL */
    char err[160] = "";
    size_t off = 999;
    assert_int_equal(rl__jsonpath_new(bad[i].path, &p, &off, err, sizeof err),
                     RL_ERR_INVAL);
    assert_null(p);
    if (!strstr(err, bad[i].words))
      fail_msg("'%s': '%s' not in: %s", bad[i].path, bad[i].words, err);
    if (off != bad[i].off)
      fail_msg("'%s': offset %zu, expected %zu (%s)", bad[i].path, off,
               bad[i].off, err);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_selects),
      cmocka_unit_test(test_missing_is_null),
      cmocka_unit_test(test_syntax_errors),
      cmocka_unit_test(test_wildcard),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

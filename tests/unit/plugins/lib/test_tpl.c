/* plugins/lib/tpl: templates as the plugins compile them, against a stub
 * host (what a template means is the core's, tested in
 * tests/unit/engine/test_template.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rpcload/plugin.h>

#include "lib/tpl.h"

/* The stub's template: its text, and whether it has an expression. */
struct rl_template {
  char text[64];
  int constant;
};

static int n_new, n_del;

/* Refuses "{{bad}}" with a reason, "{{oom}}" without one; any other text
 * compiles, constant unless it has "{{x}}". */
static int stub_new(const char *text, size_t len, rl_template **out, char *err,
                    size_t errlen) {
  n_new++;
  if (len >= 7 && memcmp(text, "{{bad}}", 7) == 0) {
    snprintf(err, errlen, "unknown template name 'bad' at column 3");
    return RL_ERR_INVAL;
  }
  if (len >= 7 && memcmp(text, "{{oom}}", 7) == 0)
    return RL_ERR_NOMEM;
  rl_template *t = calloc(1, sizeof *t);
  assert_non_null(t);
  snprintf(t->text, sizeof t->text, "%.*s", (int)len, text);
  t->constant = strstr(t->text, "{{x}}") == NULL;
  *out = t;
  return 0;
}

static void stub_del(rl_template *t) {
  if (t != NULL)
    n_del++;
  free(t);
}

static int stub_is_constant(const rl_template *t) { return t->constant; }

static const char *stub_expand(const rl_template *t, rl_request *req,
                               size_t *len) {
  (void)req;
  *len = strlen(t->text);
  return t->text;
}

static const rl_host host = {
    .abi_version = RL_ABI_VERSION,
    .struct_size = sizeof(rl_host),
    .template_new = stub_new,
    .template_del = stub_del,
    .template_is_constant = stub_is_constant,
    .template_expand = stub_expand,
};

static void test_available(void **state) {
  (void)state;
  assert_true(rl__tpl_available(&host));
  assert_false(rl__tpl_available(NULL));
  rl_host old = host; /* ABI 1.0: the table ends before templates */
  old.struct_size = (uint32_t)offsetof(rl_host, template_new);
  assert_false(rl__tpl_available(&old));
  rl_host partial = host;
  partial.template_expand = NULL;
  assert_false(rl__tpl_available(&partial));
}

static void test_has_open(void **state) {
  (void)state;
  assert_true(rl__tpl_has_open("a{{b", 4));
  assert_false(rl__tpl_has_open("a{{b", 2)); /* cut inside the braces */
  assert_false(rl__tpl_has_open("a{b}}", 5));
  assert_false(rl__tpl_has_open("", 0));
}

static void test_compile(void **state) {
  (void)state;
  char err[128] = "";
  rl_template *t = (rl_template *)&n_new; /* overwritten */
  n_new = n_del = 0;
  /* No "{{": the host is not even asked. */
  assert_int_equal(
      rl__tpl_compile(&host, "{\"a\":1}", 7, "body", &t, err, sizeof err), 0);
  assert_null(t);
  assert_int_equal(n_new, 0);
  /* Constant after all: compiled, then dropped. */
  assert_int_equal(
      rl__tpl_compile(&host, "a{{y}}", 6, "path", &t, err, sizeof err), 0);
  assert_null(t);
  assert_int_equal(n_new, 1);
  assert_int_equal(n_del, 1);
  /* Only the first len bytes count. */
  assert_int_equal(
      rl__tpl_compile(&host, "a{{x}}", 3, "path", &t, err, sizeof err), 0);
  assert_null(t);
  assert_int_equal(
      rl__tpl_compile(&host, "/u/{{x}}?", 9, "path", &t, err, sizeof err), 0);
  assert_non_null(t);
  assert_string_equal(t->text, "/u/{{x}}?");
  stub_del(t);
  /* The host's reason, with the piece named; its code without one. */
  assert_int_equal(
      rl__tpl_compile(&host, "{{bad}}", 7, "header 'X-A'", &t, err, sizeof err),
      RL_ERR_INVAL);
  assert_string_equal(err,
                      "header 'X-A': unknown template name 'bad' at column 3");
  assert_null(t);
  assert_int_equal(
      rl__tpl_compile(&host, "{{oom}}", 7, "body", &t, err, sizeof err),
      RL_ERR_NOMEM);
  char want[128];
  snprintf(want, sizeof want, "body: %s", rl_strerror(RL_ERR_NOMEM));
  assert_string_equal(err, want);
  /* No room for the message: nothing written, nothing overrun. */
  assert_int_equal(rl__tpl_compile(&host, "{{bad}}", 7, "body", &t, NULL, 0),
                   RL_ERR_INVAL);
}

static void test_replace(void **state) {
  (void)state;
  const struct {
    const char *in;
    size_t len;
    const char *with, *want;
  } cases[] = {
      {"/u/{{user_id}}/x", 16, "", "/u//x"},
      {"/u/{{user_id}}/x", 16, "1", "/u/1/x"},
      {"{\"id\":{{user_id}},\"n\":\"{{seq}}\"}", 32, "1",
       "{\"id\":1,\"n\":\"1\"}"},
      {"{{a}}{{b}}", 10, "long", "longlong"},
      {"{{{a}}", 6, "", ""},   /* the first "{{" opens, up to the first "}}" */
      {"a{{b", 4, "", "a{{b"}, /* no closing: text */
      {"a{{b}}", 5, "", "a{{b}"}, /* the closing is past len */
      {"{}}{", 4, "", "{}}{"},
      {"", 0, "1", ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *out = rl__tpl_replace(cases[i].in, cases[i].len, cases[i].with);
    assert_non_null(out);
    assert_string_equal(out, cases[i].want);
    free(out);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_available),
      cmocka_unit_test(test_has_open),
      cmocka_unit_test(test_compile),
      cmocka_unit_test(test_replace),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

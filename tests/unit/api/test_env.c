/* <rpcload/rpcload.h> before any run: options by name (api/options_set.c)
 * and what rl_env_new says about bad ones (api/env.c). The runs themselves
 * are tests/integration/test_library.py's, against nginx. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rpcload/rpcload.h>

static void test_options_by_name(void **state) {
  (void)state;
  rl_error_info err = {0};
  rl_options *o = rl_options_new();
  assert_non_null(o);
  /* '_' and '-' are the same; a flag takes a truth value or none. */
  assert_int_equal(rl_options_set(o, "spawn_rate", "5", &err), 0);
  assert_int_equal(rl_options_set(o, "headless", NULL, &err), 0);
  assert_int_equal(rl_options_set(o, "only-summary", "false", &err), 0);
  assert_int_equal(rl_options_set(o, "target", "http://127.0.0.1:1/", &err), 0);
  assert_int_equal(rl_options_set(o, "plugin-dir", RL_TEST_PLUGIN_DIR, &err),
                   0);
  /* Unknown, a flag given a value, a value missing: usage errors. */
  assert_int_equal(rl_options_set(o, "userz", "3", &err), RL_ERR_INVAL);
  assert_non_null(strstr(err.text, "unknown option 'userz'"));
  assert_int_equal(err.usage, 1);
  assert_int_equal(rl_options_set(o, "headless", "maybe", &err), RL_ERR_INVAL);
  assert_non_null(strstr(err.text, "is a flag"));
  assert_int_equal(rl_options_set(o, "users", NULL, &err), RL_ERR_INVAL);
  assert_non_null(strstr(err.text, "needs a value"));
  rl_env *env = NULL;
  assert_int_equal(rl_env_new(o, &env, &err), 0);
  assert_int_equal(rl_env_command(env), RL_CMD_RUN);
  /* Nothing has run: no stats, nobody running, and quit says so. */
  assert_null(rl_env_stats(env));
  assert_int_equal(rl_env_user_count(env), 0);
  assert_string_equal(rl_env_state(env), "ready");
  assert_int_equal(rl_env_quit(env), RL_ERR_CLOSED);
  assert_int_equal(rl_env_web_ui_port(env), -1);
  rl_env_free(env);
  rl_options_free(o);
}

/* Each bad input is refused at rl_env_new with the command line's text and
 * whether the options themselves are wrong. */
static void test_env_refuses_with_the_reason(void **state) {
  (void)state;
  static const struct {
    const char *name, *value;
    const char *says;
    int usage;
  } cases[] = {
      {"users", "x", "invalid --users 'x'", 1},
      {"rate", "-5", "--rate", 1},
      {"scenario", "/nonexistent/shop.yaml", "/nonexistent/shop.yaml", 0},
      {"target", "nosuchscheme://h:1", "nosuchscheme", 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    rl_error_info err = {0};
    rl_options *o = rl_options_new();
    assert_int_equal(rl_options_set(o, cases[i].name, cases[i].value, &err), 0);
    if (strcmp(cases[i].name, "target") && strcmp(cases[i].name, "scenario"))
      rl_options_set(o, "target", "http://127.0.0.1:1/", &err);
    rl_options_set(o, "plugin-dir", RL_TEST_PLUGIN_DIR, &err);
    rl_env *env = (rl_env *)1;
    int rc = rl_env_new(o, &env, &err);
    assert_int_not_equal(rc, 0);
    assert_null(env);
    assert_int_equal(err.code, rc);
    if (!strstr(err.text, cases[i].says))
      fail_msg("%s=%s: '%s' does not say '%s'", cases[i].name, cases[i].value,
               err.text, cases[i].says);
    assert_int_equal(err.usage, cases[i].usage);
    rl_options_free(o);
  }
}

/* --help and --version need nothing else; the command prints the help. */
static void test_help_and_version_need_nothing_else(void **state) {
  (void)state;
  rl_error_info err = {0};
  rl_options *o = rl_options_new();
  char *argv[] = {"--help"};
  assert_int_equal(rl_options_add_args(o, 1, argv), 0);
  rl_env *env = NULL;
  assert_int_equal(rl_env_new(o, &env, &err), 0);
  assert_int_equal(rl_env_command(env), RL_CMD_HELP);
  rl_env_free(env);
  rl_options_free(o);
  assert_int_equal(rl_api_version() >> 16, RL_API_MAJOR);
  assert_non_null(rl_version());
}

static void count_option(const char *name, int has_value, int short_name,
                         void *arg) {
  (void)has_value;
  int *n = arg;
  if (strcmp(name, "users") == 0 && short_name == 'u')
    n[0]++;
  if (strcmp(name, "headless") == 0 && !has_value)
    n[1]++;
  n[2]++;
}

static void test_options_each_lists_the_command_lines(void **state) {
  (void)state;
  int n[3] = {0};
  rl_options_each(count_option, n);
  assert_int_equal(n[0], 1);
  assert_int_equal(n[1], 1);
  assert_true(n[2] > 50);
}

/* Custom messages in one process: the handler gets the msgpack bytes as
 * sent; bytes that are not one msgpack value are refused with the reason;
 * a type nobody registered is RL_ERR_NOTFOUND. */
static int handled;
static void on_msg(void *arg, const char *type, const void *data, size_t len) {
  assert_ptr_equal(arg, &handled);
  assert_string_equal(type, "test_users");
  assert_int_equal(len, 3);
  assert_memory_equal(data, "\x92\x01\x02", 3); /* [1, 2] */
  handled++;
}

static void test_custom_messages_locally(void **state) {
  (void)state;
  rl_error_info err = {0};
  rl_options *o = rl_options_new();
  assert_int_equal(rl_options_set(o, "target", "http://127.0.0.1:1/", &err), 0);
  assert_int_equal(rl_options_set(o, "plugin-dir", RL_TEST_PLUGIN_DIR, &err),
                   0);
  rl_env *env = NULL;
  assert_int_equal(rl_env_new(o, &env, &err), 0);
  assert_int_equal(rl_env_register_message(env, "test_users", NULL, NULL, &err),
                   RL_ERR_INVAL);
  assert_int_equal(
      rl_env_register_message(env, "test_users", on_msg, &handled, &err), 0);
  handled = 0;
  assert_int_equal(
      rl_env_send_message(env, "test_users", "\x92\x01\x02", 3, NULL, &err), 1);
  assert_int_equal(handled, 1);
  /* [1, ...] cut short, and two values: refused, nobody called. */
  assert_int_equal(
      rl_env_send_message(env, "test_users", "\x92\x01", 2, NULL, &err),
      RL_ERR_INVAL);
  assert_non_null(strstr(err.text, "not one msgpack value"));
  assert_int_equal(
      rl_env_send_message(env, "test_users", "\x01\x02", 2, NULL, &err),
      RL_ERR_INVAL);
  assert_non_null(strstr(err.text, "bytes after"));
  assert_int_equal(handled, 1);
  assert_int_equal(rl_env_send_message(env, "other", "\xc0", 1, NULL, &err),
                   RL_ERR_NOTFOUND);
  assert_null(rl_env_message_node(env));
  rl_env_free(env);
  rl_options_free(o);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_options_by_name),
      cmocka_unit_test(test_env_refuses_with_the_reason),
      cmocka_unit_test(test_help_and_version_need_nothing_else),
      cmocka_unit_test(test_options_each_lists_the_command_lines),
      cmocka_unit_test(test_custom_messages_locally),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* cli/config.c: options from rpcload.conf and RPCLOAD_* variables, folded
 * into argv before the command line's own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* The module lives in the executable's sources (cli/), not in
 * rpcload_core: the test compiles it in. */
#include "../../../cli/config.c"

/* A table shaped like cli/options.c's. */
static const struct option known[] = {
    {"users", required_argument, NULL, 'u'},
    {"spawn-rate", required_argument, NULL, 'r'},
    {"run-time", required_argument, NULL, 't'},
    {"header", required_argument, NULL, 'H'},
    {"data", required_argument, NULL, 'd'},
    {"headless", no_argument, NULL, 256},
    {"only-summary", no_argument, NULL, 257},
    {"insecure", no_argument, NULL, 258},
    {"color", optional_argument, NULL, 259},
    {NULL, 0, NULL, 0},
};

static char tmpdir[256];
static char oldcwd[1024];

static void clear_env(void) {
  static const char *const vars[] = {
      "RPCLOAD_USERS",        "RPCLOAD_SPAWN_RATE",   "RPCLOAD_RUN_TIME",
      "RPCLOAD_HEADER",       "RPCLOAD_DATA",         "RPCLOAD_HEADLESS",
      "RPCLOAD_ONLY_SUMMARY", "RPCLOAD_INSECURE",     "RPCLOAD_COLOR",
      "RPCLOAD_CONFIG",       "RPCLOAD_NOT_AN_OPTION"};
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
    unsetenv(vars[i]);
}

/* Each test runs in an empty temporary directory with no RPCLOAD_*
 * variable of ours set. */
static int setup(void **state) {
  (void)state;
  clear_env();
  if (!getcwd(oldcwd, sizeof oldcwd))
    return -1;
  snprintf(tmpdir, sizeof tmpdir, "/tmp/rl_config_XXXXXX");
  if (!mkdtemp(tmpdir) || chdir(tmpdir) != 0)
    return -1;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  clear_env();
  unlink("rpcload.conf");
  unlink("other.conf");
  if (chdir(oldcwd) != 0 || rmdir(tmpdir) != 0)
    return -1;
  return 0;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

/* Runs cli_config_argv over `args` (NULL-terminated, argv[0] included)
 * and checks the result joined with '|'. */
static void expect_argv(const char *const *args, const char *want) {
  char *argv[32];
  int argc = 0;
  for (; args[argc]; argc++)
    argv[argc] = (char *)args[argc];
  argv[argc] = NULL;
  int out_argc = -1;
  char **out = NULL;
  char err[256] = "";
  if (cli_config_argv(argc, argv, known, &out_argc, &out, err, sizeof err))
    fail_msg("refused: %s", err);
  char joined[2048] = "";
  for (int i = 0; i < out_argc; i++) {
    if (i)
      strcat(joined, "|");
    strcat(joined, out[i]);
  }
  assert_null(out[out_argc]);
  if (strcmp(joined, want) != 0)
    fail_msg("got  %s\nwant %s", joined, want);
  cli_config_free(out);
}

static void expect_error(const char *const *args, const char *want) {
  char *argv[32];
  int argc = 0;
  for (; args[argc]; argc++)
    argv[argc] = (char *)args[argc];
  argv[argc] = NULL;
  int out_argc = -1;
  char **out = (char **)&out;
  char err[256] = "";
  assert_int_equal(
      cli_config_argv(argc, argv, known, &out_argc, &out, err, sizeof err),
      RL_ERR_INVAL);
  assert_null(out);
  assert_string_equal(err, want);
}

static void test_nothing_to_add(void **state) {
  (void)state;
  static const char *const args[] = {"rpcload", "-u", "5", "http://x/", NULL};
  expect_argv(args, "rpcload|-u|5|http://x/");
  static const char *const none[] = {"rpcload", NULL};
  expect_argv(none, "rpcload");
}

static void test_file_then_env_then_command_line(void **state) {
  (void)state;
  write_file("rpcload.conf", "# a Locust-style config\n"
                             "users = 10\n"
                             "  spawn-rate=5\n"
                             "\n"
                             "; another comment\n"
                             "headless = true\n"
                             "only_summary = false\n"
                             "header = a: b\n"
                             "header = c: d   # two headers\n"
                             "data = '{\"k\": \"#x\"}'  # quoted: the # stays\n"
                             "run_time = 30s#not a comment\n"
                             "color =\n"
                             "insecure = YES\r\n");
  setenv("RPCLOAD_USERS", "20", 1);
  setenv("RPCLOAD_HEADLESS", "0", 1);      /* false: adds nothing */
  setenv("RPCLOAD_SPAWN_RATE", "", 1);     /* empty: unset */
  setenv("RPCLOAD_NOT_AN_OPTION", "1", 1); /* not ours: ignored */
  setenv("RPCLOAD_COLOR", "always", 1);
  static const char *const args[] = {"rpcload", "-u", "30", "http://x/", NULL};
  expect_argv(args, "rpcload|--users=10|--spawn-rate=5|--headless|"
                    "--header=a: b|--header=c: d|--data={\"k\": \"#x\"}|"
                    "--run-time=30s#not a comment|--color|--insecure|"
                    "--users=20|--color=always|-u|30|http://x/");

  /* What getopt makes of it: the last --users wins, the command line's. */
  static const char *const args2[] = {"rpcload", "--users", "30", NULL};
  char *argv[] = {(char *)args2[0], (char *)args2[1], (char *)args2[2], NULL};
  int out_argc;
  char **out;
  char err[256];
  assert_int_equal(
      cli_config_argv(3, argv, known, &out_argc, &out, err, sizeof err), 0);
  optind = 0; /* glibc: a full reset */
  opterr = 0;
  const char *users = NULL;
  int headers = 0, c;
  while ((c = getopt_long(out_argc, out, "u:r:t:H:d:", known, NULL)) != -1) {
    if (c == 'u')
      users = optarg;
    if (c == 'H')
      headers++;
  }
  assert_non_null(users);
  assert_string_equal(users, "30");
  assert_int_equal(headers, 2); /* repeatable options accumulate */
  cli_config_free(out);
}

static void test_config_option(void **state) {
  (void)state;
  write_file("rpcload.conf", "users = 1\n");
  write_file("other.conf", "users = 2\n");
  /* --config replaces rpcload.conf, and is gone from the result. */
  static const char *const a1[] = {"rpcload", "--config", "other.conf",
                                   "-r",      "1",        NULL};
  expect_argv(a1, "rpcload|--users=2|-r|1");
  static const char *const a2[] = {"rpcload", "-r", "1", "--config=other.conf",
                                   NULL};
  expect_argv(a2, "rpcload|--users=2|-r|1");
  /* As an option's value, or after "--", it is not ours. */
  static const char *const a3[] = {"rpcload", "-d", "--config", "x", NULL};
  expect_argv(a3, "rpcload|--users=1|-d|--config|x");
  static const char *const a4[] = {"rpcload", "-d--config", NULL};
  expect_argv(a4, "rpcload|--users=1|-d--config");
  static const char *const a5[] = {"rpcload", "--data", "--config", NULL};
  expect_argv(a5, "rpcload|--users=1|--data|--config");
  static const char *const a6[] = {"rpcload", "--dat", "--config", NULL};
  expect_argv(a6, "rpcload|--users=1|--dat|--config");
  static const char *const a7[] = {"rpcload", "--", "--config", "x", NULL};
  expect_argv(a7, "rpcload|--users=1|--|--config|x");
  static const char *const a8[] = {"rpcload", "--headless", "--config",
                                   "other.conf", NULL};
  expect_argv(a8, "rpcload|--users=2|--headless");
  /* RPCLOAD_CONFIG names the file when --config does not. */
  setenv("RPCLOAD_CONFIG", "other.conf", 1);
  static const char *const a9[] = {"rpcload", NULL};
  expect_argv(a9, "rpcload|--users=2");
}

static void test_errors(void **state) {
  (void)state;
  static const char *const args[] = {"rpcload", NULL};
  static const struct {
    const char *file, *err;
  } bad[] = {
      {"users = 1\n\nuserz = 3\n",
       "rpcload.conf:3: unknown option 'userz' (did you mean 'users'?)"},
      {"frobnicate = 1\n",
       "rpcload.conf:1: unknown option 'frobnicate' (see rpcload --help)"},
      {"headless = maybe\n",
       "rpcload.conf:1: 'headless' is a flag: expected true or false, got "
       "'maybe'"},
      {"headless\n", "rpcload.conf:1: expected 'option = value', got "
                     "'headless'"},
      {"users =\n", "rpcload.conf:1: 'users' needs a value"},
      {"users = # none\n", "rpcload.conf:1: 'users' needs a value"},
      {"= 3\n", "rpcload.conf:1: expected an option name before '='"},
      {"data = 'abc\n", "rpcload.conf:1: the value's ' has no closing '"},
      {"data = \"a\" b\n", "rpcload.conf:1: text after the closing \": 'b'"},
      {"config = x.conf\n",
       "rpcload.conf:1: a config file cannot name another"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    write_file("rpcload.conf", bad[i].file);
    expect_error(args, bad[i].err);
  }
  unlink("rpcload.conf");

  static const char *const missing[] = {"rpcload", "--config", "nope.conf",
                                        NULL};
  expect_error(missing, "nope.conf: cannot open: No such file or directory");
  static const char *const no_name[] = {"rpcload", "--config", NULL};
  expect_error(no_name, "--config needs a file name");
  static const char *const twice[] = {"rpcload", "--config=a", "--config", "b",
                                      NULL};
  expect_error(twice, "--config is given twice");
  setenv("RPCLOAD_HEADLESS", "maybe", 1);
  expect_error(args, "RPCLOAD_HEADLESS: 'headless' is a flag: expected true "
                     "or false, got 'maybe'");
  unsetenv("RPCLOAD_HEADLESS");
  setenv("RPCLOAD_CONFIG", "gone.conf", 1);
  expect_error(args, "gone.conf: cannot open: No such file or directory");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_nothing_to_add, setup, teardown),
      cmocka_unit_test_setup_teardown(test_file_then_env_then_command_line,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_config_option, setup, teardown),
      cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

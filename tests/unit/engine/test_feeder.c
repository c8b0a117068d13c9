/*
 * Data feeders (engine/feeder.h): CSV with a header and JSON lines read
 * into rows, every mistake with its line (and column), and rows handed
 * out in each order, from several threads at once for the shared one.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rpcload/plugin.h>

#include "engine/feeder.h"

static rl__feeder *parse_ok(const char *text, int jsonl) {
  rl__feeder *f = NULL;
  char err[256] = "";
  if (rl__feeder_parse(text, strlen(text), "t.csv", jsonl, &f, err, sizeof err))
    fail_msg("refused: %s\n--- text:\n%s", err, text);
  return f;
}

static void parse_bad(const char *text, int jsonl, const char *want) {
  rl__feeder *f = (rl__feeder *)&f;
  char err[256] = "";
  assert_int_equal(
      rl__feeder_parse(text, strlen(text), "t.csv", jsonl, &f, err, sizeof err),
      RL_ERR_INVAL);
  assert_null(f);
  if (strcmp(err, want) != 0)
    fail_msg("expected '%s'\n     got '%s'\n--- text:\n%s", want, err, text);
}

static const char *cell(const rl__feeder *f, size_t row, const char *col) {
  int c = rl__feeder_column(f, col, strlen(col));
  assert_true(c >= 0);
  return f->cells[row * f->n_columns + (size_t)c];
}

static void test_csv(void **state) {
  (void)state;
  /* RFC 4180: quotes around commas, line breaks and doubled quotes; CRLF;
   * a byte order mark; blank lines skipped; empty fields. */
  rl__feeder *f = parse_ok("\xef\xbb\xbf"
                           "email,password,note\r\n"
                           "ann@x.io,\"p\"\"q,1\",\r\n"
                           "\r\n"
                           "bob@x.io,b2,\"two\nlines\"\n"
                           "cat@x.io,,last",
                           0);
  assert_int_equal(f->n_columns, 3);
  assert_string_equal(f->columns[0], "email");
  assert_null(f->columns[3]);
  assert_int_equal(f->n_rows, 3);
  assert_string_equal(cell(f, 0, "password"), "p\"q,1");
  assert_string_equal(cell(f, 0, "note"), "");
  assert_string_equal(cell(f, 1, "note"), "two\nlines");
  assert_string_equal(cell(f, 2, "email"), "cat@x.io");
  assert_string_equal(cell(f, 2, "password"), "");
  assert_int_equal(rl__feeder_column(f, "nope", 4), -1);
  rl__feeder_del(f);
}

static void test_csv_errors(void **state) {
  (void)state;
  parse_bad("", 0, "empty: expected a header naming the columns");
  parse_bad("a,b\n", 0, "no rows after the header");
  parse_bad("a,b\n1,2\n3\n", 0, "3: 1 field, but the header names 2 columns");
  parse_bad("a,b\n1,\"2\n", 0, "2:3: a quoted field is never closed");
  parse_bad("a,b\n1,\"2\"x\n", 0,
            "2:6: text after a quoted field (a field is quoted whole)");
  parse_bad("a,b\n1,2\"3\n", 0,
            "2:4: a quote inside a field that is not quoted (quote the "
            "whole field and double the quote: \"a \"\"b\"\"\")");
  parse_bad("a,,c\n1,2,3\n", 0, "1: column 2 '' is empty");
  parse_bad("a,first name\n1,2\n", 0,
            "1: column 2 'first name' has a blank, a brace, '|' or a "
            "control character ({{data.NAME}} could not name it)");
  parse_bad("a,a\n1,2\n", 0, "1: column 'a' twice");
}

static void test_json_lines(void **state) {
  (void)state;
  rl__feeder *f = parse_ok("{\"email\": \"ann@x.io\", \"n\": 1}\n"
                           "\n"
                           "  {\"n\": {\"k\": [1]}, \"email\": null}  \r\n"
                           "{\"email\": \"c\\\"d\", \"n\": true}",
                           1);
  assert_int_equal(f->n_columns, 2);
  assert_int_equal(f->n_rows, 3);
  /* Strings as their text, null as nothing, the rest as JSON; members in
   * any order. */
  assert_string_equal(cell(f, 0, "n"), "1");
  assert_string_equal(cell(f, 1, "email"), "");
  assert_string_equal(cell(f, 1, "n"), "{\"k\":[1]}");
  assert_string_equal(cell(f, 2, "email"), "c\"d");
  assert_string_equal(cell(f, 2, "n"), "true");
  /* What each value was, for a reader that keeps types (rl.csv's rows). */
  assert_non_null(f->kinds);
  static const unsigned char kinds[] = {RL__FEEDER_STRING, RL__FEEDER_JSON,
                                        RL__FEEDER_NULL,   RL__FEEDER_JSON,
                                        RL__FEEDER_STRING, RL__FEEDER_JSON};
  assert_memory_equal(f->kinds, kinds, sizeof kinds);
  rl__feeder_del(f);
  f = parse_ok("a,b\n1,2\n", 0);
  assert_null(f->kinds); /* CSV: every cell a string */
  rl__feeder_del(f);
  parse_bad("", 1, "no JSON object: the file has no rows");
  parse_bad("{\"a\": 1}\n{\"a\": 2, \"b\": 3}\n", 1,
            "2: 'b' is not a column (the first line names them)");
  parse_bad("{\"a\": 1, \"b\": 2}\n{\"a\": 2}\n", 1,
            "2: no 'b' (the first line names the columns)");
  parse_bad("{\"a\": 1}\n[1]\n", 1,
            "2: expected a JSON object ({\"email\": ...})");
  parse_bad("{\"a\": 1}\n  {\"a\": }\n", 1,
            "2:9: not JSON: unexpected token near '}'");
  parse_bad("{}\n", 1,
            "1: the first object has no members: they name the columns");
}

static void test_draw_orders(void **state) {
  (void)state;
  rl__feeder *f = parse_ok("k\na\nb\nc\n", 0);
  uint64_t rng = 7;
  /* sequential: the next row for each task run, shared by all users. */
  const char *const *r = rl__feeder_draw(f, 1, &rng, 1, NULL);
  assert_string_equal(r[0], "a");
  assert_string_equal(rl__feeder_draw(f, 2, &rng, 1, NULL)[0], "b");
  assert_string_equal(rl__feeder_draw(f, 1, &rng, 0, r)[0], "c");
  f->cycle = 1;
  assert_string_equal(rl__feeder_draw(f, 1, &rng, 0, r)[0], "a");
  f->cycle = 0;
  assert_null(rl__feeder_draw(f, 1, &rng, 0, r));
  /* per_user: row id - 1, kept for the user's life. */
  f->order = RL__FEEDER_PER_USER;
  r = rl__feeder_draw(f, 2, &rng, 1, NULL);
  assert_string_equal(r[0], "b");
  assert_ptr_equal(rl__feeder_draw(f, 2, &rng, 0, r), r);
  assert_null(rl__feeder_draw(f, 4, &rng, 1, NULL));
  f->cycle = 1;
  assert_string_equal(rl__feeder_draw(f, 4, &rng, 1, NULL)[0], "a");
  /* random: any row, from the user's generator, never running out. */
  f->order = RL__FEEDER_RANDOM;
  f->cycle = 0;
  int seen[3] = {0};
  for (int i = 0; i < 300; i++)
    seen[rl__feeder_draw(f, 1, &rng, 0, r)[0][0] - 'a']++;
  assert_true(seen[0] && seen[1] && seen[2]);
  rl__feeder_del(f);
}

/* Threads drawing sequential rows at once: each row handed out once. */
typedef struct job {
  rl__feeder *f;
  int got[4000];
  int n;
} job;

static void *draw_many(void *arg) {
  job *j = arg;
  uint64_t rng = 1;
  const char *const *r;
  while ((r = rl__feeder_draw(j->f, 1, &rng, 0, NULL)) != NULL)
    j->got[j->n++] = atoi(r[0]);
  return NULL;
}

static void test_sequential_rows_across_threads(void **state) {
  (void)state;
  char *text = malloc(4000 * 8 + 8);
  assert_non_null(text);
  size_t n = (size_t)snprintf(text, 8, "i\n");
  for (int i = 0; i < 4000; i++)
    n += (size_t)snprintf(text + n, 8, "%d\n", i);
  rl__feeder *f = parse_ok(text, 0);
  free(text);
  static job jobs[4];
  pthread_t t[4];
  for (int i = 0; i < 4; i++) {
    jobs[i].f = f;
    jobs[i].n = 0;
    assert_int_equal(pthread_create(&t[i], NULL, draw_many, &jobs[i]), 0);
  }
  static int seen[4000];
  int total = 0;
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    for (int k = 0; k < jobs[i].n; k++)
      seen[jobs[i].got[k]]++;
    total += jobs[i].n;
  }
  assert_int_equal(total, 4000);
  for (int i = 0; i < 4000; i++)
    assert_int_equal(seen[i], 1);
  rl__feeder_del(f);
}

static void test_load_from_a_file(void **state) {
  (void)state;
  char path[] = "/tmp/rl-feeder-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  FILE *fp = fdopen(fd, "w");
  assert_non_null(fp);
  fputs("u,p\nx,y\n", fp);
  fclose(fp);
  rl__feeder *f = NULL;
  char err[256];
  assert_int_equal(rl__feeder_load(path, "users.csv", 0, &f, err, sizeof err),
                   0);
  assert_string_equal(f->name, "users.csv");
  assert_string_equal(cell(f, 0, "p"), "y");
  rl__feeder_del(f);
  remove(path);
  assert_int_equal(rl__feeder_load(path, "users.csv", 0, &f, err, sizeof err),
                   RL_ERR_INVAL);
  assert_string_equal(err, "cannot open: No such file or directory");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_csv),
      cmocka_unit_test(test_csv_errors),
      cmocka_unit_test(test_json_lines),
      cmocka_unit_test(test_draw_orders),
      cmocka_unit_test(test_sequential_rows_across_threads),
      cmocka_unit_test(test_load_from_a_file),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

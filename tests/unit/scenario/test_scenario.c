/* Scenario files: the structs a file becomes, and every error naming
 * file:line:col and what was expected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include <cmocka.h>

#include <rpcload/plugin.h>

#include "engine/checks.h"
#include "engine/wait.h"
#include "scenario/scenario.h"

/*
 * This test is linked with --wrap for malloc, calloc, realloc and strdup
 * (tests/CMakeLists.txt): each call from code linked into it (the core
 * library's scenario module, and what it calls there: templates, JSON
 * paths) comes through here, counted, so that test_out_of_memory can fail
 * the Nth one and check that every out-of-memory path frees what it built
 * (ASan's leak checker runs the unit tests). Shared libraries (libyaml,
 * jansson, the C library's regcomp) allocate uncounted: a failure there
 * has its own message (a jansson value that cannot be built reads as
 * "cannot compare"). Unlike replacing malloc itself (test_histogram.c),
 * this works under ASan.
 */
static long alloc_count, fail_at; /* fail_at 0: never fail */

static int alloc_fails(void) { return fail_at && ++alloc_count == fail_at; }

/* The names --wrap gives the real functions and their replacements. */
/* NOLINTBEGIN(bugprone-reserved-identifier) */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);

void *__wrap_malloc(size_t n) {
  return alloc_fails() ? NULL : __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t m) {
  return alloc_fails() ? NULL : __real_calloc(n, m);
}
void *__wrap_realloc(void *p, size_t n) {
  return alloc_fails() ? NULL : __real_realloc(p, n);
}
char *__wrap_strdup(const char *s) {
  return alloc_fails() ? NULL : __real_strdup(s);
}
/* NOLINTEND(bugprone-reserved-identifier) */

/* The example of issue #7, as written there. */
static const char issue_example[] =
    "host: http://127.0.0.1:8080\n"
    "users:\n"
    "  - name: WebUser\n"
    "    weight: 3\n"
    "    wait: {between: [1, 3]}\n"
    "    on_start:\n"
    "      - {http: POST /login, json: {user: \"u{{user_id}}\", pass: x}, "
    "capture: {token: $.token}}\n"
    "    tasks:\n"
    "      - weight: 1\n"
    "        tags: [browse]\n"
    "        steps:\n"
    "          - {http: \"GET /blog?id={{random_int 1 100}}\", name: "
    "\"/blog?id=[id]\",\n"
    "             headers: {authorization: \"Bearer {{token}}\"}}\n"
    "      - weight: 3\n"
    "        steps:\n"
    "          - {grpc: locust.hello.HelloService/SayHello, host: "
    "127.0.0.1:50051,\n"
    "             proto: hello.proto, data: {name: \"{{user_id}}\"},\n"
    "             expect: {body_contains: Hello, max_ms: 500}}\n"
    "  - name: AdminUser\n"
    "    fixed_count: 1\n"
    "    wait: {constant: 600}\n"
    "    tasks: [{steps: [{http: POST /restart}]}]\n";

static rl__scn *parse_ok(const char *text) {
  rl__scn *s = NULL;
  char err[512] = "";
  int rc =
      rl__scn_parse_string(text, strlen(text), "t.yaml", &s, err, sizeof err);
  if (rc)
    fail_msg("refused (%d): %s\n--- text:\n%s", rc, err, text);
  assert_non_null(s);
  return s;
}

/* Parses `text`, which must fail with an error that starts with `where`
 * ("t.yaml:3:5: ") and contains `words`. Returns 0, or 1 after printing
 * what went wrong. */
static int check_bad(const char *text, const char *where, const char *words) {
  rl__scn *s = (rl__scn *)&s; /* must come back NULL */
  char err[512] = "";
  int rc =
      rl__scn_parse_string(text, strlen(text), "t.yaml", &s, err, sizeof err);
  if (rc != RL_ERR_INVAL) {
    print_error("accepted (%d), expected '%s%s'\n--- text:\n%s\n", rc, where,
                words, text);
    if (rc == 0)
      rl__scn_del(s);
    return 1;
  }
  if (s != NULL) {
    print_error("*out not NULL after an error\n");
    return 1;
  }
  if (strncmp(err, where, strlen(where)) != 0 || !strstr(err, words)) {
    print_error("expected '%s ... %s'\n          got: %s\n--- text:\n%s\n",
                where, words, err, text);
    return 1;
  }
  return 0;
}

static void parse_bad(const char *text, const char *where, const char *words) {
  if (check_bad(text, where, words))
    fail();
}

static void assert_pos(rl__scn_pos p, int line, int col) {
  if (p.line != line || p.col != col)
    fail_msg("position %d:%d, expected %d:%d", p.line, p.col, line, col);
}

static void test_issue_example(void **state) {
  (void)state;
  rl__scn *s = parse_ok(issue_example);
  assert_string_equal(s->file, "t.yaml");
  assert_string_equal(s->host, "http://127.0.0.1:8080");
  assert_pos(s->host_pos, 1, 7);
  assert_int_equal(s->n_users, 2);

  const rl__scn_user *u = &s->users[0];
  assert_string_equal(u->name, "WebUser");
  assert_pos(u->pos, 3, 5);
  assert_pos(u->name_pos, 3, 11);
  assert_true(u->weight == 3);
  assert_false(u->has_fixed_count);
  assert_true(u->has_wait);
  assert_int_equal(u->wait.kind, RL__WAIT_BETWEEN);
  assert_int_equal(u->wait.a_ns, 1000000000ull);
  assert_int_equal(u->wait.b_ns, 3000000000ull);
  assert_null(u->host);
  assert_false(u->sequential);

  assert_int_equal(u->n_on_start, 1);
  const rl__scn_step *st = &u->on_start[0];
  assert_string_equal(st->protocol, "http");
  assert_pos(st->protocol_pos, 7, 10);
  assert_string_equal(st->spec, "POST /login");
  assert_int_equal(st->body_kind, RL__SCN_BODY_JSON);
  assert_string_equal(st->body, "{\"user\":\"u{{user_id}}\",\"pass\":\"x\"}");
  assert_int_equal(st->n_captures, 1);
  assert_string_equal(st->captures[0].var, "token");
  assert_int_equal(st->captures[0].kind, RL__CAPTURE_JSON);
  assert_string_equal(st->captures[0].arg, "$.token");
  assert_non_null(st->captures[0].path);
  assert_int_equal(u->n_on_stop, 0);

  assert_int_equal(u->n_tasks, 2);
  const rl__scn_task *t = &u->tasks[0];
  assert_true(t->weight == 1);
  assert_int_equal(t->n_tags, 1);
  assert_string_equal(t->tags[0], "browse");
  assert_null(t->name);
  assert_int_equal(t->n_steps, 1);
  st = &t->steps[0];
  assert_string_equal(st->spec, "GET /blog?id={{random_int 1 100}}");
  assert_string_equal(st->name, "/blog?id=[id]");
  assert_int_equal(st->n_headers, 1);
  assert_string_equal(st->headers[0].key, "authorization");
  assert_string_equal(st->headers[0].value, "Bearer {{token}}");
  assert_int_equal(st->body_kind, RL__SCN_BODY_NONE);
  assert_null(st->body);

  t = &u->tasks[1];
  assert_true(t->weight == 3);
  assert_int_equal(t->n_tags, 0);
  st = &t->steps[0];
  assert_string_equal(st->protocol, "grpc");
  assert_string_equal(st->spec, "locust.hello.HelloService/SayHello");
  assert_string_equal(st->host, "127.0.0.1:50051");
  /* proto: is the grpc plugin's own key, checked when compiled. */
  assert_int_equal(st->n_own, 1);
  assert_string_equal(st->own[0].key, "proto");
  assert_int_equal(st->own[0].shape, RL__SCN_OWN_SCALAR);
  assert_string_equal(st->own[0].items[0].value, "hello.proto");
  assert_int_equal(st->body_kind, RL__SCN_BODY_DATA);
  assert_string_equal(st->body, "{\"name\":\"{{user_id}}\"}");
  assert_string_equal(st->expect.body_contains, "Hello");
  assert_true(st->expect.has_max_ms && st->expect.max_ms == 500);
  assert_false(st->expect.has_status);
  assert_pos(st->expect_pos, 18, 22);

  u = &s->users[1];
  assert_string_equal(u->name, "AdminUser");
  assert_true(u->has_fixed_count);
  assert_int_equal(u->fixed_count, 1);
  assert_int_equal(u->wait.kind, RL__WAIT_CONSTANT);
  assert_int_equal(u->wait.a_ns, 600000000000ull);
  assert_int_equal(u->n_tasks, 1);
  assert_true(u->tasks[0].weight == 1);
  assert_string_equal(u->tasks[0].steps[0].spec, "POST /restart");

  /* Every protocol key, in file order, for the caller to check. */
  assert_int_equal(s->n_protocols, 4);
  static const char *const names[] = {"http", "http", "grpc", "http"};
  static const int lines[] = {7, 12, 16, 22};
  for (size_t i = 0; i < 4; i++) {
    assert_string_equal(s->protocols[i].name, names[i]);
    assert_int_equal(s->protocols[i].pos.line, lines[i]);
  }
  /* The caller's own error, placed in the file. */
  char err[256];
  assert_int_equal(rl__scn_errorf(s, s->protocols[2].pos, err, sizeof err,
                                  "unknown protocol '%s' (plugins: %s)",
                                  s->protocols[2].name, "http1, http2"),
                   RL_ERR_INVAL);
  assert_string_equal(err, "t.yaml:16:14: unknown protocol 'grpc' (plugins: "
                           "http1, http2)");
  rl__scn_errorf(s, (rl__scn_pos){0, 0}, err, sizeof err, "no place");
  assert_string_equal(err, "t.yaml: no place");
  rl__scn_del(s);
}

static void test_yaml_to_json(void **state) {
  (void)state;
  rl__scn *s = parse_ok(
      "users:\n"
      "  - name: U\n"
      "    tasks:\n"
      "      - steps:\n"
      "          - http: POST /\n"
      "            json:\n"
      "              i: 1\n"
      "              f: 1.50\n"
      "              neg: -2\n"
      "              e: 1e3\n"
      "              t: true\n"
      "              F: False\n"
      "              n: null\n"
      "              tilde: ~\n"
      "              empty:\n"
      "              s: \"1\"\n"
      "              q: 'true'\n"
      "              str: abc\n"
      "              lead0: 007\n"
      "              plus: +1\n"
      "              yes: yes\n"
      "              inf: .inf\n"
      "              list: [1, \"a\", [], {}]\n"
      "              nested: {x: [{y: null}]}\n"
      "              esc: \"tab\\there \\\"q\\\" back\\\\slash\\u0001\"\n"
      "              block: |\n"
      "                two\n"
      "                lines\n"
      "          - http: POST /\n"
      "            json: [1, two]\n"
      "          - http: POST /\n"
      "            json: just text\n"
      "          - grpc: a.B/C\n"
      "            data: '{\"raw\": {{seq}}}'\n");
  const rl__scn_task *t = &s->users[0].tasks[0];
  assert_string_equal(
      t->steps[0].body,
      "{\"i\":1,\"f\":1.50,\"neg\":-2,\"e\":1e3,\"t\":true,\"F\":false,"
      "\"n\":null,\"tilde\":null,\"empty\":null,\"s\":\"1\",\"q\":\"true\","
      "\"str\":\"abc\",\"lead0\":\"007\",\"plus\":\"+1\",\"yes\":\"yes\","
      "\"inf\":\".inf\",\"list\":[1,\"a\",[],{}],\"nested\":{\"x\":[{\"y\":"
      "null}]},\"esc\":\"tab\\there \\\"q\\\" back\\\\slash\\u0001\","
      "\"block\":\"two\\nlines\\n\"}");
  assert_string_equal(t->steps[1].body, "[1,\"two\"]");
  assert_string_equal(t->steps[2].body, "\"just text\"");
  /* data as a string is kept as written (templates may make it JSON). */
  assert_int_equal(t->steps[3].body_kind, RL__SCN_BODY_DATA);
  assert_string_equal(t->steps[3].body, "{\"raw\": {{seq}}}");
  /* What we emit is JSON. */
  json_error_t jerr;
  json_t *j = json_loads(t->steps[0].body, 0, &jerr);
  if (!j)
    fail_msg("not JSON: %s", jerr.text);
  json_decref(j);
  rl__scn_del(s);
}

/* A value that is exactly one template of a numeric function is a JSON
 * number (issue #14: {{random_int 1 100}} in json: gave a string); any
 * other template text stays a string; !!int / !!float make a number of
 * any template, !!str a string of any. */
static void test_templates_as_json_numbers(void **state) {
  (void)state;
  rl__scn *s = parse_ok(
      "users:\n"
      "  - name: U\n"
      "    on_start: [{http: POST /login, capture: {cart: $.id}}]\n"
      "    tasks:\n"
      "      - steps:\n"
      "          - http: POST /\n"
      "            json:\n"
      "              n: '{{random_int 1 100}}'\n"
      "              u: \"{{ user_id }}\"\n"
      "              seq: '{{seq}}'\n"
      "              ms: '{{timestamp_ms}}'\n"
      "              text: 'id-{{user_id}}'\n"
      "              two: '{{user_id}}{{seq}}'\n"
      "              uuid: '{{uuid}}'\n"
      "              var: '{{cart}}'\n"
      "              asint: !!int '{{cart}}'\n"
      "              asfloat: !!float '{{cart}}'\n"
      "              kept: !!str '{{user_id}}'\n"
      "              anchored: &a !!str '{{seq}}'\n"
      "              list: ['{{random_int 1 2}}', '{{uuid}}']\n"
      "          - grpc: a.B/C\n"
      "            data: {count: '{{random_int 1 9}}', id: '{{user_id}}',\n"
      "                   n: !!int '{{user_id}}'}\n");
  const rl__scn_task *t = &s->users[0].tasks[0];
  assert_string_equal(
      t->steps[0].body,
      "{\"n\":{{random_int 1 100}},\"u\":{{ user_id }},\"seq\":{{seq}},"
      "\"ms\":{{timestamp_ms}},\"text\":\"id-{{user_id}}\","
      "\"two\":\"{{user_id}}{{seq}}\",\"uuid\":\"{{uuid}}\","
      "\"var\":\"{{cart|json}}\",\"asint\":{{cart}},\"asfloat\":{{cart}},"
      "\"kept\":\"{{user_id}}\",\"anchored\":\"{{seq}}\","
      "\"list\":[{{random_int 1 2}},\"{{uuid}}\"]}");
  /* data: is typed by the .proto (a number field takes a string of
   * digits, a string field no number): strings, unless tagged. */
  assert_string_equal(t->steps[1].body,
                      "{\"count\":\"{{random_int 1 9}}\","
                      "\"id\":\"{{user_id}}\",\"n\":{{user_id}}}");
  rl__scn_del(s);
}

static void test_step_fields(void **state) {
  (void)state;
  rl__scn *s = parse_ok("host: https://api.local\n"
                        "users:\n"
                        "  - name: U\n"
                        "    host: https://other\n"
                        "    sequential: true\n"
                        "    tasks:\n"
                        "      - name: t1\n"
                        "        weight: 0.5\n"
                        "        tags: solo\n"
                        "        steps:\n"
                        "          - redis: GET key:{{random_int 1 9}}\n"
                        "            options: {db: 2, pipeline: on}\n"
                        "            timeout: 250ms\n"
                        "          - grpc: pkg.Svc/M\n"
                        "            protoset: api.protoset\n"
                        "            import_path: [a, b]\n"
                        "            metadata: {x-n: 5, x-e: }\n"
                        "            call: M\n"
                        "            timeout: 2\n"
                        "          - udp:\n"
                        "            body: ping {{seq}}\n"
                        "            import_path: one\n"
                        "            headers: {b: 2, a: 1}\n");
  const rl__scn_user *u = &s->users[0];
  assert_string_equal(u->host, "https://other");
  assert_true(u->sequential);
  assert_false(u->has_wait);
  assert_int_equal(u->wait.kind, RL__WAIT_NONE);
  const rl__scn_task *t = &u->tasks[0];
  assert_string_equal(t->name, "t1");
  assert_true(t->weight == 0.5);
  assert_int_equal(t->n_tags, 1);
  assert_string_equal(t->tags[0], "solo");
  const rl__scn_step *st = &t->steps[0];
  assert_string_equal(st->protocol, "redis");
  assert_string_equal(st->spec, "GET key:{{random_int 1 9}}");
  assert_int_equal(st->n_options, 2);
  assert_string_equal(st->options[0].key, "db");
  assert_string_equal(st->options[0].value, "2");
  assert_string_equal(st->options[1].value, "on");
  assert_int_equal(st->timeout_ns, 250000000ull);
  st = &t->steps[1];
  /* The protocol's own keys, in order, with their shapes. */
  assert_int_equal(st->n_own, 3);
  assert_string_equal(st->own[0].key, "protoset");
  assert_int_equal(st->own[0].shape, RL__SCN_OWN_SCALAR);
  assert_string_equal(st->own[0].items[0].value, "api.protoset");
  assert_string_equal(st->own[1].key, "import_path");
  assert_int_equal(st->own[1].shape, RL__SCN_OWN_LIST);
  assert_int_equal(st->own[1].n_items, 2);
  assert_string_equal(st->own[1].items[1].value, "b");
  assert_string_equal(st->own[2].key, "metadata");
  assert_int_equal(st->own[2].shape, RL__SCN_OWN_MAP);
  assert_int_equal(st->own[2].n_items, 2);
  assert_string_equal(st->own[2].items[0].key, "x-n");
  assert_string_equal(st->own[2].items[0].value, "5");
  assert_string_equal(st->own[2].items[1].value, "");
  assert_pos(st->own[2].pos, 17, 13);
  assert_string_equal(st->call, "M");
  assert_int_equal(st->timeout_ns, 2000000000ull);
  st = &t->steps[2];
  assert_string_equal(st->protocol, "udp");
  assert_string_equal(st->spec, "");
  assert_int_equal(st->body_kind, RL__SCN_BODY_TEXT);
  assert_string_equal(st->body, "ping {{seq}}");
  assert_int_equal(st->n_own, 1);
  assert_string_equal(st->own[0].key, "import_path");
  /* Headers keep the file's order. */
  assert_string_equal(st->headers[0].key, "b");
  assert_string_equal(st->headers[1].key, "a");
  rl__scn_del(s);
}

static void test_waits_and_settings(void **state) {
  (void)state;
  rl__scn *s = parse_ok(
      "settings:\n"
      "  users: 10\n"
      "  spawn_rate: 2.5\n"
      "  run_time: 1m30s\n"
      "  wait: {constant_pacing: 3}\n"
      "users:\n"
      "  - {name: A, tasks: [{steps: [{http: GET /}]}]}\n"
      "  - {name: B, wait: 'between:1,2', tasks: [{steps: [{http: GET /}]}]}\n"
      "  - {name: C, wait: {constant_throughput: 4},\n"
      "     tasks: [{steps: [{http: GET /}]}]}\n"
      "  - {name: D, wait: none, tasks: [{steps: [{http: GET /}]}]}\n"
      "  - {name: E, wait: {constant: 0.25}, fixed_count: 2,\n"
      "     tasks: [{steps: [{http: GET /}]}]}\n"
      "  - {name: F, wait: {schedule: 0.5}, tasks: [{steps: [{http: GET "
      "/}]}]}\n"
      "  - {name: G, wait: {exponential: 2},\n"
      "     tasks: [{steps: [{http: GET /}]}]}\n"
      "  - {name: H, wait: {sequence: [1, 0.5, 0]},\n"
      "     tasks: [{steps: [{http: GET /}]}]}\n");
  const rl__scn_settings *st = &s->settings;
  assert_true(st->has_users && st->users == 10);
  assert_true(st->has_spawn_rate && st->spawn_rate == 2.5);
  assert_true(st->has_run_time && st->run_time_ns == 90000000000ull);
  assert_true(st->has_wait && st->wait.kind == RL__WAIT_PACING &&
              st->wait.a_ns == 3000000000ull);
  assert_pos(st->users_pos, 2, 10);
  /* A takes the default wait; the others their own. */
  assert_false(s->users[0].has_wait);
  assert_int_equal(s->users[0].wait.kind, RL__WAIT_PACING);
  assert_int_equal(s->users[0].wait.a_ns, 3000000000ull);
  assert_int_equal(s->users[1].wait.kind, RL__WAIT_BETWEEN);
  assert_int_equal(s->users[1].wait.b_ns, 2000000000ull);
  assert_int_equal(s->users[2].wait.kind, RL__WAIT_PACING);
  assert_int_equal(s->users[2].wait.a_ns, 250000000ull);
  assert_true(s->users[3].has_wait);
  assert_int_equal(s->users[3].wait.kind, RL__WAIT_NONE);
  assert_int_equal(s->users[4].wait.kind, RL__WAIT_CONSTANT);
  assert_int_equal(s->users[4].wait.a_ns, 250000000ull);
  assert_true(s->users[4].has_fixed_count);
  assert_int_equal(s->users[4].fixed_count, 2);
  assert_int_equal(s->users[5].wait.kind, RL__WAIT_SCHEDULE);
  assert_int_equal(s->users[5].wait.a_ns, 500000000ull);
  assert_int_equal(s->users[6].wait.kind, RL__WAIT_EXPONENTIAL);
  assert_int_equal(s->users[6].wait.a_ns, 2000000000ull);
  assert_int_equal(s->users[7].wait.kind, RL__WAIT_SEQUENCE);
  assert_int_equal(s->users[7].wait.n, 3);
  assert_int_equal(s->users[7].wait.seq_ns[0], 1000000000ull);
  assert_int_equal(s->users[7].wait.seq_ns[1], 500000000ull);
  assert_int_equal(s->users[7].wait.seq_ns[2], 0);
  rl__scn_del(s);
}

static void test_expect_and_capture(void **state) {
  (void)state;
  rl__scn *s =
      parse_ok("users:\n"
               "  - name: U\n"
               "    tasks:\n"
               "      - steps:\n"
               "          - http: GET /\n"
               "            expect:\n"
               "              status: 201\n"
               "              body_matches: '^ok [0-9]+$'\n"
               "              grpc_status: not_found\n"
               "              json:\n"
               "                - {path: $.ok}\n"
               "                - {path: $.n, equals: 1}\n"
               "                - {path: $.tags, contains: b}\n"
               "                - {path: $.name, matches: '^a.c$'}\n"
               "            capture:\n"
               "              tok: $.token\n"
               "              rid: 'header: x-request-id'\n"
               "              num: 'regex:id=([0-9]+)'\n"
               "          - grpc: a.B/C\n"
               "            expect:\n"
               "              grpc_status: 14\n"
               "              json: {$.a: [1, 2], $.o: {equals: {k: v}}, \n"
               "                     $.s: {contains: ell}}\n");
  const rl__scn_step *st = &s->users[0].tasks[0].steps[0];
  const rl__expect *x = &st->expect;
  assert_true(x->has_status && rl__status_set_has(&x->status, 201) &&
              !rl__status_set_has(&x->status, 200));
  assert_string_equal(x->status_text, "201");
  assert_string_equal(x->body_matches, "^ok [0-9]+$");
  assert_non_null(x->body_re);
  /* A named status is kept as written: the names are its plugin's. */
  assert_string_equal(x->status_name, "not_found");
  assert_int_equal(x->n_json, 4);
  assert_int_equal(x->json[0].op, RL__JSON_EXISTS);
  assert_int_equal(x->json[1].op, RL__JSON_EQUALS);
  assert_int_equal(x->json[2].op, RL__JSON_CONTAINS);
  assert_int_equal(x->json[3].op, RL__JSON_MATCHES);
  assert_int_equal(st->n_captures, 3);
  assert_int_equal(st->captures[1].kind, RL__CAPTURE_HEADER);
  assert_string_equal(st->captures[1].arg, "x-request-id");
  assert_int_equal(st->captures[2].kind, RL__CAPTURE_REGEX);
  assert_string_equal(st->captures[2].arg, "id=([0-9]+)");
  assert_non_null(st->captures[2].re);

  json_error_t jerr;
  json_t *doc = json_loads("{\"ok\":false,\"n\":1.0,\"tags\":[\"a\",\"b\"],"
                           "\"name\":\"abc\",\"a\":[1,2],\"o\":{\"k\":\"v\"},"
                           "\"s\":\"hello\"}",
                           0, &jerr);
  assert_non_null(doc);
  char why[256];
  for (size_t i = 0; i < 4; i++)
    if (!rl__json_expect_check(&x->json[i], doc, NULL, why, sizeof why))
      fail_msg("json[%zu]: %s", i, why);
  const rl__expect *x2 = &s->users[0].tasks[0].steps[1].expect;
  assert_string_equal(x2->status_name, "14");
  assert_int_equal(x2->n_json, 3);
  for (size_t i = 0; i < 3; i++)
    if (!rl__json_expect_check(&x2->json[i], doc, NULL, why, sizeof why))
      fail_msg("json[%zu]: %s", i, why);
  json_decref(doc);

  /* And the reasons when they do not hold. */
  doc = json_loads("{\"n\":2,\"tags\":[\"a\"],\"name\":\"abd\"}", 0, &jerr);
  assert_non_null(doc);
  assert_false(rl__json_expect_check(&x->json[0], doc, NULL, why, sizeof why));
  assert_string_equal(why, "$.ok: not found");
  assert_false(rl__json_expect_check(&x->json[1], doc, NULL, why, sizeof why));
  assert_string_equal(why, "$.n is 2, expected 1");
  assert_false(rl__json_expect_check(&x->json[2], doc, NULL, why, sizeof why));
  assert_string_equal(why, "$.tags is [\"a\"], which does not contain \"b\"");
  assert_false(rl__json_expect_check(&x->json[3], doc, NULL, why, sizeof why));
  assert_string_equal(why, "$.name is \"abd\", which does not match /^a.c$/");
  json_decref(doc);
  rl__scn_del(s);
}

/* status as a list and as classes, the failure message, and expected
 * values that are templates. */
static void test_expect_statuses_messages_templates(void **state) {
  (void)state;
  rl__scn *s = parse_ok(
      "users:\n"
      "  - name: U\n"
      "    on_start: [{http: POST /login, capture: {tok: $.t, id: $.id}}]\n"
      "    tasks:\n"
      "      - steps:\n"
      "          - {http: GET /a, expect: {status: [200, 404]}}\n"
      "          - {http: GET /b, expect: {status: 2xx, message: 'no b'}}\n"
      "          - {http: GET /c, expect: {status: [3XX, 201],\n"
      "             body_contains: 'tok={{tok}}',\n"
      "             json: {$.id: '{{id}}', $.n: {contains: 'u{{id}}'},\n"
      "                    $.lit: 'x'}}}\n");
  const rl__scn_step *st = s->users[0].tasks[0].steps;
  const rl__expect *a = &st[0].expect, *b = &st[1].expect, *c = &st[2].expect;
  assert_true(rl__status_set_has(&a->status, 200));
  assert_true(rl__status_set_has(&a->status, 404));
  assert_false(rl__status_set_has(&a->status, 201));
  assert_string_equal(a->status_text, "200 or 404");
  assert_null(a->message);
  for (int code = 100; code < 600; code++)
    assert_int_equal(rl__status_set_has(&b->status, code),
                     code >= 200 && code < 300);
  assert_string_equal(b->status_text, "2xx");
  assert_string_equal(b->message, "no b");
  assert_true(rl__status_set_has(&c->status, 307));
  assert_true(rl__status_set_has(&c->status, 201));
  assert_false(rl__status_set_has(&c->status, 200));
  assert_string_equal(c->status_text, "3xx or 201");
  /* Templates are kept as written; the plan compiles them. */
  assert_string_equal(c->body_contains, "tok={{tok}}");
  assert_string_equal(json_string_value(c->json[0].value), "{{id}}");
  assert_string_equal(json_string_value(c->json[1].value), "u{{id}}");
  rl__scn_del(s);
}

/* sleep and repeat steps, on_failure and stop_user, empty tasks, and the
 * top-level tasks: library used by several classes. */
static void test_flow_steps_and_library(void **state) {
  (void)state;
  rl__scn *s = parse_ok(
      "tasks:\n"
      "  browse:\n"
      "    weight: 2\n"
      "    tags: [web]\n"
      "    steps:\n"
      "      - {http: 'GET /item?t={{tok}}', on_failure: stop_task}\n"
      "      - {sleep: 1.5}\n"
      "  idle: {steps: []}\n"
      "users:\n"
      "  - name: A\n"
      "    on_start: [{http: POST /login, capture: {tok: $.t}}]\n"
      "    tasks:\n"
      "      - browse\n"
      "      - {use: idle, weight: 5, tags: quiet, name: nothing}\n"
      "      - steps:\n"
      "          - repeat: 3\n"
      "            steps:\n"
      "              - {http: 'GET /n/{{i}}', name: '/n/[i]'}\n"
      "              - repeat: 2\n"
      "                steps: [{http: 'GET /m/{{i}}', capture: {m: $.m}}]\n"
      "              - {http: 'GET /after/{{m}}'}\n"
      "          - {sleep: 250ms, stop_user: true}\n"
      "      - {steps: }\n"
      "  - name: B\n"
      "    on_start: [{http: POST /login, capture: {tok: $.t}}]\n"
      "    tasks: [{use: browse}]\n");
  assert_int_equal(s->n_library, 2);
  assert_string_equal(s->library[0].name, "browse");
  assert_string_equal(s->library[1].name, "idle");
  const rl__scn_user *a = &s->users[0];
  assert_int_equal(a->n_tasks, 4);
  /* A library task: its name, weight, tags and steps, with defaults. */
  const rl__scn_task *t = &a->tasks[0];
  assert_string_equal(t->name, "browse");
  assert_true(t->weight == 2);
  assert_int_equal(t->n_tags, 1);
  assert_int_equal(t->n_steps, 2);
  assert_int_equal(t->steps[0].kind, RL__SCN_STEP_REQUEST);
  assert_int_equal(t->steps[0].on_failure, 1); /* stop_task */
  assert_int_equal(t->steps[1].kind, RL__SCN_STEP_SLEEP);
  assert_int_equal(t->steps[1].sleep_ns, 1500000000ull);
  /* ... or with its own. An empty task is a task. */
  t = &a->tasks[1];
  assert_string_equal(t->name, "nothing");
  assert_true(t->weight == 5);
  assert_string_equal(t->tags[0], "quiet");
  assert_int_equal(t->n_steps, 0);
  t = &a->tasks[2];
  assert_int_equal(t->n_steps, 2);
  const rl__scn_step *r = &t->steps[0];
  assert_int_equal(r->kind, RL__SCN_STEP_REPEAT);
  assert_int_equal(r->repeat, 3);
  assert_int_equal(r->n_steps, 3);
  assert_int_equal(r->steps[0].on_failure, -1);
  assert_int_equal(r->steps[1].kind, RL__SCN_STEP_REPEAT);
  assert_int_equal(r->steps[1].steps[0].n_captures, 1);
  assert_true(t->steps[1].stop_user);
  assert_int_equal(a->tasks[3].n_steps, 0);
  /* B uses the same task, read again in its own scope. */
  assert_string_equal(s->users[1].tasks[0].name, "browse");
  assert_ptr_not_equal(s->users[1].tasks[0].steps, a->tasks[0].steps);
  rl__scn_del(s);
  /* The library's templates are checked where a class uses them: B has
   * no tok. */
  parse_bad("tasks:\n"
            "  browse: {steps: [{http: 'GET /{{tok}}'}]}\n"
            "users:\n"
            "  - {name: B, tasks: [browse]}\n",
            "t.yaml:2:33: ", "variable 'tok' is never set");
}

/* A data file's columns, checked where templates name them; the file
 * read at load, its mistakes with its own line. */
static void test_data_files(void **state) {
  (void)state;
  char path[] = "/tmp/rl-scn-data-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  FILE *fp = fdopen(fd, "w");
  assert_non_null(fp);
  fputs("email,password\nann@x.io,\"a\"\"b\"\n", fp);
  fclose(fp);
  char text[1024];
  snprintf(text, sizeof text,
           "data: {file: %s}\n"
           "users:\n"
           "  - name: A\n"
           "    on_start: [{http: POST /login, json: {u: '{{data.email}}'}}]\n"
           "    tasks: [{steps: [{http: 'GET /{{data.password}}'}]}]\n"
           "  - name: B\n"
           "    data: {file: %s, order: per_user, cycle: false, format: csv}\n"
           "    tasks: [{steps: [{http: GET /}]}]\n",
           path, path);
  rl__scn *s = parse_ok(text);
  assert_non_null(s->data);
  assert_int_equal(s->data->order, RL__FEEDER_SEQUENTIAL);
  assert_true(s->data->cycle);
  assert_int_equal(s->data->n_rows, 1);
  assert_null(s->users[0].data);
  assert_int_equal(s->users[1].data->order, RL__FEEDER_PER_USER);
  assert_false(s->users[1].data->cycle);
  /* In json: a column's template is escaped for the JSON string. */
  assert_string_equal(s->users[0].on_start[0].body,
                      "{\"u\":\"{{data.email|json}}\"}");
  rl__scn_del(s);

  snprintf(text, sizeof text,
           "data: {file: %s}\nusers:\n  - name: A\n"
           "    tasks: [{steps: [{http: 'GET /{{data.mail}}'}]}]\n",
           path);
  parse_bad(text, "t.yaml:4:35: ",
            "no column 'mail' in "); /* the file's name as written */
  parse_bad("users:\n  - name: A\n"
            "    tasks: [{steps: [{http: 'GET /{{data.mail}}'}]}]\n",
            "t.yaml:3:35: ",
            "{{data.mail}} reads a data file: give one with data: {file: "
            "...} in the user class or at the top");
  parse_bad("data: {file: /nonexistent/u.csv}\nusers: []\n", "t.yaml:1:14: ",
            "data file /nonexistent/u.csv: cannot open: No such file or "
            "directory");
  snprintf(text, sizeof text, "data: {file: %s, order: shuffled}\nusers: []\n",
           path);
  parse_bad(text, "t.yaml:1:",
            "expected sequential, random or per_user for "
            "'order', got 'shuffled'");
  parse_bad("data: {order: random}\nusers: []\n",
            "t.yaml:1:7: ", "data is missing 'file'");
  fp = fopen(path, "w");
  assert_non_null(fp);
  fputs("email\na\nb,c\n", fp);
  fclose(fp);
  snprintf(text, sizeof text, "data: {file: %s}\nusers: []\n", path);
  parse_bad(text,
            "t.yaml:1:14: ", ":3: 2 fields, but the header names 1 column");
  remove(path);
}

static void test_variable_scopes(void **state) {
  (void)state;
  /* on_start's captures hold in every task and in on_stop; a task's
   * earlier steps' in its later steps. */
  rl__scn *s = parse_ok(
      "users:\n"
      "  - name: U\n"
      "    on_start:\n"
      "      - {http: POST /login, capture: {token: $.t}}\n"
      "      - {http: 'GET /me?t={{token}}', capture: {me: $.id}}\n"
      "    tasks:\n"
      "      - steps:\n"
      "          - {http: 'GET /a/{{me}}', capture: {a: 'header:x-a'}}\n"
      "          - {http: GET /b, headers: {x: '{{a}}{{token}}'}}\n"
      "      - steps:\n"
      "          - {http: GET /c, json: {'{{token}}': ['{{me}}']}}\n"
      "    on_stop:\n"
      "      - {http: 'POST /logout/{{token}}', capture: {bye: $.x}}\n"
      "      - {http: 'GET /{{bye}}'}\n");
  rl__scn_del(s);
  /* Sequential: earlier tasks have run before a later one. */
  s = parse_ok("users:\n"
               "  - name: U\n"
               "    sequential: yes\n"
               "    tasks:\n"
               "      - steps: [{http: GET /a, capture: {x: $.x}}]\n"
               "      - steps: [{http: 'GET /b/{{x}}'}]\n");
  rl__scn_del(s);

  /* Not in weighted tasks: task 2 may run first. */
  parse_bad("users:\n"
            "  - name: U\n"
            "    tasks:\n"
            "      - steps: [{http: GET /a, capture: {x: $.x}}]\n"
            "      - steps: [{http: 'GET /b/{{x}}'}]\n",
            "t.yaml:5:32: ",
            "variable 'x' is never set (capture it in on_start or an "
            "earlier step)");
  /* A task's captures do not reach on_stop. */
  parse_bad("users:\n"
            "  - name: U\n"
            "    tasks:\n"
            "      - steps: [{http: GET /a, capture: {x: $.x}}]\n"
            "    on_stop: [{http: GET /, headers: {h: '{{x}}'}}]\n",
            "t.yaml:5:43: ", "variable 'x' is never set");
  /* A step cannot use what it captures itself. */
  parse_bad("users:\n"
            "  - name: U\n"
            "    tasks:\n"
            "      - steps: [{http: 'GET /{{x}}', capture: {x: $.x}}]\n",
            "t.yaml:4:30: ", "variable 'x' is never set");
  /* Nor can on_start use a later on_start step's. */
  parse_bad("users:\n"
            "  - name: U\n"
            "    on_start:\n"
            "      - {http: GET /, json: {a: \"{{y}}\"}}\n"
            "      - {http: GET /, capture: {y: $.y}}\n"
            "    tasks: [{steps: [{http: GET /}]}]\n",
            "t.yaml:4:34: ", "variable 'y' is never set");
  /* Another class's captures are not this user's. */
  parse_bad("users:\n"
            "  - name: A\n"
            "    on_start: [{http: GET /, capture: {t: $.t}}]\n"
            "    tasks: [{steps: [{http: GET /}]}]\n"
            "  - name: B\n"
            "    tasks: [{steps: [{grpc: a/b, data: {x: \"{{t}}\"}}]}]\n",
            "t.yaml:6:45: ", "variable 't' is never set");
}

/* Every kind of mistake: where it is reported and what it says. */
static void test_errors(void **state) {
  (void)state;
  static const struct {
    const char *text, *where, *words;
  } bad[] = {
      /* a capture keeps one value; a stream's messages are a list */
      {"users:\n  - name: U\n    tasks:\n      - steps:\n          - http: GET "
       "/\n            capture: {x: '$.m[*].id'}\n",
       "t.yaml:6:26: ", "a capture keeps one value: '$.m[*].id' has [*]"},
      {"users:\n  - name: U\n    tasks:\n      - steps:\n          - http: GET "
       "/\n            messages: {a: 1}\n",
       "t.yaml:6:23: ", "expected a list of messages"},
      {"shape: {spike: {base: 1}}\nusers: []\n",
       "t.yaml:1:16: ", "missing 'peak'"},
      /* unknown keys, with the expected ones */
      {"hots: x\nusers: []\n", "t.yaml:1:1: ",
       "unknown key 'hots' in the scenario (did you mean 'host'? expected: "
       "host, settings, shape, data, tasks, users)"},
      {"users:\n  - name: U\n    waits: 1\n", "t.yaml:3:5: ",
       "unknown key 'waits' in user class (did you mean 'wait'? expected: "
       "name, weight, fixed_count, wait, host, on_start, on_stop, tasks, "
       "sequential, data)"},
      {"users:\n  - name: U\n    tasks: [{http: GET /}]\n", "t.yaml:3:14: ",
       "unknown key 'http' in task (expected: name, weight, tags, steps); a "
       "task's requests go in its 'steps' list"},
      {"users:\n  - name: U\n    tasks: [{steps: [{http: GET /, "
       "expect: {staus: 200}}]}]\n",
       "t.yaml:3:45: ",
       "unknown key 'staus' in expect (did you mean 'status'?"},
      {"settings: {user: 3}\nusers: []\n", "t.yaml:1:12: ",
       "unknown key 'user' in settings (did you mean 'users'?"},
      /* a misspelt common key before the protocol key (after it, it is
       * taken as the protocol's own and checked when compiled) */
      {"users:\n  - name: U\n    tasks: [{steps: [{headrs: {a: b}, http: "
       "GET /}]}]\n",
       "t.yaml:3:23: ",
       "unknown key 'headrs' in step (did you mean 'headers'?"},
      /* wrong types */
      {"users:\n  - name: U\n    weight: abc\n",
       "t.yaml:3:13: ", "expected a number for 'weight', got 'abc'"},
      {"users:\n  - name: U\n    fixed_count: 1.5\n", "t.yaml:3:18: ",
       "expected a whole number from 1 to 1000000000 for 'fixed_count', got "
       "'1.5'"},
      {"users:\n  - name: U\n    fixed_count: 0\n", "t.yaml:3:18: ",
       "'fixed_count: 0' would start no user of this class: give 1 or more, "
       "or leave the key out for a weighted class (Locust's fixed_count = 0 "
       "means no fixed count)"},
      {"users:\n  - name: U\n    sequential: maybe\n",
       "t.yaml:3:17: ", "expected true or false for 'sequential', got 'maybe'"},
      {"users:\n  - name: [U]\n",
       "t.yaml:2:11: ", "expected a string for 'name', got a list"},
      {"users:\n  - name: U\n    tasks: {steps: []}\n",
       "t.yaml:3:12: ", "expected a list of tasks for 'tasks', got a mapping"},
      {"users:\n  - name: U\n    tasks: [{steps: [{http: GET /, "
       "headers: [a]}]}]\n",
       "t.yaml:3:45: ", "expected a mapping (name: value) for 'headers'"},
      {"users:\n  - name: U\n    tasks: [{steps: [{http: GET /, "
       "headers: {a: [b]}}]}]\n",
       "t.yaml:3:49: ", "expected a string for 'a', got a list"},
      {"users: 10\n", "t.yaml:1:8: ",
       "expected a list of user classes for 'users', got '10' (the number "
       "of users goes in settings: {users: N})"},
      {"- a\n- b\n", "t.yaml:1:1: ", "expected a mapping at the top"},
      {"users:\n  - name: U\n    tasks: [{steps: [{http: GET /, "
       "timeout: soon}]}]\n",
       "t.yaml:3:45: ", "expected a duration"},
      {"users:\n  - name: U\n    tasks: [{steps: [{http: GET /, "
       "timeout: 0}]}]\n",
       "t.yaml:3:45: ", "'timeout' must be more than 0"},
      {"users:\n  - name: U\n    tasks: [{weight: 0, steps: [{http: GET /}]}]"
       "\n",
       "t.yaml:3:22: ", "a task's 'weight' must be more than 0"},
      {"users:\n  - name: U\n    tasks: [{tags: [a, ''], steps: [{http: GET "
       "/}]}]\n",
       "t.yaml:3:20: ", "a tag cannot be empty"},
      {"settings: {users: many}\nusers: []\n", "t.yaml:1:19: ",
       "expected a whole number from 1 to 10000000 for 'users', got 'many'"},
      {"settings: {run_time: forever}\nusers: []\n", "t.yaml:1:22: ",
       "expected a duration (seconds, or e.g. 500ms, 30s, 1h30m) for "
       "'run_time', got 'forever'"},
      {"settings: {spawn_rate: 0}\nusers: []\n",
       "t.yaml:1:24: ", "'spawn_rate' must be more than 0"},
      /* missing and empty */
      {"host: x\n", "t.yaml:1:1: ", "the scenario is missing 'users'"},
      {"users: []\n", "t.yaml:1:8: ", "'users' needs at least one user class"},
      {"users:\n  - weight: 1\n",
       "t.yaml:2:5: ", "user class is missing 'name'"},
      {"users:\n  - name: U\n",
       "t.yaml:2:5: ", "user class 'U' is missing 'tasks'"},
      {"users:\n  - name: U\n    tasks: []\n",
       "t.yaml:3:12: ", "user class 'U' has no tasks"},
      {"users:\n  - name: U\n    tasks: [{weight: 2}]\n",
       "t.yaml:3:13: ", "task is missing 'steps'"},
      /* sleep, repeat, on_failure, stop_user, the library */
      {"users:\n  - name: U\n    tasks: [{steps: [{sleep: x}]}]\n",
       "t.yaml:3:30: ",
       "expected a duration (seconds, or e.g. 500ms, 30s, "
       "1h30m) for 'sleep', got 'x'"},
      {"users:\n  - name: U\n    tasks: [{steps: [{sleep: 1, name: s}]}]\n",
       "t.yaml:3:33: ",
       "unknown key 'name' in sleep step (expected: sleep, "
       "stop_user); a sleep step only waits"},
      {"users:\n  - name: U\n    tasks: [{steps: [{repeat: 0, steps: []}]}]\n",
       "t.yaml:3:31: ",
       "expected a whole number from 1 to 1000000 for "
       "'repeat', got '0'"},
      {"users:\n  - name: U\n    tasks: [{steps: [{repeat: 2}]}]\n",
       "t.yaml:3:22: ", "repeat is missing 'steps'"},
      {"users:\n  - name: U\n    tasks: [{steps: [{http: 'GET /{{i}}'}]}]\n",
       "t.yaml:3:35: ",
       "{{i}} is a repeat's counter: it exists in the steps "
       "of a repeat: only"},
      {"users:\n  - name: U\n    tasks: [{steps: [{http: GET /, capture: "
       "{i: $.i}}]}]\n",
       "t.yaml:3:46: ",
       "capture variable 'i' would hide the template "
       "function of that name"},
      {"users:\n  - name: U\n    tasks: [{steps: [{http: GET /, on_failure: "
       "stop}]}]\n",
       "t.yaml:3:48: ",
       "expected continue, stop_task or stop_user for "
       "'on_failure', got 'stop'"},
      {"users:\n  - name: U\n    tasks: [{steps: [{http: GET /, stop_user: "
       "2}]}]\n",
       "t.yaml:3:47: ", "expected true or false for 'stop_user', got '2'"},
      {"tasks: {browse: {steps: []}}\nusers:\n  - name: U\n"
       "    tasks: [brwse]\n",
       "t.yaml:4:13: ",
       "no task 'brwse' in the top-level tasks: (did you mean "
       "'browse'? known: browse)"},
      {"users:\n  - name: U\n    tasks: [browse]\n", "t.yaml:3:13: ",
       "no task 'browse' in the top-level tasks: (known: "
       "none)"},
      {"tasks: [{steps: []}]\nusers: []\n",
       "t.yaml:1:8: ", "expected a mapping of tasks by name"},
      {"tasks: {b: {steps: [{on_fail: x, htp: GET /}]}}\nusers: []\n",
       "t.yaml:1:22: ",
       "unknown key 'on_fail' in step (did you mean "
       "'on_failure'?"},
      {"users:\n  - name: ''\n",
       "t.yaml:2:11: ", "a user class name cannot be empty"},
      {"users:\n  - {name: A, tasks: [{steps: [{http: GET /}]}]}\n"
       "  - {name: A, tasks: [{steps: [{http: GET /}]}]}\n",
       "t.yaml:3:12: ", "duplicate user class name 'A' (first at 2:12)"},
      {"users:\n  - name: U\n    weight: 2\n    fixed_count: 1\n",
       "t.yaml:4:5: ", "'weight' and 'fixed_count' exclude each other"},
      {"users:\n  - name: U\n    name: V\n",
       "t.yaml:3:5: ", "duplicate key 'name' in user class (first at 2:5)"},
      /* protocol keys */
      {"users:\n  - name: U\n    tasks: [{steps: [{name: x}]}]\n",
       "t.yaml:3:22: ",
       "step has no protocol key: start it with the protocol, e.g. {http: "
       "GET /path} or {grpc: pkg.Service/Method}"},

      {"users:\n  - name: U\n    tasks: [{steps: [{HTTP: GET /}]}]\n",
       "t.yaml:3:23: ", "'HTTP' is not a protocol name"},

      /* payloads */
      {"users:\n  - name: U\n    tasks: [{steps: [{http: GET /, body: x, "
       "json: {a: 1}}]}]\n",
       "t.yaml:3:45: ",
       "'body' and 'json' both give the request's payload: keep one"},
      {"users:\n  - name: U\n    tasks: [{steps: [{grpc: a/b, data: {}, "
       "json: {}}]}]\n",
       "t.yaml:3:44: ", "'data' and 'json' both give the request's payload"},
      {"users:\n  - name: U\n    tasks: [{steps: [{http: GET /, body: {a: "
       "1}}]}]\n",
       "t.yaml:3:42: ",
       "expected a string for 'body', got a mapping: for a JSON body use "
       "'json:'"},
      {"users:\n  - name: U\n    tasks: [{steps: [{http: GET /, json: {n: "
       "{{user_id}}}}]}]\n",
       "t.yaml:3:47: ", "a {{...}} template must be quoted in YAML"},
      {"users:\n  - name: U\n    tasks: [{steps: [{http: GET /, json: {a: "
       "1, a: 2}}]}]\n",
       "t.yaml:3:49: ", "duplicate key 'a' in a JSON object (first at 3:43)"},
      /* waits */
      {"users:\n  - name: U\n    wait: {const: 1}\n", "t.yaml:3:12: ",
       "unknown wait kind 'const' (did you mean 'constant'? expected: "
       "constant, between, constant_throughput, constant_pacing, schedule, "
       "exponential, sequence)"},
      {"users:\n  - name: U\n    wait: {sequence: []}\n", "t.yaml:3:22: ",
       "expected a list [S1, S2, ...] of seconds for 'sequence', got"},
      {"users:\n  - name: U\n    wait: {sequence: [1, x]}\n",
       "t.yaml:3:26: ", "expected a number for 'sequence', got 'x'"},
      {"users:\n  - name: U\n    wait: {exponential: 0}\n",
       "t.yaml:3:25: ", "'exponential' must be more than 0"},
      {"users:\n  - name: U\n    wait: {schedule: 0}\n",
       "t.yaml:3:22: ", "'schedule' must be more than 0"},
      {"users:\n  - name: U\n    wait: {between: [3, 1]}\n",
       "t.yaml:3:21: ", "between: min 3 is greater than max 1"},
      {"users:\n  - name: U\n    wait: {between: 3}\n", "t.yaml:3:21: ",
       "expected a list [MIN, MAX] of seconds for 'between', got '3'"},
      {"users:\n  - name: U\n    wait: {constant: -1}\n",
       "t.yaml:3:22: ", "'constant' must be from 0 to 1e9 seconds"},
      {"users:\n  - name: U\n    wait: {constant_throughput: 0}\n",
       "t.yaml:3:33: ", "'constant_throughput' (tasks per second) must be"},
      {"users:\n  - name: U\n    wait: {constant_pacing: 0}\n",
       "t.yaml:3:29: ", "'constant_pacing' must be more than 0"},
      {"users:\n  - name: U\n    wait: {constant: 1, between: [1, 2]}\n",
       "t.yaml:3:11: ", "expected one of {constant: S}"},
      {"users:\n  - name: U\n    wait: sometimes\n",
       "t.yaml:3:11: ", "unknown wait 'sometimes'"},
      /* expectations */
      {"users:\n  - name: U\n    tasks: [{steps: [{http: GET /, expect: "
       "{body_matches: '(a'}}]}]\n",
       "t.yaml:3:62: ",
       "bad regular expression '(a': missing closing parenthesis"},
      {"users:\n  - name: U\n    tasks: [{steps: [{http: GET /, expect: "
       "{status: 700}}]}]\n",
       "t.yaml:3:53: ",
       "expected a status for 'status': 100 to 599, a class such as 2xx, or "
       "a list of them ([200, 404]), got '700'"},
      {"users:\n  - name: U\n    tasks: [{steps: [{http: GET /, expect: "
       "{status: [200, 6xx]}}]}]\n",
       "t.yaml:3:59: ", "expected a status for 'status'"},
      {"users:\n  - name: U\n    tasks: [{steps: [{http: GET /, expect: "
       "{status: []}}]}]\n",
       "t.yaml:3:53: ", "'status' is an empty list"},
      {"users:\n  - name: U\n    tasks: [{steps: [{http: GET /, expect: "
       "{message: ''}}]}]\n",
       "t.yaml:3:54: ", "'message' is empty"},
      /* Expected values may be templates, of variables set before. */
      {"users:\n  - name: U\n    tasks: [{steps: [{http: GET /, expect: "
       "{body_contains: 'x{{tok}}'}}]}]\n",
       "t.yaml:3:62: ", "variable 'tok' is never set"},
      {"users:\n  - name: U\n    tasks: [{steps: [{http: GET /, capture: "
       "{id: $.id}, expect: {json: {$.id: '{{id}}'}}}]}]\n",
       "t.yaml:3:80: ", "variable 'id' is never set"},
      {"users:\n  - name: U\n    tasks: [{steps: [{grpc: a/b, expect: "
       "{grpc_status: not found}}]}]\n",
       "t.yaml:3:56: ",
       "expected a status for 'grpc_status' (a name such as OK, "
       "NOT_FOUND, UNAVAILABLE, or a number), got 'not found'"},
      {"users:\n  - name: U\n    tasks: [{steps: [{grpc: a/b, expect: "
       "{grpc_status: [5]}}]}]\n",
       "t.yaml:3:56: ", "got a list"},
      {"users:\n  - name: U\n    tasks: [{steps: [{http: GET /, expect: "
       "{max_ms: 0}}]}]\n",
       "t.yaml:3:53: ", "'max_ms' must be more than 0"},
      {"users:\n  - name: U\n    tasks: [{steps: [{http: GET /, expect: "
       "{json: [{equals: 1}]}}]}]\n",
       "t.yaml:3:52: ", "json expectation is missing 'path'"},
      {"users:\n  - name: U\n    tasks: [{steps: [{http: GET /, expect: "
       "{json: {$.a: {name: x}}}}]}]\n",
       "t.yaml:3:58: ",
       "unknown key 'name' in json expectation (expected: equals, contains, "
       "matches); to compare with an object write {equals: {...}}"},
      {"users:\n  - name: U\n    tasks: [{steps: [{http: GET /, expect: "
       "{json: [{path: $.a, equals: 1, contains: 1}]}}]}]\n",
       "t.yaml:3:75: ",
       "'equals' and 'contains' in one json expectation: write two entries"},
      {"users:\n  - name: U\n    tasks: [{steps: [{http: GET /, expect: "
       "{json: [{path: '$.a[x]'}]}}]}]\n",
       "t.yaml:3:64: ",
       "bad JSON path '$.a[x]': expected an index or a quoted key after '['"},
      {"users:\n  - name: U\n    tasks: [{steps: [{http: GET /, expect: "
       "{json: [{path: $.a, matches: '['}]}}]}]\n",
       "t.yaml:3:75: ", "bad regular expression '['"},
      /* captures */
      {"users:\n  - name: U\n    tasks: [{steps: [{http: GET /, capture: "
       "{t: '$.a..b'}}]}]\n",
       "t.yaml:3:53: ", "bad JSON path '$.a..b': recursive descent"},
      {"users:\n  - name: U\n    tasks: [{steps: [{http: GET /, capture: "
       "{t: token}}]}]\n",
       "t.yaml:3:49: ",
       "expected a capture source for 't': a JSON path ($.token), "
       "header:NAME or regex:PATTERN, got 'token'"},
      {"users:\n  - name: U\n    tasks: [{steps: [{http: GET /, capture: "
       "{t: 'regex:a('}}]}]\n",
       "t.yaml:3:58: ", "bad regular expression 'a('"},
      {"users:\n  - name: U\n    tasks: [{steps: [{http: GET /, capture: "
       "{t: 'header:'}}]}]\n",
       "t.yaml:3:49: ", "expected a header name after 'header:'"},
      {"users:\n  - name: U\n    tasks: [{steps: [{http: GET /, capture: "
       "{seq: $.a}}]}]\n",
       "t.yaml:3:46: ",
       "capture variable 'seq' would hide the template function"},
      {"users:\n  - name: U\n    tasks: [{steps: [{http: GET /, capture: "
       "{1x: $.a}}]}]\n",
       "t.yaml:3:46: ", "capture variable '1x' is not a name"},
      /* templates */
      {"users:\n  - name: U\n    tasks: [{steps: [{http: 'GET "
       "/{{token}}'}]}]\n",
       "t.yaml:3:35: ",
       "variable 'token' is never set (capture it in on_start or an earlier "
       "step)"},
      {"users:\n  - name: U\n    tasks: [{steps: [{http: 'GET /{{nope "
       "1}}'}]}]\n",
       "t.yaml:3:35: ", "'nope' is not a template function (known: user_id"},
      {"users:\n  - name: U\n    tasks: [{steps: [{http: 'GET /{{random_int "
       "5 1}}'}]}]\n",
       "t.yaml:3:35: ", "random_int needs two integers A <= B"},
      {"users:\n  - name: U\n    tasks: [{steps: [{http: 'GET /{{seq'}]}]\n",
       "t.yaml:3:35: ", "'{{' has no closing '}}'"},
      {"users:\n  - name: U\n    tasks: [{steps: [{http: 'GET /{{ }}'}]}]\n",
       "t.yaml:3:35: ", "empty template expression"},
      /* a template error inside a string with escapes: the string's start */
      {"users:\n  - name: U\n    tasks: [{steps: [{http: GET /, body: "
       "\"\\t{{x}}\"}]}]\n",
       "t.yaml:3:42: ", "variable 'x' is never set"},
      {"users:\n  - name: U\n    tasks: [{steps: [{http: GET /, metadata: "
       "{a: '{{x}}'}}]}]\n",
       "t.yaml:3:51: ", "variable 'x' is never set"},
      {"users:\n  - name: U\n    tasks: [{steps: [{http: GET /, call: "
       "'{{x}}'}]}]\n",
       "t.yaml:3:43: ", "variable 'x' is never set"},
      /* YAML itself */
      {"users:\n  - name: U\n    tasks: [{steps: [{http: GET /}]}\n",
       "t.yaml:4:1: ", "YAML: did not find expected ',' or ']'"},
      {"users: [\n", "t.yaml:2:1: ", "YAML: "},
      {"a: *nope\n", "t.yaml:1:4: ", "YAML: found undefined alias"},
      {"users: []\n---\nusers: []\n", "t.yaml:3:1: ", "a second YAML document"},
      {"", "t.yaml:1:1: ", "the file is empty"},
      {"# only a comment\n", "t.yaml:1:1: ", "the file is empty"},
      /* The reader's errors know a byte: its line and column are counted. */
      {"users: [\"\xff\"]\n", "t.yaml:1:10: ",
       "YAML: invalid leading UTF-8 octet (the file must be UTF-8 text)"},
      {"users:\n  - name: x\x01\n", "t.yaml:2:12: ",
       "YAML: control characters are not allowed (character 0x01)"},
      {"users:\n  - name: \xc3\xa9\x01\n", "t.yaml:2:12: ", "(character 0x01)"},
      /* A tab where YAML wants indentation. */
      {"users:\n\t- name: a\n",
       "t.yaml:2:1: ", "a tab? YAML indents with spaces"},
      /* aliases that never end */
      {"users:\n  - name: U\n    tasks: [{steps: [{http: GET /, json: &a "
       "[*a]}]}]\n",
       "t.yaml:3:42: ", "nested deeper than 64 levels"},
  };
  int failed = 0;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    failed += check_bad(bad[i].text, bad[i].where, bad[i].words);
  if (failed)
    fail_msg("%d of %zu cases failed", failed, sizeof bad / sizeof bad[0]);
}

/* `n` copies of `piece` between `head` and `tail`, in a new string. */
static char *repeat(const char *head, const char *piece, size_t n,
                    const char *tail) {
  size_t total = strlen(head) + strlen(piece) * n + strlen(tail) + 1;
  char *t = malloc(total);
  assert_non_null(t);
  size_t at = (size_t)snprintf(t, total, "%s", head);
  for (size_t i = 0; i < n; i++)
    at += (size_t)snprintf(t + at, total - at, "%s", piece);
  snprintf(t + at, total - at, "%s", tail);
  return t;
}

/* Deep or huge files are refused early, at the first value past the
 * documented limit, with its position (issue #13: a deep file loaded in
 * quadratic time); large but legal ones load in linear time. */
static void test_limits(void **state) {
  (void)state;
  /* 20,000 nested lists: the 64th '[', in the top mapping, is the 65th
   * level. */
  char *deep = repeat("users: ", "[", 20000, "");
  parse_bad(deep, "t.yaml:1:71: ",
            "nested deeper than 64 levels, the limit of scenario files");
  free(deep);
  deep = repeat("users:\n  - name: A\n    tasks: [{steps: [{http: GET /, "
                "json: ",
                "{a: ", 100, "1}]}]\n");
  parse_bad(deep, "t.yaml:3:", "nested deeper than 64 levels");
  free(deep);
  /* 64 levels are fine. */
  char *ok = repeat("x: ", "[", 63, "");
  char *ok2 = repeat(ok, "]", 63, "\n");
  parse_bad(ok2, "t.yaml:1:1: ", "unknown key 'x' in the scenario");
  free(ok);
  free(ok2);
  /* More values than the limit. */
  char *many = repeat("users: [", "1,", 1000001, "1]\n");
  parse_bad(many, "t.yaml:1:2000003: ",
            "more than 1000000 values, the limit of scenario files");
  free(many);
  /* A mapping of 100,000 keys loads (its keys checked by sorting, not
   * pair by pair), and a duplicate in one is found. */
  char *big = malloc(4u << 20);
  assert_non_null(big);
  size_t n = (size_t)snprintf(big, 200,
                              "users:\n  - name: A\n    tasks: [{steps: "
                              "[{http: GET /, headers: {");
  for (int i = 0; i < 100000; i++)
    n += (size_t)snprintf(big + n, 32, "h%d: v, ", i);
  snprintf(big + n, 32, "z: v}}]}]\n");
  rl__scn *s = parse_ok(big);
  assert_int_equal(s->users[0].tasks[0].steps[0].n_headers, 100001);
  rl__scn_del(s);
  /* The last key, h99999, becomes a second h12345. */
  char *last = strstr(big, "h99999:");
  for (int i = 0; i < 5; i++)
    last[1 + i] = "12345"[i];
  parse_bad(big, "t.yaml:3:", "duplicate key 'h12345' in headers (first at 3:");
  free(big);
  /* Many classes, one name twice: named at the repeat. */
  big = malloc(2u << 20);
  assert_non_null(big);
  n = (size_t)snprintf(big, 16, "users:\n");
  for (int i = 0; i < 20000; i++)
    n += (size_t)snprintf(
        big + n, 80, "  - {name: C%d, tasks: [{steps: [{http: GET /}]}]}\n",
        i == 15000 ? 7 : i);
  parse_bad(big, "t.yaml:15002:12: ",
            "duplicate user class name 'C7' (first at 9:12)");
  free(big);
  /* Variable names: every user holds a slot for each. The same name
   * captured again counts once. */
  big = malloc(1u << 20);
  assert_non_null(big);
  n = (size_t)snprintf(big, 64, "users:\n  - name: A\n    tasks:\n");
  for (int i = 0; i < 1025; i++)
    n += (size_t)snprintf(big + n, 100,
                          "      - {steps: [{http: GET /, capture: {v%d: $.a, "
                          "again: $.b}}]}\n",
                          i);
  parse_bad(big, "t.yaml:1027:42: ",
            "more than 1024 variable names in the file, the limit of "
            "scenario files");
  free(big);

  /* Bytes past the size limit are refused before they are read. */
  size_t huge = (16u << 20) + 1;
  char *blank = malloc(huge);
  assert_non_null(blank);
  memset(blank, ' ', huge);
  char err[256] = "";
  s = (rl__scn *)&s;
  assert_int_equal(
      rl__scn_parse_string(blank, huge, "t.yaml", &s, err, sizeof err),
      RL_ERR_INVAL);
  assert_null(s);
  assert_string_equal(
      err, "t.yaml: larger than 16 MiB, the limit of scenario files");
  free(blank);
}

/* A UTF-8 byte order mark (Windows editors write one) is not content:
 * the file reads as without it, positions included. */
static void test_byte_order_mark(void **state) {
  (void)state;
  rl__scn *s = parse_ok("\xef\xbb\xbfusers:\n  - name: A\n"
                        "    tasks: [{steps: [{http: GET /}]}]\n");
  assert_string_equal(s->users[0].name, "A");
  assert_pos(s->users[0].name_pos, 2, 11);
  rl__scn_del(s);
  parse_bad("\xef\xbb\xbfusers:\n  - name: A\n    waitt: 1\n",
            "t.yaml:3:5: ", "unknown key 'waitt' in user class");
}

/* The "billion laughs": aliases that multiply. */
static void test_alias_bomb(void **state) {
  (void)state;
  /* Ten lists of ten, seven deep: 10^7 values from a few lines. */
  char doc[8192];
  snprintf(doc, sizeof doc,
           "users:\n  - name: U\n    tasks: [{steps: [{http: GET /, "
           "json: [%s]}]}]\n",
           "&b0 [x, x, x, x, x, x, x, x, x, x], &b1 [*b0, *b0, *b0, *b0, *b0, "
           "*b0, *b0, *b0, *b0, *b0], &b2 [*b1, *b1, *b1, *b1, *b1, *b1, *b1, "
           "*b1, *b1, *b1], &b3 [*b2, *b2, *b2, *b2, *b2, *b2, *b2, *b2, *b2, "
           "*b2], &b4 [*b3, *b3, *b3, *b3, *b3, *b3, *b3, *b3, *b3, *b3], &b5 "
           "[*b4, *b4, *b4, *b4, *b4, *b4, *b4, *b4, *b4, *b4], &b6 [*b5, *b5, "
           "*b5, *b5, *b5, *b5, *b5, *b5, *b5, *b5]");
  parse_bad(doc, "t.yaml:", "aliases expand to more than 1000000 values");
}

/* Aliases are a way to reuse a step: each use is its own copy. */
static void test_alias_reuse(void **state) {
  (void)state;
  rl__scn *s =
      parse_ok("users:\n"
               "  - name: U\n"
               "    on_start: [&login {http: POST /login, capture: {t: $.t}}]\n"
               "    tasks: [{steps: [*login, {http: 'GET /{{t}}'}]}]\n");
  assert_int_equal(s->users[0].tasks[0].n_steps, 2);
  assert_string_equal(s->users[0].tasks[0].steps[0].spec, "POST /login");
  assert_ptr_not_equal(s->users[0].tasks[0].steps[0].spec,
                       s->users[0].on_start[0].spec);
  rl__scn_del(s);
}

/* Every prefix of a valid file is either valid or an error with a
 * position, never a crash or a leak (ASan runs this too). */
static void test_every_prefix(void **state) {
  (void)state;
  size_t len = strlen(issue_example);
  for (size_t n = 0; n < len; n++) {
    rl__scn *s = NULL;
    char err[512] = "";
    int rc =
        rl__scn_parse_string(issue_example, n, "t.yaml", &s, err, sizeof err);
    if (rc == 0) {
      rl__scn_del(s);
      continue;
    }
    assert_int_equal(rc, RL_ERR_INVAL);
    assert_null(s);
    if (strncmp(err, "t.yaml:", 7) != 0)
      fail_msg("prefix %zu: %s", n, err);
  }
}

/* Uses most of the format, for test_out_of_memory. */
static const char rich_example[] =
    "host: http://h\n"
    "settings: {users: 3, spawn_rate: 1, run_time: 10s, wait: 'constant:1'}\n"
    "users:\n"
    "  - name: U\n"
    "    sequential: true\n"
    "    on_start:\n"
    "      - http: POST /login\n"
    "        headers: {a: b, c: d}\n"
    "        json: {user: \"u{{user_id}}\", l: [1, {x: null}]}\n"
    "        capture: {t: $.t, h: 'header:x', r: 'regex:id=([0-9]+)'}\n"
    "    tasks:\n"
    "      - name: one\n"
    "        tags: [a, b]\n"
    "        steps:\n"
    "          - grpc: a.B/C\n"
    "            proto: x.proto\n"
    "            import_path: [i, j]\n"
    "            metadata: {m: '{{t}}'}\n"
    "            options: {o: 1}\n"
    "            data: {name: '{{h}}'}\n"
    "            expect:\n"
    "              grpc_status: OK\n"
    "              body_matches: 'a+'\n"
    "              json: [{path: $.a, equals: {k: [1]}}, {path: $.b, "
    "matches: x}]\n"
    "            capture: {z: $.z}\n"
    "      - steps: [{redis: 'GET {{z}}', call: 'x{{r}}', body: b}]\n"
    "    on_stop: [{http: 'POST /bye/{{t}}'}]\n"
    "  - name: V\n"
    "    fixed_count: 2\n"
    "    tasks: [{steps: [{http: GET /, expect: {json: {$.q: 1}}}]}]\n";

/* What later parts of the format add: the library, sleep and repeat,
 * on_failure and stop_user, status lists, messages, templated values, a
 * data file (its name filled in by the test). */
static const char flow_example_fmt[] =
    "data: {file: %s, order: random}\n"
    "tasks:\n"
    "  lib: {weight: 2, tags: [x], steps: [{sleep: 1}]}\n"
    "  none: {steps: []}\n"
    "users:\n"
    "  - name: U\n"
    "    data: {file: %s, order: per_user, cycle: false}\n"
    "    on_start: [{http: POST /l, capture: {t: $.t}, on_failure: continue}]\n"
    "    tasks:\n"
    "      - lib\n"
    "      - {use: none, weight: 3, tags: [y, z], name: n}\n"
    "      - steps:\n"
    "          - repeat: 2\n"
    "            steps:\n"
    "              - {http: 'GET /{{i}}/{{data.a}}', json: {v: '{{t}}', "
    "n: '{{i}}'},\n"
    "                 expect: {status: [2xx, 404], message: m,\n"
    "                          body_contains: 'x{{t}}',\n"
    "                          json: {$.a: '{{data.a}}'}}, stop_user: true}\n"
    "          - {sleep: 250ms}\n";

/* Fails each allocation of a full parse in turn: every failure is
 * RL_ERR_NOMEM with nothing returned and nothing leaked. */
static void test_out_of_memory(void **state) {
  (void)state;
  char path[] = "/tmp/rl-scn-oom-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  FILE *fp = fdopen(fd, "w");
  assert_non_null(fp);
  fputs("a,b\n1,2\n3,4\n", fp);
  fclose(fp);
  char flow[2048];
  snprintf(flow, sizeof flow, flow_example_fmt, path, path);
  const char *const texts[] = {issue_example, rich_example, flow};
  for (size_t i = 0; i < 3; i++) {
    int completed = 0;
    for (long n = 1; n < 100000 && !completed; n++) {
      rl__scn *s = NULL;
      char err[512] = "";
      alloc_count = 0;
      fail_at = n;
      int rc = rl__scn_parse_string(texts[i], strlen(texts[i]), "t.yaml", &s,
                                    err, sizeof err);
      fail_at = 0;
      if (rc == 0) {
        completed = 1;
        rl__scn_del(s);
        if (n < 20) /* the parse allocates more than that */
          fail_msg("complete after failing allocation %ld only", n);
        continue;
      }
      if (rc != RL_ERR_NOMEM)
        fail_msg("text %zu, allocation %ld failed: rc %d (%s)", i, n, rc, err);
      assert_null(s);
      assert_string_equal(err, "t.yaml: out of memory");
    }
    assert_true(completed);
  }
  remove(path);
}

/* The repository's example scenarios parse. */
static void test_example_files(void **state) {
  (void)state;
  char root[1024];
  snprintf(root, sizeof root, "%s", RL_TEST_SOURCE_FILE);
  char *cut = strstr(root, "tests/unit/");
  assert_non_null(cut);
  *cut = 0;
  static const char *const files[] = {"http_browse.yaml", "grpc_hello.yaml",
                                      "mixed_login.yaml", "shop_data.yaml"};
  for (size_t i = 0; i < 4; i++) {
    char path[1200];
    snprintf(path, sizeof path, "%sexamples/scenarios/%s", root, files[i]);
    rl__scn *s = NULL;
    char err[512] = "";
    if (rl__scn_load(path, &s, err, sizeof err))
      fail_msg("%s", err);
    assert_string_equal(s->file, path);
    assert_true(s->n_users >= 2);
    rl__scn_del(s);
  }
  rl__scn *s = (rl__scn *)&s;
  char err[512] = "";
  assert_int_equal(rl__scn_load("/nonexistent/x.yaml", &s, err, sizeof err),
                   RL_ERR_INVAL);
  assert_null(s);
  assert_string_equal(err, "/nonexistent/x.yaml: cannot open: No such file or "
                           "directory");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_issue_example),
      cmocka_unit_test(test_yaml_to_json),
      cmocka_unit_test(test_templates_as_json_numbers),
      cmocka_unit_test(test_step_fields),
      cmocka_unit_test(test_waits_and_settings),
      cmocka_unit_test(test_expect_and_capture),
      cmocka_unit_test(test_expect_statuses_messages_templates),
      cmocka_unit_test(test_flow_steps_and_library),
      cmocka_unit_test(test_data_files),
      cmocka_unit_test(test_variable_scopes),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_alias_bomb),
      cmocka_unit_test(test_limits),
      cmocka_unit_test(test_byte_order_mark),
      cmocka_unit_test(test_alias_reuse),
      cmocka_unit_test(test_every_prefix),
      cmocka_unit_test(test_out_of_memory),
      cmocka_unit_test(test_example_files),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

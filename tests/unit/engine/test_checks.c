/*
 * A step's checks (engine/checks.h): expectations decide a request's
 * outcome and captures fill the user's variables. The rl__expect and
 * rl__capture values are built by hand here, as a scenario file would
 * fill them (regexes compiled with rl__regex_new, paths with
 * rl__jsonpath_new), and applied to responses stored through
 * rl__response_store, as a plugin hands them over.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <cmocka.h>

#include <rpcload/plugin.h>

#include "base/jsonpath.h"
#include "base/regex.h"
#include "engine/checks.h"
#include "engine/response.h"
#include "engine/template.h"

#define MS 1000000ull

/* ---- building blocks ---------------------------------------------------- */

static rl__jsonpath *path(const char *text) {
  rl__jsonpath *p = NULL;
  char err[128] = "";
  if (rl__jsonpath_new(text, &p, NULL, err, sizeof err))
    fail_msg("path %s: %s", text, err);
  return p;
}

static rl__regex *regex(const char *text) {
  rl__regex *re = NULL;
  char err[160] = "";
  if (rl__regex_new(text, &re, NULL, err, sizeof err))
    fail_msg("regex %s: %s", text, err);
  return re;
}

/* An expect.json entry; `operand` is JSON text (EQUALS, CONTAINS) or an
 * regex (MATCHES). */
static rl__json_expect jexpect(const char *p, enum rl__json_op op,
                               const char *operand) {
  rl__json_expect e = {.path = path(p), .op = op};
  if (op == RL__JSON_EQUALS || op == RL__JSON_CONTAINS) {
    e.text = strdup(operand);
    e.value = json_loads(operand, JSON_DECODE_ANY, NULL);
    assert_non_null(e.value);
  } else if (op == RL__JSON_MATCHES) {
    e.text = strdup(operand);
    e.re = regex(operand);
  }
  return e;
}

static void jexpect_free(rl__json_expect *e) {
  rl__jsonpath_del(e->path);
  free(e->text);
  json_decref(e->value);
  rl__regex_del(e->re);
}

/* A response as a plugin hands it over. */
static void respond(rl__response *r, int status, const char *body,
                    const char *json, const rl_kv *headers, size_t n_headers) {
  rl_response in = {
      .struct_size = sizeof in,
      .status = status,
      .headers = headers,
      .n_headers = n_headers,
      .body = (const uint8_t *)body,
      .body_len = body ? strlen(body) : 0,
      .json = json,
  };
  assert_int_equal(rl__response_store(r, &in), 0);
}

/* Applies `e` (no captures) and returns the error text, "" for success. */
static const char *outcome(const rl__expect *e, const rl__response *r,
                           const char *plugin_error, uint64_t rt_ns) {
  static char buf[256];
  static char out[256];
  rl__step_checks ck = {.expect = e};
  int stop = -1;
  const char *err = rl__checks_apply(&ck, r, plugin_error, rt_ns, NULL, NULL,
                                     buf, sizeof buf, &stop);
  assert_int_equal(stop, 0); /* without captures the task goes on */
  snprintf(out, sizeof out, "%s", err ? err : "");
  return out;
}

/* ---- expectations -------------------------------------------------------- */

/* An expectation of one status. */
static rl__expect expect_status(int code) {
  rl__expect e = {.has_status = 1};
  rl__status_set_add(&e.status, code);
  static char text[8];
  snprintf(text, sizeof text, "%d", code);
  e.status_text = text;
  return e;
}

/* A plugin's names for its statuses (as gRPC's plugin declares them). */
static const char *const names[] = {
    "OK",       "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
    "NOT_FOUND"};
#define NNAMES 6u

static void test_status_names(void **state) {
  (void)state;
  assert_string_equal(rl__status_name(names, NNAMES, 0), "OK");
  assert_string_equal(rl__status_name(names, NNAMES, 5), "NOT_FOUND");
  assert_null(rl__status_name(names, NNAMES, 6));
  assert_null(rl__status_name(names, NNAMES, -1));
  assert_null(rl__status_name(NULL, 0, 0));
  /* By name in any case, or by number below the count. */
  assert_int_equal(rl__status_code(names, NNAMES, "not_found"), 5);
  assert_int_equal(rl__status_code(names, NNAMES, "OK"), 0);
  assert_int_equal(rl__status_code(names, NNAMES, "3"), 3);
  assert_int_equal(rl__status_code(names, NNAMES, "6"), -1);
  assert_int_equal(rl__status_code(names, NNAMES, "-1"), -1);
  assert_int_equal(rl__status_code(names, NNAMES, "3x"), -1);
  assert_int_equal(rl__status_code(names, NNAMES, "NOPE"), -1);
  assert_int_equal(rl__status_code(NULL, 0, "0"), -1);
}

static void test_no_expectations_keep_the_plugins_verdict(void **state) {
  (void)state;
  rl__response r = {0};
  respond(&r, 500, "oops", NULL, NULL, 0);
  assert_string_equal(outcome(NULL, &r, NULL, 0), "");
  assert_string_equal(outcome(NULL, &r, "HTTP 500", 0), "HTTP 500");
  rl__response_free(&r);
}

static void test_expected_status_decides_alone(void **state) {
  (void)state;
  rl__response r = {0};
  rl__expect e = expect_status(404);
  e.body_contains = "never there";
  respond(&r, 404, "not found", NULL, NULL, 0);
  /* The plugin called a 404 a failure; the step expects it: success, and
   * the other expectations still apply. */
  assert_string_equal(outcome(&e, &r, "HTTP 404", 0),
                      "response does not contain 'never there'");
  e.body_contains = "not found";
  assert_string_equal(outcome(&e, &r, "HTTP 404", 0), "");
  /* A status the plugin liked but the step does not expect fails, with
   * the step's text rather than the plugin's. */
  respond(&r, 200, "fine", NULL, NULL, 0);
  assert_string_equal(outcome(&e, &r, NULL, 0), "expected status 404, got 200");
  assert_string_equal(outcome(&e, &r, "plugin text", 0),
                      "expected status 404, got 200");
  rl__response_free(&r);
}

static void test_expected_grpc_status_by_name(void **state) {
  (void)state;
  rl__response r = {0};
  rl__expect e = {.status_name = "not_found"};
  /* Resolved with the plugin's names when the step is compiled. */
  rl__step_checks ck = {.expect = &e,
                        .has_named_status = 1,
                        .named_status = 5,
                        .status_names = names,
                        .n_status_names = NNAMES};
  char buf[256];
  int stop = -1;
  respond(&r, 0, NULL, "{}", NULL, 0);
  assert_string_equal(
      rl__checks_apply(&ck, &r, NULL, 0, NULL, NULL, buf, sizeof buf, &stop),
      "expected status NOT_FOUND, got OK");
  respond(&r, 5, NULL, NULL, NULL, 0);
  assert_null(rl__checks_apply(&ck, &r, "NOT_FOUND: no such user", 0, NULL,
                               NULL, buf, sizeof buf, &stop));
  /* A code the plugin has no name for shows as a number. */
  respond(&r, 42, NULL, NULL, NULL, 0);
  assert_string_equal(
      rl__checks_apply(&ck, &r, NULL, 0, NULL, NULL, buf, sizeof buf, &stop),
      "expected status NOT_FOUND, got 42");
  rl__response_free(&r);
}

static void
test_other_expectations_only_turn_success_into_failure(void **state) {
  (void)state;
  rl__response r = {0};
  rl__expect e = {.body_contains = "hello"};
  respond(&r, 500, "hello", NULL, NULL, 0);
  /* A failed request stays failed with the plugin's text, however well
   * its body matches. */
  assert_string_equal(outcome(&e, &r, "HTTP 500", 0), "HTTP 500");
  assert_string_equal(outcome(&e, &r, NULL, 0), "");
  rl__response_free(&r);
}

static void test_body_contains_and_matches(void **state) {
  (void)state;
  rl__response r = {0};
  rl__expect e = {.body_contains = "world"};
  respond(&r, 200, "hello world", NULL, NULL, 0);
  assert_string_equal(outcome(&e, &r, NULL, 0), "");
  respond(&r, 200, "hello there", NULL, NULL, 0);
  assert_string_equal(outcome(&e, &r, NULL, 0),
                      "response does not contain 'world'");
  /* The first expectation missed is the error: contains, then matches. */
  e.body_matches = "^id=[0-9]+$";
  e.body_re = regex(e.body_matches);
  respond(&r, 200, "id=x world", NULL, NULL, 0);
  assert_string_equal(outcome(&e, &r, NULL, 0),
                      "response does not match /^id=[0-9]+$/");
  e.body_contains = NULL;
  respond(&r, 200, "id=42", NULL, NULL, 0);
  assert_string_equal(outcome(&e, &r, NULL, 0), "");
  /* Over gRPC the checks read the message's JSON, not the wire bytes. */
  respond(&r, 0, "\x0a\x02id", "id=7", NULL, 0);
  assert_string_equal(outcome(&e, &r, NULL, 0), "");
  rl__regex_del(e.body_re);
  rl__response_free(&r);
}

static void test_body_contains_says_when_the_body_was_cut(void **state) {
  (void)state;
  size_t n = RL__RESPONSE_MAX_BODY + 10;
  char *big = malloc(n + 1);
  assert_non_null(big);
  memset(big, 'a', n);
  memcpy(big + n - 6, "needle", 6);
  big[n] = '\0';
  rl__response r = {0};
  respond(&r, 200, big, NULL, NULL, 0);
  assert_true(r.body_cut);
  rl__expect e = {.body_contains = "needle"};
  assert_string_equal(outcome(&e, &r, NULL, 0),
                      "response does not contain 'needle' (body cut at 4 MiB)");
  free(big);
  rl__response_free(&r);
}

static void test_json_expectations(void **state) {
  (void)state;
  rl__response r = {0};
  respond(&r, 200,
          "{\"ok\":true,\"n\":1,\"name\":\"alice\",\"tags\":[\"a\",{\"b\":2}],"
          "\"obj\":{\"x\":1,\"y\":[1,2]}}",
          NULL, NULL, 0);
  rl__json_expect j[] = {
      jexpect("$.ok", RL__JSON_EXISTS, NULL),
      jexpect("$.n", RL__JSON_EQUALS, "1.0"),
      jexpect("$.obj", RL__JSON_EQUALS, "{\"y\":[1,2.0],\"x\":1}"),
      jexpect("$.name", RL__JSON_CONTAINS, "\"lic\""),
      jexpect("$.tags", RL__JSON_CONTAINS, "{\"b\":2}"),
      jexpect("$.obj", RL__JSON_CONTAINS, "\"y\""),
      jexpect("$.name", RL__JSON_MATCHES, "^al"),
      jexpect("$.n", RL__JSON_MATCHES, "^1$"),
  };
  rl__expect e = {.json = j, .n_json = sizeof j / sizeof j[0]};
  assert_string_equal(outcome(&e, &r, NULL, 0), "");

  /* Each kind's miss, as the request's error text. */
  rl__json_expect miss[] = {
      jexpect("$.gone", RL__JSON_EXISTS, NULL),
      jexpect("$.ok", RL__JSON_EQUALS, "false"),
      jexpect("$.name", RL__JSON_CONTAINS, "\"bob\""),
      jexpect("$.tags", RL__JSON_CONTAINS, "\"c\""),
      jexpect("$.obj", RL__JSON_CONTAINS, "\"z\""),
      jexpect("$.name", RL__JSON_MATCHES, "^b"),
  };
  const char *why[] = {
      "$.gone: not found",
      "$.ok is true, expected false",
      "$.name is \"alice\", which does not contain \"bob\"",
      "$.tags is [\"a\",{\"b\":2}], which does not contain \"c\"",
      "$.obj is {\"x\":1,\"y\":[1,2]}, which does not contain \"z\"",
      "$.name is \"alice\", which does not match /^b/",
  };
  for (size_t i = 0; i < sizeof miss / sizeof miss[0]; i++) {
    rl__expect one = {.json = &miss[i], .n_json = 1};
    assert_string_equal(outcome(&one, &r, NULL, 0), why[i]);
  }
  /* A body that is not JSON. */
  respond(&r, 200, "<html>", NULL, NULL, 0);
  assert_string_equal(outcome(&e, &r, NULL, 0),
                      "response is not JSON (expect.json)");
  /* gRPC: the plugin's JSON of the message is what the paths read. */
  respond(&r, 0, "\x08\x01", "{\"ok\":false}", NULL, 0);
  rl__expect ok_false = {.json = &miss[1], .n_json = 1};
  assert_string_equal(outcome(&ok_false, &r, NULL, 0), "");
  for (size_t i = 0; i < sizeof j / sizeof j[0]; i++)
    jexpect_free(&j[i]);
  for (size_t i = 0; i < sizeof miss / sizeof miss[0]; i++)
    jexpect_free(&miss[i]);
  rl__response_free(&r);
}

static void test_json_expect_check_messages(void **state) {
  (void)state;
  json_t *doc = json_loads(
      "{\"long\":\"0123456789012345678901234567890123456789012345678901234567"
      "89abcdef\",\"n\":12,\"list\":[]}",
      0, NULL);
  assert_non_null(doc);
  char why[256] = "";
  /* Values are shown cut to 60 characters. */
  rl__json_expect e = jexpect("$.long", RL__JSON_EQUALS, "\"x\"");
  assert_int_equal(rl__json_expect_check(&e, doc, NULL, why, sizeof why), 0);
  assert_string_equal(why, "$.long is \"01234567890123456789012345678901234567"
                           "890123456789012345..., expected \"x\"");
  jexpect_free(&e);
  /* A number is matched as its text. */
  e = jexpect("$.n", RL__JSON_MATCHES, "^1[0-9]$");
  assert_int_equal(rl__json_expect_check(&e, doc, NULL, why, sizeof why), 1);
  jexpect_free(&e);
  e = jexpect("$.n", RL__JSON_MATCHES, "^a");
  assert_int_equal(rl__json_expect_check(&e, doc, NULL, why, sizeof why), 0);
  assert_string_equal(why, "$.n is 12, which does not match /^a/");
  jexpect_free(&e);
  /* Contains on a number is no match, not a crash. */
  e = jexpect("$.n", RL__JSON_CONTAINS, "1");
  assert_int_equal(rl__json_expect_check(&e, doc, NULL, why, sizeof why), 0);
  assert_string_equal(why, "$.n is 12, which does not contain 1");
  jexpect_free(&e);
  e = jexpect("$.list[0]", RL__JSON_EXISTS, NULL);
  assert_int_equal(rl__json_expect_check(&e, doc, NULL, why, sizeof why), 0);
  assert_string_equal(why, "$.list[0]: not found");
  jexpect_free(&e);
  json_decref(doc);
}

static void test_max_ms(void **state) {
  (void)state;
  rl__response r = {0};
  respond(&r, 200, "", NULL, NULL, 0);
  rl__expect e = {.has_max_ms = 1, .max_ms = 2.5};
  assert_string_equal(outcome(&e, &r, NULL, 2 * MS), "");
  assert_string_equal(outcome(&e, &r, NULL, 3 * MS),
                      "response time over 2.5 ms");
  rl__response_free(&r);
}

static void test_no_response_to_check(void **state) {
  (void)state;
  rl__expect e = expect_status(200);
  /* The plugin handed nothing over: that is the failure, unless the
   * plugin failed the request itself (then its text stands). */
  assert_string_equal(outcome(&e, NULL, NULL, 0), "no response to check");
  assert_string_equal(outcome(&e, NULL, "connection refused", 0),
                      "connection refused");
  rl__response r = {0};
  rl__response_clear(&r); /* have == 0: a response of an earlier request */
  assert_string_equal(outcome(&e, &r, NULL, 0), "no response to check");
  rl__response_free(&r);
}

/* ---- captures ------------------------------------------------------------ */

static void capture_free(rl__capture *c) {
  rl__jsonpath_del(c->path);
  rl__regex_del(c->re);
}

static void test_captures_fill_the_users_variables(void **state) {
  (void)state;
  rl__capture caps[] = {
      {.var = "token",
       .kind = RL__CAPTURE_JSON,
       .arg = "$.auth.token",
       .path = path("$.auth.token")},
      {.var = "n", .kind = RL__CAPTURE_JSON, .arg = "$.n", .path = path("$.n")},
      {.var = "id", .kind = RL__CAPTURE_HEADER, .arg = "x-id"},
      {.var = "sess",
       .kind = RL__CAPTURE_REGEX,
       .arg = "sess=([a-z]+)",
       .re = regex("sess=([a-z]+)")},
      {.var = "whole",
       .kind = RL__CAPTURE_REGEX,
       .arg = "sess=[a-z]+",
       .re = regex("sess=[a-z]+")},
  };
  size_t vars_of[] = {3, 2, 1, 0, 4};
  char *vars[5] = {NULL, NULL, strdup("old"), NULL, NULL};
  rl__step_checks ck = {
      .captures = caps, .n_captures = 5, .capture_vars = vars_of};
  rl_kv headers[] = {{"X-Id", "first"}, {"x-id", "u-7"}};
  rl__response r = {0};
  respond(&r, 200,
          "{\"auth\":{\"token\":\"t0k\"},\"n\":42,\"note\":\"sess=abc;\"}",
          NULL, headers, 2);
  char buf[256];
  int stop = -1;
  assert_null(
      rl__checks_apply(&ck, &r, NULL, 0, NULL, vars, buf, sizeof buf, &stop));
  assert_int_equal(stop, 0);
  assert_string_equal(vars[3], "t0k");      /* a string without its quotes */
  assert_string_equal(vars[2], "42");       /* the old value replaced (freed) */
  assert_string_equal(vars[1], "u-7");      /* any case, the last one */
  assert_string_equal(vars[0], "abc");      /* the group */
  assert_string_equal(vars[4], "sess=abc"); /* no group: the whole match */
  for (size_t i = 0; i < 5; i++) {
    free(vars[i]);
    capture_free(&caps[i]);
  }
  rl__response_free(&r);
}

/* One capture that finds nothing: its error text, stop_task set, the
 * variable untouched. */
static void capture_misses(rl__capture *c, const rl__response *r,
                           const char *want) {
  size_t var = 0;
  char *vars[1] = {strdup("kept")};
  rl__step_checks ck = {.captures = c, .n_captures = 1, .capture_vars = &var};
  char buf[256];
  int stop = 0;
  const char *err =
      rl__checks_apply(&ck, r, NULL, 0, NULL, vars, buf, sizeof buf, &stop);
  assert_non_null(err);
  assert_string_equal(err, want);
  assert_int_equal(stop, 1);
  assert_string_equal(vars[0], "kept");
  free(vars[0]);
}

static void test_a_capture_miss_stops_the_task(void **state) {
  (void)state;
  rl__response r = {0};
  respond(&r, 200, "{\"a\":1}", NULL, NULL, 0);
  rl__capture json = {.var = "tok",
                      .kind = RL__CAPTURE_JSON,
                      .arg = "$.tok",
                      .path = path("$.tok")};
  rl__capture hdr = {.var = "id", .kind = RL__CAPTURE_HEADER, .arg = "x-id"};
  rl__capture re = {.var = "s",
                    .kind = RL__CAPTURE_REGEX,
                    .arg = "s=([0-9]+)",
                    .re = regex("s=([0-9]+)")};
  capture_misses(&json, &r, "capture tok: $.tok not found in the response");
  capture_misses(&hdr, &r, "capture id: no header x-id in the response");
  capture_misses(&re, &r,
                 "capture s: /s=([0-9]+)/ does not match the response");
  respond(&r, 200, "not json", NULL, NULL, 0);
  capture_misses(&json, &r, "capture tok: $.tok (the response is not JSON)");
  capture_free(&json);
  capture_free(&re);
  rl__response_free(&r);
}

static void test_a_failed_request_captures_nothing(void **state) {
  (void)state;
  rl__response r = {0};
  respond(&r, 500, "{\"tok\":\"x\"}", NULL, NULL, 0);
  rl__capture json = {.var = "tok",
                      .kind = RL__CAPTURE_JSON,
                      .arg = "$.tok",
                      .path = path("$.tok")};
  size_t var = 0;
  char *vars[1] = {NULL};
  rl__step_checks ck = {
      .captures = &json, .n_captures = 1, .capture_vars = &var};
  char buf[256];
  int stop = 0;
  /* The plugin failed it: its text stands, nothing is captured, and the
   * task cannot go on. */
  assert_string_equal(rl__checks_apply(&ck, &r, "HTTP 500", 0, NULL, vars, buf,
                                       sizeof buf, &stop),
                      "HTTP 500");
  assert_int_equal(stop, 1);
  assert_null(vars[0]);
  /* Same for an expectation the response misses. */
  rl__expect e = expect_status(201);
  ck.expect = &e;
  stop = 0;
  assert_string_equal(
      rl__checks_apply(&ck, &r, NULL, 0, NULL, vars, buf, sizeof buf, &stop),
      "expected status 201, got 500");
  assert_int_equal(stop, 1);
  assert_null(vars[0]);
  /* An expected 500 makes it a success, and the capture then runs. */
  e = expect_status(500);
  stop = 0;
  assert_null(rl__checks_apply(&ck, &r, "HTTP 500", 0, NULL, vars, buf,
                               sizeof buf, &stop));
  assert_int_equal(stop, 0);
  assert_string_equal(vars[0], "x");
  free(vars[0]);
  capture_free(&json);
  rl__response_free(&r);
}

/* status: [200, 404] and status: 2xx; the user's message for any failure
 * a response decided. */
static void test_status_sets_and_messages(void **state) {
  (void)state;
  rl__response r = {0};
  rl__expect e = {.has_status = 1, .status_text = "200 or 404"};
  rl__status_set_add(&e.status, 200);
  rl__status_set_add(&e.status, 404);
  respond(&r, 404, "gone", NULL, NULL, 0);
  assert_string_equal(outcome(&e, &r, "HTTP 404", 0), "");
  respond(&r, 500, "oops", NULL, NULL, 0);
  assert_string_equal(outcome(&e, &r, "HTTP 500", 0),
                      "expected status 200 or 404, got 500");
  rl__expect two = {.has_status = 1, .status_text = "2xx"};
  for (int code = 200; code < 300; code++)
    rl__status_set_add(&two.status, code);
  respond(&r, 204, "", NULL, NULL, 0);
  assert_string_equal(outcome(&two, &r, NULL, 0), "");
  respond(&r, 302, "", NULL, NULL, 0);
  assert_string_equal(outcome(&two, &r, NULL, 0),
                      "expected status 2xx, got 302");
  /* The message replaces the reason, whichever expectation (or the
   * plugin, on a response) failed; a success stays one. */
  two.message = "login page broken";
  assert_string_equal(outcome(&two, &r, NULL, 0), "login page broken");
  two.body_contains = "welcome";
  respond(&r, 200, "hello", NULL, NULL, 0);
  assert_string_equal(outcome(&two, &r, NULL, 0), "login page broken");
  respond(&r, 200, "welcome", NULL, NULL, 0);
  assert_string_equal(outcome(&two, &r, NULL, 0), "");
  rl__expect plain = {.message = "bad"};
  respond(&r, 500, "", NULL, NULL, 0);
  assert_string_equal(outcome(&plain, &r, "HTTP 500", 0), "bad");
  /* Without a response (connection refused) the reason stands. */
  assert_string_equal(outcome(&plain, NULL, "connection refused", 0),
                      "connection refused");
  rl__response_free(&r);
}

/* A template compiled with one variable, as a plan compiles it. */
static rl_template *tpl(const char *text) {
  static const char *const var_names[] = {"id"};
  rl__template_set_variables(var_names, 1);
  rl_template *t = NULL;
  char err[128];
  if (rl__template_new(text, strlen(text), &t, err, sizeof err))
    fail_msg("%s: %s", text, err);
  rl__template_set_variables(NULL, 0);
  return t;
}

/* Expected values that are templates compare with what the user holds:
 * a captured value, its id. */
static void test_expected_values_that_are_templates(void **state) {
  (void)state;
  char *vars[1] = {"42"};
  uint64_t rng = 1;
  rl__template_ctx tctx = {
      .user_id = 7, .seq = 1, .rng = &rng, .vars = vars, .n_vars = 1};
  rl__json_expect j[4] = {
      jexpect("$.id", RL__JSON_EQUALS, "\"{{id}}\""),
      jexpect("$.name", RL__JSON_EQUALS, "\"u{{user_id}}\""),
      jexpect("$.tags", RL__JSON_CONTAINS, "\"{{id}}\""),
      jexpect("$.note", RL__JSON_CONTAINS, "\"user {{user_id}}\""),
  };
  rl_template *ops[4] = {tpl("{{id}}"), tpl("u{{user_id}}"), tpl("{{id}}"),
                         tpl("user {{user_id}}")};
  rl__expect e = {.body_contains = "id {{id}}", .json = j, .n_json = 4};
  rl_template *contains = tpl("id {{id}}");
  rl__step_checks ck = {
      .expect = &e, .contains = contains, .json_operands = ops};
  rl__response r = {0};
  char buf[256];
  int stop;
  /* 42 the number equals "42" the expansion; "42" in a list too. */
  respond(&r, 200,
          "{\"id\": 42, \"name\": \"u7\", \"tags\": [1, 42], "
          "\"note\": \"for user 7\", \"x\": \"id 42\"}",
          NULL, NULL, 0);
  assert_null(
      rl__checks_apply(&ck, &r, NULL, 0, &tctx, NULL, buf, sizeof buf, &stop));
  vars[0] = "43";
  assert_string_equal(
      rl__checks_apply(&ck, &r, NULL, 0, &tctx, NULL, buf, sizeof buf, &stop),
      "response does not contain 'id 43'");
  e.body_contains = NULL;
  assert_string_equal(
      rl__checks_apply(&ck, &r, NULL, 0, &tctx, NULL, buf, sizeof buf, &stop),
      "$.id is 42, expected \"43\"");
  vars[0] = "42";
  tctx.user_id = 8;
  assert_string_equal(
      rl__checks_apply(&ck, &r, NULL, 0, &tctx, NULL, buf, sizeof buf, &stop),
      "$.name is \"u7\", expected \"u8\"");
  for (size_t i = 0; i < 4; i++) {
    jexpect_free(&j[i]);
    rl__template_del(ops[i]);
  }
  rl__template_del(contains);
  rl__response_free(&r);
}

/* A catastrophic pattern on a long body: the match gives up at its
 * limit, and the request fails with a text that says so, whichever check
 * ran it (issue #13: regexec took 13.5 GB on this). */
static void test_a_regex_past_its_limits_fails_the_request(void **state) {
  (void)state;
  size_t n = 200000;
  char *body = malloc(n + 2);
  assert_non_null(body);
  memset(body, 'a', n);
  body[n] = '!';
  body[n + 1] = '\0';
  rl__response r = {0};
  respond(&r, 200, body, NULL, NULL, 0);
  free(body);
  rl__expect e = {.body_matches = "(a+)+$"};
  e.body_re = regex(e.body_matches);
  assert_string_equal(outcome(&e, &r, NULL, 0),
                      "body_matches /(a+)+$/ gave up: over 1000000 "
                      "backtracking steps from one position (the match "
                      "limit)");
  rl__regex_del(e.body_re);

  rl__capture c = {.var = "x",
                   .kind = RL__CAPTURE_REGEX,
                   .arg = "((a+)+)$",
                   .re = regex("((a+)+)$")};
  capture_misses(&c, &r,
                 "capture x: /((a+)+)$/ gave up: over 1000000 backtracking "
                 "steps from one position (the match limit)");
  rl__regex_del(c.re);

  /* A JSON value's text under the same limits. */
  char *doc = malloc(n + 16);
  assert_non_null(doc);
  snprintf(doc, 7, "{\"s\":\"");
  memset(doc + 6, 'a', n);
  snprintf(doc + 6 + n, 4, "!\"}");
  respond(&r, 200, doc, NULL, NULL, 0);
  free(doc);
  rl__json_expect j = jexpect("$.s", RL__JSON_MATCHES, "^(a|aa)+$");
  rl__expect je = {.json = &j, .n_json = 1};
  const char *err = outcome(&je, &r, NULL, 0);
  assert_non_null(strstr(err, "$.s: /^(a|aa)+$/ gave up: "));
  assert_non_null(strstr(err, "limit)"));
  jexpect_free(&j);
  rl__response_free(&r);
}

/* ---- --print-responses' account of a response ---------------------------- */

static char *formatted(const rl__response *r, size_t max_body) {
  rl__buf b;
  rl__buf_init(&b);
  rl__response_format(r, max_body, &b);
  char *text = NULL;
  size_t len = 0;
  assert_int_equal(rl__buf_take(&b, &text, &len), 0);
  return text;
}

static void test_format_headers_then_body(void **state) {
  (void)state;
  rl__response r = {0};
  const rl_kv h[] = {{"content-type", "text/plain"}, {"x-n", "1"}};
  respond(&r, 200, "hello\n", NULL, h, 2);
  char *t = formatted(&r, 100);
  assert_string_equal(t, "content-type: text/plain\nx-n: 1\n\nhello\n");
  free(t);
  rl__response_free(&r);
}

/* gRPC: the plugin's JSON of the message, not the protobuf bytes. */
static void test_format_prefers_the_json(void **state) {
  (void)state;
  rl__response r = {0};
  respond(&r, 0,
          "\x0a\x03"
          "abc",
          "{\"message\":\"abc\"}", NULL, 0);
  char *t = formatted(&r, 100);
  assert_string_equal(t, "{\"message\":\"abc\"}\n");
  free(t);
  rl__response_free(&r);
}

/* A terminal escape, a NUL, a CR in a header: escaped, never raw. */
static void test_format_escapes_control_bytes(void **state) {
  (void)state;
  rl__response r = {0};
  const rl_kv h[] = {{"x-evil", "a\rb\nc"}};
  static const char body[] = "red\x1b[31m\ttab\x7f";
  rl_response in = {.struct_size = sizeof in,
                    .status = 200,
                    .headers = h,
                    .n_headers = 1,
                    .body = (const uint8_t *)"a\0b",
                    .body_len = 3};
  assert_int_equal(rl__response_store(&r, &in), 0);
  char *t = formatted(&r, 100);
  assert_string_equal(t, "x-evil: a\\x0db\\x0ac\n\na\\x00b\n");
  free(t);
  respond(&r, 200, body, NULL, NULL, 0);
  t = formatted(&r, 100);
  assert_string_equal(t, "red\\x1b[31m\ttab\\x7f\n");
  free(t);
  rl__response_free(&r);
}

/* Long bodies are cut, saying how much is left out. */
static void test_format_cuts_long_bodies(void **state) {
  (void)state;
  rl__response r = {0};
  respond(&r, 200, "0123456789", NULL, NULL, 0);
  char *t = formatted(&r, 4);
  assert_string_equal(t, "0123\n... (6 more bytes)\n");
  free(t);
  respond(&r, 204, NULL, NULL, NULL, 0);
  t = formatted(&r, 4);
  assert_true(t == NULL || t[0] == '\0'); /* nothing to show */
  free(t);
  rl__response_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_status_names),
      cmocka_unit_test(test_no_expectations_keep_the_plugins_verdict),
      cmocka_unit_test(test_expected_status_decides_alone),
      cmocka_unit_test(test_expected_grpc_status_by_name),
      cmocka_unit_test(test_other_expectations_only_turn_success_into_failure),
      cmocka_unit_test(test_body_contains_and_matches),
      cmocka_unit_test(test_body_contains_says_when_the_body_was_cut),
      cmocka_unit_test(test_a_regex_past_its_limits_fails_the_request),
      cmocka_unit_test(test_status_sets_and_messages),
      cmocka_unit_test(test_expected_values_that_are_templates),
      cmocka_unit_test(test_json_expectations),
      cmocka_unit_test(test_json_expect_check_messages),
      cmocka_unit_test(test_max_ms),
      cmocka_unit_test(test_no_response_to_check),
      cmocka_unit_test(test_captures_fill_the_users_variables),
      cmocka_unit_test(test_a_capture_miss_stops_the_task),
      cmocka_unit_test(test_a_failed_request_captures_nothing),
      cmocka_unit_test(test_format_headers_then_body),
      cmocka_unit_test(test_format_prefers_the_json),
      cmocka_unit_test(test_format_escapes_control_bytes),
      cmocka_unit_test(test_format_cuts_long_bodies),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

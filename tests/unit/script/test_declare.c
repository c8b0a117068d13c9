/* src/script/declare.c: the requests a Lua class declares at load (its
 * hosts, gRPC methods and protocols), the lookups a call uses, and the
 * reasons a bad declaration is refused with. The runs themselves are
 * tests/integration/test_lua_protocols.py's, against real servers. */
#include <lauxlib.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lualib.h>

#include <cmocka.h>

#include "script/script.h"

/* Declares the class table `text` evaluates to; why gets the reason. */
static int declare(const char *text, int has_target, rl__script_class *k,
                   char *why, size_t whylen) {
  static rl__script s = {.path = "/scripts/t.lua"};
  lua_State *L = luaL_newstate();
  assert_non_null(L);
  char chunk[2048];
  snprintf(chunk, sizeof chunk, "return %s", text);
  assert_int_equal(luaL_dostring(L, chunk), 0);
  memset(k, 0, sizeof *k);
  k->name = "U";
  why[0] = '\0';
  int rc = rl__script_declare(L, lua_gettop(L), &s, k, has_target, why, whylen);
  assert_int_equal(lua_gettop(L), 1); /* the stack as it was */
  lua_close(L);
  return rc;
}

static void test_http_only_class(void **state) {
  (void)state;
  rl__script_class k;
  char why[512];
  assert_int_equal(declare("{}", 0, &k, why, sizeof why), 0);
  /* Six methods, three variants each, to the class's host. */
  assert_int_equal(k.n_requests, 18);
  assert_string_equal(k.requests[0], "{http: 'GET /{{_rl_path}}'}");
  assert_string_equal(k.requests[4],
                      "{http: 'POST /{{_rl_path}}', body: '{{_rl_body}}'}");
  assert_null(k.requests[18]);
  const char *path = NULL;
  assert_int_equal(rl__script_host_request(&k, "http://a:1/x", &path), -1);
  assert_int_equal(rl__script_grpc_method(&k, "p.S/M"), -1);
  assert_int_equal(rl__script_protocol_request(&k, "redis", 1), -1);
  rl__script_declared_free(&k);
}

static void test_hosts_grpc_protocols(void **state) {
  (void)state;
  rl__script_class k;
  char why[512];
  assert_int_equal(
      declare("{hosts = {'http://b:2/', \"https://it's:3\"},"
              " grpc = {proto = 'h.proto', host = 'g:4', methods = {'p.S/M'}},"
              " protocols = {'line'}}",
              0, &k, why, sizeof why),
      0);
  /* No host of its own nor --host, but others: none to its host. */
  assert_int_equal(k.http_default, 0);
  assert_int_equal(k.n_requests, 18 * 2 + 1 + RL__SCRIPT_WORDS);
  assert_string_equal(k.requests[0],
                      "{http: 'GET /{{_rl_path}}', host: 'http://b:2'}");
  /* A quote in a host is doubled in YAML's single quotes. */
  assert_string_equal(k.requests[18],
                      "{http: 'GET /{{_rl_path}}', host: 'https://it''s:3'}");
  /* The proto is relative to the script's folder. */
  assert_string_equal(k.requests[36],
                      "{grpc: 'p.S/M', data: '{{_rl_msg}}', proto: "
                      "'/scripts/h.proto', host: 'g:4'}");
  assert_string_equal(k.requests[37], "{line: '{{_rl_w1}}'}");
  assert_string_equal(k.requests[38], "{line: '{{_rl_w1}} {{_rl_w2}}'}");
  const char *path = NULL;
  /* A URL's host: the trailing '/' of the declared one is not part of
   * it; a longer port is another host. */
  assert_int_equal(rl__script_host_request(&k, "http://b:2/x?y", &path), 0);
  assert_string_equal(path, "/x?y");
  assert_int_equal(rl__script_host_request(&k, "HTTP://B:2", &path), 0);
  assert_string_equal(path, "");
  assert_int_equal(rl__script_host_request(&k, "http://b:23/x", &path), -1);
  assert_int_equal(rl__script_host_request(&k, "https://it's:3?q", &path), 18);
  assert_int_equal(rl__script_grpc_method(&k, "p.S/M"), 0);
  assert_int_equal(k.grpc_first[0], 36);
  assert_int_equal(k.grpc_kinds[0], 0); /* h.proto cannot be read: unary */
  assert_int_equal(rl__script_grpc_method(&k, "M"), 0);
  assert_int_equal(rl__script_grpc_method(&k, "S/M"), 0);
  assert_int_equal(rl__script_grpc_method(&k, "p.S.M"), 0);
  assert_int_equal(rl__script_grpc_method(&k, "p.S/N"), -1);
  assert_int_equal(rl__script_grpc_method(&k, "q.S/M"), -1);
  assert_int_equal(rl__script_protocol_request(&k, "line", 2), 38);
  assert_int_equal(rl__script_protocol_request(&k, "line", 0), -1);
  assert_int_equal(
      rl__script_protocol_request(&k, "line", RL__SCRIPT_WORDS + 1), -1);
  assert_int_equal(rl__script_protocol_request(&k, "redis", 1), -1);
  rl__script_declared_free(&k);
  /* With --host, the class's host's requests come first. */
  assert_int_equal(
      declare("{protocols = {redis = 'redis://r:5'}}", 1, &k, why, sizeof why),
      0);
  assert_int_equal(k.http_default, 1);
  /* No class host here (--host's is not known to the lookup). */
  const char *rest = NULL;
  assert_int_equal(rl__script_host_request(&k, "http://a:1/x", &rest), -1);
  assert_string_equal(k.requests[18],
                      "{redis: '{{_rl_w1}}', host: 'redis://r:5'}");
  assert_int_equal(rl__script_protocol_request(&k, "redis", 1), 18);
  rl__script_declared_free(&k);
  /* max_words: that many word counts per protocol, each word a template. */
  assert_int_equal(declare("{protocols = {'line', 'redis'}, max_words = 40}", 0,
                           &k, why, sizeof why),
                   0);
  assert_int_equal(k.n_requests, 80);
  assert_int_equal(rl__script_protocol_request(&k, "line", 40), 39);
  assert_int_equal(rl__script_protocol_request(&k, "line", 41), -1);
  assert_int_equal(rl__script_protocol_request(&k, "redis", 17), 56);
  assert_true(strstr(k.requests[79], "{{_rl_w39}} {{_rl_w40}}'}"));
  rl__script_declared_free(&k);
}

static void test_the_class_host_by_url(void **state) {
  (void)state;
  rl__script_class k;
  char why[512];
  assert_int_equal(declare("{hosts = {'http://b:2'}}", 1, &k, why, sizeof why),
                   0);
  k.host = "http://a:1/"; /* as read_class sets it (before declare) */
  const char *path = NULL;
  assert_int_equal(rl__script_host_request(&k, "http://a:1/x", &path), 0);
  assert_string_equal(path, "/x");
  assert_int_equal(rl__script_host_request(&k, "http://b:2/y", &path), 18);
  k.host = NULL;
  rl__script_declared_free(&k);
}

static void test_bad_declarations(void **state) {
  (void)state;
  static const struct {
    const char *text, *why;
  } bad[] = {
      {"{grpc = {proto = 'h.proto'}}",
       "grpc: methods = {\"pkg.Service/Method\""},
      {"{grpc = {methods = {}}}", "grpc.methods: an empty list"},
      {"{grpc = {method = {'a'}}}", "grpc: 'method' is not one of its keys"},
      {"{grpc = 'h.proto'}", "grpc: a table {proto ="},
      {"{grpc = {proto = 1, methods = {'a'}}}",
       "grpc.proto: a string, not a number"},
      {"{hosts = {'b:2'}}", "hosts: 'b:2': give http://HOST:PORT"},
      {"{hosts = {'http://b:2/api'}}", "hosts: 'http://b:2/api': a host has"},
      {"{hosts = 'http://b:2'}", "hosts: a list of strings, not a string"},
      {"{protocols = {'line'}, max_words = 257}",
       "max_words: the most words a u:request of this class has, a whole "
       "number from 1 to 256 (default 16)"},
      {"{protocols = {'line'}, max_words = 2.5}", "max_words: the most"},
      {"{protocols = {'line'}, max_words = '20'}", "max_words: the most"},
      {"{protocols = {1}}", "protocols: protocol names (\"redis\")"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    rl__script_class k;
    char why[512];
    assert_int_equal(declare(bad[i].text, 0, &k, why, sizeof why), -1);
    if (!strstr(why, bad[i].why))
      fail_msg("%s: got '%s', expected '%s'", bad[i].text, why, bad[i].why);
    rl__script_declared_free(&k);
  }
}

/* A class whose grpc table names an rl.grpc.proto object: every method
 * of the file by default, a request per message count for the ones whose
 * client streams, the shapes for the calls, short names. */
static void test_proto_object(void **state) {
  (void)state;
  char path[] = "/tmp/rl_test_declare_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  FILE *f = fdopen(fd, "w");
  assert_non_null(f);
  fputs("syntax = \"proto3\"; package p; // rpc Fake (A) returns (B);\n"
        "/* service Hidden { rpc X (A) returns (B); } */\n"
        "service S { rpc U (A) returns (B); rpc Up (stream A) returns (B) {}\n"
        "  rpc Down (A) returns (stream B);\n"
        "  rpc Chat ( stream A ) returns ( stream  B ) {} }\n",
        f);
  fclose(f);
  static rl__script s = {.path = "/scripts/t.lua"};
  lua_State *L = luaL_newstate();
  assert_non_null(L);
  rl__script_open_lib(L);
  char chunk[512];
  snprintf(chunk, sizeof chunk,
           "local p = rl.grpc.proto('%s')\n"
           "return {grpc = {proto = p, host = 'g:4', hosts = {'h:5'}}},\n"
           "       {grpc = {proto = p, methods = {'Down', 'S/Up'}}},\n"
           "       {grpc = {proto = p, methods = {'Nope'}}}",
           path);
  assert_int_equal(luaL_dostring(L, chunk), 0);
  rl__script_class k;
  char why[512];
  memset(&k, 0, sizeof k);
  k.name = "U";
  assert_int_equal(rl__script_declare(L, 1, &s, &k, 0, why, sizeof why), 0);
  assert_int_equal(k.n_grpc, 4);
  assert_string_equal(k.grpc_methods[0], "p.S/Chat");
  assert_string_equal(k.grpc_methods[3], "p.S/Up");
  assert_int_equal(k.grpc_kinds[0],
                   RL__SCRIPT_GRPC_CLIENT | RL__SCRIPT_GRPC_SERVER);
  assert_int_equal(k.grpc_kinds[1], RL__SCRIPT_GRPC_SERVER);
  assert_int_equal(k.grpc_kinds[2], 0);
  assert_int_equal(k.grpc_kinds[3], RL__SCRIPT_GRPC_CLIENT);
  /* One request per method (a list and a stream's options are
   * templates set per call), twice: to g:4, then to h:5 (host=). */
  assert_int_equal(k.grpc_block, 4);
  assert_int_equal(k.n_requests, 2 * k.grpc_block);
  assert_int_equal(rl__script_grpc_host_block(&k, NULL), 0);
  assert_int_equal(rl__script_grpc_host_block(&k, "g:4"), 0);
  assert_int_equal(rl__script_grpc_host_block(&k, "h:5"), 1);
  assert_int_equal(rl__script_grpc_host_block(&k, "x:6"), -1);
  assert_non_null(strstr(k.requests[k.grpc_block], "host: 'h:5'}"));
  assert_int_equal(k.grpc_first[1], 1);
  assert_int_equal(k.grpc_first[3], 3);
  char want[512];
  snprintf(want, sizeof want,
           "{grpc: 'p.S/Chat', data: '{{_rl_list}}', stream_call_count: "
           "'{{_rl_scount}}', stream_call_duration: '{{_rl_sduration}}', "
           "stream_interval: '{{_rl_sinterval}}', "
           "stream_ping_pong: '{{_rl_spingpong}}', proto: '%s', host: 'g:4'}",
           path);
  assert_string_equal(k.requests[0], want);
  snprintf(want, sizeof want,
           "{grpc: 'p.S/Down', data: '{{_rl_msg}}', stream_call_count: "
           "'{{_rl_scount}}', stream_call_duration: '{{_rl_sduration}}', "
           "proto: '%s', host: 'g:4'}",
           path);
  assert_string_equal(k.requests[1], want);
  snprintf(want, sizeof want,
           "{grpc: 'p.S/U', data: '{{_rl_msg}}', proto: '%s', host: 'g:4'}",
           path);
  assert_string_equal(k.requests[2], want);
  snprintf(want, sizeof want,
           "{grpc: 'p.S/Up', data: '{{_rl_list}}', stream_call_count: "
           "'{{_rl_scount}}', stream_call_duration: '{{_rl_sduration}}', "
           "stream_interval: '{{_rl_sinterval}}', proto: '%s', host: 'g:4'}",
           path);
  assert_string_equal(k.requests[3], want);
  assert_int_equal(rl__script_grpc_method(&k, "U"), 2);
  assert_int_equal(rl__script_grpc_method(&k, "Up"), 3);
  rl__script_declared_free(&k);
  memset(&k, 0, sizeof k);
  assert_int_equal(rl__script_declare(L, 2, &s, &k, 0, why, sizeof why), 0);
  assert_int_equal(k.n_grpc, 2);
  assert_string_equal(k.grpc_methods[0], "p.S/Down");
  assert_string_equal(k.grpc_methods[1], "p.S/Up");
  rl__script_declared_free(&k);
  memset(&k, 0, sizeof k);
  assert_int_equal(rl__script_declare(L, 3, &s, &k, 0, why, sizeof why), -1);
  assert_non_null(strstr(why, "grpc.methods: 'Nope' is not a method of /tmp/"));
  rl__script_declared_free(&k);
  assert_int_equal(lua_gettop(L), 3);
  lua_close(L);
  unlink(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_http_only_class),
      cmocka_unit_test(test_hosts_grpc_protocols),
      cmocka_unit_test(test_the_class_host_by_url),
      cmocka_unit_test(test_bad_declarations),
      cmocka_unit_test(test_proto_object),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

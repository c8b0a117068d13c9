/* src/script/cluster.c: a custom message's data, Lua <-> msgpack, and the
 * refusals of bad values and bad bytes (a reason, never a crash). The
 * messages' trips are tests/integration/test_cluster_messages.py's. */
#include <lauxlib.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <lualib.h>
#include <msgpack.h>

#include <cmocka.h>

#include "script/script.h"

/* Packs the value `expr` evaluates to: 0 and the bytes in sb, or -1 with
 * the reason in err. */
static int pack(lua_State *L, const char *expr, msgpack_sbuffer *sb, char *err,
                size_t errlen) {
  char chunk[1024];
  snprintf(chunk, sizeof chunk, "return %s", expr);
  assert_int_equal(luaL_dostring(L, chunk), 0);
  msgpack_packer pk;
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  int top = lua_gettop(L);
  int rc = rl__script_pack_value(L, -1, &pk, err, errlen);
  assert_int_equal(lua_gettop(L), top); /* the stack as it was */
  lua_pop(L, 1);
  return rc;
}

static void test_round_trip(void **state) {
  (void)state;
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  char err[256] = "";
  assert_int_equal(pack(L,
                        "{{name = 'User0'}, {name = 'User1', n = 3, f = 1.5, "
                        "ok = true, [7] = 'seven'}, 'x\\0y', -42, {}}",
                        &sb, err, sizeof err),
                   0);
  /* As msgpack: an array of 5, the integers as integers. */
  msgpack_unpacked up;
  msgpack_unpacked_init(&up);
  size_t off = 0;
  assert_int_equal(msgpack_unpack_next(&up, sb.data, sb.size, &off),
                   MSGPACK_UNPACK_SUCCESS);
  assert_int_equal(up.data.type, MSGPACK_OBJECT_ARRAY);
  assert_int_equal(up.data.via.array.size, 5);
  assert_int_equal(up.data.via.array.ptr[3].type,
                   MSGPACK_OBJECT_NEGATIVE_INTEGER);
  assert_int_equal(up.data.via.array.ptr[1].type, MSGPACK_OBJECT_MAP);
  assert_int_equal(up.data.via.array.ptr[4].type, MSGPACK_OBJECT_ARRAY);
  msgpack_unpacked_destroy(&up);
  /* And back. */
  assert_int_equal(rl__script_push_value(L, sb.data, sb.size, err, sizeof err),
                   0);
  lua_setglobal(L, "v");
  assert_int_equal(
      luaL_dostring(L, "assert(#v == 5 and v[1].name == 'User0')\n"
                       "assert(v[2].n == 3 and v[2].f == 1.5 and v[2].ok)\n"
                       "assert(v[2][7] == 'seven' and v[3] == 'x\\0y')\n"
                       "assert(v[4] == -42 and next(v[5]) == nil)"),
      0);
  /* No data: nil. */
  assert_int_equal(rl__script_push_value(L, NULL, 0, err, sizeof err), 0);
  assert_true(lua_isnil(L, -1));
  lua_close(L);
  msgpack_sbuffer_destroy(&sb);
}

static void test_bad_values_named(void **state) {
  (void)state;
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  char err[256];
  static const struct {
    const char *expr, *reason;
  } bad[] = {
      {"{users = {1, print}}", "data.users[2]: a function cannot be sent"},
      {"{[{}] = 1}", "data: a table key cannot be sent"},
      {"(function() local t = {} t.self = t return t end)()",
       "nested more than"},
      {"coroutine.create(print)", "data: a thread cannot be sent"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    err[0] = '\0';
    assert_int_equal(pack(L, bad[i].expr, &sb, err, sizeof err), -1);
    if (!strstr(err, bad[i].reason))
      fail_msg("%s: got '%s', want '%s'", bad[i].expr, err, bad[i].reason);
    msgpack_sbuffer_destroy(&sb);
  }
  lua_close(L);
}

static void test_bad_bytes_refused(void **state) {
  (void)state;
  lua_State *L = luaL_newstate();
  char err[256];
  static const struct {
    const char *bytes;
    size_t len;
    const char *reason;
  } bad[] = {
      {"\x92\x01", 2, "container of 2 items"},         /* [1, ...] */
      {"\xdd\xff\xff\xff\xff\x01", 6, "container of"}, /* 4G items */
      {"\x01\x02", 2, "bytes after"},                  /* two values */
      {"\xc1", 1, ""},                                 /* never used */
      {"\x81\xc0\x01", 3, "map key is nil"},           /* {nil: 1} */
      {"\xa5"
       "ab",
       3, "cut short"}, /* a short str */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = '\0';
    int top = lua_gettop(L);
    assert_int_equal(
        rl__script_push_value(L, bad[i].bytes, bad[i].len, err, sizeof err),
        -1);
    assert_int_equal(lua_gettop(L), top); /* nothing pushed */
    assert_true(err[0] != '\0');
    if (!strstr(err, bad[i].reason))
      fail_msg("case %zu: got '%s', want '%s'", i, err, bad[i].reason);
  }
  lua_close(L);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_bad_values_named),
      cmocka_unit_test(test_bad_bytes_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

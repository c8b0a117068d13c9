/*
 * The plugin loader: finds plugins by name and path, and refuses broken
 * ones (built by tests/plugins/ in several variants) with a message that
 * names the file and what is wrong.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/host.h"
#include "engine/plugin_loader.h"

#ifndef RL_TEST_FAKE_PLUGIN_DIR
#define RL_TEST_FAKE_PLUGIN_DIR RL_TEST_BINARY_DIR "/tests/fake_plugins"
#endif
#define FAKE(name) RL_TEST_FAKE_PLUGIN_DIR "/" name ".so"

static void refused(const char *path, int expect_rc, const char *const *words) {
  rl__plugin_set set;
  rl__plugin *p = NULL;
  char err[1024] = "";
  rl__plugin_set_init(&set, rl__host());
  int rc = rl__plugin_set_load(&set, path, &p, err, sizeof err);
  assert_int_equal(rc, expect_rc);
  assert_null(p);
  assert_int_equal(set.n, 0);
  assert_non_null(strstr(err, path)); /* names the file */
  for (; *words; words++)
    if (!strstr(err, *words))
      fail_msg("'%s' missing from: %s", *words, err);
  rl__plugin_set_free(&set);
}

static void test_good_by_path(void **state) {
  (void)state;
  rl__plugin_set set;
  rl__plugin *p = NULL, *again = NULL;
  char err[512] = "";
  rl__plugin_set_init(&set, rl__host());
  assert_int_equal(
      rl__plugin_set_load(&set, FAKE("fake_good"), &p, err, sizeof err), 0);
  assert_string_equal(p->desc.name, "fake");
  assert_string_equal(p->desc.version, "9.9.9");
  assert_non_null(rl__plugin_scheme(p, "fake"));
  assert_null(rl__plugin_scheme(p, "http"));
  assert_ptr_equal(rl__plugin_set_find_scheme(&set, "fake"), p);
  /* Loading it again, by path or by name, gives the same plugin. */
  assert_int_equal(
      rl__plugin_set_load(&set, FAKE("fake_good"), &again, err, sizeof err), 0);
  assert_ptr_equal(again, p);
  assert_int_equal(rl__plugin_set_load(&set, "fake", &again, err, sizeof err),
                   0);
  assert_ptr_equal(again, p);
  assert_int_equal(set.n, 1);
  rl__plugin_set_free(&set);
}

static void test_by_name_from_dir_and_env(void **state) {
  (void)state;
  rl__plugin_set set;
  rl__plugin *p = NULL;
  char err[1024] = "";
  rl__plugin_set_init(&set, rl__host());
  rl__plugin_set_add_dir(&set, "/nonexistent/dir");
  rl__plugin_set_add_dir(&set, RL_TEST_FAKE_PLUGIN_DIR);
  assert_int_equal(rl__plugin_set_load(&set, "fake_good", &p, err, sizeof err),
                   0);
  assert_string_equal(p->desc.name, "fake");
  rl__plugin_set_free(&set);

  setenv("RPCLOAD_PLUGIN_PATH", "/nonexistent:" RL_TEST_FAKE_PLUGIN_DIR, 1);
  rl__plugin_set_init(&set, rl__host());
  assert_int_equal(rl__plugin_set_load(&set, "fake_good", &p, err, sizeof err),
                   0);
  rl__plugin_set_free(&set);
  unsetenv("RPCLOAD_PLUGIN_PATH");

  rl__plugin_set_init(&set, rl__host());
  assert_int_equal(
      rl__plugin_set_load(&set, "no_such_proto", &p, err, sizeof err),
      RL_ERR_NOTFOUND);
  assert_non_null(strstr(err, "no_such_proto"));
  rl__plugin_set_free(&set);
}

static void test_wrong_major(void **state) {
  (void)state;
  const char *words[] = {"ABI 2.0", "ABI 1.", "rebuild", NULL};
  refused(FAKE("fake_wrong_major"), RL_ERR_ABI, words);
}

static void test_short_descriptor(void **state) {
  (void)state;
  const char *words[] = {"descriptor is", "bytes", NULL};
  refused(FAKE("fake_short"), RL_ERR_ABI, words);
}

static void test_no_entry_symbol(void **state) {
  (void)state;
  const char *words[] = {"not an rpcload plugin", "rl_plugin_entry", NULL};
  refused(FAKE("fake_no_entry"), RL_ERR_ABI, words);
}

static void test_missing_required_member(void **state) {
  (void)state;
  const char *words[] = {"step_new", NULL};
  refused(FAKE("fake_no_step_new"), RL_ERR_ABI, words);
}

static void test_transport_without_members_refused(void **state) {
  (void)state;
  const char *words[] = {"transport_new", NULL};
  refused(FAKE("fake_transport"), RL_ERR_ABI, words);
}

static void test_transport_needs_abi_1_1(void **state) {
  (void)state;
  const char *words[] = {"transport plugin", "ABI 1.1", NULL};
  refused(FAKE("fake_old_transport"), RL_ERR_ABI, words);
}

static void test_not_a_shared_object(void **state) {
  (void)state;
  const char *words[] = {"cannot load plugin", NULL};
  /* This very test's source file: exists, is not an ELF object. */
  refused(RL_TEST_SOURCE_FILE, RL_ERR_NOTFOUND, words);
}

static void test_newer_minor_loads(void **state) {
  (void)state;
  rl__plugin_set set;
  rl__plugin *p = NULL;
  char err[512] = "";
  rl__plugin_set_init(&set, rl__host());
  assert_int_equal(
      rl__plugin_set_load(&set, FAKE("fake_newer_minor"), &p, err, sizeof err),
      0);
  assert_int_equal(RL_ABI_VERSION_MINOR(p->desc.abi_version), 99);
  assert_non_null(p->desc.step_describe);
  rl__plugin_set_free(&set);
}

static void count_refusal(const char *path, const char *reason, void *arg) {
  (void)path;
  (void)reason;
  (*(int *)arg)++;
}

static void test_scan_skips_broken(void **state) {
  (void)state;
  rl__plugin_set set;
  int refusals = 0;
  rl__plugin_set_init(&set, rl__host());
  rl__plugin_set_add_dir(&set, RL_TEST_FAKE_PLUGIN_DIR);
  rl__plugin_set_scan(&set, count_refusal, &refusals);
  /* fake_good (and fake_newer_minor, same name "fake": first one wins) */
  assert_ptr_not_equal(rl__plugin_set_find_scheme(&set, "fake"), NULL);
  assert_int_equal(refusals, 6);
  rl__plugin_set_free(&set);
}

/* A descriptor in memory (rl__plugin_set_add): checked as a file's is,
 * found by name and scheme like a loaded one, refused with its label. */
static int mem_step_new(const rl_host *host, const rl_step_spec *spec,
                        void **step, char *err, size_t errlen) {
  (void)host;
  (void)spec;
  (void)err;
  (void)errlen;
  *step = NULL;
  return 0;
}
static void mem_step_del(void *step) { (void)step; }
static void mem_step_describe(void *step, const char **type,
                              const char **name) {
  (void)step;
  *type = "mem";
  *name = "mem";
}
static int mem_transport_new(const rl_host *host, rl_loop *loop, void *step,
                             const rl_transport_info *info, void **out) {
  (void)host;
  (void)loop;
  (void)step;
  (void)info;
  *out = NULL;
  return 0;
}
static int mem_transport_submit(void *transport, rl_request *req) {
  (void)transport;
  (void)req;
  return RL_ERR_UNSUPPORTED;
}
static void mem_transport_del(void *transport, int err, const char *reason) {
  (void)transport;
  (void)err;
  (void)reason;
}

static void test_add_from_memory(void **state) {
  (void)state;
  static const rl_scheme schemes[] = {{"mem", 1, 0}, {NULL, 0, 0}};
  rl_plugin d = {
      .abi_version = RL_ABI_VERSION,
      .struct_size = sizeof(rl_plugin),
      .name = "mem",
      .version = "1",
      .schemes = schemes,
      .kind = RL_PLUGIN_TRANSPORT,
      .step_new = mem_step_new,
      .step_del = mem_step_del,
      .step_describe = mem_step_describe,
  };
  rl__plugin_set set;
  rl__plugin *p = NULL, *again = NULL;
  char err[512] = "";
  rl__plugin_set_init(&set, rl__host());
  /* A transport without its transport_* members is refused, naming the
   * label where a file's path would be. */
  assert_int_equal(rl__plugin_set_add(&set, &d, "<test>", &p, err, sizeof err),
                   RL_ERR_ABI);
  assert_null(p);
  assert_non_null(strstr(err, "plugin <test>"));
  assert_non_null(strstr(err, "transport_new"));
  d.abi_version = 2u << 16;
  assert_int_equal(rl__plugin_set_add(&set, &d, "<test>", &p, err, sizeof err),
                   RL_ERR_ABI);
  assert_non_null(strstr(err, "ABI 2.0"));
  assert_int_equal(set.n, 0);
  /* A good one belongs to the set, gets the set's host, and is found by
   * name and scheme like a loaded file. */
  d.abi_version = RL_ABI_VERSION;
  d.transport_new = mem_transport_new;
  d.transport_submit = mem_transport_submit;
  d.transport_del = mem_transport_del;
  assert_int_equal(rl__plugin_set_add(&set, &d, "<test>", &p, err, sizeof err),
                   0);
  assert_non_null(p);
  assert_null(p->dl);
  assert_string_equal(p->path, "<test>");
  assert_ptr_equal(p->host, rl__host());
  assert_ptr_equal(p->desc.transport_new, mem_transport_new);
  assert_ptr_equal(rl__plugin_set_find_scheme(&set, "mem"), p);
  assert_int_equal(rl__plugin_set_load(&set, "mem", &again, err, sizeof err),
                   0);
  assert_ptr_equal(again, p);
  /* The same name again: the one already there. */
  assert_int_equal(
      rl__plugin_set_add(&set, &d, "<other>", &again, err, sizeof err), 0);
  assert_ptr_equal(again, p);
  assert_int_equal(set.n, 1);
  rl__plugin_set_free(&set); /* no dlclose of a NULL handle */
}

/* ABI 1.3: the step keys a plugin declares pick it for scenario steps,
 * and its own keys are found; a plugin built for 1.2 (its descriptor ends
 * before step_keys) serves its schemes' names, whatever lies past its
 * size. */
static void test_step_keys(void **state) {
  (void)state;
  static const rl_scheme schemes[] = {{"mem", 1, 0}, {NULL, 0, 0}};
  static const char *const keys[] = {"memo", "memos", NULL};
  static const rl_option_decl opts[] = {{"file", RL_OPTION_FILE, "a file"},
                                        {NULL, 0, NULL}};
  rl_plugin d = {
      .abi_version = RL_ABI_VERSION,
      .struct_size = sizeof(rl_plugin),
      .name = "mem13",
      .version = "1",
      .schemes = schemes,
      .kind = RL_PLUGIN_TRANSPORT,
      .step_new = mem_step_new,
      .step_del = mem_step_del,
      .step_describe = mem_step_describe,
      .transport_new = mem_transport_new,
      .transport_submit = mem_transport_submit,
      .transport_del = mem_transport_del,
      .step_keys = keys,
      .step_value = RL_STEP_VALUE_REQUEST,
      .step_options = opts,
  };
  rl__plugin_set set;
  rl__plugin *p13 = NULL, *p12 = NULL;
  char err[512] = "";
  rl__plugin_set_init(&set, rl__host());
  assert_int_equal(rl__plugin_set_add(&set, &d, "<1.3>", &p13, err, sizeof err),
                   0);
  assert_true(rl__plugin_serves_key(p13, "memos"));
  assert_false(rl__plugin_serves_key(p13, "mem")); /* keys, not schemes */
  assert_ptr_equal(rl__plugin_set_find_key(&set, "memo"), p13);
  assert_ptr_equal(rl__plugin_step_option(p13, "file"), &opts[0]);
  assert_null(rl__plugin_step_option(p13, "nope"));
  assert_int_equal(p13->desc.step_value, RL_STEP_VALUE_REQUEST);

  d.name = "mem12";
  d.abi_version = (1u << 16) | 2u;
  d.struct_size = (uint32_t)offsetof(rl_plugin, step_keys);
  assert_int_equal(rl__plugin_set_add(&set, &d, "<1.2>", &p12, err, sizeof err),
                   0);
  assert_null(p12->desc.step_keys);
  assert_null(p12->desc.step_options);
  assert_int_equal(p12->desc.step_value, RL_STEP_VALUE_CALL);
  assert_true(rl__plugin_serves_key(p12, "mem"));
  assert_false(rl__plugin_serves_key(p12, "memo"));
  assert_null(rl__plugin_step_option(p12, "file"));
  rl__plugin_set_free(&set);
}

/* ABI 1.4: host_error_prefix is read from a 1.4 descriptor; one built
 * for 1.3 ends before it and reads NULL, whatever lies past its size. */
static void test_host_error_prefix(void **state) {
  (void)state;
  static const rl_scheme schemes[] = {{"mem", 1, 0}, {NULL, 0, 0}};
  rl_plugin d = {
      .abi_version = RL_ABI_VERSION,
      .struct_size = sizeof(rl_plugin),
      .name = "mem14",
      .version = "1",
      .schemes = schemes,
      .kind = RL_PLUGIN_TRANSPORT,
      .step_new = mem_step_new,
      .step_del = mem_step_del,
      .step_describe = mem_step_describe,
      .transport_new = mem_transport_new,
      .transport_submit = mem_transport_submit,
      .transport_del = mem_transport_del,
      .host_error_prefix = "UNAVAILABLE: ",
  };
  rl__plugin_set set;
  rl__plugin *p14 = NULL, *p13 = NULL;
  char err[512] = "";
  rl__plugin_set_init(&set, rl__host());
  assert_int_equal(rl__plugin_set_add(&set, &d, "<1.4>", &p14, err, sizeof err),
                   0);
  assert_string_equal(p14->desc.host_error_prefix, "UNAVAILABLE: ");
  d.name = "mem13";
  d.abi_version = (1u << 16) | 3u;
  d.struct_size = (uint32_t)offsetof(rl_plugin, host_error_prefix);
  assert_int_equal(rl__plugin_set_add(&set, &d, "<1.3>", &p13, err, sizeof err),
                   0);
  assert_null(p13->desc.host_error_prefix);
  /* The host's table of 1.4 has the stream services. */
  assert_true(RL_HOST_HAS_STREAMS(rl__host()));
  assert_non_null(rl__host()->request_event);
  assert_non_null(rl__host()->conn_loop);
  rl__plugin_set_free(&set);
}

static const rl_host *fini_host_seen;
static void fini_with_host(const rl_host *host) { fini_host_seen = host; }

static int ready_never(void *session) {
  (void)session;
  return 0;
}

static const char *key_of(void *step) {
  (void)step;
  return "db=2";
}

/* ABI 1.6: session_ready and step_conn_key are read from a 1.6
 * descriptor; one built for 1.5 ends before them, loads, and reads NULL
 * (always ready, one connection per endpoint) whatever lies past it. */
static void test_a_1_5_descriptor_still_loads(void **state) {
  (void)state;
  static const rl_scheme schemes[] = {{"mem", 1, 0}, {NULL, 0, 0}};
  rl_plugin d = {
      .abi_version = RL_ABI_VERSION,
      .struct_size = sizeof(rl_plugin),
      .name = "mem16",
      .version = "1",
      .schemes = schemes,
      .kind = RL_PLUGIN_TRANSPORT,
      .step_new = mem_step_new,
      .step_del = mem_step_del,
      .step_describe = mem_step_describe,
      .transport_new = mem_transport_new,
      .transport_submit = mem_transport_submit,
      .transport_del = mem_transport_del,
      .session_ready = ready_never,
      .step_conn_key = key_of,
      .fini_host = fini_with_host,
  };
  rl__plugin_set set;
  rl__plugin *p16 = NULL, *p15 = NULL;
  char err[512] = "";
  rl__plugin_set_init(&set, rl__host());
  assert_int_equal(rl__plugin_set_add(&set, &d, "<1.6>", &p16, err, sizeof err),
                   0);
  assert_ptr_equal(p16->desc.session_ready, ready_never);
  assert_ptr_equal(p16->desc.step_conn_key, key_of);
  d.name = "mem15";
  d.abi_version = (1u << 16) | 5u;
  d.struct_size = (uint32_t)offsetof(rl_plugin, session_ready);
  assert_int_equal(rl__plugin_set_add(&set, &d, "<1.5>", &p15, err, sizeof err),
                   0);
  assert_null(p15->desc.session_ready);
  assert_null(p15->desc.step_conn_key);
  assert_null(p15->desc.fini_host);
  /* The host's table of 1.6 has the new services. */
  assert_true(RL_HOST_HAS_CONN_STEP(rl__host()));
  assert_non_null(rl__host()->conn_step);
  assert_non_null(rl__host()->conn_fail);
  assert_non_null(rl__host()->request_refuse);
  assert_true(RL_HOST_HAS_TEMPLATE_TEXT(rl__host()));
  /* fini_host is called instead of fini, with the set's host. */
  fini_host_seen = NULL;
  assert_int_equal(rl__plugin_init(p16), 0);
  rl__plugin_set_free(&set);
  assert_ptr_equal(fini_host_seen, rl__host());
}

static uint32_t streams_both(void *step) {
  (void)step;
  return RL_STEP_STREAMS_CLIENT | RL_STEP_STREAMS_SERVER;
}

/* ABI 1.9: step_streams is read from a 1.9 descriptor; one built for 1.8
 * ends before it and reads NULL (no streams) whatever lies past it; and
 * ABI 1.10's session_read_more likewise for a 1.9 one. */
static void test_a_1_8_descriptor_has_no_step_streams(void **state) {
  (void)state;
  static const rl_scheme schemes[] = {{"mem", 1, 0}, {NULL, 0, 0}};
  rl_plugin d = {
      .abi_version = RL_ABI_VERSION,
      .struct_size = sizeof(rl_plugin),
      .name = "mem19",
      .version = "1",
      .schemes = schemes,
      .kind = RL_PLUGIN_TRANSPORT,
      .step_new = mem_step_new,
      .step_del = mem_step_del,
      .step_describe = mem_step_describe,
      .transport_new = mem_transport_new,
      .transport_submit = mem_transport_submit,
      .transport_del = mem_transport_del,
      .step_streams = streams_both,
  };
  rl__plugin_set set;
  rl__plugin *p19 = NULL, *p18 = NULL;
  char err[512] = "";
  rl__plugin_set_init(&set, rl__host());
  assert_int_equal(rl__plugin_set_add(&set, &d, "<1.9>", &p19, err, sizeof err),
                   0);
  assert_ptr_equal(p19->desc.step_streams, streams_both);
  d.name = "mem18";
  d.abi_version = (1u << 16) | 8u;
  d.struct_size = (uint32_t)offsetof(rl_plugin, step_streams);
  assert_int_equal(rl__plugin_set_add(&set, &d, "<1.8>", &p18, err, sizeof err),
                   0);
  assert_null(p18->desc.step_streams);
  /* ABI 1.10: a 1.9 descriptor ends before session_read_more; the host's
   * table hands a stream's messages to their owner. */
  d.name = "mem19b";
  d.abi_version = (1u << 16) | 9u;
  d.struct_size = (uint32_t)offsetof(rl_plugin, session_read_more);
  rl__plugin *p19b = NULL;
  assert_int_equal(
      rl__plugin_set_add(&set, &d, "<1.9>", &p19b, err, sizeof err), 0);
  assert_ptr_equal(p19b->desc.step_streams, streams_both);
  assert_null(p19b->desc.session_read_more);
  assert_true(RL_HOST_HAS_MESSAGES(rl__host()));
  assert_non_null(rl__host()->request_wants_messages);
  assert_non_null(rl__host()->request_message);
  rl__plugin_set_free(&set);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_good_by_path),
      cmocka_unit_test(test_by_name_from_dir_and_env),
      cmocka_unit_test(test_wrong_major),
      cmocka_unit_test(test_short_descriptor),
      cmocka_unit_test(test_no_entry_symbol),
      cmocka_unit_test(test_missing_required_member),
      cmocka_unit_test(test_transport_without_members_refused),
      cmocka_unit_test(test_transport_needs_abi_1_1),
      cmocka_unit_test(test_not_a_shared_object),
      cmocka_unit_test(test_newer_minor_loads),
      cmocka_unit_test(test_scan_skips_broken),
      cmocka_unit_test(test_add_from_memory),
      cmocka_unit_test(test_step_keys),
      cmocka_unit_test(test_host_error_prefix),
      cmocka_unit_test(test_a_1_5_descriptor_still_loads),
      cmocka_unit_test(test_a_1_8_descriptor_has_no_step_streams),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Unit test of plugins/grpc: run-time protobuf descriptors (pbdesc,
 * pbprotoc) and the proto3 JSON mapping (pbjson, pbwkt).
 *
 * The schema is tests/data/pbtest.proto (proto3: every scalar, nesting,
 * repeated, maps of every key type, oneofs, proto3 optional, the
 * well-known types, two services) and pbtest2.proto (proto2: required,
 * defaults). Pools are made by running protoc, as rpcload does; a few
 * descriptor sets protoc would never write (relative type names, groups,
 * duplicates) are built into this file as bytes.
 *
 * Wire bytes are checked against hand-computed encodings; JSON output
 * against the canonical mapping; every error message in full. The
 * comparison with an independent implementation (Python's protobuf) is in
 * tests/integration/test_pbjson_roundtrip.py.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <rpcload/plugin.h>

#include "grpc/pbdesc.h"
#include "grpc/pbjson.h"

#ifndef RL_TEST_DATA_DIR
#error "RL_TEST_DATA_DIR must name tests/data"
#endif

static rl__pb_pool *pool;  /* pbtest.proto */
static rl__pb_pool *pool2; /* pbtest2.proto */

static const char *const data_dir[] = {RL_TEST_DATA_DIR};

static int setup(void **state) {
  (void)state;
  char err[1024];
  if (rl__pb_pool_new_from_proto(RL_TEST_DATA_DIR "/pbtest.proto", data_dir, 1,
                                 &pool, err, sizeof err) != 0 ||
      rl__pb_pool_new_from_proto(RL_TEST_DATA_DIR "/pbtest2.proto", NULL, 0,
                                 &pool2, err, sizeof err) != 0) {
    fprintf(stderr, "cannot load the test protos: %s\n", err);
    return -1;
  }
  return 0;
}

static int teardown(void **state) {
  (void)state;
  rl__pb_pool_del(pool);
  rl__pb_pool_del(pool2);
  return 0;
}

static const ProtobufCMessageDescriptor *msg_type(const rl__pb_pool *p,
                                                  const char *name) {
  const ProtobufCMessageDescriptor *d = rl__pb_pool_find_message(p, name);
  if (d == NULL)
    fail_msg("no message type %s", name);
  return d;
}

/* The pool holding a type: pbtest2's for rl.test2.*. */
static const rl__pb_pool *pool_of(const char *type) {
  return strncmp(type, "rl.test2.", 9) == 0 ? pool2 : pool;
}

static char *to_hex(const uint8_t *b, size_t n) {
  char *h = malloc(2 * n + 1);
  assert_non_null(h);
  for (size_t i = 0; i < n; i++)
    snprintf(h + 2 * i, 3, "%02x", b[i]);
  h[2 * n] = '\0';
  return h;
}

static uint8_t *from_hex(const char *h, size_t *n) {
  size_t l = strlen(h);
  uint8_t *b = malloc(l / 2 + 1);
  assert_non_null(b);
  for (size_t i = 0; i < l / 2; i++) {
    unsigned v;
    assert_int_equal(sscanf(h + 2 * i, "%2x", &v), 1);
    b[i] = (uint8_t)v;
  }
  *n = l / 2;
  return b;
}

/* JSON as `type` -> wire bytes in hex (caller frees); fails the test on an
 * error. */
static char *encode_hex(const char *type, const char *json) {
  char err[1024];
  uint8_t *bytes;
  size_t len;
  const rl__pb_pool *p = pool_of(type);
  if (rl__pb_json_to_wire(p, msg_type(p, type), json, &bytes, &len, err,
                          sizeof err) != 0)
    fail_msg("%s %s refused: %s", type, json, err);
  char *h = to_hex(bytes, len);
  free(bytes);
  return h;
}

/* The error rl__pb_from_json gives (static buffer), "" if none. */
static const char *json_error(const char *type, const char *json) {
  static char err[1024];
  ProtobufCMessage *m = NULL;
  const rl__pb_pool *p = pool_of(type);
  int rc = rl__pb_from_json(p, msg_type(p, type), json, &m, err, sizeof err);
  if (rc == 0) {
    rl__pb_message_free(m);
    return "";
  }
  assert_null(m);
  assert_true(rc == RL_ERR_INVAL);
  return err;
}

/* ---- pools, protoc, methods -------------------------------------------- */

static void test_list(void **state) {
  (void)state;
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  assert_non_null(f);
  rl__pb_pool_list(pool, f);
  fclose(f);
  assert_string_equal(
      text, "rl.test.TestService\n"
            "  Unary(rl.test.Scalars) returns (rl.test.Outer)\n"
            "  ServerStream(rl.test.Nested) returns (stream rl.test.Nested)\n"
            "  ClientStream(stream rl.test.Nested) returns (rl.test.Nested)\n"
            "  Bidi(stream rl.test.Maps) returns (stream rl.test.Oneofs)\n"
            "rl.test.OtherService\n"
            "  Unary(google.protobuf.Empty) returns (google.protobuf.Empty)\n"
            "  Ping(rl.test.Optionals) returns (rl.test.Wkt)\n");
  free(text);
  assert_int_equal(rl__pb_pool_n_methods(pool), 6);
  assert_null(rl__pb_pool_method(pool, 6));
  assert_int_equal(rl__pb_pool_n_methods(pool2), 0);
}

static void test_find_method(void **state) {
  (void)state;
  static const char *const names[] = {
      "Ping", "OtherService.Ping", "rl.test.OtherService.Ping",
      "rl.test.OtherService/Ping", "/rl.test.OtherService/Ping"};
  char err[512];
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    const rl__pb_method *m = NULL;
    assert_int_equal(
        rl__pb_pool_find_method(pool, names[i], &m, err, sizeof err), 0);
    assert_non_null(m);
    assert_string_equal(m->name, "Ping");
    assert_string_equal(m->service, "rl.test.OtherService");
    assert_string_equal(m->full_name, "rl.test.OtherService.Ping");
    assert_string_equal(m->path, "/rl.test.OtherService/Ping");
    assert_ptr_equal(m->input, msg_type(pool, "rl.test.Optionals"));
    assert_ptr_equal(m->output, msg_type(pool, "rl.test.Wkt"));
    assert_int_equal(m->client_streaming, 0);
    assert_int_equal(m->server_streaming, 0);
  }
  const rl__pb_method *m;
  assert_int_equal(
      rl__pb_pool_find_method(pool, "TestService.Unary", &m, err, sizeof err),
      0);
  assert_string_equal(m->path, "/rl.test.TestService/Unary");
  assert_int_equal(
      rl__pb_pool_find_method(pool, "ServerStream", &m, err, sizeof err), 0);
  assert_int_equal(m->client_streaming, 0);
  assert_int_equal(m->server_streaming, 1);
  assert_int_equal(
      rl__pb_pool_find_method(pool, "ClientStream", &m, err, sizeof err), 0);
  assert_int_equal(m->client_streaming, 1);
  assert_int_equal(m->server_streaming, 0);
  assert_int_equal(rl__pb_pool_find_method(pool, "Bidi", &m, err, sizeof err),
                   0);
  assert_int_equal(m->client_streaming + m->server_streaming, 2);
}

static void test_find_method_errors(void **state) {
  (void)state;
  char err[512];
  const rl__pb_method *m = (const rl__pb_method *)1;
  assert_int_equal(rl__pb_pool_find_method(pool, "Nope", &m, err, sizeof err),
                   RL_ERR_NOTFOUND);
  assert_null(m);
  assert_string_equal(
      err, "unknown method 'Nope'; methods: rl.test.TestService.Unary, "
           "rl.test.TestService.ServerStream, "
           "rl.test.TestService.ClientStream, rl.test.TestService.Bidi, "
           "rl.test.OtherService.Unary, rl.test.OtherService.Ping");
  assert_int_equal(rl__pb_pool_find_method(pool, "Unary", &m, err, sizeof err),
                   RL_ERR_INVAL);
  assert_string_equal(err, "method 'Unary' is ambiguous: it could be "
                           "rl.test.TestService.Unary, "
                           "rl.test.OtherService.Unary");
  /* A suffix must stop at a '.': "ing" is not "Ping". */
  assert_int_equal(rl__pb_pool_find_method(pool, "ing", &m, err, sizeof err),
                   RL_ERR_NOTFOUND);
  assert_int_equal(rl__pb_pool_find_method(pool, "", &m, err, sizeof err),
                   RL_ERR_NOTFOUND);
  assert_int_equal(rl__pb_pool_find_method(pool2, "X", &m, err, sizeof err),
                   RL_ERR_NOTFOUND);
  assert_string_equal(
      err, "unknown method 'X': the descriptor set defines no service");
  /* A short buffer is cut, never overrun. */
  char tiny[16];
  assert_int_equal(rl__pb_pool_find_method(pool, "Nope", &m, tiny, sizeof tiny),
                   RL_ERR_NOTFOUND);
  assert_string_equal(tiny, "unknown method ");
}

static void test_protoc_error_verbatim(void **state) {
  (void)state;
  char err[1024];
  rl__pb_pool *p = (rl__pb_pool *)1;
  assert_int_equal(rl__pb_pool_new_from_proto(RL_TEST_DATA_DIR
                                              "/pbtest_bad.proto",
                                              data_dir, 1, &p, err, sizeof err),
                   RL_ERR_INVAL);
  assert_null(p);
  assert_string_equal(err, "pbtest_bad.proto:8:3: Expected \";\".");
}

static void test_protoc_missing_file_and_import(void **state) {
  (void)state;
  char err[1024];
  rl__pb_pool *p;
  assert_int_equal(rl__pb_pool_new_from_proto(RL_TEST_DATA_DIR "/no_such.proto",
                                              NULL, 0, &p, err, sizeof err),
                   RL_ERR_INVAL);
  assert_non_null(strstr(err, "no_such.proto"));
  /* pbtest.proto imports pbtest_common.proto: found next to it even
   * without -I (its own directory is searched last). */
  assert_int_equal(rl__pb_pool_new_from_proto(RL_TEST_DATA_DIR "/pbtest.proto",
                                              NULL, 0, &p, err, sizeof err),
                   0);
  rl__pb_pool_del(p);
  /* Nor does an -I elsewhere hide it: an empty directory, so that it is
   * surely no parent of the source tree (which may itself live in /tmp). */
  char elsewhere[] = "/tmp/rl-test-pbjson-I-XXXXXX";
  assert_non_null(mkdtemp(elsewhere));
  const char *const tmp[] = {elsewhere};
  assert_int_equal(rl__pb_pool_new_from_proto(RL_TEST_DATA_DIR "/pbtest.proto",
                                              tmp, 1, &p, err, sizeof err),
                   0);
  rl__pb_pool_del(p);
  assert_int_equal(rmdir(elsewhere), 0);
  /* An import that is nowhere: protoc's lines, as protoc wrote them. */
  char dir[] = "/tmp/rl-test-pbjson-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[64];
  snprintf(path, sizeof path, "%s/imp.proto", dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs("syntax = \"proto3\";\nimport \"nope/missing.proto\";\n", f);
  fclose(f);
  int rc = rl__pb_pool_new_from_proto(path, NULL, 0, &p, err, sizeof err);
  unlink(path);
  rmdir(dir);
  assert_int_equal(rc, RL_ERR_INVAL);
  assert_string_equal(err, "nope/missing.proto: File not found.\n"
                           "imp.proto:2:1: Import \"nope/missing.proto\" was "
                           "not found or had errors.");
}

static void test_protoc_ok_but_unsupported(void **state) {
  (void)state;
  char err[1024];
  rl__pb_pool *p;
  /* protoc accepts a proto2 group; the error names the user's file, not
   * the temporary descriptor set. */
  assert_int_equal(rl__pb_pool_new_from_proto(RL_TEST_DATA_DIR
                                              "/pbtest_group.proto",
                                              NULL, 0, &p, err, sizeof err),
                   RL_ERR_INVAL);
  assert_string_equal(err, RL_TEST_DATA_DIR "/pbtest_group.proto: descriptor "
                                            "set: field 'rl.grp.M.grp': groups "
                                            "are not supported (protobuf-c "
                                            "cannot encode them)");
}

static void test_protoc_not_installed(void **state) {
  (void)state;
  char err[1024];
  rl__pb_pool *p;
  assert_int_equal(setenv("RPCLOAD_PROTOC", "/nonexistent/protoc", 1), 0);
  int rc = rl__pb_pool_new_from_proto(RL_TEST_DATA_DIR "/pbtest.proto",
                                      data_dir, 1, &p, err, sizeof err);
  unsetenv("RPCLOAD_PROTOC");
  assert_int_equal(rc, RL_ERR_NOTFOUND);
  assert_string_equal(err, "cannot run /nonexistent/protoc: No such file or "
                           "directory (install protobuf-compiler, or give a "
                           "descriptor set made beforehand with --protoset)");
}

/* Descriptor sets protoc does not write, made with Python's descriptor_pb2
 * (see the test for what each holds). */
static const char rel_set[] =
    "0aa1010a0972656c2e70726f746f1203612e62225d0a054f7574657212130a06696e5f"
    "6e6572180120013205496e6e657212140a056f7468657218022001280b3205622e546f"
    "7012100a046b696e641803200132044b696e641a170a05496e6e6572120e0a06765f61"
    "6c756518012001280522100a03546f7012090a016e1801200128092a160a044b696e64"
    "12060a024b30100012060a024b311001620670726f746f33";
static const char dup_set[] =
    "0a190a07782e70726f746f12017022030a014d620670726f746f330a190a07792e7072"
    "6f746f12017022030a014d620670726f746f33";
static const char group_set[] =
    "0a370a07672e70726f746f12016722210a014d12150a0367727018012001280a32082e"
    "672e4d2e4772701a050a03477270620670726f746f32";
static const char unresolved_set[] =
    "0a300a07752e70726f746f120175221a0a014d12150a017818012001280b320a2e752e"
    "4d697373696e67620670726f746f33";
static const char dup_number_set[] =
    "0a2f0a076e2e70726f746f12016e22190a014d12090a01781801200128051209"
    "0a0179180120012805620670726f746f33";

static int load_hex(const char *hex, rl__pb_pool **p, char *err,
                    size_t errlen) {
  size_t n;
  uint8_t *b = from_hex(hex, &n);
  int rc = rl__pb_pool_new_from_descriptor_set(b, n, p, err, errlen);
  free(b);
  return rc;
}

static void test_hand_made_sets(void **state) {
  (void)state;
  char err[1024];
  rl__pb_pool *p;
  /*
   * package a.b; message Outer { message Inner { int32 v_alue = 1; }
   *   Inner in_ner = 1;   (type_name "Inner", no type, no json_name)
   *   b.Top other = 2;    (type_name "b.Top": found in a.b)
   *   Kind kind = 3; }    (type_name "Kind", no type: an enum)
   * message Top { string n = 1; } enum Kind { K0 = 0; K1 = 1; }
   */
  assert_int_equal(load_hex(rel_set, &p, err, sizeof err), 0);
  const ProtobufCMessageDescriptor *outer = msg_type(p, ".a.b.Outer");
  assert_int_equal(outer->n_fields, 3);
  assert_int_equal(outer->fields[0].type, PROTOBUF_C_TYPE_MESSAGE);
  assert_ptr_equal(outer->fields[0].descriptor, msg_type(p, "a.b.Outer.Inner"));
  assert_ptr_equal(outer->fields[1].descriptor, msg_type(p, "a.b.Top"));
  assert_int_equal(outer->fields[2].type, PROTOBUF_C_TYPE_ENUM);
  assert_ptr_equal(outer->fields[2].descriptor,
                   rl__pb_pool_find_enum(p, "a.b.Kind"));
  assert_null(rl__pb_pool_find_enum(p, "a.b.Outer"));
  assert_null(rl__pb_pool_find_message(p, "a.b.Kind"));
  /* json_name computed: in_ner -> inNer, v_alue -> vAlue. */
  uint8_t *bytes;
  size_t len;
  assert_int_equal(rl__pb_json_to_wire(p, outer,
                                       "{\"inNer\": {\"vAlue\": 5}, \"other\": "
                                       "{\"n\": \"x\"}, \"kind\": \"K1\"}",
                                       &bytes, &len, err, sizeof err),
                   0);
  char *h = to_hex(bytes, len);
  assert_string_equal(h, "0a020805"
                         "12030a0178"
                         "1801");
  free(h);
  free(bytes);
  rl__pb_pool_del(p);

  assert_int_equal(load_hex(dup_set, &p, err, sizeof err), RL_ERR_INVAL);
  assert_string_equal(err, "descriptor set: 'p.M' is defined twice");
  assert_int_equal(load_hex(group_set, &p, err, sizeof err), RL_ERR_INVAL);
  assert_string_equal(err, "descriptor set: field 'g.M.grp': groups are not "
                           "supported (protobuf-c cannot encode them)");
  assert_int_equal(load_hex(unresolved_set, &p, err, sizeof err), RL_ERR_INVAL);
  assert_string_equal(err, "descriptor set: field 'u.M.x': type '.u.Missing' "
                           "is not defined (a file missing from the set? "
                           "protoc needs --include_imports)");
  assert_int_equal(load_hex(dup_number_set, &p, err, sizeof err), RL_ERR_INVAL);
  assert_string_equal(err, "descriptor set: message 'n.M' uses number 1 "
                           "twice");
  assert_int_equal(load_hex("ffff", &p, err, sizeof err), RL_ERR_INVAL);
  assert_null(p);
  assert_string_equal(err, "not a FileDescriptorSet: protobuf-c cannot decode "
                           "these 2 bytes (make one with protoc "
                           "--include_imports --descriptor_set_out=FILE)");
  /* An empty set is a valid, empty pool. */
  assert_int_equal(rl__pb_pool_new_from_descriptor_set((const uint8_t *)"", 0,
                                                       &p, err, sizeof err),
                   0);
  assert_int_equal(rl__pb_pool_n_methods(p), 0);
  rl__pb_pool_del(p);
  assert_int_equal(
      rl__pb_pool_new_from_file("/nonexistent/x.protoset", &p, err, sizeof err),
      RL_ERR_IO);
  assert_string_equal(err, "cannot read '/nonexistent/x.protoset': No such "
                           "file or directory");
}

static void test_set_without_imports(void **state) {
  (void)state;
  char path[] = "/tmp/rl-test-pbjson-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "protoc -I %s --descriptor_set_out=%s %s/pbtest.proto",
           RL_TEST_DATA_DIR, path, RL_TEST_DATA_DIR);
  assert_int_equal(system(cmd), 0);
  char err[1024];
  rl__pb_pool *p;
  int rc = rl__pb_pool_new_from_file(path, &p, err, sizeof err);
  unlink(path);
  assert_int_equal(rc, RL_ERR_INVAL);
  /* The first unresolved reference, prefixed with the file. */
  assert_non_null(strstr(err, ": descriptor set: field 'rl.test."));
  assert_non_null(strstr(err, "is not defined (a file missing from the set? "
                              "protoc needs --include_imports)"));
  assert_int_equal(strncmp(err, path, strlen(path)), 0);
}

/* ---- descriptors and layouts ------------------------------------------- */

static size_t type_size(ProtobufCType t) {
  switch (t) {
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
  case PROTOBUF_C_TYPE_DOUBLE:
    return 8;
  case PROTOBUF_C_TYPE_BYTES:
    return sizeof(ProtobufCBinaryData);
  case PROTOBUF_C_TYPE_STRING:
  case PROTOBUF_C_TYPE_MESSAGE:
    return sizeof(void *);
  default:
    return 4;
  }
}

typedef struct span {
  size_t at, size;
  int oneof; /* members of one oneof share their union: may overlap */
} span;

/* Layout invariants of one message type: members inside the struct,
 * aligned, overlapping only within a oneof's union; lookup tables sound. */
static void check_layout(const ProtobufCMessageDescriptor *d) {
  const rl__pb_msg_info *info = rl__pb_msg_info_get(d);
  assert_non_null(info);
  assert_ptr_equal(info->desc, d);
  assert_true(d->sizeof_message >= sizeof(ProtobufCMessage));
  assert_int_equal(d->sizeof_message % _Alignof(max_align_t) % 8, 0);
  span *s = calloc(2 * d->n_fields + 1, sizeof *s);
  assert_non_null(s);
  size_t n = 0;
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    if (i > 0)
      assert_true(f->id > d->fields[i - 1].id);
    assert_ptr_equal(protobuf_c_message_descriptor_get_field(d, f->id), f);
    assert_ptr_equal(
        protobuf_c_message_descriptor_get_field_by_name(d, f->name), f);
    assert_int_equal(rl__pb_msg_find_field(info, f->name, strlen(f->name)),
                     (int)i);
    const char *jn = info->fields[i].json_name;
    assert_int_equal(rl__pb_msg_find_field(info, jn, strlen(jn)), (int)i);
    size_t size = f->label == PROTOBUF_C_LABEL_REPEATED ? sizeof(void *)
                                                        : type_size(f->type);
    assert_int_equal(f->offset % (size >= 8 ? 8 : size), 0);
    assert_true(f->offset >= sizeof(ProtobufCMessage));
    assert_true(f->offset + size <= d->sizeof_message);
    int oneof = info->fields[i].oneof;
    s[n++] = (span){f->offset, size, oneof};
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
      assert_true(oneof >= 0);
      assert_int_equal(f->quantifier_offset, info->oneofs[oneof].case_offset);
    } else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      assert_int_equal(f->quantifier_offset % sizeof(size_t), 0);
      s[n++] = (span){f->quantifier_offset, sizeof(size_t), -1};
    } else if (f->quantifier_offset != 0) {
      assert_int_equal(f->label, PROTOBUF_C_LABEL_OPTIONAL);
      s[n++] = (span){f->quantifier_offset, sizeof(protobuf_c_boolean), -1};
    }
  }
  for (unsigned o = 0; o < info->n_oneofs; o++)
    s[n++] = (span){info->oneofs[o].case_offset, sizeof(uint32_t), -1};
  for (size_t a = 0; a < n; a++) {
    for (size_t b = a + 1; b < n; b++) {
      int overlap =
          s[a].at < s[b].at + s[b].size && s[b].at < s[a].at + s[a].size;
      if (overlap && !(s[a].oneof >= 0 && s[a].oneof == s[b].oneof))
        fail_msg("%s: members at %zu and %zu overlap", d->name, s[a].at,
                 s[b].at);
    }
  }
  free(s);
  for (unsigned i = 1; i < d->n_fields; i++)
    assert_true(strcmp(d->fields[d->fields_sorted_by_name[i - 1]].name,
                       d->fields[d->fields_sorted_by_name[i]].name) < 0);
}

static void test_layouts(void **state) {
  (void)state;
  static const char *const types[] = {"rl.test.Scalars",
                                      "rl.test.Repeated",
                                      "rl.test.Nested",
                                      "rl.test.Outer",
                                      "rl.test.Outer.Inner",
                                      "rl.test.Outer.Inner.Deep",
                                      "rl.test.Maps",
                                      "rl.test.Maps.StrIntEntry",
                                      "rl.test.Maps.BoolStrEntry",
                                      "rl.test.Oneofs",
                                      "rl.test.Optionals",
                                      "rl.test.Wkt",
                                      "rl.common.Shared",
                                      "google.protobuf.Timestamp",
                                      "google.protobuf.Value",
                                      "google.protobuf.Struct",
                                      "google.protobuf.Struct.FieldsEntry",
                                      "google.protobuf.Any",
                                      "google.protobuf.Empty"};
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
    check_layout(msg_type(pool, types[i]));
  check_layout(msg_type(pool2, "rl.test2.Legacy"));

  /* Labels and flags, as protoc-c would have generated them. */
  const ProtobufCMessageDescriptor *d = msg_type(pool, "rl.test.Optionals");
  const ProtobufCFieldDescriptor *f =
      protobuf_c_message_descriptor_get_field_by_name(d, "oi32");
  assert_int_equal(f->label, PROTOBUF_C_LABEL_OPTIONAL);
  assert_true(f->quantifier_offset != 0);
  f = protobuf_c_message_descriptor_get_field_by_name(d, "os");
  assert_int_equal(f->label, PROTOBUF_C_LABEL_OPTIONAL);
  assert_int_equal(f->quantifier_offset, 0);
  assert_null(f->default_value);
  f = protobuf_c_message_descriptor_get_field_by_name(d, "plain");
  assert_int_equal(f->label, PROTOBUF_C_LABEL_NONE);
  assert_int_equal(f->quantifier_offset, 0);
  const rl__pb_msg_info *info = rl__pb_msg_info_get(d);
  assert_int_equal(info->n_oneofs, 0); /* synthetic oneofs are not kept */
  assert_int_equal(info->fields[0].proto3_optional, 1);
  assert_int_equal(info->proto3, 1);

  d = msg_type(pool, "rl.test.Repeated");
  f = protobuf_c_message_descriptor_get_field_by_name(d, "i32");
  assert_true(f->flags & PROTOBUF_C_FIELD_FLAG_PACKED);
  f = protobuf_c_message_descriptor_get_field_by_name(d, "unpacked");
  assert_false(f->flags & PROTOBUF_C_FIELD_FLAG_PACKED);
  f = protobuf_c_message_descriptor_get_field_by_name(d, "s");
  assert_false(f->flags & PROTOBUF_C_FIELD_FLAG_PACKED);

  d = msg_type(pool, "rl.test.Oneofs");
  info = rl__pb_msg_info_get(d);
  assert_int_equal(info->n_oneofs, 2);
  assert_string_equal(info->oneofs[0].name, "choice");
  assert_string_equal(info->oneofs[1].name, "second");
  f = protobuf_c_message_descriptor_get_field_by_name(d, "text");
  assert_true(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF);
  assert_int_equal(f->label, PROTOBUF_C_LABEL_NONE);

  d = msg_type(pool, "rl.test.Maps");
  info = rl__pb_msg_info_get(d);
  assert_int_equal(info->fields[0].is_map, 1);
  assert_int_equal(
      rl__pb_msg_info_get(msg_type(pool, "rl.test.Maps.StrIntEntry"))
          ->map_entry,
      1);

  d = msg_type(pool, "rl.test.Outer");
  info = rl__pb_msg_info_get(d);
  assert_int_equal(rl__pb_msg_find_field(info, "renamed", 7), 5);
  assert_int_equal(rl__pb_msg_find_field(info, "custom", 6), 5);
  assert_int_equal(rl__pb_msg_find_field(info, "snakeCaseName", 13), 4);
  assert_int_equal(rl__pb_msg_find_field(info, "snake_case_name", 15), 4);
  assert_int_equal(rl__pb_msg_find_field(info, "renamedX", 7), 5);
  assert_int_equal(rl__pb_msg_find_field(info, "rename", 6), -1);
  assert_int_equal(rl__pb_msg_find_field(info, "zzz", 3), -1);
  assert_string_equal(info->file, "pbtest.proto");

  assert_int_equal(
      rl__pb_msg_info_get(msg_type(pool, "google.protobuf.Any"))->wkt,
      RL_PB_WKT_ANY);
  assert_int_equal(
      rl__pb_msg_info_get(msg_type(pool, "google.protobuf.BytesValue"))->wkt,
      RL_PB_WKT_WRAPPER);
  assert_int_equal(
      rl__pb_msg_info_get(msg_type(pool, "google.protobuf.Empty"))->wkt,
      RL_PB_WKT_NONE);

  /* Enums: distinct numbers sorted, every name (aliases too) findable. */
  const ProtobufCEnumDescriptor *e =
      rl__pb_pool_find_enum(pool, "rl.test.Aliased");
  assert_non_null(e);
  assert_int_equal(e->n_values, 2);
  assert_int_equal(e->n_value_names, 3);
  assert_string_equal(e->values[1].name, "STARTED");
  assert_int_equal(
      protobuf_c_enum_descriptor_get_value_by_name(e, "RUNNING")->value, 1);
  e = rl__pb_pool_find_enum(pool, "rl.test.Color");
  assert_int_equal(e->values[0].value, -1);
  assert_string_equal(protobuf_c_enum_descriptor_get_value(e, 3)->name, "BLUE");
  assert_null(protobuf_c_enum_descriptor_get_value(e, 4));

  /* Descriptors not made by a pool have no info. */
  ProtobufCMessageDescriptor fake = {
      .magic = PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC, .name = "x.Fake"};
  assert_null(rl__pb_msg_info_get(&fake));
  assert_null(rl__pb_msg_info_get(NULL));
  char err[256];
  ProtobufCMessage *m;
  assert_int_equal(rl__pb_from_json(pool, &fake, "{}", &m, err, sizeof err),
                   RL_ERR_INVAL);
  assert_string_equal(err, "message type x.Fake is not from a descriptor pool");
}

static void test_proto2_defaults(void **state) {
  (void)state;
  const ProtobufCMessageDescriptor *d = msg_type(pool2, "rl.test2.Legacy");
  ProtobufCMessage *m = rl__pb_message_new(d);
  assert_non_null(m);
#define MEMBER(type, name)                                                     \
  (*(type *)((char *)m +                                                       \
             protobuf_c_message_descriptor_get_field_by_name(d, name)          \
                 ->offset))
  assert_string_equal(MEMBER(char *, "name"), "anon");
  assert_int_equal(MEMBER(int32_t, "count"), 7);
  assert_int_equal(MEMBER(int32_t, "kind"), 1); /* the first value */
  assert_int_equal(MEMBER(int32_t, "kind2"), 2);
  assert_int_equal(MEMBER(ProtobufCBinaryData, "blob").len, 3);
  assert_memory_equal(MEMBER(ProtobufCBinaryData, "blob").data, "a\001b", 3);
  assert_true(isinf(MEMBER(double, "ratio")) && MEMBER(double, "ratio") < 0);
  assert_int_equal(MEMBER(protobuf_c_boolean, "on"), 1);
  assert_true(MEMBER(uint64_t, "big") == UINT64_MAX);
  MEMBER(int32_t, "id") = 9;
#undef MEMBER
  /* Defaults are not sent; the required id is. */
  uint8_t *b;
  size_t n;
  assert_int_equal(rl__pb_encode(m, &b, &n), 0);
  char *h = to_hex(b, n);
  assert_string_equal(h, "0809");
  free(h);
  free(b);
  rl__pb_message_free(m);
  rl__pb_message_free(NULL);
  /* Explicitly set to their defaults, proto2 fields are sent. */
  h = encode_hex("rl.test2.Legacy", "{\"id\": 1, \"name\": \"anon\", "
                                    "\"count\": 7, \"values\": [1, 2], "
                                    "\"packedValues\": [3, 4]}");
  assert_string_equal(h, "0801120461"
                         "6e6f6e1807300130023a020304");
  free(h);
}

/* ---- JSON to wire ---------------------------------------------------------
 */

static void test_wire_bytes(void **state) {
  (void)state;
  static const struct {
    const char *type, *json, *hex;
  } cases[] = {
      {"rl.test.Scalars", "{}", ""},
      {"rl.test.Scalars", "{\"i32\": 150}", "089601"},
      {"rl.test.Scalars", "{\"i32\": -1}", "08ffffffffffffffffff01"},
      {"rl.test.Scalars", "{\"s32\": -1, \"s64\": \"-2\"}", "28013003"},
      {"rl.test.Scalars", "{\"fl\": 1.5, \"db\": -2.25}",
       "5d0000c03f6100000000000002c0"},
      {"rl.test.Scalars",
       "{\"b\": true, \"s\": \"hi\", \"by\": \"AQID\", \"color\": \"RED\", "
       "\"farAway\": 1}",
       "6801720268697a0301020380010180ea3001"},
      {"rl.test.Scalars", "{\"f32\": 1, \"f64\": \"2\", \"sf32\": -1}",
       "3d01000000"
       "410200000000000000"
       "4dffffffff"},
      {"rl.test.Scalars", "{\"u64\": \"18446744073709551615\"}",
       "20ffffffffffffffffff01"},
      /* Defaults are not sent in proto3. */
      {"rl.test.Scalars",
       "{\"i32\": 0, \"s\": \"\", \"b\": false, \"by\": \"\", \"color\": "
       "\"COLOR_UNSPECIFIED\", \"db\": 0}",
       ""},
      {"rl.test.Repeated", "{\"i32\": [1, 2, 300], \"unpacked\": [1, 2]}",
       "0a040102ac0210011002"},
      {"rl.test.Repeated",
       "{\"s\": [\"a\", \"\"], \"nested\": [{}, {\"x\": 1}]}",
       "7201617200"
       "8a0100"
       "8a01020801"},
      {"rl.test.Oneofs", "{\"text\": \"\"}", "1200"},
      {"rl.test.Oneofs", "{\"num\": 0, \"flag\": false}", "08004000"},
      {"rl.test.Optionals", "{\"oi32\": 0, \"os\": \"\"}", "08001200"},
      {"rl.test.Optionals", "{\"onested\": {}, \"plain\": 0}", "1a00"},
      {"rl.test.Maps", "{\"strInt\": {\"a\": 1}}", "0a050a01611001"},
      {"rl.test.Maps", "{\"boolStr\": {\"true\": \"T\"}}", "62050801120154"},
      {"rl.test.Maps", "{\"s64Str\": {\"-1\": \"\"}}", "3a020801"},
      {"rl.test.Wkt",
       "{\"ts\": \"1972-01-01T10:00:20.021Z\", \"dur\": \"-1.5s\"}",
       "0a0a08b4e78b1e10c0de810a121608ffffffffffffffffff011080b6ca91feffffffff"
       "01"},
      {"rl.test.Wkt", "{\"i32w\": 0, \"sw\": \"\"}", "32006a00"},
      {"rl.test.Wkt", "{\"val\": null}", "22020800"},
      {"rl.test.Wkt", "{\"fm\": \"a.bC,d\"}", "7a0a0a05612e625f630a0164"},
      {"rl.test.Wkt",
       "{\"any\": {\"@type\": \"type.googleapis.com/rl.test.Nested\", \"x\": "
       "5}}",
       "8201280a22"
       "747970652e676f6f676c65617069732e636f6d2f"
       "726c2e746573742e4e6573746564"
       "12020805"},
      {"google.protobuf.Int32Value", "7", "0807"},
      {"google.protobuf.Timestamp", "\"1970-01-01T00:00:01.5+00:00\"",
       "08011080cab5ee01"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *h = encode_hex(cases[i].type, cases[i].json);
    if (strcmp(h, cases[i].hex) != 0)
      fail_msg("%s %s: got %s, want %s", cases[i].type, cases[i].json, h,
               cases[i].hex);
    free(h);
  }
}

/* ---- round trips: JSON -> message -> wire -> message -> JSON ---------------
 */

static char *round_trip(const char *type, const char *json, unsigned flags) {
  char err[1024];
  const rl__pb_pool *p = pool_of(type);
  const ProtobufCMessageDescriptor *d = msg_type(p, type);
  uint8_t *bytes;
  size_t len;
  if (rl__pb_json_to_wire(p, d, json, &bytes, &len, err, sizeof err) != 0)
    fail_msg("%s %s refused: %s", type, json, err);
  ProtobufCMessage *m;
  assert_int_equal(rl__pb_decode(d, bytes, len, &m, err, sizeof err), 0);
  free(bytes);
  char *out;
  if (rl__pb_to_json(p, m, flags, &out, err, sizeof err) != 0)
    fail_msg("%s %s: to_json: %s", type, json, err);
  rl__pb_message_free(m);
  return out;
}

static void test_round_trips(void **state) {
  (void)state;
  static const struct {
    const char *type, *in, *out;
  } cases[] = {
      {"rl.test.Scalars",
       "{\"i32\": 150, \"i64\": \"-1\", \"u32\": 4294967295, \"u64\": "
       "\"18446744073709551615\", \"s32\": -2147483648, \"s64\": "
       "\"-9223372036854775808\", \"f32\": 4294967295, \"f64\": "
       "\"18446744073709551615\", \"sf32\": -5, \"sf64\": \"-6\", \"fl\": 1.5, "
       "\"db\": -2.25, \"b\": true, \"s\": \"h\\u00e9 \\\"q\\\" \\n\\u0001\", "
       "\"by\": \"AAEC/w==\", \"color\": \"BLUE\", \"aliased\": \"RUNNING\", "
       "\"far_away\": 7}",
       "{\"i32\":150,\"i64\":\"-1\",\"u32\":4294967295,\"u64\":"
       "\"18446744073709551615\",\"s32\":-2147483648,\"s64\":"
       "\"-9223372036854775808\",\"f32\":4294967295,\"f64\":"
       "\"18446744073709551615\",\"sf32\":-5,\"sf64\":\"-6\",\"fl\":1.5,\"db\":"
       "-2.25,\"b\":true,\"s\":\"h\xc3\xa9 \\\"q\\\" \\n\\u0001\",\"by\":"
       "\"AAEC/"
       "w==\",\"color\":\"BLUE\",\"aliased\":\"STARTED\",\"farAway\":7}"},
      {"rl.test.Scalars",
       "{\"fl\": \"NaN\", \"db\": \"-Infinity\", \"i64\": 12, \"u64\": 1e3, "
       "\"i32\": \"-7\", \"color\": 42}",
       "{\"i32\":-7,\"i64\":\"12\",\"u64\":\"1000\",\"fl\":\"NaN\",\"db\":"
       "\"-Infinity\",\"color\":42}"},
      {"rl.test.Scalars", "{\"fl\": 0.1, \"db\": 0.1, \"by\": \"-_8\"}",
       "{\"fl\":0.1,\"db\":0.1,\"by\":\"+/8=\"}"},
      {"rl.test.Scalars", "{\"fl\": 3.4028235e38, \"db\": 5e-324}",
       "{\"fl\":3.4028235e+38,\"db\":5e-324}"},
      {"rl.test.Scalars", "{\"fl\": 1e-45, \"db\": 2.2250738585072014e-308}",
       "{\"fl\":1.4013e-45,\"db\":2.2250738585072014e-308}"},
      {"rl.test.Repeated",
       "{\"i32\": [1, -2], \"unpacked\": [3], \"s\": [\"a\", \"\"], \"by\": "
       "[\"AQ==\"], \"color\": [\"RED\", 9], \"nested\": [{\"x\": 1}, {}], "
       "\"b\": [true, false], \"fl\": [0.25], \"u64\": [\"1\"]}",
       "{\"i32\":[1,-2],\"unpacked\":[3],\"u64\":[\"1\"],\"fl\":[0.25],\"b\":"
       "[true,false],\"s\":[\"a\",\"\"],\"by\":[\"AQ==\"],\"color\":[\"RED\",9]"
       ","
       "\"nested\":[{\"x\":1},{}]}"},
      {"rl.test.Outer",
       "{\"inner\": {\"x\": 1, \"deep\": {\"label\": \"d\"}, \"deeps\": [{}]}, "
       "\"shared\": {\"id\": \"s\", \"level\": \"HIGH\"}, \"level\": 1, "
       "\"snake_case_name\": \"n\", \"custom\": 3, \"mode\": \"FAST\"}",
       "{\"inner\":{\"x\":1,\"deep\":{\"label\":\"d\"},\"deeps\":[{}]},"
       "\"shared\":{\"id\":\"s\",\"level\":\"HIGH\"},\"level\":\"LOW\","
       "\"snakeCaseName\":\"n\",\"renamed\":3,\"mode\":\"FAST\"}"},
      {"rl.test.Maps",
       "{\"strInt\": {\"a\": 1, \"b\": 2}, \"i64Str\": {\"-5\": \"x\"}, "
       "\"u64Str\": {\"18446744073709551615\": \"y\"}, \"boolStr\": "
       "{\"false\": \"F\"}, \"strMsg\": {\"k\": {}}, \"strEnum\": {\"e\": "
       "\"GREEN\"}, \"strBytes\": {\"b\": \"AQ==\"}, \"f32Str\": {\"7\": "
       "\"c\"}, \"sf32Str\": {\"-9\": \"e\"}}",
       "{\"strInt\":{\"a\":1,\"b\":2},\"i64Str\":{\"-5\":\"x\"},\"u64Str\":{"
       "\"18446744073709551615\":\"y\"},\"f32Str\":{\"7\":\"c\"},\"sf32Str\":{"
       "\"-9\":\"e\"},\"boolStr\":{\"false\":\"F\"},\"strMsg\":{\"k\":{}},"
       "\"strEnum\":{\"e\":\"GREEN\"},\"strBytes\":{\"b\":\"AQ==\"}}"},
      {"rl.test.Oneofs",
       "{\"nested\": {\"x\": 1}, \"other\": \"o\", \"big\": \"5\"}",
       "{\"nested\":{\"x\":1},\"other\":\"o\",\"big\":\"5\"}"},
      {"rl.test.Oneofs", "{\"text\": \"\", \"flag\": false}",
       "{\"text\":\"\",\"flag\":false}"},
      {"rl.test.Oneofs", "{\"text\": null, \"raw\": \"AQ==\"}",
       "{\"raw\":\"AQ==\"}"},
      {"rl.test.Optionals",
       "{\"oi32\": 0, \"os\": \"\", \"onested\": {}, \"ob\": false, "
       "\"ocolor\": \"COLOR_UNSPECIFIED\", \"oby\": \"\", \"odb\": 0, "
       "\"oi64\": \"0\", \"plain\": 0}",
       "{\"oi32\":0,\"os\":\"\",\"onested\":{},\"ob\":false,\"ocolor\":"
       "\"COLOR_UNSPECIFIED\",\"oby\":\"\",\"odb\":0,\"oi64\":\"0\"}"},
      {"rl.test.Wkt",
       "{\"ts\": \"1972-01-01T10:00:20.021Z\", \"dur\": \"-1.5s\", \"st\": "
       "{\"a\": [1, \"x\", null, true, {}]}, \"val\": null, \"lv\": [], "
       "\"i32w\": 0, \"u64w\": \"5\", \"flw\": \"Infinity\", \"sw\": \"s\", "
       "\"byw\": \"AQ==\", \"bw\": false, \"fm\": \"a.bC,d\", \"empty\": {}, "
       "\"nv\": null, \"tss\": [\"2024-02-29T12:00:00+01:30\"], \"vals\": "
       "{\"n\": null}}",
       "{\"ts\":\"1972-01-01T10:00:20.021Z\",\"dur\":\"-1.500s\",\"st\":{"
       "\"a\":[1,\"x\",null,true,{}]},\"val\":null,\"lv\":[],\"i32w\":0,"
       "\"u64w\":\"5\",\"flw\":\"Infinity\",\"bw\":false,\"sw\":\"s\",\"byw\":"
       "\"AQ==\",\"fm\":\"a.bC,d\",\"empty\":{},\"tss\":["
       "\"2024-02-29T10:30:00Z\"],\"vals\":{\"n\":null}}"},
      {"rl.test.Wkt",
       "{\"ts\": \"1969-12-31T23:59:59.000001Z\", \"dur\": \"0.000000001s\", "
       "\"any\": {\"@type\": \"type.googleapis.com/rl.test.Nested\", \"x\": "
       "5}}",
       "{\"ts\":\"1969-12-31T23:59:59.000001Z\",\"dur\":\"0.000000001s\","
       "\"any\":{\"@type\":\"type.googleapis.com/rl.test.Nested\",\"x\":5}}"},
      {"rl.test.Wkt",
       "{\"ts\": \"0001-01-01T00:00:00Z\", \"dur\": \"315576000000s\"}",
       "{\"ts\":\"0001-01-01T00:00:00Z\",\"dur\":\"315576000000s\"}"},
      {"rl.test.Wkt",
       "{\"ts\": \"9999-12-31T23:59:59.999999999Z\", \"dur\": \"12.000100s\"}",
       "{\"ts\":\"9999-12-31T23:59:59.999999999Z\",\"dur\":\"12.000100s\"}"},
      {"rl.test.Wkt",
       "{\"any\": {\"@type\": "
       "\"type.googleapis.com/google.protobuf.Duration\", "
       "\"value\": \"2s\"}}",
       "{\"any\":{\"@type\":\"type.googleapis.com/google.protobuf.Duration\","
       "\"value\":\"2s\"}}"},
      {"rl.test.Wkt", "{\"any\": {}}", "{\"any\":{}}"},
      {"google.protobuf.Value", "[1, {\"a\": null}, \"x\"]",
       "[1,{\"a\":null},\"x\"]"},
      {"google.protobuf.Value", "{}", "{}"},
      {"google.protobuf.Timestamp", "\"2000-01-01T00:00:00Z\"",
       "\"2000-01-01T00:00:00Z\""},
      {"google.protobuf.Int64Value", "\"-3\"", "\"-3\""},
      {"google.protobuf.BoolValue", "null", "false"},
      {"google.protobuf.FieldMask", "\"\"", "\"\""},
      {"google.protobuf.Empty", "{}", "{}"},
      {"rl.test2.Legacy",
       "{\"id\": 1, \"name\": \"anon\", \"kind\": 1, \"values\": [1], "
       "\"packedValues\": [2], \"ratio\": 0.5, \"next\": {\"id\": 2}, "
       "\"number\": 0}",
       "{\"id\":1,\"name\":\"anon\",\"kind\":\"KIND_ONE\",\"values\":[1],"
       "\"packedValues\":[2],\"ratio\":0.5,\"next\":{\"id\":2},\"number\":0}"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *out = round_trip(cases[i].type, cases[i].in, 0);
    if (strcmp(out, cases[i].out) != 0)
      fail_msg("%s %s:\n got %s\nwant %s", cases[i].type, cases[i].in, out,
               cases[i].out);
    free(out);
  }
}

static void test_to_json_flags(void **state) {
  (void)state;
  char *out = round_trip("rl.test.Scalars", "{}", RL_PB_JSON_EMIT_DEFAULTS);
  assert_string_equal(
      out, "{\"i32\":0,\"i64\":\"0\",\"u32\":0,\"u64\":\"0\",\"s32\":0,"
           "\"s64\":\"0\",\"f32\":0,\"f64\":\"0\",\"sf32\":0,\"sf64\":\"0\","
           "\"fl\":0,\"db\":0,\"b\":false,\"s\":\"\",\"by\":\"\",\"color\":"
           "\"COLOR_UNSPECIFIED\",\"aliased\":\"ALIASED_UNSPECIFIED\","
           "\"farAway\":0}");
  free(out);
  /* Presence-tracking fields (optional, oneof, messages) stay out. */
  out = round_trip("rl.test.Optionals", "{}", RL_PB_JSON_EMIT_DEFAULTS);
  assert_string_equal(out, "{\"plain\":0}");
  free(out);
  out = round_trip("rl.test.Oneofs", "{}", RL_PB_JSON_EMIT_DEFAULTS);
  assert_string_equal(out, "{\"other\":\"\"}");
  free(out);
  out = round_trip("rl.test.Outer", "{}", RL_PB_JSON_EMIT_DEFAULTS);
  assert_string_equal(out, "{\"inners\":[],\"level\":\"LEVEL_UNSPECIFIED\","
                           "\"snakeCaseName\":\"\",\"renamed\":0,\"mode\":"
                           "\"MODE_UNSPECIFIED\"}");
  free(out);
  out = round_trip("rl.test.Maps", "{\"strInt\": {\"a\": 0}}",
                   RL_PB_JSON_EMIT_DEFAULTS | RL_PB_JSON_PROTO_NAMES);
  assert_non_null(strstr(out, "{\"str_int\":{\"a\":0},\"i32_str\":{},"));
  free(out);
  out = round_trip("rl.test.Outer",
                   "{\"snakeCaseName\": \"x\", \"renamed\": 2, \"mode\": "
                   "\"FAST\", \"shared\": {\"level\": \"HIGH\"}}",
                   RL_PB_JSON_PROTO_NAMES | RL_PB_JSON_ENUMS_AS_INTS);
  assert_string_equal(out, "{\"shared\":{\"level\":2},\"snake_case_name\":"
                           "\"x\",\"custom\":2,\"mode\":1}");
  free(out);
  out = round_trip("rl.test.Outer",
                   "{\"inner\": {\"x\": 1, \"deeps\": [{\"label\": \"a\"}, "
                   "{}]}, \"inners\": [], \"mode\": \"FAST\"}",
                   RL_PB_JSON_PRETTY);
  assert_string_equal(out, "{\n"
                           "  \"inner\": {\n"
                           "    \"x\": 1,\n"
                           "    \"deeps\": [\n"
                           "      {\n"
                           "        \"label\": \"a\"\n"
                           "      },\n"
                           "      {}\n"
                           "    ]\n"
                           "  },\n"
                           "  \"mode\": \"FAST\"\n"
                           "}");
  free(out);
  out = round_trip("rl.test.Maps", "{}", RL_PB_JSON_PRETTY);
  assert_string_equal(out, "{}");
  free(out);
}

static void test_to_json_edge_cases(void **state) {
  (void)state;
  char err[512];
  char *out;
  /* Strings that are not UTF-8 (from the wire) still make valid JSON. */
  const ProtobufCMessageDescriptor *d = msg_type(pool, "rl.test.Scalars");
  size_t n;
  uint8_t *b = from_hex("7207"
                        "61ff62c363c3a9",
                        &n);
  ProtobufCMessage *m;
  assert_int_equal(rl__pb_decode(d, b, n, &m, err, sizeof err), 0);
  free(b);
  assert_int_equal(rl__pb_to_json(NULL, m, 0, &out, err, sizeof err), 0);
  assert_string_equal(out, "{\"s\":\"a\\ufffdb\\ufffdc\xc3\xa9\"}");
  free(out);
  rl__pb_message_free(m);

  /* Corrupt bytes do not decode. */
  b = from_hex("0a05", &n);
  m = (ProtobufCMessage *)1;
  assert_int_equal(rl__pb_decode(d, b, n, &m, err, sizeof err), RL_ERR_PROTO);
  assert_null(m);
  assert_string_equal(err, "cannot decode 2 bytes as rl.test.Scalars (another "
                           "message type, or corrupt)");
  free(b);

  /* Values that have no JSON form are refused, naming the field. */
  static const struct {
    const char *type, *hex, *err;
  } bad[] = {
      {"rl.test.Wkt", "0a0b08ffffffffffffffffff01", /* ts.seconds = -1 ok */
       NULL},
      {"rl.test.Wkt", "0a0b0880808080808080808001",
       "field 'ts': timestamp out of range (seconds -9223372036854775808, "
       "nanos 0)"},
      {"rl.test.Wkt",
       "120d0801"
       "10ffffffffffffffffff01",
       "field 'dur': duration out of range (seconds 1, nanos -1)"},
      {"rl.test.Wkt", "7a040a026142",
       "field 'fm': field mask path 'aB' has an upper-case letter: it has no "
       "JSON form"},
      {"rl.test.Wkt", "7a050a03615f42",
       "field 'fm': field mask path 'a_B': '_' must come before a lower-case "
       "letter to have a JSON form"},
      {"rl.test.Wkt", "7a040a02615f",
       "field 'fm': field mask path 'a_': '_' must come before a lower-case "
       "letter to have a JSON form"},
      {"rl.test.Wkt", "8201100a0b782f6e6f2e537563682e54120100",
       "field 'any': @type \"x/no.Such.T\": no.Such.T is not in the "
       "descriptor set"},
      {"rl.test.Wkt",
       "82011a0a147479706573"
       "2f726c2e746573742e4e6573746564"
       "12020a05",
       "field 'any': the value of an Any does not decode as rl.test.Nested"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const ProtobufCMessageDescriptor *t = msg_type(pool, bad[i].type);
    b = from_hex(bad[i].hex, &n);
    m = NULL;
    if (rl__pb_decode(t, b, n, &m, err, sizeof err) != 0)
      fail_msg("case %zu: %s", i, err);
    free(b);
    out = NULL;
    int rc = rl__pb_to_json(pool, m, 0, &out, err, sizeof err);
    if (bad[i].err == NULL) {
      assert_int_equal(rc, 0);
    } else {
      assert_int_equal(rc, RL_ERR_INVAL);
      assert_null(out);
      assert_string_equal(err, bad[i].err);
    }
    free(out);
    rl__pb_message_free(m);
  }
}

/* ---- errors
 * ------------------------------------------------------------------ */

static void test_errors(void **state) {
  (void)state;
  static const struct {
    const char *type, *json, *err;
  } cases[] = {
      {"rl.test.Scalars", "{\"i32\": \"x\"}",
       "field 'i32': expected an integer, got string \"x\""},
      {"rl.test.Scalars", "{\"i32\": \"\"}",
       "field 'i32': expected an integer, got string \"\""},
      {"rl.test.Scalars", "{\"i32\": \" 5\"}",
       "field 'i32': expected an integer, got string \" 5\""},
      {"rl.test.Scalars", "{\"i32\": 3000000000}",
       "field 'i32': 3000000000 is out of range for int32"},
      {"rl.test.Scalars", "{\"sf32\": -2147483649}",
       "field 'sf32': -2147483649 is out of range for sfixed32"},
      {"rl.test.Scalars", "{\"u32\": -1}",
       "field 'u32': -1 is out of range for uint32"},
      {"rl.test.Scalars", "{\"f32\": \"4294967296\"}",
       "field 'f32': \"4294967296\" is out of range for fixed32"},
      {"rl.test.Scalars", "{\"u64\": \"-5\"}",
       "field 'u64': \"-5\" is out of range for uint64"},
      {"rl.test.Scalars", "{\"i64\": \"9223372036854775808\"}",
       "field 'i64': \"9223372036854775808\" is out of range for int64"},
      {"rl.test.Scalars", "{\"s64\": 1e19}",
       "field 's64': 1e+19 is out of range for sint64"},
      {"rl.test.Scalars", "{\"i32\": 1.5}",
       "field 'i32': expected an integer, got number 1.5"},
      {"rl.test.Scalars", "{\"i32\": \"1.5\"}",
       "field 'i32': expected an integer, got string \"1.5\""},
      {"rl.test.Scalars", "{\"i32\": true}",
       "field 'i32': expected an integer, got true"},
      {"rl.test.Scalars", "{\"i64\": [1]}",
       "field 'i64': expected an integer, got an array"},
      {"rl.test.Scalars", "{\"fl\": 1e39}",
       "field 'fl': 1e+39 is out of range for float"},
      {"rl.test.Scalars", "{\"fl\": \"-1e39\"}",
       "field 'fl': \"-1e39\" is out of range for float"},
      {"rl.test.Scalars", "{\"db\": \"1e999\"}",
       "field 'db': \"1e999\" is out of range for double"},
      {"rl.test.Scalars", "{\"db\": \"nan\"}",
       "field 'db': expected a number, got string \"nan\""},
      {"rl.test.Scalars", "{\"db\": \"1x\"}",
       "field 'db': expected a number, got string \"1x\""},
      {"rl.test.Scalars", "{\"db\": false}",
       "field 'db': expected a number, got false"},
      {"rl.test.Scalars", "{\"b\": \"true\"}",
       "field 'b': expected true or false, got string \"true\""},
      {"rl.test.Scalars", "{\"b\": 1}",
       "field 'b': expected true or false, got number 1"},
      {"rl.test.Scalars", "{\"s\": 5}",
       "field 's': expected a string, got number 5"},
      {"rl.test.Scalars", "{\"s\": {}}",
       "field 's': expected a string, got an object"},
      {"rl.test.Scalars", "{\"by\": \"!!\"}",
       "field 'by': invalid base64: '!' at offset 0"},
      {"rl.test.Scalars", "{\"by\": \"AQ\\u00e9\"}",
       "field 'by': invalid base64: byte 0xc3 at offset 2"},
      {"rl.test.Scalars", "{\"by\": \"A\"}",
       "field 'by': invalid base64: wrong length (1 characters)"},
      {"rl.test.Scalars", "{\"by\": \"AQ=\"}",
       "field 'by': invalid base64: wrong length (3 characters)"},
      {"rl.test.Scalars", "{\"by\": 12}",
       "field 'by': expected a base64 string, got number 12"},
      {"rl.test.Scalars", "{\"color\": \"PURPLE\"}",
       "field 'color': unknown value \"PURPLE\" for enum rl.test.Color "
       "(values: NEGATIVE, COLOR_UNSPECIFIED, RED, GREEN, BLUE)"},
      {"rl.test.Scalars", "{\"color\": \"red\"}",
       "field 'color': unknown value \"red\" for enum rl.test.Color (values: "
       "NEGATIVE, COLOR_UNSPECIFIED, RED, GREEN, BLUE)"},
      {"rl.test.Scalars", "{\"color\": 2147483648}",
       "field 'color': 2147483648 is out of range for enum"},
      {"rl.test.Scalars", "{\"color\": {}}",
       "field 'color': expected an enum name or number, got an object"},
      {"rl.test.Scalars", "{\"nope\": 1}",
       "field 'nope': no such field in rl.test.Scalars (fields: i32, i64, "
       "u32, u64, s32, s64, f32, f64, sf32, sf64, fl, db, b, s, by, color, "
       "aliased, farAway)"},
      {"rl.test.Scalars", "{\"FarAway\": 1}",
       "field 'FarAway': no such field in rl.test.Scalars (fields: i32, i64, "
       "u32, u64, s32, s64, f32, f64, sf32, sf64, fl, db, b, s, by, color, "
       "aliased, farAway)"},
      {"rl.test.Scalars", "{\"far_away\": 1, \"farAway\": 2}",
       "field 'farAway': set twice (as 'far_away' and as 'farAway')"},
      {"rl.test.Scalars", "[1]",
       "expected an object for rl.test.Scalars, got an array"},
      {"rl.test.Scalars", "null",
       "expected an object for rl.test.Scalars, got null"},
      {"rl.test.Scalars", "{\"i32\": 1,}",
       "invalid JSON: string or '}' expected near '}' (line 1, column 11)"},
      {"rl.test.Scalars", "", "invalid JSON: the text is empty"},
      {"rl.test.Scalars", " \n\t", "invalid JSON: the text is empty"},
      {"rl.test.Scalars", "{\"i32\": 1, \"i32\": 2}",
       "invalid JSON: duplicate object key near '\"i32\"' (line 1, column 16)"},
      {"rl.test.Scalars", "{\"s\": \"a\\u0000b\"}",
       "invalid JSON: a string holds \\u0000, which protobuf-c strings cannot "
       "(line 1, column 16)"},
      {"rl.test.Scalars", "{\"u64\": 18446744073709551615}",
       "invalid JSON: too big integer near '18446744073709551615' (line 1, "
       "column 28); write integers above 9223372036854775807 as strings"},
      {"rl.test.Outer", "{\"inner\": {\"x\": \"a\"}}",
       "field 'inner.x': expected an integer, got string \"a\""},
      {"rl.test.Outer", "{\"inners\": [{}, {\"deep\": {\"label\": 5}}]}",
       "field 'inners[1].deep.label': expected a string, got number 5"},
      {"rl.test.Outer", "{\"inner\": 5}",
       "field 'inner': expected an object for rl.test.Outer.Inner, got number "
       "5"},
      {"rl.test.Outer", "{\"shared\": {\"level\": \"MEDIUM\"}}",
       "field 'shared.level': unknown value \"MEDIUM\" for enum "
       "rl.common.Level (values: LEVEL_UNSPECIFIED, LOW, HIGH)"},
      {"rl.test.Repeated", "{\"i32\": 5}",
       "field 'i32': expected an array, got number 5"},
      {"rl.test.Repeated", "{\"i32\": [1, \"x\"]}",
       "field 'i32[1]': expected an integer, got string \"x\""},
      {"rl.test.Repeated", "{\"s\": [\"a\", null]}",
       "field 's[1]': null is not allowed in a repeated field"},
      {"rl.test.Repeated", "{\"nested\": [null]}",
       "field 'nested[0]': null is not allowed in a repeated field"},
      {"rl.test.Repeated", "{\"nested\": [{\"x\": 1}, {\"y\": 2}]}",
       "field 'nested[1].y': no such field in rl.test.Nested (fields: x, "
       "name, child)"},
      {"rl.test.Maps", "{\"i32Str\": {\"x\": \"a\"}}",
       "field 'i32Str[\"x\"]': map key: expected an integer (int32)"},
      {"rl.test.Maps", "{\"u64Str\": {\"1e3\": \"a\"}}",
       "field 'u64Str[\"1e3\"]': map key: expected an integer (uint64)"},
      {"rl.test.Maps", "{\"i32Str\": {\"3000000000\": \"a\"}}",
       "field 'i32Str[\"3000000000\"]': \"3000000000\" is out of range for "
       "int32"},
      {"rl.test.Maps", "{\"boolStr\": {\"yes\": \"a\"}}",
       "field 'boolStr[\"yes\"]': map key: expected \"true\" or \"false\""},
      {"rl.test.Maps", "{\"strInt\": {\"a\": null}}",
       "field 'strInt[\"a\"]': null is not allowed as a map value"},
      {"rl.test.Maps", "{\"strInt\": {\"a\": \"b\"}}",
       "field 'strInt[\"a\"]': expected an integer, got string \"b\""},
      {"rl.test.Maps", "{\"strInt\": []}",
       "field 'strInt': expected an object (a map), got an array"},
      {"rl.test.Maps", "{\"strMsg\": {\"k\": {\"x\": []}}}",
       "field 'strMsg[\"k\"].x': expected an integer, got an array"},
      {"rl.test.Maps", "{\"strEnum\": {\"k\": \"PINK\"}}",
       "field 'strEnum[\"k\"]': unknown value \"PINK\" for enum rl.test.Color "
       "(values: NEGATIVE, COLOR_UNSPECIFIED, RED, GREEN, BLUE)"},
      {"rl.test.Oneofs", "{\"num\": 1, \"text\": \"a\"}",
       "field 'text': oneof 'choice' already has 'num' set"},
      {"rl.test.Oneofs", "{\"flag\": true, \"num\": 1, \"big\": 2}",
       "field 'big': oneof 'second' already has 'flag' set"},
      {"rl.test.Wkt", "{\"ts\": \"yesterday\"}",
       "field 'ts': expected an RFC 3339 timestamp "
       "(\"1972-01-01T10:00:20.021Z\"), got string \"yesterday\""},
      {"rl.test.Wkt", "{\"ts\": 0}",
       "field 'ts': expected an RFC 3339 timestamp "
       "(\"1972-01-01T10:00:20.021Z\"), got number 0"},
      {"rl.test.Wkt", "{\"ts\": \"2023-02-29T00:00:00Z\"}",
       "field 'ts': expected an RFC 3339 timestamp "
       "(\"1972-01-01T10:00:20.021Z\"), got string \"2023-02-29T00:00:00Z\""},
      {"rl.test.Wkt", "{\"ts\": \"2023-01-01T00:00:00\"}",
       "field 'ts': expected an RFC 3339 timestamp "
       "(\"1972-01-01T10:00:20.021Z\"), got string \"2023-01-01T00:00:00\""},
      {"rl.test.Wkt", "{\"ts\": \"2023-01-01T00:00:00.1234567891Z\"}",
       "field 'ts': expected an RFC 3339 timestamp "
       "(\"1972-01-01T10:00:20.021Z\"), got string "
       "\"2023-01-01T00:00:00.1234567891Z\""},
      {"rl.test.Wkt", "{\"ts\": \"0000-12-31T23:59:59Z\"}",
       "field 'ts': timestamp \"0000-12-31T23:59:59Z\" is out of range (years "
       "1 to 9999)"},
      {"rl.test.Wkt", "{\"ts\": \"9999-12-31T23:59:59-00:01\"}",
       "field 'ts': timestamp \"9999-12-31T23:59:59-00:01\" is out of range "
       "(years 1 to 9999)"},
      {"rl.test.Wkt", "{\"dur\": \"5\"}",
       "field 'dur': expected a duration in seconds (\"1.5s\"), got string "
       "\"5\""},
      {"rl.test.Wkt", "{\"dur\": \"1.s\"}",
       "field 'dur': expected a duration in seconds (\"1.5s\"), got string "
       "\"1.s\""},
      {"rl.test.Wkt", "{\"dur\": 5}",
       "field 'dur': expected a duration in seconds (\"1.5s\"), got number 5"},
      {"rl.test.Wkt", "{\"dur\": \"315576000001s\"}",
       "field 'dur': duration \"315576000001s\" is out of range "
       "(+-315576000000s)"},
      {"rl.test.Wkt", "{\"dur\": \"99999999999999999999999s\"}",
       "field 'dur': duration \"99999999999999999999999s\" is out of range "
       "(+-315576000000s)"},
      {"rl.test.Wkt", "{\"fm\": \"a_b\"}",
       "field 'fm': field mask path 'a_b' must be lowerCamelCase (no '_')"},
      {"rl.test.Wkt", "{\"fm\": [\"a\"]}",
       "field 'fm': expected a field mask string (\"a.bC,d\"), got an array"},
      {"rl.test.Wkt", "{\"any\": {\"x\": 1}}",
       "field 'any': a google.protobuf.Any needs an \"@type\" string "
       "(\"type.googleapis.com/pkg.Message\")"},
      {"rl.test.Wkt", "{\"any\": 1}",
       "field 'any': expected an object for google.protobuf.Any, got number 1"},
      {"rl.test.Wkt", "{\"any\": {\"@type\": \"type.googleapis.com/no.Such\"}}",
       "field 'any': @type \"type.googleapis.com/no.Such\": no.Such is not in "
       "the descriptor set (import its .proto)"},
      {"rl.test.Wkt",
       "{\"any\": {\"@type\": \"type.googleapis.com/rl.test.Nested\", \"y\": "
       "1}}",
       "field 'any.y': no such field in rl.test.Nested (fields: x, name, "
       "child)"},
      {"rl.test.Wkt",
       "{\"any\": {\"@type\": "
       "\"type.googleapis.com/google.protobuf.Duration\", "
       "\"value\": \"2s\", \"x\": 1}}",
       "field 'any': an Any holding google.protobuf.Duration needs exactly "
       "\"@type\" and \"value\""},
      {"rl.test.Wkt",
       "{\"any\": {\"@type\": "
       "\"type.googleapis.com/google.protobuf.Duration\", "
       "\"value\": 2}}",
       "field 'any.value': expected a duration in seconds (\"1.5s\"), got "
       "number 2"},
      {"rl.test.Wkt", "{\"st\": [1]}",
       "field 'st': expected an object for google.protobuf.Struct, got an "
       "array"},
      {"rl.test.Wkt", "{\"st\": {\"a\": {\"b\": [1, {\"c\": \"\\u0000\"}]}}}",
       "invalid JSON: a string holds \\u0000, which protobuf-c strings cannot "
       "(line 1, column 37)"},
      {"rl.test.Wkt", "{\"lv\": {}}",
       "field 'lv': expected an array for google.protobuf.ListValue, got an "
       "object"},
      {"rl.test.Wkt", "{\"i32w\": \"x\"}",
       "field 'i32w': expected an integer, got string \"x\""},
      {"rl.test.Wkt", "{\"bw\": {\"value\": true}}",
       "field 'bw': expected true or false, got an object"},
      {"rl.test.Wkt", "{\"nv\": 1.5}",
       "field 'nv': expected an integer, got number 1.5"},
      {"rl.test.Wkt", "{\"vals\": {\"a\": {\"b\": [{\"c\": 1, \"d\": 2}]}}}",
       ""},
      {"google.protobuf.Timestamp", "{}",
       "expected an RFC 3339 timestamp (\"1972-01-01T10:00:20.021Z\"), got an "
       "object"},
      {"rl.test2.Legacy", "{\"name\": \"x\"}",
       "required field 'id' of rl.test2.Legacy is missing"},
      {"rl.test2.Legacy", "{\"id\": 1, \"next\": {}}",
       "field 'next': required field 'id' of rl.test2.Legacy is missing"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *got = json_error(cases[i].type, cases[i].json);
    if (strcmp(got, cases[i].err) != 0)
      fail_msg("%s %s:\n got: %s\nwant: %s", cases[i].type, cases[i].json, got,
               cases[i].err);
  }
}

static void test_nesting_limit(void **state) {
  (void)state;
  /* 100 nested messages are fine; 101 are refused (before jansson's own
   * limit, and before the stack could suffer). */
  for (int depth = 99; depth <= 100; depth++) {
    size_t len = (size_t)depth * 12 + 3;
    char *j = malloc(len);
    assert_non_null(j);
    size_t k = 0;
    for (int i = 0; i < depth; i++)
      k += (size_t)sprintf(j + k, "{\"child\": ");
    k += (size_t)sprintf(j + k, "{}");
    for (int i = 0; i < depth; i++)
      j[k++] = '}';
    j[k] = '\0';
    const char *got = json_error("rl.test.Nested", j);
    if (depth == 99)
      assert_string_equal(got, "");
    else
      assert_non_null(strstr(got, ": nested deeper than 100 messages"));
    free(j);
  }
  /* Struct values nest the same way. */
  char j[121];
  memset(j, '[', 60);
  memset(j + 60, ']', 60);
  j[120] = '\0';
  assert_non_null(strstr(json_error("google.protobuf.Value", j),
                         ": nested deeper than 100 messages"));
}

static void test_from_json_len(void **state) {
  (void)state;
  /* The JSON need not be NUL-terminated: only len bytes are read. */
  const char text[] = "{\"i32\": 150}garbage";
  char err[256];
  ProtobufCMessage *m;
  const ProtobufCMessageDescriptor *d = msg_type(pool, "rl.test.Scalars");
  assert_int_equal(rl__pb_from_json_len(pool, d, text, 12, &m, err, sizeof err),
                   0);
  uint8_t *b;
  size_t n;
  assert_int_equal(rl__pb_encode(m, &b, &n), 0);
  assert_int_equal(n, 3);
  assert_memory_equal(b, "\x08\x96\x01", 3);
  free(b);
  rl__pb_message_free(m);
  assert_int_equal(rl__pb_from_json_len(pool, d, text, 19, &m, err, sizeof err),
                   RL_ERR_INVAL);
  assert_string_equal(err, "invalid JSON: end of file expected near 'garbage' "
                           "(line 1, column 19)");
  /* A zero-length error buffer is never written. */
  assert_int_equal(rl__pb_from_json(pool, d, "{\"x\": 1}", &m, NULL, 0),
                   RL_ERR_INVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_list),
      cmocka_unit_test(test_find_method),
      cmocka_unit_test(test_find_method_errors),
      cmocka_unit_test(test_protoc_error_verbatim),
      cmocka_unit_test(test_protoc_missing_file_and_import),
      cmocka_unit_test(test_protoc_ok_but_unsupported),
      cmocka_unit_test(test_protoc_not_installed),
      cmocka_unit_test(test_hand_made_sets),
      cmocka_unit_test(test_set_without_imports),
      cmocka_unit_test(test_layouts),
      cmocka_unit_test(test_proto2_defaults),
      cmocka_unit_test(test_wire_bytes),
      cmocka_unit_test(test_round_trips),
      cmocka_unit_test(test_to_json_flags),
      cmocka_unit_test(test_to_json_edge_cases),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_nesting_limit),
      cmocka_unit_test(test_from_json_len),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

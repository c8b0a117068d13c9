"""Round trips of rpcload's protobuf JSON mapping (plugins/grpc/pbjson.c)
against an independent implementation: Python's google.protobuf.

For every JSON case, both directions:
  JSON -> wire: pbjson_cli encodes the JSON with rpcload's run-time
      descriptors; Python parses the same JSON (json_format.Parse) and the
      two messages must be equal (compared as MessageToDict, which also
      expands Any and treats NaN as "NaN"), and the bytes identical wherever
      the encoding is canonical (no map, whose entry order and default keys
      may differ between encoders; no Any, which holds such bytes).
  wire -> JSON: Python's serialization of that message is decoded by
      pbjson_cli into JSON, which must equal Python's own MessageToJson (as
      parsed values) and parse back (json_format.Parse) to the same message.
Then the errors: malformed JSON for the schema must be refused with a
message naming the field and the reason; a malformed .proto gives protoc's
file:line:column message; unknown and ambiguous methods list the methods.

The schema is tests/data/pbtest.proto (proto3, every type and the
well-known types) and pbtest2.proto (proto2). protoc compiles them once to
a descriptor set that both sides load: pbjson_cli from the file, Python into
its default descriptor pool.

Run from this folder:  RPCLOAD_BUILD_DIR=../../build-pb \
    /usr/bin/python3 -m unittest -v test_pbjson_roundtrip
"""

import json
import os
import subprocess
import tempfile
import unittest

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
# The well-known types' generated modules put their files in the default pool
# (and give their classes the JSON behaviour), before our files are added.
from google.protobuf import any_pb2, duration_pb2, empty_pb2, field_mask_pb2  # noqa: F401
from google.protobuf import struct_pb2, timestamp_pb2, wrappers_pb2  # noqa: F401

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("RPCLOAD_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
BUILD_DIR = os.environ.get("RPCLOAD_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
DATA_DIR = os.path.join(SOURCE_DIR, "tests", "data")
CLI = os.path.join(BUILD_DIR, "tests", "pbjson_cli")

# (message type, JSON) cases that both implementations accept.
CASES = [
    # ---- scalars
    ("rl.test.Scalars", '{}'),
    ("rl.test.Scalars", '{"i32": 150, "i64": "-1", "u32": 4294967295,'
     ' "u64": "18446744073709551615", "s32": -2147483648,'
     ' "s64": "-9223372036854775808", "f32": 4294967295,'
     ' "f64": "18446744073709551615", "sf32": -5, "sf64": "-6", "fl": 1.5,'
     ' "db": -2.25, "b": true, "s": "h\\u00e9llo \\"q\\" \\n \\u2603 \\ud83d\\ude00",'
     ' "by": "AAEC/w==", "color": "BLUE", "aliased": "RUNNING", "farAway": 7}'),
    ("rl.test.Scalars", '{"i32": 2147483647, "i64": 9007199254740993, "u32": 0}'),
    ("rl.test.Scalars", '{"i64": -9223372036854775808, "u64": 9223372036854775807}'),
    ("rl.test.Scalars", '{"s32": 2147483647, "s64": "9223372036854775807", "sf32": 2147483647,'
     ' "sf64": "-9223372036854775808"}'),
    ("rl.test.Scalars", '{"fl": "NaN", "db": "Infinity"}'),
    ("rl.test.Scalars", '{"fl": "-Infinity", "db": "NaN"}'),
    ("rl.test.Scalars", '{"fl": 3.4028234663852886e38, "db": 1.7976931348623157e308}'),
    ("rl.test.Scalars", '{"fl": -1e-45, "db": 5e-324}'),
    ("rl.test.Scalars", '{"fl": 0.1, "db": 0.1}'),
    ("rl.test.Scalars", '{"fl": 123456.789, "db": -1234567.8901234567}'),
    ("rl.test.Scalars", '{"i32": "-12", "u32": "7", "fl": "2.5", "db": "-0.125", "s64": "123"}'),
    ("rl.test.Scalars", '{"i32": 1e3, "u64": 1.0, "i64": 5.0}'),
    ("rl.test.Scalars", '{"color": 2}'),
    ("rl.test.Scalars", '{"color": 42}'),
    ("rl.test.Scalars", '{"color": "NEGATIVE"}'),
    ("rl.test.Scalars", '{"color": -1, "aliased": "STARTED"}'),
    ("rl.test.Scalars", '{"by": "-_8"}'),
    ("rl.test.Scalars", '{"by": "AQ"}'),
    ("rl.test.Scalars", '{"by": ""}'),
    ("rl.test.Scalars", '{"far_away": 3}'),
    ("rl.test.Scalars", '{"i32": null, "s": null, "color": null, "by": null}'),
    ("rl.test.Scalars", '{"i32": 0, "s": "", "b": false, "fl": 0, "color": "COLOR_UNSPECIFIED"}'),
    ("rl.test.Scalars", '{"b": false, "s": "x"}'),
    # ---- repeated
    ("rl.test.Repeated", '{"i32": [1, -2, 300], "unpacked": [1, 2, 3], "i64": ["1", -2],'
     ' "u64": ["18446744073709551615"], "s32": [-1, 1], "s64": ["-5"], "f32": [1, 2],'
     ' "f64": ["3"], "sf32": [-1], "sf64": ["-2"], "fl": [0.5, "NaN"],'
     ' "db": [1e100, "-Infinity"], "b": [true, false, true], "s": ["a", "", "c"],'
     ' "by": ["AA==", ""], "color": ["RED", 3, "NEGATIVE"],'
     ' "nested": [{"x": 1}, {}, {"name": "n", "child": {"x": 2}}], "u32": [0, 4294967295]}'),
    ("rl.test.Repeated", '{"i32": [], "s": null}'),
    ("rl.test.Repeated", '{"i32": [0], "unpacked": [0], "s": [""], "nested": [{}]}'),
    # ---- nesting, json_name, cross-file types
    ("rl.test.Outer", '{"inner": {"x": 1, "deep": {"label": "d"},'
     ' "deeps": [{"label": "a"}, {}]}, "inners": [{"x": 2}],'
     ' "shared": {"id": "s1", "level": "HIGH"}, "level": "LOW",'
     ' "snakeCaseName": "sn", "renamed": 5, "mode": "FAST"}'),
    ("rl.test.Outer", '{"snake_case_name": "x", "custom": 3}'),
    ("rl.test.Outer", '{"inner": {}}'),
    ("rl.test.Outer", '{"inner": null}'),
    ("rl.test.Nested", json.dumps(
        {"x": 0, "child": {"x": 1, "child": {"x": 2, "child": {"x": 3, "name": "deep"}}}})),
    # ---- maps, every key type
    ("rl.test.Maps", '{"strInt": {"a": 1, "b": -2, "": 0}, "i32Str": {"-1": "neg", "0": "zero",'
     ' "2147483647": "max"}, "i64Str": {"-9223372036854775808": "min"},'
     ' "u32Str": {"4294967295": "x"}, "u64Str": {"18446744073709551615": "y"},'
     ' "s32Str": {"-5": "a"}, "s64Str": {"-6": "b"}, "f32Str": {"7": "c"},'
     ' "f64Str": {"8": "d"}, "sf32Str": {"-9": "e"}, "sf64Str": {"-10": "f"},'
     ' "boolStr": {"true": "T", "false": "F"},'
     ' "strMsg": {"k": {"x": 1, "name": "n"}, "empty": {}},'
     ' "strEnum": {"a": "GREEN", "b": 3}, "strBytes": {"k": "AQI="},'
     ' "strDouble": {"nan": "NaN", "one": 1.0}}'),
    ("rl.test.Maps", '{"strInt": {}}'),
    ("rl.test.Maps", '{"str_int": {"a": 1}, "bool_str": {"false": ""}}'),
    # ---- oneofs
    ("rl.test.Oneofs", '{"num": 5}'),
    ("rl.test.Oneofs", '{"text": ""}'),
    ("rl.test.Oneofs", '{"nested": {}}'),
    ("rl.test.Oneofs", '{"color": "COLOR_UNSPECIFIED"}'),
    ("rl.test.Oneofs", '{"raw": ""}'),
    ("rl.test.Oneofs", '{"real": 0}'),
    ("rl.test.Oneofs", '{"num": 0, "other": "o", "flag": false}'),
    ("rl.test.Oneofs", '{"big": "-1", "nested": {"x": 1}}'),
    ("rl.test.Oneofs", '{"text": null, "num": 3}'),
    # ---- proto3 optional
    ("rl.test.Optionals", '{"oi32": 0, "os": "", "onested": {}, "ob": false,'
     ' "ocolor": "COLOR_UNSPECIFIED", "oby": "", "odb": 0, "oi64": "0", "plain": 0}'),
    ("rl.test.Optionals", '{"oi32": 5, "os": "x"}'),
    ("rl.test.Optionals", '{"os": null, "oi64": null}'),
    # ---- well-known types
    ("rl.test.Wkt", '{"ts": "1972-01-01T10:00:20.021Z"}'),
    ("rl.test.Wkt", '{"ts": "1970-01-01T00:00:00Z"}'),
    ("rl.test.Wkt", '{"ts": "0001-01-01T00:00:00Z"}'),
    ("rl.test.Wkt", '{"ts": "9999-12-31T23:59:59.999999999Z"}'),
    ("rl.test.Wkt", '{"ts": "2024-02-29T12:00:00+01:30"}'),
    ("rl.test.Wkt", '{"ts": "2024-02-29T12:00:00-08:00"}'),
    ("rl.test.Wkt", '{"ts": "1969-12-31T23:59:59.5Z"}'),
    ("rl.test.Wkt", '{"ts": "2000-01-01T00:00:00.123456Z"}'),
    ("rl.test.Wkt", '{"ts": "1900-03-01T00:00:00.000000001Z"}'),
    ("rl.test.Wkt", '{"dur": "1.5s"}'),
    ("rl.test.Wkt", '{"dur": "-0.5s"}'),
    ("rl.test.Wkt", '{"dur": "0s"}'),
    ("rl.test.Wkt", '{"dur": "315576000000s"}'),
    ("rl.test.Wkt", '{"dur": "-3.000000001s"}'),
    ("rl.test.Wkt", '{"dur": "12.000100s"}'),
    ("rl.test.Wkt", '{"st": {"a": 1, "b": "x", "c": null, "d": true,'
     ' "e": {"f": [1, "two", null, {"g": false}]}, "h": []}}'),
    ("rl.test.Wkt", '{"st": {}}'),
    ("rl.test.Wkt", '{"val": 3.5}'),
    ("rl.test.Wkt", '{"val": "s"}'),
    ("rl.test.Wkt", '{"val": null}'),
    ("rl.test.Wkt", '{"val": true}'),
    ("rl.test.Wkt", '{"val": {"k": [1]}}'),
    ("rl.test.Wkt", '{"val": []}'),
    ("rl.test.Wkt", '{"val": 0}'),
    ("rl.test.Wkt", '{"lv": [1, "a", null, [2], {"b": 3}]}'),
    ("rl.test.Wkt", '{"lv": []}'),
    ("rl.test.Wkt", '{"i32w": 5, "i64w": "-7", "u32w": 4294967295,'
     ' "u64w": "18446744073709551615", "flw": 1.25, "dbw": "NaN", "bw": true,'
     ' "sw": "str", "byw": "AA=="}'),
    ("rl.test.Wkt", '{"i32w": 0, "i64w": 0, "u32w": 0, "u64w": "0", "flw": 0, "dbw": 0,'
     ' "bw": false, "sw": "", "byw": ""}'),
    ("rl.test.Wkt", '{"i32w": null, "sw": null}'),
    ("rl.test.Wkt", '{"fm": "a.bC,d,eFgH"}'),
    ("rl.test.Wkt", '{"fm": ""}'),
    ("rl.test.Wkt", '{"any": {"@type": "type.googleapis.com/rl.test.Nested", "x": 5,'
     ' "name": "n"}}'),
    ("rl.test.Wkt", '{"any": {"@type": "type.googleapis.com/google.protobuf.Timestamp",'
     ' "value": "1970-01-01T00:00:01Z"}}'),
    ("rl.test.Wkt", '{"any": {"@type": "type.googleapis.com/google.protobuf.Struct",'
     ' "value": {"a": 1}}}'),
    ("rl.test.Wkt", '{"any": {"@type": "type.googleapis.com/rl.test.Maps",'
     ' "strInt": {"a": 1}}}'),
    ("rl.test.Wkt", '{"any": {}}'),
    ("rl.test.Wkt", '{"empty": {}}'),
    ("rl.test.Wkt", '{"tss": ["1970-01-01T00:00:00Z", "2020-05-05T05:05:05.5Z"]}'),
    ("rl.test.Wkt", '{"vals": {"a": null, "b": [1], "c": {"d": "e"}}}'),
    ("rl.test.Wkt", '{"nv": null}'),
    ("rl.test.Wkt", '{"nv": "NULL_VALUE"}'),
    ("rl.test.Wkt", '{"vlist": [null, 1, "x"]}'),
    # The well-known types at the top level: not objects.
    ("google.protobuf.Timestamp", '"1970-01-01T00:00:01Z"'),
    ("google.protobuf.Duration", '"-1.25s"'),
    ("google.protobuf.Value", '[1, {"a": null}, "x", true]'),
    ("google.protobuf.Struct", '{"a": {"b": 1}}'),
    ("google.protobuf.ListValue", '[1, 2]'),
    ("google.protobuf.Int32Value", '5'),
    ("google.protobuf.StringValue", '"s"'),
    ("google.protobuf.FieldMask", '"fooBar,baz"'),
    ("google.protobuf.Empty", '{}'),
    ("google.protobuf.Any", '{"@type": "type.googleapis.com/google.protobuf.Int32Value",'
     ' "value": 3}'),
    # ---- proto2: required, defaults, presence
    ("rl.test2.Legacy", '{"id": 1}'),
    ("rl.test2.Legacy", '{"id": 0, "name": "anon", "count": 7, "kind": "KIND_ONE",'
     ' "kind2": "KIND_TWO", "values": [1, 2], "packedValues": [3, 4], "blob": "YQFi",'
     ' "ratio": "-Infinity", "on": true, "big": "18446744073709551615",'
     ' "next": {"id": 2}, "word": "w"}'),
    ("rl.test2.Legacy", '{"id": -1, "number": 0, "name": ""}'),
]

# Flags of pbjson_cli's JSON output, and json_format.MessageToJson's own.
FLAG_SETS = [
    ([], {}),
    (["--emit-defaults"], {"including_default_value_fields": True}),
    (["--proto-names", "--enums-as-ints"],
     {"preserving_proto_field_name": True, "use_integers_for_enums": True}),
]
# Messages whose JSON output is compared with every flag set (the others
# with the default flags only).
FLAG_CASE_TYPES = {"rl.test.Scalars", "rl.test.Repeated", "rl.test.Maps",
                   "rl.test.Oneofs", "rl.test.Optionals", "rl.test.Outer"}

# (message type, JSON, the error rpcload must give). Python's parser refuses
# each of them too (checked), except where the last member says otherwise.
ERRORS = [
    ("rl.test.Scalars", '{"i32": "x"}', "field 'i32': expected an integer, got string \"x\""),
    ("rl.test.Scalars", '{"i32": 3000000000}', "field 'i32': 3000000000 is out of range for int32"),
    ("rl.test.Scalars", '{"u32": -1}', "field 'u32': -1 is out of range for uint32"),
    ("rl.test.Scalars", '{"u64": "-5"}', "field 'u64': \"-5\" is out of range for uint64"),
    ("rl.test.Scalars", '{"i64": "9223372036854775808"}',
     "field 'i64': \"9223372036854775808\" is out of range for int64"),
    ("rl.test.Scalars", '{"i32": 1.5}', "field 'i32': expected an integer, got number 1.5"),
    ("rl.test.Scalars", '{"i32": true}', "field 'i32': expected an integer, got true"),
    ("rl.test.Scalars", '{"fl": 1e39}', "field 'fl': 1e+39 is out of range for float"),
    ("rl.test.Scalars", '{"db": "nan"}', "field 'db': expected a number, got string \"nan\""),
    ("rl.test.Scalars", '{"b": "true"}', "field 'b': expected true or false, got string \"true\""),
    ("rl.test.Scalars", '{"s": 5}', "field 's': expected a string, got number 5"),
    # Python's base64 decoder skips what is not base64.
    ("rl.test.Scalars", '{"by": "!!"}', "field 'by': invalid base64: '!' at offset 0",
     "python accepts"),
    ("rl.test.Scalars", '{"color": "PURPLE"}',
     "field 'color': unknown value \"PURPLE\" for enum rl.test.Color (values: NEGATIVE, "
     "COLOR_UNSPECIFIED, RED, GREEN, BLUE)"),
    ("rl.test.Scalars", '{"color": {}}',
     "field 'color': expected an enum name or number, got an object"),
    ("rl.test.Scalars", '{"nope": 1}', "field 'nope': no such field in rl.test.Scalars"
     " (fields: i32, i64, u32, u64, s32, s64, f32, f64, sf32, sf64, fl, db, b, s, by,"
     " color, aliased, farAway)"),
    # Python takes the last of the two.
    ("rl.test.Scalars", '{"far_away": 1, "farAway": 2}',
     "field 'farAway': set twice (as 'far_away' and as 'farAway')", "python accepts"),
    ("rl.test.Scalars", '[1]', "expected an object for rl.test.Scalars, got an array"),
    ("rl.test.Scalars", '{"i32": 1,}', "invalid JSON: "),
    ("rl.test.Scalars", '{"i32": 1, "i32": 2}', "invalid JSON: duplicate object key"),
    ("rl.test.Outer", '{"inner": {"x": "a"}}',
     "field 'inner.x': expected an integer, got string \"a\""),
    ("rl.test.Outer", '{"inners": [{}, {"deep": {"label": 5}}]}',
     "field 'inners[1].deep.label': expected a string, got number 5"),
    ("rl.test.Outer", '{"inner": 5}', "field 'inner': expected an object for"
     " rl.test.Outer.Inner, got number 5"),
    ("rl.test.Repeated", '{"i32": 5}', "field 'i32': expected an array, got number 5"),
    ("rl.test.Repeated", '{"s": ["a", null]}',
     "field 's[1]': null is not allowed in a repeated field"),
    ("rl.test.Repeated", '{"nested": [{"x": 1}, {"y": 2}]}',
     "field 'nested[1].y': no such field in rl.test.Nested (fields: x, name, child)"),
    ("rl.test.Maps", '{"i32Str": {"x": "a"}}',
     "field 'i32Str[\"x\"]': map key: expected an integer (int32)"),
    ("rl.test.Maps", '{"i32Str": {"3000000000": "a"}}',
     "field 'i32Str[\"3000000000\"]': \"3000000000\" is out of range for int32"),
    ("rl.test.Maps", '{"boolStr": {"yes": "a"}}',
     "field 'boolStr[\"yes\"]': map key: expected \"true\" or \"false\""),
    ("rl.test.Maps", '{"strInt": {"a": null}}',
     "field 'strInt[\"a\"]': null is not allowed as a map value"),
    ("rl.test.Maps", '{"strInt": []}', "field 'strInt': expected an object (a map), got an array"),
    ("rl.test.Maps", '{"strMsg": {"k": {"x": []}}}',
     "field 'strMsg[\"k\"].x': expected an integer, got an array"),
    ("rl.test.Oneofs", '{"num": 1, "text": "a"}', "field 'text': oneof 'choice' already has"
     " 'num' set"),
    ("rl.test.Wkt", '{"ts": "yesterday"}', "field 'ts': expected an RFC 3339 timestamp"
     " (\"1972-01-01T10:00:20.021Z\"), got string \"yesterday\""),
    ("rl.test.Wkt", '{"ts": "2023-02-29T00:00:00Z"}', "field 'ts': expected an RFC 3339"
     " timestamp (\"1972-01-01T10:00:20.021Z\"), got string \"2023-02-29T00:00:00Z\""),
    ("rl.test.Wkt", '{"ts": "0000-12-31T23:59:59Z"}',
     "field 'ts': timestamp \"0000-12-31T23:59:59Z\" is out of range (years 1 to 9999)"),
    ("rl.test.Wkt", '{"dur": "5"}',
     "field 'dur': expected a duration in seconds (\"1.5s\"), got string \"5\""),
    ("rl.test.Wkt", '{"dur": "315576000001s"}',
     "field 'dur': duration \"315576000001s\" is out of range (+-315576000000s)"),
    ("rl.test.Wkt", '{"fm": "a_b"}', "field 'fm': field mask path 'a_b' must be lowerCamelCase"
     " (no '_')"),
    ("rl.test.Wkt", '{"any": {"x": 1}}', "field 'any': a google.protobuf.Any needs an"
     " \"@type\" string (\"type.googleapis.com/pkg.Message\")"),
    ("rl.test.Wkt", '{"any": {"@type": "type.googleapis.com/no.Such"}}',
     "field 'any': @type \"type.googleapis.com/no.Such\": no.Such is not in the descriptor"
     " set (import its .proto)"),
    ("rl.test.Wkt", '{"st": [1]}',
     "field 'st': expected an object for google.protobuf.Struct, got an array"),
    ("rl.test.Wkt", '{"i32w": "x"}', "field 'i32w': expected an integer, got string \"x\""),
    # Python reads 1e999 as infinity.
    ("rl.test.Wkt", '{"st": {"a": {"b": [1, {"c": 1e999}]}}}',
     "invalid JSON: real number overflow", "python accepts"),
    # Python's Parse leaves required fields to serialization time.
    ("rl.test2.Legacy", '{"name": "x"}', "required field 'id' of rl.test2.Legacy is missing",
     "python accepts"),
    ("rl.test.Nested", '{"child": ' * 101 + '{}' + '}' * 101,
     "nested deeper than 100 messages"),
    # protobuf-c strings are C strings.
    ("rl.test.Scalars", '{"s": "a\\u0000b"}',
     "invalid JSON: a string holds \\u0000, which protobuf-c strings cannot",
     "python accepts"),
    # Python reads this number; jansson's integers are signed 64-bit.
    ("rl.test.Scalars", '{"u64": 18446744073709551615}',
     "write integers above 9223372036854775807 as strings", "python accepts"),
]


def load_pool(descriptor_set_path):
    """Adds our files of the set to Python's default pool; the message classes."""
    with open(descriptor_set_path, "rb") as f:
        fds = descriptor_pb2.FileDescriptorSet.FromString(f.read())
    pool = descriptor_pool.Default()
    for f in fds.file:
        try:
            pool.FindFileByName(f.name)  # the well-known types are there already
        except KeyError:
            pool.Add(f)
    factory = message_factory.MessageFactory(pool)
    return lambda name: factory.GetPrototype(pool.FindMessageTypeByName(name))


class Cli:
    """pbjson_cli --batch: one request line in, one answer line out."""

    def __init__(self, protoset, flags=()):
        self.proc = subprocess.Popen([CLI, "--protoset", protoset, "--batch"] + list(flags),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)

    def ask(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().rstrip("\n")
        if not answer:
            raise RuntimeError("pbjson_cli died: " + self.proc.stderr.read())
        status, _, rest = answer.partition(" ")
        return status == "OK", rest

    def encode(self, type_name, text):
        return self.ask("E %s %s" % (type_name, text.replace("\n", " ")))

    def decode(self, type_name, data):
        return self.ask("D %s %s" % (type_name, data.hex()))

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()
        self.proc.stderr.close()


def uses_map_or_any(msg):
    """True if the message holds a non-empty map or an Any (encodings differ)."""
    for fd, value in msg.ListFields():
        if fd.message_type is None:
            continue
        if fd.message_type.GetOptions().map_entry:
            return True
        if fd.message_type.full_name == "google.protobuf.Any":
            return True
        values = value if fd.label == fd.LABEL_REPEATED else [value]
        if any(uses_map_or_any(v) for v in values):
            return True
    return False


def as_dict(msg):
    return json_format.MessageToDict(msg, preserving_proto_field_name=True)


class PbJsonRoundTrip(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(CLI, os.X_OK):
            raise unittest.SkipTest("pbjson_cli not built: %s" % CLI)
        cls.tmp = tempfile.TemporaryDirectory(prefix="rl-pbjson-")
        cls.protoset = os.path.join(cls.tmp.name, "pbtest.protoset")
        subprocess.run(["protoc", "--include_imports", "--descriptor_set_out=" + cls.protoset,
                        "-I", DATA_DIR, "pbtest.proto", "pbtest2.proto"], check=True)
        cls.cls_of = staticmethod(load_pool(cls.protoset))
        cls.clis = {tuple(flags): Cli(cls.protoset, flags) for flags, _ in FLAG_SETS}

    @classmethod
    def tearDownClass(cls):
        for cli in cls.clis.values():
            cli.close()
        cls.tmp.cleanup()

    def cli(self, flags=()):
        return self.clis[tuple(flags)]

    # ---------------------------------------------------------------------
    def test_json_to_wire(self):
        exact = 0
        for type_name, text in CASES:
            with self.subTest(type=type_name, json=text):
                cls = self.cls_of(type_name)
                py_msg = json_format.Parse(text, cls())
                ok, out = self.cli().encode(type_name, text)
                self.assertTrue(ok, "rpcload refused a valid case: " + out)
                c_bytes = bytes.fromhex(out)
                c_msg = cls.FromString(c_bytes)
                self.assertEqual(as_dict(c_msg), as_dict(py_msg))
                if not uses_map_or_any(py_msg):
                    self.assertEqual(c_bytes.hex(), py_msg.SerializeToString().hex(),
                                     "not byte-for-byte the same")
                    exact += 1
        # Most cases are canonical and compared byte for byte.
        self.assertGreater(exact, len(CASES) * 3 // 4)

    def test_wire_to_json(self):
        for type_name, text in CASES:
            cls = self.cls_of(type_name)
            py_msg = json_format.Parse(text, cls())
            wire = py_msg.SerializeToString()
            for flags, py_flags in FLAG_SETS:
                if flags and type_name not in FLAG_CASE_TYPES:
                    continue
                with self.subTest(type=type_name, json=text, flags=flags):
                    ok, out = self.cli(flags).decode(type_name, wire)
                    self.assertTrue(ok, "rpcload could not decode: " + out)
                    expected = json.loads(json_format.MessageToJson(py_msg, **py_flags))
                    self.assertEqual(json.loads(out), expected)
                    try:
                        json_format.Parse(json_format.MessageToJson(py_msg, **py_flags), cls())
                    except json_format.ParseError:
                        continue  # Python cannot read its own output (FLT_MAX)
                    back = json_format.Parse(out, cls())
                    self.assertEqual(as_dict(back), as_dict(py_msg))

    def test_pretty_output_is_the_same_json(self):
        cls = self.cls_of("rl.test.Outer")
        py_msg = json_format.Parse(CASES[[c[0] for c in CASES].index("rl.test.Outer")][1], cls())
        res = subprocess.run([CLI, "--protoset", self.protoset, "--message", "rl.test.Outer",
                              "--decode", py_msg.SerializeToString().hex(), "--pretty"],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn('\n  "inner": {\n    "x": 1,', res.stdout)
        self.assertEqual(json.loads(res.stdout), json.loads(json_format.MessageToJson(py_msg)))

    def test_bad_json_errors(self):
        for case in ERRORS:
            type_name, text, expected = case[:3]
            python_accepts = len(case) > 3  # rpcload is stricter, or limited
            with self.subTest(type=type_name, json=text[:80]):
                ok, out = self.cli().encode(type_name, text)
                self.assertFalse(ok, "rpcload accepted it: " + out)
                self.assertIn(expected, out)
                if not python_accepts:
                    with self.assertRaises((json_format.ParseError, ValueError, RecursionError),
                                           msg="Python's protobuf accepts it"):
                        json_format.Parse(text, self.cls_of(type_name)())

    def test_unknown_message_type(self):
        ok, out = self.cli().encode("rl.test.Nope", "{}")
        self.assertFalse(ok)
        self.assertEqual(out, "no message type 'rl.test.Nope' in the descriptor set")

    # ---- .proto files and methods ------------------------------------------
    def run_cli(self, *args):
        return subprocess.run([CLI] + list(args), capture_output=True, text=True, timeout=60)

    def test_malformed_proto_gives_protocs_message(self):
        res = self.run_cli("--proto", os.path.join(DATA_DIR, "pbtest_bad.proto"), "--list")
        self.assertEqual(res.returncode, 1)
        self.assertEqual(res.stderr.strip(), 'pbtest_bad.proto:8:3: Expected ";".')

    def test_missing_proto_file(self):
        res = self.run_cli("--proto", os.path.join(DATA_DIR, "no_such.proto"), "--list")
        self.assertEqual(res.returncode, 1)
        self.assertIn("no_such.proto", res.stderr)

    def test_proto_with_import_path_and_list(self):
        # From another directory, with -I: imports resolve through -I.
        res = subprocess.run([CLI, "--proto", os.path.join(DATA_DIR, "pbtest.proto"),
                              "-I", DATA_DIR, "--list"],
                             capture_output=True, text=True, timeout=60, cwd="/")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(res.stdout, (
            "rl.test.TestService\n"
            "  Unary(rl.test.Scalars) returns (rl.test.Outer)\n"
            "  ServerStream(rl.test.Nested) returns (stream rl.test.Nested)\n"
            "  ClientStream(stream rl.test.Nested) returns (rl.test.Nested)\n"
            "  Bidi(stream rl.test.Maps) returns (stream rl.test.Oneofs)\n"
            "rl.test.OtherService\n"
            "  Unary(google.protobuf.Empty) returns (google.protobuf.Empty)\n"
            "  Ping(rl.test.Optionals) returns (rl.test.Wkt)\n"))

    def test_method_names(self):
        proto = os.path.join(DATA_DIR, "pbtest.proto")
        for name in ("Ping", "OtherService.Ping", "rl.test.OtherService.Ping",
                     "rl.test.OtherService/Ping", "/rl.test.OtherService/Ping"):
            with self.subTest(name=name):
                res = self.run_cli("--proto", proto, "--method", name)
                self.assertEqual(res.returncode, 0, res.stderr)
                self.assertEqual(res.stdout.strip(), "rl.test.OtherService.Ping "
                                 "/rl.test.OtherService/Ping rl.test.Optionals rl.test.Wkt")
        res = self.run_cli("--proto", proto, "--method", "Bidi")
        self.assertEqual(res.stdout.strip(), "rl.test.TestService.Bidi /rl.test.TestService/Bidi"
                         " rl.test.Maps rl.test.Oneofs client-streaming server-streaming")

    def test_unknown_and_ambiguous_methods(self):
        proto = os.path.join(DATA_DIR, "pbtest.proto")
        res = self.run_cli("--proto", proto, "--method", "Nope")
        self.assertEqual(res.returncode, 1)
        self.assertEqual(res.stderr.strip(), (
            "unknown method 'Nope'; methods: rl.test.TestService.Unary, "
            "rl.test.TestService.ServerStream, rl.test.TestService.ClientStream, "
            "rl.test.TestService.Bidi, rl.test.OtherService.Unary, rl.test.OtherService.Ping"))
        res = self.run_cli("--proto", proto, "--method", "Unary")
        self.assertEqual(res.returncode, 1)
        self.assertEqual(res.stderr.strip(), "method 'Unary' is ambiguous: it could be "
                         "rl.test.TestService.Unary, rl.test.OtherService.Unary")


if __name__ == "__main__":
    unittest.main()

#!/usr/bin/env python3
"""Writes the fuzz targets' binary seeds (tests/fuzz/<target>/): real
examples of what each parser reads, built here so that they can be read and
remade. The text seeds (url, header, template, scenario) are plain files
written by hand.

  /usr/bin/python3 tests/fuzz/make_seeds.py     # from the source tree

Needs protoc and Python's protobuf (scripts/setup.sh installs both): the
protobuf seeds are the JSON seeds of pb_from_json encoded by Python's
protobuf, an implementation independent of ours.

The codec targets' inputs start with two bytes (tests/fuzz/codec_fuzz.h):
bit 0 of the first asks for responses, its bits 1-7 pick the first
request's step; the second is how many bytes a read hands over (0: all).
"""
import gzip
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))


def write(target, name, data):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- HTTP/1.1 --------------------------------------------------------------
# Steps of fuzz_http1_response: 0 GET, 1 HEAD, 2 POST (byte 0 = step << 1).
HTTP1 = {
    "ok_length": (0, 0, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                  b"Content-Type: text/plain\r\n\r\nhello"),
    "ok_collect_split": (1, 7, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                         b"X-Token: abc \r\n\r\nhello"),
    "chunked_trailers": (1, 0, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
                         b"\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n"
                         b"X-Checksum: 42\r\n\r\n"),
    "head_with_length": (2, 0, b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
                         b"HTTP/1.1 204 No Content\r\n\r\n"),
    "continue_then_201": (4, 0, b"HTTP/1.1 100 Continue\r\n\r\n"
                          b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}"),
    "pipelined_keepalive": (0, 1, b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"
                            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
                            b"HTTP/1.1 500 \r\nContent-Length: 0\r\n\r\n"),
    "close_delimited": (1, 3, b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n"
                        b"<html>until the end</html>"),
    "connection_close": (0, 0, b"HTTP/1.1 503 Service Unavailable\r\n"
                         b"Connection: close\r\nContent-Length: 4\r\n\r\nbusy"),
    "switching_protocols": (0, 0, b"HTTP/1.1 101 Switching Protocols\r\n"
                            b"Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
                            b"\x81\x05hello"),
    "folded_header": (1, 0, b"HTTP/1.1 200 OK\r\nX-Long: a\r\n b\r\n"
                      b"Content-Length: 0\r\n\r\n"),
}
for name, (flags, chunk, body) in HTTP1.items():
    write("http1_response", name, bytes([flags, chunk]) + body)


# ---- HTTP/2 -------------------------------------------------------------------
DATA, HEADERS, RST, SETTINGS, PING, GOAWAY, WINDOW, CONT = 0, 1, 3, 4, 6, 7, 8, 9
END_STREAM, ACK, END_HEADERS, PADDED = 0x1, 0x1, 0x4, 0x8


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream) + payload


def hpack(fields):
    """A header block: :status from HPACK's static table, the rest as
    literals without indexing, new names, no Huffman."""
    status = {"200": 0x88, "204": 0x89, "206": 0x8a, "304": 0x8b,
              "400": 0x8c, "404": 0x8d, "500": 0x8e}
    out = b""
    for k, v in fields:
        if k == ":status" and v in status:
            out += bytes([status[v]])
            continue
        if k == ":status":
            out += b"\x08"  # literal without indexing, name :status (8)
            out += bytes([len(v)]) + v.encode()
            continue
        out += b"\x00" + bytes([len(k)]) + k.encode() + \
            bytes([len(v)]) + v.encode()
    return out


def server_preface():
    settings = struct.pack(">HI", 3, 100) + struct.pack(">HI", 4, 65535)
    return frame(SETTINGS, 0, 0, settings) + frame(SETTINGS, ACK, 0)


def response(stream, status, body=b"", extra=(), trailers=None):
    fields = [(":status", status)] + list(extra)
    if body or trailers:
        out = frame(HEADERS, END_HEADERS, stream, hpack(fields))
        out += frame(DATA, 0 if trailers else END_STREAM, stream, body)
        if trailers:
            out += frame(HEADERS, END_HEADERS | END_STREAM, stream,
                         hpack(trailers))
        return out
    return frame(HEADERS, END_HEADERS | END_STREAM, stream, hpack(fields))


h2 = {}
h2["three_streams"] = (0, 0, server_preface() + b"".join(
    response(s, "200", b"hello", [("content-type", "text/plain"),
                                  ("content-length", "5")])
    for s in (1, 3, 5)))
h2["collect_split"] = (1, 9, server_preface() +
                       response(1, "404", b"", [("x-reason", "none")]) +
                       response(3, "500", b"oops", [("x-a", "b")]))
h2["head_then_post"] = (2, 0, server_preface() +
                        response(1, "200", b"", [("content-length", "99")]) +
                        response(3, "201", b"{}", [("content-type",
                                                    "application/json")]))
block = hpack([(":status", "200"), ("content-type", "text/plain"),
               ("x-first", "1"), ("x-second", "2")])
h2["continuation_padding"] = (0, 0, server_preface() +
                              frame(HEADERS, 0, 1, block[:5]) +
                              frame(CONT, END_HEADERS, 1, block[5:]) +
                              frame(DATA, PADDED | END_STREAM, 1,
                                    b"\x04" + b"padded" + b"\0" * 4))
h2["trailers_ping_window"] = (1, 0, server_preface() +
                              frame(PING, 0, 0, b"12345678") +
                              frame(WINDOW, 0, 0, struct.pack(">I", 1 << 20)) +
                              response(1, "200", b"a" * 100,
                                       [("content-type", "text/plain")],
                                       trailers=[("x-checksum", "42")]))
h2["reset_and_goaway"] = (0, 3, server_preface() +
                          frame(RST, 0, 1, struct.pack(">I", 2)) +
                          response(3, "200", b"ok") +
                          frame(GOAWAY, 0, 0, struct.pack(">II", 3, 0) +
                                b"shutting down"))
h2["many_data_frames"] = (0, 0, server_preface() +
                          frame(HEADERS, END_HEADERS, 1,
                                hpack([(":status", "200")])) +
                          b"".join(frame(DATA, 0, 1, bytes([65 + i]) * 50)
                                   for i in range(8)) +
                          frame(DATA, END_STREAM, 1, b""))
for name, (flags, chunk, body) in h2.items():
    write("http2_response", name, bytes([flags, chunk]) + body)


# ---- gRPC ---------------------------------------------------------------------
# Steps of fuzz_grpc_response: 0 SayHello, 1 SayHelloStream, 2 SayHelloToAll,
# 3 SayHelloChat, 4 SayHello with a 64-byte receive limit.
def hello_response(text):
    t = text.encode()
    return b"\x0a" + bytes([len(t)]) + t


def grpc_msg(pb, compressed=False):
    if compressed:
        pb = gzip.compress(pb, mtime=0)
    return bytes([1 if compressed else 0]) + struct.pack(">I", len(pb)) + pb


GRPC_CT = [("content-type", "application/grpc")]


def grpc_call(stream, messages, status="0", message=None, extra=(),
              split=False):
    out = frame(HEADERS, END_HEADERS, stream,
                hpack([(":status", "200")] + GRPC_CT + list(extra)))
    data = b"".join(messages)
    if split and len(data) > 3:
        out += frame(DATA, 0, stream, data[:3]) + frame(DATA, 0, stream,
                                                        data[3:])
    elif data:
        out += frame(DATA, 0, stream, data)
    trailers = [("grpc-status", status)]
    if message is not None:
        trailers.append(("grpc-message", message))
    return out + frame(HEADERS, END_HEADERS | END_STREAM, stream,
                       hpack(trailers))


g = {}
g["unary_ok"] = (0, 0, server_preface() +
                 grpc_call(1, [grpc_msg(hello_response("Hello 1"))]) +
                 grpc_call(3, [grpc_msg(hello_response(f"Hello {i}"))
                               for i in range(3)]) +
                 grpc_call(5, [grpc_msg(hello_response("all"))]))
g["unary_collect_split"] = (1, 5, server_preface() +
                            grpc_call(1, [grpc_msg(hello_response("Hi"))],
                                      split=True))
g["trailers_only_error"] = (0, 0, server_preface() +
                            frame(HEADERS, END_HEADERS | END_STREAM, 1,
                                  hpack([(":status", "200")] + GRPC_CT +
                                        [("grpc-status", "5"),
                                         ("grpc-message", "not%20found")])))
g["http_503"] = (0, 0, server_preface() +
                 response(1, "503", b"", [("content-type", "text/html")]))
g["gzip_message"] = (1, 0, server_preface() +
                     grpc_call(1, [grpc_msg(hello_response("zipped"), True)],
                               extra=[("grpc-encoding", "gzip")]))
g["server_stream"] = (3, 0, server_preface() +
                      grpc_call(1, [grpc_msg(hello_response(f"m{i}"))
                                    for i in range(4)], split=True))
g["bidi_stream"] = (6, 11, server_preface() +
                    grpc_call(1, [grpc_msg(hello_response("pong"))] * 3))
g["over_limit"] = (8, 0, server_preface() +
                   grpc_call(1, [grpc_msg(hello_response("x" * 100))]))
g["bad_message_internal"] = (1, 0, server_preface() +
                             grpc_call(1, [grpc_msg(b"\xff\xff\xff")],
                                       status="13", message="boom \xe2"))
for name, (flags, chunk, body) in g.items():
    write("grpc_response", name, bytes([flags, chunk]) + body)


# ---- protobuf JSON, both ways -------------------------------------------------
# The first byte: the type (its low 3 bits, in fuzz_pb_*.c's order) and the
# output flags (bits 3-6).
TYPES = ["Scalars", "Repeated", "Nested", "Outer", "Maps", "Oneofs",
         "Optionals", "Wkt"]
JSON = {
    "scalars": ("Scalars", '{"i32": -5, "i64": "9007199254740993", "u32": 7,'
                ' "u64": "18446744073709551615", "s32": -3, "s64": "-4",'
                ' "f32": 1, "f64": "2", "sf32": -1, "sf64": "-2",'
                ' "fl": 1.5, "db": "NaN", "b": true, "s": "h\\u00e9llo",'
                ' "by": "AAEC/w==", "color": "BLUE", "aliased": "RUNNING",'
                ' "farAway": 1}'),
    "repeated": ("Repeated", '{"i32": [1, -2, 3], "unpacked": [4, 5],'
                 ' "fl": [1e10, "-Infinity"], "s": ["a", ""],'
                 ' "color": ["RED", 2], "nested": [{"x": 1}, {"name": "n"}],'
                 ' "by": ["_-8", "AA"]}'),
    "nested": ("Nested", '{"x": 1, "name": "root", "child": {"x": 2,'
               ' "child": {"child": {"name": "deep"}}}}'),
    "outer": ("Outer", '{"inner": {"x": 1, "deep": {"label": "l"}, "deeps":'
              ' [{}, {"label": "m"}]}, "snake_case_name": "s", "renamed": 6,'
              ' "mode": "FAST", "inners": [{"x": 2}]}'),
    "maps": ("Maps", '{"strInt": {"a": 1, "b": -2}, "i32Str": {"-1": "m"},'
             ' "u64Str": {"18446744073709551615": "x"}, "boolStr": {"true":'
             ' "t", "false": "f"}, "strMsg": {"k": {"x": 3}}, "strEnum":'
             ' {"e": "GREEN"}, "strBytes": {"b": "YWJj"}, "strDouble":'
             ' {"d": "Infinity"}}'),
    "oneofs": ("Oneofs", '{"nested": {"name": "in"}, "other": "o",'
               ' "big": "-9"}'),
    "optionals": ("Optionals", '{"oi32": 0, "os": "", "ob": false,'
                  ' "ocolor": "COLOR_UNSPECIFIED", "odb": -0.0, "plain": 0}'),
    "wkt": ("Wkt", '{"ts": "1972-01-01T10:00:20.021+01:30", "dur": "-1.5s",'
            ' "st": {"a": [1, "b", null, {"c": true}]}, "val": null,'
            ' "lv": [1, {}], "i32w": 5, "u64w": "7", "flw": "NaN",'
            ' "bw": false, "sw": "s", "byw": "AQ==", "fm": "a.b,cD",'
            ' "any": {"@type": "type.googleapis.com/rl.test.Nested",'
            ' "x": 1}, "empty": {}, "tss": ["2000-02-29T23:59:59Z"],'
            ' "vals": {"k": 1.25}, "nv": null, "vlist": [null, "x"]}'),
    "wkt_any_wkt": ("Wkt", '{"any": {"@type":'
                    ' "type.googleapis.com/google.protobuf.Duration",'
                    ' "value": "3s"}, "dur": "315576000000.999999999s"}'),
}


def type_byte(type_name, flags):
    return bytes([TYPES.index(type_name) | (flags << 3)])


for i, (name, (t, text)) in enumerate(sorted(JSON.items())):
    write("pb_from_json", name, type_byte(t, i % 16) + text.encode())

try:
    from google.protobuf import descriptor_pb2, descriptor_pool, json_format
    from google.protobuf import message_factory
except ImportError:
    sys.exit("make_seeds: Python's protobuf is needed (python3-protobuf)")

with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "pbtest.protoset")
    subprocess.run(["protoc", "--include_imports", "-I",
                    os.path.join(SRC, "tests", "data"),
                    "--descriptor_set_out=" + out, "pbtest.proto"], check=True)
    fds = descriptor_pb2.FileDescriptorSet()
    with open(out, "rb") as f:
        fds.ParseFromString(f.read())
pool = descriptor_pool.DescriptorPool()
for fd in fds.file:
    pool.Add(fd)


def message_class(full_name):
    desc = pool.FindMessageTypeByName(full_name)
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)


for i, (name, (t, text)) in enumerate(sorted(JSON.items())):
    msg = message_class("rl.test." + t)()
    json_format.Parse(text, msg, descriptor_pool=pool)
    write("pb_to_json", name, type_byte(t, i % 16) + msg.SerializeToString(deterministic=True))
# Unknown fields, a group, a truncated varint: what a newer server sends.
write("pb_to_json", "unknown_fields", type_byte("Nested", 0) +
      b"\x08\x01\xa0\x06\x05\x0b\x10\x01\x0c\x12\x02hi")
write("pb_to_json", "truncated", type_byte("Scalars", 1) + b"\x08\xff\xff")


# ---- the web UI's /swarm form ---------------------------------------------------
# First byte: the runner's state (0 ready, 1 running, 2 stopped).
SWARM = {
    "locust_form": (0, "user_count=10&spawn_rate=2&host=&run_time="),
    "new_host": (0, "user_count=5&spawn_rate=0.5&host=http%3A%2F%2F"
                 "127.0.0.1%3A9090&run_time=1h20m&user_classes=Web"),
    "host_with_path": (2, "user_count=1&spawn_rate=1&host=https%3A%2F%2F"
                       "example.com%2Fapi%3Fq%3D1&run_time=30s"),
    "running_host_change": (1, "user_count=3&spawn_rate=3&host=grpc%3A%2F%2F"
                            "b%3A50051"),
    "bad_numbers": (0, "user_count=-1&spawn_rate=0&run_time=3x"),
    "plus_and_percent": (0, "user_count=+7&spawn_rate=1e2&host=a+b%zz"),
}
for name, (state, body) in SWARM.items():
    write("web_swarm", name, bytes([state]) + body.encode())

# ---- a scenario's data files ------------------------------------------------------
# First byte: bit 0 JSON lines; bits 1-2 the order (sequential, random,
# per_user); bit 3 cycle.
with open(os.path.join(SRC, "examples", "scenarios", "shoppers.csv"), "rb") as f:
    SHOPPERS = f.read()
DATA = {
    "shoppers_csv": (0, SHOPPERS),
    "crlf_quotes_cycle": (8 | 2, b'id,"na,me",note\r\n1,"a ""b""",\r\n'
                      b'2,c,"multi\nline"\r\n'),
    "per_user_utf8": (4, b"email,city\nann@example.com,K\xc3\xb6ln\n"
                      b"bob@example.com,\xe6\x9d\xb1\xe4\xba\xac\n"),
    "jsonl": (1, b'{"email": "ann@example.com", "n": 1, "ok": true}\n'
              b'{"email": "bob@example.com", "n": 2.5, "tags": ["a"]}\n'
              b'{"n": null, "email": "c\\u00e9"}\n'),
    "jsonl_random_cycle": (1 | 2 | 8, b'{"k": "v"}\r\n\n{"k": {"x": 1}}\n'),
}
for name, (opts, body) in DATA.items():
    write("data_file", name, bytes([opts]) + body)
print("make_seeds: seeds written under", HERE)

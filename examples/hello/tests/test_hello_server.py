"""Integration tests of the example gRPC server, examples/hello/hello_server
(C on grpc C core), driven by an independent client: Debian's Python grpcio.

Run from this folder:  RPCLOAD_BUILD_DIR=../../../build PYTHONPATH=../../../tests/integration \
    /usr/bin/python3 -m unittest -v test_hello_server

Message classes are generated at test time from examples/hello/*.proto into a
temporary folder (grpc_tools.protoc, else protoc --python_out). Without
either, SayHello runs on hand-encoded bytes and the reflection tests skip.
The server is skipped, with the reason, when it is not built (libgrpc-dev,
protobuf-c missing at configure time) or when Python's grpc is missing.
"""

import concurrent.futures
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from servers import make_self_signed_cert

try:
    import grpc
except ImportError:  # python3-grpcio (scripts/setup.sh installs it)
    grpc = None

from hello_server import (HELLO_SRC, METHOD, PROTOS, REFLECTION, SERVER_BIN, VALGRIND,
                          HelloServer, skip_reason)

# ---- messages ----------------------------------------------------------------

def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def encode_hello(name):
    """HelloRequest{name} by hand: field 1, wire type 2."""
    raw = name.encode()
    return b"\x0a" + _varint(len(raw)) + raw


def decode_hello(data):
    """HelloResponse.message by hand (the only field: 1, length-delimited)."""
    if not data:
        return ""
    assert data[0] == 0x0A, data
    n, shift, i = 0, 0, 1
    while True:
        b = data[i]
        n |= (b & 0x7F) << shift
        shift += 7
        i += 1
        if not b & 0x80:
            break
    return data[i:i + n].decode()


class Messages:
    """Python message classes generated from examples/hello's .proto files, or
    None for each when no generator is available."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="rl-hello-py-")
        self.why = None
        self.hello = self.refl = None
        try:
            self._generate()
        except (OSError, subprocess.SubprocessError, ImportError) as e:
            self.why = "cannot generate Python messages: %s" % e

    def _generate(self):
        gens = []
        if importlib.util.find_spec("grpc_tools") is not None:
            gens.append([sys.executable, "-m", "grpc_tools.protoc"])
        if shutil.which("protoc"):
            gens.append(["protoc"])
        if not gens:
            raise ImportError("neither grpc_tools (python3-grpc-tools) nor protoc")
        res = subprocess.run(gens[0] + ["-I", HELLO_SRC, "--python_out", self.tmp] + PROTOS,
                             stdin=subprocess.DEVNULL, capture_output=True, text=True,
                             timeout=120)
        if res.returncode != 0:
            raise OSError("%s failed: %s" % (" ".join(gens[0]), res.stderr.strip()))
        # Loaded by path under private names: a package "grpc.reflection..."
        # would shadow the real grpc package.
        self.hello = self._load("hs_hello_pb2", "hello_pb2.py")
        self.refl = {v: self._load("hs_reflection_%s_pb2" % v,
                                   "grpc/reflection/%s/reflection_pb2.py" % v)
                     for v in ("v1", "v1alpha")}

    def _load(self, name, rel):
        spec = importlib.util.spec_from_file_location(name, os.path.join(self.tmp, rel))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


MSGS = None


def setUpModule():
    global MSGS
    if skip_reason() is None:
        MSGS = Messages()


def tearDownModule():
    if MSGS is not None:
        MSGS.cleanup()


# ---- the server --------------------------------------------------------------

def say_hello(channel, name="World", metadata=None, timeout=10):
    """SayHello through a generic unary call; returns the message text."""
    if MSGS is not None and MSGS.hello is not None:
        call = channel.unary_unary(METHOD,
                                   request_serializer=MSGS.hello.HelloRequest.SerializeToString,
                                   response_deserializer=MSGS.hello.HelloResponse.FromString)
        return call(MSGS.hello.HelloRequest(name=name), metadata=metadata, timeout=timeout).message
    call = channel.unary_unary(METHOD)
    return decode_hello(call(encode_hello(name), metadata=metadata, timeout=timeout))


class HelloServerTestCase(unittest.TestCase):
    def setUp(self):
        reason = skip_reason()
        if reason:
            self.skipTest(reason)

    def assertStopped(self, hs, served=None, **expect):
        """The server exited 0 and printed counts matching expect."""
        hs.stop()
        self.assertEqual(hs.exit_code, 0, hs.describe())
        self.assertIsNotNone(hs.counts, "no 'calls served' line\n" + hs.describe())
        if served is not None:
            self.assertEqual(hs.counts["served"], served, hs.describe())
        for k, v in expect.items():
            self.assertEqual(hs.counts[k], v, "%s\n%s" % (k, hs.describe()))

    def rpc_error(self, fn, *args, **kw):
        with self.assertRaises(grpc.RpcError) as cm:
            fn(*args, **kw)
        return cm.exception

    # ---- SayHello -------------------------------------------------------------
    def test_say_hello(self):
        with HelloServer() as hs:
            ch = hs.channel()
            self.assertEqual(say_hello(ch, "World"), "Hello from Locust, World!")
            self.assertEqual(say_hello(ch, ""), "Hello from Locust, !")
            self.assertEqual(say_hello(ch, "Zoë ✓"), "Hello from Locust, Zoë ✓!")
        self.assertStopped(hs, served=3, hello_ok=3, failed=0)

    def test_x_status_and_message(self):
        with HelloServer() as hs:
            ch = hs.channel()
            e = self.rpc_error(say_hello, ch, metadata=[("x-status", "14"),
                                                        ("x-message", "down for a bit")])
            self.assertEqual(e.code(), grpc.StatusCode.UNAVAILABLE)
            self.assertEqual(e.details(), "down for a bit")
            # grpc-message is percent-encoded on the wire: '%' survives...
            e = self.rpc_error(say_hello, ch, metadata=[("x-status", "5"),
                                                        ("x-message", "100% gone")])
            self.assertEqual(e.code(), grpc.StatusCode.NOT_FOUND)
            self.assertEqual(e.details(), "100% gone")
            # ...and so does UTF-8, sent in a binary header (HTTP/2 header
            # values are ASCII).
            e = self.rpc_error(say_hello, ch, metadata=[("x-status", "5"),
                                                        ("x-message-bin", "naïve ✓".encode())])
            self.assertEqual(e.code(), grpc.StatusCode.NOT_FOUND)
            self.assertEqual(e.details(), "naïve ✓")
            e = self.rpc_error(say_hello, ch, metadata=[("x-status", "13")])
            self.assertEqual(e.code(), grpc.StatusCode.INTERNAL)
            # x-status 0 is an ordinary answer
            self.assertEqual(say_hello(ch, "ok", metadata=[("x-status", "0")]),
                             "Hello from Locust, ok!")
        self.assertStopped(hs, served=5, hello_ok=1, hello_status=4, failed=0)

    def test_bad_knobs_are_invalid_argument(self):
        with HelloServer() as hs:
            ch = hs.channel()
            for md, word in ([("x-delay-ms", "soon")], "x-delay-ms"), \
                            ([("x-delay-ms", "600001")], "x-delay-ms"), \
                            ([("x-delay-ms", "-1")], "x-delay-ms"), \
                            ([("x-status", "17")], "x-status"), \
                            ([("x-status", "")], "x-status"):
                e = self.rpc_error(say_hello, ch, metadata=md)
                self.assertEqual(e.code(), grpc.StatusCode.INVALID_ARGUMENT, md)
                self.assertIn(word, e.details(), md)
            # Not a HelloRequest: field 1 with the wrong wire type.
            e = self.rpc_error(ch.unary_unary(METHOD), b"\x08\x01\x0a", timeout=10)
            self.assertEqual(e.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertStopped(hs, served=6, hello_status=6, failed=0)

    def test_unknown_method_is_unimplemented(self):
        with HelloServer() as hs:
            ch = hs.channel()
            e = self.rpc_error(ch.unary_unary("/locust.hello.HelloService/SayBye"), b"",
                               timeout=10)
            self.assertEqual(e.code(), grpc.StatusCode.UNIMPLEMENTED)
            self.assertEqual(say_hello(ch), "Hello from Locust, World!")
        self.assertStopped(hs, served=2, hello_ok=1, unimplemented=1)

    # ---- delays ---------------------------------------------------------------
    def test_delay_does_not_block_the_thread(self):
        # One completion-queue thread: a delay that slept would stall the
        # plain call behind it.
        with HelloServer("--threads", "1") as hs:
            ch = hs.channel()
            say_hello(ch)  # connected and warm
            with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
                def delayed():
                    t0 = time.monotonic()
                    msg = say_hello(ch, "late", metadata=[("x-delay-ms", "300")])
                    return msg, time.monotonic() - t0
                slow = [pool.submit(delayed) for _ in range(10)]
                time.sleep(0.05)  # the delayed calls are at the server
                t0 = time.monotonic()
                self.assertEqual(say_hello(ch, "now"), "Hello from Locust, now!")
                fast = time.monotonic() - t0
                pending = sum(1 for f in slow if not f.done())
                results = [f.result(timeout=30) for f in slow]
        self.assertGreater(pending, 0, "the delayed calls ended before the plain one")
        self.assertLess(fast, 0.25, "a plain call took %.3fs behind delayed ones" % fast)
        for msg, took in results:
            self.assertEqual(msg, "Hello from Locust, late!")
            self.assertGreaterEqual(took, 0.3)
        # Ten 300 ms delays at once, not one after the other.
        self.assertLess(max(t for _, t in results), 2.0, results)
        self.assertStopped(hs, served=12, hello_ok=12, failed=0)

    def test_delay_with_status(self):
        with HelloServer() as hs:
            ch = hs.channel()
            say_hello(ch)
            t0 = time.monotonic()
            e = self.rpc_error(say_hello, ch, metadata=[("x-delay-ms", "200"), ("x-status", "8"),
                                                        ("x-message", "slow no")])
            took = time.monotonic() - t0
            self.assertEqual(e.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
            self.assertEqual(e.details(), "slow no")
            self.assertGreaterEqual(took, 0.2)
        self.assertStopped(hs, served=2, hello_ok=1, hello_status=1)

    def test_client_deadline_frees_a_delayed_call(self):
        with HelloServer("--grace", "30") as hs:
            ch = hs.channel()
            e = self.rpc_error(say_hello, ch, metadata=[("x-delay-ms", "60000")], timeout=0.3)
            self.assertEqual(e.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
            time.sleep(0.2)
            # The call left the delay heap when the client gave up: the
            # graceful stop has nothing to wait for.
            t0 = time.monotonic()
            hs.stop()
            took = time.monotonic() - t0
        self.assertLess(took, 5.0, "stop waited for an abandoned delayed call\n" + hs.describe())
        self.assertStopped(hs, served=0, failed=1)

    def test_too_many_delayed_calls_are_refused(self):
        with HelloServer("--threads", "1", "--max-delayed", "2") as hs:
            ch = hs.channel()
            say_hello(ch)
            with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
                futs = [pool.submit(say_hello, ch, "x", [("x-delay-ms", "500")])
                        for _ in range(2)]
                time.sleep(0.2)
                e = self.rpc_error(say_hello, ch, metadata=[("x-delay-ms", "500")])
                self.assertEqual(e.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
                self.assertIn("too many delayed calls", e.details())
                for f in futs:
                    self.assertEqual(f.result(timeout=30), "Hello from Locust, x!")
        self.assertStopped(hs, served=4, hello_ok=3, hello_status=1)

    # ---- load and counting ------------------------------------------------------
    def test_thousand_calls_from_ten_threads_are_counted(self):
        with HelloServer("--threads", "2") as hs:
            ch = hs.channel()

            def worker(k):
                ok = 0
                for i in range(100):
                    name = "u%d-%d" % (k, i)
                    if say_hello(ch, name) == "Hello from Locust, %s!" % name:
                        ok += 1
                return ok

            with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
                oks = list(pool.map(worker, range(10), timeout=300))
        self.assertEqual(sum(oks), 1000)
        self.assertStopped(hs, served=1000, hello_ok=1000, failed=0)

    # ---- shutdown ----------------------------------------------------------------
    def test_sigint_lets_a_delayed_call_finish(self):
        with HelloServer() as hs:
            ch = hs.channel()
            say_hello(ch)
            with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
                f = pool.submit(say_hello, ch, "last", [("x-delay-ms", "800")])
                time.sleep(0.2)
                hs.send_signal(signal.SIGINT)
                time.sleep(0.2)
                # Stopping: a new connection is refused...
                e = self.rpc_error(say_hello, hs.channel(), timeout=3)
                self.assertEqual(e.code(), grpc.StatusCode.UNAVAILABLE)
                # ...while the call in flight gets its delayed answer.
                self.assertEqual(f.result(timeout=30), "Hello from Locust, last!")
        self.assertIn("SIGINT", hs.stderr)
        self.assertStopped(hs, served=2, hello_ok=2, failed=0)

    def test_grace_time_cancels_open_streams(self):
        self.requireMessages()
        pb = MSGS.refl["v1"]
        with HelloServer("--grace", "0.5") as hs:
            ch = hs.channel()
            release = threading.Event()

            def requests():
                yield pb.ServerReflectionRequest(list_services="")
                release.wait(30)  # keep the stream open

            stream = ch.stream_stream(REFLECTION % "v1",
                                      request_serializer=pb.ServerReflectionRequest.SerializeToString,
                                      response_deserializer=pb.ServerReflectionResponse.FromString)
            it = stream(requests(), timeout=60)
            self.assertEqual(next(it).WhichOneof("message_response"), "list_services_response")
            # Signal with the stream still open (stop() would first close
            # the channel, which ends the stream from the client's side).
            t0 = time.monotonic()
            hs.send_signal(signal.SIGTERM)
            try:
                hs.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            took = time.monotonic() - t0
            with self.assertRaises(grpc.RpcError):
                next(it)
            release.set()
        self.assertLess(took, 5.0, hs.describe())
        self.assertIn("cancelling the calls still in flight", hs.stderr)
        self.assertStopped(hs, served=0, failed=1)

    # ---- reflection --------------------------------------------------------------
    def requireMessages(self):
        if MSGS is None or MSGS.refl is None:
            self.skipTest(MSGS.why if MSGS else "no message classes")

    def reflect(self, ch, version, requests):
        pb = MSGS.refl[version]
        stream = ch.stream_stream(REFLECTION % version,
                                  request_serializer=pb.ServerReflectionRequest.SerializeToString,
                                  response_deserializer=pb.ServerReflectionResponse.FromString)
        return list(stream(iter(requests), timeout=10))

    # ---- the streaming methods ----------------------------------------------
    def stub(self, ch, kind, path):
        H = MSGS.hello
        make = getattr(ch, kind)
        req = H.HelloStreamRequest if path.endswith("Stream") else H.HelloRequest
        return make("/locust.hello.HelloService/" + path,
                    request_serializer=req.SerializeToString,
                    response_deserializer=H.HelloResponse.FromString)

    def test_say_hello_stream(self):
        self.requireMessages()
        H = MSGS.hello
        with HelloServer() as hs:
            ch = hs.channel()
            call = self.stub(ch, "unary_stream", "SayHelloStream")
            t0 = time.monotonic()
            got = [r.message for r in call(H.HelloStreamRequest(name="s", count=3,
                                                                 interval_ms=30),
                                           timeout=10)]
            self.assertGreaterEqual(time.monotonic() - t0, 0.055)
            self.assertEqual(got, ["Hello from Locust, s!"] * 3)
            # count 0 is one message
            self.assertEqual(len(list(call(H.HelloStreamRequest(name="one"), timeout=10))), 1)
            # x-status: the messages, then the status (a stream failing midway)
            it = call(H.HelloStreamRequest(name="e", count=2), timeout=10,
                      metadata=[("x-status", "14"), ("x-message", "draining")])
            self.assertEqual(next(it).message, "Hello from Locust, e!")
            self.assertEqual(next(it).message, "Hello from Locust, e!")
            with self.assertRaises(grpc.RpcError) as cm:
                next(it)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE)
            self.assertEqual(cm.exception.details(), "draining")
            # A client that goes away mid-stream: the call is counted failed,
            # the server stops sending.
            it = call(H.HelloStreamRequest(name="c", count=1000, interval_ms=50), timeout=10)
            self.assertEqual(next(it).message, "Hello from Locust, c!")
            it.cancel()
            time.sleep(0.3)
        self.assertStopped(hs, served=0, failed=0)
        self.assertEqual(hs.counts["stream_ok"], 2, hs.describe())
        self.assertEqual(hs.counts["stream_status"], 1, hs.describe())
        self.assertEqual(hs.counts["stream_failed"], 1, hs.describe())
        self.assertEqual(hs.counts["msgs_in"], 4, hs.describe())
        self.assertLessEqual(hs.counts["msgs_out"], 3 + 1 + 2 + 3, hs.describe())
        self.assertGreaterEqual(hs.counts["msgs_out"], 3 + 1 + 2 + 1, hs.describe())

    def test_say_hello_to_all_and_chat(self):
        self.requireMessages()
        H = MSGS.hello
        with HelloServer() as hs:
            ch = hs.channel()
            to_all = self.stub(ch, "stream_unary", "SayHelloToAll")
            names = [H.HelloRequest(name=n) for n in ("a", "b", "c", "d")]
            self.assertEqual(to_all(iter(names), timeout=10).message,
                             "Hello from Locust, 4 names!")
            self.assertEqual(to_all(iter([]), timeout=10).message,
                             "Hello from Locust, 0 names!")
            chat = self.stub(ch, "stream_stream", "SayHelloChat")
            got = [r.message for r in chat(iter(names), timeout=10)]
            self.assertEqual(got, ["Hello from Locust, %s!" % n for n in "abcd"])
            with self.assertRaises(grpc.RpcError) as cm:
                to_all(iter(names[:1]), timeout=10, metadata=[("x-status", "5")])
            self.assertEqual(cm.exception.code(), grpc.StatusCode.NOT_FOUND)
        self.assertStopped(hs, served=0, failed=0)
        self.assertEqual(hs.counts["stream_ok"], 3, hs.describe())
        self.assertEqual(hs.counts["stream_status"], 1, hs.describe())
        self.assertEqual(hs.counts["stream_failed"], 0, hs.describe())
        self.assertEqual(hs.counts["msgs_in"], 4 + 0 + 4 + 1, hs.describe())
        self.assertEqual(hs.counts["msgs_out"], 1 + 1 + 4, hs.describe())

    def test_reflection_lists_and_describes_the_service(self):
        self.requireMessages()
        from google.protobuf import descriptor_pb2
        with HelloServer() as hs:
            ch = hs.channel()
            for version in ("v1", "v1alpha"):
                pb = MSGS.refl[version]
                R = pb.ServerReflectionRequest
                resps = self.reflect(ch, version, [
                    R(host="h", list_services="*"),
                    R(file_containing_symbol="locust.hello.HelloService"),
                    R(file_containing_symbol="locust.hello.HelloService.SayHello"),
                    R(file_containing_symbol="locust.hello.HelloRequest.name"),
                    R(file_by_filename="hello.proto"),
                    R(file_containing_symbol="locust.hello.Nope"),
                    R(file_by_filename="grpc/reflection/%s/reflection.proto" % version),
                    R(all_extension_numbers_of_type="locust.hello.HelloRequest"),
                    R(file_containing_extension=pb.ExtensionRequest(
                        containing_type="locust.hello.HelloRequest", extension_number=100)),
                    R(),
                ])
                self.assertEqual(len(resps), 10, version)
                kinds = [r.WhichOneof("message_response") for r in resps]
                self.assertEqual(kinds, ["list_services_response"] + ["file_descriptor_response"] * 4
                                 + ["error_response", "file_descriptor_response",
                                    "all_extension_numbers_response", "error_response",
                                    "error_response"], version)
                names = [s.name for s in resps[0].list_services_response.service]
                self.assertIn("locust.hello.HelloService", names)
                self.assertIn("grpc.reflection.v1.ServerReflection", names)
                self.assertIn("grpc.reflection.v1alpha.ServerReflection", names)
                self.assertEqual(resps[0].valid_host, "h")
                self.assertEqual(resps[0].original_request.list_services, "*")
                for r in resps[1:5]:
                    files = r.file_descriptor_response.file_descriptor_proto
                    self.assertEqual(len(files), 1)
                    fd = descriptor_pb2.FileDescriptorProto.FromString(files[0])
                    self.assertEqual(fd.name, "hello.proto")
                    self.assertEqual(fd.package, "locust.hello")
                    self.assertEqual([m.name for m in fd.service[0].method],
                                     ["SayHello", "SayHelloStream", "SayHelloToAll",
                                      "SayHelloChat"])
                self.assertEqual(resps[5].error_response.error_code, grpc.StatusCode.NOT_FOUND.value[0])
                fd = descriptor_pb2.FileDescriptorProto.FromString(
                    resps[6].file_descriptor_response.file_descriptor_proto[0])
                self.assertEqual(fd.package, "grpc.reflection.%s" % version)
                self.assertEqual(resps[7].all_extension_numbers_response.base_type_name,
                                 "locust.hello.HelloRequest")
                self.assertEqual(list(resps[7].all_extension_numbers_response.extension_number), [])
                self.assertEqual(resps[8].error_response.error_code,
                                 grpc.StatusCode.NOT_FOUND.value[0])
                self.assertEqual(resps[9].error_response.error_code,
                                 grpc.StatusCode.UNIMPLEMENTED.value[0])
        self.assertStopped(hs, served=2, reflection=2, failed=0)

    def test_reflected_descriptor_is_enough_to_call(self):
        """What a client without the .proto does (grpcurl, rpcload's plugin):
        build the types from reflection alone, then call."""
        self.requireMessages()
        from google.protobuf import descriptor_pb2, descriptor_pool
        try:
            from google.protobuf import message_factory
            get_class = getattr(message_factory, "GetMessageClass", None)
        except ImportError:
            self.skipTest("google.protobuf.message_factory is missing")
        with HelloServer() as hs:
            ch = hs.channel()
            pb = MSGS.refl["v1"]
            resp, = self.reflect(ch, "v1", [pb.ServerReflectionRequest(
                file_containing_symbol="locust.hello.HelloService")])
            pool = descriptor_pool.DescriptorPool()
            for raw in resp.file_descriptor_response.file_descriptor_proto:
                pool.Add(descriptor_pb2.FileDescriptorProto.FromString(raw))
            svc = pool.FindServiceByName("locust.hello.HelloService")
            m = svc.FindMethodByName("SayHello")
            if get_class:
                Req, Resp = get_class(m.input_type), get_class(m.output_type)
            else:
                factory = message_factory.MessageFactory(pool)
                Req, Resp = factory.GetPrototype(m.input_type), factory.GetPrototype(m.output_type)
            call = ch.unary_unary("/%s/%s" % (svc.full_name, m.name),
                                  request_serializer=Req.SerializeToString,
                                  response_deserializer=Resp.FromString)
            self.assertEqual(call(Req(name="reflected"), timeout=10).message,
                             "Hello from Locust, reflected!")
        self.assertStopped(hs, served=2, reflection=1, hello_ok=1)

    def test_no_reflection(self):
        self.requireMessages()
        with HelloServer("--no-reflection") as hs:
            ch = hs.channel()
            pb = MSGS.refl["v1"]
            e = self.rpc_error(self.reflect, ch, "v1",
                               [pb.ServerReflectionRequest(list_services="")])
            self.assertEqual(e.code(), grpc.StatusCode.UNIMPLEMENTED)
        self.assertStopped(hs, served=1, unimplemented=1)

    # ---- transport ------------------------------------------------------------------
    def test_tls(self):
        if not shutil.which("openssl"):
            self.skipTest("openssl is missing (scripts/setup.sh installs it)")
        with tempfile.TemporaryDirectory(prefix="rl-hello-tls-") as d:
            cert, key = make_self_signed_cert(d)
            with open(cert, "rb") as f:
                root = f.read()
            with HelloServer("--tls", cert, key) as hs:
                ch = hs.channel(grpc.ssl_channel_credentials(root_certificates=root))
                self.assertEqual(say_hello(ch, "tls"), "Hello from Locust, tls!")
                e = self.rpc_error(say_hello, hs.channel(), timeout=3)
                self.assertEqual(e.code(), grpc.StatusCode.UNAVAILABLE)
        self.assertStopped(hs, hello_ok=1)

    def test_tls_with_missing_key_fails_to_start(self):
        with tempfile.TemporaryDirectory(prefix="rl-hello-tls-") as d:
            hs = HelloServer("--tls", os.path.join(d, "nope.pem"), os.path.join(d, "nokey.pem"))
            with self.assertRaises(AssertionError):
                hs.start()
            hs.stop()
        self.assertEqual(hs.exit_code, 1, hs.describe())
        self.assertIn("nope.pem", hs.stderr)

    def test_ipv6_loopback(self):
        if not socket.has_ipv6:
            self.skipTest("no IPv6")
        try:
            with socket.socket(socket.AF_INET6) as s:
                s.bind(("::1", 0))
        except OSError:
            self.skipTest("::1 is not available")
        with HelloServer(host="::1") as hs:
            self.assertEqual(say_hello(hs.channel(), "six"), "Hello from Locust, six!")
        self.assertStopped(hs, hello_ok=1)

    def test_busy_port_is_an_error(self):
        with HelloServer() as first:
            argv = [SERVER_BIN, "--port", str(first.port)]
            res = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                 timeout=60)
            self.assertEqual(res.returncode, 1, res)
            self.assertIn("cannot listen on 127.0.0.1:%d" % first.port, res.stderr)
            self.assertEqual(say_hello(first.channel()), "Hello from Locust, World!")
        self.assertStopped(first, hello_ok=1)

    def test_usage_errors(self):
        for argv in (["--port", "70000"], ["--threads", "0"], ["--tls", "only-cert"],
                     ["--grace", "x"], ["--bogus"]):
            res = subprocess.run([SERVER_BIN] + argv, stdin=subprocess.DEVNULL,
                                 capture_output=True, text=True, timeout=60)
            self.assertEqual(res.returncode, 2, (argv, res))
        res = subprocess.run([SERVER_BIN, "--help"], stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(res.returncode, 0)
        self.assertIn("x-delay-ms", res.stdout)

    # ---- valgrind -----------------------------------------------------------------
    def test_valgrind_short_run(self):
        if not shutil.which("valgrind"):
            self.skipTest("valgrind is missing (scripts/setup.sh installs it)")
        with open(SERVER_BIN, "rb") as f:
            if b"__asan_init" in f.read():
                self.skipTest("sanitized build: valgrind cannot run it")
        with HelloServer("--threads", "2", wrapper=VALGRIND, start_timeout_s=120) as hs:
            ch = hs.channel()
            for i in range(50):
                self.assertEqual(say_hello(ch, str(i), timeout=30), "Hello from Locust, %d!" % i)
            self.rpc_error(say_hello, ch, metadata=[("x-status", "14")], timeout=30)
            say_hello(ch, "late", metadata=[("x-delay-ms", "100")], timeout=30)
            if MSGS is not None and MSGS.refl is not None:
                pb = MSGS.refl["v1alpha"]
                self.reflect(ch, "v1alpha", [pb.ServerReflectionRequest(list_services=""),
                                             pb.ServerReflectionRequest(
                                                 file_by_filename="hello.proto")])
            self.rpc_error(ch.unary_unary("/x/y"), b"", timeout=30)
        hs.stop(timeout_s=120)
        self.assertNotEqual(hs.exit_code, 99, "valgrind found errors or leaks\n" + hs.describe())
        self.assertRegex(hs.stderr, r"ERROR SUMMARY: 0 errors", hs.describe())
        self.assertEqual(hs.exit_code, 0, hs.describe())
        self.assertEqual(hs.counts["hello_ok"], 51, hs.describe())


if __name__ == "__main__":
    unittest.main()

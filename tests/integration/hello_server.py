"""examples/hello's server for the integration tests: started on a port the
kernel picks, stopped by signal, its count of calls parsed (HelloServer), and
why it cannot run here (skip_reason). The server's own tests are
examples/hello/tests/test_hello_server.py.
"""

import os
import re
import select
import signal
import subprocess
import tempfile
import time

from servers import popen_bounded, stop_process

try:
    import grpc
except ImportError:  # python3-grpcio (scripts/setup.sh installs it)
    grpc = None

SOURCE_DIR = os.environ.get("RPCLOAD_SOURCE_DIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HELLO_SRC = os.path.join(SOURCE_DIR, "examples", "hello")
BUILD_DIR = os.environ.get("RPCLOAD_BUILD_DIR", "")
SERVER_BIN = os.path.join(BUILD_DIR, "examples", "hello", "hello_server") if BUILD_DIR else ""

METHOD = "/locust.hello.HelloService/SayHello"
REFLECTION = "/grpc.reflection.%s.ServerReflection/ServerReflectionInfo"
PROTOS = ["hello.proto", "grpc/reflection/v1/reflection.proto",
          "grpc/reflection/v1alpha/reflection.proto"]
# Loopback only, and no http_proxy from the environment.
CHANNEL_OPTIONS = [("grpc.enable_http_proxy", 0)]

VALGRIND = ["valgrind", "--leak-check=full", "--show-leak-kinds=definite,indirect",
            "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99",
            "--num-callers=30"]

COUNT_RE = re.compile(r"^calls served: (\d+) \(hello ok (\d+), hello error status (\d+), "
                      r"reflection (\d+), unimplemented (\d+)\), failed (\d+)$", re.M)
STREAM_RE = re.compile(r"^stream calls served: (\d+) \(ok (\d+), error status (\d+)\), "
                       r"failed (\d+); messages received (\d+), sent (\d+)$", re.M)


def skip_reason():
    if grpc is None:
        return "Python grpc is missing (python3-grpcio; scripts/setup.sh installs it)"
    if not BUILD_DIR:
        return "RPCLOAD_BUILD_DIR is not set (ctest sets it)"
    if not os.access(SERVER_BIN, os.X_OK):
        return ("%s is not built (it needs libgrpc-dev, libprotobuf-c-dev, protobuf-c-compiler "
                "and protobuf-compiler at configure time: scripts/setup.sh)" % SERVER_BIN)
    return None


class HelloServer:
    """hello_server on a port the kernel picks (--port 0), stopped by signal.

        with HelloServer("--threads", "2") as hs:
            ... hs.target, hs.channel() ...
        hs.counts  # the lines it printed at exit, parsed (streams: stream_*,
                   # msgs_in, msgs_out)
    """

    def __init__(self, *args, host="127.0.0.1", wrapper=None, start_timeout_s=30.0):
        self.args = list(args)
        self.host = host
        self.wrapper = list(wrapper or [])
        self.start_timeout_s = start_timeout_s
        self.proc = None
        self.port = None
        self.stdout = ""
        self.stderr = ""
        self.exit_code = None
        self.counts = None
        self._errf = None
        self._channels = []
        self._signalled = False

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    @property
    def target(self):
        return ("[%s]:%d" if ":" in self.host else "%s:%d") % (self.host, self.port)

    def start(self):
        # stderr to a file: grpc's own logging must never fill a pipe.
        self._errf = tempfile.TemporaryFile(mode="w+")
        argv = self.wrapper + [SERVER_BIN, "--host", self.host, "--port", "0"] + self.args
        self.proc = popen_bounded(argv, stdout=subprocess.PIPE, stderr=self._errf, text=True)
        line = self._readline(self.start_timeout_s)
        m = re.match(r"^listening on (\S+):(\d+)$", line.strip())
        if not m:
            self.stop()
            raise AssertionError("hello_server did not report its port (got %r)\n%s"
                                 % (line, self.describe()))
        self.port = int(m.group(2))

    def _readline(self, timeout_s):
        """One line of stdout, waiting at most timeout_s."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.1)
            if ready:
                return self.proc.stdout.readline()
            if self.proc.poll() is not None:
                return ""
        return ""

    def channel(self, credentials=None, options=()):
        opts = CHANNEL_OPTIONS + list(options)
        if credentials is None:
            ch = grpc.insecure_channel(self.target, options=opts)
        else:
            ch = grpc.secure_channel(self.target, credentials, options=opts)
        self._channels.append(ch)
        return ch

    def send_signal(self, sig):
        """Send sig (SIGTERM, SIGINT); stop() then only waits."""
        self.proc.send_signal(sig)
        self._signalled = True

    def stop(self, sig=signal.SIGTERM, timeout_s=30.0):
        """Signal the server (unless send_signal() did), wait for it, parse its
        count. Idempotent."""
        for ch in self._channels:
            ch.close()
        self._channels = []
        if self.proc is None:
            return
        if self.proc.poll() is None and not self._signalled:
            self.proc.send_signal(sig)
        try:
            out, _ = self.proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            stop_process(self.proc, term_timeout_s=1)
            out, _ = self.proc.communicate(timeout=10)
        self.stdout += out or ""
        self.exit_code = self.proc.returncode
        self._errf.seek(0)
        self.stderr = self._errf.read()
        self._errf.close()
        self.proc = None
        m = COUNT_RE.search(self.stdout)
        if m:
            keys = ("served", "hello_ok", "hello_status", "reflection", "unimplemented",
                    "failed")
            self.counts = dict(zip(keys, map(int, m.groups())))
        m = STREAM_RE.search(self.stdout)
        if m and self.counts is not None:
            keys = ("stream_served", "stream_ok", "stream_status", "stream_failed",
                    "msgs_in", "msgs_out")
            self.counts.update(zip(keys, map(int, m.groups())))

    def describe(self):
        return "hello_server exit %s\n--- stdout\n%s\n--- stderr\n%s" % (
            self.exit_code, self.stdout[-4000:], self.stderr[-8000:])

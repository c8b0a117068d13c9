"""The plugin conformance kit (rpcload-conformance).

It must pass every plugin of the repository against its real server, and it
must catch each way of breaking the contract: tests/plugins/echo_plugin.c is
built in broken variants, run against a line-echo server started here.
"""
import os
import socket
import subprocess
import threading
import time
import unittest

import rpcload

from servers import (HOST, LineEchoServer, NginxH2Server, NginxServer, RedisServer,
                     UdpEchoServer)

BUILD = os.environ.get("RPCLOAD_BUILD_DIR") or os.path.dirname(
    os.environ["RPCLOAD_BIN"])
KIT = os.path.join(BUILD, "rpcload-conformance")
PLUGINS = os.environ["RPCLOAD_PLUGIN_DIR"]
FAKES = os.path.join(BUILD, "tests", "fake_plugins")


class EchoServer:
    """A line-echo TCP server on a free loopback port, in a thread; it stops
    by itself after `lifetime_s`."""

    def __init__(self, lifetime_s=120):
        self.sock = socket.socket()
        self.sock.bind((HOST, 0))
        self.sock.listen(256)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.deadline = time.monotonic() + lifetime_s
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping = True
        self.thread.join(5)
        self.sock.close()

    def _accept(self):
        while not self.stopping and time.monotonic() < self.deadline:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    def _echo(self, conn):
        conn.settimeout(1.0)
        with conn:
            while not self.stopping and time.monotonic() < self.deadline:
                try:
                    data = conn.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    return
                if not data:
                    return
                try:
                    conn.sendall(data)
                except OSError:
                    return


def run_kit(plugin, url, *extra, valgrind=False, timeout=120):
    argv = [KIT, "--plugin", plugin, "--url", url, "--seconds", "1",
            "--users", "4", *extra]
    if valgrind:
        argv = ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
                "--error-exitcode=99", "--quiet", *argv, "--stall-ms", "2000"]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


class KitCatchesBrokenPlugins(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.echo = EchoServer().__enter__()
        cls.url = f"echo://{HOST}:{cls.echo.port}"

    @classmethod
    def tearDownClass(cls):
        cls.echo.__exit__(None, None, None)

    def variant(self, name):
        return os.path.join(FAKES, f"echo_{name}.so")

    def test_good_plugin_passes(self):
        rc, out, err = run_kit(self.variant("good"), self.url)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("0 failed", out)
        self.assertNotIn("FAIL", out)
        self.assertIn("PASS  cut at the stop", out)

    def assert_caught(self, name, words):
        rc, out, err = run_kit(self.variant(name), self.url)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("FAIL", out)
        self.assertIn(words, out)
        self.assertRegex(out, r"\n\d+ passed, [1-9]\d* failed\n")

    def test_double_report(self):
        self.assert_caught("double", "request_done twice for one request")

    def test_forgotten_in_session_del(self):
        self.assert_caught("forget", "session_del returned with 1 accepted request(s) never reported")

    def test_report_inside_submit(self):
        self.assert_caught("in_submit", "request_done called from inside submit")

    def test_report_after_refused_submit(self):
        self.assert_caught("after_refuse", "request_done for a request whose submit had failed")

    def test_blocking_callback(self):
        self.assert_caught("block", "session_on_read blocked the worker thread for 12")
        rc, out, _ = run_kit(self.variant("block"), self.url)
        # The stall is its own check's failure, not the load run's.
        self.assertIn("PASS  load:", out)
        self.assertIn("FAIL  no blocking:", out)

    def test_cpu_hungry_callback(self):
        self.assert_caught("spin", "session_on_read used 12")

    def test_broken_partial_read_path(self):
        # Whole replies read fine; a reply in pieces does not.
        rc, out, err = run_kit(self.variant("one_read"), self.url)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("PASS  load:", out)
        self.assertRegex(out, r"FAIL  replies split at every byte: \d+ request\(s\), [1-9]\d* "
                              r"failed \(none failed whole: echo ping: short reply\)")

    def test_good_plugin_passes_under_faults(self):
        rc, out, err = run_kit(self.variant("good"), self.url)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("PASS  replies split at every byte", out)
        self.assertRegex(out, r"PASS  server closes mid-reply: [1-9]\d* reply\(ies\) cut")

    def test_step_refused_exits_2(self):
        rc, out, _ = run_kit(self.variant("step_refused"), self.url)
        self.assertEqual(rc, 2, out)
        self.assertIn("FAIL  setup: the step was refused: echo: no step suits this echo", out)

    def test_not_a_plugin(self):
        rc, out, _ = run_kit(os.path.join(FAKES, "fake_no_entry.so"), self.url)
        self.assertEqual(rc, 2)
        self.assertIn("not an rpcload plugin", out)

    def test_bad_arguments(self):
        p = subprocess.run([KIT, "--plugin", "x"], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertIn("Usage: rpcload-conformance", p.stderr)


class RepositoryPluginsConform(unittest.TestCase):
    def test_http1_against_nginx(self):
        with NginxServer() as ng:
            rc, out, err = run_kit(os.path.join(PLUGINS, "http1.so"), ng.url("/hello"))
        self.assertEqual(rc, 0, out + err)
        self.assertIn("0 failed", out)
        self.assertIn("all failed (GET /hello: connection refused)", out)

    def assert_conforms(self, plugin, url, *extra):
        rc, out, err = run_kit(os.path.join(PLUGINS, plugin), url, *extra)
        self.assertEqual(rc, 0, out + err)
        self.assertRegex(out, r"\n1[2-5] passed, 0 failed\n")

    def test_http2_against_nginx_h2c(self):
        """Multiplexed: 20 users on 4 shared connections, GOAWAY every 200
        requests (nginx's keepalive_requests), so streams are retried."""
        with NginxH2Server(max_requests=200) as ng:
            self.assert_conforms("http2.so", ng.url("/hello"), "--connections", "4")

    def test_redis_against_redis_server(self):
        with RedisServer() as rs:
            self.assert_conforms("redis.so", rs.url(), "--call", "SET k:{{seq}} v")

    def test_udp_against_udp_echo(self):
        """The transport shape: also every 7th datagram dropped, so the
        plugin's timeouts run inside the kit."""
        with UdpEchoServer(drop_every=7) as us:
            self.assert_conforms("udp.so", us.url(), "-d", "ping {{seq}}")

    def test_lineproto_against_line_echo(self):
        with LineEchoServer() as ls:
            self.assert_conforms("lineproto.so", ls.url(), "-d", "hello {{user_id}}")

    def test_http1_teardown_under_valgrind(self):
        """Cutting a run with requests in flight leaks nothing."""
        if rpcload.sanitized():
            self.skipTest("sanitized build: valgrind cannot run it")
        with NginxServer() as ng:
            rc, out, err = run_kit(os.path.join(PLUGINS, "http1.so"), ng.url("/hello"),
                                   valgrind=True, timeout=300)
        self.assertNotEqual(rc, 99, err[-3000:])
        self.assertEqual(rc, 0, out + err[-3000:])


if __name__ == "__main__":
    unittest.main()

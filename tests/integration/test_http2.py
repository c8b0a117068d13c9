"""Integration tests of the http2 plugin against real HTTP/2 servers: nginx
(h2c with prior knowledge and h2 over TLS) and nghttpd.

The plugin is chosen with --plugin http2. The tests of --http2 and of the
ALPN choice on https:// (the core's side) run once `rpcload --help` lists
--http2.

Run from this folder:  RPCLOAD_BIN=../../build/rpcload \
    RPCLOAD_PLUGIN_DIR=../../build/plugins /usr/bin/python3 -m unittest -v test_http2
"""

import csv
import glob
import os
import re
import select
import shutil
import signal
import socket
import tempfile
import time
import unittest

import rpcload
from servers import (BlackHoleServer, NghttpdServer, NginxH2Server, NginxServer,
                     _ThreadedTcpServer)

BIG = 10 * 1024 * 1024


def _help_text():
    try:
        return rpcload.run(["--help"], timeout_s=10).stdout
    except FileNotFoundError:
        return ""


_HELP = _help_text()
HAS_HTTP2_FLAG = re.search(r"(?<![\w-])--http2(?![\w-])", _HELP) is not None
HAS_CSV = re.search(r"(?<![\w-])--csv(?![\w-])", _HELP) is not None


class Http2Case(unittest.TestCase):
    """Helpers shared by the nginx and nghttpd cases."""

    def rl(self, *args, timeout_s=60):
        return rpcload.run(list(args), timeout_s=timeout_s)

    def report_of(self, res):
        """The parsed final report; fails the test if it has no Aggregated row."""
        self.assertFalse(res.timed_out, "rpcload did not finish in time\n" + res.describe())
        rep = res.report()
        self.assertIsNotNone(rep.aggregated,
                             "no final stats table with an Aggregated row\n" + res.describe())
        return rep

    def assertExit(self, res, code):
        self.assertEqual(res.exit_code, code, "unexpected exit status\n" + res.describe())

    def assertAllOk(self, res, rep, type_, name, server_count=None):
        """0 failures, > 0 requests, the (type, name) row and the Aggregated
        row agree, and so does the server's own count when it keeps one."""
        agg = rep.aggregated
        self.assertGreater(agg.reqs, 0, res.describe())
        self.assertEqual(agg.fails, 0, res.describe())
        row = rep.row(type_, name)
        self.assertIsNotNone(row, "no %s %s row\n%s" % (type_, name, res.describe()))
        self.assertEqual(row.reqs, agg.reqs, res.describe())
        if server_count is not None:
            self.assertEqual(agg.reqs, server_count,
                             "rpcload counted %d requests, the server logged %d\n%s"
                             % (agg.reqs, server_count, res.describe()))

    def assertAllFailed(self, res, rep, error_re):
        """Every request failed, the error report's occurrences add up to the
        failures, and some error text matches error_re."""
        agg = rep.aggregated
        self.assertGreater(agg.reqs, 0, res.describe())
        self.assertEqual(agg.fails, agg.reqs, "not every request failed\n" + res.describe())
        self.assertTrue(rep.errors, "no error report\n" + res.describe())
        self.assertEqual(sum(e.occurrences for e in rep.errors), agg.fails,
                         "error report occurrences do not add up to the failures\n"
                         + res.describe())
        self.assertTrue(any(re.search(error_re, e.text) for e in rep.errors),
                        "no error matching %r in the error report\n%s"
                        % (error_re, res.describe()))


class NginxH2Test(Http2Case):
    """Each test gets its own HTTP/2-only nginx (h2c + TLS h2), whose
    connections take a million requests: no GOAWAY interferes here
    (NginxGoawayTest has them)."""

    max_requests = None

    def setUp(self):
        self.nginx = NginxH2Server(max_requests=self.max_requests)
        self.nginx.__enter__()
        self.addCleanup(self.nginx.stop)

    def assertHttp2Log(self, res, n, tls=False):
        """The access log holds exactly n lines, all HTTP/2.0."""
        self.assertEqual(self.nginx.protocols(tls=tls), {"HTTP/2.0": n},
                         "nginx did not log %d HTTP/2.0 requests\n%s" % (n, res.describe()))

    def test_h2c_count_equals_access_log(self):
        res = self.rl("--plugin", "http2", "-u", "10", "-r", "10", "-t", "3s",
                      "--stop-timeout", "5", self.nginx.url("/hello"), timeout_s=40)
        rep = self.report_of(res)
        self.assertExit(res, 0)
        self.assertAllOk(res, rep, "GET", "/hello", self.nginx.count(path="/hello", status=200))
        self.assertHttp2Log(res, rep.aggregated.reqs)

    def test_h2c_users_share_connections(self):
        # 20 users on 2 connections: their requests run as concurrent
        # streams, and nginx sees no more than the 2 connections.
        res = self.rl("--plugin", "http2", "-u", "20", "-r", "100", "-t", "3s",
                      "--connections", "2", "--stop-timeout", "5",
                      self.nginx.url("/hello"), timeout_s=40)
        rep = self.report_of(res)
        self.assertExit(res, 0)
        self.assertAllOk(res, rep, "GET", "/hello", self.nginx.count(path="/hello"))
        conns = {e["conn"] for e in self.nginx.log_entries()}
        self.assertEqual(len(conns), 2, res.describe())

    def test_h2c_404_fails_with_reason_phrase(self):
        res = self.rl("--plugin", "http2", "-u", "2", "-r", "10", "-t", "2s",
                      "--stop-timeout", "5", self.nginx.url("/missing"), timeout_s=40)
        rep = self.report_of(res)
        self.assertExit(res, 1)
        self.assertAllFailed(res, rep, r"^GET /missing: HTTP 404 Not Found$")
        self.assertEqual(self.nginx.count(path="/missing", status=404), rep.aggregated.reqs,
                         res.describe())

    def test_h2c_post_with_data_and_header(self):
        res = self.rl("--plugin", "http2", "-u", "2", "-r", "10", "-t", "2s",
                      "--stop-timeout", "5", "-d", "hello=1", "-H", "X-RL-Test: yes",
                      "-H", "Connection: keep-alive", self.nginx.url("/hello"), timeout_s=40)
        rep = self.report_of(res)
        self.assertExit(res, 0)
        self.assertAllOk(res, rep, "POST", "/hello",
                         self.nginx.count(path="/hello", method="POST"))
        for e in self.nginx.log_entries():
            self.assertEqual((e["method"], e["content_length"], e["x_rl_test"], e["protocol"]),
                             ("POST", "7", "yes", "HTTP/2.0"), "access-log line %r" % e)

    def test_h2c_templated_body(self):
        # "user={{user_id}}" is 16 bytes as written, 6 once expanded.
        res = self.rl("--plugin", "http2", "-u", "3", "-r", "10", "-t", "2s",
                      "--stop-timeout", "5", "-d", "user={{user_id}}",
                      self.nginx.url("/hello"), timeout_s=40)
        rep = self.report_of(res)
        self.assertExit(res, 0)
        self.assertAllOk(res, rep, "POST", "/hello", self.nginx.count(path="/hello"))
        self.assertEqual({e["content_length"] for e in self.nginx.log_entries()}, {"6"},
                         res.describe())

    def test_tls_h2_insecure(self):
        res = self.rl("--plugin", "http2", "--insecure", "-u", "5", "-r", "10", "-t", "3s",
                      "--stop-timeout", "5", self.nginx.url("/hello", tls=True), timeout_s=40)
        rep = self.report_of(res)
        self.assertExit(res, 0)
        self.assertAllOk(res, rep, "GET", "/hello",
                         self.nginx.count(path="/hello", status=200, tls=True))
        self.assertHttp2Log(res, rep.aggregated.reqs, tls=True)

    def test_tls_h2_verifies_certificates(self):
        res = self.rl("--plugin", "http2", "-u", "2", "-r", "10", "-t", "2s",
                      "--allow-unreachable", self.nginx.url("/hello", tls=True), timeout_s=30)
        rep = self.report_of(res)
        self.assertExit(res, 1)
        self.assertAllFailed(res, rep, r"certificate verif")
        self.assertEqual(self.nginx.count(tls=True), 0, "a request got through unverified TLS")

    def test_h2c_against_http1_server_fails_clearly(self):
        # An HTTP/1.1-only nginx answers the HTTP/2 preface with a 400: every
        # request fails with an HTTP/2 protocol error, none hangs.
        with NginxServer() as h1:
            res = self.rl("--plugin", "http2", "-u", "2", "-r", "10", "-t", "2s",
                          "--timeout", "5", h1.url("/hello"), timeout_s=30)
        rep = self.report_of(res)
        self.assertExit(res, 1)
        self.assertAllFailed(res, rep, r"HTTP/2 .*(PROTOCOL_ERROR|SETTINGS)")
        self.assertLess(res.wall_s, 10, res.describe())

    # -- the core's --http2 and ALPN choice -----------------------------------

    @unittest.skipUnless(HAS_HTTP2_FLAG, "rpcload has no --http2 yet")
    def test_flag_http2_h2c(self):
        res = self.rl("--http2", "-u", "10", "-r", "10", "-t", "3s", "--stop-timeout", "5",
                      self.nginx.url("/hello"), timeout_s=40)
        rep = self.report_of(res)
        self.assertExit(res, 0)
        self.assertAllOk(res, rep, "GET", "/hello", self.nginx.count(path="/hello"))
        self.assertHttp2Log(res, rep.aggregated.reqs)

    @unittest.skipUnless(HAS_HTTP2_FLAG, "rpcload has no --http2 yet")
    def test_flag_http2_tls(self):
        res = self.rl("--http2", "--insecure", "-u", "5", "-r", "10", "-t", "3s",
                      "--stop-timeout", "5", self.nginx.url("/hello", tls=True), timeout_s=40)
        rep = self.report_of(res)
        self.assertExit(res, 0)
        self.assertAllOk(res, rep, "GET", "/hello", self.nginx.count(path="/hello", tls=True))
        self.assertHttp2Log(res, rep.aggregated.reqs, tls=True)

    @unittest.skipUnless(HAS_HTTP2_FLAG, "rpcload has no --http2 (nor ALPN choice) yet")
    def test_https_alpn_picks_h2(self):
        # No flag: https:// offers h2 and http/1.1, and this nginx picks h2.
        res = self.rl("--insecure", "-u", "5", "-r", "10", "-t", "3s", "--stop-timeout", "5",
                      self.nginx.url("/hello", tls=True), timeout_s=40)
        rep = self.report_of(res)
        self.assertExit(res, 0)
        self.assertAllOk(res, rep, "GET", "/hello", self.nginx.count(path="/hello", tls=True))
        self.assertHttp2Log(res, rep.aggregated.reqs, tls=True)

    @unittest.skipUnless(HAS_HTTP2_FLAG, "rpcload has no --http2 yet")
    def test_flag_http2_refused_by_http1_tls_server(self):
        with NginxServer(tls=True) as h1:
            res = self.rl("--http2", "--insecure", "-u", "2", "-r", "10", "-t", "2s",
                          "--allow-unreachable", h1.url("/hello", tls=True), timeout_s=30)
            self.assertEqual(h1.count(tls=True), 0, "an HTTP/1.1 request got through")
        rep = self.report_of(res)
        self.assertExit(res, 1)
        # The server refuses the handshake (no_application_protocol) or the
        # core refuses what it agreed to.
        self.assertAllFailed(res, rep, r"ALPN|application protocol")


class NginxGoawayTest(Http2Case):
    """nginx with http2_max_requests 50: every 50th request on a connection
    comes with a GOAWAY and the connection closes. Requests in flight above
    the GOAWAY's last stream are sent again on a new connection, so nothing
    fails and the counts still match exactly."""

    def setUp(self):
        self.nginx = NginxH2Server(max_requests=50)
        self.nginx.__enter__()
        self.addCleanup(self.nginx.stop)

    def test_goaway_every_50_requests(self):
        res = self.rl("--plugin", "http2", "-u", "10", "-r", "100", "-t", "3s",
                      "--connections", "2", "--stop-timeout", "5",
                      self.nginx.url("/hello"), timeout_s=40)
        rep = self.report_of(res)
        self.assertExit(res, 0)
        self.assertAllOk(res, rep, "GET", "/hello", self.nginx.count(path="/hello", status=200))
        entries = self.nginx.log_entries()
        conns = {e["conn"] for e in entries}
        # harness sanity: nginx really ended connections after 50 requests
        self.assertTrue(all(e["conn_reqs"] <= 50 for e in entries))
        self.assertGreater(len(conns), rep.aggregated.reqs // 50 - 1, res.describe())


class NginxReloadTest(Http2Case):
    """nginx reloaded (SIGHUP) twice during a run: its old worker sends
    GOAWAY on every connection and exits once they drain; requests the old
    worker never processed are sent again on a new connection. Nothing
    fails and the counts still match."""

    def test_reload_during_run(self):
        with NginxH2Server() as ng:
            started = rpcload.start(["--http2", "-u", "20", "-r", "100", "-t", "4s",
                                     "--connections", "4", "--stop-timeout", "5",
                                     ng.url("/hello")])
            for _ in range(2):
                time.sleep(1.3)
                os.kill(ng.pid, signal.SIGHUP)
            res = rpcload.finish(started, timeout_s=40)
            rep = self.report_of(res)
            self.assertExit(res, 0)
            entries = ng.log_entries()
            self.assertAllOk(res, rep, "GET", "/hello",
                             sum(1 for e in entries if e["status"] == 200))
            # harness sanity: the reloads really replaced the connections
            self.assertGreater(len({e["conn"] for e in entries}), 4, res.describe())


class StuckStreamTest(Http2Case):
    """A request that never gets an answer on a shared, busy HTTP/2
    connection times out alone: its stream is reset (nginx logs 499 for
    it), and the connection goes on: nginx sees one connection for all."""

    def test_timeout_resets_only_the_stream(self):
        with BlackHoleServer() as hole, NginxH2Server(stuck_port=hole.port) as ng:
            res = self.rl("--http2", "-u", "4", "-r", "100", "-t", "3.5s",
                          "--connections", "1", "--timeout", "1", "--stop-timeout", "3",
                          ng.url("/stuck"), timeout_s=40)
            rep = self.report_of(res)
            self.assertAllFailed(res, rep, r"^GET /stuck: timed out after 1s$")
            # 4 users, 1 s each, over 3.5 s: 3 rounds (the 4th ends in the grace)
            self.assertGreaterEqual(rep.aggregated.reqs, 12, res.describe())
            # nginx logs a reset stream (499) when it notices the reset,
            # which may be after rpcload has exited: wait for it, bounded.
            end = time.monotonic() + 3
            entries = ng.log_entries()
            while len(entries) < rep.aggregated.reqs and time.monotonic() < end:
                time.sleep(0.1)
                entries = ng.log_entries()
            self.assertEqual(len(entries), rep.aggregated.reqs, res.describe())
            self.assertEqual({e["status"] for e in entries}, {499}, res.describe())
            self.assertEqual(len({e["conn"] for e in entries}), 1, res.describe())


class NghttpdTest(Http2Case):
    """nghttpd (nghttp2's own server) with a 10 MiB file."""

    def setUp(self):
        self.nghttpd = NghttpdServer(files={"big": BIG, "hello": b"hello world\n"})
        self.nghttpd.__enter__()
        self.addCleanup(self.nghttpd.stop)

    def test_10mb_file(self):
        args = ["--plugin", "http2", "-u", "2", "-r", "10", "-t", "3s", "--stop-timeout", "10"]
        tmp = None
        if HAS_CSV:
            tmp = tempfile.mkdtemp(prefix="rpcload-h2-csv-")
            self.addCleanup(shutil.rmtree, tmp, True)
            args += ["--csv", os.path.join(tmp, "run")]
        res = self.rl(*args, self.nghttpd.url("/big"), timeout_s=60)
        rep = self.report_of(res)
        self.assertExit(res, 0)
        self.assertAllOk(res, rep, "GET", "/big")
        if tmp is None:
            return  # no reporter shows response sizes yet; the codec test checks them
        path = (glob.glob(os.path.join(tmp, "run_stats.csv")) or [None])[0]
        self.assertIsNotNone(path, "--csv wrote no run_stats.csv\n" + res.describe())
        with open(path, newline="") as f:
            rows = [r for r in csv.DictReader(f) if r.get("Name") == "/big"]
        self.assertEqual(len(rows), 1, res.describe())
        self.assertEqual(float(rows[0]["Average Content Size"]), BIG, res.describe())

    def test_404(self):
        res = self.rl("--plugin", "http2", "-u", "2", "-r", "10", "-t", "2s",
                      "--stop-timeout", "5", self.nghttpd.url("/missing"), timeout_s=40)
        rep = self.report_of(res)
        self.assertExit(res, 1)
        self.assertAllFailed(res, rep, r"^GET /missing: HTTP 404 Not Found$")

    def test_one_stream_at_a_time(self):
        # nghttpd -m 1 allows one stream per connection and refuses the
        # rest (RST_STREAM REFUSED_STREAM): 8 users on one connection must
        # queue behind the server's limit, so nothing fails.
        with NghttpdServer(files={"hello": b"hello world\n"}, max_streams=1) as nd:
            res = self.rl("--plugin", "http2", "-u", "8", "-r", "100", "-t", "2s",
                          "--connections", "1", "--stop-timeout", "5",
                          nd.url("/hello"), timeout_s=40)
        rep = self.report_of(res)
        self.assertExit(res, 0)
        self.assertAllOk(res, rep, "GET", "/hello")


class SlowSettingsProxy(_ThreadedTcpServer):
    """A TCP proxy to 127.0.0.1:`upstream` that holds the server's bytes
    back for `delay_s` after each connection opens, so the client sends
    every request it has before the server's SETTINGS (its stream limit)
    reach it: the race a loaded machine makes now and then, made sure."""

    thread_name = "slow-settings-proxy"

    def __init__(self, upstream, delay_s=0.5):
        super().__init__()
        self.upstream = upstream
        self.delay_s = delay_s

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def handle(self, conn):
        up = socket.create_connection(("127.0.0.1", self.upstream), timeout=5)
        try:
            release = time.monotonic() + self.delay_s
            held = sent = b""
            while self.alive():
                r, _, _ = select.select([conn, up], [], [], 0.05)
                if conn in r:
                    data = conn.recv(65536)
                    if not data:
                        return
                    sent += data
                if up in r:
                    data = up.recv(65536)
                    if not data:
                        return
                    held += data
                if time.monotonic() >= release:
                    if sent:
                        up.sendall(sent)
                    if held:
                        conn.sendall(held)
                    sent = held = b""
        finally:
            up.close()


class RefusedStreamTest(Http2Case):
    """Streams a server refuses (RST_STREAM REFUSED_STREAM: never
    processed, RFC 9113 section 8.7) are sent again, not failed: 20 users
    on one connection send their first requests before nginx's SETTINGS
    (1 stream at a time) arrive, held back by a proxy."""

    def test_refused_streams_are_retried(self):
        with NginxH2Server(max_streams=1) as ng, SlowSettingsProxy(ng.port) as px:
            res = self.rl("--plugin", "http2", "-u", "20", "-r", "200", "-t", "2s",
                          "--connections", "1", "--stop-timeout", "5",
                          px.url("/hello"), timeout_s=40)
            rep = self.report_of(res)
            self.assertExit(res, 0)
            self.assertAllOk(res, rep, "GET", "/hello", ng.count(path="/hello", status=200))


class NghttpdTlsTest(Http2Case):
    def test_tls_insecure(self):
        with NghttpdServer(tls=True, files={"hello": b"hello world\n"}) as nd:
            res = self.rl("--plugin", "http2", "--insecure", "-u", "4", "-r", "10", "-t", "2s",
                          "--stop-timeout", "5", nd.url("/hello"), timeout_s=40)
        rep = self.report_of(res)
        self.assertExit(res, 0)
        self.assertAllOk(res, rep, "GET", "/hello")


if __name__ == "__main__":
    unittest.main()

"""Integration tests of the HTTP/1.1 quick path (docs/cli.md) against real nginx.

Run from this folder:  RPCLOAD_BIN=../../build/rpcload \
    RPCLOAD_PLUGIN_DIR=../../build/plugins /usr/bin/python3 -m unittest -v test_http1
"""

import os
import re
import shutil
import signal
import tempfile
import time
import unittest

import rpcload
from servers import BlackHoleServer, NginxServer, closed_port


class Http1TestCase(unittest.TestCase):
    """Each test gets its own nginx (plain + TLS), stopped in cleanup."""

    def setUp(self):
        self.nginx = NginxServer(tls=True)
        self.nginx.__enter__()
        self.addCleanup(self.nginx.stop)

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

    def assertAllOk(self, res, rep, type_, name, log_count):
        """0 failures, > 0 requests, and the (type, name) row, the Aggregated row
        and the server's access log all agree on the count."""
        agg = rep.aggregated
        self.assertGreater(agg.reqs, 0, res.describe())
        self.assertEqual(agg.fails, 0, res.describe())
        row = rep.row(type_, name)
        self.assertIsNotNone(row, "no %s %s row\n%s" % (type_, name, res.describe()))
        self.assertEqual(row.reqs, agg.reqs, res.describe())
        self.assertEqual(agg.reqs, log_count,
                         "rpcload counted %d requests, nginx logged %d\n%s"
                         % (agg.reqs, log_count, res.describe()))

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
        self.assertTrue(any(re.search(error_re, e.text, re.I) for e in rep.errors),
                        "no error matching %r in the error report\n%s" % (error_re, res.describe()))

    # (a) ---------------------------------------------------------------------
    def test_a_hello_count_equals_access_log(self):
        res = self.rl("-u", "10", "-r", "10", "-t", "3s", "--stop-timeout", "5",
                      self.nginx.url("/hello"), timeout_s=40)
        rep = self.report_of(res)
        self.assertExit(res, 0)
        self.assertAllOk(res, rep, "GET", "/hello", self.nginx.count(path="/hello"))
        self.assertEqual(self.nginx.count(path="/hello", status=200), rep.aggregated.reqs)
        self.assertLess(res.wall_s, 3 + 5 + 4, "run took too long\n" + res.describe())

    def test_a_print_responses(self):
        """--print-responses 2: the first two responses of the step on stderr,
        status, headers and body, and no more however many were made; 1 s."""
        res = self.rl("-u", "4", "-r", "100", "-t", "1s", "--only-summary",
                      "--print-responses", "2", self.nginx.url("/hello"), timeout_s=30)
        rep = self.report_of(res)
        self.assertExit(res, 0)
        blocks = re.findall(r"^--- response (\d+)/2 of GET /hello \(user \d+\): "
                            r"status 200, ok, [\d.]+ ms\n(.*?)(?=^---|^rpcload:|\Z)",
                            res.stderr, re.M | re.S)
        self.assertEqual([b[0] for b in blocks], ["1", "2"], res.describe())
        for _, text in blocks:
            self.assertRegex(text, r"(?m)^Server: nginx", res.describe())
            self.assertRegex(text, r"\n\nhello world\n", res.describe())
        self.assertGreater(rep.aggregated.reqs, 2, res.describe())
        # Without it nothing is printed (and nothing collected).
        res = self.rl("-u", "1", "-t", "1s", "--only-summary", self.nginx.url("/hello"),
                      timeout_s=30)
        self.assertExit(res, 0)
        self.assertNotIn("--- response", res.stderr, res.describe())

    # (b) ---------------------------------------------------------------------
    def test_b_missing_every_request_fails(self):
        res = self.rl("-u", "2", "-r", "10", "-t", "2s", "--stop-timeout", "5",
                      self.nginx.url("/missing"), timeout_s=40)
        rep = self.report_of(res)
        self.assertExit(res, 1)
        self.assertAllFailed(res, rep, r"HTTP 404")
        self.assertEqual(self.nginx.count(path="/missing", status=404), rep.aggregated.reqs,
                         res.describe())

    def test_b_exit_code_on_error(self):
        res = self.rl("-u", "2", "-r", "10", "-t", "2s", "--exit-code-on-error", "3",
                      self.nginx.url("/missing"), timeout_s=40)
        self.report_of(res)
        self.assertExit(res, 3)

    def test_b_server_error_is_a_failure(self):
        res = self.rl("-u", "2", "-r", "10", "-t", "2s", self.nginx.url("/error"), timeout_s=40)
        rep = self.report_of(res)
        self.assertExit(res, 1)
        self.assertAllFailed(res, rep, r"HTTP 500")

    # (c) ---------------------------------------------------------------------
    def test_c_connection_refused(self):
        with closed_port() as port:
            res = self.rl("-u", "2", "-r", "10", "-t", "2s", "--allow-unreachable",
                          "http://127.0.0.1:%d/hello" % port, timeout_s=30)
        rep = self.report_of(res)
        self.assertExit(res, 1)
        self.assertAllFailed(res, rep, r"connection refused")
        self.assertLess(res.wall_s, 6.0, "a -t 2s run did not end on time\n" + res.describe())

    # (d) ---------------------------------------------------------------------
    def test_d_black_hole_times_out(self):
        with BlackHoleServer() as bh:
            res = self.rl("-u", "2", "-r", "10", "-t", "4s", "--timeout", "1",
                          "http://127.0.0.1:%d/hello" % bh.port, timeout_s=30)
            self.assertGreater(bh.accepted, 0)
        rep = self.report_of(res)
        self.assertExit(res, 1)
        self.assertAllFailed(res, rep, r"timed out")
        self.assertLess(res.wall_s, 10.0, "a -t 4s run did not end on time\n" + res.describe())

    # (e) ---------------------------------------------------------------------
    def test_e_tls_self_signed_fails_verification(self):
        res = self.rl("-u", "2", "-r", "10", "-t", "2s", "--allow-unreachable",
                      self.nginx.url("/hello", tls=True), timeout_s=30)
        rep = self.report_of(res)
        self.assertExit(res, 1)
        self.assertAllFailed(res, rep, r"certificate verif")
        self.assertEqual(self.nginx.count(tls=True), 0, "a request got through unverified TLS")

    def test_e_tls_insecure(self):
        res = self.rl("-u", "5", "-r", "10", "-t", "3s", "--stop-timeout", "5", "--insecure",
                      self.nginx.url("/hello", tls=True), timeout_s=40)
        rep = self.report_of(res)
        self.assertExit(res, 0)
        self.assertAllOk(res, rep, "GET", "/hello", self.nginx.count(path="/hello", tls=True))

    def test_e_tls_cacert(self):
        res = self.rl("-u", "5", "-r", "10", "-t", "3s", "--stop-timeout", "5",
                      "--cacert", self.nginx.cert, self.nginx.url("/hello", tls=True),
                      timeout_s=40)
        rep = self.report_of(res)
        self.assertExit(res, 0)
        self.assertAllOk(res, rep, "GET", "/hello", self.nginx.count(path="/hello", tls=True))

    # (f) ---------------------------------------------------------------------
    def test_f_connection_close_reconnects(self):
        res = self.rl("-u", "5", "-r", "10", "-t", "3s", "--stop-timeout", "5",
                      self.nginx.url("/close"), timeout_s=40)
        rep = self.report_of(res)
        self.assertExit(res, 0)
        self.assertAllOk(res, rep, "GET", "/close", self.nginx.count(path="/close"))
        entries = [e for e in self.nginx.log_entries() if e["uri"] == "/close"]
        # harness sanity: nginx really closed after every response
        self.assertTrue(all(e["conn_reqs"] == 1 for e in entries))
        self.assertGreater(len({e["conn"] for e in entries}), 1)

    # (g) ---------------------------------------------------------------------
    def test_g_post_with_data_and_header(self):
        res = self.rl("-u", "1", "-r", "10", "-t", "2s", "--stop-timeout", "5",
                      "-d", "hello=1", "-H", "X-RL-Test: yes",
                      self.nginx.url("/hello"), timeout_s=30)
        rep = self.report_of(res)
        self.assertExit(res, 0)
        self.assertAllOk(res, rep, "POST", "/hello",
                         self.nginx.count(path="/hello", method="POST"))
        entries = self.nginx.log_entries()
        self.assertTrue(entries)
        for e in entries:
            self.assertEqual((e["method"], e["content_length"], e["x_rl_test"]),
                             ("POST", "7", "yes"), "access-log line %r" % e)

    # (h) ---------------------------------------------------------------------
    def test_h_usage_errors_exit_2(self):
        url = self.nginx.url("/hello")
        cases = {
            "unknown option": ["--no-such-option", url],
            "missing URL": ["-u", "1", "-t", "1s"],
            "bad -t": ["-t", "abc", url],
            "bad --wait": ["--wait", "bogus:1", "-t", "1s", url],
            "unknown scheme": ["-t", "1s", "nosuchscheme://127.0.0.1:%d/" % self.nginx.port],
        }
        for what, args in cases.items():
            with self.subTest(what):
                res = self.rl(*args, timeout_s=10)
                self.assertFalse(res.timed_out, res.describe())
                self.assertExit(res, 2)
                self.assertTrue(res.stderr.strip(), "no message on stderr\n" + res.describe())
                self.assertIsNone(res.report().aggregated,
                                  "a usage error still ran load\n" + res.describe())
        self.assertEqual(self.nginx.count(), 0, "a usage error still sent requests")

    # (i) ---------------------------------------------------------------------
    def test_i_help_mentions_every_documented_option(self):
        with open(os.path.join(rpcload.REPO_ROOT, "docs", "cli.md")) as f:
            doc = f.read()
        options = set()
        for line in doc.splitlines():
            if line.startswith("| `"):
                first_col = line.split("|")[1]
                options.update(re.findall(r"(?<![\w-])(--?[A-Za-z][A-Za-z0-9-]*)", first_col))
        self.assertGreater(len(options), 20, "could not read the options from docs/cli.md")
        res = self.rl("--help", timeout_s=10)
        self.assertExit(res, 0)
        missing = sorted(o for o in options
                         if not re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(o), res.stdout))
        self.assertEqual(missing, [], "--help does not mention these options\n" + res.describe())

    def test_i_version(self):
        with open(os.path.join(rpcload.REPO_ROOT, "CMakeLists.txt")) as f:
            version = re.search(r"project\(rpcload\s+VERSION\s+([0-9.]+)", f.read()).group(1)
        for flag in ("--version", "-V"):
            with self.subTest(flag):
                res = self.rl(flag, timeout_s=10)
                self.assertExit(res, 0)
                self.assertRegex(res.stdout, r"(?<![\d.])%s(?![\d.])" % re.escape(version),
                                 res.describe())

    def test_i_plugins_lists_http1(self):
        res = self.rl("--plugins", timeout_s=10)
        self.assertExit(res, 0)
        lines = [l for l in res.stdout.splitlines() if re.search(r"\bhttp1\b", l)]
        self.assertTrue(lines, "http1 not listed\n" + res.describe())
        self.assertTrue(any(re.search(r"\bhttp\b", l) and re.search(r"\bhttps\b", l)
                            for l in lines),
                        "http1 not listed with schemes http and https\n" + res.describe())

    def test_i_plugins_lists_the_plugin_named_by_path(self):
        # `--plugin ./x.so --plugins`: the file named is listed too, from
        # wherever it is; one that does not load is an error naming it.
        plugin_dir = os.environ["RPCLOAD_PLUGIN_DIR"]
        with tempfile.TemporaryDirectory() as d:
            x = os.path.join(d, "x.so")
            shutil.copy(os.path.join(plugin_dir, "http1.so"), x)
            res = self.rl("--plugin", x, "--plugins", timeout_s=10)
            self.assertExit(res, 0)
            self.assertRegex(res.stdout, r"(?m)^http1\s.*\s%s$" % re.escape(x), res.describe())
            res = self.rl("--plugin", os.path.join(d, "nope.so"), "--plugins", timeout_s=10)
            self.assertExit(res, 2)
            self.assertIn("nope.so", res.stderr, res.describe())

    # (j) ---------------------------------------------------------------------
    def test_j_sigint_prints_final_report(self):
        started = rpcload.start(["-u", "10", "-r", "10", "-t", "60s", self.nginx.url("/hello")])
        proc = started[0]
        time.sleep(3)
        self.assertIsNone(proc.poll(), "rpcload exited before SIGINT")
        proc.send_signal(signal.SIGINT)
        t_sig = time.monotonic()
        res = rpcload.finish(started, timeout_s=15)
        self.assertFalse(res.timed_out, "rpcload ignored SIGINT\n" + res.describe())
        self.assertLess(time.monotonic() - t_sig, 5.0,
                        "rpcload took too long to stop after SIGINT\n" + res.describe())
        self.assertIn(res.exit_code, (0, 1), res.describe())
        rep = self.report_of(res)
        self.assertGreater(rep.aggregated.reqs, 0, res.describe())
        self.assertIn("Response time percentiles", res.stdout, res.describe())
        self.assertIsNotNone(rep.percentile_aggregated,
                             "no Aggregated row in the percentile table\n" + res.describe())

    # (k) ---------------------------------------------------------------------
    def test_k_constant_wait(self):
        # 2 users, a request then 0.5 s wait, for 3 s: about 6 tasks each.
        res = self.rl("--wait", "constant:0.5", "-u", "2", "-r", "100", "-t", "3s",
                      self.nginx.url("/hello"), timeout_s=30)
        rep = self.report_of(res)
        self.assertExit(res, 0)
        self.assertGreaterEqual(rep.aggregated.reqs, 8, res.describe())
        self.assertLessEqual(rep.aggregated.reqs, 16, res.describe())

    # (l) ---------------------------------------------------------------------
    def test_l_two_threads(self):
        res = self.rl("--threads", "2", "-u", "4", "-r", "10", "-t", "3s", "--stop-timeout", "5",
                      self.nginx.url("/hello"), timeout_s=40)
        rep = self.report_of(res)
        self.assertExit(res, 0)
        self.assertAllOk(res, rep, "GET", "/hello", self.nginx.count(path="/hello"))


    # TLS client certificates ------------------------------------------------
    def test_e_tls_client_certificate(self):
        """A server that demands a client certificate: refused without one
        (HTTP 400 from nginx), served with --cert/--key."""
        with NginxServer(tls=True, client_auth=True) as ng:
            url = ng.url("/hello", tls=True)
            res = self.rl("-u", "1", "-r", "10", "-t", "1s", "--cacert", ng.cert, url)
            self.assertAllFailed(res, self.report_of(res), r"HTTP 400")
            res = self.rl("-u", "2", "-r", "10", "-t", "1s", "--stop-timeout", "5",
                          "--cacert", ng.cert, "--cert", ng.client_cert, "--key",
                          ng.client_key, url)
            rep = self.report_of(res)
            self.assertExit(res, 0)
            self.assertAllOk(res, rep, "GET", "/hello", ng.count(path="/hello", tls=True,
                                                                 status=200))

    def test_e_tls_unreadable_client_key_is_a_usage_error(self):
        res = self.rl("-u", "1", "-t", "1s", "--cert", "/nonexistent/cert.pem",
                      self.nginx.url("/hello", tls=True))
        self.assertExit(res, 2)
        self.assertIn("cannot load client certificate /nonexistent/cert.pem", res.stderr)

    # --connections: users share a pool ------------------------------------
    def test_m_shared_connections(self):
        """20 users on 3 shared connections: nginx sees 3 connections, and every
        request is still counted (queued ones wait their turn, not dropped)."""
        res = self.rl("--threads", "2", "-u", "20", "-r", "100", "-t", "2s",
                      "--stop-timeout", "5", "--connections", "3",
                      self.nginx.url("/hello"), timeout_s=40)
        rep = self.report_of(res)
        self.assertExit(res, 0)
        entries = self.nginx.log_entries()
        self.assertAllOk(res, rep, "GET", "/hello", len(entries))
        self.assertEqual(len({e["conn"] for e in entries}), 3, res.describe())

    def test_m_one_connection_per_user_by_default(self):
        res = self.rl("-u", "5", "-r", "100", "-t", "1s", "--stop-timeout", "5",
                      self.nginx.url("/hello"), timeout_s=40)
        self.report_of(res)
        self.assertEqual(len({e["conn"] for e in self.nginx.log_entries()}), 5,
                         res.describe())


if __name__ == "__main__":
    unittest.main()

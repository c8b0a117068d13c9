"""Integration tests of the UDP transport plugin (examples/plugins/udp/udp.c)
against a UDP echo server run by this process (servers.UdpEchoServer).

Run from this folder:  RPCLOAD_BIN=../../../../build/rpcload PYTHONPATH=../../../../tests/integration \
    RPCLOAD_PLUGIN_DIR=../../../../build/plugins /usr/bin/python3 -m unittest -v test_udp
"""

import collections
import os
import re
import shutil
import unittest

import rpcload
from servers import UdpEchoServer, closed_udp_port

VALGRIND = ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
            "--show-leak-kinds=definite,indirect", "--error-exitcode=99", "--num-callers=30"]


def sanitized_binary():
    """True if rpcload was built with AddressSanitizer (valgrind cannot run it)."""
    with open(rpcload.binary(), "rb") as f:
        return b"__asan_init" in f.read()


class UdpTestCase(unittest.TestCase):
    def rl(self, *args, timeout_s=60, wrapper=None):
        return rpcload.run(["--plugin", "udp", "--only-summary"] + list(args),
                           timeout_s=timeout_s, wrapper=wrapper)

    def report_of(self, res):
        self.assertFalse(res.timed_out, "rpcload did not finish in time\n" + res.describe())
        rep = res.report()
        self.assertIsNotNone(rep.aggregated,
                             "no final stats table with an Aggregated row\n" + res.describe())
        return rep

    def assertExit(self, res, code):
        self.assertEqual(res.exit_code, code, "unexpected exit status\n" + res.describe())

    def assertAllFailed(self, res, rep, error_re):
        agg = rep.aggregated
        self.assertGreater(agg.reqs, 0, res.describe())
        self.assertEqual(agg.fails, agg.reqs, "not every request failed\n" + res.describe())
        self.assertEqual(sum(e.occurrences for e in rep.errors), agg.fails, res.describe())
        for e in rep.errors:
            self.assertRegex(e.text, error_re, res.describe())

    # ---------------------------------------------------------------------------
    def test_count_equals_datagrams_seen(self):
        with UdpEchoServer() as us:
            # No --plugin: the udp:// scheme finds the plugin in the plugin dir.
            res = rpcload.run(["--only-summary", "-u", "10", "-r", "10", "-t", "3s",
                               "--stop-timeout", "5", "-d", "ping", us.url()], timeout_s=40)
            seen = us.count()
            answered = us.answered
        rep = self.report_of(res)
        self.assertExit(res, 0)
        row = rep.row("udp", "127.0.0.1:%d" % us.port)
        self.assertIsNotNone(row, res.describe())
        self.assertGreater(row.reqs, 0, res.describe())
        self.assertEqual(row.fails, 0, res.describe())
        self.assertEqual(row.reqs, rep.aggregated.reqs, res.describe())
        self.assertEqual(rep.aggregated.reqs, seen,
                         "rpcload counted %d requests, the server saw %d datagrams\n%s"
                         % (rep.aggregated.reqs, seen, res.describe()))
        self.assertEqual(answered, seen, res.describe())
        # One connected socket per user: ten users, ten source ports.
        self.assertEqual(len(us.sources), 10, res.describe())

    def test_name_groups_the_requests(self):
        with UdpEchoServer() as us:
            res = self.rl("-u", "2", "-t", "1s", "--stop-timeout", "5", "--name", "statsd",
                          "-d", "x", us.url(), timeout_s=30)
        rep = self.report_of(res)
        self.assertExit(res, 0)
        self.assertIsNotNone(rep.row("udp", "statsd"), res.describe())

    def test_dropped_datagrams_time_out(self):
        with UdpEchoServer(drop_every=5) as us:
            res = self.rl("-u", "4", "-r", "10", "-t", "3s", "--timeout", "0.5",
                          "--stop-timeout", "5", "-d", "ping", us.url(), timeout_s=40)
            seen = us.count()
            dropped = us.dropped
            sources = len(us.sources)
        rep = self.report_of(res)
        self.assertExit(res, 1)
        agg = rep.aggregated
        self.assertGreater(dropped, 0, res.describe())
        self.assertEqual(agg.reqs, seen, res.describe())
        self.assertEqual(agg.fails, dropped,
                         "%d failures for %d dropped datagrams\n%s"
                         % (agg.fails, dropped, res.describe()))
        self.assertEqual([e.text for e in rep.errors],
                         ["udp 127.0.0.1:%d: timed out after 0.5s" % us.port], res.describe())
        # A timed-out request's socket is retired (so that its late reply
        # cannot end the next request): more source ports than users.
        self.assertGreater(sources, 4, res.describe())

    def test_closed_port_is_refused(self):
        with closed_udp_port() as port:
            res = self.rl("-u", "2", "-r", "10", "-t", "2s", "--timeout", "2",
                          "-d", "ping", "udp://127.0.0.1:%d" % port, timeout_s=30)
        rep = self.report_of(res)
        self.assertExit(res, 1)
        self.assertAllFailed(res, rep, r": connection refused$")

    def test_expect_mismatch_fails(self):
        with UdpEchoServer() as us:
            res = self.rl("-u", "2", "-t", "1s", "--stop-timeout", "5", "-d", "ping",
                          "-O", "expect=pong", us.url(), timeout_s=30)
            seen = us.count()
        rep = self.report_of(res)
        self.assertExit(res, 1)
        self.assertAllFailed(res, rep, r": reply does not contain 'pong'$")
        self.assertEqual(rep.aggregated.reqs, seen, res.describe())

    def test_expect_match_succeeds(self):
        with UdpEchoServer(reply=b"PONG 42") as us:
            res = self.rl("-u", "2", "-t", "1s", "--stop-timeout", "5", "-d", "ping",
                          "-O", "expect=PONG", us.url(), timeout_s=30)
        rep = self.report_of(res)
        self.assertExit(res, 0)
        self.assertGreater(rep.aggregated.reqs, 0, res.describe())
        self.assertEqual(rep.aggregated.fails, 0, res.describe())

    def test_payload_template_expands_per_request(self):
        with UdpEchoServer() as us:
            res = self.rl("-u", "3", "-r", "10", "-t", "2s", "--stop-timeout", "5",
                          "--wait", "throughput:500", "-d", "u{{user_id}}-{{seq}}",
                          us.url(), timeout_s=30)
            seen = us.count()
            payloads = list(us.payloads)
        rep = self.report_of(res)
        self.assertExit(res, 0)
        self.assertEqual(rep.aggregated.reqs, seen, res.describe())
        self.assertEqual(len(payloads), seen, "raise UdpEchoServer's max_payloads")
        seqs = collections.defaultdict(list)
        for p in payloads:
            m = re.fullmatch(rb"u(\d+)-(\d+)", p)
            self.assertIsNotNone(m, "unexpanded payload %r\n%s" % (p, res.describe()))
            seqs[int(m.group(1))].append(int(m.group(2)))
        self.assertEqual(sorted(seqs), [1, 2, 3], res.describe())
        for user, got in seqs.items():
            # Each user's requests are numbered 1, 2, 3... in the order sent.
            self.assertEqual(got, list(range(1, len(got) + 1)),
                             "user %d's sequence numbers" % user)

    def test_refuses_what_udp_cannot_do(self):
        cases = [
            (["udp://127.0.0.1"], r"target 'udp://127\.0\.0\.1' needs a port \(udp has no default one\)"),
            (["-O", "bogus=1", "udp://127.0.0.1:9"], r"option 'bogus' is not known to udp"),
            (["--call", "GET x", "udp://127.0.0.1:9"], r"option 'call' is not known to udp"),
            (["-O", "expect=", "udp://127.0.0.1:9"], r"option expect needs a text"),
            (["-H", "k: v", "udp://127.0.0.1:9"], r"udp sends no headers"),
            (["-X", "POST", "udp://127.0.0.1:9"], r"udp has no methods"),
            (["udp://127.0.0.1:9/path"], r"a udp URL has no path"),
            (["-d", "{{nope}}", "udp://127.0.0.1:9"], r"-d: "),
            (["-d", "x" * 70000, "udp://127.0.0.1:9"], r"does not fit in a UDP datagram"),
        ]
        for args, error_re in cases:
            with self.subTest(args=[a[:40] for a in args]):
                res = self.rl("-t", "1s", *args, timeout_s=20)
                self.assertExit(res, 2)
                self.assertRegex(res.stderr, error_re, res.describe())

    def test_stop_cuts_requests_in_flight(self):
        # The server answers nothing and the timeout is far away: at the stop,
        # transport_del must end every request still held, promptly.
        with UdpEchoServer(drop_every=1) as us:
            res = self.rl("-u", "3", "-r", "10", "-t", "1s", "--timeout", "30",
                          "-d", "ping", us.url(), timeout_s=30)
        self.assertFalse(res.timed_out, res.describe())
        # Nothing was answered, so the run failed its purpose: exit 1, and
        # the message says why (docs/reliability.md, exit codes).
        self.assertExit(res, 1)
        self.assertLess(res.wall_s, 10, res.describe())
        self.assertRegex(res.stderr, r"3 request\(s\) in flight at the stop were cut",
                         res.describe())
        self.assertIn("the server answered none", res.stderr, res.describe())

    def test_valgrind_clean(self):
        if shutil.which("valgrind") is None:
            self.skipTest("valgrind is not installed (scripts/setup.sh installs it)")
        if sanitized_binary():
            self.skipTest("rpcload is built with sanitizers: valgrind cannot run it")
        # Successes, timeouts (socket retired and reopened) and a cut at the
        # end with requests in flight, all in one run.
        with UdpEchoServer(drop_every=7) as us:
            res = self.rl("-u", "4", "-r", "20", "-t", "2s", "--timeout", "0.3",
                          "-d", "u{{user_id}}-{{seq}}", us.url(),
                          wrapper=VALGRIND, timeout_s=180)
        self.assertFalse(res.timed_out, res.describe())
        self.assertNotEqual(res.exit_code, 99,
                            "valgrind found errors or leaks\n" + res.describe(limit=20000))
        self.assertRegex(res.stderr, r"ERROR SUMMARY: 0 errors", res.describe(limit=20000))
        self.assertIn(res.exit_code, (0, 1), res.describe())
        rep = self.report_of(res)
        self.assertGreater(rep.aggregated.reqs, 0, res.describe())


if __name__ == "__main__":
    unittest.main()

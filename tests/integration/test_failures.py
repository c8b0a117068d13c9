"""Failures that explain themselves (issue #22, part 3), against real servers:
an unreachable target at the start (exit 2, naming it and why, in every
mode; --allow-unreachable for one that comes up later), a backoff for
connections that fail during the run (a readable error count, not a flood),
TLS at start-up, the "(does it want TLS?)" hint for plain text to a TLS port,
and TLS options given with a bare host:port.
"""

import json
import os
import re
import shutil
import tempfile
import threading
import time
import unittest

import rpcload
from hello_server import HelloServer, skip_reason as hello_skip_reason
from servers import NginxServer, closed_port, free_port, make_self_signed_cert
from stall_server import StallServer

SOURCE_DIR = os.environ.get("RPCLOAD_SOURCE_DIR") or rpcload.REPO_ROOT
HELLO_PROTO = os.path.join(SOURCE_DIR, "examples", "hello", "hello.proto")
GRPC = ["--proto", HELLO_PROTO, "--call", "SayHello", "-d", '{"name":"x"}']
NOT_REACHED = "nothing was sent (--allow-unreachable runs anyway"


def total(res):
    """The final JSON's Aggregated entry (run with --json)."""
    return json.loads(res.stdout)["total"]


class UnreachableAtStart(unittest.TestCase):
    def assertStops(self, res, *words):
        self.assertEqual(res.exit_code, 2, res.describe())
        self.assertIn(NOT_REACHED, res.stderr, res.describe())
        for w in words:
            self.assertIn(w, res.stderr, res.describe())
        self.assertLess(res.wall_s, 5.0, res.describe())
        self.assertNotIn("Aggregated", res.stdout, res.describe())  # no load, no report

    def test_http(self):
        with closed_port() as port:
            url = "http://127.0.0.1:%d/hello" % port
            res = rpcload.run(["-u", "2", "-t", "2s", url], timeout_s=30)
        self.assertStops(res, "cannot reach %s: connection refused" % url)

    def test_grpc_with_proto(self):
        # Issue #22: with --proto it looped, 55,640 "connection refused"
        # requests from one user in 2 s, each 0.04 ms.
        with closed_port() as port:
            res = rpcload.run(GRPC + ["-u", "1", "-t", "2s", "127.0.0.1:%d" % port],
                              timeout_s=30)
        self.assertStops(res, "cannot reach 127.0.0.1:%d: connection refused" % port)

    def test_scenario_names_the_endpoint(self):
        tmp = tempfile.mkdtemp(prefix="rl_fail_")
        self.addCleanup(shutil.rmtree, tmp, True)
        with NginxServer() as ng, closed_port() as port:
            scn = os.path.join(tmp, "s.yaml")
            with open(scn, "w") as f:
                f.write("users:\n  - name: U\n    tasks:\n"
                        "      - steps: [{http: GET /hello}, {http: 'GET http://127.0.0.1:%d/x'}]\n"
                        % port)
            res = rpcload.run(["-f", scn, "-t", "2s", ng.url("/")], timeout_s=30)
            self.assertEqual(ng.count(), 0, "a request was sent")
        self.assertStops(res, "cannot reach 127.0.0.1:%d (http1): connection refused" % port)
        self.assertNotIn("cannot reach 127.0.0.1:%d " % ng.port, res.stderr)

    def test_web_mode_too(self):
        with closed_port() as port:
            res = rpcload.run(["--web", "--web-port", "0", "--autostart", "-t", "2s",
                               "http://127.0.0.1:%d/" % port], timeout_s=30)
        self.assertStops(res, "connection refused")

    def test_tls_failures_at_start(self):
        with NginxServer(tls=True) as ng:
            url = ng.url("/hello", tls=True)
            res = rpcload.run(["-u", "1", "-t", "2s", url], timeout_s=30)
            self.assertEqual(ng.count(tls=True), 0)
        self.assertStops(res, "cannot reach %s: TLS handshake failed: certificate verify "
                              "failed: self-signed certificate (--cacert FILE trusts its CA; "
                              "--insecure skips the check)" % url)

    @unittest.skipIf(hello_skip_reason(), hello_skip_reason())
    def test_tls_to_a_plain_server(self):
        with HelloServer() as hs:
            res = rpcload.run(GRPC + ["-u", "1", "-t", "2s", "--insecure",
                                      "grpcs://" + hs.target], timeout_s=30)
        self.assertStops(res, "cannot reach grpcs://%s: TLS handshake failed: " % hs.target)


class DeadServerBacksOff(unittest.TestCase):
    def test_http_short_backoff(self):
        # 0.1 s, 0.2, 0.4, 0.8 s (+-20%) after each failed attempt: about 5
        # attempts per user in 3 s, each failure's response time holding
        # its wait.
        with closed_port() as port:
            res = rpcload.run(["-u", "2", "-r", "10", "-t", "3s", "--allow-unreachable",
                               "--json", "http://127.0.0.1:%d/" % port], timeout_s=30)
        self.assertEqual(res.exit_code, 1, res.describe())
        self.assertIn("running anyway (--allow-unreachable)", res.stderr)
        t = total(res)
        self.assertEqual(t["num_failures"], t["num_requests"], res.describe())
        self.assertTrue(4 <= t["num_requests"] <= 12, res.describe())
        self.assertGreater(t["median_response_time"], 50, res.describe())
        errors = json.loads(res.stdout)["errors"]
        self.assertEqual([e["error"] for e in errors], ["connection refused"])

    def test_grpc_backoff(self):
        # gRPC's rules: the next attempt 1 s after the failed one started,
        # then 1.6 s (+-20%): 3 attempts per user in 3 s.
        with closed_port() as port:
            res = rpcload.run(GRPC + ["-u", "2", "-r", "10", "-t", "3s",
                                      "--allow-unreachable", "--json",
                                      "127.0.0.1:%d" % port], timeout_s=30)
        self.assertEqual(res.exit_code, 1, res.describe())
        t = total(res)
        self.assertTrue(2 <= t["num_requests"] <= 6, res.describe())
        self.assertGreater(t["max_response_time"], 900, res.describe())

    def test_a_target_that_comes_up_later(self):
        port = free_port()
        res_box = {}

        def run():
            res_box["res"] = rpcload.run(["-u", "1", "-t", "4s", "--allow-unreachable",
                                          "--wait", "constant:0.1", "--json",
                                          "http://127.0.0.1:%d/r" % port], timeout_s=30)
        t = threading.Thread(target=run)
        t.start()
        time.sleep(1.5)
        with StallServer(port=port) as srv:
            t.join(timeout=30)
            served = len(srv.arrivals())
        res = res_box["res"]
        self.assertEqual(res.exit_code, 1, res.describe())
        tot = total(res)
        fails = tot["num_failures"]
        self.assertGreater(served, 3, res.describe())  # it came up and was loaded
        self.assertTrue(1 <= fails <= 8, res.describe())  # before: a few, backed off
        self.assertEqual(tot["num_requests"] - fails, served, res.describe())


class PlainTextToTls(unittest.TestCase):
    HINT = "(does it want TLS?)"

    @unittest.skipIf(hello_skip_reason(), hello_skip_reason())
    def test_grpc_to_a_tls_server(self):
        tmp = tempfile.mkdtemp(prefix="rl_fail_")
        self.addCleanup(shutil.rmtree, tmp, True)
        cert, key = make_self_signed_cert(tmp)
        with HelloServer("--tls", cert, key) as hs:
            res = rpcload.run(GRPC + ["-u", "1", "-t", "2s", "--json", hs.target],
                              timeout_s=30)
        self.assertEqual(res.exit_code, 1, res.describe())
        errors = json.loads(res.stdout)["errors"]
        self.assertTrue(errors and all(self.HINT in e["error"] for e in errors),
                        res.describe())
        # gRPC's backoff: one or two attempts in 2 s, not a flood.
        self.assertLessEqual(total(res)["num_requests"], 3, res.describe())

    def test_h2c_to_nginx_tls(self):
        with NginxServer(tls=True) as ng:
            url = "http://127.0.0.1:%d/hello" % ng.tls_port
            res = rpcload.run(["--http2", "-u", "1", "-t", "2s", "--json", url], timeout_s=30)
        self.assertEqual(res.exit_code, 1, res.describe())
        errors = json.loads(res.stdout)["errors"]
        self.assertTrue(errors and all(self.HINT in e["error"] for e in errors),
                        res.describe())

    def test_http1_to_nginx_tls_is_its_400(self):
        # nginx answers plain HTTP on its TLS port: an answer, counted as
        # its status (docs/cli.md says so), and no backoff.
        with NginxServer(tls=True) as ng:
            url = "http://127.0.0.1:%d/hello" % ng.tls_port
            res = rpcload.run(["-u", "1", "-t", "1s", "--json", url], timeout_s=30)
        self.assertEqual(res.exit_code, 1, res.describe())
        errors = json.loads(res.stdout)["errors"]
        self.assertEqual([e["error"] for e in errors], ["HTTP 400 Bad Request"], res.describe())


class TlsOptionsWithoutTls(unittest.TestCase):
    def test_bare_host_port_with_tls_options(self):
        for opt in (["--cacert", "ca.pem"], ["--insecure"]):
            res = rpcload.run(GRPC + opt + ["-u", "1", "-t", "1s", "127.0.0.1:50051"],
                              timeout_s=30)
            self.assertEqual(res.exit_code, 2, res.describe())
            self.assertIn("%s is for TLS, and 127.0.0.1:50051 without a scheme is plain-text "
                          "gRPC: write grpcs://127.0.0.1:50051 for TLS" % opt[0], res.stderr)
            self.assertNotIn("cannot reach", res.stderr)  # said before connecting

    def test_explicit_plain_url_is_a_warning(self):
        with NginxServer() as ng:
            res = rpcload.run(["--insecure", "-u", "1", "-t", "1s", ng.url("/hello")],
                              timeout_s=30)
        self.assertEqual(res.exit_code, 0, res.describe())
        self.assertRegex(res.stderr, r"warning: .* is not a TLS target: the TLS options do "
                                     r"nothing")




class SpawnShortfall(unittest.TestCase):
    def test_a_run_shorter_than_its_ramp_says_so(self):
        # Users at 0, 1 and 2 s (Locust's schedule), then the run ends.
        with StallServer() as srv:
            res = rpcload.run(["-u", "50", "-r", "1", "-t", "2500ms", "--json",
                               srv.url("/r")], timeout_s=30)
            short = rpcload.run(["-u", "2", "-r", "10", "-t", "1s", "--json",
                                 srv.url("/r")], timeout_s=30)
        self.assertEqual(res.exit_code, 0, res.describe())
        # The run's length is the measured ramp's: 2.5 s, or a little more
        # on a loaded machine (CI: 2.51); under 3 s, or a 4th user came.
        m = re.search(r"the run ended before all users were spawned: reached 3 of 50 users: "
                      r"spawn rate 1/s for a ([0-9.]+) s run \(all 50 take 49 s at that rate: "
                      r"raise -r or -t\)", res.stderr)
        self.assertIsNotNone(m, res.describe())
        self.assertTrue(2.5 <= float(m.group(1)) < 3, res.describe())
        run = json.loads(res.stdout)["run"]
        self.assertEqual((run["users"], run["user_count"]), (50, 3))
        # The JSON says what the summary says.
        self.assertIs(run["spawn_complete"], False, run)
        self.assertEqual(run["spawn"], {"reached": 3, "wanted": 50, "rate": 1.0,
                                        "seconds": run["spawn"]["seconds"],
                                        "seconds_needed": 49.0}, run)
        self.assertAlmostEqual(run["spawn"]["seconds"], 2.5, places=1)
        # Every user spawned: nothing to say.
        self.assertEqual(short.exit_code, 0, short.describe())
        self.assertNotIn("before all users were spawned", short.stderr)
        run = json.loads(short.stdout)["run"]
        self.assertIs(run["spawn_complete"], True, run)
        self.assertNotIn("spawn", run)

class ComingFromGhzAndK6(unittest.TestCase):
    def test_habits_get_rpcload_s_equivalent(self):
        cases = [(["-c", "50"], "ghz's -c (concurrent workers) is rpcload's -u N"),
                 (["-z", "30s"], "ghz's -z (how long to run) is rpcload's -t/--run-time"),
                 (["--rps", "100"], "ghz's --rps N is rpcload's --rate N"),
                 (["--vus", "10"], "k6's --vus is rpcload's -u/--users"),
                 (["--duration", "30s"], "is rpcload's -t/--run-time"),
                 (["-O", "json"], "ghz's -O is an output format: rpcload writes --json")]
        for args, says in cases:
            res = rpcload.run(GRPC + args + ["127.0.0.1:1"], timeout_s=30)
            self.assertEqual(res.exit_code, 2, res.describe())
            self.assertIn(says, res.stderr, res.describe())

    def test_x_with_grpc_is_refused(self):
        res = rpcload.run(GRPC + ["-X", "GET", "-t", "1s", "127.0.0.1:1"], timeout_s=30)
        self.assertEqual(res.exit_code, 2, res.describe())
        self.assertIn("gRPC calls are POST; -X GET does not apply", res.stderr)

    def test_help_says_where_meanings_differ(self):
        res = rpcload.run(["--help"], timeout_s=30)
        text = " ".join(res.stdout.split())
        for says in ("not ghz's -t, a call's timeout: that is --timeout",
                     "not ghz's -O, an output format",
                     "ghz's --insecure, plain text, is grpc://",
                     "-H 'k: v' adds metadata too"):
            self.assertIn(says, text)


@unittest.skipUnless(shutil.which("taskset"), "taskset (util-linux) is not installed")
class AffinityTest(unittest.TestCase):
    def threads_of(self, wrapper):
        """Threads of a running rpcload (main + workers), from /proc."""
        with NginxServer() as ng:
            started = rpcload.start(["-u", "8", "-r", "100", "-t", "2s", "--only-summary",
                                     ng.url("/hello")], wrapper=wrapper)
            time.sleep(1.0)
            n = len(os.listdir("/proc/%d/task" % started[0].pid))
            res = rpcload.finish(started, timeout_s=30)
        self.assertEqual(res.exit_code, 0, res.describe())
        return n

    def test_default_threads_follow_taskset(self):
        cpu = sorted(os.sched_getaffinity(0))[0]
        one = self.threads_of(["taskset", "-c", str(cpu)])
        self.assertEqual(one, 2)  # the main thread and one worker
        if len(os.sched_getaffinity(0)) > 1:
            self.assertGreater(self.threads_of(None), one)


if __name__ == "__main__":
    unittest.main()

"""rpcload under valgrind memcheck against nginx: no memory errors, no
definite or indirect leaks."""

import os
import re
import shutil
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import rpcload
from servers import NginxServer, popen_bounded, stop_process

VALGRIND = ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
            "--show-leak-kinds=definite,indirect", "--error-exitcode=99", "--num-callers=30"]


class ValgrindTest(unittest.TestCase):
    def test_no_leaks_or_memory_errors(self):
        self.assertIsNotNone(shutil.which("valgrind"), "valgrind is not installed "
                             "(scripts/setup.sh installs it)")
        with NginxServer() as ng:
            res = rpcload.run(["-u", "5", "-r", "5", "-t", "5s", "--stop-timeout", "5",
                               ng.url("/hello")], wrapper=VALGRIND, timeout_s=240)
            log_count = ng.count(path="/hello")
        self.assertFalse(res.timed_out, res.describe())
        self.assertNotEqual(res.exit_code, 99, "valgrind found errors or leaks\n"
                            + res.describe(limit=20000))
        self.assertRegex(res.stderr, r"ERROR SUMMARY: 0 errors", res.describe(limit=20000))
        if "All heap blocks were freed" not in res.stderr:
            self.assertRegex(res.stderr, r"definitely lost: 0 bytes", res.describe(limit=20000))
            self.assertRegex(res.stderr, r"indirectly lost: 0 bytes", res.describe(limit=20000))
        # and it did its job while under valgrind
        self.assertEqual(res.exit_code, 0, res.describe())
        rep = res.report()
        self.assertIsNotNone(rep.aggregated, res.describe())
        self.assertGreater(rep.aggregated.reqs, 0, res.describe())
        self.assertEqual(rep.aggregated.fails, 0, res.describe())
        self.assertEqual(rep.aggregated.reqs, log_count, res.describe())

    def test_scenario_and_grpc(self):
        """A scenario whose user logs in, captures, checks and calls gRPC:
        plans, responses, variables and the gRPC plugin under memcheck."""
        from hello_server import HelloServer, skip_reason
        from test_scenarios import DemoServer
        if skip_reason():
            self.skipTest(skip_reason())
        proto = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__)))), "examples", "hello", "hello.proto")
        tmp = tempfile.mkdtemp(prefix="rl-vg-")
        self.addCleanup(shutil.rmtree, tmp, True)
        with DemoServer() as ds, HelloServer() as hs:
            path = os.path.join(tmp, "s.yaml")
            with open(path, "w") as f:
                f.write('''
users:
  - name: U
    wait: {constant: 0.1}
    on_start:
      - {http: POST /login, json: {user: "v{{user_id}}"}, capture: {token: $.token}}
    tasks:
      - steps:
          - {http: POST /cart, headers: {authorization: "Bearer {{token}}"},
             json: {item: 1}, capture: {cart: "$.cart_id", ct: "header:content-type"}}
          - {http: "GET /cart/{{cart}}", name: "/cart/[id]",
             headers: {authorization: "Bearer {{token}}"}, expect: {status: 200}}
          - {grpc: SayHello, host: "%s", proto: "%s", data: {name: "{{token}}"},
             capture: {msg: $.message}, expect: {body_contains: Hello}}
    on_stop:
      - {http: POST /logout, headers: {authorization: "Bearer {{token}}"}}
''' % (hs.target, proto))
            res = rpcload.run(["-f", path, "-u", "3", "-r", "10", "-t", "4s",
                               "http://127.0.0.1:%d" % ds.port], wrapper=VALGRIND,
                              timeout_s=240)
        self.assertFalse(res.timed_out, res.describe())
        self.assertNotEqual(res.exit_code, 99, "valgrind found errors or leaks\n"
                            + res.describe(limit=20000))
        self.assertEqual(res.exit_code, 0, res.describe())
        self.assertGreater(res.report().aggregated.reqs, 10, res.describe())

    def test_web_mode(self):
        """--web and --prometheus-port with every endpoint asked for while the
        load runs: the server's thread, its answers and its stop leak
        nothing."""
        self.assertIsNotNone(shutil.which("valgrind"), "valgrind is not installed")
        with NginxServer() as ng, tempfile.TemporaryDirectory() as tmp:
            err_path = os.path.join(tmp, "stderr")
            with open(err_path, "w") as err, open(os.path.join(tmp, "stdout"), "w") as out:
                proc = popen_bounded(VALGRIND + rpcload.base_argv() + [
                    "--web-port", "0", "--prometheus-port", "0", "--autostart",
                    "--autoquit", "0", "-u", "3", "-r", "10", "-t", "6s", "--only-summary",
                    "--csv-full-history",
                    ng.url("/hello")], stdout=out, stderr=err)
                try:
                    urls = self.wait_urls(err_path, proc)
                    time.sleep(1.5)
                    for path in ("/", "/assets/uPlot.js", "/config", "/stats/requests",
                                 "/stats/requests/csv", "/stats/requests_full_history/csv",
                                 "/stats/failures/csv", "/exceptions/csv", "/stats/report",
                                 "/stats/report.json", "/metrics", "/tasks", "/exceptions",
                                 "/nowhere"):
                        self.fetch(urls[0] + path)
                    self.fetch(urls[1] + "/metrics")
                    proc.wait(timeout=240)
                finally:
                    stop_process(proc)
            with open(err_path) as f:
                log = f.read()
        self.assertEqual(proc.returncode, 0, "valgrind found errors or leaks\n" + log[-20000:])
        self.assertRegex(log, r"ERROR SUMMARY: 0 errors", log[-20000:])

    @staticmethod
    def wait_urls(path, proc, timeout_s=60):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with open(path) as f:
                text = f.read()
            web = re.search(r"web UI on (http://\S+)", text)
            metrics = re.search(r"Prometheus metrics on (http://\S+)/metrics", text)
            if web and metrics:
                return web.group(1), metrics.group(1)
            if proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError("no web UI URLs on stderr:\n" + text[-5000:])

    @staticmethod
    def fetch(url):
        try:
            with urllib.request.urlopen(url, timeout=60) as r:
                r.read()
        except urllib.error.HTTPError as e:
            e.read()  # a 404 or a 501 is an answer too


if __name__ == "__main__":
    unittest.main()

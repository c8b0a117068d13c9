"""The web UI (rpcload --web) and Prometheus (--prometheus-port) against real nginx.

  - Locust's HTTP API: swarm -> the stats fill -> the user count follows the
    asked one up and down -> stop (state stopped, no users) -> reset (empty
    stats) -> a new swarm; /swarm refuses another host, bad numbers and
    requests a browser says come from another site;
  - the downloads: Locust's CSV headers byte for byte, the HTML report, the
    JSON report;
  - basic auth (--web-login): 401 with WWW-Authenticate without or with a
    wrong password, 200 with the right one;
  - a Prometheus scrape parsed by prometheus_client's own parser (Debian's
    python3-prometheus-client), web mode and headless --prometheus-port,
    with the histogram consistent with the counters;
  - --autostart and --autoquit; a port already taken fails clearly;
  - the page in headless Chromium, driven by web_ui_browser.mjs
    (playwright-core from npm, Debian's /usr/bin/chromium).

Every server listens on 127.0.0.1 on a port the kernel picks (--web-port 0).

Run from this folder:  RPCLOAD_BIN=../../build/rpcload \
    RPCLOAD_PLUGIN_DIR=../../build/plugins /usr/bin/python3 -m unittest -v test_web_ui
"""

import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import rpcload
from servers import NginxServer, popen_bounded, stop_process

HERE = os.path.dirname(os.path.abspath(__file__))
CHROMIUM = os.environ.get("RPCLOAD_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
NODE = shutil.which("node")

STATS_HEADER = ("Type,Name,Request Count,Failure Count,Median Response Time,"
                "Average Response Time,Min Response Time,Max Response Time,"
                "Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,"
                "99%,99.9%,99.99%,100%\r\n")
HISTORY_HEADER = ("Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,"
                  "90%,95%,98%,99%,99.9%,99.99%,100%,Total Request Count,"
                  "Total Failure Count,Total Median Response Time,"
                  "Total Average Response Time,Total Min Response Time,"
                  "Total Max Response Time,Total Average Content Size\r\n")
FAILURES_HEADER = "Method,Name,Error,Occurrences,First Seen,Last Seen\r\n"
EXCEPTIONS_HEADER = "Count,Message,Traceback,Nodes\r\n"

# Keys of Locust's /stats/requests (locust/web.py) a tool may read.
LOCUST_ROW_KEYS = {"method", "name", "safe_name", "num_requests", "num_failures",
                   "avg_response_time", "min_response_time", "max_response_time",
                   "current_rps", "current_fail_per_sec", "median_response_time",
                   "ninetieth_response_time", "ninety_ninth_response_time",
                   "avg_content_length", "response_time_percentile_0.95",
                   "response_time_percentile_0.99"}
LOCUST_TOP_KEYS = {"stats", "errors", "total_rps", "total_fail_per_sec", "fail_ratio",
                   "current_response_time_percentile_95",
                   "current_response_time_percentile_50",
                   "current_response_time_percentiles", "state", "user_count"}


class WebRpcload:
    """An rpcload in web mode (or with --prometheus-port), its stderr drained
    into lines, its URLs read from there."""

    def __init__(self, args, tmp):
        self.out_path = os.path.join(tmp, "stdout-%d.txt" % id(self))
        self.out = open(self.out_path, "w")
        self.lines = []
        self.proc = popen_bounded(rpcload.base_argv() + args, stdout=self.out,
                                  stderr=subprocess.PIPE, text=True)
        self._drain = threading.Thread(target=self._read_stderr, daemon=True)
        self._drain.start()

    def _read_stderr(self):
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def stderr(self):
        return "\n".join(self.lines)

    def wait_line(self, pattern, timeout_s=15):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in list(self.lines):
                m = re.search(pattern, line)
                if m:
                    return m
            if self.proc.poll() is not None and not self._drain.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError("no line matching %r in rpcload's stderr:\n%s"
                             % (pattern, self.stderr()))

    def web_url(self):
        return self.wait_line(r"web UI on (http://\S+)").group(1)

    def metrics_url(self):
        return self.wait_line(r"Prometheus metrics on (http://\S+)").group(1)

    def stop(self, sig=signal.SIGINT, timeout_s=20):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                stop_process(self.proc)
        self._close()
        with open(self.out_path) as f:
            return f.read()

    def kill(self):
        stop_process(self.proc)
        self._close()

    def _close(self):
        self._drain.join(timeout=5)
        if not self._drain.is_alive():
            self.proc.stderr.close()
        if not self.out.closed:
            self.out.close()


def http(method, url, data=None, headers=None, timeout=10):
    """(status, headers, body text) of one request; HTTP errors are answers."""
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode("utf-8", "replace")


def get_json(url, **kw):
    status, _, body = http("GET", url, **kw)
    if status != 200:
        raise AssertionError("GET %s: %d %s" % (url, status, body))
    return json.loads(body)


def wait_for(what, fn, timeout_s=15, interval_s=0.2):
    """Polls fn() until it returns a true value; returns it, or fails saying
    what was awaited and the last value seen."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval_s)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


class WebUiTest(unittest.TestCase):

    """Each test gets its own nginx (its access log counts what reached it)."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rl-web-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.nginx = NginxServer()
        self.nginx.start()
        self.addCleanup(self.nginx.stop)
        self.target = "http://127.0.0.1:%d/hello" % self.nginx.port

    def start(self, *args, target=None):
        rl = WebRpcload(list(args) + [target or self.target], self.tmp)
        self.addCleanup(rl.kill)
        return rl

    # ---- Locust's HTTP API --------------------------------------------------

    def stats(self, base):
        return get_json(base + "/stats/requests")

    def test_api_swarm_change_stop_reset(self):
        rl = self.start("--web", "--web-port", "0", "--only-summary", "-u", "3", "-r", "50")
        base = rl.web_url()
        self.assertRegex(base, r"^http://127\.0\.0\.1:\d+$")
        first = self.stats(base)
        self.assertEqual(first["state"], "ready")
        self.assertEqual(first["user_count"], 0)
        self.assertEqual(first["stats"][-1]["name"], "Aggregated")
        self.assertEqual(self.nginx.count(), 0, "web mode loaded before a swarm")

        status, _, body = http("POST", base + "/swarm",
                               {"user_count": 4, "spawn_rate": 100, "host": ""})
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body), {"success": True, "message": "Swarming started",
                                            "host": self.target})
        s = wait_for("requests and 4 users", lambda: (
            lambda s: s if s["user_count"] == 4 and s["stats"][0].get("num_requests", 0) > 0
            and s["state"] == "running" else None)(self.stats(base)))
        row = s["stats"][0]
        self.assertEqual((row["method"], row["name"]), ("GET", "/hello"))
        self.assertTrue(LOCUST_ROW_KEYS <= set(row), LOCUST_ROW_KEYS - set(row))
        self.assertTrue(LOCUST_TOP_KEYS <= set(s), LOCUST_TOP_KEYS - set(s))
        self.assertIsNone(s["stats"][-1]["method"])
        self.assertEqual(s["stats"][-1]["num_requests"], row["num_requests"])
        self.assertEqual(s["fail_ratio"], 0)
        wait_for("a current rate", lambda: self.stats(base)["total_rps"] > 0)

        # The user count follows the asked one, up and down (same host given).
        for users in (8, 2, 5):
            status, _, body = http("POST", base + "/swarm", {
                "user_count": users, "spawn_rate": 100, "host": self.target})
            self.assertEqual((status, json.loads(body)["success"]), (200, True), body)
            wait_for("%d users" % users, lambda: (
                lambda s: s["user_count"] == users and s["state"] == "running")(
                    self.stats(base)))

        status, _, body = http("GET", base + "/stop")
        self.assertEqual((status, json.loads(body)),
                         (200, {"success": True, "message": "Test stopped"}))
        s = wait_for("state stopped", lambda: (
            lambda s: s if s["state"] == "stopped" else None)(self.stats(base)))
        self.assertEqual(s["user_count"], 0)
        time.sleep(1.5)  # requests cut at the stop are merged by now
        before = self.stats(base)["stats"][-1]["num_requests"]
        self.assertGreater(before, 0)
        time.sleep(1.5)
        self.assertEqual(self.stats(base)["stats"][-1]["num_requests"], before,
                         "requests went on after the stop")

        status, _, body = http("GET", base + "/stats/reset")
        self.assertEqual((status, body), (200, "ok"))
        wait_for("empty stats", lambda: self.stats(base)["stats"][-1]["num_requests"] == 0)

        # A new test after the stop.
        status, _, body = http("POST", base + "/swarm", {"user_count": 2, "spawn_rate": 10})
        self.assertEqual(status, 200, body)
        wait_for("requests again", lambda: (
            lambda s: s["user_count"] == 2 and s["stats"][-1]["num_requests"] > 0)(
                self.stats(base)))
        out = rl.stop()
        self.assertEqual(rl.proc.returncode, 0, rl.stderr())
        self.assertIn("Aggregated", out, "no final report after Ctrl-C")

    def test_api_refusals(self):
        rl = self.start("--web-port", "0", "--only-summary")
        base = rl.web_url()
        cases = [
            ({"user_count": 2, "spawn_rate": 1, "host": "http://elsewhere:80/"}, "target"),
            ({"user_count": "x", "spawn_rate": 1}, "user_count"),
            ({"user_count": -1, "spawn_rate": 1}, "user_count"),
            ({"spawn_rate": 1}, "user_count"),
            ({"user_count": 2, "spawn_rate": 0}, "spawn_rate"),
            ({"user_count": 2, "spawn_rate": "nan"}, "spawn_rate"),
            ({"user_count": 2, "spawn_rate": 1, "run_time": "10s"}, "run_time"),
        ]
        for form, word in cases:
            with self.subTest(form=form):
                status, _, body = http("POST", base + "/swarm", form)
                res = json.loads(body)
                self.assertEqual(status, 400, body)
                self.assertIs(res["success"], False)
                self.assertIn(word, res["message"])
        # A page on another site cannot drive it; rpcload's own page can.
        status, _, body = http("POST", base + "/swarm", {"user_count": 1, "spawn_rate": 1},
                               headers={"Origin": "http://evil.example"})
        self.assertEqual(status, 403, body)
        status, _, _ = http("GET", base + "/stop", headers={"Sec-Fetch-Site": "cross-site"})
        self.assertEqual(status, 403)
        status, _, _ = http("GET", base + "/stats/reset",
                            headers={"Sec-Fetch-Site": "same-site"})
        self.assertEqual(status, 403)
        host = base[len("http://"):]
        status, _, body = http("POST", base + "/swarm", {"user_count": 0, "spawn_rate": 1},
                               headers={"Origin": base, "Sec-Fetch-Site": "same-origin",
                                        "Host": host})
        self.assertEqual(status, 200, body)
        self.assertEqual(self.stats(base)["stats"][-1]["num_requests"], 0)
        status, _, _ = http("GET", base + "/nowhere")
        self.assertEqual(status, 404)
        status, _, _ = http("PUT", base + "/swarm")
        self.assertEqual(status, 405)
        self.assertEqual(self.nginx.count(), 0)

    # ---- downloads ----------------------------------------------------------

    def test_downloads(self):
        rl = self.start("--web-port", "0", "--only-summary", "--autostart", "-u", "2", "-r", "100")
        base = rl.web_url()
        wait_for("requests", lambda: self.stats(base)["stats"][-1]["num_requests"] > 0)
        time.sleep(2.2)  # history rows
        status, headers, body = http("GET", base + "/stats/requests/csv")
        self.assertEqual(status, 200, body)
        self.assertTrue(headers["Content-Type"].startswith("text/csv"))
        self.assertRegex(headers["Content-Disposition"], r'attachment; filename="requests_\d+\.csv"')
        self.assertTrue(body.startswith(STATS_HEADER), body[:300])
        self.assertRegex(body, r"\r\nGET,/hello,\d+,0,")
        self.assertIn("\r\n,Aggregated,", body)
        for path, header in (("/stats/requests_full_history/csv", HISTORY_HEADER),
                             ("/stats/failures/csv", FAILURES_HEADER),
                             ("/exceptions/csv", EXCEPTIONS_HEADER)):
            with self.subTest(path=path):
                status, headers, body = http("GET", base + path)
                self.assertEqual(status, 200, body)
                self.assertTrue(body.startswith(header), body[:300])
        _, _, history = http("GET", base + "/stats/requests_full_history/csv")
        self.assertGreaterEqual(history.count(",Aggregated,"), 2, history)

        status, headers, page = http("GET", base + "/stats/report")
        self.assertEqual(status, 200)
        self.assertIn('id="rl-data"', page)
        self.assertNotIn("Content-Disposition", headers)
        status, headers, _ = http("GET", base + "/stats/report?download=1")
        self.assertRegex(headers["Content-Disposition"], r"attachment; filename=\"rpcload_report_\d+\.html\"")
        report = get_json(base + "/stats/report.json")
        self.assertEqual(report["stats"][0]["name"], "/hello")
        self.assertGreater(report["total"]["num_requests"], 0)
        self.assertGreaterEqual(len(report["history"]), 2)
        self.assertEqual(get_json(base + "/exceptions"), {"exceptions": []})

    # ---- basic auth ---------------------------------------------------------

    def test_basic_auth(self):
        rl = self.start("--web-port", "0", "--only-summary", "--web-login", "alice:s3cr:et")
        base = rl.web_url()

        def auth(user, password):
            token = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
            return {"Authorization": "Basic " + token}

        for path in ("/", "/stats/requests", "/metrics", "/stop", "/assets/web_ui.js"):
            for headers in ({}, auth("alice", "wrong"), auth("bob", "s3cr:et"),
                            {"Authorization": "Basic !!!"}, {"Authorization": "Bearer x"}):
                with self.subTest(path=path, headers=headers):
                    status, h, _ = http("GET", base + path, headers=headers)
                    self.assertEqual(status, 401)
                    self.assertRegex(h["WWW-Authenticate"], r'^Basic realm="rpcload"')
        status, _, body = http("POST", base + "/swarm", {"user_count": 1, "spawn_rate": 1},
                               headers=auth("alice", "nope"))
        self.assertEqual(status, 401)
        self.assertEqual(self.nginx.count(), 0)
        for path in ("/", "/stats/requests", "/metrics"):
            status, _, _ = http("GET", base + path, headers=auth("alice", "s3cr:et"))
            self.assertEqual(status, 200, path)

    # ---- Prometheus ---------------------------------------------------------

    def parse_metrics(self, text):
        try:
            from prometheus_client.parser import text_string_to_metric_families
        except ImportError:
            self.skipTest("python3-prometheus-client is not installed (scripts/setup.sh)")
        return {f.name: f for f in text_string_to_metric_families(text)}

    def check_scrape(self, url, users):
        status, headers, text = http("GET", url)
        self.assertEqual(status, 200, text)
        self.assertEqual(headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8")
        fams = self.parse_metrics(text)
        self.assertEqual(fams["rpcload_requests"].type, "counter")
        self.assertEqual(fams["rpcload_response_time_seconds"].type, "histogram")
        self.assertEqual(fams["rpcload_users"].type, "gauge")
        labels = {"method": "GET", "name": "/hello"}

        def sample(fam, name, **extra):
            want = dict(labels, **extra)
            for s in fams[fam].samples:
                if s.name == name and s.labels == want:
                    return s.value
            raise AssertionError("no %s%r in the scrape:\n%s" % (name, want, text))

        reqs = sample("rpcload_requests", "rpcload_requests_total")
        self.assertGreater(reqs, 0)
        self.assertEqual(sample("rpcload_failures", "rpcload_failures_total"), 0)
        self.assertEqual(sample("rpcload_response_bytes", "rpcload_response_bytes_total"),
                         reqs * len("hello world\n"))
        # The histogram agrees with the counter and is cumulative.
        count = sample("rpcload_response_time_seconds", "rpcload_response_time_seconds_count")
        self.assertEqual(count, reqs)
        buckets = [(float(s.labels["le"]), s.value) for s in
                   fams["rpcload_response_time_seconds"].samples
                   if s.name.endswith("_bucket")]
        self.assertEqual(buckets[-1], (float("inf"), count))
        self.assertEqual(buckets, sorted(buckets), "buckets not cumulative")
        total = sample("rpcload_response_time_seconds", "rpcload_response_time_seconds_sum")
        self.assertGreater(total, 0)
        self.assertLess(total / count, 1.0)
        self.assertEqual(fams["rpcload_users"].samples[0].value, users)
        states = {s.labels["state"]: s.value for s in fams["rpcload_state"].samples}
        self.assertEqual(sum(states.values()), 1, states)
        return reqs

    def test_prometheus_web_mode(self):
        rl = self.start("--web-port", "0", "--only-summary", "--autostart", "-u", "3", "-r", "100")
        base = rl.web_url()
        wait_for("3 running users", lambda: self.stats(base)["user_count"] == 3
                 and self.stats(base)["stats"][-1]["num_requests"] > 0)
        self.check_scrape(base + "/metrics", 3)

    def test_prometheus_headless(self):
        rl = self.start("--prometheus-port", "127.0.0.1:0", "-u", "2", "-r", "100", "-t", "4s",
                        "--only-summary")
        url = rl.metrics_url()
        self.assertRegex(url, r"^http://127\.0\.0\.1:\d+/metrics$")
        self.assertNotRegex(rl.stderr(), r"web UI on")
        time.sleep(1.5)
        first = self.check_scrape(url, 2)
        time.sleep(1.2)
        self.assertGreater(self.check_scrape(url, 2), first, "counters did not grow")
        status, _, _ = http("GET", url.replace("/metrics", "/stats/requests"))
        self.assertEqual(status, 404, "the Prometheus port serves /metrics only")
        rl.proc.wait(timeout=20)
        rl.stop()
        self.assertEqual(rl.proc.returncode, 0, rl.stderr())

    # ---- --autostart, --autoquit, errors ------------------------------------

    def test_autostart_autoquit(self):
        t0 = time.monotonic()
        rl = self.start("--autostart", "--autoquit", "1", "--web-port", "0", "-u", "2", "-r",
                        "100", "-t", "2s")
        base = rl.web_url()
        wait_for("requests without a swarm",
                 lambda: self.stats(base)["stats"][-1]["num_requests"] > 0, timeout_s=5)
        rl.proc.wait(timeout=20)
        wall = time.monotonic() - t0
        out = rl.stop()
        self.assertEqual(rl.proc.returncode, 0, rl.stderr())
        self.assertGreater(wall, 2.5)
        self.assertLess(wall, 10)
        self.assertRegex(out, r"Aggregated\s+[1-9]\d*", out[-2000:])

    def test_port_taken(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            port = s.getsockname()[1]
            rl = self.start("--web-port", str(port), "-u", "1")
            rl.proc.wait(timeout=20)
            rl.stop()
        self.assertEqual(rl.proc.returncode, 2, rl.stderr())  # a start-up error
        self.assertRegex(rl.stderr(), r"cannot listen on 127\.0\.0\.1 port %d: Address already in use"
                         % port)
        self.assertEqual(self.nginx.count(), 0)

    def test_headless_by_default(self):
        # No web option: no server, the load starts at once (like wrk).
        res = rpcload.run(["-u", "1", "-t", "1s", self.target], timeout_s=30)
        self.assertEqual(res.exit_code, 0, res.describe())
        self.assertNotIn("web UI", res.stderr)
        self.assertGreater(res.report().aggregated.reqs, 0)
        # --headless wins over the web options.
        res = rpcload.run(["--headless", "--web-port", "0", "-u", "1", "-t", "1s", self.target],
                          timeout_s=30)
        self.assertEqual(res.exit_code, 0, res.describe())
        self.assertNotIn("web UI", res.stderr)

    # ---- the page in Chromium -----------------------------------------------

    def test_browser(self):
        script = os.path.join(HERE, "web_ui_browser.mjs")
        modules = os.path.join(rpcload.REPO_ROOT, "node_modules", "playwright-core")
        if not NODE or not os.path.isdir(modules) or not os.access(CHROMIUM, os.X_OK):
            self.skipTest("needs node, node_modules/playwright-core (npm ci) and chromium "
                          "(scripts/setup.sh)")
        rl = self.start("--web-port", "0", "--only-summary")
        base = rl.web_url()
        res = subprocess.run([NODE, script, base + "/", self.tmp], capture_output=True,
                             text=True, timeout=150, cwd=HERE)
        self.assertEqual(res.returncode, 0,
                         "browser run failed:\n%s\n%s\nrpcload stderr:\n%s"
                         % (res.stdout, res.stderr, rl.stderr()))
        self.assertIn("step: the charts draw", res.stdout)
        rl.stop()
        self.assertEqual(rl.proc.returncode, 0, rl.stderr())
        self.assertIn("step: downloaded requests_", res.stdout)


if __name__ == "__main__":
    unittest.main()

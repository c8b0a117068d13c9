"""The web UI on an rpcload master (issue #17): Locust's HTTP API and page
drive every worker.

`rpcload --master --web -f shop.yaml` with two `rpcload --worker`s against
nginx:

- POST /swarm (user_count 6): /stats/requests lists both workers (Locust's
  `workers`: id, state, user_count, cpu_usage; `worker_count` 2) with the
  6 users split 3 and 3, and both send requests;
- GET /stop: the first /stats/requests after it says "stopped", its
  workers report 0 users, and its totals equal nginx's log less the
  requests the workers say they cut in flight (nothing arrives after);
- a second swarm, then GET /stats/reset: the next read counts less than
  before the reset, and the counts then grow again (the workers go on);
- the page in headless Chromium (cluster_web_browser.mjs): the Workers
  tab lists both workers with their users.

Run from this folder:  RPCLOAD_BIN=../../build/rpcload \
    RPCLOAD_PLUGIN_DIR=../../build/plugins /usr/bin/python3 -m unittest -v test_cluster_web
"""

import os
import shutil
import subprocess
import tempfile
import time
import unittest

import rpcload
from servers import NginxServer, free_port, popen_bounded, stop_process
from test_web_ui import CHROMIUM, HERE, NODE, WebRpcload, get_json, http

SCENARIO = """host: %s
users:
  - name: Browser
    wait: {constant: 0.05}
    tasks: [{steps: [{http: GET /hello?c=browse, name: browse}]}]
"""


def wait_until(what, check, timeout_s=20):
    end = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < end:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


class MasterWebUi(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rl-cluster-web-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.nginx = NginxServer()
        self.nginx.start()
        self.addCleanup(self.nginx.stop)
        self.scn = os.path.join(self.tmp, "shop.yaml")
        with open(self.scn, "w") as f:
            f.write(SCENARIO % ("http://127.0.0.1:%d" % self.nginx.port))
        port = free_port()
        self.master = WebRpcload([
            "--master", "--web", "--web-port", "0", "-f", self.scn, "-u", "6",
            "-r", "100", "--master-bind-host", "127.0.0.1",
            "--master-bind-port", str(port)], self.tmp)
        self.addCleanup(self.master.kill)
        self.base = self.master.web_url()
        self.workers = []
        for i in range(2):
            log = open(os.path.join(self.tmp, "worker%d.log" % i), "w")
            self.addCleanup(log.close)
            p = popen_bounded(rpcload.base_argv() + [
                "--worker", "-f", self.scn, "--master-port", str(port),
                # a request in flight at the stop ends and counts
                "--stop-timeout", "2s"], stdout=log, stderr=log)
            self.addCleanup(stop_process, p)
            self.workers.append(p)

    def requests(self):
        return get_json(self.base + "/stats/requests")

    def describe(self):
        out = ["--- master ---", self.master.stderr()[-3000:]]
        for i in range(2):
            with open(os.path.join(self.tmp, "worker%d.log" % i), errors="replace") as f:
                out += ["--- worker%d ---" % i, f.read()[-3000:]]
        return "\n".join(out)

    def test_swarm_stop_reset_and_workers_tab(self):
        try:
            self.run_steps()
        except AssertionError as e:
            raise AssertionError("%s\n%s" % (e, self.describe())) from None

    def run_steps(self):
        # Both workers join before any test (the web UI waits for none).
        wait_until("2 workers", lambda: self.requests().get("worker_count") == 2)
        s = self.requests()
        self.assertEqual(s["state"], "ready")
        self.assertEqual(sorted(w["state"] for w in s["workers"]), ["ready", "ready"])

        # Swarm: 6 users dealt 3 and 3, requests from both.
        status, _, body = http("POST", self.base + "/swarm",
                               {"user_count": 6, "spawn_rate": 100})
        self.assertEqual(status, 200, body)

        def both_running():
            s = self.requests()
            users = sorted(w["user_count"] for w in s["workers"])
            return s if users == [3, 3] and s["user_count"] == 6 else None
        s = wait_until("3 users on each worker", both_running)
        for w in s["workers"]:
            self.assertTrue(w["id"], s["workers"])
            self.assertIn(w["state"], ("spawning", "running"), s["workers"])
            self.assertIsInstance(w["cpu_usage"], (int, float))
        wait_until("requests", lambda: self.requests()["stats"][-1]["num_requests"] > 20)

        # The page's Workers tab shows both, with their users.
        if NODE and os.path.exists(CHROMIUM):
            ids = sorted(w["id"] for w in s["workers"])
            out = subprocess.run(
                [NODE, os.path.join(HERE, "cluster_web_browser.mjs"), self.base + "/"]
                + ids, capture_output=True, text=True, timeout=120, cwd=HERE)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

        # Stop: the first read after it is final.
        status, _, body = http("GET", self.base + "/stop", timeout=30)
        self.assertEqual(status, 200, body)
        self.assertIn("Test stopped", body)
        s = self.requests()
        self.assertEqual(s["state"], "stopped")
        self.assertEqual([w["user_count"] for w in s["workers"]], [0, 0], s["workers"])
        total = s["stats"][-1]["num_requests"]
        ran = self.nginx.count(path="/hello?c=browse", status=200)
        cut = s["cut_requests"]
        self.assertTrue(ran - cut <= total <= ran,
                        "master %d, nginx %d, cut %d" % (total, ran, cut))
        time.sleep(0.5)
        self.assertEqual(self.requests()["stats"][-1]["num_requests"], total)

        # A new test, then a reset: zero (or what came since), then growing.
        status, _, body = http("POST", self.base + "/swarm",
                               {"user_count": 4, "spawn_rate": 100})
        self.assertEqual(status, 200, body)
        wait_until("2 users on each worker", lambda: sorted(
            w["user_count"] for w in self.requests()["workers"]) == [2, 2])
        before = wait_until("requests of the second test", lambda: (
            lambda n: n if n > 20 else None)(self.requests()["stats"][-1]["num_requests"]))
        status, _, body = http("GET", self.base + "/stats/reset")
        self.assertEqual((status, body), (200, "ok"))
        after = self.requests()["stats"][-1]["num_requests"]
        self.assertLess(after, before)
        wait_until("growing again", lambda: self.requests()["stats"][-1]["num_requests"] > after + 10)
        status, _, body = http("GET", self.base + "/stop", timeout=30)
        self.assertEqual(status, 200, body)
        self.assertEqual(self.requests()["state"], "stopped")


if __name__ == "__main__":
    unittest.main()

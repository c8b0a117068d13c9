""""Stopped" means final (the web UI's and Locust's HTTP API's stop).

A CI job drives rpcload as it would Locust: POST /swarm, GET /stop, poll
/stats/requests until "state" is "stopped", read the totals. When the API
says stopped, every worker's last stats are merged: the totals equal what
nginx answered, but for the requests cut in flight at the stop (nginx may
have answered them; rpcload shows them apart as cut_requests). The same
through the page in headless Chromium. A reset then an immediate read shows
nothing from before it.

Run from this folder:  RPCLOAD_BIN=../../build/rpcload \
    RPCLOAD_PLUGIN_DIR=../../build/plugins /usr/bin/python3 -m unittest -v test_web_stop
"""

import json
import os
import random
import shutil
import subprocess
import tempfile
import time
import unittest

from servers import NginxServer
from test_web_ui import CHROMIUM, HERE, NODE, WebRpcload, get_json, http


class StopIsFinalTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rl-stop-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.nginx = NginxServer()
        self.nginx.start()
        self.addCleanup(self.nginx.stop)
        self.target = "http://127.0.0.1:%d/hello" % self.nginx.port

    def start(self, *args):
        rl = WebRpcload(list(args) + [self.target], self.tmp)
        self.addCleanup(rl.kill)
        return rl

    def test_twenty_runs_stopped_totals_equal_nginx(self):
        rl = self.start("--web", "--web-port", "0", "--only-summary")
        base = rl.web_url()
        rng = random.Random(21)
        # Twenty stops at random instants; half a second to two is as good
        # a spread of instants as longer runs, at a third of CI's time.
        for run in range(20):
            seconds = rng.uniform(0.5, 2.0)
            # Each run's requests alone in nginx's log (reading the whole
            # log every run would cost more each time).
            self.nginx.clear_logs()
            status, _, body = http("POST", base + "/swarm",
                                   {"user_count": 5, "spawn_rate": 100})
            self.assertEqual(status, 200, body)
            time.sleep(seconds)
            status, _, body = http("GET", base + "/stop", timeout=30)
            self.assertEqual((status, json.loads(body)["message"]), (200, "Test stopped"),
                             body)
            # The first read after the stop: it must already say stopped,
            # and its totals are final.
            s = get_json(base + "/stats/requests")
            self.assertEqual(s["state"], "stopped", "run %d" % run)
            total = s["stats"][-1]["num_requests"]
            cut = s["cut_requests"]
            ran = self.nginx.count(status=200)
            self.assertGreater(total, 0, "run %d (%.1f s) counted nothing" % (run, seconds))
            self.assertLessEqual(cut, 5, "more cut than users in run %d" % run)
            self.assertTrue(ran - cut <= total <= ran,
                            "run %d (%.1f s): rpcload %d, nginx answered %d, cut %d"
                            % (run, seconds, total, ran, cut))
            # And it stays so: nothing arrives after "stopped".
            time.sleep(0.3)
            again = get_json(base + "/stats/requests")
            self.assertEqual(again["stats"][-1]["num_requests"], total)
            # The downloads agree with the API at once.
            _, _, csv = http("GET", base + "/stats/requests/csv")
            agg = [l for l in csv.split("\r\n") if l.startswith(",Aggregated,")]
            self.assertEqual(int(agg[0].split(",")[2]), total, csv[:300])
            report = get_json(base + "/stats/report.json")
            self.assertEqual(report["total"]["num_requests"], total)
            self.assertEqual(report["run"]["cut_requests"], cut)
            # The history's last row too (the CSV history and the charts).
            self.assertEqual(report["history"][-1]["num_requests"], total)
        rl.stop()

    def test_reset_then_read_shows_nothing_before(self):
        # 5 users at 100 tasks/s each: slow enough that nginx's log, read
        # right after the reset, places the reset within a few requests.
        rl = self.start("--web", "--web-port", "0", "--only-summary",
                        "--wait", "constant:0.01")
        base = rl.web_url()
        http("POST", base + "/swarm", {"user_count": 5, "spawn_rate": 100})
        deadline = time.monotonic() + 10
        while get_json(base + "/stats/requests")["stats"][-1]["num_requests"] < 500:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.1)
        for _ in range(5):
            status, _, body = http("GET", base + "/stats/reset")
            self.assertEqual((status, body), (200, "ok"))
            t0 = time.monotonic()
            s = get_json(base + "/stats/requests")
            elapsed = time.monotonic() - t0
            # What a read right after the reset holds was done after it:
            # never more than the rate allows in the time between.
            self.assertLess(s["stats"][-1]["num_requests"], 500 * (elapsed + 0.05) + 5,
                            s["stats"][-1])
            time.sleep(0.5)
        # Nothing after a reset is lost: the stats after a last reset and a
        # stop equal nginx's count since the reset, cut aside.
        http("GET", base + "/stats/reset")
        before = self.nginx.count(status=200, settle_s=0)
        time.sleep(2)
        status, _, body = http("GET", base + "/stop", timeout=30)
        self.assertEqual(status, 200, body)
        s = get_json(base + "/stats/requests")
        after = self.nginx.count(status=200)
        total, cut = s["stats"][-1]["num_requests"], s["cut_requests"]
        # Requests answered around the reset instant may fall on either
        # side; a worker dropping what it recorded after the reset would
        # lose up to a second's worth (500).
        self.assertLessEqual(abs((after - before) - total), 25 + cut,
                             (after - before, total, cut))
        rl.stop()

    @unittest.skipUnless(NODE and os.access(CHROMIUM, os.X_OK),
                         "node or chromium missing (scripts/setup.sh installs them)")
    def test_page_after_stop_equals_nginx(self):
        rl = self.start("--web", "--web-port", "0", "--only-summary")
        base = rl.web_url()
        script = os.path.join(HERE, "web_stop_browser.mjs")
        p = subprocess.run([NODE, script, base + "/"], capture_output=True, text=True,
                           timeout=150, cwd=HERE)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        shown = json.loads(p.stdout.strip().splitlines()[-1])
        s = get_json(base + "/stats/requests")
        answered = self.nginx.count(status=200)
        self.assertEqual(shown["requests"], s["stats"][-1]["num_requests"], shown)
        self.assertTrue(answered - s["cut_requests"] <= shown["requests"] <= answered,
                        (shown, answered, s["cut_requests"]))
        rl.stop()


if __name__ == "__main__":
    unittest.main()

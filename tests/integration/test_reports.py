"""--csv, --csv-full-history, --json and --json-file from real runs against
nginx: Locust's CSV headers byte for byte, values that agree with the JSON
of the same run and with nginx's own count, a history row every second,
files that already hold every second when the process is killed -9.

Run from this folder:  RPCLOAD_BIN=../../build/rpcload RPCLOAD_PLUGIN_DIR=../../build/plugins \
    /usr/bin/python3 -m unittest -v test_reports
"""

import csv
import json
import os
import shutil
import signal
import tempfile
import time
import unittest

import rpcload
from servers import NginxServer

STATS_HEADER = ("Type,Name,Request Count,Failure Count,Median Response Time,"
                "Average Response Time,Min Response Time,Max Response Time,"
                "Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,"
                "99%,99.9%,99.99%,100%")
HISTORY_HEADER = ("Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,"
                  "95%,98%,99%,99.9%,99.99%,100%,Total Request Count,Total Failure Count,"
                  "Total Median Response Time,Total Average Response Time,"
                  "Total Min Response Time,Total Max Response Time,Total Average Content Size")
FAILURES_HEADER = "Method,Name,Error,Occurrences,First Seen,Last Seen"
EXCEPTIONS_HEADER = "Count,Message,Traceback,Nodes"


class ReportTests(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rl-reports-")
        self.prefix = os.path.join(self.tmp, "run")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def read(self, suffix):
        with open(self.prefix + suffix, newline="") as f:
            return f.read()

    def rows(self, suffix):
        return list(csv.DictReader(self.read(suffix).splitlines()))

    def test_csv_and_json_of_one_run(self):
        with NginxServer() as ng:
            res = rpcload.run(["-u", "4", "-r", "10", "-t", "4s", "--stop-timeout", "5",
                               "--csv", self.prefix, "--csv-full-history",
                               "--json-file", self.prefix + ".json",
                               ng.url("/hello")], timeout_s=60)
            res2 = rpcload.run(["-u", "2", "-r", "10", "-t", "2s", "--stop-timeout", "5",
                                "--csv", self.prefix + "_404", ng.url("/missing")],
                               timeout_s=60)
            served = ng.count(path="/hello")
        self.assertEqual(res.exit_code, 0, res.describe())
        for suffix, header in (("_stats.csv", STATS_HEADER),
                               ("_stats_history.csv", HISTORY_HEADER),
                               ("_failures.csv", FAILURES_HEADER),
                               ("_exceptions.csv", EXCEPTIONS_HEADER)):
            self.assertEqual(self.read(suffix).split("\r\n")[0], header, suffix)
        with open(self.prefix + ".json") as f:
            js = json.load(f)
        stats = self.rows("_stats.csv")
        self.assertEqual([r["Name"] for r in stats], ["/hello", "Aggregated"])
        hello = stats[0]
        entry = [e for e in js["stats"] if e["name"] == "/hello"][0]
        self.assertEqual(int(hello["Request Count"]), entry["num_requests"])
        self.assertEqual(int(hello["Request Count"]), served)
        self.assertEqual(int(hello["Failure Count"]), entry["num_failures"])
        self.assertAlmostEqual(float(hello["Average Response Time"]),
                               entry["avg_response_time"], places=3)
        self.assertAlmostEqual(float(hello["Max Response Time"]),
                               entry["max_response_time"], places=3)
        self.assertAlmostEqual(float(hello["Average Content Size"]),
                               entry["avg_content_length"], places=3)
        self.assertEqual(sum(c for _, c in entry["histogram_ns"]), entry["num_requests"])
        # A row per second: Aggregated, and with full history /hello too.
        hist = self.rows("_stats_history.csv")
        agg = [r for r in hist if r["Name"] == "Aggregated"]
        per = [r for r in hist if r["Name"] == "/hello"]
        self.assertGreaterEqual(len(agg), 3, self.read("_stats_history.csv"))
        self.assertEqual(len(per), len(agg))
        stamps = [int(r["Timestamp"]) for r in agg]
        self.assertEqual(stamps, list(range(stamps[0], stamps[0] + len(stamps))))
        counts = [int(r["Total Request Count"]) for r in agg]
        self.assertEqual(counts, sorted(counts))
        self.assertLessEqual(counts[-1], entry["num_requests"])
        # The 404 run: failures.csv names the error, counts agree.
        self.assertEqual(res2.exit_code, 1, res2.describe())
        with open(self.prefix + "_404_failures.csv", newline="") as f:
            fails = list(csv.DictReader(f))
        with open(self.prefix + "_404_stats.csv", newline="") as f:
            st = list(csv.DictReader(f))
        self.assertEqual(len(fails), 1)
        self.assertEqual(fails[0]["Method"], "GET")
        self.assertEqual(fails[0]["Name"], "/missing")
        self.assertIn("404", fails[0]["Error"])
        self.assertEqual(int(fails[0]["Occurrences"]), int(st[0]["Failure Count"]))

    def test_csv_decimals(self):
        """Locust's integers by default; --csv-decimals: the JSON report's
        figures (one histogram) in ms with decimals. nginx on loopback
        answers well under 100 ms, where the two differ; 2 runs of 1 s."""
        with NginxServer() as ng:
            res = rpcload.run(["-u", "2", "-r", "10", "-t", "1s", "--csv", self.prefix + "_int",
                               ng.url("/hello")], timeout_s=60)
            self.assertEqual(res.exit_code, 0, res.describe())
            res = rpcload.run(["-u", "2", "-r", "10", "-t", "1s", "--csv", self.prefix,
                               "--csv-decimals", "--json-file", self.prefix + ".json",
                               ng.url("/hello")], timeout_s=60)
            self.assertEqual(res.exit_code, 0, res.describe())
        cols = ["50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%",
                "99.99%", "100%"]
        fractions = ["0.5", "0.66", "0.75", "0.8", "0.9", "0.95", "0.98", "0.99", "0.999",
                     "0.9999", "1.0"]
        with open(self.prefix + "_int_stats.csv", newline="") as f:
            plain = list(csv.DictReader(f))
        for row in plain:
            for c in cols:
                self.assertRegex(row[c], r"^\d+$", row)
        with open(self.prefix + ".json") as f:
            js = json.load(f)
        hello = [r for r in self.rows("_stats.csv") if r["Name"] == "/hello"][0]
        entry = [e for e in js["stats"] if e["name"] == "/hello"][0]
        for c in cols:
            want = entry["response_time_percentiles"][fractions[cols.index(c)]]
            self.assertRegex(hello[c], r"^\d+\.\d+$", hello)
            self.assertAlmostEqual(float(hello[c]), want, places=3, msg=(c, hello, entry))
        self.assertAlmostEqual(float(hello["Median Response Time"]),
                               entry["median_response_time"], places=3)
        hist = [r for r in self.rows("_stats_history.csv") if r["Name"] == "Aggregated"]
        self.assertTrue(any("." in r["50%"] for r in hist if r["50%"] != "N/A"),
                        self.read("_stats_history.csv"))

    def test_json_on_stdout_keeps_tables_off_it(self):
        with NginxServer() as ng:
            res = rpcload.run(["-u", "2", "-r", "10", "-t", "2s", "--json",
                               ng.url("/hello")], timeout_s=60)
        self.assertEqual(res.exit_code, 0, res.describe())
        js = json.loads(res.stdout)
        self.assertEqual(js["stats"][0]["name"], "/hello")
        self.assertIn("Aggregated", res.stderr)

    def test_killed_run_leaves_every_second(self):
        with NginxServer() as ng:
            started = rpcload.start(["-u", "2", "-r", "10", "-t", "60s", "--csv", self.prefix,
                                     ng.url("/hello")])
            proc = started[0]
            time.sleep(4.5)
            os.kill(proc.pid, signal.SIGKILL)
            rpcload.finish(started, timeout_s=30)
        hist = self.rows("_stats_history.csv")
        self.assertGreaterEqual(len(hist), 3, self.read("_stats_history.csv"))
        stats = self.rows("_stats.csv")
        self.assertGreater(int(stats[-1]["Request Count"]), 0)
        self.assertFalse([f for f in os.listdir(self.tmp) if f.endswith(".tmp")])

    def test_ctrl_c_still_writes_every_report(self):
        with NginxServer() as ng:
            started = rpcload.start(["-u", "2", "-r", "10", "--csv", self.prefix,
                                     "--json-file", self.prefix + ".json",
                                     "--html", self.prefix + ".html", ng.url("/hello")])
            time.sleep(2.5)
            started[0].send_signal(signal.SIGINT)
            res = rpcload.finish(started, timeout_s=30)
            served = ng.count(path="/hello")
        self.assertEqual(res.exit_code, 0, res.describe())
        with open(self.prefix + ".json") as f:
            js = json.load(f)
        stats = self.rows("_stats.csv")
        self.assertEqual(int(stats[0]["Request Count"]), js["stats"][0]["num_requests"])
        # Requests cut at the stop were sent but are not counted.
        self.assertLessEqual(js["stats"][0]["num_requests"], served)
        self.assertGreaterEqual(js["stats"][0]["num_requests"] + js["run"]["cut_requests"], served)
        with open(self.prefix + ".html") as f:
            self.assertIn("rl-data", f.read())
        self.assertGreaterEqual(len(self.rows("_stats_history.csv")), 2)

    def test_unwritable_prefix_is_a_clear_error(self):
        res = rpcload.run(["-u", "1", "-t", "1s", "--csv", "/nonexistent-dir/x",
                           "--allow-unreachable", "http://127.0.0.1:1/"], timeout_s=30)
        self.assertEqual(res.exit_code, 2, res.describe())
        self.assertIn("/nonexistent-dir/x", res.stderr)


if __name__ == "__main__":
    unittest.main()

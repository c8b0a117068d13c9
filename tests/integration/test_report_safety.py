"""Report files that survive what happens to a run (issue #13): signals during
the final write, kill -9 at any moment, a disk that fills and frees, report
paths checked at start-up; and the exit codes scripts tell apart.

Every file left behind is parsed the way its users read it: Python's csv
module (and pandas when Debian's python3-pandas is there) for the CSV files,
json for the JSON report, and the HTML report must be whole.

Run from this folder:  RPCLOAD_BIN=../../build/rpcload RPCLOAD_PLUGIN_DIR=../../build/plugins \
    /usr/bin/python3 -m unittest -v test_report_safety
"""

import csv
import fcntl
import io
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import rpcload
from servers import NginxServer, popen_bounded, stop_process

F_SETPIPE_SZ = 1031  # linux/fcntl.h
FIONREAD = 0x541B    # asm-generic/ioctls.h

HISTORY_FIELDS = 24
STATS_FIELDS = 22
FAILURES_FIELDS = 6

OLD_JSON = '{"old": true}\n'
OLD_HTML = "<html>old</html>\n"


def many_names_scenario(path, n):
    """A scenario whose one task requests /hello under n names: n stats
    entries, so the final reports are megabytes and take a while to write."""
    with open(path, "w") as f:
        f.write("users:\n  - name: U\n    tasks:\n      - name: t\n        steps:\n")
        for i in range(n):
            f.write("          - {http: GET /hello, name: /n%d}\n" % i)


def csv_rows(path):
    """The rows of a CSV file, by Python's csv module (strict: a stray quote
    is an error)."""
    with open(path, newline="") as f:
        return list(csv.reader(f, strict=True))


class SafetyTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rl-safety-")
        self.prefix = os.path.join(self.tmp, "run")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- what every file must look like -----------------------------------------
    def assert_csv_files(self, prefix, why=""):
        """Each CSV file there parses and every row has its header's width
        (no half row, no row run into the next)."""
        for suffix, width in (("_stats.csv", STATS_FIELDS),
                              ("_stats_history.csv", HISTORY_FIELDS),
                              ("_failures.csv", FAILURES_FIELDS)):
            path = prefix + suffix
            if not os.path.exists(path):
                continue
            rows = csv_rows(path)
            self.assertTrue(rows, "%s is empty %s" % (suffix, why))
            for i, row in enumerate(rows):
                self.assertEqual(len(row), width,
                                 "%s row %d has %d fields %s: %r"
                                 % (suffix, i, len(row), why, row[:4]))
            with open(path, "rb") as f:
                data = f.read()
            self.assertTrue(data.endswith(b"\r\n"), "%s ends mid-row %s" % (suffix, why))

    def assert_whole_json(self, path, old=None, why=""):
        with open(path) as f:
            text = f.read()
        if old is not None and text == old:
            return
        js = json.loads(text)  # a truncated file raises here
        self.assertIn("stats", js, why)

    def assert_whole_html(self, path, old=None, why=""):
        with open(path) as f:
            text = f.read()
        if old is not None and text == old:
            return
        self.assertTrue(text.endswith("</html>\n"), "HTML cut short %s: ...%r" % (why, text[-80:]))

    # -- #13 defect 2: signals and kills ----------------------------------------
    def test_signals_during_final_write_are_ignored(self):
        """SIGTERM twice while the final reports are written (stdout, where
        --json goes, is a 4 KiB pipe nobody reads yet, so the write waits
        there): the process lives on, says so in one line, and once stdout
        is read writes every report whole."""
        with NginxServer() as ng:
            proc, argv, _ = rpcload.start(
                ["-u", "2", "-r", "10", "-t", "2s", "--json", "--csv", self.prefix,
                 "--json-file", self.prefix + ".json", "--html", self.prefix + ".html",
                 ng.url("/hello")])
            try:
                fcntl.fcntl(proc.stdout.fileno(), F_SETPIPE_SZ, 4096)
                # The pipe full: rpcload is inside its final write.
                end = time.monotonic() + 30
                queued = 0
                while time.monotonic() < end and proc.poll() is None:
                    queued = fcntl.ioctl(proc.stdout.fileno(), FIONREAD, b"\0\0\0\0")
                    queued = int.from_bytes(queued, "little")
                    if queued >= 4096:
                        break
                    time.sleep(0.05)
                self.assertGreaterEqual(queued, 4096, "the final write never filled stdout")
                time.sleep(0.3)
                proc.send_signal(signal.SIGTERM)
                time.sleep(0.3)
                proc.send_signal(signal.SIGTERM)
                time.sleep(0.5)
                self.assertIsNone(proc.poll(), "a signal during the final write ended rpcload")
                out, err = proc.communicate(timeout=60)
            finally:
                stop_process(proc)
        err = err.decode(errors="replace")
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(err.count("signal ignored"), 1, err)
        js = json.loads(out)
        self.assertGreater(js["total"]["num_requests"], 0)
        self.assert_whole_json(self.prefix + ".json")
        self.assert_whole_html(self.prefix + ".html")
        self.assert_csv_files(self.prefix)
        self.assertFalse([f for f in os.listdir(self.tmp) if f.endswith(".tmp")])

    def _killed_run(self, ng, scenario, prefix, when):
        """A run with every report, killed -9 at `when` seconds, or (when
        is None) the moment its final write shows: a new temp file, or the
        old JSON or HTML touched. Returns what the poll saw."""
        for path, old in ((prefix + ".json", OLD_JSON), (prefix + ".html", OLD_HTML)):
            with open(path, "w") as f:
                f.write(old)
        with open(prefix + ".out", "wb") as out:
            proc = popen_bounded(rpcload.base_argv() + [
                "-f", scenario, "-u", "4", "-r", "100", "-t", "2s", "--only-summary",
                "--csv", prefix, "--csv-full-history", "--json-file", prefix + ".json",
                "--html", prefix + ".html", ng.url("/")], stdout=out, stderr=subprocess.STDOUT)
        seen = "timer"
        try:
            t0 = time.monotonic()
            end = t0 + 60
            while time.monotonic() < end and proc.poll() is None:
                if when is not None:
                    if time.monotonic() - t0 >= when:
                        break
                    time.sleep(0.01)
                    continue
                if os.path.exists(prefix + ".json.tmp") or os.path.exists(prefix + ".html.tmp"):
                    seen = "temp file"
                    break
                if (os.path.getsize(prefix + ".json") != len(OLD_JSON)
                        or os.path.getsize(prefix + ".html") != len(OLD_HTML)):
                    seen = "report touched"
                    break
                time.sleep(0.001)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            else:
                seen = "exited first"
            proc.wait(timeout=30)
        finally:
            stop_process(proc)
        return seen

    def test_kill_9_leaves_every_file_whole(self):
        """kill -9 at random moments of the run, and the moment the final
        reports start: every CSV parses with whole rows, the JSON and HTML
        are the old ones or whole new ones."""
        scenario = os.path.join(self.tmp, "names.yaml")
        many_names_scenario(scenario, 2000)
        rng = random.Random(os.getpid())
        kills = [rng.uniform(0.3, 2.5) for _ in range(3)] + [None, None]
        seen = []
        with NginxServer() as ng:
            for i, when in enumerate(kills):
                prefix = os.path.join(self.tmp, "k%d" % i)
                what = self._killed_run(ng, scenario, prefix, when)
                seen.append(what)
                why = "(kill %d at %s: %s)" % (i, "the final write" if when is None
                                               else "%.2fs" % when, what)
                self.assert_csv_files(prefix, why)
                self.assert_whole_json(prefix + ".json", OLD_JSON, why)
                self.assert_whole_html(prefix + ".html", OLD_HTML, why)
        # The aimed kills did land in the final write.
        self.assertIn(seen[3], ("temp file", "report touched"), seen)
        self.assertIn(seen[4], ("temp file", "report touched"), seen)


if __name__ == "__main__":
    unittest.main()

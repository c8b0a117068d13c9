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
import uuid

import rpcload
from servers import (BlackHoleServer, NginxServer, _SelectorTcpServer, popen_bounded,
                     stop_process)

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


# Runs inside a private mount namespace (unshare -m): a small tmpfs over
# $1, rpcload writing its CSV files there, the disk filled after 2.5 s and
# freed 4 s later; copies of the files while full and at the end go to $2.
FULL_DISK_SCRIPT = r'''
set -u
mnt=$1; out=$2; shift 2
mount -t tmpfs -o size=512k tmpfs "$mnt" || exit 77
"$@" --csv "$mnt/run" --csv-full-history >"$out/stdout" 2>"$out/stderr" &
pid=$!
sleep 2.5
head -c 100M /dev/zero >"$mnt/fill" 2>/dev/null
df -k "$mnt" >"$out/df_full"
sleep 3
mkdir "$out/full" && cp "$mnt"/run_*.csv "$out/full/"
sleep 1
rm -f "$mnt/fill"
wait $pid
echo $? >"$out/rc"
cp "$mnt"/run_*.csv "$out/"
'''


class UniqueErrorServer(_SelectorTcpServer):
    """HTTP/1.1 on a selector: every request is answered 500 with a reason
    phrase that carries a fresh uuid, so no two error texts are alike (as a
    server that puts a request id in its messages). `served` counts them."""

    thread_name = "unique-errors"

    def __init__(self, reason=None):
        super().__init__(lifetime_s=300)
        self.served = 0
        self._bufs = {}
        # bytes: the same reason phrase every time instead
        self.reason = reason

    def on_close(self, conn):
        self._bufs.pop(conn, None)

    def on_data(self, conn, data):
        buf = self._bufs.get(conn, b"") + data
        out = []
        while True:
            i = buf.find(b"\r\n\r\n")
            if i < 0:
                break
            buf = buf[i + 4:]
            reason = self.reason or b"boom " + uuid.uuid4().hex.encode()
            out.append(b"HTTP/1.1 500 %s\r\nContent-Length: 0\r\n\r\n" % reason)
        self._bufs[conn] = buf
        if out:
            try:
                conn.sendall(b"".join(out))
            except OSError:
                pass
            self.served += len(out)

    def url(self):
        return "http://127.0.0.1:%d/u" % self.port


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def pandas_or_none():
    try:
        import pandas
        return pandas
    except ImportError:
        return None


def dict_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


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

    def assert_pandas_reads(self, prefix, why=""):
        """pandas reads each CSV file with its header's columns."""
        pd = pandas_or_none()
        if pd is None:
            return
        for suffix, width in (("_stats.csv", STATS_FIELDS),
                              ("_stats_history.csv", HISTORY_FIELDS),
                              ("_failures.csv", FAILURES_FIELDS)):
            if os.path.exists(prefix + suffix):
                frame = pd.read_csv(prefix + suffix)
                self.assertEqual(len(frame.columns), width, suffix + why)

    # -- #13 defect 3: a disk that fills and frees --------------------------------
    def test_disk_fills_and_frees(self):
        """A 512 KiB tmpfs filled 2.5 s into the run and freed 4 s later:
        the failure is said once and the recovery once, every file parses
        (while full too) with whole rows, and the history has every second
        once: its rows waited and were written whole."""
        if os.geteuid() != 0 or not shutil.which("unshare"):
            self.skipTest("needs root and unshare(1) to mount a tmpfs in a private "
                          "mount namespace")
        scenario = os.path.join(self.tmp, "names.yaml")
        many_names_scenario(scenario, 30)
        mnt = os.path.join(self.tmp, "mnt")
        out = os.path.join(self.tmp, "out")
        os.mkdir(mnt)
        os.mkdir(out)
        script = os.path.join(self.tmp, "full_disk.sh")
        with open(script, "w") as f:
            f.write(FULL_DISK_SCRIPT)
        with NginxServer() as ng:
            proc = popen_bounded(["unshare", "-m", "--propagation", "private", "bash", script,
                                  mnt, out] + rpcload.base_argv()
                                 + ["-f", scenario, "-u", "2", "-r", "100", "-t", "10s",
                                    "--wait", "constant:0.05", ng.url("/")],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            try:
                log, _ = proc.communicate(timeout=120)
            finally:
                stop_process(proc)
        if proc.returncode == 77:
            self.skipTest("mounting a tmpfs is not allowed here: %s" % log.decode(errors="replace"))
        with open(os.path.join(out, "stderr"), errors="replace") as f:
            err = f.read()
        with open(os.path.join(out, "df_full")) as f:
            df = f.read()
        why = "\n--- stderr ---\n%s\n--- df while full ---\n%s" % (err, df)
        for prefix, when in ((os.path.join(out, "full", "run"), " (while full)"),
                             (os.path.join(out, "run"), " (at the end)")):
            self.assert_csv_files(prefix, when + why)
            self.assert_pandas_reads(prefix, when)
        self.assertEqual(proc.returncode, 0, log.decode(errors="replace") + why)
        with open(os.path.join(out, "rc")) as f:
            self.assertEqual(f.read().strip(), "0", "rpcload's exit status" + why)
        self.assertEqual(err.count("No space left on device"), 1, why)
        self.assertEqual(err.count("written again"), 1, why)
        rows = csv_rows(os.path.join(out, "run_stats_history.csv"))
        stamps = [int(r[0]) for r in rows[1:] if r[3] == "Aggregated"]
        self.assertGreaterEqual(len(stamps), 9, stamps)
        self.assertEqual(stamps, list(range(stamps[0], stamps[0] + len(stamps))),
                         "every second once, in order" + why)

    # -- exit codes (#13, #14 item 5) ---------------------------------------------
    def test_exit_codes(self):
        """0 all good, 1 failures (or --exit-code-on-error's), 2 usage, 3 a
        report that could not be written."""
        with NginxServer() as ng:
            def run(*args):
                return rpcload.run(["-u", "1", "-r", "10", "-t", "1s"] + list(args),
                                   timeout_s=60)
            res = run(ng.url("/hello"))
            self.assertEqual(res.exit_code, 0, res.describe())
            res = run(ng.url("/missing"))
            self.assertEqual(res.exit_code, 1, res.describe())
            res = run("--exit-code-on-error", "7", ng.url("/missing"))
            self.assertEqual(res.exit_code, 7, res.describe())
            res = run("--exit-code-on-error", "0", ng.url("/missing"))
            self.assertEqual(res.exit_code, 0, res.describe())
            res = run("--no-such-option", ng.url("/hello"))
            self.assertEqual(res.exit_code, 2, res.describe())
            if os.path.exists("/dev/full"):
                # Writable at start-up, full at the end: the JSON is lost.
                res = run("--json-file", "/dev/full", ng.url("/hello"))
                self.assertEqual(res.exit_code, 3, res.describe())
                self.assertIn("/dev/full: No space left on device", res.stderr)
                res = run("--json-file", "/dev/full", ng.url("/missing"))
                self.assertEqual(res.exit_code, 3, res.describe())
                # --json to a stdout that takes nothing.
                with open("/dev/full", "wb") as full:
                    proc = popen_bounded(rpcload.base_argv() + [
                        "-u", "1", "-t", "1s", "--json", ng.url("/hello")],
                        stdout=full, stderr=subprocess.PIPE)
                    _, err = proc.communicate(timeout=60)
                self.assertEqual(proc.returncode, 3, err)
                self.assertIn(b"cannot write the JSON report", err)

    def test_hung_server_is_not_a_pass(self):
        """A server that accepts and never answers, -t 3s: every request is
        cut at the stop. The run exits 1 with a clear line and the JSON
        counts the cut requests."""
        with BlackHoleServer() as bh:
            res = rpcload.run(["-u", "2", "-r", "10", "-t", "3s", "--json-file",
                               self.prefix + ".json", "http://127.0.0.1:%d/" % bh.port],
                              timeout_s=60)
        self.assertEqual(res.exit_code, 1, res.describe())
        self.assertIn("no request finished: 2 were sent and cut at the stop", res.stderr)
        with open(self.prefix + ".json") as f:
            js = json.load(f)
        self.assertEqual(js["total"]["num_requests"], 0)
        self.assertEqual(js["run"]["cut_requests"], 2)

    # -- #13 defect 8: report paths checked at start-up ---------------------------
    def test_report_paths_checked_at_start(self):
        """A report that could not be written at the end is refused before
        the run: exit 2 at once, naming the option and the path."""
        missing = os.path.join(self.tmp, "no-such-dir", "r")
        cases = [
            (["--html", missing + ".html"], "--html " + missing + ".html"),
            (["--json-file", missing + ".json"], "--json-file " + missing + ".json"),
            (["--json-file", self.tmp], "--json-file %s: Is a directory" % self.tmp),
            (["--csv", missing], missing + "_stats_history.csv"),
        ]
        with NginxServer() as ng:
            for args, said in cases:
                res = rpcload.run(["-u", "1", "-t", "10s"] + args + [ng.url("/hello")],
                                  timeout_s=60)
                self.assertEqual(res.exit_code, 2, res.describe())
                self.assertLess(res.wall_s, 3, res.describe())
                self.assertIn(said, res.stderr)
            self.assertEqual(ng.count(path="/hello", settle_s=0.5), 0)
        self.assertEqual(os.listdir(self.tmp), [])

    # -- #13 defect 4, #14 item 6: bounded error rows ----------------------------
    def test_distinct_error_texts_are_capped(self):
        """100k distinct error texts (a uuid in every reason phrase): the
        entry keeps 100 and counts the rest in one row, the warning comes
        once, memory stays flat, and every report's error table is
        bounded; the occurrences still add up to the failures."""
        with UniqueErrorServer() as srv:
            with open(self.prefix + ".out", "wb") as out, \
                    open(self.prefix + ".err", "wb") as err:
                proc = popen_bounded(rpcload.base_argv() + [
                    "-u", "20", "-r", "100", "-t", "120s", "--csv", self.prefix,
                    "--json-file", self.prefix + ".json", srv.url()],
                    stdout=out, stderr=err)
            try:
                marks = {}
                end = time.monotonic() + 100
                while time.monotonic() < end and proc.poll() is None and len(marks) < 2:
                    if "warm" not in marks and srv.served >= 20000:
                        marks["warm"] = (srv.served, rss_kb(proc.pid))
                    if "warm" in marks and srv.served >= 120000:
                        marks["end"] = (srv.served, rss_kb(proc.pid))
                    time.sleep(0.05)
                self.assertEqual(len(marks), 2, "the server answered %d in time" % srv.served)
                proc.send_signal(signal.SIGINT)
                proc.wait(timeout=60)
            finally:
                stop_process(proc)
        with open(self.prefix + ".err", errors="replace") as f:
            err = f.read()
        growth = marks["end"][1] - marks["warm"][1]
        # (AddressSanitizer holds freed memory in quarantine: no RSS there.)
        if not rpcload.sanitized():
            self.assertLess(growth, 5 * 1024,
                            "RSS grew %d KiB from %d to %d distinct texts"
                            % (growth, marks["warm"][0], marks["end"][0]))
        self.assertEqual(proc.returncode, 1, err)  # every request failed
        self.assertEqual(err.count("distinct error texts"), 1, err)
        self.assertIn("GET /u: more than 100 distinct error texts", err)
        self.assert_csv_files(self.prefix)
        self.assert_pandas_reads(self.prefix)
        fails = dict_rows(self.prefix + "_failures.csv")
        self.assertEqual(len(fails), 101)
        other = [r for r in fails if r["Error"].endswith(" other errors)")]
        self.assertEqual(len(other), 1, fails[:3])
        self.assertEqual(other[0]["Error"], "(%s other errors)" % other[0]["Occurrences"])
        stats = dict_rows(self.prefix + "_stats.csv")
        failed = int(stats[0]["Failure Count"])
        self.assertGreater(failed, 100000)
        self.assertEqual(sum(int(r["Occurrences"]) for r in fails), failed)
        with open(self.prefix + ".json") as f:
            js = json.load(f)
        self.assertEqual(len(js["errors"]), 101)
        with open(self.prefix + ".out", errors="replace") as f:
            self.assertLess(f.read().count("boom"), 101 * 3)

    def test_max_error_rows_option(self):
        with UniqueErrorServer() as srv:
            res = rpcload.run(["-u", "2", "-r", "10", "-t", "2s", "--max-error-rows", "5",
                               "--csv", self.prefix, srv.url()], timeout_s=60)
        self.assertEqual(res.exit_code, 1, res.describe())
        fails = dict_rows(self.prefix + "_failures.csv")
        self.assertEqual(len(fails), 6, fails)
        self.assertIn("more than 5 distinct error texts", res.stderr)

    # -- #13 item 10: text from the network on the terminal ------------------------
    def test_control_characters_escaped_on_console(self):
        """A reason phrase with terminal escape sequences (clear the screen,
        red, a C1 CSI, a bell): the console shows them escaped, the CSV
        keeps the text exact."""
        reason = b"\x1b[2J\x1b[31mred\x1b[0m \xc2\x9b1A \x07"
        with UniqueErrorServer(reason) as srv:
            res = rpcload.run(["-u", "1", "-r", "10", "-t", "1s", "--csv", self.prefix,
                               srv.url()], timeout_s=60)
        self.assertEqual(res.exit_code, 1, res.describe())
        for stream in (res.stdout, res.stderr):
            bad = [c for c in stream if (ord(c) < 0x20 and c != "\n") or 0x7f <= ord(c) < 0xa0]
            self.assertEqual(bad, [], stream[-2000:])
        self.assertIn("GET /u: HTTP 500 \\x1b[2J\\x1b[31mred\\x1b[0m \\u009b1A \\x07",
                      res.stdout)
        fails = dict_rows(self.prefix + "_failures.csv")
        self.assertEqual(fails[0]["Error"], "HTTP 500 " + reason.decode())

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
                self.assert_pandas_reads(prefix, why)
                self.assert_whole_json(prefix + ".json", OLD_JSON, why)
                self.assert_whole_html(prefix + ".html", OLD_HTML, why)
        # The aimed kills did land in the final write.
        self.assertIn(seen[3], ("temp file", "report touched"), seen)
        self.assertIn(seen[4], ("temp file", "report touched"), seen)


if __name__ == "__main__":
    unittest.main()

"""The HTML report (src/report_html.c) as a browser sees it.

tests/tools/html_report_cli writes the report of a made-up 60-second run
whose names and error texts try to break out of the page (close the script
element, inject an <img>, break quotes, invalid UTF-8). Then:
  - the file itself: one document whose only elements are the report's
    (three scripts, no src or href anywhere, a CSP that allows no fetch),
    with the figures as JSON in the "rl-data" script, names intact;
  - headless Chromium (Debian's, /usr/bin/chromium) opens it from disk:
    no console message at all (a script error, a CSP violation or a failed
    fetch would log one), the report's script ran to its end, the tables
    hold the hostile names as text and nothing was injected, and uPlot made
    three canvases;
  - a screenshot: every series of the three charts (requests/s, failures/s,
    p50, p95, p99, users) is drawn, as a line of its own colour running
    across most of the chart's width, not only as a legend swatch. The PNG
    is decoded here with zlib (no PIL).

Run from this folder:  RPCLOAD_BUILD_DIR=../../build \
    /usr/bin/python3 -m unittest -v test_html_report
"""

import html.parser
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import unittest
import zlib

import rpcload
from hello_server import HelloServer, skip_reason
from servers import NginxServer

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("RPCLOAD_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
BUILD_DIR = os.environ.get("RPCLOAD_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
CLI = os.path.join(BUILD_DIR, "tests", "html_report_cli")
CHROMIUM = os.environ.get("RPCLOAD_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"

# As html_report_cli.c writes them.
HOSTILE_NAME = "/x</script><img id=\"pwned\" src=x onerror=\"document.title='pwned'\">"
QUOTE_NAME = "/q?a=\"1\"&b='2' <!-- \\ -->"
UNICODE_NAME = "/caf\u00e9/\u2615"
BAD_UTF8_NAME = "/bad\ufffd\ufffd"
HOSTILE_ERROR = "</SCRIPT><script>document.title='pwned'</script>"
TARGET = "http://127.0.0.1:8080/<b>&\"x\""
SECONDS = 60

# The charts' series colours (src/report/assets/report.js).
SERIES = {
    "Requests/s": (0x1F, 0x6F, 0xD1),
    "Failures/s": (0xD6, 0x27, 0x28),
    "p50": (0x2C, 0xA0, 0x2C),
    "p95": (0xFF, 0x7F, 0x0E),
    "p99": (0x94, 0x67, 0xBD),
    "Users": (0x17, 0xA2, 0xB8),
}
WIDTH, HEIGHT = 1200, 3400


def make_report(path, *args):
    res = subprocess.run([CLI, path] + list(args), capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        raise AssertionError("html_report_cli failed (%d): %s" % (res.returncode, res.stderr))


# ---- parsing -----------------------------------------------------------------

class Elements(html.parser.HTMLParser):
    """Every element with its attributes, the text of scripts and <title>,
    and the text of each table cell by class."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags = []          # (tag, attrs dict)
        self.scripts = []       # (attrs, text)
        self.title = ""
        self.cells = []         # (class, text) of every <td>
        self._in = None
        self._text = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag in ("script", "title", "td"):
            self._in = (tag, a)
            self._text = []

    def handle_endtag(self, tag):
        if self._in and self._in[0] == tag:
            text = "".join(self._text)
            if tag == "script":
                self.scripts.append((self._in[1], text))
            elif tag == "title":
                self.title = text
            else:
                self.cells.append((self._in[1].get("class", ""), text))
            self._in = None

    def handle_data(self, data):
        if self._in:
            self._text.append(data)


def parse(text):
    p = Elements()
    p.feed(text)
    p.close()
    return p


# ---- PNG -------------------------------------------------------------------------

def read_png(path):
    """(width, height, rows of (r, g, b) tuples) of an 8-bit, non-interlaced
    RGB or RGBA PNG, as Chromium writes its screenshots."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, ihdr = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    width, height, depth, ctype, _, _, interlace = ihdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise ValueError("unsupported PNG: depth %d, colour type %d, interlace %d"
                         % (depth, ctype, interlace))
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(height):
        ftype, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if ftype == 1:
                line[x] = (line[x] + a) & 0xFF
            elif ftype == 2:
                line[x] = (line[x] + b) & 0xFF
            elif ftype == 3:
                line[x] = (line[x] + ((a + b) >> 1)) & 0xFF
            elif ftype == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pred) & 0xFF
        rows.append([tuple(line[x:x + 3]) for x in range(0, stride, bpp)])
        prev = line
    return width, height, rows


# ---- Chromium --------------------------------------------------------------------

def chromium(url, *args, tmp):
    """Runs headless Chromium on `url`; returns (stdout, console lines)."""
    argv = [CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox",
            "--user-data-dir=" + os.path.join(tmp, "profile"),
            "--no-first-run", "--no-default-browser-check", "--disable-extensions",
            "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
            "--force-device-scale-factor=1", "--enable-logging=stderr", "--v=0"]
    res = subprocess.run(argv + list(args) + [url], capture_output=True, text=True,
                         timeout=120, stdin=subprocess.DEVNULL)
    if res.returncode != 0:
        raise AssertionError("chromium failed (%d):\n%s" % (res.returncode, res.stderr[-3000:]))
    console = [line for line in res.stderr.splitlines() if ":CONSOLE" in line]
    return res.stdout, console


class HtmlReportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(CLI, os.X_OK):
            raise unittest.SkipTest("html_report_cli is not built: %s" % CLI)
        cls.tmp = tempfile.mkdtemp(prefix="rl_html_")
        cls.path = os.path.join(cls.tmp, "report.html")
        make_report(cls.path, "--seconds", str(SECONDS))
        with open(cls.path, "rb") as f:
            cls.raw = f.read()
        cls.page = parse(cls.raw.decode("utf-8"))   # strict: must be UTF-8
        cls.data = json.loads(cls.page.scripts[0][1])

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def need_chromium(self):
        if not os.access(CHROMIUM, os.X_OK):
            self.fail("chromium not found at %s: scripts/setup.sh installs it "
                      "(Debian package chromium)" % CHROMIUM)

    # ---- the file -------------------------------------------------------------
    def test_only_the_reports_elements(self):
        tags = [t for t, _ in self.page.tags]
        self.assertEqual(set(tags) - {"html", "head", "meta", "title", "style", "body",
                                      "header", "h1", "p", "noscript", "main", "footer",
                                      "script"}, set())
        self.assertEqual(tags.count("script"), 3)
        self.assertEqual([a for a, _ in self.page.scripts],
                         [{"type": "application/json", "id": "rl-data"}, {}, {}])
        for tag, attrs in self.page.tags:
            self.assertNotIn("src", attrs, tag)
            self.assertNotIn("href", attrs, tag)
        csp = [a["content"] for t, a in self.page.tags
               if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
        self.assertEqual(len(csp), 1)
        self.assertIn("default-src 'none'", csp[0])
        self.assertEqual(self.page.title, "rpcload report: " + TARGET)
        self.assertIn(b"var uPlot=", self.raw)

    def test_json_figures(self):
        d = self.data
        names = [(e["type"], e["name"]) for e in d["stats"]]
        self.assertEqual(sorted(names, key=lambda tn: (tn[1], tn[0])), names)
        for name in (HOSTILE_NAME, QUOTE_NAME, UNICODE_NAME, BAD_UTF8_NAME, "/hello",
                     "/never"):
            self.assertIn(name, [n for _, n in names])
        self.assertIn(HOSTILE_ERROR, [e["error"] for e in d["errors"]])
        total = d["total"]
        self.assertEqual(total["name"], "Aggregated")
        self.assertEqual(sum(e["requests"] for e in d["stats"]), total["requests"])
        self.assertEqual(sum(e["failures"] for e in d["stats"]), total["failures"])
        self.assertEqual(sum(e["occurrences"] for e in d["errors"]), total["failures"])
        self.assertEqual(len(d["percentiles"]), 11)
        for e in d["stats"] + [total]:
            if e["requests"]:
                pct = e["pct_ms"]
                self.assertEqual(pct, sorted(pct), e["name"])
                self.assertLessEqual(e["min_ms"], pct[0])
                self.assertEqual(pct[-1], e["max_ms"])
            else:
                self.assertEqual(e["pct_ms"], [None] * 11)
        h = d["history"]
        self.assertEqual(len(h["time"]), SECONDS)
        for col, values in h.items():
            self.assertEqual(len(values), SECONDS, col)
        self.assertEqual(h["users"][:3], [5, 10, 15])
        self.assertEqual(h["users"][-1], 50)
        self.assertEqual(h["requests"][-1], total["requests"])
        for p50, p95, p99 in zip(h["p50_ms"], h["p95_ms"], h["p99_ms"]):
            self.assertTrue(0 < p50 <= p95 <= p99)
        run = d["run"]
        self.assertEqual(run["target"], TARGET)
        self.assertEqual((run["users"], run["spawn_rate"], run["run_time_s"]), (50, 5, 60))
        self.assertRegex(run["start"], r"^2023-11-1[45] \d\d:\d\d:\d\d [+-]\d{4}$")
        self.assertRegex(run["version"], r"^\d+\.\d+\.\d+")

    # ---- in the browser --------------------------------------------------------
    def test_renders_without_console_errors(self):
        self.need_chromium()
        dom, console = chromium("file://" + self.path, "--dump-dom", tmp=self.tmp)
        self.assertEqual(console, [], "the page logged to the console")
        self.assertRegex(dom, r'<html[^>]* data-rl-rendered="1"',
                         "the report's script did not run to its end")
        page = parse(dom)
        self.assertNotIn("pwned", page.title)
        self.assertEqual([a for t, a in page.tags if a.get("id") == "pwned"], [])
        self.assertEqual([t for t, _ in page.tags if t == "img"], [])
        # The hostile strings are table text, whole.
        names = [text for cls, text in page.cells if cls == "name"]
        for name in (HOSTILE_NAME, QUOTE_NAME, UNICODE_NAME, BAD_UTF8_NAME, "Aggregated"):
            self.assertIn(name, names)
        self.assertIn(HOSTILE_ERROR, [text for cls, text in page.cells if cls == "text"])
        # Tables: the stats (7 entries + Aggregated), the percentiles (the 6
        # with requests + Aggregated), the errors (3).
        tables = [a.get("class") for t, a in page.tags if t == "table"]
        self.assertEqual(tables[:4], ["params", "stats", "percentiles", "errors"])
        self.assertEqual(len(tables), 4 + 3)   # and uPlot's three legends
        self.assertEqual(names.count(HOSTILE_NAME), 3)   # stats, percentiles, errors
        self.assertEqual(names.count("/never"), 1)       # no percentiles without requests
        # uPlot: three charts, each a canvas of real size.
        canvases = [a for t, a in page.tags if t == "canvas"]
        self.assertEqual(len(canvases), 3)
        for c in canvases:
            self.assertGreater(int(c["width"]), 300)
            self.assertGreater(int(c["height"]), 200)
        self.assertEqual(len([a for t, a in page.tags
                              if "uplot" in a.get("class", "").split()]), 3)

    def test_charts_are_drawn(self):
        self.need_chromium()
        png = os.path.join(self.tmp, "report.png")
        _, console = chromium("file://" + self.path, "--screenshot=" + png,
                              "--window-size=%d,%d" % (WIDTH, HEIGHT), tmp=self.tmp)
        self.assertEqual(console, [])
        width, height, rows = read_png(png)
        self.assertEqual((width, height), (WIDTH, HEIGHT))
        # Where each series' colour appears (within a small distance, for
        # anti-aliasing): enough pixels, spread across the chart's width.
        found = {name: [0, width, -1] for name in SERIES}   # count, min x, max x
        for row in rows:
            for x, (r, g, b) in enumerate(row):
                if r > 240 and g > 240 and b > 240:
                    continue
                for name, (cr, cg, cb) in SERIES.items():
                    if abs(r - cr) + abs(g - cg) + abs(b - cb) <= 24:
                        f = found[name]
                        f[0] += 1
                        f[1] = min(f[1], x)
                        f[2] = max(f[2], x)
        for name, (n, lo, hi) in found.items():
            self.assertGreater(n, 400, "series %s: only %d pixels of its colour" % (name, n))
            self.assertGreater(hi - lo, width // 2,
                               "series %s spans only x %d..%d" % (name, lo, hi))
        non_white = sum(1 for row in rows for p in row if min(p) < 235)
        self.assertGreater(non_white, width * height // 50)

    def test_empty_run(self):
        self.need_chromium()
        path = os.path.join(self.tmp, "empty.html")
        make_report(path, "--empty")
        with open(path, encoding="utf-8") as f:
            data = json.loads(parse(f.read()).scripts[0][1])
        self.assertEqual(data["history"]["time"], [])
        self.assertEqual(data["total"]["requests"], 0)
        dom, console = chromium("file://" + path, "--dump-dom", tmp=self.tmp)
        self.assertEqual(console, [])
        self.assertRegex(dom, r'<html[^>]* data-rl-rendered="1"')
        self.assertIn("No per-second data", dom)
        self.assertIn("No request failed.", dom)
        self.assertNotIn("<canvas", dom)



LONG_NAME = "/api/v2/customer_accounts/preferences.notification_settings/long_segment_name"


class RealRunReportTest(unittest.TestCase):
    """A 2 s scenario run against nginx and the hello gRPC server, its
    --html report read in Chromium 420 px wide (html_report_browser.mjs):
    names wrap only after / . _, the Run table names the targets, and the
    charts' time axis ticks whole seconds. About 8 s."""

    def test_names_target_and_ticks(self):
        node = shutil.which("node")
        if not node or not os.access(CHROMIUM, os.X_OK) or not os.path.isdir(
                os.path.join(rpcload.REPO_ROOT, "node_modules", "playwright-core")):
            self.skipTest("needs node, node_modules/playwright-core and chromium "
                          "(scripts/setup.sh)")
        why = skip_reason()
        if why:
            self.skipTest(why)
        tmp = tempfile.mkdtemp(prefix="rl_html_run_")
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, "r.html")
        scenario = os.path.join(tmp, "s.yaml")
        with NginxServer() as ng, HelloServer() as hs:
            with open(scenario, "w") as f:
                f.write("""
users:
  - name: Reader
    wait: {constant: 0.1}
    tasks:
      - steps:
          - {http: GET /hello, name: "%s"}
          - {grpc: locust.hello.HelloService/SayHello, host: "%s", proto: "%s",
             data: {name: x}}
""" % (LONG_NAME, hs.target, os.path.join(SOURCE_DIR, "examples", "hello", "hello.proto")))
            res = rpcload.run(["-f", scenario, "-u", "2", "-r", "10", "-t", "2s",
                               "--only-summary", "--html", path,
                               "http://127.0.0.1:%d" % ng.port], timeout_s=60)
            hs.stop()
        self.assertEqual(res.exit_code, 0, res.describe())
        p = subprocess.run([node, os.path.join(HERE, "html_report_browser.mjs"), path],
                           capture_output=True, text=True, timeout=120,
                           cwd=rpcload.REPO_ROOT)
        self.assertEqual(p.returncode, 0, p.stderr)
        seen = json.loads(p.stdout.strip().splitlines()[-1])
        self.assertEqual(seen["problems"], [], seen)
        names = [n for n in seen["names"] if n["text"] in (
            LONG_NAME, "/locust.hello.HelloService/SayHello")]
        self.assertGreaterEqual(len(names), 4, seen["names"])   # stats and percentiles
        # Narrow enough that the long one wraps, and only after / . _
        self.assertTrue(any(n["breaks"] for n in names), names)
        for n in names:
            self.assertTrue(set(n["breaks"]) <= set("/._"), n)
        # The Run table's Target: both endpoints, with their plugins.
        self.assertIsNotNone(seen["target"], seen)
        self.assertIn("127.0.0.1:%d (http1)" % ng.port, seen["target"])
        self.assertIn("%s (grpc)" % hs.target, seen["target"])
        # Three charts; their time axes tick at whole seconds only
        # (uPlot's labels for a fraction read ":01.500" or "1.5").
        self.assertEqual(len(seen["ticks"]), 3, seen)
        for ticks in seen["ticks"]:
            self.assertTrue(ticks, seen)
            for t in ticks:
                self.assertNotRegex(t, r"\.\d", seen["ticks"])


if __name__ == "__main__":
    unittest.main()

"""Run the rpcload binary and parse its final report (docs/cli.md, "Output").

    res = run(["-u", "10", "-t", "3s", url])
    res.exit_code, res.stdout, res.stderr, res.wall_s
    rep = res.report()                      # the LAST stats table etc.
    rep.aggregated.reqs, rep.row("GET", "/hello").fails, rep.errors
"""

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from typing import List, Optional

from servers import popen_bounded

_HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(_HERE))


def binary():
    """The rpcload executable: $RPCLOAD_BIN, else build/rpcload in the repo."""
    path = os.environ.get("RPCLOAD_BIN") or os.path.join(REPO_ROOT, "build", "rpcload")
    if not os.access(path, os.X_OK):
        raise FileNotFoundError("rpcload binary not found or not executable: %s "
                                "(set RPCLOAD_BIN)" % path)
    return path


def sanitized():
    """True when rpcload was built with AddressSanitizer (valgrind cannot
    run such a build: tests that use valgrind skip there)."""
    with open(binary(), "rb") as f:
        return b"__asan_init" in f.read()


def base_argv(wrapper=None):
    """[wrapper...] rpcload [--plugin-dir $RPCLOAD_PLUGIN_DIR]"""
    argv = list(wrapper or []) + [binary()]
    plugin_dir = os.environ.get("RPCLOAD_PLUGIN_DIR")
    if plugin_dir:
        argv += ["--plugin-dir", plugin_dir]
    return argv


@dataclass
class StatsRow:
    type: str           # "" for the Aggregated row
    name: str
    reqs: int
    fails: int
    line: str


@dataclass
class PercentileRow:
    type: str
    name: str
    values: List[str]   # the percentile columns as printed, then # reqs last
    line: str


@dataclass
class ErrorLine:
    occurrences: int
    text: str


@dataclass
class Report:
    rows: List[StatsRow] = field(default_factory=list)          # per (type, name)
    aggregated: Optional[StatsRow] = None
    percentile_header: Optional[str] = None
    percentiles: List[PercentileRow] = field(default_factory=list)
    errors: List[ErrorLine] = field(default_factory=list)
    tables_seen: int = 0

    def row(self, type_, name):
        for r in self.rows:
            if r.type == type_ and r.name == name:
                return r
        return None

    def error_text(self):
        return "\n".join("%d %s" % (e.occurrences, e.text) for e in self.errors)

    @property
    def percentile_aggregated(self):
        for p in self.percentiles:
            if p.name == "Aggregated" and p.type == "":
                return p
        return None


# "GET      /hello      12345     0(0.00%) |   0.21 ..." ; the Aggregated row
# has an empty type column (the line starts with spaces).
_STATS_ROW = re.compile(r"^(?P<type>\S+)?\s+(?P<name>\S.*?)\s+(?P<reqs>\d+)\s+"
                        r"(?P<fails>\d+)\((?P<pct>[0-9.]+)%\)\s*\|")
_PCT_ROW = re.compile(r"^(?P<type>\S+)?\s+(?P<name>\S.*?)\s+(?P<values>(?:\S+\s+){11}\d+)\s*$")
_ERR_ROW = re.compile(r"^\s*(?P<n>\d+)\s+(?P<text>\S.*?)\s*$")


def _is_sep(line):
    return line.startswith("---") and "|" in line


def _is_stats_header(line):
    return line.startswith("Type") and "Name" in line and "# reqs" in line and "# fails" in line


def _is_pct_header(line):
    return line.startswith("Type") and "Name" in line and "50%" in line and "100%" in line


def parse_report(stdout):
    """Parse the final report out of rpcload's stdout: the LAST stats table
    (rows and Aggregated), the last percentile table and the last error report."""
    lines = stdout.splitlines()
    rep = Report()

    # -- the last stats table --------------------------------------------------
    starts = [i for i, l in enumerate(lines) if _is_stats_header(l)]
    rep.tables_seen = len(starts)
    if starts:
        i = starts[-1] + 1
        if i < len(lines) and _is_sep(lines[i]):
            i += 1
        seps = 0
        while i < len(lines) and seps < 2:
            l = lines[i]
            i += 1
            if _is_sep(l):
                seps += 1
                continue
            m = _STATS_ROW.match(l)
            if not m:
                break
            row = StatsRow(type=m.group("type") or "", name=m.group("name"),
                           reqs=int(m.group("reqs")), fails=int(m.group("fails")), line=l)
            if row.type == "" and row.name == "Aggregated":
                rep.aggregated = row
                break
            rep.rows.append(row)

    # -- the last percentile table ---------------------------------------------
    pstarts = [i for i, l in enumerate(lines) if _is_pct_header(l)]
    if pstarts:
        rep.percentile_header = lines[pstarts[-1]]
        i = pstarts[-1] + 1
        while i < len(lines):
            l = lines[i]
            i += 1
            if _is_sep(l):
                continue
            m = _PCT_ROW.match(l)
            if not m:
                break
            rep.percentiles.append(PercentileRow(type=m.group("type") or "",
                                                 name=m.group("name"),
                                                 values=m.group("values").split(), line=l))
            if m.group("type") is None and m.group("name") == "Aggregated":
                break

    # -- the last error report ---------------------------------------------------
    estarts = [i for i, l in enumerate(lines) if l.strip() == "Error report"]
    if estarts:
        i = estarts[-1] + 1
        # header "# occurrences      Error", then a separator
        while i < len(lines) and not _is_sep(lines[i]):
            i += 1
        i += 1
        while i < len(lines):
            l = lines[i]
            i += 1
            if not l.strip() or _is_sep(l) or l.startswith("---"):
                break
            m = _ERR_ROW.match(l)
            if not m:
                break
            rep.errors.append(ErrorLine(occurrences=int(m.group("n")), text=m.group("text")))
    return rep


@dataclass
class Result:
    argv: List[str]
    exit_code: Optional[int]
    stdout: str
    stderr: str
    wall_s: float
    timed_out: bool = False

    def report(self):
        return parse_report(self.stdout)

    def describe(self, limit=6000):
        """Everything a failing assertion should show."""
        def tail(s):
            return s if len(s) <= limit else "...\n" + s[-limit:]
        return ("command: %s\nexit: %s%s  wall: %.2fs\n--- stdout ---\n%s\n--- stderr ---\n%s"
                % (" ".join(self.argv), self.exit_code, " (TIMED OUT, killed)" if self.timed_out
                   else "", self.wall_s, tail(self.stdout), tail(self.stderr)))


def _finish(proc, argv, start, timeout_s, input_bytes=None):
    timed_out = False
    try:
        out, err = proc.communicate(input=input_bytes, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate(timeout=30)
    return Result(argv=argv, exit_code=None if timed_out else proc.returncode,
                  stdout=out.decode(errors="replace"), stderr=err.decode(errors="replace"),
                  wall_s=time.monotonic() - start, timed_out=timed_out)


def start(args, wrapper=None, env=None, stdin=None):
    """Start rpcload in the background. Returns (proc, argv, start_time).
    stdin: subprocess.PIPE to feed it (finish's input), else /dev/null."""
    argv = base_argv(wrapper) + list(args)
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    t0 = time.monotonic()
    kw = {"stdin": stdin} if stdin is not None else {}
    proc = popen_bounded(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env,
                         **kw)
    return proc, argv, t0


def finish(started, timeout_s=60, input_bytes=None):
    proc, argv, t0 = started
    return _finish(proc, argv, t0, timeout_s, input_bytes)


def run(args, timeout_s=60, wrapper=None, env=None, input_bytes=None):
    """Run rpcload with args (plus --plugin-dir from the environment), bounded
    by timeout_s (then killed; exit_code None, timed_out True). input_bytes:
    what it reads on stdin (else /dev/null)."""
    stdin = subprocess.PIPE if input_bytes is not None else None
    return finish(start(args, wrapper=wrapper, env=env, stdin=stdin), timeout_s, input_bytes)

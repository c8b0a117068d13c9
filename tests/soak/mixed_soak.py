#!/usr/bin/python3
"""The mixed soak of issue #13, run by hand (not in CI: it takes minutes).

HTTP/1.1 (nginx), HTTP/2 (nginx, h2 by ALPN over TLS) and gRPC (examples/hello's
server) in one scenario file, 2,000 users, 2 minutes, against the sanitized build;
every server is restarted twice during the run (nginx killed -9 and started again on
its ports; hello_server stopped by SIGTERM, so that its counts add up, and started
again on its port). Passes when:

  - rpcload ends by itself (exit 0 or 1: the restarts fail some requests);
  - stderr holds no sanitizer report (AddressSanitizer, LeakSanitizer, UBSan);
  - the CSV files, the JSON and the HTML report parse, whole;
  - each protocol's successes equal what its server logged or counted, up to the
    requests in flight at the stop (cut, not counted);
  - requests succeed again after each restart (the history's seconds).

    cmake -S . -B build-asan -DRPCLOAD_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
    cmake --build build-asan -j2
    tests/soak/mixed_soak.py                      # build-asan, 2000 users, 120 s
    tests/soak/mixed_soak.py --build build --users 500 --duration 30   # a quick look

The reports stay in --out (default: a new folder under /tmp), named in the output.
"""

import argparse
import csv
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE, "tests", "integration"))

WIDTHS = {"_stats.csv": 22, "_stats_history.csv": 24, "_failures.csv": 6}
SANITIZER = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
                       r"SUMMARY: (Address|Leak|UndefinedBehavior)Sanitizer")

SCENARIO = """\
# The soak's three protocols (tests/soak/mixed_soak.py writes this file).
users:
  - name: Http1
    weight: 1
    wait: {{between: [0.5, 1.5]}}
    tasks:
      - steps: [{{http: "GET http://127.0.0.1:{h1}/hello", name: h1}}]
  - name: Http2
    weight: 1
    wait: {{between: [0.5, 1.5]}}
    tasks:
      - steps: [{{https: "GET https://127.0.0.1:{h2}/hello", name: h2}}]
  - name: Grpc
    weight: 1
    wait: {{between: [0.5, 1.5]}}
    tasks:
      - steps: [{{grpc: locust.hello.HelloService/SayHello, host: "127.0.0.1:{grpc}",
                 proto: {proto}, data: {{name: "u{{{{user_id}}}}"}}, name: grpc}}]
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(SOURCE, "build-asan"),
                    help="the build folder (default build-asan)")
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--duration", type=int, default=120, help="seconds")
    ap.add_argument("--restarts", type=int, default=2)
    ap.add_argument("--out", default=None, help="folder for the reports")
    a = ap.parse_args()

    build = os.path.abspath(a.build)
    os.environ["RPCLOAD_BUILD_DIR"] = build
    os.environ.setdefault("RPCLOAD_SOURCE_DIR", SOURCE)
    from hello_server import HelloServer, skip_reason
    from servers import NginxH2Server, NginxServer, kill_server, popen_bounded, restart_server

    why = skip_reason()
    if why:
        sys.exit("mixed_soak: cannot run hello_server: " + why)
    out = a.out or tempfile.mkdtemp(prefix="rpcload-soak-")
    os.makedirs(out, exist_ok=True)
    prefix = os.path.join(out, "soak")
    proto = os.path.join(SOURCE, "examples", "hello", "hello.proto")
    problems = []

    def check(ok, what):
        print("  %s %s" % ("ok  " if ok else "FAIL", what))
        if not ok:
            problems.append(what)

    with NginxServer() as h1, NginxH2Server() as h2:
        grpc_counts = []
        hs = HelloServer("--threads", "2")
        hs.start()
        grpc_port = hs.port
        scenario = os.path.join(out, "soak.yaml")
        with open(scenario, "w") as f:
            f.write(SCENARIO.format(h1=h1.port, h2=h2.tls_port, grpc=grpc_port, proto=proto))
        env = dict(os.environ)
        env["ASAN_OPTIONS"] = "detect_leaks=1:strict_string_checks=1"
        env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
        argv = [os.path.join(build, "rpcload"), "--plugin-dir", os.path.join(build, "plugins"),
                "-f", scenario, "-u", str(a.users), "-r", str(a.rate),
                "-t", "%ds" % a.duration, "--insecure", "--only-summary",
                "--csv", prefix, "--json-file", prefix + ".json", "--html", prefix + ".html"]
        print("mixed_soak: %s" % " ".join(argv))
        errf = open(prefix + ".stderr", "w+")
        outf = open(prefix + ".stdout", "w")
        t0 = time.monotonic()
        proc = popen_bounded(argv, stdout=outf, stderr=errf, env=env)
        restarts = []
        try:
            for i in range(a.restarts):
                when = a.duration * (i + 1) / (a.restarts + 1)
                while time.monotonic() - t0 < when and proc.poll() is None:
                    time.sleep(0.2)
                if proc.poll() is not None:
                    break
                print("mixed_soak: %.0f s: restarting the servers" % (time.monotonic() - t0))
                kill_server(h1)
                kill_server(h2)
                hs.stop()
                grpc_counts.append(hs.counts)
                time.sleep(2.0)
                restart_server(h1)
                restart_server(h2)
                hs = HelloServer("--threads", "2", "--port", str(grpc_port))
                hs.start()
                restarts.append(time.time())
            proc.wait(timeout=a.duration + 300)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
            hs.stop()
            grpc_counts.append(hs.counts)
        wall = time.monotonic() - t0
        outf.close()
        errf.seek(0)
        err = errf.read()
        errf.close()
        h1_served = h1.count(path="/hello", status=200)
        h2_served = h2.count(path="/hello", status=200, tls=True)
        h2_protocols = set(h2.protocols(tls=True))

    print("mixed_soak: rpcload exited %s after %.0f s; reports in %s"
          % (proc.returncode, wall, out))
    check(proc.returncode in (0, 1), "rpcload ended by itself (exit %s)" % proc.returncode)
    check(len(restarts) == a.restarts, "%d restarts of every server" % len(restarts))
    found = SANITIZER.findall(err)
    check(not found, "no sanitizer report in stderr (%s)" % (prefix + ".stderr"))

    rows = {}
    for suffix, width in WIDTHS.items():
        try:
            with open(prefix + suffix, newline="") as f:
                r = list(csv.reader(f, strict=True))
            bad = [i for i, row in enumerate(r) if len(row) != width]
            check(r and not bad, "%s parses, %d rows of %d fields" % (suffix, len(r), width))
            rows[suffix] = [dict(zip(r[0], x)) for x in r[1:]]
        except (OSError, csv.Error) as e:
            check(False, "%s parses: %s" % (suffix, e))
    try:
        with open(prefix + ".json") as f:
            js = json.load(f)
        check(True, "the JSON report parses")
    except (OSError, ValueError) as e:
        js = None
        check(False, "the JSON report parses: %s" % e)
    with open(prefix + ".html") as f:
        check(f.read().endswith("</html>\n"), "the HTML report is whole")
    check("HTTP/2.0" in h2_protocols and len(h2_protocols) == 1,
          "the h2 server saw HTTP/2 only (%s)" % sorted(h2_protocols))

    stats = {r["Name"]: r for r in rows.get("_stats.csv", [])}
    grpc_served = sum(c["hello_ok"] for c in grpc_counts if c)
    slack = a.users  # requests in flight at the stop: cut, not counted
    for name, served in (("h1", h1_served), ("h2", h2_served), ("grpc", grpc_served)):
        r = stats.get(name)
        if not r:
            check(False, "a stats row for %s" % name)
            continue
        ok = int(r["Request Count"]) - int(r["Failure Count"])
        check(ok > 0 and abs(ok - served) <= slack,
              "%s: %d successes, the server %d (%d failures)"
              % (name, ok, served, int(r["Failure Count"])))
    if js is not None and "Aggregated" in stats:
        check(js["total"]["num_requests"] == int(stats["Aggregated"]["Request Count"]),
              "the JSON and the CSV agree (%d requests)" % js["total"]["num_requests"])
    hist = [r for r in rows.get("_stats_history.csv", []) if r["Name"] == "Aggregated"]
    last = max((int(r["Timestamp"]) for r in hist), default=0)
    for i, t in enumerate(restarts):
        # Whole seconds from 5 s after the restart (the backoff), before
        # the end.
        after = [r for r in hist if t + 5 <= int(r["Timestamp"]) <= min(t + 15, last - 2)]
        check(after and all(float(r["Requests/s"]) > float(r["Failures/s"]) for r in after),
              "requests succeed again after restart %d" % (i + 1))
    for e in rows.get("_failures.csv", []):
        print("  failure: %s %s: %s x%s" % (e["Method"], e["Name"], e["Error"],
                                           e["Occurrences"]))
    if found:
        print("\n".join(l for l in err.splitlines() if SANITIZER.search(l))[:4000])
    print("mixed_soak: %s" % ("PASSED" if not problems else "FAILED: " + "; ".join(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

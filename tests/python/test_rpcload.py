"""The rpcload Python module against a real nginx (docs/python.md).

- The issue's library example, line for line: a scenario run with the web
  UI on port 0 counts exactly what nginx logged.
- Events come in Locust's order with Locust's arguments, and a Python
  request listener hears exactly the requests the stats count.
- The batched report listener's rows add up to the stats.
- A request listener can fail a request; one that raises is logged and
  counted, and the run goes on.
- Bad options and bad scenarios raise RpcloadError with the library's
  text (the rpcload command's own message).
- The web UI answers Locust's API while the runner runs.
"""

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

import rpcload

HELLO_BODY = len(b"hello world\n")  # nginx's /hello (tests/integration/servers.py)


def write_scenario(tmp_path, host, body, name="shop.yaml"):
    path = tmp_path / name
    path.write_text("host: %s\n%s" % (host, body))
    return str(path)


SHOP = """\
settings: {run_time: 2s}
users:
  - name: Shopper
    wait: {constant: 0.01}
    tasks:
      - steps:
          - http: GET /hello
            name: browse
"""


def test_issue_example_line_for_line(tmp_path, nginx, monkeypatch):
    write_scenario(tmp_path, nginx.url(""), SHOP)
    monkeypatch.chdir(tmp_path)
    # The issue's example; "stop-timeout" lets the requests in flight at
    # the run time's end finish and count, as nginx logs them.
    env = rpcload.Environment(scenario="shop.yaml", **{"stop-timeout": "5s"})
    env.create_web_ui("127.0.0.1", 0)
    assert env.web_ui.port > 0
    env.runner.start(100, spawn_rate=10); ended = env.runner.greenlet_join(timeout=60); env.runner.quit()  # noqa: E702
    print(env.stats.total.num_requests, env.stats.total.get_response_time_percentile(0.95))

    assert ended, "settings.run_time (2s) should have ended the test"
    stats = env.stats
    logged = nginx.count(path="/hello")
    assert logged > 0
    assert stats.total.num_requests == logged
    assert stats.total.num_failures == 0
    browse = stats.entries[("browse", "GET")]
    assert browse.num_requests == logged
    p95 = stats.total.get_response_time_percentile(0.95)
    assert 0 < p95 <= stats.total.max_response_time
    assert stats.total.min_response_time <= stats.total.median_response_time <= p95
    assert browse.avg_content_length == HELLO_BODY
    assert env.runner.state == "stopped" or env.runner.state == "quitting"
    assert env.exit_status == 0
    env.close()


def test_events_in_order_with_locust_arguments(nginx):
    env = rpcload.Environment(host=nginx.url(), threads=2, **{"stop-timeout": "5s"})
    events = []
    requests = []
    lock = threading.Lock()

    def on(kind):
        def listener(**kw):
            with lock:
                events.append((kind, kw))
        return listener

    for kind in ("init", "test_start", "spawning_complete", "test_stop", "quitting"):
        getattr(env.events, kind).add_listener(on(kind))

    @env.events.request.add_listener
    def on_request(request_type, name, response_time, response_length, exception, context,
                   **kw):
        with lock:
            events.append(("request", None))
            requests.append((request_type, name, response_time, response_length, exception,
                             context, kw))

    t0 = time.time()
    env.runner.start(4, spawn_rate=100)
    assert env.runner.greenlet_join(timeout=1.0) is False  # no run time: it goes on
    assert env.runner.user_count == 4
    env.runner.stop()
    stopped = env.stats
    env.runner.quit()
    t1 = time.time()

    kinds = [k for k, _ in events]
    for once in ("init", "test_start", "test_stop", "quitting"):
        assert kinds.count(once) == 1, (once, kinds.count(once))
    assert kinds[0] == "init"
    assert kinds[-2:] == ["test_stop", "quitting"]
    start = kinds.index("test_start")
    assert kinds.index("request") > start
    # The first users send while the last are spawned: requests may come
    # before spawning_complete, never before test_start or after test_stop.
    assert start < kinds.index("spawning_complete") < kinds.index("test_stop")
    assert "request" not in kinds[kinds.index("test_stop"):]

    init_kw = events[0][1]
    assert init_kw["environment"] is env and init_kw["runner"] is env.runner
    assert events[start][1] == {"environment": env}
    assert dict(events)["spawning_complete"] == {"user_count": 4}
    assert events[-1][1] == {"environment": env}

    assert len(requests) == stopped.total.num_requests == nginx.count(path="/hello") > 0
    assert sum(r[2] for r in requests) == pytest.approx(stopped.total.total_response_time,
                                                       rel=1e-6)
    for request_type, name, rt, length, exc, ctx, kw in requests:
        assert (request_type, name, length, exc) == ("GET", "/hello", HELLO_BODY, None)
        assert isinstance(rt, float) and 0 < rt < 5000
        assert ctx["user_class"] == "User" and 1 <= ctx["user_id"] <= 4
        assert ctx["worker"] in (0, 1)
        assert t0 - 1 <= kw["start_time"] <= t1 + 1
        assert kw["response"] is None and kw["url"] is None
    assert env.events.unhandled_exceptions == 0


FAILING = """\
users:
  - name: Shopper
    wait: {constant: 0.01}
    tasks:
      - steps:
          - http: GET /hello
            name: ok
          - http: GET /error
            name: pay
            on_failure: stop_task
"""


def test_report_rows_add_up_to_the_stats(tmp_path, nginx):
    scn = write_scenario(tmp_path, nginx.url(""), FAILING)
    env = rpcload.Environment(scenario=scn, **{"stop-timeout": "5s"})
    sums = {}
    reports = []
    user_errors = []

    @env.events.report.add_listener
    def on_report(environment, unix_time, user_count, rows, **kw):
        reports.append((unix_time, user_count))
        for r in rows:
            s = sums.setdefault((r.name, r.method), [0, 0, 0.0, 0])
            s[0] += r.num_requests
            s[1] += r.num_failures
            s[2] += r.total_response_time
            s[3] += r.total_content_length

    env.events.user_error.add_listener(lambda **kw: user_errors.append(kw))
    env.runner.start(3, spawn_rate=100)
    env.runner.greenlet_join(timeout=2.2)
    env.runner.stop()
    env.runner.quit()

    stats = env.stats
    assert len(reports) >= 2, "one report a second, and one after the last request"
    assert all(users <= 3 for _, users in reports)
    assert set(sums) == set(stats.entries) == {("ok", "GET"), ("pay", "GET")}
    for key, (n, fails, total_ms, length) in sums.items():
        e = stats.entries[key]
        assert (n, fails) == (e.num_requests, e.num_failures), key
        assert total_ms == pytest.approx(e.total_response_time, rel=1e-6)
        assert length == e.total_content_length
    assert stats.entries[("pay", "GET")].num_failures == stats.entries[("pay", "GET")].num_requests
    assert stats.total.num_requests == nginx.count()

    # Every failed "pay" ended its task: a user_error each, its text the
    # failure's as the stats group it.
    ((method, name, error), row), = stats.errors.items()
    assert (method, name) == ("GET", "pay")
    assert len(user_errors) == row.occurrences == stats.entries[("pay", "GET")].num_failures
    for u in user_errors:
        assert (u["request_type"], u["name"], u["user_class"]) == ("GET", "pay", "Shopper")
        assert isinstance(u["exception"], rpcload.RequestError) and str(u["exception"]) == error


def test_a_request_listener_fails_requests_and_one_that_raises_is_counted(nginx):
    env = rpcload.Environment(host=nginx.url(), **{"stop-timeout": "5s"})
    flagged = []
    seen_after = []

    @env.events.request.add_listener
    def flag_user_one(context, **kw):
        if context["user_id"] == 1:
            flagged.append(1)
            return "flagged by Python"  # rpcload's listener ABI: fails it
        return None

    @env.events.request.add_listener
    def broken(**kw):
        raise ValueError("a bug in a listener")

    @env.events.request.add_listener
    def after(exception, **kw):
        seen_after.append(None if exception is None else str(exception))

    env.runner.start(2, spawn_rate=100)
    env.runner.greenlet_join(timeout=0.8)
    env.runner.quit()

    stats = env.stats
    entry = stats.get("/hello", "GET")
    assert entry.num_requests == nginx.count(path="/hello") > 0
    assert entry.num_failures == len(flagged) > 0
    assert stats.errors[("GET", "/hello", "flagged by Python")].occurrences == len(flagged)
    assert seen_after.count("flagged by Python") == len(flagged)
    assert seen_after.count(None) == entry.num_requests - len(flagged)
    assert env.events.unhandled_exceptions == entry.num_requests


def test_a_listener_may_steer_the_runner(nginx):
    env = rpcload.Environment(host=nginx.url(), **{"stop-timeout": "5s"})
    seen = []
    quitting = []

    @env.events.request.add_listener
    def enough(**kw):
        seen.append(1)
        if len(seen) >= 200:
            env.runner.quit()  # carried out on a thread of its own

    env.events.quitting.add_listener(lambda **kw: quitting.append(env.stats.num_requests))
    env.runner.start(2, spawn_rate=100)
    assert env.runner.greenlet_join(timeout=20), "the listener's quit never came"
    env.runner.quit()  # waits for the listener's
    assert len(quitting) == 1
    assert len(seen) == env.stats.total.num_requests == quitting[0] == nginx.count(path="/hello")
    assert len(seen) >= 200
    assert env.events.unhandled_exceptions == 0


def test_web_ui_answers_while_the_runner_runs(nginx):
    env = rpcload.Environment(host=nginx.url(), **{"stop-timeout": "5s"})
    web = env.create_web_ui("127.0.0.1", 0)
    env.runner.start(2, spawn_rate=100)
    url = "http://127.0.0.1:%d/stats/requests" % web.port
    deadline = time.monotonic() + 10
    served = None
    while time.monotonic() < deadline:
        with urllib.request.urlopen(url, timeout=5) as resp:
            body = json.loads(resp.read())
        rows = {(r["method"], r["name"]): r for r in body["stats"]}
        if rows.get(("GET", "/hello"), {}).get("num_requests", 0) > 0:
            served = body
            break
        time.sleep(0.2)
    assert served is not None, "the web UI never showed a request"
    assert served["state"] in ("spawning", "running")
    assert served["user_count"] >= 1
    env.runner.quit()
    assert env.web_ui.port is None  # the web UI stops with quit
    assert env.stats.total.num_requests == nginx.count(path="/hello")


def test_stats_snapshots(nginx):
    env = rpcload.Environment(host=nginx.url(), **{"stop-timeout": "5s"})
    before = env.stats
    assert before.total.num_requests == 0 and before.entries == {} and before.history == []
    assert before.total.min_response_time is None
    env.runner.start(2, spawn_rate=100)
    env.runner.greenlet_join(timeout=1.6)
    held = env.stats
    n_held = held.total.num_requests
    time.sleep(1.2)
    assert env.stats is not held
    assert held.total.num_requests == n_held, "a snapshot never changes"
    assert env.stats.total.num_requests > n_held, "a new read is a new snapshot"
    env.runner.stop()
    final = env.stats
    assert final.total.num_requests == env.stats.total.num_requests  # stopped: final
    assert final.get("/nothing", "GET").num_requests == 0
    assert final.num_requests == final.total.num_requests
    hist = final.history
    assert len(hist) >= 1  # a row a second, half a second after it
    assert hist[-1]["num_requests"] <= final.total.num_requests
    assert {"time", "user_count", "current_rps", "response_time_percentile_95"} <= set(hist[0])
    assert final.total.total_rps > 0
    entry = final.entries[("/hello", "GET")]
    env.runner.quit()
    env.close()
    del final, held, before
    assert entry.num_requests > 0  # an entry keeps its snapshot alive


def test_listeners_after_the_run_is_set_up_are_refused(nginx):
    env = rpcload.Environment(host=nginx.url())
    env.runner.start(1, spawn_rate=100)
    with pytest.raises(rpcload.RpcloadError, match="before the run is set up") as e:
        env.events.request.add_listener(lambda **kw: None)
    assert e.value.name == "BUSY"
    env.runner.quit()


def cli_error(args):
    """The rpcload command's error line for these arguments."""
    bin_ = os.environ.get("RPCLOAD_BIN") or os.path.join(os.path.dirname(
        rpcload.library_path()), "..", "rpcload")
    p = subprocess.run([bin_] + args, capture_output=True, text=True, timeout=30)
    assert p.returncode == 2, p.stderr
    line = p.stderr.splitlines()[0]
    assert line.startswith("rpcload: error: "), line
    return line[len("rpcload: error: "):]


def test_bad_options_and_scenarios_raise_the_librarys_text(tmp_path, nginx):
    with pytest.raises(rpcload.RpcloadError) as e:
        rpcload.Environment(host=nginx.url(), users="x")
    assert str(e.value) == cli_error(["--users", "x", nginx.url()])
    assert e.value.usage and e.value.name == "INVAL"

    with pytest.raises(rpcload.RpcloadError, match=r"^unknown option 'bogus'"):
        rpcload.Environment(host=nginx.url(), bogus=1)

    bad = write_scenario(tmp_path, nginx.url(""), "users:\n  - name: A\n    tsks: []\n")
    with pytest.raises(rpcload.RpcloadError) as e:
        rpcload.Environment(scenario=bad)
    assert str(e.value) == cli_error(["-f", bad])
    assert str(e.value).startswith(bad + ":4:5: unknown key 'tsks'")  # line 1: host
    assert not e.value.usage

    missing = str(tmp_path / "missing.yaml")
    with pytest.raises(rpcload.RpcloadError) as e:
        rpcload.Environment(scenario=missing)
    assert str(e.value) == cli_error(["-f", missing])

    with pytest.raises(rpcload.RpcloadError, match="user_classes"):
        rpcload.Environment(host=nginx.url(), user_classes=[object])
    with pytest.raises(TypeError, match="option 'users'"):
        rpcload.Environment(host=nginx.url(), users={"a": 1})


def run_python(code, env_overrides, cwd):
    env = dict(os.environ)
    for k, v in env_overrides.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=env, cwd=cwd)


def test_another_api_major_is_refused(tmp_path):
    fake = tmp_path / "fake.c"
    fake.write_text("unsigned rl_api_version(void) { return (2u << 16) | 3; }\n")
    so = tmp_path / "librpcload.so.1"
    subprocess.run(["cc", "-shared", "-fPIC", str(fake), "-o", str(so)], check=True, timeout=60)
    code = ("import rpcload\n"
            "try:\n    rpcload.Environment(host='http://127.0.0.1:1/')\n"
            "except rpcload.RpcloadError as e:\n    print(e.name, e)\n")
    p = run_python(code, {"RPCLOAD_LIBRARY": str(so),
                          "PYTHONPATH": os.path.dirname(os.path.dirname(rpcload.__file__))},
                   tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("ABI %s (" % so), p.stdout
    assert "is librpcload API 2.3; this rpcload module needs API 1.x" in p.stdout

    p = run_python(code, {"RPCLOAD_LIBRARY": str(tmp_path / "none.so"),
                          "PYTHONPATH": os.path.dirname(os.path.dirname(rpcload.__file__))},
                   tmp_path)
    assert "NOTFOUND librpcload not found; tried: %s" % (tmp_path / "none.so") in p.stdout


def test_installed_package_finds_its_library_and_plugins(tmp_path, nginx, build_dir):
    prefix = tmp_path / "prefix"
    subprocess.run(["cmake", "--install", build_dir, "--prefix", str(prefix)], check=True,
                   capture_output=True, timeout=120)
    site = prefix / "lib" / "python3" / "dist-packages"
    code = ("import rpcload\n"
            "print(rpcload.__file__)\nprint(rpcload.library_path())\n"
            "env = rpcload.Environment(host=%r, stop_timeout='5s')\n"
            "env.runner.start(2, spawn_rate=100); env.runner.greenlet_join(timeout=0.5)\n"
            "env.runner.quit()\nprint(env.stats.total.num_requests)\n" % nginx.url())
    # Nothing points at the build tree: the package alone finds the library
    # beside it, and the library its plugins beside itself.
    p = run_python(code, {"PYTHONPATH": str(site), "RPCLOAD_LIBRARY": None,
                          "RPCLOAD_PLUGIN_PATH": None}, tmp_path)
    assert p.returncode == 0, p.stderr
    pkg, lib, n = p.stdout.split()
    assert pkg == str(site / "rpcload" / "__init__.py")
    assert lib == str(prefix / "lib" / "librpcload.so.1")
    assert int(n) == nginx.count(path="/hello") > 0

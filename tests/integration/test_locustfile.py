"""--print-locustfile (#17): the stub a Locust master loads for rpcload
workers. Debian's Locust (python3-locust) loads it, lists the scenario's
classes by their exact names, and reads the same weights, fixed counts and
tags; its dispatcher then deals users as rpcload's plan does.

Run from this folder:  RPCLOAD_BIN=../../build/rpcload RPCLOAD_PLUGIN_DIR=../../build/plugins \
    /usr/bin/python3 -m unittest -v test_locustfile
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

import rpcload
from cluster_case import LocustMasterCase
from servers import free_port, popen_bounded

PYTHON = "/usr/bin/python3"

# Names a Python class statement cannot carry (a space, a keyword, the
# module the stub imports, non-ASCII, a quote), weights that are not whole,
# a fixed count, tags, a sequential class.
SCENARIO = textwrap.dedent('''\
    host: http://127.0.0.1:9
    users:
      - name: Reader
        weight: 4
        tasks:
          - name: index
            weight: 3
            tags: [browse, home]
            steps: [{http: GET /}]
          - name: article
            weight: 0.4
            tags: [browse]
            steps: [{http: GET /a}]
          - steps: [{http: GET /untagged}]
      - name: Web User
        weight: 1.5
        tasks:
          - {tags: [search], steps: [{http: GET /s}]}
      - name: class
        fixed_count: 2
        tasks:
          - {steps: [{http: GET /c}]}
      - name: locust
        weight: 2
        tasks:
          - {steps: [{http: GET /l}]}
      - name: "Käufer \\"1\\""
        weight: 1
        sequential: true
        tasks:
          - {name: one, steps: [{http: GET /k1}]}
          - {name: two, steps: [{http: GET /k2}]}
''')

# What Locust makes of the stub, as JSON: per class (by __name__, as the
# master's spawn messages key them) its weight, fixed_count and tasks'
# tags and weights; then the users its dispatcher deals to one worker.
INSPECT = textwrap.dedent('''\
    import json, sys
    from locust.util.load_locustfile import load_locustfile
    from locust.dispatch import UsersDispatcher
    from locust.runners import WorkerNode
    _, classes, _ = load_locustfile(sys.argv[1])
    out = {"attrs": sorted(classes), "classes": {}}
    for attr, c in classes.items():
        tasks = []
        for t in c.tasks:
            tasks.append({"tags": sorted(getattr(t, "locust_tag_set", ())),
                          "doc": t.__doc__})
        out["classes"][c.__name__] = {"weight": c.weight, "fixed_count": c.fixed_count,
                                      "tasks": tasks}
    d = UsersDispatcher(worker_nodes=[WorkerNode("w1")], user_classes=list(classes.values()))
    d.new_dispatch(target_user_count=int(sys.argv[2]), spawn_rate=1000)
    deal = {}
    for deal in d:
        pass
    out["deal"] = deal["w1"]
    print(json.dumps(out))
''')


def run_python(argv, cwd, timeout_s=60):
    proc = popen_bounded([PYTHON] + argv, cwd=cwd, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError("python timed out: %s\n%s" % (argv, err))
    return proc.returncode, out, err


class PrintLocustfile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="rpcload-locustfile-")
        cls.scenario = os.path.join(cls.tmp, "shop.yaml")
        with open(cls.scenario, "w") as f:
            f.write(SCENARIO)
        res = rpcload.run(["-f", cls.scenario, "--print-locustfile"], timeout_s=30)
        assert res.exit_code == 0, res.describe()
        cls.stub = os.path.join(cls.tmp, "stub.py")
        with open(cls.stub, "w") as f:
            f.write(res.stdout)
        with open(os.path.join(cls.tmp, "inspect_stub.py"), "w") as f:
            f.write(INSPECT)

    @classmethod
    def tearDownClass(cls):
        if not os.environ.get("RPCLOAD_KEEP_TMP"):
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def inspect(self, users):
        rc, out, err = run_python(["inspect_stub.py", self.stub, str(users)], self.tmp)
        self.assertEqual(rc, 0, err)
        return json.loads(out)

    def test_locust_lists_the_classes(self):
        rc, out, err = run_python(["-m", "locust", "-f", self.stub, "--list"], self.tmp)
        self.assertEqual(rc, 0, err)
        listed = [line.strip() for line in out.splitlines()[1:]]
        self.assertEqual(sorted(listed), sorted(
            ["Reader", "Web User", "class", "locust", 'Käufer "1"']), out)

    def test_weights_fixed_counts_and_tags(self):
        got = self.inspect(10)["classes"]
        self.assertEqual(got["Reader"]["weight"], 4)
        self.assertEqual(got["Reader"]["fixed_count"], 0)
        self.assertEqual(got["Web User"]["weight"], 1.5)
        self.assertEqual(got["class"]["fixed_count"], 2)
        self.assertEqual(got["locust"]["weight"], 2)
        # Locust expands @task(n) into n entries: index 3, article 1
        # (0.4 rounds up to Locust's least), the untagged task 1.
        tasks = got["Reader"]["tasks"]
        self.assertEqual([t["doc"] for t in tasks], ["index"] * 3 + ["article", "task 3"])
        self.assertEqual(tasks[0]["tags"], ["browse", "home"])
        self.assertEqual(tasks[3]["tags"], ["browse"])
        self.assertEqual(tasks[4]["tags"], [])
        self.assertEqual([t["doc"] for t in got['Käufer "1"']["tasks"]], ["one", "two"])
        self.assertEqual(got["Web User"]["tasks"][0]["tags"], ["search"])

    def test_locust_deals_users_as_rpcload(self):
        """Locust's dispatcher on the stub gives each class the users
        rpcload gives it when it spawns them ("all users spawned: {...}";
        the scenario's host is a closed port, so a short run is enough)."""
        for users in (7, 40):
            with self.subTest(users=users):
                deal = self.inspect(users)["deal"]
                self.assertEqual(sum(deal.values()), users)
                res = rpcload.run(["-f", self.scenario, "-u", str(users), "-r", "1000",
                                   "-t", "1s", "--allow-unreachable"], timeout_s=30)
                said = [line.split("all users spawned: ", 1)[1]
                        for line in (res.stdout + res.stderr).splitlines()
                        if "all users spawned: " in line]
                self.assertTrue(said, res.describe())
                spawned = json.loads(said[0].rsplit(" (", 1)[0])
                self.assertEqual(spawned, deal, res.describe())

    def test_without_scenario_one_user_class(self):
        res = rpcload.run(["--print-locustfile"], timeout_s=30)
        self.assertEqual(res.exit_code, 0, res.describe())
        path = os.path.join(self.tmp, "quick.py")
        with open(path, "w") as f:
            f.write(res.stdout)
        rc, out, err = run_python(["-m", "locust", "-f", path, "--list"], self.tmp)
        self.assertEqual(rc, 0, err)
        self.assertEqual([line.strip() for line in out.splitlines()[1:]], ["User"])

    def test_with_list_is_a_usage_error(self):
        res = rpcload.run(["-f", self.scenario, "--print-locustfile", "--list"], timeout_s=30)
        self.assertEqual(res.exit_code, 2, res.describe())
        self.assertIn("--print-locustfile and --list: give one", res.stderr)


# Classes whose names a class statement cannot carry, one with a fixed
# count, each with its own request, for the run below.
RUN_SCENARIO = """host: %s
users:
  - name: Web User
    weight: 3
    wait: {constant: 0.05}
    tasks: [{steps: [{http: GET /hello?c=web, name: web}]}]
  - name: class
    fixed_count: 1
    wait: {constant: 0.05}
    tasks: [{steps: [{http: GET /hello?c=fixed, name: fixed}]}]
"""


class LocustMasterOnTheStub(LocustMasterCase):
    """The stub's use: Debian's Locust master loads it and steers an
    rpcload worker with the scenario it was made from. Every class the
    master asks for is the worker's (no exception in Locust's
    _exceptions.csv), and Locust's CSV counts equal nginx's log."""

    @classmethod
    def setUpClass(cls):
        host = cls.start_nginx("rpcload-locustfile-run-")
        scn = os.path.join(cls.tmp, "shop.yaml")
        with open(scn, "w") as f:
            f.write(RUN_SCENARIO % host)
        res = rpcload.run(["-f", scn, "--print-locustfile"], timeout_s=30)
        assert res.exit_code == 0, res.describe()
        stub = os.path.join(cls.tmp, "stub.py")
        with open(stub, "w") as f:
            f.write(res.stdout)
        port = free_port()
        cls.run_locust(stub, port, 4, "6s", [
            rpcload.base_argv() + ["--worker", "-f", scn, "--master-port", str(port)]])

    def test_every_class_is_the_workers(self):
        self.assertEqual(self.rows("_exceptions.csv"), [], self.describe())
        self.assertEqual(self.worker_rcs, [0], self.describe())

    def test_counts_equal_nginx_log(self):
        stats = {r["Name"]: r for r in self.rows("_stats.csv")}
        for name, uri in (("web", "/hello?c=web"), ("fixed", "/hello?c=fixed")):
            self.assertIn(name, stats, self.describe())
            logged = self.nginx.count(path=uri)
            self.assertGreater(logged, 10, self.describe())
            self.assertEqual(int(stats[name]["Request Count"]), logged, self.describe())


if __name__ == "__main__":
    unittest.main()

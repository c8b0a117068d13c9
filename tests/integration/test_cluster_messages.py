"""Custom messages between master and workers (issue #17 part 5), real
processes on loopback:

- an rpcload master and 2 rpcload workers running
  examples/lua/custom_messages.lua against nginx: the master deals its 5
  test users to the workers ("test_users"), each worker logs exactly its
  share (together every user once), and the master gets one
  "acknowledge_users" per worker whose counts add up to 5; the users'
  requests are nginx's log;
- a Locust master (Debian's 2.12.1) whose test_start sends "test_users" to
  each worker reaches the rpcload worker's Lua handler, and that handler's
  "acknowledge_users" reaches the Locust master's handler, which writes it
  to a file.
"""

import os
import re
import unittest

import rpcload
from cluster_case import ClusterCase, locust_available, locust_master_argv
from servers import free_port

EXAMPLE = os.path.join(rpcload.REPO_ROOT, "examples", "lua", "custom_messages.lua")

# A Locust master as custom_messages.py's: test users dealt at test_start;
# the workers' thanks written to a file (its handler's effect, checked).
LOCUSTFILE = """import json
from locust import User, task, constant, events
from locust.runners import WorkerRunner

ACKS = %r


def on_acknowledge(environment, msg, **kwargs):
    with open(ACKS, "a") as f:
        f.write(json.dumps({"data": msg.data, "node": msg.node_id}) + "\\n")


@events.init.add_listener
def on_init(environment, **kwargs):
    if not isinstance(environment.runner, WorkerRunner):
        environment.runner.register_message("acknowledge_users", on_acknowledge)


@events.test_start.add_listener
def on_test_start(environment, **kwargs):
    if isinstance(environment.runner, WorkerRunner):
        return
    for worker in environment.runner.clients:
        environment.runner.send_message(
            "test_users", [{"name": "Locust%%d" %% i} for i in range(3)], worker)


class WebsiteUser(User):
    wait_time = constant(1)

    @task
    def t(self):
        pass
"""


class MessagesCase(ClusterCase):
    tmp_prefix = "rl-cmsg-"

    def setUp(self):
        super().setUp()
        self.host = self.start_nginx()

    def worker(self, i, port):
        return self.start("worker%d" % i, rpcload.base_argv() + [
            "--worker", "-s", EXAMPLE, "--host", self.host, "--master-port", str(port),
            "--stop-timeout", "2s"])

    def shares(self, name):
        """The names a worker's handler logged, per message."""
        return [m.split(",") for m in
                re.findall(r"test_users from the master: (\S+)", self.log(name))]


class RpcloadCluster(MessagesCase):
    def test_example_deals_users_and_gets_thanks(self):
        port = free_port()
        self.start("master", rpcload.base_argv() + [
            "--master", "--headless", "--expect-workers", "2",
            "--expect-workers-max-wait", "30", "-s", EXAMPLE, "--host", self.host,
            "-u", "5", "-r", "5", "-t", "3s",
            "--json-file", os.path.join(self.tmp, "master.json"),
            "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)])
        self.worker(0, port)
        self.worker(1, port)
        rcs = self.wait_all(60)
        self.assertEqual(rcs, [0, 0, 0], self.describe())
        shares = [self.shares("worker%d" % i) for i in range(2)]
        # One message per worker, the 5 users split 2 + 3 (the last worker
        # takes the rest, as custom_messages.py deals them).
        self.assertEqual([len(s) for s in shares], [1, 1], self.describe())
        got = sorted(n for s in shares for n in s[0])
        self.assertEqual(got, sorted("User%d" % i for i in range(5)), self.describe())
        self.assertEqual(sorted(len(s[0]) for s in shares), [2, 3], self.describe())
        acks = re.findall(r"acknowledge_users from (\S+): Thanks for the (\d+) users!",
                          self.log("master"))
        self.assertEqual(len(acks), 2, self.describe())
        self.assertEqual(len({node for node, _ in acks}), 2, acks)
        self.assertEqual(sorted(int(n) for _, n in acks), [2, 3], self.describe())
        self.assertNotIn("nknown message type", self.describe())
        # The users ran as usual: the master's count is nginx's.
        import json
        with open(os.path.join(self.tmp, "master.json")) as f:
            stats = {e["name"]: e for e in json.load(f)["stats"]}
        self.assertGreater(stats["hello"]["num_requests"], 0, self.describe())
        self.assertEqual(stats["hello"]["num_requests"], self.nginx.count(path="/hello"),
                         self.describe())


@unittest.skipUnless(locust_available(), "Debian's python3-locust is missing")
class LocustMaster(MessagesCase):
    def test_locust_master_reaches_lua_and_back(self):
        acks = os.path.join(self.tmp, "acks.jsonl")
        stub = os.path.join(self.tmp, "stub.py")
        with open(stub, "w") as f:
            f.write(LOCUSTFILE % acks)
        port = free_port()
        self.start("locust", locust_master_argv(stub, port, 1, 2, "4s"))
        self.worker(0, port)
        rcs = self.wait_all(60)
        self.assertEqual(rcs[1], 0, self.describe())
        self.assertEqual(self.shares("worker0"), [["Locust0", "Locust1", "Locust2"]],
                         self.describe())
        import json
        with open(acks) as f:
            got = [json.loads(line) for line in f]
        self.assertEqual(len(got), 1, got)
        self.assertEqual(got[0]["data"], "Thanks for the 3 users!")
        self.assertRegex(got[0]["node"], r"_[0-9a-f]{32}$")


if __name__ == "__main__":
    unittest.main()

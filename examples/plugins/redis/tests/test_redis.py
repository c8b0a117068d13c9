"""Integration tests of the redis example plugin (examples/plugins/redis)
against a real redis-server: Redis's own counters (INFO commandstats and
errorstats) are the ground truth for rpcload's counts.

Run from this folder:  RPCLOAD_BIN=../../../../build/rpcload PYTHONPATH=../../../../tests/integration \
    RPCLOAD_PLUGIN_DIR=../../../../build/plugins /usr/bin/python3 -m unittest -v test_redis
"""

import os
import re
import shutil
import tempfile
import unittest

import rpcload
from servers import RedisServer, closed_port


@unittest.skipUnless(shutil.which("redis-server"),
                     "redis-server is not installed (scripts/setup.sh installs it)")
class RedisTestCase(unittest.TestCase):
    """Each test gets its own redis-server (plain + TLS), stopped in cleanup."""

    def setUp(self):
        self.redis = RedisServer(tls=True)
        self.redis.__enter__()
        self.addCleanup(self.redis.stop)

    def rl(self, *args, timeout_s=60):
        return rpcload.run(list(args), timeout_s=timeout_s)

    def report_of(self, res):
        """The parsed final report; fails the test if it has no Aggregated row."""
        self.assertFalse(res.timed_out, "rpcload did not finish in time\n" + res.describe())
        rep = res.report()
        self.assertIsNotNone(rep.aggregated,
                             "no final stats table with an Aggregated row\n" + res.describe())
        return rep

    def assertExit(self, res, code):
        self.assertEqual(res.exit_code, code, "unexpected exit status\n" + res.describe())

    def assertAllOk(self, res, rep, name, redis_count):
        """0 failures, > 0 requests, one (redis, name) row, and rpcload's count
        equals Redis's."""
        agg = rep.aggregated
        self.assertGreater(agg.reqs, 0, res.describe())
        self.assertEqual(agg.fails, 0, res.describe())
        self.assertEqual([(r.type, r.name) for r in rep.rows], [("redis", name)],
                         res.describe())
        self.assertEqual(rep.rows[0].reqs, agg.reqs, res.describe())
        self.assertEqual(agg.reqs, redis_count,
                         "rpcload counted %d requests, Redis ran %d\n%s"
                         % (agg.reqs, redis_count, res.describe()))

    def assertAllFailed(self, res, rep, error_re):
        """Every request failed, the error report's occurrences add up to the
        failures, and every error text matches error_re."""
        agg = rep.aggregated
        self.assertGreater(agg.reqs, 0, res.describe())
        self.assertEqual(agg.fails, agg.reqs, "not every request failed\n" + res.describe())
        self.assertTrue(rep.errors, "no error report\n" + res.describe())
        self.assertEqual(sum(e.occurrences for e in rep.errors), agg.fails,
                         "error report occurrences do not add up to the failures\n"
                         + res.describe())
        for e in rep.errors:
            self.assertRegex(e.text, error_re, res.describe())

    # -------------------------------------------------------------------------
    def test_a_set_count_equals_commandstats(self):
        res = self.rl("-u", "5", "-r", "50", "-t", "2s", "--stop-timeout", "5",
                      "--call", "SET key:{{random_int 1 100}} v{{seq}}",
                      self.redis.url(), timeout_s=40)
        rep = self.report_of(res)
        self.assertExit(res, 0)
        self.assertAllOk(res, rep, "SET", self.redis.calls("set"))
        self.assertLess(res.wall_s, 2 + 5 + 4, "run took too long\n" + res.describe())
        # The templates were expanded per request, argument by argument.
        keys = self.redis.command("KEYS", "*")
        self.assertTrue(keys, "no keys were set")
        self.assertLessEqual(len(keys), 100)
        for k in keys:
            self.assertRegex(k.decode(), r"^key:([1-9][0-9]?|100)$")
        for v in self.redis.command("MGET", *keys):
            self.assertRegex(v.decode(), r"^v[1-9][0-9]*$")

    def test_b_get_with_name(self):
        self.redis.command("SET", "key:1", "x" * 100)
        res = self.rl("-u", "3", "-r", "30", "-t", "2s", "--stop-timeout", "5",
                      "--name", "get one", "--call", "get key:1",
                      self.redis.url(), timeout_s=40)
        rep = self.report_of(res)
        self.assertExit(res, 0)
        self.assertAllOk(res, rep, "get one", self.redis.calls("get"))

    def test_c_rediss(self):
        res = self.rl("-u", "2", "-r", "20", "-t", "2s", "--stop-timeout", "5",
                      "--insecure", "--call", "INCR counter",
                      self.redis.url(tls=True), timeout_s=40)
        rep = self.report_of(res)
        self.assertExit(res, 0)
        self.assertAllOk(res, rep, "INCR", self.redis.calls("incr"))
        # Every INCR reached Redis once: the counter says how many ran.
        self.assertEqual(int(self.redis.command("GET", "counter")), rep.aggregated.reqs)

    def test_d_error_reply_fails(self):
        self.redis.command("SET", "notanumber", "abc")
        res = self.rl("-u", "2", "-r", "20", "-t", "1s", "--stop-timeout", "5",
                      "--call", "INCR notanumber", self.redis.url(), timeout_s=40)
        rep = self.report_of(res)
        self.assertExit(res, 1)
        self.assertAllFailed(res, rep,
                             r"^redis INCR: ERR value is not an integer or out of range$")
        self.assertEqual(rep.aggregated.fails, self.redis.calls("incr"), res.describe())
        self.assertEqual(len(rep.errors), 1, res.describe())

    def test_e_wrongtype(self):
        self.redis.command("LPUSH", "alist", "a")
        res = self.rl("-u", "1", "-r", "10", "-t", "1s", "--stop-timeout", "5",
                      "--call", "GET alist", self.redis.url(), timeout_s=40)
        rep = self.report_of(res)
        self.assertExit(res, 1)
        self.assertAllFailed(res, rep, r"^redis GET: WRONGTYPE Operation against a key "
                                       r"holding the wrong kind of value$")
        self.assertEqual(rep.aggregated.fails, self.redis.errors("WRONGTYPE"))

    def test_f_unknown_command(self):
        # Templated arguments: Redis echoes them in its error, rpcload cuts
        # the echo so that the error report keeps one row.
        res = self.rl("-u", "2", "-r", "20", "-t", "1s", "--stop-timeout", "5",
                      "--call", "NOSUCHCMD k{{seq}} '{{uuid}}'", self.redis.url(), timeout_s=40)
        rep = self.report_of(res)
        self.assertExit(res, 1)
        self.assertAllFailed(res, rep, r"^redis NOSUCHCMD: ERR unknown command 'NOSUCHCMD'$")
        self.assertEqual(len(rep.errors), 1, res.describe())
        self.assertEqual(rep.aggregated.fails, self.redis.errors("ERR"), res.describe())

    def test_g_connection_refused(self):
        with closed_port() as port:
            res = self.rl("-u", "2", "-r", "20", "-t", "1s", "--call", "GET k",
                          "--allow-unreachable", "redis://127.0.0.1:%d" % port, timeout_s=40)
        rep = self.report_of(res)
        self.assertExit(res, 1)
        # The core reports these itself, under the step's type and name.
        self.assertAllFailed(res, rep, r"^redis GET: .*refused")

    # -- usage errors: exit 2 with a message, no load ---------------------------
    def assertUsageError(self, res, message_re):
        self.assertFalse(res.timed_out, res.describe())
        self.assertExit(res, 2)
        self.assertRegex(res.stderr, message_re, res.describe())
        self.assertEqual(res.report().tables_seen, 0, res.describe())

    def test_h_missing_call(self):
        res = self.rl("-u", "1", "-t", "1s", self.redis.url())
        self.assertUsageError(res, r"redis: needs --call with a command")
        self.assertEqual(self.redis.calls("get"), 0)

    def test_i_bad_steps(self):
        url = self.redis.url()
        cases = [
            (["-X", "POST", "--call", "GET k"], r"redis: -X \(method\) makes no sense for Redis"),
            (["-d", "v", "--call", "SET k"], r"redis: -d \(body\) makes no sense for Redis"),
            (["-O", "db=two", "--call", "GET k"], r"redis: -O db='two': not a database number"),
            (["-O", "dbs=2", "--call", "GET k"], r"redis: option 'dbs' is not known to redis"),
            (["--call", "SET k 'a b"], r"redis: --call has an unbalanced ' \(opened at column 7\)"),
            (["--call", "GET {{nope}}"], r"redis: --call argument 2 '\{\{nope\}\}': unknown "
                                         r"template name 'nope'"),
        ]
        for args, message_re in cases:
            with self.subTest(args=args):
                res = self.rl(*(["-u", "1", "-t", "1s"] + args + [url]))
                self.assertUsageError(res, message_re)
        path = self.rl("-u", "1", "-t", "1s", "--call", "GET k", url + "/x")
        self.assertUsageError(path, r"the URL path '/x' is not a database number")


@unittest.skipUnless(shutil.which("redis-server"),
                     "redis-server is not installed (scripts/setup.sh installs it)")
class RedisAuthTestCase(unittest.TestCase):
    """A password-protected redis-server: AUTH and SELECT per step (the
    plugin ABI 1.6 connection preface), and scenario expect/capture on
    Redis replies (the ABI 1.2 response hand-over)."""

    PASSWORD = "s3cret pass"

    def setUp(self):
        self.redis = RedisServer(password=self.PASSWORD)
        self.redis.__enter__()
        self.addCleanup(self.redis.stop)
        self.tmp = tempfile.mkdtemp(prefix="rpcload-redis-auth-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def scenario(self, text):
        path = os.path.join(self.tmp, "s.yaml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_a_auth_and_select_per_step_with_expectations(self):
        self.redis.command("SET", "greeting", "hello from db 2", db=2)
        self.redis.command("SET", "greeting", "hello from db 5", db=5)
        path = self.scenario("""
host: %(url)s
users:
  - name: Reader
    wait: {constant: 0}
    tasks:
      - steps:
          - {redis: GET greeting, name: get db2, options: {password: "%(pw)s", db: 2},
             expect: {body_contains: "db 2"}, capture: {g: $}}
          - {redis: "SET copy:{{user_id}} '{{g}}'", name: copy db5,
             options: {password: "%(pw)s", db: 5}}
          - {redis: GET greeting, name: get db5, host: "%(url)s/5",
             options: {password: "%(pw)s"}, expect: {body_contains: "db 5"}}
          - {redis: MGET greeting nothere, name: mget db2,
             options: {password: "%(pw)s", db: 2},
             expect: {json: {"$[0]": "hello from db 2", "$[1]": null}}}
""" % {"url": self.redis.url(), "pw": self.PASSWORD})
        res = rpcload.run(["-f", path, "-u", "2", "-r", "100", "-n", "20",
                           "--stop-timeout", "5"], timeout_s=60)
        self.assertEqual(res.exit_code, 0, res.describe())
        rep = res.report()
        for name in ("get db2", "copy db5", "get db5", "mget db2"):
            row = rep.row("redis", name)
            self.assertIsNotNone(row, res.describe())
            self.assertGreater(row.reqs, 0, res.describe())
            self.assertEqual(row.fails, 0, res.describe())
        # The capture from db 2 was written into db 5, by each user.
        self.assertEqual(self.redis.command("GET", "copy:1", db=5), b"hello from db 2")
        self.assertIsNone(self.redis.command("GET", "copy:1", db=2))
        # Every connection authenticated: Redis saw no command refused.
        self.assertEqual(self.redis.errors("NOAUTH"), 0)
        self.assertEqual(self.redis.errors("WRONGPASS"), 0)
        self.assertGreater(self.redis.calls("auth"), 0)
        self.assertGreater(self.redis.calls("select"), 0)

    def test_b_an_expectation_that_fails(self):
        self.redis.command("SET", "k", "actual", db=1)
        res = rpcload.run(["-u", "1", "-r", "10", "-n", "3", "-O", "password=" + self.PASSWORD,
                           "-O", "db=1", "--call", "GET k", self.redis.url()], timeout_s=40)
        self.assertEqual(res.exit_code, 0, res.describe())
        path = self.scenario("""
host: %(url)s
users:
  - name: Reader
    tasks: [{steps: [{redis: GET k, options: {password: "%(pw)s", db: 1},
                      expect: {body_contains: expected}}]}]
""" % {"url": self.redis.url(), "pw": self.PASSWORD})
        res = rpcload.run(["-f", path, "-u", "1", "-r", "10", "-n", "3"], timeout_s=40)
        self.assertEqual(res.exit_code, 1, res.describe())
        rep = res.report()
        self.assertEqual(rep.aggregated.fails, 3, res.describe())
        self.assertRegex(rep.errors[0].text, r"^redis GET: response does not contain .expected.$", res.describe())

    def test_c_wrong_or_missing_password(self):
        res = rpcload.run(["-u", "1", "-r", "10", "-t", "1s", "--stop-timeout", "5",
                           "-O", "password=wrong", "--call", "GET k", self.redis.url()],
                          timeout_s=40)
        self.assertEqual(res.exit_code, 1, res.describe())
        rep = res.report()
        self.assertGreater(rep.aggregated.fails, 0, res.describe())
        self.assertEqual(rep.aggregated.fails, rep.aggregated.reqs, res.describe())
        self.assertEqual(len(rep.errors), 1, res.describe())
        self.assertRegex(rep.errors[0].text, r"^redis GET: AUTH failed: WRONGPASS", res.describe())
        # The GET never went out: the failed preface held it back.
        self.assertEqual(self.redis.calls("get"), 0)
        # Without AUTH, Redis's own refusal is the request's failure.
        res = rpcload.run(["-u", "1", "-r", "10", "-n", "2", "--call", "GET k",
                           self.redis.url()], timeout_s=40)
        self.assertEqual(res.exit_code, 1, res.describe())
        self.assertRegex(res.report().errors[0].text, r"^redis GET: NOAUTH", res.describe())


if __name__ == "__main__":
    unittest.main()

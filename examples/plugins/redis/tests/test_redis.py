"""Integration tests of the redis example plugin (examples/plugins/redis)
against a real redis-server: Redis's own counters (INFO commandstats and
errorstats) are the ground truth for rpcload's counts.

Run from this folder:  RPCLOAD_BIN=../../../../build/rpcload PYTHONPATH=../../../../tests/integration \
    RPCLOAD_PLUGIN_DIR=../../../../build/plugins /usr/bin/python3 -m unittest -v test_redis
"""

import re
import shutil
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
            (["-O", "db=2", "--call", "GET k"], r"redis: option 'db' is not known to redis"),
            (["--call", "SET k 'a b"], r"redis: --call has an unbalanced ' \(opened at column 7\)"),
            (["--call", "GET {{nope}}"], r"redis: --call argument 2 '\{\{nope\}\}': unknown "
                                         r"template name 'nope'"),
        ]
        for args, message_re in cases:
            with self.subTest(args=args):
                res = self.rl(*(["-u", "1", "-t", "1s"] + args + [url]))
                self.assertUsageError(res, message_re)
        path = self.rl("-u", "1", "-t", "1s", "--call", "GET k", url + "/3")
        self.assertUsageError(path, r"the URL path '/3' is not supported")


if __name__ == "__main__":
    unittest.main()

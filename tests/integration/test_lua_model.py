"""Locust's user model in Lua (docs/lua.md, src/script/model.c) against
nginx: what nginx logged, page by page, shows what the users did.

- wait = function(u) ... end (Locust's wait_time method): each user's task
  rate follows what its function returns (a generous bound over 2 s); a
  function returning a bad value is a counted Lua error naming Class.wait;
- tags on tasks with --tags / --exclude-tags (Locust's rules: untagged
  tasks dropped by --tags; a class left with no task not spawned);
- u:interrupt() ends the task there (not an error); rl.stop_user() stops
  the user through on_stop, for good;
- rl.csv feeders shared across threads: without cycle each row goes to
  one user once and users stop when none is left; with cycle, round
  robin; random, rows of the file; a JSON lines file's rows as Lua tables
  with their JSON types; order = "per_user": user N's row N for its whole
  life, a user past the last row stopped.

Run from this folder:  RPCLOAD_PLUGIN_DIR=../../build/plugins \\
    RPCLOAD_BUILD_DIR=../../build /usr/bin/python3 -m unittest -v test_lua_model
"""

import os
import unittest

from servers import NginxServer
from test_lua import LuaScriptCase, logged, page, rows, run


class LuaModelAgainstNginx(LuaScriptCase):

    def nginx_run(self, text, *args):
        """Runs the Lua script `text` with args against a fresh nginx; the
        run must succeed. Returns the run and what nginx logged."""
        with NginxServer() as nginx:
            p = run(self.script(text), nginx, *args)
            self.assertEqual(p.returncode, 0, p.stderr)
            return p, logged(nginx)

    def test_wait_function_sets_each_users_task_rate(self):
        # User 1 waits 0.1 s after each task, user 2 0.4 s: over 2 s about
        # 20 and 5 tasks (no wait at all would be hundreds).
        p, log = self.nginx_run(
            'W = rl.user {\n'
            '  wait = function(u) return u.id == 1 and 0.1 or 0.4 end,\n'
            '  tasks = { function(u)\n'
            '    u.http:get("/hello?page=w&id=" .. u.id, {name = "w"})\n'
            '  end } }\n', "-u", "2", "-r", "100", "-t", "2s")
        r = rows(p)
        by_user = {}
        for e in page(log, "w"):
            by_user.setdefault(e[2]["id"][0], []).append(e)
        self.assertEqual(r[("GET", "w")]["num_requests"], len(log))
        self.assertTrue(10 <= len(by_user.get("1", [])) <= 22,
                        len(by_user.get("1", [])))
        self.assertTrue(3 <= len(by_user.get("2", [])) <= 7,
                        len(by_user.get("2", [])))
        self.assertNotIn("Lua error", p.stderr)

    def test_wait_function_bad_value_is_a_counted_error(self):
        path = self.script(
            'W = rl.user {\n'
            '  wait = function(u) return "soon" end,\n'
            '  tasks = { function(u) u.http:get("/hello?page=b") end } }\n')
        with NginxServer() as nginx:
            p = run(path, nginx, "-u", "1", "-r", "10", "-t", "300ms",
                    "--wait", "constant:0.1")
            self.assertEqual(p.returncode, 0, p.stderr)
            # --wait wins over the class's function, as over its text.
            self.assertNotIn("W.wait", p.stderr)
            p = run(path, nginx, "-u", "1", "-r", "10", "-t", "300ms")
        self.assertIn("W.wait: returned a string: a wait function returns "
                      "the seconds to wait", p.stderr)

    TAGGED = (
        'Shop = rl.user { tasks = {\n'
        '  {function(u) u.http:get("/hello?page=a") end, tags = {"checkout"}},\n'
        '  {function(u) u.http:get("/hello?page=b") end, 2, tags = {"browse"}},\n'
        '  function(u) u.http:get("/hello?page=c") end,\n'
        '  {function(u) u.http:get("/hello?page=d") end, name = "d",\n'
        '   tags = {"browse", "checkout"}},\n'
        '} }\n'
        'Plain = rl.user { tasks = {\n'
        '  function(u) u.http:get("/hello?page=p") end } }\n')

    def pages_run(self, *args):
        p, log = self.nginx_run(self.TAGGED, "-u", "2", "-r", "100", "-t", "1s",
                                "--wait", "constant:0.02", *args)
        return p, {n: len(page(log, n)) for n in "abcdp"}

    def test_tags_select_tasks(self):
        p, n = self.pages_run("--tags", "checkout")
        # Only the tasks tagged checkout; Plain has none left: not spawned.
        self.assertGreater(n["a"], 0, n)
        self.assertGreater(n["d"], 0, n)
        self.assertEqual((n["b"], n["c"], n["p"]), (0, 0, 0), n)
        self.assertRegex(p.stderr, r"class Plain .*has no task left after --tags")

    def test_exclude_tags_drop_tasks(self):
        p, n = self.pages_run("--exclude-tags", "checkout")
        self.assertEqual((n["a"], n["d"]), (0, 0), n)
        self.assertGreater(n["b"], 0, n)
        self.assertGreater(n["c"], 0, n)
        self.assertGreater(n["p"], 0, n)

    def test_bad_tags_are_refused_at_load(self):
        path = self.script(
            'U = rl.user { tasks = { {function(u) end, tags = {"x", ""}} } }\n')
        p = run(path, None, "--host", "http://127.0.0.1:9", "-t", "1s")
        self.assertEqual(p.returncode, 2)
        self.assertIn("class U: tasks[1]: tags: a list of non-empty strings",
                      p.stderr)

    def test_interrupt_ends_the_task_there(self):
        p, log = self.nginx_run(
            'U = rl.user { tasks = { function(u)\n'
            '  u.http:get("/hello?page=i1")\n'
            '  u:interrupt()\n'
            '  u.http:get("/hello?page=i2")\n'
            'end } }\n',
            "-u", "1", "-r", "10", "-t", "500ms", "--wait", "constant:0.05")
        self.assertGreater(len(page(log, "i1")), 2)
        self.assertEqual(page(log, "i2"), [])
        self.assertNotIn("Lua error", p.stderr)

    def test_stop_user_stops_through_on_stop_for_good(self):
        # Each user runs 3 tasks, then stops (on_stop runs once); none
        # comes back for the rest of the run.
        p, log = self.nginx_run(
            'U = rl.user {\n'
            '  on_stop = function(u) u.http:get("/hello?page=stop") end,\n'
            '  tasks = { function(u)\n'
            '    u.n = (u.n or 0) + 1\n'
            '    u.http:get("/hello?page=s")\n'
            '    if u.n == 3 then rl.stop_user() end\n'
            '    u.http:get("/hello?page=after")\n'
            '  end } }\n',
            "-u", "2", "-r", "100", "-t", "1s", "--wait", "constant:0.02")
        self.assertEqual(len(page(log, "s")), 6)
        self.assertEqual(len(page(log, "after")), 4)
        self.assertEqual(len(page(log, "stop")), 2)
        self.assertNotIn("Lua error", p.stderr)

    # ---- rl.csv feeders --------------------------------------------------

    def csv(self, n):
        with open(os.path.join(self.tmp.name, "users.csv"), "w") as f:
            f.write("name,pass\n")
            for i in range(n):
                f.write("user%d,pw%d\n" % (i, i))

    FEED = (
        'local accounts = rl.csv("users.csv", %s)\n'
        'U = rl.user {\n'
        '  on_stop = function(u) u.http:get("/hello?page=bye") end,\n'
        '  tasks = { function(u)\n'
        '    local a = accounts:next()\n'
        '    u.http:get("/hello?page=row&user=" .. a.name .. "&pw=" .. a.pass)\n'
        '  end } }\n')

    def feed_run(self, opts, *args):
        p, log = self.nginx_run(self.FEED % opts, "--threads", "2", *args)
        names = [(e[2]["user"][0], e[2]["pw"][0]) for e in page(log, "row")]
        return p, log, names

    def test_csv_once_gives_each_row_to_one_user_then_stops_them(self):
        # 10 rows among 3 users on 2 threads, no cycle: every row exactly
        # once; each user stops (through on_stop) when none is left.
        self.csv(10)
        p, log, names = self.feed_run("{cycle = false}", "-u", "3", "-r", "100",
                                      "-t", "2s", "--wait", "constant:0.01")
        self.assertEqual(sorted(names),
                         sorted(("user%d" % i, "pw%d" % i) for i in range(10)))
        self.assertEqual(len(page(log, "bye")), 3)
        self.assertNotIn("Lua error", p.stderr)

    def test_csv_cycle_goes_round_robin(self):
        self.csv(4)
        p, log, names = self.feed_run("{cycle = true}", "-u", "2", "-r", "100",
                                      "-t", "1s", "--wait", "constant:0.02")
        counts = [names.count(("user%d" % i, "pw%d" % i)) for i in range(4)]
        self.assertGreater(min(counts), 2, counts)
        self.assertLessEqual(max(counts) - min(counts), 1, counts)
        self.assertEqual(len(names), sum(counts))
        self.assertEqual(len(page(log, "bye")), 2)  # the run's end

    def test_csv_random_draws_rows_of_the_file(self):
        self.csv(4)
        p, log, names = self.feed_run("{random = true}", "-u", "2", "-r", "100",
                                      "-t", "1s", "--wait", "constant:0.01")
        self.assertGreater(len(names), 20)
        self.assertLessEqual(set(names),
                             {("user%d" % i, "pw%d" % i) for i in range(4)})
        self.assertGreater(len(set(names)), 1)

    def test_jsonl_rows_are_tables_with_their_types(self):
        # 6 objects among 3 users, no cycle: each row once, its values as
        # JSON had them (numbers, booleans, lists; null is nil).
        with open(os.path.join(self.tmp.name, "users.jsonl"), "w") as f:
            for i in range(6):
                f.write('{"name": "user%d", "n": %d, "tags": ["t", "x%d"], '
                        '"vip": %s, "note": null}\n' % (i, i, i, "true" if i % 2 else "false"))
        p, log = self.nginx_run(
            'local accounts = rl.csv("users.jsonl", {cycle = false})\n'
            'assert(accounts.size == 6 and #accounts.columns == 5)\n'
            'U = rl.user { tasks = { function(u)\n'
            '  local a = accounts:next()\n'
            '  assert(type(a.n) == "number" and type(a.vip) == "boolean" and a.note == nil)\n'
            '  u.http:get("/hello?page=row&user=" .. a.name .. "&pw=" .. (a.n * 2) ..\n'
            '             "&tag=" .. a.tags[2] .. "&vip=" .. tostring(a.vip))\n'
            'end } }\n',
            "--threads", "2", "-u", "3", "-r", "100", "-t", "2s", "--wait", "constant:0.01")
        self.assertNotIn("Lua error", p.stderr)
        got = sorted((e[2]["user"][0], e[2]["pw"][0], e[2]["tag"][0], e[2]["vip"][0])
                     for e in page(log, "row"))
        self.assertEqual(got, sorted(("user%d" % i, str(2 * i), "x%d" % i,
                                      "true" if i % 2 else "false") for i in range(6)))

    def test_per_user_rows_are_kept_for_a_users_life(self):
        # 5 rows, 6 users, no cycle: user N sends row N - 1 in every task
        # (and on_start), user 6 finds none and stops at once.
        self.csv(5)
        p, log = self.nginx_run(
            'local accounts = rl.csv("users.csv", {order = "per_user", cycle = false})\n'
            'U = rl.user {\n'
            '  on_start = function(u) u.first = accounts:next().name end,\n'
            '  on_stop = function(u) u.http:get("/hello?page=bye&id=" .. u.id) end,\n'
            '  tasks = { function(u)\n'
            '    local a = accounts:next()\n'
            '    u.http:get("/hello?page=row&id=" .. u.id .. "&user=" .. a.name ..\n'
            '               "&first=" .. u.first)\n'
            '  end } }\n',
            "--threads", "2", "-u", "6", "-r", "100", "-t", "1.5s", "--wait", "constant:0.02")
        self.assertNotIn("Lua error", p.stderr)
        by_user = {}
        for e in page(log, "row"):
            by_user.setdefault(int(e[2]["id"][0]), set()).add(
                (e[2]["user"][0], e[2]["first"][0]))
        self.assertEqual(by_user, {i: {("user%d" % (i - 1), "user%d" % (i - 1))}
                                   for i in range(1, 6)})
        self.assertGreater(len(page(log, "row")), 5 * 10)  # many tasks each
        self.assertEqual(sorted(int(e[2]["id"][0]) for e in page(log, "bye")),
                         [1, 2, 3, 4, 5, 6])

    def test_bad_csv_options_say_what(self):
        self.csv(2)
        path = self.script(self.FEED % '{order = "shuffled"}')
        p = run(path, None, "--host", "http://127.0.0.1:9", "-t", "1s")
        self.assertEqual(p.returncode, 2)
        self.assertIn("rl.csv: order = shuffled: give sequential or random or per_user",
                      p.stderr)
        with open(os.path.join(self.tmp.name, "users.csv"), "w") as f:
            f.write('{"a": 1}\n{"b": 2}\n')
        path = self.script(self.FEED % '{format = "jsonl"}')
        p = run(path, None, "--host", "http://127.0.0.1:9", "-t", "1s")
        self.assertEqual(p.returncode, 2)
        self.assertIn("users.csv: 2: no 'a' (the first line names the columns)",
                      p.stderr)

    def test_csv_missing_file_stops_the_start(self):
        path = self.script(self.FEED % "nil")
        p = run(path, None, "--host", "http://127.0.0.1:9", "-t", "1s")
        self.assertEqual(p.returncode, 2)
        self.assertIn("t.lua:1: rl.csv: %s: " %
                      os.path.join(self.tmp.name, "users.csv"), p.stderr)

    # ---- --list ----------------------------------------------------------

    def test_list_shows_a_lua_class_tasks_weights_and_tags(self):
        p = run(self.script(self.TAGGED), None, "--host",
                "http://127.0.0.1:9", "--list")
        self.assertEqual(p.returncode, 0, p.stderr)
        where = os.path.join(self.tmp.name, "t.lua")
        self.assertIn(
            "Shop (weight 1, written in Lua, %s)\n"
            "  - task 1 (weight 1): a function [tags: checkout]\n"
            "  - task 2 (weight 2): a function [tags: browse]\n"
            "  - task 3 (weight 1): a function\n"
            "  - d (weight 1): a function [tags: browse checkout]\n" % where,
            p.stdout)
        self.assertNotIn("_rl_path", p.stdout)  # no generated requests


if __name__ == "__main__":
    unittest.main()

"""Locust's TaskSet and SequentialTaskSet in Lua (docs/lua.md,
src/script/taskset.c) against nginx: the order of each user's pages in
nginx's log shows what it ran.

- a sequential class runs its tasks in order, looping (a weight of 2:
  twice in a row);
- nested sets: on_start on entering, their tasks, u:interrupt() back to
  the parent (the set's on_stop runs), and at the user's stop the
  on_stop of every set it is still in, innermost first;
- interrupt's reschedule: the parent's next task starts without a wait
  (default), or after it (reschedule = false);
- a random set's weights and re-entry after each interrupt;
- --tags / --exclude-tags inside sets and in sequential classes
  (Locust's filter_tasks_by_tags: a set's tags are its tasks', a set
  left with no task is dropped);
- u:interrupt() in a set's on_stop while the user stops ends that
  on_stop only: the outer sets' and the class's on_stop still run;
- malformed sets are refused at load, exit 2.

Run from this folder:  RPCLOAD_PLUGIN_DIR=../../build/plugins \\
    RPCLOAD_BUILD_DIR=../../build /usr/bin/python3 -m unittest -v test_lua_tasksets
"""

import unittest

from servers import NginxServer
from test_lua import LuaScriptCase, logged, rows, run

GET = 'u.http:get("/hello?page=%s&id=" .. u.id, {name = "%s"})'


def get(name):
    return GET % (name, name)


def by_user(log):
    out = {}
    for e in log:
        out.setdefault(e[2]["id"][0], []).append(e[2]["page"][0])
    return out


class LuaTaskSetsAgainstNginx(LuaScriptCase):

    def pages(self, text, *args, users="2", t="1s"):
        with NginxServer() as nginx:
            p = run(self.script(text), nginx, "-u", users, "-r", "100",
                    "-t", t, *args)
            self.assertEqual(p.returncode, 0, p.stderr)
            log = logged(nginx)
            r = rows(p)
        self.assertEqual(sum(x["num_requests"] for x in r.values()),
                         len(log))
        self.assertNotIn("Lua error", p.stderr)
        return by_user(log)

    def test_sequential_class_runs_its_tasks_in_order(self):
        seen = self.pages(
            'S = rl.user { sequential = true, tasks = {\n'
            '  function(u) %s end,\n'
            '  {function(u) %s end, 2},\n'
            '  function(u) %s end } }\n' % (get("a"), get("b"), get("c")),
            "--wait", "constant:0.01")
        self.assertEqual(len(seen), 2, seen)
        cycle = ["a", "b", "b", "c"]
        for user, pages in seen.items():
            self.assertGreater(len(pages), 8, pages)
            self.assertEqual(pages, (cycle * len(pages))[:len(pages)],
                             (user, pages))

    NESTED = (
        'local Inner = rl.taskset { sequential = true,\n'
        '  on_start = function(u) %s end,\n'
        '  on_stop = function(u) %s end,\n'
        '  tasks = { function(u) %s end,\n'
        '            function(u) %s; u:interrupt() end } }\n'
        'local Outer = rl.taskset { sequential = true, name = "outer",\n'
        '  on_start = function(u) %s end,\n'
        '  on_stop = function(u) %s end,\n'
        '  tasks = { function(u) %s end, Inner,\n'
        '            function(u) %s; u:interrupt(RESCHEDULE) end } }\n'
        'N = rl.user { sequential = true,\n'
        '  tasks = { Outer, function(u) %s end } }\n' % tuple(
            get(n) for n in
            ["is", "ie", "i1", "i2", "os", "oe", "o1", "o2", "t"]))
    CYCLE = ["os", "o1", "is", "i1", "i2", "ie", "o2", "oe", "t"]

    def test_nested_sets_and_interrupt_return_to_the_parent(self):
        seen = self.pages(self.NESTED.replace("RESCHEDULE", ""),
                          "--wait", "constant:0.01")
        self.assertEqual(len(seen), 2, seen)
        for user, pages in seen.items():
            # The cycle, as long as it goes; then the on_stop of each set
            # the user was in when the run stopped, innermost first.
            n = 0
            open_sets = []
            while n < len(pages) and pages[n] == self.CYCLE[n % 9]:
                if pages[n] in ("os", "is"):
                    open_sets.append(pages[n][0] + "e")
                elif pages[n] in ("oe", "ie"):
                    open_sets.pop()
                n += 1
            self.assertGreater(n, 18, (user, pages))
            self.assertEqual(pages[n:], open_sets[::-1], (user, pages))

    def test_interrupt_reschedules_at_once_unless_told_not_to(self):
        # Engine tasks: [os o1] wait [is i1] wait [i2 ie] [o2 oe] [t]:
        # the two interrupts (i2's, o2's) skip the wait after them, so
        # with waits of 0.5 s the user reaches t at about 1.0 s, within
        # -t 1.4s; with reschedule = false on o2's, t comes at 1.5 s
        # only (i2's still reschedules at once).
        seen = self.pages(self.NESTED.replace("RESCHEDULE", ""), "--wait",
                          "constant:0.5", users="1", t="1.4s")
        self.assertEqual(seen["1"][:9], self.CYCLE, seen)
        seen = self.pages(self.NESTED.replace("RESCHEDULE", "false"),
                          "--wait", "constant:0.5", users="1", t="1.4s")
        self.assertEqual(seen["1"], self.CYCLE[:8], seen)

    def test_random_set_weights_and_reentry(self):
        seen = self.pages(
            'local Browse = rl.taskset {\n'
            '  on_start = function(u) %s end,\n'
            '  tasks = { [3] = function(u) %s end,\n'
            '            [1] = function(u) %s; u:interrupt() end } }\n'
            'R = rl.user { tasks = { browse = Browse } }\n'
            % (get("s"), get("x"), get("y")),
            "--wait", "constant:0.005")
        for user, pages in seen.items():
            s, x, y = (pages.count(n) for n in "sxy")
            # Each interrupt leaves the set; the next task enters it again.
            self.assertIn(s - y, (0, 1), pages)
            self.assertGreater(y, 5, pages)
            self.assertTrue(1.5 * y < x < 6 * y, (x, y))
            self.assertEqual(pages[0], "s", pages)

    def test_error_in_a_set_names_its_path_and_the_user_goes_on(self):
        with NginxServer() as nginx:
            p = run(self.script(
                'local Set = rl.taskset { sequential = true, tasks = {\n'
                '  function(u) %s end,\n'
                '  {function(u) local t = nil; return t.x end, name = "bad"},\n'
                '} }\n'
                'E = rl.user { tasks = { inner = Set } }\n' % get("ok")),
                nginx, "-u", "1", "-r", "10", "-t", "500ms",
                "--wait", "constant:0.02")
            log = logged(nginx)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("E.inner.bad: ", p.stderr)
        self.assertIn("t.lua:3: attempt to index local 't'", p.stderr)
        self.assertGreater(len(log), 3)

    TAGGED = (
        'local function page(u, p, stop)\n'
        '  u.http:get("/hello?page=" .. p .. "&id=" .. u.id, {name = p})\n'
        '  if stop then u:interrupt() end\n'
        'end\n'
        'local Inner = rl.taskset { tasks = {\n'
        '  {function(u) page(u, "c", true) end, tags = {"x"}},\n'
        '  function(u) page(u, "c2", true) end } }\n'
        'local Shop = rl.taskset { tasks = {\n'
        '  {function(u) page(u, "a", true) end, tags = {"cart"}},\n'
        '  function(u) page(u, "b", true) end,\n'
        '  {Inner, tags = {"cart"}} } }\n'
        'local Other = rl.taskset { tasks = {\n'
        '  {function(u) page(u, "z", true) end, tags = {"other"}} } }\n'
        'T = rl.user { tasks = {\n'
        '  {Shop, tags = {"shop"}},\n'
        '  {function(u) page(u, "d") end, tags = {"cart"}},\n'
        '  function(u) page(u, "e") end,\n'
        '  Other } }\n')

    def tagged_pages(self, *args):
        seen = self.pages(self.TAGGED, "--wait", "constant:0.005", *args,
                          users="3")
        return set(p for pages in seen.values() for p in pages)

    def test_tags_select_inside_sets(self):
        # A task's tags are its own and those of the sets above it (as
        # Locust's @tag on a TaskSet tags its tasks); a set with no task
        # left (Other, and Inner below) is dropped.
        self.assertEqual(self.tagged_pages("--tags", "cart"),
                         {"a", "c", "c2", "d"})
        self.assertEqual(self.tagged_pages("--exclude-tags", "x"),
                         {"a", "b", "c2", "d", "e", "z"})
        self.assertEqual(
            self.tagged_pages("--tags", "shop", "--exclude-tags", "cart"),
            {"b"})
        self.assertEqual(self.tagged_pages(),
                         {"a", "b", "c", "c2", "d", "e", "z"})

    def test_tags_in_a_sequential_class_and_set(self):
        seen = self.pages(
            'local Seq = rl.taskset { sequential = true, tasks = {\n'
            '  {function(u) %s end, tags = {"k"}},\n'
            '  function(u) %s end,\n'
            '  {function(u) %s; u:interrupt() end, tags = {"k"}} } }\n'
            'Q = rl.user { sequential = true, tasks = {\n'
            '  {function(u) %s end, tags = {"k"}},\n'
            '  function(u) %s end,\n'
            '  Seq } }\n' % (get("s1"), get("s2"), get("s3"), get("q1"),
                             get("q2")),
            "--wait", "constant:0.01", "--tags", "k")
        cycle = ["q1", "s1", "s3"]
        for user, pages in seen.items():
            self.assertGreater(len(pages), 6, pages)
            self.assertEqual(pages, (cycle * len(pages))[:len(pages)],
                             (user, pages))

    def test_interrupt_in_a_set_on_stop_while_stopping(self):
        seen = self.pages(
            'local Inner = rl.taskset {\n'
            '  on_stop = function(u) %s; u:interrupt() end,\n'
            '  tasks = { function(u) %s end } }\n'
            'local Outer = rl.taskset {\n'
            '  on_stop = function(u) %s; u:interrupt(false) end,\n'
            '  tasks = { Inner } }\n'
            'S = rl.user { on_stop = function(u) %s end,\n'
            '  tasks = { Outer } }\n' % (get("ie"), get("i"), get("oe"),
                                          get("ce")),
            "--wait", "constant:0.01")
        self.assertEqual(len(seen), 2, seen)
        for user, pages in seen.items():
            self.assertGreater(len(pages), 5, pages)
            self.assertEqual(pages[-3:], ["ie", "oe", "ce"], (user, pages))
            self.assertEqual(set(pages[:-3]), {"i"}, (user, pages))

    def test_malformed_sets_are_refused_at_load(self):
        cases = [
            ('local S = rl.taskset { tasks = {} }\n'
             'U = rl.user { tasks = { S } }\n',
             "t.lua:1: rl.taskset: tasks: at least one task is required"),
            ('local S = rl.taskset { on_stop = 3, tasks = {function() end} }\n',
             "t.lua:1: rl.taskset: on_stop: a function"),
            ('U = rl.user { sequential = "yes", tasks = {function() end} }\n',
             "class U: sequential: true or false"),
            ('U = rl.user { tasks = { {{}, 2} } }\n',
             "class U: tasks[1]: a task is a function, an rl.taskset{...}"),
        ]
        for text, expected in cases:
            p = run(self.script(text), None, "--host", "http://127.0.0.1:9",
                    "-t", "1s")
            self.assertEqual(p.returncode, 2, (text, p.stderr))
            self.assertIn(expected, p.stderr, text)


if __name__ == "__main__":
    unittest.main()

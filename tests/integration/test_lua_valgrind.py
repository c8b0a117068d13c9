"""Lua users under valgrind memcheck (issue #23: no leak of ours): a short
run whose script goes through the Lua paths a run uses (requests with
headers= and json=, responses decided, rl.sleep, a wait function, rl.csv,
rl.uuid and JSON, a Lua error counted, u:interrupt, the events' listeners on
the main and worker threads, an allocation past --lua-memory refused)
against nginx, with --leak-check=full: no memory error, no definite or
indirect leak, and the stats equal nginx's log.

No suppressions file: none is needed with Debian's LuaJIT 2.1 (checked with
the JIT compiler off, the default with the watchdog, and on,
--lua-timeslice 0: 0 errors). Each state is made with lua_newstate and
rpcload's counting allocator (safety.c), so every byte LuaJIT allocates is
malloc's and memcheck sees it (a state left unclosed is a leak here), and
LuaJIT's own mmap allocator, which memcheck cannot look into, is not used.

Run from this folder:  RPCLOAD_PLUGIN_DIR=../../build/plugins \\
    RPCLOAD_BUILD_DIR=../../build /usr/bin/python3 -m unittest -v test_lua_valgrind
"""

import os
import re
import shutil
import unittest

import rpcload
from servers import NginxServer
from test_lua import LuaScriptCase
from test_valgrind import VALGRIND

SCRIPT = r'''
local rl = require "rpcload"
local rows = rl.csv("rows.csv")
local seen = 0
rl.events.test_start:add_listener(function() rl.log("start") end)
rl.events.request:add_listener(function(r)
  seen = seen + 1
  if r.name == "refused" then return "refused by a listener" end
end)

Mixed = rl.user {
  wait = function(u) return 0.05 end,
  on_start = function(u) u.row = rows:next(); u.n = 0 end,
  tasks = {
    {function(u)
      u.n = u.n + 1
      local id = rl.uuid()
      local r = u.http:get("/hello?who=" .. u.row.name .. "&id=" .. id,
                           {name = "get", headers = {["X-RL-Test"] = id}})
      if not r.body:find("world") then r:failure("no world") end
      local p = u.http:post("/hello?page=post", {name = "post",
                            json = rl.json_decode(rl.json_encode({n = u.n, t = {1, 2}}))})
      p:success()
      rl.sleep(0.01)
      u.http:get("/missing", {name = "refused"})
    end, 3},
    {function(u)
      u.http:get("/hello?page=interrupt", {name = "interrupt"})
      u:interrupt()
    end, 1},
    {function(u)
      u.http:get("/hello?page=error", {name = "error"})
      local t = nil
      return t.x
    end, 1},
    {function(u)
      if u.big then return end
      u.big = true
      local s = string.rep("x", 8 * 1024 * 1024)
    end, 1},
  },
}
'''


class LuaValgrind(LuaScriptCase):
    def test_lua_run_under_memcheck(self):
        self.assertIsNotNone(shutil.which("valgrind"), "valgrind is not installed "
                             "(scripts/setup.sh installs it)")
        self.script("name\nalice\nbob\ncarol\n", "rows.csv")
        path = self.script(SCRIPT)
        with NginxServer() as nginx:
            res = rpcload.run(["-s", path, "--host", "http://127.0.0.1:%d" % nginx.port,
                               "-u", "3", "-r", "10", "-t", "3s", "--threads", "2",
                               "--stop-timeout", "5", "--lua-memory", "4MiB"],
                              wrapper=VALGRIND, timeout_s=240)
            served = nginx.count()
        self.assertFalse(res.timed_out, res.describe())
        self.assertNotEqual(res.exit_code, 99, "valgrind found errors or leaks\n"
                            + res.describe(limit=20000))
        self.assertRegex(res.stderr, r"ERROR SUMMARY: 0 errors", res.describe(limit=20000))
        if "All heap blocks were freed" not in res.stderr:
            self.assertRegex(res.stderr, r"definitely lost: 0 bytes", res.describe(limit=20000))
            self.assertRegex(res.stderr, r"indirectly lost: 0 bytes", res.describe(limit=20000))
        # It did its work under valgrind: the failures are the refused ones.
        self.assertEqual(res.exit_code, 1, res.describe())
        rep = res.report()
        self.assertEqual(rep.aggregated.reqs, served, res.describe())
        self.assertGreater(served, 10, res.describe())
        self.assertEqual(rep.row("GET", "refused").fails, rep.row("GET", "refused").reqs)
        self.assertIn("[lua] start", res.stderr)
        self.assertRegex(res.stderr, r"\d+ x Mixed\.task 3: .*attempt to index local 't'")
        self.assertRegex(res.stderr, r"Mixed\.task 4: .*out of memory: the Lua state reached")
        self.assertIsNone(re.search(r"Mixed\.task [12]\b", res.stderr), res.stderr)


if __name__ == "__main__":
    unittest.main()

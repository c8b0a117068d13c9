-- Locust's event hooks: examples/events.py of Debian's python3-locust (the
-- sum of the content-length of every response, kept by a request
-- listener per worker and totalled on the master: report_to_master and
-- worker_report), the docs' test_start / test_stop example and their
-- init example (Extending Locust, "Event hooks"):
--
--   @events.init.add_listener
--   def on_locust_init(environment, **kwargs):
--       if isinstance(environment.runner, MasterRunner):
--           print("I'm on master node")
--       else:
--           print("I'm on a worker or standalone node")
--   @events.test_start.add_listener
--   def on_test_start(environment, **kwargs):
--       print("A new test is starting")
--   @events.test_stop.add_listener
--   def on_test_stop(environment, **kwargs):
--       print("A new test is ending")
--   stats = {"content-length": 0}
--   @events.request.add_listener
--   def on_request(request_type, name, response_time, response_length, exception, ...):
--       stats["content-length"] += response_length
--   @events.report_to_master.add_listener
--   def on_report_to_master(client_id, data):
--       data["content-length"] = stats["content-length"]
--       stats["content-length"] = 0
--   @events.worker_report.add_listener
--   def on_worker_report(client_id, data):
--       stats["content-length"] += data["content-length"]
--
-- init, test_start, test_stop, report and quitting run on the main
-- thread's state; request on each worker thread's own, so its sum is per
-- thread, as events.py's is per worker process. Each user's on_stop
-- prints its thread's sum so far. The total: what report_to_master and
-- worker_report do between processes, the rl.events.report listener does
-- between threads: every second it hears the rows the threads' stats
-- added (their total_content_length), on the main thread, and adds them
-- up; quitting prints the run's total. What differs: init's table has no
-- runner (rpcload runs on one node here), so it says how many users; no
-- web route (events.py's /content-length). The test
-- (tests/integration/test_lua_examples.py) runs one user on one thread
-- against nginx, whose /hello answers 12 bytes ("hello world\n"):
--   rpcload -s examples/lua/events.lua --host http://127.0.0.1:8080 -u 1 --threads 1
local rl = require "rpcload"

rl.events.init:add_listener(function(env)
  rl.log("I'm on a standalone node, for", env.users, "users")
end)
rl.events.test_start:add_listener(function() rl.log("A new test is starting") end)
rl.events.test_stop:add_listener(function() rl.log("A new test is ending") end)

-- The master-side total: the threads' rows, second by second.
local total = 0
rl.events.report:add_listener(function(rep)
  for _, row in ipairs(rep.rows) do total = total + row.total_content_length end
end)
rl.events.quitting:add_listener(function() rl.log("Total content-length received:", total) end)

local stats = {["content-length"] = 0, failed = 0} -- this thread's
rl.events.request:add_listener(function(r)
  stats["content-length"] = stats["content-length"] + r.response_length
  if r.exception then stats.failed = stats.failed + 1 end
end)

WebsiteUser = rl.user {
  wait = rl.between(0.02, 0.05),
  tasks = {
    [2] = function(u) u.http:get("/hello", {name = "index"}) end,
    [1] = function(u) u.http:get("/missing", {name = "stats"}) end,
  },
  on_stop = function(u)
    rl.log("content-length on this thread:", stats["content-length"],
           "failed:", stats.failed)
  end,
}

-- Locust's event hooks: examples/events.py of Debian's python3-locust (the
-- sum of the content-length of every response, kept by a request
-- listener) and the docs' test_start / test_stop example (Extending
-- Locust, "Event hooks"):
--
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
--
-- test_start and test_stop run on the main thread's state; request on
-- each worker thread's own, so the sum is per thread, as events.py's is
-- per worker process (which report_to_master then sends on: not offered
-- to Lua, nor events.init, nor a web route; docs/lua.md). Here each user's
-- on_stop prints its thread's sum so far. The test
-- (tests/integration/test_lua_examples.py) runs one user on one thread
-- against nginx, whose /hello answers 12 bytes ("hello world\n"):
--   rpcload -s examples/lua/events.lua --host http://127.0.0.1:8080 -u 1 --threads 1
local rl = require "rpcload"

rl.events.test_start:add_listener(function() rl.log("A new test is starting") end)
rl.events.test_stop:add_listener(function() rl.log("A new test is ending") end)

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

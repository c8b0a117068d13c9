-- Locust's manual_stats_reporting.py (Debian's python3-locust examples):
-- a manual_report() that times a block of code and adds it to the stats
-- itself with events.request.fire, a failure when the block raised:
--
--   @contextmanager
--   def _manual_report(name):
--       start_time = time()
--       try:
--           yield
--       except Exception as e:
--           events.request.fire(request_type="manual", name=name,
--               response_time=(time() - start_time) * 1000,
--               response_length=0, exception=e)
--           raise
--       else:
--           events.request.fire(request_type="manual", name=name,
--               response_time=(time() - start_time) * 1000,
--               response_length=0, exception=None)
--
--   class MyUser(User):
--       wait_time = constant(1)
--       @task
--       def successful_task(self):
--           with manual_report("successful_task"):
--               sleep(random.random())
--       @task
--       @manual_report
--       def decorator_test(self):
--           if random.random() > 0.5:
--               raise Exception("decorator_task failed")
--           sleep(random.random())
--       @task
--       def failing_task(self):
--           with manual_report("failing_task"):
--               sleep(random.random())
--               raise Exception("Oh nooes!")
--
-- What differs: Lua has neither `with` nor decorators, so manual_report
-- is a function that runs the block (a function) under pcall, and
-- manual_task(fn) is the decorator's form (named by the task's name,
-- given here, as Python's __name__ is not in Lua). A re-raised error is a
-- counted Lua error (Locust's user_error), as the re-raised exception is
-- in Locust. rl.sleep yields across pcall (LuaJIT allows it), so the
-- thread never blocks where Python's sleep() would. A run still needs a
-- host to start (its classes' requests are declared to one, and the
-- start checks it answers), though this class sends nothing: Locust's
-- plain User, with no host, is not there yet. The test
-- (tests/integration/test_lua_examples.py) runs it against nginx, which
-- sees no request:
--   rpcload -s examples/lua/manual_stats_reporting.lua --host http://127.0.0.1:8080 \
--           -u 6 -r 100 -t 3s
local rl = require "rpcload"

-- Runs block(); fires a "manual" request named `name` with its time, its
-- error (if any) as the exception, then raises that error again.
local function manual_report(name, block)
  local start = rl.time()
  local ok, err = pcall(block)
  rl.events.request:fire{request_type = "manual", name = name,
                         response_time = (rl.time() - start) * 1000,
                         response_length = 0, exception = not ok and err or nil}
  if not ok then error(err, 0) end
end

-- The decorator's form: a task reported under its own name.
local function manual_task(name, fn)
  return function(u) manual_report(name, function() fn(u) end) end
end

MyUser = rl.user {
  wait = rl.constant(1),
  tasks = {
    successful_task = function(u)
      manual_report("successful_task", function() rl.sleep(math.random()) end)
    end,
    decorator_test = manual_task("decorator_test", function(u)
      if math.random() > 0.5 then error("decorator_task failed") end
      rl.sleep(math.random())
    end),
    failing_task = function(u)
      manual_report("failing_task", function()
        rl.sleep(math.random())
        error("Oh nooes!")
      end)
    end,
  },
}

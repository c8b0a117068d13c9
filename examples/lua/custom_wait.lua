-- Locust's custom_wait_function.py (Debian's python3-locust examples): a
-- wait_time function instead of one of the four waits.
--
--   class WebsiteUser(HttpUser):
--       wait_time = lambda self: random.expovariate(1)
--       tasks = [UserTasks]
--   def strictExp(min_wait, max_wait, mu=1):
--       while True:
--           x = random.expovariate(mu)
--           increment = (max_wait - min_wait) / (mu * 6.0)
--           result = min_wait + (x * increment)
--           if result < max_wait:
--               break
--       return result
--   class StrictWebsiteUser(HttpUser):
--       wait_time = lambda self: strictExp(3, 7)
--       tasks = [UserTasks]
--
-- UserTasks (index, stats, page404) is an rl.taskset, as basic.py's
-- TaskSet is (examples/lua/basic.lua); the paths are the test nginx's
-- (/missing is its 404, a failure as page404's is). The wait function is
-- asked after each task, in the set as outside it (a TaskSet's default
-- wait_time is its user's), with the user's table and returns seconds. The
-- test (tests/integration/test_lua_examples.py) checks that a strict user
-- never runs two tasks within 3 s:
--   rpcload -s examples/lua/custom_wait.lua --host http://127.0.0.1:8080
local rl = require "rpcload"

local function expovariate(mu) return -math.log(1 - math.random()) / mu end

local function strict_exp(min_wait, max_wait, mu)
  mu = mu or 1
  for _ = 1, 1000 do -- bounded: a draw under max_wait comes within a few
    local increment = (max_wait - min_wait) / (mu * 6.0)
    local result = min_wait + expovariate(mu) * increment
    if result < max_wait then return result end
  end
  return max_wait
end

-- Locust's UserTasks(TaskSet); `who` marks the class in nginx's log.
local function UserTasks(who)
  return rl.taskset {
    name = "UserTasks",
    tasks = {
      index = function(u) u.http:get("/hello?page=index&who=" .. who, {name = "index"}) end,
      stats = function(u) u.http:get("/hello?page=stats&who=" .. who, {name = "stats"}) end,
      page404 = function(u) u.http:get("/missing?who=" .. who, {name = "page404"}) end,
    },
  }
end

WebsiteUser = rl.user {
  wait = function(u) return expovariate(1) end,
  tasks = {UserTasks("website")},
}

StrictWebsiteUser = rl.user {
  wait = function(u) return strict_exp(3, 7) end,
  tasks = {UserTasks("strict")},
}

-- Locust's basic.py (Debian's python3-locust examples): a user whose one
-- task is a TaskSet, its tasks given as a list of functions and with the
-- @task decorator:
--
--   def index(l):
--       l.client.get("/")
--   def stats(l):
--       l.client.get("/stats/requests")
--   class UserTasks(TaskSet):
--       tasks = [index, stats]
--       @task
--       def page404(self):
--           self.client.get("/does_not_exist")
--   class WebsiteUser(HttpUser):
--       host = "http://127.0.0.1:8089"
--       wait_time = between(2, 5)
--       tasks = [UserTasks]
--
-- UserTasks is an rl.taskset: the user enters it and stays, its three
-- tasks drawn one by one with the user's wait between them (a TaskSet's
-- default wait_time), as in Locust. What differs: the host is the run's
-- (--host: the test's nginx, whose /missing is its 404) and the paths are
-- nginx's; WAIT_SCALE shortens between(2, 5) for the test, which checks
-- that all three tasks reach nginx and that a 404 is each row's failure
-- (tests/integration/test_lua_examples.py):
--   rpcload -s examples/lua/basic.lua --host http://127.0.0.1:8080
local rl = require "rpcload"

local scale = tonumber(os.getenv("WAIT_SCALE") or "1")

local function index(u) u.http:get("/hello?page=index", {name = "/"}) end
local function stats(u) u.http:get("/hello?page=stats", {name = "/stats/requests"}) end

local UserTasks = rl.taskset {
  name = "UserTasks",
  tasks = {
    index, stats,
    page404 = function(u) u.http:get("/missing", {name = "/does_not_exist"}) end,
  },
}

WebsiteUser = rl.user {
  wait = rl.between(2 * scale, 5 * scale),
  tasks = {UserTasks},
}

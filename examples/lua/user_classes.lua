-- Locust's weight and fixed_count examples (docs, Writing a locustfile,
-- "weight and fixed_count attributes"):
--
--   class WebUser(User):
--       weight = 3
--   class MobileUser(User):
--       weight = 1
--   class AdminUser(User):
--       wait_time = constant(600)
--       fixed_count = 1
--       @task
--       def restart_app(self): ...
--
-- Fixed counts first, then the weights: with -u 9, one AdminUser, six
-- WebUsers and two MobileUsers. Each user announces itself in on_start
-- (/hello?start=CLASS&id=N), so the test nginx's log tells them apart
-- (tests/integration/test_lua_examples.py):
--   rpcload -s examples/lua/user_classes.lua --host http://127.0.0.1:8080 -u 9 -r 9
local rl = require "rpcload"

local function start(class)
  return function(u)
    u.http:get("/hello?start=" .. class .. "&id=" .. u.id, {name = "start " .. class})
  end
end

AdminUser = rl.user {
  fixed_count = 1,
  wait = rl.constant(600),
  on_start = start("admin"),
  tasks = {
    restart_app = function(u) u.http:post("/hello?page=restart", {name = "restart_app"}) end,
  },
}

WebUser = rl.user {
  weight = 3,
  wait = rl.between(0.05, 0.1),
  on_start = start("web"),
  tasks = {function(u) u.http:get("/hello?page=web", {name = "web"}) end},
}

MobileUser = rl.user {
  weight = 1,
  wait = rl.between(0.05, 0.1),
  on_start = start("mobile"),
  tasks = {function(u) u.http:get("/hello?page=mobile", {name = "mobile"}) end},
}

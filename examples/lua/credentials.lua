-- Locust's dynamic_user_credentials.py (Debian's python3-locust examples):
-- each user takes a set of credentials of its own and logs in with it.
--
--   USER_CREDENTIALS = [("user1", "password"), ("user2", "password"), ...]
--   class UserBehaviour(TaskSet):
--       def on_start(self):
--           if len(USER_CREDENTIALS) > 0:
--               user, passw = USER_CREDENTIALS.pop()
--               self.client.post("/login", {"username": user, "password": passw})
--       @task
--       def some_task(self):
--           # user should be logged in here (unless the USER_CREDENTIALS ran out)
--           self.client.get("/protected/resource")
--   class User(HttpUser):
--       tasks = [UserBehaviour]
--       wait_time = between(5, 60)
--
-- The credentials come from credentials.csv, read once and shared by every
-- thread (rl.csv); cycle = false: each row goes to one user only. Unlike
-- Locust's, a user that finds none left stops (through on_stop) instead of
-- going on unauthenticated. The server is examples/scenarios/demo_server.py,
-- whose /login takes {"user", "pass"} and answers a token, and whose
-- protected POST /cart answers 401 to a token it did not give. The test
-- (tests/integration/test_lua_examples.py) checks every login reached it
-- once and no request was refused:
--   rpcload -s examples/lua/credentials.lua --host http://127.0.0.1:8080 -u 3
local rl = require "rpcload"

local credentials = rl.csv("credentials.csv", {cycle = false})

User = rl.user {
  wait = rl.between(5, 60),
  on_start = function(u)
    local c = credentials:next() -- none left: this user stops here
    local r = u.http:post("/login", {json = {user = c.username, pass = c.password}})
    u.token = r:json().token
  end,
  tasks = {
    some_task = function(u)
      u.http:post("/cart", {json = {item = "protected"},
                            headers = {authorization = "Bearer " .. u.token}})
    end,
  },
}

-- Locust's quickstart locustfile (docs "Quick start", and
-- examples/locustfile.py in Debian's python3-locust), line by line:
--
--   class QuickstartUser(HttpUser):
--       wait_time = between(1, 2)
--       @task
--       def hello_world(self):
--           self.client.get("/hello")
--           self.client.get("/world")
--       @task(3)
--       def view_item(self):
--           for item_id in range(10):
--               self.client.get(f"/item?id={item_id}", name="/item")
--               time.sleep(1)
--       def on_start(self):
--           self.client.post("/login", json={"username": "foo", "password": "bar"})
--
-- The paths are the test nginx's (/hello answers every method, so each
-- page is /hello?page=...). ITEM_PAUSE (default 1, Locust's sleep) lets the
-- test (tests/integration/test_lua_examples.py) shorten the sleeps:
--   rpcload -s examples/lua/quickstart.lua --host http://127.0.0.1:8080 -u 10 -r 2
local rl = require "rpcload"

local PAUSE = tonumber(os.getenv("ITEM_PAUSE") or "1")

QuickstartUser = rl.user {
  wait = rl.between(1, 2),
  on_start = function(u)
    u.http:post("/hello?page=login", {json = {username = "foo", password = "bar"}})
  end,
  tasks = {
    {function(u)
      u.http:get("/hello")
      u.http:get("/hello?page=world")
    end, 1, name = "hello_world"},
    {function(u)
      for item_id = 0, 9 do
        u.http:get("/hello?page=item&id=" .. item_id, {name = "/item"})
        rl.sleep(PAUSE) -- a timer: the thread's other users go on meanwhile
      end
    end, 3, name = "view_item"},
  },
}

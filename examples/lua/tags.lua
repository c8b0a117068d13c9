-- Locust's @tag example (docs, Writing a locustfile, "@tag decorator"):
--
--   class MyUser(User):
--       wait_time = constant(1)
--       @tag('tag1')
--       @task
--       def task1(self): pass
--       @tag('tag1', 'tag2')
--       @task
--       def task2(self): pass
--       @tag('tag3')
--       @task
--       def task3(self): pass
--       @task
--       def task4(self): pass
--
-- "--tags tag1": only task1 and task2; "--tags tag2 tag3" (rpcload:
-- "--tags tag2,tag3" or "--tags tag2 --tags tag3"): task2 and
-- task3; "--exclude-tags tag3": task1, task2 and task4. Each task here
-- asks the test nginx for /hello?task=N, so its log says which ran
-- (tests/integration/test_lua_examples.py):
--   rpcload -s examples/lua/tags.lua --host http://127.0.0.1:8080 --tags tag1
local rl = require "rpcload"

local function task(n)
  return function(u) u.http:get("/hello?task=" .. n, {name = "task" .. n}) end
end

MyUser = rl.user {
  wait = rl.constant(1),
  tasks = {
    {task(1), 1, name = "task1", tags = {"tag1"}},
    {task(2), 1, name = "task2", tags = {"tag1", "tag2"}},
    {task(3), 1, name = "task3", tags = {"tag3"}},
    {task(4), 1, name = "task4"},
  },
}

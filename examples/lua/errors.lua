-- A task that raises a Lua error every time: counted, printed once with
-- its file:line, and the user goes on with its next task
-- (tests/integration/test_lua.py).
local rl = require "rpcload"

Faulty = rl.user {
  wait = rl.constant(0.02),
  tasks = {
    function(u)
      u.http:get("/hello?page=before")
      local t = nil
      return t.field -- attempt to index a nil value
    end,
  },
}

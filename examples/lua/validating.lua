-- Locust's "Validating responses" and "Grouping requests" (docs, Writing a
-- locustfile):
--
--   with self.client.get("/", catch_response=True) as response:
--       if response.text != "Success":
--           response.failure("Got wrong response")
--       elif response.elapsed.total_seconds() > 0.5:
--           response.failure("Request took too long")
--   with self.client.get("/does_not_exist/", catch_response=True) as response:
--       if response.status_code == 404:
--           response.success()
--   for i in range(10):
--       self.client.get("/blog?id=%i" % i, name="/blog?id=[id]")
--
-- In Lua every response may be decided (no catch_response=True): r:failure
-- and r:success until the task's next request. The test nginx's /hello
-- says "hello world", /missing is a 404 and /error a 500 (whose failure
-- gets the task's own text). tests/integration/test_lua_examples.py runs it:
--   rpcload -s examples/lua/validating.lua --host http://127.0.0.1:8080
local rl = require "rpcload"

Validating = rl.user {
  wait = rl.constant(0.05),
  tasks = {
    {function(u)
      local r = u.http:get("/hello")
      if r.body ~= "hello world\n" then
        r:failure("Got wrong response")
      elseif r.elapsed > 500 then -- ms
        r:failure("Request took too long")
      end
    end, 1, name = "check_body"},
    {function(u)
      local r = u.http:get("/missing")
      if r.status == 404 then r:success() end -- expected: not a failure
    end, 1, name = "expect_404"},
    {function(u)
      local r = u.http:get("/error")
      if r.status >= 500 then r:failure("server error " .. r.status .. ", retry later") end
    end, 1, name = "own_error_text"},
    {function(u)
      for i = 0, 9 do u.http:get("/hello?blog&id=" .. i, {name = "/blog?id=[id]"}) end
    end, 1, name = "grouping"},
  },
}

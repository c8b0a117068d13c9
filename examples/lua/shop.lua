-- A shop, as a Locust user would write it (docs/lua.md): a login in
-- on_start keeps a token the user's later requests send in a header, weighted tasks, a
-- name= grouping, a catch_response-style check, a loop in a task and a
-- sleep inside one. The test (tests/integration/test_lua.py) runs it
-- against nginx, whose /hello says "hello world" and /missing 404.
local rl = require "rpcload"

Shopper = rl.user {
  weight = 3,
  wait = rl.between(0.01, 0.02),
  on_start = function(u)
    local r = u.http:post("/hello?page=login", {json = {user = "u" .. u.id}})
    -- The "token": the first word of the body, and the user's id.
    u.token = r.body:match("%a+") .. "-" .. u.id
    u.visits = 0
  end,
  tasks = {
    -- weight 3: one item among many, one stats row
    [3] = function(u)
      u.visits = u.visits + 1
      local r = u.http:get("/hello?page=item&id=" .. math.random(100),
                           {name = "/hello?page=item&id=[id]",
                            headers = {authorization = "Bearer " .. u.token}})
      if not r.body:find("world") then r:failure("no world") end
    end,
    -- weight 1: a branch on a status, a loop of requests, a sleep
    [1] = function(u)
      local r = u.http:get("/missing?page=probe", {name = "probe"})
      if r.status == 404 then
        r:success() -- expected here: not a failure
        for i = 1, 3 do
          u.http:get("/hello?page=cart&n=" .. i,
                     {name = "cart", headers = {Authorization = "Bearer " .. u.token,
                                                ["X-RL-Test"] = i}})
        end
      end
      rl.sleep(0.01)
    end,
  },
}

Browser = rl.user {
  weight = 1,
  wait = rl.constant(0.02),
  tasks = {
    function(u) u.http:get("/hello?page=browse") end,
  },
}

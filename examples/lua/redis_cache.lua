-- Any codec plugin from Lua (docs/lua.md): u:request("redis", ...), here
-- a cache written and read back by each user, with a check on what came
-- back. The test (tests/integration/test_lua_protocols.py) runs it
-- against redis-server and compares with redis's INFO commandstats:
--   rpcload -s examples/lua/redis_cache.lua --host redis://127.0.0.1:6379
local rl = require "rpcload"

Cache = rl.user {
  wait = rl.constant(0.01),
  protocols = {"redis"}, -- to the class's host, else --host
  on_start = function(u) u.visits = 0 end,
  tasks = {
    function(u)
      u.visits = u.visits + 1
      local key = "visits:" .. u.id
      -- A list keeps a blank inside a word; a text is split at blanks.
      u:request("redis", {"SET", key, "visit " .. u.visits}, {name = "SET visits"})
      local r = u:request("redis", "GET " .. key, {name = "GET visits"})
      if r:json() ~= "visit " .. u.visits then
        r:failure("read back " .. r.body)
      end
    end,
  },
}

-- Full URLs to other hosts (docs/lua.md): paths go to the class's host
-- (else --host); a URL goes to one of the hosts the class declares, each
-- compiled at load. Here a shop's page, then an "inventory" service on
-- another host asked about what the page said (Locust's
-- examples/multiple_hosts.py does this with a second HttpSession on
-- API_HOST; here the other host is declared in hosts). The test
-- (tests/integration/test_lua_protocols.py) runs it against two nginx
-- servers, given as SHOP and INVENTORY in the environment:
--   SHOP=http://127.0.0.1:8080 INVENTORY=http://127.0.0.1:8081 \
--     rpcload -s examples/lua/two_hosts.lua
local rl = require "rpcload"

local SHOP = os.getenv("SHOP") or "http://127.0.0.1:8080"
local INVENTORY = os.getenv("INVENTORY") or "http://127.0.0.1:8081"

Buyer = rl.user {
  wait = rl.constant(0.01),
  host = SHOP,
  hosts = {INVENTORY},
  tasks = {
    function(u)
      local page = u.http:get("/hello?page=shop")
      -- The first word of the shop's answer, asked of the other host.
      local word = page.body:match("%a+") or "none"
      u.http:get(INVENTORY .. "/hello?page=stock&item=" .. word,
                 {name = "inventory"})
    end,
  },
}

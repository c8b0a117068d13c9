-- Locust's custom messages between master and workers: examples/
-- custom_messages.py of Debian's python3-locust, translated. The master,
-- at test start, deals a list of test users evenly to its workers
-- ("test_users", one message per worker); each worker keeps its share and
-- thanks the master ("acknowledge_users"), whose handler prints the
-- thanks. Handlers are registered in rl.events.init, and run in the
-- script's main state (as Locust's run in its runner's greenlet), with
-- (data, node_id); data is any msgpack value, here a list of tables.
--
-- One difference: Locust's users pop a name from the module's list; here
-- the users run in their threads' own Lua states, which do not see the
-- main state's tables, so the worker logs the names it got instead.
--
--   rpcload --master -s examples/lua/custom_messages.lua --headless \
--       --expect-workers 2 -u 4 -r 4 -t 10s --host http://127.0.0.1:8080
--   rpcload --worker -s examples/lua/custom_messages.lua      # twice
-- (tests/integration/test_cluster_messages.py runs it against nginx.)
local rl = require "rpcload"

local usernames = {} -- a worker's share (the main state's)
local target_users = 0

local function setup_test_users(data, node_id)
  -- On a worker: data is the master's list of {name = ...} tables.
  local names = {}
  for _, u in ipairs(data) do
    usernames[#usernames + 1] = u.name
    names[#names + 1] = u.name
  end
  rl.log("test_users from the master: " .. table.concat(names, ","))
  rl.cluster.send("acknowledge_users", "Thanks for the " .. #data .. " users!")
end

local function on_acknowledge(data, node_id)
  -- On the master: a worker's thanks.
  -- (node_id is "" in one process: the message is the process's own.)
  local from = node_id ~= "" and node_id or "this process"
  rl.log("acknowledge_users from " .. from .. ": " .. tostring(data))
end

rl.events.init:add_listener(function(env)
  target_users = env.users
  if rl.cluster.role() ~= "master" then
    rl.cluster.register("test_users", setup_test_users)
  end
  if rl.cluster.role() ~= "worker" then
    rl.cluster.register("acknowledge_users", on_acknowledge)
  end
end)

rl.events.test_start:add_listener(function()
  if rl.cluster.role() == "worker" then return end
  local users = {}
  for i = 0, target_users - 1 do users[#users + 1] = {name = "User" .. i} end
  local workers = rl.cluster.workers()
  if #workers == 0 then
    -- One process: Locust's LocalRunner hands the message to its own
    -- handlers; so does rpcload.
    rl.cluster.send("test_users", users)
    return
  end
  local chunk = math.floor(#users / #workers)
  for i, worker in ipairs(workers) do
    local first = (i - 1) * chunk + 1
    local last = i < #workers and first + chunk - 1 or #users
    local data = {}
    for j = first, last do data[#data + 1] = users[j] end
    rl.cluster.send("test_users", data, worker)
  end
end)

WebsiteUser = rl.user {
  wait = rl.between(0.2, 0.5),
  tasks = {function(u) u.http:get("/hello", {name = "hello"}) end},
}

-- Locust's gRPC User example (hello.proto's SayHello) in Lua
-- (docs/lua.md): messages as Lua tables, replies decoded with r:json(),
-- a check on the reply, and a non-OK status counted as a failure. The
-- test (tests/integration/test_lua_protocols.py) runs it against
-- examples/hello's server:
--   rpcload -s examples/lua/grpc_hello.lua --host grpc://127.0.0.1:50051
local rl = require "rpcload"

local SAY_HELLO = "locust.hello.HelloService/SayHello"

Greeter = rl.user {
  wait = rl.constant(0.01),
  -- The methods its tasks call, declared at load (a relative proto is
  -- relative to this script); no host: the class's, else --host.
  grpc = {proto = "../hello/hello.proto", methods = {SAY_HELLO}},
  tasks = {
    [3] = function(u)
      local r = u.grpc:call(SAY_HELLO, {name = "u" .. u.id})
      if r:json().message ~= "Hello from Locust, u" .. u.id .. "!" then
        r:failure("unexpected greeting: " .. r.body)
      end
    end,
    -- The server answers with the status its metadata asks for: a non-OK
    -- status is a failure, r.status its code (14: UNAVAILABLE).
    [1] = function(u)
      local r = u.grpc:call(SAY_HELLO, {name = "late"}, {
        name = "unavailable",
        metadata = {["x-status"] = 14, ["x-message"] = "try later"}})
      if r.status ~= 14 then rl.log("expected 14, got", r.status) end
    end,
  },
}

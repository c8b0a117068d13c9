-- Locust's gRPC example (examples/grpc/locustfile.py of Debian's
-- python3-locust; docs "Testing other systems/protocols"): a GrpcUser
-- whose client wraps the stub, interceptor style, so that every call is
-- timed and reported as a request event of type "grpc" named after the
-- method, a gRPC error setting its exception:
--
--   class GrpcClient:
--       def __getattr__(self, name):
--           func = self._stub_class.__getattribute__(self._stub, name)
--           def wrapper(*args, **kwargs):
--               request_meta = {"request_type": "grpc", "name": name, ...}
--               try: request_meta["response"] = func(*args, **kwargs)
--               except grpc.RpcError as e: request_meta["exception"] = e
--               self.env.events.request.fire(**request_meta)
--       ...
--   class HelloGrpcUser(GrpcUser):
--       host = "localhost:50051"
--       stub_class = hello_pb2_grpc.HelloServiceStub
--       @task
--       def sayHello(self):
--           self.client.SayHello(hello_pb2.HelloRequest(name="Test"))
--           time.sleep(1)
--
-- What differs: a Lua script cannot fire request events itself (no
-- rl.events.request:fire yet, docs/lua.md); each u.grpc:call already fires
-- one (type grpc, timed by the engine, a non-OK status its failure), so the
-- wrapper here is what Locust's is for the rest: client.SayHello(msg) by
-- method name, the stats row named after the method, and a check on the
-- reply (an empty message fails the call, as Locust's len() would raise).
-- The test (tests/integration/test_lua_examples.py) runs it against
-- examples/hello's server:
--   rpcload -s examples/lua/grpc_user.lua --host grpc://127.0.0.1:50051
local rl = require "rpcload"

local SERVICE = "locust.hello.HelloService"

-- GrpcClient(u): client.Method(msg) calls SERVICE/Method, named "Method".
local function GrpcClient(u)
  return setmetatable({}, {
    __index = function(_, name)
      return function(msg)
        local r = u.grpc:call(SERVICE .. "/" .. name, msg, {name = name})
        if r.ok and (r:json().message or "") == "" then r:failure("empty reply") end
        return r
      end
    end,
  })
end

HelloGrpcUser = rl.user {
  grpc = {proto = "../hello/hello.proto", methods = {SERVICE .. "/SayHello"}},
  on_start = function(u) u.client = GrpcClient(u) end,
  tasks = {
    sayHello = function(u)
      u.client.SayHello({name = "Test"})
      rl.sleep(tonumber(os.getenv("HELLO_PAUSE") or "1")) -- Locust's time.sleep(1)
    end,
  },
}

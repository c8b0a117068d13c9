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
-- The wrapper here is Locust's: it makes the call with {event = false}
-- (the call is no request event of its own, as a raw stub's is not),
-- times it and fires the request event itself with
-- rl.events.request:fire, type "grpc" named after the method, the gRPC
-- error (or an empty reply, as Locust's would raise on it) its exception.
-- What differs: response_length is the reply's JSON text's length (the
-- response object holds the reply as proto3 JSON), not the protobuf's
-- ByteSize(). The test (tests/integration/test_lua_examples.py) runs it
-- against examples/hello's server:
--   rpcload -s examples/lua/grpc_user.lua --host grpc://127.0.0.1:50051
local rl = require "rpcload"

local SERVICE = "locust.hello.HelloService"

-- GrpcClient(u): client.Method(msg) calls SERVICE/Method and reports it
-- as a request named "Method".
local function GrpcClient(u)
  return setmetatable({}, {
    __index = function(_, name)
      return function(msg)
        local start = rl.time()
        local r = u.grpc:call(SERVICE .. "/" .. name, msg, {event = false})
        local exception = r.error
        if r.ok and (r:json().message or "") == "" then exception = "empty reply" end
        rl.events.request:fire{request_type = "grpc", name = name,
                               response_time = (rl.time() - start) * 1000,
                               response_length = #r.body, exception = exception}
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

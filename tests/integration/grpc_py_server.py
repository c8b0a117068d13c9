"""A gRPC server on Debian's Python grpcio, for rpcload's gRPC tests: an
implementation independent of rpcload and of grpc C core's hello_server.

    /usr/bin/python3 grpc_py_server.py DESCRIPTOR_SET [--tls CERT KEY [CLIENT_CA]]

With CLIENT_CA the server requires a client certificate signed by it
(mutual TLS).

Prints "listening on 127.0.0.1:PORT" (the kernel picks the port), serves until
SIGTERM, then prints one JSON line "report: {...}" with what it saw:
  calls          calls per method path
  statuses       calls per answered status name
  requests       per method, the request messages (proto3 JSON dicts, at most
                 the first 200) as Python's protobuf decoded them
  metadata       the invocation metadata of the first 50 calls
Methods (any method of the descriptor set is served):
  locust.hello.HelloService/SayHello answers "Hello from Locust, <name>!";
  every other unary method echoes a default instance of its output type.
Request metadata steers one call: x-status (a code number) and x-message
answer that status; x-require (k=v) fails UNAUTHENTICATED unless metadata k
is v; x-initial (k=v) sends response metadata k with the value " v " (a
blank at each end, which RFC 9113 forbids and grpcio sends).
"""

import json
import signal
import sys
import threading
from concurrent import futures

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf import any_pb2, duration_pb2, empty_pb2, field_mask_pb2  # noqa: F401
from google.protobuf import struct_pb2, timestamp_pb2, wrappers_pb2  # noqa: F401

lock = threading.Lock()
# "requests" keeps the first 200 messages per method; "names" every distinct
# "name" field seen (up to 100), so a test can see all users took part however
# fast the first one filled the sample.
report = {"calls": {}, "statuses": {}, "requests": {}, "names": {}, "metadata": []}


def load_methods(path):
    fds = descriptor_pb2.FileDescriptorSet()
    with open(path, "rb") as f:
        fds.ParseFromString(f.read())
    pool = descriptor_pool.Default()
    for fd in fds.file:
        try:
            pool.Add(fd)
        except TypeError:
            pass  # already there (a well-known type)
    factory = message_factory.MessageFactory(pool)
    methods = {}
    for fd in fds.file:
        for svc in fd.service:
            sd = pool.FindServiceByName((fd.package + "." if fd.package else "") + svc.name)
            for m in sd.methods:
                if m.client_streaming or m.server_streaming:
                    continue
                methods["/%s/%s" % (sd.full_name, m.name)] = (
                    factory.GetPrototype(m.input_type),
                    factory.GetPrototype(m.output_type))
    return methods


def make_handler(path, req_cls, resp_cls):
    def handle(raw, context):
        md = {k: v for k, v in context.invocation_metadata()}
        req = req_cls.FromString(raw)
        with lock:
            report["calls"][path] = report["calls"].get(path, 0) + 1
            reqs = report["requests"].setdefault(path, [])
            if len(reqs) < 200:
                reqs.append(json_format.MessageToDict(req))
            seen = report["names"].setdefault(path, [])
            name = getattr(req, "name", None)
            if isinstance(name, str) and name not in seen and len(seen) < 100:
                seen.append(name)

            if len(report["metadata"]) < 50:
                report["metadata"].append(
                    {k: (v.hex() if isinstance(v, bytes) else v) for k, v in md.items()})
        status = grpc.StatusCode.OK
        message = ""
        if "x-initial" in md:
            k, _, v = md["x-initial"].partition("=")
            context.send_initial_metadata(((k, " %s " % v),))
        need = md.get("x-require")
        if need:
            k, _, v = need.partition("=")
            if md.get(k) != v:
                status, message = grpc.StatusCode.UNAUTHENTICATED, "want %s" % need
        if "x-status" in md:
            code = int(md["x-status"])
            status = [s for s in grpc.StatusCode if s.value[0] == code][0]
            message = md.get("x-message", "")
        with lock:
            report["statuses"][status.name] = report["statuses"].get(status.name, 0) + 1
        if status != grpc.StatusCode.OK:
            context.abort(status, message)
        resp = resp_cls()
        if path == "/locust.hello.HelloService/SayHello":
            resp.message = "Hello from Locust, %s!" % req.name
        return resp.SerializeToString()
    return handle


class Handler(grpc.GenericRpcHandler):
    def __init__(self, methods):
        self.handlers = {p: grpc.unary_unary_rpc_method_handler(make_handler(p, *c))
                         for p, c in methods.items()}

    def service(self, details):
        return self.handlers.get(details.method)


def main():
    methods = load_methods(sys.argv[1])
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                         options=[("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers((Handler(methods),))
    if len(sys.argv) > 2 and sys.argv[2] == "--tls":
        with open(sys.argv[3], "rb") as f:
            cert = f.read()
        with open(sys.argv[4], "rb") as f:
            key = f.read()
        ca = None
        if len(sys.argv) > 5:
            with open(sys.argv[5], "rb") as f:
                ca = f.read()
        creds = grpc.ssl_server_credentials([(key, cert)], root_certificates=ca,
                                            require_client_auth=ca is not None)
        port = server.add_secure_port("127.0.0.1:0", creds)
    else:
        port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print("listening on 127.0.0.1:%d" % port, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    signal.signal(signal.SIGINT, lambda *a: done.set())
    # Bounded life: a test that forgets us cannot leave us running.
    done.wait(600)
    server.stop(2).wait()
    with lock:
        print("report: " + json.dumps(report), flush=True)


if __name__ == "__main__":
    main()

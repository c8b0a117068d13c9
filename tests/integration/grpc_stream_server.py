"""The streaming methods of gRPC's interop TestService on Debian's Python
grpcio, for rpcload's streaming tests: an implementation independent of
rpcload and of grpc C core's hello_server.

    /usr/bin/python3 grpc_stream_server.py DESCRIPTOR_SET

DESCRIPTOR_SET holds tests/data/interop_test.proto (protoc -o
--include_imports). Prints "listening on 127.0.0.1:PORT" (the kernel picks the
port), serves until SIGTERM, then prints one JSON line "report: {...}":
  calls        calls per method (short name)
  statuses     calls per status name ("CANCELLED" when the client ended it)
  received     request messages read, per method
  sent         response messages written, per method
  per_call     for the first 500 calls: [method, received, sent, status]
  names        the first 200 payload bodies received (text), in order
  requests     the first 300 request messages, as proto3 JSON dicts
  send_times   for the first 20 StreamingOutputCall calls: when each
               response was handed to grpcio (time.time(), the epoch)
Methods:
  UnaryCall            a payload of response_size bytes; response_status
  StreamingOutputCall  a response per response_parameters entry, of its size,
                       after its interval_us; then response_status
  StreamingInputCall   reads to the end; aggregated_payload_size
  FullDuplexCall       for each request, a response per response_parameters
                       entry; a request with response_status answers it (after
                       its responses) and ends the call
Request metadata: x-read-delay-ms: N sleeps N ms before reading each request
message of a client's stream (a slow reader, for flow control).
"""

import json
import signal
import sys
import threading
import time
from concurrent import futures

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

lock = threading.Lock()
report = {"calls": {}, "statuses": {}, "received": {}, "sent": {}, "per_call": [],
          "names": [], "requests": [], "send_times": []}


def bump(key, method, n=1):
    with lock:
        report[key][method] = report[key].get(method, 0) + n


def load(path):
    fds = descriptor_pb2.FileDescriptorSet()
    with open(path, "rb") as f:
        fds.ParseFromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for fd in fds.file:
        pool.Add(fd)
    factory = message_factory.MessageFactory(pool)

    def cls(name):
        return factory.GetPrototype(pool.FindMessageTypeByName("grpc.testing." + name))
    return cls


class Call:
    """One call's books, closed once (status) whatever way it ends."""

    def __init__(self, method, context):
        self.method = method
        self.context = context
        self.received = 0
        self.sent = 0
        self.done = False
        bump("calls", method)
        context.add_callback(self.terminated)

    def got(self, req):
        self.received += 1
        bump("received", self.method)
        body = bytes(req.payload.body) if req.HasField("payload") else b""
        with lock:
            if len(report["names"]) < 200:
                report["names"].append(body.decode("utf-8", "replace"))
            if len(report["requests"]) < 300:
                report["requests"].append(json_format.MessageToDict(req))

    def put(self):
        self.sent += 1
        bump("sent", self.method)

    def close(self, status):
        if self.done:
            return
        self.done = True
        bump("statuses", status)
        with lock:
            if len(report["per_call"]) < 500:
                report["per_call"].append([self.method, self.received, self.sent, status])

    def terminated(self):
        # After the RPC ended: if no status went out, the client ended it.
        self.close("CANCELLED")


def status_of(code):
    return [s for s in grpc.StatusCode if s.value[0] == code][0]


def abort(call, context, es):
    status = status_of(es.code)
    call.close(status.name)
    context.abort(status, es.message)


def read_delay(context):
    md = dict(context.invocation_metadata())
    return int(md.get("x-read-delay-ms", "0")) / 1000.0


def make_handlers(cls):
    SimpleResponse = cls("SimpleResponse")
    OutResponse = cls("StreamingOutputCallResponse")
    InResponse = cls("StreamingInputCallResponse")
    Payload = cls("Payload")

    def unary(req, context):
        call = Call("UnaryCall", context)
        call.got(req)
        if req.HasField("response_status") and req.response_status.code != 0:
            abort(call, context, req.response_status)
        call.put()
        call.close("OK")
        return SimpleResponse(payload=Payload(body=b"x" * req.response_size))

    def output(req, context):
        call = Call("StreamingOutputCall", context)
        call.got(req)
        times = None
        with lock:
            if len(report["send_times"]) < 20:
                times = []
                report["send_times"].append(times)
        for p in req.response_parameters:
            if p.interval_us:
                time.sleep(p.interval_us / 1e6)
            if not context.is_active():
                return
            call.put()
            if times is not None:
                times.append(time.time())
            yield OutResponse(payload=Payload(body=b"x" * p.size))
        if req.HasField("response_status") and req.response_status.code != 0:
            abort(call, context, req.response_status)
        call.close("OK")

    def input_(it, context):
        call = Call("StreamingInputCall", context)
        delay = read_delay(context)
        total = 0
        for req in it:
            call.got(req)
            total += len(req.payload.body)
            if delay:
                time.sleep(delay)
        call.put()
        call.close("OK")
        return InResponse(aggregated_payload_size=total)

    def duplex(it, context):
        call = Call("FullDuplexCall", context)
        delay = read_delay(context)
        for req in it:
            call.got(req)
            for p in req.response_parameters:
                if p.interval_us:
                    time.sleep(p.interval_us / 1e6)
                call.put()
                yield OutResponse(payload=Payload(body=b"x" * p.size))
            if req.HasField("response_status") and req.response_status.code != 0:
                abort(call, context, req.response_status)
            if delay:
                time.sleep(delay)
        call.close("OK")

    def ser(m):
        return m.SerializeToString()

    P = "/grpc.testing.TestService/"
    return {
        P + "UnaryCall": grpc.unary_unary_rpc_method_handler(
            unary, cls("SimpleRequest").FromString, ser),
        P + "StreamingOutputCall": grpc.unary_stream_rpc_method_handler(
            output, cls("StreamingOutputCallRequest").FromString, ser),
        P + "StreamingInputCall": grpc.stream_unary_rpc_method_handler(
            input_, cls("StreamingInputCallRequest").FromString, ser),
        P + "FullDuplexCall": grpc.stream_stream_rpc_method_handler(
            duplex, cls("StreamingOutputCallRequest").FromString, ser),
    }


class Handler(grpc.GenericRpcHandler):
    def __init__(self, handlers):
        self.handlers = handlers

    def service(self, details):
        return self.handlers.get(details.method)


def main():
    cls = load(sys.argv[1])
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=32),
                         options=[("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers((Handler(make_handlers(cls)),))
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

"""Locust peers for bench/grpc.sh and bench/grpc_stream.sh: gRPC Users on
examples/hello's service, no wait. Name the class on the command line:
  HelloUser        SayHello with HelloRequest{name: "x"} (bench/grpc.sh);
  HelloStreamUser  SayHelloStream with {name: "x", count: STREAM_COUNT
                   (environment, default 1000)}, consuming the stream, one
                   request event per message ("... [recv]", its time since the
                   message before) and one per call, as rpcload reports them
                   (bench/grpc_stream.sh).

It follows the pattern of Locust's documentation for protocols Locust has no
client for: a User that opens a grpc channel, and an interceptor that reports
every call with events.request (request_type "grpc"). The message classes
and the stub are generated from examples/hello/hello.proto with
grpc_tools.protoc (python3-grpc-tools) into a temporary directory when this
file is loaded; HELLO_PROTO names another copy of the file.

    /usr/bin/python3 -m locust -f bench/locustfile_grpc.py --headless \
        -u 100 -r 100 -t 10s --host 127.0.0.1:50051 --only-summary HelloUser
"""
import atexit
import os
import shutil
import sys
import tempfile
import time

import grpc
import grpc.experimental.gevent as grpc_gevent
from grpc_tools import protoc
from locust import User, constant, task
from locust.exception import LocustError

# grpc's C core must wait on gevent's hub, not block the process: after
# locust has monkey-patched the standard library, before any channel exists.
grpc_gevent.init_gevent()


def _generate_stubs():
    proto = os.environ.get("HELLO_PROTO") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "examples", "hello", "hello.proto")
    proto = os.path.abspath(proto)
    out = tempfile.mkdtemp(prefix="locustfile-grpc-")
    atexit.register(shutil.rmtree, out, True)
    rc = protoc.main(["protoc", "-I" + os.path.dirname(proto), "--python_out=" + out,
                      "--grpc_python_out=" + out, os.path.basename(proto)])
    if rc != 0:
        raise LocustError(f"grpc_tools.protoc failed on {proto} (status {rc})")
    sys.path.insert(0, out)
    import hello_pb2  # pylint: disable=import-outside-toplevel,import-error
    import hello_pb2_grpc  # pylint: disable=import-outside-toplevel,import-error
    return hello_pb2, hello_pb2_grpc


hello_pb2, hello_pb2_grpc = _generate_stubs()


class RequestEventInterceptor(grpc.UnaryUnaryClientInterceptor):
    """Reports each unary call to Locust's statistics through events.request."""

    def __init__(self, environment):
        self.environment = environment

    def intercept_unary_unary(self, continuation, client_call_details, request):
        start = time.perf_counter()
        outcome = continuation(client_call_details, request)
        exception = outcome.exception()          # None when the status is OK
        length = 0 if exception is not None else outcome.result().ByteSize()
        self.environment.events.request.fire(
            request_type="grpc",
            name=client_call_details.method,
            response_time=(time.perf_counter() - start) * 1000,
            response_length=length,
            response=outcome,
            context=None,
            exception=exception,
        )
        return outcome


class GrpcUser(User):
    """A User with one insecure channel to --host (HOST:PORT) and a stub on it."""

    abstract = True
    stub_class = None

    def __init__(self, environment):
        super().__init__(environment)
        if not self.host:
            raise LocustError("give the server as --host HOST:PORT")
        self.channel = grpc.intercept_channel(grpc.insecure_channel(self.host),
                                              RequestEventInterceptor(environment))
        self.stub = self.stub_class(self.channel)  # pylint: disable=not-callable

    def on_stop(self):
        self.channel.close()


class HelloUser(GrpcUser):
    stub_class = hello_pb2_grpc.HelloServiceStub
    wait_time = constant(0)
    message = hello_pb2.HelloRequest(name="x")

    @task
    def say_hello(self):
        try:
            self.stub.SayHello(self.message, timeout=60)
        except grpc.RpcError:
            pass    # already counted as a failure by the interceptor


class HelloStreamUser(GrpcUser):
    """Consumes SayHelloStream: a request event per message and per call."""

    stub_class = hello_pb2_grpc.HelloServiceStub
    wait_time = constant(0)
    count = int(os.environ.get("STREAM_COUNT", "1000"))
    message = hello_pb2.HelloStreamRequest(name="x", count=count)
    method = "/locust.hello.HelloService/SayHelloStream"

    @task
    def say_hello_stream(self):
        fire = self.environment.events.request.fire
        start = last = time.perf_counter()
        exception = None
        try:
            for reply in self.stub.SayHelloStream(self.message, timeout=600):
                now = time.perf_counter()
                fire(request_type="grpc", name=self.method + " [recv]",
                     response_time=(now - last) * 1000, response_length=reply.ByteSize(),
                     response=reply, context=None, exception=None)
                last = now
        except grpc.RpcError as e:
            exception = e
        fire(request_type="grpc", name=self.method,
             response_time=(time.perf_counter() - start) * 1000, response_length=0,
             response=None, context=None, exception=exception)

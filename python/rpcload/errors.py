"""The exceptions the package raises, and the library's error codes.

The codes mirror RL_ERRNO_MAP in <rpcload/plugin.h> (the one list every
part of rpcload uses); tests/python/test_layout.py reads the header and
fails when the two drift apart.
"""

# code: (NAME, text), as RL_ERRNO_MAP has them.
CODES = {
    0: ("OK", "success"),
    -1: ("INVAL", "invalid argument"),
    -2: ("NOMEM", "out of memory"),
    -3: ("PROTO", "protocol error"),
    -4: ("CLOSED", "connection closed"),
    -5: ("CONNECT", "connection failed"),
    -6: ("TIMEOUT", "timed out"),
    -7: ("TLS", "TLS error"),
    -8: ("IO", "I/O error"),
    -9: ("BUSY", "no capacity for another request"),
    -10: ("CANCELLED", "cancelled"),
    -11: ("UNSUPPORTED", "not supported"),
    -12: ("ABI", "plugin ABI mismatch"),
    -13: ("NOTFOUND", "not found"),
}

ERR_INVAL = -1
ERR_NOMEM = -2
ERR_CLOSED = -4
ERR_TIMEOUT = -6
ERR_IO = -8
ERR_BUSY = -9


class RpcloadError(Exception):
    """An error librpcload reported (or the package found before calling
    it). str(e) is the library's one-line reason, as the rpcload command
    prints it after "rpcload: error: ".

    code:  the RL_ERR_* code (negative; -1 INVAL when the package itself
           refused), and name its symbol ("INVAL", "CLOSED", ...).
    usage: True when the options themselves were wrong (unknown,
           malformed, conflicting), False when what they name was (a file,
           a plugin, a target).
    """

    def __init__(self, text, code=ERR_INVAL, usage=False):
        super().__init__(text)
        self.text = text
        self.code = code
        self.name = CODES.get(code, ("UNKNOWN", ""))[0]
        self.usage = bool(usage)


class RequestError(Exception):
    """A failed request, as a request or user_error listener sees it in
    its `exception` argument (Locust passes the exception the client
    raised; here the failure exists only as its text, which str() gives:
    "HTTP 500", "connection refused", the gRPC status...)."""

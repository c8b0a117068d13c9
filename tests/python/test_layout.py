"""The ctypes declarations (python/rpcload/_lib.py) against the C headers:
every struct's size and every member's offset as the C compiler lays them
out, and the error codes as RL_ERRNO_MAP lists them. A member added to a
header without the bindings following fails here, not in a user's run."""

import ctypes
import os
import re
import shutil
import subprocess

import pytest

from rpcload import _lib
from rpcload.errors import CODES

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INCLUDE = os.path.join(REPO, "include")

# ctypes struct -> the C type it mirrors.
STRUCTS = {
    _lib.ErrorInfo: "rl_error_info",
    _lib.Kv: "rl_kv",
    _lib.RequestEvent: "rl_request_event",
    _lib.UserError: "rl_user_error",
    _lib.ReportRow: "rl_report_row",
    _lib.Report: "rl_report",
    _lib.HistoryRow: "rl_history_row",
    _lib.Listener: "rl_listener",
}


def c_layout(tmp_path):
    lines = ["#include <stddef.h>", "#include <stdio.h>", "#include <rpcload/rpcload.h>",
             "int main(void) {"]
    for cls, ctype in STRUCTS.items():
        lines.append('  printf("%s size %%zu\\n", sizeof(%s));' % (ctype, ctype))
        for field, _ in cls._fields_:
            lines.append('  printf("%s %s %%zu\\n", offsetof(%s, %s));'
                         % (ctype, field, ctype, field))
    lines += ["  return 0;", "}"]
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines) + "\n")
    exe = tmp_path / "layout"
    subprocess.run(["cc", "-std=c11", "-I", INCLUDE, str(src), "-o", str(exe)], check=True,
                   timeout=60)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True, timeout=10)
    return {tuple(line.split()[:2]): int(line.split()[2]) for line in out.stdout.splitlines()}


@pytest.mark.skipif(not shutil.which("cc"), reason="no C compiler")
def test_structs_match_the_headers(tmp_path):
    c = c_layout(tmp_path)
    for cls, ctype in STRUCTS.items():
        assert ctypes.sizeof(cls) == c[(ctype, "size")], ctype
        for field, _ in cls._fields_:
            assert getattr(cls, field).offset == c[(ctype, field)], (ctype, field)


def test_the_listener_descriptor_covers_the_headers_abi():
    with open(os.path.join(INCLUDE, "rpcload", "listener.h")) as f:
        h = f.read()
    major = int(re.search(r"#define RL_LISTENER_ABI_MAJOR (\d+)", h).group(1))
    minor = int(re.search(r"#define RL_LISTENER_ABI_MINOR (\d+)", h).group(1))
    assert _lib.LISTENER_ABI >> 16 == major and _lib.LISTENER_ABI & 0xFFFF <= minor
    with open(os.path.join(INCLUDE, "rpcload", "rpcload.h")) as f:
        api = f.read()
    assert int(re.search(r"#define RL_API_MAJOR (\d+)", api).group(1)) == _lib.API_MAJOR


def test_error_codes_match_rl_errno_map():
    with open(os.path.join(INCLUDE, "rpcload", "plugin.h")) as f:
        h = f.read()
    listed = {int(v): (name, text)
              for name, v, text in re.findall(r'X\((\w+), (-?\d+), "([^"]*)"\)', h)}
    assert listed == CODES

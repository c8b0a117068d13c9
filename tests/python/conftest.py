"""The Python module's tests (ctest integration/python; docs/python.md).

The package under test is the source tree's python/rpcload, first on the
path; the integration harness (tests/integration/servers.py: nginx on a
free loopback port, stopped by PID) is appended last, since that folder
holds a module of its own named rpcload (the CLI's runner).

Run from the repository:  RPCLOAD_LIBRARY=build/src/librpcload.so.1 \\
    RPCLOAD_PLUGIN_PATH=build/plugins /usr/bin/python3 -m pytest -q tests/python
"""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "python"))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.join(REPO, "tests", "integration")]
sys.path.append(os.path.join(REPO, "tests", "integration"))

from servers import NginxServer  # noqa: E402


@pytest.fixture
def nginx():
    with NginxServer() as server:
        yield server


@pytest.fixture
def build_dir():
    return os.environ.get("RPCLOAD_BUILD_DIR") or os.path.join(REPO, "build")

"""The converted .tax fixtures, loaded by the real Twisted (sob.load(path, "source"), in
the Python that runs twistd3) and run by twistd3 itself.

tap2pkg never imports Twisted: each check runs in a subprocess that prints JSON.  On a
machine without twistd3 these tests skip; in CI (CI=true) they fail instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tap2pkg.appfile import load
from tap2pkg.appfile.check import find_python
from tap2pkg.appfile.xml import convert
from tests.conftest import FIXTURES, require_tool
from tests.test_xml import deepest_document

# Loads the file the way twistd -s does, then describes the object graph as JSON.
_DESCRIBE = """
import json, sys
from twisted.application import service
from twisted.persisted import sob
from twisted.python.reflect import qual

app = sob.load(sys.argv[1], "source")

def describe_service(s):
    out = {"class": qual(type(s)), "name": s.name,
           "parent": None if s.parent is None else s.parent.name}
    if hasattr(s, "args"):
        port, factory = s.args
        out.update(port=port, kwargs=s.kwargs, factory=qual(type(factory)),
                   protocol=qual(factory.protocol))
    if hasattr(s, "step"):
        call, args, kwargs = s.call
        out.update(step=s.step, clock=s.clock, method=call.__name__,
                   bound_to_factory_of=[c.name for c in s.parent.services
                                        if getattr(c, "args", (0, 0))[1] is call.__self__])
    if hasattr(s, "services"):
        out["services"] = [describe_service(c) for c in s.services]
        out["named"] = sorted(s.namedServices)
        out["children_know_parent"] = all(c.parent is s for c in s.services)
    return out

top = service.IService(app)
process = service.IProcess(app)
persistent = sob.IPersistable(app)
print(json.dumps({
    "app": qual(type(app)),
    "collection_is_service": service.IServiceCollection(app) is top,
    "process": [process.uid, process.gid, process.processName],
    "persistent": [persistent.name, persistent.style, persistent.original is app],
    "top": describe_service(top),
}))
"""

_REPR = """
import sys
from twisted.persisted import sob
print(repr(sob.load(sys.argv[1], "source")))
"""


def twisted_python() -> str:
    require_tool("twistd3")
    return find_python("twistd3")


def run_in_twisted(script: str, path: Path) -> str:
    proc = subprocess.run(
        [twisted_python(), "-c", script, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=path.parent,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def converted(tmp_path: Path, name: str) -> Path:
    info = load(FIXTURES / name)
    path = tmp_path / info.filename
    path.write_bytes(info.content)
    return path


def tcp(port: int, name: str | None, parent: str, protocol: str) -> dict[str, Any]:
    return {
        "class": "twisted.application.internet.TCPServer",
        "name": name,
        "parent": parent,
        "port": port,
        "kwargs": {"interface": "127.0.0.1"},
        "factory": "twisted.internet.protocol.Factory",
        "protocol": protocol,
    }


ECHO = "twisted.protocols.wire.Echo"


def test_echo_graph(tmp_path: Path) -> None:
    found = json.loads(run_in_twisted(_DESCRIBE, converted(tmp_path, "echoxml.tax")))
    assert found == {
        "app": "twisted.python.components.Componentized",
        "collection_is_service": True,
        "process": [None, None, None],
        # sob.load sets the style it loaded with, so twistd saves a .tas on shutdown.
        "persistent": ["echo-xml", "source", True],
        "top": {
            "class": "twisted.application.service.MultiService",
            "name": "echo-xml",
            "parent": None,
            "services": [tcp(8010, None, "echo-xml", ECHO)],
            "named": [],
            "children_know_parent": True,
        },
    }


def test_daemon_graph(tmp_path: Path) -> None:
    found = json.loads(run_in_twisted(_DESCRIBE, converted(tmp_path, "daemonxml.tax")))
    assert found["process"] == [1000, 1000, "daemon-xml"]
    assert found["persistent"] == ["daemon-xml", "source", True]
    top = found["top"]
    assert (top["name"], top["named"], top["children_know_parent"]) == (
        "daemon-xml",
        ["echo", "extra", "heartbeat"],
        True,
    )
    timer, echo, extra = top["services"]
    assert timer == {
        "class": "twisted.application.internet.TimerService",
        "name": "heartbeat",
        "parent": "daemon-xml",
        "step": 3600,
        "clock": None,
        "method": "startFactory",
        # The factory written inside <method> is the one the TCPServer refers to.
        "bound_to_factory_of": ["echo"],
    }
    assert echo == tcp(8011, "echo", "daemon-xml", ECHO)
    assert extra["name"] == "extra"
    assert extra["parent"] == "daemon-xml"
    assert extra["services"] == [tcp(8012, None, "extra", "twisted.protocols.wire.Discard")]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "xmlscalars.tax",
            repr(
                [
                    None,
                    "plain",
                    'it\'s "quoted" \\ <&>\n\t\r\x00\xff',
                    "caf\xe9 \u20ac\n\ttab",
                    42,
                    -7,
                    12345678901234567890,
                    2.5,
                    float("inf"),
                    True,
                    False,
                ]
            ),
        ),
        (
            "xmlcontainers.tax",
            repr(
                ({(1, "a"): [1, 2], "name": "x", "empty": (), 7: "seven"}, [(), ("one",)], [1, 2])
            ),
        ),
        ("xmlreferences.tax", None),
        ("xmlcallables.tax", None),
        ("xmlcopyreg.tax", None),
        ("xmlforward.tax", "[['later'], ['later']]"),
    ],
)
def test_small_fixtures_load(tmp_path: Path, name: str, expected: str | None) -> None:
    shown = run_in_twisted(_REPR, converted(tmp_path, name)).strip()
    if expected is not None:
        assert shown == expected
    elif name == "xmlreferences.tax":
        assert shown.startswith("[['shared'], ['shared'], [[...]], <twisted.python.components.")
    elif name == "xmlcallables.tax":
        assert (
            shown.startswith("[<module 'twisted.protocols.wire' from ")
            and "<class 'twisted.protocols.wire.Echo'>, <function qual at " in shown
        )
        assert "<bound method Factory.doStart of <twisted.internet.protocol.Factory" in shown
        assert "<function Factory.doStop at " in shown
    else:
        assert shown.startswith("[(1.5-2j), <_io.StringIO object at ")


_IDENTITY = """
import sys
from twisted.persisted import sob
shared, again, cycle, node = sob.load(sys.argv[1], "source")
bound = sob.load(sys.argv[2], "source")
print(shared is again, cycle[0] is cycle, node._adapterCache["self"] is node,
      bound[3].__self__ is bound[5])
"""


def test_references_keep_identity(tmp_path: Path) -> None:
    refs = converted(tmp_path, "xmlreferences.tax")
    calls = converted(tmp_path, "xmlcallables.tax")
    proc = subprocess.run(
        [twisted_python(), "-c", _IDENTITY, str(refs), str(calls)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["True"] * 4


def test_deepest_document_loads(tmp_path: Path) -> None:
    """The nesting limit keeps converted files within what Python can compile."""
    xml = '<?xml version="1.0"?>\n' + deepest_document("twisted.internet.protocol.Factory")
    path = tmp_path / "deep.tas"
    path.write_text(convert("deep.tax", xml.encode()), encoding="ascii")
    shown = run_in_twisted(_REPR, path)
    assert shown.startswith("[<twisted.internet.protocol.Factory object at ")


# ---- twistd runs it ----


def _echo(port: int, data: bytes, deadline: float) -> bytes:
    """Connect (retrying while twistd starts) and return what comes back."""
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
                conn.sendall(data)
                received = b""
                while len(received) < len(data):
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    received += chunk
                return received
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_twistd_runs_the_converted_echo_server(tmp_path: Path) -> None:
    require_tool("twistd3", "timeout")
    app = converted(tmp_path, "echoxml.tax")
    twistd = shutil.which("twistd3")
    assert twistd is not None
    # From a scratch directory: twistd -s saves <name>-shutdown.tas into its rundir.
    proc = subprocess.Popen(
        ["timeout", "60", twistd, "--nodaemon", "--pidfile=", "--logfile=-", "--source", app.name],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        reply = _echo(8010, b"hello, marmalade\n", time.monotonic() + 30)
    finally:
        proc.send_signal(signal.SIGTERM)  # timeout passes it on to twistd
        try:
            output = proc.communicate(timeout=30)[0].decode("utf-8", "replace")
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # our own session only
            output = proc.communicate()[0].decode("utf-8", "replace")
    assert reply == b"hello, marmalade\n", output
    assert "Loading echoxml.tas..." in output
    assert "Factory starting on 8010" in output
    assert "Server Shut Down." in output
    assert (tmp_path / "echo-xml-shutdown.tas").is_file()

"""The service files' own logic: which ports the readiness check waits for, what may go
into a unit, the start limits, and the ready script run against real processes."""

from __future__ import annotations

import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from tap2pkg import services
from tap2pkg.appfile import load
from tap2pkg.backends import debian
from tap2pkg.backends.debian.source import LAYOUT
from tap2pkg.model import PackageSpec
from tap2pkg.spec import Options, resolve
from tests.conftest import FIXTURES, MAINTAINER


def _spec(endpoints: tuple[str, ...] = ()) -> PackageSpec:
    path = FIXTURES / "echo.tac"
    spec = resolve(Options(tapfile=path, maintainer=MAINTAINER), load(path),
                   debian.CONVENTIONS)
    return replace(spec, app=replace(spec.app, endpoints=endpoints)) if endpoints else spec


def test_ready_ports_from_the_endpoints_read_statically() -> None:
    assert services.ready_ports(_spec()) == ("tcp/8007",)
    spec = _spec(("tcp:80", "ssl:port=443:privateKey=k.pem", "tcp6:8080:interface=\\:\\:",
                  "udp:53", "unix:/run/x.sock", "tcp:0", "tcp:99999", "tcp:${PORT}",
                  "tcp:\uff18\uff10", "TCP:80"))
    assert services.ready_ports(spec) == ("tcp/80", "tcp/443", "tcp/8080", "udp/53")


def test_unit_words_refuse_what_systemd_would_expand_or_split() -> None:
    for bad in ("/usr/bin/twistd %n", "$HOME", "a b", "x\\", '"q"', "a;b"):
        with pytest.raises(ValueError, match="systemd unit"):
            services.unit_word(bad)
    assert services.unit_word("/usr/bin/twistd3") == "/usr/bin/twistd3"


def test_a_failing_service_always_reaches_the_start_limit() -> None:
    """Burst starts that each fail as slowly as possible still fall in the interval."""
    slowest = services.TIMEOUT_START_SEC + services.RESTART_SEC
    assert services.START_LIMIT_BURST * slowest < services.START_LIMIT_INTERVAL_SEC
    assert services.READY_SECONDS < services.TIMEOUT_START_SEC
    unit = services.unit_file(_spec(), LAYOUT)
    for line in (f"StartLimitBurst={services.START_LIMIT_BURST}",
                 f"StartLimitIntervalSec={services.START_LIMIT_INTERVAL_SEC}",
                 f"TimeoutStartSec={services.TIMEOUT_START_SEC}", "Type=exec",
                 "Restart=on-failure", "User=_twisted-echo",
                 f"ExecStartPost=/usr/libexec/twisted-echo/ready ${{MAINPID}} "
                 f"{services.READY_SECONDS} $TWISTD_PORTS"):
        assert f"\n{line}\n" in unit, line


@pytest.fixture
def ready(tmp_path: Path) -> Path:
    script = tmp_path / "ready"
    script.write_text(services.ready_script(_spec()), encoding="utf-8")
    script.chmod(0o755)
    return script


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _python(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code])


def _check(ready: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ready), *args], capture_output=True, text=True, check=False,
                          timeout=30)


def test_ready_passes_once_the_process_listens(ready: Path) -> None:
    port = _free_port()
    proc = _python("import socket, time\ntime.sleep(0.5)\ns = socket.socket()\n"
                   f"s.bind(('127.0.0.1', {port})); s.listen(); time.sleep(30)")
    try:
        result = _check(ready, str(proc.pid), "10", f"tcp/{port}")
        assert result.returncode == 0, result.stderr
    finally:
        proc.kill()
        proc.wait()


def test_ready_fails_when_the_process_dies(ready: Path) -> None:
    proc = _python("import time\ntime.sleep(0.3)\nraise SystemExit(1)")
    result = _check(ready, str(proc.pid), "20", "tcp/1")
    proc.wait()
    assert result.returncode == 1
    assert "exited while starting" in result.stderr


def test_ready_fails_when_another_process_holds_the_port(ready: Path) -> None:
    port = _free_port()
    holder = _python("import socket, time\ns = socket.socket()\n"
                     f"s.bind(('127.0.0.1', {port})); s.listen(); time.sleep(30)")
    idle = _python("import time\ntime.sleep(30)")
    try:
        result = _check(ready, str(idle.pid), "1", f"tcp/{port}")
        assert result.returncode == 1
        assert f"is not listening on tcp/{port} after 1 s" in result.stderr
    finally:
        for proc in (holder, idle):
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("args", [["12x", "3"], ["1", "3", "tcp/99999"], ["1", "3", "tcp/1;x"],
                                  ["1", "3", "tcp/0800"], ["1"], ["1", "-3"]])
def test_ready_refuses_bad_arguments(ready: Path, args: list[str]) -> None:
    result = _check(ready, *args)
    assert result.returncode == 1
    assert result.stderr.startswith("ready: ")

"""systemd: the unit passes systemd-analyze verify, and its ExecStart, run in the Debian
root as systemd would run it (as root, with its environment and environment file), serves
the app as the service user and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.debroot import DebianRoot
from tests.servicecheck import apt_install, build, daemons, echo, owner, port_closed, uid_of
from tests.systemd_unit import environment, exec_start, service_settings

PKG = "twisted-echo"


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    require_tool("systemd-analyze", "dpkg-deb")
    deb = build(tmp_path, "echo.tac", "1.0", "--init", "systemd")
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp_path / "x")], check=True)
    unit = tmp_path / "x" / "lib/systemd/system" / f"{PKG}.service"
    proc = subprocess.run(["systemd-analyze", "verify", str(unit)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == ""


@pytest.mark.lifecycle
@pytest.mark.slow
def test_exec_start_serves_and_stops_on_sigterm(root: DebianRoot, tmp_path: Path) -> None:
    deb = build(tmp_path, "echo.tac", "1.0", "--init", "systemd")
    apt_install(root, deb)  # a SysV root: postinst enables the unit but starts nothing
    assert daemons(root) == []
    default = root.file(f"/etc/default/{PKG}")
    default.write_text(default.read_text() + 'TWISTD_OPTS="--umask=0022"\n')

    unit = root.file(f"/lib/systemd/system/{PKG}.service").read_text()
    settings = service_settings(unit)
    env = environment(settings, root.path)
    argv = exec_start(settings, env)
    assert argv[:4] == ["/usr/bin/env", "/usr/bin/twistd3", "--nodaemon", "--pidfile="]
    assert "--umask=0022" in argv  # the environment file was read
    assert f"--python=/etc/{PKG}/echo.tac" in argv

    proc = subprocess.Popen(
        ["chroot", str(root.path), *argv],
        env={**env, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert echo(8007) == b"hello tap2pkg\n"
        assert daemons(root) == [proc.pid]  # --nodaemon: the process systemd started
        assert owner(proc.pid) == uid_of(root, f"_{PKG}") != 0
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # twistd shuts down, then exits by the signal that stopped it (Twisted >= 20.3);
    # systemd counts SIGTERM as a clean exit for services, as it does 0.
    assert proc.returncode in (0, -signal.SIGTERM), output
    assert "Received SIGTERM" in output  # logged to stdout: the journal under systemd
    assert "Server Shut Down." in output
    deadline = time.monotonic() + 5
    while not port_closed(8007) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert port_closed(8007)
    assert daemons(root) == []

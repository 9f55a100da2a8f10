"""systemd: the unit passes systemd-analyze verify and scores at most 4.5 on its security
check (offline, systemd 252), and its ExecStart, run in the Debian root as systemd would
run it (as the service user with CAP_NET_BIND_SERVICE only, in the state directory, with
its environment and environment file), serves the app, passes its ExecStartPost readiness
check, and stops cleanly on SIGTERM.  Real PID 1 runs are the nspawn harness's."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.debroot import DebianRoot
from tests.servicecheck import apt_install, build, daemons, echo, owner, port_closed, uid_of
from tests.systemd_unit import (
    environment,
    exec_start,
    exposure,
    service_settings,
    unit_root,
)

PKG = "twisted-echo"


@pytest.mark.parametrize("app", ["echo.tac", "privileged.tac", "echopickle.tap"])
def test_unit_passes_verify_and_security_at_most_4_5(tmp_path: Path, app: str) -> None:
    require_tool("systemd-analyze", "dpkg-deb")
    deb = build(tmp_path, app, "1.0", "--init", "systemd", "--target", "debian-12")
    root = unit_root(deb, tmp_path, "/lib/systemd/system")
    unit = f"twisted-{app.split('.', maxsplit=1)[0]}.service"
    proc = subprocess.run(["systemd-analyze", "verify", f"--root={root}",
                           f"/lib/systemd/system/{unit}"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == ""
    proc = subprocess.run(["systemd-analyze", "security", "--offline=yes", f"--root={root}",
                           unit], capture_output=True, text=True, check=False)
    score = exposure(proc.stdout + proc.stderr)
    print(f"\n[systemd-analyze security] {unit}: {score}")
    assert score <= 4.5


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
    # No /usr/bin/env: the journal tags lines with the program (and SyslogIdentifier=).
    assert argv[:5] == ["/usr/bin/twistd3", "--nodaemon", "--no_save", "--pidfile=",
                        "--logfile=-"]
    assert "--umask=0022" in argv  # the environment file was read
    assert f"--python=/etc/{PKG}/echo.tac" in argv
    assert ("SyslogIdentifier", PKG) in settings
    user = dict(settings)["User"]
    workdir = dict(settings)["WorkingDirectory"]
    # As systemd runs it: the service user from the start, only CAP_NET_BIND_SERVICE.
    as_user = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups",
               "--inh-caps=-all,+net_bind_service", "--ambient-caps=-all,+net_bind_service",
               "--bounding-set=-all,+net_bind_service"]

    proc = subprocess.Popen(
        ["chroot", str(root.path), "/bin/sh", "-c", 'cd "$1" && shift && exec "$@"', "sh",
         workdir, *as_user, *argv],
        env={**env, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        # ExecStartPost: the readiness check passes once twistd listens on its port.
        env["MAINPID"] = str(proc.pid)
        ready = exec_start([("ExecStart", dict(settings)["ExecStartPost"])], env)
        assert ready[1:] == [str(proc.pid), "25", "tcp/8007"]
        checked = subprocess.run(["chroot", str(root.path), *as_user, *ready],
                                 capture_output=True, text=True, check=False, timeout=60)
        assert checked.returncode == 0, checked.stderr
        assert echo(8007) == b"hello tap2pkg\n"
        assert daemons(root) == [proc.pid]  # --nodaemon: the process systemd started
        assert owner(proc.pid) == uid_of(root, f"_{PKG}") != 0
        assert Path(f"/proc/{proc.pid}/cwd").resolve() == root.file(workdir).resolve()
        status = Path(f"/proc/{proc.pid}/status").read_text()
        assert "CapEff:\t0000000000000400" in status  # CAP_NET_BIND_SERVICE alone
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

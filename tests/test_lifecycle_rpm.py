"""The tap2rpm package in the Debian root, driven by Debian's rpm: install, upgrade with
admin edits, erase, with the scriptlets run by rpm itself.  systemctl, chkconfig and
service are recording stand-ins (the root has no systemd and no chkconfig)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tap2pkg.cli import tap2rpm_main
from tests.conftest import FIXTURES, MAINTAINER
from tests.debroot import DebianRoot

pytestmark = [pytest.mark.lifecycle, pytest.mark.slow]
PKG = "twisted-echo"
LOG = "/var/log/tap2pkg-standins.log"
STAND_INS = {"systemctl": "/usr/bin/systemctl", "chkconfig": "/usr/sbin/chkconfig",
             "service": "/usr/sbin/service"}


def build_rpm(out: Path, app: Path, version: str, *extra: str) -> Path:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOURCE_DATE_EPOCH", "1700000000")
        code = tap2rpm_main(["-t", str(app), "-m", MAINTAINER, "-V", version, "-o", str(out),
                             "-q", "--twistd", "/usr/bin/twistd3", *extra])
    assert code == 0
    return out / f"{PKG}-{version}-1.noarch.rpm"


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """echo.tac, and a changed copy of it for 1.1 (so that rpm writes .rpmnew)."""
    tmp = tmp_path_factory.mktemp("apps")
    newer = tmp / "1.1" / "echo.tac"
    newer.parent.mkdir()
    newer.write_text((FIXTURES / "echo.tac").read_text() + "# shipped in 1.1\n")
    return {"1.0": FIXTURES / "echo.tac", "1.1": newer}


def install_stand_ins(root: DebianRoot) -> None:
    root.run("dpkg-divert", "--local", "--rename", "--add", "/usr/sbin/service")
    for name, path in STAND_INS.items():
        target = root.file(path)
        target.write_text(f'#!/bin/sh\necho "{name} $*" >> {LOG}\nexit 0\n')
        target.chmod(0o755)


def calls(root: DebianRoot) -> list[str]:
    log = root.file(LOG)
    lines = log.read_text().splitlines() if log.exists() else []
    log.write_text("")
    return lines


def rpm(root: DebianRoot, *args: str) -> None:
    root.run("rpm", "--nodeps", *args)


def mode_owner(root: DebianRoot, path: str) -> tuple[str, str, str]:
    info = os.lstat(root.file(path))
    user = root.run("stat", "-c", "%U:%G", path).stdout.strip()
    kind = "d" if stat.S_ISDIR(info.st_mode) else "f"
    return kind, oct(stat.S_IMODE(info.st_mode)), user


@pytest.mark.parametrize("init", ["systemd", "sysv"])
def test_rpm_install_upgrade_erase(root: DebianRoot, apps: dict[str, Path], tmp_path: Path,
                                   init: str) -> None:
    rpms = {v: build_rpm(tmp_path / v, apps[v], v, "--init", init) for v in ("1.0", "1.1")}
    install_stand_ins(root)

    # install: files with their modes and owners, the service user, first-install actions
    rpm(root, "-i", root.copy_in(rpms["1.0"]))
    assert root.run("getent", "passwd", PKG).stdout.startswith(f"{PKG}:")
    assert mode_owner(root, f"/etc/{PKG}/echo.tac") == ("f", "0o644", "root:root")
    assert mode_owner(root, f"/etc/sysconfig/{PKG}") == ("f", "0o644", "root:root")
    assert mode_owner(root, f"/var/lib/{PKG}") == ("d", "0o755", f"{PKG}:{PKG}")
    if init == "systemd":
        assert mode_owner(root, f"/usr/lib/systemd/system/{PKG}.service") == \
            ("f", "0o644", "root:root")
        assert calls(root) == [f"systemctl --no-reload preset {PKG}.service"]
    else:
        initscript = root.file(f"/etc/rc.d/init.d/{PKG}")
        assert mode_owner(root, f"/etc/rc.d/init.d/{PKG}") == ("f", "0o755", "root:root")
        assert "# chkconfig:" in initscript.read_text()
        assert calls(root) == [f"chkconfig --add {PKG}"]

    # upgrade: admin edits survive, the changed upstream file arrives as .rpmnew; the
    # service is restarted, never stopped, disabled or unregistered
    sysconfig = root.file(f"/etc/sysconfig/{PKG}")
    appfile = root.file(f"/etc/{PKG}/echo.tac")
    sysconfig.write_text(sysconfig.read_text() + 'TWISTD_OPTS="--umask=0022"\n')
    appfile.write_text(appfile.read_text() + "# admin edit\n")
    rpm(root, "-U", root.copy_in(rpms["1.1"]))
    assert root.run("rpm", "-q", PKG).stdout.strip() == f"{PKG}-1.1-1.noarch"
    assert "--umask=0022" in sysconfig.read_text()
    assert "# admin edit" in appfile.read_text()
    assert "# shipped in 1.1" in root.file(f"/etc/{PKG}/echo.tac.rpmnew").read_text()
    upgrade = calls(root)
    if init == "systemd":
        assert f"systemctl try-restart {PKG}.service" in upgrade
    else:
        assert f"service {PKG} condrestart" in upgrade
        assert f"chkconfig --del {PKG}" not in upgrade
    assert not [c for c in upgrade if " stop" in c or " disable" in c], upgrade

    # erase: stopped and unregistered; the user stays
    rpm(root, "-e", PKG)
    erase = calls(root)
    if init == "systemd":
        assert f"systemctl --no-reload disable {PKG}.service" in erase
        assert f"systemctl stop {PKG}.service" in erase
    else:
        assert erase[:2] == [f"service {PKG} stop", f"chkconfig --del {PKG}"]
    assert not root.file(f"/usr/lib/systemd/system/{PKG}.service").exists()
    assert not root.file(f"/etc/rc.d/init.d/{PKG}").exists()
    assert root.run("getent", "passwd", PKG).stdout.startswith(f"{PKG}:")


def test_rpm_init_script_runs_the_service(root: DebianRoot, apps: dict[str, Path],
                                          tmp_path: Path) -> None:
    """The RPM package's own SysV script, run for real: start serves as the package's
    user, status tells, restart leaves one daemon, stop ends it."""
    from tests.servicecheck import daemons, echo, owner, port_closed, uid_of

    install_stand_ins(root)
    rpm(root, "-i", root.copy_in(build_rpm(tmp_path, apps["1.0"], "1.0", "--init", "sysv")))
    script = f"/etc/rc.d/init.d/{PKG}"
    root.run(script, "start")
    assert echo(8007) == b"hello tap2pkg\n"
    [pid] = daemons(root)
    assert owner(pid) == uid_of(root, PKG) != 0
    assert root.run(script, "status", check=False).returncode == 0
    lock = f"/var/lock/subsys/{PKG}"  # /var/lock is a symlink: look from inside the root
    assert root.run("test", "-e", lock, check=False).returncode == 0
    root.run(script, "restart")
    assert echo(8007) == b"hello tap2pkg\n"
    assert len(daemons(root)) == 1
    root.run(script, "stop")
    assert port_closed(8007)
    assert daemons(root) == []
    assert root.run(script, "status", check=False).returncode == 3
    assert root.run("test", "-e", lock, check=False).returncode == 1


def test_rpm_init_script_never_follows_the_service_users_links(
    root: DebianRoot, apps: dict[str, Path], tmp_path: Path
) -> None:
    """Issue 10 item 3 for the RPM SysV script: links the service user plants in its
    state directory (twistd's default log and pidfile names, snapshots, a directory
    link) are never followed by start, restart, stop, upgrade or erase; the pidfile's
    directory is root's and twistd writes no log file (syslog) and no snapshot."""
    from tests.servicecheck import echo

    install_stand_ins(root)
    rpms = {v: build_rpm(tmp_path / v, apps[v], v, "--init", "sysv") for v in ("1.0", "1.1")}
    rpm(root, "-i", root.copy_in(rpms["1.0"]))
    script = f"/etc/rc.d/init.d/{PKG}"
    root.run(script, "start")
    assert echo(8007) == b"hello tap2pkg\n"
    root.sh("mkdir -p /root/victim-dir && echo precious > /root/victim-dir/keep && "
            "echo secret > /etc/tap2pkg-victim && chmod 0600 /etc/tap2pkg-victim")
    state = f"/var/lib/{PKG}"
    names = ["twistd.log", "twistd.pid", f"{PKG}.pid", f"{PKG}.log", "echo-shutdown.tap",
             "echo-shutdown.tas"]
    links = " ".join(f"ln -sfn /etc/tap2pkg-victim {state}/{name};" for name in names)
    root.run("runuser", "-u", PKG, "--", "/bin/sh", "-c",
             f"{links} ln -sfn /root/victim-dir {state}/subdir")
    denied = root.run("runuser", "-u", PKG, "--", "/bin/sh", "-c",
                      f"ln -s /etc/tap2pkg-victim /run/{PKG}/x", check=False)
    assert denied.returncode != 0
    run_dir = root.file(f"/run/{PKG}").stat()
    assert (run_dir.st_uid, run_dir.st_mode & 0o777) == (0, 0o755)

    def victims() -> list[tuple[bytes, int, int]]:
        found = []
        for path in ("/etc/tap2pkg-victim", "/root/victim-dir/keep"):
            info = root.file(path).stat()
            found.append((root.file(path).read_bytes(), info.st_mode, info.st_uid))
        return found

    before = victims()
    root.run(script, "restart")
    assert echo(8007) == b"hello tap2pkg\n"
    root.run(script, "stop")
    root.run(script, "start")
    rpm(root, "-U", root.copy_in(rpms["1.1"]))
    root.run(script, "condrestart")
    assert echo(8007) == b"hello tap2pkg\n"
    root.run(script, "stop")
    assert victims() == before
    assert not root.file(f"/var/log/{PKG}").exists()
    rpm(root, "-e", PKG)
    assert victims() == before

"""The packaged service lives its whole life on a real Debian 12 (SysV) root: install,
serve, stop/start/restart, upgrade with admin edits, remove, purge.

Needs root, debootstrap and a Debian mirror (the one in this machine's apt sources).
Run just these with: pytest -m lifecycle
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.debroot import DebianRoot
from tests.servicecheck import (
    apt_install,
    build,
    daemons,
    echo,
    owner,
    port_closed,
    require_root,
    uid_of,
)

pytestmark = [pytest.mark.lifecycle, pytest.mark.slow]
PKG = "twisted-echo"
PORT = 8007


@pytest.fixture(scope="module")
def debs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    require_root()
    out = tmp_path_factory.mktemp("debs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOURCE_DATE_EPOCH", "1700000000")
        return {
            "1.0": build(out, "echo.tac", "1.0"),
            "1.1": build(out, "echo.tac", "1.1"),
            "privileged": build(out, "privileged.tac", "1.0"),
        }


def test_install_serve_restart_upgrade_remove_purge(
    root: DebianRoot, debs: dict[str, Path]
) -> None:
    started = time.monotonic()
    pidfile = root.file(f"/run/{PKG}/{PKG}.pid")

    # 1. install: rc links registered, service started
    apt_install(root, debs["1.0"])
    assert list(root.file("/etc/rc2.d").glob(f"S*{PKG}")), "no start link in rc2.d"
    assert list(root.file("/etc/rc0.d").glob(f"K*{PKG}")), "no kill link in rc0.d"

    # 2. it serves, as the dedicated non-root user; status says running
    assert echo(PORT) == b"hello tap2pkg\n"
    [pid] = daemons(root)
    assert owner(pid) == uid_of(root, f"_{PKG}") != 0
    assert int(pidfile.read_text()) == pid
    status = root.run(f"/etc/init.d/{PKG}", "status", check=False)
    assert status.returncode == 0, status.stdout
    assert "is running" in status.stdout

    # 3. stop, start, restart
    root.run("invoke-rc.d", PKG, "stop")
    assert port_closed(PORT)
    assert not pidfile.exists()
    assert daemons(root) == []
    status = root.run(f"/etc/init.d/{PKG}", "status", check=False)
    assert status.returncode == 3, status.stdout
    root.run("invoke-rc.d", PKG, "start")
    assert echo(PORT) == b"hello tap2pkg\n"
    first = daemons(root)
    root.run("invoke-rc.d", PKG, "restart")
    assert echo(PORT) == b"hello tap2pkg\n"
    after = daemons(root)
    assert len(after) == 1 and after != first

    # 4. admin edits survive the upgrade; one daemon serves afterwards
    default = root.file(f"/etc/default/{PKG}")
    default.write_text(default.read_text() + "# admin edit\nTWISTD_OPTS=\"--umask=0022\"\n")
    appfile = root.file(f"/etc/{PKG}/echo.tac")
    appfile.write_text(appfile.read_text() + "# admin edit\n")
    apt_install(root, debs["1.1"])
    assert root.run("dpkg-query", "-W", "-f=${Version}", PKG).stdout == "1.1"
    assert "# admin edit" in default.read_text()
    assert "# admin edit" in appfile.read_text()
    assert echo(PORT) == b"hello tap2pkg\n"
    assert len(daemons(root)) == 1
    # the edited TWISTD_OPTS took effect: the new log file is group-readable
    assert root.file(f"/var/log/{PKG}/{PKG}.log").stat().st_mode & 0o040

    # 5. remove stops it and keeps the conffiles; purge removes everything
    root.run("apt-get", "remove", "-y", "-q", PKG)
    assert port_closed(PORT)
    assert daemons(root) == []
    assert default.exists() and appfile.exists()
    root.run("apt-get", "purge", "-y", "-q", PKG)
    for path in (f"/etc/{PKG}", f"/etc/default/{PKG}", f"/etc/init.d/{PKG}",
                 f"/var/lib/{PKG}", f"/var/log/{PKG}", f"/run/{PKG}"):
        assert not root.file(path).exists(), f"{path} survived purge"
    assert not list(root.file("/etc").glob(f"rc?.d/*{PKG}")), "rc links survived purge"
    assert daemons(root) == []
    print(f"\n[lifecycle] install..purge took {time.monotonic() - started:.1f}s")


def test_privileged_port_serves_as_unprivileged_user(
    root: DebianRoot, debs: dict[str, Path]
) -> None:
    apt_install(root, debs["privileged"])
    assert echo(707) == b"hello tap2pkg\n"
    [pid] = daemons(root)
    assert owner(pid) == uid_of(root, "_twisted-privileged") != 0
    root.run("apt-get", "purge", "-y", "-q", "twisted-privileged")
    assert port_closed(707)


@pytest.mark.parametrize(
    ("app", "port"),
    [("echopickle.tap", 8008), ("echosource.tas", 8009), ("echoxml.tax", 8010)],
)
def test_every_kind_serves_from_its_package(root: DebianRoot, tmp_path: Path, app: str,
                                             port: int) -> None:
    """Pickles run with --file, AOT source with --source, and a .tax as the .tas it was
    converted to: each package's daemon serves, as its user, and purges cleanly."""
    name = f"twisted-{app.split('.', maxsplit=1)[0]}"
    apt_install(root, build(tmp_path, app, "1.0"))
    assert echo(port) == b"hello tap2pkg\n"
    [pid] = daemons(root)
    assert owner(pid) == uid_of(root, f"_{name}") != 0
    root.run("apt-get", "purge", "-y", "-q", name)
    assert port_closed(port)
    assert daemons(root) == []

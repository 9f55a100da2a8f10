"""The packaged service lives its whole life on a real Debian 12 (SysV) root: install,
serve, stop/start/restart, upgrade with admin edits, remove, purge.  The packages are built
with --target set to the root's release; tests/test_lifecycle_deb_trixie.py runs these same
tests on a Debian 13 SysV root with --target debian-13.

Needs root, debootstrap and a Debian mirror (the one in this machine's apt sources).
Run just these with: pytest -m lifecycle
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.debroot import DebianRoot, SysvRelease
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
def debs(tmp_path_factory: pytest.TempPathFactory, sysv_release: SysvRelease
         ) -> dict[str, Path]:
    require_root()
    out = tmp_path_factory.mktemp("debs")
    target = ("--target", sysv_release.target)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOURCE_DATE_EPOCH", "1700000000")
        return {
            "1.0": build(out, "echo.tac", "1.0", *target),
            "1.1": build(out, "echo.tac", "1.1", *target),
            "privileged": build(out, "privileged.tac", "1.0", *target),
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

    # nothing root writes is under a directory the user owns: the pidfile and its
    # directory are root's, and twistd logs to syslog, not to a file
    run_dir = root.file(f"/run/{PKG}")
    assert (run_dir.stat().st_uid, run_dir.stat().st_mode & 0o777) == (0, 0o755)
    assert pidfile.stat().st_uid == 0
    assert not root.file(f"/var/log/{PKG}").exists()
    assert b"--no_save" in Path(f"/proc/{after[0]}/cmdline").read_bytes()

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
    # the edited TWISTD_OPTS took effect
    [pid] = daemons(root)
    assert b"--umask=0022" in Path(f"/proc/{pid}/cmdline").read_bytes()

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
                                             port: int, sysv_release: SysvRelease) -> None:
    """Pickles run with --file, AOT source with --source, and a .tax as the .tas it was
    converted to: each package's daemon serves, as its user, and purges cleanly."""
    name = f"twisted-{app.split('.', maxsplit=1)[0]}"
    apt_install(root, build(tmp_path, app, "1.0", "--target", sysv_release.target))
    assert echo(port) == b"hello tap2pkg\n"
    [pid] = daemons(root)
    assert owner(pid) == uid_of(root, f"_{name}") != 0
    root.run("apt-get", "purge", "-y", "-q", name)
    assert port_closed(port)
    assert daemons(root) == []


# Every name root could be tricked into opening, writing, chowning or removing through a
# link the service user planted in the state directory (twistd's rundir): its default
# log, pidfile and shutdown snapshots, the package's own pidfile and log names.
PLANTED = ["twistd.log", "twistd.pid", f"{PKG}.pid", f"{PKG}.log", "echo-shutdown.tap",
           "echo-shutdown.tas", "echo.tap", "echo.tas"]


def plant_links(root: DebianRoot, user: str) -> dict[str, tuple[bytes, int, int]]:
    """As the service user, point every name above (and a directory link) at root-owned
    victims; returns the victims' (content, mode, owner) to compare later."""
    root.sh("mkdir -p /root/victim-dir && echo precious > /root/victim-dir/keep && "
            "echo secret > /etc/tap2pkg-victim && chmod 0600 /etc/tap2pkg-victim")
    state = f"/var/lib/{PKG}"
    links = " ".join(f"ln -sfn /etc/tap2pkg-victim {state}/{name};" for name in PLANTED)
    root.run("runuser", "-u", user, "--", "/bin/sh", "-c",
             f"{links} ln -sfn /root/victim-dir {state}/subdir")
    # The user can plant nothing where root writes the pidfile.
    denied = root.run("runuser", "-u", user, "--", "/bin/sh", "-c",
                      f"ln -s /etc/tap2pkg-victim /run/{PKG}/x", check=False)
    assert denied.returncode != 0
    return victims(root)


def victims(root: DebianRoot) -> dict[str, tuple[bytes, int, int]]:
    found = {}
    for path in ("/etc/tap2pkg-victim", "/root/victim-dir", "/root/victim-dir/keep"):
        info = root.file(path).stat()
        data = b"" if root.file(path).is_dir() else root.file(path).read_bytes()
        found[path] = (data, info.st_mode, info.st_uid)
    return found


def test_service_user_cannot_make_root_touch_its_links(
    root: DebianRoot, debs: dict[str, Path]
) -> None:
    """Issue 10 item 3: links planted by the service user at every path root might use
    are never followed on restart, upgrade or purge."""
    apt_install(root, debs["1.0"])
    assert echo(PORT) == b"hello tap2pkg\n"
    before = plant_links(root, f"_{PKG}")
    root.run("invoke-rc.d", PKG, "restart")
    assert echo(PORT) == b"hello tap2pkg\n"
    root.run("invoke-rc.d", PKG, "stop")
    root.run("invoke-rc.d", PKG, "start")
    apt_install(root, debs["1.1"])
    assert echo(PORT) == b"hello tap2pkg\n"
    assert victims(root) == before
    root.run("apt-get", "purge", "-y", "-q", PKG)
    assert victims(root) == before
    assert not root.file(f"/var/lib/{PKG}").exists()


def test_sysv_logs_go_to_syslog_tagged_with_the_package(
    root: DebianRoot, debs: dict[str, Path]
) -> None:
    """The SysV path writes no log file at all (nothing grows under /var/log/<pkg>; the
    system's syslog rotates what it receives): twistd's lines reach /dev/log tagged with
    the package name."""
    received = "/tmp/syslog.txt"
    listener = subprocess.Popen(
        ["chroot", str(root.path), "python3", "-c",
         "import socket, os\n"
         "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
         "s.bind('/dev/log'); os.chmod('/dev/log', 0o666)\n"
         f"out = open('{received}', 'ab', buffering=0)\n"
         "while True: out.write(s.recv(65536) + b'\\n')\n"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not root.file("/dev/log").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        apt_install(root, debs["1.0"])
        assert echo(PORT) == b"hello tap2pkg\n"
        root.run("invoke-rc.d", PKG, "stop")
        log = root.file(received).read_bytes()
        assert f" {PKG}: ".encode() in log, log[-2000:]
        assert b"Server Shut Down." in log
        assert not root.file(f"/var/log/{PKG}").exists()
        assert list(root.file(f"/var/lib/{PKG}").iterdir()) == []  # no snapshot, no log
    finally:
        listener.kill()
        listener.wait()


def _app(tmp: Path, name: str, body: str) -> Path:
    path = tmp / name
    path.write_text("from twisted.application import service, strports\n"
                    "from twisted.internet.protocol import Factory\n"
                    "from twisted.protocols.wire import Echo\n"
                    "application = service.Application('broken')\n" + body)
    return path


@pytest.mark.parametrize(
    ("name", "body"),
    [
        # cannot load: twistd's own exit status fails the start
        ("broken.tac", "import no_such_module_anywhere\n"),
        # loads, but never listens on the port read from it: the ready check fails
        ("silent.tac", "strports.service('tcp:8011', Factory.forProtocol(Echo))\n"),
    ],
    ids=["cannot-load", "never-listens"],
)
def test_a_broken_app_fails_the_start_and_the_install(
    root: DebianRoot, tmp_path: Path, name: str, body: str, sysv_release: SysvRelease
) -> None:
    from tap2pkg.cli import tap2deb_main
    from tests.conftest import MAINTAINER

    app = _app(tmp_path, name, body)
    out = tmp_path / "out"
    assert tap2deb_main(["-t", str(app), "-m", MAINTAINER, "-o", str(out), "-q",
                         "--target", sysv_release.target]) == 0
    pkg = f"twisted-{name.split('.', maxsplit=1)[0]}"
    deb = root.copy_in(out / f"{pkg}_1.0_all.deb")
    install = root.run("dpkg", "-i", deb, check=False)
    assert install.returncode != 0
    assert "failed" in (install.stdout + install.stderr).lower()
    assert root.run("dpkg-query", "-W", "-f=${Status}", pkg).stdout.endswith("half-configured")
    assert daemons(root) == []  # nothing left running, nothing restarting
    assert root.run(f"/etc/init.d/{pkg}", "status", check=False).returncode != 0


def test_upgrade_that_renames_the_app_runs_the_new_app_despite_a_kept_old_default(
    root: DebianRoot, tmp_path: Path, sysv_release: SysvRelease
) -> None:
    """Package-controlled values live in the init script (and unit), not in the admin's
    /etc/default file: a defaults file kept from an older version (as --force-confold
    keeps it) that still assigns APPFILE and the user cannot make the upgrade run the
    old app, or run it as root."""
    from tap2pkg.cli import tap2deb_main
    from tests.conftest import FIXTURES, MAINTAINER

    renamed = tmp_path / "echo2.tac"
    renamed.write_text((FIXTURES / "echo.tac").read_text().replace("8007", "8012"))
    debs = {}
    for version, app in (("1.0", FIXTURES / "echo.tac"), ("1.1", renamed)):
        out = tmp_path / version
        assert tap2deb_main(["-t", str(app), "-m", MAINTAINER, "-V", version, "-d", PKG,
                             "-p", "echo", "-o", str(out), "-q",
                             "--target", sysv_release.target]) == 0
        debs[version] = out / f"{PKG}_{version}_all.deb"
    apt_install(root, debs["1.0"])
    assert echo(PORT) == b"hello tap2pkg\n"
    default = root.file(f"/etc/default/{PKG}")
    default.write_text(default.read_text() + f"APPFILE=/etc/{PKG}/echo.tac\n"
                       "TWISTD_USER=root\nTWISTD_GROUP=root\n")
    apt_install(root, debs["1.1"])  # --force-confold: the edited file is kept
    assert f"APPFILE=/etc/{PKG}/echo.tac" in default.read_text()
    assert echo(8012) == b"hello tap2pkg\n"
    assert port_closed(PORT)
    [pid] = daemons(root)
    assert owner(pid) == uid_of(root, f"_{PKG}") != 0
    assert f"/etc/{PKG}/echo2.tac".encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    # the old app file, unedited, was an obsolete conffile: removed
    assert not root.file(f"/etc/{PKG}/echo.tac").exists()
    assert root.file(f"/etc/{PKG}/echo2.tac").exists()

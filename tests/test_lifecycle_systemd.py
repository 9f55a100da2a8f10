"""The packaged service under a real systemd (PID 1), on Debian 12 and Debian 13: a root of
each release booted with systemd-nspawn (tests/nspawn.py) and driven with systemctl, apt and
journalctl inside it, as an administrator would.

For a .tac app, a privileged-port app and a .tap app: install -> active, enabled, serving as
the service user with no capability but CAP_NET_BIND_SERVICE, in its state directory; the
journal under the package's name; stop/start/restart; kill -9 -> restarted; TWISTD_OPTS
edits; reboot; upgrade keeping the admin's edit; remove; purge.  Then an upgrade that renames
the app file under a kept old defaults file, a broken app that must end `failed`, and the
`systemd-analyze security` score.

One container per release is booted and reused by every test of that release (the apps use
different packages and ports, and every test leaves its package as it found it or purged);
the tests of one app run in file order.  Needs root, debootstrap, systemd-nspawn and nsenter.
Run just these with: pytest tests/test_lifecycle_systemd.py (one release: -k debian-13).
The unit is also checked offline, without root (systemd-analyze verify and security on the
host's systemd).
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tap2pkg.cli import tap2deb_main
from tests.conftest import FIXTURES, MAINTAINER, require_tool
from tests.nspawn import RELEASES, SCORES, Container, booted, show_summary
from tests.servicecheck import require_root
from tests.systemd_unit import exposure, unit_root

LIFECYCLE = [pytest.mark.lifecycle, pytest.mark.slow]
CAP_NET_BIND_SERVICE = 1 << 10
TARGET_SCORE = 4.5


@dataclass(frozen=True)
class App:
    fixture: str
    pkg: str
    port: int

    @property
    def user(self) -> str:
        return f"_{self.pkg}"


APPS = {
    "tac": App("echo.tac", "twisted-echo", 8007),
    "privileged": App("privileged.tac", "twisted-privileged", 707),
    "tap": App("echopickle.tap", "twisted-echopickle", 8008),
}


ALL_APPS = list(APPS)


@pytest.mark.parametrize("app", ["echo.tac", "privileged.tac", "echopickle.tap"])
def test_unit_passes_verify_and_security_at_most_4_5_offline(tmp_path: Path, app: str) -> None:
    """The same checks without root or a container, on the host's systemd (252)."""
    require_tool("systemd-analyze", "dpkg-deb")
    deb = _build(tmp_path, app, "1.0", "debian-12", "--init", "systemd")
    root = unit_root(deb, tmp_path, "/lib/systemd/system")
    unit = f"twisted-{app.split('.', maxsplit=1)[0]}.service"
    proc = subprocess.run(["systemd-analyze", "verify", f"--root={root}",
                           f"/lib/systemd/system/{unit}"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == ""
    proc = subprocess.run(["systemd-analyze", "security", "--offline=yes", f"--root={root}",
                           unit], capture_output=True, text=True, check=False)
    assert exposure(proc.stdout + proc.stderr) <= TARGET_SCORE


# ---------------------------------------------------------------- building the packages

def _build(out: Path, app: str | Path, version: str, target: str, *extra: str) -> Path:
    path = app if isinstance(app, Path) else FIXTURES / app
    code = tap2deb_main(["-t", str(path), "-m", MAINTAINER, "-V", version, "-o", str(out),
                         "-q", "--target", target, *extra])
    assert code == 0
    [deb] = out.glob(f"*_{version}_all.deb")
    return deb


RENAMED = "twisted-renamed"
OLD_APP = """\
from twisted.application import service, strports
from twisted.internet.protocol import Factory
from twisted.protocols.wire import Echo

application = service.Application("old")
strports.service("tcp:8010:interface=127.0.0.1", Factory.forProtocol(Echo)
                 ).setServiceParent(application)
"""
NEW_APP = OLD_APP.replace('"old"', '"new"').replace("8010", "8011")
BROKEN = "twisted-broken"
# Reads as an application statically; fails the moment twistd runs it.
BROKEN_APP = OLD_APP.replace("8010", "8012") + 'raise RuntimeError("broken on purpose")\n'


@dataclass(frozen=True)
class Debs:
    release: str
    by_app: dict[str, dict[str, Path]]  # app id -> version -> .deb
    renamed: dict[str, Path]
    broken: Path


@dataclass
class Env:
    c: Container
    debs: Debs


# ---------------------------------------------------------------- the container per release

@pytest.fixture(scope="module", params=sorted(RELEASES))
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[Env]:
    require_root()
    require_tool("systemd-nspawn", "nsenter", "debootstrap")
    show_summary(request.config)
    release: str = request.param
    out = tmp_path_factory.mktemp(f"debs-{release}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOURCE_DATE_EPOCH", "1700000000")
        by_app = {k: {v: _build(out / k / v, a.fixture, v, release) for v in ("1.0", "1.1")}
                  for k, a in APPS.items()}
        src = out / "src"
        src.mkdir()
        (src / "old.tac").write_text(OLD_APP)
        (src / "new.tac").write_text(NEW_APP)
        (src / "broken.tac").write_text(BROKEN_APP)
        renamed = {"1.0": _build(out / "r1", src / "old.tac", "1.0", release, "-d", RENAMED),
                   "1.1": _build(out / "r2", src / "new.tac", "1.1", release, "-d", RENAMED)}
        broken = _build(out / "b", src / "broken.tac", "1.0", release, "-d", BROKEN)
    started = time.monotonic()
    with booted(RELEASES[release], tmp_path_factory.mktemp(f"nspawn-{release}")) as c:
        yield Env(c, Debs(release, by_app, renamed, broken))
    from tests.nspawn import TIMINGS
    TIMINGS[f"suite {release} (boot..teardown)"] = time.monotonic() - started


# ---------------------------------------------------------------- what an admin would look at

def systemctl(c: Container, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return c.run("systemctl", *args, check=check)


def prop(c: Container, unit: str, name: str) -> str:
    return systemctl(c, "show", "-p", name, "--value", unit).stdout.strip()


def main_pid(c: Container, pkg: str) -> int:
    return int(prop(c, f"{pkg}.service", "MainPID"))


_ECHO = """
import socket, sys, time
port = int(sys.argv[1]); payload = b"hello tap2pkg\\n"
deadline = time.monotonic() + float(sys.argv[2])
while True:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            conn.sendall(payload)
            sys.stdout.write(conn.recv(len(payload)).decode()); break
    except OSError as exc:
        if time.monotonic() > deadline:
            sys.stdout.write("ERROR " + str(exc)); break
        time.sleep(0.2)
"""


def echo(c: Container, port: int, wait: float = 15) -> str:
    """What the service on port answers in the container's network namespace."""
    return c.netns_python(_ECHO, str(port), str(wait)).stdout


def closed(c: Container, port: int) -> bool:
    return echo(c, port, wait=0).startswith("ERROR")


def unit_procs(c: Container, pkg: str) -> list[int]:
    """The processes in the service's cgroup (inside the container's cgroup2 tree)."""
    group = prop(c, f"{pkg}.service", "ControlGroup")
    if not group:
        return []
    procs = c.run("cat", f"/sys/fs/cgroup{group}/cgroup.procs", check=False).stdout
    return [int(p) for p in procs.split()]


def status(c: Container, pid: int) -> dict[str, str]:
    text = c.run("cat", f"/proc/{pid}/status").stdout
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def wait_for(what: str, probe: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not probe():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def apt_install(c: Container, deb: Path, *dpkg_opts: str, check: bool = True
                ) -> subprocess.CompletedProcess[str]:
    path = c.copy_in(deb)
    opts = [a for o in dpkg_opts for a in ("-o", f"Dpkg::Options::={o}")]
    return c.run("apt-get", "install", "-y", "-q", *opts, path, check=check)


def installed_version(c: Container, pkg: str) -> str:
    proc = c.run("dpkg-query", "-W", "-f=${Status} ${Version}", pkg, check=False)
    return proc.stdout.split()[-1] if "install ok installed" in proc.stdout else ""


def ensure_installed(e: Env, kind: str, version: str = "1.0") -> App:
    """The app's package installed (this version or later) and its service active."""
    app = APPS[kind]
    # The checks start each unit more often than its start limit lets anyone (5 starts in
    # 200 s, manual ones included); reset-failed clears the count, as an admin would.
    systemctl(e.c, "reset-failed", f"{app.pkg}.service", check=False)
    if not installed_version(e.c, app.pkg):
        apt_install(e.c, e.debs.by_app[kind][version])
    wait_for(f"{app.pkg} active", lambda: prop(e.c, f"{app.pkg}.service",
                                               "ActiveState") == "active")
    return app


def purge(c: Container, pkg: str) -> None:
    """Best effort, for cleanup: even a half-configured package goes."""
    c.run("apt-get", "purge", "-y", "-q", pkg, check=False)
    if c.run("dpkg-query", "-W", pkg, check=False).returncode == 0:
        systemctl(c, "stop", f"{pkg}.service", check=False)
        c.run("dpkg", "--purge", "--force-remove-reinstreq", pkg, check=False)
    systemctl(c, "reset-failed", check=False)


# ---------------------------------------------------------------- install and run

@pytest.mark.parametrize("kind", ALL_APPS)
@pytest.mark.lifecycle
@pytest.mark.slow
def test_install_gives_an_active_enabled_serving_unit(env: Env, kind: str) -> None:
    app = ensure_installed(env, kind)
    assert systemctl(env.c, "is-active", f"{app.pkg}.service").stdout.strip() == "active"
    assert systemctl(env.c, "is-enabled", f"{app.pkg}.service").stdout.strip() == "enabled"
    assert echo(env.c, app.port) == "hello tap2pkg\n"


@pytest.mark.parametrize("kind", ALL_APPS)
@pytest.mark.lifecycle
@pytest.mark.slow
def test_installed_unit_passes_systemd_analyze_verify(env: Env, kind: str) -> None:
    """Verified where it is installed: every command it names exists there.  (The roots
    have no man-db: the man pages are checked by the next test.)"""
    app = ensure_installed(env, kind)
    proc = env.c.run("systemd-analyze", "verify", "--man=no", f"{app.pkg}.service",
                     check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == ""


@pytest.mark.lifecycle
@pytest.mark.slow
def test_documentation_names_an_installed_man_page(env: Env) -> None:
    """`systemctl help <pkg>` opens the pages the unit's Documentation= names."""
    app = ensure_installed(env, "tac")
    docs = [d.strip("\"") for d in prop(env.c, f"{app.pkg}.service", "Documentation").split()]
    pages = [re.fullmatch(r"man:([^()]+)\((\d)\)", d) for d in docs]
    assert docs and all(pages), docs
    for page in pages:
        assert page is not None
        name, section = page.groups()
        found = list(env.c.file(f"/usr/share/man/man{section}").glob(f"{name}.{section}*"))
        assert found, f"no man page {name}({section}) installed"


@pytest.mark.parametrize("kind", ALL_APPS)
@pytest.mark.lifecycle
@pytest.mark.slow
def test_runs_as_the_service_user_in_its_state_directory(env: Env, kind: str) -> None:
    app = ensure_installed(env, kind)
    uid = env.c.run("id", "-u", app.user).stdout.strip()
    pid = main_pid(env.c, app.pkg)
    assert status(env.c, pid)["Uid"].split() == [uid] * 4
    assert uid != "0"
    cwd = env.c.run("readlink", f"/proc/{pid}/cwd").stdout.strip()
    assert cwd == f"/var/lib/{app.pkg}"


@pytest.mark.parametrize("kind", ALL_APPS)
@pytest.mark.lifecycle
@pytest.mark.slow
def test_no_capability_but_net_bind_service(env: Env, kind: str) -> None:
    """Every process of the unit, from its start: CapBnd (what it could ever regain),
    CapPrm and CapEff hold nothing but CAP_NET_BIND_SERVICE; the privileged-port app has
    exactly that one in effect."""
    app = ensure_installed(env, kind)
    for pid in unit_procs(env.c, app.pkg):
        caps = {k: int(v, 16) for k, v in status(env.c, pid).items() if k.startswith("Cap")}
        for name in ("CapBnd", "CapPrm", "CapEff", "CapAmb"):
            assert caps[name] & ~CAP_NET_BIND_SERVICE == 0, f"{name} {caps[name]:#x}"
        if kind == "privileged":
            assert caps["CapEff"] == CAP_NET_BIND_SERVICE


@pytest.mark.parametrize("kind", ALL_APPS)
@pytest.mark.lifecycle
@pytest.mark.slow
def test_journal_under_the_package_name_shows_twistds_log(env: Env, kind: str) -> None:
    app = ensure_installed(env, kind)
    env.c.run("journalctl", "--sync", check=False)
    log = env.c.run("journalctl", "-t", app.pkg, "--no-pager", "-o", "cat").stdout
    assert "twistd" in log
    assert "starting up" in log


@pytest.mark.parametrize("kind", ALL_APPS)
@pytest.mark.lifecycle
@pytest.mark.slow
def test_security_score(env: Env, kind: str) -> None:
    """`systemd-analyze security` of the installed unit, recorded for the summary."""
    app = ensure_installed(env, kind)
    out = env.c.run("systemd-analyze", "security", "--no-pager", f"{app.pkg}.service",
                    check=False).stdout
    score = exposure(out)
    SCORES[f"{env.debs.release} {app.pkg}"] = score
    assert score <= TARGET_SCORE


@pytest.mark.parametrize("kind", ALL_APPS)
@pytest.mark.lifecycle
@pytest.mark.slow
def test_stop_start_restart(env: Env, kind: str) -> None:
    app = ensure_installed(env, kind)
    unit = f"{app.pkg}.service"
    systemctl(env.c, "stop", unit)
    assert prop(env.c, unit, "ActiveState") == "inactive"
    assert closed(env.c, app.port)
    assert unit_procs(env.c, app.pkg) == []
    systemctl(env.c, "start", unit)
    assert echo(env.c, app.port) == "hello tap2pkg\n"
    before = main_pid(env.c, app.pkg)
    systemctl(env.c, "restart", unit)
    assert echo(env.c, app.port) == "hello tap2pkg\n"
    assert main_pid(env.c, app.pkg) not in (before, 0)


@pytest.mark.parametrize("kind", ALL_APPS)
@pytest.mark.lifecycle
@pytest.mark.slow
def test_stop_leaves_no_snapshot(env: Env, kind: str) -> None:
    """twistd pickles .tap/.tas apps into the rundir on stop unless given --no_save."""
    app = ensure_installed(env, kind)
    systemctl(env.c, "stop", f"{app.pkg}.service")
    left = env.c.run("ls", "-A", f"/var/lib/{app.pkg}").stdout.split()
    systemctl(env.c, "start", f"{app.pkg}.service")
    assert left == []


@pytest.mark.parametrize("kind", ALL_APPS)
@pytest.mark.lifecycle
@pytest.mark.slow
def test_kill_9_is_restarted(env: Env, kind: str) -> None:
    app = ensure_installed(env, kind)
    before = main_pid(env.c, app.pkg)
    env.c.run("kill", "-9", str(before))
    wait_for("a new main process", lambda: main_pid(env.c, app.pkg) not in (before, 0))
    # "activating" until the readiness check (ExecStartPost) has seen the port.
    wait_for("active again",
             lambda: prop(env.c, f"{app.pkg}.service", "ActiveState") == "active")
    assert echo(env.c, app.port) == "hello tap2pkg\n"


def _admin_edit(c: Container, pkg: str) -> None:
    default = c.file(f"/etc/default/{pkg}")
    if "# admin edit" not in default.read_text():
        default.write_text(default.read_text() + '# admin edit\nTWISTD_OPTS="--umask=0022"\n')


@pytest.mark.parametrize("kind", ALL_APPS)
@pytest.mark.lifecycle
@pytest.mark.slow
def test_twistd_opts_edit_takes_effect(env: Env, kind: str) -> None:
    app = ensure_installed(env, kind)
    _admin_edit(env.c, app.pkg)
    systemctl(env.c, "restart", f"{app.pkg}.service")
    assert echo(env.c, app.port) == "hello tap2pkg\n"
    assert status(env.c, main_pid(env.c, app.pkg))["Umask"] == "0022"


@pytest.mark.lifecycle
@pytest.mark.slow
def test_reboot_brings_every_service_back(env: Env) -> None:
    for kind in APPS:
        ensure_installed(env, kind)
    env.c.reboot()
    for app in APPS.values():
        assert prop(env.c, f"{app.pkg}.service", "ActiveState") == "active", app.pkg
        assert echo(env.c, app.port) == "hello tap2pkg\n"


@pytest.mark.parametrize("kind", ALL_APPS)
@pytest.mark.lifecycle
@pytest.mark.slow
def test_upgrade_keeps_the_admins_edit_and_one_process(env: Env, kind: str) -> None:
    app = ensure_installed(env, kind)
    _admin_edit(env.c, app.pkg)
    systemctl(env.c, "restart", f"{app.pkg}.service")
    apt_install(env.c, env.debs.by_app[kind]["1.1"])
    assert installed_version(env.c, app.pkg) == "1.1"
    assert "# admin edit" in env.c.file(f"/etc/default/{app.pkg}").read_text()
    assert echo(env.c, app.port) == "hello tap2pkg\n"
    procs = unit_procs(env.c, app.pkg)
    assert procs == [main_pid(env.c, app.pkg)]
    assert status(env.c, procs[0])["Umask"] == "0022"


@pytest.mark.parametrize("kind", ALL_APPS)
@pytest.mark.lifecycle
@pytest.mark.slow
def test_remove_stops_and_purge_leaves_only_the_user(env: Env, kind: str) -> None:
    app = ensure_installed(env, kind)
    unit = f"{app.pkg}.service"
    env.c.run("apt-get", "remove", "-y", "-q", app.pkg)
    assert closed(env.c, app.port)
    assert unit_procs(env.c, app.pkg) == []
    assert env.c.file(f"/etc/default/{app.pkg}").exists()  # conffiles stay until purge
    env.c.run("apt-get", "purge", "-y", "-q", app.pkg)
    left = env.c.sh(
        f"ls -d /etc/{app.pkg} /etc/default/{app.pkg} /etc/init.d/{app.pkg}"
        f" /var/lib/{app.pkg} /var/log/{app.pkg} /run/{app.pkg}"
        f" /etc/systemd/system/*/{unit} /etc/rc?.d/*{app.pkg}"
        f" /var/lib/systemd/deb-systemd-helper-enabled/{unit}"
        f" /var/lib/systemd/deb-systemd-helper-enabled/*/{unit} 2>/dev/null",
        check=False).stdout.split()
    assert left == []
    assert prop(env.c, unit, "LoadState") == "not-found"
    assert env.c.run("id", "-u", app.user, check=False).returncode == 0  # Debian keeps users


# ---------------------------------------------------------------- upgrades and failures

@pytest.mark.lifecycle
@pytest.mark.slow
def test_upgrade_renaming_the_app_under_a_kept_defaults_file_runs_the_new_app(env: Env) -> None:
    """unattended-upgrades keeps an edited conffile (--force-confold): the new version must
    still run its own app file, not the old one left behind as an obsolete conffile."""
    c = env.c
    try:
        apt_install(c, env.debs.renamed["1.0"])
        assert echo(c, 8010) == "hello tap2pkg\n"
        _admin_edit(c, RENAMED)
        apt_install(c, env.debs.renamed["1.1"], "--force-confold", "--force-confdef")
        assert "# admin edit" in c.file(f"/etc/default/{RENAMED}").read_text()
        assert echo(c, 8011) == "hello tap2pkg\n"
        assert closed(c, 8010)
        cmdline = c.run("cat", f"/proc/{main_pid(c, RENAMED)}/cmdline").stdout
        assert "new.tac" in cmdline
        assert "old.tac" not in cmdline
        assert unit_procs(c, RENAMED) == [main_pid(c, RENAMED)]
    finally:
        purge(c, RENAMED)


@pytest.mark.lifecycle
@pytest.mark.slow
def test_a_broken_app_fails_start_and_ends_failed(env: Env) -> None:
    c = env.c
    unit = f"{BROKEN}.service"
    try:
        apt_install(c, env.debs.broken, check=False)  # the postinst may fail: it starts it
        start = systemctl(c, "start", unit, check=False)
        assert start.returncode != 0, "systemctl start reported success for a broken app"
        # Within the start limit it must settle in `failed`, and stay there.
        wait_for(f"{unit} failed", lambda: prop(c, unit, "ActiveState") == "failed", 90)
        # `failed` is final: a unit waiting to restart shows `activating (auto-restart)`.
        assert systemctl(c, "list-jobs", "--no-legend", check=False).stdout.strip() == ""
    finally:
        purge(c, BROKEN)

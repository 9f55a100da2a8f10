"""The .rpm and .src.rpm that tap2rpm builds with the real rpmbuild: read back with rpmfile,
checked with rpmlint, their scriptlets run for each $1, rebuilt from the .src.rpm and from
the kept spec, and installed into a scratch root.

One build per init-system variant, shared by the module's tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tap2pkg.backends.rpm import files as rpmfiles
from tap2pkg.backends.rpm.files import Kind, entries
from tap2pkg.model import AppInfo, AppKind, PackageSpec
from tests.conftest import EPOCH, FIXTURES, MAINTAINER
from tests.rpm_helpers import (
    CONFIG,
    DOC,
    GHOST,
    NOREPLACE,
    RpmPackage,
    lint_problems,
    read_rpm,
    require_rpm_tools,
    rpmlint,
    run_transaction,
    scriptlets_of,
    tap2rpm,
)

pytestmark = pytest.mark.slow

LONG = "Echoes back what it is sent.\n\nIt keeps 100% of the bytes, in order:\n  client -> server\n"
# init systems -> extra tap2rpm options; the first uses every default.
VARIANTS = {
    "systemd": [],
    "sysv": ["--init", "sysv", "-m", MAINTAINER, "-e", "Echo 100% of it", "-l", LONG,
             "-V", "2.3", "--license", "MIT", "--url", "https://example.org/echo",
             "--depends", "python3-service-identity (>= 18)"],
    "systemd,sysv": ["--init", "systemd,sysv", "-m", MAINTAINER, "-p", "echo-both",
                     "--user", "echoer", "--group", "daemon"],
}
NAMES = {"systemd": "twisted-echo", "sysv": "twisted-echo", "systemd,sysv": "twisted-echo-both"}


@dataclass(frozen=True)
class Built:
    init: str
    name: str
    version: str
    out: Path

    def rpm(self, sub: str = "") -> Path:
        name = f"{self.name}-{sub}" if sub else self.name
        return self.out / f"{name}-{self.version}-1.noarch.rpm"

    @property
    def srpm(self) -> Path:
        return self.out / f"{self.name}-{self.version}-1.src.rpm"

    @property
    def packages(self) -> list[Path]:
        return sorted(self.out.glob("*.rpm"))

    @property
    def kept(self) -> Path:
        return self.out / "rpmbuild"

    @property
    def lint_config(self) -> Path:
        return self.kept / "SPECS" / f"{self.name}.rpmlint.toml"


def build(out: Path, init: str) -> Built:
    require_rpm_tools()
    code = tap2rpm(["-t", str(FIXTURES / "echo.tac"), "-o", str(out), "-q", *VARIANTS[init]])
    assert code == 0
    version = "2.3" if init == "sysv" else "1.0"
    return Built(init, NAMES[init], version, out)


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Built]:
    """Each variant is built once, when a test first asks for it."""
    cache: dict[str, Built] = {}

    def get(init: str) -> Built:
        if init not in cache:
            cache[init] = build(tmp_path_factory.mktemp("rpm") / "out", init)
        return cache[init]

    return get


@pytest.fixture
def built(builds: Callable[[str], Built], init: str) -> Built:
    return builds(init)


@pytest.fixture
def default(builds: Callable[[str], Built]) -> Built:
    return builds("systemd")


ALL = pytest.mark.parametrize("init", list(VARIANTS))
WITH_SYSV = pytest.mark.parametrize("init", ["sysv", "systemd,sysv"])
WITH_SYSTEMD = pytest.mark.parametrize("init", ["systemd", "systemd,sysv"])


@ALL
def test_outputs(built: Built) -> None:
    expected = {built.rpm(), built.srpm}
    if built.init == "systemd,sysv":
        expected.add(built.rpm("sysvinit"))
    assert set(built.packages) == expected
    assert (built.kept / "SPECS" / f"{built.name}.spec").is_file()
    assert (built.kept / "SOURCES" / f"{built.name}-{built.version}.tar.gz").is_file()
    # Nothing half-done is left behind.
    assert not [p for p in built.out.iterdir() if p.name.startswith(".tap2pkg-work-")]


def test_defaults_read_back(default: Built) -> None:
    pkg = read_rpm(default.rpm())
    assert pkg.text("name") == "twisted-echo"
    assert pkg.text("version") == "1.0"
    assert pkg.text("release") == "1"
    assert pkg.text("arch") == "noarch"
    assert pkg.text("summary") == "A TCP server for echo"
    assert pkg.text("description") == "Automatically created by tap2rpm"
    assert pkg.text("packager") == "tap2rpm"
    assert sorted(pkg.requires) == ["python3-twisted", "shadow-utils"]
    assert pkg.ints("buildtime") == [int(EPOCH)]
    assert pkg.text("buildhost") == "tap2pkg"


@pytest.mark.parametrize("init", ["sysv"])  # the variant given every option
def test_options_read_back(built: Built) -> None:
    pkg = read_rpm(built.rpm())
    assert pkg.text("summary") == "Echo 100% of it"
    assert pkg.text("description") == LONG.rstrip("\n")  # multi-line, '%' kept
    assert pkg.text("version") == "2.3"
    assert pkg.text("copyright") == "MIT"  # rpmfile's name for the License tag
    assert pkg.text("url") == "https://example.org/echo"
    assert pkg.text("packager") == MAINTAINER
    # Scriptlet dependencies appear once per scriptlet (post, preun, postun).
    assert set(pkg.requires) == {
        "python3-twisted", "python3-service-identity >= 18", "shadow-utils", "chkconfig",
        "initscripts",
    }
    changelog = pkg.texts("authors")  # rpmfile's name for the changelog names
    assert changelog == [f"{MAINTAINER} - 2.3-1"]


def _expected_files(built: Built, sub: str | None) -> dict[str, tuple[int, str, str, int]]:
    user, group = ("echoer", "daemon") if built.init == "systemd,sysv" else (built.name,) * 2
    spec = PackageSpec(
        name=built.name, version=built.version, maintainer="", protocol="", summary="",
        long_description="", app=AppInfo(AppKind.PYTHON, "echo.tac", b"", app_name="echo"),
        app_filename="echo.tac", user=user, group=group, twistd="/usr/bin/twistd",
        init_systems=tuple(built.init.split(",")),
    )
    flags = {Kind.CONFIG: CONFIG | NOREPLACE, Kind.DOC: DOC, Kind.GHOST: GHOST,
             Kind.GHOST_DIR: GHOST}
    kinds = {Kind.DIR: 0o040000, Kind.GHOST_DIR: 0o040000}
    return {
        entry.path(spec): (kinds.get(entry.kind, 0o100000) | entry.mode, entry.owner,
                           entry.group, flags.get(entry.kind, 0))
        for entry in entries(spec) if entry.subpackage == sub
    }


@ALL
def test_file_list_modes_owners_and_flags(built: Built) -> None:
    main = read_rpm(built.rpm()).files()
    assert main == _expected_files(built, None)
    name, user = built.name, "echoer" if built.init == "systemd,sysv" else built.name
    # Spelled out, for the reader:
    assert main[f"/etc/{name}/echo.tac"].flags == CONFIG | NOREPLACE
    assert main[f"/etc/sysconfig/{name}"].flags == CONFIG | NOREPLACE
    assert main[f"/var/lib/{name}"] == (0o040755, user, main[f"/var/lib/{name}"].group, 0)
    assert main[f"/var/lib/{name}/echo-shutdown.tap"].flags == GHOST
    assert (f"/usr/lib/systemd/system/{name}.service" in main) == ("systemd" in built.init)
    init = f"/etc/rc.d/init.d/{name}"
    if built.init == "sysv":
        assert main[init].mode == 0o100755
        assert main[f"/run/{name}/{name}.pid"].flags == GHOST
    if built.init == "systemd,sysv":
        assert init not in main
        sub = read_rpm(built.rpm("sysvinit"))
        sub_files = sub.files()
        assert sub_files == _expected_files(built, rpmfiles.SUBPACKAGE_SYSV)
        assert sub_files[init] == (0o100755, "root", "root", 0)
        assert set(sub.requires) == {f"{name} = {built.version}-1", "chkconfig",
                                     "initscripts"}


@WITH_SYSV
def test_init_script_header(built: Built) -> None:
    pkg = read_rpm(built.rpm("sysvinit" if "systemd" in built.init else ""))
    text = pkg.payload_file(f"/etc/rc.d/init.d/{built.name}").decode()
    assert "\n# chkconfig: 2345 85 15\n" in text
    assert "### BEGIN INIT INFO" in text
    assert f"[ -r /etc/sysconfig/{built.name} ] && . /etc/sysconfig/{built.name}" in text
    assert f"LOCKFILE=/var/lock/subsys/{built.name}\n" in text


@ALL
def test_rpmlint_clean(built: Built, tmp_path: Path) -> None:
    """No errors but no-signature, and no warnings: every silenced message is written down,
    with its reason, in the config kept beside the spec."""
    messages = rpmlint(built.packages, built.lint_config, scratch=tmp_path)
    assert lint_problems(messages) == []
    assert any(": E: no-signature" in line for line in messages)  # rpmlint did run


@ALL
def test_rpmlint_config_gives_a_reason_for_everything(built: Built) -> None:
    text = built.lint_config.read_text(encoding="utf-8")
    tomllib.loads(text)
    lines = text.splitlines()
    for number, line in enumerate(lines):
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", "]", "Filters")):
            above = lines[number - 1].strip()  # a reason, or a setting of the same reason
            assert above.startswith("#") or " = " in above, line


@WITH_SYSV
def test_init_script_passes_rpmlint_init_check(built: Built, tmp_path: Path) -> None:
    """rpmlint's InitScriptCheck (off by default; Fedora's profile has it) on the package
    holding the init script: chkconfig line, LSB block, status, reload, subsys lock."""
    extra = tmp_path / "init-check.toml"
    extra.write_text('Checks = ["InitScriptCheck"]\n', encoding="utf-8")
    package = built.rpm("sysvinit" if "systemd" in built.init else "")
    assert lint_problems(rpmlint([package], built.lint_config, extra, scratch=tmp_path)) == []


def _transactions(pkg: RpmPackage, tmp: Path) -> dict[str, list[str]]:
    scripts = scriptlets_of(pkg)
    return {
        action: run_transaction(action, tmp / action, new=scripts, old=scripts)
        for action in ("install", "upgrade", "erase")
    }


@WITH_SYSTEMD
def test_systemd_scriptlets(built: Built, tmp_path: Path) -> None:
    unit = f"{built.name}.service"
    runs = _transactions(read_rpm(built.rpm()), tmp_path)
    install, upgrade, erase = runs["install"], runs["upgrade"], runs["erase"]
    # Fresh install: creates the user and enables the unit (as presets allow).
    assert f"systemctl --no-reload preset {unit}" in install
    assert any(line.startswith("useradd -r ") for line in install)
    assert not [line for line in install if "stop" in line or "disable" in line]
    # Upgrade: neither stops nor disables, and restarts.
    assert f"systemctl try-restart {unit}" in upgrade
    assert not [line for line in upgrade if " stop " in line or "disable" in line]
    assert not [line for line in upgrade if line.startswith("useradd")]
    # Erase: stops and disables; the user stays.
    assert f"systemctl --no-reload disable {unit}" in erase
    assert f"systemctl stop {unit}" in erase
    assert not [line for line in erase if "preset" in line or "restart" in line]
    assert not [line for line in erase if "userdel" in line or "groupdel" in line]


@WITH_SYSV
def test_sysv_scriptlets(built: Built, tmp_path: Path) -> None:
    name = built.name
    pkg = read_rpm(built.rpm("sysvinit" if "systemd" in built.init else ""))
    runs = _transactions(pkg, tmp_path)
    assert f"chkconfig --add {name}" in runs["install"]
    assert not [line for line in runs["install"] if "--del" in line or " stop" in line]
    # Upgrade keeps the registration and restarts a running service.
    assert f"chkconfig --add {name}" in runs["upgrade"]
    assert f"service {name} condrestart" in runs["upgrade"]
    assert not [line for line in runs["upgrade"] if "--del" in line or " stop" in line]
    # Erase stops it and unregisters the script (in %preun, while it is still there).
    erase = runs["erase"]
    assert erase.index(f"service {name} stop") < erase.index(f"chkconfig --del {name}")
    assert erase.index(f"chkconfig --del {name}") < erase.index("== postun 0")


@ALL
def test_scriptlets_are_valid_sh(built: Built) -> None:
    for path in built.packages:
        if path.name.endswith(".src.rpm"):
            continue
        for name, body in scriptlets_of(read_rpm(path)).items():
            if body is None:
                continue
            proc = subprocess.run(["sh", "-n"], input=body, text=True, capture_output=True,
                                  check=False)
            assert proc.returncode == 0, f"{path.name} %{name}: {proc.stderr}"


# systemd's own macros (src/rpm/macros.systemd.in, systemd 253), with the helper at a
# path the test replaces: the spec must use them where they exist.
SYSTEMD_MACROS = r"""
%_unitdir /usr/lib/systemd/system
%systemd_post() \
if [ $1 -eq 1 ] && [ -x "/usr/lib/systemd/systemd-update-helper" ]; then \
    /usr/lib/systemd/systemd-update-helper install-system-units %{?*} || : \
fi \
%{nil}
%systemd_preun() \
if [ $1 -eq 0 ] && [ -x "/usr/lib/systemd/systemd-update-helper" ]; then \
    /usr/lib/systemd/systemd-update-helper remove-system-units %{?*} || : \
fi \
%{nil}
%systemd_postun_with_restart() \
if [ $1 -ge 1 ] && [ -x "/usr/lib/systemd/systemd-update-helper" ]; then \
    /usr/lib/systemd/systemd-update-helper mark-restart-system-units %{?*} || : \
fi \
%{nil}
"""


def _rpmbuild(argv: list[str], topdir: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["rpmbuild", "--define", f"_topdir {topdir}", *argv],
        capture_output=True, text=True, check=False,
        env={**os.environ, "SOURCE_DATE_EPOCH": EPOCH, "LC_ALL": "C.UTF-8"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def test_spec_uses_the_systemd_macros_where_defined(default: Built, tmp_path: Path) -> None:
    topdir = tmp_path / "rpmbuild"
    shutil.copytree(default.kept, topdir)
    macros = tmp_path / "macros.systemd"
    macros.write_text(SYSTEMD_MACROS, encoding="utf-8")
    _rpmbuild(["-bb", "--load", str(macros), str(topdir / "SPECS/twisted-echo.spec")], topdir)
    pkg = read_rpm(topdir / "RPMS/noarch/twisted-echo-1.0-1.noarch.rpm")
    runs = _transactions(pkg, tmp_path)
    helper = "systemd-update-helper"
    assert f"{helper} install-system-units twisted-echo.service" in runs["install"]
    assert [line for line in runs["upgrade"] if line.startswith(helper)] == [
        f"{helper} mark-restart-system-units twisted-echo.service"
    ]
    assert f"{helper} remove-system-units twisted-echo.service" in runs["erase"]
    assert not [line for line in runs["install"] if line.startswith("systemctl")]


@ALL
def test_rebuild_of_the_srpm_gives_the_same_files(built: Built, tmp_path: Path) -> None:
    topdir = tmp_path / "rpmbuild"
    _rpmbuild(["--rebuild", str(built.srpm)], topdir)
    rebuilt = sorted((topdir / "RPMS" / "noarch").glob("*.rpm"))
    originals = sorted(p for p in built.packages if not p.name.endswith(".src.rpm"))
    assert [p.name for p in rebuilt] == [p.name for p in originals]
    for new, old in zip(rebuilt, originals, strict=True):
        assert read_rpm(new).files() == read_rpm(old).files()
        assert scriptlets_of(read_rpm(new)) == scriptlets_of(read_rpm(old))


def test_edited_kept_spec_rebuilds_and_is_not_overwritten(tmp_path: Path) -> None:
    built = build(tmp_path / "out", "systemd")
    spec = built.kept / "SPECS" / "twisted-echo.spec"
    # A person adds to the changelog and rebuilds, in the kept tree itself.
    with spec.open("a", encoding="utf-8") as f:
        f.write("- Rebuilt by hand after reading the spec.\n")
    _rpmbuild(["-ba", str(spec)], built.kept)
    rebuilt = read_rpm(built.kept / "RPMS/noarch/twisted-echo-1.0-1.noarch.rpm")
    assert "Rebuilt by hand" in rebuilt.texts("comments")[0]
    assert (built.kept / "SRPMS/twisted-echo-1.0-1.src.rpm").is_file()
    # tap2rpm does not overwrite the edit silently...
    assert tap2rpm(["-t", str(FIXTURES / "echo.tac"), "-o", str(built.out), "-q"]) == 1
    assert "Rebuilt by hand" in spec.read_text(encoding="utf-8")
    # ...and with --force moves it aside, leaving rpmbuild's own directories alone.
    assert tap2rpm(["-t", str(FIXTURES / "echo.tac"), "-o", str(built.out), "-q",
                    "--force"]) == 0
    assert "Rebuilt by hand" not in spec.read_text(encoding="utf-8")
    backups = list(built.kept.glob("twisted-echo.bak-*/SPECS/twisted-echo.spec"))
    assert len(backups) == 1
    assert "Rebuilt by hand" in backups[0].read_text(encoding="utf-8")
    assert (built.kept / "SRPMS/twisted-echo-1.0-1.src.rpm").is_file()


def test_unedited_tree_is_regenerated_beside_rpmbuild_output(default: Built, tmp_path: Path
                                                             ) -> None:
    out = tmp_path / "out"
    shutil.copytree(default.out, out)
    _rpmbuild(["-ba", str(out / "rpmbuild/SPECS/twisted-echo.spec")], out / "rpmbuild")
    assert tap2rpm(["-t", str(FIXTURES / "echo.tac"), "-o", str(out), "-q"]) == 0
    assert (out / "rpmbuild/RPMS/noarch/twisted-echo-1.0-1.noarch.rpm").is_file()


@ALL
def test_install_into_a_scratch_root(built: Built, tmp_path: Path) -> None:
    """rpm -i --root --nodeps --noscripts: the files land at their paths with their modes
    (and, when run as root, with the service user's ids from the root's passwd)."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    user, group = ("echoer", "daemon") if built.init == "systemd,sysv" else (built.name,) * 2
    (root / "etc/passwd").write_text(f"root:x:0:0::/root:/bin/sh\n{user}:x:990:991::/:/bin/false\n",
                                     encoding="utf-8")
    (root / "etc/group").write_text(f"root:x:0:\n{group}:x:991:\n", encoding="utf-8")
    rpms = [str(p) for p in built.packages if not p.name.endswith(".src.rpm")]
    proc = subprocess.run(
        ["rpm", "-i", "--root", str(root), "--dbpath", "/var/lib/rpm", "--nodeps",
         "--noscripts", *rpms],
        capture_output=True, text=True, check=False, env={**os.environ, "HOME": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr
    expected = {}
    for path in rpms:
        for name, info in read_rpm(Path(path)).files().items():
            if not info.flags & GHOST:  # created at run time, not by rpm
                expected[name] = info
    for name, info in expected.items():
        st = os.lstat(root / name.lstrip("/"))
        assert st.st_mode == info.mode, name
        if os.geteuid() == 0:
            uids, gids = {"root": 0, user: 990}, {"root": 0, group: 991}
            assert (st.st_uid, st.st_gid) == (uids[info.user], gids[info.group]), name
    name = built.name
    assert (root / f"etc/{name}/echo.tac").read_bytes() == (FIXTURES / "echo.tac").read_bytes()


def test_two_builds_give_the_same_bytes(default: Built, tmp_path: Path) -> None:
    again = build(tmp_path / "elsewhere", "systemd")
    for path in default.packages:
        assert (again.out / path.name).read_bytes() == path.read_bytes(), path.name


@pytest.mark.parametrize(
    ("fixture", "name", "option", "shutdown"),
    [
        ("echopickle.tap", "twisted-echopickle", "--file", "echo-pickle-shutdown.tap"),
        ("echosource.tas", "twisted-echosource", "--source", "echo-source-shutdown.tas"),
    ],
)
def test_tap_and_tas_fixtures(fixture: str, name: str, option: str, shutdown: str,
                              tmp_path: Path) -> None:
    require_rpm_tools()
    out = tmp_path / "out"
    assert tap2rpm(["-t", str(FIXTURES / fixture), "-o", str(out), "-q"]) == 0
    pkg = read_rpm(out / f"{name}-1.0-1.noarch.rpm")
    files = pkg.files()
    assert files[f"/etc/{name}/{fixture}"].flags == CONFIG | NOREPLACE
    assert files[f"/var/lib/{name}/{shutdown}"].flags == GHOST
    unit = pkg.payload_file(f"/usr/lib/systemd/system/{name}.service").decode()
    assert f" {option}=/etc/{name}/{fixture} " in unit
    assert pkg.payload_file(f"/etc/{name}/{fixture}") == (FIXTURES / fixture).read_bytes()
    messages = rpmlint(sorted(out.glob("*.rpm")),
                       out / "rpmbuild" / "SPECS" / f"{name}.rpmlint.toml", scratch=tmp_path)
    assert lint_problems(messages) == []

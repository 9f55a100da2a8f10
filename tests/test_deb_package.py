"""The .deb read back with python-debian; lintian; and dpkg-buildpackage on the emitted
source package giving an equivalent .deb whose maintainer scripts make the same calls."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from debian.debfile import DebFile

from tap2pkg.backends.debian.binary import compression
from tap2pkg.cli import tap2deb_main
from tests.conftest import EPOCH, FIXTURES, MAINTAINER, require_tool
from tests.maintscripts import SEQUENCES, run_sequence

pytestmark = pytest.mark.slow
PKG = "twisted-echo"
SCRIPTS = ("preinst", "postinst", "prerm", "postrm")


@dataclass(frozen=True)
class Built:
    out: Path
    deb: Path
    source_dir: Path


def _build(tmp: Path, *args: str) -> Built:
    require_tool("dpkg-deb", "dpkg-source")
    out = tmp / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOURCE_DATE_EPOCH", EPOCH)
        code = tap2deb_main(
            ["-t", str(FIXTURES / "echo.tac"), "-m", MAINTAINER, "-o", str(out), "-q", *args]
        )
    assert code == 0
    return Built(out, out / f"{PKG}_1.0_all.deb", out / f"{PKG}-1.0")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return _build(tmp_path_factory.mktemp("deb"))


@pytest.fixture(scope="module")
def rebuilt(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _rebuild(built, tmp_path_factory)


@pytest.fixture(scope="module")
def systemd_only(tmp_path_factory: pytest.TempPathFactory) -> tuple[Built, Path]:
    """A --init systemd package, and dpkg-buildpackage's rebuild of its source."""
    built = _build(tmp_path_factory.mktemp("deb-systemd"), "--init", "systemd")
    return built, _rebuild(built, tmp_path_factory)


def _rebuild(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dpkg-buildpackage -us -uc -b on a copy of the emitted source package."""
    require_tool("dpkg-buildpackage", "dh", "fakeroot")
    work = tmp_path_factory.mktemp("rebuild")
    tree = work / built.source_dir.name
    shutil.copytree(built.source_dir, tree, symlinks=True)
    proc = subprocess.run(
        ["dpkg-buildpackage", "-us", "-uc", "-b"],
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "SOURCE_DATE_EPOCH": EPOCH},
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return work / f"{PKG}_1.0_all.deb"


def _members(deb: Path) -> dict[str, tuple[str, int, str, str]]:
    """path -> (type, mode, owner, group) of every member of the data archive."""
    result = {}
    with DebFile(str(deb)) as pkg:
        archive: tarfile.TarFile = pkg.data.tgz()
        for m in archive.getmembers():
            kind = "d" if m.isdir() else "f" if m.isfile() else "l"
            result[m.name.removeprefix("./").rstrip("/") or "."] = (
                kind, m.mode, m.uname, m.gname,
            )
    return result


def _scripts(deb: Path) -> dict[str, str]:
    with DebFile(str(deb)) as pkg:
        return {
            name: pkg.control.get_content(name, encoding="utf-8")
            for name in SCRIPTS
            if name in pkg.control
        }


def test_control_fields(built: Built) -> None:
    with DebFile(str(built.deb)) as pkg:
        control = pkg.debcontrol()
    assert control["Package"] == PKG
    assert control["Version"] == "1.0"
    assert control["Architecture"] == "all"
    assert control["Maintainer"] == MAINTAINER
    assert control["Depends"] == "python3-twisted, adduser"
    assert control["Pre-Depends"] == "init-system-helpers (>= 1.54~)"
    assert control["Description"].splitlines() == [
        "A Twisted-based server for echo",
        " Automatically created by tap2deb",
    ]


def test_conffiles_are_everything_under_etc(built: Built) -> None:
    with DebFile(str(built.deb)) as pkg:
        conffiles = pkg.control.get_content("conffiles", encoding="utf-8").split()
    assert conffiles == [
        f"/etc/default/{PKG}",
        f"/etc/init.d/{PKG}",
        f"/etc/{PKG}/echo.tac",
    ]


def test_file_list_modes_and_owners(built: Built) -> None:
    members = _members(built.deb)
    files = {p: (k, oct(m)) for p, (k, m, _u, _g) in members.items() if k == "f"}
    assert files == {
        f"etc/{PKG}/echo.tac": ("f", "0o644"),
        f"etc/default/{PKG}": ("f", "0o644"),
        f"etc/init.d/{PKG}": ("f", "0o755"),
        f"lib/systemd/system/{PKG}.service": ("f", "0o644"),
        f"usr/share/doc/{PKG}/changelog.gz": ("f", "0o644"),
        f"usr/share/doc/{PKG}/copyright": ("f", "0o644"),
        f"usr/share/lintian/overrides/{PKG}": ("f", "0o644"),
        f"usr/libexec/{PKG}/ready": ("f", "0o755"),
    }
    assert {(u, g) for _k, _m, u, g in members.values()} == {("root", "root")}
    assert members[f"var/lib/{PKG}"][:2] == ("d", 0o755)
    # Logs go to the journal (systemd) or syslog (SysV): no log directory to own.
    assert f"var/log/{PKG}" not in members


def test_maintainer_scripts_are_valid_sh(built: Built) -> None:
    scripts = _scripts(built.deb)
    assert set(scripts) == set(SCRIPTS)
    for name, text in scripts.items():
        assert text.startswith("#!/bin/sh\n"), name
        assert "\nset -e\n" in text, name
        assert "#DEBHELPER#" not in text, name
        proc = subprocess.run(["sh", "-n"], input=text, text=True, capture_output=True,
                              check=False)
        assert proc.returncode == 0, f"{name}: {proc.stderr}"


def _lintian(*paths: Path) -> list[str]:
    require_tool("lintian")
    proc = subprocess.run(
        ["lintian", "--pedantic", "--display-info", *map(str, paths)],
        capture_output=True, text=True, check=False,
    )
    lines = proc.stdout.splitlines()
    # E: errors, W: warnings; I: (info) and P: (pedantic) are allowed.
    return [line for line in lines if line[:2] in ("E:", "W:")]


def test_lintian_clean_deb_and_source(built: Built) -> None:
    dsc = built.out / f"{PKG}_1.0.dsc"
    assert _lintian(built.deb, dsc) == []


def test_long_app_file_name_keeps_the_changelog_in_80_columns(tmp_path: Path) -> None:
    """The changelog entry names the app file; a long name is wrapped as dch wraps, so
    lintian has no debian-changelog-line-too-long (found on the Twisted docs' files)."""
    require_tool("dpkg-deb", "lintian")
    app = tmp_path / "core__howto__tutorial__listings__finger__organized-finger.tac"
    app.write_bytes((FIXTURES / "echo.tac").read_bytes())
    out = tmp_path / "out"
    assert tap2deb_main(["-t", str(app), "-m", MAINTAINER, "-o", str(out), "-q",
                         "-d", "tw-finger", "-e", "Finger service"]) == 0
    changelog = (out / "tw-finger-1.0" / "debian" / "changelog").read_text()
    assert "  * Created by tap2deb from\n    core__howto__" in changelog
    assert max(len(line) for line in changelog.splitlines()) <= 80
    assert _lintian(next(out.glob("*.deb")), next(out.glob("*.dsc"))) == []


def test_dpkg_buildpackage_gives_the_same_files_and_conffiles(built: Built, rebuilt: Path) -> None:
    ours, theirs = _members(built.deb), _members(rebuilt)
    assert ours == theirs
    with DebFile(str(built.deb)) as a, DebFile(str(rebuilt)) as b:
        for name in ("conffiles",):
            assert a.control.get_content(name) == b.control.get_content(name)
        assert a.debcontrol() == b.debcontrol()


@pytest.mark.parametrize("systemd_host", [True, False], ids=["systemd-host", "sysv-host"])
@pytest.mark.parametrize("action", sorted(SEQUENCES))
def test_maintainer_scripts_make_the_same_calls_as_debhelpers(
    built: Built, rebuilt: Path, tmp_path: Path, action: str, systemd_host: bool
) -> None:
    ours = run_sequence(_scripts(built.deb), action, tmp_path / "ours",
                        package=PKG, systemd_host=systemd_host)
    theirs = run_sequence(_scripts(rebuilt), action, tmp_path / "dh",
                          package=PKG, systemd_host=systemd_host)
    assert ours == theirs
    calls = [line for line in ours if not line.startswith("==")]
    unit = f"{PKG}.service"
    if action == "install":
        assert f"update-rc.d {PKG} defaults" in calls
        assert f"deb-systemd-helper enable {unit}" in calls
        assert "adduser --system --quiet --ingroup _twisted-echo --home /var/lib/twisted-echo " \
               "--no-create-home --shell /usr/sbin/nologin _twisted-echo" in calls
        started = (f"deb-systemd-invoke start {unit}" if systemd_host
                   else f"invoke-rc.d --skip-systemd-native {PKG} start")
        assert started in calls
        assert f"chown _twisted-echo:_twisted-echo /var/lib/{PKG}" in calls
        assert not [c for c in calls if c.startswith("chown -R")]
    if action == "upgrade":
        assert not [c for c in calls if " stop" in c], "an upgrade must not stop the service"
        restarted = (f"deb-systemd-invoke restart {unit}" if systemd_host
                     else f"invoke-rc.d --skip-systemd-native {PKG} restart")
        assert restarted in calls
    if action == "remove":
        stopped = (f"deb-systemd-invoke stop {unit}" if systemd_host
                   else f"invoke-rc.d --skip-systemd-native {PKG} stop")
        assert stopped in calls
        assert not [c for c in calls if "purge" in c or "update-rc.d" in c]
    if action == "purge":
        assert f"update-rc.d {PKG} remove" in calls
        assert f"deb-systemd-helper purge {unit}" in calls
        assert f"rm -rf /var/lib/{PKG} /var/log/{PKG} /run/{PKG}" in calls


@pytest.mark.parametrize("action", sorted(SEQUENCES))
def test_systemd_only_scripts_make_the_same_calls_as_debhelpers(
    systemd_only: tuple[Built, Path], tmp_path: Path, action: str
) -> None:
    """The maintscript snippets (rm_conffile of an earlier init script) sit where
    dh_installdeb puts them, and a failed start fails the postinst on a systemd host."""
    built, rebuilt = systemd_only
    assert _members(built.deb) == _members(rebuilt)
    ours = run_sequence(_scripts(built.deb), action, tmp_path / "ours",
                        package=PKG, systemd_host=True)
    theirs = run_sequence(_scripts(rebuilt), action, tmp_path / "dh",
                          package=PKG, systemd_host=True)
    assert ours == theirs
    calls = [line for line in ours if not line.startswith("==")]
    assert f"dpkg-maintscript-helper rm_conffile /etc/init.d/{PKG} 1.0~ --" in " ".join(calls)
    if action in ("install", "upgrade"):
        # the confirming start comes after debhelper's start/restart
        assert calls[-1] == f"deb-systemd-invoke start {PKG}.service"


def test_two_builds_give_the_same_bytes(built: Built, tmp_path: Path) -> None:
    again = _build(tmp_path)
    for name in (f"{PKG}_1.0_all.deb", f"{PKG}_1.0.dsc", f"{PKG}_1.0.tar.xz"):
        assert (again.out / name).read_bytes() == (built.out / name).read_bytes(), name


def test_small_package_is_gzip_large_one_xz(built: Built) -> None:
    """A small package's data and control are gzip -9 (xz would save a few hundred bytes
    for twice dpkg-deb's time); the compressor switches to xz, dpkg's default, past 1 MiB
    of files (a bundle: tests/test_bundle_package.py builds one)."""
    members = subprocess.run(["ar", "t", str(built.deb)], capture_output=True, text=True,
                             check=True).stdout.split()
    assert members == ["debian-binary", "control.tar.gz", "data.tar.gz"]
    assert compression(1 << 20) == ["-Zgzip", "-z9"]
    assert compression((1 << 20) + 1) == ["-Zxz"]


def test_systemd_only_package_has_no_init_script(tmp_path: Path) -> None:
    result = _build(tmp_path, "--init", "systemd")
    members = _members(result.deb)
    assert f"etc/init.d/{PKG}" not in members
    assert f"lib/systemd/system/{PKG}.service" in members
    assert f"usr/lib/systemd/system/{PKG}.service" not in members
    scripts = _scripts(result.deb)
    # An init script an earlier version shipped is an obsolete conffile: removed as
    # debhelper's maintscript support does, and its rc links with it.
    helper = f"dpkg-maintscript-helper rm_conffile /etc/init.d/{PKG} 1.0\\~ -- \"$@\""
    for name in ("preinst", "postinst", "prerm", "postrm"):
        assert helper in scripts[name], name
    assert (result.source_dir / f"debian/{PKG}.maintscript").read_text() == \
        f"rm_conffile /etc/init.d/{PKG} 1.0~\n"
    assert f"update-rc.d {PKG} remove" in scripts["postinst"]
    assert "update-rc.d" not in scripts["postrm"]
    assert _lintian(result.deb) == []


def test_debian_13_puts_the_unit_under_usr(tmp_path: Path) -> None:
    """trixie's lintian calls /lib an aliased location; debhelper >= 13.11.8 installs
    units under /usr/lib, and so does the .deb made for --target debian-13."""
    result = _build(tmp_path, "--target", "debian-13")
    members = _members(result.deb)
    assert f"usr/lib/systemd/system/{PKG}.service" in members
    assert not [p for p in members if p.startswith("lib/")]
    control = (result.source_dir / "debian/control").read_text()
    assert "Build-Depends: debhelper-compat (= 13)" in control


def test_dpkg_source_extracts_the_source_package(built: Built, tmp_path: Path) -> None:
    """The .dsc and tarball tap2deb writes are what dpkg-source -b would make: dpkg-source
    -x checks them and unpacks exactly the emitted tree (without tap2pkg's manifest)."""
    require_tool("dpkg-source")
    target = tmp_path / "x"
    proc = subprocess.run(
        ["dpkg-source", "--no-check", "-x", str(built.out / f"{PKG}_1.0.dsc"), str(target)],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run(["dpkg-source", "-x", str(built.out / f"{PKG}_1.0.dsc"),
                           str(tmp_path / "checked")], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr  # checksums verified
    extracted = {p.relative_to(target).as_posix(): (p.read_bytes(), p.stat().st_mode & 0o777)
                 for p in target.rglob("*") if p.is_file()}
    emitted = {p.relative_to(built.source_dir).as_posix():
               (p.read_bytes(), p.stat().st_mode & 0o777)
               for p in built.source_dir.rglob("*") if p.is_file()}
    emitted.pop(".tap2pkg-manifest.json")
    assert extracted == emitted

"""Debian packages ready to upload: the .changes and .buildinfo beside the .dsc and .deb
are what dput and reprepro accept; -V with a Debian revision makes a 3.0 (quilt) source
package with an .orig.tar.xz that dpkg-source unpacks; the manifest tap2pkg keeps in the
source tree never lands in a tarball dpkg-source -b makes of it; --sign signs the set."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from debian.deb822 import BuildInfo, Changes, Dsc

from tap2pkg.cli import tap2deb_main
from tap2pkg.tree import MANIFEST
from tests.conftest import EPOCH, FIXTURES, MAINTAINER, gnupg_home, require_tool

pytestmark = pytest.mark.slow
PKG = "twisted-echo"
KEY = "tap2pkg upload test <upload@tap2pkg.invalid>"


def _build(out: Path, *args: str) -> None:
    require_tool("dpkg-deb", "dpkg-source")
    with pytest.MonkeyPatch.context() as mp:  # module fixtures run before the autouse one
        mp.setenv("SOURCE_DATE_EPOCH", EPOCH)
        code = tap2deb_main(["-t", str(FIXTURES / "echo.tac"), "-m", MAINTAINER, "-o",
                             str(out), "-q", *args])
    assert code == 0


@pytest.fixture(scope="module")
def native(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("native")
    _build(out)
    return out


@pytest.fixture(scope="module")
def quilt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("quilt")
    _build(out, "-V", "2:1.0-1")
    return out


def _run(argv: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)


def test_native_upload_set(native: Path) -> None:
    names = sorted(p.name for p in native.iterdir())
    assert names == [f"{PKG}-1.0", f"{PKG}_1.0.dsc", f"{PKG}_1.0.tar.xz",
                     f"{PKG}_1.0_all.buildinfo", f"{PKG}_1.0_all.changes",
                     f"{PKG}_1.0_all.deb"]
    with (native / f"{PKG}_1.0_all.changes").open() as f:
        changes = Changes(f)
    assert changes["Distribution"] == "unstable"
    assert changes["Architecture"] == "source all"
    assert sorted(item["name"] for item in changes["Files"]) == sorted(
        n for n in names if n.endswith((".dsc", ".tar.xz", ".deb", ".buildinfo")))
    with (native / f"{PKG}_1.0_all.buildinfo").open() as f:
        info = BuildInfo(f)
    assert info["Build-Date"] == "Tue, 14 Nov 2023 22:13:20 +0000"  # SOURCE_DATE_EPOCH
    assert [item["name"] for item in info["Checksums-Sha256"]] == [
        f"{PKG}_1.0.dsc", f"{PKG}_1.0_all.deb"]


def test_quilt_source_package(quilt: Path, tmp_path: Path) -> None:
    """-V 2:1.0-1: an upstream tarball with the app file, debian/ apart; no epoch in
    file names; dpkg-source -x unpacks it."""
    with (quilt / f"{PKG}_1.0-1.dsc").open() as f:
        dsc = Dsc(f)
    assert dsc["Format"] == "3.0 (quilt)"
    assert dsc["Version"] == "2:1.0-1"
    assert [item["name"] for item in dsc["Files"]] == [f"{PKG}_1.0.orig.tar.xz",
                                                        f"{PKG}_1.0-1.debian.tar.xz"]
    with tarfile.open(quilt / f"{PKG}_1.0.orig.tar.xz") as tar:
        names = tar.getnames()
    # The application file and the rest of what is not debian/ (not the manifest).
    assert f"{PKG}-1.0/echo.tac" in names
    assert all(n.startswith(f"{PKG}-1.0") for n in names)
    assert not [n for n in names if "/debian" in n or n.endswith(MANIFEST)]
    with tarfile.open(quilt / f"{PKG}_1.0-1.debian.tar.xz") as tar:
        assert all(n == "debian" or n.startswith("debian/") for n in tar.getnames())
    unpack = _run(["dpkg-source", "-x", str(quilt / f"{PKG}_1.0-1.dsc"),
                   str(tmp_path / "x")])
    assert unpack.returncode == 0, unpack.stdout + unpack.stderr
    assert (tmp_path / "x/echo.tac").read_bytes() == (FIXTURES / "echo.tac").read_bytes()
    assert (tmp_path / "x/debian/source/format").read_text() == "3.0 (quilt)\n"
    with (quilt / f"{PKG}_1.0-1_all.changes").open() as f:
        assert Changes(f)["Version"] == "2:1.0-1"


def test_quilt_binary_changelog_is_changelog_debian(quilt: Path) -> None:
    listing = _run(["dpkg-deb", "-c", str(quilt / f"{PKG}_1.0-1_all.deb")]).stdout
    assert f"usr/share/doc/{PKG}/changelog.Debian.gz" in listing


@pytest.mark.parametrize("fixture", ["native", "quilt"])
def test_dput_accepts_the_changes(fixture: str, request: pytest.FixtureRequest,
                                  tmp_path: Path) -> None:
    require_tool("dput")
    out: Path = request.getfixturevalue(fixture)
    config = tmp_path / "dput.cf"
    config.write_text(f"[local]\nmethod = local\nincoming = {tmp_path / 'incoming'}\n"
                      "allow_unsigned_uploads = 1\n")
    (tmp_path / "incoming").mkdir()
    changes = next(out.glob("*.changes"))
    proc = _run(["dput", "-c", str(config), "--simulate", "--unchecked", "local",
                 str(changes)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Simulated upload" in proc.stdout + proc.stderr


@pytest.mark.parametrize("fixture", ["native", "quilt"])
def test_reprepro_includes_the_changes(fixture: str, request: pytest.FixtureRequest,
                                       tmp_path: Path) -> None:
    require_tool("reprepro")
    out: Path = request.getfixturevalue(fixture)
    repo = tmp_path / "repo"
    (repo / "conf").mkdir(parents=True)
    (repo / "conf/distributions").write_text(
        "Codename: unstable\nArchitectures: source amd64 arm64\nComponents: main\n")
    changes = next(out.glob("*.changes"))
    proc = _run(["reprepro", "-b", str(repo), "include", "unstable", str(changes)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    listed = _run(["reprepro", "-b", str(repo), "list", "unstable"]).stdout
    version = "2:1.0-1" if fixture == "quilt" else "1.0"
    assert f"unstable|main|source: {PKG} {version}" in listed
    assert f"unstable|main|amd64: {PKG} {version}" in listed


def test_lintian_is_quiet_about_the_upload(quilt: Path) -> None:
    require_tool("lintian")
    proc = _run(["lintian", "--pedantic", str(next(quilt.glob("*.changes")))])
    tags = [line for line in proc.stdout.splitlines() if line[:2] in ("E:", "W:")]
    assert tags == []


@pytest.mark.parametrize("fixture", ["native", "quilt"])
def test_dpkg_source_build_leaves_the_manifest_out(fixture: str,
                                                   request: pytest.FixtureRequest,
                                                   tmp_path: Path) -> None:
    """A user who builds the emitted tree with dpkg-source -b ships no tap2pkg manifest."""
    out: Path = request.getfixturevalue(fixture)
    tree = tmp_path / f"{PKG}-1.0"
    shutil.copytree(out / f"{PKG}-1.0", tree)
    assert (tree / MANIFEST).exists()
    for orig in out.glob("*.orig.tar.xz"):
        shutil.copy(orig, tmp_path)
    proc = _run(["dpkg-source", "-b", tree.name], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    built = [p for p in tmp_path.glob("*.tar.xz") if not p.name.endswith(".orig.tar.xz")]
    assert built
    for tarball in built:
        with tarfile.open(tarball) as tar:
            assert not [n for n in tar.getnames() if n.endswith(MANIFEST)]


@pytest.fixture(scope="module")
def gnupghome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with gnupg_home(tmp_path_factory, KEY) as home:
        yield home


def test_signed_upload_verifies(gnupghome: Path, tmp_path: Path) -> None:
    """--sign signs the .dsc, .buildinfo and .changes, as debsign does; dput's own
    signature check passes."""
    require_tool("dput")
    out = tmp_path / "out"
    _build(out, "-V", "1.0-1", "--sign", "upload@tap2pkg.invalid")
    env = {**os.environ, "GNUPGHOME": str(gnupghome)}
    for suffix in (".dsc", "_all.buildinfo", "_all.changes"):
        signed = out / f"{PKG}_1.0-1{suffix}"
        assert signed.read_text().startswith("-----BEGIN PGP SIGNED MESSAGE-----")
        verify = subprocess.run(["gpg", "--verify", str(signed)], capture_output=True,
                                text=True, check=False, env=env)
        assert verify.returncode == 0, verify.stderr
    config = tmp_path / "dput.cf"
    config.write_text(f"[local]\nmethod = local\nincoming = {tmp_path}\n")
    proc = subprocess.run(["dput", "-c", str(config), "--simulate", "local",
                           str(out / f"{PKG}_1.0-1_all.changes")], capture_output=True,
                          text=True, check=False, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "changes: Valid signature" in proc.stderr


@pytest.mark.parametrize(("target", "distribution"), [("ubuntu-24.04", "noble"),
                                                      ("ubuntu-22.04", "jammy"),
                                                      ("debian-13", "unstable")])
def test_distribution_is_what_the_archive_takes(target: str, distribution: str,
                                                 tmp_path: Path) -> None:
    """Launchpad takes only a series name; Debian's archive "unstable"."""
    _build(tmp_path, "--target", target)
    with next(tmp_path.glob("*.changes")).open() as f:
        assert Changes(f)["Distribution"] == distribution
    changelog = (tmp_path / f"{PKG}-1.0/debian/changelog").read_text()
    assert changelog.startswith(f"{PKG} (1.0) {distribution}; urgency=medium\n")


def test_quilt_source_rebuilds_with_dpkg_buildpackage(quilt: Path, tmp_path: Path) -> None:
    """What a distribution's builder does with the upload: unpack the .dsc and run
    dpkg-buildpackage; the .deb it makes has the same files, modes and owners as ours."""
    require_tool("dpkg-buildpackage", "dh", "fakeroot")
    unpack = _run(["dpkg-source", "-x", str(quilt / f"{PKG}_1.0-1.dsc"), str(tmp_path / "src")])
    assert unpack.returncode == 0, unpack.stdout + unpack.stderr
    proc = subprocess.run(["dpkg-buildpackage", "-us", "-uc"], cwd=tmp_path / "src",
                          capture_output=True, text=True, check=False,
                          env={**os.environ, "SOURCE_DATE_EPOCH": EPOCH})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]

    def listing(deb: Path) -> list[tuple[str, ...]]:
        out = _run(["dpkg-deb", "-c", str(deb)]).stdout
        return sorted((f[0], f[1], f[5]) for f in (line.split() for line in out.splitlines()))

    rebuilt = tmp_path / f"{PKG}_1.0-1_all.deb"
    assert listing(rebuilt) == listing(quilt / f"{PKG}_1.0-1_all.deb")

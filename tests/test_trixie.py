"""Debian 13 (trixie) checks run with trixie's own tools, in the cached Debian 13 root
(tests/nspawn.py, entered with chroot): lintian reports nothing on the .deb and .dsc built
with --target debian-13, and trixie's dpkg-buildpackage rebuilds the emitted source into a
.deb with the same files, modes, conffiles, control fields and maintainer-script calls as
the one tap2deb made directly.  (The service itself under trixie's systemd is proven by
tests/test_lifecycle_systemd.py.)

Needs root and debootstrap (the root is made once and cached in ~/.cache/tap2pkg).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from debian.debfile import DebFile

from tap2pkg.cli import tap2deb_main
from tests.conftest import EPOCH, FIXTURES, MAINTAINER, require_tool
from tests.maintscripts import SEQUENCES, run_sequence
from tests.nspawn import TIMINGS, ToolRoot, show_summary, trixie_root
from tests.servicecheck import require_root
from tests.test_deb_package import _members, _scripts

pytestmark = [pytest.mark.slow, pytest.mark.lifecycle]
APPS = {"echo.tac": "twisted-echo", "privileged.tac": "twisted-privileged",
        "echopickle.tap": "twisted-echopickle"}


@dataclass(frozen=True)
class Built:
    pkg: str
    out: Path
    deb: Path
    dsc: Path
    source_dir: Path


@pytest.fixture(scope="module")
def trixie(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[ToolRoot]:
    require_root()
    require_tool("debootstrap", "chroot")
    show_summary(request.config)
    with trixie_root(tmp_path_factory.mktemp("trixie")) as root:
        yield root


@pytest.fixture(scope="module", params=sorted(APPS))
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Built:
    app: str = request.param
    pkg = APPS[app]
    out = tmp_path_factory.mktemp("deb13") / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOURCE_DATE_EPOCH", EPOCH)
        code = tap2deb_main(["-t", str(FIXTURES / app), "-m", MAINTAINER, "-o", str(out),
                             "-q", "--target", "debian-13"])
    assert code == 0
    return Built(pkg, out, out / f"{pkg}_1.0_all.deb", out / f"{pkg}_1.0.dsc",
                 out / f"{pkg}-1.0")


def test_lintian_of_trixie_reports_nothing(trixie: ToolRoot, built: Built) -> None:
    where = f"/srv/lint-{built.pkg}"
    for path in (built.deb, built.dsc, *built.out.glob(f"{built.pkg}_1.0.*")):
        trixie.copy_in(path, where)
    proc = trixie.run("lintian", "--pedantic", "--display-info",
                      f"{where}/{built.deb.name}", f"{where}/{built.dsc.name}", check=False)
    # E: errors, W: warnings; I: (info) and P: (pedantic) are allowed.
    found = [line for line in proc.stdout.splitlines() if line[:2] in ("E:", "W:")]
    assert found == [], proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stdout + proc.stderr
    version = trixie.run("dpkg-query", "-W", "-f=${Version}", "lintian").stdout
    assert version.startswith("2.12"), version  # trixie's, not the host's 2.116


@pytest.fixture(scope="module")
def rebuilt(trixie: ToolRoot, built: Built) -> Path:
    """Trixie's dpkg-buildpackage -us -uc -b on a copy of the emitted source package."""
    import time
    where = f"/srv/build-{built.pkg}"
    trixie.copy_in(built.source_dir, where)
    started = time.monotonic()
    # -d: the root has debhelper, dpkg-dev and fakeroot, not the compilers build-essential
    # pulls in, which an Architecture: all package never uses.
    trixie.run("env", f"SOURCE_DATE_EPOCH={EPOCH}", "dpkg-buildpackage", "-us", "-uc", "-b",
               "-d",
               cwd=f"{where}/{built.source_dir.name}")
    TIMINGS[f"trixie dpkg-buildpackage {built.pkg}"] = time.monotonic() - started
    deb = trixie.file(f"{where}/{built.deb.name}")
    assert deb.is_file()
    kept = built.out.parent / "trixie-rebuilt.deb"
    shutil.copy2(deb, kept)
    return kept


def test_trixie_rebuild_gives_the_same_files_modes_and_conffiles(built: Built,
                                                                  rebuilt: Path) -> None:
    assert _members(built.deb) == _members(rebuilt)
    with DebFile(str(built.deb)) as ours, DebFile(str(rebuilt)) as theirs:
        assert ours.control.get_content("conffiles") == theirs.control.get_content("conffiles")
        assert ours.debcontrol() == theirs.debcontrol()
    # Units where debhelper >= 13.11.8 puts them.
    assert f"usr/lib/systemd/system/{built.pkg}.service" in _members(rebuilt)


@pytest.mark.parametrize("systemd_host", [True, False], ids=["systemd-host", "sysv-host"])
@pytest.mark.parametrize("action", sorted(SEQUENCES))
def test_trixie_rebuild_maintainer_scripts_make_the_same_calls(
    built: Built, rebuilt: Path, tmp_path: Path, action: str, systemd_host: bool
) -> None:
    ours = run_sequence(_scripts(built.deb), action, tmp_path / "ours",
                        package=built.pkg, systemd_host=systemd_host)
    theirs = run_sequence(_scripts(rebuilt), action, tmp_path / "dh",
                          package=built.pkg, systemd_host=systemd_host)
    assert ours == theirs
    assert [c for c in ours if not c.startswith("==")], "the scripts made no calls"

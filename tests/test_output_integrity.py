"""An existing output directory is not trusted: a tampered manifest, or a symbolic link
where tap2pkg expects its own directory or file, is refused with one line (exit 2), and
nothing outside the output directory is read, moved, written or deleted."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from tap2pkg.cli import tap2deb_main, tap2rpm_main
from tests.conftest import FIXTURES, MAINTAINER

TREE = "twisted-echo-1.0"  # the Debian source tree tap2deb writes for echo.tac
DEB_MANIFEST = ".tap2pkg-manifest.json"
RPM_MANIFEST = ".tap2pkg-manifest-twisted-echo.json"
SPEC = "SPECS/twisted-echo.spec"
TARBALL = "SOURCES/twisted-echo-1.0.tar.gz"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A directory outside the output directory, standing for /etc."""
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (etc / "shadow").write_text("root:$6$secret:19000::::::\n")
    return etc


def state(root: Path) -> dict[str, tuple[str, bytes]]:
    """Everything under root, links not followed: what an attack must leave as it was."""
    seen: dict[str, tuple[str, bytes]] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            seen[rel] = ("link", os.readlink(path).encode())
        elif path.is_file():
            seen[rel] = (oct(path.stat().st_mode), path.read_bytes())
        else:
            seen[rel] = (oct(path.stat().st_mode), b"")
    return seen


def write_manifest(path: Path, entries: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entries))


def run(main: object, out: Path, *, force: bool = True) -> int:
    """tap2deb/tap2rpm, with --force unless told: no hand-edit guard stops an attack."""
    assert callable(main)
    code = main(["-t", str(FIXTURES / "echo.tac"), "-m", MAINTAINER, "-o", str(out), "-q",
                 *(["--force"] if force else [])])
    assert isinstance(code, int)
    return code


def refused(capsys: pytest.CaptureFixture[str], prog: str, *words: str) -> str:
    err = capsys.readouterr().err
    assert err.startswith(f"{prog}: error: ") and err.endswith("\n"), err
    assert err.count("\n") == 1, err  # one line, no traceback
    for word in words:
        assert word in err, err
    return err


# ---- the Debian source tree ----


@pytest.mark.parametrize("named", ["absolute", "dotdot"])
def test_deb_manifest_naming_a_file_outside_is_refused(
    tmp_path: Path, victim: Path, capsys: pytest.CaptureFixture[str], named: str
) -> None:
    out = tmp_path / "out"
    passwd = victim / "passwd"
    name = str(passwd) if named == "absolute" else "../../etc/passwd"
    write_manifest(out / TREE / DEB_MANIFEST, {name: digest(passwd)})
    before, kept = state(victim), state(out)
    assert run(tap2deb_main, out) == 2
    refused(capsys, "tap2deb", DEB_MANIFEST, repr(name), "not a relative path inside")
    assert state(victim) == before
    assert state(out) == kept


def test_symlinked_source_tree_is_refused(
    tmp_path: Path, victim: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The link leads to a tree that looks like ours, manifest and all.
    write_manifest(victim / DEB_MANIFEST, {"passwd": digest(victim / "passwd")})
    out = tmp_path / "out"
    out.mkdir()
    (out / TREE).symlink_to(victim)
    before = state(victim)
    assert run(tap2deb_main, out) == 2
    refused(capsys, "tap2deb", str(out / TREE), "is a symbolic link")
    assert state(victim) == before
    assert (out / TREE).is_symlink()
    assert not list(out.glob("*.deb"))


@pytest.mark.parametrize("swapped", ["debian/rules", "debian"])
def test_symlink_swapped_in_for_a_listed_file_is_refused(
    tmp_path: Path, victim: Path, capsys: pytest.CaptureFixture[str], swapped: str
) -> None:
    out = tmp_path / "out"
    tree = out / TREE
    write_manifest(tree / DEB_MANIFEST, {"debian/rules": digest(victim / "passwd"),
                                         "debian/control": "0" * 64})
    (tree / swapped).parent.mkdir(parents=True, exist_ok=True)
    (tree / swapped).symlink_to(victim / "passwd" if swapped == "debian/rules" else victim)
    before = state(victim)
    assert run(tap2deb_main, out) == 2
    refused(capsys, "tap2deb", str(tree / swapped), "is a symbolic link")
    assert state(victim) == before
    assert (tree / swapped).is_symlink()


def test_fifo_in_the_source_tree_does_not_hang_the_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    tree = out / TREE
    write_manifest(tree / DEB_MANIFEST, {"debian/control": "0" * 64})
    (tree / "debian").mkdir()
    os.mkfifo(tree / "debian" / "rules")  # not listed: an addition, never opened
    assert run(tap2deb_main, out, force=False) != 0  # the hand-edit guard, not a hang
    err = capsys.readouterr().err
    assert "edited by hand (debian/control, debian/rules)" in err
    # Listed: refused as what it is, without opening it.
    os.unlink(tree / "debian" / "rules")
    os.mkfifo(tree / "debian" / "control")
    assert run(tap2deb_main, out) == 2
    refused(capsys, "tap2deb", "debian/control", "not a regular file")


@pytest.mark.parametrize("content", ["[1, 2]", '{"debian/rules": "not a digest"}', "{"])
def test_deb_manifest_that_is_not_ours_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    out = tmp_path / "out"
    (out / TREE).mkdir(parents=True)
    (out / TREE / DEB_MANIFEST).write_text(content)
    assert run(tap2deb_main, out) == 2
    refused(capsys, "tap2deb", "not a manifest written by tap2pkg")


# ---- the kept rpmbuild/ tree ----


@pytest.mark.parametrize("named", ["absolute", "dotdot"])
def test_rpm_manifest_naming_a_file_outside_is_refused(
    tmp_path: Path, victim: Path, capsys: pytest.CaptureFixture[str], named: str
) -> None:
    # Listed with its true digest and not generated any more: tap2rpm 0.1 deleted it.
    out = tmp_path / "out"
    passwd = victim / "passwd"
    name = str(passwd) if named == "absolute" else "../../etc/passwd"
    write_manifest(out / "rpmbuild" / RPM_MANIFEST, {name: digest(passwd)})
    before, kept = state(victim), state(out)
    assert run(tap2rpm_main, out) == 2
    refused(capsys, "tap2rpm", RPM_MANIFEST, repr(name), "not a relative path inside")
    assert state(victim) == before
    assert state(out) == kept


@pytest.mark.parametrize("linked", ["rpmbuild", "rpmbuild/SPECS", "rpmbuild/SOURCES"])
def test_symlinked_rpmbuild_directory_is_refused(
    tmp_path: Path, victim: Path, capsys: pytest.CaptureFixture[str], linked: str
) -> None:
    out = tmp_path / "out"
    (out / linked).parent.mkdir(parents=True)
    (out / linked).symlink_to(victim)
    before = state(victim)
    assert run(tap2rpm_main, out) == 2
    refused(capsys, "tap2rpm", str(out / linked), "is a symbolic link")
    assert state(victim) == before
    assert not list(out.glob("*.rpm"))


@pytest.mark.parametrize("swapped", [SPEC, TARBALL])
def test_symlink_swapped_in_for_a_kept_file_is_refused(
    tmp_path: Path, victim: Path, capsys: pytest.CaptureFixture[str], swapped: str
) -> None:
    out = tmp_path / "out"
    kept = out / "rpmbuild"
    write_manifest(kept / RPM_MANIFEST, {SPEC: "0" * 64, TARBALL: "1" * 64})
    (kept / swapped).parent.mkdir(parents=True)
    (kept / swapped).symlink_to(victim / "shadow")
    before = state(victim)
    assert run(tap2rpm_main, out) == 2
    refused(capsys, "tap2rpm", str(kept / swapped), "is a symbolic link")
    assert state(victim) == before


def test_symlinked_rpm_manifest_is_refused(
    tmp_path: Path, victim: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    (out / "rpmbuild").mkdir(parents=True)
    (out / "rpmbuild" / RPM_MANIFEST).symlink_to(victim / "shadow")
    before = state(victim)
    assert run(tap2rpm_main, out) == 2
    refused(capsys, "tap2rpm", "the manifest is a symbolic link")
    assert state(victim) == before


def test_refusal_is_one_line_whatever_the_names(
    tmp_path: Path, victim: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    name = "debian/ru\nles\u2028x"
    write_manifest(out / TREE / DEB_MANIFEST, {name: "0" * 64})
    (out / TREE / name).parent.mkdir(parents=True)
    (out / TREE / name).symlink_to(victim / "passwd")
    assert run(tap2deb_main, out) == 2
    refused(capsys, "tap2deb", "is a symbolic link", r"ru\nles\u2028x")

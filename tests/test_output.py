"""Outputs: a hand-edited source tree is never overwritten without --force, and nothing
half-built is left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from tap2pkg.cli import tap2deb_main
from tests.conftest import FIXTURES, MAINTAINER, require_tool


def _build(out: Path, *extra: str) -> int:
    return tap2deb_main(["-t", str(FIXTURES / "echo.tac"), "-m", MAINTAINER, "-o", str(out),
                         "-q", *extra])


def test_unedited_tree_is_regenerated_silently(tmp_path: Path) -> None:
    require_tool("dpkg-deb", "dpkg-source")
    assert _build(tmp_path) == 0
    assert _build(tmp_path, "-V", "1.0", "-e", "Echo service") == 0
    control = (tmp_path / "twisted-echo-1.0" / "debian" / "control").read_text()
    assert "Description: Echo service\n" in control
    assert not list(tmp_path.glob("*.bak-*"))
    assert not list(tmp_path.glob(".tap2pkg-work-*"))


def test_identical_tree_is_left_in_place(tmp_path: Path) -> None:
    """A rebuild that would write the very same tree (files, contents, modes) leaves the
    one there untouched; a mode changed by hand is put back (the tree is rewritten)."""
    require_tool("dpkg-deb", "dpkg-source")
    assert _build(tmp_path) == 0
    tree = tmp_path / "twisted-echo-1.0"
    control = tree / "debian" / "control"
    before = {p: p.stat().st_ino for p in tree.rglob("*")}
    assert _build(tmp_path) == 0
    assert {p: p.stat().st_ino for p in tree.rglob("*")} == before
    control.chmod(0o600)
    assert _build(tmp_path) == 0
    assert control.stat().st_mode & 0o777 == 0o644
    assert control.stat().st_ino != before[control]
    assert not list(tmp_path.glob("*.bak-*"))
    assert not list(tmp_path.glob(".tap2pkg-work-*"))


def test_edited_tree_is_refused_then_backed_up_with_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require_tool("dpkg-deb", "dpkg-source")
    assert _build(tmp_path) == 0
    rules = tmp_path / "twisted-echo-1.0" / "debian" / "rules"
    rules.write_text(rules.read_text() + "# my edit\n")
    deb = tmp_path / "twisted-echo_1.0_all.deb"
    before = deb.read_bytes()

    assert _build(tmp_path) == 2  # bad input: the tree the user edited
    err = capsys.readouterr().err
    assert "debian/rules" in err and "--force" in err
    assert "# my edit" in rules.read_text()
    assert deb.read_bytes() == before

    assert _build(tmp_path, "--force") == 0
    backups = list(tmp_path.glob("twisted-echo-1.0.bak-*"))
    assert len(backups) == 1
    assert "# my edit" in (backups[0] / "debian" / "rules").read_text()
    assert "# my edit" not in rules.read_text()


def test_foreign_directory_is_not_overwritten(tmp_path: Path) -> None:
    require_tool("dpkg-deb", "dpkg-source")
    mine = tmp_path / "twisted-echo-1.0"
    mine.mkdir()
    (mine / "notes.txt").write_text("precious")
    assert _build(tmp_path) == 2
    assert (mine / "notes.txt").read_text() == "precious"


def test_output_dir_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "file"
    target.write_text("")
    assert _build(target) == 2
    assert "output directory" in capsys.readouterr().err

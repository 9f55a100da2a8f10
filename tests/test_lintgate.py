"""--lint: the build fails (exit 1, findings shown) when lintian or rpmlint complains, and
passes on the packages tap2pkg makes by default."""

from __future__ import annotations

from pathlib import Path

import pytest

from tap2pkg.cli import tap2deb_main, tap2rpm_main
from tests.conftest import FIXTURES, MAINTAINER, require_tool

pytestmark = pytest.mark.slow
APP = str(FIXTURES / "echo.tac")


def test_lint_passes_clean_deb(tmp_path: Path) -> None:
    require_tool("lintian", "dpkg-deb")
    assert tap2deb_main(["-t", APP, "-m", MAINTAINER, "-o", str(tmp_path), "-q", "--lint"]) == 0


def test_lint_fails_on_a_lintian_warning(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    require_tool("lintian", "dpkg-deb")
    code = tap2deb_main(["-t", APP, "-m", MAINTAINER, "-o", str(tmp_path), "-q", "--lint",
                         "--init", "sysv"])
    assert code == 1
    err = capsys.readouterr().err
    assert "lintian found 1 problem(s)" in err
    assert "missing-systemd-service-for-init.d-script" in err
    # Nothing is published: an upload script globbing the output directory finds nothing.
    assert f"nothing was published: the packages were moved to {tmp_path}/lint-failed/" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lint-failed", "twisted-echo-1.0"]
    assert sorted(p.name for p in (tmp_path / "lint-failed").iterdir()) == [
        "twisted-echo_1.0.dsc", "twisted-echo_1.0.tar.xz", "twisted-echo_1.0_all.buildinfo",
        "twisted-echo_1.0_all.changes", "twisted-echo_1.0_all.deb",
    ]


def test_lint_passes_clean_quilt_deb(tmp_path: Path) -> None:
    """-V 1.0-1: the non-native source package, its .changes and .buildinfo lint clean."""
    require_tool("lintian", "dpkg-deb")
    assert tap2deb_main(["-t", APP, "-m", MAINTAINER, "-o", str(tmp_path), "-q", "--lint",
                         "-V", "1.0-1"]) == 0
    assert (tmp_path / "twisted-echo_1.0-1_all.changes").is_file()


def test_lint_passes_clean_rpm(tmp_path: Path) -> None:
    require_tool("rpmlint", "rpmbuild")
    assert tap2rpm_main(["-t", APP, "-o", str(tmp_path), "-q", "--lint"]) == 0


def test_lint_fails_on_an_rpmlint_finding(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    require_tool("rpmlint", "rpmbuild")
    code = tap2rpm_main(["-t", APP, "-o", str(tmp_path), "-q", "--lint",
                         "-e", "An echo server."])
    assert code == 1
    err = capsys.readouterr().err
    assert "rpmlint found" in err
    assert "summary-ended-with-dot" in err
    assert "nothing was published" in err
    assert not list(tmp_path.rglob("*.rpm")) or all(
        p.parent.name == "lint-failed" for p in tmp_path.rglob("*.rpm"))
    assert sorted(p.name for p in (tmp_path / "lint-failed").iterdir()) == [
        "twisted-echo-1.0-1.noarch.rpm", "twisted-echo-1.0-1.src.rpm"]

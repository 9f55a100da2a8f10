"""tap2pkg inspect PACKAGE reads a built .deb or .rpm back, including the application file
inside it (statically)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tap2pkg.cli import tap2deb_main, tap2pkg_main, tap2rpm_main
from tests.conftest import FIXTURES, MAINTAINER, require_tool

pytestmark = pytest.mark.slow


def inspect(path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert tap2pkg_main(["inspect", str(path), "--json"]) == 0
    result: dict[str, object] = json.loads(capsys.readouterr().out)
    return result


def test_inspect_deb(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require_tool("dpkg-deb")
    assert tap2deb_main(["-t", str(FIXTURES / "echoxml.tax"), "-m", MAINTAINER,
                         "-o", str(tmp_path), "-q"]) == 0
    info = inspect(tmp_path / "twisted-echoxml_1.0_all.deb", capsys)
    assert info["fields"] == {
        "Package": "twisted-echoxml", "Version": "1.0", "Architecture": "all",
        "Maintainer": MAINTAINER, "Pre-Depends": "init-system-helpers (>= 1.54~)",
        "Depends": "python3-twisted, adduser",
    }
    assert "/etc/twisted-echoxml/echoxml.tax" in info["conffiles"]  # type: ignore[operator]
    files = {f["path"]: f for f in info["files"]}  # type: ignore[attr-defined]
    assert files["/etc/init.d/twisted-echoxml"]["mode"] == "0o755"
    assert files["/"]["type"] == "dir"
    assert info["app"] == {"file": "/etc/twisted-echoxml/echoxml.tas", "kind": "source",
                           "application": "echo-xml",
                           "endpoints": ["tcp:8010:interface=127.0.0.1"], "imports": []}


def test_inspect_rpm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require_tool("rpmbuild")
    assert tap2rpm_main(["-t", str(FIXTURES / "echo.tac"), "-o", str(tmp_path), "-q",
                         "--license", "MIT"]) == 0
    info = inspect(tmp_path / "twisted-echo-1.0-1.noarch.rpm", capsys)
    fields = info["fields"]
    assert fields["name"] == "twisted-echo"  # type: ignore[index]
    assert fields["license"] == "MIT"  # type: ignore[index]
    assert info["requires"] == ["/bin/sh", "python3dist(twisted)", "shadow-utils"]
    files = {f["path"]: f for f in info["files"]}  # type: ignore[attr-defined]
    assert files["/etc/twisted-echo/echo.tac"]["flags"] == "config,noreplace"
    assert files["/var/lib/twisted-echo"]["owner"] == "twisted-echo:twisted-echo"
    assert info["app"]["application"] == "echo"  # type: ignore[index]


def test_inspect_refuses_a_broken_package(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "broken.deb"
    bad.write_bytes(b"!<arch>\nnot really")
    assert tap2pkg_main(["inspect", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "broken.deb: cannot read it as a .deb" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("cut", [0, 50, 96, 200, 3000, -100])
@pytest.mark.parametrize("kind", ["deb", "rpm"])
def test_inspect_damaged_packages_fail_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, cut: int
) -> None:
    require_tool("dpkg-deb", "rpmbuild")
    out = tmp_path / "out"
    if kind == "deb":
        assert tap2deb_main(["-t", str(FIXTURES / "echo.tac"), "-m", MAINTAINER, "-o",
                             str(out), "-q"]) == 0
        good = out / "twisted-echo_1.0_all.deb"
    else:
        assert tap2rpm_main(["-t", str(FIXTURES / "echo.tac"), "-o", str(out), "-q"]) == 0
        good = out / "twisted-echo-1.0-1.noarch.rpm"
    damaged = tmp_path / f"damaged.{kind}"
    damaged.write_bytes(good.read_bytes()[:cut])
    capsys.readouterr()
    code = tap2pkg_main(["inspect", str(damaged)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if code != 0:
        assert code == 1
        assert len(err.strip().splitlines()) == 1
        assert f"damaged.{kind}: cannot read it" in err

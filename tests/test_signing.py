"""--sign KEYID with a throwaway gpg key: the .dsc is clear-signed and verifies, the .rpm
and .src.rpm carry signatures rpm verifies; bad key names and --unsigned --sign are
refused."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tap2pkg.cli import tap2deb_main, tap2rpm_main
from tests.conftest import FIXTURES, MAINTAINER, gnupg_home, require_tool

pytestmark = pytest.mark.slow
KEY = "tap2pkg test <signing@tap2pkg.invalid>"


@pytest.fixture(scope="module")
def gnupghome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with gnupg_home(tmp_path_factory, KEY) as home:
        yield home


def test_signed_dsc_verifies(gnupghome: Path, tmp_path: Path) -> None:
    require_tool("dpkg-deb", "dpkg-source")
    assert tap2deb_main(["-t", str(FIXTURES / "echo.tac"), "-m", MAINTAINER, "-o",
                         str(tmp_path), "-q", "--sign", "signing@tap2pkg.invalid"]) == 0
    dsc = tmp_path / "twisted-echo_1.0.dsc"
    assert dsc.read_text().startswith("-----BEGIN PGP SIGNED MESSAGE-----")
    verify = subprocess.run(["gpg", "--verify", str(dsc)], capture_output=True, text=True,
                            check=False, env={**os.environ, "GNUPGHOME": str(gnupghome)})
    assert verify.returncode == 0, verify.stderr
    assert "Good signature" in verify.stderr
    unpack = subprocess.run(["dpkg-source", "-x", str(dsc), str(tmp_path / "x")],
                            capture_output=True, text=True, check=False)
    assert unpack.returncode == 0, unpack.stderr


def test_signed_rpms_verify(gnupghome: Path, tmp_path: Path) -> None:
    require_tool("rpmbuild", "rpmsign", "rpmkeys")
    assert tap2rpm_main(["-t", str(FIXTURES / "echo.tac"), "-o", str(tmp_path), "-q",
                         "--sign", "signing@tap2pkg.invalid"]) == 0
    public = tmp_path / "key.asc"
    public.write_bytes(subprocess.run(["gpg", "--armor", "--export", KEY], check=True,
                                      capture_output=True).stdout)
    dbpath = tmp_path / "rpmdb"
    dbpath.mkdir()
    subprocess.run(["rpmkeys", "--dbpath", str(dbpath), "--import", str(public)], check=True)
    for package in sorted(tmp_path.glob("*.rpm")):
        check = subprocess.run(["rpmkeys", "--dbpath", str(dbpath), "--checksig", "-v",
                                str(package)], capture_output=True, text=True, check=False)
        assert check.returncode == 0, check.stdout + check.stderr
        assert "Signature, key ID" in check.stdout
        assert "OK" in check.stdout


@pytest.mark.parametrize("args", [["--sign", "%{lua:x}"], ["--sign", "-x"],
                                  ["--sign", "k", "-u"]])
def test_bad_sign_options(args: list[str], tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    code = tap2deb_main(["-t", str(FIXTURES / "echo.tac"), "-m", MAINTAINER, "-o",
                         str(tmp_path), *args])
    assert code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "--sign" in err or "--unsigned" in err

"""tap2deb and tap2rpm on an XML application file: the package installs the converted
.tas (run with --source) and, beside it for reference, the original .tax; both are
conffiles; lintian and rpmlint stay clean."""

from __future__ import annotations

from pathlib import Path

import pytest
from debian.debfile import DebFile

from tap2pkg.appfile import load
from tap2pkg.cli import tap2deb_main
from tests.conftest import EPOCH, FIXTURES, MAINTAINER, require_tool
from tests.rpm_helpers import (
    CONFIG,
    GHOST,
    NOREPLACE,
    lint_problems,
    read_rpm,
    require_rpm_tools,
    rpmlint,
    tap2rpm,
)
from tests.test_deb_package import _lintian

pytestmark = pytest.mark.slow
FIXTURE = FIXTURES / "echoxml.tax"
PKG = "twisted-echoxml"


def test_tap2deb_packages_a_tax_file(tmp_path: Path) -> None:
    require_tool("dpkg-deb", "dpkg-source")
    out = tmp_path / "out"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOURCE_DATE_EPOCH", EPOCH)
        assert tap2deb_main(["-t", str(FIXTURE), "-m", MAINTAINER, "-o", str(out), "-q"]) == 0
    deb = out / f"{PKG}_1.0_all.deb"
    with DebFile(str(deb)) as pkg:
        data = pkg.data
        installed = data.get_content(f"etc/{PKG}/echoxml.tas")
        original = data.get_content(f"etc/{PKG}/echoxml.tax")
        defaults = data.get_content(f"etc/default/{PKG}").decode()
        unit = data.get_content(f"lib/systemd/system/{PKG}.service").decode()
        conffiles = pkg.control.get_content("conffiles").decode().split()
    assert installed == load(FIXTURE).content
    assert original == FIXTURE.read_bytes()
    assert f"/etc/{PKG}/echoxml.tas" in conffiles
    assert f"/etc/{PKG}/echoxml.tax" in conffiles
    assert "APPFILE" not in defaults  # package-controlled: in the unit and init script
    assert f" --source=/etc/{PKG}/echoxml.tas " in unit
    assert _lintian(deb, out / f"{PKG}_1.0.dsc") == []


def test_tap2rpm_packages_a_tax_file(tmp_path: Path) -> None:
    require_rpm_tools()
    out = tmp_path / "out"
    assert tap2rpm(["-t", str(FIXTURE), "-o", str(out), "-q"]) == 0
    pkg = read_rpm(out / f"{PKG}-1.0-1.noarch.rpm")
    files = pkg.files()
    assert files[f"/etc/{PKG}/echoxml.tas"].flags == CONFIG | NOREPLACE
    assert files[f"/etc/{PKG}/echoxml.tax"].flags == CONFIG | NOREPLACE
    assert files[f"/var/lib/{PKG}/echo-xml-shutdown.tas"].flags == GHOST
    assert pkg.payload_file(f"/etc/{PKG}/echoxml.tas") == load(FIXTURE).content
    assert pkg.payload_file(f"/etc/{PKG}/echoxml.tax") == FIXTURE.read_bytes()
    unit = pkg.payload_file(f"/usr/lib/systemd/system/{PKG}.service").decode()
    assert f" --source=/etc/{PKG}/echoxml.tas " in unit
    config = out / "rpmbuild" / "SPECS" / f"{PKG}.rpmlint.toml"
    assert lint_problems(rpmlint(sorted(out.glob("*.rpm")), config, scratch=tmp_path)) == []

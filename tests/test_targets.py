"""Targets as data: the lookup, the default from the build host's os-release, what
`tap2pkg targets` prints (and --json), and the profile values holding together."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tap2pkg.cli import tap2deb_main, tap2pkg_group
from tap2pkg.targets import NEWEST, TARGETS, Target, default_target, lookup
from tests.conftest import FIXTURES, MAINTAINER


def test_lookup_by_family() -> None:
    assert lookup("debian-13", "deb").unit_dir == "/usr/lib/systemd/system"
    assert lookup("el9", "rpm").user_creation == "useradd"
    with pytest.raises(ValueError, match="not a deb target; choose one of: debian-12, "):
        lookup("fedora", "deb")
    with pytest.raises(ValueError, match="'centos-6' is not a rpm target"):
        lookup("centos-6", "rpm")


OS_RELEASES = [
    # (os-release text, deb default, rpm default)
    ('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n',
     "debian-12", NEWEST["rpm"]),
    ("ID=debian\nVERSION_ID=13\nVERSION_CODENAME=trixie\n", "debian-13", NEWEST["rpm"]),
    ("ID=debian\nVERSION_CODENAME=forky\n", NEWEST["deb"], NEWEST["rpm"]),  # testing
    ('ID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\n', "ubuntu-24.04", NEWEST["rpm"]),
    ('ID=ubuntu\nVERSION_ID="22.04"\n', "ubuntu-22.04", NEWEST["rpm"]),
    ("ID=fedora\nVERSION_ID=43\n", NEWEST["deb"], "fedora"),
    ('ID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"\n', NEWEST["deb"], "el9"),
    ('ID="almalinux"\nVERSION_ID="8.10"\n', NEWEST["deb"], "el8"),
    ('ID="rhel"\nVERSION_ID="9.5"\n', NEWEST["deb"], "el9"),
    ('ID="opensuse-leap"\nVERSION_ID="15.6"\n', NEWEST["deb"], "opensuse-leap-15.6"),
    ('ID="opensuse-tumbleweed"\nVERSION_ID="20261130"\n', NEWEST["deb"],
     "opensuse-tumbleweed"),
    ('ID="opensuse-leap"\nVERSION_ID="15.5"\n', NEWEST["deb"], NEWEST["rpm"]),  # unknown
    ("# only a comment\n", NEWEST["deb"], NEWEST["rpm"]),
]


@pytest.mark.parametrize(("text", "deb", "rpm"), OS_RELEASES)
def test_default_is_the_build_hosts_release(text: str, deb: str, rpm: str,
                                            tmp_path: Path) -> None:
    os_release = tmp_path / "os-release"
    os_release.write_text(text)
    assert default_target("deb", os_release).name == deb
    assert default_target("rpm", os_release).name == rpm


def test_default_without_os_release(tmp_path: Path) -> None:
    assert default_target("deb", tmp_path / "missing").name == "debian-13"
    assert default_target("rpm", tmp_path / "missing").name == "fedora"


def test_targets_lists_every_profile_and_marks_the_defaults() -> None:
    result = CliRunner().invoke(tap2pkg_group, ["targets"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split() == ["target", "kind", "python", "twisted", "users", "lint",
                                "verified"]
    rows = {line[2:].split()[0]: line for line in lines[1:-1]}
    assert list(rows) == list(TARGETS)
    defaults = {default_target("deb").name, default_target("rpm").name}
    assert {name for name, line in rows.items() if line.startswith("*")} == defaults
    assert "sysusers" in rows["fedora"] and "useradd" in rows["el9"]
    assert lines[-1].startswith("* the default")


def test_targets_json() -> None:
    result = CliRunner().invoke(tap2pkg_group, ["targets", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert [t["name"] for t in data] == list(TARGETS)
    fedora = next(t for t in data if t["name"] == "fedora")
    assert fedora["twisted_depends"] == "python3dist(twisted)"
    assert fedora["user_creation"] == "sysusers"
    assert fedora["lint_expects"] == ["no-%check-section"]
    assert sum(t["default"] for t in data) == 2


@pytest.mark.parametrize("target", list(TARGETS.values()), ids=list(TARGETS))
def test_profile_values_hold_together(target: Target) -> None:
    """What the backends rely on: absolute paths, the user-creation route matching the rpm
    (sysusers only where rpm >= 4.19), units under /usr/lib exactly where debhelper
    >= 13.11.8 puts them."""
    assert target.unit_dir.startswith("/") and target.twistd.startswith("/")
    assert target.init_systems and target.lint and target.verified
    if target.family == "rpm":
        assert target.user_creation == ("sysusers" if target.rpm_version >= (4, 19)
                                        else "useradd")
        assert target.macro_flavour in ("fedora", "suse")
    else:
        assert target.user_creation == "adduser"
        assert target.debhelper_compat == 13
        new_debhelper = target.debhelper.startswith(">=") or tuple(
            int(x) for x in target.debhelper.split(".")) >= (13, 11, 8)
        assert (target.unit_dir == "/usr/lib/systemd/system") == new_debhelper


def test_unknown_target_is_bad_input(capsys: pytest.CaptureFixture[str],
                                     tmp_path: Path) -> None:
    code = tap2deb_main(["-t", str(FIXTURES / "echo.tac"), "-m", MAINTAINER,
                         "--target", "fedora", "-o", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tap2deb: error: --target: 'fedora' is not a deb target")

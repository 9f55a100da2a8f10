"""tap2rpm as users type it: the original options and defaults, the modern ones, and bad
input answered as tap2deb answers it (one line, exit 2, no traceback, nothing written)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tap2pkg import __version__
from tests.conftest import FIXTURES, MAINTAINER
from tests.rpm_helpers import error_lines, read_rpm, require_rpm_tools, run_cli


def test_version_and_help() -> None:
    proc = run_cli("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"tap2rpm (tap2pkg) {__version__}"
    proc = run_cli("--help")
    assert proc.returncode == 0
    for option in ("--tapfile", "--maintainer", "--protocol", "--description",
                   "--long_description", "--set-version", "--rpmfile", "--type",
                   "--unsigned", "--quiet", "--output-dir", "--user", "--group", "--twistd",
                   "--depends", "--init", "--license", "--url", "Exit status"):
        assert option in proc.stdout, option
    assert "/usr/bin/twistd]" in proc.stdout  # Fedora's and RHEL's twistd


ECHO = f"{FIXTURES}/echo.tac"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], "twistd.tap"),  # the original default file, missing here
        (["-t", "nonexistent.tac"], "nonexistent.tac"),
        (["-t", ECHO, "-y", "bogus"], "--type: unknown type"),
        (["-t", ECHO, "-m", "two\nlines"], "--maintainer:"),
        (["-t", ECHO, "-r", "bad name"], "--rpmfile:"),
        (["-t", ECHO, "-V", "1.0-1"], "--set-version:"),
        (["-t", ECHO, "-V", "x:1.0"], "--set-version:"),
        (["-t", ECHO, "--release", "1-2"], "--release:"),
        (["-t", ECHO, "--release", "%{dist}"], "--release:"),
        (["-t", ECHO, "-e", "two\nlines"], "--description:"),
        (["-t", ECHO, "-l", "fine\n%post\nrm -rf /"], "--long_description: line 2"),
        (["-t", ECHO, "-l", "fine\n# heading"], "--long_description: line 2"),
        (["-t", ECHO, "--init", "upstart"], "--init:"),
        (["-t", ECHO, "--license", "ASL 2.0"], "--license:"),
        (["-t", ECHO, "-m", "Ann\\"], "--maintainer:"),
        (["-t", ECHO, "--user", "Root!"], "--user:"),
        (["-t", ECHO, "--twistd", "twistd"], "--twistd:"),
        (["-t", ECHO, "--depends", "foo;rm"], "--depends:"),
        (["-t", ECHO, "--depends", "foo | bar"], "--depends:"),
        (["-t", ECHO, "--no-such-option"], "No such option"),
    ],
)
def test_bad_input_gives_one_line(args: list[str], expected: str, tmp_path: Path) -> None:
    proc = run_cli(*args, "-o", str(tmp_path / "out"), cwd=tmp_path)
    assert proc.returncode == 2
    lines = error_lines(proc)
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("tap2rpm: error: ")
    assert expected in lines[0]
    out = tmp_path / "out"
    assert not out.exists() or list(out.iterdir()) == []


def test_original_options_and_defaults(tmp_path: Path) -> None:
    require_rpm_tools()
    out = tmp_path / "out"
    # Unique prefixes of long options and -u (a no-op that warns), as the original took.
    proc = run_cli("--tapf", ECHO, "--maint", MAINTAINER, "-p", "Echo Service", "-u",
                   "--long_description", "First line.\n\nSecond paragraph.", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert error_lines(proc) == ["tap2rpm: warning: --unsigned does nothing: tap2rpm signs "
                                 "only when given --sign"]
    paths = [Path(line) for line in proc.stdout.splitlines()]
    assert [p.name for p in paths] == [
        "twisted-echo-service.spec", "twisted-echo-service-1.0-1.src.rpm",
        "twisted-echo-service-1.0-1.noarch.rpm",
    ]
    assert all(p.is_file() for p in paths)
    pkg = read_rpm(paths[2])
    assert pkg.text("summary") == "A TCP server for Echo Service"
    assert pkg.text("description") == "First line.\n\nSecond paragraph."


def test_quiet_json_and_rpmfile(tmp_path: Path) -> None:
    require_rpm_tools()
    out = tmp_path / "out"
    proc = run_cli(ECHO, "-r", "my-echo", "-V", "2.0~rc1", "-q", "--json", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    result = json.loads(proc.stdout)
    assert result["package"] == "my-echo"
    assert [Path(p).name for p in result["artifacts"]] == [
        "my-echo.spec", "my-echo-2.0~rc1-1.src.rpm", "my-echo-2.0~rc1-1.noarch.rpm",
    ]


def test_failing_rpmbuild_reports_command_and_output(tmp_path: Path) -> None:
    """A real rpmbuild failure (its %install made to fail through ~/.rpmmacros): the
    command line and the tail of its output are shown, and nothing is left behind."""
    require_rpm_tools()
    home = tmp_path / "home"
    home.mkdir()
    (home / ".rpmmacros").write_text("%__os_install_post exit 7\n", encoding="utf-8")
    out = tmp_path / "out"
    proc = run_cli(ECHO, "-o", str(out), env={"HOME": str(home)})
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "tap2rpm: error: command failed (exit 1): rpmbuild -ba --define '_topdir " in \
        proc.stderr
    assert "Bad exit status" in proc.stderr  # rpmbuild's own words, from the tail
    assert list(out.iterdir()) == []

"""The command line as users type it: original options, spellings and prefixes, and bad
input answered with one clear line, the right exit code, and no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tap2pkg import __version__
from tests.conftest import FIXTURES, MAINTAINER, require_tool


def run(tool: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a console entry point in a fresh interpreter, as a user would."""
    code = f"import sys; from tap2pkg.cli import {tool}_main as m; sys.exit(m(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True, text=True, cwd=cwd, check=False,
    )


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_version_is_tap2pkgs_own() -> None:
    proc = run("tap2deb", "--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"tap2deb (tap2pkg) {__version__}"


def test_help_lists_original_options_and_exit_codes() -> None:
    proc = run("tap2deb", "--help")
    assert proc.returncode == 0
    for option in ("--tapfile", "--maintainer", "--protocol", "--description",
                   "--long_description", "--set-version", "--debfile", "--type",
                   "--unsigned", "--quiet", "Exit status"):
        assert option in proc.stdout


@pytest.mark.parametrize(
    ("args", "expected", "code"),
    [
        ([], "tap2deb: error: --maintainer: maintainer must be specified.", 2),
        (["-m", MAINTAINER], "twistd.tap", 2),  # the default file, missing here
        (["-m", MAINTAINER, "-t", "nonexistent.tac"], "nonexistent.tac", 2),
        (["-m", MAINTAINER, "-t", "FIX/echo.tac", "-y", "bogus"], "--type: unknown type", 2),
        (["-m", "nobody", "-t", "FIX/echo.tac"], "--maintainer:", 2),
        (["-m", MAINTAINER, "-t", "FIX/echo.tac", "-d", "Bad_Name"], "--debfile:", 2),
        (["-m", MAINTAINER, "-t", "FIX/echo.tac", "-V", "1.0-"], "--set-version:", 2),
        (["-m", MAINTAINER, "-t", "FIX/echo.tac", "-V", "a:1.0-1"], "--set-version:", 2),
        (["-m", MAINTAINER, "-t", "FIX/echo.tac", "-V", "x1"], "--set-version:", 2),
        (["-m", MAINTAINER, "-t", "FIX/echo.tac", "-e", "two\nlines"], "--description:", 2),
        (["-m", MAINTAINER, "-t", "FIX/echo.tac", "--init", "upstart"], "--init:", 2),
        (["-m", MAINTAINER, "-t", "FIX/echo.tac", "--user", "Root!"], "--user:", 2),
        (["-m", MAINTAINER, "-t", "FIX/echo.tac", "--twistd", "twistd"], "--twistd:", 2),
        (["-m", MAINTAINER, "-t", "FIX/echo.tac", "--depends", "foo;rm"], "--depends:", 2),
        (["-m", MAINTAINER, "--no-such-option"], "No such option", 2),
        (["-m", MAINTAINER, "--de", "x"], "ambiguous", 2),
    ],
)
def test_bad_input_gives_one_line(args: list[str], expected: str, code: int) -> None:
    args = [a.replace("FIX/", f"{FIXTURES}/") for a in args]
    proc = run("tap2deb", *args, cwd=FIXTURES.parent / "tests")
    assert proc.returncode == code
    line = one_error_line(proc)
    assert line.startswith("tap2deb: error: ")
    assert expected in line


def test_tac_without_application(tmp_path: Path) -> None:
    app = tmp_path / "noapp.tac"
    app.write_text("from twisted.application import service\nsvc = 1\n")
    proc = run("tap2deb", "-m", MAINTAINER, "-t", str(app), "-o", str(tmp_path / "o"))
    assert proc.returncode == 2
    assert "application" in one_error_line(proc)
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    app = tmp_path / "broken.tac"
    app.write_text("application = 1\n\ndef oops(:\n")
    proc = run("tap2deb", "-m", MAINTAINER, "-t", str(app))
    assert proc.returncode == 2
    assert "broken.tac:3" in one_error_line(proc)


def test_output_dir_that_cannot_be_created() -> None:
    proc = run("tap2deb", "-m", MAINTAINER, "-t", str(FIXTURES / "echo.tac"),
               "-o", "/proc/no-such-dir/out")
    assert proc.returncode == 2
    assert "cannot create output directory /proc/no-such-dir/out" in one_error_line(proc)


def test_failing_tool_reports_command_and_output(tmp_path: Path) -> None:
    """A tool that fails is named with its command line and the tail of its output."""
    fake = tmp_path / "bin"
    fake.mkdir()
    tool = fake / "dpkg-deb"
    tool.write_text("#!/bin/sh\necho 'dpkg-deb: error: something broke' >&2\nexit 25\n")
    tool.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}
    code = "import sys; from tap2pkg.cli import tap2deb_main as m; sys.exit(m(sys.argv[1:]))"
    proc = subprocess.run(
        [sys.executable, "-c", code, "-m", MAINTAINER, "-t", str(FIXTURES / "echo.tac"),
         "-o", str(tmp_path / "out")],
        capture_output=True, text=True, check=False, env=env,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "tap2deb: error: command failed (exit 25): dpkg-deb --root-owner-group" in proc.stderr
    assert "something broke" in proc.stderr
    assert [p.name for p in (tmp_path / "out").iterdir()] == []


def test_prefixes_and_both_spellings_are_accepted(tmp_path: Path) -> None:
    require_tool("dpkg-deb", "dpkg-source")
    out = tmp_path / "out"
    proc = run(
        "tap2deb", "--tapf", str(FIXTURES / "echo.tac"), "--main", MAINTAINER,
        "--long-description", "First line.\n\nSecond paragraph.", "--set=2.0",
        "--deb", "my-echo", "--output_dir", str(out), "-u", "-q",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    control = (out / "my-echo-2.0" / "debian" / "control").read_text()
    assert "Package: my-echo\n" in control
    assert "Description: A Twisted-based server for echo\n First line.\n .\n Second paragraph.\n" \
        in control
    assert (out / "my-echo_2.0_all.deb").is_file()


def test_positional_app_file_and_json_output(tmp_path: Path) -> None:
    require_tool("dpkg-deb", "dpkg-source")
    proc = run("tap2deb", "-m", MAINTAINER, str(FIXTURES / "echo.tac"),
               "-o", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["package"] == "twisted-echo"
    assert [Path(p).name for p in result["artifacts"]] == [
        "twisted-echo-1.0", "twisted-echo_1.0.dsc", "twisted-echo_1.0.tar.xz",
        "twisted-echo_1.0_all.deb", "twisted-echo_1.0_all.buildinfo",
        "twisted-echo_1.0_all.changes",
    ]


def test_tap2pkg_group_runs_deb_and_inspect(tmp_path: Path) -> None:
    proc = run("tap2pkg", "inspect", str(FIXTURES / "echo.tac"))
    assert proc.returncode == 0, proc.stderr
    assert "kind:" in proc.stdout and "python" in proc.stdout
    assert "tcp:8007" in proc.stdout
    proc = run("tap2pkg", "deb", "--help")
    assert proc.returncode == 0 and "--debfile" in proc.stdout


def test_json_error_object_on_stdout(tmp_path: Path) -> None:
    """--json: a failure is a JSON object on stdout (and still one line on stderr)."""
    proc = run("tap2deb", "--json", "-t", str(FIXTURES / "echo.tac"), "-o", str(tmp_path))
    assert proc.returncode == 2
    assert one_error_line(proc) == "tap2deb: error: --maintainer: maintainer must be specified."
    assert json.loads(proc.stdout) == {
        "error": "--maintainer: maintainer must be specified.", "exit": 2, "key": "--maintainer",
    }
    proc = run("tap2deb", "--json", "-m", MAINTAINER, "--bogus")
    assert proc.returncode == 2
    assert json.loads(proc.stdout)["key"] == "--bogus"
    proc = run("tap2pkg", "inspect", "--json", str(tmp_path / "missing.deb"))
    assert proc.returncode == 2
    assert json.loads(proc.stdout)["error"].endswith("missing.deb: no such file")


def test_json_error_for_a_failed_build_step(tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "dpkg-deb").write_text("#!/bin/sh\necho broken >&2\nexit 3\n")
    (fake / "dpkg-deb").chmod(0o755)
    code = "import sys; from tap2pkg.cli import tap2deb_main as m; sys.exit(m(sys.argv[1:]))"
    proc = subprocess.run(
        [sys.executable, "-c", code, "--json", "-m", MAINTAINER, "-t",
         str(FIXTURES / "echo.tac"), "-o", str(tmp_path / "out")],
        capture_output=True, text=True, check=False,
        env={**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"},
    )
    assert proc.returncode == 1
    error = json.loads(proc.stdout)
    assert error["exit"] == 1
    assert error["key"] is None
    assert error["error"].startswith("command failed (exit 3): dpkg-deb")


@pytest.mark.parametrize("where", ["file", "under-file"])
def test_output_dir_that_cannot_be_written(where: str, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = blocker if where == "file" else blocker / "out"
    proc = run("tap2deb", "-m", MAINTAINER, "-t", str(FIXTURES / "echo.tac"), "-o", str(out))
    assert proc.returncode == 2
    assert "--output-dir: " in one_error_line(proc)


@pytest.mark.parametrize("name", ["missing.deb", "missing.rpm", "missing.tac", "junk.deb",
                                  "junk.rpm", "notes.txt"])
def test_inspect_bad_input_exits_2(name: str, tmp_path: Path) -> None:
    if not name.startswith("missing"):
        (tmp_path / name).write_bytes(b"not a package\n")
    proc = run("tap2pkg", "inspect", str(tmp_path / name))
    assert proc.returncode == 2
    assert name in one_error_line(proc)


def test_convert_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    tax = tmp_path / "echoxml.tax"
    tax.write_bytes((FIXTURES / "echoxml.tax").read_bytes())
    tas = tmp_path / "echoxml.tas"
    tas.write_text("mine\n")
    proc = run("tap2pkg", "convert", str(tax))
    assert proc.returncode == 2
    assert one_error_line(proc) == (
        f"tap2pkg: error: --output: {tas} exists; pass --force to replace it")
    assert tas.read_text() == "mine\n"
    proc = run("tap2pkg", "convert", "--force", "-q", str(tax))
    assert proc.returncode == 0, proc.stderr
    assert tas.read_text().startswith("# AOT source")

"""tap2pkg build's config file as users write it: the plan it makes (--dry-run), where it is
found, what overrides what, and every mistake in it reported at once, each on one line
naming the file and the key."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click

from tap2pkg import config
from tap2pkg.cli import COMMANDS
from tests.conftest import FIXTURES, MAINTAINER

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "tap2pkg" / "tap2pkg.schema.json"


def tap2pkg(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    code = "import sys; from tap2pkg.cli import tap2pkg_main as m; sys.exit(m(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                          text=True, cwd=cwd, check=False)


def project(tmp_path: Path, text: str, name: str = "tap2pkg.toml") -> Path:
    (tmp_path / "services").mkdir()
    (tmp_path / "services" / "echo.tac").write_bytes((FIXTURES / "echo.tac").read_bytes())
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


VALID = f"""
[defaults]
maintainer = "{MAINTAINER}"
formats = ["deb", "rpm"]
targets = ["debian-12", "el9"]
depends = ["python3-attr"]

[[app]]
tapfile = "services/echo.tac"
set-version = "1.2"

[[app]]
tapfile = "services/chat.tac"
debfile = "chat-server"
check = true
"""


def plan(proc: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    assert proc.returncode == 0, proc.stderr
    jobs: list[dict[str, object]] = json.loads(proc.stdout)
    return jobs


def test_plan_is_apps_by_formats_by_targets_with_paths_from_the_config_file(
        tmp_path: Path) -> None:
    root = project(tmp_path, VALID)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    jobs = plan(tap2pkg("build", "-c", str(root / "tap2pkg.toml"), "--dry-run", "--json",
                        cwd=elsewhere))
    assert [(j["app"], j["target"], j["format"]) for j in jobs] == [
        ("services/echo.tac", "debian-12", "deb"), ("services/echo.tac", "el9", "rpm"),
        ("services/chat.tac", "debian-12", "deb"), ("services/chat.tac", "el9", "rpm"),
    ]
    assert jobs[0]["command"] == [
        "tap2deb", f"--maintainer={MAINTAINER}", "--depends=python3-attr",
        f"--tapfile={root / 'services' / 'echo.tac'}", "--set-version=1.2",
        "--target=debian-12", "--output-dir=.build/debian-12/deb", "--quiet",
    ]
    # debfile is a tap2deb option: the rpm job does not get it; flags become options
    assert "--debfile=chat-server" in jobs[2]["command"]
    assert not any("debfile" in a for a in jobs[3]["command"])  # type: ignore[attr-defined]
    assert "--check" in jobs[3]["command"]  # type: ignore[operator]


def test_human_plan_shows_each_command(tmp_path: Path) -> None:
    proc = tap2pkg("build", "--dry-run", "-o", "out", cwd=project(tmp_path, VALID))
    assert proc.returncode == 0, proc.stderr
    assert "[1] debian-12/deb services/echo.tac" in proc.stdout
    assert "tap2rpm " in proc.stdout
    assert "--output-dir=out/el9/rpm" in proc.stdout


def test_pyproject_tool_table_is_read_when_there_is_no_tap2pkg_toml(tmp_path: Path) -> None:
    text = f"""
[project]
name = "services"

[tool.tap2pkg.defaults]
maintainer = "{MAINTAINER}"
formats = ["deb"]

[[tool.tap2pkg.app]]
tapfile = "services/echo.tac"
"""
    jobs = plan(tap2pkg("build", "--dry-run", "--json",
                        cwd=project(tmp_path, text, "pyproject.toml")))
    assert len(jobs) == 1
    assert jobs[0]["format"] == "deb"
    # with no targets listed, a format builds for its default target
    assert jobs[0]["target"] == config.default_targets()["deb"]


def test_command_line_overrides_the_config(tmp_path: Path) -> None:
    root = project(tmp_path, VALID)
    jobs = plan(tap2pkg("build", "--dry-run", "--json", "--set-version", "2.0",
                        "--format", "deb", "--depends", "python3-yaml", cwd=root))
    assert [j["format"] for j in jobs] == ["deb", "deb"]
    for job in jobs:
        assert "--set-version=2.0" in job["command"]  # type: ignore[operator]
        assert "--depends=python3-yaml" in job["command"]  # type: ignore[operator]
        assert "--depends=python3-attr" not in job["command"]  # type: ignore[operator]


def test_no_config_file_is_one_clear_line(tmp_path: Path) -> None:
    proc = tap2pkg("build", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "tap2pkg: error: --config: no tap2pkg.toml here and no [tool.tap2pkg] in "
        "pyproject.toml; write one, or give -c FILE"
    ]


BROKEN = """
[defaults]
maintainer = "Me <me@example.org>"
formats = ["deb", "apk"]
targets = ["debian-12", "windows-11"]
verbose = true

[[app]]
tapfile = "services/echo.tac"
set-version = 1.2
depends = "python3-attr"
protocl = "echo"

[[app]]
description = "no tapfile here"
check = "yes"
formats = []

[packages]
x = 1
"""


def test_every_mistake_is_reported_at_once_naming_file_and_key(tmp_path: Path) -> None:
    root = project(tmp_path, BROKEN)
    proc = tap2pkg("build", "--dry-run", cwd=root)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    where = f"tap2pkg: error: {root / 'tap2pkg.toml'}: "
    assert all(line.startswith(where) for line in lines), lines
    problems = [line.removeprefix(where) for line in lines]
    expected = [
        "[packages]: unknown table",
        "[defaults].formats: 'apk' is not one of: deb, rpm",
        "[defaults].targets: 'windows-11' is not one of: debian-12",
        "[defaults]: unknown key 'verbose'",
        "[[app]] #1 (services/echo.tac).set-version: expected a string, got a number "
        "(write it in quotes)",
        "[[app]] #1 (services/echo.tac).depends: expected an array of strings, got a string",
        "[[app]] #1 (services/echo.tac): unknown key 'protocl'; did you mean 'protocol'?",
        "[[app]] #2.check: expected true or false, got a string",
        "[[app]] #2.formats: lists no format: nothing would be built",
        "[[app]] #2: missing key 'tapfile'",
    ]
    for start in expected:
        assert any(p.startswith(start) for p in problems), (start, problems)
    assert len(problems) == len(expected)
    unknown = next(p for p in problems if "'verbose'" in p)
    assert "allowed: bundle, check, debfile, depends" in unknown


def test_click_refusals_are_reported_per_app_before_building(tmp_path: Path) -> None:
    root = project(tmp_path, f'[[app]]\ntapfile = "services/echo.tac"\n'
                             f'maintainer = "{MAINTAINER}"\n')
    proc = tap2pkg("build", "-j", "0", cwd=root)
    assert proc.returncode == 2
    assert "-j" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_invalid_toml_names_the_file_and_line(tmp_path: Path) -> None:
    root = project(tmp_path, "[[app]]\ntapfile = \n")
    proc = tap2pkg("build", cwd=root)
    assert proc.returncode == 2
    line = proc.stderr.strip()
    assert line.startswith(f"tap2pkg: error: {root / 'tap2pkg.toml'}: not valid TOML")
    assert "line 2" in line


def test_every_package_option_is_a_key_with_its_type() -> None:
    keys = config.keys(COMMANDS)
    for fmt, command in COMMANDS.items():
        for param in command.params:
            if not isinstance(param, click.Option) or param.name in config.RUN_OPTIONS:
                continue
            longs = [o[2:] for o in param.opts if o.startswith("--")]
            key = next(keys[name] for name in longs if name in keys)
            assert fmt in key.formats
            if param.is_flag:
                assert key.kind == "boolean"
            elif param.multiple:
                assert key.kind == "array"
    assert keys["set-version"].kind == "string"
    assert keys["depends"].kind == "array"
    assert keys["debfile"].formats == ("deb",)
    assert keys["rpmfile"].formats == ("rpm",)
    assert keys["tapfile"].path


def test_committed_json_schema_is_current(tmp_path: Path) -> None:
    proc = tap2pkg("build", "--schema", cwd=tmp_path)
    assert proc.returncode == 0
    assert SCHEMA_FILE.read_text(encoding="utf-8") == proc.stdout, (
        "regenerate it: tap2pkg build --schema > tap2pkg/tap2pkg.schema.json")
    schema = json.loads(proc.stdout)
    app = schema["properties"]["app"]["items"]
    assert set(app["properties"]) == set(config.keys(COMMANDS))
    assert app["required"] == ["tapfile"]
    assert app["properties"]["depends"] == {
        "description": app["properties"]["depends"]["description"],
        "type": "array", "items": {"type": "string"},
    }


def test_values_that_look_like_paths_of_a_path_like_key_are_made_absolute() -> None:
    # --bundle takes pip requirements or paths (a project directory, a wheel)
    key = config.Key("bundle", "array", config.FORMATS, "", "--bundle", path_like=True)
    given = ["attrs>=23", "./libs/mylib", "dist/app-1.0-py3-none-any.whl",
             "https://example.org/x.whl", "pkg @ file:///srv/pkg"]
    assert config.absolute(key, given, Path("/src")) == [
        "attrs>=23", "/src/libs/mylib", "/src/dist/app-1.0-py3-none-any.whl",
        "https://example.org/x.whl", "pkg @ file:///srv/pkg",
    ]


def test_a_value_the_pipeline_refuses_fails_its_job_naming_file_app_and_option(
        tmp_path: Path) -> None:
    root = project(tmp_path, '[[app]]\ntapfile = "services/echo.tac"\nmaintainer = "nobody"\n'
                             'formats = ["deb"]\n')
    proc = tap2pkg("build", cwd=root)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("tap2pkg: error:")]
    assert len(errors) == 1
    assert f"{root / 'tap2pkg.toml'}: [[app]] #1 (services/echo.tac): --maintainer:" in errors[0]
    assert "FAIL [1/1]" in proc.stdout


def test_targets_on_the_command_line_pick_from_the_matrix(tmp_path: Path) -> None:
    root = project(tmp_path, VALID)
    jobs = plan(tap2pkg("build", "--dry-run", "--json", "--target", "el9", cwd=root))
    assert [(j["target"], j["format"]) for j in jobs] == [("el9", "rpm"), ("el9", "rpm")]
    proc = tap2pkg("build", "--dry-run", "--format", "deb", "--target", "el9", cwd=root)
    assert proc.returncode == 2
    assert "no job left" in proc.stderr


def test_names_from_the_file_reach_the_terminal_without_escapes(tmp_path: Path) -> None:
    root = project(tmp_path, '[[app]]\ntapfile = "services/\\u001b[31mred.tac"\nx = 1\n')
    proc = tap2pkg("build", "--dry-run", cwd=root)
    assert proc.returncode == 2
    assert "\x1b" not in proc.stderr
    assert "'services/\\x1b[31mred.tac'" in proc.stderr

"""Start-up stays cheap: importing the CLI (and tap2deb --help) loads no backend, template
or package-reading code, and a Debian build never loads the RPM backend."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import FIXTURES, MAINTAINER, require_tool

HEAVY = ("jinja2", "debian", "rpmfile", "tap2pkg.backends", "tap2pkg.appfile", "tap2pkg.spec",
         "tap2pkg.render")


def modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


def loaded(modules: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if m.startswith(prefixes))


def test_importing_the_cli_loads_no_backend() -> None:
    assert loaded(modules_after("import tap2pkg.cli"), HEAVY) == []


def test_help_loads_no_backend() -> None:
    code = ("from tap2pkg.cli import tap2deb_main\n"
            "import contextlib, io\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    tap2deb_main(['--help'])")
    assert loaded(modules_after(code), HEAVY) == []


def test_debian_build_loads_no_rpm_code(tmp_path: Path) -> None:
    require_tool("dpkg-deb")
    code = ("from tap2pkg.cli import tap2deb_main\n"
            f"assert tap2deb_main(['-t', {str(FIXTURES / 'echo.tac')!r}, '-m', "
            f"{MAINTAINER!r}, '-o', {str(tmp_path)!r}, '-q']) == 0")
    modules = modules_after(code)
    assert "tap2pkg.backends.debian.build" in modules
    assert loaded(modules, ("tap2pkg.backends.rpm", "rpmfile")) == []

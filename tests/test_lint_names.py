"""Lint on real names and files (Debian side): an application file that starts with "#!"
and package names lintian reads specially still pass --lint; the one name lintian refuses
(-dbgsym) is refused up front with the reason."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tap2pkg.cli import tap2deb_main
from tests.conftest import FIXTURES, MAINTAINER, require_tool

pytestmark = pytest.mark.slow
BODY = (FIXTURES / "echo.tac").read_text()


@pytest.mark.parametrize("interpreter", ["/usr/bin/twistd3 -ny", "/usr/bin/env python3",
                                         "/usr/local/bin/python3"])
def test_app_file_with_interpreter_line_lints_clean(interpreter: str, tmp_path: Path) -> None:
    """A .tac that starts with #! (people run them with `twistd -ny` by hand) installs as
    a 0644 conffile; lintian's script checks are overridden with the reason."""
    require_tool("lintian", "dpkg-deb")
    app = tmp_path / "shebang.tac"
    app.write_text(f"#!{interpreter}\n{BODY}")
    out = tmp_path / "out"
    assert tap2deb_main(["-t", str(app), "-m", MAINTAINER, "-o", str(out), "-q",
                         "--lint"]) == 0
    overrides = (out / "twisted-shebang-1.0/debian/twisted-shebang.lintian-overrides")
    text = overrides.read_text()
    assert "script-not-executable [etc/twisted-shebang/shebang.tac]" in text
    assert "not\n# run as a script" in text
    listing = subprocess.run(["dpkg-deb", "-c", str(out / "twisted-shebang_1.0_all.deb")],
                             capture_output=True, text=True, check=True).stdout
    assert "-rw-r--r-- root/root" in next(
        line for line in listing.splitlines() if line.endswith("/shebang.tac"))


NAMES = ["echo-dev", "echo-doc", "echo-dbg", "echo-common", "echo-data", "libecho",
         "python3-echo", "echo-tap"]


def test_names_lintian_reads_specially_lint_clean(tmp_path: Path) -> None:
    """Suffixes lintian (and rpmlint: -tap, a locale) read specially; one lintian run
    over all of them (lintian's start-up dominates)."""
    require_tool("lintian", "dpkg-deb")
    for name in NAMES:
        assert tap2deb_main(["-t", str(FIXTURES / "echo.tac"), "-m", MAINTAINER, "-d", name,
                             "-o", str(tmp_path / name), "-q"]) == 0
    changes = sorted(str(p) for p in tmp_path.glob("*/*.changes"))
    assert len(changes) == len(NAMES)
    proc = subprocess.run(["lintian", "--pedantic", *changes], capture_output=True,
                          text=True, check=False)
    assert [line for line in proc.stdout.splitlines() if line[:2] in ("E:", "W:")] == []


@pytest.mark.parametrize("args", [["-d", "echo-dbgsym"], ["-p", "echo-dbgsym"]])
def test_dbgsym_name_is_refused(args: list[str], tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    code = tap2deb_main(["-t", str(FIXTURES / "echo.tac"), "-m", MAINTAINER, *args,
                         "-o", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert ("--debfile" if args[0] == "-d" else "--protocol") in err
    assert not list(tmp_path.iterdir())

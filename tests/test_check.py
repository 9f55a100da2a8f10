"""--check: twistd's own loader, run in a subprocess, on real application files.

These need Twisted (Debian's python3-twisted gives /usr/bin/twistd3).  Without it they
are skipped, except in CI (CI=true), where a missing tool is a failure.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from tap2pkg.appfile import guess_kind
from tap2pkg.appfile.check import check, find_python
from tap2pkg.errors import AppFileError
from tap2pkg.model import AppKind

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def require_tool(name: str) -> str:
    """The tool's path; skip the test without it, or fail it in CI."""
    found = shutil.which(name)
    if found is None:
        message = f"{name} is not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} (required in CI)")
        pytest.skip(message)
    return found


@pytest.mark.parametrize("name", ["echo.tac", "privileged.tac", "echopickle.tap", "echosource.tas"])
def test_fixture_passes(name: str) -> None:
    twistd = require_tool("twistd3")
    path = FIXTURES / name
    check(path, guess_kind(path), twistd)


def test_raises_at_import(tmp_path: Path) -> None:
    twistd = require_tool("twistd3")
    path = tmp_path / "boom.tac"
    path.write_text(
        "from twisted.application import service\n"
        "application = service.Application('boom')\n"
        "raise RuntimeError('boom at import')\n"
    )
    with pytest.raises(AppFileError) as caught:
        check(path, AppKind.PYTHON, twistd)
    message = str(caught.value)
    assert message.startswith("boom.tac: twistd could not load it:\nTraceback")
    assert f'File "{path}", line 3, in <module>' in message
    assert message.endswith("RuntimeError: boom at import")


def test_no_application(tmp_path: Path) -> None:
    twistd = require_tool("twistd3")
    path = tmp_path / "noapp.tac"
    path.write_text("x = 1\n")
    with pytest.raises(AppFileError, match="KeyError: 'application'"):
        check(path, AppKind.PYTHON, twistd)


def test_sibling_module_is_not_on_the_path(tmp_path: Path) -> None:
    # The installed service has /etc/<pkg>/ and an empty working directory: a module next
    # to the .tac is not importable there, so --check must fail too...
    twistd = require_tool("twistd3")
    (tmp_path / "helper.py").write_text("NAME = 'helped'\n")
    path = tmp_path / "helped.tac"
    path.write_text(
        "from twisted.application import service\n"
        "import helper\n"
        "application = service.Application(helper.NAME)\n"
    )
    with pytest.raises(AppFileError, match="No module named 'helper'"):
        check(path, AppKind.PYTHON, twistd)
    # ...and pass once the package puts it on sys.path (what --include does).
    included = tmp_path / "app"
    included.mkdir()
    (tmp_path / "helper.py").rename(included / "helper.py")
    check(path, AppKind.PYTHON, twistd, sys_path=[included])
    assert not (included / "__pycache__").exists()


def test_user_site_and_pythonpath_are_ignored(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    twistd = require_tool("twistd3")
    (tmp_path / "helper.py").write_text("NAME = 'helped'\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    path = tmp_path / "helped.tac"
    path.write_text("import helper\nfrom twisted.application import service\n"
                    "application = service.Application('x')\n")
    with pytest.raises(AppFileError, match="No module named 'helper'"):
        check(path, AppKind.PYTHON, twistd)


def test_pickle_that_twistd_refuses(tmp_path: Path) -> None:
    twistd = require_tool("twistd3")
    path = tmp_path / "cut.tap"
    path.write_bytes((FIXTURES / "echopickle.tap").read_bytes()[:100])
    with pytest.raises(AppFileError, match=r"cut\.tap: twistd could not load it:\n"):
        check(path, AppKind.TAP, twistd)


def test_timeout(tmp_path: Path) -> None:
    twistd = require_tool("twistd3")
    path = tmp_path / "hang.tac"
    path.write_text("import time\ntime.sleep(60)\napplication = None\n")
    started = time.monotonic()
    with pytest.raises(AppFileError) as caught:
        check(path, AppKind.PYTHON, twistd, timeout=2)
    assert str(caught.value) == "hang.tac: twistd did not finish loading it within 2 seconds"
    assert time.monotonic() - started < 30


def test_exit_zero_without_loading(tmp_path: Path) -> None:
    # Exiting early with status 0 is not a successful load.
    twistd = require_tool("twistd3")
    path = tmp_path / "quits.tac"
    path.write_text("import sys\nsys.exit(0)\n")
    with pytest.raises(AppFileError, match="twistd could not load it"):
        check(path, AppKind.PYTHON, twistd)


def test_twistd_found_on_path_when_given_one_is_missing() -> None:
    require_tool("twistd3")
    # The target's twistd path need not exist on this machine.
    assert Path(find_python("/nonexistent/bin/twistd")).name.startswith("python")


def test_no_twistd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AppFileError) as caught:
        check(FIXTURES / "echo.tac", AppKind.PYTHON, "/nonexistent/twistd")
    assert str(caught.value) == "--check needs Twisted on this machine: no twistd found"


def test_python_from_env_shebang(tmp_path: Path) -> None:
    twistd = tmp_path / "twistd"
    twistd.write_text("#!/usr/bin/env python3\nimport sys\n")
    python3 = require_tool("python3")
    assert find_python(str(twistd)) == python3


def test_not_a_python_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    twistd = tmp_path / "twistd"
    twistd.write_text("#!/bin/sh\nexec something\n")
    with pytest.raises(AppFileError, match="cannot tell which Python runs"):
        find_python(str(twistd))


def test_xml_cannot_be_checked(tmp_path: Path) -> None:
    with pytest.raises(AppFileError, match="--check cannot load xml"):
        check(tmp_path / "app.tax", AppKind.XML, "twistd3")

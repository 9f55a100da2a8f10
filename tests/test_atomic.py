"""Atomic output: a build killed at any moment leaves no truncated or corrupt artifact, the
next run succeeds, and two builds into one directory at once both succeed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from debian.debfile import DebFile

from tests.conftest import EPOCH, FIXTURES, MAINTAINER, require_tool

pytestmark = pytest.mark.slow
CODE = "import sys; from tap2pkg.cli import tap2deb_main as m; sys.exit(m(sys.argv[1:]))"


def tap2deb(out: Path, app: str = "echo.tac", *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", CODE, "-t", str(FIXTURES / app), "-m", MAINTAINER,
         "-o", str(out), "-q", *extra],
        env={**os.environ, "SOURCE_DATE_EPOCH": EPOCH},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def assert_outputs_sound(out: Path) -> None:
    """Every artifact present is whole: debs read back, .dsc files are complete."""
    for deb in out.glob("*.deb"):
        with DebFile(str(deb)) as pkg:
            assert pkg.debcontrol()["Package"]
            assert pkg.data.tgz().getmembers()
    for dsc in out.glob("*.dsc"):
        assert "Checksums-Sha256:" in dsc.read_text()
    for tree in out.glob("twisted-*-1.0"):
        assert (tree / "debian" / "control").is_file()
        assert (tree / ".tap2pkg-manifest.json").is_file()


def test_killed_builds_never_leave_corrupt_artifacts(tmp_path: Path) -> None:
    require_tool("dpkg-deb", "dpkg-source")
    out = tmp_path / "out"
    timings = []
    for delay_ms in range(0, 600, 20):
        proc = tap2deb(out)
        time.sleep(delay_ms / 1000)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        timings.append((delay_ms, proc.returncode))
        assert_outputs_sound(out)
    # Some runs were killed mid-build, and some finished: the window was covered.
    assert any(code == -signal.SIGKILL for _d, code in timings)
    proc = tap2deb(out)
    _stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert_outputs_sound(out)
    assert (out / "twisted-echo_1.0_all.deb").is_file()
    # Scratch directories of killed builds are cleaned up by the next build.
    assert list(out.glob(".tap2pkg-work-*")) == []


def test_two_builds_into_one_directory_at_once(tmp_path: Path) -> None:
    require_tool("dpkg-deb", "dpkg-source")
    out = tmp_path / "out"
    out.mkdir()
    procs = [tap2deb(out, "echo.tac"), tap2deb(out, "privileged.tac"),
             tap2deb(out, "echopickle.tap")]
    for proc in procs:
        _stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
    for name in ("twisted-echo", "twisted-privileged", "twisted-echopickle"):
        assert (out / f"{name}_1.0_all.deb").is_file()
    assert_outputs_sound(out)
    assert list(out.glob(".tap2pkg-work-*")) == []

"""Helpers for the --include/--bundle tests: a wheel folder for the fixture project,
downloaded once with pip from the configured index and kept in the tests' cache, so that
every build in the tests runs offline (--find-links DIR --no-index)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tap2pkg.bundle import host_machine, platform_tags
from tests.conftest import FIXTURES
from tests.debroot import CACHE

PROJECT = FIXTURES / "project"
TAC = PROJECT / "romanserve.tac"
PKG = "twisted-romanserve"
PORT = 8091
# What the fixture project needs, and flit_core to build it.
REQUIREMENTS = ["twisted >=24.7", "roman-numerals >=4", "flit_core >=3.12,<5"]
WHEELS = CACHE / "wheels-romanserve-cp311"


def wheel_folder() -> Path:
    """The cached wheel folder, made on first use."""
    if (WHEELS / "complete").is_file():
        return WHEELS
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE, prefix="wheels-") as tmp:
        argv = [sys.executable, "-m", "pip", "download", "-q", "--dest", tmp,
                "--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp",
                "--abi", "cp311", "--abi", "none", "--abi", "abi3"]
        for tag in platform_tags("2.36", host_machine()):
            argv += ["--platform", tag]
        subprocess.run([*argv, *REQUIREMENTS], check=True, capture_output=True)
        Path(tmp, "complete").write_text("")
        if WHEELS.exists():
            shutil.rmtree(WHEELS)
        os.replace(tmp, WHEELS)
        Path(tmp).mkdir()  # for TemporaryDirectory's clean-up
    return WHEELS


def offline(wheels: Path) -> list[str]:
    return ["--find-links", str(wheels), "--no-index"]

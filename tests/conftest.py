"""Shared test helpers: fixture paths, the tool gate (skip on a laptop, fail in CI), golden
file comparison with --update-golden, and a fixed SOURCE_DATE_EPOCH."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tap2pkg.tree import SourceTree
from tests.debroot import SYSV, DebianRoot, SysvRelease, debian_root

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
GOLDEN = Path(__file__).resolve().parent / "golden"
EPOCH = "1700000000"
MAINTAINER = "Jane Doe <jane@example.org>"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite the golden files under tests/golden from the current output",
    )


def require_tool(*names: str) -> None:
    """Skip when a tool is missing on a developer machine; fail in CI, where it must be."""
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        message = f"needs {', '.join(missing)}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} (CI must install it)")
        pytest.skip(message)


@pytest.fixture(autouse=True)
def _fixed_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


MODES = "MODES"


def assert_tree_matches_golden(tree: SourceTree, golden: Path, update: bool) -> None:
    """Compare a whole rendered tree with golden/ (files and a MODES listing); report
    missing, extra and differing files separately."""
    modes = "".join(f"{oct(tree[p].mode)[2:]} {p}\n" for p in tree)
    if update:
        if golden.exists():
            shutil.rmtree(golden)
        for path in tree:
            target = golden / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(tree[path].data)
        (golden / MODES).write_text(modes, encoding="utf-8")
        return
    assert golden.is_dir(), f"no golden files at {golden}: run pytest --update-golden"
    expected = {
        p.relative_to(golden).as_posix()
        for p in golden.rglob("*")
        if p.is_file() and p.name != MODES
    }
    actual = set(tree)
    assert not expected - actual, f"missing files: {sorted(expected - actual)}"
    assert not actual - expected, f"extra files: {sorted(actual - expected)}"
    differing = [p for p in sorted(actual) if (golden / p).read_bytes() != tree[p].data]
    assert not differing, f"files differ from golden (run --update-golden to accept): {differing}"
    assert (golden / MODES).read_text(encoding="utf-8") == modes


@pytest.fixture(scope="module")
def sysv_release() -> SysvRelease:
    """Which SysV root `root` is: Debian 12 (tests/test_lifecycle_deb_trixie.py overrides it
    with Debian 13)."""
    return SYSV["debian-12"]


@pytest.fixture
def root(tmp_path: Path, sysv_release: SysvRelease) -> Iterator[DebianRoot]:
    """A fresh SysV root of that release (see tests/debroot.py); needs root and debootstrap.
    Debian 13's runs in a network namespace of its own, so that CI can run it beside the
    Debian 12 suite, whose services use the same ports on the host."""
    from tests.servicecheck import require_root

    require_root()
    started = time.monotonic()
    with debian_root(tmp_path, sysv_release, private=sysv_release.target != "debian-12") as r:
        yield r
    print(f"\n[lifecycle] {sysv_release.suite} root used for {time.monotonic() - started:.1f}s")


_LIFECYCLE_TIMES: list[tuple[str, float]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and "lifecycle" in report.keywords:
        _LIFECYCLE_TIMES.append((report.nodeid, report.duration))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Always print how long the lifecycle tests took (issue: their run time is shown)."""
    if not _LIFECYCLE_TIMES:
        return
    terminalreporter.section("lifecycle run times")
    for nodeid, seconds in _LIFECYCLE_TIMES:
        terminalreporter.write_line(f"{seconds:7.1f}s  {nodeid}")
    total = sum(seconds for _n, seconds in _LIFECYCLE_TIMES)
    terminalreporter.write_line(f"{total:7.1f}s  total (the cached Debian root excluded)")


@contextmanager
def gnupg_home(tmp_path_factory: pytest.TempPathFactory, key: str) -> Iterator[Path]:
    """A throwaway GNUPGHOME holding one signing key for `key` (no passphrase), set in the
    environment while in use; its gpg-agent is stopped afterwards."""
    require_tool("gpg")
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)
    subprocess.run(["gpg", "--homedir", str(home), "--batch", "--passphrase", "",
                    "--quick-gen-key", key, "rsa2048", "sign", "never"],
                   check=True, capture_output=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GNUPGHOME", str(home))
        yield home
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False,
                   capture_output=True)

"""Golden files for the rendered Debian source tree of each fixture.

Regenerate after an intended change with: pytest tests/test_golden.py --update-golden
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tap2pkg.appfile import load
from tap2pkg.backends import debian
from tap2pkg.backends.debian.source import render_source
from tap2pkg.spec import Options, resolve
from tap2pkg.tree import SourceTree
from tests.conftest import FIXTURES, GOLDEN, MAINTAINER, assert_tree_matches_golden

CASES = {
    "echo.tac": [],
    "echopickle.tap": [],
    "echosource.tas": [],
    "echoxml.tax": [],
    "privileged.tac": ["--init", "systemd"],
}
RPM_CASES = {
    "echo.tac": None,
    "echopickle.tap": None,
    "echosource.tas": None,
    "echoxml.tax": None,
    "privileged.tac": "systemd,sysv",
}
# Every fixture for the default rpm target; the two that cover every scriptlet and file
# (systemd only; systemd with a SysV subpackage) for each other rpm target.
RPM_TARGETS = ("el8", "el9", "opensuse-leap-15.6", "opensuse-tumbleweed")
RPM_GOLDEN = [("fedora", fixture) for fixture in sorted(RPM_CASES)] + [
    (target, fixture) for target in RPM_TARGETS for fixture in ("echo.tac", "privileged.tac")
]


# Every fixture for Debian 12; the two that cover a unit with an init script and a unit
# alone for each other Debian-family target.
DEB_TARGETS = ("debian-13", "ubuntu-22.04", "ubuntu-24.04")
DEB_GOLDEN = [("debian-12", fixture) for fixture in sorted(CASES)] + [
    (target, fixture) for target in DEB_TARGETS for fixture in ("echo.tac", "privileged.tac")
]


def _options(path: Path, extra: list[str], target: str) -> Options:
    init = extra[1] if extra else None
    return Options(tapfile=path, maintainer=MAINTAINER, init=init, target=target)


@pytest.mark.parametrize(("target", "fixture"), DEB_GOLDEN)
def test_deb_source_tree_matches_golden(target: str, fixture: str, update_golden: bool
                                        ) -> None:
    path = FIXTURES / fixture
    spec = resolve(_options(path, CASES[fixture], target), load(path), debian.CONVENTIONS)
    tree = render_source(spec)
    assert_tree_matches_golden(tree, GOLDEN / "deb" / target / fixture, update_golden)


@pytest.mark.parametrize(("target", "fixture"), RPM_GOLDEN)
def test_rpm_tree_matches_golden(target: str, fixture: str, update_golden: bool) -> None:
    """The kept spec and rpmlint settings, and the files packed into Source0."""
    from tap2pkg.backends import rpm
    from tap2pkg.backends.rpm.build import render_tree
    from tap2pkg.backends.rpm.source import service_files, tarball_name

    path = FIXTURES / fixture
    options = Options(tapfile=path, maintainer=MAINTAINER, init=RPM_CASES[fixture],
                      target=target)
    spec = resolve(options, load(path), rpm.CONVENTIONS)
    tree = render_tree(spec)
    readable = SourceTree()
    for name in tree:
        if name != f"SOURCES/{tarball_name(spec)}":  # compressed: compared by its files
            readable.add(name, tree[name].data, tree[name].mode)
    sources = service_files(spec)
    for name in sources:
        readable.add(f"SOURCES/{tarball_name(spec)}.contents/{name}", sources[name].data,
                     sources[name].mode)
    assert_tree_matches_golden(readable, GOLDEN / "rpm" / target / fixture, update_golden)


@pytest.mark.parametrize(
    ("fixture", "flag"),
    [("echo.tac", "--python"), ("echopickle.tap", "--file"), ("echosource.tas", "--source")],
)
def test_unit_and_init_script_use_the_kind_flag(fixture: str, flag: str) -> None:
    path = FIXTURES / fixture
    spec = resolve(Options(tapfile=path, maintainer=MAINTAINER), load(path), debian.CONVENTIONS)
    tree = render_source(spec)
    unit = tree.text(f"debian/{spec.name}.service")
    init = tree.text(f"debian/{spec.name}.init")
    [exec_start] = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    assert " --no_save " in exec_start
    assert f" {flag}=/etc/{spec.name}/{fixture} " in exec_start
    assert f'{flag}="$APPFILE"' in init
    assert f"\nAPPFILE=/etc/{spec.name}/{fixture}\n" in init
    assert " --no_save " in init
    # The admin's file holds no package-controlled value (issue 12: conffiles).
    default = tree.text(f"debian/{spec.name}.default")
    assert [line for line in default.splitlines() if line and not line.startswith("#")] == \
        ['TWISTD_OPTS=""']

"""The spec under Debian 13's rpm 4.20 and rpmlint 2.7, for real, in a Debian 13 root.

The root is a fresh copy of the trixie root the systemd suites cache (tests/nspawn.py),
or TAP2PKG_DEBIAN13_ROOT when set (an unpacked Debian 13 root with rpm and rpmlint); the
tests run rpmbuild, rpmlint and a plain rpm -i (dependencies checked, the distribution's
own packages stood in for) in it with chroot, as root (this host's rpm is 4.18).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tap2pkg.backends import rpm
from tap2pkg.backends.rpm.specfile import render_spec
from tap2pkg.errors import UsageError
from tap2pkg.model import AppInfo, AppKind
from tap2pkg.spec import Options, resolve
from tap2pkg.targets import TARGETS
from tests.conftest import EPOCH, FIXTURES, MAINTAINER, require_tool
from tests.rpm_helpers import tap2rpm
from tests.test_spec_injection import (
    NAMES,
    QUERY,
    SENTINEL,
    SEP,
    expected_fields,
    mixed_case,
    parts_of,
    payloads,
)

pytestmark = [pytest.mark.slow, pytest.mark.lifecycle]
WORK = "/root/tap2pkg-rpm-test"


@pytest.fixture(scope="module")
def debian13_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """TAP2PKG_DEBIAN13_ROOT when set, else a fresh copy of the cached trixie root that the
    systemd suites use (tests/nspawn.py; built on first use, about three minutes)."""
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("needs root for chroot (CI runs as root)")
        pytest.skip("needs root for chroot")
    value = os.environ.get("TAP2PKG_DEBIAN13_ROOT")
    if value:
        root = Path(value)
        assert (root / "usr/bin/rpmbuild").exists() and (root / "usr/bin/rpmlint").exists()
        yield root
        return
    require_tool("debootstrap")
    from tests.nspawn import trixie_root

    with trixie_root(tmp_path_factory.mktemp("rpm-debian13")) as tools:
        yield tools.path


def chroot(root: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/root", "LC_ALL": "C.UTF-8",
           "SOURCE_DATE_EPOCH": EPOCH}
    command = shutil.which("chroot") or "/usr/sbin/chroot"
    return subprocess.run([command, str(root), *argv], capture_output=True, text=True,
                          check=False, env=env)


@contextmanager
def mounted(root: Path) -> Iterator[None]:
    """rpm's sysusers.sh reads /dev/fd: /proc and /dev, for the install only."""
    subprocess.run(["mount", "-t", "proc", "proc", str(root / "proc")], check=True)
    try:
        subprocess.run(["mount", "--bind", "/dev", str(root / "dev")], check=True)
        try:
            yield
        finally:
            subprocess.run(["umount", str(root / "dev")], check=True)
    finally:
        subprocess.run(["umount", str(root / "proc")], check=True)


# What the distribution itself provides for the package's requires; in Debian's empty rpm
# database a stand-in package provides them (named as such), so that rpm checks every
# other requirement of the package for real.  /bin/sh: bash's file (rpm adds it for the
# scriptlets and the ready script); python3dist(twisted): python3-twisted on Fedora
# [fed-twisted in tap2pkg/targets.py], python313-Twisted on Tumbleweed.
STAND_IN = """Name:           tap2pkg-test-stands-for-{target}
Version:        1
Release:        1
Summary:        Test stand-in for what {target} provides
License:        MIT
BuildArch:      noarch
Provides:       /bin/sh
Provides:       python3dist(twisted) = {twisted}

%description
Stands in a test rpm database for the packages of {target} that provide these.

%files
"""
NO_UNSHARE = ("--define", "__transaction_unshare %{nil}")


def install_with_dependencies_checked(root: Path, target: str, rpm_file: str) -> None:
    """Plain `rpm -i` (no --nodeps): what is missing without the distribution is exactly
    its own packages; with the stand-in, the package installs, its sysusers.d file having
    become the user()/group() provides that its files' owner requires; rpm -e removes
    it cleanly."""
    missing = chroot(root, "rpm", "-i", "--test", *NO_UNSHARE, rpm_file)
    assert missing.returncode != 0
    assert sorted(line.strip() for line in missing.stderr.splitlines()
                  if "is needed by" in line) == [
        "/bin/sh is needed by twisted-echo-1.0-1.noarch",
        "python3dist(twisted) is needed by twisted-echo-1.0-1.noarch",
    ], missing.stderr
    stand_in = f"tap2pkg-test-stands-for-{target}"
    (root / WORK.lstrip("/") / "SPECS/stand-in.spec").write_text(STAND_IN.format(
        target=target, twisted=TARGETS[target].twisted_version))
    built = chroot(root, "rpmbuild", "-bb", "--define", f"_topdir {WORK}",
                   f"{WORK}/SPECS/stand-in.spec")
    assert built.returncode == 0, built.stderr
    stand_in_rpm = f"{WORK}/RPMS/noarch/{stand_in}-1-1.noarch.rpm"
    assert chroot(root, "rpm", "-i", *NO_UNSHARE, stand_in_rpm).returncode == 0
    # rpm >= 4.19 requires the user and group that own the package's files, and provides
    # them from its sysusers.d file: resolved by the package itself.
    requires = chroot(root, "rpm", "-qp", "--requires", rpm_file).stdout.splitlines()
    assert {"user(twisted-echo)", "group(twisted-echo)"} <= set(requires)
    installed = chroot(root, "rpm", "-i", *NO_UNSHARE, rpm_file)
    assert installed.returncode == 0, installed.stderr
    assert "does not exist" not in installed.stderr  # the user was made before the files
    for what in ("user(twisted-echo)", "group(twisted-echo)"):
        provider = chroot(root, "rpm", "-q", "--whatprovides", what)
        assert provider.stdout.strip() == "twisted-echo-1.0-1.noarch", provider.stdout
    for what in ("python3dist(twisted)", "/bin/sh"):
        assert chroot(root, "rpm", "-q", "--whatprovides", what).stdout.strip() == (
            f"{stand_in}-1-1.noarch")
    assert chroot(root, "getent", "passwd", "twisted-echo").stdout.startswith(
        "twisted-echo:x:")
    owner = chroot(root, "stat", "-c", "%U:%G", "/var/lib/twisted-echo").stdout
    assert owner.strip() == "twisted-echo:twisted-echo"
    assert chroot(root, "rpm", "-V", "twisted-echo").returncode == 0
    erased = chroot(root, "rpm", "-e", *NO_UNSHARE, "twisted-echo", stand_in)
    assert erased.returncode == 0, erased.stderr
    left = chroot(root, "rpm", "-q", "twisted-echo", stand_in)
    assert left.stdout.count("is not installed") == 2, left.stdout


@pytest.mark.parametrize("target", ["fedora", "opensuse-tumbleweed"])  # both rpm 4.20
def test_spec_builds_lints_and_installs_with_rpm_4_20(target: str, tmp_path: Path,
                                                       debian13_root: Path) -> None:
    root = debian13_root
    out = tmp_path / "out"
    assert tap2rpm(["-t", str(FIXTURES / "echo.tac"), "-o", str(out), "-q", "-m", MAINTAINER,
                    "--init", "systemd,sysv", "--target", target]) == 0
    work = root / WORK.lstrip("/")
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(out / "rpmbuild", work)
    try:
        spec = f"{WORK}/SPECS/twisted-echo.spec"
        built = chroot(root, "rpmbuild", "-ba", "--define", f"_topdir {WORK}", spec)
        assert built.returncode == 0, built.stderr
        assert "deprecated" not in built.stderr + built.stdout  # the mtime policy's form
        assert "Executing(%check)" in built.stderr + built.stdout
        rpm = f"{WORK}/RPMS/noarch/twisted-echo-1.0-1.noarch.rpm"
        lint = chroot(root, "rpmlint", "-c", f"{WORK}/SPECS/twisted-echo.rpmlint.toml",
                      rpm, f"{WORK}/RPMS/noarch/twisted-echo-sysvinit-1.0-1.noarch.rpm",
                      f"{WORK}/SRPMS/twisted-echo-1.0-1.src.rpm", spec)
        problems = [line for line in lint.stdout.splitlines()
                    if (": E: " in line or ": W: " in line) and "no-signature" not in line]
        assert problems == [], lint.stdout
        # rpm >= 4.19 creates the user from the sysusers.d file: no %pre, and provides.
        scripts = chroot(root, "rpm", "-qp", "--scripts", rpm).stdout
        assert "preinstall" not in scripts and "useradd" not in scripts
        provides = chroot(root, "rpm", "-qp", "--provides", rpm).stdout.split("\n")
        assert "group(twisted-echo)" in provides
        assert any(line.startswith("user(twisted-echo)") for line in provides)
        with mounted(root):
            install_with_dependencies_checked(root, target, rpm)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_no_name_is_acted_on_by_rpm_4_20(debian13_root: Path) -> None:
    """issue 10 item 1 under rpm 4.20: every section and directive name, mixed case, at
    the start of a description line, after blanks, pre-escaped, inside a line and where
    folding would break, and in the summary and maintainer: refused with one line, or
    read as text by Debian 13's rpmspec."""
    root = debian13_root
    app = AppInfo(kind=AppKind.PYTHON, filename="echo.tac", content=b"application = None\n")
    work = root / WORK.lstrip("/")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    sentinel = root / str(SENTINEL).lstrip("/")
    baseline: list[str] = []
    try:
        for number, name in enumerate(("harmless", *NAMES)):
            odd = mixed_case(name, [(i + number) % 2 == 0 for i in range(len(name))])
            for value in payloads(odd):
                try:
                    spec = resolve(Options(
                        tapfile=FIXTURES / "echo.tac", maintainer=f"Ann {odd} <a@example.org>",
                        description=f"{odd} %(touch x)", long_description=value),
                        app, rpm.CONVENTIONS)
                    text = render_spec(spec)
                except UsageError as exc:
                    refused = str(exc)
                else:
                    refused = ""
                if refused:
                    assert refused.startswith("--long_description: line "), refused
                    continue
                (work / "x.spec").write_text(text, encoding="utf-8")
                parsed = chroot(root, "rpmspec", "-P", f"{WORK}/x.spec")
                assert parsed.returncode == 0, f"{value!r}: {parsed.stderr}"
                assert not sentinel.exists(), value
                baseline = baseline or parts_of(parsed.stdout)
                assert parts_of(parsed.stdout) == baseline, value
                queried = chroot(root, "rpmspec", "-q", "--srpm", "--qf", QUERY,
                                 f"{WORK}/x.spec")
                assert queried.stdout.split(SEP) == expected_fields(spec), value
    finally:
        shutil.rmtree(work, ignore_errors=True)

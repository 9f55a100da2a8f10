"""Scratch directories: private to each build, never at a shared path another user could
pre-create, and never removed while their build is alive, whatever PID namespace it runs
in; rpm packages carry no trace of where they were built."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import EPOCH, FIXTURES, MAINTAINER, ROOT, require_tool

NOBODY = 65534
MAIN = ("import sys; from tap2pkg.cli import {main} as m; sys.exit(m(sys.argv[1:]))")
# Holds a workspace in out (argv[1]) until its stdin closes; says where, and its pid.
HOLD = """
import os, sys
from pathlib import Path
from tap2pkg.output import workspace
with workspace(Path(sys.argv[1])) as work:
    (work / "live").write_text("in use")
    print(os.getpid(), work, flush=True)
    sys.stdin.read()
"""
# In a new PID namespace: make the next pid there one that is dead outside, then hold.
LAUNCH = """
import subprocess, sys
with open("/proc/sys/kernel/ns_last_pid", "w") as f:
    f.write(str(int(sys.argv[1]) - 1))
sys.exit(subprocess.run([sys.executable, "-c", sys.argv[2], sys.argv[3]]).returncode)
"""


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, "SOURCE_DATE_EPOCH": EPOCH, "PYTHONPATH": str(ROOT), **extra}


def tool(main: str, out: Path, *prefix: str) -> list[str]:
    return [*prefix, sys.executable, "-c", MAIN.format(main=main), "-t",
            str(FIXTURES / "echo.tac"), "-m", MAINTAINER, "-o", str(out), "-q"]


def need_root(what: str) -> None:
    if os.geteuid() != 0:
        pytest.skip(f"needs root ({what})")


# ---- no fixed shared path ----


@pytest.fixture
def nobody_out() -> Iterator[Path]:
    """An output directory the user nobody owns (outside root's private pytest dirs)."""
    out = Path(tempfile.mkdtemp(prefix="tap2pkg-nobody-"))
    os.chown(out, NOBODY, NOBODY)
    yield out
    shutil.rmtree(out, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.parametrize("hostile", ["foreign-directory", "symlink"])
def test_precreated_var_tmp_path_neither_blocks_nor_redirects(
    nobody_out: Path, tmp_path: Path, hostile: str
) -> None:
    """Another user (here root) plants the path tap2rpm 0.1 used for nobody's builds."""
    need_root("to build as another user")
    require_tool("rpmbuild", "setpriv")
    as_nobody = ("setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups")
    probe = subprocess.run([*as_nobody, sys.executable, "-c", "import tap2pkg"], env=env(),
                           capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip("the user nobody cannot read this checkout or its Python")
    planted = Path(f"/var/tmp/tap2pkg-rpmbuild-{NOBODY}")  # the path tap2rpm 0.1 used
    if os.path.lexists(planted):
        pytest.skip(f"{planted} exists already")
    lure = tmp_path / "lure"  # where a followed link would lead: writable by anyone
    lure.mkdir(mode=0o777)
    lure.chmod(0o777)
    try:
        if hostile == "symlink":
            planted.symlink_to(lure)
        else:
            planted.mkdir(mode=0o755)
            (planted / "rpmbuild").mkdir()
        before = sorted(p.name for p in planted.iterdir())
        proc = subprocess.run(tool("tap2rpm_main", nobody_out, *as_nobody),
                              env=env(HOME=str(nobody_out)), capture_output=True, text=True,
                              check=False)
        assert proc.returncode == 0, proc.stderr
        assert (nobody_out / "twisted-echo-1.0-1.noarch.rpm").is_file()
        assert (nobody_out / "twisted-echo-1.0-1.src.rpm").is_file()
        assert sorted(p.name for p in planted.iterdir()) == before
        assert list(lure.iterdir()) == []
    finally:
        if planted.is_symlink():
            planted.unlink()
        else:
            shutil.rmtree(planted, ignore_errors=True)


@pytest.mark.slow
def test_rpm_packages_do_not_depend_on_the_build_path(tmp_path: Path) -> None:
    require_tool("rpmbuild", "rpm")
    outs = [tmp_path / "a", tmp_path / ("b" * 120) / "deeper" / "out"]
    for out in outs:
        proc = subprocess.run(tool("tap2rpm_main", out), env=env(), capture_output=True,
                              text=True, check=False)
        assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in outs[0].glob("*.rpm"))
    assert names == sorted(p.name for p in outs[1].glob("*.rpm"))
    for name in names:
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    spec = subprocess.run(["rpm", "-qp", "--qf", "%{SPEC}", str(outs[0] / names[-1])],
                          capture_output=True, text=True, check=True).stdout
    assert "%install" in spec
    assert str(tmp_path) not in spec
    assert "/var/tmp" not in spec


# ---- liveness by lock, not pid ----


def dead_pid() -> int:
    """A pid no process has here (in this PID namespace)."""
    for pid in range(int(Path("/proc/sys/kernel/pid_max").read_text()) - 50, 300, -1):
        if not Path(f"/proc/{pid}").exists():
            return pid
    raise AssertionError("no free pid")


@pytest.mark.slow
def test_live_workspace_of_a_build_in_another_pid_namespace_is_kept(tmp_path: Path) -> None:
    need_root("for a PID namespace")
    require_tool("unshare", "dpkg-deb")
    out = tmp_path / "out"
    out.mkdir()
    pid = dead_pid()
    with subprocess.Popen(
        ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", LAUNCH,
         str(pid), HOLD, str(out)],
        env=env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    ) as holder:
        assert holder.stdin is not None and holder.stdout is not None
        try:
            inner_pid, work = holder.stdout.readline().split()
            # Its pid, in its namespace, is one that is dead in ours.
            assert int(inner_pid) == pid
            assert not Path(f"/proc/{pid}").exists()
            proc = subprocess.run(tool("tap2deb_main", out), env=env(), capture_output=True,
                                  text=True, check=False)
            assert proc.returncode == 0, proc.stderr
            assert (out / "twisted-echo_1.0_all.deb").is_file()
            assert (Path(work) / "live").read_text() == "in use"
        finally:
            holder.stdin.close()
            holder.wait(timeout=60)
    assert holder.returncode == 0
    assert not Path(work).exists()  # its owner removed it on the way out


def test_killed_builds_workspace_is_removed_by_the_next(tmp_path: Path) -> None:
    """A workspace whose lock can be taken is stale, whatever its name says."""
    require_tool("dpkg-deb")
    out = tmp_path / "out"
    out.mkdir()
    with subprocess.Popen([sys.executable, "-c", HOLD, str(out)], env=env(),
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as holder:
        assert holder.stdout is not None
        _pid, work = holder.stdout.readline().split()
        os.kill(holder.pid, signal.SIGKILL)
    assert Path(work).is_dir()
    proc = subprocess.run(tool("tap2deb_main", out), env=env(), capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert not Path(work).exists()
    assert list(out.glob(".tap2pkg-work-*")) == []


def test_workspace_cleanup_follows_no_link(tmp_path: Path) -> None:
    """A link named like a stale workspace is not a workspace: what it points to stays."""
    require_tool("dpkg-deb")
    out, victim = tmp_path / "out", tmp_path / "victim"
    out.mkdir()
    victim.mkdir()
    (victim / "precious").write_text("keep me")
    (out / ".tap2pkg-work-1-abc").symlink_to(victim)
    proc = subprocess.run(tool("tap2deb_main", out), env=env(), capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert (victim / "precious").read_text() == "keep me"


# Holds an in-memory staging directory (tap2pkg.output.staging) until stdin closes.
HOLD_STAGE = """
import sys
from pathlib import Path
from tap2pkg.output import staging
with staging(10, Path(sys.argv[1])) as stage:
    print(stage, flush=True)
    sys.stdin.read()
"""


def test_killed_builds_staging_is_removed_by_the_next(tmp_path: Path) -> None:
    """A small package is staged in /dev/shm: a killed build's staging directory is
    removed by the next build; one a live build holds, and a link named like one, stay."""
    require_tool("dpkg-deb")
    if not Path("/dev/shm").is_dir():
        pytest.skip("no /dev/shm")
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious").write_text("keep me")
    hold = [sys.executable, "-c", HOLD_STAGE, str(out)]
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "text": True}
    with subprocess.Popen(hold, env=env(), **pipes) as killed, \
            subprocess.Popen(hold, env=env(), **pipes) as live:
        assert killed.stdout is not None and live.stdout is not None
        assert live.stdin is not None
        dead = Path(killed.stdout.readline().strip())
        alive = Path(live.stdout.readline().strip())
        assert dead.parent == Path("/dev/shm")
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(timeout=60)
        link = Path(tempfile.mktemp(prefix="tap2pkg-stage-", dir="/dev/shm"))  # noqa: S306
        link.symlink_to(victim)
        try:
            proc = subprocess.run(tool("tap2deb_main", out), env=env(), capture_output=True,
                                  text=True, check=False)
            assert proc.returncode == 0, proc.stderr
            assert not dead.exists()
            assert alive.is_dir()
            assert (victim / "precious").read_text() == "keep me"
        finally:
            link.unlink()
            live.stdin.close()
            live.wait(timeout=60)
    assert not alive.exists()  # its owner removed it on the way out

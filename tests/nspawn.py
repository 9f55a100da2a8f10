"""Debian roots booted under a real systemd (PID 1) with systemd-nspawn, for the systemd
lifecycle suites on Debian 12 and Debian 13, and a cached Debian 13 root that other suites
enter with chroot to run trixie's tools (lintian, dpkg-buildpackage, rpm 4.20, rpmlint 2.7).

Facts this rests on (measured on the CI kind of machine: no systemd or D-Bus on the host,
cgroups v1 hybrid):
- `systemd-nspawn -b --register=no --keep-unit` boots to `running` in about a second;
  without --keep-unit nspawn asks the (absent) system bus for a scope and fails.
- With --keep-unit the container lives in the cgroup nspawn was started in, so each one is
  started inside a cgroup of its own (name=systemd and unified hierarchies), else two
  containers share one; the cgroups are removed afterwards.
- `debootstrap --include=python3-twisted` fails on virtual packages: the root is made from
  minbase plus systemd, then the rest is installed inside with apt under a policy-rc.d that
  refuses to start anything.

Roots are cached as tarballs in ~/.cache/tap2pkg keyed by their contents (as tests/debroot.py
does for the SysV root); a lock makes a second builder wait for the first (CI prebuilds the
roots in the background while the rest of the suite runs).  Nothing here kills a process by
name: only processes whose root directory is the container's root.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from tests.debroot import (
    CACHE,
    ENV,
    kill_processes_in,
    make_root,
    mounted_proc,
    prebuild,
    run_checked,
    run_inside,
)

# Bumped when the recipe below changes in a way the package lists do not show.
RECIPE = "1"
BASE = ["systemd", "systemd-sysv", "dbus"]
SERVICE = ["python3-twisted", "adduser", "procps", "iproute2"]
# Trixie's tools for suites that check packages the way Debian 13 (and the rpm engineer's
# Fedora-like 4.20 rpm) would.
TOOLS = ["lintian", "debhelper", "dpkg-dev", "fakeroot", "rpm", "rpmlint"]


@dataclass(frozen=True)
class Release:
    target: str  # tap2pkg --target name
    suite: str
    packages: tuple[str, ...]

    @property
    def tarball(self) -> Path:
        key = hashlib.sha256(
            " ".join([RECIPE, self.suite, *BASE, *self.packages]).encode()
        ).hexdigest()[:12]
        return CACHE / f"{self.suite}-systemd-root-{key}.tar"


RELEASES = {
    "debian-12": Release("debian-12", "bookworm", tuple(SERVICE)),
    "debian-13": Release("debian-13", "trixie", (*SERVICE, *TOOLS)),
}

TIMINGS: dict[str, float] = {}  # "root build debian-12" -> seconds, for pytest's summary
SCORES: dict[str, float] = {}  # "debian-12 twisted-echo" -> systemd-analyze security


def _finisher(suite: str) -> Callable[[Path], None]:
    def finish(root: Path) -> None:
        # A booted container needs neither a console login nor a machine id of the host.
        (root / "etc/machine-id").write_text("")
        (root / "etc/hostname").write_text(f"tap2pkg-{suite}\n")
    return finish


def ensure_tarball(release: Release) -> Path:
    """The cached root of this release, made first if missing (about two minutes)."""
    if release.tarball.is_file():
        return release.tarball
    started = time.monotonic()
    make_root(release.tarball, release.suite, release.packages, include=tuple(BASE),
              finish=_finisher(release.suite))
    TIMINGS[f"root build {release.target}"] = time.monotonic() - started
    return release.tarball


def unpack(release: Release, dest: Path) -> Path:
    dest.mkdir(parents=True)
    run_checked(["tar", "-C", str(dest), "--numeric-owner", "-xf", str(ensure_tarball(release))])
    return dest


def remove_tree(path: Path) -> None:
    kill_processes_in(path)
    # Never walk into a live /proc or /sys.
    for sub in ("proc", "sys", "dev"):
        if os.path.ismount(path / sub):
            subprocess.run(["umount", "-l", str(path / sub)], check=False)
    if not any(os.path.ismount(p) for p in (path / "proc", path / "sys", path / "dev")):
        # rm is several times faster than shutil.rmtree on a whole root.
        subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=False)


# ---------------------------------------------------------------- a booted container

# The hybrid layout measured here (name=systemd v1 plus cgroup2 under unified/); on a pure
# cgroup2 host (Debian 12's default when systemd boots it) the tree is /sys/fs/cgroup itself.
CGROUP_ROOTS = ([Path("/sys/fs/cgroup")] if Path("/sys/fs/cgroup/cgroup.controllers").exists()
                else [Path("/sys/fs/cgroup/systemd"), Path("/sys/fs/cgroup/unified")])


class Container:
    """A root booted with systemd as PID 1; commands run inside through nsenter."""

    def __init__(self, path: Path, name: str) -> None:
        self.path = path
        self.name = name
        self.nspawn: subprocess.Popen[bytes] | None = None
        self.pid1 = 0
        self.log = path.parent / f"{name}.console"
        self.boots = 0

    # -- cgroups: one per container, in every hierarchy nspawn looks at
    def _cgroups(self) -> list[Path]:
        return [base / f"tap2pkg-{self.name}" for base in CGROUP_ROOTS if base.is_dir()]

    def _enter_cgroups(self) -> None:  # runs in the child between fork and exec
        for group in self._cgroups():
            (group / "cgroup.procs").write_text(str(os.getpid()))

    def _remove_cgroups(self) -> None:
        for group in self._cgroups():
            if group.is_dir():
                # Deepest first; a group with processes left cannot go (they were killed).
                for sub in sorted((p for p in group.rglob("*") if p.is_dir()),
                                  key=lambda p: len(p.parts), reverse=True):
                    with contextlib.suppress(OSError):
                        sub.rmdir()
                with contextlib.suppress(OSError):
                    group.rmdir()

    def boot(self, timeout: float = 120) -> None:
        for group in self._cgroups():
            group.mkdir(exist_ok=True)
        env = {**ENV, "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY": "1"}
        self.boots += 1
        with self.log.open("ab") as console:
            self.nspawn = subprocess.Popen(
                ["systemd-nspawn", "--quiet", "-b", "-D", str(self.path), "--register=no",
                 "--keep-unit", "--private-network", f"--machine=tap2pkg-{self.name}",
                 "--console=pipe"],
                stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
                env=env, preexec_fn=self._enter_cgroups,  # noqa: PLW1509 - no threads here
            )
        deadline = time.monotonic() + timeout
        while not (pid := self._find_pid1()):
            if self.nspawn.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the container did not start (nspawn: {self.nspawn.poll()}):\n"
                                   f"{self.console_tail()}")
            time.sleep(0.1)
        self.pid1 = pid
        state = self.wait_running(timeout=max(deadline - time.monotonic(), 5))
        if state != "running":
            failed = self.run("systemctl", "--failed", "--no-legend", check=False).stdout
            raise RuntimeError(f"system state {state!r} after boot; failed units:\n{failed}")

    def wait_running(self, timeout: float = 60) -> str:
        """The system state once booting is over ("offline" while systemd is not yet
        listening)."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.run("systemctl", "is-system-running", "--wait", check=False,
                             timeout=timeout).stdout.strip()
            if state not in ("offline", "") or time.monotonic() > deadline:
                return state
            time.sleep(0.1)

    def processes(self) -> list[int]:
        """Every process of the container: those in its cgroups.  (Their /proc/PID/root
        reads "/" from the host, so the root directory cannot tell them apart.)"""
        pids: set[int] = set()
        for group in self._cgroups():
            for procs in group.rglob("cgroup.procs"):
                with contextlib.suppress(OSError):
                    pids.update(int(p) for p in procs.read_text().split())
        return sorted(pids)

    def _find_pid1(self) -> int:
        for pid in self.processes():
            with contextlib.suppress(OSError, StopIteration):
                status = Path(f"/proc/{pid}/status").read_text()
                nspid = next(line for line in status.splitlines() if line.startswith("NSpid:"))
                if nspid.split()[-1] == "1" and len(nspid.split()) > 2:
                    return pid
        return 0

    def _kill_all(self) -> None:
        deadline = time.monotonic() + 10
        while (pids := self.processes()) and time.monotonic() < deadline:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)

    def console_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def shutdown(self, timeout: float = 60) -> None:
        """Power off as `poweroff` would (SIGTERM to nspawn halts the container's systemd)."""
        started = time.monotonic()
        if self.nspawn is not None and self.nspawn.poll() is None:
            self.nspawn.send_signal(signal.SIGTERM)
            try:
                self.nspawn.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.nspawn.kill()
                self.nspawn.wait()
        self._kill_all()
        TIMINGS[f"last shutdown {self.name}"] = time.monotonic() - started
        self.nspawn = None
        self.pid1 = 0
        self._remove_cgroups()

    def reboot(self) -> None:
        started = time.monotonic()
        self.shutdown()
        self.boot()
        TIMINGS[f"reboot {self.name}"] = time.monotonic() - started

    # -- inside the container
    def run(self, *argv: str, check: bool = True, timeout: float = 300
            ) -> subprocess.CompletedProcess[str]:
        return run_inside(["nsenter", "-t", str(self.pid1), "-a"], argv, check=check,
                          timeout=timeout)

    def sh(self, script: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("/bin/sh", "-c", script, check=check)

    def netns_python(self, code: str, *args: str, timeout: float = 60
                     ) -> subprocess.CompletedProcess[str]:
        """Run the host's Python in the container's network namespace only (its loopback)."""
        return subprocess.run(["nsenter", "-t", str(self.pid1), "-n", sys.executable, "-c",
                               code, *args], capture_output=True, text=True, check=False,
                              timeout=timeout)

    def file(self, path: str) -> Path:
        return self.path / path.lstrip("/")

    def copy_in(self, src: Path, dest: str = "/srv") -> str:
        # Not /tmp: the booted system mounts a tmpfs over it.
        shutil.copy2(src, self.file(dest) / src.name)
        return f"{dest.rstrip('/')}/{src.name}"


@contextmanager
def booted(release: Release, workdir: Path) -> Iterator[Container]:
    """A fresh copy of the release's root, booted; everything of it removed afterwards."""
    path = unpack(release, workdir / "root")
    # Machine names allow letters, digits, '-' and '.'.
    tag = re.sub(r"[^A-Za-z0-9]", "", workdir.name)[-12:]
    container = Container(path, f"{release.suite}-{os.getpid()}-{tag}")
    try:
        started = time.monotonic()
        container.boot()
        TIMINGS[f"first boot {release.target}"] = time.monotonic() - started
        yield container
    finally:
        container.shutdown()
        remove_tree(path)


# ---------------------------------------------------------------- Debian 13 tools, by chroot

class ToolRoot:
    """A fresh unpacked trixie root entered with chroot (no boot): for running Debian 13's
    lintian, dpkg-buildpackage, rpm 4.20 and rpmlint 2.7 on files copied in."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def run(self, *argv: str, check: bool = True, timeout: float = 600, cwd: str = "/"
            ) -> subprocess.CompletedProcess[str]:
        """argv run inside the root, from cwd (a path inside it)."""
        return run_inside(["chroot", str(self.path), "/bin/sh", "-c",
                           'cd "$1" && shift && exec "$@"', "sh", cwd], argv, check=check,
                          timeout=timeout)

    def file(self, path: str) -> Path:
        return self.path / path.lstrip("/")

    def copy_in(self, src: Path, dest: str = "/tmp") -> str:
        target = self.file(dest)
        target.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, target / src.name, symlinks=True)
        else:
            shutil.copy2(src, target / src.name)
        return f"{dest.rstrip('/')}/{src.name}"


@contextmanager
def trixie_root(workdir: Path) -> Iterator[ToolRoot]:
    """A fresh copy of the cached Debian 13 root with /proc mounted, for chroot use."""
    path = unpack(RELEASES["debian-13"], workdir / "trixie")
    try:
        with mounted_proc(path):
            yield ToolRoot(path)
    finally:
        remove_tree(path)


class _Summary:
    """A pytest plugin, registered by the suites that use containers: prints the root build,
    boot and suite times and the security scores measured, as a summary section."""

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not TIMINGS and not SCORES:
            return
        terminalreporter.section("systemd containers")
        for what, seconds in TIMINGS.items():
            terminalreporter.write_line(f"{seconds:7.1f}s  {what}")
        for what, score in sorted(SCORES.items()):
            terminalreporter.write_line(f"{score:7.1f}   systemd-analyze security {what}")


def show_summary(config: Any) -> None:
    if not config.pluginmanager.has_plugin("tap2pkg-nspawn-summary"):
        config.pluginmanager.register(_Summary(), "tap2pkg-nspawn-summary")


def main(argv: list[str]) -> int:
    """`python -m tests.nspawn debian-12 debian-13`: make the cached roots (CI prebuild)."""
    return prebuild(argv, {t: partial(ensure_tarball, r) for t, r in RELEASES.items()},
                    "systemd")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

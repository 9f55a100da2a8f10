"""Real Debian roots for lifecycle tests: made once with debootstrap, kept as tarballs in a
cache directory, unpacked fresh for each test, and entered with chroot.

The SysV roots (Debian 12 and Debian 13) are SysV hosts: sysvinit-core is installed, and
runlevel(8) is diverted to report runlevel 2 so that invoke-rc.d acts as it does on a booted
multi-user machine.  tests/nspawn.py makes its systemd roots with the same recipe
(make_root).  The mirror is the one this machine's own apt sources use; it is never written
into the code (it serves bookworm and trixie alike).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

CACHE = Path(os.environ.get("TAP2PKG_ROOT_CACHE", Path.home() / ".cache" / "tap2pkg"))
RUNLEVEL = "#!/bin/sh\n# tap2pkg tests: report a booted multi-user runlevel\necho 'N 2'\n"
ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive",
       "LC_ALL": "C.UTF-8"}


@dataclass(frozen=True)
class SysvRelease:
    """A SysV root: what --target its packages are built with, the suite, what is in it."""

    target: str
    suite: str
    packages: tuple[str, ...]

    @property
    def tarball(self) -> Path:
        # Keyed by what goes into the root, so changing the list makes a new one.
        key = hashlib.sha256(" ".join([self.suite, *self.packages]).encode()).hexdigest()[:12]
        return CACHE / f"{self.suite}-sysv-root-{key}.tar"


SYSV = {
    # rpm: the RPM lifecycle test drives tap2rpm's packages with Debian's rpm in this root.
    "debian-12": SysvRelease("debian-12", "bookworm",
                             ("python3-twisted", "procps", "adduser", "sysvinit-core", "rpm")),
    # What a SysV user of trixie installs: sysvinit-core (trixie's default init is systemd).
    # /lib/lsb/init-functions comes with sysvinit-utils, Essential in trixie as in bookworm
    # (it Provides lsb-base, which trixie no longer has).
    "debian-13": SysvRelease("debian-13", "trixie",
                             ("python3-twisted", "procps", "adduser", "sysvinit-core")),
}
# The Debian 12 root, as older callers name it.
SUITE = SYSV["debian-12"].suite
PACKAGES = list(SYSV["debian-12"].packages)
TARBALL = SYSV["debian-12"].tarball


def apt_mirror() -> str:
    """The first Debian archive URI in this machine's apt sources (the host's suite)."""
    sources = Path("/etc/apt")
    texts = [p.read_text() for p in sorted(sources.glob("sources.list.d/*.sources"))]
    for text in texts:
        for stanza in text.split("\n\n"):
            if re.search(rf"^Suites:.*\b{SUITE}\b", stanza, re.M) and "Types: deb" in stanza:
                uri = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
                if uri and "security" not in uri.group(1):
                    return uri.group(1)
    lists = [sources / "sources.list", *sorted(sources.glob("sources.list.d/*.list"))]
    for path in lists:
        if path.is_file():
            for line in path.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 3 and parts[0] == "deb" and "security" not in parts[1]:
                    return parts[2] if parts[1].startswith("[") else parts[1]
    raise RuntimeError("no Debian mirror found in /etc/apt sources")


def run_checked(argv: list[str], **kw: object) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False,  # type: ignore[call-overload]
                          stdin=subprocess.DEVNULL, **kw)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}):\n"
                           f"{(proc.stdout + proc.stderr)[-3000:]}")


def run_inside(enter: list[str], argv: tuple[str, ...], *, check: bool, timeout: float
               ) -> subprocess.CompletedProcess[str]:
    """argv run in a root or container through the enter command (chroot, nsenter), with
    the roots' environment; a failure, when checked, shows the command and its output."""
    proc = subprocess.run([*enter, *argv], capture_output=True, text=True, env=ENV,
                          timeout=timeout, check=False, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {proc.returncode}:\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def make_root(tarball: Path, suite: str, packages: tuple[str, ...],
              include: tuple[str, ...] = (),
              finish: Callable[[Path], None] | None = None) -> Path:
    """The cached root tarball, made first unless it exists (two or three minutes): minbase
    (plus `include`), then `packages` installed inside with apt under a policy-rc.d that
    starts nothing, then `finish(root)` (inside, /proc still mounted).  A lock makes a second
    builder (CI's background prebuild, another suite) wait for the first."""
    if tarball.is_file():
        return tarball
    CACHE.mkdir(parents=True, exist_ok=True)
    lock = CACHE / f"{tarball.name.rsplit('-', 1)[0]}.lock"
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        if tarball.is_file():
            return tarball
        mirror = apt_mirror()
        with tempfile.TemporaryDirectory(dir=CACHE, prefix=f"make-{suite}-") as tmp:
            root = Path(tmp) / "root"
            extra = [f"--include={','.join(include)}"] if include else []
            # debootstrap --include fails on virtual packages (python3-twisted): apt does
            # the rest inside.
            run_checked(["debootstrap", "--variant=minbase", *extra, suite, str(root), mirror])
            (root / "etc/apt/sources.list").write_text(f"deb {mirror} {suite} main\n")
            policy = root / "usr/sbin/policy-rc.d"
            policy.write_text("#!/bin/sh\n# tap2pkg: start nothing while the root is made\n"
                              "exit 101\n")
            policy.chmod(0o755)
            with mounted_proc(root):
                run_checked(["chroot", str(root), "apt-get", "update", "-q"], env=ENV)
                run_checked(["chroot", str(root), "apt-get", "install", "-y", "-q",
                      "--no-install-recommends", *packages], env=ENV)
                run_checked(["chroot", str(root), "apt-get", "clean"], env=ENV)
                if finish is not None:
                    finish(root)
            policy.unlink()
            partial = tarball.with_suffix(".partial")
            run_checked(["tar", "-C", str(root), "--numeric-owner", "-cf", str(partial), "."])
            os.replace(partial, tarball)
    return tarball


def _divert_runlevel(root: Path) -> None:
    """invoke-rc.d asks runlevel(8), which reads utmp (absent in a chroot): divert it to a
    script that reports runlevel 2.  The path is the one sysvinit-core ships (/sbin in
    bookworm, /usr/sbin in trixie)."""
    listed = subprocess.run(["chroot", str(root), "dpkg-query", "-L", "sysvinit-core"],
                            capture_output=True, text=True, check=True).stdout.split()
    [path] = [p for p in listed if re.fullmatch(r"(/usr)?/sbin/runlevel", p)]
    run_checked(["chroot", str(root), "dpkg-divert", "--local", "--rename", "--add", path], env=ENV)
    runlevel = root / path.lstrip("/")
    runlevel.write_text(RUNLEVEL)
    runlevel.chmod(0o755)


def ensure_tarball(release: SysvRelease = SYSV["debian-12"]) -> Path:
    """The cached SysV root of this release, made first if missing."""
    return make_root(release.tarball, release.suite, release.packages,
                     finish=_divert_runlevel)


@contextmanager
def mounted_proc(root: Path) -> Iterator[None]:
    proc_dir = root / "proc"
    proc_dir.mkdir(exist_ok=True)
    run_checked(["mount", "-t", "proc", "proc", str(proc_dir)])
    try:
        yield
    finally:
        kill_processes_in(root)
        subprocess.run(["umount", "-l", str(proc_dir)], check=False)


def processes_in(root: Path) -> list[int]:
    """PIDs whose root directory is this root (never matched by name)."""
    target = os.path.realpath(root)
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.path.realpath(f"/proc/{entry}/root") == target:
                    pids.append(int(entry))
            except OSError:
                continue
    return pids


def kill_processes_in(root: Path) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = processes_in(root)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 5
        while processes_in(root) and time.monotonic() < deadline:
            time.sleep(0.1)


class DebianRoot:
    """A fresh unpacked copy of the cached root, with /proc mounted."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def run(self, *argv: str, check: bool = True, timeout: float = 300
            ) -> subprocess.CompletedProcess[str]:
        return run_inside(["chroot", str(self.path)], argv, check=check, timeout=timeout)

    def sh(self, script: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("/bin/sh", "-c", script, check=check)

    def copy_in(self, src: Path, dest: str = "/tmp") -> str:
        target = self.path / dest.lstrip("/") / src.name
        shutil.copy2(src, target)
        return f"{dest.rstrip('/')}/{src.name}"

    def file(self, path: str) -> Path:
        return self.path / path.lstrip("/")


CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1  # <linux/sockios.h>, <net/if.h>


def _loopback_up() -> None:
    """What `ip link set lo up` does, without needing iproute2 on the host."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | IFF_UP))


@contextmanager
def private_network() -> Iterator[None]:
    """This thread (pytest's) and what it starts from now on (chroot, the root's daemons)
    in a network namespace of its own with only loopback up: a root's services on 127.0.0.1
    then never meet those of another root (CI runs the Debian 12 and Debian 13 SysV suites
    at the same time, on the same ports).  The host's namespace is restored afterwards."""
    libc = ctypes.CDLL(None, use_errno=True)
    with open("/proc/self/ns/net", "rb") as host:
        if libc.unshare(CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET)")
        try:
            _loopback_up()
            yield
        finally:
            if libc.setns(host.fileno(), CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back to the host's network")


@contextmanager
def debian_root(workdir: Path, release: SysvRelease = SYSV["debian-12"],
                private: bool = False) -> Iterator[DebianRoot]:
    """A fresh copy of the release's SysV root, /proc mounted; with `private`, in a network
    namespace of its own (see private_network)."""
    tarball = ensure_tarball(release)
    path = workdir / "root"
    path.mkdir()
    try:
        run_checked(["tar", "-C", str(path), "--numeric-owner", "-xf", str(tarball)])
        with mounted_proc(path), (private_network() if private else contextlib.nullcontext()):
            yield DebianRoot(path)
    finally:
        kill_processes_in(path)
        if not os.path.ismount(path / "proc"):  # never walk into a live /proc
            shutil.rmtree(path, ignore_errors=True)


def prebuild(argv: list[str], makers: dict[str, Callable[[], Path]], kind: str) -> int:
    """Make the cached roots named in argv (all when none), saying how long each took."""
    for target in argv or list(makers):
        started = time.monotonic()
        tarball = makers[target]()
        print(f"{target} {kind} root: {tarball} ({time.monotonic() - started:.0f}s)")
    return 0


def main(argv: list[str]) -> int:
    """`python -m tests.debroot debian-12 debian-13`: make the cached SysV roots (CI
    prebuild)."""
    return prebuild(argv, {t: partial(ensure_tarball, r) for t, r in SYSV.items()}, "SysV")


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))

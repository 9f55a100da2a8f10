"""A real Debian 12 root for lifecycle tests: made once with debootstrap, kept as a tarball
in a cache directory, unpacked fresh for each test, and entered with chroot.

It is a SysV host: sysvinit-core is installed, and /sbin/runlevel is diverted to report
runlevel 2 so that invoke-rc.d acts as it does on a booted multi-user machine.  The mirror
is the one this machine's own apt sources use; it is never written into the code.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SUITE = "bookworm"
# rpm: the RPM lifecycle test drives tap2rpm's packages with Debian's rpm in the same root.
PACKAGES = ["python3-twisted", "procps", "adduser", "sysvinit-core", "rpm"]
CACHE = Path(os.environ.get("TAP2PKG_ROOT_CACHE", Path.home() / ".cache" / "tap2pkg"))
# The cache is keyed by what goes into the root, so changing the list makes a new one.
_KEY = hashlib.sha256(" ".join([SUITE, *PACKAGES]).encode()).hexdigest()[:12]
TARBALL = CACHE / f"{SUITE}-sysv-root-{_KEY}.tar"
RUNLEVEL = "#!/bin/sh\n# tap2pkg tests: report a booted multi-user runlevel\necho 'N 2'\n"


def apt_mirror() -> str:
    """The first Debian archive URI in this machine's apt sources."""
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


def _run(argv: list[str], **kw: object) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, **kw)  # type: ignore[call-overload]
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}):\n"
                           f"{(proc.stdout + proc.stderr)[-3000:]}")


def ensure_tarball() -> Path:
    """Make the cached root tarball unless it exists (about two minutes)."""
    if TARBALL.is_file():
        return TARBALL
    CACHE.mkdir(parents=True, exist_ok=True)
    mirror = apt_mirror()
    with tempfile.TemporaryDirectory(dir=CACHE, prefix="make-root-") as tmp:
        root = Path(tmp) / "root"
        _run(["debootstrap", "--variant=minbase", SUITE, str(root), mirror])
        (root / "etc/apt/sources.list").write_text(f"deb {mirror} {SUITE} main\n")
        with mounted_proc(root):
            env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
            # Nothing may start services while the root is made.
            policy = root / "usr/sbin/policy-rc.d"
            policy.write_text("#!/bin/sh\nexit 101\n")
            policy.chmod(0o755)
            _run(["chroot", str(root), "apt-get", "update", "-q"], env=env)
            _run(["chroot", str(root), "apt-get", "install", "-y", "-q",
                  "--no-install-recommends", *PACKAGES], env=env)
            _run(["chroot", str(root), "apt-get", "clean"], env=env)
            _run(["chroot", str(root), "dpkg-divert", "--local", "--rename", "--add",
                  "/sbin/runlevel"], env=env)
            policy.unlink()
        runlevel = root / "sbin/runlevel"
        runlevel.write_text(RUNLEVEL)
        runlevel.chmod(0o755)
        partial = TARBALL.with_suffix(".partial")
        _run(["tar", "-C", str(root), "--numeric-owner", "-cf", str(partial), "."])
        os.replace(partial, TARBALL)
    return TARBALL


@contextmanager
def mounted_proc(root: Path) -> Iterator[None]:
    proc_dir = root / "proc"
    proc_dir.mkdir(exist_ok=True)
    _run(["mount", "-t", "proc", "proc", str(proc_dir)])
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
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive",
               "LC_ALL": "C.UTF-8"}
        proc = subprocess.run(["chroot", str(self.path), *argv], capture_output=True,
                              text=True, env=env, timeout=timeout, check=False,
                              stdin=subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited {proc.returncode}:\n"
                                 f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    def sh(self, script: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("/bin/sh", "-c", script, check=check)

    def copy_in(self, src: Path, dest: str = "/tmp") -> str:
        target = self.path / dest.lstrip("/") / src.name
        shutil.copy2(src, target)
        return f"{dest.rstrip('/')}/{src.name}"

    def file(self, path: str) -> Path:
        return self.path / path.lstrip("/")


@contextmanager
def debian_root(workdir: Path) -> Iterator[DebianRoot]:
    tarball = ensure_tarball()
    path = workdir / "root"
    path.mkdir()
    try:
        _run(["tar", "-C", str(path), "--numeric-owner", "-xf", str(tarball)])
        with mounted_proc(path):
            yield DebianRoot(path)
    finally:
        kill_processes_in(path)
        if not os.path.ismount(path / "proc"):  # never walk into a live /proc
            shutil.rmtree(path, ignore_errors=True)

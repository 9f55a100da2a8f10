"""Helpers for tests that run the packaged service: build a package, install it in a
Debian root, talk to its port, and find its daemons."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from tap2pkg.cli import tap2deb_main
from tests.conftest import FIXTURES, MAINTAINER, require_tool
from tests.debroot import DebianRoot, processes_in


def require_root() -> None:
    require_tool("debootstrap", "chroot", "dpkg-deb")
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("the lifecycle tests need root (CI runs as root)")
        pytest.skip("the lifecycle tests need root")


def build(out: Path, app: str, version: str, *extra: str) -> Path:
    code = tap2deb_main(["-t", str(FIXTURES / app), "-m", MAINTAINER, "-V", version,
                         "-o", str(out), "-q", *extra])
    assert code == 0
    name = f"twisted-{app.split('.', maxsplit=1)[0]}"
    return out / f"{name}_{version}_all.deb"


def echo(port: int, payload: bytes = b"hello tap2pkg\n", timeout: float = 10.0) -> bytes:
    """Send payload, return what comes back; retries while the daemon starts."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
                conn.sendall(payload)
                return conn.recv(len(payload))
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def port_closed(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except OSError:
        return True


def daemons(root: DebianRoot) -> list[int]:
    """twistd processes running inside the root."""
    found = []
    for pid in processes_in(root.path):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"twistd" in cmdline:
            found.append(pid)
    return found


def owner(pid: int) -> int:
    return Path(f"/proc/{pid}").stat().st_uid


def uid_of(root: DebianRoot, user: str) -> int:
    return int(root.run("id", "-u", user).stdout.strip())


def apt_install(root: DebianRoot, deb: Path) -> None:
    path = root.copy_in(deb)
    root.run("apt-get", "install", "-y", "-q",
             "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold",
             path)

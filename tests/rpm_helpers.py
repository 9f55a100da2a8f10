"""Helpers for the RPM tests: build with the real tap2rpm command, read packages back with
rpmfile, run their scriptlets as rpm would against recording stand-ins, and run rpmlint.

rpm runs each scriptlet with /bin/sh and one argument, the number of instances of the
package left after the step: 1 on first install, 2 on upgrade (new package) and 1 (old
package), 0 on erase.  Stand-ins for the commands they call log "name args" and succeed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tap2pkg.cli import tap2rpm_main
from tests.conftest import EPOCH, require_tool

# RPMFILE_* flags, from rpm's rpmfiles.h.
CONFIG, DOC, NOREPLACE, GHOST = 1 << 0, 1 << 1, 1 << 4, 1 << 6

STAND_INS = [
    "chkconfig", "getent", "groupadd", "service", "systemctl", "systemd-update-helper",
    "useradd",
]
SCRIPTLETS = {"pre": "prein", "post": "postin", "preun": "preun", "postun": "postun"}

# What rpm runs, in order, for each action: (package, scriptlet, $1).  "new" and "old"
# are the two versions during an upgrade (rpm -U): the new one's %pre/%post first, then
# the old one's %preun/%postun.
TRANSACTIONS: dict[str, list[tuple[str, str, int]]] = {
    "install": [("new", "pre", 1), ("new", "post", 1)],
    "upgrade": [("new", "pre", 2), ("new", "post", 2), ("old", "preun", 1),
                ("old", "postun", 1)],
    "erase": [("old", "preun", 0), ("old", "postun", 0)],
}


def require_rpm_tools() -> None:
    require_tool("rpmbuild", "rpm", "rpmlint")


def tap2rpm(args: Sequence[str]) -> int:
    """Run the tap2rpm command in-process with SOURCE_DATE_EPOCH fixed."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOURCE_DATE_EPOCH", EPOCH)
        return tap2rpm_main(list(args))


class FileInfo(NamedTuple):
    mode: int
    user: str
    group: str
    flags: int


@dataclass(frozen=True)
class RpmPackage:
    """What tests read from an .rpm, through rpmfile's header parser."""

    path: Path
    headers: dict[str, object]

    def text(self, tag: str) -> str:
        value = self.headers.get(tag, b"")
        assert isinstance(value, bytes)
        return value.decode("utf-8")

    def texts(self, tag: str) -> list[str]:
        value = self.headers.get(tag, [])
        if isinstance(value, bytes):
            value = [value]
        assert isinstance(value, list | tuple)
        return [item.decode("utf-8") if isinstance(item, bytes) else str(item)
                for item in value]

    def ints(self, tag: str) -> list[int]:
        value = self.headers.get(tag, [])
        if isinstance(value, int):
            value = [value]
        assert isinstance(value, list | tuple)
        return [int(item) for item in value]

    @property
    def requires(self) -> list[str]:
        names = self.texts("requirename")
        versions = self.texts("requireversion")
        flags = self.ints("requireflags")
        found = []
        for name, version, flag in zip(names, versions, flags, strict=True):
            if name.startswith(("rpmlib(", "/bin/sh", "config(")):
                continue
            op = {2: "<", 4: ">", 8: "=", 10: "<=", 12: ">="}.get(flag & 14, "")  # RPMSENSE_*
            found.append(f"{name} {op} {version}" if version else name)
        return found

    def files(self) -> dict[str, FileInfo]:
        dirs = self.texts("dirnames")
        paths = [dirs[i] + base for base, i in
                 zip(self.texts("basenames"), self.ints("dirindexes"), strict=True)]
        return {
            path: FileInfo(mode, user, group, flags)
            for path, mode, user, group, flags in zip(
                paths, self.ints("filemodes"), self.texts("fileusername"),
                self.texts("filegroupname"), self.ints("fileflags"), strict=True)
        }

    def scriptlet(self, name: str) -> str | None:
        tag = SCRIPTLETS[name]
        return self.text(tag) if tag in self.headers else None

    def payload_file(self, path: str) -> bytes:
        with _open(self.path) as rpm:
            member = rpm.extractfile("." + path)
            assert member is not None
            return bytes(member.read())


def _open(path: Path) -> Any:
    import rpmfile  # type: ignore[import-untyped]  # test-only dependency, imported lazily

    return rpmfile.open(str(path))


def read_rpm(path: Path) -> RpmPackage:
    with _open(path) as rpm:
        headers = {k: v for k, v in rpm.headers.items() if isinstance(k, str)}
    return RpmPackage(path, headers)


def make_stand_ins(bindir: Path, log: Path, *, user_exists: bool) -> None:
    bindir.mkdir(parents=True, exist_ok=True)
    for name in STAND_INS:
        code = 2 if name == "getent" and not user_exists else 0  # 2: no such entry
        script = bindir / name
        script.write_text(
            f'#!/bin/sh\nprintf "%s\\n" "{name} $*" >> "{log}"\nexit {code}\n',
            encoding="utf-8",
        )
        script.chmod(0o755)


def run_scriptlet(body: str, arg: int, scratch: Path, *, user_exists: bool) -> list[str]:
    """Run one scriptlet as rpm does (sh -c, $1 set) and return the commands it ran."""
    bindir, log = scratch / "bin", scratch / "calls.log"
    make_stand_ins(bindir, log, user_exists=user_exists)
    log.write_text("", encoding="utf-8")
    # The systemd macros call systemd-update-helper by absolute path.
    body = re.sub(r"/\S*/systemd-update-helper", str(bindir / "systemd-update-helper"), body)
    proc = subprocess.run(
        ["sh", "-c", body, "scriptlet", str(arg)],
        env={"PATH": f"{bindir}:/usr/bin:/bin", "LC_ALL": "C"},
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, f"scriptlet exited {proc.returncode}: {proc.stderr}"
    return log.read_text(encoding="utf-8").splitlines()


def run_transaction(
    action: str, scratch: Path, *, new: dict[str, str | None], old: dict[str, str | None]
) -> list[str]:
    """The commands a transaction runs, each scriptlet's calls after a "== name $1" line."""
    calls: list[str] = []
    for which, name, arg in TRANSACTIONS[action]:
        body = (new if which == "new" else old).get(name)
        if body is None:
            continue
        calls.append(f"== {name} {arg}")
        calls += run_scriptlet(body, arg, scratch / f"{which}-{name}",
                               user_exists=action != "install")
    return calls


def scriptlets_of(package: RpmPackage) -> dict[str, str | None]:
    return {name: package.scriptlet(name) for name in SCRIPTLETS}


LINT_LINE = re.compile(r"^(?P<pkg>\S+?)(:\d+)?: (?P<level>[EW]): (?P<tag>\S+)(?P<rest>.*)$")


def rpmlint(paths: Sequence[Path], *configs: Path, scratch: Path) -> list[str]:
    """rpmlint's messages ("pkg.arch: W: tag details") for paths.  rpmlint takes one -c,
    so several config files are passed as a directory holding them all."""
    argv = ["rpmlint"]
    if configs:
        confdir = scratch / "rpmlint-config"
        shutil.rmtree(confdir, ignore_errors=True)
        confdir.mkdir(parents=True)
        for number, config in enumerate(configs):
            shutil.copy(config, confdir / f"{number:02d}-{config.name}")
        argv += ["-c", str(confdir)]
    proc = subprocess.run(
        [*argv, *map(str, paths)], capture_output=True, text=True, check=False,
        env={**os.environ, "LC_ALL": "C.UTF-8"},
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return [line for line in proc.stdout.splitlines() if LINT_LINE.match(line)]


def lint_problems(messages: list[str]) -> list[str]:
    """Every message but no-signature on these unsigned packages."""
    return [line for line in messages if ": E: no-signature" not in line]


def run_cli(*args: str, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run tap2rpm in a fresh interpreter, as a user would."""
    code = "import sys; from tap2pkg.cli import tap2rpm_main as m; sys.exit(m(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False,
        cwd=cwd, env={**os.environ, "SOURCE_DATE_EPOCH": EPOCH, **(env or {})},
    )


def error_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in proc.stderr + proc.stdout
    return proc.stderr.strip().splitlines()

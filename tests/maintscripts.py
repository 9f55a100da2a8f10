"""Run a package's maintainer scripts the way dpkg would for install, upgrade, remove and
purge, against recording stand-ins for every command they call, and return the calls.

Absolute paths the scripts test (/etc/init.d/<pkg>, /run/systemd/system, ...) are moved
under a scratch root so the host is never touched; the init script is present there, and
/run/systemd/system is present only when simulating a systemd host.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

# Commands a maintainer script may call; each stand-in logs its argv and succeeds.
STAND_INS = [
    "addgroup", "adduser", "chmod", "chown", "deb-systemd-helper", "deb-systemd-invoke",
    "dpkg-maintscript-helper", "dpkg-query", "dpkg-statoverride", "getent", "invoke-rc.d",
    "md5sum", "mv", "rm", "stat",
    "systemctl", "update-rc.d",
]
# Exit codes that make the scripts take their "first install" paths.
EXIT_CODES = {"getent": 2, "dpkg-statoverride": 1}

# What dpkg runs, in order, for each action (script, $1, $2).
SEQUENCES: dict[str, list[tuple[str, str, str]]] = {
    "install": [("preinst", "install", ""), ("postinst", "configure", "")],
    "upgrade": [
        ("prerm", "upgrade", "1.1"),
        ("preinst", "upgrade", "1.0"),
        ("postrm", "upgrade", "1.1"),
        ("postinst", "configure", "1.0"),
    ],
    "remove": [("prerm", "remove", ""), ("postrm", "remove", "")],
    "purge": [("postrm", "purge", "")],
}


def make_stand_ins(bindir: Path, log: Path) -> None:
    bindir.mkdir(parents=True, exist_ok=True)
    for name in STAND_INS:
        code = EXIT_CODES.get(name, 0)
        script = bindir / name
        script.write_text(
            f'#!/bin/sh\nprintf "%s\\n" "{name} $*" >> "{log}"\nexit {code}\n',
            encoding="utf-8",
        )
        script.chmod(0o755)


def relocate(text: str, root: Path, bindir: Path) -> str:
    """Point the absolute paths a script tests into the scratch root."""
    return (
        text.replace("/usr/bin/deb-systemd-helper", str(bindir / "deb-systemd-helper"))
        .replace("/etc/init.d/", f"{root}/etc/init.d/")
        .replace("/run/systemd/system", f"{root}/run/systemd/system")
    )


def run_sequence(
    scripts: dict[str, str], action: str, scratch: Path, *, package: str, systemd_host: bool
) -> list[str]:
    """Run one dpkg action's scripts; returns the recorded calls (the script's own name
    first, so that calls stay attributed)."""
    root = scratch / "root"
    bindir = scratch / "bin"
    log = scratch / "calls.log"
    scratch.mkdir(parents=True, exist_ok=True)
    log.write_text("", encoding="utf-8")
    make_stand_ins(bindir, log)
    initd = root / "etc" / "init.d"
    initd.mkdir(parents=True, exist_ok=True)
    init = initd / package
    init.write_text("#!/bin/sh\n", encoding="utf-8")
    init.chmod(0o755)
    (root / "run" / "systemd" / "system").mkdir(parents=True, exist_ok=True)
    if not systemd_host:
        (root / "run" / "systemd" / "system").rmdir()
    for script, arg1, arg2 in SEQUENCES[action]:
        if script not in scripts:
            continue
        with log.open("a", encoding="utf-8") as f:
            f.write(f"== {script} {arg1} {arg2}".rstrip() + "\n")
        args = [arg1, arg2] if arg2 else [arg1]
        proc = subprocess.run(
            ["/bin/sh", "-c", relocate(scripts[script], root, bindir), script, *args],
            env={"PATH": str(bindir)},
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, f"{script} {args} failed: {proc.stderr}"
    # Report paths as the package sees them, not under the scratch root.
    return log.read_text(encoding="utf-8").replace(str(root), "").splitlines()

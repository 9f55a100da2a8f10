"""Read a unit's [Service] settings and expand ExecStart as systemd does, so a test can run
the command line systemd would run: environment from Environment= then EnvironmentFile=
(later assignments win), "${VAR}" replaced as one word, "$VAR" split on whitespace."""

from __future__ import annotations

import re
import shlex
from pathlib import Path


def service_settings(unit_text: str) -> list[tuple[str, str]]:
    settings: list[tuple[str, str]] = []
    section = ""
    for raw in unit_text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]":
            key, _, value = line.partition("=")
            settings.append((key.strip(), value.strip()))
    return settings


def read_environment_file(text: str) -> dict[str, str]:
    env = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")) or "=" not in line:
            continue
        key, _, value = line.partition("=")
        words = shlex.split(value) if value else [""]
        env[key.strip()] = words[0] if words else ""
    return env


def environment(settings: list[tuple[str, str]], root: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for key, value in settings:
        if key == "Environment":
            for word in shlex.split(value):
                name, _, val = word.partition("=")
                env[name] = val
    for key, value in settings:
        if key == "EnvironmentFile":
            path = root / value.lstrip("-").lstrip("/")
            if path.exists():
                env.update(read_environment_file(path.read_text()))
            elif not value.startswith("-"):
                raise FileNotFoundError(value)
    return env


def exec_start(settings: list[tuple[str, str]], env: dict[str, str]) -> list[str]:
    [command] = [value for key, value in settings if key == "ExecStart"]
    argv: list[str] = []
    for word in shlex.split(command):
        whole = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", word)
        if whole:  # $VAR: split into words, nothing when empty
            argv.extend(env.get(whole.group(1), "").split())
            continue
        argv.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}",
                           lambda m: env.get(m.group(1), ""), word))
    return argv


def unit_root(deb: Path, workdir: Path, unit_dir: str) -> Path:
    """The .deb unpacked under workdir, with what systemd-analyze needs to judge its unit
    offline: the host's targets and slices, and the programs the unit runs."""
    import shutil
    import subprocess

    root = workdir / "unit-root"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    units = root / unit_dir.lstrip("/")
    host_units = Path("/lib/systemd/system")
    for pattern in ("*.target", "*.slice"):
        for unit in host_units.glob(pattern):
            if not (units / unit.name).exists() and unit.is_file():
                shutil.copy(unit, units / unit.name)
    for key, value in service_settings((units / _only_service(units)).read_text()):
        if key.startswith("Exec"):
            program = root / value.split()[0].lstrip("/")
            if not program.exists():
                program.parent.mkdir(parents=True, exist_ok=True)
                program.write_text("#!/bin/sh\n")
                program.chmod(0o755)
    return root


def _only_service(units: Path) -> str:
    [service] = [p.name for p in units.glob("*.service")]
    return service


def exposure(output: str) -> float:
    """The overall exposure level systemd-analyze security prints."""
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", output)
    if match is None:
        raise AssertionError(f"no exposure level in: {output[-500:]}")
    return float(match.group(1))

"""Run external tools (dpkg-deb, dpkg-source, rpmbuild, lintian): stream their output when
verbose, and on failure raise ToolError with the command line and the tail of the output."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from tap2pkg.errors import BuildError, ToolError


def run_tool(
    argv: list[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    verbose: bool = False,
    hint: str = "",
    check: bool = True,
    pass_fds: tuple[int, ...] = (),
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "LC_ALL": "C.UTF-8", **(env or {})}
    if verbose:
        print("+ " + " ".join(argv), file=sys.stderr, flush=True)
    try:
        proc = subprocess.run(
            argv,
            cwd=cwd,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            check=False,
            pass_fds=pass_fds,
        )
    except FileNotFoundError as exc:
        extra = f" ({hint})" if hint else ""
        raise BuildError(f"{argv[0]} not found: it is needed to build this package{extra}") from exc
    if verbose and proc.stdout:
        sys.stderr.write(proc.stdout)
    if check and proc.returncode != 0:
        raise ToolError(argv, proc.returncode, proc.stdout)
    return proc

"""The opt-in ``--check``: let twistd's own loader load the file, in a subprocess.

The static readers never run the application file; this does, on purpose, to prove
that it imports under the Twisted installed here.  It runs the Python that runs twistd
(from twistd's ``#!`` line) with a timeout, so tap2pkg itself never imports Twisted and
a hanging or crashing application cannot take tap2pkg with it.

It loads the file as the installed service will: from an empty working directory, with
the interpreter isolated (-I: no script or current directory, no user site, no
PYTHONPATH), and with only the directories the package puts on sys.path (its --include
and --bundle trees, staged here) in front; with a bundled Twisted, also -S, as the
package's launcher runs.  The application's own folder is not on the path, because on
the target it is not either.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tap2pkg.errors import AppFileError, CheckError
from tap2pkg.model import AppKind

TAIL_LINES = 15
_OK = "tap2pkg-check: loaded"

# What twistd does with -y/-f/-s: load the application, then adapt it to IService.
_SCRIPT = f"""\
import json, sys
sys.path[:0] = json.loads(sys.argv[3])
from twisted.application import service
application = service.loadApplication(sys.argv[1], sys.argv[2])
service.IService(application)
print({_OK!r})
"""

# loadApplication's names for the kinds.
_LOADER_KIND = {AppKind.PYTHON: "python", AppKind.TAP: "pickle", AppKind.SOURCE: "source"}


def _shebang_python(script: Path) -> str | None:
    """The Python interpreter named on a script's #! line, if it is one."""
    try:
        with script.open("rb") as stream:
            first = stream.readline(512)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    words = first[2:].decode("utf-8", "replace").split()
    if words and Path(words[0]).name == "env":  # "#!/usr/bin/env python3"
        words = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
        words[:1] = [shutil.which(words[0]) or words[0]] if words else []
    if not words or not Path(words[0]).name.startswith("python"):
        return None
    return words[0]


def find_python(twistd: str) -> str:
    """The Python that runs twistd: from the given twistd, else twistd3/twistd on PATH."""
    candidates = [Path(twistd)] if Path(twistd).is_file() else []
    for name in (twistd, "twistd3", "twistd"):
        found = shutil.which(name)
        if found:
            candidates.append(Path(found))
    if not candidates:
        raise AppFileError("--check needs Twisted on this machine: no twistd found")
    for candidate in candidates:
        python = _shebang_python(candidate)
        if python is not None:
            return python
    raise AppFileError(
        f"--check: cannot tell which Python runs {candidates[0]}: "
        "its first line is not a Python #! line"
    )


def bundle_python(version: str) -> str:
    """The interpreter a bundle built for Python version runs under: pythonX.Y here."""
    found = shutil.which(f"python{version}")
    if found is None:
        raise AppFileError(f"--check: the bundle is built for Python {version}, and there "
                           f"is no python{version} on this machine to load it with")
    return found


def check(path: Path, kind: AppKind, twistd: str, timeout: float = 30.0, *,
          sys_path: Sequence[Path] = (), python: str | None = None,
          no_site: bool = False) -> None:
    """Load the application file with twistd's loader; AppFileError if that fails.

    sys_path: the directories the package puts in front of sys.path; python: the
    interpreter (default: twistd's); no_site: run it with -S as the launcher does."""
    if kind not in _LOADER_KIND:
        raise AppFileError(f"{path.name}: --check cannot load {kind.value} application files")
    python = python if python is not None else find_python(twistd)
    path = path.resolve()
    paths = json.dumps([str(p.resolve()) for p in sys_path])
    flags = "-IBS" if no_site else "-IB"  # -I ignores PYTHONDONTWRITEBYTECODE
    with tempfile.TemporaryDirectory(prefix="tap2pkg-check-cwd-") as cwd:
        _load([python, flags, "-c", _SCRIPT, str(path), _LOADER_KIND[kind], paths],
              Path(cwd), path, timeout)


def _load(argv: list[str], cwd: Path, path: Path, timeout: float) -> None:
    # Its own session, so a timeout can stop whatever the application started as well.
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=os.environ | {"PYTHONDONTWRITEBYTECODE": "1"},  # leave no __pycache__ behind
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):  # it may be gone already
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise AppFileError(
            f"{path.name}: twistd did not finish loading it within {timeout:g} seconds"
        ) from None
    text = output.decode("utf-8", "replace")
    if process.returncode == 0 and _OK in text.splitlines():
        return
    tail = "\n".join(text.rstrip().splitlines()[-TAIL_LINES:])
    if not tail:
        tail = f"(no output; exit status {process.returncode})"
    raise CheckError(f"{path.name}: twistd could not load it:\n{tail}")

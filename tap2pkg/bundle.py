"""--bundle: install requirements with their dependencies into a private tree, for the
target's Python and platform (not the build host's), then make the tree fit a package.

pip does the resolving and unpacking (``pip install --target`` with ``--python-version``,
``--platform``, ``--implementation cp`` and ``--only-binary=:all:``), so the interpreter
that runs tap2pkg is never the accident that decides which wheels land in the package.
What pip leaves that would tie the package to the build host is then removed: console
scripts (their ``#!`` names the build host's interpreter), ``direct_url.json`` (a
``file://`` URL of the build tree), ``REQUESTED``, byte code, and ``.pth`` files (never
read from a private tree); each ``RECORD`` is rewritten to list what is really shipped.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import platform
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tap2pkg.errors import BuildError, ToolError, UsageError

# Limits on what a bundle may hold: a private tree is not a distribution.
MAX_FILES = 50_000
MAX_BYTES = 500 * 1024 * 1024
ELF_MAGIC = b"\x7fELF"
_PIP_TIMEOUT = 900.0
# The oldest manylinux glibc minor version there are wheels for (manylinux1 = 2.5).
_OLDEST_GLIBC_MINOR = 5


@dataclass(frozen=True)
class BundleRequest:
    """What --bundle, --requirements, --find-links and --no-index asked for."""

    requirements: tuple[str, ...] = ()  # pip requirements, wheel paths, project dirs
    requirement_files: tuple[Path, ...] = ()
    find_links: tuple[Path, ...] = ()
    no_index: bool = False

    def __bool__(self) -> bool:
        return bool(self.requirements or self.requirement_files)


@dataclass(frozen=True)
class BundleFile:
    path: str  # relative POSIX path inside the bundle tree
    data: bytes
    mode: int


def platform_tags(glibc: str, machine: str) -> list[str]:
    """manylinux tags a target with this glibc accepts, newest first: pip takes them
    literally, so the older ones must be listed too."""
    try:
        major, minor = (int(part) for part in glibc.split("."))
    except ValueError:
        raise UsageError(f"glibc {glibc!r} is not 'major.minor'", "--target") from None
    if major != 2:
        raise UsageError(f"glibc {glibc!r}: only glibc 2.x is known", "--target")
    return [f"manylinux_2_{n}_{machine}" for n in range(minor, _OLDEST_GLIBC_MINOR - 1, -1)]


def host_machine() -> str:
    """The machine the package is made for: wheels are chosen for the build host's
    architecture (cross-architecture bundles are not supported)."""
    return platform.machine()


def pip_argv(request: BundleRequest, python: str, glibc: str, machine: str, *, target: Path,
             wheels: list[Path]) -> list[str]:
    """The pip command that fills target for this Python and platform."""
    argv = [
        sys.executable, "-m", "pip", "install",
        "--target", str(target),
        "--python-version", python,
        "--implementation", "cp",
        "--abi", f"cp{python.replace('.', '')}",
        "--only-binary=:all:",
        "--no-compile",
        "--no-warn-script-location",
        "--disable-pip-version-check",
        "--no-input",
    ]
    for tag in platform_tags(glibc, machine):
        argv += ["--platform", tag]
    # A pure wheel says abi "none": allow it beside the interpreter's own ABI.
    argv += ["--abi", "none", "--abi", "abi3"]
    for folder in request.find_links:
        argv += ["--find-links", str(folder)]
    if request.no_index:
        argv.append("--no-index")
    for req_file in request.requirement_files:
        argv += ["--requirement", str(req_file)]
    plain = [r for r in request.requirements if not _is_local_project(r)]
    argv += [*plain, *(str(w) for w in wheels)]
    return argv


def _is_local_project(requirement: str) -> bool:
    path = Path(requirement)
    return path.is_dir() and (
        (path / "pyproject.toml").is_file() or (path / "setup.py").is_file()
    )


def check_request(request: BundleRequest) -> None:
    """Refuse what cannot work before anything runs."""
    for requirement in request.requirements:
        if not requirement.strip() or requirement.startswith("-"):
            raise UsageError(
                f"{requirement!r}: give a requirement ('name>=1.0'), a wheel file or a "
                "project directory (pip options are not passed through)",
                "--bundle",
            )
        path = Path(requirement)
        looks_like_path = ("/" in requirement or requirement.startswith(".")) and not (
            "@" in requirement or "://" in requirement)  # "name @ https://..." is pip's
        if looks_like_path and not path.exists():
            raise UsageError(f"{requirement}: no such file or directory", "--bundle")
        if path.is_dir() and not _is_local_project(requirement):
            raise UsageError(
                f"{requirement}: a directory given to --bundle needs a pyproject.toml "
                "(use --include for plain code)",
                "--bundle",
            )
    for req_file in request.requirement_files:
        if not req_file.is_file():
            raise UsageError(f"{req_file}: no such file", "--requirements")
    for folder in request.find_links:
        if not folder.is_dir():
            raise UsageError(f"{folder}: not a directory", "--find-links")


def _run_pip(argv: list[str], *, verbose: bool) -> None:
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PIP_NO_COMPILE"] = "1"
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, env=env,
                              stdin=subprocess.DEVNULL, timeout=_PIP_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise BuildError(f"pip did not finish within {_PIP_TIMEOUT:g} s: "
                         f"{' '.join(argv)}") from None
    if verbose:
        sys.stderr.write(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        # pip's "Location ... is ignored" chatter hides the real error: drop it.
        lines = [line for line in (proc.stdout + proc.stderr).splitlines()
                 if "is ignored: it is neither a file nor a directory" not in line]
        raise ToolError(argv, proc.returncode, "\n".join(lines))


def _build_local_wheels(request: BundleRequest, into: Path, *, verbose: bool) -> list[Path]:
    """Local project directories become wheels first (pip refuses to build from source
    for a foreign --python-version); the wheel is then installed like any other."""
    wheels: list[Path] = []
    for requirement in request.requirements:
        if not _is_local_project(requirement):
            continue
        out = into / f"project-{len(wheels)}"
        out.mkdir()
        argv = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-input",
                "--disable-pip-version-check", "--wheel-dir", str(out)]
        for folder in request.find_links:
            argv += ["--find-links", str(folder)]
        if request.no_index:
            argv.append("--no-index")
        argv.append(str(Path(requirement).resolve()))
        _run_pip(argv, verbose=verbose)
        found = sorted(out.glob("*.whl"))
        if len(found) != 1:
            raise BuildError(f"pip wheel {requirement} did not make one wheel")
        wheels.append(found[0])
    return wheels


def build_bundle(request: BundleRequest, python: str, glibc: str, *, verbose: bool = False
                 ) -> tuple[BundleFile, ...]:
    """Install the request into a scratch tree and return its normalized files."""
    check_request(request)
    with tempfile.TemporaryDirectory(prefix="tap2pkg-bundle-") as tmp:
        scratch = Path(tmp)
        wheels = _build_local_wheels(request, scratch, verbose=verbose)
        target = scratch / "tree"
        argv = pip_argv(request, python, glibc, host_machine(), target=target, wheels=wheels)
        _run_pip(argv, verbose=verbose)
        return normalize(target, build_paths=(str(scratch), str(Path.cwd())))


# Version-control leftovers some sdists carry into wheels (Twisted's newsfragments).
_VCS_FILES = frozenset({".gitignore", ".gitattributes", ".gitkeep", ".hgignore",
                        ".cvsignore", ".bzrignore"})


def _dropped(rel: str) -> bool:
    parts = rel.split("/")
    name = parts[-1]
    return (
        parts[0] == "bin"  # console scripts: #! of the build host; the package has its own
        or name in _VCS_FILES
        or "__pycache__" in parts
        or name.endswith((".pyc", ".pyo", ".pth"))
        or (len(parts) == 2 and parts[0].endswith(".dist-info")
            and name in ("direct_url.json", "REQUESTED"))
    )


def normalize(tree: Path, build_paths: tuple[str, ...] = ()) -> tuple[BundleFile, ...]:
    """The files of an installed tree, minus what ties it to the build host, with
    modes 0644/0755 and fresh RECORDs; BuildError if a build path remains in a file."""
    found: dict[str, BundleFile] = {}
    total = 0
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames.sort()
        for filename in sorted(filenames):
            full = Path(dirpath) / filename
            rel = full.relative_to(tree).as_posix()
            if _dropped(rel):
                continue
            if full.is_symlink() or not full.is_file():
                raise BuildError(f"bundle: {rel} is not a regular file")
            data = _fitted(full, full.read_bytes())
            total += len(data)
            if len(found) >= MAX_FILES or total > MAX_BYTES:
                raise BuildError(f"bundle: more than {MAX_FILES} files or "
                                 f"{MAX_BYTES >> 20} MiB; that is not a private tree")
            # Read-only library code: nothing in it is run directly (0644, as Policy
            # wants shared objects too); the package's launcher is the one executable.
            found[rel] = BundleFile(rel, data, 0o644)
    for rel in list(found):
        if rel.endswith(".dist-info/RECORD"):
            found[rel] = BundleFile(rel, _record(rel, found), 0o644)
    for item in found.values():
        for path in build_paths:
            if path and path != "/" and path.encode() in item.data:
                raise BuildError(f"bundle: {item.path} holds the build path {path}")
    return tuple(found[rel] for rel in sorted(found))


def _fitted(path: Path, data: bytes) -> bytes:
    """A file as the package ships it: shared objects stripped as dh_strip does (debug
    symbols are not wanted in a private tree), and a module's #! line made a comment
    (nothing in the tree is run as a script; line numbers stay the same)."""
    if data.startswith(ELF_MAGIC):
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".stripped") as out:
            argv = ["strip", "--remove-section=.comment", "--remove-section=.note",
                    "--strip-unneeded", "-o", out.name, str(path)]
            try:
                proc = subprocess.run(argv, capture_output=True, check=False)
            except FileNotFoundError:
                raise BuildError("strip (binutils) is needed to bundle compiled "
                                 "extensions") from None
            # Some auditwheel-patched libraries defeat binutils (dh-virtualenv #150):
            # those are shipped as the wheel has them.
            return Path(out.name).read_bytes() if proc.returncode == 0 else data
    if data.startswith(b"#!"):
        return b"# " + data[2:]
    return data


def _record(record: str, files: dict[str, BundleFile]) -> bytes:
    """pip's RECORD rewritten: only the files that are shipped, with their real hashes
    (pip's lists the console scripts, byte code and direct_url.json dropped here)."""
    reader = csv.reader(io.StringIO(files[record].data.decode("utf-8")))
    listed = sorted({row[0] for row in reader if row and row[0] in files and row[0] != record})
    lines = []
    for rel in listed:
        data = files[rel].data
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
        lines.append(f"{rel},sha256={digest.decode()},{len(data)}")
    lines.append(f"{record},,")
    return ("\n".join(lines) + "\n").encode()


TOP_LEVEL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def top_level_modules(files: tuple[BundleFile, ...]) -> tuple[str, ...]:
    """Importable top-level names of a tree: packages (directories) and modules."""
    names: set[str] = set()
    for item in files:
        first = item.path.split("/", 1)[0]
        if "/" in item.path:
            if TOP_LEVEL.fullmatch(first):
                names.add(first)
        else:
            stem = first.split(".", 1)[0]
            if first.endswith((".py", ".so")) and TOP_LEVEL.fullmatch(stem):
                names.add(stem)
    return tuple(sorted(names))

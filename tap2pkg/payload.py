"""Payload: the application's own code (--include) and a private tree of its Python
dependencies (--bundle), gathered once and laid out the same way by every backend.

On the target it lives in one read-only directory (Debian Python Policy: private modules
under /usr/share/<pkg>/, or /usr/lib/<pkg>/ when anything is compiled):

    <root>/app/     what --include named (files and directories, as given)
    <root>/bundle/  the bundle, installed by pip for the target's Python

and the service runs /usr/lib/<pkg>/twistd, a launcher generated here, which puts exactly
those two directories in front of sys.path and runs twistd; with a bundled Twisted the
interpreter runs with -I -S, so that no distribution package (Debian's zope.interface
.pth files, an older Twisted) can shadow the bundle.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tap2pkg.bundle import BundleFile, BundleRequest, build_bundle, host_machine, top_level_modules
from tap2pkg.errors import UsageError

# Limits on --include: the app's code and data, not a file system.
MAX_INCLUDE_FILES = 20_000
MAX_INCLUDE_BYTES = 200 * 1024 * 1024
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+-]*")
# Debian architecture names of the machines wheels are built for.
DEB_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "armhf", "i686": "i386",
            "ppc64le": "ppc64el", "s390x": "s390x", "riscv64": "riscv64"}
# What installing Twisted brings (its own requirements): an app may import them.
TWISTED_MODULES = ("twisted", "zope", "incremental", "constantly", "automat", "hyperlink",
                   "attr", "attrs", "typing_extensions", "idna")


@dataclass(frozen=True)
class PayloadFile:
    path: str  # relative to the payload root: "app/..." or "bundle/..."
    data: bytes
    mode: int = 0o644


@dataclass(frozen=True)
class Payload:
    files: tuple[PayloadFile, ...]
    include_modules: tuple[str, ...]  # top-level names --include makes importable
    bundle_modules: tuple[str, ...]  # top-level names the bundle provides
    python: str  # "3.11": the interpreter the bundle was built for ("" without one)
    machine: str  # "x86_64": the architecture of compiled files ("" when all pure)
    glibc: str = ""  # "2.14": the newest GLIBC_2.x symbol version compiled files need

    @property
    def bundled(self) -> bool:
        return bool(self.python)

    @property
    def bundle_twisted(self) -> bool:
        return "twisted" in self.bundle_modules

    @property
    def arch_dependent(self) -> bool:
        return bool(self.machine)

    def root(self, package: str) -> PurePosixPath:
        base = "/usr/lib" if self.arch_dependent else "/usr/share"
        return PurePosixPath(base) / package

    def sys_path(self, package: str) -> list[str]:
        root = self.root(package)
        return [str(root / d) for d in ("app", "bundle") if self.has(d)]

    def has(self, top: str) -> bool:
        return any(f.path.startswith(top + "/") for f in self.files)

    @property
    def modules(self) -> tuple[str, ...]:
        return tuple(sorted({*self.include_modules, *self.bundle_modules}))


def launcher_path(package: str) -> PurePosixPath:
    """/usr/lib/<pkg>/twistd: an internal executable (FHS), whatever the code's root."""
    return PurePosixPath("/usr/lib") / package / "twistd"


def interpreter(payload: Payload, target_python: str) -> str:
    """The #! interpreter: the distribution's python3 when the bundle is built for it,
    else the exact pythonX.Y (e.g. RHEL 9's python3.11)."""
    if not payload.bundled or payload.python == target_python:
        return "/usr/bin/python3"
    return f"/usr/bin/python{payload.python}"


def interpreter_flags(payload: Payload) -> str:
    """-I: no PYTHONPATH, no user site, no script directory on sys.path; -B: no byte code
    written beside the read-only tree (root would leave files dpkg and rpm do not own);
    -S as well when Twisted is bundled, so the distribution's site-packages (and their
    .pth files) stay out of the way."""
    return "-IBS" if payload.bundle_twisted else "-IB"


def launcher(payload: Payload, package: str, target_python: str, paths: list[str]) -> str:
    """The launcher's text; paths are the directories put in front of sys.path."""
    version_check = ""
    if payload.bundled:
        major, minor = payload.python.split(".")
        version_check = (
            f"if sys.version_info[:2] != ({major}, {minor}):\n"
            f"    sys.exit(\"{package}: built for Python {payload.python}, running under \"\n"
            "             + sys.version.split()[0] + \": rebuild the package\")\n"
        )
    return (
        f"#!{interpreter(payload, target_python)} {interpreter_flags(payload)}\n"
        f"# twistd for {package}: the package's own code and bundle first on sys.path.\n"
        "import sys\n"
        f"{version_check}"
        f"sys.path[:0] = {paths!r}\n"
        "from twisted.scripts.twistd import run\n"
        "sys.argv[0] = \"twistd\"\n"
        "run()\n"
    )


def _include_files(path: Path) -> list[PayloadFile]:
    """One --include: a file becomes app/<name>, a directory app/<name>/..."""
    if not path.exists():
        raise UsageError(f"{path}: no such file or directory", "--include")
    name = path.resolve().name
    if not _NAME.fullmatch(name):
        raise UsageError(f"{path}: rename it to letters, digits and '._+-' only", "--include")
    if path.is_file():
        return [PayloadFile(f"app/{name}", path.read_bytes())]
    if not path.is_dir():
        raise UsageError(f"{path}: not a regular file or directory", "--include")
    found: list[PayloadFile] = []
    total = 0
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith("."))
        for filename in sorted(filenames):
            full = Path(dirpath) / filename
            if filename.endswith((".pyc", ".pyo")) or filename.startswith("."):
                continue
            rel = full.relative_to(path).as_posix()
            if full.is_symlink() or not full.is_file():
                raise UsageError(f"{full}: only regular files can be included", "--include")
            if not all(_NAME.fullmatch(part) for part in rel.split("/")):
                raise UsageError(f"{full}: rename it to letters, digits and '._+-' only",
                                 "--include")
            data = full.read_bytes()
            total += len(data)
            if len(found) >= MAX_INCLUDE_FILES or total > MAX_INCLUDE_BYTES:
                raise UsageError(f"{path}: more than {MAX_INCLUDE_FILES} files or "
                                 f"{MAX_INCLUDE_BYTES >> 20} MiB", "--include")
            found.append(PayloadFile(f"app/{name}/{rel}", data))
    return found


def gather(includes: tuple[Path, ...], bundle: BundleRequest, python: str, glibc: str,
           *, verbose: bool = False) -> Payload | None:
    """The payload the options ask for, or None when they ask for nothing."""
    if not includes and not bundle:
        return None
    files: dict[str, PayloadFile] = {}
    for path in includes:
        for item in _include_files(path):
            if item.path in files:
                raise UsageError(f"{path}: {item.path[4:]} is included twice", "--include")
            files[item.path] = item
    include_modules = top_level_modules(
        tuple(BundleFile(f.path[4:], f.data, f.mode) for f in files.values())
    )
    bundle_files: tuple[BundleFile, ...] = ()
    if bundle:
        bundle_files = build_bundle(bundle, python, glibc, verbose=verbose)
        for built in bundle_files:
            files[f"bundle/{built.path}"] = PayloadFile(f"bundle/{built.path}", built.data,
                                                        built.mode)
    compiled = [f.data for f in files.values() if f.data.startswith(b"\x7fELF")]
    ordered = tuple(files[p] for p in sorted(files))
    return Payload(
        files=ordered,
        include_modules=include_modules,
        bundle_modules=top_level_modules(bundle_files),
        python=python if bundle else "",
        machine=host_machine() if compiled else "",
        glibc=_glibc_needed(compiled),
    )


def _glibc_needed(objects: list[bytes]) -> str:
    """The newest GLIBC_2.x symbol version named in the compiled files (what
    dpkg-shlibdeps would turn into a libc6 dependency)."""
    versions = {
        tuple(int(n) for n in m.split(b"."))
        for data in objects
        for m in re.findall(rb"GLIBC_(2\.\d+(?:\.\d+)?)", data)
    }
    return ".".join(str(n) for n in max(versions)) if versions else ""


def deb_architecture(payload: Payload | None) -> str:
    if payload is None or not payload.arch_dependent:
        return "all"
    try:
        return DEB_ARCH[payload.machine]
    except KeyError:
        raise UsageError(f"no Debian architecture known for {payload.machine}") from None


def _next_minor(python: str) -> str:
    major, minor = python.split(".")
    return f"{major}.{int(minor) + 1}"


def deb_depends(payload: Payload | None, target_python: str) -> list[str]:
    """The interpreter the bundle was built for, exactly: an upgrade of the distribution's
    Python to the next minor version must not break the service silently."""
    if payload is None:
        return []
    libc = [f"libc6 (>= {payload.glibc})"] if payload.glibc else []
    if not payload.bundled:
        return ["python3", *libc]
    if payload.python == target_python:
        return [f"python3 (>= {payload.python})", f"python3 (<< {_next_minor(payload.python)})",
                *libc]
    return [f"python{payload.python}", *libc]


def rpm_requires(payload: Payload | None) -> list[str]:
    if payload is None:
        return []
    if not payload.bundled:
        return ["python3"]
    return [f"python(abi) = {payload.python}"]


def needs_distribution_twisted(payload: Payload | None) -> bool:
    return payload is None or not payload.bundle_twisted


# What the backends call.  Paths are relative to the file system root ("usr/lib/...").
SOURCE_DIR = "payload"  # where the source package and tarball keep the installed tree


def installed_files(package: str, payload: Payload, target_python: str
                    ) -> list[tuple[str, bytes, int]]:
    """Every file the payload installs: its tree, and the launcher."""
    root = payload.root(package).relative_to("/")
    found = [(f"{root}/{item.path}", item.data, item.mode) for item in payload.files]
    text = launcher(payload, package, target_python, payload.sys_path(package))
    found.append((str(launcher_path(package).relative_to("/")), text.encode(), 0o755))
    return sorted(found)


def source_lintian_overrides(payload: Payload | None) -> str | None:
    """debian/source/lintian-overrides for a bundle with compiled files, with reasons."""
    if payload is None or not payload.arch_dependent:
        return None
    return (
        "# --bundle installs wheels built by their projects for the target's Python: the\n"
        "# compiled extensions in payload/ are those wheels' files (each named in its\n"
        "# RECORD), and their sources are the projects' sdists on the package index.\n"
        "source-is-missing [payload/*]\n"
        "source-contains-prebuilt-binary [payload/*]\n"
    )


def installed_dirs(package: str, payload: Payload) -> list[str]:
    """The directories the package owns entirely (relative to /), for install lists and
    %files: the code's root and the launcher's directory (the same when compiled)."""
    return sorted({str(payload.root(package).relative_to("/")),
                   str(launcher_path(package).parent.relative_to("/"))})

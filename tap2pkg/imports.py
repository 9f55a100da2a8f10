"""Say what is missing: each module the application imports that neither the standard
library, Twisted, the payload (--include, --bundle) nor a --depends provides gets one
warning naming the module and the fix.

The Debian package suggested for a module comes from dh-python's own mapping of Python
distribution names to Debian packages (/usr/share/dh-python/dist/cpython3_fallback), never
from a table of ours; without dh-python, the warning suggests --include or --bundle only.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from tap2pkg.payload import TWISTED_MODULES, Payload

if TYPE_CHECKING:
    import ast

DH_PYTHON_MAPPING = Path("/usr/share/dh-python/dist/cpython3_fallback")
MAX_MAPPING_BYTES = 4 * 1024 * 1024


def _normalize(name: str) -> str:
    """PEP 503 normalization, which dh-python's lookups use too."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class DistMapping:
    """dh-python's distribution name -> Debian package mapping."""

    by_dist: dict[str, str]
    packages: frozenset[str]

    def debian_package(self, module: str) -> str | None:
        """The package that provides this top-level module, if dh-python's mapping says:
        a distribution of the same name, or Debian's python3-<module> naming."""
        found = self.by_dist.get(_normalize(module))
        if found is not None:
            return found
        candidate = f"python3-{_normalize(module)}"
        return candidate if candidate in self.packages else None


@cache
def dist_mapping(path: Path = DH_PYTHON_MAPPING) -> DistMapping:
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_MAPPING_BYTES)
    except OSError:
        return DistMapping({}, frozenset())
    by_dist: dict[str, str] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        parts = line.split()
        if len(parts) >= 2 and not line.startswith("#"):
            by_dist.setdefault(_normalize(parts[0]), parts[1])
    return DistMapping(by_dist, frozenset(by_dist.values()))


# Top-level standard library modules by the CPython version that removed or added them,
# from the "Removed" and "New Modules" sections of What's New in Python 3.7 ... 3.14
# (3.12: PEP 632 distutils, asynchat/asyncore/smtpd, imp; 3.13: PEP 594's dead batteries
# and lib2to3).  The build host's Python names its own standard library
# (sys.stdlib_module_names); these tables turn it into the target's.
REMOVED_IN = {
    (3, 12): frozenset({"asynchat", "asyncore", "distutils", "imp", "smtpd"}),
    (3, 13): frozenset({"aifc", "audioop", "cgi", "cgitb", "chunk", "crypt", "imghdr",
                        "lib2to3", "mailcap", "msilib", "nis", "nntplib", "ossaudiodev",
                        "pipes", "sndhdr", "spwd", "sunau", "telnetlib", "uu", "xdrlib"}),
}
ADDED_IN = {
    (3, 7): frozenset({"contextvars", "dataclasses"}),
    (3, 9): frozenset({"graphlib", "zoneinfo"}),
    (3, 11): frozenset({"tomllib"}),
    (3, 14): frozenset({"annotationlib", "compression"}),
}


def _version(python: str) -> tuple[int, int]:
    major, _, minor = python.partition(".")
    return int(major), int(minor)


@cache
def stdlib_modules(python: str | None = None) -> frozenset[str]:
    """The top-level names of the standard library of CPython `python` ("3.13"; None: the
    build host's own)."""
    names = set(sys.stdlib_module_names)
    if python is None:
        return frozenset(names)
    target, host = _version(python), sys.version_info[:2]
    for version, removed in REMOVED_IN.items():
        if target >= version:
            names -= removed
        elif host >= version:
            names |= removed  # the host lost it; the older target still has it
    for version, added in ADDED_IN.items():
        if target >= version:
            names |= added
        else:
            names -= added
    return frozenset(names)


def _stdlib_change(module: str, python: str) -> str | None:
    """Why the standard library of the target's Python lacks a module the host's has."""
    target = _version(python)
    for version, removed in REMOVED_IN.items():
        if module in removed and target >= version:
            return f"was removed from the standard library in Python {version[0]}.{version[1]}"
    for version, added in ADDED_IN.items():
        if module in added and target < version:
            return f"joined the standard library only in Python {version[0]}.{version[1]}"
    return None


def _package_name(dependency: str) -> str:
    return re.split(r"[\s(<>=]", dependency.strip(), maxsplit=1)[0]


def missing_modules(imports: Iterable[str], payload: Payload | None, depends: Iterable[str],
                    mapping: DistMapping | None = None, python: str | None = None
                    ) -> list[str]:
    """Top-level modules imported but provided by nothing the package will have.  dh-python's
    mapping is read only for a module that the standard library, Twisted and the payload do
    not provide (an app made of Twisted alone never pays for it)."""
    provided = set(stdlib_modules(python)) | set(TWISTED_MODULES) | {"__future__"}
    if payload is not None:
        provided |= set(payload.modules)
    depended = {_package_name(d) for d in depends}
    missing: list[str] = []
    for module in imports:
        top = module.split(".", 1)[0]
        if not top or top in provided or top in missing:
            continue
        if mapping is None:
            mapping = dist_mapping()
        debian = mapping.debian_package(top)
        if debian is not None and debian in depended:
            continue
        if f"python3-{_normalize(top)}" in depended or f"python3dist({_normalize(top)})" in {
            _normalize(d) for d in depended
        }:
            continue
        missing.append(top)
    return missing


def included_imports(payload: Payload | None) -> tuple[dict[str, str], list[str]]:
    """The absolute imports of the --include'd Python files: module -> the first file
    (as installed under app/) that imports it; and a note when files were left unread
    (over tap2pkg.limits' bounds)."""
    from tap2pkg.limits import MAX_SCANNED_INCLUDE_BYTES, MAX_SOURCE_BYTES  # noqa: PLC0415

    found: dict[str, str] = {}
    skipped: list[str] = []
    budget = MAX_SCANNED_INCLUDE_BYTES
    for item in payload.files if payload is not None else ():
        if not (item.path.startswith("app/") and item.path.endswith(".py")):
            continue
        name = item.path.removeprefix("app/")
        if len(item.data) > MAX_SOURCE_BYTES or len(item.data) > budget:
            skipped.append(name)
            continue
        budget -= len(item.data)
        for module in python_imports(item.data, required_only=True):
            found.setdefault(module, name)
    notes = []
    if skipped:
        notes.append(f"the imports of {len(skipped)} --include'd file(s) were not checked "
                     f"(too big: {', '.join(skipped[:3])}{', ...' if len(skipped) > 3 else ''})"
                     ": --check tells whether the service starts")
    return found, notes


def warnings(imports: Iterable[str], payload: Payload | None, depends: Iterable[str],
             *, appdir: Path, family: str, mapping: DistMapping | None = None,
             python: str | None = None, subject: str = "the application") -> list[str]:
    """One warning per missing module, with the fix.  python: the target's CPython
    version, whose standard library counts (None: the build host's).  subject: what
    imports them."""
    found = []
    for module in missing_modules(imports, payload, depends, mapping, python):
        change = None if python is None else _stdlib_change(module, python)
        if change is not None:
            found.append(f"{subject} imports {module!r}, which {change}; the "
                         f"target runs Python {python}: port the application, or --bundle "
                         "a distribution that provides the module")
            continue
        mapping = dist_mapping() if mapping is None else mapping
        found.append(f"{subject} imports {module!r}, which the package would not "
                     f"provide: {_fix(module, appdir, family, mapping)}")
    return found


def _shown(path: Path) -> str:
    """A path as the user would type it: relative to the working directory if inside."""
    relative = os.path.relpath(path)
    return path.as_posix() if relative.startswith("..") else relative


def _fix(module: str, appdir: Path, family: str, mapping: DistMapping) -> str:
    project = (appdir / "pyproject.toml").is_file()
    for candidate in (appdir / module, appdir / f"{module}.py"):
        if candidate.exists():
            if project:
                return (f"--bundle {_shown(appdir)} (the project, with its dependencies), "
                        f"or --include {_shown(candidate)}")
            return f"ship it with --include {_shown(candidate)}"
    if project:
        return f"--bundle {_shown(appdir)} if its project requires it"
    debian = mapping.debian_package(module) if family == "deb" else None
    if debian is not None:
        return f"add --depends {debian} (Debian's package), or --bundle it"
    return f"--include its code, or --bundle the distribution that provides {module!r}"


def python_imports(content: bytes, *, required_only: bool = False) -> tuple[str, ...]:
    """The absolute imports of a .tac (module level and inside functions), for when the
    loader has not filled AppInfo.imports; empty if the source does not parse.
    required_only: leave out the optional ones (see read_imports)."""
    found, optional = read_imports(content)
    return tuple(m for m in found if m not in optional) if required_only else found


# What a handler catches that makes the imports of its try block optional.
_IMPORT_ERRORS = frozenset({"ImportError", "ModuleNotFoundError", "Exception",
                            "BaseException"})


def read_imports(content: bytes) -> tuple[tuple[str, ...], frozenset[str]]:
    """The absolute imports of Python source, in order, and which of them are optional:
    imported in the body of a try statement whose handler catches ImportError (or
    ModuleNotFoundError, Exception, or everything), so the code runs without them, as in
        try: from roman_numerals import RomanNumeral
        except ImportError: import roman
    where roman_numerals is optional and roman, the fallback, is required.  One parse;
    nothing when the source does not parse."""
    import ast  # noqa: PLC0415 - only needed here

    try:
        tree = ast.parse(content)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return (), frozenset()
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
    return tuple(dict.fromkeys(found)), _optional(tree)


def _optional(tree: ast.AST) -> frozenset[str]:
    import ast  # noqa: PLC0415

    def catches(handler: ast.ExceptHandler) -> bool:
        kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        for kind in kinds:
            name = kind.id if isinstance(kind, ast.Name) else (
                kind.attr if isinstance(kind, ast.Attribute) else None)
            if kind is None or name in _IMPORT_ERRORS:
                return True
        return False

    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try | ast.TryStar) and any(map(catches, node.handlers)):
            for statement in node.body:
                for inner in ast.walk(statement):
                    if isinstance(inner, ast.Import):
                        found.update(alias.name for alias in inner.names)
                    elif isinstance(inner, ast.ImportFrom) and inner.level == 0 and inner.module:
                        found.add(inner.module)
    return frozenset(found)

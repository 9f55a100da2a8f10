"""Application files: find out what kind a file is and read it into an AppInfo.

One reader per kind, none of which runs the file: python.py (.tac/.py, parsed with
ast), tap.py (.tap, a restricted unpickler), source.py (.tas AOT source, parsed with
ast), xml.py (.tax marmalade XML, converted to AOT source with marmalade.py and
aotwriter.py, then read as .tas); graph.py is what tap.py and source.py share.
check.py is the opt-in ``--check`` that does run the file, with twistd's own loader,
in a subprocess.
"""

from __future__ import annotations

import errno
import importlib
import os
import stat
from collections.abc import Callable
from pathlib import Path

from tap2pkg.errors import AppFileError, UsageError
from tap2pkg.limits import MAX_APPFILE_BYTES, MAX_SOURCE_BYTES, OutOfTimeError
from tap2pkg.model import AppInfo, AppKind

__all__ = ["MAX_SIZE", "guess_kind", "load", "parse_kind", "read_bytes_as"]

# Application files are a few kilobytes (the limits live in tap2pkg.limits).
MAX_SIZE = MAX_APPFILE_BYTES
MAX_SOURCE_SIZE = MAX_SOURCE_BYTES

_EXTENSIONS = {
    ".tac": AppKind.PYTHON,
    ".py": AppKind.PYTHON,
    ".tap": AppKind.TAP,
    ".tas": AppKind.SOURCE,
    ".tax": AppKind.XML,
}
_ENCRYPTED = frozenset({".etac", ".etap", ".etas", ".etax"})
# --type values: the original tools' names, plus twistd's own name for a tap.
_TYPES = {kind.value: kind for kind in AppKind} | {"pickle": AppKind.TAP}

# kind -> (module, function): each reader is imported only when its kind is read.
_READERS = {
    AppKind.PYTHON: ("tap2pkg.appfile.python", "read_python"),
    AppKind.TAP: ("tap2pkg.appfile.tap", "read_pickle"),
    AppKind.SOURCE: ("tap2pkg.appfile.source", "read_source"),
    AppKind.XML: ("tap2pkg.appfile.xml", "read_xml"),
}


def _reader(kind: AppKind) -> Callable[[str, bytes], AppInfo]:
    module, function = _READERS[kind]
    reader: Callable[[str, bytes], AppInfo] = getattr(importlib.import_module(module), function)
    return reader


def guess_kind(path: Path) -> AppKind:
    """The kind of application file, from its extension (as twistd's sob.guessType)."""
    suffix = path.suffix.lower()
    if suffix in _ENCRYPTED:
        raise AppFileError(
            f"{path.name}: encrypted application files are not supported: "
            "current twistd ignores passphrases"
        )
    kind = _EXTENSIONS.get(suffix)
    if kind is None:
        what = f"unknown extension {suffix!r}" if suffix else "no extension"
        raise AppFileError(
            f"{path.name}: {what}: use .tac, .py, .tap, .tas or .tax, "
            "or pass --type (python, tap, source or xml)"
        )
    return kind


def parse_kind(value: str) -> AppKind:
    """A --type/-y value: python, tap (or pickle), source or xml, in any case."""
    kind = _TYPES.get(value.strip().lower())
    if kind is None:
        raise UsageError(f"unknown type {value!r}: choose python, tap, source or xml", key="--type")
    return kind


def _unreadable(path: Path, exc: OSError) -> AppFileError:
    """A one-line error naming the file, for what open() or stat() raised."""
    if isinstance(exc, FileNotFoundError):
        return AppFileError(f"{path}: no such file")
    if isinstance(exc, PermissionError):
        return AppFileError(f"{path}: cannot read it: permission denied")
    reason = exc.strerror or errno.errorcode.get(exc.errno or 0, "error")
    return AppFileError(f"{path}: cannot read it: {reason}")


def _check_regular(path: Path, mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise AppFileError(f"{path}: is a directory, not an application file")
    if not stat.S_ISREG(mode):  # a FIFO or a device would block or never end
        raise AppFileError(f"{path}: not a regular file")


def _read_bytes(path: Path) -> bytes:
    """The file's content, with one-line errors that name it."""
    try:
        _check_regular(path, path.stat().st_mode)
        # The file may be swapped for a FIFO after that check: O_NONBLOCK keeps open()
        # from waiting for a writer, and what was opened is checked again.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise _unreadable(path, exc) from None
    try:
        with os.fdopen(fd, "rb") as stream:
            _check_regular(path, os.fstat(stream.fileno()).st_mode)
            content = stream.read(MAX_SIZE + 1)
    except OSError as exc:
        raise _unreadable(path, exc) from None
    if len(content) > MAX_SIZE:
        raise AppFileError(
            f"{path}: larger than {MAX_SIZE // (1024 * 1024)} MiB: not an application file"
        )
    return content


def read_bytes_as(filename: str, content: bytes, kind: AppKind | None = None) -> AppInfo:
    """Read an application file's content (e.g. taken out of a package) without running
    it; kind None guesses from the file name."""
    if kind is None:
        kind = guess_kind(Path(filename))
    if kind in (AppKind.PYTHON, AppKind.SOURCE) and len(content) > MAX_SOURCE_SIZE:
        raise AppFileError(
            f"{filename}: {len(content)} bytes is too large for a {kind.value} application "
            f"file (at most {MAX_SOURCE_SIZE // 1024} KiB)"
        )
    try:
        return _reader(kind)(filename, content)
    except OutOfTimeError as exc:  # the last guard of tap2pkg.limits
        raise AppFileError(f"{filename}: {exc}") from None


def load(path: Path, kind: AppKind | None = None) -> AppInfo:
    """Read an application file without running it; kind None guesses from the extension."""
    if kind is None:
        kind = guess_kind(path)
    return read_bytes_as(path.name, _read_bytes(path), kind)

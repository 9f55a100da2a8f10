"""Bounded readers for the containers inside packages given to ``tap2pkg inspect``: ar
(a .deb), rpm headers, compressed streams, newc cpio (an rpm payload).

A package from elsewhere may claim any size anywhere: an ar member of 10 GB, an rpm
header of four billion entries, a few kilobytes of xz that expand to terabytes.  Every
size is checked against tap2pkg.limits before anything is allocated or read, and
decompression stops at MAX_DECOMPRESSED_BYTES.
"""

from __future__ import annotations

import bz2
import contextlib
import lzma
import shutil
import struct
import subprocess
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any, Protocol

from tap2pkg.limits import (
    MAX_DECOMPRESSED_BYTES,
    MAX_PACKAGE_FILES,
    MAX_RPM_HEADER_BYTES,
    MAX_RPM_HEADER_ENTRIES,
    Deadline,
    OutOfTimeError,
)


class ArchiveError(Exception):
    """The package is damaged, or claims more than the limits allow."""


__all__ = ["ArchiveError", "BoundedStream", "OutOfTimeError", "Window", "ar_members",
           "cpio_entries", "rpm_header"]


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _Decompressor(Protocol):
    def decompress(self, data: bytes, max_length: int = ...) -> bytes: ...


class BoundedStream:
    """A read-only file over compressed bytes that refuses to expand beyond a limit.

    Decompression is incremental (max_length per call), so memory stays at what is
    asked for, never at what the stream claims."""

    def __init__(self, raw: Readable, compression: str, limit: int = MAX_DECOMPRESSED_BYTES
                 ) -> None:
        self.raw = raw
        self.limit = limit
        self.produced = 0
        self.pending = b""
        self.process: subprocess.Popen[bytes] | None = None
        self.decompressor: _Decompressor | None = None
        self.done = False
        self.deadline = Deadline()
        if compression in ("gz", "gzip"):
            self.decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif compression in ("xz", "lzma"):
            self.decompressor = lzma.LZMADecompressor()
        elif compression in ("bz2", "bzip2"):
            self.decompressor = bz2.BZ2Decompressor()
        elif compression in ("zst", "zstd"):
            self.process = _zstd(raw)
        elif compression not in ("", "none", "tar"):
            raise ArchiveError(f"unknown compression {compression!r}")

    def read(self, size: int = -1, /) -> bytes:
        if size < 0:
            size = self.limit - self.produced + 1
        out = self.pending[:size]
        self.pending = self.pending[size:]
        while len(out) < size and not self.done:
            out += self._more(size - len(out))
        self.produced += len(out)
        if self.produced > self.limit:
            raise ArchiveError(f"expands to more than {self.limit // (1024 * 1024)} MiB")
        return out

    def _more(self, wanted: int) -> bytes:
        self.deadline.check()
        wanted = min(wanted, 1024 * 1024)
        if self.process is not None:
            assert self.process.stdout is not None  # noqa: S101 - Popen(stdout=PIPE)
            chunk = self.process.stdout.read(wanted)
            self.done = not chunk
            return chunk
        if self.decompressor is None:
            chunk = self.raw.read(wanted)
            self.done = not chunk
            return chunk
        decompressor: Any = self.decompressor
        needs_input = getattr(decompressor, "needs_input", None)
        unconsumed = getattr(decompressor, "unconsumed_tail", b"")
        if needs_input is False or unconsumed:
            data = unconsumed if unconsumed else b""
        else:
            data = self.raw.read(64 * 1024)
            if not data:
                self.done = True
                return b""
        try:
            produced: bytes = decompressor.decompress(data, wanted)
        except (OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
            raise ArchiveError(f"cannot decompress it: {exc}") from None
        if getattr(decompressor, "eof", False):
            self.done = True
        return produced

    def close(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


def _zstd(raw: Readable) -> subprocess.Popen[bytes]:
    """zstd is not in Python 3.11's standard library: the zstd tool, fed by a thread and
    read in bounded slices, and killed when done or when the limit is reached."""
    tool = shutil.which("zstd")
    if tool is None:
        raise ArchiveError("it is compressed with zstd, and the zstd tool is not installed")
    process = subprocess.Popen([tool, "-dc", "-q"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def feed() -> None:
        assert process.stdin is not None  # noqa: S101 - Popen(stdin=PIPE)
        try:
            while chunk := raw.read(64 * 1024):
                process.stdin.write(chunk)
        except (OSError, ValueError):
            pass  # killed: the reader has what it needs, or refused the rest
        finally:
            with contextlib.suppress(OSError):
                process.stdin.close()

    threading.Thread(target=feed, daemon=True).start()
    return process


# ---- ar (a .deb) ----

@dataclass(frozen=True)
class ArMember:
    name: str
    offset: int  # where its data starts in the file
    size: int


def ar_members(stream: IO[bytes], file_size: int) -> list[ArMember]:
    """The members of an ar archive, with sizes checked against the file's own size."""
    if stream.read(8) != b"!<arch>\n":
        raise ArchiveError("not an ar archive")
    members: list[ArMember] = []
    offset = 8
    while offset < file_size:
        header = stream.read(60)
        if len(header) < 60:
            raise ArchiveError("truncated ar header")
        if header[58:60] != b"`\n":
            raise ArchiveError("damaged ar header")
        size_field = header[48:58].decode("ascii", "replace").strip()
        if not size_field.isascii() or not size_field.isdigit():
            raise ArchiveError("damaged ar member size")
        size = int(size_field)
        start = offset + 60
        if start + size > file_size:
            raise ArchiveError("an ar member is larger than the file")
        name = header[:16].decode("ascii", "replace").rstrip().removesuffix("/")
        members.append(ArMember(name, start, size))
        if len(members) > 16:
            raise ArchiveError("too many ar members for a .deb")
        offset = start + size + (size & 1)
        stream.seek(offset)
    return members


class Window:
    """A read-only view of [offset, offset + size) of a file."""

    def __init__(self, stream: IO[bytes], offset: int, size: int) -> None:
        self.stream, self.offset, self.size, self.position = stream, offset, size, 0

    def read(self, wanted: int = -1, /) -> bytes:
        left = self.size - self.position
        wanted = left if wanted < 0 else min(wanted, left)
        self.stream.seek(self.offset + self.position)
        data = self.stream.read(wanted)
        self.position += len(data)
        return data



# ---- rpm headers ----

_HEADER_MAGIC = b"\x8e\xad\xe8\x01"
_TYPE_SIZES = {2: 1, 3: 2, 4: 4, 5: 8}  # INT8, INT16, INT32, INT64
_STRING, _BIN, _STRING_ARRAY, _I18N = 6, 7, 8, 9


def rpm_header(stream: IO[bytes]) -> tuple[dict[int, Any], int]:
    """One rpm header: tag -> value (str, bytes, list of int or of str), and its length
    in bytes.  Entry counts, data size, offsets and string ends are all checked."""
    intro = stream.read(16)
    if len(intro) < 16 or intro[:4] != _HEADER_MAGIC:
        raise ArchiveError("bad rpm header magic")
    entries, data_size = struct.unpack(">II", intro[8:16])
    if entries > MAX_RPM_HEADER_ENTRIES or data_size > MAX_RPM_HEADER_BYTES:
        raise ArchiveError(f"an rpm header of {entries} entries and {data_size} bytes is "
                           "larger than any real package's")
    index = stream.read(16 * entries)
    store = stream.read(data_size)
    if len(index) < 16 * entries or len(store) < data_size:
        raise ArchiveError("truncated rpm header")
    tags: dict[int, Any] = {}
    for position in range(entries):
        tag, kind, offset, count = struct.unpack_from(">IIII", index, 16 * position)
        if offset > data_size or count > data_size:
            raise ArchiveError(f"rpm header tag {tag} points outside the header")
        tags[tag] = _value(store, kind, offset, count, tag)
    return tags, 16 + 16 * entries + data_size


def _value(store: bytes, kind: int, offset: int, count: int, tag: int) -> Any:
    if kind in _TYPE_SIZES:
        width = _TYPE_SIZES[kind]
        end = offset + width * count
        if end > len(store):
            raise ArchiveError(f"rpm header tag {tag} points outside the header")
        code = {1: "B", 2: "H", 4: "I", 8: "Q"}[width]
        return list(struct.unpack_from(f">{count}{code}", store, offset))
    if kind == _BIN:
        if offset + count > len(store):
            raise ArchiveError(f"rpm header tag {tag} points outside the header")
        return store[offset:offset + count]
    if kind in (_STRING, _STRING_ARRAY, _I18N):
        strings = []
        for _ in range(1 if kind == _STRING else count):
            end = store.find(b"\0", offset)
            if end < 0:
                raise ArchiveError(f"rpm header tag {tag} has an unterminated string")
            strings.append(store[offset:end].decode("utf-8", "replace"))
            offset = end + 1
        return strings[0] if kind == _STRING else strings
    return None


# ---- newc cpio (rpm payloads) ----

@dataclass(frozen=True)
class CpioEntry:
    name: str
    mode: int
    size: int


def cpio_entries(stream: BoundedStream, wanted: set[str]) -> Iterator[tuple[CpioEntry, bytes]]:
    """Each entry of a newc cpio stream, with its content if its name is in ``wanted``
    (others are read through: the stream itself bounds the total)."""
    for _ in range(MAX_PACKAGE_FILES + 1):
        header = stream.read(110)
        if len(header) < 110 or header[:6] not in (b"070701", b"070702"):
            raise ArchiveError("damaged cpio payload")
        try:
            fields = [int(header[6 + 8 * i:14 + 8 * i], 16) for i in range(13)]
        except ValueError:
            raise ArchiveError("damaged cpio header") from None
        mode, size, name_size = fields[1], fields[6], fields[11]
        name = stream.read(name_size)[:-1].decode("utf-8", "replace")
        stream.read((-(110 + name_size)) % 4)
        if name == "TRAILER!!!":
            return
        name = "/" + name.removeprefix(".").lstrip("/")
        entry = CpioEntry(name, mode, size)
        if name in wanted:
            content = stream.read(size)
        else:
            content = b""
            left = size
            while left > 0:
                chunk = stream.read(min(left, 1024 * 1024))
                if not chunk:
                    break
                left -= len(chunk)
        stream.read((-size) % 4)
        yield entry, content
    raise ArchiveError(f"more than {MAX_PACKAGE_FILES} files")

"""Hostile packages for `tap2pkg inspect`, built in milliseconds: .debs assembled from ar,
tar and xz by hand, compressed streams that expand to gigabytes, a real .rpm with its
header or payload patched, and a helper that runs a command under a memory limit."""

from __future__ import annotations

import io
import lzma
import resource
import struct
import subprocess
import sys
import tarfile
import zlib
from pathlib import Path

MIB = 1 << 20


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        if not n:
            return bytes(out + bytes([byte]))
        out.append(byte | 0x80)


def xz_zeros(prefix: bytes, mib: int) -> bytes:
    """A valid .xz that expands to prefix + ``mib`` MiB of zeros: one LZMA2 chunk of 1 MiB
    of zeros (it resets the dictionary, so it is independent of what came before) written
    ``mib`` times.  4 GiB cost under a megabyte and no time to make."""
    lzma2 = [{"id": lzma.FILTER_LZMA2, "preset": 0, "dict_size": MIB}]
    head = lzma.compress(prefix, format=lzma.FORMAT_RAW, filters=lzma2)[:-1] if prefix else b""
    chunk = lzma.compress(b"\0" * MIB, format=lzma.FORMAT_RAW, filters=lzma2)[:-1]
    data = head + chunk * mib + b"\0"  # then LZMA2's end marker
    props = lzma._encode_filter_properties(lzma2[0])  # type: ignore[attr-defined]
    body = b"\x00" + _varint(0x21) + _varint(len(props)) + props  # one filter: LZMA2
    size = (len(body) + 1 + 4 + 3) // 4 * 4
    header = bytes([size // 4 - 1]) + body
    header += b"\0" * (size - 4 - len(header))
    header += struct.pack("<I", zlib.crc32(header))
    flags = b"\x00\x00"  # no integrity check
    block = header + data + b"\0" * (-(len(header) + len(data)) % 4)
    index = b"\x00" + _varint(1) + _varint(len(header) + len(data))
    index += _varint(len(prefix) + mib * MIB)
    index += b"\0" * (-len(index) % 4)
    index += struct.pack("<I", zlib.crc32(index))
    backward = struct.pack("<I", len(index) // 4 - 1) + flags
    return (b"\xfd7zXZ\x00" + flags + struct.pack("<I", zlib.crc32(flags)) + block + index
            + struct.pack("<I", zlib.crc32(backward)) + backward + b"YZ")


def gzip_zeros(prefix: bytes, mib: int) -> bytes:
    """A gzip stream of prefix + ``mib`` MiB of zeros, from one full-flushed deflate block
    repeated (its trailer's CRC is not that of the data: readers must stop long before)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = compressor.compress(prefix) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(b"\0" * MIB) + compressor.flush(zlib.Z_FULL_FLUSH)
    return (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + first + block * mib + b"\x03\x00"
            + struct.pack("<II", 0, (len(prefix) + mib * MIB) & 0xFFFFFFFF))


def tar_header(name: str, size: int, kind: bytes = tarfile.REGTYPE) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.type = size, kind
    return info.tobuf(format=tarfile.GNU_FORMAT)


def tar(entries: list[tarfile.TarInfo], contents: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for info in entries:
            data = contents.get(info.name)
            if data is not None:
                info.size = len(data)
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def ar(members: list[tuple[str, bytes]], sizes: dict[str, int] | None = None) -> bytes:
    """An ar archive; ``sizes`` overrides the size a member's header claims."""
    out = b"!<arch>\n"
    for name, data in members:
        size = (sizes or {}).get(name, len(data))
        header = f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{size:<10}`\n".encode()
        out += header + data + (b"\n" if len(data) % 2 else b"")
    return out


CONTROL = b"Package: hostile\nVersion: 1.0\nArchitecture: all\nMaintainer: A <a@b.cd>\n" \
          b"Description: x\n"


def deb(data_name: str, data: bytes, control: bytes = CONTROL) -> bytes:
    info = tarfile.TarInfo("./control")
    control_tar = tar([info], {"./control": control})
    return ar([("debian-binary", b"2.0\n"),
               ("control.tar.gz", zlib.compress(control_tar, wbits=31)),
               (data_name, data)])


def run_bounded(argv: list[str], memory: int, seconds: float
                ) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run a Python command with its address space limited to ``memory`` bytes; the
    process's exit, and its peak resident size in bytes (from getrusage)."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    code = ("import resource, sys\nfrom tap2pkg.cli import tap2pkg_main\ncode = "
            "tap2pkg_main(sys.argv[1:])\nprint(resource.getrusage(resource.RUSAGE_SELF)"
            ".ru_maxrss * 1024)\nsys.exit(code)")
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True,
                          text=True, timeout=seconds, preexec_fn=limit, check=False)
    peak = int(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else 0
    return proc, peak


def patch_rpm_header(rpm: bytes, entries: int | None = None, size: int | None = None
                     ) -> bytes:
    """A real .rpm with its main header's entry count or data size replaced."""
    sig_entries, sig_size = struct.unpack(">II", rpm[104:112])
    length = 16 + 16 * sig_entries + sig_size
    start = 96 + length + (-length) % 8
    assert rpm[start:start + 4] == b"\x8e\xad\xe8\x01"
    old_entries, old_size = struct.unpack(">II", rpm[start + 8:start + 16])
    new = struct.pack(">II", old_entries if entries is None else entries,
                      old_size if size is None else size)
    return rpm[:start + 8] + new + rpm[start + 16:]


def rpm_payload_offset(rpm: bytes) -> int:
    offset = 96
    for padded in (True, False):
        entries, size = struct.unpack(">II", rpm[offset + 8:offset + 16])
        length = 16 + 16 * entries + size
        offset += length + ((-length) % 8 if padded else 0)
    return offset


def cpio_header(name: str, size: int, mode: int = 0o100644) -> bytes:
    encoded = name.encode() + b"\0"
    fields = [1, mode, 0, 0, 1, 0, size, 0, 0, 0, 0, len(encoded), 0]
    header = b"070701" + b"".join(f"{f:08x}".encode() for f in fields) + encoded
    return header + b"\0" * (-len(header) % 4)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path

"""`tap2pkg inspect` of packages made to hurt (issue 10 items 5 and 8): decompression
bombs, absurd header sizes, and file names and fields full of terminal escapes.  Each
bomb runs in a child process limited to 1 GiB of address space: it must end with exit 1
and one line, within the timeout, and its peak memory is measured."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import tarfile
import threading
from pathlib import Path

import pytest

from tap2pkg.archive import rpm_header
from tap2pkg.cli import tap2pkg_main, tap2rpm_main
from tap2pkg.limits import MAX_DECOMPRESSED_BYTES, MIB, Deadline
from tests.bombs import (
    CONTROL,
    ar,
    cpio_header,
    deb,
    gzip_zeros,
    patch_rpm_header,
    rpm_payload_offset,
    run_bounded,
    tar,
    tar_header,
    write,
    xz_zeros,
)
from tests.conftest import FIXTURES, require_tool

GIB = 1 << 30
# Python itself, click and python-debian take about 60 MiB; the readers add what they
# hold at once (a MiB of decompressed data, the header store).
PEAK = 400 * MIB


def refused_in_one_line(path: Path, *needles: str) -> int:
    proc, peak = run_bounded(["inspect", str(path)], memory=GIB, seconds=60)
    err = proc.stderr
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert f"{path}: cannot read it as a" in err
    for needle in needles:
        assert needle in err, err
    assert peak < PEAK, f"peak {peak // MIB} MiB"
    return peak


def zstd_zeros(prefix: bytes, mib: int) -> bytes:
    """prefix + ``mib`` MiB of zeros through the zstd tool (about a second a GiB)."""
    require_tool("zstd")
    zstd = subprocess.Popen(["zstd", "-q", "-1", "-c"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    assert zstd.stdin is not None and zstd.stdout is not None
    out: list[bytes] = []
    reader = threading.Thread(target=lambda: out.append(zstd.stdout.read()))  # type: ignore[union-attr]
    reader.start()
    zstd.stdin.write(prefix)
    for _ in range(mib):
        zstd.stdin.write(b"\0" * MIB)
    zstd.stdin.close()
    reader.join()
    zstd.stdout.close()
    assert zstd.wait() == 0
    return out[0]


@pytest.mark.parametrize("compression", ["xz", "gz", "zst"])
def test_deb_data_tar_bomb(tmp_path: Path, compression: str) -> None:
    """data.tar.xz of 900 KB that expands to 4 GiB (one file of zeros); gzip likewise;
    zstd (which tap2pkg reads with the zstd tool) with 512 MiB."""
    member = tar_header("./usr/share/zeros", 4 * GIB)
    make = {"xz": xz_zeros, "gz": gzip_zeros}.get(compression)
    data = make(member, 4096) if make else zstd_zeros(member, 512)
    assert len(data) < 5 * MIB
    path = write(tmp_path / "bomb.deb", deb(f"data.tar.{compression}", data))
    refused_in_one_line(path, f"expands to more than {MAX_DECOMPRESSED_BYTES // MIB} MiB")


def test_deb_control_tar_bomb(tmp_path: Path) -> None:
    control = xz_zeros(tar_header("./md5sums", GIB), 1024)
    path = write(tmp_path / "bomb.deb", ar([("debian-binary", b"2.0\n"),
                                            ("control.tar.xz", control),
                                            ("data.tar.xz", xz_zeros(b"", 0))]))
    refused_in_one_line(path, "expands to more than")


@pytest.mark.parametrize("size", [10**9, 9_999_999_999])
def test_deb_ar_member_larger_than_the_file(tmp_path: Path, size: int) -> None:
    members = [("debian-binary", b"2.0\n"), ("control.tar.gz", b"x" * 10)]
    path = write(tmp_path / "huge.deb", ar(members, {"control.tar.gz": size}))
    refused_in_one_line(path, "an ar member is larger than the file")


@pytest.fixture(scope="module")
def real_rpm(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    require_tool("rpmbuild")
    out = tmp_path_factory.mktemp("rpm")
    assert tap2rpm_main(["-t", str(FIXTURES / "echo.tac"), "-o", str(out), "-q"]) == 0
    return (out / "twisted-echo-1.0-1.noarch.rpm").read_bytes()


@pytest.mark.parametrize(("entries", "size"), [(0xFFFFFFFF, None), (None, 0xFFFFFFF0),
                                               (100_000, None)])
def test_rpm_huge_header(tmp_path: Path, real_rpm: bytes, entries: int | None,
                         size: int | None) -> None:
    path = write(tmp_path / "huge.rpm", patch_rpm_header(real_rpm, entries, size))
    refused_in_one_line(path, "larger than any real package's")


def test_rpm_header_offsets_outside(tmp_path: Path, real_rpm: bytes) -> None:
    entry = _main_header(real_rpm) + 16  # the first index entry: its offset field
    damaged = real_rpm[:entry + 8] + struct.pack(">I", 0x7FFFFFFF) + real_rpm[entry + 12:]
    path = write(tmp_path / "offsets.rpm", damaged)
    refused_in_one_line(path, "points outside the header")


def test_rpm_payload_bomb(tmp_path: Path, real_rpm: bytes) -> None:
    """The payload replaced by 4 GiB of zeros in one cpio entry, before the app file."""
    start = rpm_payload_offset(real_rpm)
    tags, _ = rpm_header(io.BytesIO(real_rpm[_main_header(real_rpm):]))
    compressor = tags.get(1125, "gzip")
    entry = cpio_header("./etc/aaa", 0xFFFFFFFF)
    payload = xz_zeros(entry, 4096) if compressor == "xz" else gzip_zeros(entry, 4096)
    path = write(tmp_path / "bomb.rpm", real_rpm[:start] + payload)
    refused_in_one_line(path, "expands to more than")


def _main_header(rpm: bytes) -> int:
    sig_entries, sig_size = struct.unpack(">II", rpm[104:112])
    length = 16 + 16 * sig_entries + sig_size
    return 96 + length + (-length) % 8


# ---- item 8: what inspect shows ----

ESCAPES = {
    "./etc/\x1b]0;owned\x07": "/etc/\\x1b]0;owned\\x07",
    "./usr/a\u2028b": "/usr/a\\u2028b",
    "./usr/c\rd": "/usr/c\\x0dd",
    "./usr/\u202eexe.txt": "/usr/\\u202eexe.txt",
}


def weird_deb(tmp_path: Path) -> Path:
    entries = []
    for name in ESCAPES:
        entries.append(tarfile.TarInfo(name))
    link = tarfile.TarInfo("./usr/link")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/shadow"
    hard = tarfile.TarInfo("./usr/hard")
    hard.type, hard.linkname = tarfile.LNKTYPE, "./usr/a\u2028b"
    device = tarfile.TarInfo("./dev/sda")
    device.type, device.devmajor, device.devminor = tarfile.BLKTYPE, 8, 0
    null = tarfile.TarInfo("./dev/null")
    null.type, null.devmajor, null.devminor = tarfile.CHRTYPE, 1, 3
    fifo = tarfile.TarInfo("./run/fifo")
    fifo.type = tarfile.FIFOTYPE
    entries += [link, hard, device, null, fifo]
    data = tar(entries, {e.name: b"x" for e in entries if e.type == tarfile.REGTYPE})
    control = CONTROL.replace(b"Description: x", b"Description: \x1b[2J\x1b[31mred\xc2\x85blue")
    return write(tmp_path / "weird.deb", deb("data.tar", data, control))


def test_inspect_escapes_and_names_entry_types(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = weird_deb(tmp_path)
    assert tap2pkg_main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u2028" not in out and "\r" not in out
    assert "\x85" not in out and "\u202e" not in out
    lines = out.splitlines()
    assert len(lines) == len(out.split("\n")) - 1  # Python and a terminal agree
    assert "summary:       \\x1b[2J\\x1b[31mred\\x85blue" in out
    for shown in ESCAPES.values():
        assert f"  {shown} 0o644 : file" in out
    assert "  /usr/link 0o644 : symlink -> /etc/shadow" in out
    assert "  /usr/hard 0o644 : hardlink -> /usr/a\\u2028b" in out
    assert "  /dev/sda 0o644 : block device 8,0" in out
    assert "  /dev/null 0o644 : char device 1,3" in out
    assert "  /run/fifo 0o644 : fifo" in out


def test_inspect_json_is_escaped_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert tap2pkg_main(["inspect", str(weird_deb(tmp_path)), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    types = {f["path"]: f["type"] for f in report["files"]}
    assert types["/usr/link"] == "symlink -> /etc/shadow"
    assert "/etc/\\x1b]0;owned\\x07" in types


def test_inspect_appfile_escapes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = tmp_path / "esc.tac"
    app.write_text("from twisted.application import service\n"
                   "application = service.Application('\\x1b[2Jname\\u2028x')\n")
    assert tap2pkg_main(["inspect", str(app)]) == 0
    out = capsys.readouterr().out
    assert "application:   \\x1b[2Jname\\u2028x" in out
    assert "\x1b" not in out and "\u2028" not in out


def test_inspect_clock_is_the_last_guard(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Deadline.__init__, "__defaults__", (0.0,))
    path = weird_deb(tmp_path)
    assert tap2pkg_main(["inspect", str(path)]) == 1
    err = capsys.readouterr().err
    assert err == f"tap2pkg: error: {path}: cannot read it as a .deb: took more than 0 " \
                  "seconds to read\n"


@pytest.mark.parametrize("name", ["fifo.deb", "fifo.rpm"])
def test_inspect_a_fifo(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    """Opened without waiting for a writer, then refused: never blocks."""
    fifo = tmp_path / name
    os.mkfifo(fifo)
    assert tap2pkg_main(["inspect", str(fifo)]) == 1
    assert capsys.readouterr().err == f"tap2pkg: error: {fifo}: not a regular file\n"

"""Issue 10 items 7 and 8 through the real command line: values that used to end in a
traceback (or in a field dpkg reads differently from Python) get one line and exit 2,
a full disk gets one line and exit 1, and nothing half-written is left behind."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tap2pkg.cli import tap2deb_main, tap2pkg_main, tap2rpm_main
from tests.conftest import FIXTURES, MAINTAINER, require_tool

MAINS = pytest.mark.parametrize("main", [tap2deb_main, tap2rpm_main],
                                ids=["tap2deb", "tap2rpm"])


def one_line_error(capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    return err


def files_in(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if not p.is_dir()] if path.exists() else []


# ---- item 7 ----

@MAINS
@pytest.mark.parametrize(
    ("suffix", "text"),
    [
        (".tac", "from twisted.application import service, internet\n"
                 "application = service.Application('big', uid=0x{hex})\n"
                 "internet.TCPServer(0x{hex}, None).setServiceParent(application)\n"),
        (".tac", "application = {dec}\n"),
        (".tas", "app = Deref(0x{hex})\n"),
        (".tas", "app = Instance('twisted.application.internet.TCPServer', "
                 "args=(0x{hex}, None))\n"),
    ],
)
def test_integers_over_4300_digits(main: Callable[[list[str]], int], tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str], suffix: str,
                                   text: str) -> None:
    app = tmp_path / f"big{suffix}"
    app.write_text(text.format(hex="f" * 5000, dec="9" * 5000))
    out = tmp_path / "out"
    code = main(["-t", str(app), "-m", MAINTAINER, "-o", str(out), "-q"])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if code != 0:  # refused, or built without the absurd values: never a traceback
        assert code == 2
        assert len(err.strip().splitlines()) == 1
        assert app.name in err
    assert tap2pkg_main(["inspect", str(app)]) in (0, 2)
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "key"),
    [("-m", "--maintainer"), ("-e", "--description"), ("-l", "--long_description"),
     ("-p", "--protocol"), ("-o", "--output-dir"), ("--license", "--license"),
     ("--user", "--user"), ("-V", "--set-version")],
)
def test_non_utf8_bytes_in_an_option(tmp_path: Path, option: str, key: str) -> None:
    """Real argv bytes, through a real process: Python hands them over surrogate-escaped."""
    args = {"-m": MAINTAINER}
    value = b"caf\xe9 <x@example.org>" if option == "-m" else b"\xff\xfe" + b"x"
    argv = [b"-t", str(FIXTURES / "echo.tac").encode(), b"-o", str(tmp_path / "o").encode()]
    argv += [b"-m", args["-m"].encode()] if option != "-m" else []
    if option == "-o":
        argv = argv[:2] + argv[4:]
    argv += [option.encode(), value]
    code = ("import sys\nfrom tap2pkg.cli import tap2deb_main\n"
            "sys.exit(tap2deb_main(sys.argv[1:]))")
    proc = subprocess.run([sys.executable.encode(), b"-c", code.encode(), *argv],
                          capture_output=True, check=False)
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 2, err
    assert err.strip() == f"tap2deb: error: {key}: is not valid UTF-8", err
    assert files_in(tmp_path / "o") == []
    assert not list(tmp_path.glob("\udcff*"))


@pytest.mark.parametrize("encoding", ["UTF-7", "Shift_JIS", "EUC-JP", "x-unknown", "cp932"])
def test_tax_declaring_a_multibyte_encoding(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            encoding: str) -> None:
    app = tmp_path / "enc.tax"
    app.write_bytes(f'<?xml version="1.0" encoding="{encoding}"?>\n<none/>'.encode())
    assert tap2deb_main(["-t", str(app), "-m", MAINTAINER, "-o", str(tmp_path / "o")]) == 2
    one_line_error(capsys, "enc.tax: line 1: the file declares encoding=",
                   "only UTF-8, UTF-16, US-ASCII and ISO-8859-1 are read")
    assert tap2pkg_main(["inspect", str(app)]) == 2
    one_line_error(capsys, "enc.tax")


@MAINS
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("²", "'²' is not a number of seconds"),
        ("\u0661\u0667" + "\u0660" * 8, "is not a number of seconds"),  # Arabic-Indic
        ("-1", "'-1' is not a number of seconds"),
        (" 1700000000", "is not a number of seconds"),
        ("253402300800", "253402300800 is after the year 9999"),
        (str(2**63), "is not a number of seconds"),
        ("9" * 5000, "is not a number of seconds"),
    ],
)
def test_source_date_epoch_out_of_range(main: Callable[[list[str]], int], tmp_path: Path, *,
                                        capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch, value: str,
                                        message: str) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", value)
    out = tmp_path / "out"
    assert main(["-t", str(FIXTURES / "echo.tac"), "-m", MAINTAINER, "-o", str(out)]) == 2
    one_line_error(capsys, "SOURCE_DATE_EPOCH: ", message)
    assert files_in(out) == []


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs (root only): a disk that fills up during the build."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_full_disk_deb(tiny_disk: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require_tool("dpkg-deb")
    out = tiny_disk / "out"
    assert tap2deb_main(["-t", str(FIXTURES / "echo.tac"), "-m", MAINTAINER,
                         "-o", str(out)]) == 1
    one_line_error(capsys, "No space left on device")
    assert files_in(out) == []  # no half-written .deb, .dsc or tarball


def test_full_disk_convert(tiny_disk: Path, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    filler = os.open(tiny_disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(filler, b"\0" * 4096):  # fill the disk up, until ENOSPC
            pass
    except OSError:
        pass
    finally:
        os.close(filler)
    target = tiny_disk / "echoxml.tas"
    assert tap2pkg_main(["convert", str(FIXTURES / "echoxml.tax"), "-o", str(target)]) == 1
    one_line_error(capsys, f"cannot write {target}: No space left on device")
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["filler"]


def test_convert_never_replaces_a_device(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """Renaming over /dev/full would replace the device node itself (as root)."""
    fifo = tmp_path / "fifo.tas"
    os.mkfifo(fifo)
    for target in (Path("/dev/full"), fifo):
        before = target.lstat()
        argv = ["convert", str(FIXTURES / "echoxml.tax"), "-o", str(target), "--force"]
        assert tap2pkg_main(argv) == 2
        one_line_error(capsys, f"--output: {target} exists and is not a regular file")
        after = target.lstat()
        assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)
    assert stat.S_ISCHR(Path("/dev/full").lstat().st_mode)


def test_fifo_instead_of_the_app_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "app.tac"
    os.mkfifo(fifo)
    assert tap2deb_main(["-t", str(fifo), "-m", MAINTAINER, "-o", str(tmp_path / "o")]) == 2
    one_line_error(capsys, "app.tac: not a regular file")


def test_fifo_swapped_in_after_the_check(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The race: stat() saw a regular file, then a FIFO took its place.  open() must not
    wait for a writer (O_NONBLOCK) and what it opened is checked again (fstat)."""
    fifo = tmp_path / "app.tac"
    os.mkfifo(fifo)
    regular = (FIXTURES / "echo.tac").stat()
    real_stat = Path.stat

    def stat_before_the_swap(self: Path, **kwargs: bool) -> os.stat_result:
        return regular if self == fifo else real_stat(self, **kwargs)

    monkeypatch.setattr(Path, "stat", stat_before_the_swap)
    assert tap2deb_main(["-t", str(fifo), "-m", MAINTAINER, "-o", str(tmp_path / "o")]) == 2
    one_line_error(capsys, "app.tac: not a regular file")


# ---- item 8 ----

LINE_BREAKERS = ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\r",
                 "\u202e", "\ufeff", "\x00"]


@MAINS
@pytest.mark.parametrize("char", LINE_BREAKERS, ids=[f"U+{ord(c):04X}" for c in LINE_BREAKERS])
@pytest.mark.parametrize(
    ("option", "key"),
    [("-m", "--maintainer"), ("-e", "--description"), ("-l", "--long_description"),
     ("-p", "--protocol"), ("--license", "--license")],
)
def test_line_breakers_in_fields(main: Callable[[list[str]], int], tmp_path: Path, *,
                                 capsys: pytest.CaptureFixture[str], char: str, option: str,
                                 key: str) -> None:
    value = f"Jane{char}Depends: evil <jane@example.org>" if option == "-m" else f"a{char}b"
    argv = ["-t", str(FIXTURES / "echo.tac"), "-o", str(tmp_path / "o")]
    argv += ["-m", MAINTAINER] if option != "-m" else []
    assert main([*argv, option, value]) == 2
    one_line_error(capsys, f"{key}: must be one line without control characters "
                           f"(found U+{ord(char):04X})")
    assert files_in(tmp_path / "o") == []


@pytest.mark.parametrize(
    ("option", "value", "key"),
    [
        ("-m", "Jane ${Newline}Depends: evil <jane@example.org>", "--maintainer"),
        ("-e", "Echo ${Newline} server", "--description"),
        ("-l", "First line\nthen ${Newline}Depends: evil", "--long_description"),
        ("-p", "x${misc:Depends}", "--protocol"),
        ("--license", "MIT ${source:Version}", "--license"),
    ],
)
def test_substitution_variables_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        option: str, value: str, key: str) -> None:
    argv = ["-t", str(FIXTURES / "echo.tac"), "-o", str(tmp_path / "o")]
    argv += ["-m", MAINTAINER] if option != "-m" else []
    assert tap2deb_main([*argv, option, value]) == 2
    one_line_error(capsys, f"{key}: must not contain '${{': dpkg-gencontrol would expand it")


def test_warnings_quoting_the_app_file_are_escaped(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    app = tmp_path / "esc.tap"
    app.write_bytes(b"\x80\x04\x8c\x09twisted.x\x8c\x08A\x1b[2J\xe2\x80\xa8\x93)\x81.")
    tap2deb_main(["-t", str(app), "-m", MAINTAINER, "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert "the file holds a twisted.x.A\\x1b[2J\\u2028, not a twisted Application" in err
    assert "\x1b" not in err and "\u2028" not in err


@MAINS
def test_a_long_file_name_names_the_derived_description(
        main: Callable[[list[str]], int], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A long application file name (no -p, no -e) makes a synopsis over 79 characters:
    the error blames the name it was derived from and says what to pass, not the
    --description the user never gave."""
    app = tmp_path / f"{'organized-finger-' * 4}service.tac"
    app.write_bytes((FIXTURES / "echo.tac").read_bytes())
    out = tmp_path / "out"
    name = ["--debfile" if main is tap2deb_main else "--rpmfile", "tw-long"]
    assert main(["-t", str(app), "-m", MAINTAINER, *name, "-o", str(out)]) == 2
    one_line_error(capsys, "--protocol: the description derived from it is ",
                   "pass --description")
    assert files_in(out) == []
    assert main(["-t", str(app), "-m", MAINTAINER, *name, "-o", str(out), "-q",
                 "-e", "Finger service"]) == 0

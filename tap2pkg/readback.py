"""Read a built package back (tap2pkg inspect PACKAGE): its fields, conffiles, files with
modes, owners and types (a symlink's or hardlink's target, a device's numbers),
maintainer scripts, and the application file inside it, read with the same static
loaders (nothing in the package is run).

The package may come from anywhere: tap2pkg.archive reads it within tap2pkg.limits,
and every text taken from it is shown with control characters escaped (printable()),
so a file name cannot rewrite the terminal or fake a line of the report.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, cast

from tap2pkg.archive import (
    ArchiveError,
    BoundedStream,
    OutOfTimeError,
    Window,
    ar_members,
    cpio_entries,
    rpm_header,
)
from tap2pkg.errors import AppFileError, Tap2pkgError
from tap2pkg.limits import (
    MAX_APPFILE_BYTES,
    MAX_CONTROL_BYTES,
    MAX_DECOMPRESSED_BYTES,
    MAX_PACKAGE_BYTES,
    MAX_PACKAGE_FILES,
)
from tap2pkg.model import AppInfo
from tap2pkg.validate import printable

APP_SUFFIXES = (".tac", ".py", ".tap", ".tas")
# RPMFILE_* flags, from rpm's rpmfiles.h.
_RPM_FLAGS = {1 << 0: "config", 1 << 1: "doc", 1 << 4: "noreplace", 1 << 6: "ghost"}
# rpm header tags (rpmtag.h).
_TAGS = {
    "name": 1000, "version": 1001, "release": 1002, "summary": 1004, "license": 1014,
    "packager": 1015, "arch": 1022, "prein": 1023, "postin": 1024, "preun": 1025,
    "postun": 1026, "filemodes": 1030, "filerdevs": 1033, "filelinktos": 1036,
    "fileflags": 1037, "fileusername": 1039, "filegroupname": 1040, "requirename": 1049,
    "filedevices": 1095, "fileinodes": 1096, "dirindexes": 1116, "basenames": 1117,
    "dirnames": 1118, "payloadcompressor": 1125,
}
_RPM_SCRIPTLETS = {"prein": "%pre", "postin": "%post", "preun": "%preun", "postun": "%postun"}
_DEB_SCRIPTS = ("preinst", "postinst", "prerm", "postrm", "config", "triggers")
def shown(value: Any) -> Any:
    """printable() applied to every string in a report (dict keys included)."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {shown(k): shown(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [shown(v) for v in value]
    return value


def shown_report(report: dict[str, Any]) -> dict[str, Any]:
    return {printable(k): shown(v) for k, v in report.items()}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return printable(text[0][:200]) if text else type(exc).__name__


def app_report(info: AppInfo) -> dict[str, Any]:
    """What the static loader read from an application file, for inspect."""
    return {"kind": info.kind.value, "twistd_option": f"--{info.twistd_option}",
            "application": info.app_name, "uid": info.uid, "gid": info.gid,
            "endpoints": list(info.endpoints), "imports": list(info.imports),
            "warnings": list(info.warnings)}


def _app(files: dict[str, bytes]) -> dict[str, Any] | None:
    """What the static loader reads from the application file under /etc/<pkg>/."""
    from tap2pkg.appfile import read_bytes_as  # noqa: PLC0415

    for path, content in sorted(files.items()):
        try:
            info = read_bytes_as(Path(path).name, content)
        except AppFileError as exc:
            return {"file": path, "error": str(exc)}
        report = app_report(info)
        return {"file": path, "kind": report["kind"], "application": report["application"],
                "endpoints": report["endpoints"], "imports": report["imports"]}
    return None


def _is_app(path: str) -> bool:
    return path.startswith("/etc/") and path.endswith(APP_SUFFIXES) and path.count("/") == 3


def _entry_type(member: tarfile.TarInfo) -> str:
    if member.isdir():
        return "dir"
    if member.issym():
        return f"symlink -> {member.linkname}"
    if member.islnk():
        return f"hardlink -> /{member.linkname.removeprefix('.').lstrip('/')}"
    if member.ischr() or member.isblk():
        kind = "char device" if member.ischr() else "block device"
        return f"{kind} {member.devmajor},{member.devminor}"
    if member.isfifo():
        return "fifo"
    return "file" if member.isfile() else "other"


@contextlib.contextmanager
def _tar_stream(stream: IO[bytes], member_name: str, size: int, offset: int,
                limit: int = MAX_DECOMPRESSED_BYTES) -> Iterator[tarfile.TarFile]:
    """A .deb's tar member, read as a stream within ``limit`` decompressed bytes (the
    zstd tool, when it is one, is stopped on the way out)."""
    compression = member_name.rpartition(".")[2] if "." in member_name else ""
    bounded = BoundedStream(Window(stream, offset, size), compression, limit)
    try:
        with tarfile.open(fileobj=cast(IO[bytes], bounded), mode="r|") as archive:
            yield archive
    finally:
        bounded.close()


def _deb_control(stream: IO[bytes], name: str, size: int, offset: int
                 ) -> tuple[dict[str, bytes], list[str]]:
    texts: dict[str, bytes] = {}
    scripts: list[str] = []
    with _tar_stream(stream, name, size, offset, 4 * MAX_CONTROL_BYTES) as archive:
        for member in archive:
            base = member.name.removeprefix("./")
            if base in _DEB_SCRIPTS:
                scripts.append(base)
            if base in ("control", "conffiles") and member.isfile():
                if member.size > MAX_CONTROL_BYTES:
                    raise ArchiveError(f"its {base} file is larger than any real package's")
                extracted = archive.extractfile(member)
                texts[base] = extracted.read() if extracted is not None else b""
    return texts, sorted(scripts, key=_DEB_SCRIPTS.index)


def _deb_data(stream: IO[bytes], name: str, size: int, offset: int
              ) -> tuple[list[dict[str, str]], dict[str, bytes]]:
    files: list[dict[str, str]] = []
    contents: dict[str, bytes] = {}
    with _tar_stream(stream, name, size, offset) as archive:
        for member in archive:
            if len(files) >= MAX_PACKAGE_FILES:
                raise ArchiveError(f"more than {MAX_PACKAGE_FILES} files")
            path = "/" + member.name.removeprefix(".").lstrip("/").rstrip("/")
            files.append({"path": path, "mode": oct(stat.S_IMODE(member.mode)),
                          "owner": f"{member.uname}:{member.gname}",
                          "type": _entry_type(member)})
            if member.isfile() and _is_app(path) and member.size <= MAX_APPFILE_BYTES:
                extracted = archive.extractfile(member)
                if extracted is not None:
                    contents[path] = extracted.read()
    return files, contents


def _deb_parts(stream: IO[bytes], size: int
               ) -> tuple[dict[str, bytes], list[str], list[dict[str, str]], dict[str, bytes]]:
    members = {m.name: m for m in ar_members(stream, size)}
    control_name = next((n for n in members if n.startswith("control.tar")), None)
    data_name = next((n for n in members if n.startswith("data.tar")), None)
    if control_name is None or data_name is None:
        raise ArchiveError("no control.tar or data.tar member")
    ctrl, data = members[control_name], members[data_name]
    texts, scripts = _deb_control(stream, control_name, ctrl.size, ctrl.offset)
    files, contents = _deb_data(stream, data_name, data.size, data.offset)
    return texts, scripts, files, contents


def control_fields(text: str) -> dict[str, str]:
    """The first paragraph of a control file, split as dpkg does: at "\n" only (Python's
    splitlines() would also split at U+0085, U+2028 and others: another reading)."""
    fields: dict[str, str] = {}
    name = None
    for line in text.split("\n"):
        if not line.strip(" \t"):
            if fields:
                break
            continue
        if line[0] in " \t" and name is not None:
            fields[name] += "\n" + line[1:]
        elif ":" in line:
            name, _, value = line.partition(":")
            fields[name] = value.strip(" \t")
    return fields


def read_deb(path: Path) -> dict[str, Any]:
    try:
        with _open_package(path) as stream:
            texts, scripts, files, contents = _deb_parts(stream, os.fstat(stream.fileno()).st_size)
        control = control_fields(texts.get("control", b"").decode("utf-8", "replace"))
    except (ArchiveError, OutOfTimeError, tarfile.TarError, OSError, EOFError,
            ValueError) as exc:
        raise Tap2pkgError(f"{path}: cannot read it as a .deb: {_first_line(exc)}") from None
    return shown_report({
        "package": path.name,
        "format": "deb",
        "fields": {k: control[k] for k in ("Package", "Version", "Architecture", "Maintainer",
                                           "Pre-Depends", "Depends") if k in control},
        "summary": control.get("Description", "").split("\n", 1)[0],
        "conffiles": texts.get("conffiles", b"").decode("utf-8", "replace").split(),
        "scripts": scripts,
        "files": files,
        "app": _app(contents),
    })


def _rpm_type(mode: int, link: str, rdev: int, hardlink: str | None) -> str:
    if hardlink is not None:
        return f"hardlink -> {hardlink}"
    kinds = {stat.S_IFDIR: "dir", stat.S_IFLNK: f"symlink -> {link}", stat.S_IFIFO: "fifo",
             stat.S_IFSOCK: "socket", stat.S_IFREG: "file"}
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        kind = "char device" if stat.S_ISCHR(mode) else "block device"
        return f"{kind} {rdev >> 8 & 0xFF},{rdev & 0xFF}"  # rpm keeps 16 bits of it
    return kinds.get(stat.S_IFMT(mode), "other")


def _column(tags: dict[int, Any], name: str, count: int, default: Any) -> list[Any]:
    value = tags.get(_TAGS[name])
    if value is None:
        return [default] * count
    if not isinstance(value, list) or len(value) != count:
        raise ArchiveError(f"rpm header: {name} does not list every file")
    return value


def _rpm_files(tags: dict[int, Any]) -> list[dict[str, str]]:
    bases = tags.get(_TAGS["basenames"]) or []
    dirs = tags.get(_TAGS["dirnames"]) or []
    count = len(bases)
    indexes = _column(tags, "dirindexes", count, 0)
    if any(not 0 <= i < len(dirs) for i in indexes):
        raise ArchiveError("rpm header: a file's directory index is out of range")
    modes = _column(tags, "filemodes", count, 0)
    flags = _column(tags, "fileflags", count, 0)
    users = _column(tags, "fileusername", count, "")
    groups = _column(tags, "filegroupname", count, "")
    links = _column(tags, "filelinktos", count, "")
    rdevs = _column(tags, "filerdevs", count, 0)
    inodes = list(zip(_column(tags, "filedevices", count, 0),
                      _column(tags, "fileinodes", count, 0), strict=True))
    first: dict[tuple[int, int], str] = {}
    files = []
    for i, base in enumerate(bases):
        path = dirs[indexes[i]] + base
        mode = modes[i]
        hardlink = None
        if stat.S_ISREG(mode) and inodes[i] != (0, 0):
            hardlink = first.get(inodes[i])
            first.setdefault(inodes[i], path)
        files.append({"path": path, "mode": oct(stat.S_IMODE(mode)),
                      "owner": f"{users[i]}:{groups[i]}",
                      "type": _rpm_type(mode, links[i], rdevs[i], hardlink),
                      "flags": ",".join(n for bit, n in _RPM_FLAGS.items() if flags[i] & bit)})
    return files


def _rpm_text(tags: dict[int, Any], name: str) -> str:
    value = tags.get(_TAGS[name], "")
    if isinstance(value, list):
        value = value[0] if value and isinstance(value[0], str) else ""
    return value if isinstance(value, str) else ""


def _rpm_parts(stream: IO[bytes]
               ) -> tuple[dict[int, Any], list[dict[str, str]], dict[str, bytes]]:
    if stream.read(4) != b"\xed\xab\xee\xdb":
        raise ArchiveError("not an rpm (bad lead)")
    stream.seek(96)
    _, length = rpm_header(stream)  # the signature header, padded to 8 bytes
    stream.seek(96 + length + (-length) % 8)
    tags, _ = rpm_header(stream)
    files = _rpm_files(tags)
    wanted = {f["path"] for f in files
              if _is_app(f["path"]) and f["type"] == "file" and "ghost" not in f["flags"]}
    contents: dict[str, bytes] = {}
    if wanted:
        payload = BoundedStream(stream, _rpm_text(tags, "payloadcompressor") or "gzip")
        try:
            for entry, content in cpio_entries(payload, wanted):
                if entry.name in wanted:
                    contents[entry.name] = content
        finally:
            payload.close()
    return tags, files, contents


def read_rpm(path: Path) -> dict[str, Any]:
    try:
        with _open_package(path) as stream:
            tags, files, contents = _rpm_parts(stream)
    except (ArchiveError, OutOfTimeError, OSError, EOFError, ValueError,
            UnicodeError) as exc:
        raise Tap2pkgError(f"{path}: cannot read it as an .rpm: {_first_line(exc)}") from None
    field = {name: _rpm_text(tags, name)
             for name in ("name", "version", "release", "arch", "packager", "license")}
    requires = tags.get(_TAGS["requirename"]) or []
    return shown_report({
        "package": path.name,
        "format": "rpm",
        "fields": field,
        "summary": _rpm_text(tags, "summary"),
        "conffiles": [f["path"] for f in files if "config" in f["flags"]],
        "requires": list(dict.fromkeys(r for r in requires if isinstance(r, str)
                                       and not r.startswith(("rpmlib(", "config(")))),
        "scripts": [name for tag, name in _RPM_SCRIPTLETS.items() if _TAGS[tag] in tags],
        "files": files,
        "app": _app(contents),
    })


def _open_package(path: Path) -> IO[bytes]:
    """The package, opened without waiting (a FIFO swapped in would block open()) and
    checked once open: a regular file, within MAX_PACKAGE_BYTES."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise Tap2pkgError(f"{path}: no such file") from None
    except OSError as exc:
        raise Tap2pkgError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    stream = os.fdopen(fd, "rb")
    info = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(info.st_mode):
        problem = "not a regular file"
    elif info.st_size > MAX_PACKAGE_BYTES:
        problem = f"larger than {MAX_PACKAGE_BYTES // (1024 * 1024)} MiB: refusing to read it"
    if problem is not None:
        stream.close()
        raise Tap2pkgError(f"{path}: {problem}")
    return stream


def read_package(path: Path) -> dict[str, Any]:
    return read_deb(path) if path.suffix == ".deb" else read_rpm(path)

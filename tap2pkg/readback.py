"""Read a built package back (tap2pkg inspect PACKAGE): its fields, conffiles, files with
modes and owners, maintainer scripts, and the application file inside it, read with the
same static loaders (nothing in the package is run)."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

from tap2pkg.errors import AppFileError, Tap2pkgError

APP_SUFFIXES = (".tac", ".py", ".tap", ".tas")
# RPMFILE_* flags, from rpm's rpmfiles.h.
_RPM_FLAGS = {1 << 0: "config", 1 << 1: "doc", 1 << 4: "noreplace", 1 << 6: "ghost"}
_RPM_SCRIPTLETS = {"prein": "%pre", "postin": "%post", "preun": "%preun", "postun": "%postun"}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _app(files: dict[str, bytes]) -> dict[str, Any] | None:
    """What the static loader reads from the application file under /etc/<pkg>/."""
    from tap2pkg.appfile import read_bytes_as  # noqa: PLC0415

    for path, content in sorted(files.items()):
        if path.startswith("/etc/") and path.endswith(APP_SUFFIXES) and path.count("/") == 3:
            try:
                info = read_bytes_as(Path(path).name, content)
            except AppFileError as exc:
                return {"file": path, "error": str(exc)}
            return {"file": path, "kind": info.kind.value, "application": info.app_name,
                    "endpoints": list(info.endpoints)}
    return None


def read_deb(path: Path) -> dict[str, Any]:
    from debian.debfile import DebFile  # noqa: PLC0415

    try:
        with DebFile(str(path)) as deb:
            control = deb.debcontrol()
            conffiles = (deb.control.get_content("conffiles", encoding="utf-8") or "").split()
            scripts = [n for n in ("preinst", "postinst", "prerm", "postrm")
                       if n in deb.control]
            files = []
            contents: dict[str, bytes] = {}
            archive = deb.data.tgz()
            for member in archive.getmembers():
                name = "/" + member.name.removeprefix(".").lstrip("/").rstrip("/")
                files.append({"path": name, "mode": oct(stat.S_IMODE(member.mode)),
                              "owner": f"{member.uname}:{member.gname}",
                              "type": "dir" if member.isdir() else "file"})
                if member.isfile() and name.startswith("/etc/"):
                    stream = archive.extractfile(member)
                    if stream is not None:
                        contents[name] = stream.read()
    except Exception as exc:  # python-debian and tarfile fail anywhere on a damaged file
        raise Tap2pkgError(f"{path}: cannot read it as a .deb: {_first_line(exc)}") from None
    return {
        "package": path.name,
        "format": "deb",
        "fields": {k: control[k] for k in ("Package", "Version", "Architecture", "Maintainer",
                                           "Pre-Depends", "Depends") if k in control},
        "summary": control.get("Description", "").split("\n", 1)[0],
        "conffiles": conffiles,
        "scripts": scripts,
        "files": files,
        "app": _app(contents),
    }


def _texts(headers: dict[str, Any], tag: str) -> list[str]:
    value = headers.get(tag, [])
    if not isinstance(value, list | tuple):
        value = [value]
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in value]


def read_rpm(path: Path) -> dict[str, Any]:
    import rpmfile  # noqa: PLC0415 - lazy: only inspect needs it

    try:
        # Our own handle: rpmfile leaks the one it opens when the header is damaged.
        with path.open("rb") as stream, rpmfile.open(fileobj=stream) as rpm:
            headers = {k: v for k, v in rpm.headers.items() if isinstance(k, str)}
            dirs = _texts(headers, "dirnames")
            indexes = [int(i) for i in _texts(headers, "dirindexes")]
            paths = [dirs[i] + base
                     for base, i in zip(_texts(headers, "basenames"), indexes, strict=True)]
            modes = [int(m) for m in _texts(headers, "filemodes")]
            flags = [int(f) for f in _texts(headers, "fileflags")]
            owners = [f"{u}:{g}" for u, g in zip(_texts(headers, "fileusername"),
                                                  _texts(headers, "filegroupname"),
                                                  strict=True)]
            contents: dict[str, bytes] = {}
            for p, m, f in zip(paths, modes, flags, strict=True):
                if p.startswith("/etc/") and stat.S_ISREG(m) and not f & (1 << 6):
                    member = rpm.extractfile("." + p)
                    contents[p] = member.read()
    except Exception as exc:  # rpmfile raises struct.error, RPMError, ... on damaged files
        raise Tap2pkgError(f"{path}: cannot read it as an .rpm: {_first_line(exc)}") from None
    files = [{"path": p, "mode": oct(stat.S_IMODE(m)), "owner": o,
              "type": "dir" if stat.S_ISDIR(m) else "file",
              "flags": ",".join(name for bit, name in _RPM_FLAGS.items() if f & bit)}
             for p, m, o, f in zip(paths, modes, owners, flags, strict=True)]
    field = {tag: (_texts(headers, tag) or [""])[0]
             for tag in ("name", "version", "release", "arch", "packager")}
    # rpm's License tag still has its old name in rpmfile's table.
    field["license"] = (_texts(headers, "license") or _texts(headers, "copyright") or [""])[0]
    return {
        "package": path.name,
        "format": "rpm",
        "fields": field,
        "summary": (_texts(headers, "summary") or [""])[0],
        "conffiles": [f["path"] for f in files if "config" in str(f["flags"])],
        "requires": list(dict.fromkeys(r for r in _texts(headers, "requirename")
                                       if not r.startswith(("rpmlib(", "config(")))),
        "scripts": [name for tag, name in _RPM_SCRIPTLETS.items() if tag in headers],
        "files": files,
        "app": _app(contents),
    }


def read_package(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise Tap2pkgError(f"{path}: no such file")
    return read_deb(path) if path.suffix == ".deb" else read_rpm(path)

"""The source tarball (Source0): what the package installs, under <name>-<version>/,
packed the same way every time so that the .src.rpm is reproducible too."""

from __future__ import annotations

import gzip
import io
import tarfile

from tap2pkg import services
from tap2pkg.backends.rpm.files import DIRS, INITD_DIR, sources
from tap2pkg.model import PackageSpec
from tap2pkg.render import render
from tap2pkg.services import Layout
from tap2pkg.tree import SourceTree

LAYOUT = Layout(defaults_dir="/etc/sysconfig", initd_dir=DIRS[INITD_DIR],
                init_template="service/init.redhat.j2")


def tarball_name(spec: PackageSpec) -> str:
    return f"{spec.name}-{spec.version}.tar.gz"


def top_dir(spec: PackageSpec) -> str:
    """The directory %setup enters: %{name}-%{version}."""
    return f"{spec.name}-{spec.version}"


def service_files(spec: PackageSpec) -> SourceTree:
    """The files of the tarball, by their names in it."""
    names = sources(spec)
    files = SourceTree()
    files.add(names["app"], spec.app.content)
    if spec.app.original is not None:
        files.add(names["original"], spec.app.original[1])
    files.add(names["sysconfig"], services.defaults_file(spec, LAYOUT))
    if spec.systemd:
        files.add(names["service"], services.unit_file(spec, LAYOUT))
    if spec.sysv:
        files.add(names["init"], services.init_script(spec, LAYOUT), 0o755)
    files.add(names["ready"], services.ready_script(spec), 0o755)
    files.add(names["sysusers"], render("rpm/sysusers.conf.j2", spec=spec))
    files.add(names["readme"], render("rpm/README.j2", spec=spec))
    return files


def tarball(spec: PackageSpec, files: SourceTree) -> bytes:
    """A .tar.gz of files under top_dir: sorted, owned by root, dated spec.timestamp,
    and gzip without a name or time stamp, so equal input gives equal bytes."""
    top = top_dir(spec)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        tar.addfile(_member(f"{top}/", tarfile.DIRTYPE, 0o755, spec.timestamp))
        for path in files:  # SourceTree iterates in sorted order
            item = files[path]
            member = _member(f"{top}/{path}", tarfile.REGTYPE, item.mode, spec.timestamp)
            member.size = len(item.data)
            tar.addfile(member, io.BytesIO(item.data))
    return gzip.compress(raw.getvalue(), compresslevel=9, mtime=0)


def _member(name: str, kind: bytes, mode: int, mtime: int) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type = kind
    member.mode = mode
    member.mtime = mtime
    member.uid = member.gid = 0
    member.uname = member.gname = "root"
    return member

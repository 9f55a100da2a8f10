"""The Debian source package (.dsc and native .tar.xz), written directly from the rendered
tree as dpkg-source -b would write it for "3.0 (native)": a GNU tar of <pkg>-<version>/
sorted by name, owned by 0:0, times clamped to the build date, xz-compressed; and a .dsc
listing it with its MD5, SHA-1 and SHA-256 sums.

Writing them here saves a dpkg-source run (perl start-up) on every build; the tests check
that dpkg-source -x accepts the result and that lintian finds nothing to say about it."""

from __future__ import annotations

import hashlib
import io
import lzma
import tarfile
from pathlib import Path

from tap2pkg.model import PackageSpec
from tap2pkg.payload import deb_architecture
from tap2pkg.render import render
from tap2pkg.tree import SourceTree


def tarball_bytes(tree: SourceTree, top: str, mtime: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        dirs = {top} | {
            f"{top}/{'/'.join(path.split('/')[:i])}"
            for path in tree
            for i in range(1, path.count("/") + 1)
        }
        entries = sorted([(d, None) for d in dirs] + [(f"{top}/{p}", p) for p in tree])
        for name, path in entries:
            info = tarfile.TarInfo(name)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = mtime
            if path is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                item = tree[path]
                info.size = len(item.data)
                info.mode = item.mode
                tar.addfile(info, io.BytesIO(item.data))
    return lzma.compress(buf.getvalue(), format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64,
                         preset=6)


def write_source_package(spec: PackageSpec, tree: SourceTree, top: str, into: Path
                         ) -> tuple[Path, Path]:
    """Write <pkg>_<version>.tar.xz and .dsc into the directory into."""
    upstream = spec.version.split(":", 1)[-1]
    stem = f"{spec.name}_{upstream}"
    tar_data = tarball_bytes(tree, top, spec.timestamp)
    tar_path = into / f"{stem}.tar.xz"
    tar_path.write_bytes(tar_data)
    dsc_path = into / f"{stem}.dsc"
    dsc_path.write_text(
        render(
            "debian/dsc.j2",
            spec=spec,
            tarball=tar_path.name,
            architecture="all" if deb_architecture(spec.payload) == "all" else "any",
            size=len(tar_data),
            md5=hashlib.md5(tar_data).hexdigest(),  # noqa: S324 - the .dsc format's field
            sha1=hashlib.sha1(tar_data).hexdigest(),  # noqa: S324 - the .dsc format's field
            sha256=hashlib.sha256(tar_data).hexdigest(),
        ),
        encoding="utf-8",
    )
    return dsc_path, tar_path

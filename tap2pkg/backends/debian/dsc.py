"""The Debian source package (.dsc and its tarballs), written directly from the rendered
tree as dpkg-source -b would write it: GNU tars sorted by name, owned by 0:0, times clamped
to the build date, xz-compressed; and a .dsc listing them with MD5, SHA-1 and SHA-256 sums.

A version without a Debian revision ("1.0") makes a "3.0 (native)" package: one
<pkg>_<version>.tar.xz of <pkg>-<version>/.  A revision ("1.0-1") makes a "3.0 (quilt)"
package, as distributions expect for software they did not write: the upstream tarball
<pkg>_<upstream>.orig.tar.xz (the application file and everything outside debian/, under
<pkg>-<upstream>/) and <pkg>_<version>.debian.tar.xz (debian/ only).  Epochs never appear in
file names.

Writing them here saves a dpkg-source run (perl start-up) on every build; the tests check
that dpkg-source -x accepts the result and that lintian finds nothing to say about it."""

from __future__ import annotations

import hashlib
import io
import lzma
import tarfile
from dataclasses import dataclass
from pathlib import Path

from tap2pkg.model import PackageSpec
from tap2pkg.payload import deb_architecture
from tap2pkg.render import render
from tap2pkg.tree import SourceTree


def file_version(version: str) -> str:
    """The version as it appears in file names: without the epoch."""
    return version.split(":", 1)[-1]


def upstream_version(version: str) -> str:
    """Without the epoch and the Debian revision: the source tree's and .orig's version."""
    return file_version(version).rsplit("-", 1)[0]


def is_native(version: str) -> bool:
    return "-" not in file_version(version)


def source_format(version: str) -> str:
    """What debian/source/format says for this version."""
    return "3.0 (native)" if is_native(version) else "3.0 (quilt)"


def tarball_bytes(tree: SourceTree, top: str, mtime: int, paths: list[str] | None = None
                  ) -> bytes:
    """A tarball of the given tree paths (all by default) under top/ ("" for none)."""
    chosen = list(tree) if paths is None else paths
    prefix = f"{top}/" if top else ""
    dirs = {f"{prefix}{'/'.join(p.split('/')[:i])}"
            for p in chosen for i in range(1, p.count("/") + 1)}
    if top:
        dirs.add(top)
    entries = sorted([(d, None) for d in dirs] + [(f"{prefix}{p}", p) for p in chosen])
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
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
    return xz(buf.getvalue())


def xz_preset(size: int) -> int:
    """The xz preset for size bytes: dpkg's default 6 for large inputs; 1 when the data fits
    in preset 1's 1 MiB dictionary, where 6 costs five times the time (its slow match
    finder) for a few percent of a small file.  The same input always gives the same bytes."""
    return 1 if size <= SMALL else 6


SMALL = 1 << 20  # bytes; binary.compression switches the .deb to gzip below it too


def xz(data: bytes) -> bytes:
    return lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64,
                         preset=xz_preset(len(data)))


@dataclass(frozen=True)
class Checksummed:
    """A file as .dsc, .changes and .buildinfo list it."""

    name: str
    size: int
    md5: str
    sha1: str
    sha256: str

    @classmethod
    def of(cls, path: Path) -> Checksummed:
        data = path.read_bytes()
        return cls(
            name=path.name,
            size=len(data),
            md5=hashlib.md5(data).hexdigest(),  # noqa: S324 - the formats' own field
            sha1=hashlib.sha1(data).hexdigest(),  # noqa: S324 - the formats' own field
            sha256=hashlib.sha256(data).hexdigest(),
        )


def write_source_package(spec: PackageSpec, tree: SourceTree, top: str, into: Path
                         ) -> tuple[Path, list[Path]]:
    """Write the source tarball(s) and the .dsc into the directory into; return the .dsc
    and the tarballs (.tar.xz, or .orig.tar.xz and .debian.tar.xz)."""
    version = file_version(spec.version)
    if is_native(spec.version):
        tar_path = into / f"{spec.name}_{version}.tar.xz"
        tar_path.write_bytes(tarball_bytes(tree, top, spec.timestamp))
        tarballs = [tar_path]
    else:
        upstream = [p for p in tree if not p.startswith("debian/")]
        packaging = [p for p in tree if p.startswith("debian/")]
        orig = into / f"{spec.name}_{upstream_version(spec.version)}.orig.tar.xz"
        orig.write_bytes(tarball_bytes(tree, top, spec.timestamp, upstream))
        debian = into / f"{spec.name}_{version}.debian.tar.xz"
        debian.write_bytes(tarball_bytes(tree, "", spec.timestamp, packaging))
        tarballs = [orig, debian]
    dsc_path = into / f"{spec.name}_{version}.dsc"
    dsc_path.write_text(
        render("debian/dsc.j2", spec=spec, format=source_format(spec.version),
               files=[Checksummed.of(p) for p in tarballs],
               architecture="all" if deb_architecture(spec.payload) == "all" else "any"),
        encoding="utf-8",
    )
    return dsc_path, tarballs


# debian/source/options: keep tap2pkg's record of what it generated (the manifest that tells
# a hand-edited tree from its own output) out of what dpkg-source -b makes of the tree: out
# of a native tarball (tar-ignore; the bare tar-ignore keeps dpkg-source's default
# patterns, which a pattern of our own would otherwise replace) and out of the diff against
# the .orig (extend-diff-ignore).
SOURCE_OPTIONS = (
    "# tap2pkg's manifest of the files it generated is not part of the source.\n"
    "tar-ignore\n"
    "tar-ignore = .tap2pkg-manifest.json\n"
    'extend-diff-ignore = "^\\.tap2pkg-manifest\\.json$"\n'
)

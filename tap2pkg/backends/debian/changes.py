"""The upload set: a .buildinfo and a .changes beside the .dsc and the .deb, in the formats
dpkg-genbuildinfo and dpkg-genchanges write (deb-buildinfo(5), deb-changes(5)), so that
dput and reprepro take them as they take dpkg-buildpackage's.

Written here rather than by dpkg's generators: those are two perl start-ups (about 0.6 s
measured, more than the rest of a build), and dpkg-genbuildinfo stamps the wall-clock time
and the host's whole essential set.  Here the .buildinfo records what really made the
files (dpkg-deb, from the dpkg named with its version, read from dpkg-deb --version) and
the build date is the changelog's (SOURCE_DATE_EPOCH when set), so two builds give the
same bytes."""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path

from tap2pkg.backends.debian.dsc import Checksummed, file_version
from tap2pkg.errors import BuildError
from tap2pkg.model import PackageSpec
from tap2pkg.run import run_tool
from tap2pkg.tree import SourceTree

# The changelog's first line: "pkg (version) dist; urgency=medium".
_HEADER = re.compile(r"\S+ \((?P<version>[^)]+)\) (?P<dist>[^;]+); urgency=(?P<urgency>\S+)")
# The Environment: variables dpkg-genbuildinfo records when set (its allowlist, the part
# of it that can matter to tap2pkg).
_ENVIRONMENT = ("DEB_BUILD_OPTIONS", "LANG", "LC_ALL", "SOURCE_DATE_EPOCH")


def _checksum_fields(files: list[Checksummed], *, md5_field: str, section: str = ""
                     ) -> list[str]:
    """The checksum fields in dpkg's order: the .changes' Files (MD5, with section and
    priority) comes last, the .buildinfo's Checksums-Md5 first."""
    extra = f" {section}" if section else ""
    md5 = [f"{md5_field}:", *(f" {f.md5} {f.size}{extra} {f.name}" for f in files)]
    sha = ["Checksums-Sha1:", *(f" {f.sha1} {f.size} {f.name}" for f in files),
           "Checksums-Sha256:", *(f" {f.sha256} {f.size} {f.name}" for f in files)]
    return [*sha, *md5] if md5_field == "Files" else [*md5, *sha]


def _control_field(tree: SourceTree, field: str) -> str:
    for line in tree.text("debian/control").splitlines():
        if line.startswith(f"{field}:"):
            return line.split(":", 1)[1].strip()
    return ""


def _changelog_entry(tree: SourceTree) -> tuple[dict[str, str], list[str], str]:
    """The newest entry: header fields, its body lines, and the trailer's author."""
    lines = tree.text("debian/changelog").splitlines()
    match = _HEADER.match(lines[0]) if lines else None
    if match is None:
        raise BuildError("debian/changelog does not start with 'pkg (version) dist; urgency=x'")
    body: list[str] = []
    author = ""
    for line in lines[1:]:
        if line.startswith(" -- "):
            author = line[4:].split("  ", 1)[0]
            break
        body.append(line)
    while body and not body[-1].strip():
        body.pop()
    while body and not body[0].strip():
        body.pop(0)
    return match.groupdict(), [lines[0], "", *body], author


# dpkg-deb --version: "Debian 'dpkg-deb' package archive backend version 1.21.22 (amd64)."
_DPKG_DEB_VERSION = re.compile(r"version (?P<version>\S+) \((?P<arch>[a-z0-9-]+)\)")


@cache  # once per process: a matrix run asks for every .deb it builds
def dpkg_deb_version(*, verbose: bool = False) -> tuple[str, str]:
    """The version of dpkg-deb (which archived the .deb) and its architecture, which is
    dpkg's native one (what dpkg --print-architecture says): one quick call, where
    dpkg-query reads the whole status database (about 160 ms measured)."""
    out = run_tool(["dpkg-deb", "--version"], verbose=verbose,
                   hint="dpkg-deb comes with dpkg").stdout
    match = _DPKG_DEB_VERSION.search(out.splitlines()[0] if out else "")
    if match is None:
        raise BuildError(f"cannot read dpkg-deb --version: {out[:80]!r}")
    return match["version"], match["arch"]


def upload_architecture(debs: list[Path]) -> str:
    """The .changes and .buildinfo name the binary architecture, as dpkg-buildpackage
    does: "all" for architecture-independent packages."""
    archs = sorted({p.stem.rsplit("_", 1)[-1] for p in debs})
    return "all" if archs == ["all"] else next(a for a in archs if a != "all")


def write_buildinfo(spec: PackageSpec, dsc: Path, debs: list[Path], into: Path, *,
                    verbose: bool = False) -> Path:
    """<pkg>_<version>_<arch>.buildinfo: what was built, from what, where and when."""
    from tap2pkg.backends.debian.control import rfc2822_date  # noqa: PLC0415

    archs = sorted({p.stem.rsplit("_", 1)[-1] for p in debs})
    dpkg, build_arch = dpkg_deb_version(verbose=verbose)
    lines = [
        "Format: 1.0",
        f"Source: {spec.name}",
        f"Binary: {' '.join(sorted({p.name.split('_', 1)[0] for p in debs}))}",
        f"Architecture: {' '.join([*archs, 'source'])}",
        f"Version: {spec.version}",
        *_checksum_fields([Checksummed.of(p) for p in [dsc, *debs]], md5_field="Checksums-Md5"),
        f"Build-Architecture: {build_arch}",
        f"Build-Date: {rfc2822_date(spec.timestamp)}",
        "Installed-Build-Depends:",
        # The .deb was laid out by tap2pkg and archived by dpkg-deb: that is the toolchain.
        f" dpkg (= {dpkg})",
        "Environment:",
        *(f' {k}="{os.environ[k]}"' for k in _ENVIRONMENT if k in os.environ
          and '"' not in os.environ[k] and "\n" not in os.environ[k]),
    ]
    if lines[-1] == "Environment:":
        lines.pop()
    path = into / f"{spec.name}_{file_version(spec.version)}_{upload_architecture(debs)}.buildinfo"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_changes(spec: PackageSpec, tree: SourceTree, files: list[Path], debs: list[Path],
                  into: Path) -> Path:
    """<pkg>_<version>_<arch>.changes listing the source files, the .debs and the
    .buildinfo (files: everything to upload, in upload order)."""
    from tap2pkg.backends.debian.control import rfc2822_date  # noqa: PLC0415

    header, entry, author = _changelog_entry(tree)
    section = f"{_control_field(tree, 'Section') or '-'} {_control_field(tree, 'Priority') or '-'}"
    archs = sorted({p.stem.rsplit("_", 1)[-1] for p in debs})
    binaries = sorted({p.name.split("_", 1)[0] for p in debs})
    lines = [
        "Format: 1.8",
        f"Date: {rfc2822_date(spec.timestamp)}",
        f"Source: {spec.name}",
        f"Binary: {' '.join(binaries)}",
        f"Architecture: {' '.join(['source', *archs])}",
        f"Version: {spec.version}",
        f"Distribution: {header['dist']}",
        f"Urgency: {header['urgency']}",
        f"Maintainer: {spec.maintainer}",
        f"Changed-By: {author or spec.maintainer}",
        "Description:",
        *(f" {name} - {spec.summary}" for name in binaries),
        "Changes:",
        *(f" {line}" if line.strip() else " ." for line in entry),
        *_checksum_fields([Checksummed.of(p) for p in files], md5_field="Files",
                         section=section),
    ]
    path = into / f"{spec.name}_{file_version(spec.version)}_{upload_architecture(debs)}.changes"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path

"""RPM build lifecycle: render the spec and its tarball, run rpmbuild -ba on them, then move
the packages and the kept SPECS/ and SOURCES/ files into place together."""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tap2pkg import output
from tap2pkg.backends.rpm import keep
from tap2pkg.backends.rpm.lint import rpmlint_config
from tap2pkg.backends.rpm.preamble import escape
from tap2pkg.backends.rpm.source import service_files, tarball, tarball_name
from tap2pkg.backends.rpm.specfile import render_spec
from tap2pkg.errors import BuildError
from tap2pkg.model import PackageSpec
from tap2pkg.run import run_tool
from tap2pkg.signing import rpmsign
from tap2pkg.tree import SourceTree

# rpm stores the expanded spec, build directories included, in the .src.rpm, and each
# binary package stores the .src.rpm's digest.  So rpmbuild reaches its top directory by a
# name that is the same in every build, /proc/self/fd/TOPDIR_FD: that descriptor is open,
# in rpmbuild and every process it starts, on a directory private to this build (made in
# its workspace).  No shared path for another user to pre-create, and equal input still
# gives equal bytes wherever the output directory is.
TOPDIR_FD = 100
# rpm builds of one process take turns for the descriptor number (across processes it is
# per process, so builds run side by side).
_TOPDIR_TURN = threading.Lock()


@dataclass(frozen=True)
class RpmArtifacts:
    spec: Path  # the kept, editable spec
    srpm: Path
    rpms: tuple[Path, ...]
    backup: Path | None = None

    def paths(self) -> list[Path]:
        return [self.spec, self.srpm, *self.rpms]


def spec_name(spec: PackageSpec) -> str:
    return f"SPECS/{spec.name}.spec"


def render_tree(spec: PackageSpec) -> SourceTree:
    """The kept files, relative to rpmbuild/."""
    tree = SourceTree()
    tree.add(spec_name(spec), render_spec(spec))
    tree.add(f"SPECS/{spec.name}.rpmlint.toml", rpmlint_config(spec))
    tree.add(f"SOURCES/{tarball_name(spec)}", tarball(spec, service_files(spec)))
    return tree


def rpmbuild_argv(spec: PackageSpec, topdir: Path) -> list[str]:
    return [
        "rpmbuild", "-ba",
        "--define", f"_topdir {topdir}",
        # rpmbuild keeps a failed step's script in %_tmppath: keep it in the scratch tree.
        "--define", f"_tmppath {topdir / 'scratch'}",
        # --maintainer names the packager, whatever the builder's ~/.rpmmacros says.
        "--define", f"packager {escape(spec.maintainer)}",
        str(topdir / spec_name(spec)),
    ]


@contextmanager
def private_topdir(parent: Path) -> Iterator[tuple[Path, Path]]:
    """An empty rpmbuild top directory of this build (mode 0700, under parent), and the
    name rpmbuild sees it by: /proc/self/fd/TOPDIR_FD, passed to it by run_tool."""
    topdir = Path(tempfile.mkdtemp(prefix="rpmbuild-", dir=parent))
    try:
        with _TOPDIR_TURN:
            fd = os.open(topdir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                pinned = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, TOPDIR_FD)
            finally:
                os.close(fd)
            try:
                # Another file at TOPDIR_FD (unusual): a higher number, still no path.
                yield topdir, Path(f"/proc/self/fd/{pinned}")
            finally:
                os.close(pinned)
    finally:
        shutil.rmtree(topdir, ignore_errors=True)


def run_rpmbuild(spec: PackageSpec, tree: SourceTree, into: Path, *, verbose: bool
                 ) -> tuple[Path, list[Path]]:
    """Build the .src.rpm and the .rpm files; move them into the directory into."""
    # rpmbuild makes a few hundred files and directories (BUILD, BUILDROOT, the payload):
    # in memory for a small package (output.staging), about 12% of rpmbuild's time.
    with output.staging(tree.size(), into.parent) as stage, private_topdir(stage) as (topdir, seen):
        tree.write(topdir, with_manifest=False)
        (topdir / "scratch").mkdir()
        for path in tree:
            # rpm clamps payload times, but the .src.rpm holds the spec and the tarball
            # with their own: date them like the rest.
            os.utime(topdir / path, (spec.timestamp, spec.timestamp))
        run_tool(
            rpmbuild_argv(spec, seen),
            env={"SOURCE_DATE_EPOCH": str(spec.timestamp)},
            pass_fds=(int(seen.name),),
            verbose=verbose,
            hint="install rpm (Debian: apt install rpm; Fedora: dnf install rpm-build)",
        )
        srpms = sorted((topdir / "SRPMS").glob("*.src.rpm"))
        rpms = sorted((topdir / "RPMS").glob("*/*.rpm"))
        if len(srpms) != 1 or not rpms:
            raise BuildError(f"rpmbuild did not write the expected packages under {topdir}")
        moved = [Path(shutil.move(path, into / path.name)) for path in [*srpms, *rpms]]
    return moved[0], moved[1:]


def build(spec: PackageSpec, outdir: Path, *, force: bool = False, verbose: bool = False,
          sign: str | None = None) -> RpmArtifacts:
    outdir = output.prepare_outdir(outdir)
    tree = render_tree(spec)
    kept = outdir / keep.TOPDIR
    edited = keep.check(kept, spec.name, tree, force=force)
    with output.workspace(outdir) as work:
        built = work / "packages"
        built.mkdir()
        srpm, rpms = run_rpmbuild(spec, tree, built, verbose=verbose)
        if sign is not None:
            rpmsign([srpm, *rpms], sign, verbose=verbose)
        tree.write(work / keep.TOPDIR, with_manifest=False)
        # Everything is built: now move it into place.
        srpm = output.publish_file(srpm, outdir / srpm.name)
        rpms = [output.publish_file(path, outdir / path.name) for path in rpms]
        backup = keep.publish(work / keep.TOPDIR, kept, spec.name, tree, keep=edited)
    return RpmArtifacts(spec=kept / spec_name(spec), srpm=srpm, rpms=tuple(rpms), backup=backup)

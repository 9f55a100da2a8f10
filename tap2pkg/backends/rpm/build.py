"""RPM build lifecycle: render the spec and its tarball, run rpmbuild -ba on them, then move
the packages and the kept SPECS/ and SOURCES/ files into place together."""

from __future__ import annotations

import fcntl
import os
import shutil
import stat
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
# binary package stores the .src.rpm's digest: the build runs under this fixed path
# (one build at a time per user) so that equal input gives equal bytes wherever the
# output directory is.
STABLE_BASE = Path("/var/tmp")  # noqa: S108 - fixed on purpose; made 0700, owner checked


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
def stable_topdir() -> Iterator[Path]:
    """An empty rpmbuild top directory at a fixed path, locked for this build."""
    base = STABLE_BASE / f"tap2pkg-rpmbuild-{os.getuid()}"
    try:
        base.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise BuildError(f"cannot create {base}: {exc.strerror}") from exc
    info = os.lstat(base)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise BuildError(f"{base} is not a directory of yours: remove it")
    lock = os.open(base, os.O_RDONLY)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when closed
        topdir = base / "rpmbuild"
        shutil.rmtree(topdir, ignore_errors=True)
        topdir.mkdir()
        try:
            yield topdir
        finally:
            shutil.rmtree(topdir, ignore_errors=True)
    finally:
        os.close(lock)


def run_rpmbuild(spec: PackageSpec, tree: SourceTree, into: Path, *, verbose: bool
                 ) -> tuple[Path, list[Path]]:
    """Build the .src.rpm and the .rpm files; move them into the directory into."""
    with stable_topdir() as topdir:
        tree.write(topdir, with_manifest=False)
        (topdir / "scratch").mkdir()
        for path in tree:
            # rpm clamps payload times, but the .src.rpm holds the spec and the tarball
            # with their own: date them like the rest.
            os.utime(topdir / path, (spec.timestamp, spec.timestamp))
        run_tool(
            rpmbuild_argv(spec, topdir),
            env={"SOURCE_DATE_EPOCH": str(spec.timestamp)},
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

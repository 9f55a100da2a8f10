"""Debian build lifecycle: render the source tree, write it, make the .dsc and tarball(s),
the .deb with dpkg-deb, and the .buildinfo and .changes that upload them; sign them when
asked; then move everything into place at once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tap2pkg import output
from tap2pkg.backends.debian.binary import build_deb
from tap2pkg.backends.debian.changes import write_buildinfo, write_changes
from tap2pkg.backends.debian.dsc import upstream_version, write_source_package
from tap2pkg.backends.debian.source import render_source
from tap2pkg.model import PackageSpec
from tap2pkg.signing import clearsign


@dataclass(frozen=True)
class DebianArtifacts:
    source_dir: Path
    dsc: Path
    tarballs: tuple[Path, ...]  # .tar.xz (native), or .orig.tar.xz and .debian.tar.xz
    deb: Path
    buildinfo: Path
    changes: Path
    backup: Path | None = None

    def paths(self) -> list[Path]:
        return [self.source_dir, self.dsc, *self.tarballs, self.deb, self.buildinfo,
                self.changes]


def build(spec: PackageSpec, outdir: Path, *, force: bool = False, verbose: bool = False,
          sign: str | None = None) -> DebianArtifacts:
    outdir = output.prepare_outdir(outdir)
    tree = render_source(spec)
    tree_name = f"{spec.name}-{upstream_version(spec.version)}"
    dest = outdir / tree_name
    state = output.check_tree(dest, force=force, wanted=tree)
    with output.workspace(outdir) as work:
        if state != "same":  # an identical tree of ours stays where it is
            tree.write(work / tree_name)
        dsc, tarballs = write_source_package(spec, tree, tree_name, work)
        deb = build_deb(spec, tree, work, verbose=verbose)
        # As debsign does: each file is signed before the next one lists its checksum.
        if sign is not None:
            clearsign(dsc, sign, verbose=verbose)
        buildinfo = write_buildinfo(spec, dsc, [deb], work, verbose=verbose)
        if sign is not None:
            clearsign(buildinfo, sign, verbose=verbose)
        changes = write_changes(spec, tree, [dsc, *tarballs, deb, buildinfo], [deb], work)
        if sign is not None:
            clearsign(changes, sign, verbose=verbose)
        # Everything is built: now move it into place, the .changes last (an uploader
        # watching the directory sees it only when all it lists is there).
        files = [dsc, *tarballs, deb, buildinfo]
        published = [output.publish_file(f, outdir / f.name) for f in files]
        backup = None
        if state != "same":
            backup = output.publish_tree(work / tree_name, dest, keep_old=state == "keep",
                                         trash=work)
        return DebianArtifacts(
            source_dir=dest,
            dsc=published[0],
            tarballs=tuple(published[1:-2]),
            deb=published[-2],
            buildinfo=published[-1],
            changes=output.publish_file(changes, outdir / changes.name),
            backup=backup,
        )

"""Debian build lifecycle: render the source tree, write it, make the .dsc and tarball, and
the .deb with dpkg-deb, then move everything into place at once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tap2pkg import output
from tap2pkg.backends.debian.binary import build_deb
from tap2pkg.backends.debian.dsc import write_source_package
from tap2pkg.backends.debian.source import render_source
from tap2pkg.model import PackageSpec
from tap2pkg.signing import clearsign


@dataclass(frozen=True)
class DebianArtifacts:
    source_dir: Path
    dsc: Path
    tarball: Path
    deb: Path
    backup: Path | None = None

    def paths(self) -> list[Path]:
        return [self.source_dir, self.dsc, self.tarball, self.deb]


def build(spec: PackageSpec, outdir: Path, *, force: bool = False, verbose: bool = False,
          sign: str | None = None) -> DebianArtifacts:
    outdir = output.prepare_outdir(outdir)
    tree = render_source(spec)
    upstream = spec.version.split(":", 1)[-1]
    tree_name = f"{spec.name}-{upstream}"
    dest = outdir / tree_name
    keep_old = output.check_tree(dest, force=force)
    with output.workspace(outdir) as work:
        tree.write(work / tree_name)
        dsc, tarball = write_source_package(spec, tree, tree_name, work)
        if sign is not None:
            clearsign(dsc, sign, verbose=verbose)
        deb_dir = work / "deb"
        deb_dir.mkdir()
        deb = build_deb(spec, tree, deb_dir, verbose=verbose)
        # Everything is built: now move it into place.
        return DebianArtifacts(
            source_dir=dest,
            dsc=output.publish_file(dsc, outdir / dsc.name),
            tarball=output.publish_file(tarball, outdir / tarball.name),
            deb=output.publish_file(deb, outdir / deb.name),
            backup=output.publish_tree(work / tree_name, dest, keep_old=keep_old, trash=work),
        )

"""The binary .deb, laid out from the same PackageSpec and built with dpkg-deb."""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

from tap2pkg import output
from tap2pkg.backends.debian import INIT_PRE_DEPENDS, control, dsc, scripts, source
from tap2pkg.model import PackageSpec
from tap2pkg.payload import deb_architecture, installed_files
from tap2pkg.render import render
from tap2pkg.run import run_tool
from tap2pkg.tree import SourceTree


def deb_filename(spec: PackageSpec) -> str:
    version = spec.version.split(":", 1)[-1]  # the epoch is not part of file names
    return f"{spec.name}_{version}_{deb_architecture(spec.payload)}.deb"


def payload(spec: PackageSpec, tree: SourceTree) -> SourceTree:
    """What dh would install from the source tree: path in the package -> file."""
    name = spec.name
    files = SourceTree()
    files.add(spec.app_path.as_posix().lstrip("/"), spec.app.content)
    if spec.app.original is not None:  # e.g. the .tax a .tas was converted from
        original_name, original_data = spec.app.original
        files.add(f"{spec.conf_dir.relative_to('/')}/{original_name}", original_data)
    files.add(f"etc/default/{name}", tree.text(f"debian/{name}.default"))
    files.add(spec.ready_path.as_posix().lstrip("/"), tree.text(source.READY_SOURCE), 0o755)
    if spec.sysv:
        files.add(f"etc/init.d/{name}", tree.text(f"debian/{name}.init"), 0o755)
    if spec.systemd:
        unit_dir = spec.target.unit_dir.lstrip("/")
        files.add(f"{unit_dir}/{name}.service", tree.text(f"debian/{name}.service"))
    if f"debian/{name}.lintian-overrides" in tree:
        files.add(
            f"usr/share/lintian/overrides/{name}", tree.text(f"debian/{name}.lintian-overrides")
        )
    if spec.payload is not None:  # --include / --bundle, and the launcher
        for path, data, mode in installed_files(name, spec.payload, spec.target.python):
            files.add(path, data, mode)
    doc = f"usr/share/doc/{name}"
    files.add(f"{doc}/copyright", tree.text("debian/copyright"))
    # dh_installchangelogs: debian/changelog is changelog.gz in a native package,
    # changelog.Debian.gz in one with an upstream, compressed like gzip -9n.
    changelog = "changelog.gz" if dsc.is_native(spec.version) else "changelog.Debian.gz"
    files.add(
        f"{doc}/{changelog}",
        gzip.compress(tree["debian/changelog"].data, compresslevel=9, mtime=0),
    )
    return files


def _directories(paths: list[str], extra: list[str]) -> list[str]:
    dirs: set[str] = set(extra)
    for path in [*paths, *extra]:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    return sorted(dirs)


def _installed_size(files: SourceTree, dirs: list[str], meta: SourceTree) -> int:
    """As dpkg-gencontrol counts: KiB per file, rounded up, and 1 per directory, over the
    package tree and DEBIAN/ as it stands when dh_gencontrol runs (before md5sums)."""
    kib = sum((len(tree[p].data) + 1023) // 1024 for tree in (files, meta) for p in tree)
    return kib + len(dirs) + 2  # the root and DEBIAN/ themselves


def control_files(spec: PackageSpec, files: SourceTree, dirs: list[str]) -> SourceTree:
    """DEBIAN/: control, conffiles (everything under /etc), md5sums, maintainer scripts."""
    meta = SourceTree()
    conffiles = [p for p in files if p.startswith("etc/")]
    meta.add("conffiles", "".join(f"/{p}\n" for p in conffiles))
    for script, text in scripts.binary_scripts(spec).items():
        meta.add(script, text, 0o755)
    installed_size = _installed_size(files, dirs, meta)
    meta.add(
        "control",
        render(
            "debian/binary-control.j2",
            spec=spec,
            installed_size=installed_size,
            architecture=deb_architecture(spec.payload),
            pre_depends=list(INIT_PRE_DEPENDS) if spec.sysv else [],
            depends=source.depends(spec),
            extended_description=control.extended_description(spec.long_description),
        ),
    )
    meta.add(
        "md5sums",
        "".join(
            f"{hashlib.md5(files[p].data).hexdigest()}  {p}\n"  # noqa: S324 - dpkg's format
            for p in files
            if p not in conffiles
        ),
    )
    return meta


def compression(size: int) -> list[str]:
    """dpkg-deb's compressor for a package of size bytes of files: xz, dpkg's default, for
    anything sizeable (a bundle: a third smaller than gzip); gzip -9 when the files fit in
    one MiB, where xz saves a few hundred bytes for twice the time (its 8 MiB dictionary
    set up for a few KiB).  Both are what dpkg, apt and the Debian archive take; gzip is
    also nfpm's and fpm's default."""
    return ["-Zgzip", "-z9"] if size <= dsc.SMALL else ["-Zxz"]


def build_deb(spec: PackageSpec, tree: SourceTree, workdir: Path, *, verbose: bool) -> Path:
    """Lay out the package in a staging directory and build workdir/<file>.deb."""
    files = payload(spec, tree)
    dirs = _directories(list(files), [spec.state_dir.as_posix()[1:]])
    meta_files = control_files(spec, files, dirs)
    size = files.size()
    out = workdir / deb_filename(spec)
    with output.staging(size, workdir) as stage:
        root = stage / "root"
        root.mkdir(mode=0o755)
        os.chmod(root, 0o755)
        for d in [*dirs, "DEBIAN"]:
            (root / d).mkdir()
            os.chmod(root / d, 0o755)
        files.write(root, with_manifest=False)
        meta_files.write(root / "DEBIAN", with_manifest=False)
        run_tool(
            ["dpkg-deb", "--root-owner-group", *compression(size), "--build", str(root),
             str(out)],
            env={"SOURCE_DATE_EPOCH": str(spec.timestamp)},
            verbose=verbose,
            hint="dpkg-deb comes with dpkg",
        )
    return out

"""The kept rpmbuild/ tree: SPECS/ and SOURCES/ under the output directory, where a person
edits the spec and runs rpmbuild -ba again.

Like ~/rpmbuild it may hold several packages, and rpmbuild adds BUILD/, RPMS/ and so on
to it; so the hand-edit guard covers only the files tap2rpm wrote for this package, listed
in a manifest of their own (rpmbuild/.tap2pkg-manifest-<name>.json).

Nothing in it is trusted: every file is reached from the output directory's fd without
following a link (tap2pkg.outdir), and a manifest naming anything but regular files inside
rpmbuild/ is refused.
"""

from __future__ import annotations

import json
from pathlib import Path

from tap2pkg import outdir as safe
from tap2pkg.errors import UsageError
from tap2pkg.output import backup_name
from tap2pkg.tree import SourceTree

TOPDIR = "rpmbuild"


def manifest_name(name: str) -> str:
    return f".tap2pkg-manifest-{name}.json"


def manifest_path(topdir: Path, name: str) -> Path:
    return topdir / manifest_name(name)


def edited_files(topdir: Path, name: str, tree: SourceTree) -> list[str]:
    """Files this build would replace or remove that differ from what tap2rpm wrote
    last time: edited, deleted, or present without having been written by tap2rpm."""
    with safe.opened(topdir.parent) as out_fd, \
            safe.subdir(out_fd, topdir.parent, topdir.name) as top_fd:
        if top_fd is None:
            return []
        recorded = safe.read_manifest(top_fd, topdir, manifest_name(name)) or {}
        edited = {
            path for path, digest in recorded.items()
            if safe.regular_file_digest(top_fd, topdir, path) != digest
        }
        edited.update(
            path for path in tree
            if path not in recorded and safe.lstat_at(top_fd, topdir, path) is not None
        )
    return sorted(edited)


def check(topdir: Path, name: str, tree: SourceTree, *, force: bool) -> list[str]:
    """Refuse to overwrite hand edits unless forced; returns the edited files."""
    edited = edited_files(topdir, name, tree)
    if edited and not force:
        shown = ", ".join(edited[:8]) + (", ..." if len(edited) > 8 else "")
        raise UsageError(  # bad input (exit 2), as for the Debian tree
            f"{topdir} holds files of {name} edited by hand ({shown}); rebuild them with "
            f"rpmbuild -ba, or pass --force to regenerate them (the edited files are then "
            "moved aside)"
        )
    return edited


def publish(new: Path, topdir: Path, name: str, tree: SourceTree, *, keep: list[str]
            ) -> Path | None:
    """Move the files of tree from new/ into topdir (made if need be); remove the files of
    the previous build that are no longer generated.  The files in keep (edited ones) are
    moved to a timestamped backup directory first, which is returned."""
    backup = None
    with safe.opened(topdir.parent) as out_fd, safe.opened(new) as new_fd, \
            safe.made(out_fd, topdir.parent, topdir.name) as top_fd:
        recorded = safe.read_manifest(top_fd, topdir, manifest_name(name)) or {}
        if keep:
            backup = backup_name(topdir, name)
            for path in keep:
                if safe.lstat_at(top_fd, topdir, path) is not None:
                    safe.move(top_fd, topdir, path,
                              dst_fd=top_fd, dst=topdir, dst_rel=f"{backup.name}/{path}")
        for path in recorded:
            if path not in tree:
                safe.remove_file(top_fd, topdir, path)
        for path in tree:
            safe.move(new_fd, new, path, dst_fd=top_fd, dst=topdir, dst_rel=path)
        # Written beside the new files, then renamed over the old manifest.
        scratch = manifest_name(name) + ".new"
        safe.write_new(new_fd, scratch,
                       (json.dumps(tree.manifest(), indent=1, sort_keys=True) + "\n").encode())
        safe.move(new_fd, new, scratch, dst_fd=top_fd, dst=topdir, dst_rel=manifest_name(name))
    return backup

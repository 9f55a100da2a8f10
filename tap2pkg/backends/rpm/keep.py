"""The kept rpmbuild/ tree: SPECS/ and SOURCES/ under the output directory, where a person
edits the spec and runs rpmbuild -ba again.

Like ~/rpmbuild it may hold several packages, and rpmbuild adds BUILD/, RPMS/ and so on
to it; so the hand-edit guard covers only the files tap2rpm wrote for this package, listed
in a manifest of their own (rpmbuild/.tap2pkg-manifest-<name>.json).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from tap2pkg.errors import UsageError
from tap2pkg.tree import SourceTree

TOPDIR = "rpmbuild"


def manifest_path(topdir: Path, name: str) -> Path:
    return topdir / f".tap2pkg-manifest-{name}.json"


def _recorded(topdir: Path, name: str) -> dict[str, str] | None:
    try:
        data = json.loads(manifest_path(topdir, name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def edited_files(topdir: Path, name: str, tree: SourceTree) -> list[str]:
    """Files this build would replace or remove that differ from what tap2rpm wrote
    last time: edited, deleted, or present without having been written by tap2rpm."""
    recorded = _recorded(topdir, name) or {}
    edited = {
        path for path, digest in recorded.items()
        if _sha256(topdir / path) != digest
    }
    edited.update(
        path for path in tree
        if path not in recorded and (topdir / path).exists()
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
    """Move the files of tree from new/ into topdir; remove the files of the previous
    build that are no longer generated.  The files in keep (edited ones) are moved to a
    timestamped backup directory first, which is returned."""
    backup = None
    if keep:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        backup = topdir / f"{name}.bak-{stamp}"
        for path in keep:
            if (topdir / path).exists():
                (backup / path).parent.mkdir(parents=True, exist_ok=True)
                os.rename(topdir / path, backup / path)
    for path in _recorded(topdir, name) or {}:
        if path not in tree and (topdir / path).is_file():
            (topdir / path).unlink()
    for path in tree:
        (topdir / path).parent.mkdir(parents=True, exist_ok=True)
        os.replace(new / path, topdir / path)
    manifest = manifest_path(topdir, name)
    scratch = manifest.with_name(manifest.name + ".new")
    scratch.write_text(json.dumps(tree.manifest(), indent=1, sort_keys=True) + "\n",
                       encoding="utf-8")
    os.replace(scratch, manifest)
    return backup

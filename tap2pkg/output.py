"""Atomic outputs: everything is built in a temporary directory inside the output
directory and renamed into place when complete, so a failed or killed build never leaves
a half-written artifact; and a source tree edited by hand is never overwritten silently.

An existing output directory is not trusted: what tap2pkg reads, moves or deletes in it is
reached without following links (tap2pkg.outdir).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from tap2pkg import outdir as safe
from tap2pkg.errors import BuildError, UsageError
from tap2pkg.tree import MANIFEST, SourceTree

WORK_PREFIX = ".tap2pkg-work-"
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def prepare_outdir(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create output directory {path}: {exc.strerror}",
                         "--output-dir") from exc
    if not path.is_dir():
        raise UsageError(f"output directory {path} is not a directory", "--output-dir")
    if not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"output directory {path} is not writable", "--output-dir")
    return path


def _stale(out_fd: int, name: str) -> int | None:
    """The workspace name, locked, when it can be removed: a real directory of ours that no
    build holds.  Liveness is the owner's flock on the directory, not its pid: a pid means
    nothing to a build in another PID namespace (a container) writing into the same
    output directory."""
    try:
        fd = os.open(name, _DIR, dir_fd=out_fd)
    except OSError:
        return None  # a link, a file, or gone: not a workspace, leave it
    try:
        if os.fstat(fd).st_uid == os.getuid():
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
    except OSError:
        pass  # its build is running (or this file system cannot tell: leave it)
    os.close(fd)
    return None


def remove_stale_workspaces(outdir: Path, prefix: str = WORK_PREFIX) -> None:
    """Remove scratch directories left by builds that were killed; those of builds still
    running, into the same directory from whatever machine or container, are left alone."""
    with safe.opened(outdir) as out_fd:
        for name in os.listdir(out_fd):
            if not name.startswith(prefix):
                continue
            lock = _stale(out_fd, name)
            if lock is not None:
                try:  # under our lock; fd-based, never follows a link (avoids_symlink_attacks)
                    shutil.rmtree(name, dir_fd=out_fd, ignore_errors=True)
                finally:
                    os.close(lock)


def _locked_workspace(outdir: Path, prefix: str = WORK_PREFIX) -> tuple[Path, int]:
    """mkdtemp, then flock it.  Another build's cleanup may take the new directory for a
    stale one between the two and remove it: then it is made again."""
    while True:
        work = Path(tempfile.mkdtemp(prefix=prefix, dir=outdir))
        try:
            lock = os.open(work, _DIR)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
        except OSError:
            # A file system without flock on directories (some NFS): others cannot lock
            # it either, so they leave it alone; it outlives a killed build, that is all.
            return work, lock
        if os.fstat(lock).st_nlink > 0:
            return work, lock
        os.close(lock)


@contextmanager
def workspace(outdir: Path) -> Iterator[Path]:
    """A scratch directory on the same file system as outdir (so renames are atomic),
    locked by this build for as long as it lives."""
    remove_stale_workspaces(outdir)
    try:
        work, lock = _locked_workspace(outdir)
    except OSError as exc:
        raise UsageError(f"cannot write to output directory {outdir}: {exc.strerror}",
                         "--output-dir") from exc
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)
        os.close(lock)  # the lock goes with the last fd


TreeState = Literal["absent", "same", "replace", "keep"]


def _tree_edits(out_fd: int, outdir: Path, name: str
                ) -> tuple[list[str], dict[str, str], dict[str, int]] | None:
    """Files of the source tree outdir/name that differ from what tap2pkg wrote there:
    changed, missing, added, or no longer regular files; with the manifest recorded there
    and the modes of the files found.  None when it holds no manifest (not a tree we
    wrote).  A manifest naming anything but regular files inside is refused.
    """
    with safe.subdir(out_fd, outdir, name) as tree_fd:
        if tree_fd is None:
            return None
        base = outdir / name
        recorded = safe.read_manifest(tree_fd, base, MANIFEST)
        if recorded is None:
            return None
        changed: set[str] = set()
        modes: dict[str, int] = {}
        for rel, info in safe.walk(tree_fd, base):
            if rel == MANIFEST:
                continue
            modes[rel] = stat.S_IMODE(info.st_mode)
            if not stat.S_ISREG(info.st_mode):
                changed.add(rel)  # read_manifest refused those it names
            elif recorded.get(rel) != safe.regular_file_digest(tree_fd, base, rel):
                changed.add(rel)
        changed.update(set(recorded) - set(modes))
        return sorted(changed), recorded, modes


def check_tree(dest: Path, *, force: bool, wanted: SourceTree | None = None) -> TreeState:
    """Refuse to replace a source tree edited by hand unless forced.

    "absent": nothing there; "same": the tree tap2pkg wrote there, untouched and identical
    to wanted (files, contents, modes), so there is nothing to replace; "replace": our
    untouched tree, to be replaced; "keep": edited or not ours, to be moved aside (forced).
    """
    with safe.opened(dest.parent) as out_fd:
        try:
            info = os.lstat(dest.name, dir_fd=out_fd)
        except FileNotFoundError:
            return "absent"
        if stat.S_ISLNK(info.st_mode):
            raise safe.refuse(dest, "is a symbolic link")
        found = _tree_edits(out_fd, dest.parent, dest.name) if stat.S_ISDIR(
            info.st_mode) else None
    if found is not None and not found[0]:
        _, recorded, modes = found
        same = wanted is not None and recorded == wanted.manifest() and modes == {
            path: wanted[path].mode for path in wanted}
        return "same" if same else "replace"
    if found is None:
        what = f"{dest} exists and was not written by tap2pkg"
    else:
        edited = found[0]
        shown = ", ".join(edited[:8]) + (", ..." if len(edited) > 8 else "")
        what = f"{dest} was edited by hand ({shown})"
    if not force:
        raise UsageError(f"{what}; rebuild it yourself, or pass --force to regenerate it "
                         "(the edited tree is then moved aside)")
    return "keep"


def backup_name(directory: Path, name: str) -> Path:
    """A fresh timestamped name beside name, for what is moved aside."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidate = directory / f"{name}.bak-{stamp}"
    serial = 1
    while os.path.lexists(candidate):
        serial += 1
        candidate = directory / f"{name}.bak-{stamp}-{serial}"
    return candidate


def publish_tree(new: Path, dest: Path, *, keep_old: bool, trash: Path) -> Path | None:
    """Move new into dest.  The old tree goes to a timestamped backup when keep_old,
    else into trash (removed with the workspace).  Returns the backup path, if any.
    rename() moves a link itself, never what it points to."""
    aside = backup_name(dest.parent, dest.name) if keep_old else trash / f"old-{dest.name}"
    try:
        os.rename(dest, aside)
    except FileNotFoundError:
        return _publish(new, dest, None)
    except OSError as exc:
        raise BuildError(f"cannot move {dest} aside: {exc.strerror}") from exc
    return _publish(new, dest, aside if keep_old else None)


def _publish(new: Path, dest: Path, backup: Path | None) -> Path | None:
    try:
        os.rename(new, dest)
    except OSError as exc:
        raise BuildError(f"cannot move the new tree into {dest}: {exc.strerror}") from exc
    return backup


MEMORY_DIR = Path("/dev/shm")  # tmpfs on Linux  # noqa: S108 - a private mkdtemp inside
MAX_MEMORY_STAGING = 32 * 1024 * 1024  # bytes of files; larger trees stay on disk
STAGE_PREFIX = "tap2pkg-stage-"


@contextmanager
def staging(size: int, fallback: Path) -> Iterator[Path]:
    """A private scratch directory for a tree that a tool only reads and that is thrown
    away after (dpkg-deb's package root): in memory when the tree is small (size bytes)
    and /dev/shm has room to spare, else under fallback (the workspace).  Written to a
    disk-backed file system, a small package's few dozen files and directories cost more
    than everything else the build does in Python (measured: 0.2-0.5 ms per file here).
    mkdtemp makes it 0700 under a fresh name, so nobody else can reach into it; like a
    workspace it is held with flock while it lives, and those of killed builds (whose lock
    is free) are removed by the next build that stages in memory."""
    base = fallback
    if size <= MAX_MEMORY_STAGING:
        try:
            room = os.statvfs(MEMORY_DIR)
            if room.f_bavail * room.f_frsize > 4 * size + MAX_MEMORY_STAGING:
                base = MEMORY_DIR
        except OSError:
            pass
    try:
        if base == MEMORY_DIR:
            remove_stale_workspaces(MEMORY_DIR, STAGE_PREFIX)
        path, lock = _locked_workspace(base, STAGE_PREFIX)
    except (OSError, BuildError, UsageError):
        if base == fallback:
            raise
        path, lock = _locked_workspace(fallback, STAGE_PREFIX)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        os.close(lock)


def publish_file(new: Path, dest: Path) -> Path:
    try:
        os.replace(new, dest)  # replaces a link at dest itself, never its target
    except OSError as exc:
        raise BuildError(f"cannot write {dest}: {exc.strerror}") from exc
    return dest

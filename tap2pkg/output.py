"""Atomic outputs: everything is built in a temporary directory inside the output
directory and renamed into place when complete, so a failed or killed build never leaves
a half-written artifact; and a source tree edited by hand is never overwritten silently."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tap2pkg.errors import UsageError
from tap2pkg.tree import edited_files

WORK_PREFIX = ".tap2pkg-work-"


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


def _owner_alive(work: Path) -> bool:
    pid_text = work.name.removeprefix(WORK_PREFIX).split("-", 1)[0]
    if not pid_text.isdigit():
        return True  # not ours to judge
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_workspaces(outdir: Path) -> None:
    """Remove scratch directories left by builds that were killed (their pid is gone);
    those of builds still running, into the same directory, are left alone."""
    for work in outdir.glob(f"{WORK_PREFIX}*"):
        if work.is_dir() and not _owner_alive(work):
            shutil.rmtree(work, ignore_errors=True)


@contextmanager
def workspace(outdir: Path) -> Iterator[Path]:
    """A scratch directory on the same file system as outdir (so renames are atomic)."""
    remove_stale_workspaces(outdir)
    try:
        work = Path(tempfile.mkdtemp(prefix=f"{WORK_PREFIX}{os.getpid()}-", dir=outdir))
    except OSError as exc:
        raise UsageError(f"cannot write to output directory {outdir}: {exc.strerror}",
                         "--output-dir") from exc
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def check_tree(dest: Path, *, force: bool) -> bool:
    """Refuse to replace a source tree edited by hand unless forced.

    Returns True when the existing tree must be kept as a backup (edited, or not ours)."""
    if not dest.exists():
        return False
    edited = edited_files(dest)
    if edited == []:
        return False
    if edited is None:
        what = f"{dest} exists and was not written by tap2pkg"
    else:
        shown = ", ".join(edited[:8]) + (", ..." if len(edited) > 8 else "")
        what = f"{dest} was edited by hand ({shown})"
    if not force:
        raise UsageError(f"{what}; rebuild it yourself, or pass --force to regenerate it "
                         "(the edited tree is then moved aside)")
    return True


def publish_tree(new: Path, dest: Path, *, keep_old: bool, trash: Path) -> Path | None:
    """Move new into dest.  The old tree goes to a timestamped backup when keep_old,
    else into trash (removed with the workspace).  Returns the backup path, if any."""
    backup = None
    if dest.exists():
        if keep_old:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            backup = dest.with_name(f"{dest.name}.bak-{stamp}")
            os.rename(dest, backup)
        else:
            os.rename(dest, trash / f"old-{dest.name}")
    os.rename(new, dest)
    return backup


def publish_file(new: Path, dest: Path) -> Path:
    os.replace(new, dest)
    return dest

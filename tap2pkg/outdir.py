"""Files inside an existing output directory, which tap2pkg does not trust.

Whoever could write there may have left symbolic links (rpmbuild/SPECS -> /etc), special
files, or a manifest naming files elsewhere.  Everything tap2pkg reads, moves or deletes
there is reached from a directory file descriptor one name at a time, never following a
symbolic link (O_NOFOLLOW, *at() calls), so a path cannot lead out of the directory even if
it changes meanwhile; a manifest naming anything but regular files inside is refused.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from tap2pkg.errors import UsageError

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO put in place of a file must not hang the build.
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC

MANIFEST_LIMIT = 4 << 20  # bytes: ours are a few hundred
WALK_LIMIT = 100_000  # entries in a tree walked for hand edits
DEPTH_LIMIT = 64
_HEX = frozenset("0123456789abcdef")

ADVICE = "tap2pkg follows no links in an output directory: remove it, or use another one"


def refuse(where: Path, what: str) -> UsageError:
    shown = str(where)
    if not shown.isprintable():  # names come from the directory: keep the message one line
        shown = repr(shown)
    return UsageError(f"{what}; {ADVICE}", key=shown)


def valid_relpath(path: object) -> bool:
    """A relative POSIX path that stays inside its directory: no '/' start, '..', '.',
    empty component or NUL."""
    return (isinstance(path, str) and 0 < len(path) <= 4096 and "\0" not in path
            and all(part not in ("", ".", "..") for part in path.split("/")))


def _why(dirfd: int, name: str) -> str:
    try:
        info = os.lstat(name, dir_fd=dirfd)
    except OSError:
        return "cannot be opened"
    if stat.S_ISLNK(info.st_mode):
        return "is a symbolic link"
    return "is not a directory" if not stat.S_ISDIR(info.st_mode) else "cannot be opened"


def _open_dirs(base_fd: int, base: Path, parts: list[str], *, create: bool) -> int:
    """A new fd for base/parts..., each component a real directory (made when create)."""
    fd = os.dup(base_fd)
    try:
        for i, part in enumerate(parts):
            if create:
                with suppress(FileExistsError):
                    os.mkdir(part, dir_fd=fd)
            try:
                child = os.open(part, _DIR, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ENOTDIR, errno.ELOOP):
                    raise refuse(base.joinpath(*parts[: i + 1]), _why(fd, part)) from None
                raise
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextmanager
def opened(path: Path) -> Iterator[int]:
    """An fd for a directory the user named (the output directory itself, or our own
    scratch directory): trusted as a path, reached normally."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield fd
    finally:
        os.close(fd)


@contextmanager
def subdir(base_fd: int, base: Path, rel: str) -> Iterator[int | None]:
    """base/rel as an fd, or None when it does not exist."""
    fd: int | None
    try:
        fd = _open_dirs(base_fd, base, rel.split("/"), create=False)
    except FileNotFoundError:
        fd = None
    try:
        yield fd
    finally:
        if fd is not None:
            os.close(fd)


@contextmanager
def made(base_fd: int, base: Path, rel: str) -> Iterator[int]:
    """base/rel as an fd, its missing directories made."""
    fd = _open_dirs(base_fd, base, rel.split("/"), create=True)
    try:
        yield fd
    finally:
        os.close(fd)


def lstat_at(base_fd: int, base: Path, rel: str) -> os.stat_result | None:
    """The entry at base/rel itself (a link is not followed), None when absent; refused
    when one of its parent directories is a link or not a directory."""
    *parents, name = rel.split("/")
    try:
        fd = _open_dirs(base_fd, base, parents, create=False)
    except FileNotFoundError:
        return None
    try:
        return os.lstat(name, dir_fd=fd)
    except FileNotFoundError:
        return None
    finally:
        os.close(fd)


def regular_file_digest(base_fd: int, base: Path, rel: str) -> str | None:
    """sha256 of the regular file base/rel, None when absent; refused when it or a parent
    directory is a link, or it is not a regular file."""
    fd = _open_file(base_fd, base, rel, "is a symbolic link")
    if fd is None:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise refuse(base / rel, "is not a regular file")
        digest = hashlib.sha256()
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
        return digest.hexdigest()


def _open_file(base_fd: int, base: Path, rel: str, link: str) -> int | None:
    """base/rel opened for reading, no link followed on the way (link: what a refusal of a
    link says); None when it or a parent directory is absent."""
    *parents, name = rel.split("/")
    try:
        dirfd = _open_dirs(base_fd, base, parents, create=False)
    except FileNotFoundError:
        return None
    try:
        return os.open(name, _FILE, dir_fd=dirfd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise refuse(base / rel, link) from None
        raise
    finally:
        os.close(dirfd)


def read_manifest(base_fd: int, base: Path, rel: str) -> dict[str, str] | None:
    """A manifest tap2pkg wrote: {relative path: sha256}.  None when absent.  Refused (one
    line) when it is a link, not a regular file, too big, not a manifest, or names a path
    that is absolute, holds '..', or is a link or a special file inside base."""
    where = base / rel
    fd = _open_file(base_fd, base, rel, "the manifest is a symbolic link")
    if fd is None:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise refuse(where, "the manifest is not a regular file")
        raw = handle.read(MANIFEST_LIMIT + 1)
    if len(raw) > MANIFEST_LIMIT:
        raise refuse(where, f"the manifest is over {MANIFEST_LIMIT} bytes")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        data = None
    if not isinstance(data, dict) or not all(
        isinstance(v, str) and len(v) == 64 and set(v) <= _HEX for v in data.values()
    ):
        raise refuse(where, "not a manifest written by tap2pkg (expected "
                            "{\"relative/path\": \"sha256\", ...})")
    for path in data:
        if not valid_relpath(path) or path == rel:
            raise refuse(where, f"the manifest names {path!r}, which is not a relative path "
                                "inside the directory")
        info = lstat_at(base_fd, base, path)
        if info is not None and not stat.S_ISREG(info.st_mode):
            kind = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a regular file"
            raise refuse(base / path, f"named by the manifest {where.name}, is {kind}")
    return data


def move(src_fd: int, src: Path, src_rel: str, *, dst_fd: int, dst: Path, dst_rel: str) -> None:
    """Rename src/src_rel to dst/dst_rel (replacing a file there), making dst's parent
    directories; rename itself never follows a link at either end."""
    *src_parents, src_name = src_rel.split("/")
    *dst_parents, dst_name = dst_rel.split("/")
    from_fd = _open_dirs(src_fd, src, src_parents, create=False)
    try:
        to_fd = _open_dirs(dst_fd, dst, dst_parents, create=True)
        try:
            os.replace(src_name, dst_name, src_dir_fd=from_fd, dst_dir_fd=to_fd)
        finally:
            os.close(to_fd)
    finally:
        os.close(from_fd)


def remove_file(base_fd: int, base: Path, rel: str) -> None:
    """Unlink base/rel when it is a regular file (a link there is refused, not followed)."""
    info = lstat_at(base_fd, base, rel)
    if info is None:
        return
    if not stat.S_ISREG(info.st_mode):
        raise refuse(base / rel, "is not a regular file")
    *parents, name = rel.split("/")
    fd = _open_dirs(base_fd, base, parents, create=False)
    try:
        os.unlink(name, dir_fd=fd)  # unlink removes a link itself, never what it points to
    except FileNotFoundError:
        pass
    finally:
        os.close(fd)


def walk(base_fd: int, base: Path) -> Iterator[tuple[str, os.stat_result]]:
    """Every entry under base that is not a directory, with its lstat; directories are
    entered through their fd, links are reported and never followed."""
    count = 0

    def entries(dirfd: int, prefix: str, depth: int) -> Iterator[tuple[str, os.stat_result]]:
        nonlocal count
        if depth > DEPTH_LIMIT:
            raise refuse(base / prefix, f"more than {DEPTH_LIMIT} directories deep")
        with os.scandir(dirfd) as scan:
            listing = sorted((entry.name, entry.stat(follow_symlinks=False)) for entry in scan)
        for name, info in listing:
            count += 1
            if count > WALK_LIMIT:
                raise refuse(base, f"holds more than {WALK_LIMIT} entries")
            if stat.S_ISDIR(info.st_mode):
                try:
                    fd = os.open(name, _DIR, dir_fd=dirfd)
                except OSError:  # replaced meanwhile: report it as what it is now
                    try:
                        now = os.lstat(name, dir_fd=dirfd)
                    except FileNotFoundError:
                        continue
                    yield prefix + name, now
                    continue
                try:
                    yield from entries(fd, f"{prefix}{name}/", depth + 1)
                finally:
                    os.close(fd)
            else:
                yield prefix + name, info

    yield from entries(base_fd, "", 0)


def write_new(base_fd: int, rel_name: str, data: bytes) -> None:
    """Create base/rel_name afresh (O_EXCL: nothing there is followed or reused)."""
    fd = os.open(rel_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o644, dir_fd=base_fd)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)

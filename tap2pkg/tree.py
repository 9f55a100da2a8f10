"""SourceTree: a rendered file tree held in memory (path -> text or bytes, mode).

Everything up to the build step produces SourceTrees, so the rendered packages can be
compared with golden files without dpkg or rpm.  Writing a tree to disk records a manifest
of what was generated, so a later run can tell a hand-edited tree from its own output
(tap2pkg.output reads it back, without trusting it).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

MANIFEST = ".tap2pkg-manifest.json"


@dataclass(frozen=True)
class TreeFile:
    data: bytes
    mode: int = 0o644

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


class SourceTree(Mapping[str, TreeFile]):
    """An ordered mapping of relative POSIX paths to files."""

    def __init__(self) -> None:
        self._files: dict[str, TreeFile] = {}

    def add(self, path: str, data: str | bytes, mode: int = 0o644) -> None:
        if path.startswith("/") or ".." in path.split("/"):
            raise ValueError(f"tree paths are relative and stay inside the tree: {path}")
        if isinstance(data, str):
            data = data.encode("utf-8")
        self._files[path] = TreeFile(data, mode)

    def __getitem__(self, path: str) -> TreeFile:
        return self._files[path]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._files))

    def __len__(self) -> int:
        return len(self._files)

    def text(self, path: str) -> str:
        return self._files[path].data.decode("utf-8")

    def size(self) -> int:
        """Bytes of all the files."""
        return sum(len(item.data) for item in self._files.values())

    def manifest(self) -> dict[str, str]:
        return {path: self._files[path].sha256 for path in self}

    def write(self, dest: Path, *, with_manifest: bool = True) -> None:
        """Write every file under dest (which should be new and empty).  Each directory is
        made once and each file created exclusively (never through a link planted there),
        with its mode set on the open descriptor: no path is looked up twice."""
        dest.mkdir(parents=True, exist_ok=True)
        made: set[str] = set()
        for path in self:
            item = self._files[path]
            parent = path.rpartition("/")[0]
            if parent and parent not in made:
                (dest / parent).mkdir(parents=True, exist_ok=True)
                made.update(parent[:i] for i, c in enumerate(parent + "/") if c == "/")
            _write_new(dest / path, item.data, item.mode)
        if with_manifest:
            manifest = json.dumps(self.manifest(), indent=1, sort_keys=True) + "\n"
            _write_new(dest / MANIFEST, manifest.encode("utf-8"), 0o644)


_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _write_new(target: Path, data: bytes, mode: int) -> None:
    fd = os.open(target, _NEW_FILE, 0o600)
    try:
        with os.fdopen(fd, "wb", closefd=False) as stream:
            stream.write(data)
        os.fchmod(fd, mode)  # exactly mode, whatever the umask
    finally:
        os.close(fd)

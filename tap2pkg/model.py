"""The data model that flows through the pipeline: AppInfo (what the loader read) and
PackageSpec (validated, format-neutral description of the package to make)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Protocol

from tap2pkg.targets import TARGETS, Target


class AppKind(StrEnum):
    """Kinds of application file, named as the original tools' ``--type`` values."""

    PYTHON = "python"
    TAP = "tap"
    SOURCE = "source"
    XML = "xml"

    @property
    def twistd_option(self) -> str:
        """The twistd option that loads this kind (XML is converted to AOT source)."""
        return {"python": "python", "tap": "file", "source": "source", "xml": "source"}[
            self.value
        ]


@dataclass(frozen=True)
class AppInfo:
    """What the loader learned from an application file, without running it."""

    kind: AppKind
    filename: str  # base name as found on disk
    content: bytes  # the bytes to install
    app_name: str | None = None  # Application("name", ...)
    uid: int | None = None
    gid: int | None = None
    endpoints: tuple[str, ...] = ()  # strports-style descriptions, e.g. "tcp:8080"
    warnings: tuple[str, ...] = ()
    # Modules the app needs, as dotted names: what a .tac imports (top level and inside
    # functions), and the modules of classes from outside twisted.* in a .tap/.tas/.tax.
    imports: tuple[str, ...] = ()
    # A file converted for twistd (.tax -> .tas) keeps its original: (base name, bytes),
    # installed beside the converted one for reference.
    original: tuple[str, bytes] | None = None

    @property
    def twistd_option(self) -> str:
        return self.kind.twistd_option


INIT_SYSTEMS = ("systemd", "sysv")


class Artifacts(Protocol):
    """What a backend's build returns: the paths it wrote, and a backup of a hand-edited
    source tree it moved aside (with --force), if any."""

    @property
    def backup(self) -> Path | None: ...

    def paths(self) -> list[Path]: ...


@dataclass(frozen=True)
class PackageSpec:
    """Everything a backend needs to make a package; knows no package format."""

    name: str
    version: str
    maintainer: str
    protocol: str
    summary: str
    long_description: str  # free text, lines separated by "\n"; backends fold it
    app: AppInfo
    app_filename: str  # installed as /etc/<name>/<app_filename>
    user: str
    group: str
    twistd: str  # absolute path of twistd on the target
    init_systems: tuple[str, ...]  # subset of INIT_SYSTEMS, in that order
    depends: tuple[str, ...] = ()
    license: str | None = None
    url: str | None = None
    timestamp: int = 0  # seconds since the epoch (SOURCE_DATE_EPOCH or now)
    tool: str = "tap2deb"  # which command made it, for changelogs and descriptions
    target: Target = TARGETS["debian-12"]  # the release the package is made for

    @property
    def conf_dir(self) -> PurePosixPath:
        return PurePosixPath("/etc") / self.name

    @property
    def app_path(self) -> PurePosixPath:
        return self.conf_dir / self.app_filename

    @property
    def state_dir(self) -> PurePosixPath:
        return PurePosixPath("/var/lib") / self.name

    @property
    def log_dir(self) -> PurePosixPath:
        """Where packages made before logs went to syslog/the journal kept the SysV log;
        only purged now."""
        return PurePosixPath("/var/log") / self.name

    @property
    def log_file(self) -> PurePosixPath:
        return self.log_dir / f"{self.name}.log"

    @property
    def run_dir(self) -> PurePosixPath:
        """The SysV pidfile's directory: root's, so the service user cannot plant links."""
        return PurePosixPath("/run") / self.name

    @property
    def pid_file(self) -> PurePosixPath:
        return self.run_dir / f"{self.name}.pid"

    @property
    def libexec_dir(self) -> PurePosixPath:
        """Programs the service files run (FHS 3.0 /usr/libexec, which Debian and the RPM
        distributions both accept)."""
        return PurePosixPath("/usr/libexec") / self.name

    @property
    def ready_path(self) -> PurePosixPath:
        """The readiness check run after twistd starts (ExecStartPost=, the init scripts)."""
        return self.libexec_dir / "ready"

    @property
    def twistd_option(self) -> str:
        return self.app.twistd_option

    @property
    def systemd(self) -> bool:
        return "systemd" in self.init_systems

    @property
    def sysv(self) -> bool:
        return "sysv" in self.init_systems

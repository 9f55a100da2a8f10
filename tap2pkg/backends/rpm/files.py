"""What the package installs, as one list of entries from which the spec's %install and
%files sections are written (and which tests compare with the built .rpm)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from tap2pkg.model import AppKind, PackageSpec

# Red Hat's init script directory, written out: Debian's rpm sets %_initddir to
# /etc/init.d, and the package must not depend on where it was built.
INITD_DIR = "%{_sysconfdir}/rc.d/init.d"
# The directories as spec macros, and where they point on Fedora and RHEL.  The spec
# defines the systemd ones itself when the build host's rpm does not (Debian's).
DIRS = {
    "%{_sysconfdir}": "/etc",
    INITD_DIR: "/etc/rc.d/init.d",
    "%{_unitdir}": "/usr/lib/systemd/system",
    "%{_sysusersdir}": "/usr/lib/sysusers.d",
    "%{_localstatedir}": "/var",
    # The readiness check's directory, written out: SUSE's %{_libexecdir} is /usr/lib,
    # and the unit and init script name /usr/libexec on every distribution.
    "%{_prefix}/libexec": "/usr/libexec",
    "%{_docdir}": "/usr/share/doc",
    "": "",
}
SUBPACKAGE_SYSV = "sysvinit"
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


class Kind(StrEnum):
    FILE = "file"
    CONFIG = "config"  # %config(noreplace): an edited copy survives upgrades
    DOC = "doc"
    DIR = "dir"
    GHOST = "ghost"  # created at run time; owned so that erase removes it
    GHOST_DIR = "ghost-dir"


@dataclass(frozen=True)
class Entry:
    root: str  # a key of DIRS
    rel: str  # below root, with %{name} standing for the package name
    kind: Kind
    mode: int
    source: str | None = None  # file of the source tarball installed here
    owner: str = "root"
    group: str = "root"
    subpackage: str | None = None  # None: the main package

    @property
    def spec_path(self) -> str:
        return f"{self.root}/{self.rel}"

    def path(self, spec: PackageSpec) -> str:
        """The absolute path on the target."""
        return f"{DIRS[self.root]}/{self.rel}".replace("%{name}", spec.name)


def sources(spec: PackageSpec) -> dict[str, str]:
    """Names of the files in the source tarball, by role."""
    names = {
        "app": spec.app_filename,
        "sysconfig": f"{spec.name}.sysconfig",
        "service": f"{spec.name}.service",
        "init": f"{spec.name}.init",
        "sysusers": f"{spec.name}.sysusers",
        "readme": "README",
        "ready": f"{spec.name}.ready",
    }
    if spec.app.original is not None:  # e.g. the .tax a .tas was converted from
        names["original"] = spec.app.original[0]
    return names


def sysv_subpackage(spec: PackageSpec) -> str | None:
    """Fedora: when a package ships a unit and an init script, the script goes into a
    -sysvinit subpackage."""
    return SUBPACKAGE_SYSV if spec.sysv and spec.systemd else None


def shutdown_file(spec: PackageSpec) -> str | None:
    """twistd saves the application as <appname>-shutdown.tap (.tas for AOT source)
    in its run directory when it stops; None when the name is unknown or odd."""
    name = spec.app.app_name
    if name is None or not _SAFE_NAME.fullmatch(name):
        return None
    ext = "tas" if spec.app.kind in (AppKind.SOURCE, AppKind.XML) else "tap"
    return f"{name}-shutdown.{ext}"


def entries(spec: PackageSpec) -> list[Entry]:
    src = sources(spec)
    user, group = spec.user, spec.group
    found = [
        Entry("%{_sysconfdir}", "%{name}", Kind.DIR, 0o755),
        Entry("%{_sysconfdir}", f"%{{name}}/{src['app']}", Kind.CONFIG, 0o644, src["app"]),
        *(
            [Entry("%{_sysconfdir}", f"%{{name}}/{src['original']}", Kind.CONFIG, 0o644,
                   src["original"])]
            if "original" in src else []
        ),
        Entry("%{_sysconfdir}", "sysconfig/%{name}", Kind.CONFIG, 0o644, src["sysconfig"]),
    ]
    if spec.systemd:
        found.append(
            Entry("%{_unitdir}", "%{name}.service", Kind.FILE, 0o644, src["service"])
        )
    found += [
        # The readiness check the unit (ExecStartPost=) and the init script run.
        Entry("%{_prefix}/libexec", "%{name}", Kind.DIR, 0o755),
        Entry("%{_prefix}/libexec", "%{name}/ready", Kind.FILE, 0o755, src["ready"]),
        Entry("%{_sysusersdir}", "%{name}.conf", Kind.FILE, 0o644, src["sysusers"]),
        # 0755 as rpmlint wants (non-standard-dir-perm is an error); twistd creates its
        # files with its own umask anyway.
        Entry("%{_localstatedir}", "lib/%{name}", Kind.DIR, 0o755, owner=user, group=group),
        Entry("%{_docdir}", "%{name}/README", Kind.DOC, 0o644, src["readme"]),
    ]
    shutdown = shutdown_file(spec)
    if shutdown is not None:
        found.append(
            Entry("%{_localstatedir}", f"lib/%{{name}}/{shutdown}", Kind.GHOST, 0o644,
                  owner=user, group=group)
        )
    if spec.sysv:
        sub = sysv_subpackage(spec)
        found += [
            Entry(INITD_DIR, "%{name}", Kind.FILE, 0o755, src["init"], subpackage=sub),
            # The init script logs to syslog (systemd: the journal), so there is no log
            # directory the service user could fill with links for root to follow.
            # The pidfile, written by twistd as root into root's directory.
            Entry("", "run/%{name}", Kind.GHOST_DIR, 0o755, subpackage=sub),
            Entry("", "run/%{name}/%{name}.pid", Kind.GHOST, 0o644, subpackage=sub),
        ]
    return found


def install_lines(found: list[Entry]) -> list[str]:
    """%install: copy each file of the tarball to its place; make the directories."""
    lines = []
    for entry in found:
        target = f"%{{buildroot}}{entry.spec_path}"
        if entry.source is not None:
            lines.append(f"install -D -p -m {entry.mode:04o} {entry.source} {target}")
        elif entry.kind is Kind.DIR:
            lines.append(f"install -d -m {entry.mode:04o} {target}")
    return lines


def files_lines(found: list[Entry], subpackage: str | None) -> list[str]:
    """One %files section.  Owners and modes are set with %attr, so a build by any user
    gives the same package; %doc takes full paths, as a bare name would follow the build
    host's %_docdir_fmt (Debian's rpm: <name>-<version>)."""
    lines = []
    for entry in found:
        if entry.subpackage != subpackage:
            continue
        attr = f"%attr({entry.mode:04o},{entry.owner},{entry.group})"
        prefix = {
            Kind.FILE: attr,
            Kind.CONFIG: f"%config(noreplace) {attr}",
            Kind.DOC: f"%doc {attr}",
            Kind.DIR: f"%dir {attr}",
            Kind.GHOST: f"%ghost {attr}",
            Kind.GHOST_DIR: f"%ghost %dir {attr}",
        }[entry.kind]
        lines.append(f"{prefix} {entry.spec_path}")
    return lines

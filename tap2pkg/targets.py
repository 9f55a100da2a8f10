"""Target releases as data: what differs between the distributions tap2pkg packages for.

Backends and templates read a Target; nothing else in tap2pkg branches on a release name.
Each profile records what that release ships (the values are the distribution's own; see
the comments for where each was read) and what could be run here to check it (``verified``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Target:
    """One release family a package is built for."""

    name: str  # "debian-12": what --target takes
    family: str  # "deb" or "rpm": which backend makes its packages
    distro: str  # "debian", "ubuntu", "fedora", "el", "opensuse"
    release: str  # "12", "24.04", "9", "15.6", "" (rolling)
    codename: str  # "bookworm"; "" where the distribution has none
    unit_dir: str  # where units live, absolute
    twistd: str  # twistd of the distribution's Twisted
    twisted_depends: str  # the dependency that brings the distribution's Twisted
    twisted_version: str  # the Twisted the release ships, "major.minor"
    python: str  # the distribution's python3, "major.minor": what bundles are built for
    glibc: str  # "major.minor": the newest manylinux wheels a bundle may take
    init_systems: tuple[str, ...]  # the default --init
    debhelper_compat: int = 0  # deb: the compat level of debian/control
    rpm_version: tuple[int, int] = (0, 0)  # rpm: the release's rpm, for feature choices
    macro_flavour: str = ""  # rpm: "fedora", "suse"; "" for deb targets
    lint: str = ""  # the lint tool and version its packages are judged by
    verified: str = ""  # what was run here for this target (the rest is on paper)

    @property
    def sysusers(self) -> bool:
        """rpm >= 4.19 turns a sysusers.d file into user()/group() provides and creates the
        users itself; older rpm needs a %pre scriptlet."""
        return self.family == "rpm" and self.rpm_version >= (4, 19)


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(
            name="debian-12", family="deb", distro="debian", release="12",
            codename="bookworm", unit_dir="/lib/systemd/system", twistd="/usr/bin/twistd3",
            twisted_depends="python3-twisted", twisted_version="22.4", python="3.11",
            glibc="2.36", init_systems=("systemd", "sysv"), debhelper_compat=13,
            lint="lintian 2.116", verified="built, linted, installed and run here",
        ),
        Target(
            # debhelper >= 13.11.8 installs units under /usr/lib; trixie's lintian calls
            # /lib an aliased location (an error).
            name="debian-13", family="deb", distro="debian", release="13",
            codename="trixie", unit_dir="/usr/lib/systemd/system", twistd="/usr/bin/twistd3",
            twisted_depends="python3-twisted", twisted_version="24.11", python="3.13",
            glibc="2.41", init_systems=("systemd", "sysv"), debhelper_compat=13,
            lint="lintian 2.122", verified="built, linted, installed and run in a root here",
        ),
        Target(
            name="ubuntu-22.04", family="deb", distro="ubuntu", release="22.04",
            codename="jammy", unit_dir="/lib/systemd/system", twistd="/usr/bin/twistd3",
            twisted_depends="python3-twisted", twisted_version="22.1", python="3.10",
            glibc="2.35", init_systems=("systemd",), debhelper_compat=13,
            lint="lintian 2.114", verified="on paper",
        ),
        Target(
            name="ubuntu-24.04", family="deb", distro="ubuntu", release="24.04",
            codename="noble", unit_dir="/usr/lib/systemd/system", twistd="/usr/bin/twistd3",
            twisted_depends="python3-twisted", twisted_version="24.3", python="3.12",
            glibc="2.39", init_systems=("systemd",), debhelper_compat=13,
            lint="lintian 2.117", verified="on paper",
        ),
        Target(
            name="fedora", family="rpm", distro="fedora", release="",
            codename="", unit_dir="/usr/lib/systemd/system", twistd="/usr/bin/twistd",
            twisted_depends="python3dist(twisted)", twisted_version="24.11", python="3.14",
            glibc="2.42", init_systems=("systemd",), rpm_version=(4, 20),
            macro_flavour="fedora", lint="rpmlint 2.7",
            verified="rpmspec -P under Fedora's macros; built and installed with rpm 4.20",
        ),
        Target(
            name="el8", family="rpm", distro="el", release="8",
            codename="", unit_dir="/usr/lib/systemd/system", twistd="/usr/bin/twistd",
            twisted_depends="python3-twisted", twisted_version="19.10", python="3.6",
            glibc="2.28", init_systems=("systemd",), rpm_version=(4, 14),
            macro_flavour="fedora", lint="rpmlint 1.10", verified="on paper",
        ),
        Target(
            name="el9", family="rpm", distro="el", release="9",
            codename="", unit_dir="/usr/lib/systemd/system", twistd="/usr/bin/twistd",
            twisted_depends="python3dist(twisted)", twisted_version="22.10", python="3.9",
            glibc="2.34", init_systems=("systemd",), rpm_version=(4, 16),
            macro_flavour="fedora", lint="rpmlint 2.4", verified="on paper",
        ),
        Target(
            name="opensuse-leap-15.6", family="rpm", distro="opensuse", release="15.6",
            codename="", unit_dir="/usr/lib/systemd/system", twistd="/usr/bin/twistd",
            twisted_depends="python3dist(twisted)", twisted_version="22.10", python="3.6",
            glibc="2.38", init_systems=("systemd",), rpm_version=(4, 14),
            macro_flavour="suse", lint="rpmlint 1.11", verified="on paper",
        ),
        Target(
            name="opensuse-tumbleweed", family="rpm", distro="opensuse", release="",
            codename="", unit_dir="/usr/lib/systemd/system", twistd="/usr/bin/twistd",
            twisted_depends="python3dist(twisted)", twisted_version="24.11", python="3.13",
            glibc="2.42", init_systems=("systemd",), rpm_version=(4, 20),
            macro_flavour="suse", lint="rpmlint 2.7", verified="on paper",
        ),
    )
}

# What a build targets when --target is not given and the build host is no known release.
NEWEST = {"deb": "debian-13", "rpm": "fedora"}


def _host_release(os_release: Path) -> str | None:
    """The build host's release as a target name, if /etc/os-release names a known one."""
    try:
        text = os_release.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    fields = dict(
        line.split("=", 1) for line in text.splitlines() if "=" in line and line[:1] != "#"
    )
    ident = fields.get("ID", "").strip('"')
    version = fields.get("VERSION_ID", "").strip('"')
    name = f"{ident}-{version}" if version else ident
    return name if name in TARGETS else None


def default_target(family: str, os_release: Path = Path("/etc/os-release")) -> Target:
    """The build host's release when it is a known one of this family, else the newest."""
    host = _host_release(os_release)
    if host is not None and TARGETS[host].family == family:
        return TARGETS[host]
    return TARGETS[NEWEST[family]]


def lookup(name: str, family: str) -> Target:
    """The target called name, for a backend of this family; ValueError names the choices."""
    target = TARGETS.get(name)
    choices = ", ".join(n for n, t in TARGETS.items() if t.family == family)
    if target is None or target.family != family:
        raise ValueError(f"{name!r} is not a {family} target; choose one of: {choices}")
    return target

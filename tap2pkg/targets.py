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
    # How the service user is made: "adduser" (deb postinst), "sysusers" (a sysusers.d
    # file: rpm >= 4.19 creates the user and turns it into user()/group() provides) or
    # "useradd" (a %pre scriptlet, where rpm is older).
    user_creation: str = "adduser"
    debhelper_compat: int = 0  # deb: the compat level of debian/control
    debhelper: str = ""  # deb: the release's debhelper (>= 13.11.8 installs units in /usr/lib)
    rpm_version: tuple[int, int] = (0, 0)  # the release's rpm, for feature choices
    macro_flavour: str = ""  # rpm: "fedora", "suse"; "" for deb targets
    lint: str = ""  # the lint tool and version its packages are judged by
    # Findings that release's lint tool raises on what a careless package would do, and
    # that tap2pkg's packages must not draw there (documented so a golden test can hold
    # the release to it; overridden tags are listed in the package with their reason).
    lint_expects: tuple[str, ...] = ()
    verified: str = ""  # what was run here for this target (the rest is on paper)

    @property
    def sysusers(self) -> bool:
        """rpm >= 4.19 turns a sysusers.d file into user()/group() provides and creates the
        users itself; older rpm needs a %pre scriptlet."""
        return self.user_creation == "sysusers"


# Where each value comes from.  "measured" = read on this machine (Debian 12 host, and the
# Debian 13 root cached by tests/debroot.py: dpkg-query in the root, 2026-12-01); web pages
# are the distributions' own package indexes, read through the search tool on 2026-12-01.
#   [deb-twisted] https://packages.debian.org/python3-twisted (bookworm 22.4.0-4+deb12u1,
#                 trixie 24.11.0-1)
#   [ubu-twisted] https://packages.ubuntu.com/search?keywords=python3-twisted (jammy
#                 22.1.0-2ubuntu2.7, noble 24.3.0-1ubuntu0.2)
#   [ubu-lintian] https://packages.ubuntu.com/source/jammy/lintian (2.114.0ubuntu1),
#                 https://packages.ubuntu.com/source/noble/lintian (2.117.0ubuntu1, which
#                 build-depends on debhelper (>= 13.11.8~): noble's debhelper installs units
#                 under /usr/lib)
#   [ubu-dh]      https://packages.ubuntu.com/jammy/debhelper (13.6ubuntu1: < 13.11.8, /lib)
#   [fed-twisted] https://packages.fedoraproject.org/pkgs/python-twisted/python3-twisted/
#                 (Fedora 43 and 44 25.5.0-4, Fedora 42 24.11.0-1, EPEL 9 22.10.0-3.el9,
#                 EPEL 8 19.10.0-4.el8; provides python3dist(twisted))
#   [fed-rpmlint] https://packages.fedoraproject.org/pkgs/rpmlint/rpmlint/ (Fedora 43/44
#                 2.8.0)
#   [fed-rpm6]    https://linuxiac.com/fedora-43-ushers-in-rpm-6-introduces-new-project-leader/
#                 (FESCo approved rpm 6.0 for Fedora 43; v4 packages still generated)
#   [fed-py314]   https://fedoraproject.org/wiki/Changes/Python3.14 (Fedora 43)
#   [suse-leap]   https://build.opensuse.org/package/show/openSUSE:Leap:15.6:ARM/
#                 python3-Twisted.34928 (Twisted-22.2.0.tar.gz, for Leap's python3 3.6)
#   [suse-tw]     https://software.opensuse.org/package/python-Twisted (devel:languages:python,
#                 the Factory devel project: 25.5.0)
# Values marked "unverified" were not found in what the search tool holds: they are the
# releases' well-known defaults, to be checked on the release before relying on them.
TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(
            # measured on the host: python3 3.11.2, libc6 2.36, debhelper 13.11.4 (< 13.11.8:
            # units in /lib), lintian 2.116.3, rpm 4.18.0, rpmlint 2.4.0, /usr/bin/twistd3
            # only; python3-twisted 22.4.0 [deb-twisted].
            name="debian-12", family="deb", distro="debian", release="12",
            codename="bookworm", unit_dir="/lib/systemd/system", twistd="/usr/bin/twistd3",
            twisted_depends="python3-twisted", twisted_version="22.4", python="3.11",
            glibc="2.36", init_systems=("systemd", "sysv"), user_creation="adduser",
            debhelper_compat=13, debhelper="13.11.4",
            lint="lintian 2.116",
            lint_expects=("skip-systemd-native-flag-missing-pre-depends",
                          "missing-systemd-service-for-init.d-script"),
            verified="built, lintian 2.116; SysV and systemd lifecycles in Debian 12 roots",
        ),
        Target(
            # measured in the Debian 13 root: python3 3.13.5, libc6 2.41, debhelper 13.24.2
            # (>= 13.11.8: units in /usr/lib; trixie's lintian calls /lib an aliased
            # location, an error), lintian 2.122.0, rpm 4.20.1, rpmlint 2.7.0,
            # python3-twisted 24.11.0 [deb-twisted], /usr/bin/twistd3 only.
            name="debian-13", family="deb", distro="debian", release="13",
            codename="trixie", unit_dir="/usr/lib/systemd/system", twistd="/usr/bin/twistd3",
            twisted_depends="python3-twisted", twisted_version="24.11", python="3.13",
            glibc="2.41", init_systems=("systemd", "sysv"), user_creation="adduser",
            debhelper_compat=13, debhelper="13.24.2",
            lint="lintian 2.122",
            lint_expects=("aliased-location", "missing-systemd-service-for-init.d-script"),
            verified=("built, trixie's lintian 2.122 and dpkg-buildpackage; SysV and systemd "
                      "lifecycles in Debian 13 roots"),
        ),
        Target(
            # python3-twisted 22.1.0 [ubu-twisted]; debhelper 13.6 [ubu-dh] (units in /lib);
            # lintian 2.114 [ubu-lintian]; python3 3.10 and glibc 2.35: unverified.
            # twistd3 only: Ubuntu builds Debian's twisted source (unverified for jammy).
            name="ubuntu-22.04", family="deb", distro="ubuntu", release="22.04",
            codename="jammy", unit_dir="/lib/systemd/system", twistd="/usr/bin/twistd3",
            twisted_depends="python3-twisted", twisted_version="22.1", python="3.10",
            glibc="2.35", init_systems=("systemd",), user_creation="adduser",
            debhelper_compat=13, debhelper="13.6", lint="lintian 2.114",
            verified="built here (.changes for Launchpad); lint and install on paper",
        ),
        Target(
            # python3-twisted 24.3.0 [ubu-twisted]; lintian 2.117 [ubu-lintian], whose build
            # needs debhelper >= 13.11.8, so units go to /usr/lib; python3 3.12 and glibc
            # 2.39: unverified.
            name="ubuntu-24.04", family="deb", distro="ubuntu", release="24.04",
            codename="noble", unit_dir="/usr/lib/systemd/system", twistd="/usr/bin/twistd3",
            twisted_depends="python3-twisted", twisted_version="24.3", python="3.12",
            glibc="2.39", init_systems=("systemd",), user_creation="adduser",
            debhelper_compat=13, debhelper=">= 13.11.8", lint="lintian 2.117",
            verified="built here (.changes for Launchpad); lint and install on paper",
        ),
        Target(
            # Fedora 43/44 (the current releases): python3-twisted 25.5.0 providing
            # python3dist(twisted) [fed-twisted]; python 3.14 [fed-py314]; rpm 6.0
            # [fed-rpm6] (>= 4.19: sysusers); rpmlint 2.8.0 [fed-rpmlint]; glibc 2.42 and
            # /usr/bin/twistd: unverified.
            name="fedora", family="rpm", distro="fedora", release="",
            codename="", unit_dir="/usr/lib/systemd/system", twistd="/usr/bin/twistd",
            twisted_depends="python3dist(twisted)", twisted_version="25.5", python="3.14",
            glibc="2.42", init_systems=("systemd",), user_creation="sysusers",
            rpm_version=(6, 0), macro_flavour="fedora", lint="rpmlint 2.8",
            lint_expects=("no-%check-section",),
            verified=("rpmspec -P under Fedora's macros; built, rpmlint 2.7 and rpm -i with "
                      "rpm 4.20 (Debian 13 root)"),
        ),
        Target(
            # EPEL 8 python3-twisted 19.10.0 [fed-twisted]; python 3.6, rpm 4.14 (< 4.19:
            # %pre useradd), glibc 2.28, rpmlint 1.10: unverified.
            name="el8", family="rpm", distro="el", release="8",
            codename="", unit_dir="/usr/lib/systemd/system", twistd="/usr/bin/twistd",
            twisted_depends="python3-twisted", twisted_version="19.10", python="3.6",
            glibc="2.28", init_systems=("systemd",), user_creation="useradd",
            rpm_version=(4, 14), macro_flavour="fedora", lint="rpmlint 1.10",
            verified="rpmspec -P under its macros; built and rpmlint 2.4 with rpm 4.18",
        ),
        Target(
            # EPEL 9 python3-twisted 22.10.0 [fed-twisted], built for python 3.9 (EPEL 9's
            # packages provide python3.9dist(...)); rpm 4.16 (< 4.19: %pre useradd), glibc
            # 2.34: unverified.
            name="el9", family="rpm", distro="el", release="9",
            codename="", unit_dir="/usr/lib/systemd/system", twistd="/usr/bin/twistd",
            twisted_depends="python3dist(twisted)", twisted_version="22.10", python="3.9",
            glibc="2.34", init_systems=("systemd",), user_creation="useradd",
            rpm_version=(4, 16), macro_flavour="fedora", lint="rpmlint 2.4",
            verified="rpmspec -P under its macros; built and rpmlint 2.4 with rpm 4.18",
        ),
        Target(
            # python3-Twisted 22.2.0 for Leap's python3 (3.6) [suse-leap]; rpm 4.14 (< 4.19:
            # %pre useradd), glibc 2.38, rpmlint 1.11 and the python3dist(twisted) provide:
            # unverified.
            name="opensuse-leap-15.6", family="rpm", distro="opensuse", release="15.6",
            codename="", unit_dir="/usr/lib/systemd/system", twistd="/usr/bin/twistd",
            twisted_depends="python3dist(twisted)", twisted_version="22.2", python="3.6",
            glibc="2.38", init_systems=("systemd",), user_creation="useradd",
            rpm_version=(4, 14), macro_flavour="suse", lint="rpmlint 1.11",
            verified="rpmspec -P under its macros; built and rpmlint 2.4 with rpm 4.18",
        ),
        Target(
            # Twisted 25.5.0 in devel:languages:python [suse-tw]; python 3.13, rpm 4.20
            # (>= 4.19: sysusers), glibc 2.42, rpmlint 2.7: unverified.
            name="opensuse-tumbleweed", family="rpm", distro="opensuse", release="",
            codename="", unit_dir="/usr/lib/systemd/system", twistd="/usr/bin/twistd",
            twisted_depends="python3dist(twisted)", twisted_version="25.5", python="3.13",
            glibc="2.42", init_systems=("systemd",), user_creation="sysusers",
            rpm_version=(4, 20), macro_flavour="suse", lint="rpmlint 2.7",
            lint_expects=("no-%check-section",),
            verified=("rpmspec -P under openSUSE's macros; built, rpmlint 2.7 and rpm -i "
                      "with rpm 4.20 (Debian 13 root)"),
        ),
    )
}

# What a build targets when --target is not given and the build host is no known release.
NEWEST = {"deb": "debian-13", "rpm": "fedora"}


# os-release IDs of the RHEL rebuilds and CentOS Stream: one "el<major>" target for all.
_EL_IDS = ("rhel", "centos", "rocky", "almalinux", "ol")


def _host_release(os_release: Path) -> str | None:
    """The build host's release as a target name, if os-release(5) names a known one:
    ID and VERSION_ID, with Fedora and Tumbleweed rolling (any version) and RHEL and its
    rebuilds by major version."""
    try:
        text = os_release.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    fields = {
        key.strip(): value.strip().strip("\"'")
        for key, _, value in (line.partition("=") for line in text.splitlines())
        if value and not key.lstrip().startswith("#")
    }
    ident = fields.get("ID", "")
    version = fields.get("VERSION_ID", "")
    if ident in ("fedora", "opensuse-tumbleweed"):
        name = ident
    elif ident in _EL_IDS:
        name = f"el{version.split('.', 1)[0]}"
    else:
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

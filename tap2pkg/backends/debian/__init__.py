"""Debian backend: an editable source package (debian/, .dsc, tarball) and a .deb."""

from __future__ import annotations

from tap2pkg import validate
from tap2pkg.errors import UsageError
from tap2pkg.spec import Conventions


def package_name(value: str, key: str = "--debfile") -> str:
    """A Debian package name that lintian does not read as something else: "-dbgsym" is
    what debhelper names automatic debug-symbol packages (debian-control-has-dbgsym-package,
    an error).  Other suffixes (-dev, -doc, -dbg, -common, -data) draw nothing from
    lintian 2.116 (tests/test_lint_names.py)."""
    name = validate.deb_name(value, key)
    if name.endswith("-dbgsym"):
        raise UsageError(f"{value!r} ends in -dbgsym, the name Debian gives automatic "
                         "debug-symbol packages: choose another", key)
    return name


CONVENTIONS = Conventions(
    tool="tap2deb",
    family="deb",
    package_option="--debfile",
    summary_template="A Twisted-based server for {protocol}",
    default_maintainer=None,
    default_twistd="/usr/bin/twistd3",  # Debian 12's python3-twisted ships only twistd3
    default_init="systemd,sysv",
    init_systems=("systemd", "sysv"),
    user_prefix="_",  # Debian Policy 9.2.1: new system user names start with "_"
    check_name=package_name,
    check_version=validate.deb_package_version,
    check_maintainer=validate.maintainer,
    check_dependency=validate.deb_dependency,
)

# Where Debian 12 puts things.
DEFAULTS_DIR = "etc/default"
BASE_DEPENDS = ("python3-twisted", "adduser")
# dh_installinit (compat 13) calls invoke-rc.d --skip-systemd-native.
INIT_PRE_DEPENDS = ("init-system-helpers (>= 1.54~)",)

"""RPM backend: an editable .spec with its source tarball, built into an .rpm and a
.src.rpm by rpmbuild."""

from __future__ import annotations

from tap2pkg import validate
from tap2pkg.backends.rpm.preamble import rpm_dependency
from tap2pkg.spec import Conventions

CONVENTIONS = Conventions(
    tool="tap2rpm",
    family="rpm",
    package_option="--rpmfile",
    summary_template="A TCP server for {protocol}",
    default_maintainer="tap2rpm",
    default_twistd="/usr/bin/twistd",  # Fedora's and RHEL's python3-twisted
    default_init="systemd",  # Fedora's rpmlint treats SysV init scripts as errors
    init_systems=("systemd", "sysv"),
    user_prefix="",
    check_name=validate.rpm_name,
    check_version=validate.rpm_epoch_version,  # -V 2:1.0 gives Epoch: 2
    # The original tap2rpm took any text (its default is "tap2rpm"): no e-mail required.
    check_maintainer=validate.one_line,
    check_dependency=rpm_dependency,
    # Never shorter than the summary (rpmlint: description-shorter-than-summary).
    long_description_template=("Runs the Twisted application {app} as a system service: "
                               "{summary}.\n\nAutomatically created by {tool}."),
)

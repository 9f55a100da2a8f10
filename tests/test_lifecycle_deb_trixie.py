"""The SysV lifecycle of tests/test_lifecycle_deb.py on Debian 13 (trixie): the same tests,
run on a trixie root with sysvinit-core as its init (what a SysV user of trixie installs;
trixie's default is systemd) and packages built with --target debian-13.  Trixie has no
lsb-base: the init script's /lib/lsb/init-functions comes from sysvinit-utils (Essential,
it Provides lsb-base), and the package Pre-Depends only on init-system-helpers.

The root is cached in ~/.cache/tap2pkg beside the Debian 12 one (tests/debroot.py) and runs
in a network namespace of its own, so CI runs this file in its Debian 13 job, beside the
Debian 12 SysV suite whose services use the same ports.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.debroot import SYSV, DebianRoot, SysvRelease
from tests.servicecheck import apt_install, echo, port_closed
from tests.test_lifecycle_deb import (
    PKG,
    PORT,
    debs,
    test_a_broken_app_fails_the_start_and_the_install,
    test_every_kind_serves_from_its_package,
    test_install_serve_restart_upgrade_remove_purge,
    test_privileged_port_serves_as_unprivileged_user,
    test_service_user_cannot_make_root_touch_its_links,
    test_sysv_logs_go_to_syslog_tagged_with_the_package,
    test_upgrade_that_renames_the_app_runs_the_new_app_despite_a_kept_old_default,
)

pytestmark = [pytest.mark.lifecycle, pytest.mark.slow]

__all__ = [
    "debs",
    "test_a_broken_app_fails_the_start_and_the_install",
    "test_every_kind_serves_from_its_package",
    "test_install_serve_restart_upgrade_remove_purge",
    "test_privileged_port_serves_as_unprivileged_user",
    "test_service_user_cannot_make_root_touch_its_links",
    "test_sysv_logs_go_to_syslog_tagged_with_the_package",
    "test_upgrade_that_renames_the_app_runs_the_new_app_despite_a_kept_old_default",
]


@pytest.fixture(scope="module")
def sysv_release() -> SysvRelease:
    return SYSV["debian-13"]


def test_a_trixie_sysv_host_needs_nothing_trixie_dropped(root: DebianRoot,
                                                         debs: dict[str, Path]) -> None:
    """The root is Debian 13 booted by sysvinit, the package is the debian-13 one, and
    what its init script sources is there without lsb-base: /lib/lsb/init-functions
    belongs to sysvinit-utils, which is Essential."""
    assert root.file("/etc/debian_version").read_text().startswith("13.")
    assert root.run("dpkg-query", "-W", "-f=${Status}", "sysvinit-core").stdout == (
        "install ok installed")
    # lsb-base is no package of its own any more: only what sysvinit-utils Provides.
    assert root.run("dpkg-query", "-W", "-f=${Version}", "lsb-base").stdout == ""
    assert root.run("dpkg-query", "-W", "-f=${Provides}", "sysvinit-utils").stdout.startswith(
        "lsb-base")
    owner = root.run("dpkg-query", "-S", "/usr/lib/lsb/init-functions").stdout
    assert owner.startswith("sysvinit-utils:")
    assert root.run("dpkg-query", "-W", "-f=${Essential}", "sysvinit-utils").stdout == "yes"
    fields = root.run("dpkg-deb", "-f", root.copy_in(debs["1.0"]), "Pre-Depends",
                      "Depends").stdout
    assert "lsb-base" not in fields and "init-system-helpers" in fields
    apt_install(root, debs["1.0"])
    assert root.file(f"/usr/lib/systemd/system/{PKG}.service").is_file()  # --target debian-13
    script = root.file(f"/etc/init.d/{PKG}").read_text()
    assert ". /lib/lsb/init-functions" in script
    assert echo(PORT) == b"hello tap2pkg\n"
    status = root.run(f"/etc/init.d/{PKG}", "status", check=False)
    assert status.returncode == 0 and "is running" in status.stdout, status.stdout
    root.run("apt-get", "purge", "-y", "-q", PKG)
    assert port_closed(PORT)

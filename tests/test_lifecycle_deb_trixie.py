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

import pytest

from tests.debroot import SYSV, SysvRelease
from tests.test_lifecycle_deb import (
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

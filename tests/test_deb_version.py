"""Debian versions with epochs and revisions (Policy 5.6.12): what tap2deb -V accepts, and
which source format each makes."""

from __future__ import annotations

import pytest

from tap2pkg.backends.debian.dsc import file_version, is_native, source_format, upstream_version
from tap2pkg.errors import UsageError
from tap2pkg.validate import deb_package_version


@pytest.mark.parametrize(
    ("version", "native", "upstream", "in_file_names"),
    [
        ("1.0", True, "1.0", "1.0"),
        ("2:1.0", True, "1.0", "1.0"),
        ("1.0-1", False, "1.0", "1.0-1"),
        ("2:1.0-1", False, "1.0", "1.0-1"),
        ("1.0~rc1-0.1", False, "1.0~rc1", "1.0~rc1-0.1"),
        ("1.0-beta-2", False, "1.0-beta", "1.0-beta-2"),  # the last '-' splits
        ("1.0+dfsg-1~bpo12+1", False, "1.0+dfsg", "1.0+dfsg-1~bpo12+1"),
    ],
)
def test_accepted_versions(version: str, native: bool, upstream: str,
                           in_file_names: str) -> None:
    assert deb_package_version(version) == version
    assert is_native(version) is native
    assert upstream_version(version) == upstream
    assert file_version(version) == in_file_names
    assert source_format(version) == ("3.0 (native)" if native else "3.0 (quilt)")


@pytest.mark.parametrize("version", ["", "x1", "1.0-", "-1", "a:1.0", ":1.0", "1.0:2-1",
                                     "1.0 1", "1.0-1_2", "1.0-r/1", "1.0\n"])
def test_refused_versions(version: str) -> None:
    with pytest.raises(UsageError, match=r"^--set-version: .* is not a valid Debian version"):
        deb_package_version(version)

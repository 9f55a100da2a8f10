"""The .spec itself."""

from __future__ import annotations

from tap2pkg.backends.rpm import BASE_REQUIRES, RELEASE, files, preamble, scriptlets
from tap2pkg.model import PackageSpec
from tap2pkg.payload import needs_distribution_twisted, rpm_requires
from tap2pkg.render import render

BUILDHOST = "tap2pkg"  # a fixed build host keeps the header reproducible
# SPDX's form for a license that is not on its list; stands in until --license is given.
UNSPECIFIED_LICENSE = "LicenseRef-Unspecified"


def text_fields(spec: PackageSpec) -> dict[str, str | None]:
    """User text as it goes into the spec: '%' escaped, refused where rpm would misread it."""
    return {
        "summary": preamble.escape(spec.summary),
        "license": preamble.escape(
            preamble.spdx_expression(spec.license) if spec.license else UNSPECIFIED_LICENSE
        ),
        "url": preamble.escape(spec.url) if spec.url else None,
        "maintainer": preamble.escape(spec.maintainer),
        "packager": preamble.macro_body(spec.maintainer, "--maintainer"),
        "description": preamble.description(spec.long_description),
        "changelog_date": preamble.changelog_date(spec.timestamp),
    }


def requires(spec: PackageSpec) -> dict[str | None, list[str]]:
    """Requires lines of each package (None: the main one)."""
    found = scriptlets.requires(spec)
    base = [d for d in BASE_REQUIRES
            if d != "python3-twisted" or needs_distribution_twisted(spec.payload)]
    runtime = [f"Requires:       {dep}"
               for dep in (*base, *rpm_requires(spec.payload), *spec.depends)]
    found[None] = runtime + found[None]
    return found


def render_spec(spec: PackageSpec) -> str:
    entries = files.entries(spec)
    sub = files.sysv_subpackage(spec)
    packages: list[str | None] = [None] if sub is None else [None, sub]
    return render(
        "rpm/spec.j2",
        spec=spec,
        text=text_fields(spec),
        release=RELEASE,
        buildhost=BUILDHOST,
        noarch=spec.payload is None or not spec.payload.arch_dependent,
        requires=requires(spec),
        subpackage=sub,
        install=files.install_lines(entries),
        scriptlets=scriptlets.sections(spec),
        files=[
            ("%files" if package is None else f"%files {package}",
             files.files_lines(entries, package))
            for package in packages
        ],
    )

"""Texts of the Debian control files: description folding, changelog, copyright."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime

from tap2pkg.model import PackageSpec

# Licenses whose text Debian ships in /usr/share/common-licenses (lintian wants a pointer).
_COMMON_LICENSES = {
    "Apache-2.0": "Apache-2.0",
    "Artistic-1.0": "Artistic",
    "CC0-1.0": "CC0-1.0",
    "GPL-1.0": "GPL-1",
    "GPL-2.0": "GPL-2",
    "GPL-3.0": "GPL-3",
    "LGPL-2.0": "LGPL-2",
    "LGPL-2.1": "LGPL-2.1",
    "LGPL-3.0": "LGPL-3",
    "MPL-1.1": "MPL-1.1",
    "MPL-2.0": "MPL-2.0",
}


def extended_description(text: str) -> str:
    """Fold free text into control-file continuation lines.

    Paragraph text is wrapped at 79 columns; lines that start with whitespace are kept
    verbatim (Debian shows them as-is); blank lines become " ."."""
    out: list[str] = []
    for line in text.split("\n"):
        if not line.strip():
            out.append(" .")
        elif line[0].isspace():
            out.append(" " + line)
        else:
            out.extend(" " + part for part in textwrap.wrap(line, 78, break_on_hyphens=False))
    return "\n".join(out)


def rfc2822_date(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")


def changelog(spec: PackageSpec) -> str:
    """debian/changelog: one entry, in the layout dch and python-debian write (written
    directly: importing debian.changelog costs more than the whole rest of a build)."""
    # Debian's archive takes "unstable"; Launchpad only a series name (dput refuses
    # "unstable" for a PPA).
    distribution = spec.target.codename if spec.target.distro == "ubuntu" else "unstable"
    return (
        f"{spec.name} ({spec.version}) {distribution}; urgency=medium\n\n"
        + "\n".join(textwrap.wrap(f"Created by {spec.tool} from {spec.app_filename}.",
                                 width=80, initial_indent="  * ", subsequent_indent="    ",
                                 break_long_words=False, break_on_hyphens=False))
        + "\n\n"
        f" -- {spec.maintainer}  {rfc2822_date(spec.timestamp)}\n"
    )


def license_text(spec: PackageSpec) -> tuple[str, list[str]]:
    """The License: short name and its indented text for debian/copyright."""
    if spec.license is None:
        return "other", [
            f"{spec.tool} was not told the license of {spec.app_filename};",
            "rebuild with --license, or edit debian/copyright.",
        ]
    base = spec.license.removesuffix("-only").removesuffix("-or-later").removesuffix("+")
    common = _COMMON_LICENSES.get(base)
    if common is None:
        return spec.license, [f"See the license of {spec.app_filename}."]
    return spec.license, [
        f"On Debian systems, the complete text of the {common} license can be",
        f"found in \"/usr/share/common-licenses/{common}\".",
    ]


def copyright_year(spec: PackageSpec) -> int:
    return datetime.fromtimestamp(spec.timestamp, tz=UTC).year

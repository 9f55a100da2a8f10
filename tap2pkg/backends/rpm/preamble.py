"""Text that goes into a .spec: dependencies, %-escaped user text, the %description and
the %changelog entry.

rpm expands macros in every line of a spec, so user text has each '%' doubled; and in a
%description it reads some lines as structure (a line starting with '#' is a comment and
disappears, '%post' at the start of a line opens a scriptlet), so such lines are refused
rather than silently changed.
"""

from __future__ import annotations

import re
import textwrap
from datetime import UTC, datetime

from tap2pkg.errors import UsageError

_NAME = r"[A-Za-z0-9_][A-Za-z0-9._+-]*(?:\([A-Za-z0-9._+:/-]+\))?"  # foo, python3dist(foo)
_FILE = r"/[A-Za-z0-9._+/-]+"
_EVR = r"(?:[0-9]+:)?[A-Za-z0-9._+~^]+(?:-[A-Za-z0-9._+~^]+)?"
_RPM_DEP = re.compile(rf"(?P<name>{_NAME}|{_FILE})(?:\s*(?P<op><=|>=|=|<|>)\s*(?P<evr>{_EVR}))?")
# The Debian spelling, so one --depends value can serve tap2deb and tap2rpm.
_DEB_DEP = re.compile(rf"(?P<name>{_NAME}) \((?P<op><<|<=|=|>=|>>) (?P<evr>{_EVR})\)")
_DEB_OPS = {"<<": "<", ">>": ">"}

# Section keywords rpm recognises at the start of a line, in any section.
_SECTIONS = frozenset({
    "package", "description", "prep", "generate_buildrequires", "conf", "build",
    "install", "check", "clean", "pre", "post", "preun", "postun", "pretrans",
    "posttrans", "preuntrans", "postuntrans", "files", "changelog", "triggerprein",
    "triggerin", "triggerun", "triggerpostun", "filetriggerin", "filetriggerun",
    "filetriggerpostun", "transfiletriggerin", "transfiletriggerun",
    "transfiletriggerpostun", "verifyscript", "sepolicy", "patchlist", "sourcelist",
})
_SECTION_LINE = re.compile(r"%(?P<word>[a-z_]+)(?:\s|$)")

DESCRIPTION_WIDTH = 79  # rpmlint's MaxLineLength
# rpm refuses %changelog dates before 1990; SOURCE_DATE_EPOCH=0 is common.
CHANGELOG_EPOCH_MIN = 631152000  # 1990-01-01T00:00:00Z


def rpm_dependency(value: str, key: str = "--depends") -> str:
    """One RPM dependency: 'name', 'name >= 1.2', 'python3dist(foo)', '/usr/bin/foo';
    the Debian form 'name (>= 1.2)' is accepted and rewritten."""
    value = value.strip()
    deb = _DEB_DEP.fullmatch(value)
    if deb is not None:
        op = _DEB_OPS.get(deb["op"], deb["op"])
        return f"{deb['name']} {op} {deb['evr']}"
    match = _RPM_DEP.fullmatch(value)
    if match is None:
        raise UsageError(
            f"{value!r} is not a valid RPM dependency: write 'name', 'name >= version', "
            "'capability(name)' or an absolute path (no '|' alternatives or rich "
            "dependencies)",
            key,
        )
    if match["op"] is None:
        return match["name"]
    return f"{match['name']} {match['op']} {match['evr']}"


_SPDX_ID = re.compile(r"(?:DocumentRef-[A-Za-z0-9.-]+:)?[A-Za-z0-9][A-Za-z0-9.-]*\+?")
_SPDX_TOKEN = re.compile(r"\(|\)|[^\s()]+")
_SPDX_OPERATORS = frozenset({"AND", "OR", "WITH"})


def spdx_expression(value: str, key: str = "--license") -> str:
    """An SPDX license expression ('MIT', 'GPL-2.0-or-later WITH Classpath-exception-2.0',
    '(MIT OR Apache-2.0) AND LicenseRef-Mine'), checked for syntax only."""
    tokens = _SPDX_TOKEN.findall(value)
    position = _spdx_compound(tokens, 0)
    if position is None or position != len(tokens):
        raise UsageError(
            f"{value!r} is not an SPDX license expression: write e.g. 'MIT', "
            "'GPL-2.0-or-later' or '(MIT OR Apache-2.0)'",
            key,
        )
    return value


def _spdx_compound(tokens: list[str], i: int) -> int | None:
    """compound := term (('AND' | 'OR') term)*; returns the index after it."""
    j = _spdx_term(tokens, i)
    while j is not None and j < len(tokens) and tokens[j].upper() in ("AND", "OR"):
        j = _spdx_term(tokens, j + 1)
    return j


def _spdx_term(tokens: list[str], i: int) -> int | None:
    """term := '(' compound ')' | id ('WITH' id)?"""
    if i >= len(tokens):
        return None
    if tokens[i] == "(":
        j = _spdx_compound(tokens, i + 1)
        return j + 1 if j is not None and j < len(tokens) and tokens[j] == ")" else None
    if not _spdx_id(tokens[i]):
        return None
    if i + 1 < len(tokens) and tokens[i + 1].upper() == "WITH":
        return i + 3 if i + 2 < len(tokens) and _spdx_id(tokens[i + 2]) else None
    return i + 1


def _spdx_id(token: str) -> bool:
    return token.upper() not in _SPDX_OPERATORS and _SPDX_ID.fullmatch(token) is not None


def escape(text: str) -> str:
    """User text for a spec: rpm would expand '%name', so '%' is doubled."""
    return text.replace("%", "%%")


def macro_body(text: str, key: str) -> str:
    """User text as the body of a %global: rpm expands it when it is defined and again
    when it is used, so '%' is escaped twice; a trailing backslash would continue it."""
    if text.endswith("\\"):
        raise UsageError("must not end with a backslash", key)
    return escape(escape(text))


def description(text: str, key: str = "--long_description") -> str:
    """The %description body: paragraphs wrapped at 79 columns, lines that start with
    whitespace kept verbatim, blank lines kept; '%' escaped."""
    out: list[str] = []
    for number, line in enumerate(text.split("\n"), start=1):
        _check_description_line(line, number, key)
        if not line.strip() or line[0].isspace():
            out.append(line)
        else:
            out.extend(
                textwrap.wrap(line, DESCRIPTION_WIDTH, break_on_hyphens=False,
                              break_long_words=False)
            )
    return "\n".join(escape(line) for line in out)


def _check_description_line(line: str, number: int, key: str) -> None:
    stripped = line.lstrip()
    if stripped.startswith("#"):
        raise UsageError(
            f"line {number} starts with '#', which rpm drops as a comment; reword it", key
        )
    section = _SECTION_LINE.match(line)
    if section is not None and section["word"] in _SECTIONS:
        raise UsageError(
            f"line {number} starts with '%{section['word']}', which rpm reads as a new "
            "spec section; indent or reword it",
            key,
        )


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def changelog_date(timestamp: int) -> str:
    """rpm's 'Thu Nov 14 2023', in UTC and English whatever the locale; never before
    1990."""
    day = datetime.fromtimestamp(max(timestamp, CHANGELOG_EPOCH_MIN), tz=UTC)
    return f"{_DAYS[day.weekday()]} {_MONTHS[day.month - 1]} {day.day:02d} {day.year}"

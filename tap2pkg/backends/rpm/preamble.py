"""Text that goes into a .spec: dependencies, %-escaped user text, the %description and
the %changelog entry.

How rpm reads a spec line (rpm 4.18 and 4.20, build/parseSpec.c readLine): it expands the
macros of the raw line ('%%' becomes '%'), then looks at the *expanded* line: a line that
starts with '%' and a section name in any ASCII case ('%Check', '%POSTTRANS') opens that
section; after ASCII blanks, '%if', '%else', '%endif', '%include' and the other directives
are acted on, and '#' makes a comment.  rpm compares bytes and skips only ASCII blanks.

So user text is written in two ways that make this impossible by construction, whatever
the section and directive names are now or later:
- one-line values (Summary, URL, License, the changelog name) only ever follow text of
  tap2pkg's own on their line, with every '%' doubled: nothing is expanded, and the line
  starts with a tag;
- a %description line of user text never starts, after blanks, with '%' or '#': a line
  written so is refused (rpm cannot carry it), and folding long lines never breaks
  before a word that starts with either.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from tap2pkg.errors import UsageError

_NAME = r"[A-Za-z0-9_][A-Za-z0-9._+-]*(?:\([A-Za-z0-9._+:/-]+\))?"  # foo, python3dist(foo)
_FILE = r"/[A-Za-z0-9._+/-]+"
_EVR = r"(?:[0-9]+:)?[A-Za-z0-9._+~^]+(?:-[A-Za-z0-9._+~^]+)?"
_RPM_DEP = re.compile(rf"(?P<name>{_NAME}|{_FILE})(?:\s*(?P<op><=|>=|=|<|>)\s*(?P<evr>{_EVR}))?")
# The Debian spelling, so one --depends value can serve tap2deb and tap2rpm.
_DEB_DEP = re.compile(rf"(?P<name>{_NAME}) \((?P<op><<|<=|=|>=|>>) (?P<evr>{_EVR})\)")
_DEB_OPS = {"<<": "<", ">>": ">"}

# What a line of a spec must not start with, after ASCII blanks, to be read as text: '%'
# (a section, conditional or directive) and '#' (a comment).  rpm's SKIPSPACE skips
# ' ', '\t', '\n', '\v', '\f' and '\r' only (rpmstring.h risspace).
STRUCTURE_CHARS = ("%", "#")
_RPM_BLANKS = " \t\n\v\f\r"

DESCRIPTION_WIDTH = 79  # rpmlint's MaxLineLength
# rpm refuses %changelog dates before 1990; SOURCE_DATE_EPOCH=0 is common.
CHANGELOG_EPOCH_MIN = 631152000  # 1990-01-01T00:00:00Z


def epoch_version(value: str) -> tuple[str | None, str]:
    """-V 2:1.0 is Epoch 2 and Version 1.0; -V 1.0 has no epoch."""
    epoch, colon, version = value.rpartition(":")
    return (epoch if colon else None), version


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


def packager(text: str, key: str = "--maintainer") -> str:
    """The maintainer as the body of '%global packager': rpm fills the Packager tag from
    that macro only when its value does not start with '%' (parsePreamble.c
    fillOutMainPackage), so such a value is refused rather than silently dropped."""
    if text.startswith("%"):
        raise UsageError("must not start with '%': rpm drops a Packager that does", key)
    return macro_body(text, key)


def starts_structure(line: str) -> bool:
    """Whether rpm could read this (expanded) spec line as anything but text."""
    return line.lstrip(_RPM_BLANKS).startswith(STRUCTURE_CHARS)


def description(text: str, key: str = "--long_description") -> str:
    """The %description body: paragraphs folded at 79 columns, lines that start with
    whitespace kept verbatim, blank lines kept; '%' escaped.  No line of it can start a
    section, a directive or a comment (see the module's docstring)."""
    out: list[str] = []
    for number, line in enumerate(text.split("\n"), start=1):
        _check_description_line(line, number, key)
        if not line.strip() or line[0].isspace():
            out.append(line)
        else:
            out.extend(fold(line))
    if any(starts_structure(line) for line in out):  # by construction; kept as a guard
        raise AssertionError("a %description line would be read as spec structure")
    return "\n".join(escape(line) for line in out)


def fold(line: str, width: int = DESCRIPTION_WIDTH) -> list[str]:
    """Fold a line at spaces to at most width columns where words allow; a word that
    starts with '%' or '#' stays on the line of the word before it, so that no folded
    line starts with one.  A line that fits is returned as it is."""
    if len(line) <= width:
        return [line]
    units: list[str] = []
    for word in line.split(" "):
        if units and (not word or word.startswith(STRUCTURE_CHARS)):
            units[-1] += " " + word  # glued: never a line start (empty: a run of spaces)
        else:
            units.append(word)
    lines: list[str] = []
    for unit in units:
        if lines and len(lines[-1]) + 1 + len(unit) <= width:
            lines[-1] += " " + unit
        else:
            lines.append(unit)
    return [folded.rstrip(" ") for folded in lines]


def _check_description_line(line: str, number: int, key: str) -> None:
    if line.lstrip(_RPM_BLANKS).startswith("#"):
        raise UsageError(
            f"line {number} starts with '#', which rpm drops as a comment; reword it", key
        )
    if starts_structure(line):
        raise UsageError(
            f"line {number} starts with '%', which rpm reads as spec syntax (a section "
            "such as %check, or a directive such as %if or %include); start the line "
            "with another character",
            key,
        )


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def changelog_date(timestamp: int) -> str:
    """rpm's 'Thu Nov 14 2023', in UTC and English whatever the locale; never before
    1990."""
    day = datetime.fromtimestamp(max(timestamp, CHANGELOG_EPOCH_MIN), tz=UTC)
    return f"{_DAYS[day.weekday()]} {_MONTHS[day.month - 1]} {day.day:02d} {day.year}"

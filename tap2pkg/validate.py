"""Validators for every user-supplied value, each named after the field it checks.

A validator returns the (possibly normalised) value or raises UsageError naming the
option.  Values are checked for their destination: Debian/RPM name and version grammars,
one-line control fields, absolute paths.  Shell quoting happens later, at render time.
"""

from __future__ import annotations

import re

from tap2pkg.errors import UsageError

# Characters that end a line for someone (dpkg splits on \n only, Python's splitlines()
# and editors on \v \f \x1c-\x1e \x85 U+2028 U+2029 too), C0/C1 controls, bidi
# overrides that make a line read differently from what it holds, and lone surrogates
# (bytes that were not UTF-8 in argv, kept by surrogateescape).
_CONTROL_CHARS = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
    "\ufeff\ud800-\udfff]"
)
# dpkg-gencontrol expands ${name} in debian/control when the source package is rebuilt:
# ${Newline} would start a new field.
_SUBSTVAR = re.compile(r"\$\{")
_DEB_NAME = re.compile(r"[a-z0-9][a-z0-9.+-]+")
_RPM_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+-]*")
# Debian native version: optional epoch, upstream part without a revision (3.0 native).
_DEB_VERSION = re.compile(r"(?:[0-9]+:)?[0-9][A-Za-z0-9.+~]*")
_RPM_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+~^]*")
_RPM_RELEASE = re.compile(r"[0-9][A-Za-z0-9._+~^]*")
_RPM_EPOCH = re.compile(r"0|[1-9][0-9]{0,8}")
_MAINTAINER = re.compile(r"(?P<name>[^<>,\"]+?) <(?P<email>[^<>@\s]+@[^<>@\s]+\.[^<>@\s]+)>")
_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
_DEP = re.compile(
    r"[a-z0-9][a-z0-9.+-]+(?::[a-z0-9-]+)?"
    r"(?: \((?:<<|<=|=|>=|>>) [A-Za-z0-9.+~:-]+\))?"
)
# RFC 3986 characters, no spaces or quotes: a Homepage:/URL: field takes one token.
_URL = re.compile(r"(?:https?|ftp)://[A-Za-z0-9._~:/?#\[\]@!$&()*+,;=%-]+")
_ABS_PATH = re.compile(r"/[A-Za-z0-9._+/-]*")
SUMMARY_MAX = 79  # rpmlint's default MaxLineLength; lintian allows 80


def one_line(value: str, key: str) -> str:
    """A field that must fit on one line of a control file or spec."""
    value = value.strip()
    if not value:
        raise UsageError("must not be empty", key)
    check_text(value, key)
    return value


def check_text(value: str, key: str) -> None:
    """Refuse what is not plain text on one line: see _CONTROL_CHARS and _SUBSTVAR."""
    bad = _CONTROL_CHARS.search(value)
    if bad is not None:
        char = bad.group()
        if "\ud800" <= char <= "\udfff":
            raise UsageError("is not valid UTF-8", key)
        raise UsageError(
            f"must be one line without control characters (found U+{ord(char):04X})", key
        )
    if _SUBSTVAR.search(value):
        raise UsageError("must not contain '${': dpkg-gencontrol would expand it", key)


def summary(value: str, key: str = "--description") -> str:
    value = one_line(value, key)
    if len(value) > SUMMARY_MAX:
        raise UsageError(f"is {len(value)} characters long; at most {SUMMARY_MAX} fit", key)
    return value


def long_description(value: str, key: str = "--long_description") -> str:
    """Multi-line free text; tabs and other control characters are refused."""
    lines = [line.rstrip() for line in value.replace("\r\n", "\n").split("\n")]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise UsageError("must not be empty", key)
    for line in lines:
        if "\t" in line:
            raise UsageError("must not contain tabs or control characters", key)
        check_text(line, key)
    return "\n".join(lines)


def utf8(value: str, key: str) -> str:
    """An option value as typed: bytes that are not UTF-8 are refused here, before they
    reach a file name, a message or a control file."""
    if re.search("[\ud800-\udfff]", value):
        raise UsageError("is not valid UTF-8", key)
    return value


def deb_name(value: str, key: str = "--debfile") -> str:
    if not _DEB_NAME.fullmatch(value):
        raise UsageError(
            f"{value!r} is not a valid Debian package name: use lowercase letters, digits, "
            "'+', '-' and '.', at least two characters, starting with a letter or digit",
            key,
        )
    return value


def rpm_name(value: str, key: str = "--rpmfile") -> str:
    if not _RPM_NAME.fullmatch(value):
        raise UsageError(
            f"{value!r} is not a valid RPM package name: use letters, digits, '-', '.', "
            "'_' and '+'",
            key,
        )
    return value


def deb_version(value: str, key: str = "--set-version") -> str:
    if not _DEB_VERSION.fullmatch(value):
        raise UsageError(
            f"{value!r} is not a valid native Debian version: start with a digit, then "
            "letters, digits, '.', '+' and '~' (no '-': native packages have no revision)",
            key,
        )
    return value


def rpm_version(value: str, key: str = "--set-version") -> str:
    if not _RPM_VERSION.fullmatch(value):
        raise UsageError(
            f"{value!r} is not a valid RPM version: use letters, digits, '.', '_', '+', "
            "'~' and '^' (no '-')",
            key,
        )
    return value


def rpm_epoch_version(value: str, key: str = "--set-version") -> str:
    """An RPM version with an optional epoch: '1.0' or 'EPOCH:VERSION' ('2:1.0')."""
    epoch, colon, version = value.rpartition(":")
    if colon and not _RPM_EPOCH.fullmatch(epoch):
        raise UsageError(
            f"{value!r}: the epoch before ':' must be a whole number (e.g. '2:1.0')", key
        )
    rpm_version(version, key)
    return value


def rpm_release(value: str, key: str = "--release") -> str:
    """An RPM release: starts with a digit; letters, digits, '.', '_', '+', '~', '^'."""
    if not _RPM_RELEASE.fullmatch(value):
        raise UsageError(
            f"{value!r} is not a valid RPM release: start with a digit, then letters, "
            "digits, '.', '_', '+', '~' and '^' (no '-'; the distribution tag is added by "
            "%{?dist})",
            key,
        )
    return value


def maintainer(value: str, key: str = "--maintainer") -> str:
    value = one_line(value, key)
    if not _MAINTAINER.fullmatch(value):
        raise UsageError(f"{value!r} must look like 'Full Name <user@example.org>'", key)
    return value


def system_user(value: str, key: str) -> str:
    if not _USER.fullmatch(value):
        raise UsageError(
            f"{value!r} is not a valid system user or group name: lowercase letters, "
            "digits, '_' and '-', starting with a letter or '_', at most 32 characters",
            key,
        )
    return value


def deb_dependency(value: str, key: str = "--depends") -> str:
    """One Debian relation, optionally versioned: 'foo', 'foo (>= 1.2)'; alternatives
    separated by '|'."""
    alternatives = [alt.strip() for alt in value.split("|")]
    for alt in alternatives:
        if not _DEP.fullmatch(alt):
            raise UsageError(
                f"{value!r} is not a valid dependency: write 'name' or 'name (>= version)'",
                key,
            )
    return " | ".join(alternatives)


def url(value: str, key: str = "--url") -> str:
    if not _URL.fullmatch(value):
        raise UsageError(
            f"{value!r} is not a URL: write http(s)://host/path, without spaces or quotes",
            key,
        )
    return value


def absolute_path(value: str, key: str) -> str:
    if not _ABS_PATH.fullmatch(value) or "//" in value or "/../" in f"{value}/":
        raise UsageError(
            f"{value!r} must be an absolute path of letters, digits and '._+-/'", key
        )
    return value


def init_systems(value: str, allowed: tuple[str, ...], key: str = "--init") -> tuple[str, ...]:
    chosen = [part.strip() for part in value.split(",") if part.strip()]
    if not chosen:
        raise UsageError(f"choose at least one of {', '.join(allowed)}", key)
    for part in chosen:
        if part not in allowed:
            raise UsageError(f"unknown init system {part!r}: choose from {', '.join(allowed)}", key)
    return tuple(name for name in allowed if name in chosen)


# What a terminal or a reader could take for something else: C0 and C1 controls, DEL,
# line and paragraph separators, bidi controls, byte order marks, lone surrogates.
_UNPRINTABLE = re.compile(
    "[\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200e\\u200f\\u2028\\u2029\\u202a-\\u202e"
    "\\u2066-\\u2069\\ufeff\\ud800-\\udfff\\\\]"
)


def printable(text: str, keep: str = "") -> str:
    """text with what could fake or hide output escaped as \\xNN/\\uNNNN (and \\ as
    \\\\), except the characters in ``keep``: for messages, reports and file names that
    came from elsewhere."""
    def escape(match: re.Match[str]) -> str:
        char = match.group()
        if char in keep:
            return char
        if char == "\\":
            return "\\\\"
        return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"

    return _UNPRINTABLE.sub(escape, text)

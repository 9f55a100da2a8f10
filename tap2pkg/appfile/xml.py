"""Read an XML application file (.tax, Twisted's marmalade) by converting it to AOT
source (.tas), which current twistd runs with ``--source``: twistd lost ``--xml`` in
Twisted 9.0.  Nothing in the file is imported or run.

The XML is parsed with expat, hardened: a DOCTYPE is refused outright, so there are no
entity definitions to expand ("billion laughs") and no external entities to fetch
(file:///etc/passwd); nesting depth and element count are bounded.  marmalade.py
checks the elements and builds the node graph, aotwriter.py writes the source, and
the .tas reader reads that source back: the converted file is held to the same rules
as any .tas, and gives the app name, uid/gid and endpoints.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from dataclasses import replace
from pathlib import Path, PurePath
from xml.parsers import expat

from tap2pkg.appfile import aotwriter, marmalade
from tap2pkg.appfile.marmalade import MAX_DEPTH, MAX_ELEMENTS, Element, MarmaladeError
from tap2pkg.appfile.source import read_source
from tap2pkg.errors import AppFileError, BuildError, UsageError
from tap2pkg.limits import Deadline
from tap2pkg.model import AppInfo, AppKind

# Bytes handed to expat at a time.  Big enough that a huge attribute value, which
# expat (before 2.6) scans again from its start for each slice, costs little.
_SLICE = 1024 * 1024


class _TreeBuilder:
    """expat handlers: build the Element tree, refuse DTDs, entities and stray text."""

    def __init__(self, parser: expat.XMLParserType) -> None:
        self.parser = parser
        self.stack: list[Element] = []
        self.root: Element | None = None
        self.count = 0
        self.deadline = Deadline()

    def where(self, depth: int) -> str:
        """The path of the first ``depth`` open elements: where the next one sits."""
        return "/" + "/".join(e.tag for e in self.stack[:depth])

    def start(self, name: str, attrs: dict[str, str]) -> None:
        line = self.parser.CurrentLineNumber
        self.deadline.check()
        self.count += 1
        if self.count > MAX_ELEMENTS:
            raise MarmaladeError(line, f"more than {MAX_ELEMENTS} elements", "", "too large")
        if len(self.stack) >= MAX_DEPTH:
            raise MarmaladeError(
                line, f"<{name}>", self.where(MAX_DEPTH), f"nested more than {MAX_DEPTH} deep"
            )
        # microdom, which wrote and read these files, ignored the case of names.
        lowered = {k.lower(): v for k, v in attrs.items()}
        if len(lowered) != len(attrs):
            where = self.where(len(self.stack))
            raise MarmaladeError(line, f"<{name}>", where, "an attribute is repeated")
        element = Element(name.lower(), lowered, line)
        if self.stack:
            self.stack[-1].children.append(element)
        else:
            self.root = element
        self.stack.append(element)

    def end(self, name: str) -> None:
        self.stack.pop()

    def text(self, data: str) -> None:
        # Only whitespace between elements is expected (the old reader ignored text).
        if data.strip() and self.stack:
            line, tag = self.parser.CurrentLineNumber, self.stack[-1].tag
            where = self.where(len(self.stack) - 1)
            raise MarmaladeError(line, f"unexpected text in <{tag}>", where)

    def refuse(self, *args: object) -> int:
        raise MarmaladeError(
            self.parser.CurrentLineNumber, "a DOCTYPE", "", "DTDs and entities are not allowed"
        )


# What expat reads itself; it asks Python's codecs for any other, and those fail
# mid-parse (multi-byte ones such as UTF-7 or Shift_JIS, unknown names).
_READABLE_ENCODINGS = frozenset({
    "utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1", "utf-16",
    "utf-16le", "utf-16be",
})
_DECLARED = re.compile(rb"\s*<\?xml[^>]*\bencoding\s*=\s*[\"']([^\"']*)[\"']")


def _check_encoding(content: bytes) -> None:
    declared = _DECLARED.match(content)
    if declared is None:
        return
    name = declared.group(1).decode("ascii", "replace").strip().lower()
    if name not in _READABLE_ENCODINGS:
        shown = name.encode("ascii", "backslashreplace").decode()[:40]
        raise MarmaladeError(
            1, f"the file declares encoding={shown!r}", "",
            "only UTF-8, UTF-16, US-ASCII and ISO-8859-1 are read",
        )


def _encoding(content: bytes) -> str | None:
    """The encoding to parse with: latin-1, unless the file says otherwise.

    Twisted's files declare no encoding, but are not UTF-8: microdom wrote a <unicode>
    value's characters U+0080..U+00FF as single raw bytes, and read every byte back as
    one character.  A byte order mark or an encoding declaration means someone else
    wrote the file: expat follows it.
    """
    if content.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        return None
    if re.match(rb"\s*<\?xml[^>]*\bencoding\s*=", content):
        return None
    return "ISO-8859-1"


def parse_xml(content: bytes) -> Element:
    """The element tree; MarmaladeError for malformed or refused XML."""
    _check_encoding(content)
    parser = expat.ParserCreate(_encoding(content))
    builder = _TreeBuilder(parser)
    # Refusing the DOCTYPE refuses every entity definition with it; never read external
    # parameter entities either.
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = builder.refuse
    parser.EntityDeclHandler = builder.refuse
    parser.ExternalEntityRefHandler = builder.refuse
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.text
    parser.buffer_text = True
    try:
        # In slices: after a handler raises, pyexpat would otherwise tokenize the rest
        # of a 16 MiB file before the error surfaces.
        for start in range(0, len(content), _SLICE):
            parser.Parse(content[start : start + _SLICE], False)
        parser.Parse(b"", True)
    except expat.ExpatError as exc:
        reason = expat.errors.messages.get(exc.code, "syntax error")
        raise MarmaladeError(exc.lineno, "not well-formed XML", "", reason) from None
    except (ValueError, LookupError, UnicodeError) as exc:  # an encoding expat gave up on
        line = parser.CurrentLineNumber
        raise MarmaladeError(line, "cannot decode the file", "", str(exc)[:100]) from None
    if builder.root is None:  # pragma: no cover - expat reports "no element found"
        raise MarmaladeError(1, "no XML element")
    return builder.root


def converted_name(filename: str) -> str:
    """app.tax -> app.tas (and never the original's own name)."""
    name = f"{PurePath(filename).stem}.tas"
    return name if name != filename else f"{filename}.tas"


def convert(filename: str, content: bytes) -> str:
    """The AOT source for a .tax file's content; AppFileError "<file>: line N: ..."."""
    try:
        document = marmalade.read(parse_xml(content))
    except MarmaladeError as exc:
        raise AppFileError(f"{filename}: {exc}") from None
    except RecursionError:  # depth is bounded far below the limit: a last guard
        raise AppFileError(f"{filename}: elements are nested too deeply") from None
    return aotwriter.write(document, filename)


def read_xml(filename: str, content: bytes) -> AppInfo:
    """AppInfo for a .tax file: the converted .tas to install, the .tax as original."""
    name = converted_name(filename)
    source = convert(filename, content).encode("ascii")
    try:
        checked = read_source(name, source)
    except AppFileError as exc:  # e.g. a cycle through a tuple, which the reader refuses
        raise AppFileError(f"{filename}: cannot use the converted source: {exc}") from None
    return replace(checked, kind=AppKind.XML, original=(filename, content))


def write_converted(info: AppInfo, out: Path) -> None:
    """Write a converted file atomically (temp file, then rename): never half a file.
    Only a regular file is replaced: renaming over /dev/full or a FIFO would replace the
    device node itself (as root, for everyone)."""
    try:
        mode: int | None = out.lstat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise BuildError(f"cannot write {out}: {exc.strerror or exc}") from None
    if mode is not None and not stat.S_ISREG(mode):
        raise UsageError(f"{out} exists and is not a regular file", key="--output")
    target = out.parent
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{out.name}.", dir=target)
    except OSError as exc:
        raise BuildError(f"cannot write {out}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(info.content)
        os.chmod(temp, 0o644)  # mkstemp makes it 0600; an app file is not secret
        os.replace(temp, out)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise BuildError(f"cannot write {out}: {exc.strerror or exc}") from None

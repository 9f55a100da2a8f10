"""Twisted's marmalade XML (.tax; twisted.persisted.marmalade, removed in Twisted 9.0):
the elements, checked and turned into a neutral node graph.  Nothing a file names is
imported or run, and class, function and module names pass the same allowlist as
pickles (twisted.* only).

What Twisted 8.x wrote (DOMJellier, serialised by twisted.web.microdom): one line
``<?xml version="1.0"?>``, then the whole tree on one line, empty elements written
``<int value="8080"></int>``, tag and attribute names in lower case.  The first time an
object appears it is written in full; when it appears again, that first element gets a
``reference="N"`` attribute and the later place a ``<reference key="N">``.  So a
reference may point at an enclosing element (a cycle, e.g. a service's ``parent``);
hand-edited files may also point forward.  Both stay references here.

Values are decoded by the small parsers below: the old reader ``eval``-ed string
values, which ran whatever code a file put there.  XML parsing itself (no DTDs or
entities, bounded depth and size) is tap2pkg.appfile.xml's job.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from tap2pkg.appfile.graph import refusal
from tap2pkg.limits import MAX_INT_DIGITS, MAX_XML_DEPTH, MAX_XML_ELEMENTS

# Bounds on elements, nesting and digits: see tap2pkg.limits.
MAX_DEPTH = MAX_XML_DEPTH
MAX_ELEMENTS = MAX_XML_ELEMENTS
MAX_DIGITS = MAX_INT_DIGITS

# Elements and the attributes each requires; "reference" and "role" may be on any.
_REQUIRED: dict[str, tuple[str, ...]] = {
    "none": (),
    "string": ("value",),
    "unicode": ("value",),
    "int": ("value",),
    "longint": ("value",),
    "float": ("value",),
    "bool": ("value",),
    "module": ("name",),
    "class": ("name",),
    "function": ("name",),
    "method": ("name", "class"),
    "tuple": (),
    "list": (),
    "dictionary": (),
    "instance": ("class",),
    "reference": ("key",),
    "copyreg": ("loadfunc",),
}
_OPTIONAL = frozenset({"reference", "role"})
_ONE_CHILD = frozenset({"method", "instance", "copyreg"})
_LEAVES = frozenset(_REQUIRED) - _ONE_CHILD - {"tuple", "list", "dictionary"}
# copyreg's loadfunc for complex numbers, as Python 2 named it (and Python 3 does).
_COMPLEX = frozenset({"__builtin__.complex", "builtins.complex"})


# ---- the node graph ----


@dataclass(eq=False)
class Node:
    """One element.  ``ref`` is its reference="..." attribute: other places name it."""

    ref: str | None


@dataclass(eq=False)
class Value(Node):
    """None, bool, int, float, str (string and unicode) or complex (from copyreg)."""

    value: bool | int | float | complex | str | None


@dataclass(eq=False)
class Named(Node):
    """A class, function or module, by dotted name; ``kind`` is the element's tag."""

    kind: str
    name: str


@dataclass(eq=False)
class Method(Node):
    """A method: its name, class, and the object it is bound to (Value(None) if unbound)."""

    name: str
    klass: str
    instance: Node


@dataclass(eq=False)
class Sequence(Node):
    kind: str  # "tuple" or "list"
    items: list[Node]


@dataclass(eq=False)
class Mapping(Node):
    items: list[tuple[Node, Node]]


@dataclass(eq=False)
class Instance(Node):
    klass: str
    state: Node


@dataclass(eq=False)
class Reference(Node):
    key: str


@dataclass(eq=False)
class Copyreg(Node):
    loadfunc: str
    state: Node


@dataclass(frozen=True)
class Document:
    """The root node, and the reference keys other places point at, in document order."""

    root: Node
    referenced: tuple[str, ...]


class MarmaladeError(Exception):
    """Something wrong with the file: "line N: <what> at <where>: <detail>"."""

    def __init__(self, line: int, what: str, where: str = "", detail: str = "") -> None:
        self.line = line
        if where.count("/") > 12:  # a path 50 elements deep helps nobody: its ends do
            head, tail = where.split("/")[:5], where.split("/")[-4:]
            where = "/".join([*head, "...", *tail])
        text = f"line {line}: {what}"
        text += f" at {where}" if where else ""
        text += f": {detail}" if detail else ""
        # Names come from the file: a megabyte-long tag must not make a megabyte message.
        super().__init__(text if len(text) <= 300 else text[:297] + "...")


@dataclass(eq=False)
class Element:
    """An XML element as the parser (tap2pkg.appfile.xml) hands it over: tag and
    attribute names already in lower case, as microdom read them."""

    tag: str
    attrs: dict[str, str]
    line: int
    children: list[Element] = field(default_factory=list)


# ---- values: small decoders instead of eval ----

_INT = re.compile(r"\s*[+-]?[0-9]+\s*\Z", re.ASCII)
_LONG = re.compile(r"\s*[+-]?[0-9]+[lL]?\s*\Z", re.ASCII)
_FLOAT = re.compile(
    r"\s*[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)\s*\Z",
    re.ASCII | re.IGNORECASE,
)
# Python 2 str-literal escapes; an unescaped '"' would have ended the old reader's
# eval'd literal (that is how its code injection worked), so it is an error here.
_STRING_ESCAPE = re.compile(r'\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|[\s\S])?|"')
_SIMPLE_ESCAPES = {
    "\\": "\\",
    "'": "'",
    '"': '"',
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\n": "",  # a backslash at the end of a line continues the literal
}
# raw_unicode_escape: \uXXXX and \UXXXXXXXX after an odd number of backslashes.
_UNICODE_ESCAPE = re.compile(r"(\\+)(?:u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|([uU]))?")


def _string_escape(match: re.Match[str]) -> str:
    text, escape = match.group(0), match.group(1)
    if text == '"':
        raise ValueError('an unescaped " in a string value')
    if escape is None:
        raise ValueError("a string value ends with a lone backslash")
    if escape[0] == "x":
        if len(escape) != 3:
            raise ValueError("an invalid \\x escape in a string value")
        return chr(int(escape[1:], 16))
    if escape[0] in "01234567":
        return chr(int(escape, 8) & 0xFF)  # Python 2 kept the low byte of \777
    return _SIMPLE_ESCAPES.get(escape, "\\" + escape)  # unknown escapes stay as written


def decode_string(value: str) -> str:
    """A <string> value: repr() of a Python 2 str without its quotes.

    Escapes give bytes 0-255, read as latin-1 (as tap2pkg and Python 3 read Python 2
    str in pickles): names and addresses come out as the text they were.
    """
    return _STRING_ESCAPE.sub(_string_escape, value)


def _unicode_escape(match: re.Match[str]) -> str:
    slashes, four, eight, truncated = match.groups()
    if len(slashes) % 2 == 0 or (four is None and eight is None and truncated is None):
        return match.group(0)
    if truncated is not None:
        raise ValueError("a truncated \\uXXXX escape in a unicode value")
    code = int(four or eight, 16)
    if code > 0x10FFFF:
        raise ValueError("a \\U escape beyond U+10FFFF in a unicode value")
    return slashes[:-1] + chr(code)


def decode_unicode(value: str) -> str:
    """A <unicode> value: raw_unicode_escape, with newlines and tabs escaped."""
    # The old reader's order: \n and \t first, then raw_unicode_escape.
    text = value.replace("\\n", "\n").replace("\\t", "\t")
    return _UNICODE_ESCAPE.sub(_unicode_escape, text)


def _integer(value: str, pattern: re.Pattern[str]) -> int:
    if not pattern.match(value) or len(value) > MAX_DIGITS:
        raise ValueError(f"value {_short(value)!r} is not an integer")
    return int(value.strip().rstrip("lL"))


def _float(value: str) -> float:
    if not _FLOAT.match(value):
        raise ValueError(f"value {_short(value)!r} is not a number")
    number = float(value)
    if math.isnan(number):
        raise ValueError("NaN cannot be written as AOT source")
    return number


def _bool(value: str) -> bool:
    # Twisted wrote str(int(flag)); "True"/"False" are accepted from hand-written files.
    if value.strip() in ("True", "False"):
        return value.strip() == "True"
    return bool(_integer(value, _INT))


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


_SCALARS: dict[str, Callable[[str], bool | int | float | str | None]] = {
    "string": decode_string,
    "unicode": decode_unicode,
    "int": lambda v: _integer(v, _INT),
    "longint": lambda v: _integer(v, _LONG),
    "float": _float,
    "bool": _bool,
}


# ---- elements to nodes ----

_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\Z")


@dataclass
class _Reader:
    """Checks each element and builds its node; records the reference keys."""

    targets: dict[str, int] = field(default_factory=dict)  # key -> line it is defined on
    order: list[str] = field(default_factory=list)  # those keys in document order
    uses: dict[str, tuple[int, str]] = field(default_factory=dict)  # key -> (line, where)

    def node(self, element: Element, where: str, key: bool = False) -> Node:
        """The node for element, which sits at path ``where`` (its parent's path)."""
        tag, line = element.tag, element.line
        if tag not in _REQUIRED:
            raise MarmaladeError(line, f"unknown element <{tag}>", where)
        try:
            self.check(element, key)
            return self.build(element, f"{where.rstrip('/')}/{tag}")
        except ValueError as exc:
            raise MarmaladeError(line, f"<{tag}>", where, str(exc)) from None

    def check(self, element: Element, key: bool) -> None:
        """Attributes and number of children; ValueError says what is wrong."""
        tag, attrs = element.tag, element.attrs
        if "marmalade:version" in attrs:
            raise ValueError("written by a class's own jellyToDOM (marmalade:version): unsupported")
        optional = _OPTIONAL - {"reference"} if tag == "reference" else _OPTIONAL
        unknown = sorted(set(attrs) - set(_REQUIRED[tag]) - optional)
        if unknown:
            raise ValueError(f"unknown attribute {unknown[0]!r}")
        missing = [name for name in _REQUIRED[tag] if name not in attrs]
        if missing:
            raise ValueError(f"the {missing[0]!r} attribute is missing")
        role = attrs.get("role")
        if key and role != "key":
            raise ValueError('a dictionary key without role="key"')
        if not key and role is not None:
            raise ValueError(f"role={role!r} on something that is not a dictionary key")
        if tag in _LEAVES and element.children:
            raise ValueError("cannot contain elements")
        if tag in _ONE_CHILD and len(element.children) != 1:
            raise ValueError(f"must contain exactly one element, not {len(element.children)}")
        ref = attrs.get("reference")
        if ref is not None:
            if not ref:
                raise ValueError("an empty reference attribute")
            if ref in self.targets:
                first = self.targets[ref]
                raise ValueError(f"reference {ref!r} is already defined on line {first}")
            self.targets[ref] = element.line
            self.order.append(ref)

    def children(self, element: Element, path: str) -> list[Node]:
        return [self.node(child, path) for child in element.children]

    def build(self, element: Element, path: str) -> Node:
        tag, ref = element.tag, element.attrs.get("reference")
        if tag in _LEAVES:
            return self.leaf(element, path)
        if tag in ("tuple", "list"):
            return Sequence(ref, tag, self.children(element, path))
        if tag == "dictionary":
            return Mapping(ref, self.items(element, path))
        (child,) = self.children(element, path)
        if tag == "method":
            return _method(ref, element.attrs, child)
        if tag == "instance":
            return Instance(ref, _allowed(element.attrs["class"], "class"), child)
        return _copyreg(ref, element.attrs["loadfunc"], child)

    def leaf(self, element: Element, path: str) -> Node:
        tag, attrs, ref = element.tag, element.attrs, element.attrs.get("reference")
        if tag in _SCALARS:
            return Value(ref, _SCALARS[tag](attrs["value"]))
        if tag in ("module", "class", "function"):
            return Named(ref, tag, _allowed(attrs["name"], tag))
        if tag == "reference":
            self.uses.setdefault(attrs["key"], (element.line, path.rpartition("/")[0] or "/"))
            return Reference(ref, attrs["key"])
        return Value(ref, None)

    def items(self, element: Element, path: str) -> list[tuple[Node, Node]]:
        """Children alternate key and value; marmalade marked each key role="key"."""
        if len(element.children) % 2:
            raise ValueError("a key without a value")
        pairs = zip(element.children[::2], element.children[1::2], strict=True)
        return [(self.node(k, path, key=True), self.node(v, path)) for k, v in pairs]

    def check_references(self) -> None:
        """Every <reference key> names an element's reference attribute."""
        for key, (line, where) in self.uses.items():
            if key not in self.targets:
                raise MarmaladeError(
                    line, f"<reference key={key!r}>", where, f"no element has reference={key!r}"
                )


def _method(ref: str | None, attrs: dict[str, str], instance: Node) -> Method:
    klass = _allowed(attrs["class"], "class")
    name = attrs["name"]
    if not (name.isascii() and name.isidentifier()):
        raise ValueError(f"method name {_short(name)!r} is not an identifier")
    if not isinstance(instance, Instance | Reference) and not (
        isinstance(instance, Value) and instance.value is None
    ):
        raise ValueError("a method must hold an <instance>, a <reference> or <none>")
    return Method(ref, name, klass, instance)


def _copyreg(ref: str | None, loadfunc: str, state: Node) -> Node:
    if loadfunc in _COMPLEX:  # Python 2 pickled complex numbers through copy_reg
        return Value(ref, _complex(state))
    return Copyreg(ref, _allowed(loadfunc, "function"), state)


def _allowed(name: str, what: str) -> str:
    """A dotted name, refused as pickles' are (graph.refusal): Twisted's names and the
    app's own pass, those of modules that can run code on load do not."""
    if not _DOTTED.match(name):
        raise ValueError(f"{what} name {_short(name)!r} is not a dotted Python name")
    module, _, last = (name, "", "") if what == "module" else name.rpartition(".")
    reason = refusal(module, last) if module else refusal(last, "")
    if reason is not None:
        raise ValueError(f"refused to load {_short(name)}: {reason}")
    return name


def _complex(state: Node) -> complex:
    parts = state.items if isinstance(state, Sequence) else []
    numbers = [p.value for p in parts if isinstance(p, Value)]
    if not (
        1 <= len(parts) <= 2
        and len(numbers) == len(parts)
        and all(isinstance(n, int | float) and not isinstance(n, bool) for n in numbers)
    ):
        raise ValueError("a complex number needs one or two numbers")
    value = complex(*numbers)  # type: ignore[arg-type]
    if not (math.isfinite(value.real) and math.isfinite(value.imag)):
        raise ValueError("an infinite complex number cannot be written as AOT source")
    return value


def read(root: Element) -> Document:
    """The node graph of a marmalade document; MarmaladeError says what and where."""
    reader = _Reader()
    node = reader.node(root, "/")
    reader.check_references()
    referenced = tuple(key for key in reader.order if key in reader.uses)
    return Document(node, referenced)

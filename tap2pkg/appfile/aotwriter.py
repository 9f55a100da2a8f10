"""Write a marmalade node graph as AOT source (.tas): what ``twistd --source`` loads
(twisted.persisted.aot.unjellyFromSource) and what tap2pkg's own .tas reader accepts.

Element for element: <instance> becomes Instance(), <class>/<function>/<module>
Class()/Function()/Module(), <method> InstanceMethod(), <copyreg> Copyreg(), and an
element other places refer to becomes Ref(n, ...) with Deref(n) at those places (AOT
resolves a Deref that comes before its Ref, and cycles, as marmalade did).

The output is ASCII only: twistd opens the file in text mode with the locale's
encoding, and a name or comment must never break out of its literal.
"""

from __future__ import annotations

import keyword
import math

from tap2pkg.appfile.marmalade import (
    Copyreg,
    Document,
    Instance,
    Mapping,
    Method,
    Named,
    Node,
    Reference,
    Sequence,
    Value,
)

_PAD = "  "
_CONSTRUCTORS = {"class": "Class", "function": "Function", "module": "Module"}
# Instance('cls', className=...) would clash with Instance()'s own parameters.
_RESERVED = frozenset({"className", "__stateObj__"})

# Attributes that current Twisted sets in __init__ with no class default, which the
# Twisted 8.x classes did not have: without them a converted service fails to start.
# (Found by comparing the classes' __init__ with their class attributes.)
_ADDED_ATTRIBUTES: dict[str, tuple[tuple[str, str], ...]] = {
    # TimerService.clock came after Twisted 8.x; startService reads it.
    "twisted.application.internet.TimerService": (("clock", "None"),),
}


def _literal(value: object) -> str:
    """A Python literal for a scalar, in the forms tap2pkg's .tas reader accepts."""
    if isinstance(value, float) and math.isinf(value):
        return "1e999" if value > 0 else "-1e999"  # repr() would give inf, a name
    if isinstance(value, str):
        return ascii(value)
    return repr(value)


def _block(opening: str, items: list[str], closing: str, level: int) -> str:
    """One item a line, each with a trailing comma (so a 1-tuple stays a tuple)."""
    if not items:
        return opening + closing
    inner = "".join(f"\n{_PAD * (level + 1)}{item}," for item in items)
    return f"{opening}{inner}\n{_PAD * level}{closing}"


class _Writer:
    def __init__(self, document: Document) -> None:
        # Ref numbers in document order, only for the elements something refers to.
        self.numbers = {key: n for n, key in enumerate(document.referenced, start=1)}
        self.spare = len(self.numbers)  # Ref numbers after these are free
        self.notes: list[str] = []

    def expr(self, node: Node, level: int) -> str:
        number = self.numbers.get(node.ref) if node.ref is not None else None
        text = self.bare(node, level)
        return text if number is None else f"Ref({number}, {text})"

    def bare(self, node: Node, level: int) -> str:
        """The expression for node itself, without its Ref()."""
        if isinstance(node, Value):
            return _literal(node.value)
        if isinstance(node, Named):
            return f"{_CONSTRUCTORS[node.kind]}({node.name!a})"
        if isinstance(node, Reference):
            return f"Deref({self.numbers[node.key]})"
        return self.compound(node, level)

    def compound(self, node: Node, level: int) -> str:
        if isinstance(node, Sequence):
            opening, closing = ("(", ")") if node.kind == "tuple" else ("[", "]")
            return _block(opening, [self.expr(i, level + 1) for i in node.items], closing, level)
        if isinstance(node, Mapping):
            items = [f"{self.expr(k, level + 1)}: {self.expr(v, level + 1)}" for k, v in node.items]
            return _block("{", items, "}", level)
        if isinstance(node, Instance):
            return self.instance(node, level)
        if isinstance(node, Method):
            return self.method(node, level)
        if isinstance(node, Copyreg):
            return f"Copyreg({node.loadfunc!a}, {self.expr(node.state, level)})"
        raise TypeError(f"unknown node {node!r}")  # pragma: no cover - all kinds are above

    def instance(self, node: Instance, level: int) -> str:
        """Instance('cls', name=value, ...) as jellyToSource writes it, when it can."""
        attributes = self.attributes(node.state)
        if attributes is None:
            return f"Instance({node.klass!a}, {self.expr(node.state, level)})"
        items = [f"{name}={self.expr(value, level + 1)}" for name, value in attributes]
        for name, default in _ADDED_ATTRIBUTES.get(node.klass, ()):
            if all(name != given for given, _ in attributes):
                items.append(f"{name}={default}")
                self.note(f"{name}={default} added to {node.klass} states")
        if not items:
            return f"Instance({node.klass!a})"
        return _block(f"Instance({node.klass!a},", items, ")", level)

    def attributes(self, state: Node) -> list[tuple[str, Node]] | None:
        """(name, value) pairs, if the state is a dict that can be keyword arguments."""
        if not isinstance(state, Mapping) or state.ref in self.numbers:
            return None
        pairs: list[tuple[str, Node]] = []
        for key, value in state.items:
            name = key.value if isinstance(key, Value) else None
            if not (
                isinstance(name, str)
                and key.ref not in self.numbers
                and name.isascii()
                and name.isidentifier()
                and not keyword.iskeyword(name)
                and name not in _RESERVED
                and all(name != given for given, _ in pairs)
            ):
                return None
            pairs.append((name, value))
        return pairs

    def method(self, node: Method, level: int) -> str:
        instance = node.instance
        if isinstance(instance, Value):
            # An unbound method.  aot's InstanceMethod() wants a Ref, Instance or Deref,
            # and gives getattr(class, name) when that stands for None.
            self.spare += 1
            bound = f"Ref({self.spare}, None)"
        else:
            bound = self.expr(instance, level)
        return f"InstanceMethod({node.name!a}, {node.klass!a}, {bound})"

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


def write(document: Document, origin: str) -> str:
    """The AOT source for a marmalade document; ``origin`` names the .tax file."""
    writer = _Writer(document)
    body = f"app = {writer.expr(document.root, 0)}\n"
    header = [
        f"# AOT source (twistd --source) converted by tap2pkg from {origin!a},",
        "# a Twisted marmalade XML file (twistd lost --xml in Twisted 9.0).",
    ]
    header += [f"# For current Twisted: {note}." for note in writer.notes]
    return "\n".join(header) + "\n" + body

"""Read a pickled application (.tap, what ``twistd -f`` loads) without running it.

A pickle is a program: it names globals and calls them.  The restricted unpickler
here hands out inert stand-ins (graph.Stub) for Twisted's classes and functions, a few
harmless replacements for the builtins that Twisted pickles use, and refuses every
other global.  Nothing named in the file is imported or called.

Before that, the opcodes are scanned once: this catches garbage and truncated files
with a clear message, and refuses nesting deep enough to crash CPython itself (hashing
a tuple nested a million deep overflows the C stack: a one-megabyte pickle can segfault
plain ``pickle.loads``).
"""

from __future__ import annotations

import io
import pickle
import pickletools
import warnings
from dataclasses import dataclass, field
from typing import Any

from tap2pkg.appfile.graph import (
    HashBudget,
    RefusedGlobalError,
    StandIns,
    Stub,
    TooLargeError,
    describe,
)
from tap2pkg.errors import AppFileError
from tap2pkg.limits import (
    MAX_EXPANDED,
    MAX_HASHED,
    MAX_MEMO_INDEX,
    MAX_NESTING,
    MAX_OBJECTS,
    Deadline,
)
from tap2pkg.model import AppInfo, AppKind

# Opcodes that change an object already on the stack instead of making a new one.
_MUTATORS = frozenset({"APPEND", "APPENDS", "SETITEM", "SETITEMS", "ADDITEMS", "BUILD"})
# Immutable containers: hashable, so hashing walks them with shared parts repeated.
_HASHABLE_CONTAINERS = frozenset({"TUPLE", "TUPLE1", "TUPLE2", "TUPLE3", "FROZENSET"})
_MEMO_PUT = frozenset({"PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"})
_MEMO_GET = frozenset({"GET", "BINGET", "LONG_BINGET"})
# Python 2 wrote these: its str type, and classic-class instances.
_PYTHON2_OPCODES = frozenset({"STRING", "BINSTRING", "SHORT_BINSTRING", "INST", "OBJ"})
_PYTHON2_MODULES = frozenset({"__builtin__", "copy_reg"})


class _MalformedError(Exception):
    """The opcode scan found something the unpickler would choke on."""


@dataclass
class _Node:
    """What the scan knows about one object: how deeply it nests others, and for a
    tuple or frozenset its size with shared parts counted each time (what hashing or
    comparing it walks)."""

    depth: int = 0
    size: int = 1


# Numbers, strings and the like: never containers, so one shared node stands for all.
_CONSTANT = _Node()
_CONSTANT_TYPES = frozenset(
    {"int", "int_or_bool", "bytes_or_str", "bytes", "None", "bool", "str", "float", "tuple"}
)
_CONSTANT_OPCODES = frozenset(
    op.name
    for op in pickletools.opcodes
    if not op.stack_before
    and len(op.stack_after) == 1
    and op.stack_after[0].name in _CONSTANT_TYPES
)


@dataclass
class _Scan:
    """Replays the opcodes' effect on the unpickler's stack, with _Node for objects."""

    stack: list[_Node] = field(default_factory=list)
    marks: list[int] = field(default_factory=list)  # stack heights at each MARK
    memo: dict[int, _Node] = field(default_factory=dict)
    python2: bool = False
    pushed: int = 0  # objects put on the stack, all told
    hashed: int = 0  # expanded size of everything used as a dict key or set member

    def pop(self) -> _Node:
        if len(self.stack) <= (self.marks[-1] if self.marks else 0):
            raise _MalformedError("unpickling stack underflow")
        return self.stack.pop()

    def pop_mark(self) -> list[_Node]:
        if not self.marks:
            raise _MalformedError("MARK missing")
        start = self.marks.pop()
        items = self.stack[start:]
        del self.stack[start:]
        return items

    def step(self, opcode: pickletools.OpcodeInfo, arg: Any) -> bool:
        """Apply one opcode; False at STOP."""
        name = opcode.name
        self.python2 = self.python2 or name in _PYTHON2_OPCODES
        if opcode.stack_after:
            self.pushed += 1
            if self.pushed > MAX_OBJECTS:
                raise _MalformedError(f"more than {MAX_OBJECTS} objects")
        if name in _CONSTANT_OPCODES:
            self.stack.append(_CONSTANT)
        elif name == "MARK":
            self.marks.append(len(self.stack))
        elif name == "POP" and self.marks and len(self.stack) == self.marks[-1]:
            self.marks.pop()  # as CPython does: POP right after MARK drops the MARK
        elif name == "DUP":
            top = self.pop()
            self.stack += [top, top]
        elif name in _MEMO_PUT:
            top = self.pop()
            self.stack.append(top)
            index = len(self.memo) if name == "MEMOIZE" else int(arg)
            if not 0 <= index <= MAX_MEMO_INDEX:
                # The unpickler would allocate a memo array this long (8 bytes a slot).
                raise _MalformedError(f"memo index {index} is out of range (at most "
                                      f"{MAX_MEMO_INDEX})")
            self.memo[index] = top
        elif name in _MEMO_GET:
            if int(arg) not in self.memo:
                raise _MalformedError(f"memo key {arg} missing")
            self.stack.append(self.memo[int(arg)])
        elif name == "STOP":
            self.pop()
            return False
        else:
            self.generic(opcode)
        return True

    def generic(self, opcode: pickletools.OpcodeInfo) -> None:
        """Apply an opcode's stack effect, from pickletools' description of it."""
        before = opcode.stack_before
        has_mark = pickletools.markobject in before
        children = self.pop_mark() if has_mark else []
        below = before.index(pickletools.markobject) if has_mark else len(before)
        fixed = [self.pop() for _ in range(below)]
        fixed.reverse()  # now in stack order: the target of a mutator comes first
        if opcode.name in _MUTATORS:
            target = fixed[0]
            if target is _CONSTANT:
                raise _MalformedError(f"{opcode.name} on a constant")
            target.depth = max([target.depth] + [c.depth + 1 for c in fixed[1:] + children])
            made = [target]
        else:
            depth = max([c.depth + 1 for c in fixed + children], default=0)
            size = 1
            if opcode.name in _HASHABLE_CONTAINERS:
                size += sum(c.size for c in fixed + children)
                if size > MAX_EXPANDED:
                    raise _MalformedError(
                        f"a tuple of more than {MAX_EXPANDED} items, counting shared ones "
                        "each time"
                    )
            made = [_Node(depth, size) for _ in opcode.stack_after]
        if made and made[0].depth > MAX_NESTING:
            raise _MalformedError(f"objects nested more than {MAX_NESTING} deep")
        self.count_hashed(opcode.name, fixed, children)
        self.stack.extend(made)

    def count_hashed(self, name: str, fixed: list[_Node], children: list[_Node]) -> None:
        """Dict keys and set members get hashed: bound the work that takes in all."""
        keys = {
            "SETITEM": fixed[1:2],
            "SETITEMS": children[0::2],
            "ADDITEMS": children,
            "FROZENSET": children,
        }.get(name, [])
        self.hashed += sum(k.size for k in keys)
        if self.hashed > MAX_HASHED:
            raise _MalformedError(f"dict keys and set members larger than {MAX_HASHED} in all")


def _scan(data: bytes) -> _Scan:
    """Walk the opcodes as the unpickler would, tracking nesting depth, never building."""
    scan = _Scan()
    deadline = Deadline()
    with warnings.catch_warnings():
        # pickletools warns about bad escapes in STRING arguments of damaged pickles;
        # the unpickler itself rejects those, with an error we report.
        warnings.simplefilter("ignore", DeprecationWarning)
        for opcode, arg, pos in pickletools.genops(data):
            deadline.check()
            try:
                if not scan.step(opcode, arg):
                    break
            except _MalformedError as exc:
                raise _MalformedError(f"at byte {pos}: {exc}") from None
    return scan


# ---- the few non-Twisted globals that Twisted's pickles use, made harmless ----


def _reconstructor(cls: object, base: object, state: object) -> Stub:
    """copyreg._reconstructor: how protocols 0 and 1 make instances of new-style classes."""
    if not (isinstance(cls, type) and issubclass(cls, Stub)):
        raise pickle.UnpicklingError("copyreg._reconstructor used on a non-Twisted class")
    return cls() if base is object or state is None else cls(state)


def _newobj(cls: object, *args: object) -> Stub:
    """copyreg.__newobj__: cls.__new__(cls, *args)."""
    if not (isinstance(cls, type) and issubclass(cls, Stub)):
        raise pickle.UnpicklingError("copyreg.__newobj__ used on a non-Twisted class")
    return cls(*args)


def _newobj_ex(cls: object, args: object, kwargs: object) -> Stub:
    """copyreg.__newobj_ex__: cls.__new__(cls, *args, **kwargs)."""
    if not (isinstance(cls, type) and issubclass(cls, Stub)):
        raise pickle.UnpicklingError("copyreg.__newobj_ex__ used on a non-Twisted class")
    if not (isinstance(args, tuple) and isinstance(kwargs, dict)):
        raise pickle.UnpicklingError("copyreg.__newobj_ex__ needs a tuple and a dict")
    return cls(*args, **{str(k): v for k, v in kwargs.items()})


_COLLECTIONS = (list, tuple, set, frozenset, dict)


def _set(items: object = (), budget: HashBudget | None = None) -> set[Any]:
    if not isinstance(items, _COLLECTIONS):
        raise pickle.UnpicklingError("set() of something that is not a collection")
    (budget or HashBudget()).charge(items)  # members get hashed: bound that first
    return set(items)


def _frozenset(items: object = (), budget: HashBudget | None = None) -> frozenset[Any]:
    if not isinstance(items, _COLLECTIONS):
        raise pickle.UnpicklingError("frozenset() of something that is not a collection")
    (budget or HashBudget()).charge(items)
    return frozenset(items)


def _latin1(text: object, encoding: object = "latin1") -> bytes:
    """_codecs.encode(text, 'latin1'): how protocol 2 stores bytes (never a size: no bombs)."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("only latin-1 text can become bytes")
    return text.encode("latin-1")


def _bytearray(source: object = b"", encoding: object = None) -> bytearray:
    # bytearray(n) would allocate n bytes: accept only real content.
    if isinstance(source, bytes) and encoding is None:
        return bytearray(source)
    return bytearray(_latin1(source, encoding))


def _complex(real: object = 0, imag: object = 0) -> complex:
    if not (isinstance(real, int | float) and isinstance(imag, int | float)):
        raise pickle.UnpicklingError("complex() of something that is not a number")
    return complex(real, imag)


def _slice(*args: object) -> slice:
    if len(args) > 3:
        raise pickle.UnpicklingError("slice() takes at most 3 arguments")
    return slice(*args)


_SAFE: dict[str, object] = {
    "copyreg._reconstructor": _reconstructor,
    "copyreg.__newobj__": _newobj,
    "copyreg.__newobj_ex__": _newobj_ex,
    "builtins.object": object,
    "builtins.set": _set,
    "builtins.frozenset": _frozenset,
    "builtins.bytearray": _bytearray,
    "builtins.complex": _complex,
    "builtins.slice": _slice,
    "_codecs.encode": _latin1,
}
# Python 2 spelled two of those modules differently.
_SAFE |= {k.replace("copyreg.", "copy_reg."): v for k, v in _SAFE.items() if "copyreg" in k}
_SAFE |= {k.replace("builtins.", "__builtin__."): v for k, v in _SAFE.items() if "builtins" in k}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler whose globals are stand-ins, a few safe builtins, or refused."""

    def __init__(self, data: bytes) -> None:
        # latin1 turns Python 2 str into str, as Python 3 code expects of attribute names.
        super().__init__(io.BytesIO(data), encoding="latin1")
        self.stand_ins = StandIns()
        self.python2 = False
        self.budget = HashBudget()

    def find_class(self, module: str, name: str) -> Any:
        safe = _SAFE.get(f"{module}.{name}")
        if safe is None:
            # Twisted's and the app's own names become stand-ins; refused otherwise.
            return self.stand_ins.get(module, name)
        self.python2 = self.python2 or module in _PYTHON2_MODULES
        if safe is _set:
            return lambda items=(): _set(items, self.budget)
        if safe is _frozenset:
            return lambda items=(): _frozenset(items, self.budget)
        return safe

    def persistent_load(self, pid: Any) -> Any:
        # The default already refuses, but say so here too: never trust an inherited default.
        raise pickle.UnpicklingError("persistent IDs are not supported")


def _short(text: str) -> str:
    """A file-supplied name, printable and short enough for a one-line message."""
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= 80 else text[:77] + "..."


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


def unpickle(filename: str, data: bytes) -> tuple[object, bool, StandIns]:
    """The stand-in graph, whether it looks like a Python 2 pickle, and the stand-ins."""
    try:
        scan = _scan(data)
    except (_MalformedError, ValueError) as exc:  # genops raises ValueError on bad bytes
        raise AppFileError(f"{filename}: not a valid pickle: {_one_line(exc)}") from None
    unpickler = RestrictedUnpickler(data)
    try:
        root = unpickler.load()
    except RefusedGlobalError as exc:
        raise AppFileError(
            f"{filename}: refused to load {_short(exc.dotted)} from the pickle: {exc.reason}"
        ) from None
    except TooLargeError as exc:
        raise AppFileError(f"{filename}: the pickle is too large: {exc}") from None
    except RecursionError:
        raise AppFileError(f"{filename}: the pickle is nested too deeply") from None
    except MemoryError:  # the limits above should make this unreachable: say so plainly
        raise AppFileError(f"{filename}: the pickle needs more memory than there is") from None
    # Anything the pickle module or a safe replacement raises means a malformed pickle.
    except Exception as exc:
        raise AppFileError(f"{filename}: not a valid pickle: {_one_line(exc)}") from None
    return root, scan.python2 or unpickler.python2, unpickler.stand_ins


def read_pickle(filename: str, content: bytes) -> AppInfo:
    root, python2, stand_ins = unpickle(filename, content)
    extra = (
        ("this looks like a Python 2 pickle: twistd on Python 3 may fail to load it "
         "(try --check)",)
        if python2 else ()
    )
    return describe(root).app_info(AppKind.TAP, filename, content, extra, stand_ins)

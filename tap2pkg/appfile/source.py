"""Read an AOT source application (.tas, what ``twistd -s`` loads) without running it.

twistd execs the file (twisted.persisted.aot.unjellyFromSource) with the AOT
constructors in scope and takes the top-level ``app``.  Here the file is only parsed:
every expression must be an AOT constructor call or a literal, as jellyToSource
writes, and becomes the same inert graph that the pickle reader makes
(graph.Stub objects; Ref/Deref give shared objects, cycles included).
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tap2pkg.appfile.graph import (
    HashBudget,
    RefusedGlobalError,
    StandIns,
    Stub,
    TooLargeError,
    describe,
    expanded_size,
)
from tap2pkg.appfile.python import parse
from tap2pkg.errors import AppFileError
from tap2pkg.limits import MAX_NESTING, Deadline
from tap2pkg.model import AppInfo, AppKind

_NUMBER = (int, float, complex)
_LITERALS = (str, bytes, bool, int, float, complex)


class _RefusedError(Exception):
    """Something in the file is not allowed; carries the line it is on."""

    def __init__(self, node: ast.AST, message: str) -> None:
        self.line = getattr(node, "lineno", 0)
        super().__init__(message)


def _not_allowed(node: ast.AST) -> _RefusedError:
    return _RefusedError(
        node, f"only AOT constructors and literals are allowed, found {_what(node)}"
    )


class _Dangling:
    """What a Deref with no matching Ref stands for: nothing tap2pkg can know."""

    def __repr__(self) -> str:
        return "<dangling Deref>"


DANGLING = _Dangling()


@dataclass(frozen=True, eq=False)
class MethodRef:
    """InstanceMethod(name, class, instance): a bound method, recorded and never bound."""

    name: str
    klass: type[Stub]
    instance: object


def _what(node: ast.AST) -> str:
    """A short description of a node for error messages."""
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name | ast.Attribute):
            return f"a call to {_short(ast.unparse(func))}()"
        return "a call"
    if isinstance(node, ast.Name):
        return f"the name {node.id}"
    if isinstance(node, ast.Attribute):
        return f"the attribute {_short(ast.unparse(node))}"
    return {
        ast.Lambda: "a lambda",
        ast.ListComp: "a comprehension",
        ast.SetComp: "a comprehension",
        ast.DictComp: "a comprehension",
        ast.GeneratorExp: "a generator expression",
        ast.JoinedStr: "an f-string",
        ast.Set: "a set (AOT cannot hold sets)",
        ast.Starred: "a * argument",
    }.get(type(node), f"{type(node).__name__} expression")


def _short(text: str) -> str:
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= 60 else text[:57] + "..."


def _depth(tree: ast.AST) -> int:
    """How deeply the expression nests, without recursion (the AST can be very deep)."""
    deepest = 0
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth <= MAX_NESTING:
            stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


@dataclass
class Converter:
    """Turns the checked AST into a stand-in graph; one per file."""

    stand_ins: StandIns = field(default_factory=StandIns)
    # Ref(n, x) nodes by number, found before conversion so a Deref may come first.
    refs: dict[int, ast.Call] = field(default_factory=dict)
    # Converted Ref targets.  Instances, lists and dicts are made empty first and filled
    # later, so a Deref inside them (a cycle) gets the very same object.
    made: dict[int, object] = field(default_factory=dict)
    filling: set[int] = field(default_factory=set)
    # Shared tuples used as dict keys would hash for ever: bound that work.
    budget: HashBudget = field(default_factory=HashBudget)
    deadline: Deadline = field(default_factory=Deadline)
    # Deref numbers with no Ref anywhere -> the line of the first.
    dangling: dict[int, int] = field(default_factory=dict)

    def warnings(self) -> tuple[str, ...]:
        if not self.dangling:
            return ()
        numbers = ", ".join(f"Deref({n})" for n in sorted(self.dangling)[:5])
        line = min(self.dangling.values())
        return (
            f"line {line}: {numbers} has no matching Ref: Twisted 22.4 (Debian 12's "
            "python3-twisted) cannot load this file, Twisted >= 24 can (given --uid and "
            "--gid, as the package's service does)",
        )

    def collect_refs(self, tree: ast.AST) -> None:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _is_constructor(node, "Ref") and len(node.args) == 2:
                number = _literal_int(node.args[0])
                if number in self.refs:
                    raise _RefusedError(node, f"Ref({number}) is defined twice")
                self.refs[number] = node

    def convert(self, node: ast.expr) -> Any:
        self.deadline.check()
        if isinstance(node, ast.Constant | ast.UnaryOp | ast.BinOp):
            return _constant(node)
        if isinstance(node, ast.Name) and node.id == "Ellipsis":
            return Ellipsis
        if isinstance(node, ast.Tuple):
            made = tuple(self.convert(e) for e in node.elts)
            try:
                expanded_size(made, self.budget.sizes)
            except TooLargeError as exc:
                raise _RefusedError(node, str(exc)) from None
            return made
        if isinstance(node, ast.List):
            return [self.convert(e) for e in node.elts]
        if isinstance(node, ast.Dict):
            return self.fill_dict({}, node)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            make = self.constructors.get(node.func.id)
            if make is not None:
                return make(self, node)
        raise _not_allowed(node)

    def fill_dict(self, target: dict[Any, Any], node: ast.Dict) -> dict[Any, Any]:
        for key_node, value_node in zip(node.keys, node.values, strict=True):
            if key_node is None:
                raise _RefusedError(value_node, "a ** in a dict is not allowed")
            key = self.convert(key_node)
            try:
                self.budget.charge([key])
            except TooLargeError as exc:
                raise _RefusedError(key_node, str(exc)) from None
            try:
                target[key] = self.convert(value_node)
            except TypeError:
                raise _RefusedError(key_node, "a dict key that cannot be hashed") from None
        return target

    def stand_in(self, node: ast.AST, dotted: object) -> type[Stub]:
        """The stand-in for a class or function named "package.module.Name"."""
        if not isinstance(dotted, str) or not dotted:
            raise _RefusedError(node, "a class, function or module name must be a string")
        module, _, name = dotted.rpartition(".")
        try:
            if not module:  # a bare module name
                return self.stand_ins.get(name, "")
            return self.stand_ins.get(module, name)
        except RefusedGlobalError as exc:
            raise _RefusedError(node, f"refused to load {_short(dotted)}: {exc.reason}") from None

    # ---- one method per AOT constructor, as twisted.persisted.aot defines them ----

    def make_ref(self, node: ast.Call) -> Any:
        args = _plain_args(node, 0, 2)
        if len(args) != 2:
            raise _RefusedError(node, "Ref() needs a number and an object")
        return self.ref(_literal_int(args[0]), node)

    def make_deref(self, node: ast.Call) -> Any:
        (number,) = _plain_args(node, 1, 1)
        return self.ref(_literal_int(number), node)

    def make_class(self, node: ast.Call) -> type[Stub]:
        (name,) = _plain_args(node, 1, 1)
        return self.stand_in(node, self.convert(name))

    def make_module(self, node: ast.Call) -> type[Stub]:
        (name,) = _plain_args(node, 1, 1)
        module = self.convert(name)
        if not isinstance(module, str) or not module:
            raise _RefusedError(node, "Module() needs a module name")
        try:
            return self.stand_ins.get(module, "")
        except RefusedGlobalError as exc:
            raise _RefusedError(node, f"refused to load {_short(module)}: {exc.reason}") from None

    def make_instance_method(self, node: ast.Call) -> MethodRef:
        name, klass, instance = (self.convert(a) for a in _plain_args(node, 3, 3))
        if not isinstance(name, str):
            raise _RefusedError(node, "InstanceMethod() needs a method name")
        return MethodRef(name, self.stand_in(node, klass), instance)

    def make_copyreg(self, node: ast.Call) -> Stub:
        loadfunc, state = (self.convert(a) for a in _plain_args(node, 2, 2))
        # aot calls loadfunc(*state): record that call.
        args = tuple(state) if isinstance(state, tuple | list) else (state,)
        return self.stand_in(node, loadfunc)(*args)

    def make_instance(self, node: ast.Call) -> Stub:
        return self.fill_instance(self.new_instance(node), node)

    def make_slice(self, node: ast.Call) -> slice:
        # repr() writes slice(1, 2, None) for a slice, and aot passes that through.
        return slice(*(self.convert(a) for a in _plain_args(node, 1, 3)))

    constructors: ClassVar[dict[str, Callable[[Converter, ast.Call], Any]]] = {
        "Ref": make_ref,
        "Deref": make_deref,
        "Class": make_class,
        "Function": make_class,
        "Module": make_module,
        "InstanceMethod": make_instance_method,
        "Copyreg": make_copyreg,
        "Instance": make_instance,
        "slice": make_slice,
    }

    def new_instance(self, node: ast.Call) -> Stub:
        if not node.args:
            raise _RefusedError(node, "Instance() needs a class name")
        return self.stand_in(node, self.convert(node.args[0]))()

    def fill_instance(self, stub: Stub, node: ast.Call) -> Stub:
        """Instance(name, state) or Instance(name, attr=value, ...)."""
        rest = _plain_args(node, 1, 2)[1:]
        keywords = {k.arg: k.value for k in node.keywords if k.arg is not None}
        if len(keywords) != len(node.keywords):
            raise _RefusedError(node, "a ** argument is not allowed")
        state_node = rest[0] if rest else keywords.pop("__stateObj__", None)
        if state_node is not None and keywords:
            raise _RefusedError(node, "Instance() takes a state object or attributes, not both")
        if state_node is not None:
            stub.state = self.convert(state_node)
        else:
            stub.state = {k: self.convert(v) for k, v in keywords.items()}
        return stub

    def ref(self, number: int, where: ast.Call) -> Any:
        """The object Ref(number, ...) stands for, made once, however often it is named."""
        if number in self.made:
            return self.made[number]
        node = self.refs.get(number)
        if node is None:
            # Twisted 22.4 to 26's jellyToSource writes one in every Application:
            # Instance('twisted.application.service.Process', Deref(2)).
            if number not in self.dangling:
                self.dangling[number] = where.lineno
            return DANGLING
        if number in self.filling:
            # Only immutable things (tuples) are made after their content, so only they
            # can get here.  Twisted's own jellier never writes such a cycle.
            raise _RefusedError(node, f"Ref({number}) contains itself through a tuple: unsupported")
        self.filling.add(number)
        target = node.args[1]
        made: Any
        if isinstance(target, ast.Call) and _is_constructor(target, "Instance"):
            made = self.made[number] = self.new_instance(target)
            self.fill_instance(made, target)
        elif isinstance(target, ast.List):
            made = self.made[number] = []
            made.extend(self.convert(e) for e in target.elts)
        elif isinstance(target, ast.Dict):
            made = self.made[number] = {}
            self.fill_dict(made, target)
        else:
            made = self.made[number] = self.convert(target)
        self.filling.discard(number)
        return made


def _is_constructor(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name


def _plain_args(node: ast.Call, least: int, most: int) -> list[ast.expr]:
    """Positional arguments only, between least and most of them."""
    name = node.func.id if isinstance(node.func, ast.Name) else "call"
    if node.keywords and name != "Instance":
        raise _RefusedError(node, f"{name}() takes no keyword arguments")
    if any(isinstance(a, ast.Starred) for a in node.args):
        raise _RefusedError(node, "a * argument is not allowed")
    if not least <= len(node.args) <= most:
        raise _RefusedError(node, f"{name}() takes {least}..{most} arguments, got {len(node.args)}")
    return node.args


def _literal_int(node: ast.expr) -> int:
    value = node.value if isinstance(node, ast.Constant) else None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**31:
        raise _RefusedError(node, "a Ref/Deref number must be an integer from 0 to 2**31-1")
    return value


def _constant(node: ast.expr) -> Any:
    """A literal, or the arithmetic repr() writes for numbers: -1, (1+2j), (-1-2j)."""
    if isinstance(node, ast.Constant):
        if node.value is Ellipsis or isinstance(node.value, _LITERALS) or node.value is None:
            return node.value
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _constant(node.operand)
        if isinstance(value, _NUMBER) and not isinstance(value, bool):
            return -value if isinstance(node.op, ast.USub) else value
    elif (
        isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Add | ast.Sub)
        and not isinstance(node.left, ast.BinOp)
        and isinstance(node.right, ast.Constant)
        and isinstance(node.right.value, complex)
    ):
        left, right = _constant(node.left), node.right.value
        if isinstance(left, int | float) and not isinstance(left, bool):
            return left + right if isinstance(node.op, ast.Add) else left - right
    raise _not_allowed(node)


def _app_expression(tree: ast.Module) -> ast.expr:
    """The value of the top-level ``app = ...``; jellyToSource writes nothing else."""
    if _depth(tree) > MAX_NESTING:
        raise _RefusedError(tree, f"expressions are nested more than {MAX_NESTING} deep")
    app: ast.expr | None = None
    for statement in tree.body:
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue  # a docstring
        if not (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
        ):
            raise _RefusedError(statement, "only 'name = <AOT expression>' assignments are allowed")
        if statement.targets[0].id == "app":
            app = statement.value
    if app is None:
        raise _RefusedError(tree, "no top-level 'app' is defined (twistd -s needs one)")
    return app


def unjelly(filename: str, content: bytes) -> object:
    """The stand-in graph that the file's ``app`` describes."""
    return convert_file(filename, content)[0]


def convert_file(filename: str, content: bytes) -> tuple[object, Converter]:
    """The stand-in graph, and the converter (its stand-ins and what it noticed)."""
    tree = parse(filename, content)
    converter = Converter()
    try:
        app = _app_expression(tree)
        # Check every assigned expression, even those other than app: twistd runs them all.
        for statement in tree.body:
            if isinstance(statement, ast.Assign) and statement.value is not app:
                converter.collect_refs(statement.value)
                converter.convert(statement.value)
                converter.refs.clear()
                converter.made.clear()
        converter.collect_refs(app)
        return converter.convert(app), converter
    except _RefusedError as exc:
        where = f"{filename}:{exc.line}" if exc.line else filename
        raise AppFileError(f"{where}: {exc}") from None
    except RecursionError:
        raise AppFileError(f"{filename}: references are chained too deeply to read") from None


def read_source(filename: str, content: bytes) -> AppInfo:
    root, converter = convert_file(filename, content)
    return describe(root).app_info(AppKind.SOURCE, filename, content, converter.warnings(),
                                   converter.stand_ins)

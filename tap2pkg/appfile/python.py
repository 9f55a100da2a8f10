"""Read a Python application file (.tac/.py, what ``twistd -y`` runs) without running it.

twistd execs the file and takes its top-level ``application``.  Here the file is only
parsed with ``ast``: it must bind ``application``, and whatever is written as literals
is read from the source: the ``Application("name", uid, gid)`` call and the ports it
listens on (strports descriptions, internet.TCPServer & co, server endpoints).
Anything computed at run time is left alone; nothing is guessed.
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from tap2pkg.appfile.graph import endpoint, id_or_none, ids_ignored, is_dotted_name
from tap2pkg.errors import AppFileError
from tap2pkg.model import AppInfo, AppKind

_UNKNOWN = object()  # a value that is not a literal, as opposed to the literal None
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


class _Listener(NamedTuple):
    """How a call that listens is written: internet.TCPServer(port, factory, backlog,
    interface) passes its arguments to reactor.listenTCP; endpoints take the reactor
    first."""

    kind: str  # strports type
    where: int  # index of the port (or UNIX address) argument
    interface: int  # index of the interface argument, -1 for none
    default: str = ""  # the interface used when none is given


_LISTENERS = {
    "TCPServer": _Listener("tcp", 0, 3),
    "SSLServer": _Listener("ssl", 0, 4),
    "UDPServer": _Listener("udp", 0, 2),
    "UNIXServer": _Listener("unix", 0, -1),
    "TCP4ServerEndpoint": _Listener("tcp", 1, 3),
    "TCP6ServerEndpoint": _Listener("tcp6", 1, 3, "::"),
    "SSL4ServerEndpoint": _Listener("ssl", 1, 4),
    "UNIXServerEndpoint": _Listener("unix", 1, -1),
}


def _module_scope(tree: ast.Module) -> Iterator[ast.AST]:
    """Nodes that run in the module's own scope: not inside functions, classes, lambdas
    or comprehensions (a def or class statement itself still binds its name)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        yield node
        if node is tree or not isinstance(node, _SCOPES + _COMPREHENSIONS):
            stack.extend(ast.iter_child_nodes(node))


def _binds(node: ast.AST, name: str) -> bool:
    """Whether this module-scope node binds ``name``."""
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
        return node.id == name
    if isinstance(node, ast.Import | ast.ImportFrom):
        for alias in node.names:
            bound = alias.asname or alias.name
            if isinstance(node, ast.Import):
                bound = alias.asname or alias.name.partition(".")[0]
            if bound == name:
                return True
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return node.name == name
    return False


@dataclass
class Module:
    """What the parsed module makes statically visible."""

    tree: ast.Module
    # local name -> dotted name it was imported as ("internet" -> "twisted.application.internet")
    imports: dict[str, str] = field(default_factory=dict)
    # module-level names assigned exactly once: name -> the assigned expression
    assigned: dict[str, ast.expr] = field(default_factory=dict)

    def __post_init__(self) -> None:
        counts: dict[str, int] = {}
        value: ast.expr | None
        for node in _module_scope(self.tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                counts[node.id] = counts.get(node.id, 0) + 1
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, value = node.targets[0], node.value
            elif isinstance(node, ast.AnnAssign):
                target, value = node.target, node.value
            else:
                continue
            if isinstance(target, ast.Name) and value is not None:
                self.assigned[target.id] = value
        self.assigned = {k: v for k, v in self.assigned.items() if counts.get(k) == 1}
        for node in ast.walk(self.tree):  # imports inside functions count too: tacs do that
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.imports[alias.asname] = alias.name
            elif isinstance(node, ast.ImportFrom):
                base = "." * node.level + (node.module or "")
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = f"{base}.{alias.name}"

    def dotted(self, node: ast.expr) -> str | None:
        """The dotted name an expression refers to, through imports: "internet.TCPServer"
        after ``from twisted.application import internet`` is
        "twisted.application.internet.TCPServer"."""
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        parts.append(self.imports.get(node.id, node.id))
        return ".".join(reversed(parts))

    def literal(self, node: ast.expr | None) -> object:
        """The literal value of node (through names assigned once), else _UNKNOWN."""
        for _ in range(10):  # NAME = OTHER_NAME chains, bounded
            if isinstance(node, ast.Name) and node.id in self.assigned:
                node = self.assigned[node.id]
            else:
                break
        if isinstance(node, ast.Constant):
            return node.value
        if (
            isinstance(node, ast.UnaryOp)
            and isinstance(node.op, ast.USub)
            and isinstance(node.operand, ast.Constant)
            and isinstance(node.operand.value, int | float)
        ):
            return -node.operand.value
        return _UNKNOWN


def _argument(call: ast.Call, index: int, keyword: str) -> ast.expr | None:
    """The expression passed as positional ``index`` or as ``keyword``, if visible."""
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    before = call.args[: index + 1]
    if any(isinstance(a, ast.Starred) for a in before) or index < 0:
        return None
    return call.args[index] if index < len(call.args) else None


def _is_application(module: Module, node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    name = module.dotted(node.func)
    return name is not None and name.rpartition(".")[2] == "Application"


def _application_call(module: Module) -> ast.Call | None:
    """The Application(...) call that ``application`` is bound to, if it can be seen."""
    value = module.assigned.get("application")
    for _ in range(10):  # application = app; app = service.Application(...)
        if isinstance(value, ast.Name) and value.id in module.assigned:
            value = module.assigned[value.id]
    if isinstance(value, ast.Call) and _is_application(module, value):
        return value
    # Otherwise (made in a function, say) use the only Application call there is.
    calls = [n for n in ast.walk(module.tree) if _is_application(module, n)]
    return calls[0] if len(calls) == 1 and isinstance(calls[0], ast.Call) else None


def _call_endpoint(module: Module, call: ast.Call) -> str | None:
    """The strports description of what this call listens on, if it is one tap2pkg knows
    and its arguments are literals."""
    name = module.dotted(call.func)
    if name is None:
        return None
    parent, _, last = name.rpartition(".")
    description: object = None
    if last in ("service", "listen") and parent.rpartition(".")[2] == "strports":
        description = module.literal(_argument(call, 0, "description"))
    elif last == "serverFromString":
        description = module.literal(_argument(call, 1, "description"))
    elif last in _LISTENERS:
        return _listener_endpoint(module, call, _LISTENERS[last])
    return description if isinstance(description, str) and description else None


def _listener_endpoint(module: Module, call: ast.Call, listener: _Listener) -> str | None:
    keyword = "address" if listener.kind == "unix" else "port"
    where = module.literal(_argument(call, listener.where, keyword))
    given = _argument(call, listener.interface, "interface")
    interface = module.literal(given) if given is not None else None
    if interface is _UNKNOWN:
        return None  # without its interface, the endpoint would claim every address
    return endpoint(listener.kind, where, interface, listener.default)


def parse(filename: str, content: bytes) -> ast.Module:
    """The module's AST, or AppFileError "file:line: syntax error: ..."."""
    try:
        with warnings.catch_warnings():
            # Invalid escapes and the like are twistd's business when it runs the file,
            # not noise to print (or errors, under -W error) when tap2pkg reads it.
            warnings.simplefilter("ignore")
            return ast.parse(content, filename=filename)
    except SyntaxError as exc:  # no line number for NUL bytes
        where = f"{filename}:{exc.lineno}" if exc.lineno else filename
        raise AppFileError(f"{where}: syntax error: {exc.msg}") from None
    except ValueError as exc:  # NUL bytes on older Pythons
        raise AppFileError(f"{filename}: cannot parse it: {exc}") from None
    except (RecursionError, MemoryError):
        raise AppFileError(f"{filename}: cannot parse it: nested too deeply") from None


def read_python(filename: str, content: bytes) -> AppInfo:
    tree = parse(filename, content)
    module = Module(tree)
    try:
        warnings = _check_binding(filename, tree)
        (app_name, uid, gid), more = _application_fields(module)
        endpoints = _endpoints(module)
        imports = _imports(module)
    except RecursionError:  # every walk here is iterative: a last guard for absurd input
        raise AppFileError(f"{filename}: cannot read it: nested too deeply") from None
    uid, gid = id_or_none(uid), id_or_none(gid)
    return AppInfo(
        kind=AppKind.PYTHON,
        filename=filename,
        content=content,
        app_name=app_name if isinstance(app_name, str) else None,
        uid=uid,
        gid=gid,
        endpoints=endpoints,
        warnings=tuple(warnings + more) + ids_ignored(uid, gid),
        imports=imports,
    )


def _check_binding(filename: str, tree: ast.Module) -> list[str]:
    """AppFileError unless the module binds ``application``; warnings if it may."""
    # "application: T" without a value declares the name but does not bind it.
    declared_only = {
        id(node.target)
        for node in _module_scope(tree)
        if isinstance(node, ast.AnnAssign) and node.value is None
    }
    if any(
        _binds(node, "application") for node in _module_scope(tree) if id(node) not in declared_only
    ):
        return []
    maybe: list[ast.stmt] = [
        node
        for node in ast.walk(tree)
        if (isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names))
        or (isinstance(node, ast.Global) and "application" in node.names)
    ]
    if not maybe:
        raise AppFileError(
            f"{filename}: no top-level 'application' is defined (twistd -y needs one)"
        )
    return [
        f"line {maybe[0].lineno}: 'application' may be defined here; "
        "tap2pkg cannot tell (try --check)"
    ]


def _application_fields(module: Module) -> tuple[list[object], list[str]]:
    """[name, uid, gid] from the Application(...) call (None where not visible), and
    warnings about what could not be read."""
    call = _application_call(module)
    if call is None:
        return [None, None, None], [
            "no Application(...) call was found for 'application': "
            "the app name, uid and gid are unknown"
        ]
    values: list[object] = []
    warnings: list[str] = []
    for index, (keyword, wanted) in enumerate((("name", str), ("uid", int), ("gid", int))):
        given = _argument(call, index, keyword)
        value = module.literal(given)
        if given is None or value is None:
            value = None
        elif not isinstance(value, wanted) or isinstance(value, bool):
            value = None
            what = "string" if wanted is str else "integer"
            ignored = ("" if wanted is str else
                       " (it is ignored: the service runs as the package's service user)")
            warnings.append(
                f"line {call.lineno}: the Application {keyword} is not a literal {what}; "
                f"tap2pkg cannot see it{ignored}"
            )
        values.append(value)
    return values, warnings


def _imported_by_call(module: Module, call: ast.Call) -> str | None:
    """``__import__("x")`` and ``importlib.import_module("x"[, "pkg"])`` with literals."""
    name = module.dotted(call.func)
    if name not in ("__import__", "builtins.__import__", "importlib.import_module"):
        return None
    target = module.literal(_argument(call, 0, "name"))
    if not isinstance(target, str):
        return None
    if name == "importlib.import_module" and target.startswith("."):
        package = module.literal(_argument(call, 1, "package"))
        if isinstance(package, str) and is_dotted_name(package):
            level = len(target) - len(target.lstrip("."))
            base = package.rsplit(".", level - 1)[0] if level > 1 else package
            target = f"{base}.{target.lstrip('.')}".rstrip(".")
    return target


def _imports(module: Module) -> tuple[str, ...]:
    """The modules the file imports, anywhere in it (functions, classes, if and try
    blocks too), as dotted names; relative ones keep their leading dots (".models")
    for a later stage to resolve.  ``from x.y import z`` gives x.y: z may be a name in
    it as well as a submodule."""
    found: set[str] = set()
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            dots = "." * node.level
            if node.module:
                found.add(dots + node.module)
            else:  # from . import views: each name is a module of the package
                found.update(dots + alias.name for alias in node.names if alias.name != "*")
        elif isinstance(node, ast.Call):
            target = _imported_by_call(module, node)
            if target is not None:
                found.add(target)
    # Only real dotted names: anything else cannot be imported, and these are printed.
    return tuple(sorted(n for n in found if is_dotted_name(n.lstrip(".")) or set(n) == {"."}))


def _endpoints(module: Module) -> tuple[str, ...]:
    """What the module listens on, in file order, each once."""
    calls = sorted(
        (n for n in ast.walk(module.tree) if isinstance(n, ast.Call)),
        key=lambda n: (n.lineno, n.col_offset),  # ast.walk is breadth-first: use file order
    )
    endpoints: dict[str, None] = {}
    for call in calls:
        found = _call_endpoint(module, call)
        if found is not None:
            endpoints[found] = None
    return tuple(endpoints)

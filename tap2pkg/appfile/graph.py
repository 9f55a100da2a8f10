"""The inert object graph that the pickle (.tap) and AOT source (.tas) readers build, and
the walk that finds what tap2pkg needs in it.

Neither reader imports or runs anything the file names.  A class or function named in
the file becomes a *stand-in*: a subclass of Stub that only records the dotted name.
"Creating an instance" of a stand-in makes a Stub that records the arguments, and
setting its state stores the state.  So a file can describe a Twisted Application,
but it cannot make tap2pkg do anything.

What twistd saves is ``service.Application(name, uid, gid)``: a
``twisted.python.components.Componentized`` whose ``_adapterCache`` maps interface
names to a MultiService (IService, IServiceCollection), a Process (IProcess: uid, gid)
and a sob.Persistent (IPersistable: name).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tap2pkg.limits import MAX_EXPANDED, MAX_HASHED, MAX_SERVICE_DEPTH, MAX_SERVICES
from tap2pkg.model import AppInfo, AppKind

ISERVICE = "twisted.application.service.IService"
ISERVICE_COLLECTION = "twisted.application.service.IServiceCollection"
IPROCESS = "twisted.application.service.IProcess"
IPERSISTABLE = "twisted.persisted.sob.IPersistable"
COMPONENTIZED = "twisted.python.components.Componentized"


class RefusedGlobalError(Exception):
    """The file names a class or function outside the allowlist."""

    def __init__(self, dotted: str, reason: str = "") -> None:
        self.dotted = dotted
        self.reason = reason
        super().__init__(f"refused to load {dotted}: {reason}" if reason else dotted)


class TooLargeError(Exception):
    """A tuple or a set of keys would take too long to hash (shared parts repeated)."""


def expanded_size(value: object, sizes: dict[int, tuple[object, int]]) -> int:
    """The size of value with shared parts counted each time they appear (what hashing or
    comparing it walks), for tuples and frozensets; 1 for anything else.  ``sizes``
    memoises by id (holding the object, so ids stay valid); TooLargeError past
    MAX_EXPANDED."""
    if not isinstance(value, tuple | frozenset):
        return 1
    known = sizes.get(id(value))
    if known is not None:
        return known[1]
    # Tuples are made after their content, so the parts are usually known already;
    # otherwise walk them without recursion.
    pending: list[tuple[tuple[Any, ...] | frozenset[Any], bool]] = [(value, False)]
    while pending:
        item, ready = pending.pop()
        if id(item) in sizes:
            continue
        parts = [p for p in item if isinstance(p, tuple | frozenset) and id(p) not in sizes]
        if parts and not ready:
            pending.append((item, True))
            pending.extend((p, False) for p in parts)
            continue
        total = 1 + sum(sizes[id(p)][1] if isinstance(p, tuple | frozenset) else 1
                        for p in item)
        if total > MAX_EXPANDED:
            raise TooLargeError(
                f"a tuple of more than {MAX_EXPANDED} items, counting shared ones each time"
            )
        sizes[id(item)] = (item, total)
    return sizes[id(value)][1]


@dataclass
class HashBudget:
    """Bounds the hashing one file causes: every dict key and set member, expanded."""

    sizes: dict[int, tuple[object, int]] = field(default_factory=dict)
    spent: int = 0

    def charge(self, keys: Iterable[object]) -> None:
        for key in keys:
            self.spent += expanded_size(key, self.sizes)
            if self.spent > MAX_HASHED:
                raise TooLargeError(f"dict keys and set members larger than {MAX_HASHED} in all")


def is_twisted(module: str) -> bool:
    """Twisted's own classes: what application files are made of."""
    return module == "twisted" or module.startswith("twisted.")


# Modules whose classes and functions run code, commands or file operations when a
# loader calls them (pickle's REDUCE, AOT's Copyreg and Instance, marmalade's copyreg):
# a file naming anything in them is refused outright, although tap2pkg itself never
# calls anything, because twistd will on the target.  Other modules are the app's own
# or its dependencies': they become stand-ins, reported as modules the package needs.
CODE_RUNNING_MODULES = frozenset({
    "__main__", "__builtin__", "builtins", "_posixsubprocess", "_ctypes", "_codecs", "_io",
    "_operator", "_pickle", "_socket", "_thread", "asyncio", "bdb", "cPickle", "cffi",
    "cloudpickle", "code", "codecs", "codeop", "commands", "compileall", "concurrent",
    "copy_reg", "copyreg", "ctypes", "dill", "distutils", "doctest", "ensurepip", "fcntl",
    "fileinput", "ftplib", "functools", "gc", "glob", "http", "idlelib", "imp", "importlib",
    "inspect", "io", "logging", "marshal", "mmap", "multiprocessing", "nt", "ntpath",
    "numpy", "operator", "os", "pathlib", "pdb", "pickle", "pip", "pkg_resources", "pkgutil",
    "platform", "popen2", "posix", "posixpath", "profile", "cProfile", "pty", "py_compile",
    "pydoc", "resource", "runpy", "select", "selectors", "setuptools", "shelve", "shutil",
    "signal", "site", "smtplib", "socket", "sqlite3", "ssl", "subprocess", "sys", "sysconfig",
    "tarfile", "telnetlib", "tempfile", "termios", "thread", "threading", "timeit",
    "tkinter", "trace", "types", "unittest", "urllib", "urllib2", "venv", "webbrowser",
    "xmlrpc", "yaml", "zipfile", "zipimport",
})
# Twisted's own functions that import, run or open what their arguments name.
TWISTED_CODE_RUNNING = frozenset({
    "twisted.python.reflect.namedAny", "twisted.python.reflect.namedObject",
    "twisted.python.reflect.namedClass", "twisted.python.reflect.namedModule",
    "twisted.python.reflect.requireModule", "twisted.python.reflect._importAndCheckStack",
    "twisted.python.compat.execfile", "twisted.python.util.runAsEffectiveUser",
    "twisted.python.util.untilConcludes", "twisted.python.util.switchUID",
    "twisted.internet.utils", "twisted.internet.process", "twisted.internet.threads",
})
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def is_dotted_name(text: str) -> bool:
    """Python's dotted-name syntax, ASCII only (these names end up in messages)."""
    return bool(text) and all(_IDENTIFIER.match(part) for part in text.split("."))


def refusal(module: str, name: str) -> str | None:
    """Why module.name may not appear in an application file, or None if it may.

    Twisted's names may; so may other modules' classes and functions, as stand-ins,
    except those of CODE_RUNNING_MODULES.  A dotted ``name`` would make the loader
    walk attributes (``mod.os.system``), so outside Twisted it is refused too."""
    if is_twisted(module):
        dotted = f"{module}.{name}" if name else module
        if any(dotted == bad or dotted.startswith(bad + ".") for bad in TWISTED_CODE_RUNNING):
            return f"{dotted} can run code when the file is loaded"
        return None
    if not is_dotted_name(module) or (name and not is_dotted_name(name)):
        return "not a Python name"
    top = module.partition(".")[0]
    if top in CODE_RUNNING_MODULES:
        return f"{top} can run code when the file is loaded"
    if "." in name:
        return "an attribute path outside Twisted"
    return None


class Stub:
    """An inert object standing in for an instance of a class named in the file.

    ``args``/``kwargs`` are what the file passed to the "constructor", ``state`` what
    it set as the instance's state (a dict, or pickle's (dict, slots) tuple).
    """

    __slots__ = ("args", "kwargs", "state")
    module: ClassVar[str] = ""
    name: ClassVar[str] = ""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    state: Any

    def __new__(cls, *args: Any, **kwargs: Any) -> Stub:
        if cls is Stub:
            raise TypeError("Stub itself is not a stand-in")
        self = super().__new__(cls)
        self.args = args
        self.kwargs = kwargs
        self.state = None
        return self

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Everything was recorded by __new__; this only swallows the arguments that
        # pickle's REDUCE/INST pass to a class a second time.
        pass

    def __setstate__(self, state: Any) -> None:
        # pickle's BUILD calls this instead of writing into the instance's attributes.
        self.state = state

    @classmethod
    def dotted(cls) -> str:
        return f"{cls.module}.{cls.name}" if cls.name else cls.module

    def is_a(self, dotted: str) -> bool:
        return type(self).dotted() == dotted

    def attributes(self) -> dict[str, Any]:
        """The instance attributes its state would set (pickle or AOT), else {}."""
        state = self.state
        if isinstance(state, tuple) and len(state) == 2:  # pickle's (dict, slotstate)
            merged: dict[str, Any] = {}
            for part in state:
                if isinstance(part, dict):
                    merged.update(part)
            return {k: v for k, v in merged.items() if isinstance(k, str)}
        if isinstance(state, dict):
            return {k: v for k, v in state.items() if isinstance(k, str)}
        return {}

    def __repr__(self) -> str:
        return f"<stand-in {type(self).dotted()}>"


@dataclass
class StandIns:
    """Makes one stand-in class per dotted name, for one file (so identity is stable)."""

    classes: dict[tuple[str, str], type[Stub]] = field(default_factory=dict)
    # Modules from outside Twisted the file names -> the names it uses from each.
    foreign: dict[str, dict[str, None]] = field(default_factory=dict)

    def get(self, module: str, name: str) -> type[Stub]:
        """The stand-in for module.name; RefusedGlobalError for a name refusal() refuses."""
        reason = refusal(module, name)
        if reason is not None:
            raise RefusedGlobalError(f"{module}.{name}" if name else module, reason)
        if not is_twisted(module):
            self.foreign.setdefault(module, {})[name or module] = None
        key = (module, name)
        cls = self.classes.get(key)
        if cls is None:
            # The class's own __name__ stays fixed: file-supplied names may hold any
            # character, and they are kept only as data.
            cls = type("StandIn", (Stub,), {"__slots__": (), "module": module, "name": name})
            self.classes[key] = cls
        return cls

    def imports(self) -> tuple[str, ...]:
        return tuple(sorted(self.foreign))

    def warnings(self) -> tuple[str, ...]:
        """One line per foreign module: the package must provide it."""
        def short(name: str) -> str:  # names are the file's: keep the line a line
            return name if len(name) <= 60 else name[:57] + "..."

        lines = []
        for module, names in sorted(self.foreign.items())[:20]:
            used = ", ".join(short(n) for n in list(names)[:5])
            used += ", ..." if len(names) > 5 else ""
            lines.append(
                f"the file uses {used} from {short(module)}, which is not part of Twisted: "
                "the service needs that module installed (--include, --bundle or --depends)"
            )
        if len(self.foreign) > 20:
            lines.append(f"... and {len(self.foreign) - 20} more modules from outside Twisted")
        return tuple(lines)


@dataclass(frozen=True)
class AppFacts:
    """What graph.describe() found: the AppInfo fields a pickle or AOT file can give."""

    app_name: str | None = None
    uid: int | None = None
    gid: int | None = None
    endpoints: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def app_info(self, kind: AppKind, filename: str, content: bytes,
                 extra_warnings: tuple[str, ...] = (), stand_ins: StandIns | None = None
                 ) -> AppInfo:
        foreign = stand_ins or StandIns()
        return AppInfo(kind=kind, filename=filename, content=content,
                       app_name=self.app_name, uid=self.uid, gid=self.gid,
                       endpoints=self.endpoints,
                       warnings=(self.warnings + ids_ignored(self.uid, self.gid)
                                 + extra_warnings + foreign.warnings()),
                       imports=foreign.imports())


MAX_PORT = 65535
MAX_ID = 2**32 - 2  # (uid_t)-1 means "unchanged"


def ids_ignored(uid: int | None, gid: int | None) -> tuple[str, ...]:
    """The one line saying that the Application's own uid/gid do not apply."""
    given = [f"{name}={value}" for name, value in (("uid", uid), ("gid", gid))
             if value is not None]
    if not given:
        return ()
    return (
        f"the Application sets {' and '.join(given)}: ignored, the service runs as the "
        "package's service user (--user, --group)",
    )


def quote_strports(value: str) -> str:
    """Escape a value for a strports description, as twisted's quoteStringArgument does."""
    return value.replace("\\", "\\\\").replace(":", "\\:")


def endpoint(kind: str, where: object, interface: object = None, default: str = "") -> str | None:
    """A strports description such as "tcp:8080:interface=127.0.0.1", or None."""
    if kind == "unix":
        return f"unix:{quote_strports(where)}" if isinstance(where, str) and where else None
    if not isinstance(where, int) or isinstance(where, bool) or not 0 <= where <= MAX_PORT:
        return None
    text = f"{kind}:{where}"
    if isinstance(interface, str) and interface and interface != default:
        text += f":interface={quote_strports(interface)}"
    return text


def id_or_none(value: object) -> int | None:
    """A uid or gid: an int in range (a file may hold a 5000-digit one), else None."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_ID:
        return value
    return None


# internet.XServer(*args, **kwargs) passes them to reactor.listenX(); the interface is
# this positional index in that call.
_SERVERS = {"TCPServer": ("tcp", 3), "SSLServer": ("ssl", 4), "UDPServer": ("udp", 2)}
_ENDPOINTS = {
    "TCP4ServerEndpoint": ("tcp", ""),
    "TCP6ServerEndpoint": ("tcp6", "::"),
    "SSL4ServerEndpoint": ("ssl", ""),
}


def _server_endpoint(stub: Stub) -> str | None:
    """internet.TCPServer & co keep the listenX() arguments in ``args``/``kwargs``."""
    attrs = stub.attributes()
    args = attrs.get("args", ())
    kwargs = attrs.get("kwargs", {})
    args = args if isinstance(args, tuple | list) else ()
    kwargs = kwargs if isinstance(kwargs, dict) else {}
    if type(stub).name == "UNIXServer":
        address = args[0] if args else kwargs.get("address", kwargs.get("filename"))
        return endpoint("unix", address)
    kind, interface_index = _SERVERS[type(stub).name]
    port = args[0] if args else kwargs.get("port")
    interface = args[interface_index] if len(args) > interface_index else kwargs.get("interface")
    return endpoint(kind, port, interface)


def _endpoint_service(stub: Stub) -> str | None:
    """internet.StreamServerEndpointService (what strports.service makes) keeps an endpoint."""
    ep = stub.attributes().get("endpoint")
    if not isinstance(ep, Stub) or not is_twisted(type(ep).module):
        return None
    attrs = ep.attributes()
    if type(ep).name == "UNIXServerEndpoint":
        return endpoint("unix", attrs.get("_address"))
    if type(ep).name in _ENDPOINTS:
        kind, default = _ENDPOINTS[type(ep).name]
        return endpoint(kind, attrs.get("_port"), attrs.get("_interface"), default)
    return None


def service_endpoint(stub: Stub) -> str | None:
    """The endpoint one service listens on, if it is a kind tap2pkg knows."""
    cls = type(stub)
    if cls.module != "twisted.application.internet":
        return None
    if cls.name in _SERVERS or cls.name == "UNIXServer":
        return _server_endpoint(stub)
    if cls.name == "StreamServerEndpointService":
        return _endpoint_service(stub)
    return None


def _services(top: Stub) -> Iterator[Stub]:
    """Every service under top (MultiServices' ``services`` lists), each once, bounded."""
    seen: set[int] = set()
    stack: list[tuple[Stub, int]] = [(top, 0)]
    while stack and len(seen) < MAX_SERVICES:
        service, depth = stack.pop()
        if id(service) in seen:
            continue
        seen.add(id(service))
        yield service
        children = service.attributes().get("services")
        if depth < MAX_SERVICE_DEPTH and isinstance(children, list):
            # reversed: pop() then visits children in the order they were added.
            stack.extend((c, depth + 1) for c in reversed(children) if isinstance(c, Stub))


def describe(root: object) -> AppFacts:
    """Find the app name, uid/gid and endpoints in a loaded Application graph."""
    if not (isinstance(root, Stub) and root.is_a(COMPONENTIZED)):
        what = type(root).dotted() if isinstance(root, Stub) else type(root).__name__
        return AppFacts(
            warnings=(
                f"the file holds a {what}, not a twisted Application "
                "(service.Application): twistd may refuse it",
            )
        )
    cache = root.attributes().get("_adapterCache")
    components = cache if isinstance(cache, dict) else {}
    warnings: list[str] = []

    persistent = components.get(IPERSISTABLE)
    process = components.get(IPROCESS)
    top = components.get(ISERVICE, components.get(ISERVICE_COLLECTION))

    app_name: str | None = None
    if isinstance(persistent, Stub):
        name = persistent.attributes().get("name")
        app_name = name if isinstance(name, str) else None
    if app_name is None and isinstance(top, Stub):
        name = top.attributes().get("name")
        app_name = name if isinstance(name, str) else None

    uid = gid = None
    if isinstance(process, Stub):
        uid = id_or_none(process.attributes().get("uid"))
        gid = id_or_none(process.attributes().get("gid"))

    endpoints: list[str] = []
    if isinstance(top, Stub):
        for service in _services(top):
            found = service_endpoint(service)
            if found is not None and found not in endpoints:
                endpoints.append(found)
    else:
        warnings.append("the Application has no IService component: twistd cannot start it")
    return AppFacts(app_name, uid, gid, tuple(endpoints), tuple(warnings))

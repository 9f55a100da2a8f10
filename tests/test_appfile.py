"""The static loaders: what each kind of application file reads as, and what is refused.

None of this needs Twisted: the loaders never import or run the application file.
Hostile pickles and AOT sources try to run ``touch <sentinel>``; the sentinel file
proves that nothing ran.
"""

from __future__ import annotations

import builtins
import os
import pickle
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tap2pkg.appfile import MAX_SIZE, guess_kind, load, parse_kind
from tap2pkg.appfile.source import unjelly
from tap2pkg.appfile.tap import RestrictedUnpickler
from tap2pkg.errors import AppFileError, UsageError
from tap2pkg.model import AppInfo, AppKind

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def load_text(tmp_path: Path, name: str, content: str | bytes) -> AppInfo:
    return load(write(tmp_path, name, content))


# ---- the fixtures ----


TAC_IMPORTS = ("twisted.application", "twisted.internet.protocol", "twisted.protocols.wire")
IDS_IGNORED = ("the Application sets uid=1000 and gid=1001: ignored, the service runs as the "
               "package's service user (--user, --group)")


@pytest.mark.parametrize(
    ("name", "kind", "app_name", "endpoints", "imports"),
    [
        ("echo.tac", AppKind.PYTHON, "echo", ("tcp:8007:interface=127.0.0.1",), TAC_IMPORTS),
        ("privileged.tac", AppKind.PYTHON, "privileged", ("tcp:707:interface=127.0.0.1",),
         TAC_IMPORTS),
        ("echopickle.tap", AppKind.TAP, "echo-pickle", ("tcp:8008:interface=127.0.0.1",), ()),
        ("echosource.tas", AppKind.SOURCE, "echo-source", ("tcp:8009:interface=127.0.0.1",),
         ()),
    ],
)
def test_fixture_loads(name: str, kind: AppKind, app_name: str, endpoints: tuple[str, ...],
                       imports: tuple[str, ...]) -> None:
    path = FIXTURES / name
    info = load(path)
    assert info == AppInfo(
        kind=kind,
        filename=name,
        content=path.read_bytes(),
        app_name=app_name,
        uid=None,
        gid=None,
        endpoints=endpoints,
        warnings=(),
        imports=imports,
    )


def test_fixture_names_are_package_names() -> None:
    # They end up in Debian package names: lowercase letters and digits only.
    for path in FIXTURES.iterdir():
        if path.suffix in (".tac", ".tap", ".tas", ".tax"):
            assert path.stem.isalnum(), path.name
            assert path.stem == path.stem.lower(), path.name


def test_type_overrides_extension(tmp_path: Path) -> None:
    path = write(tmp_path, "server.conf", (FIXTURES / "echo.tac").read_bytes())
    assert load(path, AppKind.PYTHON).app_name == "echo"


# ---- kinds, extensions and --type ----


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("a.tac", AppKind.PYTHON),
        ("a.py", AppKind.PYTHON),
        ("a.tap", AppKind.TAP),
        ("a.tas", AppKind.SOURCE),
        ("a.tax", AppKind.XML),
        ("A.TAC", AppKind.PYTHON),
    ],
)
def test_guess_kind(name: str, kind: AppKind) -> None:
    assert guess_kind(Path(name)) is kind


@pytest.mark.parametrize("name", ["a.etac", "a.etap", "a.etas", "a.etax"])
def test_encrypted_refused(name: str) -> None:
    with pytest.raises(AppFileError) as caught:
        guess_kind(Path("/some/dir") / name)
    assert str(caught.value) == (
        f"{name}: encrypted application files are not supported: current twistd ignores passphrases"
    )


@pytest.mark.parametrize(("name", "shown"), [("app.conf", "'.conf'"), ("app", "no extension")])
def test_unknown_extension(name: str, shown: str) -> None:
    with pytest.raises(AppFileError, match="--type") as caught:
        guess_kind(Path(name))
    assert str(caught.value).startswith(f"{name}: ")
    assert shown in str(caught.value)


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("python", AppKind.PYTHON),
        ("Python", AppKind.PYTHON),
        ("tap", AppKind.TAP),
        ("pickle", AppKind.TAP),
        ("SOURCE", AppKind.SOURCE),
        ("xml", AppKind.XML),
    ],
)
def test_parse_kind(value: str, kind: AppKind) -> None:
    assert parse_kind(value) is kind


@pytest.mark.parametrize("value", ["", "tac", "marmalade", "py"])
def test_parse_kind_unknown(value: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_kind(value)
    assert caught.value.key == "--type"
    assert str(caught.value) == (
        f"--type: unknown type {value!r}: choose python, tap, source or xml"
    )


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AppFileError, match="no such file") as caught:
        load(tmp_path / "nothere.tac")
    assert str(tmp_path / "nothere.tac") in str(caught.value)


def test_directory(tmp_path: Path) -> None:
    (tmp_path / "dir.tac").mkdir()
    with pytest.raises(AppFileError, match="is a directory"):
        load(tmp_path / "dir.tac")


def test_not_a_directory(tmp_path: Path) -> None:
    path = write(tmp_path, "file", "")
    with pytest.raises(AppFileError, match="cannot read it: Not a directory"):
        load(path / "app.tac")


def test_fifo_is_not_read(tmp_path: Path) -> None:
    # Opening a FIFO would wait for a writer forever.
    os.mkfifo(tmp_path / "pipe.tac")
    with pytest.raises(AppFileError, match="not a regular file"):
        load(tmp_path / "pipe.tac")


def test_unreadable(tmp_path: Path) -> None:
    path = write(tmp_path, "secret.tac", "application = 1\n")
    path.chmod(0)
    if os.geteuid() != 0:
        with pytest.raises(AppFileError, match="permission denied"):
            load(path)
        return
    # Root reads every file: load it as nobody instead, in a child process.
    tmp_path.chmod(0o755)
    code = ("import sys; from pathlib import Path; from tap2pkg.appfile import load\n"
            "from tap2pkg.errors import AppFileError\n"
            "try:\n    load(Path(sys.argv[1]))\nexcept AppFileError as e:\n    print(e)")
    proc = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
         sys.executable, "-c", code, str(path)],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"{path}: cannot read it: permission denied"


def test_too_large(tmp_path: Path) -> None:
    path = tmp_path / "huge.tac"
    with path.open("wb") as stream:
        stream.truncate(MAX_SIZE + 1)
    with pytest.raises(AppFileError, match="larger than 16 MiB"):
        load(path)


def test_errors_are_one_line(tmp_path: Path) -> None:
    for name, content in [
        ("a.tac", "x = (\n"),
        ("b.tap", b"garbage"),
        ("c.tas", "app = open('/etc/passwd')"),
    ]:
        with pytest.raises(AppFileError) as caught:
            load_text(tmp_path, name, content)
        assert "\n" not in str(caught.value)
        assert str(caught.value).startswith(f"{name}:")


# ---- .tac / .py ----


def test_tac_without_application(tmp_path: Path) -> None:
    with pytest.raises(AppFileError) as caught:
        load_text(tmp_path, "noapp.tac", "from twisted.application import service\nx = 1\n")
    assert str(caught.value) == (
        "noapp.tac: no top-level 'application' is defined (twistd -y needs one)"
    )


@pytest.mark.parametrize(
    "source",
    [
        "def make():\n    application = 1\n",  # a function's local
        "application: object\n",  # declared, never bound
        "class C:\n    application = 1\n",  # a class attribute
        "[application for application in range(3)]\n",  # a comprehension's own
    ],
)
def test_tac_application_not_at_top_level(tmp_path: Path, source: str) -> None:
    with pytest.raises(AppFileError, match="no top-level 'application'"):
        load_text(tmp_path, "app.tac", source)


@pytest.mark.parametrize(
    "source",
    [
        "application = make()\n",
        "application: object = make()\n",
        "a, (b, *application) = make()\n",
        "from myapp.tac import application\n",
        "import myapp as application\n",
        "if True:\n    application = make()\n",
        "try:\n    application = make()\nexcept ImportError:\n    raise\n",
        "with make() as application:\n    pass\n",
    ],
)
def test_tac_application_bindings(tmp_path: Path, source: str) -> None:
    info = load_text(tmp_path, "app.tac", source)
    assert info.kind is AppKind.PYTHON
    assert any("no Application(...) call" in w for w in info.warnings)


def test_tac_star_import_warns(tmp_path: Path) -> None:
    info = load_text(tmp_path, "app.tac", "import os\nfrom myapp import *\n")
    assert info.warnings[0].startswith("line 2: 'application' may be defined here")


def test_tac_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    source = "from twisted.application import service\n\napplication = service.Application(\n"
    with pytest.raises(AppFileError, match=r"^broken\.tac:3: syntax error: "):
        load_text(tmp_path, "broken.tac", source)


def test_tac_python2_syntax(tmp_path: Path) -> None:
    with pytest.raises(AppFileError, match=r"^old\.tac:1: syntax error: "):
        load_text(tmp_path, "old.tac", "print 'hello'\napplication = 1\n")


def test_tac_syntax_warnings_are_not_errors(tmp_path: Path) -> None:
    # "\d" is an invalid escape (a DeprecationWarning, an error under -W error).
    info = load_text(
        tmp_path, "re.tac", 'import re\nPATTERN = re.compile("\\d+")\napplication = 1\n'
    )
    assert info.kind is AppKind.PYTHON


def test_tac_nul_byte(tmp_path: Path) -> None:
    with pytest.raises(AppFileError, match=r"^nul\.tac: "):
        load_text(tmp_path, "nul.tac", b"application = 1\x00\n")


def test_tac_absurd_nesting(tmp_path: Path) -> None:
    with pytest.raises(AppFileError, match=r"^deep\.tac"):
        load_text(tmp_path, "deep.tac", "application = " + "-" * 200_000 + "1\n")


def test_tac_application_name_uid_gid(tmp_path: Path) -> None:
    source = (
        "from twisted.application.service import Application\n"
        "NAME = 'web'\n"
        "application = Application(NAME, 1000, gid=1001)\n"
    )
    info = load_text(tmp_path, "web.tac", source)
    assert (info.app_name, info.uid, info.gid, info.warnings) == ("web", 1000, 1001,
                                                                   (IDS_IGNORED,))


def test_tac_application_through_another_name(tmp_path: Path) -> None:
    source = (
        "import twisted.application.service\n"
        "app = service.Application(name='x')\n"
        "application = app\n"
    )
    assert load_text(tmp_path, "x.tac", source).app_name == "x"


def test_tac_application_made_in_a_function(tmp_path: Path) -> None:
    source = "def make():\n    return service.Application('made')\napplication = make()\n"
    info = load_text(tmp_path, "made.tac", source)
    assert (info.app_name, info.warnings) == ("made", ())


def test_tac_computed_values_are_not_guessed(tmp_path: Path) -> None:
    source = (
        "import os, pwd\n"
        "application = service.Application(os.environ['NAME'], uid=pwd.getpwnam('x').pw_uid)\n"
    )
    info = load_text(tmp_path, "env.tac", source)
    assert (info.app_name, info.uid, info.gid) == (None, None, None)
    assert info.warnings == (
        "line 2: the Application name is not a literal string; tap2pkg cannot see it",
        "line 2: the Application uid is not a literal integer; tap2pkg cannot see it (it "
        "is ignored: the service runs as the package's service user)",
    )


def test_tac_endpoints(tmp_path: Path) -> None:
    source = """\
import os
from twisted.application import internet, service, strports
from twisted.application.strports import service as listen_on
from twisted.internet import endpoints, reactor
from twisted.internet.endpoints import TCP6ServerEndpoint
import twisted.application.internet as inet

PORT = 8007
V6: str = "::1"
application = service.Application("many")
internet.TCPServer(PORT, f, interface="127.0.0.1").setServiceParent(application)
inet.SSLServer(443, f, ctx).setServiceParent(application)
internet.UNIXServer("/run/many:1.sock", f).setServiceParent(application)
internet.UDPServer(53, p, "10.0.0.1").setServiceParent(application)
listen_on("tcp:80", f).setServiceParent(application)
strports.service(description="ssl:8443", factory=f).setServiceParent(application)
endpoints.serverFromString(reactor, "unix:/tmp/s")
TCP6ServerEndpoint(reactor, 8080, interface=V6)
endpoints.TCP4ServerEndpoint(reactor, 9090)
internet.TCPServer(8007, f, interface="127.0.0.1")  # the same again: listed once

# Computed at run time: not listed.
endpoints.TCP4ServerEndpoint(reactor, 9091, interface=os.environ["IFACE"])
internet.TCPServer(int(os.environ["PORT"]), f)
strports.service(os.environ["LISTEN"], f)

def later():
    internet.TCPServer(7000, f).setServiceParent(application)
"""
    assert load_text(tmp_path, "many.tac", source).endpoints == (
        "tcp:8007:interface=127.0.0.1",
        "ssl:443",
        "unix:/run/many\\:1.sock",
        "udp:53:interface=10.0.0.1",
        "tcp:80",
        "ssl:8443",
        "unix:/tmp/s",
        "tcp6:8080:interface=\\:\\:1",
        "tcp:9090",
        "tcp:7000",
    )


def test_tac_service_is_not_strports_service(tmp_path: Path) -> None:
    # service.Application and a strports-looking string elsewhere are not endpoints.
    source = "from twisted.application import service\napplication = service.Application('tcp:1')\n"
    assert load_text(tmp_path, "a.tac", source).endpoints == ()


def test_tac_is_never_run(tmp_path: Path) -> None:
    sentinel = tmp_path / "ran"
    source = f"open({str(sentinel)!r}, 'w').close()\napplication = 1\n"
    load_text(tmp_path, "run.tac", source)
    assert not sentinel.exists()


# ---- .tap: the restricted unpickler ----


class Reduce:
    """Pickles as a call of func(*args): what a hostile pickle does."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func = func
        self.args = args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, self.args

    def __call__(self, *args: Any) -> Any:
        # Only so that a Reduce can itself be the callable of another (pickle checks).
        raise AssertionError("never called")


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "pwned"
    yield path
    assert not path.exists(), "the hostile pickle ran code"


def touch(path: Path) -> str:
    return f"touch {path}"


def hostile_pickles(sentinel: Path) -> dict[str, tuple[bytes, str]]:
    """name -> (pickle, the global the error must name)."""
    cmd = touch(sentinel)
    system = f"{os.system.__module__}.system"  # posix.system on Linux
    python = f"__import__('os').system({cmd!r})"
    getattr_call = Reduce(Reduce(getattr, Reduce(__import__, "os"), "system"), cmd)
    cases = {
        f"os.system protocol {p}": (pickle.dumps(Reduce(os.system, cmd), protocol=p), system)
        for p in range(pickle.HIGHEST_PROTOCOL + 1)
    }
    cases |= {
        "subprocess.Popen": (
            pickle.dumps(Reduce(subprocess.Popen, ["touch", str(sentinel)])),
            "subprocess.Popen",
        ),
        "builtins.eval": (pickle.dumps(Reduce(builtins.eval, python)), "builtins.eval"),
        "builtins.exec": (pickle.dumps(Reduce(builtins.exec, python)), "builtins.exec"),
        "builtins.getattr": (pickle.dumps(getattr_call, protocol=3), "builtins.getattr"),
        "io.open": (pickle.dumps(Reduce(builtins.open, str(sentinel), "w")), "io.open"),
        "builtins.open": (f"cbuiltins\nopen\n(V{sentinel}\nVw\ntR.".encode(), "builtins.open"),
        "builtins.__import__": (
            b"cbuiltins\n__import__\n(Vos\ntR.",
            "builtins.__import__",
        ),
        # A reduce hidden deep inside an otherwise Twisted-looking pickle.
        "nested reduce": (
            b"\x80\x02ctwisted.python.components\nComponentized\n)\x81}X\x05\x00\x00\x00stateq"
            b"\x00]" + pickle.dumps(Reduce(os.system, cmd), protocol=2)[2:-1] + b"asb.",
            system,
        ),
        # Protocol 0 INST and OBJ call the class with the arguments after MARK.
        "INST opcode": (f"(S'{cmd}'\nios\nsystem\n.".encode(), "os.system"),
        "OBJ opcode": (f"(cos\nsystem\nS'{cmd}'\no.".encode(), "os.system"),
        "__main__": (b"\x80\x02c__main__\nEvil\n)\x81.", "__main__.Evil"),
        "python 2 builtin": (
            f'c__builtin__\neval\n(S"{python}"\ntR.'.encode(),
            "__builtin__.eval",
        ),
    }
    return cases


@pytest.mark.parametrize(
    "case",
    [
        *(f"os.system protocol {p}" for p in range(pickle.HIGHEST_PROTOCOL + 1)),
        "subprocess.Popen",
        "builtins.eval",
        "builtins.exec",
        "builtins.getattr",
        "io.open",
        "builtins.open",
        "builtins.__import__",
        "nested reduce",
        "INST opcode",
        "OBJ opcode",
        "__main__",
        "python 2 builtin",
    ],
)
def test_hostile_pickle_refused(tmp_path: Path, sentinel: Path, case: str) -> None:
    data, refused = hostile_pickles(sentinel)[case]
    with pytest.raises(AppFileError) as caught:
        load_text(tmp_path, "evil.tap", data)
    module = refused.partition(".")[0]
    assert str(caught.value) == (
        f"evil.tap: refused to load {refused} from the pickle: {module} can run code when "
        "the file is loaded"
    )


def test_reconstructor_refuses_non_twisted_classes(tmp_path: Path, sentinel: Path) -> None:
    # copyreg._reconstructor is allowed (protocols 0 and 1 need it) but only ever makes
    # a stand-in: given a builtin class it refuses.
    data = b"ccopyreg\n_reconstructor\n(c__builtin__\nset\nc__builtin__\nobject\nNtR."
    with pytest.raises(AppFileError, match=r"^evil\.tap: not a valid pickle: .*non-Twisted"):
        load_text(tmp_path, "evil.tap", data)


def test_persistent_id_refused(tmp_path: Path) -> None:
    with pytest.raises(AppFileError, match="persistent IDs are not supported"):
        load_text(tmp_path, "pid.tap", b"Pfoo\n.")


def test_bytearray_bomb_refused(tmp_path: Path) -> None:
    # bytearray(n) would allocate n bytes; only real content is accepted.
    data = b"\x80\x02c__builtin__\nbytearray\nJ\x00\x00\x00\x7f\x85R."
    with pytest.raises(AppFileError, match="not a valid pickle"):
        load_text(tmp_path, "bomb.tap", data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not a valid pickle"),
        (b"hello world", "not a valid pickle"),
        (b"\x80\x02}q\x00(X\x01\x00\x00\x00a", "not a valid pickle"),
        (b"\x80\x02h\x05.", "memo key 5 missing"),
        (b"\x80\x02a.", "stack underflow"),
    ],
)
def test_malformed_pickle(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(AppFileError, match=message):
        load_text(tmp_path, "bad.tap", data)


def test_truncated_fixture(tmp_path: Path) -> None:
    data = (FIXTURES / "echopickle.tap").read_bytes()
    for cut in (1, 10, len(data) // 2):
        with pytest.raises(AppFileError, match=r"^cut\.tap: not a valid pickle: "):
            load_text(tmp_path, "cut.tap", data[:-cut])


@pytest.mark.parametrize(
    "data",
    [
        # Hashing a tuple nested a million deep overflows CPython's C stack: plain
        # pickle.loads of this one-megabyte file segfaults.
        b"\x80\x02}" + b")" + b"\x85" * 1_000_000 + b"K\x01s.",
        b"\x80\x02" + b"]" * 100_000 + b"a" * 99_999 + b".",
        b"\x80\x02" + b"(" * 100_000 + b"t" * 100_000 + b".",
    ],
)
def test_deep_nesting_refused(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(AppFileError, match="nested more than"):
        load_text(tmp_path, "deep.tap", data)


def test_safe_builtins_round_trip() -> None:
    # What Twisted's pickles use from builtins comes back as it went in, at every protocol.
    value = {
        "set": {1, 2},
        "frozenset": frozenset({"a"}),
        "bytes": b"\x00\xff",
        "bytearray": bytearray(b"xy"),
        "complex": 1 + 2j,
        "slice": slice(1, 9, 2),
        "nested": [(1, 2.5, None, True)],
    }
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        data = pickle.dumps(value, protocol=protocol)
        assert RestrictedUnpickler(data).load() == value, protocol


def test_python2_pickle(tmp_path: Path) -> None:
    # What Python 2's Twisted wrote (protocol 0): classic instances (INST), str as
    # STRING, copy_reg._reconstructor and __builtin__.object for new-style classes.
    data = b"""(itwisted.python.components
Componentized
(dS'_adapterCache'
(dS'twisted.application.service.IService'
(itwisted.application.service
MultiService
(dS'services'
(l(itwisted.application.internet
TCPServer
(dS'args'
(I8010
Ntp1
sS'kwargs'
(dS'interface'
S'127.0.0.1'
ssbasS'name'
S'py2app'
sbsS'twisted.application.service.IProcess'
ccopy_reg
_reconstructor
(ctwisted.application.service
Process
c__builtin__
object
NtR(dS'uid'
I1000
sS'gid'
I1001
sbsS'twisted.persisted.sob.IPersistable'
(itwisted.persisted.sob
Persistent
(dS'name'
S'py2app'
sbssb."""
    info = load_text(tmp_path, "old.tap", data)
    assert (info.app_name, info.uid, info.gid) == ("py2app", 1000, 1001)
    assert info.endpoints == ("tcp:8010:interface=127.0.0.1",)
    assert info.warnings == (
        IDS_IGNORED,
        "this looks like a Python 2 pickle: twistd on Python 3 may fail to load it (try --check)",
    )


def test_not_an_application_warns(tmp_path: Path) -> None:
    info = load_text(tmp_path, "list.tap", pickle.dumps([1, 2, 3]))
    assert info.warnings == (
        "the file holds a list, not a twisted Application (service.Application): "
        "twistd may refuse it",
    )


# Real Twisted 22.4 classes pickle like these look-alikes: plain instances whose state
# is their __dict__ (internet.TCPServer & co drop only their live _port).
class _Plain:
    def __init__(self, **state: Any) -> None:
        self.__dict__.update(state)


FAKE_TWISTED = {
    "twisted.python.components": ["Componentized"],
    "twisted.application.service": ["MultiService", "Process"],
    "twisted.application.internet": [
        "TCPServer",
        "SSLServer",
        "UDPServer",
        "UNIXServer",
        "StreamServerEndpointService",
        "TimerService",
    ],
    "twisted.internet.endpoints": ["TCP6ServerEndpoint", "UNIXServerEndpoint"],
    "twisted.persisted.sob": ["Persistent"],
}


@pytest.fixture
def fake_twisted(monkeypatch: pytest.MonkeyPatch) -> dict[str, type[_Plain]]:
    """Look-alike classes under Twisted's names, so the real pickler can save them."""
    classes: dict[str, type[_Plain]] = {}
    for package in ("twisted", "twisted.python", "twisted.application", "twisted.internet"):
        monkeypatch.setitem(sys.modules, package, types.ModuleType(package))
    monkeypatch.setitem(sys.modules, "twisted.persisted", types.ModuleType("twisted.persisted"))
    for module_name, names in FAKE_TWISTED.items():
        module = types.ModuleType(module_name)
        for name in names:
            cls = type(name, (_Plain,), {"__module__": module_name, "__qualname__": name})
            setattr(module, name, cls)
            classes[name] = cls
        monkeypatch.setitem(sys.modules, module_name, module)
    return classes


def test_pickle_services(tmp_path: Path, fake_twisted: dict[str, type[_Plain]]) -> None:
    t = fake_twisted
    top = t["MultiService"](name="svc", services=[], namedServices={}, parent=None)
    inner = t["MultiService"](services=[], namedServices={}, parent=top)
    top.services += [
        t["UNIXServer"](args=("/run/svc.sock", None), kwargs={}, parent=top),
        t["SSLServer"](args=(443, None, None), kwargs={"interface": "::"}, parent=top),
        t["UDPServer"](args=(53, None), kwargs={}, parent=top),
        t["TimerService"](step=5, call=(None, (), {}), parent=top),
        inner,
        top,  # a cycle: visited once
    ]
    endpoint = t["TCP6ServerEndpoint"](_reactor=None, _port=8080, _backlog=50, _interface="::")
    unix = t["UNIXServerEndpoint"](_reactor=None, _address="/tmp/u", _backlog=50)
    inner.services += [
        t["TCPServer"](args=(), kwargs={"port": 8000, "factory": None}, parent=inner),
        t["StreamServerEndpointService"](endpoint=endpoint, factory=None, parent=inner),
        t["StreamServerEndpointService"](endpoint=unix, factory=None, parent=inner),
    ]
    app = t["Componentized"]()
    app._adapterCache = {
        "twisted.application.service.IServiceCollection": top,
        "twisted.application.service.IService": top,
        "twisted.application.service.IProcess": t["Process"](uid=1000, gid=1001),
        "twisted.persisted.sob.IPersistable": t["Persistent"](original=app, name="svc"),
    }
    info = load_text(tmp_path, "svc.tap", pickle.dumps(app, protocol=2))
    assert (info.app_name, info.uid, info.gid, info.warnings) == ("svc", 1000, 1001,
                                                                   (IDS_IGNORED,))
    assert info.endpoints == (
        "unix:/run/svc.sock",
        "ssl:443:interface=\\:\\:",
        "udp:53",
        "tcp:8000",
        "tcp6:8080",
        "unix:/tmp/u",
    )


def test_pickle_loading_builds_only_stand_ins(
    tmp_path: Path, fake_twisted: dict[str, type[_Plain]]
) -> None:
    # The class the pickle names is never touched, even if it were importable.
    touched: list[str] = []
    fake_twisted["Process"].__setstate__ = lambda self, state: touched.append("setstate")  # type: ignore[attr-defined]
    data = pickle.dumps(fake_twisted["Process"](uid=1, gid=2), protocol=2)
    assert (
        load_text(tmp_path, "p.tap", data)
        .warnings[0]
        .startswith("the file holds a twisted.application.service.Process")
    )
    assert touched == []


# ---- .tas: AOT source ----

# What Twisted 22.4's jellyToSource wrote for an app with uid/gid, UNIX, SSL and UDP
# servers and a nested MultiService.
SERVICES_TAS = """\
app=Ref(3,
  Instance('twisted.python.components.Componentized',
    _adapterCache={
      'twisted.application.service.IServiceCollection':Ref(1,
        Instance('twisted.application.service.MultiService',
          name='x',
          namedServices={},
          parent=None,
          services=[
            Instance('twisted.application.internet.UNIXServer',
              args=(
                '/tmp/sock',
                Instance('twisted.internet.protocol.Factory',
                  protocol=Class('twisted.protocols.wire.Echo'),),
                ),
              kwargs={},
              parent=Deref(1),),
            Instance('twisted.application.internet.SSLServer',
              args=(
                443,
                Instance('twisted.internet.protocol.Factory',
                  protocol=Class('twisted.protocols.wire.Echo'),),
                None,
                ),
              kwargs={},
              parent=Deref(1),),
            Instance('twisted.application.internet.UDPServer',
              args=(
                53,
                Instance('twisted.internet.protocol.DatagramProtocol',
                  transport=None,),
                ),
              kwargs={},
              parent=Deref(1),),
            Ref(2,
              Instance('twisted.application.service.MultiService',
                namedServices={},
                parent=Deref(1),
                services=[
                  Instance('twisted.application.internet.TCPServer',
                    args=(
                      8080,
                      Instance('twisted.internet.protocol.Factory',
                        protocol=Class('twisted.protocols.wire.Echo'),),
                      ),
                    kwargs={},
                    parent=Deref(2),),
                  ],)),
            ],)),
      'twisted.application.service.IService':Deref(1),
      'twisted.application.service.IProcess':Instance('twisted.application.service.Process',
        gid=1001,
        uid=1000,),
      'twisted.persisted.sob.IPersistable':Instance('twisted.persisted.sob.Persistent',
        name='x',
        original=Deref(3),),
      },))"""


def test_tas_services(tmp_path: Path) -> None:
    info = load_text(tmp_path, "x.tas", SERVICES_TAS)
    assert (info.app_name, info.uid, info.gid, info.warnings) == ("x", 1000, 1001,
                                                                   (IDS_IGNORED,))
    assert info.endpoints == ("unix:/tmp/sock", "ssl:443", "udp:53", "tcp:8080")


def test_tas_forward_deref(tmp_path: Path) -> None:
    # jellyToSource sorts attributes, so a Deref can come before its Ref.
    source = """app=Instance('twisted.python.components.Componentized',
    _adapterCache={
      'twisted.application.service.IService':Deref(1),
      'twisted.application.service.IServiceCollection':Ref(1,
        Instance('twisted.application.service.MultiService', name='fwd', services=[
          Instance('twisted.application.internet.TCPServer', args=(81, None), kwargs={},
            parent=Deref(1))])),
    })"""
    info = load_text(tmp_path, "fwd.tas", source)
    assert (info.app_name, info.endpoints) == ("fwd", ("tcp:81",))


def test_tas_literals(tmp_path: Path) -> None:
    source = (
        "app = Instance('twisted.python.components.Componentized', _adapterCache={},\n"
        "  n=-1, f=2.5, c=(1-2j), b=b'x', t=True, e=Ellipsis, s=slice(1, 2, None),\n"
        "  m=Module('twisted.internet'), fn=Function('twisted.python.log.msg'),\n"
        "  im=InstanceMethod('run', 'twisted.a.B', Instance('twisted.a.B')),\n"
        "  cr=Copyreg('twisted.persisted.styles.unpickleMethod', ('run', None)))"
    )
    info = load_text(tmp_path, "lit.tas", source)
    assert info.warnings == ("the Application has no IService component: twistd cannot start it",)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "app = __import__('os').system('touch {s}')",
            "lit.tas:1: only AOT constructors and literals are allowed, "
            "found a call to __import__('os').system()",
        ),
        (
            "app = Instance('twisted.a.B', x=open('{s}', 'w'))",
            "lit.tas:1: only AOT constructors and literals are allowed, found a call to open()",
        ),
        (
            "app = Instance('twisted.a.B',\n  x=os.environ)",
            "lit.tas:2: only AOT constructors and literals are allowed, "
            "found the attribute os.environ",
        ),
        (
            "app = Instance('twisted.a.B', x=lambda: 1)",
            "lit.tas:1: only AOT constructors and literals are allowed, found a lambda",
        ),
        (
            "app = [x for x in ()]",
            "lit.tas:1: only AOT constructors and literals are allowed, found a comprehension",
        ),
        (
            "app = Instance('os.system')",
            "lit.tas:1: refused to load os.system: os can run code when the file is loaded",
        ),
        (
            "app = Copyreg('posix.system', ('touch {s}',))",
            "lit.tas:1: refused to load posix.system: posix can run code when the file is loaded",
        ),
        (
            "app = Class('subprocess.Popen')",
            "lit.tas:1: refused to load subprocess.Popen: subprocess can run code when the file "
            "is loaded",
        ),
        ("app = Module('os')", "lit.tas:1: refused to load os: os can run code when the file"),
        ("app = {1, 2}", "lit.tas:1: only AOT constructors and literals are allowed, found a set"),
        ("app = [Ref(1, []), Ref(1, [])]", "lit.tas:1: Ref(1) is defined twice"),
        ("import os\napp = 1", "lit.tas:1: only 'name = <AOT expression>' assignments"),
        ("application = Instance('twisted.a.B')", "lit.tas: no top-level 'app' is defined"),
        ("x = Instance('os.Evil')\napp = 1", "lit.tas:1: refused to load os.Evil"),
        ("app = ", "lit.tas:1: syntax error: "),
        (
            "app = " + "Instance('twisted.a.B', x=" * 120 + "1" + ")" * 120,
            "lit.tas: expressions are nested more than",
        ),
    ],
)
def test_tas_refused(tmp_path: Path, sentinel: Path, source: str, message: str) -> None:
    with pytest.raises(AppFileError) as caught:
        load_text(tmp_path, "lit.tas", source.replace("{s}", str(sentinel)))
    assert str(caught.value).startswith(message)


def test_tas_dangling_deref_from_twisted_bug(tmp_path: Path) -> None:
    # Twisted 22.4 to 26's jellyToSource writes a Deref whose Ref it never printed (see
    # fixtures/make_fixtures.py): Twisted >= 24 loads such a file, 22.4 does not.
    source = "app=Ref(2, Instance('twisted.a.B',\n p=Instance('twisted.a.C', Deref(9))))"
    info = load_text(tmp_path, "bug.tas", source)
    assert info.warnings[-1] == (
        "line 2: Deref(9) has no matching Ref: Twisted 22.4 (Debian 12's python3-twisted) "
        "cannot load this file, Twisted >= 24 can (given --uid and --gid, as the "
        "package's service does)"
    )


def test_tas_cycles_share_objects(tmp_path: Path) -> None:
    graph = unjelly(
        "c.tas", b"app = Ref(1, [Ref(2, Instance('twisted.a.B', me=Deref(2))), Deref(1)])"
    )
    assert isinstance(graph, list)
    assert graph[1] is graph
    assert graph[0].state["me"] is graph[0]


# ---- whatever the bytes, a loader gives an AppInfo or a one-line AppFileError ----


@st.composite
def damaged(draw: st.DrawFn, name: str) -> bytes:
    """A fixture with a few bytes changed, inserted, deleted or duplicated."""
    data = bytearray((FIXTURES / name).read_bytes())
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(data)))
        edit = draw(st.sampled_from(["set", "insert", "delete", "copy"]))
        if edit == "set" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif edit == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif edit == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
        else:
            start = draw(st.integers(0, len(data)))
            data[pos:pos] = data[start : start + draw(st.integers(1, 64))]
    return bytes(data)


@pytest.mark.parametrize("name", ["echo.tac", "echopickle.tap", "echosource.tas"])
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_damaged_files(tmp_path: Path, name: str, data: st.DataObject) -> None:
    content = data.draw(damaged(name))
    message = ""
    try:
        info = load_text(tmp_path, name, content)
    except AppFileError as exc:
        message = str(exc)
    if message:
        assert message.startswith(f"{name}")
        assert "\n" not in message
    else:
        assert info.content == content

"""What an application file needs besides Twisted (issue 11): the modules a .tac imports,
and the classes from outside twisted.* in a .tap/.tas/.tax, which load as inert
stand-ins with a warning naming their module.  Also: the dangling Deref that Twisted
22.4 to 26 write in every .tas, and the Application's own uid/gid, which are ignored.

The .tac files below are written for these tests in the shapes real projects use
(each names the file it follows); tests/data/foreign.* and dangling.tas were saved by
Debian 12's Twisted 22.4 (tests/data/make_foreign.py regenerates them).
"""

from __future__ import annotations

import pickle
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tap2pkg.appfile import load
from tap2pkg.cli import tap2deb_main, tap2pkg_main, tap2rpm_main
from tap2pkg.errors import AppFileError
from tests.conftest import MAINTAINER

DATA = Path(__file__).resolve().parent / "data"


def tac(tmp_path: Path, text: str, name: str = "app.tac") -> tuple[str, ...]:
    path = tmp_path / name
    path.write_text(text)
    return load(path).imports


# ---- .tac: every import statement, wherever it is ----

EVERYWHERE = '''\
import os, json as j
import a.b.c
from x.y import z
from . import sibling, other
from .pkg.mod import thing
from .. import up
import importlib
from importlib import import_module
try:
    import yaml
except ImportError:
    yaml = None
if os.environ.get("FAST"):
    import ujson
def make():
    import inner.mod
    from inner2 import q
    __import__("dyn.one")
    importlib.import_module("dyn.two")
    import_module(".rel", "pkg.sub")
    importlib.import_module("..rel2", package="pkg.sub")
    __import__("not a module; rm -rf /")
    importlib.import_module(name_from_somewhere)
class Holder:
    import cls_mod
    def method(self):
        with open("x"):
            from deep.inside import it
from twisted.application import service
application = service.Application("x")
'''


def test_imports_everywhere_in_a_tac(tmp_path: Path) -> None:
    assert tac(tmp_path, EVERYWHERE) == (
        "..up", ".other", ".pkg.mod", ".sibling", "a.b.c", "cls_mod", "deep.inside",
        "dyn.one", "dyn.two", "importlib", "inner.mod", "inner2", "json", "os", "pkg.rel2",
        "pkg.sub.rel", "twisted.application", "ujson", "x.y", "yaml",
    )


# Following buildbot's master/buildbot/scripts/buildbot_tac.tmpl as `buildbot
# create-master` renders it (log rotation on).
BUILDBOT_MASTER = '''\
import os
from twisted.application import service
from buildbot.master import BuildMaster
basedir = '.'
rotateLength = 10000000
maxRotatedFiles = 10
configfile = 'master.cfg'
umask = None
if basedir == '.':
    basedir = os.path.abspath(os.path.dirname(__file__))
application = service.Application('buildmaster')
from twisted.python.logfile import LogFile
from twisted.logger import ILogObserver, textFileLogObserver
from twisted.logger import LogLevelFilterPredicate, FilteringLogObserver
logfile = LogFile.fromFullPath(os.path.join(basedir, "twistd.log"),
                               rotateLength=rotateLength, maxRotatedFiles=maxRotatedFiles)
application.setComponent(ILogObserver, FilteringLogObserver(
    textFileLogObserver(logfile), predicates=[LogLevelFilterPredicate()]))
m = BuildMaster(basedir, configfile, umask)
m.setServiceParent(application)
'''

# Following buildbot-worker's worker/buildbot_worker/scripts/create_worker.py template.
BUILDBOT_WORKER = '''\
import os
from buildbot_worker.bot import Worker
from twisted.application import service
basedir = '.'
if basedir == '.':
    import os.path
    basedir = os.path.abspath(os.path.dirname(__file__))
application = service.Application('buildbot-worker')
try:
    from twisted.python.logfile import LogFile
    from twisted.python.log import ILogObserver, FileLogObserver
    logfile = LogFile.fromFullPath(os.path.join(basedir, "twistd.log"))
    application.setComponent(ILogObserver, FileLogObserver(logfile).emit)
except ImportError:
    pass
s = Worker('localhost', 9989, 'example-worker', 'pass', basedir, 600)
s.setServiceParent(application)
'''

# Following Twisted's docs/core/howto/listings/pb/copy_receiver.tac: a sibling module
# imported after a __main__ guard.
PB_RECEIVER = '''\
import sys
if __name__ == "__main__":
    sys.exit(1)
from copy_sender import CopyPond, LilyPond
from twisted.application import internet, service
from twisted.internet import reactor
from twisted.spread import pb
class ReceiverPond(pb.RemoteCopy, LilyPond):
    pass
application = service.Application("copy_receiver")
internet.TCPServer(8800, pb.PBServerFactory(pb.Root())).setServiceParent(
    service.IServiceCollection(application))
'''

# Following Twisted's finger tutorial (finger19b.tac): zope.interface and old stdlib
# modules, and Application(..., uid=1, gid=1).
FINGER = '''\
import cgi
import pwd
from zope.interface import Interface, implementer
from twisted.application import internet, service, strports
from twisted.internet import defer, endpoints, protocol, reactor, utils
from twisted.web import resource, server, static, xmlrpc
application = service.Application("finger", uid=1, gid=1)
'''


@pytest.mark.parametrize(
    ("text", "imports"),
    [
        (BUILDBOT_MASTER, ("buildbot.master", "os", "twisted.application", "twisted.logger",
                           "twisted.python.logfile")),
        (BUILDBOT_WORKER, ("buildbot_worker.bot", "os", "os.path", "twisted.application",
                           "twisted.python.log", "twisted.python.logfile")),
        (PB_RECEIVER, ("copy_sender", "sys", "twisted.application", "twisted.internet",
                       "twisted.spread")),
        (FINGER, ("cgi", "pwd", "twisted.application", "twisted.internet", "twisted.web",
                  "zope.interface")),
    ],
    ids=["buildbot-master", "buildbot-worker", "pb-copy-receiver", "finger"],
)
def test_imports_of_real_world_tacs(tmp_path: Path, text: str, imports: tuple[str, ...]) -> None:
    assert tac(tmp_path, text) == imports


def test_tac_uid_gid_are_ignored_with_one_warning(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "finger.tac"
    path.write_text(FINGER)
    assert tap2pkg_main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.count("the Application sets uid=1 and gid=1: ignored, the service runs as "
                     "the package's service user (--user, --group)") == 1


# ---- .tap / .tas / .tax: the app's own classes become stand-ins, with a warning ----

FOREIGN_WARNINGS = (
    "the file uses EchoFactory from myapp.factory, which is not part of Twisted: the "
    "service needs that module installed (--include, --bundle or --depends)",
    "the file uses tick from myapp.tasks, which is not part of Twisted: the service needs "
    "that module installed (--include, --bundle or --depends)",
)


@pytest.mark.parametrize("name", ["foreign.tap", "foreign.tas"])
def test_foreign_classes_load_as_stand_ins(name: str, tmp_path: Path) -> None:
    # A package named like the app's, on sys.path: loading must not import it.
    sentinel = tmp_path / "imported"
    pkg = tmp_path / "myapp"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(f"open({str(sentinel)!r}, 'w').close()\n")
    (pkg / "factory.py").write_text(f"open({str(sentinel)!r}, 'w').close()\n")
    sys.path.insert(0, str(tmp_path))
    try:
        info = load(DATA / name)
    finally:
        sys.path.remove(str(tmp_path))
    assert not sentinel.exists()
    assert "myapp" not in sys.modules
    assert info.app_name == "foreign"
    assert info.endpoints == ("tcp:8123",)
    assert info.imports == ("myapp.factory", "myapp.tasks")
    assert info.warnings[-2:] == FOREIGN_WARNINGS


def test_foreign_class_in_tax(tmp_path: Path) -> None:
    path = tmp_path / "own.tax"
    path.write_text(
        '<?xml version="1.0"?>\n<instance class="twisted.python.components.Componentized">'
        '<dictionary><string role="key" value="x"/>'
        '<instance class="myproject.web.Site"><dictionary></dictionary></instance>'
        '</dictionary></instance>'
    )
    info = load(path)
    assert info.imports == ("myproject.web",)
    assert "Instance('myproject.web.Site'" in info.content.decode()
    assert any("the file uses Site from myproject.web" in w for w in info.warnings)


def test_foreign_warning_through_the_cli(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert tap2pkg_main(["inspect", str(DATA / "foreign.tap"), "--json"]) == 0
    out = capsys.readouterr().out
    assert '"myapp.factory"' in out
    assert "the file uses EchoFactory from myapp.factory" in out


class _Reduce:
    def __init__(self, func: Callable[..., object], *args: object) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[object, ...]:
        return self.func, self.args


def _global(module: str, name: str, protocol: int = 4) -> bytes:
    """A pickle that names module.name (STACK_GLOBAL with protocol 4) and calls it."""
    if protocol < 4:
        return f"c{module}\n{name}\n(tR.".encode()
    mod, attr = module.encode(), name.encode()
    return (b"\x80\x04\x8c" + bytes([len(mod)]) + mod + b"\x8c" + bytes([len(attr)]) + attr
            + b"\x93)R.")


@pytest.mark.parametrize(
    ("module", "name", "reason"),
    [
        ("myapp", "os.system", "an attribute path outside Twisted"),
        ("myapp.os", "system", None),  # allowed: the app's own module
        ("os.path", "join", "os can run code when the file is loaded"),
        ("builtins", "getattr", "builtins can run code when the file is loaded"),
        ("twisted.python.reflect", "namedAny",
         "twisted.python.reflect.namedAny can run code when the file is loaded"),
        ("importlib", "import_module", "importlib can run code when the file is loaded"),
        ("my app", "X", "not a Python name"),
        ("myapp", "X\u2028", "not a Python name"),
    ],
)
def test_what_stays_refused(tmp_path: Path, module: str, name: str, reason: str | None) -> None:
    for protocol in (0, 4) if name.isascii() else (4,):
        path = tmp_path / "x.tap"
        path.write_bytes(_global(module, name, protocol))
        if reason is None:
            assert load(path).imports == (module,)
            continue
        with pytest.raises(AppFileError) as caught:
            load(path)
        assert str(caught.value).endswith(f"from the pickle: {reason}")
        assert "\n" not in str(caught.value)


@pytest.mark.parametrize("main", [tap2deb_main, tap2rpm_main], ids=["tap2deb", "tap2rpm"])
def test_hostile_reduce_still_refused_through_the_cli(
    main: Callable[[list[str]], int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import subprocess

    sentinel = tmp_path / "pwned"
    path = tmp_path / "evil.tap"
    path.write_bytes(pickle.dumps(_Reduce(subprocess.call, ["touch", str(sentinel)])))
    assert main(["-t", str(path), "-m", MAINTAINER, "-o", str(tmp_path / "o"), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "refused to load subprocess.call from the pickle" in err
    assert not sentinel.exists()


def test_dangling_deref_written_by_twisted_22(tmp_path: Path) -> None:
    info = load(DATA / "dangling.tas")
    assert info.app_name == "plain"
    assert info.warnings == (
        "line 11: Deref(2) has no matching Ref: Twisted 22.4 (Debian 12's python3-twisted) "
        "cannot load this file, Twisted >= 24 can (given --uid and --gid, as the "
        "package's service does)",
    )

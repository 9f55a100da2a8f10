"""Regenerate the foreign-class app files here with the system's Twisted (Debian 12:
22.4): /usr/bin/python3 tests/data/make_foreign.py.  They hold an app's own factory class
(module ``myapp.factory``) and a TimerService whose callable is ``myapp.tasks.tick``, as
twistd --savestats/-o saves them: a .tap (pickle) and a .tas (jellyToSource, with the
dangling Deref(2) that Twisted 22.4 to 26 write)."""

import pickle
import sys
import tempfile
import textwrap
from pathlib import Path

here = Path(__file__).parent
with tempfile.TemporaryDirectory() as tmp:
    pkg = Path(tmp) / "myapp"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "factory.py").write_text(textwrap.dedent("""
        from twisted.internet import protocol
        class EchoFactory(protocol.Factory):
            pass
    """))
    (pkg / "tasks.py").write_text("def tick():\n    pass\n")
    sys.path.insert(0, tmp)
    from myapp.factory import EchoFactory
    from myapp.tasks import tick
    from twisted.application import internet, service
    from twisted.persisted import aot

    app = service.Application("foreign", uid=1234, gid=1234)
    internet.TCPServer(8123, EchoFactory()).setServiceParent(app)
    internet.TimerService(30, tick).setServiceParent(app)
    (here / "foreign.tap").write_bytes(pickle.dumps(app, protocol=2))
    (here / "foreign.tas").write_text(aot.jellyToSource(app))

# An Application saved by Twisted 22.4 with no uid/gid: jellyToSource writes the
# Process's state as Deref(2) with no Ref(2, ...) (twistd 22.4 cannot load it back).
plain = service.Application("plain")
(here / "dangling.tas").write_text(aot.jellyToSource(plain))

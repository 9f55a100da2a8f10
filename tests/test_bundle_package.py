"""--bundle and --include end to end, with the real tools: the fixture project (its own
package, a data file, a PyPI dependency Debian 12 lacks, a newer Twisted) packaged
offline from a wheel folder; the .deb read back, built twice for the same bytes, linted,
and run in the Debian 12 root (install, serve, upgrade, purge); the .rpm holding the same
tree and installing with rpm; the --include variant on Debian's own packages."""

from __future__ import annotations

import hashlib
import io
import socket
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from tap2pkg.cli import tap2deb_main, tap2rpm_main
from tests.conftest import MAINTAINER, require_tool
from tests.debroot import DebianRoot
from tests.payload_helpers import PKG, PORT, PROJECT, TAC, offline, wheel_folder
from tests.servicecheck import apt_install, daemons, owner, port_closed, uid_of

pytestmark = [pytest.mark.slow]
LIB = f"usr/lib/{PKG}"


def build_deb(out: Path, version: str, *extra: str) -> Path:
    code = tap2deb_main(["-m", MAINTAINER, "-V", version, "-o", str(out), "-q", str(TAC),
                         *extra])
    assert code == 0
    return next(out.glob(f"{PKG}_{version}_*.deb"))


@pytest.fixture(scope="module")
def wheels() -> Path:
    require_tool("dpkg-deb")
    return wheel_folder()


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory, wheels: Path) -> Path:
    """Version 1.0, checked (--check) and linted (--lint) as it is built."""
    out = tmp_path_factory.mktemp("bundle-deb")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOURCE_DATE_EPOCH", "1700000000")
        return build_deb(out, "1.0", "--bundle", str(PROJECT), *offline(wheels),
                         "--check", "--lint")


@pytest.fixture(scope="module")
def debs(tmp_path_factory: pytest.TempPathFactory, wheels: Path, deb: Path
         ) -> dict[str, Path]:
    """1.0 again, in another directory, and 1.1 for the upgrade."""
    out = tmp_path_factory.mktemp("bundle-debs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOURCE_DATE_EPOCH", "1700000000")
        bundle = ["--bundle", str(PROJECT), *offline(wheels)]
        return {
            "1.0": deb,
            "again": build_deb(out / "b", "1.0", *bundle),
            "1.1": build_deb(out / "c", "1.1", *bundle),
        }


def data_members(deb: Path) -> dict[str, tarfile.TarInfo | bytes]:
    """The .deb's data.tar: path -> content (files) or TarInfo (others)."""
    data = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True,
                          check=True).stdout
    found: dict[str, tarfile.TarInfo | bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar:
            extracted = tar.extractfile(member) if member.isfile() else None
            found[member.name.removeprefix("./")] = (
                extracted.read() if extracted is not None else member)
    return found


def field(deb: Path, name: str) -> str:
    return subprocess.run(["dpkg-deb", "-f", str(deb), name], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_bundle_deb_holds_the_tree_for_the_targets_python(deb: Path) -> None:
    assert deb.name == f"{PKG}_1.0_amd64.deb"  # zope.interface is compiled
    assert field(deb, "Architecture") == "amd64"
    depends = field(deb, "Depends")
    assert "python3 (>= 3.11), python3 (<< 3.12)" in depends
    assert "libc6 (>= 2." in depends
    assert "python3-twisted" not in depends  # the bundle carries its own Twisted
    members = subprocess.run(["ar", "t", str(deb)], capture_output=True, text=True,
                             check=True).stdout.split()
    assert "data.tar.xz" in members  # megabytes of files: xz, dpkg's default
    files = data_members(deb)
    for path in (f"{LIB}/twistd", f"{LIB}/bundle/romanserve/protocol.py",
                 f"{LIB}/bundle/romanserve/banner.txt", f"{LIB}/bundle/roman_numerals/__init__.py",
                 f"{LIB}/bundle/twisted/__init__.py", f"{LIB}/bundle/zope/interface/__init__.py"):
        assert path in files, path
    launcher = files[f"{LIB}/twistd"]
    assert isinstance(launcher, bytes)
    assert launcher.startswith(b"#!/usr/bin/python3 -IBS\n")
    assert f"sys.path[:0] = ['/{LIB}/bundle']".encode() in launcher
    assert not [p for p in files if p.endswith((".pyc", ".pth")) or "__pycache__" in p]
    assert not [p for p in files if "/bin/" in p or p.endswith("direct_url.json")]
    # The unit and the init script run the launcher.
    unit, init = files[f"lib/systemd/system/{PKG}.service"], files[f"etc/init.d/{PKG}"]
    assert isinstance(unit, bytes) and isinstance(init, bytes)
    assert f"\nExecStart=/{LIB}/twistd --nodaemon ".encode() in unit
    assert f"\nTWISTD=/{LIB}/twistd\n".encode() in init


def test_bundle_deb_holds_no_build_path(deb: Path) -> None:
    files = data_members(deb)
    needles = [str(PROJECT).encode(), str(deb.parent).encode(), b"/tmp/pytest-of",
               str(Path.cwd()).encode(), b"tap2pkg-bundle-"]
    for path, content in files.items():
        if isinstance(content, bytes):
            for needle in needles:
                assert needle not in content, f"{path} holds {needle!r}"


def test_two_bundle_builds_give_the_same_bytes(debs: dict[str, Path]) -> None:
    first, second = debs["1.0"], debs["again"]
    assert hashlib.sha256(first.read_bytes()).hexdigest() == \
        hashlib.sha256(second.read_bytes()).hexdigest()
    source = sorted(first.parent.glob("*.tar.xz")), sorted(second.parent.glob("*.tar.xz"))
    assert source[0][0].read_bytes() == source[1][0].read_bytes()


def query(port: int, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
                chunks = []
                while chunk := conn.recv(4096):
                    chunks.append(chunk)
                return b"".join(chunks).decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.lifecycle
def test_bundle_deb_lifecycle(root: DebianRoot, debs: dict[str, Path]) -> None:
    apt_install(root, debs["1.0"])
    # py3compile byte-compiled the bundle at install (the service's python3 -B reads it).
    cache = root.file(f"/{LIB}/bundle/twisted/internet/__pycache__")
    assert any(p.name.startswith("reactor.cpython-311") for p in cache.iterdir())
    report = query(PORT)
    assert "romanserve says hello" in report  # the data file
    assert "2026 MMXXVI (roman-numerals)" in report  # what the PyPI dependency computed
    assert f"from /{LIB}/bundle/twisted" in report  # the bundled Twisted...
    assert "twisted 22." not in report  # ...not Debian's
    assert f"cwd /var/lib/{PKG}" in report
    [pid] = daemons(root)
    assert owner(pid) == uid_of(root, f"_{PKG}") != 0
    assert f"uid {owner(pid)}" in report

    apt_install(root, debs["1.1"])
    assert "MMXXVI" in query(PORT)
    assert root.run("dpkg-query", "-W", "-f=${Version}", PKG).stdout == "1.1"
    assert any(p.name.startswith("reactor.cpython-311") for p in cache.iterdir())
    assert len(daemons(root)) == 1

    root.run("apt-get", "purge", "-y", "-q", PKG)
    assert port_closed(PORT)
    assert daemons(root) == []
    for gone in (f"/{LIB}", f"/etc/{PKG}", f"/var/lib/{PKG}"):
        assert not root.file(gone).exists(), gone


@pytest.mark.lifecycle
def test_include_with_distribution_packages(root: DebianRoot, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """The same app on Debian's Twisted, its own package shipped with --include, and the
    Roman numerals from Debian's python3-roman (--depends)."""
    deb = build_deb(tmp_path, "1.0", "--include", str(PROJECT / "romanserve"),
                    "--depends", "python3-roman", "--check", "--lint")
    assert "would not provide" not in capsys.readouterr().err
    assert deb.name == f"{PKG}_1.0_all.deb"
    assert field(deb, "Depends").startswith("python3-twisted, adduser, python3, python3-roman")
    files = data_members(deb)
    assert f"usr/share/{PKG}/app/romanserve/banner.txt" in files
    assert files[f"{LIB}/twistd"].startswith(b"#!/usr/bin/python3 -IB\n")  # type: ignore[union-attr]
    apt_install(root, deb)
    report = query(PORT)
    assert "2026 MMXXVI (roman)" in report
    assert "from /usr/lib/python3/dist-packages/twisted" in report
    root.run("apt-get", "purge", "-y", "-q", PKG)
    assert not root.file(f"/usr/share/{PKG}").exists()


def test_bundle_rpm_holds_the_same_tree(tmp_path: Path, wheels: Path, deb: Path) -> None:
    import rpmfile

    require_tool("rpmbuild")
    code = tap2rpm_main(["-m", MAINTAINER, "-o", str(tmp_path), "-q", str(TAC),
                         "--bundle", str(PROJECT), *offline(wheels), "--python", "3.11",
                         "--lint"])
    assert code == 0
    [rpm] = sorted(tmp_path.glob("*.x86_64.rpm"))
    with rpmfile.open(rpm) as package:
        requires = [r.decode() for r in package.headers["requirename"]]
        assert "python(abi)" in requires and "python3-twisted" not in requires
        tree = {m.name.removeprefix("./").lstrip("/"): package.extractfile(m).read()
                for m in package.getmembers() if m.name.lstrip("./").startswith(LIB)}
    deb_tree = {p: c for p, c in data_members(deb).items()
                if p.startswith(LIB) and isinstance(c, bytes)}
    assert set(tree) >= set(deb_tree)
    for path, content in deb_tree.items():
        if not path.endswith(".so") and not path.endswith("/twistd"):
            assert tree[path] == content, path
    # For an interpreter other than the release's python3 (Fedora's is 3.14), the
    # launcher names the one it was built for.
    assert tree[f"{LIB}/twistd"].startswith(b"#!/usr/bin/python3.11 -IBS\n")


@pytest.mark.lifecycle
def test_bundle_rpm_installs_and_its_twistd_runs(root: DebianRoot, tmp_path: Path,
                                                 wheels: Path) -> None:
    """rpm -i in the Debian root (Debian's rpm, whose database knows no python(abi):
    --nodeps); the launcher then runs the bundled twistd on the root's python3.11."""
    from tests.test_lifecycle_rpm import install_stand_ins

    code = tap2rpm_main(["-m", MAINTAINER, "-o", str(tmp_path), "-q", str(TAC),
                         "--bundle", str(PROJECT), *offline(wheels), "--python", "3.11"])
    assert code == 0
    [rpm] = sorted(tmp_path.glob("*.x86_64.rpm"))
    install_stand_ins(root)
    root.run("rpm", "--nodeps", "-i", root.copy_in(rpm))
    assert root.file(f"/{LIB}/bundle/romanserve/banner.txt").is_file()
    version = root.run(f"/{LIB}/twistd", "--version").stdout
    assert version.startswith("twistd (the Twisted daemon) 2")
    assert "22.4" not in version.splitlines()[0]
    root.run("rpm", "--nodeps", "-e", PKG)
    assert not root.file(f"/{LIB}").exists()

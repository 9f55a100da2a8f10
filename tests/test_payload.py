"""--include, --bundle and the missing-module warnings, without pip or package builds:
what the user sees in warnings, in the launcher, and in the normalized bundle tree."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from tap2pkg.bundle import BundleFile, BundleRequest, normalize, platform_tags, top_level_modules
from tap2pkg.cli import tap2deb_main
from tap2pkg.errors import BuildError, UsageError
from tap2pkg.imports import DistMapping, dist_mapping, python_imports, warnings
from tap2pkg.payload import (
    Payload,
    PayloadFile,
    deb_architecture,
    deb_depends,
    gather,
    launcher,
    rpm_requires,
)
from tests.conftest import MAINTAINER, require_tool
from tests.payload_helpers import PROJECT, TAC

MAPPING = DistMapping({"pyyaml": "python3-yaml", "roman": "python3-roman"},
                      frozenset({"python3-yaml", "python3-roman"}))


def payload(*paths: str, python: str = "", machine: str = "") -> Payload:
    files = tuple(PayloadFile(p, b"") for p in paths)
    include = top_level_modules(tuple(_bundle(p[4:]) for p in paths if p.startswith("app/")))
    bundle = top_level_modules(tuple(_bundle(p[7:]) for p in paths if p.startswith("bundle/")))
    return Payload(files, include, bundle, python, machine)


def _bundle(path: str) -> BundleFile:
    return BundleFile(path, b"", 0o644)


def test_warnings_name_each_missing_module_and_the_fix(tmp_path: Path) -> None:
    (tmp_path / "helper.py").write_text("")
    found = warnings(["os.path", "twisted.internet", "zope.interface", "helper", "yaml",
                      "roman_numerals.core", "helper"], None, [], appdir=tmp_path,
                     family="deb", mapping=MAPPING)
    assert found == [
        "the application imports 'helper', which the package would not provide: ship it "
        f"with --include {tmp_path}/helper.py",
        "the application imports 'yaml', which the package would not provide: add "
        "--depends python3-yaml (Debian's package), or --bundle it",
        "the application imports 'roman_numerals', which the package would not provide: "
        "--include its code, or --bundle the distribution that provides 'roman_numerals'",
    ]


def test_depends_include_and_bundle_silence_the_warnings(tmp_path: Path) -> None:
    provided = payload("app/helper.py", "bundle/roman_numerals/__init__.py", python="3.11")
    assert warnings(["helper", "yaml", "roman_numerals"], provided,
                    ["python3-yaml (>= 5)"], appdir=tmp_path, family="deb",
                    mapping=MAPPING) == []


def test_the_targets_python_decides_what_the_standard_library_holds(tmp_path: Path) -> None:
    """A module the build host's Python 3.11 has but the target's lacks draws a warning
    that says why; one the target has counts as provided."""
    mods = ["telnetlib", "imp", "dataclasses", "tomllib", "os"]
    assert warnings(mods, None, [], appdir=tmp_path, family="deb", python="3.11") == []
    assert warnings(mods, None, [], appdir=tmp_path, family="deb", python="3.13") == [
        "the application imports 'telnetlib', which was removed from the standard library "
        "in Python 3.13; the target runs Python 3.13: port the application, or --bundle a "
        "distribution that provides the module",
        "the application imports 'imp', which was removed from the standard library in "
        "Python 3.12; the target runs Python 3.13: port the application, or --bundle a "
        "distribution that provides the module",
    ]
    old = warnings(mods, None, [], appdir=tmp_path, family="rpm", python="3.6")
    assert [w.split(",")[0] for w in old] == [
        "the application imports 'dataclasses'", "the application imports 'tomllib'"]
    assert "joined the standard library only in Python 3.7" in old[0]


def test_tap2deb_warns_for_the_targets_python(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """--target debian-13 (Python 3.13): an app that imports telnetlib is told before it
    is installed; for debian-12 (3.11) the same app draws no warning."""
    require_tool("dpkg-deb")
    app = tmp_path / "old.tac"
    app.write_text(TAC.read_text() + "\nimport telnetlib\n")
    for target, expected in (("debian-12", False), ("debian-13", True)):
        assert tap2deb_main(["-t", str(app), "-m", MAINTAINER, "-o", str(tmp_path / target),
                             "--target", target]) == 0
        err = capsys.readouterr().err
        assert ("'telnetlib', which was removed" in err) is expected, err


def test_optional_imports_are_not_required() -> None:
    """Imports in a try block whose handler catches ImportError are optional; the fallback
    in the handler is required."""
    source = b"""
try:
    from roman_numerals import RomanNumeral
except ImportError:
    import roman
try:
    import ujson as json
except (ValueError, ModuleNotFoundError):
    import json
try:
    import yaml
except KeyError:
    pass
def f():
    try:
        import lxml.etree
    except:
        lxml = None
"""
    assert set(python_imports(source, required_only=True)) == {"roman", "json", "yaml"}
    assert set(python_imports(source)) == {"roman_numerals", "roman", "ujson", "json",
                                           "yaml", "lxml.etree"}


def test_included_code_is_checked_too(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """--include'd code's own imports are checked like the app's: the fixture project's
    numerals.py needs 'roman' (roman_numerals is optional there), and --depends
    python3-roman (Debian's package of it) silences the warning."""
    require_tool("dpkg-deb")
    base = ["-t", str(TAC), "-m", MAINTAINER, "--include", str(PROJECT / "romanserve")]
    assert tap2deb_main([*base, "-o", str(tmp_path / "a")]) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warned) == 1
    assert warned[0].startswith(
        "tap2deb: warning: romanserve/numerals.py (--include) imports 'roman', which the "
        "package would not provide: --bundle ")
    assert warned[0].endswith("project if its project requires it")
    assert tap2deb_main([*base, "--depends", "python3-roman", "-o", str(tmp_path / "b")]) == 0
    assert "warning" not in capsys.readouterr().err


def _py_lines(deb: Path, script: str) -> list[str]:
    text = subprocess.run(["dpkg-deb", "--ctrl-tarfile", str(deb)], capture_output=True,
                          check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(text)) as tar:
        member = tar.extractfile(f"./{script}")
        assert member is not None
        body = member.read().decode()
    return [line.strip() for line in body.splitlines() if "py3compile" in line
            or "py3clean" in line]


def test_payload_is_byte_compiled_at_install_as_dh_python3_does(tmp_path: Path) -> None:
    """The code --include ships is byte-compiled by py3compile in postinst and cleaned by
    py3clean in prerm, with the very calls dh_python3 writes when dpkg-buildpackage
    rebuilds tap2deb's source package (which build-depends on dh-sequence-python3)."""
    require_tool("dpkg-deb", "dpkg-buildpackage", "dh_python3")
    out = tmp_path / "out"
    assert tap2deb_main(["-t", str(TAC), "-m", MAINTAINER, "-o", str(out), "-q",
                         "--include", str(PROJECT / "romanserve"),
                         "--depends", "python3-roman"]) == 0
    ours = next(out.glob("*.deb"))
    source = tmp_path / "src" / "tree"
    shutil.copytree(next(p for p in out.iterdir() if p.is_dir()), source)
    proc = subprocess.run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=source,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rebuilt = next((tmp_path / "src").glob("*.deb"))
    calls = ["py3compile -p twisted-romanserve /usr/share/twisted-romanserve",
             "pypy3compile -p twisted-romanserve /usr/share/twisted-romanserve || true"]
    assert [c for c in _py_lines(ours, "postinst") if "-p" in c] == calls
    assert _py_lines(ours, "postinst") == _py_lines(rebuilt, "postinst")
    assert _py_lines(ours, "prerm") == _py_lines(rebuilt, "prerm")
    assert "py3clean -p twisted-romanserve" in _py_lines(ours, "prerm")


def test_dh_python_mapping_is_debians_own() -> None:
    mapping = dist_mapping()
    if not mapping.by_dist:
        require_tool("dh_python3")  # dh-python ships the mapping
    assert mapping.debian_package("twisted") == "python3-twisted"
    assert mapping.debian_package("yaml") == "python3-yaml"


def test_imports_inside_functions_count() -> None:
    source = b"import os\ndef f():\n    import humanize\n    from a.b import c\nfrom . import x\n"
    assert python_imports(source) == ("os", "humanize", "a.b")


def test_project_without_options_warns_and_check_fails(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    require_tool("twistd3")
    code = tap2deb_main(["-m", MAINTAINER, "-o", str(tmp_path), str(TAC), "--check"])
    err = capsys.readouterr().err
    assert code == 2
    assert "imports 'romanserve', which the package would not provide" in err
    assert "--bundle" in err
    assert "No module named 'romanserve'" in err


def test_launcher_isolates_a_bundled_twisted() -> None:
    bundled = payload("bundle/twisted/__init__.py", python="3.11", machine="x86_64")
    text = launcher(bundled, "twisted-x", "3.11", ["/usr/lib/twisted-x/bundle"])
    assert text.splitlines()[0] == "#!/usr/bin/python3 -IBS"
    assert "sys.path[:0] = ['/usr/lib/twisted-x/bundle']" in text
    assert "built for Python 3.11" in text
    # An interpreter other than the release's python3: named exactly.
    assert launcher(bundled, "twisted-x", "3.14", []).startswith("#!/usr/bin/python3.11 -IBS")


def test_include_only_keeps_the_distribution_twisted(tmp_path: Path) -> None:
    (tmp_path / "helper.py").write_text("X = 1\n")
    found = gather((tmp_path / "helper.py",), BundleRequest(), "3.11", "2.36")
    assert found is not None
    assert [f.path for f in found.files] == ["app/helper.py"]
    assert found.include_modules == ("helper",)
    assert str(found.root("twisted-x")) == "/usr/share/twisted-x"
    assert launcher(found, "twisted-x", "3.11", found.sys_path("twisted-x")).startswith(
        "#!/usr/bin/python3 -IB\n")
    assert deb_architecture(found) == "all"
    assert deb_depends(found, "3.11") == ["python3"]


def test_interpreter_dependencies_are_exact() -> None:
    bundled = payload("bundle/x.py", python="3.11")
    assert deb_depends(bundled, "3.11") == ["python3 (>= 3.11)", "python3 (<< 3.12)"]
    assert deb_depends(bundled, "3.13") == ["python3.11"]
    assert rpm_requires(bundled) == ["python(abi) = 3.11"]


def test_bad_include_and_bundle_values(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"--include: .*no such file"):
        gather((tmp_path / "missing",), BundleRequest(), "3.11", "2.36")
    (tmp_path / "plain").mkdir()
    with pytest.raises(UsageError, match=r"--bundle: .*needs a pyproject\.toml"):
        gather((), BundleRequest(requirements=(str(tmp_path / "plain"),)), "3.11", "2.36")
    with pytest.raises(UsageError, match="--bundle: '--index-url=x'"):
        gather((), BundleRequest(requirements=("--index-url=x",)), "3.11", "2.36")


def test_cli_refuses_twistd_with_a_payload(capsys: pytest.CaptureFixture[str],
                                           tmp_path: Path) -> None:
    code = tap2deb_main(["-m", MAINTAINER, "-o", str(tmp_path), str(TAC), "--include",
                         str(PROJECT / "romanserve"), "--twistd", "/usr/bin/twistd3"])
    assert code == 2
    assert "--twistd: the package runs its own launcher" in capsys.readouterr().err


def test_platform_tags_reach_down_to_manylinux1() -> None:
    tags = platform_tags("2.36", "x86_64")
    assert tags[0] == "manylinux_2_36_x86_64"
    assert tags[-1] == "manylinux_2_5_x86_64"


def test_normalize_drops_what_ties_a_tree_to_the_build_host(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    info = tree / "demo-1.0.dist-info"
    (tree / "bin").mkdir(parents=True)
    (tree / "demo" / "__pycache__").mkdir(parents=True)
    info.mkdir()
    (tree / "bin" / "demo").write_text(f"#!{tmp_path}/venv/bin/python\n")
    (tree / "demo" / "__init__.py").write_text("#!/usr/bin/env python\nX = 1\n")
    (tree / "demo" / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"x")
    (tree / "demo" / ".gitignore").write_text("*\n")
    (tree / "demo-nspkg.pth").write_text("import sys\n")
    (info / "METADATA").write_text("Name: demo\n")
    (info / "direct_url.json").write_text(f'{{"url": "file://{tmp_path}/src"}}')
    (info / "REQUESTED").write_text("")
    (info / "RECORD").write_text(
        "demo/__init__.py,sha256=old,1\n../../bin/demo,,\n"
        "demo-1.0.dist-info/METADATA,,\ndemo-1.0.dist-info/direct_url.json,,\n"
        "demo-1.0.dist-info/RECORD,,\n")
    files = {f.path: f for f in normalize(tree, build_paths=(str(tmp_path),))}
    assert sorted(files) == ["demo-1.0.dist-info/METADATA", "demo-1.0.dist-info/RECORD",
                             "demo/__init__.py"]
    assert files["demo/__init__.py"].data == b"# /usr/bin/env python\nX = 1\n"
    record = files["demo-1.0.dist-info/RECORD"].data.decode()
    assert record.splitlines()[0].startswith("demo-1.0.dist-info/METADATA,sha256=")
    assert "direct_url" not in record and "bin/demo" not in record
    assert {f.mode for f in files.values()} == {0o644}
    # A build path left in a shipped file is refused, not shipped.
    (tree / "demo" / "where.py").write_text(f"HOME = '{tmp_path}/src'\n")
    with pytest.raises(BuildError, match="holds the build path"):
        normalize(tree, build_paths=(str(tmp_path),))


def test_pip_is_asked_for_the_targets_python_not_the_hosts(tmp_path: Path) -> None:
    from tap2pkg.bundle import pip_argv

    requirements = tmp_path / "requirements.txt"
    request = BundleRequest(requirements=("attrs>=23",), requirement_files=(requirements,),
                            find_links=(tmp_path,), no_index=True)
    argv = pip_argv(request, "3.13", "2.41", "aarch64", target=tmp_path / "t", wheels=[])
    text = " ".join(argv)
    assert "--python-version 3.13 --implementation cp --abi cp313" in text
    assert "--only-binary=:all:" in argv and "--no-compile" in argv
    assert "--platform manylinux_2_41_aarch64" in text
    assert f"--find-links {tmp_path}" in text and "--no-index" in argv
    assert f"--requirement {requirements}" in text
    assert argv[-1] == "attrs>=23"

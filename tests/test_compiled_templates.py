"""Compiled templates: shipped inside the package, never loaded from a writable cache.

A build run with HOME and XDG_CACHE_HOME pointing at planted, malicious Jinja2 bytecode
caches never opens them; a compiled set whose template sources changed is not used; the
wheel carries a compiled set that matches its templates."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import jinja2
import pytest

from tap2pkg import __version__
from tap2pkg.render import COMPILED, FINGERPRINT, templates_dir
from tests.conftest import EPOCH, FIXTURES, MAINTAINER, ROOT, require_tool

# Runs tap2deb with an audit hook that records every file operation under the given roots.
AUDITED = """
import json, os, sys
roots = json.loads(os.environ["AUDIT_ROOTS"])
seen = []
def hook(event, args):
    if not event.startswith(("open", "os.", "shutil.")) or not args:
        return
    path = args[0]
    if isinstance(path, (str, bytes, os.PathLike)):
        path = os.path.abspath(os.fsdecode(path))
        if any(path == root or path.startswith(root + os.sep) for root in roots):
            seen.append([event, path])
sys.addaudithook(hook)
from tap2pkg.cli import tap2deb_main
code = tap2deb_main(sys.argv[1:])
with open(os.environ["AUDIT_REPORT"], "w") as report:
    json.dump(seen, report)
sys.exit(code)
"""


def plant_bytecode_caches(cache_dirs: list[Path], sentinel: Path) -> None:
    """What the attacker leaves where tap2pkg used to keep its bytecode cache: for every
    template, a valid cache entry whose code writes the sentinel."""
    templates = templates_dir()
    env = jinja2.Environment(autoescape=False)  # noqa: S701 - the attacker's, not ours
    payload = compile(f"open({str(sentinel)!r}, 'w').write('pwned')", "<planted>", "exec")
    for directory in cache_dirs:
        directory.mkdir(parents=True)
        cache = jinja2.FileSystemBytecodeCache(str(directory))
        for name in _names(templates):
            source = (templates / name).read_text(encoding="utf-8")
            filename = os.path.normpath(templates / name)
            bucket = cache.get_bucket(env, name, filename, source)
            bucket.code = payload
            cache.set_bucket(bucket)


def _names(templates: Path) -> list[str]:
    return sorted(p.relative_to(templates).as_posix() for p in templates.rglob("*")
                  if p.is_file())


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def source_copy(dest: Path) -> Path:
    """A source checkout of tap2pkg without a compiled set (as after git clone)."""
    shutil.copytree(ROOT / "tap2pkg", dest / "tap2pkg",
                    ignore=shutil.ignore_patterns("__pycache__", COMPILED))
    shutil.copytree(ROOT / "templates", dest / "templates")
    return dest


@pytest.mark.parametrize("loader", ["shipped", "in-memory"])
def test_build_never_opens_the_user_cache(tmp_path: Path, loader: str) -> None:
    require_tool("dpkg-deb")
    home, xdg, sentinel = tmp_path / "home", tmp_path / "xdg", tmp_path / "SENTINEL"
    plant_bytecode_caches([xdg / "tap2pkg" / f"templates-{__version__}",
                           home / ".cache" / "tap2pkg" / f"templates-{__version__}"], sentinel)
    before = {**snapshot(home), **snapshot(xdg)}
    env = {**os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(xdg),
           "SOURCE_DATE_EPOCH": EPOCH, "AUDIT_ROOTS": json.dumps([str(home), str(xdg)]),
           "AUDIT_REPORT": str(tmp_path / "audit.json")}
    if loader == "in-memory":  # a checkout with no compiled set: templates compiled in memory
        env["PYTHONPATH"] = str(source_copy(tmp_path / "src"))
    proc = subprocess.run(
        [sys.executable, "-c", AUDITED, "-t", str(FIXTURES / "echo.tac"), "-m", MAINTAINER,
         "-o", str(tmp_path / "out"), "-q"],
        env=env, cwd=tmp_path, capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "twisted-echo_1.0_all.deb").is_file()
    assert not sentinel.exists()
    assert json.loads((tmp_path / "audit.json").read_text()) == []
    assert {**snapshot(home), **snapshot(xdg)} == before


RENDER = """
import sys
from tap2pkg import render
sys.stdout.write(render.__file__ + "\\n")
sys.stdout.write(type(render.environment().loader).__name__ + "\\n")
sys.stdout.write(render.render("debian/rules"))
"""


def run_render(src: Path) -> list[str]:
    """The loader used and the rendered debian/rules, by tap2pkg imported from src."""
    proc = subprocess.run([sys.executable, "-c", RENDER], env={**os.environ,
                          "PYTHONPATH": str(src)}, cwd=src, capture_output=True, text=True,
                          check=True)
    lines = proc.stdout.splitlines()
    assert lines[0] == str(src / "tap2pkg" / "render.py")
    return lines[1:]


def test_stale_compiled_set_is_not_used(tmp_path: Path) -> None:
    src = source_copy(tmp_path / "src")
    compiled = src / "tap2pkg" / COMPILED
    subprocess.run([sys.executable, "-c", "from pathlib import Path; import sys; "
                    "from tap2pkg.render import compile_templates; "
                    "compile_templates(Path(sys.argv[1]))", str(compiled)],
                   env={**os.environ, "PYTHONPATH": str(src)}, cwd=src, check=True)
    assert (compiled / FINGERPRINT).is_file()
    assert len(list(compiled.glob("__pycache__/tmpl_*.pyc"))) == len(_names(templates_dir()))
    # Mark the compiled debian/rules, and make importing it leave a sentinel.
    sentinel = tmp_path / "SENTINEL"
    module = compiled / jinja2.ModuleLoader.get_module_filename("debian/rules")
    code = module.read_text(encoding="utf-8").replace("#!/usr/bin/make -f",
                                                      "#!/usr/bin/make -f COMPILED")
    module.write_text(f"open({str(sentinel)!r}, 'w').close()\n{code}", encoding="utf-8")

    # Fresh (fingerprint matches the sources): the compiled set is what renders.
    lines = run_render(src)
    assert lines[:2] == ["ModuleLoader", "#!/usr/bin/make -f COMPILED"]
    assert sentinel.exists()
    sentinel.unlink()

    # A template edited since: the sources are compiled in memory, the set never imported.
    rules = src / "templates" / "debian" / "rules"
    rules.write_text(rules.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    on_disk = snapshot(compiled)
    lines = run_render(src)
    assert lines[0] == "FileSystemLoader"
    assert lines[1] == "#!/usr/bin/make -f"
    assert lines[-1] == "# edited"
    assert not sentinel.exists()
    assert snapshot(compiled) == on_disk  # nothing compiled to disk either

    # Fresh again, but others may write to it: not used either.
    rules.write_text(rules.read_text(encoding="utf-8").removesuffix("# edited\n"),
                     encoding="utf-8")
    assert run_render(src)[0] == "ModuleLoader"
    sentinel.unlink()
    compiled.chmod(0o777)
    assert run_render(src)[:2] == ["FileSystemLoader", "#!/usr/bin/make -f"]
    assert not sentinel.exists()


def test_compiled_set_is_ignored_by_git() -> None:
    require_tool("git")
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    paths = [f"tap2pkg/{COMPILED}/tmpl_0.py", f"tap2pkg/{COMPILED}/{FINGERPRINT}"]
    proc = subprocess.run(["git", "-C", str(ROOT), "check-ignore", *paths],
                          capture_output=True, text=True, check=False)
    assert proc.stdout.split() == paths


@pytest.mark.slow
def test_wheel_ships_a_matching_compiled_set(tmp_path: Path) -> None:
    require_tool("dpkg-deb")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(tmp_path / "dist"), str(ROOT)],
                   check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("tap2pkg-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert f"tap2pkg/{COMPILED}/{FINGERPRINT}" in names
    shipped = {n for n in names if n.startswith(f"tap2pkg/{COMPILED}/tmpl_")}
    assert len(shipped) == len(_names(templates_dir()))

    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    assert run_render(site)[0] == "ModuleLoader"
    # The installed wheel builds the same package as this checkout.
    debs = []
    for name, path in (("wheel", str(site)), ("checkout", str(ROOT))):
        out = tmp_path / name
        subprocess.run([sys.executable, "-c", "import sys; from tap2pkg.cli import "
                        "tap2deb_main as m; sys.exit(m(sys.argv[1:]))", "-t",
                        str(FIXTURES / "echo.tac"), "-m", MAINTAINER, "-o", str(out), "-q"],
                       env={**os.environ, "PYTHONPATH": path, "SOURCE_DATE_EPOCH": EPOCH},
                       cwd=tmp_path, check=True)
        debs.append((out / "twisted-echo_1.0_all.deb").read_bytes())
    assert debs[0] == debs[1]

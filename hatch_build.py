"""Hatch build hook: compile templates/ into Python modules shipped inside the package.

tap2pkg loads these with jinja2.ModuleLoader (tap2pkg/render.py), so no run ever compiles
its templates again nor reads compiled code from a cache directory.

- wheel: the modules are compiled into a temporary directory and added to the wheel as
  tap2pkg/_compiled_templates/, beside the templates they were compiled from;
- editable install (pip install -e): they are compiled into tap2pkg/_compiled_templates/ in
  the source tree (ignored by git).  Once a template is edited, the recorded fingerprint no
  longer matches and tap2pkg compiles in memory until `python hatch_build.py` is run again.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

ROOT = Path(__file__).resolve().parent


def load_render(root: Path) -> ModuleType:
    """tap2pkg/render.py, loaded by path: the package is not installed while it is built."""
    spec = importlib.util.spec_from_file_location("_tap2pkg_build_render",
                                                  root / "tap2pkg" / "render.py")
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {root / 'tap2pkg' / 'render.py'}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compile_into(root: Path, dest: Path) -> str:
    render = load_render(root)
    fingerprint: str = render.compile_templates(dest, root / "templates")
    return fingerprint


class CompiledTemplatesHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        if version == "editable":
            try:
                compile_into(root, root / "tap2pkg" / "_compiled_templates")
            except OSError as exc:  # a read-only checkout: tap2pkg compiles in memory
                self.app.display_warning(f"templates not compiled: {exc}")
            return
        self._scratch = tempfile.mkdtemp(prefix="tap2pkg-compiled-templates-")
        compile_into(root, Path(self._scratch))
        build_data["force_include"][self._scratch] = "tap2pkg/_compiled_templates"

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        scratch = getattr(self, "_scratch", None)
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)

    def clean(self, versions: list[str]) -> None:
        shutil.rmtree(Path(self.root) / "tap2pkg" / "_compiled_templates", ignore_errors=True)


if __name__ == "__main__":  # refresh an editable install's compiled set
    dest = ROOT / "tap2pkg" / "_compiled_templates"
    print(f"{dest}: compiled from sources {compile_into(ROOT, dest)}")

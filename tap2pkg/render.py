"""Jinja2 rendering: one environment, shell quoting on every value that reaches a shell script.

Templates are compiled when the wheel is built (hatch_build.py calls compile_templates) and
shipped inside the package as Python modules, loaded with jinja2.ModuleLoader.  Compiled
state is never read from a cache directory: a writable place would let someone else put
code there that runs as the user running tap2pkg.  When the shipped set is absent or does
not match the template sources (a source checkout whose templates were edited since), the
templates are compiled in memory for this process only.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import stat
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # jinja2 is imported lazily: `tap2deb --help` must not pay for it
    import jinja2

# hatch_build.py loads this file by path, before tap2pkg is installed: import nothing
# from tap2pkg at module level.

COMPILED = "_compiled_templates"  # inside the package, next to this file
FINGERPRINT = "SOURCES.sha256"  # in COMPILED: what the modules were compiled from


def templates_dir() -> Path:
    """Inside the wheel templates/ sits in the package; in a source checkout, beside it."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"tap2pkg templates not found near {here}")


def compiled_dir() -> Path:
    return Path(__file__).resolve().parent / COMPILED


def shell_quote(value: object) -> str:
    """Quote a value so that a POSIX shell reads it back as one literal word."""
    return shlex.quote(str(value))


def single_quote(value: object) -> str:
    """Always single-quote (as debhelper writes unit names): one literal shell word."""
    return "'" + str(value).replace("'", "'\"'\"'") + "'"


def double_quote(value: object) -> str:
    """Double-quote a value that holds nothing the shell expands inside double quotes."""
    text = str(value)
    if any(c in text for c in '$`"\\!'):
        raise ValueError(f"refusing to double-quote {text!r} for a shell script")
    return f'"{text}"'


def unit_escape(value: object) -> str:
    """Escape a value for a systemd unit setting: '%' starts a specifier, and a trailing
    backslash would continue the line."""
    return str(value).replace("%", "%%").rstrip("\\")


FILTERS = {"sh": shell_quote, "sq": single_quote, "dq": double_quote, "unit": unit_escape}


def _template_names(templates: Path) -> list[str]:
    return sorted(path.relative_to(templates).as_posix()
                  for path in templates.rglob("*") if path.is_file())


def fingerprint(templates: Path) -> str:
    """What a compiled set depends on: the template sources, the Jinja2 version, and the
    environment settings that change the generated code (an unknown filter or test name is
    a compile-time error)."""
    import jinja2  # noqa: PLC0415 - lazy import, see above

    env = _environment(jinja2.BaseLoader())
    settings = (
        env.block_start_string, env.block_end_string, env.variable_start_string,
        env.variable_end_string, env.comment_start_string, env.comment_end_string,
        env.line_statement_prefix, env.line_comment_prefix, env.trim_blocks,
        env.lstrip_blocks, env.newline_sequence, env.keep_trailing_newline, env.autoescape,
        sorted(env.extensions), sorted(env.filters), sorted(env.tests), env.optimized,
    )
    digest = hashlib.sha256()
    digest.update(f"jinja2 {jinja2.__version__}\n{settings!r}\n".encode())
    for name in _template_names(templates):
        data = (templates / name).read_bytes()
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def _environment(loader: jinja2.BaseLoader) -> jinja2.Environment:
    import jinja2  # noqa: PLC0415 - lazy import, see above

    env = jinja2.Environment(
        loader=loader,
        auto_reload=False,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # noqa: S701 - we render shell, control files and specs, not HTML
    )
    env.filters.update(FILTERS)
    return env


def compile_templates(dest: Path, templates: Path | None = None) -> str:
    """Compile every template into Python modules in dest (jinja2.ModuleLoader's layout)
    and record the fingerprint of their sources, last, so that a half-written set is never
    taken for a whole one.  Returns the fingerprint."""
    import py_compile  # noqa: PLC0415 - only when building

    import jinja2  # noqa: PLC0415 - lazy import, see above

    templates = templates or templates_dir()
    dest.mkdir(parents=True, exist_ok=True)
    (dest / FINGERPRINT).unlink(missing_ok=True)
    for old in [*dest.glob("tmpl_*.py"), *dest.glob("__pycache__/tmpl_*")]:
        old.unlink()
    # Taken before compiling: if a template changes meanwhile, the set reads as stale.
    recorded = fingerprint(templates)
    env = _environment(jinja2.FileSystemLoader(str(templates)))
    env.compile_templates(str(dest), zip=None, ignore_errors=False)
    # Their bytecode too, checked against the module's hash rather than its mtime, so that
    # importing them costs no compile even where Python writes no bytecode
    # (PYTHONDONTWRITEBYTECODE) and whatever times an installer gives the files.
    for module in sorted(dest.glob("tmpl_*.py")):
        py_compile.compile(str(module), doraise=True,
                           invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
    (dest / FINGERPRINT).write_text(recorded + "\n", encoding="ascii")
    return recorded


def _loader() -> jinja2.BaseLoader:
    """The shipped compiled set when it was compiled from these very sources; otherwise
    the sources themselves (compiled in memory, by this process, as they are used)."""
    import jinja2  # noqa: PLC0415 - lazy import, see above

    templates, compiled = templates_dir(), compiled_dir()
    if _installed_safely(compiled):
        try:
            recorded = (compiled / FINGERPRINT).read_text(encoding="ascii").strip()
        except (OSError, ValueError):
            recorded = ""
        if recorded and recorded == fingerprint(templates):
            return jinja2.ModuleLoader(str(compiled))
    return jinja2.FileSystemLoader(str(templates))


def _installed_safely(compiled: Path) -> bool:
    """The compiled set is a real directory that only its owner, root or this user, can
    change (as tap2pkg's own modules beside it)."""
    try:
        info = os.lstat(compiled)
    except OSError:
        return False
    return (stat.S_ISDIR(info.st_mode) and info.st_uid in (0, os.getuid())
            and not info.st_mode & 0o022)


@cache
def environment() -> jinja2.Environment:
    return _environment(_loader())


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)

"""Jinja2 rendering: one environment, templates compiled once, shell quoting on every value
that reaches a shell script."""

from __future__ import annotations

import os
import shlex
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # jinja2 is imported lazily: `tap2deb --help` must not pay for it
    import jinja2


def templates_dir() -> Path:
    """Inside the wheel templates/ sits in the package; in a source checkout, beside it."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"tap2pkg templates not found near {here}")


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


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates kept between runs (compiling ours costs ~0.1 s per run), in a
    directory only this user can write; none if it cannot be made."""
    import jinja2  # noqa: PLC0415 - lazy import, see above

    from tap2pkg import __version__  # noqa: PLC0415

    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    directory = base / "tap2pkg" / f"templates-{__version__}"
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = directory.stat()
        if info.st_uid != os.getuid() or info.st_mode & 0o022:
            return None
    except OSError:
        return None
    return jinja2.FileSystemBytecodeCache(str(directory))


@cache
def environment() -> jinja2.Environment:
    import jinja2  # noqa: PLC0415 - lazy import, see above

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        bytecode_cache=_bytecode_cache(),
        auto_reload=False,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # noqa: S701 - we render shell, control files and specs, not HTML
    )
    env.filters["sh"] = shell_quote
    env.filters["sq"] = single_quote
    env.filters["dq"] = double_quote
    env.filters["unit"] = unit_escape
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)

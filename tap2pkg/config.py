"""The build matrix's config file: tap2pkg.toml, or [tool.tap2pkg] in pyproject.toml.

    [defaults]                     # applies to every app
    maintainer = "Me <me@example.org>"
    formats = ["deb", "rpm"]
    targets = ["debian-12", "fedora"]

    [[app]]
    tapfile = "services/echo.tac"  # paths are relative to the config file
    set-version = "1.2"

The keys are the long options of tap2deb and tap2rpm without their dashes, derived from the
click commands themselves (keys()), so an option added there is a key here at once; plus
formats and targets.  Everything wrong in a file is reported at once, one line per problem
naming the file, the table and the key (ConfigError).  The file is untrusted: its size and
the number of jobs it makes are capped, and every value still goes through the same
validation as on the command line.
"""

from __future__ import annotations

import difflib
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import click

from tap2pkg.errors import UsageError
from tap2pkg.targets import TARGETS

CONFIG_NAME = "tap2pkg.toml"
PYPROJECT = "pyproject.toml"
FORMATS = ("deb", "rpm")
TOOLS = {"deb": "tap2deb", "rpm": "tap2rpm"}
MAX_BYTES = 1 << 20
MAX_JOBS = 1000
# Options that are about one run, not about a package: tap2pkg build has its own, or
# fixes them per job (the output directory is <output-dir>/<target>/<format>; the target
# comes from `targets`).
RUN_OPTIONS = {"quiet", "verbose", "as_json", "output_dir", "target", "version", "help"}
# String options whose values may be paths (a pip requirement or a project directory/wheel):
# those that look like paths are taken relative to the config file as well.
PATH_LIKE = {"bundle"}


class ConfigError(UsageError):
    """Problems in a config file, one line each (exit code 2)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Key:
    """One key of an app table: a tap2deb/tap2rpm option, or formats/targets."""

    name: str  # "set-version"
    kind: str  # "string", "integer", "boolean" or "array" (of strings or integers)
    formats: tuple[str, ...]  # the formats whose command takes it
    help: str
    option: str = ""  # "--set-version"; "" for formats and targets
    negative: str = ""  # a flag's "--no-..." spelling, if it has one
    path: bool = False  # a file path: relative to the config file
    path_like: bool = False  # some values are paths (those that look like one)
    choices: tuple[str, ...] = ()
    item_kind: str = "string"  # for arrays


def _kind(param_type: click.ParamType) -> str:  # type: ignore[type-arg]
    if isinstance(param_type, click.types.IntParamType):
        return "integer"
    return "string"


def _key_name(param: click.Option) -> str:
    longs = [opt for opt in param.opts if opt.startswith("--")]
    if not longs:
        return param.name or ""
    hyphenated = [opt for opt in longs if "_" not in opt]
    return (hyphenated or longs)[0][2:]


def keys(commands: dict[str, click.Command]) -> dict[str, Key]:
    """The keys an app table takes, from the options of the tap2deb/tap2rpm commands
    (format -> command); a shared key whose help differs gets both texts."""
    found: dict[str, Key] = {
        "tapfile": Key("tapfile", "string", FORMATS, "Application file.", "--tapfile",
                       path=True),
    }
    for fmt, command in commands.items():
        for param in command.params:
            if not isinstance(param, click.Option) or param.name in RUN_OPTIONS:
                continue
            name = _key_name(param)
            if name in found:
                old = found[name]
                if fmt not in old.formats:
                    text = (param.help or "").strip()
                    both = old.help if text == old.help or name == "tapfile" else (
                        f"{TOOLS[old.formats[0]]}: {old.help} {TOOLS[fmt]}: {text}")
                    found[name] = replace(old, formats=(*old.formats, fmt), help=both)
                continue
            longs = [opt for opt in param.opts if opt.startswith("--")]
            negative = next((o for o in param.secondary_opts if o.startswith("--")), "")
            choices = tuple(param.type.choices) if isinstance(param.type, click.Choice) else ()
            is_path = isinstance(param.type, click.Path)
            if param.is_flag and not param.count:
                kind, item = "boolean", "string"
            elif param.multiple:
                kind, item = "array", _kind(param.type)
            else:
                kind, item = _kind(param.type), "string"
            found[name] = Key(
                name=name, kind=kind, formats=(fmt,), help=(param.help or "").strip(),
                option=f"--{name}" if longs else param.opts[0], negative=negative,
                path=is_path, choices=tuple(str(c) for c in choices), item_kind=item,
                path_like=name in PATH_LIKE,
            )
    found["formats"] = Key("formats", "array", FORMATS, "Formats to build: deb, rpm "
                           "[default: both].", choices=FORMATS)
    found["targets"] = Key("targets", "array", FORMATS, "Releases to build for (tap2pkg "
                           "targets lists them); a format with none of its targets listed "
                           "builds for its default one.", choices=tuple(TARGETS))
    return found


# ---- reading a file ----


@dataclass(frozen=True)
class AppConfig:
    label: str  # "[[app]] #2 (services/echo.tac)", for messages
    name: str  # "services/echo.tac", as written, for progress lines
    values: dict[str, Any]  # defaults merged with the app's own table; paths absolute


@dataclass(frozen=True)
class Config:
    path: Path
    apps: tuple[AppConfig, ...]
    where: str = ""  # "" for tap2pkg.toml, "tool.tap2pkg." for pyproject.toml


def find(cwd: Path, given: Path | None) -> Path:
    """The config file: -c FILE, else ./tap2pkg.toml, else ./pyproject.toml if it has a
    [tool.tap2pkg] table."""
    if given is not None:
        return given
    if (cwd / CONFIG_NAME).is_file():
        return cwd / CONFIG_NAME
    pyproject = cwd / PYPROJECT
    if pyproject.is_file() and _tool_table(_parse(pyproject)) is not None:
        return pyproject
    raise UsageError(f"no {CONFIG_NAME} here and no [tool.tap2pkg] in {PYPROJECT}; "
                     "write one, or give -c FILE", "--config")


def _parse(path: Path) -> dict[str, Any]:
    import tomllib  # noqa: PLC0415 - only tap2pkg build reads TOML

    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}", "--config") from exc
    if len(data) > MAX_BYTES:
        raise ConfigError([f"{path}: larger than {MAX_BYTES} bytes"])
    try:
        return tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from exc


def _tool_table(document: dict[str, Any]) -> Any:
    tool = document.get("tool")
    return tool.get("tap2pkg") if isinstance(tool, dict) else None


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "an array", dict: "a table"}.get(type(value), type(value).__name__)


def _expected(key: Key) -> str:
    if key.kind == "array":
        inner = "strings" if key.item_kind == "string" else "integers"
        return f"an array of {inner}"
    return {"string": "a string", "integer": "an integer", "boolean": "true or false"}[key.kind]


def check_value(key: Key, value: Any) -> str | None:  # noqa: PLR0911 - one per problem
    """What is wrong with value for key, or None."""
    hint = " (write it in quotes)" if isinstance(value, int | float) and key.kind == "string" \
        and not isinstance(value, bool) else ""
    if key.kind == "array":
        items = value if isinstance(value, list) else None
        want = str if key.item_kind == "string" else int
        if items is None or not all(isinstance(v, want) and not isinstance(v, bool)
                                    for v in items):
            return f"expected {_expected(key)}, got {_type_name(value)}"
        bad = [v for v in items if key.choices and v not in key.choices]
        if bad:
            return f"{bad[0]!r} is not one of: {', '.join(key.choices)}"
        if len(set(items)) != len(items) and key.name in ("formats", "targets"):
            return "lists a value twice"
        if not items and key.name == "formats":
            return "lists no format: nothing would be built"
        return None
    want_type = {"string": str, "integer": int, "boolean": bool}[key.kind]
    if not isinstance(value, want_type) or (want_type is int and isinstance(value, bool)):
        return f"expected {_expected(key)}, got {_type_name(value)}{hint}"
    if key.choices and value not in key.choices:
        return f"{value!r} is not one of: {', '.join(key.choices)}"
    if isinstance(value, str) and key.path and not value:
        return "expected a path, got an empty string"
    return None


def _unknown(name: str, allowed: dict[str, Key]) -> str:
    close = difflib.get_close_matches(name, list(allowed), n=1)
    guess = f"did you mean {close[0]!r}? " if close else ""
    if name in ("target", "format"):
        guess = f"did you mean {name + 's'!r} (an array)? "
    elif name.replace("-", "_") in RUN_OPTIONS or name in ("json", "output-dir", "jobs"):
        guess = f"{name!r} is an option of tap2pkg build, not a config key; "
    return f"unknown key {name!r}; {guess}allowed: {', '.join(sorted(allowed))}"


def _check_table(table: dict[str, Any], allowed: dict[str, Key], where: str,
                 problems: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, value in table.items():
        key = allowed.get(name)
        if key is None:
            problems.append(f"{where}: {_unknown(name, allowed)}")
            continue
        wrong = check_value(key, value)
        if wrong is not None:
            problems.append(f"{where}.{name}: {wrong}")
            continue
        values[name] = value
    return values


def _looks_like_path(value: str) -> bool:
    return value.startswith((".", "/")) or ("/" in value and "://" not in value
                                            and "@" not in value)


def absolute(key: Key, value: Any, base: Path) -> Any:
    """value with its paths made absolute from base (the config file's directory, or the
    current directory for the command line)."""
    if isinstance(value, list):
        return [absolute(key, v, base) for v in value]
    if isinstance(value, str) and (key.path or (key.path_like and _looks_like_path(value))):
        return str(base / value)
    return value


def _shown(tapfile: Any) -> str:
    """An app's tapfile as it is printed: as written, or quoted if it holds terminal
    escapes or other unprintable characters."""
    if not isinstance(tapfile, str):
        return ""
    return tapfile if tapfile.isprintable() else repr(tapfile)


def load(path: Path, allowed: dict[str, Key]) -> Config:
    """Read and check a config file; every problem is reported at once (ConfigError)."""
    document = _parse(path)
    prefix = ""
    if path.name == PYPROJECT:
        table = _tool_table(document)
        if not isinstance(table, dict):
            raise ConfigError([f"{path}: no [tool.tap2pkg] table"])
        document, prefix = table, "tool.tap2pkg."
    base = path.resolve().parent
    problems: list[str] = []
    for name in document:
        if name not in ("defaults", "app"):
            problems.append(f"{path}: [{prefix}{name}]: unknown table; allowed: "
                            f"[{prefix}defaults], [[{prefix}app]]")
    defaults_table = document.get("defaults", {})
    apps_table = document.get("app", [])
    defaults: dict[str, Any] = {}
    if not isinstance(defaults_table, dict):
        problems.append(f"{path}: {prefix}defaults: expected a table, got "
                        f"{_type_name(defaults_table)}")
    else:
        where = f"{path}: [{prefix}defaults]"
        defaults = _check_table(defaults_table, allowed, where, problems)
        if "tapfile" in defaults:
            problems.append(f"{where}.tapfile: belongs in each [[{prefix}app]], not in "
                            "the defaults")
    apps: list[AppConfig] = []
    if not isinstance(apps_table, list) or not all(isinstance(a, dict) for a in apps_table):
        problems.append(f"{path}: {prefix}app: expected an array of tables "
                        f"([[{prefix}app]]), got {_type_name(apps_table)}")
        apps_table = []
    elif not apps_table:
        problems.append(f"{path}: no [[{prefix}app]] table: nothing to build")
    for number, table in enumerate(apps_table, 1):
        shown = _shown(table.get("tapfile"))
        label = f"[[{prefix}app]] #{number}" + (f" ({shown})" if shown else "")
        values = _check_table(table, allowed, f"{path}: {label}", problems)
        if "tapfile" not in table:
            problems.append(f"{path}: {label}: missing key 'tapfile' (the application file)")
        merged = {**defaults, **values}
        merged = {k: absolute(allowed[k], v, base) for k, v in merged.items()}
        apps.append(AppConfig(label, shown or label, merged))
    if problems:
        raise ConfigError(problems)
    return Config(path, tuple(apps), prefix)


# ---- the plan: config x formats x targets -> jobs ----


@dataclass(frozen=True)
class Job:
    """One package to build: tap2deb or tap2rpm with these arguments."""

    number: int  # 1-based, in plan order
    fmt: str
    target: str
    app: str  # the app's tapfile as written in the config
    tapfile: str  # absolute
    args: tuple[str, ...]  # the command's arguments (the output directory included)
    outdir: Path
    options: dict[str, Any] = field(default_factory=dict)  # the merged values, as given
    source: str = ""  # "<config file>: [[app]] #2 (services/echo.tac)": where it came from

    @property
    def tool(self) -> str:
        return TOOLS[self.fmt]

    def command_line(self) -> str:
        return shlex.join([self.tool, *self.args])


def _args(values: dict[str, Any], allowed: dict[str, Key], fmt: str) -> list[str]:
    args: list[str] = []
    for name, value in values.items():
        key = allowed[name]
        if not key.option or fmt not in key.formats:
            continue
        if key.kind == "boolean":
            if value:
                args.append(key.option)
            elif key.negative:
                args.append(key.negative)
        elif key.kind == "array":
            args += [f"{key.option}={item}" for item in value]
        else:
            args.append(f"{key.option}={value}")
    return args


def default_targets() -> dict[str, str]:
    from tap2pkg.targets import default_target  # noqa: PLC0415

    return {fmt: default_target(fmt).name for fmt in FORMATS}


def plan(config: Config, allowed: dict[str, Key], overrides: dict[str, Any],
         output_dir: Path) -> list[Job]:
    """Every job, app by app, format by format, target by target.  overrides (from the
    command line) win over the app's values, which win over [defaults]; targets given on
    the command line pick from the matrix (a format with none of them is left out), where
    in the file a format with none of its targets listed builds for its default one."""
    jobs: list[Job] = []
    fallback = default_targets()
    picked = "targets" in overrides
    for app in config.apps:
        values = {**app.values, **overrides}
        formats = values.pop("formats", list(FORMATS))
        targets = values.pop("targets", [])
        for fmt in formats:
            mine = [t for t in targets if TARGETS[t].family == fmt]
            if not mine and not picked:
                mine = [fallback[fmt]]
            for target in mine:
                outdir = output_dir / target / fmt
                args = [*_args(values, allowed, fmt), f"--target={target}",
                        f"--output-dir={outdir}", "--quiet"]
                jobs.append(Job(len(jobs) + 1, fmt, target, app.name,
                                str(values["tapfile"]), tuple(args), outdir, dict(values),
                                f"{config.path}: {app.label}"))
    if not jobs:
        raise ConfigError([f"{config.path}: no job left: none of the targets given "
                           f"({', '.join(overrides.get('targets', []))}) is one of the "
                           "formats built"])
    if len(jobs) > MAX_JOBS:
        raise ConfigError([f"{config.path}: makes {len(jobs)} jobs; at most {MAX_JOBS}"])
    return jobs


# ---- the JSON Schema (editors complete and check the file with it) ----


def _schema_of(key: Key) -> dict[str, Any]:
    item: dict[str, Any] = {"type": key.item_kind}
    out: dict[str, Any] = {"description": key.help}
    if key.kind == "array":
        if key.choices:
            item["enum"] = list(key.choices)
        out.update(type="array", items=item)
        if key.name in ("formats", "targets"):
            out["uniqueItems"] = True
        if key.name == "formats":
            out["minItems"] = 1
    else:
        out["type"] = key.kind
        if key.choices:
            out["enum"] = list(key.choices)
    if key.formats != FORMATS:
        out["description"] = f"({', '.join(key.formats)} only) {key.help}"
    return out


def json_schema(allowed: dict[str, Key]) -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) for tap2pkg.toml; [tool.tap2pkg] in pyproject.toml
    has the same shape."""
    properties = {name: _schema_of(key) for name, key in sorted(allowed.items())}
    defaults = {name: p for name, p in properties.items() if name != "tapfile"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "tap2pkg build configuration (tap2pkg.toml, or [tool.tap2pkg] in "
                 "pyproject.toml)",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "defaults": {"type": "object", "description": "Applies to every app.",
                         "additionalProperties": False, "properties": defaults},
            "app": {"type": "array", "minItems": 1, "description": "The apps to package.",
                    "items": {"type": "object", "additionalProperties": False,
                              "required": ["tapfile"], "properties": properties}},
        },
        "required": ["app"],
    }

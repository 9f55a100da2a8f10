"""Command line: tap2deb, tap2rpm and the tap2pkg group.

This is the one error boundary: library code raises tap2pkg.errors exceptions, and here
they become one line on stderr and an exit code (2: bad usage or input, 1: build failed).
Only click is imported at start-up; the pipeline is imported when a command runs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import click

from tap2pkg import __version__
from tap2pkg.errors import BuildError, Tap2pkgError

if TYPE_CHECKING:
    from tap2pkg.config import Job, Key
    from tap2pkg.model import AppInfo, Artifacts, PackageSpec
    from tap2pkg.payload import Payload

EXIT_HELP = """\b
Exit status: 0 built; 2 bad usage or bad input (one line on stderr says
what); 1 a build step failed (the command and the tail of its output are shown)."""

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class PrefixCommand(click.Command):
    """Accept unique prefixes of long options, as getopt (and so the original tools) did."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, self._expand(ctx, args))

    def _expand(self, ctx: click.Context, args: list[str]) -> list[str]:
        longs: dict[str, click.Option] = {}
        shorts: dict[str, click.Option] = {}
        for param in self.get_params(ctx):
            if isinstance(param, click.Option):
                for opt in [*param.opts, *param.secondary_opts]:
                    (longs if opt.startswith("--") else shorts)[opt] = param
        out: list[str] = []
        rest = list(args)
        while rest:
            arg = rest.pop(0)
            if arg == "--":
                out += [arg, *rest]
                break
            option: click.Option | None = None
            has_value = False
            if arg.startswith("--"):
                name, eq, value = arg.partition("=")
                option = longs.get(name) or self._unique_prefix(ctx, name, longs)
                if option is not None:
                    arg = option.opts[-1] + eq + value
                has_value = bool(eq)
            elif len(arg) == 2 and arg.startswith("-"):
                option = shorts.get(arg)
            out.append(arg)
            takes_value = option is not None and not (option.is_flag or option.count)
            if takes_value and not has_value and rest:
                out.append(rest.pop(0))  # the option's value, even if it starts with "-"
        return out

    @staticmethod
    def _unique_prefix(
        ctx: click.Context, name: str, longs: dict[str, click.Option]
    ) -> click.Option | None:
        found = {id(p): p for opt, p in longs.items() if opt.startswith(name)}
        if len(found) > 1:
            choices = sorted(opt for opt in longs if opt.startswith(name))
            raise click.UsageError(f"option {name} is ambiguous: {', '.join(choices)}", ctx)
        return next(iter(found.values()), None)


def _package_options(fmt: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The original tool's options (same names, letters and defaults), then modern ones."""
    deb = fmt == "deb"
    tool = "tap2deb" if deb else "tap2rpm"
    protocol_desc = (
        "A Twisted-based server for <protocol>" if deb else "A TCP server for <protocol>"
    )
    options = [
        click.argument("appfile", required=False, type=click.Path(path_type=Path)),
        click.option("-t", "--tapfile", type=click.Path(path_type=Path), default=None,
                     help="Application file (.tac, .py, .tap, .tas, .tax) [default: twistd.tap]"),
        click.option("-m", "--maintainer",
                     help=("Maintainer, 'Name <email>' (required)." if deb
                           else "Maintainer, 'Name <email>' [default: tap2rpm]")),
        click.option("-p", "--protocol",
                     help="Protocol name, used in the package name and description "
                          "[default: application file name without extension]"),
        click.option("-e", "--description", help=f"One-line summary [default: {protocol_desc}]"),
        click.option("-l", "--long_description", "--long-description", "long_description",
                     help=f"Long description; may span lines [default: Automatically "
                          f"created by {tool}]"),
        click.option("-V", "--set-version", "--set_version", "set_version", default="1.0",
                     show_default=True, help="Package version."),
        (click.option("-d", "--debfile", "package",
                      help="Package name [default: twisted-<protocol>]") if deb else
         click.option("-r", "--rpmfile", "package",
                      help="Package name [default: twisted-<protocol>]")),
        *([] if deb else [
            click.option("--release", help="RPM release number; the distribution tag "
                                           "(%{?dist}) is added to it [default: 1]")]),
        click.option("-y", "--type", "kind",
                     help="Application file type: python, tap, source or xml "
                          "[default: from the extension]"),
        click.option("--sign", metavar="KEYID",
                     help=("Clear-sign the .dsc with this gpg key (as debsign does)." if deb
                           else "Sign the .rpm and .src.rpm with this gpg key (rpmsign).")),
        click.option("-u", "--unsigned", is_flag=True,
                     help=("Do not sign (tap2deb never signs; accepted for compatibility)."
                           if deb else "Accepted for compatibility; does nothing.")),
        click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors."),
        click.option("-v", "--verbose", is_flag=True,
                     help="Show the commands run and their output."),
        click.option("-o", "--output-dir", "--output_dir", "output_dir",
                     type=click.Path(path_type=Path), default=Path(".build"), show_default=True,
                     help="Where the source package and packages are written."),
        click.option("--user", help="System user the service runs as "
                                    f"[default: {'_' if deb else ''}<package name>, created "
                                    "on install]"),
        click.option("--group", help="Its group [default: same as --user]"),
        click.option("--twistd", help="Path of twistd on the target [default: "
                                      f"{'/usr/bin/twistd3' if deb else '/usr/bin/twistd'}]"),
        click.option("--depends", multiple=True,
                     help="Extra dependency (repeatable, or comma-separated)."),
        click.option("--init", help="Init systems: systemd, sysv, or both comma-separated "
                                    f"[default: {'systemd,sysv' if deb else 'systemd'}]"),
        click.option("--target", help="Release to make the package for (tap2pkg targets "
                                      "lists them) [default: the build host's release when "
                                      "known, else the newest]"),
        click.option("--license", help="License of the application (SPDX expression)."),
        click.option("--url", help="Homepage of the application."),
        click.option("--include", "includes", multiple=True, type=click.Path(path_type=Path),
                     help="A file or directory of the application's own code or data, "
                          "shipped read-only and put on the service's sys.path "
                          "(repeatable)."),
        click.option("--bundle", "bundles", multiple=True, metavar="REQ",
                     help="A pip requirement, a wheel or a project directory (with a "
                          "pyproject.toml), installed with its dependencies into a private "
                          "tree built for the target's Python (repeatable)."),
        click.option("--requirements", "requirement_files", multiple=True,
                     type=click.Path(path_type=Path), metavar="FILE",
                     help="A pip requirements file to --bundle (repeatable)."),
        click.option("--find-links", "--find_links", "find_links", multiple=True,
                     type=click.Path(path_type=Path), metavar="DIR",
                     help="Also look for --bundle's wheels in this folder (repeatable)."),
        click.option("--no-index", "--no_index", "no_index", is_flag=True,
                     help="Take --bundle's wheels only from --find-links (offline)."),
        click.option("--python", "bundle_python", metavar="X.Y",
                     help="Python version --bundle is built for, e.g. an alternative "
                          "interpreter of the release such as RHEL 9's python3.11 "
                          "[default: the target's python3]"),
        click.option("--check", is_flag=True,
                     help="Also load the file with twistd's own loader (runs it, in a "
                          "subprocess), as the installed service will: empty working "
                          "directory, isolated interpreter, only the package's paths."),
        click.option("--force", is_flag=True,
                     help="Regenerate a source tree edited by hand (the old one is moved "
                          "aside to a .bak-<time> directory)."),
        click.option("--lint", is_flag=True,
                     help=("Run lintian on the .deb and .dsc" if deb else
                           "Run rpmlint on the .rpm and .src.rpm")
                     + "; any error or warning fails the build (exit 1)."),
        click.option("--json", "as_json", is_flag=True,
                     help="Print the results as JSON on stdout."),
    ]

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def _warn(tool: str, message: str, quiet: bool) -> None:
    if not quiet:
        from tap2pkg.validate import printable  # noqa: PLC0415

        # Warnings quote the app file: no terminal escapes, one line each.
        click.echo(f"{tool}: warning: {printable(message, keep=chr(92))}", err=True)


class JobResult(NamedTuple):
    """What one package build made: the spec it resolved, its artifacts, and whether the
    lint gate ran (and passed)."""

    spec: PackageSpec
    artifacts: Artifacts
    linted: bool


class LintError(BuildError):
    """--lint found problems in packages that were built (and are in place)."""

    def __init__(self, message: str, spec: PackageSpec, artifacts: Artifacts) -> None:
        self.spec = spec
        self.artifacts = artifacts
        super().__init__(message)


def package_job(fmt: str, params: dict[str, Any], warn: Callable[[str], None],
                guard: Callable[[PackageSpec], AbstractContextManager[object]] | None = None,
                ) -> JobResult:
    """Build one package from the parsed options of tap2deb/tap2rpm; prints nothing.

    Warnings go to warn as they arise (so they are not lost if a later step fails);
    guard, if given, is held around the build of the resolved package (tap2pkg build
    locks the package's outputs with it)."""
    from tap2pkg.appfile import load, parse_kind  # noqa: PLC0415 - keep start-up fast

    _check_options(fmt, params)
    appfile: Path | None = params["appfile"]
    tapfile = appfile or params["tapfile"] or Path("twistd.tap")
    kind = parse_kind(params["kind"]) if params["kind"] else None
    if params["unsigned"] and fmt == "rpm":
        warn("--unsigned does nothing: tap2rpm signs only when given --sign")

    app = load(tapfile, kind)
    for warning in app.warnings:
        warn(warning)
    payload = _gather(fmt, params)
    for warning in _missing(fmt, tapfile, app, payload, params):
        warn(warning)
    spec = _resolve(fmt, tapfile, app, params, payload)
    if fmt == "deb" and spec.init_systems == ("sysv",):
        warn("a .deb with an init script but no systemd unit draws a lintian warning "
             "(missing-systemd-service-for-init.d-script)")
    if params["check"]:
        _check(tapfile, app, spec)

    with guard(spec) if guard is not None else nullcontext():
        artifacts = _build(fmt, spec, params)
    if artifacts.backup is not None:
        warn(f"the edited source tree was moved to {artifacts.backup}")
    if params["lint"]:
        try:
            _lint(fmt, spec, artifacts, params["output_dir"], verbose=params["verbose"])
        except BuildError as exc:
            raise LintError(str(exc), spec, artifacts) from exc
    return JobResult(spec, artifacts, linted=params["lint"])


def _make_package(fmt: str, params: dict[str, Any]) -> None:
    tool = "tap2deb" if fmt == "deb" else "tap2rpm"
    quiet = params["quiet"]
    result = package_job(fmt, params, lambda message: _warn(tool, message, quiet))
    spec, artifacts = result.spec, result.artifacts
    if params["as_json"]:
        click.echo(json.dumps({
            "package": spec.name,
            "version": spec.version,
            "artifacts": [str(p) for p in artifacts.paths()],
            "backup": str(artifacts.backup) if artifacts.backup else None,
        }, indent=2))
    elif not quiet:
        for path in artifacts.paths():
            click.echo(str(path))


_OPTION_NAMES = {"appfile": "APPFILE", "package": "--debfile/--rpmfile", "kind": "--type",
                 "long_description": "--long_description", "set_version": "--set-version"}


def _check_options(fmt: str, params: dict[str, Any]) -> None:
    """What can be refused before anything is read."""
    from tap2pkg.errors import UsageError  # noqa: PLC0415
    from tap2pkg.validate import utf8  # noqa: PLC0415

    for name, value in params.items():  # non-UTF-8 bytes from argv: refuse them first
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, str | Path):
                utf8(str(item), _OPTION_NAMES.get(name, f"--{name.replace('_', '-')}"))
    if fmt == "deb" and params["maintainer"] is None:
        # As the original tap2deb's option parser did, before it read anything.
        raise UsageError("maintainer must be specified.", key="--maintainer")
    if params["appfile"] is not None and params["tapfile"] is not None:
        raise UsageError("give the application file once: as --tapfile or as an argument")
    if params["unsigned"] and params["sign"]:
        raise UsageError("--unsigned and --sign contradict each other")
    if params["sign"] is not None:
        from tap2pkg.signing import key_name  # noqa: PLC0415

        key_name(params["sign"])


def _gather(fmt: str, params: dict[str, Any]) -> Payload | None:
    """--include and --bundle: the code the package ships beside the application."""
    from tap2pkg.bundle import BundleRequest  # noqa: PLC0415
    from tap2pkg.payload import gather  # noqa: PLC0415
    from tap2pkg.spec import resolve_target  # noqa: PLC0415

    request = BundleRequest(
        requirements=tuple(params["bundles"]),
        requirement_files=tuple(params["requirement_files"]),
        find_links=tuple(params["find_links"]),
        no_index=params["no_index"],
    )
    if not request and (request.find_links or request.no_index):
        from tap2pkg.errors import UsageError  # noqa: PLC0415

        raise UsageError("only makes sense with --bundle or --requirements",
                         "--find-links" if request.find_links else "--no-index")
    target = resolve_target(params["target"], fmt)
    python = target.python
    if params["bundle_python"] is not None:
        import re  # noqa: PLC0415

        from tap2pkg.errors import UsageError  # noqa: PLC0415

        python = params["bundle_python"]
        if not re.fullmatch(r"3\.[0-9]{1,2}", python):
            raise UsageError(f"{python!r}: give a CPython 3 version as 3.Y, e.g. 3.11",
                             "--python")
        if not request:
            raise UsageError("only makes sense with --bundle or --requirements", "--python")
    return gather(tuple(params["includes"]), request, python, target.glibc,
                  verbose=params["verbose"])


def _missing(fmt: str, tapfile: Path, app: AppInfo, payload: Payload | None,
             params: dict[str, Any]) -> list[str]:
    """Warnings for the modules the application imports that the package lacks."""
    from tap2pkg import imports  # noqa: PLC0415
    from tap2pkg.model import AppKind  # noqa: PLC0415
    from tap2pkg.spec import resolve_target  # noqa: PLC0415

    found = app.imports
    if app.kind is AppKind.PYTHON:
        every, optional = imports.read_imports(app.content)  # optional: try/except ImportError
        found = tuple(m for m in found or every if m not in optional)
    depends = [part.strip() for item in params["depends"] for part in item.split(",")]
    # The application runs on the target's Python (a bundle's, when --python chose it).
    python = params["bundle_python"] or resolve_target(params["target"], fmt).python
    appdir = tapfile.resolve().parent
    found_here = imports.warnings(found, payload, depends, appdir=appdir, family=fmt,
                                  python=python)
    # The --include'd code's own imports (a bundle's were resolved by pip): one warning per
    # missing module, naming the first file that imports it.
    included, notes = imports.included_imports(payload)
    seen = set(imports.missing_modules(found, payload, depends, python=python))
    by_file: dict[str, list[str]] = {}
    for module, where in included.items():
        top = module.split(".", 1)[0]
        if top not in seen:
            seen.add(top)
            by_file.setdefault(where, []).append(top)
    for where, modules in by_file.items():
        found_here += imports.warnings(modules, payload, depends, appdir=appdir, family=fmt,
                                       python=python, subject=f"{where} (--include)")
    return found_here + notes


def _check(tapfile: Path, app: AppInfo, spec: PackageSpec) -> None:
    """--check: load with twistd's own loader what will be installed (for a converted
    .tax, the .tas it became), with only the paths the package sets."""
    import tempfile  # noqa: PLC0415

    from tap2pkg.appfile.check import bundle_python, check  # noqa: PLC0415
    from tap2pkg.model import AppKind  # noqa: PLC0415

    payload = spec.payload
    twistd = spec.target.twistd
    with tempfile.TemporaryDirectory(prefix="tap2pkg-check-") as tmp:
        staged = Path(tmp) / "payload"
        paths: list[Path] = []
        python = None
        if payload is not None:
            for item in payload.files:
                path = staged / item.path
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(item.data)
            paths = [staged / top for top in ("app", "bundle") if payload.has(top)]
            if payload.bundled:
                python = bundle_python(payload.python)
        no_site = payload is not None and payload.bundle_twisted
        if app.original is None:
            check(tapfile, app.kind, twistd, sys_path=paths, python=python, no_site=no_site)
            return
        converted = Path(tmp) / app.filename
        converted.write_bytes(app.content)
        check(converted, AppKind.SOURCE, twistd, sys_path=paths, python=python,
              no_site=no_site)


def _lint(fmt: str, spec: PackageSpec, artifacts: Artifacts, outdir: Path, *,
          verbose: bool) -> None:
    from tap2pkg import lintgate  # noqa: PLC0415

    files = [p for p in artifacts.paths() if p.is_file()]
    if fmt == "deb":
        changes = next(p for p in files if p.suffix == ".changes")
        lintgate.lint_deb(changes, files, outdir, verbose=verbose)
    else:
        spec_file = next(p for p in files if p.suffix == ".spec")
        config = spec_file.with_name(f"{spec.name}.rpmlint.toml")
        lintgate.lint_rpm(config, [p for p in files if p.suffix == ".rpm"], outdir,
                          verbose=verbose)


def _resolve(fmt: str, tapfile: Path, app: AppInfo, params: dict[str, Any],
             payload: Payload | None = None) -> PackageSpec:
    from tap2pkg.spec import Options, resolve  # noqa: PLC0415

    options = Options(
        tapfile=tapfile,
        maintainer=params["maintainer"],
        protocol=params["protocol"],
        description=params["description"],
        long_description=params["long_description"],
        version=params["set_version"],
        package=params["package"],
        user=params["user"],
        group=params["group"],
        twistd=params["twistd"],
        depends=tuple(params["depends"]),
        init=params["init"],
        license=params["license"],
        url=params["url"],
        target=params["target"],
        release=params.get("release"),
    )
    if fmt == "deb":
        from tap2pkg.backends import debian  # noqa: PLC0415

        return resolve(options, app, debian.CONVENTIONS, payload)
    from tap2pkg.backends import rpm  # noqa: PLC0415

    return resolve(options, app, rpm.CONVENTIONS, payload)


def _build(fmt: str, spec: PackageSpec, params: dict[str, Any]) -> Artifacts:
    if fmt == "deb":
        from tap2pkg.backends.debian.build import build  # noqa: PLC0415
    else:
        from tap2pkg.backends.rpm.build import build  # type: ignore[assignment] # noqa: PLC0415
    return build(spec, params["output_dir"], force=params["force"], verbose=params["verbose"],
                 sign=params["sign"])


def _command(fmt: str, name: str) -> click.Command:
    tool = "tap2deb" if fmt == "deb" else "tap2rpm"
    what = ("a Debian source package and a .deb" if fmt == "deb"
            else "a .spec, an .rpm and a .src.rpm")

    @click.command(name=name, cls=PrefixCommand, context_settings=CONTEXT,
                   epilog=EXIT_HELP,
                   help=f"Make {what} that install a Twisted application file (APPFILE, "
                        "or --tapfile) as a system service run by twistd.")
    @click.version_option(__version__, "--version", prog_name=tool,
                          message="%(prog)s (tap2pkg) %(version)s")
    @_package_options(fmt)
    def command(**params: Any) -> None:
        _make_package(fmt, params)

    return command


deb_command = _command("deb", "tap2deb")
rpm_command = _command("rpm", "tap2rpm")


@click.group(context_settings=CONTEXT, epilog=EXIT_HELP)
@click.version_option(__version__, "--version", prog_name="tap2pkg")
def tap2pkg_group() -> None:
    """Package Twisted application files as Debian and RPM system services."""


# The same command objects (click takes the subcommand's name from the key): building
# each command's ~30 options twice would cost every tap2deb start.
tap2pkg_group.add_command(deb_command, "deb")
tap2pkg_group.add_command(rpm_command, "rpm")
COMMANDS = {"deb": deb_command, "rpm": rpm_command}  # what tap2pkg build runs per job


# ---- tap2pkg build: a config file's apps x formats x targets in one process ----


class BuildCommand(click.Command):
    """tap2pkg build: its own options, then one per config key (derived from the tap2deb
    and tap2rpm options when first needed) that overrides that key for every app."""

    OWN = frozenset({"config", "output-dir", "jobs", "dry-run", "json", "quiet", "format",
                     "target", "schema", "tapfile", "formats", "targets"})

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        if not any(p.name and p.name.startswith("set__") for p in self.params):
            self.params += [
                _override_option(key) for key in _config_keys().values()
                if key.name not in self.OWN
            ]
        return super().get_params(ctx)


def _config_keys() -> dict[str, Key]:
    from tap2pkg import config  # noqa: PLC0415

    return config.keys(COMMANDS)


def _override_name(key: Key) -> str:
    return "set__" + key.name.replace("-", "_")


def _override_option(key: Key) -> click.Option:
    name = _override_name(key)
    only = "" if len(key.formats) == 2 else f" ({key.formats[0]} only)"
    help_text = f"Set {key.name!r} for every app{only}."
    if key.kind == "boolean":
        decls = [f"--{key.name}/{key.negative}" if key.negative else f"--{key.name}", name]
        return click.Option(decls, is_flag=True, default=None, help=help_text)
    return click.Option([f"--{key.name}", name], multiple=key.kind == "array",
                        type=int if "integer" in (key.kind, key.item_kind) else str,
                        help=help_text)


def _overrides(ctx: click.Context, params: dict[str, Any], keys: dict[str, Key]
               ) -> dict[str, Any]:
    """The config keys given on the command line (paths relative to the current directory)."""
    from click.core import ParameterSource  # noqa: PLC0415

    from tap2pkg import config  # noqa: PLC0415

    by_param = {_override_name(key): key for key in keys.values()}
    out: dict[str, Any] = {}
    for pname, value in params.items():
        key = by_param.get(pname)
        if key is None or ctx.get_parameter_source(pname) != ParameterSource.COMMANDLINE:
            continue
        value = list(value) if key.kind == "array" else value  # noqa: PLW2901
        out[key.name] = config.absolute(key, value, Path.cwd())
    return out


@tap2pkg_group.command(cls=BuildCommand, context_settings=CONTEXT, epilog="""\b
Exit status: 0 every package built; 2 the config file or an option is wrong (one line per
problem), or an application file is; 1 a build step failed. Every job is built and
reported either way.""")
@click.option("-c", "--config", "config_file", type=click.Path(path_type=Path),
              help="Config file [default: ./tap2pkg.toml, else [tool.tap2pkg] in "
                   "./pyproject.toml]")
@click.option("-o", "--output-dir", type=click.Path(path_type=Path), default=Path(".build"),
              show_default=True, help="Outputs go to DIR/<target>/<format>/.")
@click.option("-j", "--jobs", type=click.IntRange(1, 256), default=None,
              help="Packages built at once [default: the CPU count]")
@click.option("--format", "formats", multiple=True, type=click.Choice(["deb", "rpm"]),
              help="Build only this format (repeatable) [default: the config's formats]")
@click.option("--target", "targets", multiple=True,
              help="Build only for this release (repeatable) [default: the config's targets]")
@click.option("--dry-run", is_flag=True, help="Print the plan (one command per job); build "
                                             "nothing.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON report on stdout (progress goes to stderr).")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but failures.")
@click.option("--schema", is_flag=True, help="Print the config file's JSON Schema and exit.")
@click.pass_context
def build(ctx: click.Context, /, *, config_file: Path | None, output_dir: Path, jobs: int | None,
          formats: tuple[str, ...], targets: tuple[str, ...], dry_run: bool, as_json: bool,
          quiet: bool, schema: bool, **params: Any) -> None:
    """Build every app of a config file (tap2pkg.toml) for every format and target it
    lists, in one process, JOBS at a time. Options named like config keys override them
    for every app."""
    import os  # noqa: PLC0415

    from tap2pkg import config  # noqa: PLC0415

    keys = _config_keys()
    if schema:
        click.echo(json.dumps(config.json_schema(keys), indent=2))
        return
    overrides = _overrides(ctx, params, keys)
    for name, values in (("formats", formats), ("targets", targets)):
        if values:
            problem = config.check_value(keys[name], list(values))
            if problem:
                raise click.BadParameter(problem, param_hint=f"--{name[:-1]}")
            overrides[name] = list(values)
    try:
        path = config.find(Path.cwd(), config_file)
        plan = config.plan(config.load(path, keys), keys, overrides, output_dir)
        parsed = _parse_jobs(plan)
    except config.ConfigError as exc:
        for line in exc.problems:
            click.echo(f"tap2pkg: error: {line}", err=True)
        raise click.exceptions.Exit(2) from exc
    if dry_run:
        _show_plan(plan, as_json)
        return
    workers = jobs or len(os.sched_getaffinity(0)) or 1
    code = _run_plan(plan, workers, output_dir, path, parsed, as_json=as_json, quiet=quiet)
    if code:
        raise click.exceptions.Exit(code)


def _parse_jobs(plan: list[Job]) -> dict[int, dict[str, Any]]:
    """Let each command parse its job's arguments now, so that an option value click
    refuses is reported with the others before anything is built.  Returns each job's
    parameters (by job number), which the jobs then use as they are."""
    from tap2pkg.config import ConfigError  # noqa: PLC0415

    problems = []
    parsed: dict[int, dict[str, Any]] = {}
    for job in plan:
        try:
            parsed[job.number] = COMMANDS[job.fmt].make_context(job.tool, list(job.args)).params
        except click.ClickException as exc:
            problems.append(f"{job.app}: {job.tool}: {exc.format_message()}")
    if problems:
        raise ConfigError(list(dict.fromkeys(problems)))
    return parsed


def _show_plan(plan: list[Job], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps([{
            "job": job.number, "app": job.app, "format": job.fmt, "target": job.target,
            "output_dir": str(job.outdir), "command": [job.tool, *job.args],
        } for job in plan], indent=2))
        return
    for job in plan:
        click.echo(f"[{job.number}] {job.target}/{job.fmt} {job.app}\n"
                   f"    {job.command_line()}")


def _run_plan(plan: list[Job], workers: int, output_dir: Path, path: Path,
              parsed: dict[int, dict[str, Any]], *, as_json: bool, quiet: bool) -> int:
    """Run the plan, showing a line per finished job; returns the exit code."""
    import os  # noqa: PLC0415
    import time  # noqa: PLC0415

    from tap2pkg import matrix  # noqa: PLC0415

    stream = sys.stderr if as_json else sys.stdout
    live = stream.isatty() and not os.environ.get("CI")
    finished = 0

    def done(report: matrix.JobReport) -> None:
        nonlocal finished
        finished += 1
        job = report.job
        where = f"[{finished}/{len(plan)}] {job.target}/{job.fmt}"
        if live:
            click.echo("\r\x1b[K", nl=False, file=stream)
        if report.ok and not quiet:
            made = f"{report.package} {report.version}"
            click.echo(f"ok   {where} {job.app}: {made} ({report.seconds:.2f} s)", file=stream)
        elif not report.ok:
            first = (report.error or "").splitlines()[0:1]
            click.echo(f"FAIL {where} {job.app}: {''.join(first)}", file=stream)
        if not quiet:
            for warning in report.warnings:
                click.echo(f"     warning: {warning}", file=stream)
        if live and finished < len(plan):
            click.echo(f"building: {finished}/{len(plan)} done, -j {workers}", nl=False,
                       file=stream)

    if live:
        click.echo(f"building: 0/{len(plan)} done, -j {workers}", nl=False, file=stream)
    start = time.perf_counter()
    reports = matrix.run(plan, workers, output_dir, done, parsed)
    seconds = time.perf_counter() - start
    memory = matrix.peak_memory_kib()
    failed = [r for r in reports if not r.ok]
    if as_json:
        click.echo(json.dumps({
            "ok": not failed,
            "config": str(path),
            "output_dir": str(output_dir),
            "workers": workers,
            "seconds": round(seconds, 3),
            "peak_rss_kib": memory,
            "jobs": [r.to_json() for r in reports],
        }, indent=2))
    for report in failed:
        job = report.job
        click.echo(f"tap2pkg: error: job {job.number} ({job.target}/{job.fmt} {job.app}): "
                   f"{report.error}", err=True)
    if not quiet or failed:
        click.echo(f"built {len(reports) - len(failed)} of {len(reports)} packages in "
                   f"{seconds:.2f} s (-j {workers}); peak memory {memory['self'] // 1024} MiB "
                   f"(largest child {memory['children'] // 1024} MiB)", file=stream)
    return max((r.exit_code for r in failed), default=0)


@tap2pkg_group.command(context_settings=CONTEXT)
@click.argument("target", metavar="APPFILE|PACKAGE", type=click.Path(path_type=Path))
@click.option("-y", "--type", "kind", help="python, tap, source or xml [default: from extension]")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def inspect(target: Path, kind: str | None, as_json: bool) -> None:
    """Show what tap2pkg reads from an application file, or from a built .deb or .rpm (its
    fields, conffiles, files with modes and owners, scripts, and the application inside).
    Nothing is run."""
    if target.suffix in (".deb", ".rpm"):
        from tap2pkg.errors import UsageError  # noqa: PLC0415
        from tap2pkg.readback import read_package  # noqa: PLC0415

        try:
            fields: dict[str, Any] = read_package(target)
        except UsageError:
            raise
        except Tap2pkgError as exc:  # missing, unreadable or not a package: bad input
            raise UsageError(str(exc)) from None
    else:
        from tap2pkg.appfile import load, parse_kind  # noqa: PLC0415
        from tap2pkg.readback import app_report, shown_report  # noqa: PLC0415

        info = load(target, parse_kind(kind) if kind else None)
        fields = shown_report({"file": str(target), **app_report(info)})
    if as_json:
        click.echo(json.dumps(fields, indent=2))
        return
    for key, value in fields.items():
        click.echo(f"{key + ':':<15}{_shown(value)}")


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return ", ".join(f"{k}={_shown(v)}" for k, v in value.items())
    if isinstance(value, list):
        if value and isinstance(value[0], dict):
            return "".join("\n  " + " ".join(str(v) for v in item.values()) for item in value)
        return ", ".join(str(v) for v in value)
    return str(value)


@tap2pkg_group.command(context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def targets(as_json: bool) -> None:
    """List the releases packages can be made for (--target), and what was verified of
    each here."""
    from dataclasses import asdict  # noqa: PLC0415

    from tap2pkg.targets import TARGETS, default_target  # noqa: PLC0415

    defaults = {default_target(family).name for family in ("deb", "rpm")}
    if as_json:
        click.echo(json.dumps([{**asdict(t), "default": t.name in defaults}
                               for t in TARGETS.values()], indent=2))
        return
    click.echo(f"  {'target':<20} {'kind':<4} {'python':<6} {'twisted':<7} {'users':<8} "
               f"{'lint':<14} verified")
    for t in TARGETS.values():
        mark = "*" if t.name in defaults else " "
        click.echo(f"{mark} {t.name:<20} {t.family:<4} {t.python:<6} {t.twisted_version:<7} "
                   f"{t.user_creation:<8} {t.lint:<14} {t.verified}")
    click.echo("* the default for its kind on this machine (--target overrides)")


@tap2pkg_group.command(context_settings=CONTEXT)
@click.argument("appfile", type=click.Path(path_type=Path))
@click.option("-o", "--output", "out", type=click.Path(path_type=Path, allow_dash=True),
              help="Where to write the AOT source; - for stdout [default: APPFILE with "
                   "the extension .tas, beside it]")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@click.option("--force", is_flag=True, help="Replace the output file if it exists.")
def convert(appfile: Path, out: Path | None, quiet: bool, force: bool) -> None:
    """Convert an XML application file (.tax, Twisted's marmalade, which twistd has not
    read since Twisted 9.0) into AOT source (.tas), which current twistd runs with
    --source.  Nothing in the file is imported or run."""
    from tap2pkg.appfile import load  # noqa: PLC0415
    from tap2pkg.appfile.xml import write_converted  # noqa: PLC0415
    from tap2pkg.errors import UsageError  # noqa: PLC0415
    from tap2pkg.model import AppKind  # noqa: PLC0415

    info = load(appfile, AppKind.XML)  # always XML: that is what gets converted
    for warning in info.warnings:
        _warn("tap2pkg", warning, quiet)
    if out is not None and str(out) == "-":
        click.echo(info.content.decode("ascii"), nl=False)
        return
    target = out if out is not None else appfile.with_name(info.filename)
    if target.resolve() == appfile.resolve():
        raise UsageError(f"{target} is the application file itself", key="--output")
    if (target.exists() or target.is_symlink()) and not force:
        raise UsageError(f"{target} exists; pass --force to replace it", key="--output")
    write_converted(info, target)
    if not quiet:
        click.echo(str(target))


def _wants_json(args: list[str]) -> bool:
    """--json among the options (or a prefix of it, as PrefixCommand accepts)."""
    options = args[: args.index("--")] if "--" in args else args
    return any(len(a) >= 3 and "--json".startswith(a) for a in options)


def _click_key(exc: click.ClickException) -> str | None:
    param = getattr(exc, "param", None)
    if isinstance(param, click.Option):
        return param.opts[-1] if param.opts[-1].startswith("--") else param.opts[0]
    if isinstance(param, click.Parameter):
        return (param.human_readable_name or "").upper() or None
    option = getattr(exc, "option_name", None)
    return option if isinstance(option, str) else None


def _main(command: click.Command, prog: str, argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = _wants_json(args)
    try:
        # Without standalone mode, click returns the code of an Exit raised by a command.
        result = command.main(args=args, prog_name=prog, standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except KeyboardInterrupt:
        return 130
    except (click.ClickException, click.exceptions.Abort, Tap2pkgError, OSError,
            MemoryError) as exc:
        from tap2pkg.errors import BuildError, CheckError  # noqa: PLC0415
        from tap2pkg.validate import printable  # noqa: PLC0415

        message, code = _failure(exc)
        # File names and values in messages come from elsewhere: no terminal escapes, and
        # one line, except a failed tool's or twistd's output tail.
        keep = "\\\n" if isinstance(exc, BuildError | CheckError) else "\\"
        shown = printable(message, keep)
        click.echo(f"{prog}: {shown}", err=True)
        if as_json:  # --json: the error as a JSON object on stdout too
            click.echo(json.dumps({"error": shown.removeprefix("error: "), "exit": code,
                                   "key": _error_key(exc)}, indent=2))
        return code
    return result if isinstance(result, int) else 0


def _error_key(exc: BaseException) -> str | None:
    """The option or argument an error is about, for --json."""
    if isinstance(exc, click.ClickException):
        return _click_key(exc)
    key = getattr(exc, "key", None)
    return key if isinstance(key, str) else None


def _failure(exc: BaseException) -> tuple[str, int]:
    """The one line and the exit code for what stopped a command."""
    if isinstance(exc, click.ClickException):
        return f"error: {exc.format_message()}", 2
    if isinstance(exc, click.exceptions.Abort):
        return "aborted", 1
    if isinstance(exc, Tap2pkgError):
        return f"error: {exc}", exc.exit_code
    if isinstance(exc, OSError):  # a full disk, a vanished directory: no step said more
        where = f"{exc.filename}: " if exc.filename else ""
        return f"error: {where}{exc.strerror or exc}", 1
    return "error: out of memory", 1


def tap2deb_main(argv: Sequence[str] | None = None) -> int:
    return _main(deb_command, "tap2deb", argv)


def tap2rpm_main(argv: Sequence[str] | None = None) -> int:
    return _main(rpm_command, "tap2rpm", argv)


def tap2pkg_main(argv: Sequence[str] | None = None) -> int:
    return _main(tap2pkg_group, "tap2pkg", argv)

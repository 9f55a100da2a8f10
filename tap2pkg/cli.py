"""Command line: tap2deb, tap2rpm and the tap2pkg group.

This is the one error boundary: library code raises tap2pkg.errors exceptions, and here
they become one line on stderr and an exit code (2: bad usage or input, 1: build failed).
Only click is imported at start-up; the pipeline is imported when a command runs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tap2pkg import __version__
from tap2pkg.errors import Tap2pkgError

if TYPE_CHECKING:
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


def _make_package(fmt: str, params: dict[str, Any]) -> None:
    from tap2pkg.appfile import load, parse_kind  # noqa: PLC0415 - keep start-up fast

    tool = "tap2deb" if fmt == "deb" else "tap2rpm"
    quiet = params["quiet"]
    _check_options(fmt, params)
    appfile: Path | None = params["appfile"]
    tapfile = appfile or params["tapfile"] or Path("twistd.tap")
    kind = parse_kind(params["kind"]) if params["kind"] else None
    if params["unsigned"] and fmt == "rpm":
        _warn(tool, "--unsigned does nothing: tap2rpm signs only when given --sign", quiet)

    app = load(tapfile, kind)
    for warning in app.warnings:
        _warn(tool, warning, quiet)
    payload = _gather(fmt, params)
    for warning in _missing(fmt, tapfile, app, payload, params):
        _warn(tool, warning, quiet)
    spec = _resolve(fmt, tapfile, app, params, payload)
    if fmt == "deb" and spec.init_systems == ("sysv",):
        _warn(tool, "a .deb with an init script but no systemd unit draws a lintian warning "
                    "(missing-systemd-service-for-init.d-script)", quiet)
    if params["check"]:
        _check(tapfile, app, spec)

    artifacts = _build(fmt, spec, params)
    if params["lint"]:
        _lint(fmt, spec, artifacts, verbose=params["verbose"])
    if artifacts.backup is not None:
        _warn(tool, f"the edited source tree was moved to {artifacts.backup}", quiet)
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
        raise UsageError("maintainer must be specified.")
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

    found = app.imports
    if not found and app.kind is AppKind.PYTHON:
        found = imports.python_imports(app.content)
    depends = [part.strip() for item in params["depends"] for part in item.split(",")]
    return imports.warnings(found, payload, depends, appdir=tapfile.resolve().parent,
                            family=fmt)


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


def _lint(fmt: str, spec: PackageSpec, artifacts: Artifacts, *, verbose: bool) -> None:
    from tap2pkg import lintgate  # noqa: PLC0415

    paths = artifacts.paths()
    if fmt == "deb":
        debs = [p for p in paths if p.suffix == ".deb"]
        dscs = [p for p in paths if p.suffix == ".dsc"]
        lintgate.lint_deb(debs[0], dscs[0], verbose=verbose)
    else:
        spec_file = next(p for p in paths if p.suffix == ".spec")
        config = spec_file.with_name(f"{spec.name}.rpmlint.toml")
        lintgate.lint_rpm(config, [p for p in paths if p.suffix == ".rpm"], verbose=verbose)


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


tap2pkg_group.add_command(_command("deb", "deb"))
tap2pkg_group.add_command(_command("rpm", "rpm"))


@tap2pkg_group.command(context_settings=CONTEXT)
@click.argument("target", metavar="APPFILE|PACKAGE", type=click.Path(path_type=Path))
@click.option("-y", "--type", "kind", help="python, tap, source or xml [default: from extension]")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def inspect(target: Path, kind: str | None, as_json: bool) -> None:
    """Show what tap2pkg reads from an application file, or from a built .deb or .rpm (its
    fields, conffiles, files with modes and owners, scripts, and the application inside).
    Nothing is run."""
    if target.suffix in (".deb", ".rpm"):
        from tap2pkg.readback import read_package  # noqa: PLC0415

        fields: dict[str, Any] = read_package(target)
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
        click.echo(json.dumps([asdict(t) for t in TARGETS.values()], indent=2))
        return
    for t in TARGETS.values():
        mark = "*" if t.name in defaults else " "
        click.echo(f"{mark} {t.name:<20} {t.family:<4} python {t.python:<5} "
                   f"twisted {t.twisted_version:<6} {t.verified}")


@tap2pkg_group.command(context_settings=CONTEXT)
@click.argument("appfile", type=click.Path(path_type=Path))
@click.option("-o", "--output", "out", type=click.Path(path_type=Path, allow_dash=True),
              help="Where to write the AOT source; - for stdout [default: APPFILE with "
                   "the extension .tas, beside it]")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
def convert(appfile: Path, out: Path | None, quiet: bool) -> None:
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
    write_converted(info, target)
    if not quiet:
        click.echo(str(target))


def _main(command: click.Command, prog: str, argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        command.main(args=args, prog_name=prog, standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except KeyboardInterrupt:
        return 130
    except (click.ClickException, click.exceptions.Abort, Tap2pkgError, OSError,
            MemoryError) as exc:
        from tap2pkg.errors import BuildError  # noqa: PLC0415
        from tap2pkg.validate import printable  # noqa: PLC0415

        message, code = _failure(exc)
        # File names and values in messages come from elsewhere: no terminal escapes, and
        # one line, except a failed tool's output tail.
        keep = "\\\n" if isinstance(exc, BuildError) else "\\"
        click.echo(f"{prog}: {printable(message, keep)}", err=True)
        return code
    return 0


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

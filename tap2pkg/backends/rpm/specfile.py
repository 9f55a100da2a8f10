"""The .spec itself: one spec per target, with conditionals only where one target's
build hosts really differ (rpm versions, distributions, the systemd macros)."""

from __future__ import annotations

from tap2pkg.backends.rpm import files, preamble, scriptlets
from tap2pkg.model import AppKind, PackageSpec
from tap2pkg.payload import needs_distribution_twisted, rpm_requires
from tap2pkg.render import render

BUILDHOST = "tap2pkg"  # a fixed build host keeps the header reproducible
# SPDX's form for a license that is not on its list; stands in until --license is given.
UNSPECIFIED_LICENSE = "LicenseRef-Unspecified"


def text_fields(spec: PackageSpec) -> dict[str, str | None]:
    """User text as it goes into the spec: '%' escaped, refused where rpm would misread it."""
    return {
        "summary": preamble.escape(spec.summary),
        "license": preamble.escape(
            preamble.spdx_expression(spec.license) if spec.license else UNSPECIFIED_LICENSE
        ),
        "url": preamble.escape(spec.url) if spec.url else None,
        "maintainer": preamble.escape(spec.maintainer),
        "packager": preamble.packager(spec.maintainer),
        "description": preamble.description(spec.long_description),
        "changelog_date": preamble.changelog_date(spec.timestamp),
    }


def requires(spec: PackageSpec) -> dict[str | None, list[str]]:
    """Requires lines of each package (None: the main one)."""
    found = scriptlets.requires(spec)
    base = [spec.target.twisted_depends] if needs_distribution_twisted(spec.payload) else []
    runtime = [f"Requires:       {dep}"
               for dep in (*base, *rpm_requires(spec.payload), *spec.depends)]
    found[None] = runtime + found[None]
    return found


def check_lines(spec: PackageSpec) -> list[str]:
    """%check: what can be verified without a network or a running system.  The
    application file must parse as what twistd loads (Python source is parsed, a pickle's
    opcodes are read; nothing in it is run), and the shell scripts must parse.  The unit
    is not given to systemd-analyze verify: it checks that ExecStart's programs exist,
    and they are installed only on the target."""
    app = spec.app_filename
    if spec.app.kind is AppKind.TAP:
        lines = [f"python3 -m pickletools {app} >/dev/null"]
    else:  # Python, or AOT source (a .tax is converted to .tas)
        lines = ["python3 -c 'import ast, sys; ast.parse(open(sys.argv[1], \"rb\").read(), "
                 f"sys.argv[1])' {app}"]
    lines.append("sh -n ./%{name}.ready")
    if spec.systemd:
        lines += [
            # The programs the unit runs (twistd, the package's own launcher and
            # readiness check) are not installed on the build host: only that
            # complaint is let through.
            "if command -v systemd-analyze >/dev/null 2>&1; then",
            "    if ! out=$(systemd-analyze verify --man=no ./%{name}.service 2>&1); then",
            "        if printf '%%s\\n' \"$out\" | grep -v ': Command /.* is not executable: "
            "No such file or directory$' | grep .; then exit 1; fi",
            "    fi",
            "fi",
        ]
    if spec.sysv:
        lines.append("sh -n ./%{name}.init")
    return lines


def byte_compile(spec: PackageSpec) -> tuple[str, str] | None:
    """The payload's private tree and the interpreter its byte code is for (the bundle's
    Python, else the distribution's python3), for %py_byte_compile; None without one."""
    if spec.payload is None:
        return None
    root = "%{_prefix}/lib/%{name}" if spec.payload.arch_dependent else "%{_datadir}/%{name}"
    python = f"%{{_bindir}}/python{spec.payload.python}" if spec.payload.python else "%{python3}"
    return python, root


def render_spec(spec: PackageSpec) -> str:
    entries = files.entries(spec)
    sub = files.sysv_subpackage(spec)
    packages: list[str | None] = [None] if sub is None else [None, sub]
    epoch, version = preamble.epoch_version(spec.version)
    return render(
        "rpm/spec.j2",
        spec=spec,
        target=spec.target,
        epoch=epoch,
        version=version,
        evr=f"{epoch + ':' if epoch else ''}{version}-{spec.release}",
        text=text_fields(spec),
        buildhost=BUILDHOST,
        noarch=spec.payload is None or not spec.payload.arch_dependent,
        requires=requires(spec),
        subpackage=sub,
        check=check_lines(spec),
        install=files.install_lines(entries),
        byte_compile=byte_compile(spec),
        scriptlets=scriptlets.sections(spec),
        files=[
            ("%files" if package is None else f"%files {package}",
             files.files_lines(entries, package))
            for package in packages
        ],
    )

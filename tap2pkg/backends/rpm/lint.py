"""The rpmlint settings kept beside the spec (rpmlint -c <name>.rpmlint.toml): every
setting and filter carries the reason it is there."""

from __future__ import annotations

import re
import textwrap

from tap2pkg.backends.rpm.files import SUBPACKAGE_SYSV
from tap2pkg.model import PackageSpec
from tap2pkg.render import render

# rpmlint 2.4's defaults, extended: systemd units and sysusers.d files live under
# /usr/lib whatever the architecture.
USR_LIB_EXCEPTIONS = (
    r"^/usr/lib(64)?/(perl|python|ruby|menu|pkgconfig|ocaml|lib[^/]+\.(so|l?a)$|"
    r"bonobo/servers/|\.build-id|firmware|systemd/|sysusers\.d/)"
)
LIB_PATH_EXCEPTIONS = r"/lib/(modules|cpp|perl5|rpm|hotplug|firmware|systemd|sysusers\.d)($|[\s/,])"

Setting = tuple[list[str], str, str]  # reason lines, key, TOML value


def _reason(text: str) -> list[str]:
    return textwrap.wrap(text, 84)


def _toml(value: str | list[str]) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if "'" in value or "\n" in value:
        raise ValueError(f"cannot write {value!r} as a TOML literal string")
    return f"'{value}'"


def settings(spec: PackageSpec) -> list[Setting]:
    return [
        (
            _reason(f"The service runs as {spec.user}:{spec.group}, which the package "
                    "itself creates (rpm 4.19 and later from its sysusers.d file, older "
                    "rpm in %pre)."),
            "StandardUsers",
            _toml([spec.user]),
        ),
        ([], "StandardGroups", _toml([spec.group])),
        (
            _reason("The systemd unit and the sysusers.d file of a noarch package belong "
                    "under /usr/lib on every architecture (rpmlint's default list, with "
                    "those two added)."),
            "UsrLibBinaryException",
            _toml(USR_LIB_EXCEPTIONS),
        ),
        (
            _reason("The spec names /usr/lib/sysusers.d for build hosts whose rpm lacks the "
                    "systemd macros; it is the same on every architecture (rpmlint's "
                    "default list, with sysusers.d added; Fedora's profile filters "
                    "hardcoded-library-path altogether)."),
            "HardcodedLibPathExceptions",
            _toml(LIB_PATH_EXCEPTIONS),
        ),
    ]


def filters(spec: PackageSpec) -> list[tuple[list[str], str]]:
    """(reason lines, regular expression matched against rpmlint's output lines)."""
    own = re.escape(spec.name)
    # noarch, or the build host's architecture when a bundle holds compiled files.
    package = rf"^{own}(-{SUBPACKAGE_SYSV})?\.[a-z0-9_]+"
    specfile = rf"^{own}\.spec(:[0-9]+)?"
    found = [
        (
            "Without a distribution profile rpmlint knows no licenses at all (its "
            "ValidLicenses list is empty) and reports every License value.",
            rf"{package}: W: invalid-license ",
        ),
        (
            "Source0 is made by tap2rpm from the application file: it has no download URL.",
            rf"{specfile}: W: invalid-url Source0: ",
        ),
        (
            "rpm 4.6 and later ignore BuildRoot, and Fedora's guidelines say not to set "
            "it (Fedora's rpmlint profile filters this too).",
            rf"{specfile}: W: no-buildroot-tag$",
        ),
        (
            "Group: is deprecated and left out, as Fedora's packaging guidelines ask "
            "(without a distribution profile rpmlint 2.4 still asks for it).",
            rf"{package}: E: no-group-tag$",
        ),
    ]
    found += _name_filters(spec, package)
    names = sorted({*re.findall(r"[A-Za-z]+", f"{spec.app_filename} {spec.protocol}"),
                    "systemd", "twistd"})
    found.append((
        "rpmlint 2.7 spell-checks descriptions (with a dictionary installed): the "
        "application file's and the protocol's names, and systemd's and twistd's, are "
        "names, not misspelt words.",
        rf"{package}: E: spelling-error \(.(?:{'|'.join(map(re.escape, names))}).,",
    ))
    if spec.app.content.startswith(b"#!"):
        found.append((
            f"{spec.app_filename} is configuration that twistd reads (it is not run as a "
            "program): its '#!' line is no reason to make it executable.",
            rf"{package}: E: non-executable-script /etc/{own}/{re.escape(spec.app_filename)} ",
        ))
    if spec.sysv:
        found += [
            ("twistd writes the pidfile and the log at run time; %post must not create "
             "them empty.  They are %ghost so that erase removes them (Fedora's rpmlint "
             "profile filters this too).",
             rf"{package}: W: postin-without-ghost-file-creation "),
            ("Fedora's guidelines: an init script is not a %config file (the admin's "
             "settings live in /etc/sysconfig); rpmlint 2.7 asks otherwise.",
             rf"{package}: W: non-conffile-in-etc /etc/rc\.d/init\.d/{own}$"),
            ("twistd rotates its own log file (every megabyte); logrotate would fight it.",
             rf"{package}: W: log-files-without-logrotate "),
            # For rpmlint configurations that enable InitScriptCheck (not on by default).
            ("Once registered, the init script starts the service in runlevels 2-5, as "
             "tap2deb's does and as the systemd unit is enabled unless presets say no.",
             rf"{package}: W: service-default-enabled "),
        ]
    if spec.sysv and spec.systemd:
        found += [
            ("Fedora's guidelines: a subpackage requires its main package's exact "
             "version-release (Fedora's rpmlint profile filters this too).",
             rf"^{own}-{SUBPACKAGE_SYSV}\.[a-z0-9_]+: W: requires-on-release "),
            ("The README is in the main package, which this one requires.",
             rf"^{own}-{SUBPACKAGE_SYSV}\.[a-z0-9_]+: W: no-documentation$"),
        ]
    if spec.url is None:
        found.append(
            ("No --url was given: the application has no known homepage.",
             rf"{package}: W: no-url-tag$")
        )
    found += payload_filters(spec, package, specfile)
    return [(_reason(reason), _toml(pattern)) for reason, pattern in found]


def payload_filters(spec: PackageSpec, package: str, specfile: str) -> list[tuple[str, str]]:
    """What a --bundle tree draws by nature: it is other projects' wheels, as published."""
    if spec.payload is None:
        return []
    found = [
        ("The package's code lives in /usr/lib/<pkg>/ (and its launcher in every case), "
         "the same path on every distribution and in the launcher's sys.path: an "
         "application directory under /usr/lib as the FHS allows, not a library path "
         "that should follow %{_libdir}.",
         rf"{specfile}: E: hardcoded-library-path in %\{{_prefix\}}/lib"),
    ]
    if spec.payload.bundled:
        tree = re.escape(str(spec.payload.root(spec.name) / "bundle"))
        found += [
            ("Empty files of the bundled wheels (py.typed markers, empty __init__.py, "
             "Twisted's newsfragments) are part of those projects' trees.",
             rf"{package}: E: zero-length {tree}/"),
            ("Identical files of different bundled distributions (their dist-info "
             "WHEEL/INSTALLER files, test data) are each their project's own.",
             rf"{package}: W: files-duplicate {tree}/"),
            ("C sources a wheel ships beside its compiled extension are part of the "
             "published wheel, not a development package.",
             rf"{package}: W: devel-file-in-non-devel-package {tree}/"),
        ]
    return found


def _name_filters(spec: PackageSpec, package: str) -> list[tuple[str, str]]:
    """rpmlint judges a package by how its name ends; a service called after its protocol
    may end like a language pack ('-tac', '-doc': ISO 639 codes) or a library package."""
    suffix = spec.name.rsplit("-", 1)[-1]
    found = []
    if "-" in spec.name and re.fullmatch(r"[a-z]{2,3}", suffix):
        found.append((
            f"The name ends in -{suffix} because the service is called so: it is no "
            "language pack, whatever rpmlint reads in that ending.",
            rf"{package}: E: no-dependency-on locales-{suffix}$",
        ))
    if spec.name.endswith("-libs"):
        found.append((
            "The name ends in -libs because the service is called so: it is no library "
            "package, and its files belong where a service's do.",
            rf"{package}: E: outside-libdir-files ",
        ))
    return found


def rpmlint_config(spec: PackageSpec) -> str:
    return render("rpm/rpmlint.toml.j2", spec=spec, settings=settings(spec),
                  filters=filters(spec))

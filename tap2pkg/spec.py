"""Options -> one validated PackageSpec.

The command line fills an Options (raw strings, None where not given); a backend's
Conventions supply the defaults and grammars that differ between Debian and RPM.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tap2pkg import validate
from tap2pkg.errors import UsageError
from tap2pkg.model import INIT_SYSTEMS, AppInfo, PackageSpec
from tap2pkg.payload import Payload, launcher_path
from tap2pkg.targets import Target, default_target, lookup

MAX_EPOCH = 253402300799  # 9999-12-31T23:59:59Z: dates and tar headers go no further
_SAFE_FILENAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


@dataclass(frozen=True)
class Options:
    """Raw option values as typed; None means "not given, use the default"."""

    tapfile: Path
    maintainer: str | None = None
    protocol: str | None = None
    description: str | None = None
    long_description: str | None = None
    version: str = "1.0"
    package: str | None = None  # --debfile / --rpmfile
    user: str | None = None
    group: str | None = None
    twistd: str | None = None
    depends: tuple[str, ...] = ()
    init: str | None = None
    license: str | None = None
    url: str | None = None
    target: str | None = None  # --target: a release profile name (tap2pkg.targets)
    release: str | None = None  # --release (rpm): the package's release number


@dataclass(frozen=True)
class Conventions:
    """What differs between the formats above the backend line (defaults, grammars)."""

    tool: str  # "tap2deb" / "tap2rpm"
    family: str  # "deb" / "rpm": which targets apply
    package_option: str  # "--debfile" / "--rpmfile"
    summary_template: str  # formatted with protocol=
    default_maintainer: str | None  # None: the option is required
    default_twistd: str
    default_init: str
    init_systems: tuple[str, ...]
    user_prefix: str  # Debian policy: new system users start with "_"
    check_name: Callable[[str, str], str]
    check_version: Callable[[str, str], str]
    check_maintainer: Callable[[str, str], str]
    check_dependency: Callable[[str, str], str]
    # The default --long_description; formatted with tool=, summary= (no final '.') and
    # app= (the application file's name).
    long_description_template: str = "Automatically created by {tool}"


def source_date_epoch() -> int:
    """SOURCE_DATE_EPOCH when set (reproducible builds), else now."""
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value is None or value == "":
        return int(time.time())
    # ASCII digits only: str.isdigit() also accepts "²", which int() then refuses.
    if not re.fullmatch(r"[0-9]{1,12}", value):
        raise UsageError(f"{value!r} is not a number of seconds", "SOURCE_DATE_EPOCH")
    seconds = int(value)
    if seconds > MAX_EPOCH:
        raise UsageError(f"{value} is after the year 9999", "SOURCE_DATE_EPOCH")
    return seconds


def _slug(protocol: str) -> str:
    return re.sub(r"[^a-z0-9.+-]+", "-", protocol.lower()).strip("-")


def resolve_target(name: str | None, family: str) -> Target:
    if name is None:
        return default_target(family)
    try:
        return lookup(name, family)
    except ValueError as exc:
        raise UsageError(str(exc), "--target") from exc


def _twistd(options: Options, conv: Conventions, name: str, payload: Payload | None) -> str:
    """The twistd the service runs: with a payload, the package's own launcher."""
    if payload is None:
        return validate.absolute_path(options.twistd or conv.default_twistd, "--twistd")
    if options.twistd is not None:
        raise UsageError(
            "the package runs its own launcher, which puts --include and --bundle on the "
            "path; drop --twistd",
            "--twistd",
        )
    return str(launcher_path(name))


def _summary(description: str | None, conv: Conventions, protocol: str) -> str:
    """--description, or the one derived from the protocol name (a long name says so)."""
    if description is not None:
        return validate.summary(description)
    derived = conv.summary_template.format(protocol=protocol)
    try:
        return validate.summary(derived, "--protocol")
    except UsageError as exc:
        raise UsageError(
            f"the description derived from it is {len(derived)} characters long, "
            f"at most {validate.SUMMARY_MAX} fit; pass --description", "--protocol",
        ) from exc


def resolve(options: Options, app: AppInfo, conv: Conventions,
            payload: Payload | None = None) -> PackageSpec:
    """Apply defaults, validate every field, and return the PackageSpec."""
    target = resolve_target(options.target, conv.family)
    if options.maintainer is None:
        if conv.default_maintainer is None:
            raise UsageError("maintainer must be specified.")
        maintainer = conv.default_maintainer
    else:
        maintainer = conv.check_maintainer(options.maintainer, "--maintainer")

    protocol = options.protocol
    if protocol is None:
        protocol = Path(app.filename).name.split(".", 1)[0]
    protocol = validate.one_line(protocol, "--protocol")

    if options.package is not None:
        name = conv.check_name(options.package, conv.package_option)
    else:
        derived = f"twisted-{_slug(protocol)}"
        try:
            name = conv.check_name(derived, "--protocol")
        except UsageError as exc:
            raise UsageError(
                f"the package name {derived!r} derived from it is not valid; "
                f"pass {conv.package_option}",
                "--protocol",
            ) from exc

    summary = _summary(options.description, conv, protocol)
    long_description = validate.long_description(
        options.long_description
        if options.long_description is not None
        else conv.long_description_template.format(
            tool=conv.tool, summary=summary.rstrip("."), app=app.filename)
    )
    version = conv.check_version(options.version, "--set-version")

    if not _SAFE_FILENAME.fullmatch(app.filename):
        raise UsageError(
            f"{app.filename!r}: rename the file to letters, digits and '._+-' only",
            "--tapfile",
        )

    default_user = f"{conv.user_prefix}{name}"
    if options.user is None and len(default_user) > 32:
        raise UsageError(
            f"the default service user {default_user!r} is longer than 32 characters; "
            "pass --user",
            "--user",
        )
    user = validate.system_user(options.user or default_user, "--user")
    group = validate.system_user(options.group or user, "--group")

    twistd = _twistd(options, conv, name, payload)
    init_systems = validate.init_systems(options.init or conv.default_init, conv.init_systems)
    assert set(init_systems) <= set(INIT_SYSTEMS)  # noqa: S101 - conventions are ours

    depends: list[str] = []
    for item in options.depends:
        for part in item.split(","):
            if part.strip():
                depends.append(conv.check_dependency(part.strip(), "--depends"))

    return PackageSpec(
        name=name,
        version=version,
        maintainer=maintainer,
        protocol=protocol,
        summary=summary,
        long_description=long_description,
        app=app,
        app_filename=app.filename,
        user=user,
        group=group,
        twistd=twistd,
        init_systems=init_systems,
        depends=tuple(depends),
        license=validate.one_line(options.license, "--license") if options.license else None,
        url=validate.url(options.url) if options.url is not None else None,
        timestamp=source_date_epoch(),
        tool=conv.tool,
        target=target,
        payload=payload,
        release=validate.rpm_release(options.release) if options.release is not None else "1",
    )

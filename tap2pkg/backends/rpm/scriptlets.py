"""Scriptlets: one small fragment per (scriptlet, feature), each guarded on $1 as Fedora's
macros are: 1 on first install, 2 or more on upgrade, 0 on erase.  The code chooses the
fragments; the templates hold no logic beyond the macro-or-inline switch."""

from __future__ import annotations

from tap2pkg.backends.rpm.files import sysv_subpackage
from tap2pkg.model import PackageSpec
from tap2pkg.render import render

SCRIPTLETS = ("pre", "post", "preun", "postun")

# feature -> scriptlet -> fragment under templates/rpm/scriptlets/
_FRAGMENTS = {
    "user": {"pre": "pre-user"},
    "systemd": {"post": "post-systemd", "preun": "preun-systemd", "postun": "postun-systemd"},
    "sysv": {"post": "post-sysv", "preun": "preun-sysv", "postun": "postun-sysv"},
}

# What the fragments run, as scriptlet dependencies (Fedora's packaging guidelines).
_REQUIRES = {
    "user": ["Requires(pre):  %{?suse_version:shadow}%{!?suse_version:shadow-utils}"],
    "systemd": [],  # the macros and the inline fallback skip systemctl when it is missing
    "sysv": [
        "Requires(post): chkconfig",
        "Requires(preun): chkconfig, initscripts",
        "Requires(postun): initscripts",
    ],
}


def features(spec: PackageSpec) -> dict[str | None, list[str]]:
    """The features of each package (None: the main one)."""
    main = ["user"]
    if spec.systemd:
        main.append("systemd")
    packages: dict[str | None, list[str]] = {None: main}
    if spec.sysv:
        sub = sysv_subpackage(spec)
        if sub is None:
            main.append("sysv")
        else:
            packages[sub] = ["sysv"]
    return packages


def requires(spec: PackageSpec) -> dict[str | None, list[str]]:
    return {
        package: [line for feature in feats for line in _REQUIRES[feature]]
        for package, feats in features(spec).items()
    }


def sections(spec: PackageSpec) -> list[tuple[str, str]]:
    """(section header, body) pairs, e.g. ("%post sysvinit", "chkconfig --add ...")."""
    context = {
        "user": spec.user,
        "group": spec.group,
        "home": spec.state_dir,
        "comment": f"{spec.name} service",
        "unit": f"{spec.name}.service",
        "script": spec.name,
    }
    found = []
    for package, feats in features(spec).items():
        for scriptlet in SCRIPTLETS:
            bodies = [
                render(f"rpm/scriptlets/{_FRAGMENTS[feature][scriptlet]}.j2", **context)
                for feature in feats
                if scriptlet in _FRAGMENTS[feature]
            ]
            if bodies:
                header = f"%{scriptlet}" if package is None else f"%{scriptlet} {package}"
                found.append((header, "\n".join(body.rstrip("\n") for body in bodies)))
    return found

"""Scriptlets: one small fragment per (scriptlet, feature), each guarded on $1 as Fedora's
macros are: 1 on first install, 2 or more on upgrade, 0 on erase.  The code chooses the
fragments and the target's macro names; the templates hold no logic beyond the
macro-or-inline switch."""

from __future__ import annotations

from tap2pkg.backends.rpm.files import sysv_subpackage
from tap2pkg.model import PackageSpec
from tap2pkg.render import render

SCRIPTLETS = ("pre", "post", "preun", "postun")

# feature -> scriptlet -> fragment under templates/rpm/scriptlets/
_FRAGMENTS = {
    "user": {"pre": "pre-user"},
    "systemd": {"pre": "pre-systemd", "post": "post-systemd", "preun": "preun-systemd",
                "postun": "postun-systemd"},
    "sysv": {"post": "post-sysv", "preun": "preun-sysv", "postun": "postun-sysv"},
}

# The systemd scriptlet macros of each flavour.  Fedora: systemd's own macros.systemd
# (no %pre macro).  openSUSE: systemd-rpm-macros' macros.systemd, which records in %pre
# whether presets apply and applies them in %post (it defines the upstream names too,
# as aliases, but its guidelines ask for these).
MACROS: dict[str, dict[str, str | None]] = {
    "fedora": {"pre": None, "post": "systemd_post", "preun": "systemd_preun",
               "postun": "systemd_postun_with_restart"},
    "suse": {"pre": "service_add_pre", "post": "service_add_post",
             "preun": "service_del_preun", "postun": "service_del_postun"},
}

# rpm >= 4.19 creates the service user itself from the sysusers.d file (and turns it into
# user()/group() provides); rpm 4.19 is also where %__systemd_sysusers first appears in
# rpm's macros, so the spec tests for it and one spec is right for every rpm.
OLD_RPM = "0%{!?__systemd_sysusers:1}"
_CONDITIONS = {"user": OLD_RPM}

# What the fragments run, as scriptlet dependencies (Fedora's packaging guidelines).
_REQUIRES = {
    "user": [f"%if {OLD_RPM}",
             "Requires(pre):  %{?suse_version:shadow}%{!?suse_version:shadow-utils}",
             "%endif"],
    "systemd": [],  # the macros and the inline fallback skip systemctl when it is missing
    "sysv": [
        "Requires(post): chkconfig",
        "Requires(preun): chkconfig, initscripts",
        "Requires(postun): initscripts",
    ],
}


def features(spec: PackageSpec) -> dict[str | None, list[str]]:
    """The features of each package (None: the main one), in the order their fragments
    run: the user last, as its fragment ends the scriptlet with 'exit 0'."""
    main = ["systemd"] if spec.systemd else []
    packages: dict[str | None, list[str]] = {None: main}
    if spec.sysv:
        sub = sysv_subpackage(spec)
        if sub is None:
            main.append("sysv")
        else:
            packages[sub] = ["sysv"]
    main.append("user")
    return packages


def macros(spec: PackageSpec) -> dict[str, str | None]:
    return MACROS[spec.target.macro_flavour or "fedora"]


def requires(spec: PackageSpec) -> dict[str | None, list[str]]:
    return {
        package: [line for feature in feats for line in _REQUIRES[feature]]
        for package, feats in features(spec).items()
    }


def _condition(spec: PackageSpec, feature: str, fragment: str) -> str | None:
    """When a fragment applies: the user's only on old rpm; openSUSE's %pre macro only
    where it is defined (it has no inline fallback: nothing to record without it)."""
    if fragment == "pre-systemd":
        return f"0%{{?{macros(spec)['pre']}:1}}"
    return _CONDITIONS.get(feature)


def _fragments(spec: PackageSpec, feats: list[str], scriptlet: str,
               context: dict[str, object]) -> list[tuple[str | None, str]]:
    """(condition, body) of each fragment this scriptlet runs."""
    found = []
    for feature in feats:
        fragment = _FRAGMENTS[feature].get(scriptlet)
        if fragment is None or (fragment == "pre-systemd" and macros(spec)["pre"] is None):
            continue
        body = render(f"rpm/scriptlets/{fragment}.j2", **context).rstrip("\n")
        found.append((_condition(spec, feature, fragment), body))
    return found


def sections(spec: PackageSpec) -> list[tuple[str, str]]:
    """(section header, body) pairs, e.g. ("%post sysvinit", "chkconfig --add ...").  A
    scriptlet whose every fragment has a condition is itself under the condition that
    any applies: an empty scriptlet would still be run, and draws rpmlint's empty-%pre."""
    context: dict[str, object] = {
        "user": spec.user,
        "group": spec.group,
        "home": spec.state_dir,
        "comment": f"{spec.name} service",
        "unit": f"{spec.name}.service",
        "script": spec.name,
        "macros": macros(spec),
    }
    found = []
    for package, feats in features(spec).items():
        for scriptlet in SCRIPTLETS:
            fragments = _fragments(spec, feats, scriptlet, context)
            if not fragments:
                continue
            header = f"%{scriptlet}" if package is None else f"%{scriptlet} {package}"
            conditions = list(dict.fromkeys(condition for condition, _body in fragments))
            if None in conditions:
                found.append((header, _join(fragments)))
            elif len(conditions) == 1:
                bodies = "\n".join(body for _condition, body in fragments)
                found.append((f"%if {conditions[0]}\n{header}", f"{bodies}\n%endif"))
            else:
                found.append((f"%if {' || '.join(c for c in conditions if c)}\n{header}",
                              f"{_join(fragments)}\n%endif"))
    return found


def _join(fragments: list[tuple[str | None, str]]) -> str:
    return "\n".join(
        body if condition is None else f"%if {condition}\n{body}\n%endif"
        for condition, body in fragments
    )

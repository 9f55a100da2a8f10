"""Maintainer scripts.

The source package ships debian/<pkg>.postinst and .postrm with a #DEBHELPER# token;
dh fills it with its autoscripts.  The binary .deb built straight with dpkg-deb gets the
same scripts with the token replaced by our renditions of those autoscripts, chosen and
ordered as debhelper 13 does for a package with an init script and/or a systemd unit.
"""

from __future__ import annotations

import re

from tap2pkg.model import PackageSpec
from tap2pkg.payload import Payload
from tap2pkg.render import render

TOKEN = "#DEBHELPER#"  # noqa: S105 - debhelper's substitution token, not a secret
SCRIPTS = ("preinst", "postinst", "prerm", "postrm")
# Hand-written parts kept in the source package (the rest comes from debhelper).
HAND_WRITTEN = ("postinst", "postrm")


def hand_written(spec: PackageSpec, script: str) -> str:
    return render(f"debian/{script}.j2", spec=spec)


def maintscript_lines(spec: PackageSpec) -> list[list[str]]:
    """debian/<pkg>.maintscript: conffiles that earlier versions may have shipped and this
    one does not.  A version made with --init systemd removes the init script an earlier
    one installed (dpkg-maintscript-helper does nothing if it never was there)."""
    lines = []
    if not spec.sysv:
        lines.append(["rm_conffile", f"/etc/init.d/{spec.name}", f"{spec.version}~"])
    return lines


def maintscript_file(spec: PackageSpec) -> str | None:
    lines = maintscript_lines(spec)
    if not lines:
        return None
    # Names and versions are validated: no word holds whitespace, so none is split.
    return "".join(" ".join(line) + "\n" for line in lines)


def _escape_shell(word: str) -> str:
    """debhelper's escape_shell (Dh_Lib.pm), which writes the maintscript lines."""
    return re.sub(r"""([\s!"$()*+#;<>?@\[\]\\`|~])""", r"\\\1", word)


def _maintscript_section(spec: PackageSpec) -> str:
    return "".join(
        f"dpkg-maintscript-helper {' '.join(_escape_shell(w) for w in line)} -- \"$@\"\n"
        for line in maintscript_lines(spec)
    )


def _autoscripts(spec: PackageSpec, script: str) -> list[tuple[str, str]]:
    """(debhelper tool, autoscript) pairs, in the order dh 13.11 writes them."""
    python = ([("dh_python3", name) for name in _PYTHON[script]]
              if spec.payload is not None else [])
    init = [("dh_installinit", name) for name in _INIT[script]] if spec.sysv else []
    unit = [("dh_installsystemd", name) for name in _SYSTEMD[script]] if spec.systemd else []
    # prerm snippets are added in reverse order of the tools' run (dh-python's sequence
    # runs dh_python3 before dh_installinit, which runs before dh_installsystemd).
    return unit + init + python if script == "prerm" else python + init + unit


# dh_python3 on a package with private modules (/usr/share/<pkg>, /usr/lib/<pkg>):
# byte-compiled at install by py3compile, the byte code removed before removal by py3clean.
_PYTHON: dict[str, list[str]] = {
    "preinst": [],
    "postinst": ["postinst-py3compile"],
    "prerm": ["prerm-py3clean"],
    "postrm": [],
}


_INIT = {
    "preinst": ["preinst-init-chmod"],
    "postinst": ["postinst-init-restart"],
    "prerm": ["prerm-init-norestart"],
    "postrm": ["postrm-init"],
}
_SYSTEMD: dict[str, list[str]] = {
    "preinst": [],
    "postinst": ["postinst-systemd-enable", "postinst-systemd-restart"],
    "prerm": ["prerm-systemd-restart"],
    "postrm": ["postrm-systemd-reload-only", "postrm-systemd"],
}


def _py3compile(payload: Payload | None, package: str) -> dict[str, str]:
    """What dh_python3 passes py3compile for the payload's private directory: the directory,
    and -V with the version of the compiled extensions when there are any (a bundle built
    for one Python); pure Python is compiled for the default python3."""
    if payload is None:
        return {"private_dir": "", "python_version": ""}
    compiled = payload.arch_dependent and payload.python
    return {"private_dir": str(payload.root(package)),
            "python_version": payload.python if compiled else ""}


def debhelper_section(spec: PackageSpec, script: str) -> str:
    context = {
        "script": spec.name,
        "initscript": f"/etc/init.d/{spec.name}",
        "unit": f"{spec.name}.service",
        **_py3compile(spec.payload, spec.name),
    }
    parts = []
    for tool, name in _autoscripts(spec, script):
        body = render(f"debian/autoscripts/{name}.j2", **context)
        parts.append(
            f"# Automatically added by {spec.tool}/{tool}\n{body}"
            "# End automatically added section\n"
        )
    maintscript = _maintscript_section(spec)
    if maintscript:
        # debhelper orders the init and unit snippets as "service" snippets: after the
        # others (dh_installdeb's) in preinst, postinst and postrm, before them in prerm.
        section = (
            f"# Automatically added by {spec.tool}/dh_installdeb\n{maintscript}"
            "# End automatically added section\n"
        )
        if script == "prerm":
            parts.append(section)
        else:
            parts.insert(0, section)
    return "".join(parts)


def binary_scripts(spec: PackageSpec) -> dict[str, str]:
    """The maintainer scripts of the .deb, by name; scripts with nothing to do are left out."""
    scripts: dict[str, str] = {}
    for script in SCRIPTS:
        section = debhelper_section(spec, script)
        if script in HAND_WRITTEN:
            text = hand_written(spec, script).replace(TOKEN, section)
        elif section:
            text = f"#!/bin/sh\nset -e\n{section}"
        else:
            continue
        scripts[script] = text
    return scripts

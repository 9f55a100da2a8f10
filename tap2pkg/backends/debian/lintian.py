"""lintian overrides for what tap2pkg ships on purpose and lintian reads otherwise, each
with its reason (lintian shows the comment line above an override with the tag)."""

from __future__ import annotations

from tap2pkg.model import PackageSpec

# What lintian's Scripts check says about a non-executable file whose first line is "#!"
# with an absolute interpreter (lintian 2.116 and 2.122, Lintian/Check/Scripts.pm): the
# mode, and whatever it thinks of an interpreter it has not been asked to run.  Overrides
# of tags that do not fire are only an "unused-override" note (I:), never a warning.
_SCRIPT_TAGS = ("script-not-executable", "unusual-interpreter", "wrong-path-for-interpreter",
                "interpreter-in-usr-local", "incorrect-path-for-interpreter",
                "script-uses-bin-env")


def app_file_with_interpreter_line(spec: PackageSpec) -> str:
    """The app file starts with "#!": twistd reads it as configuration (a .tac is Python
    source twistd executes itself; the #! line is a comment to it); it is a conffile,
    never run by its #! line, so it stays 0644 and its interpreter is not the package's
    business."""
    where = spec.app_path.as_posix().lstrip("/")
    lines = [
        f"# {spec.app_filename} is read by twistd as its application file (a conffile), not",
        "# run as a script: its #! line is a comment to twistd, so mode 0644 is right.",
    ]
    for tag in _SCRIPT_TAGS:
        context = "" if tag == "script-not-executable" else "* "
        lines.append(f"{tag} {context}[{where}]")
    return "\n".join(lines) + "\n"


def source_overrides(spec: PackageSpec) -> str | None:
    """debian/source/lintian-overrides for names lintian reads as a kind of package this
    is not; None when the name draws nothing.  (Measured with lintian 2.116: -dev, -doc,
    -common, -data, lib* and -tap draw nothing; -dbgsym is refused by the backend.)"""
    parts = []
    if spec.name.endswith("-dbg"):
        parts.append(
            f"# {spec.name} is a service named by its packager, not debug symbols of another\n"
            "# package: it has nothing to depend on.\n"
            f"dbg-package-missing-depends {spec.name}\n"
        )
    if spec.name.startswith(("python3-", "python-", "pypy-")):
        parts.append(
            f"# {spec.name} is a service named by its packager, not a Python module built\n"
            "# per Python version.\n"
            "source-package-encodes-python-version\n"
        )
    return "".join(parts) or None

"""--lint: run the distribution's own checker on what was just built and fail the build
(exit 1) on any error or warning, showing the findings.  lintian for Debian packages (on
the .changes: the .dsc, .deb, .buildinfo and the .changes itself), rpmlint (with the
settings kept beside the spec) for RPM packages; rpmlint's no-signature is not counted:
packages are signed only when --sign is given.

A failed gate publishes nothing: the packages it judged are moved into
<output-dir>/lint-failed/ (and the error says so), so a script that uploads
<output-dir>/*.deb or *.changes after a failed build ships nothing.  The editable sources
(the Debian source tree, the .spec and its tarball) stay: they are what the user fixes."""

from __future__ import annotations

import os
import re
from pathlib import Path

from tap2pkg.errors import BuildError
from tap2pkg.run import run_tool

# lintian: "W: package: tag ..."; rpmlint: "package.noarch: W: tag ...".
_FINDING = re.compile(r"^(?:[EW]: \S+|\S+: [EW]): (\S+)")
_TOLERATED = {"no-signature"}


def _findings(output: str) -> list[str]:
    return [
        line for line in output.splitlines()
        if (m := _FINDING.match(line)) and m.group(1) not in _TOLERATED
    ]


def lint(tool: str, argv: list[str], *, verbose: bool) -> list[str]:
    proc = run_tool(argv, verbose=verbose, check=False,
                    hint="install lintian" if tool == "lintian" else "install rpmlint")
    findings = _findings(proc.stdout)
    if proc.returncode != 0 and not findings and tool == "lintian":
        # lintian failed without reporting tags: a broken run, not a verdict.
        tail = "\n".join(proc.stdout.splitlines()[-10:])
        raise BuildError(f"{' '.join(argv)} failed (exit {proc.returncode}):\n{tail}")
    if findings:
        shown = "\n".join(findings[:20])
        raise BuildError(f"{tool} found {len(findings)} problem(s):\n{shown}")
    return findings


REJECTED_DIR = "lint-failed"


def set_aside(packages: list[Path], outdir: Path) -> Path:
    """Move packages into outdir/lint-failed/ (replacing what an earlier failed gate left
    there) and return that directory."""
    rejected = outdir / REJECTED_DIR
    rejected.mkdir(exist_ok=True)
    for path in packages:
        os.replace(path, rejected / path.name)
    return rejected


def gate(tool: str, argv: list[str], packages: list[Path], outdir: Path, *,
         verbose: bool) -> None:
    """Run the checker; on a finding, set the packages aside and fail."""
    try:
        lint(tool, argv, verbose=verbose)
    except BuildError as exc:
        rejected = set_aside(packages, outdir)
        raise BuildError(f"{exc}\nnothing was published: the packages were moved to "
                         f"{rejected}/") from None


def lint_deb(changes: Path, packages: list[Path], outdir: Path, *, verbose: bool) -> None:
    gate("lintian", ["lintian", "--pedantic", str(changes)], packages, outdir,
         verbose=verbose)


def lint_rpm(config: Path, packages: list[Path], outdir: Path, *, verbose: bool) -> None:
    gate("rpmlint", ["rpmlint", "-c", str(config), *map(str, packages)], packages, outdir,
         verbose=verbose)

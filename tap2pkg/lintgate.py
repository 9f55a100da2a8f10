"""--lint: run the distribution's own checker on what was just built and fail the build
(exit 1) on any error or warning, showing the findings.  lintian for Debian packages,
rpmlint (with the settings kept beside the spec) for RPM packages; rpmlint's
no-signature is not counted: packages are signed only when --sign is given."""

from __future__ import annotations

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


def lint_deb(deb: Path, dsc: Path, *, verbose: bool) -> None:
    lint("lintian", ["lintian", "--pedantic", str(deb), str(dsc)], verbose=verbose)


def lint_rpm(config: Path, packages: list[Path], *, verbose: bool) -> None:
    lint("rpmlint", ["rpmlint", "-c", str(config), *map(str, packages)], verbose=verbose)

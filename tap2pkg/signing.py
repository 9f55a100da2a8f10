"""--sign KEYID: OpenPGP signatures made with the user's own gpg, before anything is moved
into the output directory.  Debian: the .dsc is clear-signed, as debsign does (a .deb is
trusted through its repository's signature).  RPM: rpmsign --addsign on the .rpm and
.src.rpm.  Signatures carry the signing time, so signed builds are not byte-reproducible."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from tap2pkg.errors import BuildError, UsageError
from tap2pkg.run import run_tool

# A key id, fingerprint, e-mail address or name as gpg --local-user takes it; no '%'
# (rpm expands macros in --define) and nothing that could read as an option.
_KEY = re.compile(r"[A-Za-z0-9@._+<>][A-Za-z0-9@._+<> -]{0,127}")


def key_name(value: str, key: str = "--sign") -> str:
    if not _KEY.fullmatch(value):
        raise UsageError(
            f"{value!r} is not a key name: give a key id, fingerprint or e-mail address", key
        )
    return value


def clearsign(path: Path, key: str, *, verbose: bool) -> None:
    signed = path.with_name(path.name + ".asc")
    run_tool(["gpg", "--batch", "--yes", "--local-user", key, "--armor", "--clearsign",
              "--output", str(signed), str(path)], verbose=verbose, hint="install gnupg")
    os.replace(signed, path)


def rpmsign(paths: list[Path], key: str, *, verbose: bool) -> None:
    # Debian's rpm names /usr/bin/gpg2, which Debian 12 does not ship: say which gpg.
    gpg = shutil.which("gpg2") or shutil.which("gpg")
    if gpg is None:
        raise BuildError("gpg not found: it is needed to sign (install gnupg)")
    run_tool(["rpmsign", "--addsign", "--define", f"_gpg_name {key}", "--define",
              f"__gpg {gpg}", *map(str, paths)],
             verbose=verbose, hint="install rpm-sign (Debian: rpm)")

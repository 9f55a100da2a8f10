"""The few exceptions tap2pkg raises; cli.py is the one place that turns them into exit codes.

Library code raises these and never prints or exits.  Each carries a message that fits on
one line and names what it is about.
"""

from __future__ import annotations

import shlex


class Tap2pkgError(Exception):
    """Base class: a problem the user can act on (no traceback is shown)."""

    exit_code = 1


class UsageError(Tap2pkgError):
    """Bad options or option values (exit code 2)."""

    exit_code = 2

    def __init__(self, message: str, key: str | None = None) -> None:
        self.key = key
        super().__init__(f"{key}: {message}" if key else message)


class AppFileError(Tap2pkgError):
    """The application file cannot be read, is malformed, or is refused (exit code 2)."""

    exit_code = 2


class CheckError(AppFileError):
    """--check: twistd's own loader failed on the file; the message ends with the tail of
    its traceback, shown line by line (exit code 2)."""


class BuildError(Tap2pkgError):
    """An external tool failed, or an output could not be written (exit code 1)."""

    exit_code = 1


class ToolError(BuildError):
    """An external tool exited non-zero; the message holds its command and output tail."""

    def __init__(self, argv: list[str], returncode: int, output: str) -> None:
        self.argv = argv
        self.returncode = returncode
        self.output = output
        tail = "\n".join(output.rstrip().splitlines()[-20:])
        cmd = shlex.join(argv)  # pasteable back into a shell
        super().__init__(f"command failed (exit {returncode}): {cmd}\n{tail}".rstrip())

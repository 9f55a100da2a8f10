"""Every limit tap2pkg's readers put on untrusted input, in one place.

Application files and packages given to ``inspect`` come from elsewhere.  Each reader
does work bounded by these numbers (bytes read, bytes decompressed, objects, memo
entries, nesting depth, expanded size), so that no input of any size or shape makes
tap2pkg run for minutes or take gigabytes.  Real files stay far below every one:
Twisted's own applications are a few kilobytes, a few hundred objects, ten levels deep.
"""

from __future__ import annotations

import time

MIB = 1024 * 1024

# ---- application files ----
# Bytes read from an application file at most (larger ones are refused unread).
MAX_APPFILE_BYTES = 16 * MIB
# Python and AOT source are analysed node by node (about 12 s per MiB and 0.5 GB of
# syntax tree at the worst): refuse bigger sources before parsing them.
MAX_SOURCE_BYTES = 1 * MIB
# The --include'd Python files whose imports are checked, in all (bigger files are skipped).
MAX_SCANNED_INCLUDE_BYTES = 8 * MIB
# Containers nested inside each other (pickle objects, AOT expressions).  CPython's own
# C code recurses without limit: a tuple nested a million deep crashes it.
MAX_NESTING = 200
# Pickle memo slots: the unpickler allocates an array as long as the largest index, so
# LONG_BINPUT 4294967295 alone asks for 32 GiB.  Twisted's pickles number them 0, 1, 2...
MAX_MEMO_INDEX = 1 << 20
# Size of a tuple with its shared parts counted every time they appear.  Hashing or
# comparing a tuple walks it that way: ((t, t), (t, t))... doubles per level, so 60
# levels in 120 bytes would hash for centuries.
MAX_EXPANDED = 100_000
# The same, summed over every dict key and set member of one file: each is hashed.
MAX_HASHED = 1_000_000
# Objects a pickle or AOT file may make (each costs ~100 bytes as a stand-in).
MAX_OBJECTS = 1_000_000
# Python refuses to print integers longer than this (sys.get_int_max_str_digits).
MAX_INT_DIGITS = 4000
# Services visited below an Application, and how deep MultiServices are looked into.
MAX_SERVICES = 10_000
MAX_SERVICE_DEPTH = 64
# XML (.tax): elements and their nesting.  Each level becomes at most three levels of
# AOT expression, and Python refuses source nested 200 brackets deep.
MAX_XML_ELEMENTS = 100_000
MAX_XML_DEPTH = 50

# ---- packages (tap2pkg inspect PACKAGE) ----
# The package file itself, and any one member of it (ar member, rpm header store).
MAX_PACKAGE_BYTES = 512 * MIB
# Bytes a compressed part (data.tar.*, control.tar.*, the rpm payload) may expand to:
# a few kilobytes of xz can claim gigabytes.
MAX_DECOMPRESSED_BYTES = 256 * MIB
# Files listed in a package, and entries in one rpm header.
MAX_PACKAGE_FILES = 100_000
MAX_RPM_HEADER_ENTRIES = 10_000
MAX_RPM_HEADER_BYTES = 32 * MIB
# A control file, a conffiles list, an application file read out of a package.
MAX_CONTROL_BYTES = 1 * MIB

# ---- time ----
# Every bound above keeps the work linear in the input's size; this is the last guard, a
# wall clock checked as the readers go (a loaded CI machine is slow, so it is generous).
MAX_SECONDS = 60.0


class OutOfTimeError(Exception):
    """A reader ran past its Deadline."""


class Deadline:
    """A point in time after which a reader gives up: ``check()`` as it goes."""

    def __init__(self, seconds: float = MAX_SECONDS) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.calls = 0

    def check(self) -> None:
        self.calls += 1
        if self.calls % 256 == 1 and time.monotonic() > self.end:  # the 1st, 257th...
            raise OutOfTimeError(f"took more than {self.seconds:.0f} seconds to read")

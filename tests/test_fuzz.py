"""A bounded fuzz run of the loaders: mutated and spliced application files of every kind
must load or fail with the tool's own one-line error, never anything else.

Deterministic (seeded) and time-boxed: TAP2PKG_FUZZ_SECONDS per kind (default 12, so about
a minute in all)."""

from __future__ import annotations

import os
import random
import time
import warnings
from pathlib import Path

import pytest

from tap2pkg.appfile import load
from tap2pkg.errors import AppFileError
from tests.conftest import FIXTURES

SECONDS = float(os.environ.get("TAP2PKG_FUZZ_SECONDS", "12"))
KINDS = sorted({p.suffix for p in FIXTURES.iterdir() if p.suffix in (".tac", ".tap", ".tas",
                                                                      ".tax")})
INTERESTING = [b"(", b"[", b"{", b"\x00", b"\xff", b"\\", b"'", b'"', b"\n", b"<", b"&",
               b"c__builtin__\neval\n", b"cos\nsystem\n", b"R", b".", b"0" * 20,
               b"<!DOCTYPE x [<!ENTITY a 'aaaa'>]>", b"&a;", b"Instance(", b"Deref(",
               b"__import__('os')", b"lambda: 0"]


def mutate(rng: random.Random, data: bytes, others: list[bytes]) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        pos = rng.randint(0, len(buf))
        op = rng.randrange(6)
        if op == 0 and buf:
            buf[min(pos, len(buf) - 1)] = rng.randrange(256)
        elif op == 1:
            buf[pos:pos] = rng.choice(INTERESTING)
        elif op == 2:
            del buf[pos:pos + rng.randint(1, 64)]
        elif op == 3:
            start = rng.randint(0, len(buf))
            buf[pos:pos] = buf[start:start + rng.randint(1, 256)]
        elif op == 4:
            other = rng.choice(others)
            start = rng.randint(0, len(other))
            buf[pos:pos] = other[start:start + rng.randint(1, 512)]
        else:
            buf = buf[:pos]  # truncation
    return bytes(buf)


@pytest.mark.parametrize("suffix", KINDS)
def test_fuzz_loader(suffix: str, tmp_path: Path) -> None:
    seeds = [p.read_bytes() for p in sorted(FIXTURES.glob(f"*{suffix}"))]
    others = [p.read_bytes() for p in sorted(FIXTURES.iterdir()) if p.is_file()]
    rng = random.Random(f"tap2pkg-{suffix}")  # noqa: S311 - reproducible, not secret
    target = tmp_path / f"fuzz{suffix}"
    runs = refused = 0
    deadline = time.monotonic() + SECONDS
    while time.monotonic() < deadline:
        data = mutate(rng, rng.choice(seeds), others)
        target.write_bytes(data)
        runs += 1
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                load(target)
            except AppFileError as exc:
                refused += 1
                message = str(exc)
                assert message.startswith(target.name), message
                assert "\n" not in message, message
            except Exception as exc:  # the point: report whatever escaped
                pytest.fail(f"{type(exc).__name__} escaped the {suffix} loader: {exc!r}\n"
                            f"input (first 400 bytes): {data[:400]!r}")
    print(f"\n[fuzz] {suffix}: {runs} inputs, {refused} refused, in {SECONDS:.0f}s")
    assert runs > 100

"""A bounded fuzz run of the loaders: mutated and spliced application files of every kind
must load or fail with the tool's own one-line error, never anything else, each within
seconds, in a child process limited to 1 GiB (peak memory is measured and bounded).

Deterministic (seeded) and time-boxed: TAP2PKG_FUZZ_SECONDS per kind (default 12, so about
a minute in all)."""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
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


def fuzz(suffix: str, seconds: float, target: Path) -> dict[str, object]:
    """Mutate the fixtures of one kind for ``seconds``; every input must load or be refused
    in one line.  Returns counts, the slowest input's time and the peak memory."""
    seeds = [p.read_bytes() for p in sorted(FIXTURES.glob(f"*{suffix}"))]
    others = [p.read_bytes() for p in sorted(FIXTURES.iterdir()) if p.is_file()]
    rng = random.Random(f"tap2pkg-{suffix}")  # noqa: S311 - reproducible, not secret
    runs = refused = 0
    slowest, slowest_input = 0.0, b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        data = mutate(rng, rng.choice(seeds), others)
        target.write_bytes(data)
        runs += 1
        started = time.monotonic()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                load(target)
            except AppFileError as exc:
                refused += 1
                message = str(exc)
                assert message.startswith(target.name), message
                assert "\n" not in message, message
                # Memory errors mean a limit is missing, even when caught.
                assert "more memory than there is" not in message, data[:400]
            except Exception as exc:  # the point: report whatever escaped
                pytest.fail(f"{type(exc).__name__} escaped the {suffix} loader: {exc!r}\n"
                            f"input (first 400 bytes): {data[:400]!r}")
        took = time.monotonic() - started
        if took > slowest:
            slowest, slowest_input = took, data
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"runs": runs, "refused": refused, "slowest": slowest,
            "slowest_input": slowest_input[:200].hex(), "peak": peak}


# Each kind runs in a child whose address space is capped: an input that needs gigabytes
# fails the test there instead of making the suite's memory depend on the machine.
MEMORY = 1 << 30
PEAK = 400 << 20
SLOWEST = 5.0  # seconds for one input, with room for a loaded machine


@pytest.mark.parametrize("suffix", KINDS)
def test_fuzz_loader(suffix: str, tmp_path: Path) -> None:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))

    code = ("import json, sys\nfrom pathlib import Path\nfrom tests.test_fuzz import fuzz\n"
            "print(json.dumps(fuzz(sys.argv[1], float(sys.argv[2]), Path(sys.argv[3]))))")
    proc = subprocess.run(
        [sys.executable, "-c", code, suffix, str(SECONDS), str(tmp_path / f"fuzz{suffix}")],
        capture_output=True, text=True, timeout=SECONDS + 120, preexec_fn=limit,
        cwd=Path(__file__).resolve().parent.parent, check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    stats = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"\n[fuzz] {suffix}: {stats['runs']} inputs, {stats['refused']} refused, "
          f"slowest {stats['slowest']:.2f}s, peak {stats['peak'] >> 20} MiB")
    assert stats["runs"] > 100
    assert stats["peak"] < PEAK
    assert stats["slowest"] < SLOWEST, stats["slowest_input"]

"""Bounded work on any application file (issue 10 item 5): tiny files whose object graph
would make a reader hash for ever or allocate gigabytes end in one line, exit 2, within
the timeout, in a child limited to 1 GiB (peak memory measured)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from tap2pkg.appfile import load
from tap2pkg.errors import AppFileError
from tap2pkg.limits import MAX_EXPANDED, MAX_MEMO_INDEX, MIB, Deadline
from tests.bombs import run_bounded
from tests.conftest import FIXTURES

GIB = 1 << 30


def refused(path: Path, *needles: str) -> None:
    proc, peak = run_bounded(["inspect", str(path)], memory=GIB, seconds=60)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert path.name in proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr
    assert peak < 300 * MIB


def shared_tuples_pickle(levels: int) -> bytes:
    """t = (); t = (t, t) ``levels`` times (DUP, TUPLE2: two bytes a level); then
    {t: 1}: hashing t walks 2**levels tuples."""
    return b"\x80\x02}" + b")" + b"2\x86" * levels + b"K\x01s."


def test_tap_shared_tuples_135_bytes(tmp_path: Path) -> None:
    data = shared_tuples_pickle(63)
    assert len(data) <= 135
    path = tmp_path / "hash.tap"
    path.write_bytes(data)
    refused(path, f"a tuple of more than {MAX_EXPANDED} items, counting shared ones")


def test_tap_shared_tuples_in_a_frozenset(tmp_path: Path) -> None:
    # The same, hashed by builtins.frozenset (a REDUCE), one tuple repeated in a list.
    body = b")" + b"2\x86" * 15 + b"q\x00" + b"h\x00" * 2000
    data = b"\x80\x02c__builtin__\nfrozenset\n]" + b"(" + body + b"e\x85R."
    path = tmp_path / "set.tap"
    path.write_bytes(data)
    refused(path, "larger than")


def test_tas_shared_tuples(tmp_path: Path) -> None:
    levels = 64
    refs = ",".join(f"Ref({i},(Deref({i + 1}),Deref({i + 1})))" for i in range(1, levels))
    path = tmp_path / "hash.tas"
    path.write_text(f"app=[{refs},Ref({levels},()),{{Deref(1):1}}]\n")
    refused(path, f"a tuple of more than {MAX_EXPANDED} items")


def test_tax_shared_tuples(tmp_path: Path) -> None:
    """marmalade <reference>s become Deref(): the same hash bomb, written as XML."""
    levels = 40
    body = "".join(f'<tuple reference="{i}"><reference key="{i + 1}"/>'
                   f'<reference key="{i + 1}"/></tuple>' for i in range(1, levels))
    path = tmp_path / "hash.tax"
    path.write_text(f'<?xml version="1.0"?>\n<list>{body}<tuple reference="{levels}"></tuple>'
                    '<dictionary><reference key="1" role="key"/><int value="1"/></dictionary>'
                    "</list>")
    refused(path, "a tuple of more than")


def test_memo_index_9_bytes(tmp_path: Path) -> None:
    data = b"\x80\x02Nr\xff\xff\xff\xff."  # LONG_BINPUT 4294967295: a 32 GiB memo array
    assert len(data) == 9
    path = tmp_path / "memo.tap"
    path.write_bytes(data)
    refused(path, f"memo index 4294967295 is out of range (at most {MAX_MEMO_INDEX})")


def test_memo_index_in_a_real_pickle(tmp_path: Path) -> None:
    """What the fuzz test stumbled on (5.6 GB): a real .tap with one memo index mutated."""
    data = (FIXTURES / "echopickle.tap").read_bytes()
    position = data.index(b"q\x03")  # BINPUT 3 -> LONG_BINPUT 1701013878
    data = data[:position] + b"r" + (1701013878).to_bytes(4, "little") + data[position + 2:]
    path = tmp_path / "mutated.tap"
    path.write_bytes(data)
    refused(path, "memo index 1701013878 is out of range")


@pytest.mark.parametrize("opcode", [b"2", b"h\x00"])  # DUP, BINGET
def test_many_objects(tmp_path: Path, opcode: bytes) -> None:
    data = b"\x80\x02]q\x00(N" + opcode * 1_500_000 + b"e."
    path = tmp_path / "many.tap"
    path.write_bytes(data)
    refused(path, "more than 1000000 objects")


def test_real_pickles_stay_well_inside_the_limits(tmp_path: Path) -> None:
    app = {"services": [(i, f"name{i}", (i, (i,))) for i in range(5000)]}
    path = tmp_path / "big.tap"
    path.write_bytes(pickle.dumps(app, protocol=2))
    proc, _ = run_bounded(["inspect", str(path)], memory=GIB, seconds=60)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("name", ["echopickle.tap", "echosource.tas", "echoxml.tax"])
def test_the_clock_is_the_last_guard(name: str, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """With no time left, every reader stops with its one-line error."""
    monkeypatch.setattr(Deadline.__init__, "__defaults__", (0.0,))
    path = tmp_path / name
    path.write_bytes((FIXTURES / name).read_bytes())
    with pytest.raises(AppFileError, match=rf"^{name}: took more than 0 seconds to read$"):
        load(path)

"""The whole bad-input corpus through both commands: each file gets exit code 2, one line
on stderr naming the file, no traceback, nothing written, and nothing executed (a sentinel
file the hostile payloads would create stays absent)."""

from __future__ import annotations

import os
import pickle
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tap2pkg.cli import tap2deb_main, tap2rpm_main
from tests.conftest import MAINTAINER


class Reduce:
    """Pickles as a call of func(*args): what a hostile .tap carries."""

    def __init__(self, func: Callable[..., Any], *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, ...]:
        return self.func, self.args


def corpus(tmp: Path, sentinel: Path) -> dict[str, bytes]:
    touch = f"touch {sentinel}"
    files: dict[str, bytes] = {}
    for proto in range(pickle.HIGHEST_PROTOCOL + 1):
        files[f"system{proto}.tap"] = pickle.dumps(Reduce(os.system, touch), protocol=proto)
    files["popen.tap"] = pickle.dumps(Reduce(subprocess.Popen, ["touch", str(sentinel)]))
    files["eval.tap"] = pickle.dumps(Reduce(eval, f"__import__('os').system('{touch}')"))
    files["exec.tap"] = pickle.dumps(Reduce(exec, f"import os; os.system('{touch}')"))
    files["getattr.tap"] = pickle.dumps(Reduce(getattr, Reduce(__import__, "os"), "system"))
    files["import.tap"] = pickle.dumps(Reduce(__import__, "os"))
    files["nested.tap"] = pickle.dumps([{"a": (Reduce(os.system, touch),)}])
    files["truncated.tap"] = pickle.dumps({"key": list(range(50))})[:-7]
    files["empty.tap"] = b""
    files["garbage.tap"] = b"\x80\x05not a pickle at all"
    files["noapp.tac"] = b"from twisted.application import service\nsvc = 1\n"
    files["syntax.tac"] = b"application = 1\ndef oops(:\n"
    files["deep.tac"] = b"application = " + b"(" * 5000 + b"1" + b")" * 5000 + b"\n"
    files["binary.tac"] = b"\xff\xfe\x00application = 1\n"
    files["call.tas"] = b"app = __import__('os').system('" + touch.encode() + b"')\n"
    files["attr.tas"] = b"app = Instance('twisted.x.Y').__class__\n"
    files["noapp.tas"] = b"x = 1\n"
    files["foreign.tas"] = b"app = Instance('os.system', x=1)\n"
    files["secret.etac"] = b"application = 1\n"
    files["secret.etap"] = b"\x80\x04."
    files["unknown.txt"] = b"application = 1\n"
    return files


@pytest.mark.parametrize("main", [tap2deb_main, tap2rpm_main], ids=["tap2deb", "tap2rpm"])
def test_bad_input_corpus(main: Callable[[list[str]], int], tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    sentinel = tmp_path / "SENTINEL"
    inputs = tmp_path / "in"
    inputs.mkdir()
    out = tmp_path / "out"
    files = corpus(tmp_path, sentinel)
    oversized = inputs / "huge.tap"
    with oversized.open("wb") as f:
        f.truncate(17 * 1024 * 1024)
    paths = [oversized, inputs]  # a directory is not an application file
    for name, data in files.items():
        (inputs / name).write_bytes(data)
        paths.append(inputs / name)
    for path in paths:
        code = main(["-t", str(path), "-m", MAINTAINER, "-o", str(out), "-q"])
        err = capsys.readouterr().err
        assert code == 2, f"{path.name}: exit {code}: {err}"
        assert "Traceback" not in err
        lines = err.strip().splitlines()
        assert len(lines) == 1, f"{path.name}: {err}"
        assert path.name in lines[0], lines[0]
        assert not sentinel.exists(), f"{path.name} ran code"
        assert not out.exists() or not any(out.iterdir()), f"{path.name} wrote output"


def test_huge_python_and_aot_sources_fail_fast(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Multi-megabyte sources are refused before parsing (bounded time and memory)."""
    import time

    for name, line in (("big.tac", b"x = [1, 2, 3]\n"), ("big.tas", b"x = [1, 2, 3]\n")):
        path = tmp_path / name
        path.write_bytes(b"application = app = 1\n" + line * 400_000)
        start = time.monotonic()
        code = tap2deb_main(["-t", str(path), "-m", MAINTAINER, "-o", str(tmp_path / "o")])
        assert time.monotonic() - start < 2
        assert code == 2
        assert "too large" in capsys.readouterr().err

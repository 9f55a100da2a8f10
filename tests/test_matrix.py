"""tap2pkg build with the real tools: the matrix gives the very bytes the single commands
give, two runs into one directory at once are safe, and a failing job neither stops nor
hides the others."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, MAINTAINER, require_tool

pytestmark = pytest.mark.slow

CODE = "import sys; from tap2pkg.cli import {}_main as m; sys.exit(m(sys.argv[1:]))"


def command(tool: str, *args: str) -> list[str]:
    return [sys.executable, "-c", CODE.format(tool), *args]


def run(tool: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(tool, *args), capture_output=True, text=True, cwd=cwd,
                          check=False)


def project(tmp_path: Path, apps: str, formats: str = '["deb", "rpm"]') -> Path:
    root = tmp_path / "project"
    (root / "services").mkdir(parents=True)
    for name in ("echo.tac", "echosource.tas"):
        (root / "services" / name).write_bytes((FIXTURES / name).read_bytes())
    (root / "tap2pkg.toml").write_text(
        f'[defaults]\nmaintainer = "{MAINTAINER}"\nformats = {formats}\n'
        f'targets = ["debian-12", "fedora"]\n\n{apps}', encoding="utf-8")
    return root


APPS = """
[[app]]
tapfile = "services/echo.tac"
set-version = "1.2"
depends = ["python3-attr"]

[[app]]
tapfile = "services/echosource.tas"
protocol = "source"
"""


def tree(root: Path) -> dict[str, bytes]:
    """Every file under root (the lock directory aside), by relative path."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".tap2pkg-locks" not in p.parts
    }


def single_builds(root: Path, out: Path) -> None:
    """The same packages, one tap2deb/tap2rpm command each, as a user would run them."""
    common = ["-m", MAINTAINER, "-q"]
    for tool, target in (("tap2deb", "debian-12"), ("tap2rpm", "fedora")):
        outdir = str(out / target / tool[-3:])
        for args in (["-t", "services/echo.tac", "-V", "1.2", "--depends", "python3-attr"],
                     ["-t", "services/echosource.tas", "-p", "source"]):
            proc = run(tool, *common, *args, "--target", target, "-o", outdir, cwd=root)
            assert proc.returncode == 0, proc.stderr


def test_matrix_outputs_are_the_single_commands_bytes(tmp_path: Path) -> None:
    require_tool("dpkg-deb", "rpmbuild")
    root = project(tmp_path, APPS)
    proc = run("tap2pkg", "build", "-j", "2", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("ok   [") == 4
    single_builds(root, tmp_path / "single")
    matrix = tree(root / ".build")
    assert "debian-12/deb/twisted-echo_1.2_all.deb" in matrix
    assert "fedora/rpm/twisted-source-1.0-1.noarch.rpm" in matrix
    single = tree(tmp_path / "single")
    assert sorted(matrix) == sorted(single)
    differing = [p for p in matrix if matrix[p] != single[p]]
    assert not differing


def test_two_matrix_runs_into_one_directory_at_once(tmp_path: Path) -> None:
    require_tool("dpkg-deb", "rpmbuild")
    root = project(tmp_path, APPS)
    runs = [subprocess.Popen(command("tap2pkg", "build", "-j", "2", "-q"), cwd=root,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    for proc in runs:
        _out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    single_builds(root, tmp_path / "single")
    built = tree(root / ".build")
    assert built == tree(tmp_path / "single")
    # no scratch directory is left behind
    assert not list((root / ".build").rglob(".tap2pkg-work-*"))


BROKEN_APP = """
[[app]]
tapfile = "services/missing.tac"
unsigned = true
"""


def test_a_failing_job_neither_stops_nor_hides_the_others(tmp_path: Path) -> None:
    require_tool("dpkg-deb", "rpmbuild")
    root = project(tmp_path, APPS + BROKEN_APP)
    proc = run("tap2pkg", "build", "-j", "2", "--json", cwd=root)
    assert proc.returncode == 2  # a missing application file is bad input
    report = json.loads(proc.stdout)
    assert report["ok"] is False
    jobs = report["jobs"]
    assert len(jobs) == 6
    assert [j["ok"] for j in jobs] == [True, True, True, True, False, False]
    failed = jobs[4]
    assert failed["app"] == "services/missing.tac"
    assert "missing.tac" in failed["error"]
    assert failed["exit_code"] == 2
    # warnings are kept (and shown) even when the job then fails
    rpm_job = jobs[5]
    assert rpm_job["format"] == "rpm"
    assert any("--unsigned does nothing" in w for w in rpm_job["warnings"])
    assert "     warning: --unsigned does nothing" in proc.stderr
    # the failures are also on stderr, one per job, after the progress lines
    errors = [line for line in proc.stderr.splitlines() if line.startswith("tap2pkg: error:")]
    assert len(errors) == 2
    assert "FAIL [" in proc.stderr
    # the other jobs' report: inputs, outputs with their sha256, lint, time
    first = jobs[0]
    assert first["package"] == "twisted-echo"
    assert first["version"] == "1.2"
    assert first["inputs"]["tapfile"]["sha256"] == hashlib.sha256(
        (FIXTURES / "echo.tac").read_bytes()).hexdigest()
    assert first["inputs"]["options"]["set-version"] == "1.2"
    assert first["lint"] == "not run"
    assert first["seconds"] > 0
    outputs = {Path(o["path"]).name: o["sha256"] for o in first["outputs"]}
    deb = root / ".build" / "debian-12" / "deb" / "twisted-echo_1.2_all.deb"
    assert outputs[deb.name] == hashlib.sha256(deb.read_bytes()).hexdigest()
    assert "control" in outputs  # the source tree's files are listed one by one
    assert report["peak_rss_kib"]["self"] > 0


def test_lint_results_are_reported(tmp_path: Path) -> None:
    require_tool("dpkg-deb", "lintian")
    root = project(tmp_path, '[[app]]\ntapfile = "services/echo.tac"\nlint = true\n',
                   formats='["deb"]')
    proc = run("tap2pkg", "build", "--json", cwd=root)
    assert proc.returncode == 0, proc.stderr
    (job,) = json.loads(proc.stdout)["jobs"]
    assert job["lint"] == "clean"


def _build_on_a_terminal(root: Path, env: dict[str, str]) -> str:
    """Run tap2pkg build with its stdout on a pseudo-terminal; return what it wrote."""
    import pty

    primary, secondary = pty.openpty()
    with subprocess.Popen(command("tap2pkg", "build", "-j", "2"), cwd=root, env=env,
                          stdout=secondary, stderr=subprocess.DEVNULL) as proc:
        os.close(secondary)
        chunks = []
        while True:
            try:
                chunk = os.read(primary, 4096)
            except OSError:  # the terminal closed: the process is done
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(primary)
        assert proc.wait(timeout=600) == 0
    return b"".join(chunks).decode()


def test_progress_is_live_on_a_terminal_and_plain_in_ci(tmp_path: Path) -> None:
    require_tool("dpkg-deb")
    root = project(tmp_path, APPS, formats='["deb"]')
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    shown = _build_on_a_terminal(root, env)
    assert "building: 0/2 done" in shown
    assert "\r\x1b[K" in shown  # the counter line is redrawn
    assert shown.count("ok   [") == 2
    plain = _build_on_a_terminal(root, {**env, "CI": "true"})
    assert "\x1b" not in plain
    assert "building:" not in plain
    assert plain.count("ok   [") == 2


def test_a_worker_that_dies_fails_its_job_only(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker pool itself: a worker killed in the middle of a job (here: it exits
    from inside the job, as an out-of-memory kill would end it) fails that job with the
    reason; the other jobs are built by the workers left, and every job is reported."""
    from tap2pkg import matrix
    from tap2pkg.config import Job

    def fake_job(job: Job, root: Path, params: object = None) -> matrix.JobReport:
        if job.number == 2:
            os.kill(os.getpid(), 9)
        return matrix.JobReport(job, ok=True, package=f"p{job.number}")

    monkeypatch.setattr(matrix, "run_job", fake_job)
    monkeypatch.setattr(matrix, "warm", lambda formats: None)
    jobs = [Job(n, "deb", "debian-12", f"app{n}.tac", str(tmp_path / f"app{n}.tac"), (),
                tmp_path) for n in range(1, 7)]
    seen: list[int] = []
    reports = matrix.run(jobs, 2, tmp_path, lambda r: seen.append(r.job.number))
    assert sorted(seen) == [1, 2, 3, 4, 5, 6]
    assert [r.job.number for r in reports] == [1, 2, 3, 4, 5, 6]
    assert [r.ok for r in reports] == [True, False, True, True, True, True]
    assert reports[1].error == "the worker building it died (killed by signal 9)"

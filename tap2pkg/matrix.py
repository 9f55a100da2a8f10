"""tap2pkg build: run the jobs of a plan (tap2pkg.config) in one process, each job a call
of the same function tap2deb and tap2rpm run, with N forked workers, and report on each.

Workers are forked after the pipeline is imported and its templates compiled, so a job
pays for neither.  Processes rather than threads: a job spends about as much CPU in Python
(loading, rendering, hashing, compressing the source tarball) as in dpkg-deb, and threads
would run the Python halves one at a time.

Jobs of one run write into shared output directories: each backend builds in its own
scratch directory and renames its outputs into place (tap2pkg.output), and a lock per
package (under <output-dir>/.tap2pkg-locks/) keeps two runs into the same directory from
replacing the same package's files at the same time.  Nothing here prints:
cli.py shows the reports.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import resource
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tap2pkg.config import Job
from tap2pkg.errors import AppFileError, Tap2pkgError, UsageError

if TYPE_CHECKING:
    from tap2pkg.model import PackageSpec

LOCKS = ".tap2pkg-locks"
TEMPLATE_DIRS = {"deb": "debian", "rpm": "rpm"}  # besides service/, shared by both


@dataclass
class JobReport:
    job: Job
    ok: bool = False
    exit_code: int = 0
    error: str | None = None
    package: str | None = None
    version: str | None = None
    outputs: list[tuple[str, str]] = field(default_factory=list)  # (path, sha256)
    warnings: list[str] = field(default_factory=list)
    lint: str = "not run"  # "clean", "failed" or "not run"
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        job = self.job
        return {
            "job": job.number,
            "app": job.app,
            "format": job.fmt,
            "target": job.target,
            "ok": self.ok,
            "exit_code": self.exit_code,
            "error": self.error,
            "inputs": {
                "tapfile": {"path": job.tapfile, "sha256": _sha256_or_none(Path(job.tapfile))},
                "options": job.options,
                "command": [job.tool, *job.args],
            },
            "package": self.package,
            "version": self.version,
            "outputs": [{"path": p, "sha256": digest} for p, digest in self.outputs],
            "lint": self.lint,
            "warnings": self.warnings,
            "seconds": round(self.seconds, 3),
        }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sha256_or_none(path: Path) -> str | None:
    try:
        return _sha256(path)
    except OSError:
        return None


def _files(paths: list[Path]) -> list[tuple[str, str]]:
    """Every file an artifact list names (a source tree: each file in it), with sha256."""
    out: list[tuple[str, str]] = []
    for path in paths:
        if path.is_dir():
            out += [(str(p), _sha256(p)) for p in sorted(path.rglob("*"))
                    if p.is_file() and not p.is_symlink()]
        elif path.is_file():
            out.append((str(path), _sha256(path)))
    return out


@contextmanager
def package_lock(root: Path, job: Job, spec: PackageSpec) -> Iterator[None]:
    """Hold the lock on one package's outputs in the job's output directory."""
    locks = root / LOCKS
    locks.mkdir(parents=True, exist_ok=True)
    fd = os.open(locks / f"{job.target}.{job.fmt}.{spec.name}.lock",
                 os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # released when closed
        yield
    finally:
        os.close(fd)


def run_job(job: Job, root: Path, params: dict[str, Any] | None = None) -> JobReport:
    """Build one job (params: its arguments as its command parsed them, if done already);
    every failure becomes part of its report, never an exception."""
    from tap2pkg.cli import COMMANDS, LintError, package_job  # noqa: PLC0415 - see cli

    start = time.perf_counter()
    report = JobReport(job)
    try:
        if params is None:
            params = COMMANDS[job.fmt].make_context(job.tool, list(job.args)).params
        result = package_job(job.fmt, params, report.warnings.append,
                             guard=lambda spec: package_lock(root, job, spec))
    except LintError as exc:
        report.exit_code, report.error, report.lint = exc.exit_code, str(exc), "failed"
        report.package, report.version = exc.spec.name, exc.spec.version
        report.outputs = _files(exc.artifacts.paths())
    except Tap2pkgError as exc:
        report.exit_code, report.error = exc.exit_code, str(exc)
        if isinstance(exc, UsageError | AppFileError):  # a value in the config: say where
            report.error = f"{job.source}: {exc}"
    except Exception as exc:  # one job's bug must not hide the others
        if hasattr(exc, "format_message"):  # click's usage errors
            report.exit_code, report.error = 2, str(exc.format_message())
        else:
            report.exit_code = 1
            report.error = "internal error:\n" + traceback.format_exc().rstrip()
    else:
        report.ok = True
        report.package, report.version = result.spec.name, result.spec.version
        report.lint = "clean" if result.linted else "not run"
        report.outputs = _files(result.artifacts.paths())
    report.seconds = time.perf_counter() - start
    return report


def warm(formats: set[str]) -> None:
    """Import what jobs need and compile the templates once, before workers are forked."""
    import tap2pkg.appfile  # noqa: PLC0415
    import tap2pkg.spec  # noqa: PLC0415
    from tap2pkg.render import environment  # noqa: PLC0415

    if "deb" in formats:
        import tap2pkg.backends.debian.build  # noqa: PLC0415
        from tap2pkg.backends.debian.changes import dpkg_deb_version  # noqa: PLC0415

        dpkg_deb_version()  # asked once here, not once per worker
    if "rpm" in formats:
        import tap2pkg.backends.rpm.build  # noqa: F401, PLC0415
    env = environment()
    try:
        names = env.list_templates()
    except TypeError:  # a loader that cannot list its templates (compiled modules)
        from tap2pkg.render import templates_dir  # noqa: PLC0415

        root = templates_dir()
        names = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
    wanted = ("service/", *(f"{TEMPLATE_DIRS[fmt]}/" for fmt in formats))
    for name in names:
        if name.startswith(wanted):
            env.get_template(name)


def _duplicates(reports: list[JobReport]) -> None:
    """Two jobs that wrote the same file (two apps with one package name) both fail."""
    seen: dict[str, JobReport] = {}
    for report in reports:
        for path, _digest in report.outputs:
            first = seen.setdefault(path, report)
            if first is not report:
                for bad, other in ((report, first), (first, report)):
                    bad.ok = False
                    bad.exit_code = bad.exit_code or 1
                    bad.error = (f"job {other.job.number} ({other.job.app}) writes the same "
                                 f"file {path}: give each app its own package name")
                break


def run(jobs: list[Job], workers: int, root: Path,
        done: Callable[[JobReport], None] | None = None,
        params: dict[int, dict[str, Any]] | None = None) -> list[JobReport]:
    """Run every job (workers at a time); done is called in this process as each ends.
    params: each job's parsed arguments, by job number (else each job parses its own).
    The reports come back in plan order."""
    given = params or {}
    reports: list[JobReport] = []
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            reports.append(run_job(job, root, given.get(job.number)))
            if done is not None:
                done(reports[-1])
    else:
        warm({job.fmt for job in jobs})
        for report in _forked(jobs, min(workers, len(jobs)), root, given):
            reports.append(report)
            if done is not None:
                done(report)
    reports.sort(key=lambda r: r.job.number)
    _duplicates(reports)
    return reports


@dataclass
class _Worker:
    pid: int
    tasks: int  # write end of its task pipe: job indexes, 4 bytes each
    results: int  # read end of its result pipe: length-prefixed pickled reports
    job: int | None = None  # the index of the job it is building


def _forked(jobs: list[Job], count: int, root: Path, given: dict[int, dict[str, Any]]
            ) -> Iterator[JobReport]:
    """Fork count workers (os.fork, after warm(): they share the imported pipeline) and
    hand each the next job as it finishes one; yield the reports as they come.  One pair
    of pipes per worker, so the parent writes a task only to a worker waiting for one and
    nothing can fill up and block.  (multiprocessing and concurrent.futures would cost
    about 60 ms of imports and 20 ms of set-up here, a tenth of a 20-job run.)"""
    import pickle  # noqa: PLC0415
    import selectors  # noqa: PLC0415

    pending = list(range(len(jobs)))
    pending.reverse()  # pop() takes them in plan order
    workers: dict[int, _Worker] = {}  # by result fd
    chooser = selectors.DefaultSelector()
    try:
        for _ in range(count):
            worker = _spawn(jobs, root, given, workers)
            workers[worker.results] = worker
            chooser.register(worker.results, selectors.EVENT_READ)
            _assign(worker, pending)
        while workers:
            for key, _ in chooser.select():
                worker = workers[key.fd]
                message = _read_message(worker.results)
                if message is not None:
                    report = pickle.loads(message)  # noqa: S301 - from our own child
                    worker.job = None
                    yield report
                    _assign(worker, pending)
                    continue
                # End of file: the worker exited, after its last task or killed mid-job.
                chooser.unregister(worker.results)
                os.close(worker.results)
                del workers[key.fd]
                _, status = os.waitpid(worker.pid, 0)
                if worker.job is not None:
                    yield JobReport(jobs[worker.job], exit_code=1,
                                    error=f"the worker building it died ({_how(status)})")
                    _assign_elsewhere(workers, pending)
        for index in reversed(pending):  # every worker died before these were started
            yield JobReport(jobs[index], exit_code=1, error="not built: the workers died")
    finally:
        chooser.close()
        _stop(workers.values())


def _spawn(jobs: list[Job], root: Path, given: dict[int, dict[str, Any]],
           workers: dict[int, _Worker]) -> _Worker:
    task_r, task_w = os.pipe()
    result_r, result_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker: never returns
        try:
            for other in workers.values():  # else their pipes would never reach EOF
                os.close(other.tasks)
                os.close(other.results)
            os.close(task_w)
            os.close(result_r)
            _work(jobs, root, given, (task_r, result_w))
        finally:
            os._exit(0)
    os.close(task_r)
    os.close(result_w)
    return _Worker(pid, task_w, result_r)


def _stop(workers: Iterable[_Worker]) -> None:
    """Interrupted (Ctrl-C, an error here): stop the workers left, leave no zombie."""
    import signal  # noqa: PLC0415

    for worker in workers:
        for fd in (worker.tasks, worker.results):
            if fd >= 0:
                with suppress(OSError):
                    os.close(fd)
        with suppress(OSError):
            os.kill(worker.pid, signal.SIGTERM)
            os.waitpid(worker.pid, 0)


def _assign(worker: _Worker, pending: list[int]) -> None:
    """Hand the worker the next job, or close its task pipe (it then exits)."""
    if pending:
        worker.job = pending.pop()
        os.write(worker.tasks, worker.job.to_bytes(4, "little"))
    elif worker.tasks >= 0:
        os.close(worker.tasks)
        worker.tasks = -1


def _assign_elsewhere(workers: dict[int, _Worker], pending: list[int]) -> None:
    """A worker died: an idle one (whose task pipe is still open) takes the next job."""
    for worker in workers.values():
        if worker.job is None and worker.tasks >= 0 and pending:
            _assign(worker, pending)


def _how(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"


def _work(jobs: list[Job], root: Path, given: dict[int, dict[str, Any]],
          pipes: tuple[int, int]) -> None:
    """A worker's loop: read a job index, build it, write back its pickled report."""
    import pickle  # noqa: PLC0415

    tasks, results = pipes
    while True:
        data = _read_exactly(tasks, 4)
        if data is None:
            return
        job = jobs[int.from_bytes(data, "little")]
        message = pickle.dumps(run_job(job, root, given.get(job.number)))
        out = len(message).to_bytes(8, "little") + message
        while out:
            out = out[os.write(results, out):]


def _read_exactly(fd: int, size: int) -> bytes | None:
    """size bytes from fd, or None at end of file before them."""
    chunks: list[bytes] = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _read_message(fd: int) -> bytes | None:
    header = _read_exactly(fd, 8)
    return None if header is None else _read_exactly(fd, int.from_bytes(header, "little"))


def peak_memory_kib() -> dict[str, int]:
    """Peak resident memory (KiB, Linux): of this process, and of the largest child
    (workers and the tools they ran)."""
    return {
        "self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "children": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    }

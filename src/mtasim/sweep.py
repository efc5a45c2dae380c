"""Sweeps: every grid point x replication of a scenario's ``sweep:`` section, one CSV row per run.

Replication r runs with seed ``scenario.seed + r`` at every grid point (common random numbers), so
points differ by their parameters, not by noise, and any row is reproduced by ``mtasim run --seed``.
A run is a pure function of (scenario data, overrides, seed): serial, process-pool and Dask runs give
the same rows. Rows are appended as runs finish, each written whole, so an interrupted sweep keeps
every finished row and ``resume`` runs only the missing ones.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
import os
import signal
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__
from .config import ConfigError
from .curve import replication_seed
from .engine import simulate
from .grid import numeric_value
from .inputs import format_bytes, limits_enabled, set_limits
from .outputs import OutputError, check_output_dir, end_pool, hold_signals, progress_bar, release_signals, worker_init
from .results import atomic_write, csv_cell
from .scenario import Scenario, scenario_from_dict, with_overrides

__all__ = ["SweepTask", "plan_sweep", "run_task", "run_sweep", "SUMMARY_COLUMNS", "SweepError"]

SUMMARY_COLUMNS = (
    "engine", "messages", "delivered", "expired", "bounced", "queued", "fraction_delivered", "attempts",
    "attempts_per_message", "delay_warnings", "latency_p50_s", "latency_p90_s", "latency_p99_s",
    "latency_max_s", "recovery_lag_p50_s", "recovery_lag_p95_s", "recovery_lag_max_s",
)


#: Most runs (grid points x replications) a sweep may ask for unless limits are lifted (--no-limits).
MAX_SWEEP_RUNS = 100_000


class SweepError(ValueError):
    """A sweep that cannot start (bad output folder, mismatching file to resume, unreachable cluster)."""


@dataclass(frozen=True)
class SweepTask:
    """Everything one run needs, picklable for worker processes and Dask."""

    point: int
    replication: int
    seed: int
    overrides: tuple[tuple[str, Any], ...]
    data: Any
    source: str
    engine: str = "auto"
    #: Whether the work limits apply in the process that runs it (as in the one that planned it: a Dask
    #: worker does not see --no-limits otherwise).
    limits: bool = True


#: Memory a planned run takes while the sweep goes on (its task, its grid point, its share of the binding
#: hash and of --resume's row check; measured: about 460 B planned, 200 B more on --resume).
BYTES_PER_PLANNED_RUN = 800
#: Bytes a sweep.csv row takes per column (measured: 140 B for a row of 22 columns).
BYTES_PER_ROW_COLUMN = 8


def plan_sweep(scenario: Scenario, out: str | Path | None = None) -> list[SweepTask]:
    """All tasks, grid point by grid point; every point is validated before anything runs. Refused first,
    from the grid's size alone (nothing built): more than MAX_SWEEP_RUNS runs unless limits are lifted
    (``--no-limits``), and, lifted or not, a plan that would not fit in the memory available or rows that
    would not fit on the disk of ``out``."""
    spec = scenario.sweep
    if spec is None:
        raise ConfigError(scenario.source, "sweep", "expected a sweep: section (parameter paths and values)")
    runs = spec.size() * spec.replications
    what = (f"{spec.size():,} grid points x {spec.replications:,} replications, one row and one run of "
            f"{scenario.workload.expected_count:,.0f} messages each")
    if limits_enabled() and runs > MAX_SWEEP_RUNS:
        raise ConfigError(scenario.source, "sweep", f"expected at most {MAX_SWEEP_RUNS:,} runs, got {runs:,} "
                          f"({what}); --no-limits (or MTASIM_NO_LIMITS=1) runs them anyway")
    _check_sweep_fits(scenario, runs, what, out)
    tasks = []
    limits = limits_enabled()
    for index, point in enumerate(spec.points()):
        with_overrides(scenario, point, what="sweep")
        for r in range(spec.replications):
            tasks.append(SweepTask(index, r, replication_seed(scenario.seed, r), tuple(point.items()),
                                   scenario.data, scenario.source, limits=limits))
    return tasks


def _check_sweep_fits(scenario: Scenario, runs: int, what: str, out: str | Path | None) -> None:
    """Refuse a sweep whose plan would not fit in the memory available, or whose rows would not fit on the
    disk of ``out`` (estimates: BYTES_PER_PLANNED_RUN, BYTES_PER_ROW_COLUMN); --no-limits does not lift it."""
    from .engine.memory import available_memory_bytes

    need, have = runs * BYTES_PER_PLANNED_RUN, available_memory_bytes()
    if have is not None and need > have:
        raise ConfigError(scenario.source, "sweep", f"{runs:,} runs ({what}) would need about "
                          f"{format_bytes(need)} of memory to plan and track; {format_bytes(have)} is available: "
                          f"fewer grid points or replications")
    if out is None:
        return
    rows = runs * BYTES_PER_ROW_COLUMN * (3 + len(scenario.sweep.paths) + len(SUMMARY_COLUMNS))
    try:
        folder = Path(os.path.abspath(out))
        while not folder.exists() and folder.parent != folder:
            folder = folder.parent
        st = os.statvfs(folder)
        free = st.f_bavail * st.f_frsize
    except (OSError, AttributeError):
        return
    if rows > free:
        raise ConfigError(scenario.source, "sweep", f"{runs:,} runs ({what}) would write about "
                          f"{format_bytes(rows)} of rows to {Path(out) / 'sweep.csv'}; {format_bytes(free)} is free "
                          f"there: fewer grid points or replications, or another --out")


def run_task(task: SweepTask) -> dict[str, Any]:
    """One run -> one row (a plain dict of numbers and strings)."""
    limits_were = limits_enabled()
    set_limits(task.limits)
    try:
        base = scenario_from_dict(task.data, task.source)
        scenario = with_overrides(base, dict(task.overrides), what="sweep")
        summary = simulate(scenario, task.seed, engine=task.engine).summary()
    finally:
        set_limits(limits_were)
    row: dict[str, Any] = {"point": task.point, "replication": task.replication, "seed": task.seed}
    for path, value in task.overrides:
        row[path] = numeric_value(value)
    lat, lag = summary["delivery_latency_s"], summary["recovery_lag_s"]
    n = summary["messages"]
    row.update({
        "engine": summary["engine"], "messages": n, "delivered": summary["delivered"],
        "expired": summary["expired"], "bounced": summary["bounced"], "queued": summary["queued"],
        "fraction_delivered": summary["delivered"] / n if n else 0.0, "attempts": summary["attempts"],
        "attempts_per_message": summary["attempts_per_message"], "delay_warnings": summary["delay_warnings"],
        "latency_p50_s": lat["p50"], "latency_p90_s": lat["p90"], "latency_p99_s": lat["p99"],
        "latency_max_s": lat["max"], "recovery_lag_p50_s": lag["p50"], "recovery_lag_p95_s": lag["p95"],
        "recovery_lag_max_s": lag["max"],
    })
    return row


def columns_for(scenario: Scenario) -> list[str]:
    return ["point", "replication", "seed", *scenario.sweep.paths, *SUMMARY_COLUMNS]


def format_row(row: dict[str, Any], columns: list[str]) -> str:
    """One CSV line; floats in their shortest exact form so every executor writes the same bytes."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([csv_cell(row.get(c)) for c in columns])
    return out.getvalue()


def read_done(path: Path, columns: list[str]) -> set[tuple[int, int]]:
    """(point, replication) of the complete rows already in ``path`` (read only; see :func:`check_rows`)."""
    header, lines, _ = _split(path)
    if header is None:
        return set()
    if header != columns:
        raise SweepError(f"{path}: written by a different sweep (its columns differ); choose another --out")
    done = set()
    for line in lines:
        fields = _fields(line)
        if fields is not None and len(fields) == len(columns):
            try:
                done.add((int(fields[0]), int(fields[1])))
            except ValueError:
                pass
    return done


def _split(path: Path) -> tuple[list[str] | None, list[bytes | str], int]:
    """sweep.csv as (header, data lines, torn bytes at the end): a last line without its newline was cut
    off by an interruption and does not count."""
    if not path.exists():
        return None, [], 0
    raw = path.read_bytes()
    torn = 0
    if raw and not raw.endswith(b"\n"):
        cut = raw.rfind(b"\n") + 1
        torn, raw = len(raw) - cut, raw[:cut]
    if not raw:
        return None, [], torn
    first, _, rest = raw.partition(b"\n")
    try:
        header = next(csv.reader([first.decode("utf-8")]), [])
    except (UnicodeDecodeError, csv.Error):
        header = ["<undecodable>"]
    lines: list[bytes | str] = []
    for line in rest.split(b"\n")[:-1] if rest else []:
        try:
            lines.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            lines.append(line)                 # bytes: dropped as garbled
    return header, lines, torn


def _fields(line: bytes | str) -> list[str] | None:
    if isinstance(line, bytes) or "\r" in line or "\x00" in line:
        return None
    try:
        return next(csv.reader([line]), [])
    except csv.Error:
        return None


_INT_COLUMNS = {"messages", "delivered", "expired", "bounced", "queued", "attempts", "delay_warnings"}


def check_rows(lines: list[bytes | str], columns: list[str], tasks: list[SweepTask]
               ) -> tuple[list[str], dict[str, int]]:
    """The rows of a sweep.csv worth keeping on resume, and how many were dropped, by reason: ``garbled``
    (wrong number of fields, a value that is not what that column holds, undecodable bytes), ``outside
    the grid`` (a point or replication this sweep has not, or a seed or parameter value that is not that
    point's) and ``duplicate`` (a run already kept)."""
    expected = {(t.point, t.replication): (csv_cell(t.seed), [csv_cell(numeric_value(v)) for _, v in t.overrides])
                for t in tasks}
    n_params = len(tasks[0].overrides) if tasks else 0
    kept: list[str] = []
    seen: set[tuple[int, int]] = set()
    dropped = {"garbled": 0, "outside the grid": 0, "duplicate": 0}
    for line in lines:
        fields = _fields(line)
        if fields is None or len(fields) != len(columns) or not _well_formed(fields, columns, n_params):
            dropped["garbled"] += 1
            continue
        key = (int(fields[0]), int(fields[1]))
        want = expected.get(key)
        if want is None or fields[2] != want[0] or fields[3:3 + n_params] != want[1]:
            dropped["outside the grid"] += 1
            continue
        if key in seen:
            dropped["duplicate"] += 1
            continue
        seen.add(key)
        kept.append(str(line))
    return kept, dropped


def _well_formed(fields: list[str], columns: list[str], n_params: int) -> bool:
    for k, (name, value) in enumerate(zip(columns, fields)):
        if k < 3 or name in _INT_COLUMNS:
            if not (value.isascii() and value.isdigit()):
                return False
        elif name == "engine":
            if not value or not value.replace("-", "").isalnum():
                return False
        elif k < 3 + n_params:
            continue                            # a parameter value: compared with the grid point's
        elif value != "":
            try:
                if not math.isfinite(float(value)):
                    return False
            except ValueError:
                return False
    return True


# -- binding a sweep.csv to its scenario ---------------------------------------------------------------
def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=repr, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sweep_binding(scenario: Scenario, engine: str = "auto") -> dict[str, Any]:
    """What a sweep.csv's rows depend on: the scenario (a hash per top-level key, the sweep: section
    aside), the grid (parameters, values, replications), the engine and mtasim's version. Stored in
    sweep.json and compared by ``--resume``."""
    data = scenario.data if isinstance(scenario.data, dict) else {"": scenario.data}
    sections = {str(k): _digest(v) for k, v in data.items() if k != "sweep"}
    spec = scenario.sweep
    points = [[(p, numeric_value(v)) for p, v in point.items()] for point in spec.points()]
    return {"scenario_sha256": _digest(sections), "sections": sections,
            "grid_sha256": _digest(points), "parameters": list(spec.paths), "replications": spec.replications,
            "engine": engine, "mtasim": __version__}


def _binding_changes(old: Any, new: dict[str, Any]) -> list[str]:
    if not isinstance(old, dict):
        return ["(sweep.json records no scenario)"]
    changes = []
    old_sections = old.get("sections") if isinstance(old.get("sections"), dict) else {}
    for key in sorted(set(old_sections) | set(new["sections"])):
        if old_sections.get(key) != new["sections"].get(key):
            what = "added" if key not in old_sections else "removed" if key not in new["sections"] else "changed"
            changes.append(f"scenario key {key!r} {what}")
    if old.get("parameters") != new["parameters"]:
        changes.append(f"grid parameters {old.get('parameters')} -> {new['parameters']}")
    elif old.get("grid_sha256") != new["grid_sha256"]:
        changes.append("grid values changed")
    if old.get("replications") != new["replications"]:
        changes.append(f"replications {old.get('replications')} -> {new['replications']}")
    if old.get("engine") != new["engine"]:
        changes.append(f"engine {old.get('engine')} -> {new['engine']}")
    if old.get("mtasim") != new["mtasim"]:
        changes.append(f"mtasim version {old.get('mtasim')} -> {new['mtasim']}")
    return changes


Executor = Callable[[list[SweepTask]], Iterator[dict[str, Any]]]


def serial_executor(tasks: list[SweepTask]) -> Iterator[dict[str, Any]]:
    for task in tasks:
        yield run_task(task)


def process_executor(workers: int) -> Executor:
    """A process pool. Its workers leave Ctrl-C and SIGTERM to this process, which ends them when it is
    interrupted, and exit by themselves when this process dies (they poll their parent)."""
    def run(tasks: list[SweepTask]) -> Iterator[dict[str, Any]]:
        pool = ProcessPoolExecutor(max_workers=workers, initializer=worker_init, initargs=(os.getpid(),))
        finished_cleanly = False
        try:
            pending = set()
            queue = iter(tasks)
            for task in queue:            # keep a bounded number of tasks in flight
                pending.add(pool.submit(run_task, task))
                if len(pending) >= 4 * workers:
                    break
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield future.result()
                    nxt = next(queue, None)
                    if nxt is not None:
                        pending.add(pool.submit(run_task, nxt))
            finished_cleanly = True
        finally:
            if finished_cleanly:
                pool.shutdown()
            else:                         # interrupted or failed: end the workers now, not after their tasks
                end_pool(pool)
    return run


class DaskExecutor:
    """Runs tasks on a Dask distributed cluster; connects when created, so an unreachable scheduler is
    reported before anything is written. ``local`` starts a LocalCluster of worker processes,
    ``inprocess`` one inside this process (for tests)."""

    def __init__(self, address: str, workers: int, timeout_s: float = 5.0):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise SweepError("--dask needs the optional dependency: pip install 'mtasim[dask]'") from None
        self.cluster = None
        try:
            with _quiet_dask():
                if address in ("local", "inprocess"):
                    # Ctrl-C or SIGTERM held while the cluster starts (interrupted part way, it is left to
                    # Dask's exit handler, which fails on it with a traceback), raised once it can be closed
                    held = hold_signals()
                    try:
                        self.cluster = LocalCluster(n_workers=workers if address == "local" else 1,
                                                    threads_per_worker=1 if address == "local" else workers,
                                                    processes=address == "local", dashboard_address=None,
                                                    # its HTTP server (always started) on a free port: no
                                                    # clash, and no warning, with another cluster's 8787
                                                    scheduler_kwargs={"dashboard_address": ":0"})
                        self.client = Client(self.cluster)
                    finally:
                        try:
                            release_signals(held)
                        except KeyboardInterrupt:
                            self.close()
                            raise
                else:
                    self.client = Client(address, timeout=f"{timeout_s}s")
        except (OSError, TimeoutError) as exc:
            self.close()
            detail = str(exc).splitlines()[0] if str(exc) else "timed out"
            raise SweepError(f"--dask {address}: cannot reach the scheduler ({exc.__class__.__name__}: "
                             f"{detail})") from None

    def __call__(self, tasks: list[SweepTask]) -> Iterator[dict[str, Any]]:
        from distributed import as_completed

        finished = False
        try:
            for future in as_completed(self.client.map(run_task, tasks, pure=False)):
                yield future.result()
            finished = True
        finally:
            if not finished:              # interrupted or failed: end local workers now, not after their tasks
                self._end_local_workers()

    def _end_local_workers(self) -> None:
        """A local cluster's worker processes ended at once (as :func:`end_pool` does for a pool): its
        own close waits seconds for the tasks they are running. Their nannies are told first, so that
        they do not start new workers in their place."""
        for nanny in list(getattr(self.cluster, "workers", {}).values()):
            pid = getattr(nanny, "pid", None)
            if not isinstance(pid, int):
                continue
            try:
                nanny.close_gracefully()
                os.kill(pid, signal.SIGKILL)
            except (OSError, AttributeError):
                pass

    def close(self) -> None:
        if getattr(self, "client", None) is not None:
            self.client.close()
            self.client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None


@contextmanager
def _quiet_dask() -> Iterator[None]:
    """Dask's own log lines (a worker's cancelled task when the sweep is interrupted, ...) kept off stderr,
    which holds mtasim's one line: the ``distributed`` logger of this process, and of the worker processes
    a local cluster starts meanwhile (they read DASK_LOGGING__DISTRIBUTED when they import distributed),
    log only what stops them (a task's failure reaches mtasim as its exception, and is reported once)."""
    logging.getLogger("distributed").setLevel(logging.CRITICAL)
    key = "DASK_LOGGING__DISTRIBUTED"
    before = os.environ.get(key)
    os.environ.setdefault(key, "critical")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"distributed(\.|$)")
            yield
    finally:
        if before is None:
            os.environ.pop(key, None)


def dask_executor(address: str, workers: int, timeout_s: float = 5.0) -> DaskExecutor:
    """A :class:`DaskExecutor` (call ``close()`` when done, or use :func:`run_sweep`, which does)."""
    return DaskExecutor(address, workers, timeout_s)


def run_sweep(scenario: Scenario, out_dir: str | Path, *, executor: Executor = serial_executor,
              resume: bool = False, progress: bool | None = None, engine: str = "auto",
              report: Callable[[str], None] | None = None, planned: list | None = None) -> Path:
    """Run every missing (point, replication) of the scenario's sweep, appending rows to sweep.csv.
    ``resume``: continue the sweep.csv in ``out_dir``, only if the same scenario, grid, engine and mtasim
    version wrote it (see :func:`sweep_binding`); its invalid rows are dropped and ``report`` is told
    how many rows were kept. ``planned``: :func:`plan_sweep`'s tasks when the caller validated them
    already (the command line does, before it starts a pool or a Dask cluster)."""
    try:
        return _run_sweep(scenario, Path(out_dir), executor, resume, progress, engine, report, planned)
    finally:
        close = getattr(executor, "close", None)
        if close is not None:
            close()


def _run_sweep(scenario: Scenario, out: Path, executor: Executor, resume: bool, progress: bool | None,
               engine: str, report: Callable[[str], None] | None = None, planned: list | None = None) -> Path:
    tasks = [SweepTask(t.point, t.replication, t.seed, t.overrides, t.data, t.source, engine, t.limits)
             for t in (planned if planned is not None else plan_sweep(scenario, out))]
    columns = columns_for(scenario)
    path = out / "sweep.csv"
    try:
        check_output_dir("--out", out)
    except OutputError as exc:
        raise SweepError(str(exc)) from None
    if path.exists() and not resume:
        raise SweepError(f"{path} exists; use --resume to continue that sweep or choose another --out")
    binding = sweep_binding(scenario, engine)
    out.mkdir(parents=True, exist_ok=True)
    with _SweepLock(out):
        if path.exists() and not resume:      # written meanwhile by another sweep
            raise SweepError(f"{path} exists; use --resume to continue that sweep or choose another --out")
        done = _prepare_resume(path, out, columns, tasks, binding, report) if resume else set()
        todo = [t for t in tasks if (t.point, t.replication) not in done]
        spec = scenario.sweep
        meta = {"scenario": scenario.name, "source": scenario.source, "parameters": spec.paths,
                "duration_parameters": spec.duration_paths,
                "points": spec.size(), "replications": spec.replications, "runs": len(tasks),
                "binding": binding}
        atomic_write(out / "sweep.json", lambda f: f.write(json.dumps(meta, indent=2) + "\n"))
        new_file = not path.exists() or path.stat().st_size == 0
        with open(path, "a", encoding="utf-8", newline="") as f:
            if new_file:
                f.write(format_row(dict(zip(columns, columns)), columns))
                f.flush()
            bar = _progress(len(tasks), len(done), progress)
            try:
                for row in executor(todo) if todo else ():
                    f.write(format_row(row, columns))   # one write per row: whole rows only
                    f.flush()
                    if bar is not None:
                        bar.update(1)
            finally:
                if bar is not None:
                    bar.close()
    return path


def _prepare_resume(path: Path, out: Path, columns: list[str], tasks: list[SweepTask], binding: dict[str, Any],
                    report: Callable[[str], None] | None) -> set[tuple[int, int]]:
    """Check that sweep.csv was written by this very sweep, keep its valid rows (rewriting it without the
    others) and return their (point, replication)."""
    header, lines, torn = _split(path)
    if header is None:
        if torn:
            atomic_write(path, lambda f: None)
        return set()
    if header != columns:
        raise SweepError(f"{path}: written by a different sweep (its columns differ); choose another --out")
    meta_path = out / "sweep.json"
    unbound = not meta_path.exists()        # a sweep.csv copied alone: its rows are checked against the grid
    if not unbound:
        try:
            old = json.loads(meta_path.read_text(encoding="utf-8")).get("binding")
        except (OSError, ValueError, AttributeError):
            old = None
        if not isinstance(old, dict):
            raise SweepError(f"{meta_path}: does not record which scenario, grid and mtasim version wrote "
                             f"{path.name} (unreadable, or written by an older mtasim); --resume cannot tell "
                             f"its rows from another scenario's: choose another --out")
    changes = [] if unbound else _binding_changes(old, binding)
    if changes:
        raise SweepError(f"{path}: written for another scenario or grid ({'; '.join(changes)}); --resume "
                         f"continues the same scenario only: choose another --out")
    kept, dropped = check_rows(lines, columns, tasks)
    if torn or any(dropped.values()):
        body = format_row(dict(zip(columns, columns)), columns) + "".join(line + "\n" for line in kept)
        atomic_write(path, lambda f: f.write(body))
    if report is not None:
        gone = sum(dropped.values())
        detail = ", ".join(f"{n} {why}" for why, n in dropped.items() if n)
        report(f"resuming {path}: kept {len(kept):,} of its rows"
               + (f", dropped {gone:,} ({detail})" if gone else "")
               + (", cut off a torn last line" if torn else "")
               + (" (no sweep.json: rows checked against the grid and seeds only)" if unbound else "")
               + f"; {len(tasks) - len(kept):,} of {len(tasks):,} runs to go")
    return {(int(line.split(",", 2)[0]), int(line.split(",", 2)[1])) for line in kept}


class _SweepLock:
    """An exclusive lock on ``DIR/.sweep.lock`` while a sweep writes to DIR: a second sweep (or --resume)
    into the same folder is refused instead of duplicating rows. The lock file is removed at the end."""

    def __init__(self, out: Path):
        self.path = out / ".sweep.lock"
        self.fd: int | None = None

    def __enter__(self) -> _SweepLock:
        import fcntl
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as exc:
                raise SweepError(f"--out {self.path.parent}: cannot write there: {exc.strerror or exc}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise SweepError(f"--out {self.path.parent}: another mtasim sweep is writing there (it holds "
                                 f"{self.path.name}); wait for it to finish or choose another --out") from None
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:                      # else the holder removed the file as we opened it: try again
                self.fd = fd
                return self
            os.close(fd)

    def __exit__(self, *exc: Any) -> None:
        if self.fd is not None:
            try:
                os.unlink(self.path)
            except OSError:
                pass
            os.close(self.fd)
            self.fd = None


def _progress(total: int, done: int, enabled: bool | None):
    return progress_bar(total, unit="run", desc="sweep", enabled=enabled, initial=done)


def read_sweep(path: str | Path) -> list[dict[str, str]]:
    """The rows of a sweep.csv as dicts of strings."""
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))

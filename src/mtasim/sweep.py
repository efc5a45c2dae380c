"""Sweeps: every grid point x replication of a scenario's ``sweep:`` section, one CSV row per run.

Replication r runs with seed ``scenario.seed + r`` at every grid point (common random numbers), so
points differ by their parameters, not by noise, and any row is reproduced by ``mtasim run --seed``.
A run is a pure function of (scenario data, overrides, seed): serial, process-pool and Dask runs give
the same rows. Rows are appended as runs finish, each written whole, so an interrupted sweep keeps
every finished row and ``resume`` runs only the missing ones.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import ConfigError
from .curve import replication_seed
from .engine import simulate
from .grid import numeric_value
from .results import atomic_write, csv_cell
from .scenario import Scenario, scenario_from_dict, with_overrides

__all__ = ["SweepTask", "plan_sweep", "run_task", "run_sweep", "SUMMARY_COLUMNS", "SweepError"]

SUMMARY_COLUMNS = (
    "engine", "messages", "delivered", "expired", "bounced", "queued", "fraction_delivered", "attempts",
    "attempts_per_message", "delay_warnings", "latency_p50_s", "latency_p90_s", "latency_p99_s",
    "latency_max_s", "recovery_lag_p50_s", "recovery_lag_p95_s", "recovery_lag_max_s",
)


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


def plan_sweep(scenario: Scenario) -> list[SweepTask]:
    """All tasks, grid point by grid point; every point is validated before anything runs."""
    spec = scenario.sweep
    if spec is None:
        raise ConfigError(scenario.source, "sweep", "expected a sweep: section (parameter paths and values)")
    tasks = []
    for index, point in enumerate(spec.points()):
        with_overrides(scenario, point, what="sweep")
        for r in range(spec.replications):
            tasks.append(SweepTask(index, r, replication_seed(scenario.seed, r), tuple(point.items()),
                                   scenario.data, scenario.source))
    return tasks


def run_task(task: SweepTask) -> dict[str, Any]:
    """One run -> one row (a plain dict of numbers and strings)."""
    base = scenario_from_dict(task.data, task.source)
    scenario = with_overrides(base, dict(task.overrides), what="sweep")
    summary = simulate(scenario, task.seed, engine=task.engine).summary()
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
    """(point, replication) of the complete rows already in ``path``; a torn last line is cut off."""
    if not path.exists():
        return set()
    raw = path.read_bytes()
    if raw and not raw.endswith(b"\n"):
        with open(path, "r+b") as f:
            f.truncate(raw.rfind(b"\n") + 1)
        raw = raw[: raw.rfind(b"\n") + 1]
    lines = raw.decode("utf-8").splitlines()
    if not lines:
        return set()
    header = next(csv.reader([lines[0]]))
    if header != columns:
        raise SweepError(f"{path}: written by a different sweep (its columns differ); choose another --out")
    done = set()
    for fields in csv.reader(lines[1:]):
        if len(fields) == len(columns):
            done.add((int(fields[0]), int(fields[1])))
    return done


Executor = Callable[[list[SweepTask]], Iterator[dict[str, Any]]]


def serial_executor(tasks: list[SweepTask]) -> Iterator[dict[str, Any]]:
    for task in tasks:
        yield run_task(task)


def process_executor(workers: int) -> Executor:
    def run(tasks: list[SweepTask]) -> Iterator[dict[str, Any]]:
        with ProcessPoolExecutor(max_workers=workers) as pool:
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
            if address in ("local", "inprocess"):
                self.cluster = LocalCluster(n_workers=workers if address == "local" else 1,
                                            threads_per_worker=1 if address == "local" else workers,
                                            processes=address == "local", dashboard_address=None)
                self.client = Client(self.cluster)
            else:
                self.client = Client(address, timeout=f"{timeout_s}s")
        except (OSError, TimeoutError) as exc:
            self.close()
            detail = str(exc).splitlines()[0] if str(exc) else "timed out"
            raise SweepError(f"--dask {address}: cannot reach the scheduler ({exc.__class__.__name__}: "
                             f"{detail})") from None

    def __call__(self, tasks: list[SweepTask]) -> Iterator[dict[str, Any]]:
        from distributed import as_completed

        for future in as_completed(self.client.map(run_task, tasks, pure=False)):
            yield future.result()

    def close(self) -> None:
        if getattr(self, "client", None) is not None:
            self.client.close()
            self.client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None


def dask_executor(address: str, workers: int, timeout_s: float = 5.0) -> DaskExecutor:
    """A :class:`DaskExecutor` (call ``close()`` when done, or use :func:`run_sweep`, which does)."""
    return DaskExecutor(address, workers, timeout_s)


def run_sweep(scenario: Scenario, out_dir: str | Path, *, executor: Executor = serial_executor,
              resume: bool = False, progress: bool | None = None, engine: str = "auto") -> Path:
    """Run every missing (point, replication) of the scenario's sweep, appending rows to sweep.csv."""
    try:
        return _run_sweep(scenario, Path(out_dir), executor, resume, progress, engine)
    finally:
        close = getattr(executor, "close", None)
        if close is not None:
            close()


def _run_sweep(scenario: Scenario, out: Path, executor: Executor, resume: bool, progress: bool | None,
               engine: str) -> Path:
    tasks = [SweepTask(t.point, t.replication, t.seed, t.overrides, t.data, t.source, engine)
             for t in plan_sweep(scenario)]
    columns = columns_for(scenario)
    path = out / "sweep.csv"
    if path.exists() and not resume:
        raise SweepError(f"{path} exists; use --resume to continue that sweep or choose another --out")
    if out.exists() and not out.is_dir():
        raise SweepError(f"--out {out}: exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    done = read_done(path, columns)
    todo = [t for t in tasks if (t.point, t.replication) not in done]
    spec = scenario.sweep
    meta = {"scenario": scenario.name, "source": scenario.source, "parameters": spec.paths,
            "duration_parameters": spec.duration_paths,
            "points": spec.size(), "replications": spec.replications, "runs": len(tasks)}
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


def _progress(total: int, done: int, enabled: bool | None):
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None
    from tqdm import tqdm
    return tqdm(total=total, initial=done, unit="run", desc="sweep", file=sys.stderr)


def read_sweep(path: str | Path) -> list[dict[str, str]]:
    """The rows of a sweep.csv as dicts of strings."""
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))

"""Sweeps: the plan (common random numbers), identical rows under every executor, resume, interruption,
row values, bad input through the CLI, and value ranges."""

from __future__ import annotations

import copy
import csv
import time

import pytest
from conftest import HOUR

import mtasim
from mtasim.cli import main
from mtasim.grid import parse_range
from mtasim.scenario import with_overrides
from mtasim.sweep import (
    SUMMARY_COLUMNS,
    SweepError,
    dask_executor,
    plan_sweep,
    process_executor,
    run_sweep,
    run_task,
    serial_executor,
)

# A small sweep with random draws (uniform arrivals, full-jitter retries): 3 x 2 grid x 2 replications.
RANDOM_SWEEP = {
    "name": "small sweep", "seed": 40,
    "sender": {"schedule": {"kind": "exponential", "first": "5m", "factor": 2, "max": "2h", "jitter": "full"},
               "expiry": "1d"},
    "messages": {"count": 60, "arrival": {"kind": "uniform", "start": 0, "end": "6h"}},
    "recipients": [{"domain": "r.example", "outages": [{"start": "1h", "end": "8h"}]}],
    "sweep": {"sender.expiry": "6h..18h/6h", "recipients[0].outages[0].end": ["4h", "12h"], "replications": 2},
}

# Hand-computable: fixed 1 h retries, last-attempt, messages at 0, 1h, ..., 9h, one outage [0, O).
HAND_SWEEP = {
    "name": "hand sweep", "seed": 3,
    "sender": {"schedule": {"kind": "fixed", "interval": "1h"}, "expiry": "1d"},
    "messages": {"arrival": {"kind": "times", "times": [f"{k}h" for k in range(10)]}},
    "recipients": [{"domain": "r.example", "outages": [{"start": 0, "end": "10h"}]}],
    "sweep": {"sender.expiry": ["5h", "9h", 32401], "recipients[0].outages[0].end": ["5h", "10h"]},
}


def make(data, **sweep):
    d = copy.deepcopy(data)
    d["sweep"].update(sweep)
    return mtasim.scenario_from_dict(d)


def lines(path):
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def sorted_lines(path):
    return sorted(lines(path))


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# -- (1) plan ----------------------------------------------------------------------------------------------
def test_plan_has_grid_times_replications_tasks_with_common_seeds():
    """plan_sweep: one task per grid point x replication; replication r runs seed + r at every point."""
    sc = make(RANDOM_SWEEP, replications=3)
    tasks = plan_sweep(sc)
    assert len(tasks) == 3 * 2 * 3, f"expected 18 tasks (3 x 2 grid x 3 replications), got {len(tasks)}"
    assert {(t.point, t.replication) for t in tasks} == {(p, r) for p in range(6) for r in range(3)}, \
        "expected every (point, replication) exactly once"
    for t in tasks:
        assert t.seed == 40 + t.replication, f"point {t.point} replication {t.replication}: expected seed " \
                                             f"{40 + t.replication}, got {t.seed}"
    points = {t.point: dict(t.overrides) for t in tasks}
    expected = [{"sender.expiry": e, "recipients[0].outages[0].end": o}
                for e in (6 * HOUR, 12 * HOUR, 18 * HOUR) for o in ("4h", "12h")]
    assert [points[i] for i in range(6)] == expected, f"expected the first axis slowest: {expected}, got {points}"


# -- (2) executors agree ----------------------------------------------------------------------------------
def test_serial_process_and_dask_rows_identical(tmp_path):
    """Serial, a 2-process pool and an in-process Dask cluster write byte-identical rows (sorted)."""
    sc = make(RANDOM_SWEEP)
    serial = run_sweep(sc, tmp_path / "serial", executor=serial_executor, progress=False)
    pool = run_sweep(sc, tmp_path / "pool", executor=process_executor(2), progress=False)
    dask = run_sweep(sc, tmp_path / "dask", executor=dask_executor("inprocess", 2), progress=False)
    reference = sorted_lines(serial)
    assert len(reference) == 1 + 12, f"expected header + 12 rows, got {len(reference)} lines"
    assert sorted_lines(pool) == reference, "process-pool rows differ from the serial rows"
    assert sorted_lines(dask) == reference, "Dask rows differ from the serial rows"
    assert lines(serial)[0] == lines(pool)[0] == lines(dask)[0], "headers differ between executors"


# -- (3) resume ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("keep", [0, 5])
def test_resume_after_torn_write_equals_uninterrupted(tmp_path, keep):
    """Resume after a torn last line: the finished file (sorted) equals an uninterrupted sweep's."""
    sc = make(RANDOM_SWEEP)
    full = run_sweep(sc, tmp_path / "full", progress=False)
    all_lines = lines(full)
    part_dir = tmp_path / "part"
    part_dir.mkdir()
    half = all_lines[1 + keep][: len(all_lines[1 + keep]) // 2]
    (part_dir / "sweep.csv").write_text("".join(all_lines[: 1 + keep]) + half, encoding="utf-8")
    resumed = run_sweep(sc, part_dir, resume=True, progress=False)
    got = lines(resumed)
    assert sorted(got) == sorted(all_lines), f"expected the {len(all_lines)} lines of the full sweep, got {got}"
    assert got[: 1 + keep] == all_lines[: 1 + keep], "the rows kept before the interruption were changed"


def test_resume_of_complete_sweep_runs_nothing(tmp_path):
    """Resuming a finished sweep leaves sweep.csv byte for byte as it was."""
    sc = make(RANDOM_SWEEP)
    path = run_sweep(sc, tmp_path, progress=False)
    before = path.read_bytes()

    def must_not_run(tasks):
        assert not tasks, f"expected nothing left to run, got {len(tasks)} tasks"
        yield from ()
    run_sweep(sc, tmp_path, resume=True, executor=must_not_run, progress=False)
    assert path.read_bytes() == before, "a resumed complete sweep changed sweep.csv"


def test_existing_sweep_csv_refused_without_resume(tmp_path, capsys):
    """Without resume an existing sweep.csv is refused (SweepError; CLI exit 2, one line) and left untouched."""
    sc = make(RANDOM_SWEEP)
    path = run_sweep(sc, tmp_path / "out", progress=False)
    before = path.read_bytes()
    with pytest.raises(SweepError, match="exists"):
        run_sweep(sc, tmp_path / "out", progress=False)
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml_text(RANDOM_SWEEP), encoding="utf-8")
    code = main(["sweep", str(spec), "--out", str(tmp_path / "out"), "--no-progress"])
    _, err = capsys.readouterr()
    assert code == 2, f"expected exit 2, got {code}"
    assert len(err.strip().splitlines()) == 1 and err.startswith("mtasim: "), f"expected one line, got {err!r}"
    assert "--resume" in err, f"expected a hint at --resume in {err!r}"
    assert path.read_bytes() == before, "the refused sweep changed sweep.csv"


def test_resume_refuses_sweep_csv_with_other_columns(tmp_path):
    """Resume refuses a sweep.csv whose header is not this sweep's columns, and leaves it alone."""
    (tmp_path / "sweep.csv").write_text("point,replication,seed,other.path,delivered\n0,0,40,1,5\n")
    before = (tmp_path / "sweep.csv").read_bytes()
    with pytest.raises(SweepError, match="columns"):
        run_sweep(make(RANDOM_SWEEP), tmp_path, resume=True, progress=False)
    assert (tmp_path / "sweep.csv").read_bytes() == before, "the foreign sweep.csv was changed"


# -- (4) interrupted executor ----------------------------------------------------------------------------
def interrupted_executor(tasks):
    for task in tasks[:3]:
        yield run_task(task)
    raise KeyboardInterrupt


def assert_whole_rows(path, columns, rows):
    raw = path.read_text(encoding="utf-8")
    assert raw.endswith("\n"), f"expected sweep.csv to end with a newline, got ...{raw[-40:]!r}"
    parsed = list(csv.reader(raw.splitlines()))
    assert parsed[0] == columns, f"expected header {columns}, got {parsed[0]}"
    assert len(parsed) == 1 + rows, f"expected header + {rows} rows, got {len(parsed)} lines"
    for fields in parsed[1:]:
        assert len(fields) == len(columns), f"expected {len(columns)} fields, got {len(fields)}: {fields}"


def test_interrupted_executor_leaves_only_whole_rows(tmp_path):
    """KeyboardInterrupt mid-sweep: sweep.csv holds the 3 finished rows, whole, and resume completes it."""
    sc = make(RANDOM_SWEEP)
    columns = ["point", "replication", "seed", "sender.expiry", "recipients[0].outages[0].end", *SUMMARY_COLUMNS]
    with pytest.raises(KeyboardInterrupt):
        run_sweep(sc, tmp_path / "x", executor=interrupted_executor, progress=False)
    assert_whole_rows(tmp_path / "x" / "sweep.csv", columns, 3)
    run_sweep(sc, tmp_path / "x", resume=True, progress=False)
    full = run_sweep(sc, tmp_path / "full", progress=False)
    assert sorted_lines(tmp_path / "x" / "sweep.csv") == sorted_lines(full), \
        "interrupted + resumed sweep differs from an uninterrupted one"


def test_cli_interrupted_sweep_exit_130_whole_rows(tmp_path, capsys, monkeypatch):
    """The CLI reports an interrupted sweep on one line with exit 130; rows written so far are whole."""
    import mtasim.sweep
    monkeypatch.setattr(mtasim.sweep, "serial_executor", interrupted_executor)
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml_text(RANDOM_SWEEP), encoding="utf-8")
    code = main(["sweep", str(spec), "--out", str(tmp_path / "out"), "--no-progress"])
    _, err = capsys.readouterr()
    assert code == 130, f"expected exit 130, got {code}"
    assert err.startswith("mtasim: ") and len(err.strip().splitlines()) == 1, f"expected one line, got {err!r}"
    columns = ["point", "replication", "seed", "sender.expiry", "recipients[0].outages[0].end", *SUMMARY_COLUMNS]
    assert_whole_rows(tmp_path / "out" / "sweep.csv", columns, 3)


# -- (5) row values ----------------------------------------------------------------------------------------
def test_duration_axis_written_in_seconds(tmp_path):
    """Duration values of an axis (12h, 1d, a range) are written as seconds; the CSV header names the paths."""
    sc = make(RANDOM_SWEEP, **{"sender.expiry": ["12h", "1d"]})
    rows = read_rows(run_sweep(sc, tmp_path, progress=False))
    assert sorted({r["sender.expiry"] for r in rows}) == ["43200", "86400"], \
        f"expected expiry 43200 and 86400 s, got {sorted({r['sender.expiry'] for r in rows})}"
    assert sorted({r["recipients[0].outages[0].end"] for r in rows}) == ["14400", "43200"], \
        f"expected outage ends 14400 and 43200 s, got {sorted({r['recipients[0].outages[0].end'] for r in rows})}"
    rows = read_rows(run_sweep(make(RANDOM_SWEEP), tmp_path / "range", progress=False))
    assert sorted({float(r["sender.expiry"]) for r in rows}) == [21600.0, 43200.0, 64800.0], \
        "expected the range 6h..18h/6h as 21600, 43200, 64800 s"


def test_row_delivered_matches_hand_answer(tmp_path):
    """Hand check: with outage [0, O) and 1 h retries, the message at k h has its last failure at age
    (O - k - 1) h, so delivered(E, O) = #{k : k >= O or (O - k - 1) h < E}."""
    rows = read_rows(run_sweep(mtasim.scenario_from_dict(HAND_SWEEP), tmp_path, progress=False))
    assert len(rows) == 6, f"expected 6 rows, got {len(rows)}"
    for r in rows:
        e, o = float(r["sender.expiry"]), float(r["recipients[0].outages[0].end"]) / HOUR
        expected = sum(1 for k in range(10) if k >= o or (o - k - 1) * HOUR < e)
        assert int(r["delivered"]) == expected, f"E={e:g}s O={o:g}h: expected {expected} delivered, got {r['delivered']}"
        assert int(r["expired"]) == 10 - expected, f"E={e:g}s O={o:g}h: expected {10 - expected} expired, got {r['expired']}"
        assert int(r["seed"]) == 3 and int(r["messages"]) == 10, f"unexpected row {r}"
    table = {(float(r["sender.expiry"]), float(r["recipients[0].outages[0].end"])): int(r["delivered"]) for r in rows}
    assert table == {(18000.0, 18000.0): 10, (18000.0, 36000.0): 5, (32400.0, 18000.0): 10, (32400.0, 36000.0): 9,
                     (32401.0, 18000.0): 10, (32401.0, 36000.0): 10}, f"got {table}"


def test_row_equals_simulate_with_overrides(tmp_path):
    """Every row's counts equal mtasim.simulate(with_overrides(scenario, point), seed + replication)."""
    sc = make(RANDOM_SWEEP)
    rows = read_rows(run_sweep(sc, tmp_path, progress=False))
    points = sc.sweep.points()
    for r in rows:
        point = points[int(r["point"])]
        result = mtasim.simulate(with_overrides(sc, point), int(r["seed"]))
        counts = result.counts()
        got = {k: int(r[k]) for k in ("delivered", "expired", "bounced", "queued")}
        assert got == counts, f"point {point} seed {r['seed']}: expected {counts}, got {got}"
        assert int(r["seed"]) == 40 + int(r["replication"]), f"expected seed 40 + replication, got {r['seed']}"
        assert float(r["fraction_delivered"]) == pytest.approx(counts["delivered"] / len(result.messages))


# -- (6) bad input through the CLI ----------------------------------------------------------------------
def yaml_text(data):
    import yaml
    return yaml.safe_dump(data, sort_keys=False)


def with_sweep(sweep):
    d = copy.deepcopy(RANDOM_SWEEP)
    if sweep is None:
        del d["sweep"]
    else:
        d["sweep"] = sweep
    return d


BAD_SWEEPS = [
    ("misspelt-path", {"sender.expiy": ["1d", "2d"]}, ["sender.expiy", "'expiry'"]),
    ("missing-list-item", {"recipients[3].outages[0].end": ["5h"]}, ["recipients[3]", "no item [3]"]),
    ("missing-outage-item", {"recipients[0].outages[2].end": ["5h"]}, ["recipients[0].outages[2]", "no item [2]"]),
    ("bad-value", {"sender.expiry": ["1d", "soon"]}, ["sender.expiry", "soon"]),
    ("empty-list", {"sender.expiry": []}, ["sender.expiry", "at least one value"]),
    ("reversed-range", {"sender.expiry": "72h..12h/12h"}, ["sender.expiry", "reversed"]),
    ("zero-step", {"sender.expiry": "12h..72h/0h"}, ["sender.expiry", "> 0"]),
    ("replications-zero", {"sender.expiry": ["1d"], "replications": 0}, ["replications", ">= 1"]),
    ("no-axes", {"replications": 2}, ["sweep", "at least one parameter"]),
    ("no-sweep-section", None, ["sweep"]),
]


@pytest.mark.parametrize("name,sweep,needles", BAD_SWEEPS, ids=[b[0] for b in BAD_SWEEPS])
def test_cli_bad_sweep_exit_2_one_line_no_csv(tmp_path, capsys, name, sweep, needles):
    """Bad sweep input: exit 2, one 'mtasim: ' line naming the key, and no sweep.csv written."""
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml_text(with_sweep(sweep)), encoding="utf-8")
    out = tmp_path / "out"
    code = main(["sweep", str(spec), "--out", str(out), "--no-progress"])
    _stdout, err = capsys.readouterr()
    assert code == 2, f"{name}: expected exit 2, got {code}"
    err_lines = err.strip().splitlines()
    assert len(err_lines) == 1 and err_lines[0].startswith("mtasim: "), f"{name}: expected one line, got {err!r}"
    for needle in needles:
        assert needle in err_lines[0], f"{name}: expected {needle!r} in {err_lines[0]!r}"
    assert not (out / "sweep.csv").exists(), f"{name}: sweep.csv written despite the error"


def test_cli_dask_unreachable_exit_2_quickly(tmp_path, capsys):
    """--dask at an address where nothing listens: exit 2, one line, within seconds, no sweep.csv."""
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml_text(RANDOM_SWEEP), encoding="utf-8")
    out = tmp_path / "out"
    started = time.monotonic()
    code = main(["sweep", str(spec), "--out", str(out), "--dask", "tcp://127.0.0.1:9", "--no-progress"])
    elapsed = time.monotonic() - started
    _, err = capsys.readouterr()
    assert code == 2, f"expected exit 2, got {code}"
    err_lines = err.strip().splitlines()
    assert len(err_lines) == 1 and err_lines[0].startswith("mtasim: "), f"expected one line, got {err!r}"
    assert "127.0.0.1:9" in err_lines[0], f"expected the address in {err_lines[0]!r}"
    assert elapsed < 30, f"expected to give up within ~15 s, took {elapsed:.1f} s"
    assert not (out / "sweep.csv").exists(), \
        f"sweep.csv written although no run could start: {(out / 'sweep.csv').read_text()!r}"


def test_cli_sweep_prints_and_writes(tmp_path, capsys):
    """A good `mtasim sweep` exits 0, says how many runs, and writes sweep.csv with one row per run."""
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml_text(RANDOM_SWEEP), encoding="utf-8")
    code = main(["sweep", str(spec), "--out", str(tmp_path / "out"), "--no-progress", "--workers", "2"])
    stdout, err = capsys.readouterr()
    assert code == 0, f"expected exit 0, got {code}: {err}"
    assert "12 runs" in stdout, f"expected '12 runs' in {stdout!r}"
    assert len(read_rows(tmp_path / "out" / "sweep.csv")) == 12, "expected 12 rows"


# -- (7) ranges ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,expected", [
    ("12h..72h/12h", [43200.0, 86400.0, 129600.0, 172800.0, 216000.0, 259200.0]),
    ("1..3/0.5", [1.0, 1.5, 2.0, 2.5, 3.0]),
    ("0..1h/30m", [0.0, 1800.0, 3600.0]),
    ("1h..1h/1h", [3600.0]),
    ("1h..2h30m/1h", [3600.0, 7200.0]),
    (" 30m .. 90m / 30m ", [1800.0, 3600.0, 5400.0]),
])
def test_parse_range_values(text, expected):
    """start..end/step: values in seconds (or plain numbers), end included when on the grid."""
    got = parse_range(text)
    assert got == pytest.approx(expected), f"{text!r}: expected {expected}, got {got}"


def test_parse_range_inclusive_end_with_inexact_step():
    """0..0.3/0.1 includes the end although 0.3/0.1 is a hair under 3 in floating point."""
    got = parse_range("0..0.3/0.1")
    assert got == pytest.approx([0.0, 0.1, 0.2, 0.3]), f"expected 4 values 0..0.3, got {got}"


@pytest.mark.parametrize("text", ["72h..12h/12h", "1h..2h/0", "1h..2h/-1h", "soon..later/1h", "12h", "..5h/1h",
                                  "1h..2h"])
def test_parse_range_refuses_bad_ranges(text):
    """Reversed ranges, zero or negative steps and garbage are ValueErrors."""
    with pytest.raises(ValueError):
        parse_range(text)

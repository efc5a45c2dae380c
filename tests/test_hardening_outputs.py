"""Issue 12, the output side: every output path checked before the run, a command's files appear together
or not at all, an output folder holds one run's files, SIGTERM handled like SIGINT, pool workers die with
their parent, and ``sweep --resume`` bound to its scenario with its rows checked."""

from __future__ import annotations

import csv
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from mtasim.cli import main

TINY = {
    "name": "tiny", "seed": 1,
    "sender": {"schedule": {"kind": "fixed", "interval": "1h"}, "expiry": "3h"},
    "messages": {"count": 20, "arrival": {"kind": "uniform", "start": 0, "end": "2h"}},
    "recipients": [{"domain": "a.example", "outages": [{"start": 0, "end": "5h"}]}],
}
SWEEP = {**TINY, "sweep": {"sender.expiry": ["2h", "6h"], "recipients[0].outages[0].end": ["1h", "4h"],
                           "replications": 2}}
ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent / "src")}


def write(path: Path, data) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def one_line(err: str) -> str:
    assert err.startswith("mtasim: ") and len(err.strip().splitlines()) == 1, f"expected one line, got {err!r}"
    assert "Traceback" not in err
    return err


def cli(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# -- 1. where outputs go ---------------------------------------------------------------------------------
LONG = "n" * 300
BAD_PATHS = [
    ("out-under-file", ["run", "{s}", "--out", "{f}/x"], ["--out", "is a file"]),
    ("out-in-proc", ["run", "{s}", "--out", "/proc/mtasim-out"], ["--out", "/proc"]),
    ("out-in-sys", ["run", "{s}", "--out", "/sys/mtasim-out"], ["--out", "/sys"]),
    ("out-name-too-long", ["run", "{s}", "--out", "{d}/" + LONG], ["--out", "longer than the file system"]),
    ("log-missing-dir", ["run", "{s}", "--log", "{d}/missing/log.txt"], ["--log", "no such directory"]),
    ("log-in-proc", ["run", "{s}", "--log", "/proc/self/mtasim.log"], ["--log", "/proc"]),
    ("dsn-and-log-same", ["run", "{s}", "--dsn", "{d}/n", "--log", "{d}/n"], ["--log", "--dsn"]),
    ("log-is-an-out-file", ["run", "{s}", "--out", "{d}/o", "--log", "{d}/o/summary.json"], ["--log", "--out"]),
    ("dsn-is-a-file", ["run", "{s}", "--dsn", "{f}"], ["--dsn", "not a directory"]),
    ("curve-out-is-a-file", ["curve", "{s}", "--expiry", "1h,2h", "--out", "{f}"], ["--out", "not a directory"]),
    ("sweep-out-under-file", ["sweep", "{w}", "--out", "{f}/x"], ["--out", "is a file"]),
    ("plot-out-in-proc", ["plot", "timeline", "{d}", "--out", "/proc/mtasim.png"], ["--out", "/proc"]),
    ("tune-out-under-file", ["tune", "schedule", "{s}", "--family", "fixed", "--interval", "1h", "--out", "{f}/x"],
     ["--out", "is a file"]),
]


@pytest.mark.parametrize("argv,needles", [b[1:] for b in BAD_PATHS], ids=[b[0] for b in BAD_PATHS])
def test_bad_output_path_refused_before_the_run(tmp_path, capsys, argv, needles):
    """One line naming the flag and the path, exit 2, nothing written anywhere."""
    s, w = write(tmp_path / "s.yaml", TINY), write(tmp_path / "w.yaml", SWEEP)
    (tmp_path / "file").write_text("x")
    before = listing(tmp_path)
    subst = {"{s}": str(s), "{w}": str(w), "{f}": str(tmp_path / "file"), "{d}": str(tmp_path)}
    args = []
    for a in argv:
        for k, v in subst.items():
            a = a.replace(k, v)
        args.append(a)
    code, _, err = cli(args, capsys)
    assert code == 2, f"expected exit 2, got {code} ({err!r})"
    one_line(err)
    for needle in needles:
        assert needle in err, f"expected {needle!r} in {err!r}"
    assert listing(tmp_path) == before, "a refused command wrote files"


def test_read_only_output_folder_refused(tmp_path, capsys, monkeypatch):
    """A folder this user cannot write (simulated: the suite may run as root) is refused up front."""
    s = write(tmp_path / "s.yaml", TINY)
    ro = tmp_path / "ro"
    ro.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == ro else real_access(p, mode, **kw))
    code, _, err = cli(["run", s, "--out", ro / "out"], capsys)
    assert code == 2 and "--out" in one_line(err) and "not writable" in err
    assert not list(ro.iterdir())


def test_matplotlib_with_unwritable_home(tmp_path):
    """HOME under a regular file: matplotlib's folders cannot be made; mtasim uses a temporary one, silently."""
    s = write(tmp_path / "s.yaml", TINY)
    (tmp_path / "home").write_text("not a folder")
    env = {k: v for k, v in ENV.items() if k not in ("MPLCONFIGDIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")}
    env["HOME"] = str(tmp_path / "home")
    p = subprocess.run([sys.executable, "-m", "mtasim", "run", str(s), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stderr == "", f"expected nothing on stderr, got {p.stderr!r}"
    assert (tmp_path / "o" / "timeline.png").exists()


# -- 2. all or nothing -----------------------------------------------------------------------------------
def test_failing_log_leaves_no_outputs(tmp_path, capsys, monkeypatch):
    """--log fails after --out and --dsn are written: none of them appears, no scratch folder is left."""
    import mtasim.notices
    from mtasim.outputs import OutputError

    def fail(result, path):
        raise OutputError(f"--log {path}: No space left on device")
    monkeypatch.setattr(mtasim.notices, "write_log", fail)
    s = write(tmp_path / "s.yaml", TINY)
    before = listing(tmp_path)
    code, _, err = cli(["run", s, "--out", tmp_path / "o", "--dsn", tmp_path / "n", "--log", tmp_path / "l.txt"],
                       capsys)
    assert code == 2
    one_line(err)
    assert listing(tmp_path) == before, f"left behind: {listing(tmp_path) - before}"


def test_failing_curve_figure_leaves_no_curve_csv(tmp_path, capsys, monkeypatch):
    import mtasim.plots
    from mtasim.outputs import OutputError

    def fail(fig, path):
        raise OutputError("--out: No space left on device")
    monkeypatch.setattr(mtasim.plots, "save_figure", fail)
    s = write(tmp_path / "s.yaml", TINY)
    (tmp_path / "c").mkdir()
    code, _, err = cli(["curve", s, "--expiry", "1h,2h", "--out", tmp_path / "c"], capsys)
    assert code == 2
    one_line(err)
    assert not list((tmp_path / "c").iterdir()), "curve wrote part of its files"


def test_second_run_replaces_the_set(tmp_path, capsys):
    """A run without --attempts into a folder of a run with them leaves no attempts.csv (or qshape.txt);
    files mtasim does not write stay."""
    s = write(tmp_path / "s.yaml", TINY)
    out = tmp_path / "o"
    assert cli(["run", s, "--out", out, "--attempts", "--qshape", "1h", "--dsn", out / "n",
                "--log", out / "run.log"], capsys)[0] == 0
    (out / "notes.txt").write_text("mine")
    assert {"attempts.csv", "qshape.txt"} <= {p.name for p in out.iterdir()}
    assert cli(["run", s, "--out", out, "--seed", "2"], capsys)[0] == 0
    names = {p.name for p in out.iterdir()}
    assert "attempts.csv" not in names and "qshape.txt" not in names, names
    assert {"summary.json", "messages.csv", "outages.csv", "queue.csv", "timeline.png", "notes.txt"} <= names
    assert not any(n.startswith(".mtasim-") for n in names)
    assert json.loads((out / "summary.json").read_text())["seed"] == 2


# -- 3. signals ------------------------------------------------------------------------------------------
#: Exit status after each signal, as subprocess reports it. After Ctrl-C, CPython now and then ends the process
#: by SIGINT itself (-2) after mtasim has printed its line and returned 130 (about one run in 30 when the
#: signal lands as the run starts); a shell shows 130 for both.
EXIT_ON = {"SIGINT": (130, -signal.SIGINT), "SIGTERM": (143,)}


def _wait_for(predicate, timeout_s: float, what: str):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("how, stage", [("SIGTERM", "simulating"), ("SIGINT", "simulating"),
                                        ("SIGINT", "messages.csv"), ("SIGTERM", "attempts.csv")])
def test_signal_during_run_leaves_nothing(tmp_path, how, stage):
    """Ctrl-C or SIGTERM during ``run --out --attempts`` of 150,000 messages, while it simulates or while it
    writes messages.csv or attempts.csv into its scratch folder: exit 130 or 143 with one line, and the
    folder as it was (no scratch folder, no partial file, no --out folder)."""
    big = {**TINY, "messages": {"count": 150_000, "arrival": {"kind": "uniform", "start": 0, "end": "1d"}},
           "sender": {"schedule": {"kind": "fixed", "interval": "1h"}, "expiry": "2d"}, "horizon": "3d"}
    s = write(tmp_path / "big.yaml", big)
    before = listing(tmp_path)
    p = subprocess.Popen([sys.executable, "-m", "mtasim", "run", str(s), "--out", str(tmp_path / "out"),
                          "--attempts"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
                         cwd=tmp_path, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    pattern = ".mtasim-*" if stage == "simulating" else f".mtasim-*/.{stage}.*.tmp"
    try:
        _wait_for(lambda: list(tmp_path.glob(pattern)) or p.poll() is not None, 60, f"the run to reach {stage}")
        assert p.poll() is None, "the run ended before the signal"
        p.send_signal(getattr(signal, how))
        printed, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode in EXIT_ON[how], f"exit {p.returncode}: {err!r}, printed {printed[-200:]!r}"
    assert ("interrupted" if how == "SIGINT" else "SIGTERM") in one_line(err)
    assert listing(tmp_path) == before, f"left behind: {listing(tmp_path) - before}"


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT"])
def test_a_signal_whose_exception_library_code_swallowed_still_stops_the_run(tmp_path, capsys, monkeypatch, how):
    """Library code that clears any error (NumPy does, in places) can swallow the exception a signal raised
    while it ran; the run then went on to write every file and exit 0 (SIGTERM lost, seen under load).
    The signal is remembered: no file is moved into place, exit 143 (130) with one line."""
    import mtasim.cli

    real = mtasim.cli.simulate

    def swallowing(*args, **kwargs):
        try:
            os.kill(os.getpid(), getattr(signal, how))
            time.sleep(0.01)                     # the handler runs, and raises, in here
        except BaseException:                    # noqa: B036 - as a library's blanket error clearing does
            pass
        return real(*args, **kwargs)

    monkeypatch.setattr(mtasim.cli, "simulate", swallowing)
    s = write(tmp_path / "s.yaml", TINY)
    before = listing(tmp_path)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)   # as in a terminal, even if ignored here
    try:
        code, _, err = cli(["run", s, "--out", tmp_path / "out", "--attempts"], capsys)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert code == {"SIGTERM": 143, "SIGINT": 130}[how], err
    assert ("SIGTERM" if how == "SIGTERM" else "interrupted") in one_line(err)
    assert listing(tmp_path) == before, f"left behind: {listing(tmp_path) - before}"


def _children(pid: int) -> list[int]:
    kids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(d.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


SLOW_SWEEP = {**SWEEP, "messages": {"count": 400_000, "arrival": {"kind": "uniform", "start": 0, "end": "2h"}},
              "sweep": {"sender.expiry": ["2h", "6h", "8h"], "replications": 2}}


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_pool_workers_end_with_their_parent(tmp_path, how):
    """SIGTERM: exit 143, workers ended, whole rows, lock released, --resume completes. SIGKILL of the
    parent: its workers exit by themselves within seconds."""
    s = write(tmp_path / "w.yaml", SLOW_SWEEP)
    out = tmp_path / "out"
    p = subprocess.Popen([sys.executable, "-m", "mtasim", "sweep", str(s), "--out", str(out), "--workers", "2",
                          "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        workers = _wait_for(lambda: (len(_children(p.pid)) >= 2 and _children(p.pid)) or p.poll() is not None,
                            60, "the pool's workers")
        assert workers is not True, "the sweep ended before its workers started"
        p.send_signal(getattr(signal, how))
        _, err = p.communicate(timeout=20)
        _wait_for(lambda: not any(_alive(w) for w in workers), 10, "the workers to exit")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    if how == "SIGTERM":
        assert p.returncode == 143, err
        one_line(err)
        assert not (out / ".sweep.lock").exists()
        rows = (out / "sweep.csv").read_text().splitlines()
        assert all(len(next(csv.reader([r]))) == len(next(csv.reader([rows[0]]))) for r in rows)


INTERRUPTED_SWEEP = {**SLOW_SWEEP, "sweep": {"sender.expiry": ["2h", "6h", "8h"], "replications": 3},
                     "messages": {"count": 200_000, "arrival": {"kind": "uniform", "start": 0, "end": "2h"}}}


def _keys(rows: list[str]) -> list[tuple[int, int]]:
    return [(int(r.split(",")[0]), int(r.split(",")[1])) for r in rows]


DASK = ["--dask", "local", "--workers", "2"]


@pytest.mark.parametrize("executor, how", [(["--workers", "2"], "SIGINT"), (DASK, "SIGINT"), (DASK, "SIGTERM")],
                         ids=["pool-ctrl-c", "dask-ctrl-c", "dask-sigterm"])
def test_interrupted_sweep_resumes_every_row_exactly_once(tmp_path, capsys, executor, how):
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) or SIGTERM (to mtasim alone) once
    the first rows are in: exit 130 or 143 with one line (no Dask log lines), the workers gone, the lock
    released, whole rows only; then --resume keeps those rows as they are and runs each missing
    (point, replication) once."""
    s = write(tmp_path / "w.yaml", INTERRUPTED_SWEEP)
    out = tmp_path / "out"
    p = subprocess.Popen([sys.executable, "-m", "mtasim", "sweep", str(s), "--out", str(out), "--no-progress",
                          *executor], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
                         start_new_session=True,  # its own process group, like a command run from a shell
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        first = lambda: (out / "sweep.csv").exists() and (out / "sweep.csv").read_text().count("\n") >= 2  # noqa: E731
        assert _wait_for(lambda: first() or p.poll() is not None, 60, "the first row") and p.poll() is None
        workers = [w for c in _children(p.pid) for w in [c, *_children(c)]]
        if how == "SIGINT":
            os.killpg(p.pid, signal.SIGINT)
        else:
            p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=20)
        _wait_for(lambda: not any(_alive(w) for w in workers), 10, "the workers to exit")
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert p.returncode in EXIT_ON[how], f"exit {p.returncode}: {err!r}"
    assert ("interrupted" if how == "SIGINT" else "SIGTERM") in one_line(err)
    assert sorted(q.name for q in out.iterdir()) == ["sweep.csv", "sweep.json"]
    header, *rows = (out / "sweep.csv").read_text().splitlines()
    runs = 3 * 3
    assert 1 <= len(rows) < runs, f"{len(rows)} rows: the signal came after the sweep ended"
    assert all(len(next(csv.reader([r]))) == len(header.split(",")) for r in rows), "a torn row"

    code, stdout, err = cli(["sweep", s, "--out", out, "--resume", "--no-progress"], capsys)
    assert code == 0, err
    assert f"kept {len(rows)} of its rows" in stdout and f"{runs - len(rows)} of {runs} runs to go" in stdout, stdout
    header_after, *after = (out / "sweep.csv").read_text().splitlines()
    assert header_after == header and after[:len(rows)] == rows, "--resume changed the rows it kept"
    assert sorted(_keys(after)) == [(point, r) for point in range(3) for r in range(3)], "not every run exactly once"
    assert all(int(row.split(",")[2]) == 1 + key[1] for row, key in zip(after, _keys(after))), "seed != seed + r"


# -- 4. resumable sweeps bound to their scenario ---------------------------------------------------------
@pytest.fixture(scope="module")
def full_sweep(tmp_path_factory):
    d = tmp_path_factory.mktemp("full")
    s = write(d / "w.yaml", SWEEP)
    assert main(["sweep", str(s), "--out", str(d / "out"), "--no-progress"]) == 0
    return s, d / "out"


def copy_sweep(src: Path, dst: Path, text: str | bytes | None = None) -> Path:
    dst.mkdir()
    (dst / "sweep.json").write_bytes((src / "sweep.json").read_bytes())
    data = (src / "sweep.csv").read_bytes() if text is None else text
    (dst / "sweep.csv").write_bytes(data if isinstance(data, bytes) else data.encode())
    return dst


@pytest.mark.parametrize("change,needle", [
    (lambda d: d["sender"].update(expiry="4h"), "'sender'"),
    (lambda d: d["sweep"].update({"sender.expiry": ["2h", "7h"]}), "grid values"),
    (lambda d: d["sweep"].update(replications=3), "replications 2 -> 3"),
    (lambda d: d.update(seed=2), "'seed'"),
], ids=["sender", "grid", "replications", "seed"])
def test_resume_with_changed_scenario_refused(tmp_path, capsys, full_sweep, change, needle):
    s, full = full_sweep
    out = copy_sweep(full, tmp_path / "out")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    data = yaml.safe_load(s.read_text())
    change(data)
    code, _, err = cli(["sweep", write(tmp_path / "changed.yaml", data), "--out", out, "--resume", "--no-progress"],
                       capsys)
    assert code == 2
    assert needle in one_line(err), err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before, "a refused resume changed the folder"


def test_resume_drops_bad_rows_and_says_how_many_it_kept(tmp_path, capsys, full_sweep):
    s, full = full_sweep
    lines = (full / "sweep.csv").read_bytes().splitlines(keepends=True)
    header, rows = lines[0], lines[1:]
    fields = rows[0].decode().rstrip("\n").split(",")
    garbled = [
        rows[0][: len(rows[0]) // 2] + b"\n",                      # a torn middle line
        b"x," + rows[1].split(b",", 1)[1],                         # a point that is not a number
        b"\xff\xfe" + rows[2],                                     # undecodable bytes
        ",".join(["9999"] + fields[1:]).encode() + b"\n",          # a point outside the grid
    ]
    kept = rows[:3]
    text = header + b"".join(kept) + b"".join(garbled) + rows[0]  # rows[0] again: a duplicate
    out = copy_sweep(full, tmp_path / "out", text)
    code, stdout, err = cli(["sweep", s, "--out", out, "--resume", "--no-progress"], capsys)
    assert code == 0, err
    assert "kept 3 of its rows" in stdout and "dropped 5" in stdout, stdout
    assert "1 duplicate" in stdout and "1 outside the grid" in stdout and "3 garbled" in stdout, stdout
    assert sorted((out / "sweep.csv").read_bytes().splitlines()) == sorted((full / "sweep.csv").read_bytes()
                                                                          .splitlines())


def test_concurrent_resume_refused_while_locked(tmp_path, capsys, full_sweep):
    s, full = full_sweep
    out = copy_sweep(full, tmp_path / "out", (full / "sweep.csv").read_bytes().splitlines(keepends=True)[0])
    with open(out / ".sweep.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        before = (out / "sweep.csv").read_bytes()
        code, _, err = cli(["sweep", s, "--out", out, "--resume", "--no-progress"], capsys)
        assert code == 2 and "another mtasim sweep" in one_line(err)
        assert (out / "sweep.csv").read_bytes() == before
    code, _, err = cli(["sweep", s, "--out", out, "--resume", "--no-progress"], capsys)
    assert code == 0, err
    assert sorted((out / "sweep.csv").read_bytes().splitlines()) == sorted((full / "sweep.csv").read_bytes()
                                                                          .splitlines())
    assert not (out / ".sweep.lock").exists()


# -- two runs into one folder at once -------------------------------------------------------------------------
def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_two_runs_into_the_same_folder_at_once_leave_one_runs_files(tmp_path):
    """Two ``run --out SAME_DIR`` started together, one with --attempts and --qshape (seven files), one
    without (five files, other numbers): whichever commits last, the folder then holds exactly the files
    of that run, byte for byte as when it runs alone, and no scratch folder."""
    text = ("seed: {seed}\nsender: {{preset: postfix}}\nmessages: {{count: {n}, arrival: {{kind: uniform, start: 0, "
            "end: 6h}}}}\nrecipients: [{{domain: a.example, outages: [{{start: 1h, end: 20h}}]}}]\n")
    runs = {}
    for name, seed, n, extra in (("a", 1, 4000, ["--attempts", "--qshape", "10h"]), ("b", 2, 3000, [])):
        path = tmp_path / f"{name}.yaml"
        path.write_text(text.format(seed=seed, n=n), encoding="utf-8")
        alone = tmp_path / f"alone-{name}"
        argv = [sys.executable, "-m", "mtasim", "run", str(path)] + extra
        subprocess.run(argv + ["--out", str(alone)], check=True, capture_output=True)
        runs[name] = (argv, _files(alone))
    assert set(runs["a"][1]) > set(runs["b"][1]) and runs["a"][1]["messages.csv"] != runs["b"][1]["messages.csv"]
    shared = tmp_path / "shared"
    seen = set()
    for round_ in range(3):
        order = ["a", "b"] if round_ % 2 == 0 else ["b", "a"]
        procs = [subprocess.Popen(runs[k][0] + ["--out", str(shared)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE) for k in order]
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err.decode()
        got = _files(shared)
        match = [k for k, (_, files) in runs.items() if files == got]
        assert match, f"round {round_}: {sorted(got)} is neither run's set of files"
        seen.add(match[0])
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".mtasim")], "a scratch folder is left"


# -- a Ctrl-C while the command is still loading its libraries ---------------------------------------------
_INTERRUPT_WHILE_LOADING = r'''
import sys
class Interrupt:                        # a Ctrl-C that lands while mtasim.cli (NumPy, SimPy ...) is loading
    def find_spec(self, name, path=None, target=None):
        if name == "mtasim.cli":
            raise KeyboardInterrupt
        return None
sys.meta_path.insert(0, Interrupt())
from mtasim.entry import main
raise SystemExit(main())
'''


def test_importing_mtasim_loads_no_heavy_library():
    """The package's names load on first use, so the command's entry point starts before NumPy does."""
    code = "import sys, mtasim; print(sorted(m for m in ('numpy', 'simpy', 'mtasim.cli') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_ctrl_c_while_the_command_loads_is_one_line_and_exit_130(tmp_path):
    p = subprocess.run([sys.executable, "-c", _INTERRUPT_WHILE_LOADING], capture_output=True, text=True,
                       cwd=tmp_path)
    assert p.returncode == 130
    assert p.stderr == "mtasim: interrupted while starting; nothing was written\n"
    assert list(tmp_path.iterdir()) == []

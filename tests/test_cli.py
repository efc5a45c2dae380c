"""The command line (README, Command line) and the files `run --out` writes (README, Output files)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from mtasim import PRESETS
from mtasim.cli import main

from conftest import SCENARIOS

# A small, random scenario (uniform arrivals, three recipients drawn by share) whose seed 5 gives every
# outcome: down.example defers until the 2 h expiry, up.example accepts, bad.example answers 5xx, and the
# 3 h horizon leaves the latest down.example mail queued.
SMALL = """\
name: small mixed
seed: 5
horizon: 3h
sender:
  schedule: {kind: fixed, interval: 30m}
  expiry: 2h
messages:
  count: 9
  arrival: {kind: uniform, start: 0h, end: 2h}
recipients:
  - domain: down.example
    outages:
      - {start: 0s, end: 1d, failure: "451 4.3.0 try later"}
  - domain: up.example
  - domain: bad.example
    outages:
      - {start: 0s, end: 1d, failure: "550 5.1.1 no such user"}
"""

OUTCOMES = ("delivered", "expired", "bounced", "queued")
SUMMARY_KEYS = {"scenario", "seed", "engine", "messages", "delivered", "expired", "bounced", "queued",
                "attempts", "delay_warnings", "delivery_latency_s"}
MESSAGES_HEADER = ["id", "recipient", "arrival_s", "outcome", "status", "final_s", "attempts", "warned_s", "via",
                   "relayed_s", "relay_outcome", "arrival", "final", "warned"]
ATTEMPTS_HEADER = ["message_id", "attempt", "time_s", "result", "reply", "time"]
MTASIM_SCRIPT = Path(sys.executable).parent / "mtasim"


@pytest.fixture
def small(tmp_path):
    path = tmp_path / "small.yaml"
    path.write_text(SMALL, encoding="utf-8")
    return path


def run_cli(capsys, *argv):
    """Run the CLI in-process; return (exit status, stdout, stderr)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


# -- run ---------------------------------------------------------------------------------------------
def test_run_prints_summary_table(capsys, small):
    """`run` prints a table with one row per outcome plus total, the attempts and the latency line."""
    code, out, err = run_cli(capsys, "run", small)
    assert code == 0, err
    assert err == ""
    lines = out.splitlines()
    rows: dict[str, list[str]] = {}
    for line in lines:          # the outcome table's rows: the first of each name (the per-day table has a total too)
        if line.split():
            rows.setdefault(line.split()[0], line.split())
    for key in (*OUTCOMES, "total"):
        assert key in rows, f"no {key} row in:\n{out}"
    assert rows["total"][1] == "9"
    assert sum(int(rows[k][1].replace(",", "")) for k in OUTCOMES) == 9
    assert any(line.startswith("attempts") for line in lines)
    latency = [line for line in lines if line.startswith("delivery latency")]
    assert len(latency) == 1 and all(p in latency[0] for p in ("p50", "p90", "p99", "max"))


def test_run_json_has_design_keys_and_conserves(capsys, small):
    """`run --json` prints only the summary object, with the §5 keys, and the outcomes add up."""
    code, out, err = run_cli(capsys, "run", small, "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert SUMMARY_KEYS <= set(summary)
    assert set(summary["delivery_latency_s"]) >= {"p50", "p90", "p99", "max"}
    assert summary["scenario"] == "small mixed"
    assert summary["seed"] == 5
    assert summary["engine"] == "fast"          # auto picks fast: no host-level state in this scenario
    assert summary["messages"] == 9
    assert sum(summary[k] for k in OUTCOMES) == summary["messages"]
    assert all(summary[k] > 0 for k in OUTCOMES), summary     # the scenario exercises every outcome
    assert summary["attempts"] >= summary["messages"] - summary["queued"]


def test_run_out_writes_all_files(capsys, small, tmp_path):
    """`run --out DIR --attempts` writes exactly summary.json, messages.csv, outages.csv, queue.csv,
    attempts.csv, timeline.png."""
    out_dir = tmp_path / "out"
    code, out, err = run_cli(capsys, "run", small, "--out", out_dir, "--attempts")
    assert code == 0, err
    assert sorted(p.name for p in out_dir.iterdir()) == \
        ["attempts.csv", "messages.csv", "outages.csv", "queue.csv", "summary.json", "timeline.png"]
    assert (out_dir / "timeline.png").read_bytes().startswith(b"\x89PNG")
    summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    assert SUMMARY_KEYS <= set(summary)
    assert sum(summary[k] for k in OUTCOMES) == summary["messages"]


def test_run_out_without_attempts_writes_no_attempts_csv(capsys, small, tmp_path):
    """`run --out DIR` without --attempts writes summary.json, messages.csv, outages.csv, queue.csv and
    timeline.png."""
    out_dir = tmp_path / "out"
    code, _, err = run_cli(capsys, "run", small, "--out", out_dir)
    assert code == 0, err
    assert sorted(p.name for p in out_dir.iterdir()) == ["messages.csv", "outages.csv", "queue.csv",
                                                         "summary.json", "timeline.png"]
    with open(out_dir / "outages.csv", encoding="utf-8") as f:
        assert f.readline().strip() == "recipient,start_s,end_s,failure,host"


def test_messages_csv_one_row_per_message(capsys, small, tmp_path):
    """messages.csv has the §5 header, one row per message, and final_s empty exactly when queued."""
    out_dir = tmp_path / "out"
    assert run_cli(capsys, "run", small, "--out", out_dir, "--attempts")[0] == 0
    summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    rows = read_csv(out_dir / "messages.csv")
    assert rows[0] == MESSAGES_HEADER
    body = [dict(zip(MESSAGES_HEADER, r)) for r in rows[1:]]
    assert len(body) == summary["messages"]
    assert [int(r["id"]) for r in body] == list(range(len(body)))
    for key in OUTCOMES:
        assert sum(r["outcome"] == key for r in body) == summary[key]
    for r in body:
        assert r["outcome"] in OUTCOMES
        assert (r["final_s"] == "") == (r["outcome"] == "queued"), r
        if r["final_s"]:
            assert float(r["final_s"]) >= float(r["arrival_s"])
        assert r["via"] == r["relayed_s"] == r["relay_outcome"] == ""      # one server per domain: no MX columns
    assert any(r["outcome"] == "queued" for r in body) and any(r["outcome"] != "queued" for r in body)


def test_attempts_csv_matches_messages_and_summary(capsys, small, tmp_path):
    """attempts.csv has one row per attempt: rows == summary attempts, numbered 1..n per message."""
    out_dir = tmp_path / "out"
    assert run_cli(capsys, "run", small, "--out", out_dir, "--attempts")[0] == 0
    summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    rows = read_csv(out_dir / "attempts.csv")
    assert rows[0] == ATTEMPTS_HEADER
    body = [dict(zip(ATTEMPTS_HEADER, r)) for r in rows[1:]]
    assert len(body) == summary["attempts"]
    numbers = defaultdict(list)
    for r in body:
        assert r["result"] in ("delivered", "deferred", "refused", "timeout", "rejected")
        numbers[int(r["message_id"])].append(int(r["attempt"]))
    messages = [dict(zip(MESSAGES_HEADER, r)) for r in read_csv(out_dir / "messages.csv")[1:]]
    for m in messages:
        n = int(m["attempts"])
        assert sorted(numbers.get(int(m["id"]), [])) == list(range(1, n + 1)), m


def test_seed_changes_results_and_same_seed_is_identical(capsys, small, tmp_path):
    """--seed changes a random scenario's results; the same seed gives byte-identical messages.csv."""
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        assert run_cli(capsys, "run", small, "--seed", seed, "--out", tmp_path / name)[0] == 0
    a, b, c = ((tmp_path / n / "messages.csv").read_bytes() for n in "abc")
    assert a == b
    assert a != c
    assert json.loads((tmp_path / "c" / "summary.json").read_text(encoding="utf-8"))["seed"] == 2


# -- schedule ----------------------------------------------------------------------------------------
def test_schedule_postfix_json(capsys):
    """`schedule postfix --json` gives preset, attempts_s, give_up_s, status: 108 attempts, gives up at 433200 s."""
    code, out, err = run_cli(capsys, "schedule", "postfix", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert {"preset", "attempts_s", "give_up_s", "status"} <= set(data)
    assert data["preset"] == "postfix"
    assert len(data["attempts_s"]) == 108
    assert data["attempts_s"][0] == 0
    assert data["give_up_s"] == 433200
    assert data["attempts_s"][-1] == data["give_up_s"]     # Postfix gives up after the last attempt
    assert data["status"]


def test_schedule_set_overrides_lifetime(capsys):
    """`schedule postfix --set maximal_queue_lifetime=1d` gives up at the first attempt at or after 24 h."""
    code, out, err = run_cli(capsys, "schedule", "postfix", "--set", "maximal_queue_lifetime=1d", "--json")
    assert code == 0, err
    data = json.loads(out)
    times = data["attempts_s"]
    first_late = next(t for t in times if t >= 86400)
    assert data["give_up_s"] == first_late == times[-1]
    assert all(t < 86400 for t in times[:-1])


def test_schedule_exchange_server_table(capsys):
    """`schedule exchange-server` prints a give-up line with 48:00:00 and status 4.4.7."""
    code, out, err = run_cli(capsys, "schedule", "exchange-server")
    assert code == 0, err
    assert any("48:00:00" in line and "4.4.7" in line for line in out.splitlines()), out


def test_schedule_until_lists_only_early_attempts(capsys):
    """`schedule postfix --until 2h` lists only the attempts up to 2 h and no give-up."""
    code, out, err = run_cli(capsys, "schedule", "postfix", "--json")
    full = json.loads(out)["attempts_s"]
    code, out, err = run_cli(capsys, "schedule", "postfix", "--until", "2h", "--json")
    assert code == 0, err
    data = json.loads(out)
    expected = [t for t in full if t <= 7200]
    assert data["attempts_s"] == expected
    assert data["give_up_s"] is None
    code, out, err = run_cli(capsys, "schedule", "postfix", "--until", "2h")
    assert code == 0, err
    numbered = [line for line in out.splitlines() if line.split() and line.split()[0].isdigit()]
    assert len(numbered) == len(expected)
    assert "gives up" not in out


# -- presets, validate -------------------------------------------------------------------------------
def test_presets_lists_names_and_parameters(capsys):
    """`presets` lists postfix, exchange-server and exchange-online with their parameter names."""
    code, out, err = run_cli(capsys, "presets")
    assert code == 0, err
    lines = out.splitlines()
    for name in ("postfix", "exchange-server", "exchange-online"):
        assert name in lines, name
        for param in PRESETS[name].params:
            assert param.name in out, (name, param.name)
    assert "maximal_queue_lifetime" in out and "MessageExpirationTimeout" in out and "MessageExpiration" in out


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_validate_shipped_scenarios(capsys, path):
    """`validate` accepts every shipped scenario (exit 0, nothing on stderr)."""
    code, out, err = run_cli(capsys, "validate", path)
    assert code == 0, err
    assert err == ""
    assert "ok" in out


def test_shipped_scenarios_exist():
    """The repository ships at least the four documented scenarios."""
    assert len(SCENARIOS) >= 4


# -- installed entry points --------------------------------------------------------------------------
def test_python_m_mtasim_help():
    """`python -m mtasim --help` exits 0 and shows the subcommands."""
    p = subprocess.run([sys.executable, "-m", "mtasim", "--help"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    for command in ("run", "schedule", "presets", "validate"):
        assert command in p.stdout


def test_console_script_run_json(small):
    """The installed `mtasim` console script runs a scenario and prints the summary JSON."""
    assert MTASIM_SCRIPT.exists(), MTASIM_SCRIPT
    p = subprocess.run([str(MTASIM_SCRIPT), "run", str(small), "--json"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert sum(summary[k] for k in OUTCOMES) == summary["messages"] == 9


def test_console_script_bad_input_exit_2(tmp_path):
    """The console script turns bad input into exit status 2 and one 'mtasim: ' line, no traceback."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("sender: {preset: postfix}\nmessages: {count: 2}\nrecipients: []\n", encoding="utf-8")
    p = subprocess.run([str(MTASIM_SCRIPT), "run", str(bad)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mtasim: ")
    assert "bad.yaml" in lines[0] and "recipients" in lines[0]
    assert "Traceback" not in p.stderr


def test_engines_agree_on_the_cli(capsys, small):
    """`run --engine des` and `--engine fast` print the same summary apart from the engine's name."""
    summaries = {}
    for engine in ("des", "fast"):
        code, out, err = run_cli(capsys, "run", small, "--json", "--engine", engine)
        assert code == 0, err
        summaries[engine] = json.loads(out)
        assert summaries[engine].pop("engine") == engine
    assert summaries["des"] == summaries["fast"]


@pytest.mark.parametrize("preset, attempts, give_up_h", [
    ("kumomta", 9, 85.0),                       # 0:00, 0:20, 1:00, 2:20, 5:00, 10:20, 21:00, 42:20, 85:00
    ("chasquid", 63, 20 + 16 / 60),             # 0:00, 0:01, 0:06, 0:16, then every 0:20; gives up 20:16
])
def test_schedule_shows_nominal_jitter_by_default(capsys, preset, attempts, give_up_h):
    """Jittered presets: `schedule` prints the worked example's nominal times; --seed draws real jitter."""
    code, out, _ = run_cli(capsys, "schedule", preset, "--json")
    data = json.loads(out)
    assert code == 0 and len(data["attempts_s"]) == attempts
    assert data["give_up_s"] == pytest.approx(give_up_h * 3600)
    code, out, _ = run_cli(capsys, "schedule", preset, "--json", "--seed", "3")
    assert json.loads(out)["attempts_s"] != data["attempts_s"]

"""`mtasim replay` on logs the project's own `run --log` writes: replaying a simulated run recovers its
outage windows (bracketed, the scenario's window within one retry interval) and every message's outcome,
pass count and final time, and the simulator's prediction for the replayed scenario agrees with the log
for every message."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from mtasim.cli import main

ROOT = Path(__file__).resolve().parent.parent


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _round_trip(tmp_path, capsys, mta: str, data: dict, *extra: str):
    """Run ``data`` with --log, replay the log; (run dir, replay dir, run start, replay start) in epochs."""
    sc = tmp_path / "sc.yaml"
    sc.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert main(["run", str(sc), "--out", str(tmp_path / "run"), "--attempts", "--log", str(tmp_path / "mail.log")]) == 0
    assert main(["replay", mta, str(tmp_path / "mail.log"), "--out", str(tmp_path / "replay"), "--year", "2026",
                 *extra]) == 0
    capsys.readouterr()
    run_start = _epoch(json.loads((tmp_path / "run" / "summary.json").read_text())["start"])
    replay_start = _epoch(json.loads((tmp_path / "replay" / "summary.json").read_text())["start"])
    return tmp_path / "run", tmp_path / "replay", run_start, replay_start


def _check_messages(run: Path, replay: Path, run_start: float, replay_start: float, *, logged_suspended: bool):
    """Outcome, status, pass count (as the log shows them) and times of every message match the run's."""
    ran, got = _rows(run / "messages.csv"), _rows(replay / "messages.csv")
    assert len(got) == len(ran) and list(got[0]) == list(ran[0]), "run's columns, in run's order"
    assert list(_rows(replay / "attempts.csv")[0]) == list(_rows(run / "attempts.csv")[0])
    suspended: dict[str, int] = {}
    for a in _rows(run / "attempts.csv"):
        if a["result"] == "suspended":
            suspended[a["message_id"]] = suspended.get(a["message_id"], 0) + 1
    for r, g in zip(ran, got):
        assert g["outcome"] == r["outcome"], f"message {r['id']}: outcome {g['outcome']}, expected {r['outcome']}"
        shown = int(r["attempts"]) - (0 if logged_suspended else suspended.get(r["id"], 0))
        assert int(g["attempts"]) == shown, f"message {r['id']}: {g['attempts']} passes, expected {shown}"
        # the log writes whole seconds: a time is the run's, truncated
        arrival = float(r["arrival_s"]) + run_start - replay_start
        assert 0 <= arrival - float(g["arrival_s"]) < 1
        final = float(r["final_s"]) + run_start - replay_start
        assert 0 <= final - float(g["final_s"]) < 1, f"message {r['id']}: final {g['final_s']}, expected {final}"
        assert g["status"] == r["status"]


def _check_outage(run: Path, replay: Path, run_start: float, replay_start: float, retry_s: float):
    """One window, bracketed by the log, the scenario's window within one retry interval of the truth."""
    (true,) = _rows(run / "outages.csv")
    (got,) = _rows(replay / "outages.csv")
    shift = run_start - replay_start
    start, end = float(true["start_s"]) + shift, float(true["end_s"]) + shift
    assert float(got["start_after_s"]) < start <= float(got["start_by_s"]) + 1
    assert float(got["end_after_s"]) < end <= float(got["end_by_s"]) + 1
    assert abs(float(got["start_s"]) - start) <= retry_s
    assert abs(float(got["end_s"]) - end) <= retry_s
    return got


def _agreement(replay: Path) -> tuple[int, int]:
    p = json.loads((replay / "summary.json").read_text())["prediction"]
    return p["agree"], p["compared"]


def test_postfix_weekend_outage_round_trip(tmp_path, capsys):
    """scenarios/postfix-weekend-outage.yaml at 4 messages an hour: a 62 h refused outage, Postfix's dead
    destination holding passes back (logged by the retry agent): every message and the window come back,
    the window within Postfix's maximal_backoff_time (4000 s), and the prediction agrees everywhere."""
    data = yaml.safe_load((ROOT / "scenarios" / "postfix-weekend-outage.yaml").read_text())
    data["messages"]["arrival"]["rate"] = "4/h"
    run, replay, t_run, t_replay = _round_trip(tmp_path, capsys, "postfix", data)
    _check_messages(run, replay, t_run, t_replay, logged_suspended=True)
    got = _check_outage(run, replay, t_run, t_replay, 4000)
    assert got["failure"] == "refused"
    agree, compared = _agreement(replay)
    assert compared == len(_rows(run / "messages.csv")) and agree == compared
    assert any(a["result"] == "suspended" for a in _rows(replay / "attempts.csv"))


#: A 30 h outage of timed-out connections under Postfix with maximal_queue_lifetime = 1d.
POSTFIX_30H = {"name": "postfix 30h", "seed": 5,
               "sender": {"preset": "postfix", "queue_run_phase": "73s", "maximal_queue_lifetime": "1d"},
               "messages": {"count": 40, "arrival": {"kind": "uniform", "start": "0h", "end": "24h"}},
               "recipients": [{"domain": "partner.example",
                               "outages": [{"start": "2h", "end": "32h", "failure": "timeout"}]}]}


def _main_cf(tmp_path):
    """The main.cf that configuration has (given to replay with --config)."""
    cf = tmp_path / "main.cf"
    cf.write_text("maximal_queue_lifetime = 1d\n", encoding="utf-8")
    return cf


def test_postfix_30h_timeout_outage_with_its_configuration(tmp_path, capsys):
    """A 30 h outage of timed-out connections and maximal_queue_lifetime = 1d in main.cf: nine messages
    expire; given the main.cf (--config) the prediction agrees with the log for all 40, the queue runner's
    phase read off the log; without it (5 d defaults) those nine are predicted delivered instead."""
    data, cf = POSTFIX_30H, _main_cf(tmp_path)
    run, replay, t_run, t_replay = _round_trip(tmp_path, capsys, "postfix", data, "--config", str(cf))
    _check_messages(run, replay, t_run, t_replay, logged_suspended=True)
    assert _check_outage(run, replay, t_run, t_replay, 4000)["failure"] == "timeout"
    expired = sum(r["outcome"] == "expired" for r in _rows(replay / "messages.csv"))
    assert expired == 9
    assert _agreement(replay) == (40, 40)
    scenario = yaml.safe_load((replay / "scenario.yaml").read_text())
    # the run's scans at 73 s past its start; the replay's start is the log's first line
    assert float(scenario["sender"]["queue_run_phase"].rstrip("s")) == (73 - (t_replay - t_run)) % 300
    assert main(["replay", "postfix", str(tmp_path / "mail.log"), "--out", str(tmp_path / "defaults"),
                 "--year", "2026"]) == 0
    capsys.readouterr()
    assert _agreement(tmp_path / "defaults") == (31, 40)


def test_exim_round_trip(tmp_path, capsys):
    """scenarios/exim-shared-host-outage.yaml with 40 messages: a 20 h refused outage, the queue runner
    every 30 min; Exim's retry rule (G,16h,1h,1.5) spaces the passes up to 6 h apart late in the outage."""
    data = yaml.safe_load((ROOT / "scenarios" / "exim-shared-host-outage.yaml").read_text())
    data["messages"]["count"] = 40
    run, replay, t_run, t_replay = _round_trip(tmp_path, capsys, "exim", data)
    _check_messages(run, replay, t_run, t_replay, logged_suspended=True)
    _check_outage(run, replay, t_run, t_replay, 6 * 3600)
    assert _agreement(replay) == (40, 40)


@pytest.mark.parametrize("preset, failure", [("exchange-server", "451 4.3.0 Mail server temporarily unavailable"),
                                             ("exchange-online", "refused")])
def test_exchange_round_trip(tmp_path, capsys, preset, failure):
    """scenarios/exchange-*-30h-outage.yaml with 40 messages (Exchange Online: refused connections, so some
    expire after its 24 h): passes a queue in Retry held back write no event, and are not counted."""
    data = yaml.safe_load((ROOT / "scenarios" / "exchange-server-30h-outage.yaml").read_text())
    data["sender"] = {"preset": preset}
    data["messages"]["count"] = 40
    data["recipients"][0]["outages"][0]["failure"] = failure
    run, replay, t_run, t_replay = _round_trip(tmp_path, capsys, "exchange", data, "--preset", preset)
    _check_messages(run, replay, t_run, t_replay, logged_suspended=False)
    _check_outage(run, replay, t_run, t_replay, 900)          # MessageRetryInterval / the queue's retry
    assert _agreement(replay) == (40, 40)


def test_what_if_answers_the_lifetime_question(tmp_path, capsys):
    """The 30 h outage with a 1 d lifetime: 9 messages expire in the log; a 2 d lifetime saves all 9,
    Exchange Online (24 h) saves none of them and loses none of the delivered ones."""
    data, cf = POSTFIX_30H, _main_cf(tmp_path)
    run, replay, _, _ = _round_trip(tmp_path, capsys, "postfix", data, "--config", str(cf),
                                    "--what-if", "sender.maximal_queue_lifetime=2d",
                                    "--what-if", "preset=exchange-online")
    rows = {r["variant"]: r for r in _rows(replay / "whatif.csv")}
    two = rows["sender.maximal_queue_lifetime=2d"]
    assert (two["delivered"], two["expired"], two["saved"], two["lost"]) == ("40", "0", "9", "0")
    expired_ids = {f"{r['queue_id']} {r['address']}" for r in _rows(replay / "comparison.csv")
                   if r["log_outcome"] == "expired"}
    assert set(two["saved_messages"].split("; ")) == expired_ids
    online = rows["preset=exchange-online"]
    assert int(online["saved"]) == 0 and int(online["lost"]) == 0


def test_exim_with_its_configuration(tmp_path, capsys):
    """Exim with the retry rule ``* * F,6h,15m`` in its configure file: 36 of 40 messages expire in the
    20 h outage (the log ends in it: each expired message ends its story). With the configure file
    (--config) the prediction agrees for all 40; with the preset's default rule only for the 4 that were
    delivered before the outage."""
    data = yaml.safe_load((ROOT / "scenarios" / "exim-shared-host-outage.yaml").read_text())
    data["messages"]["count"] = 40
    data["sender"]["retry_rules"] = "F,6h,15m"
    configure = tmp_path / "configure"
    configure.write_text("begin retry\n*   *   F,6h,15m\n", encoding="utf-8")
    run, replay, t_run, t_replay = _round_trip(tmp_path, capsys, "exim", data, "--config", str(configure))
    _check_messages(run, replay, t_run, t_replay, logged_suspended=True)
    assert sum(r["outcome"] == "expired" for r in _rows(replay / "messages.csv")) == 36
    assert _agreement(replay) == (40, 40)
    assert main(["replay", "exim", str(tmp_path / "mail.log"), "--out", str(tmp_path / "defaults")]) == 0
    capsys.readouterr()
    assert _agreement(tmp_path / "defaults") == (4, 40)


def test_two_destinations_each_their_own_scenario(tmp_path, capsys):
    """Mail to two partners, each down at its own time: each destination's outage comes back, each gets a
    scenario of its own (scenario.yaml for the one with more failed passes, scenario-DOMAIN.yaml for the
    other; both valid scenario files), and simulating them apart reproduces every message of the joint
    run (a destination's host state is its own)."""
    data = {"name": "two partners", "seed": 3, "start": "2026-11-27T00:00:00Z",
            "sender": {"preset": "postfix", "queue_run_phase": "73s", "maximal_queue_lifetime": "1d"},
            "messages": {"count": 60, "arrival": {"kind": "uniform", "start": "0h", "end": "24h"}},
            "recipients": [
                {"domain": "a.example", "share": 2, "outages": [{"start": "2h", "end": "32h", "failure": "refused"}]},
                {"domain": "b.example", "share": 1,
                 "outages": [{"start": "10h", "end": "14h", "failure": "451 4.3.0 try later"}]}]}
    cf = tmp_path / "main.cf"
    cf.write_text("maximal_queue_lifetime = 1d\n", encoding="utf-8")
    run, replay, t_run, t_replay = _round_trip(tmp_path, capsys, "postfix", data, "--config", str(cf))
    _check_messages(run, replay, t_run, t_replay, logged_suspended=True)
    assert _agreement(replay) == (60, 60)
    got = {r["recipient"]: r for r in _rows(replay / "outages.csv")}
    shift = t_run - t_replay
    for true in _rows(run / "outages.csv"):
        o = got[true["recipient"]]
        assert float(o["start_after_s"]) < float(true["start_s"]) + shift <= float(o["start_by_s"]) + 1
        assert float(o["end_after_s"]) < float(true["end_s"]) + shift <= float(o["end_by_s"]) + 1
    assert yaml.safe_load((replay / "scenario.yaml").read_text())["recipients"][0]["domain"] == "a.example"
    assert main(["validate", str(replay / "scenario-b.example.yaml")]) == 0
    capsys.readouterr()

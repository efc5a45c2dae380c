"""Bad input of every kind: exit status 2, one 'mtasim: ' line naming file, key path and expectation."""

from __future__ import annotations

import pytest

from helpers import assert_nothing_written, one_error_line, write_bad

from mtasim.cli import main

OK_SENDER = "sender: {preset: postfix}\n"
OK_MESSAGES = "messages: {count: 2}\n"
OK_RECIPIENTS = "recipients: [{domain: a.example}]\n"
CUSTOM = "sender: {schedule: {kind: fixed, interval: 1h}, %s}\n"


def scenario_text(sender=OK_SENDER, messages=OK_MESSAGES, recipients=OK_RECIPIENTS, extra=""):
    return sender + messages + recipients + extra


# (id, file text, substrings the error line must contain besides the file name)
BAD_SCENARIOS = [
    ("unknown-top-level-key",
     OK_SENDER + OK_MESSAGES + "recipeints:\n  - domain: a.example\n",
     ["recipeints", "'recipients'"]),
    ("unknown-top-level-optional-key",
     scenario_text(extra="horizn: 3d\n"),
     ["horizn", "'horizon'"]),
    ("unknown-outage-key-instead-of-required",
     scenario_text(recipients="recipients:\n  - domain: a.example\n    outages:\n"
                              "      - {start: 1h, end: 2h}\n      - {start: 3h, ned: 4h}\n"),
     ["recipients[0].outages[1].ned", "'end'"]),
    ("unknown-outage-key-besides-required",
     scenario_text(recipients="recipients:\n  - domain: a.example\n    outages:\n"
                              "      - {start: 1h, end: 2h}\n      - {start: 3h, end: 4h, faliure: refused}\n"),
     ["recipients[0].outages[1].faliure", "'failure'"]),
    ("unknown-schedule-key",
     scenario_text(sender="sender:\n  schedule: {kind: exponential, frist: 5m}\n  expiry: 1d\n"),
     ["sender.schedule.frist", "'first'"]),
    ("unknown-preset",
     scenario_text(sender="sender: {preset: postfx}\n"),
     ["sender.preset", "postfx", "'postfix'"]),
    ("parameter-of-another-preset",
     scenario_text(sender="sender: {preset: postfix, MessageExpirationTimeout: 1d}\n"),
     ["sender.MessageExpirationTimeout", "exchange-server"]),
    ("postfix-parameter-in-exchange",
     scenario_text(sender="sender: {preset: exchange-server, maximal_queue_lifetime: 1d}\n"),
     ["sender.maximal_queue_lifetime", "preset postfix"]),
    ("negative-duration",
     scenario_text(sender=CUSTOM % "expiry: -5m"),
     ["sender.expiry", ">= 0", "-5m"]),
    ("zero-expiry-at-deadline",
     scenario_text(sender=CUSTOM % "expiry: 0, give_up: at-deadline"),
     ["sender.expiry", "> 0"]),
    ("unparsable-duration",
     scenario_text(sender="sender: {schedule: {kind: fixed, interval: 5 minutes}, expiry: 1d}\n"),
     ["sender.schedule.interval", "expected a duration", "5 minutes"]),
    ("outage-end-before-start",
     scenario_text(recipients="recipients: [{domain: a.example, outages: [{start: 5h, end: 2h}]}]\n"),
     ["recipients[0].outages[0].end", "after start"]),
    ("overlapping-outages",
     scenario_text(recipients="recipients: [{domain: a.example, outages: "
                              "[{start: 1h, end: 3h}, {start: 2h, end: 4h}]}]\n"),
     ["recipients[0].outages[1]", "overlap", "recipients[0].outages[0]"]),
    ("failure-reply-2xx",
     scenario_text(recipients="recipients: [{domain: a.example, outages: "
                              "[{start: 1h, end: 3h, failure: '250 ok'}]}]\n"),
     ["recipients[0].outages[0].failure", "4xx or 5xx", "250 ok"]),
    ("failure-reply-garbage",
     scenario_text(recipients="recipients: [{domain: a.example, outages: "
                              "[{start: 1h, end: 3h, failure: 'down for a bit'}]}]\n"),
     ["recipients[0].outages[0].failure", "4xx or 5xx", "down for a bit"]),
    ("yaml-syntax-error",
     OK_SENDER + "messages: {count: 2\n" + OK_RECIPIENTS,
     ["line 3", "YAML"]),
    ("duplicate-key",
     OK_SENDER + OK_MESSAGES + "messages: {count: 3}\n" + OK_RECIPIENTS,
     ["line 3", "duplicate key", "messages"]),
    ("missing-recipients",
     OK_SENDER + OK_MESSAGES,
     ["recipients", "missing required key"]),
    ("empty-recipients",
     scenario_text(recipients="recipients: []\n"),
     ["recipients", "at least one recipient"]),
    ("messages-without-count",
     scenario_text(messages="messages: {arrival: {kind: uniform, start: 0h, end: 1h}}\n"),
     ["messages.count", "missing required key"]),
    ("messages-empty",
     scenario_text(messages="messages: {}\n"),
     ["messages.count", "missing required key"]),
    ("absurd-count",
     scenario_text(messages="messages: {count: 1000000000000}\n"),
     ["messages.count", "at most 100,000,000", "GB"]),
    ("absurd-poisson-rate",
     scenario_text(messages="messages: {arrival: {kind: poisson, rate: 1000000/s, start: 0s, end: 30d}}\n"),
     ["messages.arrival.rate", "at most 100,000,000"]),
    ("times-count-mismatch",
     scenario_text(messages="messages: {count: 3, arrival: {kind: times, times: [0s, 1m]}}\n"),
     ["messages.count", "match the 2 arrival times", "3"]),
    ("empty-file",
     "",
     ["expected a scenario mapping", "nothing"]),
    ("list-not-mapping",
     "- " + OK_SENDER,
     ["expected a scenario mapping", "a list"]),
    ("give-up-attempts-without-max",
     scenario_text(sender=CUSTOM % "give_up: attempts"),
     ["sender.max_attempts", "missing required key"]),
    ("max-attempts-without-give-up-attempts",
     scenario_text(sender=CUSTOM % "expiry: 1d, max_attempts: 5"),
     ["sender.max_attempts", "give_up: attempts"]),
    ("exponential-max-below-first",
     scenario_text(sender="sender: {schedule: {kind: exponential, first: 1h, max: 5m}, expiry: 1d}\n"),
     ["sender.schedule.max", "max >= first"]),
    ("unknown-schedule-kind",
     scenario_text(sender="sender: {schedule: {kind: fixd, interval: 1h}, expiry: 1d}\n"),
     ["sender.schedule.kind", "'fixed'"]),
    ("count-not-a-number",
     scenario_text(messages="messages: {count: many}\n"),
     ["messages.count", "whole number"]),
    ("outages-not-a-list",
     scenario_text(recipients="recipients: [{domain: a.example, outages: {start: 1h, end: 2h}}]\n"),
     ["recipients[0].outages", "a list of outages"]),
]


@pytest.mark.parametrize("text, expected", [(t, e) for _, t, e in BAD_SCENARIOS],
                         ids=[i for i, _, _ in BAD_SCENARIOS])
def test_bad_scenario_run(capsys, tmp_path, text, expected):
    """A bad scenario: exit 2, one line naming the file, the key path and what was expected; no output."""
    path = write_bad(tmp_path, text)
    out_dir = tmp_path / "out"
    line = one_error_line(capsys, ["run", path, "--out", out_dir, "--attempts"])
    assert "bad-scenario.yaml" in line
    for part in expected:
        assert part in line, f"{part!r} not in {line!r}"
    assert_nothing_written(out_dir)


@pytest.mark.parametrize("text, expected", [(t, e) for _, t, e in BAD_SCENARIOS],
                         ids=[i for i, _, _ in BAD_SCENARIOS])
def test_validate_reports_same_line_as_run(capsys, tmp_path, text, expected):
    """`validate` on a bad file exits 2 with exactly the line `run` gives."""
    path = write_bad(tmp_path, text)
    run_line = one_error_line(capsys, ["run", path])
    validate_line = one_error_line(capsys, ["validate", path])
    assert validate_line == run_line


def test_bad_input_into_existing_empty_out_dir(capsys, tmp_path):
    """Bad input with --out pointing at an existing empty folder leaves it empty."""
    path = write_bad(tmp_path, scenario_text(sender=CUSTOM % "expiry: -5m"))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    one_error_line(capsys, ["run", path, "--out", out_dir])
    assert list(out_dir.iterdir()) == []


def test_missing_file(capsys, tmp_path):
    """A scenario file that does not exist: exit 2, one line naming it, nothing written."""
    out_dir = tmp_path / "out"
    line = one_error_line(capsys, ["run", tmp_path / "no-such-scenario.yaml", "--out", out_dir])
    assert "no-such-scenario.yaml" in line
    assert "no such file" in line
    assert_nothing_written(out_dir)


@pytest.mark.parametrize("seed", ["-1", "abc", "1.5"])
def test_bad_seed_is_usage_error(capsys, tmp_path, seed):
    """--seed must be a whole number >= 0; argparse exits 2 naming --seed, no traceback."""
    path = write_bad(tmp_path, scenario_text(), "good.yaml")
    with pytest.raises(SystemExit) as exc:
        main(["run", str(path), f"--seed={seed}", "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    _, err = capsys.readouterr()
    assert "--seed" in err and "whole number" in err and seed in err
    assert "Traceback" not in err
    assert_nothing_written(tmp_path / "out")


def test_bad_seed_separate_negative_argument(capsys, tmp_path):
    """`--seed -1` (value as a separate word) is refused like `--seed=-1`."""
    path = write_bad(tmp_path, scenario_text(), "good.yaml")
    with pytest.raises(SystemExit) as exc:
        main(["run", str(path), "--seed", "-1"])
    assert exc.value.code == 2
    assert "--seed" in capsys.readouterr().err


def test_attempts_without_out(capsys, tmp_path):
    """`run --attempts` without --out is refused: it has nowhere to write attempts.csv."""
    path = write_bad(tmp_path, scenario_text(), "good.yaml")
    line = one_error_line(capsys, ["run", path, "--attempts"])
    assert "--attempts" in line and "--out" in line


def test_engine_fast_refused_when_scenario_needs_des(capsys, tmp_path, monkeypatch):
    """`--engine fast` on a scenario that needs the DES exits 2 naming the feature, and writes nothing."""
    import mtasim.engine

    monkeypatch.setattr(mtasim.engine, "des_only_features", lambda scenario: ["a dead-destination cache"])
    path = write_bad(tmp_path, scenario_text(), "good.yaml")
    out_dir = tmp_path / "out"
    line = one_error_line(capsys, ["run", path, "--engine", "fast", "--out", out_dir])
    assert "fast" in line and "dead-destination cache" in line and "good.yaml" in line
    assert_nothing_written(out_dir)


def test_unknown_engine_is_usage_error(capsys, tmp_path):
    """An engine name argparse does not know exits 2."""
    path = write_bad(tmp_path, scenario_text(), "good.yaml")
    with pytest.raises(SystemExit) as exc:
        main(["run", str(path), "--engine", "turbo"])
    assert exc.value.code == 2
    assert "--engine" in capsys.readouterr().err


# -- schedule -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, expected", [
    (["schedule", "postfix", "--set", "maximal_queue_lifetime"],
     ["--set maximal_queue_lifetime", "NAME=VALUE"]),
    (["schedule", "postfx"], ["unknown preset 'postfx'", "'postfix'"]),
    (["schedule", "postfix", "--set", "mininal_backoff_time=5m"],
     ["mininal_backoff_time", "'minimal_backoff_time'"]),
    (["schedule", "postfix", "--set", "MessageExpirationTimeout=1d"],
     ["MessageExpirationTimeout", "exchange-server"]),
    (["schedule", "postfix", "--set", "maximal_queue_lifetime=-1d"],
     ["maximal_queue_lifetime", ">= 0"]),
    (["schedule", "postfix", "--until", "2 hours"], ["--until", "expected a duration"]),
], ids=["set-without-equals", "unknown-preset", "set-typo", "set-other-preset-param", "set-negative",
        "bad-until"])
def test_bad_schedule_arguments(capsys, argv, expected):
    """Bad `schedule` arguments exit 2 with one line saying what was expected."""
    line = one_error_line(capsys, argv)
    for part in expected:
        assert part in line, f"{part!r} not in {line!r}"


def test_directory_as_scenario(capsys, tmp_path):
    """A scenario path that is a folder: exit 2, one line naming it, no traceback."""
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    line = one_error_line(capsys, ["run", folder])
    assert "folder.yaml" in line and "cannot read" in line


def test_run_that_would_not_fit_in_memory_is_refused_before_starting(capsys, tmp_path, monkeypatch):
    """A run estimated to need more memory than is available exits 2 naming the message count and the
    estimate, and writes nothing."""
    import mtasim.engine

    monkeypatch.setattr(mtasim.engine.memory, "available_memory_bytes", lambda: 50 * 2**20)     # 50 MiB left
    path = write_bad(tmp_path, scenario_text(messages="messages: {count: 5000000}\n"), "big.yaml")
    out_dir = tmp_path / "out"
    line = one_error_line(capsys, ["run", path, "--engine", "des", "--out", out_dir])
    assert "5,000,000 messages" in line and "GiB" in line and "available" in line
    assert_nothing_written(out_dir)

"""Hostile input (issue 12, the input side): a catalogue of files that are not files, deep or odd YAML,
numbers at the edges, names that would inject header or terminal text, and work that never ends. Each
must end in exit 2 (bad input) with one 'mtasim: ' line on stderr, no traceback, nothing written, fast;
an internal error says so in one line with exit 1. A small fuzzer mutates a valid scenario the same way."""

from __future__ import annotations

import contextlib
import copy
import csv
import dataclasses
import io
import math
import os
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from helpers import assert_nothing_written, key_paths, one_error_line, write_bad
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mtasim.inputs
from mtasim.cli import main

OK = "sender: {preset: postfix}\nmessages: {count: 2}\nrecipients: [{domain: a.example}]\n"
CUSTOM = ("sender: {schedule: {kind: fixed, interval: %s}, expiry: %s%s}\nmessages: {count: 2}\n"
          "recipients: [{domain: a.example, outages: [{start: 0, end: 20d}]}]\n")


def scenario(extra: str = "", sender: str = "sender: {preset: postfix}\n",
             recipients: str = "recipients: [{domain: a.example}]\n") -> str:
    return sender + "messages: {count: 2}\n" + recipients + extra


# (id, file text, substrings of the error line)
HOSTILE_FILES = [
    ("deep-lists", OK + "x: " + "[" * 10_000 + "]" * 10_000 + "\n", ["invalid YAML", "nest"]),
    ("deep-maps", OK + "x: " + "{a: " * 10_000 + "1" + "}" * 10_000 + "\n", ["invalid YAML", "nest"]),
    ("deep-but-under-libyaml", OK + "x: " + "[" * 200 + "]" * 200 + "\n", ["invalid YAML", "nest"]),
    ("complex-key", "? [a, b]\n: 1\n" + OK, ["line 1", "plain key"]),
    ("mapping-as-key", "? {a: 1}\n: 1\n" + OK, ["line 1", "plain key"]),
    ("python-tag", OK + "x: !!python/object/apply:os.system ['true']\n", ["invalid YAML", "constructor"]),
    ("billion-laughs", "a: &a [1,1,1,1,1,1,1,1,1,1]\n"
     + "".join(f"a{i}: &a{i} [{', '.join(['*a' + (str(i - 1) if i > 1 else '')] * 10)}]\n" for i in range(1, 9))
     + OK, ["invalid YAML", "values"]),
    ("month-13", "start: 2026-13-01T00:00:00Z\n" + OK, ["line 1", "date or time", "month"]),
    ("odd-timezone", "start: '2026-01-01T00:00:00+99:00'\n" + OK, ["start", "ISO 8601"]),
    ("year-9999", "start: 9999-12-31T23:00:00Z\n" + OK, ["start", "9000"]),
    ("share-inf", scenario(recipients="recipients: [{domain: a.example, share: .inf}, {domain: b.example}]\n"),
     ["recipients[0].share", "inf"]),
    ("share-nan", scenario(recipients="recipients: [{domain: a.example, share: .nan}]\n"),
     ["recipients[0].share", "nan"]),
    ("factor-inf", "sender: {schedule: {kind: exponential, first: 5m, factor: .inf, max: 1h}, expiry: 1d}\n"
     "messages: {count: 2}\nrecipients: [{domain: a.example}]\n", ["sender.schedule.factor", "inf"]),
    ("factor-nan", "sender: {schedule: {kind: exponential, first: 5m, factor: .nan, max: 1h}, expiry: 1d}\n"
     "messages: {count: 2}\nrecipients: [{domain: a.example}]\n", ["sender.schedule.factor", "nan"]),
    ("huge-whole-number", "seed: " + "9" * 400 + "\n" + OK, ["seed", "whole number", "characters"]),
    ("haraka-multiplier-1e308", scenario(sender="sender: {preset: haraka, temp_fail_intervals: '1m*1e308'}\n"),
     ["sender.temp_fail_intervals", "multiplier too large"]),
    ("haraka-infinite-span", scenario(sender="sender: {preset: haraka, temp_fail_intervals: '1e400m'}\n"),
     ["sender.temp_fail_intervals", "too large"]),
    ("expiry-100-years-plus", CUSTOM % ("1h", "36600d", ""), ["sender.expiry", "100 years"]),
    ("expiry-1e400", CUSTOM % ("1h", "1e400", ""), ["sender.expiry", "finite"]),
    ("fixed-interval-1ms", CUSTOM % ("0.001", "5d", ""), ["sender", "attempts per message", "about", "--no-limits"]),
    ("expiry-100y-hourly", CUSTOM % ("1h", "36500d", ""), ["sender", "attempts per message", "--no-limits"]),
    ("delay-warning-repeat-1ms", CUSTOM % ("1h", "5d", ", delay_warning: 1h, delay_warning_repeat: 0.001"),
     ["sender.delay_warning_repeat", "delay warnings per message", "--no-limits"]),
    ("20-million-domains", scenario(recipients="recipients: [{domain: a.example, domains: 20000000}]\n"),
     ["recipients[0].domains", "20000000"]),
    ("reporting-mta-crlf", 'reporting_mta: "mta.example.org\\r\\nBcc: victim@example.com"\n' + OK,
     ["reporting_mta", "host name", "\\r\\nBcc"]),
    ("domain-crlf", scenario(recipients='recipients: [{domain: "a.example\\r\\nBcc: victim@example.com"}]\n'),
     ["recipients[0].domain", "domain name", "\\r\\n"]),
    ("domain-space", scenario(recipients='recipients: [{domain: "a example"}]\n'),
     ["recipients[0].domain", "domain name"]),
    ("domain-label-64", scenario(recipients=f"recipients: [{{domain: {'a' * 64}.example}}]\n"),
     ["recipients[0].domain", "63"]),
    ("key-with-newline-and-escape", OK + '"bad\\nkey\\e[31m": 1\n', ["bad\\nkey\\x1b[31m", "unknown key"]),
    ("nul-byte", OK + "name: a\x00b\n", ["binary", "NUL"]),
    ("count-1e300", "sender: {preset: postfix}\nmessages: {count: 1.0e+300}\nrecipients: [{domain: a.example}]\n",
     ["messages.count", "at most", "10^300"]),            # found by the fuzzer: an OverflowError before
]


@pytest.mark.parametrize("text, expected", [(t, e) for _, t, e in HOSTILE_FILES], ids=[i for i, _, _ in HOSTILE_FILES])
def test_hostile_scenario_file(capsys, tmp_path, text, expected):
    """Each hostile file: exit 2, one line naming the file and saying what was wrong, nothing written,
    within seconds."""
    path = write_bad(tmp_path, text, "hostile.yaml")
    out = tmp_path / "out"
    began = time.monotonic()
    line = one_error_line(capsys, ["run", path, "--out", out])
    assert time.monotonic() - began < 20
    assert "hostile.yaml" in line
    for part in expected:
        assert part in line, f"{part!r} not in {line!r}"
    assert line.isprintable(), repr(line)
    assert_nothing_written(out)
    assert one_error_line(capsys, ["validate", path]) == line


def test_undecodable_bytes(capsys, tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(OK.encode() + b"name: caf\xe9\n")
    line = one_error_line(capsys, ["validate", path])
    assert "UTF-8" in line and "0xe9" in line


def test_file_name_with_control_characters_is_shown_escaped(capsys, tmp_path):
    path = tmp_path / "evil\n\x1b[2Jname.yaml"
    line = one_error_line(capsys, ["validate", path])
    assert "evil\\n\\x1b[2Jname.yaml" in line and "no such file" in line


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
@pytest.mark.parametrize("command", [["validate"], ["run"], ["import", "postfix"]])
def test_devices_are_refused_at_once(capsys, device, command):
    if not os.path.exists(device):
        pytest.skip(f"no {device} here")
    began = time.monotonic()
    line = one_error_line(capsys, command + [device])
    assert time.monotonic() - began < 5
    assert device in line and "regular file" in line


@pytest.mark.parametrize("command", [["validate"], ["import", "postfix"]])
def test_fifo_does_not_hang(capsys, tmp_path, command):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    began = time.monotonic()
    line = one_error_line(capsys, command + [fifo])
    assert time.monotonic() - began < 5
    assert "FIFO" in line


def test_directory_is_refused(capsys, tmp_path):
    line = one_error_line(capsys, ["import", "postfix", tmp_path])
    assert "directory" in line


def test_file_over_the_size_limit_is_refused_before_reading(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(mtasim.inputs, "MAX_FILE_BYTES", 1000)
    path = write_bad(tmp_path, OK + "# " + "x" * 2000 + "\n", "big.yaml")
    line = one_error_line(capsys, ["validate", path])
    assert "at most" in line and "MB" in line


def test_too_many_yaml_values_are_refused(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(mtasim.inputs, "MAX_YAML_NODES", 1000)
    path = write_bad(tmp_path, "sender: {preset: postfix}\nrecipients: [{domain: a.example}]\n"
                     "messages: {arrival: {kind: times, times: [" + ", ".join(["1"] * 2000) + "]}}\n", "many.yaml")
    line = one_error_line(capsys, ["validate", path])
    assert "more than 1,000 values" in line


# -- command-line values ----------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, expected", [
    (["schedule", "postfix", "--set", "maximal_queue_lifetime=!!python/object/apply:os.system ['true']"],
     ["--set maximal_queue_lifetime", "invalid YAML"]),
    (["schedule", "postfix", "--set", "maximal_queue_lifetime=[1d"], ["--set maximal_queue_lifetime", "invalid YAML"]),
    (["schedule", "postfix", "--set", "maximal_queue_lifetime=1e400"], ["maximal_queue_lifetime", "finite"]),
    (["schedule", "postfix", "--set", "maximal_queue_lifetime=" + "[" * 5000], ["--set maximal_queue_lifetime"]),
], ids=["yaml-tag", "yaml-syntax", "infinite", "deep"])
def test_hostile_set_values(capsys, argv, expected):
    line = one_error_line(capsys, argv)
    for part in expected:
        assert part in line, f"{part!r} not in {line!r}"


@pytest.fixture
def ok_file(tmp_path):
    return write_bad(tmp_path, OK, "ok.yaml")


@pytest.mark.parametrize("args, expected", [
    (["tune", "schedule", "{f}", "--factor", "nan"], ["--factor", "finite"]),
    (["tune", "schedule", "{f}", "--factor", "inf"], ["--factor", "finite"]),
    (["tune", "schedule", "{f}", "--family", "fixed", "--interval", ""], ["--interval", "at least one"]),
    (["tune", "schedule", "{c}", "--family", "fixed", "--interval", "0.001"], ["attempts per message"]),
    (["tune", "expiry", "{f}", "--target", "nan"], ["--target"]),
    (["tune", "expiry", "{f}", "--target", "0.5", "--max-expiry", "30000d"], ["--max-expiry", "attempts per message"]),
    (["curve", "{f}", "--expiry", "99999999999d", "--out", "{out}"], ["--expiry", "100 years"]),
    (["curve", "{f}", "--expiry", "36000d", "--out", "{out}"], ["--expiry", "attempts per message", "--no-limits"]),
    (["curve", "{f}", "--replications", "100000000", "--out", "{out}"], ["--replications", "100,000"]),
], ids=["factor-nan", "factor-inf", "empty-interval", "interval-1ms", "target-nan", "max-expiry-huge",
        "curve-expiry-huge", "curve-expiry-work", "curve-replications"])
def test_hostile_flags(capsys, tmp_path, ok_file, args, expected):
    out = tmp_path / "out"
    custom = write_bad(tmp_path, CUSTOM % ("1h", "5d", ""), "custom.yaml")
    argv = [a.format(f=ok_file, c=custom, out=out) for a in args]
    began = time.monotonic()
    line = one_error_line(capsys, argv)
    assert time.monotonic() - began < 20
    for part in expected:
        assert part in line, f"{part!r} not in {line!r}"
    assert_nothing_written(out)


def test_absurd_number_in_main_cf(capsys, tmp_path):
    cf = tmp_path / "main.cf"
    cf.write_text("maximal_queue_lifetime = 99999999999999999999d\nminimal_backoff_time = 1e400s\n")
    line = one_error_line(capsys, ["import", "postfix", cf])
    assert "main.cf" in line


# -- lifting the limits ------------------------------------------------------------------------------------
def test_no_limits_lifts_the_work_limit(capsys, tmp_path, monkeypatch):
    """--no-limits (or MTASIM_NO_LIMITS=1) lets a scenario past the attempts estimate; without it, refused."""
    monkeypatch.setattr(mtasim.inputs, "MAX_ATTEMPTS_PER_MESSAGE", 50)
    path = write_bad(tmp_path, CUSTOM % ("1h", "5d", ""), "hourly.yaml")
    line = one_error_line(capsys, ["validate", path])
    assert "at most 50 attempts per message, got about 121" in line
    assert main(["validate", str(path), "--no-limits"]) == 0
    capsys.readouterr()
    assert mtasim.inputs.limits_enabled(), "the flag must not outlive its command"
    assert main(["run", str(path), "--no-limits", "--json"]) == 0
    capsys.readouterr()


# -- internal errors ---------------------------------------------------------------------------------------
def test_internal_error_is_one_line_exit_1(capsys, tmp_path, monkeypatch):
    import mtasim.cli

    def broken(*_a, **_k):
        raise KeyError("a bug")

    monkeypatch.setattr(mtasim.cli, "load_scenario", broken)
    monkeypatch.delenv("MTASIM_DEBUG", raising=False)
    line = one_error_line(capsys, ["validate", tmp_path / "x.yaml"], code=1)
    assert "internal error" in line and "MTASIM_DEBUG=1" in line and "KeyError" in line
    monkeypatch.setenv("MTASIM_DEBUG", "1")
    assert main(["validate", str(tmp_path / "x.yaml")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.splitlines()[-1].startswith("mtasim: internal error")


# -- fuzzing -----------------------------------------------------------------------------------------------
VALID = {
    "name": "fuzz",
    "seed": 3,
    "start": "2026-01-02T09:00:00Z",
    "reporting_mta": "mta.example.org",
    "horizon": "3d",
    "sender": {"schedule": {"kind": "exponential", "first": "5m", "factor": 2, "max": "1h"}, "expiry": "1d",
               "delay_warning": "4h", "queue_run": "5m"},
    "messages": {"count": 20, "arrival": {"kind": "uniform", "start": 0, "end": "2h"}},
    "recipients": [{"domain": "a.example", "share": 2, "outages": [{"start": "1h", "end": "6h", "failure": "refused"}]},
                   {"domain": "b.example", "domains": 3}],
}

ODD_VALUES = [None, "", " ", [], {}, [[[]]], {"a": {"b": None}}, True, False, -1, 0, 0.5, -0.0, 10**30, 1e308,
              -1e308, math.nan, math.inf, -math.inf, "nan", "inf", "-5m", "1ms", "9" * 400, "a\r\nBcc: x@example",
              "\x1b[31mred", "ok\x00", "2026-13-01", "mx.example.org", "postfix", "fixed", "1h", "99999999999d",
              "exponential", "\u202e", "\ud7ff"]


PATHS = [p for p in key_paths(VALID) if p]


def _mutate(data, path, action, value):
    data = copy.deepcopy(data)
    node = data
    for part in path[:-1]:
        node = node[part]
    last = path[-1]
    if action == "drop":
        del node[last]
    elif action == "rename" and isinstance(last, str):
        node[last + "x"] = node.pop(last)
    else:
        node[last] = value
    return data


mutations = st.lists(st.tuples(st.sampled_from(PATHS), st.sampled_from(["drop", "replace", "replace", "rename"]),
                               st.sampled_from(ODD_VALUES)), min_size=1, max_size=3)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations, st.sampled_from(["run", "validate"]))
def test_fuzzed_scenarios_exit_0_or_2_in_one_line(changes, command):
    data = VALID
    for path, action, value in changes:
        try:
            data = _mutate(data, path, action, value)
        except (KeyError, IndexError, TypeError, AttributeError):
            continue                       # an earlier change removed the place: keep what we have
    with tempfile.TemporaryDirectory() as tmp:
        path, out = Path(tmp) / "fuzz.yaml", Path(tmp) / "out"
        path.write_text(yaml.safe_dump(data, allow_unicode=False), encoding="utf-8")
        argv = [command, str(path)] + (["--out", str(out)] if command == "run" and len(changes) % 2 else [])
        err, stdout = io.StringIO(), io.StringIO()
        began = time.monotonic()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(stdout):
            code = main(argv)
        took = time.monotonic() - began
        text = err.getvalue()
        assert "Traceback" not in text, text
        assert code in (0, 2), (code, text, data)
        if code == 2:
            assert len(text.splitlines()) == 1 and text.startswith("mtasim: "), text
            assert text.rstrip("\n").isprintable(), repr(text)
            assert_nothing_written(out)
        assert took < 30, f"{took:.1f} s for {data}"


# -- fuzzing command lines ---------------------------------------------------------------------------------
FUZZ_SCENARIO = ("sender: {preset: postfix}\nmessages: {count: 2}\n"
                 "recipients: [{domain: a.example, outages: [{start: 0, end: 2h}]}]\n")
#: Each command with its positional arguments and the flags it may get (value None: a switch).
COMMAND_LINES = {
    "run": (["run", "{scenario}"], [("--out", "{out}"), ("--seed", "3"), ("--engine", "des"),
                                    ("--queue-interval", "15m"), ("--qshape", "1h"), ("--dsn", "{dsn}"),
                                    ("--log", "{log}"), ("--attempts", None), ("--json", None), ("--no-limits", None)]),
    "validate": (["validate", "{scenario}"], [("--no-limits", None)]),
    "schedule": (["schedule", "postfix"], [("--set", "maximal_queue_lifetime=2d"), ("--until", "1d"),
                                           ("--failure", "refused"), ("--seed", "1"), ("--json", None)]),
    "curve": (["curve", "{scenario}"], [("--out", "{out}"), ("--expiry", "1h..4h/1h"), ("--series", "outage=1h,2h"),
                                        ("--replications", "2"), ("--method", "auto"), ("--no-limits", None)]),
    "tune expiry": (["tune", "expiry", "{scenario}"], [("--target", "0.5"), ("--replications", "1"),
                                                       ("--max-expiry", "2d"), ("--json", None)]),
}
REQUIRED_FLAGS = {"curve": ("--out",), "tune expiry": ("--target",)}
ODD_ARGS = ["", " ", "nan", "NaN", "inf", "-inf", "-1", "0", "-0", "0.5", "1e400", "1e-400", "10" * 20, "99999999999d",
            "36000d", "1ms", "0.001", "\x1b[31m", "a\nb", "\u202e", "--", "-", "=", "x=y", "1h..0h/1h", "0..1/0", ",,,",
            "1h,", "preset=", "outage=", "preset=postfx", "outage=-1h", "maximal_queue_lifetime=[1d",
            "maximal_queue_lifetime=!!python/object/apply:os.system ['true']", "maximal_queue_lifetime=1e400",
            "--bogus", "--out", "2026-13-01T00:00:00", "Sat 99:00", "999 9.9.9 x", "postfix"]


@st.composite
def command_lines(draw):
    """A valid command line of run, validate, schedule, curve or tune expiry, then up to three changes: a
    flag's value replaced by an odd one, an odd word added, a positional argument dropped or replaced."""
    command = draw(st.sampled_from(sorted(COMMAND_LINES)))
    positional, flags = COMMAND_LINES[command]
    chosen = [f for f in flags if f[0] in REQUIRED_FLAGS.get(command, ()) or draw(st.booleans())]
    words = [list(positional)] + [[flag] if value is None else [flag, value] for flag, value in chosen]
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["value"] * 6 + ["add", "add-flag", "positional"]))
        odd = draw(st.sampled_from(ODD_ARGS))
        valued = [g for g in words[1:] if len(g) == 2 or "=" in g[0]]
        if action == "value" and valued:
            group = draw(st.sampled_from(valued))
            flag = group[0].split("=", 1)[0]
            group[:] = [f"{flag}={odd}"] if draw(st.booleans()) else [flag, odd]    # --seed=-1 or --seed -1
        elif action == "add":
            words.append([odd])
        elif action == "add-flag":
            words.append([draw(st.sampled_from([f for f, _ in flags] + ["--bogus", "--outt"])), odd])
        elif len(words[0]) > 1:
            if draw(st.booleans()):
                words[0][-1] = odd           # the scenario file (or preset) replaced
            else:
                words[0].pop()               # or left out
    return [w for group in words for w in group]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(command_lines())
def test_fuzzed_command_lines_exit_0_or_2_in_one_line(argv):
    """Odd flag values (empty, NaN, infinite, negative, huge, control characters, unknown flags) on run,
    validate, schedule, curve and tune expiry: exit 0, or exit 2 with one 'mtasim: ' line (argparse's
    usage errors too), no traceback, nothing written, within seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        places = {"scenario": Path(tmp) / "fuzz.yaml", "out": Path(tmp) / "out", "dsn": Path(tmp) / "dsn",
                  "log": Path(tmp) / "mail.log"}
        places["scenario"].write_text(FUZZ_SCENARIO, encoding="utf-8")
        args = [a.format(**places) if "{" in a and a.strip("{}") in places else a for a in argv]
        err, stdout = io.StringIO(), io.StringIO()
        began = time.monotonic()
        # An odd word taken as a relative path (--out 0.5, --out preset=postfx) must land in tmp, not in the
        # folder the suite runs from (it once left tests/0.5 and tests/preset=postfx behind)
        here = Path.cwd()
        words = {w for w in args if w.strip() and w not in (".", "..") and not os.path.isabs(w)}
        there_before = {w for w in words if os.path.lexists(here / w)}
        try:
            with contextlib.chdir(tmp), contextlib.redirect_stderr(err), contextlib.redirect_stdout(stdout):
                code = main(args)
        except SystemExit as exc:              # argparse: --help (0) or a usage error (2)
            code = exc.code
        stray = {w for w in words if os.path.lexists(here / w)} - there_before
        assert Path.cwd() == here and not stray, f"{args} wrote {sorted(stray)} into {here}"
        took = time.monotonic() - began
        text = err.getvalue()
        assert "Traceback" not in text, text
        assert code in (0, 2), (code, text, args)
        if code == 2:
            assert len(text.splitlines()) == 1 and text.startswith("mtasim: "), (args, text)
            assert text.rstrip("\n").isprintable(), repr(text)
            for name in ("out", "dsn"):
                assert_nothing_written(places[name])
            assert not places["log"].exists()
            assert sorted(p.name for p in Path(tmp).iterdir()) == ["fuzz.yaml"] + (["out"] if places["out"].exists()
                                                                                  else []), args
        assert took < 20, f"{took:.1f} s for {args}"


# -- plot inputs ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def plot_inputs(tmp_path_factory):
    """A run folder (with attempts.csv) and a curve folder of a small scenario, made once."""
    base = tmp_path_factory.mktemp("plot-inputs")
    scenario_file = base / "s.yaml"
    scenario_file.write_text(FUZZ_SCENARIO, encoding="utf-8")
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["run", str(scenario_file), "--out", str(base / "run"), "--attempts"]) == 0
        assert main(["curve", str(scenario_file), "--expiry", "1h,2h,3h", "--out", str(base / "curve")]) == 0
    return base


def _edit_cell(path: Path, line: int, column: str, value: str) -> None:
    rows = path.read_text(encoding="utf-8").splitlines()
    header = rows[0].split(",")
    cells = rows[line - 1].split(",")
    cells[header.index(column)] = value
    rows[line - 1] = ",".join(cells)
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def _ids_to(path: Path, column: str, value: str) -> None:
    """Every row of message 0 in ``path`` renamed to message ``value``."""
    rows = path.read_text(encoding="utf-8").splitlines()
    k = rows[0].split(",").index(column)
    out = [rows[0]]
    for row in rows[1:]:
        cells = row.split(",")
        if cells[k] == "0":
            cells[k] = value
        out.append(",".join(cells))
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


PLOT_CASES = [
    # (id, kind, folder, change(folder), substrings of the line)
    ("curve-huge-expiry", "curve", "curve", lambda d: _edit_cell(d / "curve.csv", 2, "expiry_s", "1e300"),
     ["curve.csv", "line 2", "expiry_s", "1e300"]),
    ("curve-expiry-1e20", "curve", "curve", lambda d: _edit_cell(d / "curve.csv", 2, "expiry_s", "1e20"),
     ["expiry_s", "at most"]),
    ("curve-infinite-expiry", "curve", "curve", lambda d: _edit_cell(d / "curve.csv", 2, "expiry_s", "inf"),
     ["expiry_s", "finite"]),
    ("curve-nan-fraction", "curve", "curve", lambda d: _edit_cell(d / "curve.csv", 3, "fraction", "nan"),
     ["fraction", "finite"]),
    ("heatmap-nan-expiry", "heatmap", "curve", lambda d: _edit_cell(d / "curve.csv", 2, "expiry_s", "nan"),
     ["expiry_s", "finite"]),
    ("timeline-huge-id", "timeline", "run", lambda d: (_ids_to(d / "messages.csv", "id", "9" * 20),
                                                       _ids_to(d / "attempts.csv", "message_id", "9" * 20)),
     ["messages.csv", "column id", "whole number"]),
    ("timeline-negative-id", "timeline", "run", lambda d: _ids_to(d / "messages.csv", "id", "-5"),
     ["column id", "whole number from 0"]),
    ("timeline-huge-time", "timeline", "run", lambda d: _edit_cell(d / "attempts.csv", 2, "time_s", "1e300"),
     ["attempts.csv", "time_s"]),
    ("empty-curve-csv", "curve", "curve", lambda d: (d / "curve.csv").write_text(""), ["curve.csv", "empty"]),
    ("header-only-csv", "curve", "curve", lambda d: (d / "curve.csv").write_text(
        (d / "curve.csv").read_text().splitlines()[0] + "\n"), ["curve.csv", "no data rows"]),
    ("binary-messages-csv", "timeline", "run", lambda d: (d / "messages.csv").write_bytes(bytes(range(256)) * 8),
     ["messages.csv"]),
    ("latin1-queue-csv", "queue", "run", lambda d: (d / "queue.csv").write_bytes(b"time_s,destination,queued\n\xe9,a,1\n"),
     ["queue.csv", "cannot read"]),
    ("ragged-latency-csv", "latency", "run", lambda d: (d / "messages.csv").write_text(
        (d / "messages.csv").read_text() + "1,2\n"), ["messages.csv", "fields"]),
    ("huge-field", "queue", "run", lambda d: (d / "queue.csv").write_text("time_s,destination,queued\n"
                                                                          + "x" * 200_000 + ",a,1\n"),
     ["queue.csv"]),
    ("unterminated-quote", "burst", "run", lambda d: (d / "attempts.csv").write_text(
        (d / "attempts.csv").read_text() + '"abc\n'), ["attempts.csv"]),
    ("fifo-summary-json", "queue", "run", lambda d: _fifo(d / "summary.json"),
     ["summary.json", "expected a regular file, got a FIFO"]),
    ("fifo-messages-csv", "timeline", "run", lambda d: _fifo(d / "messages.csv"),
     ["messages.csv", "expected a regular file, got a FIFO"]),
]


def _fifo(path: Path) -> None:
    """``path`` replaced by a named pipe nobody writes to: reading it would wait for ever."""
    path.unlink()
    os.mkfifo(path)


@pytest.mark.parametrize("kind, folder, change, expected", [c[1:] for c in PLOT_CASES], ids=[c[0] for c in PLOT_CASES])
def test_garbled_plot_inputs_are_one_line(capsys, tmp_path, plot_inputs, kind, folder, change, expected):
    """Hand-edited or garbled result files given to ``plot``: one line, exit 2, no figure, within seconds."""
    import shutil

    d = tmp_path / folder
    shutil.copytree(plot_inputs / folder, d)
    change(d)
    figure = tmp_path / "figure.png"
    began = time.monotonic()
    line = one_error_line(capsys, ["plot", kind, d, "--out", figure])
    assert time.monotonic() - began < 20
    for part in expected:
        assert part in line, f"{part!r} not in {line!r}"
    assert line.isprintable(), repr(line)
    assert not figure.exists()


def test_plot_curve_with_a_long_but_finite_expiry_draws_quickly(capsys, tmp_path, plot_inputs):
    """Up to the bound, a long expiry is drawn with about a dozen ticks (not one per week of 30,000 years)."""
    import shutil

    d = tmp_path / "curve"
    shutil.copytree(plot_inputs / "curve", d)
    _edit_cell(d / "curve.csv", 2, "expiry_s", "9e11")
    began = time.monotonic()
    assert main(["plot", "curve", str(d), "--out", str(tmp_path / "f.png")]) == 0
    assert time.monotonic() - began < 20
    capsys.readouterr()


def test_plot_input_too_big_for_memory_is_refused_before_it_is_read(capsys, tmp_path, plot_inputs, monkeypatch):
    """A CSV whose rows would take more memory than is available (about 7 times its size) is refused with
    both numbers before a line of it is read, not read until the machine runs out."""
    import shutil

    import mtasim.engine.memory

    d = tmp_path / "run"
    shutil.copytree(plot_inputs / "run", d)
    size = (d / "messages.csv").stat().st_size
    monkeypatch.setattr(mtasim.engine.memory, "available_memory_bytes", lambda: 7 * size - 1)
    monkeypatch.setattr(csv, "reader", lambda *a, **k: pytest.fail("the file was read"))
    line = one_error_line(capsys, ["plot", "latency", d, "--out", tmp_path / "f.png"])
    assert f"{d / 'messages.csv'}: {mtasim.inputs.format_bytes(size)} would need about " \
           f"{mtasim.inputs.format_bytes(7 * size)} of memory to read (7 times its size); " \
           f"{mtasim.inputs.format_bytes(7 * size - 1)} is available" in line, line
    assert not (tmp_path / "f.png").exists()


# -- sweep work ---------------------------------------------------------------------------------------------
SWEEP = ("sender: {schedule: {kind: fixed, interval: 15m}, expiry: 24h}\nmessages: {count: 2}\n"
         "recipients: [{domain: a.example, outages: [{start: 0, end: 2h}]}]\nsweep:\n%s")


def test_a_ten_million_point_grid_is_refused_before_it_is_built(capsys, tmp_path, monkeypatch):
    """216 x 216 x 214 grid points: refused with the numbers at once, without listing a single point."""
    import mtasim.grid

    def no_points(self):
        raise AssertionError("the grid was built")

    monkeypatch.setattr(mtasim.grid.SweepSpec, "points", no_points)
    path = write_bad(tmp_path, SWEEP % ("  sender.expiry: 1h..216h/1h\n  sender.schedule.interval: 1m..216m/1m\n"
                                        "  recipients[0].outages[0].end: 1h..214h/1h\n"), "grid.yaml")
    out = tmp_path / "out"
    began = time.monotonic()
    line = one_error_line(capsys, ["sweep", path, "--out", out])
    assert time.monotonic() - began < 5
    assert "sweep" in line and "9,984,384" in line and "100,000 runs" in line and "--no-limits" in line
    assert_nothing_written(out)


def test_sweep_runs_are_bounded_and_no_limits_lifts_it(capsys, tmp_path, monkeypatch):
    import mtasim.sweep

    monkeypatch.setattr(mtasim.sweep, "MAX_SWEEP_RUNS", 5)
    path = write_bad(tmp_path, SWEEP % "  sender.expiry: [12h, 24h]\n  replications: 3\n", "small.yaml")
    line = one_error_line(capsys, ["sweep", path, "--out", tmp_path / "out"])
    assert "expected at most 5 runs, got 6 (2 grid points x 3 replications" in line
    assert_nothing_written(tmp_path / "out")
    assert main(["sweep", str(path), "--out", str(tmp_path / "out"), "--no-limits", "--no-progress"]) == 0
    capsys.readouterr()
    assert len((tmp_path / "out" / "sweep.csv").read_text().splitlines()) == 7


def test_a_sweep_too_big_for_memory_is_refused_with_the_estimate_even_without_limits(capsys, tmp_path, monkeypatch):
    """--no-limits lifts the bound on runs, not the machine's memory: 10,000,000 runs at 800 B each need
    7.5 GiB; with 1 GiB available the sweep is refused with both numbers before any point is built."""
    import mtasim.engine.memory
    import mtasim.grid

    monkeypatch.setattr(mtasim.engine.memory, "available_memory_bytes", lambda: 2**30)
    monkeypatch.setattr(mtasim.grid.SweepSpec, "points", lambda self: pytest.fail("the grid was built"))
    path = write_bad(tmp_path, SWEEP % "  sender.expiry: 1h..100h/1h\n  sender.schedule.interval: 1m..100m/1m\n"
                     "  replications: 1000\n", "mem.yaml")
    line = one_error_line(capsys, ["sweep", path, "--out", tmp_path / "out", "--no-limits"])
    assert "sweep: 10,000,000 runs (10,000 grid points x 1,000 replications" in line, line
    assert "about 7.5 GiB of memory" in line and "1.0 GiB is available" in line, line
    assert_nothing_written(tmp_path / "out")


def test_a_sweep_whose_rows_do_not_fit_on_the_disk_is_refused(capsys, tmp_path, monkeypatch):
    """The rows' size (8 B per column: 12 rows of 21 columns, 2,016 B) against the free space where --out
    goes (1 KiB here): refused naming sweep.csv, nothing written."""
    import mtasim.sweep

    real = os.statvfs

    class Tiny:
        f_bavail, f_frsize, f_flag = 1, 1024, 0

    monkeypatch.setattr(mtasim.sweep.os, "statvfs", lambda p: Tiny() if str(p).startswith(str(tmp_path)) else real(p))
    path = write_bad(tmp_path, SWEEP % "  sender.expiry: 1h..4h/1h\n  replications: 3\n", "disk.yaml")
    line = one_error_line(capsys, ["sweep", path, "--out", tmp_path / "out", "--no-limits"])
    assert f"12 runs (4 grid points x 3 replications, one row and one run of 2 messages each) would write about " \
           f"2.0 KiB of rows to {tmp_path / 'out' / 'sweep.csv'}; 1.0 KiB is free there" in line, line
    assert_nothing_written(tmp_path / "out")


def test_no_limits_reaches_the_process_that_runs_a_sweep_task():
    """A task planned under --no-limits runs without limits wherever it runs (a Dask worker is a process of
    its own, started without the flag: it refused the scenario the sweep had accepted)."""
    import mtasim.sweep
    from mtasim.scenario import scenario_from_dict

    data = yaml.safe_load(SWEEP % "  seed: [1]\n")
    data["sender"]["schedule"]["interval"] = "5s"
    data["sender"]["expiry"] = "7d"                   # about 121,000 attempts per message: over the limit
    mtasim.inputs.set_limits(False)
    try:
        tasks = mtasim.sweep.plan_sweep(scenario_from_dict(data, "w.yaml"))
    finally:
        mtasim.inputs.set_limits(True)
    assert [t.limits for t in tasks] == [False]
    assert mtasim.sweep.run_task(tasks[0])["messages"] == 2        # limits on here, as in a fresh worker
    assert mtasim.inputs.limits_enabled()
    with pytest.raises(mtasim.config.ConfigError, match="100,000 attempts per message"):
        mtasim.sweep.run_task(dataclasses.replace(tasks[0], limits=True))


@pytest.mark.parametrize("argv", [["curve", "{f}", "--out=--", "--method", "auto"], ["run", "{f}", "--log=--"]])
def test_an_option_given_a_lone_double_dash_is_refused_in_one_line(capsys, tmp_path, ok_file, argv):
    """argparse drops the "--" of "--out=--" and leaves an empty list (an internal error before; found by
    the command-line fuzzer): a usage error, one line, exit 2, nothing written."""
    with pytest.raises(SystemExit) as stop:
        main([a.format(f=ok_file) for a in argv])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and len(err.splitlines()) == 1 and "expected a value, got '--'" in err
    assert not Path("--").exists()

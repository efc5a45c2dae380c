"""Hostile input (issue 12, the input side): a catalogue of files that are not files, deep or odd YAML,
numbers at the edges, names that would inject header or terminal text, and work that never ends. Each
must end in exit 2 (bad input) with one 'mtasim: ' line on stderr, no traceback, nothing written, fast;
an internal error says so in one line with exit 1. A small fuzzer mutates a valid scenario the same way."""

from __future__ import annotations

import contextlib
import copy
import io
import math
import os
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from helpers import assert_nothing_written, one_error_line, write_bad
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


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


PATHS = [p for p in _paths(VALID) if p]


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

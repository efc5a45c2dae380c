"""The published JSON Schema of the scenario format (``mtasim schema``, issue 12 item 7) against the loader:
every shipped scenario passes both; bad files the schema can describe are refused by both; the loader
never accepts what the schema refuses (fuzzed); and the keys the loader's source reads are exactly the
schema's, so that neither drifts from the other."""

from __future__ import annotations

import ast
import copy
import datetime
import json
from pathlib import Path

import jsonschema                       # a test dependency (pyproject's [test] extra): never skipped
import pytest
import yaml
from helpers import SETTINGS, key_paths, scenarios
from hypothesis import given
from hypothesis import strategies as st

import mtasim
from mtasim.config import ConfigError
from mtasim.presets import PRESETS
from mtasim.recipients.behaviour import BEHAVIOUR_KEYS
from mtasim.schema import scenario_schema

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "mtasim"
SHIPPED = sorted((ROOT / "scenarios").glob("*.yaml"))
VALIDATOR = jsonschema.Draft202012Validator(scenario_schema())


def as_json(value):
    """The YAML data as an editor's YAML extension sees it: timestamps as text (JSON has no dates)."""
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json(v) for v in value]
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    return value


def schema_errors(data) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in VALIDATOR.iter_errors(as_json(data))]


def loader_error(data) -> str | None:
    try:
        mtasim.scenario_from_dict(copy.deepcopy(data), "x.yaml")
    except ConfigError as exc:
        return str(exc)
    return None


def test_schema_command_prints_a_valid_draft_2020_12_schema(capsys):
    from mtasim.cli import main

    assert main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(printed)
    assert printed == json.loads(json.dumps(scenario_schema()))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_shipped_scenario_passes_the_schema(path):
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert loader_error(data) is None
    assert schema_errors(data) == []


# -- refused by both --------------------------------------------------------------------------------------
OK = {"sender": {"preset": "postfix"}, "messages": {"count": 2}, "recipients": [{"domain": "a.example"}]}
CUSTOM = {"schedule": {"kind": "fixed", "interval": "1h"}, "expiry": "1d"}


def bad(path: str, value, base=None, drop: bool = False):
    """OK (or ``base``) with ``value`` set at a dotted ``path`` (``recipients.0.domain``), or the key dropped."""
    data = copy.deepcopy(base if base is not None else OK)
    node = data
    parts = [int(p) if p.isdigit() else p for p in path.split(".")]
    for part in parts[:-1]:
        node = node[part]
    if drop:
        del node[parts[-1]]
    else:
        node[parts[-1]] = value
    return data


WITH_CUSTOM = bad("sender", CUSTOM)
# (id, data): each is refused by the loader and by the schema
BAD = [
    # unknown keys, at every level
    ("unknown-top-key", bad("sedner", {})),
    ("key-with-newline-and-escape", bad("bad\nkey\x1b[31m", 1)),
    ("unknown-sender-key", bad("sender.expiry", "1d")),                    # a custom key with a preset
    ("preset-param-of-another-preset", bad("sender.MessageExpirationTimeout", "2d")),
    ("unknown-custom-sender-key", bad("sender.expiri", "1d", WITH_CUSTOM)),
    ("unknown-schedule-key", bad("sender.schedule.intervall", "1h", WITH_CUSTOM)),
    ("unknown-messages-key", bad("messages.cuont", 3)),
    ("unknown-recipient-key", bad("recipients.0.shares", 2)),
    ("unknown-outage-key", bad("recipients.0.outages", [{"start": "1h", "ned": "2h"}])),
    ("unknown-mx-key", bad("recipients.0.mx", [{"host": "mx.a.example", "preference": 10, "prio": 1}])),
    ("unknown-greylist-key", bad("recipients.0.greylist", {"delay": "5m", "window": "1d", "dealy": "1m"})),
    # wrong types
    ("sender-a-list", bad("sender", ["postfix"])),
    ("recipients-a-mapping", bad("recipients", {"domain": "a.example"})),
    ("count-text", bad("messages.count", "many")),
    ("count-fraction", bad("messages.count", 2.5)),
    ("share-text", bad("recipients.0.share", "half")),
    ("domain-a-number", bad("recipients.0.domain", 42)),
    ("honour-retry-after-text", bad("sender.honour_retry_after", "yes", WITH_CUSTOM)),
    ("expiry-a-list", bad("sender.expiry", ["1d"], WITH_CUSTOM)),
    ("duration-garbled", bad("sender.expiry", "one day", WITH_CUSTOM)),
    # negative and out-of-range numbers
    ("negative-count", bad("messages.count", -5)),
    ("zero-count", bad("messages.count", 0)),
    ("count-1e300", bad("messages.count", 1e300)),
    ("negative-expiry", bad("sender.expiry", -300, WITH_CUSTOM)),
    ("negative-interval", bad("sender.schedule.interval", -1, WITH_CUSTOM)),
    ("expiry-infinite", bad("sender.expiry", float("inf"), WITH_CUSTOM)),
    ("negative-seed", bad("seed", -1)),
    ("zero-share", bad("recipients.0.share", 0)),
    ("20-million-domains", bad("recipients.0.domains", 20_000_000)),
    ("probability-above-1", bad("recipients.0.unknown_user", 1.5)),
    ("preference-above-65535", bad("recipients.0.mx", [{"host": "mx.a.example", "preference": 70000}])),
    ("preset-count-out-of-range", bad("sender.maxTempFailures", 0, {**OK, "sender": {"preset": "haraka"}})),
    ("factor-below-1", bad("sender.schedule", {"kind": "exponential", "first": "5m", "factor": 0.5}, WITH_CUSTOM)),
    # bad enumerations
    ("unknown-preset", bad("sender.preset", "postfx")),
    ("unknown-schedule-kind", bad("sender.schedule.kind", "fibonacci", WITH_CUSTOM)),
    ("unknown-give-up", bad("sender.give_up", "never", WITH_CUSTOM)),
    ("unknown-jitter", bad("sender.schedule", {"kind": "exponential", "first": "5m", "jitter": "some"}, WITH_CUSTOM)),
    ("unknown-arrival-kind", bad("messages.arrival", {"kind": "burst"})),
    ("unknown-behaviour", bad("recipients.0.behaviour", "postgray")),
    ("unknown-failure", bad("recipients.0.outages", [{"start": 0, "end": "1h", "failure": "busy"}])),
    ("unknown-distribution-kind", bad("recipients.0.random_outage", {"duration": {"kind": "gamma", "mean": "1h"}})),
    ("delay-warning-at-typo", bad("sender.delay_warning_at", "next_due", {**OK, "sender": {
        **CUSTOM, "delay_warning": "4h"}})),
    # missing keys and combinations
    ("missing-recipients", bad("recipients", None, drop=True)),
    ("no-recipients", bad("recipients", [])),
    ("missing-domain", bad("recipients.0", {"share": 1})),
    ("missing-count", bad("messages", {"arrival": {"kind": "uniform", "start": 0, "end": "1h"}})),
    ("count-with-poisson", bad("messages", {"count": 3, "arrival": {"kind": "poisson", "rate": "2/h", "end": "1h"}})),
    ("missing-schedule", bad("sender", {"expiry": "1d"})),
    ("attempts-with-expiry", bad("sender", {**CUSTOM, "give_up": "attempts", "max_attempts": 3})),
    ("max-attempts-without-attempts", bad("sender.max_attempts", 3, WITH_CUSTOM)),
    ("repeat-without-warning", bad("sender.delay_warning_repeat", "1h", WITH_CUSTOM)),
    ("outages-and-random-outage", bad("recipients.0", {"domain": "a.example", "outages": [],
                                                        "random_outage": {"duration": "1h"}})),
    ("outages-beside-mx", bad("recipients.0", {"domain": "a.example", "outages": [],
                                                "mx": [{"host": "mx.a.example", "preference": 1}]})),
    ("greylist-beside-mx", bad("recipients.0", {"domain": "a.example", "greylist": {"delay": "5m", "window": "4h"},
                                                 "mx": [{"host": "mx.a.example", "preference": 1}]})),
    ("rate-limit-behaviour-on-a-host", bad("recipients.0.mx", [{"host": "mx.a.example", "preference": 1,
                                                                "behaviour": "gmail"}])),
    ("shared-triplets-on-a-host", bad("recipients.0.mx", [{"host": "mx.a.example", "preference": 1, "greylist": {
        "delay": "5m", "window": "4h", "addresses": 10}}])),
    ("preset-param-and-alias", bad("sender", {"preset": "exchange-online", "MessageExpiration": "1d",
                                              "MessageExpirationTimeout": "1d"})),
    # names that would inject header text
    ("domain-crlf", bad("recipients.0.domain", "a.example\r\nBcc: victim@example.com")),
    ("domain-label-64", bad("recipients.0.domain", "a" * 64 + ".example")),
    ("reporting-mta-crlf", bad("reporting_mta", "mta.example.org\r\nBcc: victim@example.com")),
    ("mx-host-space", bad("recipients.0.mx", [{"host": "mx a.example", "preference": 1}])),
    ("rate-garbled", bad("recipients.0.rate_limit", {"rate": "fast"})),
    ("status-garbled", bad("sender.expiry_status", "4.4", WITH_CUSTOM)),
    # issue 12's catalogue, where a schema can say it (not: .nan, which JSON has no number for; a schedule's
    # attempts per message; a Haraka multiplier inside its interval text)
    ("start-month-13", bad("start", "2026-13-01T00:00:00Z")),
    ("start-day-32", bad("start", "2026-01-32T00:00:00Z")),
    ("start-odd-timezone", bad("start", "2026-01-01T00:00:00+99:00")),
    ("start-year-9999", bad("start", "9999-12-31T23:00:00Z")),
    ("outage-end-month-13", bad("recipients.0.outages", [{"start": 0, "end": "2026-13-01T00:00:00Z"}])),
    ("outage-end-1e15", bad("recipients.0.outages", [{"start": 0, "end": 1e15}])),
    ("interval-1ms", bad("sender.schedule.interval", "1ms", WITH_CUSTOM)),
    ("expiry-100y", bad("sender.expiry", "100y", WITH_CUSTOM)),
    ("delay-warning-repeat-1ms", bad("sender", {**CUSTOM, "delay_warning": "1h", "delay_warning_repeat": "1ms"})),
    ("factor-infinite", bad("sender.schedule", {"kind": "exponential", "first": "5m", "factor": float("inf")},
                            WITH_CUSTOM)),
    ("max-attempts-infinite", bad("sender", {"schedule": {"kind": "fixed", "interval": "1h"}, "give_up": "attempts",
                                             "max_attempts": float("inf")})),
    ("poisson-rate-infinite", bad("messages", {"arrival": {"kind": "poisson", "rate": float("inf"), "end": "1h"}})),
    ("seed-400-digits", bad("seed", int("9" * 400))),
    ("60-million-domains", bad("recipients.0.domains", 60_000_000)),
    ("preset-param-infinite", bad("sender.maximal_queue_lifetime", float("inf"))),
]


@pytest.mark.parametrize("data", [d for _, d in BAD], ids=[i for i, _ in BAD])
def test_bad_files_are_refused_by_the_loader_and_the_schema(data):
    assert loader_error(data) is not None, "the loader accepts it"
    assert schema_errors(data), f"the schema accepts what the loader refuses: {loader_error(data)}"


# -- drift between the schema and the loader --------------------------------------------------------------
def _schema_keys(value, out: set[str]) -> set[str]:
    """Every property name anywhere in the schema."""
    if isinstance(value, dict):
        for key, child in value.items():
            if key == "properties" and isinstance(child, dict):
                out.update(child)
            _schema_keys(child, out)
    elif isinstance(value, list):
        for child in value:
            _schema_keys(child, out)
    return out


def _loader_keys() -> dict[str, list[str]]:
    """Every key the loader's source reads by name: ``node.get("key")``, ``.duration("key")``, ``.time``,
    ``.number``, ``.text``, ``.choice``, ``.has``, ``.child``, and ``key == "..."`` comparisons, with where."""
    files = [SRC / "scenario.py", SRC / "workload.py", SRC / "schedules.py", SRC / "grid.py",
             *sorted((SRC / "recipients").glob("*.py")), *sorted((SRC / "presets").glob("*.py"))]
    keys: dict[str, list[str]] = {}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            found = None
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args
                    and node.func.attr in ("get", "duration", "time", "number", "text", "choice", "has", "child")
                    and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                found = node.args[0].value
            elif (isinstance(node, ast.Compare) and isinstance(node.left, ast.Name) and node.left.id == "key"
                  and len(node.comparators) == 1 and isinstance(node.comparators[0], ast.Constant)):
                found = node.comparators[0].value
            if isinstance(found, str):
                keys.setdefault(found, []).append(f"{path.relative_to(SRC)}:{node.lineno}")
    for key in BEHAVIOUR_KEYS:                      # read through a helper taking the key as a variable
        keys.setdefault(key, []).append("recipients/behaviour.py (BEHAVIOUR_KEYS)")
    return keys


def test_every_key_the_loader_reads_is_in_the_schema_and_no_other():
    schema_keys = _schema_keys(scenario_schema(), set())
    read = _loader_keys()
    assert len(read) > 80, "the source scan found too few keys: has the loader's style changed?"
    missing = {k: where for k, where in read.items() if k not in schema_keys}
    assert not missing, f"keys the loader reads that the schema does not describe: {missing}"
    params = {name for p in PRESETS.values() for name in p.param_names()}
    extra = schema_keys - set(read) - params
    assert not extra, f"keys in the schema that the loader never reads: {sorted(extra)}"


def test_every_preset_and_schedule_kind_is_in_the_schema():
    from mtasim.schedules import SCHEDULE_KINDS

    defs = scenario_schema()["$defs"]
    assert defs["preset_sender"]["properties"]["preset"]["enum"] == list(PRESETS)
    assert defs["schedule"]["properties"]["kind"]["enum"] == list(SCHEDULE_KINDS)


def _mappings(value, path=()):
    """The key path of every mapping in a scenario, the sweep's and a reply mix's keys aside (they are
    free: parameter paths and SMTP replies)."""
    if isinstance(value, dict):
        yield path
        for key, child in value.items():
            if key != "sweep":
                yield from _mappings(child, path + (key,))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _mappings(child, path + (i,))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_an_unknown_key_anywhere_in_a_shipped_scenario_is_refused_by_both(path):
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    places = list(_mappings(data))
    assert len(places) >= 4
    for place in places:
        changed = copy.deepcopy(data)
        node = changed
        for part in place:
            node = node[part]
        node["zz_unknown"] = 1
        where = "/".join(map(str, place)) or "(top)"
        assert loader_error(changed) is not None, f"{path.name}: the loader accepts an unknown key at {where}"
        assert schema_errors(changed), f"{path.name}: the schema accepts an unknown key at {where}"


# -- the schema is never stricter than the loader ---------------------------------------------------------
@SETTINGS
@given(scenarios())
def test_generated_scenarios_the_loader_accepts_pass_the_schema(data):
    if loader_error(data) is None:
        assert schema_errors(data) == [], data


FUZZ_BASE = {
    "name": "fuzz", "seed": 3, "start": "2026-01-02T09:00:00Z", "reporting_mta": "mta.example.org", "horizon": "3d",
    "sender": {"schedule": {"kind": "exponential", "first": "5m", "factor": 2, "max": "1h", "jitter": "full"},
               "expiry": "1d", "delay_warning": ["4h", "8h"], "queue_run": "5m", "delay_warning_at": "age"},
    "messages": {"count": 20, "arrival": {"kind": "uniform", "start": 0, "end": "2h"}},
    "recipients": [
        {"domain": "a.example", "share": 2, "outages": [{"start": "1h", "end": "6h", "failure": "refused"}],
         "behaviour": "postgrey", "greylist": {"delay": "10m"}, "tempfail": {"p": 0.1, "replies": ["451 4.3.0 x"]}},
        {"domain": "b.example", "domains": 3, "random_outage": {"start": {"kind": "uniform", "min": 0, "max": "1h"},
                                                                "duration": {"kind": "lognormal", "median": "1h",
                                                                             "sigma": 1.5}},
         "rate_limit": {"rate": "100/h", "burst": 5}, "transaction_time": "2s"},
        {"domain": "c.example", "mx": [{"host": "mx1.c.example", "preference": 10, "weekly": "Sun 02:00 for 6h"},
                                       {"host": "mx2.c.example", "preference": 20,
                                        "backup": {"preset": "postfix", "maximal_queue_lifetime": "2d"}}]},
    ],
}
ODD = [None, "", [], {}, True, -1, 0, 0.5, 2, 10**12, 1e308, "-5m", "0", "0s", "1h", "36600d", "x", "postfix",
       "fixed", "uniform", "refused", "451 4.3.0 x", "a.example", "2026-01-01T00:00:00Z", "Sun 02:00 for 6h", "2/h",
       {"kind": "fixed", "value": "1h"}, ["1h"]]


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from([p for p in key_paths(FUZZ_BASE) if p]), st.sampled_from(ODD)),
                min_size=1, max_size=3))
def test_fuzzed_scenarios_the_loader_accepts_pass_the_schema(changes):
    data = copy.deepcopy(FUZZ_BASE)
    for path, value in changes:
        node = data
        try:
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    if loader_error(data) is None:
        assert schema_errors(data) == [], data

"""A JSON Schema (draft 2020-12) of the scenario format, for editors: ``mtasim schema`` prints it.

The loader (mtasim.scenario and the modules it calls) stays the authority: it checks what a schema cannot
(outages that overlap, an expiry's attempts per message, a backup MX without a primary below it, ...).
The schema describes every key the loader reads with the same names, kinds, enumerations and numeric
bounds, and is built from the same registries where there is one: the presets and their parameters
(mtasim.presets), the schedule kinds (mtasim.schedules), the give-up rules and warning timings
(mtasim.sender), the named recipient behaviours and the distribution kinds. tests/test_schema.py checks
it against the loader: every shipped scenario passes both, a catalogue of bad files is refused by both,
and every key the loader's source reads appears in the schema (and no other).
"""

from __future__ import annotations

import math
import sys
from typing import Any

from .durations import MAX_DURATION_S
from .workload import ARRIVAL_KINDS, MAX_MESSAGES

__all__ = ["scenario_schema"]

#: Durations as the loader reads them (mtasim.durations.parse_duration): seconds, ``1h30m``-style groups of
#: w/d/h/m/s, a number as text, or a .NET TimeSpan ``[d.]hh:mm[:ss[.fffffff]]``.
_DURATION_TEXT = (r"^\s*(?:(?:(?:\d+(?:\.\d+)?|\.\d+)\s*[wdhms]\s*)+"
                  r"|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
                  r"|(?:\d+\.)?\d{1,2}:\d{1,2}(?::\d{1,2}(?:\.\d{1,7})?)?)\s*$")
_HOST_NAME = (r"^(?=.{1,253}\.?$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
              r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")
_REPLY = r"^\s*[45]\d\d(?:[ -]+[245]\.\d{1,3}\.\d{1,3})?(?:\s+.*)?$"
_ANY_REPLY = r"^\s*[245]\d\d(?:[ -]+[245]\.\d{1,3}\.\d{1,3})?(?:\s+.*)?$"
_RATE = r"^\s*(?:\d+(?:\.\d+)?|\.\d+)\s*/\s*\S+\s*$"
#: An ISO 8601 timestamp as datetime.fromisoformat reads it: a real month and day (2026-13-01 is refused), and
#: a UTC offset under 24 hours if there is one (+99:00 is refused); ``start`` is also in 1900 up to 9000.
_DATE = r"-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])(?:[T ].*)?$"
_NO_ODD_OFFSET = r"(?!.*[+-](?:2[4-9]|[3-9]\d):?\d\d\s*$)"
_TIMESTAMP = r"^" + _NO_ODD_OFFSET + r"\d{4}" + _DATE
_START = r"^" + _NO_ODD_OFFSET + r"(?:19\d\d|[2-8]\d{3})" + _DATE
_WEEKLY = r"^\s*[A-Za-z]{3}[a-z]*\s+\d{1,2}:\d{2}(?::\d{2})?\s+for\s+\S.*$"
_KEY_PATH = r"^[A-Za-z_][\w-]*(?:\[\d+\])*(?:\.[A-Za-z_][\w-]*(?:\[\d+\])*)*$"
_STATUS = r"^[245]\.\d{1,3}\.\d{1,3}$"


#: The largest finite number: the maximum of numbers the loader bounds only by being finite (``.inf`` is
#: refused; ``.nan`` is not a JSON number, and no schema keyword can refuse it).
_FINITE = sys.float_info.max


def _duration(*, zero: bool = True, maximum: float | None = None, minimum: float = 0.0,
              description: str | None = None) -> dict[str, Any]:
    """A duration: a number of seconds (bounded here) or text (its range is the loader's to check)."""
    number: dict[str, Any] = {"type": "number"}
    if minimum > 0:
        number["minimum"] = minimum
    elif zero:
        number["minimum"] = 0
    else:
        number["exclusiveMinimum"] = 0
    number["maximum"] = MAX_DURATION_S if maximum is None else min(maximum, MAX_DURATION_S)
    out: dict[str, Any] = {"anyOf": [number, {"$ref": "#/$defs/duration_text"}]}
    if description:
        out["description"] = description
    return out


def _integer(minimum: float | None = None, maximum: float | None = None, description: str | None = None
             ) -> dict[str, Any]:
    # YAML whole numbers written as 2.0 are whole numbers to the loader too: "number" with multipleOf 1
    out: dict[str, Any] = {"type": "number", "multipleOf": 1}
    if minimum is not None:
        out["minimum"] = minimum
    out["maximum"] = _FINITE if maximum is None else maximum
    if description:
        out["description"] = description
    return out


def _number(minimum: float | None = None, maximum: float | None = None, *, exclusive_minimum: bool = False,
            description: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "number"}
    if minimum is not None:
        out["exclusiveMinimum" if exclusive_minimum else "minimum"] = minimum
    out["maximum"] = _FINITE if maximum is None else maximum
    if description:
        out["description"] = description
    return out


def _text(pattern: str | None = None, description: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "string", "pattern": pattern or r"\S"}
    if description:
        out["description"] = description
    return out


def _object(properties: dict[str, Any], required: tuple[str, ...] = (), *, nullable: bool = True,
            **extra: Any) -> dict[str, Any]:
    """A closed mapping. An optional key may be null (``key:`` with nothing after it): the loader reads it as
    absent, except where it says otherwise (``nullable=False``: preset parameters)."""
    if nullable:
        properties = {k: v if k in required else {"anyOf": [v, {"type": "null"}]} for k, v in properties.items()}
    out: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        out["required"] = list(required)
    out.update(extra)
    return out


def _present(*keys: str) -> dict[str, Any]:
    """Every one of ``keys`` is given, and not null."""
    return {"required": list(keys), "properties": {k: {"not": {"type": "null"}} for k in keys}}


def _kinds(kinds: dict[str, dict[str, Any]], required: dict[str, tuple[str, ...]], what: str) -> dict[str, Any]:
    """``{kind: K, ...}`` whose other keys depend on K: one if/then per kind, each closed."""
    branches = []
    for kind, props in kinds.items():
        branches.append({"if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
                         "then": _object({"kind": {"const": kind}, **props}, ("kind", *required.get(kind, ())))})
    return {"type": "object", "description": what, "required": ["kind"],
            "properties": {"kind": {"enum": list(kinds)}}, "allOf": branches}


# -- schedules ------------------------------------------------------------------------------------------
def _schedule_kinds() -> tuple[dict[str, dict[str, Any]], dict[str, tuple[str, ...]]]:
    """Each schedule kind's keys (its ``from_node``), for every kind registered in SCHEDULE_KINDS."""
    from .presets.courier import MAX_RETRYMAXDELTA
    from .schedules import JITTER_KINDS, SCHEDULE_KINDS

    ref = {"$ref": "#/$defs/schedule"}
    kinds: dict[str, dict[str, Any]] = {
        "fixed": {"interval": _duration(zero=False)},
        "exponential": {"first": _duration(zero=False), "factor": _number(1), "max": _duration(zero=False),
                        "jitter": {"enum": list(JITTER_KINDS)}},
        "list": {"intervals": {"type": "array", "minItems": 1, "items": _duration(zero=False)},
                 "then": {"enum": ["repeat", "stop"]}},
        "age-based": {"min": _duration(zero=False), "max": _duration(zero=False)},
        "by-failure": {"connection": ref, "reply": ref},
        "courier": {"retryalpha": _duration(zero=False), "retrybeta": _integer(1), "retrygamma": _duration(zero=False),
                    "retrymaxdelta": _integer(0, MAX_RETRYMAXDELTA)},
        "chasquid": {},
        "opensmtpd": {"base": _duration(zero=False)},
        "timetable": {"at": {"type": "array", "minItems": 1, "items": _duration()},
                      "then_every": _duration(zero=False)},
        "qmail": {"skip": _integer(1)},
        "exim": {"rules": _text(description="Exim retry rules such as 'F,2h,15m; G,16h,1h,1.5; F,4d,6h'"),
                 "retry_interval_max": _duration(zero=False)},
        "maddy": {"first": _duration(zero=False), "scale": _number(1)},
        "kumomta": {"retry_interval": _duration(zero=False), "max_retry_interval": _duration(zero=False)},
    }
    missing = set(SCHEDULE_KINDS) - set(kinds)
    if missing:                                   # a new kind must be described here (tests catch it too)
        raise RuntimeError(f"schedule kinds without a schema: {', '.join(sorted(missing))}")
    required = {"fixed": ("interval",), "exponential": ("first",), "list": ("intervals",),
                "age-based": ("min", "max"), "by-failure": ("connection", "reply"), "timetable": ("at",),
                "exim": ("rules",)}
    return {k: kinds[k] for k in SCHEDULE_KINDS}, required


# -- senders --------------------------------------------------------------------------------------------
def _param_schema(param: Any) -> dict[str, Any]:
    """A preset parameter's value, from its declared kind and range (mtasim.presets.Param)."""
    maximum = None if param.maximum is None or math.isinf(param.maximum) else param.maximum
    text = param.meaning
    if param.kind == "duration":
        return _duration(zero=param.zero_allowed, minimum=param.minimum, maximum=maximum, description=text)
    if param.kind == "count":
        return _integer(param.minimum, maximum, description=text)
    if param.kind == "text":
        return {"type": ["string", "null"], "description": text}
    if param.kind == "switch":
        words = ["true", "false", "yes", "no"]
        return {"anyOf": [{"type": "boolean"}, {"enum": [c for w in words for c in (w, w.title(), w.upper())]}],
                "description": text}
    # lists of times, retry rules, version numbers: checked by the preset itself
    return {"type": ["string", "number", "array"], "description": text}


def _preset_sender() -> dict[str, Any]:
    from .presets import PRESETS

    branches = []
    for name, preset in PRESETS.items():
        props: dict[str, Any] = {"preset": {"const": name}}
        for param in preset.params:
            for key in (param.name, *param.aliases):
                props[key] = _param_schema(param)
        branch = _object(props, ("preset",), nullable=False)
        for param in preset.params:               # a parameter and its alias: give only one of them
            for alias in param.aliases:
                branch.setdefault("allOf", []).append({"not": _present(param.name, alias)})
        branches.append({"if": {"properties": {"preset": {"const": name}}}, "then": branch})
    return {"type": "object", "description": "a named MTA configuration with its own parameter names and units "
            "(mtasim presets lists them)", "required": ["preset"],
            "properties": {"preset": {"enum": list(PRESETS)}}, "allOf": branches}


def _custom_sender() -> dict[str, Any]:
    from .sender import GIVE_UP_RULES, LAST_PERMANENT_STATUS, LAST_STATUS, WARNING_TIMINGS

    props = {
        "schedule": {"$ref": "#/$defs/schedule"},
        "give_up": {"enum": list(GIVE_UP_RULES), "default": "last-attempt"},
        "expiry": _duration(),
        "max_attempts": _integer(1),
        "attempts_give_up_at": {"enum": ["failure", "next-attempt"]},
        "queue_run": _duration(),
        "queue_run_phase": _duration(),
        "queue_run_tolerance": _duration(),
        "delay_warning": {"anyOf": [_duration(zero=False),
                                    {"type": "array", "minItems": 1, "items": _duration(zero=False)}]},
        "delay_warning_at": {"enum": list(WARNING_TIMINGS)},
        "delay_warning_repeat": _duration(zero=False),
        "honour_retry_after": {"type": "boolean"},
        "concurrency": _integer(1, 100000),
        "mx_limit": _integer(1, 100000),
        "connection_reuse": {"anyOf": [{"type": "boolean"}, _object({
            "messages": _integer(1, 10**9), "time": _duration(), "after": {"enum": ["answer", "delivery"]}})]},
        "expiry_status": {"anyOf": [{"enum": [LAST_STATUS, LAST_PERMANENT_STATUS]},
                                    {"type": "string", "pattern": _STATUS}]},
    }
    attempts = {"properties": {"give_up": {"const": "attempts"}}, "required": ["give_up"]}
    return _object(props, ("schedule",), allOf=[
        {"if": attempts,
         "then": {**_present("max_attempts"), "not": _present("expiry")},
         "else": {**_present("expiry"), "not": {"anyOf": [_present("max_attempts"),
                                                          _present("attempts_give_up_at")]}}},
        {"if": _present("delay_warning_repeat"), "then": _present("delay_warning")},
    ], description="a custom sender: a retry schedule and a give-up rule")


# -- recipients -----------------------------------------------------------------------------------------
def _distribution(zero: bool) -> dict[str, Any]:
    from .recipients.outages import DISTRIBUTION_KINDS

    kinds = {"fixed": {"value": _duration(zero=zero)},
             "uniform": {"min": _duration(), "max": _duration(zero=False)},
             "lognormal": {"median": _duration(zero=False), "sigma": _number(0, 10)},
             "exponential": {"mean": _duration(zero=False)},
             "empirical": {"values": {"type": "array", "minItems": 1, "items": _duration(zero=zero)}}}
    assert list(kinds) == list(DISTRIBUTION_KINDS)
    required = {"fixed": ("value",), "uniform": ("min", "max"), "lognormal": ("median", "sigma"),
                "exponential": ("mean",), "empirical": ("values",)}
    return {"anyOf": [_duration(zero=zero), _kinds(kinds, required, "a drawn duration")]}


def _outage_sources() -> dict[str, Any]:
    """The keys describing a recipient's (or an MX host's) outages."""
    failure = {"$ref": "#/$defs/failure"}
    outage = _object({"start": {"$ref": "#/$defs/time"}, "end": {"$ref": "#/$defs/time"}, "failure": failure},
                     ("start", "end"))
    weekly_item = {"anyOf": [_text(_WEEKLY, "a weekly window such as 'Sun 02:00 for 6h'"),
                             _object({"window": _text(_WEEKLY), "failure": failure}, ("window",))]}
    return {
        "outages": {"type": "array", "items": outage},
        "random_outage": _object({"start": {"$ref": "#/$defs/distribution_from_zero"},
                                  "duration": {"$ref": "#/$defs/distribution"}, "failure": failure},
                                 ("duration",)),
        "outage_process": _object({
            "up": {"$ref": "#/$defs/distribution"}, "down": {"$ref": "#/$defs/distribution"},
            "long": _object({"p": _number(0, 1), "duration": {"$ref": "#/$defs/distribution"}}, ("p", "duration")),
            "failure": failure, "start": {"enum": ["up", "down"]}}, ("up", "down")),
        "weekly": {"anyOf": [weekly_item, {"type": "array", "minItems": 1, "items": weekly_item}]},
    }


def _recipient() -> dict[str, Any]:
    from .recipients.behaviour import HOST_BEHAVIOUR_KEYS
    from .recipients.library import RECIPIENT_BEHAVIOURS

    sources = _outage_sources()
    probability = _number(0, 1)
    reply_list = {"anyOf": [_text(_ANY_REPLY), {"type": "array", "items": _text(_ANY_REPLY)},
                            {"type": "object", "propertyNames": {"pattern": _ANY_REPLY},
                             "additionalProperties": _number(0, exclusive_minimum=True)}]}
    greylist_keys = {"delay": _duration(), "window": _duration(zero=False), "reply": _text(_REPLY),
                     "memory": _duration(zero=False)}
    greylist = _object({**greylist_keys, "addresses": _integer(1, 10**9)})
    tempfail = _object({"p": probability, "replies": reply_list})
    host_greylist = _object(greylist_keys)          # shared triplets (addresses) belong to a single server
    host_behaviours = [k for k, v in RECIPIENT_BEHAVIOURS.items() if set(v.keys) <= set(HOST_BEHAVIOUR_KEYS)]
    mx_host = _object({"host": _text(_HOST_NAME), "preference": _integer(0, 65535), **sources,
                       "backup": {"$ref": "#/$defs/sender"},
                       "behaviour": {"enum": host_behaviours, "description": "what this host says while up"},
                       "greylist": host_greylist, "tempfail": tempfail}, ("host", "preference"),
                      **{"not": _present("outages", "random_outage")})
    props = {
        "domain": _text(_HOST_NAME, "the recipient domain (a host name)"),
        "share": _number(0, 1e12, exclusive_minimum=True, description="relative share of the messages"),
        "connect_timeout": _duration(zero=False),
        "domains": _integer(1, 1_000_000, "this entry stands for this many independent domains"),
        "mx": {"type": "array", "minItems": 1, "items": mx_host},
        **sources,
        "behaviour": {"enum": list(RECIPIENT_BEHAVIOURS), "description": "a named behaviour (mtasim recipients)"},
        "unknown_user": probability,
        "mailbox_full": probability,
        "greylist": greylist,
        "tempfail": tempfail,
        "rate_limit": _object({"rate": _text(_RATE, "a rate such as 100/h"), "burst": _number(1, 1e9),
                               "reply": _text(r"^\s*4"), "retry_after": _duration()}, ("rate",)),
        "transaction_time": {"$ref": "#/$defs/distribution"},
        "connection_setup": {"$ref": "#/$defs/distribution"},
        "max_connections": {"anyOf": [_integer(1, 1_000_000, "the server's limit on simultaneous sessions"),
                                      _object({"connections": _integer(1, 1_000_000),
                                               "reply": _text(r"^\s*4")}, ("connections",))]},
    }
    named = _present("behaviour")
    return _object(props, ("domain",), allOf=[
        {"not": _present("outages", "random_outage")},
        {"if": _present("max_connections"), "then": _present("transaction_time")},
        {"if": _present("mx"), "then": {"not": {"anyOf": [_present(k) for k in (*sources, *HOST_BEHAVIOUR_KEYS)]}}},
        # a named behaviour fills in what the recipient's own greylist leaves out
        {"if": named, "else": {"properties": {"greylist": {"anyOf": [{"type": "null"}, _present("delay", "window")]}}}},
    ])


# -- the scenario ---------------------------------------------------------------------------------------
def _messages() -> dict[str, Any]:
    time = {"$ref": "#/$defs/time"}            # a duration since the start or a timestamp, as outage windows
    window = {"start": time, "end": time}
    kinds = {"at": {"time": time},
             "times": {"times": {"type": "array", "minItems": 1, "maxItems": MAX_MESSAGES, "items": time}},
             "uniform": dict(window),
             "poisson": {"rate": {"anyOf": [_number(0, exclusive_minimum=True), _text(_RATE)]}, **window}}
    assert list(kinds) == list(ARRIVAL_KINDS)
    required = {"times": ("times",), "uniform": ("end",), "poisson": ("rate", "end")}
    def arrival(kind: str) -> dict[str, Any]:
        return {"required": ["arrival"], "properties": {"arrival": {
            "type": "object", "required": ["kind"], "properties": {"kind": {"const": kind}}}}}

    poisson, times = arrival("poisson"), arrival("times")
    return _object({"count": _integer(1, MAX_MESSAGES), "arrival": _kinds(kinds, required, "how messages arrive")},
                   allOf=[{"if": poisson, "then": {"not": _present("count")},
                           "else": {"if": times, "else": _present("count")}}])


def scenario_schema() -> dict[str, Any]:
    """The JSON Schema of a scenario file (draft 2020-12)."""
    kinds, required = _schedule_kinds()
    defs = {
        "sender": {"if": {"required": ["preset"], "properties": {"preset": {"not": {"type": "null"}}}},
                   "then": {"$ref": "#/$defs/preset_sender"}, "else": {"$ref": "#/$defs/custom_sender"}},
        "preset_sender": _preset_sender(),
        "custom_sender": _custom_sender(),
        "schedule": _kinds(kinds, required, "a retry schedule"),
        "recipient": _recipient(),
        "distribution": _distribution(zero=False),
        "distribution_from_zero": _distribution(zero=True),
        "time": {"anyOf": [_duration(), _text(_TIMESTAMP)],
                 "description": "a duration since the start, or an ISO 8601 timestamp"},
        "duration_text": {"type": "string", "pattern": _DURATION_TEXT,
                          "description": "a duration such as 300s, 5m, 1h30m, 2d, 1w or a TimeSpan 1.00:00:00"},
        "failure": {"anyOf": [{"enum": ["refused", "timeout"]}, _text(_REPLY)],
                    "description": "refused, timeout or a 4xx/5xx SMTP reply"},
    }
    top = _object({
        "name": _text(description="shown in summaries and figures (default: the file name)"),
        "seed": _integer(0, 2**63 - 1),
        "horizon": _duration(zero=False, description="nothing happens at or after it"),
        "start": _text(_START, "wall-clock time of t = 0 (ISO 8601), from 1900 up to 9000"),
        "reporting_mta": _text(_HOST_NAME, "the sending MTA's host name in notices and logs"),
        "sender": {"$ref": "#/$defs/sender"},
        "messages": _messages(),
        "recipients": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/recipient"}},
        "sweep": {"type": "object", "description": "parameter paths and their values (a list or a range "
                  "start..end/step), and replications",
                  "properties": {"replications": _integer(1, 100_000)},
                  "propertyNames": {"pattern": _KEY_PATH}, "minProperties": 1,
                  "additionalProperties": {"anyOf": [{"type": "array", "minItems": 1},
                                                     {"type": ["string", "number", "boolean"]}]}},
    }, ("sender", "messages", "recipients"))
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "mtasim scenario",
        "description": "A scenario for mtasim: a sending MTA, the messages it sends and the recipient domains "
                       "they go to. `mtasim validate FILE` checks what a schema cannot.",
        **top,
        "$defs": defs,
    }

"""Scenario files: YAML -> validated, frozen :class:`Scenario`. The only module that reads files.

Errors are :class:`~mtasim.config.ConfigError`: one line naming the file, the key path and what was
expected. Unknown keys are refused with the closest known key; duplicate keys are refused too (YAML
would silently keep the last one).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

from .config import ConfigError, Node
from .connection_reuse import ConnectionReuse
from .durations import format_duration
from .grid import SweepSpec, sweep_from_node
from .inputs import check_domain_name, check_work, load_yaml, read_text_file
from .presets import sender_from_preset_node
from .recipients import Recipient, recipient_from_node
from .recipients.processes import MAX_WINDOWS
from .schedules import schedule_from_node
from .sender import (
    GIVE_UP_RULES,
    LAST_PERMANENT_STATUS,
    LAST_STATUS,
    WARNING_TIMINGS,
    Sender,
    trace_schedule,
)
from .workload import Workload, workload_from_node

__all__ = ["Scenario", "load_scenario", "scenario_from_dict", "sender_from_node", "with_overrides", "parse_path"]

DEFAULT_START = datetime(2026, 1, 1, tzinfo=timezone.utc)
_STATUS = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")


@dataclass(frozen=True)
class Scenario:
    name: str
    sender: Sender
    workload: Workload
    recipients: tuple[Recipient, ...]
    seed: int = 0
    #: Nothing happens at or after the horizon; None = run until every message has finished.
    horizon_s: float | None = None
    source: str = "<scenario>"
    sweep: SweepSpec | None = None
    #: Wall-clock time of t = 0, for dates in notices and logs.
    start: datetime = DEFAULT_START
    #: The sending MTA's host name in notices (Reporting-MTA) and logs.
    reporting_mta: str = "mta.example.org"
    #: The parsed YAML this was read from; overrides (sweeps, curve series) edit a copy and re-validate.
    data: Any = field(default=None, compare=False, repr=False)

    def with_seed(self, seed: int) -> "Scenario":
        return replace(self, seed=seed)

    @cached_property
    def outage_until_s(self) -> float | None:
        """How far outage processes and weekly windows are drawn (None: no recipient has them).

        The horizon when there is one (nothing happens at or after it). Otherwise the latest possible
        arrival plus :func:`message_life_bound_s`, an upper bound on how long a message can be retried:
        no attempt comes later, so every window that could decide an attempt is drawn. A longer bound only
        adds later windows (realize_recipients draws a domain's k-th outage alike for any bound)."""
        if not any(r.recurring for r in self.recipients):
            return None
        if self.horizon_s is not None:
            return self.horizon_s
        # one attempt may wait for the connect timeout of every MX host in turn
        timeout = max(r.connect_timeout_s * max(1, len(r.mx)) for r in self.recipients)
        life = message_life_bound_s(self.sender, timeout)
        # a backup MX relays what it accepted (at the latest at a message's last attempt) on its own schedule
        relays = [message_life_bound_s(h.backup, timeout) for r in self.recipients for h in r.mx if h.is_backup]
        if life is None or None in relays:
            raise ConfigError(self.source, "horizon", f"expected a horizon: a message of this sender can stay "
                              f"queued longer than {format_duration(_LIFE_CAP_S)}, and outage processes and "
                              f"weekly windows are drawn up to the last moment a message can be tried")
        return latest_arrival_s(self.workload) + life + max((x for x in relays if x is not None), default=0.0)


#: A message traced longer than this (e.g. waits that grow without bound) makes a horizon necessary.
_LIFE_CAP_S = 1000 * 86400.0


def latest_arrival_s(workload: Workload) -> float:
    """The latest time a message of ``workload`` can arrive, whatever the seed."""
    if workload.kind == "times":
        return max(workload.times_s)
    return workload.start_s if workload.kind == "at" else workload.end_s


def message_life_bound_s(sender: Sender, connect_timeout_s: float) -> float | None:
    """An upper bound on the time from a message's arrival to its last attempt (None: over 1000 days).

    A message ends at its first success, so none lives longer than one whose every attempt fails: the
    sender's own rules traced (mtasim.sender.trace_schedule, jitter at its longest wait) for each kind of
    failure: a 4xx reply, a refused and a timed-out connection (each of its attempts counted as lasting
    another ``connect_timeout_s``, the largest of the recipients'). Added on top, for messages whose
    failures mix kinds (Exchange's waits differ by kind) and for whole-second clocks: the longest gap
    between attempts of those traces, a queue-runner period and its tolerance, one connect timeout and a
    second. Generous by design: windows drawn past the last attempt cost a little time; a window missing
    before it would make a domain answer when it should not. Host-level state holds messages back but
    gives up by the same rules (tests/test_outage_processes.py checks the bound against runs of eight
    presets, host state included)."""
    longest = gap = 0.0
    for failure in ("451 4.3.0 x", "refused", "timeout"):
        trace = trace_schedule(sender, until_s=_LIFE_CAP_S, failure=failure)
        if trace.give_up_s is None:
            return None
        per_attempt = connect_timeout_s if failure == "timeout" else 0.0
        longest = max(longest, trace.give_up_s + per_attempt * len(trace.attempts_s))
        if len(trace.attempts_s) > 1:
            gap = max(gap, float(max(b - a for a, b in zip(trace.attempts_s, trace.attempts_s[1:]))))
    slack = gap + sender.queue_run_s + sender.queue_run_tolerance_s + connect_timeout_s + 1.0
    return longest + slack if longest + slack <= _LIFE_CAP_S else None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file: a regular UTF-8 file of at most 64 MB, YAML of bounded depth
    and size (mtasim.inputs)."""
    source = str(path)
    text = read_text_file(path, source=source)
    data = load_yaml(text, source)
    return scenario_from_dict(data, source)


def scenario_from_dict(data: Any, source: str = "<scenario>") -> Scenario:
    """Validate an already-parsed scenario (a dict as YAML would give)."""
    root = Node(data, source).require_mapping("a scenario mapping with sender, messages and recipients")
    name = root.text("name", Path(source).stem if source != "<scenario>" else "scenario")
    seed = root.number("seed", 0, integer=True, minimum=0, maximum=2**63 - 1)
    horizon = root.duration("horizon", None)
    start = _start_from_node(root.get("start", None))
    mta_node = root.get("reporting_mta", None)           # a header (Reporting-MTA) and log field: a host name
    reporting_mta = check_domain_name(mta_node, "a host name such as mta.example.org") if mta_node else "mta.example.org"
    sender = _clocked(sender_from_node(root.get("sender")), start)
    workload = workload_from_node(root.get("messages"), start)
    rnode = root.get("recipients")
    items = rnode.elements("a list of recipients such as [{domain: partner.example}]")
    if not items:
        raise rnode.error("expected at least one recipient")
    read_backup = lambda n: _clocked(sender_from_node(n), start)          # noqa: E731 - a backup MX's queue
    recipients = tuple(recipient_from_node(item, start, read_backup) for item in items)
    sweep_node = root.get("sweep", None)
    sweep = sweep_from_node(sweep_node) if sweep_node is not None else None
    root.finish()
    scenario = Scenario(name, sender, workload, recipients, int(seed), horizon, source, sweep, start, reporting_mta,
                        copy.deepcopy(data))
    check_work(sender, horizon, source)          # attempts and warnings per message: bounded before any run
    for j, entry in enumerate(recipients):
        for host in entry.mx:
            if host.is_backup:
                check_work(host.backup, horizon, source, f"recipients[{j}].mx")
    _check_outage_windows(scenario)
    return scenario


def _check_outage_windows(scenario: Scenario) -> None:
    """Refuse, before anything is drawn, outage processes and weekly windows that would make more than
    MAX_WINDOWS windows in a run (estimated: a process's renewal rate over the bound), naming the entry."""
    until = scenario.outage_until_s
    if until is None:
        return
    total = 0.0
    for j, entry in enumerate(scenario.recipients):
        estimate = entry.expected_windows(until)
        total += estimate
        if entry.recurring and total > MAX_WINDOWS:
            key = "mx" if entry.mx else "outage_process" if entry.process is not None else "weekly"
            raise ConfigError(scenario.source, f"recipients[{j}].{key}",
                              f"expected at most {MAX_WINDOWS:,} outage windows in a run, got about {total:,.0f}: "
                              f"this entry's {entry.domains:,} domains x about {estimate / entry.domains:,.0f} "
                              f"windows each until {format_duration(until)} (a longer up time, fewer domains or "
                              f"a shorter horizon)")



def _clocked(sender: Sender, start: datetime) -> Sender:
    """Whole-second senders with where the wall clock's seconds begin (mtasim.sender.clock)."""
    return _with_clock_offset(sender, start.microsecond / 1e6) if sender.whole_seconds else sender


def _with_clock_offset(sender, offset_s: float):
    """The sender with its wall-clock offset, kept through expiry rebuilds (curves, tuning)."""
    if not offset_s:
        return sender
    hook = sender.expiry_hook
    rebuilt = replace(sender, clock_offset_s=offset_s)
    if hook is not None:
        rebuilt = replace(rebuilt, expiry_hook=lambda e: replace(hook(e), clock_offset_s=offset_s))
    return rebuilt


def _start_from_node(node: Node | None) -> datetime:
    """``start: 2026-11-30T09:00:00Z`` (ISO 8601; without a zone, UTC). YAML may already give a datetime."""
    if node is None:
        return DEFAULT_START
    value = node.value
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise node.error(f"expected an ISO 8601 date and time such as 2026-11-30T09:00:00Z, got {value!r}") \
                from None
    if not isinstance(value, datetime):
        raise node.error(f"expected an ISO 8601 date and time such as 2026-11-30T09:00:00Z, got {value!r}")
    value = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    # Dates in notices and logs count from here, up to centuries later (durations are at most 100 years):
    # keep them all within the calendar datetime can write.
    if not _EARLIEST_START <= value < _LATEST_START:
        raise node.error(f"expected a start from {_EARLIEST_START.year} up to (not including) {_LATEST_START.year}, "
                         f"got {value.isoformat()}")
    return value


_EARLIEST_START = datetime(1900, 1, 1, tzinfo=timezone.utc)
_LATEST_START = datetime(9000, 1, 1, tzinfo=timezone.utc)


_PATH_PART = re.compile(r"([A-Za-z_][\w-]*)|\[(\d+)\]")


def parse_path(path: str) -> list[str | int]:
    """``recipients[0].outages[1].end`` -> ``["recipients", 0, "outages", 1, "end"]``."""
    parts: list[str | int] = []
    for piece in path.split("."):
        pos = 0
        matched = False
        while pos < len(piece):
            m = _PATH_PART.match(piece, pos)
            if not m or (m.group(1) and matched):
                raise ValueError(f"expected a key path such as sender.expiry or recipients[0].outages[0].end, "
                                 f"got {path!r}")
            parts.append(m.group(1) if m.group(1) else int(m.group(2)))
            matched = True
            pos = m.end()
        if not matched:
            raise ValueError(f"expected a key path such as sender.expiry, got {path!r}")
    return parts


def with_overrides(scenario: Scenario, overrides: dict[str, Any], *, what: str = "override") -> Scenario:
    """A copy of ``scenario`` with values set at key paths, validated like the file itself.

    A path through a missing list item or a non-mapping is refused; a misspelt final key is caught by
    validation as an unknown key, with its suggestion.
    """
    data = copy.deepcopy(scenario.data)
    for path, value in overrides.items():
        node: Any = data
        try:
            parts = parse_path(path)
        except ValueError as exc:
            raise ConfigError(scenario.source, path, f"{what}: {exc}") from None
        for depth, part in enumerate(parts):
            here = ".".join(str(p) for p in parts[:depth]) or "the scenario"
            last = depth == len(parts) - 1
            if isinstance(part, int):
                if not isinstance(node, list) or part >= len(node):
                    raise ConfigError(scenario.source, path, f"{what}: {here} has no item [{part}]")
            elif not isinstance(node, dict):
                raise ConfigError(scenario.source, path, f"{what}: {here} is not a mapping")
            if last:
                node[part] = value
            else:
                if isinstance(part, str) and part not in node:
                    node[part] = {}
                node = node[part]
    try:
        return scenario_from_dict(data, scenario.source)
    except ConfigError as exc:
        raise ConfigError(exc.source, exc.path, f"{what}: {exc.expected}") from None


def sender_from_node(node: Node) -> Sender:
    """``sender:`` is either a preset with its native parameters or the generic parts."""
    node.require_mapping("a sender such as {preset: postfix} or {schedule: ..., expiry: 36h}")
    if node.has("preset"):
        return sender_from_preset_node(node)
    schedule = schedule_from_node(node.get("schedule"))
    give_up = node.choice("give_up", GIVE_UP_RULES, "last-attempt")
    attempts_at = "failure"
    if give_up == "attempts":
        max_attempts = node.number("max_attempts", integer=True, minimum=1)
        attempts_at = node.choice("attempts_give_up_at", ("failure", "next-attempt"), "failure")
        if node.has("expiry"):
            raise node.error("expected no expiry with give_up: attempts (it counts attempts only)", "expiry")
        expiry = None
    else:
        if node.has("max_attempts"):
            raise node.error("max_attempts only applies with give_up: attempts", "max_attempts")
        max_attempts = None
        expiry = node.duration("expiry", allow_zero=(give_up == "last-attempt"))
    queue_run = node.duration("queue_run", 0.0, allow_zero=True)
    phase = node.duration("queue_run_phase", 0.0, allow_zero=True)
    tolerance = node.duration("queue_run_tolerance", 0.0, allow_zero=True)
    warnings = _warning_ages(node.get("delay_warning", None))
    warning_at = node.choice("delay_warning_at", WARNING_TIMINGS, "age")
    repeat = node.duration("delay_warning_repeat", None)
    if repeat is not None and not warnings:
        raise node.error("delay_warning_repeat needs a delay_warning", "delay_warning_repeat")
    honour_node = node.get("honour_retry_after", None)
    if honour_node is not None and not isinstance(honour_node.value, bool):
        raise honour_node.error(f"expected true or false, got {honour_node.value!r}")
    honours = bool(honour_node.value) if honour_node is not None else False
    concurrency_node = node.get("concurrency", None)
    concurrency = int(concurrency_node.as_number(integer=True, minimum=1, maximum=100000)) \
        if concurrency_node is not None else None
    mx_limit_node = node.get("mx_limit", None)
    mx_limit = int(mx_limit_node.as_number(integer=True, minimum=1, maximum=100000)) \
        if mx_limit_node is not None else None
    reuse = _connection_reuse(node.get("connection_reuse", None))
    status_node = node.get("expiry_status", None)
    status = "4.4.7"
    if status_node is not None:
        status = str(status_node.value)
        if status not in (LAST_STATUS, LAST_PERMANENT_STATUS) and not _STATUS.match(status):
            raise status_node.error(f"expected an enhanced status such as 4.4.7 or 5.4.7, '{LAST_STATUS}' for the "
                                    f"last deferral's status, or '{LAST_PERMANENT_STATUS}' for it made permanent, "
                                    f"got {status_node.value!r}")
    node.finish()
    return Sender(schedule=schedule, give_up=give_up, expiry_s=expiry, max_attempts=max_attempts,
                  attempts_give_up_at=attempts_at,
                  queue_run_s=queue_run, queue_run_phase_s=phase, queue_run_tolerance_s=tolerance,
                  delay_warning_s=warnings[0] if warnings else None, delay_warning_later_s=tuple(warnings[1:]),
                  delay_warning_repeat_s=repeat, delay_warning_at=warning_at, expiry_status=status,
                  expiry_reply=f"{status} delivery time expired" if _STATUS.match(status) else "expired",
                  concurrency=concurrency, honours_retry_after=honours, mx_limit=mx_limit,
                  connection_reuse=reuse)


def _connection_reuse(node: Node | None) -> ConnectionReuse | None:
    """``connection_reuse``: false (a connection per attempt), or the limits of reusing one:
    ``{messages: 500, time: 300s, after: delivery|answer}`` (all optional; absent: reuse with no limit)."""
    if node is None:
        return ConnectionReuse()
    if isinstance(node.value, bool):
        return ConnectionReuse() if node.value else None
    node.require_mapping("false, or limits such as {messages: 500, time: 300s, after: delivery}")
    messages = node.get("messages", None)
    after = node.choice("after", ("answer", "delivery"), "answer")
    reuse = ConnectionReuse(int(messages.as_number(integer=True, minimum=1, maximum=10**9)) if messages else None,
                            node.duration("time", None), after_deferral=after == "answer")
    node.finish()
    return reuse


def _warning_ages(node: Node | None) -> list[float]:
    """``delay_warning``: one age or an ascending list of ages."""
    if node is None:
        return []
    if not isinstance(node.value, list):
        return [node.as_duration()]
    items = node.elements("a list of ages such as [4h, 1d]")
    ages = [item.as_duration() for item in items]
    if not ages:
        raise node.error("expected at least one age")
    for item, before, after in zip(items[1:], ages, ages[1:]):
        if after <= before:
            raise item.error(f"expected ages in ascending order, after {before:g}s")
    return ages


def setup_record(scenario: Scenario) -> dict[str, Any]:
    """The scenario in words, as summary.json's ``setup`` keeps it: enough for ``mtasim report`` to say
    what was simulated (messages, sender, recipients, the wall clock) without the scenario file, which a
    results folder does not hold. ``start`` is null when the file sets no ``start:``."""
    from .tables import clock_start

    sender, start = scenario.sender, clock_start(scenario)
    return {
        "messages": scenario.workload.describe(),
        "preset": sender.preset,
        "sender": sender.describe(),
        "expiry_s": None if sender.give_up.counts_attempts else sender.expiry_s,
        "give_up": str(sender.give_up),
        "recipients": [r.describe() for r in scenario.recipients],
        "start": start.isoformat() if start is not None else None,
    }

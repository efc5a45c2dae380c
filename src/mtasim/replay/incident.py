"""A reconstructed incident as a scenario: the sender, the arrivals as recorded, the inferred outages.

One scenario per destination (messages of a scenario go to its recipients by a random draw, so a
replay keeps each destination's messages in a scenario of its own; destinations share nothing but the
sender's rules). Times count from ``t0``, the log's first event, in whole seconds.

Outage windows are placed inside the bracket the log leaves (mtasim.replay.reconstruct): at the whole
second nearest the middle, so that every pass the log shows failing fails in the scenario and every
pass it shows succeeding succeeds, whatever the fraction of the second the log dropped. A window with
failures of several kinds is cut into one window per run of one kind. A window the log ends in lasts to
the scenario's horizon: the end of the log, after which nothing is known.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..config import Node
from ..durations import format_duration
from ..presets import get_preset
from ..recipients import parse_reply
from .reconstruct import Message, Outage, Reconstruction

__all__ = ["DEFAULT_PRESET", "SenderBlock", "Incident", "incidents", "by_failures", "scenario_text", "bracket_point"]

#: The preset a log's program gets when no configuration is given (--preset changes it).
DEFAULT_PRESET = {"postfix": "postfix", "exim": "exim", "exchange": "exchange-server"}


@dataclass
class SenderBlock:
    """The scenario's ``sender:`` and the comment lines that say where it came from."""

    values: dict[str, Any]
    comments: list[str]
    known: bool                     # from the MTA's configuration (--config), not the preset's defaults


@dataclass
class Incident:
    """One destination's scenario (as a dict, as YAML would give) and the log messages it stands for,
    in the order of the scenario's message ids."""

    domain: str
    data: dict[str, Any]
    messages: list[Message]
    outages: list[Outage]
    open_ended: bool
    notes: list[str] = field(default_factory=list)


def bracket_point(after: float | None, by: float, t0: float) -> float:
    """A whole second (since ``t0``) in ``(after, by]``, near its middle, for times the log gives to the
    second: the true times lie in ``[after, after + 1)`` and ``[by, by + 1)``."""
    if after is None:
        return 0.0
    a, b = after - t0, by - t0
    if b - a < 1:
        return b + 0.5                 # the same second: no whole second lies between
    return float(min(b, max(math.floor(a) + 1, math.floor((a + b) / 2) + 1)))


def _failure(kind: str) -> str:
    """A scenario ``failure`` for a failure kind: refused, timeout or an SMTP reply."""
    if kind in ("refused", "timeout"):
        return kind
    try:
        parse_reply(kind)
        return kind
    except ValueError:
        return "timeout" if "timed out" in kind else f"451 4.4.2 {kind}"


def _windows(outage: Outage, t0: float, horizon_s: float) -> list[dict[str, Any]]:
    start = bracket_point(outage.start_after_s, outage.start_by_s, t0)
    end = horizon_s if outage.end_by_s is None else bracket_point(outage.end_after_s, outage.end_by_s, t0)
    out = []
    for j, (kind, first, last, _) in enumerate(outage.runs):
        nxt = outage.runs[j + 1][1] if j + 1 < len(outage.runs) else None
        stop = end if nxt is None else bracket_point(last, nxt, t0)
        out.append({"start": start, "end": stop, "failure": _failure(kind)})
        start = stop
    return out


def phase_of(messages: list[Message], t0: float, period_s: float) -> float | None:
    """The queue runner's phase the log shows: the commonest second, modulo the period, of the passes
    after each message's first (those the queue runner starts)."""
    if period_s <= 0:
        return None
    counts: dict[int, int] = {}
    for m in messages:
        for a in m.attempts[1:]:
            k = int(round((a.time_s - t0) % period_s)) % int(period_s)
            counts[k] = counts.get(k, 0) + 1
    return float(max(counts, key=lambda k: (counts[k], -k))) if counts else None


def incidents(rec: Reconstruction, sender: SenderBlock, t0: float, log_name: str) -> list[Incident]:
    """One incident per destination that has an outage, with the messages whose arrival the log shows."""
    horizon = math.floor(rec.last_s - t0) + 1.0
    out = []
    for domain in sorted({o.domain for o in rec.outages}):
        outages = [o for o in rec.outages if o.domain == domain]
        msgs = [m for m in rec.messages if m.domain == domain and m.arrival_s is not None]
        if not msgs:
            continue
        values = dict(sender.values)
        preset = get_preset(values["preset"]) if "preset" in values else None
        notes = []
        if preset is not None and "queue_run_phase" in preset.param_names() and "queue_run_phase" not in values:
            period = preset.sender(_numeric(values)).queue_run_s
            phase = phase_of([m for m in rec.messages if m.domain == domain], t0, period)
            if phase:
                values["queue_run_phase"] = f"{phase:g}s"
                notes.append(f"queue_run_phase {phase:g}s: the commonest second of the retries modulo "
                             f"{format_duration(period)}")
        open_ended = any(o.end_by_s is None for o in outages)
        windows = [w for o in outages for w in _windows(o, t0, horizon)]
        data: dict[str, Any] = {
            "name": f"replay of {log_name}: {domain}",
            "start": _iso(t0),
            "sender": values,
            "messages": {"arrival": {"kind": "times", "times": [round(float(m.arrival_s or 0.0) - t0, 6) for m in msgs]}},
            "recipients": [{"domain": domain, "outages": windows}],
        }
        if open_ended:
            data["horizon"] = horizon
            notes.append("the log ends during an outage: the scenario ends with the log (horizon)")
        out.append(Incident(domain, data, msgs, outages, open_ended, notes))
    return out


def by_failures(incs: list[Incident]) -> list[Incident]:
    """Incidents with the most failed passes first (scenario.yaml is the first; ties: by name)."""
    return sorted(incs, key=lambda i: (-sum(sum(o.failures.values()) for o in i.outages), i.domain))


def _numeric(values: dict[str, Any]) -> dict[str, float]:
    """A sender block's parameter values as the preset reads them (for the queue runner's period)."""
    preset = get_preset(values["preset"])
    out = {}
    for p in preset.params:
        if p.name in values:
            out[p.name] = p.read(Node(values[p.name], "<replay>", p.name))
    return out


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _scalar(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}" if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, (int, bool)):
        return json.dumps(value)
    return json.dumps(str(value))          # a JSON string is a YAML string


def scenario_text(incident: Incident, sender: SenderBlock, header: list[str]) -> str:
    """The scenario as YAML, with comments saying where each part comes from."""
    d = incident.data
    t0 = datetime.fromisoformat(d["start"].replace("Z", "+00:00")).timestamp()
    lines = [f"# {h}" for h in header]
    lines += [f"name: {_scalar(d['name'])}", f"start: {d['start']}                # the log's first event"]
    if "horizon" in d:
        lines.append(f"horizon: {_scalar(d['horizon'])}               # the log's end, in seconds since start")
    lines += [f"# {c}" for c in sender.comments + incident.notes]
    lines.append("sender:")
    lines += [f"  {k}: {_scalar(v)}" for k, v in d["sender"].items()]
    times = d["messages"]["arrival"]["times"]
    lines += [f"messages:                          # {len(times)} arrivals as logged, seconds since start",
              "  arrival:", "    kind: times", "    times: ["]
    for i in range(0, len(times), 10):
        lines.append("      " + ", ".join(_scalar(t) for t in times[i:i + 10]) + ",")
    lines[-1] = lines[-1].rstrip(",")
    lines.append("    ]")
    lines.append("recipients:")
    lines.append(f"  - domain: {_scalar(incident.domain)}")
    lines.append("    outages:                       # inferred from the log, see outages.csv for the brackets")
    for w in d["recipients"][0]["outages"]:
        lines.append(f"      - {{start: {_scalar(w['start'])}, end: {_scalar(w['end'])}, "
                     f"failure: {_scalar(w['failure'])}}}   # {_iso(t0 + w['start'])} .. {_iso(t0 + w['end'])}")
    return "\n".join(lines) + "\n"

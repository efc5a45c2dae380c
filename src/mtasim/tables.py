"""Outcome tables a person reads: how many messages were delivered, expired and bounced in each hour,
day or week of the run, and per recipient entry of the scenario.

A message counts in the period of its ``final_s`` (the delivery or give-up time); messages still queued at
the end have no final time and are counted apart. Periods are calendar hours, days or (Monday-first)
weeks on the wall clock of the scenario's ``start:`` when it sets one, else hour 1, 2, ... or day 1, 2,
... counted from t = 0. The unit is chosen from the run's length: hours when everything ends within a day,
days up to :data:`MAX_DAYS`, weeks beyond. Both ``mtasim run``'s summary and ``mtasim report`` use these,
computed from the same message records (a run's :class:`~mtasim.results.MessageTable`, or messages.csv).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from .results import Outcome

__all__ = ["PeriodTable", "RecipientRow", "period_table", "recipient_table", "clock_start",
           "format_period_table", "format_recipient_table", "run_tables_text", "FINISHED", "MAX_DAYS"]

#: The outcomes a message can finish with, in the order of the tables' columns.
FINISHED = (Outcome.DELIVERED, Outcome.EXPIRED, Outcome.BOUNCED)
#: Runs ending within this many days get one row per day; longer ones one row per week.
MAX_DAYS = 62
_UNIT_S = {"hour": 3600.0, "day": 86400.0, "week": 7 * 86400.0}


@dataclass(frozen=True)
class PeriodTable:
    """Messages finishing in each period: ``counts[outcome][k]`` for the period labelled ``labels[k]``."""

    unit: str                           # "hour", "day" or "week"
    labels: list[str]
    counts: dict[str, list[int]]        # "delivered", "expired", "bounced" -> one count per period
    queued: int                         # still queued at the end (no final time, in no period)

    def totals(self) -> dict[str, int]:
        """Each outcome summed over the periods (equal to the run's counts of that outcome)."""
        return {k: int(sum(v)) for k, v in self.counts.items()}


@dataclass(frozen=True)
class RecipientRow:
    """One recipient entry of the scenario (all ``domain#0001`` ... of a ``domains: N`` entry together)."""

    recipient: str
    domains: int
    delivered: int
    expired: int
    bounced: int
    queued: int

    @property
    def messages(self) -> int:
        return self.delivered + self.expired + self.bounced + self.queued


def clock_start(scenario: Any) -> datetime | None:
    """The wall-clock time of t = 0 when the scenario file sets ``start:``; None when it does not (every
    scenario has a default start for notices and logs, but tables then count days from the start)."""
    data = getattr(scenario, "data", None)
    if isinstance(data, dict) and data.get("start") is not None:
        return scenario.start
    return None


def period_table(final_s: np.ndarray, outcome: np.ndarray, start: datetime | None = None,
                 unit: str | None = None) -> PeriodTable:
    """Count the finished messages per period of their final time (see the module docstring).

    ``final_s``: seconds since t = 0 (NaN for queued mail); ``outcome``: :class:`Outcome` values;
    ``start``: the wall clock of t = 0, or None to number the periods from 1; ``unit``: force "hour",
    "day" or "week" (None: chosen from the last final time)."""
    final_s = np.asarray(final_s, dtype=float)
    outcome = np.asarray(outcome)
    done = np.isin(outcome, [int(o) for o in FINISHED]) & np.isfinite(final_s)
    last = float(final_s[done].max()) if done.any() else 0.0
    if unit is None:
        unit = "hour" if last < 86400.0 else "day" if last < MAX_DAYS * 86400.0 else "week"
    if unit not in _UNIT_S:
        raise ValueError(f"unit: expected hour, day or week, got {unit!r}")
    size = _UNIT_S[unit]
    # seconds from the beginning of the first period (a calendar hour/day/week on the wall clock) to t = 0
    lead = 0.0 if start is None else (start - _period_floor(start, unit)).total_seconds()
    index = np.floor((final_s[done] + lead) / size).astype(np.int64)
    periods = int(index.max()) + 1 if len(index) else 1
    counts = {}
    for o in FINISHED:
        picked = index[outcome[done] == int(o)]
        counts[o.label] = np.bincount(picked, minlength=periods).astype(int).tolist()
    queued = int(np.count_nonzero(outcome == int(Outcome.QUEUED)))
    return PeriodTable(unit, _labels(unit, periods, start), counts, queued)


def _period_floor(start: datetime, unit: str) -> datetime:
    """The beginning of the calendar hour, day or Monday-first week holding ``start``, on its clock."""
    floor = start.replace(minute=0, second=0, microsecond=0)
    if unit in ("day", "week"):
        floor = floor.replace(hour=0)
    if unit == "week":
        floor -= timedelta(days=floor.weekday())
    return floor


def _labels(unit: str, periods: int, start: datetime | None) -> list[str]:
    if start is None:
        return [f"{unit} {k + 1}" for k in range(periods)]
    first = _period_floor(start, unit)
    step = timedelta(seconds=_UNIT_S[unit])
    shape = {"hour": "%a %Y-%m-%d %H:00", "day": "%a %Y-%m-%d", "week": "week of Mon %Y-%m-%d"}[unit]
    return [(first + k * step).strftime(shape) for k in range(periods)]


def recipient_table(recipient: np.ndarray, names: list[str], outcome: np.ndarray) -> list[RecipientRow]:
    """Outcome counts per recipient entry, in the order the entries first appear in ``names``.

    ``recipient``: each message's index into ``names`` (domain names; ``x.example#0001`` ... are the
    domains of one ``domains: N`` entry and are counted together as ``x.example``)."""
    recipient = np.asarray(recipient, dtype=np.int64)
    outcome = np.asarray(outcome)
    entries = [n.split("#", 1)[0] for n in names]
    order = list(dict.fromkeys(entries))
    entry_of = np.array([order.index(e) for e in entries], dtype=np.int64) if names else np.zeros(0, np.int64)
    which = entry_of[recipient] if len(recipient) else np.zeros(0, np.int64)
    rows = []
    for k, entry in enumerate(order):
        mine = outcome[which == k]
        counts = {o: int(np.count_nonzero(mine == int(o))) for o in Outcome}
        rows.append(RecipientRow(entry, entries.count(entry), counts[Outcome.DELIVERED], counts[Outcome.EXPIRED],
                                 counts[Outcome.BOUNCED], counts[Outcome.QUEUED]))
    return rows


def format_period_table(table: PeriodTable) -> str:
    """The table as text: a row per period, a total row, and the mail still queued when there is any."""
    heads = [o.label for o in FINISHED]
    label_w = max(len(f"finished per {table.unit}"), *(len(x) for x in table.labels))
    totals = table.totals()
    w = max(10, *(len(f"{v:,}") for v in totals.values()))
    lines = [f"{'finished per ' + table.unit:<{label_w}}" + "".join(f" {h:>{w}}" for h in heads)]
    for k, label in enumerate(table.labels):
        lines.append(f"{label:<{label_w}}" + "".join(f" {table.counts[h][k]:>{w},}" for h in heads))
    lines.append(f"{'total':<{label_w}}" + "".join(f" {totals[h]:>{w},}" for h in heads))
    if table.queued:
        lines.append(f"still queued at the end: {table.queued:,}")
    return "\n".join(lines)


def format_recipient_table(rows: list[RecipientRow]) -> str:
    """The per-recipient table as text: delivered, expired, bounced, queued and total per entry."""
    heads = ("delivered", "expired", "bounced", "queued", "total")
    names = [r.recipient + (f" ({r.domains:,} domains)" if r.domains > 1 else "") for r in rows]
    name_w = max(len("recipient"), *(len(n) for n in names))
    w = max(10, *(len(f"{r.messages:,}") for r in rows))
    lines = [f"{'recipient':<{name_w}}" + "".join(f" {h:>{w}}" for h in heads)]
    for name, r in zip(names, rows):
        values = (r.delivered, r.expired, r.bounced, r.queued, r.messages)
        lines.append(f"{name:<{name_w}}" + "".join(f" {v:>{w},}" for v in values))
    return "\n".join(lines)


def run_tables_text(messages: Any, start: datetime | None) -> str:
    """What ``mtasim run`` prints after its summary: the per-period table, and the per-recipient table
    when the scenario has more than one recipient entry. ``messages``: a run's MessageTable."""
    text = format_period_table(period_table(messages.final_s, messages.outcome, start))
    rows = recipient_table(messages.recipient, messages.recipients, messages.outcome)
    if len(rows) > 1:
        text += "\n\n" + format_recipient_table(rows)
    return text

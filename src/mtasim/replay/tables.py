"""The log's messages as the run's own records (mtasim.results.MessageTable / AttemptTable), so that
messages.csv and attempts.csv of a replay are written by the same code as ``run``'s, column for column,
and ``plot timeline`` reads either."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from types import SimpleNamespace

import numpy as np

from ..results import AttemptTable, Interner, MessageTable, SimulationResult
from .reconstruct import Reconstruction

__all__ = ["as_result"]


def _seconds(t: float | None, t0: float) -> float:
    """Seconds since the start to the microsecond (the finest a log writes); NaN for unknown."""
    return math.nan if t is None else round(t - t0, 6)


def as_result(rec: Reconstruction, t0: float, name: str) -> SimulationResult:
    """A result holding the log's records (times since ``t0``): what its CSV writers need, nothing more."""
    msgs = rec.messages
    n = len(msgs)
    domains, statuses, replies = Interner(), Interner(), Interner()
    messages = MessageTable(
        recipient=np.array([domains(m.domain) for m in msgs], dtype=np.int32),
        arrival_s=np.array([_seconds(m.arrival_s, t0) for m in msgs], dtype=np.float64),
        outcome=np.array([int(m.outcome) for m in msgs], dtype=np.int8),
        status=np.array([statuses(m.status) if m.status else -1 for m in msgs], dtype=np.int32),
        final_s=np.array([_seconds(m.final_s, t0) for m in msgs], dtype=np.float64),
        attempts=np.array([len(m.attempts) for m in msgs], dtype=np.int32),
        warned_s=np.array([_seconds(m.warnings[0] if m.warnings else None, t0) for m in msgs], dtype=np.float64),
        statuses=statuses.values, recipients=domains.values,
        decisive_age_s=np.full(n, np.nan), recovery_lag_s=np.full(n, np.nan))
    rows = [(i, k, a) for i, m in enumerate(msgs) for k, a in enumerate(m.attempts, 1)]
    attempts = AttemptTable(
        message_id=np.array([i for i, _, _ in rows], dtype=np.int64),
        attempt=np.array([k for _, k, _ in rows], dtype=np.int32),
        time_s=np.array([_seconds(a.time_s, t0) for _, _, a in rows], dtype=np.float64),
        result=np.array([int(a.result) for _, _, a in rows], dtype=np.int8),
        reply=np.array([replies(a.reply) for _, _, a in rows], dtype=np.int32),
        replies=replies.values)
    scenario = SimpleNamespace(name=name, start=datetime.fromtimestamp(t0, timezone.utc))
    return SimulationResult(scenario, 0, "replay", messages, attempts, len(rows), None)

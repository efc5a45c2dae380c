"""Per-message and per-attempt records as flat NumPy arrays, the run summary, and the output files.

Engines write into a :class:`Recorder` (preallocated message arrays, chunked attempt arrays) and hand
back a :class:`SimulationResult`; summaries, files and plots read only these arrays.

messages.csv columns: ``id,recipient,arrival_s,outcome,status,final_s,attempts,warned_s,via,relayed_s,
relay_outcome,arrival,final,warned`` (via, relayed_s, relay_outcome for domains with MX hosts,
mtasim.engine.mx; arrival, final, warned: the same moments as ISO 8601 times on the scenario's ``start``
clock, mtasim.durations.format_wall_clock).
attempts.csv columns: ``message_id,attempt,time_s,result,reply,time`` (``time``: ``time_s`` on the wall clock).
queue.csv (:mod:`mtasim.queue_view`): ``time_s,destination,queued,attempts,deliveries,expired``.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from pathlib import Path
from collections.abc import Iterable
from typing import Any

import numpy as np

from .durations import format_wall_clock, format_wall_clock_array
from .recipients import AttemptResult

__all__ = ["Outcome", "Interner", "Recorder", "MessageTable", "AttemptTable", "SimulationResult", "atomic_write", "csv_cell"]


class Outcome(IntEnum):
    DELIVERED = 0
    EXPIRED = 1
    BOUNCED = 2
    QUEUED = 3

    @property
    def label(self) -> str:
        return self.name.lower()


OUTCOME_LABELS = tuple(o.label for o in Outcome)
_CHUNK = 1 << 16
_UMASK = os.umask(0)
os.umask(_UMASK)


class Interner:
    """Interns values (statuses, replies) so records hold small integers: ``interner(value)`` is its index
    in ``values``, added on first sight. ``first`` values take the first indices."""

    def __init__(self, first: Iterable[Any] = ()) -> None:
        self.values: list[Any] = []
        self._index: dict[Any, int] = {}
        for value in first:
            self(value)

    def __call__(self, value: Any) -> int:
        i = self._index.get(value)
        if i is None:
            i = self._index[value] = len(self.values)
            self.values.append(value)
        return i


@dataclass
class MessageTable:
    """One row per submitted message; NaN marks an absent time (queued final_s, no warning)."""

    recipient: np.ndarray      # int32 index into recipients
    arrival_s: np.ndarray      # float64
    outcome: np.ndarray        # int8 Outcome
    status: np.ndarray         # int32 index into statuses (-1: no status yet)
    final_s: np.ndarray        # float64, NaN when queued
    attempts: np.ndarray       # int32
    warned_s: np.ndarray       # float64, NaN when no delay warning
    statuses: list[str]
    recipients: list[str]
    decisive_age_s: np.ndarray  # float64, see Recorder.finish
    recovery_lag_s: np.ndarray  # float64, NaN unless delivered after a failure
    #: Domains with MX hosts (mtasim.engine.mx): the host that accepted each delivered message (int32 index
    #: into ``hosts``, -1: none or a domain with one server); for mail a backup MX accepted, its relay leg's
    #: Outcome (int8, -1: no relay) and when the backup delivered it to a primary host (NaN: not delivered).
    #: None when no domain of the run has MX hosts.
    via: np.ndarray | None = None
    hosts: list[str] = field(default_factory=list)
    relay_outcome: np.ndarray | None = None
    relayed_s: np.ndarray | None = None
    #: Wall-clock time of t = 0 (the scenario's ``start``), for the ISO columns; set by SimulationResult.
    start: datetime | None = None

    def __len__(self) -> int:
        return len(self.arrival_s)

    def to_pandas(self) -> Any:
        """The table as a pandas DataFrame, one row per message, the columns of messages.csv (without the MX
        columns when no domain has MX hosts), with ``arrival``, ``final`` and ``warned`` as time-zone-aware
        timestamps on the ``start`` clock (NaT where the seconds are empty). Needs pandas (``pip install
        mtasim[pandas]``)."""
        pd = _pandas()
        n = len(self)
        frame = pd.DataFrame({
            "id": np.arange(n, dtype=np.int64),
            "recipient": pd.Categorical(np.array(self.recipients, dtype=object)[self.recipient]),
            "arrival_s": self.arrival_s,
            "outcome": pd.Categorical.from_codes(self.outcome, list(OUTCOME_LABELS)),
            "status": np.array(self.statuses + [""], dtype=object)[self.status],
            "final_s": self.final_s,
            "attempts": self.attempts,
            "warned_s": self.warned_s,
        })
        if self.via is not None:
            frame["via"] = np.array(self.hosts + [""], dtype=object)[self.via]
            relay = self.relay_outcome if self.relay_outcome is not None else np.full(n, -1)
            frame["relayed_s"] = self.relayed_s if self.relayed_s is not None else np.full(n, np.nan)
            frame["relay_outcome"] = np.array(list(OUTCOME_LABELS) + [""], dtype=object)[relay]
        for name in ("arrival", "final", "warned"):
            frame[name] = _timestamps(pd, self.start, frame[f"{name}_s"].to_numpy())
        return frame

    def status_text(self, i: int) -> str:
        s = int(self.status[i])
        return self.statuses[s] if s >= 0 else ""

    def via_text(self, i: int) -> str:
        """The MX host that accepted message ``i`` ('' for none, or a domain with one server)."""
        v = -1 if self.via is None else int(self.via[i])
        return self.hosts[v] if v >= 0 else ""

    def relay_text(self, i: int) -> str:
        """The relay leg's outcome of message ``i`` ('' when no backup MX accepted it)."""
        r = -1 if self.relay_outcome is None else int(self.relay_outcome[i])
        return OUTCOME_LABELS[r] if r >= 0 else ""

    def count(self, outcome: Outcome) -> int:
        return int(np.count_nonzero(self.outcome == outcome))


@dataclass
class AttemptTable:
    """One row per attempt of the recorded messages, ordered by message id, then attempt number."""

    message_id: np.ndarray     # int64
    attempt: np.ndarray        # int32, 1-based
    time_s: np.ndarray         # float64, the attempt's start
    result: np.ndarray         # int8 AttemptResult
    reply: np.ndarray          # int32 index into replies
    replies: list[str]
    #: Wall-clock time of t = 0, for the ``time`` column; set by SimulationResult.
    start: datetime | None = None

    def __len__(self) -> int:
        return len(self.time_s)

    def for_message(self, message_id: int) -> np.ndarray:
        """Start times of one message's attempts (for tests and plots)."""
        return self.time_s[self.message_id == message_id]

    def to_pandas(self) -> Any:
        """The table as a pandas DataFrame, the columns of attempts.csv, with ``time`` a time-zone-aware
        timestamp on the ``start`` clock. Needs pandas (``pip install mtasim[pandas]``)."""
        pd = _pandas()
        labels = [r.label for r in AttemptResult]
        return pd.DataFrame({
            "message_id": self.message_id,
            "attempt": self.attempt,
            "time_s": self.time_s,
            "result": pd.Categorical.from_codes(self.result, labels),
            "reply": np.array(self.replies, dtype=object)[self.reply] if len(self) else np.array([], dtype=object),
            "time": _timestamps(pd, self.start, self.time_s),
        })


class Recorder:
    """Where an engine writes records as they happen; nothing per-message outlives a finished message."""

    def __init__(self, arrival_s: np.ndarray, recipient: np.ndarray, recipient_names: list[str],
                 record_attempts_every: int = 0):
        n = len(arrival_s)
        self.arrival_s = arrival_s
        self.recipient = recipient
        self.recipient_names = recipient_names
        self.outcome = np.full(n, Outcome.QUEUED, dtype=np.int8)
        self.status = np.full(n, -1, dtype=np.int32)
        self.final_s = np.full(n, np.nan)
        self.attempts = np.zeros(n, dtype=np.int32)
        self.warned_s = np.full(n, np.nan)
        self._warn_ids: list[int] = []
        self._warn_times: list[float] = []
        self._warn_chunks: list[tuple[np.ndarray, np.ndarray]] = []
        self.decisive_age_s = np.full(n, np.nan)
        self.recovery_lag_s = np.full(n, np.nan)
        self.statuses = Interner()
        self.replies = Interner()
        self.every = record_attempts_every
        #: A tqdm bar counting finished messages, or None.
        self.progress = None
        self._chunks: list[tuple[np.ndarray, ...]] = []
        self._new_chunk()
        self.total_attempts = 0
        #: Passes that host-level state held back without a connection (result ``suspended``,
        #: mtasim.hosts): counted even without an attempt table, so the summary can tell them apart.
        self.held_back = 0
        #: The MX host that accepted each delivered message (its rank in preference order, -1 until then),
        #: when tracked (runs with MX hosts: mtasim.engine.mx); None otherwise.
        self.via: np.ndarray | None = None

    def track_via(self) -> None:
        self.via = np.full(len(self.arrival_s), -1, dtype=np.int16)

    def _new_chunk(self) -> None:
        self._buf = (np.empty(_CHUNK, np.int64), np.empty(_CHUNK, np.int32), np.empty(_CHUNK),
                     np.empty(_CHUNK, np.int8), np.empty(_CHUNK, np.int32))
        self._fill = 0

    def attempt(self, message_id: int, number: int, time_s: float, result: AttemptResult, reply: str) -> None:
        self.attempts[message_id] = number
        self.total_attempts += 1
        if result == AttemptResult.SUSPENDED:
            self.held_back += 1
        if self.every and message_id % self.every == 0:
            if self._fill == _CHUNK:
                self._chunks.append(self._buf)
                self._new_chunk()
            j = self._fill
            ids, nums, times, results, replies = self._buf
            ids[j], nums[j], times[j], results[j], replies[j] = message_id, number, time_s, result, self.replies(reply)
            self._fill = j + 1

    def attempts_batch(self, ids: np.ndarray, numbers: np.ndarray, times_s: np.ndarray, results: np.ndarray | None,
                       reply_ids: np.ndarray | None) -> None:
        """Many attempts at once (the engines); ``reply_ids`` index :attr:`replies`. Without an attempt table
        only the counts are kept, and ``reply_ids`` may be None, and ``results`` too when no pass can be
        held back (they are only counted then)."""
        self.attempts[ids] = numbers
        self.total_attempts += len(ids)
        if results is not None:
            self.held_back += int(np.count_nonzero(np.asarray(results) == AttemptResult.SUSPENDED))
        if not self.every:
            return
        results, reply_ids = np.asarray(results), np.asarray(reply_ids)
        keep = ids % self.every == 0 if self.every > 1 else slice(None)
        self._chunks.append((ids[keep].astype(np.int64), numbers[keep].astype(np.int32), times_s[keep].copy(),
                             results[keep].astype(np.int8), reply_ids[keep].astype(np.int32)))

    def finish_batch(self, ids: np.ndarray, outcome: Outcome, status_ids: np.ndarray, times_s: np.ndarray,
                     decisive_age_s: np.ndarray | float = np.nan, recovery_lag_s: np.ndarray | float = np.nan
                     ) -> None:
        if self.progress is not None:
            self.progress.update(len(ids))
        self.outcome[ids] = outcome
        self.status[ids] = status_ids
        self.final_s[ids] = times_s
        self.decisive_age_s[ids] = decisive_age_s
        self.recovery_lag_s[ids] = recovery_lag_s

    def defer(self, message_id: int, status: str) -> None:
        self.status[message_id] = self.statuses(status)

    def warn(self, message_id: int, time_s: float, count: int = 1) -> None:
        """``count`` delay warnings sent to a message at ``time_s``; warned_s keeps the first."""
        if self.warned_s[message_id] != self.warned_s[message_id]:
            self.warned_s[message_id] = time_s
        self._warn_ids.extend([message_id] * count)
        self._warn_times.extend([time_s] * count)

    def warn_batch(self, ids: np.ndarray, times_s: np.ndarray, counts: np.ndarray) -> None:
        """Vectorised :meth:`warn` (the fast engine and the ``age`` timing)."""
        keep = counts > 0
        ids, times_s, counts = ids[keep], times_s[keep], counts[keep]
        first = np.isnan(self.warned_s[ids])
        self.warned_s[ids[first]] = times_s[first]
        self._warn_chunks.append((np.repeat(ids, counts), np.repeat(times_s, counts)))

    def warning_events(self) -> tuple[np.ndarray, np.ndarray]:
        """Every delay warning as (message id, time), ordered by message, then time."""
        ids = np.concatenate([np.asarray(self._warn_ids, dtype=np.int64)]
                             + [c[0].astype(np.int64) for c in self._warn_chunks])
        times = np.concatenate([np.asarray(self._warn_times, dtype=np.float64)] + [c[1] for c in self._warn_chunks])
        order = np.lexsort((times, ids))
        return ids[order], times[order]

    def finish(self, message_id: int, outcome: Outcome, status: str, time_s: float,
               decisive_age_s: float = np.nan, recovery_lag_s: float = np.nan) -> None:
        """Record a message's end. ``decisive_age_s`` is the age that decides whether the message would
        still end this way under a shorter expiry E (see :mod:`mtasim.curve`); ``recovery_lag_s`` the
        delivery time minus the end of the outage behind its last failure."""
        if self.progress is not None:
            self.progress.update(1)
        self.outcome[message_id] = outcome
        self.status[message_id] = self.statuses(status)
        self.final_s[message_id] = time_s
        self.decisive_age_s[message_id] = decisive_age_s
        self.recovery_lag_s[message_id] = recovery_lag_s

    def messages(self) -> MessageTable:
        return MessageTable(self.recipient, self.arrival_s, self.outcome, self.status, self.final_s,
                            self.attempts, self.warned_s, self.statuses.values, self.recipient_names,
                            self.decisive_age_s, self.recovery_lag_s)

    def attempt_table(self) -> AttemptTable | None:
        if not self.every:
            return None
        chunks = self._chunks + [tuple(a[: self._fill] for a in self._buf)]
        cols = [np.concatenate([c[k] for c in chunks]) for k in range(5)]
        order = np.lexsort((cols[1], cols[0]))      # by message, then attempt: the same in every engine
        return AttemptTable(*(c[order] for c in cols), replies=self.replies.values)


@dataclass
class SimulationResult:
    """What :func:`mtasim.simulate` returns: per-message records, optional attempts, and the summary."""

    scenario: Any
    seed: int
    engine: str
    messages: MessageTable
    attempts: AttemptTable | None
    total_attempts: int
    horizon_s: float | None
    #: The concrete recipient domains of this run (random outages drawn), indexed by messages.recipient.
    domains: list[Any] = field(default_factory=list)
    #: Every delay warning as (message ids, times), ordered by message then time; messages.warned_s is
    #: each message's first.
    warnings: tuple[np.ndarray, np.ndarray] = field(
        default_factory=lambda: (np.zeros(0, dtype=np.int64), np.zeros(0)))
    #: Attempts that host-level state held back without a connection (result ``suspended``, mtasim.hosts):
    #: passes of a message, counted in total_attempts, but no connection was made.
    held_back: int = 0

    def __post_init__(self) -> None:
        start = getattr(self.scenario, "start", None)       # the tables' ISO columns read the wall clock
        for table in (self.messages, self.attempts):
            if table is not None and table.start is None:
                table.start = start

    def counts(self) -> dict[str, int]:
        return {o.label: self.messages.count(o) for o in Outcome}

    def summary(self) -> dict[str, Any]:
        m = self.messages
        delivered = m.outcome == Outcome.DELIVERED
        latency = m.final_s[delivered] - m.arrival_s[delivered]
        n = len(m)
        out: dict[str, Any] = {
            "scenario": self.scenario.name,
            "seed": self.seed,
            "engine": self.engine,
            "messages": n,
            **self.counts(),
            "attempts": int(self.total_attempts),
            "attempts_per_message": round(self.total_attempts / n, 6) if n else 0.0,
            "delay_warnings": int(len(self.warnings[0])),
            **self._notices_and_connections(),
            "delivery_latency_s": _percentiles(latency),
            "recovery_lag_s": _percentiles(m.recovery_lag_s[~np.isnan(m.recovery_lag_s)], (50, 95)),
        }
        from .queue_view import queue_summary       # the queue over time (peak, drain, expired after recovery)
        out.update(queue_summary(self))
        start = getattr(self.scenario, "start", None)
        if start is not None:
            out["start"] = start.isoformat()
        out.update(self._expiry_times(start))
        if self.horizon_s is not None:
            out["horizon_s"] = self.horizon_s
        if any(h.is_backup for d in self.domains for h in getattr(d, "mx", ())):
            relay = m.relay_outcome if m.relay_outcome is not None else np.zeros(0, dtype=np.int8)
            out["accepted_by_backup"] = int(np.count_nonzero(relay >= 0))     # delivered, for the sender
            out["relayed"] = int(np.count_nonzero(relay == Outcome.DELIVERED))
            out["expired_at_backup"] = int(np.count_nonzero(relay == Outcome.EXPIRED))
        from .scenario import Scenario, setup_record     # the scenario in words, for mtasim report
        if isinstance(self.scenario, Scenario):
            out["setup"] = setup_record(self.scenario)
        return out

    def _notices_and_connections(self) -> dict[str, int]:
        """The words a mail admin counts in: a non-delivery report per message that expired or bounced, a
        delay notice per delay warning (mtasim.notices writes one of each), and the attempts that made a
        connection (every pass but those host-level state held back)."""
        counts = self.counts()
        return {"non_delivery_reports": counts["expired"] + counts["bounced"],
                "delay_notices": int(len(self.warnings[0])),
                "connections": int(self.total_attempts) - int(self.held_back),
                "held_back": int(self.held_back)}

    def _expiry_times(self, start: datetime | None) -> dict[str, Any]:
        """When the first and the last message expired: seconds since the start and, with a start, ISO 8601
        on its clock (None when nothing expired)."""
        m = self.messages
        expired = m.final_s[m.outcome == Outcome.EXPIRED]
        first = float(expired.min()) if len(expired) else None
        last = float(expired.max()) if len(expired) else None
        out: dict[str, Any] = {"first_expiry_s": first, "last_expiry_s": last}
        if start is not None:
            out["first_expiry"] = None if first is None else format_wall_clock(start, first)
            out["last_expiry"] = None if last is None else format_wall_clock(start, last)
        return out

    # -- files -----------------------------------------------------------------------------------
    def write(self, out_dir: str | Path, *, attempts: bool = False, queue_interval_s: float | None = None
              ) -> list[Path]:
        """Write summary.json, messages.csv, outages.csv, queue.csv (and attempts.csv); each appears whole or
        not at all. ``queue_interval_s``: queue.csv's interval (None: chosen from the run's length); its
        attempts column is filled when attempts.csv is written, i.e. it counts that file's rows."""
        from .queue_view import queue_series

        # a bad interval fails before anything is written
        queue = queue_series(self, queue_interval_s, count_attempts=attempts)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written = [
            atomic_write(out / "summary.json", lambda f: f.write(json.dumps(self.summary(), indent=2) + "\n")),
            atomic_write(out / "messages.csv", self.write_messages_csv),
            atomic_write(out / "outages.csv", self._write_outages),
            atomic_write(out / "queue.csv", queue.write_csv),
        ]
        if attempts:
            if self.attempts is None:
                raise ValueError("attempts were not recorded; simulate with attempts=True")
            written.append(atomic_write(out / "attempts.csv", self.write_attempts_csv))
        return written

    def write_messages_csv(self, f) -> None:
        """messages.csv's rows into the open text file ``f`` (``run`` and ``replay`` write it alike)."""
        m = self.messages
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["id", "recipient", "arrival_s", "outcome", "status", "final_s", "attempts", "warned_s", "via",
                    "relayed_s", "relay_outcome", "arrival", "final", "warned"])
        statuses = m.statuses + [""]            # index -1 -> ""
        names = m.recipients
        n = len(m)
        hosts, relays = m.hosts + [""], list(OUTCOME_LABELS) + [""]
        via = m.via if m.via is not None else np.full(n, -1)
        relay = m.relay_outcome if m.relay_outcome is not None else np.full(n, -1)
        relayed = m.relayed_s if m.relayed_s is not None else np.full(n, np.nan)
        arrival, final, warned = (_wall_clock(m.start, t) for t in (m.arrival_s, m.final_s, m.warned_s))
        for i in range(n):
            w.writerow((i, names[m.recipient[i]], csv_cell(m.arrival_s[i]), OUTCOME_LABELS[m.outcome[i]],
                        statuses[m.status[i]], csv_cell(m.final_s[i]), int(m.attempts[i]), csv_cell(m.warned_s[i]),
                        hosts[via[i]], csv_cell(relayed[i]), relays[relay[i]], arrival[i], final[i], warned[i]))

    def outage_windows(self) -> list[tuple[str, str, Any]]:
        """Every outage window of the run as (domain, host, window): the domain's own, in which an attempt
        fails (host empty; with MX hosts, every host tried failed or one answered 4xx/5xx), then with MX
        hosts each host's own windows, in preference order. The rows of outages.csv."""
        rows: list[tuple[str, str, Any]] = []
        for domain in self.domains:
            rows += [(domain.domain, "", o) for o in domain.outages]
            rows += [(domain.domain, h.host, o) for h in domain.mx for o in h.outages]
        return rows

    def _write_outages(self, f) -> None:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["recipient", "start_s", "end_s", "failure", "host"])
        for domain, host, o in self.outage_windows():
            w.writerow((domain, csv_cell(o.start_s), csv_cell(o.end_s), o.reply.text, host))

    def write_attempts_csv(self, f) -> None:
        """attempts.csv's rows into the open text file ``f``."""
        a = self.attempts
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["message_id", "attempt", "time_s", "result", "reply", "time"])
        labels = [r.label for r in AttemptResult]
        times = _wall_clock(a.start, a.time_s)
        for j in range(len(a)):
            w.writerow((int(a.message_id[j]), int(a.attempt[j]), csv_cell(a.time_s[j]), labels[a.result[j]],
                        a.replies[a.reply[j]], times[j]))


def csv_cell(value: Any) -> str:
    """A CSV cell: numbers in their shortest exact form (whole floats without ``.0``), so every engine and
    executor writes the same bytes; empty for None and NaN."""
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        x = float(value)
        if x != x:
            return ""
        return str(int(x)) if x.is_integer() and abs(x) < 1e15 else repr(x)
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)





def _wall_clock(start: datetime | None, seconds: np.ndarray) -> list[str]:
    """Seconds since the start -> ISO 8601 cells ('' for NaN, or everywhere when there is no start)."""
    if start is None:
        return [""] * len(seconds)
    return format_wall_clock_array(start, seconds)


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:
        raise ImportError("to_pandas() needs pandas: pip install 'mtasim[pandas]' (or pandas>=2.0)") from None
    return pandas


def _timestamps(pd: Any, start: datetime | None, seconds: np.ndarray) -> Any:
    """Seconds since ``start`` as time-zone-aware pandas timestamps on its clock (NaT for NaN), to the
    microsecond (their range covers every start and duration a scenario allows); without a start, NaT."""
    delta = pd.to_timedelta(np.round(np.asarray(seconds, dtype=np.float64) * 1e6), unit="us").as_unit("us")
    if start is None:
        return pd.Series(pd.NaT, index=range(len(delta)), dtype="datetime64[us, UTC]")
    return pd.Timestamp(start).as_unit("us") + delta


def _percentiles(values: np.ndarray, levels: tuple[int, ...] = (50, 90, 99)) -> dict[str, float | None]:
    keys = [f"p{q}" for q in levels] + ["max"]
    if len(values) == 0:
        return dict.fromkeys(keys)
    found = list(np.percentile(values, levels)) + [values.max()]
    return {k: float(v) for k, v in zip(keys, found)}


def atomic_write(path: Path, write, *, binary: bool = False) -> Path:
    """Write through a temporary file in the same folder and rename it into place."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8", "newline": ""})) as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path

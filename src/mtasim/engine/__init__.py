"""Engines turn a scenario into per-message records. ``simulate`` picks one and prepares the inputs.

Arrivals and recipient assignment are drawn here, once, so every engine sees the same workload.
"""

from __future__ import annotations

import math

import numpy as np

from ..recipients import realize_recipients
from ..results import Recorder, SimulationResult
from ..scenario import Scenario
from ..sender import Sender
from ..workload import assign_recipients

__all__ = ["simulate", "ENGINES"]

ENGINES = ("auto", "des", "fast")


class EngineUnavailableError(ValueError):
    """The requested engine cannot run this scenario (or this machine cannot hold it); the message says why."""


#: Bytes per message: the per-message records (about 60 B) plus the engine's own share. The DES keeps every
#: message's pending event and rule state in arrays (measured: 310-345 B per message in all at 10^6 and
#: 4 x 10^6 messages), and for destinations with few messages a generator per message in flight (~1 KB);
#: the fast engine works through chunks of CHUNK messages (~300 B each) whatever the size.
_BYTES_PER_MESSAGE = {"fast": 72, "des": 350, "des, message by message": 1100}
_FAST_CHUNK_BYTES = 300 * (1 << 20)
_BYTES_PER_ATTEMPT_ROW = 25


def available_memory_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (Linux), or None where it cannot be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_memory(messages: float, engine: str, attempts: bool | int, model: str | None = None) -> None:
    """Refuse, before anything starts, a run that would not fit in the memory available. ``model``: the
    entry of _BYTES_PER_MESSAGE that fits the run (default: the engine's)."""
    need = messages * _BYTES_PER_MESSAGE[model or engine] + (_FAST_CHUNK_BYTES if engine == "fast" else 0)
    if attempts:
        every = 1 if attempts is True else int(attempts)
        need += messages / every * 10 * _BYTES_PER_ATTEMPT_ROW      # about 10 attempts per message
    have = available_memory_bytes()
    if have is not None and need > have:
        raise EngineUnavailableError(
            f"{messages:,.0f} messages on the {engine} engine would need about {need / 2**30:,.1f} GiB of memory; "
            f"{have / 2**30:,.1f} GiB is available (fewer messages, --engine fast, or no --attempts)")


def simulate(scenario: Scenario, seed: int | None = None, *, engine: str = "auto",
             attempts: bool | int = False, progress: bool = False) -> SimulationResult:
    """Run ``scenario`` and return its per-message records.

    ``seed`` overrides the scenario's seed. ``attempts`` records the attempts of every message (True),
    of every n-th message (an int n, e.g. for plots of huge runs), or of none (False). ``progress``
    shows a progress bar of finished messages on stderr.
    """
    if engine not in ENGINES:
        raise EngineUnavailableError(f"unknown engine '{engine}' (expected one of {', '.join(ENGINES)})")
    needs_des = des_only_features(scenario)
    if engine == "fast" and needs_des:
        raise EngineUnavailableError(f"{scenario.source}: the fast engine cannot run this scenario: it needs "
                                     f"{', '.join(needs_des)}; use --engine des or auto")
    chosen = "des" if engine == "des" or (engine == "auto" and needs_des) else "fast"
    check_memory(scenario.workload.expected_count, chosen, attempts, _memory_model(scenario, chosen))
    seed = scenario.seed if seed is None else int(seed)
    arrivals = scenario.workload.arrivals(seed)
    entries = scenario.recipients
    domains, first_domain = realize_recipients(entries, seed)
    recipient_of = assign_recipients([r.share for r in entries], [r.domains for r in entries], first_domain,
                                     len(arrivals), seed)
    every = 1 if attempts is True else int(attempts or 0)
    recorder = Recorder(arrivals, recipient_of, [r.domain for r in domains], every)
    if chosen == "des":
        from .des import run_des as run
    else:
        from .fast import run_fast as run
    if progress:
        from tqdm import tqdm
        recorder.progress = tqdm(total=len(arrivals), unit="msg", desc=f"simulating ({chosen})", leave=False)
    try:
        horizon = run(scenario.sender, domains, scenario.horizon_s, seed, arrivals, recipient_of, recorder)
    finally:
        if recorder.progress is not None:
            recorder.progress.close()
    _warn_by_age(scenario.sender, recorder, horizon)
    return SimulationResult(scenario, seed, chosen, recorder.messages(), recorder.attempt_table(),
                            recorder.total_attempts, horizon, domains=domains, warnings=recorder.warning_events())


def _memory_model(scenario: Scenario, engine: str) -> str:
    """Which entry of _BYTES_PER_MESSAGE fits: the DES runs destinations with few messages each message
    by message (mtasim.engine.des)."""
    if engine != "des" or not des_only_features(scenario):
        return engine
    from .des import _OWN_ENGINE

    destinations = sum(r.domains for r in scenario.recipients)
    few = scenario.workload.expected_count / max(1, destinations) < _OWN_ENGINE
    return "des, message by message" if few else "des"


def des_only_features(scenario: Scenario) -> list[str]:
    """What in the scenario couples messages to each other (host-level state), so only the DES can run it.

    Host-level state (mtasim.hosts: Postfix's dead destinations, Sendmail's host-status cache) is the
    one such feature so far, and only where it can act (a recipient that refuses or times out connections).
    """
    policy = scenario.sender.host_policy
    return [policy.feature] if policy is not None and policy.matters(scenario.recipients) else []


def _warn_by_age(sender: Sender, recorder: Recorder, horizon: float | None) -> None:
    """``age`` timing: a warning at arrival + each warning age that passes before the message finishes
    (its final time, or the horizon while queued); vectorised."""
    if not sender.warns_by_age:
        return
    end = np.where(np.isnan(recorder.final_s), math.inf if horizon is None else horizon, recorder.final_s)
    counts = sender.warnings_by_age(recorder.arrival_s, end)
    listed = (sender.delay_warning_s, *sender.delay_warning_later_s)
    for k in range(int(counts.max(initial=0))):
        ids = np.flatnonzero(counts > k)
        if k < len(listed):                         # the same arithmetic as Sender.warnings_by_age
            times = recorder.arrival_s[ids] + listed[k]
        else:
            times = (recorder.arrival_s[ids] + listed[-1]) + (k - len(listed) + 1) * sender.delay_warning_repeat_s
        recorder.warn_batch(ids, times, np.ones(len(ids), dtype=np.int64))

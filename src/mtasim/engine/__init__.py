"""Engines turn a scenario into per-message records; ``simulate`` picks one and runs it.

Arrivals and recipient assignment are drawn here, once, so every engine sees the same workload. An
engine is a function ``run(sender, domains, horizon, seed, arrivals, recipient_of, recorder)``:
``des`` (mtasim.engine.des), ``fast`` (mtasim.engine.fast) or ``reference`` (mtasim.engine.reference,
the plainly written oracle the others are tested against); ``runner=`` injects another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ..recipients import realize_recipients
from ..results import Recorder, SimulationResult
from ..scenario import Scenario
from ..workload import assign_recipients
from . import memory
from .mx import any_mx, mx_records, resolve_domains
from .memory import EngineUnavailableError
from .runners import engine_runner

__all__ = ["simulate", "ENGINES", "EngineUnavailableError", "des_only_features", "engine_runner"]

ENGINES = ("auto", "des", "fast", "reference")


def des_only_features(scenario: Scenario) -> list[str]:
    """What in the scenario couples messages to each other (host-level state, only where it can act:
    a recipient that refuses or times out connections), so the fast engine cannot run it."""
    policy = scenario.sender.host_policy
    features = [policy.feature] if policy is not None and policy.matters(scenario.recipients) else []
    features += [f"the rate limit of {r.domain} (recipients[{i}].rate_limit)"
                 for i, r in enumerate(scenario.recipients) if r.rate_limit is not None]
    features += [f"the connection limit of {r.domain} (recipients[{i}].max_connections)"
                 for i, r in enumerate(scenario.recipients) if r.max_connections is not None]
    concurrency = scenario.sender.concurrency
    features += [f"the sender's connection limit ({concurrency} per destination) with the transaction times of "
                 f"{r.domain} (recipients[{i}].transaction_time)"
                 for i, r in enumerate(scenario.recipients) if concurrency is not None and r.transaction_time]
    features += [f"the connection set-up time of {r.domain} (recipients[{i}].connection_setup)"
                 for i, r in enumerate(scenario.recipients) if r.connection_setup is not None]
    features += [f"greylist triplets shared by the {r.greylist.addresses} addresses of {r.domain} "
                 f"(recipients[{i}].greylist.addresses)" for i, r in enumerate(scenario.recipients)
                 if r.greylist is not None and r.greylist.addresses]
    return features


def simulate(scenario: Scenario, seed: int | None = None, *, engine: str = "auto",
             attempts: bool | int = False, progress: bool = False, runner: Callable | None = None
             ) -> SimulationResult:
    """Run ``scenario`` and return its per-message records.

    ``seed`` overrides the scenario's seed. ``attempts`` records the attempts of every message (True),
    of every n-th message (an int n, e.g. for plots of huge runs), or of none (False). ``progress``
    shows a progress bar of finished messages on stderr. ``runner`` replaces the engine's run function
    (tests inject instrumented engines); ``engine`` still names it in the result.
    """
    if engine not in ENGINES:
        raise EngineUnavailableError(f"unknown engine '{engine}' (expected one of {', '.join(ENGINES)})")
    needs_des = des_only_features(scenario)
    if engine == "fast" and needs_des:
        raise EngineUnavailableError(f"{scenario.source}: the fast engine cannot run this scenario: it needs "
                                     f"{', '.join(needs_des)}; use --engine des or auto")
    chosen = engine if engine != "auto" else "des" if needs_des else "fast"
    messages = scenario.workload.expected_count
    destinations = sum(r.domains for r in scenario.recipients)
    memory.check_memory(messages, chosen, attempts, memory.model(chosen, bool(needs_des), messages / destinations))
    seed = scenario.seed if seed is None else int(seed)
    arrivals = scenario.workload.arrivals(seed)
    entries = scenario.recipients
    domains, first_domain = realize_recipients(entries, seed, scenario.outage_until_s)
    with_mx = any_mx(domains)
    if with_mx:                                 # each domain's answers as its MX hosts give them (engine.mx)
        domains = resolve_domains(domains, scenario.sender)
    recipient_of = assign_recipients([r.share for r in entries], [r.domains for r in entries], first_domain,
                                     len(arrivals), seed)
    every = 1 if attempts is True else int(attempts or 0)
    recorder = Recorder(arrivals, recipient_of, [r.domain for r in domains], every)
    if with_mx:
        recorder.track_via()
    run = runner or engine_runner(chosen)
    if progress:
        from tqdm import tqdm
        recorder.progress = tqdm(total=len(arrivals), unit="msg", desc=f"simulating ({chosen})", leave=False)
    try:
        horizon = run(scenario.sender, domains, scenario.horizon_s, seed, arrivals, recipient_of, recorder)
    finally:
        if recorder.progress is not None:
            recorder.progress.close()
    table = recorder.messages()
    if with_mx:                                 # which host accepted; the backup MXs' relay legs
        mx = mx_records(scenario.sender, domains, scenario.horizon_s, seed, chosen, recorder)
        table = replace(table, via=mx.via, hosts=mx.hosts, relay_outcome=mx.relay_outcome, relayed_s=mx.relayed_s)
    return SimulationResult(scenario, seed, chosen, table, recorder.attempt_table(),
                            recorder.total_attempts, horizon, domains=domains, warnings=recorder.warning_events(),
                            held_back=recorder.held_back)

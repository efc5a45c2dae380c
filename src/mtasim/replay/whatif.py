"""What-if: the same incident under other senders or settings.

``--what-if preset=exchange-online,exchange-server`` replaces the sender by each preset at its defaults;
``--what-if sender.maximal_queue_lifetime=2d,3d`` (any key path of the scenario, as ``curve --series``
and ``run``'s overrides take) sets that value. Every variant runs every incident (one per destination
with an outage); the log's messages whose arrival is unknown take no part.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from ..config import ConfigError
from ..results import Outcome
from ..scenario import Scenario, parse_path, scenario_from_dict, with_overrides
from .incident import Incident
from .predict import predicted

__all__ = ["Variant", "VariantResult", "parse_what_if", "check_variants", "run_variants"]


@dataclass(frozen=True)
class Variant:
    label: str                       # "preset=exchange-online", "sender.maximal_queue_lifetime=2d"
    path: str
    value: str


@dataclass
class VariantResult:
    variant: Variant
    counts: dict[str, int] = field(default_factory=dict)
    saved: list[str] = field(default_factory=list)      # "queue id recipient" of log-expired messages delivered
    lost: list[str] = field(default_factory=list)       # log-delivered messages this variant does not deliver


def parse_what_if(specs: list[str]) -> list[Variant]:
    """``KEY=V1,V2`` items (repeatable) -> variants, refusing a malformed item with the flag's name."""
    out: list[Variant] = []
    for spec in specs:
        key, sep, values = spec.partition("=")
        key = key.strip()
        items = [v.strip() for v in values.split(",")] if sep else []
        if not key or not items or not all(items):
            raise ConfigError("--what-if", "", f"expected KEY=VALUE[,VALUE...] such as preset=exchange-online,"
                              f"exchange-server or sender.maximal_queue_lifetime=2d,3d, got {spec!r}")
        if key != "preset":
            try:
                parse_path(key)
            except ValueError as exc:
                raise ConfigError("--what-if", "", str(exc)) from None
        out.extend(Variant(f"{key}={v}", key, v) for v in items)
    return out


def check_variants(variants: list[Variant], sender: dict[str, Any]) -> None:
    """Refuse a variant that no scenario with this sender could take (a misspelt key, an unknown preset,
    a value out of range) before any log is read."""
    template = {"name": "what-if", "sender": copy.deepcopy(sender), "messages": {"count": 1},
                "recipients": [{"domain": "partner.example"}]}
    probe = Incident("partner.example", template, [], [], False)
    for v in variants:
        _variant_scenario(probe, v)


def _variant_scenario(incident: Incident, variant: Variant) -> Scenario:
    """The incident's scenario with the variant applied; a bad variant is ``--what-if: KEY=VALUE: why``."""
    data = copy.deepcopy(incident.data)
    try:
        if variant.path in ("preset", "sender.preset"):
            data["sender"] = {"preset": variant.value}     # another MTA: its own parameters, at their defaults
            return scenario_from_dict(data, "--what-if")
        return with_overrides(scenario_from_dict(data, "--what-if"), {variant.path: variant.value},
                              what=variant.label)
    except ConfigError as exc:
        why = exc.expected.removeprefix(f"{variant.label}: ")
        raise ConfigError("--what-if", variant.label, why) from None


def run_variants(incidents: list[Incident], variants: list[Variant], t0: float, family: str) -> list[VariantResult]:
    """Each variant over every incident: outcome counts, and which log messages it saves or loses."""
    from ..engine import simulate
    # build every variant first: a bad value is refused before anything runs
    scenarios = {(v.label, i.domain): _variant_scenario(i, v) for v in variants for i in incidents}
    out = []
    for v in variants:
        res = VariantResult(v, {o.label: 0 for o in Outcome})
        for inc in incidents:
            result = simulate(scenarios[(v.label, inc.domain)], attempts=True)
            for msg, p in zip(inc.messages, predicted(result, t0, family)):
                res.counts[p.outcome.label] += 1
                name = f"{msg.key} {msg.recipient}"
                if msg.outcome == Outcome.EXPIRED and p.outcome == Outcome.DELIVERED:
                    res.saved.append(name)
                if msg.outcome == Outcome.DELIVERED and p.outcome != Outcome.DELIVERED:
                    res.lost.append(name)
        out.append(res)
    return out

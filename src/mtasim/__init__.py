"""mtasim: which messages get through a recipient outage, and which expire with 4.4.7.

Public API::

    import mtasim
    scenario = mtasim.load_scenario("scenarios/exchange-online-30h-outage.yaml")
    result = mtasim.simulate(scenario, seed=7)
    result.summary()          # counts, attempts, latency percentiles
    result.messages.outcome   # one entry per message (see mtasim.Outcome)

The names below are loaded on first use (PEP 562), so ``import mtasim`` itself is cheap: the command
line (mtasim.entry) can catch a Ctrl-C that arrives while NumPy, SimPy and the engines are still loading.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Each public name and the module that defines it.
_EXPORTS = {
    "ConfigError": ".config", "simulate": ".engine", "PRESETS": ".presets", "get_preset": ".presets",
    "Outcome": ".results", "SimulationResult": ".results", "Scenario": ".scenario",
    "load_scenario": ".scenario", "scenario_from_dict": ".scenario", "Sender": ".sender",
    "trace_schedule": ".sender",
}

__all__ = sorted(_EXPORTS)
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mtasim' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))

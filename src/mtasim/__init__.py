"""mtasim: which messages get through a recipient outage, and which expire with 4.4.7.

Public API::

    import mtasim
    scenario = mtasim.load_scenario("scenarios/exchange-online-30h-outage.yaml")
    result = mtasim.simulate(scenario, seed=7)
    result.summary()          # counts, attempts, latency percentiles
    result.messages.outcome   # one entry per message (see mtasim.Outcome)
"""

from .config import ConfigError
from .engine import simulate
from .presets import PRESETS, get_preset
from .results import Outcome, SimulationResult
from .scenario import Scenario, load_scenario, scenario_from_dict
from .sender import Sender, trace_schedule

__all__ = [
    "ConfigError", "Outcome", "PRESETS", "Scenario", "Sender", "SimulationResult", "get_preset",
    "load_scenario", "scenario_from_dict", "simulate", "trace_schedule",
]
__version__ = "0.1.0"

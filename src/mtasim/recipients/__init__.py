"""What a recipient domain answers to an attempt that starts at time t.

``replies``: the answers themselves; ``outages``: windows (given or drawn) during which every attempt
fails; ``processes``: outages that recur (renewal processes, weekly windows), drawn up to a bound per run;
``domain``: one recipient entry of a scenario. Replies are parsed once, when the scenario is read.
"""

from .domain import Recipient, realize_recipients, recipient_from_node
from .mx import MXHost
from .outages import Distribution, Outage, RandomOutage
from .processes import OutageProcess, WeeklyWindow
from .replies import (DEFAULT_CONNECT_TIMEOUT_S, DELIVERED_REPLY, AttemptResult, Reply, failure_reply,
                      parse_reply)

__all__ = [
    "AttemptResult", "Reply", "Outage", "Recipient", "RandomOutage", "Distribution", "OutageProcess",
    "WeeklyWindow", "MXHost", "parse_reply", "failure_reply", "recipient_from_node", "realize_recipients", "DELIVERED_REPLY", "DEFAULT_CONNECT_TIMEOUT_S",
]

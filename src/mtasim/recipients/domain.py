"""One recipient domain: its share of the messages, its outages and how it answers otherwise."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field, replace
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np

from ..config import Node
from ..durations import format_duration
from ..inputs import check_domain_name
from ..rng import Purpose, generator
from .behaviour import HOST_BEHAVIOUR_KEYS, Behaviour, Greylist, behaviour_from_node
from .ratelimit import ConnectionLimit, RateLimit, ServerGate, connection_limit_from_node, rate_limit_from_node
from .library import RECIPIENT_BEHAVIOURS, apply_named_behaviour
from .mx import MXHost, mx_from_node, outage_keys
from .outages import Distribution, Outage, RandomOutage, distribution_from_node, outages_from_node, random_outage_from_node
from .processes import (MAX_WINDOWS, OutageProcess, WeeklyWindow, combine_windows, outage_process_from_node,
                        weekly_from_node)
from .replies import DEFAULT_CONNECT_TIMEOUT_S, DELIVERED_REPLY, Reply

__all__ = ["Recipient", "recipient_from_node", "realize_recipients"]


@dataclass(frozen=True)
class Recipient:
    """One recipient domain: its share of the messages and its outage windows (sorted, disjoint)."""

    domain: str
    share: float = 1.0
    outages: tuple[Outage, ...] = ()
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
    #: This entry stands for this many independent domains (each draws its own random outage).
    domains: int = 1
    random_outage: "RandomOutage | None" = None
    #: What the domain answers while up, besides 250 (mtasim.recipients.behaviour); None: always 250.
    behaviour: "Behaviour | None" = None
    #: A token bucket shared by the domain's messages (mtasim.recipients.ratelimit): DES only.
    rate_limit: "RateLimit | None" = None
    #: The server's cap on the sender's simultaneous sessions (mtasim.recipients.ratelimit): DES only.
    max_connections: "ConnectionLimit | None" = None
    #: How long an attempt that connects takes (the SMTP transaction); None: no time at all.
    transaction_time: "Distribution | None" = None
    #: How long opening a connection takes before the transaction (TCP, greeting, EHLO, STARTTLS), paid by
    #: an attempt that does not reuse one (mtasim.connection_reuse); None: no time. DES only.
    connection_setup: "Distribution | None" = None
    #: Outages that recur (mtasim.recipients.processes), drawn per domain up to a bound by realize_recipients.
    process: "OutageProcess | None" = None
    weekly: tuple[WeeklyWindow, ...] = ()
    #: The domain's MX hosts in preference order (mtasim.recipients.mx); empty: one server with ``outages``.
    mx: tuple[MXHost, ...] = ()
    #: With ``mx``, once resolved for a sender (mtasim.engine.mx.resolve_domains): what an attempt gets at
    #: each moment, as windows (outside them the most preferred host says 250 at once), deliveries through
    #: another host or after a timed-out one included; ``outages`` are then the failures among them.
    answers: tuple[Outage, ...] = ()
    _starts: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("outages", "answers"):
            ordered = tuple(sorted(getattr(self, name), key=lambda o: o.start_s))
            for before, after in zip(ordered, ordered[1:]):
                if after.start_s < before.end_s:
                    raise ValueError("outage windows of one recipient must not overlap")
            object.__setattr__(self, name, ordered)
        object.__setattr__(self, "_starts", tuple(o.start_s for o in self.windows))

    @property
    def windows(self) -> tuple[Outage, ...]:
        """The windows an attempt's reply is looked up in: ``answers`` with MX hosts, else ``outages``."""
        return self.answers if self.mx else self.outages

    def reply_at(self, t: float) -> Reply:
        """The reply to an attempt starting at ``t`` (outages are half-open ``[start, end)``)."""
        outage = self.outage_at(t)
        return DELIVERED_REPLY if outage is None else outage.reply

    def outage_at(self, t: float) -> Outage | None:
        """The outage window containing ``t``, if any (with MX hosts: the answer window, see ``answers``)."""
        windows = self.windows
        i = bisect.bisect_right(self._starts, t) - 1
        if i >= 0 and t < windows[i].end_s:
            return windows[i]
        return None

    @property
    def recurring(self) -> bool:
        """Whether this entry has outages drawn or repeated up to a bound (a process, weekly windows)."""
        return self.process is not None or bool(self.weekly) or any(h.windows.recurring for h in self.mx)

    def new_gate(self) -> "ServerGate | None":
        """The domain's server-side capacity for one run (None when it has no limit)."""
        if self.rate_limit is None and self.max_connections is None:
            return None
        return ServerGate(self.max_connections, self.rate_limit)

    @property
    def greylist(self) -> "Greylist | None":
        return self.behaviour.greylist if self.behaviour is not None else None

    @property
    def failure_replies(self) -> list[Reply]:
        """Every failure this entry can give for a whole moment: its outages' replies (drawn or not) and its
        rate limit's throttle reply."""
        replies = [o.reply for o in self.outages] + [w.reply for w in self.weekly]
        replies += [self.rate_limit.reply] if self.rate_limit is not None else []
        replies += [self.max_connections.reply] if self.max_connections is not None else []
        replies += [reply for h in self.mx for reply in h.windows.failure_replies]      # any host's, any of them last
        return replies + [x.reply for x in (self.random_outage, self.process) if x is not None]

    def expected_windows(self, until_s: float) -> float:
        """About how many outage windows this entry's domains have before ``until_s`` (before drawing)."""
        per_domain: float = len(self.outages) + (self.random_outage is not None)
        per_domain += sum(len(w.windows(until_s)[0]) for w in self.weekly)
        if self.process is not None:
            per_domain += self.process.expected_windows(until_s)
        per_domain += sum(h.windows.expected_windows(until_s) for h in self.mx)
        return self.domains * per_domain

    def describe(self) -> str:
        windows = ", ".join(
            f"[{format_duration(o.start_s)}, {format_duration(o.end_s)}) {o.reply.text}" for o in self.outages
        )
        if self.random_outage is not None:
            windows = self.random_outage.describe()
        recurring = [w.describe() for w in self.weekly] + ([self.process.describe()] if self.process else [])
        windows = "; ".join(x for x in (windows, *recurring) if x)
        if self.mx:
            windows = "MX " + "; ".join(h.describe() for h in self.mx)
        many = f" x {self.domains} domains" if self.domains > 1 else ""
        text = f"{self.domain}{many} (share {self.share:g}): " + (windows or "no outage")
        text += f"; {self.behaviour.describe()}" if self.behaviour is not None else ""
        text += f"; {self.rate_limit.describe()}" if self.rate_limit is not None else ""
        text += f"; {self.max_connections.describe()}" if self.max_connections is not None else ""
        text += f"; each transaction {self.transaction_time.describe()}" if self.transaction_time else ""
        return text + (f"; opening a connection {self.connection_setup.describe()}" if self.connection_setup
                       else "")


def realize_recipients(recipients: tuple[Recipient, ...], seed: int, until_s: float | None = None
                       ) -> tuple[list[Recipient], np.ndarray]:
    """Concrete domains for one run: each entry expanded to its ``domains`` copies with their random
    outages drawn, and their outage processes and weekly windows drawn up to ``until_s`` (required when an
    entry has them: ``Scenario.outage_until_s``). Returns the domains and, per entry, the index of its
    first domain.

    Random outages are drawn from the ``OUTAGES`` stream, entry by entry. An entry's process draws from its
    own child of that stream, keyed by the entry's index: neither shifts the other's draws, and a longer
    ``until_s`` only adds later outages (a run with a longer expiry sees the same earlier ones). The MX
    hosts of an entry (``mx``) draw each from their own children, keyed by the entry's and the host's index,
    so they shift no other entry's draws either; each of the entry's domains gets its own draws per host."""
    rng = generator(seed, Purpose.OUTAGES)
    concrete: list[Recipient] = []
    first = np.zeros(len(recipients), dtype=np.int64)
    budget = [float(MAX_WINDOWS)]
    for j, entry in enumerate(recipients):
        first[j] = len(concrete)
        drawn_hosts = any(h.windows.random_outage is not None for h in entry.mx)
        if entry.domains == 1 and entry.random_outage is None and not entry.recurring and not drawn_hosts:
            concrete.append(entry)
            continue
        width = len(str(entry.domains))
        names = [entry.domain if entry.domains == 1 else f"{entry.domain}#{k:0{width}d}" for k in range(entry.domains)]
        if entry.mx:
            hosts = [_domain_windows(h.windows, entry.domains, _child(seed, 2, j, h_i), seed, (3, j, h_i), until_s,
                                     budget) for h_i, h in enumerate(entry.mx)]
            for k, name in enumerate(names):
                mx = tuple(replace(h, windows=Recipient(h.host, outages=drawn[k],
                                                        connect_timeout_s=entry.connect_timeout_s))
                           for h, drawn in zip(entry.mx, hosts))
                concrete.append(replace(entry, domain=name, domains=1, mx=mx))
            continue
        for name, outages in zip(names, _domain_windows(entry, entry.domains, rng, seed, (1, j), until_s, budget)):
            concrete.append(Recipient(name, entry.share, outages, entry.connect_timeout_s,
                                      behaviour=entry.behaviour, rate_limit=entry.rate_limit,
                                      transaction_time=entry.transaction_time,
                                      max_connections=entry.max_connections,
                                      connection_setup=entry.connection_setup))
    return concrete, first


def _child(seed: int, *key: int) -> np.random.Generator:
    """A child stream of the ``OUTAGES`` stream (spawn key ``(OUTAGES, *key)``)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(int(Purpose.OUTAGES), *key)))


def _domain_windows(entry: Recipient, count: int, rng: np.random.Generator, seed: int, key: tuple[int, ...],
                    until_s: float | None, budget: list[float]) -> list[tuple[Outage, ...]]:
    """The outage windows of each of ``count`` domains with ``entry``'s outage sources: its explicit or random
    outages (drawn from ``rng``), then its weekly windows and process (drawn from the child ``key``)."""
    random = entry.random_outage
    starts = ends = np.zeros(0)
    if random is not None:
        starts = random.start.draw(rng, count)
        ends = starts + random.duration.draw(rng, count)
    recurring = None
    if entry.recurring:
        if until_s is None:
            raise ValueError(f"recipient {entry.domain}: outage processes and weekly windows are drawn up to "
                             f"a bound: pass until_s (Scenario.outage_until_s)")
        recurring = _RecurringWindows(entry, count, seed, key, until_s, budget[0])
        budget[0] -= recurring.drawn
    out = []
    for k in range(count):
        outages = entry.outages
        if random is not None and ends[k] > starts[k]:
            outages = (Outage(float(starts[k]), float(ends[k]), random.reply),)
        if recurring is not None:
            outages = recurring.combine(k, outages)
        out.append(outages)
    return out


class _RecurringWindows:
    """One entry's weekly windows (the same for each of its domains) and its process's outages (drawn for
    all its domains at once), combined per domain with its given or random outages.

    Whose reply wins where windows overlap: the explicit ``outages`` (or the ``random_outage``), then the
    ``weekly`` windows in the order listed, then the ``outage_process`` (mtasim.recipients.processes)."""

    def __init__(self, entry: Recipient, count: int, seed: int, key: tuple[int, ...], until_s: float, budget: float):
        self.replies: list[Reply] = []
        self._ids: dict[Reply, int] = {}
        self.weekly = [(*w.windows(until_s), self._id(w.reply)) for w in entry.weekly]
        self.drawn = 0
        self.process: tuple[np.ndarray, np.ndarray, np.ndarray, int] | None = None
        if entry.process is not None:
            starts, ends, counts = entry.process.draw(_child(seed, *key), count, until_s, budget)
            self.process = (starts, ends, np.concatenate(([0], np.cumsum(counts))), self._id(entry.process.reply))
            self.drawn = len(starts)

    def _id(self, reply: Reply) -> int:
        """The index of ``reply`` in ``replies`` (added when new)."""
        if reply not in self._ids:
            self._ids[reply] = len(self.replies)
            self.replies.append(reply)
        return self._ids[reply]

    def combine(self, k: int, given: tuple[Outage, ...]) -> tuple[Outage, ...]:
        """Domain ``k``'s windows: ``given`` (its explicit or random outages) first, then weekly, then drawn."""
        sources = [(np.array([o.start_s for o in given]), np.array([o.end_s for o in given]),
                    np.array([self._id(o.reply) for o in given], dtype=np.int64))]
        sources += [(s, e, np.full(len(s), r)) for s, e, r in self.weekly]
        if self.process is not None:
            starts, ends, offsets, r = self.process
            s, e = starts[offsets[k]:offsets[k + 1]], ends[offsets[k]:offsets[k + 1]]
            sources.append((s, e, np.full(len(s), r)))
        return combine_windows(sources, self.replies)


def _host_keys_on_hosts(node: Node) -> None:
    """A recipient that lists ``mx`` keeps what one server does (its greylisting, its random deferrals) on
    its hosts, where each host answers by its own rules; refuse them on the recipient."""
    for key in HOST_BEHAVIOUR_KEYS:
        if node.has(key):
            raise node.error(f"expected {key} on the MX hosts that answer so (mx[].{key}), not on a recipient "
                             f"that lists mx", key)
    name = node.value.get("behaviour")
    named = RECIPIENT_BEHAVIOURS.get(name) if isinstance(name, str) else None
    if named is not None and set(named.keys) & set(HOST_BEHAVIOUR_KEYS):
        raise node.error(f"expected behaviour: {name} on the MX hosts that answer so (mx[].behaviour), not on a "
                         f"recipient that lists mx", "behaviour")


def recipient_from_node(node: Node, scenario_start: datetime,
                        read_sender: Callable[[Node], Any] | None = None) -> Recipient:
    """One ``recipients:`` entry; ``scenario_start`` (the scenario's ``start``) resolves timestamps and
    weekly windows; ``read_sender`` reads a backup MX's ``backup:`` sender block."""
    node.require_mapping("a recipient such as {domain: partner.example, outages: [...]}")
    if node.has("mx"):
        _host_keys_on_hosts(node)
    node = apply_named_behaviour(node)
    domain = check_domain_name(node.get("domain"))     # it ends up in notices' headers and log lines
    share = node.number("share", 1.0, minimum=0.0, exclusive_minimum=True, maximum=1e12)
    timeout_s = node.duration("connect_timeout", DEFAULT_CONNECT_TIMEOUT_S)
    domains = int(node.number("domains", 1, integer=True, minimum=1, maximum=1_000_000))
    mx_node = node.get("mx", None)
    mx = mx_from_node(mx_node, timeout_s, scenario_start, read_sender, domain) if mx_node is not None else ()
    if mx_node is not None:
        for key in outage_keys():
            if node.has(key):
                raise node.error(f"expected {key} on the MX hosts (mx[].{key}), not on a recipient that lists mx",
                                 key)
    random_outage = random_outage_from_node(node.get("random_outage", None), timeout_s)
    outage_list = node.get("outages", None)
    if outage_list is not None and random_outage is not None:
        raise outage_list.error("expected either outages or random_outage, not both")
    outages = outages_from_node(outage_list, timeout_s, scenario_start)
    process = outage_process_from_node(node.get("outage_process", None), timeout_s)
    weekly = weekly_from_node(node.get("weekly", None), timeout_s, scenario_start)
    behaviour = behaviour_from_node(node, domain)
    rate_limit = rate_limit_from_node(node.get("rate_limit", None))
    transaction_node = node.get("transaction_time", None)
    transaction_time = distribution_from_node(transaction_node, allow_zero=False) if transaction_node else None
    setup_node = node.get("connection_setup", None)
    connection_setup = distribution_from_node(setup_node, allow_zero=False) if setup_node else None
    connections_node = node.get("max_connections", None)
    max_connections = connection_limit_from_node(connections_node)
    if connections_node is not None and transaction_time is None:
        raise connections_node.error("expected a transaction_time on the same recipient too (sessions that take "
                                     "no time never overlap, so a connection limit could not be reached)")
    node.finish()
    return Recipient(domain, share, outages, timeout_s, domains, random_outage,
                     behaviour if behaviour.active else None, rate_limit, process=process, weekly=weekly,
                     transaction_time=transaction_time, mx=mx, max_connections=max_connections,
                     connection_setup=connection_setup)



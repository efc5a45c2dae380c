"""A recipient domain's MX hosts: each with a preference, its own outages and behaviour and, for a backup MX,
the queue it relays from.

``mx:`` on a recipient entry replaces the single server: each host has ``host``, ``preference`` (required),
its own outage sources (``outages``, ``random_outage``, ``outage_process``, ``weekly``, read as on a recipient),
its own behaviour while up (``greylist``, ``tempfail``, or a named ``behaviour`` made of those, read as on a
recipient; each host keeps its own greylist triplets, as separate postgrey or spamd databases do) and
optionally ``backup:``, a sender block describing the backup MX's own queue (it accepts while the primary is
down and relays later). What belongs to the domain stays on the recipient: the fate of its addresses
(``unknown_user``, ``mailbox_full``, answered by every primary host), its rate and connection limits and its
transaction time. Hosts are kept in preference order, equal preferences in the order
listed (Postfix randomises equal-preference hosts, ``smtp_randomize_addresses``; a fixed order keeps runs
reproducible). How one attempt walks the list is :mod:`mtasim.engine.mx`'s business.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..config import Node
from .behaviour import HOST_BEHAVIOUR_KEYS, Behaviour, behaviour_from_node
from .library import RECIPIENT_BEHAVIOURS, apply_named_behaviour
from .outages import Outage, outages_from_node, random_outage_from_node
from .processes import outage_process_from_node, weekly_from_node

if TYPE_CHECKING:                       # pragma: no cover - imports for type checkers only (no cycle at run time)
    from .domain import Recipient

__all__ = ["MXHost", "mx_from_node", "HOST_NAME"]

#: A DNS host name (RFC 1035 §2.3.1 labels, RFC 1123 §2.1 letting a label start with a digit): labels of
#: letters, digits and hyphens, not starting or ending with a hyphen, at most 63 characters, 253 in all.
HOST_NAME = re.compile(r"^(?=.{1,253}\.?$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")

#: Keys of a host that describe its outages (the same as a recipient's).
_OUTAGE_KEYS = ("outages", "random_outage", "outage_process", "weekly")


@dataclass(frozen=True)
class MXHost:
    """One MX host of a domain: its name, preference, outage windows and, for a backup MX, its queue."""

    host: str
    preference: int
    #: The host's outage sources as a recipient entry named after the host (its ``outages``,
    #: ``random_outage``, ``outage_process``, ``weekly``); realize_recipients draws its windows per domain.
    windows: "Recipient"
    #: A backup MX's own queue (a :class:`mtasim.sender.Sender`): it accepts every attempt while up and
    #: relays the message to the primary hosts later. None: a primary host.
    backup: Any = None
    #: What the host says besides 250 while up (its greylisting and random deferrals); None: it accepts.
    behaviour: Behaviour | None = None

    @property
    def outages(self) -> tuple[Outage, ...]:
        return self.windows.outages

    @property
    def is_backup(self) -> bool:
        return self.backup is not None

    def describe(self) -> str:
        text = self.windows.describe().split(": ", 1)[1]
        role = f", backup MX relaying as: {'; '.join(self.backup.describe())}" if self.backup is not None else ""
        rules = f"; {self.behaviour.describe()}" if self.behaviour is not None else ""
        return f"{self.host} (preference {self.preference}{role}): {text}{rules}"


def mx_from_node(node: Node, timeout_s: float, scenario_start: datetime,
                 read_sender: Callable[[Node], Any] | None, domain: str) -> tuple[MXHost, ...]:
    """A recipient's ``mx:`` list, in preference order (equal preferences as listed). ``read_sender`` reads a
    ``backup:`` sender block (mtasim.scenario.sender_from_node); ``domain``: the recipient domain, which
    reply texts may name (postgrey's help URL)."""
    from .domain import Recipient                   # the host's windows are a recipient entry's (no cycle here)

    items = node.elements("a list of MX hosts such as [{host: mx1.example, preference: 10}]")
    if not items:
        raise node.error("expected at least one MX host such as {host: mx1.example, preference: 10}")
    hosts: list[MXHost] = []
    for item in items:
        item.require_mapping("an MX host such as {host: mx1.example, preference: 10, outages: [...]}")
        item = _with_named_behaviour(item)
        name_node = item.get("host")
        name = name_node.as_text()
        if not HOST_NAME.match(name):
            raise name_node.error(f"expected a host name such as mx1.example.org (letters, digits, hyphens and "
                                  f"dots; labels of at most 63 characters), got {name!r}")
        if any(h.host == name for h in hosts):
            raise name_node.error(f"host {name} is listed twice")
        random_outage = random_outage_from_node(item.get("random_outage", None), timeout_s)
        outage_list = item.get("outages", None)
        if outage_list is not None and random_outage is not None:
            raise outage_list.error("expected either outages or random_outage, not both")
        windows = Recipient(name, outages=outages_from_node(outage_list, timeout_s, scenario_start),
                            connect_timeout_s=timeout_s, random_outage=random_outage,
                            process=outage_process_from_node(item.get("outage_process", None), timeout_s),
                            weekly=weekly_from_node(item.get("weekly", None), timeout_s, scenario_start))
        backup_node = item.get("backup", None)
        backup = None
        if backup_node is not None:
            if read_sender is None:
                raise backup_node.error("a backup MX's sender block needs a scenario to read it")
            backup = read_sender(backup_node)
        preference = int(item.number("preference", integer=True, minimum=0, maximum=65535))  # RFC 1035: 16 bits
        behaviour = _host_behaviour(item, domain)
        item.finish()
        hosts.append(MXHost(name, preference, windows, backup, behaviour))
    ordered = tuple(sorted(hosts, key=lambda h: h.preference))          # stable: equal preferences as listed
    if all(h.is_backup for h in ordered):
        raise node.error("expected at least one primary host (one without backup:): a backup MX relays to one")
    for item, host in zip(items, hosts):
        if host.is_backup and not any(not h.is_backup and h.preference < host.preference for h in ordered):
            raise item.error(f"expected a primary host with a preference below {host.preference}: a backup MX "
                             f"relays only to hosts more preferred than itself (RFC 5321 §5.1)", "backup")
    return ordered


def _with_named_behaviour(item: Node) -> Node:
    """The host entry with its named ``behaviour`` merged in, if that behaviour is one a host can have."""
    name_node = item.get("behaviour", None)
    named = RECIPIENT_BEHAVIOURS.get(name_node.value) if name_node is not None and \
        isinstance(name_node.value, str) else None
    if named is not None and not set(named.keys) <= set(HOST_BEHAVIOUR_KEYS):
        domain_keys = ", ".join(sorted(set(named.keys) - set(HOST_BEHAVIOUR_KEYS)))
        raise name_node.error(f"expected a behaviour of one host ({', '.join(_HOST_NAMES)}); {name_node.value} is "
                              f"a {domain_keys}, which belongs to the domain: set it on the recipient")
    return apply_named_behaviour(item)


#: The named behaviours a single MX host can have (greylisting, random deferrals).
_HOST_NAMES = tuple(k for k, v in RECIPIENT_BEHAVIOURS.items() if set(v.keys) <= set(HOST_BEHAVIOUR_KEYS))


def _host_behaviour(item: Node, domain: str) -> Behaviour | None:
    """A host's greylisting and random deferrals (the fates of addresses are the domain's)."""
    grey = item.get("greylist", None)
    if grey is not None and isinstance(grey.value, dict) and "addresses" in grey.value:
        raise grey.child("addresses").error("expected addresses on a recipient without mx: triplets shared by "
                                            "the messages are modelled for a domain's single server")
    picked = Node({k: item.value[k] for k in HOST_BEHAVIOUR_KEYS if k in item.value}, item.source, item.path)
    behaviour = behaviour_from_node(picked, domain)
    for key in HOST_BEHAVIOUR_KEYS:
        if item.has(key):
            item.child(key)                 # read: the entry's own reading went through ``picked``
    return behaviour if behaviour.active else None


def outage_keys() -> tuple[str, ...]:
    """The keys of a recipient that move onto its hosts when it lists ``mx``."""
    return _OUTAGE_KEYS

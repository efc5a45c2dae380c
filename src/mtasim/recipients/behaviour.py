"""How a recipient answers an attempt while it is up: per-message fates, greylisting, random deferrals.

A recipient outside its outage windows does not always say 250. Three things can stand in the way, and
a real server checks them in this order during one SMTP transaction (the order is a modelling choice,
documented in README "Recipient behaviour"):

1. **The recipient address.** A share of the messages go to an unknown user (``550 5.1.1``: the message
   bounces at its first attempt that reaches the server) and a share to a full mailbox (``452 4.2.2`` on
   every attempt: such a message expires). The fate belongs to the message, not to the attempt.
2. **Greylisting** (postgrey, OpenBSD spamd): the first attempt of an unknown triplet (client, sender,
   recipient) is deferred; a retry at least ``delay`` after that first attempt and at most ``window``
   after it passes and the triplet is remembered; a retry after the window starts over. A retry that
   comes too early is deferred again and does not move the first-seen time (postgrey's ``--delay`` and
   ``--retry-window``; spamd's ``passtime`` and ``greyexp``). By default every message has its own
   triplet (each goes to its own address); with ``addresses: N`` the messages spread uniformly over N
   addresses and share their triplets, so a message to an address already passed goes straight through
   (until ``memory`` after the triplet was last seen). Shared triplets couple messages: the DES runs
   them, on the per-message steps of the reference engine, with the same rule.
3. **A random deferral** with probability ``p`` per attempt, its reply drawn from a weighted mix (a
   flaky server, an overloaded backend).

Every draw is a pure function of (seed, message id, attempt number) (mtasim.rng), so every engine and
worker count gives the same answers. The rules live in :class:`BehaviourTable`, vectorised once; the
reference engine runs the same code on arrays of length one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..config import Node
from ..durations import format_duration
from .replies import AttemptResult, Reply, parse_reply

__all__ = ["Greylist", "Tempfail", "Behaviour", "behaviour_from_node", "UNKNOWN_USER_REPLY",
           "MAILBOX_FULL_REPLY", "BEHAVIOUR_KEYS", "HOST_BEHAVIOUR_KEYS"]

#: Gmail's wording of the two per-address fates (support.google.com/a/answer/3726730).
UNKNOWN_USER_REPLY = "550 5.1.1 The email account that you tried to reach does not exist."
MAILBOX_FULL_REPLY = "452 4.2.2 The email account that you tried to reach is over quota."

#: The recipient keys this module reads.
BEHAVIOUR_KEYS = ("tempfail", "mailbox_full", "unknown_user", "greylist")
#: Those that belong to one server, so to each MX host of a domain that lists them (the others, the fates of
#: the domain's addresses, belong to the domain).
HOST_BEHAVIOUR_KEYS = ("greylist", "tempfail")


@dataclass(frozen=True)
class Greylist:
    """A greylisting policy: first attempt deferred; a retry in ``[delay, window]`` after it passes."""

    delay_s: float
    window_s: float
    reply: Reply
    #: How long a passed triplet is remembered after it was last seen (matters to shared triplets only).
    memory_s: float = 35 * 86400.0
    #: How many recipient addresses the domain's messages spread over, sharing their triplets (None: every
    #: message its own). Shared triplets couple messages: DES only.
    addresses: int | None = None

    def describe(self) -> str:
        spread = f", {self.addresses} addresses" if self.addresses else ""
        return (f"greylisting (retry after {format_duration(self.delay_s)}, within "
                f"{format_duration(self.window_s)}{spread}: {self.reply.text})")


@dataclass(frozen=True)
class Tempfail:
    """A random deferral of an attempt with probability ``p``, its reply drawn from a weighted mix."""

    p: float
    replies: tuple[Reply, ...]
    weights: tuple[float, ...]

    def describe(self) -> str:
        total = sum(self.weights)
        mix = ", ".join(f"{w / total:.0%} {r.text}" for r, w in zip(self.replies, self.weights))
        return f"defers {self.p:.1%} of attempts ({mix})"


@dataclass(frozen=True)
class Behaviour:
    """What a recipient does while up, besides accepting."""

    unknown_user: float = 0.0
    mailbox_full: float = 0.0
    greylist: Greylist | None = None
    tempfail: Tempfail | None = None
    unknown_user_reply: Reply = parse_reply(UNKNOWN_USER_REPLY)
    mailbox_full_reply: Reply = parse_reply(MAILBOX_FULL_REPLY)

    @property
    def active(self) -> bool:
        return bool(self.unknown_user or self.mailbox_full or self.greylist or self.tempfail)

    def replies(self) -> list[Reply]:
        """Every reply this behaviour can give."""
        out = [self.unknown_user_reply, self.mailbox_full_reply]
        if self.greylist is not None:
            out.append(self.greylist.reply)
        if self.tempfail is not None:
            out.extend(self.tempfail.replies)
        return out

    def describe(self) -> str:
        parts = []
        if self.unknown_user:
            parts.append(f"{self.unknown_user:.1%} unknown users ({self.unknown_user_reply.text})")
        if self.mailbox_full:
            parts.append(f"{self.mailbox_full:.1%} full mailboxes ({self.mailbox_full_reply.text})")
        if self.greylist is not None:
            parts.append(self.greylist.describe())
        if self.tempfail is not None:
            parts.append(self.tempfail.describe())
        return "; ".join(parts)


# -- scenario keys ----------------------------------------------------------------------------------
def _probability(node: Node, key: str) -> float:
    value = node.number(key, 0.0, minimum=0.0, maximum=1.0)
    if math.isnan(value):
        raise node.error("expected a probability from 0 to 1, got nan", key)
    return value


def _reply(node: Node, *, deferral_only: bool = False) -> Reply:
    try:
        reply = parse_reply(node.as_text())
    except ValueError as exc:
        raise node.error(str(exc)) from None
    if deferral_only and reply.result != AttemptResult.DEFERRED:
        raise node.error(f"expected a 4xx reply (a deferral), got {reply.text!r}")
    return reply


def _tempfail(node: Node | None) -> Tempfail | None:
    if node is None:
        return None
    node.require_mapping('a deferral probability and its replies such as '
                         '{p: 0.2, replies: {"421 4.7.0 Try again later": 3, "451 4.3.0 Local error": 1}}')
    p = _probability(node, "p")
    mix = node.get("replies", None)
    replies: list[Reply] = []
    weights: list[float] = []
    if mix is None:
        replies, weights = [parse_reply("451 4.3.0 Temporary local problem - please try later")], [1.0]
    elif isinstance(mix.value, (str, list)):
        items = [mix] if isinstance(mix.value, str) else mix.elements("a list of SMTP replies")
        replies, weights = [_reply(item) for item in items], [1.0] * len(items)
    else:
        mix.require_mapping('replies with weights such as {"421 4.7.0 Try again later": 3}')
        for text, weight in mix.items():
            try:
                replies.append(parse_reply(text))
            except ValueError as exc:
                raise weight.error(str(exc)) from None
            weights.append(weight.as_number(minimum=0.0, exclusive_minimum=True))
            if math.isinf(weights[-1]):
                raise weight.error("expected a finite weight")
    if not replies:
        raise node.error("expected at least one reply", "replies")
    node.finish()
    return Tempfail(p, tuple(replies), tuple(weights)) if p > 0 else None


def greylist_from_node(node: Node, domain: str) -> Greylist:
    """``greylist: {delay: 5m, window: 2d, reply: "...", memory: 35d, addresses: 500}``."""
    node.require_mapping("a greylisting policy such as {delay: 5m, window: 2d} (or behaviour: postgrey)")
    delay = node.duration("delay", allow_zero=True)
    window = node.duration("window")
    if window <= delay:
        raise node.error(f"expected a retry window longer than the delay ({format_duration(delay)})", "window")
    reply_node = node.get("reply", None)
    reply = _reply(reply_node, deferral_only=True) if reply_node is not None else \
        parse_reply("451 4.7.1 Greylisted, please try again later")
    if "{domain}" in reply.text:
        reply = Reply(reply.result, reply.status, reply.text.replace("{domain}", domain), reply.duration_s)
    memory = node.duration("memory", 35 * 86400.0)
    addresses_node = node.get("addresses", None)
    addresses = int(addresses_node.as_number(integer=True, minimum=1, maximum=10**9)) if addresses_node else None
    node.finish()
    return Greylist(delay, window, reply, memory, addresses)


def behaviour_from_node(node: Node, domain: str) -> Behaviour:
    """The behaviour keys of one recipient entry (``node``: the entry; other keys are not read here)."""
    unknown = _probability(node, "unknown_user")
    full = _probability(node, "mailbox_full")
    if unknown + full > 1:
        raise node.error(f"expected unknown_user + mailbox_full of at most 1, got {unknown + full:g}",
                         "mailbox_full")
    grey_node = node.get("greylist", None)
    greylist = greylist_from_node(grey_node, domain) if grey_node is not None else None
    return Behaviour(unknown, full, greylist, _tempfail(node.get("tempfail", None)))

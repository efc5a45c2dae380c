"""Named recipient behaviours (``behaviour: postgrey``), each with its sources and a confidence note.

A named behaviour is a set of recipient keys (``greylist``, ``tempfail``, ``rate_limit``) written as a
scenario would write them; a recipient's own keys override it, one level deep
(``behaviour: postgrey`` with ``greylist: {delay: 10m}`` keeps postgrey's window and reply).
The facts and their sources are summarised in docs/provider-and-recipient-facts.md (B.3, B.4).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..config import Node, closest

__all__ = ["NamedBehaviour", "RECIPIENT_BEHAVIOURS", "apply_named_behaviour"]


@dataclass(frozen=True)
class NamedBehaviour:
    summary: str
    keys: dict[str, Any]
    sources: str
    confidence: str
    notes: tuple[str, ...] = field(default=())


RECIPIENT_BEHAVIOURS: dict[str, NamedBehaviour] = {
    "postgrey": NamedBehaviour(
        "postgrey greylisting policy server (Postfix): first attempt of a triplet deferred, a retry after 5 min "
        "and within 2 days passes",
        {"greylist": {"delay": "300s", "window": "2d", "memory": "35d",
                      "reply": "450 4.2.0 Recipient address rejected: Greylisted, see "
                               "http://postgrey.schweikert.ch/help/{domain}.html"}},
        "postgrey(8) --delay=300, --retry-window=2 (days), --max-age=35 (days); github.com/schweikert/postgrey",
        "delay, window and memory: documented defaults; reply text: postgrey's default greylist-text as "
        "Postfix sends it (DEFER_IF_PERMIT; the 4.2.0 enhanced code is what public logs show, not a documented "
        "default)"),
    "spamd": NamedBehaviour(
        "OpenBSD spamd greylisting: first attempt deferred, a retry after 25 min and within 4 h passes",
        {"greylist": {"delay": "25m", "window": "4h", "memory": "36d",
                      "reply": "451 Temporary failure, please try again later."}},
        "spamd(8) passtime 25 min, greyexp 4 h, whiteexp 36 days (libexec/spamd/grey.h); the reply is "
        "spamd.c's generic reply to greylisted connections",
        "documented defaults and the source's reply text"),
    "flaky": NamedBehaviour(
        "a flaky server: defers one attempt in five with a local-error reply",
        {"tempfail": {"p": 0.2, "replies": {"451 4.3.0 Temporary local problem - please try later": 1}}},
        "RFC 5321 §4.2.3 (451: local error in processing); the probability is an example, not a measurement",
        "estimate: set p to what your logs show"),
    "gmail": NamedBehaviour(
        "Gmail throttling a burst: a token bucket answering 450 4.2.1 receiving mail too quickly",
        {"rate_limit": {"rate": "3600/h", "burst": 100,
                        "reply": "450 4.2.1 The user you are trying to contact is receiving mail at a rate that "
                                 "prevents additional messages from being delivered. Please resend your message "
                                 "at a later time."}},
        "support.google.com/a/answer/3726730 (SMTP error reference: 450 4.2.1, 421 4.7.28)",
        "reply text: Google's; rate and burst: estimates (Google does not publish them), override them"),
    "yahoo": NamedBehaviour(
        "Yahoo/AOL deferring unexpected volume: 421 4.7.0 [TSS04], advising a retry after 4 hours",
        {"rate_limit": {"rate": "600/h", "burst": 50,
                        "reply": "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected "
                                 "volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/"
                                 "error-codes", "retry_after": "4h"}},
        "Yahoo help SLN3434 (TSS04, retry after 4 h); senders.yahooinc.com error codes",
        "reply text and the 4 h advice: Yahoo's; rate and burst: estimates. No modelled MTA reads the advice "
        "from the reply; a custom sender with honour_retry_after: true waits at least 4 h after a TSS04"),
    "m365-inbound": NamedBehaviour(
        "Microsoft 365 (EOP) inbound throttling a new or changed sending IP: 451 4.7.500 on a share of attempts",
        {"tempfail": {"p": 0.5, "replies": {
            "451 4.7.500 Server busy. Please try again later from [192.0.2.1]. (AS761) "
            "[BN1NAM02FT003.eop-nam02.prod.protection.outlook.com]": 1}}},
        "learn.microsoft.com: fix error code 451 4.7.500-699 (ASxxx) in Exchange Online",
        "reply text: Microsoft's; the share of attempts deferred is an estimate (it fades over days of sending "
        "history, which is not modelled)"),
}


def apply_named_behaviour(node: Node) -> Node:
    """The recipient entry with its named ``behaviour`` (if any) merged under its own keys."""
    name_node = node.get("behaviour", None)
    if name_node is None:
        return node
    name = name_node.value if isinstance(name_node.value, str) else None
    named = RECIPIENT_BEHAVIOURS.get(name) if name else None
    if named is None:
        guess = closest(str(name_node.value), RECIPIENT_BEHAVIOURS)
        tip = f"; did you mean '{guess}'?" if guess else ""
        raise name_node.error(f"expected one of {', '.join(RECIPIENT_BEHAVIOURS)} (mtasim recipients lists them), "
                              f"got {name_node.value!r}{tip}")
    merged: dict[str, Any] = {}
    for key, value in named.keys.items():
        own = node.value.get(key)
        merged[key] = {**value, **own} if isinstance(value, dict) and isinstance(own, dict) else value
    merged.update({k: v for k, v in node.value.items() if k not in merged or not isinstance(v, dict)})
    out = Node(merged, node.source, node.path)
    out.child("behaviour")
    return out

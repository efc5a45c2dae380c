"""Several MX hosts per domain: how one attempt walks them, and the relay leg of a backup MX.

**One attempt** (:func:`resolve`, vectorised over attempts with a loop over the hosts, at most a handful):
the hosts are tried in preference order (equal preferences as listed), at most the sender's ``mx_limit``
of them (Postfix ``smtp_mx_address_limit`` 5; others every host). A refused connection moves on at once, a
timed-out one after the domain's ``connect_timeout``; the first host that answers (250, 4xx or 5xx) ends
the attempt with its answer, except under Postfix: it keeps a recipient that a non-final server deferred
for the next host (postfix/src/smtp/smtp_trouble.c ``smtp_rcpt_fail()``), until ``smtp_mx_session_limit``
(2) servers have answered. An up host answers by its own rules (``mx[].greylist``, ``mx[].tempfail``, and on
a primary the fates of the domain's addresses: :func:`host_rules`): where it defers, that deferral is the
attempt's answer, or under Postfix, while fewer than ``smtp_mx_session_limit`` servers have answered, the
message goes on to the next host, which answers by its own rules in turn. A host's rules are drawn per
attempt, so the window an attempt falls in names the up host and carries what the hosts after it answer
(``Reply.via``: :class:`~mtasim.recipients.replies.HostAnswer`); the rules themselves are applied by the
engines' one :meth:`~mtasim.engine.behaviour_table.BehaviourTable.respond`. The domain's rate and connection
limits stand before every primary host's 250 (a provider's limits span its MX hosts). When every host tried
fails, the attempt gets the last one's failure, as real MTAs report it. The attempt lasts the timeouts spent
before the host that gave its reply (plus that reply's own time). Every host's state is read at the
attempt's start (README, Semantics 2).

**The engines** never walk the list themselves: :func:`resolve_domains` applies :func:`resolve` once per
domain at every moment a host's state changes, giving the domain's answer windows (``Recipient.answers``:
a failure, a delivery through another host after a timeout, or a backup MX's acceptance, each a reply whose
``duration_s`` holds the time spent), which the fast engine, the DES and the reference engine look up like
any domain's outages. So all three see the same answers from the same code.

**A backup MX** accepts (the sender's message is delivered, at that time) and queues the message; its own
sender (``backup:``) then relays it to the primary hosts more preferred than itself: :func:`mx_records` runs
that leg as a second simulation, with the acceptance times as arrivals, on the same engine (or the DES,
when the backup's host state needs it), against the primaries' windows only (their greylisting, rate limit
and transaction time are the sender's business, not the relay's: a primary whitelists its own backup MX,
as postgrey's documentation advises). The engines record which host accepted each message (its reply's
``via``); :func:`mx_records` reads it off.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..recipients import DELIVERED_REPLY, AttemptResult, MXHost, Outage, Recipient, Reply
from ..recipients.behaviour import Behaviour
from ..recipients.replies import HostAnswer
from ..results import Interner, Outcome, Recorder
from ..sender import Sender
from .runners import engine_runner

__all__ = ["resolve", "resolve_domains", "mx_records", "MXRecords", "any_mx", "backup_reply", "host_rules",
           "has_host_rules"]

#: Spawn key of the relay legs' seeds (one child per backup queue); no mtasim.rng.Purpose uses it.
_RELAY = 64


def any_mx(domains: list[Recipient]) -> bool:
    return any(d.mx for d in domains)


def backup_reply(host: MXHost, spent_s: float = 0.0) -> Reply:
    """What a backup MX's acceptance looks like to the sender: a 250 (the message is delivered), its text
    naming the host, after ``spent_s`` on hosts tried before it."""
    return Reply(AttemptResult.DELIVERED, "2.0.0", f"250 2.0.0 OK (accepted by backup MX {host.host})", spent_s)


def host_rules(domain: Recipient, host: MXHost) -> Behaviour | None:
    """What ``host`` answers by while up: its own greylisting and random deferrals and, on a primary host, the
    fates of the domain's addresses (a backup MX accepts mail for any address of the domain)."""
    own, fate = host.behaviour, None if host.is_backup else domain.behaviour
    if fate is None or not (fate.unknown_user or fate.mailbox_full):
        return own
    return Behaviour(fate.unknown_user, fate.mailbox_full, own.greylist if own else None,
                     own.tempfail if own else None, fate.unknown_user_reply, fate.mailbox_full_reply)


def _lookup(outages: tuple[Outage, ...], t: np.ndarray, ids: Interner) -> np.ndarray:
    """The reply id each ``t`` gets from one host (0 outside its windows; windows are half-open)."""
    if not outages:
        return np.zeros(len(t), dtype=np.int64)
    starts = np.array([o.start_s for o in outages])
    ends = np.array([o.end_s for o in outages])
    reply = np.array([ids(o.reply) for o in outages], dtype=np.int64)
    j = np.searchsorted(starts, t, side="right") - 1
    k = np.maximum(j, 0)
    return np.where((j >= 0) & (t < ends[k]), reply[k], 0)


def resolve(hosts: tuple[MXHost, ...], mx_limit: int | None, t: np.ndarray, session_limit: int | None = 1,
            rules: tuple[Behaviour | None, ...] | None = None) -> tuple[list[Reply], np.ndarray]:
    """What attempts starting at ``t`` get from ``hosts`` (module docstring): ``(replies, reply)``, the index
    of each attempt's reply in ``replies`` (its ``duration_s`` includes the timeouts spent before; a reply
    from an up host names it, ``Reply.via``). Up to ``session_limit`` hosts may answer (Postfix's
    smtp_mx_session_limit; None: any number): a host that answers with a deferral passes the message on to
    the next while fewer have answered; with 1 the first answer ends it. ``rules``: per host, what it says
    besides 250 while up; the walk stops at such a host, and its answer carries what the hosts after it
    would answer when those rules defer (``HostAnswer.fallback``)."""
    tried = hosts[:mx_limit] if mx_limit else hosts
    out = Interner([DELIVERED_REPLY])      # 0: the plain 250 of the most preferred host
    reply = _walk(tried, rules or (None,) * len(tried), t, np.inf if session_limit is None else session_limit,
                  0, 0, np.zeros(len(t)), out)
    return out.values, reply


def _walk(tried: tuple[MXHost, ...], rules: tuple[Behaviour | None, ...], t: np.ndarray, limit: float,
          first: int, sessions: int, spent_s: np.ndarray, out: Interner) -> np.ndarray:
    """The walk from host ``first`` on, ``sessions`` having answered and ``spent_s`` spent before: the index
    in ``out`` of each attempt's answer. Vectorised over attempts, with a loop over the hosts (a handful)."""
    n = len(t)
    if not n:
        return np.zeros(0, dtype=np.int64)
    base = Interner([DELIVERED_REPLY])
    final = np.zeros(n, dtype=np.int64)
    rank = np.full(n, first, dtype=np.int64)
    before = np.zeros(n)                       # time spent on the hosts tried before the one giving the reply
    spent = spent_s.copy()
    used = np.full(n, sessions, dtype=np.int64)
    walking = np.arange(n)                     # attempts whose hosts so far all failed (or deferred, Postfix)
    for r in range(first, len(tried)):
        if not len(walking):
            break
        got = _lookup(tried[r].outages, t[walking], base)
        connection = np.array([x.result.is_connection_failure for x in base.values])[got]
        duration = np.array([x.duration_s for x in base.values])[got]
        deferred = np.array([x.result == AttemptResult.DEFERRED for x in base.values])[got]
        final[walking], rank[walking], before[walking] = got, r, spent[walking]
        spent[walking] += np.where(connection, duration, 0.0)
        used[walking] += ~connection
        moves_on = connection | (deferred & (used[walking] < limit))     # Postfix: deferred, try the next
        walking = walking[moves_on]
    # an up host with rules: what the hosts after it answer should its rules defer (-1: nothing, the deferral)
    fallback = np.full(n, -1, dtype=np.int64)
    ruled = (final == 0) & np.array([rules[r] is not None for r in range(len(tried))])[rank]
    if ruled.any():
        groups = np.unique(np.column_stack((rank[ruled], used[ruled])), axis=0)
        for r, u in groups.tolist():
            if u >= limit or r + 1 >= len(tried):
                continue
            mine = np.flatnonzero(ruled & (rank == r) & (used == u))
            fallback[mine] = _walk(tried, rules, t[mine], limit, r + 1, u, before[mine], out)
    combos, which = np.unique(np.column_stack((final, rank, before, fallback)), axis=0, return_inverse=True)
    ids = np.array([out(_derived(base.values[int(f)], tried, int(r), float(b), rules[int(r)],
                                 out.values[int(k)] if k >= 0 else None))
                    for f, r, b, k in combos], dtype=np.int64)
    return ids[which.reshape(-1)]


def _derived(reply: Reply, tried: tuple[MXHost, ...], rank: int, before_s: float, rules: Behaviour | None,
             fallback: Reply | None) -> Reply:
    """The reply an attempt reports when host ``rank`` gave ``reply`` after ``before_s`` on earlier hosts."""
    host = tried[rank]
    if reply.result == AttemptResult.DELIVERED:
        via = HostAnswer(rank, host.is_backup, rules, fallback)
        if host.is_backup:
            return replace(backup_reply(host, before_s), via=via)
        if not rank and not before_s and rules is None:
            return DELIVERED_REPLY
        return replace(DELIVERED_REPLY, duration_s=before_s, via=via)
    return reply if not before_s else replace(reply, duration_s=reply.duration_s + before_s)


def resolve_domains(domains: list[Recipient], sender: Sender) -> list[Recipient]:
    """Each domain with MX hosts with its answer windows for ``sender`` (``Recipient.answers``) and its
    failures among them as ``outages`` (what outages.csv, the queue view and host state read); others as
    they are. The answer is constant between the moments any host's state changes, so :func:`resolve` at
    each such moment gives every window; touching windows with the same reply merge."""
    return [_resolved(d, sender.mx_limit, sender.mx_session_limit) if d.mx else d for d in domains]


def _resolved(domain: Recipient, mx_limit: int | None, session_limit: int | None) -> Recipient:
    tried = domain.mx[:mx_limit] if mx_limit else domain.mx
    rules = tuple(host_rules(domain, h) for h in tried)
    bounds = [x for h in tried for o in h.outages for x in (o.start_s, o.end_s)]
    if any(r is not None for r in rules):
        bounds.append(0.0)                 # the windows cover all time: every up host's answer names its rules
    points = np.unique(np.array(bounds))
    if not len(points):
        return replace(domain, outages=(), answers=())
    replies, reply = resolve(domain.mx, mx_limit, points, session_limit, rules)
    ends = np.append(points[1:], np.inf)
    keep = reply != 0
    first = keep & np.append(True, (reply[1:] != reply[:-1]) | ~keep[:-1])      # a window starts here
    windows = []
    for i in np.flatnonzero(first).tolist():
        j = i
        while j + 1 < len(points) and keep[j + 1] and reply[j + 1] == reply[i]:
            j += 1
        windows.append(Outage(float(points[i]), float(ends[j]), replies[int(reply[i])]))
    failures = tuple(o for o in windows if o.reply.result != AttemptResult.DELIVERED)
    return replace(domain, outages=failures, answers=tuple(windows))


def has_host_rules(domain: Recipient) -> bool:
    """Whether some MX host of a resolved domain answers by its own rules while up (its answers say so)."""
    return any(o.reply.via is not None and o.reply.via.rules is not None for o in domain.answers)


# -- after the run: which host accepted, and the backup MX's relay leg ---------------------------------------
@dataclass
class MXRecords:
    """Per message: the host that accepted it (``via``, an index into ``hosts``; -1: none, or a domain with
    one server) and, for mail a backup MX accepted, its relay leg's outcome (``relay_outcome``, an
    :class:`~mtasim.results.Outcome`; -1: no relay) and delivery time to a primary (``relayed_s``)."""

    via: np.ndarray
    hosts: list[str]
    relay_outcome: np.ndarray
    relayed_s: np.ndarray


def mx_records(sender: Sender, domains: list[Recipient], horizon: float | None, seed: int, engine: str,
               recorder: Recorder) -> MXRecords:
    """The MX columns of a finished run (``recorder.via`` tracked): each delivered message's host, as the
    engine recorded it from the reply that delivered it, and the relay legs of the backups' queues."""
    rank = recorder.via
    assert rank is not None, "track the accepting hosts (Recorder.track_via) before the run"
    n = len(recorder.arrival_s)
    via = np.full(n, -1, dtype=np.int32)
    names: dict[str, int] = {}
    delivered = np.flatnonzero(recorder.outcome == Outcome.DELIVERED)
    by_domain = recorder.recipient[delivered]
    accepted: dict[tuple[str, int], list[tuple[int, np.ndarray]]] = {}      # backup queue -> (domain, ids)
    for d in np.unique(by_domain).tolist():
        domain = domains[d]
        if not domain.mx:
            continue
        ids = delivered[by_domain == d]
        for r in np.unique(rank[ids]).tolist():
            host = domain.mx[r]
            mine = ids[rank[ids] == r]
            via[mine] = names.setdefault(host.host, len(names))
            if host.is_backup:
                accepted.setdefault((host.host, id(host.backup)), []).append((d, mine))
    outcome = np.full(n, -1, dtype=np.int8)
    relayed = np.full(n, np.nan)
    for g, ((host_name, _), parts) in enumerate(accepted.items()):
        _relay(parts, host_name, domains, horizon, _relay_seed(seed, g), engine, recorder, outcome, relayed)
    return MXRecords(via, list(names), outcome, relayed)


def _relay_seed(seed: int, group: int) -> int:
    state = np.random.SeedSequence(seed, spawn_key=(_RELAY, group)).generate_state(2, np.uint64)
    return int(state[0] >> np.uint64(1))


def _relay(parts: list[tuple[int, np.ndarray]], host_name: str, domains: list[Recipient], horizon: float | None,
           seed: int, engine: str, recorder: Recorder, outcome: np.ndarray, relayed: np.ndarray) -> None:
    """One backup MX's queue: every message it accepted, arriving when it accepted it, relayed by its own
    sender to the primary hosts of the message's domain that are more preferred than the backup."""

    backup = next(h for h in domains[parts[0][0]].mx if h.host == host_name)
    sender: Sender = backup.backup
    targets = [Recipient(domains[d].domain, connect_timeout_s=domains[d].connect_timeout_s,
                         mx=tuple(replace(h, behaviour=None) for h in domains[d].mx      # outages only
                                  if not h.is_backup and h.preference < backup.preference))
               for d, _ in parts]
    targets = resolve_domains(targets, sender)
    ids = np.concatenate([mine for _, mine in parts])
    target = np.concatenate([np.full(len(mine), k, dtype=np.int64) for k, (_, mine) in enumerate(parts)])
    order = np.lexsort((ids, recorder.final_s[ids]))           # arrivals in time order (the engines' contract)
    ids, target = ids[order], target[order]
    arrivals = recorder.final_s[ids].astype(np.float64)
    policy = sender.host_policy
    if engine == "fast" and policy is not None and policy.matters(targets):
        engine = "des"                              # the backup's own host state couples its messages
    leg = Recorder(arrivals, target, [t.domain for t in targets], 0)
    engine_runner(engine)(sender, targets, horizon, seed, arrivals, target, leg)
    outcome[ids] = leg.outcome
    done = leg.outcome == Outcome.DELIVERED
    relayed[ids[done]] = leg.final_s[done]

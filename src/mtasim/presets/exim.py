"""Exim 4: retry rules (F/G/H), the queue runner and the ultimate address timeout. Facts:
docs/mta-retry-facts.md §2, §9, §10, §12."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np

from ..config import Node
from ..connection_reuse import ConnectionReuse
from ..durations import format_duration
from ..hosts import EximHostRetry
from ..schedules import HistorySchedule, register_schedule
from ..sender import AGE_TOLERANCE_S, Sender
from . import DAY, MINUTE, QUEUE_RUN_PHASE, Param, Preset, PresetValueError

#: The default retry rule of upstream ``src/src/configure.default`` and of Debian's exim4-config.
DEFAULT_RETRY_RULES = "F,2h,15m; G,16h,1h,1.5; F,4d,6h"
#: ``retry_interval_max``: default 24 h, and it "cannot be set higher" (globals.c, spec option entry).
RETRY_INTERVAL_MAX_S = DAY
#: Exim's clock counts whole seconds: "older than the cutoff" (``now - received > timeout``) means at
#: least this much older.
CLOCK_S = 1.0
#: ``delay_warning`` takes a list of up to 10 times.
MAX_DELAY_WARNINGS = 10
#: The address's error on giving up (retry.c ``retry_update()``) and the bounce's DSN status (deliver.c).
EXIM_TIMEOUT_REPLY = "retry timeout exceeded"
EXIM_BOUNCE_STATUS = "5.0.0"

_RULE_EXAMPLE = '"F,2h,15m; G,16h,1h,1.5; F,4d,6h"'
_UNIT_S = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_EXIM_TIME = re.compile(r"((?:\d+[wdhms])*)(\d+)?")
_EXIM_FIXED = re.compile(r"(\d+)(?:\.(\d*))?")


def rules_with_final_cutoff(rules, expiry_s: float) -> tuple:
    """The retry rules for another expiry window (curves, tuning): Exim's window is the final cutoff
    (the give-up is one clock second past it), so the rules are cut or stretched to end at
    ``expiry_s - 1 s``: parameter sets ending before it stay, the one it falls in (or the last) ends there."""
    if not isinstance(rules, tuple):
        rules = parse_retry_rules(rules)
    if not rules:
        return rules
    cutoff = max(expiry_s - CLOCK_S, CLOCK_S)
    last = next((i for i, r in enumerate(rules) if r.cutoff_s >= cutoff), len(rules) - 1)
    return tuple(rules[:last]) + (replace(rules[last], cutoff_s=cutoff),)


# ------------------------------------------------------------------------------------------------
# Retry rules: Exim's own syntax (readconf.c readconf_retries(), retry_arg(), readconf_readtime(),
# readconf_readfixed())
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RetryRule:
    """One parameter set: ``F,<cutoff>,<interval>`` or ``G|H,<cutoff>,<initial>,<multiplier>``."""

    letter: str
    cutoff_s: float
    interval_s: float
    multiplier: float = 1.0

    def __str__(self) -> str:
        text = f"{self.letter},{format_duration(self.cutoff_s)},{format_duration(self.interval_s)}"
        return text if self.letter == "F" else f"{text},{self.multiplier:g}"


class RetryRuleError(ValueError):
    """A retry rule Exim would refuse at start-up; the message names the rule and the character."""


def parse_exim_time(token: str) -> float | None:
    """Exim's ``readconf_readtime()``: ``<digits><unit>`` groups (w, d, h, m, s), a bare number (seconds)
    only at the end, whole numbers only: ``2h``, ``1h30m``, ``90``. None when malformed."""
    match = _EXIM_TIME.fullmatch(token)
    if not token or match is None:
        return None
    total = sum(int(n) * _UNIT_S[u] for n, u in re.findall(r"(\d+)([wdhms])", match.group(1)))
    return float(total + int(match.group(2) or 0))


def parse_exim_multiplier(token: str) -> float | None:
    """Exim's ``readconf_readfixed()``: a decimal kept to 3 places (stored as x1000; more digits are
    ignored). None when malformed."""
    match = _EXIM_FIXED.fullmatch(token)
    if match is None:
        return None
    milli = int(match.group(1)) * 1000 + int(((match.group(2) or "") + "000")[:3])
    return milli / 1000.0


def _parse_rule(seg: str, n: int) -> RetryRule:
    def fail(pos: int, expected: str) -> RetryRuleError:
        return RetryRuleError(f'rule {n} "{seg}" at character {pos}: {expected}')

    letter = seg[0].upper()          # Exim upper-cases the letter (toupper)
    if letter not in "FGH":
        raise fail(1, f'expected F, G or H, got "{seg[0]}"')
    fields: list[tuple[str, Any]] = [("a cutoff time > 0 such as 2h or 4d", parse_exim_time)]
    if letter == "F":
        fields.append(("an interval > 0 such as 15m", parse_exim_time))
    else:
        fields += [("an initial interval > 0 such as 1h", parse_exim_time),
                   ("a multiplier >= 1", parse_exim_multiplier)]
    values: list[float] = []
    i = 1
    for expected, parse in fields:
        if i >= len(seg):
            raise fail(i + 1, f"expected {expected}")
        if seg[i] != ",":            # retry_arg(): the comma must follow at once
            raise fail(i + 1, f'expected "," then {expected}, got "{seg[i]}"')
        i += 1
        while i < len(seg) and seg[i].isspace():
            i += 1
        start = i
        while i < len(seg) and seg[i] != "," and not seg[i].isspace():
            i += 1
        token = seg[start:i]
        value = parse(token)
        minimum_ok = value is not None and (value >= 1.0 if parse is parse_exim_multiplier else value > 0)
        if not minimum_ok:
            raise fail(start + 1, f'expected {expected}, got "{token}"' if token else f"expected {expected}")
        values.append(value)
    while i < len(seg) and seg[i].isspace():
        i += 1
    if i < len(seg):
        raise fail(i + 1, f'expected ";" or the end of the rules, got "{seg[i:]}"')
    return RetryRule(letter, *values)


def parse_retry_rules(text: Any) -> tuple[RetryRule, ...]:
    """Parse a retry rule as Exim's ``begin retry`` section writes it, e.g. ``F,2h,15m; G,16h,1h,1.5;
    F,4d,6h``, optionally preceded by the pattern and error ``* *`` (the only ones modelled: one rule for
    every destination and error). No parameter sets at all means "no retries": fail at the first
    temporary error. Errors name the rule (1-based) and the character within it (1-based).
    """
    if not isinstance(text, str):
        raise RetryRuleError(f"expected retry rules such as {_RULE_EXAMPLE}, got {text!r}")
    pos = len(text) - len(text.lstrip())
    tokens = text.split()
    # A first word without a comma is the pattern (``*``), unless it is all there is (a broken rule).
    if tokens and "," not in tokens[0] and (tokens[0] == "*" or len(tokens) > 1):
        # "<pattern> <error> [senders=<list>]" before the parameter sets: only "* *" is modelled.
        for what in ("pattern", "error"):
            token = text[pos:].split(None, 1)[0] if text[pos:].strip() else ""
            if not token:
                raise RetryRuleError(f'at character {pos + 1}: expected the {what} "*" before the parameter sets')
            if token != "*":
                raise RetryRuleError(f'at character {pos + 1}: only the {what} "*" is modelled (one rule for '
                                     f'every destination and error), got "{token}"')
            pos += 1
            pos += len(text[pos:]) - len(text[pos:].lstrip())
        if text[pos:].startswith("senders"):
            raise RetryRuleError(f"at character {pos + 1}: senders= is not modelled (one rule for every sender)")
    body = text[pos:]
    segments = body.split(";")
    if segments and not segments[-1].strip():
        segments.pop()                   # a trailing ";" (or nothing at all) is fine, as in Exim
    rules = []
    for n, raw in enumerate(segments, 1):
        seg = raw.strip()
        if not seg:
            raise RetryRuleError(f'rule {n} "" at character 1: expected F, G or H')
        rules.append(_parse_rule(seg, n))
    return tuple(rules)


def format_retry_rules(rules: tuple[RetryRule, ...]) -> str:
    return "; ".join(str(r) for r in rules)


# ------------------------------------------------------------------------------------------------
# The schedule: retry_update() per message, plus the ultimate address timeout
# ------------------------------------------------------------------------------------------------
@register_schedule
@dataclass(frozen=True)
class EximSchedule(HistorySchedule):
    """Exim's ``retry_update()`` for one message's own retry record, first failure = arrival.

    After a failure at age ``a`` the first parameter set whose cutoff >= ``a`` applies (on Exim's
    whole-second clock, an age less than 1 s past a cutoff is not past it):

    * ``F``: wait ``interval``;
    * ``G``: ``lastgap = min(planned gap, actual gap)`` since the previous failure (0 at the first);
      wait ``initial`` if ``lastgap < initial``, else ``lastgap * multiplier``;
    * ``H``: ``ng = lastgap * multiplier``; if ``ng > initial`` wait ``initial + (ng - initial)/2 +
      u (ng - initial)/2`` (the upper half of the range, ``u`` the seeded draw; u = 1 gives ``ng``), else
      ``initial``;

    capped at ``retry_interval_max``. The ultimate address timeout: a due time later than 1 s past the
    final cutoff is pulled back to that moment (``now - received > timeout`` in whole seconds), so one final
    attempt happens at the first queue run strictly after arrival + final cutoff. Once the age is past the
    final cutoff there is no further attempt (the address fails "retry timeout exceeded"); with no
    parameter sets at all, the first temporary error fails it.

    For a custom sender, ``{kind: exim, rules: "...", retry_interval_max: 24h}``; the ``exim`` preset
    gives the matching give-up rule (``last-attempt`` at the final cutoff + 1 s).
    """

    rules: tuple[RetryRule, ...]
    retry_interval_max_s: float = RETRY_INTERVAL_MAX_S
    kind: ClassVar[str] = "exim"
    # needs_history (True) and the scalar wait_after_history / wait_after come from HistorySchedule.

    def __post_init__(self) -> None:
        if not 0 < self.retry_interval_max_s <= RETRY_INTERVAL_MAX_S:
            raise ValueError("retry_interval_max must be > 0 and <= 24h")

    @property
    def uses_random(self) -> bool:
        return any(r.letter == "H" for r in self.rules)

    @property
    def final_cutoff_s(self) -> float:
        """The last parameter set's cutoff: the ultimate address timeout (retry.c uses the last rule)."""
        return self.rules[-1].cutoff_s if self.rules else 0.0

    @property
    def timeout_age_s(self) -> float:
        """The first age that is *older* than the final cutoff on Exim's whole-second clock."""
        return self.final_cutoff_s + CLOCK_S

    @classmethod
    def from_node(cls, node: Node) -> EximSchedule:
        rules_node = node.get("rules")
        try:
            rules = parse_retry_rules(rules_node.value)
        except RetryRuleError as exc:
            raise rules_node.error(str(exc)) from None
        cap_node = node.get("retry_interval_max", None)
        cap = RETRY_INTERVAL_MAX_S
        if cap_node is not None:
            cap = cap_node.as_duration()
            if cap > RETRY_INTERVAL_MAX_S:
                raise cap_node.error(f"expected a duration > 0s and <= {format_duration(RETRY_INTERVAL_MAX_S)} "
                                     f"(Exim's retry_interval_max cannot be set higher), got {cap_node.value!r}")
        return cls(rules, cap)

    # -- the arithmetic, vectorised; HistorySchedule runs it on one element for the scalar methods ----
    def waits_history(self, failures, age_s, u, connection_failure, prev_wait_s=None,
                      prev_gap_s=None) -> np.ndarray:
        age = np.asarray(age_s, dtype=np.float64)
        n = len(age)
        nan = np.full(n, np.nan)
        if not self.rules:
            return nan
        prev_wait = nan if prev_wait_s is None else np.asarray(prev_wait_s, dtype=np.float64)
        prev_gap = nan if prev_gap_s is None else np.asarray(prev_gap_s, dtype=np.float64)
        # retry_update(): min(next_try - last_try, now - last_try); a new record has both 0.
        lastgap = np.where(np.isnan(prev_wait), 0.0, np.where(prev_wait < prev_gap, prev_wait, prev_gap))
        gap = nan
        chosen = np.zeros(n, dtype=bool)
        for rule in self.rules:
            pick = ~chosen & (age < rule.cutoff_s + CLOCK_S - AGE_TOLERANCE_S)
            if not pick.any():
                continue
            initial = rule.interval_s
            if rule.letter == "F":
                this = np.full(n, initial)
            elif rule.letter == "G":
                this = np.where(lastgap < initial, initial, lastgap * rule.multiplier)
            else:   # H: the upper half of [initial, lastgap * multiplier]
                ng = lastgap * rule.multiplier
                this = np.where(ng > initial, initial + (ng - initial) / 2 + u * (ng - initial) / 2, initial)
            gap = np.where(pick, this, gap)
            chosen |= pick
        gap = np.minimum(gap, self.retry_interval_max_s)
        last = self.timeout_age_s
        wait = np.where(age + gap > last, last - age, gap)       # the ultimate address timeout
        timed_out = age >= last - AGE_TOLERANCE_S
        return np.where(chosen & ~timed_out, wait, np.nan)

    # -- without history (the Schedule protocol): as if every earlier retry came exactly when due -------
    def _nominal_prev_waits(self, count: int) -> np.ndarray:
        """The planned wait before the k-th failure (k = 1..count; NaN for the first) when every retry
        happens exactly when due, with the nominal draw 1. It ends early where the schedule stops: the
        failures after that take its last entry."""
        out = [math.nan]
        age, prev = 0.0, math.nan
        for k in range(1, count):
            wait = self.wait_after_history(k, age, 1.0, False, prev, prev)
            if wait is None:
                break
            out.append(wait)
            age, prev = age + wait, wait
        return np.array(out[:count], dtype=np.float64)

    def waits(self, failures, age_s, u, connection_failure) -> np.ndarray:
        k = np.asarray(failures, dtype=np.int64)
        table = self._nominal_prev_waits(int(k.max(initial=1)))
        prev = table[np.clip(k, 1, len(table)) - 1]
        return self.waits_history(k, age_s, u, connection_failure, prev, prev)

    def describe(self) -> str:
        rules = format_retry_rules(self.rules) or "(none: fail at the first temporary error)"
        return (f"exim retry rules {rules}, gaps capped at {format_duration(self.retry_interval_max_s)}; "
                f"one final attempt at the first run more than {format_duration(self.final_cutoff_s)} "
                f"after arrival")


# ------------------------------------------------------------------------------------------------
# Parameters in Exim's own syntax
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _RulesParam(Param):
    """``retry_rules``: Exim's parameter sets as text; the value is a tuple of :class:`RetryRule`."""

    kind: str = "retry rules"

    def read(self, node: Node) -> Any:
        try:
            return parse_retry_rules(node.value if node.value is not None else "")
        except RetryRuleError as exc:
            raise node.error(str(exc)) from None

    def show(self, value: Any = None) -> str:
        if value is None:
            return self.native
        return value if isinstance(value, str) else format_retry_rules(value)


def _read_warning_times(value: Any, source: str = "", path: str = "") -> tuple[float, ...]:
    """``delay_warning``: one time, Exim's colon-separated list (``4h:8h:24h``) or a YAML list; 0 or an
    empty string means no warnings. Up to 10 times, increasing. Raises ConfigError."""
    node = Node(value, source, path)
    if isinstance(value, (list, tuple)):
        items = [Node(v, source, f"{path}[{i}]") for i, v in enumerate(value)]
    elif isinstance(value, str) and ":" in value:
        items = [Node(part.strip(), source, path) for part in value.split(":")]
    elif isinstance(value, str) and not value.strip():
        return ()
    else:
        if node.as_duration(allow_zero=True) == 0:
            return ()
        items = [node]
    times = [item.as_duration() for item in items]
    if len(times) > MAX_DELAY_WARNINGS:
        raise node.error(f"expected at most {MAX_DELAY_WARNINGS} times (Exim's delay_warning list), "
                         f"got {len(times)}")
    for a, b in itertools.pairwise(times):
        if b <= a:
            raise node.error(f"expected increasing times such as 4h:8h:24h, got {format_duration(b)} "
                             f"after {format_duration(a)}")
    return tuple(times)


@dataclass(frozen=True)
class _WarningTimesParam(Param):
    kind: str = "time list"

    def read(self, node: Node) -> Any:
        return _read_warning_times(node.value, node.source, node.path)

    def show(self, value: Any = None) -> str:
        if value is None:
            return self.native
        if isinstance(value, (int, float)):
            value = (float(value),) if value else ()
        return ":".join(format_duration(t) for t in value) or "0"


# ------------------------------------------------------------------------------------------------
def _exim(v: Mapping[str, Any]) -> Sender:
    """Exim 4 remote delivery, one message: tried at arrival, then after each temporary failure the retry
    rule gives its next retry time (``retry_update()``, see :class:`EximSchedule`): the first parameter set
    whose cutoff >= the time since the first failure; ``F`` a fixed interval, ``G`` ``min(planned gap,
    actual gap) * multiplier`` (``initial`` while that is below ``initial``), ``H`` the same drawn from
    the upper half of the range; capped at ``retry_interval_max`` (24 h, not higher). Retry times are
    hints: the queue runner (Debian ``QUEUEINTERVAL='30m'``, i.e. ``exim -q30m``; 0 here = a continuous
    runner) tries the message at the first run at or after its retry time.

    Giving up (the ultimate address timeout, ``retry_ultimate_address_timeout()``): while the message is
    not older than the final cutoff, a run before its retry time skips it; once it is older
    (``now - received > timeout``, strict, in whole seconds) the attempt is made anyway, it fails and the
    address fails with "retry timeout exceeded"; the bounce says ``Status: 5.0.0`` (Exim's fixed status,
    never 4.4.7/5.4.7). So the last attempt is at the first run strictly after arrival + final cutoff:
    the schedule pulls a due time past that moment back to final cutoff + 1 s, and the sender gives up
    (``last-attempt``) after a failed attempt whose age >= final cutoff + 1 s (``mtasim schedule exim``
    shows the expiry as 4d1s). With the defaults and ``-q30m``: 25 attempts, 0:00 ... 94:30, then the run at
    96:00 (age exactly 4 d, not greater) skips it and the one at 96:30 makes the final attempt (§10).

    Delay warning: Exim sends one whenever fewer warnings have been sent than ``delay_warning`` times have
    passed (the list, then its last gap repeating), evaluated only when a real delivery attempt defers,
    at most one per attempt (24 h: at 28:30, 52:30, 76:30 with ``-q30m``): ``next-failure`` with the
    later ages and the repeat gap.

    Sources: docs/mta-retry-facts.md §2 (exim ``src/src/retry.c`` ``retry_update()``,
    ``retry_ultimate_address_timeout()``, ``retry_check_address()``; ``src/src/readconf.c``
    ``readconf_retries()``, ``retry_arg()``; ``src/src/globals.c`` (``retry_interval_max``,
    ``delay_warning``); ``src/src/deliver.c`` ``deliver_message()``, ``send_bounce_message()``,
    ``send_warning_message()``; ``src/src/configure.default`` ``begin retry``; Debian ``exim4-base``
    ``exim4.init`` / ``update-exim4defaults`` for ``QUEUEINTERVAL``; ``doc/doc-docbook/spec.xfpt`` chapter
    "Retry configuration"), the §10 rows "Exim, Debian -q30m" and "Exim, continuous queue runner", and
    the Exim 4.96 run in §12 (``F,60s,10s; G,300s,20s,1.5`` with ``-q5s``).

    Per-message reading: the cutoffs are measured from the message's first failure, taken to be its
    arrival (the first attempt is at arrival): the failing interval is the message's age at the END of the
    failed attempt (for a 30 s connect time-out Exim would count from the end of the first attempt, 30 s
    later; the history the engines pass has no first-failure time).
    Host-level state (DES only, ``host_retry_records``, mtasim.hosts.EximHostRetry): retry records are
    keyed per host for connection errors and shared by every message to that host (a message can then
    bounce less than 4 d after it arrived, or never get a connection of its own: "retry time not
    reached"); per recipient for a 4xx to RCPT (the message's own schedule). Not modelled: ``delay_after_cutoff`` failing new messages at once for a domain whose hosts are all
    past their cutoff; ``retry_data_expire``. ``queue_run_max`` bounds the connections to a destination
    (each queue runner keeps one, docs/mta-retry-facts.md §12), one more per queue run while mail for it
    waits (``Sender.connection_ramp``); a runner's connection then takes the destination's messages one
    after another, down one connection, which passes to the next message only after a delivery and for at
    most ``connection_max_messages`` (500) messages (mtasim.connection_reuse). Also not modelled:
    several retry rules chosen by domain pattern or error type (only ``* *``), ``senders=``,
    ``delay_warning_condition`` (no warnings for list or auto-generated mail), NOTIFY and null senders.
    Exim computes gaps in whole seconds (``lastgap * multiplier`` truncated), and so does the simulator:
    the preset keeps a whole-second clock (``whole_seconds``), so a 67.5 s gap is 67 s.
    """
    rules = v["retry_rules"]
    if not isinstance(rules, tuple):                 # given to Preset.sender() directly, unparsed
        try:
            rules = parse_retry_rules(rules)
        except RetryRuleError as exc:
            raise PresetValueError("retry_rules", str(exc)) from None
    cap = float(v["retry_interval_max"])
    if not 0 < cap <= RETRY_INTERVAL_MAX_S:
        raise PresetValueError("retry_interval_max", f"expected a duration > 0s and <= "
                               f"{format_duration(RETRY_INTERVAL_MAX_S)} (Exim's own range), got {cap!r}")
    warnings = v["delay_warning"]
    if not isinstance(warnings, tuple):
        try:
            warnings = _read_warning_times(warnings)
        except ValueError as exc:
            raise PresetValueError("delay_warning", getattr(exc, "expected", str(exc))) from None
    schedule = EximSchedule(rules, cap)
    return Sender(
        schedule=schedule,
        give_up="last-attempt",
        expiry_s=schedule.timeout_age_s,
        queue_run_s=v["queue_interval"],
        queue_run_phase_s=v["queue_run_phase"],
        delay_warning_s=warnings[0] if warnings else None,
        delay_warning_later_s=tuple(warnings[1:]),
        # "the last gap repeats": 24h alone warns at 24, 48, 72 h ...; 4h:8h:24h then every 16 h
        delay_warning_repeat_s=(warnings[-1] - warnings[-2] if len(warnings) > 1 else warnings[0])
        if warnings else None,
        delay_warning_at="next-failure",
        expiry_status=EXIM_BOUNCE_STATUS,
        expiry_reply=EXIM_TIMEOUT_REPLY,
        preset="exim",
        host_policy=EximHostRetry(schedule) if v["host_retry_records"] else None,
        queue_order="arrival" if v["queue_run_in_order"] else "random",
        whole_seconds=True,
        concurrency=int(v["queue_run_max"]),
        connection_ramp=True,
        # the smtp transport passes a connection on after a delivery, up to connection_max_messages (0: none)
        connection_reuse=ConnectionReuse(max_messages=int(v["connection_max_messages"]) or None,
                                         after_deferral=False),
    )


EXIM = Preset(
    name="exim",
    summary="Exim 4 (Debian -q30m): F,2h,15m; G,16h,1h,1.5; F,4d,6h, one final try at the first run more "
            "than 4 d after arrival, then 'retry timeout exceeded' (5.0.0)",
    sources="docs/mta-retry-facts.md §2, §10, §12 (exim src/src/retry.c retry_update(), "
            "retry_ultimate_address_timeout(); readconf.c readconf_retries(); deliver.c; configure.default)",
    params=(
        _RulesParam("retry_rules", DEFAULT_RETRY_RULES,  # type: ignore[arg-type]
                    "begin retry: F,<cutoff>,<interval>; G|H,<cutoff>,<initial>,<multiplier> (cutoff and "
                    "times > 0, multiplier >= 1), cutoffs from the first failure (= arrival); an optional "
                    "'* *' prefix", native=DEFAULT_RETRY_RULES),
        Param("retry_interval_max", RETRY_INTERVAL_MAX_S, "cap on every retry gap (cannot be set higher "
              "than 24h)", minimum=1.0, maximum=RETRY_INTERVAL_MAX_S, native="24h"),
        Param("queue_interval", 30 * MINUTE, "queue runner interval, exim -q<time> (Debian QUEUEINTERVAL; "
              "upstream has none); 0 = continuous (retry exactly when due)", zero_allowed=True, native="30m"),
        Param("queue_run_in_order", 0, "1 = a queue run takes messages in order of arrival; 0 (default) = "
              "in an arbitrary order, drawn from the run's seed (who gets a down host's connection first)",
              kind="count", maximum=1),
        Param("host_retry_records", 1, "simulator: 1 = connection failures update one retry record per host, "
              "shared by all its messages (Exim's behaviour; DES only); 0 = each message keeps its own",
              kind="count", maximum=1),
        _WarningTimesParam("delay_warning", DAY, "time or colon-separated list of up to 10 times (0 = none): a "
                           "warning at the first failed attempt at or after each time, then the list's last "
                           "gap repeating, at most one per attempt", native="24h"),
        Param("queue_run_max", 5, "queue runner processes at once; each keeps one delivery connection, so "
              "this bounds the connections to a slow destination, one more per queue run while mail waits "
              "(matters with a recipient transaction_time; DES only)", kind="count", minimum=1, maximum=100000),
        Param("connection_max_messages", 500, "smtp transport: messages delivered down one connection before "
              "it is closed (0 = no limit); a connection passes to the next message waiting for the host only "
              "after a delivery (matters with a recipient connection_setup; DES only)", kind="count",
              maximum=10**9),
        QUEUE_RUN_PHASE,
    ),
    build=_exim,
    expiry_values=lambda v, expiry_s: {**v, "retry_rules": rules_with_final_cutoff(v["retry_rules"], expiry_s)},
    confidence="rule syntax and arithmetic (F/G/H, min(planned, actual) gap, 24 h cap), the strict > "
               "ultimate address timeout, 5.0.0 and 'retry timeout exceeded' sourced (retry.c, readconf.c, "
               "deliver.c) and seen in the Exim 4.96 run (§12); per-message reading ours: cutoffs from "
               "arrival (Exim: from the first failure), the final attempt at cutoff + 1 s with a continuous "
               "runner; per-host retry records (host_retry_records) and repeated warnings modelled",
    order=11,
)

PRESETS = (EXIM,)

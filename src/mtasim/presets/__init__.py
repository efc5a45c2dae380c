"""Named real MTA configurations, in each MTA's own parameter names and units.

A preset is one self-contained entry: its parameters (name, default, allowed range, meaning) and a
``build`` function that turns their values into a generic :class:`~mtasim.sender.Sender`. Each MTA lives
in a module of this package that defines a module-level ``PRESETS`` tuple; the registry collects them,
so adding a preset means adding one module and nothing else. Facts and sources are in
``docs/`` (docs/mta-retry-facts.md, docs/provider-and-recipient-facts.md), cited per preset.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..config import Node, closest
from ..durations import format_duration
from ..sender import Sender

__all__ = ["Param", "Preset", "PRESETS", "PresetValueError", "UnknownPresetError", "get_preset",
           "sender_from_preset_node", "DAY", "HOUR", "MINUTE", "QUEUE_RUN_PHASE"]

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0


@dataclass(frozen=True)
class Param:
    """One native parameter: a duration (seconds) or a count, with the MTA's own allowed range."""

    name: str
    default: float
    meaning: str
    kind: str = "duration"          # "duration", "count" or "text"
    minimum: float = 0.0
    maximum: float | None = None
    zero_allowed: bool = False
    aliases: tuple[str, ...] = ()
    #: The default as the MTA's own documentation writes it (``4000s``, ``2.00:00:00``).
    native: str = ""

    def read(self, node: Node) -> float:
        if self.kind == "text":
            if node.value in ("", None):
                return ""
            return node.as_text()
        if self.kind == "count":
            value = node.as_number(integer=True, minimum=self.minimum, maximum=self.maximum)
        else:
            value = node.as_duration(allow_zero=self.zero_allowed)
            low_ok = value >= self.minimum
            high_ok = self.maximum is None or value <= self.maximum
            if not (low_ok and high_ok):
                high = "" if self.maximum is None else f" and <= {format_duration(self.maximum)}"
                raise node.error(f"expected a duration >= {format_duration(self.minimum)}{high} "
                                 f"(the MTA's own range), got {node.value!r}")
        return value

    def show(self, value: float | None = None) -> str:
        if value is None and self.native:
            return self.native
        value = self.default if value is None else value
        if self.kind == "text":
            return str(value) or "unset"
        return str(int(value)) if self.kind == "count" else format_duration(value)


@dataclass(frozen=True)
class Preset:
    name: str
    summary: str
    sources: str
    params: tuple[Param, ...]
    build: Callable[[Mapping[str, float]], Sender]
    confidence: str = "sourced"
    notes: tuple[str, ...] = field(default=())
    #: Where ``mtasim presets`` lists it: open-source MTAs first (10..), then Exchange (20..), hosted (30..).
    order: int = 50
    #: For presets whose schedule depends on the expiry window: the parameter values for another window
    #: (``values, expiry_s -> values``), used by Sender.with_expiry. None: only the give-up age changes.
    expiry_values: Callable[[dict, float], dict] | None = None

    def param_names(self) -> list[str]:
        return [p.name for p in self.params] + [a for p in self.params for a in p.aliases]

    def defaults(self) -> dict[str, float]:
        return {p.name: p.default for p in self.params}

    def sender(self, overrides: Mapping[str, float] | None = None) -> Sender:
        values = self.defaults()
        values.update(overrides or {})
        sender = self.build(values)
        if self.expiry_values is not None:
            hook = lambda expiry_s: self.sender(self.expiry_values(dict(values), expiry_s))   # noqa: E731
            sender = replace(sender, expiry_hook=hook)
        return sender


@dataclass(frozen=True)
class Switch(Param):
    """A yes/no parameter, written as the MTA writes it (Postfix ``yes``/``no``, Momentum ``true``/``false``,
    in any case) or as a YAML boolean. The value is 1.0 or 0.0."""

    kind: str = "switch"
    #: How the MTA writes true and false (``show``).
    words: tuple[str, str] = ("true", "false")

    def read(self, node: Node) -> float:
        value = node.value
        if isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and value.strip().lower() in self.words:
            return float(value.strip().lower() == self.words[0])
        raise node.error(f"expected {' or '.join(self.words)}, got {value!r}")

    def show(self, value: float | None = None) -> str:
        value = self.default if value is None else value
        return self.words[0] if value else self.words[1]


#: A simulator parameter every preset with a queue runner accepts: real scan timers are not aligned with
#: message arrival, so the phase is the user's to choose.
QUEUE_RUN_PHASE = Param("queue_run_phase", 0.0, "simulator: time of the first queue scan after t = 0 (real phase "
                        "is arbitrary)", zero_allowed=True)


class PresetValueError(ValueError):
    """A combination of values a preset refuses; carries the parameter to blame."""

    def __init__(self, param: str, expected: str):
        super().__init__(expected)
        self.param = param


class UnknownPresetError(KeyError):
    def __init__(self, name: str):
        guess = closest(name, PRESETS)
        tip = f"; did you mean '{guess}'?" if guess else ""
        self.message = f"unknown preset '{name}'{tip} (known: {', '.join(PRESETS)})"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise UnknownPresetError(name) from None


#: Keys of a custom sender (scenario.sender_from_node): they do not apply when a preset is named.
GENERIC_SENDER_KEYS = ("schedule", "expiry", "give_up", "max_attempts", "attempts_give_up_at", "queue_run",
                       "queue_run_tolerance", "delay_warning", "delay_warning_at", "expiry_status")


def _owner_hint(preset: Preset) -> Callable[[str], str | None]:
    def hint(key: str) -> str | None:
        if key in GENERIC_SENDER_KEYS:
            return (f"'{key}' is a key of a custom sender (no preset); {preset.name} takes its own parameters: "
                    f"{', '.join(preset.param_names())}")
        owners = [p.name for p in PRESETS.values() if p is not preset and key in p.param_names()]
        if owners:
            listed = ", ".join(owners[:3]) + (f" and {len(owners) - 3} more" if len(owners) > 3 else "")
            return f"that is a parameter of preset {listed}, not of {preset.name}"
        guess = closest(key, preset.param_names())
        return f"did you mean '{guess}'?" if guess else f"{preset.name} takes: {', '.join(preset.param_names())}"
    return hint


def sender_from_preset_node(node: Node) -> Sender:
    """Read ``sender: {preset: NAME, <native parameters>}``."""
    name_node = node.get("preset")
    try:
        preset = get_preset(name_node.as_text())
    except UnknownPresetError as exc:
        raise name_node.error(str(exc)) from None
    values: dict[str, Any] = {}
    for param in preset.params:
        given = [k for k in (param.name, *param.aliases) if node.has(k)]
        if len(given) > 1:
            raise node.error(f"give only one of {' and '.join(given)}", given[1])
        if given:
            values[param.name] = param.read(node.child(given[0]))
    node.finish(hint=_owner_hint(preset))
    try:
        return preset.sender(values)
    except PresetValueError as exc:
        raise node.error(str(exc), exc.param) from None


def _collect() -> dict[str, Preset]:
    """Every ``PRESETS`` tuple of this package's modules, ordered for listing."""
    found: list[Preset] = []
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            found.extend(importlib.import_module(f"{__name__}.{info.name}").PRESETS)
    names = [p.name for p in found]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise RuntimeError(f"preset defined twice: {', '.join(sorted(dupes))}")
    return {p.name: p for p in sorted(found, key=lambda p: (p.order, p.name))}


PRESETS: dict[str, Preset] = _collect()

"""``mtasim import``: read a real MTA's configuration and print the scenario's ``sender:`` block.

Three readers, one per MTA family, each in the MTA's own syntax:

- **postfix**: ``main.cf`` or ``postconf -n`` / ``postconf`` output. ``name = value`` lines; lines starting
  with whitespace continue the previous one; lines whose first non-blank character is ``#`` are comments;
  a later definition overrides an earlier one. ``$name``, ``${name}`` and ``$(name)`` are expanded as
  Postfix does (textually, from the file, else from the preset's defaults). Times follow Postfix's
  ``conv_time``: a whole number with an optional one-letter unit s, m, h, d or w; a bare number is in the
  parameter's default unit, the unit of its default (seconds for the back-off times and
  ``queue_run_delay``, days for ``maximal_queue_lifetime``, hours for ``delay_warning_time``).
- **exim**: an Exim configuration (``exim4.conf.template``, ``exim4.conf``, ``configure``): the main
  section's options, the ``begin retry`` rules (the catch-all ``* *`` rule, else the first rule with
  pattern ``*``, else the first rule) and the Debian ``/etc/default/exim4`` ``QUEUEINTERVAL`` (same file or
  another file argument). Macros, ``.ifdef``/``.ifndef``/``.else``/``.endif`` and backslash continuations
  are honoured; ``.include`` is not followed. Times follow Exim's ``readconf_readtime``: groups of a
  whole number and a unit (``1d12h``, ``30m``).
- **exchange**: the text of ``Get-TransportService | Format-List`` and/or ``Get-TransportConfig |
  Format-List`` (``Name : Value``, TimeSpans such as ``2.00:00:00``), or ``EdgeTransport.exe.config``
  (``<add key="QueueGlitchRetryCount" value="4" />``). Exchange Online's ``MessageExpiration`` selects
  ``exchange-online``; ``ServerRole`` / ``IsEdgeServer`` fields or ``--role`` pick server or edge.

The output names only the parameters the preset has, in the preset's native names and the file's own
notation (a bare Postfix number gets its unit written out), and comments say where each value came from
and which of the file's parameters were ignored. It is validated through the preset before it is printed
(and through YAML, as a scenario would read it). Bad input is one :class:`~mtasim.config.ConfigError`:
file, line number and parameter, what was expected.
"""

from __future__ import annotations

import argparse
import json
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .config import ConfigError, Node
from .durations import MAX_DURATION_S, DurationError, format_duration, parse_duration
from .inputs import read_text_file
from .presets import PRESETS, QUEUE_RUN_PHASE, Param, sender_from_preset_node

__all__ = ["MTAS", "ImportResult", "add_import_parser", "cmd_import", "import_config"]

MTAS = ("postfix", "exim", "exchange")
ROLES = {"server": "exchange-server", "edge": "exchange-edge", "online": "exchange-online"}
_WRAP = 100
#: At most this many names in the "not about retries" comment (full `postconf` output has hundreds).
_MAX_IGNORED = 40


# ------------------------------------------------------------------------------------------------
# What an import produces
# ------------------------------------------------------------------------------------------------
@dataclass
class Found:
    """One value taken from a file for a preset parameter."""

    param: str            # the preset's parameter name
    raw: str              # the value as the file writes it, after $name / macro expansion
    source: str           # the file
    line: int
    as_written: str = ""  # the file's own name for it when that differs (QUEUEINTERVAL, smtp_..., an alias)
    note: str = ""        # how the value was read (a reference, a default unit, an override)

    @property
    def label(self) -> str:
        return self.as_written or self.param


@dataclass
class ImportResult:
    """The ``sender:`` block of one import, and the comments that go with it."""

    mta: str
    preset: str
    values: dict[str, Any]                 # parameter -> YAML value (file notation)
    found: dict[str, Found]
    sources: list[str]
    header: list[str] = field(default_factory=list)
    unmodelled: list[tuple[str, str]] = field(default_factory=list)   # (name, why it is not imported)
    ignored: list[str] = field(default_factory=list)                  # names not about retries

    def sender(self) -> dict[str, Any]:
        return {"preset": self.preset, **self.values}

    def text(self) -> str:
        out = [f"# mtasim import {self.mta} {' '.join(self.sources)}"]
        out += _comment(f"preset {self.preset}; parameters not listed keep the preset's defaults "
                        f"(`mtasim presets`).")
        for line in self.header:
            out += _comment(line)
        out.append("sender:")
        rows = [(f"  preset: {self.preset}", "")]
        for name, value in self.values.items():
            f = self.found[name]
            where = f"{Path(f.source).name} line {f.line}"
            if f.as_written:
                where += f": {f.as_written}"
            if f.note:
                where += f" ({f.note})"
            rows.append((f"  {name}: {_yaml_scalar(value)}", where))
        width = max(len(r) for r, _ in rows)
        out += [f"{r:<{width}}  # {c}" if c else r for r, c in rows]
        if self.unmodelled:
            out += _comment("ignored (about retries or notices, but not a parameter of preset "
                            f"{self.preset}): " + "; ".join(f"{n} ({why})" for n, why in self.unmodelled))
        if self.ignored:
            shown = self.ignored[:_MAX_IGNORED]
            more = len(self.ignored) - len(shown)
            out += _comment("ignored: " + ", ".join(shown) + (f" and {more} more" if more else "")
                            + " (not about retries)")
        return "\n".join(out) + "\n"


def _comment(text: str) -> list[str]:
    return ["# " + line for line in textwrap.wrap(text, _WRAP - 2, break_on_hyphens=False,
                                                    break_long_words=False)]


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(value)
    if not isinstance(value, str):
        return str(value)
    plain = (value and value == value.strip() and not re.search(r"[,;#{}\[\]&*!|>'\"%@`]|: |^[-?:]", value))
    try:
        same = plain and yaml.safe_load(value) == value
    except yaml.YAMLError:
        same = False
    return value if same else json.dumps(value)


# ------------------------------------------------------------------------------------------------
# Shared steps
# ------------------------------------------------------------------------------------------------
def _read(path: str) -> str:
    """A regular UTF-8 text file of bounded size (mtasim.inputs.read_text_file): a device, a FIFO or
    binary data is refused in one line instead of hanging or filling memory."""
    return read_text_file(path, encoding="utf-8-sig", source=path)


#: The longest a configuration line or value may grow by $name or macro expansion.
MAX_EXPANDED = 65_536


def _bad(f: Found, expected: str) -> ConfigError:
    return ConfigError(f.source, f"line {f.line}: {f.label}", expected)


def _preset_params(preset: str) -> tuple[Param, ...]:
    """The preset's parameters that a configuration file can set (not the simulator's queue_run_phase)."""
    return tuple(p for p in PRESETS[preset].params if p.name != QUEUE_RUN_PHASE.name)


def _convert(params: tuple[Param, ...], found: dict[str, Found], seconds) -> dict[str, Any]:
    """Each found value as the YAML value to print: durations in the file's notation when mtasim reads that
    notation to the same number of seconds (else mtasim's), counts as integers, text as written."""
    values: dict[str, Any] = {}
    for p in params:
        f = found.get(p.name)
        if f is None:
            continue
        if p.kind == "count":
            if not re.fullmatch(r"\+?\d+", f.raw.strip()):
                raise _bad(f, f"expected a whole number, got {f.raw!r}")
            if len(f.raw.strip()) > 18:
                raise _bad(f, f"expected a whole number below 10**18, got {len(f.raw.strip()):,} digits")
            values[p.name] = int(f.raw.strip())
        elif p.kind == "duration":
            secs = seconds(f, p)
            if not secs <= MAX_DURATION_S:
                raise _bad(f, f"expected a time of at most 100 years ({MAX_DURATION_S / 86400:,.0f}d), "
                              f"got {f.raw.strip()[:40]!r}")
            try:
                same = parse_duration(f.raw.strip(), allow_zero=True) == secs
            except DurationError:
                same = False
            values[p.name] = f.raw.strip() if same else format_duration(secs)
        else:
            values[p.name] = f.raw.strip()
    return values


def _validate(result: ImportResult) -> None:
    """Feed the block through YAML and the preset, as a scenario would; blame the file's line."""
    data = yaml.safe_load(result.text())["sender"]
    try:
        sender_from_preset_node(Node(data, "<import>"))
    except ConfigError as exc:
        key = exc.path.split(".")[-1]
        f = result.found.get(key)
        if f is None:
            raise ConfigError(result.sources[0], key, exc.expected) from None
        raise _bad(f, exc.expected) from None


def _nothing_found(sources: Sequence[str], preset: str, names: Sequence[str], extra: str = "") -> ConfigError:
    return ConfigError(", ".join(sources), "", f"no parameter of preset {preset} found (looked for "
                       f"{', '.join(names)}{extra})")


def _dedupe(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))


# ------------------------------------------------------------------------------------------------
# Postfix
# ------------------------------------------------------------------------------------------------
_PF_LINE = re.compile(r"^([A-Za-z0-9_.\-]+)\s*=\s*(.*)$")
_PF_REF = re.compile(r"\$(?:\{([A-Za-z0-9_]+)\}|\(([A-Za-z0-9_]+)\)|([A-Za-z0-9_]+))")
_PF_TIME = re.compile(r"(\d+)([smhdw]?)")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_UNIT_NAMES = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
#: Postfix defaults that $references may name besides the preset's parameters (global/mail_params.h).
_PF_DEFAULTS = {"bounce_queue_lifetime": "5d", "transport_retry_time": "60s"}
#: Retry- or notice-related Postfix parameters the preset does not take, and why (first match wins).
_PF_RELATED = [
    (r"bounce_queue_lifetime", "lifetime of bounces, i.e. null-sender mail; the simulated mail has a sender"),
    (r"transport_retry_time", "retry of a broken delivery transport, not of a destination"),
    (r"smtp_connect_timeout", "set recipients[].connect_timeout in the scenario instead"),
    (r"confirm_delay_cleared|delay_notice_recipient|notify_classes",
     "who is told about delays; mtasim counts the warning itself"),
    (r"qmgr_message_active_limit|qmgr_message_recipient_limit", "active-queue limits, not modelled"),
    (r"(\w+_)?destination_(concurrency|rate|recipient)\w*|(\w+_)?initial_destination_concurrency",
     "per-destination concurrency or rate control, not modelled"),
    (r"(\w+_)?(minimal|maximal)_backoff_time|queue_run_delay|maximal_queue_lifetime|delay_warning_time",
     "not read by this preset"),
]


def _pf_lines(path: str, text: str) -> list[tuple[str, str, int]]:
    """(name, value, line) per logical line, in file order."""
    out: list[tuple[str, str, int]] = []
    for i, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#") or raw.startswith("postconf: "):
            continue
        if raw[0].isspace():
            if not out:
                raise ConfigError(path, f"line {i}", "expected a 'name = value' line before this "
                                  "continuation line (it starts with whitespace)")
            name, value, line = out[-1]
            out[-1] = (name, f"{value} {stripped}".strip(), line)
            continue
        m = _PF_LINE.match(stripped)
        if not m:
            raise ConfigError(path, f"line {i}", f"expected 'name = value' (main.cf or postconf -n "
                              f"output), got {_short(stripped)!r}")
        out.append((m.group(1), m.group(2).strip(), i))
    return out


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[:n - 3] + "..."


def _pf_ref_only(value: str) -> str | None:
    """The name when ``value`` is nothing but one ``$name`` reference."""
    m = _PF_REF.fullmatch(value.strip())
    return next(g for g in m.groups() if g) if m else None


def _pf_default_unit(p: Param) -> str:
    m = re.fullmatch(r"\d+([smhdw])", p.native or "")
    return m.group(1) if m else "s"


def import_postfix(paths: Sequence[str]) -> ImportResult:
    preset = "postfix"
    params = _preset_params(preset)
    names = {p.name for p in params}
    defined: dict[str, tuple[str, str, int]] = {}     # name -> (value, file, line); later wins
    overridden: dict[str, str] = {}                    # name -> where the value it replaces was
    for path in paths:
        for name, value, line in _pf_lines(path, _read(path)):
            if name in defined:
                _, before, before_line = defined[name]
                where = "" if before == path else f"{Path(before).name} "
                overridden[name] = f"{where}line {before_line}"
            defined[name] = (value, path, line)
    defaults = {p.name: p.native or p.show() for p in params} | _PF_DEFAULTS

    expanded: dict[str, str] = {}          # each name expanded once: references that double each other stay cheap

    def expand(f: Found, value: str, stack: tuple[str, ...]) -> str:
        def one(m: re.Match) -> str:
            ref = next(g for g in m.groups() if g)
            if ref in stack:
                raise _bad(f, f"${ref} refers back to itself ({' -> '.join((*stack, ref))})")
            if ref in defined:
                if ref not in expanded:
                    expanded[ref] = expand(f, defined[ref][0], (*stack, ref))
                return expanded[ref]
            if ref in defaults:
                return defaults[ref]
            raise _bad(f, f"${ref} is not set in the file and is not a parameter mtasim knows the "
                          f"default of, so {f.label} = {value!r} cannot be read")
        text = _PF_REF.sub(one, value)
        if len(text) > MAX_EXPANDED:
            raise _bad(f, f"expands to more than {MAX_EXPANDED:,} characters ($name references that multiply)")
        return text

    found: dict[str, Found] = {}
    for p in params:
        smtp = "smtp_" + p.name.removeprefix("default_")
        # The smtp transport's own setting overrides default_* (full `postconf` output sets it to $default_*).
        own = p.name.startswith("default_") and smtp in defined and _pf_ref_only(defined[smtp][0]) != p.name
        key = smtp if own else p.name
        if key not in defined:
            continue
        value, path, line = defined[key]
        f = Found(p.name, value, path, line, as_written=key if key != p.name else "")
        notes = []
        if key != p.name:
            notes.append("the smtp transport's own setting")
        if _PF_REF.search(value):
            f.raw = expand(f, value, (key,))
            notes.append(f"= {value}")
        if key in overridden:
            notes.append(f"overrides {overridden[key]}")
        if p.kind == "duration":
            m = _PF_TIME.fullmatch(f.raw.strip())
            if m and not m.group(2):
                unit = _pf_default_unit(p)
                notes.append(f"{f.raw.strip()} {_UNIT_NAMES[unit]}, the parameter's default unit")
                f.raw = f"{m.group(1)}{unit}"
        f.note = "; ".join(notes)
        found[p.name] = f

    def seconds(f: Found, p: Param) -> float:
        m = _PF_TIME.fullmatch(f.raw.strip())
        if not m:
            raise _bad(f, f"expected a Postfix time: a whole number with an optional unit s, m, h, d or w "
                          f"(default unit {_pf_default_unit(p)}), got {f.raw!r}")
        return float(_whole(m.group(1)) * _UNITS[m.group(2) or _pf_default_unit(p)])

    if not found:
        raise _nothing_found(paths, preset, [p.name for p in params])
    used = {f.as_written or f.param for f in found.values()}
    unmodelled, ignored = [], []
    for name in defined:
        if name in used:
            continue
        why = next((w for rx, w in _PF_RELATED if re.fullmatch(rx, name)), None)
        if name in names:
            why = f"not read: smtp_{name.removeprefix('default_')} overrides it for the smtp transport"
        if why:
            unmodelled.append((f"{name} = {defined[name][0]}", why))
        else:
            ignored.append(name)
    result = ImportResult("postfix", preset, _convert(params, found, seconds), found, list(paths),
                          unmodelled=unmodelled, ignored=ignored)
    _validate(result)
    return result


# ------------------------------------------------------------------------------------------------
# Exim
# ------------------------------------------------------------------------------------------------
_EXIM_TIME = re.compile(r"(?:\d+[wdhms])+")
_EXIM_MACRO = re.compile(r"^([A-Z][A-Za-z0-9_]*)\s*(==?)\s*(.*)$")
_EXIM_OPTION = re.compile(r"^(?:hide\s+)?([a-z][a-z0-9_]*)\s*=\s*(.*)$")
_EXIM_BOOL = re.compile(r"^(?:no_|not_)?([a-z][a-z0-9_]*)$")
_EXIM_DRIVER_NAME = re.compile(r"^([A-Za-z0-9_]+)\s*:\s*$")
_EXIM_NAMED_LIST = re.compile(r"^(?:domainlist|hostlist|addresslist|localpartlist)\s")
#: Settings of Debian's /etc/default/exim4 besides QUEUEINTERVAL.
_DEBIAN_DEFAULTS = ("EX4DEF_VERSION", "QUEUERUNNER", "COMMONOPTIONS", "QUEUERUNNEROPTIONS", "QFLAGS",
                    "SMTPLISTENEROPTIONS", "UPEX4OPTS")
_EXIM_RELATED = {
    "retry_data_expire": "how long retry records are kept; mtasim restarts nothing",
    "delay_warning_condition": "which messages get warnings; in mtasim every message does",
    "timeout_frozen_after": "frozen messages, not modelled",
    "ignore_bounce_errors_after": "frozen bounces, not modelled",
    "remote_max_parallel": "parallel deliveries, not modelled",
    "queue_only": "queue-only mode, not modelled",
    "queue_only_load": "queue-only mode, not modelled",
}


@dataclass
class _Rule:
    source: str
    line: int
    pattern: str
    error: str
    senders: str | None
    sets: str
    text: str


class _EximFile:
    """The parts of one or more Exim configuration files that matter here."""

    def __init__(self) -> None:
        self.macros: dict[str, str] = {}
        self.options: dict[str, tuple[str, str, int]] = {}
        self.rules: list[_Rule] = []
        self.retry_sections: list[tuple[str, int]] = []
        self.debian: dict[str, tuple[str, str, int]] = {}
        self.sections: list[str] = []
        self.includes: list[str] = []
        #: ``begin transports``: each transport's options, by transport name, in the order defined
        self.transports: dict[str, dict[str, tuple[str, str, int]]] = {}

    def expand(self, text: str, path: str = "", line: int = 0) -> str:
        """Exim's macro substitution: each macro in definition order replaces every occurrence of its
        name as a substring (readconf.c get_config_line(); the spec's advice: define longer names first).
        A line growing past MAX_EXPANDED characters (macros doubling each other) is refused."""
        for name, value in self.macros.items():
            if name in text and len(value) * text.count(name) > MAX_EXPANDED:
                raise ConfigError(path or "exim configuration", f"line {line}" if line else "",
                                  f"macro {name} expands to more than {MAX_EXPANDED:,} characters")
            text = text.replace(name, value)
            if len(text) > MAX_EXPANDED:
                raise ConfigError(path or "exim configuration", f"line {line}" if line else "",
                                  f"the line expands to more than {MAX_EXPANDED:,} characters")
        return text

    def defined(self, text: str) -> bool:
        """``.ifdef TEXT`` is true when some macro expands in TEXT (readconf.c)."""
        return any(name in text for name in self.macros)

    def read(self, path: str, text: str) -> None:
        section = "main"
        transport: str | None = None      # the transport whose options follow (``begin transports``)
        stack: list[list[bool]] = []      # per .if: [condition taken by some branch, this branch active]
        for line, body in _exim_logical_lines(text):
            if body.startswith("."):
                word, _, arg = body.partition(" ")
                arg = arg.strip()
                if word in (".ifdef", ".ifndef"):
                    cond = self.defined(arg) == (word == ".ifdef")
                    stack.append([cond, cond])
                elif word in (".elifdef", ".elifndef"):
                    if not stack:
                        raise ConfigError(path, f"line {line}", f"{word} without .ifdef")
                    cond = not stack[-1][0] and self.defined(arg) == (word == ".elifdef")
                    stack[-1] = [stack[-1][0] or cond, cond]
                elif word == ".else":
                    if not stack:
                        raise ConfigError(path, f"line {line}", ".else without .ifdef")
                    stack[-1] = [True, not stack[-1][0]]
                elif word == ".endif":
                    if not stack:
                        raise ConfigError(path, f"line {line}", ".endif without .ifdef")
                    stack.pop()
                elif word.startswith(".include") and all(s[1] for s in stack):
                    self.includes.append(f"{Path(path).name} line {line}: {word} {arg}")
                continue
            if not all(s[1] for s in stack):
                continue
            macro = _EXIM_MACRO.match(body)
            if macro:
                name, value = macro.group(1), macro.group(3).strip()
                if name in ("QUEUEINTERVAL", *_DEBIAN_DEFAULTS):
                    self.debian[name] = (_unquote(value), path, line)
                elif macro.group(2) == "==" or name not in self.macros:
                    self.macros[name] = self.expand(value, path, line)
                continue
            body = self.expand(body, path, line)
            begin = re.fullmatch(r"begin\s+(\w+)", body)
            if begin:
                section = begin.group(1)
                self.sections.append(section)
                if section == "retry":
                    self.retry_sections.append((path, line))
                continue
            if section == "main":
                option = _EXIM_OPTION.match(body)
                if option:
                    self.options[option.group(1)] = (option.group(2).strip(), path, line)
                elif not _EXIM_NAMED_LIST.match(body) and _EXIM_BOOL.match(body):
                    self.options.setdefault(_EXIM_BOOL.match(body).group(1), (body, path, line))
            elif section == "retry":
                self.rules.append(_exim_rule(path, line, body))
            elif section == "transports":
                named = _EXIM_DRIVER_NAME.match(body)
                if named:
                    transport = named.group(1)
                    self.transports[transport] = {}
                elif transport is not None and (option := _EXIM_OPTION.match(body)):
                    self.transports[transport][option.group(1)] = (option.group(2).strip(), path, line)

    def smtp_transport_option(self, name: str) -> tuple[str, tuple[str, str, int]] | None:
        """The first smtp transport (``driver = smtp``) that sets option ``name``: (its name, (value, path,
        line)), or None."""
        for transport, options in self.transports.items():
            if options.get("driver", ("",))[0] == "smtp" and name in options:
                return transport, options[name]
        return None


#: Exim main options that are booleans and preset parameters (0/1).
_EXIM_BOOLEANS = ("queue_run_in_order",)


def _exim_boolean(name: str, value: str) -> str:
    """An Exim boolean option as 1 or 0: ``name`` / ``no_name`` / ``not_name`` alone, or ``name = true``
    (yes, false, no); other options pass through."""
    if name not in _EXIM_BOOLEANS:
        return value
    text = value.strip().lower()
    if text in (name, "true", "yes"):
        return "1"
    if text in (f"no_{name}", f"not_{name}", "false", "no"):
        return "0"
    return value


def _exim_logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) with comments dropped and backslash continuations joined."""
    out: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for i, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if pending is None and (not stripped or stripped.startswith("#")):
            continue
        if pending is not None and stripped.startswith("#"):
            continue                      # Exim skips comment lines inside a continuation
        start, sofar = pending if pending else (i, "")
        piece = stripped
        if piece.endswith("\\") and not piece.endswith("\\\\"):
            pending = (start, sofar + piece[:-1])
            continue
        pending = None
        out.append((start, sofar + piece))
    if pending:
        out.append(pending)
    return out


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _exim_rule(path: str, line: int, body: str) -> _Rule:
    rest = body
    if rest.startswith('"'):
        m = re.match(r'"((?:[^"\\]|\\.)*)"\s*', rest)
        if not m:
            raise ConfigError(path, f"line {line}: retry rule", f"unterminated quoted pattern in {body!r}")
        pattern, rest = m.group(1), rest[m.end():]
    else:
        pattern, _, rest = _split1(rest)
    error, _, rest = _split1(rest.strip())
    if not error:
        raise ConfigError(path, f"line {line}: retry rule", f"missing error type in {body!r} (Exim retry "
                          "rules are: pattern error [senders=list] parameter sets)")
    rest = rest.strip()
    senders = None
    m = re.match(r'senders\s*=\s*("(?:[^"\\]|\\.)*"|\S+)\s*', rest)
    if m:
        senders, rest = _unquote(m.group(1)), rest[m.end():]
    return _Rule(path, line, pattern, error, senders, rest.strip(), " ".join(body.split()))


def _split1(text: str) -> tuple[str, str, str]:
    parts = re.split(r"\s+", text, maxsplit=1)
    return parts[0], " ", parts[1] if len(parts) > 1 else ""


def _exim_sets(rule: _Rule) -> str:
    """Check a rule's parameter sets as Exim's readconf_retries() does; return them normalised."""
    where = f"line {rule.line}: retry rule"
    if not rule.sets:
        raise ConfigError(rule.source, where, f"the rule {rule.text!r} has no parameter sets: Exim fails "
                          "such addresses at once; mtasim's exim preset needs F, G or H sets")
    out = []
    for item in rule.sets.split(";"):
        item = item.strip()
        if not item:
            continue
        letter, _, args = item.partition(",")
        parts = [a.strip() for a in args.split(",")] if args else []
        want = {"F": 2, "G": 3, "H": 3}.get(letter.upper())
        if want is None or len(parts) != want:
            raise ConfigError(rule.source, where, f"expected F,<cutoff>,<interval> or G|H,<cutoff>,<initial>,"
                              f"<multiplier>, got {item!r}")
        for t in parts[:2]:
            if not _EXIM_TIME.fullmatch(t) or _exim_seconds(t) <= 0:
                raise ConfigError(rule.source, where, f"expected an Exim time > 0 such as 2h or 1d12h, got "
                                  f"{t!r} in {item!r}")
        if want == 3 and not (re.fullmatch(r"\d+(\.\d+)?", parts[2]) and float(parts[2]) >= 1.0):
            raise ConfigError(rule.source, where, f"expected a multiplier >= 1.0 such as 1.5, got "
                              f"{parts[2]!r} in {item!r}")
        out.append(",".join([letter.upper(), *parts]))
    if not out:
        raise ConfigError(rule.source, where, f"no parameter sets in {rule.text!r}")
    return "; ".join(out)


def _exim_seconds(text: str) -> float:
    return float(sum(_whole(n) * _UNITS[u] for n, u in re.findall(r"(\d+)([wdhms])", text)))


def _whole(digits: str) -> int:
    """A run of digits as a number, saturated at 10**15 (then refused as too long a time) rather than
    overflowing a float or Python's limit on converting long digit strings."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= 15 else 10**15


def _choose_rule(rules: list[_Rule]) -> tuple[_Rule, str]:
    for r in rules:
        if r.pattern == "*" and r.error == "*" and r.senders is None:
            return r, "the catch-all rule"
    for r in rules:
        if r.pattern == "*":
            return r, "the first rule for every domain (there is no catch-all '* *' rule)"
    return rules[0], "the first rule (there is no rule for '*')"


def import_exim(paths: Sequence[str]) -> ImportResult:
    preset = "exim"
    params = _preset_params(preset)
    cfg = _EximFile()
    for path in paths:
        cfg.read(path, _read(path))
    found: dict[str, Found] = {}
    header: list[str] = []
    by_name = {p.name: p for p in params}
    unmodelled: list[tuple[str, str]] = []
    if "retry_rules" in by_name:
        if cfg.rules:
            rule, why = _choose_rule(cfg.rules)
            sets = _exim_sets(rule)
            found["retry_rules"] = Found("retry_rules", sets, rule.source, rule.line,
                                         as_written=f"{rule.pattern} {rule.error}")
            others = [f"line {r.line}: {_short(r.text, 50)}" for r in cfg.rules if r is not rule]
            header.append(f"retry_rules: {why} of the retry section, {_short(rule.text, 70)!r}"
                          + (f"; other rules not imported: {'; '.join(others)}" if others else "") + ".")
        elif cfg.retry_sections:
            path, line = cfg.retry_sections[-1]
            raise ConfigError(path, f"line {line}: begin retry", "the retry section has no rules: Exim then "
                              "treats every temporary error as permanent, which the exim preset cannot model")
    for p in params:
        if p.name in cfg.options and p.name not in found:
            value, path, line = cfg.options[p.name]
            found[p.name] = Found(p.name, _exim_boolean(p.name, value), path, line)
    smtp = cfg.smtp_transport_option("connection_max_messages") if "connection_max_messages" in by_name else None
    if smtp is not None and "connection_max_messages" not in found:
        transport, (value, path, line) = smtp
        found["connection_max_messages"] = Found("connection_max_messages", value, path, line,
                                                 note=f"the smtp transport {transport}")
    if "queue_run_in_order" in found:
        header.append(f"queue_run_in_order: {found['queue_run_in_order'].raw} (1: each queue run takes messages "
                      "in order of arrival; 0: in a random order).")
    if "queue_interval" in by_name and "QUEUEINTERVAL" in cfg.debian:
        value, path, line = cfg.debian["QUEUEINTERVAL"]
        if value:
            found["queue_interval"] = Found("queue_interval", value, path, line, as_written="QUEUEINTERVAL",
                                            note="Debian's queue runner, exim -q" + value)
    runner = cfg.debian.get("QUEUERUNNER")
    if runner and runner[0] in ("no", "nodaemon", "ppp"):
        header.append(f"QUEUERUNNER='{runner[0]}' ({Path(runner[1]).name} line {runner[2]}): Debian starts no "
                      "periodic queue runner, but the exim preset runs the queue every queue_interval.")
    elif "queue_interval" in by_name and "queue_interval" not in found:
        header.append("queue_interval: no QUEUEINTERVAL (Debian's /etc/default/exim4) in the files; the "
                      "preset's default applies. Give that file as a second argument to import it.")
    if cfg.includes:
        header.append("not followed: " + "; ".join(cfg.includes) + ".")

    def seconds(f: Found, p: Param) -> float:
        raw = f.raw.strip()
        items = [s.strip() for s in raw.split(":")]
        if len(items) > 1:
            raise _bad(f, f"{raw!r} is a list of times; preset {preset} takes one time here")
        if raw == "0" or _EXIM_TIME.fullmatch(raw):
            return _exim_seconds(raw) if raw != "0" else 0.0
        raise _bad(f, f"expected an Exim time: whole numbers each with a unit w, d, h, m or s, such as "
                      f"30m or 1d12h, got {raw!r}")

    if not found:
        raise _nothing_found(paths, preset, [p.name for p in params], ", a begin retry section and "
                             "QUEUEINTERVAL")
    values = _convert(params, found, seconds)
    for name, (value, _path, _line) in cfg.options.items():
        if name not in found and name in _EXIM_RELATED:
            unmodelled.append((f"{name} = {value}", _EXIM_RELATED[name]))
    ignored = [n for n in cfg.options if n not in found and n not in _EXIM_RELATED]
    ignored += [f"{n} (Debian)" for n in cfg.debian if n not in ("QUEUEINTERVAL", "QUEUERUNNER")]
    other_sections = _dedupe([s for s in cfg.sections if s != "retry"])
    if other_sections:
        ignored.append("the sections " + ", ".join(other_sections))
    result = ImportResult("exim", preset, values, found, list(paths), header=header, unmodelled=unmodelled,
                          ignored=ignored)
    _validate(result)
    return result


# ------------------------------------------------------------------------------------------------
# Exchange
# ------------------------------------------------------------------------------------------------
_FL_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*)\s*:(?:\s(.*))?$")
_XML_ADD = re.compile(r'<add\s+key\s*=\s*"([^"]+)"\s+value\s*=\s*"([^"]*)"\s*/?>', re.IGNORECASE)
_PROMPT = re.compile(r"^(\[PS\]|PS)\s.*>")
_EX_RELATED = {
    "externaldelaydsnenabled": "whether delay DSNs go to external senders, not modelled",
    "internaldelaydsnenabled": "whether delay DSNs go to internal senders, not modelled",
    "maxperdomainoutboundconnections": "concurrency, not modelled",
    "maxoutboundconnections": "concurrency, not modelled",
    "maxconnectionratepermin": "connection rate, not modelled",
    "queuemaxidletime": "queue idle time, not modelled",
    "maxidletimebeforeresubmit": "resubmission of idle Retry queues, not modelled",
    "mailboxdeliveryqueueretryinterval": "internal delivery to mailbox databases, not modelled",
    "messageexpiration": "an Exchange Online setting; the on-premises expiry is MessageExpirationTimeout",
    "messageexpirationtimeout": "an on-premises setting; Exchange Online's expiry is MessageExpiration",
}


@dataclass
class _Record:
    source: str
    fields: dict[str, tuple[str, str, int]]    # lower-cased name -> (name, value, line)

    def get(self, name: str) -> tuple[str, str, int] | None:
        return self.fields.get(name.lower())

    def title(self) -> str:
        for key in ("name", "identity"):
            if key in self.fields:
                return self.fields[key][1]
        return f"the record at line {min(f[2] for f in self.fields.values())}"


def _ex_records(path: str, text: str) -> list[_Record]:
    records: list[_Record] = []
    current: _Record | None = None
    last: str | None = None
    if text.lstrip().startswith("<"):
        current = _Record(path, {})
        for i, raw in enumerate(text.splitlines(), 1):
            for m in _XML_ADD.finditer(raw):
                current.fields[m.group(1).lower()] = (m.group(1), m.group(2), i)
        return [current] if current.fields else []
    for i, raw in enumerate(text.splitlines(), 1):
        if not raw.strip() or _PROMPT.match(raw.strip()):
            continue
        m = _FL_LINE.match(raw)
        if m:
            key = m.group(1).lower()
            if current is None or key in current.fields:
                current = _Record(path, {})
                records.append(current)
            current.fields[key] = (m.group(1), (m.group(2) or "").strip(), i)
            last = key
        elif raw[0].isspace() and current is not None and last is not None:
            name, value, line = current.fields[last]
            current.fields[last] = (name, f"{value} {raw.strip()}".strip(), line)
        else:
            raise ConfigError(path, f"line {i}", "expected 'Name : Value' lines as Format-List prints them "
                              f"(Get-TransportService | Format-List), got {_short(raw.strip())!r}")
    return records


def _ex_role(records: list[_Record]) -> tuple[str | None, str]:
    for r in records:
        role = r.get("ServerRole")
        if role:
            kind = "edge" if "edge" in role[1].lower() else "server"
            return kind, f"ServerRole : {role[1]} ({Path(r.source).name} line {role[2]})"
        edge = r.get("IsEdgeServer")
        if edge and edge[1].lower() in ("true", "false"):
            kind = "edge" if edge[1].lower() == "true" else "server"
            return kind, f"IsEdgeServer : {edge[1]} ({Path(r.source).name} line {edge[2]})"
    return None, ""


def import_exchange(paths: Sequence[str], role: str | None = None) -> ImportResult:
    records = [r for path in paths for r in _ex_records(path, _read(path))]
    onprem_names = {p.name.lower() for p in _preset_params("exchange-server")}
    online_rec = next((r for r in records if r.get("MessageExpiration")), None)
    onprem_rec = next((r for r in records if any(n in r.fields for n in onprem_names)), None)
    header: list[str] = []
    detected, why = _ex_role(records)
    if role is not None:
        preset = ROLES[role]
        header.append(f"role: {role} (--role)" + (f"; the output says {why}" if detected not in (None, role)
                                                   else ""))
    elif online_rec and onprem_rec:
        name, _, line = online_rec.get("MessageExpiration")
        raise ConfigError(online_rec.source, f"line {line}: {name}", "this output mixes Exchange Online "
                          "(MessageExpiration of Get-TransportConfig) and on-premises transport settings; "
                          "pass --role online, server or edge")
    elif online_rec:
        preset = "exchange-online"
        header.append("role: Exchange Online (the output has MessageExpiration, a cloud-only setting)")
    else:
        if detected:
            preset = ROLES[detected]
            header.append(f"role: {why}")
        else:
            preset = "exchange-server"
            server = {p.name: p.default for p in _preset_params("exchange-server")}
            edge = {p.name: p.default for p in _preset_params("exchange-edge")}
            differ = [n for n in server if server[n] != edge.get(n)]
            given = [n for n in differ if any(r.get(n) for r in records)]
            same = (" This output sets all of them, so the schedule is the same either way."
                    if len(given) == len(differ) else "")
            header.append(f"role: not in the output, taken as a Mailbox server (exchange-server); pass --role "
                          f"edge for an Edge Transport server (its defaults differ in {', '.join(differ)})."
                          + same)
    params = _preset_params(preset)
    found: dict[str, Found] = {}
    seen: set[str] = {"serverrole", "isedgeserver"} if detected else set()
    for p in params:
        for alias in (p.name, *p.aliases):
            hits = [(r, r.get(alias)) for r in records if r.get(alias)]
            if not hits or p.name in found:
                continue
            r0, (name, value, line) = hits[0]
            for r, (_, other, other_line) in hits[1:]:
                if other.strip().lower() != value.strip().lower():
                    raise ConfigError(r.source, f"line {other_line}: {name}", f"{r.title()} has {other!r} but "
                                      f"{r0.title()} has {value!r} (line {line}); import one server's output, "
                                      f"e.g. Get-TransportService {r0.title()} | Format-List")
            found[p.name] = Found(p.name, value, r0.source, line, as_written=name if name != p.name else "")
            seen.add(alias.lower())
    if not found:
        names = [n for p in params for n in (p.name, *p.aliases)]
        raise _nothing_found(paths, preset, names, "; Exchange Online: MessageExpiration of "
                             "Get-TransportConfig" if preset != "exchange-online" else "")

    def seconds(f: Found, p: Param) -> float:
        try:
            return parse_duration(f.raw.strip(), allow_zero=True)
        except DurationError:
            raise _bad(f, f"expected a TimeSpan such as 2.00:00:00 or 00:15:00, got {f.raw!r}") from None

    for f in found.values():
        if f.as_written and f.as_written.lower() != f.param.lower():
            f.note = f"alias of {f.param}"
    unmodelled, ignored = [], []
    for r in records:
        for key, (name, value, _line) in r.fields.items():
            if key in seen:
                continue
            seen.add(key)
            if key in _EX_RELATED or key in onprem_names:
                why = _EX_RELATED.get(key, "not a parameter of this preset")
                unmodelled.append((f"{name} = {value}", why))
            else:
                ignored.append(name)
    result = ImportResult("exchange", preset, _convert(params, found, seconds), found, list(paths),
                          header=header, unmodelled=unmodelled, ignored=ignored)
    _validate(result)
    return result


# ------------------------------------------------------------------------------------------------
# Entry points
# ------------------------------------------------------------------------------------------------
def import_config(mta: str, paths: Sequence[str], role: str | None = None) -> ImportResult:
    """Read ``paths`` as configuration of ``mta`` (postfix, exim, exchange); see the module docstring."""
    if role is not None and mta != "exchange":
        raise ConfigError("--role", "", f"applies to exchange only, not {mta}")
    if mta == "postfix":
        return import_postfix(paths)
    if mta == "exim":
        return import_exim(paths)
    if mta == "exchange":
        return import_exchange(paths, role)
    raise ConfigError(mta, "", f"expected one of {', '.join(MTAS)}")


def add_import_parser(sub: argparse._SubParsersAction) -> None:
    imp = sub.add_parser("import", help="print the sender: block of a scenario for a real MTA configuration",
                         description="Read a Postfix main.cf or postconf -n output, an Exim configuration "
                         "(plus Debian's /etc/default/exim4), or Exchange's Get-TransportService / "
                         "Get-TransportConfig | Format-List output, and print the scenario's sender: block "
                         "in the preset's own parameter names.")
    imp.add_argument("mta", choices=MTAS, help="which MTA wrote the files")
    imp.add_argument("files", nargs="+", metavar="FILE", help="configuration file(s); later files override "
                     "earlier ones")
    imp.add_argument("--role", choices=tuple(ROLES), help="exchange only: server (Mailbox transport), edge "
                     "or online, when the output does not say")
    imp.set_defaults(func=cmd_import)


def cmd_import(args: argparse.Namespace) -> int:
    print(import_config(args.mta, args.files, args.role).text(), end="")
    return 0

"""Command line: argument parsing and error reporting only; the work happens in the package.

Bad input of any kind ends in one line on stderr (file, key, what was expected) and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

import yaml

from . import __version__
from .config import ConfigError, Node
from .durations import DurationError, format_duration, format_hms, parse_duration
from .engine import ENGINES, EngineUnavailableError, simulate
from .presets import PRESETS, UnknownPresetError, get_preset, sender_from_preset_node
from .rng import Purpose, stream_key, uniform
from .scenario import load_scenario
from .sender import trace_schedule

EXIT_USAGE = 2
#: How many messages the timeline plot shows at most (attempts are recorded for those only).
PLOT_MESSAGES = 200


class UsageError(Exception):
    """Bad input found by the CLI itself; the text is the whole line shown."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, UsageError, EngineUnavailableError, UnknownPresetError) as exc:
        print(f"mtasim: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("mtasim: interrupted; no output files were written", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mtasim", description="Simulate a mail server's retry queue: which "
                                "messages survive a recipient outage, which expire with 4.4.7.")
    p.add_argument("--version", action="version", version=f"mtasim {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="simulate a scenario file and summarise the outcomes")
    run.add_argument("scenario", help="scenario YAML file")
    run.add_argument("--out", metavar="DIR", help="write summary.json, messages.csv and timeline.png here")
    run.add_argument("--attempts", action="store_true", help="also write attempts.csv (needs --out)")
    run.add_argument("--seed", type=_seed, help="override the scenario's seed")
    run.add_argument("--engine", choices=ENGINES, default="auto", help="simulation engine (default auto)")
    run.add_argument("--json", action="store_true", help="print the summary as JSON instead of a table")
    run.set_defaults(func=cmd_run)

    sch = sub.add_parser("schedule", help="attempt times of one message whose recipient never answers")
    sch.add_argument("preset", help="preset name (see `mtasim presets`)")
    sch.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                     help="override a preset parameter, in the MTA's own name (repeatable)")
    sch.add_argument("--until", metavar="DURATION", help="list attempts up to this age only")
    sch.add_argument("--failure", default="refused",
                     help="what every attempt gets: refused (default), timeout or an SMTP reply")
    sch.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sch.set_defaults(func=cmd_schedule)

    pre = sub.add_parser("presets", help="list the presets and their parameters")
    pre.add_argument("--json", action="store_true", help="print JSON instead of text")
    pre.set_defaults(func=cmd_presets)

    val = sub.add_parser("validate", help="check a scenario file without running it")
    val.add_argument("scenario", help="scenario YAML file")
    val.set_defaults(func=cmd_validate)
    return p


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


# ------------------------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    if args.attempts and not args.out:
        raise UsageError("--attempts writes attempts.csv and needs --out DIR")
    scenario = load_scenario(args.scenario)
    record: bool | int = False
    if args.attempts:
        record = True
    elif args.out:
        record = max(1, math.ceil(scenario.workload.expected_count / PLOT_MESSAGES))
    out = Path(args.out) if args.out else None
    if out is not None and out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a directory")
    result = simulate(scenario, args.seed, engine=args.engine, attempts=record)
    if out is not None:
        _write_outputs(result, out, args.attempts)
    if args.json:
        print(json.dumps(result.summary(), indent=2))
    else:
        print(format_summary(result.summary()))
        if out is not None:
            print(f"wrote {out}/: summary.json, messages.csv"
                  + (", attempts.csv" if args.attempts else "") + ", timeline.png")
    return 0


def _write_outputs(result, out: Path, attempts: bool) -> None:
    """Write everything into a scratch folder first, then move each finished file into place."""
    from .plots import timeline_figure, save_figure

    out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".mtasim-", dir=out))
    try:
        result.write(scratch, attempts=attempts)
        save_figure(timeline_figure(result, max_messages=PLOT_MESSAGES), scratch / "timeline.png")
        for f in scratch.iterdir():
            f.replace(out / f.name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def format_summary(s: dict[str, Any]) -> str:
    n = s["messages"]
    lines = [f"{s['scenario']}  (seed {s['seed']}, engine {s['engine']})", "",
             f"{'outcome':<10} {'messages':>9} {'fraction':>9}"]
    for key in ("delivered", "expired", "bounced", "queued"):
        frac = s[key] / n if n else 0.0
        lines.append(f"{key:<10} {s[key]:>9,} {frac:>9.1%}")
    lines.append(f"{'total':<10} {n:>9,} {1.0 if n else 0.0:>9.1%}")
    lines.append("")
    lines.append(f"attempts        {s['attempts']:,} ({s['attempts_per_message']:.2f} per message)")
    lines.append(f"delay warnings  {s['delay_warnings']:,}")
    lat = s["delivery_latency_s"]
    if lat["p50"] is None:
        lines.append("delivery latency  - (nothing delivered)")
    else:
        lines.append("delivery latency  " + "  ".join(
            f"{k} {format_hms(round(lat[k]))}" for k in ("p50", "p90", "p99", "max")) + "  (h:mm:ss)")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
def cmd_schedule(args: argparse.Namespace) -> int:
    preset = get_preset(args.preset)
    data: dict[str, Any] = {"preset": preset.name}
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--set {item}: expected NAME=VALUE, e.g. --set maximal_queue_lifetime=1d")
        data[name.strip()] = yaml.safe_load(value) if value.strip() else value
    sender = sender_from_preset_node(Node(data, "--set"))
    until = None
    if args.until is not None:
        try:
            until = parse_duration(args.until)
        except DurationError as exc:
            raise UsageError(f"--until: {exc}") from None
    from .recipients import failure_reply
    try:
        failure_reply(args.failure, 30.0)
    except ValueError as exc:
        raise UsageError(f"--failure: {exc}") from None
    key = stream_key(0, Purpose.JITTER)
    trace = trace_schedule(sender, until_s=until, failure=args.failure,
                           draw=lambda k: uniform(key, 0, k))
    if args.json:
        print(json.dumps({"preset": preset.name, "attempts_s": trace.attempts_s, "give_up_s": trace.give_up_s,
                          "status": trace.status, "delay_warnings_s": trace.warnings_s}, indent=2))
        return 0
    print(f"{preset.name}: {preset.summary}")
    for line in sender.describe():
        print(f"  {line}")
    print()
    print(f"{'#':>4}  {'time after arrival':>18}  {'wait':>10}")
    previous = None
    for i, t in enumerate(trace.attempts_s, 1):
        wait = "" if previous is None else format_hms(t - previous)
        print(f"{i:>4}  {format_hms(t):>18}  {wait:>10}")
        previous = t
    print()
    for w in trace.warnings_s:
        print(f"delay warning at {format_hms(w)}")
    if trace.give_up_s is None:
        print(f"still queued at {format_hms(until)} (--until); last status {trace.status}")
    else:
        print(f"gives up at {format_hms(trace.give_up_s)} after {len(trace.attempts_s)} attempts, "
              f"status {trace.status}")
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps({name: {"summary": p.summary, "sources": p.sources, "confidence": p.confidence,
                                 "parameters": {q.name: q.show() for q in p.params}}
                          for name, p in PRESETS.items()}, indent=2))
        return 0
    for name, p in PRESETS.items():
        print(f"{name}\n  {p.summary}\n  confidence: {p.confidence}; sources: {p.sources}")
        width = max(len(q.name) for q in p.params)
        vwidth = max(len(q.show()) for q in p.params)
        for q in p.params:
            alias = f" (also {', '.join(q.aliases)})" if q.aliases else ""
            print(f"    {q.name:<{width}}  {q.show():>{vwidth}}  {q.meaning}{alias}")
        print()
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    s = load_scenario(args.scenario)
    print(f"{args.scenario}: ok — {s.name}")
    print(f"  messages: {s.workload.describe()}")
    for line in s.sender.describe():
        print(f"  {line}")
    for r in s.recipients:
        print(f"  recipient {r.describe()}")
    if s.horizon_s is not None:
        print(f"  horizon: {format_duration(s.horizon_s)}")
    return 0
